/*
 * crypto/ internal: the OpenSSL contexts each thread keeps, made on the thread's first use and freed when it ends
 * (crypto.c owns the holder; jws.c owns what `sign` points to). Not part of crypto.h: nothing outside crypto/ sees
 * OpenSSL types.
 */
#ifndef AUTHSVC_CRYPTO_THREAD_H
#define AUTHSVC_CRYPTO_THREAD_H

#include <openssl/evp.h>

struct st_as_crypto_sign_cache_t;
struct st_as_crypto_rand_buf_t;

typedef struct st_as_crypto_thread_t {
    EVP_MD_CTX *sha256;                     /* as_sha256 */
    EVP_MAC_CTX *hmac;                      /* as_hmac_sha256 */
    struct st_as_crypto_sign_cache_t *sign; /* as_jws_sign's signing contexts, NULL until the thread signs */
    struct st_as_crypto_rand_buf_t *rand;   /* as_random_bytes' buffer (a page), NULL without MADV_WIPEONFORK */
    void *argon2_mem;                       /* pwhash.c's argon2 working memory (a mapping) kept between hashes, or NULL */
    size_t argon2_len;
    int argon2_keep;                        /* as_pwhash_keep_memory was called: keep it */
} as_crypto_thread_t;

/** This thread's contexts (made on its first call). Any thread. */
as_crypto_thread_t *as_crypto__thread(void);
/** Frees a signing cache (jws.c); called when its thread ends. */
void as_crypto__sign_cache_free(struct st_as_crypto_sign_cache_t *cache);

/** crypto/mem.c's allocator, for its test: a block of at least `sz` bytes (malloc's own, or one this thread cached). */
void *as_crypto__cache_malloc(size_t sz);
/** Frees a malloc'd block into this thread's cache, or to free(3) when it is full or the block too large. */
void as_crypto__cache_free(void *p);

#endif
