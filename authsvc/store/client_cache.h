/*
 * store/client_cache — a small per-thread, read-through cache of client
 * records, so that a service hammering the token endpoint does not cost a
 * database round trip per request. Entries live `ttl` seconds: a client
 * changed in the database (another secret, other grants) is seen by every
 * instance within that time. A client id that does not exist is remembered
 * the same way (a negative entry), so that an unknown id costs what a known
 * one does and timing does not tell which ids exist. Loop thread only.
 */
#ifndef AS_STORE_CLIENT_CACHE_H
#define AS_STORE_CLIENT_CACHE_H

#include <stdint.h>
#include <h2o.h>
#include "authsvc/store/store.h"

typedef struct st_as_client_cache_t as_client_cache_t;

/** `ttl_ms` 0 disables the cache. Owner: the caller (as_client_cache_free). */
as_client_cache_t *as_client_cache_new(uint64_t ttl_ms);
void as_client_cache_free(as_client_cache_t *cache);

/** A fresh copy of the cached record in `mem`, or NULL (absent or stale). `now` is in milliseconds. */
const as_client_t *as_client_cache_get(as_client_cache_t *cache, const char *client_id, uint64_t now, h2o_mem_pool_t *mem);

/** Remembers `client` (copied) as of `now`. */
void as_client_cache_put(as_client_cache_t *cache, const as_client_t *client, uint64_t now);

/** 1 if `client_id` was found not to exist less than the TTL ago. */
int as_client_cache_is_unknown(as_client_cache_t *cache, const char *client_id, uint64_t now);

/** Remembers that `client_id` does not exist, as of `now`. */
void as_client_cache_put_unknown(as_client_cache_t *cache, const char *client_id, uint64_t now);

#endif
