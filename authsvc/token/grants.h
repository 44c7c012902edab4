/*
 * token/grants — who may get what: the grant types a client may use, the
 * scope rules of RFC 6749 §3.3 (syntax, narrowing a request to what is
 * allowed), and which subjects are users. Pure functions; any thread; results
 * in the caller's memory pool.
 */
#ifndef AS_TOKEN_GRANTS_H
#define AS_TOKEN_GRANTS_H

#include <stddef.h>
#include <h2o.h>
#include "authsvc/as.h"

/** Grant types, as a bit set (a client's record holds the ones it may use). */
enum {
    AS_GRANT_CLIENT_CREDENTIALS = 1 << 0,
    AS_GRANT_PASSWORD = 1 << 1,
    AS_GRANT_REFRESH_TOKEN = 1 << 2,
    AS_GRANT_AUTHORIZATION_CODE = 1 << 3,
};

/** The bit of a grant_type name, or 0 if it is not one we implement. */
unsigned as_grant_parse(const char *name, size_t len);

/** The longest scope parameter accepted, in bytes. */
#define AS_SCOPE_MAX_LEN 1024

/** 1 if `s` is a scope-token of RFC 6749 §3.3: one or more of %x21 / %x23-5B / %x5D-7E. */
int as_scope_token_valid(const char *s, size_t len);

/**
 * Narrows a requested scope (space-separated; `requested` NULL asks for
 * everything) to the tokens in `allowed`. The result (in `pool`) keeps the
 * order of `allowed`, has no duplicates, and is "" when nothing is allowed.
 * Returns 0, or AS_ERR_BAD_INPUT when the request is malformed, too long or
 * names a token that is not allowed.
 */
int as_scope_resolve(h2o_mem_pool_t *pool, const h2o_iovec_t *requested, const as_strlist_t *allowed, const char **out);

/** Splits a space-separated scope into a list (pool memory), skipping empty tokens. */
as_strlist_t as_scope_split(h2o_mem_pool_t *pool, const char *scope);

/** 1 if `s` is a UUID in text form: the subjects of user tokens are (client tokens carry the client id). */
int as_is_uuid(const char *s);

#endif
