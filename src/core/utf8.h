/* SPDX-License-Identifier: MIT */
/*
 * utf8.h - outside bytes as text that a database, a log or a broker header
 * accepts.
 */
#ifndef TGH_CORE_UTF8_H
#define TGH_CORE_UTF8_H

#include <stddef.h>

/*
 * Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) at s, 1..4, or 0 when it is invalid,
 * cut short (left bytes remain) or a NUL.
 */
size_t tgh_utf8_seq_len(const unsigned char *s, size_t left);

/*
 * s as valid UTF-8 of at most max bytes: NUL and every byte that does not
 * start a valid sequence become '?', and so do the bytes of a character that
 * would cross max. Malloc'd; *out_len (if not NULL) is its length.
 */
char *tgh_utf8_printable(const char *s, size_t len, size_t max, size_t *out_len);
/* The same into out (max + 1 bytes, NUL-terminated); returns the length written. */
size_t tgh_utf8_printable_into(const char *s, size_t len, char *out, size_t max);

#endif
