/*
 * login/logout — the end of a browser's single sign-on: OpenID Connect
 * RP-Initiated Logout 1.0 at GET and POST /oauth2/logout (the metadata's
 * end_session_endpoint). It uses the OAuth module's per-thread context
 * (configuration, database pool, client cache, key view).
 *
 * The route list lives here until login/login.h (the hosted login page, the
 * SSO session cookie) carries the module's one list, AS_LOGIN_ROUTES; the
 * logout lines then move there.
 */
#ifndef AS_LOGIN_LOGOUT_H
#define AS_LOGIN_LOGOUT_H

#include "authsvc/http/router.h"
#include "authsvc/oauth/oauth.h"

/** Where the logout is served: the route and the action of its confirmation form. */
#define AS_LOGOUT_PATH "/oauth2/logout"

/*
 * METHOD, PATH, HANDLER, metadata member. `ctx` of every handler is an
 * as_oauth_ctx_t. GET is what an app's "sign out" link does; POST is the same
 * request as a form, and the confirmation form's answer.
 */
#define AS_LOGOUT_ROUTES(X)                                                                                                        \
    X("GET", AS_LOGOUT_PATH, as_login_logout, "end_session_endpoint") /* RP-Initiated Logout 1.0 §2 */                            \
    X("POST", AS_LOGOUT_PATH, as_login_logout, NULL)

#define AS_LOGOUT__DECLARE(method, path, fn, name) AS_HANDLER(fn);
AS_LOGOUT_ROUTES(AS_LOGOUT__DECLARE)
#undef AS_LOGOUT__DECLARE

/** Registers the logout routes with `ctx` (NULL: the route table as data, handlers never called). */
void as_logout_register(as_router_t *router, as_oauth_ctx_t *ctx);

#endif
