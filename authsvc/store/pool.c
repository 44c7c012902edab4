/*
 * Asynchronous libpq on the h2o evloop. See README.md in this folder for the
 * invariants; in short:
 *  - libpq does all socket I/O; h2o only reports readiness, on a dup() of
 *    PQsocket() so that libpq closing its socket never leaves a stale epoll entry;
 *  - a connection is a FIFO of in-flight jobs in pipeline mode, one sync each;
 *  - whoever breaks a connection first detaches its FIFO, then runs callbacks,
 *    so that callbacks may submit new jobs freely.
 * It counts into the metrics block of the thread that created it (metrics/):
 * its gauges as pairs of counters (up, down), its query latency from
 * submission to result.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/metrics/metrics.h"
#include "authsvc/store/pool.h"

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_PREPARING, CONN_READY };

typedef struct st_as_pool_conn_t {
    as_pool_t *pool;
    PGconn *pg;
    h2o_socket_t *sock;
    int pgfd; /* PQsocket() value the socket wraps */
    enum conn_state state;
    int was_ready; /* ready at least once: the next ready is a reconnection */
    uint64_t generation; /* bumped on every teardown, to notice it from inside callbacks */
    int want_write;
    h2o_linklist_t inflight; /* as_pool_job_t, oldest first */
    size_t num_inflight;
    h2o_timeout_entry_t retry;
    h2o_timeout_entry_t connect_deadline;
} as_pool_conn_t;

struct st_as_pool_job_t {
    h2o_linklist_t link;
    h2o_timeout_entry_t deadline;
    as_pool_t *pool;
    as_pool_conn_t *conn; /* NULL while waiting */
    size_t stmt;          /* SIZE_MAX: the internal "prepare everything" job */
    int nparams;
    char **values;
    int *lengths;
    int *formats;
    as_pool_cb cb;
    void *ctx;
    as_pool_job_t **handle; /* the caller's reference, cleared when the callback is taken */
    PGresult *res;
    uint64_t submitted_us; /* as_metrics_now_us() when submitted; 0: not measured */
};

struct st_as_pool_t {
    h2o_loop_t *loop;
    as_pool_config_t config;
    const as_stmt_t *stmts;
    size_t num_stmts;
    as_pool_conn_t *conns;
    h2o_linklist_t waiting;
    size_t num_waiting;
    h2o_timeout_t query_timeout;
    h2o_timeout_t retry_timeout;
    as_metrics_t *metrics; /* the creating thread's, or NULL: nothing counted */
    int disposing;
    int outage_logged; /* a failed connection attempt was logged since the last success */
};

#define PREPARE_JOB SIZE_MAX

#define COUNT(pool, member, n)                                                                                                     \
    do {                                                                                                                           \
        if ((pool)->metrics != NULL)                                                                                               \
            as_metrics_add(&(pool)->metrics->member, (n));                                                                         \
    } while (0)

static void conn_start(as_pool_conn_t *conn);
static void conn_fail(as_pool_conn_t *conn, const char *why);
static void on_readable(h2o_socket_t *sock, const char *err);
static void dispatch(as_pool_t *pool);

/* --- jobs ------------------------------------------------------------------ */

static as_pool_job_t *job_new(as_pool_t *pool, size_t stmt, int nparams, const char *const *values, const int *lengths,
                              const int *formats, as_pool_cb cb, void *ctx)
{
    as_pool_job_t *job = as_calloc(1, sizeof(*job));
    job->pool = pool;
    job->stmt = stmt;
    job->cb = cb;
    job->ctx = ctx;
    job->nparams = nparams;
    if (nparams > 0) {
        job->values = as_calloc(nparams, sizeof(*job->values));
        job->lengths = as_calloc(nparams, sizeof(*job->lengths));
        job->formats = as_calloc(nparams, sizeof(*job->formats));
        for (int i = 0; i != nparams; ++i) {
            if (values[i] == NULL)
                continue;
            int binary = formats != NULL && formats[i] == 1;
            size_t len = binary ? (size_t)lengths[i] : strlen(values[i]);
            job->values[i] = as_malloc(len + 1);
            memcpy(job->values[i], values[i], len);
            job->values[i][len] = '\0';
            job->lengths[i] = (int)len;
            job->formats[i] = binary;
        }
    }
    job->deadline.cb = NULL;
    return job;
}

static void job_free(as_pool_job_t *job)
{
    if (h2o_timeout_is_linked(&job->deadline))
        h2o_timeout_unlink(&job->deadline);
    for (int i = 0; i != job->nparams; ++i) {
        if (job->values[i] != NULL) {
            /* parameters may hold token hashes or password hashes: do not leave them in freed memory */
            as_wipe(job->values[i], job->lengths[i]);
            free(job->values[i]);
        }
    }
    free(job->values);
    free(job->lengths);
    free(job->formats);
    if (job->res != NULL)
        PQclear(job->res);
    free(job);
}

/** Detaches the callback from the job, clearing the caller's handle: the job is no longer theirs. */
static as_pool_cb job_take_cb(as_pool_job_t *job)
{
    as_pool_cb cb = job->cb;
    job->cb = NULL;
    if (job->handle != NULL) {
        *job->handle = NULL;
        job->handle = NULL;
    }
    return cb;
}

/** Runs the job's callback (if any) and frees it. The job must be unlinked from every list. */
static void job_complete(as_pool_job_t *job, int err)
{
    as_pool_cb cb = job_take_cb(job);
    if (h2o_timeout_is_linked(&job->deadline))
        h2o_timeout_unlink(&job->deadline);
    if (err == 0 && job->res != NULL) {
        ExecStatusType st = PQresultStatus(job->res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
            err = AS_ERR_DB_QUERY;
    }
    if (job->submitted_us != 0 && job->pool->metrics != NULL)
        as_histogram_observe(&job->pool->metrics->db_query, as_metrics_now_us() - job->submitted_us);
    if (cb != NULL)
        cb(job->ctx, err, err == 0 || err == AS_ERR_DB_QUERY ? job->res : NULL);
    job_free(job);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    as_pool_job_t *job = H2O_STRUCT_FROM_MEMBER(as_pool_job_t, deadline, entry);
    if (job->conn == NULL) {
        h2o_linklist_unlink(&job->link);
        --job->pool->num_waiting;
        COUNT(job->pool, db_waiting_out, 1);
        job_complete(job, AS_ERR_DB_TIMEOUT);
        return;
    }
    /* In flight: the connection is stuck behind this job (a hung server or network). Answer now and
     * reconnect; the other jobs on the connection fail as unavailable. */
    as_pool_conn_t *conn = job->conn;
    as_pool_cb cb = job_take_cb(job);
    if (cb != NULL)
        cb(job->ctx, AS_ERR_DB_TIMEOUT, NULL);
    if (conn->state != CONN_DOWN && job->conn == conn)
        conn_fail(conn, "query deadline passed");
}

/* --- connections ----------------------------------------------------------- */

static void conn_close_socket(as_pool_conn_t *conn)
{
    if (conn->sock != NULL) {
        h2o_socket_close(conn->sock); /* closes our dup, never libpq's descriptor */
        conn->sock = NULL;
    }
    conn->pgfd = -1;
    conn->want_write = 0;
}

static int conn_wrap_socket(as_pool_conn_t *conn)
{
    int fd = PQsocket(conn->pg);
    if (fd < 0)
        return -1;
    if (conn->sock != NULL && conn->pgfd == fd)
        return 0;
    conn_close_socket(conn);
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dupfd < 0)
        return -1;
    conn->sock = h2o_evloop_socket_create(conn->pool->loop, dupfd, H2O_SOCKET_FLAG_DONT_READ);
    conn->sock->data = conn;
    conn->pgfd = fd;
    return 0;
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    as_pool_conn_t *conn = H2O_STRUCT_FROM_MEMBER(as_pool_conn_t, retry, entry);
    conn_start(conn);
}

static int pool_has_hope(as_pool_t *pool)
{
    for (size_t i = 0; i != pool->config.num_connections; ++i)
        if (pool->conns[i].state != CONN_DOWN)
            return 1;
    return 0;
}

static void fail_waiting(as_pool_t *pool, int err)
{
    h2o_linklist_t list;
    h2o_linklist_init_anchor(&list);
    h2o_linklist_insert_list(&list, &pool->waiting);
    COUNT(pool, db_waiting_out, pool->num_waiting);
    pool->num_waiting = 0;
    while (!h2o_linklist_is_empty(&list)) {
        as_pool_job_t *job = H2O_STRUCT_FROM_MEMBER(as_pool_job_t, link, list.next);
        h2o_linklist_unlink(&job->link);
        job_complete(job, err);
    }
}

/** Tears the connection down, fails its in-flight jobs, and schedules a reconnection. */
static void conn_fail(as_pool_conn_t *conn, const char *why)
{
    as_pool_t *pool = conn->pool;
    h2o_linklist_t inflight;

    if (pool->disposing) {
        /* closing on purpose */
    } else if (conn->state == CONN_READY) {
        as_warn("database connection lost (%s): %s", why, conn->pg != NULL ? PQerrorMessage(conn->pg) : "");
    } else if (!pool->outage_logged) {
        as_warn("cannot connect to the database (%s): %s", why, conn->pg != NULL ? PQerrorMessage(conn->pg) : "");
        pool->outage_logged = 1;
    }
    if (!pool->disposing)
        COUNT(pool, db_connect_failures, 1);
    if (conn->state == CONN_READY)
        COUNT(pool, db_conns_down, 1);
    if (conn->num_inflight != 0)
        COUNT(pool, db_busy_down, 1);
    h2o_linklist_init_anchor(&inflight);
    h2o_linklist_insert_list(&inflight, &conn->inflight);
    conn->num_inflight = 0;
    conn_close_socket(conn);
    if (conn->pg != NULL) {
        PQfinish(conn->pg);
        conn->pg = NULL;
    }
    if (h2o_timeout_is_linked(&conn->connect_deadline))
        h2o_timeout_unlink(&conn->connect_deadline);
    conn->state = CONN_DOWN;
    ++conn->generation;
    if (!pool->disposing && !h2o_timeout_is_linked(&conn->retry))
        h2o_timeout_link(pool->loop, &pool->retry_timeout, &conn->retry);

    /* the outcome of in-flight statements is unknown (a write may have committed): say so */
    while (!h2o_linklist_is_empty(&inflight)) {
        as_pool_job_t *job = H2O_STRUCT_FROM_MEMBER(as_pool_job_t, link, inflight.next);
        h2o_linklist_unlink(&job->link);
        job->conn = NULL;
        if (job->stmt == PREPARE_JOB)
            job->cb = NULL;
        job_complete(job, AS_ERR_DB_UNAVAILABLE);
    }
    /* with no connection even trying, waiting requests should not wait for their deadline */
    if (!pool_has_hope(pool))
        fail_waiting(pool, AS_ERR_DB_UNAVAILABLE);
}

static void on_writable(h2o_socket_t *sock, const char *err);

static void conn_flush(as_pool_conn_t *conn)
{
    int r = PQflush(conn->pg);
    if (r < 0) {
        conn_fail(conn, "flush failed");
    } else if (r > 0 && !conn->want_write) {
        conn->want_write = 1;
        h2o_socket_notify_write(conn->sock, on_writable);
    }
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    as_pool_conn_t *conn = sock->data;
    conn->want_write = 0;
    if (err != NULL) {
        conn_fail(conn, err);
        return;
    }
    conn_flush(conn);
}

/** Sends a job on a ready (or preparing) connection. Returns 0, or -1 after failing the connection. */
static int conn_send(as_pool_conn_t *conn, as_pool_job_t *job)
{
    as_pool_t *pool = conn->pool;
    int ok = 1;

    if (job->stmt == PREPARE_JOB) {
        for (size_t i = 0; ok && i != pool->num_stmts; ++i)
            ok = PQsendPrepare(conn->pg, pool->stmts[i].name, pool->stmts[i].sql, pool->stmts[i].nparams, NULL);
    } else {
        ok = PQsendQueryPrepared(conn->pg, pool->stmts[job->stmt].name, job->nparams, (const char *const *)job->values,
                                 job->lengths, job->formats, 0);
    }
    ok = ok && PQpipelineSync(conn->pg);
    job->conn = conn;
    h2o_linklist_insert(&conn->inflight, &job->link);
    if (++conn->num_inflight == 1)
        COUNT(pool, db_busy_up, 1);
    if (!ok) {
        conn_fail(conn, "send failed");
        return -1;
    }
    conn_flush(conn);
    return 0;
}

static void on_prepared(void *ctx, int err, const PGresult *res)
{
    as_pool_conn_t *conn = ctx;
    if (h2o_timeout_is_linked(&conn->connect_deadline))
        h2o_timeout_unlink(&conn->connect_deadline);
    if (err != 0) {
        as_error("preparing statements failed: %s", res != NULL ? PQresultErrorMessage(res) : "connection lost");
        conn_fail(conn, "prepare failed");
        return;
    }
    conn->state = CONN_READY;
    COUNT(conn->pool, db_conns_up, 1);
    if (conn->was_ready)
        COUNT(conn->pool, db_reconnects, 1);
    conn->was_ready = 1;
    if (conn->pool->outage_logged) {
        as_info("database connection re-established");
        conn->pool->outage_logged = 0;
    }
    dispatch(conn->pool);
}

static void conn_begin_prepare(as_pool_conn_t *conn)
{
    if (PQsetnonblocking(conn->pg, 1) != 0 || !PQenterPipelineMode(conn->pg)) {
        conn_fail(conn, "cannot enter pipeline mode");
        return;
    }
    conn->state = CONN_PREPARING;
    h2o_socket_read_start(conn->sock, on_readable);
    as_pool_job_t *job = job_new(conn->pool, PREPARE_JOB, 0, NULL, NULL, NULL, on_prepared, conn);
    conn_send(conn, job);
}

static void on_connect_io(h2o_socket_t *sock, const char *err);

static void conn_poll_connect(as_pool_conn_t *conn, PostgresPollingStatusType st)
{
    if (st == PGRES_POLLING_FAILED || conn_wrap_socket(conn) != 0) {
        conn_fail(conn, "connect failed");
        return;
    }
    switch (st) {
    case PGRES_POLLING_READING:
        h2o_socket_read_start(conn->sock, on_connect_io);
        break;
    case PGRES_POLLING_WRITING:
        h2o_socket_read_stop(conn->sock);
        h2o_socket_notify_write(conn->sock, on_connect_io);
        break;
    case PGRES_POLLING_OK:
        h2o_socket_read_stop(conn->sock);
        conn_begin_prepare(conn);
        break;
    default:
        conn_fail(conn, "unexpected connect state");
        break;
    }
}

static void on_connect_io(h2o_socket_t *sock, const char *err)
{
    as_pool_conn_t *conn = sock->data;
    if (err != NULL) {
        conn_fail(conn, err);
        return;
    }
    conn_poll_connect(conn, PQconnectPoll(conn->pg));
}

static void on_connect_deadline(h2o_timeout_entry_t *entry)
{
    as_pool_conn_t *conn = H2O_STRUCT_FROM_MEMBER(as_pool_conn_t, connect_deadline, entry);
    conn_fail(conn, "connect timed out");
}

static void conn_start(as_pool_conn_t *conn)
{
    as_pool_t *pool = conn->pool;

    conn->pg = PQconnectStart(pool->config.conninfo);
    if (conn->pg == NULL)
        abort(); /* out of memory */
    if (PQstatus(conn->pg) == CONNECTION_BAD) {
        conn_fail(conn, "cannot start connecting");
        return;
    }
    conn->state = CONN_CONNECTING;
    h2o_timeout_link(pool->loop, &pool->query_timeout, &conn->connect_deadline);
    /* as if PQconnectPoll had answered PGRES_POLLING_WRITING */
    conn_poll_connect(conn, PGRES_POLLING_WRITING);
}

/* --- results ---------------------------------------------------------------- */

static void on_readable(h2o_socket_t *sock, const char *err)
{
    as_pool_conn_t *conn = sock->data;
    uint64_t gen = conn->generation;
    int nulls = 0;

    if (err != NULL) {
        conn_fail(conn, err);
        return;
    }
    if (!PQconsumeInput(conn->pg)) {
        conn_fail(conn, "read failed");
        return;
    }
    while (conn->generation == gen && !h2o_linklist_is_empty(&conn->inflight) && !PQisBusy(conn->pg)) {
        as_pool_job_t *job = H2O_STRUCT_FROM_MEMBER(as_pool_job_t, link, conn->inflight.next);
        PGresult *res = PQgetResult(conn->pg);
        if (res == NULL) {
            /* end of one statement's results; two in a row means nothing more is buffered */
            if (++nulls == 2)
                break;
            continue;
        }
        nulls = 0;
        switch (PQresultStatus(res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(res);
            h2o_linklist_unlink(&job->link);
            if (--conn->num_inflight == 0)
                COUNT(conn->pool, db_busy_down, 1);
            job->conn = NULL;
            job_complete(job, 0);
            break;
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
            if (job->res == NULL) {
                job->res = res;
            } else {
                PQclear(res);
            }
            break;
        default: /* an error result wins over an earlier success */
            if (job->res == NULL || PQresultStatus(job->res) == PGRES_TUPLES_OK ||
                PQresultStatus(job->res) == PGRES_COMMAND_OK) {
                if (job->res != NULL)
                    PQclear(job->res);
                job->res = res;
            } else {
                PQclear(res);
            }
            break;
        }
    }
    if (conn->generation == gen && conn->state == CONN_READY)
        dispatch(conn->pool);
}

/* --- dispatch --------------------------------------------------------------- */

static as_pool_conn_t *pick_conn(as_pool_t *pool)
{
    as_pool_conn_t *best = NULL;
    for (size_t i = 0; i != pool->config.num_connections; ++i) {
        as_pool_conn_t *c = pool->conns + i;
        if (c->state == CONN_READY && c->num_inflight < pool->config.max_inflight &&
            (best == NULL || c->num_inflight < best->num_inflight))
            best = c;
    }
    return best;
}

static void dispatch(as_pool_t *pool)
{
    as_pool_conn_t *conn;
    while (!h2o_linklist_is_empty(&pool->waiting) && (conn = pick_conn(pool)) != NULL) {
        as_pool_job_t *job = H2O_STRUCT_FROM_MEMBER(as_pool_job_t, link, pool->waiting.next);
        h2o_linklist_unlink(&job->link);
        --pool->num_waiting;
        COUNT(pool, db_waiting_out, 1);
        conn_send(conn, job);
    }
}

/* --- public ----------------------------------------------------------------- */

as_pool_t *as_pool_create(h2o_loop_t *loop, const as_pool_config_t *config, const as_stmt_t *stmts, size_t num_stmts)
{
    as_pool_t *pool = as_calloc(1, sizeof(*pool));
    pool->loop = loop;
    pool->config = *config;
    if (pool->config.num_connections == 0)
        pool->config.num_connections = 1;
    if (pool->config.max_inflight == 0)
        pool->config.max_inflight = 1;
    pool->stmts = stmts;
    pool->num_stmts = num_stmts;
    pool->metrics = as_metrics_self;
    h2o_linklist_init_anchor(&pool->waiting);
    h2o_timeout_init(loop, &pool->query_timeout, config->query_timeout);
    h2o_timeout_init(loop, &pool->retry_timeout, config->retry_interval);
    pool->conns = as_calloc(pool->config.num_connections, sizeof(*pool->conns));
    for (size_t i = 0; i != pool->config.num_connections; ++i) {
        as_pool_conn_t *conn = pool->conns + i;
        conn->pool = pool;
        conn->pgfd = -1;
        h2o_linklist_init_anchor(&conn->inflight);
        conn->retry.cb = on_retry;
        conn->connect_deadline.cb = on_connect_deadline;
    }
    for (size_t i = 0; i != pool->config.num_connections; ++i)
        conn_start(pool->conns + i);
    return pool;
}

void as_pool_dispose(as_pool_t *pool)
{
    pool->disposing = 1;
    for (size_t i = 0; i != pool->config.num_connections; ++i) {
        as_pool_conn_t *conn = pool->conns + i;
        if (h2o_timeout_is_linked(&conn->retry))
            h2o_timeout_unlink(&conn->retry);
        if (conn->state != CONN_DOWN)
            conn_fail(conn, "shutting down");
    }
    fail_waiting(pool, AS_ERR_DB_UNAVAILABLE);
    h2o_timeout_dispose(pool->loop, &pool->query_timeout);
    h2o_timeout_dispose(pool->loop, &pool->retry_timeout);
    free(pool->conns);
    free(pool);
}

void as_pool_query(as_pool_t *pool, size_t stmt, int nparams, const char *const *values, const int *lengths, const int *formats,
                   as_pool_cb cb, void *ctx, as_pool_job_t **handle)
{
    as_pool_job_t *job = job_new(pool, stmt, nparams, values, lengths, formats, cb, ctx);

    if (handle != NULL) {
        *handle = job;
        job->handle = handle;
    }
    if (pool->metrics != NULL)
        job->submitted_us = as_metrics_now_us();
    if (!pool_has_hope(pool) || pool->num_waiting >= pool->config.max_waiting) {
        COUNT(pool, db_rejected, 1);
        job_complete(job, AS_ERR_DB_UNAVAILABLE);
        return;
    }
    job->deadline.cb = on_deadline;
    h2o_timeout_link(pool->loop, &pool->query_timeout, &job->deadline);
    h2o_linklist_insert(&pool->waiting, &job->link);
    ++pool->num_waiting;
    COUNT(pool, db_waiting_in, 1);
    dispatch(pool);
}

void as_pool_cancel(as_pool_job_t *job)
{
    if (job == NULL)
        return;
    job_take_cb(job);
    if (job->conn == NULL) {
        h2o_linklist_unlink(&job->link);
        --job->pool->num_waiting;
        COUNT(job->pool, db_waiting_out, 1);
        job_free(job);
    }
    /* else: keep it in the FIFO so that results stay aligned; it is freed when its sync arrives */
}

int as_pool_is_ready(as_pool_t *pool)
{
    for (size_t i = 0; i != pool->config.num_connections; ++i)
        if (pool->conns[i].state == CONN_READY)
            return 1;
    return 0;
}
