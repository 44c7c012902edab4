/*
 * login/csrf — the CSRF tokens of the login and consent forms (interface in
 * csrf.h).
 *
 * The design. A form of ours carries a token that is useless anywhere but in
 * the browser it was shown in, for the authorization request it was shown for,
 * once, for a quarter of an hour:
 *
 *  - The browser holds a login attempt: 16 random bytes in a cookie
 *    (HttpOnly, SameSite=Lax, __Host- under https, a 15-minute Max-Age renewed
 *    whenever a form is shown). Other tabs of the same browser share it.
 *  - The token is nonce || expiry || HMAC-SHA256(K, form || attempt || nonce
 *    || expiry || session id || SHA-256 of the authorization request's
 *    parameters), K derived from the key directory's refresh key, so every
 *    instance that serves the same keys accepts it and no per-form state is
 *    written when a page is merely shown (an anonymous flood of GETs writes
 *    nothing).
 *  - Another site cannot read the token (same-origin policy) and its POST
 *    carries no Lax cookie; an attacker's own token (login CSRF: signing the
 *    victim into the attacker's account) is bound to the attacker's attempt
 *    cookie, which the victim's browser does not send; a token of the login
 *    form is refused by the consent form and the other way round, and a
 *    consent token only works in the session that was asked; a token minted
 *    for one authorization request cannot approve another (another client,
 *    redirect_uri, scope or PKCE challenge).
 *  - Once: when a form is submitted, the SHA-256 of its token is inserted
 *    into form_tokens (kept until the token's expiry) before anything else is
 *    done; a second submission of the same token finds the row and fails, so a
 *    replayed form spends no password verification and approves nothing.
 */
#include <string.h>
#include "authsvc/login/csrf.h"

#define NONCE_LEN 16

void as_login__csrf_key(const uint8_t refresh_key[AS_REFRESH_KEY_LEN], uint8_t key[AS_LOGIN_CSRF_KEY_LEN])
{
    static const char label[] = "authsvc login form token v1";
    as_hmac_sha256(refresh_key, AS_REFRESH_KEY_LEN, label, sizeof(label) - 1, key);
}

static void mac(const uint8_t key[AS_LOGIN_CSRF_KEY_LEN], const as_csrf_binding_t *b, const uint8_t nonce[NONCE_LEN],
                const uint8_t exp[8], uint8_t out[AS_HMAC_SHA256_LEN])
{
    uint8_t input[1 + AS_LOGIN_ATTEMPT_RAW_LEN + NONCE_LEN + 8 + 1 + 255 + AS_SHA256_LEN];
    size_t n = 0, sid_len = b->session_id != NULL ? strlen(b->session_id) : 0;

    if (sid_len > 255)
        sid_len = 255; /* session ids are uuids (36 characters): never reached */
    input[n++] = (uint8_t)b->form;
    memcpy(input + n, b->attempt, AS_LOGIN_ATTEMPT_RAW_LEN);
    n += AS_LOGIN_ATTEMPT_RAW_LEN;
    memcpy(input + n, nonce, NONCE_LEN);
    n += NONCE_LEN;
    memcpy(input + n, exp, 8);
    n += 8;
    input[n++] = (uint8_t)sid_len;
    memcpy(input + n, b->session_id != NULL ? b->session_id : "", sid_len);
    n += sid_len;
    memcpy(input + n, b->request, AS_SHA256_LEN);
    n += AS_SHA256_LEN;
    as_hmac_sha256(key, AS_LOGIN_CSRF_KEY_LEN, input, n, out);
}

void as_login__csrf_mint(const uint8_t key[AS_LOGIN_CSRF_KEY_LEN], const as_csrf_binding_t *binding, int64_t expires_at,
                         char out[AS_LOGIN_CSRF_LEN + 1])
{
    uint8_t raw[AS_LOGIN_CSRF_RAW_LEN];
    as_random_bytes(raw, NONCE_LEN);
    for (int i = 0; i != 8; ++i)
        raw[NONCE_LEN + i] = (uint8_t)((uint64_t)expires_at >> (56 - 8 * i));
    mac(key, binding, raw, raw + NONCE_LEN, raw + NONCE_LEN + 8);
    as_b64url_encode(raw, sizeof(raw), out);
}

int as_login__csrf_verify(const uint8_t key[AS_LOGIN_CSRF_KEY_LEN], const as_csrf_binding_t *binding, int64_t now,
                          const char *token, size_t len, int64_t *expires_at)
{
    uint8_t raw[AS_B64URL_DECLEN(AS_LOGIN_CSRF_LEN)], expected[AS_HMAC_SHA256_LEN];
    uint64_t exp = 0;

    if (len != AS_LOGIN_CSRF_LEN || as_b64url_decode(token, len, raw) != AS_LOGIN_CSRF_RAW_LEN)
        return AS_ERR_BAD_INPUT;
    mac(key, binding, raw, raw + NONCE_LEN, expected);
    if (as_memeq(expected, raw + NONCE_LEN + 8, AS_HMAC_SHA256_LEN) != 0)
        return AS_ERR_BAD_INPUT;
    for (int i = 0; i != 8; ++i)
        exp = exp << 8 | raw[NONCE_LEN + i];
    if ((int64_t)exp <= now)
        return AS_ERR_TOKEN_EXPIRED;
    *expires_at = (int64_t)exp;
    return 0;
}
