/*
 * POST /oauth2/token — RFC 6749 §3.2, grants client_credentials (§4.4),
 * password (§4.3) and refresh_token (§6), client authentication
 * client_secret_basic, client_secret_post and none (public clients).
 *
 * The request's state lives in its pool (h2o_mem_alloc_shared); on_dispose
 * cancels whatever is still pending, so a callback never touches a request
 * that is gone.
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/form.h"
#include "authsvc/http/respond.h"
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"
#include "authsvc/token/jwt.h"
#include "authsvc/token/grants.h"
#include "authsvc/token/refresh.h"

typedef struct st_token_req_t {
    as_client_req_t cr; /* first: the client-authentication state, with ctx, req and the pending job */
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_pwcheck_job_t *pwjob;
    char address[AS_HTTP_ADDRESS_MAX]; /* the client's, for fair use of the argon2 workers */
    as_store_rotation_t *rotation;
    unsigned grant;
    const h2o_iovec_t *scope;
    const h2o_iovec_t *username;
    const h2o_iovec_t *password;
    const h2o_iovec_t *refresh_token;
    const as_client_t *client;
    const as_user_t *user;
    const char *granted_scope;
    int have_refresh;
    uint8_t refresh_raw[AS_REFRESH_RAW_LEN];   /* the token presented (refresh grant) */
    uint8_t issued_raw[AS_REFRESH_RAW_LEN];    /* the refresh token we answer with */
} token_req_t;

static void on_dispose(void *p)
{
    token_req_t *tr = p;
    as_client_req_dispose(&tr->cr);
    as_pwcheck_cancel(tr->pwjob);
    as_store_rotation_cancel(tr->rotation);
    as_wipe(tr->refresh_raw, sizeof(tr->refresh_raw));
    as_wipe(tr->issued_raw, sizeof(tr->issued_raw));
}

static void reply_error(token_req_t *tr, as_oauth_error_t error, const char *description)
{
    as_client_req_error(&tr->cr, error, description);
}

/* --- issuing ------------------------------------------------------------------ */

static void issue(token_req_t *tr, const char *subject, int64_t token_version)
{
    as_token_response_t r = {.subject = subject,
                             .token_version = token_version,
                             .scope = tr->granted_scope,
                             .refresh = tr->have_refresh ? tr->issued_raw : NULL};
    as_oauth_send_tokens(tr->req, tr->ctx->config, tr->cr.keys->set, tr->client, &r);
}

/* --- refresh_token grant --------------------------------------------------------- */

static void on_rotated(void *ctx, int err, const as_refresh_t *r)
{
    token_req_t *tr = ctx;
    tr->cr.job = NULL;
    tr->rotation = NULL;
    switch (err) {
    case 0:
        break;
    case AS_ERR_NOT_FOUND:
    case AS_ERR_CONFLICT: /* reuse: the family is revoked now; say no more than for any bad token */
        reply_error(tr, AS_OAUTH_INVALID_GRANT, "the refresh token is invalid, expired, revoked or was already used");
        return;
    case AS_ERR_BAD_INPUT:
        reply_error(tr, AS_OAUTH_INVALID_SCOPE, "the requested scope exceeds the original grant");
        return;
    default:
        as_http_oauth_failure(tr->req, err);
        return;
    }
    if (tr->scope != NULL) {
        /* the statement already checked that the requested scope is within the family's */
        as_strlist_t family_scope = as_scope_split(&tr->req->pool, r->scope);
        if (as_scope_resolve(&tr->req->pool, tr->scope, &family_scope, &tr->granted_scope) != 0) {
            reply_error(tr, AS_OAUTH_INVALID_SCOPE, "the requested scope exceeds the original grant");
            return;
        }
    } else {
        tr->granted_scope = r->scope;
    }
    tr->have_refresh = 1;
    issue(tr, r->user_id, r->token_version);
}

static void grant_refresh(token_req_t *tr)
{
    uint8_t old_hash[AS_SHA256_LEN], new_hash[AS_SHA256_LEN];
    int idle = tr->client->refresh_idle_ttl > 0 ? tr->client->refresh_idle_ttl : tr->ctx->config->refresh_idle_ttl;

    if (tr->refresh_token == NULL) {
        reply_error(tr, AS_OAUTH_INVALID_REQUEST, "missing refresh_token");
        return;
    }
    if (as_refresh_parse(tr->refresh_token->base, tr->refresh_token->len, tr->refresh_raw) != 0) {
        reply_error(tr, AS_OAUTH_INVALID_GRANT, "the refresh token is invalid, expired, revoked or was already used");
        return;
    }
    if (tr->scope != NULL) {
        /* syntax and the client's own scopes first; the family's scope is checked by the statement */
        const char *ignored;
        if (as_scope_resolve(&tr->req->pool, tr->scope, &tr->client->scopes, &ignored) != 0) {
            reply_error(tr, AS_OAUTH_INVALID_SCOPE, "the requested scope is invalid or not allowed for this client");
            return;
        }
    }
    as_refresh_successor(tr->cr.keys->set->refresh_key, tr->refresh_raw, tr->issued_raw);
    as_refresh_hash(tr->refresh_raw, old_hash);
    as_refresh_hash(tr->issued_raw, new_hash);
    tr->rotation = as_store_rotate(tr->ctx->rotator, &tr->req->pool, old_hash, tr->client->client_id, new_hash, idle,
                                   tr->ctx->config->refresh_grace, tr->scope != NULL ? tr->scope->base : NULL, on_rotated, tr,
                                   &tr->cr.job);
}

/* --- password grant ------------------------------------------------------------------ */

static void on_family_created(void *ctx, int err, const as_refresh_t *r)
{
    token_req_t *tr = ctx;
    tr->cr.job = NULL;
    if (err == AS_ERR_CONFLICT) {
        /* the password changed or the user was disabled while we were checking the old one */
        reply_error(tr, AS_OAUTH_INVALID_GRANT, "invalid username or password");
        return;
    }
    if (err != 0) {
        as_http_oauth_failure(tr->req, err);
        return;
    }
    tr->have_refresh = 1;
    issue(tr, r->user_id, r->token_version);
}

static void on_password_checked(void *ctx, int err, int match, const char *phc)
{
    (void)phc;
    token_req_t *tr = ctx;
    tr->pwjob = NULL;
    if (err != 0) {
        reply_error(tr, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many logins in progress, retry shortly");
        return;
    }
    if (!match || tr->user == NULL || tr->user->disabled) {
        as_info("password login failed for client %s", tr->client->client_id);
        reply_error(tr, AS_OAUTH_INVALID_GRANT, "invalid username or password");
        return;
    }
    if (tr->client->grants & AS_GRANT_REFRESH_TOKEN) {
        const as_oauth_config_t *cfg = tr->ctx->config;
        uint8_t hash[AS_SHA256_LEN];
        int idle = tr->client->refresh_idle_ttl > 0 ? tr->client->refresh_idle_ttl : cfg->refresh_idle_ttl;
        int max = tr->client->refresh_max_ttl > 0 ? tr->client->refresh_max_ttl : cfg->refresh_max_ttl;
        as_refresh_new(tr->issued_raw);
        as_refresh_hash(tr->issued_raw, hash);
        as_store_family_create(tr->ctx->db, &tr->req->pool, tr->user->id, tr->client->client_id, tr->user->token_version,
                               tr->granted_scope, hash, idle, max, on_family_created, tr, &tr->cr.job);
        return;
    }
    issue(tr, tr->user->id, tr->user->token_version);
}

static void on_user(void *ctx, int err, const as_user_t *user)
{
    token_req_t *tr = ctx;
    tr->cr.job = NULL;
    if (err != 0 && err != AS_ERR_NOT_FOUND) {
        as_http_oauth_failure(tr->req, err);
        return;
    }
    /* an unknown user costs one argon2id verification too, so timing does not reveal which names exist */
    tr->user = user;
    tr->pwjob = as_pwcheck_verify(tr->ctx->pwcheck, tr->ctx->pwcheck_receiver, tr->address, tr->username->base,
                                  user != NULL ? user->password_hash : tr->ctx->config->dummy_hash, tr->password->base,
                                  tr->password->len, on_password_checked, tr);
}

static void grant_password(token_req_t *tr)
{
    if (tr->username == NULL || tr->password == NULL) {
        reply_error(tr, AS_OAUTH_INVALID_REQUEST, "missing username or password");
        return;
    }
    if (tr->username->len > 255 || tr->password->len > AS_PASSWORD_MAX) {
        reply_error(tr, AS_OAUTH_INVALID_GRANT, "invalid username or password");
        return;
    }
    as_store_user_by_name(tr->ctx->db, &tr->req->pool, tr->username->base, on_user, tr, &tr->cr.job);
}

/* --- dispatch ------------------------------------------------------------------------------ */

static void on_authenticated(as_client_req_t *cr, const as_client_t *client)
{
    token_req_t *tr = (token_req_t *)cr;

    tr->client = client;
    if ((client->grants & tr->grant) == 0) {
        reply_error(tr, AS_OAUTH_UNAUTHORIZED_CLIENT, "the client is not allowed this grant type");
        return;
    }
    switch (tr->grant) {
    case AS_GRANT_CLIENT_CREDENTIALS:
        if (as_scope_resolve(&tr->req->pool, tr->scope, &client->scopes, &tr->granted_scope) != 0) {
            reply_error(tr, AS_OAUTH_INVALID_SCOPE, "the requested scope is invalid or not allowed for this client");
            return;
        }
        issue(tr, client->client_id, 0);
        break;
    case AS_GRANT_PASSWORD:
        if (as_scope_resolve(&tr->req->pool, tr->scope, &client->scopes, &tr->granted_scope) != 0) {
            reply_error(tr, AS_OAUTH_INVALID_SCOPE, "the requested scope is invalid or not allowed for this client");
            return;
        }
        grant_password(tr);
        break;
    case AS_GRANT_REFRESH_TOKEN:
        grant_refresh(tr);
        break;
    }
}

AS_HANDLER(as_oauth_token)
{
    as_oauth_ctx_t *ctx = data;
    token_req_t *tr = as_client_req_new(ctx, req, sizeof(*tr), on_dispose);
    const h2o_iovec_t *grant_type;

    if (tr == NULL)
        return;
    tr->ctx = ctx;
    tr->req = req;
    tr->scope = as_form_get(&tr->cr.form, "scope");
    tr->username = as_form_get(&tr->cr.form, "username");
    tr->password = as_form_get(&tr->cr.form, "password");
    tr->refresh_token = as_form_get(&tr->cr.form, "refresh_token");
    if ((grant_type = as_client_req_require(&tr->cr, "grant_type")) == NULL)
        return;
    if (grant_type->len <= 64)
        as_http_annotate(req, "grant", grant_type->base);
    /* authorization_code is a grant type clients are registered for, but not one this endpoint redeems yet */
    if ((tr->grant = as_grant_parse(grant_type->base, grant_type->len)) == 0 || tr->grant == AS_GRANT_AUTHORIZATION_CODE) {
        reply_error(tr, AS_OAUTH_UNSUPPORTED_GRANT_TYPE, "unsupported grant_type");
        return;
    }
    as_http_client_address(req, tr->address);
    if (tr->grant == AS_GRANT_PASSWORD &&
        as_pwcheck_saturated(ctx->pwcheck, tr->address, tr->username != NULL ? tr->username->base : NULL)) {
        reply_error(tr, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many logins in progress, retry shortly");
        return;
    }
    as_client_req_authenticate(&tr->cr, on_authenticated);
}
