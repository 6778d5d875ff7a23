/* SPDX-License-Identifier: MIT */
/*
 * botapi.c (bench) - what the archive bot spends on one update before the
 * store: a Bot API Update (a channel post forwarded to the bot: caption with
 * entities, a photo in three sizes, a forward origin) parsed, classified,
 * mapped, finalized (validate + content hash) and encoded as the event line,
 * in CPU time per update, next to jansson's parse of the same text as the
 * baseline.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "source/source.h"

#define ROUNDS 100000

static const char update[] =
    "{\"update_id\":900123,\"message\":{\"message_id\":4321,\"date\":1717300000,"
    "\"from\":{\"id\":4242,\"is_bot\":false,\"first_name\":\"Ann\",\"last_name\":\"Lee\","
    "\"username\":\"ann_lee\",\"language_code\":\"en\"},"
    "\"chat\":{\"id\":4242,\"first_name\":\"Ann\",\"last_name\":\"Lee\",\"username\":\"ann_lee\","
    "\"type\":\"private\"},"
    "\"forward_origin\":{\"type\":\"channel\",\"chat\":{\"id\":-1001234567890,\"title\":"
    "\"Harbour News\",\"username\":\"harbour_news\",\"type\":\"channel\"},\"message_id\":77,"
    "\"date\":1717200003},"
    "\"photo\":[{\"file_id\":\"AgACAgIAAxkBAAIBY2ZsmallAAA\",\"file_unique_id\":\"AQADs1\","
    "\"file_size\":1290,\"width\":90,\"height\":60},"
    "{\"file_id\":\"AgACAgIAAxkBAAIBY2ZmediumAA\",\"file_unique_id\":\"AQADm1\","
    "\"file_size\":17342,\"width\":320,\"height\":213},"
    "{\"file_id\":\"AgACAgIAAxkBAAIBY2ZlargeAAA\",\"file_unique_id\":\"AQADl1\","
    "\"file_size\":70213,\"width\":1280,\"height\":853}],"
    "\"caption\":\"Tide table for June: high water at 06:12 and 18:40, low water at 00:05 and "
    "12:27. Details on https://harbour.example/tides #tide @harbour_news\","
    "\"caption_entities\":[{\"offset\":0,\"length\":19,\"type\":\"bold\"},"
    "{\"offset\":92,\"length\":29,\"type\":\"url\"},"
    "{\"offset\":122,\"length\":5,\"type\":\"hashtag\"},"
    "{\"offset\":128,\"length\":13,\"type\":\"mention\"}]}}";

static double
cpu_us(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* One update the way the bot takes it: parse, classify, map, finalize, encode. */
static int
one(struct tgh_arena *a, size_t *line)
{
    json_t *u = json_loadb(update, sizeof(update) - 1, 0, NULL);
    struct source_botapi_update cls;
    struct msg_event ev;
    char *s = NULL;
    int rc = -1;

    if (u == NULL || source_botapi_update_parse(u, &cls) != TGH_OK ||
        cls.cls != SOURCE_BOTAPI_MESSAGE) {
        json_decref(u);
        return -1;
    }
    if (source_botapi_map_message(cls.payload, 1717300001, a, &ev) == TGH_OK &&
        codec_event_finalize(&ev) == TGH_OK && codec_event_encode(&ev, &s, line) == TGH_OK)
        rc = 0;
    msg_event_fini(&ev);
    tgh_free(s);
    json_decref(u);
    return rc;
}

int
main(void)
{
    struct tgh_arena a;
    double t0, bot, parse;
    size_t line = 0;

    tgh_arena_init(&a, 64 * 1024);
    if (one(&a, &line) != 0) {
        (void)fprintf(stderr, "bench_botapi: the update does not map: %s\n", tgh_errmsg());
        return 1;
    }
    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++) {
        if (one(&a, &line) != 0)
            return 1;
        if (i % 64 == 63)
            tgh_arena_reset(&a);
    }
    bot = (cpu_us() - t0) / ROUNDS;

    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++)
        json_decref(json_loadb(update, sizeof(update) - 1, 0, NULL));
    parse = (cpu_us() - t0) / ROUNDS;

    printf("Bot API update of %zu bytes -> event line of %zu bytes, CPU time per update:\n",
           sizeof(update) - 1, line);
    printf("  parse + map + finalize + encode %6.2f us  (%.2fx jansson parse of the same text, "
           "%.2f us)\n",
           bot, bot / parse, parse);
    printf("  = %.0f updates/s on one core (a getUpdates page is at most 100)\n", 1e6 / bot);
    tgh_arena_fini(&a);
    return 0;
}
