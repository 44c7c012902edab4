/*
 * login/authz — the authorization request of RFC 6749 §4.1.1 and OpenID
 * Connect Core §3.1.2.1 as data: reading and checking its parameters, the
 * digest that binds a form to it, and the redirect that answers it (§4.1.2,
 * with the iss of RFC 9207). Pure functions on pool memory; any thread.
 * Module-private (as_login__): the login module's files and its unit tests.
 */
#ifndef AS_LOGIN_AUTHZ_H
#define AS_LOGIN_AUTHZ_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/form.h"

/** Limits, in bytes, of what an authorization request may carry. */
#define AS_AUTHZ_CLIENT_ID_MAX 255
#define AS_AUTHZ_STATE_MAX 1024
#define AS_AUTHZ_NONCE_MAX 512 /* the database's limit too */
#define AS_AUTHZ_LOGIN_HINT_MAX 255

/** The prompt values of OpenID Connect Core §3.1.2.1, as a bit set. */
enum {
    AS_PROMPT_NONE = 1,
    AS_PROMPT_LOGIN = 2,
    AS_PROMPT_CONSENT = 4,
    AS_PROMPT_SELECT_ACCOUNT = 8, /* accepted; one browser holds one account, so nothing to select */
};

/**
 * The errors an authorization response may carry (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6): each
 * once, as X(NAME, "code") — the enum member AS_AUTHZ_NAME, and the code the redirect spells.
 */
#define AS_AUTHZ_ERRORS(X)                                                                                                         \
    X(INVALID_REQUEST, "invalid_request")                                                                                          \
    X(UNAUTHORIZED_CLIENT, "unauthorized_client")                                                                                  \
    X(ACCESS_DENIED, "access_denied")                                                                                              \
    X(UNSUPPORTED_RESPONSE_TYPE, "unsupported_response_type")                                                                      \
    X(INVALID_SCOPE, "invalid_scope")                                                                                              \
    X(SERVER_ERROR, "server_error")                                                                                                \
    X(TEMPORARILY_UNAVAILABLE, "temporarily_unavailable")                                                                          \
    X(LOGIN_REQUIRED, "login_required")                                                                                            \
    X(CONSENT_REQUIRED, "consent_required")                                                                                        \
    X(REQUEST_NOT_SUPPORTED, "request_not_supported")                                                                              \
    X(REQUEST_URI_NOT_SUPPORTED, "request_uri_not_supported")                                                                      \
    X(REGISTRATION_NOT_SUPPORTED, "registration_not_supported")

typedef enum en_as_authz_error_t {
#define AS_AUTHZ__MEMBER(name, code) AS_AUTHZ_##name,
    AS_AUTHZ_ERRORS(AS_AUTHZ__MEMBER)
#undef AS_AUTHZ__MEMBER
} as_authz_error_t;

/** The error code as the redirect spells it ("invalid_request"). */
const char *as_login__authz_error_name(as_authz_error_t error);

/** A checked authorization request; the strings point into the parameters (NUL-terminated) or the pool. */
typedef struct st_as_authz_t {
    const char *client_id;
    const char *redirect_uri;
    const char *state;          /* NULL: none; echoed in every redirect, errors included */
    const char *nonce;          /* NULL: none */
    const char *code_challenge; /* S256 */
    const char *scope;          /* the scope granted: the request's, narrowed to the client's ("" possible) */
    const char *login_hint;     /* NULL: none; prefills the username */
    unsigned prompt;            /* AS_PROMPT_* */
    int64_t max_age;            /* seconds; -1: none */
} as_authz_t;

/**
 * The parameters of an authorization request that authsvc reads, in a fixed
 * order: the ones the login and consent forms send back, and that
 * as_login__authz_digest covers. Others (display, ui_locales, ...) are ignored.
 */
extern const char *const as_login__authz_params[];
extern const size_t as_login__num_authz_params;

/**
 * Reads client_id and redirect_uri into `a`: the parameters that decide
 * whether an error may be sent back to the client at all. Returns 0, or
 * AS_ERR_BAD_INPUT with a reason for the error page (missing, too long, or a
 * redirect_uri with a fragment, RFC 6749 §3.1.2). Whether the URI is
 * registered for the client is the caller's to check (as_redirect_uri_allowed).
 */
int as_login__authz_target(const as_form_t *params, as_authz_t *a, const char **why);

/**
 * Checks the rest of the request, once the redirect URI is trusted, for a
 * client allowed `grants` (AS_GRANT_*) and `scopes`: response_type=code,
 * PKCE with S256, the scope, prompt, max_age, nonce; request objects and
 * registration are refused as OpenID Connect says. Returns 0 and fills `a`,
 * or AS_ERR_BAD_INPUT with the error and its description (a->state is set
 * whenever it is within its limit, so that the error redirect echoes it).
 */
int as_login__authz_check(h2o_mem_pool_t *pool, const as_form_t *params, unsigned grants, const as_strlist_t *scopes, as_authz_t *a,
                          as_authz_error_t *error, const char **why);

/** SHA-256 over the parameters of as_login__authz_params, present or not: what a form's CSRF token is bound to. */
void as_login__authz_digest(const as_form_t *params, uint8_t out[AS_SHA256_LEN]);

/**
 * `redirect_uri` with the query parameters `names`=`values` (NULL values
 * skipped) appended, percent-encoded, after "?" or after its own query
 * with "&" (RFC 6749 §3.1.2 keeps it). In `pool`.
 */
const char *as_login__redirect_url(h2o_mem_pool_t *pool, const char *redirect_uri, const char *const *names,
                                   const char *const *values, size_t n);

/**
 * What a Content-Security-Policy form-action must allow for a redirect to
 * `redirect_uri`: its origin ("https://app.example:8443"), or only its scheme
 * ("com.example.app:", and "http:" for an IPv6 literal, which CSP cannot
 * name). NULL when the URI has no usable scheme. In `pool`.
 */
const char *as_login__form_target(h2o_mem_pool_t *pool, const char *redirect_uri);

#endif
