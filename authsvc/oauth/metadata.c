/*
 * GET /.well-known/oauth-authorization-server (RFC 8414) and
 * /.well-known/openid-configuration — the document a client reads before
 * talking to us, serialized once at start from the route table, so that every
 * endpoint URL it names is one the router serves.
 */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/oauth.h"

void as_oauth_build_metadata(as_oauth_config_t *config, const as_router_t *routes)
{
    static const char *const auth_methods[] = {"client_secret_basic", "client_secret_post", "none"};
    json_t *doc = json_object(), *methods = json_array();
    char url[2048];

    json_object_set_new(doc, "issuer", json_string(config->issuer));
    for (size_t i = 0; i != routes->num_routes; ++i) {
        const as_route_t *r = routes->routes + i;
        if (r->name == NULL)
            continue;
        snprintf(url, sizeof(url), "%s%s", config->issuer, r->path);
        json_object_set_new(doc, r->name, json_string(url));
    }
    for (size_t i = 0; i != sizeof(auth_methods) / sizeof(auth_methods[0]); ++i)
        json_array_append_new(methods, json_string(auth_methods[i]));
    json_object_set_new(doc, "token_endpoint_auth_methods_supported", json_deep_copy(methods));
    if (as_router_find_name(routes, "revocation_endpoint") != NULL)
        json_object_set_new(doc, "revocation_endpoint_auth_methods_supported", json_deep_copy(methods));
    if (as_router_find_name(routes, "introspection_endpoint") != NULL)
        json_object_set_new(doc, "introspection_endpoint_auth_methods_supported", json_deep_copy(methods));
    json_decref(methods);
    json_object_set_new(doc, "grant_types_supported",
                        json_pack("[s,s,s,s]", "authorization_code", "client_credentials", "password", "refresh_token"));
    /* the authorization endpoint (login/): codes only, PKCE with S256 only, and the iss of RFC 9207 in every answer */
    json_object_set_new(doc, "response_types_supported", json_pack("[s]", "code"));
    json_object_set_new(doc, "code_challenge_methods_supported", json_pack("[s]", "S256"));
    json_object_set_new(doc, "authorization_response_iss_parameter_supported", json_true());
    config->metadata = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    config->metadata_len = strlen(config->metadata);
    json_decref(doc);
}

AS_HANDLER(as_oauth_metadata)
{
    as_oauth_ctx_t *ctx = data;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("public, max-age=300"));
    as_http_send_json_text(req, 200, ctx->config->metadata, ctx->config->metadata_len, 0);
}
