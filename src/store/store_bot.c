/* SPDX-License-Identifier: MIT */
/*
 * store_bot.c - the archive bot's rows, front: arguments checked once for
 * both backends (store_sqlite_bot.c, store_pg_bot.c).
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "store/store_int.h"

tgh_err
store_bot_state_get(struct store *st, int64_t bot_id, struct store_bot_state *out)
{
    memset(out, 0, sizeof(*out));
    out->bot_id = bot_id;
    if (bot_id <= 0)
        return tgh_errf(TGH_EINVAL, "bot id %" PRId64, bot_id);
    return store_be(st)->bot_state_get(store_impl(st), bot_id, out);
}

tgh_err
store_bot_state_put(struct store *st, const struct store_bot_state *s)
{
    if (s->bot_id <= 0 || s->next_update_id < 0)
        return tgh_errf(TGH_EINVAL, "bot %" PRId64 ": offset %" PRId64, s->bot_id,
                        s->next_update_id);
    return store_be(st)->bot_state_put(store_impl(st), s, (int64_t)time(NULL));
}

tgh_err
store_bot_item_put(struct store *st, const char *item_key, int64_t chat_id, int64_t message_id,
                   bool *is_new, struct store_bot_item *first)
{
    struct store_bot_item f = { 0, 0, 0 };
    tgh_err rc;

    *is_new = false;
    if (item_key == NULL || *item_key == '\0' || strlen(item_key) > 512 || message_id <= 0)
        return tgh_errf(TGH_EINVAL, "bot item: a key of 1 to 512 bytes and a message id");
    rc = store_be(st)->bot_item_put(store_impl(st), item_key, chat_id, message_id,
                                    (int64_t)time(NULL), is_new, &f);
    if (first != NULL)
        *first = f;
    return rc;
}

tgh_err
store_bot_item_get(struct store *st, const char *item_key, struct store_bot_item *out)
{
    memset(out, 0, sizeof(*out));
    if (item_key == NULL || *item_key == '\0' || strlen(item_key) > 512)
        return tgh_errf(TGH_EINVAL, "bot item: a key of 1 to 512 bytes");
    return store_be(st)->bot_item_get(store_impl(st), item_key, out);
}
