/*
 * authsvc keys generate|rotate|list|retire|prune — the signing-key lifecycle
 * (keys/README.md). Every command only writes files; running servers pick the
 * change up on SIGHUP or at their next periodic re-read.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"
#include "authsvc/keys/keyset.h"

#define MAX_KEYS 64

static const char usage_keys[] =
    "usage: authsvc keys generate [--alg ES256|EdDSA|RS256] [--keys DIR]\n"
    "       authsvc keys rotate   [--alg ALG] [--keys DIR] [--publish-lead SECONDS] [--token-ttl SECONDS]\n"
    "       authsvc keys list     [--keys DIR]\n"
    "       authsvc keys retire KID [--keys DIR] [--token-ttl SECONDS]\n"
    "       authsvc keys prune    [--keys DIR]\n"
    "\n"
    "  generate  a key that signs at once (a new directory, or an emergency)\n"
    "  rotate    a key published now that starts signing --publish-lead seconds later (default 600:\n"
    "            twice the JWKS max-age, so every verifier has it first); the keys signing now retire\n"
    "            then, and stay published for --token-ttl seconds more (default 86400: the longest\n"
    "            access-token lifetime), until every token they signed has expired\n"
    "  list      every key with its state and times, and any file the server would refuse\n"
    "  retire    stop a key signing now (another key must be able to sign) and unpublish it after\n"
    "            --token-ttl seconds\n"
    "  prune     delete the keys that have left the JWKS\n";

typedef struct st_dir_entry_t {
    char kid[AS_KID_LEN + 1];
    as_keymeta_t meta;
    int ok;
    char err[512];
} dir_entry_t;

/**
 * Says which directory could not be read (made absolute when it was given relative, since the default "keys" is
 * relative to the current directory) and how to name another one.
 */
static void key_dir_error(const char *dir, int err)
{
    char cwd[4096];
    fprintf(stderr, "authsvc: cannot read the key directory %s", dir);
    if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
        fprintf(stderr, " (%s/%s)", strcmp(cwd, "/") == 0 ? "" : cwd, dir);
    fprintf(stderr, ": %s\nauthsvc: give the key directory with --keys DIR (the default, keys, is relative to the current "
                    "directory)\n",
            strerror(err));
}

/** Reads every key of `dir` (loading each private key, to report what the server would refuse). */
static int scan(const char *dir, dir_entry_t *entries, size_t *num)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    *num = 0;
    if (d == NULL) {
        key_dir_error(dir, errno);
        return -1;
    }
    while ((de = readdir(d)) != NULL && *num < MAX_KEYS) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".pem") != 0)
            continue;
        dir_entry_t *e = entries + (*num)++;
        memset(e, 0, sizeof(*e));
        if (len - 4 != AS_KID_LEN) {
            snprintf(e->kid, sizeof(e->kid), "%.43s", de->d_name);
            snprintf(e->err, sizeof(e->err), "%s/%s: not named after its key thumbprint", dir, de->d_name);
            continue;
        }
        memcpy(e->kid, de->d_name, AS_KID_LEN);
        as_key_t *key;
        if (as_keys_load_one(dir, e->kid, &e->meta, &key, e->err, sizeof(e->err)) == 0) {
            e->ok = 1;
            as_key_release(key);
        }
    }
    closedir(d);
    return 0;
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    if (t == 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmd_list(const char *dir, int64_t now)
{
    dir_entry_t entries[MAX_KEYS];
    size_t num;
    int problems = 0;
    if (scan(dir, entries, &num) != 0)
        return 1;
    printf("%-43s  %-5s  %-8s  %-20s  %-20s  %-20s  %s\n", "KID", "ALG", "STATE", "PUBLISHED", "ACTIVE", "RETIRED", "UNPUBLISHED");
    for (size_t i = 0; i != num; ++i) {
        dir_entry_t *e = entries + i;
        if (!e->ok) {
            printf("%-43s  %-5s  %-8s  %s\n", e->kid, "?", "BROKEN", e->err);
            ++problems;
            continue;
        }
        char p[32], a[32], r[32], u[32];
        fmt_time(e->meta.published_at, p, sizeof(p));
        fmt_time(e->meta.active_at, a, sizeof(a));
        fmt_time(e->meta.retired_at, r, sizeof(r));
        fmt_time(e->meta.unpublish_at, u, sizeof(u));
        printf("%-43s  %-5s  %-8s  %-20s  %-20s  %-20s  %s\n", e->kid, as_alg_name(e->meta.alg),
               as_key_state_name(as_keymeta_state(&e->meta, now)), p, a, r, u);
    }
    as_keyset_t *ks;
    char err[512];
    if (as_keyset_load(dir, now, &ks, err, sizeof(err)) == 0) {
        printf("signing with %s; %zu key(s) published\n", ks->entries[ks->active].kid, ks->num_entries);
        as_keyset_release(ks);
    } else {
        printf("the server would refuse this directory: %s\n", err);
        ++problems;
    }
    return problems == 0 ? 0 : 1;
}

/** Schedules the retirement of every key that signs now or will (other than `except`) at `at`. */
static int retire_signers(const char *dir, dir_entry_t *entries, size_t num, const char *except, int64_t at, int64_t token_ttl)
{
    for (size_t i = 0; i != num; ++i) {
        dir_entry_t *e = entries + i;
        char err[512];
        if (!e->ok || (except != NULL && strcmp(e->kid, except) == 0))
            continue;
        if (e->meta.retired_at != 0 && e->meta.retired_at <= at)
            continue; /* retires earlier already */
        e->meta.retired_at = at < e->meta.active_at ? e->meta.active_at : at;
        e->meta.unpublish_at = e->meta.retired_at + token_ttl;
        if (as_keymeta_write(dir, &e->meta, err, sizeof(err)) != 0) {
            fprintf(stderr, "authsvc: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/** What the command line gives. */
typedef struct st_keys_args_t {
    const char *dir;
    as_alg_t alg;
    long lead, token_ttl;
} keys_args_t;

static int opt_alg(void *settings, const char *value, char *err, size_t errlen)
{
    if (as_alg_parse(value, &((keys_args_t *)settings)->alg) != 0)
        return snprintf(err, errlen, "unsupported algorithm: %s", value), -1;
    return 0;
}

static const as_opt_t keys_opts[] = {
    {.name = "alg", .type = AS_OPT_FN, .fn = opt_alg},
    {.name = "keys", AS_OPT_AT_STRING(keys_args_t, dir)},
    {.name = "publish-lead", AS_OPT_AT_INT(keys_args_t, lead), .min = 0, .max = 30 * 86400},
    {.name = "token-ttl", AS_OPT_AT_INT(keys_args_t, token_ttl), .min = 1, .max = 30 * 86400},
};

int as_cli_keys(int argc, char **argv)
{
    keys_args_t args = {.dir = "keys", .alg = AS_ALG_ES256, .lead = 600, .token_ttl = 86400};
    const char *action;
    char kid[AS_KID_LEN + 1], err[512];
    int64_t now = (int64_t)time(NULL);
    int first, ret;

    if ((ret = as_opt_parse_argv(keys_opts, sizeof(keys_opts) / sizeof(keys_opts[0]), usage_keys, argc, argv, &args, NULL,
                                 &first)) != -1)
        return ret;
    const char *dir = args.dir;
    as_alg_t alg = args.alg;
    long lead = args.lead, token_ttl = args.token_ttl;
    if (first == argc)
        return as_cli_usage(usage_keys, "%s", "expected an action");
    action = argv[first];

    if (strcmp(action, "generate") == 0 && first + 1 == argc) {
        if (as_keys_generate(dir, alg, now, now, kid, err, sizeof(err)) != 0) {
            fprintf(stderr, "authsvc: %s\n", err);
            return 1;
        }
        printf("generated %s key %s in %s (signing now)\n", as_alg_name(alg), kid, dir);
        return 0;
    }
    if (strcmp(action, "list") == 0 && first + 1 == argc)
        return cmd_list(dir, now);

    dir_entry_t entries[MAX_KEYS];
    size_t num;
    if (strcmp(action, "rotate") == 0 && first + 1 == argc) {
        if (scan(dir, entries, &num) != 0)
            return 1;
        if (as_keys_generate(dir, alg, now, now + lead, kid, err, sizeof(err)) != 0) {
            fprintf(stderr, "authsvc: %s\n", err);
            return 1;
        }
        if (retire_signers(dir, entries, num, kid, now + lead, token_ttl) != 0)
            return 1;
        char a[32];
        fmt_time(now + lead, a, sizeof(a));
        printf("generated %s key %s in %s: published now, signing from %s; the previous keys retire then\n", as_alg_name(alg), kid,
               dir, a);
        return 0;
    }
    if (strcmp(action, "retire") == 0 && first + 2 == argc) {
        const char *target = argv[first + 1];
        as_keyset_t *ks;
        if (scan(dir, entries, &num) != 0)
            return 1;
        for (size_t i = 0; i != num; ++i) {
            if (strcmp(entries[i].kid, target) != 0)
                continue;
            if (!entries[i].ok) {
                fprintf(stderr, "authsvc: %s\n", entries[i].err);
                return 1;
            }
            as_keymeta_t saved = entries[i].meta;
            entries[i].meta.retired_at = now < saved.active_at ? saved.active_at : now;
            entries[i].meta.unpublish_at = entries[i].meta.retired_at + token_ttl;
            if (as_keymeta_write(dir, &entries[i].meta, err, sizeof(err)) != 0) {
                fprintf(stderr, "authsvc: %s\n", err);
                return 1;
            }
            /* never leave the service without a signing key */
            if (as_keyset_load(dir, now, &ks, err, sizeof(err)) != 0) {
                as_keymeta_write(dir, &saved, err, sizeof(err));
                fprintf(stderr, "authsvc: refusing to retire %s: no other key could sign (rotate first)\n", target);
                return 1;
            }
            as_keyset_release(ks);
            printf("key %s retired; it leaves the JWKS in %ld seconds\n", target, token_ttl);
            return 0;
        }
        fprintf(stderr, "authsvc: no key %s in %s\n", target, dir);
        return 1;
    }
    if (strcmp(action, "prune") == 0 && first + 1 == argc) {
        size_t pruned = 0;
        if (scan(dir, entries, &num) != 0)
            return 1;
        for (size_t i = 0; i != num; ++i) {
            char path[4096];
            if (!entries[i].ok || as_keymeta_state(&entries[i].meta, now) != AS_KEY_EXPIRED)
                continue;
            snprintf(path, sizeof(path), "%s/%.43s.pem", dir, entries[i].kid);
            unlink(path);
            snprintf(path, sizeof(path), "%s/%.43s.json", dir, entries[i].kid);
            unlink(path);
            printf("pruned %s\n", entries[i].kid);
            ++pruned;
        }
        printf("%zu key(s) pruned\n", pruned);
        return 0;
    }
    return as_cli_usage(usage_keys, "unknown or incomplete action: %s", action);
}
