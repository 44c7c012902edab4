/*
 * Definitions shared by every layer: error codes and logging.
 */
#ifndef AS_H
#define AS_H

#include <stdarg.h>
#include <stddef.h>

/**
 * The one error convention: a function returns 0 or a negative as_err_t, and
 * hands results out through parameters. Only http/ turns an error into a
 * status; crypto/ keeps libsodium's 0/-1 (its callers never need a reason).
 */
typedef enum en_as_err_t {
    AS_OK = 0,
    AS_ERR_INTERNAL = -1,       /* a bug or an impossible state: logged, answered 500 only as a last resort */
    AS_ERR_DB_UNAVAILABLE = -2, /* no connection, or the connection broke: 503, outcome of a write unknown */
    AS_ERR_DB_TIMEOUT = -3,     /* the query's deadline passed: 503 */
    AS_ERR_DB_QUERY = -4,       /* the server rejected the statement (constraint, bug): logged */
    AS_ERR_NOT_FOUND = -5,
    AS_ERR_CONFLICT = -6,       /* the state changed under us (a race lost, a version moved on) */
    AS_ERR_BAD_INPUT = -7,      /* malformed input */
    AS_ERR_DUPLICATE = -8,      /* something that must appear once appears twice (a form parameter, a header) */
    AS_ERR_TOO_LARGE = -9,      /* over a size or count limit */
    AS_ERR_BUSY = -10,          /* a bounded queue is full: retry later (503) */
    AS_ERR_IO = -11,            /* a file could not be read, written or understood (a message says which) */
    AS_ERR_UNSUPPORTED = -12,   /* well-formed but not something we implement (an auth scheme, an algorithm) */
    /* token/access: why an access token was refused */
    AS_ERR_TOKEN_MALFORMED = -20,      /* not three base64url parts of JSON objects, oversized, duplicate keys */
    AS_ERR_TOKEN_BAD_ALGORITHM = -21,  /* none, HS*, unknown, or not the key's algorithm */
    AS_ERR_TOKEN_BAD_TYPE = -22,       /* typ is not at+jwt */
    AS_ERR_TOKEN_UNKNOWN_KEY = -23,    /* no key with that kid */
    AS_ERR_TOKEN_BAD_SIGNATURE = -24,
    AS_ERR_TOKEN_EXPIRED = -25,
    AS_ERR_TOKEN_NOT_YET_VALID = -26,
    AS_ERR_TOKEN_WRONG_ISSUER = -27,
    AS_ERR_TOKEN_WRONG_AUDIENCE = -28,
    AS_ERR_TOKEN_MISSING_CLAIM = -29,  /* sub, exp, iat, jti or client_id absent or of the wrong type */
} as_err_t;

/** A short English reason for an error code (a static string; never names a secret). */
const char *as_strerror(int err);

/** Log levels; messages go to standard error, one line each. Never pass a secret. */
enum { AS_LOG_ERROR, AS_LOG_WARN, AS_LOG_INFO, AS_LOG_DEBUG };

/** Current verbosity (AS_LOG_INFO by default); set once at start-up. */
extern int as_log_level;

/**
 * printf-style logging; any thread. Each message is one line (at most 1 KiB),
 * written whole. After as_log_start it is queued and never waits for the
 * log's reader: when the queue is full the line is dropped and counted, and
 * "N log lines dropped" is logged where it would have been.
 */
void as_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Queues `len` bytes (one or more whole lines, at most 2 KiB) for `fd` behind
 * the lines already logged, with as_log's guarantees: whole, in order, never
 * waiting for the reader (the access log's lines go this way). Any thread.
 */
void as_log_write(int fd, const char *line, size_t len);

/**
 * From now on lines are queued and a logger thread writes them (main thread,
 * before the threads that log start; `authsvc serve` calls it). Without it
 * every line is written at once by the thread that logs it.
 */
void as_log_start(void);

/** Writes out what is queued (waiting at most a few seconds for a stalled reader) and stops the logger thread. Main thread, at exit. */
void as_log_stop(void);

/** Logs an error line after everything queued before it (waiting for the reader if need be) and aborts. Any thread. */
void as_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define as_error(...) as_log(AS_LOG_ERROR, __VA_ARGS__)
#define as_warn(...) as_log(AS_LOG_WARN, __VA_ARGS__)
#define as_info(...) as_log(AS_LOG_INFO, __VA_ARGS__)
#define as_debug(...)                                                                                                            \
    do {                                                                                                                         \
        if (as_log_level >= AS_LOG_DEBUG)                                                                                        \
            as_log(AS_LOG_DEBUG, __VA_ARGS__);                                                                                   \
    } while (0)

/** A list of strings; who owns the strings is said where one is handed out. */
typedef struct st_as_strlist_t {
    const char **items;
    size_t len;
} as_strlist_t;

/** Allocation that aborts on failure (as h2o, Redis and palloc do). */
void *as_malloc(size_t sz);
void *as_calloc(size_t n, size_t sz);
char *as_strdup(const char *s);

#endif
