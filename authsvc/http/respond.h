/*
 * http/respond — every response authsvc writes, and the one place where an
 * outcome becomes an HTTP status: JSON bodies, RFC 6749 §5.2 errors, RFC 6750
 * Bearer errors, RFC 9457 problem details, HTML pages with their security
 * headers, redirects, and the framework's own 404/405/413/431. Every response
 * carries X-Content-Type-Options: nosniff, and Strict-Transport-Security
 * over TLS. Loop thread only;
 * every string handed in must outlive the request (a literal or pool memory)
 * unless said otherwise.
 */
#ifndef AS_HTTP_RESPOND_H
#define AS_HTTP_RESPOND_H

#include <h2o.h>
#include <jansson.h>

/** Response flags. */
enum {
    AS_RESP_NO_STORE = 1,        /* Cache-Control: no-store + Pragma: no-cache (every token-endpoint answer) */
    AS_RESP_BASIC_CHALLENGE = 2, /* WWW-Authenticate: Basic realm="authsvc" (invalid_client after Basic) */
};

/** Sends `body` (a JSON text) with `status`. */
void as_http_send_json_text(h2o_req_t *req, int status, const char *body, size_t len, int flags);

/** Serializes `body` (reference stolen; the heap copy is wiped, it may hold tokens) and sends it. */
void as_http_send_json(h2o_req_t *req, int status, json_t *body, int flags);

/** 200 with an empty body (RFC 7009 §2.2: the revocation answer). */
void as_http_send_empty(h2o_req_t *req, int flags);

/** 304 Not Modified: the client's cached copy (validated by ETag) stands; headers added before are kept. */
void as_http_send_not_modified(h2o_req_t *req);

/**
 * An HTML page (text/html; charset=utf-8) with the headers every page of ours
 * carries: no-store, a Content-Security-Policy without inline script and with
 * frame-ancestors 'none', X-Frame-Options: DENY, Referrer-Policy: no-referrer
 * (and nosniff, as every response). `status` is 200, 400 for an error page, or
 * 503 when the page says to retry later.
 */
void as_http_send_html(h2o_req_t *req, int status, const char *body, size_t len);

/**
 * As as_http_send_html, for a page whose form, posted to this origin, is
 * answered with a redirect to `form_target`: a CSP source expression (an
 * origin such as "https://app.example.com", or a scheme such as
 * "com.example.app:") that the policy's form-action allows besides 'self',
 * since browsers apply form-action to the redirects that follow a submission.
 * NULL, or an expression with a character that could end it (space, quote,
 * ';', ','): 'self' only.
 */
void as_http_send_html_form(h2o_req_t *req, int status, const char *body, size_t len, const char *form_target);

/**
 * A static file of ours (a stylesheet): 200, `content_type` (a literal), the
 * given Cache-Control (a literal: it may be cached, unlike everything else we
 * send) and X-Content-Type-Options: nosniff.
 */
void as_http_send_asset(h2o_req_t *req, const char *content_type, const char *body, size_t len, const char *cache_control);

/** Adds a Set-Cookie header (see as_cookie_format in form.h); call before sending the response. */
void as_http_set_cookie(h2o_req_t *req, const char *name, const char *value, int64_t max_age, int flags);

/** How a redirect asks the browser to follow. */
typedef enum en_as_redirect_t {
    AS_REDIRECT_FOUND,     /* 302: the authorization response (RFC 6749 §4.1.2) */
    AS_REDIRECT_SEE_OTHER, /* 303: after a form POST, follow with GET */
} as_redirect_t;

/** A redirect to `location` (an absolute URL or a path), no-store, empty body. */
void as_http_redirect(h2o_req_t *req, as_redirect_t kind, const char *location);

/** The OAuth error codes of RFC 6749 §5.2 (and RFC 7009/7662). */
typedef enum en_as_oauth_error_t {
    AS_OAUTH_INVALID_REQUEST,
    AS_OAUTH_INVALID_CLIENT,
    AS_OAUTH_INVALID_GRANT,
    AS_OAUTH_UNAUTHORIZED_CLIENT,
    AS_OAUTH_UNSUPPORTED_GRANT_TYPE,
    AS_OAUTH_INVALID_SCOPE,
    AS_OAUTH_TEMPORARILY_UNAVAILABLE, /* 503: the database is unreachable or slow, a queue is full */
    AS_OAUTH_SERVER_ERROR,            /* 500: a bug; logged */
    AS_OAUTH_NOT_ALLOWED,             /* 403 unauthorized_client: an authenticated client without the right to call this
                                       * endpoint (introspection, the revocation feed: `client add --allow`) */
} as_oauth_error_t;

/**
 * An RFC 6749 §5.2 error: status by code (400, 401 for invalid_client, 503
 * with Retry-After, 500), JSON {"error", "error_description"}, no-store.
 * `description` never holds a secret.
 */
void as_http_oauth_error(h2o_req_t *req, as_oauth_error_t error, const char *description, int flags);

/**
 * 429 with `Retry-After: retry_after` and an RFC 6749-shaped body whose error
 * is "slow_down" (the code RFC 8628 registers at the token endpoint for "come
 * back later, more slowly"), no-store: a throttled password login.
 */
void as_http_oauth_throttled(h2o_req_t *req, int retry_after, const char *description);

/**
 * The answer to a failed call below http/ (an as_err_t): 503
 * temporarily_unavailable when the database is unreachable or slow or a queue
 * is full, else 500 server_error (logged by whoever failed).
 */
void as_http_oauth_failure(h2o_req_t *req, int err);

/** What a protected resource says about the access token it was (not) given (RFC 6750 §3.1). */
typedef enum en_as_bearer_error_t {
    AS_BEARER_MISSING,            /* 401, no error attribute in the challenge: no token came */
    AS_BEARER_INVALID_TOKEN,      /* 401 invalid_token: expired, revoked, malformed, badly signed */
    AS_BEARER_INSUFFICIENT_SCOPE, /* 403 insufficient_scope: a good token that may not do this */
    AS_BEARER_INVALID_REQUEST,    /* 400 invalid_request: the request around the token is wrong */
} as_bearer_error_t;

/** An RFC 6750 §3 error: the status and WWW-Authenticate: Bearer challenge of `error`, JSON body, no-store. */
void as_http_bearer_error(h2o_req_t *req, as_bearer_error_t error, const char *description);

/**
 * An RFC 9457 problem (application/problem+json) with `status`, a `title`
 * and an optional `detail` (NULL: none): for endpoints that are not OAuth.
 */
void as_http_problem(h2o_req_t *req, int status, const char *title, const char *detail);

/** 404 with a JSON body. */
void as_http_not_found(h2o_req_t *req);

/** 405 with `Allow: <allow>` (pool memory or a literal) and a JSON body. */
void as_http_method_not_allowed(h2o_req_t *req, const char *allow);

/**
 * CORS (Fetch standard): lets `origin` read this response — "*" (any
 * origin), or one origin (pool memory or a literal; `Vary: Origin` is added)
 * — and exposes the headers a browser app reads (WWW-Authenticate,
 * Retry-After). Never Access-Control-Allow-Credentials: a browser sends no
 * cookie with `*`, and reads no credentialed response. Call before sending.
 */
void as_http_cors(h2o_req_t *req, const char *origin);

/**
 * Answers a CORS preflight (OPTIONS): 204, any origin (the preflight only lets
 * the request be sent; whether its answer may be read is that answer's
 * as_http_cors), `Allow` and `Access-Control-Allow-Methods: <allow>` (pool
 * memory or a literal), Allow-Headers Authorization and Content-Type, a Max-Age.
 */
void as_http_preflight(h2o_req_t *req, const char *allow);

/** 413 with an RFC 6749 invalid_request body, no-store. */
void as_http_payload_too_large(h2o_req_t *req);

/** 431 (RFC 6585) with an RFC 6749 invalid_request body, no-store: more header fields than HTTP/1.1 accepts. */
void as_http_header_fields_too_large(h2o_req_t *req);

#endif
