/*
 * http/form — the syntax of what requests carry and responses set:
 * application/x-www-form-urlencoded bodies, HTTP Basic credentials (RFC 6749
 * §2.3.1, Appendix B), media types, cookies (RFC 6265). Pure functions on pool
 * memory; any thread.
 */
#ifndef AS_HTTP_FORM_H
#define AS_HTTP_FORM_H

#include <stddef.h>
#include <h2o.h>
#include "authsvc/as.h"

#define AS_FORM_MAX_PARAMS 32

typedef struct st_as_form_param_t {
    h2o_iovec_t name;
    h2o_iovec_t value; /* decoded and NUL-terminated (the NUL is not counted) */
} as_form_param_t;

typedef struct st_as_form_t {
    as_form_param_t params[AS_FORM_MAX_PARAMS];
    size_t num_params;
} as_form_t;

/**
 * Parses `body` into `form`, decoding into `pool`. Returns 0, or
 * AS_ERR_BAD_INPUT (bad percent-encoding, a NUL or control byte, a name or
 * value that is not UTF-8, an empty name), AS_ERR_TOO_LARGE (more than AS_FORM_MAX_PARAMS parameters) or
 * AS_ERR_DUPLICATE (a parameter given twice, RFC 6749 §3.2; *dup_name, if not
 * NULL, names it). Parameters with an empty value are treated as absent
 * (RFC 6749 §3.1).
 */
int as_form_parse(h2o_mem_pool_t *pool, const char *body, size_t len, as_form_t *form, h2o_iovec_t *dup_name);

/** 1 if `s` is well-formed UTF-8 (no overlong form, no surrogate, nothing past U+10FFFF), else 0. */
int as_utf8_valid(const char *s, size_t len);

/**
 * Percent-decodes one urlencoded value ('+' is a space) into `pool`,
 * NUL-terminated. Returns 0, or AS_ERR_BAD_INPUT (bad escape, a control
 * byte, not UTF-8).
 */
int as_form_decode(h2o_mem_pool_t *pool, const char *s, size_t len, h2o_iovec_t *out);

/** The value of parameter `name`, or NULL. */
const h2o_iovec_t *as_form_get(const as_form_t *form, const char *name);

/** Zeroes every value of `form` (a pool is not zeroed when cleared, and forms carry passwords and tokens). */
void as_form_wipe(as_form_t *form);

/**
 * Parses an Authorization header value of the Basic scheme: base64 of
 * urlencoded(id) ":" urlencoded(secret). Returns 0 and the decoded parts in
 * pool memory (UTF-8, no control byte), AS_ERR_UNSUPPORTED if the scheme is
 * not Basic, AS_ERR_BAD_INPUT if malformed.
 */
int as_basic_parse(h2o_mem_pool_t *pool, const char *value, size_t len, h2o_iovec_t *id, h2o_iovec_t *secret);

/**
 * Finds cookie `name` in a Cookie header value ("a=1; b=2"). Returns 0 and
 * its value (not decoded, quotes removed), AS_ERR_NOT_FOUND, AS_ERR_DUPLICATE
 * when the header carries it twice, or AS_ERR_BAD_INPUT when its value holds
 * a byte that is not a cookie-octet (RFC 6265 §4.1.1).
 */
int as_cookie_find(const char *header, size_t len, const char *name, h2o_iovec_t *value);

/** Cookie attributes. */
enum {
    AS_COOKIE_SECURE = 1, /* Secure: sent over https only (and required by the __Host- prefix) */
};

/**
 * A Set-Cookie value in `pool`: "NAME=VALUE; Path=/; HttpOnly; SameSite=Lax"
 * plus "; Secure" and "; Max-Age=N" (`max_age` >= 0; 0 deletes the cookie, a
 * negative value makes a session cookie). `value` must be cookie-octets
 * (base64url is).
 */
h2o_iovec_t as_cookie_format(h2o_mem_pool_t *pool, const char *name, const char *value, int64_t max_age, int flags);

/** 1 if a media type (a Content-Type value) is `expected`, ignoring case and parameters. */
int as_media_type_is(const char *value, size_t len, const char *expected);

#endif
