/* token/grants: grant-type names, the RFC 6749 §3.3 scope rules, and the user-subject test. */
#include <check.h>
#include <string.h>
#include "authsvc/token/grants.h"

static h2o_mem_pool_t pool;

static void setup(void)
{
    h2o_mem_init_pool(&pool);
}

static void teardown(void)
{
    h2o_mem_clear_pool(&pool);
}

/** Resolves `requested` (NULL: none given) against the allowed list; returns the error code, the result in *out. */
static int resolve(const char *requested, const char *const *allowed, size_t n, const char **out)
{
    as_strlist_t list = {(const char **)allowed, n};
    h2o_iovec_t req = requested != NULL ? h2o_iovec_init(requested, strlen(requested)) : h2o_iovec_init(NULL, 0);
    *out = NULL;
    return as_scope_resolve(&pool, requested != NULL ? &req : NULL, &list, out);
}

START_TEST(grant_names)
{
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("client_credentials")), AS_GRANT_CLIENT_CREDENTIALS);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("password")), AS_GRANT_PASSWORD);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("refresh_token")), AS_GRANT_REFRESH_TOKEN);
    /* exact and case-sensitive (RFC 6749 §5.2 names them so); a prefix or an implicit grant is unknown */
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("Password")), 0);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("password ")), 0);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("refresh")), 0);
    ck_assert_uint_eq(as_grant_parse(H2O_STRLIT("implicit")), 0);
    ck_assert_uint_eq(as_grant_parse("", 0), 0);
    /* the bits are distinct: a client's grant set can hold any combination */
    ck_assert_uint_eq(AS_GRANT_CLIENT_CREDENTIALS & AS_GRANT_PASSWORD, 0);
    ck_assert_uint_eq(AS_GRANT_PASSWORD & AS_GRANT_REFRESH_TOKEN, 0);
}
END_TEST

START_TEST(no_scope_requested_gets_everything_allowed)
{
    const char *allowed[] = {"read", "write", "admin"}, *out;
    ck_assert_int_eq(resolve(NULL, allowed, 3, &out), 0);
    ck_assert_str_eq(out, "read write admin");
    ck_assert_int_eq(resolve(NULL, allowed, 0, &out), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(requested_scope_is_narrowed_in_allowed_order)
{
    const char *allowed[] = {"read", "write", "admin"}, *out;
    ck_assert_int_eq(resolve("admin read", allowed, 3, &out), 0);
    ck_assert_str_eq(out, "read admin");
    /* a token asked for twice is granted once */
    ck_assert_int_eq(resolve("write write", allowed, 3, &out), 0);
    ck_assert_str_eq(out, "write");
}
END_TEST

START_TEST(scope_outside_the_allowed_set_is_refused)
{
    const char *allowed[] = {"read", "write"}, *out;
    ck_assert_int_eq(resolve("read delete", allowed, 2, &out), AS_ERR_BAD_INPUT);
    ck_assert_ptr_null(out);
    /* no prefix or case games */
    ck_assert_int_eq(resolve("rea", allowed, 2, &out), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(resolve("READ", allowed, 2, &out), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(malformed_scope_is_refused)
{
    const char *allowed[] = {"read", "write", "a\"b"}, *out;
    /* empty tokens: doubled, leading or trailing spaces */
    ck_assert_int_eq(resolve("read  write", allowed, 2, &out), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(resolve(" read", allowed, 2, &out), AS_ERR_BAD_INPUT);
    /* characters outside %x21 / %x23-5B / %x5D-7E, even if the client's list were to hold them */
    ck_assert_int_eq(resolve("a\"b", allowed, 3, &out), AS_ERR_BAD_INPUT);
    ck_assert_int_eq(resolve("read\twrite", allowed, 2, &out), AS_ERR_BAD_INPUT);
    /* over the length limit, even made of allowed tokens */
    char big[AS_SCOPE_MAX_LEN + 8];
    size_t n = 0;
    while (n + 5 < sizeof(big) - 1) {
        memcpy(big + n, "read ", 5);
        n += 5;
    }
    memcpy(big + n - 1, "", 1);
    ck_assert_uint_gt(strlen(big), AS_SCOPE_MAX_LEN);
    ck_assert_int_eq(resolve(big, allowed, 2, &out), AS_ERR_BAD_INPUT);
}
END_TEST

START_TEST(scope_token_syntax)
{
    ck_assert(as_scope_token_valid(H2O_STRLIT("read:all")));
    ck_assert(as_scope_token_valid(H2O_STRLIT("https://api.example/x")));
    ck_assert(as_scope_token_valid(H2O_STRLIT("!#[]~")));
    ck_assert(!as_scope_token_valid("", 0));
    ck_assert(!as_scope_token_valid(H2O_STRLIT("a b")));
    ck_assert(!as_scope_token_valid(H2O_STRLIT("a\\b")));
    ck_assert(!as_scope_token_valid(H2O_STRLIT("caf\xc3\xa9")));
}
END_TEST

START_TEST(split_skips_empty_tokens)
{
    as_strlist_t l = as_scope_split(&pool, "  read  write ");
    ck_assert_uint_eq(l.len, 2);
    ck_assert_str_eq(l.items[0], "read");
    ck_assert_str_eq(l.items[1], "write");
    ck_assert_uint_eq(as_scope_split(&pool, "").len, 0);
}
END_TEST

START_TEST(user_subjects_are_uuids)
{
    ck_assert(as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a69"));
    ck_assert(as_is_uuid("0B6F6BD4-8F0E-4C1E-9A55-1F2D3C4B5A69"));
    /* a client id as subject, a truncated or over-long uuid, misplaced dashes */
    ck_assert(!as_is_uuid("demo-service"));
    ck_assert(!as_is_uuid(""));
    ck_assert(!as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a6"));
    ck_assert(!as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a690"));
    ck_assert(!as_is_uuid("0b6f6bd48-f0e-4c1e-9a55-1f2d3c4b5a69"));
    ck_assert(!as_is_uuid("0b6f6bd4-8f0e-4c1e-9a55-1f2d3c4b5a6g"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grants");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, grant_names);
    tcase_add_test(tc, no_scope_requested_gets_everything_allowed);
    tcase_add_test(tc, requested_scope_is_narrowed_in_allowed_order);
    tcase_add_test(tc, scope_outside_the_allowed_set_is_refused);
    tcase_add_test(tc, malformed_scope_is_refused);
    tcase_add_test(tc, scope_token_syntax);
    tcase_add_test(tc, split_skips_empty_tokens);
    tcase_add_test(tc, user_subjects_are_uuids);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
