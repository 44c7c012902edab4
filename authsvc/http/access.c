/*
 * http/access — request ids, annotations, the JSON access log and the request
 * metrics (interface in access.h). Annotations live in h2o's per-request
 * environment vector (name, value pairs in the request's pool), which h2o
 * carries to the logger; the logger is always registered, for the metrics, and
 * writes a line only with --access-log.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/base/jsonw.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/access.h"
#include "authsvc/http/request.h"
#include "authsvc/metrics/metrics.h"

void as_http_annotate(h2o_req_t *req, const char *name, const char *value)
{
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(name, strlen(name));
    req->env.entries[req->env.size++] = h2o_strdup(&req->pool, value, SIZE_MAX);
}

const char *as_http_annotation(h2o_req_t *req, const char *name)
{
    for (size_t i = 0; i + 1 < req->env.size; i += 2)
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, name, strlen(name)))
            return req->env.entries[i + 1].base;
    return NULL;
}

static int request_id_acceptable(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > AS_HTTP_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i != v.len; ++i) {
        char c = v.base[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void as_http_request_id(h2o_req_t *req)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    h2o_iovec_t id;
    if (i >= 0 && request_id_acceptable(req->headers.entries[i].value)) {
        id = h2o_strdup(&req->pool, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    } else {
        uint8_t rnd[16];
        char *buf = h2o_mem_alloc_pool(&req->pool, AS_B64URL_ENCLEN(sizeof(rnd)) + 1);
        as_random_bytes(rnd, sizeof(rnd));
        id = h2o_iovec_init(buf, as_b64url_encode_public(rnd, sizeof(rnd), buf));
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, id.base, id.len);
    as_http_annotate(req, "request_id", id.base);
}

typedef struct st_access_logger_t {
    h2o_logger_t super;
    int fd;
} access_logger_t;

static int64_t usec_between(const struct timeval *a, const struct timeval *b)
{
    return ((int64_t)b->tv_sec - a->tv_sec) * 1000000 + (b->tv_usec - a->tv_usec);
}

static size_t method_slot(h2o_iovec_t m)
{
    if (h2o_memis(m.base, m.len, H2O_STRLIT("GET")))
        return AS_M_GET;
    if (h2o_memis(m.base, m.len, H2O_STRLIT("POST")))
        return AS_M_POST;
    if (h2o_memis(m.base, m.len, H2O_STRLIT("HEAD")))
        return AS_M_HEAD;
    return AS_M_OTHER_METHOD;
}

/**
 * The request's counters in the thread's metrics block (metrics/): by route, method, status class and OAuth
 * error code, its latency, and for the token endpoint the grant's outcome. Plain single-writer increments.
 */
static void count_request(h2o_req_t *req, const struct timeval *now)
{
    as_metrics_t *m = as_metrics_self;
    if (m == NULL)
        return;
    int status = req->res.status;
    size_t cls = status >= 100 && status < 600 ? (size_t)(status / 100 - 1) : 4;
    size_t route = as_metrics_route_of(req->path_normalized.base, req->path_normalized.len); /* as the router matches */
    size_t error = as_metrics_error_of(as_http_annotation(req, "error"));
    int64_t usec = usec_between(&req->timestamps.request_begin_at, now);
    as_metrics_add(&m->requests[route][method_slot(req->method)][cls][error], 1);
    as_histogram_observe(&m->latency[route], usec > 0 ? (uint64_t)usec : 0);
    const char *grant = as_http_annotation(req, "grant");
    if (grant != NULL)
        as_metrics_add(&m->grants[as_metrics_grant_of(grant)][cls == 1 ? AS_MGO_ISSUED : cls == 4 ? AS_MGO_FAILED : AS_MGO_REFUSED],
                       1);
}

static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    access_logger_t *logger = (access_logger_t *)self;
    char line[2048], when[40], address[AS_HTTP_ADDRESS_MAX];
    struct timeval now;
    struct tm tm;
    as_jsonw_t w;

    gettimeofday(&now, NULL);
    count_request(req, &now);
    if (logger->fd < 0)
        return;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", (long)now.tv_usec / 1000);
    as_http_client_address(req, address);
    /* the path without its query: a query may carry an id_token_hint or a code */
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if (path_len > 256)
        path_len = 256;

    as_jsonw_init(&w, line, sizeof(line) - 1);
    as_jsonw_raw(&w, "{", 1);
    as_jsonw_member_str(&w, "time", when);
    as_jsonw_raw(&w, H2O_STRLIT(",\"method\":"));
    as_jsonw_string(&w, req->method.base, req->method.len > 16 ? 16 : req->method.len);
    as_jsonw_raw(&w, H2O_STRLIT(",\"path\":"));
    as_jsonw_string(&w, req->path.base, path_len);
    as_jsonw_member_int(&w, "status", req->res.status);
    as_jsonw_member_int(&w, "latency_us", usec_between(&req->timestamps.request_begin_at, &now));
    as_jsonw_member_int(&w, "bytes", (int64_t)req->bytes_sent);
    as_jsonw_member_str(&w, "remote", address);
    as_jsonw_member_int(&w, "http", req->version >> 8 == 2 ? 2 : 1);
    for (size_t i = 0; i + 1 < req->env.size; i += 2) {
        char name[32];
        size_t nl = req->env.entries[i].len < sizeof(name) - 1 ? req->env.entries[i].len : sizeof(name) - 1;
        memcpy(name, req->env.entries[i].base, nl);
        name[nl] = '\0';
        as_jsonw_member_str(&w, name, req->env.entries[i + 1].base);
    }
    as_jsonw_raw(&w, "}", 1);
    if (w.failed) /* an over-long annotation: the line without them is still worth having */
        return;
    line[w.len++] = '\n';
    as_log_write(logger->fd, line, w.len); /* queued: a slow reader of the log never holds up the loop */
}

void as_http_access_log_register(h2o_pathconf_t *pathconf, int fd)
{
    access_logger_t *logger = (access_logger_t *)h2o_create_logger(pathconf, sizeof(*logger));
    logger->super.log_access = on_log_access;
    logger->fd = fd;
}
