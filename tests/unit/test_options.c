/* cli/options: one option table read from the command line, the environment and a file; its messages name the source. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include "authsvc/cli/options.h"
#include "check_run.h"

typedef struct st_settings_t {
    const char *name;
    int small;
    size_t big;
    uint64_t wide;
    int flag;
    unsigned allow;
    const char **items;
    size_t num_items;
} settings_t;

#define T settings_t
static const as_opt_t opts[] = {
    {.name = "name", AS_OPT_AT_STRING(T, name), .def = "anon", .arg = "NAME", .help = "a name"},
    {.name = "small-number", AS_OPT_AT_INT(T, small), .min = -5, .max = 5, .def = "1", .arg = "N", .help = "small"},
    {.name = "big", AS_OPT_AT_INT(T, big), .min = 0, .max = 10000000, .def = "4096", .help = "big"},
    {.name = "wide", AS_OPT_AT_INT(T, wide), .min = 1, .max = 600000, .help = "wide"},
    {.name = "flag", AS_OPT_AT_FLAG(T, flag), .help = "a flag"},
    {.name = "allow", AS_OPT_AT_CHOICE(T, allow, "introspection", "revocation-feed"), .help = "repeatable words"},
    {.name = "item", AS_OPT_AT_LIST(T, items, num_items), .max = 2, .help = "a list"},
    {.name = "cli-only", AS_OPT_AT_FLAG(T, flag), .flags = AS_OPT_CLI_ONLY, .help = "only on the command line"},
};
#undef T
#define NUM (sizeof(opts) / sizeof(opts[0]))

static char err[1024];

START_TEST(defaults_and_bounds)
{
    settings_t s = {0};
    ck_assert_int_eq(as_opt_defaults(opts, NUM, &s, err, sizeof(err)), 0);
    ck_assert_str_eq(s.name, "anon");
    ck_assert_int_eq(s.small, 1);
    ck_assert_uint_eq(s.big, 4096);
    ck_assert_int_eq(as_opt_set(opts + 1, &s, "-5", "--small-number", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(s.small, -5);
    ck_assert_int_eq(as_opt_set(opts + 1, &s, "6", "--small-number", 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "--small-number: invalid number (-5 to 5): 6");
    ck_assert_int_eq(s.small, -5); /* unchanged */
    ck_assert_int_eq(as_opt_set(opts + 3, &s, "600000", "AUTHSVC_WIDE", 0, err, sizeof(err)), 0);
    ck_assert_uint_eq(s.wide, 600000);
    ck_assert_int_eq(as_opt_set(opts + 3, &s, "12x", "AUTHSVC_WIDE", 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "AUTHSVC_WIDE: invalid number (1 to 600000): 12x");
    ck_assert_int_eq(as_opt_set(opts + 3, &s, "", "AUTHSVC_WIDE", 0, err, sizeof(err)), -1);
}
END_TEST

START_TEST(flags_choices_and_lists)
{
    settings_t s = {0};
    ck_assert_int_eq(as_opt_set(opts + 4, &s, NULL, "--flag", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(s.flag, 1);
    ck_assert_int_eq(as_opt_set(opts + 4, &s, "off", "AUTHSVC_FLAG", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(s.flag, 0);
    ck_assert_int_eq(as_opt_set(opts + 4, &s, "maybe", "AUTHSVC_FLAG", 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "AUTHSVC_FLAG: expected true or false: maybe");

    ck_assert_int_eq(as_opt_set(opts + 5, &s, "revocation-feed", "--allow", 0, err, sizeof(err)), 0);
    ck_assert_uint_eq(s.allow, 2);
    ck_assert_int_eq(as_opt_set(opts + 5, &s, "introspection", "--allow", 0, err, sizeof(err)), 0);
    ck_assert_uint_eq(s.allow, 3);
    ck_assert_int_eq(as_opt_set(opts + 5, &s, "everything", "--allow", 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "--allow: expected introspection or revocation-feed: everything");

    ck_assert_int_eq(as_opt_set(opts + 6, &s, "a", "--item", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(as_opt_set(opts + 6, &s, "b", "--item", 0, err, sizeof(err)), 0);
    ck_assert_int_eq(as_opt_set(opts + 6, &s, "c", "--item", 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "--item: at most 2 values");
    ck_assert_int_eq(as_opt_set(opts + 6, &s, "z", "f:1: item", 1, err, sizeof(err)), 0); /* a new source replaces */
    ck_assert_uint_eq(s.num_items, 1);
    ck_assert_str_eq(s.items[0], "z");
    as_opt_dispose(opts, NUM, &s);
    ck_assert_ptr_null(s.items);
}
END_TEST

START_TEST(argv_marks_what_was_given)
{
    settings_t s = {0};
    unsigned char given[NUM] = {0};
    char *argv[] = {"cmd", "--big", "7", "pos", "--item", "x", "--flag", NULL};
    int first = 0;
    ck_assert_int_eq(as_opt_parse_argv(opts, NUM, "usage\n", 7, argv, &s, given, &first), -1);
    ck_assert_uint_eq(s.big, 7);
    ck_assert_int_eq(s.flag, 1);
    ck_assert_uint_eq(s.num_items, 1);
    ck_assert_int_eq(given[2] + given[4] + given[6], 3);
    ck_assert_int_eq(given[0] + given[1] + given[3] + given[5], 0);
    ck_assert_int_eq(first, 6); /* getopt_long moved the positional argument last */
    ck_assert_str_eq(argv[first], "pos");
    as_opt_dispose(opts, NUM, &s);
}
END_TEST

START_TEST(env_and_file)
{
    settings_t s = {0};
    char path[] = "/tmp/test_options_XXXXXX", *text = NULL;
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char conf[] = "# comment\n\n  name = from file  \nitem = a\nitem = b\nbig=12\n";
    ck_assert_int_eq(write(fd, conf, sizeof(conf) - 1), (ssize_t)(sizeof(conf) - 1));
    close(fd);
    ck_assert_int_eq(as_opt_apply_file(opts, NUM, &s, path, &text, err, sizeof(err)), 0);
    ck_assert_str_eq(s.name, "from file");
    ck_assert_uint_eq(s.big, 12);
    ck_assert_uint_eq(s.num_items, 2);
    free(text);

    setenv("AUTHSVC_ITEM", "x, y", 1);
    setenv("AUTHSVC_SMALL_NUMBER", "-2", 1);
    setenv("AUTHSVC_CLI_ONLY", "garbage", 1); /* not read: command line only */
    ck_assert_int_eq(as_opt_apply_env(opts, NUM, &s, &text, err, sizeof(err)), 0);
    ck_assert_int_eq(s.small, -2);
    ck_assert_uint_eq(s.num_items, 2);
    ck_assert_str_eq(s.items[0], "x");
    ck_assert_str_eq(s.items[1], "y");
    free(text);
    setenv("AUTHSVC_BIG", "-1", 1);
    ck_assert_int_eq(as_opt_apply_env(opts, NUM, &s, &text, err, sizeof(err)), -1);
    free(text);
    ck_assert_str_eq(err, "AUTHSVC_BIG: invalid number (0 to 10000000): -1");
    unsetenv("AUTHSVC_BIG");
    unsetenv("AUTHSVC_ITEM");
    unsetenv("AUTHSVC_SMALL_NUMBER");
    unsetenv("AUTHSVC_CLI_ONLY");

    fd = open(path, O_WRONLY | O_TRUNC);
    const char bad[] = "name = a\ncli-only = true\n";
    ck_assert_int_eq(write(fd, bad, sizeof(bad) - 1), (ssize_t)(sizeof(bad) - 1));
    close(fd);
    ck_assert_int_eq(as_opt_apply_file(opts, NUM, &s, path, &text, err, sizeof(err)), -1);
    char expected[256];
    snprintf(expected, sizeof(expected), "%s:2: unknown setting cli-only", path);
    ck_assert_str_eq(err, expected);
    free(text);
    unlink(path);
    as_opt_dispose(opts, NUM, &s);
}
END_TEST

START_TEST(help_and_markdown)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    as_opt_print_markdown(opts, NUM, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "| `--small-number N` | `AUTHSVC_SMALL_NUMBER` | `1` | small |\n"));
    ck_assert_ptr_nonnull(strstr(buf, "| `--cli-only` | (command line only) | (none) |"));
    free(buf);
    out = open_memstream(&buf, &len);
    as_opt_print_help(opts, NUM, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "  --name NAME                 a name (default: anon)\n"));
    free(buf);
}
END_TEST

AS_CHECK_MAIN("options",
              defaults_and_bounds,
              flags_choices_and_lists,
              argv_marks_what_was_given,
              env_and_file,
              help_and_markdown)
