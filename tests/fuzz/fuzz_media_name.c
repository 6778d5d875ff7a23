/* SPDX-License-Identifier: MIT */
/*
 * fuzz_media_name.c - strangers' file names and chat titles made into names
 * of the media store. Input: a file name, a newline, a chat title (the rest
 * is read as a key). Whatever the bytes, no output escapes the media root:
 * every name is one valid UTF-8 component without '/', '\', control
 * characters, "." or "..", at most MEDIA_NAME_MAX bytes, sanitizing it again
 * changes nothing, and the layout key built from it is a valid key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "media/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_component(const char *s)
{
    size_t n = strlen(s);
    char again[MEDIA_NAME_MAX + 1];

    if (n == 0 || n > MEDIA_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
        strchr(s, '/') != NULL || strchr(s, '\\') != NULL)
        abort();
    for (size_t i = 0; i < n;) {
        size_t l = tgh_utf8_seq_len((const unsigned char *)s + i, n - i);

        if (l == 0 || (l == 1 && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)))
            abort();
        i += l;
    }
    (void)media_name_sanitize(s, NULL, again, sizeof(again));
    if (strcmp(again, s) != 0)
        abort();
    if (!media_key_valid(s))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *title, *nl;
    char name[MEDIA_NAME_MAX + 1], slug[MEDIA_SLUG_MAX + 32], key[MEDIA_KEY_MAX];

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    nl = strchr(buf, '\n');
    title = nl != NULL ? nl + 1 : buf;
    if (nl != NULL)
        *nl = '\0';
    (void)media_name_sanitize(buf, title, name, sizeof(name));
    check_component(name);
    (void)media_chat_slug((int64_t)size - 1000, NULL, title, slug, sizeof(slug));
    check_component(slug);
    (void)media_chat_slug(-1001234567890, title, NULL, slug, sizeof(slug));
    check_component(slug);
    if (media_layout_key((int64_t)size * 86400, slug, (int64_t)size + 1, name, key, sizeof(key)) ==
        TGH_OK) {
        if (!media_key_valid(key) || key[0] == '/' || strstr(key, "/../") != NULL ||
            strstr(key, "/./") != NULL)
            abort();
    }
    /* Any bytes as a key: accepted only when every component is safe. */
    if (media_key_valid(title)) {
        if (title[0] == '/' || strstr(title, "//") != NULL || strcmp(title, "..") == 0 ||
            strncmp(title, "../", 3) == 0 || strstr(title, "/../") != NULL)
            abort();
    }
    free(buf);
    return 0;
}
