/*
 * metrics/expo — the Prometheus text exposition format 0.0.4 written into a
 * growing buffer: metric families (# HELP, # TYPE), samples with escaped
 * label values, histograms from non-cumulative buckets. Knows no metric of
 * its own; ops/ decides what is exposed. Any thread; one writer per buffer.
 */
#ifndef AS_METRICS_EXPO_H
#define AS_METRICS_EXPO_H

#include <stddef.h>
#include <stdint.h>
#include "authsvc/metrics/metrics.h"

typedef struct st_as_expo_t {
    char *buf; /* owned; NUL-terminated */
    size_t len, cap;
} as_expo_t;

/** A label: name (a literal of [a-zA-Z_][a-zA-Z0-9_]*) and value (any bytes but NUL: escaped when written). */
typedef struct st_as_label_t {
    const char *name;
    const char *value;
} as_label_t;

void as_expo_init(as_expo_t *e);
void as_expo_dispose(as_expo_t *e);

/** "# HELP name help" (help escaped) and "# TYPE name type": once per family, before its samples. */
void as_expo_family(as_expo_t *e, const char *name, const char *type, const char *help);

/** One sample line: name{labels} value. `suffix` ("_bucket", "_sum"; "" for none) is appended to the name. */
void as_expo_u64(as_expo_t *e, const char *name, const as_label_t *labels, size_t num_labels, uint64_t value);
void as_expo_double(as_expo_t *e, const char *name, const as_label_t *labels, size_t num_labels, double value);

/**
 * A histogram's samples (seconds): name_bucket{labels,le="..."} cumulative for every bound and +Inf,
 * name_sum (seconds) and name_count, from `h` (another thread's: read with as_metrics_read).
 */
void as_expo_histogram(as_expo_t *e, const char *name, const as_label_t *labels, size_t num_labels, const as_histogram_t *h);

/** Appends `value` escaped as a label value (\\, \", \n), without the quotes. Exposed for the unit test. */
void as_expo_label_value(as_expo_t *e, const char *value);

#endif
