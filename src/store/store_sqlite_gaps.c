/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_gaps.c - completeness in SQLite (migrations/sqlite/009_gaps.sql):
 * the ids a chat lacks, read with a window function over its primary key,
 * and the gap rows.
 */
#include <inttypes.h>
#include <string.h>

#include "store/store_sqlite_int.h"

tgh_err
sqlite_id_bounds(void *impl, int64_t chat_id, int64_t *min_id, int64_t *max_id, int64_t *count)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "SELECT coalesce(min(message_id), 0), coalesce(max(message_id), 0),"
                         " count(*) FROM messages WHERE chat_id = :chat",
                         &s, "read the chat's ids");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", chat_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        *min_id = sqlite3_column_int64(s, 0);
        *max_id = sqlite3_column_int64(s, 1);
        *count = sqlite3_column_int64(s, 2);
    } else {
        rc = sq_fail(sq, src, "read the chat's ids");
    }
    sqlite3_finalize(s);
    return rc;
}

tgh_err
sqlite_missing_runs(void *impl, int64_t chat_id, store_idrun_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "SELECT message_id + 1, next_id - 1, date FROM (SELECT message_id, date,"
                         " lead(message_id) OVER (ORDER BY message_id) AS next_id FROM messages"
                         " WHERE chat_id = :chat) WHERE next_id > message_id + 1"
                         " ORDER BY message_id",
                         &s, "read the chat's missing ids");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", chat_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(arg, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
               sqlite3_column_int64(s, 2)) != 0)
            break;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "read the chat's missing ids");
    sqlite3_finalize(s);
    return rc;
}

tgh_err
sqlite_gaps_put(void *impl, int64_t chat_id, const struct store_gap *g, size_t n)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = NULL;
    tgh_err rc = run(sq, S_BEGIN, "begin");

    if (rc != TGH_OK)
        return rc;
    if ((rc = sq_prep(sq, "DELETE FROM gaps WHERE chat_id = :chat AND class <> 'missed'", &s,
                      "clear the chat's gaps")) != TGH_OK)
        goto out;
    bind_named_i64(s, ":chat", chat_id);
    if ((rc = sq_finish(sq, s, NULL, "clear the chat's gaps")) != TGH_OK)
        goto out;
    if ((rc = sq_prep(sq,
                      "INSERT INTO gaps (chat_id, first_id, last_id, class, position, checked_at,"
                      " detail) VALUES (:chat, :first, :last, :class, :pos, :at, :detail)"
                      " ON CONFLICT (chat_id, first_id) DO UPDATE SET last_id = excluded.last_id,"
                      " class = excluded.class, position = excluded.position,"
                      " checked_at = excluded.checked_at, detail = excluded.detail",
                      &s, "record a gap")) != TGH_OK)
        goto out;
    for (size_t i = 0; i < n && rc == TGH_OK; i++) {
        int src;

        bind_named_i64(s, ":chat", chat_id);
        bind_named_i64(s, ":first", g[i].first_id);
        bind_named_i64(s, ":last", g[i].last_id);
        bind_str(s, sqlite3_bind_parameter_index(s, ":class"), store_gap_class_name(g[i].cls));
        bind_str(s, sqlite3_bind_parameter_index(s, ":pos"), store_gap_pos_name(g[i].pos));
        bind_named_i64(s, ":at", g[i].checked_at);
        bind_str(s, sqlite3_bind_parameter_index(s, ":detail"), g[i].detail);
        if ((src = sqlite3_step(s)) != SQLITE_DONE)
            rc = sq_fail(sq, src, "record a gap");
        (void)sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    if (rc == TGH_OK)
        rc = run(sq, S_COMMIT, "commit");
out:
    if (rc != TGH_OK)
        rollback(sq);
    return rc;
}

tgh_err
sqlite_gaps_each(void *impl, int64_t chat_id, store_gap_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "SELECT chat_id, first_id, last_id, class, position, checked_at, detail"
                         " FROM gaps WHERE :chat IS NULL OR chat_id = :chat"
                         " ORDER BY chat_id, first_id",
                         &s, "read gaps");
    int src;

    if (rc != TGH_OK)
        return rc;
    if (chat_id != MSG_UNSET)
        bind_named_i64(s, ":chat", chat_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_gap r = {
            .chat_id = sqlite3_column_int64(s, 0),
            .first_id = sqlite3_column_int64(s, 1),
            .last_id = sqlite3_column_int64(s, 2),
            .checked_at = sqlite3_column_int64(s, 5),
            .detail = col_str(s, 6),
        };

        (void)store_gap_class_parse(col_str(s, 3), &r.cls);
        r.pos = store_gap_pos_parse(col_str(s, 4));
        if (fn(arg, &r) != 0)
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "read gaps");
    sqlite3_finalize(s);
    return rc;
}

tgh_err
sqlite_first_seen_count(void *impl, int64_t chat_id, int64_t from, int64_t to, int64_t *n)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "SELECT count(*) FROM messages WHERE (:chat IS NULL OR chat_id = :chat)"
                         " AND first_seen_at BETWEEN :from AND :to",
                         &s, "count messages first seen");
    int src;

    if (rc != TGH_OK)
        return rc;
    if (chat_id != MSG_UNSET)
        bind_named_i64(s, ":chat", chat_id);
    bind_named_i64(s, ":from", from);
    bind_named_i64(s, ":to", to);
    if ((src = sqlite3_step(s)) == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        rc = sq_fail(sq, src, "count messages first seen");
    sqlite3_finalize(s);
    return rc;
}

/* The scalar figures of store_chat_quality, in the order of struct store_chat_quality. */
#define SQ_QUALITY                                                                                 \
    "SELECT"                                                                                       \
    " (SELECT count(*) FROM messages WHERE chat_id = :c AND deleted_at IS NULL),"                  \
    " (SELECT count(*) FROM messages WHERE chat_id = :c AND deleted_at IS NOT NULL),"              \
    " (SELECT count(*) FROM messages WHERE chat_id = :c AND version_count > 0),"                   \
    " (SELECT coalesce(sum(version_count), 0) FROM messages WHERE chat_id = :c),"                  \
    " (SELECT coalesce(min(date), 0) FROM messages WHERE chat_id = :c),"                           \
    " (SELECT coalesce(max(date), 0) FROM messages WHERE chat_id = :c),"                           \
    " (SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM messages"                    \
    "   WHERE chat_id = :c AND deleted_at IS NULL GROUP BY content_hash HAVING count(*) > 1)),"    \
    " (SELECT count(*) FROM messages m WHERE m.chat_id = :c AND m.reply_to_message_id IS NOT NULL" \
    "   AND json_extract(m.event, '$.reply_to.chat_id') IS NULL"                                   \
    "   AND m.reply_to_message_id >= (SELECT min(message_id) FROM messages WHERE chat_id = :c)"    \
    "   AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.chat_id = :c"                             \
    "     AND r.message_id = m.reply_to_message_id)"                                               \
    "   AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.chat_id = :c"                           \
    "     AND t.message_id = m.reply_to_message_id)),"                                             \
    " (SELECT count(*) FROM messages m WHERE m.chat_id = :c AND m.reply_to_message_id IS NOT NULL" \
    "   AND json_extract(m.event, '$.reply_to.chat_id') IS NULL"                                   \
    "   AND m.reply_to_message_id < (SELECT min(message_id) FROM messages WHERE chat_id = :c)),"   \
    " (SELECT count(*) FROM messages m WHERE m.chat_id = :c AND m.thread_id IS NOT NULL"           \
    "   AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.chat_id = :c"                             \
    "     AND r.message_id = m.thread_id)"                                                         \
    "   AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.chat_id = :c"                           \
    "     AND t.message_id = m.thread_id)),"                                                       \
    " (SELECT count(*) FROM (SELECT date, lag(date) OVER (ORDER BY message_id) AS prev"            \
    "   FROM messages WHERE chat_id = :c) WHERE date < prev),"                                     \
    " (SELECT count(*) FROM messages WHERE chat_id = :c AND date > :now + 300),"                   \
    " (SELECT count(*) FROM messages WHERE chat_id = :c AND first_seen_at >= :since)"

#define SQ_KINDS                                                                                \
    "SELECT k, count(*), sum(sender_id IS NULL), sum(k = 'text' AND coalesce(text, '') = ''),"  \
    " sum(media_kind IS NOT NULL AND json_extract(event, '$.media.size_bytes') IS NULL),"       \
    " sum(media_kind IS NOT NULL AND json_extract(event, '$.media.file_unique_id') IS NULL)"    \
    " FROM (SELECT sender_id, text, event, media_kind, coalesce(media_kind, CASE"               \
    "   WHEN json_extract(event, '$.action') IS NOT NULL THEN 'service'"                        \
    "   WHEN json_extract(event, '$.poll') IS NOT NULL THEN 'poll'"                             \
    "   WHEN json_extract(event, '$.location') IS NOT NULL THEN 'location'"                     \
    "   WHEN json_extract(event, '$.contact') IS NOT NULL THEN 'contact' ELSE 'text' END) AS k" \
    "   FROM messages WHERE chat_id = :c AND deleted_at IS NULL) GROUP BY k ORDER BY k"

tgh_err
sqlite_chat_quality(void *impl, int64_t chat_id, int64_t now, int64_t since,
                    struct store_chat_quality *out, store_kind_fn kinds, void *arg)
{
    struct sq *sq = impl;
    int64_t *f[] = { &out->messages,         &out->deleted,          &out->edited,
                     &out->versions,         &out->first_date,       &out->last_date,
                     &out->same_content,     &out->dangling_replies, &out->replies_before,
                     &out->dangling_threads, &out->out_of_order,     &out->future,
                     &out->first_seen_since };
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq, SQ_QUALITY, &s, "read the chat's quality figures");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":c", chat_id);
    bind_named_i64(s, ":now", now);
    bind_named_i64(s, ":since", since);
    if ((src = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < (int)(sizeof(f) / sizeof(*f)); i++)
            *f[i] = sqlite3_column_int64(s, i);
    } else {
        rc = sq_fail(sq, src, "read the chat's quality figures");
    }
    sqlite3_finalize(s);
    if (rc != TGH_OK || kinds == NULL)
        return rc;
    if ((rc = sq_prep(sq, SQ_KINDS, &s, "read the chat's kinds")) != TGH_OK)
        return rc;
    bind_named_i64(s, ":c", chat_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_kind_quality k = {
            .kind = col_str(s, 0),
            .messages = sqlite3_column_int64(s, 1),
            .no_sender = sqlite3_column_int64(s, 2),
            .no_text = sqlite3_column_int64(s, 3),
            .no_size = sqlite3_column_int64(s, 4),
            .no_file_id = sqlite3_column_int64(s, 5),
        };

        if (kinds(arg, &k) != 0)
            break;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "read the chat's kinds");
    sqlite3_finalize(s);
    return rc;
}

tgh_err
sqlite_warnings_each(void *impl, int64_t chat_id, store_warning_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "SELECT json_extract(w.value, '$.kind') AS k, count(*) FROM messages m,"
                         " json_each(m.event, '$.warnings') w WHERE m.chat_id = :c"
                         " AND m.event LIKE '%\"warnings\":%' GROUP BY k ORDER BY k",
                         &s, "read the chat's warnings");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":c", chat_id);
    while ((src = sqlite3_step(s)) == SQLITE_ROW)
        if (col_str(s, 0) != NULL && fn(arg, col_str(s, 0), sqlite3_column_int64(s, 1)) != 0)
            break;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "read the chat's warnings");
    sqlite3_finalize(s);
    return rc;
}
