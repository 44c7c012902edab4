/*
 * h2post — a small HTTP/2 (h2c, prior knowledge) load driver for bench/run.
 *
 * h2load sends the same request every time, and cannot pace requests at a fixed rate. This driver can:
 *   - send a DIFFERENT body per request (one per line of a file, never reused: a refresh-token rotation
 *     consumes its token);
 *   - mix several kinds of request (GET or POST, fixed body or one body per line) by weight;
 *   - run closed-loop (every free stream sends again at once: the maximum rate) or open-loop at a fixed
 *     rate (-R): request i is due at start + i/RATE whatever the server does, and its latency is measured
 *     from that scheduled time, not from when it was sent, so a server that stalls is charged for the
 *     requests that queued up behind the stall (no coordinated omission).
 *
 *   h2post -p PORT [-c CONNS] [-m STREAMS] [-D SECONDS | -n REQUESTS] [-R RATE [-w WARMUP-SECONDS]]
 *          [-a AUTHORIZATION] [-P PATH] REQUEST...
 *
 *   REQUEST  a file name: POST to -P PATH (default /oauth2/token), one body per line of the file; or a
 *            spec "[name=N] [weight=W] METHOD PATH [body=FILE | lines=FILE]": GET or POST; body= sends the
 *            file's contents with every request, lines= one line per request (each once).
 *
 * Prints one line of key=value pairs for all requests together (completed, elapsed, rps, status classes,
 * resets, mean / p50 / p99 / p99.9 / max latency in ms, whether the bodies ran out), then, when there are
 * several kinds of request, one line "request name=N ..." for each. Latencies go into a log-linear histogram
 * (1/128 relative resolution, about 0.8 %, from 1 ns to minutes), so a 10 M-request run uses no more memory
 * than a short one.
 *
 * Closed loop with -D: what completes within the window counts. With -n: exactly that many requests are sent,
 * and all count. Open loop (-R): the requests due in [start + WARMUP, start + SECONDS) count, whenever they
 * complete (in-flight requests get up to 5 s after the window); requests that could not even be sent by the
 * end (every stream busy) are reported as unsent=, those still unanswered after the 5 s as unfinished=. lag_*_ms
 * tell how late the driver itself woke up to send requests that had a free stream (requests held back because
 * every stream was busy are left out): a latency close to the lag points at the client side (the driver did not
 * get a CPU in time), not at the server.
 *
 * Loopback h2c only; no TLS, no Huffman, no dynamic table (requests are encoded as literals without indexing,
 * which any HPACK decoder accepts). Responses: only :status is decoded — the first field of h2o's header block,
 * which h2o encodes either indexed (0x88..0x8e) or as a literal without indexing with the static name :status.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 100
#define MAX_TMPL 16
#define RBUF_SIZE (1 << 20)
#define WBUF_SIZE (1 << 20)
#define DRAIN_SECONDS 5

/* --- latency histogram: exact below 256 ns, then 128 buckets per power of two ---------------------------- */
#define HIST_BUCKETS (256 + 56 * 128)

typedef struct {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n, max;
    double sum;
} hist_t;

static int hist_index(uint64_t v)
{
    if (v < 256)
        return (int)v;
    int b = 63 - __builtin_clzll(v), shift = b - 7;
    int i = 256 + (shift - 1) * 128 + (int)((v >> shift) - 128);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static double hist_value(int i) /* the middle of bucket i */
{
    if (i < 256)
        return i;
    int shift = (i - 256) / 128 + 1;
    uint64_t low = (uint64_t)((i - 256) % 128 + 128) << shift;
    return low + ((1ull << shift) - 1) / 2.0;
}

static void hist_add(hist_t *h, double seconds)
{
    uint64_t ns = seconds <= 0 ? 0 : (uint64_t)(seconds * 1e9);
    ++h->counts[hist_index(ns)];
    ++h->n;
    h->sum += ns;
    if (ns > h->max)
        h->max = ns;
}

static double hist_ms(const hist_t *h, double q) /* the q-quantile, in ms */
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * h->n), seen = 0;
    if ((double)rank < q * h->n || rank == 0)
        ++rank; /* rank = ceil(q n), at least 1 */
    for (int i = 0; i != HIST_BUCKETS; ++i)
        if ((seen += h->counts[i]) >= rank) {
            double v = hist_value(i);
            return (v > h->max ? h->max : v) / 1e6;
        }
    return h->max / 1e6;
}

/* --- kinds of request ------------------------------------------------------------------------------------ */
typedef struct {
    const char *name;
    int is_get;
    const char *path;
    char *body; /* body=: sent every time */
    size_t body_len;
    char **lines; /* lines=: one per request */
    size_t nlines, next_line;
    long weight, credit;
    long long sent, completed, st2, st4, st5, other, resets;
    hist_t hist;
} tmpl_t;

static tmpl_t tmpls[MAX_TMPL];
static int ntmpl;
static long total_weight;

typedef struct {
    uint32_t id; /* 0: free */
    int tmpl;
    int record; /* counts in the figures */
    int status; /* seen in HEADERS, reported at END_STREAM */
    double t0;  /* sent (closed loop) or due (open loop) */
} slot_t;

typedef struct {
    int fd;
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

static conn_t *conns;
static int nconns = 16, streams = 32, ep;
static const char *default_path = "/oauth2/token", *authz;
static char authority[64];
static double t_start, t_end, t_warm, rate;
static long long max_requests; /* -n */
static long long scheduled;    /* open loop: requests due so far that were sent */
static int stopping, exhausted, open_loop;
static long long completed, st2, st4, st5, stother, resets, goaways, unfinished, unsent, max_backlog;
static hist_t all, lag; /* lag: open loop, how late the driver itself sent each request */
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

/** The next kind of request (smooth weighted round robin), or -1 when a lines= kind has run out. */
static int pick(void)
{
    int best = 0;
    if (ntmpl == 1)
        best = 0;
    else {
        for (int i = 0; i != ntmpl; ++i) {
            tmpls[i].credit += tmpls[i].weight;
            if (tmpls[i].credit > tmpls[best].credit)
                best = i;
        }
        tmpls[best].credit -= total_weight;
    }
    if (tmpls[best].lines != NULL && tmpls[best].next_line >= tmpls[best].nlines) {
        exhausted = 1;
        return -1;
    }
    return best;
}

/** Takes back the last pick(), of `best`. */
static void unpick(int best)
{
    if (ntmpl == 1)
        return;
    tmpls[best].credit += total_weight;
    for (int i = 0; i != ntmpl; ++i)
        tmpls[i].credit -= tmpls[i].weight;
}

/** Sends one request on c (which has a free stream); t0 is the time its latency counts from. 0 if it could not. */
static int submit(conn_t *c, double t0, int record)
{
    uint8_t hb[8192];
    size_t n = 0, blen = 0;
    const char *body = NULL;
    char cl[24];
    int si, ti;

    if ((ti = pick()) < 0)
        return 0;
    tmpl_t *tp = &tmpls[ti];
    if (!tp->is_get) {
        body = tp->lines != NULL ? tp->lines[tp->next_line] : tp->body;
        blen = tp->lines != NULL ? strlen(body) : tp->body_len;
        if ((int64_t)blen > c->send_window) {
            unpick(ti); /* wait for the server's WINDOW_UPDATE */
            return 0;
        }
        if (tp->lines != NULL)
            ++tp->next_line;
    }

    hb[n++] = tp->is_get ? 0x82 : 0x83; /* :method GET / POST */
    hb[n++] = 0x86;                      /* :scheme http */
    n += hpack_lit(hb + n, 4, tp->path, strlen(tp->path));
    n += hpack_lit(hb + n, 1, authority, strlen(authority));
    if (!tp->is_get) {
        n += hpack_lit(hb + n, 31, "application/x-www-form-urlencoded", 33);
        n += hpack_lit(hb + n, 28, cl, snprintf(cl, sizeof(cl), "%zu", blen));
    }
    if (authz != NULL)
        n += hpack_lit(hb + n, 23, authz, strlen(authz));

    for (si = 0; c->slots[si].id != 0; ++si)
        ;
    c->slots[si] = (slot_t){.id = c->next_id, .tmpl = ti, .record = record, .t0 = t0};
    if (tp->is_get) {
        frame_header(c, n, 1, 0x5, c->next_id); /* HEADERS, END_HEADERS | END_STREAM */
        put(c, hb, n);
    } else {
        frame_header(c, n, 1, 0x4, c->next_id); /* HEADERS, END_HEADERS */
        put(c, hb, n);
        frame_header(c, blen, 0, 0x1, c->next_id); /* DATA, END_STREAM */
        put(c, body, blen);
        c->send_window -= blen;
    }
    c->next_id += 2;
    ++c->inflight;
    ++tp->sent;
    return 1;
}

static long long sent_total(void)
{
    long long s = 0;
    for (int i = 0; i != ntmpl; ++i)
        s += tmpls[i].sent;
    return s;
}

/** Closed loop: fill every free stream of c. */
static void fill(conn_t *c)
{
    while (!stopping && !c->dead && c->inflight < streams && !exhausted) {
        if (max_requests > 0 && sent_total() >= max_requests)
            break;
        if (!submit(c, now(), 1))
            break;
    }
}

/** Open loop: send every request that is due, on the connections in turn; what finds no free stream waits. */
static void send_due(double t)
{
    static int rr, blocked; /* blocked: the last call left due requests behind, every stream being busy */
    long long due = (long long)((t - t_start) * rate) + 1, limit = (long long)((t_end - t_start) * rate);
    if (due > limit)
        due = limit;
    if (due - scheduled > max_backlog)
        max_backlog = due - scheduled;
    while (scheduled < due && !exhausted) {
        int k, sent = 0;
        for (k = 0; k != nconns && !sent; ++k) {
            conn_t *c = &conns[(rr + k) % nconns];
            if (c->dead || c->inflight >= streams)
                continue;
            double t0 = t_start + scheduled / rate;
            if ((sent = submit(c, t0, t0 >= t_warm)) && t0 >= t_warm && !blocked)
                hist_add(&lag, t - t0); /* late only because the driver woke up late */
        }
        if (!sent)
            break;
        rr = (rr + k) % nconns;
        ++scheduled;
    }
    blocked = scheduled < due && !exhausted;
}

static void finish(conn_t *c, uint32_t id, int status)
{
    int si;
    for (si = 0; si < streams; ++si)
        if (c->slots[si].id == id)
            break;
    if (si == streams)
        return; /* not ours, or already done */
    slot_t *s = &c->slots[si];
    double t = now();
    int counts = open_loop ? s->record : (max_requests > 0 || (!stopping && t <= t_end));
    if (counts) {
        tmpl_t *tp = &tmpls[s->tmpl];
        ++completed;
        ++tp->completed;
        if (status >= 200 && status < 300)
            ++st2, ++tp->st2;
        else if (status >= 400 && status < 500)
            ++st4, ++tp->st4;
        else if (status >= 500 && status < 600)
            ++st5, ++tp->st5;
        else if (status == -1)
            ++resets, ++tp->resets;
        else
            ++stother, ++tp->other;
        hist_add(&all, t - s->t0);
        hist_add(&tp->hist, t - s->t0);
        last_done = t;
    }
    s->id = 0;
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

static slot_t *find_slot(conn_t *c, uint32_t sid)
{
    for (int si = 0; si < streams; ++si)
        if (c->slots[si].id == sid)
            return &c->slots[si];
    return NULL;
}

static void dispatch(conn_t *c, int type, int flags, uint32_t sid, const uint8_t *p, size_t len)
{
    slot_t *s;
    switch (type) {
    case 0: /* DATA */
        c->recv_unacked += len;
        if ((flags & 0x1) && (s = find_slot(c, sid)) != NULL)
            finish(c, sid, s->status);
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
        if ((s = find_slot(c, sid)) != NULL) {
            if (s->status == 0) /* a trailer HEADERS must not override */
                s->status = status;
            if (flags & 0x1)
                finish(c, sid, s->status);
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

static void flush(conn_t *c)
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

static void on_readable(conn_t *c)
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
            dispatch(c, h[3], h[4], sid, h + 9, len);
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

static char *read_file(const char *file, size_t *len)
{
    FILE *f = fopen(file, "r");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    if (f == NULL)
        die(file);
    do {
        if (n == cap && (buf = realloc(buf, (cap = cap ? cap * 2 : 4096) + 1)) == NULL)
            die("realloc");
        n += r = fread(buf + n, 1, cap - n, f);
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void load_lines(tmpl_t *tp, const char *file)
{
    size_t len, cap = 0;
    char *buf = read_file(file, &len), *p = buf, *nl;
    for (; p < buf + len; p = nl + 1) {
        if ((nl = strchr(p, '\n')) == NULL)
            nl = buf + len;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*p == '\0')
            continue;
        if (tp->nlines == cap && (tp->lines = realloc(tp->lines, (cap = cap ? cap * 2 : 1024) * sizeof(char *))) == NULL)
            die("realloc");
        tp->lines[tp->nlines++] = p; /* buf is kept for the whole run */
    }
    if (tp->nlines == 0) {
        fprintf(stderr, "h2post: %s has no line\n", file);
        exit(2);
    }
}

/** Parses a REQUEST argument into the next template. */
static void add_request(const char *arg)
{
    if (ntmpl == MAX_TMPL) {
        fprintf(stderr, "h2post: at most %d kinds of request\n", MAX_TMPL);
        exit(2);
    }
    tmpl_t *tp = &tmpls[ntmpl++];
    tp->weight = 1;
    if (strchr(arg, ' ') == NULL) { /* a bodies file */
        tp->name = "post";
        tp->path = default_path;
        load_lines(tp, arg);
        return;
    }
    char *spec = strdup(arg), *save = NULL, *w;
    int positional = 0;
    for (w = strtok_r(spec, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        if (strncmp(w, "name=", 5) == 0)
            tp->name = w + 5;
        else if (strncmp(w, "weight=", 7) == 0)
            tp->weight = atol(w + 7);
        else if (strncmp(w, "body=", 5) == 0)
            tp->body = read_file(w + 5, &tp->body_len);
        else if (strncmp(w, "lines=", 6) == 0)
            load_lines(tp, w + 6);
        else if (positional == 0 && (strcmp(w, "GET") == 0 || strcmp(w, "POST") == 0))
            tp->is_get = w[0] == 'G', ++positional;
        else if (positional == 1 && w[0] == '/')
            tp->path = w, ++positional;
        else {
            fprintf(stderr, "h2post: cannot read request spec \"%s\" at \"%s\"\n", arg, w);
            exit(2);
        }
    }
    if (positional != 2 || tp->weight <= 0 || (tp->is_get && (tp->body != NULL || tp->lines != NULL)) ||
        (!tp->is_get && (tp->body == NULL) == (tp->lines == NULL))) {
        fprintf(stderr, "h2post: request spec \"%s\": METHOD PATH, and a POST has body= or lines=\n", arg);
        exit(2);
    }
    if (tp->name == NULL)
        tp->name = tp->path;
}

static void print_stats(const char *prefix, long long n, long long s2, long long s4, long long s5, long long so, long long rs,
                        const hist_t *h, double elapsed)
{
    printf("%scompleted=%lld elapsed=%.2f rps=%.1f 2xx=%lld 4xx=%lld 5xx=%lld other=%lld reset=%lld mean_ms=%.3f p50_ms=%.3f "
           "p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f",
           prefix, n, elapsed, elapsed > 0 ? n / elapsed : 0, s2, s4, s5, so, rs, h->n ? h->sum / h->n / 1e6 : 0,
           hist_ms(h, 0.5), hist_ms(h, 0.9), hist_ms(h, 0.99), hist_ms(h, 0.999), h->max / 1e6);
}

int main(int argc, char **argv)
{
    int port = 0, opt;
    double duration = 10, warmup = 0;
    while ((opt = getopt(argc, argv, "p:c:m:D:n:R:w:a:P:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'm': streams = atoi(optarg); break;
        case 'D': duration = atof(optarg); break;
        case 'n': max_requests = atoll(optarg); break;
        case 'R': rate = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'a': authz = optarg; break;
        case 'P': default_path = optarg; break;
        default: goto usage;
        }
    }
    if (optind == argc || port <= 0 || nconns <= 0 || streams <= 0 || streams > MAX_STREAMS || duration <= 0 || rate < 0 ||
        warmup < 0 || warmup >= duration || (rate > 0 && max_requests > 0)) {
    usage:
        fprintf(stderr,
                "usage: h2post -p PORT [-c CONNS] [-m STREAMS<=%d] [-D SECONDS | -n REQUESTS] [-R RATE [-w WARMUP]]\n"
                "              [-a AUTHORIZATION] [-P PATH] REQUEST...\n"
                "  REQUEST: BODIES-FILE (POST to -P, one body per line), or\n"
                "           \"[name=N] [weight=W] GET PATH\" | \"[name=N] [weight=W] POST PATH body=FILE|lines=FILE\"\n",
                MAX_STREAMS);
        return 2;
    }
    for (int i = optind; i != argc; ++i)
        add_request(argv[i]);
    for (int i = 0; i != ntmpl; ++i)
        total_weight += tmpls[i].weight;
    open_loop = rate > 0;
    snprintf(authority, sizeof(authority), "127.0.0.1:%d", port);
    prctl(PR_SET_TIMERSLACK, 1000UL); /* wake up within ~1 µs of a request's due time, not the default 50 µs */

    ep = epoll_create1(0);
    conns = calloc(nconns, sizeof(*conns));
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
        flush(c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    t_start = now();
    t_end = max_requests > 0 ? 1e300 : t_start + duration;
    t_warm = t_start + warmup;
    double drain_until = 0;
    for (;;) {
        double t = now();
        if (open_loop && !stopping)
            send_due(t);
        else if (!open_loop)
            for (int i = 0; i < nconns; ++i)
                fill(&conns[i]);
        for (int i = 0; i < nconns; ++i)
            if (conns[i].wlen > 0 && !conns[i].want_out)
                flush(&conns[i]);

        int alive = 0, inflight = 0;
        for (int i = 0; i < nconns; ++i)
            if (!conns[i].dead) {
                ++alive;
                inflight += conns[i].inflight;
            }
        int all_sent = open_loop ? scheduled >= (long long)((t_end - t_start) * rate)
                                 : max_requests > 0 && sent_total() >= max_requests;
        if (!stopping && (t >= t_end || ((exhausted || all_sent) && inflight == 0) || alive == 0)) {
            stopping = 1;
            drain_until = t + DRAIN_SECONDS; /* let what is in flight finish, so the server is idle afterwards */
            if (open_loop)
                unsent = (long long)((t_end - t_start) * rate) - scheduled;
        }
        if (stopping && (inflight == 0 || t >= drain_until || alive == 0)) {
            if (open_loop)
                for (int i = 0; i < nconns; ++i)
                    for (int si = 0; si < streams; ++si)
                        unfinished += conns[i].slots[si].id != 0 && conns[i].slots[si].record;
            break;
        }

        double wake = stopping ? drain_until : t + 0.1;
        if (open_loop && !stopping) {
            double next_due = t_start + scheduled / rate;
            int room = 0;
            for (int i = 0; i < nconns && !room; ++i)
                room = !conns[i].dead && conns[i].inflight < streams;
            if (room && next_due < wake)
                wake = next_due;
        } else if (!open_loop && !stopping && t_end < wake)
            wake = t_end;
        double dt = wake - t;
        struct timespec ts = {0, 0};
        if (dt > 0) {
            ts.tv_sec = (time_t)dt;
            ts.tv_nsec = (long)((dt - ts.tv_sec) * 1e9);
        }
        struct epoll_event evs[64];
        int n = epoll_pwait2(ep, evs, 64, &ts, NULL);
        for (int k = 0; k < n; ++k) {
            conn_t *c = evs[k].data.ptr;
            if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
            if (evs[k].events & EPOLLOUT)
                flush(c);
        }
    }

    double elapsed;
    if (open_loop)
        elapsed = t_end - t_warm;
    else if (max_requests > 0)
        elapsed = last_done - t_start;
    else
        elapsed = (exhausted && last_done > 0 && last_done < t_end ? last_done : t_end) - t_start;
    print_stats("", completed, st2, st4, st5, stother, resets, &all, elapsed);
    printf(" goaway=%lld exhausted=%d sent=%lld", goaways, exhausted, sent_total());
    for (int i = 0; i != ntmpl; ++i)
        if (tmpls[i].lines != NULL)
            printf(" bodies_used=%zu", tmpls[i].next_line);
    if (open_loop)
        printf(" target_rps=%.1f unsent=%lld unfinished=%lld max_backlog=%lld lag_n=%llu lag_p50_ms=%.3f lag_p99_ms=%.3f lag_max_ms=%.3f",
               rate, unsent, unfinished, max_backlog, (unsigned long long)lag.n, hist_ms(&lag, 0.5), hist_ms(&lag, 0.99),
               lag.max / 1e6);
    printf("\n");
    if (ntmpl > 1)
        for (int i = 0; i != ntmpl; ++i) {
            char prefix[128];
            snprintf(prefix, sizeof(prefix), "request name=%s ", tmpls[i].name);
            tmpl_t *tp = &tmpls[i];
            print_stats(prefix, tp->completed, tp->st2, tp->st4, tp->st5, tp->other, tp->resets, &tp->hist, elapsed);
            printf("\n");
        }
    return 0;
}
