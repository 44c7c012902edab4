/*
 * verify_bench — what libauthsvc-verify adds to an ES256 signature check. In the same run, on the same key:
 *   raw:  as_jws_verify on a pre-decoded token (the ceiling: the signature check and nothing else)
 *   asv:  asv_verify of the whole token with a cached key, claims returned and freed, as a resource
 *         server does per request (base64url, two JSON parses, lookups under the read lock, revocation check)
 * and their ratio (goal: close to 1). With THREADS > 1, both again on that many threads at once, which also
 * shows whether the read lock and the key's reference count scale.
 *
 *   verify_bench [SECONDS [THREADS]]     defaults: 2 seconds per measurement, 1 thread
 *
 * Built by authsvc/verify/CMakeLists.txt (target verify_bench); not a test.
 */
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

#define ISS "https://auth.example"
#define AUD "bench-api"

static as_key_t *key;
static char *token, *jwks;
static uint8_t sig[AS_SIG_MAX];
static size_t siglen, input_len;
static asv_verifier_t *verifier;
static double seconds = 2;
static _Atomic int go, stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_fetch(void *ctx, const char *url, const char *user, const char *password, char **body, size_t *len)
{
    (void)ctx, (void)url, (void)user, (void)password;
    *body = strdup(jwks);
    *len = strlen(jwks);
    return 0;
}

static long run_raw(void)
{
    long n = 0;
    while (!stop) {
        if (as_jws_verify(key, token, input_len, sig, siglen) != 0)
            abort();
        ++n;
    }
    return n;
}

static long run_asv(void)
{
    size_t len = strlen(token);
    char reason[ASV_REASON_MAX];
    long n = 0;
    while (!stop) {
        asv_claims_t c;
        if (asv_verify(verifier, token, len, &c, reason, sizeof(reason)) != 0) {
            fprintf(stderr, "verify_bench: %s\n", reason);
            abort();
        }
        asv_claims_clear(&c);
        ++n;
    }
    return n;
}

typedef struct st_job_t {
    long (*fn)(void);
    long count;
} job_t;

static void *thread_main(void *p)
{
    job_t *j = p;
    while (!go)
        ;
    j->count = j->fn();
    return NULL;
}

/** Runs fn on `threads` threads for `seconds`; returns calls per second, all threads together. */
static double measure(long (*fn)(void), int threads)
{
    pthread_t tids[256];
    job_t jobs[256];
    go = 0;
    stop = 0;
    for (int i = 0; i != threads; ++i) {
        jobs[i] = (job_t){.fn = fn};
        pthread_create(&tids[i], NULL, thread_main, &jobs[i]);
    }
    double start = now();
    go = 1;
    while (now() - start < seconds) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    stop = 1;
    long total = 0;
    for (int i = 0; i != threads; ++i) {
        pthread_join(tids[i], NULL);
        total += jobs[i].count;
    }
    return total / (now() - start);
}

static void compare(int threads)
{
    /* alternated, best of two each, so that a frequency change or a noisy neighbour hits both alike */
    double raw = 0, asv = 0;
    for (int round = 0; round != 2; ++round) {
        double r;
        if ((r = measure(run_raw, threads)) > raw)
            raw = r;
        if ((r = measure(run_asv, threads)) > asv)
            asv = r;
    }
    printf("threads=%d raw_as_jws_verify_es256=%.0f/s asv_verify_cached_key=%.0f/s ratio=%.3f\n", threads, raw, asv, asv / raw);
}

int main(int argc, char **argv)
{
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    char jti[AS_JTI_LEN + 1], kid[AS_KID_LEN + 1], reason[ASV_REASON_MAX];
    const char *auds[] = {AUD};

    if (argc > 1)
        seconds = atof(argv[1]);
    if (seconds <= 0 || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: verify_bench [SECONDS [THREADS]]\n");
        return 2;
    }

    /* a key, its JWKS, a token as authsvc mints it (ver and scope included), valid for an hour */
    if (as_key_generate(AS_ALG_ES256, &key) != 0 || as_key_thumbprint(key, kid) != 0)
        abort();
    json_t *doc = json_pack("{s:[o]}", "keys", as_key_public_jwk(key));
    jwks = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    as_access_claims_t c = {.issuer = ISS,
                            .subject = "5f0c2b9e-8d1a-4c3e-9b7f-2a6d1e0c4b8a",
                            .client_id = "web-app",
                            .scope = "read write",
                            .audiences = auds,
                            .num_audiences = 1,
                            .token_version = 3,
                            .issued_at = time(NULL),
                            .lifetime = 3600};
    if (as_jwt_mint_access(key, kid, &c, &token, jti) != 0)
        abort();
    const char *dot2 = strrchr(token, '.');
    input_len = dot2 - token;
    ssize_t n = as_b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
    if (n <= 0)
        abort();
    siglen = (size_t)n;

    asv_config_t cfg = {.issuer = ISS, .audience = AUD, .jwks_url = "https://auth.example/jwks", .fetch = on_fetch};
    if ((verifier = asv_verifier_new(&cfg, reason, sizeof(reason))) == NULL ||
        asv_refresh_jwks(verifier, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "verify_bench: %s\n", reason);
        return 1;
    }
    printf("token: %zu bytes, ES256; %.1f s per measurement\n", strlen(token), seconds);
    compare(1);
    if (threads > 1)
        compare(threads);

    asv_verifier_free(verifier);
    free(token);
    free(jwks);
    as_key_release(key);
    return 0;
}
