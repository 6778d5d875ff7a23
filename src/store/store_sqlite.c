/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the embedded store: one SQLite file in WAL mode, one writer
 * connection per struct store, every statement prepared once at open.
 *
 * A batch is one BEGIN IMMEDIATE transaction; on any error it is rolled back
 * and the caller's stats are left alone. Message rows are only tombstoned
 * (retention aside), and re-applying any batch leaves the rows as they were. The
 * rules are spelled out in docs/internals/store.md.
 */
#define TGH_LOG_SUB "store"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/embed.h"
#include "core/log.h"
#include "core/msg.h"
#include "store/store_int.h"

/* Generated from src/store/migrations/sqlite/NNN_name.sql, in file-name order. */
extern const struct tgh_embedded store_sqlite_migrations[];

#define BUSY_TIMEOUT_MS 5000

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
    " backfill_requested_at"
#define CUR_COLUMNS \
    "chat_id, thread_id, newest_id, oldest_id, complete, gap_hi, gap_from, updated_at"

#define RUN_COLUMNS                                                                        \
    "id, chat_id, kind, origin, started_at, finished_at, status, messages_seen, inserted," \
    " versioned, unchanged, refreshed, deleted, errors, error"

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
                     " refreshed = ?8, deleted = ?9, errors = ?10, error = ?11 WHERE id = ?1",
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

struct sq {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    char *reactions_buf; /* reusable buffer for the reactions JSON of one event */
    size_t reactions_cap;
    struct tgh_arena scratch; /* the merged event of a refresh */
    struct tgh_arena found;   /* strings of the last store_tracked_find() or dead letter read */
};

/* What one batch remembers between its events. */
struct batch {
    int64_t now;
    const struct msg_event *last_chat; /* the last event whose chat was upserted */
    struct store_stats add;
};

/*
 * Map a SQLite result code to ours and record the detail. BUSY/LOCKED are
 * transient: another process held the write lock longer than busy_timeout.
 */
TGH_MUSTCHECK static tgh_err
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

static void
bind_i64(sqlite3_stmt *s, int idx, int64_t v)
{
    if (v == MSG_UNSET)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_int64(s, idx, v);
}

/* Strings outlive the statement's execution (it is reset before they go). */
static void
bind_str(sqlite3_stmt *s, int idx, const char *v)
{
    if (v == NULL)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC);
}

static void
bind_strn(sqlite3_stmt *s, int idx, const char *v, size_t len)
{
    if (v == NULL)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_text64(s, idx, v, len, SQLITE_STATIC, SQLITE_UTF8);
}

static int64_t
col_i64(sqlite3_stmt *s, int idx)
{
    return sqlite3_column_type(s, idx) == SQLITE_NULL ? MSG_UNSET : sqlite3_column_int64(s, idx);
}

/* Run a statement that returns no rows, then reset it. */
TGH_MUSTCHECK static tgh_err
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
TGH_MUSTCHECK static tgh_err
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

/* ---- opening and migrations ---- */

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

TGH_MUSTCHECK static tgh_err
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

/* Apply one migration and record it, in one transaction. */
TGH_MUSTCHECK static tgh_err
migrate_one(struct sq *sq, const struct tgh_embedded *m, int64_t version)
{
    sqlite3_stmt *s = NULL;
    int64_t done = 0;
    tgh_err rc;
    int src;

    rc = exec_sql(sq, "BEGIN IMMEDIATE", "begin migration");
    if (rc != TGH_OK)
        return rc;
    /* Another process may have applied it while we waited for the lock. */
    src = sqlite3_prepare_v2(sq->db, "SELECT count(*) FROM schema_migrations WHERE version = ?1",
                             -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = sq_fail(sq, src, "prepare");
        goto out;
    }
    (void)sqlite3_bind_int64(s, 1, version);
    if ((src = sqlite3_step(s)) != SQLITE_ROW) {
        rc = sq_fail(sq, src, "read schema_migrations");
        goto out;
    }
    done = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    if (done > 0)
        goto out;

    rc = exec_sql(sq, m->data, m->name);
    if (rc != TGH_OK)
        goto out;
    src = sqlite3_prepare_v2(sq->db,
                             "INSERT INTO schema_migrations (version, name, applied_at)"
                             " VALUES (?1, ?2, ?3)",
                             -1, &s, NULL);
    if (src != SQLITE_OK) {
        rc = sq_fail(sq, src, "prepare");
        goto out;
    }
    (void)sqlite3_bind_int64(s, 1, version);
    (void)sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    if ((src = sqlite3_step(s)) != SQLITE_DONE) {
        rc = sq_fail(sq, src, "record migration");
        goto out;
    }
    rc = exec_sql(sq, "COMMIT", "commit migration");
    if (rc == TGH_OK)
        log_info("applied migration %s", m->name);
out:
    sqlite3_finalize(s);
    /* Not through exec_sql(): the first error's detail is the one to report. */
    if (!sqlite3_get_autocommit(sq->db))
        (void)sqlite3_exec(sq->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

TGH_MUSTCHECK static tgh_err
migrate(struct sq *sq)
{
    int64_t current = 0, known = 0;
    tgh_err rc;

    rc = exec_sql(sq,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " applied_at INTEGER NOT NULL)",
                  "create schema_migrations");
    if (rc != TGH_OK)
        return rc;
    rc = query_i64(sq, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current);
    if (rc != TGH_OK)
        return rc;
    for (const struct tgh_embedded *m = store_sqlite_migrations; m->name != NULL; m++) {
        int64_t v = store_migration_version(m->name);

        /* A build invariant (cmake/embed.cmake sorts by name), checked anyway. */
        if (v <= known)
            return tgh_errf(TGH_EINVAL,
                            "store migration %s: name must start with a version "
                            "above %" PRId64 " (NNN_name.sql)",
                            m->name, known);
        known = v;
    }
    if (current > known)
        return tgh_errf(TGH_EINVAL,
                        "TGH_STORE: database schema version %" PRId64 " is newer than this "
                        "tgharvest knows (%" PRId64 "); use a newer tgharvest",
                        current, known);
    for (const struct tgh_embedded *m = store_sqlite_migrations; m->name != NULL; m++) {
        int64_t v = store_migration_version(m->name);

        if (v <= current)
            continue;
        rc = migrate_one(sq, m, v);
        if (rc != TGH_OK)
            return rc;
    }
    return TGH_OK;
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
    rc = migrate(sq);
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

/* ---- writing ---- */

static bool
same_or_unknown(const char *known, const char *ev)
{
    return ev == NULL || (known != NULL && strcmp(known, ev) == 0);
}

/*
 * Create or refresh the event's chat. Consecutive events of one chat usually
 * carry the same title, so the statement runs only when something may differ.
 */
TGH_MUSTCHECK static tgh_err
chat_touch(struct sq *sq, struct batch *b, const struct msg_event *ev)
{
    sqlite3_stmt *s = sq->stmt[S_CHAT_UPSERT];
    const struct msg_event *last = b->last_chat;
    tgh_err rc;

    if (last != NULL && last->chat_id == ev->chat_id &&
        (ev->chat_type == MSG_CHAT_UNKNOWN || ev->chat_type == last->chat_type) &&
        same_or_unknown(last->chat_title, ev->chat_title) &&
        same_or_unknown(last->chat_username, ev->chat_username))
        return TGH_OK;
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    bind_str(s, 2, ev->chat_type == MSG_CHAT_UNKNOWN ? NULL : msg_chat_type_name(ev->chat_type));
    bind_str(s, 3, ev->chat_title);
    bind_str(s, 4, ev->chat_username);
    (void)sqlite3_bind_int64(s, 5, b->now);
    rc = run(sq, S_CHAT_UPSERT, "upsert chat");
    if (rc == TGH_OK)
        b->last_chat = ev;
    return rc;
}

/* The stored row of a message, as far as the upsert rules need it. */
struct cur_row {
    int64_t id;
    char hash[MSG_HASH_HEX_LEN + 1];
    int64_t edit_date;
    char *event; /* the stored canonical event, tgh_free()d by the caller */
    size_t event_len;
};

TGH_MUSTCHECK static tgh_err
row_get(struct sq *sq, const struct msg_event *ev, struct cur_row *row, bool *found)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_GET];
    const unsigned char *h;
    tgh_err rc;

    row->event = NULL;
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    rc = step_one(sq, S_MSG_GET, "read message", found);
    if (rc != TGH_OK || !*found)
        goto out;
    row->id = sqlite3_column_int64(s, 0);
    h = sqlite3_column_text(s, 1);
    (void)snprintf(row->hash, sizeof(row->hash), "%s", h != NULL ? (const char *)h : "");
    row->edit_date = col_i64(s, 2);
    row->event_len = (size_t)sqlite3_column_bytes(s, 3);
    row->event = tgh_strndup((const char *)sqlite3_column_text(s, 3), row->event_len);
out:
    (void)sqlite3_reset(s);
    return rc;
}

/*
 * The event the row should hold: what the stored event and the new one know,
 * merged (codec_event_merge), encoded into *json. A stored event that no
 * longer decodes (written under older rules) cannot block new data: the new
 * event is then taken as it is.
 */
TGH_MUSTCHECK static tgh_err
merged_event(struct sq *sq, const struct cur_row *row, const struct msg_event *ev,
             struct msg_event *m, char **json, size_t *json_len)
{
    tgh_arena_reset(&sq->scratch);
    if (codec_event_merge(row->event, row->event_len, ev, &sq->scratch, m) != TGH_OK) {
        log_warn("chat=%" PRId64 " msg=%" PRId64 " stored event unreadable, replaced: %s",
                 ev->chat_id, ev->message_id, tgh_errmsg());
        *m = *ev;
        m->raw = json_incref(ev->raw);
        m->action_params = json_incref(ev->action_params);
        m->buttons = json_incref(ev->buttons);
    }
    return codec_event_encode(m, json, json_len);
}

/*
 * Bind an event's columns in the order both the insert and the rewrite list
 * them: date, edit_date, sender_id, sender_type, sender_name, text, thread_id,
 * reply_to_message_id, media_kind, views, forwards, replies, reactions,
 * source, content_hash, idempotency_key, event; the first is parameter first.
 */
static void
bind_event_columns(struct sq *sq, sqlite3_stmt *s, int first, const struct msg_event *m,
                   const char *key, const char *json, size_t json_len)
{
    const char *reac = NULL;
    size_t reac_len = 0;
    int i = first;

    if (m->has_reactions)
        reac = store_reactions_json(m, &sq->reactions_buf, &sq->reactions_cap, &reac_len);
    bind_i64(s, i++, m->date);
    bind_i64(s, i++, m->edit_date);
    bind_i64(s, i++, m->sender_id);
    bind_str(s, i++, msg_peer_type_name(m->sender_type));
    bind_str(s, i++, m->sender_name);
    bind_str(s, i++, m->text);
    bind_i64(s, i++, m->thread_id);
    bind_i64(s, i++, m->reply_to_message_id);
    bind_str(s, i++, m->media != NULL ? m->media->kind : NULL);
    bind_i64(s, i++, m->views);
    bind_i64(s, i++, m->forwards);
    bind_i64(s, i++, m->replies);
    bind_strn(s, i++, reac, reac_len);
    bind_str(s, i++, msg_source_name(m->source));
    (void)sqlite3_bind_text(s, i++, m->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
    bind_str(s, i++, key);
    bind_strn(s, i, json, json_len);
}

/* Write event m (encoded as json) over row id; version_inc 1 for a new version. */
TGH_MUSTCHECK static tgh_err
rewrite_row(struct sq *sq, struct batch *b, int64_t id, const struct msg_event *m, const char *json,
            size_t json_len, int version_inc)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_REWRITE];
    char key[48];

    if (msg_event_key(m, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    (void)sqlite3_bind_int64(s, 1, id);
    bind_event_columns(sq, s, 2, m, key, json, json_len);
    (void)sqlite3_bind_int64(s, 19, b->now);
    (void)sqlite3_bind_int(s, 20, version_inc);
    return run(sq, S_MSG_REWRITE, "update message");
}

/*
 * Same content, different state (counters, reactions, poll votes, names,
 * dates): merge what the stored and the new event know and, unless that is
 * what is stored already, write it without a version.
 */
TGH_MUSTCHECK static tgh_err
refresh_state(struct sq *sq, struct batch *b, const struct msg_event *ev, const struct cur_row *row,
              bool *refreshed)
{
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    *refreshed = false;
    msg_event_init(&m);
    rc = merged_event(sq, row, ev, &m, &json, &json_len);
    if (rc != TGH_OK)
        goto out;
    if (codec_event_same_state(row->event, row->event_len, json, json_len))
        goto out; /* the new event knew nothing the row does not */
    rc = rewrite_row(sq, b, row->id, &m, json, json_len, 0);
    *refreshed = rc == TGH_OK;
out:
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/* Is this exact version (content and edit date) already among the previous ones? */
TGH_MUSTCHECK static tgh_err
version_known(struct sq *sq, const struct msg_event *ev, bool *known)
{
    sqlite3_stmt *s = sq->stmt[S_VER_KNOWN];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    (void)sqlite3_bind_text(s, 3, ev->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
    bind_i64(s, 4, ev->edit_date);
    rc = step_one(sq, S_VER_KNOWN, "read versions", known);
    (void)sqlite3_reset(s);
    return rc;
}

/*
 * An older version arrived after a newer one: it becomes history, and the
 * current row only learns state it did not know from it (a reaction count
 * the newer event lacked), so the row ends the same in either arrival order.
 */
TGH_MUSTCHECK static tgh_err
save_old_version(struct sq *sq, struct batch *b, const struct msg_event *ev,
                 const struct cur_row *row, const char *json, size_t json_len)
{
    sqlite3_stmt *s = sq->stmt[S_VER_SAVE_EVENT];
    struct msg_event cur, m;
    char *mjson = NULL;
    size_t mlen = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, row->id);
    (void)sqlite3_bind_text(s, 2, ev->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
    bind_i64(s, 3, ev->edit_date);
    bind_str(s, 4, ev->text);
    bind_strn(s, 5, json, json_len);
    (void)sqlite3_bind_int64(s, 6, b->now);
    rc = run(sq, S_VER_SAVE_EVENT, "save old version");
    if (rc != TGH_OK)
        return rc;
    s = sq->stmt[S_MSG_OLD_VERSION];
    (void)sqlite3_bind_int64(s, 1, row->id);
    (void)sqlite3_bind_int64(s, 2, b->now);
    rc = run(sq, S_MSG_OLD_VERSION, "count old version");
    if (rc != TGH_OK)
        return rc;

    /* The row is the newer side of the merge: its values win, its gaps are filled. */
    tgh_arena_reset(&sq->scratch);
    msg_event_init(&m);
    if (codec_event_decode(row->event, row->event_len, &sq->scratch, &cur) != TGH_OK)
        return TGH_OK; /* an unreadable row is replaced by the next current event */
    rc = codec_event_merge(json, json_len, &cur, &sq->scratch, &m);
    msg_event_fini(&cur);
    if (rc == TGH_OK)
        rc = codec_event_encode(&m, &mjson, &mlen);
    if (rc == TGH_OK && !codec_event_same_state(row->event, row->event_len, mjson, mlen))
        rc = rewrite_row(sq, b, row->id, &m, mjson, mlen, 0);
    tgh_free(mjson);
    msg_event_fini(&m);
    return rc;
}

/*
 * The content changed: the current row becomes a version, and the row takes
 * the new content with the state both events know (the merge takes no
 * content from the stored event when the content differs).
 */
TGH_MUSTCHECK static tgh_err
new_version(struct sq *sq, struct batch *b, const struct msg_event *ev, const struct cur_row *row)
{
    sqlite3_stmt *s = sq->stmt[S_VER_SAVE_ROW];
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, row->id);
    (void)sqlite3_bind_int64(s, 2, b->now);
    rc = run(sq, S_VER_SAVE_ROW, "save version");
    if (rc != TGH_OK)
        return rc;
    msg_event_init(&m);
    rc = merged_event(sq, row, ev, &m, &json, &json_len);
    if (rc == TGH_OK)
        rc = rewrite_row(sq, b, row->id, &m, json, json_len, 1);
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/* The message exists: decide between unchanged, refreshed and versioned. */
TGH_MUSTCHECK static tgh_err
upsert_existing(struct sq *sq, struct batch *b, const struct msg_event *ev, const char *json,
                size_t json_len)
{
    struct cur_row row;
    bool found, known, refreshed, same_hash, is_older;
    tgh_err rc;

    rc = row_get(sq, ev, &row, &found);
    if (rc != TGH_OK)
        return rc;
    if (!found) /* the INSERT conflicted, so the row is there */
        return tgh_errf(TGH_EIO, "sqlite: message vanished inside the transaction");
    same_hash = strcmp(row.hash, ev->content_hash) == 0;

    /* An edit the row already has a later one of (same text or not) is history. */
    is_older = row.edit_date != MSG_UNSET &&
               (ev->edit_date == MSG_UNSET ? !same_hash : ev->edit_date < row.edit_date);
    if (same_hash && !is_older) {
        /* The common redelivery: byte for byte what is stored, but for observed_at. */
        if (codec_event_same_state(row.event, row.event_len, json, json_len)) {
            b->add.unchanged++;
            goto out;
        }
        rc = refresh_state(sq, b, ev, &row, &refreshed);
        if (rc == TGH_OK && refreshed)
            b->add.refreshed++;
        else if (rc == TGH_OK)
            b->add.unchanged++;
        goto out;
    }

    /* A redelivered previous version changes nothing: re-applying stays a no-op. */
    rc = version_known(sq, ev, &known);
    if (rc != TGH_OK)
        goto out;
    if (known) {
        b->add.unchanged++;
        goto out;
    }
    if (is_older)
        rc = save_old_version(sq, b, ev, &row, json, json_len);
    else
        rc = new_version(sq, b, ev, &row);
    if (rc == TGH_OK)
        b->add.versioned++;
out:
    tgh_free(row.event);
    return rc;
}

TGH_MUSTCHECK static tgh_err
apply_upsert(struct sq *sq, struct batch *b, const struct msg_event *ev)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_INSERT];
    size_t json_len = 0, ej_len;
    char *json = NULL;
    const char *ej;
    char key[48];
    tgh_err rc;

    if (strlen(ev->content_hash) != MSG_HASH_HEX_LEN)
        return tgh_errf(TGH_EINVAL, "event was not finalized (no content_hash)");
    if (msg_event_key(ev, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    rc = chat_touch(sq, b, ev);
    if (rc != TGH_OK)
        return rc;
    if (ev->encoded == NULL) {
        rc = codec_event_encode(ev, &json, &json_len);
        if (rc != TGH_OK)
            goto out;
        ej = json;
        ej_len = json_len;
    } else {
        ej = ev->encoded;
        ej_len = ev->encoded_len;
    }
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    bind_event_columns(sq, s, 3, ev, key, ej, ej_len);
    (void)sqlite3_bind_int64(s, 20, ev->observed_at != MSG_UNSET ? ev->observed_at : b->now);
    (void)sqlite3_bind_int64(s, 21, b->now);
    rc = run(sq, S_MSG_INSERT, "insert message");
    if (rc != TGH_OK)
        goto out;
    if (sqlite3_changes(sq->db) == 1)
        b->add.inserted++;
    else
        rc = upsert_existing(sq, b, ev, ej, ej_len);
out:
    tgh_free(json);
    return rc;
}

/* A delete only ever sets deleted_at; an unknown message stores nothing. */
TGH_MUSTCHECK static tgh_err
apply_delete(struct sq *sq, struct batch *b, const struct msg_event *ev)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_DELETE];
    struct cur_row row;
    bool found;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    (void)sqlite3_bind_int64(s, 3, ev->observed_at != MSG_UNSET ? ev->observed_at : b->now);
    (void)sqlite3_bind_int64(s, 4, b->now);
    rc = run(sq, S_MSG_DELETE, "tombstone message");
    if (rc != TGH_OK)
        return rc;
    if (sqlite3_changes(sq->db) == 1) {
        b->add.deleted++;
        return TGH_OK;
    }
    rc = row_get(sq, ev, &row, &found);
    tgh_free(row.event);
    if (rc != TGH_OK)
        return rc;
    if (found) {
        b->add.unchanged++;
        return TGH_OK;
    }
    /* Not here (yet): remember the deletion for when the message arrives. */
    s = sq->stmt[S_TOMB_ADD];
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    (void)sqlite3_bind_int64(s, 3, ev->observed_at != MSG_UNSET ? ev->observed_at : b->now);
    bind_str(s, 4, msg_source_name(ev->source));
    rc = run(sq, S_TOMB_ADD, "record tombstone");
    if (rc != TGH_OK)
        return rc;
    if (sqlite3_changes(sq->db) == 1)
        b->add.delete_unknown++;
    else
        b->add.unchanged++;
    return TGH_OK;
}

/* Undo the open batch; quietly, so the first error's detail stays recorded. */
static void
rollback(struct sq *sq)
{
    sqlite3_stmt *s = sq->stmt[S_ROLLBACK];

    if (sqlite3_get_autocommit(sq->db))
        return;
    (void)sqlite3_step(s);
    (void)sqlite3_reset(s);
}

TGH_MUSTCHECK static tgh_err
sqlite_commit(void *impl, const struct msg_event *ev, size_t n, struct store_stats *stats,
              enum store_change *changes)
{
    struct sq *sq = impl;
    struct batch b = { .now = (int64_t)time(NULL) };
    tgh_err rc;
    size_t i = 0;

    rc = run(sq, S_BEGIN, "begin");
    if (rc != TGH_OK)
        return rc;
    for (i = 0; i < n; i++) {
        struct store_stats before = b.add;

        rc =
            ev[i].op == MSG_OP_DELETE ? apply_delete(sq, &b, &ev[i]) : apply_upsert(sq, &b, &ev[i]);
        if (changes != NULL)
            changes[i] = store_change_between(&before, &b.add);
        if (rc != TGH_OK) {
            char detail[512];

            /* tgh_errf() writes the buffer it would read: copy it first. */
            (void)snprintf(detail, sizeof(detail), "%s", tgh_errmsg());
            rc = tgh_errf(rc, "event %zu of %zu (chat %" PRId64 ", message %" PRId64 "): %s", i, n,
                          ev[i].chat_id, ev[i].message_id, detail);
            goto out;
        }
    }
    rc = run(sq, S_COMMIT, "commit");
out:
    if (rc != TGH_OK) {
        rollback(sq);
        return rc;
    }
    store_stats_add(stats, &b.add);
    return TGH_OK;
}

TGH_MUSTCHECK static tgh_err
sqlite_chat_upsert(void *impl, int64_t chat_id, enum msg_chat_type type, const char *title,
                   const char *username)
{
    struct sq *sq = impl;
    struct msg_event ev;
    struct batch b;

    /* The same statement as inside a batch, in autocommit mode. */
    memset(&b, 0, sizeof(b));
    b.now = (int64_t)time(NULL);
    msg_event_init(&ev);
    ev.chat_id = chat_id;
    ev.chat_type = type;
    ev.chat_title = title;
    ev.chat_username = username;
    return chat_touch(sq, &b, &ev);
}

TGH_MUSTCHECK static tgh_err
sqlite_dead_letter_add(void *impl, const struct store_dead_letter *dl)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_DEAD_ADD];

    bind_str(s, 1, dl->source != NULL ? dl->source : "unknown");
    bind_str(s, 2, dl->origin);
    bind_str(s, 3, dl->position);
    bind_str(s, 4, dl->reason != NULL ? dl->reason : "");
    bind_strn(s, 5, dl->payload, dl->payload_len);
    (void)sqlite3_bind_int64(s, 6, (int64_t)time(NULL));
    return run(sq, S_DEAD_ADD, "add dead letter");
}

TGH_MUSTCHECK static tgh_err
sqlite_run_begin(void *impl, int64_t chat_id, const char *kind, const char *origin, int64_t *run_id)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_RUN_BEGIN];
    tgh_err rc;

    bind_i64(s, 1, chat_id);
    bind_str(s, 2, kind != NULL ? kind : "unknown");
    bind_str(s, 3, origin);
    (void)sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    rc = run(sq, S_RUN_BEGIN, "begin run");
    if (rc == TGH_OK)
        *run_id = sqlite3_last_insert_rowid(sq->db);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_run_finish(void *impl, int64_t run_id, const struct store_run_result *res)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_RUN_FINISH];
    const struct store_stats *st = &res->stats;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, run_id);
    (void)sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    bind_str(s, 3, res->status != NULL ? res->status : "ok");
    (void)sqlite3_bind_int64(s, 4, res->messages_seen);
    (void)sqlite3_bind_int64(s, 5, (int64_t)st->inserted);
    (void)sqlite3_bind_int64(s, 6, (int64_t)st->versioned);
    (void)sqlite3_bind_int64(s, 7, (int64_t)st->unchanged);
    (void)sqlite3_bind_int64(s, 8, (int64_t)st->refreshed);
    (void)sqlite3_bind_int64(s, 9, (int64_t)(st->deleted + st->delete_unknown));
    (void)sqlite3_bind_int64(s, 10, (int64_t)res->errors);
    bind_str(s, 11, res->error);
    rc = run(sq, S_RUN_FINISH, "finish run");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "collection run %" PRId64 " does not exist", run_id);
    return rc;
}

/* ---- reading ---- */

static const char *
col_str(sqlite3_stmt *s, int idx)
{
    return (const char *)sqlite3_column_text(s, idx);
}

TGH_MUSTCHECK static tgh_err
sqlite_chats_each(void *impl, store_chat_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CHATS];
    tgh_err rc = TGH_OK;
    int src;

    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_chat_row row = {
            .chat_id = sqlite3_column_int64(s, 0),
            .type = col_str(s, 1),
            .title = col_str(s, 2),
            .username = col_str(s, 3),
            .message_count = sqlite3_column_int64(s, 4),
            .deleted_count = sqlite3_column_int64(s, 5),
            .first_date = sqlite3_column_int64(s, 6),
            .last_date = sqlite3_column_int64(s, 7),
            .last_message_id = sqlite3_column_int64(s, 8),
        };

        if (fn(arg, &row) != 0)
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "list chats");
    (void)sqlite3_reset(s);
    return rc;
}

/* Message queries share one column list; see message_row(). */
#define MSG_COLUMNS                                                                         \
    "m.chat_id, m.message_id, m.date, m.edit_date, m.deleted_at, m.version_count, c.title," \
    " m.sender_name, m.text"

/* NULL integers read as 0, which is what store_message_row promises. */
static void
message_row(sqlite3_stmt *s, struct store_message_row *row)
{
    row->chat_id = sqlite3_column_int64(s, 0);
    row->message_id = sqlite3_column_int64(s, 1);
    row->date = sqlite3_column_int64(s, 2);
    row->edit_date = sqlite3_column_int64(s, 3);
    row->deleted_at = sqlite3_column_int64(s, 4);
    row->versions = sqlite3_column_int64(s, 5);
    row->chat_title = col_str(s, 6);
    row->sender_name = col_str(s, 7);
    row->text = col_str(s, 8);
    row->snippet = col_str(s, 9);
    row->event = col_str(s, 10);
}

/* Step a message query to the end, handing each row to fn. */
TGH_MUSTCHECK static tgh_err
each_message(struct sq *sq, sqlite3_stmt *s, const char *match, store_message_fn fn, void *arg)
{
    int src;

    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_message_row row;

        message_row(s, &row);
        if (fn(arg, &row) != 0)
            return TGH_OK;
    }
    if (src == SQLITE_DONE)
        return TGH_OK;
    /* FTS5 reports a malformed query (syntax, unknown column) as SQLITE_ERROR. */
    if (match != NULL && (src & 0xff) == SQLITE_ERROR)
        return tgh_errf(TGH_EINVAL, "invalid search query '%.200s': %s", match,
                        sqlite3_errmsg(sq->db));
    return sq_fail(sq, src, "list messages");
}

/* Append a constant SQL fragment; the query text never contains values. */
static void
sql_add(char *buf, size_t cap, size_t *len, const char *frag)
{
    size_t n = strlen(frag);

    if (*len + n + 1 > cap) /* the fragments below always fit: a programming error */
        abort();
    memcpy(buf + *len, frag, n + 1);
    *len += n;
}

static void
bind_named_i64(sqlite3_stmt *s, const char *name, int64_t v)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx > 0)
        (void)sqlite3_bind_int64(s, idx, v);
}

TGH_MUSTCHECK static tgh_err
sqlite_messages_each(void *impl, const struct store_query *q, store_message_fn fn, void *arg)
{
    struct sq *sq = impl;
    const char *dir = q->newest_first ? " DESC" : "";
    sqlite3_stmt *s = NULL;
    char sql[1024];
    size_t len = 0;
    tgh_err rc;
    int src;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len, "SELECT " MSG_COLUMNS ", ");
    if (q->match != NULL) {
        sql_add(sql, sizeof(sql), &len,
                "snippet(messages_fts, 0, '[', ']', '...', 16), m.event"
                " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
                " JOIN chats c ON c.chat_id = m.chat_id WHERE messages_fts MATCH :match");
    } else {
        sql_add(sql, sizeof(sql), &len,
                "NULL, m.event FROM messages m JOIN chats c ON c.chat_id = m.chat_id WHERE 1");
    }
    if (q->chat_id != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND m.chat_id = :chat");
    if (q->since != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND m.date >= :since");
    if (q->until != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND m.date < :until");
    /* store.c allows an id window only with a chat: UNIQUE (chat_id, message_id) serves it. */
    if (q->after_id != 0)
        sql_add(sql, sizeof(sql), &len, " AND m.message_id > :after_id");
    if (q->before_id != 0)
        sql_add(sql, sizeof(sql), &len, " AND m.message_id < :before_id");
    sql_add(sql, sizeof(sql), &len, " ORDER BY ");
    if (q->match != NULL)
        sql_add(sql, sizeof(sql), &len, "messages_fts.rank, ");
    if (!q->by_id) {
        sql_add(sql, sizeof(sql), &len, "m.date");
        sql_add(sql, sizeof(sql), &len, dir);
        sql_add(sql, sizeof(sql), &len, ", m.chat_id");
        sql_add(sql, sizeof(sql), &len, dir);
        sql_add(sql, sizeof(sql), &len, ", m.message_id");
    } else {
        /* With a chat, chat_id is constant and the planner drops it from the order. */
        sql_add(sql, sizeof(sql), &len, "m.message_id");
        sql_add(sql, sizeof(sql), &len, dir);
        sql_add(sql, sizeof(sql), &len, ", m.chat_id");
    }
    sql_add(sql, sizeof(sql), &len, dir);
    sql_add(sql, sizeof(sql), &len, " LIMIT :limit");

    src = sqlite3_prepare_v2(sq->db, sql, (int)len, &s, NULL);
    if (src != SQLITE_OK) {
        rc = sq_fail(sq, src, "prepare message query");
        goto out;
    }
    if (q->match != NULL)
        (void)sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":match"), q->match, -1,
                                SQLITE_STATIC);
    bind_named_i64(s, ":chat", q->chat_id);
    bind_named_i64(s, ":since", q->since);
    bind_named_i64(s, ":until", q->until);
    bind_named_i64(s, ":after_id", q->after_id);
    bind_named_i64(s, ":before_id", q->before_id);
    bind_named_i64(s, ":limit", q->limit > 0 ? q->limit : -1);
    rc = each_message(sq, s, q->match, fn, arg);
out:
    sqlite3_finalize(s);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_versions_each(void *impl, int64_t chat_id, int64_t message_id, store_message_fn fn,
                     void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_VERSIONS];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, chat_id);
    (void)sqlite3_bind_int64(s, 2, message_id);
    rc = each_message(sq, s, NULL, fn, arg);
    (void)sqlite3_reset(s);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_totals_get(void *impl, struct store_totals *out)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TOTALS];
    bool found;
    tgh_err rc;

    rc = step_one(sq, S_TOTALS, "read totals", &found);
    if (rc != TGH_OK)
        return rc;
    if (found) {
        out->chats = sqlite3_column_int64(s, 0);
        out->messages = sqlite3_column_int64(s, 1);
        out->deleted = sqlite3_column_int64(s, 2);
        out->versions = sqlite3_column_int64(s, 3);
        out->dead_letters = sqlite3_column_int64(s, 4);
        out->runs = sqlite3_column_int64(s, 5);
        out->first_date = sqlite3_column_int64(s, 6);
        out->last_date = sqlite3_column_int64(s, 7);
        out->size_bytes = sqlite3_column_int64(s, 8);
    }
    (void)sqlite3_reset(s);
    return TGH_OK;
}

TGH_MUSTCHECK static tgh_err
sqlite_tombstones_each(void *impl, int64_t chat_id, store_message_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TOMBSTONES];
    tgh_err rc = TGH_OK;
    int src;

    bind_i64(s, 1, chat_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_message_row row = { 0 };

        row.chat_id = sqlite3_column_int64(s, 0);
        row.message_id = sqlite3_column_int64(s, 1);
        row.deleted_at = sqlite3_column_int64(s, 2);
        row.source = col_str(s, 3);
        if (fn(arg, &row) != 0)
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "read tombstones");
    (void)sqlite3_reset(s);
    return rc;
}

/* Buckets are two integers: the statement may stay open across fn. */
TGH_MUSTCHECK static tgh_err
sqlite_message_buckets(void *impl, int64_t chat_id, int64_t since, int64_t until, int64_t bucket_s,
                       store_bucket_fn fn, void *arg)
{
    struct sq *sq = impl;
    enum stmt_id id = chat_id != MSG_UNSET ? S_BUCKETS_CHAT : S_BUCKETS_ALL;
    sqlite3_stmt *s = sq->stmt[id];
    int idx = 1, src;
    tgh_err rc = TGH_OK;

    if (id == S_BUCKETS_CHAT)
        (void)sqlite3_bind_int64(s, idx++, chat_id);
    (void)sqlite3_bind_int64(s, idx++, since);
    (void)sqlite3_bind_int64(s, idx++, until);
    (void)sqlite3_bind_int64(s, idx, bucket_s);
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(arg, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)) != 0)
            break;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "count messages per bucket");
    (void)sqlite3_reset(s);
    return rc;
}

/* ---- runs and dead letters ---- */

static void
bind_named_str(sqlite3_stmt *s, const char *name, const char *v)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx > 0)
        bind_str(s, idx, v);
}

/* A row of RUN_COLUMNS (NULL integers read as 0); strings are the statement's. */
static void
run_row(sqlite3_stmt *s, struct store_run_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->chat_id = sqlite3_column_int64(s, 1);
    r->kind = col_str(s, 2);
    r->origin = col_str(s, 3);
    r->started_at = sqlite3_column_int64(s, 4);
    r->finished_at = sqlite3_column_int64(s, 5);
    r->status = col_str(s, 6);
    r->messages_seen = sqlite3_column_int64(s, 7);
    r->stats.inserted = (size_t)sqlite3_column_int64(s, 8);
    r->stats.versioned = (size_t)sqlite3_column_int64(s, 9);
    r->stats.unchanged = (size_t)sqlite3_column_int64(s, 10);
    r->stats.refreshed = (size_t)sqlite3_column_int64(s, 11);
    r->stats.deleted = (size_t)sqlite3_column_int64(s, 12);
    r->errors = sqlite3_column_int64(s, 13);
    r->error = col_str(s, 14);
}

/*
 * Step s (bound by the caller) into page[] (at most RUN_PAGE rows, strings
 * copied into a), then reset it: as in sqlite_tracked_each(), fn runs with
 * no read open and may write (a caller retrying what failed).
 */
TGH_MUSTCHECK static tgh_err
runs_page(struct sq *sq, sqlite3_stmt *s, struct store_run_row *page, struct tgh_arena *a,
          size_t *n)
{
    int src = SQLITE_DONE;
    tgh_err rc = TGH_OK;

    tgh_arena_reset(a);
    *n = 0;
    while (*n < RUN_PAGE && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_run_row *r = &page[(*n)++];
        const char **strs[] = { &r->kind, &r->origin, &r->status, &r->error };

        run_row(s, r);
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            if (*strs[i] != NULL)
                *strs[i] = tgh_arena_strdup(a, *strs[i]);
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "list runs");
    (void)sqlite3_reset(s);
    return rc;
}

/* Newest first, in pages keyed on the id (the before_id the caller pages with, too). */
TGH_MUSTCHECK static tgh_err
sqlite_runs_each(void *impl, const struct store_runs_query *q, store_run_fn fn, void *arg)
{
    struct sq *sq = impl;
    struct store_run_row page[RUN_PAGE];
    int64_t before = q->before_id != 0 ? q->before_id : INT64_MAX;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX;
    sqlite3_stmt *s = NULL;
    struct tgh_arena strs;
    char sql[512];
    size_t len = 0, n = 0;
    tgh_err rc;
    int src;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len,
            "SELECT " RUN_COLUMNS " FROM collection_runs WHERE id < :before");
    if (q->chat_id == 0)
        sql_add(sql, sizeof(sql), &len, " AND chat_id IS NULL");
    else if (q->chat_id != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND chat_id = :chat");
    if (q->kind != NULL)
        sql_add(sql, sizeof(sql), &len, " AND kind = :kind");
    if (q->status != NULL)
        sql_add(sql, sizeof(sql), &len, " AND status = :status");
    sql_add(sql, sizeof(sql), &len, " ORDER BY id DESC LIMIT :limit");
    src = sqlite3_prepare_v2(sq->db, sql, (int)len, &s, NULL);
    if (src != SQLITE_OK)
        return sq_fail(sq, src, "prepare run query");
    bind_named_i64(s, ":chat", q->chat_id);
    bind_named_str(s, ":kind", q->kind);
    bind_named_str(s, ":status", q->status);
    tgh_arena_init(&strs, 4096);
    do {
        bind_named_i64(s, ":before", before);
        bind_named_i64(s, ":limit", left < RUN_PAGE ? left : RUN_PAGE);
        rc = runs_page(sq, s, page, &strs, &n);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            before = page[n - 1].id;
        left -= (int64_t)n;
    } while (rc == TGH_OK && n == RUN_PAGE && left > 0);
out:
    tgh_arena_fini(&strs);
    sqlite3_finalize(s);
    return rc;
}

/* Pages of kinds, keyed on the last kind (a copy: the arena is reset per page). */
TGH_MUSTCHECK static tgh_err
sqlite_runs_last_each(void *impl, store_run_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_RUNS_LAST];
    struct store_run_row page[RUN_PAGE];
    struct tgh_arena strs;
    char *after = NULL;
    size_t n = 0;
    tgh_err rc;

    tgh_arena_init(&strs, 4096);
    do {
        bind_str(s, 1, after);
        rc = runs_page(sq, s, page, &strs, &n);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0) {
            tgh_free(after);
            after = tgh_strdup(page[n - 1].kind);
        }
    } while (rc == TGH_OK && n == RUN_PAGE);
out:
    tgh_free(after);
    tgh_arena_fini(&strs);
    return rc;
}

/* A row of DL_COLUMNS (NULL integers read as 0); strings are the statement's. */
static void
dead_letter_row(sqlite3_stmt *s, struct store_dead_letter_row *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, 0);
    d->source = col_str(s, 1);
    d->origin = col_str(s, 2);
    d->position = col_str(s, 3);
    d->reason = col_str(s, 4);
    d->payload = col_str(s, 5);
    d->payload_len = (size_t)sqlite3_column_bytes(s, 5);
    d->created_at = sqlite3_column_int64(s, 6);
    d->retry_count = sqlite3_column_int64(s, 7);
    d->resolved_at = sqlite3_column_int64(s, 8);
}

/* Step s into page[] (at most max rows, strings copied into a), then reset it. */
TGH_MUSTCHECK static tgh_err
dead_letters_page(struct sq *sq, sqlite3_stmt *s, struct store_dead_letter_row *page, size_t max,
                  struct tgh_arena *a, size_t *n)
{
    int src = SQLITE_DONE;
    tgh_err rc = TGH_OK;

    tgh_arena_reset(a);
    *n = 0;
    while (*n < max && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_dead_letter_row *d = &page[(*n)++];
        const char **strs[] = { &d->source, &d->origin, &d->position, &d->reason };

        dead_letter_row(s, d);
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            if (*strs[i] != NULL)
                *strs[i] = tgh_arena_strdup(a, *strs[i]);
        if (d->payload != NULL) /* (ptr, len): it may hold any byte */
            d->payload = tgh_arena_strndup(a, d->payload, d->payload_len);
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "list dead letters");
    (void)sqlite3_reset(s);
    return rc;
}

/* Newest first, in pages keyed on the id, as sqlite_runs_each(). */
TGH_MUSTCHECK static tgh_err
sqlite_dead_letters_each(void *impl, const struct store_dl_query *q, store_dead_letter_fn fn,
                         void *arg)
{
    struct sq *sq = impl;
    struct store_dead_letter_row page[DL_PAGE];
    int64_t before = q->before_id != 0 ? q->before_id : INT64_MAX;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX;
    sqlite3_stmt *s = NULL;
    struct tgh_arena strs;
    char sql[512];
    size_t len = 0, n = 0;
    tgh_err rc;
    int src;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len,
            "SELECT " DL_COLUMNS " FROM ingestion_errors WHERE id < :before");
    if (q->state == STORE_DL_OPEN)
        sql_add(sql, sizeof(sql), &len, " AND resolved_at IS NULL");
    else if (q->state == STORE_DL_RESOLVED)
        sql_add(sql, sizeof(sql), &len, " AND resolved_at IS NOT NULL");
    if (q->source != NULL)
        sql_add(sql, sizeof(sql), &len, " AND source = :source");
    sql_add(sql, sizeof(sql), &len, " ORDER BY id DESC LIMIT :limit");
    src = sqlite3_prepare_v2(sq->db, sql, (int)len, &s, NULL);
    if (src != SQLITE_OK)
        return sq_fail(sq, src, "prepare dead letter query");
    bind_named_str(s, ":source", q->source);
    tgh_arena_init(&strs, 16 * 1024);
    do {
        bind_named_i64(s, ":before", before);
        bind_named_i64(s, ":limit", left < DL_PAGE ? left : DL_PAGE);
        rc = dead_letters_page(sq, s, page, DL_PAGE, &strs, &n);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            before = page[n - 1].id;
        left -= (int64_t)n;
    } while (rc == TGH_OK && n == DL_PAGE && left > 0);
out:
    tgh_arena_fini(&strs);
    sqlite3_finalize(s);
    return rc;
}

/* A page of one row (copied into sq->found): fn may write, a retry would. */
TGH_MUSTCHECK static tgh_err
sqlite_dead_letter_get(void *impl, int64_t id, store_dead_letter_fn fn, void *arg)
{
    struct sq *sq = impl;
    struct store_dead_letter_row d;
    size_t n = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(sq->stmt[S_DL_GET], 1, id);
    rc = dead_letters_page(sq, sq->stmt[S_DL_GET], &d, 1, &sq->found, &n);
    if (rc == TGH_OK && n == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", id);
    if (rc == TGH_OK)
        (void)fn(arg, &d);
    return rc;
}

/* Run a one-row write by dead letter id; TGH_ENOTFOUND when it matched nothing. */
TGH_MUSTCHECK static tgh_err
dead_letter_write(struct sq *sq, enum stmt_id id, int64_t row, const char *what)
{
    tgh_err rc = run(sq, id, what);

    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", row);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_dead_letter_retried(void *impl, int64_t id, bool resolved, const char *reason, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_DL_RETRIED];

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int(s, 2, resolved);
    bind_str(s, 3, reason);
    (void)sqlite3_bind_int64(s, 4, at);
    return dead_letter_write(sq, S_DL_RETRIED, id, "record dead letter retry");
}

TGH_MUSTCHECK static tgh_err
sqlite_dead_letter_resolve(void *impl, int64_t id, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_DL_RESOLVE];

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, at);
    return dead_letter_write(sq, S_DL_RESOLVE, id, "resolve dead letter");
}

/* ---- tracked chats and cursors ---- */

/* 0 means "none" in the API and NULL in the optional columns of 004_collect.sql. */
static void
bind_nz(sqlite3_stmt *s, int idx, int64_t v)
{
    if (v == 0)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_int64(s, idx, v);
}

/* Parameters ?2..?16 of S_TRK_INSERT and S_TRK_UPDATE. */
static void
bind_tracked(sqlite3_stmt *s, const struct store_tracked *t, int64_t now)
{
    bind_str(s, 2, t->spec);
    bind_nz(s, 3, t->chat_id);
    bind_str(s, 4, t->account);
    (void)sqlite3_bind_int(s, 5, t->enabled);
    bind_str(s, 6, t->status != NULL ? t->status : "new");
    bind_str(s, 7, t->error);
    bind_str(s, 8, t->type);
    bind_str(s, 9, t->title);
    bind_str(s, 10, t->username);
    bind_nz(s, 11, t->linked_chat_id);
    (void)sqlite3_bind_int(s, 12, t->is_forum);
    (void)sqlite3_bind_int(s, 13, t->comments);
    (void)sqlite3_bind_int(s, 14, t->topics);
    (void)sqlite3_bind_int64(s, 15, t->updated_at != 0 ? t->updated_at : now);
    bind_nz(s, 16, t->last_collected_at);
}

/* A row of TRK_COLUMNS (NULL integers read as 0); strings are the statement's. */
static void
tracked_row(sqlite3_stmt *s, struct store_tracked *t)
{
    t->id = sqlite3_column_int64(s, 0);
    t->spec = col_str(s, 1);
    t->chat_id = sqlite3_column_int64(s, 2);
    t->account = col_str(s, 3);
    t->enabled = sqlite3_column_int(s, 4) != 0;
    t->status = col_str(s, 5);
    t->error = col_str(s, 6);
    t->type = col_str(s, 7);
    t->title = col_str(s, 8);
    t->username = col_str(s, 9);
    t->linked_chat_id = sqlite3_column_int64(s, 10);
    t->is_forum = sqlite3_column_int(s, 11) != 0;
    t->comments = sqlite3_column_int(s, 12) != 0;
    t->topics = sqlite3_column_int(s, 13) != 0;
    t->added_at = sqlite3_column_int64(s, 14);
    t->updated_at = sqlite3_column_int64(s, 15);
    t->last_collected_at = sqlite3_column_int64(s, 16);
    t->backfill_requested_at = sqlite3_column_int64(s, 17);
}

/* Move the strings of t into a, so they outlive the statement's row. */
static void
tracked_keep(struct tgh_arena *a, struct store_tracked *t)
{
    const char **strs[] = { &t->spec, &t->account, &t->status,  &t->error,
                            &t->type, &t->title,   &t->username };

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (*strs[i] != NULL)
            *strs[i] = tgh_arena_strdup(a, *strs[i]);
}

/* Step a TRK_COLUMNS query the caller bound: *row is the id found, or 0. */
TGH_MUSTCHECK static tgh_err
tracked_id(struct sq *sq, enum stmt_id id, int64_t *row)
{
    bool found;
    tgh_err rc;

    rc = step_one(sq, id, "find tracked chat", &found);
    *row = rc == TGH_OK && found ? sqlite3_column_int64(sq->stmt[id], 0) : 0;
    (void)sqlite3_reset(sq->stmt[id]);
    return rc;
}

/*
 * The row with t's chat_id takes t's spec. Another row holding that spec
 * either never resolved (it named this chat: it goes) or resolved to
 * another chat before the username moved (it keeps tracking that chat and
 * is renamed to its chat id, the one spec that still names it).
 */
TGH_MUSTCHECK static tgh_err
tracked_take_spec(struct sq *sq, const struct store_tracked *t, int64_t row, int64_t now)
{
    sqlite3_stmt *s = sq->stmt[S_TRK_DROP_SPEC];
    tgh_err rc;

    bind_str(s, 1, t->spec);
    (void)sqlite3_bind_int64(s, 2, row);
    rc = run(sq, S_TRK_DROP_SPEC, "merge tracked chat");
    if (rc != TGH_OK)
        return rc;
    s = sq->stmt[S_TRK_MOVE_SPEC];
    bind_str(s, 1, t->spec);
    (void)sqlite3_bind_int64(s, 2, row);
    (void)sqlite3_bind_int64(s, 3, now);
    return run(sq, S_TRK_MOVE_SPEC, "rename tracked chat");
}

/* One short transaction: the lookups and the write see the same rows. */
TGH_MUSTCHECK static tgh_err
sqlite_tracked_put(void *impl, const struct store_tracked *t, int64_t *id)
{
    struct sq *sq = impl;
    int64_t now = (int64_t)time(NULL), row = 0;
    sqlite3_stmt *s;
    tgh_err rc;

    rc = run(sq, S_BEGIN, "begin");
    if (rc != TGH_OK)
        return rc;
    if (t->chat_id != 0) {
        (void)sqlite3_bind_int64(sq->stmt[S_TRK_BY_CHAT], 1, t->chat_id);
        rc = tracked_id(sq, S_TRK_BY_CHAT, &row);
        if (rc == TGH_OK && row != 0)
            rc = tracked_take_spec(sq, t, row, now);
        if (rc != TGH_OK)
            goto out;
    }
    if (row == 0) {
        bind_str(sq->stmt[S_TRK_BY_SPEC], 1, t->spec);
        rc = tracked_id(sq, S_TRK_BY_SPEC, &row);
        if (rc != TGH_OK)
            goto out;
    }
    if (row != 0) {
        s = sq->stmt[S_TRK_UPDATE];
        (void)sqlite3_bind_int64(s, 1, row);
        bind_tracked(s, t, now);
        rc = run(sq, S_TRK_UPDATE, "update tracked chat");
    } else {
        s = sq->stmt[S_TRK_INSERT];
        bind_tracked(s, t, now);
        (void)sqlite3_bind_int64(s, 17, now);
        rc = run(sq, S_TRK_INSERT, "add tracked chat");
        row = sqlite3_last_insert_rowid(sq->db);
    }
    if (rc == TGH_OK)
        rc = run(sq, S_COMMIT, "commit");
out:
    if (rc != TGH_OK) {
        rollback(sq);
        return rc;
    }
    *id = row;
    return TGH_OK;
}

/*
 * Listings read a page of rows, end the statement, then call fn: fn may write
 * to the store (a collector sets statuses and cursors as it goes), and no
 * read stays open across a long callback to hold back WAL checkpoints.
 */
TGH_MUSTCHECK static tgh_err
sqlite_tracked_each(void *impl, store_tracked_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_PAGE];
    struct store_tracked page[TRK_PAGE];
    struct tgh_arena strs;
    int64_t after = INT64_MIN;
    tgh_err rc = TGH_OK;
    size_t n;

    tgh_arena_init(&strs, 4096);
    do {
        int src = SQLITE_DONE;

        tgh_arena_reset(&strs);
        n = 0;
        (void)sqlite3_bind_int64(s, 1, after);
        while (n < TRK_PAGE && (src = sqlite3_step(s)) == SQLITE_ROW) {
            tracked_row(s, &page[n]);
            tracked_keep(&strs, &page[n]);
            n++;
        }
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = sq_fail(sq, src, "list tracked chats");
        (void)sqlite3_reset(s);
        if (rc != TGH_OK)
            break;
        for (size_t i = 0; i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            after = page[n - 1].id;
    } while (n == TRK_PAGE);
out:
    tgh_arena_fini(&strs);
    return rc;
}

/* Step a TRK_COLUMNS query the caller bound; a row goes to *out, strings into sq->found. */
TGH_MUSTCHECK static tgh_err
tracked_get(struct sq *sq, enum stmt_id id, struct store_tracked *out, bool *found)
{
    sqlite3_stmt *s = sq->stmt[id];
    tgh_err rc;

    rc = step_one(sq, id, "find tracked chat", found);
    if (rc == TGH_OK && *found) {
        tracked_row(s, out);
        tracked_keep(&sq->found, out);
    }
    (void)sqlite3_reset(s);
    return rc;
}

/* The exact spec first: whatever the user typed names that row above all. */
TGH_MUSTCHECK static tgh_err
sqlite_tracked_find(void *impl, const char *key, struct store_tracked *out)
{
    struct sq *sq = impl;
    struct store_tracked_key k;
    bool found = false;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    tgh_arena_reset(&sq->found);
    store_tracked_key_parse(key, &k);
    bind_str(sq->stmt[S_TRK_BY_SPEC], 1, key);
    rc = tracked_get(sq, S_TRK_BY_SPEC, out, &found);
    for (size_t i = 0; rc == TGH_OK && !found && i < k.n_ids; i++) {
        (void)sqlite3_bind_int64(sq->stmt[S_TRK_BY_CHAT], 1, k.chat_ids[i]);
        rc = tracked_get(sq, S_TRK_BY_CHAT, out, &found);
    }
    if (rc == TGH_OK && !found && k.name[0] != '\0') {
        bind_str(sq->stmt[S_TRK_BY_NAME], 1, k.name);
        rc = tracked_get(sq, S_TRK_BY_NAME, out, &found);
    }
    if (rc == TGH_OK && !found && k.name[0] != '\0') {
        bind_str(sq->stmt[S_TRK_BY_AT_SPEC], 1, k.name);
        rc = tracked_get(sq, S_TRK_BY_AT_SPEC, out, &found);
    }
    if (rc == TGH_OK && !found)
        rc = tgh_errf(TGH_ENOTFOUND, "no tracked chat matches '%.200s'", key);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_tracked_remove(void *impl, int64_t id)
{
    struct sq *sq = impl;
    tgh_err rc;

    (void)sqlite3_bind_int64(sq->stmt[S_TRK_REMOVE], 1, id);
    rc = run(sq, S_TRK_REMOVE, "remove tracked chat");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_tracked_set_status(void *impl, int64_t id, const char *status, const char *error,
                          int64_t last_collected_at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_STATUS];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    bind_str(s, 2, status);
    bind_str(s, 3, error);
    (void)sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    bind_nz(s, 5, last_collected_at);
    rc = run(sq, S_TRK_STATUS, "set tracked chat status");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK static tgh_err
sqlite_tracked_request_backfill(void *impl, int64_t id, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_BACKFILL_ASK];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, at);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    rc = run(sq, S_TRK_BACKFILL_ASK, "request backfill");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

/*
 * Clear the request the pass was for, and only that one: a request made
 * while the pass ran has another time and stays for the next pass.
 */
TGH_MUSTCHECK static tgh_err
sqlite_tracked_backfill_done(void *impl, int64_t id, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_BACKFILL_DONE];
    int64_t row = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, at);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    rc = run(sq, S_TRK_BACKFILL_DONE, "finish backfill request");
    if (rc != TGH_OK || sqlite3_changes(sq->db) > 0)
        return rc;
    (void)sqlite3_bind_int64(sq->stmt[S_TRK_EXISTS], 1, id);
    rc = tracked_id(sq, S_TRK_EXISTS, &row);
    if (rc == TGH_OK && row == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

/* A row of CUR_COLUMNS. */
static void
cursor_row(sqlite3_stmt *s, struct store_cursor *c)
{
    c->chat_id = sqlite3_column_int64(s, 0);
    c->thread_id = sqlite3_column_int64(s, 1);
    c->newest_id = sqlite3_column_int64(s, 2);
    c->oldest_id = sqlite3_column_int64(s, 3);
    c->complete = sqlite3_column_int(s, 4) != 0;
    c->gap_hi = sqlite3_column_int64(s, 5);
    c->gap_from = sqlite3_column_int64(s, 6);
    c->updated_at = sqlite3_column_int64(s, 7);
}

TGH_MUSTCHECK static tgh_err
sqlite_cursor_get(void *impl, int64_t chat_id, int64_t thread_id, struct store_cursor *out)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CUR_GET];
    bool found;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    out->chat_id = chat_id;
    out->thread_id = thread_id;
    (void)sqlite3_bind_int64(s, 1, chat_id);
    (void)sqlite3_bind_int64(s, 2, thread_id);
    rc = step_one(sq, S_CUR_GET, "read cursor", &found);
    if (rc == TGH_OK && found)
        cursor_row(s, out);
    (void)sqlite3_reset(s);
    if (rc == TGH_OK && !found)
        rc = tgh_errf(TGH_ENOTFOUND, "no cursor for chat %" PRId64 " thread %" PRId64, chat_id,
                      thread_id);
    return rc;
}

/*
 * One statement in autocommit mode: when it returns TGH_OK the cursor is
 * committed. Batches never leave a transaction open between calls; the
 * check makes sure a cursor can never ride along in one and be rolled back.
 */
TGH_MUSTCHECK static tgh_err
sqlite_cursor_put(void *impl, const struct store_cursor *c)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CUR_PUT];

    if (!sqlite3_get_autocommit(sq->db))
        return tgh_errf(TGH_EIO, "cursor write inside an open transaction");
    (void)sqlite3_bind_int64(s, 1, c->chat_id);
    (void)sqlite3_bind_int64(s, 2, c->thread_id);
    (void)sqlite3_bind_int64(s, 3, c->newest_id);
    (void)sqlite3_bind_int64(s, 4, c->oldest_id);
    (void)sqlite3_bind_int(s, 5, c->complete);
    (void)sqlite3_bind_int64(s, 6, c->gap_hi);
    (void)sqlite3_bind_int64(s, 7, c->gap_from);
    (void)sqlite3_bind_int64(s, 8, c->updated_at != 0 ? c->updated_at : (int64_t)time(NULL));
    return run(sq, S_CUR_PUT, "write cursor");
}

/* Paged like sqlite_tracked_each(), by (chat_id, thread_id). */
TGH_MUSTCHECK static tgh_err
sqlite_cursors_each(void *impl, int64_t chat_id, store_cursor_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CUR_PAGE];
    struct store_cursor page[CUR_PAGE];
    int64_t lo = chat_id == MSG_UNSET ? INT64_MIN : chat_id;
    int64_t hi = chat_id == MSG_UNSET ? INT64_MAX : chat_id;
    int64_t after_chat = lo, after_thread = INT64_MIN; /* store.c refuses these ids */
    size_t n;

    do {
        int src = SQLITE_DONE;

        n = 0;
        (void)sqlite3_bind_int64(s, 1, lo);
        (void)sqlite3_bind_int64(s, 2, hi);
        (void)sqlite3_bind_int64(s, 3, after_chat);
        (void)sqlite3_bind_int64(s, 4, after_thread);
        while (n < CUR_PAGE && (src = sqlite3_step(s)) == SQLITE_ROW)
            cursor_row(s, &page[n++]);
        (void)sqlite3_reset(s);
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            return sq_fail(sq, src, "list cursors");
        for (size_t i = 0; i < n; i++)
            if (fn(arg, &page[i]) != 0)
                return TGH_OK;
        if (n > 0) {
            after_chat = page[n - 1].chat_id;
            after_thread = page[n - 1].thread_id;
        }
    } while (n == CUR_PAGE);
    return TGH_OK;
}

/* One transaction; the FTS triggers drop the removed texts from the index. */
TGH_MUSTCHECK static tgh_err
sqlite_retention_apply(void *impl, int64_t before, int64_t *removed)
{
    struct sq *sq = impl;
    int64_t gone;
    tgh_err rc;

    rc = run(sq, S_BEGIN, "begin");
    if (rc != TGH_OK)
        return rc;
    (void)sqlite3_bind_int64(sq->stmt[S_RET_VERSIONS], 1, before);
    rc = run(sq, S_RET_VERSIONS, "remove old versions");
    if (rc != TGH_OK)
        goto out;
    (void)sqlite3_bind_int64(sq->stmt[S_RET_MESSAGES], 1, before);
    rc = run(sq, S_RET_MESSAGES, "remove old messages");
    if (rc != TGH_OK)
        goto out;
    gone = sqlite3_changes64(sq->db);
    rc = run(sq, S_COMMIT, "commit");
    if (rc == TGH_OK)
        *removed = gone;
out:
    if (rc != TGH_OK)
        rollback(sq);
    return rc;
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
    .tracked_backfill_done = sqlite_tracked_backfill_done,
    .cursor_get = sqlite_cursor_get,
    .cursor_put = sqlite_cursor_put,
    .cursors_each = sqlite_cursors_each,
    .retention_apply = sqlite_retention_apply,
};
