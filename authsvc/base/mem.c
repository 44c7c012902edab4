/*
 * base/mem — heap allocation that aborts on failure, as h2o, Redis and palloc
 * do: callers never check for NULL (interface in authsvc/as.h).
 */
#include <stdlib.h>
#include <string.h>
#include "authsvc/as.h"

void *as_malloc(size_t sz)
{
    void *p = malloc(sz == 0 ? 1 : sz);
    if (p == NULL)
        as_fatal("out of memory");
    return p;
}

void *as_calloc(size_t n, size_t sz)
{
    void *p = calloc(n == 0 ? 1 : n, sz == 0 ? 1 : sz);
    if (p == NULL)
        as_fatal("out of memory");
    return p;
}

char *as_strdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        as_fatal("out of memory");
    return p;
}
