/*
 * Password hashing: argon2id in PHC string form (libargon2).
 *
 * A stored hash is not trusted to be ours: its costs are read and bounded
 * before libargon2 sees it, because argon2id_verify() allocates m KiB and runs
 * p threads for t passes exactly as the string says. See README.md.
 */
#include <stdint.h>
#include <string.h>
#include <argon2.h>
#include "authsvc/crypto/crypto.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PHC_PREFIX "$argon2id$v=19$"

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

int as_pwhash(const char *pw, size_t len, char out[AS_PWHASH_MAX])
{
    uint8_t salt[SALT_LEN];

    if (pw == NULL || len == 0 || len > AS_PASSWORD_MAX)
        return -1;
    if (argon2_encodedlen(AS_ARGON2_T_COST, AS_ARGON2_M_COST_KIB, AS_ARGON2_PARALLELISM, SALT_LEN, HASH_LEN, Argon2_id) >
        AS_PWHASH_MAX)
        return -1;
    as_random_bytes(salt, sizeof(salt));
    if (argon2id_hash_encoded(AS_ARGON2_T_COST, AS_ARGON2_M_COST_KIB, AS_ARGON2_PARALLELISM, pw, len, salt, sizeof(salt), HASH_LEN,
                              out, AS_PWHASH_MAX) != ARGON2_OK)
        return -1;
    return 0;
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
    const char *p;
    uint32_t m, t, par;

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
    /* libargon2 parses the string again (and refuses costs below its minimums) and compares the tags in constant time */
    return argon2id_verify(phc, pw, len) == ARGON2_OK ? 0 : -1;
}
