/* SPDX-License-Identifier: MIT */
/*
 * jpath.c - places in a JSON document formatted for error messages.
 */
#include "core/jpath.h"

#include <stdio.h>

/*
 * Write at as "a.b[3].c" into buf, cut to fit, and return the length it has
 * in full, as snprintf does. The root writes nothing (not even a NUL).
 */
static size_t
path_put(const struct tgh_jpath *at, char *buf, size_t size)
{
    size_t n;
    int k = 0;

    if (at == NULL)
        return 0;
    n = path_put(at->up, buf, size);
    if (n >= size)
        return n;
    if (at->key != NULL)
        k = snprintf(buf + n, size - n, "%s%s", n > 0 ? "." : "", at->key);
    else if (at->idx >= 0)
        k = snprintf(buf + n, size - n, "[%ld]", at->idx);
    return n + (k > 0 ? (size_t)k : 0);
}

void
tgh_jpath_format(const struct tgh_jpath *at, const char *key, const char *root, char *buf,
                 size_t size)
{
    size_t n;

    if (size == 0)
        return;
    n = path_put(at, buf, size);
    if (n >= size)
        n = size - 1;
    buf[n] = '\0';
    if (key != NULL)
        (void)snprintf(buf + n, size - n, "%s%s", n > 0 ? "." : "", key);
    else if (n == 0)
        (void)snprintf(buf, size, "%s", root != NULL ? root : "");
}

tgh_err
tgh_jpath_verrf(tgh_err code, const struct tgh_jpath *at, const char *key, const char *root,
                const char *fmt, va_list ap)
{
    char where[128];
    char what[384];

    tgh_jpath_format(at, key, root, where, sizeof(where));
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    return tgh_errf(code, "%s: %s", where, what);
}
