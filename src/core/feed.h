/* SPDX-License-Identifier: MIT */
/*
 * feed.h - the live feed: the last committed changes (new, edited, deleted
 * messages) in a bounded ring, each with an id that orders them, for readers
 * that follow it (the API's server-sent events).
 *
 * An id is two numbers, "MS-SEQ", the shape of a Redis stream id: the feed of
 * a `run` process makes its own (milliseconds, then a counter within the same
 * millisecond), the feed of an API server fed from Redis keeps Redis's. Ids
 * only grow. When the ring is full the oldest item goes; a reader that was
 * further behind learns that it missed some (TGH_FEED_GAP) instead of getting
 * a silent hole.
 *
 * Thread-safe: any number of writers and readers.
 */
#ifndef TGH_CORE_FEED_H
#define TGH_CORE_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tgh_feed; /* opaque */

struct tgh_feed_id {
    uint64_t ms;
    uint64_t seq;
};

/* One change as a reader gets it: a copy it owns (tgh_feed_item_fini). */
struct tgh_feed_item {
    struct tgh_feed_id id;
    int64_t chat_id;
    char kind[8]; /* "new", "edit", "delete" */
    char *data;   /* the JSON the stream sends */
    size_t len;
};

/* Where a reader is. Zeroed: before the oldest item the feed still holds. */
struct tgh_feed_pos {
    uint64_t next; /* the feed's internal number of the next item to read */
    bool started;
};

/*
 * A feed holding at most capacity items (at least 1). Its horizon starts at
 * the clock's id of now: the feed cannot vouch for what came before it
 * existed (tgh_feed_pos_after).
 */
struct tgh_feed *tgh_feed_new(size_t capacity);

/*
 * Move the horizon: the feed holds every change from id on (a feed loaded
 * from a Redis stream's tail sets it to the first entry it loaded).
 */
void tgh_feed_set_horizon(struct tgh_feed *f, const struct tgh_feed_id *id);
void tgh_feed_free(struct tgh_feed *f); /* NULL is fine; readers must be gone */

/*
 * Append a copy of data. id NULL: the feed assigns the next id from the
 * clock; otherwise id must be greater than the last one (TGH_EINVAL if not:
 * a replayed item is dropped, which de-duplicates a resubscription). *out_id
 * (may be NULL) receives the id. Wakes every waiting reader.
 */
TGH_MUSTCHECK tgh_err tgh_feed_append(struct tgh_feed *f, const struct tgh_feed_id *id,
                                      int64_t chat_id, const char *kind, const char *data,
                                      size_t len, struct tgh_feed_id *out_id);

/* The id of the newest item, {0, 0} when none was ever appended. */
struct tgh_feed_id tgh_feed_last_id(struct tgh_feed *f);

/* Position pos just after the newest item: the reader gets only what comes next. */
void tgh_feed_pos_tail(struct tgh_feed *f, struct tgh_feed_pos *pos);

/*
 * Position pos just after the item with id after (a client's Last-Event-ID).
 * Returns true when everything after it is still in the ring; false when
 * items after it were already dropped, or after is older than the horizon
 * (the reader then starts at the oldest item held and should be told of the
 * gap).
 */
bool tgh_feed_pos_after(struct tgh_feed *f, const struct tgh_feed_id *after,
                        struct tgh_feed_pos *pos);

/*
 * Copy up to max items at pos or later into out (each to be finished with
 * tgh_feed_item_fini), skipping those of other chats when chat_id != 0, and
 * advance pos. When nothing is there, wait up to timeout_ms for an append
 * (or tgh_feed_close). *n is how many were copied (0 on timeout).
 * TGH_ECONFLICT (with *n 0 and pos moved to the oldest item) when the reader
 * fell behind the ring: items were dropped before it read them.
 */
TGH_MUSTCHECK tgh_err tgh_feed_read(struct tgh_feed *f, struct tgh_feed_pos *pos, int64_t chat_id,
                                    struct tgh_feed_item *out, size_t max, int timeout_ms,
                                    size_t *n);

/* Wake every reader and make later reads return at once (TGH_EUNAVAIL). */
void tgh_feed_close(struct tgh_feed *f);

void tgh_feed_item_fini(struct tgh_feed_item *it);

/* "MS-SEQ" into buf (at least 44 bytes); parse the same (TGH_EINVAL when it is not one). */
void tgh_feed_id_format(const struct tgh_feed_id *id, char *buf, size_t cap);
TGH_MUSTCHECK tgh_err tgh_feed_id_parse(const char *s, struct tgh_feed_id *out);
int tgh_feed_id_cmp(const struct tgh_feed_id *a, const struct tgh_feed_id *b);

/* Counters since tgh_feed_new. */
struct tgh_feed_stats {
    uint64_t appended;
    uint64_t dropped; /* pushed out of the ring by newer items */
    size_t held;
};
void tgh_feed_stats_get(struct tgh_feed *f, struct tgh_feed_stats *out);

#endif
