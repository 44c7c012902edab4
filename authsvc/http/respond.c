#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/http/form.h"
#include "authsvc/http/respond.h"

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

void as_http_send_json_text(h2o_req_t *req, int status, const char *body, size_t len, int flags)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    if (flags & AS_RESP_NO_STORE) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("pragma"), 0, NULL, H2O_STRLIT("no-cache"));
    }
    if (flags & AS_RESP_BASIC_CHALLENGE)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Basic realm=\"authsvc\", charset=\"UTF-8\""));
    h2o_send_inline(req, body, len);
}

void as_http_send_json(h2o_req_t *req, int status, json_t *body, int flags)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    if (text == NULL)
        abort();
    h2o_iovec_t copy = h2o_strdup(&req->pool, text, SIZE_MAX);
    /* the body may hold tokens: do not leave them in freed heap memory */
    h2o_mem_set_secure(text, 0, copy.len);
    free(text);
    as_http_send_json_text(req, status, copy.base, copy.len, flags);
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
    };
    json_t *body = json_pack("{s:s, s:s}", "error", table[error].code, "error_description", description);
    if (error == AS_OAUTH_TEMPORARILY_UNAVAILABLE)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    as_http_send_json(req, table[error].status, body, flags | AS_RESP_NO_STORE);
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

void as_http_payload_too_large(h2o_req_t *req)
{
    static const char body[] = "{\"error\":\"invalid_request\",\"error_description\":\"the request body is too large\"}";
    as_http_send_json_text(req, 413, body, sizeof(body) - 1, AS_RESP_NO_STORE);
}

void as_http_bearer_error(h2o_req_t *req, int status, const char *error, const char *description)
{
    if (status == 403) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer realm=\"authsvc\", error=\"insufficient_scope\""));
    } else if (status == 401) {
        /* no error attribute when no credentials came (RFC 6750 §3.1) */
        if (strcmp(error, "invalid_token") == 0) {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                           H2O_STRLIT("Bearer realm=\"authsvc\", error=\"invalid_token\""));
        } else {
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL, H2O_STRLIT("Bearer realm=\"authsvc\""));
        }
    }
    as_http_send_json(req, status, json_pack("{s:s, s:s}", "error", error, "error_description", description), AS_RESP_NO_STORE);
}

int as_http_read_form(h2o_req_t *req, as_form_t *form)
{
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    const char *why;

    if (ct < 0 || !as_media_type_is(req->headers.entries[ct].value.base, req->headers.entries[ct].value.len,
                                     "application/x-www-form-urlencoded")) {
        why = "the body must be application/x-www-form-urlencoded";
    } else {
        switch (as_form_parse(&req->pool, req->entity.base, req->entity.len, form, NULL)) {
        case AS_FORM_OK:
            return 0;
        case AS_FORM_DUPLICATE:
            why = "a parameter is repeated";
            break;
        case AS_FORM_TOO_MANY:
            why = "too many parameters";
            break;
        default:
            why = "malformed form body";
            break;
        }
    }
    as_http_oauth_error(req, AS_OAUTH_INVALID_REQUEST, why, 0);
    return -1;
}

void as_http_store_error(h2o_req_t *req, int err)
{
    if (err == AS_ERR_DB_UNAVAILABLE || err == AS_ERR_DB_TIMEOUT) {
        as_http_oauth_error(req, AS_OAUTH_TEMPORARILY_UNAVAILABLE, "the service is temporarily unavailable, retry shortly", 0);
    } else {
        as_http_oauth_error(req, AS_OAUTH_SERVER_ERROR, "internal error", 0);
    }
}
