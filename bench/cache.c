/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the worker's use of the cache (cache_seen, then cache_mark, per
 * batch) against the plainest pipelined loop that writes the same dedup
 * keys: SET key state NX EX with hiredis, one pipeline per batch. The cache
 * runs twice: dedup keys only (what the baseline does, plus the MGET), and
 * with a 300-byte event per message for the recent cache. Each round uses
 * fresh keys of a chat of its own and deletes them afterwards. Prints the
 * rates and the ratios against the baseline measured in the same run.
 *
 * usage: bench_cache [redis-url] [items] [batch]; the URL defaults to
 * TGH_BENCH_REDIS_URL.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "cache/cache.h"
#include "core/alloc.h"

#include "common/bench_pg.h"

#define ROUNDS    3
#define CHAT_BASE INT64_C(-1009000000000)
#define EVENT_LEN 300

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_cache: %s: %s\n", what, detail);
    exit(1);
}

static redisContext *
raw_open(const char *url)
{
    char host[256];
    int port = 6379, db = 0;
    redisContext *r;
    redisReply *rep;

    if (sscanf(url, "redis://%255[^:/]:%d/%d", host, &port, &db) < 1)
        die("URL", "expected redis://host[:port][/db] (no password) for the baseline");
    r = redisConnect(host, port);
    if (r == NULL || r->err)
        die("connect", r ? r->errstr : "out of memory");
    rep = redisCommand(r, "SELECT %d", db);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        die("SELECT", rep ? rep->str : r->errstr);
    freeReplyObject(rep);
    return r;
}

static void
drain(redisContext *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        redisReply *rep = NULL;

        if (redisGetReply(r, (void **)&rep) != REDIS_OK)
            die("reply", r->errstr);
        if (rep->type == REDIS_REPLY_ERROR)
            die("reply", rep->str);
        freeReplyObject(rep);
    }
}

/* The baseline: SET NX EX of chat's dedup keys, one pipeline per batch. */
static double
run_raw(redisContext *r, int64_t chat, size_t n, size_t batch)
{
    double t0 = bench_now_s();

    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;

        for (size_t j = i; j < i + k; j++)
            (void)redisAppendCommand(r, "SET telegram:dedup:%lld:%lld %s NX EX %d", (long long)chat,
                                     (long long)j + 1, "s1", CACHE_DEDUP_TTL);
        drain(r, k);
    }
    return bench_now_s() - t0;
}

/* The worker's calls: check the batch, then mark what was not seen. */
static double
run_cache(struct cache *c, struct cache_item *items, bool *seen, int64_t chat, size_t n,
          size_t batch, const char *event)
{
    double t0 = bench_now_s();

    for (size_t i = 0; i < n; i++) {
        items[i] = (struct cache_item){
            .chat_id = chat, .message_id = (int64_t)i + 1, .state = "s1", .is_new = true
        };
        if (event != NULL) {
            items[i].event = event;
            items[i].event_len = EVENT_LEN;
        }
    }
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;

        if (cache_seen(c, items + i, k, seen) != TGH_OK)
            die("cache_seen", tgh_errmsg());
        if (cache_mark(c, items + i, k) != TGH_OK)
            die("cache_mark", tgh_errmsg());
    }
    return bench_now_s() - t0;
}

/* Delete every key a round wrote for chat. */
static void
cleanup(redisContext *r, int64_t chat, size_t n)
{
    for (size_t i = 0; i < n; i += 1000) {
        size_t k = n - i < 1000 ? n - i : 1000;

        for (size_t j = i; j < i + k; j++)
            (void)redisAppendCommand(r, "DEL telegram:dedup:%lld:%lld telegram:msg:%lld:%lld",
                                     (long long)chat, (long long)j + 1, (long long)chat,
                                     (long long)j + 1);
        drain(r, k);
    }
    (void)redisAppendCommand(r, "DEL telegram:channel:%lld:recent telegram:channel:%lld:floor",
                             (long long)chat, (long long)chat);
    drain(r, 1);
}

static double
best(double a, double b)
{
    return a < b ? a : b;
}

int
main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("TGH_BENCH_REDIS_URL");
    size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 200000;
    size_t batch = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 500;
    double t_raw = 1e9, t_dedup = 1e9, t_full = 1e9;
    struct cache *c = NULL;
    struct cache_item *items;
    redisContext *r;
    char *event;
    bool *seen;
    int64_t chat = CHAT_BASE - (int64_t)time(NULL) % 1000000 * 10;

    if (url == NULL || n == 0 || batch == 0) {
        fprintf(stderr, "usage: bench_cache [redis://host:port[/db]] [items] [batch]"
                        " (or TGH_BENCH_REDIS_URL)\n");
        return 2;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    r = raw_open(url);
    if (cache_open(url, &c) != TGH_OK || !cache_connected(c))
        die("cache_open", tgh_errmsg());
    items = tgh_calloc(batch > n ? batch : n, sizeof(*items));
    seen = tgh_calloc(batch, sizeof(*seen));
    event = tgh_malloc(EVENT_LEN);
    memset(event, 'x', EVENT_LEN);
    for (int round = 0; round < ROUNDS; round++, chat -= 3) {
        t_raw = best(t_raw, run_raw(r, chat, n, batch));
        t_dedup = best(t_dedup, run_cache(c, items, seen, chat - 1, n, batch, NULL));
        t_full = best(t_full, run_cache(c, items, seen, chat - 2, n, batch, event));
        for (int64_t k = 0; k < 3; k++)
            cleanup(r, chat - k, n);
    }
    printf("items=%zu batch=%zu raw_set_nx=%.0f/s cache_seen+mark=%.0f/s ratio=%.2f"
           " with_events=%.0f/s ratio=%.2f\n",
           n, batch, (double)n / t_raw, (double)n / t_dedup, t_raw / t_dedup, (double)n / t_full,
           t_raw / t_full);
    tgh_free(event);
    tgh_free(seen);
    tgh_free(items);
    cache_close(c);
    redisFree(r);
    return 0;
}
