/*
 * An LD_PRELOAD library that counts calls to malloc, calloc, realloc and the aligned allocators, process-wide,
 * and writes the count to the file named by MALLOC_COUNT_FILE whenever the process receives SIGUSR2 (only then:
 * other programs started with the same environment, sed or sleep, must not overwrite it when they exit).
 * bench/run reads it before and after N requests: (after - before) / N is the heap allocations per request.
 *
 *   cc -O2 -shared -fPIC -o malloc_count.so bench/malloc_count.c
 *   MALLOC_COUNT_FILE=/tmp/count LD_PRELOAD=./malloc_count.so authsvc serve ...; kill -USR2 PID; cat /tmp/count
 *
 * The real allocator is glibc's, reached through its __libc_* entry points (no dlsym, which may itself allocate).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong count;

void *malloc(size_t sz)
{
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return __libc_malloc(sz);
}

void *calloc(size_t n, size_t sz)
{
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return __libc_calloc(n, sz);
}

void *realloc(void *p, size_t sz)
{
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return __libc_realloc(p, sz);
}

void *memalign(size_t align, size_t sz)
{
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return __libc_memalign(align, sz);
}

int posix_memalign(void **out, size_t align, size_t sz)
{
    void *p;
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    if ((p = __libc_memalign(align, sz)) == NULL)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t sz)
{
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return __libc_memalign(align, sz);
}

static void write_count(void)
{
    const char *path = getenv("MALLOC_COUNT_FILE");
    char buf[32];
    int fd, n;
    unsigned long v = atomic_load(&count), d = 1;

    if (path == NULL || (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
        return;
    /* async-signal-safe formatting */
    while (v / d >= 10)
        d *= 10;
    for (n = 0; d != 0; d /= 10)
        buf[n++] = (char)('0' + v / d % 10);
    buf[n++] = '\n';
    (void)!write(fd, buf, (size_t)n);
    close(fd);
}

static void on_usr2(int sig)
{
    (void)sig;
    write_count();
}

__attribute__((constructor)) static void init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}
