/* SPDX-License-Identifier: MIT */
/*
 * cache.h - Redis (TGH_CACHE=redis://[:password@]host:port[/db]): the
 * workers' de-duplication index and the recent-message cache the polling
 * API reads.
 *
 * Keys (contracts, docs/internals/cache.md):
 *   telegram:dedup:{chat_id}:{message_id}  the state key of the last committed
 *                                          version (string), TTL CACHE_DEDUP_TTL
 *   telegram:msg:{chat_id}:{message_id}    the committed event JSON, TTL CACHE_MSG_TTL
 *   telegram:channel:{chat_id}:recent      sorted set, member and score the
 *                                          message id, trimmed to CACHE_RECENT_MAX
 *   telegram:channel:{chat_id}:floor       the lowest id from which the sorted set
 *                                          holds every committed message (string)
 *
 * The dedup key is written only after the store committed (cache_mark), so a
 * crash between check and commit can never make Redis claim a message the
 * store lacks: a skipped event is one the store already holds in that state.
 *
 * Fail-open: every call that cannot reach Redis returns TGH_EUNAVAIL after
 * at most the configured timeout, and the caller goes on without the cache
 * (the store's idempotent upsert keeps correctness). The client reconnects
 * by itself on a later call, at most once per CACHE_RECONNECT_MS.
 *
 * One struct cache per thread. The process must ignore SIGPIPE: hiredis
 * writes with write(2), and a Redis that went away would otherwise kill it.
 */
#ifndef TGH_CACHE_CACHE_H
#define TGH_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CACHE_DEDUP_TTL    (7 * 86400) /* seconds */
#define CACHE_MSG_TTL      (86400)
#define CACHE_RECENT_MAX   1000
#define CACHE_TIMEOUT_MS   500
#define CACHE_RECONNECT_MS 1000

struct cache; /* opaque */

/* Is url a redis:// URL (so TGH_CACHE selects Redis)? "none" and "" are no cache. */
bool cache_url_is_redis(const char *url);

/*
 * Parse url and try to connect. A Redis that is down is not an error here
 * (the cache starts disconnected and fails open); a bad URL is TGH_EINVAL.
 */
TGH_MUSTCHECK tgh_err cache_open(const char *url, struct cache **out);
void cache_close(struct cache *c); /* NULL is fine */

/* Is the connection up right now (after the last call)? */
bool cache_connected(const struct cache *c);

/*
 * One message as the worker sees it.
 *
 * changed and is_new matter to cache_mark only. changed is what cache_check
 * said (CACHE_CHANGED): the dedup key then is overwritten (SET XX) instead of
 * created (SET NX). is_new promises that the message is newer than every
 * message of its chat the store held before (a live new-message update, never
 * an edit, a backfill page or an import): only such a message may start the
 * range the recent cache vouches for (docs/internals/cache.md). Leaving it
 * false is always safe; the API then asks the store.
 */
struct cache_item {
    int64_t chat_id;
    int64_t message_id;
    const char *state; /* the de-duplication value: same state, same string; NULL: none */
    const char *event; /* committed event JSON for the recent cache; NULL: not cached */
    size_t event_len;
    int64_t date;    /* Unix seconds */
    bool deleted;    /* a tombstone: drop it from the recent cache; state is the tombstone's */
    bool changed;    /* cache_check said CACHE_CHANGED */
    bool is_new;     /* newer than anything the store held for the chat */
    bool dedup_only; /* write the dedup key only; leave the recent cache alone (an event
                        that was skipped, not committed: the store's copy may differ) */
};

/* What Redis holds under an item's dedup key. */
enum cache_verdict {
    CACHE_NEW = 0, /* nothing (never marked, expired, or Redis unreachable) */
    CACHE_SAME,    /* exactly items[i].state: the event can be skipped */
    CACHE_CHANGED, /* another state: commit, then mark with changed set */
};

/*
 * Like cache_seen, with the difference between "absent" and "another state"
 * that cache_mark needs (one MGET). On TGH_EUNAVAIL every verdict is CACHE_NEW.
 */
TGH_MUSTCHECK tgh_err cache_check(struct cache *c, const struct cache_item *items, size_t n,
                                  enum cache_verdict *verdict);

/*
 * For each of n items set seen[i] when Redis holds exactly items[i].state
 * under its dedup key (the event can be skipped). One pipelined round trip.
 * On TGH_EUNAVAIL every seen[i] is false.
 */
TGH_MUSTCHECK tgh_err cache_seen(struct cache *c, const struct cache_item *items, size_t n,
                                 bool *seen);

/*
 * After a commit: write the dedup keys (SET NX EX for keys Redis did not
 * hold, SET XX EX when the state changed), the recent-message keys and the
 * per-chat sorted sets (trimmed), deletions removed from both. One pipeline.
 * Call it before acknowledging the batch upstream: a crash between commit and
 * mark is then repaired by the redelivery. An error reply to one command is
 * counted (stats.errors) and the batch goes on; only a broken connection
 * fails it (TGH_EUNAVAIL), and then the chats of the batch lose their recent
 * cache on the next connection, since some of their ids may be missing.
 */
TGH_MUSTCHECK tgh_err cache_mark(struct cache *c, const struct cache_item *items, size_t n);

/*
 * Recent messages of a chat from the sorted set, ids in (after_id,
 * before_id) (0: no bound), newest first when newest_first, at most limit;
 * for the polling API. *complete is false when the window may reach below
 * what the cache holds (the caller must ask the store).
 *
 * fn is called only when *complete is true, once per message in order, after
 * every event was fetched: the caller never gets half an answer from the
 * cache. A nonzero return from fn stops the walk (still TGH_OK). The event
 * pointer lives until fn returns. Two round trips. On TGH_EUNAVAIL *complete
 * is false.
 */
typedef int (*cache_msg_fn)(void *arg, int64_t message_id, const char *event, size_t len);
TGH_MUSTCHECK tgh_err cache_recent(struct cache *c, int64_t chat_id, int64_t after_id,
                                   int64_t before_id, size_t limit, bool newest_first,
                                   cache_msg_fn fn, void *arg, bool *complete);

/*
 * The live stream across processes: workers append every committed change
 * to the Redis stream CACHE_EVENTS_KEY (capped, approximately, at max
 * entries), API servers follow it. Entries hold fields chat, kind and data
 * (the stream's JSON, pipeline_feed_json). Ids are Redis's ("MS-SEQ").
 */
#define CACHE_EVENTS_KEY "telegram:events"

struct cache_event {
    int64_t chat_id;
    const char *kind; /* "new", "edit", "delete" */
    const char *data;
    size_t len;
};

/* Append n entries in one round trip (XADD MAXLEN ~ max). Fails open (TGH_EUNAVAIL). */
TGH_MUSTCHECK tgh_err cache_events_add(struct cache *c, const struct cache_event *ev, size_t n,
                                       size_t max);

/* Called per entry, oldest first; a nonzero return stops (still TGH_OK). */
typedef int (*cache_event_fn)(void *arg, const char *id, int64_t chat_id, const char *kind,
                              const char *data, size_t len);

/*
 * The newest n entries, oldest first; last (cap bytes) receives the id of
 * the newest, or "0-0" when the stream is empty (so a later read misses
 * nothing appended meanwhile).
 */
TGH_MUSTCHECK tgh_err cache_events_tail(struct cache *c, size_t n, cache_event_fn fn, void *arg,
                                        char *last, size_t cap);

/*
 * Entries after id `after` (XREAD BLOCK block_ms, at most 256), oldest first;
 * last receives the newest id seen (or after, when none came). block_ms must
 * stay below CACHE_TIMEOUT_MS. TGH_EUNAVAIL when Redis cannot be reached.
 */
TGH_MUSTCHECK tgh_err cache_events_read(struct cache *c, const char *after, int block_ms,
                                        cache_event_fn fn, void *arg, char *last, size_t cap);

/*
 * Warming the recent cache from the store (the API's cache-aside, after it
 * answered a poll from the store). cache_warm_begin WATCHes the chat's
 * generation key (telegram:channel:{chat}:gen, bumped by cache_mark whenever
 * an id's cached state changes or goes: edits, refreshes, deletions) and its
 * floor; the caller then reads the store; cache_warm_commit writes, in one
 * MULTI/EXEC, items (every message of the chat with id >= from_id that the
 * store held, not deleted, oldest first), their ids into the sorted set, and
 * from_id as the floor unless a lower one stands. When a worker changed the
 * chat between the two calls, EXEC does nothing and *applied is false: the
 * cache never holds a version older than the store's. cache_warm_abort
 * drops the WATCH when the caller will not commit.
 */
struct cache_warm_item {
    int64_t message_id;
    const char *event; /* the stored event JSON */
    size_t event_len;
};
TGH_MUSTCHECK tgh_err cache_warm_begin(struct cache *c, int64_t chat_id);
TGH_MUSTCHECK tgh_err cache_warm_commit(struct cache *c, int64_t chat_id, int64_t from_id,
                                        const struct cache_warm_item *items, size_t n,
                                        bool *applied);
void cache_warm_abort(struct cache *c);

/*
 * Worker heartbeats, for the API's /status: each worker writes its state as
 * JSON into the hash telegram:workers and its beat time into the sorted set
 * telegram:workers:beats; cache_workers_each calls fn with the JSON of each
 * worker that beat within CACHE_WORKER_TTL seconds (one that stops beating
 * disappears).
 */
#define CACHE_WORKER_TTL 15 /* seconds */
TGH_MUSTCHECK tgh_err cache_worker_beat(struct cache *c, const char *id, const char *json,
                                        size_t len);
typedef int (*cache_worker_fn)(void *arg, const char *json, size_t len);
TGH_MUSTCHECK tgh_err cache_workers_each(struct cache *c, cache_worker_fn fn, void *arg);

/* Counters since open. */
struct cache_stats {
    uint64_t hits;       /* seen[i] set */
    uint64_t misses;     /* looked up, not seen */
    uint64_t failures;   /* calls that failed open */
    uint64_t reconnects; /* connections made again after an outage */
    uint64_t errors;     /* error replies to single commands (the call went on) */
};
void cache_stats_get(const struct cache *c, struct cache_stats *out);

#endif
