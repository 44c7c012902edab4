/*
 * http/guard: the buffers h2o 2.2.5 keeps for reuse are handed back to malloc. A real h2o server on an event loop in
 * this thread answers one HTTP/2 request over loopback; afterwards h2o keeps freed buffers (its HTTP/2 write buffers
 * among them, which only a connection leads to), and as_http_thread_release leaves none.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "authsvc/as.h"
#include "authsvc/http/guard.h"
#include "authsvc/http/listen.h"
#include "check_run.h"

#define MAX_TURNS 200 /* event loop turns of at most 10 ms each before a test gives up */

/* the h2c preface, an empty SETTINGS frame, and HEADERS (END_STREAM | END_HEADERS) on stream 1: GET / */
static const uint8_t request[] = {
    'P', 'R', 'I', ' ', '*', ' ', 'H', 'T', 'T', 'P', '/', '2', '.', '0', '\r', '\n', '\r', '\n', 'S', 'M', '\r', '\n', '\r', '\n',
    0, 0, 0, 0x04, 0, 0, 0, 0, 0,                                 /* SETTINGS, no parameters */
    0, 0, 14, 0x01, 0x05, 0, 0, 0, 1,                             /* HEADERS, 14 bytes, stream 1 */
    0x82, 0x86, 0x84,                                             /* :method GET, :scheme http, :path / */
    0x41, 9, '1', '2', '7', '.', '0', '.', '0', '.', '1',         /* :authority 127.0.0.1 */
};

/** Reads what the server sent (non-blocking); 1 once a HEADERS frame for stream 1 has arrived. */
static int got_response(int fd, uint8_t *buf, size_t *len, size_t cap)
{
    ssize_t n;
    while (*len < cap && (n = read(fd, buf + *len, cap - *len)) > 0)
        *len += (size_t)n;
    for (size_t off = 0; off + 9 <= *len;) {
        size_t flen = ((size_t)buf[off] << 16) | ((size_t)buf[off + 1] << 8) | buf[off + 2];
        uint32_t sid = ((uint32_t)(buf[off + 5] & 0x7f) << 24) | ((uint32_t)buf[off + 6] << 16) | ((uint32_t)buf[off + 7] << 8) | buf[off + 8];
        if (buf[off + 3] == 0x01 && sid == 1)
            return 1;
        off += 9 + flen;
    }
    return 0;
}

/** HTTP/2 write buffers h2o keeps on this thread; 0 also while they have not been found. */
static size_t http2_kept(void)
{
    size_t http2;
    (void)as_http__buffers_kept(&http2);
    return http2 == SIZE_MAX ? 0 : http2;
}

START_TEST(kept_buffers_are_released)
{
    as_http_server_config_t config = {.max_entity = 65536, .access_log_fd = -1, .h2_reset_budget = AS_H2_RESET_BUDGET,
                                      .h2_frame_budget = AS_H2_FRAME_BUDGET, .idle_timeout = 10000};
    static as_http_server_t server;
    static as_http_thread_t thr;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    uint8_t buf[16384];
    size_t len = 0;
    size_t http2 = 0;
    int port, lfd, cfd, turns;

    as_http_server_init(&server, &config, NULL);
    as_http_thread_init(&thr, &server, 4096);
    ck_assert_int_ge(lfd = as_http_listen_open("127.0.0.1:0", -1, &port), 0);
    as_http_thread_listen(&thr, &server, lfd, -1);

    ck_assert_int_ge(cfd = socket(AF_INET, SOCK_STREAM, 0), 0);
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0); /* the kernel completes it: the backlog */
    ck_assert_int_eq(write(cfd, request, sizeof(request)), (ssize_t)sizeof(request));
    ck_assert_int_eq(fcntl(cfd, F_SETFL, O_NONBLOCK), 0);

    /* the server answers (404: no route); h2o's write buffer goes back to its cache once written */
    for (turns = 0; turns != MAX_TURNS && !(got_response(cfd, buf, &len, sizeof(buf)) && http2_kept() != 0); ++turns)
        h2o_evloop_run(thr.ctx.loop, 10);
    (void)as_http__buffers_kept(&http2);
    ck_assert_msg(turns != MAX_TURNS, "no answer, or no HTTP/2 write buffer kept (%zu bytes read, %zu kept)", len, http2);

    /* handed back to malloc: none of either kind is left */
    as_http_thread_release(&thr);
    ck_assert_uint_eq(as_http__buffers_kept(&http2), 0);
    ck_assert_uint_eq(http2, 0);
    close(cfd);
}
END_TEST

AS_CHECK_MAIN("http_buffers", kept_buffers_are_released)
