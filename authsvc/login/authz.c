/*
 * login/authz — reading and checking an authorization request, binding forms
 * to it, and writing the redirect that answers it (interface in authz.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/login/authz.h"
#include "authsvc/token/grants.h"

const char *const as_login__authz_params[] = {
    "client_id", "redirect_uri",   "response_type",         "response_mode", "scope",   "state",
    "nonce",     "code_challenge", "code_challenge_method", "prompt",        "max_age", "login_hint",
};
const size_t as_login__num_authz_params = sizeof(as_login__authz_params) / sizeof(as_login__authz_params[0]);

const char *as_login__authz_error_name(as_authz_error_t error)
{
#define CODE(name, code) [AS_AUTHZ_##name] = code,
    static const char *const names[] = {AS_AUTHZ_ERRORS(CODE)};
#undef CODE
    return names[error];
}

static int is(const h2o_iovec_t *v, const char *s)
{
    return v != NULL && h2o_memis(v->base, v->len, s, strlen(s));
}

int as_login__authz_target(const as_form_t *params, as_authz_t *a, const char **why)
{
    const h2o_iovec_t *id = as_form_get(params, "client_id"), *uri = as_form_get(params, "redirect_uri");

    if (id == NULL) {
        *why = "The request names no client (client_id is missing).";
        return AS_ERR_BAD_INPUT;
    }
    if (id->len > AS_AUTHZ_CLIENT_ID_MAX) {
        *why = "The client_id is too long.";
        return AS_ERR_BAD_INPUT;
    }
    /* OpenID Connect requires it; without it, which of several registered URIs was meant would be a guess */
    if (uri == NULL) {
        *why = "The request has no redirect_uri.";
        return AS_ERR_BAD_INPUT;
    }
    if (uri->len > AS_REDIRECT_URI_MAX) {
        *why = "The redirect_uri is too long.";
        return AS_ERR_BAD_INPUT;
    }
    if (memchr(uri->base, '#', uri->len) != NULL) {
        *why = "The redirect_uri must not contain a fragment.";
        return AS_ERR_BAD_INPUT;
    }
    a->client_id = id->base;
    a->redirect_uri = uri->base;
    return 0;
}

/** Parses a prompt value: space-separated known values; none only alone (Core §3.1.2.1). */
static int parse_prompt(const h2o_iovec_t *v, unsigned *out, const char **why)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {{"none", AS_PROMPT_NONE},
                 {"login", AS_PROMPT_LOGIN},
                 {"consent", AS_PROMPT_CONSENT},
                 {"select_account", AS_PROMPT_SELECT_ACCOUNT}};
    const char *p = v->base, *end = v->base + v->len;

    *out = 0;
    while (p < end) {
        const char *sp = memchr(p, ' ', end - p), *tend = sp != NULL ? sp : end;
        size_t i;
        if (tend != p) {
            for (i = 0; i != sizeof(known) / sizeof(known[0]); ++i)
                if (h2o_memis(p, tend - p, known[i].name, strlen(known[i].name)))
                    break;
            if (i == sizeof(known) / sizeof(known[0])) {
                *why = "unknown prompt value";
                return AS_ERR_BAD_INPUT;
            }
            *out |= known[i].bit;
        }
        p = tend + 1;
    }
    if ((*out & AS_PROMPT_NONE) && *out != AS_PROMPT_NONE) {
        *why = "prompt=none cannot be combined with another value";
        return AS_ERR_BAD_INPUT;
    }
    return 0;
}

int as_login__authz_check(h2o_mem_pool_t *pool, const as_form_t *params, unsigned grants, const as_strlist_t *scopes, as_authz_t *a,
                          as_authz_error_t *error, const char **why)
{
#define FAIL(e, w)                                                                                                                 \
    do {                                                                                                                           \
        *error = (e);                                                                                                              \
        *why = (w);                                                                                                                \
        return AS_ERR_BAD_INPUT;                                                                                                   \
    } while (0)
    const h2o_iovec_t *v;

    a->state = a->nonce = a->code_challenge = a->scope = a->login_hint = NULL;
    a->prompt = 0;
    a->max_age = -1;
    if ((v = as_form_get(params, "state")) != NULL) {
        if (v->len > AS_AUTHZ_STATE_MAX)
            FAIL(AS_AUTHZ_INVALID_REQUEST, "state is too long");
        a->state = v->base;
    }
    if (as_form_get(params, "request") != NULL)
        FAIL(AS_AUTHZ_REQUEST_NOT_SUPPORTED, "request objects are not supported");
    if (as_form_get(params, "request_uri") != NULL)
        FAIL(AS_AUTHZ_REQUEST_URI_NOT_SUPPORTED, "request_uri is not supported");
    if (as_form_get(params, "registration") != NULL)
        FAIL(AS_AUTHZ_REGISTRATION_NOT_SUPPORTED, "registration is not supported");
    if ((v = as_form_get(params, "response_type")) == NULL)
        FAIL(AS_AUTHZ_INVALID_REQUEST, "missing response_type");
    if (!is(v, "code"))
        FAIL(AS_AUTHZ_UNSUPPORTED_RESPONSE_TYPE, "only response_type=code is supported");
    if ((grants & AS_GRANT_AUTHORIZATION_CODE) == 0)
        FAIL(AS_AUTHZ_UNAUTHORIZED_CLIENT, "the client is not allowed the authorization_code grant");
    if ((v = as_form_get(params, "response_mode")) != NULL && !is(v, "query"))
        FAIL(AS_AUTHZ_INVALID_REQUEST, "only response_mode=query is supported");
    /* PKCE for every client, S256 only (OAuth 2.1; RFC 9700 §2.1.1): an absent method means plain (RFC 7636 §4.3) */
    if ((v = as_form_get(params, "code_challenge")) == NULL)
        FAIL(AS_AUTHZ_INVALID_REQUEST, "code_challenge is required (PKCE with S256)");
    if (!is(as_form_get(params, "code_challenge_method"), "S256"))
        FAIL(AS_AUTHZ_INVALID_REQUEST, "code_challenge_method must be S256");
    if (!as_pkce_challenge_valid(v->base, v->len))
        FAIL(AS_AUTHZ_INVALID_REQUEST, "malformed code_challenge");
    a->code_challenge = v->base;
    if (as_scope_resolve(pool, as_form_get(params, "scope"), scopes, &a->scope) != 0)
        FAIL(AS_AUTHZ_INVALID_SCOPE, "the requested scope is invalid or not allowed for this client");
    if ((v = as_form_get(params, "prompt")) != NULL && v->len > 64)
        FAIL(AS_AUTHZ_INVALID_REQUEST, "prompt is too long");
    if (v != NULL && parse_prompt(v, &a->prompt, why) != 0)
        FAIL(AS_AUTHZ_INVALID_REQUEST, *why);
    if ((v = as_form_get(params, "max_age")) != NULL) {
        if (v->len > 10)
            FAIL(AS_AUTHZ_INVALID_REQUEST, "malformed max_age");
        a->max_age = 0;
        for (size_t i = 0; i != v->len; ++i) {
            if (v->base[i] < '0' || v->base[i] > '9')
                FAIL(AS_AUTHZ_INVALID_REQUEST, "malformed max_age");
            a->max_age = a->max_age * 10 + (v->base[i] - '0');
        }
    }
    if ((v = as_form_get(params, "nonce")) != NULL) {
        if (v->len > AS_AUTHZ_NONCE_MAX)
            FAIL(AS_AUTHZ_INVALID_REQUEST, "nonce is too long");
        a->nonce = v->base;
    }
    if ((v = as_form_get(params, "login_hint")) != NULL && v->len <= AS_AUTHZ_LOGIN_HINT_MAX)
        a->login_hint = v->base;
    return 0;
#undef FAIL
}

void as_login__authz_digest(const as_form_t *params, uint8_t out[AS_SHA256_LEN])
{
    /* each parameter: a presence byte, its length (8 bytes, big-endian), its value; no two requests share an input */
    size_t cap = 1, len = 0;
    for (size_t i = 0; i != params->num_params; ++i)
        cap += params->params[i].value.len;
    cap += as_login__num_authz_params * 9;
    uint8_t *buf = as_malloc(cap);
    for (size_t i = 0; i != as_login__num_authz_params; ++i) {
        const h2o_iovec_t *v = as_form_get(params, as_login__authz_params[i]);
        uint64_t n = v != NULL ? v->len : 0;
        buf[len++] = v != NULL;
        for (int b = 7; b >= 0; --b)
            buf[len++] = (uint8_t)(n >> (b * 8));
        if (n != 0) {
            memcpy(buf + len, v->base, n);
            len += n;
        }
    }
    as_sha256(buf, len, out);
    free(buf);
}

/** Appends `s` percent-encoded (everything but RFC 3986 unreserved characters) at `dst`; returns the end. */
static char *encode(char *dst, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; ++s) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            *dst++ = (char)c;
        } else {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 15];
        }
    }
    return dst;
}

const char *as_login__redirect_url(h2o_mem_pool_t *pool, const char *redirect_uri, const char *const *names,
                                   const char *const *values, size_t n)
{
    size_t cap = strlen(redirect_uri) + 1;
    for (size_t i = 0; i != n; ++i)
        if (values[i] != NULL)
            cap += strlen(names[i]) * 3 + strlen(values[i]) * 3 + 2;
    char *url = h2o_mem_alloc_pool(pool, cap), *p = url;
    char sep = strchr(redirect_uri, '?') != NULL ? '&' : '?';

    p += sprintf(p, "%s", redirect_uri);
    for (size_t i = 0; i != n; ++i) {
        if (values[i] == NULL)
            continue;
        *p++ = sep;
        sep = '&';
        p = encode(p, names[i]);
        *p++ = '=';
        p = encode(p, values[i]);
    }
    *p = '\0';
    return url;
}

const char *as_login__form_target(h2o_mem_pool_t *pool, const char *uri)
{
    const char *p = uri, *host, *end;

    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return NULL;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
        ++p;
    if (*p != ':')
        return NULL;
    if (strncmp(p, "://", 3) == 0) {
        host = p + 3;
        for (end = host; *end != '\0' && *end != '/' && *end != '?' && *end != '#'; ++end)
            if (!((*end >= 'a' && *end <= 'z') || (*end >= 'A' && *end <= 'Z') || (*end >= '0' && *end <= '9') || *end == '.' ||
                  *end == '-' || *end == ':'))
                break; /* userinfo, an IPv6 literal, a percent-encoded host: CSP cannot name it, allow the scheme */
        if (end != host && (*end == '\0' || *end == '/' || *end == '?' || *end == '#'))
            return h2o_strdup(pool, uri, end - uri).base;
    }
    return h2o_strdup(pool, uri, p + 1 - uri).base;
}
