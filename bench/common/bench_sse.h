/* SPDX-License-Identifier: MIT */
/*
 * bench_sse.h - a live-stream client for the benchmarks: curl follows
 * /api/v1/stream of one chat, and each message's arrival is timestamped
 * against the submit time its text carries ("SEQ SUBMIT_NS").
 */
#ifndef TGH_BENCH_BENCH_SSE_H
#define TGH_BENCH_BENCH_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/msg.h"

struct bench_sse;

/* Monotonic nanoseconds (the clock the texts carry). */
int64_t bench_sse_now_ns(void);

/* Follow chat's stream on 127.0.0.1:port with key, expecting n messages. */
struct bench_sse *bench_sse_start(unsigned port, const char *key, int64_t chat, size_t n);

/* An upsert of chat/message_id whose text is "seq now_ns" (not finalized; strings in a). */
void bench_sse_event(struct msg_event *ev, struct tgh_arena *a, int64_t chat, int64_t message_id,
                     size_t seq);

/* Sleep until message i of a run paced at rate per second that started at start_ns. */
void bench_sse_pace(int64_t start_ns, int rate, size_t i);

/*
 * Wait up to wait_s for every message, stop the client, print one line
 * (what, count, p50/p99/max in ms) and free. Exits 1 when messages are missing.
 */
void bench_sse_finish(struct bench_sse *b, const char *what, int wait_s);

#endif
