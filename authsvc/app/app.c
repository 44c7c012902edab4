/*
 * app/app — `authsvc serve`: process start, the event threads and their
 * contexts, signals, key reloads, housekeeping, and the registration of every
 * endpoint module (interface in app.h).
 *
 * Threads: the main thread waits for signals and re-reads the key directory;
 * each event thread runs one h2o loop with its own listening socket
 * (SO_REUSEPORT), database pool, client cache, key view and router; the
 * argon2id workers hash for all of them. The main thread hands a new key set
 * to each event thread as a message, so requests read keys without a lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <h2o.h>
#include "authsvc/app/app.h"
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/listen.h"
#include "authsvc/http/request.h"
#include "authsvc/keys/keyset.h"
#include "authsvc/login/login.h"
#include "authsvc/metrics/metrics.h"
#include "authsvc/ops/ops.h"
#include "authsvc/store/client_cache.h"
#include "authsvc/store/store.h"

#define SHUTDOWN_DRAIN_MS 2000
#define CLEANUP_INTERVAL_MS 60000

/* --- the modules -------------------------------------------------------------------- */

/** Every endpoint module, registered with its context for one thread (NULL contexts: the table as data). */
static void register_modules(as_router_t *router, as_oauth_ctx_t *oauth, as_ops_ctx_t *ops)
{
    as_oauth_register(router, oauth);
    as_login_register(router, oauth);
    as_ops_register(router, ops);
}

void as_app_print_routes(FILE *out)
{
    as_router_t router;
    as_router_init(&router, 0);
    register_modules(&router, NULL, NULL);
    for (size_t i = 0; i != router.num_routes; ++i)
        fprintf(out, "%s %s\n", router.routes[i].method, router.routes[i].path);
    as_router_dispose(&router);
}

/* --- state ----------------------------------------------------------------------------- */

typedef struct st_app_thread_t {
    as_http_thread_t http; /* its h2o context brings every request back to this thread's router */
    struct st_app_t *app;
    pthread_t tid;
    int fd, tls_fd, admin_fd;
    h2o_multithread_receiver_t pwcheck_receiver;
    h2o_multithread_receiver_t keys_receiver;
    h2o_multithread_receiver_t stop_receiver;
    h2o_multithread_message_t stop_message;
    as_keyview_t keys;
    as_pool_t *db;
    as_store_rotator_t *rotator;
    as_client_cache_t *clients;
    as_oauth_ctx_t oauth;
    as_ops_ctx_t ops;
    h2o_timeout_t release_timeout; /* once a second: OpenSSL's cached blocks back to malloc (crypto/mem.c) */
    h2o_timeout_entry_t release_entry;
    h2o_timeout_t cleanup_timeout; /* first thread only: periodic housekeeping in the database */
    h2o_timeout_entry_t cleanup_entry;
    h2o_mem_pool_t cleanup_pool;
    as_pool_job_t *cleanup_job;
} app_thread_t;

typedef struct st_app_t {
    as_app_config_t *config;
    char admin_listen[300]; /* HOST:PORT of the management listener; "" without one */
    char issuer[320];       /* the default issuer, http://HOST:PORT of --listen with the port bound; "" with --issuer */
    double start_time;
    as_http_server_t http;
    as_pwcheck_t *pwcheck;
    as_keyset_t *keys; /* the set the threads were last given (main thread) */
    app_thread_t *threads;
    size_t num_threads;
    _Atomic int stopping;
    pthread_mutex_t ready_mutex; /* the main thread waits until every event thread is set up */
    pthread_cond_t ready_cond;
    size_t num_ready;
} app_t;

/** A new key set on its way to one event thread. */
typedef struct st_keys_message_t {
    h2o_multithread_message_t super;
    as_keyset_t *set; /* a reference for the receiving thread */
} keys_message_t;

/* --- event threads ----------------------------------------------------------------------- */

static void on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
}

static void on_keys_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    app_thread_t *thr = H2O_STRUCT_FROM_MEMBER(app_thread_t, keys_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        keys_message_t *msg = H2O_STRUCT_FROM_MEMBER(keys_message_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        as_keyview_swap(&thr->keys, msg->set);
        free(msg);
    }
}

static void on_cleanup_done(void *ctx, int err)
{
    app_thread_t *thr = ctx;
    (void)err; /* logged by the store; the next round retries */
    thr->cleanup_job = NULL;
    h2o_mem_clear_pool(&thr->cleanup_pool);
    h2o_timeout_link(thr->http.ctx.loop, &thr->cleanup_timeout, &thr->cleanup_entry);
}

static void on_cleanup_timer(h2o_timeout_entry_t *entry)
{
    app_thread_t *thr = H2O_STRUCT_FROM_MEMBER(app_thread_t, cleanup_entry, entry);
    as_store_cleanup(thr->db, &thr->cleanup_pool, thr->app->config->oauth.access_ttl, on_cleanup_done, thr, &thr->cleanup_job);
}

/*
 * Memory: the event threads allocate and free small blocks all the time (OpenSSL inside each signature, h2o, libpq),
 * each in its own malloc arena. glibc gives back only the free space at the top of an arena, so the holes that
 * long-lived blocks leave between short-lived ones stay resident and RSS creeps up by megabytes over millions of
 * requests. malloc_trim also releases the free pages inside the arenas; the main thread calls it once a second
 * (wait_for_stop), off the event loops (it holds each arena's lock for a moment while it walks the arena's free
 * lists). Each event thread also hands OpenSSL's cached blocks (crypto/mem.c) and h2o's cached socket and HTTP/2
 * write buffers (http/guard.c) back to malloc once a second, so that the pages they sit on can go too.
 *
 * malloc_trim returns the free space at the top of an arena only for the main one; a thread's arena gives back its
 * top from free() itself, once the top exceeds the trim threshold. glibc raises that threshold, process-wide, to
 * twice the largest block it has seen come back from mmap: argon2's 19 MiB made it 38 MiB, so after the first
 * password hash no event thread's arena gave back its top again, and RSS rose with each new peak of connections
 * (by 1.2 MB at a time in bench/run's memory run). So the thresholds are pinned at glibc's defaults before any
 * thread starts (setting them switches the adjustment off), and argon2's working memory does not come from malloc
 * at all (crypto/pwhash.c: a mapping, which each hashing worker keeps).
 */
#define TRIM_INTERVAL_SEC 1
#define MALLOC_MMAP_THRESHOLD (128 * 1024) /* glibc's defaults */
#define MALLOC_TRIM_THRESHOLD (128 * 1024)

static void on_release_timer(h2o_timeout_entry_t *entry)
{
    app_thread_t *thr = H2O_STRUCT_FROM_MEMBER(app_thread_t, release_entry, entry);
    as_crypto_mem_release();
    as_http_thread_release(&thr->http);
    h2o_timeout_link(thr->http.ctx.loop, &thr->release_timeout, &thr->release_entry);
}

static void *thread_main(void *arg)
{
    app_thread_t *thr = arg;
    app_t *app = thr->app;
    as_app_config_t *cfg = app->config;
    as_pool_config_t pool_config = {
        .conninfo = cfg->conninfo,
        .num_connections = cfg->db_connections,
        .query_timeout = cfg->db_timeout,
        .retry_interval = 500,
        .max_inflight = 64,
        .max_waiting = 4096,
    };

    as_metrics_thread_start(); /* before the pool, which counts into this thread's block */
    as_http_thread_init(&thr->http, &app->http, cfg->max_body);
    h2o_loop_t *loop = thr->http.ctx.loop;
    thr->db = as_pool_create(loop, &pool_config, as_store_statements, as_store_num_statements);
    /* two rotation batches in flight (one commits while the next gathers), up to 256 rotations in one commit:
     * fewer, larger commits are what goes past one fsync per rotation (stack facts: 64 a batch ~5x) */
    thr->rotator = as_store_rotator_create(loop, thr->db, cfg->db_connections < 2 ? cfg->db_connections : 2, 256);
    thr->clients = as_client_cache_new((uint64_t)cfg->oauth.client_cache_ttl * 1000);
    h2o_multithread_register_receiver(thr->http.ctx.queue, &thr->pwcheck_receiver, as_pwcheck_on_messages);
    h2o_multithread_register_receiver(thr->http.ctx.queue, &thr->keys_receiver, on_keys_message);
    h2o_multithread_register_receiver(thr->http.ctx.queue, &thr->stop_receiver, on_stop_message);
    thr->oauth = (as_oauth_ctx_t){
        .config = &cfg->oauth,
        .loop = loop,
        .db = thr->db,
        .rotator = thr->rotator,
        .clients = thr->clients,
        .pwcheck = app->pwcheck,
        .pwcheck_receiver = &thr->pwcheck_receiver,
        .keys = &thr->keys,
    };
    thr->ops = (as_ops_ctx_t){.db = thr->db, .keys = &thr->keys, .pwcheck = app->pwcheck, .start_time = app->start_time};
    register_modules(&thr->http.router, &thr->oauth, &thr->ops);
    as_http_thread_listen(&thr->http, &app->http, thr->fd, thr->tls_fd);
    if (thr->admin_fd >= 0) {
        as_ops_register_admin(&thr->http.admin_router, &thr->ops);
        as_http_thread_listen_admin(&thr->http, &app->http, thr->admin_fd);
    }

    h2o_timeout_init(loop, &thr->release_timeout, TRIM_INTERVAL_SEC * 1000);
    thr->release_entry.cb = on_release_timer;
    h2o_timeout_link(loop, &thr->release_timeout, &thr->release_entry);
    if (thr == app->threads) {
        /* housekeeping on one thread per instance; several instances doing it too is harmless (bounded deletes) */
        h2o_mem_init_pool(&thr->cleanup_pool);
        h2o_timeout_init(loop, &thr->cleanup_timeout, CLEANUP_INTERVAL_MS);
        thr->cleanup_entry.cb = on_cleanup_timer;
        h2o_timeout_link(loop, &thr->cleanup_timeout, &thr->cleanup_entry);
    }

    pthread_mutex_lock(&app->ready_mutex);
    ++app->num_ready;
    pthread_cond_signal(&app->ready_cond);
    pthread_mutex_unlock(&app->ready_mutex);

    while (!atomic_load(&app->stopping))
        h2o_evloop_run(loop, INT32_MAX);

    /* graceful: accept nothing more, send HTTP/2 GOAWAY, let the requests in flight finish (a rotation already
     * committed still reaches its client), for at most SHUTDOWN_DRAIN_MS */
    as_http_thread_drain(&thr->http, SHUTDOWN_DRAIN_MS);
    if (h2o_timeout_is_linked(&thr->release_entry))
        h2o_timeout_unlink(&thr->release_entry);
    if (thr == app->threads) {
        as_pool_cancel(thr->cleanup_job);
        if (h2o_timeout_is_linked(&thr->cleanup_entry))
            h2o_timeout_unlink(&thr->cleanup_entry);
        h2o_mem_clear_pool(&thr->cleanup_pool);
    }
    as_store_rotator_stats_t rs = as_store_rotator_stats(thr->rotator);
    if (rs.batches != 0)
        as_info("refresh rotations on this thread: %llu in %llu batches (%.1f per batch, largest %zu)",
                (unsigned long long)rs.rotations, (unsigned long long)rs.batches, (double)rs.rotations / (double)rs.batches,
                rs.largest);
    as_store_rotator_close(thr->rotator);
    as_pool_dispose(thr->db);
    as_client_cache_free(thr->clients);
    as_keyview_dispose(&thr->keys);
    as_http_thread_dispose(&thr->http);
    return NULL;
}

/* --- main thread ------------------------------------------------------------------------ */

/**
 * Re-reads the key directory (on SIGHUP, and periodically: key states follow the clock) and hands the new set
 * to every event thread when it differs. A broken directory leaves the current set in place; the same error is
 * logged once.
 */
static void reload_keys(app_t *app, int forced)
{
    static char last_err[512];
    as_keyset_t *ks;
    char err[512];

    if (as_keyset_load(app->config->keys_dir, (int64_t)time(NULL), &ks, err, sizeof(err)) != 0) {
        if (forced || strcmp(err, last_err) != 0)
            as_error("key reload failed, keeping the current keys: %s", err);
        snprintf(last_err, sizeof(last_err), "%s", err);
        return;
    }
    last_err[0] = '\0';
    if (as_keyset_same(app->keys, ks)) {
        as_keyset_release(ks);
        if (forced)
            as_info("keys re-read from %s: unchanged", app->config->keys_dir);
        return;
    }
    as_info("keys reloaded from %s: %zu published, signing with %s", app->config->keys_dir, ks->num_entries,
            ks->entries[ks->active].kid);
    for (size_t i = 0; i != app->num_threads; ++i) {
        keys_message_t *msg = as_calloc(1, sizeof(*msg));
        msg->set = as_keyset_retain(ks);
        h2o_multithread_send_message(&app->threads[i].keys_receiver, &msg->super);
    }
    as_keyset_release(app->keys);
    app->keys = ks;
}

/** What every login of an unknown user is verified against, so that it costs what a wrong password costs. */
static int make_dummy_hash(as_oauth_config_t *oauth)
{
    char pw[32];
    oauth->dummy_hash = as_malloc(AS_PWHASH_MAX);
    as_random_bytes(pw, sizeof(pw));
    int ret = as_pwhash(pw, sizeof(pw), oauth->dummy_hash) == 0 ? 0 : AS_ERR_INTERNAL;
    as_wipe(pw, sizeof(pw));
    return ret;
}

/**
 * The connection cap when none is given: the descriptor limit less a reserve for what must keep working when clients
 * hold every connection they may (database connections and their h2o duplicates, listeners, the loops' own
 * descriptors, the key directory's files), so that clients never take the last descriptor.
 */
static size_t default_max_connections(const as_app_config_t *cfg, size_t num_threads)
{
    struct rlimit rl;
    size_t reserve = 64 + num_threads * (2 * cfg->db_connections + 8);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
        return 100000;
    return rl.rlim_cur > reserve + 16 ? (size_t)rl.rlim_cur - reserve : 16;
}

/**
 * One thread's socket for `spec`: the first thread's picks the port and refuses a port someone holds, unless
 * --reuse-port (as_http_listen_open_first); the others join it with SO_REUSEPORT.
 */
static int open_listener(const char *spec, int share, size_t thread_index, int *port)
{
    return thread_index == 0 ? as_http_listen_open_first(spec, share, port) : as_http_listen_open(spec, *port, NULL);
}

/** Opens every thread's listening sockets: the public one, the TLS one, the management one. */
static int open_listeners(app_t *app, int *port, int *tls_port, int *admin_port)
{
    as_app_config_t *cfg = app->config;
    for (size_t i = 0; i != app->num_threads; ++i) {
        app_thread_t *thr = app->threads + i;
        if ((thr->fd = open_listener(cfg->listen, cfg->reuse_port, i, port)) < 0)
            return thr->fd;
        if (cfg->tls_listen != NULL && (thr->tls_fd = open_listener(cfg->tls_listen, cfg->reuse_port, i, tls_port)) < 0)
            return thr->tls_fd;
        if (app->admin_listen[0] != '\0' && (thr->admin_fd = open_listener(app->admin_listen, cfg->reuse_port, i, admin_port)) < 0)
            return thr->admin_fd;
    }
    return 0;
}

static void announce(const app_t *app, size_t num_threads, int port, int tls_port, int admin_port)
{
    const as_app_config_t *cfg = app->config;
    char host[256], portstr[16];
    if (app->admin_listen[0] != '\0') {
        /* a line of its own, before the one scripts wait for: it is in the log once that one is */
        as_http_parse_hostport(app->admin_listen, host, sizeof(host), portstr, sizeof(portstr));
        printf("authsvc %s: management listener on http://%s%s%s:%d (/livez, /readyz, /metrics)\n", AS_VERSION,
               strchr(host, ':') != NULL ? "[" : "", host, strchr(host, ':') != NULL ? "]" : "", admin_port);
    }
    as_http_parse_hostport(cfg->listen, host, sizeof(host), portstr, sizeof(portstr));
    int v6 = strchr(host, ':') != NULL;
    printf("authsvc %s: listening on http://%s%s%s:%d (HTTP/1.1 and h2c)", AS_VERSION, v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (cfg->tls_listen != NULL) {
        as_http_parse_hostport(cfg->tls_listen, host, sizeof(host), portstr, sizeof(portstr));
        printf(" and https://%s:%d (h2, HTTP/1.1)", host, tls_port);
    }
    printf(", %zu threads, issuer %s\n", num_threads, cfg->oauth.issuer);
    fflush(stdout);
}

/** Waits for signals: SIGHUP and the reload period re-read the keys; SIGTERM and SIGINT end it. */
static void wait_for_stop(app_t *app, const sigset_t *sigs)
{
    struct timespec next_reload;
    clock_gettime(CLOCK_MONOTONIC, &next_reload);
    next_reload.tv_sec += app->config->keys_reload_interval;
    for (;;) {
        struct timespec period = {.tv_sec = TRIM_INTERVAL_SEC}, now;
        int sig = sigtimedwait(sigs, NULL, &period);
        if (sig < 0) {
            if (errno == EAGAIN) {
                as_crypto_mem_release(); /* the event threads release theirs on their own timers */
                malloc_trim(0);
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec >= next_reload.tv_sec) {
                    reload_keys(app, 0);
                    next_reload.tv_sec = now.tv_sec + app->config->keys_reload_interval;
                }
            }
            continue;
        }
        if (sig == SIGHUP) {
            reload_keys(app, 1);
            continue;
        }
        as_info("received signal %d, shutting down", sig);
        return;
    }
}

int as_app_run(as_app_config_t *cfg)
{
    app_t app;
    sigset_t sigs;
    struct ssl_ctx_st *ssl_ctx = NULL;
    as_router_t table;
    char err[512];
    int port = 0, tls_port = 0, admin_port = 0, ret = 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    (void)mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD); /* see TRIM_INTERVAL_SEC */
    (void)mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD);
    memset(&app, 0, sizeof(app));
    app.config = cfg;
    app.start_time = (double)time(NULL);
    if (cfg->admin_listen != NULL && as_http_admin_address(cfg->admin_listen, app.admin_listen, sizeof(app.admin_listen)) != 0) {
        as_error("cannot parse --admin-listen %s (expected PORT or HOST:PORT)", cfg->admin_listen);
        return 1;
    }
    app.num_threads = cfg->num_threads != 0 ? cfg->num_threads : (size_t)(ncpu > 0 ? ncpu : 1);

    const char *bad_proxy;
    if (as_http_set_trusted_proxies(cfg->trusted_proxies, cfg->num_trusted_proxies, &bad_proxy) != 0) {
        as_error("--trusted-proxy %s: not an IPv4 or IPv6 address or network (such as 10.0.0.0/8 or 2001:db8::/32, no bits "
                 "set past the prefix)", bad_proxy);
        return 1;
    }
    if (as_keyset_load(cfg->keys_dir, (int64_t)time(NULL), &app.keys, err, sizeof(err)) != 0) {
        as_error("%s", err);
        return 1;
    }
    as_log_start(); /* from here on, no thread waits for the log's reader (as_log_stop at Exit) */
    if (make_dummy_hash(&cfg->oauth) != 0) {
        as_error("cannot compute the dummy password hash");
        goto Exit;
    }
    if (cfg->tls_listen != NULL && (ssl_ctx = as_tls_server_ctx(cfg->tls_cert, cfg->tls_key)) == NULL)
        goto Exit;
    /* h2o's own limit answers in text/plain (HTTP/1.1) or refuses the stream (HTTP/2): keep it as a backstop
     * above the routers', which answer 413 in JSON */
    int access_log_fd = -1;
    if (cfg->access_log != NULL && strcmp(cfg->access_log, "-") == 0) {
        access_log_fd = 1;
    } else if (cfg->access_log != NULL &&
               (access_log_fd = open(cfg->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        as_error("cannot open the access log %s: %s", cfg->access_log, strerror(errno));
        goto Exit;
    }
    as_http_server_config_t http_config = {
        .access_log_fd = access_log_fd,
        .max_entity = cfg->max_body * 8 > 131072 ? cfg->max_body * 8 : 131072,
        .max_connections = cfg->max_connections != 0 ? cfg->max_connections : default_max_connections(cfg, app.num_threads),
        .max_connections_per_address = cfg->max_connections_per_address,
        .idle_timeout = (uint64_t)cfg->idle_timeout * 1000,
        .admin = app.admin_listen[0] != '\0',
        .h2_reset_budget = cfg->h2_reset_budget,
        .h2_frame_budget = cfg->h2_frame_budget,
    };
    as_http_server_init(&app.http, &http_config, ssl_ctx);
    as_info("at most %zu connections, %zu per client address (0: no cap), idle timeout %d s", http_config.max_connections,
            http_config.max_connections_per_address, cfg->idle_timeout);

    /* signals: handled by this thread only, with sigwait */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    size_t pw_threads = cfg->pwcheck_threads != 0 ? cfg->pwcheck_threads : (size_t)(ncpu > 0 ? ncpu : 1);
    /* about a second of queued argon2id work per worker; beyond it logins get 503 at once, not after 25 s */
    app.pwcheck = as_pwcheck_create(pw_threads, pw_threads * 32, 2000, cfg->pwcheck_nice);
    app.threads = as_calloc(app.num_threads, sizeof(*app.threads));
    for (size_t i = 0; i != app.num_threads; ++i) {
        app.threads[i].app = &app;
        app.threads[i].fd = app.threads[i].tls_fd = app.threads[i].admin_fd = -1;
        as_keyview_init(&app.threads[i].keys, as_keyset_retain(app.keys));
    }
    if (open_listeners(&app, &port, &tls_port, &admin_port) != 0)
        goto Exit;
    if (cfg->oauth.issuer == NULL) {
        /* known only now: with --listen HOST:0 the kernel picks the port */
        char host[256], portstr[16];
        as_http_parse_hostport(cfg->listen, host, sizeof(host), portstr, sizeof(portstr));
        snprintf(app.issuer, sizeof(app.issuer), "http://%s%s%s:%d", strchr(host, ':') != NULL ? "[" : "", host,
                 strchr(host, ':') != NULL ? "]" : "", port);
        cfg->oauth.issuer = app.issuer;
    }
    /* the metadata document and the cookies follow from the issuer */
    as_router_init(&table, 0);
    register_modules(&table, NULL, NULL);
    as_oauth_build_metadata(&cfg->oauth, &table);
    {
        const char *paths[AS_METRICS_MAX_ROUTES];
        size_t n = 0;
        for (size_t i = 0; i != table.num_routes && n != AS_METRICS_MAX_ROUTES; ++i)
            paths[n++] = table.routes[i].path; /* literals: they outlive the table */
        as_metrics_set_routes(paths, n);
    }
    as_router_dispose(&table);
    cfg->oauth.cookie_secure = strncmp(cfg->oauth.issuer, "https://", 8) == 0;
    /* RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, has Path=/ and no Domain, so no sibling host can set it */
    cfg->oauth.session_cookie = cfg->oauth.cookie_secure ? "__Host-authsvc-session" : "authsvc-session";
    snprintf(cfg->oauth.jwks_cache_control, sizeof(cfg->oauth.jwks_cache_control), "public, max-age=%d, must-revalidate",
             cfg->oauth.jwks_max_age);

    pthread_mutex_init(&app.ready_mutex, NULL);
    pthread_cond_init(&app.ready_cond, NULL);
    for (size_t i = 0; i != app.num_threads; ++i)
        h2o_multithread_create_thread(&app.threads[i].tid, NULL, thread_main, app.threads + i);
    /* the stop and key messages need every thread's receivers: announce readiness only once they exist */
    pthread_mutex_lock(&app.ready_mutex);
    while (app.num_ready != app.num_threads)
        pthread_cond_wait(&app.ready_cond, &app.ready_mutex);
    pthread_mutex_unlock(&app.ready_mutex);
    announce(&app, app.num_threads, port, tls_port, admin_port);

    wait_for_stop(&app, &sigs);
    as_ops_drain(&sigs, (uint64_t)cfg->drain_delay * 1000);
    atomic_store(&app.stopping, 1);
    for (size_t i = 0; i != app.num_threads; ++i)
        h2o_multithread_send_message(&app.threads[i].stop_receiver, &app.threads[i].stop_message);
    for (size_t i = 0; i != app.num_threads; ++i)
        pthread_join(app.threads[i].tid, NULL);
    ret = 0;
Exit:
    if (app.pwcheck != NULL)
        as_pwcheck_dispose(app.pwcheck);
    if (app.threads != NULL && ret != 0) {
        /* not started: the views and sockets are still ours */
        for (size_t i = 0; i != app.num_threads; ++i) {
            as_keyview_dispose(&app.threads[i].keys);
            if (app.threads[i].fd >= 0)
                close(app.threads[i].fd);
            if (app.threads[i].tls_fd >= 0)
                close(app.threads[i].tls_fd);
            if (app.threads[i].admin_fd >= 0)
                close(app.threads[i].admin_fd);
        }
    }
    as_keyset_release(app.keys);
    as_http_server_dispose(&app.http);
    as_tls_ctx_free(ssl_ctx);
    free(app.threads);
    as_metrics_dispose_all(); /* every thread that counted or scraped has been joined */
    free(cfg->oauth.dummy_hash);
    free(cfg->oauth.metadata);
    if (cfg->oauth.issuer == app.issuer)
        cfg->oauth.issuer = NULL; /* app.issuer ends here */
    as_log_stop();
    return ret;
}
