/*
 * oauth/ — the OAuth endpoints, one file each, above the http/ framework.
 *
 * A handler answers one request on its event thread, possibly later from a
 * callback; the request's pending state hangs off its pool and is cancelled
 * when the request goes away first. The module's routes are listed once, in
 * AS_OAUTH_ROUTES: adding an endpoint is one new file defining its handler
 * with AS_HANDLER and one line there.
 */
#ifndef AS_OAUTH_H
#define AS_OAUTH_H

#include <h2o.h>
#include "authsvc/http/router.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/policy/policy.h"
#include "authsvc/store/client_cache.h"
#include "authsvc/store/pool.h"
#include "authsvc/store/store.h"
#include "authsvc/work/pwcheck.h"

/** Settings shared by every thread; read-only once serving. */
typedef struct st_as_oauth_config_t {
    const char *issuer;
    int access_ttl;       /* seconds, unless the client overrides it */
    int refresh_idle_ttl; /* seconds a refresh token stays valid unused */
    int refresh_max_ttl;  /* seconds a family lives at most */
    int refresh_grace;    /* seconds during which a retry with a just-rotated token gets the same successor */
    int refresh_format;   /* the token format new refresh-token families are born with: 1 or 2 (token/refresh.h) */
    int client_cache_ttl; /* seconds a client record is reused without asking the database; 0: never */
    int jwks_max_age;     /* seconds verifiers may cache the JWKS */
    int session_idle_ttl; /* seconds an SSO session lives unused */
    int session_max_ttl;  /* seconds an SSO session lives at most (from the password) */
    int code_ttl;         /* seconds an authorization code stays redeemable */
    int cookie_secure;    /* the issuer is https: the session cookie is Secure and __Host- prefixed */
    const char *session_cookie; /* the session cookie's name */
    char jwks_cache_control[64]; /* "public, max-age=N, must-revalidate", from jwks_max_age */
    const as_policy_t *password_policy; /* what a new password must be (owned by the caller of as_app_run) */
    char *dummy_hash;     /* argon2id of a random password: unknown users cost the same */
    char *metadata;       /* the RFC 8414 document, serialized once */
    size_t metadata_len;
} as_oauth_config_t;

/** What the endpoints use on one event thread; the wiring layer (app/) fills one per thread. */
typedef struct st_as_oauth_ctx_t {
    const as_oauth_config_t *config;
    h2o_loop_t *loop;
    as_pool_t *db;
    as_store_rotator_t *rotator; /* refresh rotations, committed in batches */
    as_client_cache_t *clients;
    as_pwcheck_t *pwcheck;
    h2o_multithread_receiver_t *pwcheck_receiver;
    as_keyview_t *keys; /* this thread's view of the signing keys */
} as_oauth_ctx_t;

/*
 * The routes: METHOD, PATH, HANDLER, and the RFC 8414 metadata member that
 * publishes the URL (NULL: none). `ctx` of every handler is an as_oauth_ctx_t.
 */
#define AS_OAUTH_ROUTES(X)                                                                                                       \
    X("POST", "/oauth2/token", as_oauth_token, "token_endpoint")                          /* RFC 6749 §3.2 */                     \
    X("POST", "/oauth2/revoke", as_oauth_revoke, "revocation_endpoint")                   /* RFC 7009 */                          \
    X("POST", "/oauth2/introspect", as_oauth_introspect, "introspection_endpoint")        /* RFC 7662 */                          \
    X("GET", "/oauth2/revocations", as_oauth_revocations, "revocation_feed_endpoint")     /* api/revocation-feed.md */            \
    X("GET", "/.well-known/jwks.json", as_oauth_jwks, "jwks_uri")                         /* RFC 7517 */                          \
    X("GET", "/.well-known/oauth-authorization-server", as_oauth_metadata, NULL)          /* RFC 8414 */                          \
    X("GET", "/.well-known/openid-configuration", as_oauth_metadata, NULL)                 /* OpenID Connect Discovery */         \
    X("GET", "/oauth2/userinfo", as_oauth_userinfo, "userinfo_endpoint")                  /* OpenID Connect Core §5.3 */          \
    X("POST", "/oauth2/userinfo", as_oauth_userinfo, NULL)                                                                        \
    X("POST", "/account/password", as_oauth_account_password, NULL) /* self-service password change (Bearer) */

#define AS_OAUTH__DECLARE(method, path, fn, name) AS_HANDLER(fn);
AS_OAUTH_ROUTES(AS_OAUTH__DECLARE)
#undef AS_OAUTH__DECLARE

/** Registers every route of the module with `ctx` (NULL: the route table as data, handlers never called). */
void as_oauth_register(as_router_t *router, as_oauth_ctx_t *ctx);

/**
 * Builds config->metadata (RFC 8414, with the OpenID Connect Discovery
 * members) from the issuer and the URLs of the routes in `routes` that name a
 * metadata member (those of every module registered into it). Call once,
 * before serving.
 */
void as_oauth_build_metadata(as_oauth_config_t *config, const as_router_t *routes);

#endif
