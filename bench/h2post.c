/*
 * h2post — a minimal HTTP/2 (h2c, prior knowledge) load driver that POSTs a DIFFERENT body per request.
 *
 * h2load sends the same body every time; a refresh-token rotation consumes its token, so each request
 * needs its own. This driver reads one body per line from a file and never reuses a line.
 *
 *   h2post -p PORT [-c CONNS] [-m STREAMS] [-D SECONDS] [-a AUTHORIZATION] [-P PATH] BODIES-FILE
 *
 * Prints one line of key=value pairs: requests completed inside the measured window, the rate, status classes,
 * resets, mean / p50 / p99 latency, and whether the bodies ran out. Loopback h2c only; no TLS, no Huffman,
 * no dynamic table (requests are encoded as literals without indexing, which any HPACK decoder accepts).
 * Responses: only :status is decoded — the first field of h2o's header block (indexed 0x88..0x8e, or a
 * literal with the static name :status).
 *
 * Build: cc -O2 -o h2post h2post.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 100
#define RBUF_SIZE (1 << 20)
#define WBUF_SIZE (1 << 20)

typedef struct {
    uint32_t id; /* 0: free */
    double t0;
} slot_t;

typedef struct {
    int fd;
    int index;
    int dead;
    uint32_t next_id;
    int inflight;
    int64_t send_window; /* connection-level, for our DATA */
    int64_t recv_unacked;
    slot_t slots[MAX_STREAMS];
    uint8_t *rbuf;
    size_t rlen;
    uint8_t *wbuf;
    size_t wlen;
    int want_out;
} conn_t;

static char **bodies;
static size_t nbodies, next_body;
static int exhausted;
static const char *path = "/oauth2/token", *authz;
static char authority[64];
static int streams = 32;
static int *pending_status; /* [conn * streams + slot]: the status seen in HEADERS, reported at END_STREAM */
static double t_start, t_end;
static int measuring, stopping;
static long long completed, st2, st4, st5, stother, resets, goaways;
static double *lat;
static size_t nlat, caplat;
static double last_done;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
    perror(msg);
    exit(2);
}

static void put(conn_t *c, const void *p, size_t n)
{
    if (c->wlen + n > WBUF_SIZE) {
        fprintf(stderr, "h2post: write buffer full\n");
        exit(2);
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
}

static void frame_header(conn_t *c, size_t len, int type, int flags, uint32_t stream)
{
    uint8_t h[9] = {len >> 16, len >> 8, len, type, flags, stream >> 24, stream >> 16, stream >> 8, stream};
    put(c, h, 9);
}

/* HPACK integer with an N-bit prefix; `first` carries the pattern bits above the prefix */
static size_t hpack_int(uint8_t *dst, uint8_t first, int nbits, size_t v)
{
    size_t max = (1u << nbits) - 1, n = 0;
    if (v < max) {
        dst[n++] = first | v;
        return n;
    }
    dst[n++] = first | max;
    v -= max;
    while (v >= 128) {
        dst[n++] = (v & 127) | 128;
        v >>= 7;
    }
    dst[n++] = v;
    return n;
}

/* literal header field without indexing, name from the static table */
static size_t hpack_lit(uint8_t *dst, int name_index, const char *value, size_t len)
{
    size_t n = hpack_int(dst, 0x00, 4, name_index);
    n += hpack_int(dst + n, 0x00, 7, len);
    memcpy(dst + n, value, len);
    return n + len;
}

static void submit(conn_t *c)
{
    uint8_t hb[4096];
    size_t n = 0;
    const char *body;
    size_t blen;
    char cl[24];
    int si;

    if (next_body >= nbodies) {
        exhausted = 1;
        return;
    }
    body = bodies[next_body];
    blen = strlen(body);
    if ((int64_t)blen > c->send_window)
        return; /* wait for the server's WINDOW_UPDATE */
    ++next_body;

    hb[n++] = 0x83; /* :method POST */
    hb[n++] = 0x86; /* :scheme http */
    n += hpack_lit(hb + n, 4, path, strlen(path));
    n += hpack_lit(hb + n, 1, authority, strlen(authority));
    n += hpack_lit(hb + n, 31, "application/x-www-form-urlencoded", 33);
    n += hpack_lit(hb + n, 28, cl, snprintf(cl, sizeof(cl), "%zu", blen));
    if (authz != NULL)
        n += hpack_lit(hb + n, 23, authz, strlen(authz));

    for (si = 0; c->slots[si].id != 0; ++si)
        ;
    c->slots[si].id = c->next_id;
    c->slots[si].t0 = now();
    pending_status[c->index * streams + si] = 0;
    frame_header(c, n, 1, 0x4, c->next_id); /* HEADERS, END_HEADERS */
    put(c, hb, n);
    frame_header(c, blen, 0, 0x1, c->next_id); /* DATA, END_STREAM */
    put(c, body, blen);
    c->send_window -= blen;
    c->next_id += 2;
    ++c->inflight;
}

static void fill(conn_t *c)
{
    while (!stopping && !c->dead && c->inflight < streams && !exhausted) {
        int before = c->inflight;
        submit(c);
        if (c->inflight == before)
            break;
    }
}

static void record_latency(double d)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        if ((lat = realloc(lat, caplat * sizeof(*lat))) == NULL)
            die("realloc");
    }
    lat[nlat++] = d;
}

static void finish(conn_t *c, uint32_t id, int status)
{
    int si;
    for (si = 0; si < streams; ++si)
        if (c->slots[si].id == id)
            break;
    if (si == streams)
        return; /* not ours, or already done */
    double t = now();
    if (measuring && t <= t_end) {
        ++completed;
        if (status >= 200 && status < 300)
            ++st2;
        else if (status >= 400 && status < 500)
            ++st4;
        else if (status >= 500 && status < 600)
            ++st5;
        else if (status < 0)
            ++resets;
        else
            ++stother;
        record_latency(t - c->slots[si].t0);
        last_done = t;
    }
    c->slots[si].id = 0;
    --c->inflight;
}

/* :status of a response header block (h2o puts it first); -2 when unrecognised */
static int decode_status(const uint8_t *p, size_t len)
{
    static const int indexed[] = {200, 204, 206, 304, 400, 404, 500};
    if (len >= 1 && p[0] >= 0x88 && p[0] <= 0x8e)
        return indexed[p[0] - 0x88];
    /* literal (with, without or never indexing) with the static name :status (index 8) */
    if (len >= 5 && (p[0] == 0x48 || p[0] == 0x08 || p[0] == 0x18) && p[1] == 3)
        return (p[2] - '0') * 100 + (p[3] - '0') * 10 + (p[4] - '0');
    return -2;
}


static void dispatch(conn_t *c, int ci, int type, int flags, uint32_t sid, const uint8_t *p, size_t len)
{
    int si;
    switch (type) {
    case 0: /* DATA */
        c->recv_unacked += len;
        if (flags & 0x1) {
            for (si = 0; si < streams && c->slots[si].id != sid; ++si)
                ;
            if (si < streams)
                finish(c, sid, pending_status[ci * streams + si]);
        }
        break;
    case 1: { /* HEADERS */
        size_t off = 0, pad = 0;
        if (flags & 0x8) {
            pad = p[0];
            off = 1;
        }
        if (flags & 0x20)
            off += 5;
        int status = len >= off + pad ? decode_status(p + off, len - off - pad) : -2;
        for (si = 0; si < streams && c->slots[si].id != sid; ++si)
            ;
        if (si < streams) {
            if (pending_status[ci * streams + si] == 0) /* a trailer HEADERS must not override */
                pending_status[ci * streams + si] = status;
            if (flags & 0x1)
                finish(c, sid, pending_status[ci * streams + si]);
        }
        break;
    }
    case 3: /* RST_STREAM */
        finish(c, sid, -1);
        break;
    case 4: /* SETTINGS */
        if (!(flags & 0x1))
            frame_header(c, 0, 4, 0x1, 0);
        break;
    case 6: /* PING */
        if (!(flags & 0x1) && len == 8) {
            frame_header(c, 8, 6, 0x1, 0);
            put(c, p, 8);
        }
        break;
    case 7: /* GOAWAY */
        ++goaways;
        if (len >= 8)
            fprintf(stderr, "h2post: GOAWAY error code %u\n", (unsigned)(p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7]));
        c->dead = 1;
        break;
    case 8: /* WINDOW_UPDATE */
        if (sid == 0 && len == 4)
            c->send_window += (uint32_t)(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]) & 0x7fffffff;
        break;
    default:
        break;
    }
}

static void flush(conn_t *c, int ep)
{
    while (c->wlen > 0) {
        ssize_t w = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) {
                if (!c->want_out) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    c->want_out = 1;
                }
                return;
            }
            if (errno == EINTR)
                continue;
            c->dead = 1;
            c->wlen = 0;
            return;
        }
        memmove(c->wbuf, c->wbuf + w, c->wlen - w);
        c->wlen -= w;
    }
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 0;
    }
}

static void on_readable(conn_t *c, int ci)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->dead = 1;
            break;
        }
        if (r == 0) {
            c->dead = 1;
            break;
        }
        c->rlen += r;
        size_t off = 0;
        while (c->rlen - off >= 9) {
            const uint8_t *h = c->rbuf + off;
            size_t len = (size_t)h[0] << 16 | h[1] << 8 | h[2];
            if (c->rlen - off < 9 + len)
                break;
            uint32_t sid = ((uint32_t)h[5] << 24 | h[6] << 16 | h[7] << 8 | h[8]) & 0x7fffffff;
            dispatch(c, ci, h[3], h[4], sid, h + 9, len);
            off += 9 + len;
        }
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
        if (c->rlen == RBUF_SIZE) {
            fprintf(stderr, "h2post: oversized frame\n");
            exit(2);
        }
    }
    if (c->recv_unacked > (1 << 20)) { /* give the connection window back */
        uint8_t inc[4] = {c->recv_unacked >> 24, c->recv_unacked >> 16, c->recv_unacked >> 8, c->recv_unacked};
        frame_header(c, 4, 8, 0, 0);
        put(c, inc, 4);
        c->recv_unacked = 0;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void load_bodies(const char *file)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    if (f == NULL)
        die(file);
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (nbodies == n) {
            n = n ? n * 2 : 1024;
            if ((bodies = realloc(bodies, n * sizeof(*bodies))) == NULL)
                die("realloc");
        }
        bodies[nbodies++] = strdup(line);
    }
    free(line);
    fclose(f);
}

int main(int argc, char **argv)
{
    int port = 0, nconns = 16, opt;
    double duration = 10;
    while ((opt = getopt(argc, argv, "p:c:m:D:a:P:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'm': streams = atoi(optarg); break;
        case 'D': duration = atof(optarg); break;
        case 'a': authz = optarg; break;
        case 'P': path = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc - 1 || port <= 0 || nconns <= 0 || streams <= 0 || streams > MAX_STREAMS || duration <= 0) {
    usage:
        fprintf(stderr, "usage: h2post -p PORT [-c CONNS] [-m STREAMS<=%d] [-D SECONDS] [-a AUTHORIZATION] [-P PATH] BODIES-FILE\n",
                MAX_STREAMS);
        return 2;
    }
    load_bodies(argv[optind]);
    snprintf(authority, sizeof(authority), "127.0.0.1:%d", port);

    int ep = epoll_create1(0);
    conn_t *conns = calloc(nconns, sizeof(*conns));
    pending_status = calloc((size_t)nconns * streams, sizeof(int));
    for (int i = 0; i < nconns; ++i) {
        conn_t *c = &conns[i];
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        int one = 1;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
            die("socket");
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            die("connect");
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        c->index = i;
        c->rbuf = malloc(RBUF_SIZE);
        c->wbuf = malloc(WBUF_SIZE);
        c->next_id = 1;
        c->send_window = 65535;
        /* preface; SETTINGS: ENABLE_PUSH=0, INITIAL_WINDOW_SIZE=16 MiB; a large connection window */
        put(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
        uint8_t settings[12] = {0, 2, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0};
        frame_header(c, sizeof(settings), 4, 0, 0);
        put(c, settings, sizeof(settings));
        uint8_t inc[4] = {0x3f, 0xff, 0, 0};
        frame_header(c, 4, 8, 0, 0);
        put(c, inc, 4);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    t_start = now();
    t_end = t_start + duration;
    measuring = 1;
    for (int i = 0; i < nconns; ++i) {
        fill(&conns[i]);
        flush(&conns[i], ep);
    }

    double drain_until = 0;
    for (;;) {
        double t = now();
        int alive = 0, inflight = 0;
        for (int i = 0; i < nconns; ++i)
            if (!conns[i].dead) {
                ++alive;
                inflight += conns[i].inflight;
            }
        if (!stopping && (t >= t_end || (exhausted && inflight == 0) || alive == 0)) {
            stopping = 1;
            drain_until = t + 5; /* let what is in flight finish (uncounted), so the server is idle afterwards */
        }
        if (stopping && (inflight == 0 || t >= drain_until || alive == 0))
            break;
        struct epoll_event evs[64];
        int timeout = (int)(((stopping ? drain_until : t_end) - t) * 1000) + 1;
        int n = epoll_wait(ep, evs, 64, timeout > 100 ? 100 : timeout);
        for (int k = 0; k < n; ++k) {
            conn_t *c = evs[k].data.ptr;
            int ci = (int)(c - conns);
            if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c, ci);
            fill(c);
            flush(c, ep);
        }
    }

    double end = exhausted && last_done > 0 && last_done < t_end ? last_done : t_end;
    double elapsed = end - t_start;
    double p50 = 0, p99 = 0, mean = 0;
    if (nlat > 0) {
        qsort(lat, nlat, sizeof(*lat), cmp_double);
        for (size_t i = 0; i < nlat; ++i)
            mean += lat[i];
        mean /= nlat;
        p50 = lat[nlat / 2];
        p99 = lat[(size_t)(nlat * 0.99)];
    }
    printf("completed=%lld elapsed=%.2f rps=%.1f 2xx=%lld 4xx=%lld 5xx=%lld other=%lld reset=%lld goaway=%lld "
           "mean_ms=%.2f p50_ms=%.2f p99_ms=%.2f exhausted=%d bodies_used=%zu\n",
           completed, elapsed, completed / elapsed, st2, st4, st5, stother, resets, goaways, mean * 1e3, p50 * 1e3, p99 * 1e3,
           exhausted, next_body);
    return 0;
}
