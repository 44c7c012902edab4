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
    h2o_mem_pool_t pool; /* the record's strings and lists */
    as_client_t client; /* only client_id when unknown */
    int unknown;        /* a negative entry: no such client */
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

static const char *copy_str(h2o_mem_pool_t *pool, const char *s)
{
    return s != NULL ? h2o_strdup(pool, s, SIZE_MAX).base : NULL;
}

static void copy_list(h2o_mem_pool_t *pool, as_strlist_t *dst, const as_strlist_t *src)
{
    const char **items = h2o_mem_alloc_pool(pool, sizeof(*items) * (src->len + 1));
    for (size_t i = 0; i != src->len; ++i)
        items[i] = copy_str(pool, src->items[i]);
    dst->items = items;
    dst->len = src->len;
}

/** A deep copy of `src` in `pool`. */
static void copy_client(h2o_mem_pool_t *pool, as_client_t *dst, const as_client_t *src)
{
    *dst = *src;
    dst->client_id = copy_str(pool, src->client_id);
    dst->display_name = copy_str(pool, src->display_name);
    copy_list(pool, &dst->audiences, &src->audiences);
    copy_list(pool, &dst->scopes, &src->scopes);
    copy_list(pool, &dst->redirect_uris, &src->redirect_uris);
    copy_list(pool, &dst->post_logout_redirect_uris, &src->post_logout_redirect_uris);
}

static void entry_free(entry_t *e)
{
    if (e == NULL)
        return;
    h2o_mem_clear_pool(&e->pool);
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

/** The fresh entry of `client_id`, or NULL. */
static entry_t *lookup(as_client_cache_t *cache, const char *client_id, uint64_t now)
{
    entry_t *e = cache->slots[slot_of(client_id)];
    if (cache->ttl == 0 || e == NULL || strcmp(e->client.client_id, client_id) != 0 || now - e->fetched_at >= cache->ttl)
        return NULL;
    return e;
}

const as_client_t *as_client_cache_get(as_client_cache_t *cache, const char *client_id, uint64_t now, h2o_mem_pool_t *mem)
{
    entry_t *e = lookup(cache, client_id, now);
    if (e == NULL || e->unknown)
        return NULL;
    as_client_t *copy = h2o_mem_alloc_pool(mem, sizeof(*copy));
    copy_client(mem, copy, &e->client);
    return copy;
}

int as_client_cache_is_unknown(as_client_cache_t *cache, const char *client_id, uint64_t now)
{
    entry_t *e = lookup(cache, client_id, now);
    return e != NULL && e->unknown;
}

static void put(as_client_cache_t *cache, const as_client_t *client, int unknown, uint64_t now)
{
    if (cache->ttl == 0)
        return;
    size_t slot = slot_of(client->client_id);
    entry_t *e = as_calloc(1, sizeof(*e));
    h2o_mem_init_pool(&e->pool);
    if (unknown)
        e->client.client_id = copy_str(&e->pool, client->client_id);
    else
        copy_client(&e->pool, &e->client, client);
    e->unknown = unknown;
    e->fetched_at = now;
    entry_free(cache->slots[slot]);
    cache->slots[slot] = e;
}

void as_client_cache_put(as_client_cache_t *cache, const as_client_t *client, uint64_t now)
{
    put(cache, client, 0, now);
}

void as_client_cache_put_unknown(as_client_cache_t *cache, const char *client_id, uint64_t now)
{
    as_client_t absent = {.client_id = client_id};
    put(cache, &absent, 1, now);
}
