/*
 * store/admin against a real PostgreSQL (the cluster named by PG* that tests/run starts): the blocking
 * functions behind `authsvc migrate`, `user …` and `client …`, their error codes, and what they leave
 * in the tables.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/store/admin.h"

#define PHC1 "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
#define PHC2 "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b3RoZXI"

static char dbname[64], conninfo[128];
static as_admin_t *db; /* the connection under test, on the migrated test database */
static PGconn *pg;     /* plain libpq on the same database, to look at what the functions did */

/* --- helpers -------------------------------------------------------------------------------- */

static void sql_on(PGconn *conn, const char *q)
{
    PGresult *r = PQexec(conn, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q,
                  PQresultErrorMessage(r));
    PQclear(r);
}

static void sql(const char *q)
{
    sql_on(pg, q);
}

/** The one value `q` returns, as text ("NULL" for SQL NULL), in a static buffer. */
static const char *value(const char *q)
{
    static char buf[1024];
    PGresult *r = PQexec(pg, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "%s: %s", q, PQresultErrorMessage(r));
    snprintf(buf, sizeof(buf), "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/** A plain libpq connection that keeps "does not exist, skipping" notices quiet. */
static PGconn *connect_or_fail(const char *ci)
{
    PGconn *conn = PQconnectdb(ci);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "%s", PQerrorMessage(conn));
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    return conn;
}

/** Creates an empty database `name`; its conninfo goes to `ci`. */
static void create_database(const char *name, char *ci, size_t cilen)
{
    PGconn *conn = connect_or_fail("dbname=postgres");
    char q[160];
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    sql_on(conn, q);
    snprintf(q, sizeof(q), "CREATE DATABASE %s", name);
    sql_on(conn, q);
    PQfinish(conn);
    snprintf(ci, cilen, "dbname=%s", name);
}

/** Also called after the tests ran: no assertions. */
static void drop_database(const char *name)
{
    PGconn *conn = PQconnectdb("dbname=postgres");
    char q[160];
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PQclear(PQexec(conn, q));
    PQfinish(conn);
}

static void count_applied(void *ctx, const char *name)
{
    (void)name;
    ++*(int *)ctx;
}

static void setup(void)
{
    if (db == NULL) {
        snprintf(dbname, sizeof(dbname), "authsvc_admin_%d", (int)getpid());
        create_database(dbname, conninfo, sizeof(conninfo));
        ck_assert_int_eq(as_admin_connect(conninfo, &db, NULL, 0), 0);
        ck_assert_int_eq(as_admin_migrate(db, AS_MIGRATIONS_DIR, NULL, NULL, NULL, 0), 0);
        pg = connect_or_fail(conninfo);
    }
    sql("TRUNCATE users, clients, refresh_families, refresh_tokens, audit_events, revocation_events, revoked_tokens, sessions,"
        " authorization_codes, consents, login_failures");
}

static void teardown(void)
{
}

/** A live SSO session of `username`. */
static void add_session(const char *username)
{
    char q[512];
    snprintf(
        q, sizeof(q),
        "INSERT INTO sessions (hash, user_id, token_version, idle_expires_at, expires_at)"
        " SELECT sha256(gen_random_uuid()::text::bytea), id, token_version, now() + interval '1 hour', now() + interval '1 day'"
        " FROM users WHERE username = '%s'",
        username);
    sql(q);
}

/** A live refresh family of `username` for client 'app' (created if needed). */
static void add_family(const char *username)
{
    char q[512];
    sql("INSERT INTO clients (client_id, secret_hash, grant_types) VALUES ('app', sha256('x'), '{password,refresh_token}')"
        " ON CONFLICT DO NOTHING");
    snprintf(q, sizeof(q),
             "INSERT INTO refresh_families (user_id, client_id, token_version, expires_at)"
             " SELECT id, 'app', token_version, now() + interval '1 day' FROM users WHERE username = '%s'",
             username);
    sql(q);
}

/* --- users ------------------------------------------------------------------------------------ */

START_TEST(user_add_twice_conflicts)
{
    char id[AS_ADMIN_UUID_SIZE], id2[AS_ADMIN_UUID_SIZE] = "untouched", q[256];

    ck_assert_int_eq(as_admin_user_add(db, "alice", PHC1, id), 0);
    ck_assert_uint_eq(strlen(id), 36);
    snprintf(q, sizeof(q),
             "SELECT username || ' ' || password_hash || ' ' || token_version || ' ' || disabled FROM users WHERE id = '%s'", id);
    ck_assert_str_eq(value(q), "alice " PHC1 " 1 false");

    ck_assert_int_eq(as_admin_user_add(db, "alice", PHC2, id2), AS_ERR_CONFLICT);
    ck_assert_str_eq(id2, "untouched");
    ck_assert_str_eq(value("SELECT count(*) || ' ' || min(password_hash) FROM users"), "1 " PHC1);
}
END_TEST

START_TEST(unknown_user_is_not_found)
{
    int64_t version = -1;

    ck_assert_int_eq(as_admin_user_passwd(db, "nobody", PHC2, &version), AS_ERR_NOT_FOUND);
    ck_assert_int_eq(as_admin_user_revoke(db, "nobody", &version), AS_ERR_NOT_FOUND);
    ck_assert_int_eq(as_admin_user_disable(db, "nobody", &version), AS_ERR_NOT_FOUND);
    ck_assert_int_eq(as_admin_user_enable(db, "nobody"), AS_ERR_NOT_FOUND);
    ck_assert_int_eq(version, -1);
    ck_assert_str_eq(value("SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM revocation_events)"), "0");
}
END_TEST

START_TEST(passwd_bumps_token_version_and_revokes_families)
{
    char alice[AS_ADMIN_UUID_SIZE], bob[AS_ADMIN_UUID_SIZE], q[512];
    int64_t version = 0;

    ck_assert_int_eq(as_admin_user_add(db, "alice", PHC1, alice), 0);
    ck_assert_int_eq(as_admin_user_add(db, "bob", PHC1, bob), 0);
    add_family("alice");
    add_family("alice");
    add_family("bob");
    add_session("alice");
    add_session("bob");

    ck_assert_int_eq(as_admin_user_passwd(db, "alice", PHC2, &version), 0);
    ck_assert_int_eq(version, 2);
    ck_assert_str_eq(value("SELECT token_version || ' ' || password_hash FROM users WHERE username = 'alice'"), "2 " PHC2);
    snprintf(q, sizeof(q),
             "SELECT string_agg(DISTINCT coalesce(revoked_reason, 'live'), ',') FROM refresh_families WHERE user_id = '%s'", alice);
    ck_assert_str_eq(value(q), "password_change");
    snprintf(q, sizeof(q), "SELECT count(*) FROM refresh_families WHERE user_id = '%s' AND revoked_at IS NULL", bob);
    ck_assert_str_eq(value(q), "1"); /* only alice's */
    snprintf(q, sizeof(q),
             "SELECT string_agg(u.username || ' ' || coalesce(s.ended_reason, 'live'), ',' ORDER BY u.username)"
             " FROM sessions s JOIN users u ON u.id = s.user_id");
    ck_assert_str_eq(value(q), "alice password_change,bob live");
    /* the feed tells offline verifiers, the audit log tells people */
    snprintf(q, sizeof(q), "SELECT string_agg(kind || ' ' || subject || ' ' || min_version, ',') FROM revocation_events");
    char want[128];
    snprintf(want, sizeof(want), "subject %s 2", alice);
    ck_assert_str_eq(value(q), want);
    ck_assert_str_eq(value("SELECT kind || ' ' || (detail->>'token_version') || ' ' || (detail->>'families_revoked') || ' ' ||"
                           " (detail->>'sessions_ended') || ' ' || (detail->>'by') FROM audit_events"),
                     "password_change 2 2 1 cli");

    /* revoke keeps the password and bumps again */
    add_family("alice");
    ck_assert_int_eq(as_admin_user_revoke(db, "alice", &version), 0);
    ck_assert_int_eq(version, 3);
    ck_assert_str_eq(value("SELECT token_version || ' ' || password_hash || ' ' || disabled FROM users WHERE username = 'alice'"),
                     "3 " PHC2 " false");
    snprintf(q, sizeof(q), "SELECT count(*) FROM refresh_families WHERE user_id = '%s' AND revoked_reason = 'user_revoke'", alice);
    ck_assert_str_eq(value(q), "1");
}
END_TEST

START_TEST(disable_and_enable)
{
    char id[AS_ADMIN_UUID_SIZE];
    int64_t version = 0;

    ck_assert_int_eq(as_admin_user_add(db, "carol", PHC1, id), 0);
    add_family("carol");
    add_session("carol");
    ck_assert_int_eq(as_admin_user_disable(db, "carol", &version), 0);
    ck_assert_int_eq(version, 2);
    ck_assert_str_eq(value("SELECT token_version || ' ' || disabled FROM users WHERE username = 'carol'"), "2 true");
    ck_assert_str_eq(value("SELECT count(*) FROM refresh_families WHERE revoked_at IS NULL"), "0");
    ck_assert_str_eq(value("SELECT count(*) FROM sessions WHERE ended_at IS NULL"), "0");

    /* enabling allows logins again; what was revoked stays revoked */
    ck_assert_int_eq(as_admin_user_enable(db, "carol"), 0);
    ck_assert_str_eq(value("SELECT token_version || ' ' || disabled FROM users WHERE username = 'carol'"), "2 false");
    ck_assert_str_eq(value("SELECT count(*) FROM refresh_families WHERE revoked_at IS NULL"), "0");
    ck_assert_int_eq(as_admin_user_enable(db, "carol"), 0); /* already enabled: fine */
    ck_assert_str_eq(value("SELECT string_agg(kind, ',' ORDER BY id) FROM audit_events"), "user_disable,user_enable,user_enable");
}
END_TEST

/* --- clients ---------------------------------------------------------------------------------- */

START_TEST(client_add_confidential_public_and_duplicate)
{
    const char *grants[] = {"client_credentials", "refresh_token"}, *auds[] = {"api", "other api", "a\"b\\c", "NULL"},
               *scopes[] = {"read", "write"}, *public_grants[] = {"password", "refresh_token"};
    uint8_t hash[AS_SHA256_LEN];
    as_sha256("s3cret", 6, hash);
    as_admin_client_t svc = {.client_id = "svc",
                             .secret_hash = hash,
                             .grant_types = {grants, 2},
                             .audiences = {auds, 4},
                             .scopes = {scopes, 2},
                             .access_ttl = 60};
    as_admin_client_t spa = {
        .client_id = "spa", .grant_types = {public_grants, 2}, .refresh_idle_ttl = 600, .refresh_max_ttl = 3600};

    ck_assert_int_eq(as_admin_client_add(db, &svc), 0);
    ck_assert_str_eq(
        value("SELECT public || ' ' || (secret_hash = sha256('s3cret')) || ' ' || array_to_json(grant_types) || ' ' ||"
              " array_to_json(audiences) || ' ' || array_to_json(scopes) || ' ' || coalesce(access_ttl::text, '-') || ' ' ||"
              " coalesce(refresh_idle_ttl::text, '-') || ' ' || coalesce(refresh_max_ttl::text, '-')"
              " FROM clients WHERE client_id = 'svc'"),
        "false true [\"client_credentials\",\"refresh_token\"] [\"api\",\"other api\",\"a\\\"b\\\\c\",\"NULL\"]"
        " [\"read\",\"write\"] 60 - -");

    ck_assert_int_eq(as_admin_client_add(db, &spa), 0);
    ck_assert_str_eq(
        value("SELECT public || ' ' || coalesce(secret_hash::text, '-') || ' ' || array_to_json(grant_types) || ' ' ||"
              " array_to_json(audiences) || ' ' || coalesce(access_ttl::text, '-') || ' ' || refresh_idle_ttl || ' ' ||"
              " refresh_max_ttl FROM clients WHERE client_id = 'spa'"),
        "true - [\"password\",\"refresh_token\"] [] - 600 3600");

    /* a second registration under a taken id changes nothing */
    spa.client_id = "svc";
    ck_assert_int_eq(as_admin_client_add(db, &spa), AS_ERR_CONFLICT);
    ck_assert_str_eq(value("SELECT public FROM clients WHERE client_id = 'svc'"), "f");

    /* the schema refuses a public client with client_credentials, and says so */
    spa.client_id = "bad";
    spa.grant_types = (as_strlist_t){grants, 1};
    ck_assert_int_eq(as_admin_client_add(db, &spa), AS_ERR_DB_QUERY);
    ck_assert_msg(strncmp(as_admin_error(db), "adding the client: ERROR:", 25) == 0, "%s", as_admin_error(db));
    ck_assert_str_eq(value("SELECT count(*) FROM clients"), "2");
}
END_TEST

START_TEST(client_add_browser_settings)
{
    const char *grants[] = {"authorization_code", "refresh_token"},
               *redirects[] = {"https://app.example/cb", "http://127.0.0.1/cb"}, *logouts[] = {"https://app.example/bye"};
    uint8_t hash[AS_SHA256_LEN];
    as_sha256("s3cret", 6, hash);
    as_admin_client_t web = {.client_id = "web",
                             .grant_types = {grants, 2},
                             .redirect_uris = {redirects, 2},
                             .post_logout_redirect_uris = {logouts, 1},
                             .display_name = "The \"Web\" app",
                             .consent = 1,
                             .keep_refresh_on_logout = 1};
    as_admin_client_t plain = {
        .client_id = "plain", .secret_hash = hash, .grant_types = {grants, 1}, .redirect_uris = {redirects, 1}};

    ck_assert_int_eq(as_admin_client_add(db, &web), 0);
    ck_assert_str_eq(
        value("SELECT array_to_json(redirect_uris) || ' ' || array_to_json(post_logout_redirect_uris) || ' ' ||"
              " display_name || ' ' || consent || ' ' || logout_revokes_refresh FROM clients WHERE client_id = 'web'"),
        "[\"https://app.example/cb\",\"http://127.0.0.1/cb\"] [\"https://app.example/bye\"] The \"Web\" app true false");
    /* what the older callers leave at zero keeps the schema's defaults: logout ends refresh families, no consent */
    ck_assert_int_eq(as_admin_client_add(db, &plain), 0);
    ck_assert_str_eq(value("SELECT coalesce(display_name, '-') || ' ' || consent || ' ' || logout_revokes_refresh || ' ' ||"
                           " array_to_json(post_logout_redirect_uris) FROM clients WHERE client_id = 'plain'"),
                     "- false true []");
}
END_TEST

START_TEST(client_add_refused_by_the_schema_names_no_secret)
{
    const char *grants[] = {"authorization_code"};
    uint8_t hash[AS_SHA256_LEN];
    char hex[2 * AS_SHA256_LEN + 1];
    as_sha256("s3cret", 6, hash);
    for (size_t i = 0; i != AS_SHA256_LEN; ++i)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    /* authorization_code without a redirect URI: the CLI refuses it first, the schema still does */
    as_admin_client_t c = {.client_id = "no-redirect", .secret_hash = hash, .grant_types = {grants, 1}};
    ck_assert_int_eq(as_admin_client_add(db, &c), AS_ERR_DB_QUERY);
    ck_assert_msg(strstr(as_admin_error(db), "clients_code_needs_redirect") != NULL, "%s", as_admin_error(db));
    /* a CHECK violation's DETAIL would print the failing row, the secret's hash with it */
    ck_assert_msg(strstr(as_admin_error(db), hex) == NULL && strstr(as_admin_error(db), "DETAIL") == NULL &&
                      strstr(as_admin_error(db), "\\x") == NULL,
                  "%s", as_admin_error(db));
    ck_assert_str_eq(value("SELECT count(*) FROM clients"), "0");
}
END_TEST

START_TEST(client_list_and_show)
{
    const char *cc[] = {"client_credentials"}, *code[] = {"authorization_code", "refresh_token"}, *auds[] = {"api"},
               *scopes[] = {"openid", "profile"}, *redirects[] = {"com.example.app:/cb"}, *logouts[] = {"https://app.example/bye"};
    uint8_t hash[AS_SHA256_LEN];
    as_admin_client_info_t *infos;
    size_t num;
    as_sha256("s3cret", 6, hash);
    as_admin_client_t svc = {
        .client_id = "svc", .secret_hash = hash, .grant_types = {cc, 1}, .audiences = {auds, 1}, .access_ttl = 60};
    as_admin_client_t app = {.client_id = "app",
                             .grant_types = {code, 2},
                             .scopes = {scopes, 2},
                             .redirect_uris = {redirects, 1},
                             .post_logout_redirect_uris = {logouts, 1},
                             .display_name = "App",
                             .refresh_max_ttl = 3600};

    /* no client yet: an empty list, and show finds nothing */
    ck_assert_int_eq(as_admin_client_list(db, NULL, &infos, &num), 0);
    ck_assert_uint_eq(num, 0);
    as_admin_client_infos_free(infos, num);
    ck_assert_int_eq(as_admin_client_list(db, "app", &infos, &num), AS_ERR_NOT_FOUND);
    ck_assert_ptr_null(infos);

    ck_assert_int_eq(as_admin_client_add(db, &svc), 0);
    ck_assert_int_eq(as_admin_client_add(db, &app), 0);
    ck_assert_int_eq(as_admin_client_list(db, NULL, &infos, &num), 0);
    ck_assert_uint_eq(num, 2);
    ck_assert_str_eq(infos[0].client_id, "app"); /* ordered by id */
    ck_assert_str_eq(infos[1].client_id, "svc");
    ck_assert(infos[0].is_public && !infos[1].is_public);
    ck_assert_uint_eq(infos[0].grant_types.len, 2);
    ck_assert_str_eq(infos[0].grant_types.items[1], "refresh_token");
    ck_assert_str_eq(infos[0].scopes.items[0], "openid");
    ck_assert_str_eq(infos[0].redirect_uris.items[0], "com.example.app:/cb");
    ck_assert_str_eq(infos[0].post_logout_redirect_uris.items[0], "https://app.example/bye");
    ck_assert_str_eq(infos[0].display_name, "App");
    ck_assert(infos[0].logout_revokes_refresh && !infos[0].consent);
    ck_assert_int_eq(infos[0].refresh_max_ttl, 3600);
    ck_assert_int_eq(infos[0].access_ttl, 0);
    ck_assert_ptr_null(infos[1].display_name);
    ck_assert_str_eq(infos[1].audiences.items[0], "api");
    ck_assert_uint_eq(infos[1].redirect_uris.len, 0);
    ck_assert_int_eq(infos[1].access_ttl, 60);
    ck_assert_uint_eq(strlen(infos[1].created_at), 20); /* 2024-01-02T03:04:05Z */
    as_admin_client_infos_free(infos, num);

    ck_assert_int_eq(as_admin_client_list(db, "svc", &infos, &num), 0);
    ck_assert_uint_eq(num, 1);
    ck_assert_str_eq(infos[0].client_id, "svc");
    as_admin_client_infos_free(infos, num);
}
END_TEST

/* --- migrations --------------------------------------------------------------------------------- */

START_TEST(migrate_twice_is_idempotent)
{
    char name[64], ci[128];
    as_admin_t *fresh;
    int applied = 0;

    snprintf(name, sizeof(name), "authsvc_admin_%d_fresh", (int)getpid());
    create_database(name, ci, sizeof(ci));
    ck_assert_int_eq(as_admin_connect(ci, &fresh, NULL, 0), 0);
    ck_assert_int_eq(as_admin_migrate(fresh, AS_MIGRATIONS_DIR, count_applied, &applied, NULL, 0), 0);
    ck_assert_int_ge(applied, 2);

    PGconn *conn = connect_or_fail(ci);
    PGresult *r = PQexec(conn, "SELECT count(*), max(applied_at)::text FROM schema_migrations");
    ck_assert_int_eq(atoi(PQgetvalue(r, 0, 0)), applied);
    char first_applied_at[64];
    snprintf(first_applied_at, sizeof(first_applied_at), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);

    applied = 0;
    ck_assert_int_eq(as_admin_migrate(fresh, AS_MIGRATIONS_DIR, count_applied, &applied, NULL, 0), 0);
    ck_assert_int_eq(applied, 0);
    r = PQexec(conn, "SELECT count(*), max(applied_at)::text FROM schema_migrations");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), first_applied_at);
    PQclear(r);
    PQfinish(conn);
    as_admin_close(fresh);
    drop_database(name);

    /* the suite's database too */
    ck_assert_int_eq(as_admin_migrate(db, AS_MIGRATIONS_DIR, count_applied, &applied, NULL, 0), 0);
    ck_assert_int_eq(applied, 0);
}
END_TEST

START_TEST(failed_migration_rolls_back_and_releases_the_lock)
{
    char dir[] = "/tmp/authsvc-admin-test.XXXXXX", path[512], failed[256] = "x", id[AS_ADMIN_UUID_SIZE];
    int applied = 0;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* the real migrations, all applied already, and a new one that fails half-way */
    snprintf(path, sizeof(path), "%s/0001_init.sql", dir);
    ck_assert_int_eq(symlink(AS_MIGRATIONS_DIR "/0001_init.sql", path), 0);
    snprintf(path, sizeof(path), "%s/0099_broken.sql", dir);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("CREATE TABLE half_done (a integer);\nSELECT no_such_function();\n", fp);
    fclose(fp);

    ck_assert_int_eq(as_admin_migrate(db, dir, count_applied, &applied, failed, sizeof(failed)), AS_ERR_DB_QUERY);
    ck_assert_int_eq(applied, 0);
    ck_assert_str_eq(failed, "0099_broken.sql");
    ck_assert_msg(strncmp(as_admin_error(db), "0099_broken.sql: ERROR:", 23) == 0, "%s", as_admin_error(db));
    ck_assert_str_eq(value("SELECT to_regclass('half_done') IS NULL"), "t");
    ck_assert_str_eq(value("SELECT count(*) FROM schema_migrations WHERE version = 99"), "0");
    ck_assert_str_eq(value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                           " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                     "0");
    /* the connection is fine for what comes next */
    ck_assert_int_eq(as_admin_user_add(db, "after", PHC1, id), 0);

    unlink(path);
    snprintf(path, sizeof(path), "%s/0001_init.sql", dir);
    unlink(path);
    rmdir(dir);

    ck_assert_int_eq(as_admin_migrate(db, "/nonexistent/migrations", NULL, NULL, failed, sizeof(failed)), AS_ERR_IO);
    ck_assert_str_eq(failed, "");
    ck_assert_msg(strncmp(as_admin_error(db), "migrations directory /nonexistent/migrations: ", 46) == 0, "%s", as_admin_error(db));
}
END_TEST

typedef struct st_migrator_t {
    pthread_t thread;
    const char *conninfo;
    int applied;
    int err;
} migrator_t;

static void *run_migrator(void *arg)
{
    migrator_t *m = arg;
    as_admin_t *conn;
    if ((m->err = as_admin_connect(m->conninfo, &conn, NULL, 0)) == 0) {
        m->err = as_admin_migrate(conn, AS_MIGRATIONS_DIR, count_applied, &m->applied, NULL, 0);
        as_admin_close(conn);
    }
    return NULL;
}

START_TEST(concurrent_migrators_take_turns)
{
    char name[64], ci[128];
    migrator_t m[4];
    int total = 0;

    snprintf(name, sizeof(name), "authsvc_admin_%d_race", (int)getpid());
    create_database(name, ci, sizeof(ci));
    for (size_t i = 0; i != 4; ++i) {
        m[i] = (migrator_t){.conninfo = ci};
        ck_assert_int_eq(pthread_create(&m[i].thread, NULL, run_migrator, m + i), 0);
    }
    for (size_t i = 0; i != 4; ++i)
        pthread_join(m[i].thread, NULL);
    for (size_t i = 0; i != 4; ++i) {
        ck_assert_int_eq(m[i].err, 0);
        total += m[i].applied;
    }
    /* every file applied exactly once, by whichever instance got there first */
    PGconn *conn = connect_or_fail(ci);
    PGresult *r = PQexec(conn, "SELECT count(*) FROM schema_migrations");
    ck_assert_int_ge(total, 2);
    ck_assert_int_eq(atoi(PQgetvalue(r, 0, 0)), total);
    PQclear(r);
    PQfinish(conn);
    drop_database(name);
}
END_TEST

/* --- connections --------------------------------------------------------------------------------- */

START_TEST(unreachable_database_is_unavailable)
{
    as_admin_t *conn = (as_admin_t *)1;
    char msg[512];

    ck_assert_int_eq(as_admin_connect("host=/nonexistent connect_timeout=2", &conn, msg, sizeof(msg)), AS_ERR_DB_UNAVAILABLE);
    ck_assert_ptr_null(conn);
    ck_assert_msg(strncmp(msg, "cannot connect to the database: ", 32) == 0, "%s", msg);
}
END_TEST

START_TEST(lost_connection_is_unavailable)
{
    char ci[256], id[AS_ADMIN_UUID_SIZE];
    as_admin_t *victim;

    snprintf(ci, sizeof(ci), "%s application_name=admin_victim", conninfo);
    ck_assert_int_eq(as_admin_connect(ci, &victim, NULL, 0), 0);
    ck_assert_str_eq(value("SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                           " WHERE application_name = 'admin_victim'"),
                     "t");
    ck_assert_int_eq(as_admin_user_add(victim, "dave", PHC1, id), AS_ERR_DB_UNAVAILABLE);
    ck_assert_msg(strncmp(as_admin_error(victim), "adding the user: ", 17) == 0, "%s", as_admin_error(victim));
    as_admin_close(victim);
    ck_assert_str_eq(value("SELECT count(*) FROM users WHERE username = 'dave'"), "0");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("postgresql");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, user_add_twice_conflicts);
    tcase_add_test(tc, unknown_user_is_not_found);
    tcase_add_test(tc, passwd_bumps_token_version_and_revokes_families);
    tcase_add_test(tc, disable_and_enable);
    tcase_add_test(tc, client_add_confidential_public_and_duplicate);
    tcase_add_test(tc, client_add_browser_settings);
    tcase_add_test(tc, client_add_refused_by_the_schema_names_no_secret);
    tcase_add_test(tc, client_list_and_show);
    tcase_add_test(tc, migrate_twice_is_idempotent);
    tcase_add_test(tc, failed_migration_rolls_back_and_releases_the_lock);
    tcase_add_test(tc, concurrent_migrators_take_turns);
    tcase_add_test(tc, unreachable_database_is_unavailable);
    tcase_add_test(tc, lost_connection_is_unavailable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK); /* one database, created once */
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (db != NULL) {
        as_admin_close(db);
        PQfinish(pg);
        drop_database(dbname);
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
