/*
 * store/client_cache — the per-thread read-through cache of client records:
 * a direct-mapped table keyed by a hash of the client id, records copied in
 * and out, expiry by age (interface in client_cache.h).
 */
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/store/client_cache.h"

#define NUM_SLOTS 256 /* direct-mapped: a collision replaces the older entry */

typedef struct st_entry_t {
    as_client_t client; /* strings and lists in malloc'd memory owned by the entry */
    uint64_t fetched_at;
} entry_t;

struct st_as_client_cache_t {
    uint64_t ttl;
    entry_t *slots[NUM_SLOTS];
};

static size_t slot_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *id != '\0'; ++id)
        h = (h ^ (uint8_t)*id) * 16777619u;
    return h % NUM_SLOTS;
}

typedef void *(*alloc_fn)(void *ctx, size_t sz);

static char *copy_str(alloc_fn alloc, void *ctx, const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = alloc(ctx, len);
    memcpy(d, s, len);
    return d;
}

static void copy_list(alloc_fn alloc, void *ctx, as_strlist_t *dst, const as_strlist_t *src)
{
    const char **items = alloc(ctx, sizeof(*items) * (src->len + 1));
    for (size_t i = 0; i != src->len; ++i)
        items[i] = copy_str(alloc, ctx, src->items[i]);
    dst->items = items;
    dst->len = src->len;
}

static void copy_client(alloc_fn alloc, void *ctx, as_client_t *dst, const as_client_t *src)
{
    *dst = *src;
    dst->client_id = copy_str(alloc, ctx, src->client_id);
    copy_list(alloc, ctx, &dst->audiences, &src->audiences);
    copy_list(alloc, ctx, &dst->scopes, &src->scopes);
}

/* the entry's memory: one malloc'd arena chunk list would be tidier; individual mallocs freed below */
static void *heap_alloc(void *ctx, size_t sz)
{
    (void)ctx;
    return as_malloc(sz);
}

static void *pool_alloc(void *ctx, size_t sz)
{
    return h2o_mem_alloc_pool((h2o_mem_pool_t *)ctx, sz);
}

static void entry_free(entry_t *e)
{
    if (e == NULL)
        return;
    free((char *)e->client.client_id);
    for (size_t i = 0; i != e->client.audiences.len; ++i)
        free((char *)e->client.audiences.items[i]);
    for (size_t i = 0; i != e->client.scopes.len; ++i)
        free((char *)e->client.scopes.items[i]);
    free(e->client.audiences.items);
    free(e->client.scopes.items);
    free(e);
}

as_client_cache_t *as_client_cache_new(uint64_t ttl_ms)
{
    as_client_cache_t *cache = as_calloc(1, sizeof(*cache));
    cache->ttl = ttl_ms;
    return cache;
}

void as_client_cache_free(as_client_cache_t *cache)
{
    for (size_t i = 0; i != NUM_SLOTS; ++i)
        entry_free(cache->slots[i]);
    free(cache);
}

const as_client_t *as_client_cache_get(as_client_cache_t *cache, const char *client_id, uint64_t now, h2o_mem_pool_t *mem)
{
    entry_t *e = cache->slots[slot_of(client_id)];
    if (cache->ttl == 0 || e == NULL || strcmp(e->client.client_id, client_id) != 0 || now - e->fetched_at >= cache->ttl)
        return NULL;
    as_client_t *copy = h2o_mem_alloc_pool(mem, sizeof(*copy));
    copy_client(pool_alloc, mem, copy, &e->client);
    return copy;
}

void as_client_cache_put(as_client_cache_t *cache, const as_client_t *client, uint64_t now)
{
    if (cache->ttl == 0)
        return;
    size_t slot = slot_of(client->client_id);
    entry_t *e = as_calloc(1, sizeof(*e));
    copy_client(heap_alloc, NULL, &e->client, client);
    e->fetched_at = now;
    entry_free(cache->slots[slot]);
    cache->slots[slot] = e;
}
