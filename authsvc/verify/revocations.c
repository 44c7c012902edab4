/*
 * The revocation state an offline verifier keeps (api/revocation-feed.md): subjects with the minimum
 * token version still valid, and revoked jtis until their exp. A state is immutable once built; a poll
 * that changes something builds the next one beside it (copy, then merge), and the verifier swaps it in.
 * Copying costs O(entries) per poll that changes something, a few milliseconds for 100 000 entries,
 * which buys lookups that take no lock but the verifier's brief read lock.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/verify/internal.h"

/* --- string map ------------------------------------------------------------------------------------- */

static uint64_t hash(uint64_t seed, const char *s)
{
    /* FNV-1a, seeded, then murmur3's finalizer to spread the low bits we mask with */
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (; *s != '\0'; ++s)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static struct st_asv__strmap_entry_t *find_slot(const asv__strmap_t *m, const char *key)
{
    size_t mask = m->capacity - 1, i = hash(m->seed, key) & mask;
    while (m->slots[i].key != NULL && strcmp(m->slots[i].key, key) != 0)
        i = (i + 1) & mask;
    return &m->slots[i];
}

const int64_t *asv__strmap_get(const asv__strmap_t *m, const char *key)
{
    if (m->count == 0)
        return NULL;
    struct st_asv__strmap_entry_t *e = find_slot(m, key);
    return e->key != NULL ? &e->value : NULL;
}

static void grow(asv__strmap_t *m)
{
    asv__strmap_t bigger = {.capacity = m->capacity == 0 ? 16 : m->capacity * 2, .count = m->count, .seed = m->seed};
    bigger.slots = as_calloc(bigger.capacity, sizeof(*bigger.slots));
    for (size_t i = 0; i != m->capacity; ++i)
        if (m->slots[i].key != NULL)
            *find_slot(&bigger, m->slots[i].key) = m->slots[i];
    free(m->slots);
    *m = bigger;
}

void asv__strmap_put_max(asv__strmap_t *m, const char *key, int64_t value)
{
    if ((m->count + 1) * 2 > m->capacity) /* load factor at most 1/2 */
        grow(m);
    struct st_asv__strmap_entry_t *e = find_slot(m, key);
    if (e->key == NULL) {
        e->key = as_strdup(key);
        e->value = value;
        ++m->count;
    } else if (value > e->value) {
        e->value = value;
    }
}

void asv__strmap_dispose(asv__strmap_t *m)
{
    for (size_t i = 0; i != m->capacity; ++i)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* --- revocation state ------------------------------------------------------------------------------- */

asv__revset_t *asv__revset_new(void)
{
    asv__revset_t *rs = as_calloc(1, sizeof(*rs));
    /* the seed only spreads keys; the feed's strings come from authsvc, so it need not be secret */
    as_random_bytes(&rs->subjects.seed, sizeof(rs->subjects.seed));
    as_random_bytes(&rs->jtis.seed, sizeof(rs->jtis.seed));
    rs->min_jti_exp = INT64_MAX;
    return rs;
}

void asv__revset_free(asv__revset_t *rs)
{
    if (rs == NULL)
        return;
    asv__strmap_dispose(&rs->subjects);
    asv__strmap_dispose(&rs->jtis);
    free(rs);
}

static void add_jti(asv__revset_t *rs, const char *jti, int64_t exp, int64_t drop_until)
{
    if (exp <= drop_until) /* its token has expired, leeway included: it can no longer be presented */
        return;
    asv__strmap_put_max(&rs->jtis, jti, exp);
    if (exp < rs->min_jti_exp)
        rs->min_jti_exp = exp;
}

int asv__revset_needs_update(const asv__revset_t *cur, const asv__feed_t *feed, int64_t drop_until)
{
    return feed->reset || json_array_size(feed->subjects) != 0 || json_array_size(feed->jtis) != 0 ||
           cur->min_jti_exp <= drop_until;
}

asv__revset_t *asv__revset_apply(const asv__revset_t *cur, const asv__feed_t *feed, int64_t drop_until)
{
    asv__revset_t *rs = asv__revset_new();
    size_t i;
    json_t *e;

    if (!feed->reset) {
        for (i = 0; i != cur->subjects.capacity; ++i)
            if (cur->subjects.slots[i].key != NULL)
                asv__strmap_put_max(&rs->subjects, cur->subjects.slots[i].key, cur->subjects.slots[i].value);
        for (i = 0; i != cur->jtis.capacity; ++i)
            if (cur->jtis.slots[i].key != NULL)
                add_jti(rs, cur->jtis.slots[i].key, cur->jtis.slots[i].value, drop_until);
    }
    /* merge: the larger min_ver wins; a jti keeps its latest exp (asv__feed_parse checked every type) */
    json_array_foreach(feed->subjects, i, e)
    {
        const char *sub = json_string_value(json_object_get(e, "sub"));
        asv__strmap_put_max(&rs->subjects, sub, json_integer_value(json_object_get(e, "min_ver")));
    }
    json_array_foreach(feed->jtis, i, e)
    {
        const char *jti = json_string_value(json_object_get(e, "jti"));
        add_jti(rs, jti, json_integer_value(json_object_get(e, "exp")), drop_until);
    }
    return rs;
}

/* --- the feed's answer ------------------------------------------------------------------------------ */

/** A non-empty string without NUL (jansson allows NUL inside strings; strcmp-based maps do not). */
static const char *nonempty_string(json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

int asv__feed_parse(const char *body, size_t len, asv__feed_t *feed, char *reason, size_t reasonlen)
{
    json_t *cursor, *reset, *e;
    const char *c;
    size_t i;

    memset(feed, 0, sizeof(*feed));
    if ((feed->doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(feed->doc)) {
        asv__reason(reason, reasonlen, "the feed's answer is not a JSON object");
        goto Error;
    }
    cursor = json_object_get(feed->doc, "cursor");
    reset = json_object_get(feed->doc, "reset");
    feed->subjects = json_object_get(feed->doc, "subjects");
    feed->jtis = json_object_get(feed->doc, "jtis");
    if ((c = nonempty_string(cursor)) == NULL || strlen(c) > ASV__CURSOR_MAX || strspn(c, "0123456789") != strlen(c)) {
        asv__reason(reason, reasonlen, "the feed's cursor is not a decimal string");
        goto Error;
    }
    strcpy(feed->cursor, c);
    if (!json_is_boolean(reset) || !json_is_array(feed->subjects) || !json_is_array(feed->jtis)) {
        asv__reason(reason, reasonlen, "the feed's answer lacks reset, subjects or jtis");
        goto Error;
    }
    feed->reset = json_is_true(reset);
    json_array_foreach(feed->subjects, i, e)
    {
        json_t *mv = json_object_get(e, "min_ver");
        if (nonempty_string(json_object_get(e, "sub")) == NULL || !json_is_integer(mv) || json_integer_value(mv) < 0) {
            asv__reason(reason, reasonlen, "subjects[%zu] is not {\"sub\": string, \"min_ver\": integer}", i);
            goto Error;
        }
    }
    json_array_foreach(feed->jtis, i, e)
    {
        if (nonempty_string(json_object_get(e, "jti")) == NULL || !json_is_integer(json_object_get(e, "exp"))) {
            asv__reason(reason, reasonlen, "jtis[%zu] is not {\"jti\": string, \"exp\": integer}", i);
            goto Error;
        }
    }
    return 0;
Error:
    asv__feed_dispose(feed);
    return ASV_ERR_BAD_DOCUMENT;
}

void asv__feed_dispose(asv__feed_t *feed)
{
    json_decref(feed->doc);
    memset(feed, 0, sizeof(*feed));
}
