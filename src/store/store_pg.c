/* SPDX-License-Identifier: MIT */
/*
 * store_pg.c - the PostgreSQL store: one libpq connection per struct store,
 * messages partitioned by UTC month, batches written through COPY.
 *
 * A batch is one transaction that holds an advisory lock per chat it
 * touches, reads the rows of its messages once, decides every event in C
 * with exactly the rules of the SQLite store (store_sqlite.c), then COPYs
 * the resulting rows into temporary staging tables and applies them with a
 * few set-based statements. On any error it is rolled back; a lost
 * connection is TGH_EUNAVAIL and the next call reconnects. The rules are
 * spelled out in docs/internals/store.md.
 */
#define TGH_LOG_SUB "store"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/embed.h"
#include "core/log.h"
#include "core/msg.h"
#include "store/store_int.h"

/* Generated from src/store/migrations/postgresql/NNN_name.sql, in file-name order. */
extern const struct tgh_embedded store_pg_migrations[];

/* Advisory lock class of the store (two-int keys never meet chat ids, one-bigint keys). */
#define LOCK_CLASS    "1952999272"
#define MONTHS_AROUND 3         /* partitions created ahead (and behind) at open */
#define COPY_FLUSH    (1 << 20) /* bytes of COPY data sent at a time */
#define MAX_RANGE_GAP 32        /* message ids apart that still share one lookup range */
#define LOCK_MSGS_MAX 1000      /* messages a batch locks one by one; more: whole chats */
#define PAGE_ROWS     1000      /* rows per page of messages_each */
#define DATE_MAX      INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MAX_PARAMS    20

enum stmt_id {
    P_LOCK_CHATS,
    P_LOCK_MSGS,
    P_FETCH,
    P_PARTITIONS,
    P_CHAT_INSERT,
    P_CHAT_UPDATE,
    P_TOMB_INSERT,
    P_MSG_UPDATE,
    P_MSG_META,
    P_VER_INSERT,
    P_CHAT_UPSERT,
    P_DEAD_ADD,
    P_RUN_BEGIN,
    P_RUN_FINISH,
    P_CHATS,
    P_VERSIONS,
    P_TOTALS,
    P_TOMBSTONES,
    P_BUCKETS_CHAT,
    P_BUCKETS_ALL,
    P_RUNS_LAST,
    P_DL_GET,
    P_DL_RETRIED,
    P_DL_RESOLVE,
    P_TRK_LOCK,
    P_TRK_INSERT,
    P_TRK_UPDATE,
    P_TRK_DROP_SPEC,
    P_TRK_MOVE_SPEC,
    P_TRK_BY_CHAT,
    P_TRK_BY_SPEC,
    P_TRK_BY_NAME,
    P_TRK_BY_AT_SPEC,
    P_TRK_PAGE,
    P_TRK_REMOVE,
    P_TRK_STATUS,
    P_TRK_EXISTS,
    P_TRK_BACKFILL_ASK,
    P_TRK_BACKFILL_DONE,
    P_CUR_GET,
    P_CUR_PUT,
    P_CUR_PAGE,
    P_RETENTION,
    P_COUNT
};

/* The content columns of a message, in the order rows are staged. */
#define MSG_CONTENT                                                                  \
    "date, edit_date, sender_id, sender_type, sender_name, text, thread_id,"         \
    " reply_to_message_id, media_kind, views, forwards, replies, reactions, source," \
    " content_hash, idempotency_key, event"
#define MSG_ALL \
    "chat_id, message_id, " MSG_CONTENT ", first_seen_at, updated_at, deleted_at, version_count"
#define N_CONTENT 17

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

#define COPY_MSG "COPY tgh_stage_msg (op, old_date, " MSG_ALL ", tomb_source) FROM STDIN"
#define COPY_NEW "COPY messages (" MSG_ALL ") FROM STDIN"
#define COPY_VER                                                                              \
    "COPY tgh_stage_ver (chat_id, message_id, version, content_hash, edit_date, text, event," \
    " superseded_at) FROM STDIN"
#define COPY_CHAT "COPY tgh_stage_chat (chat_id, type, title, username) FROM STDIN"

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
                     " refreshed = $8, deleted = $9, errors = $10, error = $11 WHERE id = $1",
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

/* A growing byte buffer: COPY data and pre-rendered rows. */
struct cbuf {
    char *p;
    size_t len, cap;
};

struct pg {
    PGconn *conn;
    char *uri;       /* what libpq connects to (the password is in it: never logged) */
    bool session_ok; /* staging tables and prepared statements exist on conn */
    int64_t *months; /* month starts known to have a partition, unsorted */
    size_t n_months, cap_months;
    char *reac_buf; /* reusable buffer for the reactions JSON of one event */
    size_t reac_cap;
    struct cbuf copy;         /* the COPY data being sent */
    struct tgh_arena scratch; /* merged events */
    struct tgh_arena found;   /* strings of the last store_tracked_find() result */
};

/* ---- parameters ---- */

/* Text-format parameters of one statement; numbers are formatted in place. */
struct params {
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    char *heap[6]; /* arrays, tgh_free()d by params_fini() */
    size_t n_heap;
    int n;
};

static void
params_fini(struct params *p)
{
    for (size_t i = 0; i < p->n_heap; i++)
        tgh_free(p->heap[i]);
    p->n_heap = 0;
}

static void
p_str(struct params *p, const char *s)
{
    if (p->n >= MAX_PARAMS) /* the statements above have fewer: a programming error */
        abort();
    p->v[p->n++] = s;
}

static void
p_int(struct params *p, int64_t v)
{
    if (p->n >= MAX_PARAMS) /* the statements above have fewer: a programming error */
        abort();
    (void)snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* MSG_UNSET is NULL. */
static void
p_i64(struct params *p, int64_t v)
{
    if (v == MSG_UNSET)
        p_str(p, NULL);
    else
        p_int(p, v);
}

/* 0 means "none" in the API and NULL in the optional columns. */
static void
p_nz(struct params *p, int64_t v)
{
    if (v == 0)
        p_str(p, NULL);
    else
        p_int(p, v);
}

static void
p_bool(struct params *p, bool v)
{
    p_str(p, v ? "t" : "f");
}

/* An array of integers as a bigint[] literal: digits, signs and commas only. */
static void
p_array(struct params *p, const int64_t *v, size_t n)
{
    size_t cap = n * 21 + 3, len = 0;
    char *s = tgh_malloc(cap);

    if (p->n_heap >= sizeof(p->heap) / sizeof(p->heap[0]))
        abort();
    s[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%" PRId64, i > 0 ? "," : "", v[i]);
    s[len++] = '}';
    s[len] = '\0';
    p->heap[p->n_heap++] = s;
    p_str(p, s);
}

/* ---- results ---- */

static int64_t
v_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* NULL is MSG_UNSET. */
static int64_t
v_opt(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? MSG_UNSET : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *
v_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static bool
v_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

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
TGH_MUSTCHECK static tgh_err
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
TGH_MUSTCHECK static tgh_err
exec_plain(struct pg *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg->conn, sql);
    tgh_err rc = TGH_OK;

    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_fail(pg, r, what);
    PQclear(r);
    return rc;
}

/* Run prepared statement id; *out (may be NULL) receives the result to PQclear(). */
TGH_MUSTCHECK static tgh_err
exec_stmt(struct pg *pg, enum stmt_id id, const struct params *p, PGresult **out, const char *what)
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
static int64_t
changed(const PGresult *r)
{
    return strtoll(PQcmdTuples((PGresult *)r), NULL, 10);
}

/* Quietly undo an open transaction: the first error's detail stays recorded. */
static void
rollback(struct pg *pg)
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
    rc = exec_plain(pg, "SET TIME ZONE 'UTC'", "set time zone");
    if (rc == TGH_OK)
        rc = exec_plain(pg, session_sql, "create staging tables");
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
TGH_MUSTCHECK static tgh_err
conn_ready(struct pg *pg)
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

/* ---- migrations ---- */

TGH_MUSTCHECK static tgh_err
query_i64(struct pg *pg, const char *sql, int64_t *out)
{
    PGresult *r = PQexec(pg->conn, sql);
    tgh_err rc = TGH_OK;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        rc = pg_fail(pg, r, "query");
    else
        *out = v_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
migrations_check(int64_t current)
{
    int64_t known = 0;

    for (const struct tgh_embedded *m = store_pg_migrations; m->name != NULL; m++) {
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
    return TGH_OK;
}

/*
 * Apply what is missing in one transaction, under an advisory lock: several
 * processes opening a new database at once apply each file exactly once.
 */
TGH_MUSTCHECK static tgh_err
migrate(struct pg *pg)
{
    int64_t current = 0;
    tgh_err rc;

    rc = exec_plain(pg, "BEGIN", "begin migration");
    if (rc != TGH_OK)
        return rc;
    rc = exec_plain(pg, "SELECT pg_advisory_xact_lock(" LOCK_CLASS ", 1)", "lock migrations");
    if (rc == TGH_OK)
        rc = exec_plain(pg,
                        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                        " name text NOT NULL, applied_at bigint NOT NULL)",
                        "create schema_migrations");
    if (rc == TGH_OK)
        rc = query_i64(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", &current);
    if (rc == TGH_OK)
        rc = migrations_check(current);
    for (const struct tgh_embedded *m = store_pg_migrations; rc == TGH_OK && m->name != NULL; m++) {
        int64_t v = store_migration_version(m->name);
        struct params p = { .n = 0 };
        PGresult *r;

        if (v <= current)
            continue;
        rc = exec_plain(pg, m->data, m->name);
        if (rc != TGH_OK)
            break;
        p_int(&p, v);
        p_str(&p, m->name);
        p_int(&p, (int64_t)time(NULL));
        r = PQexecParams(pg->conn,
                         "INSERT INTO schema_migrations (version, name, applied_at)"
                         " VALUES ($1, $2, $3)",
                         p.n, NULL, p.v, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(pg, r, "record migration");
        PQclear(r);
        if (rc == TGH_OK)
            log_info("applied migration %s", m->name);
    }
    if (rc == TGH_OK)
        rc = exec_plain(pg, "COMMIT", "commit migration");
    if (rc != TGH_OK)
        rollback(pg);
    return rc;
}

/* ---- partitions ---- */

static bool
month_known(const struct pg *pg, int64_t month)
{
    for (size_t i = 0; i < pg->n_months; i++)
        if (pg->months[i] == month)
            return true;
    return false;
}

/*
 * Create the monthly partitions the times need, each in its own short
 * transaction before the batch's (creating a partition locks the parent
 * table; an empty partition left by a rolled-back batch is harmless).
 */
TGH_MUSTCHECK static tgh_err
partitions_ensure(struct pg *pg, const int64_t *times, size_t n)
{
    int64_t *need = tgh_malloc((n > 0 ? n : 1) * sizeof(*need));
    struct params p = { .n = 0 };
    size_t n_need = 0;
    tgh_err rc = TGH_OK;

    for (size_t i = 0; i < n; i++) {
        int64_t m = store_month_start(times[i]);
        bool dup = month_known(pg, m);

        for (size_t j = 0; !dup && j < n_need; j++)
            dup = need[j] == m;
        if (!dup)
            need[n_need++] = m;
    }
    if (n_need > 0) {
        p_array(&p, need, n_need);
        rc = exec_stmt(pg, P_PARTITIONS, &p, NULL, "create partitions");
        params_fini(&p);
    }
    for (size_t i = 0; rc == TGH_OK && i < n_need; i++) {
        if (pg->n_months == pg->cap_months) {
            pg->cap_months = pg->cap_months > 0 ? pg->cap_months * 2 : 32;
            pg->months = tgh_realloc(pg->months, pg->cap_months * sizeof(*pg->months));
        }
        pg->months[pg->n_months++] = need[i];
    }
    tgh_free(need);
    return rc;
}

/* ---- opening ---- */

static void
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

TGH_MUSTCHECK static tgh_err
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
        rc = query_i64(pg,
                       "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'"
                       " AND schemaname = current_schema()",
                       &is_store);
        if (rc == TGH_OK && is_store == 0)
            rc = tgh_errf(TGH_ENOTFOUND, "the database of TGH_STORE holds no tgharvest store");
        if (rc != TGH_OK)
            goto out;
    }
    rc = exec_plain(pg, "SET TIME ZONE 'UTC'", "set time zone");
    if (rc == TGH_OK)
        rc = migrate(pg);
    if (rc == TGH_OK)
        rc = session_prepare(pg);
    if (rc == TGH_OK && !must_exist) {
        int64_t now = (int64_t)time(NULL), times[2 * MONTHS_AROUND + 1];

        for (int i = -MONTHS_AROUND; i <= MONTHS_AROUND; i++)
            times[i + MONTHS_AROUND] = now + (int64_t)i * 30 * 86400;
        rc = partitions_ensure(pg, times, sizeof(times) / sizeof(times[0]));
    }
out:
    if (rc != TGH_OK) {
        pg_close(pg);
        return rc;
    }
    *impl = pg;
    return TGH_OK;
}

/* ---- COPY ---- */

static void
cb_reserve(struct cbuf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    while (b->len + more > b->cap)
        b->cap = b->cap > 0 ? b->cap * 2 : 64 * 1024;
    b->p = tgh_realloc(b->p, b->cap);
}

static void
cb_null(struct cbuf *b)
{
    cb_reserve(b, 3);
    memcpy(b->p + b->len, "\\N\t", 3);
    b->len += 3;
}

static void
cb_int(struct cbuf *b, int64_t v)
{
    cb_reserve(b, 24);
    b->len += (size_t)snprintf(b->p + b->len, 24, "%" PRId64 "\t", v);
}

/* MSG_UNSET is NULL. */
static void
cb_i64(struct cbuf *b, int64_t v)
{
    if (v == MSG_UNSET)
        cb_null(b);
    else
        cb_int(b, v);
}

/* A text field of COPY's text format: backslash, tab, newline and CR escaped. */
static void
cb_textn(struct cbuf *b, const char *s, size_t n)
{
    char *o;

    if (s == NULL) {
        cb_null(b);
        return;
    }
    cb_reserve(b, 2 * n + 1);
    o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        switch (c) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            *o++ = c;
            break;
        }
    }
    *o++ = '\t';
    b->len = (size_t)(o - b->p);
}

static void
cb_text(struct cbuf *b, const char *s)
{
    cb_textn(b, s, s != NULL ? strlen(s) : 0);
}

static void
cb_raw(struct cbuf *b, const char *s, size_t n)
{
    cb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Every field ends in a tab; the row's last one ends it instead. */
static void
cb_row_end(struct cbuf *b)
{
    b->p[b->len - 1] = '\n';
}

/* Start COPY ... FROM STDIN. */
TGH_MUSTCHECK static tgh_err
copy_begin(struct pg *pg, const char *sql)
{
    PGresult *r = PQexec(pg->conn, sql);
    tgh_err rc = TGH_OK;

    if (PQresultStatus(r) != PGRES_COPY_IN)
        rc = pg_fail(pg, r, "start copy");
    PQclear(r);
    pg->copy.len = 0;
    return rc;
}

/* Send what the buffer holds once it is big enough (always, when force). */
TGH_MUSTCHECK static tgh_err
copy_flush(struct pg *pg, bool force)
{
    if (pg->copy.len == 0 || (!force && pg->copy.len < COPY_FLUSH))
        return TGH_OK;
    if (PQputCopyData(pg->conn, pg->copy.p, (int)pg->copy.len) != 1)
        return pg_fail(pg, NULL, "copy data");
    pg->copy.len = 0;
    return TGH_OK;
}

/* Finish the COPY; the server reports bad data only now. */
TGH_MUSTCHECK static tgh_err
copy_end(struct pg *pg, tgh_err rc)
{
    PGresult *r;

    if (rc == TGH_OK)
        rc = copy_flush(pg, true);
    if (PQputCopyEnd(pg->conn, rc == TGH_OK ? NULL : "batch failed") != 1 && rc == TGH_OK)
        rc = pg_fail(pg, NULL, "end copy");
    while ((r = PQgetResult(pg->conn)) != NULL) {
        if (rc == TGH_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(pg, r, "copy");
        PQclear(r);
    }
    pg->copy.len = 0;
    return rc;
}

/* ---- one batch ---- */

/* A version (content and edit date) a message had. */
struct known_ver {
    char hash[MSG_HASH_HEX_LEN + 1];
    int64_t edit_date;
};

/*
 * One message of a batch: what is stored (in_db) and what the events so far
 * made of it. Strings are borrowed (from the fetch result or the batch's
 * events) or owned (the _own twin, freed with the batch).
 */
struct kstate {
    int64_t chat_id, message_id;
    bool in_db;      /* a row existed when the batch began */
    int64_t db_date; /* its partition key then */
    bool exists;     /* a row exists now */
    char hash[MSG_HASH_HEX_LEN + 1];
    int64_t date, edit_date, version_count, deleted_at, first_seen_at;
    const char *text;
    char *text_own;
    const char *event;
    char *event_own;
    size_t event_len;
    const struct msg_event *ins_ev; /* the row is this event as inserted, unchanged since */
    char *cols;                     /* else: its content columns, rendered for COPY */
    size_t cols_len;
    bool dirty;      /* content to write */
    bool meta_dirty; /* version_count or deleted_at to write */
    bool has_tomb, tomb_new;
    int64_t tomb_at;
    const char *tomb_source;
    struct known_ver *vers;
    size_t n_vers, cap_vers;
};

/* A row for message_versions. */
struct new_ver {
    int64_t chat_id, message_id, version, edit_date;
    char hash[MSG_HASH_HEX_LEN + 1];
    char *text;
    char *event;
    size_t event_len;
};

/* The chat row an event names, as the batch's events leave it. */
struct chat_final {
    int64_t chat_id;
    const char *type, *title, *username; /* NULL: not known from the batch */
};

struct batch {
    int64_t now;
    const struct msg_event *ev;
    size_t n;
    const char **json; /* the canonical JSON of each upsert event */
    size_t *json_len;
    char **json_own;
    struct kstate *ks;
    size_t n_ks;
    size_t *slot; /* hash of (chat_id, message_id) -> index into ks + 1 */
    size_t n_slot;
    struct new_ver *vers;
    size_t n_vers, cap_vers;
    struct chat_final *chats;
    size_t n_chats;
    PGresult *fetched;
    size_t n_ins, n_upd, n_meta, n_tomb;
    struct store_stats add;
};

static void
batch_fini(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        tgh_free(b->json_own[i]);
    for (size_t i = 0; i < b->n_ks; i++) {
        tgh_free(b->ks[i].text_own);
        tgh_free(b->ks[i].event_own);
        tgh_free(b->ks[i].cols);
        tgh_free(b->ks[i].vers);
    }
    for (size_t i = 0; i < b->n_vers; i++) {
        tgh_free(b->vers[i].text);
        tgh_free(b->vers[i].event);
    }
    tgh_free(b->json);
    tgh_free(b->json_len);
    tgh_free(b->json_own);
    tgh_free(b->ks);
    tgh_free(b->slot);
    tgh_free(b->vers);
    tgh_free(b->chats);
    PQclear(b->fetched);
}

static size_t
key_hash(int64_t chat_id, int64_t message_id)
{
    uint64_t h = (uint64_t)chat_id * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)message_id;

    h ^= h >> 31;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    return (size_t)(h ^ (h >> 29));
}

/* The state of (chat_id, message_id); NULL when not in the batch and !add. */
static struct kstate *
ks_get(struct batch *b, int64_t chat_id, int64_t message_id, bool add)
{
    size_t i = key_hash(chat_id, message_id) & (b->n_slot - 1);

    for (; b->slot[i] != 0; i = (i + 1) & (b->n_slot - 1)) {
        struct kstate *k = &b->ks[b->slot[i] - 1];

        if (k->chat_id == chat_id && k->message_id == message_id)
            return k;
    }
    if (!add)
        return NULL;
    struct kstate *k = &b->ks[b->n_ks++];

    b->slot[i] = b->n_ks;
    k->chat_id = chat_id;
    k->message_id = message_id;
    k->deleted_at = MSG_UNSET;
    k->edit_date = MSG_UNSET;
    return k;
}

static void
ks_text_set(struct kstate *k, const char *s)
{
    tgh_free(k->text_own);
    k->text_own = s != NULL ? tgh_strdup(s) : NULL;
    k->text = k->text_own;
}

static void
ks_ver_add(struct kstate *k, const char *hash, int64_t edit_date)
{
    if (k->n_vers == k->cap_vers) {
        k->cap_vers = k->cap_vers > 0 ? k->cap_vers * 2 : 4;
        k->vers = tgh_realloc(k->vers, k->cap_vers * sizeof(*k->vers));
    }
    (void)snprintf(k->vers[k->n_vers].hash, sizeof(k->vers[0].hash), "%s", hash);
    k->vers[k->n_vers].edit_date = edit_date;
    k->n_vers++;
}

/* Is this exact version (content and edit date) among the previous ones? */
static bool
ks_ver_known(const struct kstate *k, const struct msg_event *ev)
{
    for (size_t i = 0; i < k->n_vers; i++)
        if (strcmp(k->vers[i].hash, ev->content_hash) == 0 && k->vers[i].edit_date == ev->edit_date)
            return true;
    return false;
}

/* Record a row for message_versions: version k->version_count + 1. */
static void
version_add(struct batch *b, struct kstate *k, const char *hash, int64_t edit_date,
            const char *text, const char *event, size_t event_len)
{
    struct new_ver *v;

    if (b->n_vers == b->cap_vers) {
        b->cap_vers = b->cap_vers > 0 ? b->cap_vers * 2 : 16;
        b->vers = tgh_realloc(b->vers, b->cap_vers * sizeof(*b->vers));
    }
    v = &b->vers[b->n_vers++];
    v->chat_id = k->chat_id;
    v->message_id = k->message_id;
    v->version = k->version_count + 1;
    (void)snprintf(v->hash, sizeof(v->hash), "%s", hash);
    v->edit_date = edit_date;
    v->text = text != NULL ? tgh_strdup(text) : NULL;
    v->event = tgh_strndup(event, event_len);
    v->event_len = event_len;
    ks_ver_add(k, hash, edit_date);
    k->version_count++;
    k->meta_dirty = true;
}

/*
 * The content columns of event m (encoded as json) for COPY, in MSG_CONTENT
 * order; the same values the SQLite store binds (bind_event_columns()).
 */
TGH_MUSTCHECK static tgh_err
render_content(struct pg *pg, struct cbuf *out, const struct msg_event *m, const char *hash,
               const char *json, size_t json_len)
{
    const char *reac = NULL;
    size_t reac_len = 0;
    char key[48];

    if (msg_event_key(m, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    if (m->has_reactions)
        reac = store_reactions_json(m, &pg->reac_buf, &pg->reac_cap, &reac_len);
    cb_i64(out, m->date);
    cb_i64(out, m->edit_date);
    cb_i64(out, m->sender_id);
    cb_text(out, msg_peer_type_name(m->sender_type));
    cb_text(out, m->sender_name);
    cb_text(out, m->text);
    cb_i64(out, m->thread_id);
    cb_i64(out, m->reply_to_message_id);
    cb_text(out, m->media != NULL ? m->media->kind : NULL);
    cb_i64(out, m->views);
    cb_i64(out, m->forwards);
    cb_i64(out, m->replies);
    cb_textn(out, reac, reac_len);
    cb_text(out, msg_source_name(m->source));
    cb_textn(out, hash, MSG_HASH_HEX_LEN);
    cb_text(out, key);
    cb_textn(out, json, json_len);
    return TGH_OK;
}

/* The row takes event m's content and state (json is m encoded, taken over). */
TGH_MUSTCHECK static tgh_err
ks_rewrite(struct pg *pg, struct kstate *k, const struct msg_event *m, char *json, size_t json_len)
{
    struct cbuf cols = { 0 };
    tgh_err rc;

    if (m->date == MSG_UNSET || m->date < 0 || m->date > DATE_MAX) {
        tgh_free(json);
        return tgh_errf(TGH_EINVAL, "message date out of range");
    }
    rc = render_content(pg, &cols, m, m->content_hash, json, json_len);
    if (rc != TGH_OK) {
        tgh_free(cols.p);
        tgh_free(json);
        return rc;
    }
    tgh_free(k->cols);
    k->cols = cols.p;
    k->cols_len = cols.len;
    k->ins_ev = NULL;
    (void)snprintf(k->hash, sizeof(k->hash), "%s", m->content_hash);
    k->date = m->date;
    k->edit_date = m->edit_date;
    ks_text_set(k, m->text);
    tgh_free(k->event_own);
    k->event_own = json;
    k->event = json;
    k->event_len = json_len;
    k->dirty = true;
    return TGH_OK;
}

/*
 * The event the row should hold: what the stored event and the new one know,
 * merged; a stored event that no longer decodes is replaced by the new one
 * (the same fallback as the SQLite store's merged_event()).
 */
TGH_MUSTCHECK static tgh_err
merged_event(struct pg *pg, const struct kstate *k, const struct msg_event *ev, struct msg_event *m,
             char **json, size_t *json_len)
{
    tgh_arena_reset(&pg->scratch);
    if (codec_event_merge(k->event, k->event_len, ev, &pg->scratch, m) != TGH_OK) {
        log_warn("chat=%" PRId64 " msg=%" PRId64 " stored event unreadable, replaced: %s",
                 ev->chat_id, ev->message_id, tgh_errmsg());
        *m = *ev;
        m->raw = json_incref(ev->raw);
        m->action_params = json_incref(ev->action_params);
        m->buttons = json_incref(ev->buttons);
    }
    return codec_event_encode(m, json, json_len);
}

/* Same content, other state: merge, and write unless that is what is stored. */
TGH_MUSTCHECK static tgh_err
refresh_state(struct pg *pg, struct kstate *k, const struct msg_event *ev, bool *refreshed)
{
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    *refreshed = false;
    msg_event_init(&m);
    rc = merged_event(pg, k, ev, &m, &json, &json_len);
    if (rc == TGH_OK && !codec_event_same_state(k->event, k->event_len, json, json_len)) {
        rc = ks_rewrite(pg, k, &m, json, json_len);
        json = NULL;
        *refreshed = rc == TGH_OK;
    }
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/*
 * An older version arrived after a newer one: it becomes history, and the
 * row only learns state it did not know from it.
 */
TGH_MUSTCHECK static tgh_err
save_old_version(struct pg *pg, struct batch *b, struct kstate *k, const struct msg_event *ev,
                 const char *json, size_t json_len)
{
    struct msg_event cur, m;
    char *mjson = NULL;
    size_t mlen = 0;
    tgh_err rc;

    version_add(b, k, ev->content_hash, ev->edit_date, ev->text, json, json_len);
    /* The row is the newer side of the merge: its values win, its gaps are filled. */
    tgh_arena_reset(&pg->scratch);
    msg_event_init(&m);
    if (codec_event_decode(k->event, k->event_len, &pg->scratch, &cur) != TGH_OK)
        return TGH_OK; /* an unreadable row is replaced by the next current event */
    rc = codec_event_merge(json, json_len, &cur, &pg->scratch, &m);
    msg_event_fini(&cur);
    if (rc == TGH_OK)
        rc = codec_event_encode(&m, &mjson, &mlen);
    if (rc == TGH_OK && !codec_event_same_state(k->event, k->event_len, mjson, mlen)) {
        rc = ks_rewrite(pg, k, &m, mjson, mlen);
        mjson = NULL;
    }
    tgh_free(mjson);
    msg_event_fini(&m);
    return rc;
}

/* The content changed: the row becomes a version and takes the new content. */
TGH_MUSTCHECK static tgh_err
new_version(struct pg *pg, struct batch *b, struct kstate *k, const struct msg_event *ev)
{
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    version_add(b, k, k->hash, k->edit_date, k->text, k->event, k->event_len);
    msg_event_init(&m);
    rc = merged_event(pg, k, ev, &m, &json, &json_len);
    if (rc == TGH_OK) {
        rc = ks_rewrite(pg, k, &m, json, json_len);
        json = NULL;
    }
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/* The message exists: unchanged, refreshed or versioned, as in upsert_existing(). */
TGH_MUSTCHECK static tgh_err
upsert_existing(struct pg *pg, struct batch *b, struct kstate *k, const struct msg_event *ev,
                const char *json, size_t json_len)
{
    bool same_hash = strcmp(k->hash, ev->content_hash) == 0, refreshed;
    bool is_older = k->edit_date != MSG_UNSET &&
                    (ev->edit_date == MSG_UNSET ? !same_hash : ev->edit_date < k->edit_date);
    tgh_err rc;

    if (same_hash && !is_older) {
        if (codec_event_same_state(k->event, k->event_len, json, json_len)) {
            b->add.unchanged++;
            return TGH_OK;
        }
        rc = refresh_state(pg, k, ev, &refreshed);
        if (rc == TGH_OK && refreshed)
            b->add.refreshed++;
        else if (rc == TGH_OK)
            b->add.unchanged++;
        return rc;
    }
    /* A redelivered previous version changes nothing. */
    if (ks_ver_known(k, ev)) {
        b->add.unchanged++;
        return TGH_OK;
    }
    rc = is_older ? save_old_version(pg, b, k, ev, json, json_len) : new_version(pg, b, k, ev);
    if (rc == TGH_OK)
        b->add.versioned++;
    return rc;
}

/* A new row from event ev; a deletion seen before it tombstones it at once. */
static void
insert_new(struct batch *b, struct kstate *k, const struct msg_event *ev, const char *json,
           size_t json_len)
{
    k->exists = true;
    k->ins_ev = ev;
    (void)snprintf(k->hash, sizeof(k->hash), "%s", ev->content_hash);
    k->date = ev->date;
    k->edit_date = ev->edit_date;
    k->text = ev->text;
    k->event = json;
    k->event_len = json_len;
    k->version_count = 0;
    k->deleted_at = k->has_tomb ? k->tomb_at : MSG_UNSET;
    k->first_seen_at = ev->observed_at != MSG_UNSET ? ev->observed_at : b->now;
    k->dirty = true;
    b->add.inserted++;
}

/* A delete only ever sets deleted_at; an unknown message gets a tombstone row. */
static void
apply_delete(struct batch *b, struct kstate *k, const struct msg_event *ev)
{
    int64_t at = ev->observed_at != MSG_UNSET ? ev->observed_at : b->now;

    if (k->exists) {
        if (k->deleted_at == MSG_UNSET) {
            k->deleted_at = at;
            k->meta_dirty = true;
            b->add.deleted++;
        } else {
            b->add.unchanged++;
        }
    } else if (!k->has_tomb) {
        k->has_tomb = true;
        k->tomb_new = true;
        k->tomb_at = at;
        k->tomb_source = msg_source_name(ev->source);
        b->add.delete_unknown++;
    } else {
        b->add.unchanged++;
    }
}

/* Refuse what the SQLite store would refuse, before anything is written. */
TGH_MUSTCHECK static tgh_err
check_event(const struct msg_event *ev)
{
    char key[48];

    if (ev->op == MSG_OP_DELETE)
        return TGH_OK;
    if (strlen(ev->content_hash) != MSG_HASH_HEX_LEN)
        return tgh_errf(TGH_EINVAL, "event was not finalized (no content_hash)");
    if (ev->date == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "message without a date (messages.date is NOT NULL)");
    if (ev->date < 0 || ev->date > DATE_MAX)
        return tgh_errf(TGH_EINVAL, "message date %" PRId64 " out of range", ev->date);
    if (msg_event_key(ev, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    return TGH_OK;
}

/* "event i of n (chat, message): detail", as the SQLite store words it. */
TGH_MUSTCHECK static tgh_err
event_fail(tgh_err rc, const struct batch *b, size_t i)
{
    char detail[512];

    /* tgh_errf() writes the buffer it would read: copy it first. */
    (void)snprintf(detail, sizeof(detail), "%s", tgh_errmsg());
    return tgh_errf(rc, "event %zu of %zu (chat %" PRId64 ", message %" PRId64 "): %s", i, b->n,
                    b->ev[i].chat_id, b->ev[i].message_id, detail);
}

/* Check and encode every event, index the keys and fold the chats. */
TGH_MUSTCHECK static tgh_err
batch_init(struct batch *b, const struct msg_event *ev, size_t n)
{
    tgh_err rc;

    b->now = (int64_t)time(NULL);
    b->ev = ev;
    b->n = n;
    b->json = tgh_calloc(n, sizeof(*b->json));
    b->json_len = tgh_calloc(n, sizeof(*b->json_len));
    b->json_own = tgh_calloc(n, sizeof(*b->json_own));
    b->ks = tgh_calloc(n, sizeof(*b->ks));
    for (b->n_slot = 16; b->n_slot < 2 * n; b->n_slot *= 2)
        ;
    b->slot = tgh_calloc(b->n_slot, sizeof(*b->slot));
    b->chats = tgh_calloc(n, sizeof(*b->chats));
    for (size_t i = 0; i < n; i++) {
        const struct msg_event *e = &ev[i];
        struct chat_final *c = NULL;

        rc = check_event(e);
        if (rc != TGH_OK)
            return event_fail(rc, b, i);
        (void)ks_get(b, e->chat_id, e->message_id, true);
        if (e->op == MSG_OP_DELETE)
            continue;
        if (e->encoded != NULL) {
            b->json[i] = e->encoded;
            b->json_len[i] = e->encoded_len;
        } else {
            rc = codec_event_encode(e, &b->json_own[i], &b->json_len[i]);
            if (rc != TGH_OK)
                return event_fail(rc, b, i);
            b->json[i] = b->json_own[i];
        }
        /* Later events win where they know something, as successive upserts would. */
        for (size_t j = b->n_chats; j > 0 && c == NULL; j--)
            if (b->chats[j - 1].chat_id == e->chat_id)
                c = &b->chats[j - 1];
        if (c == NULL) {
            c = &b->chats[b->n_chats++];
            c->chat_id = e->chat_id;
        }
        if (e->chat_type != MSG_CHAT_UNKNOWN)
            c->type = msg_chat_type_name(e->chat_type);
        if (e->chat_title != NULL)
            c->title = e->chat_title;
        if (e->chat_username != NULL)
            c->username = e->chat_username;
    }
    return TGH_OK;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int
cmp_key(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;

    if (x[0] != y[0])
        return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/*
 * The batch's advisory locks. A writer holds a shared lock on each chat it
 * touches and an exclusive lock on each message, so two workers committing
 * different pages of one chat run side by side, while two batches holding
 * one message are serialized (its rows are read, decided on and written in
 * one go). A batch of more than LOCK_MSGS_MAX messages locks its chats
 * exclusively instead, which also excludes every message writer of them.
 * Keys are taken sorted, chats before messages, so writers never deadlock.
 */
/*
 * One message's lock key: the two 32-bit halves of a 64-bit mix of (chat,
 * message), as the two int4 keys of pg_advisory_xact_lock(int, int).
 */
static void
msg_lock_key(int64_t chat_id, int64_t message_id, int64_t out[2])
{
    uint64_t h = (uint64_t)chat_id * 0x9e3779b97f4a7c15ULL ^ (uint64_t)message_id;

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    out[0] = (int32_t)(uint32_t)(h >> 32);
    out[1] = (int32_t)(uint32_t)h;
}

TGH_MUSTCHECK static tgh_err
lock_chats(struct pg *pg, const struct batch *b)
{
    int64_t *ids = tgh_malloc(b->n_ks * sizeof(*ids));
    int64_t *mk = NULL;
    bool whole = b->n_ks > LOCK_MSGS_MAX;
    struct params p = { .n = 0 };
    size_t n = 0;
    tgh_err rc;

    for (size_t i = 0; i < b->n_ks; i++)
        ids[n++] = b->ks[i].chat_id;
    qsort(ids, n, sizeof(*ids), cmp_i64);
    for (size_t i = 1, w = 1; i <= n; i++) {
        if (i == n) {
            n = w;
            break;
        }
        if (ids[i] != ids[w - 1])
            ids[w++] = ids[i];
    }
    p_array(&p, ids, n);
    p_bool(&p, whole);
    rc = exec_stmt(pg, P_LOCK_CHATS, &p, NULL, "lock chats");
    params_fini(&p);
    tgh_free(ids);
    if (rc != TGH_OK || whole)
        return rc;
    mk = tgh_malloc(3 * b->n_ks * sizeof(*mk));
    for (size_t i = 0; i < b->n_ks; i++)
        msg_lock_key(b->ks[i].chat_id, b->ks[i].message_id, mk + 2 * i);
    qsort(mk, b->n_ks, 2 * sizeof(*mk), cmp_key);
    /* The second halves after the pairs, so that each half is one array. */
    for (size_t i = 0; i < b->n_ks; i++)
        mk[2 * b->n_ks + i] = mk[2 * i + 1];
    for (size_t i = 0; i < b->n_ks; i++)
        mk[i] = mk[2 * i];
    p = (struct params){ .n = 0 };
    p_array(&p, mk, b->n_ks);
    p_array(&p, mk + 2 * b->n_ks, b->n_ks);
    rc = exec_stmt(pg, P_LOCK_MSGS, &p, NULL, "lock messages");
    params_fini(&p);
    tgh_free(mk);
    return rc;
}

/* Rows of P_FETCH into the batch's states. */
static void
fetched_apply(struct batch *b)
{
    const PGresult *r = b->fetched;

    for (int i = 0; i < PQntuples(r); i++) {
        char kind = PQgetvalue(r, i, 0)[0];
        struct kstate *k = ks_get(b, v_i64(r, i, 1), v_i64(r, i, 2), false);

        if (k == NULL) /* inside a lookup range, not in the batch */
            continue;
        if (kind == 'm') {
            k->in_db = k->exists = true;
            k->db_date = k->date = v_i64(r, i, 3);
            (void)snprintf(k->hash, sizeof(k->hash), "%s", PQgetvalue(r, i, 4));
            k->edit_date = v_opt(r, i, 5);
            k->text = v_str(r, i, 6);
            k->event = PQgetvalue(r, i, 7);
            k->event_len = (size_t)PQgetlength(r, i, 7);
            k->version_count = v_i64(r, i, 8);
            k->deleted_at = v_opt(r, i, 9);
        } else if (kind == 'v') {
            ks_ver_add(k, PQgetvalue(r, i, 4), v_opt(r, i, 5));
        } else {
            k->has_tomb = true;
            k->tomb_at = v_i64(r, i, 9);
        }
    }
}

/*
 * Read the stored rows, versions and tombstones of the batch's messages.
 * Rows are looked up by (chat_id, message_id) ranges: message ids of a chat
 * that are close share one range, so a batch costs a few index probes per
 * partition instead of one per message and partition.
 */
TGH_MUSTCHECK static tgh_err
fetch_existing(struct pg *pg, struct batch *b)
{
    int64_t *keys = tgh_malloc(2 * b->n_ks * sizeof(*keys));
    int64_t *rc_chat = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *rc_lo = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *rc_hi = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *k_chat = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *k_msg = tgh_malloc(b->n_ks * sizeof(int64_t));
    struct params p = { .n = 0 };
    size_t n_r = 0;
    tgh_err rc;

    for (size_t i = 0; i < b->n_ks; i++) {
        keys[2 * i] = b->ks[i].chat_id;
        keys[2 * i + 1] = b->ks[i].message_id;
    }
    qsort(keys, b->n_ks, 2 * sizeof(*keys), cmp_key);
    for (size_t i = 0; i < b->n_ks; i++) {
        int64_t c = keys[2 * i], m = keys[2 * i + 1];

        k_chat[i] = c;
        k_msg[i] = m;
        if (n_r > 0 && rc_chat[n_r - 1] == c && m - rc_hi[n_r - 1] <= MAX_RANGE_GAP) {
            rc_hi[n_r - 1] = m;
            continue;
        }
        rc_chat[n_r] = c;
        rc_lo[n_r] = rc_hi[n_r] = m;
        n_r++;
    }
    p_array(&p, rc_chat, n_r);
    p_array(&p, rc_lo, n_r);
    p_array(&p, rc_hi, n_r);
    p_array(&p, k_chat, b->n_ks);
    p_array(&p, k_msg, b->n_ks);
    /*
     * The lookup reads a few rows of big tables: index probes, never a scan.
     * Otherwise a plan made while a partition was new and nearly empty (a
     * sequential scan is cheapest then) is cached and kept as the partition
     * grows, and every batch reads it whole.
     */
    rc = exec_plain(pg, "SET LOCAL enable_seqscan = off", "plan the lookup");
    if (rc == TGH_OK)
        rc = exec_stmt(pg, P_FETCH, &p, &b->fetched, "read messages");
    if (rc == TGH_OK)
        rc = exec_plain(pg, "SET LOCAL enable_seqscan = on", "plan the lookup");
    params_fini(&p);
    tgh_free(keys);
    tgh_free(rc_chat);
    tgh_free(rc_lo);
    tgh_free(rc_hi);
    tgh_free(k_chat);
    tgh_free(k_msg);
    if (rc == TGH_OK)
        fetched_apply(b);
    return rc;
}

/* Every event in order, against the states: the SQLite store's rules. */
TGH_MUSTCHECK static tgh_err
decide(struct pg *pg, struct batch *b, enum store_change *changes)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct msg_event *e = &b->ev[i];
        struct kstate *k = ks_get(b, e->chat_id, e->message_id, false);
        struct store_stats before = b->add;
        tgh_err rc = TGH_OK;

        if (e->op == MSG_OP_DELETE)
            apply_delete(b, k, e);
        else if (!k->exists)
            insert_new(b, k, e, b->json[i], b->json_len[i]);
        else
            rc = upsert_existing(pg, b, k, e, b->json[i], b->json_len[i]);
        if (changes != NULL)
            changes[i] = store_change_between(&before, &b->add);
        if (rc != TGH_OK)
            return event_fail(rc, b, i);
    }
    return TGH_OK;
}

/*
 * The first fields of a staged message row: op, old_date, keys, content and
 * first_seen_at; the caller adds updated_at, deleted_at, version_count and
 * tomb_source. A new message COPYed straight into messages (direct) starts
 * at the keys.
 */
TGH_MUSTCHECK static tgh_err
stage_row(struct pg *pg, char op, const struct kstate *k, bool direct)
{
    struct cbuf *c = &pg->copy;
    tgh_err rc = TGH_OK;

    if (!direct) {
        cb_textn(c, &op, 1);
        cb_i64(c, k->in_db ? k->db_date : MSG_UNSET);
    }
    cb_int(c, k->chat_id);
    cb_int(c, k->message_id);
    if (op == 'm' || op == 't') {
        for (int i = 0; i < N_CONTENT; i++)
            cb_null(c);
    } else if (k->cols != NULL) {
        cb_raw(c, k->cols, k->cols_len);
    } else {
        rc = render_content(pg, c, k->ins_ev, k->hash, k->event, k->event_len);
    }
    cb_i64(c, op == 't' ? MSG_UNSET : k->first_seen_at);
    return rc;
}

/* What the batch does to a message row: 'i' new, 'u' rewrite, 'm' meta only, 0 nothing. */
static char
row_op(const struct kstate *k)
{
    if (k->exists && !k->in_db)
        return 'i';
    if (k->in_db && k->dirty)
        return 'u';
    if (k->in_db && k->meta_dirty)
        return 'm';
    return 0;
}

/*
 * The batch's message rows: new messages COPYed straight into messages (the
 * lookup under the batch's locks proved them absent), the others, and
 * tombstones of unknown messages, staged for the set-based statements.
 */
TGH_MUSTCHECK static tgh_err
stage_messages(struct pg *pg, struct batch *b)
{
    struct cbuf *c = &pg->copy;
    size_t staged = 0;
    tgh_err rc = TGH_OK;

    for (size_t i = 0; i < b->n_ks; i++) {
        char op = row_op(&b->ks[i]);

        b->n_ins += op == 'i';
        staged += (op == 'u' || op == 'm') + b->ks[i].tomb_new;
    }
    if (b->n_ins > 0) {
        rc = copy_begin(pg, COPY_NEW);
        for (size_t i = 0; rc == TGH_OK && i < b->n_ks; i++) {
            struct kstate *k = &b->ks[i];

            if (row_op(k) != 'i')
                continue;
            rc = stage_row(pg, 'i', k, true);
            if (rc != TGH_OK)
                break;
            cb_int(c, b->now);
            cb_i64(c, k->deleted_at);
            cb_int(c, k->version_count);
            cb_row_end(c);
            rc = copy_flush(pg, false);
        }
        rc = copy_end(pg, rc);
    }
    if (rc != TGH_OK || staged == 0)
        return rc;
    rc = copy_begin(pg, COPY_MSG);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; rc == TGH_OK && i < b->n_ks; i++) {
        struct kstate *k = &b->ks[i];
        char op = row_op(k);

        if (op == 'u' || op == 'm') {
            rc = stage_row(pg, op, k, false);
            if (rc != TGH_OK)
                break;
            cb_int(c, b->now);
            cb_i64(c, k->deleted_at);
            cb_int(c, k->version_count);
            cb_null(c);
            cb_row_end(c);
            b->n_upd += op == 'u';
            b->n_meta += op == 'm';
        }
        if (k->tomb_new) {
            rc = stage_row(pg, 't', k, false);
            if (rc != TGH_OK)
                break;
            cb_null(c);
            cb_int(c, k->tomb_at);
            cb_null(c);
            cb_text(c, k->tomb_source);
            cb_row_end(c);
            b->n_tomb++;
        }
        rc = copy_flush(pg, false);
    }
    return copy_end(pg, rc);
}

TGH_MUSTCHECK static tgh_err
stage_versions(struct pg *pg, struct batch *b)
{
    struct cbuf *c = &pg->copy;
    tgh_err rc;

    rc = copy_begin(pg, COPY_VER);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; rc == TGH_OK && i < b->n_vers; i++) {
        const struct new_ver *v = &b->vers[i];

        cb_int(c, v->chat_id);
        cb_int(c, v->message_id);
        cb_int(c, v->version);
        cb_textn(c, v->hash, MSG_HASH_HEX_LEN);
        cb_i64(c, v->edit_date);
        cb_text(c, v->text);
        cb_textn(c, v->event, v->event_len);
        cb_int(c, b->now);
        cb_row_end(c);
        rc = copy_flush(pg, false);
    }
    return copy_end(pg, rc);
}

TGH_MUSTCHECK static tgh_err
stage_chats(struct pg *pg, struct batch *b)
{
    struct cbuf *c = &pg->copy;
    tgh_err rc;

    rc = copy_begin(pg, COPY_CHAT);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; i < b->n_chats; i++) {
        cb_int(c, b->chats[i].chat_id);
        cb_text(c, b->chats[i].type);
        cb_text(c, b->chats[i].title);
        cb_text(c, b->chats[i].username);
        cb_row_end(c);
    }
    return copy_end(pg, TGH_OK);
}

/* Run a set-based statement that must change exactly `want` rows (-1: any). */
TGH_MUSTCHECK static tgh_err
apply(struct pg *pg, enum stmt_id id, const struct params *p, int64_t want, const char *what)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = exec_stmt(pg, id, p, &r, what);
    if (rc == TGH_OK && want >= 0 && changed(r) != want)
        rc = tgh_errf(TGH_EIO, "postgresql: %s: %" PRId64 " rows changed, %" PRId64 " expected",
                      what, changed(r), want);
    PQclear(r);
    return rc;
}

/* The staged rows into the tables: chats, tombstones, messages, versions. */
TGH_MUSTCHECK static tgh_err
apply_staged(struct pg *pg, struct batch *b)
{
    struct params now = { .n = 0 };
    tgh_err rc = TGH_OK;

    p_int(&now, b->now);
    if (b->n_chats > 0) {
        rc = stage_chats(pg, b);
        if (rc == TGH_OK)
            rc = apply(pg, P_CHAT_INSERT, &now, -1, "insert chats");
        if (rc == TGH_OK)
            rc = apply(pg, P_CHAT_UPDATE, &now, -1, "update chats");
    }
    if (rc == TGH_OK)
        rc = stage_messages(pg, b);
    if (rc == TGH_OK && b->n_tomb > 0)
        rc = apply(pg, P_TOMB_INSERT, NULL, (int64_t)b->n_tomb, "record tombstones");
    if (rc == TGH_OK && b->n_upd > 0)
        rc = apply(pg, P_MSG_UPDATE, NULL, (int64_t)b->n_upd, "update messages");
    if (rc == TGH_OK && b->n_meta > 0)
        rc = apply(pg, P_MSG_META, NULL, (int64_t)b->n_meta, "tombstone messages");
    if (rc == TGH_OK && b->n_vers > 0) {
        rc = stage_versions(pg, b);
        if (rc == TGH_OK)
            rc = apply(pg, P_VER_INSERT, NULL, (int64_t)b->n_vers, "save versions");
    }
    return rc;
}

/* The dates the batch's rows will have: those of its upserts. */
TGH_MUSTCHECK static tgh_err
batch_partitions(struct pg *pg, const struct batch *b)
{
    int64_t *dates = tgh_malloc((b->n > 0 ? b->n : 1) * sizeof(*dates));
    size_t n = 0;
    tgh_err rc;

    for (size_t i = 0; i < b->n; i++)
        if (b->ev[i].op != MSG_OP_DELETE)
            dates[n++] = b->ev[i].date;
    rc = partitions_ensure(pg, dates, n);
    tgh_free(dates);
    return rc;
}

/* A refresh may move a row to another month (a changed date): make sure it exists. */
TGH_MUSTCHECK static tgh_err
moved_partitions(struct pg *pg, const struct batch *b)
{
    tgh_err rc = TGH_OK;

    for (size_t i = 0; rc == TGH_OK && i < b->n_ks; i++)
        if (b->ks[i].exists && b->ks[i].dirty && !month_known(pg, store_month_start(b->ks[i].date)))
            rc = partitions_ensure(pg, &b->ks[i].date, 1);
    return rc;
}

TGH_MUSTCHECK static tgh_err
commit_once(struct pg *pg, const struct msg_event *ev, size_t n, struct store_stats *stats,
            enum store_change *changes)
{
    struct batch b;
    tgh_err rc;

    memset(&b, 0, sizeof(b));
    rc = batch_init(&b, ev, n);
    if (rc == TGH_OK)
        rc = batch_partitions(pg, &b);
    if (rc == TGH_OK)
        rc = exec_plain(pg, "BEGIN", "begin");
    if (rc != TGH_OK)
        goto out;
    rc = lock_chats(pg, &b);
    if (rc == TGH_OK)
        rc = fetch_existing(pg, &b);
    if (rc == TGH_OK)
        rc = decide(pg, &b, changes);
    if (rc == TGH_OK)
        rc = moved_partitions(pg, &b);
    if (rc == TGH_OK)
        rc = apply_staged(pg, &b);
    if (rc == TGH_OK)
        rc = exec_plain(pg, "COMMIT", "commit");
out:
    if (rc != TGH_OK)
        rollback(pg);
    else
        store_stats_add(stats, &b.add);
    batch_fini(&b);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_commit(void *impl, const struct msg_event *ev, size_t n, struct store_stats *stats,
          enum store_change *changes)
{
    struct pg *pg = impl;
    tgh_err rc;

    if (n == 0)
        return TGH_OK;
    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    rc = commit_once(pg, ev, n, stats, changes);
    if (rc == TGH_EINVAL && strstr(tgh_errmsg(), "no partition of relation") != NULL) {
        /* Another process dropped a month this one believed in (retention). */
        pg->n_months = 0;
        rc = commit_once(pg, ev, n, stats, changes);
    }
    if (rc != TGH_OK)
        pg->n_months = 0; /* partitions created in a rolled-back transaction */
    return rc;
}

/* ---- single writes ---- */

TGH_MUSTCHECK static tgh_err
pg_chat_upsert(void *impl, int64_t chat_id, enum msg_chat_type type, const char *title,
               const char *username)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    p_str(&p, type == MSG_CHAT_UNKNOWN ? NULL : msg_chat_type_name(type));
    p_str(&p, title);
    p_str(&p, username);
    p_int(&p, (int64_t)time(NULL));
    return exec_stmt(pg, P_CHAT_UPSERT, &p, NULL, "upsert chat");
}

TGH_MUSTCHECK static tgh_err
pg_dead_letter_add(void *impl, const struct store_dead_letter *dl)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    char *payload = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    if (dl->payload != NULL) /* (ptr, len): not NUL-terminated */
        payload = tgh_strndup(dl->payload, dl->payload_len);
    p_str(&p, dl->source != NULL ? dl->source : "unknown");
    p_str(&p, dl->origin);
    p_str(&p, dl->position);
    p_str(&p, dl->reason != NULL ? dl->reason : "");
    p_str(&p, payload);
    p_int(&p, (int64_t)time(NULL));
    rc = exec_stmt(pg, P_DEAD_ADD, &p, NULL, "add dead letter");
    tgh_free(payload);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_run_begin(void *impl, int64_t chat_id, const char *kind, const char *origin, int64_t *run_id)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_i64(&p, chat_id);
    p_str(&p, kind != NULL ? kind : "unknown");
    p_str(&p, origin);
    p_int(&p, (int64_t)time(NULL));
    rc = exec_stmt(pg, P_RUN_BEGIN, &p, &r, "begin run");
    if (rc == TGH_OK)
        *run_id = v_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_run_finish(void *impl, int64_t run_id, const struct store_run_result *res)
{
    struct pg *pg = impl;
    const struct store_stats *st = &res->stats;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, run_id);
    p_int(&p, (int64_t)time(NULL));
    p_str(&p, res->status != NULL ? res->status : "ok");
    p_int(&p, res->messages_seen);
    p_int(&p, (int64_t)st->inserted);
    p_int(&p, (int64_t)st->versioned);
    p_int(&p, (int64_t)st->unchanged);
    p_int(&p, (int64_t)st->refreshed);
    p_int(&p, (int64_t)(st->deleted + st->delete_unknown));
    p_int(&p, (int64_t)res->errors);
    p_str(&p, res->error);
    rc = exec_stmt(pg, P_RUN_FINISH, &p, &r, "finish run");
    if (rc == TGH_OK && changed(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "collection run %" PRId64 " does not exist", run_id);
    PQclear(r);
    return rc;
}

/* ---- reading ---- */

TGH_MUSTCHECK static tgh_err
pg_chats_each(void *impl, store_chat_fn fn, void *arg)
{
    struct pg *pg = impl;
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc == TGH_OK)
        rc = exec_stmt(pg, P_CHATS, NULL, &r, "list chats");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++) {
        struct store_chat_row row = {
            .chat_id = v_i64(r, i, 0),
            .type = v_str(r, i, 1),
            .title = v_str(r, i, 2),
            .username = v_str(r, i, 3),
            .message_count = v_i64(r, i, 4),
            .deleted_count = v_i64(r, i, 5),
            .first_date = v_i64(r, i, 6),
            .last_date = v_i64(r, i, 7),
            .last_message_id = v_i64(r, i, 8),
        };

        if (fn(arg, &row) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

/* Rows of MSG_COLUMNS; NULL integers read as 0, as store_message_row promises. */
static void
message_row(const PGresult *r, int i, struct store_message_row *row)
{
    memset(row, 0, sizeof(*row));
    row->chat_id = v_i64(r, i, 0);
    row->message_id = v_i64(r, i, 1);
    row->date = v_i64(r, i, 2);
    row->edit_date = v_i64(r, i, 3);
    row->deleted_at = v_i64(r, i, 4);
    row->versions = v_i64(r, i, 5);
    row->chat_title = v_str(r, i, 6);
    row->sender_name = v_str(r, i, 7);
    row->text = v_str(r, i, 8);
    row->snippet = v_str(r, i, 9);
    row->event = v_str(r, i, 10);
}

/* Hand every row of r to fn; *stopped when fn asked to stop. */
static void
each_row(const PGresult *r, store_message_fn fn, void *arg, bool *stopped)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_message_row row;

        message_row(r, i, &row);
        if (fn(arg, &row) != 0) {
            *stopped = true;
            return;
        }
    }
}

#define MSG_COLUMNS                                                                         \
    "m.chat_id, m.message_id, m.date, m.edit_date, m.deleted_at, m.version_count, c.title," \
    " m.sender_name, m.text"

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

/* A query built from constant fragments; every value is a parameter ($n). */
struct qbuf {
    char sql[1536];
    size_t len;
    struct params p;
};

static void
q_add(struct qbuf *b, const char *frag)
{
    sql_add(b->sql, sizeof(b->sql), &b->len, frag);
}

/* "$n" for the parameter added last. */
static void
q_ref(struct qbuf *b)
{
    char ref[16];

    (void)snprintf(ref, sizeof(ref), "$%d", b->p.n);
    q_add(b, ref);
}

/* frag, then v as the next parameter. */
static void
q_int(struct qbuf *b, const char *frag, int64_t v)
{
    q_add(b, frag);
    p_int(&b->p, v);
    q_ref(b);
}

static void
q_str(struct qbuf *b, const char *frag, const char *v)
{
    q_add(b, frag);
    p_str(&b->p, v);
    q_ref(b);
}

/* Run b as an unnamed statement: planned with its values, so only the filters set count. */
TGH_MUSTCHECK static tgh_err
q_exec(struct pg *pg, const struct qbuf *b, PGresult **out, const char *what)
{
    PGresult *r = PQexecParams(pg->conn, b->sql, b->p.n, NULL, b->p.v, NULL, NULL, 0);
    tgh_err rc;

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(pg, r, what);
        PQclear(r);
        return rc;
    }
    *out = r;
    return TGH_OK;
}

/* The last row of a page of messages_each(), where the next page goes on. */
struct msg_key {
    int64_t date, chat_id, message_id;
};

/*
 * The keyset condition after the last row seen, in the order of the query.
 * Ordered by id within one chat, the message id alone is the key, so the
 * primary key (chat_id, message_id, date) bounds every partition's scan.
 */
static void
messages_after(const struct store_query *q, const struct msg_key *k, struct qbuf *b)
{
    const char *cmp = q->newest_first ? " < " : " > ";

    if (q->by_id && q->chat_id != MSG_UNSET) {
        q_add(b, " AND m.message_id");
        q_int(b, cmp, k->message_id);
    } else if (q->by_id) {
        q_add(b, " AND (m.message_id, m.chat_id)");
        q_add(b, cmp);
        q_int(b, "(", k->message_id);
        q_int(b, ", ", k->chat_id);
        q_add(b, ")");
    } else {
        q_add(b, " AND (m.date, m.chat_id, m.message_id)");
        q_add(b, cmp);
        q_int(b, "(", k->date);
        q_int(b, ", ", k->chat_id);
        q_int(b, ", ", k->message_id);
        q_add(b, ")");
    }
}

/*
 * The page query of messages_each(): only the filters that are set, then
 * either the last key seen (after, NULL on the first page) or, for search
 * (pages of a ranked list), an offset.
 */
static void
messages_sql(const struct store_query *q, const struct msg_key *after, int64_t page, int64_t offset,
             struct qbuf *b)
{
    const char *dir = q->newest_first ? " DESC" : "";

    q_add(b, "SELECT " MSG_COLUMNS ", ");
    if (q->match != NULL) {
        q_add(b, "ts_headline('tgh_search', m.text, tq, 'StartSel=[, StopSel=], MaxWords=16,"
                 " MinWords=8, ShortWord=0, HighlightAll=false'), m.event"
                 " FROM messages m JOIN chats c ON c.chat_id = m.chat_id,");
        q_str(b, " websearch_to_tsquery('tgh_search', ", q->match);
        q_add(b, ") tq WHERE m.search @@ tq");
    } else {
        q_add(b, "NULL, m.event FROM messages m JOIN chats c ON c.chat_id = m.chat_id WHERE true");
    }
    if (q->chat_id != MSG_UNSET)
        q_int(b, " AND m.chat_id = ", q->chat_id);
    if (q->since != MSG_UNSET)
        q_int(b, " AND m.date >= ", q->since);
    if (q->until != MSG_UNSET)
        q_int(b, " AND m.date < ", q->until);
    if (q->after_id != 0)
        q_int(b, " AND m.message_id > ", q->after_id);
    if (q->before_id != 0)
        q_int(b, " AND m.message_id < ", q->before_id);
    if (after != NULL && q->match == NULL)
        messages_after(q, after, b);
    q_add(b, " ORDER BY ");
    if (q->match != NULL)
        q_add(b, "ts_rank(m.search, tq) DESC, ");
    if (!q->by_id) {
        q_add(b, "m.date");
        q_add(b, dir);
        q_add(b, ", m.chat_id");
        q_add(b, dir);
        q_add(b, ", m.message_id");
    } else {
        /* With a chat, chat_id is constant and the planner drops it from the order. */
        q_add(b, "m.message_id");
        q_add(b, dir);
        q_add(b, ", m.chat_id");
    }
    q_add(b, dir);
    q_int(b, " LIMIT ", page);
    if (q->match != NULL)
        q_int(b, " OFFSET ", offset);
}

/*
 * Pages of PAGE_ROWS rows, each query finished before fn sees its rows:
 * fn may use the store (an export reads each message's versions).
 */
TGH_MUSTCHECK static tgh_err
pg_messages_each(void *impl, const struct store_query *q, store_message_fn fn, void *arg)
{
    struct pg *pg = impl;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX, offset = 0;
    struct msg_key last = { 0, 0, 0 };
    bool stopped = false, has_last = false;
    tgh_err rc;

    rc = conn_ready(pg);
    while (rc == TGH_OK && !stopped && left > 0) {
        struct qbuf b = { .len = 0 };
        int64_t page = left < PAGE_ROWS ? left : PAGE_ROWS;
        PGresult *r = NULL;
        int rows;

        messages_sql(q, has_last ? &last : NULL, page, offset, &b);
        rc = q_exec(pg, &b, &r, "list messages");
        if (rc != TGH_OK)
            break;
        rows = PQntuples(r);
        each_row(r, fn, arg, &stopped);
        if (rows > 0) {
            last.date = v_i64(r, rows - 1, 2);
            last.chat_id = v_i64(r, rows - 1, 0);
            last.message_id = v_i64(r, rows - 1, 1);
            has_last = true;
        }
        PQclear(r);
        offset += rows;
        left -= rows;
        if (rows < page)
            break;
    }
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_versions_each(void *impl, int64_t chat_id, int64_t message_id, store_message_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    bool stopped = false;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    p_int(&p, message_id);
    rc = exec_stmt(pg, P_VERSIONS, &p, &r, "read versions");
    if (rc == TGH_OK)
        each_row(r, fn, arg, &stopped);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_totals_get(void *impl, struct store_totals *out)
{
    struct pg *pg = impl;
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc == TGH_OK)
        rc = exec_stmt(pg, P_TOTALS, NULL, &r, "read totals");
    if (rc == TGH_OK && PQntuples(r) == 1) {
        out->chats = v_i64(r, 0, 0);
        out->messages = v_i64(r, 0, 1);
        out->deleted = v_i64(r, 0, 2);
        out->versions = v_i64(r, 0, 3);
        out->dead_letters = v_i64(r, 0, 4);
        out->runs = v_i64(r, 0, 5);
        out->first_date = v_i64(r, 0, 6);
        out->last_date = v_i64(r, 0, 7);
        out->size_bytes = v_i64(r, 0, 8);
    }
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_tombstones_each(void *impl, int64_t chat_id, store_message_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_i64(&p, chat_id);
    rc = exec_stmt(pg, P_TOMBSTONES, &p, &r, "read tombstones");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++) {
        struct store_message_row row;

        memset(&row, 0, sizeof(row));
        row.chat_id = v_i64(r, i, 0);
        row.message_id = v_i64(r, i, 1);
        row.deleted_at = v_i64(r, i, 2);
        row.source = v_str(r, i, 3);
        if (fn(arg, &row) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

/*
 * One result holds every bucket (two integers each): paging would group the
 * whole range again per page, since the planner cannot see that the buckets
 * follow the date order.
 */
TGH_MUSTCHECK static tgh_err
pg_message_buckets(void *impl, int64_t chat_id, int64_t since, int64_t until, int64_t bucket_s,
                   store_bucket_fn fn, void *arg)
{
    struct pg *pg = impl;
    enum stmt_id id = chat_id != MSG_UNSET ? P_BUCKETS_CHAT : P_BUCKETS_ALL;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    if (id == P_BUCKETS_CHAT)
        p_int(&p, chat_id);
    p_int(&p, since);
    p_int(&p, until);
    p_int(&p, bucket_s);
    rc = exec_stmt(pg, id, &p, &r, "count messages per bucket");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++)
        if (fn(arg, v_i64(r, i, 0), v_i64(r, i, 1)) != 0)
            break;
    PQclear(r);
    return rc;
}

/* ---- runs and dead letters ---- */

/* A row of RUN_COLUMNS (NULL integers read as 0); strings are the result's. */
static void
run_row(const PGresult *r, int i, struct store_run_row *run)
{
    memset(run, 0, sizeof(*run));
    run->id = v_i64(r, i, 0);
    run->chat_id = v_i64(r, i, 1);
    run->kind = v_str(r, i, 2);
    run->origin = v_str(r, i, 3);
    run->started_at = v_i64(r, i, 4);
    run->finished_at = v_i64(r, i, 5);
    run->status = v_str(r, i, 6);
    run->messages_seen = v_i64(r, i, 7);
    run->stats.inserted = (size_t)v_i64(r, i, 8);
    run->stats.versioned = (size_t)v_i64(r, i, 9);
    run->stats.unchanged = (size_t)v_i64(r, i, 10);
    run->stats.refreshed = (size_t)v_i64(r, i, 11);
    run->stats.deleted = (size_t)v_i64(r, i, 12);
    run->errors = v_i64(r, i, 13);
    run->error = v_str(r, i, 14);
}

/* Hand every row of r to fn; *stopped when fn asked to stop. */
static void
each_run(const PGresult *r, store_run_fn fn, void *arg, bool *stopped)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_run_row run;

        run_row(r, i, &run);
        if (fn(arg, &run) != 0) {
            *stopped = true;
            return;
        }
    }
}

/*
 * A listing in pages keyed on the id, newest (highest id) first: sql builds
 * one page's query, rows hands its rows on. Each page's query is finished
 * before rows runs, so a callback may use the store.
 */
typedef void (*page_sql_fn)(const void *q, int64_t before, int64_t page, struct qbuf *b);
typedef void (*page_rows_fn)(void *ctx, const PGresult *r, bool *stopped);

TGH_MUSTCHECK static tgh_err
pages_by_id(struct pg *pg, const void *q, int64_t before_id, int64_t limit, int64_t page_max,
            page_sql_fn sql, page_rows_fn rows, void *ctx, const char *what)
{
    int64_t before = before_id != 0 ? before_id : INT64_MAX;
    int64_t left = limit > 0 ? limit : INT64_MAX;
    bool stopped = false;
    tgh_err rc = conn_ready(pg);

    while (rc == TGH_OK && !stopped && left > 0) {
        struct qbuf b = { .len = 0 };
        int64_t page = left < page_max ? left : page_max;
        PGresult *r = NULL;
        int n;

        sql(q, before, page, &b);
        rc = q_exec(pg, &b, &r, what);
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        rows(ctx, r, &stopped);
        if (n > 0)
            before = v_i64(r, n - 1, 0);
        PQclear(r);
        left -= n;
        if (n < page)
            break;
    }
    return rc;
}

/* One page of runs_each(): only the filters that are set (chat 0: runs without one). */
static void
runs_sql(const void *query, int64_t before, int64_t page, struct qbuf *b)
{
    const struct store_runs_query *q = query;

    q_int(b, "SELECT " RUN_COLUMNS " FROM collection_runs WHERE id < ", before);
    if (q->chat_id == 0)
        q_add(b, " AND chat_id IS NULL");
    else if (q->chat_id != MSG_UNSET)
        q_int(b, " AND chat_id = ", q->chat_id);
    if (q->kind != NULL)
        q_str(b, " AND kind = ", q->kind);
    if (q->status != NULL)
        q_str(b, " AND status = ", q->status);
    q_int(b, " ORDER BY id DESC LIMIT ", page);
}

struct run_cb {
    store_run_fn fn;
    void *arg;
};

static void
run_rows(void *ctx, const PGresult *r, bool *stopped)
{
    const struct run_cb *cb = ctx;

    each_run(r, cb->fn, cb->arg, stopped);
}

TGH_MUSTCHECK static tgh_err
pg_runs_each(void *impl, const struct store_runs_query *q, store_run_fn fn, void *arg)
{
    struct run_cb cb = { fn, arg };

    return pages_by_id(impl, q, q->before_id, q->limit, RUN_PAGE, runs_sql, run_rows, &cb,
                       "list runs");
}

/* Pages of kinds, keyed on the last kind (a copy: the page's result is cleared). */
TGH_MUSTCHECK static tgh_err
pg_runs_last_each(void *impl, store_run_fn fn, void *arg)
{
    struct pg *pg = impl;
    bool stopped = false;
    char *after = NULL;
    tgh_err rc;
    int n = 0;

    rc = conn_ready(pg);
    while (rc == TGH_OK && !stopped) {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        p_str(&p, after);
        rc = exec_stmt(pg, P_RUNS_LAST, &p, &r, "list last runs");
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        each_run(r, fn, arg, &stopped);
        if (n > 0) {
            tgh_free(after);
            after = tgh_strdup(PQgetvalue(r, n - 1, 2));
        }
        PQclear(r);
        if (n < RUN_PAGE)
            break;
    }
    tgh_free(after);
    return rc;
}

/* Hand every row of DL_COLUMNS in r to fn (strings are the result's); *stopped when fn asked. */
static void
each_dead_letter(const PGresult *r, store_dead_letter_fn fn, void *arg, bool *stopped)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_dead_letter_row d = {
            .id = v_i64(r, i, 0),
            .source = v_str(r, i, 1),
            .origin = v_str(r, i, 2),
            .position = v_str(r, i, 3),
            .reason = v_str(r, i, 4),
            .payload = v_str(r, i, 5),
            .payload_len = (size_t)PQgetlength(r, i, 5),
            .created_at = v_i64(r, i, 6),
            .retry_count = v_i64(r, i, 7),
            .resolved_at = v_i64(r, i, 8),
        };

        if (fn(arg, &d) != 0) {
            *stopped = true;
            return;
        }
    }
}

/* One page of dead_letters_each(): only the filters that are set. */
static void
dead_letters_sql(const void *query, int64_t before, int64_t page, struct qbuf *b)
{
    const struct store_dl_query *q = query;

    q_int(b, "SELECT " DL_COLUMNS " FROM ingestion_errors WHERE id < ", before);
    if (q->state == STORE_DL_OPEN)
        q_add(b, " AND resolved_at IS NULL");
    else if (q->state == STORE_DL_RESOLVED)
        q_add(b, " AND resolved_at IS NOT NULL");
    if (q->source != NULL)
        q_str(b, " AND source = ", q->source);
    q_int(b, " ORDER BY id DESC LIMIT ", page);
}

struct dl_cb {
    store_dead_letter_fn fn;
    void *arg;
};

static void
dl_rows(void *ctx, const PGresult *r, bool *stopped)
{
    const struct dl_cb *cb = ctx;

    each_dead_letter(r, cb->fn, cb->arg, stopped);
}

TGH_MUSTCHECK static tgh_err
pg_dead_letters_each(void *impl, const struct store_dl_query *q, store_dead_letter_fn fn, void *arg)
{
    struct dl_cb cb = { fn, arg };

    return pages_by_id(impl, q, q->before_id, q->limit, DL_PAGE, dead_letters_sql, dl_rows, &cb,
                       "list dead letters");
}

TGH_MUSTCHECK static tgh_err
pg_dead_letter_get(void *impl, int64_t id, store_dead_letter_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    bool stopped = false;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    rc = exec_stmt(pg, P_DL_GET, &p, &r, "read dead letter");
    if (rc == TGH_OK && PQntuples(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", id);
    if (rc == TGH_OK)
        each_dead_letter(r, fn, arg, &stopped);
    PQclear(r);
    return rc;
}

/* Run a one-row write by dead letter id; TGH_ENOTFOUND when it matched nothing. */
TGH_MUSTCHECK static tgh_err
dead_letter_write(struct pg *pg, enum stmt_id id, const struct params *p, int64_t row,
                  const char *what)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = exec_stmt(pg, id, p, &r, what);
    if (rc == TGH_OK && changed(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", row);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_dead_letter_retried(void *impl, int64_t id, bool resolved, const char *reason, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_bool(&p, resolved);
    p_str(&p, reason);
    p_int(&p, at);
    return dead_letter_write(pg, P_DL_RETRIED, &p, id, "record dead letter retry");
}

TGH_MUSTCHECK static tgh_err
pg_dead_letter_resolve(void *impl, int64_t id, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_int(&p, at);
    return dead_letter_write(pg, P_DL_RESOLVE, &p, id, "resolve dead letter");
}

/* ---- tracked chats and cursors ---- */

/* $1..$15 of P_TRK_INSERT and P_TRK_UPDATE. */
static void
bind_tracked(struct params *p, const struct store_tracked *t, int64_t now)
{
    p_str(p, t->spec);
    p_nz(p, t->chat_id);
    p_str(p, t->account);
    p_bool(p, t->enabled);
    p_str(p, t->status != NULL ? t->status : "new");
    p_str(p, t->error);
    p_str(p, t->type);
    p_str(p, t->title);
    p_str(p, t->username);
    p_nz(p, t->linked_chat_id);
    p_bool(p, t->is_forum);
    p_bool(p, t->comments);
    p_bool(p, t->topics);
    p_int(p, t->updated_at != 0 ? t->updated_at : now);
    p_nz(p, t->last_collected_at);
}

/* A row of TRK_COLUMNS (NULL integers read as 0); strings are the result's. */
static void
tracked_row(const PGresult *r, int i, struct store_tracked *t)
{
    t->id = v_i64(r, i, 0);
    t->spec = v_str(r, i, 1);
    t->chat_id = v_i64(r, i, 2);
    t->account = v_str(r, i, 3);
    t->enabled = v_bool(r, i, 4);
    t->status = v_str(r, i, 5);
    t->error = v_str(r, i, 6);
    t->type = v_str(r, i, 7);
    t->title = v_str(r, i, 8);
    t->username = v_str(r, i, 9);
    t->linked_chat_id = v_i64(r, i, 10);
    t->is_forum = v_bool(r, i, 11);
    t->comments = v_bool(r, i, 12);
    t->topics = v_bool(r, i, 13);
    t->added_at = v_i64(r, i, 14);
    t->updated_at = v_i64(r, i, 15);
    t->last_collected_at = v_i64(r, i, 16);
    t->backfill_requested_at = v_i64(r, i, 17);
}

/* Run a TRK_COLUMNS query by one key: *row is the id found, or 0. */
TGH_MUSTCHECK static tgh_err
tracked_id(struct pg *pg, enum stmt_id id, const struct params *p, int64_t *row)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = exec_stmt(pg, id, p, &r, "find tracked chat");
    *row = rc == TGH_OK && PQntuples(r) > 0 ? v_i64(r, 0, 0) : 0;
    PQclear(r);
    return rc;
}

/* The row with t's chat_id takes t's spec (see tracked_take_spec() of the SQLite store). */
TGH_MUSTCHECK static tgh_err
tracked_take_spec(struct pg *pg, const struct store_tracked *t, int64_t row, int64_t now)
{
    struct params p = { .n = 0 };
    tgh_err rc;

    p_str(&p, t->spec);
    p_int(&p, row);
    rc = exec_stmt(pg, P_TRK_DROP_SPEC, &p, NULL, "merge tracked chat");
    if (rc != TGH_OK)
        return rc;
    p_int(&p, now);
    return exec_stmt(pg, P_TRK_MOVE_SPEC, &p, NULL, "rename tracked chat");
}

/* One short transaction under an advisory lock: lookups and the write see the same rows. */
TGH_MUSTCHECK static tgh_err
pg_tracked_put(void *impl, const struct store_tracked *t, int64_t *id)
{
    struct pg *pg = impl;
    int64_t now = (int64_t)time(NULL), row = 0;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc == TGH_OK)
        rc = exec_plain(pg, "BEGIN", "begin");
    if (rc != TGH_OK)
        return rc;
    rc = exec_stmt(pg, P_TRK_LOCK, NULL, NULL, "lock tracked chats");
    if (rc == TGH_OK && t->chat_id != 0) {
        p_int(&p, t->chat_id);
        rc = tracked_id(pg, P_TRK_BY_CHAT, &p, &row);
        if (rc == TGH_OK && row != 0)
            rc = tracked_take_spec(pg, t, row, now);
    }
    if (rc == TGH_OK && row == 0) {
        p.n = 0;
        p_str(&p, t->spec);
        rc = tracked_id(pg, P_TRK_BY_SPEC, &p, &row);
    }
    if (rc != TGH_OK)
        goto out;
    p.n = 0;
    bind_tracked(&p, t, now);
    if (row != 0) {
        p_int(&p, row);
        rc = exec_stmt(pg, P_TRK_UPDATE, &p, NULL, "update tracked chat");
    } else {
        p_int(&p, now);
        rc = exec_stmt(pg, P_TRK_INSERT, &p, &r, "add tracked chat");
        if (rc == TGH_OK)
            row = v_i64(r, 0, 0);
        PQclear(r);
    }
    if (rc == TGH_OK)
        rc = exec_plain(pg, "COMMIT", "commit");
out:
    if (rc != TGH_OK) {
        rollback(pg);
        return rc;
    }
    *id = row;
    return TGH_OK;
}

/* Pages by id; each page's query is finished before fn runs (fn may write). */
TGH_MUSTCHECK static tgh_err
pg_tracked_each(void *impl, store_tracked_fn fn, void *arg)
{
    struct pg *pg = impl;
    int64_t after = INT64_MIN;
    tgh_err rc;
    int n = 0;

    rc = conn_ready(pg);
    do {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        if (rc != TGH_OK)
            break;
        p_int(&p, after);
        rc = exec_stmt(pg, P_TRK_PAGE, &p, &r, "list tracked chats");
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            struct store_tracked t;

            tracked_row(r, i, &t);
            after = t.id;
            if (fn(arg, &t) != 0) {
                n = 0;
                break;
            }
        }
        PQclear(r);
    } while (n == TRK_PAGE);
    return rc;
}

/* Run a TRK_COLUMNS query; a row goes to *out, its strings into pg->found. */
TGH_MUSTCHECK static tgh_err
tracked_get(struct pg *pg, enum stmt_id id, const struct params *p, struct store_tracked *out,
            bool *found)
{
    const char **strs[] = { &out->spec, &out->account, &out->status,  &out->error,
                            &out->type, &out->title,   &out->username };
    PGresult *r = NULL;
    tgh_err rc;

    rc = exec_stmt(pg, id, p, &r, "find tracked chat");
    *found = rc == TGH_OK && PQntuples(r) > 0;
    if (*found) {
        tracked_row(r, 0, out);
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            if (*strs[i] != NULL)
                *strs[i] = tgh_arena_strdup(&pg->found, *strs[i]);
    }
    PQclear(r);
    return rc;
}

/* The exact spec first, then chat ids, the username and "@name" specs. */
TGH_MUSTCHECK static tgh_err
pg_tracked_find(void *impl, const char *key, struct store_tracked *out)
{
    struct pg *pg = impl;
    struct store_tracked_key k;
    struct params p = { .n = 0 };
    bool found = false;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    tgh_arena_reset(&pg->found);
    store_tracked_key_parse(key, &k);
    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_str(&p, key);
    rc = tracked_get(pg, P_TRK_BY_SPEC, &p, out, &found);
    for (size_t i = 0; rc == TGH_OK && !found && i < k.n_ids; i++) {
        p.n = 0;
        p_int(&p, k.chat_ids[i]);
        rc = tracked_get(pg, P_TRK_BY_CHAT, &p, out, &found);
    }
    p.n = 0;
    p_str(&p, k.name);
    if (rc == TGH_OK && !found && k.name[0] != '\0')
        rc = tracked_get(pg, P_TRK_BY_NAME, &p, out, &found);
    if (rc == TGH_OK && !found && k.name[0] != '\0')
        rc = tracked_get(pg, P_TRK_BY_AT_SPEC, &p, out, &found);
    if (rc == TGH_OK && !found)
        rc = tgh_errf(TGH_ENOTFOUND, "no tracked chat matches '%.200s'", key);
    return rc;
}

/* Run a one-row write by id; TGH_ENOTFOUND when it changed nothing. */
TGH_MUSTCHECK static tgh_err
write_by_id(struct pg *pg, enum stmt_id id, const struct params *p, int64_t row, const char *what)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = exec_stmt(pg, id, p, &r, what);
    if (rc == TGH_OK && changed(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", row);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK static tgh_err
pg_tracked_remove(void *impl, int64_t id)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    return write_by_id(pg, P_TRK_REMOVE, &p, id, "remove tracked chat");
}

TGH_MUSTCHECK static tgh_err
pg_tracked_set_status(void *impl, int64_t id, const char *status, const char *error,
                      int64_t last_collected_at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_str(&p, status);
    p_str(&p, error);
    p_int(&p, (int64_t)time(NULL));
    p_nz(&p, last_collected_at);
    return write_by_id(pg, P_TRK_STATUS, &p, id, "set tracked chat status");
}

TGH_MUSTCHECK static tgh_err
pg_tracked_request_backfill(void *impl, int64_t id, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_int(&p, at);
    p_int(&p, (int64_t)time(NULL));
    return write_by_id(pg, P_TRK_BACKFILL_ASK, &p, id, "request backfill");
}

/* Clear the request the pass was for, and only that one (see the SQLite store). */
TGH_MUSTCHECK static tgh_err
pg_tracked_backfill_done(void *impl, int64_t id, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    int64_t row = 0;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_int(&p, at);
    p_int(&p, (int64_t)time(NULL));
    rc = exec_stmt(pg, P_TRK_BACKFILL_DONE, &p, &r, "finish backfill request");
    if (rc == TGH_OK && changed(r) == 0) {
        p.n = 1;
        rc = tracked_id(pg, P_TRK_EXISTS, &p, &row);
        if (rc == TGH_OK && row == 0)
            rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    }
    PQclear(r);
    return rc;
}

/* A row of CUR_COLUMNS. */
static void
cursor_row(const PGresult *r, int i, struct store_cursor *c)
{
    c->chat_id = v_i64(r, i, 0);
    c->thread_id = v_i64(r, i, 1);
    c->newest_id = v_i64(r, i, 2);
    c->oldest_id = v_i64(r, i, 3);
    c->complete = v_bool(r, i, 4);
    c->gap_hi = v_i64(r, i, 5);
    c->gap_from = v_i64(r, i, 6);
    c->updated_at = v_i64(r, i, 7);
}

TGH_MUSTCHECK static tgh_err
pg_cursor_get(void *impl, int64_t chat_id, int64_t thread_id, struct store_cursor *out)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    out->chat_id = chat_id;
    out->thread_id = thread_id;
    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    p_int(&p, thread_id);
    rc = exec_stmt(pg, P_CUR_GET, &p, &r, "read cursor");
    if (rc == TGH_OK && PQntuples(r) > 0)
        cursor_row(r, 0, out);
    else if (rc == TGH_OK)
        rc = tgh_errf(TGH_ENOTFOUND, "no cursor for chat %" PRId64 " thread %" PRId64, chat_id,
                      thread_id);
    PQclear(r);
    return rc;
}

/*
 * One statement outside any transaction: when it returns TGH_OK the cursor
 * is committed, and it can never ride along in a batch and be rolled back.
 */
TGH_MUSTCHECK static tgh_err
pg_cursor_put(void *impl, const struct store_cursor *c)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        return tgh_errf(TGH_EIO, "cursor write inside an open transaction");
    p_int(&p, c->chat_id);
    p_int(&p, c->thread_id);
    p_int(&p, c->newest_id);
    p_int(&p, c->oldest_id);
    p_bool(&p, c->complete);
    p_int(&p, c->gap_hi);
    p_int(&p, c->gap_from);
    p_int(&p, c->updated_at != 0 ? c->updated_at : (int64_t)time(NULL));
    return exec_stmt(pg, P_CUR_PUT, &p, NULL, "write cursor");
}

/* Paged like pg_tracked_each(), by (chat_id, thread_id). */
TGH_MUSTCHECK static tgh_err
pg_cursors_each(void *impl, int64_t chat_id, store_cursor_fn fn, void *arg)
{
    struct pg *pg = impl;
    int64_t lo = chat_id == MSG_UNSET ? INT64_MIN : chat_id;
    int64_t hi = chat_id == MSG_UNSET ? INT64_MAX : chat_id;
    int64_t after_chat = lo, after_thread = INT64_MIN; /* store.c refuses these ids */
    tgh_err rc;
    int n = 0;

    rc = conn_ready(pg);
    do {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        if (rc != TGH_OK)
            break;
        p_int(&p, lo);
        p_int(&p, hi);
        p_int(&p, after_chat);
        p_int(&p, after_thread);
        rc = exec_stmt(pg, P_CUR_PAGE, &p, &r, "list cursors");
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            struct store_cursor c;

            cursor_row(r, i, &c);
            after_chat = c.chat_id;
            after_thread = c.thread_id;
            if (fn(arg, &c) != 0) {
                n = 0;
                break;
            }
        }
        PQclear(r);
    } while (n == CUR_PAGE);
    return rc;
}

/* ---- retention ---- */

/* Whole partitions go (tgh_messages_drop_before() in 001_init.sql), in one transaction. */
TGH_MUSTCHECK static tgh_err
pg_retention_apply(void *impl, int64_t before, int64_t *removed)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, before);
    rc = exec_stmt(pg, P_RETENTION, &p, &r, "drop old partitions");
    if (rc == TGH_OK)
        *removed = v_i64(r, 0, 0);
    PQclear(r);
    pg->n_months = 0; /* some may be gone: ask again */
    return rc;
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
    .tracked_backfill_done = pg_tracked_backfill_done,
    .cursor_get = pg_cursor_get,
    .cursor_put = pg_cursor_put,
    .cursors_each = pg_cursors_each,
    .retention_apply = pg_retention_apply,
};
