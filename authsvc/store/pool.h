/*
 * store/pool — asynchronous libpq connections living on one h2o event loop.
 *
 * Each event thread owns one pool; a pool and everything it hands out may be
 * used only on its loop's thread. Connections run in pipeline mode: every job
 * is one prepared statement followed by a sync, so an SQL error fails only its
 * own job. Every job has a deadline; a broken or hung connection fails its
 * in-flight jobs (their outcome is unknown) and reconnects on a timer.
 */
#ifndef AS_STORE_POOL_H
#define AS_STORE_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <h2o.h>

/** A statement prepared on every connection of a pool at connect time. */
typedef struct st_as_stmt_t {
    const char *name;
    const char *sql;
    int nparams;
} as_stmt_t;

typedef struct st_as_pool_t as_pool_t;
typedef struct st_as_pool_job_t as_pool_job_t;

/**
 * Called once per job on the loop thread, unless the job was cancelled first.
 * `err` is 0 (then `res` is PGRES_TUPLES_OK or PGRES_COMMAND_OK), AS_ERR_DB_QUERY
 * (`res` holds the server's error), AS_ERR_DB_UNAVAILABLE or AS_ERR_DB_TIMEOUT
 * (`res` is NULL). `res` belongs to the pool and is cleared after the callback.
 */
typedef void (*as_pool_cb)(void *ctx, int err, const PGresult *res);

typedef struct st_as_pool_config_t {
    const char *conninfo;    /* libpq connection string, combined with the PG* environment */
    size_t num_connections;  /* per pool (per event thread) */
    uint64_t query_timeout;  /* milliseconds: the deadline of every job, waiting included */
    uint64_t retry_interval; /* milliseconds between reconnection attempts */
    size_t max_inflight;     /* pipelined jobs per connection */
    size_t max_waiting;      /* jobs queued for a connection before new ones fail fast */
} as_pool_config_t;

/**
 * Creates a pool on `loop` and starts connecting. `stmts` (and the strings in
 * `config`) must outlive the pool. Owner: the caller (as_pool_dispose).
 */
as_pool_t *as_pool_create(h2o_loop_t *loop, const as_pool_config_t *config, const as_stmt_t *stmts, size_t num_stmts);

/** Closes every connection; pending jobs get AS_ERR_DB_UNAVAILABLE. */
void as_pool_dispose(as_pool_t *pool);

/**
 * Queues statement `stmt` (an index into the pool's statement table). Parameter
 * values are copied; a NULL value is SQL NULL; `lengths`/`formats` may be NULL
 * for all-text parameters (a format of 1 is binary, with its length). Results
 * come back in text format. The callback may run before this returns (when the
 * database is known to be unreachable). If `handle` is not NULL it is set to
 * the job, for as_pool_cancel, and reset to NULL by the pool before the
 * callback runs (or at once, if the callback already ran).
 */
void as_pool_query(as_pool_t *pool, size_t stmt, int nparams, const char *const *values, const int *lengths, const int *formats,
                   as_pool_cb cb, void *ctx, as_pool_job_t **handle);

/** Cancels a job (NULL is fine): its callback will not run. The statement may still execute. */
void as_pool_cancel(as_pool_job_t *job);

/** 1 if at least one connection is ready for queries. */
int as_pool_is_ready(as_pool_t *pool);

#endif
