/*
 * token/jwt — RFC 9068 access tokens: header {alg, typ: at+jwt, kid}, the
 * claims, a random jti, signed with crypto/'s JWS (interface in jwt.h).
 */
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

int as_jwt_mint_access(const as_key_t *key, const char *kid, const as_access_claims_t *c, char **out, char jti[AS_JTI_LEN + 1])
{
    uint8_t rnd[16], sig[AS_SIG_MAX];
    size_t hlen, plen, siglen;
    char *header_b64 = NULL, *payload_b64 = NULL, *token = NULL;
    json_t *header, *payload, *aud;
    int ret = -1;

    as_random_bytes(rnd, sizeof(rnd));
    as_b64url_encode(rnd, sizeof(rnd), jti);

    header = json_pack("{s:s, s:s, s:s}", "alg", as_alg_name(as_key_alg(key)), "typ", "at+jwt", "kid", kid);
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
    if (header == NULL || payload == NULL)
        goto Exit;
    if (c->scope != NULL && c->scope[0] != '\0')
        json_object_set_new(payload, "scope", json_string(c->scope));
    if (c->token_version > 0)
        json_object_set_new(payload, "ver", json_integer(c->token_version));

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
