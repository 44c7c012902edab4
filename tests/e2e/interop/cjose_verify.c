/*
 * cjose_verify — verifies one JWT access token with Debian's cjose (libcjose-dev), a C JOSE library nobody
 * here wrote. Compiled by tests/e2e/test_interop.py at test time:
 *     cc cjose_verify.c $(pkg-config --cflags --libs cjose)
 *
 *   cjose_verify JWK_FILE ALG ISSUER AUDIENCE TOKEN
 *
 * JWK_FILE holds one public JWK exactly as the server's JWKS serves it (imported with cjose_jwk_import).
 * Checks: the JWS signature (cjose_jws_verify), that the protected header's alg is ALG (cjose takes the
 * algorithm from the header, so a verifier must pin it), typ "at+jwt" (RFC 9068 §2.1), and in the claims
 * (parsed with jansson, cjose's own JSON library) iss == ISSUER, AUDIENCE in aud, exp in the future and nbf
 * not in the future. Prints the claims on stdout, as the token carries them, for the caller to compare.
 *
 * Exit status: 0 verified; 1 rejected (the reason on stderr); 2 usage or I/O error; 3 cjose does not
 * implement ALG (cjose 0.6 has no EdDSA), so the caller can tell "cannot" from "refuses".
 */
#include <cjose/cjose.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/** The JWS algorithms this cjose implements, from its own header. */
static int cjose_implements(const char *alg)
{
    const char *const algs[] = {CJOSE_HDR_ALG_PS256, CJOSE_HDR_ALG_PS384, CJOSE_HDR_ALG_PS512, CJOSE_HDR_ALG_RS256,
                                CJOSE_HDR_ALG_RS384, CJOSE_HDR_ALG_RS512, CJOSE_HDR_ALG_ES256, CJOSE_HDR_ALG_ES384,
                                CJOSE_HDR_ALG_ES512};
    for (size_t i = 0; i != sizeof(algs) / sizeof(algs[0]); ++i)
        if (strcmp(alg, algs[i]) == 0)
            return 1;
    return 0;
}

static int reject(const char *what, const char *detail)
{
    fprintf(stderr, "cjose_verify: rejected: %s%s%s\n", what, detail != NULL ? ": " : "", detail != NULL ? detail : "");
    return 1;
}

static int has_audience(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
                return 1;
        }
    }
    return 0;
}

static int check(const char *jwk_json, size_t jwk_len, const char *alg, const char *issuer, const char *audience, const char *token)
{
    cjose_err err;
    cjose_jwk_t *jwk = NULL;
    cjose_jws_t *jws = NULL;
    cjose_header_t *hdr;
    const char *h_alg, *h_typ;
    uint8_t *plain;
    size_t plain_len;
    json_t *claims = NULL, *v;
    json_error_t jerr;
    json_int_t now = (json_int_t)time(NULL);
    int ret = 1;

    if ((jwk = cjose_jwk_import(jwk_json, jwk_len, &err)) == NULL) {
        fprintf(stderr, "cjose_verify: cjose_jwk_import: %s\n", err.message);
        return 2;
    }
    if ((jws = cjose_jws_import(token, strlen(token), &err)) == NULL) {
        reject("cjose_jws_import", err.message);
        goto Exit;
    }
    if (!cjose_jws_verify(jws, jwk, &err)) {
        reject("cjose_jws_verify", err.message);
        goto Exit;
    }
    hdr = cjose_jws_get_protected(jws);
    if ((h_alg = cjose_header_get(hdr, CJOSE_HDR_ALG, &err)) == NULL || strcmp(h_alg, alg) != 0) {
        reject("unexpected alg", h_alg);
        goto Exit;
    }
    if ((h_typ = cjose_header_get(hdr, "typ", &err)) == NULL || strcmp(h_typ, "at+jwt") != 0) {
        reject("typ is not at+jwt", h_typ);
        goto Exit;
    }
    if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &err)) {
        reject("cjose_jws_get_plaintext", err.message);
        goto Exit;
    }
    if ((claims = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL || !json_is_object(claims)) {
        reject("claims are not a JSON object", jerr.text);
        goto Exit;
    }
    if (!json_is_string(v = json_object_get(claims, "iss")) || strcmp(json_string_value(v), issuer) != 0) {
        reject("unexpected iss", json_string_value(v));
        goto Exit;
    }
    if (!has_audience(json_object_get(claims, "aud"), audience)) {
        reject("audience not in aud", audience);
        goto Exit;
    }
    if (!json_is_integer(v = json_object_get(claims, "exp")) || json_integer_value(v) <= now) {
        reject("exp missing or in the past", NULL);
        goto Exit;
    }
    if (!json_is_integer(v = json_object_get(claims, "nbf")) || json_integer_value(v) > now + 5) {
        reject("nbf missing or in the future", NULL);
        goto Exit;
    }
    fwrite(plain, 1, plain_len, stdout);
    putchar('\n');
    ret = 0;
Exit:
    json_decref(claims);
    cjose_jws_release(jws);
    cjose_jwk_release(jwk);
    return ret;
}

int main(int argc, char **argv)
{
    char *jwk;
    size_t jwk_len;
    int ret;

    if (argc != 6) {
        fputs("usage: cjose_verify JWK_FILE ALG ISSUER AUDIENCE TOKEN\n", stderr);
        return 2;
    }
    if (!cjose_implements(argv[2])) {
        fprintf(stderr, "cjose_verify: cjose %s does not implement %s\n", CJOSE_VERSION, argv[2]);
        return 3;
    }
    if ((jwk = read_all(argv[1], &jwk_len)) == NULL) {
        fprintf(stderr, "cjose_verify: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    ret = check(jwk, jwk_len, argv[2], argv[3], argv[4], argv[5]);
    free(jwk);
    return ret;
}
