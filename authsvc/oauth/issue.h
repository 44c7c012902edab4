/*
 * oauth/issue — the successful token response (RFC 6749 §5.1) with a freshly
 * signed access token, shared by the token endpoint and the account endpoint.
 */
#ifndef AS_OAUTH_ISSUE_H
#define AS_OAUTH_ISSUE_H

#include <stdint.h>
#include <h2o.h>
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"
#include "authsvc/token/refresh.h"

/**
 * Signs an access token for `subject` with the key set's active key and sends
 * the 200 token response (no-store), with `refresh` (raw token, or NULL) and
 * `extra` members (reference stolen; NULL for none). Answers 500 if signing fails.
 */
void as_oauth_send_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                          const char *subject, int64_t token_version, const char *scope,
                          const uint8_t refresh[AS_REFRESH_RAW_LEN], json_t *extra);

/** The OpenID Connect side of a login: what the id_token says about it. */
typedef struct st_as_oauth_login_t {
    const char *nonce; /* from the authorization request; NULL: none */
    const char *sid;   /* the SSO session */
    int64_t auth_time; /* when the user entered the password, UNIX seconds */
} as_oauth_login_t;

/**
 * As as_oauth_send_tokens, for the authorization_code grant: the access
 * token's `jti` is the one recorded with the code (so that a replay of the
 * code can revoke it), and when `login` is not NULL the answer carries an
 * id_token for the client (OpenID Connect Core §3.1.3.3), signed with the same
 * key, living as long as the access token, its at_hash that of the access token.
 */
void as_oauth_send_code_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                               const char *subject, int64_t token_version, const char *scope,
                               const uint8_t refresh[AS_REFRESH_RAW_LEN], const char *jti, const as_oauth_login_t *login);

#endif
