/*
 * GET /metrics (management listener only) — the Prometheus text exposition
 * (format 0.0.4) of what metrics/ counts per event thread, summed over the
 * threads at scrape time, plus what is read when asked: the argon2 workers'
 * queue (under its mutex), the scraping thread's key set, and the process
 * (/proc/self: descriptors and resident memory; procfs never waits for a disk).
 * Names follow Prometheus conventions: base units (seconds, bytes), counters
 * end in _total, the standard process_* names for the process.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/http/respond.h"
#include "authsvc/metrics/expo.h"
#include "authsvc/metrics/metrics.h"
#include "authsvc/oauth/password.h"
#include "authsvc/ops/ops.h"

_Static_assert(AS_ML_SUCCESS == (int)AS_PASSWORD_OK && AS_ML_WRONG_PASSWORD == (int)AS_PASSWORD_WRONG &&
                   AS_ML_THROTTLED == (int)AS_PASSWORD_THROTTLED && AS_ML_BUSY == (int)AS_PASSWORD_BUSY &&
                   AS_ML_UNAVAILABLE == (int)AS_PASSWORD_UNAVAILABLE,
               "password.c counts logins[result]: metrics.h's login outcomes follow as_password_result_t");

static const char *const class_names[AS_M_NUM_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const method_names[AS_M_NUM_METHODS] = {"GET", "POST", "HEAD", "other"};

/** The sum of one counter over every thread: `offset` is the counter's place in as_metrics_t. */
static uint64_t sum_at(size_t offset)
{
    uint64_t total = 0;
    for (size_t t = 0, n = as_metrics_num_threads(); t != n; ++t)
        total += as_metrics_read((const uint64_t *)((const char *)as_metrics_thread(t) + offset));
    return total;
}
#define SUM(member) sum_at(offsetof(as_metrics_t, member))

/** a - b, or 0 when two reads a moment apart crossed (metrics.h: gauges as pairs of counters). */
static uint64_t gauge(uint64_t up, uint64_t down)
{
    return up > down ? up - down : 0;
}

static void sum_histogram(as_histogram_t *out, size_t offset)
{
    memset(out, 0, sizeof(*out));
    for (size_t t = 0, n = as_metrics_num_threads(); t != n; ++t) {
        const as_histogram_t *h = (const as_histogram_t *)((const char *)as_metrics_thread(t) + offset);
        for (size_t i = 0; i != AS_METRICS_NUM_BOUNDS + 1; ++i)
            out->bucket[i] += as_metrics_read(&h->bucket[i]);
        out->sum_us += as_metrics_read(&h->sum_us);
    }
}

static void write_http(as_expo_t *e)
{
    int header = 0;
    for (size_t r = 0; r != as_metrics_num_routes(); ++r) {
        for (size_t m = 0; m != AS_M_NUM_METHODS; ++m) {
            for (size_t c = 0; c != AS_M_NUM_CLASSES; ++c) {
                for (size_t err = 0; err != AS_ME_NUM; ++err) {
                    uint64_t v = SUM(requests[r][m][c][err]);
                    if (v == 0)
                        continue;
                    if (!header) {
                        as_expo_family(e, "authsvc_http_requests_total", "counter",
                                       "Requests answered on the public listeners, by route (the exact path, or other), method, "
                                       "status class and OAuth error code.");
                        header = 1;
                    }
                    as_label_t labels[] = {{"route", as_metrics_route_name(r)},
                                           {"method", method_names[m]},
                                           {"status", class_names[c]},
                                           {"error", as_metrics_error_names[err]}};
                    as_expo_u64(e, "authsvc_http_requests_total", labels, err == AS_ME_NONE ? 3 : 4, v);
                }
            }
        }
    }
    header = 0;
    for (size_t r = 0; r != as_metrics_num_routes(); ++r) {
        as_histogram_t h;
        uint64_t total = 0;
        sum_histogram(&h, offsetof(as_metrics_t, latency[r]));
        for (size_t i = 0; i != AS_METRICS_NUM_BOUNDS + 1; ++i)
            total += h.bucket[i];
        if (total == 0)
            continue;
        if (!header) {
            as_expo_family(e, "authsvc_http_request_duration_seconds", "histogram",
                           "Time from the request's arrival to its response, by route.");
            header = 1;
        }
        as_label_t label = {"route", as_metrics_route_name(r)};
        as_expo_histogram(e, "authsvc_http_request_duration_seconds", &label, 1, &h);
    }
}

static void write_oauth(as_expo_t *e)
{
    as_expo_family(e, "authsvc_oauth_grants_total", "counter",
                   "Token endpoint requests by grant_type and outcome: issued (2xx), refused (4xx), failed (5xx: the database "
                   "or the argon2 queue could not serve it).");
    for (size_t g = 0; g != AS_MG_NUM; ++g) {
        for (size_t o = 0; o != AS_MGO_NUM; ++o) {
            as_label_t labels[] = {{"grant_type", as_metrics_grant_names[g]}, {"outcome", as_metrics_grant_outcome_names[o]}};
            as_expo_u64(e, "authsvc_oauth_grants_total", labels, 2, SUM(grants[g][o]));
        }
    }
    as_expo_family(e, "authsvc_refresh_rotations_total", "counter",
                   "refresh_token grants by what the store decided (expired tokens count as invalid).");
    for (size_t i = 0; i != AS_MR_NUM; ++i) {
        as_label_t label = {"outcome", as_metrics_refresh_names[i]};
        as_expo_u64(e, "authsvc_refresh_rotations_total", &label, 1, SUM(refresh[i]));
    }
    as_expo_family(e, "authsvc_logins_total", "counter",
                   "Password checks (password grant and sign-in form) by outcome; wrong_password includes unknown and "
                   "disabled users.");
    for (size_t i = 0; i != AS_ML_NUM; ++i) {
        as_label_t label = {"outcome", as_metrics_login_names[i]};
        as_expo_u64(e, "authsvc_logins_total", &label, 1, SUM(logins[i]));
    }
}

static void write_db(as_expo_t *e)
{
    as_expo_family(e, "authsvc_db_connections", "gauge", "Database connections ready for queries, over every event thread.");
    as_expo_u64(e, "authsvc_db_connections", NULL, 0, gauge(SUM(db_conns_up), SUM(db_conns_down)));
    as_expo_family(e, "authsvc_db_connections_in_use", "gauge", "Database connections with at least one query in flight.");
    as_expo_u64(e, "authsvc_db_connections_in_use", NULL, 0, gauge(SUM(db_busy_up), SUM(db_busy_down)));
    as_expo_family(e, "authsvc_db_queries_waiting", "gauge", "Queries waiting for a database connection.");
    as_expo_u64(e, "authsvc_db_queries_waiting", NULL, 0, gauge(SUM(db_waiting_in), SUM(db_waiting_out)));
    as_expo_family(e, "authsvc_db_reconnects_total", "counter",
                   "Database connections made ready again after they had been ready (recoveries from an outage).");
    as_expo_u64(e, "authsvc_db_reconnects_total", NULL, 0, SUM(db_reconnects));
    as_expo_family(e, "authsvc_db_connection_failures_total", "counter",
                   "Database connections lost and connection attempts failed.");
    as_expo_u64(e, "authsvc_db_connection_failures_total", NULL, 0, SUM(db_connect_failures));
    as_expo_family(e, "authsvc_db_queries_rejected_total", "counter",
                   "Queries refused at once (no connection possible, or the wait queue full).");
    as_expo_u64(e, "authsvc_db_queries_rejected_total", NULL, 0, SUM(db_rejected));
    as_histogram_t h;
    sum_histogram(&h, offsetof(as_metrics_t, db_query));
    as_expo_family(e, "authsvc_db_query_duration_seconds", "histogram",
                   "Time from a query's submission to its result (queueing included), whatever the result.");
    as_expo_histogram(e, "authsvc_db_query_duration_seconds", NULL, 0, &h);
}

static void write_argon2(as_expo_t *e, as_pwcheck_t *pwcheck)
{
    as_pwcheck_stats_t st;
    if (pwcheck == NULL)
        return;
    as_pwcheck_stats(pwcheck, &st);
    as_expo_family(e, "authsvc_argon2_queue_depth", "gauge", "Password hashing jobs waiting for an argon2 worker.");
    as_expo_u64(e, "authsvc_argon2_queue_depth", NULL, 0, st.queued);
    as_expo_family(e, "authsvc_argon2_jobs_pending", "gauge", "Password hashing jobs queued or being hashed.");
    as_expo_u64(e, "authsvc_argon2_jobs_pending", NULL, 0, st.pending);
    as_expo_family(e, "authsvc_argon2_rejected_total", "counter",
                   "Password checks answered busy without hashing (queue full, fair-share limit, or waited too long).");
    as_expo_u64(e, "authsvc_argon2_rejected_total", NULL, 0, st.rejected);
    as_expo_family(e, "authsvc_argon2_queue_wait_seconds", "histogram", "Time a job waited before a worker took it.");
    as_expo_histogram(e, "authsvc_argon2_queue_wait_seconds", NULL, 0, &st.wait);
}

static void write_keys(as_expo_t *e, as_keyview_t *view)
{
    if (view == NULL || view->current == NULL || view->current->set == NULL)
        return;
    const as_keyset_t *ks = view->current->set;
    as_expo_family(e, "authsvc_keys_published", "gauge", "Signing keys in the JWKS.");
    as_expo_u64(e, "authsvc_keys_published", NULL, 0, ks->num_entries);
    if (ks->active < ks->num_entries) {
        const as_keyset_entry_t *k = &ks->entries[ks->active];
        as_label_t label = {"kid", k->kid};
        as_expo_family(e, "authsvc_keys_active_age_seconds", "gauge", "Seconds since the signing key became active.");
        as_expo_double(e, "authsvc_keys_active_age_seconds", &label, 1, (double)((int64_t)time(NULL) - k->meta.active_at));
    }
}

static size_t count_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += de->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* less the directory's own descriptor */
}

static uint64_t resident_bytes(void)
{
    unsigned long long size, resident;
    FILE *fp = fopen("/proc/self/statm", "re");
    if (fp == NULL)
        return 0;
    int ok = fscanf(fp, "%llu %llu", &size, &resident) == 2;
    fclose(fp);
    return ok ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void write_process(as_expo_t *e, double start_time)
{
    struct rlimit rl;
    as_expo_family(e, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.");
    as_expo_double(e, "process_start_time_seconds", NULL, 0, start_time);
    as_expo_family(e, "process_open_fds", "gauge", "Open file descriptors.");
    as_expo_u64(e, "process_open_fds", NULL, 0, count_fds());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        as_expo_family(e, "process_max_fds", "gauge", "The descriptor limit (RLIMIT_NOFILE).");
        as_expo_u64(e, "process_max_fds", NULL, 0, rl.rlim_cur);
    }
    as_expo_family(e, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    as_expo_u64(e, "process_resident_memory_bytes", NULL, 0, resident_bytes());
    as_expo_family(e, "authsvc_event_threads", "gauge", "Event threads whose counters are summed here.");
    as_expo_u64(e, "authsvc_event_threads", NULL, 0, as_metrics_num_threads());
    as_label_t version = {"version", AS_VERSION};
    as_expo_family(e, "authsvc_build_info", "gauge", "Always 1; the version of the running binary as a label.");
    as_expo_u64(e, "authsvc_build_info", &version, 1, 1);
}

void as_ops_write_metrics(as_expo_t *out, as_ops_ctx_t *ctx)
{
    write_http(out);
    write_oauth(out);
    write_db(out);
    write_argon2(out, ctx->pwcheck);
    write_keys(out, ctx->keys);
    write_process(out, ctx->start_time);
}

AS_HANDLER(as_ops_metrics)
{
    as_expo_t e;
    as_expo_init(&e);
    as_ops_write_metrics(&e, data);
    /* h2o_send_inline copies the body into the request's pool */
    as_http_send_asset(req, "text/plain; version=0.0.4; charset=utf-8", e.buf, e.len, "no-store");
    as_expo_dispose(&e);
}
