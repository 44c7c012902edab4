/*
 * The documents a client or resource server reads before talking to us:
 * the JWKS (RFC 7517), the metadata (RFC 8414), and a health check.
 */
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"

void as_oauth_build_metadata(as_oauth_config_t *config)
{
    char buf[2048];
    json_t *doc = json_object();
#define URL(path) (snprintf(buf, sizeof(buf), "%s%s", config->issuer, path), json_string(buf))
    json_object_set_new(doc, "issuer", json_string(config->issuer));
    json_object_set_new(doc, "token_endpoint", URL("/oauth2/token"));
    json_object_set_new(doc, "jwks_uri", URL("/.well-known/jwks.json"));
    json_object_set_new(doc, "revocation_endpoint", URL("/oauth2/revoke"));
    json_object_set_new(doc, "revocation_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "client_secret_basic", "client_secret_post", "none"));
    json_object_set_new(doc, "introspection_endpoint", URL("/oauth2/introspect"));
    json_object_set_new(doc, "introspection_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "client_secret_basic", "client_secret_post", "none"));
    json_object_set_new(doc, "revocation_feed_endpoint", URL("/oauth2/revocations"));
    json_object_set_new(doc, "grant_types_supported", json_pack("[s,s,s]", "client_credentials", "password", "refresh_token"));
    json_object_set_new(doc, "token_endpoint_auth_methods_supported",
                        json_pack("[s,s,s]", "client_secret_basic", "client_secret_post", "none"));
    /* no authorization endpoint (yet): RFC 8414 still requires the member */
    json_object_set_new(doc, "response_types_supported", json_array());
#undef URL
    config->metadata = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    config->metadata_len = strlen(config->metadata);
    json_decref(doc);
}

/** If-None-Match: "*" or a comma-separated list of entity tags (weak ones compare weakly, RFC 9110 §13.1.2). */
static int etag_matches(h2o_iovec_t header, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = header.base, *end = header.base + header.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            ++p;
        if (p < end && *p == '*')
            return 1;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if ((size_t)(end - p) >= elen && memcmp(p, etag, elen) == 0 && (p + elen == end || p[elen] == ',' || p[elen] == ' '))
            return 1;
        while (p < end && *p != ',')
            ++p;
    }
    return 0;
}

static void on_keys_dispose(void *p)
{
    as_keyset_release(*(as_keyset_t **)p);
}

void as_oauth_jwks(as_oauth_ctx_t *ctx, h2o_req_t *req)
{
    (void)ctx;
    /* the request keeps the set it started with, even if a reload swaps it meanwhile */
    as_keyset_t **ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_keys_dispose);
    as_keyset_t *ks = *ref = as_keys_current();
    ssize_t inm = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, ctx->config->jwks_cache_control,
                   strlen(ctx->config->jwks_cache_control));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, ks->jwks_etag, strlen(ks->jwks_etag));
    if (inm >= 0 && etag_matches(req->headers.entries[inm].value, ks->jwks_etag)) {
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
        return;
    }
    as_http_send_json_text(req, 200, ks->jwks, ks->jwks_len, 0);
}

void as_oauth_metadata(as_oauth_ctx_t *ctx, h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("public, max-age=300"));
    as_http_send_json_text(req, 200, ctx->config->metadata, ctx->config->metadata_len, 0);
}

typedef struct st_health_req_t {
    h2o_req_t *req;
    as_pool_job_t *job;
} health_req_t;

static void on_health_dispose(void *p)
{
    as_pool_cancel(((health_req_t *)p)->job);
}

static void on_ping(void *ctx, int err)
{
    health_req_t *hr = ctx;
    static const char ok[] = "{\"status\":\"ok\"}";
    static const char down[] = "{\"status\":\"unavailable\",\"error_description\":\"the database is unreachable\"}";
    hr->job = NULL;
    h2o_add_header(&hr->req->pool, &hr->req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    if (err == 0) {
        as_http_send_json_text(hr->req, 200, ok, sizeof(ok) - 1, 0);
    } else {
        as_http_send_json_text(hr->req, 503, down, sizeof(down) - 1, 0);
    }
}

void as_oauth_health(as_oauth_ctx_t *ctx, h2o_req_t *req)
{
    health_req_t *hr = h2o_mem_alloc_shared(&req->pool, sizeof(*hr), on_health_dispose);
    hr->req = req;
    hr->job = NULL;
    as_store_ping(ctx->db, &req->pool, on_ping, hr, &hr->job);
}
