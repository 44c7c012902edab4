/* token/: access-token minting (RFC 9068 shape, verifiable signature) and the refresh-token format. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/token/jwt.h"
#include "authsvc/token/refresh.h"

static json_t *decode_part(const char *b64, size_t len)
{
    char *buf = malloc(AS_B64URL_DECLEN(len) + 1);
    ssize_t n = as_b64url_decode(b64, len, buf);
    ck_assert_int_ge(n, 0);
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void mint_and_check(as_alg_t alg)
{
    as_key_t *key;
    char kid[AS_KID_LEN + 1], *token, jti[AS_JTI_LEN + 1];
    const char *auds[] = {"api-a", "api-b"};
    as_access_claims_t c = {.issuer = "https://auth.example",
                            .subject = "user-1",
                            .client_id = "web",
                            .scope = "read write",
                            .audiences = auds,
                            .num_audiences = 2,
                            .token_version = 7,
                            .issued_at = 1700000000,
                            .lifetime = 300};

    ck_assert_int_eq(as_key_generate(alg, &key), 0);
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_int_eq(as_jwt_mint_access(key, kid, &c, &token, jti), 0);

    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    ck_assert_ptr_nonnull(dot1);
    ck_assert_ptr_ne(dot1, dot2);
    json_t *h = decode_part(token, dot1 - token), *p = decode_part(dot1 + 1, dot2 - dot1 - 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), as_alg_name(alg));
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "at+jwt");
    ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), kid);
    ck_assert_str_eq(json_string_value(json_object_get(p, "iss")), "https://auth.example");
    ck_assert_str_eq(json_string_value(json_object_get(p, "sub")), "user-1");
    ck_assert_str_eq(json_string_value(json_object_get(p, "client_id")), "web");
    ck_assert_str_eq(json_string_value(json_object_get(p, "scope")), "read write");
    ck_assert_str_eq(json_string_value(json_object_get(p, "jti")), jti);
    ck_assert_int_eq(json_array_size(json_object_get(p, "aud")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "aud"), 1)), "api-b");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "iat")), 1700000000);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "nbf")), 1700000000);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "exp")), 1700000300);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "ver")), 7);

    /* the signature covers header.payload and nothing else */
    uint8_t sig[AS_SIG_MAX];
    ssize_t siglen = as_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
    ck_assert_int_gt(siglen, 0);
    ck_assert_int_eq(as_jws_verify(key, token, dot2 - token, sig, siglen), 0);
    token[dot1 - token + 3] ^= 1; /* tamper with the payload */
    ck_assert_int_ne(as_jws_verify(key, token, dot2 - token, sig, siglen), 0);

    json_decref(h);
    json_decref(p);
    free(token);
    as_key_release(key);
}

START_TEST(mints_es256)
{
    mint_and_check(AS_ALG_ES256);
}
END_TEST

START_TEST(mints_eddsa)
{
    mint_and_check(AS_ALG_EDDSA);
}
END_TEST

START_TEST(single_audience_is_a_string_and_client_tokens_have_no_ver)
{
    as_key_t *key;
    char kid[AS_KID_LEN + 1], *token, jti[AS_JTI_LEN + 1], jti2[AS_JTI_LEN + 1], *token2;
    const char *auds[] = {"api"};
    as_access_claims_t c = {.issuer = "i", .subject = "svc", .client_id = "svc", .scope = "", .audiences = auds,
                            .num_audiences = 1, .token_version = 0, .issued_at = 1, .lifetime = 60};
    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_int_eq(as_jwt_mint_access(key, kid, &c, &token, jti), 0);
    ck_assert_int_eq(as_jwt_mint_access(key, kid, &c, &token2, jti2), 0);
    ck_assert_str_ne(jti, jti2); /* every token has its own jti */
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    json_t *p = decode_part(dot1 + 1, dot2 - dot1 - 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), "api");
    ck_assert_ptr_null(json_object_get(p, "ver"));
    ck_assert_ptr_null(json_object_get(p, "scope"));
    json_decref(p);
    free(token);
    free(token2);
    as_key_release(key);
}
END_TEST

START_TEST(refresh_successor_is_derived)
{
    uint8_t key1[AS_REFRESH_KEY_LEN], key2[AS_REFRESH_KEY_LEN], parent[AS_REFRESH_RAW_LEN], a[AS_REFRESH_RAW_LEN],
        b[AS_REFRESH_RAW_LEN], c[AS_REFRESH_RAW_LEN];
    as_random_bytes(key1, sizeof(key1));
    as_random_bytes(key2, sizeof(key2));
    as_refresh_new(parent);
    as_refresh_successor(key1, parent, a);
    as_refresh_successor(key1, parent, b);
    as_refresh_successor(key2, parent, c);
    ck_assert_mem_eq(a, b, sizeof(a));  /* a retry gets the same successor */
    ck_assert_mem_ne(a, c, sizeof(a));  /* which only the holder of the key can compute */
    ck_assert_mem_ne(a, parent, sizeof(a));
}
END_TEST

START_TEST(refresh_text_form)
{
    uint8_t raw[AS_REFRESH_RAW_LEN], back[AS_REFRESH_RAW_LEN], h1[AS_SHA256_LEN], h2[AS_SHA256_LEN];
    char text[AS_REFRESH_TOKEN_LEN + 1];
    as_refresh_new(raw);
    as_refresh_format(raw, text);
    ck_assert_uint_eq(strlen(text), 43);
    ck_assert_int_eq(as_refresh_parse(text, strlen(text), back), 0);
    ck_assert_mem_eq(raw, back, sizeof(raw));
    as_refresh_hash(raw, h1);
    as_sha256(raw, sizeof(raw), h2);
    ck_assert_mem_eq(h1, h2, sizeof(h1));
    ck_assert_int_ne(as_refresh_parse(text, 42, back), 0);
    text[5] = '+';
    ck_assert_int_ne(as_refresh_parse(text, 43, back), 0);
    ck_assert_int_ne(as_refresh_parse("", 0, back), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, mints_es256);
    tcase_add_test(tc, mints_eddsa);
    tcase_add_test(tc, single_audience_is_a_string_and_client_tokens_have_no_ver);
    tcase_add_test(tc, refresh_successor_is_derived);
    tcase_add_test(tc, refresh_text_form);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
