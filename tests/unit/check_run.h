/*
 * The unit tests' main: one Check suite with one test case holding the
 * given tests in order, run with the normal output; the exit status says
 * whether all passed. Tests with fixtures or several cases build their
 * suite and end with as_check_run_suite.
 *
 *     AS_CHECK_MAIN("keys", states_follow_the_clock, state_names)
 */
#ifndef AS_TESTS_CHECK_RUN_H
#define AS_TESTS_CHECK_RUN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>

/** Runs suite `s` (the runner frees it); EXIT_SUCCESS if every test passed. */
static inline int as_check_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static inline int as_check_run(const char *name, const TTest *const *tests, size_t num_tests)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("core");
    for (size_t i = 0; i != num_tests; ++i)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return as_check_run_suite(s);
}

#define AS_CHECK_MAIN(name, ...)                                                                                                   \
    int main(void)                                                                                                                 \
    {                                                                                                                              \
        const TTest *const tests[] = {__VA_ARGS__};                                                                                \
        return as_check_run(name, tests, sizeof(tests) / sizeof(tests[0]));                                                        \
    }

#endif
