/* SPDX-License-Identifier: MIT */
/*
 * codec.c (bench) - encode, decode and finalize of a typical channel post
 * (300-byte text, three entities, a photo), in CPU time per event, next to
 * jansson's own parse and dump of the same text as the baseline.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"

#define ROUNDS 100000

static double
cpu_us(void)
{
    struct timespec t;

    (void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void
typical(struct msg_event *ev, char *text, struct msg_entity *e, struct msg_media *m)
{
    memset(text, 'a', 300);
    memcpy(text + 20, "https://example.org", 19);
    text[300] = '\0';
    e[0] = (struct msg_entity){ "bold", 0, 10, NULL, NULL, MSG_UNSET, NULL, NULL };
    e[1] = (struct msg_entity){ "url", 20, 19, NULL, NULL, MSG_UNSET, NULL, NULL };
    e[2] = (struct msg_entity){ "italic", 100, 50, NULL, NULL, MSG_UNSET, NULL, NULL };
    *m = (struct msg_media){ "photo", NULL, "image/jpeg", 123456,         MSG_UNSET,
                             1280,    960,  "AQADx",      "photos/p.jpg", NULL,
                             NULL,    NULL, NULL,         NULL,           false };
    msg_event_init(ev);
    ev->source = MSG_SOURCE_TDLIB;
    ev->observed_at = 1700000100;
    ev->chat_id = INT64_C(-1001234567890);
    ev->chat_type = MSG_CHAT_CHANNEL;
    ev->chat_title = "Some channel";
    ev->chat_username = "somechannel";
    ev->message_id = 123456;
    ev->date = 1700000000;
    ev->sender_id = INT64_C(-1001234567890);
    ev->sender_type = MSG_PEER_CHANNEL;
    ev->sender_name = "Some channel";
    ev->text = text;
    ev->entities = e;
    ev->n_entities = 3;
    ev->views = 10432;
    ev->forwards = 12;
    ev->media = m;
}

int
main(void)
{
    static char text[301];
    struct msg_entity e[3];
    struct msg_media m;
    struct msg_event ev, back;
    struct tgh_arena a;
    char *s = NULL, *o;
    size_t n, len;
    double t0, enc, dec, fin, parse, dump;
    json_t *tree;

    typical(&ev, text, e, &m);
    if (codec_event_finalize(&ev) != TGH_OK || codec_event_encode(&ev, &s, &n) != TGH_OK) {
        (void)fprintf(stderr, "bench_codec: %s\n", tgh_errmsg());
        return 1;
    }
    tgh_arena_init(&a, 256 * 1024);

    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++) {
        if (codec_event_encode(&ev, &o, &len) != TGH_OK)
            return 1;
        tgh_free(o);
    }
    enc = (cpu_us() - t0) / ROUNDS;

    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++) {
        if (codec_event_decode(s, n, &a, &back) != TGH_OK)
            return 1;
        msg_event_fini(&back);
        if (i % 256 == 255)
            tgh_arena_reset(&a);
    }
    dec = (cpu_us() - t0) / ROUNDS;

    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++)
        if (codec_event_finalize(&ev) != TGH_OK)
            return 1;
    fin = (cpu_us() - t0) / ROUNDS;

    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++)
        json_decref(json_loadb(s, n, 0, NULL));
    parse = (cpu_us() - t0) / ROUNDS;

    tree = json_loadb(s, n, 0, NULL);
    t0 = cpu_us();
    for (int i = 0; i < ROUNDS; i++) {
        static char buf[4096];

        if (json_dumpb(tree, buf, sizeof(buf), JSON_COMPACT) == 0)
            return 1;
    }
    dump = (cpu_us() - t0) / ROUNDS;
    json_decref(tree);

    printf("event of %zu bytes, CPU time per event:\n", n);
    printf("  encode   %6.2f us  (%.2fx jansson dump of the same tree, %.2f us)\n", enc, enc / dump,
           dump);
    printf("  decode   %6.2f us  (%.2fx jansson parse of the same text, %.2f us)\n", dec,
           dec / parse, parse);
    printf("  finalize %6.2f us  (validate + content hash)\n", fin);

    tgh_arena_fini(&a);
    tgh_free(s);
    return 0;
}
