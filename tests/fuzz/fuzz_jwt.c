/*
 * A fuzz target for the access-token parser and verifier (token/access.c), and for the id_token-hint
 * verifier on the same inputs.
 *
 * The input's first byte picks what the rest of it becomes:
 *   0: the whole token text;
 *   1: the JOSE header (base64url-encoded here) of a token then signed with the real key, so that hostile
 *      headers get past nothing but the header checks;
 *   2: the payload (base64url-encoded here) of a token signed with the real key: hostile JSON reaches the
 *      claim parsing that only authenticated input reaches;
 *   3: the signature part of a valid header.payload.
 * Whatever the input, verification must not crash, hang or leak, and must reject every token but the
 * valid one and the ones this file signs itself (modes 1 and 2).
 *
 * With clang: clang -fsanitize=fuzzer,address,undefined -DAS_LIBFUZZER ... (coverage-guided, see
 * tests/fuzz/README.md). Without it (the test suite): a built-in driver runs a bounded number of
 * deterministic random mutations of valid tokens.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/token/jwt.h"
#include "authsvc/token/access.h"

static as_key_t *key;
static char kid[AS_KID_LEN + 1];
static char *valid_token;

static const as_key_t *lookup(void *ctx, const char *k)
{
    (void)ctx;
    return strcmp(k, kid) == 0 ? key : NULL;
}

static void setup(void)
{
    const char *auds[] = {"api"};
    as_access_claims_t c = {.issuer = "https://issuer", .subject = "11111111-1111-1111-1111-111111111111", .client_id = "c",
                            .scope = "read", .audiences = auds, .num_audiences = 1, .token_version = 1,
                            .issued_at = 1700000000, .lifetime = 300};
    char jti[AS_JTI_LEN + 1];
    if (as_key_generate(AS_ALG_ES256, &key) != 0 || as_key_thumbprint(key, kid) != 0 ||
        as_jwt_mint_access(key, kid, &c, &valid_token, jti) != 0)
        abort();
}

static char *b64(const uint8_t *data, size_t len)
{
    char *out = malloc(AS_B64URL_ENCLEN(len) + 1);
    as_b64url_encode(data, len, out);
    return out;
}

/** header_b64 "." payload_b64 "." signature over them with the real key. */
static char *sign(const char *h, const char *p)
{
    size_t hl = strlen(h), pl = strlen(p);
    char *t = malloc(hl + pl + 2 + AS_B64URL_ENCLEN(AS_SIG_MAX) + 1);
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;
    memcpy(t, h, hl);
    t[hl] = '.';
    memcpy(t + hl + 1, p, pl);
    if (as_jws_sign(key, t, hl + 1 + pl, sig, &siglen) != 0)
        abort();
    t[hl + 1 + pl] = '.';
    as_b64url_encode(sig, siglen, t + hl + 1 + pl + 1);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_jwt_expect_t expect = {.issuer = "https://issuer", .audience = "api", .now = 1700000100, .leeway = 30};
    as_jwt_t jwt;
    char *token = NULL, *part = NULL;
    int self_signed = 0; /* signed here with the real key: it may legitimately verify */

    if (key == NULL)
        setup();
    if (size == 0)
        return 0;
    const char *dot1 = strchr(valid_token, '.'), *dot2 = strrchr(valid_token, '.');
    switch (data[0] % 4) {
    case 0:
        token = malloc(size);
        memcpy(token, data + 1, size - 1);
        token[size - 1] = '\0';
        break;
    case 1: {
        char *payload = strndup(dot1 + 1, dot2 - dot1 - 1);
        part = b64(data + 1, size - 1);
        token = sign(part, payload);
        free(payload);
        self_signed = 1;
    } break;
    case 2: {
        char *header = strndup(valid_token, dot1 - valid_token);
        part = b64(data + 1, size - 1);
        token = sign(header, part);
        free(header);
        self_signed = 1;
    } break;
    default: {
        size_t prefix = dot2 - valid_token + 1;
        token = malloc(prefix + size);
        memcpy(token, valid_token, prefix);
        memcpy(token + prefix, data + 1, size - 1);
        token[prefix + size - 1] = '\0';
    } break;
    }
    int err = as_jwt_verify_access(token, strlen(token), lookup, NULL, &expect, &jwt);
    /* only what this file signed itself may pass; anything else would be a forgery */
    if (err == 0 && !self_signed && strcmp(token, valid_token) != 0) {
        fprintf(stderr, "fuzz: a token that was not signed here verified: %s\n", token);
        abort();
    }
    as_jwt_clear(&jwt);
    /* the same bytes as a logout's id_token_hint: the valid token is an access token, so only a token signed here
     * may pass */
    as_id_hint_t hint;
    if (as_jwt_verify_id_hint(token, strlen(token), lookup, NULL, &expect, 0, &hint) == 0 && !self_signed) {
        fprintf(stderr, "fuzz: an id_token hint that was not signed here verified: %s\n", token);
        abort();
    }
    as_id_hint_clear(&hint);
    free(token);
    free(part);
    return 0;
}

#ifndef AS_LIBFUZZER
/* The bounded driver the test suite runs: mutations of the valid token in every mode, from a fixed seed. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 20000;
    static const char *const snippets[] = {"{\"alg\":\"none\",\"typ\":\"at+jwt\"}", "{\"alg\":\"HS256\"}", "{}", "[]", "null",
                                           "{\"alg\":\"ES256\",\"alg\":\"none\"}", "{\"exp\":1e400}", "{\"sub\":{}}",
                                           "{\"iss\":\"https://issuer\",\"aud\":[1,2,{}],\"exp\":9223372036854775807}",
                                           "\"\\ud800\"", "{\"crit\":[\"x\"]}"};
    uint8_t buf[4096];
    setup();
    for (long i = 0; i < iterations; ++i) {
        size_t n;
        uint32_t mode = next() % 4;
        const char *dot1 = strchr(valid_token, '.'), *dot2 = strrchr(valid_token, '.');
        const char *src;
        size_t srclen;
        char decoded[2048];
        if (next() % 8 == 0) {
            src = snippets[next() % (sizeof(snippets) / sizeof(snippets[0]))];
            srclen = strlen(src);
        } else if (mode == 1 || mode == 2) {
            /* start from the decoded JSON of the real header or payload */
            const char *b = mode == 1 ? valid_token : dot1 + 1;
            size_t bl = mode == 1 ? (size_t)(dot1 - valid_token) : (size_t)(dot2 - dot1 - 1);
            ssize_t dl = as_b64url_decode(b, bl, decoded);
            src = decoded;
            srclen = dl < 0 ? 0 : (size_t)dl;
        } else {
            src = mode == 0 ? valid_token : dot2 + 1;
            srclen = strlen(src);
        }
        if (srclen > sizeof(buf) - 2)
            srclen = sizeof(buf) - 2;
        buf[0] = (uint8_t)mode;
        memcpy(buf + 1, src, srclen);
        n = srclen + 1;
        /* a few byte-level mutations: flip, insert, delete, truncate, duplicate a span */
        for (uint32_t m = next() % 6; m-- > 0 && n > 1;) {
            size_t at = 1 + next() % (n - 1);
            switch (next() % 5) {
            case 0:
                buf[at] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 1:
                if (n < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (uint8_t)next();
                    ++n;
                }
                break;
            case 2:
                memmove(buf + at, buf + at + 1, n - at - 1);
                --n;
                break;
            case 3:
                n = at;
                break;
            default: {
                size_t len = next() % 64;
                if (at + len <= n && n + len <= sizeof(buf)) {
                    memmove(buf + at + len, buf + at, n - at);
                    n += len;
                }
            } break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    /* and the long ones: over the size limit, and many dots */
    memset(buf, 'A', sizeof(buf));
    buf[0] = 0;
    LLVMFuzzerTestOneInput(buf, sizeof(buf));
    printf("fuzz_jwt: %ld iterations, no crash, no forged token accepted\n", iterations);
    as_key_release(key);
    free(valid_token);
    return 0;
}
#endif
