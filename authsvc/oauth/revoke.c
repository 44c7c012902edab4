/*
 * POST /oauth2/revoke — RFC 7009. A refresh token revokes its whole family; an
 * access token, being self-contained, is revoked by listing its jti until it
 * expires (which introspection and the revocation feed then report). Unknown,
 * invalid or other clients' tokens get the same 200: the answer reveals nothing.
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/token/refresh.h"
#include "authsvc/token/access.h"

typedef struct st_revoke_req_t {
    as_client_req_t cr;
    const h2o_iovec_t *token;
} revoke_req_t;

static void reply_ok(revoke_req_t *rr)
{
    as_http_send_empty(rr->cr.req, AS_RESP_NO_STORE);
}

static void on_revoked(void *ctx, int err)
{
    revoke_req_t *rr = ctx;
    rr->cr.job = NULL;
    if (err != 0) {
        /* RFC 7009 §2.2.1: the client may retry later; it must not believe the token is gone */
        as_http_oauth_failure(rr->cr.req, err);
        return;
    }
    reply_ok(rr);
}

static void on_authenticated(as_client_req_t *cr, const as_client_t *client)
{
    revoke_req_t *rr = (revoke_req_t *)cr;
    as_refresh_ref_t refresh;
    as_jwt_t jwt;

    as_presented_t kind = as_client_req_classify(cr, rr->token, &refresh, &jwt);
    if (kind == AS_PRESENTED_REFRESH)
        as_store_revoke_refresh(cr->ctx->db, &cr->req->pool, &refresh, client->client_id, on_revoked, rr, &cr->job);
    else if (kind == AS_PRESENTED_ACCESS && strcmp(jwt.client_id, client->client_id) == 0)
        as_store_revoke_access(cr->ctx->db, &cr->req->pool, h2o_strdup(&cr->req->pool, jwt.jti, SIZE_MAX).base, jwt.exp,
                               client->client_id, on_revoked, rr, &cr->job);
    else /* invalid, expired or another client's: nothing of its own to revoke, and 200 all the same (it reveals nothing) */
        reply_ok(rr);
    as_jwt_clear(&jwt);
}

AS_HANDLER(as_oauth_revoke)
{
    as_oauth_ctx_t *ctx = data;
    revoke_req_t *rr = as_client_req_new(ctx, req, sizeof(*rr), NULL);
    if (rr == NULL)
        return;
    as_client_req_allow_origins(&rr->cr);
    if ((rr->token = as_client_req_require(&rr->cr, "token")) == NULL)
        return;
    /* token_type_hint is only a hint (RFC 7009 §2.1): both kinds are recognised by their form */
    as_client_req_authenticate(&rr->cr, on_authenticated);
}
