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

#endif
