/*
 * What a resource server does with a verified token: its claims and scopes, and finding it in an
 * Authorization header. No verifier state here.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "authsvc/as.h"
#include "authsvc/token/access.h"
#include "authsvc/verify/internal.h"

/*
 * token/access's reasons as the library's public codes. The asv_err_t values are ABI, the as_err_t ones are
 * the service's to renumber: this table is the one place that ties them.
 */
static const struct st_token_err_t {
    int as;
    asv_err_t asv;
} token_errors[] = {
    {AS_ERR_TOKEN_MALFORMED, ASV_ERR_MALFORMED},
    {AS_ERR_TOKEN_BAD_ALGORITHM, ASV_ERR_BAD_ALGORITHM},
    {AS_ERR_TOKEN_BAD_TYPE, ASV_ERR_BAD_TYPE},
    {AS_ERR_TOKEN_UNKNOWN_KEY, ASV_ERR_UNKNOWN_KEY},
    {AS_ERR_TOKEN_BAD_SIGNATURE, ASV_ERR_BAD_SIGNATURE},
    {AS_ERR_TOKEN_EXPIRED, ASV_ERR_EXPIRED},
    {AS_ERR_TOKEN_NOT_YET_VALID, ASV_ERR_NOT_YET_VALID},
    {AS_ERR_TOKEN_WRONG_ISSUER, ASV_ERR_WRONG_ISSUER},
    {AS_ERR_TOKEN_WRONG_AUDIENCE, ASV_ERR_WRONG_AUDIENCE},
    {AS_ERR_TOKEN_MISSING_CLAIM, ASV_ERR_MISSING_CLAIM},
};

_Static_assert(ASV_TOKEN_MAX_LEN == AS_JWT_MAX_LEN, "the documented limit is token/access's");

int asv__token_err(int err)
{
    if (err == 0)
        return ASV_OK;
    for (size_t i = 0; i != sizeof(token_errors) / sizeof(token_errors[0]); ++i)
        if (token_errors[i].as == err)
            return token_errors[i].asv;
    return ASV_ERR_MALFORMED; /* a reason token/access gained and this table lacks: still a refusal */
}

const char *asv_strerror(int err)
{
    switch (err) {
    case ASV_OK:
        return "valid";
    case ASV_ERR_MALFORMED:
        return "malformed token";
    case ASV_ERR_BAD_ALGORITHM:
        return "unacceptable algorithm";
    case ASV_ERR_BAD_TYPE:
        return "not an access token (typ)";
    case ASV_ERR_UNKNOWN_KEY:
        return "unknown signing key";
    case ASV_ERR_BAD_SIGNATURE:
        return "bad signature";
    case ASV_ERR_EXPIRED:
        return "expired";
    case ASV_ERR_NOT_YET_VALID:
        return "not yet valid";
    case ASV_ERR_WRONG_ISSUER:
        return "wrong issuer";
    case ASV_ERR_WRONG_AUDIENCE:
        return "wrong audience";
    case ASV_ERR_MISSING_CLAIM:
        return "missing or malformed claim";
    case ASV_ERR_REVOKED_TOKEN:
        return "revoked token";
    case ASV_ERR_REVOKED_SUBJECT:
        return "revoked session";
    case ASV_ERR_STALE_REVOCATIONS:
        return "revocation state too old";
    case ASV_ERR_FETCH:
        return "fetch failed";
    case ASV_ERR_BAD_DOCUMENT:
        return "unexpected document";
    case ASV_ERR_CONFIG:
        return "invalid configuration or call";
    }
    return "unknown error";
}

void asv_claims_clear(asv_claims_t *c)
{
    json_decref(c->priv);
    memset(c, 0, sizeof(*c));
}

const char *asv_claims_string(const asv_claims_t *c, const char *name)
{
    return c->priv != NULL ? json_string_value(json_object_get(c->priv, name)) : NULL;
}

int asv_claims_has_scope(const asv_claims_t *c, const char *scope)
{
    size_t want = strlen(scope);
    const char *p = c->scope != NULL ? c->scope : "";

    if (want == 0)
        return 0;
    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (n == want && memcmp(p, scope, n) == 0)
            return 1;
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

char *asv_claims_json(const asv_claims_t *c, int pretty)
{
    json_free_t free_fn;
    char *text, *copy;

    if (c->priv == NULL)
        return as_strdup("null");
    if ((text = json_dumps(c->priv, JSON_SORT_KEYS | (pretty ? JSON_INDENT(2) : JSON_COMPACT))) == NULL)
        abort();
    /* the application may have given jansson its own allocator: hand back memory that free() takes */
    copy = as_strdup(text);
    json_get_alloc_funcs(NULL, &free_fn);
    free_fn(text);
    return copy;
}

/** RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int is_b64token_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
           ch == '_' || ch == '~' || ch == '+' || ch == '/';
}

int asv_bearer_token(const char *value, size_t len, const char **token, size_t *toklen)
{
    size_t i = 0, start;

    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        ++i;
    if (i + 7 > len || strncasecmp(value + i, "Bearer", 6) != 0 || value[i + 6] != ' ')
        return -1;
    for (i += 6; i < len && value[i] == ' '; ++i)
        ;
    for (start = i; i < len && is_b64token_char(value[i]); ++i)
        ;
    if (i == start)
        return -1;
    while (i < len && value[i] == '=')
        ++i;
    *token = value + start;
    *toklen = i - start;
    while (i < len && (value[i] == ' ' || value[i] == '\t'))
        ++i;
    return i == len ? 0 : -1;
}
