/*
 * POST /oauth2/token — RFC 6749 §3.2, grants authorization_code (§4.1.3, with
 * PKCE S256, RFC 7636, and an OpenID Connect id_token for the openid scope),
 * client_credentials (§4.4), password (§4.3) and refresh_token (§6), client
 * authentication client_secret_basic, client_secret_post and none (public
 * clients: PKCE is what protects their codes).
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
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/metrics/metrics.h"
#include "authsvc/oauth/bearer.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/oauth/issue.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/oauth/password.h"
#include "authsvc/store/store.h"
#include "authsvc/token/jwt.h"
#include "authsvc/token/grants.h"
#include "authsvc/token/refresh.h"

typedef struct st_token_req_t {
    as_client_req_t cr; /* first: the client-authentication state, with ctx, req and the pending job */
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_password_check_t pw;
    char address[AS_HTTP_ADDRESS_MAX]; /* the client's: the password check is fair and throttled per address */
    as_store_rotation_t *rotation;
    unsigned grant;
    const h2o_iovec_t *scope;
    const h2o_iovec_t *username;
    const h2o_iovec_t *password;
    const h2o_iovec_t *refresh_token;
    const h2o_iovec_t *code, *redirect_uri, *code_verifier;
    const as_client_t *client;
    const as_user_t *user;
    const char *granted_scope;
    int have_refresh;
    as_refresh_token_t presented;              /* the refresh token presented (refresh grant) */
    as_refresh_token_t issued;                 /* the refresh token we answer with */
    char jti[AS_JTI_LEN + 1];                  /* authorization_code: the access token's, recorded with the code */
} token_req_t;

static void on_dispose(void *p)
{
    token_req_t *tr = p;
    as_client_req_dispose(&tr->cr);
    as_password_check_cancel(&tr->pw);
    as_store_rotation_cancel(tr->rotation);
    as_wipe(&tr->presented, sizeof(tr->presented));
    as_wipe(&tr->issued, sizeof(tr->issued));
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
                             .refresh = tr->have_refresh ? &tr->issued : NULL};
    as_oauth_send_tokens(tr->req, tr->ctx->config, tr->cr.keys->set, tr->client, &r);
}

/* --- refresh_token grant --------------------------------------------------------- */

static void on_rotated(void *ctx, int err, const as_refresh_t *r)
{
    token_req_t *tr = ctx;
    tr->cr.job = NULL;
    tr->rotation = NULL;
    AS_METRICS_INC(refresh[as_metrics_refresh_of(err, err == 0 && r->outcome == AS_REFRESH_GRACE)]);
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
    as_refresh_ref_t old = {.hash = old_hash};
    int idle = tr->client->refresh_idle_ttl > 0 ? tr->client->refresh_idle_ttl : tr->ctx->config->refresh_idle_ttl;

    if (tr->refresh_token == NULL) {
        reply_error(tr, AS_OAUTH_INVALID_REQUEST, "missing refresh_token");
        return;
    }
    /* a format-2 token whose tag does not verify was never issued here: refused before any database work */
    if (as_refresh_parse(tr->cr.keys->set->refresh_key, tr->refresh_token->base, tr->refresh_token->len, &tr->presented) != 0 ||
        (tr->presented.format == 2 && tr->presented.gen == AS_REFRESH_GEN_MAX)) {
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
    as_refresh_next(tr->cr.keys->set->refresh_key, &tr->presented, &tr->issued);
    as_refresh_hash(&tr->presented, old_hash);
    as_refresh_hash(&tr->issued, new_hash);
    if (tr->presented.format == 2) {
        old.family = tr->presented.family;
        old.gen = tr->presented.gen;
    }
    tr->rotation = as_store_rotate(tr->ctx->rotator, &tr->req->pool, &old, tr->client->client_id, new_hash, idle,
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

static void on_password_checked(as_password_check_t *check, const as_password_outcome_t *outcome)
{
    token_req_t *tr = H2O_STRUCT_FROM_MEMBER(token_req_t, pw, check);
    switch (outcome->result) {
    case AS_PASSWORD_OK:
        break;
    case AS_PASSWORD_WRONG:
        as_info("password login failed for client %s", tr->client->client_id);
        reply_error(tr, AS_OAUTH_INVALID_GRANT, "invalid username or password");
        return;
    case AS_PASSWORD_THROTTLED:
        as_http_oauth_throttled(tr->req, outcome->retry_after, "too many failed logins: retry after the time given");
        return;
    case AS_PASSWORD_BUSY:
        reply_error(tr, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many logins in progress, retry shortly");
        return;
    case AS_PASSWORD_UNAVAILABLE:
        as_http_oauth_failure(tr->req, outcome->err);
        return;
    }
    tr->user = outcome->user;
    if (tr->client->grants & AS_GRANT_REFRESH_TOKEN) {
        const as_oauth_config_t *cfg = tr->ctx->config;
        uint8_t hash[AS_SHA256_LEN];
        char family[37];
        int idle = tr->client->refresh_idle_ttl > 0 ? tr->client->refresh_idle_ttl : cfg->refresh_idle_ttl;
        int max = tr->client->refresh_max_ttl > 0 ? tr->client->refresh_max_ttl : cfg->refresh_max_ttl;
        as_refresh_first(cfg->refresh_format, &tr->issued);
        as_refresh_hash(&tr->issued, hash);
        as_refresh_family_text(&tr->issued, family);
        as_store_family_create(tr->ctx->db, &tr->req->pool, family, cfg->refresh_format, tr->user->id, tr->client->client_id,
                               tr->user->token_version, tr->granted_scope, hash, idle, max, on_family_created, tr, &tr->cr.job);
        return;
    }
    issue(tr, tr->user->id, tr->user->token_version);
}

static void grant_password(token_req_t *tr)
{
    if (tr->username == NULL || tr->password == NULL) {
        reply_error(tr, AS_OAUTH_INVALID_REQUEST, "missing username or password");
        return;
    }
    as_password_check(&tr->pw, tr->ctx, &tr->req->pool, tr->client->client_id, tr->username->base, tr->username->len, tr->password->base,
                      tr->password->len, tr->address, on_password_checked);
}

/* --- authorization_code grant ------------------------------------------------------------ */

#define BAD_CODE                                                                                                                   \
    "the authorization code is invalid, expired or already used, or was issued for another client, redirect_uri or code_verifier"

static void on_code_redeemed(void *ctx, int err, const as_code_grant_t *g)
{
    token_req_t *tr = ctx;
    tr->cr.job = NULL;
    switch (err) {
    case 0:
        break;
    case AS_ERR_CONFLICT: /* a replay: what the code issued is revoked now (RFC 6749 §4.1.2) */
    case AS_ERR_NOT_FOUND:
        reply_error(tr, AS_OAUTH_INVALID_GRANT, BAD_CODE);
        return;
    default:
        as_http_oauth_failure(tr->req, err);
        return;
    }
    as_token_response_t r = {.subject = g->user_id,
                             .token_version = g->token_version,
                             .scope = g->scope,
                             .refresh = tr->have_refresh ? &tr->issued : NULL,
                             .jti = tr->jti,
                             .id_token = g->scope != NULL && as_oauth__scope_has(g->scope, "openid"),
                             .nonce = g->nonce,
                             .sid = g->session_id,
                             .auth_time = g->auth_time};
    as_oauth_send_tokens(tr->req, tr->ctx->config, tr->cr.keys->set, tr->client, &r);
}

static void grant_code(token_req_t *tr)
{
    const as_oauth_config_t *cfg = tr->ctx->config;
    const as_client_t *client = tr->client;
    uint8_t code_hash[AS_SHA256_LEN], refresh_hash[AS_SHA256_LEN], raw[AS_B64URL_DECLEN(AS_CODE_LEN)];
    char challenge[AS_PKCE_CHALLENGE_LEN + 1], family[37];
    as_code_issue_t issue = {
        .idle_ttl = client->refresh_idle_ttl > 0 ? client->refresh_idle_ttl : cfg->refresh_idle_ttl,
        .max_ttl = client->refresh_max_ttl > 0 ? client->refresh_max_ttl : cfg->refresh_max_ttl,
        .access_ttl = client->access_ttl > 0 ? client->access_ttl : cfg->access_ttl,
        .access_jti = tr->jti,
    };
    int well_formed;

    if (tr->code == NULL || tr->redirect_uri == NULL || tr->code_verifier == NULL) {
        reply_error(tr, AS_OAUTH_INVALID_REQUEST,
                    tr->code == NULL           ? "missing code"
                    : tr->redirect_uri == NULL ? "missing redirect_uri"
                                               : "missing code_verifier");
        return;
    }
    /* a code is 32 random bytes in base64url: anything else cannot be one, nor can a malformed verifier match */
    well_formed = tr->code->len == AS_CODE_LEN && as_b64url_decode(tr->code->base, tr->code->len, raw) == AS_CODE_RAW_LEN &&
                  as_pkce_verifier_valid(tr->code_verifier->base, tr->code_verifier->len) &&
                  tr->redirect_uri->len <= AS_REDIRECT_URI_MAX;
    if (!well_formed) {
        as_wipe(raw, sizeof(raw));
        reply_error(tr, AS_OAUTH_INVALID_GRANT, BAD_CODE);
        return;
    }
    as_sha256(raw, AS_CODE_RAW_LEN, code_hash);
    as_wipe(raw, sizeof(raw));
    as_pkce_s256(tr->code_verifier->base, tr->code_verifier->len, challenge);
    as_jwt_new_jti(tr->jti);
    if (client->grants & AS_GRANT_REFRESH_TOKEN) {
        as_refresh_first(cfg->refresh_format, &tr->issued);
        as_refresh_hash(&tr->issued, refresh_hash);
        as_refresh_family_text(&tr->issued, family);
        issue.family_id = family;
        issue.refresh_hash = refresh_hash;
        issue.refresh_format = cfg->refresh_format;
        tr->have_refresh = 1;
    }
    as_store_code_redeem(tr->ctx->db, &tr->req->pool, code_hash, client->client_id, tr->redirect_uri->base, challenge, &issue,
                         on_code_redeemed, tr, &tr->cr.job);
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
    case AS_GRANT_AUTHORIZATION_CODE:
        grant_code(tr);
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
    as_client_req_allow_origins(&tr->cr); /* browser apps: docs/cors.md */
    tr->ctx = ctx;
    tr->req = req;
    tr->scope = as_form_get(&tr->cr.form, "scope");
    tr->username = as_form_get(&tr->cr.form, "username");
    tr->password = as_form_get(&tr->cr.form, "password");
    tr->refresh_token = as_form_get(&tr->cr.form, "refresh_token");
    tr->code = as_form_get(&tr->cr.form, "code");
    tr->redirect_uri = as_form_get(&tr->cr.form, "redirect_uri");
    tr->code_verifier = as_form_get(&tr->cr.form, "code_verifier");
    if ((grant_type = as_client_req_require(&tr->cr, "grant_type")) == NULL)
        return;
    if (grant_type->len <= 64)
        as_http_annotate(req, "grant", grant_type->base);
    if ((tr->grant = as_grant_parse(grant_type->base, grant_type->len)) == 0) {
        reply_error(tr, AS_OAUTH_UNSUPPORTED_GRANT_TYPE, "unsupported grant_type");
        return;
    }
    if (tr->grant == AS_GRANT_PASSWORD) { /* only the password check needs the address (it formats it: not for every grant) */
        as_http_client_address(req, tr->address);
        if (as_pwcheck_saturated(ctx->pwcheck, tr->address, tr->username != NULL ? tr->username->base : NULL)) {
            reply_error(tr, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "too many logins in progress, retry shortly");
            return;
        }
    }
    as_client_req_authenticate(&tr->cr, on_authenticated);
}
