/* SPDX-License-Identifier: MIT */
/*
 * store_pg.c - fresh inserts through store_batch_commit() into PostgreSQL
 * against the fastest plain way to write the same rows: COPY straight into
 * the same partitioned messages table (same indexes, same generated search
 * column), one transaction per batch, the same codec_event_encode() per
 * event. Prints both rates, their ratio, and the rate of committing the
 * same events again (all unchanged).
 *
 * usage: bench_store_pg [url] [events] [batch]   (url default: $TGH_BENCH_PG_URL)
 * The database must exist; its store tables are emptied before each run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"
#include "store/store.h"

#define CHAT_ID -1001234567890LL

static const char *const words[] = {
    "market", "signal", "update", "report", "breaking", "новости", "канал",   "café",
    "price",  "today",  "people", "city",   "weather",  "служба",  "release", "vote",
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_store_pg: %s: %s\n", what, detail);
    exit(1);
}

/* A channel's history, one message every 30 s (about 70 days for 200000). */
static void
make_events(struct msg_event *ev, size_t n, struct tgh_arena *a)
{
    for (size_t i = 0; i < n; i++) {
        char text[256];
        size_t len = 0;

        for (size_t w = 0; w < 14; w++)
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", w ? " " : "",
                                    words[(i * 7 + w * 13 + w * w) % 16]);
        msg_event_init(&ev[i]);
        ev[i].source = MSG_SOURCE_EXPORT;
        ev[i].observed_at = 1700000000;
        ev[i].chat_id = CHAT_ID;
        ev[i].chat_type = MSG_CHAT_CHANNEL;
        ev[i].chat_title = "Bench channel";
        ev[i].message_id = (int64_t)i + 1;
        ev[i].date = 1600000000 + (int64_t)i * 30;
        ev[i].sender_id = 777;
        ev[i].sender_type = MSG_PEER_CHANNEL;
        ev[i].sender_name = "Bench channel";
        ev[i].views = (int64_t)(i % 5000);
        ev[i].text = tgh_arena_strdup(a, text);
        if (codec_event_finalize(&ev[i]) != TGH_OK)
            die("finalize", tgh_errmsg());
    }
}

static void
exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        die(sql, PQerrorMessage(c));
    PQclear(r);
}

/*
 * An empty store with the partitions of the events' months (both runs find
 * them: partition creation is not what is measured), then a checkpoint.
 */
static void
reset(const char *url, PGconn *raw, const struct msg_event *ev, size_t n)
{
    struct store *st = NULL;
    char sql[128];

    if (store_open(url, &st) != TGH_OK)
        die("store_open", tgh_errmsg());
    store_close(st);
    exec_ok(raw, "TRUNCATE messages, message_versions, tombstones, chats");
    (void)snprintf(sql, sizeof(sql),
                   "SELECT tgh_messages_partitions(array(SELECT generate_series(%" PRId64
                   ", %" PRId64 ", 86400)))",
                   ev[0].date, ev[n - 1].date);
    exec_ok(raw, sql);
    exec_ok(raw, "CHECKPOINT");
}

static double
commit_all(struct store *st, const struct msg_event *ev, size_t n, size_t batch,
           struct store_stats *stats)
{
    double t0 = now_s();

    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;

        if (store_batch_commit(st, ev + i, k, stats) != TGH_OK)
            die("commit", tgh_errmsg());
    }
    return now_s() - t0;
}

static double
run_store(const char *url, const struct msg_event *ev, size_t n, size_t batch, double *again)
{
    struct store *st = NULL;
    struct store_stats stats = { 0 };
    double t;

    if (store_open(url, &st) != TGH_OK)
        die("store_open", tgh_errmsg());
    t = commit_all(st, ev, n, batch, &stats);
    *again = commit_all(st, ev, n, batch, &stats);
    store_close(st);
    if (stats.inserted != n || stats.unchanged != n)
        die("store", "not every event was inserted once and unchanged once");
    return t;
}

/* One text field of COPY's text format. */
static size_t
field(char *out, const char *s, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '\t' ? "\\t"
                          : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r"
                                         : NULL;

        if (esc != NULL) {
            memcpy(out + o, esc, 2);
            o += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o++] = '\t';
    return o;
}

/* The same rows straight into messages with COPY, a transaction per batch. */
static double
run_copy(PGconn *c, const struct msg_event *ev, size_t n, size_t batch)
{
    size_t cap = 1 << 20, len;
    char *buf = tgh_malloc(cap);
    double t0;

    exec_ok(c, "INSERT INTO chats (chat_id, type, title, created_at, updated_at)"
               " VALUES (-1001234567890, 'channel', 'Bench channel', 0, 0)");
    t0 = now_s();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        PGresult *r;

        exec_ok(c, "BEGIN");
        r = PQexec(c, "COPY messages (chat_id, message_id, date, sender_id, sender_type,"
                      " sender_name, text, views, source, content_hash, idempotency_key, event,"
                      " first_seen_at, updated_at) FROM STDIN");
        if (PQresultStatus(r) != PGRES_COPY_IN)
            die("copy", PQerrorMessage(c));
        PQclear(r);
        len = 0;
        for (size_t j = i; j < i + k; j++) {
            const struct msg_event *e = &ev[j];
            char key[48], *json = NULL;
            size_t jlen = 0;

            if (codec_event_encode(e, &json, &jlen) != TGH_OK)
                die("encode", tgh_errmsg());
            (void)msg_event_key(e, key, sizeof(key));
            if (len + 2 * (jlen + strlen(e->text)) + 1024 > cap) {
                cap = 2 * cap + 2 * jlen;
                buf = tgh_realloc(buf, cap);
            }
            len += (size_t)snprintf(
                buf + len, cap - len, "%lld\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t", CHAT_ID,
                e->message_id, e->date, e->sender_id, msg_peer_type_name(e->sender_type));
            len += field(buf + len, e->sender_name, strlen(e->sender_name));
            len += field(buf + len, e->text, strlen(e->text));
            len += (size_t)snprintf(buf + len, cap - len, "%" PRId64 "\t%s\t%s\t%s\t", e->views,
                                    msg_source_name(e->source), e->content_hash, key);
            len += field(buf + len, json, jlen);
            len += (size_t)snprintf(buf + len, cap - len, "%" PRId64 "\t%lld\n", e->observed_at,
                                    (long long)time(NULL));
            tgh_free(json);
        }
        if (PQputCopyData(c, buf, (int)len) != 1 || PQputCopyEnd(c, NULL) != 1)
            die("copy data", PQerrorMessage(c));
        while ((r = PQgetResult(c)) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                die("copy", PQerrorMessage(c));
            PQclear(r);
        }
        exec_ok(c, "COMMIT");
    }
    tgh_free(buf);
    return now_s() - t0;
}

int
main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("TGH_BENCH_PG_URL");
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 200000;
    size_t batch = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 500;
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
        die("connect", PQerrorMessage(raw));
    tgh_arena_init(&a, 1 << 20);
    ev = tgh_calloc(n, sizeof(*ev));
    make_events(ev, n, &a);

    reset(url, raw, ev, n);
    t_copy = run_copy(raw, ev, n, batch);
    reset(url, raw, ev, n);
    t_store = run_store(url, ev, n, batch, &t_again);
    reset(url, raw, ev, n);

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
