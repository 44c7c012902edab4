/*
 * http/respond — every response authsvc writes: JSON bodies, RFC 6749 §5.2
 * errors with no-store caching, 404/405/503. Loop thread only.
 */
#ifndef AS_HTTP_RESPOND_H
#define AS_HTTP_RESPOND_H

#include <h2o.h>
#include <jansson.h>

/** Response flags. */
enum {
    AS_RESP_NO_STORE = 1,      /* Cache-Control: no-store + Pragma: no-cache (every token-endpoint answer) */
    AS_RESP_BASIC_CHALLENGE = 2, /* WWW-Authenticate: Basic realm="authsvc" (invalid_client after Basic) */
};

/** Sends `body` (a JSON text in memory that outlives the request, or pool memory) with status. */
void as_http_send_json_text(h2o_req_t *req, int status, const char *body, size_t len, int flags);

/** Serializes `body` (reference stolen) and sends it. */
void as_http_send_json(h2o_req_t *req, int status, json_t *body, int flags);

/** The OAuth error codes of RFC 6749 §5.2 (and RFC 7009/7662/6750 later). */
typedef enum en_as_oauth_error_t {
    AS_OAUTH_INVALID_REQUEST,
    AS_OAUTH_INVALID_CLIENT,
    AS_OAUTH_INVALID_GRANT,
    AS_OAUTH_UNAUTHORIZED_CLIENT,
    AS_OAUTH_UNSUPPORTED_GRANT_TYPE,
    AS_OAUTH_INVALID_SCOPE,
    AS_OAUTH_TEMPORARILY_UNAVAILABLE, /* 503: the database is unreachable or slow */
    AS_OAUTH_SERVER_ERROR,            /* 500: a bug; logged */
} as_oauth_error_t;

/**
 * An RFC 6749 §5.2 error: status by code (400, 401 for invalid_client, 503,
 * 500), JSON {"error", "error_description"}, no-store. `description` must be
 * a literal or pool memory, and never holds a secret.
 */
void as_http_oauth_error(h2o_req_t *req, as_oauth_error_t error, const char *description, int flags);

/**
 * An RFC 6750 §3 error for a protected resource: 401 with `WWW-Authenticate:
 * Bearer realm="authsvc"` (plus error="invalid_token" when `error` is that),
 * or 400/403 with the JSON body {"error", "error_description"}; no-store.
 */
void as_http_bearer_error(h2o_req_t *req, int status, const char *error, const char *description);

/** 413 with an RFC 6749 invalid_request body, no-store. */
void as_http_payload_too_large(h2o_req_t *req);

/**
 * Reads the request's application/x-www-form-urlencoded body into `form`
 * (struct as_form_t of http/form.h). Returns 0, or -1 after answering
 * invalid_request (wrong content type, malformed, repeated or too many parameters).
 */
struct st_as_form_t;
int as_http_read_form(h2o_req_t *req, struct st_as_form_t *form);

/** The answer to a failed database call: 503 temporarily_unavailable when unreachable or slow, else 500. */
void as_http_store_error(h2o_req_t *req, int err);

/** 404 with a JSON body. */
void as_http_not_found(h2o_req_t *req);

/** 405 with `Allow: <allow>` (a literal) and a JSON body. */
void as_http_method_not_allowed(h2o_req_t *req, const char *allow);

#endif
