/* SPDX-License-Identifier: MIT */
/*
 * store_pg_read.c - the readers of the PostgreSQL store: chats with their
 * counts, messages (the polling query, built from a store_query as constant
 * fragments and parameters, paged by keyset), a message's versions, totals,
 * tombstones and the messages per time bucket.
 */
#include "store/store_pg_int.h"

/* ---- reading ---- */

TGH_MUSTCHECK tgh_err
pg_chats_each(void *impl, store_chat_fn fn, void *arg)
{
    struct pg *pg = impl;
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc == TGH_OK)
        rc = pg_exec_stmt(pg, P_CHATS, NULL, &r, "list chats");
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
    if (q->media_only)
        q_add(b, " AND m.media_kind IS NOT NULL");
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
TGH_MUSTCHECK tgh_err
pg_messages_each(void *impl, const struct store_query *q, store_message_fn fn, void *arg)
{
    struct pg *pg = impl;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX, offset = 0;
    struct msg_key last = { 0, 0, 0 };
    bool stopped = false, has_last = false;
    tgh_err rc;

    rc = pg_conn_ready(pg);
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

TGH_MUSTCHECK tgh_err
pg_versions_each(void *impl, int64_t chat_id, int64_t message_id, store_message_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    bool stopped = false;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    p_int(&p, message_id);
    rc = pg_exec_stmt(pg, P_VERSIONS, &p, &r, "read versions");
    if (rc == TGH_OK)
        each_row(r, fn, arg, &stopped);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_totals_get(void *impl, struct store_totals *out)
{
    struct pg *pg = impl;
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc == TGH_OK)
        rc = pg_exec_stmt(pg, P_TOTALS, NULL, &r, "read totals");
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

TGH_MUSTCHECK tgh_err
pg_tombstones_each(void *impl, int64_t chat_id, store_message_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_i64(&p, chat_id);
    rc = pg_exec_stmt(pg, P_TOMBSTONES, &p, &r, "read tombstones");
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
TGH_MUSTCHECK tgh_err
pg_message_buckets(void *impl, int64_t chat_id, int64_t since, int64_t until, int64_t bucket_s,
                   store_bucket_fn fn, void *arg)
{
    struct pg *pg = impl;
    enum stmt_id id = chat_id != MSG_UNSET ? P_BUCKETS_CHAT : P_BUCKETS_ALL;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    if (id == P_BUCKETS_CHAT)
        p_int(&p, chat_id);
    p_int(&p, since);
    p_int(&p, until);
    p_int(&p, bucket_s);
    rc = pg_exec_stmt(pg, id, &p, &r, "count messages per bucket");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++)
        if (fn(arg, v_i64(r, i, 0), v_i64(r, i, 1)) != 0)
            break;
    PQclear(r);
    return rc;
}
