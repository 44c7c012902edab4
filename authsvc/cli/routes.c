/*
 * authsvc routes — prints the HTTP route table the server registers (app/app.h),
 * one "METHOD PATH" line per route.
 */
#include <stdio.h>
#include "authsvc/app/app.h"
#include "authsvc/cli/cli.h"

int as_cli_routes(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return as_cli_usage("usage: authsvc routes\nPrints the HTTP routes, one \"METHOD PATH\" per line (HEAD is served wherever GET is).\n",
                            "%s", "routes takes no argument");
    as_app_print_routes(stdout);
    return 0;
}
