/*
 * oauth/client_auth — what every client-facing endpoint does first (RFC 6749
 * §2.3): read the form body, read the client's credentials (HTTP Basic, or
 * client_id/client_secret in the body, or client_id alone for a public client),
 * look the client up and authenticate it. Failures are answered here, with the
 * RFC 6749 §5.2 error; an endpoint only sees authenticated clients.
 *
 * Embed as_client_req_t first in the endpoint's request state, allocated with
 * h2o_mem_alloc_shared; call as_client_req_dispose from its dispose callback.
 */
#ifndef AS_OAUTH_CLIENT_AUTH_H
#define AS_OAUTH_CLIENT_AUTH_H

#include <h2o.h>
#include "authsvc/http/form.h"
#include "authsvc/http/respond.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"
#include "authsvc/token/access.h"

typedef struct st_as_client_req_t as_client_req_t;
typedef void (*as_client_authenticated_cb)(as_client_req_t *cr, const as_client_t *client);

struct st_as_client_req_t {
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_form_t form;            /* empty for GET requests */
    h2o_iovec_t client_id;
    h2o_iovec_t client_secret; /* base NULL: none given */
    int used_basic;
    as_pool_job_t *job;        /* whatever database job the request waits for */
    as_keyhold_t *keys;        /* the key set as the request found it, kept to the end */
    as_client_authenticated_cb on_authenticated;
    int cors; /* set by the endpoint: the client's own web origins may read the answer (as_client_req_allow_origins) */
};

/**
 * Allocates the endpoint's request state in the request's pool: `size` bytes
 * beginning with an as_client_req_t, zeroed; `dispose` runs when the request
 * goes (it must call as_client_req_dispose; NULL: only that). Holds the current key set. Then reads the form body (POST: application/x-www-form-urlencoded, no
 * repeated parameter) and the credentials. Returns the state, or NULL after
 * answering the request.
 */
void *as_client_req_new(as_oauth_ctx_t *ctx, h2o_req_t *req, size_t size, void (*dispose)(void *));

/** The answer of as_oauth_client_find: 0 and the client, AS_ERR_NOT_FOUND (client NULL), or a store error. */
typedef void (*as_client_found_cb)(void *data, int err, const as_client_t *client);

/**
 * Finds a registered client the way every endpoint does: the thread's cache
 * (a known client, or a remembered unknown id), else one query whose answer —
 * the client, or its absence — goes into the cache. Calls `cb` once, possibly
 * before it returns; `*job` is the query in flight (cancel it on dispose),
 * NULL again when `cb` runs. The client lives in `pool`. Loop thread only.
 */
void as_oauth_client_find(as_oauth_ctx_t *ctx, h2o_mem_pool_t *pool, const char *client_id, as_client_found_cb cb, void *data,
                          as_pool_job_t **job);

/**
 * For an endpoint browser apps call cross-origin (token, revocation): once the
 * request names a registered client, its answer — success or error — may be
 * read by the request's Origin if that is the origin (scheme://host[:port]) of
 * one of the client's registered redirect URIs (a loopback one with any port,
 * RFC 8252 §7.3). No other origin reads it, and never with credentials.
 */
static inline void as_client_req_allow_origins(as_client_req_t *cr)
{
    cr->cors = 1;
}

/** The value of a required form parameter, or NULL after answering invalid_request ("missing NAME"). */
const h2o_iovec_t *as_client_req_require(as_client_req_t *cr, const char *name);

/** Looks the client up and authenticates it, then calls `cb` (or answers invalid_client / 503). */
void as_client_req_authenticate(as_client_req_t *cr, as_client_authenticated_cb cb);

/** What a token presented by a client (to revoke or introspect it) is. */
typedef enum en_as_presented_t {
    AS_PRESENTED_NEITHER, /* malformed, forged, expired or someone else's issuer */
    AS_PRESENTED_REFRESH, /* of a refresh-token form (a format-2 tag verified): `refresh` is filled in, in the request's
                             pool (whether it exists is the store's to say) */
    AS_PRESENTED_ACCESS,  /* an access token whose signature, issuer and expiry hold under the request's key set */
} as_presented_t;

/** Classifies `token`, filling `hash` (refresh) or `jwt` (access; clear it with as_jwt_clear in every case). */
as_presented_t as_client_req_classify(as_client_req_t *cr, const h2o_iovec_t *token, as_refresh_ref_t *refresh, as_jwt_t *jwt);

/** Cancels the pending job, releases the key set and wipes the secrets the request carried. */
void as_client_req_dispose(as_client_req_t *cr);

/** An RFC 6749 error; invalid_client carries the Basic challenge. */
void as_client_req_error(as_client_req_t *cr, as_oauth_error_t error, const char *description);

#endif
