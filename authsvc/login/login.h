/*
 * login/ — the browser side of authsvc: the authorization endpoint (RFC 6749
 * §4.1, OpenID Connect Core §3.1), the hosted sign-in and consent pages, the
 * SSO session and its cookie. HTML and CSS, no JavaScript needed.
 *
 * The module's context is the OAuth module's (as_oauth_ctx_t): the same
 * configuration, database pool, client cache, argon2 workers and key view.
 * It may use oauth/; oauth/ never includes it. Its routes are listed once, in
 * AS_LOGIN_ROUTES, as oauth/'s are in AS_OAUTH_ROUTES.
 */
#ifndef AS_LOGIN_H
#define AS_LOGIN_H

#include <h2o.h>
#include "authsvc/http/router.h"
#include "authsvc/oauth/oauth.h"

/** The end_session_endpoint, and the action of the logout's confirmation form. */
#define AS_LOGOUT_PATH "/oauth2/logout"

/*
 * The routes: METHOD, PATH, HANDLER, and the metadata member that publishes
 * the URL (NULL: none). `ctx` of every handler is an as_oauth_ctx_t.
 */
#define AS_LOGIN_ROUTES(X)                                                                                                         \
    X("GET", "/oauth2/authorize", as_login_authorize, "authorization_endpoint") /* RFC 6749 §3.1, OIDC Core §3.1.2 */            \
    X("POST", "/oauth2/authorize", as_login_authorize, NULL) /* OIDC Core §3.1.2.1; the sign-in and consent forms post here */    \
    X("GET", "/login.css", as_login_css, NULL)               /* the hosted pages' stylesheet */                                    \
    X("GET", AS_LOGOUT_PATH, as_login_logout, "end_session_endpoint") /* OIDC RP-Initiated Logout 1.0 §2 (logout.c) */            \
    X("POST", AS_LOGOUT_PATH, as_login_logout, NULL)                  /* the same as a form, and the confirmation form's answer */

#define AS_LOGIN__DECLARE(method, path, fn, name) AS_HANDLER(fn);
AS_LOGIN_ROUTES(AS_LOGIN__DECLARE)
#undef AS_LOGIN__DECLARE

/** Registers every route of the module with `ctx` (NULL: the route table as data, handlers never called). */
void as_login_register(as_router_t *router, as_oauth_ctx_t *ctx);

#endif
