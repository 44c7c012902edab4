/*
 * Signing keys, their JWK form and RFC 7638 thumbprint, and JWS signatures.
 *
 * A key is immutable once made: its EVP_PKEY is only ever read after
 * construction (OpenSSL 3 allows concurrent operations on one EVP_PKEY, each
 * with its own EVP_MD_CTX), and its kid is computed once, here. Lifetime is an
 * atomic reference count. See README.md for the invariants of crypto/.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/crypto/thread.h"

#define P256_COORD_LEN 32
#define ES256_SIG_LEN 64 /* r || s, 32 bytes each */
#define ED25519_PUB_LEN 32
#define ED25519_SIG_LEN 64
#define RSA_GEN_BITS 2048
#define RSA_MIN_BITS 2048
/** Larger moduli would not fit AS_SIG_MAX, and cost a verifier more than we want a stranger's JWK to. */
#define RSA_MAX_BITS 4096
/** Public exponents wider than 64 bits are refused (OpenSSL refuses them too above 3072-bit moduli). */
#define RSA_E_MAX_LEN 8
/** An ECDSA P-256 signature in DER is at most 72 bytes. */
#define ECDSA_DER_MAX 80

_Static_assert(RSA_MAX_BITS / 8 <= AS_SIG_MAX, "an RS256 signature must fit AS_SIG_MAX");
_Static_assert(ED25519_PUB_LEN == P256_COORD_LEN, "pubjwk_t.x holds both");

struct st_as_key_t {
    atomic_uint refcnt;
    uint64_t id; /* unique in the process, never reused: names the key in the per-thread signing cache */
    as_alg_t alg;
    int is_private;
    EVP_PKEY *pkey;
    char kid[AS_KID_LEN + 1];
};

/** The public members of a key as they appear in its JWK (base64url, NUL-terminated). */
typedef struct st_pubjwk_t {
    const char *kty;
    const char *crv; /* NULL for RSA */
    char x[AS_B64URL_ENCLEN(P256_COORD_LEN) + 1];
    char y[AS_B64URL_ENCLEN(P256_COORD_LEN) + 1];
    char n[AS_B64URL_ENCLEN(RSA_MAX_BITS / 8) + 1];
    char e[AS_B64URL_ENCLEN(RSA_E_MAX_LEN) + 1];
} pubjwk_t;

_Noreturn static void fatal(const char *what)
{
    (void)fprintf(stderr, "authsvc: crypto: %s failed\n", what);
    abort();
}

static void *xmalloc(size_t sz)
{
    void *p = malloc(sz);
    if (p == NULL)
        fatal("malloc");
    return p;
}

/** The exit of every public call: a failure leaves no error on the thread's queue (README: TLS reads it). */
static int done(int ret)
{
    if (ret != 0)
        ERR_clear_error();
    return ret;
}

/** Never prompt on a terminal for a passphrase (OpenSSL's default): an encrypted PEM is simply refused. */
static int on_pem_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* --- key type checks and public members --------------------------------- */

/** 0 if `pkey` is of the type `alg` needs: P-256, Ed25519, or RSA between RSA_MIN_BITS and RSA_MAX_BITS. */
static int check_type(as_alg_t alg, EVP_PKEY *pkey)
{
    switch (alg) {
    case AS_ALG_ES256: {
        char group[64];
        if (!EVP_PKEY_is_a(pkey, "EC") ||
            EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
            return -1;
        return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 ? 0 : -1;
    }
    case AS_ALG_EDDSA:
        return EVP_PKEY_is_a(pkey, "ED25519") ? 0 : -1;
    case AS_ALG_RS256: {
        /* "RSA" only: an RSA-PSS key is a different type and would not make PKCS#1 v1.5 signatures */
        int bits;
        if (!EVP_PKEY_is_a(pkey, "RSA"))
            return -1;
        bits = EVP_PKEY_get_bits(pkey);
        return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS ? 0 : -1;
    }
    }
    return -1;
}

/**
 * Writes the BIGNUM parameter `name` as base64url into `out`: left-padded to exactly `fixed` bytes when `fixed` is not 0,
 * otherwise minimal big-endian of at most `max` bytes (RFC 7518 §6.3.1: no leading zero octets).
 */
static int bn_param_b64(EVP_PKEY *pkey, const char *name, size_t fixed, size_t max, char *out)
{
    uint8_t buf[RSA_MAX_BITS / 8];
    BIGNUM *bn = NULL;
    int len, ret = -1;

    if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
        goto Exit;
    if (fixed != 0) {
        if (fixed > sizeof(buf) || (len = BN_bn2binpad(bn, buf, (int)fixed)) < 0)
            goto Exit;
    } else {
        len = BN_num_bytes(bn);
        if (len == 0 || (size_t)len > max || (size_t)len > sizeof(buf))
            goto Exit;
        BN_bn2bin(bn, buf);
    }
    as_b64url_encode(buf, (size_t)len, out);
    ret = 0;
Exit:
    BN_free(bn);
    return ret;
}

static int get_pubjwk(as_alg_t alg, EVP_PKEY *pkey, pubjwk_t *m)
{
    memset(m, 0, sizeof(*m));
    switch (alg) {
    case AS_ALG_ES256:
        m->kty = "EC";
        m->crv = "P-256";
        /* coordinates are always 32 bytes (RFC 7518 §6.2.1.2), even when their top bytes are zero */
        if (bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, P256_COORD_LEN, 0, m->x) != 0 ||
            bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, P256_COORD_LEN, 0, m->y) != 0)
            return -1;
        return 0;
    case AS_ALG_EDDSA: {
        uint8_t raw[ED25519_PUB_LEN];
        size_t rawlen = sizeof(raw);
        m->kty = "OKP";
        m->crv = "Ed25519";
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1 || rawlen != sizeof(raw))
            return -1;
        as_b64url_encode(raw, rawlen, m->x);
        return 0;
    }
    case AS_ALG_RS256:
        m->kty = "RSA";
        if (bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, RSA_MAX_BITS / 8, m->n) != 0 ||
            bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, RSA_E_MAX_LEN, m->e) != 0)
            return -1;
        return 0;
    }
    return -1;
}

/** RFC 7638 §3: SHA-256 over the required members, in lexicographic order, without whitespace. */
static int compute_thumbprint(as_alg_t alg, EVP_PKEY *pkey, char out[AS_KID_LEN + 1])
{
    pubjwk_t m;
    char json[1024];
    uint8_t digest[AS_SHA256_LEN];
    int len = -1;

    if (get_pubjwk(alg, pkey, &m) != 0)
        return -1;
    /* every value is base64url or a fixed name, so nothing needs JSON escaping */
    switch (alg) {
    case AS_ALG_ES256:
        len = snprintf(json, sizeof(json), "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", m.crv, m.kty, m.x, m.y);
        break;
    case AS_ALG_EDDSA:
        len = snprintf(json, sizeof(json), "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\"}", m.crv, m.kty, m.x);
        break;
    case AS_ALG_RS256:
        len = snprintf(json, sizeof(json), "{\"e\":\"%s\",\"kty\":\"%s\",\"n\":\"%s\"}", m.e, m.kty, m.n);
        break;
    }
    if (len < 0 || (size_t)len >= sizeof(json))
        return -1;
    as_sha256(json, (size_t)len, digest);
    as_b64url_encode(digest, sizeof(digest), out);
    return 0;
}

/** Wraps `pkey` (taking ownership, also on failure) into a new key with one reference. */
static int make_key(as_alg_t alg, EVP_PKEY *pkey, int is_private, as_key_t **out)
{
    as_key_t *key;

    if (check_type(alg, pkey) != 0)
        goto Error;
    static atomic_uint_fast64_t next_id = 1;
    key = xmalloc(sizeof(*key));
    atomic_init(&key->refcnt, 1);
    key->id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    key->alg = alg;
    key->is_private = is_private;
    key->pkey = pkey;
    if (compute_thumbprint(alg, pkey, key->kid) != 0) {
        free(key);
        goto Error;
    }
    *out = key;
    return 0;

Error:
    EVP_PKEY_free(pkey);
    return -1;
}

/**
 * Checks `pkey` in full and makes a key of it; takes `pkey` over. A private key: the public part matches the
 * private one, RSA factors multiply to n (better to refuse a damaged key at startup than to publish a JWK nobody
 * can verify our tokens with). A public key: EC on the curve and of the right order; RSA odd e > 1, n odd and
 * not a prime.
 */
static int check_and_make(as_alg_t alg, EVP_PKEY *pkey, int is_private, as_key_t **out)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx != NULL && (is_private ? EVP_PKEY_check(ctx) : EVP_PKEY_public_check(ctx)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    return make_key(alg, pkey, is_private, out);
}

/* --- making keys ---------------------------------------------------------- */

int as_key_generate(as_alg_t alg, as_key_t **out)
{
    EVP_PKEY *pkey = NULL;

    switch (alg) {
    case AS_ALG_ES256:
        pkey = EVP_EC_gen("P-256");
        break;
    case AS_ALG_EDDSA:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case AS_ALG_RS256:
        pkey = EVP_RSA_gen(RSA_GEN_BITS);
        break;
    }
    if (pkey == NULL || make_key(alg, pkey, 1, out) != 0) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

int as_key_load_private_pem(as_alg_t alg, const char *pem, size_t len, as_key_t **out)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int ret = -1;

    if (pem == NULL || len == 0 || len > INT_MAX)
        goto Exit;
    if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
        fatal("BIO_new_mem_buf");
    if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, on_pem_password, NULL)) == NULL)
        goto Exit;
    if (check_type(alg, pkey) != 0)
        goto Exit;
    ret = check_and_make(alg, pkey, 1, out);
    pkey = NULL;

Exit:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return done(ret);
}

/** The string member `name`, or NULL (absent or not a string); *len excludes the NUL, and counts embedded NULs. */
static const char *jwk_str(json_t *jwk, const char *name, size_t *len)
{
    json_t *v = json_object_get(jwk, name);

    if (!json_is_string(v))
        return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

static int jwk_str_eq(json_t *jwk, const char *name, const char *expected)
{
    size_t len;
    const char *s = jwk_str(jwk, name, &len);

    return s != NULL && len == strlen(expected) && memcmp(s, expected, len) == 0 ? 0 : -1;
}

/**
 * Decodes the base64url member `name` into `buf` (AS_B64URL_DECLEN(AS_B64URL_ENCLEN(max)) bytes), requiring between
 * `min` and `max` bytes and, when `minimal`, no leading zero byte (RFC 7518 §6.3.1).
 */
static int jwk_bytes(json_t *jwk, const char *name, size_t min, size_t max, int minimal, uint8_t *buf, size_t *outlen)
{
    size_t len;
    const char *s = jwk_str(jwk, name, &len);
    ssize_t n;

    if (s == NULL || len > AS_B64URL_ENCLEN(max))
        return -1;
    if ((n = as_b64url_decode(s, len, buf)) < 0 || (size_t)n < min || (size_t)n > max)
        return -1;
    if (minimal && buf[0] == 0)
        return -1;
    *outlen = (size_t)n;
    return 0;
}

static EVP_PKEY *public_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL || (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *ec_public_from_jwk(json_t *jwk)
{
    uint8_t x[AS_B64URL_DECLEN(AS_B64URL_ENCLEN(P256_COORD_LEN))], y[sizeof(x)], pub[1 + 2 * P256_COORD_LEN];
    size_t xlen, ylen;
    OSSL_PARAM_BLD *bld;
    EVP_PKEY *pkey = NULL;

    if (jwk_str_eq(jwk, "kty", "EC") != 0 || jwk_str_eq(jwk, "crv", "P-256") != 0 ||
        jwk_bytes(jwk, "x", P256_COORD_LEN, P256_COORD_LEN, 0, x, &xlen) != 0 ||
        jwk_bytes(jwk, "y", P256_COORD_LEN, P256_COORD_LEN, 0, y, &ylen) != 0)
        return NULL;
    pub[0] = POINT_CONVERSION_UNCOMPRESSED;
    memcpy(pub + 1, x, P256_COORD_LEN);
    memcpy(pub + 1 + P256_COORD_LEN, y, P256_COORD_LEN);
    if ((bld = OSSL_PARAM_BLD_new()) == NULL)
        fatal("OSSL_PARAM_BLD_new");
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) == 1)
        pkey = public_from_params("EC", bld); /* refuses a point that is not on the curve */
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static EVP_PKEY *ed25519_public_from_jwk(json_t *jwk)
{
    uint8_t x[AS_B64URL_DECLEN(AS_B64URL_ENCLEN(ED25519_PUB_LEN))];
    size_t xlen;

    if (jwk_str_eq(jwk, "kty", "OKP") != 0 || jwk_str_eq(jwk, "crv", "Ed25519") != 0 ||
        jwk_bytes(jwk, "x", ED25519_PUB_LEN, ED25519_PUB_LEN, 0, x, &xlen) != 0)
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
}

static EVP_PKEY *rsa_public_from_jwk(json_t *jwk)
{
    uint8_t n[AS_B64URL_DECLEN(AS_B64URL_ENCLEN(RSA_MAX_BITS / 8))], e[AS_B64URL_DECLEN(AS_B64URL_ENCLEN(RSA_E_MAX_LEN))];
    size_t nlen, elen;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;

    if (jwk_str_eq(jwk, "kty", "RSA") != 0 || jwk_bytes(jwk, "n", RSA_MIN_BITS / 8, RSA_MAX_BITS / 8, 1, n, &nlen) != 0 ||
        jwk_bytes(jwk, "e", 1, RSA_E_MAX_LEN, 1, e, &elen) != 0)
        return NULL;
    if ((bn_n = BN_bin2bn(n, (int)nlen, NULL)) == NULL || (bn_e = BN_bin2bn(e, (int)elen, NULL)) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL)
        fatal("BN_bin2bn / OSSL_PARAM_BLD_new");
    if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
        pkey = public_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

int as_key_from_public_jwk(as_alg_t alg, json_t *jwk, as_key_t **out)
{
    /* RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2, and "k" of a symmetric key: a public JWK carries none of them */
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    EVP_PKEY *pkey = NULL;
    int ret = -1;

    if (!json_is_object(jwk))
        goto Exit;
    for (size_t i = 0; i != sizeof(private_members) / sizeof(private_members[0]); ++i)
        if (json_object_get(jwk, private_members[i]) != NULL)
            goto Exit;
    /* optional members, but when present they must agree with the use we are about to make of the key */
    if (json_object_get(jwk, "alg") != NULL && jwk_str_eq(jwk, "alg", as_alg_name(alg)) != 0)
        goto Exit;
    if (json_object_get(jwk, "use") != NULL && jwk_str_eq(jwk, "use", "sig") != 0)
        goto Exit;

    switch (alg) {
    case AS_ALG_ES256:
        pkey = ec_public_from_jwk(jwk);
        break;
    case AS_ALG_EDDSA:
        pkey = ed25519_public_from_jwk(jwk);
        break;
    case AS_ALG_RS256:
        pkey = rsa_public_from_jwk(jwk);
        break;
    }
    if (pkey != NULL)
        ret = check_and_make(alg, pkey, 0, out);
Exit:
    return done(ret);
}

/* --- using keys ----------------------------------------------------------- */

int as_key_private_pem(const as_key_t *key, char **pem, size_t *len)
{
    BIO *bio = NULL;
    char *data;
    long datalen;
    int ret = -1;

    if (!key->is_private)
        goto Exit;
    /* a memory BIO grows and frees its buffer with OPENSSL_clear_free, so no copy of the key is left behind in it */
    if ((bio = BIO_new(BIO_s_mem())) == NULL)
        fatal("BIO_new");
    if (PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) /* PKCS#8 "PRIVATE KEY" */
        goto Exit;
    if ((datalen = BIO_get_mem_data(bio, &data)) <= 0)
        goto Exit;
    *pem = xmalloc((size_t)datalen + 1);
    memcpy(*pem, data, (size_t)datalen);
    (*pem)[datalen] = '\0';
    *len = (size_t)datalen;
    ret = 0;

Exit:
    BIO_free(bio);
    return done(ret);
}

as_alg_t as_key_alg(const as_key_t *key)
{
    return key->alg;
}

int as_key_is_private(const as_key_t *key)
{
    return key->is_private;
}

static void jwk_set(json_t *obj, const char *name, const char *value)
{
    if (json_object_set_new(obj, name, json_string(value)) != 0)
        fatal("json_object_set_new");
}

json_t *as_key_public_jwk(const as_key_t *key)
{
    pubjwk_t m;
    json_t *jwk;

    if (get_pubjwk(key->alg, key->pkey, &m) != 0) {
        ERR_clear_error();
        return NULL;
    }
    if ((jwk = json_object()) == NULL)
        fatal("json_object");
    jwk_set(jwk, "kty", m.kty);
    switch (key->alg) {
    case AS_ALG_ES256:
        jwk_set(jwk, "crv", m.crv);
        jwk_set(jwk, "x", m.x);
        jwk_set(jwk, "y", m.y);
        break;
    case AS_ALG_EDDSA:
        jwk_set(jwk, "crv", m.crv);
        jwk_set(jwk, "x", m.x);
        break;
    case AS_ALG_RS256:
        jwk_set(jwk, "n", m.n);
        jwk_set(jwk, "e", m.e);
        break;
    }
    jwk_set(jwk, "kid", key->kid);
    jwk_set(jwk, "alg", as_alg_name(key->alg));
    jwk_set(jwk, "use", "sig");
    return jwk;
}

int as_key_thumbprint(const as_key_t *key, char out[AS_KID_LEN + 1])
{
    memcpy(out, key->kid, sizeof(key->kid));
    return 0;
}

/*
 * Signing contexts, cached per thread. EVP_DigestSignInit looks the algorithms and their properties up again on
 * every call (hash tables and read-write locks shared by every thread), which costs as much as a fifth of an
 * ECDSA signature. So each thread initialises a context once per key and keeps it:
 *
 * - ES256: an EVP_PKEY_CTX made ready with EVP_PKEY_sign_init, which signs any number of SHA-256 digests (the
 *   digest comes from as_sha256, on a context of its own). This is what `openssl speed ecdsap256` measures;
 *   nothing is copied or looked up per signature.
 * - EdDSA, RS256: an EVP_MD_CTX after EVP_DigestSignInit, copied for each signature (one-shot EVP_DigestSign
 *   cannot be called twice on one context).
 *
 * A few entries are enough: a thread signs with one key at a time, two around a rotation. An entry holds its own
 * reference to the key's EVP_PKEY, so a key freed meanwhile is only found by its id, which is never reused.
 */
#define SIGN_CACHE_SIZE 4

typedef struct st_sign_entry_t {
    uint64_t key_id;
    EVP_PKEY_CTX *pkey_ctx; /* ES256 */
    EVP_MD_CTX *md_ctx;     /* EdDSA, RS256 */
} sign_entry_t;

typedef struct st_as_crypto_sign_cache_t {
    sign_entry_t entries[SIGN_CACHE_SIZE];
    unsigned next;    /* the entry replaced on a miss */
    EVP_MD_CTX *work; /* the copy an EdDSA or RS256 signature is made with */
} sign_cache_t;

static void sign_entry_clear(sign_entry_t *e)
{
    EVP_PKEY_CTX_free(e->pkey_ctx);
    EVP_MD_CTX_free(e->md_ctx);
    *e = (sign_entry_t){0};
}

void as_crypto__sign_cache_free(sign_cache_t *c)
{
    for (size_t i = 0; i != SIGN_CACHE_SIZE; ++i)
        sign_entry_clear(c->entries + i);
    EVP_MD_CTX_free(c->work);
    free(c);
}

/** This thread's signing cache (kept with its other contexts, crypto/thread.h). */
static sign_cache_t *sign_cache(void)
{
    as_crypto_thread_t *t = as_crypto__thread();

    if (t->sign == NULL) {
        sign_cache_t *c = xmalloc(sizeof(*c));
        memset(c, 0, sizeof(*c));
        if ((c->work = EVP_MD_CTX_new()) == NULL)
            fatal("EVP_MD_CTX_new");
        t->sign = c;
    }
    return t->sign;
}

/** Makes `e` ready to sign with `key`; 0 or -1 (the entry is then left empty). */
static int sign_entry_init(sign_entry_t *e, const as_key_t *key)
{
    if (key->alg == AS_ALG_ES256) {
        if ((e->pkey_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL || EVP_PKEY_sign_init(e->pkey_ctx) != 1)
            goto Fail;
    } else {
        if ((e->md_ctx = EVP_MD_CTX_new()) == NULL)
            fatal("EVP_MD_CTX_new");
        /* Ed25519 hashes the message itself (PureEdDSA): no digest */
        if (EVP_DigestSignInit(e->md_ctx, NULL, key->alg == AS_ALG_EDDSA ? NULL : EVP_sha256(), NULL, key->pkey) != 1)
            goto Fail;
    }
    e->key_id = key->id;
    return 0;
Fail:
    sign_entry_clear(e);
    return -1;
}

/** This thread's signing entry for `key`, initialised on first use, or NULL. */
static sign_entry_t *sign_entry(sign_cache_t *c, const as_key_t *key)
{
    for (size_t i = 0; i != SIGN_CACHE_SIZE; ++i)
        if ((c->entries[i].pkey_ctx != NULL || c->entries[i].md_ctx != NULL) && c->entries[i].key_id == key->id)
            return c->entries + i;
    sign_entry_t *e = c->entries + c->next++ % SIGN_CACHE_SIZE;
    sign_entry_clear(e);
    return sign_entry_init(e, key) == 0 ? e : NULL;
}

/**
 * The DER ECDSA-Sig-Value { r INTEGER, s INTEGER } that OpenSSL makes, to the JWS form r || s with each left-padded
 * to 32 bytes (RFC 7518 §3.4). P-256 DER is at most 72 bytes, so every length is in short form; an INTEGER is
 * positive, with at most one leading zero octet.
 */
static int es256_der_to_raw(const uint8_t *der, size_t len, uint8_t sig[ES256_SIG_LEN])
{
    const uint8_t *p = der, *end = der + len;

    if (len < 2 || p[0] != 0x30 || p[1] != len - 2)
        return -1;
    p += 2;
    for (size_t i = 0; i != 2; ++i) {
        size_t n;
        if (end - p < 2 || p[0] != 0x02 || (n = p[1]) == 0 || n > (size_t)(end - p - 2))
            return -1;
        p += 2;
        if (p[0] == 0 && n > 1) { /* the sign octet of a value whose top bit is set */
            ++p;
            --n;
        }
        if (n > P256_COORD_LEN)
            return -1;
        uint8_t *coord = sig + i * P256_COORD_LEN;
        memset(coord, 0, P256_COORD_LEN - n);
        memcpy(coord + P256_COORD_LEN - n, p, n);
        p += n;
    }
    return p == end ? 0 : -1;
}

int as_jws_sign(const as_key_t *key, const void *input, size_t len, uint8_t *sig, size_t *siglen)
{
    sign_cache_t *c;
    sign_entry_t *e;
    int ret = -1;

    if (!key->is_private)
        goto Exit;
    c = sign_cache();
    if ((e = sign_entry(c, key)) == NULL)
        goto Exit;

    switch (key->alg) {
    case AS_ALG_ES256: {
        uint8_t digest[AS_SHA256_LEN], der[ECDSA_DER_MAX];
        size_t derlen = sizeof(der);
        as_sha256(input, len, digest);
        if (EVP_PKEY_sign(e->pkey_ctx, der, &derlen, digest, sizeof(digest)) != 1 || es256_der_to_raw(der, derlen, sig) != 0)
            goto Exit;
        *siglen = ES256_SIG_LEN;
        break;
    }
    case AS_ALG_EDDSA:
    case AS_ALG_RS256: {
        size_t outlen = AS_SIG_MAX;
        if (EVP_PKEY_get_size(key->pkey) > AS_SIG_MAX || EVP_MD_CTX_copy_ex(c->work, e->md_ctx) != 1 ||
            EVP_DigestSign(c->work, sig, &outlen, input, len) != 1)
            goto Exit;
        *siglen = outlen;
        break;
    }
    default:
        goto Exit;
    }
    ret = 0;

Exit:
    return done(ret);
}

/** r || s (exactly 64 bytes) -> DER, which is what OpenSSL verifies. */
static int es256_raw_to_der(const uint8_t *sig, uint8_t *der, size_t *derlen)
{
    ECDSA_SIG *ecsig;
    BIGNUM *r, *s;
    uint8_t *p = der;
    int len, ret = -1;

    if ((ecsig = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(sig, P256_COORD_LEN, NULL)) == NULL ||
        (s = BN_bin2bn(sig + P256_COORD_LEN, P256_COORD_LEN, NULL)) == NULL)
        fatal("ECDSA_SIG_new / BN_bin2bn");
    if (ECDSA_SIG_set0(ecsig, r, s) != 1)
        fatal("ECDSA_SIG_set0");
    if ((len = i2d_ECDSA_SIG(ecsig, NULL)) <= 0 || (size_t)len > *derlen || i2d_ECDSA_SIG(ecsig, &p) != len)
        goto Exit;
    *derlen = (size_t)len;
    ret = 0;
Exit:
    ECDSA_SIG_free(ecsig);
    return ret;
}

int as_jws_verify(const as_key_t *key, const void *input, size_t len, const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *mdctx = NULL;
    uint8_t der[ECDSA_DER_MAX];
    size_t derlen = sizeof(der);
    const uint8_t *vsig = sig;
    size_t vsiglen = siglen;
    int ret = -1;

    if (sig == NULL)
        goto Exit;
    /* the length is fixed by the key: anything else (a DER ECDSA signature, a truncated one) is refused outright */
    switch (key->alg) {
    case AS_ALG_ES256:
        if (siglen != ES256_SIG_LEN || es256_raw_to_der(sig, der, &derlen) != 0)
            goto Exit;
        vsig = der;
        vsiglen = derlen;
        break;
    case AS_ALG_EDDSA:
        if (siglen != ED25519_SIG_LEN)
            goto Exit;
        break;
    case AS_ALG_RS256:
        if (siglen != (size_t)EVP_PKEY_get_size(key->pkey))
            goto Exit;
        break;
    default:
        goto Exit;
    }
    if ((mdctx = EVP_MD_CTX_new()) == NULL)
        fatal("EVP_MD_CTX_new");
    if (EVP_DigestVerifyInit(mdctx, NULL, key->alg == AS_ALG_EDDSA ? NULL : EVP_sha256(), NULL, key->pkey) != 1)
        goto Exit;
    if (EVP_DigestVerify(mdctx, vsig, vsiglen, input, len) != 1)
        goto Exit;
    ret = 0;

Exit:
    EVP_MD_CTX_free(mdctx);
    return done(ret);
}

as_key_t *as_key_retain(as_key_t *key)
{
    atomic_fetch_add_explicit(&key->refcnt, 1, memory_order_relaxed);
    return key;
}

void as_key_release(as_key_t *key)
{
    if (key == NULL)
        return;
    /* acq_rel: every thread's use of the key happens before the free done by the thread that drops the last reference */
    if (atomic_fetch_sub_explicit(&key->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material when it frees it */
    free(key);
}
