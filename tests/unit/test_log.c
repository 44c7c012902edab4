/* base/log: the queued log keeps lines whole and in order, counts what it drops, and as_fatal gets its line out. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "check_run.h"

static int stalled_until = -1; /* the child writes a byte here when the parent may start reading */

/**
 * Runs `body` in a child whose standard error is a pipe; returns what the child wrote there and its wait status.
 * With `stall`, the parent reads nothing until the child writes to `stalled_until`.
 */
static char *run_child(void (*body)(void), int stall, int *status)
{
    int fds[2], sync[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pipe(sync), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        close(sync[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        stalled_until = sync[1];
        body();
        _exit(0);
    }
    close(fds[1]);
    close(sync[1]);
    char byte;
    if (stall)
        ck_assert_int_eq(read(sync[0], &byte, 1), 1);
    close(sync[0]);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(fds[0], out + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 4096)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, status, 0), pid);
    return out;
}

static void fatal_after_lines(void)
{
    as_log_start();
    for (int i = 0; i != 5; ++i)
        as_info("line %d", i);
    as_fatal("the end: %s", "boom");
}

START_TEST(fatal_gets_its_line_out_after_the_queued_ones)
{
    int status;
    char *out = run_child(fatal_after_lines, 0, &status);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    const char *at = out;
    for (int i = 0; i != 5; ++i) {
        char want[32];
        snprintf(want, sizeof(want), "info: line %d\n", i);
        ck_assert_msg((at = strstr(at, want)) != NULL, "no \"%s\" in order in:\n%s", want, out);
    }
    ck_assert_msg(strstr(at, "error: the end: boom\n") != NULL, "no fatal line after the others in:\n%s", out);
    free(out);
}
END_TEST

#define FLOOD 5000

static void flood_a_stalled_reader(void)
{
    /* a reader that takes nothing until the flood is over: standard error is a pipe of one page, and the
     * parent reads only once this child says so; the lines that do not fit are dropped, never waited for */
    fcntl(2, F_SETPIPE_SZ, 4096);
    as_log_start();
    for (int i = 0; i != FLOOD; ++i)
        as_info("flood %05d %s", i, "................................................................................");
    if (write(stalled_until, "", 1) != 1) /* the flood is over: the reader resumes */
        _exit(3);
    as_log_stop();
}

START_TEST(a_full_queue_drops_and_counts)
{
    int status;
    char *out = run_child(flood_a_stalled_reader, 1, &status);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    size_t written = 0, dropped = 0;
    int last = -1;
    for (char *line = out, *end; *line != '\0'; line = end + 1) {
        ck_assert_msg((end = strchr(line, '\n')) != NULL, "a line without its end: %s", line);
        *end = '\0';
        const char *m;
        unsigned long long n;
        int i;
        if ((m = strstr(line, "warn: ")) != NULL && sscanf(m, "warn: %llu log lines dropped", &n) == 1) {
            dropped += n;
        } else {
            ck_assert_msg((m = strstr(line, "info: flood ")) != NULL && sscanf(m, "info: flood %d", &i) == 1, "%.*s",
                          (int)(end - line), line);
            ck_assert_int_gt(i, last); /* in order */
            ck_assert_int_eq(end - m, (long)strlen("info: flood 00000 ") + 80);
            last = i;
            ++written;
        }
    }
    /* the ring's 1024 lines (and the pipe's page) got through; the rest is counted, none is lost uncounted */
    ck_assert_uint_ge(written, 1024);
    ck_assert_uint_gt(dropped, 0);
    ck_assert_uint_eq(written + dropped, FLOOD);
    free(out);
}
END_TEST

AS_CHECK_MAIN("log",
              fatal_gets_its_line_out_after_the_queued_ones,
              a_full_queue_drops_and_counts)
