/* SPDX-License-Identifier: MIT */
/*
 * media_name.c - names in the media store, made from strangers' strings: a
 * file name as one safe path component, a chat's folder name, and the keys
 * built from them (media.h). Pure functions: no allocation, no I/O.
 *
 * One character filter serves names and slugs, so every key the store is
 * given passes media_key_valid(), and nothing that could climb out of the
 * media root or the bucket prefix (/, \, .., NUL, control characters) or
 * hide what it is (bidirectional controls, invisible characters, look-alike
 * slashes) ever does.
 */
#include "media/media.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/utf8.h"
#include "core/util.h"

#define EXT_MAX 16 /* bytes of an extension kept when a long name is cut */

/* What happens to one character of a name. */
enum keep { KEEP = 0, REPLACE, DROP };

/* The code point of the valid sequence s[0..n). */
static uint32_t
decode(const unsigned char *s, size_t n)
{
    if (n == 1)
        return s[0];
    if (n == 2)
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    if (n == 3)
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

static enum keep
classify(uint32_t c)
{
    /* C0, DEL, C1 */
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F))
        return REPLACE;
    /* separators and what other systems refuse in a name */
    if (c == '/' || c == '\\' || c == ':' || c == '*' || c == '?' || c == '"' || c == '<' ||
        c == '>' || c == '|')
        return REPLACE;
    /* look-alike slashes: a name must never look like a path */
    if (c == 0x2044 || c == 0x2215 || c == 0x2571 || c == 0x29F8 || c == 0x29F9 || c == 0xFE68 ||
        c == 0xFF0F || c == 0xFF3C)
        return REPLACE;
    /* invisible: bidirectional controls, zero-width and other format characters */
    if (c == 0x00AD || c == 0x061C || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
        (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF ||
        (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE0000 && c <= 0xE007F))
        return DROP;
    /* private use and noncharacters say nothing to a reader */
    if ((c >= 0xE000 && c <= 0xF8FF) || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE ||
        c >= 0xF0000)
        return REPLACE;
    return KEEP;
}

/* Windows' device names, which some tools still refuse with any extension. */
static bool
reserved(const char *s, size_t len)
{
    static const char *const names[] = { "CON", "PRN", "AUX", "NUL" };
    size_t base = 0;

    while (base < len && s[base] != '.')
        base++;
    for (size_t i = 0; i < TGH_NELEM(names); i++)
        if (base == 3 && strncasecmp(s, names[i], 3) == 0)
            return true;
    return base == 4 && (strncasecmp(s, "COM", 3) == 0 || strncasecmp(s, "LPT", 3) == 0) &&
           s[3] >= '1' && s[3] <= '9';
}

/* Bytes of s (valid UTF-8) that fit in max, on a character boundary. */
static size_t
cut_utf8(const char *s, size_t len, size_t max)
{
    size_t n = len < max ? len : max;

    while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/*
 * The filtered form of name into buf (cap at least 4 * strlen + 1 is not
 * needed: output never grows, a replaced sequence becomes one '_').
 */
static size_t
filter(const char *name, char *buf, size_t cap)
{
    const unsigned char *s = (const unsigned char *)name;
    size_t len = strlen(name), i = 0, o = 0;

    while (i < len && o + 4 < cap) {
        size_t n = tgh_utf8_seq_len(s + i, len - i);
        enum keep k;

        if (n == 0) {
            buf[o++] = '_';
            i++;
            continue;
        }
        k = classify(decode(s + i, n));
        if (k == KEEP) {
            memcpy(buf + o, s + i, n);
            o += n;
        } else if (k == REPLACE) {
            buf[o++] = '_';
        }
        i += n;
    }
    buf[o] = '\0';
    return o;
}

/* Trim what may not begin or end a name; returns the new length (buf shifted). */
static size_t
trim(char *buf, size_t len)
{
    size_t lead = 0;

    while (lead < len && (buf[lead] == '.' || buf[lead] == '-' || buf[lead] == ' '))
        lead++;
    memmove(buf, buf + lead, len - lead + 1);
    len -= lead;
    while (len > 0 && (buf[len - 1] == '.' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return len;
}

/* name sanitized into out (limit bytes at most); 0 when nothing is left of it. */
static size_t
sanitize_one(const char *name, char *out, size_t limit)
{
    char buf[4 * MEDIA_NAME_MAX + 8], joined[2 * MEDIA_NAME_MAX + EXT_MAX + 1];
    size_t len, ext = 0, base;
    const char *dot;

    if (name == NULL)
        return 0;
    len = strlen(name);
    if (len > 2 * MEDIA_NAME_MAX) {
        /* Only the start is kept of a very long name, and its extension. */
        dot = strrchr(name, '.');
        ext = dot != NULL && (size_t)(name + len - dot) <= EXT_MAX ? (size_t)(name + len - dot) : 0;
        base = 2 * MEDIA_NAME_MAX;
        while (base > 0 && ((unsigned char)name[base] & 0xC0) == 0x80)
            base--;
        memcpy(joined, name, base);
        memcpy(joined + base, name + len - ext, ext + 1);
        name = joined;
        ext = 0;
    }
    len = trim(buf, filter(name, buf, sizeof(buf)));
    if (len == 0)
        return 0;
    if (len > limit) {
        dot = strrchr(buf, '.');
        if (dot != NULL && dot != buf && (size_t)(buf + len - dot) <= EXT_MAX)
            ext = (size_t)(buf + len - dot);
        base = cut_utf8(buf, len - ext, limit - ext);
        memmove(buf + base, buf + len - ext, ext + 1);
        len = trim(buf, base + ext);
        if (len == 0)
            return 0;
    }
    if (reserved(buf, len)) {
        if (len + 1 > limit) { /* room for the '_'; the cut may end in a dot again */
            len = cut_utf8(buf, len, limit - 1);
            buf[len] = '\0';
            len = trim(buf, len);
        }
        memmove(buf + 1, buf, len + 1);
        buf[0] = '_';
        len++;
        buf[len] = '\0';
    }
    memcpy(out, buf, len + 1);
    return len;
}

size_t
media_name_sanitize(const char *name, const char *fallback, char *out, size_t cap)
{
    size_t limit = cap - 1 < MEDIA_NAME_MAX ? cap - 1 : MEDIA_NAME_MAX, n;

    if (cap == 0)
        return 0;
    n = sanitize_one(name, out, limit);
    if (n == 0)
        n = sanitize_one(fallback, out, limit);
    if (n == 0)
        n = sanitize_one("file", out, limit);
    return n;
}

size_t
media_chat_slug(int64_t chat_id, const char *username, const char *title, char *out, size_t cap)
{
    const char *src = username != NULL && *username != '\0' ? username : title;
    char buf[4 * MEDIA_NAME_MAX + 8], slug[MEDIA_SLUG_MAX + 1];
    uint64_t id = chat_id < 0 ? (uint64_t)0 - (uint64_t)chat_id : (uint64_t)chat_id;
    size_t len = 0, o = 0, lead;
    int k;

    if (cap == 0)
        return 0;
    if (src != NULL)
        len = filter(src, buf, sizeof(buf));
    for (size_t i = 0; i < len && o < MEDIA_SLUG_MAX;) {
        unsigned char c = (unsigned char)buf[i];
        size_t n = tgh_utf8_seq_len((const unsigned char *)buf + i, len - i);

        if (n == 0)
            n = 1;
        if (c >= 0x80) {
            if (o + n > MEDIA_SLUG_MAX)
                break;
            memcpy(slug + o, buf + i, n);
            o += n;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            slug[o++] = (char)c;
        } else if (c >= 'A' && c <= 'Z') {
            slug[o++] = (char)(c - 'A' + 'a');
        } else if (o > 0 && slug[o - 1] != '-') {
            slug[o++] = '-';
        }
        i += n;
    }
    while (o > 0 && (slug[o - 1] == '-' || slug[o - 1] == '_'))
        o--;
    slug[o] = '\0';
    lead = strspn(slug, "-_");
    k = snprintf(out, cap, "%s-%" PRIu64, o > lead ? slug + lead : "chat", id);
    if (k < 0)
        return 0;
    return (size_t)k < cap ? (size_t)k : cap - 1;
}

tgh_err
media_object_key(const char *sha256, char *out, size_t cap)
{
    size_t n = sha256 != NULL ? strlen(sha256) : 0;

    if (n != MEDIA_SHA256_HEX || strspn(sha256, "0123456789abcdef") != n)
        return tgh_errf(TGH_EINVAL, "not a lower-case hex SHA-256: '%.70s'",
                        sha256 != NULL ? sha256 : "");
    if ((size_t)snprintf(out, cap, "objects/%.2s/%.2s/%s", sha256, sha256 + 2, sha256) >= cap)
        return tgh_errf(TGH_ETOOBIG, "object key does not fit %zu bytes", cap);
    return TGH_OK;
}

/* Is s (n bytes) one component that its own sanitization leaves as it is? */
static bool
component_valid(const char *s, size_t n)
{
    char in[MEDIA_NAME_MAX + 1], out[MEDIA_NAME_MAX + 1];

    if (n == 0 || n > MEDIA_NAME_MAX || memchr(s, '/', n) != NULL)
        return false;
    memcpy(in, s, n);
    in[n] = '\0';
    if (strlen(in) != n)
        return false;
    return sanitize_one(in, out, MEDIA_NAME_MAX) == n && memcmp(in, out, n) == 0;
}

bool
media_key_valid(const char *key)
{
    size_t len;
    const char *p;

    if (key == NULL || (len = strlen(key)) == 0 || len >= MEDIA_KEY_MAX)
        return false;
    for (p = key;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

        if (!component_valid(p, n))
            return false;
        if (slash == NULL)
            return true;
        p = slash + 1;
    }
}

tgh_err
media_layout_key(int64_t date, const char *slug, int64_t message_id, const char *name, char *out,
                 size_t cap)
{
    struct tm tm;
    time_t t = (time_t)date;
    int k;

    if (date < 0 || date > INT64_C(253402300799))
        return tgh_errf(TGH_EINVAL, "date %" PRId64 " is outside 1970..9999", date);
    if (message_id <= 0)
        return tgh_errf(TGH_EINVAL, "message id %" PRId64 " is not positive", message_id);
    if (slug == NULL || !component_valid(slug, strlen(slug)))
        return tgh_errf(TGH_EINVAL, "chat slug is not a safe name");
    if (name != NULL && !component_valid(name, strlen(name)))
        return tgh_errf(TGH_EINVAL, "file name is not a safe name");
    if (gmtime_r(&t, &tm) == NULL)
        return tgh_errf(TGH_EINVAL, "date %" PRId64 " has no calendar date", date);
    if (name != NULL)
        k = snprintf(out, cap, "%04d/%02d/%s/%" PRId64 "/%s", tm.tm_year + 1900, tm.tm_mon + 1,
                     slug, message_id, name);
    else
        k = snprintf(out, cap, "%04d/%02d/%s/%" PRId64, tm.tm_year + 1900, tm.tm_mon + 1, slug,
                     message_id);
    if (k < 0 || (size_t)k >= cap || (size_t)k >= MEDIA_KEY_MAX)
        return tgh_errf(TGH_ETOOBIG, "layout key does not fit %zu bytes",
                        cap < MEDIA_KEY_MAX ? cap : (size_t)MEDIA_KEY_MAX);
    return TGH_OK;
}
