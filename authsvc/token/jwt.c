/*
 * token/jwt — RFC 9068 access tokens and OpenID Connect id_tokens: the header
 * and the claims are written as JSON straight into one buffer (base/jsonw, no
 * JSON tree), base64url-encoded in place, signed with crypto/'s JWS
 * (interface in jwt.h). The claims and the token are allocated from the caller's pool (the request path) or
 * the heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/base/jsonw.h"
#include "authsvc/token/jwt.h"

void as_jwt_new_jti(char jti[AS_JTI_LEN + 1])
{
    uint8_t rnd[16];
    as_random_bytes(rnd, sizeof(rnd));
    as_b64url_encode_public(rnd, sizeof(rnd), jti); /* public: it is printed in the token it names */
}

/** An upper bound of a string's length once written as a JSON string. */
static size_t json_len(const char *s)
{
    return s != NULL ? strlen(s) * AS_JSONW_ESCAPE_MAX + 2 : 0;
}

/** Where a token is written: the caller's pool (the request path) or the heap. */
typedef struct st_out_t {
    h2o_mem_pool_t *pool; /* NULL: malloc */
    char *buf;
    size_t cap;
} out_t;

static void *out_mem(const out_t *o, size_t sz)
{
    return o->pool != NULL ? h2o_mem_alloc_pool(o->pool, sz) : as_malloc(sz);
}

static void out_free(const out_t *o, void *p)
{
    if (o->pool == NULL)
        free(p);
}

static void out_alloc(out_t *o, size_t cap)
{
    o->cap = cap;
    o->buf = out_mem(o, cap);
}

/** Writes base64url({"alg","typ","kid"}) to `out` (AS_B64URL_ENCLEN(HEADER_MAX) + 1 bytes); its length, or 0. */
#define HEADER_MAX 256
static size_t encode_header(as_alg_t alg, const char *typ, const char *kid, char *out)
{
    char header[HEADER_MAX];
    as_jsonw_t h;

    as_jsonw_init(&h, header, sizeof(header));
    as_jsonw_raw(&h, "{", 1);
    as_jsonw_member_str(&h, "alg", as_alg_name(alg));
    as_jsonw_member_str(&h, "typ", typ);
    as_jsonw_member_str(&h, "kid", kid);
    as_jsonw_raw(&h, "}", 1);
    return h.failed ? 0 : as_b64url_encode_public(header, h.len, out);
}

/*
 * The encoded header of the last token of each type this thread signed: the same key signs every token until the
 * next rotation, so the header is written and encoded once per key rather than once per token. An entry is found
 * by what the header holds (algorithm, type, kid), never by a pointer, so a key freed and another allocated at its
 * address cannot find the old header.
 */
#define HEADER_KID_MAX 64
typedef struct st_header_entry_t {
    as_alg_t alg;
    const char *typ; /* one of the literals below: compared by address */
    size_t len;      /* 0: empty */
    char kid[HEADER_KID_MAX + 1];
    char enc[AS_B64URL_ENCLEN(HEADER_MAX) + 1];
} header_entry_t;
static const char TYP_ACCESS[] = "at+jwt", TYP_ID[] = "JWT";
static _Thread_local header_entry_t header_cache[2]; /* [0]: access tokens, [1]: id_tokens */

/** The encoded header for `key`, `kid` and `typ` (TYP_ACCESS or TYP_ID), from this thread's cache or written now into
 * `scratch`; sets *len (0: the header cannot be written). */
static const char *header_of(const as_key_t *key, const char *kid, const char *typ, char *scratch, size_t *len)
{
    header_entry_t *e = header_cache + (typ == TYP_ID);
    as_alg_t alg = as_key_alg(key);
    size_t kidlen = strlen(kid);

    if (e->len != 0 && e->alg == alg && e->typ == typ && strcmp(e->kid, kid) == 0) {
        *len = e->len;
        return e->enc;
    }
    if (kidlen > HEADER_KID_MAX) { /* not one of ours (a thumbprint is 43 characters): not kept */
        *len = encode_header(alg, typ, kid, scratch);
        return scratch;
    }
    e->len = 0;
    if ((*len = encode_header(alg, typ, kid, e->enc)) != 0) {
        e->alg = alg;
        e->typ = typ;
        memcpy(e->kid, kid, kidlen + 1);
        e->len = *len;
    }
    return e->enc;
}

/**
 * The header and the claims (`claims`, `clen` bytes of JSON) become header.payload.signature in `o`'s buffer,
 * which must hold json_max + the header and the encodings (see token_cap). Returns the token's length, or 0.
 */
static size_t sign_compact(out_t *o, const as_key_t *key, const char *kid, const char *typ, const char *claims, size_t clen)
{
    char scratch[AS_B64URL_ENCLEN(HEADER_MAX) + 1];
    const char *header;
    uint8_t sig[AS_SIG_MAX];
    size_t siglen, n;

    if ((header = header_of(key, kid, typ, scratch, &n)) == NULL || n == 0)
        return 0;
    memcpy(o->buf, header, n);
    o->buf[n++] = '.';
    n += as_b64url_encode_public(claims, clen, o->buf + n);
    if (as_jws_sign(key, o->buf, n, sig, &siglen) != 0)
        return 0;
    o->buf[n++] = '.';
    n += as_b64url_encode_public(sig, siglen, o->buf + n);
    return n;
}

/** What a token whose claims take at most `json_max` bytes needs: header, payload and signature encoded, NUL. */
static size_t token_cap(size_t json_max)
{
    return AS_B64URL_ENCLEN(HEADER_MAX) + 1 + AS_B64URL_ENCLEN(json_max) + 1 + AS_B64URL_ENCLEN(AS_SIG_MAX) + 1;
}

/** Writes the claims of an access token into a buffer sized for them (`o`'s pool, or the heap); returns it and its
 * length, or NULL. */
static char *access_claims(const out_t *o, const as_access_claims_t *c, const char *jti, size_t *len)
{
    size_t max = 256 + json_len(c->issuer) + json_len(c->subject) + json_len(c->client_id) + json_len(c->scope) + AS_JTI_LEN;
    for (size_t i = 0; i != c->num_audiences; ++i)
        max += json_len(c->audiences[i]) + 1;
    char *buf = out_mem(o, max);
    as_jsonw_t w;

    as_jsonw_init(&w, buf, max);
    as_jsonw_raw(&w, "{", 1);
    as_jsonw_member_str(&w, "iss", c->issuer);
    as_jsonw_member_str(&w, "sub", c->subject);
    as_jsonw_raw(&w, ",\"aud\":", 7);
    if (c->num_audiences == 1) {
        as_jsonw_string(&w, c->audiences[0], strlen(c->audiences[0]));
    } else {
        as_jsonw_raw(&w, "[", 1);
        for (size_t i = 0; i != c->num_audiences; ++i) {
            if (i != 0)
                as_jsonw_raw(&w, ",", 1);
            as_jsonw_string(&w, c->audiences[i], strlen(c->audiences[i]));
        }
        as_jsonw_raw(&w, "]", 1);
    }
    as_jsonw_member_int(&w, "exp", c->issued_at + c->lifetime);
    as_jsonw_member_int(&w, "iat", c->issued_at);
    as_jsonw_member_int(&w, "nbf", c->issued_at);
    as_jsonw_member_str(&w, "jti", jti);
    as_jsonw_member_str(&w, "client_id", c->client_id);
    if (c->scope != NULL && c->scope[0] != '\0') {
        as_jsonw_member_str(&w, "scope", c->scope);
    }
    if (c->token_version > 0) {
        as_jsonw_member_int(&w, "ver", c->token_version);
    }
    as_jsonw_raw(&w, "}", 1);
    if (w.failed) {
        out_free(o, buf);
        return NULL;
    }
    *len = w.len;
    return buf;
}

static int mint_access(out_t *o, const as_key_t *key, const char *kid, const as_access_claims_t *c, size_t *len,
                       char jti[AS_JTI_LEN + 1])
{
    size_t clen, n = 0;
    char *claims;

    if (c->jti != NULL)
        snprintf(jti, AS_JTI_LEN + 1, "%s", c->jti);
    else
        as_jwt_new_jti(jti);
    if ((claims = access_claims(o, c, jti, &clen)) == NULL)
        return AS_ERR_INTERNAL;
    out_alloc(o, token_cap(clen));
    n = sign_compact(o, key, kid, TYP_ACCESS, claims, clen);
    out_free(o, claims);
    if (n == 0) {
        out_free(o, o->buf);
        return AS_ERR_INTERNAL;
    }
    o->buf[n] = '\0';
    *len = n;
    return 0;
}

int as_jwt_mint_access(const as_key_t *key, const char *kid, const as_access_claims_t *claims, char **out,
                       char jti[AS_JTI_LEN + 1])
{
    out_t o = {.pool = NULL};
    size_t len;
    if (mint_access(&o, key, kid, claims, &len, jti) != 0)
        return AS_ERR_INTERNAL;
    *out = o.buf;
    return 0;
}

int as_jwt_mint_access_pool(h2o_mem_pool_t *pool, const as_key_t *key, const char *kid, const as_access_claims_t *claims,
                            h2o_iovec_t *out, char jti[AS_JTI_LEN + 1])
{
    out_t o = {.pool = pool};
    size_t len;
    if (mint_access(&o, key, kid, claims, &len, jti) != 0)
        return AS_ERR_INTERNAL;
    *out = h2o_iovec_init(o.buf, len);
    return 0;
}

int as_jwt_mint_id(const as_key_t *key, const char *kid, const as_id_claims_t *c, char **out)
{
    size_t max = 256 + json_len(c->issuer) + json_len(c->subject) + json_len(c->audience) + json_len(c->nonce) + json_len(c->sid) +
                 AS_B64URL_ENCLEN(AS_SHA512_LEN);
    char *claims = as_malloc(max);
    as_jsonw_t w;
    out_t o = {.pool = NULL};
    size_t n = 0;

    as_jsonw_init(&w, claims, max);
    as_jsonw_raw(&w, "{", 1);
    as_jsonw_member_str(&w, "iss", c->issuer);
    as_jsonw_member_str(&w, "sub", c->subject);
    as_jsonw_member_str(&w, "aud", c->audience);
    as_jsonw_member_int(&w, "exp", c->issued_at + c->lifetime);
    as_jsonw_member_int(&w, "iat", c->issued_at);
    as_jsonw_member_int(&w, "auth_time", c->auth_time);
    if (c->nonce != NULL) {
        as_jsonw_member_str(&w, "nonce", c->nonce);
    }
    if (c->sid != NULL) {
        as_jsonw_member_str(&w, "sid", c->sid);
    }
    if (c->access_token != NULL) {
        /* OIDC Core §3.1.3.6: the left half of the hash the signing algorithm uses (SHA-512 for Ed25519) */
        uint8_t digest[AS_SHA512_LEN];
        char half[AS_B64URL_ENCLEN(AS_SHA512_LEN / 2) + 1];
        size_t hlen = as_key_alg(key) == AS_ALG_EDDSA ? AS_SHA512_LEN : AS_SHA256_LEN;
        if (hlen == AS_SHA512_LEN)
            as_sha512(c->access_token, strlen(c->access_token), digest);
        else
            as_sha256(c->access_token, strlen(c->access_token), digest);
        as_b64url_encode(digest, hlen / 2, half);
        as_jsonw_member_str(&w, "at_hash", half);
    }
    as_jsonw_raw(&w, "}", 1);
    if (!w.failed) {
        out_alloc(&o, token_cap(w.len));
        if ((n = sign_compact(&o, key, kid, TYP_ID, claims, w.len)) == 0)
            free(o.buf);
    }
    free(claims);
    if (n == 0)
        return AS_ERR_INTERNAL;
    o.buf[n] = '\0';
    *out = o.buf;
    return 0;
}
