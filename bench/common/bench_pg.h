/* SPDX-License-Identifier: MIT */
/*
 * bench_pg.h - what the PostgreSQL benchmarks share: a synthetic channel
 * history, an emptied store, and the raw limit (COPY of the same rows
 * straight into the same partitioned messages table).
 */
#ifndef TGH_BENCH_BENCH_PG_H
#define TGH_BENCH_BENCH_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "core/arena.h"
#include "core/msg.h"

#define BENCH_PG_CHAT_ID -1001234567890LL

double bench_now_s(void);
void bench_die(const char *what, const char *detail) __attribute__((noreturn));

/*
 * n finalized events, round robin over `chats` channels (BENCH_PG_CHAT_ID,
 * then one less each), one message every 30 s; strings in a.
 */
void bench_pg_make_events(struct msg_event *ev, size_t n, size_t chats, struct tgh_arena *a);

/* Run sql on c or die. */
void bench_pg_exec(PGconn *c, const char *sql);

/*
 * An empty store at url with the partitions of the events' months (creating
 * them is not what is measured), then a checkpoint.
 */
void bench_pg_reset(const char *url, PGconn *raw, const struct msg_event *ev, size_t n);

/* COPY the events' rows into messages, a transaction per batch; seconds taken. */
double bench_pg_copy(PGconn *c, const struct msg_event *ev, size_t n, size_t batch);

#endif
