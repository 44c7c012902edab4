/*
 * Primitives: randomness, constant-time comparison, wiping, SHA-256, HMAC,
 * and the JWS algorithm names. See README.md for the invariants of crypto/.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/crypto/thread.h"

_Noreturn static void fatal(const char *what)
{
    (void)fprintf(stderr, "authsvc: crypto: %s failed\n", what);
    abort();
}

int as_memeq(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0 ? 0 : -1;
}

void as_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

/* as_random_bytes' buffer, below */
#define RAND_BUF_LEN 1024
#define RAND_BUFFERED_MAX 64

struct st_as_crypto_rand_buf_t {
    size_t avail; /* the unused bytes are the last `avail` of `bytes` */
    uint8_t bytes[RAND_BUF_LEN];
};

static struct st_as_crypto_rand_buf_t *rand_buf_new(void);

/*
 * SHA-256 and HMAC-SHA-256 on contexts kept per thread. EVP_Digest with EVP_sha256() fetches the algorithm again
 * (a hash-table lookup under a shared lock) and allocates two contexts on every call, and HMAC() fetches the MAC
 * and the digest and builds three; SHA-256 runs on every token request (the client secret, the JWS signing
 * input), HMAC on every rotation and sign-in form. Here both algorithms are fetched once for the process, and each
 * thread re-initialises its own two contexts. The MAC context keeps the pads of the last key it was given until
 * the next call or the thread's end; that key stays in memory for the process's life anyway (the refresh key and
 * the keys derived from it). The same holder keeps jws.c's signing contexts (thread.h).
 */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t thread_ctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_ctx_key;

static void thread_ctx_free(void *p)
{
    as_crypto_thread_t *t = p;
    if (t->sign != NULL)
        as_crypto__sign_cache_free(t->sign);
    EVP_MD_CTX_free(t->sha256);
    EVP_MAC_CTX_free(t->hmac);
    if (t->rand != NULL) {
        OPENSSL_cleanse(t->rand, sizeof(*t->rand));
        munmap(t->rand, 4096);
    }
    if (t->argon2_mem != NULL)
        munmap(t->argon2_mem, t->argon2_len); /* libargon2 wiped it after each hash */
    free(t);
}

static void thread_ctx_init(void)
{
    if ((sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL || (hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
        fatal("EVP_MD_fetch(SHA256) / EVP_MAC_fetch(HMAC)");
    if (pthread_key_create(&thread_ctx_key, thread_ctx_free) != 0)
        fatal("pthread_key_create");
}

as_crypto_thread_t *as_crypto__thread(void)
{
    as_crypto_thread_t *t;

    pthread_once(&thread_ctx_once, thread_ctx_init);
    if ((t = pthread_getspecific(thread_ctx_key)) == NULL) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
        if ((t = calloc(1, sizeof(*t))) == NULL || (t->sha256 = EVP_MD_CTX_new()) == NULL ||
            (t->hmac = EVP_MAC_CTX_new(hmac_mac)) == NULL || EVP_MAC_CTX_set_params(t->hmac, params) != 1 ||
            pthread_setspecific(thread_ctx_key, t) != 0)
            fatal("thread contexts");
        t->rand = rand_buf_new();
    }
    return t;
}

/*
 * Randomness: this thread's public DRBG, through a small buffer. RAND_bytes finds the DRBG again on every call
 * through the default library context and takes a process-wide write lock on the way (RAND_get_rand_method, for
 * engines we never use), and every generate call reads the DRBG's parameters and checks for a fork: about 3 µs
 * for 16 bytes, and every request draws twice (its request id, its token's jti). So each thread keeps the DRBG's
 * address (OpenSSL keeps that DRBG as long as the thread lives; it reseeds from the primary DRBG as OpenSSL
 * decides) and draws RAND_BUF_LEN bytes at a time; requests up to RAND_BUFFERED_MAX bytes are served from them,
 * and each byte handed out is wiped from the buffer at once. The buffer is a page of its own marked
 * MADV_WIPEONFORK, its count included: a forked child finds it empty and draws afresh (OpenSSL's DRBG reseeds
 * after a fork), so parent and child never hand out the same bytes. Without MADV_WIPEONFORK (Linux < 4.14) there
 * is no buffer.
 */
static _Thread_local EVP_RAND_CTX *thread_drbg;

static void drbg_bytes(uint8_t *p, size_t len)
{
    if (thread_drbg == NULL && (thread_drbg = RAND_get0_public(NULL)) == NULL)
        fatal("RAND_get0_public");
    while (len != 0) {
        /* a DRBG answers at most its max_request bytes (65536 for OpenSSL's) at a time */
        size_t chunk = len > 4096 ? 4096 : len;
        if (EVP_RAND_generate(thread_drbg, p, chunk, 0, 0, NULL, 0) != 1)
            fatal("RAND_bytes");
        p += chunk;
        len -= chunk;
    }
}

static struct st_as_crypto_rand_buf_t *rand_buf_new(void)
{
    _Static_assert(sizeof(struct st_as_crypto_rand_buf_t) <= 4096, "one page");
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        fatal("mmap");
    if (madvise(page, 4096, MADV_WIPEONFORK) != 0) {
        munmap(page, 4096);
        return NULL;
    }
    return page; /* zero-filled: avail = 0 */
}

void as_random_bytes(void *buf, size_t len)
{
    struct st_as_crypto_rand_buf_t *r = as_crypto__thread()->rand;

    if (r == NULL || len > RAND_BUFFERED_MAX) {
        drbg_bytes(buf, len);
        return;
    }
    if (r->avail < len) {
        drbg_bytes(r->bytes, RAND_BUF_LEN);
        r->avail = RAND_BUF_LEN;
    }
    uint8_t *src = r->bytes + RAND_BUF_LEN - r->avail;
    memcpy(buf, src, len);
    OPENSSL_cleanse(src, len);
    r->avail -= len;
}

void as_sha256(const void *data, size_t len, uint8_t out[AS_SHA256_LEN])
{
    EVP_MD_CTX *ctx = as_crypto__thread()->sha256;
    unsigned outlen = 0;

    /* fails only when OpenSSL cannot allocate or its default provider is missing */
    if (EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &outlen) != 1 || outlen != AS_SHA256_LEN)
        fatal("EVP_Digest(SHA-256)");
}

void as_sha512(const void *data, size_t len, uint8_t out[AS_SHA512_LEN])
{
    unsigned outlen = 0;
    if (EVP_Digest(data, len, out, &outlen, EVP_sha512(), NULL) != 1 || outlen != AS_SHA512_LEN)
        fatal("EVP_Digest(SHA-512)");
}

void as_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[AS_HMAC_SHA256_LEN])
{
    static const uint8_t empty = 0;
    EVP_MAC_CTX *ctx = as_crypto__thread()->hmac;
    size_t outlen = 0;

    /* to EVP_MAC_init a NULL key means "the previous key again", not "the empty key" */
    if (keylen == 0)
        key = &empty;
    /* a key longer than the block size is hashed first (RFC 2104 §2): OpenSSL does it */
    if (EVP_MAC_init(ctx, key, keylen, NULL) != 1 || EVP_MAC_update(ctx, data, len) != 1 ||
        EVP_MAC_final(ctx, out, &outlen, AS_HMAC_SHA256_LEN) != 1 || outlen != AS_HMAC_SHA256_LEN)
        fatal("HMAC(SHA-256)");
}

static const char *const alg_names[] = {[AS_ALG_ES256] = "ES256", [AS_ALG_EDDSA] = "EdDSA", [AS_ALG_RS256] = "RS256"};

const char *as_alg_name(as_alg_t alg)
{
    return (size_t)alg < sizeof(alg_names) / sizeof(alg_names[0]) && alg_names[alg] != NULL ? alg_names[alg] : "unknown";
}

int as_alg_parse(const char *name, as_alg_t *alg)
{
    static const as_alg_t all[] = {AS_ALG_ES256, AS_ALG_EDDSA, AS_ALG_RS256};

    if (name == NULL)
        return -1;
    /* names are public, a plain strcmp is fine; "none" and the HMAC algorithms are never accepted */
    for (size_t i = 0; i != sizeof(all) / sizeof(all[0]); ++i) {
        if (strcmp(name, as_alg_name(all[i])) == 0) {
            *alg = all[i];
            return 0;
        }
    }
    return -1;
}
