/*
 * http/form — application/x-www-form-urlencoded bodies and HTTP Basic
 * credentials (RFC 6749 §2.3.1, Appendix B). Pure functions on pool memory;
 * any thread.
 */
#ifndef AS_HTTP_FORM_H
#define AS_HTTP_FORM_H

#include <stddef.h>
#include <h2o.h>

#define AS_FORM_MAX_PARAMS 32

typedef struct st_as_form_param_t {
    h2o_iovec_t name;
    h2o_iovec_t value; /* decoded and NUL-terminated (the NUL is not counted) */
} as_form_param_t;

typedef struct st_as_form_t {
    as_form_param_t params[AS_FORM_MAX_PARAMS];
    size_t num_params;
} as_form_t;

typedef enum en_as_form_err_t {
    AS_FORM_OK = 0,
    AS_FORM_MALFORMED = -1,    /* bad percent-encoding, a NUL or control byte, an empty name */
    AS_FORM_TOO_MANY = -2,     /* more than AS_FORM_MAX_PARAMS parameters */
    AS_FORM_DUPLICATE = -3,    /* a parameter given twice (RFC 6749 §3.2) */
} as_form_err_t;

/**
 * Parses `body` into `form`, decoding into `pool`. On AS_FORM_DUPLICATE,
 * *dup_name (if not NULL) names the parameter. Parameters with an empty value
 * are treated as absent (RFC 6749 §3.1).
 */
as_form_err_t as_form_parse(h2o_mem_pool_t *pool, const char *body, size_t len, as_form_t *form, h2o_iovec_t *dup_name);

/** The value of parameter `name`, or NULL. */
const h2o_iovec_t *as_form_get(const as_form_t *form, const char *name);

/**
 * Parses an Authorization header value of the Basic scheme: base64 of
 * urlencoded(id) ":" urlencoded(secret). Returns 0 and the decoded parts in
 * pool memory, 1 if the scheme is not Basic, -1 if malformed.
 */
int as_basic_parse(h2o_mem_pool_t *pool, const char *value, size_t len, h2o_iovec_t *id, h2o_iovec_t *secret);

/** 1 if a media type (a Content-Type value) is `expected`, ignoring case and parameters. */
int as_media_type_is(const char *value, size_t len, const char *expected);

#endif
