/*
 * token/access — checking an RFC 9068 access token (interface and rules in access.h). Owns nothing
 * beyond the call: the claims it hands out belong to the caller's as_jwt_t.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "authsvc/as.h"
#include "authsvc/token/access.h"

static json_t *decode_object(const char *b64, size_t len)
{
    char *buf = as_malloc(AS_B64URL_DECLEN(len) + 1);
    ssize_t n = as_b64url_decode(b64, len, buf);
    json_t *obj = NULL;
    if (n >= 0) {
        /* JSON_REJECT_DUPLICATES: {"alg":"ES256","alg":"none"} must not mean two things to two parsers */
        obj = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
        if (obj != NULL && !json_is_object(obj)) {
            json_decref(obj);
            obj = NULL;
        }
    }
    free(buf);
    return obj;
}

static int access_typ_ok(const char *typ)
{
    /* RFC 9068 §4: "at+jwt", or the full media type "application/at+jwt"; media types are case-insensitive */
    return typ != NULL && (strcasecmp(typ, "at+jwt") == 0 || strcasecmp(typ, "application/at+jwt") == 0);
}

static int audience_ok(json_t *aud, const char *want)
{
    if (want == NULL)
        return 1;
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) return 1;
    }
    return 0;
}

static const char *string_claim(json_t *claims, const char *name)
{
    return json_string_value(json_object_get(claims, name));
}

static int int_claim(json_t *claims, const char *name, int64_t *out)
{
    json_t *v = json_object_get(claims, name);
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/**
 * The JWS part of every check: compact form, header (alg of a key we hold, no crit, typ accepted by `accept_typ`, kid),
 * signature. Returns 0 and the payload object in *payload (a new reference), or the first reason to refuse.
 */
static int verify_jws(const char *token, size_t len, as_jwt_key_lookup lookup, void *lookup_ctx, int (*accept_typ)(const char *),
                      json_t **payload)
{
    const char *dot1, *dot2, *alg_name, *kid;
    json_t *header = NULL;
    uint8_t *sig = NULL;
    ssize_t siglen;
    as_alg_t alg;
    const as_key_t *key;
    int err = AS_ERR_TOKEN_MALFORMED;

    *payload = NULL;
    if (len == 0 || len > AS_JWT_MAX_LEN || memchr(token, '\0', len) != NULL)
        goto Exit;
    if ((dot1 = memchr(token, '.', len)) == NULL || (dot2 = memchr(dot1 + 1, '.', token + len - (dot1 + 1))) == NULL ||
        memchr(dot2 + 1, '.', token + len - (dot2 + 1)) != NULL)
        goto Exit;
    if ((header = decode_object(token, dot1 - token)) == NULL)
        goto Exit;

    alg_name = json_string_value(json_object_get(header, "alg"));
    if (alg_name == NULL || as_alg_parse(alg_name, &alg) != 0) {
        err = AS_ERR_TOKEN_BAD_ALGORITHM;
        goto Exit;
    }
    if (json_object_get(header, "crit") != NULL) { /* we understand no extensions (RFC 7515 §4.1.11) */
        err = AS_ERR_TOKEN_MALFORMED;
        goto Exit;
    }
    if (!accept_typ(json_string_value(json_object_get(header, "typ")))) {
        err = AS_ERR_TOKEN_BAD_TYPE;
        goto Exit;
    }
    if ((kid = json_string_value(json_object_get(header, "kid"))) == NULL || (key = lookup(lookup_ctx, kid)) == NULL) {
        err = AS_ERR_TOKEN_UNKNOWN_KEY;
        goto Exit;
    }
    if (as_key_alg(key) != alg) {
        err = AS_ERR_TOKEN_BAD_ALGORITHM;
        goto Exit;
    }
    sig = as_malloc(AS_B64URL_DECLEN(token + len - (dot2 + 1)) + 1);
    if ((siglen = as_b64url_decode(dot2 + 1, token + len - (dot2 + 1), sig)) <= 0)
        goto Exit;
    if (as_jws_verify(key, token, dot2 - token, sig, siglen) != 0) {
        err = AS_ERR_TOKEN_BAD_SIGNATURE;
        goto Exit;
    }
    /* authenticated from here on */
    if ((*payload = decode_object(dot1 + 1, dot2 - (dot1 + 1))) == NULL)
        goto Exit;
    err = 0;
Exit:
    json_decref(header);
    free(sig);
    return err;
}

int as_jwt_verify_access(const char *token, size_t len, as_jwt_key_lookup lookup, void *lookup_ctx, const as_jwt_expect_t *expect,
                         as_jwt_t *out)
{
    int err;

    memset(out, 0, sizeof(*out));
    if ((err = verify_jws(token, len, lookup, lookup_ctx, access_typ_ok, &out->claims)) != 0)
        return err;
    err = AS_ERR_TOKEN_MISSING_CLAIM;
    if ((out->subject = string_claim(out->claims, "sub")) == NULL ||
        (out->client_id = string_claim(out->claims, "client_id")) == NULL ||
        (out->jti = string_claim(out->claims, "jti")) == NULL || int_claim(out->claims, "exp", &out->exp) != 0 ||
        int_claim(out->claims, "iat", &out->iat) != 0)
        return err;
    if (int_claim(out->claims, "nbf", &out->nbf) != 0)
        out->nbf = out->iat;
    if (json_object_get(out->claims, "ver") != NULL &&
        (int_claim(out->claims, "ver", &out->token_version) != 0 || out->token_version < 1))
        return err;
    out->scope = string_claim(out->claims, "scope");
    if (out->scope == NULL)
        out->scope = "";
    if (string_claim(out->claims, "iss") == NULL || strcmp(string_claim(out->claims, "iss"), expect->issuer) != 0)
        return AS_ERR_TOKEN_WRONG_ISSUER;
    if (!audience_ok(json_object_get(out->claims, "aud"), expect->audience))
        return AS_ERR_TOKEN_WRONG_AUDIENCE;
    if (expect->now >= out->exp + expect->leeway)
        return AS_ERR_TOKEN_EXPIRED;
    if (expect->now + expect->leeway < out->nbf)
        return AS_ERR_TOKEN_NOT_YET_VALID;
    return 0;
}

/** The typ of an id_token we sign: "JWT" (OpenID Connect Core §2 lets it be absent; ours never is). */
static int id_typ_ok(const char *typ)
{
    return typ != NULL && (strcasecmp(typ, "JWT") == 0 || strcasecmp(typ, "application/jwt") == 0);
}

int as_jwt_verify_id_hint(const char *token, size_t len, as_jwt_key_lookup lookup, void *lookup_ctx, const as_jwt_expect_t *expect,
                          int64_t max_age, as_id_hint_t *out)
{
    json_t *aud;
    int err;

    memset(out, 0, sizeof(*out));
    if ((err = verify_jws(token, len, lookup, lookup_ctx, id_typ_ok, &out->claims)) != 0)
        return err;
    /* the audience is the client the token was issued to: one string, or an array of exactly one */
    aud = json_object_get(out->claims, "aud");
    if (json_is_array(aud) && json_array_size(aud) == 1)
        aud = json_array_get(aud, 0);
    out->client_id = json_string_value(aud);
    out->subject = string_claim(out->claims, "sub");
    if (out->client_id == NULL || out->client_id[0] == '\0' || out->subject == NULL ||
        int_claim(out->claims, "exp", &out->exp) != 0 || int_claim(out->claims, "iat", &out->iat) != 0)
        return AS_ERR_TOKEN_MISSING_CLAIM;
    if (json_object_get(out->claims, "sid") != NULL && (out->sid = string_claim(out->claims, "sid")) == NULL)
        return AS_ERR_TOKEN_MISSING_CLAIM;
    /* an access token signed by us is no id_token, whatever its typ says */
    if (json_object_get(out->claims, "client_id") != NULL || json_object_get(out->claims, "scope") != NULL)
        return AS_ERR_TOKEN_BAD_TYPE;
    if (string_claim(out->claims, "iss") == NULL || strcmp(string_claim(out->claims, "iss"), expect->issuer) != 0)
        return AS_ERR_TOKEN_WRONG_ISSUER;
    if (expect->audience != NULL && strcmp(out->client_id, expect->audience) != 0)
        return AS_ERR_TOKEN_WRONG_AUDIENCE;
    /* exp is not checked: a user may sign out long after the id_token expired (RP-Initiated Logout §2) */
    if (out->iat > expect->now + expect->leeway)
        return AS_ERR_TOKEN_NOT_YET_VALID;
    if (max_age > 0 && expect->now - out->iat > max_age)
        return AS_ERR_TOKEN_EXPIRED;
    return 0;
}

void as_id_hint_clear(as_id_hint_t *hint)
{
    json_decref(hint->claims);
    memset(hint, 0, sizeof(*hint));
}

void as_jwt_clear(as_jwt_t *jwt)
{
    json_decref(jwt->claims);
    memset(jwt, 0, sizeof(*jwt));
}
