/*
 * work/pwcheck — argon2id verification on worker threads.
 *
 * The event loops never hash: they hand a job to this process-wide pool of
 * threads and get the answer back through h2o's multithread queue of their own
 * loop. A job outlives a cancelled request safely: the loop frees it when the
 * answer arrives.
 */
#ifndef AS_WORK_PWCHECK_H
#define AS_WORK_PWCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include "authsvc/metrics/metrics.h"

typedef struct st_as_pwcheck_t as_pwcheck_t;
typedef struct st_as_pwcheck_job_t as_pwcheck_job_t;

/**
 * Called on the loop thread with `err` 0, AS_ERR_BUSY (the pool was saturated,
 * or the job waited too long: nothing was done) or AS_ERR_INTERNAL (hashing
 * failed). For a verification `match` is 1 if the password matched; for a
 * hash `phc` holds the new hash (valid during the call).
 */
typedef void (*as_pwcheck_cb)(void *ctx, int err, int match, const char *phc);

/**
 * Starts `num_threads` workers (0: none, for tests: jobs wait until dispose).
 * `max_pending` bounds the jobs in progress; a source (client address) may
 * have at most a quarter of them queued and a username 4; a full queue turns
 * away the newest job of its heaviest source to admit a lighter one. A job
 * that waited more than `max_wait` milliseconds is answered AS_ERR_BUSY
 * without being hashed, and so is a cancelled one. The workers run `nice`
 * steps below the calling thread's priority (0: the same; at most 19 in all):
 * when the CPU is short, the event threads go first.
 */
as_pwcheck_t *as_pwcheck_create(size_t num_threads, size_t max_pending, uint64_t max_wait, int nice);

/** 1 if a job from `source` for `user` would be refused now: answer 503 before doing any other work for it. */
int as_pwcheck_saturated(as_pwcheck_t *pw, const char *source, const char *user);

/** Stops the workers after the jobs in progress; queued jobs are not hashed. */
void as_pwcheck_dispose(as_pwcheck_t *pw);

/**
 * The receiver callback: register it on each loop's queue with
 * h2o_multithread_register_receiver(ctx->queue, receiver, as_pwcheck_on_messages).
 */
void as_pwcheck_on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/**
 * Verifies `password` against `phc` on a worker, for `user` (the username, or
 * NULL) asked from `source` (the client address, or NULL); the callback runs
 * on the loop of `receiver`. The strings are copied (the password wiped after
 * use). Returns the job, or NULL after calling cb(ctx, AS_ERR_BUSY, ...) when
 * it is turned away. The password is compared in its NFKC form (policy/), then, if
 * that differs, as given (hashes made before normalisation).
 */
as_pwcheck_job_t *as_pwcheck_verify(as_pwcheck_t *pw, h2o_multithread_receiver_t *receiver, const char *source, const char *user,
                                    const char *phc, const char *password, size_t password_len, as_pwcheck_cb cb, void *ctx);

/** Hashes the NFKC form of `password` with argon2id on a worker; as as_pwcheck_verify otherwise. */
as_pwcheck_job_t *as_pwcheck_hash(as_pwcheck_t *pw, h2o_multithread_receiver_t *receiver, const char *source, const char *user,
                                  const char *password, size_t password_len, as_pwcheck_cb cb, void *ctx);

/** The callback of `job` will not run (loop thread only). */
void as_pwcheck_cancel(as_pwcheck_job_t *job);

/** What GET /metrics shows of the workers; counted under the queue's mutex, which every job takes anyway. */
typedef struct st_as_pwcheck_stats_t {
    size_t queued;     /* jobs waiting for a worker */
    size_t pending;    /* jobs submitted and not yet answered (queued or being hashed) */
    uint64_t rejected; /* jobs answered "busy" unhashed: turned away, evicted, or expired in the queue */
    as_histogram_t wait; /* time from submission until a worker took the job */
} as_pwcheck_stats_t;

/** A copy of the counters (any thread; takes the mutex briefly). */
void as_pwcheck_stats(as_pwcheck_t *pw, as_pwcheck_stats_t *out);

#endif
