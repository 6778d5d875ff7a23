/* SPDX-License-Identifier: MIT */
/*
 * store.h - the durable message store; the only way events become committed.
 *
 * A store is opened from a URL (sqlite://path or postgresql://...) and the
 * rest of the program sees only this header. Nothing may be
 * acknowledged upstream until store_batch_commit() returned TGH_OK.
 * One struct store per thread.
 *
 * Upsert semantics, identical in every backend (docs/internals/store.md):
 * - a new (chat_id, message_id) inserts;
 * - identical content_hash is a no-op for the content (no version); changed
 *   counters (views, forwards, replies, reactions) are refreshed in place;
 * - a changed content_hash moves the previous row into message_versions and
 *   updates the message;
 * - a delete sets deleted_at once (a tombstone); rows are only ever removed by
 *   store_retention_apply(), whole months at a time;
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
    size_t published;      /* publishing writer: confirmed by the broker (workers store them) */
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

/* What committing one event changed, for the live feed. */
enum store_change {
    STORE_CHANGE_NONE = 0, /* unchanged, or counters refreshed in place */
    STORE_CHANGE_NEW,      /* a message the store did not have */
    STORE_CHANGE_EDIT,     /* content changed: a version was kept */
    STORE_CHANGE_DELETE,   /* a tombstone was newly set (also of an unknown message) */
};

/*
 * store_batch_commit, also saying what each event changed: changes[i] for
 * ev[i] (n entries, written only on TGH_OK). Redelivered or re-collected
 * events are STORE_CHANGE_NONE, so a feed built from this has no duplicates.
 */
TGH_MUSTCHECK tgh_err store_batch_commit_changes(struct store *st, const struct msg_event *ev,
                                                 size_t n, struct store_stats *stats,
                                                 enum store_change *changes);
const char *store_change_name(enum store_change c); /* "new", "edit", "delete", "none" */

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

/*
 * Retention: remove the messages (and their previous versions) dated before
 * the start of the UTC month that holds now - retention_days, so whole
 * months go at once (a PostgreSQL store drops their partitions). Tombstones
 * of unknown messages, chats, runs and cursors stay. retention_days <= 0
 * keeps everything. *removed is the number of messages removed.
 */
TGH_MUSTCHECK tgh_err store_retention_apply(struct store *st, int64_t retention_days, int64_t now,
                                            int64_t *removed);

/* Collection runs: one row per chat and run (import, backfill, ...). */
struct store_run_result {
    const char *status; /* "ok", "failed", "partial" */
    int64_t messages_seen;
    struct store_stats stats;
    size_t errors;
    const char *error;                  /* NULL when none */
    int64_t flood_waits, flood_seconds; /* 429s met, and the seconds waited */
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
    const char *match; /* full-text query (FTS5 syntax in SQLite, web-search syntax
                          in PostgreSQL), or NULL */
    bool newest_first; /* default is oldest first (date, message_id) */
    int64_t after_id;  /* 0, or only message_id > after_id (needs a chat_id, else TGH_EINVAL) */
    int64_t before_id; /* 0, or only message_id < before_id (needs a chat_id, else TGH_EINVAL) */
    bool by_id;        /* order by message_id (then chat_id) instead of (date, message_id) */
    bool media_only;   /* only messages that carry media (media_kind set) */
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

/*
 * Messages per time bucket of one chat (or all: MSG_UNSET) with date in
 * [since, until) (MSG_UNSET: open), tombstones counted too, for charts:
 * fn(arg, bucket_start, count) in ascending order, only buckets with
 * messages. bucket_start is date - date % bucket_s (UTC, counted from the
 * epoch; a bucket that since cuts keeps that start). bucket_s is
 * 60..86400*31, else TGH_EINVAL.
 */
typedef int (*store_bucket_fn)(void *arg, int64_t bucket_start, int64_t count);
TGH_MUSTCHECK tgh_err store_message_buckets(struct store *st, int64_t chat_id, int64_t since,
                                            int64_t until, int64_t bucket_s, store_bucket_fn fn,
                                            void *arg);

/* Collection runs, as stored by store_run_begin/finish. */
struct store_run_row {
    int64_t id;
    int64_t chat_id; /* 0 when the run had no chat */
    const char *kind;
    const char *origin; /* may be NULL */
    int64_t started_at;
    int64_t finished_at; /* 0 while running */
    const char *status;  /* "running", "ok", "failed", "partial" */
    int64_t messages_seen;
    struct store_stats stats; /* inserted, versioned, unchanged, refreshed, deleted */
    int64_t errors;
    const char *error; /* may be NULL */
    int64_t flood_waits, flood_seconds;
};

struct store_runs_query {
    int64_t chat_id;    /* MSG_UNSET: every chat; 0: the runs without a chat */
    const char *kind;   /* NULL: every kind */
    const char *status; /* NULL: every status */
    int64_t before_id;  /* 0, or only id < before_id (paging) */
    int64_t limit;      /* <= 0: no limit */
};

typedef int (*store_run_fn)(void *arg, const struct store_run_row *r);

/*
 * Runs matching q, newest (highest id) first. Read in pages, each finished
 * before fn sees its rows: fn may use the store.
 */
TGH_MUSTCHECK tgh_err store_runs_each(struct store *st, const struct store_runs_query *q,
                                      store_run_fn fn, void *arg);
/* The newest run of each kind, by kind name (byte order); paged the same way. */
TGH_MUSTCHECK tgh_err store_runs_last_each(struct store *st, store_run_fn fn, void *arg);

/* Dead letters, as stored by store_dead_letter_add. */
struct store_dead_letter_row {
    int64_t id;
    const char *source, *origin, *position, *reason; /* origin, position may be NULL */
    const char *payload;                             /* may be NULL */
    size_t payload_len;
    int64_t created_at;
    int64_t retry_count;
    int64_t resolved_at; /* 0 while open */
};

enum store_dl_state { STORE_DL_OPEN = 0, STORE_DL_RESOLVED, STORE_DL_ALL };

struct store_dl_query {
    enum store_dl_state state;
    const char *source; /* NULL: every source */
    int64_t before_id;  /* 0, or only id < before_id (paging) */
    int64_t limit;      /* <= 0: no limit */
};

typedef int (*store_dead_letter_fn)(void *arg, const struct store_dead_letter_row *d);

/*
 * Dead letters matching q, newest (highest id) first; a state outside the
 * enum is TGH_EINVAL. Read in pages, each finished before fn sees its rows:
 * fn may use the store (retry or resolve the row it is given).
 */
TGH_MUSTCHECK tgh_err store_dead_letters_each(struct store *st, const struct store_dl_query *q,
                                              store_dead_letter_fn fn, void *arg);
/* One dead letter (fn may use the store); TGH_ENOTFOUND when there is no such id. */
TGH_MUSTCHECK tgh_err store_dead_letter_get(struct store *st, int64_t id, store_dead_letter_fn fn,
                                            void *arg);
/*
 * Record an attempt to process dead letter id again: retry_count grows by
 * one; when resolved, resolved_at becomes at (if not already set), else
 * reason (when not NULL) replaces the stored reason. TGH_ENOTFOUND when
 * there is no such id. Resolving without a retry (an operator dismissing
 * it) is store_dead_letter_resolve. A failed retry of a resolved letter
 * leaves it resolved. at is only read when resolved, and must then be > 0
 * (TGH_EINVAL): resolved_at 0 reads as open.
 */
TGH_MUSTCHECK tgh_err store_dead_letter_retried(struct store *st, int64_t id, bool resolved,
                                                const char *reason, int64_t at);
/* Mark id resolved at at > 0 (kept when already resolved); TGH_ENOTFOUND when none. */
TGH_MUSTCHECK tgh_err store_dead_letter_resolve(struct store *st, int64_t id, int64_t at);

/*
 * Tracked chats: what the collector collects, one row per chat the user
 * added (`tgharvest chats add`). A chat that could not be resolved keeps its
 * spec with chat_id 0 and status "error". Strings are NULL when unknown.
 */
struct store_tracked {
    int64_t id;          /* row id, assigned by the store */
    const char *spec;    /* what the user gave, as given ("@name", "-100123", invite link) */
    int64_t chat_id;     /* 0 until resolved */
    const char *account; /* account that collects it; NULL: the default account */
    bool enabled;        /* collected by collect/run */
    const char *status;  /* "new" (never collected), "ok", "error" */
    const char *error;   /* why, when status is "error" (not retried until enabled again) */
    const char *type;    /* msg_chat_type_name() */
    const char *title;
    const char *username;
    int64_t linked_chat_id;        /* discussion group of a channel (comments), 0 when none */
    bool is_forum;                 /* supergroup with forum topics */
    bool comments;                 /* also collect comment threads of channel posts */
    bool topics;                   /* forum: collect per-topic history */
    int64_t added_at;              /* Unix seconds */
    int64_t updated_at;            /* last change of this row */
    int64_t last_collected_at;     /* last run that finished ok, 0 never */
    int64_t backfill_requested_at; /* an operator asked for a backfill pass then; 0: none */
    const char *media_policy;      /* this chat's media policy spec over the global one; NULL */
};

typedef int (*store_tracked_fn)(void *arg, const struct store_tracked *t);

/*
 * Insert or update a tracked chat: the row with the same chat_id (when
 * chat_id != 0), else the same spec, else a new row. Every field but id,
 * added_at and backfill_requested_at is written as given (a request is
 * only set and cleared by the two calls below; a new row has none). *id
 * (may be NULL) receives the row id. Two rows may never share a non-zero
 * chat_id (TGH_EEXIST is never returned: the existing row is updated).
 */
TGH_MUSTCHECK tgh_err store_tracked_put(struct store *st, const struct store_tracked *t,
                                        int64_t *id);
/* Every tracked chat, by row id. */
TGH_MUSTCHECK tgh_err store_tracked_each(struct store *st, store_tracked_fn fn, void *arg);
/*
 * The tracked chat matching key: its chat id ("-100123"), bare t.me/c id,
 * @username/username (case-insensitive) or its exact spec; TGH_ENOTFOUND when none.
 * The strings of *out live until the next call on st.
 */
TGH_MUSTCHECK tgh_err store_tracked_find(struct store *st, const char *key,
                                         struct store_tracked *out);
/* Remove the row (its messages and cursors stay); TGH_ENOTFOUND when none. */
TGH_MUSTCHECK tgh_err store_tracked_remove(struct store *st, int64_t id);
/*
 * Ask the collector for a backfill pass of row id (the API's "backfill now"):
 * sets backfill_requested_at to at; the daemon runs the pass and clears it
 * with store_tracked_backfill_done(id, at) (only when it is still at, so a
 * newer request is not lost; otherwise done is TGH_OK and changes nothing).
 * TGH_ENOTFOUND when there is no such row; at must be > 0 (TGH_EINVAL),
 * since 0 reads as "no request". Both set updated_at when they change the
 * row. Two requests within the same second are one request.
 */
TGH_MUSTCHECK tgh_err store_tracked_request_backfill(struct store *st, int64_t id, int64_t at);
/*
 * Set (spec) or clear (NULL) tracked chat id's own media policy, a
 * media_policy_apply() spec the caller has checked; store_tracked_put()
 * leaves it as it is. TGH_ENOTFOUND: no such row.
 */
TGH_MUSTCHECK tgh_err store_tracked_set_media_policy(struct store *st, int64_t id,
                                                     const char *spec);
TGH_MUSTCHECK tgh_err store_tracked_backfill_done(struct store *st, int64_t id, int64_t at);
/* Status and error (NULL clears it) of row id; last_collected_at too when non-zero. */
TGH_MUSTCHECK tgh_err store_tracked_set_status(struct store *st, int64_t id, const char *status,
                                               const char *error, int64_t last_collected_at);

/*
 * Collection cursors, per chat and thread (thread_id 0 is the chat's own
 * history; otherwise a comment thread's root or a forum topic). Ids are
 * server message ids. A cursor is only ever written after the messages it
 * covers were committed.
 */
struct store_cursor {
    int64_t chat_id;
    int64_t thread_id;
    int64_t newest_id; /* every message from oldest_id up to here was collected; 0: none yet */
    int64_t oldest_id; /* backfill went down to here; 0: none yet */
    bool complete;     /* backfill reached the start of the history */
    int64_t gap_hi;    /* catch-up in progress: newest id of the walk, 0 when none */
    int64_t gap_from;  /* catch-up in progress: where the walk goes on (exclusive) */
    int64_t updated_at;
};

typedef int (*store_cursor_fn)(void *arg, const struct store_cursor *c);

/* The cursor of (chat_id, thread_id); TGH_ENOTFOUND (and *out zeroed, ids set) when none. */
TGH_MUSTCHECK tgh_err store_cursor_get(struct store *st, int64_t chat_id, int64_t thread_id,
                                       struct store_cursor *out);
/* Insert or replace; updated_at is set by the store when 0. */
TGH_MUSTCHECK tgh_err store_cursor_put(struct store *st, const struct store_cursor *c);
/* Cursors of one chat (or all: MSG_UNSET), by chat then thread. */
TGH_MUSTCHECK tgh_err store_cursors_each(struct store *st, int64_t chat_id, store_cursor_fn fn,
                                         void *arg);

/*
 * Media jobs (job_history, kind "media"): one row per file of a message that
 * the media archive keeps or decided not to keep, and the content index
 * (dedup_index) of what is stored. Written by the media downloader and the
 * importer, never by the message commit, so media never slows the messages.
 */
enum store_job_state {
    STORE_JOB_QUEUED = 0,  /* waiting (next_at: not before) */
    STORE_JOB_DOWNLOADING, /* claimed; next_at is the lease: past it, claimable again */
    STORE_JOB_STORED,      /* the bytes are in the media store (sha256, storage_key) */
    STORE_JOB_FAILED,      /* gave up after attempts, or a permanent error; retry re-queues */
    STORE_JOB_SKIPPED,     /* the policy said no (error says why) */
    STORE_JOB_STATES
};
const char *store_job_state_name(enum store_job_state s); /* "queued", ... */
/* "queued" ... into *out; false for anything else. */
bool store_job_state_parse(const char *s, enum store_job_state *out);

struct store_media_job {
    int64_t id; /* assigned by the store */
    int64_t chat_id;
    int64_t message_id;
    const char *media_key;      /* the file within the message: file_unique_id, or "idx:N" */
    int64_t date;               /* the message's date */
    const char *media_kind;     /* photo, video, voice, document, ... */
    const char *file_unique_id; /* Telegram's, NULL when unknown (exports) */
    const char *file_name;      /* as the source named it, NULL when none */
    const char *mime_type;      /* NULL when unknown */
    int64_t size;               /* expected bytes, 0 when unknown */
    const char *origin;         /* "tdlib", "export", "bot" */
    const char *source_path;    /* export: the file beside the export (absolute), else NULL */
    int priority;               /* 1..32, higher first (downloadFile's priority) */
    enum store_job_state state;
    int attempts;            /* claims so far */
    const char *error;       /* the last error, or why skipped; NULL when none */
    int64_t next_at;         /* see enum store_job_state; 0: now */
    int64_t downloaded;      /* bytes downloaded so far */
    const char *sha256;      /* stored: hex SHA-256 of the bytes */
    const char *storage_key; /* stored: the object's key in the media store */
    const char *upload_id;   /* an unfinished multipart upload to resume, NULL when none */
    int64_t created_at;
    int64_t updated_at;
    int64_t finished_at; /* stored, failed or skipped at; 0 otherwise */
};

typedef int (*store_media_job_fn)(void *arg, const struct store_media_job *j);

/*
 * Add a job for (chat_id, message_id, media_key) unless one exists: *added
 * says which, *id (may be NULL) receives the row id either way. state is
 * QUEUED or SKIPPED (with error); the other fields as given (attempts 0).
 */
TGH_MUSTCHECK tgh_err store_media_job_add(struct store *st, const struct store_media_job *j,
                                          int64_t *id, bool *added);

struct store_media_claim {
    int64_t now;        /* Unix seconds */
    int64_t lease_s;    /* a claimed job is claimable again after now + lease_s */
    size_t max;         /* at most this many */
    const char *origin; /* only jobs of this origin; NULL: any */
    int64_t chat_id;    /* only this chat; MSG_UNSET: any */
};

/*
 * Claim due jobs, highest priority first, then oldest: QUEUED ones with
 * next_at <= now and DOWNLOADING ones whose lease ran out (their claimer
 * died). Each becomes DOWNLOADING with next_at = now + lease_s and attempts
 * + 1, in one transaction, so two claimers never get the same job; fn sees
 * each claimed job (after the commit: it may use the store).
 */
TGH_MUSTCHECK tgh_err store_media_jobs_claim(struct store *st, const struct store_media_claim *c,
                                             store_media_job_fn fn, void *arg);

/* Progress of a DOWNLOADING job: bytes so far, and the lease extended to lease_until. */
TGH_MUSTCHECK tgh_err store_media_job_progress(struct store *st, int64_t id, int64_t downloaded,
                                               int64_t lease_until);

/* Record (or, NULL, forget) the multipart upload of a job's object. */
TGH_MUSTCHECK tgh_err store_media_job_set_upload(struct store *st, int64_t id,
                                                 const char *upload_id);

/* How a claimed job ended. */
struct store_media_end {
    enum store_job_state state; /* STORED, FAILED, SKIPPED, or QUEUED (retry at next_at) */
    const char *error;          /* FAILED, SKIPPED, QUEUED: why; NULL clears */
    int64_t next_at;            /* QUEUED: not before */
    const char *sha256;         /* STORED */
    const char *storage_key;    /* STORED */
    int64_t size;               /* STORED: the bytes stored */
    int64_t at;                 /* now (Unix seconds) */
};

/* End job id as e says; upload_id is cleared. TGH_ENOTFOUND when there is no such job. */
TGH_MUSTCHECK tgh_err store_media_job_end(struct store *st, int64_t id,
                                          const struct store_media_end *e);

struct store_media_jobs_query {
    int state;          /* an enum store_job_state, or -1 for every state */
    int64_t chat_id;    /* MSG_UNSET: every chat */
    int64_t message_id; /* MSG_UNSET: every message (needs chat_id otherwise) */
    int64_t before_id;  /* 0, or only id < before_id (paging) */
    int64_t limit;      /* <= 0: no limit */
};

/* Jobs matching q, newest first, in pages finished before fn sees them (fn may use the store). */
TGH_MUSTCHECK tgh_err store_media_jobs_each(struct store *st,
                                            const struct store_media_jobs_query *q,
                                            store_media_job_fn fn, void *arg);

/*
 * Queue job id again (FAILED or SKIPPED; others are left alone), or with id
 * 0 every FAILED job: state QUEUED, next_at now, error kept until the next
 * end. *n (may be NULL) is how many were queued. TGH_ENOTFOUND for an id
 * that does not exist.
 */
TGH_MUSTCHECK tgh_err store_media_job_retry(struct store *st, int64_t id, int64_t now, int64_t *n);

/* Jobs per state and media kind: fn(arg, state, kind, jobs, bytes (size of each job's file)). */
typedef int (*store_media_count_fn)(void *arg, enum store_job_state state, const char *kind,
                                    int64_t jobs, int64_t bytes);
TGH_MUSTCHECK tgh_err store_media_counts_each(struct store *st, store_media_count_fn fn, void *arg);

/* One stored content (dedup_index). */
struct store_dedup {
    const char *sha256; /* hex, 64 characters */
    const char *storage_key;
    const char *file_unique_id; /* NULL when unknown */
    int64_t size;
    const char *content_type; /* NULL when unknown */
    int64_t created_at;
};

typedef int (*store_dedup_fn)(void *arg, const struct store_dedup *d);

/*
 * The stored content with this sha256, or else (sha256 NULL) with this
 * file_unique_id; TGH_ENOTFOUND when none. Strings of *out live until the
 * next call on st.
 */
TGH_MUSTCHECK tgh_err store_dedup_find(struct store *st, const char *sha256,
                                       const char *file_unique_id, struct store_dedup *out);
/* Record stored content; an existing sha256 is kept as it is (*added false). */
TGH_MUSTCHECK tgh_err store_dedup_put(struct store *st, const struct store_dedup *d, bool *added);
/* Every stored content, by sha256, in pages (fn may use the store). */
TGH_MUSTCHECK tgh_err store_dedup_each(struct store *st, store_dedup_fn fn, void *arg);

/*
 * Where the media scanner stands in a chat: every message with media up to
 * message id *last was considered (0: none). put only moves it forward.
 */
TGH_MUSTCHECK tgh_err store_media_scan_get(struct store *st, int64_t chat_id, int64_t *last);
TGH_MUSTCHECK tgh_err store_media_scan_put(struct store *st, int64_t chat_id, int64_t last);

/*
 * The archive bot (bot_state, bot_items). next_update_id is its getUpdates
 * offset: written only after every update below it was stored.
 */
struct store_bot_state {
    int64_t bot_id;
    const char *username;         /* NULL when unknown */
    int64_t next_update_id;       /* 0: none read yet */
    const char *last_update_type; /* NULL when none */
    int64_t last_update_at;       /* 0 when none */
    int64_t updated_at;
};

/* The bot's row; TGH_ENOTFOUND (*out zeroed, bot_id set) when none. Strings live until the next
 * call on st. */
TGH_MUSTCHECK tgh_err store_bot_state_get(struct store *st, int64_t bot_id,
                                          struct store_bot_state *out);
/* Insert or update; next_update_id only moves forward. updated_at is set by the store. */
TGH_MUSTCHECK tgh_err store_bot_state_put(struct store *st, const struct store_bot_state *s);

/*
 * Record that content item_key arrived as (chat_id, message_id), unless it
 * is known: *is_new says which; *first (may be NULL) receives the first
 * message that brought it (chat_id, message_id, created_at) either way.
 */
struct store_bot_item {
    int64_t chat_id, message_id, created_at;
};
TGH_MUSTCHECK tgh_err store_bot_item_put(struct store *st, const char *item_key, int64_t chat_id,
                                         int64_t message_id, bool *is_new,
                                         struct store_bot_item *first);
/* The item recorded under item_key; TGH_ENOTFOUND (*out zeroed) when none. */
TGH_MUSTCHECK tgh_err store_bot_item_get(struct store *st, const char *item_key,
                                         struct store_bot_item *out);

/*
 * Completeness (gaps, deletion_windows; docs/internals/gaps.md). A gap is a
 * run of message ids of a chat that the archive does not hold.
 */
enum store_gap_class {
    STORE_GAP_UNKNOWN = 0,  /* not checked yet */
    STORE_GAP_DELETED,      /* Telegram has no message there (tombstones) */
    STORE_GAP_MISSED,       /* Telegram had them, the archive did not: fetched since */
    STORE_GAP_INACCESSIBLE, /* history the account cannot read */
    STORE_GAP_CLASSES
};
enum store_gap_pos { STORE_GAP_LEADING = 0, STORE_GAP_INNER, STORE_GAP_TRAILING };

const char *store_gap_class_name(enum store_gap_class c);
bool store_gap_class_parse(const char *s, enum store_gap_class *out);
const char *store_gap_pos_name(enum store_gap_pos p);
/* The position "leading" or "trailing" names; anything else (NULL too) is inner. */
enum store_gap_pos store_gap_pos_parse(const char *s);

struct store_gap {
    int64_t chat_id;
    int64_t first_id, last_id; /* inclusive, first_id <= last_id */
    enum store_gap_class cls;
    enum store_gap_pos pos;
    int64_t checked_at;
    const char *detail; /* NULL when none */
};

typedef int (*store_gap_fn)(void *arg, const struct store_gap *g);

/* The lowest and highest message id the chat has stored (tombstoned too), and how many; 0s when
 * none. */
TGH_MUSTCHECK tgh_err store_id_bounds(struct store *st, int64_t chat_id, int64_t *min_id,
                                      int64_t *max_id, int64_t *count);

/*
 * The runs of ids between the chat's lowest and highest stored message id
 * that no stored message has, lowest first: fn(arg, first, last, below)
 * per run, below the date of the stored message just under it (nonzero
 * stops). Tombstones of messages never stored are not messages: their ids
 * are in the runs.
 */
typedef int (*store_idrun_fn)(void *arg, int64_t first, int64_t last, int64_t below);
TGH_MUSTCHECK tgh_err store_missing_runs(struct store *st, int64_t chat_id, store_idrun_fn fn,
                                         void *arg);

/*
 * Replace the chat's gap rows with the n given (in one transaction); rows
 * of class missed are kept, as the record of what was found and fetched.
 */
TGH_MUSTCHECK tgh_err store_gaps_put(struct store *st, int64_t chat_id, const struct store_gap *g,
                                     size_t n);

/*
 * Messages first stored in [from, to] (Unix seconds, both inclusive), of
 * chat_id (MSG_UNSET: every chat): what a run's commits put there
 * (`validate`).
 */
TGH_MUSTCHECK tgh_err store_first_seen_count(struct store *st, int64_t chat_id, int64_t from,
                                             int64_t to, int64_t *n);

/* The data-quality figures of one chat's stored messages (the report, docs/internals/report.md). */
struct store_chat_quality {
    int64_t messages, deleted;     /* live, tombstoned */
    int64_t edited, versions;      /* messages with earlier versions, and those versions */
    int64_t first_date, last_date; /* of every stored message; 0 when none */
    int64_t same_content;          /* live messages whose content_hash an earlier one has */
    int64_t dangling_replies;      /* replies to an id inside the stored range that is absent */
    int64_t replies_before;        /* replies to an id below the oldest stored one */
    int64_t dangling_threads;      /* thread_id naming no stored message */
    int64_t out_of_order;          /* dated before the message with the next lower id */
    int64_t future;                /* dated more than 5 minutes after now */
    int64_t first_seen_since;      /* first stored at or after since */
};

/* Per kind (a media kind, "service" or "text"): live messages, and how many lack each field. */
struct store_kind_quality {
    const char *kind;
    int64_t messages;
    int64_t no_sender, no_text, no_size, no_file_id; /* text: no_text; media: size, file id */
};
typedef int (*store_kind_fn)(void *arg, const struct store_kind_quality *k);

TGH_MUSTCHECK tgh_err store_chat_quality(struct store *st, int64_t chat_id, int64_t now,
                                         int64_t since, struct store_chat_quality *out,
                                         store_kind_fn kinds, void *arg);

/* The warnings of the chat's stored messages (what readers repaired), counted by kind. */
typedef int (*store_warning_fn)(void *arg, const char *kind, int64_t n);
TGH_MUSTCHECK tgh_err store_warnings_each(struct store *st, int64_t chat_id, store_warning_fn fn,
                                          void *arg);

/* The gap rows of chat_id (MSG_UNSET: every chat), by chat and first id. Strings live during fn. */
TGH_MUSTCHECK tgh_err store_gaps_each(struct store *st, int64_t chat_id, store_gap_fn fn,
                                      void *arg);

#endif
