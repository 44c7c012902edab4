/*
 * authsvc migrate — applies the pending schema migrations (the NNNN_name.sql
 * files of migrations/) through store/admin's runner, and reports them.
 */
#include <stdio.h>
#include <stdlib.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"
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

typedef struct st_migrate_args_t {
    const char *conninfo, *dir;
} migrate_args_t;

static const as_opt_t migrate_opts[] = {
    {.name = "db", AS_OPT_AT_STRING(migrate_args_t, conninfo)},
    {.name = "migrations", AS_OPT_AT_STRING(migrate_args_t, dir)},
};

int as_cli_migrate(int argc, char **argv)
{
    migrate_args_t args = {.conninfo = ""};
    char dir[4096];
    as_admin_t *db;
    char failed[256];
    size_t applied = 0;
    int first, ret;

    if ((ret = as_opt_parse_argv(migrate_opts, sizeof(migrate_opts) / sizeof(migrate_opts[0]), usage_migrate, argc, argv, &args,
                                 NULL, &first)) != -1)
        return ret;
    if (first != argc)
        return as_cli_usage(usage_migrate, "unexpected argument: %s", argv[first]);
    if (as_cli_migrations_dir(args.dir, dir, sizeof(dir)) != 0) {
        fprintf(stderr, "authsvc: no migrations directory found (give --migrations DIR or set AUTHSVC_MIGRATIONS)\n");
        return 1;
    }
    if ((db = as_cli_db_open(args.conninfo)) == NULL)
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
