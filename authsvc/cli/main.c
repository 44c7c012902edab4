/*
 * authsvc — the one binary: serve, migrate, user, client, keys.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/db.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/app/app.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/store/store.h"
#include "authsvc/verify/cli_verify.h"

#define DEFAULT_KEYS_DIR "keys"

static const char usage_main[] = "usage: authsvc COMMAND [OPTIONS]\n"
                                 "\n"
                                 "commands:\n"
                                 "  serve                 run the token service\n"
                                 "  migrate               apply pending database migrations\n"
                                 "  user add USERNAME     create a user (password on standard input)\n"
                                 "  user passwd USERNAME  set a user's password (standard input); revokes all their tokens\n"
                                 "  client add CLIENT_ID  register a client; prints its secret last\n"
                                 "  keys generate|rotate|list|retire|prune   the signing-key lifecycle\n"
                                 "  verify TOKEN          check an access token offline, as a resource server does\n"
                                 "  routes                print the HTTP routes (METHOD PATH)\n"
                                 "\n"
                                 "Every command takes --help. The database is found through libpq's environment\n"
                                 "(PGHOST, PGPORT, PGUSER, PGDATABASE, ...) or --db CONNINFO.\n";

int as_cli_usage(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "authsvc: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

int as_cli_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* --- serve ---------------------------------------------------------------------- */

static const char usage_serve[] =
    "usage: authsvc serve [OPTIONS]\n"
    "  --listen HOST:PORT          HTTP/1.1 and h2c (default 127.0.0.1:8080; port 0 picks a free one)\n"
    "  --tls-listen HOST:PORT      also serve TLS (ALPN h2) there; needs --tls-cert and --tls-key\n"
    "  --tls-cert FILE, --tls-key FILE\n"
    "  --issuer URL                the iss of every token (default http://HOST:PORT of --listen)\n"
    "  --keys DIR                  signing-key directory (default keys)\n"
    "  --access-ttl SECONDS        access-token lifetime (default 300)\n"
    "  --refresh-idle-ttl SECONDS  a refresh token unused this long expires (default 1209600, 14 days)\n"
    "  --refresh-max-ttl SECONDS   absolute lifetime of a login's refresh tokens (default 7776000, 90 days)\n"
    "  --refresh-grace SECONDS     a retry with a just-rotated refresh token within this window gets the same\n"
    "                              successor instead of counting as reuse (default 5; 0 turns it off)\n"
    "  --threads N                 event threads (default: one per core)\n"
    "  --db-connections N          database connections per event thread (default 4)\n"
    "  --db-timeout MS             deadline of every database query (default 5000)\n"
    "  --max-body BYTES            largest request body accepted (default 16384)\n"
    "  --jwks-max-age SECONDS      how long verifiers may cache the JWKS (default 300)\n"
    "  --keys-reload SECONDS       how often the key directory is re-read (default 10; also on SIGHUP)\n"
    "  --client-cache-ttl SECONDS  how long a client record is reused before it is read again (default 5; 0: always\n"
    "                              read it: a changed or deleted client is seen at once)\n"
    "  --db CONNINFO               libpq connection string (default: PG* environment)\n"
    "  --verbose                   log debug messages\n";

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},    {"tls-listen", required_argument, NULL, 'L'},
        {"tls-cert", required_argument, NULL, 'c'},  {"tls-key", required_argument, NULL, 'k'},
        {"issuer", required_argument, NULL, 'i'},    {"keys", required_argument, NULL, 'K'},
        {"access-ttl", required_argument, NULL, 'a'}, {"refresh-idle-ttl", required_argument, NULL, 'r'},
        {"refresh-max-ttl", required_argument, NULL, 'R'}, {"refresh-grace", required_argument, NULL, 'g'}, {"threads", required_argument, NULL, 't'},
        {"db-connections", required_argument, NULL, 'C'}, {"db-timeout", required_argument, NULL, 'T'},
        {"max-body", required_argument, NULL, 'b'}, {"jwks-max-age", required_argument, NULL, 'J'}, {"client-cache-ttl", required_argument, NULL, 'c' + 256}, {"keys-reload", required_argument, NULL, 'K' + 256},  {"db", required_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    as_app_config_t cfg = {
        .listen = "127.0.0.1:8080",
        .keys_dir = DEFAULT_KEYS_DIR,
        .conninfo = "",
        .db_connections = 4,
        .db_timeout = 5000,
        .keys_reload_interval = 10,
        .max_body = 16384,
        .oauth = {.jwks_max_age = 300, .client_cache_ttl = 5, .access_ttl = 300, .refresh_idle_ttl = 14 * 86400, .refresh_max_ttl = 90 * 86400, .refresh_grace = 5},
    };
    char issuer[512];
    int c;
    long v;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            cfg.listen = optarg;
            break;
        case 'L':
            cfg.tls_listen = optarg;
            break;
        case 'c':
            cfg.tls_cert = optarg;
            break;
        case 'k':
            cfg.tls_key = optarg;
            break;
        case 'i':
            cfg.oauth.issuer = optarg;
            break;
        case 'K':
            cfg.keys_dir = optarg;
            break;
        case 'd':
            cfg.conninfo = optarg;
            break;
        case 'v':
            as_log_level = AS_LOG_DEBUG;
            break;
        case 'h':
            fputs(usage_serve, stdout);
            return 0;
        case 'g':
            if (as_cli_parse_int(optarg, 0, 300, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --refresh-grace (0 to 300 seconds): %s", optarg);
            cfg.oauth.refresh_grace = (int)v;
            break;
        case 'K' + 256:
            if (as_cli_parse_int(optarg, 1, 3600, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --keys-reload: %s", optarg);
            cfg.keys_reload_interval = (int)v;
            break;
        case 'c' + 256:
            if (as_cli_parse_int(optarg, 0, 3600, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --client-cache-ttl: %s", optarg);
            cfg.oauth.client_cache_ttl = (int)v;
            break;
        case 'J':
            if (as_cli_parse_int(optarg, 0, 86400, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --jwks-max-age: %s", optarg);
            cfg.oauth.jwks_max_age = (int)v;
            break;
        case 'a':
        case 'r':
        case 'R':
        case 't':
        case 'C':
        case 'T':
        case 'b':
            if (as_cli_parse_int(optarg, c == 't' ? 0 : 1, c == 'T' ? 600000 : c == 'b' ? 1048576 : c == 't' || c == 'C' ? 256 : 31536000,
                          &v) != 0)
                return as_cli_usage(usage_serve, "invalid number: %s", optarg);
            switch (c) {
            case 'a':
                cfg.oauth.access_ttl = (int)v;
                break;
            case 'r':
                cfg.oauth.refresh_idle_ttl = (int)v;
                break;
            case 'R':
                cfg.oauth.refresh_max_ttl = (int)v;
                break;
            case 't':
                cfg.num_threads = (size_t)v;
                break;
            case 'C':
                cfg.db_connections = (size_t)v;
                break;
            case 'T':
                cfg.db_timeout = (uint64_t)v;
                break;
            case 'b':
                cfg.max_body = (size_t)v;
                break;
            }
            break;
        default:
            return as_cli_usage(usage_serve, "%s", "invalid option");
        }
    }
    if (optind != argc)
        return as_cli_usage(usage_serve, "unexpected argument: %s", argv[optind]);
    if (cfg.tls_listen != NULL && (cfg.tls_cert == NULL || cfg.tls_key == NULL))
        return as_cli_usage(usage_serve, "%s", "--tls-listen needs --tls-cert and --tls-key");
    if (cfg.oauth.issuer == NULL) {
        snprintf(issuer, sizeof(issuer), "http://%s", cfg.listen);
        cfg.oauth.issuer = issuer;
    }
    if (strlen(cfg.oauth.issuer) > 400 || strncmp(cfg.oauth.issuer, "http", 4) != 0)
        return as_cli_usage(usage_serve, "the issuer must be an http(s) URL of at most 400 characters: %s", cfg.oauth.issuer);
    return as_app_run(&cfg);
}

/* --- migrate ---------------------------------------------------------------------- */

static const char usage_migrate[] = "usage: authsvc migrate [--db CONNINFO] [--migrations DIR]\n"
                                    "Applies pending migrations in order, each in its own transaction, under an\n"
                                    "advisory lock; running it again changes nothing.\n";

static int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"migrations", required_argument, NULL, 'm'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *conninfo = "", *dir = getenv("AUTHSVC_MIGRATIONS") != NULL ? getenv("AUTHSVC_MIGRATIONS") : AS_MIGRATIONS_DIR;
    PGconn *pg;
    int c, ret;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            conninfo = optarg;
            break;
        case 'm':
            dir = optarg;
            break;
        case 'h':
            fputs(usage_migrate, stdout);
            return 0;
        default:
            return as_cli_usage(usage_migrate, "%s", "invalid option");
        }
    }
    if (optind != argc)
        return as_cli_usage(usage_migrate, "unexpected argument: %s", argv[optind]);
    if ((pg = as_cli_connect(conninfo)) == NULL)
        return 1;
    ret = as_cli_migrate(pg, dir) == 0 ? 0 : 1;
    PQfinish(pg);
    return ret;
}

/* --- user ---------------------------------------------------------------------------- */

static const char usage_user[] = "usage: authsvc user add USERNAME [--db CONNINFO]     (password on standard input)\n"
                                 "       authsvc user passwd USERNAME [--db CONNINFO]  (new password on standard input)\n"
                                 "       authsvc user revoke USERNAME [--db CONNINFO]  (end every session of the user)\n"
                                 "       authsvc user disable USERNAME [--db CONNINFO] (revoke, and refuse new logins)\n"
                                 "       authsvc user enable USERNAME [--db CONNINFO]  (allow logins again)\n"
                                 "passwd, revoke and disable increment the user's token_version and revoke every\n"
                                 "refresh token the user holds, in one transaction; the revocation feed tells\n"
                                 "offline verifiers to refuse the user's older access tokens.\n";

static int user_revoke(const char *conninfo, const char *action, const char *username)
{
    PGconn *pg = as_cli_connect(conninfo);
    PGresult *res;
    int ret = 1;
    const char *params[] = {username};

    if (pg == NULL)
        return 1;
    if (strcmp(action, "enable") == 0) {
        res = as_cli_exec(pg, PGRES_TUPLES_OK, "enabling the user",
                          "WITH u AS (UPDATE users SET disabled = false, updated_at = now() WHERE username = $1 RETURNING id),"
                          " a AS (INSERT INTO audit_events (kind, user_id, detail) SELECT 'user_enable', id, '{\"by\":\"cli\"}' FROM u)"
                          " SELECT id FROM u",
                          1, params);
    } else {
        res = as_cli_exec(pg, PGRES_TUPLES_OK, "revoking the user's tokens",
                          strcmp(action, "disable") == 0
                              ? "SELECT authsvc_revoke_user(id, 'user_disable', NULL, true, 'cli') FROM users WHERE username = $1"
                              : "SELECT authsvc_revoke_user(id, 'user_revoke', NULL, NULL, 'cli') FROM users WHERE username = $1",
                          1, params);
    }
    if (res != NULL) {
        if (PQntuples(res) != 1) {
            fprintf(stderr, "authsvc: no user named %s\n", username);
        } else {
            if (strcmp(action, "enable") == 0)
                printf("user %s enabled\n", username);
            else
                printf("every token of %s revoked (token_version %s)%s\n", username, PQgetvalue(res, 0, 0),
                       strcmp(action, "disable") == 0 ? "; the user is disabled" : "");
            ret = 0;
        }
        PQclear(res);
    }
    PQfinish(pg);
    return ret;
}

/** Reads a password from standard input: one line, the trailing newline removed. */
static int read_password(char *buf, size_t size, size_t *len)
{
    size_t n = fread(buf, 1, size, stdin);
    if (n == size) {
        fprintf(stderr, "authsvc: the password is longer than %d bytes\n", AS_PASSWORD_MAX);
        return -1;
    }
    if (n > 0 && buf[n - 1] == '\n')
        --n;
    if (n > 0 && buf[n - 1] == '\r')
        --n;
    if (n == 0) {
        fprintf(stderr, "authsvc: empty password (give it on standard input)\n");
        return -1;
    }
    if (memchr(buf, '\0', n) != NULL || memchr(buf, '\n', n) != NULL) {
        fprintf(stderr, "authsvc: the password must be a single line\n");
        return -1;
    }
    *len = n;
    return 0;
}

static int cmd_user(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *conninfo = "", *action, *username;
    char pw[AS_PASSWORD_MAX + 1], phc[AS_PWHASH_MAX];
    size_t pwlen;
    PGconn *pg = NULL;
    PGresult *res;
    int c, ret = 1;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            conninfo = optarg;
            break;
        case 'h':
            fputs(usage_user, stdout);
            return 0;
        default:
            return as_cli_usage(usage_user, "%s", "invalid option");
        }
    }
    if (argc - optind != 2)
        return as_cli_usage(usage_user, "%s", "expected an action and a USERNAME");
    action = argv[optind];
    username = argv[optind + 1];
    if (username[0] == '\0' || strlen(username) > 255)
        return as_cli_usage(usage_user, "%s", "the username must have 1 to 255 characters");
    if (strcmp(action, "revoke") == 0 || strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0)
        return user_revoke(conninfo, action, username);
    if (strcmp(action, "add") != 0 && strcmp(action, "passwd") != 0)
        return as_cli_usage(usage_user, "unknown action: %s", action);
    if (read_password(pw, sizeof(pw), &pwlen) != 0)
        return 1;
    if (as_pwhash(pw, pwlen, phc) != 0) {
        fprintf(stderr, "authsvc: cannot hash the password\n");
        goto Exit;
    }
    if ((pg = as_cli_connect(conninfo)) == NULL)
        goto Exit;
    const char *params[] = {username, phc};
    if (strcmp(action, "add") == 0) {
        res = as_cli_exec(pg, PGRES_TUPLES_OK, "adding the user",
                          "INSERT INTO users (username, password_hash) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING RETURNING id",
                          2, params);
        if (res == NULL)
            goto Exit;
        if (PQntuples(res) != 1) {
            fprintf(stderr, "authsvc: user %s already exists\n", username);
        } else {
            printf("user %s added (id %s)\n", username, PQgetvalue(res, 0, 0));
            ret = 0;
        }
        PQclear(res);
    } else {
        /* one statement, so one transaction: new hash, new version, every family revoked, feed and audit entries */
        res = as_cli_exec(pg, PGRES_TUPLES_OK, "changing the password",
                          "SELECT authsvc_revoke_user(id, 'password_change', $2, NULL, 'cli') FROM users WHERE username = $1",
                          2, params);
        if (res == NULL)
            goto Exit;
        if (PQntuples(res) != 1) {
            fprintf(stderr, "authsvc: no user named %s\n", username);
        } else {
            printf("password of %s changed; every token issued before is revoked (token_version %s)\n", username,
                   PQgetvalue(res, 0, 0));
            ret = 0;
        }
        PQclear(res);
    }
Exit:
    as_wipe(pw, sizeof(pw));
    if (pg != NULL)
        PQfinish(pg);
    return ret;
}

/* --- client ----------------------------------------------------------------------------- */

static const char usage_client[] =
    "usage: authsvc client add CLIENT_ID [--grant GRANT]... [--audience AUD]... [--scope \"S1 S2\"]\n"
    "                          [--public] [--access-ttl SECONDS] [--refresh-idle-ttl SECONDS]\n"
    "                          [--refresh-max-ttl SECONDS] [--db CONNINFO]\n"
    "  The TTL options override the server's defaults for this client.\n"
    "  GRANT is client_credentials, password or refresh_token (default: client_credentials;\n"
    "  a public client must name its grants and cannot have client_credentials).\n"
    "  A confidential client's secret is printed as the last line: it is shown only once.\n";

/** Appends a JSON-free PostgreSQL array literal element, refusing characters that would need quoting. */
static int array_add(char *buf, size_t size, const char *item)
{
    size_t len = strlen(buf);
    if (item[0] == '\0' || strpbrk(item, "{},\"\\ \t\n") != NULL)
        return -1;
    if (len + strlen(item) + 3 >= size)
        return -1;
    if (len > 1)
        buf[len++] = ',';
    strcpy(buf + len, item);
    return 0;
}

static int cmd_client(int argc, char **argv)
{
    static const struct option opts[] = {
        {"grant", required_argument, NULL, 'g'}, {"audience", required_argument, NULL, 'a'}, {"scope", required_argument, NULL, 's'},
        {"public", no_argument, NULL, 'p'},      {"access-ttl", required_argument, NULL, 't'}, {"db", required_argument, NULL, 'd'},
        {"refresh-idle-ttl", required_argument, NULL, 'i'}, {"refresh-max-ttl", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *conninfo = "", *client_id, *access_ttl = NULL, *idle_ttl = NULL, *max_ttl = NULL;
    char grants[256] = "{", auds[4096] = "{", scopes[4096] = "{";
    int c, is_public = 0, ret = 1;
    unsigned grant_bits = 0;
    long v;
    PGconn *pg = NULL;
    PGresult *res;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'g': {
            unsigned bit = as_grant_parse(optarg, strlen(optarg));
            if (bit == 0)
                return as_cli_usage(usage_client, "unknown grant type: %s", optarg);
            if ((grant_bits & bit) == 0 && array_add(grants, sizeof(grants), optarg) != 0)
                return as_cli_usage(usage_client, "invalid grant: %s", optarg);
            grant_bits |= bit;
        } break;
        case 'a':
            if (array_add(auds, sizeof(auds), optarg) != 0)
                return as_cli_usage(usage_client, "invalid audience (no spaces, quotes, braces or commas): %s", optarg);
            break;
        case 's': {
            char *copy = as_strdup(optarg), *save = NULL;
            for (char *tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
                for (const char *p = tok; *p; ++p)
                    if ((unsigned char)*p < 0x21 || *p == '"' || *p == '\\' || (unsigned char)*p > 0x7e)
                        return as_cli_usage(usage_client, "invalid scope token: %s", tok);
                if (array_add(scopes, sizeof(scopes), tok) != 0)
                    return as_cli_usage(usage_client, "invalid scope token: %s", tok);
            }
            free(copy);
        } break;
        case 'p':
            is_public = 1;
            break;
        case 't':
            if (as_cli_parse_int(optarg, 1, 86400, &v) != 0)
                return as_cli_usage(usage_client, "invalid --access-ttl: %s", optarg);
            access_ttl = optarg;
            break;
        case 'i':
        case 'm':
            if (as_cli_parse_int(optarg, 1, 10 * 365 * 86400, &v) != 0)
                return as_cli_usage(usage_client, "invalid --refresh-%s-ttl: %s", c == 'i' ? "idle" : "max", optarg);
            *(c == 'i' ? &idle_ttl : &max_ttl) = optarg;
            break;
        case 'd':
            conninfo = optarg;
            break;
        case 'h':
            fputs(usage_client, stdout);
            return 0;
        default:
            return as_cli_usage(usage_client, "%s", "invalid option");
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "add") != 0)
        return as_cli_usage(usage_client, "%s", "expected: client add CLIENT_ID");
    client_id = argv[optind + 1];
    if (client_id[0] == '\0' || strlen(client_id) > 255 || strpbrk(client_id, ":") != NULL)
        return as_cli_usage(usage_client, "invalid client id (1 to 255 characters, no colon): %s", client_id);
    for (const char *p = client_id; *p; ++p)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return as_cli_usage(usage_client, "%s", "invalid client id: control character");
    if (grant_bits == 0) {
        if (is_public)
            return as_cli_usage(usage_client, "%s", "a public client needs --grant (password and/or refresh_token)");
        array_add(grants, sizeof(grants), "client_credentials");
        grant_bits = AS_GRANT_CLIENT_CREDENTIALS;
    }
    if (is_public && (grant_bits & AS_GRANT_CLIENT_CREDENTIALS))
        return as_cli_usage(usage_client, "%s", "a public client cannot use client_credentials");
    strcat(grants, "}");
    strcat(auds, "}");
    strcat(scopes, "}");

    uint8_t secret[32], hash[AS_SHA256_LEN];
    char secret_text[AS_B64URL_ENCLEN(32) + 1], hash_hex[2 + 2 * AS_SHA256_LEN + 1];
    as_random_bytes(secret, sizeof(secret));
    as_b64url_encode(secret, sizeof(secret), secret_text);
    as_sha256(secret_text, strlen(secret_text), hash);
    strcpy(hash_hex, "\\x");
    for (size_t i = 0; i != AS_SHA256_LEN; ++i)
        sprintf(hash_hex + 2 + 2 * i, "%02x", hash[i]);

    if ((pg = as_cli_connect(conninfo)) == NULL)
        goto Exit;
    const char *params[] = {client_id, is_public ? NULL : hash_hex, is_public ? "true" : "false", grants, auds, scopes, access_ttl,
                            idle_ttl, max_ttl};
    res = as_cli_exec(pg, PGRES_TUPLES_OK, "adding the client",
                      "INSERT INTO clients (client_id, secret_hash, public, grant_types, audiences, scopes, access_ttl,"
                      " refresh_idle_ttl, refresh_max_ttl)"
                      " VALUES ($1, $2::bytea, $3::boolean, $4::text[], $5::text[], $6::text[], $7::integer, $8::integer, $9::integer)"
                      " ON CONFLICT (client_id) DO NOTHING RETURNING client_id",
                      9, params);
    if (res == NULL)
        goto Exit;
    if (PQntuples(res) != 1) {
        fprintf(stderr, "authsvc: client %s already exists\n", client_id);
    } else {
        printf("client %s added (%s; grants %s; audiences %s; scopes %s)\n", client_id, is_public ? "public" : "confidential",
               grants, auds, scopes);
        if (!is_public) {
            printf("client secret (shown only once):\n%s\n", secret_text);
        }
        ret = 0;
    }
    PQclear(res);
Exit:
    as_wipe(secret, sizeof(secret));
    as_wipe(secret_text, sizeof(secret_text));
    if (pg != NULL)
        PQfinish(pg);
    return ret;
}

/* --- routes ----------------------------------------------------------------------------- */

static int cmd_routes(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return as_cli_usage("usage: authsvc routes\nPrints the HTTP routes, one \"METHOD PATH\" per line (HEAD is served wherever GET is).\n",
                            "%s", "routes takes no argument");
    as_app_print_routes(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"serve", cmd_serve}, {"migrate", cmd_migrate}, {"user", cmd_user}, {"client", cmd_client}, {"keys", as_cli_keys}, {"verify", as_cli_verify}, {"routes", cmd_routes}};

    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("authsvc %s\n", AS_VERSION);
        return 0;
    }
    for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* getopt_long permutes, so options may follow the positional arguments */
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "authsvc: unknown command %s\n%s", argv[1], usage_main);
    return 2;
}
