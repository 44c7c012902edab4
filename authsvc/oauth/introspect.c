/*
 * POST /oauth2/introspect — RFC 7662. An access token is active when its
 * signature, issuer and expiry hold, its jti is not revoked, and (for a user
 * token) its ver is still the user's token_version. Only clients granted the
 * right (`client add --allow introspection`) may call it; any other client,
 * once authenticated, gets 403 unauthorized_client (RFC 7662 §4: the server
 * decides who may learn about tokens; its credentials are good, so 401
 * invalid_client would send it looking for a wrong secret). A confidential
 * client with the right may introspect any access token; a public one only
 * those issued to it; refresh tokens only the client's own. Everything else,
 * unknown tokens included, is {"active": false}.
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/token/refresh.h"
#include "authsvc/token/access.h"

typedef struct st_introspect_req_t {
    as_client_req_t cr;
    const h2o_iovec_t *token;
    const as_client_t *client;
    as_jwt_t jwt;
} introspect_req_t;

static void on_dispose(void *p)
{
    introspect_req_t *ir = p;
    as_client_req_dispose(&ir->cr);
    as_jwt_clear(&ir->jwt);
}

static void reply_inactive(introspect_req_t *ir)
{
    static const char body[] = "{\"active\":false}";
    as_http_send_json_text(ir->cr.req, 200, body, sizeof(body) - 1, AS_RESP_NO_STORE);
}

static void on_access_status(void *ctx, int err, int good)
{
    introspect_req_t *ir = ctx;
    ir->cr.job = NULL;
    if (err != 0) {
        as_http_oauth_failure(ir->cr.req, err);
        return;
    }
    if (!good) {
        reply_inactive(ir);
        return;
    }
    json_t *body = json_deep_copy(ir->jwt.claims);
    json_object_set_new(body, "active", json_true());
    json_object_set_new(body, "token_type", json_string("Bearer"));
    as_http_send_json(ir->cr.req, 200, body, AS_RESP_NO_STORE);
}

static void on_refresh_info(void *ctx, int err, const as_refresh_info_t *info)
{
    introspect_req_t *ir = ctx;
    ir->cr.job = NULL;
    if (err == AS_ERR_NOT_FOUND) {
        reply_inactive(ir);
        return;
    }
    if (err != 0) {
        as_http_oauth_failure(ir->cr.req, err);
        return;
    }
    json_t *body = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "active", 1, "client_id", ir->client->client_id, "sub",
                             info->user_id, "scope", info->scope, "exp", (json_int_t)info->exp, "iat", (json_int_t)info->iat,
                             "iss", ir->cr.ctx->config->issuer, "token_type", "refresh_token");
    as_http_send_json(ir->cr.req, 200, body, AS_RESP_NO_STORE);
}

static void on_authenticated(as_client_req_t *cr, const as_client_t *client)
{
    introspect_req_t *ir = (introspect_req_t *)cr;
    as_refresh_ref_t refresh;

    ir->client = client;
    if ((client->rights & AS_CLIENT_RIGHT_INTROSPECTION) == 0) {
        as_client_req_error(cr, AS_OAUTH_NOT_ALLOWED, "this client may not introspect tokens");
        return;
    }
    switch (as_client_req_classify(cr, ir->token, &refresh, &ir->jwt)) {
    case AS_PRESENTED_REFRESH:
        as_store_refresh_info(cr->ctx->db, &cr->req->pool, &refresh, client->client_id, on_refresh_info, ir, &cr->job);
        return;
    case AS_PRESENTED_ACCESS:
        break;
    case AS_PRESENTED_NEITHER:
        reply_inactive(ir);
        return;
    }
    if (client->is_public && strcmp(ir->jwt.client_id, client->client_id) != 0) {
        reply_inactive(ir);
        return;
    }
    if (ir->jwt.token_version > 0 && !as_is_uuid(ir->jwt.subject)) {
        reply_inactive(ir);
        return;
    }
    as_store_access_status(cr->ctx->db, &cr->req->pool, ir->jwt.token_version > 0 ? ir->jwt.subject : NULL, ir->jwt.jti,
                           ir->jwt.token_version, on_access_status, ir, &cr->job);
}

AS_HANDLER(as_oauth_introspect)
{
    as_oauth_ctx_t *ctx = data;
    introspect_req_t *ir = as_client_req_new(ctx, req, sizeof(*ir), on_dispose);
    if (ir == NULL || (ir->token = as_client_req_require(&ir->cr, "token")) == NULL)
        return;
    as_client_req_authenticate(&ir->cr, on_authenticated);
}
