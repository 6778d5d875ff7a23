/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - the scale-out pipeline end to end: N events published to
 * RabbitMQ (confirmed), then `tgharvest work`'s loop consumes them into
 * PostgreSQL with Redis de-duplication, against the raw limit measured in
 * the same run: COPY of the same rows into the same partitioned table.
 * The broker's publish rate is measured alone first (all N confirmed),
 * then the worker drains the queue: prints both rates, the two combined,
 * batch commit latency p50/p99 (decode to ack) and the worker's ratio to
 * the raw COPY.
 *
 * usage: bench_pipeline [events] [batch] [workers]   (200000, 500, 2)
 * URLs: TGH_BENCH_PG_URL, TGH_BENCH_AMQP_URL, TGH_BENCH_REDIS_URL (`make
 * bench` starts the three servers and sets them). The database must exist;
 * the queues and the Redis database are emptied first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cache/cache.h"
#include "common/bench_pg.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"
#include "pipeline/pipeline.h"
#include "queue/queue.h"

#define MAX_WORKERS 8
#define CHATS       16 /* channels the events are spread over */

struct run {
    struct pipeline_work_opts o;
    struct pipeline_work_totals t[MAX_WORKERS];
    tgh_err rc[MAX_WORKERS];
    unsigned next;  /* the next worker's index */
    double *lat_ms; /* per batch */
    size_t nlat, cap;
    double last_commit; /* bench_now_s() of the last acked batch */
    pthread_mutex_t mu;
};

static void
on_batch(void *arg, size_t deliveries, int64_t ms)
{
    struct run *r = arg;

    (void)deliveries;
    pthread_mutex_lock(&r->mu);
    if (r->nlat == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->lat_ms = tgh_realloc(r->lat_ms, r->cap * sizeof(*r->lat_ms));
    }
    r->lat_ms[r->nlat++] = (double)ms;
    r->last_commit = bench_now_s();
    pthread_mutex_unlock(&r->mu);
}

static void *
worker_main(void *arg)
{
    struct run *r = arg;
    unsigned i;

    pthread_mutex_lock(&r->mu);
    i = r->next++;
    pthread_mutex_unlock(&r->mu);
    r->rc[i] = pipeline_work_run(&r->o, &r->t[i]);
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);

    return n == 0 ? 0 : v[i];
}

static void
redis_flush(const char *url)
{
    const char *hp = strstr(url, "://");
    char host[256];
    int port = 6379;
    redisContext *c;
    redisReply *rep;

    if (hp == NULL || sscanf(hp + 3, "%255[^:/]:%d", host, &port) < 1)
        bench_die("redis url", url);
    c = redisConnect(host, port);
    if (c == NULL || c->err)
        bench_die("redis", c ? c->errstr : "no memory");
    rep = redisCommand(c, "FLUSHDB");
    if (rep == NULL)
        bench_die("redis", "FLUSHDB");
    freeReplyObject(rep);
    redisFree(c);
}

int
main(int argc, char **argv)
{
    const char *pg = getenv("TGH_BENCH_PG_URL"), *amqp = getenv("TGH_BENCH_AMQP_URL"),
               *redis = getenv("TGH_BENCH_REDIS_URL");
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 200000;
    size_t batch = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 500;
    unsigned workers = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2;
    static volatile sig_atomic_t stop;
    struct run r = { 0 };
    struct msg_event *ev;
    struct queue_pub *pub = NULL;
    struct tgh_arena a;
    pthread_t th[MAX_WORKERS];
    double t_copy, t0, t_pub;
    uint64_t purged;
    PGconn *raw;
    PGresult *res;

    if (pg == NULL || amqp == NULL || redis == NULL || n == 0 || batch == 0 || workers == 0 ||
        workers > MAX_WORKERS) {
        fprintf(stderr, "usage: bench_pipeline [events] [batch] [workers], with TGH_BENCH_PG_URL,"
                        " TGH_BENCH_AMQP_URL and TGH_BENCH_REDIS_URL set\n");
        return 2;
    }
    tgh_log_set_level(TGH_LOG_WARN);
    raw = PQconnectdb(pg);
    if (PQstatus(raw) != CONNECTION_OK)
        bench_die("connect", PQerrorMessage(raw));
    tgh_arena_init(&a, 1 << 20);
    ev = tgh_calloc(n, sizeof(*ev));
    bench_pg_make_events(ev, n, CHATS, &a);

    bench_pg_reset(pg, raw, ev, n);

    /* The pipeline: a worker thread, the publisher here. */
    if (queue_purge(amqp, QUEUE_NAME, &purged) != TGH_OK ||
        queue_purge(amqp, QUEUE_DLQ, &purged) != TGH_OK)
        bench_die("purge", tgh_errmsg());
    redis_flush(redis);
    r.o = (struct pipeline_work_opts){
        .queue_url = amqp,
        .store_url = pg,
        .cache_url = redis,
        .batch_size = batch,
        .prefetch = (unsigned)(2 * batch),
        .batch_wait_ms = 200,
        .idle_exit_ms = 3000,
        .stop = &stop,
        .on_batch = on_batch,
        .on_batch_arg = &r,
    };
    pthread_mutex_init(&r.mu, NULL);
    if (queue_pub_open(amqp, &pub) != TGH_OK)
        bench_die("publisher", tgh_errmsg());
    /* First the broker alone: every event published and confirmed. */
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        char *json = NULL, key[48];
        size_t len = 0;

        if (codec_event_encode(&ev[i], &json, &len) != TGH_OK)
            bench_die("encode", tgh_errmsg());
        (void)msg_event_key(&ev[i], key, sizeof(key));
        if (queue_publish(pub, json, len, key) != TGH_OK)
            bench_die("publish", tgh_errmsg());
        tgh_free(json);
        if ((i + 1) % 1000 == 0 && queue_pub_flush(pub, 60000) != TGH_OK)
            bench_die("flush", tgh_errmsg());
    }
    if (queue_pub_flush(pub, 60000) != TGH_OK)
        bench_die("flush", tgh_errmsg());
    t_pub = bench_now_s() - t0;
    queue_pub_close(pub);
    /* Then the worker drains the queue into the store. */
    t0 = bench_now_s();
    for (unsigned w = 0; w < workers; w++)
        if (pthread_create(&th[w], NULL, worker_main, &r) != 0)
            bench_die("thread", "cannot start a worker");
    for (unsigned w = 0; w < workers; w++) {
        (void)pthread_join(th[w], NULL);
        if (r.rc[w] != TGH_OK)
            bench_die("worker", tgh_err_name(r.rc[w]));
    }
    res = PQexec(raw, "SELECT count(*) FROM messages");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || strtoull(PQgetvalue(res, 0, 0), NULL, 10) != n)
        bench_die("check", "the store does not hold every event once");
    PQclear(res);
    qsort(r.lat_ms, r.nlat, sizeof(*r.lat_ms), cmp_double);
    /* The raw limit, on the same (emptied) tables. */
    bench_pg_reset(pg, raw, ev, n);
    t_copy = bench_pg_copy(raw, ev, n, batch);

    printf("events %zu, batch %zu, prefetch %u, workers %u\n", n, batch, r.o.prefetch, workers);
    printf("raw COPY into messages:          %9.0f events/s\n", (double)n / t_copy);
    printf("confirmed publish alone:         %9.0f events/s\n", (double)n / t_pub);
    printf("worker: queue to store:          %9.0f events/s\n", (double)n / (r.last_commit - t0));
    printf("end to end (publish, then work): %9.0f events/s\n",
           (double)n / (t_pub + r.last_commit - t0));
    printf("batch commit latency p50 / p99:  %9.1f / %.1f ms (%zu batches)\n",
           pct(r.lat_ms, r.nlat, 0.50), pct(r.lat_ms, r.nlat, 0.99), r.nlat);
    for (unsigned w = 1; w < workers; w++) {
        r.t[0].ms_decode += r.t[w].ms_decode;
        r.t[0].ms_cache += r.t[w].ms_cache;
        r.t[0].ms_commit += r.t[w].ms_commit;
    }
    printf("worker time: decode %.1f s, Redis %.1f s, store %.1f s (all workers)\n",
           (double)r.t[0].ms_decode / 1000, (double)r.t[0].ms_cache / 1000,
           (double)r.t[0].ms_commit / 1000);
    printf("ratio worker / COPY:             %9.2f\n", t_copy / (r.last_commit - t0));

    bench_pg_reset(pg, raw, ev, n);
    for (size_t i = 0; i < n; i++)
        msg_event_fini(&ev[i]);
    tgh_free(ev);
    tgh_free(r.lat_ms);
    pthread_mutex_destroy(&r.mu);
    tgh_arena_fini(&a);
    PQfinish(raw);
    return 0;
}
