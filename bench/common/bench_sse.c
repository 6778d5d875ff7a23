/* SPDX-License-Identifier: MIT */
/*
 * bench_sse.c - see bench_sse.h. curl does the HTTP; this reads its output
 * on a thread of its own and keeps one latency per sequence number.
 */
#include "bench_sse.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"

struct bench_sse {
    FILE *curl;
    int64_t *lat_ns;
    size_t n, got;
    pthread_t thread;
};

int64_t
bench_sse_now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *
follow(void *arg)
{
    struct bench_sse *b = arg;
    char *line = NULL;
    size_t cap = 0;

    while (b->got < b->n && getline(&line, &cap, b->curl) > 0) {
        json_error_t err;
        json_t *j;
        const char *text;
        unsigned long long seq, sent;

        if (strncmp(line, "data: ", 6) != 0)
            continue;
        j = json_loads(line + 6, 0, &err);
        text = json_string_value(json_object_get(json_object_get(j, "event"), "text"));
        if (text != NULL && sscanf(text, "%llu %llu", &seq, &sent) == 2 && seq < b->n &&
            b->lat_ns[seq] == 0) {
            b->lat_ns[seq] = bench_sse_now_ns() - (int64_t)sent;
            b->got++;
        }
        json_decref(j);
    }
    tgh_free(line); /* getline allocates with malloc */
    return NULL;
}

struct bench_sse *
bench_sse_start(unsigned port, const char *key, int64_t chat, size_t n)
{
    struct bench_sse *b = tgh_calloc(1, sizeof(*b));
    char cmd[512];

    b->n = n;
    b->lat_ns = tgh_calloc(n, sizeof(*b->lat_ns));
    (void)snprintf(cmd, sizeof(cmd),
                   "exec curl -sN -H 'X-API-Key: %s' "
                   "'http://127.0.0.1:%u/api/v1/stream?chat=%" PRId64 "'",
                   key, port, chat);
    b->curl = popen(cmd, "r");
    if (b->curl == NULL || pthread_create(&b->thread, NULL, follow, b) != 0) {
        (void)fprintf(stderr, "bench: cannot follow the stream with curl\n");
        exit(1);
    }
    (void)usleep(300 * 1000); /* connected, and at the feed's tail */
    return b;
}

void
bench_sse_event(struct msg_event *ev, struct tgh_arena *a, int64_t chat, int64_t message_id,
                size_t seq)
{
    char text[64];

    msg_event_init(ev);
    ev->source = MSG_SOURCE_TDLIB;
    ev->chat_id = chat;
    ev->chat_type = MSG_CHAT_CHANNEL;
    ev->message_id = message_id;
    ev->date = (int64_t)time(NULL);
    (void)snprintf(text, sizeof(text), "%zu %" PRId64, seq, bench_sse_now_ns());
    ev->text = tgh_arena_strdup(a, text);
}

void
bench_sse_pace(int64_t start_ns, int rate, size_t i)
{
    int64_t due = start_ns + (int64_t)i * (1000000000 / rate), now = bench_sse_now_ns();

    if (due > now) {
        struct timespec ts = { (due - now) / 1000000000, (due - now) % 1000000000 };

        (void)nanosleep(&ts, NULL);
    }
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

void
bench_sse_finish(struct bench_sse *b, const char *what, int wait_s)
{
    char cmd[64];

    for (int i = 0; i < wait_s * 20 && b->got < b->n; i++)
        (void)usleep(50 * 1000);
    /* curl is `exec`ed by popen's shell: its pid is the shell's, the child's pgid member. */
    (void)snprintf(cmd, sizeof(cmd), "pkill -P %d curl 2>/dev/null", (int)getpid());
    if (system(cmd) < 0)
        (void)fprintf(stderr, "bench: pkill failed\n");
    (void)pthread_join(b->thread, NULL);
    (void)pclose(b->curl);
    if (b->got < b->n) {
        (void)fprintf(stderr, "%s: only %zu of %zu arrived\n", what, b->got, b->n);
        exit(1);
    }
    qsort(b->lat_ns, b->n, sizeof(*b->lat_ns), cmp_i64);
    printf("%-38s %6zu msgs %8.3f %8.3f %8.3f\n", what, b->n, (double)b->lat_ns[b->n / 2] / 1e6,
           (double)b->lat_ns[b->n * 99 / 100] / 1e6, (double)b->lat_ns[b->n - 1] / 1e6);
    (void)fflush(stdout);
    tgh_free(b->lat_ns);
    tgh_free(b);
}
