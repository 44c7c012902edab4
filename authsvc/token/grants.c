/*
 * token/grants — grant-type names, the scope rules and the user-subject test
 * shared by the token endpoint, the store and the CLI (interface in grants.h).
 */
#include <string.h>
#include "authsvc/token/grants.h"

unsigned as_grant_parse(const char *name, size_t len)
{
#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (IS("client_credentials"))
        return AS_GRANT_CLIENT_CREDENTIALS;
    if (IS("password"))
        return AS_GRANT_PASSWORD;
    if (IS("refresh_token"))
        return AS_GRANT_REFRESH_TOKEN;
    if (IS("authorization_code"))
        return AS_GRANT_AUTHORIZATION_CODE;
    return 0;
#undef IS
}

int as_scope_token_valid(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = s[i];
        if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e)
            return 0;
    }
    return 1;
}

static int list_has(const as_strlist_t *list, const char *s, size_t len)
{
    for (size_t i = 0; i != list->len; ++i)
        if (strlen(list->items[i]) == len && memcmp(list->items[i], s, len) == 0)
            return 1;
    return 0;
}

int as_scope_resolve(h2o_mem_pool_t *pool, const h2o_iovec_t *requested, const as_strlist_t *allowed, const char **out)
{
    size_t total = 1;
    for (size_t i = 0; i != allowed->len; ++i)
        total += strlen(allowed->items[i]) + 1;
    char *buf = h2o_mem_alloc_pool(pool, total), *p = buf;
    as_strlist_t req = {NULL, 0};

    if (requested != NULL) {
        if (requested->len > AS_SCOPE_MAX_LEN)
            return AS_ERR_BAD_INPUT;
        req.items = h2o_mem_alloc_pool(pool, sizeof(*req.items) * (requested->len / 2 + 1));
        const char *s = requested->base, *end = s + requested->len;
        while (s < end) {
            const char *sp = memchr(s, ' ', end - s), *tok_end = sp != NULL ? sp : end;
            if (!as_scope_token_valid(s, tok_end - s) || !list_has(allowed, s, tok_end - s))
                return AS_ERR_BAD_INPUT;
            req.items[req.len++] = h2o_strdup(pool, s, tok_end - s).base;
            s = tok_end + 1;
        }
    }
    for (size_t i = 0; i != allowed->len; ++i) {
        const char *item = allowed->items[i];
        if (requested != NULL && !list_has(&req, item, strlen(item)))
            continue;
        if (p != buf)
            *p++ = ' ';
        memcpy(p, item, strlen(item));
        p += strlen(item);
    }
    *p = '\0';
    *out = buf;
    return 0;
}

as_strlist_t as_scope_split(h2o_mem_pool_t *pool, const char *s)
{
    size_t len = strlen(s);
    as_strlist_t list = {h2o_mem_alloc_pool(pool, sizeof(char *) * (len / 2 + 1)), 0};
    const char *end = s + len;
    while (s < end) {
        const char *sp = memchr(s, ' ', end - s), *tok_end = sp != NULL ? sp : end;
        if (tok_end != s)
            list.items[list.len++] = h2o_strdup(pool, s, tok_end - s).base;
        s = tok_end + 1;
    }
    return list;
}

int as_is_uuid(const char *s)
{
    for (int i = 0; i != 36; ++i) {
        char c = s[i];
        if (c == '\0')
            return 0;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}
