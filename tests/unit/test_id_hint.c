/* token/access: an id_token presented back as a logout's id_token_hint (OpenID Connect RP-Initiated Logout 1.0 §2). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/token/access.h"
#include "authsvc/token/jwt.h"
#include "check_run.h"

#define ISSUER "https://auth.example"
#define NOW 1700000000

/* the published keys: the lookup finds any of them by kid, as the served key set does */
static as_key_t *keys[3];
static char kids[3][AS_KID_LEN + 1];

static const as_key_t *lookup(void *ctx, const char *kid)
{
    (void)ctx;
    for (size_t i = 0; i != 3; ++i)
        if (keys[i] != NULL && strcmp(kids[i], kid) == 0)
            return keys[i];
    return NULL;
}

static void setup(void)
{
    static const as_alg_t algs[] = {AS_ALG_ES256, AS_ALG_EDDSA, AS_ALG_RS256};
    for (size_t i = 0; i != 3; ++i) {
        ck_assert_int_eq(as_key_generate(algs[i], &keys[i]), 0);
        ck_assert_int_eq(as_key_thumbprint(keys[i], kids[i]), 0);
    }
}

static void teardown(void)
{
    for (size_t i = 0; i != 3; ++i) {
        as_key_release(keys[i]);
        keys[i] = NULL;
    }
}

/** An id_token as the token endpoint mints it, signed by key `k`, issued `age` seconds before NOW. */
static char *mint(size_t k, const char *issuer, const char *sid, int64_t age)
{
    char *token;
    as_id_claims_t c = {.issuer = issuer,
                        .subject = "0b0e7a4e-6f64-4b53-9a61-6b2f1f0f8d11",
                        .audience = "web",
                        .sid = sid,
                        .auth_time = NOW - age,
                        .issued_at = NOW - age,
                        .lifetime = 300};
    ck_assert_int_eq(as_jwt_mint_id(keys[k], kids[k], &c, &token), 0);
    return token;
}

/** A JWS of our own making: `header` and `payload` (JSON texts) signed with key `k` (malloc'd). */
static char *sign(size_t k, const char *header, const char *payload)
{
    size_t hlen = strlen(header), plen = strlen(payload);
    char *out = malloc(AS_B64URL_ENCLEN(hlen) + AS_B64URL_ENCLEN(plen) + AS_B64URL_ENCLEN(AS_SIG_MAX) + 3), *p = out;
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;
    p += as_b64url_encode(header, hlen, p);
    *p++ = '.';
    p += as_b64url_encode(payload, plen, p);
    ck_assert_int_eq(as_jws_sign(keys[k], out, p - out, sig, &siglen), 0);
    *p++ = '.';
    as_b64url_encode(sig, siglen, p);
    return out;
}

/** A header for key `k` with `typ` (NULL: none). */
static const char *header_of(size_t k, const char *typ, char *buf, size_t size)
{
    static const char *const names[] = {"ES256", "EdDSA", "RS256"};
    if (typ != NULL)
        snprintf(buf, size, "{\"alg\":\"%s\",\"typ\":\"%s\",\"kid\":\"%s\"}", names[k], typ, kids[k]);
    else
        snprintf(buf, size, "{\"alg\":\"%s\",\"kid\":\"%s\"}", names[k], kids[k]);
    return buf;
}

static int verify(const char *token, const char *audience, int64_t max_age, as_id_hint_t *hint)
{
    as_jwt_expect_t expect = {.issuer = ISSUER, .audience = audience, .now = NOW, .leeway = 30};
    return as_jwt_verify_id_hint(token, strlen(token), lookup, NULL, &expect, max_age, hint);
}

/** The reason a token of ours with `payload` (typ JWT, key 0) is refused, or 0. */
static int verify_payload(const char *payload)
{
    char h[256], *token = sign(0, header_of(0, "JWT", h, sizeof(h)), payload);
    as_id_hint_t hint;
    int err = verify(token, NULL, 0, &hint);
    as_id_hint_clear(&hint);
    free(token);
    return err;
}

START_TEST(our_id_tokens_verify_with_any_published_key)
{
    for (size_t k = 0; k != 3; ++k) {
        char *token = mint(k, ISSUER, "5f0e5bb4-0f43-4d1c-8c39-2f25c1d1d3a7", 0);
        as_id_hint_t hint;
        ck_assert_int_eq(verify(token, NULL, 0, &hint), 0);
        ck_assert_str_eq(hint.subject, "0b0e7a4e-6f64-4b53-9a61-6b2f1f0f8d11");
        ck_assert_str_eq(hint.client_id, "web");
        ck_assert_str_eq(hint.sid, "5f0e5bb4-0f43-4d1c-8c39-2f25c1d1d3a7");
        ck_assert_int_eq(hint.iat, NOW);
        as_id_hint_clear(&hint);
        as_id_hint_clear(&hint); /* idempotent */
        ck_assert_int_eq(verify(token, "web", 0, &hint), 0);
        as_id_hint_clear(&hint);
        ck_assert_int_eq(verify(token, "other", 0, &hint), AS_ERR_TOKEN_WRONG_AUDIENCE);
        as_id_hint_clear(&hint);
        free(token);
    }
}
END_TEST

START_TEST(an_expired_hint_is_accepted_within_max_age)
{
    /* a user signs out a day after the five-minute id_token expired: still the hint the app holds */
    char *token = mint(0, ISSUER, NULL, 86400);
    as_id_hint_t hint;
    ck_assert_int_eq(verify(token, NULL, 0, &hint), 0);
    ck_assert_ptr_null(hint.sid);
    ck_assert_int_lt(hint.exp, NOW);
    as_id_hint_clear(&hint);
    ck_assert_int_eq(verify(token, NULL, 2 * 86400, &hint), 0);
    as_id_hint_clear(&hint);
    ck_assert_int_eq(verify(token, NULL, 3600, &hint), AS_ERR_TOKEN_EXPIRED);
    as_id_hint_clear(&hint);
    free(token);
    /* but not one from the future */
    token = mint(0, ISSUER, NULL, -120);
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_NOT_YET_VALID);
    as_id_hint_clear(&hint);
    free(token);
    token = mint(0, ISSUER, NULL, -10); /* within the leeway */
    ck_assert_int_eq(verify(token, NULL, 0, &hint), 0);
    as_id_hint_clear(&hint);
    free(token);
}
END_TEST

START_TEST(another_issuer_or_an_unpublished_key_is_refused)
{
    char *token = mint(1, "https://evil.example", NULL, 0);
    as_id_hint_t hint;
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_WRONG_ISSUER);
    as_id_hint_clear(&hint);
    free(token);
    token = mint(1, ISSUER, NULL, 0);
    as_key_release(keys[1]); /* unpublished since */
    keys[1] = NULL;
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_UNKNOWN_KEY);
    as_id_hint_clear(&hint);
    free(token);
}
END_TEST

START_TEST(forged_and_malformed_hints_are_refused)
{
    char *token = mint(0, ISSUER, NULL, 0), h[256];
    as_id_hint_t hint;
    size_t len = strlen(token);

    /* a flipped bit of the signature */
    token[len - 5] = token[len - 5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_BAD_SIGNATURE);
    as_id_hint_clear(&hint);
    free(token);
    /* alg none, and the alg of another key than the kid's */
    token = sign(0, "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{}");
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_BAD_ALGORITHM);
    as_id_hint_clear(&hint);
    free(token);
    snprintf(h, sizeof(h), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kids[0]);
    token = sign(0, h, "{}");
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_BAD_ALGORITHM);
    as_id_hint_clear(&hint);
    free(token);
    /* not a JWS, too long */
    ck_assert_int_eq(verify("not-a-token", NULL, 0, &hint), AS_ERR_TOKEN_MALFORMED);
    as_id_hint_clear(&hint);
    char *huge = malloc(AS_JWT_MAX_LEN + 2);
    memset(huge, 'a', AS_JWT_MAX_LEN + 1);
    huge[10] = huge[20] = '.';
    huge[AS_JWT_MAX_LEN + 1] = '\0';
    ck_assert_int_eq(verify(huge, NULL, 0, &hint), AS_ERR_TOKEN_MALFORMED);
    as_id_hint_clear(&hint);
    free(huge);
}
END_TEST

START_TEST(an_access_token_is_no_hint)
{
    char *token, jti[AS_JTI_LEN + 1], h[256];
    const char *auds[] = {"web"};
    as_access_claims_t c = {.issuer = ISSUER,
                            .subject = "0b0e7a4e-6f64-4b53-9a61-6b2f1f0f8d11",
                            .client_id = "web",
                            .scope = "openid",
                            .audiences = auds,
                            .num_audiences = 1,
                            .token_version = 1,
                            .issued_at = NOW,
                            .lifetime = 300};
    as_id_hint_t hint;
    ck_assert_int_eq(as_jwt_mint_access(keys[0], kids[0], &c, &token, jti), 0);
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_BAD_TYPE);
    as_id_hint_clear(&hint);
    free(token);
    /* nor are its claims under a JWT header */
    token = sign(0, header_of(0, "JWT", h, sizeof(h)),
                 "{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"client_id\":\"web\",\"iat\":1700000000,"
                 "\"exp\":1700000300}");
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_BAD_TYPE);
    as_id_hint_clear(&hint);
    free(token);
    /* a header without typ is not ours */
    token = sign(0, header_of(0, NULL, h, sizeof(h)),
                 "{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1700000300}");
    ck_assert_int_eq(verify(token, NULL, 0, &hint), AS_ERR_TOKEN_BAD_TYPE);
    as_id_hint_clear(&hint);
    free(token);
}
END_TEST

START_TEST(claims_a_hint_needs)
{
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1}"), 0);
    /* an audience of one in an array names the client too; two do not */
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":[\"web\"],\"iat\":1700000000,\"exp\":1}"), 0);
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":[\"web\",\"b\"],\"iat\":1700000000,\"exp\":1}"),
                     AS_ERR_TOKEN_MISSING_CLAIM);
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"\",\"iat\":1700000000,\"exp\":1}"),
                     AS_ERR_TOKEN_MISSING_CLAIM);
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1}"),
                     AS_ERR_TOKEN_MISSING_CLAIM);
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"exp\":1}"),
                     AS_ERR_TOKEN_MISSING_CLAIM);
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"iat\":1700000000}"),
                     AS_ERR_TOKEN_MISSING_CLAIM);
    ck_assert_int_eq(
        verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1,\"sid\":7}"),
        AS_ERR_TOKEN_MISSING_CLAIM);
    ck_assert_int_eq(verify_payload("{\"sub\":\"u\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1}"), AS_ERR_TOKEN_WRONG_ISSUER);
    ck_assert_int_eq(verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1,"
                                    "\"scope\":\"openid\"}"),
                     AS_ERR_TOKEN_BAD_TYPE);
    /* a payload that is no JSON object, or repeats a member */
    ck_assert_int_eq(verify_payload("[1]"), AS_ERR_TOKEN_MALFORMED);
    ck_assert_int_eq(
        verify_payload("{\"iss\":\"" ISSUER "\",\"sub\":\"u\",\"sub\":\"v\",\"aud\":\"web\",\"iat\":1700000000,\"exp\":1}"),
        AS_ERR_TOKEN_MALFORMED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("id_hint");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, our_id_tokens_verify_with_any_published_key);
    tcase_add_test(tc, an_expired_hint_is_accepted_within_max_age);
    tcase_add_test(tc, another_issuer_or_an_unpublished_key_is_refused);
    tcase_add_test(tc, forged_and_malformed_hints_are_refused);
    tcase_add_test(tc, an_access_token_is_no_hint);
    tcase_add_test(tc, claims_a_hint_needs);
    suite_add_tcase(s, tc);
    return as_check_run_suite(s);
}
