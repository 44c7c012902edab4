/*
 * login/page — the HTML of the hosted pages (sign-in, consent, error) and the
 * stylesheet they share. Plain HTML and CSS, no script: labelled fields with
 * autocomplete hints in focus order, the error in a role=alert element, a
 * viewport that works from 320 px. Everything printed is HTML-escaped. Pure
 * functions on pool memory; any thread. Module-private (as_login__).
 */
#ifndef AS_LOGIN_PAGE_H
#define AS_LOGIN_PAGE_H

#include <stddef.h>
#include <h2o.h>
#include "authsvc/http/form.h"

/** The path the pages' form posts to (the authorization endpoint itself). */
#define AS_LOGIN_FORM_ACTION "/oauth2/authorize"

/** The stylesheet, and its path. */
#define AS_LOGIN_CSS_PATH "/login.css"
extern const char as_login__css[];
extern const size_t as_login__css_len;

/** `s` with & < > " ' replaced by character references, in `pool` (NUL-terminated). */
h2o_iovec_t as_login__html_escape(h2o_mem_pool_t *pool, const char *s, size_t len);

/** An HTML document being written into pool memory (NUL-terminated as it grows); start it zeroed with a pool. */
typedef struct st_as_login__html_t {
    h2o_mem_pool_t *pool;
    char *base;
    size_t len, cap;
} as_login__html_t;

/** Appends `len` bytes of markup as they are. */
void as_login__html_put(as_login__html_t *h, const char *s, size_t len);
/** Appends a literal piece of markup. */
void as_login__html_lit(as_login__html_t *h, const char *s);
/** Appends text or an attribute value, escaped: nothing a request carries is ever markup. */
void as_login__html_esc(as_login__html_t *h, const char *s, size_t len);
/**
 * Starts a hosted page in `pool`: the document head every page shares (no
 * referrer, the viewport, `title`, the stylesheet) and the opening of <main>.
 */
void as_login__html_begin(as_login__html_t *h, h2o_mem_pool_t *pool, const char *title);
/** Closes the page; the whole document, in the pool. */
h2o_iovec_t as_login__html_end(as_login__html_t *h);

/**
 * Appends the markup `tmpl` with each "%s" in it replaced by the next
 * argument (a NUL-terminated string), escaped as as_login__html_esc does.
 * "%s" is the only directive; nothing else in `tmpl` is special.
 */
void as_login__html_fmt(as_login__html_t *h, const char *tmpl, ...);

/** What a sign-in or consent page shows. */
typedef struct st_as_login_page_t {
    const char *client_name;  /* the client's display name, or its id */
    const as_form_t *request; /* the authorization request: its parameters go back in hidden fields */
    const char *csrf;         /* the form's token */
    const char *error;        /* NULL: none; else shown in the role=alert element */
    const char *username;     /* sign-in: prefilled (NULL: empty); consent: who is signed in */
    const char *scope;        /* consent: the scope the client asks for, space-separated */
} as_login_page_t;

/** The sign-in page. */
h2o_iovec_t as_login__page_signin(h2o_mem_pool_t *pool, const as_login_page_t *page);

/** The consent page: the scopes asked, Allow and Deny. */
h2o_iovec_t as_login__page_consent(h2o_mem_pool_t *pool, const as_login_page_t *page);

/** A page that only says what went wrong (`title`, `message`: plain text). */
h2o_iovec_t as_login__page_error(h2o_mem_pool_t *pool, const char *title, const char *message);

#endif
