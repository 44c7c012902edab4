/*
 * login/page — the hosted pages' HTML and their stylesheet (interface in
 * page.h), and GET /login.css.
 */
#include <stdarg.h>
#include <string.h>
#include "authsvc/http/respond.h"
#include "authsvc/login/authz.h"
#include "authsvc/login/login.h"
#include "authsvc/login/page.h"

/* --- the stylesheet --------------------------------------------------------------------- */

const char as_login__css[] =
    "*,*::before,*::after{box-sizing:border-box}\n"
    "html{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;font-size:100%;"
    "line-height:1.5;color:#1b1f24;background:#f3f4f6}\n"
    "body{margin:0;min-height:100vh;display:flex;align-items:flex-start;justify-content:center;padding:2rem 1rem}\n"
    "main{width:100%;max-width:24rem;background:#fff;border:1px solid #d0d7de;border-radius:.5rem;padding:1.5rem}\n"
    "h1{font-size:1.5rem;margin:0 0 .25rem}\n"
    ".for{margin:0 0 1.25rem;color:#57606a;overflow-wrap:anywhere}\n"
    ".for strong{color:#1b1f24}\n"
    "form{display:flex;flex-direction:column;gap:.25rem}\n"
    "label{font-weight:600;margin-top:.75rem}\n"
    "input[type=text],input[type=password]{width:100%;font:inherit;padding:.5rem .625rem;border:1px solid #8c959f;"
    "border-radius:.375rem;background:#fff;color:inherit}\n"
    "input:focus,button:focus{outline:3px solid #0969da;outline-offset:1px}\n"
    "input[aria-invalid=true]{border-color:#cf222e}\n"
    "button{font:inherit;font-weight:600;margin-top:1.25rem;padding:.625rem 1rem;border-radius:.375rem;border:1px solid #1f6f3b;"
    "background:#1f883d;color:#fff;cursor:pointer;min-height:2.75rem}\n"
    "button.secondary{background:#f6f8fa;color:#1b1f24;border-color:#8c959f}\n"
    ".actions{display:flex;gap:.75rem;flex-wrap:wrap}\n"
    ".actions button{flex:1 1 8rem}\n"
    ".alert{margin:0 0 .5rem;padding:.625rem .75rem;border:1px solid #cf222e;border-radius:.375rem;background:#ffebe9;"
    "color:#82071e}\n"
    ".alert:empty{display:none}\n"
    "ul.scopes{margin:.5rem 0 0;padding-left:1.25rem}\n"
    "ul.scopes li{overflow-wrap:anywhere}\n"
    ".who{color:#57606a;font-size:.875rem;margin:1rem 0 0}\n"
    "@media (max-width:360px){body{padding:0}main{border:0;border-radius:0;padding:1rem}}\n"
    "@media (prefers-color-scheme:dark){html{color:#e6edf3;background:#0d1117}main{background:#161b22;border-color:#30363d}"
    ".for,.who{color:#9da7b3}.for strong{color:#e6edf3}input[type=text],input[type=password]{background:#0d1117;"
    "border-color:#6e7681}button.secondary{background:#21262d;color:#e6edf3}.alert{background:#3c1618;color:#ffdcd7}}\n";
const size_t as_login__css_len = sizeof(as_login__css) - 1;

AS_HANDLER(as_login_css)
{
    (void)data;
    /* cacheable: it changes only with the binary; a day's stale stylesheet is cosmetic */
    as_http_send_asset(req, "text/css; charset=utf-8", as_login__css, as_login__css_len, "public, max-age=86400");
}

/* --- building HTML ----------------------------------------------------------------------- */

void as_login__html_put(as_login__html_t *h, const char *s, size_t len)
{
    if (h->len + len + 1 > h->cap) {
        size_t cap = h->cap * 2 > h->len + len + 1 ? h->cap * 2 : h->len + len + 1;
        char *grown = h2o_mem_alloc_pool(h->pool, cap);
        if (h->len != 0)
            memcpy(grown, h->base, h->len);
        h->base = grown;
        h->cap = cap;
    }
    memcpy(h->base + h->len, s, len);
    h->len += len;
    h->base[h->len] = '\0';
}

void as_login__html_lit(as_login__html_t *h, const char *s)
{
    as_login__html_put(h, s, strlen(s));
}

void as_login__html_esc(as_login__html_t *h, const char *s, size_t len)
{
    h2o_iovec_t e = as_login__html_escape(h->pool, s, len);
    as_login__html_put(h, e.base, e.len);
}

void as_login__html_fmt(as_login__html_t *h, const char *tmpl, ...)
{
    va_list args;
    const char *at;

    va_start(args, tmpl);
    while ((at = strstr(tmpl, "%s")) != NULL) {
        const char *text = va_arg(args, const char *);
        as_login__html_put(h, tmpl, (size_t)(at - tmpl));
        as_login__html_esc(h, text, strlen(text));
        tmpl = at + 2;
    }
    va_end(args);
    as_login__html_lit(h, tmpl);
}

/** The character reference of a byte that HTML text or a quoted attribute value must not carry as itself, or NULL. */
static const char *html_reference(char c)
{
    static const char specials[] = "&<>\"'";
    static const char *const references[] = {"&amp;", "&lt;", "&gt;", "&#34;", "&#39;"};
    const char *at = c != '\0' ? strchr(specials, c) : NULL;
    return at != NULL ? references[at - specials] : NULL;
}

h2o_iovec_t as_login__html_escape(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    const char *ref;
    size_t n = 0;
    for (size_t i = 0; i != len; ++i)
        n += (ref = html_reference(s[i])) != NULL ? strlen(ref) : 1;
    char *out = h2o_mem_alloc_pool(pool, n + 1), *p = out;
    for (size_t i = 0; i != len; ++i) {
        if ((ref = html_reference(s[i])) != NULL) {
            memcpy(p, ref, strlen(ref));
            p += strlen(ref);
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    return h2o_iovec_init(out, n);
}

void as_login__html_begin(as_login__html_t *h, h2o_mem_pool_t *pool, const char *title)
{
    *h = (as_login__html_t){.pool = pool, .cap = 4096};
    h->base = h2o_mem_alloc_pool(pool, h->cap);
    as_login__html_fmt(h, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n<title>%s</title>\n"
            "<link rel=\"stylesheet\" href=\"" AS_LOGIN_CSS_PATH "\">\n</head>\n<body>\n<main>\n", title);
}

h2o_iovec_t as_login__html_end(as_login__html_t *h)
{
    as_login__html_lit(h, "</main>\n</body>\n</html>\n");
    return h2o_iovec_init(h->base, h->len);
}

/** The heading and "to continue to CLIENT". */
static void heading(as_login__html_t *h, const char *title, const char *client_name)
{
    as_login__html_fmt(h, "<h1>%s</h1>\n<p class=\"for\">to continue to <strong>%s</strong></p>\n", title, client_name);
}

/** The alert element (always there, so that assistive technology announces what appears in it). */
static void alert(as_login__html_t *h, const char *error)
{
    as_login__html_lit(h, "<p class=\"alert\" role=\"alert\" id=\"form-error\">");
    if (error != NULL)
        as_login__html_esc(h, error, strlen(error));
    as_login__html_lit(h, "</p>\n");
}

static void hidden(as_login__html_t *h, const char *name, const char *value)
{
    as_login__html_fmt(h, "<input type=\"hidden\" name=\"%s\" value=\"%s\">\n", name, value);
}

/** The form's opening, the authorization request in hidden fields, the step and the token. */
static void form_begin(as_login__html_t *h, const as_login_page_t *page, const char *step)
{
    as_login__html_lit(h, "<form method=\"post\" action=\"" AS_LOGIN_FORM_ACTION "\">\n");
    for (size_t i = 0; i != as_login__num_authz_params; ++i) {
        const h2o_iovec_t *v = as_form_get(page->request, as_login__authz_params[i]);
        if (v != NULL)
            hidden(h, as_login__authz_params[i], v->base);
    }
    hidden(h, "step", step);
    hidden(h, "csrf_token", page->csrf);
}

/** The end of a field's <input>: marked invalid after a failed submission, its `value` (NULL: none), focused if `focus`. */
static void input_end(as_login__html_t *h, const as_login_page_t *page, const char *value, int focus)
{
    if (page->error != NULL)
        as_login__html_lit(h, " aria-invalid=\"true\" aria-describedby=\"form-error\"");
    if (value != NULL)
        as_login__html_fmt(h, " value=\"%s\"", value);
    if (focus)
        as_login__html_lit(h, " autofocus");
    as_login__html_lit(h, ">\n");
}

h2o_iovec_t as_login__page_signin(h2o_mem_pool_t *pool, const as_login_page_t *page)
{
    as_login__html_t h;
    as_login__html_begin(&h, pool, "Sign in");
    heading(&h, "Sign in", page->client_name);
    alert(&h, page->error);
    form_begin(&h, page, "login");
    as_login__html_lit(&h, "<label for=\"username\">Username</label>\n"
             "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" autocapitalize=\"none\" "
             "spellcheck=\"false\" maxlength=\"255\" required");
    input_end(&h, page, page->username, page->username == NULL);
    as_login__html_lit(&h, "<label for=\"password\">Password</label>\n"
             "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" maxlength=\"1024\" "
             "required");
    input_end(&h, page, NULL, page->username != NULL);
    as_login__html_lit(&h, "<button type=\"submit\">Sign in</button>\n</form>\n");
    return as_login__html_end(&h);
}

/** A few well-known scopes in words; others are shown by name. */
static const char *scope_words(const char *scope)
{
    if (strcmp(scope, "openid") == 0)
        return "Know who you are (your account's identifier)";
    if (strcmp(scope, "profile") == 0)
        return "See your profile";
    if (strcmp(scope, "email") == 0)
        return "See your email address";
    if (strcmp(scope, "offline_access") == 0)
        return "Stay signed in when you are not using it";
    return NULL;
}

h2o_iovec_t as_login__page_consent(h2o_mem_pool_t *pool, const as_login_page_t *page)
{
    as_login__html_t h;
    const char *p = page->scope != NULL ? page->scope : "";

    as_login__html_begin(&h, pool, "Allow access?");
    heading(&h, "Allow access?", page->client_name);
    alert(&h, page->error);
    as_login__html_fmt(&h, "<p><strong>%s</strong> asks to:</p>\n<ul class=\"scopes\">\n", page->client_name);
    if (*p == '\0')
        as_login__html_lit(&h, "<li>Sign you in (no other access)</li>\n");
    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t n = sp != NULL ? (size_t)(sp - p) : strlen(p);
        const char *name = h2o_strdup(pool, p, n).base, *words = scope_words(name);
        if (words != NULL)
            as_login__html_fmt(&h, "<li>%s (<code>%s</code>)</li>\n", words, name);
        else
            as_login__html_fmt(&h, "<li><code>%s</code></li>\n", name);
        p += n;
        while (*p == ' ')
            ++p;
    }
    as_login__html_lit(&h, "</ul>\n");
    form_begin(&h, page, "consent");
    as_login__html_lit(&h, "<div class=\"actions\">\n"
             "<button type=\"submit\" name=\"decision\" value=\"approve\" autofocus>Allow</button>\n"
             "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\n"
             "</div>\n</form>\n");
    if (page->username != NULL)
        as_login__html_fmt(&h, "<p class=\"who\">Signed in as %s</p>\n", page->username);
    return as_login__html_end(&h);
}

h2o_iovec_t as_login__page_error(h2o_mem_pool_t *pool, const char *title, const char *message)
{
    as_login__html_t h;
    as_login__html_begin(&h, pool, title);
    as_login__html_fmt(&h, "<h1>%s</h1>\n<p class=\"alert\" role=\"alert\">%s</p>\n"
                           "<p>Go back to the application you came from and try again.</p>\n",
                       title, message);
    return as_login__html_end(&h);
}
