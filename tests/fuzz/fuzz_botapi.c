/* SPDX-License-Identifier: MIT */
/*
 * fuzz_botapi.c - `decode --from botapi` over arbitrary bytes: the Bot API
 * update parser and the message mapper never crash, leak or hang; every
 * event they hand on validates and round-trips through the codec; every
 * dead letter and every skipped update has a position and a reason; the
 * counts add up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"
#include "source/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct counts {
    uint64_t events, dead;
    struct tgh_arena arena;
};

static void
broken(const char *what)
{
    (void)fprintf(stderr, "fuzz_botapi: %s: %s\n", what, tgh_errmsg());
    abort();
}

static tgh_err
batch(void *arg, struct msg_batch *b)
{
    struct counts *c = arg;

    for (size_t i = 0; i < b->n; i++) {
        struct msg_event again;
        char *text = NULL;
        size_t len;
        tgh_err rc;

        if (b->ev[i].source != MSG_SOURCE_BOTAPI || codec_event_validate(&b->ev[i]) != TGH_OK)
            broken("an event that does not validate");
        rc = codec_event_encode(&b->ev[i], &text, &len);
        if (rc == TGH_ETOOBIG)
            continue; /* reals in raw can print longer than they were written */
        if (rc != TGH_OK)
            broken("encode of a mapped event");
        if (codec_event_decode(text, len, &c->arena, &again) != TGH_OK)
            broken("decode of an encoded event");
        if (!codec_event_equal(&b->ev[i], &again))
            broken("decode(encode(x)) != x");
        msg_event_fini(&again);
        tgh_free(text);
        tgh_arena_reset(&c->arena);
    }
    c->events += b->n;
    return TGH_OK;
}

static tgh_err
dead_letter(void *arg, const char *position, const char *reason, const char *payload, size_t len)
{
    struct counts *c = arg;

    if (position == NULL || strncmp(position, "line ", 5) != 0 || reason == NULL ||
        reason[0] == '\0' || (len > 0 && payload == NULL))
        broken("a dead letter without position or reason");
    c->dead++;
    return TGH_OK;
}

static tgh_err
skipped(void *arg, const char *position, const char *why)
{
    (void)arg;
    if (position == NULL || strncmp(position, "line ", 5) != 0 || why == NULL || why[0] == '\0')
        broken("a skipped update without position or reason");
    return TGH_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct counts c = { 0, 0, { 0 } };
    struct source_export_sink sink = {
        .arg = &c, .batch = batch, .dead_letter = dead_letter, .skipped = skipped
    };
    struct source_export_opts o = { .batch_size = 3, .observed_at = 1700000000 };
    struct source_export_summary sum;
    FILE *f;

    if (size == 0)
        return 0; /* fmemopen of an empty buffer is not portable */
    f = fmemopen((void *)data, size, "rb");
    if (f == NULL)
        return 0;
    tgh_arena_init(&c.arena, 16 * 1024);
    if (source_botapi_decode_stream(f, "fuzz", &o, &sink, &sum) != TGH_OK)
        broken("only a read error may fail the stream, and memory cannot");
    fclose(f);
    tgh_arena_fini(&c.arena);
    if (sum.events != c.events || sum.dead_letters != c.dead || sum.bytes != size)
        broken("the counts do not add up");
    return 0;
}
