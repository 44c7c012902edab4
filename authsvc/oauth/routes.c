/*
 * oauth/routes — registers the module's routes (listed in oauth.h) into a router.
 */
#include "authsvc/oauth/oauth.h"

void as_oauth_register(as_router_t *router, as_oauth_ctx_t *ctx)
{
#define ADD(method, path, fn, name) as_router_add(router, method, path, fn, ctx, name);
    AS_OAUTH_ROUTES(ADD)
#undef ADD
}
