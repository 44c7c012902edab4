/*
 * crypto/mem — OpenSSL's heap memory through a small per-thread cache of freed blocks (interface in crypto.h,
 * as_crypto_mem_init).
 *
 * One ES256 signature makes about 43 small allocations inside OpenSSL (BN_CTX, BIGNUMs, points, the signature)
 * and frees them all before it returns. On an event thread, whose heap also holds HTTP/2 streams, pools and
 * buffers that come and go, glibc serves most of them outside its small per-thread cache (7 blocks per size), in
 * _int_malloc/_int_free, merging and splitting chunks: a few percent of the CPU of a token request. Here each
 * thread keeps up to CACHE_DEPTH freed blocks of each size up to CACHE_MAX_CHUNK bytes and hands them out again.
 *
 * The blocks are glibc's own, unchanged, with no header of ours: a block's size class is read with
 * malloc_usable_size, so memory OpenSSL hands out may still be released with free(3) by whoever received it,
 * realloc is glibc's, and a block freed on another thread than the one that allocated it simply joins that
 * thread's cache. A cached block holds what glibc's free lists would hold (OpenSSL wipes secrets itself, with
 * OPENSSL_clear_free, before it frees them). A thread's cache is released when the thread ends.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/crypto/thread.h"

#define CACHE_MAX_CHUNK 512 /* bytes of glibc chunk (usable size + 8) */
#define CACHE_CLASSES (CACHE_MAX_CHUNK / 16 + 1)
#define CACHE_DEPTH 32

typedef struct st_free_block_t {
    struct st_free_block_t *next;
} free_block_t;

typedef struct st_block_cache_t {
    free_block_t *head[CACHE_CLASSES];
    unsigned char count[CACHE_CLASSES];
    unsigned char registered; /* the thread-exit destructor knows this cache */
    unsigned char closed;     /* the thread is ending: nothing is kept any more */
} block_cache_t;

static _Thread_local block_cache_t cache;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;

/** The class of a request of `sz` bytes: a block of that class holds at least `sz` (see block_class). */
static size_t request_class(size_t sz)
{
    if (sz < 24) /* glibc's smallest chunk (32 bytes) holds 24 */
        sz = 24;
    return (sz + 8 + 15) / 16;
}

/**
 * The class of a block of `usable` bytes: (usable + 8) / 16, glibc's chunk size in units of 16. A block of class c has
 * usable >= 16c - 8, and a request of class c asks for at most 16c - 8 bytes, whatever the allocator (with glibc both
 * are exact; with a sanitizer's allocator, which reports the size asked for, only fewer blocks match).
 */
static size_t block_class(size_t usable)
{
    return (usable + 8) / 16;
}

static void drain(block_cache_t *c)
{
    for (size_t i = 0; i != CACHE_CLASSES; ++i) {
        while (c->head[i] != NULL) {
            free_block_t *b = c->head[i];
            c->head[i] = b->next;
            free(b);
        }
        c->count[i] = 0;
    }
}

static void on_thread_exit(void *p)
{
    block_cache_t *c = p;
    c->closed = 1; /* OpenSSL's own thread-exit handlers may still free after this */
    drain(c);
}

static void make_key(void)
{
    if (pthread_key_create(&key, on_thread_exit) != 0)
        abort();
}

void *as_crypto__cache_malloc(size_t sz)
{
    size_t cls = request_class(sz);
    if (cls < CACHE_CLASSES && cache.head[cls] != NULL) {
        free_block_t *b = cache.head[cls];
        cache.head[cls] = b->next;
        --cache.count[cls];
        return b;
    }
    return malloc(sz);
}

void as_crypto__cache_free(void *p)
{
    if (p == NULL)
        return;
    size_t usable = malloc_usable_size(p), cls = block_class(usable);
    /* glibc's blocks hold 24 bytes at least; a sanitizer's may hold less than the link */
    if (usable < sizeof(free_block_t) || cls >= CACHE_CLASSES || cache.count[cls] == CACHE_DEPTH || cache.closed) {
        free(p);
        return;
    }
    if (!cache.registered) {
        pthread_once(&key_once, make_key);
        if (pthread_setspecific(key, &cache) != 0) {
            free(p);
            return;
        }
        cache.registered = 1;
    }
    free_block_t *b = p;
    b->next = cache.head[cls];
    cache.head[cls] = b;
    ++cache.count[cls];
}

/* AddressSanitizer must see every free of OpenSSL's memory to find a use after it: no cache then */
#if defined(__SANITIZE_ADDRESS__)
#define AS_MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AS_MEM_ASAN 1
#endif
#endif

#ifndef AS_MEM_ASAN
static void *ossl_malloc(size_t sz, const char *file, int line)
{
    (void)file, (void)line;
    return as_crypto__cache_malloc(sz);
}

static void *ossl_realloc(void *p, size_t sz, const char *file, int line)
{
    (void)file, (void)line;
    return realloc(p, sz); /* every block is glibc's, cached or not */
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    as_crypto__cache_free(p);
}
#endif

void as_crypto_mem_release(void)
{
    if (!cache.closed)
        drain(&cache);
}

int as_crypto_mem_init(void)
{
#ifdef AS_MEM_ASAN
    return -1;
#else
    return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) == 1 ? 0 : -1;
#endif
}
