/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the live stream of the scale-out deployment: from a message
 * entering the pipeline to its arrival on a stream client, against a
 * baseline measured in the same run.
 *
 *   bench_stream [SECONDS] [RATE] [BATCH_WAIT_MS]     (5, 1000, 5)
 *
 * A worker (`tgharvest work`'s loop, TGH_BATCH_WAIT_MS as given) and an API
 * server in `serve` mode (its own feed, following Redis) run in this
 * process; the hops are the deployment's: RabbitMQ, PostgreSQL, the Redis
 * stream telegram:events, HTTP. A curl client follows the stream.
 *   baseline: RATE entries/s appended to the Redis stream directly (what a
 *             worker does after its commit): Redis, the API server and SSE;
 *   pipeline: RATE events/s published to tg.messages.v2 (one per message,
 *             confirmed as a collector's live updates are): publish to arrival.
 * URLs: TGH_BENCH_PG_URL, TGH_BENCH_AMQP_URL, TGH_BENCH_REDIS_URL (`make
 * bench`). The store, the queues and the Redis database are emptied first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "api/api.h"
#include "cache/cache.h"
#include "common/bench_pg.h"
#include "common/bench_sse.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/config.h"
#include "pipeline/pipeline.h"
#include "queue/queue.h"

#define KEY  "bench-key-0123456789abcdef"
#define CHAT -1009990000002LL

static volatile sig_atomic_t stop_worker;

struct worker {
    struct pipeline_work_opts o;
    struct pipeline_work_totals t;
    tgh_err rc;
    pthread_t thread;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    w->rc = pipeline_work_run(&w->o, &w->t);
    return NULL;
}

static const char *
env_url(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0')
        bench_die(name, "not set (`make bench` starts the servers and sets it)");
    return v;
}

/* An empty store with this month's partition, empty queues and Redis. */
static void
reset(const char *pg, const char *amqp, const char *redis_url)
{
    struct msg_event ev;
    struct tgh_arena a;
    PGconn *raw = PQconnectdb(pg);
    uint64_t purged;
    char cmd[512];

    if (PQstatus(raw) != CONNECTION_OK)
        bench_die("postgresql", PQerrorMessage(raw));
    tgh_arena_init(&a, 4096);
    bench_sse_event(&ev, &a, CHAT, 1, 0);
    bench_pg_reset(pg, raw, &ev, 1);
    msg_event_fini(&ev);
    tgh_arena_fini(&a);
    PQfinish(raw);
    if (queue_purge(amqp, QUEUE_NAME, &purged) != TGH_OK ||
        queue_purge(amqp, QUEUE_DLQ, &purged) != TGH_OK)
        bench_die("purge", tgh_errmsg());
    (void)snprintf(cmd, sizeof(cmd), "redis-cli -u '%s' FLUSHDB >/dev/null", redis_url);
    if (system(cmd) != 0)
        bench_die("redis-cli FLUSHDB", "failed");
}

/* The baseline: what a worker appends after its commit, straight into Redis. */
static void
run_redis(unsigned port, const char *redis_url, int rate, int seconds)
{
    size_t n = (size_t)rate * (size_t)seconds;
    struct bench_sse *sse = bench_sse_start(port, KEY, CHAT, n);
    struct cache *c = NULL;
    struct tgh_arena a;
    int64_t start;

    if (cache_open(redis_url, &c) != TGH_OK)
        bench_die("redis", tgh_errmsg());
    tgh_arena_init(&a, 4096);
    start = bench_sse_now_ns();
    for (size_t i = 0; i < n; i++) {
        struct msg_event ev;
        enum store_change ch = STORE_CHANGE_NEW;
        struct cache_event ce;
        char *json;

        bench_sse_pace(start, rate, i);
        bench_sse_event(&ev, &a, CHAT, 1000000 + (int64_t)i, i);
        if (codec_event_finalize(&ev) != TGH_OK)
            bench_die("finalize", tgh_errmsg());
        json = pipeline_feed_json(&ev, ch, &ce.len);
        ce.chat_id = CHAT;
        ce.kind = "new";
        ce.data = json;
        if (cache_events_add(c, &ce, 1, 100000) != TGH_OK)
            bench_die("XADD", tgh_errmsg());
        tgh_free(json);
        msg_event_fini(&ev);
        tgh_arena_reset(&a);
    }
    bench_sse_finish(sse, "Redis stream -> serve -> SSE (baseline)", 10);
    tgh_arena_fini(&a);
    cache_close(c);
}

/* The pipeline: one confirmed message per event, as live updates are published. */
static void
run_pipeline(unsigned port, const char *amqp, int rate, int seconds)
{
    size_t n = (size_t)rate * (size_t)seconds;
    struct bench_sse *sse = bench_sse_start(port, KEY, CHAT, n);
    struct queue_pub *pub = NULL;
    struct tgh_arena a;
    int64_t start;

    if (queue_pub_open(amqp, &pub) != TGH_OK)
        bench_die("broker", tgh_errmsg());
    tgh_arena_init(&a, 4096);
    start = bench_sse_now_ns();
    for (size_t i = 0; i < n; i++) {
        struct msg_event ev;
        char *json = NULL, key[96];
        size_t len = 0;

        bench_sse_pace(start, rate, i);
        bench_sse_event(&ev, &a, CHAT, 1 + (int64_t)i, i);
        if (codec_event_finalize(&ev) != TGH_OK || codec_event_encode(&ev, &json, &len) != TGH_OK)
            bench_die("encode", tgh_errmsg());
        (void)msg_event_key(&ev, key, sizeof(key));
        if (queue_publish(pub, json, len, key) != TGH_OK)
            bench_die("publish", tgh_errmsg());
        tgh_free(json);
        msg_event_fini(&ev);
        tgh_arena_reset(&a);
    }
    if (queue_pub_flush(pub, 30000) != TGH_OK)
        bench_die("confirms", tgh_errmsg());
    bench_sse_finish(sse, "publish -> work -> PG -> Redis -> SSE", 10);
    queue_pub_close(pub);
    tgh_arena_fini(&a);
}

int
main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5, rate = argc > 2 ? atoi(argv[2]) : 1000;
    long wait_ms = argc > 3 ? atol(argv[3]) : 5;
    const char *pg = env_url("TGH_BENCH_PG_URL"), *amqp = env_url("TGH_BENCH_AMQP_URL");
    const char *redis_url = env_url("TGH_BENCH_REDIS_URL");
    struct tgh_config cfg;
    struct api_opts o = { 0 };
    struct api_server *srv;
    struct worker w = { 0 };

    if (seconds < 1 || rate < 1 || wait_ms < 1)
        bench_die("usage", "bench_stream [SECONDS] [RATE] [BATCH_WAIT_MS]");
    (void)signal(SIGPIPE, SIG_IGN);
    (void)setenv("TGH_API_KEYS", KEY ":read", 1);
    (void)setenv("TGH_LOG_LEVEL", "warn", 1);
    (void)setenv("TGH_ENV_FILE", "/dev/null", 1);
    (void)setenv("TGH_STORE", pg, 1);
    (void)setenv("TGH_QUEUE", amqp, 1);
    (void)setenv("TGH_CACHE", redis_url, 1);
    (void)setenv("TGH_DATA_DIR", "/tmp", 1);
    if (tgh_config_load(&cfg) != TGH_OK)
        bench_die("config", tgh_errmsg());
    tgh_log_set_level(cfg.log_level);
    reset(pg, amqp, redis_url);

    w.o.queue_url = amqp;
    w.o.store_url = pg;
    w.o.cache_url = redis_url;
    w.o.batch_size = 500;
    w.o.prefetch = 100;
    w.o.batch_wait_ms = wait_ms;
    w.o.stream_max = 100000;
    w.o.stop = &stop_worker;
    if (pthread_create(&w.thread, NULL, worker_main, &w) != 0)
        bench_die("worker", "cannot start");
    o.cfg = &cfg;
    o.addr = "127.0.0.1:0";
    o.mode = "serve";
    if (api_server_start(&o, &srv) != TGH_OK)
        bench_die("api", tgh_errmsg());
    (void)sleep(1); /* the follower has loaded Redis's tail */
    printf("bench_stream: %d msg/s for %d s, worker batch wait %ld ms, one chat\n", rate, seconds,
           wait_ms);
    printf("%-38s %11s %8s %8s %8s\n", "", "", "p50 ms", "p99 ms", "max ms");
    run_redis(api_server_port(srv), redis_url, rate, seconds);
    run_pipeline(api_server_port(srv), amqp, rate, seconds);

    stop_worker = 1;
    (void)pthread_join(w.thread, NULL);
    if (w.rc != TGH_OK)
        bench_die("worker", tgh_errmsg());
    printf("worker: %llu events in %llu batches\n", (unsigned long long)w.t.events,
           (unsigned long long)w.t.batches);
    api_server_stop(srv);
    tgh_config_fini(&cfg);
    return 0;
}
