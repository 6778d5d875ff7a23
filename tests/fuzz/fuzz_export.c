/* SPDX-License-Identifier: MIT */
/*
 * fuzz_export.c - the Desktop export importer over arbitrary bytes: whatever
 * the input, source_export_import_stream() returns without crashing, leaking
 * or handing the sink an event that is not finalized.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/msg.h"
#include "source/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tgh_err
chat_begin(void *arg, const struct source_export_chat *chat)
{
    (void)arg;
    (void)chat;
    return TGH_OK;
}

static tgh_err
batch(void *arg, struct msg_batch *b)
{
    (void)arg;
    for (size_t i = 0; i < b->n; i++) {
        if (strlen(b->ev[i].content_hash) != MSG_HASH_HEX_LEN)
            abort();
    }
    return TGH_OK;
}

static tgh_err
chat_end(void *arg, const struct source_export_chat *chat, tgh_err status)
{
    (void)arg;
    (void)chat;
    (void)status;
    return TGH_OK;
}

static tgh_err
dead_letter(void *arg, const char *position, const char *reason, const char *payload, size_t len)
{
    (void)arg;
    if (position == NULL || reason == NULL || (len > 0 && payload == NULL))
        abort();
    return TGH_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source_export_sink sink = { NULL, chat_begin, batch, chat_end, dead_letter, NULL, NULL };
    struct source_export_opts o = { NULL, 3, 1700000000 };
    struct source_export_summary sum;
    tgh_err rc;
    FILE *f;

    if (size == 0)
        return 0; /* fmemopen of an empty buffer is not portable */
    f = fmemopen((void *)data, size, "r");
    if (f == NULL)
        return 0;
    rc = source_export_import_stream(f, "fuzz", &o, &sink, &sum);
    (void)rc; /* any outcome is fine; crashing, leaking or hanging is not */
    fclose(f);
    return 0;
}
