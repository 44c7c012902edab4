/*
 * ops/ — what operators and their tooling ask of a running instance, above
 * the http/ framework: health today. Its routes are listed once, in
 * AS_OPS_ROUTES.
 */
#ifndef AS_OPS_H
#define AS_OPS_H

#include "authsvc/http/router.h"
#include "authsvc/store/pool.h"

/** What the ops endpoints use on one event thread; the wiring layer (app/) fills one per thread. */
typedef struct st_as_ops_ctx_t {
    as_pool_t *db;
} as_ops_ctx_t;

/* METHOD, PATH, HANDLER, metadata member (none here). `ctx` of every handler is an as_ops_ctx_t. */
#define AS_OPS_ROUTES(X) X("GET", "/healthz", as_ops_health, NULL) /* 200 when the database answers, else 503 */

#define AS_OPS__DECLARE(method, path, fn, name) AS_HANDLER(fn);
AS_OPS_ROUTES(AS_OPS__DECLARE)
#undef AS_OPS__DECLARE

/** Registers every route of the module with `ctx` (NULL: the route table as data). */
void as_ops_register(as_router_t *router, as_ops_ctx_t *ctx);

#endif
