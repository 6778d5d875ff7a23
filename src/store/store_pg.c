/* SPDX-License-Identifier: MIT */
/*
 * store_pg.c - the PostgreSQL store: one libpq connection per struct store,
 * messages partitioned by UTC month, batches written through COPY.
 *
 * This file maps libpq failures to error codes, opens, closes and re-opens
 * the connection, prepares each session (staging tables, the SQL of every
 * statement) and holds the vtable; store_pg_int.h says which file holds the
 * rest. A lost connection is TGH_EUNAVAIL and the next call reconnects.
 */
#define TGH_LOG_SUB "store"

#include "store/store_pg_int.h"

#include <time.h>

#include "core/log.h"
#include "core/util.h"

/*
 * Staging tables, one set per connection: rows live until the end of the
 * transaction. op: 'u' rewrite (all columns), 'm' version count and
 * tombstone only, 't' a tombstone of a message not (yet) stored. New
 * messages skip them: they are COPYed straight into messages.
 */
static const char *const session_sql =
    "CREATE TEMP TABLE IF NOT EXISTS tgh_stage_msg (op text, old_date bigint,"
    " chat_id bigint, message_id bigint, date bigint, edit_date bigint, sender_id bigint,"
    " sender_type text, sender_name text, text text, thread_id bigint,"
    " reply_to_message_id bigint, media_kind text, views bigint, forwards bigint,"
    " replies bigint, reactions text, source text, content_hash text, idempotency_key text,"
    " event text, first_seen_at bigint, updated_at bigint, deleted_at bigint,"
    " version_count integer, tomb_source text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS tgh_stage_ver (chat_id bigint, message_id bigint,"
    " version integer, content_hash text, edit_date bigint, text text, event text,"
    " superseded_at bigint) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS tgh_stage_chat (chat_id bigint, type text, title text,"
    " username text) ON COMMIT DELETE ROWS";

static const char *const stmt_sql[P_COUNT] = {
    /*
     * Sorted keys from C: every writer takes its locks in the same order,
     * chats first (shared, or exclusive for a batch too big to lock message
     * by message), then messages (two-int keys: another key space).
     */
    [P_LOCK_CHATS] = "SELECT count(CASE WHEN $2 THEN pg_advisory_xact_lock(k)"
                     " ELSE pg_advisory_xact_lock_shared(k) END) FROM unnest($1::bigint[]) AS k",
    [P_LOCK_MSGS] = "SELECT count(pg_advisory_xact_lock(a, b))"
                    " FROM unnest($1::int[], $2::int[]) AS k (a, b)",
    /*
     * Everything the rules need of a batch's messages in one round trip:
     * the rows (found by id ranges, so each partition is probed once per
     * range, not once per message), their known versions and tombstones.
     * LATERAL ... OFFSET 0 keeps every lookup an index probe: a generic plan
     * would otherwise hash-join whole partitions of a big chat. ORDER BY
     * message_id (with sequential scans off around the query) makes the
     * primary key the only cheap path: a plan cached while a partition was
     * nearly empty would otherwise use (chat_id, date) and filter a whole
     * chat per range once the partition has grown.
     */
    [P_FETCH] =
        "SELECT 'm', m.chat_id, m.message_id, m.date, m.content_hash, m.edit_date, m.text,"
        " m.event, m.version_count, m.deleted_at"
        " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r (chat_id, lo, hi),"
        " LATERAL (SELECT * FROM messages m WHERE m.chat_id = r.chat_id"
        " AND m.message_id BETWEEN r.lo AND r.hi ORDER BY m.message_id OFFSET 0) m"
        " UNION ALL"
        " SELECT 'v', v.chat_id, v.message_id, NULL, v.content_hash, v.edit_date, NULL, NULL,"
        " NULL, NULL"
        " FROM unnest($4::bigint[], $5::bigint[]) AS k (chat_id, message_id),"
        " LATERAL (SELECT * FROM message_versions v WHERE v.chat_id = k.chat_id"
        " AND v.message_id = k.message_id OFFSET 0) v"
        " UNION ALL"
        " SELECT 't', t.chat_id, t.message_id, NULL, t.source, NULL, NULL, NULL, NULL,"
        " t.deleted_at"
        " FROM unnest($4::bigint[], $5::bigint[]) AS k (chat_id, message_id),"
        " LATERAL (SELECT * FROM tombstones t WHERE t.chat_id = k.chat_id"
        " AND t.message_id = k.message_id OFFSET 0) t",
    [P_PARTITIONS] = "SELECT tgh_messages_partitions($1::bigint[])",
    [P_CHAT_INSERT] = "INSERT INTO chats (chat_id, type, title, username, created_at, updated_at)"
                      " SELECT chat_id, coalesce(type, 'unknown'), title, username, $1, $1"
                      " FROM tgh_stage_chat ORDER BY chat_id ON CONFLICT (chat_id) DO NOTHING",
    /* NULL means "the events did not know": keep what is stored. */
    [P_CHAT_UPDATE] =
        "UPDATE chats c SET type = coalesce(s.type, c.type), title = coalesce(s.title, c.title),"
        " username = coalesce(s.username, c.username), updated_at = $1"
        " FROM tgh_stage_chat s WHERE c.chat_id = s.chat_id"
        " AND ((s.type IS NOT NULL AND s.type IS DISTINCT FROM c.type)"
        " OR (s.title IS NOT NULL AND s.title IS DISTINCT FROM c.title)"
        " OR (s.username IS NOT NULL AND s.username IS DISTINCT FROM c.username))",
    [P_TOMB_INSERT] = "INSERT INTO tombstones (chat_id, message_id, deleted_at, source)"
                      " SELECT chat_id, message_id, deleted_at, tomb_source FROM tgh_stage_msg"
                      " WHERE op = 't' ON CONFLICT DO NOTHING",
    /* old_date: the row's partition key as read, so a changed date moves the row. */
    [P_MSG_UPDATE] =
        "UPDATE messages m SET date = s.date, edit_date = s.edit_date, sender_id = s.sender_id,"
        " sender_type = s.sender_type, sender_name = s.sender_name, text = s.text,"
        " thread_id = s.thread_id, reply_to_message_id = s.reply_to_message_id,"
        " media_kind = s.media_kind, views = s.views, forwards = s.forwards,"
        " replies = s.replies, reactions = s.reactions, source = s.source,"
        " content_hash = s.content_hash, idempotency_key = s.idempotency_key, event = s.event,"
        " updated_at = s.updated_at, deleted_at = s.deleted_at, version_count = s.version_count"
        " FROM tgh_stage_msg s WHERE s.op = 'u' AND m.chat_id = s.chat_id"
        " AND m.message_id = s.message_id AND m.date = s.old_date",
    [P_MSG_META] = "UPDATE messages m SET updated_at = s.updated_at, deleted_at = s.deleted_at,"
                   " version_count = s.version_count"
                   " FROM tgh_stage_msg s WHERE s.op = 'm' AND m.chat_id = s.chat_id"
                   " AND m.message_id = s.message_id AND m.date = s.old_date",
    [P_VER_INSERT] = "INSERT INTO message_versions (chat_id, message_id, version, content_hash,"
                     " edit_date, text, event, superseded_at) SELECT chat_id, message_id,"
                     " version, content_hash, edit_date, text, event, superseded_at"
                     " FROM tgh_stage_ver",
    [P_CHAT_UPSERT] = "INSERT INTO chats (chat_id, type, title, username, created_at, updated_at)"
                      " VALUES ($1, coalesce($2, 'unknown'), $3, $4, $5, $5)"
                      " ON CONFLICT (chat_id) DO UPDATE SET type = coalesce($2, chats.type),"
                      " title = coalesce($3, chats.title), username = coalesce($4, chats.username),"
                      " updated_at = $5"
                      " WHERE ($2 IS NOT NULL AND $2 IS DISTINCT FROM chats.type)"
                      " OR ($3 IS NOT NULL AND $3 IS DISTINCT FROM chats.title)"
                      " OR ($4 IS NOT NULL AND $4 IS DISTINCT FROM chats.username)",
    [P_DEAD_ADD] = "INSERT INTO ingestion_errors (source, origin, position, reason, payload,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6)"
                   " ON CONFLICT (source, origin, position) DO UPDATE SET"
                   " reason = excluded.reason, payload = excluded.payload,"
                   " created_at = excluded.created_at, resolved_at = NULL"
                   " WHERE ingestion_errors.reason IS DISTINCT FROM excluded.reason"
                   " OR ingestion_errors.payload IS DISTINCT FROM excluded.payload",
    [P_RUN_BEGIN] = "INSERT INTO collection_runs (chat_id, kind, origin, started_at)"
                    " VALUES ($1, $2, $3, $4) RETURNING id",
    [P_RUN_FINISH] = "UPDATE collection_runs SET finished_at = $2, status = $3,"
                     " messages_seen = $4, inserted = $5, versioned = $6, unchanged = $7,"
                     " refreshed = $8, deleted = $9, errors = $10, error = $11,"
                     " flood_waits = $12, flood_seconds = $13 WHERE id = $1",
    [P_CHATS] = "SELECT c.chat_id, c.type, c.title, c.username, coalesce(s.live, 0),"
                " coalesce(s.dead, 0), coalesce(s.first, 0), coalesce(s.last, 0),"
                " coalesce(s.last_id, 0)"
                " FROM chats c LEFT JOIN (SELECT chat_id,"
                " count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(deleted_at) AS dead,"
                " min(date) AS first, max(date) AS last, max(message_id) AS last_id"
                " FROM messages GROUP BY chat_id) s ON s.chat_id = c.chat_id"
                " ORDER BY c.chat_id",
    [P_VERSIONS] =
        "SELECT v.chat_id, v.message_id, m.date, v.edit_date, NULL, v.version - 1, c.title,"
        " m.sender_name, v.text, NULL, v.event"
        " FROM message_versions v"
        " JOIN messages m ON m.chat_id = v.chat_id AND m.message_id = v.message_id"
        " JOIN chats c ON c.chat_id = v.chat_id"
        " WHERE v.chat_id = $1 AND v.message_id = $2"
        " ORDER BY coalesce(v.edit_date, 0), v.version",
    [P_TOTALS] = "SELECT (SELECT count(*) FROM chats),"
                 " (SELECT count(*) FROM messages WHERE deleted_at IS NULL),"
                 " (SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL),"
                 " (SELECT count(*) FROM message_versions),"
                 " (SELECT count(*) FROM ingestion_errors),"
                 " (SELECT count(*) FROM collection_runs),"
                 " (SELECT coalesce(min(date), 0) FROM messages),"
                 " (SELECT coalesce(max(date), 0) FROM messages),"
                 " pg_database_size(current_database())",
    [P_TOMBSTONES] = "SELECT t.chat_id, t.message_id, t.deleted_at, t.source FROM tombstones t"
                     " WHERE ($1::bigint IS NULL OR t.chat_id = $1) AND NOT EXISTS"
                     " (SELECT 1 FROM messages m WHERE m.chat_id = t.chat_id"
                     " AND m.message_id = t.message_id) ORDER BY 1, 2",
    /*
     * Messages per bucket, tombstones too. The chat's statement always has
     * its chat (never "$1 IS NULL OR ..."), so a cached generic plan still
     * scans (chat_id, date) of the partitions that the dates leave.
     */
    [P_BUCKETS_CHAT] = "SELECT date - date % $4 AS bucket, count(*) FROM messages"
                       " WHERE chat_id = $1 AND date >= $2 AND date < $3"
                       " GROUP BY bucket ORDER BY bucket",
    [P_BUCKETS_ALL] = "SELECT date - date % $3 AS bucket, count(*) FROM messages"
                      " WHERE date >= $1 AND date < $2 GROUP BY bucket ORDER BY bucket",
    /*
     * The newest run of each kind, a page of kinds after $1 (NULL: from the
     * first). Kinds compare byte by byte, as in SQLite, whatever the
     * database's collation.
     */
    [P_RUNS_LAST] = "SELECT " RUN_COLUMNS " FROM collection_runs WHERE id IN"
                    " (SELECT max(id) FROM collection_runs"
                    " WHERE $1::text IS NULL OR kind COLLATE \"C\" > $1 GROUP BY kind)"
                    " ORDER BY kind COLLATE \"C\" LIMIT " RUN_PAGE_S,
    [P_DL_GET] = "SELECT " DL_COLUMNS " FROM ingestion_errors WHERE id = $1",
    /* $2: resolved. A retry that resolves keeps the reason it failed for. */
    [P_DL_RETRIED] = "UPDATE ingestion_errors SET retry_count = retry_count + 1,"
                     " resolved_at = CASE WHEN $2::boolean THEN coalesce(resolved_at, $4::bigint)"
                     " ELSE resolved_at END,"
                     " reason = CASE WHEN $2::boolean OR $3::text IS NULL THEN reason ELSE $3 END"
                     " WHERE id = $1",
    [P_DL_RESOLVE] = "UPDATE ingestion_errors SET resolved_at = coalesce(resolved_at, $2)"
                     " WHERE id = $1",
    /* Tracked chats: $1..$15 as bind_tracked() fills them. */
    [P_TRK_LOCK] = "SELECT pg_advisory_xact_lock(" LOCK_CLASS ", 3)",
    [P_TRK_INSERT] =
        "INSERT INTO tracked_chats (spec, chat_id, account, enabled, status, error, type, title,"
        " username, linked_chat_id, is_forum, comments, topics, updated_at, last_collected_at,"
        " added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        " RETURNING id",
    [P_TRK_UPDATE] = "UPDATE tracked_chats SET spec = $1, chat_id = $2, account = $3, enabled = $4,"
                     " status = $5, error = $6, type = $7, title = $8, username = $9,"
                     " linked_chat_id = $10, is_forum = $11, comments = $12, topics = $13,"
                     " updated_at = $14, last_collected_at = $15 WHERE id = $16",
    [P_TRK_DROP_SPEC] = "DELETE FROM tracked_chats WHERE spec = $1 AND id <> $2"
                        " AND chat_id IS NULL",
    [P_TRK_MOVE_SPEC] = "UPDATE tracked_chats SET spec = chat_id::text, updated_at = $3"
                        " WHERE spec = $1 AND id <> $2",
    [P_TRK_BY_CHAT] = "SELECT " TRK_COLUMNS " FROM tracked_chats WHERE chat_id = $1",
    [P_TRK_BY_SPEC] = "SELECT " TRK_COLUMNS " FROM tracked_chats WHERE spec = $1",
    [P_TRK_BY_NAME] = "SELECT " TRK_COLUMNS " FROM tracked_chats"
                      " WHERE lower(username) = lower($1) ORDER BY id LIMIT 1",
    [P_TRK_BY_AT_SPEC] = "SELECT " TRK_COLUMNS " FROM tracked_chats"
                         " WHERE lower(spec) = lower('@' || $1) ORDER BY id LIMIT 1",
    [P_TRK_PAGE] =
        "SELECT " TRK_COLUMNS " FROM tracked_chats WHERE id > $1 ORDER BY id LIMIT " TRK_PAGE_S,
    [P_TRK_REMOVE] = "DELETE FROM tracked_chats WHERE id = $1",
    [P_TRK_STATUS] = "UPDATE tracked_chats SET status = $2, error = $3, updated_at = $4,"
                     " last_collected_at = coalesce($5, last_collected_at) WHERE id = $1",
    [P_TRK_EXISTS] = "SELECT id FROM tracked_chats WHERE id = $1",
    /* Only these two write backfill_requested_at (002_backfill_request.sql). */
    [P_TRK_BACKFILL_ASK] = "UPDATE tracked_chats SET backfill_requested_at = $2, updated_at = $3"
                           " WHERE id = $1",
    /* Only this writes media_policy (004_media_policy.sql). */
    [P_TRK_MEDIA_POLICY] =
        "UPDATE tracked_chats SET media_policy = $2, updated_at = $3 WHERE id = $1",
    [P_TRK_BACKFILL_DONE] = "UPDATE tracked_chats SET backfill_requested_at = NULL, updated_at = $3"
                            " WHERE id = $1 AND backfill_requested_at = $2",
    [P_CUR_GET] = "SELECT " CUR_COLUMNS " FROM cursors WHERE chat_id = $1 AND thread_id = $2",
    [P_CUR_PUT] = "INSERT INTO cursors (" CUR_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                  " ON CONFLICT (chat_id, thread_id) DO UPDATE SET newest_id = excluded.newest_id,"
                  " oldest_id = excluded.oldest_id, complete = excluded.complete,"
                  " gap_hi = excluded.gap_hi, gap_from = excluded.gap_from,"
                  " updated_at = excluded.updated_at",
    [P_CUR_PAGE] = "SELECT " CUR_COLUMNS " FROM cursors WHERE chat_id BETWEEN $1 AND $2"
                   " AND (chat_id, thread_id) > ($3, $4)"
                   " ORDER BY chat_id, thread_id LIMIT " CUR_PAGE_S,
    [P_RETENTION] = "SELECT tgh_messages_drop_before($1)",
};

/* ---- errors and the connection ---- */

/* libpq messages end with a newline; the log line should not. */
static int
msg_len(const char *m)
{
    size_t n = strlen(m);

    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    return (int)n;
}

/*
 * Map a failure to our codes and record the detail. Class 08 and the
 * shutdown states mean the connection is gone: TGH_EUNAVAIL, and the next
 * call reconnects. Serialisation failures and deadlocks are worth a retry.
 */
TGH_MUSTCHECK tgh_err
pg_fail(struct pg *pg, const PGresult *res, const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    tgh_err code = TGH_EIO;

    if (*msg == '\0')
        msg = PQerrorMessage(pg->conn);
    if (PQstatus(pg->conn) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
        strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0) {
        /* No SQLSTATE: libpq itself failed, almost always the socket. */
        code = PQstatus(pg->conn) != CONNECTION_OK || state != NULL ? TGH_EUNAVAIL : TGH_EIO;
        if (code == TGH_EUNAVAIL)
            pg->session_ok = false;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
               strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
        code = TGH_EAGAIN;
    } else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0) {
        code = TGH_EINVAL;
    } else if (strncmp(state, "54", 2) == 0) {
        code = TGH_ETOOBIG;
    } else if (strcmp(state, "53200") == 0) {
        code = TGH_ENOMEM;
    }
    return tgh_errf(code, "postgresql: %s: %.*s%s%s%s", what, msg_len(msg), msg,
                    state != NULL ? " (SQLSTATE " : "", state != NULL ? state : "",
                    state != NULL ? ")" : "");
}

/* Run a statement without parameters or results (BEGIN, COMMIT, DDL). */
TGH_MUSTCHECK tgh_err
pg_exec_plain(struct pg *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg->conn, sql);
    tgh_err rc = TGH_OK;

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_fail(pg, r, what);
    PQclear(r);
    return rc;
}

/* Run prepared statement id; *out (may be NULL) receives the result to PQclear(). */
TGH_MUSTCHECK tgh_err
pg_exec_stmt(struct pg *pg, enum stmt_id id, const struct params *p, PGresult **out,
             const char *what)
{
    char name[16];
    PGresult *r;
    tgh_err rc = TGH_OK;

    (void)snprintf(name, sizeof(name), "tgh_%d", (int)id);
    r = PQexecPrepared(pg->conn, name, p != NULL ? p->n : 0, p != NULL ? p->v : NULL, NULL, NULL,
                       0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(pg, r, what);
        PQclear(r);
        return rc;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return TGH_OK;
}

/* Rows a statement changed (INSERT, UPDATE, DELETE). */

void
pg_rollback(struct pg *pg)
{
    if (PQstatus(pg->conn) != CONNECTION_OK || PQtransactionStatus(pg->conn) == PQTRANS_IDLE)
        return;
    PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* Server notices (IF NOT EXISTS, empty search queries) are routine here. */
static void
notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgresql: %.*s", msg_len(message), message);
}

/* What every new connection needs: UTC, the staging tables, the statements. */
TGH_MUSTCHECK static tgh_err
session_prepare(struct pg *pg)
{
    tgh_err rc;

    pg->session_ok = false;
    rc = pg_exec_plain(pg, "SET TIME ZONE 'UTC'", "set time zone");
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, session_sql, "create staging tables");
    for (int i = 0; rc == TGH_OK && i < P_COUNT; i++) {
        char name[16];
        PGresult *r;

        (void)snprintf(name, sizeof(name), "tgh_%d", i);
        r = PQprepare(pg->conn, name, stmt_sql[i], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(pg, r, "prepare");
        PQclear(r);
    }
    pg->session_ok = rc == TGH_OK;
    return rc;
}

/*
 * Make sure the connection is usable: after a failure that lost it, reset
 * (reconnect) and prepare the session again. A server that is still away is
 * TGH_EUNAVAIL; the caller retries later.
 */
TGH_MUSTCHECK tgh_err
pg_conn_ready(struct pg *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK && pg->session_ok)
        return TGH_OK;
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        PQreset(pg->conn);
        if (PQstatus(pg->conn) != CONNECTION_OK)
            return tgh_errf(TGH_EUNAVAIL, "postgresql: reconnect failed: %.*s",
                            msg_len(PQerrorMessage(pg->conn)), PQerrorMessage(pg->conn));
        log_info("postgresql: connection re-established");
    }
    return session_prepare(pg);
}

/* ---- opening ---- */

void
pg_close(void *impl)
{
    struct pg *pg = impl;

    if (pg == NULL)
        return;
    PQfinish(pg->conn);
    tgh_free(pg->uri);
    tgh_free(pg->months);
    tgh_free(pg->reac_buf);
    tgh_free(pg->copy.p);
    tgh_arena_fini(&pg->scratch);
    tgh_arena_fini(&pg->found);
    tgh_free(pg);
}

/* The URL as libpq reads it: "postgresql://" and what followed the scheme. */
static char *
conn_uri(const struct tgh_url *url)
{
    size_t cap = strlen(url->rest) + (url->query != NULL ? strlen(url->query) : 0) + 32;
    char *s = tgh_malloc(cap);

    (void)snprintf(s, cap, "postgresql://%s%s%s", url->rest, url->query != NULL ? "?" : "",
                   url->query != NULL ? url->query : "");
    return s;
}

TGH_MUSTCHECK static tgh_err
connect_db(struct pg *pg, bool must_exist)
{
    const char *keys[] = { "connect_timeout", "client_encoding", "fallback_application_name",
                           "dbname", NULL };
    const char *vals[] = { "10", "UTF8", "tgharvest", pg->uri, NULL };
    const char *err;

    pg->conn = PQconnectdbParams(keys, vals, 1 /* expand dbname: the URI */);
    if (pg->conn == NULL)
        return tgh_errf(TGH_ENOMEM, "postgresql: out of memory");
    (void)PQsetNoticeProcessor(pg->conn, notice, NULL);
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return TGH_OK;
    err = PQerrorMessage(pg->conn);
    if (strstr(err, "does not exist") != NULL)
        return tgh_errf(must_exist ? TGH_ENOTFOUND : TGH_EINVAL,
                        "TGH_STORE: %.*s (create the database first)", msg_len(err), err);
    return tgh_errf(TGH_EUNAVAIL, "TGH_STORE: cannot connect: %.*s", msg_len(err), err);
}

TGH_MUSTCHECK tgh_err
pg_open(const struct tgh_url *url, bool must_exist, void **impl)
{
    struct pg *pg = tgh_calloc(1, sizeof(*pg));
    int64_t is_store = 0;
    tgh_err rc;

    tgh_arena_init(&pg->scratch, 16 * 1024);
    tgh_arena_init(&pg->found, 1024);
    pg->uri = conn_uri(url);
    rc = connect_db(pg, must_exist);
    if (rc != TGH_OK)
        goto out;
    if (must_exist) {
        /* A reader never writes into a database that is not a store. */
        rc = pg_query_i64(pg,
                          "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'"
                          " AND schemaname = current_schema()",
                          &is_store);
        if (rc == TGH_OK && is_store == 0)
            rc = tgh_errf(TGH_ENOTFOUND, "the database of TGH_STORE holds no tgharvest store");
        if (rc != TGH_OK)
            goto out;
    }
    rc = pg_exec_plain(pg, "SET TIME ZONE 'UTC'", "set time zone");
    if (rc == TGH_OK)
        rc = pg_migrate(pg);
    if (rc == TGH_OK)
        rc = session_prepare(pg);
    if (rc == TGH_OK && !must_exist) {
        int64_t now = (int64_t)time(NULL), times[2 * MONTHS_AROUND + 1];

        for (int i = -MONTHS_AROUND; i <= MONTHS_AROUND; i++)
            times[i + MONTHS_AROUND] = now + (int64_t)i * 30 * 86400;
        rc = pg_partitions_ensure(pg, times, TGH_NELEM(times));
    }
out:
    if (rc != TGH_OK) {
        pg_close(pg);
        return rc;
    }
    *impl = pg;
    return TGH_OK;
}

const struct store_backend store_pg_backend = {
    .scheme = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .commit = pg_commit,
    .chat_upsert = pg_chat_upsert,
    .dead_letter_add = pg_dead_letter_add,
    .run_begin = pg_run_begin,
    .run_finish = pg_run_finish,
    .chats_each = pg_chats_each,
    .messages_each = pg_messages_each,
    .versions_each = pg_versions_each,
    .totals_get = pg_totals_get,
    .tombstones_each = pg_tombstones_each,
    .message_buckets = pg_message_buckets,
    .runs_each = pg_runs_each,
    .runs_last_each = pg_runs_last_each,
    .dead_letters_each = pg_dead_letters_each,
    .dead_letter_get = pg_dead_letter_get,
    .dead_letter_retried = pg_dead_letter_retried,
    .dead_letter_resolve = pg_dead_letter_resolve,
    .tracked_put = pg_tracked_put,
    .tracked_each = pg_tracked_each,
    .tracked_find = pg_tracked_find,
    .tracked_remove = pg_tracked_remove,
    .tracked_set_status = pg_tracked_set_status,
    .tracked_request_backfill = pg_tracked_request_backfill,
    .tracked_set_media_policy = pg_tracked_set_media_policy,
    .tracked_backfill_done = pg_tracked_backfill_done,
    .cursor_get = pg_cursor_get,
    .cursor_put = pg_cursor_put,
    .cursors_each = pg_cursors_each,
    .retention_apply = pg_retention_apply,
    .media_job_add = pg_media_job_add,
    .media_jobs_claim = pg_media_jobs_claim,
    .media_job_progress = pg_media_job_progress,
    .media_job_set_upload = pg_media_job_set_upload,
    .media_job_end = pg_media_job_end,
    .media_jobs_each = pg_media_jobs_each,
    .media_job_retry = pg_media_job_retry,
    .media_counts_each = pg_media_counts_each,
    .dedup_find = pg_dedup_find,
    .dedup_put = pg_dedup_put,
    .dedup_each = pg_dedup_each,
    .media_scan_get = pg_media_scan_get,
    .media_scan_put = pg_media_scan_put,
    .bot_state_get = pg_bot_state_get,
    .bot_state_put = pg_bot_state_put,
    .bot_item_put = pg_bot_item_put,
    .bot_item_get = pg_bot_item_get,
    .id_bounds = pg_id_bounds,
    .missing_runs = pg_missing_runs,
    .gaps_put = pg_gaps_put,
    .gaps_each = pg_gaps_each,
    .first_seen_count = pg_first_seen_count,
    .chat_quality = pg_chat_quality,
    .warnings_each = pg_warnings_each,
};
