/* SPDX-License-Identifier: MIT */
/*
 * pipeline.c - the scale-out pipeline end to end: N events published to
 * RabbitMQ (confirmed, in pages of P events per message as the collector
 * sends them), consumed by `tgharvest work`'s loop into PostgreSQL with
 * Redis de-duplication, against the raw limit measured in the same run: COPY
 * of the same rows into the same partitioned table. Three runs:
 *   1. the broker alone: every event published and confirmed;
 *   2. the workers alone: they drain the queue filled by run 1;
 *   3. end to end: publisher and workers at once, from an empty store, queue
 *      and Redis; the time from the first publish to the last commit.
 * Prints each rate, batch commit latency p50/p99 (decode to ack) and the
 * ratios of the workers and of the end to end run to the raw COPY.
 *
 * usage: bench_pipeline [events] [batch] [workers] [page]   (200000, 500, 2, 100)
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

/* Every event published and confirmed, page events per message; seconds taken. */
static double
publish_all(const char *amqp, const struct msg_event *ev, size_t n, size_t page)
{
    struct queue_pub *pub = NULL;
    struct queue_page pg;
    double t0;

    if (queue_pub_open(amqp, &pub) != TGH_OK)
        bench_die("publisher", tgh_errmsg());
    queue_page_init(&pg);
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        char *json = NULL, key[48];
        size_t len = 0;

        if (codec_event_encode(&ev[i], &json, &len) != TGH_OK)
            bench_die("encode", tgh_errmsg());
        (void)msg_event_key(&ev[i], key, sizeof(key));
        queue_page_add(&pg, json, len, key);
        tgh_free(json);
        if ((pg.n >= page || queue_page_full(&pg)) && queue_page_publish(pub, &pg) != TGH_OK)
            bench_die("publish", tgh_errmsg());
        if ((i + 1) % 5000 == 0 && queue_pub_flush(pub, 60000) != TGH_OK)
            bench_die("flush", tgh_errmsg());
    }
    if (queue_page_publish(pub, &pg) != TGH_OK || queue_pub_flush(pub, 60000) != TGH_OK)
        bench_die("flush", tgh_errmsg());
    t0 = bench_now_s() - t0;
    queue_page_fini(&pg);
    queue_pub_close(pub);
    return t0;
}

static void
workers_start(struct run *r, pthread_t *th, unsigned workers)
{
    r->next = 0;
    r->nlat = 0;
    memset(r->t, 0, sizeof(r->t));
    for (unsigned w = 0; w < workers; w++)
        if (pthread_create(&th[w], NULL, worker_main, r) != 0)
            bench_die("thread", "cannot start a worker");
}

static void
workers_join(struct run *r, pthread_t *th, unsigned workers, PGconn *raw, size_t n)
{
    PGresult *res;

    for (unsigned w = 0; w < workers; w++) {
        (void)pthread_join(th[w], NULL);
        if (r->rc[w] != TGH_OK)
            bench_die("worker", tgh_err_name(r->rc[w]));
    }
    res = PQexec(raw, "SELECT count(*) FROM messages");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || strtoull(PQgetvalue(res, 0, 0), NULL, 10) != n)
        bench_die("check", "the store does not hold every event once");
    PQclear(res);
    qsort(r->lat_ms, r->nlat, sizeof(*r->lat_ms), cmp_double);
    for (unsigned w = 1; w < workers; w++) {
        r->t[0].ms_decode += r->t[w].ms_decode;
        r->t[0].ms_cache += r->t[w].ms_cache;
        r->t[0].ms_commit += r->t[w].ms_commit;
    }
}

static void
empty_all(const char *pg, PGconn *raw, const struct msg_event *ev, size_t n, const char *amqp,
          const char *redis)
{
    uint64_t purged;

    bench_pg_reset(pg, raw, ev, n);
    if (queue_purge(amqp, QUEUE_NAME, &purged) != TGH_OK ||
        queue_purge(amqp, QUEUE_DLQ, &purged) != TGH_OK)
        bench_die("purge", tgh_errmsg());
    redis_flush(redis);
}

static void
report(const char *what, const struct run *r, size_t n, double secs, double t_copy)
{
    printf("%-34s %9.0f events/s, ratio to COPY %.2f\n", what, (double)n / secs, t_copy / secs);
    printf("  batch latency p50 / p99:         %9.1f / %.1f ms (%zu batches)\n",
           pct(r->lat_ms, r->nlat, 0.50), pct(r->lat_ms, r->nlat, 0.99), r->nlat);
    printf("  worker time: decode %.1f s, Redis %.1f s, store %.1f s (all workers)\n",
           (double)r->t[0].ms_decode / 1000, (double)r->t[0].ms_cache / 1000,
           (double)r->t[0].ms_commit / 1000);
}

int
main(int argc, char **argv)
{
    const char *pg = getenv("TGH_BENCH_PG_URL"), *amqp = getenv("TGH_BENCH_AMQP_URL"),
               *redis = getenv("TGH_BENCH_REDIS_URL");
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 200000;
    size_t batch = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 500;
    unsigned workers = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2;
    size_t page = argc > 4 ? (size_t)strtoul(argv[4], NULL, 10) : QUEUE_PAGE_EVENTS;
    static volatile sig_atomic_t stop;
    struct run r = { 0 };
    struct msg_event *ev;
    struct tgh_arena a;
    pthread_t th[MAX_WORKERS];
    double t_copy, t0, t_pub, t_work, t_e2e;
    PGconn *raw;

    if (pg == NULL || amqp == NULL || redis == NULL || n == 0 || batch == 0 || workers == 0 ||
        workers > MAX_WORKERS || page == 0 || page > QUEUE_PAGE_EVENTS) {
        fprintf(stderr, "usage: bench_pipeline [events] [batch] [workers] [page], with"
                        " TGH_BENCH_PG_URL, TGH_BENCH_AMQP_URL and TGH_BENCH_REDIS_URL set\n");
        return 2;
    }
    tgh_log_set_level(TGH_LOG_WARN);
    raw = PQconnectdb(pg);
    if (PQstatus(raw) != CONNECTION_OK)
        bench_die("connect", PQerrorMessage(raw));
    tgh_arena_init(&a, 1 << 20);
    ev = tgh_calloc(n, sizeof(*ev));
    bench_pg_make_events(ev, n, CHATS, &a);
    r.o = (struct pipeline_work_opts){
        .queue_url = amqp,
        .store_url = pg,
        .cache_url = redis,
        .batch_size = batch,
        .prefetch = (unsigned)(batch / 5 < 16 ? 16 : batch / 5), /* `work`'s default */
        .batch_wait_ms = 200,
        .idle_exit_ms = 3000,
        .stop = &stop,
        .on_batch = on_batch,
        .on_batch_arg = &r,
    };
    if (page == 1)
        r.o.prefetch = (unsigned)(2 * batch); /* one event per message: a window of events */
    pthread_mutex_init(&r.mu, NULL);

    /* The raw limit, on the emptied tables. */
    bench_pg_reset(pg, raw, ev, n);
    t_copy = bench_pg_copy(raw, ev, n, batch);
    printf("events %zu, batch %zu, prefetch %u, workers %u, %zu events per message\n", n, batch,
           r.o.prefetch, workers, page);
    printf("raw COPY into messages:            %9.0f events/s\n", (double)n / t_copy);

    /* 1 and 2: the broker alone, then the workers drain what it holds. */
    empty_all(pg, raw, ev, n, amqp, redis);
    t_pub = publish_all(amqp, ev, n, page);
    printf("confirmed publish alone:           %9.0f events/s\n", (double)n / t_pub);
    t0 = bench_now_s();
    workers_start(&r, th, workers);
    workers_join(&r, th, workers, raw, n);
    t_work = r.last_commit - t0;
    report("workers alone (queue to store):", &r, n, t_work, t_copy);

    /* 3: publisher and workers at once, on an empty pipeline. */
    empty_all(pg, raw, ev, n, amqp, redis);
    t0 = bench_now_s();
    workers_start(&r, th, workers);
    (void)publish_all(amqp, ev, n, page);
    workers_join(&r, th, workers, raw, n);
    t_e2e = r.last_commit - t0;
    report("end to end (publish while working):", &r, n, t_e2e, t_copy);

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
