/* token/: access-token minting (RFC 9068 shape, verifiable signature) and the refresh-token format. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/token/jwt.h"
#include "authsvc/token/refresh.h"
#include "check_run.h"

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

/** The header of `token` (decoded JSON). */
static json_t *header_of(const char *token)
{
    return decode_part(token, strchr(token, '.') - token);
}

/** The token's signature verifies with `key` over its header and payload. */
static void assert_signed_by(const as_key_t *key, const char *token)
{
    const char *dot2 = strrchr(token, '.');
    uint8_t sig[AS_SIG_MAX];
    ssize_t siglen = as_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
    ck_assert_int_gt(siglen, 0);
    ck_assert_int_eq(as_jws_verify(key, token, dot2 - token, sig, siglen), 0);
}

START_TEST(header_follows_key_kid_and_type)
{
    /* headers are kept per thread between tokens: each token still gets the header of its own key, kid and type,
     * whatever came before (a new key, the same kid on another algorithm, an id_token in between, an overlong kid) */
    as_key_t *es, *ed;
    char *t;
    char jti[AS_JTI_LEN + 1], longkid[200];
    const char *auds[] = {"api"};
    as_access_claims_t c = {.issuer = "i", .subject = "s", .client_id = "c", .audiences = auds, .num_audiences = 1,
                            .issued_at = 1, .lifetime = 60};
    as_id_claims_t id = {.issuer = "i", .subject = "s", .audience = "c", .auth_time = 1, .issued_at = 1, .lifetime = 60};
    static const struct {
        int eddsa, id_token;
        const char *kid;
    } steps[] = {{0, 0, "kid-1"}, {0, 0, "kid-1"}, {0, 0, "kid-2"}, {1, 0, "kid-2"}, {1, 1, "kid-2"},
                 {1, 0, "kid-2"}, {0, 0, NULL},    {0, 0, "kid-1"}, {0, 1, "kid-1"}};

    memset(longkid, 'k', sizeof(longkid) - 1);
    longkid[sizeof(longkid) - 1] = '\0';
    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &es), 0);
    ck_assert_int_eq(as_key_generate(AS_ALG_EDDSA, &ed), 0);
    for (size_t i = 0; i != sizeof(steps) / sizeof(steps[0]); ++i) {
        as_key_t *key = steps[i].eddsa ? ed : es;
        const char *kid = steps[i].kid != NULL ? steps[i].kid : longkid;
        if (steps[i].id_token)
            ck_assert_int_eq(as_jwt_mint_id(key, kid, &id, &t), 0);
        else
            ck_assert_int_eq(as_jwt_mint_access(key, kid, &c, &t, jti), 0);
        json_t *h = header_of(t);
        ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), steps[i].eddsa ? "EdDSA" : "ES256");
        ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), steps[i].id_token ? "JWT" : "at+jwt");
        ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), kid);
        ck_assert_int_eq(json_object_size(h), 3);
        assert_signed_by(key, t); /* and the signature is over this header */
        json_decref(h);
        free(t);
    }
    as_key_release(es);
    as_key_release(ed);
}
END_TEST

START_TEST(refresh_successor_is_derived)
{
    uint8_t key1[AS_REFRESH_KEY_LEN], key2[AS_REFRESH_KEY_LEN];
    as_refresh_token_t parent, a, b, c;
    for (int format = 1; format <= 2; ++format) {
        as_random_bytes(key1, sizeof(key1));
        as_random_bytes(key2, sizeof(key2));
        as_refresh_first(format, &parent);
        parent.gen = format == 2 ? 41 : 0;
        as_refresh_next(key1, &parent, &a);
        as_refresh_next(key1, &parent, &b);
        as_refresh_next(key2, &parent, &c);
        ck_assert_mem_eq(a.secret, b.secret, sizeof(a.secret)); /* a retry gets the same successor */
        ck_assert_mem_ne(a.secret, c.secret, sizeof(a.secret)); /* which only the holder of the key can compute */
        ck_assert_mem_ne(a.secret, parent.secret, sizeof(a.secret));
        ck_assert_int_eq(a.format, format);
        ck_assert_mem_eq(a.family, parent.family, sizeof(a.family)); /* the same family, the next generation */
        ck_assert_uint_eq(a.gen, parent.gen + 1);
    }
}
END_TEST

START_TEST(refresh_first_tokens_differ)
{
    as_refresh_token_t a, b;
    char fa[37], fb[37];
    as_refresh_first(2, &a);
    as_refresh_first(2, &b);
    ck_assert_mem_ne(a.secret, b.secret, sizeof(a.secret));
    ck_assert_mem_ne(a.family, b.family, sizeof(a.family));
    ck_assert_uint_eq(a.gen, 0);
    as_refresh_family_text(&a, fa);
    as_refresh_family_text(&b, fb);
    /* uuid text of a version-4 uuid, as PostgreSQL prints it */
    ck_assert_uint_eq(strlen(fa), 36);
    ck_assert_int_eq(fa[8], '-');
    ck_assert_int_eq(fa[14], '4');
    ck_assert_msg(strchr("89ab", fa[19]) != NULL, "variant bits: %s", fa);
    ck_assert_str_ne(fa, fb);
}
END_TEST

START_TEST(refresh_text_form_1)
{
    uint8_t key[AS_REFRESH_KEY_LEN], h1[AS_SHA256_LEN], h2[AS_SHA256_LEN];
    as_refresh_token_t t, back;
    char text[AS_REFRESH_TEXT_MAX + 1];
    as_random_bytes(key, sizeof(key));
    as_refresh_first(1, &t);
    as_refresh_format(key, &t, text);
    ck_assert_uint_eq(strlen(text), 43);
    ck_assert_int_eq(as_refresh_parse(key, text, strlen(text), &back), 0);
    ck_assert_int_eq(back.format, 1);
    ck_assert_mem_eq(t.secret, back.secret, sizeof(t.secret));
    as_refresh_hash(&t, h1);
    as_sha256(t.secret, sizeof(t.secret), h2);
    ck_assert_mem_eq(h1, h2, sizeof(h1));
    ck_assert_int_ne(as_refresh_parse(key, text, 42, &back), 0);
    text[5] = '+';
    ck_assert_int_ne(as_refresh_parse(key, text, 43, &back), 0);
    ck_assert_int_ne(as_refresh_parse(key, "", 0, &back), 0);
}
END_TEST

/** The format-2 layout, computed here independently: family ‖ gen (big-endian) ‖ secret ‖ truncated HMAC tag. */
static void v2_expected(const uint8_t key[AS_REFRESH_KEY_LEN], const as_refresh_token_t *t, uint8_t raw[68])
{
    uint8_t msg[16 + 52], mac[32];
    memcpy(raw, t->family, 16);
    raw[16] = (uint8_t)(t->gen >> 24), raw[17] = (uint8_t)(t->gen >> 16), raw[18] = (uint8_t)(t->gen >> 8), raw[19] = (uint8_t)t->gen;
    memcpy(raw + 20, t->secret, 32);
    memcpy(msg, "authsvc-refresh2", 16);
    memcpy(msg + 16, raw, 52);
    as_hmac_sha256(key, AS_REFRESH_KEY_LEN, msg, sizeof(msg), mac);
    memcpy(raw + 52, mac, 16);
}

START_TEST(refresh_text_form_2)
{
    uint8_t key[AS_REFRESH_KEY_LEN], other[AS_REFRESH_KEY_LEN], raw[68], expect[68];
    as_refresh_token_t t, back;
    char text[AS_REFRESH_TEXT_MAX + 1], forged[AS_REFRESH_TEXT_MAX + 1];
    as_random_bytes(key, sizeof(key));
    as_random_bytes(other, sizeof(other));
    as_refresh_first(2, &t);
    t.gen = 0x01020304;
    as_refresh_format(key, &t, text);
    ck_assert_uint_eq(strlen(text), 91);
    ck_assert_int_eq(as_b64url_decode(text, 91, raw), 68);
    v2_expected(key, &t, expect);
    ck_assert_mem_eq(raw, expect, sizeof(raw));

    ck_assert_int_eq(as_refresh_parse(key, text, 91, &back), 0);
    ck_assert_int_eq(back.format, 2);
    ck_assert_uint_eq(back.gen, 0x01020304);
    ck_assert_mem_eq(back.family, t.family, sizeof(t.family));
    ck_assert_mem_eq(back.secret, t.secret, sizeof(t.secret));

    /* issued under another key, or any byte changed: never issued here */
    ck_assert_int_ne(as_refresh_parse(other, text, 91, &back), 0);
    for (size_t i = 0; i != sizeof(raw); ++i) {
        uint8_t changed[68];
        memcpy(changed, raw, sizeof(changed));
        changed[i] ^= 0x01;
        as_b64url_encode(changed, sizeof(changed), forged);
        ck_assert_msg(as_refresh_parse(key, forged, 91, &back) != 0, "byte %zu changed and still accepted", i);
    }
    ck_assert_int_ne(as_refresh_parse(key, text, 90, &back), 0);

    /* a generation past what the database column holds is refused even with a good tag */
    t.gen = (uint32_t)AS_REFRESH_GEN_MAX + 1;
    as_refresh_format(key, &t, text);
    ck_assert_int_ne(as_refresh_parse(key, text, 91, &back), 0);
    t.gen = AS_REFRESH_GEN_MAX;
    as_refresh_format(key, &t, text);
    ck_assert_int_eq(as_refresh_parse(key, text, 91, &back), 0);
}
END_TEST

/** Mints an id_token with `alg` and checks its header, claims and at_hash against an independent computation. */
static void mint_id_and_check(as_alg_t alg)
{
    as_key_t *key;
    char kid[AS_KID_LEN + 1], *token;
    static const char access[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    as_id_claims_t c = {.issuer = "https://auth.example", .subject = "user-1", .audience = "web", .nonce = "n-0S6_WzA2Mj",
                        .sid = "sess-1", .access_token = access, .auth_time = 1699999000, .issued_at = 1700000000,
                        .lifetime = 300};

    ck_assert_int_eq(as_key_generate(alg, &key), 0);
    ck_assert_int_eq(as_key_thumbprint(key, kid), 0);
    ck_assert_int_eq(as_jwt_mint_id(key, kid, &c, &token), 0);
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    json_t *h = decode_part(token, dot1 - token), *p = decode_part(dot1 + 1, dot2 - dot1 - 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "JWT");
    ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), kid);
    ck_assert_str_eq(json_string_value(json_object_get(p, "aud")), "web");
    ck_assert_str_eq(json_string_value(json_object_get(p, "nonce")), "n-0S6_WzA2Mj");
    ck_assert_str_eq(json_string_value(json_object_get(p, "sid")), "sess-1");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "auth_time")), 1699999000);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "exp")), 1700000300);
    ck_assert_ptr_null(json_object_get(p, "client_id")); /* an id_token is not an access token */
    ck_assert_ptr_null(json_object_get(p, "scope"));

    /* OIDC Core §3.1.3.6: base64url of the left half of the hash of the access token's ASCII */
    uint8_t digest[AS_SHA512_LEN];
    char expected[AS_B64URL_ENCLEN(AS_SHA512_LEN / 2) + 1];
    size_t n = alg == AS_ALG_EDDSA ? AS_SHA512_LEN : AS_SHA256_LEN;
    if (alg == AS_ALG_EDDSA)
        as_sha512(access, strlen(access), digest);
    else
        as_sha256(access, strlen(access), digest);
    as_b64url_encode(digest, n / 2, expected);
    ck_assert_str_eq(json_string_value(json_object_get(p, "at_hash")), expected);
    ck_assert_uint_eq(strlen(expected), alg == AS_ALG_EDDSA ? 43 : 22);

    assert_signed_by(key, token);
    json_decref(h);
    json_decref(p);
    free(token);
    as_key_release(key);
}

START_TEST(mints_id_tokens)
{
    mint_id_and_check(AS_ALG_ES256);
    mint_id_and_check(AS_ALG_EDDSA);
    mint_id_and_check(AS_ALG_RS256);
}
END_TEST

START_TEST(id_token_without_nonce_sid_or_access_token)
{
    as_key_t *key;
    char *token;
    as_id_claims_t c = {.issuer = "https://auth.example", .subject = "u", .audience = "web", .auth_time = 1, .issued_at = 2,
                        .lifetime = 300};
    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_int_eq(as_jwt_mint_id(key, "kid", &c, &token), 0);
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    json_t *p = decode_part(dot1 + 1, dot2 - dot1 - 1);
    ck_assert_ptr_null(json_object_get(p, "nonce"));
    ck_assert_ptr_null(json_object_get(p, "sid"));
    ck_assert_ptr_null(json_object_get(p, "at_hash"));
    json_decref(p);
    free(token);
    as_key_release(key);
}
END_TEST

START_TEST(access_token_with_a_chosen_jti)
{
    as_key_t *key;
    char *token, jti[AS_JTI_LEN + 1], chosen[AS_JTI_LEN + 1];
    const char *auds[] = {"api"};
    as_jwt_new_jti(chosen);
    ck_assert_uint_eq(strlen(chosen), AS_JTI_LEN);
    as_access_claims_t c = {.issuer = "i", .subject = "s", .client_id = "c", .audiences = auds, .num_audiences = 1,
                            .issued_at = 1, .lifetime = 2, .jti = chosen};
    ck_assert_int_eq(as_key_generate(AS_ALG_ES256, &key), 0);
    ck_assert_int_eq(as_jwt_mint_access(key, "kid", &c, &token, jti), 0);
    ck_assert_str_eq(jti, chosen);
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    json_t *p = decode_part(dot1 + 1, dot2 - dot1 - 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "jti")), chosen);
    json_decref(p);
    free(token);
    as_key_release(key);
}
END_TEST

AS_CHECK_MAIN("token",
              mints_es256,
              mints_eddsa,
              header_follows_key_kid_and_type,
              single_audience_is_a_string_and_client_tokens_have_no_ver,
              refresh_successor_is_derived,
              refresh_first_tokens_differ,
              refresh_text_form_1,
              refresh_text_form_2,
              mints_id_tokens,
              id_token_without_nonce_sid_or_access_token,
              access_token_with_a_chosen_jti)
