/*
 * http/listen — the HTTP server without any endpoint: h2o's configuration,
 * listening sockets (one per event thread, SO_REUSEPORT), one h2o context per
 * event thread whose requests go to that thread's router, and the graceful
 * drain at shutdown. One cleartext port serves HTTP/1.1, h2c with prior
 * knowledge and h2c Upgrade; the TLS port negotiates h2 or HTTP/1.1 by ALPN.
 *
 * The management listener (--admin-listen) is a second cleartext port on
 * every event thread with its own h2o host configuration and its own router
 * (only what ops/ registers there: /livez, /readyz, /metrics), its own small
 * connection cap (clients filling the public cap cannot starve the probes),
 * and no access log or request metrics (a scrape every few seconds is not
 * traffic). Each thread listens on it (SO_REUSEPORT) so that a probe answered
 * proves some event loop turns, and a scrape never waits behind one busy loop.
 */
#ifndef AS_HTTP_LISTEN_H
#define AS_HTTP_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include "authsvc/http/router.h"

/** What the HTTP server accepts. */
typedef struct st_as_http_server_config_t {
    size_t max_entity;                  /* bytes h2o itself accepts (its own answer above it is not ours: keep it above the
                                         * routers' limit) */
    size_t max_connections;             /* open client connections per process; 0: no cap */
    size_t max_connections_per_address; /* per client address (IPv6: per /64); 0: no cap */
    int access_log_fd;                  /* one JSON line per request goes there; -1: no access log */
    uint64_t h2_reset_budget;           /* HTTP/2 resets and frames without a response a connection may send (http/guard.h) */
    uint64_t h2_frame_budget;
    uint64_t idle_timeout;              /* milliseconds: TLS handshake, an HTTP/1.1 request, an HTTP/2 connection without a
                                         * new request (PINGs and other frames do not count) */
    int admin;                          /* 1: also set up the management listener's configuration */
} as_http_server_config_t;

/** Process-wide: created before the event threads, read-only while they run (the connection counts aside). */
typedef struct st_as_http_server_t {
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    struct ssl_ctx_st *ssl_ctx; /* NULL: no TLS listener */
    struct st_as_http_limits_t *limits;
    h2o_globalconf_t admin_globalconf; /* the management listener's (when config->admin) */
    struct st_as_http_limits_t *admin_limits; /* NULL: no management listener */
} as_http_server_t;

/**
 * Sets up h2o's configuration from `config`. `ssl_ctx` (or NULL) gets ALPN
 * h2 registered; the server does not own it.
 */
void as_http_server_init(as_http_server_t *server, const as_http_server_config_t *config, struct ssl_ctx_st *ssl_ctx);
void as_http_server_dispose(as_http_server_t *server);

/** Per event thread; embed it in the thread's own state. */
typedef struct st_as_http_thread_t {
    h2o_context_t ctx; /* h2o hands it back with every request: how dispatch finds the router */
    as_router_t router;
    as_router_t admin_router; /* the management listener's routes (empty without one) */
    h2o_socket_t *listener, *tls_listener, *admin_listener;
    h2o_accept_ctx_t accept_ctx, tls_accept_ctx, admin_accept_ctx;
    struct st_as_http_limits_t *limits, *admin_limits;
    h2o_timeout_t accept_pause;        /* out of descriptors: how long the listeners rest */
    h2o_timeout_entry_t accept_resume; /* linked while they rest */
} as_http_thread_t;

/**
 * Creates the thread's event loop and h2o context (on that thread) and an
 * empty router with a body limit of `max_body` bytes, for the modules to
 * register into.
 */
void as_http_thread_init(as_http_thread_t *thr, as_http_server_t *server, size_t max_body);

/** Starts accepting on `fd` (cleartext) and `tls_fd` (-1: none); the sockets are the thread's from now on. */
void as_http_thread_listen(as_http_thread_t *thr, as_http_server_t *server, int fd, int tls_fd);

/** Starts accepting management connections on `fd` (the server must have been set up with config->admin). */
void as_http_thread_listen_admin(as_http_thread_t *thr, as_http_server_t *server, int fd);

/**
 * Stops accepting, sends HTTP/2 GOAWAY and runs the loop until the open
 * connections are done or `max_ms` milliseconds have passed.
 */
void as_http_thread_drain(as_http_thread_t *thr, uint64_t max_ms);

/**
 * Hands the buffers h2o keeps for reuse on this thread back to malloc (their pages can then be trimmed). Loop
 * thread; call it now and then (the server does once a second).
 */
void as_http_thread_release(as_http_thread_t *thr);

/** Frees the router (the loop and context live until the process exits: h2o 2.2.5 cannot destroy them). */
void as_http_thread_dispose(as_http_thread_t *thr);

/**
 * Splits "HOST:PORT" or "[V6]:PORT" (HOST may be empty: every address).
 * Returns 0 or AS_ERR_BAD_INPUT.
 */
int as_http_parse_hostport(const char *spec, char *host, size_t hostlen, char *port, size_t portlen);

/**
 * The management listener's address from --admin-listen: "HOST:PORT" as
 * given, or a bare "PORT" as 127.0.0.1:PORT (loopback unless asked). Writes
 * the HOST:PORT form into `out`; returns 0 or AS_ERR_BAD_INPUT.
 */
int as_http_admin_address(const char *spec, char *out, size_t outlen);

/**
 * Opens a listening socket on `spec` with SO_REUSEPORT, on `port_override`
 * instead of the spec's port when >= 0. Returns the descriptor and the bound
 * port in *port_out (if not NULL; useful with port 0), or a negative as_err_t
 * after logging why.
 */
int as_http_listen_open(const char *spec, int port_override, int *port_out);

/**
 * Opens the first listening socket of `spec`, the one the others join with
 * as_http_listen_open. Unless `share`, it refuses a port that anyone holds
 * already (AS_ERR_CONFLICT, logged with what to do): its bind is made without
 * SO_REUSEPORT, which is set only once the port is ours, so no two servers can
 * both pass the check. With `share`, a port held by another authsvc of the
 * same user is shared (SO_REUSEPORT: zero-downtime restarts).
 */
int as_http_listen_open_first(const char *spec, int share, int *port_out);

#endif
