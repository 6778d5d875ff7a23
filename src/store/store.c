/* SPDX-License-Identifier: MIT */
/*
 * store.c - picks the backend from the URL scheme and forwards to it.
 */
#include "store/store.h"

#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"
#include "core/url.h"
#include "store/store_int.h"

struct store {
    const struct store_backend *be;
    void *impl;
};

static const struct store_backend *const backends[] = {
    &store_sqlite_backend,
};

void
store_stats_add(struct store_stats *to, const struct store_stats *from)
{
    to->inserted += from->inserted;
    to->versioned += from->versioned;
    to->unchanged += from->unchanged;
    to->refreshed += from->refreshed;
    to->deleted += from->deleted;
    to->delete_unknown += from->delete_unknown;
    to->published += from->published;
}

static tgh_err
open_url(const char *url, bool must_exist, struct store **out)
{
    struct tgh_url u;
    tgh_err rc;

    rc = tgh_url_parse(url, &u);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        struct store *st;
        void *impl;

        if (strcmp(backends[i]->scheme, u.scheme) != 0)
            continue;
        rc = backends[i]->open(&u, must_exist, &impl);
        tgh_url_fini(&u);
        if (rc != TGH_OK)
            return rc;
        st = tgh_calloc(1, sizeof(*st));
        st->be = backends[i];
        st->impl = impl;
        *out = st;
        return TGH_OK;
    }
    rc = tgh_errf(TGH_EINVAL, "TGH_STORE: unsupported store scheme '%s' (supported: sqlite)",
                  u.scheme);
    tgh_url_fini(&u);
    return rc;
}

tgh_err
store_open(const char *url, struct store **out)
{
    return open_url(url, false, out);
}

tgh_err
store_open_existing(const char *url, struct store **out)
{
    return open_url(url, true, out);
}

void
store_close(struct store *st)
{
    if (st == NULL)
        return;
    st->be->close(st->impl);
    tgh_free(st);
}

tgh_err
store_batch_commit(struct store *st, const struct msg_event *ev, size_t n,
                   struct store_stats *stats)
{
    return st->be->commit(st->impl, ev, n, stats);
}

tgh_err
store_chat_upsert(struct store *st, int64_t chat_id, enum msg_chat_type type, const char *title,
                  const char *username)
{
    if (chat_id == 0)
        return tgh_errf(TGH_EINVAL, "chat id 0 is not a chat");
    return st->be->chat_upsert(st->impl, chat_id, type, title, username);
}

tgh_err
store_dead_letter_add(struct store *st, const struct store_dead_letter *dl)
{
    return st->be->dead_letter_add(st->impl, dl);
}

tgh_err
store_run_begin(struct store *st, int64_t chat_id, const char *kind, const char *origin,
                int64_t *run_id)
{
    return st->be->run_begin(st->impl, chat_id, kind, origin, run_id);
}

tgh_err
store_run_finish(struct store *st, int64_t run_id, const struct store_run_result *res)
{
    return st->be->run_finish(st->impl, run_id, res);
}

tgh_err
store_chats_each(struct store *st, store_chat_fn fn, void *arg)
{
    return st->be->chats_each(st->impl, fn, arg);
}

tgh_err
store_messages_each(struct store *st, const struct store_query *q, store_message_fn fn, void *arg)
{
    return st->be->messages_each(st->impl, q, fn, arg);
}

tgh_err
store_versions_each(struct store *st, int64_t chat_id, int64_t message_id, store_message_fn fn,
                    void *arg)
{
    return st->be->versions_each(st->impl, chat_id, message_id, fn, arg);
}

tgh_err
store_totals_get(struct store *st, struct store_totals *out)
{
    return st->be->totals_get(st->impl, out);
}

tgh_err
store_tombstones_each(struct store *st, int64_t chat_id, store_message_fn fn, void *arg)
{
    return st->be->tombstones_each(st->impl, chat_id, fn, arg);
}

/* The status values of tracked_chats (CHECKed by the schema too). */
static bool
status_valid(const char *status)
{
    return strcmp(status, "new") == 0 || strcmp(status, "ok") == 0 || strcmp(status, "error") == 0;
}

tgh_err
store_tracked_put(struct store *st, const struct store_tracked *t, int64_t *id)
{
    int64_t ignored;

    if (t->spec == NULL || *t->spec == '\0')
        return tgh_errf(TGH_EINVAL, "a tracked chat needs a spec");
    if (t->status != NULL && !status_valid(t->status))
        return tgh_errf(TGH_EINVAL, "tracked chat status '%.40s' (new, ok or error)", t->status);
    return st->be->tracked_put(st->impl, t, id != NULL ? id : &ignored);
}

tgh_err
store_tracked_each(struct store *st, store_tracked_fn fn, void *arg)
{
    return st->be->tracked_each(st->impl, fn, arg);
}

tgh_err
store_tracked_find(struct store *st, const char *key, struct store_tracked *out)
{
    if (key == NULL || *key == '\0')
        return tgh_errf(TGH_EINVAL, "empty chat name");
    return st->be->tracked_find(st->impl, key, out);
}

tgh_err
store_tracked_remove(struct store *st, int64_t id)
{
    return st->be->tracked_remove(st->impl, id);
}

tgh_err
store_tracked_set_status(struct store *st, int64_t id, const char *status, const char *error,
                         int64_t last_collected_at)
{
    if (status == NULL || !status_valid(status))
        return tgh_errf(TGH_EINVAL, "tracked chat status '%.40s' (new, ok or error)",
                        status != NULL ? status : "(null)");
    return st->be->tracked_set_status(st->impl, id, status, error, last_collected_at);
}

tgh_err
store_cursor_get(struct store *st, int64_t chat_id, int64_t thread_id, struct store_cursor *out)
{
    return st->be->cursor_get(st->impl, chat_id, thread_id, out);
}

tgh_err
store_cursor_put(struct store *st, const struct store_cursor *c)
{
    if (c->chat_id == 0 || c->chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "cursor without a chat id");
    if (c->thread_id < 0)
        return tgh_errf(TGH_EINVAL, "cursor thread id %" PRId64 " (0 or a message id)",
                        c->thread_id);
    return st->be->cursor_put(st->impl, c);
}

tgh_err
store_cursors_each(struct store *st, int64_t chat_id, store_cursor_fn fn, void *arg)
{
    return st->be->cursors_each(st->impl, chat_id, fn, arg);
}
