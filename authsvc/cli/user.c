/*
 * authsvc user add|passwd|revoke|disable|enable — user administration: reads
 * and hashes the password, calls store/admin, and says what happened.
 */
#include <stdio.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"
#include "authsvc/cli/paths.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/policy/policy.h"

static const char usage_user[] = "usage: authsvc user add USERNAME [--db CONNINFO] [--password-min-length N]\n"
                                 "                                         (password on standard input)\n"
                                 "       authsvc user passwd USERNAME [--db CONNINFO] [--password-min-length N]\n"
                                 "                                         (new password on standard input)\n"
                                 "       authsvc user revoke USERNAME [--db CONNINFO]  (end every session of the user)\n"
                                 "       authsvc user disable USERNAME [--db CONNINFO] (revoke, and refuse new logins)\n"
                                 "       authsvc user enable USERNAME [--db CONNINFO]  (allow logins again)\n"
                                 "passwd, revoke and disable increment the user's token_version and revoke every\n"
                                 "refresh token the user holds, in one transaction; the revocation feed tells\n"
                                 "offline verifiers to refuse the user's older access tokens.\n"
                                 "A new password must have at least 8 characters (--password-min-length, as for\n"
                                 "serve), at most 1024 bytes of UTF-8, and not be a common password; it is\n"
                                 "stored in its NFKC form.\n";

static int user_revoke(const char *conninfo, const char *action, const char *username)
{
    as_admin_t *db = as_cli_db_open(conninfo);
    int64_t version = 0;
    int err;

    if (db == NULL)
        return 1;
    if (strcmp(action, "enable") == 0)
        err = as_admin_user_enable(db, username);
    else if (strcmp(action, "disable") == 0)
        err = as_admin_user_disable(db, username, &version);
    else
        err = as_admin_user_revoke(db, username, &version);
    if (err == 0) {
        if (strcmp(action, "enable") == 0)
            printf("user %s enabled\n", username);
        else
            printf("every token of %s revoked (token_version %lld)%s\n", username, (long long)version,
                   strcmp(action, "disable") == 0 ? "; the user is disabled" : "");
    } else {
        as_cli_db_failed(db, err, "user", "no user named ", username);
    }
    as_admin_close(db);
    return err == 0 ? 0 : 1;
}

/** Reads a password from standard input: one line, the trailing newline removed. */
static int read_password(char *buf, size_t size, size_t *len)
{
    size_t n = fread(buf, 1, size, stdin);
    if (n == size) {
        fprintf(stderr, "authsvc: the password is longer than %d bytes\n", AS_PASSWORD_MAX);
        return -1;
    }
    if (n > 0 && buf[n - 1] == '\n')
        --n;
    if (n > 0 && buf[n - 1] == '\r')
        --n;
    if (n == 0) {
        fprintf(stderr, "authsvc: empty password (give it on standard input)\n");
        return -1;
    }
    if (memchr(buf, '\0', n) != NULL || memchr(buf, '\n', n) != NULL) {
        fprintf(stderr, "authsvc: the password must be a single line\n");
        return -1;
    }
    *len = n;
    return 0;
}

/** What the command line gives. */
typedef struct st_user_args_t {
    const char *conninfo;
    long min_length;
} user_args_t;

static const as_opt_t user_opts[] = {
    {.name = "db", AS_OPT_AT_STRING(user_args_t, conninfo)},
    {.name = "password-min-length", AS_OPT_AT_INT(user_args_t, min_length), .min = 1, .max = 256},
};

int as_cli_user(int argc, char **argv)
{
    user_args_t args = {.conninfo = "", .min_length = AS_POLICY_MIN_LENGTH_DEFAULT};
    const char *action, *username;
    char pw[AS_PASSWORD_MAX + 1], norm[AS_POLICY_MAX_BYTES], phc[AS_PWHASH_MAX], id[AS_ADMIN_UUID_SIZE], blocklist[4096];
    size_t pwlen, normlen;
    as_policy_t *policy = NULL;
    const char *why;
    as_admin_t *db = NULL;
    int64_t version;
    int first, err, ret = 1;

    if ((ret = as_opt_parse_argv(user_opts, sizeof(user_opts) / sizeof(user_opts[0]), usage_user, argc, argv, &args, NULL,
                                 &first)) != -1)
        return ret;
    ret = 1;
    if (argc - first != 2)
        return as_cli_usage(usage_user, "%s", "expected an action and a USERNAME");
    action = argv[first];
    username = argv[first + 1];
    if (username[0] == '\0' || strlen(username) > 255)
        return as_cli_usage(usage_user, "%s", "the username must have 1 to 255 characters");
    if (strcmp(action, "revoke") == 0 || strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0)
        return user_revoke(args.conninfo, action, username);
    if (strcmp(action, "add") != 0 && strcmp(action, "passwd") != 0)
        return as_cli_usage(usage_user, "unknown action: %s", action);
    if (as_cli_share_file(AS_POLICY_BLOCKLIST_NAME, blocklist, sizeof(blocklist)) != 0) {
        fprintf(stderr, "authsvc: cannot find %s beside the binary or in its share directory\n", AS_POLICY_BLOCKLIST_NAME);
        return 1;
    }
    if (as_policy_create(blocklist, (size_t)args.min_length, &policy) != 0)
        return 1;
    if (read_password(pw, sizeof(pw), &pwlen) != 0)
        goto Exit;
    /* the same policy as /account/password; the reason is told, never the password */
    if (as_policy_check(policy, pw, pwlen, &why) != 0) {
        fprintf(stderr, "authsvc: %s\n", why);
        goto Exit;
    }
    if (as_policy_normalize(pw, pwlen, norm, sizeof(norm), &normlen) != 0 || as_pwhash(norm, normlen, phc) != 0) {
        fprintf(stderr, "authsvc: cannot hash the password\n");
        goto Exit;
    }
    if ((db = as_cli_db_open(args.conninfo)) == NULL)
        goto Exit;
    if (strcmp(action, "add") == 0)
        err = as_admin_user_add(db, username, phc, id);
    else /* one statement, so one transaction: new hash, new version, every family revoked, feed and audit entries */
        err = as_admin_user_passwd(db, username, phc, &version);
    if (err != 0) {
        ret = as_cli_db_failed(db, err, "user", "no user named ", username);
    } else {
        if (strcmp(action, "add") == 0)
            printf("user %s added (id %s)\n", username, id);
        else
            printf("password of %s changed; every token issued before is revoked (token_version %lld)\n", username,
                   (long long)version);
        ret = 0;
    }
Exit:
    as_wipe(pw, sizeof(pw));
    as_wipe(norm, sizeof(norm));
    as_policy_dispose(policy);
    as_admin_close(db);
    return ret;
}
