/*
 * http/form — application/x-www-form-urlencoded bodies and HTTP Basic
 * credentials, parsed into pool memory (interface in form.h).
 */
#include <string.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/form.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int as_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p++;
        size_t n;
        unsigned min, cp;
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0; /* a continuation byte first, an overlong 2-byte lead (c0, c1), or past U+10FFFF */
        }
        if ((size_t)(end - p) < n)
            return 0;
        for (size_t i = 0; i != n; ++i, ++p) {
            if ((*p & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (*p & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0; /* overlong, too large, or a UTF-16 surrogate */
    }
    return 1;
}

/**
 * Percent-decodes (with '+' as space) into pool memory; refuses NUL and other control bytes, and anything that is
 * not UTF-8 (RFC 6749 Appendix B: the values are UTF-8), so that nothing below http/ ever sees such bytes (the
 * database would refuse them as text: a 500 where a 400 belongs).
 */
static int urldecode(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out)
{
    char *dst = h2o_mem_alloc_pool(pool, len + 1);
    size_t n = 0;

    for (size_t i = 0; i < len; ++i) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    if (!as_utf8_valid(dst, n))
        return -1;
    *out = h2o_iovec_init(dst, n);
    return 0;
}

int as_form_decode(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out)
{
    return urldecode(pool, s, len, out) == 0 ? 0 : AS_ERR_BAD_INPUT;
}

/** RFC 6265 §4.1.1 cookie-octet: US-ASCII without controls, whitespace, DQUOTE, comma, semicolon and backslash. */
static int is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e);
}

int as_form_parse(h2o_mem_pool_t *pool, const char *body, size_t len, as_form_t *form, h2o_iovec_t *dup_name)
{
    const char *p = body, *end = body + len;

    form->num_params = 0;
    while (p < end) {
        const char *amp = memchr(p, '&', end - p), *eq;
        const char *pair_end = amp != NULL ? amp : end;
        h2o_iovec_t name, value;

        if (pair_end == p) { /* "a=1&&b=2" */
            p = pair_end + 1;
            continue;
        }
        eq = memchr(p, '=', pair_end - p);
        if (urldecode(pool, p, (eq != NULL ? eq : pair_end) - p, &name) != 0 || name.len == 0)
            return AS_ERR_BAD_INPUT;
        if (urldecode(pool, eq != NULL ? eq + 1 : pair_end, eq != NULL ? pair_end - (eq + 1) : 0, &value) != 0)
            return AS_ERR_BAD_INPUT;
        for (size_t i = 0; i != form->num_params; ++i) {
            if (h2o_memis(form->params[i].name.base, form->params[i].name.len, name.base, name.len)) {
                if (dup_name != NULL)
                    *dup_name = name;
                return AS_ERR_DUPLICATE;
            }
        }
        if (form->num_params == AS_FORM_MAX_PARAMS)
            return AS_ERR_TOO_LARGE;
        form->params[form->num_params++] = (as_form_param_t){name, value};
        p = pair_end + 1;
    }
    return 0;
}

const h2o_iovec_t *as_form_get(const as_form_t *form, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i != form->num_params; ++i)
        if (h2o_memis(form->params[i].name.base, form->params[i].name.len, name, len))
            return form->params[i].value.len != 0 ? &form->params[i].value : NULL;
    return NULL;
}

/**
 * Strict standard base64 with padding (RFC 4648 §4), decoded by crypto/'s strict base64url decoder once the
 * alphabet is mapped and the padding checked. Returns the length, or -1.
 */
static ssize_t b64decode(h2o_mem_pool_t *pool, const char *in, size_t len, unsigned char *out)
{
    size_t n = len;
    if (len == 0 || len % 4 != 0)
        return -1;
    while (n > len - 2 && in[n - 1] == '=')
        --n;
    char *mapped = h2o_mem_alloc_pool(pool, n + 1);
    for (size_t i = 0; i != n; ++i)
        mapped[i] = in[i] == '+' ? '-' : in[i] == '/' ? '_' : in[i] == '-' || in[i] == '_' ? '!' : in[i];
    ssize_t r = as_b64url_decode(mapped, n, out);
    as_wipe(mapped, n);
    return r;
}

int as_basic_parse(h2o_mem_pool_t *pool, const char *value, size_t len, h2o_iovec_t *id, h2o_iovec_t *secret)
{
    unsigned char *decoded;
    ssize_t dlen;
    const char *colon;

    if (len < 6 || strncasecmp(value, "Basic ", 6) != 0)
        return AS_ERR_UNSUPPORTED;
    value += 6;
    len -= 6;
    while (len > 0 && *value == ' ') {
        ++value;
        --len;
    }
    while (len > 0 && value[len - 1] == ' ')
        --len;
    decoded = h2o_mem_alloc_pool(pool, len / 4 * 3 + 1);
    if ((dlen = b64decode(pool, value, len, decoded)) < 0)
        return AS_ERR_BAD_INPUT;
    if ((colon = memchr(decoded, ':', dlen)) == NULL)
        return AS_ERR_BAD_INPUT;
    if (urldecode(pool, (const char *)decoded, colon - (const char *)decoded, id) != 0 ||
        urldecode(pool, colon + 1, (const char *)decoded + dlen - (colon + 1), secret) != 0) {
        h2o_mem_set_secure(decoded, 0, dlen);
        return AS_ERR_BAD_INPUT;
    }
    h2o_mem_set_secure(decoded, 0, dlen);
    return id->len != 0 ? 0 : AS_ERR_BAD_INPUT;
}

int as_media_type_is(const char *value, size_t len, const char *expected)
{
    size_t elen = strlen(expected), i;
    if (len < elen || strncasecmp(value, expected, elen) != 0)
        return 0;
    for (i = elen; i < len && (value[i] == ' ' || value[i] == '\t'); ++i)
        ;
    return i == len || value[i] == ';';
}

int as_cookie_find(const char *header, size_t len, const char *name, h2o_iovec_t *value)
{
    size_t nlen = strlen(name);
    const char *p = header, *end = header + len;
    int found = 0;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == ';'))
            ++p;
        const char *semi = memchr(p, ';', end - p), *pair_end = semi != NULL ? semi : end;
        if ((size_t)(pair_end - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            if (found)
                return AS_ERR_DUPLICATE;
            const char *v = p + nlen + 1, *vend = pair_end;
            while (vend > v && vend[-1] == ' ')
                --vend;
            if (vend - v >= 2 && v[0] == '"' && vend[-1] == '"') { /* a quoted value (§4.1.1) */
                ++v;
                --vend;
            }
            for (const char *q = v; q != vend; ++q)
                if (!is_cookie_octet((unsigned char)*q))
                    return AS_ERR_BAD_INPUT;
            *value = h2o_iovec_init(v, vend - v);
            found = 1;
        }
        p = pair_end;
    }
    return found ? 0 : AS_ERR_NOT_FOUND;
}

h2o_iovec_t as_cookie_format(h2o_mem_pool_t *pool, const char *name, const char *value, int64_t max_age, int flags)
{
    size_t cap = strlen(name) + strlen(value) + 96;
    char *buf = h2o_mem_alloc_pool(pool, cap);
    int n = snprintf(buf, cap, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", name, value, (flags & AS_COOKIE_SECURE) ? "; Secure" : "");
    if (max_age >= 0)
        n += snprintf(buf + n, cap - n, "; Max-Age=%lld", (long long)max_age);
    return h2o_iovec_init(buf, (size_t)n);
}

void as_form_wipe(as_form_t *form)
{
    for (size_t i = 0; i != form->num_params; ++i)
        as_wipe(form->params[i].value.base, form->params[i].value.len);
}
