/*
 * GET /.well-known/jwks.json — the public keys resource servers verify our
 * tokens with (RFC 7517), serialized once per key set, with a strong ETag
 * (If-None-Match answers 304) and a max-age that the key lifecycle relies on.
 */
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/oauth.h"

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

static void on_dispose(void *p)
{
    as_keyhold_release(*(as_keyhold_t **)p);
}

AS_HANDLER(as_oauth_jwks)
{
    as_oauth_ctx_t *ctx = data;
    /* the request keeps the set it started with, even if a reload swaps it meanwhile */
    as_keyhold_t **hold = h2o_mem_alloc_shared(&req->pool, sizeof(*hold), on_dispose);
    const as_keyset_t *ks = (*hold = as_keyview_hold(ctx->keys))->set;
    ssize_t inm = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, ctx->config->jwks_cache_control,
                   strlen(ctx->config->jwks_cache_control));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, ks->jwks_etag, strlen(ks->jwks_etag));
    if (inm >= 0 && etag_matches(req->headers.entries[inm].value, ks->jwks_etag)) {
        as_http_send_not_modified(req);
        return;
    }
    as_http_send_json_text(req, 200, ks->jwks, ks->jwks_len, 0);
}
