/*
 * authsvc serve — parses the serve command's options into the process
 * configuration and runs the token service (app/app.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/app/app.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/paths.h"
#include "authsvc/policy/policy.h"

#define DEFAULT_KEYS_DIR "keys"
#define AS_CLI_MAX_TRUSTED_PROXIES 32

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
    "                              successor instead of counting as reuse, while that successor is unused\n"
    "                              (default 60; at most 300; 0 turns it off)\n"
    "  --session-idle-ttl SECONDS  a browser's sign-in (SSO session) unused this long ends (default 1800)\n"
    "  --session-max-ttl SECONDS   a sign-in ends this long after the password was entered (default 36000, 10 h)\n"
    "  --threads N                 event threads (default: one per core)\n"
    "  --db-connections N          database connections per event thread (default 4)\n"
    "  --db-timeout MS             deadline of every database query (default 5000)\n"
    "  --max-body BYTES            largest request body accepted (default 16384)\n"
    "  --jwks-max-age SECONDS      how long verifiers may cache the JWKS (default 300)\n"
    "  --keys-reload SECONDS       how often the key directory is re-read (default 10; also on SIGHUP)\n"
    "  --drain-delay SECONDS       after SIGTERM, answer /readyz 503 and keep serving this long before closing the\n"
    "                              listeners, so load balancers stop sending first (default 0)\n"
    "  --client-cache-ttl SECONDS  how long a client record is reused before it is read again (default 5; 0: always\n"
    "                              read it: a changed or deleted client is seen at once)\n"
    "  --max-connections N         open client connections at most (default: the descriptor limit less a reserve\n"
    "                              for the database and the key directory)\n"
    "  --max-connections-per-address N\n"
    "                              per client address, IPv6 per /64 (default 256; 0: no cap; raise it behind a proxy)\n"
    "  --idle-timeout SECONDS      TLS handshake, HTTP/1.1 request, HTTP/2 connection without a new request\n"
    "                              (PINGs and other frames do not count) (default 10)\n"
    "  --password-min-length N     fewest characters of a new password, after NFKC (default 8; common passwords\n"
    "                              are refused whatever their length)\n"
    "  --access-log FILE           one JSON line per request (time, request id, method, path without its query,\n"
    "                              status, latency, client_id, grant, error, address); - for standard output\n"
    "  --admin-listen HOST:PORT    management listener for /metrics, /livez and /readyz (default: none; keep it on\n"
    "                              a loopback or private address)\n"
    "  --trusted-proxy CIDR        believe X-Forwarded-For from these addresses for the client address (repeat it;\n"
    "                              default: nobody's)\n"
    "  --h2-reset-budget N         HTTP/2 stream resets a connection may send beyond one per two streams it opened\n"
    "                              before it gets GOAWAY (default 100)\n"
    "  --h2-frame-budget N         HTTP/2 frames that produce no response (PING, SETTINGS, empty DATA...) beyond two\n"
    "                              per request before GOAWAY (default 200)\n"
    "  --db CONNINFO               libpq connection string (default: PG* environment)\n"
    "  --verbose                   log debug messages\n";

int as_cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},    {"tls-listen", required_argument, NULL, 'L'},
        {"tls-cert", required_argument, NULL, 'c'},  {"tls-key", required_argument, NULL, 'k'},
        {"issuer", required_argument, NULL, 'i'},    {"keys", required_argument, NULL, 'K'},
        {"access-ttl", required_argument, NULL, 'a'}, {"refresh-idle-ttl", required_argument, NULL, 'r'},
        {"refresh-max-ttl", required_argument, NULL, 'R'}, {"refresh-grace", required_argument, NULL, 'g'}, {"threads", required_argument, NULL, 't'},
        {"db-connections", required_argument, NULL, 'C'}, {"db-timeout", required_argument, NULL, 'T'},
        {"max-body", required_argument, NULL, 'b'}, {"jwks-max-age", required_argument, NULL, 'J'}, {"client-cache-ttl", required_argument, NULL, 'c' + 256}, {"keys-reload", required_argument, NULL, 'K' + 256}, {"drain-delay", required_argument, NULL, 'D' + 256}, {"session-idle-ttl", required_argument, NULL, 's' + 256}, {"session-max-ttl", required_argument, NULL, 'S' + 256},
        {"max-connections", required_argument, NULL, 'M' + 256}, {"max-connections-per-address", required_argument, NULL, 'P' + 256},
        {"idle-timeout", required_argument, NULL, 'I' + 256}, {"password-min-length", required_argument, NULL, 'p' + 256},  {"db", required_argument, NULL, 'd'},
        {"access-log", required_argument, NULL, 'A' + 256}, {"admin-listen", required_argument, NULL, 'a' + 256},
        {"trusted-proxy", required_argument, NULL, 'x' + 256}, {"h2-reset-budget", required_argument, NULL, 'r' + 256},
        {"h2-frame-budget", required_argument, NULL, 'f' + 256},
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
        .max_connections_per_address = 256,
        .idle_timeout = 10,
        .h2_reset_budget = 100,
        .h2_frame_budget = 200,
        .oauth = {.jwks_max_age = 300, .client_cache_ttl = 5, .access_ttl = 300, .refresh_idle_ttl = 14 * 86400, .refresh_max_ttl = 90 * 86400, .refresh_grace = 60,
                  .session_idle_ttl = 1800, .session_max_ttl = 36000, .code_ttl = 60},
    };
    static const char *proxies[AS_CLI_MAX_TRUSTED_PROXIES];
    char issuer[512], blocklist[4096];
    long min_length = AS_POLICY_MIN_LENGTH_DEFAULT;
    as_policy_t *policy = NULL;
    int c, ret;
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
        case 'M' + 256:
        case 'P' + 256:
            if (as_cli_parse_int(optarg, c == 'M' + 256 ? 1 : 0, 10000000, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --max-connections%s: %s", c == 'M' + 256 ? "" : "-per-address", optarg);
            *(c == 'M' + 256 ? &cfg.max_connections : &cfg.max_connections_per_address) = (size_t)v;
            break;
        case 'A' + 256:
            cfg.access_log = optarg;
            break;
        case 'a' + 256:
            cfg.admin_listen = optarg;
            break;
        case 'x' + 256:
            if (cfg.num_trusted_proxies == AS_CLI_MAX_TRUSTED_PROXIES)
                return as_cli_usage(usage_serve, "at most %d --trusted-proxy", AS_CLI_MAX_TRUSTED_PROXIES);
            proxies[cfg.num_trusted_proxies++] = optarg;
            cfg.trusted_proxies = proxies;
            break;
        case 'r' + 256:
        case 'f' + 256:
            if (as_cli_parse_int(optarg, 1, 1000000, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --h2-%s-budget (1 to 1000000): %s", c == 'r' + 256 ? "reset" : "frame", optarg);
            *(c == 'r' + 256 ? &cfg.h2_reset_budget : &cfg.h2_frame_budget) = (size_t)v;
            break;
        case 'I' + 256:
            if (as_cli_parse_int(optarg, 1, 3600, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --idle-timeout (1 to 3600 seconds): %s", optarg);
            cfg.idle_timeout = (int)v;
            break;
        case 'p' + 256:
            if (as_cli_parse_int(optarg, 1, 256, &min_length) != 0)
                return as_cli_usage(usage_serve, "invalid --password-min-length (1 to 256): %s", optarg);
            break;
        case 'D' + 256:
            if (as_cli_parse_int(optarg, 0, 300, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --drain-delay (0 to 300 seconds): %s", optarg);
            cfg.drain_delay = (int)v;
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
        case 's' + 256:
        case 'S' + 256:
            if (as_cli_parse_int(optarg, 60, 31536000, &v) != 0)
                return as_cli_usage(usage_serve, "invalid --session-%s-ttl (60 seconds to a year): %s", c == 's' + 256 ? "idle" : "max", optarg);
            *(c == 's' + 256 ? &cfg.oauth.session_idle_ttl : &cfg.oauth.session_max_ttl) = (int)v;
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
    if (as_cli_share_file(AS_POLICY_BLOCKLIST_NAME, blocklist, sizeof(blocklist)) != 0) {
        fprintf(stderr, "authsvc: cannot find %s beside the binary or in its share directory\n", AS_POLICY_BLOCKLIST_NAME);
        return 1;
    }
    if (as_policy_create(blocklist, (size_t)min_length, &policy) != 0)
        return 1;
    as_info("password policy: at least %ld characters, %zu common passwords refused", min_length, as_policy_blocklist_size(policy));
    cfg.oauth.password_policy = policy;
    ret = as_app_run(&cfg);
    as_policy_dispose(policy);
    return ret;
}
