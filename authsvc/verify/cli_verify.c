/*
 * authsvc verify TOKEN — what a resource server would say about TOKEN. Uses only the public API of
 * libauthsvc-verify, so it is also the smallest complete example of that API.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "authsvc-verify.h"
#include "authsvc/verify/cli_verify.h"

#define DEFAULT_ISSUER "http://127.0.0.1:8080" /* authsvc serve's default */

static const char usage[] =
    "usage: authsvc verify TOKEN [OPTIONS]\n"
    "Verifies an access token offline, as a resource server does: signature with the issuer's JWKS, typ,\n"
    "iss, aud, exp and nbf. Prints its claims as JSON (exit 0) or why it is invalid (standard error, exit 1).\n"
    "TOKEN - reads the token from standard input (keeps it out of the process list and shell history).\n"
    "  --issuer URL     the expected iss (default " DEFAULT_ISSUER ")\n"
    "  --audience AUD   an audience the token must have (default: any)\n"
    "  --jwks-url URL   where the keys are (default ISSUER/.well-known/jwks.json)\n"
    "  --leeway S       clock skew tolerated on exp and nbf, in seconds (default 30)\n";

static int fail_usage(const char *msg, const char *arg)
{
    fprintf(stderr, "authsvc verify: %s%s\n%s", msg, arg != NULL ? arg : "", usage);
    return 2;
}

/** Reads a token from standard input (one line; surrounding whitespace dropped). NULL if there is none. */
static char *read_token(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
        line[--n] = '\0';
    return line;
}

int as_cli_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"issuer", required_argument, NULL, 'i'},   {"audience", required_argument, NULL, 'a'},
        {"jwks-url", required_argument, NULL, 'j'}, {"leeway", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    asv_config_t cfg = {.issuer = DEFAULT_ISSUER};
    char reason[ASV_REASON_MAX], *jwks_url = NULL, *stdin_token = NULL, *end, *json;
    const char *token;
    asv_verifier_t *v = NULL;
    asv_claims_t claims;
    int c, ret = 1;
    long leeway;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            cfg.issuer = optarg;
            break;
        case 'a':
            cfg.audience = optarg;
            break;
        case 'j':
            cfg.jwks_url = optarg;
            break;
        case 'l':
            leeway = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || leeway < 0 || leeway > 86400)
                return fail_usage("--leeway takes seconds from 0 to 86400: ", optarg);
            cfg.leeway_seconds = leeway == 0 ? ASV_NO_LEEWAY : (int)leeway;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fprintf(stderr, "%s", usage);
            return 2;
        }
    }
    if (optind != argc - 1)
        return fail_usage(optind == argc ? "the token is missing" : "unexpected argument: ",
                          optind == argc ? NULL : argv[optind + 1]);
    if (strcmp(argv[optind], "-") == 0) {
        if ((stdin_token = read_token()) == NULL)
            return fail_usage("no token on standard input", NULL);
        token = stdin_token;
    } else {
        token = argv[optind];
    }
    if (cfg.jwks_url == NULL) {
        size_t n = strlen(cfg.issuer);
        while (n > 0 && cfg.issuer[n - 1] == '/')
            --n;
        jwks_url = malloc(n + sizeof("/.well-known/jwks.json"));
        if (jwks_url == NULL)
            abort();
        sprintf(jwks_url, "%.*s/.well-known/jwks.json", (int)n, cfg.issuer);
        cfg.jwks_url = jwks_url;
    }

    if ((v = asv_verifier_new(&cfg, reason, sizeof(reason))) == NULL) {
        fprintf(stderr, "authsvc verify: %s\n", reason);
        ret = 2;
        goto Exit;
    }
    /* fetch first, so that an unreachable JWKS reads as such and not as an unknown kid */
    if (asv_refresh_jwks(v, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "authsvc verify: %s\n", reason);
        goto Exit;
    }
    if (asv_verify(v, token, strlen(token), &claims, reason, sizeof(reason)) != 0) {
        fprintf(stderr, "authsvc verify: invalid token: %s\n", reason);
        goto Exit;
    }
    json = asv_claims_json(&claims, 1);
    printf("%s\n", json);
    free(json);
    asv_claims_clear(&claims);
    ret = 0;
Exit:
    asv_verifier_free(v);
    free(jwks_url);
    if (stdin_token != NULL) {
        explicit_bzero(stdin_token, strlen(stdin_token)); /* a token is a bearer secret */
        free(stdin_token);
    }
    return ret;
}
