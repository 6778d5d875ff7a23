/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_bot.c - the archive bot's offset and items in SQLite
 * (migrations/sqlite/008_bot.sql).
 */
#include <inttypes.h>

#include "core/arena.h"
#include "store/store_sqlite_int.h"

tgh_err
sqlite_bot_state_get(void *impl, int64_t bot_id, struct store_bot_state *out)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "SELECT username, next_update_id, last_update_type, last_update_at,"
                         " updated_at FROM bot_state WHERE bot_id = :bot",
                         &s, "read the bot's state");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":bot", bot_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        tgh_arena_reset(&sq->found);
        if (col_str(s, 0) != NULL)
            out->username = tgh_arena_strdup(&sq->found, col_str(s, 0));
        out->next_update_id = sqlite3_column_int64(s, 1);
        if (col_str(s, 2) != NULL)
            out->last_update_type = tgh_arena_strdup(&sq->found, col_str(s, 2));
        out->last_update_at = sqlite3_column_int64(s, 3);
        out->updated_at = sqlite3_column_int64(s, 4);
    } else if (src == SQLITE_DONE) {
        rc = tgh_errf(TGH_ENOTFOUND, "no state of bot %" PRId64, bot_id);
    } else {
        rc = sq_fail(sq, src, "read the bot's state");
    }
    sqlite3_finalize(s);
    return rc;
}

tgh_err
sqlite_bot_state_put(void *impl, const struct store_bot_state *st, int64_t now)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(
        sq,
        "INSERT INTO bot_state (bot_id, username, next_update_id, last_update_type,"
        " last_update_at, updated_at) VALUES (:bot, :user, :next, :type, :at, :now)"
        " ON CONFLICT (bot_id) DO UPDATE SET username = coalesce(excluded.username, username),"
        " next_update_id = max(next_update_id, excluded.next_update_id),"
        " last_update_type = coalesce(excluded.last_update_type, last_update_type),"
        " last_update_at = coalesce(excluded.last_update_at, last_update_at),"
        " updated_at = excluded.updated_at",
        &s, "record the bot's state");

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":bot", st->bot_id);
    bind_str(s, sqlite3_bind_parameter_index(s, ":user"), st->username);
    bind_named_i64(s, ":next", st->next_update_id);
    bind_str(s, sqlite3_bind_parameter_index(s, ":type"), st->last_update_type);
    if (st->last_update_at > 0)
        bind_named_i64(s, ":at", st->last_update_at);
    bind_named_i64(s, ":now", now);
    return sq_finish(sq, s, NULL, "record the bot's state");
}

tgh_err
sqlite_bot_item_get(void *impl, const char *key, struct store_bot_item *out)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc =
        sq_prep(sq, "SELECT chat_id, message_id, created_at FROM bot_items WHERE item_key = :key",
                &s, "read a bot item");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_str(s, sqlite3_bind_parameter_index(s, ":key"), key);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        out->chat_id = sqlite3_column_int64(s, 0);
        out->message_id = sqlite3_column_int64(s, 1);
        out->created_at = sqlite3_column_int64(s, 2);
    } else if (src == SQLITE_DONE) {
        rc = tgh_errf(TGH_ENOTFOUND, "no bot item %.64s", key);
    } else {
        rc = sq_fail(sq, src, "read a bot item");
    }
    sqlite3_finalize(s);
    return rc;
}

tgh_err
sqlite_bot_item_put(void *impl, const char *key, int64_t chat_id, int64_t message_id, int64_t now,
                    bool *is_new, struct store_bot_item *first)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    int64_t changes = 0;
    tgh_err rc = sq_prep(sq,
                         "INSERT INTO bot_items (item_key, chat_id, message_id, created_at)"
                         " VALUES (:key, :chat, :msg, :now) ON CONFLICT (item_key) DO NOTHING",
                         &s, "record a bot item");

    if (rc != TGH_OK)
        return rc;
    bind_str(s, sqlite3_bind_parameter_index(s, ":key"), key);
    bind_named_i64(s, ":chat", chat_id);
    bind_named_i64(s, ":msg", message_id);
    bind_named_i64(s, ":now", now);
    if ((rc = sq_finish(sq, s, &changes, "record a bot item")) != TGH_OK)
        return rc;
    *is_new = changes > 0;
    return sqlite_bot_item_get(impl, key, first);
}
