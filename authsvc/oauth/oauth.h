/*
 * oauth/ — the endpoints. Each handler answers one request on its event
 * thread, possibly later from a callback; the request's pending state hangs off
 * its pool and is cancelled when the request goes away first.
 */
#ifndef AS_OAUTH_H
#define AS_OAUTH_H

#include <h2o.h>
#include "authsvc/work/pwcheck.h"
#include "authsvc/store/pool.h"

/** Settings shared by every thread; read-only once serving. */
typedef struct st_as_oauth_config_t {
    const char *issuer;
    int access_ttl;       /* seconds, unless the client overrides it */
    int refresh_idle_ttl; /* seconds a refresh token stays valid unused */
    int refresh_max_ttl;  /* seconds a family lives at most */
    int refresh_grace;    /* seconds during which a retry with a just-rotated token gets the same successor */
    size_t max_body;      /* bytes: a larger body gets 413 */
    int client_cache_ttl; /* seconds a client record is reused without asking the database; 0: never */
    const char *jwks_cache_control; /* "public, max-age=N, must-revalidate" */
    char *dummy_hash;     /* argon2id of a random password: unknown users cost the same */
    char *metadata;       /* the RFC 8414 document, serialized once */
    size_t metadata_len;
} as_oauth_config_t;

struct st_as_client_cache_t;

/** One per event thread. */
typedef struct st_as_oauth_ctx_t {
    const as_oauth_config_t *config;
    h2o_loop_t *loop;
    as_pool_t *db;
    struct st_as_client_cache_t *clients;
    as_pwcheck_t *pwcheck;
    h2o_multithread_receiver_t *pwcheck_receiver;
} as_oauth_ctx_t;

/** Builds config->metadata from the issuer. */
void as_oauth_build_metadata(as_oauth_config_t *config);

/** POST /oauth2/token (RFC 6749 §3.2). */
void as_oauth_token(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** POST /oauth2/revoke (RFC 7009). */
void as_oauth_revoke(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** POST /oauth2/introspect (RFC 7662). */
void as_oauth_introspect(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** GET /oauth2/revocations?since=CURSOR: the revocation feed for offline verifiers. */
void as_oauth_revocations(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** POST /account/password: self-service password change with a Bearer access token. */
void as_oauth_account_password(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** GET /.well-known/jwks.json */
void as_oauth_jwks(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** GET /.well-known/oauth-authorization-server and /.well-known/openid-configuration */
void as_oauth_metadata(as_oauth_ctx_t *ctx, h2o_req_t *req);
/** GET /healthz: 200 when the database answers, 503 otherwise. */
void as_oauth_health(as_oauth_ctx_t *ctx, h2o_req_t *req);

#endif
