/* SPDX-License-Identifier: MIT */
/*
 * bench_pg.c - see bench_pg.h.
 */
#include "bench_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "store/store.h"

#define CHAT_ID BENCH_PG_CHAT_ID

static const char *const words[] = {
    "market", "signal", "update", "report", "breaking", "новости", "канал",   "café",
    "price",  "today",  "people", "city",   "weather",  "служба",  "release", "vote",
};

double
bench_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
bench_die(const char *what, const char *detail)
{
    fprintf(stderr, "bench: %s: %s\n", what, detail);
    exit(1);
}

/* A channel's history, one message every 30 s (about 70 days for 200000). */
void
bench_pg_make_events(struct msg_event *ev, size_t n, size_t chats, struct tgh_arena *a)
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
        ev[i].chat_id = CHAT_ID - (int64_t)(i % chats);
        ev[i].chat_type = MSG_CHAT_CHANNEL;
        ev[i].chat_title = "Bench channel";
        ev[i].message_id = (int64_t)(i / chats) + 1;
        ev[i].date = 1600000000 + (int64_t)i * 30;
        ev[i].sender_id = 777;
        ev[i].sender_type = MSG_PEER_CHANNEL;
        ev[i].sender_name = "Bench channel";
        ev[i].views = (int64_t)(i % 5000);
        ev[i].text = tgh_arena_strdup(a, text);
        if (codec_event_finalize(&ev[i]) != TGH_OK)
            bench_die("finalize", tgh_errmsg());
    }
}

void
bench_pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        bench_die(sql, PQerrorMessage(c));
    PQclear(r);
}

/*
 * An empty store with the partitions of the events' months (both runs find
 * them: partition creation is not what is measured), then a checkpoint.
 */
void
bench_pg_reset(const char *url, PGconn *raw, const struct msg_event *ev, size_t n)
{
    struct store *st = NULL;
    char sql[128];

    if (store_open(url, &st) != TGH_OK)
        bench_die("store_open", tgh_errmsg());
    store_close(st);
    bench_pg_exec(raw, "TRUNCATE messages, message_versions, tombstones, chats");
    (void)snprintf(sql, sizeof(sql),
                   "SELECT tgh_messages_partitions(array(SELECT generate_series(%" PRId64
                   ", %" PRId64 ", 86400)))",
                   ev[0].date, ev[n - 1].date);
    bench_pg_exec(raw, sql);
    bench_pg_exec(raw, "CHECKPOINT");
}

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
double
bench_pg_copy(PGconn *c, const struct msg_event *ev, size_t n, size_t batch)
{
    size_t cap = 1 << 20, len;
    char *buf = tgh_malloc(cap);
    double t0;

    bench_pg_exec(c, "INSERT INTO chats (chat_id, type, title, created_at, updated_at)"
                     " VALUES (-1001234567890, 'channel', 'Bench channel', 0, 0)");
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        PGresult *r;

        bench_pg_exec(c, "BEGIN");
        r = PQexec(c, "COPY messages (chat_id, message_id, date, sender_id, sender_type,"
                      " sender_name, text, views, source, content_hash, idempotency_key, event,"
                      " first_seen_at, updated_at) FROM STDIN");
        if (PQresultStatus(r) != PGRES_COPY_IN)
            bench_die("copy", PQerrorMessage(c));
        PQclear(r);
        len = 0;
        for (size_t j = i; j < i + k; j++) {
            const struct msg_event *e = &ev[j];
            char key[48], *json = NULL;
            size_t jlen = 0;

            if (codec_event_encode(e, &json, &jlen) != TGH_OK)
                bench_die("encode", tgh_errmsg());
            (void)msg_event_key(e, key, sizeof(key));
            if (len + 2 * (jlen + strlen(e->text)) + 1024 > cap) {
                cap = 2 * cap + 2 * jlen;
                buf = tgh_realloc(buf, cap);
            }
            len += (size_t)snprintf(buf + len, cap - len,
                                    "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t",
                                    e->chat_id, e->message_id, e->date, e->sender_id,
                                    msg_peer_type_name(e->sender_type));
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
            bench_die("copy data", PQerrorMessage(c));
        while ((r = PQgetResult(c)) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                bench_die("copy", PQerrorMessage(c));
            PQclear(r);
        }
        bench_pg_exec(c, "COMMIT");
    }
    tgh_free(buf);
    return bench_now_s() - t0;
}
