/* base/jsonw: the JSON writer escapes strings byte for byte as jansson does, refuses what jansson refuses, and
 * never writes past its buffer. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "authsvc/base/jsonw.h"
#include "check_run.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/** A random string of up to 40 bytes, mixing ASCII, controls, quotes, valid UTF-8 of every length and junk. */
static size_t random_string(unsigned char *s)
{
    static const char *const pieces[] = {"a", "Z", "\"", "\\", "/", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc2\x80", "\xe0\xa0\x80", " ", "~"};
    size_t n = 0, count = next() % 12;
    for (size_t i = 0; i != count; ++i) {
        switch (next() % 4) {
        case 0: /* a control character, NUL included */
            s[n++] = (unsigned char)(next() % 0x20);
            break;
        case 1: /* any byte at all: often invalid UTF-8 (a lone continuation, an overlong lead, a surrogate...) */
            if (next() % 3 == 0)
                s[n++] = (unsigned char)(0x80 + next() % 0x80);
            else
                s[n++] = (unsigned char)(0x20 + next() % 0x5f);
            break;
        default: {
            const char *p = pieces[next() % (sizeof(pieces) / sizeof(pieces[0]))];
            memcpy(s + n, p, strlen(p));
            n += strlen(p);
        } break;
        }
    }
    return n;
}

/* integers (exp, iat, expires_in...) are written as jansson writes them, the extremes included */
START_TEST(integers_like_jansson)
{
    static const json_int_t values[] = {0, 1, -1, 9, 10, 99, 100, 1767225600, -1767225600, INT32_MAX, INT32_MIN,
                                        INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i != sizeof(values) / sizeof(values[0]); ++i) {
        char buf[32], *expected;
        as_jsonw_t w;
        json_t *j = json_integer(values[i]);
        expected = json_dumps(j, JSON_ENCODE_ANY);
        as_jsonw_init(&w, buf, sizeof(buf));
        as_jsonw_int(&w, values[i]);
        ck_assert(!w.failed);
        ck_assert_uint_eq(w.len, strlen(expected));
        ck_assert_msg(memcmp(buf, expected, w.len) == 0, "%s", expected);
        free(expected);
        json_decref(j);
    }
    /* no room: nothing written past the buffer, and the writer says so */
    char small[4];
    as_jsonw_t w;
    as_jsonw_init(&w, small, sizeof(small));
    as_jsonw_int(&w, 12345);
    ck_assert(w.failed);
}
END_TEST

START_TEST(escapes_like_jansson)
{
    unsigned char s[64];
    char buf[64 * AS_JSONW_ESCAPE_MAX + 2];
    size_t refused = 0;
    for (int round = 0; round != 200000; ++round) {
        size_t len = random_string(s);
        json_t *js = json_stringn((const char *)s, len);
        as_jsonw_t w;
        as_jsonw_init(&w, buf, sizeof(buf));
        as_jsonw_string(&w, (const char *)s, len);
        if (js == NULL) {
            ck_assert_msg(w.failed, "round %d: jansson refuses a string the writer accepted", round);
            ++refused;
            continue;
        }
        char *expected = json_dumps(js, JSON_ENCODE_ANY);
        ck_assert_msg(!w.failed, "round %d: the writer refuses what jansson writes as %s", round, expected);
        ck_assert_uint_eq(w.len, strlen(expected));
        ck_assert_msg(memcmp(buf, expected, w.len) == 0, "round %d: %.*s != %s", round, (int)w.len, buf, expected);
        free(expected);
        json_decref(js);
    }
    /* both kinds were exercised */
    ck_assert_uint_gt(refused, 1000);
    ck_assert_uint_lt(refused, 150000);
}
END_TEST

START_TEST(invalid_utf8_is_refused)
{
    static const char *const bad[] = {"\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xf5\x80\x80\x80", "\xc3", "\xe2\x82", "\xff"};
    char buf[64];
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        as_jsonw_t w;
        as_jsonw_init(&w, buf, sizeof(buf));
        as_jsonw_string(&w, bad[i], strlen(bad[i]));
        ck_assert_msg(w.failed, "accepted %zu", i);
    }
}
END_TEST

START_TEST(never_writes_past_the_buffer)
{
    char buf[32];
    for (size_t cap = 0; cap != 20; ++cap) {
        memset(buf, '#', sizeof(buf));
        as_jsonw_t w;
        as_jsonw_init(&w, buf, cap);
        as_jsonw_raw(&w, "{", 1);
        as_jsonw_member_str(&w, "sub", "a\"\x01");
        as_jsonw_member_int(&w, "exp", -1700000000); /* its comma comes by itself */
        as_jsonw_raw(&w, "}", 1);
        static const char full[] = "{\"sub\":\"a\\\"\\u0001\",\"exp\":-1700000000}";
        if (cap >= sizeof(full) - 1) {
            ck_assert(!w.failed);
            ck_assert_uint_eq(w.len, sizeof(full) - 1);
            ck_assert(memcmp(buf, full, w.len) == 0);
        } else {
            ck_assert(w.failed);
        }
        for (size_t i = cap; i != sizeof(buf); ++i)
            ck_assert_int_eq(buf[i], '#');
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonw");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, escapes_like_jansson);
    tcase_add_test(tc, integers_like_jansson);
    tcase_add_test(tc, invalid_utf8_is_refused);
    tcase_add_test(tc, never_writes_past_the_buffer);
    suite_add_tcase(s, tc);
    return as_check_run_suite(s);
}
