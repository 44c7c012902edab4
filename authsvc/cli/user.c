/*
 * authsvc user add|passwd|revoke|disable|enable|remove|list — user
 * administration: reads (on a terminal, asks twice without echo) and hashes the
 * password, calls store/admin, and says what happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"
#include "authsvc/cli/paths.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/policy/policy.h"

static const char usage_user[] = "usage: authsvc user add USERNAME [--db CONNINFO] [--password-min-length N]\n"
                                 "       authsvc user passwd USERNAME [--db CONNINFO] [--password-min-length N]\n"
                                 "       authsvc user revoke USERNAME [--db CONNINFO]  (end every session of the user)\n"
                                 "       authsvc user disable USERNAME [--db CONNINFO] (revoke, and refuse new logins)\n"
                                 "       authsvc user enable USERNAME [--db CONNINFO]  (allow logins again)\n"
                                 "       authsvc user remove USERNAME [--db CONNINFO]  (revoke everything, then delete)\n"
                                 "       authsvc user list [--db CONNINFO]             (username, id, disabled, created)\n"
                                 "add and passwd ask for the password twice, without echo, when standard input is\n"
                                 "a terminal; otherwise they read it as one line of standard input (scripts).\n"
                                 "passwd, revoke and disable increment the user's token_version and revoke every\n"
                                 "refresh token the user holds, in one transaction; the revocation feed tells\n"
                                 "offline verifiers to refuse the user's older access tokens.\n"
                                 "remove does the same and, in that transaction, deletes the user (sessions,\n"
                                 "consents and codes with it) and records a user_remove audit event; the\n"
                                 "username becomes free, and a new user of that name gets a new id, so no old\n"
                                 "token is ever theirs. To keep the account and its history, use disable.\n"
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

/** Checks a password line of `n` bytes in `buf` (the newline already removed); 0 or -1 after saying why. */
static int check_line(const char *buf, size_t n, size_t size, size_t *len)
{
    if (n == size) {
        fprintf(stderr, "authsvc: the password is longer than %d bytes\n", AS_PASSWORD_MAX);
        return -1;
    }
    if (n > 0 && buf[n - 1] == '\r')
        --n;
    if (n == 0) {
        fprintf(stderr, "authsvc: empty password\n");
        return -1;
    }
    if (memchr(buf, '\0', n) != NULL || memchr(buf, '\n', n) != NULL) {
        fprintf(stderr, "authsvc: the password must be a single line\n");
        return -1;
    }
    *len = n;
    return 0;
}

/** Reads a password from standard input (not a terminal): one line, the trailing newline removed. */
static int read_password_stdin(char *buf, size_t size, size_t *len)
{
    size_t n = fread(buf, 1, size, stdin);
    if (n > 0 && n < size && buf[n - 1] == '\n')
        --n;
    if (n == 0) {
        fprintf(stderr, "authsvc: empty password (give it on standard input)\n");
        return -1;
    }
    return check_line(buf, n, size, len);
}

/* the terminal's settings while echo is off, restored by on_signal if the user interrupts */
static int tty_fd = -1;
static struct termios tty_saved;

static void on_signal(int sig)
{
    tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

/** Prompts on the terminal `fd` and reads one line with echo off; 0, or -1 (end of input or an error). */
static int prompt_line(int fd, const char *prompt, char *buf, size_t size, size_t *n)
{
    ssize_t r = 0;
    if (write(fd, prompt, strlen(prompt)) < 0)
        return -1;
    for (*n = 0; *n != size; ++*n) {
        while ((r = read(fd, buf + *n, 1)) < 0 && errno == EINTR)
            ;
        if (r <= 0 || buf[*n] == '\n')
            break;
    }
    if (write(fd, "\n", 1) < 0) /* the newline the user typed was not echoed */
        return -1;
    return r < 0 || (r == 0 && *n == 0) ? -1 : 0;
}

/**
 * Asks for the password on the terminal (/dev/tty, else standard input), twice, with echo off, as passwd(1)
 * does; refuses two different answers. The terminal's settings are restored, also on Ctrl-C.
 */
static int read_password_tty(char *buf, size_t size, size_t *len)
{
    char again[AS_PASSWORD_MAX + 1];
    struct termios quiet;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
    size_t n, m, againlen;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY), ret = -1;

    if (fd < 0)
        fd = dup(STDIN_FILENO);
    if (fd < 0 || tcgetattr(fd, &tty_saved) != 0) {
        fprintf(stderr, "authsvc: cannot use the terminal: %s\n", strerror(errno));
        goto Exit;
    }
    tty_fd = fd;
    quiet = tty_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    quiet.c_lflag |= ICANON;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        fprintf(stderr, "authsvc: cannot turn the terminal's echo off: %s\n", strerror(errno));
        goto Restore;
    }
    if (prompt_line(fd, "Password: ", buf, size, &n) != 0) {
        fprintf(stderr, "authsvc: no password given\n");
        goto Restore;
    }
    if (check_line(buf, n, size, len) != 0)
        goto Restore;
    if (prompt_line(fd, "Again: ", again, sizeof(again), &m) != 0 || check_line(again, m, sizeof(again), &againlen) != 0 ||
        againlen != *len || as_memeq(buf, again, *len) != 0) {
        fprintf(stderr, "authsvc: the passwords do not match; nothing changed\n");
        goto Restore;
    }
    ret = 0;
Restore:
    tcsetattr(fd, TCSAFLUSH, &tty_saved);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
Exit:
    as_wipe(again, sizeof(again));
    if (fd >= 0)
        close(fd);
    tty_fd = -1;
    return ret;
}

/** The new password: asked on a terminal, else one line of standard input. */
static int read_password(char *buf, size_t size, size_t *len)
{
    return isatty(STDIN_FILENO) ? read_password_tty(buf, size, len) : read_password_stdin(buf, size, len);
}

/** `user list`: one line a user, the usernames aligned; never the password hash. */
static int user_list(const char *conninfo)
{
    as_admin_user_info_t *users = NULL;
    size_t num = 0;
    int width = 8, err;
    as_admin_t *db = as_cli_db_open(conninfo);

    if (db == NULL)
        return 1;
    if ((err = as_admin_user_list(db, &users, &num)) != 0) {
        as_cli_db_error(db);
    } else {
        for (size_t i = 0; i != num; ++i)
            if (strlen(users[i].username) > (size_t)width)
                width = strlen(users[i].username) > 64 ? 64 : (int)strlen(users[i].username);
        printf("%-*s  %-36s  %-8s  %s\n", width, "USERNAME", "ID", "DISABLED", "CREATED");
        for (size_t i = 0; i != num; ++i) {
            const as_admin_user_info_t *u = users + i;
            int pad = width - (int)strlen(u->username);
            as_cli_print_safe(stdout, u->username);
            printf("%*s  %-36s  %-8s  %s\n", pad > 0 ? pad : 0, "", u->id, u->disabled ? "yes" : "no", u->created_at);
        }
    }
    as_admin_user_infos_free(users, num);
    as_admin_close(db);
    return err == 0 ? 0 : 1;
}

/** `user remove`: revokes, deletes, audits, in one transaction. */
static int user_remove(const char *conninfo, const char *username)
{
    char id[AS_ADMIN_UUID_SIZE];
    int err;
    as_admin_t *db = as_cli_db_open(conninfo);

    if (db == NULL)
        return 1;
    if ((err = as_admin_user_remove(db, username, id)) == 0)
        printf("user %s removed (id %s); every token of it is revoked\n", username, id);
    else
        as_cli_db_failed(db, err, "user", "no user named ", username);
    as_admin_close(db);
    return err == 0 ? 0 : 1;
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
    if (argc - first >= 1 && strcmp(argv[first], "list") == 0)
        return argc - first == 1 ? user_list(args.conninfo) : as_cli_usage(usage_user, "%s", "expected: user list");
    if (argc - first != 2)
        return as_cli_usage(usage_user, "%s", "expected an action and a USERNAME (or user list)");
    action = argv[first];
    username = argv[first + 1];
    if (username[0] == '\0' || strlen(username) > 255)
        return as_cli_usage(usage_user, "%s", "the username must have 1 to 255 characters");
    if (strcmp(action, "revoke") == 0 || strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0)
        return user_revoke(args.conninfo, action, username);
    if (strcmp(action, "remove") == 0)
        return user_remove(args.conninfo, username);
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
