/* SPDX-License-Identifier: MIT */
/*
 * api.c - the HTTP API under load, against a baseline measured in the same
 * run.
 *
 *   bench_api [MESSAGES] [SECONDS] [RATE]
 *
 * 1. wrk (Debian's) against /healthz (the baseline: routing, auth-free, no
 *    store), the polling route (the newest 50 messages after an id, from a
 *    SQLite archive of MESSAGES) and /metrics, at 1, 4 and 16 connections:
 *    requests/s and p50/p99 latency of each, and the ratio to the baseline.
 * 2. The live stream: RATE messages per second for SECONDS go through a
 *    pipeline writer into the store (one batch each, as live updates come),
 *    and a client (curl) following /api/v1/stream timestamps their arrival:
 *    p50/p99/max from submit to arrival. Baseline: the same rate appended to
 *    the feed directly (HTTP and SSE alone, no store).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "common/bench_pg.h"
#include "common/bench_sse.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/feed.h"
#include "core/msg.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#define KEY         "bench-key-0123456789abcdef"
#define STREAM_CHAT -1009990000001LL

/* ---- wrk ---- */

struct wrk_result {
    double rps, p50_ms, p99_ms;
};

/* "1.23ms", "456.00us", "1.01s" in milliseconds. */
static double
wrk_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);

    if (strncmp(end, "us", 2) == 0)
        return v / 1000.0;
    if (strncmp(end, "ms", 2) == 0)
        return v;
    if (*end == 's')
        return v * 1000.0;
    return v;
}

static struct wrk_result
wrk(const char *url, int conns, int seconds)
{
    char cmd[1024], line[512];
    struct wrk_result r = { 0, 0, 0 };
    FILE *p;

    (void)snprintf(cmd, sizeof(cmd),
                   "wrk -t %d -c %d -d %ds --latency -H 'X-API-Key: " KEY "' '%s' 2>&1",
                   conns < 2 ? 1 : 2, conns, seconds, url);
    p = popen(cmd, "r");
    if (p == NULL)
        bench_die("wrk", strerror(errno));
    while (fgets(line, sizeof(line), p) != NULL) {
        char v[64];

        if (sscanf(line, " 50%% %63s", v) == 1)
            r.p50_ms = wrk_ms(v);
        else if (sscanf(line, " 99%% %63s", v) == 1)
            r.p99_ms = wrk_ms(v);
        else if (strncmp(line, "Requests/sec:", 13) == 0)
            r.rps = strtod(line + 13, NULL);
        else if (strstr(line, "Non-2xx") != NULL)
            bench_die("wrk", line);
    }
    if (pclose(p) != 0 || r.rps <= 0)
        bench_die("wrk", "failed (is it installed? apt-get install wrk)");
    return r;
}

static void
bench_http(uint16_t port, int64_t chat, int64_t after_id, int seconds)
{
    static const int conns[] = { 1, 4, 16 };
    char url[3][256];
    static const char *const names[] = { "/healthz (baseline)", "polling, 50 messages",
                                         "/metrics" };

    (void)snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%u/healthz", port);
    (void)snprintf(url[1], sizeof(url[1]),
                   "http://127.0.0.1:%u/api/v1/chats/%" PRId64 "/messages?after_id=%" PRId64
                   "&limit=50",
                   port, chat, after_id);
    (void)snprintf(url[2], sizeof(url[2]), "http://127.0.0.1:%u/metrics", port);
    printf("%-22s %5s %10s %9s %9s %10s\n", "route", "conns", "req/s", "p50 ms", "p99 ms",
           "vs base");
    for (size_t c = 0; c < sizeof(conns) / sizeof(conns[0]); c++) {
        struct wrk_result base = wrk(url[0], conns[c], seconds);

        for (int u = 0; u < 3; u++) {
            struct wrk_result r = u == 0 ? base : wrk(url[u], conns[c], seconds);

            printf("%-22s %5d %10.0f %9.3f %9.3f %9.2fx\n", names[u], conns[c], r.rps, r.p50_ms,
                   r.p99_ms, r.rps / base.rps);
        }
    }
}

/* ---- the live stream ---- */

/* RATE messages/s for SECONDS; through the writer, or into the feed alone. */
static void
bench_stream(uint16_t port, struct tgh_feed *feed, struct pipeline_writer *w, int rate, int seconds,
             int64_t first_id, const char *what)
{
    size_t n = (size_t)rate * (size_t)seconds;
    struct bench_sse *sse = bench_sse_start(port, KEY, STREAM_CHAT, n);
    struct msg_batch b;
    int64_t start;

    msg_batch_init(&b, 1);
    start = bench_sse_now_ns();
    for (size_t i = 0; i < n; i++) {
        struct msg_event *ev;

        bench_sse_pace(start, rate, i);
        ev = msg_batch_push(&b);
        bench_sse_event(ev, &b.arena, STREAM_CHAT, first_id + (int64_t)i, i);
        if (codec_event_finalize(ev) != TGH_OK)
            bench_die("finalize", tgh_errmsg());
        if (w != NULL) {
            if (pipeline_writer_submit(w, &b) != TGH_OK)
                bench_die("submit", tgh_errmsg());
        } else {
            enum store_change ch = STORE_CHANGE_NEW;

            pipeline_feed_changes(feed, ev, &ch, 1);
            msg_batch_reset(&b);
        }
    }
    msg_batch_fini(&b);
    bench_sse_finish(sse, what, 5);
}

/* ---- setup ---- */

static void
fill_store(const char *url, size_t n)
{
    struct tgh_arena a;
    struct msg_event *ev = tgh_calloc(n, sizeof(*ev));
    struct store *st;
    struct store_stats s = { 0 };

    tgh_arena_init(&a, 1 << 20);
    bench_pg_make_events(ev, n, 10, &a);
    if (store_open(url, &st) != TGH_OK)
        bench_die("store", tgh_errmsg());
    for (size_t i = 0; i < n; i += 1000)
        if (store_batch_commit(st, ev + i, n - i < 1000 ? n - i : 1000, &s) != TGH_OK)
            bench_die("commit", tgh_errmsg());
    store_close(st);
    for (size_t i = 0; i < n; i++)
        msg_event_fini(&ev[i]);
    tgh_free(ev);
    tgh_arena_fini(&a);
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100000;
    int seconds = argc > 2 ? atoi(argv[2]) : 5, rate = argc > 3 ? atoi(argv[3]) : 1000;
    char dir[] = "/tmp/tgh-bench-api-XXXXXX", url[300], cmd[400];
    struct tgh_config cfg;
    struct api_opts o = { 0 };
    struct api_server *srv;
    struct tgh_feed *feed;
    struct store *wst;
    struct pipeline_writer *w;

    if (n < 1000 || seconds < 1 || rate < 1 || mkdtemp(dir) == NULL)
        bench_die("usage", "bench_api [MESSAGES>=1000] [SECONDS] [RATE]");
    (void)setenv("TGH_API_KEYS", KEY ":read", 1);
    (void)setenv("TGH_LOG_LEVEL", "warn", 1);
    (void)setenv("TGH_ENV_FILE", "/dev/null", 1);
    (void)snprintf(url, sizeof(url), "sqlite://%s/bench.db", dir);
    if (tgh_config_load(&cfg) != TGH_OK)
        bench_die("config", tgh_errmsg());
    tgh_log_set_level(cfg.log_level);
    fill_store(url, n);
    feed = tgh_feed_new(10000);
    o.cfg = &cfg;
    o.store_url = url;
    o.addr = "127.0.0.1:0";
    o.feed = feed;
    o.mode = "bench";
    if (api_server_start(&o, &srv) != TGH_OK)
        bench_die("api", tgh_errmsg());
    printf("bench_api: %zu messages in 10 channels (SQLite), server on port %u, 2 wrk threads\n\n",
           n, api_server_port(srv));
    /* Poll chat 0's newest 50: after_id = its message count - 50. */
    bench_http(api_server_port(srv), BENCH_PG_CHAT_ID, (int64_t)(n / 10) - 50, seconds);

    printf("\nlive stream at %d msg/s for %d s   %18s %8s %8s %8s\n", rate, seconds, "", "p50 ms",
           "p99 ms", "max ms");
    bench_stream(api_server_port(srv), feed, NULL, rate, seconds, 1, "feed -> SSE (baseline)");
    if (store_open(url, &wst) != TGH_OK || pipeline_writer_start(wst, 1, 64, &w) != TGH_OK)
        bench_die("writer", tgh_errmsg());
    pipeline_writer_set_feed(w, feed);
    bench_stream(api_server_port(srv), feed, w, rate, seconds, 1, "submit -> commit -> SSE");
    if (pipeline_writer_stop(w, NULL) != TGH_OK)
        bench_die("writer", tgh_errmsg());
    store_close(wst);
    api_server_stop(srv);
    tgh_feed_free(feed);
    tgh_config_fini(&cfg);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
