/*
 * login/csrf — the CSRF tokens of the login and consent forms. The design is
 * explained in csrf.c. Pure functions; any thread. Module-private
 * (as_login__): the login module's files and its unit tests.
 */
#ifndef AS_LOGIN_CSRF_H
#define AS_LOGIN_CSRF_H

#include <stddef.h>
#include <stdint.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/token/refresh.h"

/** The login attempt: random bytes in a short-lived cookie (base64url). */
#define AS_LOGIN_ATTEMPT_RAW_LEN 16
#define AS_LOGIN_ATTEMPT_LEN AS_B64URL_ENCLEN(AS_LOGIN_ATTEMPT_RAW_LEN)

/** A form token: a random nonce, its expiry and a MAC, in base64url. */
#define AS_LOGIN_CSRF_RAW_LEN (16 + 8 + AS_HMAC_SHA256_LEN)
#define AS_LOGIN_CSRF_LEN AS_B64URL_ENCLEN(AS_LOGIN_CSRF_RAW_LEN)

/** The key the tokens are MAC'd with. */
#define AS_LOGIN_CSRF_KEY_LEN AS_HMAC_SHA256_LEN

/** Which form a token is for: a token of one is worthless for the other. */
typedef enum en_as_csrf_form_t {
    AS_CSRF_LOGIN = 1,
    AS_CSRF_CONSENT = 2,
} as_csrf_form_t;

/** What a token is bound to. */
typedef struct st_as_csrf_binding_t {
    as_csrf_form_t form;
    const uint8_t *attempt; /* AS_LOGIN_ATTEMPT_RAW_LEN bytes, from the attempt cookie */
    const char *session_id; /* the consent form: the session it was shown in; NULL: none */
    const uint8_t *request; /* AS_SHA256_LEN: as_login__authz_digest of the authorization request */
} as_csrf_binding_t;

/** Derives the token key from the key directory's refresh key, which every instance shares. */
void as_login__csrf_key(const uint8_t refresh_key[AS_REFRESH_KEY_LEN], uint8_t key[AS_LOGIN_CSRF_KEY_LEN]);

/** A fresh token for `binding`, valid until `expires_at` (UNIX seconds), NUL-terminated. */
void as_login__csrf_mint(const uint8_t key[AS_LOGIN_CSRF_KEY_LEN], const as_csrf_binding_t *binding, int64_t expires_at,
                         char out[AS_LOGIN_CSRF_LEN + 1]);

/**
 * Checks that `token` was minted with `key` for exactly `binding` and has not
 * expired at `now`. Returns 0 and its expiry in *expires_at, or
 * AS_ERR_BAD_INPUT (malformed, forged, or bound to another attempt, session,
 * form or request) or AS_ERR_TOKEN_EXPIRED. Whether it was used before is the
 * store's to say (as_store_form_token_use).
 */
int as_login__csrf_verify(const uint8_t key[AS_LOGIN_CSRF_KEY_LEN], const as_csrf_binding_t *binding, int64_t now,
                          const char *token, size_t len, int64_t *expires_at) AS_WUR;

#endif
