/*
 * http/router — route table and dispatch (interface in router.h). A linear
 * scan: a dozen routes compare faster than a hash would be computed.
 */
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/access.h"
#include "authsvc/http/respond.h"
#include "authsvc/http/router.h"

void as_router_init(as_router_t *router, size_t max_body)
{
    *router = (as_router_t){.max_body = max_body};
}

void as_router_dispose(as_router_t *router)
{
    free(router->routes);
    *router = (as_router_t){0};
}

void as_router_add(as_router_t *router, const char *method, const char *path, as_handler_fn fn, void *ctx, const char *name)
{
    for (size_t i = 0; i != router->num_routes; ++i) {
        if (strcmp(router->routes[i].path, path) == 0 && strcmp(router->routes[i].method, method) == 0) {
            as_error("route %s %s registered twice", method, path);
            abort();
        }
    }
    if (router->num_routes == router->capacity) {
        router->capacity = router->capacity == 0 ? 16 : router->capacity * 2;
        as_route_t *grown = as_calloc(router->capacity, sizeof(*grown));
        if (router->num_routes != 0)
            memcpy(grown, router->routes, router->num_routes * sizeof(*grown));
        free(router->routes);
        router->routes = grown;
    }
    router->routes[router->num_routes++] = (as_route_t){method, path, fn, ctx, name, 0};
}

void as_router_allow_cors(as_router_t *router, const char *path, int who)
{
    for (size_t i = 0; i != router->num_routes; ++i)
        if (strcmp(router->routes[i].path, path) == 0)
            router->routes[i].cors = who;
}

static int method_is(h2o_req_t *req, const char *method)
{
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

/** "GET, HEAD, POST": the methods of every route of `path` (and OPTIONS, the preflight, on a CORS path), in pool memory. */
static const char *allow_of(const as_router_t *router, h2o_req_t *req, const char *path)
{
    char buf[256];
    size_t n = 0;
    int cors = 0;
    buf[0] = '\0';
    for (size_t i = 0; i != router->num_routes; ++i) {
        const as_route_t *r = router->routes + i;
        if (strcmp(r->path, path) != 0)
            continue;
        if (r->cors != 0)
            cors = 1;
        int w = snprintf(buf + n, sizeof(buf) - n, "%s%s%s", n != 0 ? ", " : "", r->method,
                         strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        if (w < 0 || (size_t)w >= sizeof(buf) - n)
            break;
        n += (size_t)w;
    }
    if (cors && n + sizeof(", OPTIONS") <= sizeof(buf))
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ", OPTIONS");
    return h2o_strdup(&req->pool, buf, n).base;
}

void as_router_dispatch(const as_router_t *router, h2o_req_t *req)
{
    const as_route_t *path_match = NULL;

    as_http_request_id(req);

    for (size_t i = 0; i != router->num_routes; ++i) {
        const as_route_t *r = router->routes + i;
        if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, r->path, strlen(r->path)))
            continue;
        if (path_match == NULL && r->cors == AS_CORS_ANY_ORIGIN && !method_is(req, "OPTIONS")) /* the preflight has its own */
            as_http_cors(req, "*");
        path_match = r;
        /* RFC 9110 §9.1: HEAD wherever GET is served (h2o sends the headers of the GET response only) */
        if (!method_is(req, r->method) && !(strcmp(r->method, "GET") == 0 && method_is(req, "HEAD")))
            continue;
        if (req->entity.len > router->max_body) {
            as_http_payload_too_large(req);
            return;
        }
        r->fn(r->ctx, req);
        return;
    }
    if (path_match != NULL && path_match->cors && method_is(req, "OPTIONS")) {
        if (req->entity.len > router->max_body)
            as_http_payload_too_large(req);
        else
            as_http_preflight(req, allow_of(router, req, path_match->path));
        return;
    }
    if (path_match != NULL) {
        as_http_method_not_allowed(req, allow_of(router, req, path_match->path));
        return;
    }
    as_http_not_found(req);
}

const as_route_t *as_router_find_name(const as_router_t *router, const char *name)
{
    for (size_t i = 0; i != router->num_routes; ++i)
        if (router->routes[i].name != NULL && strcmp(router->routes[i].name, name) == 0)
            return router->routes + i;
    return NULL;
}
