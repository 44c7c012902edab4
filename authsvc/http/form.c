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

/** Percent-decodes (with '+' as space) into pool memory; refuses NUL and other control bytes. */
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
    *out = h2o_iovec_init(dst, n);
    return 0;
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
