/* SPDX-License-Identifier: MIT */
/*
 * store_pg_gaps.c - completeness in PostgreSQL (migrations/postgresql/006_gaps.sql):
 * the ids a chat lacks, read with a window function over its messages (the
 * partitions' primary keys lead with chat_id), and the gap rows.
 */
#include <inttypes.h>
#include <string.h>

#include "store/store_pg_int.h"

tgh_err
pg_id_bounds(void *impl, int64_t chat_id, int64_t *min_id, int64_t *max_id, int64_t *count)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, chat_id);
    rc = pg_px(impl,
               "SELECT coalesce(min(message_id), 0), coalesce(max(message_id), 0), count(*)"
               " FROM messages WHERE chat_id = $1",
               &p, &r, "read the chat's ids");
    if (rc == TGH_OK) {
        *min_id = v_i64(r, 0, 0);
        *max_id = v_i64(r, 0, 1);
        *count = v_i64(r, 0, 2);
    }
    PQclear(r);
    return rc;
}

tgh_err
pg_missing_runs(void *impl, int64_t chat_id, store_idrun_fn fn, void *arg)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, chat_id);
    rc = pg_px(impl,
               "SELECT message_id + 1, next_id - 1, date FROM (SELECT message_id, date,"
               " lead(message_id) OVER (ORDER BY message_id) AS next_id FROM messages"
               " WHERE chat_id = $1) w WHERE next_id > message_id + 1 ORDER BY message_id",
               &p, &r, "read the chat's missing ids");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++)
        if (fn(arg, v_i64(r, i, 0), v_i64(r, i, 1), v_i64(r, i, 2)) != 0)
            break;
    PQclear(r);
    return rc;
}

tgh_err
pg_gaps_put(void *impl, int64_t chat_id, const struct store_gap *g, size_t n)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc = pg_conn_ready(pg);

    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "BEGIN", "begin");
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    rc = pg_px(pg, "DELETE FROM gaps WHERE chat_id = $1 AND class <> 'missed'", &p, NULL,
               "clear the chat's gaps");
    for (size_t i = 0; i < n && rc == TGH_OK; i++) {
        p.n = 0;
        p_int(&p, chat_id);
        p_int(&p, g[i].first_id);
        p_int(&p, g[i].last_id);
        p_str(&p, store_gap_class_name(g[i].cls));
        p_str(&p, store_gap_pos_name(g[i].pos));
        p_int(&p, g[i].checked_at);
        p_str(&p, g[i].detail);
        rc = pg_px(pg,
                   "INSERT INTO gaps (chat_id, first_id, last_id, class, position, checked_at,"
                   " detail) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                   " ON CONFLICT (chat_id, first_id) DO UPDATE SET last_id = excluded.last_id,"
                   " class = excluded.class, position = excluded.position,"
                   " checked_at = excluded.checked_at, detail = excluded.detail",
                   &p, NULL, "record a gap");
    }
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "COMMIT", "commit");
    if (rc != TGH_OK)
        pg_rollback(pg);
    return rc;
}

tgh_err
pg_gaps_each(void *impl, int64_t chat_id, store_gap_fn fn, void *arg)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    if (chat_id != MSG_UNSET)
        p_int(&p, chat_id);
    rc = pg_px(impl,
               chat_id != MSG_UNSET
                   ? "SELECT chat_id, first_id, last_id, class, position, checked_at, detail"
                     " FROM gaps WHERE chat_id = $1 ORDER BY chat_id, first_id"
                   : "SELECT chat_id, first_id, last_id, class, position, checked_at, detail"
                     " FROM gaps ORDER BY chat_id, first_id",
               &p, &r, "read gaps");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++) {
        struct store_gap g = {
            .chat_id = v_i64(r, i, 0),
            .first_id = v_i64(r, i, 1),
            .last_id = v_i64(r, i, 2),
            .checked_at = v_i64(r, i, 5),
            .detail = PQgetisnull(r, i, 6) ? NULL : v_str(r, i, 6),
        };

        (void)store_gap_class_parse(v_str(r, i, 3), &g.cls);
        g.pos = store_gap_pos_parse(v_str(r, i, 4));
        if (fn(arg, &g) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

tgh_err
pg_first_seen_count(void *impl, int64_t chat_id, int64_t from, int64_t to, int64_t *n)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, from);
    p_int(&p, to);
    if (chat_id != MSG_UNSET)
        p_int(&p, chat_id);
    rc = pg_px(impl,
               chat_id != MSG_UNSET
                   ? "SELECT count(*) FROM messages WHERE first_seen_at BETWEEN $1 AND $2"
                     " AND chat_id = $3"
                   : "SELECT count(*) FROM messages WHERE first_seen_at BETWEEN $1 AND $2",
               &p, &r, "count messages first seen");
    if (rc == TGH_OK)
        *n = v_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

/* As SQ_QUALITY of store_sqlite_gaps.c; $1 chat, $2 now, $3 since. */
#define PG_QUALITY                                                                                 \
    "SELECT"                                                                                       \
    " (SELECT count(*) FROM messages WHERE chat_id = $1 AND deleted_at IS NULL),"                  \
    " (SELECT count(*) FROM messages WHERE chat_id = $1 AND deleted_at IS NOT NULL),"              \
    " (SELECT count(*) FROM messages WHERE chat_id = $1 AND version_count > 0),"                   \
    " (SELECT coalesce(sum(version_count), 0) FROM messages WHERE chat_id = $1),"                  \
    " (SELECT coalesce(min(date), 0) FROM messages WHERE chat_id = $1),"                           \
    " (SELECT coalesce(max(date), 0) FROM messages WHERE chat_id = $1),"                           \
    " (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM messages"                    \
    "   WHERE chat_id = $1 AND deleted_at IS NULL GROUP BY content_hash HAVING count(*) > 1) d),"  \
    " (SELECT count(*) FROM messages m WHERE m.chat_id = $1 AND m.reply_to_message_id IS NOT NULL" \
    "   AND (m.event::jsonb #> '{reply_to,chat_id}') IS NULL"                                      \
    "   AND m.reply_to_message_id >= (SELECT min(message_id) FROM messages WHERE chat_id = $1)"    \
    "   AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.chat_id = $1"                             \
    "     AND r.message_id = m.reply_to_message_id)"                                               \
    "   AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.chat_id = $1"                           \
    "     AND t.message_id = m.reply_to_message_id)),"                                             \
    " (SELECT count(*) FROM messages m WHERE m.chat_id = $1 AND m.reply_to_message_id IS NOT NULL" \
    "   AND (m.event::jsonb #> '{reply_to,chat_id}') IS NULL"                                      \
    "   AND m.reply_to_message_id < (SELECT min(message_id) FROM messages WHERE chat_id = $1)),"   \
    " (SELECT count(*) FROM messages m WHERE m.chat_id = $1 AND m.thread_id IS NOT NULL"           \
    "   AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.chat_id = $1"                             \
    "     AND r.message_id = m.thread_id)"                                                         \
    "   AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.chat_id = $1"                           \
    "     AND t.message_id = m.thread_id)),"                                                       \
    " (SELECT count(*) FROM (SELECT date, lag(date) OVER (ORDER BY message_id) AS prev"            \
    "   FROM messages WHERE chat_id = $1) o WHERE date < prev),"                                   \
    " (SELECT count(*) FROM messages WHERE chat_id = $1 AND date > $2::bigint + 300),"             \
    " (SELECT count(*) FROM messages WHERE chat_id = $1 AND first_seen_at >= $3)"

#define PG_KINDS                                                                                \
    "SELECT k, count(*), count(*) FILTER (WHERE sender_id IS NULL),"                            \
    " count(*) FILTER (WHERE k = 'text' AND coalesce(text, '') = ''),"                          \
    " count(*) FILTER (WHERE media_kind IS NOT NULL AND (ev #> '{media,size_bytes}') IS NULL)," \
    " count(*) FILTER (WHERE media_kind IS NOT NULL"                                            \
    "   AND (ev #> '{media,file_unique_id}') IS NULL)"                                          \
    " FROM (SELECT sender_id, text, media_kind, ev, coalesce(media_kind, CASE"                  \
    "   WHEN (ev -> 'action') IS NOT NULL THEN 'service'"                                       \
    "   WHEN (ev -> 'poll') IS NOT NULL THEN 'poll'"                                            \
    "   WHEN (ev -> 'location') IS NOT NULL THEN 'location'"                                    \
    "   WHEN (ev -> 'contact') IS NOT NULL THEN 'contact' ELSE 'text' END) AS k"                \
    "   FROM (SELECT sender_id, text, media_kind, event::jsonb AS ev FROM messages"             \
    "     WHERE chat_id = $1 AND deleted_at IS NULL) m) q GROUP BY k ORDER BY k"

tgh_err
pg_chat_quality(void *impl, int64_t chat_id, int64_t now, int64_t since,
                struct store_chat_quality *out, store_kind_fn kinds, void *arg)
{
    int64_t *f[] = { &out->messages,         &out->deleted,          &out->edited,
                     &out->versions,         &out->first_date,       &out->last_date,
                     &out->same_content,     &out->dangling_replies, &out->replies_before,
                     &out->dangling_threads, &out->out_of_order,     &out->future,
                     &out->first_seen_since };
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, chat_id);
    p_int(&p, now);
    p_int(&p, since);
    rc = pg_px(impl, PG_QUALITY, &p, &r, "read the chat's quality figures");
    for (int i = 0; rc == TGH_OK && i < (int)(sizeof(f) / sizeof(*f)); i++)
        *f[i] = v_i64(r, 0, i);
    PQclear(r);
    if (rc != TGH_OK || kinds == NULL)
        return rc;
    p.n = 1;
    rc = pg_px(impl, PG_KINDS, &p, &r, "read the chat's kinds");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++) {
        struct store_kind_quality k = {
            .kind = v_str(r, i, 0),
            .messages = v_i64(r, i, 1),
            .no_sender = v_i64(r, i, 2),
            .no_text = v_i64(r, i, 3),
            .no_size = v_i64(r, i, 4),
            .no_file_id = v_i64(r, i, 5),
        };

        if (kinds(arg, &k) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

tgh_err
pg_warnings_each(void *impl, int64_t chat_id, store_warning_fn fn, void *arg)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, chat_id);
    rc = pg_px(impl,
               "SELECT w ->> 'kind' AS k, count(*) FROM messages m,"
               " jsonb_array_elements(m.event::jsonb -> 'warnings') w WHERE m.chat_id = $1"
               " AND m.event LIKE '%\"warnings\":%' GROUP BY k ORDER BY k",
               &p, &r, "read the chat's warnings");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++)
        if (!PQgetisnull(r, i, 0) && fn(arg, v_str(r, i, 0), v_i64(r, i, 1)) != 0)
            break;
    PQclear(r);
    return rc;
}
