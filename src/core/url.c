/* SPDX-License-Identifier: MIT */
/*
 * url.c - split a backend URL into its parts; no decoding beyond that.
 */
#include "core/url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static char *
dupn(const char *s, size_t n)
{
    return tgh_strndup(s, n);
}

tgh_err
tgh_url_parse(const char *s, struct tgh_url *out)
{
    const char *colon, *p, *q, *at, *slash, *hostend;
    size_t len = strlen(s);

    memset(out, 0, sizeof(*out));
    if (len == 0)
        return tgh_errf(TGH_EINVAL, "empty URL");
    if (len > TGH_URL_MAX)
        return tgh_errf(TGH_ETOOBIG, "URL longer than %d bytes", TGH_URL_MAX);
    colon = strchr(s, ':');
    if (colon == NULL || colon == s)
        return tgh_errf(TGH_EINVAL, "URL '%.64s' has no scheme (expected scheme://...)", s);
    for (p = s; p < colon; p++) {
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return tgh_errf(TGH_EINVAL, "URL scheme '%.*s' has invalid characters",
                            (int)(colon - s), s);
    }
    out->scheme = dupn(s, (size_t)(colon - s));
    for (char *c = out->scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);

    p = colon + 1;
    if (strncmp(p, "//", 2) == 0)
        p += 2;
    q = strchr(p, '?');
    out->rest = dupn(p, q ? (size_t)(q - p) : strlen(p));
    out->query = q ? tgh_strdup(q + 1) : NULL;

    /* Authority form, for network backends. */
    slash = strchr(out->rest, '/');
    hostend = slash ? slash : out->rest + strlen(out->rest);
    at = memchr(out->rest, '@', (size_t)(hostend - out->rest));
    p = out->rest;
    if (at != NULL) {
        const char *pw = memchr(p, ':', (size_t)(at - p));

        out->user = dupn(p, (size_t)((pw ? pw : at) - p));
        if (pw != NULL)
            out->password = dupn(pw + 1, (size_t)(at - pw - 1));
        p = at + 1;
    }
    {
        const char *pc = NULL;

        if (*p == '[') { /* IPv6 literal */
            const char *rb = memchr(p, ']', (size_t)(hostend - p));
            if (rb != NULL && rb + 1 < hostend && rb[1] == ':')
                pc = rb + 1;
        } else {
            pc = memchr(p, ':', (size_t)(hostend - p));
        }
        out->host = dupn(p, (size_t)((pc ? pc : hostend) - p));
        if (pc != NULL)
            out->port = dupn(pc + 1, (size_t)(hostend - pc - 1));
    }
    out->path = tgh_strdup(slash ? slash : "");
    return TGH_OK;
}

void
tgh_url_fini(struct tgh_url *u)
{
    if (u == NULL)
        return;
    tgh_free(u->scheme);
    tgh_free(u->rest);
    tgh_free(u->user);
    tgh_free(u->password);
    tgh_free(u->host);
    tgh_free(u->port);
    tgh_free(u->path);
    tgh_free(u->query);
    memset(u, 0, sizeof(*u));
}

void
tgh_url_redact(const char *s, char *buf, size_t bufsize)
{
    const char *scheme_end = strstr(s, "://");
    const char *auth = scheme_end ? scheme_end + 3 : s;
    const char *end = auth + strcspn(auth, "/?");
    const char *at = NULL, *pw;

    for (const char *c = auth; c < end; c++)
        if (*c == '@')
            at = c;
    if (at == NULL || (pw = memchr(auth, ':', (size_t)(at - auth))) == NULL) {
        (void)snprintf(buf, bufsize, "%s", s);
        return;
    }
    (void)snprintf(buf, bufsize, "%.*s:***%s", (int)(pw - s), s, at);
}
