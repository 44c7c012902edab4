/*
 * Password hashing: argon2id in PHC string form (libargon2).
 *
 * A stored hash is not trusted to be ours: its costs are read and bounded
 * before libargon2 sees them, because argon2 allocates m KiB and runs p
 * threads for t passes exactly as the string says. We parse the string
 * ourselves and give libargon2 the raw salt, tag and costs (argon2_ctx),
 * so that its working memory comes from us (below). See README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <argon2.h>
#include "authsvc/crypto/crypto.h"
#include "authsvc/crypto/thread.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PHC_PREFIX "$argon2id$v=19$"
/** Longest salt and tag as_pwhash_verify decodes (bytes): libargon2 makes 16 and 32 unless told otherwise. */
#define PHC_FIELD_MAX 64
/** Room as_b64url_decode asks for, for the longest field we decode. */
#define PHC_FIELD_BUF AS_B64URL_DECLEN(AS_B64URL_ENCLEN(PHC_FIELD_MAX))
/** The working memory of one hash with our cost: m KiB (a multiple of 4 KiB blocks per lane, so not rounded). */
#define OUR_MEMORY_LEN ((size_t)AS_ARGON2_M_COST_KIB * 1024)

/* The most we spend on a hash we did not make: 256 MiB, 10 passes, 8 lanes. */
#define VERIFY_M_COST_MAX 262144
#define VERIFY_T_COST_MAX 10
#define VERIFY_PARALLELISM_MAX 8
/** Longest PHC string accepted by as_pwhash_verify, NUL excluded: room for longer salts and tags than ours. */
#define VERIFY_PHC_MAX 256

_Static_assert(AS_ARGON2_M_COST_KIB <= VERIFY_M_COST_MAX && AS_ARGON2_T_COST <= VERIFY_T_COST_MAX &&
                   AS_ARGON2_PARALLELISM <= VERIFY_PARALLELISM_MAX,
               "our own hashes must pass our own bounds");
_Static_assert(AS_PWHASH_MAX <= VERIFY_PHC_MAX, "our own hashes must pass our own bounds");

/*
 * argon2's working memory. argon2id fills m KiB on every hash (19 MiB with our cost). libargon2 mallocs and frees it
 * each time, and glibc serves the first such block from mmap; when it comes back, glibc raises its mmap threshold to
 * the block's size and its trim threshold to twice that, for the whole process. From then on no thread's arena gave
 * back the free space at its top below 38 MiB, and the event threads' RSS grew with every new peak of connections
 * and never came down (bench/README.md, "Memory"). So the server pins glibc's thresholds (app.c) and libargon2 gets
 * its memory from here instead: a mapping advised for transparent huge pages (far fewer page faults and TLB misses).
 * A hashing worker (as_pwhash_keep_memory) keeps its mapping for hashes of our cost from one to the next (libargon2
 * wipes it after each one) until it ends (crypto.c); on a 2-core machine that made 52.7 verifications a second per
 * core against 45.4 with malloc (bench/argon2_rate.c before and after, the same minute), and a fresh mapping of
 * small pages each time 35. Any other hash (another thread, or a foreign PHC string's costs) gets a mapping of its own, unmapped
 * after it.
 */
static int argon2_alloc(uint8_t **memory, size_t len)
{
    as_crypto_thread_t *t = as_crypto__thread();
    void *p;

    *memory = NULL; /* libargon2 ignores the return value and checks this */
    if (t->argon2_mem != NULL && t->argon2_len == len) {
        *memory = t->argon2_mem;
        return 0;
    }
    if ((p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
        return -1;
    (void)madvise(p, len, MADV_HUGEPAGE); /* a hint; refused where transparent huge pages are off */
    if (t->argon2_keep && t->argon2_mem == NULL && len == OUR_MEMORY_LEN) {
        t->argon2_mem = p;
        t->argon2_len = len;
    }
    *memory = p;
    return 0;
}

static void argon2_free(uint8_t *memory, size_t len)
{
    if ((void *)memory != as_crypto__thread()->argon2_mem)
        munmap(memory, len);
}

void as_pwhash_keep_memory(void)
{
    as_crypto__thread()->argon2_keep = 1;
}

static void init_ctx(argon2_context *ctx, const char *pw, size_t len, uint8_t *salt, size_t salt_len, uint8_t *out,
                     size_t out_len, uint32_t m, uint32_t t, uint32_t par)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->out = out;
    ctx->outlen = (uint32_t)out_len;
    ctx->pwd = (uint8_t *)(uintptr_t)pw; /* not written: ARGON2_FLAG_CLEAR_PASSWORD is not set */
    ctx->pwdlen = (uint32_t)len;
    ctx->salt = salt;
    ctx->saltlen = (uint32_t)salt_len;
    ctx->t_cost = t;
    ctx->m_cost = m;
    ctx->lanes = par;
    ctx->threads = par;
    ctx->version = ARGON2_VERSION_13;
    ctx->allocate_cbk = argon2_alloc;
    ctx->free_cbk = argon2_free;
    ctx->flags = ARGON2_DEFAULT_FLAGS;
}

/** 1 if a == b, else 0, without a branch (both below 256). */
static unsigned byte_eq(unsigned a, unsigned b)
{
    return ((a ^ b) - 1) >> 31;
}

/*
 * PHC strings use standard base64 without padding; crypto's constant-time codec is base64url. The two alphabets
 * differ only in '+' '/' against '-' '_': swap them (branch-free, the tag is a secret of sorts), and turn a '-' or
 * '_' in a PHC string into a character both refuse.
 */
static void std_to_url(const char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; ++i) {
        unsigned c = (unsigned char)in[i];
        out[i] = (char)(c ^ (byte_eq(c, '+') * ('+' ^ '-')) ^ (byte_eq(c, '/') * ('/' ^ '_')) ^ (byte_eq(c, '-') * ('-' ^ '!')) ^
                        (byte_eq(c, '_') * ('_' ^ '!')));
    }
}

static void url_to_std(char *s, size_t len)
{
    for (size_t i = 0; i < len; ++i) {
        unsigned c = (unsigned char)s[i];
        s[i] = (char)(c ^ (byte_eq(c, '-') * ('-' ^ '+')) ^ (byte_eq(c, '_') * ('_' ^ '/')));
    }
}

/** Decodes one base64 field of a PHC string (at most PHC_FIELD_MAX bytes) into `out` (PHC_FIELD_BUF bytes); returns its
 * length, or -1. */
static ssize_t decode_field(const char *in, size_t len, uint8_t *out)
{
    char url[AS_B64URL_ENCLEN(PHC_FIELD_MAX)];
    ssize_t n;

    if (len == 0 || len > sizeof(url))
        return -1;
    std_to_url(in, len, url);
    n = as_b64url_decode(url, len, out);
    as_wipe(url, len);
    return n;
}

int as_pwhash(const char *pw, size_t len, char out[AS_PWHASH_MAX])
{
    uint8_t salt[SALT_LEN], tag[HASH_LEN];
    argon2_context ctx;
    int n, ret = -1;

    if (pw == NULL || len == 0 || len > AS_PASSWORD_MAX)
        return -1;
    /* the PHC string libargon2's argon2id_hash_encoded writes: salt and tag in base64 without padding */
    n = snprintf(out, AS_PWHASH_MAX, PHC_PREFIX "m=%u,t=%u,p=%u$", AS_ARGON2_M_COST_KIB, AS_ARGON2_T_COST, AS_ARGON2_PARALLELISM);
    if (n < 0 || (size_t)n + AS_B64URL_ENCLEN(SALT_LEN) + 1 + AS_B64URL_ENCLEN(HASH_LEN) + 1 > AS_PWHASH_MAX)
        return -1;
    as_random_bytes(salt, sizeof(salt));
    init_ctx(&ctx, pw, len, salt, sizeof(salt), tag, sizeof(tag), AS_ARGON2_M_COST_KIB, AS_ARGON2_T_COST, AS_ARGON2_PARALLELISM);
    if (argon2_ctx(&ctx, Argon2_id) != ARGON2_OK)
        goto Exit;
    n += (int)as_b64url_encode(salt, sizeof(salt), out + n);
    out[n++] = '$';
    n += (int)as_b64url_encode(tag, sizeof(tag), out + n);
    url_to_std(out, (size_t)n);
    ret = 0;
Exit:
    as_wipe(tag, sizeof(tag));
    return ret;
}

/** Parses a decimal of at most 9 digits (no sign, no leading zero) at *p, then expects `term`. */
static int parse_u32(const char **p, char term, uint32_t *out)
{
    const char *s = *p;
    uint32_t v = 0;
    int digits = 0;

    if (*s == '0' && s[1] != term)
        return -1;
    for (; *s >= '0' && *s <= '9'; ++s) {
        if (++digits > 9)
            return -1;
        v = v * 10 + (uint32_t)(*s - '0');
    }
    if (digits == 0 || *s != term)
        return -1;
    *p = s + 1;
    *out = v;
    return 0;
}

int as_pwhash_verify(const char *phc, const char *pw, size_t len)
{
    const char *p, *dollar;
    uint32_t m, t, par;
    uint8_t salt[PHC_FIELD_BUF], tag[PHC_FIELD_BUF], computed[PHC_FIELD_BUF];
    ssize_t salt_len, tag_len;
    argon2_context ctx;
    int ret = -1;

    if (phc == NULL || pw == NULL || len == 0 || len > AS_PASSWORD_MAX)
        return -1;
    /* argon2id only (argon2i and argon2d are refused even when the password would match), version 1.3 only */
    if (strnlen(phc, VERIFY_PHC_MAX + 1) > VERIFY_PHC_MAX || strncmp(phc, PHC_PREFIX, sizeof(PHC_PREFIX) - 1) != 0)
        return -1;
    p = phc + sizeof(PHC_PREFIX) - 1;
    if (strncmp(p, "m=", 2) != 0 || (p += 2, parse_u32(&p, ',', &m)) != 0)
        return -1;
    if (strncmp(p, "t=", 2) != 0 || (p += 2, parse_u32(&p, ',', &t)) != 0)
        return -1;
    if (strncmp(p, "p=", 2) != 0 || (p += 2, parse_u32(&p, '$', &par)) != 0)
        return -1;
    if (m > VERIFY_M_COST_MAX || t > VERIFY_T_COST_MAX || par > VERIFY_PARALLELISM_MAX)
        return -1;
    /* salt$tag, each 8 (salt) or 4 (tag) to PHC_FIELD_MAX bytes, decoded strictly (one encoding per byte string) */
    if ((dollar = strchr(p, '$')) == NULL)
        return -1;
    if ((salt_len = decode_field(p, (size_t)(dollar - p), salt)) < (ssize_t)ARGON2_MIN_SALT_LENGTH)
        goto Exit;
    if ((tag_len = decode_field(dollar + 1, strlen(dollar + 1), tag)) < (ssize_t)ARGON2_MIN_OUTLEN)
        goto Exit;
    /* libargon2 refuses costs below its minimums and compares the tags in constant time */
    init_ctx(&ctx, pw, len, salt, (size_t)salt_len, computed, (size_t)tag_len, m, t, par);
    ret = argon2_verify_ctx(&ctx, (const char *)tag, Argon2_id) == ARGON2_OK ? 0 : -1;
Exit:
    as_wipe(tag, sizeof(tag));
    as_wipe(computed, sizeof(computed));
    return ret;
}
