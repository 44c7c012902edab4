/*
 * authsvc — the one binary: the command table and dispatch, the usage, and the
 * helpers every command shares. Each command lives in its own file of cli/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/verify/cli_verify.h"

static const char usage_main[] =
    "usage: authsvc COMMAND [OPTIONS]\n"
    "       authsvc --version | --help\n"
    "\n"
    "commands:\n"
    "  serve                    run the token service\n"
    "  migrate                  apply pending database migrations\n"
    "  user add USERNAME        create a user (asks for the password on a terminal, else reads a line)\n"
    "  user passwd USERNAME     set a user's password (as for add); revokes all their tokens\n"
    "  user revoke USERNAME     end every session and refresh token of the user\n"
    "  user disable USERNAME    revoke, and refuse the user's logins\n"
    "  user enable USERNAME     allow a disabled user's logins again\n"
    "  user remove USERNAME     revoke everything of the user and delete them\n"
    "  user list                the users: username, id, disabled, created\n"
    "  client add CLIENT_ID     register a client; prints its secret last\n"
    "  client list              the registered clients\n"
    "  client show CLIENT_ID    one client's settings (never its secret)\n"
    "  client remove CLIENT_ID  delete a client with its refresh tokens, codes and consents\n"
    "  client rotate-secret CLIENT_ID   a new secret, printed once; the old one stops working\n"
    "  keys generate|rotate|list|retire|prune   the signing-key lifecycle (--keys DIR, default ./keys)\n"
    "  verify TOKEN             check an access token offline, as a resource server does\n"
    "  routes                   print the HTTP routes (METHOD PATH)\n"
    "\n"
    "Every command takes --help. The database is found through libpq's environment\n"
    "(PGHOST, PGPORT, PGUSER, PGDATABASE, ...) or --db CONNINFO; in a checkout,\n"
    "eval \"$(deploy/run env)\" sets them for the development database.\n";

/** "authsvc: MSG" on standard error; libpq's messages end with a newline already, ours do not. */
static void print_error(const char *msg)
{
    size_t len = strlen(msg);
    fprintf(stderr, "authsvc: %s%s", msg, len != 0 && msg[len - 1] == '\n' ? "" : "\n");
}

as_admin_t *as_cli_db_open(const char *conninfo)
{
    as_admin_t *db;
    char msg[4096];
    if (as_admin_connect(conninfo, &db, msg, sizeof(msg)) != 0) {
        print_error(msg);
        return NULL;
    }
    return db;
}

void as_cli_db_error(const as_admin_t *db)
{
    print_error(as_admin_error(db));
}

void as_cli_print_safe(FILE *out, const char *s)
{
    for (; *s != '\0'; ++s)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

int as_cli_db_failed(const as_admin_t *db, int err, const char *noun, const char *not_found, const char *name)
{
    if (err == AS_ERR_CONFLICT || err == AS_ERR_NOT_FOUND) {
        fputs("authsvc: ", stderr);
        if (err == AS_ERR_CONFLICT)
            fprintf(stderr, "%s ", noun);
        else
            fputs(not_found, stderr);
        as_cli_print_safe(stderr, name);
        fputs(err == AS_ERR_CONFLICT ? " already exists\n" : "\n", stderr);
    } else {
        as_cli_db_error(db);
    }
    return 1;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {{"serve", as_cli_serve}, {"migrate", as_cli_migrate}, {"user", as_cli_user},    {"client", as_cli_client},
                    {"keys", as_cli_keys},   {"verify", as_cli_verify},   {"routes", as_cli_routes}};

    (void)as_crypto_mem_init(); /* before anything uses OpenSSL; without it (too late, a sanitizer) malloc as before */
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("authsvc %s\n", AS_VERSION);
        return 0;
    }
    for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); ++i) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* getopt_long permutes, so options may follow the positional arguments */
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "authsvc: unknown command %s\n%s", argv[1], usage_main);
    return 2;
}
