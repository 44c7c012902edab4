/*
 * token/jwt — minting the JWTs authsvc signs: RFC 9068 access tokens and
 * OpenID Connect id_tokens (JWS compact serialization). Thread-safe; no I/O.
 * Strings in the claims must be valid UTF-8 (minting fails otherwise, as a
 * JSON library would).
 */
#ifndef AS_TOKEN_JWT_H
#define AS_TOKEN_JWT_H

#include <stdint.h>
#include <h2o/memory.h>
#include "authsvc/crypto/crypto.h"

/** A jti: 16 random bytes, base64url. */
#define AS_JTI_LEN AS_B64URL_ENCLEN(16)

/** A fresh random jti, NUL-terminated. */
void as_jwt_new_jti(char jti[AS_JTI_LEN + 1]);

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
    const char *jti;           /* NULL: a fresh random one */
} as_access_claims_t;

/**
 * Signs an access token with `key` (its algorithm), header {alg, typ:"at+jwt",
 * kid}. Writes a malloc'd NUL-terminated token to *out (free() it) and its
 * jti to `jti` (AS_JTI_LEN + 1 bytes). Returns 0, or AS_ERR_INTERNAL when a
 * claim is not valid UTF-8 or signing fails.
 */
int as_jwt_mint_access(const as_key_t *key, const char *kid, const as_access_claims_t *claims, char **out,
                       char jti[AS_JTI_LEN + 1]);

/** as_jwt_mint_access, with the token (NUL-terminated) in `pool`: no heap memory outlives the call. */
int as_jwt_mint_access_pool(h2o_mem_pool_t *pool, const as_key_t *key, const char *kid, const as_access_claims_t *claims,
                            h2o_iovec_t *out, char jti[AS_JTI_LEN + 1]);

typedef struct st_as_id_claims_t {
    const char *issuer;
    const char *subject;
    const char *audience;     /* the client_id */
    const char *nonce;        /* from the authorization request; NULL: none */
    const char *sid;          /* the SSO session; NULL: none */
    const char *access_token; /* issued with it: at_hash; NULL: none */
    int64_t auth_time;        /* when the user entered a password, seconds since the epoch */
    int64_t issued_at;
    int64_t lifetime;
} as_id_claims_t;

/**
 * Signs an OpenID Connect id_token (Core §2) with `key`: header {alg,
 * typ:"JWT", kid}; claims iss, sub, aud, exp, iat, auth_time, and nonce, sid,
 * at_hash when given. at_hash (Core §3.1.3.6) is the left half of the access
 * token's hash: SHA-256 for ES256 and RS256, SHA-512 for EdDSA (Ed25519).
 * Writes a malloc'd token to *out. Returns 0 or AS_ERR_INTERNAL.
 */
int as_jwt_mint_id(const as_key_t *key, const char *kid, const as_id_claims_t *claims, char **out);

#endif
