/*
 * oauth/issue — the successful token response (RFC 6749 §5.1): a freshly
 * signed access token, and as asked a refresh token and an OpenID Connect
 * id_token, written as JSON straight into the request's pool. Shared by the
 * token endpoint and the account endpoint. Loop thread only.
 */
#ifndef AS_OAUTH_ISSUE_H
#define AS_OAUTH_ISSUE_H

#include <stdint.h>
#include <h2o.h>
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"
#include "authsvc/token/refresh.h"

/** What a token response carries. */
typedef struct st_as_token_response_t {
    const char *subject;                   /* the user's id, or the client id for client_credentials */
    int64_t token_version;                 /* the user's (the ver claim); 0 for client tokens */
    const char *scope;                     /* granted; "" or NULL: none */
    const as_refresh_token_t *refresh;     /* the refresh token, or NULL */
    const char *jti;                       /* the access token's jti when chosen before (a code exchange); NULL: fresh */
    int id_token;                          /* 1: add an id_token (the scope holds openid) */
    const char *nonce;                     /* id_token: from the authorization request, or NULL */
    const char *sid;                       /* id_token: the SSO session, or NULL */
    int64_t auth_time;                     /* id_token: when the user entered a password */
    int64_t token_version_member;          /* > 0: a "token_version" member (the answer to a password change) */
} as_token_response_t;

/**
 * Signs the tokens of `r` with the key set's active key and sends the 200
 * token response (no-store). Answers 500 if signing fails (logged).
 */
void as_oauth_send_tokens(h2o_req_t *req, const as_oauth_config_t *cfg, const as_keyset_t *keys, const as_client_t *client,
                          const as_token_response_t *r);

#endif
