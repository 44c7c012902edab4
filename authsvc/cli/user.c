/*
 * authsvc user add|passwd|revoke|disable|enable — user administration: reads
 * and hashes the password, calls store/admin, and says what happened.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/crypto/crypto.h"

static const char usage_user[] = "usage: authsvc user add USERNAME [--db CONNINFO]     (password on standard input)\n"
                                 "       authsvc user passwd USERNAME [--db CONNINFO]  (new password on standard input)\n"
                                 "       authsvc user revoke USERNAME [--db CONNINFO]  (end every session of the user)\n"
                                 "       authsvc user disable USERNAME [--db CONNINFO] (revoke, and refuse new logins)\n"
                                 "       authsvc user enable USERNAME [--db CONNINFO]  (allow logins again)\n"
                                 "passwd, revoke and disable increment the user's token_version and revoke every\n"
                                 "refresh token the user holds, in one transaction; the revocation feed tells\n"
                                 "offline verifiers to refuse the user's older access tokens.\n";

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
    } else if (err == AS_ERR_NOT_FOUND) {
        fprintf(stderr, "authsvc: no user named %s\n", username);
    } else {
        as_cli_db_error(db);
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

int as_cli_user(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *conninfo = "", *action, *username;
    char pw[AS_PASSWORD_MAX + 1], phc[AS_PWHASH_MAX], id[AS_ADMIN_UUID_SIZE];
    size_t pwlen;
    as_admin_t *db = NULL;
    int64_t version;
    int c, err, ret = 1;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            conninfo = optarg;
            break;
        case 'h':
            fputs(usage_user, stdout);
            return 0;
        default:
            return as_cli_usage(usage_user, "%s", "invalid option");
        }
    }
    if (argc - optind != 2)
        return as_cli_usage(usage_user, "%s", "expected an action and a USERNAME");
    action = argv[optind];
    username = argv[optind + 1];
    if (username[0] == '\0' || strlen(username) > 255)
        return as_cli_usage(usage_user, "%s", "the username must have 1 to 255 characters");
    if (strcmp(action, "revoke") == 0 || strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0)
        return user_revoke(conninfo, action, username);
    if (strcmp(action, "add") != 0 && strcmp(action, "passwd") != 0)
        return as_cli_usage(usage_user, "unknown action: %s", action);
    if (read_password(pw, sizeof(pw), &pwlen) != 0)
        return 1;
    if (as_pwhash(pw, pwlen, phc) != 0) {
        fprintf(stderr, "authsvc: cannot hash the password\n");
        goto Exit;
    }
    if ((db = as_cli_db_open(conninfo)) == NULL)
        goto Exit;
    if (strcmp(action, "add") == 0)
        err = as_admin_user_add(db, username, phc, id);
    else /* one statement, so one transaction: new hash, new version, every family revoked, feed and audit entries */
        err = as_admin_user_passwd(db, username, phc, &version);
    switch (err) {
    case 0:
        if (strcmp(action, "add") == 0)
            printf("user %s added (id %s)\n", username, id);
        else
            printf("password of %s changed; every token issued before is revoked (token_version %lld)\n", username,
                   (long long)version);
        ret = 0;
        break;
    case AS_ERR_CONFLICT:
        fprintf(stderr, "authsvc: user %s already exists\n", username);
        break;
    case AS_ERR_NOT_FOUND:
        fprintf(stderr, "authsvc: no user named %s\n", username);
        break;
    default:
        as_cli_db_error(db);
        break;
    }
Exit:
    as_wipe(pw, sizeof(pw));
    as_admin_close(db);
    return ret;
}
