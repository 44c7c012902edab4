/*
 * GET /healthz — 200 {"status":"ok"} when a database round trip succeeds,
 * 503 when it does not (within the pool's deadline); never cached. Also the
 * module's route registration.
 */
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/ops/ops.h"
#include "authsvc/store/store.h"

void as_ops_register(as_router_t *router, as_ops_ctx_t *ctx)
{
#define ADD(method, path, fn, name) as_router_add(router, method, path, fn, ctx, name);
    AS_OPS_ROUTES(ADD)
#undef ADD
}

void as_ops_register_admin(as_router_t *router, as_ops_ctx_t *ctx)
{
#define ADD(method, path, fn, name) as_router_add(router, method, path, fn, ctx, name);
    AS_OPS_ADMIN_ROUTES(ADD)
#undef ADD
}

typedef struct st_health_req_t {
    h2o_req_t *req;
    as_pool_job_t *job;
} health_req_t;

static void on_dispose(void *p)
{
    as_pool_cancel(((health_req_t *)p)->job);
}

static void on_ping(void *ctx, int err)
{
    health_req_t *hr = ctx;
    static const char ok[] = "{\"status\":\"ok\"}";
    static const char down[] = "{\"status\":\"unavailable\",\"error_description\":\"the database is unreachable\"}";
    hr->job = NULL;
    if (err == 0) {
        as_http_send_json_text(hr->req, 200, ok, sizeof(ok) - 1, AS_RESP_NO_STORE);
    } else {
        as_http_send_json_text(hr->req, 503, down, sizeof(down) - 1, AS_RESP_NO_STORE);
    }
}

AS_HANDLER(as_ops_health)
{
    as_ops_ctx_t *ctx = data;
    health_req_t *hr = h2o_mem_alloc_shared(&req->pool, sizeof(*hr), on_dispose);
    hr->req = req;
    hr->job = NULL;
    as_store_ping(ctx->db, &req->pool, on_ping, hr, &hr->job);
}
