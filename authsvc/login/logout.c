/*
 * login/logout — OpenID Connect RP-Initiated Logout 1.0 at GET and POST
 * /oauth2/logout (the routes are in login.h): ends the browser's SSO session.
 *
 * A request carries, in the query (GET) or a form body (POST), id_token_hint,
 * post_logout_redirect_uri, state and client_id, and from our own confirmation
 * form csrf_token. In order:
 *  1. Everything the request names is checked before anything is done: the
 *     hint (token/access: signed by one of our published keys, our issuer, typ
 *     JWT; expired is fine), the client (the hint's audience, or client_id; both
 *     must agree, and it must be registered), and post_logout_redirect_uri
 *     (registered by that client, exactly but for a loopback URI's port, as
 *     redirect URIs; never without a client). A request that fails gets a 400
 *     page and ends nothing; if the browser has a session cookie, the page
 *     offers the sign-out form (no redirect after it).
 *  2. The browser's session is found by the SHA-256 of its cookie's 32 random
 *     bytes, as login/ stores it (store/README.md).
 *  3. The session ends without a question when a valid hint names it (its sid,
 *     or its user when the hint has no sid), or when the browser brings no live
 *     session (then the hint's sid ends: a cross-site POST does not carry the
 *     SameSite=Lax cookie). It ends after a question when the user sends our
 *     confirmation form back, whose CSRF token is an HMAC of the cookie. In
 *     every other case the confirmation page is the answer: a link or form that
 *     any site can make must not sign the user out (logout CSRF).
 *  4. as_store_session_end ends the session and, for clients that ask for it,
 *     the refresh families born in it; the cookie is cleared (Max-Age=0); the
 *     browser goes back to post_logout_redirect_uri with state (302 after GET,
 *     303 after POST) only when a valid hint came, else sees the signed-out
 *     page.
 * Every page is HTML-escaped and carries no script (http/respond's headers).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/login/authz.h"
#include "authsvc/login/login.h"
#include "authsvc/login/page.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/store/store.h"
#include "authsvc/token/access.h"
#include "authsvc/token/grants.h"

#define STATE_MAX 2048    /* bytes of state handed back */
#define CLIENT_ID_MAX 255 /* the schema's limit */
/* the session cookie as login/ sets it: 32 random bytes in base64url; the database keeps the bytes' SHA-256 */
#define SESSION_COOKIE_RAW_LEN 32
#define SESSION_COOKIE_LEN AS_B64URL_ENCLEN(SESSION_COOKIE_RAW_LEN)
#define HINT_MAX_AGE 2592000 /* 30 days: an older id_token no longer vouches for a logout */
#define HINT_LEEWAY 60       /* seconds of clock skew between instances */
#define CSRF_LEN AS_B64URL_ENCLEN(AS_HMAC_SHA256_LEN)

typedef struct st_logout_req_t {
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_keyhold_t *keys;
    as_pool_job_t *job;
    as_form_t params;
    int is_post, is_head;
    int has_cookie;
    uint8_t cookie_hash[AS_SHA256_LEN];
    const h2o_iovec_t *hint_text, *redirect, *state, *client_id, *csrf;
    int has_hint;
    as_id_hint_t hint;
    const as_client_t *client;
    const as_session_t *session; /* the cookie's live session, or NULL */
} logout_req_t;

static void on_dispose(void *p)
{
    logout_req_t *lr = p;
    as_pool_cancel(lr->job);
    as_keyhold_release(lr->keys);
    as_id_hint_clear(&lr->hint);
    as_wipe(lr->cookie_hash, sizeof(lr->cookie_hash));
    as_form_wipe(&lr->params);
}

/* --- HTML (page.h's writer) ------------------------------------------------------------ */

/** A hosted page with its heading. */
static void page_begin(logout_req_t *lr, as_login__html_t *h, const char *title)
{
    as_login__html_begin(h, &lr->req->pool, title);
    as_login__html_fmt(h, "<h1>%s</h1>\n", title);
}

/**
 * Sends the page. `form_target`: where the browser goes after its form is answered, if not here (a CSP source,
 * as_login__form_target): browsers apply form-action to that redirect too.
 */
static void page_send(logout_req_t *lr, as_login__html_t *h, int status, const char *form_target)
{
    h2o_iovec_t body = as_login__html_end(h);
    as_http_send_html_form(lr->req, status, body.base, body.len, form_target);
}

/** The name the user knows the client by. */
static const char *client_name(const as_client_t *client)
{
    return client->display_name != NULL ? client->display_name : client->client_id;
}

/**
 * The confirmation form's CSRF token: HMAC-SHA-256, under the key set's refresh key, of a label and the session
 * cookie's hash. Only the browser that holds the cookie gets it (in a no-store page); every instance computes the
 * same. The label keeps it apart from the refresh successors that key derives (HMAC of a bare 32-byte token).
 */
static void csrf_token(const logout_req_t *lr, char out[CSRF_LEN + 1])
{
    static const char label[] = "authsvc logout confirmation";
    uint8_t msg[sizeof(label) + AS_SHA256_LEN], mac[AS_HMAC_SHA256_LEN];
    memcpy(msg, label, sizeof(label));
    memcpy(msg + sizeof(label), lr->cookie_hash, AS_SHA256_LEN);
    as_hmac_sha256(lr->keys->set->refresh_key, sizeof(lr->keys->set->refresh_key), msg, sizeof(msg), mac);
    as_b64url_encode(mac, sizeof(mac), out);
}

static int csrf_matches(const logout_req_t *lr)
{
    char want[CSRF_LEN + 1];
    int ok;
    if (!lr->has_cookie || lr->csrf == NULL || lr->csrf->len != CSRF_LEN)
        return 0;
    csrf_token(lr, want);
    ok = as_memeq(want, lr->csrf->base, CSRF_LEN) == 0;
    as_wipe(want, sizeof(want));
    return ok;
}

static void hidden(as_login__html_t *h, const char *name, const h2o_iovec_t *value)
{
    if (value != NULL)
        as_login__html_fmt(h, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", name, value->base);
}

/** The sign-out form; with `carry`, the app's request goes along (the browser is sent back after the answer). */
static void sign_out_form(logout_req_t *lr, as_login__html_t *h, int carry)
{
    char csrf[CSRF_LEN + 1];
    csrf_token(lr, csrf);
    as_login__html_fmt(h, "<form method=\"post\" action=\"" AS_LOGOUT_PATH "\">\n<input type=\"hidden\" name=\"csrf_token\" value=\"%s\">\n",
                       csrf);
    as_wipe(csrf, sizeof(csrf));
    if (carry) {
        hidden(h, "id_token_hint", lr->hint_text);
        hidden(h, "post_logout_redirect_uri", lr->redirect);
        hidden(h, "state", lr->state);
    }
    as_login__html_lit(h, "<button type=\"submit\">Sign out</button>\n</form>\n");
}

/** 400: the request cannot be acted upon; nothing was ended. */
static void error_page(logout_req_t *lr, const char *reason)
{
    as_login__html_t h;
    page_begin(lr, &h, "This sign-out request cannot be used");
    as_login__html_fmt(&h, "<p class=\"alert\" role=\"alert\">%s</p>\n", reason);
    if (lr->has_cookie) {
        as_login__html_lit(&h, "<p>You can still sign out here. You will not be sent back to the application.</p>\n");
        sign_out_form(lr, &h, 0);
    }
    page_send(lr, &h, 400, NULL);
}

static void unavailable_page(logout_req_t *lr, int err)
{
    as_login__html_t h;
    as_warn("logout: %s", as_strerror(err));
    page_begin(lr, &h, "Sign-out is unavailable");
    as_login__html_lit(
        &h,
        "<p class=\"alert\" role=\"alert\">The sign-in service cannot reach its database right now. Please try again in a moment."
        "</p>\n");
    page_send(lr, &h, 503, NULL);
}

static void confirm_page(logout_req_t *lr)
{
    as_login__html_t h;
    page_begin(lr, &h, "Sign out?");
    if (lr->client != NULL)
        as_login__html_fmt(&h, "<p class=\"for\">asked by <strong>%s</strong></p>\n", client_name(lr->client));
    as_login__html_lit(&h, "<p>Do you want to sign out? You will be signed out of every application that uses this sign-in.</p>\n");
    sign_out_form(lr, &h, lr->has_hint);
    if (lr->session != NULL)
        as_login__html_fmt(&h, "<p class=\"who\">Signed in as %s</p>\n", lr->session->username);
    /* with a valid hint the answer to the form goes back to the app */
    page_send(lr, &h, 200, lr->has_hint && lr->redirect != NULL ? as_login__form_target(&lr->req->pool, lr->redirect->base) : NULL);
}

static void signed_out_page(logout_req_t *lr)
{
    as_login__html_t h;
    page_begin(lr, &h, "You are signed out");
    as_login__html_lit(&h, "<p>You are signed out of every application that used this sign-in. You may close this window.</p>\n");
    if (lr->client != NULL && lr->redirect != NULL) /* registered, but only a hint makes it a redirect */
        as_login__html_fmt(&h, "<p><a href=\"%s\">Back to %s</a></p>\n", lr->redirect->base, client_name(lr->client));
    page_send(lr, &h, 200, NULL);
}

/* --- the request ---------------------------------------------------------------------- */

/** The end: the cookie cleared, then back to the app (a valid hint only) or the signed-out page. */
static void finish(logout_req_t *lr)
{
    const as_oauth_config_t *cfg = lr->ctx->config;
    as_http_set_cookie(lr->req, cfg->session_cookie, "", 0, cfg->cookie_secure ? AS_COOKIE_SECURE : 0);
    if (lr->has_hint && lr->redirect != NULL) {
        /* state, percent-encoded, added to the registered URI's own query (login/authz) */
        static const char *const names[] = {"state"};
        const char *values[] = {lr->state != NULL ? lr->state->base : NULL};
        as_http_redirect(lr->req, lr->is_post ? AS_REDIRECT_SEE_OTHER : AS_REDIRECT_FOUND,
                         as_login__redirect_url(&lr->req->pool, lr->redirect->base, names, values, 1));
        return;
    }
    signed_out_page(lr);
}

static void on_ended(void *ctx, int err, int ended)
{
    logout_req_t *lr = ctx;
    lr->job = NULL;
    if (err != 0) {
        unavailable_page(lr, err);
        return;
    }
    if (ended)
        as_info("logout: SSO session ended%s%s", lr->client != NULL ? " at the request of client " : "",
                lr->client != NULL ? lr->client->client_id : "");
    finish(lr);
}

/** With everything checked and the session known: end it, or ask first. */
static void decide(logout_req_t *lr)
{
    const char *sid = NULL;
    int confirmed = lr->is_post && csrf_matches(lr);

    if (lr->session == NULL) {
        /* nothing live in this browser; a valid hint still names the session the app knows of */
        sid = lr->has_hint ? lr->hint.sid : NULL;
    } else if (lr->has_hint && (lr->hint.sid != NULL ? strcmp(lr->hint.sid, lr->session->id) == 0
                                                     : strcmp(lr->hint.subject, lr->session->user_id) == 0)) {
        sid = lr->hint.sid;
    } else if (!confirmed) {
        /* no hint, or a hint for another session or user: ask (RP-Initiated Logout §2, "suspect" requests) */
        confirm_page(lr);
        return;
    }
    if (lr->is_head) { /* HEAD is safe: it answers with what GET would show first, and changes nothing */
        if (lr->session != NULL)
            confirm_page(lr);
        else
            signed_out_page(lr);
        return;
    }
    if (!lr->has_cookie && sid == NULL) {
        finish(lr);
        return;
    }
    as_store_session_end(lr->ctx->db, &lr->req->pool, lr->has_cookie ? lr->cookie_hash : NULL, sid, "logout", on_ended, lr,
                         &lr->job);
}

static void on_session(void *ctx, int err, const as_session_t *session)
{
    logout_req_t *lr = ctx;
    lr->job = NULL;
    if (err != 0 && err != AS_ERR_NOT_FOUND) {
        unavailable_page(lr, err);
        return;
    }
    lr->session = session;
    decide(lr);
}

static void find_session(logout_req_t *lr)
{
    if (!lr->has_cookie) {
        decide(lr);
        return;
    }
    as_store_session_use(lr->ctx->db, &lr->req->pool, lr->cookie_hash, lr->ctx->config->session_idle_ttl, on_session, lr, &lr->job);
}

/**
 * The client is known: the redirect URI must be one it registered, matched as redirect URIs are (exactly, but a
 * loopback URI's port may differ: a native app listens on the port it got, RFC 8252 §7.3).
 */
static void check_client(logout_req_t *lr)
{
    as_http_annotate(lr->req, "client_id", lr->client->client_id);
    if (lr->redirect != NULL &&
        !as_redirect_uri_allowed(&lr->client->post_logout_redirect_uris, lr->redirect->base, lr->redirect->len)) {
        error_page(lr, "The post_logout_redirect_uri is not one the application registered.");
        return;
    }
    find_session(lr);
}

static void on_client(void *ctx, int err, const as_client_t *client)
{
    logout_req_t *lr = ctx;
    if (err == AS_ERR_NOT_FOUND) {
        error_page(lr, lr->has_hint ? "The id_token_hint was issued to an application that is no longer registered."
                                    : "The client_id names no registered application.");
        return;
    }
    if (err != 0) {
        unavailable_page(lr, err);
        return;
    }
    lr->client = client;
    check_client(lr);
}

/** The request's parameters: the query of a GET, the form body of a POST. 0, or -1 with a reason. */
static int read_params(logout_req_t *lr, const char **why)
{
    h2o_req_t *req = lr->req;
    int err;

    lr->params.num_params = 0;
    if (lr->is_post) {
        if (req->entity.len == 0)
            return 0;
        return as_http_read_form(req, &lr->params, why) == 0 ? 0 : -1;
    }
    if (req->query_at == SIZE_MAX)
        return 0;
    err = as_form_parse(&req->pool, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, &lr->params, NULL);
    *why = err == AS_ERR_DUPLICATE   ? "a parameter is repeated"
           : err == AS_ERR_TOO_LARGE ? "too many parameters"
                                     : "malformed query";
    return err == 0 ? 0 : -1;
}

AS_HANDLER(as_login_logout)
{
    as_oauth_ctx_t *ctx = data;
    logout_req_t *lr = h2o_mem_alloc_shared(&req->pool, sizeof(*lr), on_dispose);
    h2o_iovec_t cookie;
    const char *why = NULL;
    int err;

    memset(lr, 0, sizeof(*lr));
    lr->ctx = ctx;
    lr->req = req;
    lr->is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    lr->is_head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    lr->keys = as_keyview_hold(ctx->keys);
    /* the cookie first, so that every error page can still offer to sign out; two of them: trust neither */
    if (as_http_cookie(req, ctx->config->session_cookie, &cookie) == 0 && cookie.len == SESSION_COOKIE_LEN) {
        uint8_t raw[AS_B64URL_DECLEN(SESSION_COOKIE_LEN)];
        if (as_b64url_decode(cookie.base, cookie.len, raw) == SESSION_COOKIE_RAW_LEN) {
            as_sha256(raw, SESSION_COOKIE_RAW_LEN, lr->cookie_hash);
            lr->has_cookie = 1;
        }
        as_wipe(raw, sizeof(raw));
    }

    if (read_params(lr, &why) != 0) {
        error_page(lr, why);
        return;
    }
    lr->hint_text = as_form_get(&lr->params, "id_token_hint");
    lr->redirect = as_form_get(&lr->params, "post_logout_redirect_uri");
    lr->state = as_form_get(&lr->params, "state");
    lr->client_id = as_form_get(&lr->params, "client_id");
    lr->csrf = as_form_get(&lr->params, "csrf_token");
    if ((lr->redirect != NULL && lr->redirect->len > AS_REDIRECT_URI_MAX) || (lr->state != NULL && lr->state->len > STATE_MAX) ||
        (lr->client_id != NULL && lr->client_id->len > CLIENT_ID_MAX)) {
        error_page(lr, "A parameter of the request is too long.");
        return;
    }

    if (lr->hint_text != NULL) {
        as_jwt_expect_t expect = {
            .issuer = ctx->config->issuer, .audience = NULL, .now = (int64_t)time(NULL), .leeway = HINT_LEEWAY};
        if ((err = as_jwt_verify_id_hint(lr->hint_text->base, lr->hint_text->len, as_keyset_find, lr->keys->set, &expect,
                                         HINT_MAX_AGE, &lr->hint)) != 0) {
            as_info("logout: id_token_hint refused: %s", as_strerror(err));
            error_page(lr, "The id_token_hint is not a valid ID token of this service.");
            return;
        }
        lr->has_hint = 1;
        if (lr->client_id != NULL &&
            !h2o_memis(lr->client_id->base, lr->client_id->len, lr->hint.client_id, strlen(lr->hint.client_id))) {
            error_page(lr, "The client_id is not the application the id_token_hint was issued to.");
            return;
        }
    }
    const char *client_id = lr->has_hint ? lr->hint.client_id : lr->client_id != NULL ? lr->client_id->base : NULL;
    if (client_id == NULL) {
        if (lr->redirect != NULL) {
            error_page(lr, "A post_logout_redirect_uri needs an id_token_hint (or a client_id) that names the application.");
            return;
        }
        find_session(lr);
        return;
    }
    as_oauth_client_find(ctx, &req->pool, client_id, on_client, lr, &lr->job);
}
