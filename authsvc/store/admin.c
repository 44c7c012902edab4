/*
 * store/admin — the blocking statements of the administration commands and the
 * migration runner (interface and rules in admin.h). Plain libpq: PQexecParams
 * for one statement, PQexec where a migration file holds many. CLI only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>
#include "authsvc/as.h"
#include "authsvc/store/admin.h"

/* pg_advisory_lock key of the migration runner: one migrator at a time, across every instance */
#define MIGRATION_LOCK_KEY "7263539716371"

struct st_as_admin_t {
    PGconn *pg;
    char *error; /* malloc'd: why the last call failed, or NULL */
};

static void set_error(as_admin_t *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(as_admin_t *conn, const char *fmt, ...)
{
    va_list ap;
    free(conn->error);
    va_start(ap, fmt);
    if (vasprintf(&conn->error, fmt, ap) < 0)
        abort();
    va_end(ap);
}

/** The error of a failed statement: the connection broke, or the server refused it. */
static int failure(as_admin_t *conn)
{
    return PQstatus(conn->pg) == CONNECTION_BAD ? AS_ERR_DB_UNAVAILABLE : AS_ERR_DB_QUERY;
}

/**
 * Runs one statement. Returns its result (PQclear it) if its status is `expect`;
 * else records "WHAT: server message", sets *err and returns NULL.
 */
static PGresult *run(as_admin_t *conn, int *err, ExecStatusType expect, const char *what, const char *sql, int nparams,
                     const char *const *values, const int *lengths, const int *formats)
{
    PGresult *res = PQexecParams(conn->pg, sql, nparams, NULL, values, lengths, formats, 0);
    if (PQresultStatus(res) == expect)
        return res;
    set_error(conn, "%s: %s", what, res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
    *err = failure(conn);
    PQclear(res);
    return NULL;
}

/** Runs `sql` (one or more statements, no parameters); 0, or a negative as_err_t recorded as "WHAT: message". */
static int run_script(as_admin_t *conn, const char *what, const char *sql)
{
    PGresult *res = PQexec(conn->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int err = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        set_error(conn, "%s: %s", what, res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
        err = failure(conn);
    }
    PQclear(res);
    return err;
}

/** The default notice processor prints to stderr; this module never prints. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* --- connection ------------------------------------------------------------------- */

int as_admin_connect(const char *conninfo, as_admin_t **conn, char *msg, size_t msglen)
{
    PGconn *pg = PQconnectdb(conninfo != NULL ? conninfo : "");

    *conn = NULL;
    if (pg == NULL)
        abort(); /* out of memory */
    if (PQstatus(pg) != CONNECTION_OK) {
        if (msg != NULL && msglen != 0)
            snprintf(msg, msglen, "cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return AS_ERR_DB_UNAVAILABLE;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    *conn = as_calloc(1, sizeof(**conn));
    (*conn)->pg = pg;
    return 0;
}

void as_admin_close(as_admin_t *conn)
{
    if (conn == NULL)
        return;
    PQfinish(conn->pg);
    free(conn->error);
    free(conn);
}

const char *as_admin_error(const as_admin_t *conn)
{
    return conn->error != NULL ? conn->error : "";
}

/* --- users -------------------------------------------------------------------------- */

int as_admin_user_add(as_admin_t *conn, const char *username, const char *password_hash, char id[AS_ADMIN_UUID_SIZE])
{
    const char *params[] = {username, password_hash};
    int err = 0;
    PGresult *res =
        run(conn, &err, PGRES_TUPLES_OK, "adding the user",
            "INSERT INTO users (username, password_hash) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING RETURNING id", 2, params,
            NULL, NULL);
    if (res == NULL)
        return err;
    if (PQntuples(res) != 1)
        err = AS_ERR_CONFLICT;
    else
        snprintf(id, AS_ADMIN_UUID_SIZE, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return err;
}

/**
 * Runs one call of authsvc_revoke_user (migrations/0002_revocation.sql), which
 * does everything in the statement's own transaction; `sql` selects it for the
 * user named $1. No row, or a NULL version (the user vanished meanwhile): not found.
 */
static int revoke_user(as_admin_t *conn, const char *what, const char *sql, int nparams, const char *const *params,
                       int64_t *token_version)
{
    int err = 0;
    PGresult *res = run(conn, &err, PGRES_TUPLES_OK, what, sql, nparams, params, NULL, NULL);
    if (res == NULL)
        return err;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        err = AS_ERR_NOT_FOUND;
    else
        *token_version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return err;
}

int as_admin_user_passwd(as_admin_t *conn, const char *username, const char *password_hash, int64_t *token_version)
{
    const char *params[] = {username, password_hash};
    return revoke_user(conn, "changing the password",
                       "SELECT authsvc_revoke_user(id, 'password_change', $2, NULL, 'cli') FROM users WHERE username = $1", 2,
                       params, token_version);
}

int as_admin_user_revoke(as_admin_t *conn, const char *username, int64_t *token_version)
{
    const char *params[] = {username};
    return revoke_user(conn, "revoking the user's tokens",
                       "SELECT authsvc_revoke_user(id, 'user_revoke', NULL, NULL, 'cli') FROM users WHERE username = $1", 1, params,
                       token_version);
}

int as_admin_user_disable(as_admin_t *conn, const char *username, int64_t *token_version)
{
    const char *params[] = {username};
    return revoke_user(conn, "revoking the user's tokens",
                       "SELECT authsvc_revoke_user(id, 'user_disable', NULL, true, 'cli') FROM users WHERE username = $1", 1,
                       params, token_version);
}

int as_admin_user_enable(as_admin_t *conn, const char *username)
{
    const char *params[] = {username};
    int err = 0;
    PGresult *res =
        run(conn, &err, PGRES_TUPLES_OK, "enabling the user",
            "WITH u AS (UPDATE users SET disabled = false, updated_at = now() WHERE username = $1 RETURNING id),"
            " a AS (INSERT INTO audit_events (kind, user_id, detail) SELECT 'user_enable', id, '{\"by\":\"cli\"}' FROM u)"
            " SELECT id FROM u",
            1, params, NULL, NULL);
    if (res == NULL)
        return err;
    if (PQntuples(res) != 1)
        err = AS_ERR_NOT_FOUND;
    PQclear(res);
    return err;
}

int as_admin_user_remove(as_admin_t *conn, const char *username, char id[AS_ADMIN_UUID_SIZE])
{
    const char *params[] = {username, NULL};
    PGresult *res = NULL;
    int err;

    /* several statements, one transaction: authsvc_revoke_user updates the row the DELETE then removes, which one
     * statement could not do (a row is modified once per statement); its audit event (kind user_remove, with the
     * families and sessions ended) gets the username, which the deleted row no longer tells */
    if ((err = run_script(conn, "removing the user", "BEGIN")) != 0)
        return err;
    if ((res = run(conn, &err, PGRES_TUPLES_OK, "removing the user",
                   "SELECT id, authsvc_revoke_user(id, 'user_remove', NULL, true, 'cli') FROM users WHERE username = $1",
                   1, params, NULL, NULL)) == NULL)
        goto Exit;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
        err = AS_ERR_NOT_FOUND;
        goto Exit;
    }
    snprintf(id, AS_ADMIN_UUID_SIZE, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    params[1] = id;
    if ((res = run(conn, &err, PGRES_TUPLES_OK, "removing the user",
                   "WITH d AS (DELETE FROM users WHERE id = $2::uuid RETURNING id),"
                   " a AS (UPDATE audit_events SET detail = detail || jsonb_build_object('username', $1::text)"
                   "       WHERE id = (SELECT max(id) FROM audit_events WHERE kind = 'user_remove' AND user_id = $2::uuid))"
                   " SELECT id FROM d",
                   2, params, NULL, NULL)) == NULL)
        goto Exit;
    if (PQntuples(res) != 1) {
        err = AS_ERR_NOT_FOUND;
        goto Exit;
    }
    err = run_script(conn, "removing the user", "COMMIT");
Exit:
    PQclear(res);
    if (err != 0 && PQstatus(conn->pg) == CONNECTION_OK)
        PQclear(PQexec(conn->pg, "ROLLBACK"));
    return err;
}

int as_admin_user_list(as_admin_t *conn, as_admin_user_info_t **infos, size_t *num)
{
    int err = 0;
    PGresult *res = run(conn, &err, PGRES_TUPLES_OK, "reading the users",
                        "SELECT username, id, disabled,"
                        " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                        " FROM users ORDER BY username",
                        0, NULL, NULL, NULL);
    *infos = NULL;
    *num = 0;
    if (res == NULL)
        return err;
    *infos = as_calloc(PQntuples(res) + 1, sizeof(**infos));
    for (int row = 0; row != PQntuples(res); ++row, ++*num) {
        as_admin_user_info_t *u = *infos + row;
        snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(res, row, 1));
        u->username = as_strdup(PQgetvalue(res, row, 0));
        u->created_at = as_strdup(PQgetvalue(res, row, 3));
        u->disabled = PQgetvalue(res, row, 2)[0] == 't';
    }
    PQclear(res);
    return 0;
}

void as_admin_user_infos_free(as_admin_user_info_t *infos, size_t num)
{
    for (as_admin_user_info_t *u = infos; u != NULL && u != infos + num; ++u) {
        free(u->username);
        free(u->created_at);
    }
    free(infos);
}

/* --- clients ------------------------------------------------------------------------ */

/** `list` as a PostgreSQL array literal, every element quoted, so that any text round-trips. Owner: the caller (free). */
static char *array_literal(const as_strlist_t *list)
{
    size_t cap = 3;
    for (size_t i = 0; i != list->len; ++i)
        cap += 2 * strlen(list->items[i]) + 3;
    char *buf = as_malloc(cap), *p = buf;
    *p++ = '{';
    for (size_t i = 0; i != list->len; ++i) {
        if (i != 0)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = list->items[i]; *s != '\0'; ++s) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return buf;
}

/** A lifetime as a text parameter in `buf`, or NULL (SQL NULL: the server's default) for 0. */
static const char *ttl_param(int seconds, char buf[16])
{
    if (seconds == 0)
        return NULL;
    snprintf(buf, 16, "%d", seconds);
    return buf;
}

int as_admin_client_add(as_admin_t *conn, const as_admin_client_t *client)
{
    char *grants = array_literal(&client->grant_types), *auds = array_literal(&client->audiences),
         *scopes = array_literal(&client->scopes), *redirects = array_literal(&client->redirect_uris),
         *logouts = array_literal(&client->post_logout_redirect_uris), *rights = array_literal(&client->rights), access[16],
         idle[16], max[16];
    /* the secret's hash goes as binary bytea; a public client is one without */
    const char *params[] = {client->client_id,
                            (const char *)client->secret_hash,
                            client->secret_hash == NULL ? "true" : "false",
                            grants,
                            auds,
                            scopes,
                            ttl_param(client->access_ttl, access),
                            ttl_param(client->refresh_idle_ttl, idle),
                            ttl_param(client->refresh_max_ttl, max),
                            redirects,
                            logouts,
                            client->display_name,
                            client->consent ? "true" : "false",
                            client->keep_refresh_on_logout ? "false" : "true",
                            rights};
    const int lengths[] = {0, AS_SHA256_LEN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const int formats[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    int err = 0;
    PGresult *res = PQexecParams(conn->pg,
                                 "INSERT INTO clients (client_id, secret_hash, public, grant_types, audiences, scopes, access_ttl,"
                                 " refresh_idle_ttl, refresh_max_ttl, redirect_uris, post_logout_redirect_uris, display_name,"
                                 " consent, logout_revokes_refresh, rights)"
                                 " VALUES ($1, $2::bytea, $3::boolean, $4::text[], $5::text[], $6::text[], $7::integer,"
                                 " $8::integer, $9::integer, $10::text[], $11::text[], $12, $13::boolean, $14::boolean,"
                                 " $15::text[])"
                                 " ON CONFLICT (client_id) DO NOTHING RETURNING client_id",
                                 15, NULL, params, lengths, formats, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        if (PQntuples(res) != 1)
            err = AS_ERR_CONFLICT;
    } else {
        /* the primary message only ("... violates check constraint NAME"): the DETAIL of a CHECK violation prints the
         * failing row, the secret's hash included */
        const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL,
                   *severity = res != NULL ? PQresultErrorField(res, PG_DIAG_SEVERITY) : NULL;
        if (primary != NULL)
            set_error(conn, "adding the client: %s:  %s\n", severity != NULL ? severity : "ERROR", primary);
        else
            set_error(conn, "adding the client: %s", PQerrorMessage(conn->pg));
        err = failure(conn);
    }
    PQclear(res);
    free(grants);
    free(auds);
    free(scopes);
    free(redirects);
    free(logouts);
    free(rights);
    return err;
}

/** A JSON array of strings (array_to_json's text) as a list; every string and the array malloc'd. Not an array: empty. */
static as_strlist_t strlist_from_json(const char *text)
{
    as_strlist_t list = {NULL, 0};
    json_t *arr = json_loads(text, 0, NULL), *v;
    size_t i;
    if (json_is_array(arr) && json_array_size(arr) != 0) {
        list.items = as_calloc(json_array_size(arr), sizeof(*list.items));
        json_array_foreach(arr, i, v)
        {
            if (json_is_string(v))
                list.items[list.len++] = as_strdup(json_string_value(v));
        }
    }
    json_decref(arr);
    return list;
}

static void strlist_free(as_strlist_t *list)
{
    for (size_t i = 0; i != list->len; ++i)
        free((void *)list->items[i]);
    free(list->items);
}

int as_admin_client_list(as_admin_t *conn, const char *client_id, as_admin_client_info_t **infos, size_t *num)
{
    const char *params[] = {client_id};
    int err = 0;
    PGresult *res = run(conn, &err, PGRES_TUPLES_OK, "reading the clients",
                        "SELECT client_id, public, array_to_json(grant_types), array_to_json(audiences), array_to_json(scopes),"
                        " array_to_json(redirect_uris), array_to_json(post_logout_redirect_uris), display_name,"
                        " coalesce(access_ttl, 0), coalesce(refresh_idle_ttl, 0), coalesce(refresh_max_ttl, 0), consent,"
                        " logout_revokes_refresh, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                        " array_to_json(rights)"
                        " FROM clients WHERE $1::text IS NULL OR client_id = $1 ORDER BY client_id",
                        1, params, NULL, NULL);

    *infos = NULL;
    *num = 0;
    if (res == NULL)
        return err;
    if (client_id != NULL && PQntuples(res) == 0) {
        PQclear(res);
        return AS_ERR_NOT_FOUND;
    }
    *num = PQntuples(res);
    *infos = as_calloc(*num != 0 ? *num : 1, sizeof(**infos));
    for (size_t i = 0; i != *num; ++i) {
        as_admin_client_info_t *c = *infos + i;
        int row = (int)i;
        c->client_id = as_strdup(PQgetvalue(res, row, 0));
        c->is_public = PQgetvalue(res, row, 1)[0] == 't';
        c->grant_types = strlist_from_json(PQgetvalue(res, row, 2));
        c->audiences = strlist_from_json(PQgetvalue(res, row, 3));
        c->scopes = strlist_from_json(PQgetvalue(res, row, 4));
        c->redirect_uris = strlist_from_json(PQgetvalue(res, row, 5));
        c->post_logout_redirect_uris = strlist_from_json(PQgetvalue(res, row, 6));
        c->display_name = PQgetisnull(res, row, 7) ? NULL : as_strdup(PQgetvalue(res, row, 7));
        c->access_ttl = atoi(PQgetvalue(res, row, 8));
        c->refresh_idle_ttl = atoi(PQgetvalue(res, row, 9));
        c->refresh_max_ttl = atoi(PQgetvalue(res, row, 10));
        c->consent = PQgetvalue(res, row, 11)[0] == 't';
        c->logout_revokes_refresh = PQgetvalue(res, row, 12)[0] == 't';
        c->created_at = as_strdup(PQgetvalue(res, row, 13));
        c->rights = strlist_from_json(PQgetvalue(res, row, 14));
    }
    PQclear(res);
    return 0;
}

void as_admin_client_infos_free(as_admin_client_info_t *infos, size_t num)
{
    if (infos == NULL)
        return;
    for (size_t i = 0; i != num; ++i) {
        as_admin_client_info_t *c = infos + i;
        as_strlist_t *lists[] = {&c->grant_types, &c->audiences, &c->scopes, &c->redirect_uris, &c->post_logout_redirect_uris,
                                 &c->rights};
        for (size_t j = 0; j != sizeof(lists) / sizeof(lists[0]); ++j)
            strlist_free(lists[j]);
        free(c->client_id);
        free(c->display_name);
        free(c->created_at);
    }
    free(infos);
}

/*
 * Every part of the statement sees the rows as they were before the DELETE, whose cascade takes the client's
 * refresh families and their tokens, its authorization codes and its consents; what was still usable is counted
 * for the audit event and the operator.
 */
static const char client_remove_sql[] =
    "WITH f AS (SELECT count(*) AS n FROM refresh_families"
    "           WHERE client_id = $1 AND revoked_at IS NULL AND expires_at > now()),"
    " c AS (SELECT count(*) AS n FROM authorization_codes WHERE client_id = $1 AND used_at IS NULL AND expires_at > now()),"
    " d AS (DELETE FROM clients WHERE client_id = $1 RETURNING client_id),"
    " a AS (INSERT INTO audit_events (kind, client_id, detail)"
    "       SELECT 'client_remove', d.client_id, jsonb_build_object('families_revoked', f.n, 'codes_revoked', c.n, 'by', 'cli')"
    "       FROM d, f, c)"
    " SELECT f.n, c.n FROM d, f, c";

int as_admin_client_remove(as_admin_t *conn, const char *client_id, int64_t *families, int64_t *codes)
{
    int err = 0;
    PGresult *res = run(conn, &err, PGRES_TUPLES_OK, "removing the client", client_remove_sql, 1, &client_id, NULL, NULL);
    if (res != NULL) {
        err = PQntuples(res) == 1 ? 0 : AS_ERR_NOT_FOUND;
        *families = err == 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
        *codes = err == 0 ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
        PQclear(res);
    }
    return err;
}

/* the client's type, and whether its secret was replaced (only a confidential client has one) */
static const char rotate_secret_sql[] =
    "WITH u AS (UPDATE clients SET secret_hash = $2::bytea WHERE client_id = $1 AND NOT public RETURNING client_id),"
    " a AS (INSERT INTO audit_events (kind, client_id, detail)"
    "       SELECT 'client_rotate_secret', client_id, '{\"by\":\"cli\"}' FROM u)"
    " SELECT public, EXISTS (SELECT 1 FROM u) FROM clients WHERE client_id = $1";

int as_admin_client_rotate_secret(as_admin_t *conn, const char *client_id, const uint8_t *secret_hash)
{
    const char *params[] = {client_id, (const char *)secret_hash};
    const int lengths[] = {0, AS_SHA256_LEN}, formats[] = {0, 1};
    int err = 0;
    PGresult *res =
        run(conn, &err, PGRES_TUPLES_OK, "replacing the client's secret", rotate_secret_sql, 2, params, lengths, formats);
    if (res != NULL) {
        int found = PQntuples(res) == 1, is_public = found && PQgetvalue(res, 0, 0)[0] == 't';
        /* found but not replaced: removed meanwhile */
        err = is_public ? AS_ERR_UNSUPPORTED : found && PQgetvalue(res, 0, 1)[0] == 't' ? 0 : AS_ERR_NOT_FOUND;
        PQclear(res);
    }
    return err;
}

/* --- migrations ---------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/** The whole file, NUL-terminated (owner: the caller), or NULL with errno set. */
static char *read_text_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = NULL;
    long len;
    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
        goto Exit;
    buf = as_malloc(len + 1);
    if (fread(buf, 1, len, fp) != (size_t)len) {
        if (!ferror(fp))
            errno = EIO; /* shrank while we read it */
        free(buf);
        buf = NULL;
        goto Exit;
    }
    buf[len] = '\0';
Exit:
    fclose(fp);
    return buf;
}

/** Migration files are NNNN_name.sql; returns the version or -1. */
static long migration_version(const char *name)
{
    char *end;
    size_t len = strlen(name);
    if (len < 6 || strcmp(name + len - 4, ".sql") != 0)
        return -1;
    long v = strtol(name, &end, 10);
    return end != name && *end == '_' && v > 0 ? v : -1;
}

/** The migration files of `dir`, sorted (owner: the caller: each name and the array). */
static int list_migrations(as_admin_t *conn, const char *dir, char ***names, size_t *num)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t cap = 0;

    *names = NULL;
    *num = 0;
    if (d == NULL) {
        set_error(conn, "migrations directory %s: %s", dir, strerror(errno));
        return AS_ERR_IO;
    }
    while ((de = readdir(d)) != NULL) {
        if (migration_version(de->d_name) < 0)
            continue;
        if (*num == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            if ((*names = realloc(*names, cap * sizeof(**names))) == NULL)
                abort();
        }
        (*names)[(*num)++] = as_strdup(de->d_name);
    }
    closedir(d);
    if (*num != 0)
        qsort(*names, *num, sizeof(**names), cmp_names);
    return 0;
}

/** Applies one file and records it, in one transaction; on failure rolls back (keeping the first error). */
static int apply_migration(as_admin_t *conn, const char *dir, const char *name, const char *const params[2])
{
    char path[4096], *sql;
    int err;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((sql = read_text_file(path)) == NULL) {
        set_error(conn, "cannot read %s: %s", path, strerror(errno));
        return AS_ERR_IO;
    }
    if ((err = run_script(conn, name, "BEGIN")) == 0 && (err = run_script(conn, name, sql)) == 0) {
        PGresult *res = run(conn, &err, PGRES_COMMAND_OK, name, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                            params, NULL, NULL);
        if (res != NULL) {
            PQclear(res);
            err = run_script(conn, name, "COMMIT");
        }
    }
    free(sql);
    if (err != 0)
        PQclear(PQexec(conn->pg, "ROLLBACK")); /* fails only if the connection is gone, and then so is the transaction */
    return err;
}

int as_admin_migrate(as_admin_t *conn, const char *dir, as_admin_migrate_cb on_applied, void *ctx, char *failed, size_t failedlen)
{
    char **names;
    size_t num;
    int err, locked = 0;

    if (failedlen != 0)
        failed[0] = '\0';
    if ((err = list_migrations(conn, dir, &names, &num)) != 0)
        return err;
    /* a session lock: it outlives each file's transaction, and goes with the connection if we die */
    if ((err = run_script(conn, "taking the migration lock", "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")")) != 0)
        goto Exit;
    locked = 1;
    if ((err = run_script(conn, "creating the migrations table",
                          "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now())")) != 0)
        goto Exit;

    for (size_t i = 0; i != num; ++i) {
        char version[24];
        snprintf(version, sizeof(version), "%ld", migration_version(names[i]));
        const char *params[] = {version, names[i]};
        /* checked under the lock, so a migrator that waited for it sees what the previous one applied */
        PGresult *res = run(conn, &err, PGRES_TUPLES_OK, "reading applied migrations",
                            "SELECT 1 FROM schema_migrations WHERE version = $1::integer", 1, params, NULL, NULL);
        if (res == NULL)
            goto Exit;
        int done = PQntuples(res) == 1;
        PQclear(res);
        if (done)
            continue;
        if ((err = apply_migration(conn, dir, names[i], params)) != 0) {
            if (err != AS_ERR_IO && failedlen != 0)
                snprintf(failed, failedlen, "%s", names[i]);
            goto Exit;
        }
        if (on_applied != NULL)
            on_applied(ctx, names[i]);
    }

Exit:
    if (locked) {
        /* closing the connection would release it too; an error here must not hide the first one */
        PQclear(PQexec(conn->pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")"));
    }
    for (size_t i = 0; i != num; ++i)
        free(names[i]);
    free(names);
    return err;
}

int as_admin_migrations_pending(as_admin_t *conn, const char *dir, size_t *pending, char *first, size_t firstlen)
{
    char **names;
    size_t num;
    int err, exists;
    PGresult *res;

    *pending = 0;
    first[0] = '\0';
    if ((err = list_migrations(conn, dir, &names, &num)) != 0)
        return err;
    if ((res = run(conn, &err, PGRES_TUPLES_OK, "looking for schema_migrations",
                   "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL, NULL, NULL)) == NULL)
        goto Exit;
    exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (exists && (res = run(conn, &err, PGRES_TUPLES_OK, "reading applied migrations", "SELECT version FROM schema_migrations", 0,
                             NULL, NULL, NULL)) == NULL)
        goto Exit;
    for (size_t i = 0; i != num; ++i) {
        long v = migration_version(names[i]);
        int done = 0;
        for (int r = 0; res != NULL && r != PQntuples(res) && !done; ++r)
            done = strtol(PQgetvalue(res, r, 0), NULL, 10) == v;
        if (!done && (*pending)++ == 0)
            snprintf(first, firstlen, "%s", names[i]);
    }
    PQclear(res);
Exit:
    for (size_t i = 0; i != num; ++i)
        free(names[i]);
    free(names);
    return err;
}
