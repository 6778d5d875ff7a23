/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_read.c - the readers of the SQLite store: chats with their
 * counts, messages (the polling query built from a store_query, full-text
 * search through FTS5), a message's versions, totals, tombstones and the
 * messages per time bucket.
 */
#include "store/store_sqlite_int.h"

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "core/msg.h"

TGH_MUSTCHECK tgh_err
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

TGH_MUSTCHECK tgh_err
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
    if (q->media_only)
        sql_add(sql, sizeof(sql), &len, " AND m.media_kind IS NOT NULL");
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

TGH_MUSTCHECK tgh_err
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

TGH_MUSTCHECK tgh_err
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

TGH_MUSTCHECK tgh_err
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
TGH_MUSTCHECK tgh_err
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
