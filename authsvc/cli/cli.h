/*
 * cli/ — the administration commands, one file each, dispatched by main.c.
 * Everything here runs on the main thread, before or instead of any event loop,
 * so blocking I/O is fine; the database is reached only through store/admin.h.
 */
#ifndef AS_CLI_H
#define AS_CLI_H

#include <stdio.h>
#include "authsvc/store/admin.h"

/** Prints "authsvc: MESSAGE" and the usage to standard error; returns 2 (a usage error). */
int as_cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Parses a decimal integer within [min, max]; 0 or -1. */
int as_cli_parse_int(const char *s, long min, long max, long *out);

/**
 * Connects to the database for a command; on failure prints why to standard
 * error and returns NULL. Owner: the caller (as_admin_close).
 */
as_admin_t *as_cli_db_open(const char *conninfo);

/** Writes `s` to `out`, every control character shown as '?' (the database may hold what the CLI would refuse). */
void as_cli_print_safe(FILE *out, const char *s);

/** Prints "authsvc: " and as_admin_error(db) to standard error, ending the line if the message does not. */
void as_cli_db_error(const as_admin_t *db);

/**
 * Says on standard error why a store/admin call on `name` failed:
 * "authsvc: NOUN NAME already exists" (AS_ERR_CONFLICT), "authsvc: NOT_FOUND NAME"
 * (AS_ERR_NOT_FOUND; e.g. "no user named "), else the database's message; a
 * control character of NAME is shown as '?'. Returns 1, the exit status.
 */
int as_cli_db_failed(const as_admin_t *db, int err, const char *noun, const char *not_found, const char *name);

/** `authsvc serve …`: runs the token service until SIGTERM or SIGINT; returns the exit status. */
int as_cli_serve(int argc, char **argv);

/** `authsvc migrate …`: applies pending migrations; returns the exit status. */
int as_cli_migrate(int argc, char **argv);

/** `authsvc user add|passwd|revoke|disable|enable|remove USERNAME …`, `authsvc user list`; returns the exit status. */
int as_cli_user(int argc, char **argv);

/**
 * `authsvc client add|list|show|remove|rotate-secret …`: registers (its secret printed once), lists, shows or
 * removes clients, or replaces a secret; returns the exit status.
 */
int as_cli_client(int argc, char **argv);

/** `authsvc keys …`: the signing-key lifecycle (keys/README.md); returns the exit status. */
int as_cli_keys(int argc, char **argv);

/** `authsvc routes`: prints the HTTP route table, one "METHOD PATH" per line; returns the exit status. */
int as_cli_routes(int argc, char **argv);

#endif
