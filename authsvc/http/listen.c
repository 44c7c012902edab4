/*
 * http/listen — h2o's configuration, the listening sockets, the per-thread
 * contexts and the drain (interface in listen.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <h2o.h>
#include <h2o/http2.h>
#include "authsvc/as.h"
#include "authsvc/http/guard.h"
#include "authsvc/http/access.h"
#include "authsvc/http/listen.h"
#include "authsvc/http/respond.h"

#define ACCEPT_PAUSE_MS 100 /* out of descriptors: rest the listeners this long, then try again */
#define ADMIN_MAX_CONNECTIONS 64 /* probes and scrapers per process; they do not count against --max-connections */
#define ADMIN_MAX_ENTITY 65536

/** Both listeners' requests: the guard, the header limit, then the router of the listener's routes. */
static int handle(h2o_req_t *req, int admin)
{
    as_http_thread_t *thr = H2O_STRUCT_FROM_MEMBER(as_http_thread_t, ctx, req->conn->ctx);
    if (as_http__guard_request(req))
        return 0;
    /* HTTP/1.1 stops at H2O_MAX_HEADERS header fields (picohttpparser); HPACK has no such limit: the same here */
    if (req->headers.size > H2O_MAX_HEADERS) {
        as_http_header_fields_too_large(req);
        return 0;
    }
    as_router_dispatch(admin ? &thr->admin_router : &thr->router, req);
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    return handle(req, 0);
}

static int on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    return handle(req, 1);
}

static void init_admin(as_http_server_t *server, const as_http_server_config_t *config)
{
    h2o_globalconf_t *gc = &server->admin_globalconf;
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT("authsvc"));
    gc->max_request_entity_size = ADMIN_MAX_ENTITY;
    gc->handshake_timeout = config->idle_timeout;
    gc->http1.req_timeout = config->idle_timeout;
    gc->http2.idle_timeout = config->idle_timeout;
    gc->http1.upgrade_to_http2 = 0; /* as on the main listener: http/guard upgrades */
    h2o_hostconf_t *hostconf = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_admin_req;
    server->admin_limits = as_http__limits_new(ADMIN_MAX_CONNECTIONS, 0, config->h2_reset_budget, config->h2_frame_budget);
}

void as_http_server_init(as_http_server_t *server, const as_http_server_config_t *config, struct ssl_ctx_st *ssl_ctx)
{
    memset(server, 0, sizeof(*server));
    h2o_config_init(&server->globalconf);
    server->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("authsvc"));
    server->globalconf.max_request_entity_size = config->max_entity;
    server->globalconf.handshake_timeout = config->idle_timeout;
    server->globalconf.http1.req_timeout = config->idle_timeout;
    server->globalconf.http2.idle_timeout = config->idle_timeout;
    /* h2c (prior knowledge and Upgrade) goes through http/guard, which installs the HTTP/2 limits first */
    server->globalconf.http1.upgrade_to_http2 = 0;
    server->limits = as_http__limits_new(config->max_connections, config->max_connections_per_address, config->h2_reset_budget,
                                          config->h2_frame_budget);
    server->hostconf = h2o_config_register_host(&server->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(server->hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
    as_http_access_log_register(pathconf, config->access_log_fd); /* the request metrics, and the log if asked */
    if ((server->ssl_ctx = ssl_ctx) != NULL)
        h2o_ssl_register_alpn_protocols(ssl_ctx, h2o_http2_alpn_protocols);
    if (config->admin)
        init_admin(server, config);
}

void as_http_server_dispose(as_http_server_t *server)
{
    /* h2o 2.2.5's configuration lives until the process exits */
    as_http__limits_free(server->limits);
    server->limits = NULL;
    if (server->admin_limits != NULL)
        as_http__limits_free(server->admin_limits);
    server->admin_limits = NULL;
}

static void on_accept(h2o_socket_t *listener, const char *err);

static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    as_http_thread_t *thr = H2O_STRUCT_FROM_MEMBER(as_http_thread_t, accept_resume, entry);
    if (thr->listener != NULL)
        h2o_socket_read_start(thr->listener, on_accept);
    if (thr->tls_listener != NULL)
        h2o_socket_read_start(thr->tls_listener, on_accept);
    if (thr->admin_listener != NULL)
        h2o_socket_read_start(thr->admin_listener, on_accept);
}

void as_http_thread_init(as_http_thread_t *thr, as_http_server_t *server, size_t max_body)
{
    h2o_context_init(&thr->ctx, h2o_evloop_create(), &server->globalconf);
    as_router_init(&thr->router, max_body);
    as_router_init(&thr->admin_router, 0); /* GET only: no body */
    thr->limits = server->limits;
    h2o_timeout_init(thr->ctx.loop, &thr->accept_pause, ACCEPT_PAUSE_MS);
    thr->accept_resume.cb = on_accept_resume;
}

/**
 * Out of descriptors (or kernel memory): the pending connection stays in the backlog and the listener stays readable,
 * so accepting again at once would spin. Both listeners rest ACCEPT_PAUSE_MS instead; the connection cap
 * (--max-connections, below the descriptor limit) keeps this rare and leaves descriptors to the key reloader and
 * the database connections.
 */
static void pause_accepting(as_http_thread_t *thr, int err)
{
    static __thread uint64_t last_log;
    uint64_t now = h2o_now(thr->ctx.loop);
    if (h2o_timeout_is_linked(&thr->accept_resume))
        return;
    if (now - last_log >= 10000) {
        last_log = now;
        as_warn("accept: %s; not accepting for %d ms (logged once every 10 s)", strerror(err), ACCEPT_PAUSE_MS);
    }
    if (thr->listener != NULL)
        h2o_socket_read_stop(thr->listener);
    if (thr->tls_listener != NULL)
        h2o_socket_read_stop(thr->tls_listener);
    if (thr->admin_listener != NULL)
        h2o_socket_read_stop(thr->admin_listener);
    h2o_timeout_link(thr->ctx.loop, &thr->accept_pause, &thr->accept_resume);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept_ctx = listener->data;
    as_http_thread_t *thr = H2O_STRUCT_FROM_MEMBER(as_http_thread_t, ctx, accept_ctx->ctx);
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) != NULL) {
        as_http__guard_accept(accept_ctx, accept_ctx == &thr->admin_accept_ctx ? thr->admin_limits : thr->limits, sock);
        return;
    }
    switch (errno) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        pause_accepting(thr, errno);
        break;
    default: /* EAGAIN (another thread took it), ECONNABORTED (the client went away): nothing to do */
        break;
    }
}

static h2o_socket_t *start_listener(h2o_loop_t *loop, int fd, h2o_accept_ctx_t *accept_ctx)
{
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = accept_ctx;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

void as_http_thread_listen(as_http_thread_t *thr, as_http_server_t *server, int fd, int tls_fd)
{
    thr->accept_ctx = (h2o_accept_ctx_t){.ctx = &thr->ctx, .hosts = server->globalconf.hosts};
    thr->listener = start_listener(thr->ctx.loop, fd, &thr->accept_ctx);
    if (tls_fd >= 0) {
        thr->tls_accept_ctx = (h2o_accept_ctx_t){.ctx = &thr->ctx, .hosts = server->globalconf.hosts, .ssl_ctx = server->ssl_ctx};
        thr->tls_listener = start_listener(thr->ctx.loop, tls_fd, &thr->tls_accept_ctx);
    }
}

void as_http_thread_listen_admin(as_http_thread_t *thr, as_http_server_t *server, int fd)
{
    thr->admin_limits = server->admin_limits;
    thr->admin_accept_ctx = (h2o_accept_ctx_t){.ctx = &thr->ctx, .hosts = server->admin_globalconf.hosts};
    thr->admin_listener = start_listener(thr->ctx.loop, fd, &thr->admin_accept_ctx);
}

static void stop_listener(h2o_socket_t **sock)
{
    if (*sock == NULL)
        return;
    h2o_socket_read_stop(*sock);
    h2o_socket_close(*sock);
    *sock = NULL;
}

void as_http_thread_release(as_http_thread_t *thr)
{
    (void)thr; /* h2o's caches are per thread, not per context */
    as_http__release_buffers();
}

void as_http_thread_drain(as_http_thread_t *thr, uint64_t max_ms)
{
    if (h2o_timeout_is_linked(&thr->accept_resume))
        h2o_timeout_unlink(&thr->accept_resume);
    stop_listener(&thr->listener);
    stop_listener(&thr->tls_listener);
    stop_listener(&thr->admin_listener);
    h2o_context_request_shutdown(&thr->ctx);
    for (uint64_t deadline = h2o_now(thr->ctx.loop) + max_ms;
         (!h2o_linklist_is_empty(&thr->ctx.http1._conns) || !h2o_linklist_is_empty(&thr->ctx.http2._conns)) &&
         h2o_now(thr->ctx.loop) < deadline;)
        h2o_evloop_run(thr->ctx.loop, 100);
}

void as_http_thread_dispose(as_http_thread_t *thr)
{
    as_router_dispose(&thr->router);
    as_router_dispose(&thr->admin_router);
}

int as_http_parse_hostport(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec, *hend;
    if (colon == NULL || colon[1] == '\0')
        return AS_ERR_BAD_INPUT;
    hend = colon;
    if (*h == '[' && hend > h && hend[-1] == ']') { /* [::1]:8080 */
        ++h;
        --hend;
    }
    if ((size_t)(hend - h) >= hostlen || strlen(colon + 1) >= portlen)
        return AS_ERR_BAD_INPUT;
    memcpy(host, h, hend - h);
    host[hend - h] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

int as_http_admin_address(const char *spec, char *out, size_t outlen)
{
    char host[256], port[16];
    size_t n = strlen(spec);
    int r;
    if (n != 0 && n <= 5 && strspn(spec, "0123456789") == n) /* a bare port */
        r = snprintf(out, outlen, "127.0.0.1:%s", spec);
    else if (as_http_parse_hostport(spec, host, sizeof(host), port, sizeof(port)) == 0)
        r = snprintf(out, outlen, "%s", spec);
    else
        return AS_ERR_BAD_INPUT;
    if (r < 0 || (size_t)r >= outlen)
        return AS_ERR_BAD_INPUT;
    const char *p = strrchr(out, ':') + 1;
    if (strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) || atoi(p) > 65535)
        return AS_ERR_BAD_INPUT;
    return 0;
}

/**
 * Opens a listening socket. `mode` 0: with SO_REUSEPORT (joining the port's other sockets); 1 (exclusive): the bind
 * without it, so that it fails if anyone holds the port, and SO_REUSEPORT set once the port is ours, so that the
 * other threads' sockets join it; 2 (share): with SO_REUSEPORT, the held port shared. Mode 1 is race-free: two servers
 * starting together cannot both win the bind, and Linux's bind-conflict check reads SO_REUSEPORT of the sockets already
 * bound at the time of the new bind, so the flag set after ours lets our own threads' sockets join (and a --reuse-port
 * server, on purpose). tests/e2e/test_config.py holds both halves.
 */
static int listen_open(const char *spec, int port_override, int *port_out, int mode)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int fd = -1, one = 1, r;

    if (as_http_parse_hostport(spec, host, sizeof(host), port, sizeof(port)) != 0) {
        as_error("cannot parse listen address %s (expected HOST:PORT)", spec);
        return AS_ERR_BAD_INPUT;
    }
    if (port_override >= 0)
        snprintf(port, sizeof(port), "%d", port_override);
    if ((r = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res)) != 0) {
        as_error("cannot resolve %s: %s", spec, gai_strerror(r));
        return AS_ERR_BAD_INPUT;
    }
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (mode != 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        (mode == 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        if (e == EADDRINUSE && mode == 1)
            as_error("cannot listen on %s: the port is already in use (another authsvc serve?). Stop the other server or "
                     "choose another port; to share the port with a running authsvc (a zero-downtime restart), start this "
                     "one with --reuse-port", spec);
        else if (e == EADDRINUSE && mode == 2)
            as_error("cannot listen on %s: the port is held by a process that does not share it (--reuse-port shares a "
                     "port only with an authsvc serve of the same user)", spec);
        else
            as_error("cannot listen on %s: %s", spec, strerror(e));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return e == EADDRINUSE ? AS_ERR_CONFLICT : AS_ERR_IO;
    }
    freeaddrinfo(res);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (port_out != NULL) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sslen);
        *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

int as_http_listen_open(const char *spec, int port_override, int *port_out)
{
    return listen_open(spec, port_override, port_out, 0);
}

int as_http_listen_open_first(const char *spec, int share, int *port_out)
{
    return listen_open(spec, -1, port_out, share ? 2 : 1);
}
