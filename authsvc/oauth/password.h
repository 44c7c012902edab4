/*
 * oauth/password — the one password check behind every way a user proves a
 * password: the password grant and the hosted login page (login/).
 *
 * It looks the user up, verifies the password on an argon2 worker (an unknown
 * user against the dummy hash, so that it costs the same) and reports one of
 * a few outcomes. Whatever guards password checks (throttling per username
 * and address, fair queuing) belongs inside as_password_check: that is why it
 * receives the client's address and the username, and why its callers only
 * switch on the outcome.
 *
 * Embed an as_password_check_t in the request's state (h2o_mem_alloc_shared)
 * and call as_password_check_cancel from its dispose callback. Loop thread only.
 */
#ifndef AS_OAUTH_PASSWORD_H
#define AS_OAUTH_PASSWORD_H

#include <stddef.h>
#include <h2o.h>
#include "authsvc/oauth/oauth.h"
#include "authsvc/store/store.h"

/** Longest username accepted, in bytes (longer: AS_PASSWORD_WRONG without a lookup). */
#define AS_USERNAME_MAX 255

/** What a password check found. */
typedef enum en_as_password_result_t {
    AS_PASSWORD_OK,          /* the user exists, is enabled, and the password matches: `user` is set */
    AS_PASSWORD_WRONG,       /* unknown user, disabled user or wrong password: one answer for all three */
    AS_PASSWORD_THROTTLED,   /* too many recent failures for this username and address: retry after `retry_after` s */
    AS_PASSWORD_BUSY,        /* the argon2 workers are saturated: nothing was verified, retry shortly */
    AS_PASSWORD_UNAVAILABLE, /* the database failed (`err` says how): nothing was verified */
} as_password_result_t;

typedef struct st_as_password_outcome_t {
    as_password_result_t result;
    const as_user_t *user; /* AS_PASSWORD_OK: the user, in the memory pool given to as_password_check */
    int retry_after;       /* seconds: AS_PASSWORD_THROTTLED and AS_PASSWORD_BUSY */
    int err;               /* AS_PASSWORD_UNAVAILABLE: the store's as_err_t (for as_http_oauth_failure) */
} as_password_outcome_t;

typedef struct st_as_password_check_t as_password_check_t;
/** Called once on the loop thread, unless the check was cancelled first; `outcome` lives during the call. */
typedef void (*as_password_cb)(as_password_check_t *check, const as_password_outcome_t *outcome);

/** A check in progress; the fields are the module's. */
struct st_as_password_check_t {
    as_oauth_ctx_t *ctx;
    h2o_mem_pool_t *mem;
    as_pool_job_t *job;
    as_pwcheck_job_t *pwjob;
    const as_user_t *user;
    const char *client_id, *username, *address;
    int retry_after, had_failures; /* the throttle, as the lookup found it */
    const char *password;
    size_t password_len;
    as_password_cb cb;
};

/**
 * Checks `password` for `username`, coming from `address` (the client's IP
 * address as text, see as_http_client_address), and calls `cb` with the
 * outcome — possibly before this returns (a saturated worker pool, a database
 * refusing at once). `username` must be NUL-terminated; the strings must live
 * until the callback (the request's pool). Results are allocated in `mem`.
 */
void as_password_check(as_password_check_t *check, as_oauth_ctx_t *ctx, h2o_mem_pool_t *mem, const char *client_id,
                       const char *username, size_t username_len, const char *password, size_t password_len, const char *address,
                       as_password_cb cb);

/** Cancels a check in progress: its callback will not run (idempotent; a zeroed check is fine). */
void as_password_check_cancel(as_password_check_t *check);

#endif
