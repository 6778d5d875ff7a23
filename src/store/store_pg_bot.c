/* SPDX-License-Identifier: MIT */
/*
 * store_pg_bot.c - the archive bot's offset and items in PostgreSQL
 * (migrations/postgresql/005_bot.sql).
 */
#include <inttypes.h>

#include "core/arena.h"
#include "store/store_pg_int.h"

tgh_err
pg_bot_state_get(void *impl, int64_t bot_id, struct store_bot_state *out)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, bot_id);
    rc = pg_px(pg,
               "SELECT username, next_update_id, last_update_type, last_update_at, updated_at"
               " FROM bot_state WHERE bot_id = $1",
               &p, &r, "read the bot's state");
    if (rc == TGH_OK && PQntuples(r) == 1) {
        tgh_arena_reset(&pg->found);
        if (v_str(r, 0, 0) != NULL)
            out->username = tgh_arena_strdup(&pg->found, v_str(r, 0, 0));
        out->next_update_id = v_i64(r, 0, 1);
        if (v_str(r, 0, 2) != NULL)
            out->last_update_type = tgh_arena_strdup(&pg->found, v_str(r, 0, 2));
        out->last_update_at = v_i64(r, 0, 3);
        out->updated_at = v_i64(r, 0, 4);
    } else if (rc == TGH_OK) {
        rc = tgh_errf(TGH_ENOTFOUND, "no state of bot %" PRId64, bot_id);
    }
    PQclear(r);
    return rc;
}

tgh_err
pg_bot_state_put(void *impl, const struct store_bot_state *s, int64_t now)
{
    struct params p = { .n = 0 };

    p_int(&p, s->bot_id);
    p_str(&p, s->username);
    p_int(&p, s->next_update_id);
    p_str(&p, s->last_update_type);
    if (s->last_update_at > 0)
        p_int(&p, s->last_update_at);
    else
        p_str(&p, NULL);
    p_int(&p, now);
    return pg_px(impl,
                 "INSERT INTO bot_state (bot_id, username, next_update_id, last_update_type,"
                 " last_update_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)"
                 " ON CONFLICT (bot_id) DO UPDATE SET"
                 " username = coalesce(excluded.username, bot_state.username),"
                 " next_update_id = greatest(bot_state.next_update_id, excluded.next_update_id),"
                 " last_update_type = coalesce(excluded.last_update_type,"
                 " bot_state.last_update_type),"
                 " last_update_at = coalesce(excluded.last_update_at, bot_state.last_update_at),"
                 " updated_at = excluded.updated_at",
                 &p, NULL, "record the bot's state");
}

tgh_err
pg_bot_item_put(void *impl, const char *key, int64_t chat_id, int64_t message_id, int64_t now,
                bool *is_new, struct store_bot_item *first)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_str(&p, key);
    p_int(&p, chat_id);
    p_int(&p, message_id);
    p_int(&p, now);
    /* The row inserted, or (when it was there) the row as it is: one statement. */
    rc = pg_px(impl,
               "WITH ins AS (INSERT INTO bot_items (item_key, chat_id, message_id, created_at)"
               " VALUES ($1, $2, $3, $4) ON CONFLICT (item_key) DO NOTHING"
               " RETURNING chat_id, message_id, created_at)"
               " SELECT chat_id, message_id, created_at, true FROM ins UNION ALL"
               " SELECT chat_id, message_id, created_at, false FROM bot_items WHERE item_key = $1"
               " AND NOT EXISTS (SELECT 1 FROM ins)",
               &p, &r, "record a bot item");
    if (rc == TGH_OK && PQntuples(r) == 1) {
        first->chat_id = v_i64(r, 0, 0);
        first->message_id = v_i64(r, 0, 1);
        first->created_at = v_i64(r, 0, 2);
        *is_new = v_bool(r, 0, 3);
    } else if (rc == TGH_OK) {
        rc = tgh_errf(TGH_ECONFLICT, "bot item %.64s: written by another process meanwhile", key);
    }
    PQclear(r);
    return rc;
}

tgh_err
pg_bot_item_get(void *impl, const char *key, struct store_bot_item *out)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_str(&p, key);
    rc = pg_px(impl, "SELECT chat_id, message_id, created_at FROM bot_items WHERE item_key = $1",
               &p, &r, "read a bot item");
    if (rc == TGH_OK && PQntuples(r) == 1) {
        out->chat_id = v_i64(r, 0, 0);
        out->message_id = v_i64(r, 0, 1);
        out->created_at = v_i64(r, 0, 2);
    } else if (rc == TGH_OK) {
        rc = tgh_errf(TGH_ENOTFOUND, "no bot item %.64s", key);
    }
    PQclear(r);
    return rc;
}
