/*
 * oauth/bearer — the user behind a Bearer access token: verification, then
 * the revocation and token_version check in the database (interface in
 * bearer.h). userinfo and /account/password come through here.
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/http/access.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/bearer.h"

static void revoked(as_oauth__bearer_t *bearer)
{
    as_http_bearer_error(bearer->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
}

int as_oauth__scope_has(const char *scope, const char *token)
{
    size_t len = strlen(token);
    for (const char *p = scope; *p != '\0';) {
        const char *end = strchr(p, ' ');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, token, len) == 0)
            return 1;
        p += n;
        while (*p == ' ')
            ++p;
    }
    return 0;
}

void *as_oauth__bearer_new(as_oauth_ctx_t *ctx, h2o_req_t *req, size_t size, void (*dispose)(void *))
{
    as_oauth__bearer_t *bearer = h2o_mem_alloc_shared(&req->pool, size, dispose != NULL ? dispose : as_oauth__bearer_dispose);
    memset(bearer, 0, size);
    bearer->ctx = ctx;
    bearer->req = req;
    return bearer;
}

int as_oauth__bearer_verify(as_oauth__bearer_t *bearer, h2o_iovec_t token, const char *scope)
{
    as_oauth_ctx_t *ctx = bearer->ctx;
    h2o_req_t *req = bearer->req;
    int err;

    bearer->keys = as_keyview_hold(ctx->keys);
    /* any audience: the token was issued for an API, and these endpoints are ours to answer for any token we issued */
    as_jwt_expect_t expect = {.issuer = ctx->config->issuer, .audience = NULL, .now = (int64_t)time(NULL), .leeway = 0};
    if ((err = as_jwt_verify_access(token.base, token.len, as_keyset_find, bearer->keys->set, &expect, &bearer->jwt)) != 0) {
        as_http_bearer_error(req, AS_BEARER_INVALID_TOKEN, as_strerror(err));
        return -1;
    }
    as_http_annotate(req, "client_id", bearer->jwt.client_id);
    if (scope != NULL && !as_oauth__scope_has(bearer->jwt.scope, scope)) {
        as_http_bearer_error(req, AS_BEARER_INSUFFICIENT_SCOPE,
                             h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("the access token's scope lacks ")),
                                        h2o_iovec_init(scope, strlen(scope)))
                                 .base);
        return -1;
    }
    if (bearer->jwt.token_version == 0 || !as_is_uuid(bearer->jwt.subject)) {
        as_http_bearer_error(req, AS_BEARER_INSUFFICIENT_SCOPE, "a user's access token is required");
        return -1;
    }
    return 0;
}

static void on_user(void *ctx, int err, const as_user_t *user)
{
    as_oauth__bearer_t *bearer = ctx;
    bearer->job = NULL;
    if (err != 0 && err != AS_ERR_NOT_FOUND) {
        as_http_oauth_failure(bearer->req, err);
        return;
    }
    /* checked a moment ago; a user deleted, disabled or revoked since gets the same answer */
    if (user == NULL || user->disabled || user->token_version != bearer->jwt.token_version) {
        revoked(bearer);
        return;
    }
    bearer->cb(bearer, user);
}

static void on_status(void *ctx, int err, int good)
{
    as_oauth__bearer_t *bearer = ctx;
    bearer->job = NULL;
    if (err != 0) {
        as_http_oauth_failure(bearer->req, err);
        return;
    }
    if (!good) {
        revoked(bearer);
        return;
    }
    if (bearer->want_user) {
        as_store_user_by_id(bearer->ctx->db, &bearer->req->pool, bearer->jwt.subject, on_user, bearer, &bearer->job);
        return;
    }
    bearer->cb(bearer, NULL);
}

void as_oauth__bearer_check(as_oauth__bearer_t *bearer, int want_user, as_oauth__bearer_cb cb)
{
    bearer->want_user = want_user;
    bearer->cb = cb;
    /* a token revoked through /oauth2/revoke (a logout), or from before a password change, is good for nothing */
    as_store_access_status(bearer->ctx->db, &bearer->req->pool, bearer->jwt.subject, bearer->jwt.jti, bearer->jwt.token_version,
                           on_status, bearer, &bearer->job);
}

void as_oauth__bearer_dispose(void *p)
{
    as_oauth__bearer_t *bearer = p;
    as_pool_cancel(bearer->job);
    bearer->job = NULL;
    as_keyhold_release(bearer->keys);
    bearer->keys = NULL;
    as_jwt_clear(&bearer->jwt);
    as_form_wipe(&bearer->form);
}
