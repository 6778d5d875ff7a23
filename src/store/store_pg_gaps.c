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
               "SELECT message_id + 1, next_id - 1 FROM (SELECT message_id,"
               " lead(message_id) OVER (ORDER BY message_id) AS next_id FROM messages"
               " WHERE chat_id = $1) w WHERE next_id > message_id + 1 ORDER BY message_id",
               &p, &r, "read the chat's missing ids");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++)
        if (fn(arg, v_i64(r, i, 0), v_i64(r, i, 1)) != 0)
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
        const char *pos = v_str(r, i, 4);

        (void)store_gap_class_parse(v_str(r, i, 3), &g.cls);
        g.pos = strcmp(pos, "leading") == 0    ? STORE_GAP_LEADING
                : strcmp(pos, "trailing") == 0 ? STORE_GAP_TRAILING
                                               : STORE_GAP_INNER;
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
