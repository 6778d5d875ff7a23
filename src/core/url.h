/* SPDX-License-Identifier: MIT */
/*
 * url.h - backend URLs (TGH_STORE, later TGH_QUEUE, TGH_CACHE, TGH_MEDIA).
 *
 *   scheme://[user[:password]@]host[:port][/path][?query]
 *   sqlite://relative/path.db   sqlite:///absolute/path.db   sqlite:path.db
 *
 * `rest` is everything after "scheme://" (or "scheme:") up to the query, which
 * is what file-based backends use as their path.
 */
#ifndef TGH_CORE_URL_H
#define TGH_CORE_URL_H

#include <stddef.h>

#include "core/err.h"

#define TGH_URL_MAX 4096

struct tgh_url {
    char *scheme; /* lower case */
    char *rest;
    char *user;     /* NULL when absent */
    char *password; /* NULL when absent; never log it */
    char *host;
    char *port;  /* NULL when absent */
    char *path;  /* "" when absent, else starts with '/' */
    char *query; /* NULL when absent, without '?' */
};

TGH_MUSTCHECK tgh_err tgh_url_parse(const char *s, struct tgh_url *out);
void tgh_url_fini(struct tgh_url *u);

/* The URL with any password replaced by "***", into buf (always terminated). */
void tgh_url_redact(const char *s, char *buf, size_t bufsize);

#endif
