/*
 * token/access — checking an RFC 9068 access token: JWS compact form, the key
 * named by its kid (whose algorithm must be the header's; no "none", no HS*),
 * typ at+jwt, issuer, audience, and exp/nbf with a leeway. Thread-safe, no I/O.
 */
#ifndef AS_TOKEN_ACCESS_H
#define AS_TOKEN_ACCESS_H

#include <stdint.h>
#include <jansson.h>
#include "authsvc/crypto/crypto.h"

#define AS_JWT_MAX_LEN 8192

typedef enum en_as_jwt_err_t {
    AS_JWT_OK = 0,
    AS_JWT_MALFORMED = -1,       /* not three base64url parts of JSON objects, oversized, duplicate keys */
    AS_JWT_BAD_ALGORITHM = -2,   /* none, HS*, unknown, or not the key's algorithm */
    AS_JWT_BAD_TYPE = -3,        /* typ is not at+jwt */
    AS_JWT_UNKNOWN_KEY = -4,     /* no key with that kid */
    AS_JWT_BAD_SIGNATURE = -5,
    AS_JWT_EXPIRED = -6,
    AS_JWT_NOT_YET_VALID = -7,
    AS_JWT_WRONG_ISSUER = -8,
    AS_JWT_WRONG_AUDIENCE = -9,
    AS_JWT_MISSING_CLAIM = -10,  /* sub, exp, iat, jti or client_id absent or of the wrong type */
} as_jwt_err_t;

/** A short English reason for an error code. */
const char *as_jwt_strerror(as_jwt_err_t err);

/** Finds the verification key of a kid; NULL if unknown. The key stays owned by the caller's key set. */
typedef const as_key_t *(*as_jwt_key_lookup)(void *ctx, const char *kid);

typedef struct st_as_jwt_t {
    json_t *claims; /* the whole payload: json_decref it (as_jwt_clear) */
    const char *subject;
    const char *client_id;
    const char *jti;
    const char *scope; /* "" when absent */
    int64_t exp, iat, nbf;
    int64_t token_version; /* 0 when absent (client tokens) */
} as_jwt_t;

typedef struct st_as_jwt_expect_t {
    const char *issuer;   /* required */
    const char *audience; /* NULL: any audience */
    int64_t now;          /* seconds since the epoch */
    int64_t leeway;       /* seconds of clock skew tolerated on exp and nbf */
} as_jwt_expect_t;

/**
 * Verifies `token` and fills `out` (clear it with as_jwt_clear, whatever the
 * result). Signature first: no claim of an unauthenticated token is trusted.
 */
as_jwt_err_t as_jwt_verify_access(const char *token, size_t len, as_jwt_key_lookup lookup, void *lookup_ctx,
                                  const as_jwt_expect_t *expect, as_jwt_t *out);

void as_jwt_clear(as_jwt_t *jwt);

#endif
