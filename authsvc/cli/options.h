/*
 * cli/options — the one option parser of every command: a command declares its
 * options once, as a table of as_opt_t (name, type, where the value lands in the
 * command's settings struct, bounds, default, help), and the same table parses the
 * command line, and for `serve` the environment and a configuration file, and
 * writes the help and the documentation table. Main thread only.
 */
#ifndef AS_CLI_OPTIONS_H
#define AS_CLI_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

typedef enum en_as_opt_type_t {
    AS_OPT_FLAG,   /* a boolean: on the command line a bare flag; elsewhere true/false, yes/no, on/off, 1/0 (an int field) */
    AS_OPT_STRING, /* text (a const char * field pointing at argv, the environment or the file's buffer) */
    AS_OPT_INT,    /* a decimal integer within [min, max], into an int, long, size_t or uint64_t field (`size`) */
    AS_OPT_LIST,   /* repeatable text: a const char ** array (malloc'd) at `offset` and its size_t count at `count` */
    AS_OPT_FN,     /* `fn` checks and stores the value (an argument, or none with AS_OPT_NO_ARG) */
    AS_OPT_CHOICE, /* repeatable; one of `choices`: sets bit i (1u << i) of an unsigned field for choices[i] */
} as_opt_type_t;

#define AS_OPT_NO_ENV 0x1  /* not read from the environment */
#define AS_OPT_NO_FILE 0x2 /* not a key of the configuration file */
#define AS_OPT_CLI_ONLY (AS_OPT_NO_ENV | AS_OPT_NO_FILE)
#define AS_OPT_NO_ARG 0x4  /* AS_OPT_FN without an argument (called with value NULL) */
#define AS_OPT_HIDDEN 0x8  /* left out of the generated help and documentation */

typedef struct st_as_opt_t {
    const char *name; /* the long option without "--"; also the file's key and, upper-cased, AUTHSVC_NAME */
    as_opt_type_t type;
    size_t offset;    /* where the value lands in the settings struct */
    size_t size;      /* AS_OPT_INT: sizeof the field */
    size_t count;     /* AS_OPT_LIST: offset of the size_t count */
    long min, max;    /* AS_OPT_INT: the bounds; AS_OPT_LIST: max is the most items */
    const char *def;  /* the default, as the text a user would give (applied by as_opt_defaults); NULL: none */
    const char *shown_def; /* the default as the help and docs say it, when `def` cannot (e.g. "one per core") */
    const char *arg;  /* the argument's name in the help: SECONDS, HOST:PORT, FILE */
    const char *help;
    unsigned flags;
    const char *const *choices; /* AS_OPT_CHOICE: the words, NULL-terminated (at most 32) */
    /** AS_OPT_FN: stores `value`; 0, or -1 with the whole message (naming the option) in err. */
    int (*fn)(void *settings, const char *value, char *err, size_t errlen);
} as_opt_t;

/* Designated-initializer helpers: AS_OPT_AT_INT(serve_t, app.threads) etc. */
#define AS_OPT_FIELD_SIZE(T, f) sizeof(((T *)0)->f)
#define AS_OPT_AT_INT(T, f) .type = AS_OPT_INT, .offset = offsetof(T, f), .size = AS_OPT_FIELD_SIZE(T, f)
#define AS_OPT_AT_STRING(T, f) .type = AS_OPT_STRING, .offset = offsetof(T, f)
#define AS_OPT_AT_FLAG(T, f) .type = AS_OPT_FLAG, .offset = offsetof(T, f)
#define AS_OPT_AT_CHOICE(T, f, ...) .type = AS_OPT_CHOICE, .offset = offsetof(T, f), .choices = (const char *const[]){__VA_ARGS__, NULL}
#define AS_OPT_AT_LIST(T, f, n) .type = AS_OPT_LIST, .offset = offsetof(T, f), .count = offsetof(T, n)

/**
 * Stores one value of `opt` into `settings`; `source` names where it came from
 * ("--threads", "AUTHSVC_THREADS", "/etc/authsvc.conf:12") and starts the message
 * written to `err` on failure. A list is emptied first when `reset` (a new source
 * replaces the list of a lower one). Returns 0 or -1.
 */
int as_opt_set(const as_opt_t *opt, void *settings, const char *value, const char *source, int reset, char *err,
               size_t errlen);

/** Applies every option's `def`; 0, or -1 with the message (a defect of the table) in err. */
int as_opt_defaults(const as_opt_t *opts, size_t num, void *settings, char *err, size_t errlen);

/**
 * Parses the command line (getopt_long: options may follow the positional
 * arguments, which end up in argv[*first] to argv[argc - 1]); `--help` prints
 * `usage` (NULL: as_opt_print_help's) to standard output. `given` (NULL, or `num`
 * bytes) marks the options seen. Returns -1 to go on, or the exit status to end
 * with: 0 after --help, 2 after a usage error (said on standard error with the usage).
 */
int as_opt_parse_argv(const as_opt_t *opts, size_t num, const char *usage, int argc, char **argv, void *settings,
                      unsigned char *given, int *first);

/** Copies the value of `opt` from `src` to `dst` (both settings structs of the same table). */
void as_opt_copy(const as_opt_t *opt, void *dst, const void *src);

/** Frees the arrays of the list options of `settings` (not their strings). */
void as_opt_dispose(const as_opt_t *opts, size_t num, void *settings);

/** Writes AUTHSVC_ and the upper-cased name, '-' as '_', to `out` (64 bytes are enough for every name). */
void as_opt_env_name(const as_opt_t *opt, char *out, size_t outlen);

/**
 * Applies the environment (AUTHSVC_NAME of every option without AS_OPT_NO_ENV;
 * a list separated by commas or white space; an empty variable counts as unset).
 * The lists' items live in *text (the caller frees it, always, after the settings
 * are no longer used). 0 or -1 with the message in err.
 */
int as_opt_apply_env(const as_opt_t *opts, size_t num, void *settings, char **text, char *err, size_t errlen);

/**
 * Applies the configuration file `path`: `name = value` lines, `#` comments and
 * blank lines; a list by repeating its key. The file's text is kept in *text
 * (the caller frees it after the settings are no longer used). 0 or -1 with the
 * message ("FILE:LINE: ...") in err.
 */
int as_opt_apply_file(const as_opt_t *opts, size_t num, void *settings, const char *path, char **text, char *err,
                      size_t errlen);

/** Writes one help line per option (name, argument, wrapped help, default) to `out`. */
void as_opt_print_help(const as_opt_t *opts, size_t num, FILE *out);

/** Writes the Markdown table of the options (option, environment variable, default, meaning) to `out`. */
void as_opt_print_markdown(const as_opt_t *opts, size_t num, FILE *out);

#endif
