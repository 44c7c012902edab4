/*
 * GET /livez and GET /readyz, and the process-wide draining flag that /readyz
 * reads.
 *
 * /livez answers 200 as long as an event thread runs its loop: a liveness
 * probe that never restarts an instance because its database is down.
 * /readyz answers 200 only when the instance should get traffic: it is not
 * draining, its current key set has a key that may sign now, and a database
 * round trip on this thread's pool succeeds within AS_OPS_READY_DEADLINE_MS
 * (less than --db-timeout: a load balancer's check must not hang). Otherwise
 * 503 with the first failing check as `reason`. Neither is ever cached.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/ops/ops.h"
#include "authsvc/store/store.h"

/* the deadline is h2o's one-second timeout of the thread, which every h2o context has */
_Static_assert(AS_OPS_READY_DEADLINE_MS == 1000, "/readyz links its deadline to the context's one_sec_timeout");

static _Atomic int draining;

void as_ops_set_draining(int on)
{
    atomic_store(&draining, on != 0);
}

int as_ops_is_draining(void)
{
    return atomic_load(&draining);
}

int as_ops_drain(const sigset_t *sigs, uint64_t delay_ms)
{
    struct timespec now, deadline;

    as_ops_set_draining(1);
    if (delay_ms == 0)
        return 0;
    as_info("draining: /readyz answers 503, the listeners close in %llu ms", (unsigned long long)delay_ms);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += (time_t)(delay_ms / 1000);
    deadline.tv_nsec += (long)(delay_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
            return 0;
        struct timespec left = {.tv_sec = deadline.tv_sec - now.tv_sec, .tv_nsec = deadline.tv_nsec - now.tv_nsec};
        if (left.tv_nsec < 0) {
            left.tv_sec -= 1;
            left.tv_nsec += 1000000000L;
        }
        int sig = sigtimedwait(sigs, NULL, &left);
        if (sig < 0 || sig == SIGHUP)
            continue; /* EAGAIN (the deadline), EINTR, or a reload request that a stopping instance ignores */
        as_info("received signal %d while draining, stopping now", sig);
        return sig;
    }
}

AS_HANDLER(as_ops_live)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    (void)data;
    as_http_send_json_text(req, 200, ok, sizeof(ok) - 1, AS_RESP_NO_STORE);
}

typedef struct st_ready_req_t {
    h2o_req_t *req;
    as_pool_job_t *job;
    h2o_timeout_entry_t deadline;
} ready_req_t;

#define UNAVAILABLE(reason, why) "{\"status\":\"unavailable\",\"reason\":\"" reason "\",\"error_description\":\"" why "\"}"

static void send_unavailable(h2o_req_t *req, const char *body)
{
    as_http_send_json_text(req, 503, body, strlen(body), AS_RESP_NO_STORE);
}

static void on_ready_dispose(void *p)
{
    ready_req_t *rr = p;
    as_pool_cancel(rr->job);
    rr->job = NULL;
    if (h2o_timeout_is_linked(&rr->deadline))
        h2o_timeout_unlink(&rr->deadline);
}

static void on_ready_deadline(h2o_timeout_entry_t *entry)
{
    ready_req_t *rr = H2O_STRUCT_FROM_MEMBER(ready_req_t, deadline, entry);
    as_pool_cancel(rr->job); /* a SELECT 1: nothing to undo */
    rr->job = NULL;
    send_unavailable(rr->req, UNAVAILABLE("database", "the database did not answer in time"));
}

static void on_ready_ping(void *ctx, int err)
{
    ready_req_t *rr = ctx;
    static const char ok[] = "{\"status\":\"ok\"}";
    rr->job = NULL;
    if (h2o_timeout_is_linked(&rr->deadline))
        h2o_timeout_unlink(&rr->deadline);
    if (err == 0) {
        as_http_send_json_text(rr->req, 200, ok, sizeof(ok) - 1, AS_RESP_NO_STORE);
    } else {
        send_unavailable(rr->req, UNAVAILABLE("database", "the database is unreachable"));
    }
}

/** 1 if the thread's current key set has a signing key that may sign now (a reload that failed keeps a set whose key
 * has since retired: tokens would still be signed with it). */
static int keys_ready(const as_ops_ctx_t *ctx)
{
    if (ctx->keys == NULL)
        return 1;
    if (ctx->keys->current == NULL || ctx->keys->current->set == NULL)
        return 0;
    const as_keyset_t *ks = ctx->keys->current->set;
    if (ks->num_entries == 0 || ks->active >= ks->num_entries)
        return 0;
    return as_keymeta_state(&ks->entries[ks->active].meta, (int64_t)time(NULL)) == AS_KEY_ACTIVE;
}

AS_HANDLER(as_ops_ready)
{
    as_ops_ctx_t *ctx = data;

    if (as_ops_is_draining()) {
        send_unavailable(req, UNAVAILABLE("draining", "the instance is shutting down"));
        return;
    }
    if (!keys_ready(ctx)) {
        send_unavailable(req, UNAVAILABLE("keys", "no signing key may sign now (see the key directory and the log)"));
        return;
    }
    ready_req_t *rr = h2o_mem_alloc_shared(&req->pool, sizeof(*rr), on_ready_dispose);
    *rr = (ready_req_t){.req = req};
    rr->deadline.cb = on_ready_deadline;
    h2o_timeout_link(req->conn->ctx->loop, &req->conn->ctx->one_sec_timeout, &rr->deadline);
    as_store_ping(ctx->db, &req->pool, on_ready_ping, rr, &rr->job);
}
