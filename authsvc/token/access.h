/*
 * token/access — checking the JWTs authsvc signed when they come back: an RFC
 * 9068 access token (JWS compact form, the key named by its kid, whose
 * algorithm must be the header's — no "none", no HS*; typ at+jwt, issuer,
 * audience, and exp/nbf with a leeway), and an OpenID Connect id_token
 * presented as a logout's id_token_hint. Thread-safe, no I/O.
 */
#ifndef AS_TOKEN_ACCESS_H
#define AS_TOKEN_ACCESS_H

#include <stdint.h>
#include <jansson.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"

/** Longest token looked at, in bytes; longer ones are AS_ERR_TOKEN_MALFORMED without being decoded. */
#define AS_JWT_MAX_LEN 8192

/** Finds the verification key of a kid; NULL if unknown. The key stays owned by the caller's key set. */
typedef const as_key_t *(*as_jwt_key_lookup)(void *ctx, const char *kid);

/** A verified token's claims. The strings point into `claims`, which the struct owns. */
typedef struct st_as_jwt_t {
    json_t *claims; /* the whole payload: json_decref it (as_jwt_clear) */
    const char *subject;
    const char *client_id;
    const char *jti;
    const char *scope; /* "" when absent */
    int64_t exp, iat, nbf;
    int64_t token_version; /* 0 when absent (client tokens) */
} as_jwt_t;

/** What the token must match; the caller's, read during the call only. */
typedef struct st_as_jwt_expect_t {
    const char *issuer;   /* required */
    const char *audience; /* NULL: any audience */
    int64_t now;          /* seconds since the epoch */
    int64_t leeway;       /* seconds of clock skew tolerated on exp and nbf */
} as_jwt_expect_t;

/**
 * Verifies `token` and fills `out` (clear it with as_jwt_clear, whatever the
 * result). Signature first: no claim of an unauthenticated token is trusted.
 * Returns 0, or the first reason found to refuse the token: one of
 * AS_ERR_TOKEN_MALFORMED ... AS_ERR_TOKEN_MISSING_CLAIM (authsvc/as.h).
 */
int as_jwt_verify_access(const char *token, size_t len, as_jwt_key_lookup lookup, void *lookup_ctx, const as_jwt_expect_t *expect,
                         as_jwt_t *out);

/** Releases the claims `jwt` holds and zeroes it; idempotent. */
void as_jwt_clear(as_jwt_t *jwt);

/** A verified id_token hint's claims. The strings point into `claims`, which the struct owns. */
typedef struct st_as_id_hint_t {
    json_t *claims; /* the whole payload: json_decref it (as_id_hint_clear) */
    const char *subject;
    const char *client_id; /* its audience: the client it was issued to */
    const char *sid;       /* the SSO session it was issued in; NULL: none */
    int64_t exp, iat;
} as_id_hint_t;

/**
 * Verifies an id_token that comes back as the id_token_hint of a logout
 * (OpenID Connect RP-Initiated Logout 1.0 §2): the JWS as for an access token
 * (a key of `lookup`, any published one, with its own algorithm), header typ
 * "JWT", no access-token claim (client_id, scope), our issuer, one audience (a
 * string or an array of one; `expect->audience` if not NULL), sub, iat and exp,
 * and sid if present a string. An expired hint is accepted, as the
 * specification asks; one issued in the future (beyond `expect->leeway`) is
 * not, nor one issued more than `max_age` seconds ago (0: no limit). Returns 0
 * or an AS_ERR_TOKEN_* reason; clear `out` with as_id_hint_clear in every case.
 */
int as_jwt_verify_id_hint(const char *token, size_t len, as_jwt_key_lookup lookup, void *lookup_ctx, const as_jwt_expect_t *expect,
                          int64_t max_age, as_id_hint_t *out);

/** Releases the claims `hint` holds and zeroes it; idempotent. */
void as_id_hint_clear(as_id_hint_t *hint);

#endif
