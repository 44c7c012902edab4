/*
 * authsvc client add — registers a client: checks the options, makes the
 * secret (only its SHA-256 is stored, by store/admin) and prints it once.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"
#include "authsvc/cli/cli.h"
#include "authsvc/crypto/crypto.h"
#include "authsvc/token/grants.h"

static const char usage_client[] =
    "usage: authsvc client add CLIENT_ID [--grant GRANT]... [--audience AUD]... [--scope \"S1 S2\"]\n"
    "                          [--public] [--access-ttl SECONDS] [--refresh-idle-ttl SECONDS]\n"
    "                          [--refresh-max-ttl SECONDS] [--db CONNINFO]\n"
    "  The TTL options override the server's defaults for this client.\n"
    "  GRANT is client_credentials, password or refresh_token (default: client_credentials;\n"
    "  a public client must name its grants and cannot have client_credentials).\n"
    "  A confidential client's secret is printed as the last line: it is shown only once.\n";

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
    as_admin_client_t client;
    list_t grants, auds, scopes;
    int is_public;
} request_t;

/** Reads and checks the command line into `r`; -1 to go on, or the exit status to end with (the usage printed). */
static int parse_request(int argc, char **argv, request_t *r)
{
    static const struct option opts[] = {{"grant", required_argument, NULL, 'g'},
                                         {"audience", required_argument, NULL, 'a'},
                                         {"scope", required_argument, NULL, 's'},
                                         {"public", no_argument, NULL, 'p'},
                                         {"access-ttl", required_argument, NULL, 't'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"refresh-idle-ttl", required_argument, NULL, 'i'},
                                         {"refresh-max-ttl", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    unsigned grant_bits = 0;
    long v;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'g': {
            unsigned bit = as_grant_parse(optarg, strlen(optarg));
            if (bit == 0)
                return as_cli_usage(usage_client, "unknown grant type: %s", optarg);
            if ((grant_bits & bit) == 0 && list_add(&r->grants, 256, optarg) != 0)
                return as_cli_usage(usage_client, "invalid grant: %s", optarg);
            grant_bits |= bit;
        } break;
        case 'a':
            if (list_add(&r->auds, sizeof(r->auds.shown), optarg) != 0)
                return as_cli_usage(usage_client, "invalid audience (no spaces, quotes, braces or commas): %s", optarg);
            break;
        case 's': {
            char *copy = as_strdup(optarg), *save = NULL;
            for (char *tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
                int ok = 1;
                for (const char *p = tok; *p; ++p)
                    if ((unsigned char)*p < 0x21 || *p == '"' || *p == '\\' || (unsigned char)*p > 0x7e)
                        ok = 0;
                if (!ok || list_add(&r->scopes, sizeof(r->scopes.shown), tok) != 0) {
                    int status = as_cli_usage(usage_client, "invalid scope token: %s", tok);
                    free(copy);
                    return status;
                }
            }
            free(copy);
        } break;
        case 'p':
            r->is_public = 1;
            break;
        case 't':
            if (as_cli_parse_int(optarg, 1, 86400, &v) != 0)
                return as_cli_usage(usage_client, "invalid --access-ttl: %s", optarg);
            r->client.access_ttl = (int)v;
            break;
        case 'i':
        case 'm':
            if (as_cli_parse_int(optarg, 1, 10 * 365 * 86400, &v) != 0)
                return as_cli_usage(usage_client, "invalid --refresh-%s-ttl: %s", c == 'i' ? "idle" : "max", optarg);
            *(c == 'i' ? &r->client.refresh_idle_ttl : &r->client.refresh_max_ttl) = (int)v;
            break;
        case 'd':
            r->conninfo = optarg;
            break;
        case 'h':
            fputs(usage_client, stdout);
            return 0;
        default:
            return as_cli_usage(usage_client, "%s", "invalid option");
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "add") != 0)
        return as_cli_usage(usage_client, "%s", "expected: client add CLIENT_ID");
    r->client.client_id = argv[optind + 1];
    if (r->client.client_id[0] == '\0' || strlen(r->client.client_id) > 255 || strpbrk(r->client.client_id, ":") != NULL)
        return as_cli_usage(usage_client, "invalid client id (1 to 255 characters, no colon): %s", r->client.client_id);
    for (const char *p = r->client.client_id; *p; ++p)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return as_cli_usage(usage_client, "%s", "invalid client id: control character");
    if (grant_bits == 0) {
        if (r->is_public)
            return as_cli_usage(usage_client, "%s", "a public client needs --grant (password and/or refresh_token)");
        list_add(&r->grants, 256, "client_credentials");
        grant_bits = AS_GRANT_CLIENT_CREDENTIALS;
    }
    if (r->is_public && (grant_bits & AS_GRANT_CLIENT_CREDENTIALS))
        return as_cli_usage(usage_client, "%s", "a public client cannot use client_credentials");
    strcat(r->grants.shown, "}");
    strcat(r->auds.shown, "}");
    strcat(r->scopes.shown, "}");
    return -1;
}

int as_cli_client(int argc, char **argv)
{
    request_t r = {.conninfo = "", .grants.shown = "{", .auds.shown = "{", .scopes.shown = "{"};
    /* 256 random bits, so a fast hash suffices: the database keeps SHA-256 of the secret's text, never the secret */
    uint8_t secret[32], hash[AS_SHA256_LEN];
    char secret_text[AS_B64URL_ENCLEN(32) + 1] = "";
    as_admin_t *db = NULL;
    int ret;

    if ((ret = parse_request(argc, argv, &r)) != -1)
        goto Exit;
    ret = 1;
    as_random_bytes(secret, sizeof(secret));
    as_b64url_encode(secret, sizeof(secret), secret_text);
    as_sha256(secret_text, strlen(secret_text), hash);
    r.client.secret_hash = r.is_public ? NULL : hash;
    r.client.grant_types = r.grants.items;
    r.client.audiences = r.auds.items;
    r.client.scopes = r.scopes.items;

    if ((db = as_cli_db_open(r.conninfo)) == NULL)
        goto Exit;
    switch (as_admin_client_add(db, &r.client)) {
    case 0:
        printf("client %s added (%s; grants %s; audiences %s; scopes %s)\n", r.client.client_id,
               r.is_public ? "public" : "confidential", r.grants.shown, r.auds.shown, r.scopes.shown);
        if (!r.is_public) {
            printf("client secret (shown only once):\n%s\n", secret_text);
        }
        ret = 0;
        break;
    case AS_ERR_CONFLICT:
        fprintf(stderr, "authsvc: client %s already exists\n", r.client.client_id);
        break;
    default:
        as_cli_db_error(db);
        break;
    }
Exit:
    as_wipe(secret, sizeof(secret));
    as_wipe(secret_text, sizeof(secret_text));
    as_admin_close(db);
    list_dispose(&r.grants);
    list_dispose(&r.auds);
    list_dispose(&r.scopes);
    return ret;
}
