/*
 * http/guard — what stands between an accepted TCP connection and h2o, inside
 * http/ only (listen.c calls it): connection caps per process and per client
 * address, the choice between HTTP/1.1, h2c and TLS, and the HTTP/2 abuse
 * limits h2o 2.2.5 lacks (Rapid Reset, floods of frames that produce no
 * response, connections kept open by PINGs or a trickle of DATA).
 *
 * Loop thread only, except as_http__limits_*, which any event thread calls.
 */
#ifndef AS_HTTP_GUARD_H
#define AS_HTTP_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>

/*
 * Per HTTP/2 connection (README "HTTP/2 abuse"): a client may reset at most
 * `h2_reset_budget` streams (--h2-reset-budget, default AS_H2_RESET_BUDGET)
 * plus one for every two it opened, and send at most `h2_frame_budget`
 * frames that produce no response (PING, SETTINGS, PRIORITY, WINDOW_UPDATE,
 * RST_STREAM, empty DATA or CONTINUATION, unknown types; --h2-frame-budget,
 * default AS_H2_FRAME_BUDGET) plus two per stream it opened. Past either:
 * GOAWAY(ENHANCE_YOUR_CALM).
 */
#define AS_H2_RESET_BUDGET 100
#define AS_H2_FRAME_BUDGET 200

/** The process-wide connection counts (one per server, shared by the event threads under a mutex on the accept path). */
typedef struct st_as_http_limits_t as_http_limits_t;

/** `max_total`, `max_per_address` 0: no cap; the HTTP/2 budgets as above. */
as_http_limits_t *as_http__limits_new(size_t max_total, size_t max_per_address, uint64_t h2_reset_budget, uint64_t h2_frame_budget);
void as_http__limits_free(as_http_limits_t *limits);

/**
 * Takes over a socket just accepted: counts it (or closes it at once when a
 * cap is reached), then hands it to h2o as HTTP/1.1, h2c or TLS, with the
 * HTTP/2 limits installed before the first frame is read. The protocol must
 * be known within the context's handshake timeout. An HTTP/2 connection is
 * closed (GOAWAY) once it has gone `globalconf.http2.idle_timeout` without a
 * new request while the server owes it no response, whatever else it sends.
 */
void as_http__guard_accept(h2o_accept_ctx_t *accept_ctx, as_http_limits_t *limits, h2o_socket_t *sock);

/**
 * Called for every request before the router: installs the HTTP/2 limits on
 * a connection upgraded from HTTP/1.1 (h2c Upgrade), which h2o creates
 * itself. Returns 1 when it answered the request itself (an h2c Upgrade it
 * performed), else 0.
 */
int as_http__guard_request(h2o_req_t *req);

/**
 * Hands the buffers h2o keeps for reuse on this thread (freed socket buffers and HTTP/2 write buffers, up to 16
 * each) back to malloc, so that the pages they hold can be trimmed; h2o allocates afresh when it needs them again.
 */
void as_http__release_buffers(void);

/** How many socket buffers this thread keeps; *http2: how many HTTP/2 write buffers, SIZE_MAX until it has found
 * where h2o keeps them (tests). */
size_t as_http__buffers_kept(size_t *http2);

#endif
