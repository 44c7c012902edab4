/*
 * http/server — `authsvc serve`: one h2o evloop per event thread, each with its
 * own context, database pool and listening socket (SO_REUSEPORT), sharing the
 * read-only configuration and key set. Main thread: signals and key reloads.
 */
#ifndef AS_HTTP_SERVER_H
#define AS_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "authsvc/oauth/oauth.h"

typedef struct st_as_server_config_t {
    const char *listen;     /* HOST:PORT for HTTP/1.1 and h2c; port 0 picks one */
    const char *tls_listen; /* HOST:PORT for TLS (ALPN h2, http/1.1), or NULL */
    const char *tls_cert;   /* PEM certificate chain */
    const char *tls_key;    /* PEM private key */
    const char *keys_dir;
    const char *conninfo;
    size_t num_threads;     /* event threads; 0: one per core */
    size_t db_connections;  /* per event thread */
    uint64_t db_timeout;    /* milliseconds */
    size_t pwcheck_threads; /* argon2id workers; 0: one per core */
    int jwks_max_age;       /* seconds, for the JWKS Cache-Control */
    int keys_reload_interval; /* seconds between re-reads of the key directory */
    as_oauth_config_t oauth;
} as_server_config_t;

/**
 * Serves until SIGTERM or SIGINT (then returns 0); SIGHUP re-reads the key
 * directory. Prints "listening on http://HOST:PORT" to standard output once the
 * port accepts connections. Returns non-zero if it cannot start.
 */
int as_server_run(as_server_config_t *config);

#endif
