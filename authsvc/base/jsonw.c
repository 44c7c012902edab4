/*
 * base/jsonw — the JSON writer (interface in jsonw.h). Escaping follows
 * jansson's dump_string() without flags: '"' and '\\' escaped, the control
 * characters below 0x20 as \b \f \n \r \t or \u00XX, everything else (DEL and
 * non-ASCII included) copied once its UTF-8 is known to be valid.
 */
#include <stdio.h>
#include <string.h>
#include "authsvc/base/jsonw.h"

void as_jsonw_init(as_jsonw_t *w, char *buf, size_t cap)
{
    *w = (as_jsonw_t){.buf = buf, .len = 0, .cap = cap, .failed = 0};
}

void as_jsonw_raw(as_jsonw_t *w, const char *s, size_t len)
{
    if (w->failed || w->cap - w->len < len) {
        w->failed = 1;
        return;
    }
    memcpy(w->buf + w->len, s, len);
    w->len += len;
}

/** The length of the valid UTF-8 sequence at `s` (at most `left` bytes), or 0 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), as jansson's utf8_check_full decides. */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i != n; ++i) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/** 1 for the bytes copied as they are without a look further: printable ASCII but '"' and '\\'. */
static const unsigned char plain[256] = {
    [0x20] = 1, [0x21] = 1, [0x23 ... 0x5B] = 1, [0x5D ... 0x7F] = 1,
};

void as_jsonw_string(as_jsonw_t *w, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    if (w->failed || w->cap - w->len < 2) {
        w->failed = 1;
        return;
    }
    char *p = w->buf + w->len, *end = w->buf + w->cap;
    *p++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (end - p < AS_JSONW_ESCAPE_MAX + 1) {
            w->failed = 1;
            return;
        }
        if (plain[c]) {
            /* a run of printable ASCII (the common case: whole strings), copied at once, as far as the room allows */
            size_t run = 1, room = (size_t)(end - p) - 1, limit = len - i < room ? len - i : room;
            while (run < limit && plain[s[i + run]])
                ++run;
            memcpy(p, s + i, run);
            p += run;
            i += run;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8_sequence(s + i, len - i);
            if (n == 0) {
                w->failed = 1;
                return;
            }
            memcpy(p, s + i, n);
            p += n;
            i += n;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *p++ = (char)c;
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        default:
            p += sprintf(p, "u%04X", c);
            break;
        }
        ++i;
    }
    if (end - p < 1) {
        w->failed = 1;
        return;
    }
    *p++ = '"';
    w->len = (size_t)(p - w->buf);
}

void as_jsonw_int(as_jsonw_t *w, int64_t v)
{
    /* digits from the right; the magnitude as unsigned, so INT64_MIN is fine (snprintf is several times slower, and
     * a token has four of these) */
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    as_jsonw_raw(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

/** `"name":`, after a comma unless it opens the object (the name is one of ours: it needs no escaping). */
static void member_name(as_jsonw_t *w, const char *name)
{
    size_t n = strlen(name);
    int comma = w->len != 0 && w->buf[w->len - 1] != '{';
    if (w->failed || w->cap - w->len < n + 3 + comma) {
        w->failed = 1;
        return;
    }
    char *p = w->buf + w->len;
    if (comma)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, name, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    w->len += n + 3 + comma;
}

void as_jsonw_member_str(as_jsonw_t *w, const char *name, const char *value)
{
    member_name(w, name);
    as_jsonw_string(w, value, strlen(value));
}

void as_jsonw_member_int(as_jsonw_t *w, const char *name, int64_t value)
{
    member_name(w, name);
    as_jsonw_int(w, value);
}
