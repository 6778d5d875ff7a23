/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_int.h - private to the SQLite backend (store_sqlite*.c): the
 * connection and its prepared statements, the column lists the statements
 * and the readers share, and the helpers that bind, step and report errors.
 *
 * Which file holds what:
 *   store_sqlite.c          opening and closing (pragmas), the SQL of every
 *                           prepared statement (stmt_sql[]), the vtable
 *   store_sqlite_migrate.c  the embedded migrations, applied at open
 *   store_sqlite_commit.c   the batch commit protocol: chat upsert, message
 *                           insert, refresh, versions, tombstones, changes
 *   store_sqlite_read.c     chats, messages (polling, FTS5 search), versions,
 *                           totals, tombstones, buckets
 *   store_sqlite_admin.c    collection runs, dead letters, tracked chats,
 *                           cursors, retention
 *   store_sqlite_media.c    media jobs, the content index, the media scan
 */
#ifndef TGH_STORE_STORE_SQLITE_INT_H
#define TGH_STORE_STORE_SQLITE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/msg.h"
#include "store/store_int.h"
enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_CHAT_UPSERT,
    S_MSG_INSERT,
    S_MSG_GET,
    S_MSG_REWRITE,
    S_MSG_OLD_VERSION,
    S_MSG_DELETE,
    S_TOMB_ADD,
    S_VER_KNOWN,
    S_VER_SAVE_ROW,
    S_VER_SAVE_EVENT,
    S_DEAD_ADD,
    S_RUN_BEGIN,
    S_RUN_FINISH,
    S_CHATS,
    S_VERSIONS,
    S_TOTALS,
    S_TOMBSTONES,
    S_BUCKETS_CHAT,
    S_BUCKETS_ALL,
    S_RUNS_LAST,
    S_DL_GET,
    S_DL_RETRIED,
    S_DL_RESOLVE,
    S_TRK_INSERT,
    S_TRK_UPDATE,
    S_TRK_DROP_SPEC,
    S_TRK_MOVE_SPEC,
    S_TRK_BY_CHAT,
    S_TRK_BY_SPEC,
    S_TRK_BY_NAME,
    S_TRK_BY_AT_SPEC,
    S_TRK_PAGE,
    S_TRK_REMOVE,
    S_TRK_STATUS,
    S_TRK_EXISTS,
    S_TRK_BACKFILL_ASK,
    S_TRK_BACKFILL_DONE,
    S_TRK_MEDIA_POLICY,
    S_CUR_GET,
    S_CUR_PUT,
    S_CUR_PAGE,
    S_RET_VERSIONS,
    S_RET_MESSAGES,
    S_COUNT
};

/* Column lists shared by the statements and the readers: tracked_row(), cursor_row(). */
#define TRK_COLUMNS                                                                         \
    "id, spec, chat_id, account, enabled, status, error, type, title, username,"            \
    " linked_chat_id, is_forum, comments, topics, added_at, updated_at, last_collected_at," \
    " backfill_requested_at, media_policy"
#define CUR_COLUMNS \
    "chat_id, thread_id, newest_id, oldest_id, complete, gap_hi, gap_from, updated_at"

#define RUN_COLUMNS                                                                        \
    "id, chat_id, kind, origin, started_at, finished_at, status, messages_seen, inserted," \
    " versioned, unchanged, refreshed, deleted, errors, error, flood_waits, flood_seconds"

#define DL_COLUMNS \
    "id, source, origin, position, reason, payload, created_at, retry_count, resolved_at"

/* Rows per page of the listings (kept in step with the LIMIT text). */
#define TRK_PAGE   64
#define TRK_PAGE_S "64"
#define RUN_PAGE   64
#define RUN_PAGE_S "64"
#define DL_PAGE    32 /* payloads are cut at 256 KiB by their writers */
#define CUR_PAGE   256
#define CUR_PAGE_S "256"

struct sq {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    char *reactions_buf; /* reusable buffer for the reactions JSON of one event */
    size_t reactions_cap;
    struct tgh_arena scratch; /* the merged event of a refresh */
    struct tgh_arena found;   /* strings of the last store_tracked_find() or dead letter read */
};

/* ---- statement helpers ---- */

/*
 * Map a SQLite result code to ours and record the detail. BUSY/LOCKED are
 * transient: another process held the write lock longer than busy_timeout.
 */
TGH_MUSTCHECK static inline tgh_err
sq_fail(struct sq *sq, int rc, const char *what)
{
    tgh_err code;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = TGH_EAGAIN;
        break;
    case SQLITE_NOMEM:
        code = TGH_ENOMEM;
        break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        code = TGH_EINVAL;
        break;
    case SQLITE_TOOBIG:
        code = TGH_ETOOBIG;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = TGH_EPROTO;
        break;
    default:
        code = TGH_EIO;
        break;
    }
    return tgh_errf(code, "sqlite: %s: %s", what,
                    sq->db != NULL ? sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
}

static inline void
bind_i64(sqlite3_stmt *s, int idx, int64_t v)
{
    if (v == MSG_UNSET)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_int64(s, idx, v);
}

/* Strings outlive the statement's execution (it is reset before they go). */
static inline void
bind_str(sqlite3_stmt *s, int idx, const char *v)
{
    if (v == NULL)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

static inline void
bind_strn(sqlite3_stmt *s, int idx, const char *v, size_t len)
{
    if (v == NULL)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_text64(s, idx, v, len, SQLITE_STATIC, SQLITE_UTF8);
}

static inline int64_t
col_i64(sqlite3_stmt *s, int idx)
{
    return sqlite3_column_type(s, idx) == SQLITE_NULL ? MSG_UNSET : sqlite3_column_int64(s, idx);
}

static inline const char *
col_str(sqlite3_stmt *s, int idx)
{
    return (const char *)sqlite3_column_text(s, idx);
}

/* Run a statement that returns no rows, then reset it. */
TGH_MUSTCHECK static inline tgh_err
run(struct sq *sq, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = sq->stmt[id];
    tgh_err rc = TGH_OK;
    int src;

    src = sqlite3_step(s);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = sq_fail(sq, src, what);
    (void)sqlite3_reset(s);
    return rc;
}

/*
 * Step a query expected to give at most one row. TGH_OK with *found set; the
 * caller reads the columns and resets the statement.
 */
TGH_MUSTCHECK static inline tgh_err
step_one(struct sq *sq, enum stmt_id id, const char *what, bool *found)
{
    sqlite3_stmt *s = sq->stmt[id];
    int src;

    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        *found = true;
        return TGH_OK;
    }
    *found = false;
    if (src == SQLITE_DONE)
        return TGH_OK;
    tgh_err rc = sq_fail(sq, src, what);
    (void)sqlite3_reset(s);
    return rc;
}

TGH_MUSTCHECK static inline tgh_err
exec_sql(struct sq *sq, const char *sql, const char *what)
{
    char *msg = NULL;
    int src = sqlite3_exec(sq->db, sql, NULL, NULL, &msg);
    tgh_err rc = TGH_OK;

    if (src != SQLITE_OK)
        rc = sq_fail(sq, src, what);
    sqlite3_free(msg);
    return rc;
}

TGH_MUSTCHECK static inline tgh_err
query_i64(struct sq *sq, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int src;
    tgh_err rc = TGH_OK;

    src = sqlite3_prepare_v2(sq->db, sql, -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = sq_fail(sq, src, "prepare");
        goto out;
    }
    src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = sq_fail(sq, src, "query");
        goto out;
    }
    *out = sqlite3_column_int64(s, 0);
out:
    sqlite3_finalize(s);
    return rc;
}

/* Undo the open batch; quietly, so the first error's detail stays recorded. */
static inline void
rollback(struct sq *sq)
{
    sqlite3_stmt *s = sq->stmt[S_ROLLBACK];

    if (sqlite3_get_autocommit(sq->db))
        return;
    (void)sqlite3_step(s);
    (void)sqlite3_reset(s);
}

/* Append a constant SQL fragment; the query text never contains values. */
static inline void
sql_add(char *buf, size_t cap, size_t *len, const char *frag)
{
    size_t n = strlen(frag);

    if (*len + n + 1 > cap) /* the fragments below always fit: a programming error */
        abort();
    memcpy(buf + *len, frag, n + 1);
    *len += n;
}

static inline void
bind_named_i64(sqlite3_stmt *s, const char *name, int64_t v)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx > 0)
        (void)sqlite3_bind_int64(s, idx, v);
}

/* Prepare sql; the caller finalizes. */
TGH_MUSTCHECK static inline tgh_err
sq_prep(struct sq *sq, const char *sql, sqlite3_stmt **s, const char *what)
{
    int src = sqlite3_prepare_v2(sq->db, sql, -1, s, NULL);

    if (src != SQLITE_OK) {
        *s = NULL;
        return sq_fail(sq, src, what);
    }
    return TGH_OK;
}

/* Step a statement without rows to the end, finalize it; *changes (may be NULL). */
TGH_MUSTCHECK static inline tgh_err
sq_finish(struct sq *sq, sqlite3_stmt *s, int64_t *changes, const char *what)
{
    int src = sqlite3_step(s);
    tgh_err rc = TGH_OK;

    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = sq_fail(sq, src, what);
    else if (changes != NULL)
        *changes = sqlite3_changes64(sq->db);
    sqlite3_finalize(s);
    return rc;
}

/* ---- store_sqlite_migrate.c ---- */

/* Bring the schema to the newest embedded migration; a newer one is TGH_EINVAL. */
TGH_MUSTCHECK tgh_err sqlite_migrate(struct sq *sq);

/* ---- the vtable's entries (store_int.h), by file ---- */

/* store_sqlite_commit.c */
TGH_MUSTCHECK tgh_err sqlite_commit(void *impl, const struct msg_event *ev, size_t n,
                                    struct store_stats *stats, enum store_change *changes);
TGH_MUSTCHECK tgh_err sqlite_chat_upsert(void *impl, int64_t chat_id, enum msg_chat_type type,
                                         const char *title, const char *username);

/* store_sqlite_read.c */
TGH_MUSTCHECK tgh_err sqlite_chats_each(void *impl, store_chat_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_messages_each(void *impl, const struct store_query *q,
                                           store_message_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_versions_each(void *impl, int64_t chat_id, int64_t message_id,
                                           store_message_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_totals_get(void *impl, struct store_totals *out);
TGH_MUSTCHECK tgh_err sqlite_tombstones_each(void *impl, int64_t chat_id, store_message_fn fn,
                                             void *arg);
TGH_MUSTCHECK tgh_err sqlite_message_buckets(void *impl, int64_t chat_id, int64_t since,
                                             int64_t until, int64_t bucket_s, store_bucket_fn fn,
                                             void *arg);

/* store_sqlite_admin.c */
TGH_MUSTCHECK tgh_err sqlite_dead_letter_add(void *impl, const struct store_dead_letter *dl);
TGH_MUSTCHECK tgh_err sqlite_run_begin(void *impl, int64_t chat_id, const char *kind,
                                       const char *origin, int64_t *run_id);
TGH_MUSTCHECK tgh_err sqlite_run_finish(void *impl, int64_t run_id,
                                        const struct store_run_result *res);
TGH_MUSTCHECK tgh_err sqlite_runs_each(void *impl, const struct store_runs_query *q,
                                       store_run_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_runs_last_each(void *impl, store_run_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_dead_letters_each(void *impl, const struct store_dl_query *q,
                                               store_dead_letter_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_dead_letter_get(void *impl, int64_t id, store_dead_letter_fn fn,
                                             void *arg);
TGH_MUSTCHECK tgh_err sqlite_dead_letter_retried(void *impl, int64_t id, bool resolved,
                                                 const char *reason, int64_t at);
TGH_MUSTCHECK tgh_err sqlite_dead_letter_resolve(void *impl, int64_t id, int64_t at);
TGH_MUSTCHECK tgh_err sqlite_tracked_put(void *impl, const struct store_tracked *t, int64_t *id);
TGH_MUSTCHECK tgh_err sqlite_tracked_each(void *impl, store_tracked_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_tracked_find(void *impl, const char *key, struct store_tracked *out);
TGH_MUSTCHECK tgh_err sqlite_tracked_remove(void *impl, int64_t id);
TGH_MUSTCHECK tgh_err sqlite_tracked_set_status(void *impl, int64_t id, const char *status,
                                                const char *error, int64_t last_collected_at);
TGH_MUSTCHECK tgh_err sqlite_tracked_request_backfill(void *impl, int64_t id, int64_t at);
TGH_MUSTCHECK tgh_err sqlite_tracked_set_media_policy(void *impl, int64_t id, const char *spec);
TGH_MUSTCHECK tgh_err sqlite_tracked_backfill_done(void *impl, int64_t id, int64_t at);
TGH_MUSTCHECK tgh_err sqlite_cursor_get(void *impl, int64_t chat_id, int64_t thread_id,
                                        struct store_cursor *out);
TGH_MUSTCHECK tgh_err sqlite_cursor_put(void *impl, const struct store_cursor *c);
TGH_MUSTCHECK tgh_err sqlite_cursors_each(void *impl, int64_t chat_id, store_cursor_fn fn,
                                          void *arg);
TGH_MUSTCHECK tgh_err sqlite_retention_apply(void *impl, int64_t before, int64_t *removed);

/* store_sqlite_media.c */
TGH_MUSTCHECK tgh_err sqlite_media_job_add(void *impl, const struct store_media_job *j, int64_t now,
                                           int64_t *id, bool *added);
TGH_MUSTCHECK tgh_err sqlite_media_jobs_claim(void *impl, const struct store_media_claim *c,
                                              store_media_job_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_media_job_progress(void *impl, int64_t id, int64_t downloaded,
                                                int64_t lease_until, int64_t now);
TGH_MUSTCHECK tgh_err sqlite_media_job_set_upload(void *impl, int64_t id, const char *upload_id,
                                                  int64_t now);
TGH_MUSTCHECK tgh_err sqlite_media_job_end(void *impl, int64_t id, const struct store_media_end *e);
TGH_MUSTCHECK tgh_err sqlite_media_jobs_each(void *impl, const struct store_media_jobs_query *q,
                                             store_media_job_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_media_job_retry(void *impl, int64_t id, int64_t now, int64_t *n);
TGH_MUSTCHECK tgh_err sqlite_media_counts_each(void *impl, store_media_count_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_dedup_find(void *impl, const char *sha256, const char *file_unique_id,
                                        struct store_dedup *out);
TGH_MUSTCHECK tgh_err sqlite_dedup_put(void *impl, const struct store_dedup *d, bool *added);
TGH_MUSTCHECK tgh_err sqlite_dedup_each(void *impl, store_dedup_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_media_scan_get(void *impl, int64_t chat_id, int64_t *last);
TGH_MUSTCHECK tgh_err sqlite_media_scan_put(void *impl, int64_t chat_id, int64_t last, int64_t now);

/* The archive bot (store_sqlite_bot.c). */
TGH_MUSTCHECK tgh_err sqlite_bot_state_get(void *impl, int64_t bot_id, struct store_bot_state *out);
TGH_MUSTCHECK tgh_err sqlite_bot_state_put(void *impl, const struct store_bot_state *s,
                                           int64_t now);
TGH_MUSTCHECK tgh_err sqlite_bot_item_put(void *impl, const char *key, int64_t chat_id,
                                          int64_t message_id, int64_t now, bool *is_new,
                                          struct store_bot_item *first);
TGH_MUSTCHECK tgh_err sqlite_bot_item_get(void *impl, const char *key, struct store_bot_item *out);

/* Completeness (store_sqlite_gaps.c). */
TGH_MUSTCHECK tgh_err sqlite_id_bounds(void *impl, int64_t chat_id, int64_t *min_id,
                                       int64_t *max_id, int64_t *count);
TGH_MUSTCHECK tgh_err sqlite_missing_runs(void *impl, int64_t chat_id, store_idrun_fn fn,
                                          void *arg);
TGH_MUSTCHECK tgh_err sqlite_gaps_put(void *impl, int64_t chat_id, const struct store_gap *g,
                                      size_t n);
TGH_MUSTCHECK tgh_err sqlite_gaps_each(void *impl, int64_t chat_id, store_gap_fn fn, void *arg);
TGH_MUSTCHECK tgh_err sqlite_warnings_each(void *impl, int64_t chat_id, store_warning_fn fn,
                                           void *arg);
TGH_MUSTCHECK tgh_err sqlite_chat_quality(void *impl, int64_t chat_id, int64_t now, int64_t since,
                                          struct store_chat_quality *out, store_kind_fn kinds,
                                          void *arg);
TGH_MUSTCHECK tgh_err sqlite_first_seen_count(void *impl, int64_t chat_id, int64_t from, int64_t to,
                                              int64_t *n);

#endif
