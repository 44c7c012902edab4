/*
 * cli/paths — where the files that ship with the binary are. They are found relative to the running binary,
 * not at a path baked in at build time, so that one build runs from its build tree and from wherever it is
 * installed (cmake --install --prefix DIR, a distribution package, a moved tree).
 */
#ifndef AS_CLI_PATHS_H
#define AS_CLI_PATHS_H

#include <stddef.h>

/**
 * Finds the migrations directory and writes its path to `out` (`outlen` bytes). In order:
 *   1. `override` (the --migrations flag) if not NULL, as given;
 *   2. $AUTHSVC_MIGRATIONS if set and not empty, as given;
 *   3. BINDIR/../share/authsvc/migrations, BINDIR being the directory of the running binary (/proc/self/exe):
 *      an installed tree, PREFIX/bin/authsvc beside PREFIX/share/authsvc/migrations (the relative path
 *      follows CMAKE_INSTALL_BINDIR and CMAKE_INSTALL_DATADIR);
 *   4. BINDIR/migrations: the build tree, BUILD/authsvc beside the link BUILD/migrations to the sources'.
 * 1 and 2 are not checked (a wrong path is reported by whoever opens it); 3 and 4 are used only if they are
 * directories, and are written resolved (no "..", no link). Returns 0, AS_ERR_NOT_FOUND if no candidate
 * exists, or AS_ERR_TOO_LARGE if the path does not fit in `out`. Blocking file-system calls; any thread.
 */
int as_cli_migrations_dir(const char *override, char *out, size_t outlen);

/**
 * Finds a file that ships with the binary and writes its resolved path to `out`: BINDIR/../share/authsvc/NAME
 * (installed; the relative path follows the install layout), then BINDIR/NAME (the build tree, where CMake
 * copies it). Returns 0, AS_ERR_NOT_FOUND or AS_ERR_TOO_LARGE. Blocking file-system calls; any thread.
 */
int as_cli_share_file(const char *name, char *out, size_t outlen);

#endif
