/*
 * authsvc client add|list|show|remove|rotate-secret — client administration:
 * checks the options of a new client (grants, redirect URIs, lifetimes), makes
 * its secret (only its SHA-256 is stored, by store/admin) and prints it once;
 * lists the clients and shows what one has registered, never its secret;
 * removes a client with everything issued to it; replaces a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/cli/options.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/token/grants.h"

static const char usage_client[] =
    "usage: authsvc client add CLIENT_ID [--grant GRANT]... [--audience AUD]... [--scope \"S1 S2\"]\n"
    "                          [--public] [--access-ttl SECONDS] [--refresh-idle-ttl SECONDS]\n"
    "                          [--refresh-max-ttl SECONDS] [--redirect-uri URI]...\n"
    "                          [--post-logout-redirect-uri URI]... [--name \"DISPLAY NAME\"]\n"
    "                          [--consent] [--keep-refresh-on-logout] [--allow RIGHT]...\n"
    "                          [--db CONNINFO]\n"
    "       authsvc client list [--db CONNINFO]           (one line a client: id, type, grants, name)\n"
    "       authsvc client show CLIENT_ID [--db CONNINFO] (everything registered but the secret)\n"
    "       authsvc client remove CLIENT_ID [--db CONNINFO]\n"
    "       authsvc client rotate-secret CLIENT_ID [--db CONNINFO]\n"
    "  remove deletes the client and, in the same transaction, every refresh token family, authorization\n"
    "  code and consent it has: none of its refresh tokens or codes works any more. Access tokens it was\n"
    "  issued stay valid until they expire (resource servers check them offline). Running servers stop\n"
    "  accepting the client within --client-cache-ttl (5 s by default).\n"
    "  rotate-secret gives a confidential client a new secret, printed once as the last line; the old\n"
    "  secret stops working at once (within --client-cache-ttl at running servers): a rotation is\n"
    "  mostly done because a secret leaked, and there is no overlap in which both work. Refresh tokens\n"
    "  the client holds stay valid (used with the new secret).\n"
    "  The TTL options override the server's defaults for this client.\n"
    "  GRANT is client_credentials, password, refresh_token or authorization_code (default:\n"
    "  client_credentials; a public client must name its grants and cannot have client_credentials).\n"
    "  A client with authorization_code (browser sign-in, always with PKCE) needs at least one\n"
    "  --redirect-uri, matched exactly: https://HOST/PATH, http://127.0.0.1:PORT/PATH or\n"
    "  http://[::1]:PORT/PATH for a native app (any port at sign-in), or a private-use scheme such\n"
    "  as com.example.app:/callback; no fragment, no wildcard. --post-logout-redirect-uri (same\n"
    "  rules) is where a logout that names the client may send the browser back. --name is shown\n"
    "  on the sign-in page; --consent marks a third-party app whose scopes the user approves;\n"
    "  --keep-refresh-on-logout lets its refresh tokens outlive a logout (default: they end with it).\n"
    "  RIGHT is introspection (POST /oauth2/introspect) or revocation-feed (GET /oauth2/revocations,\n"
    "  confidential clients only): the endpoints that tell about others' tokens, for resource servers.\n"
    "  A confidential client's secret is printed as the last line: it is shown only once.\n";

/* the longest display name, in characters (the schema's limit) and in bytes */
#define NAME_MAX_CHARS 200
#define NAME_MAX_BYTES 800
/* the most redirect URIs of each kind one client registers */
#define MAX_URIS 32

/** A list from the command line: its items, and the text the output shows for it, "{a,b}". */
typedef struct st_list_t {
    as_strlist_t items; /* the array and every item malloc'd */
    char shown[4096];
} list_t;

/**
 * Appends an item, refusing what the shown form could not tell apart (braces,
 * commas, quotes, backslashes, white space) and a shown form longer than `limit`.
 */
static int list_add(list_t *list, size_t limit, const char *item)
{
    size_t len = strlen(list->shown);
    if (item[0] == '\0' || strpbrk(item, "{},\"\\ \t\n") != NULL)
        return -1;
    if (len + strlen(item) + 3 >= limit)
        return -1;
    if (len > 1)
        list->shown[len++] = ',';
    strcpy(list->shown + len, item);
    if ((list->items.items = realloc(list->items.items, (list->items.len + 1) * sizeof(*list->items.items))) == NULL)
        abort();
    list->items.items[list->items.len++] = as_strdup(item);
    return 0;
}

static void list_dispose(list_t *list)
{
    for (size_t i = 0; i != list->items.len; ++i)
        free((void *)list->items.items[i]);
    free(list->items.items);
}

/** What the command line asks for. */
typedef struct st_request_t {
    const char *conninfo;
    const char *action; /* add, list or show */
    as_admin_client_t client;
    list_t grants, auds, scopes, rights;
    as_strlist_t redirects, logouts; /* the arrays malloc'd, the strings argv's */
    unsigned grant_bits; /* AS_GRANT_* of --grant */
    int is_public;
} request_t;

/** Appends `uri` (argv's) to `list` if it may be registered; -1 with the reason in *why if not. */
static int uri_add(as_strlist_t *list, const char *uri, const char **why)
{
    if (as_redirect_uri_check(uri, strlen(uri), why) != 0)
        return -1;
    for (size_t i = 0; i != list->len; ++i)
        if (strcmp(list->items[i], uri) == 0)
            return 0;
    if (list->len == MAX_URIS) {
        *why = "too many URIs (at most 32 of each kind)";
        return -1;
    }
    if ((list->items = realloc(list->items, (list->len + 1) * sizeof(*list->items))) == NULL)
        abort();
    list->items[list->len++] = uri;
    return 0;
}

/**
 * 1 if `name` can be shown as a client's name: UTF-8 (shortest forms, no
 * surrogates), no control character (C0, DEL, C1), 1 to NAME_MAX_CHARS
 * characters, not only spaces.
 */
static int display_name_valid(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t chars = 0, len = strlen(name);
    int visible = 0;

    if (len == 0 || len > NAME_MAX_BYTES)
        return 0;
    while (*p != '\0') {
        unsigned cp;
        size_t n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1f;
            n = 2;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0f;
            n = 3;
        } else if ((*p & 0xf8) == 0xf0) {
            cp = *p & 0x07;
            n = 4;
        } else {
            return 0;
        }
        for (size_t i = 1; i != n; ++i) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return 0;
        if (cp != ' ')
            visible = 1;
        p += n;
        ++chars;
    }
    return visible && chars <= NAME_MAX_CHARS;
}

/* --- the options: each one line of client_opts below, its checks in a function when a bound is not enough ----- */

static int opt_grant(void *settings, const char *value, char *err, size_t errlen)
{
    request_t *r = settings;
    unsigned bit = as_grant_parse(value, strlen(value));
    if (bit == 0)
        return snprintf(err, errlen, "unknown grant type: %s", value), -1;
    if ((r->grant_bits & bit) == 0 && list_add(&r->grants, 256, value) != 0)
        return snprintf(err, errlen, "invalid grant: %s", value), -1;
    r->grant_bits |= bit;
    return 0;
}

static int opt_audience(void *settings, const char *value, char *err, size_t errlen)
{
    request_t *r = settings;
    if (list_add(&r->auds, sizeof(r->auds.shown), value) != 0)
        return snprintf(err, errlen, "invalid audience (no spaces, quotes, braces or commas): %s", value), -1;
    return 0;
}

static int opt_scope(void *settings, const char *value, char *err, size_t errlen)
{
    request_t *r = settings;
    char *copy = as_strdup(value), *save = NULL;
    int ret = 0;
    for (char *tok = strtok_r(copy, " ", &save); tok != NULL && ret == 0; tok = strtok_r(NULL, " ", &save)) {
        for (const char *p = tok; *p && ret == 0; ++p)
            if ((unsigned char)*p < 0x21 || *p == '"' || *p == '\\' || (unsigned char)*p > 0x7e)
                ret = -1;
        if (ret != 0 || list_add(&r->scopes, sizeof(r->scopes.shown), tok) != 0) {
            snprintf(err, errlen, "invalid scope token: %s", tok);
            ret = -1;
        }
    }
    free(copy);
    return ret;
}

static int add_uri(as_strlist_t *list, const char *prefix, const char *value, char *err, size_t errlen)
{
    const char *why;
    if (uri_add(list, value, &why) != 0)
        return snprintf(err, errlen, "invalid --%sredirect-uri %s: %s", prefix, value, why), -1;
    return 0;
}

static int opt_redirect_uri(void *settings, const char *value, char *err, size_t errlen)
{
    return add_uri(&((request_t *)settings)->redirects, "", value, err, errlen);
}

static int opt_logout_uri(void *settings, const char *value, char *err, size_t errlen)
{
    return add_uri(&((request_t *)settings)->logouts, "post-logout-", value, err, errlen);
}

static int opt_name(void *settings, const char *value, char *err, size_t errlen)
{
    request_t *r = settings;
    if (r->client.display_name != NULL)
        return snprintf(err, errlen, "--name given twice"), -1;
    if (!display_name_valid(value))
        return snprintf(err, errlen, "invalid --name (UTF-8, 1 to %d characters, no control characters)", NAME_MAX_CHARS), -1;
    r->client.display_name = value;
    return 0;
}

static int opt_allow(void *settings, const char *value, char *err, size_t errlen)
{
    request_t *r = settings;
    if (strcmp(value, "introspection") != 0 && strcmp(value, "revocation-feed") != 0)
        return snprintf(err, errlen, "unknown --allow %s (introspection or revocation-feed)", value), -1;
    if (strstr(r->rights.shown, value) == NULL && list_add(&r->rights, sizeof(r->rights.shown), value) != 0)
        return snprintf(err, errlen, "invalid --allow %s", value), -1;
    return 0;
}

#define T request_t
/* every option but --db is one only `add` takes (client list and show refuse them) */
static const as_opt_t client_opts[] = {
    {.name = "db", AS_OPT_AT_STRING(T, conninfo)},
    {.name = "grant", .type = AS_OPT_FN, .fn = opt_grant},
    {.name = "audience", .type = AS_OPT_FN, .fn = opt_audience},
    {.name = "scope", .type = AS_OPT_FN, .fn = opt_scope},
    {.name = "public", AS_OPT_AT_FLAG(T, is_public)},
    {.name = "access-ttl", AS_OPT_AT_INT(T, client.access_ttl), .min = 1, .max = 86400},
    {.name = "refresh-idle-ttl", AS_OPT_AT_INT(T, client.refresh_idle_ttl), .min = 1, .max = 10 * 365 * 86400},
    {.name = "refresh-max-ttl", AS_OPT_AT_INT(T, client.refresh_max_ttl), .min = 1, .max = 10 * 365 * 86400},
    {.name = "redirect-uri", .type = AS_OPT_FN, .fn = opt_redirect_uri},
    {.name = "post-logout-redirect-uri", .type = AS_OPT_FN, .fn = opt_logout_uri},
    {.name = "name", .type = AS_OPT_FN, .fn = opt_name},
    {.name = "consent", AS_OPT_AT_FLAG(T, client.consent)},
    {.name = "keep-refresh-on-logout", AS_OPT_AT_FLAG(T, client.keep_refresh_on_logout)},
    {.name = "allow", .type = AS_OPT_FN, .fn = opt_allow},
};
#undef T
#define NUM_CLIENT_OPTS (sizeof(client_opts) / sizeof(client_opts[0]))

/** Reads and checks the command line into `r`; -1 to go on, or the exit status to end with (the usage printed). */
static int parse_request(int argc, char **argv, request_t *r)
{
    unsigned char given[NUM_CLIENT_OPTS] = {0};
    int first, ret, add_options = 0;

    if ((ret = as_opt_parse_argv(client_opts, NUM_CLIENT_OPTS, usage_client, argc, argv, r, given, &first)) != -1)
        return ret;
    for (size_t i = 1; i != NUM_CLIENT_OPTS; ++i) /* client_opts[0] is --db */
        add_options |= given[i];
    if (argc - first < 1)
        return as_cli_usage(usage_client, "%s", "expected: client add|list|show|remove|rotate-secret");
    r->action = argv[first];
    if (strcmp(r->action, "list") == 0 || strcmp(r->action, "show") == 0 || strcmp(r->action, "remove") == 0 ||
        strcmp(r->action, "rotate-secret") == 0) {
        int is_list = strcmp(r->action, "list") == 0;
        if (argc - first != (is_list ? 1 : 2))
            return as_cli_usage(usage_client, "expected: client %s%s", r->action, is_list ? "" : " CLIENT_ID");
        if (add_options)
            return as_cli_usage(usage_client, "client %s takes no option but --db", r->action);
        r->client.client_id = argv[first + 1]; /* list: argv's NULL */
        return -1;
    }
    if (argc - first != 2 || strcmp(r->action, "add") != 0)
        return as_cli_usage(usage_client, "%s",
                            "expected: client add CLIENT_ID, client list, client show|remove|rotate-secret CLIENT_ID");
    r->client.client_id = argv[first + 1];
    if (r->client.client_id[0] == '\0' || strlen(r->client.client_id) > 255 || strpbrk(r->client.client_id, ":") != NULL)
        return as_cli_usage(usage_client, "invalid client id (1 to 255 characters, no colon): %s", r->client.client_id);
    for (const char *p = r->client.client_id; *p; ++p)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return as_cli_usage(usage_client, "%s", "invalid client id: control character");
    if (r->grant_bits == 0) {
        if (r->is_public)
            return as_cli_usage(usage_client, "%s",
                                "a public client needs --grant (authorization_code, password and/or refresh_token)");
        list_add(&r->grants, 256, "client_credentials");
        r->grant_bits = AS_GRANT_CLIENT_CREDENTIALS;
    }
    if (r->is_public && (r->grant_bits & AS_GRANT_CLIENT_CREDENTIALS))
        return as_cli_usage(usage_client, "%s", "a public client cannot use client_credentials");
    if (r->is_public && strstr(r->rights.shown, "revocation-feed") != NULL)
        return as_cli_usage(usage_client, "%s", "a public client cannot read the revocation feed (it has no secret)");
    if (r->grant_bits & AS_GRANT_AUTHORIZATION_CODE) {
        if (r->redirects.len == 0)
            return as_cli_usage(usage_client, "%s", "a client with --grant authorization_code needs at least one --redirect-uri");
    } else {
        const char *needs = r->redirects.len != 0              ? "--redirect-uri"
                            : r->logouts.len != 0              ? "--post-logout-redirect-uri"
                            : r->client.consent                ? "--consent"
                            : r->client.keep_refresh_on_logout ? "--keep-refresh-on-logout"
                                                               : NULL;
        if (needs != NULL)
            return as_cli_usage(usage_client, "%s is for clients that sign users in: add --grant authorization_code", needs);
    }
    strcat(r->grants.shown, "}");
    strcat(r->auds.shown, "}");
    strcat(r->scopes.shown, "}");
    return -1;
}

static void print_safe(const char *s)
{
    as_cli_print_safe(stdout, s);
}

/** Prints a list separated by `sep`, or `none` if it is empty. */
static void print_list(const as_strlist_t *list, const char *sep, const char *none)
{
    if (list->len == 0)
        fputs(none, stdout);
    for (size_t i = 0; i != list->len; ++i) {
        if (i != 0)
            fputs(sep, stdout);
        print_safe(list->items[i]);
    }
}

static void print_ttl(const char *name, int seconds)
{
    if (seconds == 0)
        printf("%-26s (server default)\n", name);
    else
        printf("%-26s %d\n", name, seconds);
}

/** `client list`: one line a client (id, type, grants, name), ids aligned. */
static void print_list_lines(const as_admin_client_info_t *infos, size_t num)
{
    int id_width = 9, grants_width = 6;
    for (size_t i = 0; i != num; ++i) {
        size_t glen = 0;
        for (size_t j = 0; j != infos[i].grant_types.len; ++j)
            glen += strlen(infos[i].grant_types.items[j]) + (j != 0);
        for (size_t j = 0; j != infos[i].rights.len; ++j)
            glen += strlen(infos[i].rights.items[j]) + (j != 0 ? 1 : 8);
        if (strlen(infos[i].client_id) > (size_t)id_width)
            id_width = strlen(infos[i].client_id) > 64 ? 64 : (int)strlen(infos[i].client_id);
        if (glen > (size_t)grants_width)
            grants_width = (int)glen;
    }
    for (size_t i = 0; i != num; ++i) {
        const as_admin_client_info_t *c = infos + i;
        int printed = 0;
        print_safe(c->client_id);
        printf("%*s  %-12s  ", id_width - (int)strlen(c->client_id) > 0 ? id_width - (int)strlen(c->client_id) : 0, "",
               c->is_public ? "public" : "confidential");
        for (size_t j = 0; j != c->grant_types.len; ++j) {
            if (j != 0)
                putchar(',');
            print_safe(c->grant_types.items[j]);
            printed += (int)strlen(c->grant_types.items[j]) + (j != 0);
        }
        for (size_t j = 0; j != c->rights.len; ++j) { /* "  allow:introspection,revocation-feed" */
            fputs(j != 0 ? "," : "  allow:", stdout);
            print_safe(c->rights.items[j]);
            printed += (int)strlen(c->rights.items[j]) + (j != 0 ? 1 : 8);
        }
        if (c->display_name != NULL) {
            printf("%*s  ", grants_width - printed > 0 ? grants_width - printed : 0, "");
            print_safe(c->display_name);
        }
        putchar('\n');
    }
}

/** `client show`: every registered setting, one "name value" line each; never the secret or its hash. */
static void print_show(const as_admin_client_info_t *c)
{
    printf("%-26s ", "client_id");
    print_safe(c->client_id);
    printf("\n%-26s %s\n%-26s ", "type", c->is_public ? "public (no secret)" : "confidential (has a secret)", "client_name");
    if (c->display_name != NULL)
        print_safe(c->display_name);
    else
        fputs("(none: the client id is shown)", stdout);
    printf("\n%-26s ", "grant_types");
    print_list(&c->grant_types, " ", "(none)");
    printf("\n%-26s ", "audiences");
    print_list(&c->audiences, " ", "(none)");
    printf("\n%-26s ", "scope");
    print_list(&c->scopes, " ", "(none)");
    printf("\n%-26s ", "redirect_uris");
    print_list(&c->redirect_uris, "\n                           ", "(none)");
    printf("\n%-26s ", "post_logout_redirect_uris");
    print_list(&c->post_logout_redirect_uris, "\n                           ", "(none)");
    printf("\n%-26s %s\n", "consent", c->consent ? "required (third-party)" : "not asked (first-party)");
    printf("%-26s %s\n", "logout_revokes_refresh", c->logout_revokes_refresh ? "yes" : "no (--keep-refresh-on-logout)");
    printf("%-26s ", "rights");
    print_list(&c->rights, " ", "(none: no introspection, no revocation feed)");
    putchar('\n');
    print_ttl("access_ttl", c->access_ttl);
    print_ttl("refresh_idle_ttl", c->refresh_idle_ttl);
    print_ttl("refresh_max_ttl", c->refresh_max_ttl);
    printf("%-26s %s\n", "created_at", c->created_at);
}

/** `client list` and `client show CLIENT_ID`. */
static int client_read(const request_t *r)
{
    as_admin_client_info_t *infos = NULL;
    size_t num = 0;
    as_admin_t *db = as_cli_db_open(r->conninfo);
    int err;

    if (db == NULL)
        return 1;
    err = as_admin_client_list(db, r->client.client_id, &infos, &num);
    if (err == 0) {
        if (r->client.client_id == NULL)
            print_list_lines(infos, num);
        else
            print_show(infos);
    } else {
        as_cli_db_failed(db, err, "client", "no client ", r->client.client_id);
    }
    as_admin_client_infos_free(infos, num);
    as_admin_close(db);
    return err == 0 ? 0 : 1;
}

/** `client remove CLIENT_ID`. */
static int client_remove(const request_t *r)
{
    int64_t families = 0, codes = 0;
    as_admin_t *db = as_cli_db_open(r->conninfo);
    int err;

    if (db == NULL)
        return 1;
    if ((err = as_admin_client_remove(db, r->client.client_id, &families, &codes)) == 0) {
        fputs("client ", stdout);
        print_safe(r->client.client_id);
        printf(" removed; revoked with it: %lld refresh token families, %lld unused authorization codes\n", (long long)families,
               (long long)codes);
    } else {
        as_cli_db_failed(db, err, "client", "no client ", r->client.client_id);
    }
    as_admin_close(db);
    return err == 0 ? 0 : 1;
}

/** Makes a secret: 256 random bits as base64url in `text`, and its SHA-256 (what the database keeps) in `hash`. */
static void make_secret(char text[AS_B64URL_ENCLEN(32) + 1], uint8_t hash[AS_SHA256_LEN])
{
    uint8_t secret[32];
    as_random_bytes(secret, sizeof(secret));
    as_b64url_encode(secret, sizeof(secret), text);
    as_sha256(text, strlen(text), hash);
    as_wipe(secret, sizeof(secret));
}

/** `client rotate-secret CLIENT_ID`: a new secret, printed once; the old one no longer matches. */
static int client_rotate_secret(const request_t *r)
{
    uint8_t hash[AS_SHA256_LEN];
    char text[AS_B64URL_ENCLEN(32) + 1];
    as_admin_t *db = as_cli_db_open(r->conninfo);
    int err;

    if (db == NULL)
        return 1;
    make_secret(text, hash);
    if ((err = as_admin_client_rotate_secret(db, r->client.client_id, hash)) == 0) {
        fputs("client ", stdout);
        print_safe(r->client.client_id);
        printf(": new secret; the old one no longer works\nclient secret (shown only once):\n%s\n", text);
    } else if (err == AS_ERR_UNSUPPORTED) {
        fputs("authsvc: client ", stderr);
        as_cli_print_safe(stderr, r->client.client_id);
        fputs(" is public: it has no secret\n", stderr);
    } else {
        as_cli_db_failed(db, err, "client", "no client ", r->client.client_id);
    }
    as_wipe(text, sizeof(text));
    as_admin_close(db);
    return err == 0 ? 0 : 1;
}

/** The settings `client add` was given beyond the first line's, one line each (nothing without them). */
static void print_added_settings(const request_t *r)
{
    if (r->redirects.len != 0) {
        fputs("  redirect URIs: ", stdout);
        print_list(&r->redirects, " ", "");
        putchar('\n');
    }
    if (r->logouts.len != 0) {
        fputs("  post-logout redirect URIs: ", stdout);
        print_list(&r->logouts, " ", "");
        putchar('\n');
    }
    if (r->client.display_name != NULL)
        printf("  name: %s\n", r->client.display_name);
    if (r->client.consent)
        fputs("  consent: the user approves its scopes (third-party)\n", stdout);
    if (r->client.keep_refresh_on_logout)
        fputs("  refresh tokens outlive a logout\n", stdout);
    if (r->rights.items.len != 0) {
        fputs("  allowed: ", stdout);
        print_list(&r->rights.items, " ", "");
        putchar('\n');
    }
}

int as_cli_client(int argc, char **argv)
{
    request_t r = {.conninfo = "", .grants.shown = "{", .auds.shown = "{", .scopes.shown = "{", .rights.shown = "{"};
    /* 256 random bits, so a fast hash suffices: the database keeps SHA-256 of the secret's text, never the secret */
    uint8_t hash[AS_SHA256_LEN];
    char secret_text[AS_B64URL_ENCLEN(32) + 1] = "";
    as_admin_t *db = NULL;
    int ret, err;

    if ((ret = parse_request(argc, argv, &r)) != -1)
        goto Exit;
    if (strcmp(r.action, "add") != 0) {
        ret = strcmp(r.action, "remove") == 0          ? client_remove(&r)
              : strcmp(r.action, "rotate-secret") == 0 ? client_rotate_secret(&r)
                                                       : client_read(&r);
        goto Exit;
    }
    ret = 1;
    make_secret(secret_text, hash);
    r.client.secret_hash = r.is_public ? NULL : hash;
    r.client.grant_types = r.grants.items;
    r.client.audiences = r.auds.items;
    r.client.scopes = r.scopes.items;
    r.client.rights = r.rights.items;
    r.client.redirect_uris = r.redirects;
    r.client.post_logout_redirect_uris = r.logouts;

    if ((db = as_cli_db_open(r.conninfo)) == NULL)
        goto Exit;
    if ((err = as_admin_client_add(db, &r.client)) != 0) {
        as_cli_db_failed(db, err, "client", "no client ", r.client.client_id);
        goto Exit;
    }
    printf("client %s added (%s; grants %s; audiences %s; scopes %s)\n", r.client.client_id, r.is_public ? "public" : "confidential",
           r.grants.shown, r.auds.shown, r.scopes.shown);
    print_added_settings(&r);
    if (!r.is_public)
        printf("client secret (shown only once):\n%s\n", secret_text);
    ret = 0;
Exit:
    as_wipe(secret_text, sizeof(secret_text));
    as_admin_close(db);
    list_dispose(&r.grants);
    list_dispose(&r.auds);
    list_dispose(&r.scopes);
    list_dispose(&r.rights);
    free(r.redirects.items);
    free(r.logouts.items);
    return ret;
}
