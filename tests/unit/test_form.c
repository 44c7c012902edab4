/* http/form: the form and Basic-credential parsing every token request goes through. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/http/form.h"
#include "check_run.h"

static h2o_mem_pool_t pool;

static void setup(void)
{
    h2o_mem_init_pool(&pool);
}

static void teardown(void)
{
    h2o_mem_clear_pool(&pool);
}

static int parse(const char *body, as_form_t *form)
{
    return as_form_parse(&pool, body, strlen(body), form, NULL);
}

START_TEST(decodes_parameters)
{
    as_form_t form;
    ck_assert_int_eq(parse("grant_type=password&username=al%20ice&password=a+b%2Bc%26d%3D", &form), 0);
    ck_assert_uint_eq(form.num_params, 3);
    ck_assert_str_eq(as_form_get(&form, "grant_type")->base, "password");
    ck_assert_str_eq(as_form_get(&form, "username")->base, "al ice");
    ck_assert_str_eq(as_form_get(&form, "password")->base, "a b+c&d=");
    ck_assert_ptr_null(as_form_get(&form, "scope"));
}
END_TEST

START_TEST(empty_values_are_absent)
{
    as_form_t form;
    ck_assert_int_eq(parse("scope=&grant_type=client_credentials&&flag", &form), 0);
    ck_assert_ptr_null(as_form_get(&form, "scope"));
    ck_assert_ptr_null(as_form_get(&form, "flag"));
    ck_assert_str_eq(as_form_get(&form, "grant_type")->base, "client_credentials");
}
END_TEST

START_TEST(rejects_duplicates)
{
    as_form_t form;
    h2o_iovec_t dup;
    const char *body = "grant_type=a&scope=x&grant_type=b";
    ck_assert_int_eq(as_form_parse(&pool, body, strlen(body), &form, &dup), AS_ERR_DUPLICATE);
    ck_assert(h2o_memis(dup.base, dup.len, H2O_STRLIT("grant_type")));
    /* the same name percent-encoded is still the same parameter */
    ck_assert_int_eq(parse("scope=a&%73cope=b", &form), AS_ERR_DUPLICATE);
}
END_TEST

START_TEST(rejects_malformed)
{
    as_form_t form;
    ck_assert_int_eq(parse("a=%", &form), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(parse("a=%4", &form), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(parse("a=%zz", &form), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(parse("a=%00", &form), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(parse("a=x%0Ay", &form), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(parse("=value", &form), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(limits_parameter_count)
{
    char body[4096] = "";
    as_form_t form;
    for (int i = 0; i <= AS_FORM_MAX_PARAMS; ++i)
        sprintf(body + strlen(body), "%sp%d=v", i ? "&" : "", i);
    ck_assert_int_eq(parse(body, &form), AS_ERR_TOO_LARGE);
    *strrchr(body, '&') = '\0'; /* exactly the maximum */
    ck_assert_int_eq(parse(body, &form), 0);
    ck_assert_uint_eq(form.num_params, AS_FORM_MAX_PARAMS);
}
END_TEST

static int basic(const char *header, h2o_iovec_t *id, h2o_iovec_t *secret)
{
    return as_basic_parse(&pool, header, strlen(header), id, secret);
}

START_TEST(basic_credentials)
{
    h2o_iovec_t id, secret;
    /* "s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw" from RFC 6749 §2.3.1 */
    ck_assert_int_eq(basic("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3", &id, &secret), 0);
    ck_assert_str_eq(id.base, "s6BhdRkqt3");
    ck_assert_str_eq(secret.base, "7Fjfp0ZBr1KtDRbnfVdmIw");
    /* the scheme is case-insensitive; parts are form-urlencoded: "a%3Ab:c%2Bd" -> "a:b", "c+d" */
    ck_assert_int_eq(basic("basic YSUzQWI6YyUyQmQ=", &id, &secret), 0);
    ck_assert_str_eq(id.base, "a:b");
    ck_assert_str_eq(secret.base, "c+d");
}
END_TEST

START_TEST(basic_rejects)
{
    h2o_iovec_t id, secret;
    ck_assert_int_eq(basic("Bearer abc", &id, &secret), AS_ERR_UNSUPPORTED);
    ck_assert_int_eq(basic("Basic !!!!", &id, &secret), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(basic("Basic YWJj", &id, &secret), AS_ERR_BAD_INPUT);     /* "abc": no colon */
    ck_assert_int_eq(basic("Basic OnNlY3JldA==", &id, &secret), AS_ERR_BAD_INPUT); /* ":secret": empty id */
    ck_assert_int_eq(basic("Basic YTpi=", &id, &secret), AS_ERR_BAD_INPUT);    /* bad padding */
    ck_assert_int_eq(basic("Basic YT=6Yg==", &id, &secret), AS_ERR_BAD_INPUT); /* padding inside */
}
END_TEST

START_TEST(media_types)
{
    ck_assert(as_media_type_is(H2O_STRLIT("application/x-www-form-urlencoded"), "application/x-www-form-urlencoded"));
    ck_assert(as_media_type_is(H2O_STRLIT("Application/X-WWW-Form-Urlencoded; charset=UTF-8"), "application/x-www-form-urlencoded"));
    ck_assert(!as_media_type_is(H2O_STRLIT("application/x-www-form-urlencodedx"), "application/x-www-form-urlencoded"));
    ck_assert(!as_media_type_is(H2O_STRLIT("application/json"), "application/x-www-form-urlencoded"));
}
END_TEST

START_TEST(cookies_are_found_by_exact_name)
{
    h2o_iovec_t v;
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("a=1; __Host-sid=abc_DEF-9; b=2"), "__Host-sid", &v), 0);
    ck_assert(h2o_memis(v.base, v.len, H2O_STRLIT("abc_DEF-9")));
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid=x"), "sid", &v), 0);
    ck_assert(h2o_memis(v.base, v.len, H2O_STRLIT("x")));
    /* a name that only begins or ends like ours is another cookie */
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("xsid=1; sidx=2; sid"), "sid", &v), AS_ERR_NOT_FOUND);
    ck_assert_int_eq(as_cookie_find("", 0, "sid", &v), AS_ERR_NOT_FOUND);
    /* two values for one name (e.g. one set for another path): neither is trusted */
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid=1; other=2; sid=3"), "sid", &v), AS_ERR_DUPLICATE);
    /* an empty value is a value */
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid="), "sid", &v), 0);
    ck_assert_uint_eq(v.len, 0);
}
END_TEST

START_TEST(cookie_attributes)
{
    h2o_iovec_t c = as_cookie_format(&pool, "__Host-sid", "v4lue", 3600, AS_COOKIE_SECURE);
    ck_assert_str_eq(c.base, "__Host-sid=v4lue; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600");
    ck_assert_uint_eq(c.len, strlen(c.base));
    /* over plain http (a development issuer): no Secure, which browsers would refuse there */
    c = as_cookie_format(&pool, "sid", "v", -1, 0);
    ck_assert_str_eq(c.base, "sid=v; Path=/; HttpOnly; SameSite=Lax");
    /* deletion */
    c = as_cookie_format(&pool, "sid", "", 0, 0);
    ck_assert_str_eq(c.base, "sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
}
END_TEST

START_TEST(only_utf8_passes)
{
    as_form_t form;
    h2o_iovec_t id, secret, v;
    /* well-formed UTF-8, escaped or raw, passes */
    ck_assert_int_eq(parse("username=%C3%A9l%E2%82%AC%F0%9F%98%80&password=\xc3\xa9", &form), 0);
    ck_assert_str_eq(as_form_get(&form, "username")->base, "\xc3\xa9l\xe2\x82\xac\xf0\x9f\x98\x80");
    /* a lone continuation, a truncated sequence, overlong, a surrogate, past U+10FFFF, a byte never in UTF-8 */
    static const char *const bad[] = {"username=%80", "username=%C3", "username=%C3%28", "username=%C0%AF", "username=%E0%80%AF",
                                      "username=%ED%A0%80", "username=%F4%90%80%80", "username=%FF", "username=\xff",
                                      "client_id=a%E2%82", "%C3=1"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        ck_assert_msg(parse(bad[i], &form) == AS_ERR_BAD_INPUT, "%s", bad[i]);
    /* Basic: "%FF:x" and "\xff:x" base64-encoded */
    ck_assert_int_eq(basic("Basic JUZGOng=", &id, &secret), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(basic("Basic /zp4", &id, &secret), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(basic("Basic eDol\x46\x46", &id, &secret), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_form_decode(&pool, H2O_STRLIT("%E2%82%AC"), &v), 0);
    ck_assert_int_eq(as_form_decode(&pool, H2O_STRLIT("%E2%82"), &v), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(cookie_values_are_cookie_octets)
{
    h2o_iovec_t v;
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid=\"abc\""), "sid", &v), 0);
    ck_assert(h2o_memis(v.base, v.len, H2O_STRLIT("abc")));
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid=a\xc3\xa9"), "sid", &v), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid=a\\b"), "sid", &v), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("sid=a,b"), "sid", &v), AS_ERR_BAD_INPUT);
    /* another cookie's bytes are not ours to judge */
    ck_assert_int_eq(as_cookie_find(H2O_STRLIT("other=\xff; sid=ok"), "sid", &v), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("form");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, decodes_parameters);
    tcase_add_test(tc, empty_values_are_absent);
    tcase_add_test(tc, rejects_duplicates);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, only_utf8_passes);
    tcase_add_test(tc, cookie_values_are_cookie_octets);
    tcase_add_test(tc, limits_parameter_count);
    tcase_add_test(tc, basic_credentials);
    tcase_add_test(tc, basic_rejects);
    tcase_add_test(tc, cookies_are_found_by_exact_name);
    tcase_add_test(tc, cookie_attributes);
    tcase_add_test(tc, media_types);
    suite_add_tcase(s, tc);
    return as_check_run_suite(s);
}
