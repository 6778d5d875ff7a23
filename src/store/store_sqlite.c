/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the embedded store: one SQLite file in WAL mode, one writer
 * connection per struct store, every statement prepared once at open.
 *
 * This file opens (pragmas, then the migrations of store_sqlite_migrate.c)
 * and closes the connection, holds the SQL of every prepared statement and
 * the backend's vtable; store_sqlite_int.h says which file holds the rest.
 */
#define TGH_LOG_SUB "store"

#include "store/store_sqlite_int.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "core/alloc.h"
#include "core/log.h"

#define BUSY_TIMEOUT_MS 5000

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    /* NULL parameters mean "the event does not know": keep what is stored. */
    [S_CHAT_UPSERT] =
        "INSERT INTO chats (chat_id, type, title, username, created_at, updated_at)"
        " VALUES (?1, coalesce(?2, 'unknown'), ?3, ?4, ?5, ?5)"
        " ON CONFLICT (chat_id) DO UPDATE SET type = coalesce(?2, type),"
        " title = coalesce(?3, title), username = coalesce(?4, username), updated_at = ?5"
        " WHERE (?2 IS NOT NULL AND ?2 IS NOT type) OR (?3 IS NOT NULL AND ?3 IS NOT title)"
        " OR (?4 IS NOT NULL AND ?4 IS NOT username)",
    /* A message deleted before it arrived is inserted as a tombstone. */
    [S_MSG_INSERT] =
        "INSERT INTO messages (chat_id, message_id, date, edit_date, sender_id, sender_type,"
        " sender_name, text, thread_id, reply_to_message_id, media_kind, views, forwards,"
        " replies, reactions, source, content_hash, idempotency_key, event, first_seen_at,"
        " updated_at, deleted_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21,"
        " (SELECT deleted_at FROM tombstones WHERE chat_id = ?1 AND message_id = ?2))"
        " ON CONFLICT (chat_id, message_id) DO NOTHING",
    [S_MSG_GET] = "SELECT id, content_hash, edit_date, event"
                  " FROM messages WHERE chat_id = ?1 AND message_id = ?2",
    /*
     * The row takes an event's content and state (a refresh, ?20 = 0) or
     * becomes its new version (?20 = 1, after the old row was saved).
     */
    [S_MSG_REWRITE] =
        "UPDATE messages SET date = ?2, edit_date = ?3, sender_id = ?4, sender_type = ?5,"
        " sender_name = ?6, text = ?7, thread_id = ?8, reply_to_message_id = ?9,"
        " media_kind = ?10, views = ?11, forwards = ?12, replies = ?13, reactions = ?14,"
        " source = ?15, content_hash = ?16, idempotency_key = ?17, event = ?18,"
        " updated_at = ?19, version_count = version_count + ?20"
        " WHERE id = ?1",
    [S_MSG_OLD_VERSION] = "UPDATE messages SET version_count = version_count + 1,"
                          " updated_at = ?2 WHERE id = ?1",
    [S_MSG_DELETE] = "UPDATE messages SET deleted_at = ?3, updated_at = ?4"
                     " WHERE chat_id = ?1 AND message_id = ?2 AND deleted_at IS NULL",
    [S_TOMB_ADD] = "INSERT INTO tombstones (chat_id, message_id, deleted_at, source)"
                   " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [S_VER_KNOWN] = "SELECT 1 FROM message_versions WHERE chat_id = ?1 AND message_id = ?2"
                    " AND content_hash = ?3 AND edit_date IS ?4 LIMIT 1",
    [S_VER_SAVE_ROW] =
        "INSERT INTO message_versions (chat_id, message_id, version, content_hash, edit_date,"
        " text, event, superseded_at)"
        " SELECT chat_id, message_id, version_count + 1, content_hash, edit_date, text, event, ?2"
        " FROM messages WHERE id = ?1",
    [S_VER_SAVE_EVENT] =
        "INSERT INTO message_versions (chat_id, message_id, version, content_hash, edit_date,"
        " text, event, superseded_at)"
        " SELECT chat_id, message_id, version_count + 1, ?2, ?3, ?4, ?5, ?6"
        " FROM messages WHERE id = ?1",
    /* The same input read again is the same dead letter: updated only if it changed. */
    [S_DEAD_ADD] = "INSERT INTO ingestion_errors (source, origin, position, reason, payload,"
                   " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                   " ON CONFLICT (source, origin, position) DO UPDATE SET reason = excluded.reason,"
                   " payload = excluded.payload, created_at = excluded.created_at,"
                   " resolved_at = NULL"
                   " WHERE reason IS NOT excluded.reason OR payload IS NOT excluded.payload",
    [S_RUN_BEGIN] = "INSERT INTO collection_runs (chat_id, kind, origin, started_at)"
                    " VALUES (?1, ?2, ?3, ?4)",
    [S_RUN_FINISH] = "UPDATE collection_runs SET finished_at = ?2, status = ?3,"
                     " messages_seen = ?4, inserted = ?5, versioned = ?6, unchanged = ?7,"
                     " refreshed = ?8, deleted = ?9, errors = ?10, error = ?11,"
                     " flood_waits = ?12, flood_seconds = ?13 WHERE id = ?1",
    [S_CHATS] = "SELECT c.chat_id, c.type, c.title, c.username, coalesce(s.live, 0),"
                " coalesce(s.dead, 0), coalesce(s.first, 0), coalesce(s.last, 0),"
                " coalesce(s.last_id, 0)"
                " FROM chats c LEFT JOIN (SELECT chat_id,"
                " count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(deleted_at) AS dead,"
                " min(date) AS first, max(date) AS last, max(message_id) AS last_id"
                " FROM messages GROUP BY chat_id) s ON s.chat_id = c.chat_id"
                " ORDER BY c.chat_id",
    [S_VERSIONS] =
        "SELECT v.chat_id, v.message_id, m.date, v.edit_date, NULL, v.version - 1, c.title,"
        " m.sender_name, v.text, NULL, v.event"
        " FROM message_versions v"
        " JOIN messages m ON m.chat_id = v.chat_id AND m.message_id = v.message_id"
        " JOIN chats c ON c.chat_id = v.chat_id"
        " WHERE v.chat_id = ?1 AND v.message_id = ?2"
        " ORDER BY coalesce(v.edit_date, 0), v.version",
    [S_TOMBSTONES] = "SELECT t.chat_id, t.message_id, t.deleted_at, t.source FROM tombstones t"
                     " LEFT JOIN messages m ON m.chat_id = t.chat_id"
                     " AND m.message_id = t.message_id"
                     " WHERE m.id IS NULL AND (?1 IS NULL OR t.chat_id = ?1) ORDER BY 1, 2",
    /*
     * Messages per bucket, tombstones too: (chat_id, date) or (date) covers
     * the filter and the count. % truncates as in C, and as in PostgreSQL.
     */
    [S_BUCKETS_CHAT] = "SELECT date - date % ?4 AS bucket, count(*) FROM messages"
                       " WHERE chat_id = ?1 AND date >= ?2 AND date < ?3"
                       " GROUP BY bucket ORDER BY bucket",
    [S_BUCKETS_ALL] = "SELECT date - date % ?3 AS bucket, count(*) FROM messages"
                      " WHERE date >= ?1 AND date < ?2 GROUP BY bucket ORDER BY bucket",
    /* The newest run of each kind, a page of kinds after ?1 (NULL: from the first). */
    [S_RUNS_LAST] = "SELECT " RUN_COLUMNS " FROM collection_runs WHERE id IN"
                    " (SELECT max(id) FROM collection_runs WHERE ?1 IS NULL OR kind > ?1"
                    " GROUP BY kind) ORDER BY kind LIMIT " RUN_PAGE_S,
    [S_DL_GET] = "SELECT " DL_COLUMNS " FROM ingestion_errors WHERE id = ?1",
    /* ?2: resolved. A retry that resolves keeps the reason it failed for. */
    [S_DL_RETRIED] = "UPDATE ingestion_errors SET retry_count = retry_count + 1,"
                     " resolved_at = CASE WHEN ?2 THEN coalesce(resolved_at, ?4)"
                     " ELSE resolved_at END,"
                     " reason = CASE WHEN ?2 OR ?3 IS NULL THEN reason ELSE ?3 END WHERE id = ?1",
    [S_DL_RESOLVE] = "UPDATE ingestion_errors SET resolved_at = coalesce(resolved_at, ?2)"
                     " WHERE id = ?1",
    [S_TOTALS] = "SELECT (SELECT count(*) FROM chats),"
                 " (SELECT count(*) FROM messages WHERE deleted_at IS NULL),"
                 " (SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL),"
                 " (SELECT count(*) FROM message_versions),"
                 " (SELECT count(*) FROM ingestion_errors),"
                 " (SELECT count(*) FROM collection_runs),"
                 " (SELECT coalesce(min(date), 0) FROM messages),"
                 " (SELECT coalesce(max(date), 0) FROM messages),"
                 " (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size())",
    /*
     * Tracked chats. The insert and the update take the same parameters
     * (see bind_tracked()); ?1 is the row id, ?17 the time of the insert.
     */
    [S_TRK_INSERT] =
        "INSERT INTO tracked_chats (spec, chat_id, account, enabled, status, error, type, title,"
        " username, linked_chat_id, is_forum, comments, topics, updated_at, last_collected_at,"
        " added_at) VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    [S_TRK_UPDATE] = "UPDATE tracked_chats SET spec = ?2, chat_id = ?3, account = ?4, enabled = ?5,"
                     " status = ?6, error = ?7, type = ?8, title = ?9, username = ?10,"
                     " linked_chat_id = ?11, is_forum = ?12, comments = ?13, topics = ?14,"
                     " updated_at = ?15, last_collected_at = ?16 WHERE id = ?1",
    /* The row of a chat takes over the spec of another row: tracked_take_spec(). */
    [S_TRK_DROP_SPEC] = "DELETE FROM tracked_chats WHERE spec = ?1 AND id <> ?2"
                        " AND chat_id IS NULL",
    [S_TRK_MOVE_SPEC] = "UPDATE tracked_chats SET spec = CAST(chat_id AS TEXT), updated_at = ?3"
                        " WHERE spec = ?1 AND id <> ?2",
    [S_TRK_BY_CHAT] = "SELECT " TRK_COLUMNS " FROM tracked_chats WHERE chat_id = ?1",
    [S_TRK_BY_SPEC] = "SELECT " TRK_COLUMNS " FROM tracked_chats WHERE spec = ?1",
    /* Uses the NOCASE index of 004_collect.sql. */
    [S_TRK_BY_NAME] = "SELECT " TRK_COLUMNS " FROM tracked_chats"
                      " WHERE username = ?1 COLLATE NOCASE ORDER BY id LIMIT 1",
    /* A chat never resolved has no username yet, only the "@name" the user typed. */
    [S_TRK_BY_AT_SPEC] = "SELECT " TRK_COLUMNS " FROM tracked_chats"
                         " WHERE spec = ('@' || ?1) COLLATE NOCASE ORDER BY id LIMIT 1",
    [S_TRK_PAGE] =
        "SELECT " TRK_COLUMNS " FROM tracked_chats WHERE id > ?1 ORDER BY id LIMIT " TRK_PAGE_S,
    [S_TRK_REMOVE] = "DELETE FROM tracked_chats WHERE id = ?1",
    [S_TRK_STATUS] = "UPDATE tracked_chats SET status = ?2, error = ?3, updated_at = ?4,"
                     " last_collected_at = coalesce(?5, last_collected_at) WHERE id = ?1",
    [S_TRK_EXISTS] = "SELECT id FROM tracked_chats WHERE id = ?1",
    /* Only these two write backfill_requested_at (005_backfill_request.sql). */
    [S_TRK_BACKFILL_ASK] = "UPDATE tracked_chats SET backfill_requested_at = ?2, updated_at = ?3"
                           " WHERE id = ?1",
    /* Only this writes media_policy (007_media_policy.sql). */
    [S_TRK_MEDIA_POLICY] =
        "UPDATE tracked_chats SET media_policy = ?2, updated_at = ?3 WHERE id = ?1",
    [S_TRK_BACKFILL_DONE] = "UPDATE tracked_chats SET backfill_requested_at = NULL, updated_at = ?3"
                            " WHERE id = ?1 AND backfill_requested_at = ?2",
    [S_CUR_GET] = "SELECT " CUR_COLUMNS " FROM cursors WHERE chat_id = ?1 AND thread_id = ?2",
    [S_CUR_PUT] = "INSERT OR REPLACE INTO cursors (" CUR_COLUMNS ")"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* One page after the key (?3, ?4), within chat ids [?1, ?2]: see cursors_each(). */
    [S_CUR_PAGE] = "SELECT " CUR_COLUMNS " FROM cursors WHERE chat_id BETWEEN ?1 AND ?2"
                   " AND (chat_id, thread_id) > (?3, ?4)"
                   " ORDER BY chat_id, thread_id LIMIT " CUR_PAGE_S,
    /* Retention: versions first, they reference their message. */
    [S_RET_VERSIONS] = "DELETE FROM message_versions WHERE (chat_id, message_id) IN"
                       " (SELECT chat_id, message_id FROM messages WHERE date < ?1)",
    [S_RET_MESSAGES] = "DELETE FROM messages WHERE date < ?1",
};

/* ---- opening ---- */

/* mkdir -p for the directories above path, mode 0700 (the archive is private). */
TGH_MUSTCHECK static tgh_err
make_parents(const char *path)
{
    char *dir = tgh_strdup(path);
    tgh_err rc = TGH_OK;

    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
            rc = tgh_errf(TGH_EIO, "TGH_STORE: cannot create directory %s: %s", dir,
                          strerror(errno));
            break;
        }
        *p = '/';
    }
    tgh_free(dir);
    return rc;
}

TGH_MUSTCHECK static tgh_err
configure(struct sq *sq, bool in_memory)
{
    tgh_err rc;

    (void)sqlite3_extended_result_codes(sq->db, 1);
    /* A reader CLI may hold the database while this writer works. */
    (void)sqlite3_busy_timeout(sq->db, BUSY_TIMEOUT_MS);
    if (!in_memory) {
        rc = exec_sql(sq, "PRAGMA journal_mode = WAL", "enable WAL");
        if (rc != TGH_OK)
            return rc;
    }
    /* WAL + NORMAL: a crash may lose the last commits but never corrupts. */
    rc = exec_sql(sq, "PRAGMA synchronous = NORMAL", "set synchronous");
    if (rc != TGH_OK)
        return rc;
    return exec_sql(sq, "PRAGMA foreign_keys = ON", "enable foreign keys");
}

static void
sqlite_close(void *impl)
{
    struct sq *sq = impl;

    if (sq == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(sq->stmt[i]);
    if (sq->db != NULL && sqlite3_close(sq->db) != SQLITE_OK)
        log_warn("closing the database failed: %s", sqlite3_errmsg(sq->db));
    tgh_free(sq->reactions_buf);
    tgh_arena_fini(&sq->scratch);
    tgh_arena_fini(&sq->found);
    tgh_free(sq);
}

TGH_MUSTCHECK static tgh_err
sqlite_open(const struct tgh_url *url, bool must_exist, void **impl)
{
    struct sq *sq = tgh_calloc(1, sizeof(*sq));
    const char *path = url->rest;
    bool in_memory = strcmp(path, ":memory:") == 0;
    tgh_err rc = TGH_OK;
    int src;

    tgh_arena_init(&sq->scratch, 16 * 1024);
    tgh_arena_init(&sq->found, 1024);
    if (*path == '\0') {
        rc = tgh_errf(TGH_EINVAL, "TGH_STORE: sqlite URL without a path "
                                  "(sqlite:///abs/path.db or sqlite://rel/path.db)");
        goto out;
    }
    if (!in_memory && !must_exist) {
        rc = make_parents(path);
        if (rc != TGH_OK)
            goto out;
    }
    src = sqlite3_open_v2(path, &sq->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                              (must_exist && !in_memory ? 0 : SQLITE_OPEN_CREATE),
                          NULL);
    if (src == SQLITE_CANTOPEN && must_exist && access(path, F_OK) != 0) {
        rc = tgh_errf(TGH_ENOTFOUND, "no archive at %s (TGH_STORE); import something first", path);
        goto out;
    }
    if (src != SQLITE_OK) {
        rc = tgh_errf(TGH_EIO, "TGH_STORE: cannot open %s: %s", path,
                      sq->db != NULL ? sqlite3_errmsg(sq->db) : sqlite3_errstr(src));
        goto out;
    }
    if (must_exist && !in_memory) {
        int64_t is_archive = 0;

        /* Before any pragma writes: a reader never touches a file that is not an archive. */
        rc = query_i64(sq, "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'",
                       &is_archive);
        if (rc != TGH_OK)
            goto out;
        if (is_archive == 0) {
            rc = tgh_errf(TGH_ENOTFOUND, "%s is not a tgharvest archive (TGH_STORE)", path);
            goto out;
        }
    }
    rc = configure(sq, in_memory);
    if (rc != TGH_OK)
        goto out;
    rc = sqlite_migrate(sq);
    if (rc != TGH_OK)
        goto out;
    for (int i = 0; i < S_COUNT; i++) {
        src = sqlite3_prepare_v3(sq->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &sq->stmt[i],
                                 NULL);
        if (src != SQLITE_OK) {
            rc = sq_fail(sq, src, "prepare");
            goto out;
        }
    }
out:
    if (rc != TGH_OK) {
        sqlite_close(sq);
        return rc;
    }
    *impl = sq;
    return TGH_OK;
}

const struct store_backend store_sqlite_backend = {
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .commit = sqlite_commit,
    .chat_upsert = sqlite_chat_upsert,
    .tombstones_each = sqlite_tombstones_each,
    .message_buckets = sqlite_message_buckets,
    .runs_each = sqlite_runs_each,
    .runs_last_each = sqlite_runs_last_each,
    .dead_letters_each = sqlite_dead_letters_each,
    .dead_letter_get = sqlite_dead_letter_get,
    .dead_letter_retried = sqlite_dead_letter_retried,
    .dead_letter_resolve = sqlite_dead_letter_resolve,
    .dead_letter_add = sqlite_dead_letter_add,
    .run_begin = sqlite_run_begin,
    .run_finish = sqlite_run_finish,
    .chats_each = sqlite_chats_each,
    .messages_each = sqlite_messages_each,
    .versions_each = sqlite_versions_each,
    .totals_get = sqlite_totals_get,
    .tracked_put = sqlite_tracked_put,
    .tracked_each = sqlite_tracked_each,
    .tracked_find = sqlite_tracked_find,
    .tracked_remove = sqlite_tracked_remove,
    .tracked_set_status = sqlite_tracked_set_status,
    .tracked_request_backfill = sqlite_tracked_request_backfill,
    .tracked_set_media_policy = sqlite_tracked_set_media_policy,
    .tracked_backfill_done = sqlite_tracked_backfill_done,
    .cursor_get = sqlite_cursor_get,
    .cursor_put = sqlite_cursor_put,
    .cursors_each = sqlite_cursors_each,
    .retention_apply = sqlite_retention_apply,
    .media_job_add = sqlite_media_job_add,
    .media_jobs_claim = sqlite_media_jobs_claim,
    .media_job_progress = sqlite_media_job_progress,
    .media_job_set_upload = sqlite_media_job_set_upload,
    .media_job_end = sqlite_media_job_end,
    .media_jobs_each = sqlite_media_jobs_each,
    .media_job_retry = sqlite_media_job_retry,
    .media_counts_each = sqlite_media_counts_each,
    .dedup_find = sqlite_dedup_find,
    .dedup_put = sqlite_dedup_put,
    .dedup_each = sqlite_dedup_each,
    .media_scan_get = sqlite_media_scan_get,
    .media_scan_put = sqlite_media_scan_put,
    .bot_state_get = sqlite_bot_state_get,
    .bot_state_put = sqlite_bot_state_put,
    .bot_item_put = sqlite_bot_item_put,
    .bot_item_get = sqlite_bot_item_get,
    .id_bounds = sqlite_id_bounds,
    .missing_runs = sqlite_missing_runs,
    .gaps_put = sqlite_gaps_put,
    .gaps_each = sqlite_gaps_each,
    .first_seen_count = sqlite_first_seen_count,
    .chat_quality = sqlite_chat_quality,
    .warnings_each = sqlite_warnings_each,
};
