/*
 * http/router — a table of (method, exact path) → handler that any endpoint
 * module registers into; it knows no endpoint itself.
 *
 * Each event thread owns one router, filled at start by the same registration
 * calls with that thread's module contexts, so a handler gets its context
 * without a lock or a lookup. A router filled with NULL contexts is the route
 * table as data: `authsvc routes` prints it and the metadata document takes
 * its URLs from it, so every path is written once.
 */
#ifndef AS_HTTP_ROUTER_H
#define AS_HTTP_ROUTER_H

#include <stddef.h>
#include <h2o.h>

/**
 * Answers `req` on its loop thread, now or later from a callback. `ctx` is
 * what the module registered with the route (its per-thread context).
 */
typedef void (*as_handler_fn)(void *ctx, h2o_req_t *req);

/**
 * Declares a handler, `data` being the context it was registered with (so that -Wmissing-prototypes is satisfied where it is
 * defined and where it is registered) — `AS_HANDLER(as_oauth_token);` — and
 * defines it with the same words: `AS_HANDLER(as_oauth_token) { ... }`.
 */
#define AS_HANDLER(name) void name(void *data, h2o_req_t *req)

typedef struct st_as_route_t {
    const char *method; /* "GET" (HEAD is answered too), "POST", ... */
    const char *path;   /* matched exactly, query string aside */
    as_handler_fn fn;
    void *ctx;
    const char *name; /* the metadata member that publishes this URL ("token_endpoint"), or NULL */
    int cors;         /* as_router_allow_cors: AS_CORS_ANY_ORIGIN, AS_CORS_BY_ENDPOINT, or 0 */
} as_route_t;

typedef struct st_as_router_t {
    as_route_t *routes;
    size_t num_routes;
    size_t capacity;
    size_t max_body; /* bytes: a larger request body gets 413 before any handler runs */
} as_router_t;

/** An empty router. Owner: the caller (as_router_dispose). */
void as_router_init(as_router_t *router, size_t max_body);
void as_router_dispose(as_router_t *router);

/** Adds a route; the strings must outlive the router (literals). Aborts on a (method, path) already taken. */
void as_router_add(as_router_t *router, const char *method, const char *path, as_handler_fn fn, void *ctx, const char *name);

/** Who may read the answers of a CORS path (as_router_allow_cors). */
enum {
    AS_CORS_ANY_ORIGIN = 1, /* every answer carries Access-Control-Allow-Origin: * */
    AS_CORS_BY_ENDPOINT,    /* the handler decides, answer by answer (as_http_cors) */
};

/**
 * Lets web origins call every route of `path` registered so far, without
 * credentials: `who` says which origins may read the answers; OPTIONS, unless
 * a route takes it, is the CORS preflight (as_http_preflight). Paths not
 * named here answer OPTIONS with 405.
 */
void as_router_allow_cors(as_router_t *router, const char *path, int who);

/**
 * Dispatches `req` (loop thread): the handler of its (method, path), HEAD to a
 * GET route; for a CORS path its headers on every answer, and the preflight
 * for OPTIONS; 405 with the Allow header listing every method of the path;
 * 404 for an unknown path; 413 for a body over max_body.
 */
void as_router_dispatch(const as_router_t *router, h2o_req_t *req);

/** The route registered under metadata `name`, or NULL. */
const as_route_t *as_router_find_name(const as_router_t *router, const char *name);

#endif
