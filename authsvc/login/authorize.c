/*
 * GET and POST /oauth2/authorize — the authorization endpoint (RFC 6749 §4.1,
 * OpenID Connect Core §3.1.2) and the hosted sign-in and consent pages, whose
 * forms post back here with the authorization request in hidden fields.
 *
 * A request goes: read the parameters (query or form) → the client and its
 * redirect URI (until both are known good, an error is an HTML page, 400,
 * never a redirect: RFC 6749 §4.1.2.1) → the rest of the request (errors now
 * go back to the client in the redirect) → then, by what was submitted:
 *   nothing (a plain authorization request): the SSO session of the cookie
 *     → the sign-in page, or login_required for prompt=none, when there is
 *     none or it is too old for prompt=login / max_age;
 *   the sign-in form: its CSRF token (login/csrf.c) → the password
 *     (oauth/password) → a new SSO session and its cookie;
 *   the consent form: the session → its CSRF token → the decision;
 * → consent, for third-party clients only (the page, or consent_required for
 * prompt=none) → a code (single use, code_ttl, bound to client, redirect URI,
 * PKCE challenge, nonce and session; only its hash stored) → the redirect with
 * code, state and iss (RFC 9207): 302 after a GET, 303 after a POST (RFC 9700
 * §4.12: never replay a body holding a password).
 *
 * The request's state lives in its pool (h2o_mem_alloc_shared); on_dispose
 * cancels whatever is pending (a query, a password check) when the request
 * goes away first, and wipes what it held.
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/login/authz.h"
#include "authsvc/login/csrf.h"
#include "authsvc/login/login.h"
#include "authsvc/login/page.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/oauth/password.h"
#include "authsvc/store/store.h"
#include "authsvc/token/grants.h"

#define FORM_TTL 900 /* seconds a shown form, and the attempt cookie behind it, stay usable */
#define SESSION_COOKIE_RAW_LEN 32
#define SESSION_COOKIE_LEN AS_B64URL_ENCLEN(SESSION_COOKIE_RAW_LEN)

/* What a POST submits. */
enum { STEP_NONE, STEP_LOGIN, STEP_CONSENT };

typedef struct st_authz_req_t {
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_keyhold_t *keys;
    as_pool_job_t *job;     /* the database job in flight */
    as_password_check_t pw; /* the password check in flight */
    as_form_t params;       /* the query string (GET) or the form (POST) */
    int is_post, step;
    as_authz_t a;
    const as_client_t *client;
    const char *client_name;
    const char *form_target; /* what the pages' CSP form-action allows besides 'self' */
    uint8_t request_digest[AS_SHA256_LEN];
    uint8_t csrf_key[AS_LOGIN_CSRF_KEY_LEN];
    uint8_t attempt[AS_LOGIN_ATTEMPT_RAW_LEN];
    int have_attempt;
    uint8_t cookie_hash[AS_SHA256_LEN]; /* the session cookie the browser sent, hashed */
    int have_cookie;
    const as_session_t *session;
    int fresh_login; /* the password was entered in this very request */
    char new_cookie[SESSION_COOKIE_LEN + 1];
    char code[AS_CODE_LEN + 1];
} authz_req_t;

static void on_dispose(void *p)
{
    authz_req_t *ar = p;
    as_pool_cancel(ar->job);
    ar->job = NULL;
    as_password_check_cancel(&ar->pw);
    as_keyhold_release(ar->keys);
    ar->keys = NULL;
    /* the pool is not zeroed when cleared: the form held a password */
    as_form_wipe(&ar->params);
    as_wipe(ar->csrf_key, sizeof(ar->csrf_key));
    as_wipe(ar->cookie_hash, sizeof(ar->cookie_hash));
    as_wipe(ar->new_cookie, sizeof(ar->new_cookie));
    as_wipe(ar->code, sizeof(ar->code));
}

static const char *attempt_cookie_name(const as_oauth_config_t *cfg)
{
    return cfg->cookie_secure ? "__Host-authsvc-attempt" : "authsvc-attempt";
}

static int cookie_flags(const as_oauth_config_t *cfg)
{
    return cfg->cookie_secure ? AS_COOKIE_SECURE : 0;
}

/* --- answers ------------------------------------------------------------------------------ */

/** An error page: the request cannot be trusted enough to send the browser back (or the database is down). */
static void error_page(authz_req_t *ar, int status, const char *title, const char *message)
{
    h2o_iovec_t body = as_login__page_error(&ar->req->pool, title, message);
    as_http_send_html(ar->req, status, body.base, body.len);
}

static void redirect(authz_req_t *ar, const char *const *names, const char *const *values, size_t n)
{
    const char *url = as_login__redirect_url(&ar->req->pool, ar->a.redirect_uri, names, values, n);
    as_http_redirect(ar->req, ar->is_post ? AS_REDIRECT_SEE_OTHER : AS_REDIRECT_FOUND, url);
}

/** The error response of RFC 6749 §4.1.2.1, to the trusted redirect URI. */
static void redirect_error(authz_req_t *ar, as_authz_error_t error, const char *description)
{
    const char *names[] = {"error", "error_description", "state", "iss"};
    const char *values[] = {as_login__authz_error_name(error), description, ar->a.state, ar->ctx->config->issuer};
    as_http_annotate(ar->req, "error", values[0]);
    redirect(ar, names, values, 4);
}

/** A store failure once the redirect URI is trusted: the client hears of it. */
static void store_failure(authz_req_t *ar, int err)
{
    if (err == AS_ERR_DB_UNAVAILABLE || err == AS_ERR_DB_TIMEOUT || err == AS_ERR_BUSY)
        redirect_error(ar, AS_AUTHZ_TEMPORARILY_UNAVAILABLE, "the service is temporarily unavailable, retry shortly");
    else
        redirect_error(ar, AS_AUTHZ_SERVER_ERROR, "internal error");
}

/**
 * A database job of the request ended with `err`: the request's state, or NULL once a failure other than
 * `expected` (0: none) has been answered. Every store callback starts here.
 */
static authz_req_t *job_done(void *ctx, int err, int expected)
{
    authz_req_t *ar = ctx;
    ar->job = NULL;
    if (err != 0 && err != expected) {
        store_failure(ar, err);
        return NULL;
    }
    return ar;
}

/** The attempt cookie behind the forms: the browser's own, or a new one; its lifetime renewed. */
static void set_attempt_cookie(authz_req_t *ar)
{
    char text[AS_LOGIN_ATTEMPT_LEN + 1];
    if (!ar->have_attempt) {
        as_random_bytes(ar->attempt, sizeof(ar->attempt));
        ar->have_attempt = 1;
    }
    as_b64url_encode(ar->attempt, sizeof(ar->attempt), text);
    as_http_set_cookie(ar->req, attempt_cookie_name(ar->ctx->config), h2o_strdup(&ar->req->pool, text, SIZE_MAX).base, FORM_TTL,
                       cookie_flags(ar->ctx->config));
}

static void mint(authz_req_t *ar, as_csrf_form_t form, char token[AS_LOGIN_CSRF_LEN + 1])
{
    as_csrf_binding_t b = {.form = form,
                           .attempt = ar->attempt,
                           .session_id = form == AS_CSRF_CONSENT ? ar->session->id : NULL,
                           .request = ar->request_digest};
    as_login__csrf_mint(ar->csrf_key, &b, (int64_t)time(NULL) + FORM_TTL, token);
}

/** The sign-in page: 200 when asked for, 400 after a failed submission, 503 when the password workers are full. */
static void show_signin(authz_req_t *ar, int status, const char *error, const char *username)
{
    char token[AS_LOGIN_CSRF_LEN + 1];
    set_attempt_cookie(ar);
    mint(ar, AS_CSRF_LOGIN, token);
    if (username == NULL)
        username = ar->a.login_hint;
    as_login_page_t page = {.client_name = ar->client_name,
                            .request = &ar->params,
                            .csrf = h2o_strdup(&ar->req->pool, token, SIZE_MAX).base,
                            .error = error,
                            .username = username != NULL && strlen(username) <= AS_USERNAME_MAX ? username : NULL};
    h2o_iovec_t body = as_login__page_signin(&ar->req->pool, &page);
    as_http_send_html_form(ar->req, status, body.base, body.len, ar->form_target);
}

static void show_consent(authz_req_t *ar, int status, const char *error)
{
    char token[AS_LOGIN_CSRF_LEN + 1];
    set_attempt_cookie(ar);
    mint(ar, AS_CSRF_CONSENT, token);
    as_login_page_t page = {.client_name = ar->client_name,
                            .request = &ar->params,
                            .csrf = h2o_strdup(&ar->req->pool, token, SIZE_MAX).base,
                            .error = error,
                            .username = ar->session->username,
                            .scope = ar->a.scope};
    h2o_iovec_t body = as_login__page_consent(&ar->req->pool, &page);
    as_http_send_html_form(ar->req, status, body.base, body.len, ar->form_target);
}

/* --- the code ------------------------------------------------------------------------------ */

static void on_code_created(void *ctx, int err)
{
    authz_req_t *ar = job_done(ctx, err, 0);
    if (ar == NULL)
        return;
    as_debug("authorization code issued to client %s", ar->client->client_id);
    const char *names[] = {"code", "state", "iss"};
    const char *values[] = {ar->code, ar->a.state, ar->ctx->config->issuer};
    redirect(ar, names, values, 3);
}

static void issue_code(authz_req_t *ar)
{
    uint8_t raw[AS_CODE_RAW_LEN], hash[AS_SHA256_LEN];
    as_random_bytes(raw, sizeof(raw));
    as_b64url_encode(raw, sizeof(raw), ar->code);
    as_sha256(raw, sizeof(raw), hash);
    as_wipe(raw, sizeof(raw));
    as_code_t code = {.hash = hash,
                      .client_id = ar->client->client_id,
                      .session_id = ar->session->id,
                      .user_id = ar->session->user_id,
                      .redirect_uri = ar->a.redirect_uri,
                      .code_challenge = ar->a.code_challenge,
                      .scope = ar->a.scope,
                      .nonce = ar->a.nonce,
                      .ttl = ar->ctx->config->code_ttl};
    as_store_code_create(ar->ctx->db, &ar->req->pool, &code, on_code_created, ar, &ar->job);
}

/* --- consent (third-party clients only) --------------------------------------------------- */

/** 1 if every token of `requested` is in `approved` (space-separated both). */
static int scope_covered(const char *requested, const char *approved)
{
    for (const char *p = requested; *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t n = sp != NULL ? (size_t)(sp - p) : strlen(p);
        int found = 0;
        for (const char *q = approved; *q != '\0' && !found;) {
            const char *qs = strchr(q, ' ');
            size_t m = qs != NULL ? (size_t)(qs - q) : strlen(q);
            found = m == n && memcmp(p, q, n) == 0;
            q += m;
            while (*q == ' ')
                ++q;
        }
        if (!found)
            return 0;
        p += n;
        while (*p == ' ')
            ++p;
    }
    return 1;
}

static void on_consent(void *ctx, int err, const char *approved)
{
    authz_req_t *ar = job_done(ctx, err, AS_ERR_NOT_FOUND);
    if (ar == NULL)
        return;
    if (err == 0 && (ar->a.prompt & AS_PROMPT_CONSENT) == 0 && scope_covered(ar->a.scope, approved)) {
        issue_code(ar);
        return;
    }
    if (ar->a.prompt & AS_PROMPT_NONE) {
        redirect_error(ar, AS_AUTHZ_CONSENT_REQUIRED, "the user has not approved this client's access");
        return;
    }
    show_consent(ar, 200, NULL);
}

/** The user is known (ar->session): consent if the client is a third party's, then the code. */
static void after_login(authz_req_t *ar)
{
    if (!ar->client->consent) {
        issue_code(ar);
        return;
    }
    as_store_consent_get(ar->ctx->db, &ar->req->pool, ar->session->user_id, ar->client->client_id, on_consent, ar, &ar->job);
}

static void on_consent_stored(void *ctx, int err)
{
    authz_req_t *ar = job_done(ctx, err, 0);
    if (ar != NULL)
        issue_code(ar);
}

/** The consent form's decision, its token checked and spent. */
static void submit_consent(authz_req_t *ar)
{
    const h2o_iovec_t *decision = as_form_get(&ar->params, "decision");
    if (decision != NULL && h2o_memis(decision->base, decision->len, H2O_STRLIT("approve"))) {
        as_info("user %s approved scope \"%s\" for client %s", ar->session->user_id, ar->a.scope, ar->client->client_id);
        as_store_consent_put(ar->ctx->db, &ar->req->pool, ar->session->user_id, ar->client->client_id, ar->a.scope,
                             on_consent_stored, ar, &ar->job);
        return;
    }
    if (decision != NULL && h2o_memis(decision->base, decision->len, H2O_STRLIT("deny"))) {
        redirect_error(ar, AS_AUTHZ_ACCESS_DENIED, "the user denied the request");
        return;
    }
    show_consent(ar, 400, "Choose Allow or Deny.");
}

/* --- the sign-in form ----------------------------------------------------------------------- */

static void on_session_created(void *ctx, int err, const as_session_t *session)
{
    authz_req_t *ar = job_done(ctx, err, AS_ERR_CONFLICT);
    if (ar == NULL)
        return;
    if (err == AS_ERR_CONFLICT) {
        /* the password changed or the user was disabled while the old one was being checked */
        show_signin(ar, 400, "The username or password is incorrect.", as_form_get(&ar->params, "username")->base);
        return;
    }
    const as_oauth_config_t *cfg = ar->ctx->config;
    as_http_set_cookie(ar->req, cfg->session_cookie, h2o_strdup(&ar->req->pool, ar->new_cookie, SIZE_MAX).base,
                       cfg->session_max_ttl, cookie_flags(cfg));
    as_info("user %s signed in (session %s) for client %s", session->user_id, session->id, ar->client->client_id);
    ar->session = session;
    ar->fresh_login = 1;
    after_login(ar);
}

static void on_password(as_password_check_t *check, const as_password_outcome_t *outcome)
{
    authz_req_t *ar = H2O_STRUCT_FROM_MEMBER(authz_req_t, pw, check);
    const char *username = as_form_get(&ar->params, "username")->base;
    const as_oauth_config_t *cfg = ar->ctx->config;
    uint8_t raw[SESSION_COOKIE_RAW_LEN], hash[AS_SHA256_LEN];

    switch (outcome->result) {
    case AS_PASSWORD_OK:
        break;
    case AS_PASSWORD_WRONG:
        as_info("sign-in failed for client %s", ar->client->client_id);
        show_signin(ar, 400, "The username or password is incorrect.", username);
        return;
    case AS_PASSWORD_THROTTLED: {
        char retry[16];
        snprintf(retry, sizeof(retry), "%d", outcome->retry_after);
        h2o_add_header(&ar->req->pool, &ar->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                       h2o_strdup(&ar->req->pool, retry, SIZE_MAX).base, strlen(retry));
        show_signin(ar, 429, "Too many failed sign-ins. Please wait a little before you try again.", username);
        return;
    }
    case AS_PASSWORD_BUSY:
        show_signin(ar, 503, "Too many sign-ins are in progress. Please try again in a moment.", username);
        return;
    case AS_PASSWORD_UNAVAILABLE:
        store_failure(ar, outcome->err);
        return;
    }
    /* the SSO session: the cookie's value is 32 random bytes, the database keeps only their SHA-256 */
    as_random_bytes(raw, sizeof(raw));
    as_b64url_encode(raw, sizeof(raw), ar->new_cookie);
    as_sha256(raw, sizeof(raw), hash);
    as_wipe(raw, sizeof(raw));
    /* the browser's previous session, if it brought one (prompt=login, max_age, another user), ends with it */
    as_store_session_create(ar->ctx->db, &ar->req->pool, hash, ar->have_cookie ? ar->cookie_hash : NULL, outcome->user->id,
                            outcome->user->token_version,
                            cfg->session_idle_ttl, cfg->session_max_ttl, on_session_created, ar, &ar->job);
}

/** The sign-in form's username and password, its token checked and spent. */
static void submit_login(authz_req_t *ar)
{
    const h2o_iovec_t *username = as_form_get(&ar->params, "username"), *password = as_form_get(&ar->params, "password");
    char address[AS_HTTP_ADDRESS_MAX];

    if (username == NULL || password == NULL) {
        show_signin(ar, 400, "Enter your username and password.", username != NULL ? username->base : NULL);
        return;
    }
    as_http_client_address(ar->req, address);
    as_password_check(&ar->pw, ar->ctx, &ar->req->pool, ar->client->client_id, username->base, username->len, password->base, password->len,
                      h2o_strdup(&ar->req->pool, address, SIZE_MAX).base, on_password);
}

/* --- the forms' tokens ---------------------------------------------------------------------- */

/** A form whose token is missing, forged, expired, of another browser or request, or spent: show it afresh. */
static void form_refused(authz_req_t *ar)
{
    as_info("a %s form for client %s was refused: its token is missing, invalid, expired or was used before",
            ar->step == STEP_LOGIN ? "sign-in" : "consent", ar->client->client_id);
    if (ar->step == STEP_LOGIN)
        show_signin(ar, 400, "This sign-in form has expired or was already used. Please sign in again.", NULL);
    else
        show_consent(ar, 400, "This form has expired or was already used. Please choose again.");
}

static void on_token_spent(void *ctx, int err)
{
    authz_req_t *ar = job_done(ctx, err, AS_ERR_CONFLICT);
    if (ar == NULL)
        return;
    if (err == AS_ERR_CONFLICT) {
        form_refused(ar);
        return;
    }
    if (ar->step == STEP_LOGIN)
        submit_login(ar);
    else
        submit_consent(ar);
}

/** Checks the submitted form's token, then spends it (once only) before anything else is done. */
static void check_form(authz_req_t *ar)
{
    const h2o_iovec_t *token = as_form_get(&ar->params, "csrf_token");
    as_csrf_binding_t b = {.form = ar->step == STEP_LOGIN ? AS_CSRF_LOGIN : AS_CSRF_CONSENT,
                           .attempt = ar->attempt,
                           .session_id = ar->step == STEP_CONSENT ? ar->session->id : NULL,
                           .request = ar->request_digest};
    uint8_t hash[AS_SHA256_LEN];
    int64_t expires_at;

    if (token == NULL || !ar->have_attempt ||
        as_login__csrf_verify(ar->csrf_key, &b, (int64_t)time(NULL), token->base, token->len, &expires_at) != 0) {
        form_refused(ar);
        return;
    }
    as_sha256(token->base, token->len, hash);
    as_store_form_token_use(ar->ctx->db, &ar->req->pool, hash, expires_at, on_token_spent, ar, &ar->job);
}

/* --- the SSO session ------------------------------------------------------------------------- */

/** 1 if the session cannot stand for this request: prompt=login, or a password older than max_age. */
static int needs_password(authz_req_t *ar)
{
    if (ar->fresh_login)
        return 0;
    if (ar->a.prompt & AS_PROMPT_LOGIN)
        return 1;
    return ar->a.max_age >= 0 && (int64_t)time(NULL) - ar->session->auth_time >= ar->a.max_age;
}

static void on_session(void *ctx, int err, const as_session_t *session)
{
    authz_req_t *ar = job_done(ctx, err, AS_ERR_NOT_FOUND);
    if (ar == NULL)
        return;
    ar->session = session;
    if (ar->step == STEP_CONSENT) {
        if (session == NULL) {
            show_signin(ar, 400, "Your sign-in has ended. Please sign in again.", NULL);
            return;
        }
        check_form(ar);
        return;
    }
    if (session != NULL && !needs_password(ar)) {
        after_login(ar);
        return;
    }
    if (ar->a.prompt & AS_PROMPT_NONE) {
        redirect_error(ar, AS_AUTHZ_LOGIN_REQUIRED, session == NULL ? "the user is not signed in" : "the user must sign in again");
        return;
    }
    show_signin(ar, 200, NULL, NULL);
}

/* --- the request ------------------------------------------------------------------------------ */

/** Reads a cookie of `raw_len` random bytes in base64url; 0 if it is there and well-formed. */
static int read_cookie(authz_req_t *ar, const char *name, uint8_t *raw, size_t raw_len)
{
    h2o_iovec_t v;
    uint8_t buf[AS_B64URL_DECLEN(SESSION_COOKIE_LEN)];
    if (as_http_cookie(ar->req, name, &v) != 0 || v.len != AS_B64URL_ENCLEN(raw_len) ||
        as_b64url_decode(v.base, v.len, buf) != (ssize_t)raw_len) {
        as_wipe(buf, sizeof(buf));
        return -1;
    }
    memcpy(raw, buf, raw_len);
    as_wipe(buf, sizeof(buf));
    return 0;
}

/** The client and its redirect URI are known good: check the rest, then go by what was submitted. */
static void with_client(authz_req_t *ar, const as_client_t *client)
{
    as_authz_error_t error;
    const char *why;
    uint8_t raw[SESSION_COOKIE_RAW_LEN];

    ar->client = client;
    as_http_annotate(ar->req, "client_id", client->client_id);
    if (!as_redirect_uri_allowed(&client->redirect_uris, ar->a.redirect_uri, strlen(ar->a.redirect_uri))) {
        as_info("authorization request of client %s refused: redirect_uri not registered", client->client_id);
        error_page(ar, 400, "Sign-in request not valid", "The redirect_uri is not registered for this client.");
        return;
    }
    /* from here on the client hears of errors through its redirect URI */
    ar->client_name = client->display_name != NULL ? client->display_name : client->client_id;
    ar->form_target = as_login__form_target(&ar->req->pool, ar->a.redirect_uri);
    if (as_login__authz_check(&ar->req->pool, &ar->params, client->grants, &client->scopes, &ar->a, &error, &why) != 0) {
        redirect_error(ar, error, why);
        return;
    }
    as_login__authz_digest(&ar->params, ar->request_digest);
    as_login__csrf_key(ar->keys->set->refresh_key, ar->csrf_key);
    ar->have_attempt = read_cookie(ar, attempt_cookie_name(ar->ctx->config), ar->attempt, sizeof(ar->attempt)) == 0;
    if (read_cookie(ar, ar->ctx->config->session_cookie, raw, sizeof(raw)) == 0) {
        as_sha256(raw, sizeof(raw), ar->cookie_hash);
        as_wipe(raw, sizeof(raw));
        ar->have_cookie = 1;
    }
    if (ar->step == STEP_LOGIN) {
        check_form(ar);
        return;
    }
    if (!ar->have_cookie) {
        on_session(ar, AS_ERR_NOT_FOUND, NULL);
        return;
    }
    as_store_session_use(ar->ctx->db, &ar->req->pool, ar->cookie_hash, ar->ctx->config->session_idle_ttl, on_session, ar, &ar->job);
}

static void on_client(void *ctx, int err, const as_client_t *client)
{
    authz_req_t *ar = ctx;
    if (err == AS_ERR_NOT_FOUND) {
        error_page(ar, 400, "Sign-in request not valid", "The application that sent you here is not known.");
        return;
    }
    if (err != 0) {
        error_page(ar, 503, "Sign-in temporarily unavailable", "Sign-in is temporarily unavailable. Please try again in a moment.");
        return;
    }
    with_client(ar, client);
}

/** Reads the parameters: the query string of a GET, the form of a POST. 0, or answered with an error page. */
static int read_params(authz_req_t *ar)
{
    h2o_req_t *req = ar->req;
    const char *why = NULL;
    int err;

    if (ar->is_post) {
        err = as_http_read_form(req, &ar->params, &why);
    } else {
        const char *q = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
        size_t len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
        err = as_form_parse(&req->pool, q, len, &ar->params, NULL);
        why = err == AS_ERR_DUPLICATE   ? "a parameter is repeated"
              : err == AS_ERR_TOO_LARGE ? "too many parameters"
                                        : "malformed query string";
    }
    if (err != 0) {
        error_page(ar, 400, "Sign-in request not valid",
                   h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("The request is malformed: ")),
                              h2o_iovec_init(why, strlen(why)), h2o_iovec_init(H2O_STRLIT(".")))
                       .base);
        return err;
    }
    if (ar->is_post) {
        const h2o_iovec_t *step = as_form_get(&ar->params, "step");
        if (step == NULL) {
            ar->step = STEP_NONE;
        } else if (h2o_memis(step->base, step->len, H2O_STRLIT("login"))) {
            ar->step = STEP_LOGIN;
        } else if (h2o_memis(step->base, step->len, H2O_STRLIT("consent"))) {
            ar->step = STEP_CONSENT;
        } else {
            error_page(ar, 400, "Sign-in request not valid", "The form is not one of ours.");
            return AS_ERR_BAD_INPUT;
        }
    }
    return 0;
}

AS_HANDLER(as_login_authorize)
{
    as_oauth_ctx_t *ctx = data;
    authz_req_t *ar = h2o_mem_alloc_shared(&req->pool, sizeof(*ar), on_dispose);
    const char *why;

    memset(ar, 0, sizeof(*ar));
    ar->ctx = ctx;
    ar->req = req;
    ar->keys = as_keyview_hold(ctx->keys);
    ar->is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (read_params(ar) != 0)
        return;
    if (as_login__authz_target(&ar->params, &ar->a, &why) != 0) {
        error_page(ar, 400, "Sign-in request not valid", why);
        return;
    }
    as_oauth_client_find(ctx, &req->pool, ar->a.client_id, on_client, ar, &ar->job);
}
