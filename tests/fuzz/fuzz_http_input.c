/*
 * A fuzz target for what a client sends that http/form.c parses: form bodies, HTTP Basic credentials and
 * Cookie headers.
 *
 * The input's first byte picks the parser, the rest is its input:
 *   0: an application/x-www-form-urlencoded body (as_form_parse);
 *   1: an Authorization header value (as_basic_parse);
 *   2: a Cookie header value, with the cookie name taken from the second byte (as_cookie_find);
 *   3: one urlencoded value (as_form_decode), the query-string reader's decoder.
 * Whatever the input, a parser must not crash, hang or leak, and whatever it accepts must be what the layers
 * below may rely on: NUL-terminated UTF-8 without control bytes, unique non-empty parameter names, a non-empty
 * client id, cookie values of cookie-octets only. A form made here from random parameters must parse back to
 * them (the round trip).
 *
 * With clang: -fsanitize=fuzzer,address,undefined -DAS_LIBFUZZER (tests/fuzz/README.md). Without it (the test
 * suite): a built-in driver runs a bounded number of deterministic mutations of valid inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/http/form.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_http_input: %s; input (%zu bytes):", what, size);
    for (size_t i = 0; i != size && i != 256; ++i)
        fprintf(stderr, " %02x", data[i]);
    fputc('\n', stderr);
    abort();
}

/** What every decoded value must be. */
static int clean(const h2o_iovec_t *v)
{
    if (v->base[v->len] != '\0' || !as_utf8_valid(v->base, v->len))
        return 0;
    for (size_t i = 0; i != v->len; ++i)
        if ((unsigned char)v->base[i] < 0x20 || v->base[i] == 0x7f)
            return 0;
    return 1;
}

static int cookie_octets(const h2o_iovec_t *v)
{
    for (size_t i = 0; i != v->len; ++i) {
        unsigned char c = (unsigned char)v->base[i];
        if (c <= 0x20 || c == '"' || c == ',' || c == ';' || c == '\\' || c >= 0x7f)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2o_mem_pool_t pool;
    if (size == 0)
        return 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    h2o_mem_init_pool(&pool);
    switch (data[0] % 4) {
    case 0: {
        as_form_t form;
        if (as_form_parse(&pool, in, len, &form, NULL) == 0) {
            for (size_t i = 0; i != form.num_params; ++i) {
                if (form.params[i].name.len == 0 || !clean(&form.params[i].name) || !clean(&form.params[i].value))
                    fail("a form parameter that is not clean UTF-8", data, size);
                for (size_t j = 0; j != i; ++j)
                    if (h2o_memis(form.params[i].name.base, form.params[i].name.len, form.params[j].name.base,
                                  form.params[j].name.len))
                        fail("a parameter accepted twice", data, size);
            }
        }
    } break;
    case 1: {
        h2o_iovec_t id, secret;
        if (as_basic_parse(&pool, in, len, &id, &secret) == 0 && (id.len == 0 || !clean(&id) || !clean(&secret)))
            fail("Basic credentials that are not clean UTF-8", data, size);
    } break;
    case 2: {
        h2o_iovec_t value;
        char name[2] = {len != 0 && data[1] > 0x20 && data[1] < 0x7f && data[1] != '=' && data[1] != ';' ? (char)data[1] : 'a', 0};
        if (len != 0) {
            ++in;
            --len;
        }
        if (as_cookie_find(in, len, name, &value) == 0 && !cookie_octets(&value))
            fail("a cookie value of other bytes than cookie-octets", data, size);
    } break;
    default: {
        h2o_iovec_t out;
        if (as_form_decode(&pool, in, len, &out) == 0 && !clean(&out))
            fail("a decoded value that is not clean UTF-8", data, size);
    } break;
    }
    h2o_mem_clear_pool(&pool);
    return 0;
}

#ifndef AS_LIBFUZZER
static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/** A random value with the kinds of bytes that matter: ASCII, escapes, UTF-8 of every length, and junk. */
static size_t random_value(char *out, size_t cap)
{
    static const char *const pieces[] = {"a", "Z", "0", " ", "+", "%20", "%2B", "%26", "%3D", "%00", "%1f", "%7f", "%zz", "%",
                                         "é", "€", "😀", "\xc3", "\xff", "%C3%A9", "%E2%82%AC", "%F0%9F%98%80", "%C0%AF",
                                         "%ED%A0%80", "%F4%90%80%80", "%80", "=", "&", ";", "\"", ":", "\\"};
    size_t n = 0;
    for (uint32_t k = next() % 8; k-- > 0;) {
        const char *p = pieces[next() % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t l = strlen(p);
        if (n + l >= cap)
            break;
        memcpy(out + n, p, l);
        n += l;
    }
    return n;
}

/** Percent-encodes every byte but unreserved ones. */
static size_t urlencode(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}

/** Valid UTF-8 without control bytes encodes and parses back to itself. */
static void round_trip(void)
{
    static const char *const values[] = {"alice", "é l€ve 😀", "a+b&c=d;e", "x", "Ünïcödé/ü?%"};
    h2o_mem_pool_t pool;
    char body[1024];
    size_t n = 0, count = 1 + next() % 5;
    as_form_t form;
    h2o_mem_init_pool(&pool);
    for (size_t i = 0; i != count; ++i) {
        const char *v = values[next() % 5];
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%sp%zu=", i != 0 ? "&" : "", i);
        n += urlencode(v, strlen(v), body + n);
    }
    if (as_form_parse(&pool, body, n, &form, NULL) != 0 || form.num_params != count)
        fail("a well-formed form did not parse", (const uint8_t *)body, n);
    h2o_mem_clear_pool(&pool);
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 20000;
    uint8_t buf[2048];
    for (long i = 0; i < iterations; ++i) {
        size_t n = 1, mode = next() % 4;
        char value[256];
        buf[0] = (uint8_t)mode;
        switch (mode) {
        case 0: /* a form of random values, some of them raw (not encoded) */
            for (uint32_t k = 1 + next() % 5; k-- > 0 && n < sizeof(buf) - 600;) {
                size_t vl = random_value(value, sizeof(value));
                n += (size_t)snprintf((char *)buf + n, sizeof(buf) - n, "%sk%u=", n > 1 ? "&" : "", next() % 4);
                if (next() % 2)
                    n += urlencode(value, vl, (char *)buf + n);
                else {
                    memcpy(buf + n, value, vl);
                    n += vl;
                }
            }
            break;
        case 1: { /* Basic with base64 of random "id:secret" */
            static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            char pair[600];
            size_t pl = random_value(pair, 256);
            pair[pl++] = ':';
            pl += random_value(pair + pl, 256);
            n += (size_t)snprintf((char *)buf + n, sizeof(buf) - n, "Basic ");
            for (size_t j = 0; j < pl; j += 3) {
                uint32_t v = (uint32_t)(unsigned char)pair[j] << 16 | (j + 1 < pl ? (uint32_t)(unsigned char)pair[j + 1] << 8 : 0) |
                             (j + 2 < pl ? (unsigned char)pair[j + 2] : 0);
                buf[n++] = (uint8_t)b64[v >> 18];
                buf[n++] = (uint8_t)b64[(v >> 12) & 63];
                buf[n++] = j + 1 < pl ? (uint8_t)b64[(v >> 6) & 63] : '=';
                buf[n++] = j + 2 < pl ? (uint8_t)b64[v & 63] : '=';
            }
        } break;
        case 2: /* a Cookie header holding "a" among others */
            buf[n++] = 'a';
            for (uint32_t k = 1 + next() % 4; k-- > 0 && n < sizeof(buf) - 300;) {
                size_t vl = random_value(value, sizeof(value));
                n += (size_t)snprintf((char *)buf + n, sizeof(buf) - n, "%s%c=", n > 2 ? "; " : "", "abc"[next() % 3]);
                memcpy(buf + n, value, vl);
                n += vl;
            }
            break;
        default:
            n += random_value((char *)buf + 1, sizeof(buf) - 1);
            break;
        }
        /* byte-level mutations: flip, insert, delete, truncate */
        for (uint32_t m = next() % 4; m-- > 0 && n > 1;) {
            size_t at = 1 + next() % (n - 1);
            switch (next() % 4) {
            case 0:
                buf[at] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 1:
                if (n < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (uint8_t)next();
                    ++n;
                }
                break;
            case 2:
                memmove(buf + at, buf + at + 1, n - at - 1);
                --n;
                break;
            default:
                n = at;
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
        if (i % 16 == 0)
            round_trip();
    }
    printf("fuzz_http_input: %ld iterations, every accepted input clean\n", iterations);
    return 0;
}
#endif
