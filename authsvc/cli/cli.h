/*
 * cli/ — the administration commands. Blocking I/O is fine here: none of this
 * runs on an event loop.
 */
#ifndef AS_CLI_H
#define AS_CLI_H

/** Prints "authsvc: MESSAGE" and the usage to standard error; returns 2 (a usage error). */
int as_cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Parses a decimal integer within [min, max]; 0 or -1. */
int as_cli_parse_int(const char *s, long min, long max, long *out);

/** `authsvc keys ...` */
int as_cli_keys(int argc, char **argv);

#endif
