/*
 * argon2_rate — how many argon2id verifications per second this machine does with authsvc's parameters
 * (t=2, m=19456 KiB, p=1), the way the server does them (authsvc/crypto/pwhash.c): argon2_verify_ctx()
 * with the working memory from one mapping per thread, advised for transparent huge pages and kept from
 * one verification to the next.
 *
 *   argon2_rate THREADS SECONDS     prints "threads=N verifies=N seconds=S rate=R per_thread=R"
 *
 * Build: cc -O2 -pthread -o argon2_rate argon2_rate.c -largon2
 */
#include <argon2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#define T_COST 2
#define M_COST_KIB 19456
#define PARALLELISM 1

static const char password[] = "correct horse battery staple";
static double deadline;
static long counts[256];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char salt[16] = "authsvc-bench-01";
static unsigned char tag[32];
static __thread uint8_t *kept;

static int alloc_kept(uint8_t **memory, size_t len)
{
    if (kept == NULL) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return *memory = NULL, -1;
        (void)madvise(p, len, MADV_HUGEPAGE);
        kept = p;
    }
    *memory = kept;
    return 0;
}

static void free_kept(uint8_t *memory, size_t len)
{
    (void)memory, (void)len; /* kept for the thread's next verification (libargon2 has wiped it) */
}

static int verify(void)
{
    uint8_t out[sizeof(tag)];
    argon2_context ctx = {.out = out, .outlen = sizeof(out), .pwd = (uint8_t *)password, .pwdlen = strlen(password),
                          .salt = salt, .saltlen = sizeof(salt), .t_cost = T_COST, .m_cost = M_COST_KIB,
                          .lanes = PARALLELISM, .threads = PARALLELISM, .version = ARGON2_VERSION_13,
                          .allocate_cbk = alloc_kept, .free_cbk = free_kept, .flags = ARGON2_DEFAULT_FLAGS};
    return argon2_verify_ctx(&ctx, (const char *)tag, Argon2_id);
}

static void *worker(void *arg)
{
    long *count = arg;
    while (now() < deadline) {
        if (verify() != ARGON2_OK) {
            fprintf(stderr, "argon2_rate: verification failed\n");
            exit(1);
        }
        ++*count;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 3;
    pthread_t tids[256];

    if (threads < 1 || threads > 256 || seconds <= 0) {
        fprintf(stderr, "usage: argon2_rate THREADS SECONDS\n");
        return 2;
    }
    if (argon2id_hash_raw(T_COST, M_COST_KIB, PARALLELISM, password, strlen(password), salt, sizeof(salt), tag, sizeof(tag)) !=
        ARGON2_OK) {
        fprintf(stderr, "argon2_rate: hashing failed\n");
        return 1;
    }
    double start = now();
    deadline = start + seconds;
    for (int i = 0; i < threads; ++i)
        pthread_create(&tids[i], NULL, worker, &counts[i]);
    long total = 0;
    for (int i = 0; i < threads; ++i) {
        pthread_join(tids[i], NULL);
        total += counts[i];
    }
    double elapsed = now() - start; /* the last verification may end past the deadline */
    printf("threads=%d verifies=%ld seconds=%.2f rate=%.1f per_thread=%.1f\n", threads, total, elapsed, total / elapsed,
           total / elapsed / threads);
    return 0;
}
