/* SPDX-License-Identifier: MIT */
/*
 * fuzz_page.c - a worker's delivery, as the broker hands it over: the body
 * is split into lines, each line is decoded as an event or becomes a dead
 * letter whose payload and reason are made printable. Nothing crashes or
 * reads out of bounds; every line lies inside the body, holds no newline
 * and is not blank; printable text is valid UTF-8 without NUL and within
 * its limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/utf8.h"
#include "pipeline/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_printable(const char *s, size_t len, size_t max)
{
    size_t out_len = 0;
    char *p = tgh_utf8_printable(s, len, max, &out_len);

    if (out_len > max || strlen(p) != out_len)
        abort();
    for (size_t i = 0; i < out_len;) {
        unsigned char c = (unsigned char)p[i];
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;

        if (n == 0 || i + n > out_len)
            abort();
        for (size_t j = 1; j < n; j++)
            if (((unsigned char)p[i + j] & 0xc0) != 0x80)
                abort();
        i += n;
    }
    tgh_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    size_t n = pipeline_page_lines(body, size, NULL, 0);
    struct pipeline_line *ln = tgh_calloc(n ? n : 1, sizeof(*ln));
    struct tgh_arena a;

    if (pipeline_page_lines(body, size, ln, n) != n)
        abort();
    tgh_arena_init(&a, 1 << 12);
    for (size_t i = 0; i < n; i++) {
        struct msg_event ev;

        if (ln[i].p < body || ln[i].len == 0 || ln[i].p + ln[i].len > body + size ||
            memchr(ln[i].p, '\n', ln[i].len) != NULL || (n == 1) != (ln[i].line == 0) ||
            (i > 0 && ln[i].p <= ln[i - 1].p))
            abort();
        tgh_arena_reset(&a);
        if (codec_event_decode(ln[i].p, ln[i].len, &a, &ev) == TGH_OK) {
            msg_event_fini(&ev);
        } else {
            const char *why = tgh_errmsg();

            check_printable(why, strlen(why), 1000);
        }
        check_printable(ln[i].p, ln[i].len, 64);
    }
    check_printable(body, size, 1 << 16);
    tgh_arena_fini(&a);
    tgh_free(ln);
    return 0;
}
