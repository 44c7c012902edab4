/*
 * base/log — as_log: one line per message on standard error, with a UTC
 * timestamp, the process id and the level; and the queue every log line of a
 * serving process goes through (interface in authsvc/as.h).
 *
 * Until as_log_start, and in the CLI commands, a line is written at once with
 * one write(2). From as_log_start on, nothing the event threads log may wait
 * for the reader of the log: a line is copied into a bounded ring under a
 * mutex held only for that copy, and one logger thread writes the ring out,
 * one write(2) per line (so a line is never split or interleaved: lines are
 * shorter than PIPE_BUF). When the reader is too slow and the ring is full,
 * the line is dropped and counted; once the reader catches up, the logger
 * writes "N log lines dropped" where the missing lines would have been.
 * as_log_stop drains the ring at exit (for a bounded time: a reader that
 * never resumes must not keep the process from exiting), and as_fatal gets
 * its own line out, after what was queued before it, before aborting.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/as.h"

int as_log_level = AS_LOG_INFO;

#define LINE_MAX_BYTES 1024   /* an as_log line, newline included */
#define SLOT_BYTES 2048       /* the longest line queued (an access-log line): below PIPE_BUF, so one write is atomic */
#define NUM_SLOTS 1024        /* lines the ring holds: 2 MiB */
#define STOP_DRAIN_SECONDS 5  /* how long as_log_stop and as_fatal wait for a stalled reader */

typedef struct st_slot_t {
    int fd;
    uint32_t len;
    char data[SLOT_BYTES];
} slot_t;

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t nonempty; /* the logger waits for lines (and for the stop) */
    pthread_cond_t drained;  /* as_log_stop and as_fatal wait for the ring to empty */
    slot_t *slots;           /* NULL: not started (or stopped): write at once */
    uint64_t head, tail;     /* lines taken and queued since start; the logger owns slot head % NUM_SLOTS while writing it */
    uint64_t dropped;        /* lines dropped since the last report */
    uint64_t dropped_at;     /* where the first of them would have been queued (the report goes there) */
    int stopping;
    int running; /* the logger thread exists */
    pthread_t thread;
} ring = {.mutex = PTHREAD_MUTEX_INITIALIZER, .nonempty = PTHREAD_COND_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER};

/** Writes the whole line (a pipe or terminal may take it in parts only when interrupted). */
static void write_all(int fd, const char *p, size_t len)
{
    while (len != 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nothing sensible to do: the log is the only place we could say so */
        p += n;
        len -= (size_t)n;
    }
}

/** Formats one line "TIME authsvc[PID] LEVEL: MESSAGE\n" into `line`; returns its length. */
static size_t format_line(char line[LINE_MAX_BYTES], int level, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
static size_t format_line(char line[LINE_MAX_BYTES], int level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct timespec ts;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (int)strftime(line, LINE_MAX_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, LINE_MAX_BYTES - n, ".%03ldZ authsvc[%d] %s: ", ts.tv_nsec / 1000000, (int)getpid(), names[level]);
    n += vsnprintf(line + n, LINE_MAX_BYTES - n, fmt, ap);
    if (n > LINE_MAX_BYTES - 2)
        n = LINE_MAX_BYTES - 2;
    /* one line per message: strip embedded newlines (libpq messages end with one) */
    while (n > 0 && line[n - 1] == '\n')
        --n;
    for (int i = 0; i < n; ++i)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    return (size_t)n;
}

static size_t format(char line[LINE_MAX_BYTES], int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t format(char line[LINE_MAX_BYTES], int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_line(line, level, fmt, ap);
    va_end(ap);
    return n;
}

void as_log_write(int fd, const char *line, size_t len)
{
    if (len > SLOT_BYTES)
        len = SLOT_BYTES; /* callers stay below it; a cut line still ends the way it began */
    pthread_mutex_lock(&ring.mutex);
    if (ring.slots == NULL) {
        pthread_mutex_unlock(&ring.mutex);
        write_all(fd, line, len);
        return;
    }
    if (ring.tail - ring.head == NUM_SLOTS) {
        if (ring.dropped++ == 0)
            ring.dropped_at = ring.tail;
    } else {
        slot_t *slot = ring.slots + ring.tail % NUM_SLOTS;
        slot->fd = fd;
        slot->len = (uint32_t)len;
        memcpy(slot->data, line, len);
        if (ring.tail++ == ring.head)
            pthread_cond_signal(&ring.nonempty);
    }
    pthread_mutex_unlock(&ring.mutex);
}

void as_log(int level, const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    va_list ap;

    if (level > as_log_level)
        return;
    va_start(ap, fmt);
    size_t n = format_line(line, level, fmt, ap);
    va_end(ap);
    as_log_write(2, line, n);
}

/** The logger thread: writes the ring out in order, with the drop reports where the drops were. */
static void *logger_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ring.mutex);
    for (;;) {
        if (ring.dropped != 0 && ring.head == ring.dropped_at) {
            uint64_t n = ring.dropped;
            char line[LINE_MAX_BYTES];
            ring.dropped = 0;
            pthread_mutex_unlock(&ring.mutex);
            write_all(2, line, format(line, AS_LOG_WARN, "%llu log lines dropped (their reader was too slow)",
                                      (unsigned long long)n));
            pthread_mutex_lock(&ring.mutex);
            continue;
        }
        if (ring.head != ring.tail) {
            /* producers never touch the slot at head while it is queued: write it without the lock */
            slot_t *slot = ring.slots + ring.head % NUM_SLOTS;
            pthread_mutex_unlock(&ring.mutex);
            write_all(slot->fd, slot->data, slot->len);
            pthread_mutex_lock(&ring.mutex);
            ++ring.head;
            continue;
        }
        pthread_cond_broadcast(&ring.drained);
        if (ring.stopping)
            break;
        pthread_cond_wait(&ring.nonempty, &ring.mutex);
    }
    pthread_mutex_unlock(&ring.mutex);
    return NULL;
}

void as_log_start(void)
{
    sigset_t all, old;
    slot_t *slots = as_malloc(NUM_SLOTS * sizeof(*slots)); /* not under the mutex: as_fatal takes it */

    pthread_mutex_lock(&ring.mutex);
    if (ring.slots != NULL) {
        pthread_mutex_unlock(&ring.mutex);
        free(slots);
        return;
    }
    ring.slots = slots;
    ring.head = ring.tail = ring.dropped = 0;
    ring.stopping = 0;
    pthread_mutex_unlock(&ring.mutex);
    /* the logger takes no signal: SIGTERM and SIGHUP are the main thread's */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ring.running = pthread_create(&ring.thread, NULL, logger_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ring.running) {
        pthread_mutex_lock(&ring.mutex);
        free(ring.slots);
        ring.slots = NULL;
        pthread_mutex_unlock(&ring.mutex);
        as_warn("cannot start the logger thread: log lines are written by the threads that log them");
    }
}

/** Waits until the logger has written everything queued, or `seconds` have passed. Returns 1 if drained. Mutex held. */
static int wait_drained(int seconds)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    while (ring.head != ring.tail || ring.dropped != 0) {
        if (pthread_cond_timedwait(&ring.drained, &ring.mutex, &deadline) == ETIMEDOUT)
            return ring.head == ring.tail && ring.dropped == 0;
    }
    return 1;
}

void as_log_stop(void)
{
    pthread_mutex_lock(&ring.mutex);
    if (!ring.running) {
        pthread_mutex_unlock(&ring.mutex);
        return;
    }
    ring.stopping = 1;
    pthread_cond_signal(&ring.nonempty);
    int drained = wait_drained(STOP_DRAIN_SECONDS);
    if (!drained) {
        /* the reader has stalled for good: leave the logger blocked in its write and the ring to the exit */
        pthread_mutex_unlock(&ring.mutex);
        return;
    }
    pthread_mutex_unlock(&ring.mutex);
    pthread_join(ring.thread, NULL);
    pthread_mutex_lock(&ring.mutex);
    ring.running = 0;
    free(ring.slots);
    ring.slots = NULL; /* from now on, lines are written at once again */
    pthread_mutex_unlock(&ring.mutex);
}

void as_fatal(const char *fmt, ...)
{
    char line[LINE_MAX_BYTES];
    va_list ap;

    va_start(ap, fmt);
    size_t n = format_line(line, AS_LOG_ERROR, fmt, ap);
    va_end(ap);
    /* what was queued before comes first; then this line, written by this thread whatever the ring's state: the
     * process is about to end, so waiting for the reader here blocks nobody who could still be served */
    pthread_mutex_lock(&ring.mutex);
    if (ring.running)
        (void)wait_drained(STOP_DRAIN_SECONDS);
    pthread_mutex_unlock(&ring.mutex);
    write_all(2, line, n);
    abort();
}
