/*
 * http/request — reading what a request carries, with its limits: the form
 * body, Basic client credentials, a Bearer token, the query string. Nothing
 * here answers the request: each function returns 0 or an as_err_t and a
 * short reason, and the endpoint answers in its own dialect (an RFC 6749
 * error, a Bearer challenge, an HTML page). Loop thread only; results live in
 * the request's pool.
 */
#ifndef AS_HTTP_REQUEST_H
#define AS_HTTP_REQUEST_H

#include <h2o.h>
#include "authsvc/http/form.h"

/**
 * Reads an application/x-www-form-urlencoded body into `form`. Returns 0, or
 * AS_ERR_UNSUPPORTED (another content type), AS_ERR_BAD_INPUT,
 * AS_ERR_DUPLICATE or AS_ERR_TOO_LARGE, with a reason fit for an
 * error_description in *why.
 */
int as_http_read_form(h2o_req_t *req, as_form_t *form, const char **why);

/**
 * The value of the request's one Authorization header. Returns 0, or
 * AS_ERR_NOT_FOUND (none) or AS_ERR_DUPLICATE (more than one: which one counts
 * would be a guess).
 */
int as_http_authorization(h2o_req_t *req, h2o_iovec_t *value);

/**
 * Basic credentials (RFC 6749 §2.3.1) from the Authorization header, decoded
 * into the request's pool. Returns 0, or AS_ERR_NOT_FOUND (no header),
 * AS_ERR_DUPLICATE (two headers), AS_ERR_UNSUPPORTED (another scheme) or
 * AS_ERR_BAD_INPUT (malformed).
 */
int as_http_basic_credentials(h2o_req_t *req, h2o_iovec_t *id, h2o_iovec_t *secret);

/**
 * The token of an `Authorization: Bearer` header (RFC 6750 §2.1). Returns 0,
 * or AS_ERR_NOT_FOUND (no header, or another scheme: no Bearer credentials
 * came), AS_ERR_DUPLICATE (two headers) or AS_ERR_BAD_INPUT (empty token).
 */
int as_http_bearer_token(h2o_req_t *req, h2o_iovec_t *token);

/** Room for a client address in text ("2001:db8::1"), NUL included. */
#define AS_HTTP_ADDRESS_MAX 64

/**
 * The address of the client the request came from, as text (an IPv4-mapped
 * IPv6 peer is written as IPv4). The peer of the connection, unless that peer
 * is a trusted proxy (as_http_set_trusted_proxies): then the right-most
 * address of X-Forwarded-For that is not itself a trusted proxy, read right
 * to left through the trusted hops (every X-Forwarded-For header, in order,
 * is one list). An element that is not an address (a name, "unknown", a port,
 * an obfuscated identifier) ends the walk: the address of the last trusted
 * hop reached is the client then, as it is when every element is trusted.
 * "unknown" if the socket cannot tell. Loop thread; no allocation.
 */
void as_http_client_address(h2o_req_t *req, char out[AS_HTTP_ADDRESS_MAX]);

/** An IPv4 or IPv6 network: `bits` leading bits of `addr` (IPv4 in the first 4 bytes). */
typedef struct st_as_http_cidr_t {
    uint8_t family; /* 4 or 6 */
    uint8_t bits;
    uint8_t addr[16];
} as_http_cidr_t;

/**
 * Parses "ADDRESS" or "ADDRESS/BITS", IPv4 or IPv6 (an address alone is a
 * /32 or /128). Returns 0, or AS_ERR_BAD_INPUT (not that form, a prefix out of
 * range, or bits set beyond the prefix: "10.1.2.3/8" is more likely a typo
 * than a network). An IPv4-mapped IPv6 network is stored as the IPv4 one.
 * Pure; any thread.
 */
int as_http_cidr_parse(const char *spec, as_http_cidr_t *out);

/** Whether the address (`family` 4 or 6, its bytes) is in one of the `n` networks. Pure. */
int as_http_cidr_match(const as_http_cidr_t *nets, size_t n, int family, const uint8_t *addr);

/**
 * The client address behind trusted proxies (the rule of
 * as_http_client_address), from the peer (`family` 4 or 6, its bytes), the
 * values of the X-Forwarded-For headers in order, and the trusted networks;
 * written to `out` as text. Pure; any thread.
 */
void as_http_forwarded_client(const as_http_cidr_t *trusted, size_t num_trusted, int family, const uint8_t *peer,
                              const h2o_iovec_t *xff, size_t num_xff, char out[AS_HTTP_ADDRESS_MAX]);

/**
 * Sets the process-wide trusted proxies (--trusted-proxy) from `n` CIDR
 * specs; none (the default): X-Forwarded-For is ignored. Main thread, before
 * the event threads start; read-only afterwards. Returns 0, or
 * AS_ERR_BAD_INPUT with the offending spec in *bad (nothing is set then).
 */
int as_http_set_trusted_proxies(const char *const *specs, size_t n, const char **bad);

/**
 * The value of cookie `name`, from every Cookie header (HTTP/2 may split
 * them). Returns 0, AS_ERR_NOT_FOUND, AS_ERR_DUPLICATE when it is sent
 * twice (another path or domain could have set one: trust neither), or
 * AS_ERR_BAD_INPUT (not cookie-octets).
 */
int as_http_cookie(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/**
 * The raw (still percent-encoded) value of query parameter `name`. Returns 0,
 * AS_ERR_NOT_FOUND, AS_ERR_DUPLICATE (given twice) or AS_ERR_BAD_INPUT (the
 * name without "=", or a value whose decoding (as_form_decode) is not UTF-8).
 */
int as_http_query_param(h2o_req_t *req, const char *name, h2o_iovec_t *value);

#endif
