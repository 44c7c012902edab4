/*
 * work/pwcheck — the argon2id worker pool: a bounded queue, worker threads,
 * answers through each loop's multithread queue (interface in pwcheck.h).
 *
 * Fairness: a job carries where it comes from (the client address) and for
 * whom (the username). No source may hold more than a quarter of the queue and
 * no username more than a few jobs, and a full queue makes room for a newcomer
 * by turning away the newest job of the heaviest source, so that one flooding
 * address cannot starve everybody else's logins.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/policy/policy.h"
#include "authsvc/work/pwcheck.h"

struct st_as_pwcheck_job_t {
    h2o_multithread_message_t msg; /* first: the receiver gets this back */
    as_pwcheck_job_t *next;        /* in the worker queue */
    h2o_multithread_receiver_t *receiver;
    int hash;  /* 1: make a hash into `result`; 0: verify against `phc` */
    uint64_t source, user; /* hashes of the client address and the username; 0: unknown */
    char *phc;
    char result[AS_PWHASH_MAX];
    char *password;
    size_t password_len;
    int err;   /* 0, AS_ERR_BUSY (not done) or AS_ERR_INTERNAL (hashing failed) */
    int match; /* verification: the password matched */
    uint64_t queued_at;     /* monotonic milliseconds */
    _Atomic int cancelled;  /* set by the loop, read by the worker: skip the work */
    as_pwcheck_cb cb; /* loop thread only; NULL once cancelled */
    void *ctx;
};

struct st_as_pwcheck_t {
    pthread_mutex_t mutex;
    int nice; /* nice steps the workers run below the thread that created them (per thread, on Linux) */
    pthread_cond_t cond;
    as_pwcheck_job_t *head, **tail;
    size_t pending, max_pending; /* jobs submitted and not yet answered; at most this many */
    size_t max_per_source, max_per_user; /* jobs waiting in the queue */
    uint64_t max_wait; /* milliseconds a job may wait in the queue before it is answered "busy" unhashed */
    int stopping;
    size_t queued;              /* jobs in the list */
    uint64_t rejected;          /* answered busy without hashing */
    as_histogram_t wait;        /* queue wait, observed by the worker that takes the job */
    pthread_t *threads;
    size_t num_threads;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * The hash of a new password is made from its NFKC form (policy/), so that the same password typed on another
 * keyboard or input method, composed differently, still matches. A password that does not normalise (which
 * the policy refuses before it gets here) is hashed as given.
 */
static int hash_normalised(const char *pw, size_t len, char out[AS_PWHASH_MAX])
{
    char norm[AS_POLICY_MAX_BYTES];
    size_t normlen;
    int ret;

    if (as_policy_normalize(pw, len, norm, sizeof(norm), &normlen) == 0)
        ret = as_pwhash(norm, normlen, out);
    else
        ret = as_pwhash(pw, len, out);
    as_wipe(norm, sizeof(norm));
    return ret;
}

/**
 * Verifies the NFKC form first; when it differs from the bytes given, the bytes given next, for hashes made
 * before passwords were normalised (or by another tool). That second argon2 run happens only for a wrong
 * password whose normal form differs (in practice, non-ASCII), so the common case costs one verification.
 */
static int verify_normalised(const char *phc, const char *pw, size_t len)
{
    char norm[AS_POLICY_MAX_BYTES];
    size_t normlen;
    int match;

    if (as_policy_normalize(pw, len, norm, sizeof(norm), &normlen) != 0 || (normlen == len && as_memeq(norm, pw, len) == 0)) {
        match = as_pwhash_verify(phc, pw, len) == 0;
    } else {
        match = as_pwhash_verify(phc, norm, normlen) == 0 || as_pwhash_verify(phc, pw, len) == 0;
    }
    as_wipe(norm, sizeof(norm));
    return match;
}

/*
 * An argon2id verification is ~20 ms of one core's time, a token request ~30 us. Without a lower priority, a login
 * burst keeps the workers runnable beside the event threads and the scheduler slices the cores between them, so a
 * token or JWKS request waits for a slice: measured on 2 cores, p99 of an open-loop probe 4 ms while logins saturate
 * the workers, 2 ms with the workers 10 nice steps lower, logins per second unchanged. Logins take the CPU the event
 * threads leave; when the workers fall behind, their queue's deadline answers 503 rather than queueing for ever.
 */
static void lower_priority(const as_pwcheck_t *pw)
{
    if (pw->nice <= 0)
        return;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid), want = cur + pw->nice;
    if (errno != 0)
        return;
    if (setpriority(PRIO_PROCESS, tid, want < 19 ? want : 19) != 0) /* raising one's nice is never refused */
        as_warn("password worker: could not lower its priority: %s", strerror(errno));
}

static void *worker_main(void *arg)
{
    as_pwcheck_t *pw = arg;
    pthread_setname_np(pthread_self(), "authsvc-argon2"); /* top -H, ps -L and the tests tell the workers apart */
    lower_priority(pw);
    as_pwhash_keep_memory(); /* argon2's 19 MiB stay mapped for the next job */
    for (;;) {
        as_pwcheck_job_t *job;
        pthread_mutex_lock(&pw->mutex);
        while (pw->head == NULL && !pw->stopping)
            pthread_cond_wait(&pw->cond, &pw->mutex);
        if (pw->head == NULL) {
            pthread_mutex_unlock(&pw->mutex);
            return NULL;
        }
        job = pw->head;
        if ((pw->head = job->next) == NULL)
            pw->tail = &pw->head;
        --pw->queued;
        int stopping = pw->stopping;
        uint64_t waited = now_ms() - job->queued_at;
        as_histogram_observe(&pw->wait, waited * 1000); /* under the mutex: workers take turns */
        if (!atomic_load(&job->cancelled) && (stopping || waited > pw->max_wait))
            ++pw->rejected;
        pthread_mutex_unlock(&pw->mutex);

        /* a job whose request is gone, that waited too long (its client has given up or will), or that is left
         * at shutdown costs nothing: hashing it would only delay the jobs behind it */
        if (atomic_load(&job->cancelled) || stopping || waited > pw->max_wait)
            job->err = AS_ERR_BUSY;
        else if (job->hash)
            job->err = hash_normalised(job->password, job->password_len, job->result) == 0 ? 0 : AS_ERR_INTERNAL;
        else
            job->match = verify_normalised(job->phc, job->password, job->password_len);
        as_wipe(job->password, job->password_len);

        pthread_mutex_lock(&pw->mutex);
        --pw->pending;
        pthread_mutex_unlock(&pw->mutex);
        h2o_multithread_send_message(job->receiver, &job->msg);
    }
}

as_pwcheck_t *as_pwcheck_create(size_t num_threads, size_t max_pending, uint64_t max_wait, int nice)
{
    as_pwcheck_t *pw = as_calloc(1, sizeof(*pw));
    pw->nice = nice;
    pthread_mutex_init(&pw->mutex, NULL);
    pthread_cond_init(&pw->cond, NULL);
    pw->tail = &pw->head;
    pw->max_pending = max_pending;
    pw->max_per_source = max_pending / 4 > 2 ? max_pending / 4 : 2;
    pw->max_per_user = 4;
    pw->max_wait = max_wait;
    pw->num_threads = num_threads;
    pw->threads = as_calloc(pw->num_threads, sizeof(*pw->threads));
    for (size_t i = 0; i != pw->num_threads; ++i)
        h2o_multithread_create_thread(pw->threads + i, NULL, worker_main, pw);
    return pw;
}

void as_pwcheck_dispose(as_pwcheck_t *pw)
{
    pthread_mutex_lock(&pw->mutex);
    pw->stopping = 1;
    pthread_cond_broadcast(&pw->cond);
    pthread_mutex_unlock(&pw->mutex);
    for (size_t i = 0; i != pw->num_threads; ++i)
        pthread_join(pw->threads[i], NULL);
    /* without workers (tests), the queue is answered here: nothing was hashed */
    for (as_pwcheck_job_t *job; (job = pw->head) != NULL;) {
        pw->head = job->next;
        job->err = AS_ERR_BUSY;
        as_wipe(job->password, job->password_len);
        h2o_multithread_send_message(job->receiver, &job->msg);
    }
    free(pw->threads);
    pthread_mutex_destroy(&pw->mutex);
    pthread_cond_destroy(&pw->cond);
    free(pw);
}

static void job_free(as_pwcheck_job_t *job)
{
    as_wipe(job->password, job->password_len);
    as_wipe(job->result, sizeof(job->result));
    free(job->password);
    free(job->phc);
    free(job);
}

void as_pwcheck_on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        as_pwcheck_job_t *job = H2O_STRUCT_FROM_MEMBER(as_pwcheck_job_t, msg.link, messages->next);
        h2o_linklist_unlink(&job->msg.link);
        if (job->cb != NULL)
            job->cb(job->ctx, job->err, job->match, job->hash && job->err == 0 ? job->result : NULL);
        job_free(job);
    }
}

static uint64_t key_of(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a; 0 is kept for "unknown" */
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; ++s)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h != 0 ? h : 1;
}

/** How many queued jobs come from `source` / are for `user` (0 keys count nothing). Under the mutex. */
static void count_queued(as_pwcheck_t *pw, uint64_t source, uint64_t user, size_t *from_source, size_t *for_user)
{
    *from_source = *for_user = 0;
    for (as_pwcheck_job_t *j = pw->head; j != NULL; j = j->next) {
        *from_source += source != 0 && j->source == source;
        *for_user += user != 0 && j->user == user;
    }
}

/** The newest queued job of the source with the most queued jobs, and that count. Under the mutex. */
static as_pwcheck_job_t *heaviest_newest(as_pwcheck_t *pw, size_t *count)
{
    as_pwcheck_job_t *victim = NULL;
    *count = 0;
    for (as_pwcheck_job_t *j = pw->head; j != NULL; j = j->next) {
        size_t n = 0;
        as_pwcheck_job_t *newest = NULL;
        if (j->source == 0)
            continue;
        for (as_pwcheck_job_t *k = pw->head; k != NULL; k = k->next)
            if (k->source == j->source) {
                ++n;
                newest = k;
            }
        if (n > *count) {
            *count = n;
            victim = newest;
        }
    }
    return victim;
}

/**
 * Decides whether a job from `source` for `user` may be queued, making room if the queue is full and a heavier
 * source can give some up (the job turned away is unlinked here and returned through *evicted, to be answered
 * outside the mutex). Under the mutex.
 */
static int admit(as_pwcheck_t *pw, uint64_t source, uint64_t user, as_pwcheck_job_t **evicted)
{
    size_t from_source, for_user, heaviest;
    *evicted = NULL;
    count_queued(pw, source, user, &from_source, &for_user);
    if ((source != 0 && from_source >= pw->max_per_source) || (user != 0 && for_user >= pw->max_per_user))
        return 0;
    if (pw->pending < pw->max_pending)
        return 1;
    as_pwcheck_job_t *victim = heaviest_newest(pw, &heaviest);
    if (victim == NULL || heaviest <= from_source + 1)
        return 0; /* the newcomer's own source is (about) the heaviest: it is the one turned away */
    for (as_pwcheck_job_t **link = &pw->head; *link != NULL; link = &(*link)->next) {
        if (*link == victim) {
            if ((*link = victim->next) == NULL)
                pw->tail = link;
            break;
        }
    }
    --pw->pending;
    --pw->queued;
    ++pw->rejected;
    victim->err = AS_ERR_BUSY;
    *evicted = victim;
    return 1;
}

static as_pwcheck_job_t *submit(as_pwcheck_t *pw, h2o_multithread_receiver_t *receiver, const char *source, const char *user,
                                 int hash, const char *phc, const char *password, size_t password_len, as_pwcheck_cb cb, void *ctx)
{
    as_pwcheck_job_t *job = as_calloc(1, sizeof(*job)), *evicted;

    job->receiver = receiver;
    job->hash = hash;
    job->source = key_of(source);
    job->user = key_of(user);
    job->phc = as_strdup(phc != NULL ? phc : "");
    job->password = as_malloc(password_len + 1);
    memcpy(job->password, password, password_len);
    job->password[password_len] = '\0';
    job->password_len = password_len;
    job->cb = cb;
    job->ctx = ctx;
    job->queued_at = now_ms();

    pthread_mutex_lock(&pw->mutex);
    if (!admit(pw, job->source, job->user, &evicted)) {
        ++pw->rejected;
        pthread_mutex_unlock(&pw->mutex);
        job_free(job);
        cb(ctx, AS_ERR_BUSY, 0, NULL);
        return NULL;
    }
    ++pw->pending;
    ++pw->queued;
    *pw->tail = job;
    pw->tail = &job->next;
    pthread_cond_signal(&pw->cond);
    pthread_mutex_unlock(&pw->mutex);
    if (evicted != NULL) {
        as_wipe(evicted->password, evicted->password_len);
        h2o_multithread_send_message(evicted->receiver, &evicted->msg);
    }
    return job;
}

as_pwcheck_job_t *as_pwcheck_verify(as_pwcheck_t *pw, h2o_multithread_receiver_t *receiver, const char *source, const char *user,
                                    const char *phc, const char *password, size_t password_len, as_pwcheck_cb cb, void *ctx)
{
    return submit(pw, receiver, source, user, 0, phc, password, password_len, cb, ctx);
}

as_pwcheck_job_t *as_pwcheck_hash(as_pwcheck_t *pw, h2o_multithread_receiver_t *receiver, const char *source, const char *user,
                                  const char *password, size_t password_len, as_pwcheck_cb cb, void *ctx)
{
    return submit(pw, receiver, source, user, 1, NULL, password, password_len, cb, ctx);
}

void as_pwcheck_cancel(as_pwcheck_job_t *job)
{
    if (job != NULL) {
        job->cb = NULL;
        atomic_store(&job->cancelled, 1);
    }
}

int as_pwcheck_saturated(as_pwcheck_t *pw, const char *source, const char *user)
{
    size_t from_source, for_user, heaviest;
    uint64_t s = key_of(source), u = key_of(user);
    pthread_mutex_lock(&pw->mutex);
    count_queued(pw, s, u, &from_source, &for_user);
    int refused = (s != 0 && from_source >= pw->max_per_source) || (u != 0 && for_user >= pw->max_per_user) ||
                  (pw->pending >= pw->max_pending && (heaviest_newest(pw, &heaviest) == NULL || heaviest <= from_source + 1));
    pw->rejected += refused != 0; /* the caller answers busy without submitting */
    pthread_mutex_unlock(&pw->mutex);
    return refused;
}

void as_pwcheck_stats(as_pwcheck_t *pw, as_pwcheck_stats_t *out)
{
    pthread_mutex_lock(&pw->mutex);
    *out = (as_pwcheck_stats_t){.queued = pw->queued, .pending = pw->pending, .rejected = pw->rejected, .wait = pw->wait};
    pthread_mutex_unlock(&pw->mutex);
}
