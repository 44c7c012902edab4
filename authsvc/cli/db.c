#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/cli/db.h"

PGconn *as_cli_connect(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo != NULL ? conninfo : "");
    if (pg == NULL)
        abort();
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "authsvc: cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGresult *as_cli_exec(PGconn *pg, ExecStatusType expect, const char *what, const char *sql, int nparams, const char *const *values)
{
    PGresult *res = PQexecParams(pg, sql, nparams, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(res) != expect) {
        fprintf(stderr, "authsvc: %s: %s", what, PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

static int exec_simple(PGconn *pg, const char *what, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "authsvc: %s: %s", what, PQresultErrorMessage(res));
    PQclear(res);
    return ok ? 0 : -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_text_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf;
    long len;
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = as_malloc(len + 1);
    if (fread(buf, 1, len, fp) != (size_t)len) {
        free(buf);
        fclose(fp);
        return NULL;
    }
    buf[len] = '\0';
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

int as_cli_migrate(PGconn *pg, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t num = 0, cap = 0, applied = 0;
    int ret = -1, locked = 0;

    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    if (d == NULL) {
        fprintf(stderr, "authsvc: migrations directory %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (migration_version(de->d_name) < 0)
            continue;
        if (num == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            names = realloc(names, cap * sizeof(*names));
            if (names == NULL)
                abort();
        }
        names[num++] = as_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, num, sizeof(*names), cmp_names);

    /* one migrator at a time across every instance; the lock goes with the session */
    if (exec_simple(pg, "taking the migration lock", "SELECT pg_advisory_lock(7263539716371)") != 0)
        goto Exit;
    locked = 1;
    if (exec_simple(pg, "creating the migrations table",
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())") != 0)
        goto Exit;

    for (size_t i = 0; i != num; ++i) {
        char version[24], path[4096], *sql;
        snprintf(version, sizeof(version), "%ld", migration_version(names[i]));
        const char *params[] = {version, names[i]};
        PGresult *res = as_cli_exec(pg, PGRES_TUPLES_OK, "reading applied migrations",
                                    "SELECT 1 FROM schema_migrations WHERE version = $1::integer", 1, params);
        if (res == NULL)
            goto Exit;
        int done = PQntuples(res) == 1;
        PQclear(res);
        if (done)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if ((sql = read_text_file(path)) == NULL) {
            fprintf(stderr, "authsvc: cannot read %s: %s\n", path, strerror(errno));
            goto Exit;
        }
        int ok = exec_simple(pg, names[i], "BEGIN") == 0 && exec_simple(pg, names[i], sql) == 0;
        free(sql);
        if (ok && (res = as_cli_exec(pg, PGRES_COMMAND_OK, names[i], "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                     2, params)) != NULL) {
            PQclear(res);
            ok = exec_simple(pg, names[i], "COMMIT") == 0;
        } else {
            ok = 0;
        }
        if (!ok) {
            exec_simple(pg, "rolling back", "ROLLBACK");
            fprintf(stderr, "authsvc: migration %s failed and was rolled back\n", names[i]);
            goto Exit;
        }
        printf("applied %s\n", names[i]);
        ++applied;
    }
    printf(applied == 0 ? "database schema is up to date\n" : "database schema migrated (%zu applied)\n", applied);
    ret = 0;
Exit:
    if (locked)
        exec_simple(pg, "releasing the migration lock", "SELECT pg_advisory_unlock(7263539716371)");
    for (size_t i = 0; i != num; ++i)
        free(names[i]);
    free(names);
    return ret;
}
