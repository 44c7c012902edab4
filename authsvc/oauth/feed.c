/*
 * GET /oauth2/revocations?since=CURSOR — the revocation feed (protocol in
 * api/revocation-feed.md). A confidential client (a resource server) granted
 * the right (`client add --allow revocation-feed`) polls it every few seconds
 * and keeps the answer in memory, so that revoked access tokens are refused
 * within seconds with no lookup per request. Any other client, once
 * authenticated, gets 403 unauthorized_client (as introspection does).
 */
#include <stdio.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/request.h"
#include "authsvc/oauth/client_auth.h"

#define MAX_CURSOR_LEN 19 /* xid8 is 64-bit: 19 digits always parse */

typedef struct st_feed_req_t {
    as_client_req_t cr;
    char since[MAX_CURSOR_LEN + 1];
    int have_since;
} feed_req_t;

static void on_feed(void *ctx, int err, const as_feed_t *feed)
{
    feed_req_t *fr = ctx;
    h2o_req_t *req = fr->cr.req;
    fr->cr.job = NULL;
    if (err != 0) {
        as_http_oauth_failure(fr->cr.req, err);
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
    /* the schema gives the right to confidential clients only; a public client is refused whatever a row says */
    if (client->is_public || (client->rights & AS_CLIENT_RIGHT_REVOCATION_FEED) == 0) {
        as_client_req_error(cr, AS_OAUTH_NOT_ALLOWED, "this client may not read the revocation feed");
        return;
    }
    as_store_feed(cr->ctx->db, &cr->req->pool, fr->have_since ? fr->since : NULL, on_feed, fr, &cr->job);
}

/** Reads `since` from the query string: absent (a full snapshot) or a decimal cursor. Returns 0 or AS_ERR_BAD_INPUT. */
static int parse_since(feed_req_t *fr, h2o_req_t *req)
{
    h2o_iovec_t v;
    int err = as_http_query_param(req, "since", &v);
    if (err == AS_ERR_NOT_FOUND)
        return 0;
    if (err != 0 || v.len == 0 || v.len > MAX_CURSOR_LEN)
        return AS_ERR_BAD_INPUT;
    for (size_t i = 0; i != v.len; ++i)
        if (v.base[i] < '0' || v.base[i] > '9')
            return AS_ERR_BAD_INPUT;
    memcpy(fr->since, v.base, v.len);
    fr->since[v.len] = '\0';
    fr->have_since = 1;
    return 0;
}

AS_HANDLER(as_oauth_revocations)
{
    as_oauth_ctx_t *ctx = data;
    feed_req_t *fr = as_client_req_new(ctx, req, sizeof(*fr), NULL);
    if (fr == NULL)
        return;
    if (parse_since(fr, req) != 0) {
        as_client_req_error(&fr->cr, AS_OAUTH_INVALID_REQUEST, "since must be a cursor returned by this endpoint");
        return;
    }
    as_client_req_authenticate(&fr->cr, on_authenticated);
}
