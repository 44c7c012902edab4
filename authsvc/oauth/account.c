/*
 * POST /account/password — a user changes their own password with an access
 * token (Bearer, RFC 6750) and the current password. In one transaction the new
 * hash is stored, the token_version incremented and every refresh family
 * revoked; the caller gets a fresh token pair for the client it used, and every
 * other session of the user ends (the revocation feed and introspection report
 * the old access tokens at once).
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/token/access.h"

typedef struct st_account_req_t {
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_keyhold_t *keys;
    as_pool_job_t *job;
    as_pwcheck_job_t *pwjob;
    char address[AS_HTTP_ADDRESS_MAX]; /* the client's, for fair use of the argon2 workers */
    as_form_t form;
    as_jwt_t jwt;
    const h2o_iovec_t *current, *new_password;
    const as_user_t *user;
    const as_client_t *client;
    int64_t new_version;
    uint8_t refresh[AS_REFRESH_RAW_LEN];
} account_req_t;

static void on_dispose(void *p)
{
    account_req_t *ar = p;
    as_pool_cancel(ar->job);
    as_pwcheck_cancel(ar->pwjob);
    as_keyhold_release(ar->keys);
    as_jwt_clear(&ar->jwt);
    as_wipe(ar->refresh, sizeof(ar->refresh));
    for (size_t i = 0; i != ar->form.num_params; ++i)
        as_wipe(ar->form.params[i].value.base, ar->form.params[i].value.len);
}

static void send_result(account_req_t *ar, int with_refresh)
{
    as_token_response_t r = {.subject = ar->user->id,
                             .token_version = ar->new_version,
                             .scope = ar->jwt.scope,
                             .refresh = with_refresh ? ar->refresh : NULL,
                             .token_version_member = ar->new_version};
    as_oauth_send_tokens(ar->req, ar->ctx->config, ar->keys->set, ar->client, &r);
}

static void on_family_created(void *ctx, int err, const as_refresh_t *r)
{
    account_req_t *ar = ctx;
    (void)r;
    ar->job = NULL;
    /* the password is changed whatever happens here: without a new refresh token the user simply logs in again */
    send_result(ar, err == 0);
}

static void on_client(void *ctx, int err, const as_client_t *client)
{
    account_req_t *ar = ctx;
    ar->job = NULL;
    if (err != 0) {
        /* the change is committed; the calling client is gone or unreachable: report the change only */
        json_t *body = json_pack("{s:I}", "token_version", (json_int_t)ar->new_version);
        as_http_send_json(ar->req, 200, body, AS_RESP_NO_STORE);
        return;
    }
    ar->client = client;
    if (client->grants & AS_GRANT_REFRESH_TOKEN) {
        const as_oauth_config_t *cfg = ar->ctx->config;
        uint8_t hash[AS_SHA256_LEN];
        as_refresh_new(ar->refresh);
        as_refresh_hash(ar->refresh, hash);
        as_store_family_create(ar->ctx->db, &ar->req->pool, ar->user->id, client->client_id, ar->new_version, ar->jwt.scope, hash,
                               client->refresh_idle_ttl > 0 ? client->refresh_idle_ttl : cfg->refresh_idle_ttl,
                               client->refresh_max_ttl > 0 ? client->refresh_max_ttl : cfg->refresh_max_ttl, on_family_created,
                               ar, &ar->job);
        return;
    }
    send_result(ar, 0);
}

static void on_changed(void *ctx, int err, int64_t version)
{
    account_req_t *ar = ctx;
    ar->job = NULL;
    if (err == AS_ERR_CONFLICT) {
        as_http_bearer_error(ar->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    if (err != 0) {
        as_http_oauth_failure(ar->req, err);
        return;
    }
    ar->new_version = version;
    as_info("password changed by user %s", ar->user->id);
    as_store_client_get(ar->ctx->db, &ar->req->pool, ar->jwt.client_id, on_client, ar, &ar->job);
}

/** The argon2 workers' answers: first the current password's verification, then the new password's hash. */
static void on_pwcheck(void *ctx, int err, int match, const char *phc)
{
    account_req_t *ar = ctx;
    ar->pwjob = NULL;
    if (err != 0) {
        as_http_oauth_error(ar->req, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many password operations in progress, retry shortly", 0);
        return;
    }
    if (phc != NULL) {
        as_store_password_change(ar->ctx->db, &ar->req->pool, ar->user->id, h2o_strdup(&ar->req->pool, phc, SIZE_MAX).base,
                                 ar->jwt.token_version, on_changed, ar, &ar->job);
        return;
    }
    if (!match) {
        as_info("self-service password change refused (wrong current password) for user %s", ar->user->id);
        as_http_oauth_error(ar->req, AS_OAUTH_INVALID_GRANT, "the current password is wrong", 0);
        return;
    }
    ar->pwjob = as_pwcheck_hash(ar->ctx->pwcheck, ar->ctx->pwcheck_receiver, ar->address, ar->user->id, ar->new_password->base,
                                ar->new_password->len, on_pwcheck, ar);
}

static void on_user(void *ctx, int err, const as_user_t *user)
{
    account_req_t *ar = ctx;
    ar->job = NULL;
    if (err != 0 && err != AS_ERR_NOT_FOUND) {
        as_http_oauth_failure(ar->req, err);
        return;
    }
    if (user == NULL || user->disabled || user->token_version != ar->jwt.token_version) {
        as_http_bearer_error(ar->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    ar->user = user;
    ar->pwjob = as_pwcheck_verify(ar->ctx->pwcheck, ar->ctx->pwcheck_receiver, ar->address, user->id, user->password_hash,
                                  ar->current->base, ar->current->len, on_pwcheck, ar);
}

static void on_status(void *ctx, int err, int good)
{
    account_req_t *ar = ctx;
    ar->job = NULL;
    if (err != 0) {
        as_http_oauth_failure(ar->req, err);
        return;
    }
    if (!good) {
        as_http_bearer_error(ar->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    as_store_user_by_id(ar->ctx->db, &ar->req->pool, ar->jwt.subject, on_user, ar, &ar->job);
}

AS_HANDLER(as_oauth_account_password)
{
    as_oauth_ctx_t *ctx = data;
    account_req_t *ar = h2o_mem_alloc_shared(&req->pool, sizeof(*ar), on_dispose);
    h2o_iovec_t token;
    const char *why;
    int jerr;

    memset(ar, 0, sizeof(*ar));
    ar->ctx = ctx;
    ar->req = req;
    as_http_client_address(req, ar->address);
    switch (as_http_bearer_token(req, &token)) {
    case 0:
        break;
    case AS_ERR_DUPLICATE:
        as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, "more than one Authorization header");
        return;
    default:
        as_http_bearer_error(req, AS_BEARER_MISSING, "an access token is required (Authorization: Bearer)");
        return;
    }
    ar->keys = as_keyview_hold(ctx->keys);
    as_jwt_expect_t expect = {.issuer = ctx->config->issuer, .audience = NULL, .now = (int64_t)time(NULL), .leeway = 0};
    if ((jerr = as_jwt_verify_access(token.base, token.len, as_keyset_find, ar->keys->set, &expect, &ar->jwt)) != 0) {
        as_http_bearer_error(req, AS_BEARER_INVALID_TOKEN, as_strerror(jerr));
        return;
    }
    if (ar->jwt.token_version == 0 || !as_is_uuid(ar->jwt.subject)) {
        as_http_bearer_error(req, AS_BEARER_INSUFFICIENT_SCOPE, "a user's access token is required");
        return;
    }

    if (as_http_read_form(req, &ar->form, &why) != 0) {
        as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, why, 0);
        return;
    }
    ar->current = as_form_get(&ar->form, "current_password");
    ar->new_password = as_form_get(&ar->form, "new_password");
    if (ar->current == NULL || ar->new_password == NULL) {
        as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, "missing current_password or new_password", 0);
        return;
    }
    if (ar->current->len > AS_PASSWORD_MAX) {
        as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, "the current password is longer than 1024 bytes", 0);
        return;
    }
    /* NIST SP 800-63B §5.1.1.2: the reason is told (which rule), never the password */
    if (as_policy_check(ctx->config->password_policy, ar->new_password->base, ar->new_password->len, &why) != 0) {
        as_info("self-service password change refused for user %s: %s", ar->jwt.subject, why);
        as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, why, 0);
        return;
    }
    /* a token revoked through /oauth2/revoke (a logout) must not be able to do this */
    as_store_access_status(ctx->db, &req->pool, ar->jwt.subject, ar->jwt.jti, ar->jwt.token_version, on_status, ar, &ar->job);
}
