/*
 * metrics/ — the counters behind GET /metrics, kept where they happen and
 * summed only when scraped. A low module (it needs nothing but base): http/,
 * store/, work/ and the endpoint modules count into it without an upward
 * include; ops/ writes the exposition.
 *
 * Each event thread owns one as_metrics_t (as_metrics_thread_start): plain
 * uint64_t fields, written by that thread only, with no lock and no atomic
 * read-modify-write on the request path. A scrape on any thread sums every
 * thread's block. The one cross-thread access is a scraper reading a counter
 * its owner may be writing: both sides go through as_metrics_add/_read, which
 * are relaxed atomic loads and stores of an aligned 64-bit word. On x86-64 and
 * aarch64 they compile to the plain mov/ldr and str an ordinary increment
 * would (no lock prefix, no ldxr/stxr loop): the owner's add is not atomic
 * against another writer, and needs not be, since nobody else writes; the
 * scraper sees each counter whole, either before or after an increment, never
 * torn. Two counters read one after the other may be one increment apart:
 * gauges derived from a pair of counters are clamped at 0.
 *
 * Gauges the pools keep (connections up and busy, jobs waiting) are exported
 * the same way, as pairs of monotonic counters (went up / went down) whose
 * difference is the gauge, so they too have a single writer.
 */
#ifndef AS_METRICS_H
#define AS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* --- histograms: one set of bounds for every latency, in microseconds ------------------------ */

#define AS_METRICS_NUM_BOUNDS 16
/** Upper bounds of the buckets, microseconds (the +Inf bucket is the count). */
extern const uint64_t as_metrics_bounds_us[AS_METRICS_NUM_BOUNDS];

typedef struct st_as_histogram_t {
    uint64_t bucket[AS_METRICS_NUM_BOUNDS + 1]; /* not cumulative: [i] counts values in (bound[i-1], bound[i]], the last above all */
    uint64_t sum_us;
    uint64_t count;
} as_histogram_t;

/* --- the dimensions --------------------------------------------------------------------------- */

#define AS_METRICS_MAX_ROUTES 40 /* distinct paths; the last slot is "other" (404s and paths beyond the table) */

enum { AS_M_GET, AS_M_POST, AS_M_HEAD, AS_M_OTHER_METHOD, AS_M_NUM_METHODS };
#define AS_M_NUM_CLASSES 5 /* 1xx .. 5xx */

/** The OAuth error codes a response may carry (the access log's "error" annotation); 0: none. */
#define AS_METRICS_ERRORS(X)                                                                                                       \
    X(NONE, "")                                                                                                                    \
    X(INVALID_REQUEST, "invalid_request")                                                                                          \
    X(INVALID_CLIENT, "invalid_client")                                                                                            \
    X(INVALID_GRANT, "invalid_grant")                                                                                              \
    X(UNAUTHORIZED_CLIENT, "unauthorized_client")                                                                                  \
    X(UNSUPPORTED_GRANT_TYPE, "unsupported_grant_type")                                                                            \
    X(INVALID_SCOPE, "invalid_scope")                                                                                              \
    X(TEMPORARILY_UNAVAILABLE, "temporarily_unavailable")                                                                          \
    X(SERVER_ERROR, "server_error")                                                                                                \
    X(SLOW_DOWN, "slow_down")                                                                                                      \
    X(ACCESS_DENIED, "access_denied")                                                                                              \
    X(UNSUPPORTED_RESPONSE_TYPE, "unsupported_response_type")                                                                      \
    X(LOGIN_REQUIRED, "login_required")                                                                                            \
    X(CONSENT_REQUIRED, "consent_required")                                                                                        \
    X(INVALID_TOKEN, "invalid_token")                                                                                              \
    X(OTHER, "other")
#define AS_METRICS__ENUM(sym, name) AS_ME_##sym,
enum { AS_METRICS_ERRORS(AS_METRICS__ENUM) AS_ME_NUM };
#undef AS_METRICS__ENUM
extern const char *const as_metrics_error_names[AS_ME_NUM];

/** Grant types by name (the token endpoint's "grant" annotation); anything else is "other". */
enum { AS_MG_CLIENT_CREDENTIALS, AS_MG_PASSWORD, AS_MG_REFRESH_TOKEN, AS_MG_AUTHORIZATION_CODE, AS_MG_OTHER, AS_MG_NUM };
extern const char *const as_metrics_grant_names[AS_MG_NUM];
/** What became of a grant request: 2xx, 4xx, 5xx (the service could not answer it: database, queue). */
enum { AS_MGO_ISSUED, AS_MGO_REFUSED, AS_MGO_FAILED, AS_MGO_NUM };
extern const char *const as_metrics_grant_outcome_names[AS_MGO_NUM];

/**
 * Refresh-token rotations by what the store decided: rotated (consumed, successor issued), grace (a retry inside
 * the grace window: the same successor again), reuse_detected (a consumed token presented again: the family is
 * revoked), invalid (unknown, expired, revoked, stale token_version, disabled user), scope_refused (beyond the
 * family's scope), unavailable (the database did not answer).
 */
enum { AS_MR_ROTATED, AS_MR_GRACE, AS_MR_REUSE_DETECTED, AS_MR_INVALID, AS_MR_SCOPE, AS_MR_UNAVAILABLE, AS_MR_NUM };
extern const char *const as_metrics_refresh_names[AS_MR_NUM];

/** Password checks (the password grant and the sign-in form) by outcome; the order of as_password_result_t. */
enum { AS_ML_SUCCESS, AS_ML_WRONG_PASSWORD, AS_ML_THROTTLED, AS_ML_BUSY, AS_ML_UNAVAILABLE, AS_ML_NUM };
extern const char *const as_metrics_login_names[AS_ML_NUM];

/* --- one event thread's counters ---------------------------------------------------------------- */

typedef struct st_as_metrics_t {
    /* http/access, at the end of every request on the public listeners */
    uint64_t requests[AS_METRICS_MAX_ROUTES][AS_M_NUM_METHODS][AS_M_NUM_CLASSES][AS_ME_NUM];
    as_histogram_t latency[AS_METRICS_MAX_ROUTES];
    uint64_t grants[AS_MG_NUM][AS_MGO_NUM];
    /* oauth/ */
    uint64_t refresh[AS_MR_NUM];
    uint64_t logins[AS_ML_NUM];
    /* store/pool: gauges as (up, down) pairs */
    uint64_t db_conns_up, db_conns_down;         /* connections that became ready / stopped being ready */
    uint64_t db_busy_up, db_busy_down;           /* connections that got / lost their last in-flight query */
    uint64_t db_waiting_in, db_waiting_out;      /* queries that queued for a connection / left the queue */
    uint64_t db_reconnects;                      /* a connection slot ready again after it had been ready once */
    uint64_t db_connect_failures;                /* connection attempts or connections that failed */
    uint64_t db_rejected;                        /* queries refused at once: no connection possible, or the queue full */
    as_histogram_t db_query;                     /* submission to result, whatever the result */
} as_metrics_t;

/** The calling thread's block, or NULL on a thread that counts nothing (main, argon2 workers, the CLI). */
extern __thread as_metrics_t *as_metrics_self;

/**
 * Gives the calling thread a zeroed block and registers it for scrapes (a mutex, once per thread at start).
 * Blocks live until as_metrics_dispose_all, so that a scrape never reads freed memory.
 */
as_metrics_t *as_metrics_thread_start(void);

/** Frees every block; once every thread that counts or scrapes has stopped. */
void as_metrics_dispose_all(void);

/** The number of registered blocks, and the i-th (any thread). */
size_t as_metrics_num_threads(void);
const as_metrics_t *as_metrics_thread(size_t i);

/**
 * The route table's distinct paths, in order (literals that outlive the process's threads); called once,
 * before the event threads start. Paths beyond AS_METRICS_MAX_ROUTES - 1 are counted as "other".
 */
void as_metrics_set_routes(const char *const *paths, size_t num_paths);
size_t as_metrics_num_routes(void); /* the slots in use, "other" included */
const char *as_metrics_route_name(size_t i);
/** The slot of an exact request path (no query), "other" when it is not a route. */
size_t as_metrics_route_of(const char *path, size_t len);

/** Maps the annotations an endpoint left (NULL: none) to their slots. */
size_t as_metrics_error_of(const char *code);
size_t as_metrics_grant_of(const char *grant_type);

/** The slot of a rotation's outcome: the store's as_err_t, and for 0 whether it was a grace-window retry. */
size_t as_metrics_refresh_of(int err, int grace);

/** The owner's increment: see the top of this file for why a plain load and store suffice. */
static inline void as_metrics_add(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/** A scraper's read of another thread's counter. */
static inline uint64_t as_metrics_read(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void as_histogram_observe(as_histogram_t *h, uint64_t usec);

/** Counts 1 into `member` of the calling thread's block, if it has one: `AS_METRICS_INC(logins[AS_ML_SUCCESS]);` */
#define AS_METRICS_INC(member)                                                                                                     \
    do {                                                                                                                           \
        as_metrics_t *m__ = as_metrics_self;                                                                                       \
        if (m__ != NULL)                                                                                                           \
            as_metrics_add(&m__->member, 1);                                                                                       \
    } while (0)

/** Monotonic microseconds, for latencies. */
uint64_t as_metrics_now_us(void);

#endif
