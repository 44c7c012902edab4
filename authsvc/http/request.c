/*
 * http/request — the request readers (interface in request.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>
#include "authsvc/as.h"
#include "authsvc/http/request.h"

int as_http_read_form(h2o_req_t *req, as_form_t *form, const char **why)
{
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    int err;

    form->num_params = 0;
    if (ct < 0 || !as_media_type_is(req->headers.entries[ct].value.base, req->headers.entries[ct].value.len,
                                     "application/x-www-form-urlencoded")) {
        *why = "the body must be application/x-www-form-urlencoded";
        return AS_ERR_UNSUPPORTED;
    }
    switch ((err = as_form_parse(&req->pool, req->entity.base, req->entity.len, form, NULL))) {
    case 0:
        return 0;
    case AS_ERR_DUPLICATE:
        *why = "a parameter is repeated";
        break;
    case AS_ERR_TOO_LARGE:
        *why = "too many parameters";
        break;
    default:
        *why = "malformed form body";
        break;
    }
    return err;
}

int as_http_authorization(h2o_req_t *req, h2o_iovec_t *value)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0)
        return AS_ERR_NOT_FOUND;
    if (h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, i) >= 0)
        return AS_ERR_DUPLICATE;
    *value = req->headers.entries[i].value;
    return 0;
}

int as_http_basic_credentials(h2o_req_t *req, h2o_iovec_t *id, h2o_iovec_t *secret)
{
    h2o_iovec_t v;
    int err;
    if ((err = as_http_authorization(req, &v)) != 0)
        return err;
    return as_basic_parse(&req->pool, v.base, v.len, id, secret);
}

int as_http_bearer_token(h2o_req_t *req, h2o_iovec_t *token)
{
    h2o_iovec_t v;
    int err;
    if ((err = as_http_authorization(req, &v)) != 0)
        return err;
    if (v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0)
        return AS_ERR_NOT_FOUND;
    *token = h2o_iovec_init(v.base + 7, v.len - 7);
    while (token->len != 0 && token->base[0] == ' ') {
        ++token->base;
        --token->len;
    }
    return token->len != 0 ? 0 : AS_ERR_BAD_INPUT;
}

int as_http_query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    size_t nlen = strlen(name);
    int found = 0;

    if (req->query_at == SIZE_MAX)
        return AS_ERR_NOT_FOUND;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', end - q), *pend = amp != NULL ? amp : end;
        if ((size_t)(pend - q) >= nlen && memcmp(q, name, nlen) == 0 && ((size_t)(pend - q) == nlen || q[nlen] == '=')) {
            if ((size_t)(pend - q) == nlen)
                return AS_ERR_BAD_INPUT;
            if (found)
                return AS_ERR_DUPLICATE;
            *value = h2o_iovec_init(q + nlen + 1, pend - (q + nlen + 1));
            h2o_iovec_t decoded;
            if (as_form_decode(&req->pool, value->base, value->len, &decoded) != 0)
                return AS_ERR_BAD_INPUT; /* whoever decodes it later gets UTF-8 */
            found = 1;
        }
        q = pend + 1;
    }
    return found ? 0 : AS_ERR_NOT_FOUND;
}

int as_http_cookie(h2o_req_t *req, const char *name, h2o_iovec_t *value)
{
    int found = 0;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0;) {
        h2o_iovec_t v;
        int err;
        switch ((err = as_cookie_find(req->headers.entries[i].value.base, req->headers.entries[i].value.len, name, &v))) {
        case 0:
            if (found)
                return AS_ERR_DUPLICATE;
            *value = v;
            found = 1;
            break;
        case AS_ERR_DUPLICATE:
        case AS_ERR_BAD_INPUT:
            return err;
        default:
            break;
        }
    }
    return found ? 0 : AS_ERR_NOT_FOUND;
}

void as_http_client_address(h2o_req_t *req, char out[AS_HTTP_ADDRESS_MAX])
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername != NULL ? req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) : 0;
    const void *addr = NULL;

    if (len != 0 && ss.ss_family == AF_INET)
        addr = &((struct sockaddr_in *)&ss)->sin_addr;
    else if (len != 0 && ss.ss_family == AF_INET6)
        addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (addr == NULL || inet_ntop(ss.ss_family, addr, out, AS_HTTP_ADDRESS_MAX) == NULL)
        snprintf(out, AS_HTTP_ADDRESS_MAX, "unknown");
}
