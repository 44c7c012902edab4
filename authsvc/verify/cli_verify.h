/*
 * cli/verify — `authsvc verify TOKEN`: checks an access token the way a resource server does, with
 * libauthsvc-verify and the issuer's JWKS. Runs on the main thread of the CLI; blocking I/O.
 */
#ifndef AS_VERIFY_CLI_VERIFY_H
#define AS_VERIFY_CLI_VERIFY_H

/**
 * argv[0] is "verify". Prints the claims as JSON on standard output and returns 0 for a valid token;
 * prints the reason on standard error and returns 1 for an invalid one, 2 for a usage error.
 */
int as_cli_verify(int argc, char **argv);

#endif
