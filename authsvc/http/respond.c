/*
 * http/respond — the responses (interface in respond.h): status lines, the
 * headers each kind of answer must carry, and the mapping of OAuth and Bearer
 * error codes to statuses.
 */
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/access.h"
#include "authsvc/http/form.h"
#include "authsvc/http/respond.h"

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 204:
        return "No Content";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 500:
        return "Internal Server Error";
    default:
        return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

static void add_no_store(h2o_req_t *req)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("pragma"), 0, NULL, H2O_STRLIT("no-cache"));
}

/**
 * What every response of ours carries: X-Content-Type-Options: nosniff (no browser guesses a JSON error into
 * HTML), and over TLS Strict-Transport-Security (one year; no includeSubDomains: the issuer's siblings are not ours
 * to decide).
 */
static void add_common_headers(h2o_req_t *req)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    if (req->scheme == &H2O_URL_SCHEME_HTTPS)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("strict-transport-security"), 0, NULL,
                              H2O_STRLIT("max-age=31536000"));
}

/** Sends a body of `content_type` (a literal) with `status`. */
static void send_body(h2o_req_t *req, int status, const char *content_type, size_t ctlen, const char *body, size_t len,
                      int flags)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    add_common_headers(req);
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, ctlen);
    if (flags & AS_RESP_NO_STORE)
        add_no_store(req);
    if (flags & AS_RESP_BASIC_CHALLENGE)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Basic realm=\"authsvc\", charset=\"UTF-8\""));
    h2o_send_inline(req, body, len);
}

void as_http_send_json_text(h2o_req_t *req, int status, const char *body, size_t len, int flags)
{
    send_body(req, status, H2O_STRLIT("application/json"), body, len, flags);
}

/** Serializes `body` (stolen) into pool memory, wiping jansson's heap copy. */
static h2o_iovec_t dump_json(h2o_req_t *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (text == NULL)
        abort();
    h2o_iovec_t copy = h2o_strdup(&req->pool, text, SIZE_MAX);
    h2o_mem_set_secure(text, 0, copy.len);
    free(text);
    return copy;
}

void as_http_send_json(h2o_req_t *req, int status, json_t *body, int flags)
{
    h2o_iovec_t text = dump_json(req, body);
    as_http_send_json_text(req, status, text.base, text.len, flags);
}

void as_http_send_empty(h2o_req_t *req, int flags)
{
    send_body(req, 200, NULL, 0, NULL, 0, flags);
}

/** A 204 or 304: no body, and no Content-Length (RFC 9110 §8.6), which h2o leaves out, as chunks, when it is unknown. */
static void send_no_content(h2o_req_t *req, int status)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    add_common_headers(req);
    h2o_send_inline(req, NULL, 0);
}

void as_http_send_not_modified(h2o_req_t *req)
{
    send_no_content(req, 304);
}

/** 1 if `s` can stand in a Content-Security-Policy source list as one expression, and ends nothing. */
static int csp_source_ok(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 512)
        return 0;
    for (; *s != '\0'; ++s)
        if (*s <= ' ' || *s >= 0x7f || *s == ';' || *s == ',' || *s == '\'' || *s == '"')
            return 0;
    return 1;
}

void as_http_send_html_form(h2o_req_t *req, int status, const char *body, size_t len, const char *form_target)
{
    h2o_headers_t *h = &req->res.headers;
    h2o_iovec_t csp =
        h2o_concat(&req->pool,
                   h2o_iovec_init(H2O_STRLIT("default-src 'none'; style-src 'self'; img-src 'self'; "
                                             "form-action 'self'")),
                   csp_source_ok(form_target) ? h2o_iovec_init(H2O_STRLIT(" ")) : h2o_iovec_init("", 0),
                   csp_source_ok(form_target) ? h2o_iovec_init(form_target, strlen(form_target)) : h2o_iovec_init("", 0),
                   h2o_iovec_init(H2O_STRLIT("; frame-ancestors 'none'; base-uri 'none'")));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("content-security-policy"), 0, NULL, csp.base, csp.len);
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("x-frame-options"), 0, NULL, H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, h, H2O_STRLIT("referrer-policy"), 0, NULL, H2O_STRLIT("no-referrer"));
    send_body(req, status, H2O_STRLIT("text/html; charset=utf-8"), body, len, AS_RESP_NO_STORE);
}

void as_http_send_html(h2o_req_t *req, int status, const char *body, size_t len)
{
    as_http_send_html_form(req, status, body, len, NULL);
}

void as_http_send_asset(h2o_req_t *req, const char *content_type, const char *body, size_t len, const char *cache_control)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, cache_control, strlen(cache_control));
    send_body(req, 200, content_type, strlen(content_type), body, len, 0);
}

void as_http_set_cookie(h2o_req_t *req, const char *name, const char *value, int64_t max_age, int flags)
{
    h2o_iovec_t v = as_cookie_format(&req->pool, name, value, max_age, flags);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL, v.base, v.len);
}

void as_http_redirect(h2o_req_t *req, as_redirect_t kind, const char *location)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, location, strlen(location));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL, H2O_STRLIT("no-referrer"));
    send_body(req, kind == AS_REDIRECT_SEE_OTHER ? 303 : 302, NULL, 0, NULL, 0, AS_RESP_NO_STORE);
}

void as_http_oauth_error(h2o_req_t *req, as_oauth_error_t error, const char *description, int flags)
{
    static const struct {
        int status;
        const char *code;
    } table[] = {
        [AS_OAUTH_INVALID_REQUEST] = {400, "invalid_request"},
        [AS_OAUTH_INVALID_CLIENT] = {401, "invalid_client"},
        [AS_OAUTH_INVALID_GRANT] = {400, "invalid_grant"},
        [AS_OAUTH_UNAUTHORIZED_CLIENT] = {400, "unauthorized_client"},
        [AS_OAUTH_UNSUPPORTED_GRANT_TYPE] = {400, "unsupported_grant_type"},
        [AS_OAUTH_INVALID_SCOPE] = {400, "invalid_scope"},
        [AS_OAUTH_TEMPORARILY_UNAVAILABLE] = {503, "temporarily_unavailable"},
        [AS_OAUTH_SERVER_ERROR] = {500, "server_error"},
        [AS_OAUTH_NOT_ALLOWED] = {403, "unauthorized_client"},
    };
    json_t *body = json_pack("{s:s, s:s}", "error", table[error].code, "error_description", description);
    as_http_annotate(req, "error", table[error].code);
    if (error == AS_OAUTH_TEMPORARILY_UNAVAILABLE)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    as_http_send_json(req, table[error].status, body, flags | AS_RESP_NO_STORE);
}

void as_http_oauth_throttled(h2o_req_t *req, int retry_after, const char *description)
{
    char *v = h2o_mem_alloc_pool(&req->pool, 16);
    int n = snprintf(v, 16, "%d", retry_after > 0 ? retry_after : 1);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, v, (size_t)n);
    as_http_annotate(req, "error", "slow_down");
    as_http_send_json(req, 429, json_pack("{s:s, s:s}", "error", "slow_down", "error_description", description),
                      AS_RESP_NO_STORE);
}

void as_http_oauth_failure(h2o_req_t *req, int err)
{
    switch (err) {
    case AS_ERR_DB_UNAVAILABLE:
    case AS_ERR_DB_TIMEOUT:
    case AS_ERR_BUSY:
        as_http_oauth_error(req, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "the service is temporarily unavailable, retry shortly", 0);
        break;
    default:
        as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
        break;
    }
}

void as_http_bearer_error(h2o_req_t *req, as_bearer_error_t error, const char *description)
{
    static const struct {
        int status;
        const char *code;
        const char *challenge; /* NULL: none */
    } table[] = {
        /* no error attribute when no credentials came (RFC 6750 §3.1) */
        [AS_BEARER_MISSING] = {401, "invalid_request", "Bearer realm=\"authsvc\""},
        [AS_BEARER_INVALID_TOKEN] = {401, "invalid_token", "Bearer realm=\"authsvc\", error=\"invalid_token\""},
        [AS_BEARER_INSUFFICIENT_SCOPE] = {403, "insufficient_scope", "Bearer realm=\"authsvc\", error=\"insufficient_scope\""},
        [AS_BEARER_INVALID_REQUEST] = {400, "invalid_request", NULL},
    };
    if (table[error].challenge != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, table[error].challenge,
                       strlen(table[error].challenge));
    as_http_send_json(req, table[error].status, json_pack("{s:s, s:s}", "error", table[error].code, "error_description", description),
                      AS_RESP_NO_STORE);
}

void as_http_problem(h2o_req_t *req, int status, const char *title, const char *detail)
{
    json_t *body = json_pack("{s:s, s:s, s:i}", "type", "about:blank", "title", title, "status", status);
    if (detail != NULL)
        json_object_set_new(body, "detail", json_string(detail));
    h2o_iovec_t text = dump_json(req, body);
    send_body(req, status, H2O_STRLIT("application/problem+json"), text.base, text.len, AS_RESP_NO_STORE);
}

void as_http_not_found(h2o_req_t *req)
{
    static const char body[] = "{\"error\":\"not_found\",\"error_description\":\"no such endpoint\"}";
    as_http_send_json_text(req, 404, body, sizeof(body) - 1, 0);
}

void as_http_method_not_allowed(h2o_req_t *req, const char *allow)
{
    static const char body[] = "{\"error\":\"method_not_allowed\",\"error_description\":\"method not allowed on this endpoint\"}";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    as_http_send_json_text(req, 405, body, sizeof(body) - 1, 0);
}

void as_http_cors(h2o_req_t *req, const char *origin)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL, origin, strlen(origin));
    if (strcmp(origin, "*") != 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0, NULL,
                          H2O_STRLIT("WWW-Authenticate, Retry-After"));
}

void as_http_preflight(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-methods"), 0, NULL, allow, strlen(allow));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-headers"), 0, NULL,
                          H2O_STRLIT("Authorization, Content-Type"));
    as_http_cors(req, "*");
    /* two hours: what Chromium caps it at (Firefox: a day) */
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0, NULL, H2O_STRLIT("7200"));
    send_no_content(req, 204);
}

void as_http_payload_too_large(h2o_req_t *req)
{
    static const char body[] = "{\"error\":\"invalid_request\",\"error_description\":\"the request body is too large\"}";
    as_http_send_json_text(req, 413, body, sizeof(body) - 1, AS_RESP_NO_STORE);
}

void as_http_header_fields_too_large(h2o_req_t *req)
{
    static const char body[] = "{\"error\":\"invalid_request\",\"error_description\":\"too many header fields\"}";
    as_http_send_json_text(req, 431, body, sizeof(body) - 1, AS_RESP_NO_STORE);
}
