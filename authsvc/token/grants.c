/*
 * token/grants — grant-type names, the scope rules and the user-subject test
 * shared by the token endpoint, the store and the CLI (interface in grants.h).
 */
#include <string.h>
#include "authsvc/token/grants.h"

unsigned as_grant_parse(const char *name, size_t len)
{
#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (IS("client_credentials"))
        return AS_GRANT_CLIENT_CREDENTIALS;
    if (IS("password"))
        return AS_GRANT_PASSWORD;
    if (IS("refresh_token"))
        return AS_GRANT_REFRESH_TOKEN;
    if (IS("authorization_code"))
        return AS_GRANT_AUTHORIZATION_CODE;
    return 0;
#undef IS
}

int as_scope_token_valid(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = s[i];
        if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e)
            return 0;
    }
    return 1;
}

static int list_has(const as_strlist_t *list, const char *s, size_t len)
{
    for (size_t i = 0; i != list->len; ++i)
        if (strlen(list->items[i]) == len && memcmp(list->items[i], s, len) == 0)
            return 1;
    return 0;
}

int as_scope_resolve(h2o_mem_pool_t *pool, const h2o_iovec_t *requested, const as_strlist_t *allowed, const char **out)
{
    size_t total = 1;
    for (size_t i = 0; i != allowed->len; ++i)
        total += strlen(allowed->items[i]) + 1;
    char *buf = h2o_mem_alloc_pool(pool, total), *p = buf;
    as_strlist_t req = {NULL, 0};

    if (requested != NULL) {
        if (requested->len > AS_SCOPE_MAX_LEN)
            return AS_ERR_BAD_INPUT;
        req.items = h2o_mem_alloc_pool(pool, sizeof(*req.items) * (requested->len / 2 + 1));
        const char *s = requested->base, *end = s + requested->len;
        while (s < end) {
            const char *sp = memchr(s, ' ', end - s), *tok_end = sp != NULL ? sp : end;
            if (!as_scope_token_valid(s, tok_end - s) || !list_has(allowed, s, tok_end - s))
                return AS_ERR_BAD_INPUT;
            req.items[req.len++] = h2o_strdup(pool, s, tok_end - s).base;
            s = tok_end + 1;
        }
    }
    for (size_t i = 0; i != allowed->len; ++i) {
        const char *item = allowed->items[i];
        if (requested != NULL && !list_has(&req, item, strlen(item)))
            continue;
        if (p != buf)
            *p++ = ' ';
        memcpy(p, item, strlen(item));
        p += strlen(item);
    }
    *p = '\0';
    *out = buf;
    return 0;
}

as_strlist_t as_scope_split(h2o_mem_pool_t *pool, const char *s)
{
    size_t len = strlen(s);
    as_strlist_t list = {h2o_mem_alloc_pool(pool, sizeof(char *) * (len / 2 + 1)), 0};
    const char *end = s + len;
    while (s < end) {
        const char *sp = memchr(s, ' ', end - s), *tok_end = sp != NULL ? sp : end;
        if (tok_end != s)
            list.items[list.len++] = h2o_strdup(pool, s, tok_end - s).base;
        s = tok_end + 1;
    }
    return list;
}

int as_is_uuid(const char *s)
{
    for (int i = 0; i != 36; ++i) {
        char c = s[i];
        if (c == '\0')
            return 0;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}

int as_pkce_verifier_valid(const char *v, size_t len)
{
    if (len < AS_PKCE_VERIFIER_MIN || len > AS_PKCE_VERIFIER_MAX)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
              c == '~'))
            return 0;
    }
    return 1;
}

int as_pkce_challenge_valid(const char *c, size_t len)
{
    uint8_t digest[AS_SHA256_LEN + 2];
    return len == AS_PKCE_CHALLENGE_LEN && as_b64url_decode(c, len, digest) == AS_SHA256_LEN;
}

void as_pkce_s256(const char *verifier, size_t len, char challenge[AS_PKCE_CHALLENGE_LEN + 1])
{
    uint8_t digest[AS_SHA256_LEN];
    as_sha256(verifier, len, digest);
    as_b64url_encode(digest, sizeof(digest), challenge);
}

/**
 * Splits a loopback redirect URI into what must match and what may not: `host` is "127.0.0.1" or "[::1]" (with
 * "http://"), `rest` what follows the port. Returns 0, or -1 if `uri` is not an http loopback URI.
 */
static int split_loopback(const char *uri, size_t len, h2o_iovec_t *host, h2o_iovec_t *rest)
{
    static const char *const hosts[] = {"http://127.0.0.1", "http://[::1]"};
    for (size_t i = 0; i != sizeof(hosts) / sizeof(hosts[0]); ++i) {
        size_t hlen = strlen(hosts[i]);
        if (len < hlen || memcmp(uri, hosts[i], hlen) != 0)
            continue;
        size_t p = hlen;
        if (p < len && uri[p] == ':') {
            size_t digits = 0;
            for (++p; p < len && uri[p] >= '0' && uri[p] <= '9'; ++p)
                ++digits;
            if (digits == 0 || digits > 5)
                return -1;
        }
        if (p < len && uri[p] != '/' && uri[p] != '?')
            return -1;
        *host = h2o_iovec_init(uri, hlen);
        *rest = h2o_iovec_init(uri + p, len - p);
        return 0;
    }
    return -1;
}

int as_redirect_uri_allowed(const as_strlist_t *registered, const char *uri, size_t len)
{
    h2o_iovec_t host, rest, rhost, rrest;
    int loopback = split_loopback(uri, len, &host, &rest) == 0;

    for (size_t i = 0; i != registered->len; ++i) {
        const char *r = registered->items[i];
        size_t rlen = strlen(r);
        if (rlen == len && memcmp(r, uri, len) == 0)
            return 1;
        if (loopback && split_loopback(r, rlen, &rhost, &rrest) == 0 && h2o_memis(host.base, host.len, rhost.base, rhost.len) &&
            h2o_memis(rest.base, rest.len, rrest.base, rrest.len))
            return 1;
    }
    return 0;
}

/** 1 if `c` may appear in a URI (RFC 3986 §2: unreserved, reserved, and "%" of a percent-encoding). */
static int uri_char(unsigned char c)
{
    return c != 0 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
}

static int hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/** Checks the authority of an http(s) URI, `auth` (what follows "//", up to the path, query or end). */
static int check_authority(int https, h2o_iovec_t auth, const char **why)
{
    size_t host_end;

    if (auth.len == 0) {
        *why = "the URI has no host";
        return AS_ERR_BAD_INPUT;
    }
    if (memchr(auth.base, '@', auth.len) != NULL) {
        *why = "user information before the host is not allowed";
        return AS_ERR_BAD_INPUT;
    }
    if (auth.base[0] == '[') { /* an IP literal: [v6] */
        const char *close = memchr(auth.base, ']', auth.len);
        host_end = close != NULL ? (size_t)(close + 1 - auth.base) : 0;
        for (size_t i = 1; i + 1 < host_end; ++i)
            if (!hex_digit(auth.base[i]) && auth.base[i] != ':' && auth.base[i] != '.')
                host_end = 0;
        if (host_end < 3)
            host_end = 0;
    } else {
        const char *colon = memchr(auth.base, ':', auth.len);
        host_end = colon != NULL ? (size_t)(colon - auth.base) : auth.len;
        if (memchr(auth.base, '[', host_end) != NULL || memchr(auth.base, ']', host_end) != NULL)
            host_end = 0;
    }
    if (host_end == 0) {
        *why = "the URI's host is malformed";
        return AS_ERR_BAD_INPUT;
    }
    if (host_end != auth.len) {
        size_t digits = 0;
        if (auth.base[host_end] != ':') {
            *why = "the URI's host is malformed";
            return AS_ERR_BAD_INPUT;
        }
        for (size_t i = host_end + 1; i != auth.len; ++i, ++digits)
            if (auth.base[i] < '0' || auth.base[i] > '9')
                digits = 6;
        if (digits == 0 || digits > 5) {
            *why = "the URI's port is malformed";
            return AS_ERR_BAD_INPUT;
        }
    }
    if (!https) {
        if (h2o_memis(auth.base, host_end, H2O_STRLIT("127.0.0.1")) || h2o_memis(auth.base, host_end, H2O_STRLIT("[::1]")))
            return 0;
        *why = h2o_lcstris(auth.base, host_end, H2O_STRLIT("localhost"))
                   ? "http://localhost is not allowed: use the loopback address http://127.0.0.1 or http://[::1] (RFC 8252 §8.3)"
                   : "http is allowed only on the loopback address (127.0.0.1 or [::1]); use https";
        return AS_ERR_BAD_INPUT;
    }
    return 0;
}

int as_redirect_uri_check(const char *uri, size_t len, const char **why)
{
    size_t scheme_len = 0;

    if (len == 0 || len > AS_REDIRECT_URI_MAX) {
        *why = len == 0 ? "the URI is empty" : "the URI is longer than 2048 bytes";
        return AS_ERR_BAD_INPUT;
    }
    for (size_t i = 0; i != len; ++i) {
        if (!uri_char((unsigned char)uri[i])) {
            *why = "the URI holds a character that a URI may not (a space, a quote, a control or non-ASCII character)";
            return AS_ERR_BAD_INPUT;
        }
        if (uri[i] == '#') {
            *why = "a fragment (#) is not allowed (RFC 6749 §3.1.2)";
            return AS_ERR_BAD_INPUT;
        }
        if (uri[i] == '*') {
            *why = "wildcards are not allowed: register every URI whole (RFC 9700 §2.1)";
            return AS_ERR_BAD_INPUT;
        }
        if (uri[i] == '%' && (len - i < 3 || !hex_digit(uri[i + 1]) || !hex_digit(uri[i + 2]))) {
            *why = "the URI holds a malformed percent-encoding";
            return AS_ERR_BAD_INPUT;
        }
    }
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), here in lower case */
    while (scheme_len != len &&
           ((uri[scheme_len] >= 'a' && uri[scheme_len] <= 'z') ||
            (scheme_len != 0 && ((uri[scheme_len] >= '0' && uri[scheme_len] <= '9') || strchr("+-.", uri[scheme_len]) != NULL))))
        ++scheme_len;
    if (scheme_len == 0 || scheme_len == len || uri[scheme_len] != ':') {
        *why = "not an absolute URI with a lower-case scheme (https://..., http://127.0.0.1..., or com.example.app:/...)";
        return AS_ERR_BAD_INPUT;
    }
    if (h2o_memis(uri, scheme_len, H2O_STRLIT("https")) || h2o_memis(uri, scheme_len, H2O_STRLIT("http"))) {
        const char *p = uri + scheme_len + 1, *end = uri + len, *auth_end;
        if (end - p < 2 || p[0] != '/' || p[1] != '/') {
            *why = "an http(s) URI needs a host (scheme://host/...)";
            return AS_ERR_BAD_INPUT;
        }
        p += 2;
        for (auth_end = p; auth_end != end && *auth_end != '/' && *auth_end != '?'; ++auth_end)
            ;
        return check_authority(scheme_len == 5, h2o_iovec_init(p, auth_end - p), why);
    }
    if (memchr(uri, '.', scheme_len) == NULL) {
        *why = "a native app's private-use scheme must be a reverse domain name, such as com.example.app (RFC 8252 §7.1)";
        return AS_ERR_BAD_INPUT;
    }
    if (scheme_len + 1 == len) {
        *why = "the URI has nothing after its scheme";
        return AS_ERR_BAD_INPUT;
    }
    return 0;
}
