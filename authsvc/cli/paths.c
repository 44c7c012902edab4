/*
 * cli/paths — finding what ships with the binary (interface and search order in paths.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "authsvc/as.h"
#include "authsvc/cli/paths.h"

/* from the binary's directory to the installed migrations; CMake computes it from the install layout */
#ifndef AS_MIGRATIONS_FROM_BINDIR
#define AS_MIGRATIONS_FROM_BINDIR "../share/authsvc/migrations"
#endif
/* from the binary's directory to the installed share directory (the blocklist of common passwords) */
#ifndef AS_SHARE_FROM_BINDIR
#define AS_SHARE_FROM_BINDIR "../share/authsvc"
#endif

static int copy_out(const char *path, char *out, size_t outlen)
{
    size_t len = strlen(path);
    if (len >= outlen)
        return AS_ERR_TOO_LARGE;
    memcpy(out, path, len + 1);
    return 0;
}

/** Writes the canonical path of BINDIR/rel to `out` if it is a directory (`want_dir`) or a regular file; 0 or
 * AS_ERR_NOT_FOUND. */
static int existing(const char *bindir, const char *rel, int want_dir, char *out, size_t outlen)
{
    char path[PATH_MAX], resolved[PATH_MAX];
    struct stat st;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", bindir, rel) >= sizeof(path))
        return AS_ERR_NOT_FOUND;
    if (realpath(path, resolved) == NULL || stat(resolved, &st) != 0 || !(want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
        return AS_ERR_NOT_FOUND;
    return copy_out(resolved, out, outlen);
}

/** The directory of the running binary: the kernel's absolute path, links resolved (" (deleted)" appended
 * after an upgrade in place: the directory is still right). */
static int binary_dir(char *bindir, size_t size)
{
    ssize_t n;
    char *slash;

    if ((n = readlink("/proc/self/exe", bindir, size)) <= 0 || (size_t)n == size)
        return AS_ERR_NOT_FOUND;
    bindir[n] = '\0';
    if ((slash = strrchr(bindir, '/')) == NULL)
        return AS_ERR_NOT_FOUND;
    *slash = '\0';
    return 0;
}

int as_cli_share_file(const char *name, char *out, size_t outlen)
{
    char bindir[PATH_MAX], rel[PATH_MAX];
    int ret;

    if (binary_dir(bindir, sizeof(bindir)) != 0)
        return AS_ERR_NOT_FOUND;
    if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", AS_SHARE_FROM_BINDIR, name) < sizeof(rel) &&
        (ret = existing(bindir, rel, 0, out, outlen)) != AS_ERR_NOT_FOUND)
        return ret;
    return existing(bindir, name, 0, out, outlen);
}

int as_cli_migrations_dir(const char *override, char *out, size_t outlen)
{
    static const char *const from_bindir[] = {AS_MIGRATIONS_FROM_BINDIR, "migrations"};
    char bindir[PATH_MAX];
    const char *env;
    int ret;

    if (override != NULL)
        return copy_out(override, out, outlen);
    if ((env = getenv("AUTHSVC_MIGRATIONS")) != NULL && env[0] != '\0')
        return copy_out(env, out, outlen);
    if (binary_dir(bindir, sizeof(bindir)) != 0)
        return AS_ERR_NOT_FOUND;
    for (size_t i = 0; i != sizeof(from_bindir) / sizeof(from_bindir[0]); ++i)
        if ((ret = existing(bindir, from_bindir[i], 1, out, outlen)) != AS_ERR_NOT_FOUND)
            return ret;
    return AS_ERR_NOT_FOUND;
}
