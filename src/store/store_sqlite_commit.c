/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_commit.c - the batch commit protocol of the SQLite store: the
 * chat upsert, the message insert and what a redelivered or edited event does
 * to the stored row (unchanged, refreshed, versioned), deletes and tombstones,
 * the change each event made.
 *
 * A batch is one BEGIN IMMEDIATE transaction; on any error it is rolled back
 * and the caller's stats are left alone. Message rows are only tombstoned
 * (retention aside), and re-applying any batch leaves the rows as they were. The
 * rules are spelled out in docs/internals/store.md.
 */
#define TGH_LOG_SUB "store"

#include "store/store_sqlite_int.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/msg.h"

/* What one batch remembers between its events. */
struct batch {
    int64_t now;
    const struct msg_event *last_chat; /* the last event whose chat was upserted */
    struct store_stats add;
};

static bool
same_or_unknown(const char *known, const char *ev)
{
    return ev == NULL || (known != NULL && strcmp(known, ev) == 0);
}

/*
 * Create or refresh the event's chat. Consecutive events of one chat usually
 * carry the same title, so the statement runs only when something may differ.
 */
TGH_MUSTCHECK static tgh_err
chat_touch(struct sq *sq, struct batch *b, const struct msg_event *ev)
{
    sqlite3_stmt *s = sq->stmt[S_CHAT_UPSERT];
    const struct msg_event *last = b->last_chat;
    tgh_err rc;

    if (last != NULL && last->chat_id == ev->chat_id &&
        (ev->chat_type == MSG_CHAT_UNKNOWN || ev->chat_type == last->chat_type) &&
        same_or_unknown(last->chat_title, ev->chat_title) &&
        same_or_unknown(last->chat_username, ev->chat_username))
        return TGH_OK;
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    bind_str(s, 2, ev->chat_type == MSG_CHAT_UNKNOWN ? NULL : msg_chat_type_name(ev->chat_type));
    bind_str(s, 3, ev->chat_title);
    bind_str(s, 4, ev->chat_username);
    (void)sqlite3_bind_int64(s, 5, b->now);
    rc = run(sq, S_CHAT_UPSERT, "upsert chat");
    if (rc == TGH_OK)
        b->last_chat = ev;
    return rc;
}

/* The stored row of a message, as far as the upsert rules need it. */
struct cur_row {
    int64_t id;
    char hash[MSG_HASH_HEX_LEN + 1];
    int64_t edit_date;
    char *event; /* the stored canonical event, tgh_free()d by the caller */
    size_t event_len;
};

TGH_MUSTCHECK static tgh_err
row_get(struct sq *sq, const struct msg_event *ev, struct cur_row *row, bool *found)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_GET];
    const unsigned char *h;
    tgh_err rc;

    row->event = NULL;
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    rc = step_one(sq, S_MSG_GET, "read message", found);
    if (rc != TGH_OK || !*found)
        goto out;
    row->id = sqlite3_column_int64(s, 0);
    h = sqlite3_column_text(s, 1);
    (void)snprintf(row->hash, sizeof(row->hash), "%s", h != NULL ? (const char *)h : "");
    row->edit_date = col_i64(s, 2);
    row->event_len = (size_t)sqlite3_column_bytes(s, 3);
    row->event = tgh_strndup((const char *)sqlite3_column_text(s, 3), row->event_len);
out:
    (void)sqlite3_reset(s);
    return rc;
}

/*
 * The event the row should hold: what the stored event and the new one know,
 * merged (codec_event_merge), encoded into *json. A stored event that no
 * longer decodes (written under older rules) cannot block new data: the new
 * event is then taken as it is.
 */
TGH_MUSTCHECK static tgh_err
merged_event(struct sq *sq, const struct cur_row *row, const struct msg_event *ev,
             struct msg_event *m, char **json, size_t *json_len)
{
    tgh_arena_reset(&sq->scratch);
    if (codec_event_merge(row->event, row->event_len, ev, &sq->scratch, m) != TGH_OK) {
        log_warn("chat=%" PRId64 " msg=%" PRId64 " stored event unreadable, replaced: %s",
                 ev->chat_id, ev->message_id, tgh_errmsg());
        msg_event_share(m, ev);
    }
    return codec_event_encode(m, json, json_len);
}

/*
 * Bind an event's columns in the order both the insert and the rewrite list
 * them: date, edit_date, sender_id, sender_type, sender_name, text, thread_id,
 * reply_to_message_id, media_kind, views, forwards, replies, reactions,
 * source, content_hash, idempotency_key, event; the first is parameter first.
 */
static void
bind_event_columns(struct sq *sq, sqlite3_stmt *s, int first, const struct msg_event *m,
                   const char *key, const char *json, size_t json_len)
{
    const char *reac = NULL;
    size_t reac_len = 0;
    int i = first;

    if (m->has_reactions)
        reac = store_reactions_json(m, &sq->reactions_buf, &sq->reactions_cap, &reac_len);
    bind_i64(s, i++, m->date);
    bind_i64(s, i++, m->edit_date);
    bind_i64(s, i++, m->sender_id);
    bind_str(s, i++, msg_peer_type_name(m->sender_type));
    bind_str(s, i++, m->sender_name);
    bind_str(s, i++, m->text);
    bind_i64(s, i++, m->thread_id);
    bind_i64(s, i++, m->reply_to_message_id);
    bind_str(s, i++, m->media != NULL ? m->media->kind : NULL);
    bind_i64(s, i++, m->views);
    bind_i64(s, i++, m->forwards);
    bind_i64(s, i++, m->replies);
    bind_strn(s, i++, reac, reac_len);
    bind_str(s, i++, msg_source_name(m->source));
    (void)sqlite3_bind_text(s, i++, m->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
    bind_str(s, i++, key);
    bind_strn(s, i, json, json_len);
}

/* Write event m (encoded as json) over row id; version_inc 1 for a new version. */
TGH_MUSTCHECK static tgh_err
rewrite_row(struct sq *sq, struct batch *b, int64_t id, const struct msg_event *m, const char *json,
            size_t json_len, int version_inc)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_REWRITE];
    char key[48];

    if (msg_event_key(m, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    (void)sqlite3_bind_int64(s, 1, id);
    bind_event_columns(sq, s, 2, m, key, json, json_len);
    (void)sqlite3_bind_int64(s, 19, b->now);
    (void)sqlite3_bind_int(s, 20, version_inc);
    return run(sq, S_MSG_REWRITE, "update message");
}

/*
 * Same content, different state (counters, reactions, poll votes, names,
 * dates): merge what the stored and the new event know and, unless that is
 * what is stored already, write it without a version.
 */
TGH_MUSTCHECK static tgh_err
refresh_state(struct sq *sq, struct batch *b, const struct msg_event *ev, const struct cur_row *row,
              bool *refreshed)
{
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    *refreshed = false;
    msg_event_init(&m);
    rc = merged_event(sq, row, ev, &m, &json, &json_len);
    if (rc != TGH_OK)
        goto out;
    if (codec_event_same_state(row->event, row->event_len, json, json_len))
        goto out; /* the new event knew nothing the row does not */
    rc = rewrite_row(sq, b, row->id, &m, json, json_len, 0);
    *refreshed = rc == TGH_OK;
out:
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/* Is this exact version (content and edit date) already among the previous ones? */
TGH_MUSTCHECK static tgh_err
version_known(struct sq *sq, const struct msg_event *ev, bool *known)
{
    sqlite3_stmt *s = sq->stmt[S_VER_KNOWN];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    (void)sqlite3_bind_text(s, 3, ev->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
    bind_i64(s, 4, ev->edit_date);
    rc = step_one(sq, S_VER_KNOWN, "read versions", known);
    (void)sqlite3_reset(s);
    return rc;
}

/*
 * An older version arrived after a newer one: it becomes history, and the
 * current row only learns state it did not know from it (a reaction count
 * the newer event lacked), so the row ends the same in either arrival order.
 */
TGH_MUSTCHECK static tgh_err
save_old_version(struct sq *sq, struct batch *b, const struct msg_event *ev,
                 const struct cur_row *row, const char *json, size_t json_len)
{
    sqlite3_stmt *s = sq->stmt[S_VER_SAVE_EVENT];
    struct msg_event cur, m;
    char *mjson = NULL;
    size_t mlen = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, row->id);
    (void)sqlite3_bind_text(s, 2, ev->content_hash, MSG_HASH_HEX_LEN, SQLITE_STATIC);
    bind_i64(s, 3, ev->edit_date);
    bind_str(s, 4, ev->text);
    bind_strn(s, 5, json, json_len);
    (void)sqlite3_bind_int64(s, 6, b->now);
    rc = run(sq, S_VER_SAVE_EVENT, "save old version");
    if (rc != TGH_OK)
        return rc;
    s = sq->stmt[S_MSG_OLD_VERSION];
    (void)sqlite3_bind_int64(s, 1, row->id);
    (void)sqlite3_bind_int64(s, 2, b->now);
    rc = run(sq, S_MSG_OLD_VERSION, "count old version");
    if (rc != TGH_OK)
        return rc;

    /* The row is the newer side of the merge: its values win, its gaps are filled. */
    tgh_arena_reset(&sq->scratch);
    msg_event_init(&m);
    if (codec_event_decode(row->event, row->event_len, &sq->scratch, &cur) != TGH_OK)
        return TGH_OK; /* an unreadable row is replaced by the next current event */
    rc = codec_event_merge(json, json_len, &cur, &sq->scratch, &m);
    msg_event_fini(&cur);
    if (rc == TGH_OK)
        rc = codec_event_encode(&m, &mjson, &mlen);
    if (rc == TGH_OK && !codec_event_same_state(row->event, row->event_len, mjson, mlen))
        rc = rewrite_row(sq, b, row->id, &m, mjson, mlen, 0);
    tgh_free(mjson);
    msg_event_fini(&m);
    return rc;
}

/*
 * The content changed: the current row becomes a version, and the row takes
 * the new content with the state both events know (the merge takes no
 * content from the stored event when the content differs).
 */
TGH_MUSTCHECK static tgh_err
new_version(struct sq *sq, struct batch *b, const struct msg_event *ev, const struct cur_row *row)
{
    sqlite3_stmt *s = sq->stmt[S_VER_SAVE_ROW];
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, row->id);
    (void)sqlite3_bind_int64(s, 2, b->now);
    rc = run(sq, S_VER_SAVE_ROW, "save version");
    if (rc != TGH_OK)
        return rc;
    msg_event_init(&m);
    rc = merged_event(sq, row, ev, &m, &json, &json_len);
    if (rc == TGH_OK)
        rc = rewrite_row(sq, b, row->id, &m, json, json_len, 1);
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/* The message exists: decide between unchanged, refreshed and versioned. */
TGH_MUSTCHECK static tgh_err
upsert_existing(struct sq *sq, struct batch *b, const struct msg_event *ev, const char *json,
                size_t json_len)
{
    struct cur_row row;
    bool found, known, refreshed, same_hash, is_older;
    tgh_err rc;

    rc = row_get(sq, ev, &row, &found);
    if (rc != TGH_OK)
        return rc;
    if (!found) /* the INSERT conflicted, so the row is there */
        return tgh_errf(TGH_EIO, "sqlite: message vanished inside the transaction");
    same_hash = strcmp(row.hash, ev->content_hash) == 0;

    /* An edit the row already has a later one of (same text or not) is history. */
    is_older = row.edit_date != MSG_UNSET &&
               (ev->edit_date == MSG_UNSET ? !same_hash : ev->edit_date < row.edit_date);
    if (same_hash && !is_older) {
        /* The common redelivery: byte for byte what is stored, but for observed_at. */
        if (codec_event_same_state(row.event, row.event_len, json, json_len)) {
            b->add.unchanged++;
            goto out;
        }
        rc = refresh_state(sq, b, ev, &row, &refreshed);
        if (rc == TGH_OK && refreshed)
            b->add.refreshed++;
        else if (rc == TGH_OK)
            b->add.unchanged++;
        goto out;
    }

    /* A redelivered previous version changes nothing: re-applying stays a no-op. */
    rc = version_known(sq, ev, &known);
    if (rc != TGH_OK)
        goto out;
    if (known) {
        b->add.unchanged++;
        goto out;
    }
    if (is_older)
        rc = save_old_version(sq, b, ev, &row, json, json_len);
    else
        rc = new_version(sq, b, ev, &row);
    if (rc == TGH_OK)
        b->add.versioned++;
out:
    tgh_free(row.event);
    return rc;
}

TGH_MUSTCHECK static tgh_err
apply_upsert(struct sq *sq, struct batch *b, const struct msg_event *ev)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_INSERT];
    size_t json_len = 0, ej_len;
    char *json = NULL;
    const char *ej;
    char key[48];
    tgh_err rc;

    if (strlen(ev->content_hash) != MSG_HASH_HEX_LEN)
        return tgh_errf(TGH_EINVAL, "event was not finalized (no content_hash)");
    if (msg_event_key(ev, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    rc = chat_touch(sq, b, ev);
    if (rc != TGH_OK)
        return rc;
    if (ev->encoded == NULL) {
        rc = codec_event_encode(ev, &json, &json_len);
        if (rc != TGH_OK)
            goto out;
        ej = json;
        ej_len = json_len;
    } else {
        ej = ev->encoded;
        ej_len = ev->encoded_len;
    }
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    bind_event_columns(sq, s, 3, ev, key, ej, ej_len);
    (void)sqlite3_bind_int64(s, 20, ev->observed_at != MSG_UNSET ? ev->observed_at : b->now);
    (void)sqlite3_bind_int64(s, 21, b->now);
    rc = run(sq, S_MSG_INSERT, "insert message");
    if (rc != TGH_OK)
        goto out;
    if (sqlite3_changes(sq->db) == 1)
        b->add.inserted++;
    else
        rc = upsert_existing(sq, b, ev, ej, ej_len);
out:
    tgh_free(json);
    return rc;
}

/* A deletion found later: the window it happened in (deletion_windows). */
TGH_MUSTCHECK static tgh_err
deletion_window(struct sq *sq, const struct msg_event *ev, int64_t now)
{
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq,
                         "INSERT INTO deletion_windows (chat_id, message_id, deleted_after,"
                         " found_at) VALUES (:chat, :msg, :after, :found) ON CONFLICT DO NOTHING",
                         &s, "record a deletion window");

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", ev->chat_id);
    bind_named_i64(s, ":msg", ev->message_id);
    bind_named_i64(s, ":after", ev->deleted_after);
    bind_named_i64(s, ":found", ev->observed_at != MSG_UNSET ? ev->observed_at : now);
    return sq_finish(sq, s, NULL, "record a deletion window");
}

/* A delete only ever sets deleted_at; an unknown message stores nothing. */
TGH_MUSTCHECK static tgh_err
apply_delete(struct sq *sq, struct batch *b, const struct msg_event *ev)
{
    sqlite3_stmt *s = sq->stmt[S_MSG_DELETE];
    struct cur_row row;
    bool found, tombstoned;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    (void)sqlite3_bind_int64(s, 3, ev->observed_at != MSG_UNSET ? ev->observed_at : b->now);
    (void)sqlite3_bind_int64(s, 4, b->now);
    rc = run(sq, S_MSG_DELETE, "tombstone message");
    if (rc != TGH_OK)
        return rc;
    tombstoned = sqlite3_changes(sq->db) == 1;
    if (ev->deleted_after != MSG_UNSET && (rc = deletion_window(sq, ev, b->now)) != TGH_OK)
        return rc;
    if (tombstoned) {
        b->add.deleted++;
        return TGH_OK;
    }
    rc = row_get(sq, ev, &row, &found);
    tgh_free(row.event);
    if (rc != TGH_OK)
        return rc;
    if (found) {
        b->add.unchanged++;
        return TGH_OK;
    }
    /* Not here (yet): remember the deletion for when the message arrives. */
    s = sq->stmt[S_TOMB_ADD];
    (void)sqlite3_bind_int64(s, 1, ev->chat_id);
    (void)sqlite3_bind_int64(s, 2, ev->message_id);
    (void)sqlite3_bind_int64(s, 3, ev->observed_at != MSG_UNSET ? ev->observed_at : b->now);
    bind_str(s, 4, msg_source_name(ev->source));
    rc = run(sq, S_TOMB_ADD, "record tombstone");
    if (rc != TGH_OK)
        return rc;
    if (sqlite3_changes(sq->db) == 1)
        b->add.delete_unknown++;
    else
        b->add.unchanged++;
    return TGH_OK;
}

TGH_MUSTCHECK tgh_err
sqlite_commit(void *impl, const struct msg_event *ev, size_t n, struct store_stats *stats,
              enum store_change *changes)
{
    struct sq *sq = impl;
    struct batch b = { .now = (int64_t)time(NULL) };
    tgh_err rc;
    size_t i = 0;

    rc = run(sq, S_BEGIN, "begin");
    if (rc != TGH_OK)
        return rc;
    for (i = 0; i < n; i++) {
        struct store_stats before = b.add;

        rc =
            ev[i].op == MSG_OP_DELETE ? apply_delete(sq, &b, &ev[i]) : apply_upsert(sq, &b, &ev[i]);
        if (changes != NULL)
            changes[i] = store_change_between(&before, &b.add);
        if (rc != TGH_OK) {
            char detail[512];

            /* tgh_errf() writes the buffer it would read: copy it first. */
            (void)snprintf(detail, sizeof(detail), "%s", tgh_errmsg());
            rc = tgh_errf(rc, "event %zu of %zu (chat %" PRId64 ", message %" PRId64 "): %s", i, n,
                          ev[i].chat_id, ev[i].message_id, detail);
            goto out;
        }
    }
    rc = run(sq, S_COMMIT, "commit");
out:
    if (rc != TGH_OK) {
        rollback(sq);
        return rc;
    }
    store_stats_add(stats, &b.add);
    return TGH_OK;
}

TGH_MUSTCHECK tgh_err
sqlite_chat_upsert(void *impl, int64_t chat_id, enum msg_chat_type type, const char *title,
                   const char *username)
{
    struct sq *sq = impl;
    struct msg_event ev;
    struct batch b;

    /* The same statement as inside a batch, in autocommit mode. */
    memset(&b, 0, sizeof(b));
    b.now = (int64_t)time(NULL);
    msg_event_init(&ev);
    ev.chat_id = chat_id;
    ev.chat_type = type;
    ev.chat_title = title;
    ev.chat_username = username;
    return chat_touch(sq, &b, &ev);
}
