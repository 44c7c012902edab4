/*
 * base/jsonw — writing JSON text straight into a buffer, for the hot paths
 * (token claims, token responses) where building a jansson tree would cost
 * more than the rest of the request. Strings are escaped exactly as jansson
 * escapes them by default (tests/unit/test_jsonw.c compares the two on random
 * input), and invalid UTF-8 is refused as jansson refuses it. Any thread.
 */
#ifndef AS_BASE_JSONW_H
#define AS_BASE_JSONW_H

#include <stddef.h>
#include <stdint.h>

/** The most bytes one input byte can take once escaped ("\u001f"). */
#define AS_JSONW_ESCAPE_MAX 6

/** A JSON text being written into a buffer the caller sized; writing past it sets `failed`. */
typedef struct st_as_jsonw_t {
    char *buf;
    size_t len;
    size_t cap;
    int failed; /* the buffer was too small, or a string was not valid UTF-8 */
} as_jsonw_t;

/** Starts writing into `buf` (`cap` bytes; the text is not NUL-terminated). */
void as_jsonw_init(as_jsonw_t *w, char *buf, size_t cap);

/** Appends `len` bytes as they are (punctuation, member names known to need no escaping). */
void as_jsonw_raw(as_jsonw_t *w, const char *s, size_t len);

/** Appends `s` (`len` bytes of UTF-8) as a JSON string, quotes included. */
void as_jsonw_string(as_jsonw_t *w, const char *s, size_t len);

/** Appends a decimal integer. */
void as_jsonw_int(as_jsonw_t *w, int64_t v);

/**
 * Appends `"name":` then the string `value` (a NUL-terminated UTF-8 string),
 * preceded by a comma unless it is the first member of the object; `name`
 * must need no escaping.
 */
void as_jsonw_member_str(as_jsonw_t *w, const char *name, const char *value);

/** Appends `"name":` then the integer `value`, with a comma as as_jsonw_member_str. */
void as_jsonw_member_int(as_jsonw_t *w, const char *name, int64_t value);

#endif
