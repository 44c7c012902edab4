/*
 * base/log — as_log: one line per message on standard error, with a UTC
 * timestamp, the process id and the level (interface in authsvc/as.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/as.h"

int as_log_level = AS_LOG_INFO;

void as_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (level > as_log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof(line) - n, ".%03ldZ authsvc[%d] %s: ", ts.tv_nsec / 1000000, (int)getpid(), names[level]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* one line per message: strip embedded newlines (libpq messages end with one) */
    while (n > 0 && line[n - 1] == '\n')
        --n;
    for (int i = 0; i < n; ++i)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    if (write(2, line, n) < 0) {
        /* nothing sensible to do */
    }
}
