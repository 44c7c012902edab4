/*
 * ops/ — what operators and their tooling ask of a running instance, above
 * the http/ framework: liveness, readiness (with the draining state the
 * wiring layer sets at shutdown), the database health check, and the
 * Prometheus exposition of metrics/ (ops/metrics.c). Its routes are listed
 * once: AS_OPS_ROUTES on the public listeners, AS_OPS_ADMIN_ROUTES on the
 * management listener (--admin-listen), the only place /metrics is served.
 */
#ifndef AS_OPS_H
#define AS_OPS_H

#include <signal.h>
#include <stdint.h>
#include "authsvc/http/router.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/store/pool.h"
#include "authsvc/work/pwcheck.h"

/** What the ops endpoints use on one event thread; the wiring layer (app/) fills one per thread. */
typedef struct st_as_ops_ctx_t {
    as_pool_t *db;
    as_keyview_t *keys; /* the thread's key view, for /readyz and the key metrics; NULL: the key check is skipped */
    as_pwcheck_t *pwcheck; /* the argon2 workers, for their metrics; NULL: none shown */
    double start_time;     /* the process's start, seconds since the epoch */
} as_ops_ctx_t;

/** How long /readyz waits for the database before it answers 503 (h2o's one-second timeout of the thread). */
#define AS_OPS_READY_DEADLINE_MS 1000

/* METHOD, PATH, HANDLER, metadata member (none here). `ctx` of every handler is an as_ops_ctx_t. */
#define AS_OPS_ROUTES(X)                                                                                                           \
    X("GET", "/healthz", as_ops_health, NULL) /* 200 when the database answers, else 503 */                                        \
    X("GET", "/livez", as_ops_live, NULL)     /* 200 while the process serves; never touches the database */                       \
    X("GET", "/readyz", as_ops_ready, NULL)   /* 200 when not draining, a key may sign and the database answers within 1 s */

/* The management listener's: the same probes, and the metrics (Prometheus text format 0.0.4, summed over the event
 * threads; never cached). */
#define AS_OPS_ADMIN_ROUTES(X)                                                                                                     \
    X("GET", "/livez", as_ops_live, NULL)                                                                                          \
    X("GET", "/readyz", as_ops_ready, NULL)                                                                                        \
    X("GET", "/metrics", as_ops_metrics, NULL)

#define AS_OPS__DECLARE(method, path, fn, name) AS_HANDLER(fn);
AS_OPS_ROUTES(AS_OPS__DECLARE)
AS_HANDLER(as_ops_metrics);
#undef AS_OPS__DECLARE

/** Registers every route of the module with `ctx` (NULL: the route table as data). */
void as_ops_register(as_router_t *router, as_ops_ctx_t *ctx);

/** Registers the management listener's routes with `ctx`. */
void as_ops_register_admin(as_router_t *router, as_ops_ctx_t *ctx);

/**
 * Writes the Prometheus exposition of every registered metrics block, the argon2 workers, the thread's key set
 * and the process into `out` (as_expo_init'ed by the caller). Loop thread of `ctx`; reads /proc (never blocks).
 */
struct st_as_expo_t;
void as_ops_write_metrics(struct st_as_expo_t *out, as_ops_ctx_t *ctx);

/**
 * Marks the whole process as draining (1) or not (0): from now on /readyz
 * answers 503 {"reason": "draining"} on every thread, while every other
 * endpoint keeps serving. Any thread; one atomic store, read only by /readyz.
 */
void as_ops_set_draining(int draining);

/** 1 while the process is draining (any thread). */
int as_ops_is_draining(void);

/**
 * The first step of a graceful stop, for the main thread once it has received
 * SIGTERM: marks the process draining, then waits `delay_ms` milliseconds so
 * that load balancers and Kubernetes, polling /readyz, stop sending new
 * requests before the listeners close. Another signal of `sigs` (blocked by
 * the caller, as the main thread's are) cuts the wait short, except SIGHUP,
 * which is ignored meanwhile. Returns the signal that cut it short, or 0.
 */
int as_ops_drain(const sigset_t *sigs, uint64_t delay_ms);

#endif
