/*
 * oauth/client_auth — client authentication for every client-facing endpoint
 * (interface and contract in client_auth.h).
 */
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/client_auth.h"
#include "authsvc/store/client_cache.h"
#include "authsvc/token/refresh.h"

#define MAX_CLIENT_ID_LEN 255
#define MAX_SECRET_LEN 1024

void as_client_req_error(as_client_req_t *cr, as_oauth_error_t error, const char *description)
{
    /* RFC 6749 §5.2: after Basic the challenge is required; otherwise it tells the client what we accept */
    as_http_oauth_error(cr->req, error, description, error == AS_OAUTH_INVALID_CLIENT ? AS_RESP_BASIC_CHALLENGE : 0);
}

static int parse(as_client_req_t *cr, as_oauth_ctx_t *ctx, h2o_req_t *req)
{
    const h2o_iovec_t *form_id, *form_secret;
    const char *why;
    int err;

    cr->ctx = ctx;
    cr->req = req;
    cr->form.num_params = 0;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) && (err = as_http_read_form(req, &cr->form, &why)) != 0) {
        as_client_req_error(cr, AS_OAUTH_INVALID_REQUEST, why);
        return err;
    }
    form_id = as_form_get(&cr->form, "client_id");
    form_secret = as_form_get(&cr->form, "client_secret");

    switch ((err = as_http_basic_credentials(req, &cr->client_id, &cr->client_secret))) {
    case 0:
        cr->used_basic = 1;
        if (form_secret != NULL) {
            as_client_req_error(cr, AS_OAUTH_INVALID_REQUEST, "more than one client authentication method");
            return AS_ERR_BAD_INPUT;
        }
        if (form_id != NULL && !h2o_memis(form_id->base, form_id->len, cr->client_id.base, cr->client_id.len)) {
            as_client_req_error(cr, AS_OAUTH_INVALID_REQUEST, "client_id does not match the authenticated client");
            return AS_ERR_BAD_INPUT;
        }
        break;
    case AS_ERR_NOT_FOUND:
        if (form_id == NULL) {
            as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "client authentication required");
            return err;
        }
        cr->client_id = *form_id;
        if (form_secret != NULL)
            cr->client_secret = *form_secret;
        break;
    case AS_ERR_DUPLICATE:
        as_client_req_error(cr, AS_OAUTH_INVALID_REQUEST, "more than one Authorization header");
        return err;
    case AS_ERR_UNSUPPORTED:
        as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "unsupported authentication scheme");
        return err;
    default:
        as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "malformed Basic credentials");
        return err;
    }
    if (cr->client_id.len > MAX_CLIENT_ID_LEN || cr->client_secret.len > MAX_SECRET_LEN) {
        as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "client authentication failed");
        return AS_ERR_TOO_LARGE;
    }
    return 0;
}

static void on_dispose(void *p)
{
    as_client_req_dispose(p);
}

void *as_client_req_new(as_oauth_ctx_t *ctx, h2o_req_t *req, size_t size, void (*dispose)(void *))
{
    as_client_req_t *cr = h2o_mem_alloc_shared(&req->pool, size, dispose != NULL ? dispose : on_dispose);
    memset(cr, 0, size);
    cr->keys = as_keyview_hold(ctx->keys);
    return parse(cr, ctx, req) == 0 ? cr : NULL;
}

const h2o_iovec_t *as_client_req_require(as_client_req_t *cr, const char *name)
{
    const h2o_iovec_t *v = as_form_get(&cr->form, name);
    if (v == NULL)
        as_client_req_error(cr, AS_OAUTH_INVALID_REQUEST, h2o_concat(&cr->req->pool, h2o_iovec_init(H2O_STRLIT("missing ")),
                                                                    h2o_iovec_init(name, strlen(name))).base);
    return v;
}

as_presented_t as_client_req_classify(as_client_req_t *cr, const h2o_iovec_t *token, as_refresh_ref_t *refresh, as_jwt_t *jwt)
{
    as_refresh_token_t t;
    memset(jwt, 0, sizeof(*jwt));
    if (as_refresh_parse(cr->keys->set->refresh_key, token->base, token->len, &t) == 0) {
        uint8_t *hash = h2o_mem_alloc_pool(&cr->req->pool, AS_SHA256_LEN);
        as_refresh_hash(&t, hash);
        *refresh = (as_refresh_ref_t){.hash = hash};
        if (t.format == 2) {
            uint8_t *family = h2o_mem_alloc_pool(&cr->req->pool, sizeof(t.family));
            memcpy(family, t.family, sizeof(t.family));
            refresh->family = family;
            refresh->gen = t.gen;
        }
        as_wipe(&t, sizeof(t));
        return AS_PRESENTED_REFRESH;
    }
    as_jwt_expect_t expect = {.issuer = cr->ctx->config->issuer, .audience = NULL, .now = (int64_t)time(NULL), .leeway = 0};
    if (as_jwt_verify_access(token->base, token->len, as_keyset_find, cr->keys->set, &expect, jwt) != 0)
        return AS_PRESENTED_NEITHER;
    return AS_PRESENTED_ACCESS;
}

static void check_client(as_client_req_t *cr, const as_client_t *client);

/**
 * What an unknown client id costs: the same SHA-256 and constant-time compare as a wrong secret, the same log line
 * and the same answer, from the cache as often as a known client is (a negative entry), so that timing does not
 * tell which client ids exist.
 */
static void reject_unknown(as_client_req_t *cr)
{
    static const as_client_t absent = {.client_id = "", .is_public = 0};
    uint8_t hash[AS_SHA256_LEN];
    as_sha256(cr->client_secret.base != NULL ? cr->client_secret.base : "", cr->client_secret.len, hash);
    if (as_memeq(hash, absent.secret_hash, AS_SHA256_LEN) != 0) {
        /* always: no secret hashes to zeros */
    }
    as_info("client authentication failed for client %s (unknown)", cr->client_id.base);
    as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "client authentication failed");
}

typedef struct st_client_find_t {
    as_oauth_ctx_t *ctx;
    const char *client_id;
    as_client_found_cb cb;
    void *data;
    as_pool_job_t **job;
} client_find_t;

static void on_found(void *p, int err, const as_client_t *client)
{
    client_find_t *f = p;
    *f->job = NULL;
    if (err == 0)
        as_client_cache_put(f->ctx->clients, client, h2o_now(f->ctx->loop));
    else if (err == AS_ERR_NOT_FOUND)
        as_client_cache_put_unknown(f->ctx->clients, f->client_id, h2o_now(f->ctx->loop));
    f->cb(f->data, err, err == 0 ? client : NULL);
}

void as_oauth_client_find(as_oauth_ctx_t *ctx, h2o_mem_pool_t *pool, const char *client_id, as_client_found_cb cb, void *data,
                          as_pool_job_t **job)
{
    const as_client_t *cached;
    uint64_t now = h2o_now(ctx->loop);

    *job = NULL;
    if ((cached = as_client_cache_get(ctx->clients, client_id, now, pool)) != NULL) {
        cb(data, 0, cached);
        return;
    }
    if (as_client_cache_is_unknown(ctx->clients, client_id, now)) {
        cb(data, AS_ERR_NOT_FOUND, NULL);
        return;
    }
    client_find_t *f = h2o_mem_alloc_pool(pool, sizeof(*f));
    *f = (client_find_t){.ctx = ctx, .client_id = client_id, .cb = cb, .data = data, .job = job};
    as_store_client_get(ctx->db, pool, client_id, on_found, f, job);
}

static void on_client(void *ctx, int err, const as_client_t *client)
{
    as_client_req_t *cr = ctx;
    if (err == AS_ERR_NOT_FOUND) {
        reject_unknown(cr); /* costs what a wrong secret costs: the same hash, compare, log line and answer */
        return;
    }
    if (err != 0) {
        as_http_oauth_failure(cr->req, err);
        return;
    }
    check_client(cr, client);
}

/** The length of the origin (scheme://authority) of an http(s) `uri`, or 0 if it has none; *port_at where its port begins. */
static size_t origin_len(const char *uri, size_t len, size_t *port_at)
{
    size_t n;
    if (len > 8 && memcmp(uri, "https://", 8) == 0)
        n = 8;
    else if (len > 7 && memcmp(uri, "http://", 7) == 0)
        n = 7;
    else
        return 0;
    *port_at = 0;
    for (; n != len && uri[n] != '/' && uri[n] != '?' && uri[n] != '#'; ++n)
        if (uri[n] == ':')
            *port_at = n; /* the last colon outside an IPv6 literal's brackets is the port's */
        else if (uri[n] == ']')
            *port_at = 0;
    return n;
}

/** 1 if `origin` (an Origin header) is the origin of one of `uris`; a loopback http origin may differ in its port. */
static int origin_registered(const as_strlist_t *uris, const char *origin, size_t len)
{
    size_t olen, oport, rlen, rport;
    if ((olen = origin_len(origin, len, &oport)) != len)
        return 0;
    for (size_t i = 0; i != uris->len; ++i) {
        const char *r = uris->items[i];
        if ((rlen = origin_len(r, strlen(r), &rport)) == 0)
            continue;
        if (rlen == olen && h2o_memis(r, rlen, origin, olen))
            return 1;
        /* RFC 8252 §7.3: a registered http://127.0.0.1:PORT or http://[::1]:PORT stands for every port */
        if (rport != 0 && oport != 0 && rport == oport && h2o_memis(r, rport, origin, oport) &&
            (h2o_memis(r, rport, H2O_STRLIT("http://127.0.0.1")) || h2o_memis(r, rport, H2O_STRLIT("http://[::1]"))))
            return 1;
    }
    return 0;
}

/** Authenticates the request's credentials against the client's record. */
static void check_client(as_client_req_t *cr, const as_client_t *client)
{
    ssize_t at;

    /* the client's own web origins may read the answer, whatever it is (as_client_req_allow_origins) */
    if (cr->cors && (at = h2o_find_header_by_str(&cr->req->headers, H2O_STRLIT("origin"), -1)) != -1) {
        h2o_iovec_t origin = cr->req->headers.entries[at].value;
        if (origin_registered(&client->redirect_uris, origin.base, origin.len))
            as_http_cors(cr->req, h2o_strdup(&cr->req->pool, origin.base, origin.len).base);
    }
    if (client->is_public) {
        /* a public client has no secret: presenting one (or Basic) is a confused or hostile client */
        if (cr->client_secret.base != NULL || cr->used_basic) {
            as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "client authentication failed");
            return;
        }
    } else {
        uint8_t hash[AS_SHA256_LEN];
        if (cr->client_secret.base == NULL) {
            as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "client authentication failed");
            return;
        }
        as_sha256(cr->client_secret.base, cr->client_secret.len, hash);
        if (as_memeq(hash, client->secret_hash, AS_SHA256_LEN) != 0) {
            as_info("client authentication failed for client %s", client->client_id);
            as_client_req_error(cr, AS_OAUTH_INVALID_CLIENT, "client authentication failed");
            return;
        }
    }
    as_http_annotate(cr->req, "client_id", client->client_id);
    cr->on_authenticated(cr, client);
}

void as_client_req_authenticate(as_client_req_t *cr, as_client_authenticated_cb cb)
{
    cr->on_authenticated = cb;
    as_oauth_client_find(cr->ctx, &cr->req->pool, cr->client_id.base, on_client, cr, &cr->job);
}

void as_client_req_dispose(as_client_req_t *cr)
{
    as_pool_cancel(cr->job);
    as_keyhold_release(cr->keys);
    cr->keys = NULL;
    /* the pool is not zeroed when cleared: wipe the decoded secrets (the raw body belongs to the protocol
     * layer, which may have freed it already: HTTP/2 releases a stream's body before its pool) */
    if (cr->client_secret.base != NULL)
        as_wipe(cr->client_secret.base, cr->client_secret.len);
    as_form_wipe(&cr->form);
}
