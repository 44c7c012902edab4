/*
 * oauth/bearer — the user behind a Bearer access token (RFC 6750), for the
 * endpoints a signed-in user calls with one: userinfo and /account/password.
 *
 * as_oauth__bearer_verify checks the token itself (our signature under the key
 * set it holds, our issuer, not expired, a user's token, an optional scope);
 * as_oauth__bearer_check then asks the database that it was not revoked and is
 * of the user's current token_version (and, if asked, reads the user). Every
 * failure is answered here, with RFC 6750's errors or a 503; the endpoint
 * only continues on success.
 *
 * The endpoint's request state begins with an as_oauth__bearer_t, allocated
 * by as_oauth__bearer_new; its dispose callback calls as_oauth__bearer_dispose.
 * Loop thread only.
 */
#ifndef AS_OAUTH_BEARER_H
#define AS_OAUTH_BEARER_H

#include <h2o.h>
#include "authsvc/http/form.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"
#include "authsvc/token/access.h"

typedef struct st_as_oauth__bearer_t as_oauth__bearer_t;
/** The token is good; `user` is the user when as_oauth__bearer_check was asked for it, else NULL. */
typedef void (*as_oauth__bearer_cb)(as_oauth__bearer_t *bearer, const as_user_t *user);

struct st_as_oauth__bearer_t {
    as_oauth_ctx_t *ctx;
    h2o_req_t *req;
    as_keyhold_t *keys; /* the key set the token was verified under, held until dispose */
    as_pool_job_t *job;
    as_jwt_t jwt;   /* the verified token's claims */
    as_form_t form; /* the request's form, if the endpoint read one: wiped at dispose */
    int want_user;
    as_oauth__bearer_cb cb;
};

/**
 * Allocates the endpoint's request state in the request's pool: `size` bytes
 * beginning with an as_oauth__bearer_t, zeroed; `dispose` runs when the
 * request goes (it must call as_oauth__bearer_dispose; NULL: only that).
 */
void *as_oauth__bearer_new(as_oauth_ctx_t *ctx, h2o_req_t *req, size_t size, void (*dispose)(void *));

/**
 * Verifies `token` (any audience: the endpoints are ours) and that it is a
 * user's and, if `scope` is not NULL, that its scope holds `scope`. 0, or -1
 * with the request answered (401 invalid_token, 403 insufficient_scope).
 */
int as_oauth__bearer_verify(as_oauth__bearer_t *bearer, h2o_iovec_t token, const char *scope);

/**
 * After as_oauth__bearer_verify: one statement says the token is not revoked
 * and of the user's current token_version; with `want_user` a second reads the
 * user (who must still be enabled and of that version). Then `cb`; on any
 * failure the request is answered (401 invalid_token, 503) and `cb` not called.
 */
void as_oauth__bearer_check(as_oauth__bearer_t *bearer, int want_user, as_oauth__bearer_cb cb);

/** 1 if the space-separated `scope` holds `token`. */
int as_oauth__scope_has(const char *scope, const char *token);

/**
 * Cancels what is pending, lets go of the key set and the claims, wipes the
 * form (idempotent). `bearer` is an as_oauth__bearer_t: the signature is a
 * dispose callback's, so that it serves as one.
 */
void as_oauth__bearer_dispose(void *bearer);

#endif
