/*
 * GET and POST /oauth2/userinfo (OpenID Connect Core §5.3) — what an app may
 * learn about the signed-in user with an access token that carries the openid
 * scope: `sub`, and `preferred_username` when the scope has profile. The token
 * comes as a Bearer header (RFC 6750 §2.1) or, in a POST, as the form
 * parameter access_token (§2.2); never in the query (RFC 9700 §2.5). It must
 * be ours (signature under the request's key set, issuer, expiry), a user's,
 * not revoked and of the user's current token_version. Errors are RFC 6750's.
 */
#include "authsvc/as.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/bearer.h"

static void on_checked(as_oauth__bearer_t *bearer, const as_user_t *user)
{
    json_t *body = json_pack("{s:s}", "sub", bearer->jwt.subject);
    if (user != NULL)
        json_object_set_new(body, "preferred_username", json_string(user->username));
    as_http_send_json(bearer->req, 200, body, AS_RESP_NO_STORE);
}

/** The token of the request: header or (POST) form body, exactly one of them. Answers and returns -1 if there is none. */
static int find_token(as_oauth__bearer_t *bearer, h2o_iovec_t *token)
{
    h2o_req_t *req = bearer->req;
    const h2o_iovec_t *in_body = NULL;
    const char *why;
    int err = as_http_bearer_token(req, token);

    if (err == AS_ERR_DUPLICATE || err == AS_ERR_BAD_INPUT) {
        as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, "malformed or repeated Authorization header");
        return -1;
    }
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) && req->entity.len != 0) {
        if (as_http_read_form(req, &bearer->form, &why) != 0) {
            as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, why);
            return -1;
        }
        in_body = as_form_get(&bearer->form, "access_token");
    }
    if (in_body != NULL) {
        if (err == 0) { /* RFC 6750 §2: one method per request */
            as_http_bearer_error(req, AS_BEARER_INVALID_REQUEST, "the access token came both in the header and in the body");
            return -1;
        }
        *token = *in_body;
        return 0;
    }
    if (err != 0) {
        as_http_bearer_error(req, AS_BEARER_MISSING, "an access token is required (Authorization: Bearer)");
        return -1;
    }
    return 0;
}

AS_HANDLER(as_oauth_userinfo)
{
    as_oauth__bearer_t *bearer = as_oauth__bearer_new(data, req, sizeof(*bearer), NULL);
    h2o_iovec_t token;

    if (find_token(bearer, &token) != 0 || as_oauth__bearer_verify(bearer, token, "openid") != 0)
        return;
    as_oauth__bearer_check(bearer, as_oauth__scope_has(bearer->jwt.scope, "profile"), on_checked);
}
