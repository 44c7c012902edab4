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
    as_strlist_t redirect_uris;             /* authorization_code: where codes may be sent, matched exactly */
    as_strlist_t post_logout_redirect_uris; /* where a logout may send the browser back, matched exactly */
    const char *display_name;               /* shown on the login page; NULL: the client id */
    int consent;                            /* a third party: the user approves its scopes once */
    int logout_revokes_refresh;             /* logging out of a session also ends the refresh families born in it */
    unsigned rights;                        /* AS_CLIENT_RIGHT_* (migrations/0005_client_rights.sql) */
} as_client_t;

/** What a client may call beyond its grants (`client add --allow`). */
enum {
    AS_CLIENT_RIGHT_INTROSPECTION = 1,   /* "introspection": POST /oauth2/introspect */
    AS_CLIENT_RIGHT_REVOCATION_FEED = 2, /* "revocation-feed": GET /oauth2/revocations */
};

typedef struct st_as_user_t {
    const char *id; /* uuid text: the subject of the user's tokens */
    const char *password_hash;
    int64_t token_version;
    int disabled;
    const char *username; /* userinfo's preferred_username */
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
 * Starts refresh-token family `family_id` (uuid text) for a login and stores
 * its first token (by hash), in one statement: in the family's row for
 * `format` 2, in a refresh_tokens row for format 1 (token/refresh.h). The
 * family records `token_version`; if the user's version moved on meanwhile (a
 * password change raced the login) or the user was disabled, nothing is
 * stored and the callback gets AS_ERR_CONFLICT. `idle_ttl` and `max_ttl` are
 * seconds.
 */
void as_store_family_create(as_pool_t *pool, h2o_mem_pool_t *mem, const char *family_id, int format, const char *user_id,
                            const char *client_id, int64_t token_version, const char *scope, const uint8_t token_hash[AS_SHA256_LEN],
                            int idle_ttl, int max_ttl, as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * A presented refresh token as the store finds it: `family` (the 16 bytes of
 * the family's uuid) and `gen` for format 2 (NULL and 0 for format 1), and
 * the SHA-256 of its secret.
 */
typedef struct st_as_refresh_ref_t {
    const uint8_t *family;
    int64_t gen;
    const uint8_t *hash;
} as_refresh_ref_t;

/**
 * Consumes the refresh token `old` for `client_id` and stores its successor
 * `new_hash` (the hash of the successor derived from the presented token; a
 * format-2 family moves to the next generation), in one atomic statement: of
 * racing calls exactly one
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
void as_store_refresh_rotate(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *old, const char *client_id,
                             const uint8_t new_hash[AS_SHA256_LEN], int idle_ttl, int grace, const char *scope,
                             as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * A rotator gathers the refresh rotations of one event thread into batches:
 * the rotations that arrive in one turn of the loop leave together at its
 * end, while fewer than `max_inflight` batches are in flight; otherwise they
 * wait and leave together at the end of the turn in which a batch completes
 * (at most `max_batch` in one statement, one durable commit for all). Each
 * rotation has exactly the outcome as_store_refresh_rotate would give it.
 * Owner: the thread's wiring (as_store_rotator_close before the pool is
 * disposed), on `loop`, the pool's loop.
 */
typedef struct st_as_store_rotator_t as_store_rotator_t;
typedef struct st_as_store_rotation_t as_store_rotation_t;

/** What a rotator has done, for benchmarks: batches sent, rotations in them, the largest batch. */
typedef struct st_as_store_rotator_stats_t {
    uint64_t batches;
    uint64_t rotations;
    size_t largest;
} as_store_rotator_stats_t;

as_store_rotator_t *as_store_rotator_create(h2o_loop_t *loop, as_pool_t *pool, size_t max_inflight, size_t max_batch);
/** Fails the waiting rotations (AS_ERR_DB_UNAVAILABLE); frees the rotator once its batches in flight complete. */
void as_store_rotator_close(as_store_rotator_t *rot);
as_store_rotator_stats_t as_store_rotator_stats(const as_store_rotator_t *rot);

/**
 * as_store_refresh_rotate through a rotator. Returns a handle to cancel the
 * rotation with while it waits or is in flight (after that, `handle` holds
 * the job of the statement that follows, if any, as with
 * as_store_refresh_rotate). A rotation cancelled in flight stands.
 */
as_store_rotation_t *as_store_rotate(as_store_rotator_t *rot, h2o_mem_pool_t *mem, const as_refresh_ref_t *old,
                                     const char *client_id, const uint8_t new_hash[AS_SHA256_LEN], int idle_ttl, int grace,
                                     const char *scope, as_store_refresh_cb cb, void *ctx, as_pool_job_t **handle);

/** Its callback will not run (NULL is fine; loop thread only). */
void as_store_rotation_cancel(as_store_rotation_t *rotation);

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

/**
 * Revokes the family of a refresh token of `client_id` (nothing if it is another client's or unknown). Any token
 * the family ever had will do: for format 2 the caller has verified the token's tag.
 */
void as_store_revoke_refresh(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *token, const char *client_id,
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
void as_store_refresh_info(as_pool_t *pool, h2o_mem_pool_t *mem, const as_refresh_ref_t *token, const char *client_id,
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

/* --- browser login: SSO sessions, authorization codes, consents --------------- */

/** A live SSO session. */
typedef struct st_as_session_t {
    const char *id;      /* uuid text: the id_token's sid (public) */
    const char *user_id; /* uuid text */
    const char *username;
    int64_t auth_time;   /* when the user last entered a password, UNIX seconds */
    int64_t token_version;
} as_session_t;
typedef void (*as_store_session_cb)(void *ctx, int err, const as_session_t *session);

/**
 * Starts a session for a user who just proved their password: stores the
 * SHA-256 of the cookie value, with an idle and an absolute lifetime
 * (seconds). `replaced` (NULL: none) is the SHA-256 of the session cookie the
 * browser came with: that session ends in the same statement (reason
 * "replaced", audited), so a signing-in browser never keeps a session id it
 * had before (session fixation); if it was the same user's, the refresh
 * families born in it move to the new session (a logout still ends them). AS_ERR_CONFLICT if the user's token_version
 * moved on or the user was disabled meanwhile (no session is stored; the
 * replaced one ends all the same).
 */
void as_store_session_create(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], const uint8_t *replaced,
                             const char *user_id, int64_t token_version, int idle_ttl, int max_ttl, as_store_session_cb cb, void *ctx,
                             as_pool_job_t **handle);

/**
 * The live session of a cookie (by its hash), its idle expiry moved on by
 * `idle_ttl` seconds (never past the absolute one). AS_ERR_NOT_FOUND when
 * unknown, ended, expired, or its user was revoked or disabled.
 */
void as_store_session_use(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], int idle_ttl,
                          as_store_session_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * Ends a session, found by its cookie's hash or by its id (either may be
 * NULL), and the refresh families born in it for clients that ask for it
 * (logout_revokes_refresh), with an audit event. flag: 1 if a live session
 * was ended.
 */
void as_store_session_end(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t *hash, const char *session_id, const char *reason,
                          void (*cb)(void *ctx, int err, int flag), void *ctx, as_pool_job_t **handle);

/** What an authorization code was issued for. */
typedef struct st_as_code_t {
    const uint8_t *hash;        /* SHA-256 of the code */
    const char *client_id;
    const char *session_id;
    const char *user_id;
    const char *redirect_uri;   /* exactly as the authorization request gave it */
    const char *code_challenge; /* S256: base64url(SHA-256(code_verifier)), 43 characters */
    const char *scope;
    const char *nonce;          /* NULL: none */
    int ttl;                    /* seconds */
} as_code_t;

/** Stores a new code (by hash). */
void as_store_code_create(as_pool_t *pool, h2o_mem_pool_t *mem, const as_code_t *code, as_store_done_cb cb, void *ctx,
                          as_pool_job_t **handle);

/** What redeeming a code grants. */
typedef struct st_as_code_grant_t {
    const char *user_id;
    const char *scope;
    const char *nonce; /* NULL: none */
    const char *session_id;
    int64_t auth_time;
    int64_t token_version;
} as_code_grant_t;
typedef void (*as_store_code_cb)(void *ctx, int err, const as_code_grant_t *grant);

/** The tokens a code exchange will issue, recorded with the code so that a replay can revoke them. */
typedef struct st_as_code_issue_t {
    const char *family_id;        /* uuid text of the refresh family to create, or NULL: no refresh token */
    const uint8_t *refresh_hash;  /* its first token's hash (with family_id) */
    int refresh_format;           /* its tokens' format: 1 or 2 (token/refresh.h) */
    int idle_ttl, max_ttl;        /* its lifetimes, seconds */
    const char *access_jti;       /* the access token about to be signed */
    int access_ttl;
} as_code_issue_t;

/**
 * Consumes the code whose hash is `hash`, if it is unused, unexpired, was
 * issued to `client_id` for `redirect_uri` with `challenge`, and its session
 * and user are still good — in one statement that also creates the refresh
 * family of `issue` (bound to the session) and records what is issued. If
 * nothing was consumed: AS_ERR_CONFLICT when the code had been used already
 * (a replay: what was issued from it is revoked, with an audit event, before
 * the callback runs), else AS_ERR_NOT_FOUND (unknown, expired, or bound to
 * something else; the code stays as it was).
 */
void as_store_code_redeem(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], const char *client_id,
                          const char *redirect_uri, const char *challenge, const as_code_issue_t *issue, as_store_code_cb cb,
                          void *ctx, as_pool_job_t **handle);

/** The scope a user approved for a client ("" and AS_ERR_NOT_FOUND: never). */
void as_store_consent_get(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *client_id,
                          void (*cb)(void *ctx, int err, const char *scope), void *ctx, as_pool_job_t **handle);

/** Records that a user approved `scope` for a client, adding to what they approved before (the union, each scope once). */
void as_store_consent_put(as_pool_t *pool, h2o_mem_pool_t *mem, const char *user_id, const char *client_id, const char *scope,
                          as_store_done_cb cb, void *ctx, as_pool_job_t **handle);

/**
 * Records that the CSRF token whose hash is `hash` was used, keeping the
 * record until `expires_at` (UNIX seconds, the token's own expiry).
 * AS_ERR_CONFLICT when it had been used before: a replayed form.
 */
void as_store_form_token_use(as_pool_t *pool, h2o_mem_pool_t *mem, const uint8_t hash[AS_SHA256_LEN], int64_t expires_at,
                             as_store_done_cb cb, void *ctx, as_pool_job_t **handle);

/* --- brute-force throttling of password logins --------------------------------------------- */

/** A password login's user and its throttle. */
typedef struct st_as_login_lookup_t {
    const as_user_t *user; /* NULL: no such user */
    int retry_after;       /* seconds the (username, address) or the address must still wait; 0: go on */
    int had_failures;      /* the (username, address) has failed before: a success clears it */
} as_login_lookup_t;
typedef void (*as_store_login_cb)(void *ctx, int err, const as_login_lookup_t *lookup);

/**
 * Looks the user up together with the throttle of (username, address) and of
 * the address, in one statement (so a login pays no extra round trip).
 */
void as_store_login_lookup(as_pool_t *pool, h2o_mem_pool_t *mem, const char *username, const char *address, as_store_login_cb cb,
                           void *ctx, as_pool_job_t **handle);

/**
 * Records a failed password check of `username` from `address` (both
 * throttle counts, exponential back-off, an audit event). Fire and forget:
 * the statement runs whether or not the request is still there.
 */
void as_store_login_failed(as_pool_t *pool, const char *username, const char *address, const char *client_id);

/** Clears the (username, address) failures after a good password (call only if the lookup saw some). */
void as_store_login_succeeded(as_pool_t *pool, const char *username, const char *address);

#endif
