/*
 * store — one function per query, on top of the per-loop pool.
 *
 * Every function here runs on the pool's loop thread. Results are copied into
 * the h2o memory pool the caller hands in (normally the request's pool), so
 * they live as long as the request; the caller cancels the job through the
 * handle when the request goes away first. A callback receives err == 0 and
 * its result, or a negative as_err_t and NULL.
 */
#ifndef AS_STORE_H
#define AS_STORE_H

#include <stdint.h>
#include <h2o.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/store/pool.h"
#include "authsvc/token/grants.h"

/** The statements every connection prepares; pass to as_pool_create. */
extern const as_stmt_t as_store_statements[];
extern const size_t as_store_num_statements;

typedef struct st_as_client_t {
    const char *client_id;
    int is_public;
    uint8_t secret_hash[AS_SHA256_LEN]; /* SHA-256 of the secret; meaningless when is_public */
    unsigned grants;
    as_strlist_t audiences;
    as_strlist_t scopes;
    int access_ttl; /* seconds; 0: the server's default */
    int refresh_idle_ttl;
    int refresh_max_ttl;
} as_client_t;

typedef struct st_as_user_t {
    const char *id; /* uuid text: the subject of the user's tokens */
    const char *password_hash;
    int64_t token_version;
    int disabled;
} as_user_t;

/** How a rotation succeeded. */
enum {
    AS_REFRESH_ROTATED = 0, /* the presented token was consumed and its successor stored */
    AS_REFRESH_GRACE = 1,   /* a retry within the grace window: the stored successor stands, answer with it again */
};

/** The result of creating or rotating a refresh token. */
typedef struct st_as_refresh_t {
    const char *user_id;
    const char *scope; /* the family's scope */
    int64_t token_version;
    int outcome;
} as_refresh_t;

typedef void (*as_store_client_cb)(void *ctx, int err, const as_client_t *client);
typedef void (*as_store_user_cb)(void *ctx, int err, const as_user_t *user);
typedef void (*as_store_refresh_cb)(void *ctx, int err, const as_refresh_t *refresh);
typedef void (*as_store_done_cb)(void *ctx, int err);

/** Loads a client; AS_ERR_NOT_FOUND if there is none. */
void as_store_client_get(as_pool_t *pool, h2o_mem_pool_t *mem, const char *client_id, as_store_client_cb cb, void *ctx,
                         as_pool_job_t **handle);

/** Loads a user by name; AS_ERR_NOT_FOUND if there is none. */
void as_store_user_by_name(as_pool_t *pool, h2o_mem_pool_t *mem, const char *username, as_store_user_cb cb, void *ctx,
                           as_pool_job_t **handle);

/**
 * Starts a refresh-token family for a login and stores its first token (by
 * hash), in one statement. The family records `token_version`; if the user's
 * version moved on meanwhile (a password change raced the login) or the user was
 * disabled, nothing is stored and the callback gets AS_ERR_CONFLICT.
 * `idle_ttl` and `max_ttl` are seconds.
 */
void as_store_family_create(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *client_id,
                            int64_t token_version, const char *scope, const uint8_t token_hash[AS_SHA256_LEN], int idle_ttl,
                            int max_ttl, as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * Consumes the refresh token whose hash is `old_hash` for `client_id` and
 * stores its successor `new_hash` (the hash of the successor derived from the
 * presented token), in one atomic statement: of racing calls exactly one
 * consumes it. A call that consumes nothing then learns why, and succeeds with
 * outcome AS_REFRESH_GRACE if the token was rotated less than `grace` seconds
 * ago and its successor is still unused (the caller answers with that same
 * successor). Otherwise it fails with:
 *  - AS_ERR_CONFLICT: reuse of a consumed token — the whole family is revoked
 *    (and an audit event recorded) before the callback runs;
 *  - AS_ERR_BAD_INPUT: the token is fine but `scope` exceeds the family's (the
 *    token was not consumed);
 *  - AS_ERR_NOT_FOUND: unknown, expired, of another client, of a revoked
 *    family, of a stale token_version or disabled user.
 */
void as_store_refresh_rotate(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t old_hash[AS_SHA256_LEN], const char *client_id,
                             const uint8_t new_hash[AS_SHA256_LEN], int idle_ttl, int grace, const char *scope,
                             as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle);

typedef void (*as_store_flag_cb)(void *ctx, int err, int flag);
typedef void (*as_store_version_cb)(void *ctx, int err, int64_t token_version);

typedef struct st_as_refresh_info_t {
    const char *user_id;
    const char *scope;
    int64_t exp; /* when it stops working if unused: the earlier of its idle and its family's absolute expiry */
    int64_t iat;
    int64_t token_version;
} as_refresh_info_t;
typedef void (*as_store_refresh_info_cb)(void *ctx, int err, const as_refresh_info_t *info);

typedef struct st_as_feed_t {
    const char *cursor;        /* the next `since`: a transaction-id horizon, as decimal text */
    int reset;                 /* the answer is a full snapshot: replace what you hold */
    const char *subjects_json; /* [{"sub": ..., "min_ver": N}, ...] */
    const char *jtis_json;     /* [{"jti": ..., "exp": N}, ...] (only unexpired ones) */
} as_feed_t;
typedef void (*as_store_feed_cb)(void *ctx, int err, const as_feed_t *feed);

/** Loads a user by id (uuid text); AS_ERR_NOT_FOUND if there is none. */
void as_store_user_by_id(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, as_store_user_cb cb, void *ctx,
                         as_pool_job_t **handle);

/** Revokes the family of a refresh token of `client_id` (nothing if it is another client's or unknown). */
void as_store_revoke_refresh(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], const char *client_id,
                             as_store_done_cb cb, void *ctx, as_pool_job_t **handle);

/** Lists an access token's jti as revoked until `exp` (UNIX seconds), and announces it on the feed. */
void as_store_revoke_access(as_pool_t *pool, h2o_mem_pool_t *mem, const char *jti, int64_t exp, const char *client_id,
                            as_store_done_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * flag = 1 if a signature-verified access token is still good: its jti not
 * revoked and, for a user token (`user_id` not NULL), its ver current and the
 * user enabled.
 */
void as_store_access_status(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *jti, int64_t token_version,
                            as_store_flag_cb cb, void *ctx, as_pool_job_t **handle);

/** A live refresh token of `client_id`; AS_ERR_NOT_FOUND when it is not (or not the client's). */
void as_store_refresh_info(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], const char *client_id,
                           as_store_refresh_info_cb cb, void *ctx, as_pool_job_t **handle);

/** The revocation feed after cursor `since` (NULL: a full snapshot). */
void as_store_feed(as_pool_t *pool, h2o_mem_pool_t *mem, const char *since, as_store_feed_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * Sets a new password hash and revokes everything the user holds, in one
 * transaction — only if the user's token_version is still `token_version`
 * (else AS_ERR_CONFLICT). The callback gets the new version.
 */
void as_store_password_change(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *new_hash,
                              int64_t token_version, as_store_version_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * One bounded round of housekeeping (see STMT_CLEANUP); feed entries go once
 * older than the longest access-token lifetime: `access_ttl` or any client's.
 */
void as_store_cleanup(as_pool_t *pool, h2o_mem_pool_t *mem, int access_ttl, as_store_done_cb cb, void *ctx,
                      as_pool_job_t **handle);

/** A trivial round trip, for health checks. */
void as_store_ping(as_pool_t *pool, h2o_mem_pool_t *mem, as_store_done_cb cb, void *ctx, as_pool_job_t **handle);

#endif
