/*
 * app/ — the wiring: `authsvc serve` as a process. It owns the process-wide
 * objects (h2o's configuration, the TLS context, the argon2 workers, the
 * dummy password hash, the key directory and its reloads, signals) and every
 * event thread with its per-thread context (loop, database pool, client
 * cache, key view, router); it is the one place that knows every endpoint
 * module and registers it. Nothing below includes it.
 */
#ifndef AS_APP_H
#define AS_APP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "authsvc/oauth/oauth.h"

typedef struct st_as_app_config_t {
    const char *listen;       /* HOST:PORT for HTTP/1.1 and h2c; port 0 picks one */
    const char *tls_listen;   /* HOST:PORT for TLS (ALPN h2, http/1.1), or NULL */
    const char *tls_cert;     /* PEM certificate chain */
    const char *tls_key;      /* PEM private key */
    const char *keys_dir;
    const char *conninfo;
    size_t num_threads;       /* event threads; 0: one per core */
    size_t db_connections;    /* per event thread */
    uint64_t db_timeout;      /* milliseconds */
    size_t pwcheck_threads;   /* argon2id workers; 0: one per core */
    int pwcheck_nice;         /* how much lower the workers' CPU priority is than the event threads' (nice steps) */
    size_t max_body;          /* bytes: a larger request body gets 413 */
    int keys_reload_interval; /* seconds between re-reads of the key directory */
    int drain_delay;          /* seconds between SIGTERM (/readyz then says draining) and closing the listeners */
    size_t max_connections;   /* open client connections; 0: what the descriptor limit leaves after a reserve */
    size_t max_connections_per_address; /* 0: no cap */
    int idle_timeout;         /* seconds: see as_http_server_config_t */
    const char *access_log;   /* a file for one JSON line per request, "-" for standard output, NULL: none */
    const char *admin_listen; /* HOST:PORT of the management listener (/metrics, /livez, /readyz); NULL: none */
    const char *const *trusted_proxies; /* CIDRs whose X-Forwarded-For is believed for the client address */
    size_t num_trusted_proxies;
    size_t h2_reset_budget;   /* HTTP/2 streams a connection may reset beyond one per two it opened */
    size_t h2_frame_budget;   /* HTTP/2 frames that produce no response, beyond two per request */
    int reuse_port;           /* share a listen port another authsvc holds (SO_REUSEPORT); 0: refuse to start */
    as_oauth_config_t oauth;
} as_app_config_t;

/**
 * Serves until SIGTERM or SIGINT (then returns 0); SIGHUP re-reads the key
 * directory. Prints "listening on http://HOST:PORT" to standard output once the
 * port accepts connections. Returns non-zero if it cannot start. Main thread.
 */
int as_app_run(as_app_config_t *config);

/** Prints the route table, one "METHOD PATH" line per route (HEAD implied by GET), as `authsvc routes` does. */
void as_app_print_routes(FILE *out);

#endif
