/*
 * authsvc-verify — offline verification of authsvc access tokens for resource servers.
 *
 * A verifier checks an RFC 9068 access token (a JWS-signed JWT, typ at+jwt) against the public keys
 * authsvc publishes as a JWKS, the expected issuer and audience, and the clock; and, when given the
 * revocation feed (api/revocation-feed.md), refuses revoked tokens (by jti) and tokens of users whose
 * sessions were ended (ver below the feed's min_ver). No call to authsvc per request: keys and
 * revocations are fetched in the background (asv_start) or when you ask (asv_refresh_jwks,
 * asv_poll_revocations), and verification reads them from memory.
 *
 * Threads: asv_verify may be called from any number of threads at once, also while another thread
 * fetches. A fetch is done outside every lock that asv_verify takes; the new keys or revocation state
 * are swapped in afterwards (a lock held for a pointer swap). The one time asv_verify itself does I/O is a
 * token whose kid is unknown: it refetches the JWKS once (rate-limited) and retries. Set
 * `no_fetch_in_verify` when asv_verify runs on an event loop that must not block.
 *
 * Errors: functions return 0 or a negative asv_err_t, and write a one-line English reason into the
 * caller's buffer (which may be NULL). Reasons never contain the token or a secret. Allocation failure
 * aborts the process.
 *
 * Build: cc ... $(pkg-config --cflags --libs authsvc-verify); for libauthsvc-verify.a, link it with
 * $(pkg-config --libs libcrypto jansson libcurl) -pthread (see README.md).
 */
#ifndef AUTHSVC_VERIFY_H
#define AUTHSVC_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ASV_API __attribute__((visibility("default")))
#define ASV_WUR __attribute__((warn_unused_result))

/** Longest token accepted, in bytes; longer ones are ASV_ERR_MALFORMED without being decoded. */
#define ASV_TOKEN_MAX_LEN 8192
/** A reason buffer of this size never truncates. */
#define ASV_REASON_MAX 256
/** leeway_seconds value meaning "no leeway" (0 selects the default). */
#define ASV_NO_LEEWAY (-1)

typedef enum en_asv_err_t {
    ASV_OK = 0,
    /* the token */
    ASV_ERR_MALFORMED = -1,     /* not three base64url parts of JSON objects, too long, duplicate member names, crit */
    ASV_ERR_BAD_ALGORITHM = -2, /* none, HS*, unknown, or not the algorithm of the key its kid names */
    ASV_ERR_BAD_TYPE = -3,      /* typ is not at+jwt: not an access token */
    ASV_ERR_UNKNOWN_KEY = -4,   /* no kid, or a kid that is not in the JWKS (even after a refetch) */
    ASV_ERR_BAD_SIGNATURE = -5,
    ASV_ERR_EXPIRED = -6,       /* now >= exp + leeway */
    ASV_ERR_NOT_YET_VALID = -7, /* now + leeway < nbf */
    ASV_ERR_WRONG_ISSUER = -8,
    ASV_ERR_WRONG_AUDIENCE = -9,
    ASV_ERR_MISSING_CLAIM = -10,     /* sub, client_id, jti, exp or iat absent or of the wrong type; ver < 1 */
    ASV_ERR_REVOKED_TOKEN = -11,     /* its jti is listed by the revocation feed */
    ASV_ERR_REVOKED_SUBJECT = -12,   /* its ver is below the feed's min_ver for its sub */
    ASV_ERR_STALE_REVOCATIONS = -13, /* revocations_max_age is set and the feed has not answered for that long */
    /* fetching and configuration */
    ASV_ERR_FETCH = -20,        /* the fetch callback failed (transport, or an HTTP status other than 200) */
    ASV_ERR_BAD_DOCUMENT = -21, /* the JWKS or feed answer is not what the protocol says; the old state is kept */
    ASV_ERR_CONFIG = -22,       /* invalid configuration or call (e.g. polling without a feed_url) */
} asv_err_t;

/** A short English description of an asv_err_t ("expired", "revoked token", ...). Static storage. */
ASV_API const char *asv_strerror(int err);

/**
 * Fetches `url` with GET. When `basic_user` is not NULL, sends HTTP Basic credentials built per
 * RFC 6749 §2.3.1 (each of user and password application/x-www-form-urlencoded, then base64).
 * On a 200 answer: returns 0 and sets *body to a malloc'd buffer (the library free()s it) of *len bytes.
 * Anything else is a failure: return a negative number, or the HTTP status if there was one (it goes into
 * the reason). May be called from any thread that calls the library (one call at a time per document).
 */
typedef int (*asv_fetch_cb)(void *ctx, const char *url, const char *basic_user, const char *basic_password, char **body,
                            size_t *len);

/** Receives the reasons of failures that no caller sees (those of the background thread). */
typedef void (*asv_log_cb)(void *ctx, const char *message);

/**
 * Configuration. Zero-initialize and set what you need; 0 / NULL selects the default. The verifier copies
 * every string, so the struct and its strings may go away after asv_verifier_new.
 */
typedef struct st_asv_config_t {
    const char *issuer;    /* required: the exact "iss" of authsvc (its --issuer) */
    const char *audience;  /* this resource server's audience, which "aud" must contain; NULL accepts any
                              audience (only for tools: a token meant for another API would pass) */
    const char *jwks_url;  /* required: authsvc's /.well-known/jwks.json */
    const char *feed_url;  /* optional: authsvc's /oauth2/revocations; needs client_id and client_secret */
    const char *client_id; /* a confidential client of authsvc: the feed's Basic credentials */
    const char *client_secret;
    int leeway_seconds;            /* clock skew tolerated on exp and nbf; default 30, ASV_NO_LEEWAY for none */
    int jwks_min_refetch_interval; /* at most one JWKS refetch for an unknown kid per this many seconds; default 30 */
    int jwks_refresh_interval;     /* asv_start: the JWKS is refetched this often (seconds); default 300 */
    int feed_poll_interval;        /* asv_start: the feed is polled this often (seconds); default 5 */
    int revocations_max_age;       /* when > 0 and feed_url is set: refuse every token (ASV_ERR_STALE_REVOCATIONS)
                                      while the last successful poll is older than this (seconds) or there has
                                      been none — fail closed. Default 0: keep accepting with the last state. */
    int no_fetch_in_verify;        /* asv_verify never does I/O: an unknown kid fails at once and asks the
                                      background thread (asv_start) for the rate-limited refetch */
    int fetch_timeout_ms;          /* the built-in libcurl fetcher's total deadline per request; default 5000 */
    asv_fetch_cb fetch;            /* NULL: the built-in libcurl fetcher (http and https only, no redirects) */
    void *fetch_ctx;
    asv_log_cb log; /* NULL: one line on standard error, "authsvc-verify: ..." */
    void *log_ctx;
} asv_config_t;

typedef struct st_asv_verifier_t asv_verifier_t;

/**
 * Creates a verifier. Does no I/O: the first token (or asv_refresh_jwks, or asv_start) fetches the JWKS.
 * Returns NULL with a reason if the configuration is invalid. Owner: the caller (asv_verifier_free).
 */
ASV_API asv_verifier_t *asv_verifier_new(const asv_config_t *cfg, char *reason, size_t reasonlen) ASV_WUR;

/**
 * Stops the background thread if there is one, and frees the verifier. No other call on `v` may be running
 * or follow. Claims obtained from it stay valid (they own their memory).
 */
ASV_API void asv_verifier_free(asv_verifier_t *v);

/** The claims of a verified token. Every pointer is owned by the struct: release with asv_claims_clear. */
typedef struct st_asv_claims_t {
    const char *iss;
    const char *sub; /* the user's id, or the client id for client_credentials tokens */
    const char *client_id;
    const char *jti;
    const char *scope;     /* space-separated; "" when the token has none */
    int64_t exp, iat, nbf; /* seconds since the epoch (nbf = iat when absent) */
    int64_t ver;           /* the user's token_version; 0 on client tokens, which carry none */
    void *priv;            /* the whole payload (opaque) */
} asv_claims_t;

/**
 * Verifies `token` (`len` bytes, not necessarily NUL-terminated): signature with the JWKS key its kid
 * names (whose algorithm must be the header's), typ, iss, aud, exp and nbf with the leeway, then the
 * revocation state. Returns 0 and fills `out` (may be NULL), or a negative asv_err_t with `out` zeroed
 * (clearing it is harmless) and a reason. Thread-safe.
 */
ASV_API int asv_verify(asv_verifier_t *v, const char *token, size_t len, asv_claims_t *out, char *reason, size_t reasonlen) ASV_WUR;

/** Frees what asv_verify put in `c` and zeroes it; idempotent. */
ASV_API void asv_claims_clear(asv_claims_t *c);

/** The value of any string claim of the payload (e.g. "azp"), or NULL. Valid while `c` is. */
ASV_API const char *asv_claims_string(const asv_claims_t *c, const char *name);

/** 1 if `scope` is one of the space-separated scopes of the token (whole words only), else 0. */
ASV_API int asv_claims_has_scope(const asv_claims_t *c, const char *scope);

/** The whole payload as JSON (keys sorted; indented when `pretty`), malloc'd and NUL-terminated: free() it. */
ASV_API char *asv_claims_json(const asv_claims_t *c, int pretty);

/**
 * Fetches the JWKS now and swaps in its keys (public keys with use "sig" or no use, and an alg of ES256,
 * EdDSA or RS256 that fits the key; others are ignored; a kid listed twice is dropped). On failure the
 * current keys stay. Blocking I/O; thread-safe (concurrent calls fetch one after the other).
 */
ASV_API int asv_refresh_jwks(asv_verifier_t *v, char *reason, size_t reasonlen);

/**
 * One poll of the revocation feed: GET feed_url?since=CURSOR (no since the first time) with Basic
 * credentials, then replace the state (reset: true) or merge into it, and keep the new cursor. Revoked
 * jtis are forgotten once their exp plus the leeway has passed. On failure the state and cursor stay.
 * Blocking I/O; thread-safe (concurrent calls poll one after the other).
 */
ASV_API int asv_poll_revocations(asv_verifier_t *v, char *reason, size_t reasonlen);

/**
 * Starts one background thread that refetches the JWKS every jwks_refresh_interval (sooner after a
 * failure, and on request in no_fetch_in_verify mode) and polls the feed every feed_poll_interval when
 * feed_url is set. The first fetches happen at once. Failures go to the log callback. Call at most once.
 */
ASV_API int asv_start(asv_verifier_t *v, char *reason, size_t reasonlen);

/** Which time an asv_clock_cb is asked for. */
typedef enum en_asv_clock_t {
    ASV_CLOCK_REALTIME = 0, /* milliseconds since the Unix epoch: compared with exp and nbf, and with the feed's exp */
    ASV_CLOCK_MONOTONIC = 1 /* milliseconds since any fixed point, never going back: the unknown-kid rate limit, the
                               background thread's schedule, revocations_max_age */
} asv_clock_t;

/**
 * Returns the current time of kind `which`, in milliseconds. Called on every asv_verify and by the background
 * thread, from any thread: make it cheap and thread-safe.
 */
typedef int64_t (*asv_clock_cb)(void *ctx, asv_clock_t which);

/**
 * Gives the verifier another clock than the real one (clock_gettime CLOCK_REALTIME and CLOCK_MONOTONIC, which
 * `clock` NULL restores): for tests and simulations, which then move time instead of waiting for it. Call it
 * before any other call on `v` but asv_verifier_new; returns ASV_ERR_CONFIG once asv_start has run.
 */
ASV_API int asv_set_clock(asv_verifier_t *v, asv_clock_cb clock, void *ctx);

/**
 * Says that the verifier's clock moved other than with real time (a test advanced it). The background thread
 * sleeps in real time until its clock says the next fetch is due; this wakes it to read the clock again.
 * Harmless without a background thread. Thread-safe.
 */
ASV_API void asv_clock_changed(asv_verifier_t *v);

/**
 * Finds the token in an Authorization header value: "Bearer" (any case), one or more spaces, the token
 * (RFC 6750 §2.1 b64token characters only), optional trailing spaces. Returns 0 and points *token into
 * `value`, or -1. For convenience; no verification.
 */
ASV_API int asv_bearer_token(const char *value, size_t len, const char **token, size_t *toklen);

#ifdef __cplusplus
}
#endif

#endif
