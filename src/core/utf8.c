/* SPDX-License-Identifier: MIT */
/*
 * utf8.c - outside bytes made printable.
 */
#include "core/utf8.h"

#include <string.h>

#include "core/alloc.h"

size_t
tgh_utf8_seq_len(const unsigned char *s, size_t left)
{
    size_t n;
    unsigned cp;

    if (left == 0)
        return 0;
    if (s[0] < 0x80)
        return s[0] == 0 ? 0 : 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

size_t
tgh_utf8_printable_into(const char *s, size_t len, char *out, size_t max)
{
    size_t i = 0, o = 0;

    while (i < len && o < max) {
        size_t n = tgh_utf8_seq_len((const unsigned char *)s + i, len - i);

        if (n == 0 || o + n > max) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return o;
}

char *
tgh_utf8_printable(const char *s, size_t len, size_t max, size_t *out_len)
{
    char *out = tgh_malloc((len < max ? len : max) + 1);
    size_t o = tgh_utf8_printable_into(s, len, out, max);

    if (out_len != NULL)
        *out_len = o;
    return out;
}
