/* SPDX-License-Identifier: MIT */
/*
 * embed.h - files compiled into the binary by cmake/embed.cmake (SQL
 * migrations, later the dashboard's assets). Tables end with a NULL name.
 */
#ifndef TGH_CORE_EMBED_H
#define TGH_CORE_EMBED_H

#include <stddef.h>

struct tgh_embedded {
    const char *name; /* file name without directory */
    const char *data; /* NUL-terminated */
    size_t len;
};

#endif
