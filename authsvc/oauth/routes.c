/*
 * oauth/routes — registers the module's routes (listed in oauth.h) into a router.
 */
#include "authsvc/oauth/oauth.h"

/*
 * The endpoints a browser app (a public client: an SPA) calls from its own
 * origin, and which origins may read their answers (docs/cors.md says why):
 * any, for what only carries its own proof (a Bearer token) or is public; the
 * client's own, the origins of its registered redirect URIs, where the client
 * authenticates (oauth/client_auth), so that no other site can use its
 * visitors' browsers to try passwords and read the outcome. The others
 * (introspection, the revocation feed, /account/password) are for back ends
 * or authsvc's own pages, and answer no cross-origin request.
 */
static int cross_origin(as_handler_fn fn)
{
    if (fn == as_oauth_token || fn == as_oauth_revoke)
        return AS_CORS_BY_ENDPOINT;
    if (fn == as_oauth_userinfo || fn == as_oauth_jwks || fn == as_oauth_metadata)
        return AS_CORS_ANY_ORIGIN;
    return 0;
}

void as_oauth_register(as_router_t *router, as_oauth_ctx_t *ctx)
{
#define ADD(method, path, fn, name)                                                                                                \
    as_router_add(router, method, path, fn, ctx, name);                                                                            \
    if (cross_origin(fn) != 0)                                                                                                     \
        as_router_allow_cors(router, path, cross_origin(fn));
    AS_OAUTH_ROUTES(ADD)
#undef ADD
}
