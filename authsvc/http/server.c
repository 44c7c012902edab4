#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <h2o.h>
#include <h2o/http2.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/respond.h"
#include "authsvc/http/server.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/store/client_cache.h"
#include "authsvc/store/store.h"

#define SHUTDOWN_DRAIN_MS 2000

typedef struct st_as_thread_t {
    h2o_context_t ctx; /* h2o hands this back with every request */
    struct st_server_t *server;
    pthread_t tid;
    int fd, tls_fd;
    h2o_socket_t *listener, *tls_listener;
    h2o_accept_ctx_t accept_ctx, tls_accept_ctx;
    h2o_multithread_receiver_t pwcheck_receiver;
    h2o_multithread_receiver_t stop_receiver;
    h2o_multithread_message_t stop_message;
    as_oauth_ctx_t oauth;
    h2o_timeout_t cleanup_timeout; /* first thread only: periodic housekeeping in the database */
    h2o_timeout_entry_t cleanup_entry;
    h2o_mem_pool_t cleanup_pool;
    as_pool_job_t *cleanup_job;
} as_thread_t;

typedef struct st_server_t {
    as_server_config_t *config;
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    SSL_CTX *ssl_ctx;
    as_pwcheck_t *pwcheck;
    as_thread_t *threads;
    size_t num_threads;
    _Atomic int stopping;
    pthread_mutex_t ready_mutex; /* the main thread waits until every event thread is set up */
    pthread_cond_t ready_cond;
    size_t num_ready;
} server_t;

/* --- routing ------------------------------------------------------------------- */

typedef void (*endpoint_fn)(as_oauth_ctx_t *ctx, h2o_req_t *req);

static const struct {
    const char *path;
    const char *method; /* also the Allow header of a 405 */
    endpoint_fn fn;
} routes[] = {
    {"/oauth2/token", "POST", as_oauth_token},
    {"/oauth2/revoke", "POST", as_oauth_revoke},
    {"/oauth2/introspect", "POST", as_oauth_introspect},
    {"/oauth2/revocations", "GET", as_oauth_revocations},
    {"/account/password", "POST", as_oauth_account_password},
    {"/.well-known/jwks.json", "GET", as_oauth_jwks},
    {"/.well-known/oauth-authorization-server", "GET", as_oauth_metadata},
    {"/.well-known/openid-configuration", "GET", as_oauth_metadata},
    {"/healthz", "GET", as_oauth_health},
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    as_thread_t *thr = H2O_STRUCT_FROM_MEMBER(as_thread_t, ctx, req->conn->ctx);
    (void)self;

    for (size_t i = 0; i != sizeof(routes) / sizeof(routes[0]); ++i) {
        if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, routes[i].path, strlen(routes[i].path)))
            continue;
        int is_get = strcmp(routes[i].method, "GET") == 0;
        if (!h2o_memis(req->method.base, req->method.len, routes[i].method, strlen(routes[i].method)) &&
            !(is_get && h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))) {
            /* RFC 9110 §9.1: HEAD wherever GET is served (h2o sends the headers of the GET response only) */
            as_http_method_not_allowed(req, is_get ? "GET, HEAD" : routes[i].method);
            return 0;
        }
        if (req->entity.len > thr->oauth.config->max_body) {
            as_http_payload_too_large(req);
            return 0;
        }
        routes[i].fn(&thr->oauth, req);
        return 0;
    }
    as_http_not_found(req);
    return 0;
}

/* --- listening -------------------------------------------------------------------- */

static int parse_hostport(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(spec, ':');
    const char *h = spec, *hend;
    if (colon == NULL || colon[1] == '\0')
        return -1;
    hend = colon;
    if (*h == '[' && hend > h && hend[-1] == ']') { /* [::1]:8080 */
        ++h;
        --hend;
    }
    if ((size_t)(hend - h) >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, hend - h);
    host[hend - h] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/** Opens a listening socket with SO_REUSEPORT. *port_out receives the bound port (useful for port 0). */
static int open_listener(const char *spec, int port_override, int *port_out)
{
    char host[256], port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int fd = -1, one = 1, r;

    if (parse_hostport(spec, host, sizeof(host), port, sizeof(port)) != 0) {
        as_error("cannot parse listen address %s (expected HOST:PORT)", spec);
        return -1;
    }
    if (port_override >= 0)
        snprintf(port, sizeof(port), "%d", port_override);
    if ((r = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res)) != 0) {
        as_error("cannot resolve %s: %s", spec, gai_strerror(r));
        return -1;
    }
    if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        as_error("cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
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

static void on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_accept_ctx_t *accept_ctx = listener->data;
    h2o_socket_t *sock;
    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(accept_ctx, sock);
}

static h2o_socket_t *start_listener(h2o_loop_t *loop, int fd, h2o_accept_ctx_t *accept_ctx)
{
    h2o_socket_t *sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = accept_ctx;
    h2o_socket_read_start(sock, on_accept);
    return sock;
}

/* --- event threads ----------------------------------------------------------------- */

static void on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
}

static void on_cleanup_done(void *ctx, int err)
{
    as_thread_t *thr = ctx;
    (void)err; /* logged by the store; the next round retries */
    thr->cleanup_job = NULL;
    h2o_mem_clear_pool(&thr->cleanup_pool);
    h2o_timeout_link(thr->ctx.loop, &thr->cleanup_timeout, &thr->cleanup_entry);
}

static void on_cleanup_timer(h2o_timeout_entry_t *entry)
{
    as_thread_t *thr = H2O_STRUCT_FROM_MEMBER(as_thread_t, cleanup_entry, entry);
    as_store_cleanup(thr->oauth.db, &thr->cleanup_pool, thr->oauth.config->access_ttl, on_cleanup_done, thr, &thr->cleanup_job);
}

static void *thread_main(void *arg)
{
    as_thread_t *thr = arg;
    server_t *server = thr->server;
    as_server_config_t *cfg = server->config;
    as_pool_config_t pool_config = {
        .conninfo = cfg->conninfo,
        .num_connections = cfg->db_connections,
        .query_timeout = cfg->db_timeout,
        .retry_interval = 500,
        .max_inflight = 64,
        .max_waiting = 4096,
    };

    h2o_context_init(&thr->ctx, h2o_evloop_create(), &server->globalconf);
    thr->oauth.config = &cfg->oauth;
    thr->oauth.loop = thr->ctx.loop;
    thr->oauth.clients = as_client_cache_new((uint64_t)cfg->oauth.client_cache_ttl * 1000);
    thr->oauth.db = as_pool_create(thr->ctx.loop, &pool_config, as_store_statements, as_store_num_statements);
    thr->oauth.pwcheck = server->pwcheck;
    thr->oauth.pwcheck_receiver = &thr->pwcheck_receiver;
    h2o_multithread_register_receiver(thr->ctx.queue, &thr->pwcheck_receiver, as_pwcheck_on_messages);
    h2o_multithread_register_receiver(thr->ctx.queue, &thr->stop_receiver, on_stop_message);

    thr->accept_ctx = (h2o_accept_ctx_t){.ctx = &thr->ctx, .hosts = server->globalconf.hosts};
    thr->listener = start_listener(thr->ctx.loop, thr->fd, &thr->accept_ctx);
    if (thr->tls_fd >= 0) {
        thr->tls_accept_ctx = (h2o_accept_ctx_t){.ctx = &thr->ctx, .hosts = server->globalconf.hosts, .ssl_ctx = server->ssl_ctx};
        thr->tls_listener = start_listener(thr->ctx.loop, thr->tls_fd, &thr->tls_accept_ctx);
    }

    if (thr == server->threads) {
        /* housekeeping on one thread per instance; several instances doing it too is harmless (bounded deletes) */
        h2o_mem_init_pool(&thr->cleanup_pool);
        h2o_timeout_init(thr->ctx.loop, &thr->cleanup_timeout, 60000);
        thr->cleanup_entry.cb = on_cleanup_timer;
        h2o_timeout_link(thr->ctx.loop, &thr->cleanup_timeout, &thr->cleanup_entry);
    }

    pthread_mutex_lock(&server->ready_mutex);
    ++server->num_ready;
    pthread_cond_signal(&server->ready_cond);
    pthread_mutex_unlock(&server->ready_mutex);

    while (!atomic_load(&server->stopping))
        h2o_evloop_run(thr->ctx.loop, INT32_MAX);

    /* graceful: accept nothing more, send HTTP/2 GOAWAY, let the requests in flight finish (a rotation already
     * committed still reaches its client), for at most SHUTDOWN_DRAIN_MS */
    h2o_socket_read_stop(thr->listener);
    h2o_socket_close(thr->listener);
    if (thr->tls_listener != NULL) {
        h2o_socket_read_stop(thr->tls_listener);
        h2o_socket_close(thr->tls_listener);
    }
    h2o_context_request_shutdown(&thr->ctx);
    for (uint64_t deadline = h2o_now(thr->ctx.loop) + SHUTDOWN_DRAIN_MS;
         (!h2o_linklist_is_empty(&thr->ctx.http1._conns) || !h2o_linklist_is_empty(&thr->ctx.http2._conns)) &&
         h2o_now(thr->ctx.loop) < deadline;)
        h2o_evloop_run(thr->ctx.loop, 100);
    if (thr == server->threads) {
        as_pool_cancel(thr->cleanup_job);
        if (h2o_timeout_is_linked(&thr->cleanup_entry))
            h2o_timeout_unlink(&thr->cleanup_entry);
        h2o_mem_clear_pool(&thr->cleanup_pool);
    }
    as_pool_dispose(thr->oauth.db);
    as_client_cache_free(thr->oauth.clients);
    return NULL;
}

/* --- main thread ------------------------------------------------------------------------ */

/**
 * Re-reads the key directory (on SIGHUP, and periodically: key states follow the clock) and swaps the new
 * set in when it differs. A broken directory leaves the current set in place; the same error is logged once.
 */
static void reload_keys(server_t *server, int forced)
{
    static char last_err[512];
    as_keyset_t *ks, *cur;
    char err[512];

    if (as_keyset_load(server->config->keys_dir, (int64_t)time(NULL), &ks, err, sizeof(err)) != 0) {
        if (forced || strcmp(err, last_err) != 0)
            as_error("key reload failed, keeping the current keys: %s", err);
        snprintf(last_err, sizeof(last_err), "%s", err);
        return;
    }
    last_err[0] = '\0';
    cur = as_keys_current();
    int same = as_keyset_same(cur, ks);
    as_keyset_release(cur);
    if (same) {
        as_keyset_release(ks);
        if (forced)
            as_info("keys re-read from %s: unchanged", server->config->keys_dir);
        return;
    }
    as_info("keys reloaded from %s: %zu published, signing with %s", server->config->keys_dir, ks->num_entries,
            ks->entries[ks->active].kid);
    as_keys_install(ks);
}

int as_server_run(as_server_config_t *cfg)
{
    server_t server;
    sigset_t sigs;
    as_keyset_t *ks;
    char err[512], pw[32], cache_control[64];
    int port = 0, tls_port = 0, ret = 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(&server, 0, sizeof(server));
    server.config = cfg;
    server.num_threads = cfg->num_threads != 0 ? cfg->num_threads : (size_t)(ncpu > 0 ? ncpu : 1);

    if (as_keyset_load(cfg->keys_dir, (int64_t)time(NULL), &ks, err, sizeof(err)) != 0) {
        as_error("%s", err);
        return 1;
    }
    as_keys_install(ks);

    /* the cost of a login for an unknown user: one verification against this */
    cfg->oauth.dummy_hash = as_malloc(AS_PWHASH_MAX);
    as_random_bytes(pw, sizeof(pw));
    if (as_pwhash(pw, sizeof(pw), cfg->oauth.dummy_hash) != 0) {
        as_error("cannot compute the dummy password hash");
        return 1;
    }
    as_wipe(pw, sizeof(pw));
    as_oauth_build_metadata(&cfg->oauth);

    h2o_config_init(&server.globalconf);
    server.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("authsvc"));
    /* h2o's own limit answers in text/plain (HTTP/1.1) or refuses the stream (HTTP/2): keep it as a backstop
     * above ours, which answers 413 in JSON */
    server.globalconf.max_request_entity_size = cfg->oauth.max_body * 8 > 131072 ? cfg->oauth.max_body * 8 : 131072;
    snprintf(cache_control, sizeof(cache_control), "public, max-age=%d, must-revalidate", cfg->jwks_max_age);
    cfg->oauth.jwks_cache_control = cache_control;
    server.hostconf = h2o_config_register_host(&server.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(server.hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;

    if (cfg->tls_listen != NULL && (server.ssl_ctx = as_tls_server_ctx(cfg->tls_cert, cfg->tls_key)) == NULL)
        return 1;
    if (server.ssl_ctx != NULL)
        h2o_ssl_register_alpn_protocols(server.ssl_ctx, h2o_http2_alpn_protocols);

    /* signals: handled by this thread only, with sigwait */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    size_t pw_threads = cfg->pwcheck_threads != 0 ? cfg->pwcheck_threads : (size_t)(ncpu > 0 ? ncpu : 1);
    /* about a second of queued argon2id work per worker; beyond it logins get 503 at once, not after 25 s */
    server.pwcheck = as_pwcheck_create(pw_threads, pw_threads * 32, 2000);
    server.threads = as_calloc(server.num_threads, sizeof(*server.threads));
    for (size_t i = 0; i != server.num_threads; ++i) {
        as_thread_t *thr = server.threads + i;
        thr->server = &server;
        thr->tls_fd = -1;
        if ((thr->fd = open_listener(cfg->listen, i == 0 ? -1 : port, i == 0 ? &port : NULL)) < 0)
            goto Exit;
        if (cfg->tls_listen != NULL && (thr->tls_fd = open_listener(cfg->tls_listen, i == 0 ? -1 : tls_port,
                                                                     i == 0 ? &tls_port : NULL)) < 0)
            goto Exit;
    }
    pthread_mutex_init(&server.ready_mutex, NULL);
    pthread_cond_init(&server.ready_cond, NULL);
    for (size_t i = 0; i != server.num_threads; ++i)
        h2o_multithread_create_thread(&server.threads[i].tid, NULL, thread_main, server.threads + i);
    /* the stop message needs every thread's receiver: announce readiness only once they exist */
    pthread_mutex_lock(&server.ready_mutex);
    while (server.num_ready != server.num_threads)
        pthread_cond_wait(&server.ready_cond, &server.ready_mutex);
    pthread_mutex_unlock(&server.ready_mutex);

    {
        char host[256], portstr[16];
        parse_hostport(cfg->listen, host, sizeof(host), portstr, sizeof(portstr));
        printf("authsvc %s: listening on http://%s%s%s:%d (HTTP/1.1 and h2c)", AS_VERSION, strchr(host, ':') ? "[" : "", host,
               strchr(host, ':') ? "]" : "", port);
        if (cfg->tls_listen != NULL) {
            parse_hostport(cfg->tls_listen, host, sizeof(host), portstr, sizeof(portstr));
            printf(" and https://%s:%d (h2, HTTP/1.1)", host, tls_port);
        }
        printf(", %zu threads, issuer %s\n", server.num_threads, cfg->oauth.issuer);
        fflush(stdout);
    }

    for (;;) {
        struct timespec period = {.tv_sec = cfg->keys_reload_interval};
        int sig = sigtimedwait(&sigs, NULL, &period);
        if (sig < 0) {
            if (errno == EAGAIN)
                reload_keys(&server, 0);
            continue;
        }
        if (sig == SIGHUP) {
            reload_keys(&server, 1);
            continue;
        }
        as_info("received signal %d, shutting down", sig);
        break;
    }
    atomic_store(&server.stopping, 1);
    for (size_t i = 0; i != server.num_threads; ++i)
        h2o_multithread_send_message(&server.threads[i].stop_receiver, &server.threads[i].stop_message);
    for (size_t i = 0; i != server.num_threads; ++i)
        pthread_join(server.threads[i].tid, NULL);
    as_pwcheck_dispose(server.pwcheck);
    ret = 0;
Exit:
    as_keys_install(NULL);
    if (server.ssl_ctx != NULL)
        SSL_CTX_free(server.ssl_ctx);
    free(server.threads);
    free(cfg->oauth.dummy_hash);
    free(cfg->oauth.metadata);
    return ret;
}
