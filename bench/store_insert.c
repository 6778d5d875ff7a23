/* SPDX-License-Identifier: MIT */
/*
 * store_insert.c - fresh inserts through store_batch_commit() against the
 * plainest loop that writes the same rows: one prepared INSERT into the same
 * schema (so the same indexes and FTS triggers), the same pragmas, the same
 * batch transactions, and the same codec_event_encode() per event. Prints
 * both rates and their ratio, and the rate of committing the same events again
 * (all unchanged); usage: bench_store_insert [events] [batch].
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"
#include "store/store.h"

#include "common/bench_pg.h"

#define ROUNDS 3

static void
cleanup(const char *path)
{
    char p[512];

    (void)unlink(path);
    (void)snprintf(p, sizeof(p), "%s-wal", path);
    (void)unlink(p);
    (void)snprintf(p, sizeof(p), "%s-shm", path);
    (void)unlink(p);
}

static double
commit_all(struct store *st, const struct msg_event *ev, size_t n, size_t batch,
           struct store_stats *stats)
{
    double t0 = bench_now_s();

    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;

        if (store_batch_commit(st, ev + i, k, stats) != TGH_OK) {
            fprintf(stderr, "commit: %s\n", tgh_errmsg());
            exit(1);
        }
    }
    return bench_now_s() - t0;
}

/* Fresh inserts; *again is the time to commit the same events a second time. */
static double
run_store(const char *path, const struct msg_event *ev, size_t n, size_t batch, double *again)
{
    char url[700];
    struct store *st = NULL;
    struct store_stats stats = { 0 };
    double t0;

    (void)snprintf(url, sizeof(url), "sqlite://%s", path);
    if (store_open(url, &st) != TGH_OK) {
        fprintf(stderr, "store_open: %s\n", tgh_errmsg());
        exit(1);
    }
    t0 = commit_all(st, ev, n, batch, &stats);
    *again = commit_all(st, ev, n, batch, &stats);
    store_close(st);
    if (stats.inserted != n || stats.unchanged != n) {
        fprintf(stderr, "inserted %zu of %zu\n", stats.inserted, n);
        exit(1);
    }
    return t0;
}

static void
must(int rc, sqlite3 *db, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static double
run_raw(const char *path, const struct msg_event *ev, size_t n, size_t batch)
{
    static const char insert[] =
        "INSERT INTO messages (chat_id, message_id, date, edit_date, sender_id, sender_type,"
        " sender_name, text, thread_id, reply_to_message_id, media_kind, views, forwards,"
        " replies, reactions, source, content_hash, idempotency_key, event, first_seen_at,"
        " updated_at) VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, NULL, NULL, NULL, ?8, NULL,"
        " NULL, NULL, ?9, ?10, ?11, ?12, ?13, ?14)";
    char url[700];
    struct store *st = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    double t0;

    /* The store creates the schema; the loop then writes on its own. */
    (void)snprintf(url, sizeof(url), "sqlite://%s", path);
    if (store_open(url, &st) != TGH_OK) {
        fprintf(stderr, "store_open: %s\n", tgh_errmsg());
        exit(1);
    }
    store_close(st);
    must(sqlite3_open(path, &db), db, "open");
    must(sqlite3_exec(db,
                      "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                      " PRAGMA foreign_keys = ON;"
                      " INSERT INTO chats (chat_id, type, title, created_at, updated_at)"
                      " VALUES (-1001234567890, 'channel', 'Bench channel', 0, 0)",
                      NULL, NULL, NULL),
         db, "setup");
    must(sqlite3_prepare_v2(db, insert, -1, &s, NULL), db, "prepare");
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;

        must(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), db, "begin");
        for (size_t j = i; j < i + k; j++) {
            const struct msg_event *e = &ev[j];
            char key[48], *json = NULL;
            size_t len = 0;

            if (codec_event_encode(e, &json, &len) != TGH_OK)
                exit(1);
            (void)msg_event_key(e, key, sizeof(key));
            sqlite3_bind_int64(s, 1, e->chat_id);
            sqlite3_bind_int64(s, 2, e->message_id);
            sqlite3_bind_int64(s, 3, e->date);
            sqlite3_bind_int64(s, 4, e->sender_id);
            sqlite3_bind_text(s, 5, msg_peer_type_name(e->sender_type), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 6, e->sender_name, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 7, e->text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 8, e->views);
            sqlite3_bind_text(s, 9, msg_source_name(e->source), -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 10, e->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
            sqlite3_bind_text(s, 11, key, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 12, json, (int)len, SQLITE_STATIC);
            sqlite3_bind_int64(s, 13, e->observed_at);
            sqlite3_bind_int64(s, 14, (int64_t)time(NULL));
            must(sqlite3_step(s), db, "insert");
            sqlite3_reset(s);
            tgh_free(json);
        }
        must(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db, "commit");
    }
    t0 = bench_now_s() - t0;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return t0;
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
    size_t batch = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 1000;
    char dir[] = "/tmp/bench_store.XXXXXX", path[600];
    double best_store = 1e9, best_raw = 1e9, best_again = 1e9;
    struct msg_event *ev;
    struct tgh_arena a;

    if (n == 0 || batch == 0 || mkdtemp(dir) == NULL)
        return 1;
    (void)snprintf(path, sizeof(path), "%s/bench.db", dir);
    tgh_arena_init(&a, 1 << 20);
    ev = tgh_calloc(n, sizeof(*ev));
    bench_pg_make_events(ev, n, 1, &a); /* one channel */
    for (int r = 0; r < ROUNDS; r++) {
        double t, again;

        cleanup(path);
        t = run_raw(path, ev, n, batch);
        best_raw = t < best_raw ? t : best_raw;
        cleanup(path);
        t = run_store(path, ev, n, batch, &again);
        best_store = t < best_store ? t : best_store;
        best_again = again < best_again ? again : best_again;
    }
    cleanup(path);
    (void)rmdir(dir);
    printf("events=%zu batch=%zu raw_loop=%.0f/s store_commit=%.0f/s ratio=%.2f"
           " recommit_unchanged=%.0f/s\n",
           n, batch, (double)n / best_raw, (double)n / best_store, best_raw / best_store,
           (double)n / best_again);
    for (size_t i = 0; i < n; i++)
        msg_event_fini(&ev[i]);
    tgh_free(ev);
    tgh_arena_fini(&a);
    return 0;
}
