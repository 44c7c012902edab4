/*
 * token/jwt — RFC 9068 access tokens: header {alg, typ: at+jwt, kid}, the
 * claims, a random jti, signed with crypto/'s JWS (interface in jwt.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/as.h"
#include "authsvc/token/jwt.h"

static char *b64url_json(json_t *obj, size_t *outlen)
{
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        abort();
    size_t len = strlen(text);
    char *enc = as_malloc(AS_B64URL_ENCLEN(len) + 1);
    *outlen = as_b64url_encode(text, len, enc);
    free(text);
    return enc;
}

void as_jwt_new_jti(char jti[AS_JTI_LEN + 1])
{
    uint8_t rnd[16];
    as_random_bytes(rnd, sizeof(rnd));
    as_b64url_encode(rnd, sizeof(rnd), jti);
}

/** header.payload.signature with `key`; takes `payload` over. */
static int sign_compact(const as_key_t *key, const char *kid, const char *typ, json_t *payload, char **out)
{
    uint8_t sig[AS_SIG_MAX];
    size_t hlen, plen, siglen;
    char *header_b64 = NULL, *payload_b64 = NULL, *token = NULL;
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", as_alg_name(as_key_alg(key)), "typ", typ, "kid", kid);
    int ret = -1;

    if (header == NULL || payload == NULL)
        goto Exit;
    header_b64 = b64url_json(header, &hlen);
    payload_b64 = b64url_json(payload, &plen);
    token = as_malloc(hlen + 1 + plen + 1 + AS_B64URL_ENCLEN(AS_SIG_MAX) + 1);
    memcpy(token, header_b64, hlen);
    token[hlen] = '.';
    memcpy(token + hlen + 1, payload_b64, plen);
    if (as_jws_sign(key, token, hlen + 1 + plen, sig, &siglen) != 0)
        goto Exit;
    token[hlen + 1 + plen] = '.';
    as_b64url_encode(sig, siglen, token + hlen + 1 + plen + 1);
    *out = token;
    token = NULL;
    ret = 0;
Exit:
    json_decref(header);
    json_decref(payload);
    free(header_b64);
    free(payload_b64);
    free(token);
    return ret;
}

int as_jwt_mint_access(const as_key_t *key, const char *kid, const as_access_claims_t *c, char **out, char jti[AS_JTI_LEN + 1])
{
    json_t *payload, *aud;

    if (c->jti != NULL)
        snprintf(jti, AS_JTI_LEN + 1, "%s", c->jti);
    else
        as_jwt_new_jti(jti);
    if (c->num_audiences == 1) {
        aud = json_string(c->audiences[0]);
    } else {
        aud = json_array();
        for (size_t i = 0; i != c->num_audiences; ++i)
            json_array_append_new(aud, json_string(c->audiences[i]));
    }
    payload = json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:s, s:s}", "iss", c->issuer, "sub", c->subject, "aud", aud, "exp",
                        (json_int_t)(c->issued_at + c->lifetime), "iat", (json_int_t)c->issued_at, "nbf",
                        (json_int_t)c->issued_at, "jti", jti, "client_id", c->client_id);
    if (payload != NULL && c->scope != NULL && c->scope[0] != '\0')
        json_object_set_new(payload, "scope", json_string(c->scope));
    if (payload != NULL && c->token_version > 0)
        json_object_set_new(payload, "ver", json_integer(c->token_version));
    return sign_compact(key, kid, "at+jwt", payload, out);
}

int as_jwt_mint_id(const as_key_t *key, const char *kid, const as_id_claims_t *c, char **out)
{
    json_t *payload = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "iss", c->issuer, "sub", c->subject, "aud", c->audience, "exp",
                                (json_int_t)(c->issued_at + c->lifetime), "iat", (json_int_t)c->issued_at, "auth_time",
                                (json_int_t)c->auth_time);
    if (payload == NULL)
        return -1;
    if (c->nonce != NULL)
        json_object_set_new(payload, "nonce", json_string(c->nonce));
    if (c->sid != NULL)
        json_object_set_new(payload, "sid", json_string(c->sid));
    if (c->access_token != NULL) {
        uint8_t digest[AS_SHA512_LEN];
        char half[AS_B64URL_ENCLEN(AS_SHA512_LEN / 2) + 1];
        size_t n = as_key_alg(key) == AS_ALG_EDDSA ? AS_SHA512_LEN : AS_SHA256_LEN;
        if (n == AS_SHA512_LEN)
            as_sha512(c->access_token, strlen(c->access_token), digest);
        else
            as_sha256(c->access_token, strlen(c->access_token), digest);
        as_b64url_encode(digest, n / 2, half);
        json_object_set_new(payload, "at_hash", json_string(half));
    }
    return sign_compact(key, kid, "JWT", payload, out);
}
