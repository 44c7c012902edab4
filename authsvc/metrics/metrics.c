/*
 * metrics/metrics — the per-thread blocks, their registry and the label
 * tables (interface in metrics.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/metrics/metrics.h"

const uint64_t as_metrics_bounds_us[AS_METRICS_NUM_BOUNDS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

#define AS_METRICS__NAME(sym, name) name,
const char *const as_metrics_error_names[AS_ME_NUM] = {AS_METRICS_ERRORS(AS_METRICS__NAME)};
#undef AS_METRICS__NAME
const char *const as_metrics_refresh_names[AS_MR_NUM] = {"rotated", "grace", "reuse_detected", "invalid", "scope_refused",
                                                         "unavailable"};
const char *const as_metrics_grant_names[AS_MG_NUM] = {"client_credentials", "password", "refresh_token", "authorization_code",
                                                       "other"};
const char *const as_metrics_grant_outcome_names[AS_MGO_NUM] = {"issued", "refused", "failed"};
const char *const as_metrics_login_names[AS_ML_NUM] = {"success", "wrong_password", "throttled", "busy", "unavailable"};

__thread as_metrics_t *as_metrics_self;

/* the registry: slots written under the mutex, then published by the release store of the count */
#define MAX_THREADS 1024
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static as_metrics_t *registry[MAX_THREADS];
static _Atomic size_t num_registered;

/* the route table: written before the event threads start, read-only afterwards */
static const char *routes[AS_METRICS_MAX_ROUTES];
static size_t num_routes; /* "other" included */

as_metrics_t *as_metrics_thread_start(void)
{
    as_metrics_t *m = as_calloc(1, sizeof(*m));
    pthread_mutex_lock(&registry_mutex);
    size_t n = atomic_load_explicit(&num_registered, memory_order_relaxed);
    if (n < MAX_THREADS) {
        registry[n] = m;
        atomic_store_explicit(&num_registered, n + 1, memory_order_release);
    } else {
        as_warn("more than %d threads count metrics: the others are not scraped", MAX_THREADS);
    }
    pthread_mutex_unlock(&registry_mutex);
    as_metrics_self = m;
    return m;
}

void as_metrics_dispose_all(void)
{
    pthread_mutex_lock(&registry_mutex);
    size_t n = atomic_load(&num_registered);
    for (size_t i = 0; i != n; ++i) {
        free(registry[i]);
        registry[i] = NULL;
    }
    atomic_store(&num_registered, 0);
    pthread_mutex_unlock(&registry_mutex);
    as_metrics_self = NULL;
}

size_t as_metrics_num_threads(void)
{
    return atomic_load_explicit(&num_registered, memory_order_acquire);
}

const as_metrics_t *as_metrics_thread(size_t i)
{
    return registry[i];
}

void as_metrics_set_routes(const char *const *paths, size_t num_paths)
{
    num_routes = 0;
    for (size_t i = 0; i != num_paths && num_routes != AS_METRICS_MAX_ROUTES - 1; ++i) {
        size_t j;
        for (j = 0; j != num_routes && strcmp(routes[j], paths[i]) != 0; ++j)
            ;
        if (j == num_routes)
            routes[num_routes++] = paths[i];
    }
    routes[num_routes++] = "other";
}

size_t as_metrics_num_routes(void)
{
    return num_routes != 0 ? num_routes : 1;
}

const char *as_metrics_route_name(size_t i)
{
    return num_routes != 0 ? routes[i] : "other";
}

size_t as_metrics_route_of(const char *path, size_t len)
{
    if (num_routes == 0)
        return 0;
    for (size_t i = 0; i + 1 < num_routes; ++i)
        if (strlen(routes[i]) == len && memcmp(routes[i], path, len) == 0)
            return i;
    return num_routes - 1;
}

size_t as_metrics_error_of(const char *code)
{
    if (code == NULL)
        return AS_ME_NONE;
    for (size_t i = AS_ME_NONE + 1; i != AS_ME_OTHER; ++i)
        if (strcmp(as_metrics_error_names[i], code) == 0)
            return i;
    return AS_ME_OTHER;
}

size_t as_metrics_grant_of(const char *grant_type)
{
    for (size_t i = 0; i != AS_MG_OTHER; ++i)
        if (strcmp(as_metrics_grant_names[i], grant_type) == 0)
            return i;
    return AS_MG_OTHER;
}

size_t as_metrics_refresh_of(int err, int grace)
{
    switch (err) {
    case 0:
        return grace ? AS_MR_GRACE : AS_MR_ROTATED;
    case AS_ERR_CONFLICT:
        return AS_MR_REUSE_DETECTED;
    case AS_ERR_NOT_FOUND:
        return AS_MR_INVALID;
    case AS_ERR_BAD_INPUT:
        return AS_MR_SCOPE;
    default:
        return AS_MR_UNAVAILABLE;
    }
}

void as_histogram_observe(as_histogram_t *h, uint64_t usec)
{
    size_t i = 0;
    while (i != AS_METRICS_NUM_BOUNDS && usec > as_metrics_bounds_us[i])
        ++i;
    as_metrics_add(&h->bucket[i], 1);
    as_metrics_add(&h->sum_us, usec);
    as_metrics_add(&h->count, 1);
}

uint64_t as_metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
