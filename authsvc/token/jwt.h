/*
 * token/jwt — minting RFC 9068 access tokens (JWS compact serialization).
 * Thread-safe; no I/O.
 */
#ifndef AS_TOKEN_JWT_H
#define AS_TOKEN_JWT_H

#include <stdint.h>
#include "authsvc/crypto/crypto.h"

typedef struct st_as_access_claims_t {
    const char *issuer;
    const char *subject;
    const char *client_id;
    const char *scope;         /* space-separated; "" or NULL: no scope claim */
    const char *const *audiences; /* at least one */
    size_t num_audiences;
    int64_t token_version;     /* the user's token_version ("ver"); 0 for client tokens: no claim */
    int64_t issued_at;         /* seconds since the epoch */
    int64_t lifetime;          /* seconds */
} as_access_claims_t;

/**
 * Signs an access token with `key` (its algorithm), header {alg, typ:"at+jwt",
 * kid}. Writes a malloc'd NUL-terminated token to *out (free() it) and the
 * jti it chose to `jti` (AS_JTI_LEN + 1 bytes). Returns 0 or -1.
 */
#define AS_JTI_LEN AS_B64URL_ENCLEN(16)
int as_jwt_mint_access(const as_key_t *key, const char *kid, const as_access_claims_t *claims, char **out,
                       char jti[AS_JTI_LEN + 1]);

#endif
