/* SPDX-License-Identifier: MIT */
/*
 * fuzz_events.c - the event-lines reader (import --from event) over
 * arbitrary bytes: it never crashes or leaks, every line is either an event
 * that validates and round-trips or a dead letter, and the counts add up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/msg.h"
#include "source/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct counts {
    uint64_t events, dead;
};

static tgh_err
batch(void *arg, struct msg_batch *b)
{
    struct counts *c = arg;

    for (size_t i = 0; i < b->n; i++) {
        char *text = NULL;
        size_t len;

        if (codec_event_validate(&b->ev[i]) != TGH_OK ||
            codec_event_encode(&b->ev[i], &text, &len) != TGH_OK)
            abort();
        tgh_free(text);
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
        abort();
    c->dead++;
    return TGH_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct counts c = { 0, 0 };
    struct source_export_sink sink = { .arg = &c, .batch = batch, .dead_letter = dead_letter };
    struct source_export_opts o = { .batch_size = 2 };
    struct source_export_summary sum;
    FILE *f;

    if (size == 0)
        return 0;
    f = fmemopen((void *)data, size, "rb");
    if (f == NULL)
        return 0;
    if (source_events_import_stream(f, "fuzz", &o, &sink, &sum) != TGH_OK)
        abort(); /* only a read error may fail a stream, and memory cannot */
    fclose(f);
    if (sum.events != c.events || sum.dead_letters != c.dead || sum.messages != c.events + c.dead)
        abort();
    return 0;
}
