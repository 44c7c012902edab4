/*
 * store/admin — the blocking statements of the administration commands
 * (`authsvc migrate`, `user …`, `client …`): one function per operation, and
 * the migration runner.
 *
 * BLOCKING: every function here waits for the database. Only the CLI calls
 * them; never call them on an event thread (serve talks to the database through
 * store.h and its per-loop pools). A connection belongs to one thread at a time.
 *
 * Every function returns 0 or a negative as_err_t and hands results out through
 * parameters. After AS_ERR_DB_QUERY, AS_ERR_DB_UNAVAILABLE or AS_ERR_IO,
 * as_admin_error() says what failed and why, for a human. Nothing here prints.
 */
#ifndef AS_STORE_ADMIN_H
#define AS_STORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"

/** A blocking database connection (a libpq connection underneath; opaque). */
typedef struct st_as_admin_t as_admin_t;

/** Room for a uuid in text form and its NUL. */
#define AS_ADMIN_UUID_SIZE 37

/**
 * Connects with `conninfo` ("" or NULL: libpq's PG* environment). Returns 0 and
 * sets *conn (owner: the caller, as_admin_close), or AS_ERR_DB_UNAVAILABLE and
 * writes "cannot connect to the database: REASON" to `msg` (NUL-terminated,
 * truncated to `msglen`; `msg` may be NULL).
 */
int as_admin_connect(const char *conninfo, as_admin_t **conn, char *msg, size_t msglen);

/** Closes the connection (NULL is fine); the session ends, and any lock it held with it. */
void as_admin_close(as_admin_t *conn);

/**
 * What the last failed call on `conn` was doing and why, e.g. "adding the
 * user: ERROR:  …" (the server's message may span lines and end with a
 * newline). Owned by `conn`; valid until its next call. "" if nothing failed.
 */
const char *as_admin_error(const as_admin_t *conn);

/**
 * Creates a user with a password hash (an argon2id PHC string). Copies the new
 * user's id to `id`. AS_ERR_CONFLICT if the username is taken.
 */
int as_admin_user_add(as_admin_t *conn, const char *username, const char *password_hash, char id[AS_ADMIN_UUID_SIZE]);

/**
 * Sets a user's password hash and, in the same transaction, revokes everything
 * the user holds (authsvc_revoke_user: token_version + 1, every refresh family
 * revoked, a revocation-feed entry, an audit event). Sets *token_version to the
 * new version. AS_ERR_NOT_FOUND if there is no such user.
 */
int as_admin_user_passwd(as_admin_t *conn, const char *username, const char *password_hash, int64_t *token_version);

/** Revokes everything the user holds, as as_admin_user_passwd does, keeping the password. AS_ERR_NOT_FOUND: no such user. */
int as_admin_user_revoke(as_admin_t *conn, const char *username, int64_t *token_version);

/** Revokes everything the user holds and, in the same transaction, refuses their logins. AS_ERR_NOT_FOUND: no such user. */
int as_admin_user_disable(as_admin_t *conn, const char *username, int64_t *token_version);

/** Allows a disabled user's logins again (token_version stays), with an audit event. AS_ERR_NOT_FOUND: no such user. */
int as_admin_user_enable(as_admin_t *conn, const char *username);

/**
 * Removes a user: in one transaction, everything the user holds is revoked as by
 * as_admin_user_revoke (a new token_version in the revocation feed, so offline
 * verifiers refuse the user's access tokens; every refresh family and session
 * ended), then the row is deleted with, by cascade, its refresh tokens, codes,
 * sessions and consents; the one audit event, "user_remove", tells the id, the
 * username and what was revoked. The username is free again; a new user of that name gets another id,
 * so the old tokens (whose subject is the id) never become theirs. Copies the id
 * to `id`. AS_ERR_NOT_FOUND: no such user.
 */
int as_admin_user_remove(as_admin_t *conn, const char *username, char id[AS_ADMIN_UUID_SIZE]);

/** A user as `user list` prints it: never the password hash. */
typedef struct st_as_admin_user_info_t {
    char *username; /* each string malloc'd, freed by as_admin_user_infos_free */
    char id[AS_ADMIN_UUID_SIZE];
    int disabled;
    char *created_at; /* ISO 8601, UTC */
} as_admin_user_info_t;

/** Reads every user, ordered by username. Sets *infos (owner: the caller, as_admin_user_infos_free) and *num. */
int as_admin_user_list(as_admin_t *conn, as_admin_user_info_t **infos, size_t *num);

/** Frees what as_admin_user_list returned (NULL is fine). */
void as_admin_user_infos_free(as_admin_user_info_t *infos, size_t num);

/** A client to register; every pointer is borrowed for the call. */
typedef struct st_as_admin_client_t {
    const char *client_id;
    const uint8_t *secret_hash; /* AS_SHA256_LEN bytes, SHA-256 of the secret; NULL: a public client */
    as_strlist_t grant_types;   /* RFC 6749 names: client_credentials, password, refresh_token, authorization_code */
    as_strlist_t audiences;
    as_strlist_t scopes;
    int access_ttl; /* seconds; 0: the server's default */
    int refresh_idle_ttl;
    int refresh_max_ttl;
    as_strlist_t redirect_uris;             /* authorization_code: where codes may be sent (checked by the caller) */
    as_strlist_t post_logout_redirect_uris; /* where a logout may send the browser back */
    const char *display_name;               /* shown on the login page; NULL: none (the client id is shown) */
    int consent;                            /* a third party: the user approves its scopes */
    int keep_refresh_on_logout;             /* 1: logging out leaves the refresh families born in the session alone */
    as_strlist_t rights;                    /* "introspection", "revocation-feed" (the schema refuses others) */
} as_admin_client_t;

/**
 * Registers a client. AS_ERR_CONFLICT if the client id is taken; AS_ERR_DB_QUERY
 * if the schema refuses it (e.g. a public client with client_credentials); the
 * message then names the rule broken, never the row (which holds the secret's
 * hash).
 */
int as_admin_client_add(as_admin_t *conn, const as_admin_client_t *client);

/** A registered client as `client list` and `client show` print it: everything but the secret and its hash. */
typedef struct st_as_admin_client_info_t {
    char *client_id;
    int is_public;
    as_strlist_t grant_types; /* every string and array malloc'd, freed by as_admin_client_infos_free */
    as_strlist_t audiences;
    as_strlist_t scopes;
    as_strlist_t redirect_uris;
    as_strlist_t post_logout_redirect_uris;
    char *display_name; /* NULL: none */
    int access_ttl;     /* seconds; 0: the server's default */
    int refresh_idle_ttl;
    int refresh_max_ttl;
    int consent;
    int logout_revokes_refresh;
    as_strlist_t rights;
    char *created_at; /* ISO 8601, UTC */
} as_admin_client_info_t;

/**
 * Reads the client `client_id`, or every client ordered by id (`client_id`
 * NULL). Sets *infos (owner: the caller, as_admin_client_infos_free) and *num.
 * AS_ERR_NOT_FOUND if `client_id` names no client.
 */
int as_admin_client_list(as_admin_t *conn, const char *client_id, as_admin_client_info_t **infos, size_t *num);

/** Frees what as_admin_client_list returned (NULL is fine). */
void as_admin_client_infos_free(as_admin_client_info_t *infos, size_t num);

/**
 * Removes a client in one statement (one transaction): its row, and by cascade
 * every refresh family and token, authorization code and consent it has, so
 * none of its refresh tokens or codes works any more; a "client_remove" audit
 * event records how many families were still live and codes unused (*families,
 * *codes). Access tokens already issued stay valid until they expire (they are
 * verified offline). AS_ERR_NOT_FOUND: no such client.
 */
int as_admin_client_remove(as_admin_t *conn, const char *client_id, int64_t *families, int64_t *codes);

/**
 * Replaces a confidential client's secret hash (AS_SHA256_LEN bytes) with an
 * audit event "client_rotate_secret", in one statement: the old secret no longer
 * matches the database at once (servers see it within their client cache's TTL).
 * AS_ERR_NOT_FOUND: no such client; AS_ERR_UNSUPPORTED: a public client (it has
 * no secret).
 */
int as_admin_client_rotate_secret(as_admin_t *conn, const char *client_id, const uint8_t *secret_hash);

/** Called after each migration file has committed, with its file name. */
typedef void (*as_admin_migrate_cb)(void *ctx, const char *name);

/**
 * Applies the pending migrations of `dir` (files NNNN_name.sql, in version
 * order). Holds a session advisory lock throughout, so concurrent migrators
 * (other instances starting) take turns; creates schema_migrations if needed;
 * runs each file not recorded there in its own transaction, together with its
 * schema_migrations row, so a file is applied completely and once. Running it
 * again changes nothing. `on_applied` (may be NULL) reports progress.
 *
 * Returns 0, AS_ERR_IO (the directory or a file cannot be read),
 * AS_ERR_DB_QUERY or AS_ERR_DB_UNAVAILABLE. When a migration file itself fails,
 * its transaction is rolled back, the run stops, and its name is copied to
 * `failed` (else failed[0] is '\0'; `failed` may be NULL if `failedlen` is 0);
 * the files before it stay applied.
 */
int as_admin_migrate(as_admin_t *conn, const char *dir, as_admin_migrate_cb on_applied, void *ctx, char *failed, size_t failedlen);

/**
 * Counts the migration files of `dir` not recorded in schema_migrations (all of
 * them when the table does not exist yet), changing nothing; the first such
 * file's name goes to `first` (else first[0] is '\0'). For `authsvc serve --check`.
 * Returns 0, AS_ERR_IO, AS_ERR_DB_QUERY or AS_ERR_DB_UNAVAILABLE.
 */
int as_admin_migrations_pending(as_admin_t *conn, const char *dir, size_t *pending, char *first, size_t firstlen);

#endif
