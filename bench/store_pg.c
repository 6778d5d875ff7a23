/* SPDX-License-Identifier: MIT */
/*
 * store_pg.c - fresh inserts through store_batch_commit() into PostgreSQL
 * against the fastest plain way to write the same rows: COPY straight into
 * the same partitioned messages table (same indexes, same generated search
 * column), one transaction per batch, the same codec_event_encode() per
 * event. Prints both rates, their ratio, and the rate of committing the
 * same events again (all unchanged).
 *
 * usage: bench_store_pg [url] [events] [batch] [chats]   (url default: $TGH_BENCH_PG_URL)
 * The database must exist; its store tables are emptied before each run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"
#include "store/store.h"

#include "common/bench_pg.h"

static double
commit_all(struct store *st, const struct msg_event *ev, size_t n, size_t batch,
           struct store_stats *stats)
{
    double t0 = bench_now_s();

    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;

        if (store_batch_commit(st, ev + i, k, stats) != TGH_OK)
            bench_die("commit", tgh_errmsg());
    }
    return bench_now_s() - t0;
}

static double
run_store(const char *url, const struct msg_event *ev, size_t n, size_t batch, double *again)
{
    struct store *st = NULL;
    struct store_stats stats = { 0 };
    double t;

    if (store_open(url, &st) != TGH_OK)
        bench_die("store_open", tgh_errmsg());
    t = commit_all(st, ev, n, batch, &stats);
    *again = commit_all(st, ev, n, batch, &stats);
    store_close(st);
    if (stats.inserted != n || stats.unchanged != n)
        bench_die("store", "not every event was inserted once and unchanged once");
    return t;
}

int
main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("TGH_BENCH_PG_URL");
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 200000;
    size_t batch = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 500;
    size_t chats = argc > 4 ? (size_t)strtoul(argv[4], NULL, 10) : 1;
    struct msg_event *ev;
    struct tgh_arena a;
    double t_store, t_again, t_copy;
    PGconn *raw;

    if (url == NULL || *url == '\0' || n == 0 || batch == 0) {
        fprintf(stderr, "usage: bench_store_pg [postgresql://...] [events] [batch]"
                        " (or TGH_BENCH_PG_URL)\n");
        return 2;
    }
    raw = PQconnectdb(url);
    if (PQstatus(raw) != CONNECTION_OK)
        bench_die("connect", PQerrorMessage(raw));
    tgh_arena_init(&a, 1 << 20);
    ev = tgh_calloc(n, sizeof(*ev));
    bench_pg_make_events(ev, n, chats ? chats : 1, &a);

    bench_pg_reset(url, raw, ev, n);
    t_copy = bench_pg_copy(raw, ev, n, batch);
    bench_pg_reset(url, raw, ev, n);
    t_store = run_store(url, ev, n, batch, &t_again);
    bench_pg_reset(url, raw, ev, n);

    printf("events %zu, batch %zu\n", n, batch);
    printf("raw COPY into messages:      %9.0f events/s\n", (double)n / t_copy);
    printf("store_batch_commit (new):    %9.0f events/s\n", (double)n / t_store);
    printf("store_batch_commit (again):  %9.0f events/s\n", (double)n / t_again);
    printf("ratio store/COPY:            %9.2f\n", t_copy / t_store);

    for (size_t i = 0; i < n; i++)
        msg_event_fini(&ev[i]);
    tgh_free(ev);
    tgh_arena_fini(&a);
    PQfinish(raw);
    return 0;
}
