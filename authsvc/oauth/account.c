/*
 * POST /account/password — a user changes their own password with an access
 * token (Bearer, RFC 6750) and the current password. In one transaction the new
 * hash is stored, the token_version incremented and every refresh family
 * revoked; the caller gets a fresh token pair for the client it used, and every
 * other session of the user ends (the revocation feed and introspection report
 * the old access tokens at once).
 *
 * The current password goes through the one password check (oauth/password),
 * as a login does: the same brute-force throttling per (username, address) and
 * per address (429 slow_down with Retry-After, and no argon2 verification, when
 * throttled), the same audited failures. A stolen access token therefore buys
 * no more guesses at the password than the sign-in page would.
 */
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/bearer.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/oauth/password.h"

typedef struct st_account_req_t {
    as_oauth__bearer_t bearer; /* first (as_oauth__bearer_new) */
    as_password_check_t pw;  /* the current password's check in flight */
    as_pwcheck_job_t *pwjob; /* the new password's hash in flight */
    char address[AS_HTTP_ADDRESS_MAX];
    const h2o_iovec_t *current, *new_password;
    const as_user_t *user;
    const as_client_t *client;
    int64_t new_version;
    as_refresh_token_t refresh;
} account_req_t;

static void on_dispose(void *p)
{
    account_req_t *ar = p;
    as_password_check_cancel(&ar->pw);
    as_pwcheck_cancel(ar->pwjob);
    ar->pwjob = NULL;
    as_oauth__bearer_dispose(&ar->bearer);
    as_wipe(&ar->refresh, sizeof(ar->refresh));
}

static void send_result(account_req_t *ar, int with_refresh)
{
    as_token_response_t r = {.subject = ar->user->id,
                             .token_version = ar->new_version,
                             .scope = ar->bearer.jwt.scope,
                             .refresh = with_refresh ? &ar->refresh : NULL,
                             .token_version_member = ar->new_version};
    as_oauth_send_tokens(ar->bearer.req, ar->bearer.ctx->config, ar->bearer.keys->set, ar->client, &r);
}

static void on_family_created(void *ctx, int err, const as_refresh_t *r)
{
    account_req_t *ar = ctx;
    (void)r;
    ar->bearer.job = NULL;
    /* the password is changed whatever happens here: without a new refresh token the user simply logs in again */
    send_result(ar, err == 0);
}

static void on_client(void *ctx, int err, const as_client_t *client)
{
    account_req_t *ar = ctx;
    as_oauth__bearer_t *b = &ar->bearer;
    b->job = NULL;
    if (err != 0) {
        /* the change is committed; the calling client is gone or unreachable: report the change only */
        json_t *body = json_pack("{s:I}", "token_version", (json_int_t)ar->new_version);
        as_http_send_json(b->req, 200, body, AS_RESP_NO_STORE);
        return;
    }
    ar->client = client;
    if (client->grants & AS_GRANT_REFRESH_TOKEN) {
        const as_oauth_config_t *cfg = b->ctx->config;
        uint8_t hash[AS_SHA256_LEN];
        char family[37];
        as_refresh_first(cfg->refresh_format, &ar->refresh);
        as_refresh_hash(&ar->refresh, hash);
        as_refresh_family_text(&ar->refresh, family);
        as_store_family_create(b->ctx->db, &b->req->pool, family, cfg->refresh_format, ar->user->id, client->client_id,
                               ar->new_version, b->jwt.scope, hash,
                               client->refresh_idle_ttl > 0 ? client->refresh_idle_ttl : cfg->refresh_idle_ttl,
                               client->refresh_max_ttl > 0 ? client->refresh_max_ttl : cfg->refresh_max_ttl, on_family_created,
                               ar, &b->job);
        return;
    }
    send_result(ar, 0);
}

static void on_changed(void *ctx, int err, int64_t version)
{
    account_req_t *ar = ctx;
    as_oauth__bearer_t *b = &ar->bearer;
    b->job = NULL;
    if (err == AS_ERR_CONFLICT) {
        as_http_bearer_error(b->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    if (err != 0) {
        as_http_oauth_failure(b->req, err);
        return;
    }
    ar->new_version = version;
    as_info("password changed by user %s", ar->user->id);
    as_store_client_get(b->ctx->db, &b->req->pool, b->jwt.client_id, on_client, ar, &b->job);
}

/** The new password's hash, from an argon2 worker. */
static void on_hashed(void *ctx, int err, int match, const char *phc)
{
    account_req_t *ar = ctx;
    as_oauth__bearer_t *b = &ar->bearer;
    (void)match;
    ar->pwjob = NULL;
    if (err != 0 || phc == NULL) {
        as_http_oauth_error(b->req, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many password operations in progress, retry shortly", 0);
        return;
    }
    as_store_password_change(b->ctx->db, &b->req->pool, ar->user->id, h2o_strdup(&b->req->pool, phc, SIZE_MAX).base,
                             b->jwt.token_version, on_changed, ar, &b->job);
}

/** The current password's check (oauth/password): throttled, wrong, or right — then the new one is hashed. */
static void on_current(as_password_check_t *check, const as_password_outcome_t *outcome)
{
    account_req_t *ar = H2O_STRUCT_FROM_MEMBER(account_req_t, pw, check);
    as_oauth__bearer_t *b = &ar->bearer;

    switch (outcome->result) {
    case AS_PASSWORD_OK:
        break;
    case AS_PASSWORD_WRONG:
        as_info("self-service password change refused (wrong current password) for user %s", ar->user->id);
        as_http_oauth_error(b->req, AS_OAUTH_INVALID_GRANT, "the current password is wrong", 0);
        return;
    case AS_PASSWORD_THROTTLED:
        as_http_oauth_throttled(b->req, outcome->retry_after, "too many failed logins: retry after the time given");
        return;
    case AS_PASSWORD_BUSY:
        as_http_oauth_error(b->req, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many password operations in progress, retry shortly", 0);
        return;
    case AS_PASSWORD_UNAVAILABLE:
        as_http_oauth_failure(b->req, outcome->err);
        return;
    }
    /* the name was looked up again: it must still be the token's user, of the token's version */
    if (strcmp(outcome->user->id, ar->user->id) != 0 || outcome->user->token_version != b->jwt.token_version) {
        as_http_bearer_error(b->req, AS_BEARER_INVALID_TOKEN, "the access token was revoked");
        return;
    }
    ar->pwjob = as_pwcheck_hash(b->ctx->pwcheck, b->ctx->pwcheck_receiver, ar->address, ar->user->id, ar->new_password->base,
                                ar->new_password->len, on_hashed, ar);
}

/** The token is good and its user current: check the current password as a login would. */
static void on_user(as_oauth__bearer_t *b, const as_user_t *user)
{
    account_req_t *ar = H2O_STRUCT_FROM_MEMBER(account_req_t, bearer, b);
    ar->user = user;
    as_password_check(&ar->pw, b->ctx, &b->req->pool, b->jwt.client_id, user->username, strlen(user->username), ar->current->base,
                      ar->current->len, ar->address, on_current);
}

AS_HANDLER(as_oauth_account_password)
{
    as_oauth_ctx_t *ctx = data;
    account_req_t *ar = as_oauth__bearer_new(ctx, req, sizeof(*ar), on_dispose);
    as_form_t *form = &ar->bearer.form;
    h2o_iovec_t token;
    const char *why;

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
    if (as_oauth__bearer_verify(&ar->bearer, token, NULL) != 0)
        return;

    if (as_http_read_form(req, form, &why) != 0) {
        as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, why, 0);
        return;
    }
    ar->current = as_form_get(form, "current_password");
    ar->new_password = as_form_get(form, "new_password");
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
        as_info("self-service password change refused for user %s: %s", ar->bearer.jwt.subject, why);
        as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, why, 0);
        return;
    }
    /* a token revoked through /oauth2/revoke (a logout) must not be able to do this */
    as_oauth__bearer_check(&ar->bearer, 1, on_user);
}
