/*
 * http/access — what each request leaves behind for operators: a request id
 * (X-Request-Id, accepted from the client when well-formed, else made up, and
 * returned), annotations endpoints add to a request (client_id, grant, error
 * code), and one JSON line per request in the access log. Never a secret: no
 * query string, no header value, no body; annotations are the endpoint's
 * choice and must name no token or password. Loop thread only.
 */
#ifndef AS_HTTP_ACCESS_H
#define AS_HTTP_ACCESS_H

#include <h2o.h>

/** The longest request id accepted from a client; longer or other characters than [A-Za-z0-9._-] make a new one. */
#define AS_HTTP_REQUEST_ID_MAX 128

/**
 * Gives the request its id (the client's X-Request-Id if acceptable, else 16
 * random bytes in base64url), sets the X-Request-Id response header and
 * annotates it. Called by the router before any handler.
 */
void as_http_request_id(h2o_req_t *req);

/** Adds `name` = `value` (copied into the request's pool) to what the access log says of the request. */
void as_http_annotate(h2o_req_t *req, const char *name, const char *value);

/** The value annotated as `name`, or NULL. */
const char *as_http_annotation(h2o_req_t *req, const char *name);

/**
 * Registers the access logger on `pathconf`: the request's counters in the
 * thread's metrics block, and one JSON line per request to `fd` (the server
 * keeps it open; -1: no log), written whole with one write(2).
 */
void as_http_access_log_register(h2o_pathconf_t *pathconf, int fd);

#endif
