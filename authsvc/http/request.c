/*
 * http/request — the request readers (interface in request.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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

/* --- the client address, and trusted proxies -------------------------------------------------------------- */

/* --trusted-proxy: set before the event threads start, read-only while they run */
static as_http_cidr_t *trusted_proxies;
static size_t num_trusted_proxies;

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/** Parses an address (no prefix) of `len` bytes into family and bytes, IPv4-mapped IPv6 as IPv4. Returns 0 or -1. */
static int parse_address(const char *s, size_t len, int *family, uint8_t addr[16])
{
    char buf[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *family = 6;
        if (memcmp(addr, v4mapped_prefix, 12) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            *family = 4;
        }
        return 0;
    }
    return -1;
}

int as_http_cidr_parse(const char *spec, as_http_cidr_t *out)
{
    const char *slash = strchr(spec, '/');
    size_t alen = slash != NULL ? (size_t)(slash - spec) : strlen(spec);
    int family, mapped;
    unsigned bits, max;

    memset(out, 0, sizeof(*out));
    if (parse_address(spec, alen, &family, out->addr) != 0)
        return AS_ERR_BAD_INPUT;
    mapped = family == 4 && memchr(spec, ':', alen) != NULL;
    max = family == 4 ? 32 : 128;
    if (slash == NULL) {
        bits = max;
    } else {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3)
            return AS_ERR_BAD_INPUT;
        bits = 0;
        for (; *p != '\0'; ++p) {
            if (*p < '0' || *p > '9')
                return AS_ERR_BAD_INPUT;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        if (mapped) { /* ::ffff:10.0.0.0/104 is 10.0.0.0/8 */
            if (bits < 96 || bits > 128)
                return AS_ERR_BAD_INPUT;
            bits -= 96;
        }
        if (bits > max)
            return AS_ERR_BAD_INPUT;
    }
    /* no bit set beyond the prefix */
    for (unsigned i = bits; i != max; ++i)
        if ((out->addr[i / 8] & (0x80 >> (i % 8))) != 0)
            return AS_ERR_BAD_INPUT;
    out->family = (uint8_t)family;
    out->bits = (uint8_t)bits;
    return 0;
}

int as_http_cidr_match(const as_http_cidr_t *nets, size_t n, int family, const uint8_t *addr)
{
    for (size_t i = 0; i != n; ++i) {
        const as_http_cidr_t *c = nets + i;
        unsigned full = c->bits / 8, rest = c->bits % 8;
        if (c->family != family || memcmp(c->addr, addr, full) != 0)
            continue;
        if (rest != 0 && ((c->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) != 0)
            continue;
        return 1;
    }
    return 0;
}

static void address_text(int family, const uint8_t *addr, char out[AS_HTTP_ADDRESS_MAX])
{
    if (inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, out, AS_HTTP_ADDRESS_MAX) == NULL)
        snprintf(out, AS_HTTP_ADDRESS_MAX, "unknown");
}

/** One X-Forwarded-For element, OWS trimmed: the address of a hop, or -1 (malformed: "unknown", a name, a port, empty). */
static int element_address(const char *p, size_t len, int *family, uint8_t addr[16])
{
    while (len != 0 && (*p == ' ' || *p == '\t'))
        ++p, --len;
    while (len != 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        --len;
    /* "[2001:db8::1]" is how some proxies write an IPv6 hop */
    if (len > 2 && p[0] == '[' && p[len - 1] == ']')
        ++p, len -= 2;
    return parse_address(p, len, family, addr);
}

void as_http_forwarded_client(const as_http_cidr_t *trusted, size_t num_trusted, int family, const uint8_t *peer,
                              const h2o_iovec_t *xff, size_t num_xff, char out[AS_HTTP_ADDRESS_MAX])
{
    uint8_t cur[16] = {0}, next[16];
    int cur_family = family, next_family;

    memcpy(cur, peer, family == 4 ? 4 : 16);
    if (!as_http_cidr_match(trusted, num_trusted, cur_family, cur))
        goto Done;
    /* right to left: the last header's last element is what the peer itself appended */
    for (size_t h = num_xff; h-- != 0;) {
        const char *base = xff[h].base;
        size_t end = xff[h].len;
        for (;;) {
            size_t start = end;
            while (start != 0 && base[start - 1] != ',')
                --start;
            if (element_address(base + start, end - start, &next_family, next) != 0)
                goto Done; /* malformed: the last trusted hop is all we know */
            cur_family = next_family;
            memcpy(cur, next, 16);
            if (!as_http_cidr_match(trusted, num_trusted, cur_family, cur))
                goto Done;
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    /* every hop was trusted: the left-most is the client as far as anyone can tell */
Done:
    address_text(cur_family, cur, out);
}

int as_http_set_trusted_proxies(const char *const *specs, size_t n, const char **bad)
{
    as_http_cidr_t *nets = n != 0 ? as_calloc(n, sizeof(*nets)) : NULL;
    for (size_t i = 0; i != n; ++i) {
        if (as_http_cidr_parse(specs[i], nets + i) != 0) {
            *bad = specs[i];
            free(nets);
            return AS_ERR_BAD_INPUT;
        }
    }
    free(trusted_proxies);
    trusted_proxies = nets;
    num_trusted_proxies = n;
    return 0;
}

void as_http_client_address(h2o_req_t *req, char out[AS_HTTP_ADDRESS_MAX])
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername != NULL ? req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) : 0;
    uint8_t addr[16] = {0};
    int family;

    if (len != 0 && ss.ss_family == AF_INET) {
        family = 4;
        memcpy(addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (len != 0 && ss.ss_family == AF_INET6) {
        family = 6;
        memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        if (memcmp(addr, v4mapped_prefix, 12) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            family = 4;
        }
    } else {
        snprintf(out, AS_HTTP_ADDRESS_MAX, "unknown");
        return;
    }
    if (num_trusted_proxies == 0 || !as_http_cidr_match(trusted_proxies, num_trusted_proxies, family, addr)) {
        address_text(family, addr, out);
        return;
    }
    /* every X-Forwarded-For header, in order, is one list (RFC 9110 §5.3); h2o keeps at most a bounded number */
    h2o_iovec_t xff[16];
    size_t num_xff = 0;
    static const h2o_iovec_t name = {H2O_STRLIT("x-forwarded-for")};
    for (ssize_t i = -1; (i = h2o_find_header_by_str(&req->headers, name.base, name.len, i)) >= 0;) {
        if (num_xff == sizeof(xff) / sizeof(xff[0])) {
            /* more headers than any chain of proxies writes: believe none of them */
            address_text(family, addr, out);
            return;
        }
        xff[num_xff++] = req->headers.entries[i].value;
    }
    as_http_forwarded_client(trusted_proxies, num_trusted_proxies, family, addr, xff, num_xff, out);
}
