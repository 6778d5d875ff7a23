/* SPDX-License-Identifier: MIT */
/*
 * store_gaps.c - completeness rows, front: names of the classes and
 * positions, arguments checked once for both backends (store_sqlite_gaps.c,
 * store_pg_gaps.c).
 */
#include <inttypes.h>
#include <string.h>

#include "store/store_int.h"

static const char *const class_names[STORE_GAP_CLASSES] = { "unknown", "deleted", "missed",
                                                            "inaccessible" };
static const char *const pos_names[] = { "leading", "inner", "trailing" };

const char *
store_gap_class_name(enum store_gap_class c)
{
    return (int)c >= 0 && c < STORE_GAP_CLASSES ? class_names[c] : "unknown";
}

bool
store_gap_class_parse(const char *s, enum store_gap_class *out)
{
    for (int i = 0; s != NULL && i < STORE_GAP_CLASSES; i++)
        if (strcmp(s, class_names[i]) == 0) {
            *out = (enum store_gap_class)i;
            return true;
        }
    return false;
}

const char *
store_gap_pos_name(enum store_gap_pos p)
{
    return (int)p >= 0 && (size_t)p < sizeof(pos_names) / sizeof(*pos_names) ? pos_names[p]
                                                                             : "inner";
}

enum store_gap_pos
store_gap_pos_parse(const char *s)
{
    if (s != NULL && strcmp(s, "leading") == 0)
        return STORE_GAP_LEADING;
    if (s != NULL && strcmp(s, "trailing") == 0)
        return STORE_GAP_TRAILING;
    return STORE_GAP_INNER;
}

tgh_err
store_id_bounds(struct store *st, int64_t chat_id, int64_t *min_id, int64_t *max_id, int64_t *count)
{
    *min_id = *max_id = *count = 0;
    if (chat_id == 0 || chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "id bounds need a chat");
    return store_be(st)->id_bounds(store_impl(st), chat_id, min_id, max_id, count);
}

tgh_err
store_missing_runs(struct store *st, int64_t chat_id, store_idrun_fn fn, void *arg)
{
    if (chat_id == 0 || chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "missing runs need a chat");
    return store_be(st)->missing_runs(store_impl(st), chat_id, fn, arg);
}

tgh_err
store_gaps_put(struct store *st, int64_t chat_id, const struct store_gap *g, size_t n)
{
    if (chat_id == 0 || chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "gaps need a chat");
    for (size_t i = 0; i < n; i++)
        if (g[i].chat_id != chat_id || g[i].first_id <= 0 || g[i].last_id < g[i].first_id ||
            (int)g[i].cls < 0 || g[i].cls >= STORE_GAP_CLASSES || (int)g[i].pos < 0 ||
            g[i].pos > STORE_GAP_TRAILING)
            return tgh_errf(TGH_EINVAL,
                            "gap %zu of chat %" PRId64 ": ids %" PRId64 "..%" PRId64
                            " of chat %" PRId64,
                            i, chat_id, g[i].first_id, g[i].last_id, g[i].chat_id);
    return store_be(st)->gaps_put(store_impl(st), chat_id, g, n);
}

tgh_err
store_gaps_each(struct store *st, int64_t chat_id, store_gap_fn fn, void *arg)
{
    return store_be(st)->gaps_each(store_impl(st), chat_id, fn, arg);
}

tgh_err
store_first_seen_count(struct store *st, int64_t chat_id, int64_t from, int64_t to, int64_t *n)
{
    *n = 0;
    if (chat_id == 0 || from > to)
        return tgh_errf(TGH_EINVAL, "first seen: chat %" PRId64 ", %" PRId64 "..%" PRId64, chat_id,
                        from, to);
    return store_be(st)->first_seen_count(store_impl(st), chat_id, from, to, n);
}

tgh_err
store_chat_quality(struct store *st, int64_t chat_id, int64_t now, int64_t since,
                   struct store_chat_quality *out, store_kind_fn kinds, void *arg)
{
    memset(out, 0, sizeof(*out));
    if (chat_id == 0 || chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "quality figures need a chat");
    return store_be(st)->chat_quality(store_impl(st), chat_id, now, since, out, kinds, arg);
}

tgh_err
store_warnings_each(struct store *st, int64_t chat_id, store_warning_fn fn, void *arg)
{
    if (chat_id == 0 || chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "warnings need a chat");
    return store_be(st)->warnings_each(store_impl(st), chat_id, fn, arg);
}
