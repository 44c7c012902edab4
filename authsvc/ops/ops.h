/*
 * ops/ — what operators and their tooling ask of a running instance, above
 * the http/ framework: liveness, readiness (with the draining state the
 * wiring layer sets at shutdown) and the database health check. Its routes
 * are listed once, in AS_OPS_ROUTES.
 */
#ifndef AS_OPS_H
#define AS_OPS_H

#include <signal.h>
#include <stdint.h>
#include "authsvc/http/router.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/store/pool.h"

/** What the ops endpoints use on one event thread; the wiring layer (app/) fills one per thread. */
typedef struct st_as_ops_ctx_t {
    as_pool_t *db;
    as_keyview_t *keys; /* the thread's key view, for /readyz; NULL: the key check is skipped */
} as_ops_ctx_t;

/** How long /readyz waits for the database before it answers 503 (h2o's one-second timeout of the thread). */
#define AS_OPS_READY_DEADLINE_MS 1000

/* METHOD, PATH, HANDLER, metadata member (none here). `ctx` of every handler is an as_ops_ctx_t. */
#define AS_OPS_ROUTES(X)                                                                                                           \
    X("GET", "/healthz", as_ops_health, NULL) /* 200 when the database answers, else 503 */                                        \
    X("GET", "/livez", as_ops_live, NULL)     /* 200 while the process serves; never touches the database */                       \
    X("GET", "/readyz", as_ops_ready, NULL)   /* 200 when not draining, a key may sign and the database answers within 1 s */

#define AS_OPS__DECLARE(method, path, fn, name) AS_HANDLER(fn);
AS_OPS_ROUTES(AS_OPS__DECLARE)
#undef AS_OPS__DECLARE

/** Registers every route of the module with `ctx` (NULL: the route table as data). */
void as_ops_register(as_router_t *router, as_ops_ctx_t *ctx);

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
