/* SPDX-License-Identifier: MIT */
/*
 * jpath.h - where a value is inside a JSON document, for error messages that
 * name it ("content.poll.options[2].text: required"). A place is a chain of
 * keys and array indices up to the root, built on the stack as a parser
 * descends and formatted only when an error is reported.
 */
#ifndef TGH_CORE_JPATH_H
#define TGH_CORE_JPATH_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"

struct tgh_jpath {
    const struct tgh_jpath *up; /* enclosing value; NULL for a key of the root */
    const char *key;            /* key of this value in up, or NULL */
    long idx;                   /* index when this value is an array element, else -1 */
};

/* The value at key k, or at index i, of parent (NULL: the root), as a compound literal. */
#define TGH_JPATH_KEY(parent, k) (&(struct tgh_jpath){ (parent), (k), -1 })
#define TGH_JPATH_IDX(parent, i) (&(struct tgh_jpath){ (parent), NULL, (long)(i) })

/*
 * Record "place: message" with tgh_errf() and return code: the body of a
 * parser's own variadic error helper. The place is at followed by ".key"
 * (key NULL: the value at itself), or root ("event", "message") when both
 * are empty; it is cut at 127 bytes and the message at 383.
 */
tgh_err tgh_jpath_verrf(tgh_err code, const struct tgh_jpath *at, const char *key, const char *root,
                        const char *fmt, va_list ap) TGH_PRINTF(5, 0);

/* The place (at, then ".key"; root when both are empty) as a string in buf, cut to fit. */
void tgh_jpath_format(const struct tgh_jpath *at, const char *key, const char *root, char *buf,
                      size_t size);

#endif
