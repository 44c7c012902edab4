/*
 * authsvc routes — prints the HTTP route table the server registers (app/app.h),
 * one "METHOD PATH" line per route.
 */
#include <stdio.h>
#include <string.h>
#include "authsvc/app/app.h"
#include "authsvc/cli/cli.h"

static const char usage_routes[] =
    "usage: authsvc routes\nPrints the HTTP routes, one \"METHOD PATH\" per line (HEAD is served wherever GET is).\n";

int as_cli_routes(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_routes, stdout);
        return 0;
    }
    if (argc != 1)
        return as_cli_usage(usage_routes, "%s", "routes takes no argument");
    as_app_print_routes(stdout);
    return 0;
}
