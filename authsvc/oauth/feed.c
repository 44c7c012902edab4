/*
 * GET /oauth2/revocations?since=CURSOR — the revocation feed (protocol in
 * api/revocation-feed.md). A confidential client (a resource server) polls it
 * every few seconds and keeps the answer in memory, so that revoked access
 * tokens are refused within seconds with no lookup per request.
 */
#include <stdio.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/oauth/client_auth.h"

#define MAX_CURSOR_LEN 19 /* xid8 is 64-bit: 19 digits always parse */

typedef struct st_feed_req_t {
    as_client_req_t cr;
    char since[MAX_CURSOR_LEN + 1];
    int have_since;
} feed_req_t;

static void on_dispose(void *p)
{
    as_client_req_dispose(&((feed_req_t *)p)->cr);
}

static void on_feed(void *ctx, int err, const as_feed_t *feed)
{
    feed_req_t *fr = ctx;
    h2o_req_t *req = fr->cr.req;
    fr->cr.job = NULL;
    if (err != 0) {
        as_client_req_store_error(&fr->cr, err);
        return;
    }
    /* the lists come from PostgreSQL's json_agg, already valid JSON */
    size_t len = strlen(feed->cursor) + strlen(feed->subjects_json) + strlen(feed->jtis_json) + 64;
    char *body = h2o_mem_alloc_pool(&req->pool, len);
    int n = snprintf(body, len, "{\"cursor\":\"%s\",\"reset\":%s,\"subjects\":%s,\"jtis\":%s}", feed->cursor,
                     feed->reset ? "true" : "false", feed->subjects_json, feed->jtis_json);
    as_http_send_json_text(req, 200, body, (size_t)n, AS_RESP_NO_STORE);
}

static void on_authenticated(as_client_req_t *cr, const as_client_t *client)
{
    feed_req_t *fr = (feed_req_t *)cr;
    if (client->is_public) {
        as_client_req_error(cr, AS_OAUTH_UNAUTHORIZED_CLIENT, "the revocation feed is for confidential clients");
        return;
    }
    as_store_feed(cr->ctx->db, &cr->req->pool, fr->have_since ? fr->since : NULL, on_feed, fr, &cr->job);
}

/** Reads `since` from the query string: absent (a full snapshot) or a decimal cursor. Returns 0 or -1. */
static int parse_since(feed_req_t *fr, h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', end - q), *pend = amp != NULL ? amp : end;
        if (pend - q >= 5 && memcmp(q, "since", 5) == 0 && (pend - q == 5 || q[5] == '=')) {
            if (pend - q == 5) /* "?since" without a value */
                return -1;
            size_t len = pend - (q + 6);
            if (fr->have_since || len == 0 || len > MAX_CURSOR_LEN)
                return -1;
            for (size_t i = 0; i != len; ++i)
                if (q[6 + i] < '0' || q[6 + i] > '9')
                    return -1;
            memcpy(fr->since, q + 6, len);
            fr->since[len] = '\0';
            fr->have_since = 1;
        }
        q = pend + 1;
    }
    return 0;
}

void as_oauth_revocations(as_oauth_ctx_t *ctx, h2o_req_t *req)
{
    feed_req_t *fr = h2o_mem_alloc_shared(&req->pool, sizeof(*fr), on_dispose);
    memset(fr, 0, sizeof(*fr));
    if (as_client_req_parse(&fr->cr, ctx, req) != 0)
        return;
    if (parse_since(fr, req) != 0) {
        as_client_req_error(&fr->cr, AS_OAUTH_INVALID_REQUEST, "since must be a cursor returned by this endpoint");
        return;
    }
    as_client_req_authenticate(&fr->cr, on_authenticated);
}
