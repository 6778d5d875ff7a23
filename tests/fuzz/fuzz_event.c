/* SPDX-License-Identifier: MIT */
/*
 * fuzz_event.c - the event codec on arbitrary bytes. Whatever decodes must
 * pass codec_event_validate(), read the same through codec_event_from_json(),
 * encode, decode again to an equal event and encode to the same text.
 * Anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(const char *what)
{
    (void)fprintf(stderr, "fuzz_event: %s: %s\n", what, tgh_errmsg());
    abort();
}

/* The same text through the borrowed-tree entry point gives the same event. */
static void
check_from_json(const uint8_t *data, size_t size, struct tgh_arena *a, const struct msg_event *want)
{
    struct msg_event ev;
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

    if (root == NULL)
        broken("decoded text does not parse");
    if (codec_event_from_json(root, a, &ev) != TGH_OK)
        broken("from_json rejects what decode accepted");
    if (!codec_event_equal(&ev, want))
        broken("from_json and decode differ");
    msg_event_fini(&ev);
    json_decref(root);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tgh_arena a;
    struct msg_event ev, again;
    char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    tgh_err rc;

    tgh_arena_init(&a, 16 * 1024);
    if (codec_event_decode((const char *)data, size, &a, &ev) != TGH_OK)
        goto out;
    if (codec_event_validate(&ev) != TGH_OK)
        broken("validate rejects a decoded event");
    check_from_json(data, size, &a, &ev);

    rc = codec_event_encode(&ev, &s1, &n1);
    if (rc == TGH_ETOOBIG)
        goto out; /* reals like 1e300 in raw print longer than they were written */
    if (rc != TGH_OK)
        broken("encode of a decoded event");
    if (codec_event_decode(s1, n1, &a, &again) != TGH_OK)
        broken("decode of an encoded event");
    if (!codec_event_equal(&ev, &again))
        broken("decode(encode(x)) != x");
    if (codec_event_encode(&again, &s2, &n2) != TGH_OK || n1 != n2 || memcmp(s1, s2, n1) != 0)
        broken("encode is not stable");
    msg_event_fini(&again);
out:
    msg_event_fini(&ev);
    tgh_free(s1);
    tgh_free(s2);
    tgh_arena_fini(&a);
    return 0;
}
