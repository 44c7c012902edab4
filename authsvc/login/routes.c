/*
 * login/routes — registers the module's routes (listed in login.h) into a router.
 */
#include "authsvc/login/login.h"

void as_login_register(as_router_t *router, as_oauth_ctx_t *ctx)
{
#define ADD(method, path, fn, name) as_router_add(router, method, path, fn, ctx, name);
    AS_LOGIN_ROUTES(ADD)
#undef ADD
}
