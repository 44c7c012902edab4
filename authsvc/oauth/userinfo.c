/*
 * GET and POST /oauth2/userinfo (OpenID Connect Core §5.3) — what an app may
 * learn about the signed-in user with an access token that carries the openid
 * scope: `sub`, and `preferred_username` when the scope has profile. The token
 * comes as a Bearer header (RFC 6750 §2.1) or, in a POST, as the form
 * parameter access_token (§2.2); never in the query (RFC 9700 §2.5). It must
 * be ours (signature under the request's key set, issuer, expiry), a user's,
 * not revoked and of the user's current token_version. Errors are RFC 6750's.
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/token/access.h"
#include "authsvc/token/grants.h"

typedef struct st_userinfo_req_t {
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_keyhold_t *keys;
    as_pool_job_t *job;
    as_form_t form;
    as_jwt_t jwt;
} userinfo_req_t;

static void on_dispose(void *p)
{
    userinfo_req_t *ur = p;
    as_pool_cancel(ur->job);
    as_keyhold_release(ur->keys);
    as_jwt_clear(&ur->jwt);
    for (size_t i = 0; i != ur->form.num_params; ++i)
        as_wipe(ur->form.params[i].value.base, ur->form.params[i].value.len);
}

/** 1 if the space-separated `scope` holds `token`. */
static int scope_has(const char *scope, const char *token)
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

static void send_claims(userinfo_req_t *ur, const char *username)
{
    json_t *body = json_pack("{s:s}", "sub", ur->jwt.subject);
    if (username != NULL)
        json_object_set_new(body, "preferred_username", json_string(username));
    as_http_send_json(ur->req, 200, body, AS_RESP_NO_STORE);
}

static void on_user(void *ctx, int err, const as_user_t *user)
{
    userinfo_req_t *ur = ctx;
    ur->job = NULL;
    if (err != 0 && err != AS_ERR_NOT_FOUND) {
        as_http_oauth_failure(ur->req, err);
        return;
    }
    /* checked a moment ago; a user deleted, disabled or revoked since gets the same answer */
    if (user == NULL || user->disabled || user->token_version != ur->jwt.token_version) {
        as_http_bearer_error(ur->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    send_claims(ur, user->username);
}

static void on_status(void *ctx, int err, int good)
{
    userinfo_req_t *ur = ctx;
    ur->job = NULL;
    if (err != 0) {
        as_http_oauth_failure(ur->req, err);
        return;
    }
    if (!good) {
        as_http_bearer_error(ur->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    if (scope_has(ur->jwt.scope, "profile")) {
        as_store_user_by_id(ur->ctx->db, &ur->req->pool, ur->jwt.subject, on_user, ur, &ur->job);
        return;
    }
    send_claims(ur, NULL);
}

/** The token of the request: header or (POST) form body, exactly one of them. Answers and returns -1 if there is none. */
static int find_token(userinfo_req_t *ur, h2o_iovec_t *token)
{
    h2o_req_t *req = ur->req;
    const h2o_iovec_t *in_body = NULL;
    const char *why;
    int err = as_http_bearer_token(req, token);

    if (err == AS_ERR_DUPLICATE || err == AS_ERR_BAD_INPUT) {
        as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, "malformed or repeated Authorization header");
        return -1;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) && req->entity.len != 0) {
        if (as_http_read_form(req, &ur->form, &why) != 0) {
            as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, why);
            return -1;
        }
        in_body = as_form_get(&ur->form, "access_token");
    }
    if (in_body != NULL) {
        if (err == 0) { /* RFC 6750 §2: one method per request */
            as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, "the access token came both in the header and in the body");
            return -1;
        }
        *token = *in_body;
        return 0;
    }
    if (err != 0) {
        as_http_bearer_error(req, AS_BEARER_MISSING, "an access token is required (Authorization: Bearer)");
        return -1;
    }
    return 0;
}

AS_HANDLER(as_oauth_userinfo)
{
    as_oauth_ctx_t *ctx = data;
    userinfo_req_t *ur = h2o_mem_alloc_shared(&req->pool, sizeof(*ur), on_dispose);
    h2o_iovec_t token;
    int err;

    memset(ur, 0, sizeof(*ur));
    ur->ctx = ctx;
    ur->req = req;
    if (find_token(ur, &token) != 0)
        return;
    ur->keys = as_keyview_hold(ctx->keys);
    /* any audience: the token was issued for an API, and userinfo is ours to answer for any token we issued */
    as_jwt_expect_t expect = {.issuer = ctx->config->issuer, .audience = NULL, .now = (int64_t)time(NULL), .leeway = 0};
    if ((err = as_jwt_verify_access(token.base, token.len, as_keyset_find, ur->keys->set, &expect, &ur->jwt)) != 0) {
        as_http_bearer_error(req, AS_BEARER_INVALID_TOKEN, as_strerror(err));
        return;
    }
    as_http_annotate(req, "client_id", ur->jwt.client_id);
    if (!scope_has(ur->jwt.scope, "openid")) {
        as_http_bearer_error(req, AS_BEARER_INSUFFICIENT_SCOPE, "the access token's scope lacks openid");
        return;
    }
    if (ur->jwt.token_version == 0 || !as_is_uuid(ur->jwt.subject)) {
        as_http_bearer_error(req, AS_BEARER_INSUFFICIENT_SCOPE, "a user's access token is required");
        return;
    }
    /* a token revoked through /oauth2/revoke, or from before a password change, says nothing any more */
    as_store_access_status(ctx->db, &req->pool, ur->jwt.subject, ur->jwt.jti, ur->jwt.token_version, on_status, ur, &ur->job);
}
