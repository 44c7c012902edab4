/*
 * libauthsvc-verify: what a resource server relies on. Valid tokens of every algorithm verify; forged,
 * confused, stale, mangled and revoked ones are refused with the right error; the JWKS and the revocation
 * feed are fetched and applied as api/revocation-feed.md says. No network: the documents come through the
 * application-supplied fetch callback. No waiting either: tests that depend on time give the verifier a
 * clock they move themselves, and wait for the background thread on conditions (the fetches it makes).
 * Linked against libauthsvc-verify.a; keys and tokens are made with crypto/ and token/jwt.c.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "authsvc-verify.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/token/jwt.h"
#include "check_run.h"

/* (mint_t){MINT_DEFAULTS, .sub = "admin"}: a designated initializer overrides a default on purpose */
#pragma GCC diagnostic ignored "-Woverride-init"

#define ISS "https://auth.example"
#define AUD "orders-api"
#define JWKS_URL "https://auth.example/.well-known/jwks.json"
#define FEED_URL "https://auth.example/oauth2/revocations"
#define CLIENT_ID "orders api"  /* a space: the fetcher gets it raw, the built-in one form-encodes it */
#define CLIENT_SECRET "s3cr:et" /* a colon, likewise */

/* --- keys, made once per test case, before the forks --------------------------------------------------- */

static as_key_t *es_key, *ed_key, *rs_key, *es_other; /* es_other: never in the JWKS unless a test puts it there */
static char es_kid[AS_KID_LEN + 1], ed_kid[AS_KID_LEN + 1], rs_kid[AS_KID_LEN + 1], other_kid[AS_KID_LEN + 1];

static void make_keys(void)
{
    if (as_key_generate(AS_ALG_ES256, &es_key) != 0 || as_key_generate(AS_ALG_EDDSA, &ed_key) != 0 ||
        as_key_generate(AS_ALG_RS256, &rs_key) != 0 || as_key_generate(AS_ALG_ES256, &es_other) != 0 ||
        as_key_thumbprint(es_key, es_kid) != 0 || as_key_thumbprint(ed_key, ed_kid) != 0 ||
        as_key_thumbprint(rs_key, rs_kid) != 0 || as_key_thumbprint(es_other, other_kid) != 0)
        abort();
}

static void drop_keys(void)
{
    as_key_release(es_key);
    as_key_release(ed_key);
    as_key_release(rs_key);
    as_key_release(es_other);
}

/** A JWKS document of the public halves of `keys`, plus an extra raw JWK object (JSON text, or NULL). */
static char *jwks_of(as_key_t *const *keys, size_t n, const char *extra)
{
    json_t *arr = json_array();
    for (size_t i = 0; i != n; ++i)
        json_array_append_new(arr, as_key_public_jwk(keys[i]));
    if (extra != NULL)
        json_array_append_new(arr, json_loads(extra, 0, NULL));
    json_t *doc = json_pack("{s:o}", "keys", arr);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* --- the fetch callback: serves documents from memory and counts the calls ------------------------------- */

#define MAX_FEED_ANSWERS 8

typedef struct st_fake_t {
    pthread_mutex_t mutex;
    pthread_cond_t called; /* broadcast on every call: what tests wait on for the background thread */
    char *jwks; /* the JWKS document served */
    int jwks_status;
    int jwks_calls;
    const char *feed[MAX_FEED_ANSWERS]; /* the feed's answers, served in order; then 503 */
    int feed_status[MAX_FEED_ANSWERS];
    int feed_next, feed_count, feed_calls;
    char feed_url[512], feed_user[64], feed_password[64];
} fake_t;

static fake_t fake;

static void fake_reset(void)
{
    free(fake.jwks);
    memset(&fake, 0, sizeof(fake)); /* CK_FORK=no runs every test in one process */
    pthread_mutex_init(&fake.mutex, NULL);
    pthread_cond_init(&fake.called, NULL);
    as_key_t *keys[] = {es_key, ed_key, rs_key};
    fake.jwks = jwks_of(keys, 3, NULL);
    fake.jwks_status = 200;
}

static void fake_set_jwks(char *doc)
{
    pthread_mutex_lock(&fake.mutex);
    free(fake.jwks);
    fake.jwks = doc;
    pthread_mutex_unlock(&fake.mutex);
}

static int fake_jwks_calls(void)
{
    pthread_mutex_lock(&fake.mutex);
    int n = fake.jwks_calls;
    pthread_mutex_unlock(&fake.mutex);
    return n;
}

static int fake_feed_calls(void)
{
    pthread_mutex_lock(&fake.mutex);
    int n = fake.feed_calls;
    pthread_mutex_unlock(&fake.mutex);
    return n;
}

static void fake_add_feed(int status, const char *body)
{
    pthread_mutex_lock(&fake.mutex);
    ck_assert_int_lt(fake.feed_count, MAX_FEED_ANSWERS);
    fake.feed_status[fake.feed_count] = status;
    fake.feed[fake.feed_count++] = body;
    pthread_mutex_unlock(&fake.mutex);
}

static int on_fetch(void *ctx, const char *url, const char *user, const char *password, char **body, size_t *len)
{
    fake_t *f = ctx;
    int ret = -1;
    pthread_mutex_lock(&f->mutex);
    if (strcmp(url, JWKS_URL) == 0) {
        ++f->jwks_calls;
        if (user != NULL) /* the JWKS is public: no credentials go there */
            ret = -2;
        else if ((ret = f->jwks_status == 200 ? 0 : f->jwks_status) == 0) {
            *body = strdup(f->jwks);
            *len = strlen(f->jwks);
        }
    } else if (strncmp(url, FEED_URL, strlen(FEED_URL)) == 0) {
        ++f->feed_calls;
        snprintf(f->feed_url, sizeof(f->feed_url), "%s", url);
        snprintf(f->feed_user, sizeof(f->feed_user), "%s", user != NULL ? user : "(none)");
        snprintf(f->feed_password, sizeof(f->feed_password), "%s", password != NULL ? password : "(none)");
        if (f->feed_next == f->feed_count) {
            ret = 503;
        } else if ((ret = f->feed_status[f->feed_next]) == 200) {
            *body = strdup(f->feed[f->feed_next]);
            *len = strlen(*body);
            ret = 0;
            ++f->feed_next;
        } else {
            ++f->feed_next;
        }
    }
    pthread_cond_broadcast(&f->called);
    pthread_mutex_unlock(&f->mutex);
    return ret;
}

/**
 * Waits until the fetch callback has been called `n` times in all for the JWKS (`&fake.jwks_calls`) or the
 * feed (`&fake.feed_calls`). The background thread does one thing at a time, so once it has started
 * fetching anything, whatever it fetched before has been applied. The 10 s are a safety net against a hang,
 * not a wait: the callback signals every call.
 */
static void fake_wait_calls(const int *calls, int n)
{
    struct timespec deadline;
    int got, err = 0;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&fake.mutex);
    while ((got = *calls) < n && err == 0)
        err = pthread_cond_timedwait(&fake.called, &fake.mutex, &deadline);
    pthread_mutex_unlock(&fake.mutex);
    ck_assert_msg(got >= n, "waited for fetch %d, saw %d", n, got);
}

/* --- the clock: tests that depend on time move it instead of sleeping ------------------------------------ */

typedef struct st_fake_clock_t {
    int64_t wall0_ms, mono0_ms; /* the real wall-clock time when the test began (tokens are minted with it) */
    _Atomic int64_t elapsed_ms;
} fake_clock_t;

static fake_clock_t fake_clock;

static int64_t on_clock(void *ctx, asv_clock_t which)
{
    fake_clock_t *c = ctx;
    return (which == ASV_CLOCK_REALTIME ? c->wall0_ms : c->mono0_ms) + atomic_load(&c->elapsed_ms);
}

/** Gives `v` the fake clock, starting now; it stands still until clock_advance. */
static void use_fake_clock(asv_verifier_t *v)
{
    fake_clock.wall0_ms = (int64_t)time(NULL) * 1000;
    fake_clock.mono0_ms = 1000000;
    atomic_store(&fake_clock.elapsed_ms, 0);
    ck_assert_int_eq(asv_set_clock(v, on_clock, &fake_clock), 0);
}

/** Moves the fake clock on by `ms` and tells the verifier (its background thread, if any, looks at it again). */
static void clock_advance(asv_verifier_t *v, int64_t ms)
{
    atomic_fetch_add(&fake_clock.elapsed_ms, ms);
    asv_clock_changed(v);
}

static asv_config_t config(void)
{
    asv_config_t cfg = {.issuer = ISS, .audience = AUD, .jwks_url = JWKS_URL, .fetch = on_fetch, .fetch_ctx = &fake};
    return cfg;
}

static asv_config_t config_with_feed(void)
{
    asv_config_t cfg = config();
    cfg.feed_url = FEED_URL;
    cfg.client_id = CLIENT_ID;
    cfg.client_secret = CLIENT_SECRET;
    return cfg;
}

static asv_verifier_t *new_verifier(const asv_config_t *cfg)
{
    char reason[ASV_REASON_MAX];
    asv_verifier_t *v = asv_verifier_new(cfg, reason, sizeof(reason));
    ck_assert_msg(v != NULL, "asv_verifier_new: %s", reason);
    return v;
}

/* --- tokens ----------------------------------------------------------------------------------------------- */

typedef struct st_mint_t {
    const char *iss, *sub, *aud;
    int64_t iat_offset; /* from now */
    int64_t lifetime;
    int64_t ver;
} mint_t;

#define MINT_DEFAULTS .iss = ISS, .sub = "user-1", .aud = AUD, .iat_offset = 0, .lifetime = 300, .ver = 3

/**
 * A genuine token from token/jwt.c (the minting authsvc does); its jti goes to `jti` if not NULL.
 *
 * The token is handed out through a copy. as_jwt_mint_access writes its malloc'd token through `&minted`;
 * once mint() is inlined into a test, GCC 12 cannot tell that this pointer does not point at `minted`
 * itself, which dies with mint(), and warns (-Wdangling-pointer) wherever the test does arithmetic on
 * the token. strdup's result is fresh memory as far as the compiler knows.
 */
static char *mint(as_key_t *key, const char *kid, mint_t m, char *jti)
{
    char *minted, *token, jti_buf[AS_JTI_LEN + 1];
    const char *auds[] = {m.aud};
    as_access_claims_t c = {.issuer = m.iss,
                            .subject = m.sub,
                            .client_id = "web-app",
                            .scope = "read write",
                            .audiences = auds,
                            .num_audiences = 1,
                            .token_version = m.ver,
                            .issued_at = (int64_t)time(NULL) + m.iat_offset,
                            .lifetime = m.lifetime};
    ck_assert_int_eq(as_jwt_mint_access(key, kid, &c, &minted, jti_buf), 0);
    token = strdup(minted);
    free(minted);
    if (jti != NULL)
        strcpy(jti, jti_buf);
    return token;
}

static char *b64(const void *data, size_t len)
{
    char *out = malloc(AS_B64URL_ENCLEN(len) + 1);
    as_b64url_encode(data, len, out);
    return out;
}

/** header.payload (base64url of the given JSON texts, as they are: duplicates and all). */
static char *signing_input(const char *header, const char *payload)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    char *input = malloc(strlen(h) + strlen(p) + 2);
    sprintf(input, "%s.%s", h, p);
    free(h);
    free(p);
    return input;
}

static char *append_sig(char *input, const uint8_t *sig, size_t siglen)
{
    char *s = b64(sig, siglen);
    char *token = malloc(strlen(input) + strlen(s) + 2);
    sprintf(token, "%s.%s", input, s);
    free(input);
    free(s);
    return token;
}

/** A token built by hand and signed with `key` (its own algorithm, whatever the header claims); NULL: unsigned. */
static char *forge(as_key_t *key, const char *header, const char *payload)
{
    uint8_t sig[AS_SIG_MAX];
    size_t siglen = 0;
    char *input = signing_input(header, payload);
    if (key != NULL)
        ck_assert_int_eq(as_jws_sign(key, input, strlen(input), sig, &siglen), 0);
    return append_sig(input, sig, siglen);
}

/** A standard payload, with `extra` JSON members inserted first (or ""). Static storage. */
static char *payload(const char *extra, int64_t iat, const char *jti)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf),
             "{%s\"iss\":\"" ISS "\",\"sub\":\"user-1\",\"aud\":\"" AUD "\",\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld,"
             "\"jti\":\"%s\",\"client_id\":\"web-app\",\"scope\":\"read\",\"ver\":3}",
             extra, (long long)(iat + 300), (long long)iat, (long long)iat, jti);
    return buf;
}

/** {"alg": alg, "typ": "at+jwt", "kid": kid}. Static storage. */
static char *header(const char *alg, const char *kid)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "{\"alg\":\"%s\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}", alg, kid);
    return buf;
}

/** asv_verify on a NUL-terminated token; checks that a reason is given and never quotes the payload. */
static int verify(asv_verifier_t *v, const char *token, asv_claims_t *out, char *reason)
{
    char buf[ASV_REASON_MAX];
    char *r = reason != NULL ? reason : buf;
    r[0] = '\0';
    int ret = asv_verify(v, token, strlen(token), out, r, ASV_REASON_MAX);
    ck_assert_msg(r[0] != '\0', "no reason");
    const char *dot = strchr(token, '.');
    if (ret != 0 && dot != NULL && strlen(dot) > 20) {
        char part[21];
        memcpy(part, dot + 1, 20);
        part[20] = '\0';
        ck_assert_msg(strstr(r, part) == NULL, "the reason quotes the token: %s", r);
    }
    return ret;
}

#define ck_assert_rejected(v, token, code, reason_part)                                                                            \
    do {                                                                                                                           \
        char r_[ASV_REASON_MAX];                                                                                                   \
        int ret_ = verify((v), (token), NULL, r_);                                                                                 \
        ck_assert_msg(ret_ == (code), "expected %d (%s), got %d: %s", (code), asv_strerror(code), ret_, r_);                       \
        ck_assert_msg(strstr(r_, (reason_part)) != NULL, "reason \"%s\" lacks \"%s\"", r_, (reason_part));                         \
    } while (0)

/* --- valid tokens -------------------------------------------------------------------------------------------- */

static void verifies(as_key_t *key, const char *kid)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char jti[AS_JTI_LEN + 1], reason[ASV_REASON_MAX];
    char *token = mint(key, kid, (mint_t){MINT_DEFAULTS}, jti);
    asv_claims_t c;

    ck_assert_int_eq(fake_jwks_calls(), 0); /* asv_verifier_new does no I/O */
    ck_assert_msg(verify(v, token, &c, reason) == 0, "%s", reason);
    ck_assert_int_eq(fake_jwks_calls(), 1); /* the first token fetched the JWKS */
    ck_assert_str_eq(c.iss, ISS);
    ck_assert_str_eq(c.sub, "user-1");
    ck_assert_str_eq(c.client_id, "web-app");
    ck_assert_str_eq(c.jti, jti);
    ck_assert_str_eq(c.scope, "read write");
    ck_assert_int_eq(c.ver, 3);
    ck_assert_int_eq(c.exp - c.iat, 300);
    ck_assert_int_eq(c.nbf, c.iat);
    ck_assert_int_eq(asv_claims_has_scope(&c, "read"), 1);
    ck_assert_int_eq(asv_claims_has_scope(&c, "write"), 1);
    ck_assert_int_eq(asv_claims_has_scope(&c, "rea"), 0);
    ck_assert_int_eq(asv_claims_has_scope(&c, "read write"), 0);
    ck_assert_str_eq(asv_claims_string(&c, "aud"), AUD);
    ck_assert_ptr_null(asv_claims_string(&c, "exp")); /* not a string */
    char *json = asv_claims_json(&c, 0);
    ck_assert_ptr_nonnull(strstr(json, "\"sub\":\"user-1\""));
    ck_assert_ptr_nonnull(strstr(json, jti));
    free(json);
    asv_claims_clear(&c);
    ck_assert_ptr_null(c.sub);
    asv_claims_clear(&c); /* idempotent */

    /* the next token uses the cached key: no fetch */
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);
    ck_assert_int_eq(fake_jwks_calls(), 1);
    free(token);
    asv_verifier_free(v);
}

START_TEST(es256_token_verifies)
{
    verifies(es_key, es_kid);
}
END_TEST

START_TEST(eddsa_token_verifies)
{
    verifies(ed_key, ed_kid);
}
END_TEST

START_TEST(rs256_token_verifies)
{
    verifies(rs_key, rs_kid);
}
END_TEST

START_TEST(client_token_without_ver_verifies)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .sub = "svc", .ver = 0}, NULL);
    asv_claims_t c;
    ck_assert_int_eq(verify(v, token, &c, NULL), 0);
    ck_assert_int_eq(c.ver, 0);
    ck_assert_str_eq(c.sub, "svc");
    asv_claims_clear(&c);
    free(token);
    asv_verifier_free(v);
}
END_TEST

/* --- claims: issuer, audience, time ------------------------------------------------------------------------ */

START_TEST(wrong_issuer_and_audience_are_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *other_iss = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .iss = "https://evil.example"}, NULL);
    char *other_aud = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .aud = "billing-api"}, NULL);
    char *good = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);

    ck_assert_rejected(v, other_iss, ASV_ERR_WRONG_ISSUER, "iss is not \"" ISS "\"");
    ck_assert_rejected(v, other_aud, ASV_ERR_WRONG_AUDIENCE, "aud does not contain \"" AUD "\"");
    ck_assert_int_eq(verify(v, good, NULL, NULL), 0);

    /* an issuer that is a prefix of ours is another issuer */
    char *prefix = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .iss = "https://auth.exampl"}, NULL);
    ck_assert_rejected(v, prefix, ASV_ERR_WRONG_ISSUER, "wrong issuer");

    /* aud as an array: ours among others is fine, others alone are not */
    char p[1024];
    int64_t now = time(NULL);
    snprintf(p, sizeof(p),
             "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":[\"billing-api\",\"" AUD "\"],\"exp\":%lld,\"iat\":%lld,"
             "\"jti\":\"j-arr\",\"client_id\":\"c\"}",
             (long long)now + 300, (long long)now);
    char *arr = forge(es_key, header("ES256", es_kid), p);
    ck_assert_int_eq(verify(v, arr, NULL, NULL), 0);
    snprintf(p, sizeof(p),
             "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":[\"billing-api\",\"x\"],\"exp\":%lld,\"iat\":%lld,"
             "\"jti\":\"j-arr2\",\"client_id\":\"c\"}",
             (long long)now + 300, (long long)now);
    char *arr2 = forge(es_key, header("ES256", es_kid), p);
    ck_assert_rejected(v, arr2, ASV_ERR_WRONG_AUDIENCE, "wrong audience");

    free(arr2);
    free(other_iss);
    free(other_aud);
    free(good);
    free(prefix);
    free(arr);
    asv_verifier_free(v);
}
END_TEST

START_TEST(expiry_and_not_before_honour_the_leeway)
{
    asv_config_t cfg = config(); /* default leeway: 30 s */
    asv_verifier_t *v = new_verifier(&cfg);
    char *expired = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .iat_offset = -400}, NULL);   /* exp 100 s ago */
    char *in_leeway = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .iat_offset = -310}, NULL); /* exp 10 s ago */
    char *future = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .iat_offset = 120}, NULL);     /* nbf in 2 min */
    char *soon = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .iat_offset = 10}, NULL);        /* nbf in 10 s */

    ck_assert_rejected(v, expired, ASV_ERR_EXPIRED, "expired: exp was 10");
    ck_assert_int_eq(verify(v, in_leeway, NULL, NULL), 0);
    ck_assert_rejected(v, future, ASV_ERR_NOT_YET_VALID, "not yet valid: nbf is 1");
    ck_assert_int_eq(verify(v, soon, NULL, NULL), 0);
    asv_verifier_free(v);

    /* without leeway, the 10 s are too much either way */
    cfg.leeway_seconds = ASV_NO_LEEWAY;
    v = new_verifier(&cfg);
    ck_assert_rejected(v, in_leeway, ASV_ERR_EXPIRED, "leeway 0 s");
    ck_assert_rejected(v, soon, ASV_ERR_NOT_YET_VALID, "not yet valid");
    asv_verifier_free(v);

    free(expired);
    free(in_leeway);
    free(future);
    free(soon);
}
END_TEST

START_TEST(missing_claims_and_wrong_type_are_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    int64_t now = time(NULL);
    char p[1024];

    snprintf(p, sizeof(p), "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"" AUD "\",\"exp\":%lld,\"iat\":%lld,\"client_id\":\"c\"}",
             (long long)now + 300, (long long)now);
    char *no_jti = forge(es_key, header("ES256", es_kid), p);
    ck_assert_rejected(v, no_jti, ASV_ERR_MISSING_CLAIM, "missing or malformed claim: jti");

    snprintf(p, sizeof(p),
             "{\"iss\":\"" ISS "\",\"sub\":\"u\",\"aud\":\"" AUD
             "\",\"exp\":\"%lld\",\"iat\":%lld,\"jti\":\"j\",\"client_id\":\"c\"}",
             (long long)now + 300, (long long)now);
    char *string_exp = forge(es_key, header("ES256", es_kid), p);
    ck_assert_rejected(v, string_exp, ASV_ERR_MISSING_CLAIM, "claim: exp");

    /* an ID token or any other JWT signed by the same key is not an access token */
    char h[256];
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", es_kid);
    char *id_token = forge(es_key, h, payload("", now, "j-typ"));
    ck_assert_rejected(v, id_token, ASV_ERR_BAD_TYPE, "typ \"JWT\", not at+jwt");
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", es_kid);
    char *no_typ = forge(es_key, h, payload("", now, "j-typ2"));
    ck_assert_rejected(v, no_typ, ASV_ERR_BAD_TYPE, "typ is absent");

    /* crit: an extension we do not understand must not be ignored */
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"crit\":[\"exp\"],\"exp\":1}", es_kid);
    char *crit = forge(es_key, h, payload("", now, "j-crit"));
    ck_assert_rejected(v, crit, ASV_ERR_MALFORMED, "crit");

    free(no_jti);
    free(string_exp);
    free(id_token);
    free(no_typ);
    free(crit);
    asv_verifier_free(v);
}
END_TEST

/* --- forgeries and algorithm confusion ---------------------------------------------------------------- */

START_TEST(tampered_tokens_are_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *other = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .sub = "admin"}, NULL);
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);

    /* one payload character changed (to another valid base64url character) */
    char *t = strdup(token), *p = strchr(t, '.') + 10;
    *p = *p == 'A' ? 'B' : 'A';
    ck_assert_rejected(v, t, ASV_ERR_BAD_SIGNATURE, "does not verify with the ES256 key");
    free(t);

    /* one signature character changed */
    t = strdup(token);
    p = strrchr(t, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    ck_assert_rejected(v, t, ASV_ERR_BAD_SIGNATURE, "bad signature");
    free(t);

    /* another token's payload with this token's signature */
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.'), *odot1 = strchr(other, '.'), *odot2 = strrchr(other, '.');
    t = malloc(strlen(token) + strlen(other));
    sprintf(t, "%.*s%.*s%s", (int)(dot1 - token), token, (int)(odot2 - odot1), odot1, dot2);
    ck_assert_rejected(v, t, ASV_ERR_BAD_SIGNATURE, "bad signature");
    free(t);

    /* a signature by a key not in the JWKS, under our kid */
    char *foreign = mint(es_other, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    ck_assert_rejected(v, foreign, ASV_ERR_BAD_SIGNATURE, "bad signature");

    free(foreign);
    free(token);
    free(other);
    asv_verifier_free(v);
}
END_TEST

START_TEST(alg_none_is_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    int64_t now = time(NULL);
    char *unsigned_token = forge(NULL, header("none", es_kid), payload("", now, "j-none")); /* "h.p." */
    ck_assert_int_eq(unsigned_token[strlen(unsigned_token) - 1], '.');
    ck_assert_rejected(v, unsigned_token, ASV_ERR_BAD_ALGORITHM, "\"none\": unsigned tokens are refused");
    /* "None" and friends are not ES256 either */
    char *none2 = forge(es_key, header("None", es_kid), payload("", now, "j-none2"));
    ck_assert_rejected(v, none2, ASV_ERR_BAD_ALGORITHM, "\"None\" is not one of ES256, EdDSA, RS256");
    /* no alg at all */
    char h[256];
    snprintf(h, sizeof(h), "{\"typ\":\"at+jwt\",\"kid\":\"%s\"}", es_kid);
    char *no_alg = forge(es_key, h, payload("", now, "j-none3"));
    ck_assert_rejected(v, no_alg, ASV_ERR_BAD_ALGORITHM, "no alg");
    free(unsigned_token);
    free(none2);
    free(no_alg);
    asv_verifier_free(v);
}
END_TEST

START_TEST(hs256_with_the_public_key_as_secret_is_refused)
{
    /* The classic confusion: the attacker HMACs with what they know of the public key, hoping that a
     * verifier feeds "the key" to HMAC because the header says HS256. */
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    json_t *jwk = as_key_public_jwk(es_key);
    char *jwk_text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t x[64], mac[AS_HMAC_SHA256_LEN];
    const char *xb64 = json_string_value(json_object_get(jwk, "x"));
    ssize_t xlen = as_b64url_decode(xb64, strlen(xb64), x);
    ck_assert_int_eq(xlen, 32);

    const struct {
        const void *secret;
        size_t len;
    } secrets[] = {{jwk_text, strlen(jwk_text)}, {x, (size_t)xlen}, {fake.jwks, strlen(fake.jwks)}};
    for (size_t i = 0; i != sizeof(secrets) / sizeof(secrets[0]); ++i) {
        char *input = signing_input(header("HS256", es_kid), payload("", time(NULL), "j-hs"));
        as_hmac_sha256(secrets[i].secret, secrets[i].len, input, strlen(input), mac);
        char *token = append_sig(input, mac, sizeof(mac));
        ck_assert_rejected(v, token, ASV_ERR_BAD_ALGORITHM, "\"HS256\": symmetric (HMAC) tokens are refused");
        free(token);
    }
    free(jwk_text);
    json_decref(jwk);
    asv_verifier_free(v);
}
END_TEST

START_TEST(alg_that_is_not_the_keys_is_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    int64_t now = time(NULL);

    /* RS256 header, kid of the EC key, signed with the RSA key: the kid decides the key, and it is EC */
    char *rs_on_ec = forge(rs_key, header("RS256", es_kid), payload("", now, "j-mix1"));
    ck_assert_rejected(v, rs_on_ec, ASV_ERR_BAD_ALGORITHM, "the header says RS256 but its kid names an ES256 key");
    /* the same with the EdDSA key's kid and an ES256 header */
    char *es_on_ed = forge(es_key, header("ES256", ed_kid), payload("", now, "j-mix2"));
    ck_assert_rejected(v, es_on_ed, ASV_ERR_BAD_ALGORITHM, "the header says ES256 but its kid names an EdDSA key");
    /* and both right is fine: the RSA key with its own kid */
    char *rs_ok = forge(rs_key, header("RS256", rs_kid), payload("", now, "j-mix3"));
    ck_assert_int_eq(verify(v, rs_ok, NULL, NULL), 0);
    free(rs_on_ec);
    free(es_on_ed);
    free(rs_ok);
    asv_verifier_free(v);
}
END_TEST

/* --- malformed tokens ---------------------------------------------------------------------------------- */

START_TEST(huge_header_is_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *h = malloc(10000), *pad = malloc(9001);
    memset(pad, 'x', 9000);
    pad[9000] = '\0';
    snprintf(h, 10000, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"pad\":\"%s\"}", es_kid, pad);
    char *huge = forge(es_key, h, payload("", time(NULL), "j-huge"));
    ck_assert_int_gt(strlen(huge), ASV_TOKEN_MAX_LEN);
    ck_assert_rejected(v, huge, ASV_ERR_MALFORMED, "longer than 8192 bytes");
    ck_assert_int_eq(fake_jwks_calls(), 0); /* refused before anything else */

    /* the same padding, short enough: verifies, so it is the size that was refused */
    pad[5000] = '\0';
    snprintf(h, 10000, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"pad\":\"%s\"}", es_kid, pad);
    char *big = forge(es_key, h, payload("", time(NULL), "j-big"));
    ck_assert_int_le(strlen(big), ASV_TOKEN_MAX_LEN);
    ck_assert_int_eq(verify(v, big, NULL, NULL), 0);
    free(h);
    free(pad);
    free(huge);
    free(big);
    asv_verifier_free(v);
}
END_TEST

START_TEST(invalid_base64url_is_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    char *t;

    /* standard base64 characters in the header */
    t = strdup(token);
    t[3] = '+';
    ck_assert_rejected(v, t, ASV_ERR_MALFORMED, "the header is not base64url");
    free(t);
    /* padding on the header */
    t = malloc(strlen(token) + 3);
    sprintf(t, "%.*s==%s", (int)(dot1 - token), token, dot1);
    ck_assert_rejected(v, t, ASV_ERR_MALFORMED, "the header is not base64url");
    free(t);
    /* a '/' in the signature */
    t = strdup(token);
    t[dot2 - token + 3] = '/';
    ck_assert_rejected(v, t, ASV_ERR_MALFORMED, "the signature is empty or not base64url");
    free(t);
    /* whitespace in the signature */
    t = strdup(token);
    t[dot2 - token + 3] = ' ';
    ck_assert_rejected(v, t, ASV_ERR_MALFORMED, "not base64url");
    free(t);

    /* a payload that is not base64url, but correctly signed as the ASCII it is */
    char *h = b64(header("ES256", es_kid), strlen(header("ES256", es_kid)));
    char *input = malloc(strlen(h) + 32);
    sprintf(input, "%s.eyJzdWIiOiJ1In0+", h); /* '+' is not base64url */
    uint8_t sig[AS_SIG_MAX];
    size_t siglen;
    ck_assert_int_eq(as_jws_sign(es_key, input, strlen(input), sig, &siglen), 0);
    t = append_sig(input, sig, siglen);
    ck_assert_rejected(v, t, ASV_ERR_MALFORMED, "the payload is not base64url");
    free(t);
    free(h);

    free(token);
    asv_verifier_free(v);
}
END_TEST

START_TEST(duplicate_json_members_are_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    int64_t now = time(NULL);
    char h[256];

    /* {"alg":"ES256",...,"alg":...}: two parsers, two meanings */
    snprintf(h, sizeof(h), "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"%s\",\"alg\":\"ES256\"}", es_kid);
    char *dup_header = forge(es_key, h, payload("", now, "j-dup1"));
    ck_assert_rejected(v, dup_header, ASV_ERR_MALFORMED, "the header has a member name twice");

    /* a correctly signed payload with "sub" twice */
    char *dup_payload = forge(es_key, header("ES256", es_kid), payload("\"sub\":\"admin\",", now, "j-dup2"));
    ck_assert_rejected(v, dup_payload, ASV_ERR_MALFORMED, "the payload has a member name twice");

    /* the same payload without the duplicate verifies: it is the duplicate that was refused */
    char *single = forge(es_key, header("ES256", es_kid), payload("\"azp\":\"admin\",", now, "j-dup3"));
    ck_assert_int_eq(verify(v, single, NULL, NULL), 0);

    /* a header that is JSON but not an object */
    char *h64 = b64("[1]", 3), *rest = strchr(single, '.');
    char *not_object = malloc(strlen(h64) + strlen(rest) + 1);
    sprintf(not_object, "%s%s", h64, rest);
    ck_assert_rejected(v, not_object, ASV_ERR_MALFORMED, "the header is not a JSON object");

    free(h64);
    free(not_object);
    free(dup_header);
    free(dup_payload);
    free(single);
    asv_verifier_free(v);
}
END_TEST

START_TEST(truncated_tokens_are_refused)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    size_t len = strlen(token), dot2 = strrchr(token, '.') - token;
    char reason[ASV_REASON_MAX];

    ck_assert_int_eq(len - dot2 - 1, 86); /* an ES256 signature: 64 bytes */
    ck_assert_int_eq(asv_verify(v, token, len, NULL, reason, sizeof(reason)), 0);
    for (size_t n = 0; n < len; ++n) {
        int r = asv_verify(v, token, n, NULL, reason, sizeof(reason)); /* not NUL-terminated at n: the length rules */
        if (n <= dot2 + 1)
            ck_assert_msg(r == ASV_ERR_MALFORMED, "cut at %zu: %d %s", n, r, reason);
        else
            ck_assert_msg(r == ASV_ERR_MALFORMED || r == ASV_ERR_BAD_SIGNATURE, "cut at %zu: %d %s", n, r, reason);
    }
    ck_assert_int_eq(asv_verify(v, token, 0, NULL, reason, sizeof(reason)), ASV_ERR_MALFORMED);
    ck_assert_str_eq(reason, "malformed token: empty");
    ck_assert_int_eq(asv_verify(v, token, dot2, NULL, reason, sizeof(reason)), ASV_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(reason, "not three dot-separated parts"));
    ck_assert_int_eq(asv_verify(v, token, dot2 + 1, NULL, reason, sizeof(reason)), ASV_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(reason, "signature is empty"));
    ck_assert_int_eq(asv_verify(v, token, len - 1, NULL, reason, sizeof(reason)), ASV_ERR_MALFORMED);     /* 85 chars */
    ck_assert_int_eq(asv_verify(v, token, len - 2, NULL, reason, sizeof(reason)), ASV_ERR_BAD_SIGNATURE); /* 63 bytes */
    ck_assert_int_eq(asv_verify(v, token, len - 6, NULL, reason, sizeof(reason)), ASV_ERR_BAD_SIGNATURE); /* 60 bytes */

    /* a NUL inside, and a fourth part */
    char *t = strdup(token);
    t[5] = '\0';
    ck_assert_int_eq(asv_verify(v, t, len, NULL, reason, sizeof(reason)), ASV_ERR_MALFORMED);
    ck_assert_ptr_nonnull(strstr(reason, "NUL"));
    free(t);
    t = malloc(len + 3);
    sprintf(t, "%s.x", token);
    ck_assert_rejected(v, t, ASV_ERR_MALFORMED, "not three dot-separated parts");
    free(t);
    free(token);
    asv_verifier_free(v);
}
END_TEST

/* --- keys: unknown kid, rotation, the JWKS document -------------------------------------------------------- */

START_TEST(unknown_kid_refetches_once_per_window)
{
    asv_config_t cfg = config();
    cfg.jwks_min_refetch_interval = 2;
    asv_verifier_t *v = new_verifier(&cfg);
    use_fake_clock(v);
    char *known = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *new_key = mint(es_other, other_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *made_up = mint(es_other, "no-such-kid", (mint_t){MINT_DEFAULTS}, NULL);

    ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), 0);
    ck_assert_int_eq(fake_jwks_calls(), 1);
    ck_assert_int_eq(verify(v, known, NULL, NULL), 0);
    ck_assert_int_eq(fake_jwks_calls(), 1);

    /* an unknown kid: one refetch, then the answer */
    ck_assert_rejected(v, new_key, ASV_ERR_UNKNOWN_KEY, "is not in the JWKS (refetched)");
    ck_assert_int_eq(fake_jwks_calls(), 2);
    /* within the window, no more refetches, whatever the kid */
    ck_assert_rejected(v, made_up, ASV_ERR_UNKNOWN_KEY, "(refetch rate-limited)");
    ck_assert_rejected(v, new_key, ASV_ERR_UNKNOWN_KEY, "(refetch rate-limited)");
    ck_assert_int_eq(fake_jwks_calls(), 2);

    /* authsvc publishes the new key; once the window has passed, its first token refetches and verifies */
    as_key_t *keys[] = {es_key, es_other};
    fake_set_jwks(jwks_of(keys, 2, NULL));
    ck_assert_rejected(v, new_key, ASV_ERR_UNKNOWN_KEY, "rate-limited");
    ck_assert_int_eq(fake_jwks_calls(), 2);
    clock_advance(v, 1999);
    ck_assert_rejected(v, new_key, ASV_ERR_UNKNOWN_KEY, "rate-limited");
    ck_assert_int_eq(fake_jwks_calls(), 2);
    clock_advance(v, 1);
    ck_assert_int_eq(verify(v, new_key, NULL, NULL), 0);
    ck_assert_int_eq(fake_jwks_calls(), 3);
    ck_assert_int_eq(verify(v, new_key, NULL, NULL), 0);
    ck_assert_int_eq(fake_jwks_calls(), 3);

    /* a token without kid never causes a fetch, even with the window open, even on a cold verifier */
    char *no_kid = forge(es_key, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", payload("", time(NULL), "j-nokid"));
    clock_advance(v, 2000);
    ck_assert_rejected(v, no_kid, ASV_ERR_UNKNOWN_KEY, "the header has no kid");
    ck_assert_int_eq(fake_jwks_calls(), 3);
    asv_verifier_t *cold = new_verifier(&cfg);
    ck_assert_rejected(cold, no_kid, ASV_ERR_UNKNOWN_KEY, "the header has no kid");
    ck_assert_int_eq(fake_jwks_calls(), 3);
    asv_verifier_free(cold);

    free(known);
    free(new_key);
    free(made_up);
    free(no_kid);
    asv_verifier_free(v);
}
END_TEST

typedef struct st_racer_t {
    asv_verifier_t *v;
    const char *token;
    pthread_barrier_t *barrier;
    int result;
} racer_t;

static void *race_verify(void *p)
{
    racer_t *r = p;
    pthread_barrier_wait(r->barrier);
    r->result = asv_verify(r->v, r->token, strlen(r->token), NULL, NULL, 0);
    return NULL;
}

START_TEST(concurrent_unknown_kids_cause_one_fetch)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    enum { N = 8 };
    pthread_t threads[N];
    racer_t racers[N];
    pthread_barrier_t barrier;

    /* a cold verifier: eight requests at once all need the JWKS, and it is fetched once */
    pthread_barrier_init(&barrier, NULL, N);
    for (int i = 0; i != N; ++i) {
        racers[i] = (racer_t){.v = v, .token = token, .barrier = &barrier, .result = 99};
        pthread_create(&threads[i], NULL, race_verify, &racers[i]);
    }
    for (int i = 0; i != N; ++i) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(racers[i].result, 0);
    }
    ck_assert_int_eq(fake_jwks_calls(), 1);
    pthread_barrier_destroy(&barrier);
    free(token);
    asv_verifier_free(v);
}
END_TEST

START_TEST(jwks_ignores_unusable_keys)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char reason[ASV_REASON_MAX];
    json_t *es_jwk = as_key_public_jwk(es_key), *rs_jwk = as_key_public_jwk(rs_key);

    /* the EC key for encryption, the RSA key as PS256 (unsupported), the EdDSA key declared ES256,
     * one key twice, and a string: none of them usable */
    json_object_set_new(es_jwk, "use", json_string("enc"));
    json_object_set_new(rs_jwk, "alg", json_string("PS256"));
    json_t *ed_as_es = as_key_public_jwk(ed_key);
    json_object_set_new(ed_as_es, "alg", json_string("ES256"));
    json_t *other1 = as_key_public_jwk(es_other), *other2 = as_key_public_jwk(es_other);
    json_t *keys = json_pack("[o,o,o,o,o,s]", es_jwk, rs_jwk, ed_as_es, other1, other2, "not a key");
    json_t *doc = json_pack("{s:o}", "keys", keys);
    fake_set_jwks(json_dumps(doc, JSON_COMPACT));
    json_decref(doc);

    ck_assert_int_eq(asv_refresh_jwks(v, reason, sizeof(reason)), 0);
    ck_assert_str_eq(reason, "the JWKS has 0 usable keys (6 ignored)");
    char *es = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL), *rs = mint(rs_key, rs_kid, (mint_t){MINT_DEFAULTS}, NULL),
         *ed = mint(ed_key, ed_kid, (mint_t){MINT_DEFAULTS}, NULL),
         *other = mint(es_other, other_kid, (mint_t){MINT_DEFAULTS}, NULL);
    ck_assert_rejected(v, es, ASV_ERR_UNKNOWN_KEY, "is not in the JWKS");
    ck_assert_rejected(v, rs, ASV_ERR_UNKNOWN_KEY, "is not in the JWKS");
    ck_assert_rejected(v, ed, ASV_ERR_UNKNOWN_KEY, "is not in the JWKS");
    ck_assert_rejected(v, other, ASV_ERR_UNKNOWN_KEY, "is not in the JWKS");

    /* a JWKS with the usable ones back: all verify after a refresh */
    as_key_t *all[] = {es_key, rs_key, ed_key, es_other};
    fake_set_jwks(jwks_of(all, 4, "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"HS256\",\"kid\":\"hmac\"}"));
    ck_assert_int_eq(asv_refresh_jwks(v, reason, sizeof(reason)), 0);
    ck_assert_str_eq(reason, "the JWKS has 4 usable keys (1 ignored)");
    ck_assert_int_eq(verify(v, es, NULL, NULL), 0);
    ck_assert_int_eq(verify(v, rs, NULL, NULL), 0);
    ck_assert_int_eq(verify(v, ed, NULL, NULL), 0);
    ck_assert_int_eq(verify(v, other, NULL, NULL), 0);
    /* and an oct key cannot be named to make HS256 acceptable */
    char *input = signing_input(header("HS256", "hmac"), payload("", time(NULL), "j-oct"));
    uint8_t mac[AS_HMAC_SHA256_LEN];
    as_hmac_sha256("secret", 6, input, strlen(input), mac);
    char *hs = append_sig(input, mac, sizeof(mac));
    ck_assert_rejected(v, hs, ASV_ERR_BAD_ALGORITHM, "HMAC");

    free(hs);
    free(es);
    free(rs);
    free(ed);
    free(other);
    asv_verifier_free(v);
}
END_TEST

START_TEST(failed_or_bad_jwks_keeps_the_keys)
{
    asv_config_t cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    char reason[ASV_REASON_MAX];
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);

    ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), 0);
    fake.jwks_status = 500;
    ck_assert_int_eq(asv_refresh_jwks(v, reason, sizeof(reason)), ASV_ERR_FETCH);
    ck_assert_str_eq(reason, "fetching the JWKS: HTTP status 500");
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);

    fake.jwks_status = 200;
    fake_set_jwks(strdup("{\"keys\": {}}"));
    ck_assert_int_eq(asv_refresh_jwks(v, reason, sizeof(reason)), ASV_ERR_BAD_DOCUMENT);
    ck_assert_ptr_nonnull(strstr(reason, "\"keys\" array"));
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);
    fake_set_jwks(strdup("<html>"));
    ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), ASV_ERR_BAD_DOCUMENT);
    fake_set_jwks(strdup("{\"keys\":[],\"keys\":[]}"));
    ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), ASV_ERR_BAD_DOCUMENT);
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);

    /* a key that leaves the JWKS is no longer trusted once the JWKS is refetched */
    as_key_t *keys[] = {ed_key};
    fake_set_jwks(jwks_of(keys, 1, NULL));
    ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), 0);
    ck_assert_rejected(v, token, ASV_ERR_UNKNOWN_KEY, "is not in the JWKS");

    free(token);
    asv_verifier_free(v);
}
END_TEST

/* --- the revocation feed -------------------------------------------------------------------------------- */

static char *feed_doc(const char *cursor, int reset, const char *subjects, const char *jtis)
{
    char *s = malloc(strlen(subjects) + strlen(jtis) + 128);
    sprintf(s, "{\"cursor\":\"%s\",\"reset\":%s,\"subjects\":%s,\"jtis\":%s}", cursor, reset ? "true" : "false", subjects, jtis);
    return s;
}

START_TEST(feed_revokes_jtis_and_old_versions)
{
    asv_config_t cfg = config_with_feed();
    asv_verifier_t *v = new_verifier(&cfg);
    char jti[AS_JTI_LEN + 1], jtis[256], reason[ASV_REASON_MAX];
    char *revoked = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, jti);
    char *v3 = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .sub = "user-2", .ver = 3}, NULL);
    char *v4 = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .sub = "user-2", .ver = 4}, NULL);
    char *client = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .sub = "user-2", .ver = 0}, NULL);
    char *bystander = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS, .sub = "user-3", .ver = 1}, NULL);

    snprintf(jtis, sizeof(jtis), "[{\"jti\":\"%s\",\"exp\":%lld},{\"jti\":\"gone\",\"exp\":%lld}]", jti,
             (long long)time(NULL) + 300, (long long)time(NULL) - 100);
    char *d1 = feed_doc("10", 1, "[]", jtis), *d2 = feed_doc("11", 0, "[{\"sub\":\"user-2\",\"min_ver\":4}]", "[]"),
         *d3 = feed_doc("12", 0, "[{\"sub\":\"user-2\",\"min_ver\":2}]", "[]"), *d4 = feed_doc("20", 1, "[]", "[]");
    fake_add_feed(200, d1);
    fake_add_feed(200, d2);
    fake_add_feed(200, d3);
    fake_add_feed(200, d4);

    /* before any poll nothing is revoked */
    ck_assert_int_eq(verify(v, revoked, NULL, NULL), 0);

    /* the first poll: no since, the client's credentials, a snapshot with one live and one expired jti */
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), 0);
    ck_assert_str_eq(reason, "0 revoked subjects, 1 revoked jtis (snapshot)");
    ck_assert_str_eq(fake.feed_url, FEED_URL);
    ck_assert_str_eq(fake.feed_user, CLIENT_ID);
    ck_assert_str_eq(fake.feed_password, CLIENT_SECRET);
    ck_assert_rejected(v, revoked, ASV_ERR_REVOKED_TOKEN, "revoked token: its jti is on the revocation feed");
    ck_assert_int_eq(verify(v, v3, NULL, NULL), 0);

    /* the next poll sends the cursor back; user-2's sessions before version 4 end */
    ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), 0);
    ck_assert_str_eq(fake.feed_url, FEED_URL "?since=10");
    ck_assert_rejected(v, v3, ASV_ERR_REVOKED_SUBJECT, "its ver 3 is below 4");
    ck_assert_int_eq(verify(v, v4, NULL, NULL), 0);
    ck_assert_int_eq(verify(v, client, NULL, NULL), 0);               /* no ver: a client token, not a user session */
    ck_assert_int_eq(verify(v, bystander, NULL, NULL), 0);            /* another user */
    ck_assert_rejected(v, revoked, ASV_ERR_REVOKED_TOKEN, "revoked"); /* merged: the jti is still there */

    /* merging keeps the larger min_ver */
    ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), 0);
    ck_assert_str_eq(fake.feed_url, FEED_URL "?since=11");
    ck_assert_rejected(v, v3, ASV_ERR_REVOKED_SUBJECT, "below 4");

    /* reset: true replaces the state */
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), 0);
    ck_assert_str_eq(fake.feed_url, FEED_URL "?since=12");
    ck_assert_str_eq(reason, "0 revoked subjects, 0 revoked jtis (snapshot)");
    ck_assert_int_eq(verify(v, revoked, NULL, NULL), 0);
    ck_assert_int_eq(verify(v, v3, NULL, NULL), 0);

    /* no more answers: 503, and the cursor stays */
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_FETCH);
    ck_assert_str_eq(reason, "polling the revocation feed: HTTP status 503");
    ck_assert_str_eq(fake.feed_url, FEED_URL "?since=20");

    free(d1);
    free(d2);
    free(d3);
    free(d4);
    free(revoked);
    free(v3);
    free(v4);
    free(client);
    free(bystander);
    asv_verifier_free(v);
}
END_TEST

START_TEST(bad_feed_answers_keep_state_and_cursor)
{
    asv_config_t cfg = config_with_feed();
    cfg.feed_url = FEED_URL "?tenant=a";
    asv_verifier_t *v = new_verifier(&cfg);
    char jti[AS_JTI_LEN + 1], jtis[256], reason[ASV_REASON_MAX];
    char *revoked = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, jti);

    snprintf(jtis, sizeof(jtis), "[{\"jti\":\"%s\",\"exp\":%lld}]", jti, (long long)time(NULL) + 300);
    char *good = feed_doc("7", 1, "[]", jtis), *reset_everything = feed_doc("8", 1, "[]", "[]");
    fake_add_feed(200, good);
    fake_add_feed(200, "{\"cursor\":\"8; DROP\",\"reset\":true,\"subjects\":[],\"jtis\":[]}");
    fake_add_feed(200, "{\"cursor\":\"8\",\"subjects\":[],\"jtis\":[]}");
    fake_add_feed(200, "{\"cursor\":\"8\",\"reset\":true,\"subjects\":[{\"sub\":\"u\",\"min_ver\":\"2\"}],\"jtis\":[]}");
    fake_add_feed(200, "{\"cursor\":\"8\",\"reset\":true,\"reset\":false,\"subjects\":[],\"jtis\":[]}");
    fake_add_feed(401, NULL);
    fake_add_feed(200, reset_everything);

    ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), 0);
    ck_assert_str_eq(fake.feed_url, FEED_URL "?tenant=a");
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_BAD_DOCUMENT);
    ck_assert_str_eq(reason, "the feed's cursor is not a decimal string");
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_BAD_DOCUMENT);
    ck_assert_str_eq(reason, "the feed's answer lacks reset, subjects or jtis");
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_BAD_DOCUMENT);
    ck_assert_str_eq(reason, "subjects[0] is not {\"sub\": string, \"min_ver\": integer}");
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_BAD_DOCUMENT);
    ck_assert_str_eq(reason, "the feed's answer is not a JSON object");
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_FETCH);
    ck_assert_str_eq(reason, "polling the revocation feed: HTTP status 401");
    /* after all that, the state is still the good answer's, and the cursor too */
    ck_assert_rejected(v, revoked, ASV_ERR_REVOKED_TOKEN, "revoked");
    ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), 0);
    ck_assert_str_eq(fake.feed_url, FEED_URL "?tenant=a&since=7");
    ck_assert_int_eq(verify(v, revoked, NULL, NULL), 0);

    free(good);
    free(reset_everything);
    free(revoked);
    asv_verifier_free(v);
}
END_TEST

START_TEST(stale_revocations_fail_closed_when_asked)
{
    asv_config_t cfg = config_with_feed();
    cfg.revocations_max_age = 1;
    asv_verifier_t *v = new_verifier(&cfg);
    use_fake_clock(v);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *d = feed_doc("1", 1, "[]", "[]");
    fake_add_feed(200, d);

    ck_assert_rejected(v, token, ASV_ERR_STALE_REVOCATIONS, "no successful poll of the revocation feed yet");
    ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), 0);
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);
    clock_advance(v, 1000);
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0); /* 1 s old: not older than the limit */
    clock_advance(v, 1000);
    ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), ASV_ERR_FETCH); /* the feed is down now */
    ck_assert_rejected(v, token, ASV_ERR_STALE_REVOCATIONS, "no successful poll of the revocation feed for 2 s (limit 1 s)");
    /* a garbage token still says what is wrong with it */
    ck_assert_rejected(v, "x.y.z", ASV_ERR_MALFORMED, "malformed");
    free(d);
    free(token);
    asv_verifier_free(v);
}
END_TEST

START_TEST(configuration_is_checked)
{
    char reason[ASV_REASON_MAX];
    asv_config_t cfg = config();
    cfg.issuer = NULL;
    ck_assert_ptr_null(asv_verifier_new(&cfg, reason, sizeof(reason)));
    ck_assert_str_eq(reason, "issuer and jwks_url are required");
    cfg = config_with_feed();
    cfg.client_secret = NULL;
    ck_assert_ptr_null(asv_verifier_new(&cfg, reason, sizeof(reason)));
    ck_assert_ptr_nonnull(strstr(reason, "feed_url needs client_id and client_secret"));
    cfg = config();
    cfg.jwks_min_refetch_interval = -5;
    ck_assert_ptr_null(asv_verifier_new(&cfg, reason, sizeof(reason)));

    cfg = config();
    asv_verifier_t *v = new_verifier(&cfg);
    ck_assert_int_eq(asv_poll_revocations(v, reason, sizeof(reason)), ASV_ERR_CONFIG);
    ck_assert_str_eq(reason, "no feed_url configured");
    asv_verifier_free(v);
    asv_verifier_free(NULL);
    ck_assert_str_eq(asv_strerror(ASV_ERR_EXPIRED), "expired");
    ck_assert_str_eq(asv_strerror(ASV_ERR_REVOKED_SUBJECT), "revoked session");
    ck_assert_str_eq(asv_strerror(-999), "unknown error");
}
END_TEST

/* --- threads ------------------------------------------------------------------------------------------------ */

typedef struct st_worker_t {
    asv_verifier_t *v;
    const char *token;
    _Atomic int *stop;
    long ok, failed;
} worker_t;

static void *verify_loop(void *p)
{
    worker_t *w = p;
    while (!*w->stop) {
        asv_claims_t c;
        if (asv_verify(w->v, w->token, strlen(w->token), &c, NULL, 0) == 0 && strcmp(c.sub, "user-1") == 0)
            ++w->ok;
        else
            ++w->failed;
        asv_claims_clear(&c);
    }
    return NULL;
}

START_TEST(verification_runs_while_others_fetch)
{
    asv_config_t cfg = config_with_feed();
    asv_verifier_t *v = new_verifier(&cfg);
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *d = feed_doc("1", 1, "[{\"sub\":\"someone-else\",\"min_ver\":9}]", "[{\"jti\":\"other\",\"exp\":99999999999}]");
    enum { N = 4 };
    pthread_t threads[N];
    worker_t workers[N];
    _Atomic int stop = 0;

    ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), 0);
    for (int i = 0; i != N; ++i) {
        workers[i] = (worker_t){.v = v, .token = token, .stop = &stop};
        pthread_create(&threads[i], NULL, verify_loop, &workers[i]);
    }
    /* meanwhile: key sets and revocation states swapped under the readers' feet */
    for (int i = 0; i != 200; ++i) {
        ck_assert_int_eq(asv_refresh_jwks(v, NULL, 0), 0);
        fake_add_feed(200, d);
        ck_assert_int_eq(asv_poll_revocations(v, NULL, 0), 0);
        fake.feed_next = fake.feed_count = 0; /* only this thread polls */
    }
    stop = 1;
    long ok = 0;
    for (int i = 0; i != N; ++i) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(workers[i].failed, 0);
        ok += workers[i].ok;
    }
    ck_assert_int_gt(ok, 0);
    free(d);
    free(token);
    asv_verifier_free(v);
}
END_TEST

static char log_lines[8][ASV_REASON_MAX + 128];
static int log_count;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

static void on_log(void *ctx, const char *message)
{
    (void)ctx;
    pthread_mutex_lock(&log_mutex);
    if (log_count < 8)
        snprintf(log_lines[log_count++], sizeof(log_lines[0]), "%s", message);
    pthread_mutex_unlock(&log_mutex);
}

static int logged(void)
{
    pthread_mutex_lock(&log_mutex);
    int n = log_count;
    pthread_mutex_unlock(&log_mutex);
    return n;
}

/**
 * Moves the clock on by `ms`, which makes the next poll of the feed due (feed_poll_interval is 1 s), and
 * returns once the background thread has begun it: everything it did before is done.
 */
static void poll_after(asv_verifier_t *v, int64_t ms)
{
    int polls = fake_feed_calls();
    clock_advance(v, ms);
    fake_wait_calls(&fake.feed_calls, polls + 1);
}

START_TEST(background_thread_fetches_and_polls)
{
    asv_config_t cfg = config_with_feed();
    cfg.no_fetch_in_verify = 1;
    cfg.jwks_min_refetch_interval = 1;
    cfg.feed_poll_interval = 1;
    cfg.log = on_log;
    asv_verifier_t *v = new_verifier(&cfg);
    use_fake_clock(v);
    log_count = 0;
    char jti[AS_JTI_LEN + 1], jtis[256];
    char *token = mint(es_key, es_kid, (mint_t){MINT_DEFAULTS}, jti);
    char *new_key = mint(es_other, other_kid, (mint_t){MINT_DEFAULTS}, NULL);
    char *made_up = mint(es_other, "no-such-kid", (mint_t){MINT_DEFAULTS}, NULL);
    snprintf(jtis, sizeof(jtis), "[{\"jti\":\"%s\",\"exp\":%lld}]", jti, (long long)time(NULL) + 300);
    /* the feed: a snapshot, two polls with nothing new, then the token's jti; then it fails (503) */
    char *d1 = feed_doc("5", 1, "[]", "[]"), *d2 = feed_doc("6", 0, "[]", "[]"), *d3 = feed_doc("7", 0, "[]", "[]"),
         *d4 = feed_doc("8", 0, "[]", jtis);
    fake_add_feed(200, d1);
    fake_add_feed(200, d2);
    fake_add_feed(200, d3);
    fake_add_feed(200, d4);

    /* nothing fetched yet, and asv_verify will not fetch: refused at once */
    ck_assert_rejected(v, token, ASV_ERR_UNKNOWN_KEY, "(a refetch is scheduled)");
    ck_assert_int_eq(fake_jwks_calls(), 0);

    /* the thread fetches the JWKS and polls the feed at once; by its next poll, both are applied */
    ck_assert_int_eq(asv_start(v, NULL, 0), 0);
    ck_assert_int_eq(asv_start(v, NULL, 0), ASV_ERR_CONFIG);
    ck_assert_int_eq(asv_set_clock(v, NULL, NULL), ASV_ERR_CONFIG); /* too late */
    fake_wait_calls(&fake.jwks_calls, 1);
    fake_wait_calls(&fake.feed_calls, 1);
    poll_after(v, 1000);
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);
    ck_assert_int_eq(fake_jwks_calls(), 1); /* the refetch asked for before asv_start was that first fetch */

    /* a new key, a second after the last unknown kid: refused, the verifier asks its thread, which refetches;
     * meanwhile another unknown kid is rate-limited, not another fetch */
    as_key_t *keys[] = {es_key, es_other};
    fake_set_jwks(jwks_of(keys, 2, NULL));
    ck_assert_rejected(v, new_key, ASV_ERR_UNKNOWN_KEY, "(a refetch is scheduled)");
    ck_assert_rejected(v, made_up, ASV_ERR_UNKNOWN_KEY, "(refetch rate-limited)");
    fake_wait_calls(&fake.jwks_calls, 2);
    poll_after(v, 1000);
    ck_assert_int_eq(verify(v, new_key, NULL, NULL), 0);
    ck_assert_int_eq(fake_jwks_calls(), 2);

    /* the jti arrives with the thread's next poll (a second later), and is applied before the one after */
    ck_assert_int_eq(verify(v, token, NULL, NULL), 0);
    poll_after(v, 1000);
    poll_after(v, 1000);
    ck_assert_rejected(v, token, ASV_ERR_REVOKED_TOKEN, "revoked");

    /* that last poll failed (503): logged once, not every second, then again once a minute */
    poll_after(v, 1000);
    poll_after(v, 1000);
    ck_assert_int_eq(logged(), 1);
    poll_after(v, 58000); /* a minute after the first failure */
    asv_verifier_free(v); /* joins the thread: its last poll is reported */
    ck_assert_int_eq(logged(), 2);
    ck_assert_str_eq(log_lines[0], "polling the revocation feed: HTTP status 503");
    ck_assert_str_eq(log_lines[1], "polling the revocation feed: HTTP status 503");

    free(d1);
    free(d2);
    free(d3);
    free(d4);
    free(token);
    free(new_key);
    free(made_up);
}
END_TEST

/* --- Authorization header ------------------------------------------------------------------------------- */

START_TEST(bearer_token_is_found_in_the_header)
{
    const char *t;
    size_t n;
#define BEARER(s) asv_bearer_token((s), strlen(s), &t, &n)
    ck_assert_int_eq(BEARER("Bearer abc.def-_~+/="), 0);
    ck_assert_int_eq(n, strlen("abc.def-_~+/="));
    ck_assert_int_eq(memcmp(t, "abc.def-_~+/=", n), 0);
    ck_assert_int_eq(BEARER("  bearer   xyz  "), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(memcmp(t, "xyz", 3), 0);
    ck_assert_int_eq(BEARER("BEARER a"), 0);
    ck_assert_int_eq(BEARER("Basic abc"), -1);
    ck_assert_int_eq(BEARER("Bearer"), -1);
    ck_assert_int_eq(BEARER("Bearer "), -1);
    ck_assert_int_eq(BEARER("Bearerabc"), -1);
    ck_assert_int_eq(BEARER("Bearer a b"), -1);
    ck_assert_int_eq(BEARER("Bearer a=b"), -1);
    ck_assert_int_eq(BEARER("Bearer a,b"), -1);
    ck_assert_int_eq(BEARER(""), -1);
#undef BEARER
}
END_TEST

static Suite *verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("verify");
    tcase_add_unchecked_fixture(tc, make_keys, drop_keys);
    tcase_add_checked_fixture(tc, fake_reset, fake_reset);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, es256_token_verifies);
    tcase_add_test(tc, eddsa_token_verifies);
    tcase_add_test(tc, rs256_token_verifies);
    tcase_add_test(tc, client_token_without_ver_verifies);
    tcase_add_test(tc, wrong_issuer_and_audience_are_refused);
    tcase_add_test(tc, expiry_and_not_before_honour_the_leeway);
    tcase_add_test(tc, missing_claims_and_wrong_type_are_refused);
    tcase_add_test(tc, tampered_tokens_are_refused);
    tcase_add_test(tc, alg_none_is_refused);
    tcase_add_test(tc, hs256_with_the_public_key_as_secret_is_refused);
    tcase_add_test(tc, alg_that_is_not_the_keys_is_refused);
    tcase_add_test(tc, huge_header_is_refused);
    tcase_add_test(tc, invalid_base64url_is_refused);
    tcase_add_test(tc, duplicate_json_members_are_refused);
    tcase_add_test(tc, truncated_tokens_are_refused);
    tcase_add_test(tc, unknown_kid_refetches_once_per_window);
    tcase_add_test(tc, concurrent_unknown_kids_cause_one_fetch);
    tcase_add_test(tc, jwks_ignores_unusable_keys);
    tcase_add_test(tc, failed_or_bad_jwks_keeps_the_keys);
    tcase_add_test(tc, feed_revokes_jtis_and_old_versions);
    tcase_add_test(tc, bad_feed_answers_keep_state_and_cursor);
    tcase_add_test(tc, stale_revocations_fail_closed_when_asked);
    tcase_add_test(tc, configuration_is_checked);
    tcase_add_test(tc, verification_runs_while_others_fetch);
    tcase_add_test(tc, background_thread_fetches_and_polls);
    tcase_add_test(tc, bearer_token_is_found_in_the_header);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run_suite(verify_suite());
}
