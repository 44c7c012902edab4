/*
 * cli/db — blocking database access for the administration commands (never
 * used by `serve`'s event threads), and the migration runner.
 */
#ifndef AS_CLI_DB_H
#define AS_CLI_DB_H

#include <libpq-fe.h>

/** Connects with `conninfo` ("" or NULL: libpq's PG* environment). Prints the error and returns NULL on failure. */
PGconn *as_cli_connect(const char *conninfo);

/**
 * Runs one statement with text parameters; returns the result if its status is
 * `expect`, else prints the server's message (prefixed with `what`) and
 * returns NULL. PQclear the result.
 */
PGresult *as_cli_exec(PGconn *pg, ExecStatusType expect, const char *what, const char *sql, int nparams, const char *const *values);

/**
 * Applies the pending migrations of `dir` (files NNNN_name.sql, in order), each
 * in its own transaction, under an advisory lock so that concurrent instances
 * are safe. Prints what it applied. Returns 0 or -1.
 */
int as_cli_migrate(PGconn *pg, const char *dir);

#endif
