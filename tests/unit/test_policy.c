/* policy/: NIST SP 800-63B password rules, NFKC normalisation and the common-password blocklist. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/policy/policy.h"
#include "check_run.h"

static int check(const as_policy_t *p, const char *pw, const char **why)
{
    return as_policy_check(p, pw, strlen(pw), why);
}

/** The NFKC form of `s` as a NUL-terminated string in `out` (256 bytes), or NULL. */
static const char *nfkc(const char *s, char *out)
{
    size_t len;
    if (as_policy_normalize(s, strlen(s), out, 255, &len) != 0)
        return NULL;
    out[len] = '\0';
    return out;
}

START_TEST(counts_characters_not_bytes)
{
    as_policy_t *p = as_policy_create_empty(8);
    const char *why = NULL;
    ck_assert_int_eq(check(p, "abcdefg", &why), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(why, "the new password must have at least 8 characters");
    ck_assert_int_eq(check(p, "abcdefgh", &why), 0);
    /* seven characters of two bytes each: 14 bytes, still seven characters */
    ck_assert_int_eq(check(p, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(check(p, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", &why), 0);
    ck_assert_uint_eq(as_policy_min_length(p), 8);
    as_policy_dispose(p);

    p = as_policy_create_empty(12);
    ck_assert_int_eq(check(p, "abcdefghijk", &why), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(why, "the new password must have at least 12 characters");
    as_policy_dispose(p);
}
END_TEST

START_TEST(limits_bytes_and_needs_utf8)
{
    as_policy_t *p = as_policy_create_empty(8);
    const char *why = NULL;
    char big[1100];

    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(as_policy_check(p, big, 1024, &why), 0);
    ck_assert_int_eq(as_policy_check(p, big, 1025, &why), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(why, "the new password is longer than 1024 bytes");
    /* 1024 bytes that NFKC expands (U+FB03, the ffi ligature: 3 bytes to 3) stay; U+FDFA expands to 33 bytes */
    for (size_t i = 0; i + 3 <= 1023; i += 3)
        memcpy(big + i, "\xef\xb7\xba", 3);
    ck_assert_int_eq(as_policy_check(p, big, 1023, &why), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(why, "the new password is longer than 1024 bytes once normalised (NFKC)");

    ck_assert_int_eq(check(p, "abcdefgh\xff", &why), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(why, "the new password is not valid UTF-8 text");
    ck_assert_int_eq(check(p, "abcdefgh\xc0\xaf", &why), AS_ERR_BAD_INPUT);      /* overlong "/" */
    ck_assert_int_eq(check(p, "abcdefgh\xed\xa0\x80", &why), AS_ERR_BAD_INPUT);  /* a surrogate */
    ck_assert_int_eq(as_policy_check(p, "abcd\0efghij", 11, &why), AS_ERR_BAD_INPUT);
    as_policy_dispose(p);
}
END_TEST

START_TEST(normalises_nfkc)
{
    char out[256];
    size_t len;

    /* compatibility forms: fullwidth letters, ligatures, superscripts, the Roman numeral */
    ck_assert_str_eq(nfkc("\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbd\x97\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x84", out),
                     "password");
    ck_assert_str_eq(nfkc("\xef\xac\x81ne", out), "fine");             /* U+FB01 fi */
    ck_assert_str_eq(nfkc("x\xc2\xb2", out), "x2");                   /* superscript two */
    ck_assert_str_eq(nfkc("\xe2\x85\xa8", out), "IX");                /* U+2168 ROMAN NUMERAL NINE */
    /* combining sequences: e + U+0301 composes to U+00E9; Hangul jamo compose to a syllable */
    ck_assert_str_eq(nfkc("caf" "e\xcc\x81", out), "caf\xc3\xa9");
    ck_assert_str_eq(nfkc("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", out), "\xed\x95\x9c");
    /* canonical reordering of combining marks: dot below (ccc 220) before dot above (ccc 230) */
    ck_assert_str_eq(nfkc("q\xcc\x87\xcc\xa3", out), "q\xcc\xa3\xcc\x87");
    /* ASCII is its own normal form */
    ck_assert_str_eq(nfkc("correct horse battery staple", out), "correct horse battery staple");
    /* the output bound is kept */
    ck_assert_int_eq(as_policy_normalize("\xef\xb7\xba", 3, out, 10, &len), AS_ERR_TOO_LARGE);
    ck_assert_int_eq(as_policy_normalize("\xff", 1, out, sizeof(out), &len), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(refuses_common_passwords_case_insensitively)
{
    as_policy_t *p = as_policy_create_empty(8);
    const char *why = NULL;

    as_policy_block(p, "password", 8);
    as_policy_block(p, "iloveyou", 8);
    as_policy_block(p, "iloveyou", 8);
    as_policy_block(p, "Stra\xc3\x9f" "eXYZ", 10);
    ck_assert_uint_eq(as_policy_blocklist_size(p), 3);
    ck_assert_int_eq(check(p, "password", &why), AS_ERR_BAD_INPUT);
    ck_assert_str_eq(why, "the new password is in a list of commonly used passwords");
    ck_assert_int_eq(check(p, "PassWord", &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(check(p, "ILOVEYOU", &why), AS_ERR_BAD_INPUT);
    /* fullwidth "ｐａｓｓｗｏｒｄ" normalises to "password": refused too */
    ck_assert_int_eq(check(p, "\xef\xbd\x90\xef\xbd\x81\xef\xbd\x93\xef\xbd\x93\xef\xbd\x97\xef\xbd\x8f\xef\xbd\x92\xef\xbd\x84", &why),
                     AS_ERR_BAD_INPUT);
    /* fullwidth capitals too */
    ck_assert_int_eq(check(p, "\xef\xbc\xb0\xef\xbc\xa1\xef\xbc\xb3\xef\xbc\xb3\xef\xbc\xb7\xef\xbc\xaf\xef\xbc\xb2\xef\xbc\xa4", &why),
                     AS_ERR_BAD_INPUT);
    /* full case folding: "STRASSEXYZ" is "straßexyz" */
    ck_assert_int_eq(check(p, "STRASSEXYZ", &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(check(p, "password1!x", &why), 0);
    as_policy_dispose(p);
}
END_TEST

START_TEST(loads_the_shipped_list)
{
    char path[] = "/tmp/test_policy_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");
    as_policy_t *p = NULL;
    const char *why;

    fputs("#!comment: a comment line\n#!comment:\n123456\npassword\r\n\nqwertyuiop\nPassword\n", fp);
    fclose(fp);
    ck_assert_int_eq(as_policy_create(path, 8, &p), 0);
    ck_assert_uint_eq(as_policy_blocklist_size(p), 3);
    ck_assert_int_eq(check(p, "QWERTYUIOP", &why), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(check(p, "#!comment: a comment line", &why), 0);
    as_policy_dispose(p);
    unlink(path);
    ck_assert_int_eq(as_policy_create(path, 8, &p), AS_ERR_IO);
    ck_assert_int_eq(as_policy_create("/dev/null", 0, &p), AS_ERR_BAD_INPUT);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counts_characters_not_bytes);
    tcase_add_test(tc, limits_bytes_and_needs_utf8);
    tcase_add_test(tc, normalises_nfkc);
    tcase_add_test(tc, refuses_common_passwords_case_insensitively);
    tcase_add_test(tc, loads_the_shipped_list);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run_suite(suite());
}
