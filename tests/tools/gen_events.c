/* SPDX-License-Identifier: MIT */
/*
 * gen_events.c - canonical schema-v1 event lines for the scale-out tests
 * and benchmarks, with a final state that is known in advance.
 *
 *   gen_events MESSAGES CHATS [EDIT_EVERY] [DELETE_EVERY] [POISON_EVERY]
 *
 * Chat c (0-based) is -1009000000000 - c; its messages have ids 1..M
 * (MESSAGES spread round-robin over CHATS) and dates 300 s apart from
 * 2023-11-01, so a stream spans several months (several partitions). Every
 * EDIT_EVERY-th message id also gets an edited version (edit_date set, new
 * text), every DELETE_EVERY-th a delete; both come after all originals.
 * Every POISON_EVERY-th line is additionally followed by a payload that is
 * not a valid event (cycling through kinds of damage). 0 turns a kind off.
 * Texts carry tabs, newlines, backslashes, quotes and non-Latin scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"

#define DATE0 1698796800 /* 2023-11-01 */

static long poison_every, lines;

static void
poison(void)
{
    static const char *const bad[] = {
        "{\"schema_version\":1,\"op\":\"upsert\"", /* truncated */
        "not json at all",
        "{\"schema_version\":2,\"op\":\"upsert\",\"source\":\"tdlib\"}",
        ("{\"schema_version\":1,\"op\":\"upsert\",\"source\":\"tdlib\",\"idempotency_key\":\"1:1:1\","
         "\"chat\":{\"id\":1},\"message_id\":1,\"date\":1,\"content_hash\":\"00\"}"),
        "[1,2,3]",
    };
    static unsigned k;

    if (poison_every > 0 && ++lines % poison_every == 0)
        (void)printf("%s\n", bad[k++ % (sizeof(bad) / sizeof(bad[0]))]);
}

static void
emit(struct msg_event *ev)
{
    char *text = NULL;
    size_t len = 0;

    if (codec_event_finalize(ev) != TGH_OK || codec_event_encode(ev, &text, &len) != TGH_OK) {
        (void)fprintf(stderr, "gen_events: %s\n", tgh_errmsg());
        exit(1);
    }
    (void)fwrite(text, 1, len, stdout);
    (void)fputc('\n', stdout);
    tgh_free(text);
    poison();
}

static void
base(struct msg_event *ev, long chat, long id)
{
    msg_event_init(ev);
    ev->schema_version = MSG_SCHEMA_VERSION;
    ev->op = MSG_OP_UPSERT;
    ev->source = MSG_SOURCE_TDLIB;
    ev->observed_at = DATE0 + 86400L * 400;
    ev->chat_id = -1009000000000LL - chat;
    ev->chat_type = MSG_CHAT_CHANNEL;
    ev->chat_title = "Канал\tтест \\ \"q\"";
    ev->message_id = id;
    ev->date = DATE0 + id * 300;
    ev->views = id % 1000;
}

int
main(int argc, char **argv)
{
    long n, chats, edit_every = 0, delete_every = 0;
    struct tgh_arena a;
    char text[256];

    if (argc < 3) {
        (void)fprintf(
            stderr,
            "usage: gen_events MESSAGES CHATS [EDIT_EVERY] [DELETE_EVERY] [POISON_EVERY]\n");
        return 2;
    }
    n = strtol(argv[1], NULL, 10);
    chats = strtol(argv[2], NULL, 10);
    if (argc > 3)
        edit_every = strtol(argv[3], NULL, 10);
    if (argc > 4)
        delete_every = strtol(argv[4], NULL, 10);
    if (argc > 5)
        poison_every = strtol(argv[5], NULL, 10);
    if (n < 1 || chats < 1) {
        (void)fprintf(stderr, "gen_events: MESSAGES and CHATS must be positive\n");
        return 2;
    }
    tgh_arena_init(&a, 1 << 12);
    for (long i = 0; i < n; i++) {
        struct msg_event ev;
        long chat = i % chats, id = i / chats + 1;

        base(&ev, chat, id);
        (void)snprintf(text, sizeof(text),
                       "message %ld of chat %ld\twith a tab\nа строка\\N and \\t %s", id, chat,
                       id % 3 == 0 ? "日本語のテキスト 🚀" : "plain");
        ev.text = text;
        emit(&ev);
        msg_event_fini(&ev);
    }
    for (long i = 0; edit_every > 0 && i < n; i++) {
        struct msg_event ev;
        long chat = i % chats, id = i / chats + 1;

        if (id % edit_every != 0)
            continue;
        base(&ev, chat, id);
        (void)snprintf(text, sizeof(text), "edited message %ld of chat %ld", id, chat);
        ev.text = text;
        ev.edit_date = ev.date + 60;
        emit(&ev);
        msg_event_fini(&ev);
    }
    for (long i = 0; delete_every > 0 && i < n; i++) {
        struct msg_event ev;
        long chat = i % chats, id = i / chats + 1;

        if (id % delete_every != 0)
            continue;
        base(&ev, chat, id);
        ev.op = MSG_OP_DELETE;
        ev.date = MSG_UNSET;
        ev.views = MSG_UNSET;
        ev.observed_at = DATE0 + 86400L * 401;
        emit(&ev);
        msg_event_fini(&ev);
    }
    tgh_arena_fini(&a);
    return fflush(stdout) == 0 ? 0 : 1;
}
