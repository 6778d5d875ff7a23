/* SPDX-License-Identifier: MIT */
/*
 * store.h - the durable message store; the only way events become committed.
 *
 * A store is opened from a URL (sqlite://path today, postgresql://... next to
 * it) and the rest of the program sees only this header. Nothing may be
 * acknowledged upstream until store_batch_commit() returned TGH_OK.
 * One struct store per thread.
 *
 * Upsert semantics, identical in every backend (docs/internals/store.md):
 * - a new (chat_id, message_id) inserts;
 * - identical content_hash is a no-op for the content (no version); changed
 *   counters (views, forwards, replies, reactions) are refreshed in place;
 * - a changed content_hash moves the previous row into message_versions and
 *   updates the message;
 * - a delete sets deleted_at once (a tombstone); rows are never removed;
 * - re-applying any batch leaves the store as it was.
 */
#ifndef TGH_STORE_STORE_H
#define TGH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/msg.h"

struct msg_event;
struct store; /* opaque */

struct store_stats {
    size_t inserted;       /* new (chat_id, message_id) rows */
    size_t versioned;      /* content changed: previous kept in message_versions */
    size_t unchanged;      /* identical content, no write */
    size_t refreshed;      /* identical content, counters updated in place */
    size_t deleted;        /* tombstones newly set */
    size_t delete_unknown; /* delete of a message the store never had */
};

/* Add every count of from to to. */
void store_stats_add(struct store_stats *to, const struct store_stats *from);

/* Open (creating and migrating when needed) the store named by url. */
TGH_MUSTCHECK tgh_err store_open(const char *url, struct store **out);
/* The same for readers: a store that does not exist yet is TGH_ENOTFOUND, not created. */
TGH_MUSTCHECK tgh_err store_open_existing(const char *url, struct store **out);
void store_close(struct store *st); /* NULL is fine */

/*
 * Apply n events in one transaction; chats named by the events are created
 * or their title/username/type refreshed. Every event must have passed
 * codec_event_finalize(). On error nothing was written and *stats is
 * untouched; on success the counts are added to *stats.
 */
TGH_MUSTCHECK tgh_err store_batch_commit(struct store *st, const struct msg_event *ev, size_t n,
                                         struct store_stats *stats);

/*
 * Create a chat or refresh what is known of it, outside any batch: sources
 * call it for chats that have no messages (yet). MSG_CHAT_UNKNOWN and NULL
 * mean "not known here" and keep what is stored.
 */
TGH_MUSTCHECK tgh_err store_chat_upsert(struct store *st, int64_t chat_id, enum msg_chat_type type,
                                        const char *title, const char *username);

/* A dead letter: input that could not become an event. */
struct store_dead_letter {
    const char *source;   /* "export", "tdlib", ... */
    const char *origin;   /* file name, queue name, chat */
    const char *position; /* "messages[17] at byte 5120", delivery tag, ... */
    const char *reason;   /* the validation or parse error */
    const char *payload;  /* the raw bytes as text (may be truncated by the caller) */
    size_t payload_len;
};

TGH_MUSTCHECK tgh_err store_dead_letter_add(struct store *st, const struct store_dead_letter *dl);

/* Collection runs: one row per chat and run (import, backfill, ...). */
struct store_run_result {
    const char *status; /* "ok", "failed", "partial" */
    int64_t messages_seen;
    struct store_stats stats;
    size_t errors;
    const char *error; /* NULL when none */
};

TGH_MUSTCHECK tgh_err store_run_begin(struct store *st, int64_t chat_id, const char *kind,
                                      const char *origin, int64_t *run_id);
TGH_MUSTCHECK tgh_err store_run_finish(struct store *st, int64_t run_id,
                                       const struct store_run_result *res);

/* Reading. Callbacks return 0 to go on, non-zero to stop early. */
struct store_chat_row {
    int64_t chat_id;
    const char *type;
    const char *title;     /* may be NULL */
    const char *username;  /* may be NULL */
    int64_t message_count; /* not counting tombstones */
    int64_t deleted_count;
    int64_t first_date; /* 0 when no messages */
    int64_t last_date;
    int64_t last_message_id;
};

struct store_query {
    int64_t chat_id;   /* MSG_UNSET: every chat */
    int64_t since;     /* MSG_UNSET or date >= since */
    int64_t until;     /* MSG_UNSET or date < until */
    int64_t limit;     /* <= 0: no limit */
    const char *match; /* full-text query (FTS5 syntax in SQLite), or NULL */
    bool newest_first; /* default is oldest first (date, message_id) */
};

struct store_message_row {
    int64_t chat_id;
    int64_t message_id;
    int64_t date;
    int64_t edit_date;  /* 0 when never edited */
    int64_t deleted_at; /* 0 unless tombstoned */
    int64_t versions;   /* previous versions kept */
    const char *chat_title;
    const char *sender_name;
    const char *text;
    const char *snippet; /* search only: text with matches in [ ] */
    const char *event;   /* the schema-v1 JSON of the current version */
    const char *source;  /* store_tombstones_each only: who saw the deletion */
};

struct store_totals {
    int64_t chats;
    int64_t messages;
    int64_t deleted;
    int64_t versions;
    int64_t dead_letters;
    int64_t runs;
    int64_t first_date;
    int64_t last_date;
    int64_t size_bytes; /* on-disk size when the backend knows it, else -1 */
};

typedef int (*store_chat_fn)(void *arg, const struct store_chat_row *row);
typedef int (*store_message_fn)(void *arg, const struct store_message_row *row);

TGH_MUSTCHECK tgh_err store_chats_each(struct store *st, store_chat_fn fn, void *arg);
TGH_MUSTCHECK tgh_err store_messages_each(struct store *st, const struct store_query *q,
                                          store_message_fn fn, void *arg);
TGH_MUSTCHECK tgh_err store_totals_get(struct store *st, struct store_totals *out);

/*
 * Deletions of messages the store does not have (see store_batch_commit), of
 * one chat or of all (chat_id MSG_UNSET), by chat and message id. row.event
 * is NULL; chat_id, message_id, deleted_at and source are set.
 */
TGH_MUSTCHECK tgh_err store_tombstones_each(struct store *st, int64_t chat_id, store_message_fn fn,
                                            void *arg);

/* Previous versions of one message, oldest first (row.event is that version). */
TGH_MUSTCHECK tgh_err store_versions_each(struct store *st, int64_t chat_id, int64_t message_id,
                                          store_message_fn fn, void *arg);

#endif
