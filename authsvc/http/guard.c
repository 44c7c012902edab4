/*
 * http/guard — connection caps, protocol selection and the HTTP/2 abuse
 * limits (interface in guard.h).
 *
 * h2o 2.2.5 has no defence against Rapid Reset (CVE-2023-44487) or frame
 * floods, and its idle timer restarts on every byte read, so a PING every few
 * seconds keeps a connection forever. Rebuilding h2o from source with the
 * upstream fix would mean carrying a patched fork of a library Debian ships;
 * instead this file puts itself in front of h2o's HTTP/2 frame reader. An
 * HTTP/2 connection of h2o reads every frame through one function pointer,
 * `_read_expect` (lib/http2/connection.c, parse_input): h2o calls it with the
 * bytes received and it returns how many it consumed, or a negative HTTP/2
 * error code, upon which h2o itself sends GOAWAY with that code and closes
 * the connection. We replace that pointer with ours, which counts the frame
 * (its 9-byte header is all it needs), refuses it when the connection is over
 * a budget or past its idle deadline, and otherwise calls h2o's function.
 * h2o reassigns the pointer itself (preface -> frames -> CONTINUATION ->
 * frames); each time, ours puts itself back and remembers h2o's.
 *
 * The connection structure is private to h2o, and its header cannot even be
 * included (it needs khash.h, which Debian does not ship). `h2_prefix_t`
 * mirrors the beginning of h2o 2.2.5's h2o_http2_conn_t up to that pointer;
 * before the first use, the mirror is checked against a live connection (its
 * socket, context and place in the context's list of HTTP/2 connections
 * must be where the mirror says). If they are not (another h2o version), the
 * HTTP/2 limits are switched off with an error in the log, never guessed at.
 *
 * To be in place before h2o reads the first frame, we accept connections
 * ourselves: TLS handshake and ALPN, or on cleartext a look at the first
 * bytes for the h2c preface; then h2o_http2_accept (or h2o_http1_accept)
 * with the bytes read so far held back until the limits are installed. An
 * HTTP/1.1 request asking for `Upgrade: h2c` is upgraded from the request
 * path (as_http__guard_request), where the new connection's first request
 * arrives before any frame is read.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <h2o.h>
#include <h2o/http1.h>
#include <h2o/http2.h>
#include <h2o/http2_scheduler.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/http/guard.h"

/* --- connection counts -------------------------------------------------------------- */

#define ADDR_KEY_LEN 17 /* family, then the IPv4 address or the IPv6 /64 */

typedef struct st_addr_entry_t {
    struct st_addr_entry_t *next;
    uint8_t key[ADDR_KEY_LEN];
    size_t count;
} addr_entry_t;

struct st_as_http_limits_t {
    pthread_mutex_t mutex;
    size_t max_total, max_per_address;
    uint64_t h2_reset_budget, h2_frame_budget; /* read-only once created */
    size_t total;
    addr_entry_t **buckets;
    size_t num_buckets; /* a power of two */
    uint64_t seed;      /* random: which addresses share a bucket is nobody's choice */
};

as_http_limits_t *as_http__limits_new(size_t max_total, size_t max_per_address, uint64_t h2_reset_budget, uint64_t h2_frame_budget)
{
    as_http_limits_t *l = as_calloc(1, sizeof(*l));
    pthread_mutex_init(&l->mutex, NULL);
    l->max_total = max_total;
    l->max_per_address = max_per_address;
    l->h2_reset_budget = h2_reset_budget;
    l->h2_frame_budget = h2_frame_budget;
    for (l->num_buckets = 1024; l->num_buckets < max_total && l->num_buckets < (1u << 20);)
        l->num_buckets *= 2;
    l->buckets = as_calloc(l->num_buckets, sizeof(*l->buckets));
    as_random_bytes(&l->seed, sizeof(l->seed));
    return l;
}

void as_http__limits_free(as_http_limits_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i != l->num_buckets; ++i) {
        for (addr_entry_t *e = l->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(l->buckets);
    pthread_mutex_destroy(&l->mutex);
    free(l);
}

/** The address a cap counts: IPv4, or the /64 of IPv6 (one host usually holds a whole /64). Returns 0, or -1 (no address). */
static int addr_key(h2o_socket_t *sock, uint8_t key[ADDR_KEY_LEN])
{
    struct sockaddr_storage ss;
    socklen_t len = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    memset(key, 0, ADDR_KEY_LEN);
    if (len == 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        const uint8_t *a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, v4mapped, 12) == 0) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 8);
        }
        return 0;
    }
    return -1;
}

static size_t bucket_of(const as_http_limits_t *l, const uint8_t key[ADDR_KEY_LEN])
{
    uint64_t h = l->seed ^ 0xcbf29ce484222325ull;
    for (size_t i = 0; i != ADDR_KEY_LEN; ++i)
        h = (h ^ key[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & (l->num_buckets - 1);
}

/** Counts a new connection; returns 0, or -1 when a cap is reached (nothing counted). */
static int limits_take(as_http_limits_t *l, const uint8_t *key)
{
    int ret = -1;
    pthread_mutex_lock(&l->mutex);
    if (l->max_total != 0 && l->total >= l->max_total)
        goto Exit;
    if (key != NULL) {
        addr_entry_t **slot = l->buckets + bucket_of(l, key), *e;
        for (e = *slot; e != NULL && memcmp(e->key, key, ADDR_KEY_LEN) != 0; e = e->next)
            ;
        if (e == NULL) {
            e = as_calloc(1, sizeof(*e));
            memcpy(e->key, key, ADDR_KEY_LEN);
            e->next = *slot;
            *slot = e;
        }
        if (l->max_per_address != 0 && e->count >= l->max_per_address)
            goto Exit; /* the entry stays: it counts live connections */
        ++e->count;
    }
    ++l->total;
    ret = 0;
Exit:
    pthread_mutex_unlock(&l->mutex);
    return ret;
}

static void limits_release(as_http_limits_t *l, const uint8_t *key)
{
    pthread_mutex_lock(&l->mutex);
    --l->total;
    if (key != NULL) {
        addr_entry_t **slot = l->buckets + bucket_of(l, key), *e;
        for (; (e = *slot) != NULL; slot = &e->next) {
            if (memcmp(e->key, key, ADDR_KEY_LEN) == 0) {
                if (--e->count == 0) {
                    *slot = e->next;
                    free(e);
                }
                break;
            }
        }
    }
    pthread_mutex_unlock(&l->mutex);
}

/* --- h2o's HTTP/2 connection, as far as we touch it ---------------------------------- */

typedef ssize_t (*read_expect_fn)(void *h2conn, const uint8_t *src, size_t len, const char **err_desc);

/** The beginning of h2o 2.2.5's h2o_http2_conn_t (include/h2o/http2_internal.h), up to `_read_expect`; see the top. */
typedef struct st_h2_prefix_t {
    h2o_conn_t super;
    h2o_socket_t *sock;
    h2o_http2_settings_t peer_settings;
    void *streams; /* khash_t(h2o_http2_stream_t) * */
    struct {
        uint32_t max_open;
        uint32_t max_processed;
    } pull_stream_ids;
    struct {
        uint32_t max_open;
    } push_stream_ids;
    struct {
        struct {
            uint32_t open;
            uint32_t half_closed; /* requests handed to handlers whose response is not finished */
            uint32_t send_body;
        } priority, pull, push;
    } num_streams;
    h2o_http2_scheduler_node_t scheduler;
    int state; /* enum h2o_http2_conn_state_t */
    h2o_linklist_t _conns;
    read_expect_fn _read_expect;
} h2_prefix_t;

enum { LAYOUT_UNKNOWN, LAYOUT_OK, LAYOUT_WRONG };
static _Atomic int h2_layout = LAYOUT_UNKNOWN;

/*
 * h2o's HTTP/2 write buffers. Each connection writes through 80 KiB buffers from a prototype private to h2o
 * (lib/http2/connection.c, one per thread), whose allocator keeps up to 16 freed ones for reuse. They fill up over
 * time with the most connections a thread has had at once, and stay resident: 1.3 MiB per thread at most, but
 * the larger part of what grew between the first and the tenth million requests of bench/run's memory run once
 * malloc's own growth was fixed (bench/README.md, "Memory"). The prototype is found from a connection's write
 * buffer (`_write.buf`: an allocated buffer names its prototype; the initial one is the prototype's own), which
 * `h2_write_t` reaches by continuing the mirror above, checked the same way: the buffer must lead to a prototype
 * whose buffers are h2o 2.2.5's 81920 bytes, or the buffers are left to h2o. as_http__release_buffers hands them
 * back to malloc once a second, with the socket buffers h2o keeps the same way.
 */
#define H2O_HTTP2_OUTBUF_SIZE 81920 /* H2O_HTTP2_DEFAULT_OUTBUF_SIZE, in a header we cannot include */

typedef struct st_h2_hpack_table_t {
    void *entries;
    size_t num_entries, entry_capacity, entry_start_index, hpack_size, hpack_capacity, hpack_max_capacity;
} h2_hpack_table_t;

/** h2o 2.2.5's h2o_http2_conn_t on from h2_prefix_t, up to `_write.buf`. */
typedef struct st_h2_write_t {
    h2_prefix_t prefix;
    h2o_buffer_t *_http1_req_input;
    h2_hpack_table_t _input_header_table;
    ssize_t _input_window;
    h2_hpack_table_t _output_header_table;
    h2o_linklist_t _pending_reqs;
    h2o_timeout_entry_t _timeout_entry;
    h2o_buffer_t *_headers_unparsed;
    struct {
        h2o_buffer_t *buf;
    } _write;
} h2_write_t;

static __thread h2o_buffer_prototype_t *h2_wbuf_prototype;
static __thread int h2_wbuf_looked;

/** Finds this thread's HTTP/2 write buffer prototype from a connection whose layout has been checked. */
static void find_wbuf_prototype(h2_prefix_t *h2)
{
    h2o_buffer_t *buf = ((h2_write_t *)h2)->_write.buf;
    h2o_buffer_prototype_t *proto;

    h2_wbuf_looked = 1;
    if (buf == NULL)
        return;
    proto = buf->bytes == NULL ? H2O_STRUCT_FROM_MEMBER(h2o_buffer_prototype_t, _initial_buf, buf) : buf->_prototype;
    if (proto != NULL && proto != &h2o_socket_buffer_prototype && proto->_initial_buf.capacity == H2O_HTTP2_OUTBUF_SIZE &&
        proto->_initial_buf.bytes == NULL && proto->allocator.cnt <= proto->allocator.max)
        h2_wbuf_prototype = proto;
    else
        as_warn("h2o's HTTP/2 write buffers are not where this build expects (h2o 2.2.5): h2o keeps its freed ones");
}

static void release_recycled(h2o_mem_recycle_t *allocator)
{
    while (allocator->cnt != 0)
        free(h2o_mem_alloc_recycle(allocator, 1)); /* hands back the newest freed block, which h2o got from malloc */
}

size_t as_http__buffers_kept(size_t *http2)
{
    *http2 = h2_wbuf_prototype != NULL ? h2_wbuf_prototype->allocator.cnt : SIZE_MAX;
    return h2o_socket_buffer_prototype.allocator.cnt;
}

void as_http__release_buffers(void)
{
    release_recycled(&h2o_socket_buffer_prototype.allocator);
    if (h2_wbuf_prototype != NULL)
        release_recycled(&h2_wbuf_prototype->allocator);
}

/* HTTP/2 frame types and flags (RFC 9113 §6) */
enum { F_DATA, F_HEADERS, F_PRIORITY, F_RST_STREAM, F_SETTINGS, F_PUSH_PROMISE, F_PING, F_GOAWAY, F_WINDOW_UPDATE, F_CONTINUATION };
#define FLAG_END_STREAM 0x1
#define FLAG_ACK 0x1
#define FRAME_HEADER_LEN 9
#define ERROR_ENHANCE_YOUR_CALM (-11) /* h2o returns -(the RFC code) */

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)

/* --- one accepted connection -------------------------------------------------------------- */

typedef struct st_conn_t {
    as_http_limits_t *limits;
    uint8_t key[ADDR_KEY_LEN];
    int has_key;
    h2o_socket_t *sock; /* until we hand it over */
    h2o_accept_ctx_t *accept_ctx;
    struct timeval connected_at;
    h2o_timeout_entry_t handshake_entry; /* while we choose the protocol */
    /* HTTP/2 */
    read_expect_fn inner; /* h2o's reader of the current state */
    int preface_seen;
    uint32_t max_stream_id;
    uint64_t requests, resets, idle_frames;
    uint64_t last_progress; /* loop milliseconds: a new request, or the server working on one */
} conn_t;

static void on_close(void *data)
{
    conn_t *c = data;
    if (h2o_timeout_is_linked(&c->handshake_entry))
        h2o_timeout_unlink(&c->handshake_entry);
    limits_release(c->limits, c->has_key ? c->key : NULL);
    free(c);
}

static int layout_matches(h2_prefix_t *h2, h2o_socket_t *sock, h2o_context_t *ctx)
{
    if (h2->sock != sock || h2->super.ctx != ctx || h2->_read_expect == NULL)
        return 0;
    for (h2o_linklist_t *node = ctx->http2._conns.prev; node != &ctx->http2._conns; node = node->prev)
        if (node == &h2->_conns)
            return 1;
    return 0;
}

static ssize_t guarded_read(void *h2conn, const uint8_t *src, size_t len, const char **err_desc);

/** Puts guarded_read in front of h2o's reader of `h2` (the connection of `sock`). */
static void install(conn_t *c, h2_prefix_t *h2, h2o_socket_t *sock, h2o_context_t *ctx)
{
    int layout = atomic_load(&h2_layout);
    if (layout == LAYOUT_UNKNOWN) {
        layout = layout_matches(h2, sock, ctx) ? LAYOUT_OK : LAYOUT_WRONG;
        if (layout == LAYOUT_WRONG)
            as_error("h2o's HTTP/2 connection is not laid out as this build expects (h2o 2.2.5): the HTTP/2 abuse limits are OFF");
        atomic_store(&h2_layout, layout);
    }
    if (layout != LAYOUT_OK || h2->_read_expect == guarded_read)
        return;
    if (!h2_wbuf_looked)
        find_wbuf_prototype(h2);
    c->inner = h2->_read_expect;
    c->last_progress = h2o_now(ctx->loop);
    /* an upgraded connection starts with its first request (stream 1) already open */
    c->max_stream_id = h2->pull_stream_ids.max_open;
    c->requests = (c->max_stream_id + 1) / 2;
    h2->_read_expect = guarded_read;
}

/** Refuses the frame with GOAWAY(ENHANCE_YOUR_CALM), saying why in the GOAWAY's debug data and the log. */
static ssize_t refuse(conn_t *c, const char **err_desc, const char *why)
{
    char addr[NI_MAXHOST] = "?";
    struct sockaddr_storage ss;
    socklen_t len = h2o_socket_getpeername(c->sock, (struct sockaddr *)&ss);
    if (len != 0)
        h2o_socket_getnumerichost((struct sockaddr *)&ss, len, addr);
    as_warn("HTTP/2 connection from %s closed: %s (%llu requests, %llu resets, %llu frames without a response)", addr, why,
            (unsigned long long)c->requests, (unsigned long long)c->resets, (unsigned long long)c->idle_frames);
    *err_desc = why;
    return ERROR_ENHANCE_YOUR_CALM;
}

static ssize_t guarded_read(void *h2conn, const uint8_t *src, size_t len, const char **err_desc)
{
    h2_prefix_t *h2 = h2conn;
    conn_t *c = h2->sock->on_close.data;
    ssize_t ret;

    if (!c->preface_seen) {
        if (len >= PREFACE_LEN && memcmp(src, preface, PREFACE_LEN) == 0)
            c->preface_seen = 1;
        goto Pass; /* h2o checks the preface */
    }
    if (len < FRAME_HEADER_LEN)
        goto Pass;
    uint32_t flen = (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
    if (len < FRAME_HEADER_LEN + (size_t)flen)
        goto Pass; /* incomplete (h2o waits), or over the frame size (h2o refuses it): counted once whole */
    uint8_t type = src[3], flags = src[4];
    uint32_t stream_id = ((uint32_t)src[5] << 24 | (uint32_t)src[6] << 16 | (uint32_t)src[7] << 8 | src[8]) & 0x7fffffff;
    uint64_t now = h2o_now(h2->super.ctx->loop);

    switch (type) {
    case F_HEADERS:
        if ((stream_id & 1) != 0 && stream_id > c->max_stream_id) {
            c->max_stream_id = stream_id;
            ++c->requests;
            c->last_progress = now;
        } else {
            ++c->idle_frames; /* trailers */
        }
        break;
    case F_DATA:
        if (flen == 0 && (flags & FLAG_END_STREAM) == 0)
            ++c->idle_frames;
        break;
    case F_CONTINUATION:
        if (flen == 0)
            ++c->idle_frames;
        break;
    case F_RST_STREAM:
        ++c->resets;
        ++c->idle_frames;
        break;
    default: /* PING, SETTINGS, PRIORITY, WINDOW_UPDATE, GOAWAY, PUSH_PROMISE (an error anyway), unknown types */
        ++c->idle_frames;
        break;
    }
    if (c->resets > c->limits->h2_reset_budget + c->requests / 2)
        return refuse(c, err_desc, "too many stream resets");
    if (c->idle_frames > c->limits->h2_frame_budget + 2 * c->requests)
        return refuse(c, err_desc, "too many frames that produce no response");
    /* the server working on a request is progress; PINGs, SETTINGS and a trickle of DATA are not */
    if (h2->num_streams.pull.half_closed != 0)
        c->last_progress = now;
    else if (now - c->last_progress > h2->super.ctx->globalconf->http2.idle_timeout)
        return refuse(c, err_desc, "idle: no new request within the idle timeout");

Pass:
    ret = c->inner(h2conn, src, len, err_desc);
    if (h2->_read_expect != guarded_read) { /* h2o moved to another state */
        c->inner = h2->_read_expect;
        h2->_read_expect = guarded_read;
    }
    return ret;
}

/* --- accepting -------------------------------------------------------------------------- */

static void accept_http2(conn_t *c)
{
    h2o_socket_t *sock = c->sock;
    h2o_context_t *ctx = c->accept_ctx->ctx;
    /* h2o reads what the socket holds as soon as it accepts: hold the bytes back until our reader is in place */
    h2o_buffer_t *pending = sock->input;
    h2o_buffer_init(&sock->input, &h2o_socket_buffer_prototype);
    h2o_http2_accept(c->accept_ctx, sock, c->connected_at);
    install(c, sock->data, sock, ctx);
    h2o_buffer_dispose(&sock->input);
    sock->input = pending;
    if (sock->input->size != 0)
        sock->_cb.read(sock, NULL); /* h2o's on_read, set by h2o_http2_accept */
}

static void hand_over(conn_t *c, int http2)
{
    if (h2o_timeout_is_linked(&c->handshake_entry))
        h2o_timeout_unlink(&c->handshake_entry);
    c->sock->data = NULL;
    if (http2)
        accept_http2(c);
    else
        h2o_http1_accept(c->accept_ctx, c->sock, c->connected_at);
}

static void on_handshake_timeout(h2o_timeout_entry_t *entry)
{
    conn_t *c = H2O_STRUCT_FROM_MEMBER(conn_t, handshake_entry, entry);
    h2o_socket_close(c->sock); /* on_close frees c */
}

/** Cleartext: the h2c preface makes an HTTP/2 connection (prior knowledge), anything else HTTP/1.1. */
static void on_first_bytes(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    size_t n = sock->input->size < PREFACE_LEN ? sock->input->size : PREFACE_LEN;
    if (memcmp(sock->input->bytes, preface, n) != 0)
        hand_over(c, 0);
    else if (n == PREFACE_LEN)
        hand_over(c, 1);
    /* else: a beginning of the preface, wait for the rest */
}

static void on_tls_handshake(h2o_socket_t *sock, const char *err)
{
    conn_t *c = sock->data;
    if (err != NULL) {
        h2o_socket_close(sock);
        return;
    }
    h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
    int http2 = 0;
    for (const h2o_iovec_t *p = h2o_http2_alpn_protocols; p->len != 0; ++p)
        if (h2o_memis(proto.base, proto.len, p->base, p->len))
            http2 = 1;
    hand_over(c, http2);
}

void as_http__guard_accept(h2o_accept_ctx_t *accept_ctx, as_http_limits_t *limits, h2o_socket_t *sock)
{
    static __thread uint64_t last_refusal_log;
    conn_t *c = as_calloc(1, sizeof(*c));
    h2o_context_t *ctx = accept_ctx->ctx;

    c->limits = limits;
    c->has_key = addr_key(sock, c->key) == 0;
    if (limits_take(limits, c->has_key ? c->key : NULL) != 0) {
        if (h2o_now(ctx->loop) - last_refusal_log >= 1000) {
            last_refusal_log = h2o_now(ctx->loop);
            as_warn("connection refused: too many connections (--max-connections, --max-connections-per-address)");
        }
        free(c);
        h2o_socket_close(sock);
        return;
    }
    c->sock = sock;
    c->accept_ctx = accept_ctx;
    c->connected_at = *h2o_get_timestamp(ctx, NULL, NULL);
    sock->on_close.cb = on_close;
    sock->on_close.data = c;
    sock->data = c;
    c->handshake_entry.cb = on_handshake_timeout;
    h2o_timeout_link(ctx->loop, &ctx->handshake_timeout, &c->handshake_entry);
    if (accept_ctx->ssl_ctx != NULL)
        h2o_socket_ssl_handshake(sock, accept_ctx->ssl_ctx, NULL, on_tls_handshake);
    else
        h2o_socket_read_start(sock, on_first_bytes);
}

/* --- the request path ------------------------------------------------------------------------ */

int as_http__guard_request(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    if (sock == NULL || sock->on_close.cb != on_close)
        return 0;
    conn_t *c = sock->on_close.data;

    if (req->version >= 0x200) {
        /* the first request of a connection upgraded from HTTP/1.1 comes before any of its frames is read */
        install(c, (h2_prefix_t *)req->conn, sock, req->conn->ctx);
        return 0;
    }
    /* h2c Upgrade (RFC 7540 §3.2; deprecated by RFC 9113 but still spoken by curl and nghttp): h2o's own upgrade
     * is off (listen.c) because it would skip this guard; a request without a body is upgraded here, anything else
     * is answered over HTTP/1.1, as a server may */
    if (req->upgrade.base != NULL && h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("h2c")) && sock->ssl == NULL &&
        req->entity.base == NULL && h2o_http2_handle_upgrade(req, req->conn->connected_at) == 0)
        return 1;
    return 0;
}
