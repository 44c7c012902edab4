/*
 * authsvc/verify — what the library's files share and the application never sees. Everything here is
 * hidden in libauthsvc-verify.so (-fvisibility=hidden) and localized in libauthsvc-verify.a, so that
 * these names and our copies of crypto/, token/access.c and base/log.c cannot clash with the application.
 */
#ifndef ASV_INTERNAL_H
#define ASV_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc-verify.h"

/** snprintf into a caller's reason buffer, which may be NULL or empty. */
void asv__reason(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** The asv_err_t of a token/access result (0 or an AS_ERR_TOKEN_* of authsvc/as.h). */
int asv__token_err(int err);

/** Copies at most `max` characters of `s` into `out` (max + 4 bytes), printable ASCII only ('?' for the others). */
void asv__sanitize(const char *s, size_t max, char *out);

/* --- keys (jwks.c) ------------------------------------------------------------------------------------ */

/** The verification keys of one JWKS document, by kid. Immutable once built: shared by every reader. */
typedef struct st_asv__keyset_t {
    size_t count;
    struct st_asv__kid_key_t {
        char *kid;
        as_key_t *key;
    } * keys;
} asv__keyset_t;

/** An empty key set. Owner: the caller (asv__keyset_free). */
asv__keyset_t *asv__keyset_new(void);
void asv__keyset_free(asv__keyset_t *ks);
/** The key of `kid`, or NULL. The reference stays the set's: retain it to keep it past the set. */
as_key_t *asv__keyset_find(const asv__keyset_t *ks, const char *kid);

/**
 * Parses a JWKS document into a new key set; *ignored counts the keys left out (unsupported kty or alg,
 * use other than "sig", not matching their alg, duplicate kid). Returns 0, or ASV_ERR_BAD_DOCUMENT with a
 * reason when the document itself is not a JWKS.
 */
int asv__jwks_parse(const char *body, size_t len, asv__keyset_t **out, size_t *ignored, char *reason, size_t reasonlen);

/* --- revocations (revocations.c) ---------------------------------------------------------------------- */

/** A string -> int64 hash map (open addressing, linear probing, no deletion: maps are rebuilt instead). */
typedef struct st_asv__strmap_t {
    struct st_asv__strmap_entry_t {
        char *key;
        int64_t value;
    } * slots;
    size_t capacity; /* a power of two, or 0 */
    size_t count;
    uint64_t seed;
} asv__strmap_t;

const int64_t *asv__strmap_get(const asv__strmap_t *m, const char *key);
/** Sets key to `value`, or to the larger of the two if the key is there already. */
void asv__strmap_put_max(asv__strmap_t *m, const char *key, int64_t value);
void asv__strmap_dispose(asv__strmap_t *m);

/** What the feed says is revoked. Immutable once built: shared by every reader, replaced whole. */
typedef struct st_asv__revset_t {
    asv__strmap_t subjects; /* sub -> min_ver */
    asv__strmap_t jtis;     /* jti -> exp */
    int64_t min_jti_exp;    /* the smallest exp in jtis (INT64_MAX when empty): when pruning is next due */
} asv__revset_t;

#define ASV__CURSOR_MAX 20 /* a 64-bit transaction id in decimal */

/** A feed answer, validated: every member present and of the right type. */
typedef struct st_asv__feed_t {
    json_t *doc; /* owns the rest */
    char cursor[ASV__CURSOR_MAX + 1];
    int reset;
    json_t *subjects, *jtis;
} asv__feed_t;

asv__revset_t *asv__revset_new(void);
void asv__revset_free(asv__revset_t *rs);

/** Parses and validates a feed answer (api/revocation-feed.md). Returns 0, or ASV_ERR_BAD_DOCUMENT. */
int asv__feed_parse(const char *body, size_t len, asv__feed_t *feed, char *reason, size_t reasonlen);
void asv__feed_dispose(asv__feed_t *feed);

/**
 * Whether applying `feed` to `cur` changes anything: a reset, new entries, or jtis whose exp is at or before
 * `drop_until` (now - leeway) to forget.
 */
int asv__revset_needs_update(const asv__revset_t *cur, const asv__feed_t *feed, int64_t drop_until);

/** The state after `feed`: a new set built from `cur` (or from nothing on reset), without jtis expired by `drop_until`. */
asv__revset_t *asv__revset_apply(const asv__revset_t *cur, const asv__feed_t *feed, int64_t drop_until);

/* --- the built-in fetcher (fetch_curl.c) ----------------------------------------------------------------- */

/** curl_global_init, once per process (it is not thread-safe in every libcurl build). */
void asv__curl_init_once(void);

/**
 * GET with libcurl: http and https only, no redirects, `timeout_ms` for everything, the body capped at
 * `max_body` bytes. Same contract as asv_fetch_cb, plus curl's message in `err` on a transport failure.
 */
int asv__curl_fetch(int timeout_ms, size_t max_body, const char *url, const char *user, const char *password, char **body,
                    size_t *len, char *err, size_t errlen);

#endif
