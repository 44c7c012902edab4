/*
 * metrics/expo — the text exposition format writer (interface in expo.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/metrics/expo.h"

void as_expo_init(as_expo_t *e)
{
    e->cap = 4096;
    e->buf = as_malloc(e->cap);
    e->len = 0;
    e->buf[0] = '\0';
}

void as_expo_dispose(as_expo_t *e)
{
    free(e->buf);
    *e = (as_expo_t){0};
}

static void reserve(as_expo_t *e, size_t more)
{
    if (e->len + more + 1 <= e->cap)
        return;
    while (e->len + more + 1 > e->cap)
        e->cap *= 2;
    char *grown = as_malloc(e->cap);
    memcpy(grown, e->buf, e->len + 1);
    free(e->buf);
    e->buf = grown;
}

static void put(as_expo_t *e, const char *s, size_t n)
{
    reserve(e, n);
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
}

static void puts_(as_expo_t *e, const char *s)
{
    put(e, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(as_expo_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    reserve(e, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(e->buf + e->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    e->len += (size_t)n;
}

/** Escapes backslash and line feed (HELP text), and the double quote too for label values. */
static void put_escaped(as_expo_t *e, const char *s, int quote)
{
    for (; *s != '\0'; ++s) {
        if (*s == '\\')
            put(e, "\\\\", 2);
        else if (*s == '\n')
            put(e, "\\n", 2);
        else if (*s == '"' && quote)
            put(e, "\\\"", 2);
        else
            put(e, s, 1);
    }
}

void as_expo_label_value(as_expo_t *e, const char *value)
{
    put_escaped(e, value, 1);
}

void as_expo_family(as_expo_t *e, const char *name, const char *type, const char *help)
{
    putf(e, "# HELP %s ", name);
    put_escaped(e, help, 0);
    putf(e, "\n# TYPE %s %s\n", name, type);
}

static void put_head(as_expo_t *e, const char *name, const char *suffix, const as_label_t *labels, size_t num_labels,
                     const char *le)
{
    puts_(e, name);
    puts_(e, suffix);
    if (num_labels == 0 && le == NULL) {
        put(e, " ", 1);
        return;
    }
    put(e, "{", 1);
    for (size_t i = 0; i != num_labels; ++i) {
        if (i != 0)
            put(e, ",", 1);
        puts_(e, labels[i].name);
        put(e, "=\"", 2);
        put_escaped(e, labels[i].value, 1);
        put(e, "\"", 1);
    }
    if (le != NULL)
        putf(e, "%sle=\"%s\"", num_labels != 0 ? "," : "", le);
    put(e, "} ", 2);
}

void as_expo_u64(as_expo_t *e, const char *name, const as_label_t *labels, size_t num_labels, uint64_t value)
{
    put_head(e, name, "", labels, num_labels, NULL);
    putf(e, "%" PRIu64 "\n", value);
}

void as_expo_double(as_expo_t *e, const char *name, const as_label_t *labels, size_t num_labels, double value)
{
    put_head(e, name, "", labels, num_labels, NULL);
    putf(e, "%.17g\n", value);
}

void as_expo_histogram(as_expo_t *e, const char *name, const as_label_t *labels, size_t num_labels, const as_histogram_t *h)
{
    uint64_t cumulative = 0;
    char le[32];
    for (size_t i = 0; i != AS_METRICS_NUM_BOUNDS; ++i) {
        cumulative += as_metrics_read(&h->bucket[i]);
        snprintf(le, sizeof(le), "%g", (double)as_metrics_bounds_us[i] / 1e6);
        put_head(e, name, "_bucket", labels, num_labels, le);
        putf(e, "%" PRIu64 "\n", cumulative);
    }
    /* +Inf is the count itself; read once, so that the buckets never exceed it */
    cumulative += as_metrics_read(&h->bucket[AS_METRICS_NUM_BOUNDS]);
    put_head(e, name, "_bucket", labels, num_labels, "+Inf");
    putf(e, "%" PRIu64 "\n", cumulative);
    put_head(e, name, "_sum", labels, num_labels, NULL);
    putf(e, "%.6f\n", (double)as_metrics_read(&h->sum_us) / 1e6);
    put_head(e, name, "_count", labels, num_labels, NULL);
    putf(e, "%" PRIu64 "\n", cumulative);
}
