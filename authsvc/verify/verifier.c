/*
 * The verifier: configuration, the key set and revocation state that asv_verify reads, and the fetches
 * that replace them.
 *
 * Concurrency. `lock` (a read-write lock, writers preferred) guards only the two pointers `keys` and
 * `revs` and the key generation. Readers hold it for a lookup (a kid among a few keys, or two hash
 * lookups) and take a reference on the key they found, so the signature check runs with no lock held.
 * A writer holds it for a pointer swap. Fetching and parsing happen before, under `jwks_mutex` or
 * `feed_mutex`, which serialize fetches of one kind and which verification of a known-kid token never
 * touches. Lock order: jwks_mutex or feed_mutex, then bg_mutex, then lock; bg_mutex is never held across a
 * fetch.
 *
 * Time. Every reading of the time goes through the verifier's clock (asv_set_clock; by default
 * clock_gettime): the wall clock for exp, nbf and forgetting revoked jtis, the monotonic one for the rate
 * limit, the background schedule and revocations_max_age. Only the background thread's sleep is in real time:
 * it sleeps for as long as its clock says the next task is away, and asv_clock_changed cuts that short.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "authsvc/as.h"
#include "authsvc/token/access.h"
#include "authsvc/verify/internal.h"

#define DEFAULT_LEEWAY 30
#define DEFAULT_MIN_REFETCH 30
#define DEFAULT_JWKS_REFRESH 300
#define DEFAULT_FEED_POLL 5
#define DEFAULT_FETCH_TIMEOUT_MS 5000
#define MAX_JWKS_BYTES (1024 * 1024)
#define MAX_FEED_BYTES (64 * 1024 * 1024)
/* Without `since` the feed answers with a compacted snapshot (entries that can no longer matter are gone);
 * asking for one this often bounds the memory of a long-running verifier. */
#define FEED_SNAPSHOT_EVERY_MS (3600 * 1000)
#define LOG_REPEAT_MS (60 * 1000) /* the background thread repeats an ongoing failure this often */

struct st_asv_verifier_t {
    /* the configuration: immutable after asv_verifier_new */
    char *issuer, *audience, *jwks_url, *feed_url, *client_id, *client_secret;
    int64_t leeway; /* seconds */
    int64_t min_refetch_ms, jwks_refresh_ms, feed_poll_ms, revocations_max_age_ms;
    int no_fetch_in_verify, fetch_timeout_ms;
    asv_fetch_cb fetch;
    void *fetch_ctx;
    asv_log_cb log;
    void *log_ctx;
    asv_clock_cb clock; /* NULL: clock_gettime; set before use (asv_set_clock) */
    void *clock_ctx;

    /* what asv_verify reads */
    pthread_rwlock_t lock;
    asv__keyset_t *keys;           /* never NULL */
    asv__revset_t *revs;           /* never NULL */
    uint64_t keys_generation;      /* bumped on every swap of `keys` */
    _Atomic int64_t feed_ok_at_ms; /* monotonic time of the last successful poll; 0: none yet */

    /* JWKS fetches, one at a time */
    pthread_mutex_t jwks_mutex;

    /* feed polls, one at a time: the cursor belongs to whoever holds feed_mutex */
    pthread_mutex_t feed_mutex;
    char cursor[ASV__CURSOR_MAX + 1];
    int64_t snapshot_at_ms; /* when the last reset answer came */

    /* the unknown-kid rate limit and the background thread; bg_mutex is only ever held briefly */
    pthread_mutex_t bg_mutex;
    pthread_cond_t bg_cond;
    int64_t kid_refetch_at_ms; /* last refetch for an unknown kid; INT64_MIN: none yet */
    int bg_started, bg_stop, bg_refetch_requested;
    pthread_t bg_thread;
};

#define MAX_SLEEP_MS (3600 * 1000) /* the background thread looks at its clock at least this often */

static int64_t real_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** The verifier's monotonic time, in milliseconds. */
static int64_t mono_ms(const asv_verifier_t *v)
{
    return v->clock != NULL ? v->clock(v->clock_ctx, ASV_CLOCK_MONOTONIC) : real_ms(CLOCK_MONOTONIC);
}

/** The verifier's wall-clock time, in whole seconds since the epoch (what exp and nbf are compared with). */
static int64_t wall_seconds(const asv_verifier_t *v)
{
    int64_t ms = v->clock != NULL ? v->clock(v->clock_ctx, ASV_CLOCK_REALTIME) : real_ms(CLOCK_REALTIME);
    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

void asv__reason(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void asv__sanitize(const char *s, size_t max, char *out)
{
    size_t i;
    for (i = 0; s[i] != '\0' && i != max; ++i)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

static void log_message(asv_verifier_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_message(asv_verifier_t *v, const char *fmt, ...)
{
    char line[ASV_REASON_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (v->log != NULL) {
        v->log(v->log_ctx, line);
    } else {
        fprintf(stderr, "authsvc-verify: %s\n", line);
    }
}

/* --- lifecycle ---------------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? as_strdup(s) : NULL;
}

static int64_t seconds_or_default(int v, int def)
{
    return v > 0 ? v : def;
}

asv_verifier_t *asv_verifier_new(const asv_config_t *cfg, char *reason, size_t reasonlen)
{
    asv_verifier_t *v;
    pthread_rwlockattr_t rwa;
    pthread_condattr_t ca;

    if (cfg->issuer == NULL || cfg->issuer[0] == '\0' || cfg->jwks_url == NULL || cfg->jwks_url[0] == '\0') {
        asv__reason(reason, reasonlen, "issuer and jwks_url are required");
        return NULL;
    }
    if (cfg->feed_url != NULL && (cfg->client_id == NULL || cfg->client_id[0] == '\0' || cfg->client_secret == NULL)) {
        asv__reason(reason, reasonlen, "feed_url needs client_id and client_secret (a confidential client)");
        return NULL;
    }
    if (cfg->leeway_seconds < ASV_NO_LEEWAY || cfg->jwks_min_refetch_interval < 0 || cfg->jwks_refresh_interval < 0 ||
        cfg->feed_poll_interval < 0 || cfg->revocations_max_age < 0 || cfg->fetch_timeout_ms < 0) {
        asv__reason(reason, reasonlen, "negative interval in the configuration");
        return NULL;
    }

    json_object_seed(0); /* before any thread of ours makes a JSON object (a no-op if it is done already) */
    if (cfg->fetch == NULL)
        asv__curl_init_once();

    v = as_calloc(1, sizeof(*v));
    v->issuer = as_strdup(cfg->issuer);
    v->audience = dup_or_null(cfg->audience);
    v->jwks_url = as_strdup(cfg->jwks_url);
    v->feed_url = dup_or_null(cfg->feed_url);
    v->client_id = dup_or_null(cfg->client_id);
    v->client_secret = dup_or_null(cfg->client_secret);
    v->leeway = cfg->leeway_seconds == ASV_NO_LEEWAY ? 0 : seconds_or_default(cfg->leeway_seconds, DEFAULT_LEEWAY);
    v->min_refetch_ms = seconds_or_default(cfg->jwks_min_refetch_interval, DEFAULT_MIN_REFETCH) * 1000;
    v->jwks_refresh_ms = seconds_or_default(cfg->jwks_refresh_interval, DEFAULT_JWKS_REFRESH) * 1000;
    v->feed_poll_ms = seconds_or_default(cfg->feed_poll_interval, DEFAULT_FEED_POLL) * 1000;
    v->revocations_max_age_ms = (int64_t)cfg->revocations_max_age * 1000;
    v->no_fetch_in_verify = cfg->no_fetch_in_verify;
    v->fetch_timeout_ms = cfg->fetch_timeout_ms > 0 ? cfg->fetch_timeout_ms : DEFAULT_FETCH_TIMEOUT_MS;
    v->fetch = cfg->fetch;
    v->fetch_ctx = cfg->fetch_ctx;
    v->log = cfg->log;
    v->log_ctx = cfg->log_ctx;

    /* writers preferred: a steady stream of readers must not keep a swap waiting */
    pthread_rwlockattr_init(&rwa);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
    pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&v->lock, &rwa);
    pthread_rwlockattr_destroy(&rwa);
    v->keys = asv__keyset_new();
    v->revs = asv__revset_new();
    atomic_init(&v->feed_ok_at_ms, 0);
    pthread_mutex_init(&v->jwks_mutex, NULL);
    pthread_mutex_init(&v->feed_mutex, NULL);
    pthread_mutex_init(&v->bg_mutex, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&v->bg_cond, &ca);
    pthread_condattr_destroy(&ca);
    v->kid_refetch_at_ms = INT64_MIN;
    return v;
}

void asv_verifier_free(asv_verifier_t *v)
{
    if (v == NULL)
        return;
    if (v->bg_started) {
        pthread_mutex_lock(&v->bg_mutex);
        v->bg_stop = 1;
        pthread_cond_signal(&v->bg_cond);
        pthread_mutex_unlock(&v->bg_mutex);
        pthread_join(v->bg_thread, NULL);
    }
    asv__keyset_free(v->keys);
    asv__revset_free(v->revs);
    pthread_rwlock_destroy(&v->lock);
    pthread_mutex_destroy(&v->jwks_mutex);
    pthread_mutex_destroy(&v->feed_mutex);
    pthread_mutex_destroy(&v->bg_mutex);
    pthread_cond_destroy(&v->bg_cond);
    if (v->client_secret != NULL) {
        as_wipe(v->client_secret, strlen(v->client_secret));
        free(v->client_secret);
    }
    free(v->issuer);
    free(v->audience);
    free(v->jwks_url);
    free(v->feed_url);
    free(v->client_id);
    free(v);
}

/* --- fetching ----------------------------------------------------------------------------------------- */

/** Fetches `url`; on failure writes "WHAT: why" into the reason. */
static int fetch(asv_verifier_t *v, const char *what, const char *url, const char *user, const char *password, size_t max_body,
                 char **body, size_t *len, char *reason, size_t reasonlen)
{
    char err[ASV_REASON_MAX] = "";
    int r;

    *body = NULL;
    *len = 0;
    if (v->fetch != NULL) {
        r = v->fetch(v->fetch_ctx, url, user, password, body, len);
        if (r == 0 && *body == NULL)
            r = -1;
    } else {
        r = asv__curl_fetch(v->fetch_timeout_ms, max_body, url, user, password, body, len, err, sizeof(err));
    }
    if (r == 0)
        return 0;
    free(*body);
    *body = NULL;
    if (r > 0)
        asv__reason(reason, reasonlen, "%s: HTTP status %d", what, r);
    else
        asv__reason(reason, reasonlen, "%s: %s", what, err[0] != '\0' ? err : "the fetch failed");
    return ASV_ERR_FETCH;
}

/** Fetches the JWKS and swaps its keys in. The caller holds jwks_mutex. */
static int refresh_jwks_locked(asv_verifier_t *v, char *reason, size_t reasonlen)
{
    asv__keyset_t *ks, *old;
    size_t len, ignored;
    char *body;
    int r;

    if ((r = fetch(v, "fetching the JWKS", v->jwks_url, NULL, NULL, MAX_JWKS_BYTES, &body, &len, reason, reasonlen)) != 0)
        return r;
    r = asv__jwks_parse(body, len, &ks, &ignored, reason, reasonlen);
    free(body);
    if (r != 0)
        return r;

    pthread_rwlock_wrlock(&v->lock);
    old = v->keys;
    v->keys = ks;
    ++v->keys_generation;
    pthread_rwlock_unlock(&v->lock);
    asv__keyset_free(old); /* verifications in flight hold their own reference on their key */

    asv__reason(reason, reasonlen, "the JWKS has %zu usable keys (%zu ignored)", ks->count, ignored);
    return 0;
}

int asv_refresh_jwks(asv_verifier_t *v, char *reason, size_t reasonlen)
{
    pthread_mutex_lock(&v->jwks_mutex);
    int r = refresh_jwks_locked(v, reason, reasonlen);
    pthread_mutex_unlock(&v->jwks_mutex);
    return r;
}

/** Takes the unknown-kid refetch slot if the rate limit allows it. Returns 1 if taken. */
static int take_kid_refetch_slot(asv_verifier_t *v)
{
    int64_t now = mono_ms(v);
    int ok;
    pthread_mutex_lock(&v->bg_mutex);
    if ((ok = (v->kid_refetch_at_ms == INT64_MIN || now - v->kid_refetch_at_ms >= v->min_refetch_ms)))
        v->kid_refetch_at_ms = now;
    pthread_mutex_unlock(&v->bg_mutex);
    return ok;
}

typedef enum en_refetch_t { REFETCH_NONE, REFETCH_RATE_LIMITED, REFETCH_FAILED, REFETCH_SCHEDULED, REFETCH_DONE } refetch_t;

/**
 * A token named a kid we do not know when the key set had `generation`. In blocking mode, refetches the
 * JWKS unless the rate limit says not yet, or another thread swapped in a new set meanwhile (then the
 * caller just retries). In no_fetch_in_verify mode, asks the background thread.
 */
static refetch_t refetch_for_unknown_kid(asv_verifier_t *v, uint64_t generation)
{
    refetch_t ret;

    if (v->no_fetch_in_verify) {
        if (!take_kid_refetch_slot(v))
            return REFETCH_RATE_LIMITED;
        pthread_mutex_lock(&v->bg_mutex);
        v->bg_refetch_requested = 1;
        pthread_cond_signal(&v->bg_cond);
        pthread_mutex_unlock(&v->bg_mutex);
        return REFETCH_SCHEDULED;
    }

    /* waits while another thread fetches: the tokens that wait here are those of a key we have not seen */
    pthread_mutex_lock(&v->jwks_mutex);
    pthread_rwlock_rdlock(&v->lock);
    int changed = v->keys_generation != generation;
    pthread_rwlock_unlock(&v->lock);
    if (changed) {
        ret = REFETCH_DONE;
    } else if (!take_kid_refetch_slot(v)) {
        ret = REFETCH_RATE_LIMITED;
    } else {
        char why[ASV_REASON_MAX];
        if (refresh_jwks_locked(v, why, sizeof(why)) == 0) {
            ret = REFETCH_DONE;
        } else {
            log_message(v, "%s", why);
            ret = REFETCH_FAILED;
        }
    }
    pthread_mutex_unlock(&v->jwks_mutex);
    return ret;
}

int asv_poll_revocations(asv_verifier_t *v, char *reason, size_t reasonlen)
{
    asv__feed_t feed;
    asv__revset_t *next = NULL, *old = NULL;
    char *url, *body = NULL;
    size_t len;
    int64_t now_ms;
    int r;

    if (v->feed_url == NULL) {
        asv__reason(reason, reasonlen, "no feed_url configured");
        return ASV_ERR_CONFIG;
    }
    pthread_mutex_lock(&v->feed_mutex);
    now_ms = mono_ms(v);

    url = as_malloc(strlen(v->feed_url) + sizeof("&since=") + ASV__CURSOR_MAX);
    if (v->cursor[0] != '\0' && now_ms - v->snapshot_at_ms < FEED_SNAPSHOT_EVERY_MS)
        sprintf(url, "%s%csince=%s", v->feed_url, strchr(v->feed_url, '?') != NULL ? '&' : '?', v->cursor);
    else
        strcpy(url, v->feed_url);
    r = fetch(v, "polling the revocation feed", url, v->client_id, v->client_secret, MAX_FEED_BYTES, &body, &len, reason,
              reasonlen);
    free(url);
    if (r != 0)
        goto Exit;
    if ((r = asv__feed_parse(body, len, &feed, reason, reasonlen)) != 0)
        goto Exit;

    /* only this thread writes v->revs (we hold feed_mutex), so reading it without the lock is safe */
    int64_t drop_until = wall_seconds(v) - v->leeway;
    if (asv__revset_needs_update(v->revs, &feed, drop_until)) {
        next = asv__revset_apply(v->revs, &feed, drop_until);
        pthread_rwlock_wrlock(&v->lock);
        old = v->revs;
        v->revs = next;
        pthread_rwlock_unlock(&v->lock);
        asv__revset_free(old);
    }
    strcpy(v->cursor, feed.cursor);
    if (feed.reset)
        v->snapshot_at_ms = now_ms;
    atomic_store(&v->feed_ok_at_ms, now_ms > 0 ? now_ms : 1);
    asv__reason(reason, reasonlen, "%zu revoked subjects, %zu revoked jtis (%s)", v->revs->subjects.count, v->revs->jtis.count,
                feed.reset ? "snapshot" : "merged");
    asv__feed_dispose(&feed);
Exit:
    pthread_mutex_unlock(&v->feed_mutex);
    free(body);
    return r;
}

/* --- verification ------------------------------------------------------------------------------------- */

typedef struct st_lookup_t {
    asv_verifier_t *v;
    as_key_t *key; /* our reference on the key found, or NULL */
    uint64_t generation;
    int kid_looked_up;
} lookup_t;

static const as_key_t *on_lookup(void *p, const char *kid)
{
    lookup_t *l = p;
    l->kid_looked_up = 1;
    pthread_rwlock_rdlock(&l->v->lock);
    l->generation = l->v->keys_generation;
    as_key_t *key = asv__keyset_find(l->v->keys, kid);
    if (key != NULL)
        l->key = as_key_retain(key);
    pthread_rwlock_unlock(&l->v->lock);
    return key;
}

static int sig_decodes(const char *b64, size_t len)
{
    uint8_t *buf = as_malloc(AS_B64URL_DECLEN(len) + 1);
    ssize_t n = as_b64url_decode(b64, len, buf);
    free(buf);
    return n > 0;
}

/** Decodes one base64url part as a JSON object, for explaining failures only: NULL with a detail if it is not one. */
static json_t *explain_part(const char *b64, size_t len, const char *name, char *detail, size_t dlen)
{
    char *buf = as_malloc(AS_B64URL_DECLEN(len) + 1);
    ssize_t n = as_b64url_decode(b64, len, buf);
    json_t *j = NULL;
    if (n < 0) {
        snprintf(detail, dlen, "the %s is not base64url", name);
    } else if ((j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(j)) {
        json_decref(j);
        j = json_loadb(buf, n, 0, NULL);
        snprintf(detail, dlen, "the %s %s", name, json_is_object(j) ? "has a member name twice" : "is not a JSON object");
        json_decref(j);
        j = NULL;
    }
    free(buf);
    return j;
}

/**
 * The header's string member `name`, sanitized into `out` (at most `max` characters); NULL, with "the header has no
 * NAME" in `detail`, when there is none.
 */
static const char *header_member(json_t *header, const char *name, size_t max, char *out, char *detail, size_t dlen)
{
    const char *value = json_string_value(json_object_get(header, name));
    if (value == NULL) {
        snprintf(detail, dlen, "the header has no %s", name);
        return NULL;
    }
    asv__sanitize(value, max, out);
    return value;
}

/** Says why as_jwt_verify_access refused the token (`err`, as an asv_err_t). Runs only on failure, so it may decode again. */
static void explain(asv_verifier_t *v, int err, const char *token, size_t len, const as_jwt_t *jwt, const lookup_t *l,
                    refetch_t refetch, int64_t now, char *detail, size_t dlen)
{
    const char *dot1 = len != 0 ? memchr(token, '.', len) : NULL,
               *dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', token + len - dot1 - 1) : NULL;
    json_t *header = NULL, *payload = NULL;
    char s[80];

    detail[0] = '\0';
    if (len != 0 && len <= AS_JWT_MAX_LEN && memchr(token, '\0', len) == NULL && dot1 != NULL)
        header = explain_part(token, dot1 - token, "header", detail, dlen);

    switch (err) {
    case ASV_ERR_MALFORMED:
        if (len == 0)
            snprintf(detail, dlen, "empty");
        else if (len > AS_JWT_MAX_LEN)
            snprintf(detail, dlen, "longer than %d bytes", AS_JWT_MAX_LEN);
        else if (memchr(token, '\0', len) != NULL)
            snprintf(detail, dlen, "contains a NUL byte");
        else if (dot2 == NULL || memchr(dot2 + 1, '.', token + len - dot2 - 1) != NULL)
            snprintf(detail, dlen, "not three dot-separated parts (JWS compact serialization)");
        else if (header != NULL && json_object_get(header, "crit") != NULL)
            snprintf(detail, dlen, "the header has \"crit\": no extension is understood");
        else if (header != NULL && !sig_decodes(dot2 + 1, token + len - dot2 - 1))
            snprintf(detail, dlen, "the signature is empty or not base64url");
        else if (header != NULL)
            payload = explain_part(dot1 + 1, dot2 - dot1 - 1, "payload", detail, dlen); /* checked after the signature */
        break;
    case ASV_ERR_BAD_ALGORITHM: {
        const char *alg = header_member(header, "alg", 32, s, detail, dlen);
        if (alg == NULL)
            break;
        if (l->key != NULL)
            snprintf(detail, dlen, "the header says %s but its kid names an %s key", s, as_alg_name(as_key_alg(l->key)));
        else if (strcmp(alg, "none") == 0)
            snprintf(detail, dlen, "\"none\": unsigned tokens are refused");
        else if (strncmp(alg, "HS", 2) == 0)
            snprintf(detail, dlen, "\"%s\": symmetric (HMAC) tokens are refused", s);
        else
            snprintf(detail, dlen, "\"%s\" is not one of ES256, EdDSA, RS256", s);
        break;
    }
    case ASV_ERR_BAD_TYPE: {
        const char *typ = json_string_value(json_object_get(header, "typ"));
        if (typ != NULL)
            asv__sanitize(typ, 32, s);
        snprintf(detail, dlen, "typ %s%s%s, not at+jwt", typ != NULL ? "\"" : "", typ != NULL ? s : "is absent",
                 typ != NULL ? "\"" : "");
        break;
    }
    case ASV_ERR_UNKNOWN_KEY: {
        if (header_member(header, "kid", 64, s, detail, dlen) == NULL)
            break;
        snprintf(detail, dlen, "kid \"%s\" is not in the JWKS%s", s,
                 refetch == REFETCH_DONE           ? " (refetched)"
                 : refetch == REFETCH_FAILED       ? " (the refetch failed)"
                 : refetch == REFETCH_SCHEDULED    ? " (a refetch is scheduled)"
                 : refetch == REFETCH_RATE_LIMITED ? " (refetch rate-limited)"
                                                   : "");
        break;
    }
    case ASV_ERR_BAD_SIGNATURE:
        snprintf(detail, dlen, "it does not verify with the %s key its kid names",
                 l->key != NULL ? as_alg_name(as_key_alg(l->key)) : "");
        break;
    case ASV_ERR_EXPIRED:
        snprintf(detail, dlen, "exp was %lld s ago (leeway %lld s)", (long long)(now - jwt->exp), (long long)v->leeway);
        break;
    case ASV_ERR_NOT_YET_VALID:
        snprintf(detail, dlen, "nbf is %lld s ahead (leeway %lld s)", (long long)(jwt->nbf - now), (long long)v->leeway);
        break;
    case ASV_ERR_WRONG_ISSUER:
        asv__sanitize(v->issuer, 64, s);
        snprintf(detail, dlen, "iss is not \"%s\"", s);
        break;
    case ASV_ERR_WRONG_AUDIENCE:
        asv__sanitize(v->audience, 64, s);
        snprintf(detail, dlen, "aud does not contain \"%s\"", s);
        break;
    case ASV_ERR_MISSING_CLAIM: {
        /* in the order as_jwt_verify_access checks them */
        static const struct {
            const char *name;
            int is_string;
        } claims[] = {{"sub", 1}, {"client_id", 1}, {"jti", 1}, {"exp", 0}, {"iat", 0}};
        const char *which = "ver (an integer >= 1)";
        for (size_t i = 0; i != sizeof(claims) / sizeof(claims[0]); ++i) {
            json_t *c = json_object_get(jwt->claims, claims[i].name);
            if (claims[i].is_string ? !json_is_string(c) : !json_is_integer(c)) {
                which = claims[i].name;
                break;
            }
        }
        snprintf(detail, dlen, "%s", which);
        break;
    }
    default:
        break;
    }
    json_decref(header);
    json_decref(payload);
}

int asv_verify(asv_verifier_t *v, const char *token, size_t len, asv_claims_t *out, char *reason, size_t reasonlen)
{
    as_jwt_expect_t expect = {.issuer = v->issuer, .audience = v->audience, .now = wall_seconds(v), .leeway = v->leeway};
    lookup_t l = {.v = v};
    refetch_t refetch = REFETCH_NONE;
    as_jwt_t jwt;
    int64_t min_ver = 0;
    int err;

    if (out != NULL)
        memset(out, 0, sizeof(*out));

    err = as_jwt_verify_access(token, len, on_lookup, &l, &expect, &jwt);
    if (err == AS_ERR_TOKEN_UNKNOWN_KEY && l.kid_looked_up) {
        /* a key we have not seen: perhaps published since our last fetch. One refetch, one retry. */
        if ((refetch = refetch_for_unknown_kid(v, l.generation)) == REFETCH_DONE) {
            as_jwt_clear(&jwt);
            expect.now = wall_seconds(v); /* the fetch took time */
            err = as_jwt_verify_access(token, len, on_lookup, &l, &expect, &jwt);
        }
    }
    if ((err = asv__token_err(err)) != 0) {
        if (reason != NULL && reasonlen != 0) {
            char detail[ASV_REASON_MAX - 32];
            explain(v, err, token, len, &jwt, &l, refetch, expect.now, detail, sizeof(detail));
            asv__reason(reason, reasonlen, "%s%s%s", asv_strerror(err), detail[0] != '\0' ? ": " : "", detail);
        }
        goto Exit;
    }

    /* the token is authentic and current: now what the feed says about it */
    if (v->feed_url != NULL && v->revocations_max_age_ms > 0) {
        int64_t ok_at = atomic_load(&v->feed_ok_at_ms), age = mono_ms(v) - ok_at;
        if (ok_at == 0 || age > v->revocations_max_age_ms) {
            err = ASV_ERR_STALE_REVOCATIONS;
            if (ok_at == 0)
                asv__reason(reason, reasonlen, "%s: no successful poll of the revocation feed yet", asv_strerror(err));
            else
                asv__reason(reason, reasonlen, "%s: no successful poll of the revocation feed for %lld s (limit %lld s)",
                            asv_strerror(err), (long long)(age / 1000), (long long)(v->revocations_max_age_ms / 1000));
            goto Exit;
        }
    }
    pthread_rwlock_rdlock(&v->lock);
    const int64_t *mv;
    if (asv__strmap_get(&v->revs->jtis, jwt.jti) != NULL) {
        err = ASV_ERR_REVOKED_TOKEN;
    } else if (jwt.token_version != 0 && (mv = asv__strmap_get(&v->revs->subjects, jwt.subject)) != NULL &&
               jwt.token_version < *mv) {
        err = ASV_ERR_REVOKED_SUBJECT;
        min_ver = *mv;
    }
    pthread_rwlock_unlock(&v->lock);
    if (err == ASV_ERR_REVOKED_TOKEN) {
        asv__reason(reason, reasonlen, "%s: its jti is on the revocation feed", asv_strerror(err));
        goto Exit;
    }
    if (err == ASV_ERR_REVOKED_SUBJECT) {
        asv__reason(reason, reasonlen, "%s: its ver %lld is below %lld, the subject's sessions were revoked", asv_strerror(err),
                    (long long)jwt.token_version, (long long)min_ver);
        goto Exit;
    }

    asv__reason(reason, reasonlen, "valid");
    if (out != NULL) {
        out->iss = json_string_value(json_object_get(jwt.claims, "iss"));
        out->sub = jwt.subject;
        out->client_id = jwt.client_id;
        out->jti = jwt.jti;
        out->scope = jwt.scope;
        out->exp = jwt.exp;
        out->iat = jwt.iat;
        out->nbf = jwt.nbf;
        out->ver = jwt.token_version;
        out->priv = jwt.claims; /* the strings above point into it */
        jwt.claims = NULL;
    }
Exit:
    if (l.key != NULL)
        as_key_release(l.key);
    as_jwt_clear(&jwt);
    return err;
}

/* --- the background thread -------------------------------------------------------------------------- */

typedef struct st_task_state_t {
    const char *what;
    int64_t next_ms;
    int failing;
    int64_t logged_at_ms;
} task_state_t;

/** Logs a failure when it starts and then once a minute, and the recovery; not every poll. */
static void report(asv_verifier_t *v, task_state_t *t, int r, const char *why, int64_t now)
{
    if (r != 0) {
        if (!t->failing || now - t->logged_at_ms >= LOG_REPEAT_MS) {
            log_message(v, "%s", why);
            t->logged_at_ms = now;
        }
        t->failing = 1;
    } else if (t->failing) {
        log_message(v, "%s works again: %s", t->what, why);
        t->failing = 0;
    }
}

static void *bg_main(void *p)
{
    asv_verifier_t *v = p;
    task_state_t jwks = {.what = "fetching the JWKS", .next_ms = 0},
                 feed = {.what = "polling the revocation feed", .next_ms = v->feed_url != NULL ? 0 : INT64_MAX};
    char why[ASV_REASON_MAX];

    pthread_mutex_lock(&v->bg_mutex);
    while (!v->bg_stop) {
        int64_t now = mono_ms(v);
        if (v->bg_refetch_requested || now >= jwks.next_ms) {
            v->bg_refetch_requested = 0;
            pthread_mutex_unlock(&v->bg_mutex);
            int r = asv_refresh_jwks(v, why, sizeof(why));
            report(v, &jwks, r, why, now);
            jwks.next_ms = now + (r == 0 ? v->jwks_refresh_ms : v->min_refetch_ms);
            pthread_mutex_lock(&v->bg_mutex);
        } else if (now >= feed.next_ms) {
            pthread_mutex_unlock(&v->bg_mutex);
            int r = asv_poll_revocations(v, why, sizeof(why));
            report(v, &feed, r, why, now);
            feed.next_ms = now + v->feed_poll_ms;
            pthread_mutex_lock(&v->bg_mutex);
        } else {
            /* until the next task is due by the verifier's clock, as real time goes (bg_cond is CLOCK_MONOTONIC) */
            int64_t wake = jwks.next_ms < feed.next_ms ? jwks.next_ms : feed.next_ms;
            int64_t until = real_ms(CLOCK_MONOTONIC) + (wake - now < MAX_SLEEP_MS ? wake - now : MAX_SLEEP_MS);
            struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
            pthread_cond_timedwait(&v->bg_cond, &v->bg_mutex, &ts);
        }
    }
    pthread_mutex_unlock(&v->bg_mutex);
    return NULL;
}

int asv_set_clock(asv_verifier_t *v, asv_clock_cb clock, void *ctx)
{
    if (v->bg_started)
        return ASV_ERR_CONFIG;
    v->clock = clock;
    v->clock_ctx = ctx;
    return 0;
}

void asv_clock_changed(asv_verifier_t *v)
{
    pthread_mutex_lock(&v->bg_mutex);
    pthread_cond_signal(&v->bg_cond);
    pthread_mutex_unlock(&v->bg_mutex);
}

int asv_start(asv_verifier_t *v, char *reason, size_t reasonlen)
{
    int e;
    if (v->bg_started) {
        asv__reason(reason, reasonlen, "asv_start was called already");
        return ASV_ERR_CONFIG;
    }
    if ((e = pthread_create(&v->bg_thread, NULL, bg_main, v)) != 0) {
        asv__reason(reason, reasonlen, "pthread_create: %s", strerror(e));
        return ASV_ERR_CONFIG;
    }
    v->bg_started = 1;
    return 0;
}
