/*
 * Definitions shared by every layer: error codes and logging.
 */
#ifndef AS_H
#define AS_H

#include <stdarg.h>
#include <stddef.h>

/** Errors are negative; 0 is success. Only http/ turns them into statuses. */
typedef enum en_as_err_t {
    AS_OK = 0,
    AS_ERR_INTERNAL = -1,       /* a bug or an impossible state: logged, answered 500 only as a last resort */
    AS_ERR_DB_UNAVAILABLE = -2, /* no connection, or the connection broke: 503, outcome of a write unknown */
    AS_ERR_DB_TIMEOUT = -3,     /* the query's deadline passed: 503 */
    AS_ERR_DB_QUERY = -4,       /* the server rejected the statement (constraint, bug): logged */
    AS_ERR_NOT_FOUND = -5,
    AS_ERR_CONFLICT = -6,
    AS_ERR_BAD_INPUT = -7,
} as_err_t;

/** Log levels; messages go to standard error, one line each. Never pass a secret. */
enum { AS_LOG_ERROR, AS_LOG_WARN, AS_LOG_INFO, AS_LOG_DEBUG };

/** Current verbosity (AS_LOG_INFO by default); set once at start-up. */
extern int as_log_level;

/** printf-style logging; thread-safe (one write(2) per line). */
void as_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
