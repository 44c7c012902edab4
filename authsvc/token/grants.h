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
#include "authsvc/crypto/crypto.h"

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

/** PKCE (RFC 7636) with S256, the only method accepted (OAuth 2.1): the lengths of a verifier and a challenge. */
#define AS_PKCE_VERIFIER_MIN 43
#define AS_PKCE_VERIFIER_MAX 128
#define AS_PKCE_CHALLENGE_LEN 43

/** 1 if `v` is a code_verifier: 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1). */
int as_pkce_verifier_valid(const char *v, size_t len);

/** 1 if `c` can be an S256 code_challenge: 43 base64url characters, the encoding of a SHA-256. */
int as_pkce_challenge_valid(const char *c, size_t len);

/** The S256 challenge of a verifier: base64url(SHA-256(verifier)), NUL-terminated. */
void as_pkce_s256(const char *verifier, size_t len, char challenge[AS_PKCE_CHALLENGE_LEN + 1]);

/**
 * An authorization code: AS_CODE_RAW_LEN random bytes, sent as AS_CODE_LEN
 * base64url characters; the database keeps only the SHA-256 of the bytes.
 */
#define AS_CODE_RAW_LEN 32
#define AS_CODE_LEN AS_B64URL_ENCLEN(AS_CODE_RAW_LEN)

/** The longest redirect_uri accepted, in bytes; and the longest redirect URI (or post-logout one) registered. */
#define AS_REDIRECT_URI_MAX 2048

/**
 * 1 if `uri` may receive an authorization response for a client that
 * registered `registered`: an exact, case-sensitive match of one of them
 * (RFC 9700 §2.1) — except that for a registered loopback URI
 * (http://127.0.0.1 or http://[::1]) the port may differ, as native apps pick
 * one when they start (RFC 8252 §7.3). "localhost" gets no such exception.
 */
int as_redirect_uri_allowed(const as_strlist_t *registered, const char *uri, size_t len);

/**
 * Whether `uri` may be registered as a redirect URI or a post-logout redirect
 * URI: an absolute URI of RFC 3986 characters, without a fragment (RFC 6749
 * §3.1.2) or a wildcard ("*": every URI is registered whole, RFC 9700 §2.1),
 * of one of the kinds RFC 8252 and RFC 9700 allow:
 *  - https://HOST... (no user information before the host);
 *  - http:// only on a loopback IP literal, 127.0.0.1 or [::1], with any port
 *    (RFC 8252 §7.3; "localhost" is refused, §8.3);
 *  - a private-use scheme for a native app, a reverse domain name with a dot
 *    (com.example.app:/callback, RFC 8252 §7.1).
 * The scheme must be written in lower case (matching is exact). Returns 0, or
 * AS_ERR_BAD_INPUT with the reason in *why (a literal).
 */
int as_redirect_uri_check(const char *uri, size_t len, const char **why);

/** 1 if `s` is a UUID in text form: the subjects of user tokens are (client tokens carry the client id). */
int as_is_uuid(const char *s);

#endif
