/*
 * policy/policy — the password policy and the NFKC normal form (interface in policy.h). Owns the blocklist:
 * a sorted array of normalised, case-folded entries built at start and only read afterwards (bsearch, no lock).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unistr.h>
#include <uninorm.h>
#include "authsvc/as.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/policy/policy.h"

/* a line of the blocklist longer than this is not a password anybody types: skipped */
#define LINE_MAX_BYTES 256

typedef struct st_entry_t {
    char *s;
    size_t len;
} entry_t;

struct st_as_policy_t {
    size_t min_length;
    char too_short[80]; /* the reason given for a short password, with the minimum in it */
    entry_t *entries;
    size_t num_entries, capacity;
    int sorted;
};

/** Copies a libunistring result (in `buf` or malloc'd) to `out`; wipes and frees a malloc'd one. */
static int take_result(uint8_t *res, uint8_t *buf, size_t reslen, char *out, size_t outsize, size_t *outlen)
{
    int ret = 0;
    if (reslen > outsize) {
        ret = AS_ERR_TOO_LARGE;
    } else {
        memmove(out, res, reslen);
        *outlen = reslen;
    }
    if (res != buf) {
        as_wipe(res, reslen);
        free(res);
    }
    return ret;
}

int as_policy_normalize(const char *pw, size_t len, char *out, size_t outsize, size_t *outlen)
{
    uint8_t buf[AS_POLICY_MAX_BYTES], *res;
    size_t reslen = sizeof(buf);
    int ret;

    if (memchr(pw, '\0', len) != NULL || u8_check((const uint8_t *)pw, len) != NULL)
        return AS_ERR_BAD_INPUT;
    if ((res = u8_normalize(UNINORM_NFKC, (const uint8_t *)pw, len, buf, &reslen)) == NULL)
        return errno == ENOMEM ? AS_ERR_INTERNAL : AS_ERR_BAD_INPUT;
    ret = take_result(res, buf, reslen, out, outsize, outlen);
    as_wipe(buf, sizeof(buf));
    return ret;
}

/** The blocklist's key of a normalised password: its case fold (NFKC again, as case folding may denormalise). */
static int fold(const char *norm, size_t len, char *out, size_t outsize, size_t *outlen)
{
    uint8_t buf[AS_POLICY_MAX_BYTES], *res;
    size_t reslen = sizeof(buf);
    int ret;

    if ((res = u8_casefold((const uint8_t *)norm, len, NULL, UNINORM_NFKC, buf, &reslen)) == NULL)
        return AS_ERR_BAD_INPUT;
    ret = take_result(res, buf, reslen, out, outsize, outlen);
    as_wipe(buf, sizeof(buf));
    return ret;
}

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

as_policy_t *as_policy_create_empty(size_t min_length)
{
    as_policy_t *p = as_calloc(1, sizeof(*p));
    p->min_length = min_length;
    snprintf(p->too_short, sizeof(p->too_short), "the new password must have at least %zu characters", min_length);
    p->sorted = 1;
    return p;
}

void as_policy_block(as_policy_t *p, const char *word, size_t len)
{
    char norm[AS_POLICY_MAX_BYTES], key[AS_POLICY_MAX_BYTES];
    size_t normlen, keylen;

    if (as_policy_normalize(word, len, norm, sizeof(norm), &normlen) != 0 || fold(norm, normlen, key, sizeof(key), &keylen) != 0 ||
        keylen == 0)
        return;
    if (p->num_entries == p->capacity) {
        p->capacity = p->capacity == 0 ? 1024 : p->capacity * 2;
        entry_t *grown = realloc(p->entries, p->capacity * sizeof(*grown));
        if (grown == NULL)
            abort();
        p->entries = grown;
    }
    p->entries[p->num_entries].s = as_malloc(keylen);
    memcpy(p->entries[p->num_entries].s, key, keylen);
    p->entries[p->num_entries].len = keylen;
    ++p->num_entries;
    p->sorted = 0;
}

/** Sorts the entries and drops duplicates (once, before the policy is shared). */
static void seal(as_policy_t *p)
{
    size_t w = 0;
    if (p->sorted)
        return;
    qsort(p->entries, p->num_entries, sizeof(*p->entries), entry_cmp);
    for (size_t r = 0; r != p->num_entries; ++r) {
        if (w != 0 && entry_cmp(&p->entries[w - 1], &p->entries[r]) == 0) {
            free(p->entries[r].s);
            continue;
        }
        p->entries[w++] = p->entries[r];
    }
    p->num_entries = w;
    p->sorted = 1;
}

int as_policy_create(const char *path, size_t min_length, as_policy_t **out)
{
    char line[LINE_MAX_BYTES + 2];
    as_policy_t *p;
    FILE *fp;

    if (min_length < 1 || min_length > AS_POLICY_MAX_BYTES)
        return AS_ERR_BAD_INPUT;
    if ((fp = fopen(path, "r")) == NULL) {
        as_error("cannot read the password blocklist %s: %s", path, strerror(errno));
        return AS_ERR_IO;
    }
    p = as_policy_create_empty(min_length);
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t len = strlen(line);
        if (len != 0 && line[len - 1] != '\n' && !feof(fp)) {
            int c; /* an over-long line: skip the rest of it */
            while ((c = fgetc(fp)) != EOF && c != '\n')
                ;
            continue;
        }
        while (len != 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            --len;
        if (len == 0 || strncmp(line, "#!comment:", 10) == 0)
            continue;
        as_policy_block(p, line, len);
    }
    if (ferror(fp)) {
        as_error("cannot read the password blocklist %s", path);
        fclose(fp);
        as_policy_dispose(p);
        return AS_ERR_IO;
    }
    fclose(fp);
    seal(p);
    *out = p;
    return 0;
}

void as_policy_dispose(as_policy_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i != p->num_entries; ++i)
        free(p->entries[i].s);
    free(p->entries);
    free(p);
}

size_t as_policy_min_length(const as_policy_t *p)
{
    return p->min_length;
}

size_t as_policy_blocklist_size(const as_policy_t *p)
{
    seal((as_policy_t *)p); /* a no-op once created by as_policy_create; tests may add entries first */
    return p->num_entries;
}

int as_policy_check(const as_policy_t *p, const char *pw, size_t len, const char **why)
{
    char norm[AS_POLICY_MAX_BYTES], key[AS_POLICY_MAX_BYTES];
    size_t normlen = 0, keylen = 0;
    int ret = AS_ERR_BAD_INPUT;

    if (len > AS_POLICY_MAX_BYTES) {
        *why = "the new password is longer than 1024 bytes";
        goto Exit;
    }
    switch (as_policy_normalize(pw, len, norm, sizeof(norm), &normlen)) {
    case 0:
        break;
    case AS_ERR_TOO_LARGE:
        *why = "the new password is longer than 1024 bytes once normalised (NFKC)";
        goto Exit;
    default:
        *why = "the new password is not valid UTF-8 text";
        goto Exit;
    }
    if (u8_mbsnlen((const uint8_t *)norm, normlen) < p->min_length) {
        *why = p->too_short;
        goto Exit;
    }
    if (fold(norm, normlen, key, sizeof(key), &keylen) != 0) {
        *why = "the new password is longer than 1024 bytes once normalised (NFKC)";
        goto Exit;
    }
    if (p->num_entries != 0) {
        entry_t k = {key, keylen};
        if (!p->sorted)
            seal((as_policy_t *)p);
        if (bsearch(&k, p->entries, p->num_entries, sizeof(*p->entries), entry_cmp) != NULL) {
            *why = "the new password is in a list of commonly used passwords";
            goto Exit;
        }
    }
    ret = 0;
Exit:
    as_wipe(norm, sizeof(norm));
    as_wipe(key, sizeof(key));
    return ret;
}
