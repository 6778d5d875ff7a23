/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - what a store backend provides (private to src/store/).
 */
#ifndef TGH_STORE_STORE_INT_H
#define TGH_STORE_STORE_INT_H

#include "core/url.h"
#include "store/store.h"

struct store_backend {
    const char *scheme; /* "sqlite", "postgresql" */
    /* must_exist: fail with TGH_ENOTFOUND instead of creating a new store */
    tgh_err (*open)(const struct tgh_url *url, bool must_exist, void **impl);
    void (*close)(void *impl);
    /* changes may be NULL; else changes[i] is set for every event on success */
    tgh_err (*commit)(void *impl, const struct msg_event *ev, size_t n, struct store_stats *stats,
                      enum store_change *changes);
    tgh_err (*chat_upsert)(void *impl, int64_t chat_id, enum msg_chat_type type, const char *title,
                           const char *username);
    tgh_err (*dead_letter_add)(void *impl, const struct store_dead_letter *dl);
    tgh_err (*run_begin)(void *impl, int64_t chat_id, const char *kind, const char *origin,
                         int64_t *run_id);
    tgh_err (*run_finish)(void *impl, int64_t run_id, const struct store_run_result *res);
    tgh_err (*chats_each)(void *impl, store_chat_fn fn, void *arg);
    tgh_err (*messages_each)(void *impl, const struct store_query *q, store_message_fn fn,
                             void *arg);
    tgh_err (*versions_each)(void *impl, int64_t chat_id, int64_t message_id, store_message_fn fn,
                             void *arg);
    tgh_err (*totals_get)(void *impl, struct store_totals *out);
    tgh_err (*tombstones_each)(void *impl, int64_t chat_id, store_message_fn fn, void *arg);
    /* since <= date < until, both set (store.c opens a MSG_UNSET end); chat_id may be MSG_UNSET. */
    tgh_err (*message_buckets)(void *impl, int64_t chat_id, int64_t since, int64_t until,
                               int64_t bucket_s, store_bucket_fn fn, void *arg);
    /* store_runs_query.chat_id 0 selects the runs without a chat. */
    tgh_err (*runs_each)(void *impl, const struct store_runs_query *q, store_run_fn fn, void *arg);
    tgh_err (*runs_last_each)(void *impl, store_run_fn fn, void *arg);
    /* Dead letters: the state and the times already checked by store.c. */
    tgh_err (*dead_letters_each)(void *impl, const struct store_dl_query *q,
                                 store_dead_letter_fn fn, void *arg);
    tgh_err (*dead_letter_get)(void *impl, int64_t id, store_dead_letter_fn fn, void *arg);
    tgh_err (*dead_letter_retried)(void *impl, int64_t id, bool resolved, const char *reason,
                                   int64_t at);
    tgh_err (*dead_letter_resolve)(void *impl, int64_t id, int64_t at);
    /* Tracked chats and cursors: arguments already checked by store.c. */
    tgh_err (*tracked_put)(void *impl, const struct store_tracked *t, int64_t *id);
    tgh_err (*tracked_each)(void *impl, store_tracked_fn fn, void *arg);
    tgh_err (*tracked_find)(void *impl, const char *key, struct store_tracked *out);
    tgh_err (*tracked_remove)(void *impl, int64_t id);
    tgh_err (*tracked_set_status)(void *impl, int64_t id, const char *status, const char *error,
                                  int64_t last_collected_at);
    tgh_err (*tracked_request_backfill)(void *impl, int64_t id, int64_t at);
    tgh_err (*tracked_set_media_policy)(void *impl, int64_t id, const char *spec);
    tgh_err (*tracked_backfill_done)(void *impl, int64_t id, int64_t at);
    tgh_err (*cursor_get)(void *impl, int64_t chat_id, int64_t thread_id, struct store_cursor *out);
    tgh_err (*cursor_put)(void *impl, const struct store_cursor *c);
    tgh_err (*cursors_each)(void *impl, int64_t chat_id, store_cursor_fn fn, void *arg);
    /* Remove every message dated before `before` (a month start, UTC). */
    tgh_err (*retention_apply)(void *impl, int64_t before, int64_t *removed);
    /* Media jobs, the content index, the scan cursor: arguments already checked by store.c. */
    tgh_err (*media_job_add)(void *impl, const struct store_media_job *j, int64_t now, int64_t *id,
                             bool *added);
    tgh_err (*media_jobs_claim)(void *impl, const struct store_media_claim *c,
                                store_media_job_fn fn, void *arg);
    tgh_err (*media_job_progress)(void *impl, int64_t id, int64_t downloaded, int64_t lease_until,
                                  int64_t now);
    tgh_err (*media_job_set_upload)(void *impl, int64_t id, const char *upload_id, int64_t now);
    tgh_err (*media_job_end)(void *impl, int64_t id, const struct store_media_end *e);
    tgh_err (*media_jobs_each)(void *impl, const struct store_media_jobs_query *q,
                               store_media_job_fn fn, void *arg);
    tgh_err (*media_job_retry)(void *impl, int64_t id, int64_t now, int64_t *n);
    tgh_err (*media_counts_each)(void *impl, store_media_count_fn fn, void *arg);
    tgh_err (*dedup_find)(void *impl, const char *sha256, const char *file_unique_id,
                          struct store_dedup *out);
    tgh_err (*dedup_put)(void *impl, const struct store_dedup *d, bool *added);
    tgh_err (*dedup_each)(void *impl, store_dedup_fn fn, void *arg);
    tgh_err (*media_scan_get)(void *impl, int64_t chat_id, int64_t *last);
    tgh_err (*media_scan_put)(void *impl, int64_t chat_id, int64_t last, int64_t now);
    /* The archive bot's offset and items (store_bot.c checks arguments). */
    tgh_err (*bot_state_get)(void *impl, int64_t bot_id, struct store_bot_state *out);
    tgh_err (*bot_state_put)(void *impl, const struct store_bot_state *s, int64_t now);
    tgh_err (*bot_item_put)(void *impl, const char *key, int64_t chat_id, int64_t message_id,
                            int64_t now, bool *is_new, struct store_bot_item *first);
    tgh_err (*bot_item_get)(void *impl, const char *key, struct store_bot_item *out);
    /* Completeness (store_gaps.c checks arguments). */
    tgh_err (*id_bounds)(void *impl, int64_t chat_id, int64_t *min_id, int64_t *max_id,
                         int64_t *count);
    tgh_err (*missing_runs)(void *impl, int64_t chat_id, store_idrun_fn fn, void *arg);
    tgh_err (*gaps_put)(void *impl, int64_t chat_id, const struct store_gap *g, size_t n);
    tgh_err (*gaps_each)(void *impl, int64_t chat_id, store_gap_fn fn, void *arg);
    tgh_err (*first_seen_count)(void *impl, int64_t chat_id, int64_t from, int64_t to, int64_t *n);
    tgh_err (*warnings_each)(void *impl, int64_t chat_id, store_warning_fn fn, void *arg);
    tgh_err (*chat_quality)(void *impl, int64_t chat_id, int64_t now, int64_t since,
                            struct store_chat_quality *out, store_kind_fn kinds, void *arg);
};

/* What one event did, from the batch's counts before and after applying it. */
enum store_change store_change_between(const struct store_stats *before,
                                       const struct store_stats *after);

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* ---- shared by the backends (store.c) ---- */

/*
 * The columns of a media job, in the order store_media_job_from() and the
 * backends' readers use; state is its name (store_job_state_name()).
 */
#define JOB_COLUMNS                                                                     \
    "id, chat_id, message_id, media_key, date, media_kind, file_unique_id, file_name,"  \
    " mime_type, size, origin, source_path, priority, state, attempts, error, next_at," \
    " downloaded, sha256, storage_key, upload_id, created_at, updated_at, finished_at"
#define JOB_NCOLUMNS  24
#define JOB_PAGE      128 /* rows per page of the job listings */
#define DEDUP_COLUMNS "sha256, storage_key, file_unique_id, size_bytes, content_type, created_at"
#define DEDUP_PAGE    256
#define DEDUP_PAGE_S  "256"

/*
 * A job from its JOB_COLUMNS as strings (NULL for SQL NULL), the strings
 * copied into a: both backends read rows this way. TGH_EPROTO for a state
 * name the store does not know.
 */
struct tgh_arena;
TGH_MUSTCHECK tgh_err store_media_job_from(const char *const col[JOB_NCOLUMNS], struct tgh_arena *a,
                                           struct store_media_job *j);

/* Claimed jobs in the order the claim promises: priority (highest first), then id. */
void store_media_jobs_sort(struct store_media_job *jobs, size_t n);

/* The backend and its handle behind st, for the front's other files (store_media.c). */
const struct store_backend *store_be(struct store *st);
void *store_impl(struct store *st);

/* "001_init.sql" -> 1; -1 when the name does not start with digits and '_'. */
int64_t store_migration_version(const char *name);

/*
 * The reactions of an event as a JSON array with sorted keys, so equal
 * reactions give equal text: [{"count":3,"emoji":"...","type":"emoji"}, ...].
 * Written into *buf (grown as needed, owned by the caller); returns *buf.
 */
const char *store_reactions_json(const struct msg_event *ev, char **buf, size_t *cap, size_t *len);

/* What store_tracked_find() tries, besides the exact spec. */
struct store_tracked_key {
    int64_t chat_ids[2]; /* in order; 0 is skipped */
    size_t n_ids;
    char name[65]; /* a username without '@', "" when the key is none */
};

/*
 * Read a key: "-100123" is a chat id; "123" and "t.me/c/123[/45]" a bare
 * channel id (a positive id is then also tried as it is: a private chat);
 * "@name", "name" and "t.me/name[/45]" a username. Anything else (invite
 * links, ...) only ever matches a spec exactly.
 */
void store_tracked_key_parse(const char *key, struct store_tracked_key *k);

/* The start (Unix seconds) of the UTC calendar month holding t. */
int64_t store_month_start(int64_t t);
/* The start of the month after the one starting at month_start. */
int64_t store_month_next(int64_t month_start);

#endif
