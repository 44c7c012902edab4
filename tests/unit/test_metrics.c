/* metrics/: the exposition writer (escaping of label values and HELP text, samples, cumulative histograms with
 * inclusive bounds), the label tables, and per-thread blocks summed across threads. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/metrics/expo.h"
#include "authsvc/metrics/metrics.h"
#include "check_run.h"

START_TEST(label_values_are_escaped)
{
    as_expo_t e;
    as_expo_init(&e);
    as_label_t labels[] = {{"kid", "a\\b\"c\nd"}, {"route", "/x"}};
    as_expo_u64(&e, "m_total", labels, 2, 7);
    ck_assert_str_eq(e.buf, "m_total{kid=\"a\\\\b\\\"c\\nd\",route=\"/x\"} 7\n");
    as_expo_dispose(&e);

    as_expo_init(&e);
    as_expo_label_value(&e, "\\\\\"\n\n");
    ck_assert_str_eq(e.buf, "\\\\\\\\\\\"\\n\\n");
    as_expo_dispose(&e);

    as_expo_init(&e); /* UTF-8 and other bytes pass unchanged */
    as_expo_label_value(&e, "caf\xc3\xa9 {}=,");
    ck_assert_str_eq(e.buf, "caf\xc3\xa9 {}=,");
    as_expo_dispose(&e);
}
END_TEST

START_TEST(help_escapes_backslash_and_newline_only)
{
    as_expo_t e;
    as_expo_init(&e);
    as_expo_family(&e, "m", "gauge", "say \"hi\"\\\nnext");
    ck_assert_str_eq(e.buf, "# HELP m say \"hi\"\\\\\\nnext\n# TYPE m gauge\n");
    as_expo_dispose(&e);
}
END_TEST

START_TEST(samples_without_labels)
{
    as_expo_t e;
    as_expo_init(&e);
    as_expo_u64(&e, "a", NULL, 0, UINT64_MAX);
    as_expo_double(&e, "b", NULL, 0, 1.5);
    ck_assert_str_eq(e.buf, "a 18446744073709551615\nb 1.5\n");
    as_expo_dispose(&e);
}
END_TEST

START_TEST(histogram_is_cumulative_with_inclusive_bounds)
{
    as_histogram_t h;
    memset(&h, 0, sizeof(h));
    as_histogram_observe(&h, 0);          /* first bucket */
    as_histogram_observe(&h, 100);        /* = the first bound: still the first bucket (le is inclusive) */
    as_histogram_observe(&h, 101);        /* second */
    as_histogram_observe(&h, 20000000);   /* above every bound: +Inf only */
    ck_assert_uint_eq(h.count, 4);
    ck_assert_uint_eq(h.sum_us, 20000201);

    as_expo_t e;
    as_expo_init(&e);
    as_label_t label = {"route", "/t"};
    as_expo_histogram(&e, "d_seconds", &label, 1, &h);
    ck_assert_ptr_nonnull(strstr(e.buf, "d_seconds_bucket{route=\"/t\",le=\"0.0001\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(e.buf, "d_seconds_bucket{route=\"/t\",le=\"0.00025\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(e.buf, "d_seconds_bucket{route=\"/t\",le=\"10\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(e.buf, "d_seconds_bucket{route=\"/t\",le=\"+Inf\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(e.buf, "d_seconds_sum{route=\"/t\"} 20.000201\n"));
    ck_assert_ptr_nonnull(strstr(e.buf, "d_seconds_count{route=\"/t\"} 4\n"));
    /* every bound once, in increasing order */
    size_t lines = 0;
    for (const char *p = e.buf; (p = strstr(p, "_bucket{")) != NULL; ++p)
        ++lines;
    ck_assert_uint_eq(lines, AS_METRICS_NUM_BOUNDS + 1);
    as_expo_dispose(&e);

    as_expo_init(&e); /* no labels: only le */
    as_expo_histogram(&e, "q", NULL, 0, &h);
    ck_assert_ptr_nonnull(strstr(e.buf, "q_bucket{le=\"+Inf\"} 4\nq_sum 20.000201\nq_count 4\n"));
    as_expo_dispose(&e);
}
END_TEST

START_TEST(label_tables)
{
    static const char *const paths[] = {"/a", "/b", "/a", "/c"};
    as_metrics_set_routes(paths, 4);
    ck_assert_uint_eq(as_metrics_num_routes(), 4); /* /a /b /c other */
    ck_assert_uint_eq(as_metrics_route_of("/b", 2), 1);
    ck_assert_uint_eq(as_metrics_route_of("/a/", 3), 3);
    ck_assert_uint_eq(as_metrics_route_of("/", 1), 3);
    ck_assert_str_eq(as_metrics_route_name(3), "other");
    ck_assert_uint_eq(as_metrics_error_of(NULL), AS_ME_NONE);
    ck_assert_uint_eq(as_metrics_error_of("invalid_client"), AS_ME_INVALID_CLIENT);
    ck_assert_uint_eq(as_metrics_error_of("made_up\n"), AS_ME_OTHER);
    ck_assert_uint_eq(as_metrics_error_of(""), AS_ME_OTHER);
    ck_assert_uint_eq(as_metrics_grant_of("client_credentials"), AS_MG_CLIENT_CREDENTIALS);
    ck_assert_uint_eq(as_metrics_grant_of("urn:x"), AS_MG_OTHER);
    ck_assert_uint_eq(as_metrics_refresh_of(0, 0), AS_MR_ROTATED);
    ck_assert_uint_eq(as_metrics_refresh_of(0, 1), AS_MR_GRACE);
    ck_assert_uint_eq(as_metrics_refresh_of(AS_ERR_CONFLICT, 0), AS_MR_REUSE_DETECTED);
    ck_assert_uint_eq(as_metrics_refresh_of(AS_ERR_NOT_FOUND, 0), AS_MR_INVALID);
    ck_assert_uint_eq(as_metrics_refresh_of(AS_ERR_DB_TIMEOUT, 0), AS_MR_UNAVAILABLE);
}
END_TEST

#define PER_THREAD 100000

static void *counting_thread(void *arg)
{
    (void)arg;
    as_metrics_thread_start();
    for (int i = 0; i != PER_THREAD; ++i)
        AS_METRICS_INC(logins[AS_ML_SUCCESS]);
    return NULL;
}

START_TEST(blocks_of_every_thread_are_summed)
{
    pthread_t t[3];
    ck_assert_ptr_null(as_metrics_self); /* this thread counts nothing: the macro is a no-op */
    AS_METRICS_INC(logins[AS_ML_SUCCESS]);
    for (int i = 0; i != 3; ++i)
        pthread_create(&t[i], NULL, counting_thread, NULL);
    for (int i = 0; i != 3; ++i)
        pthread_join(t[i], NULL);
    ck_assert_uint_eq(as_metrics_num_threads(), 3);
    uint64_t total = 0;
    for (size_t i = 0; i != as_metrics_num_threads(); ++i)
        total += as_metrics_read(&as_metrics_thread(i)->logins[AS_ML_SUCCESS]);
    ck_assert_uint_eq(total, 3 * PER_THREAD);
    as_metrics_dispose_all();
    ck_assert_uint_eq(as_metrics_num_threads(), 0);
}
END_TEST

AS_CHECK_MAIN("metrics",
              label_values_are_escaped,
              help_escapes_backslash_and_newline_only,
              samples_without_labels,
              histogram_is_cumulative_with_inclusive_bounds,
              label_tables,
              blocks_of_every_thread_are_summed)
