/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - allocation wrappers that abort on exhaustion.
 */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(size_t size)
{
    (void)fprintf(stderr, "tgharvest: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
tgh_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *
tgh_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        oom(n * size);
    return p;
}

void *
tgh_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);

    if (q == NULL)
        oom(size);
    return q;
}

char *
tgh_strdup(const char *s)
{
    return tgh_strndup(s, strlen(s));
}

char *
tgh_strndup(const char *s, size_t n)
{
    char *p = tgh_malloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void
tgh_free(void *p)
{
    free(p);
}
