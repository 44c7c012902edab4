/*
 * authsvc serve — the token service's settings, each declared once in the table
 * below (its flag, its AUTHSVC_ environment variable, its key in the --config
 * file, its type and bounds, its default, where it lands in as_app_config_t and
 * its help), read with the precedence flag > environment > file > default; then
 * either `--check` (validate everything, serve nothing) or the service (app/app.h).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/app/app.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"
#include "authsvc/cli/paths.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/listen.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/policy/policy.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/** Everything `serve` reads: the service's configuration and what only this command uses. */
typedef struct st_serve_t {
    as_app_config_t app;
    const char *config;           /* --config FILE */
    const char *db_password_file; /* the database password, from a file */
    long password_min_length;
    int verbose, check, help_config;
} serve_t;

#define T serve_t
static const as_opt_t serve_opts[] = {
    {.name = "config", AS_OPT_AT_STRING(T, config), .arg = "FILE", .flags = AS_OPT_NO_FILE,
     .help = "read settings from FILE: `name = value` lines (the option's name without --), # comments, a list by "
             "repeating its name (deploy/authsvc.conf.example)"},
    {.name = "listen", AS_OPT_AT_STRING(T, app.listen), .arg = "HOST:PORT", .def = "127.0.0.1:8080",
     .help = "HTTP/1.1 and h2c (port 0 picks a free one); refused if the port is in use, unless --reuse-port"},
    {.name = "tls-listen", AS_OPT_AT_STRING(T, app.tls_listen), .arg = "HOST:PORT",
     .help = "also serve TLS (ALPN h2) there; needs --tls-cert and --tls-key"},
    {.name = "tls-cert", AS_OPT_AT_STRING(T, app.tls_cert), .arg = "FILE", .help = "the TLS certificate chain (PEM)"},
    {.name = "tls-key", AS_OPT_AT_STRING(T, app.tls_key), .arg = "FILE", .help = "the TLS private key (PEM; keep it mode 0600)"},
    {.name = "issuer", AS_OPT_AT_STRING(T, app.oauth.issuer), .arg = "URL", .shown_def = "http://HOST:PORT of --listen",
     .help = "the iss of every token: the public URL clients use"},
    {.name = "keys", AS_OPT_AT_STRING(T, app.keys_dir), .arg = "DIR", .def = "keys", .help = "signing-key directory"},
    {.name = "access-ttl", AS_OPT_AT_INT(T, app.oauth.access_ttl), .min = 1, .max = 31536000, .def = "300", .arg = "SECONDS",
     .help = "access-token lifetime"},
    {.name = "refresh-idle-ttl", AS_OPT_AT_INT(T, app.oauth.refresh_idle_ttl), .min = 1, .max = 31536000, .def = "1209600",
     .shown_def = "1209600 (14 days)", .arg = "SECONDS", .help = "a refresh token unused this long expires"},
    {.name = "refresh-max-ttl", AS_OPT_AT_INT(T, app.oauth.refresh_max_ttl), .min = 1, .max = 31536000, .def = "7776000",
     .shown_def = "7776000 (90 days)", .arg = "SECONDS",
     .help = "absolute lifetime of a login's refresh tokens; rotation never extends it"},
    {.name = "refresh-grace", AS_OPT_AT_INT(T, app.oauth.refresh_grace), .min = 0, .max = 300, .def = "60", .arg = "SECONDS",
     .help = "a retry with a just-rotated refresh token within this window gets the same successor instead of counting as "
             "reuse, while that successor is unused (0 turns it off)"},
    {.name = "refresh-token-format", AS_OPT_AT_INT(T, app.oauth.refresh_format), .min = 1, .max = 2, .def = "2", .arg = "N",
     .help = "the refresh-token format of new logins: 2 (91 characters; a rotation updates one row) or 1 (43 characters, "
             "the only one versions before migration 0007 read: set it while such instances still serve). Tokens already "
             "issued keep their format and work either way"},
    {.name = "session-idle-ttl", AS_OPT_AT_INT(T, app.oauth.session_idle_ttl), .min = 60, .max = 31536000, .def = "1800",
     .arg = "SECONDS", .help = "a browser's sign-in (SSO session) unused this long ends"},
    {.name = "session-max-ttl", AS_OPT_AT_INT(T, app.oauth.session_max_ttl), .min = 60, .max = 31536000, .def = "36000",
     .shown_def = "36000 (10 h)", .arg = "SECONDS", .help = "a sign-in ends this long after the password was entered"},
    {.name = "threads", AS_OPT_AT_INT(T, app.num_threads), .min = 0, .max = 256, .def = "0", .shown_def = "0 (one per core)",
     .arg = "N", .help = "event threads, each with its own loop and database connections (0: one per core)"},
    {.name = "password-workers-nice", AS_OPT_AT_INT(T, app.pwcheck_nice), .min = 0, .max = 19, .def = "10", .arg = "N",
     .help = "how many nice steps below the event threads the password-hashing (argon2id) threads run: when the CPU is "
             "short, token, refresh and JWKS requests go first and logins take what is left (0: equal priority)"},
    {.name = "db-connections", AS_OPT_AT_INT(T, app.db_connections), .min = 1, .max = 256, .def = "4", .arg = "N",
     .help = "database connections per event thread"},
    {.name = "db-timeout", AS_OPT_AT_INT(T, app.db_timeout), .min = 1, .max = 600000, .def = "5000", .arg = "MS",
     .help = "deadline of every database query, in milliseconds"},
    {.name = "max-body", AS_OPT_AT_INT(T, app.max_body), .min = 1, .max = 1048576, .def = "16384", .arg = "BYTES",
     .help = "largest request body accepted"},
    {.name = "jwks-max-age", AS_OPT_AT_INT(T, app.oauth.jwks_max_age), .min = 0, .max = 86400, .def = "300", .arg = "SECONDS",
     .help = "how long verifiers may cache the JWKS"},
    {.name = "keys-reload", AS_OPT_AT_INT(T, app.keys_reload_interval), .min = 1, .max = 3600, .def = "10", .arg = "SECONDS",
     .help = "how often the key directory is re-read (also on SIGHUP)"},
    {.name = "drain-delay", AS_OPT_AT_INT(T, app.drain_delay), .min = 0, .max = 300, .def = "0", .arg = "SECONDS",
     .help = "after SIGTERM, answer /readyz 503 and keep serving this long before closing the listeners, so load "
             "balancers stop sending first"},
    {.name = "client-cache-ttl", AS_OPT_AT_INT(T, app.oauth.client_cache_ttl), .min = 0, .max = 3600, .def = "5",
     .arg = "SECONDS",
     .help = "how long a client record is reused before it is read again (0: always read it: a changed or deleted client "
             "is seen at once)"},
    {.name = "max-connections", AS_OPT_AT_INT(T, app.max_connections), .min = 1, .max = 10000000, .arg = "N",
     .shown_def = "the descriptor limit less a reserve for the database and the key directory",
     .help = "open client connections at most"},
    {.name = "max-connections-per-address", AS_OPT_AT_INT(T, app.max_connections_per_address), .min = 0, .max = 10000000,
     .def = "256", .arg = "N", .help = "per client address, IPv6 per /64 (0: no cap; raise it behind a proxy)"},
    {.name = "idle-timeout", AS_OPT_AT_INT(T, app.idle_timeout), .min = 1, .max = 3600, .def = "10", .arg = "SECONDS",
     .help = "TLS handshake, HTTP/1.1 request, HTTP/2 connection without a new request (PINGs and other frames do not "
             "count)"},
    {.name = "password-min-length", AS_OPT_AT_INT(T, password_min_length), .min = 1, .max = 256,
     .def = STR(AS_POLICY_MIN_LENGTH_DEFAULT), .arg = "N",
     .help = "fewest characters of a new password, after NFKC (common passwords are refused whatever their length)"},
    {.name = "access-log", AS_OPT_AT_STRING(T, app.access_log), .arg = "FILE",
     .help = "one JSON line per request (time, request id, method, path without its query, status, latency, client_id, "
             "grant, error, address); - for standard output"},
    {.name = "admin-listen", AS_OPT_AT_STRING(T, app.admin_listen), .arg = "HOST:PORT",
     .help = "management listener for /metrics, /livez and /readyz; a bare PORT means 127.0.0.1:PORT (keep it on a "
             "loopback or private address)"},
    {.name = "trusted-proxy", AS_OPT_AT_LIST(T, app.trusted_proxies, app.num_trusted_proxies), .max = 32, .arg = "CIDR",
     .help = "believe X-Forwarded-For from these addresses for the client address (repeat it, at most 32; in the "
             "environment separated by commas)"},
    {.name = "h2-reset-budget", AS_OPT_AT_INT(T, app.h2_reset_budget), .min = 1, .max = 1000000, .def = "100", .arg = "N",
     .help = "HTTP/2 stream resets a connection may send beyond one per two streams it opened before it gets GOAWAY"},
    {.name = "h2-frame-budget", AS_OPT_AT_INT(T, app.h2_frame_budget), .min = 1, .max = 1000000, .def = "200", .arg = "N",
     .help = "HTTP/2 frames that produce no response (PING, SETTINGS, empty DATA...) beyond two per request before GOAWAY"},
    {.name = "db", AS_OPT_AT_STRING(T, app.conninfo), .arg = "CONNINFO", .shown_def = "libpq's PG* environment",
     .help = "libpq connection string; a password in it only from the environment or the file, never the command line "
             "(or use --db-password-file or PGPASSFILE)"},
    {.name = "db-password-file", AS_OPT_AT_STRING(T, db_password_file), .arg = "FILE",
     .help = "the database password: the first line of FILE (keep it mode 0600)"},
    {.name = "reuse-port", AS_OPT_AT_FLAG(T, app.reuse_port),
     .help = "start even if the listen ports are held, sharing them with the authsvc that holds them (a zero-downtime "
             "restart: start the new one with it, then stop the old one)"},
    {.name = "verbose", AS_OPT_AT_FLAG(T, verbose), .help = "log debug messages"},
    {.name = "check", AS_OPT_AT_FLAG(T, check), .flags = AS_OPT_CLI_ONLY,
     .help = "check the whole configuration (settings, keys, TLS files, password list, database and its migrations, "
             "listen addresses), say what is wrong and exit, without serving"},
    {.name = "help-config", AS_OPT_AT_FLAG(T, help_config), .flags = AS_OPT_CLI_ONLY,
     .help = "print this table in Markdown (docs/operations.md has it)"},
};
#undef T
#define NUM_OPTS (sizeof(serve_opts) / sizeof(serve_opts[0]))

/** The usage text (owner: the caller), written from the table. */
static char *make_usage(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL)
        abort();
    fputs("usage: authsvc serve [OPTIONS]\n", out);
    as_opt_print_help(serve_opts, NUM_OPTS, out);
    fputs("Every option but --check and --help-config can also be given as an environment variable, AUTHSVC_ and its name\n"
          "in upper case with - as _ (AUTHSVC_DB_TIMEOUT=3000), or in the --config file (AUTHSVC_CONFIG) as `name = value`.\n"
          "The command line wins over the environment, which wins over the file.\n",
          out);
    fclose(out);
    return text;
}

/** 1 if a libpq conninfo (key=value or URI) carries a password. */
static int conninfo_has_password(const char *conninfo)
{
    const char *p, *at, *colon;
    if (strncmp(conninfo, "postgres://", 11) == 0 || strncmp(conninfo, "postgresql://", 13) == 0) {
        p = strstr(conninfo, "://") + 3;
        at = strchr(p, '@');
        colon = strchr(p, ':');
        if (at != NULL && colon != NULL && colon < at && strcspn(p, "/?") > (size_t)(at - p))
            return 1;
        return strstr(conninfo, "password=") != NULL;
    }
    for (p = conninfo; (p = strcasestr(p, "password")) != NULL; p += 8) {
        const char *q = p + 8;
        if (p != conninfo && p[-1] != ' ' && p[-1] != '\t')
            continue;
        while (*q == ' ' || *q == '\t')
            ++q;
        if (*q == '=')
            return 1;
    }
    return 0;
}

/** --db-password-file: its first line becomes libpq's PGPASSWORD (read before any connection, one thread). */
static int load_db_password(const char *path)
{
    char line[1024];
    FILE *fp = fopen(path, "r");
    size_t n;
    if (fp == NULL) {
        fprintf(stderr, "authsvc: --db-password-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fgets(line, sizeof(line), fp) == NULL)
        line[0] = '\0';
    fclose(fp);
    n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (n == 0) {
        fprintf(stderr, "authsvc: --db-password-file %s: empty\n", path);
        return -1;
    }
    setenv("PGPASSWORD", line, 1);
    as_wipe(line, sizeof(line));
    return 0;
}

/**
 * Reads the settings into `s`: defaults, then the file, the environment and the
 * command line, each over the one before. Returns -1 to go on, or the exit status.
 */
static int read_settings(int argc, char **argv, const char *usage, serve_t *s, char **file_text, char **env_text)
{
    serve_t flags;
    unsigned char given[NUM_OPTS] = {0};
    char err[4200];
    int first, ret;
    const char *config;

    memset(&flags, 0, sizeof(flags));
    if ((ret = as_opt_parse_argv(serve_opts, NUM_OPTS, usage, argc, argv, &flags, given, &first)) != -1)
        goto Exit;
    ret = 2;
    if (first != argc) {
        as_cli_usage(usage, "unexpected argument: %s", argv[first]);
        goto Exit;
    }
    if (flags.help_config) {
        as_opt_print_markdown(serve_opts, NUM_OPTS, stdout);
        ret = 0;
        goto Exit;
    }
    if (flags.app.conninfo != NULL && conninfo_has_password(flags.app.conninfo)) {
        fprintf(stderr, "authsvc: --db: a password on the command line is visible to every user of this machine (ps); "
                        "put the connection string in AUTHSVC_DB or the --config file, or the password in "
                        "--db-password-file FILE or libpq's PGPASSFILE\n");
        goto Exit;
    }
    if (as_opt_defaults(serve_opts, NUM_OPTS, s, err, sizeof(err)) != 0)
        abort(); /* a default the table cannot parse */
    s->app.conninfo = "";
    s->app.oauth.code_ttl = 60;
    config = flags.config != NULL ? flags.config : getenv("AUTHSVC_CONFIG");
    if (config != NULL && config[0] != '\0' &&
        as_opt_apply_file(serve_opts, NUM_OPTS, s, config, file_text, err, sizeof(err)) != 0) {
        fprintf(stderr, "authsvc: %s\n", err);
        goto Exit;
    }
    if (as_opt_apply_env(serve_opts, NUM_OPTS, s, env_text, err, sizeof(err)) != 0) {
        fprintf(stderr, "authsvc: %s\n", err);
        goto Exit;
    }
    for (size_t i = 0; i != NUM_OPTS; ++i)
        if (given[i])
            as_opt_copy(serve_opts + i, s, &flags);
    ret = -1;
Exit:
    as_opt_dispose(serve_opts, NUM_OPTS, &flags);
    return ret;
}

/** Checks what the settings alone can tell; 0 or the exit status after the message. */
/** 1 if `listen` (HOST:PORT) binds every address: 0.0.0.0, [::] or no host, which no client can use in a URL. */
static int is_wildcard(const char *listen)
{
    char host[256], port[16];
    struct in_addr v4;
    struct in6_addr v6;
    if (as_http_parse_hostport(listen, host, sizeof(host), port, sizeof(port)) != 0)
        return 0; /* said later, by whoever binds it */
    if (host[0] == '\0')
        return 1;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return v4.s_addr == htonl(INADDR_ANY);
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&v6);
}

static int check_settings(serve_t *s, const char *usage)
{
    if (s->app.tls_listen != NULL && (s->app.tls_cert == NULL || s->app.tls_key == NULL))
        return as_cli_usage(usage, "%s", "--tls-listen needs --tls-cert and --tls-key");
    /* without --issuer, app/ makes http://HOST:PORT of --listen once the port is bound */
    if (s->app.oauth.issuer == NULL && is_wildcard(s->app.listen))
        return as_cli_usage(usage, "%s", "--listen on a wildcard address needs --issuer (the URL clients use)");
    if (s->app.oauth.issuer != NULL && (strlen(s->app.oauth.issuer) > 400 || strncmp(s->app.oauth.issuer, "http", 4) != 0))
        return as_cli_usage(usage, "the issuer must be an http(s) URL of at most 400 characters: %s", s->app.oauth.issuer);
    if (s->db_password_file != NULL && load_db_password(s->db_password_file) != 0)
        return 1;
    return 0;
}

/** One line of `--check`: "ok  WHAT" or "FAILED  WHAT: WHY"; returns 0 or 1 (a failure). */
static int report(const char *what, const char *why)
{
    if (why == NULL) {
        printf("ok      %s\n", what);
        return 0;
    }
    printf("FAILED  %s: %s\n", what, why);
    fflush(stdout);
    fprintf(stderr, "authsvc: %s: %s\n", what, why);
    return 1;
}

static int check_address(const char *name, const char *spec)
{
    char host[256], port[16], what[320], why[320];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int r;
    snprintf(what, sizeof(what), "--%s %s", name, spec);
    if (as_http_parse_hostport(spec, host, sizeof(host), port, sizeof(port)) != 0)
        return report(what, "expected HOST:PORT ([V6]:PORT)");
    if ((r = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res)) != 0) {
        snprintf(why, sizeof(why), "cannot resolve it: %s", gai_strerror(r));
        return report(what, why);
    }
    freeaddrinfo(res);
    return report(what, NULL);
}

/** `serve --check`: everything serving would need, each said ok or what is wrong; the exit status. */
static int run_check(const serve_t *s)
{
    const as_app_config_t *cfg = &s->app;
    char what[4200], why[4200], dir[4096];
    as_keyset_t *ks;
    as_admin_t *db;
    int failed = 0;

    report("settings (command line, environment, file)", NULL);
    failed += check_address("listen", cfg->listen);
    if (cfg->tls_listen != NULL)
        failed += check_address("tls-listen", cfg->tls_listen);
    if (cfg->admin_listen != NULL) { /* a bare PORT means 127.0.0.1:PORT */
        char admin[300];
        failed += as_http_admin_address(cfg->admin_listen, admin, sizeof(admin)) == 0
                      ? check_address("admin-listen", admin)
                      : report("--admin-listen", "expected HOST:PORT or PORT");
    }

    snprintf(what, sizeof(what), "signing keys in %s", cfg->keys_dir);
    if (as_keyset_load(cfg->keys_dir, (int64_t)time(NULL), &ks, why, sizeof(why)) == 0) {
        as_keyset_release(ks);
        failed += report(what, NULL);
    } else {
        failed += report(what, why);
    }
    if (cfg->tls_listen != NULL) {
        struct ssl_ctx_st *ctx = as_tls_server_ctx(cfg->tls_cert, cfg->tls_key);
        snprintf(what, sizeof(what), "TLS certificate %s and key %s", cfg->tls_cert, cfg->tls_key);
        failed += report(what, ctx != NULL ? NULL : "cannot be loaded (the log above says why)");
        as_tls_ctx_free(ctx);
    }
    report("password policy and its common-password list", NULL); /* loaded before: a failure ended the command */

    if (as_admin_connect(cfg->conninfo, &db, why, sizeof(why)) != 0) {
        why[strcspn(why, "\n")] = '\0';
        failed += report("database connection", why);
    } else {
        size_t pending;
        char first[256];
        report("database connection", NULL);
        if (as_cli_migrations_dir(NULL, dir, sizeof(dir)) != 0) {
            failed += report("database migrations", "no migrations directory found (set AUTHSVC_MIGRATIONS)");
        } else if (as_admin_migrations_pending(db, dir, &pending, first, sizeof(first)) != 0) {
            snprintf(why, sizeof(why), "%s", as_admin_error(db));
            why[strcspn(why, "\n")] = '\0';
            failed += report("database migrations", why);
        } else if (pending != 0) {
            snprintf(why, sizeof(why), "%zu not applied, from %s: run `authsvc migrate`", pending, first);
            failed += report("database migrations", why);
        } else {
            report("database migrations", NULL);
        }
        as_admin_close(db);
    }
    if (failed != 0) {
        printf("%d check(s) failed\n", failed);
        return 1;
    }
    printf("configuration OK\n");
    return 0;
}

int as_cli_serve(int argc, char **argv)
{
    serve_t s;
    char *usage = make_usage(), *file_text = NULL, *env_text = NULL, blocklist[4096];
    as_policy_t *policy = NULL;
    int ret;

    memset(&s, 0, sizeof(s));
    if ((ret = read_settings(argc, argv, usage, &s, &file_text, &env_text)) != -1)
        goto Exit;
    if (s.verbose)
        as_log_level = AS_LOG_DEBUG;
    if ((ret = check_settings(&s, usage)) != 0)
        goto Exit;
    ret = 1;
    if (as_cli_share_file(AS_POLICY_BLOCKLIST_NAME, blocklist, sizeof(blocklist)) != 0) {
        fprintf(stderr, "authsvc: cannot find %s beside the binary or in its share directory\n", AS_POLICY_BLOCKLIST_NAME);
        goto Exit;
    }
    if (as_policy_create(blocklist, (size_t)s.password_min_length, &policy) != 0)
        goto Exit;
    as_info("password policy: at least %ld characters, %zu common passwords refused", s.password_min_length,
            as_policy_blocklist_size(policy));
    s.app.oauth.password_policy = policy;
    ret = s.check ? run_check(&s) : as_app_run(&s.app);
Exit:
    as_policy_dispose(policy);
    as_opt_dispose(serve_opts, NUM_OPTS, &s);
    free(file_text);
    free(env_text);
    free(usage);
    return ret;
}
