/*
 * authsvc migrate — applies the pending schema migrations (the NNNN_name.sql
 * files of migrations/) through store/admin's runner, and reports them.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/paths.h"

static const char usage_migrate[] = "usage: authsvc migrate [--db CONNINFO] [--migrations DIR]\n"
                                    "Applies pending migrations in order, each in its own transaction, under an\n"
                                    "advisory lock; running it again changes nothing.\n";

static void on_applied(void *ctx, const char *name)
{
    size_t *applied = ctx;
    printf("applied %s\n", name);
    ++*applied;
}

int as_cli_migrate(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"migrations", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *conninfo = "", *override = NULL;
    char dir[4096];
    as_admin_t *db;
    char failed[256];
    size_t applied = 0;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            conninfo = optarg;
            break;
        case 'm':
            override = optarg;
            break;
        case 'h':
            fputs(usage_migrate, stdout);
            return 0;
        default:
            return as_cli_usage(usage_migrate, "%s", "invalid option");
        }
    }
    if (optind != argc)
        return as_cli_usage(usage_migrate, "unexpected argument: %s", argv[optind]);
    if (as_cli_migrations_dir(override, dir, sizeof(dir)) != 0) {
        fprintf(stderr, "authsvc: no migrations directory found (give --migrations DIR or set AUTHSVC_MIGRATIONS)\n");
        return 1;
    }
    if ((db = as_cli_db_open(conninfo)) == NULL)
        return 1;
    int err = as_admin_migrate(db, dir, on_applied, &applied, failed, sizeof(failed));
    if (err == 0) {
        printf(applied == 0 ? "database schema is up to date\n" : "database schema migrated (%zu applied)\n", applied);
    } else {
        as_cli_db_error(db);
        if (failed[0] != '\0')
            fprintf(stderr, "authsvc: migration %s failed and was rolled back\n", failed);
    }
    as_admin_close(db);
    return err == 0 ? 0 : 1;
}
