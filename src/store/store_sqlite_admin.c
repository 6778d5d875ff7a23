/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_admin.c - the bookkeeping of the SQLite store: collection
 * runs, dead letters, tracked chats and their cursors, and retention.
 */
#include "store/store_sqlite_int.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/msg.h"
#include "core/util.h"

/* ---- runs and dead letters ---- */

TGH_MUSTCHECK tgh_err
sqlite_dead_letter_add(void *impl, const struct store_dead_letter *dl)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_DEAD_ADD];

    bind_str(s, 1, dl->source != NULL ? dl->source : "unknown");
    bind_str(s, 2, dl->origin);
    bind_str(s, 3, dl->position);
    bind_str(s, 4, dl->reason != NULL ? dl->reason : "");
    bind_strn(s, 5, dl->payload, dl->payload_len);
    (void)sqlite3_bind_int64(s, 6, (int64_t)time(NULL));
    return run(sq, S_DEAD_ADD, "add dead letter");
}

TGH_MUSTCHECK tgh_err
sqlite_run_begin(void *impl, int64_t chat_id, const char *kind, const char *origin, int64_t *run_id)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_RUN_BEGIN];
    tgh_err rc;

    bind_i64(s, 1, chat_id);
    bind_str(s, 2, kind != NULL ? kind : "unknown");
    bind_str(s, 3, origin);
    (void)sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    rc = run(sq, S_RUN_BEGIN, "begin run");
    if (rc == TGH_OK)
        *run_id = sqlite3_last_insert_rowid(sq->db);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_run_finish(void *impl, int64_t run_id, const struct store_run_result *res)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_RUN_FINISH];
    const struct store_stats *st = &res->stats;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, run_id);
    (void)sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    bind_str(s, 3, res->status != NULL ? res->status : "ok");
    (void)sqlite3_bind_int64(s, 4, res->messages_seen);
    (void)sqlite3_bind_int64(s, 5, (int64_t)st->inserted);
    (void)sqlite3_bind_int64(s, 6, (int64_t)st->versioned);
    (void)sqlite3_bind_int64(s, 7, (int64_t)st->unchanged);
    (void)sqlite3_bind_int64(s, 8, (int64_t)st->refreshed);
    (void)sqlite3_bind_int64(s, 9, (int64_t)(st->deleted + st->delete_unknown));
    (void)sqlite3_bind_int64(s, 10, (int64_t)res->errors);
    bind_str(s, 11, res->error);
    (void)sqlite3_bind_int64(s, 12, res->flood_waits);
    (void)sqlite3_bind_int64(s, 13, res->flood_seconds);
    rc = run(sq, S_RUN_FINISH, "finish run");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "collection run %" PRId64 " does not exist", run_id);
    return rc;
}

static void
bind_named_str(sqlite3_stmt *s, const char *name, const char *v)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx > 0)
        bind_str(s, idx, v);
}

/* A row of RUN_COLUMNS (NULL integers read as 0); strings are the statement's. */
static void
run_row(sqlite3_stmt *s, struct store_run_row *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->chat_id = sqlite3_column_int64(s, 1);
    r->kind = col_str(s, 2);
    r->origin = col_str(s, 3);
    r->started_at = sqlite3_column_int64(s, 4);
    r->finished_at = sqlite3_column_int64(s, 5);
    r->status = col_str(s, 6);
    r->messages_seen = sqlite3_column_int64(s, 7);
    r->stats.inserted = (size_t)sqlite3_column_int64(s, 8);
    r->stats.versioned = (size_t)sqlite3_column_int64(s, 9);
    r->stats.unchanged = (size_t)sqlite3_column_int64(s, 10);
    r->stats.refreshed = (size_t)sqlite3_column_int64(s, 11);
    r->stats.deleted = (size_t)sqlite3_column_int64(s, 12);
    r->errors = sqlite3_column_int64(s, 13);
    r->error = col_str(s, 14);
    r->flood_waits = sqlite3_column_int64(s, 15);
    r->flood_seconds = sqlite3_column_int64(s, 16);
}

/*
 * Step s (bound by the caller) into page[] (at most RUN_PAGE rows, strings
 * copied into a), then reset it: as in sqlite_tracked_each(), fn runs with
 * no read open and may write (a caller retrying what failed).
 */
TGH_MUSTCHECK static tgh_err
runs_page(struct sq *sq, sqlite3_stmt *s, struct store_run_row *page, struct tgh_arena *a,
          size_t *n)
{
    int src = SQLITE_DONE;
    tgh_err rc = TGH_OK;

    tgh_arena_reset(a);
    *n = 0;
    while (*n < RUN_PAGE && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_run_row *r = &page[(*n)++];
        const char **strs[] = { &r->kind, &r->origin, &r->status, &r->error };

        run_row(s, r);
        for (size_t i = 0; i < TGH_NELEM(strs); i++)
            if (*strs[i] != NULL)
                *strs[i] = tgh_arena_strdup(a, *strs[i]);
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "list runs");
    (void)sqlite3_reset(s);
    return rc;
}

/* Newest first, in pages keyed on the id (the before_id the caller pages with, too). */
TGH_MUSTCHECK tgh_err
sqlite_runs_each(void *impl, const struct store_runs_query *q, store_run_fn fn, void *arg)
{
    struct sq *sq = impl;
    struct store_run_row page[RUN_PAGE];
    int64_t before = q->before_id != 0 ? q->before_id : INT64_MAX;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX;
    sqlite3_stmt *s = NULL;
    struct tgh_arena strs;
    char sql[512];
    size_t len = 0, n = 0;
    tgh_err rc;
    int src;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len,
            "SELECT " RUN_COLUMNS " FROM collection_runs WHERE id < :before");
    if (q->chat_id == 0)
        sql_add(sql, sizeof(sql), &len, " AND chat_id IS NULL");
    else if (q->chat_id != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND chat_id = :chat");
    if (q->kind != NULL)
        sql_add(sql, sizeof(sql), &len, " AND kind = :kind");
    if (q->status != NULL)
        sql_add(sql, sizeof(sql), &len, " AND status = :status");
    sql_add(sql, sizeof(sql), &len, " ORDER BY id DESC LIMIT :limit");
    src = sqlite3_prepare_v2(sq->db, sql, (int)len, &s, NULL);
    if (src != SQLITE_OK)
        return sq_fail(sq, src, "prepare run query");
    bind_named_i64(s, ":chat", q->chat_id);
    bind_named_str(s, ":kind", q->kind);
    bind_named_str(s, ":status", q->status);
    tgh_arena_init(&strs, 4096);
    do {
        bind_named_i64(s, ":before", before);
        bind_named_i64(s, ":limit", left < RUN_PAGE ? left : RUN_PAGE);
        rc = runs_page(sq, s, page, &strs, &n);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            before = page[n - 1].id;
        left -= (int64_t)n;
    } while (rc == TGH_OK && n == RUN_PAGE && left > 0);
out:
    tgh_arena_fini(&strs);
    sqlite3_finalize(s);
    return rc;
}

/* Pages of kinds, keyed on the last kind (a copy: the arena is reset per page). */
TGH_MUSTCHECK tgh_err
sqlite_runs_last_each(void *impl, store_run_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_RUNS_LAST];
    struct store_run_row page[RUN_PAGE];
    struct tgh_arena strs;
    char *after = NULL;
    size_t n = 0;
    tgh_err rc;

    tgh_arena_init(&strs, 4096);
    do {
        bind_str(s, 1, after);
        rc = runs_page(sq, s, page, &strs, &n);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0) {
            tgh_free(after);
            after = tgh_strdup(page[n - 1].kind);
        }
    } while (rc == TGH_OK && n == RUN_PAGE);
out:
    tgh_free(after);
    tgh_arena_fini(&strs);
    return rc;
}

/* A row of DL_COLUMNS (NULL integers read as 0); strings are the statement's. */
static void
dead_letter_row(sqlite3_stmt *s, struct store_dead_letter_row *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, 0);
    d->source = col_str(s, 1);
    d->origin = col_str(s, 2);
    d->position = col_str(s, 3);
    d->reason = col_str(s, 4);
    d->payload = col_str(s, 5);
    d->payload_len = (size_t)sqlite3_column_bytes(s, 5);
    d->created_at = sqlite3_column_int64(s, 6);
    d->retry_count = sqlite3_column_int64(s, 7);
    d->resolved_at = sqlite3_column_int64(s, 8);
}

/* Step s into page[] (at most max rows, strings copied into a), then reset it. */
TGH_MUSTCHECK static tgh_err
dead_letters_page(struct sq *sq, sqlite3_stmt *s, struct store_dead_letter_row *page, size_t max,
                  struct tgh_arena *a, size_t *n)
{
    int src = SQLITE_DONE;
    tgh_err rc = TGH_OK;

    tgh_arena_reset(a);
    *n = 0;
    while (*n < max && (src = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_dead_letter_row *d = &page[(*n)++];
        const char **strs[] = { &d->source, &d->origin, &d->position, &d->reason };

        dead_letter_row(s, d);
        for (size_t i = 0; i < TGH_NELEM(strs); i++)
            if (*strs[i] != NULL)
                *strs[i] = tgh_arena_strdup(a, *strs[i]);
        if (d->payload != NULL) /* (ptr, len): it may hold any byte */
            d->payload = tgh_arena_strndup(a, d->payload, d->payload_len);
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_fail(sq, src, "list dead letters");
    (void)sqlite3_reset(s);
    return rc;
}

/* Newest first, in pages keyed on the id, as sqlite_runs_each(). */
TGH_MUSTCHECK tgh_err
sqlite_dead_letters_each(void *impl, const struct store_dl_query *q, store_dead_letter_fn fn,
                         void *arg)
{
    struct sq *sq = impl;
    struct store_dead_letter_row page[DL_PAGE];
    int64_t before = q->before_id != 0 ? q->before_id : INT64_MAX;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX;
    sqlite3_stmt *s = NULL;
    struct tgh_arena strs;
    char sql[512];
    size_t len = 0, n = 0;
    tgh_err rc;
    int src;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len,
            "SELECT " DL_COLUMNS " FROM ingestion_errors WHERE id < :before");
    if (q->state == STORE_DL_OPEN)
        sql_add(sql, sizeof(sql), &len, " AND resolved_at IS NULL");
    else if (q->state == STORE_DL_RESOLVED)
        sql_add(sql, sizeof(sql), &len, " AND resolved_at IS NOT NULL");
    if (q->source != NULL)
        sql_add(sql, sizeof(sql), &len, " AND source = :source");
    sql_add(sql, sizeof(sql), &len, " ORDER BY id DESC LIMIT :limit");
    src = sqlite3_prepare_v2(sq->db, sql, (int)len, &s, NULL);
    if (src != SQLITE_OK)
        return sq_fail(sq, src, "prepare dead letter query");
    bind_named_str(s, ":source", q->source);
    tgh_arena_init(&strs, 16 * 1024);
    do {
        bind_named_i64(s, ":before", before);
        bind_named_i64(s, ":limit", left < DL_PAGE ? left : DL_PAGE);
        rc = dead_letters_page(sq, s, page, DL_PAGE, &strs, &n);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            before = page[n - 1].id;
        left -= (int64_t)n;
    } while (rc == TGH_OK && n == DL_PAGE && left > 0);
out:
    tgh_arena_fini(&strs);
    sqlite3_finalize(s);
    return rc;
}

/* A page of one row (copied into sq->found): fn may write, a retry would. */
TGH_MUSTCHECK tgh_err
sqlite_dead_letter_get(void *impl, int64_t id, store_dead_letter_fn fn, void *arg)
{
    struct sq *sq = impl;
    struct store_dead_letter_row d;
    size_t n = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(sq->stmt[S_DL_GET], 1, id);
    rc = dead_letters_page(sq, sq->stmt[S_DL_GET], &d, 1, &sq->found, &n);
    if (rc == TGH_OK && n == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", id);
    if (rc == TGH_OK)
        (void)fn(arg, &d);
    return rc;
}

/* Run a one-row write by dead letter id; TGH_ENOTFOUND when it matched nothing. */
TGH_MUSTCHECK static tgh_err
dead_letter_write(struct sq *sq, enum stmt_id id, int64_t row, const char *what)
{
    tgh_err rc = run(sq, id, what);

    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", row);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_dead_letter_retried(void *impl, int64_t id, bool resolved, const char *reason, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_DL_RETRIED];

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int(s, 2, resolved);
    bind_str(s, 3, reason);
    (void)sqlite3_bind_int64(s, 4, at);
    return dead_letter_write(sq, S_DL_RETRIED, id, "record dead letter retry");
}

TGH_MUSTCHECK tgh_err
sqlite_dead_letter_resolve(void *impl, int64_t id, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_DL_RESOLVE];

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, at);
    return dead_letter_write(sq, S_DL_RESOLVE, id, "resolve dead letter");
}

/* ---- tracked chats and cursors ---- */

/* 0 means "none" in the API and NULL in the optional columns of 004_collect.sql. */
static void
bind_nz(sqlite3_stmt *s, int idx, int64_t v)
{
    if (v == 0)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_int64(s, idx, v);
}

/* Parameters ?2..?16 of S_TRK_INSERT and S_TRK_UPDATE. */
static void
bind_tracked(sqlite3_stmt *s, const struct store_tracked *t, int64_t now)
{
    bind_str(s, 2, t->spec);
    bind_nz(s, 3, t->chat_id);
    bind_str(s, 4, t->account);
    (void)sqlite3_bind_int(s, 5, t->enabled);
    bind_str(s, 6, t->status != NULL ? t->status : "new");
    bind_str(s, 7, t->error);
    bind_str(s, 8, t->type);
    bind_str(s, 9, t->title);
    bind_str(s, 10, t->username);
    bind_nz(s, 11, t->linked_chat_id);
    (void)sqlite3_bind_int(s, 12, t->is_forum);
    (void)sqlite3_bind_int(s, 13, t->comments);
    (void)sqlite3_bind_int(s, 14, t->topics);
    (void)sqlite3_bind_int64(s, 15, t->updated_at != 0 ? t->updated_at : now);
    bind_nz(s, 16, t->last_collected_at);
}

/* A row of TRK_COLUMNS (NULL integers read as 0); strings are the statement's. */
static void
tracked_row(sqlite3_stmt *s, struct store_tracked *t)
{
    t->id = sqlite3_column_int64(s, 0);
    t->spec = col_str(s, 1);
    t->chat_id = sqlite3_column_int64(s, 2);
    t->account = col_str(s, 3);
    t->enabled = sqlite3_column_int(s, 4) != 0;
    t->status = col_str(s, 5);
    t->error = col_str(s, 6);
    t->type = col_str(s, 7);
    t->title = col_str(s, 8);
    t->username = col_str(s, 9);
    t->linked_chat_id = sqlite3_column_int64(s, 10);
    t->is_forum = sqlite3_column_int(s, 11) != 0;
    t->comments = sqlite3_column_int(s, 12) != 0;
    t->topics = sqlite3_column_int(s, 13) != 0;
    t->added_at = sqlite3_column_int64(s, 14);
    t->updated_at = sqlite3_column_int64(s, 15);
    t->last_collected_at = sqlite3_column_int64(s, 16);
    t->backfill_requested_at = sqlite3_column_int64(s, 17);
    t->media_policy = col_str(s, 18);
}

/* Move the strings of t into a, so they outlive the statement's row. */
static void
tracked_keep(struct tgh_arena *a, struct store_tracked *t)
{
    const char **strs[] = { &t->spec, &t->account, &t->status,   &t->error,
                            &t->type, &t->title,   &t->username, &t->media_policy };

    for (size_t i = 0; i < TGH_NELEM(strs); i++)
        if (*strs[i] != NULL)
            *strs[i] = tgh_arena_strdup(a, *strs[i]);
}

/* Step a TRK_COLUMNS query the caller bound: *row is the id found, or 0. */
TGH_MUSTCHECK static tgh_err
tracked_id(struct sq *sq, enum stmt_id id, int64_t *row)
{
    bool found;
    tgh_err rc;

    rc = step_one(sq, id, "find tracked chat", &found);
    *row = rc == TGH_OK && found ? sqlite3_column_int64(sq->stmt[id], 0) : 0;
    (void)sqlite3_reset(sq->stmt[id]);
    return rc;
}

/*
 * The row with t's chat_id takes t's spec. Another row holding that spec
 * either never resolved (it named this chat: it goes) or resolved to
 * another chat before the username moved (it keeps tracking that chat and
 * is renamed to its chat id, the one spec that still names it).
 */
TGH_MUSTCHECK static tgh_err
tracked_take_spec(struct sq *sq, const struct store_tracked *t, int64_t row, int64_t now)
{
    sqlite3_stmt *s = sq->stmt[S_TRK_DROP_SPEC];
    tgh_err rc;

    bind_str(s, 1, t->spec);
    (void)sqlite3_bind_int64(s, 2, row);
    rc = run(sq, S_TRK_DROP_SPEC, "merge tracked chat");
    if (rc != TGH_OK)
        return rc;
    s = sq->stmt[S_TRK_MOVE_SPEC];
    bind_str(s, 1, t->spec);
    (void)sqlite3_bind_int64(s, 2, row);
    (void)sqlite3_bind_int64(s, 3, now);
    return run(sq, S_TRK_MOVE_SPEC, "rename tracked chat");
}

/* One short transaction: the lookups and the write see the same rows. */
TGH_MUSTCHECK tgh_err
sqlite_tracked_put(void *impl, const struct store_tracked *t, int64_t *id)
{
    struct sq *sq = impl;
    int64_t now = (int64_t)time(NULL), row = 0;
    sqlite3_stmt *s;
    tgh_err rc;

    rc = run(sq, S_BEGIN, "begin");
    if (rc != TGH_OK)
        return rc;
    if (t->chat_id != 0) {
        (void)sqlite3_bind_int64(sq->stmt[S_TRK_BY_CHAT], 1, t->chat_id);
        rc = tracked_id(sq, S_TRK_BY_CHAT, &row);
        if (rc == TGH_OK && row != 0)
            rc = tracked_take_spec(sq, t, row, now);
        if (rc != TGH_OK)
            goto out;
    }
    if (row == 0) {
        bind_str(sq->stmt[S_TRK_BY_SPEC], 1, t->spec);
        rc = tracked_id(sq, S_TRK_BY_SPEC, &row);
        if (rc != TGH_OK)
            goto out;
    }
    if (row != 0) {
        s = sq->stmt[S_TRK_UPDATE];
        (void)sqlite3_bind_int64(s, 1, row);
        bind_tracked(s, t, now);
        rc = run(sq, S_TRK_UPDATE, "update tracked chat");
    } else {
        s = sq->stmt[S_TRK_INSERT];
        bind_tracked(s, t, now);
        (void)sqlite3_bind_int64(s, 17, now);
        rc = run(sq, S_TRK_INSERT, "add tracked chat");
        row = sqlite3_last_insert_rowid(sq->db);
    }
    if (rc == TGH_OK)
        rc = run(sq, S_COMMIT, "commit");
out:
    if (rc != TGH_OK) {
        rollback(sq);
        return rc;
    }
    *id = row;
    return TGH_OK;
}

/*
 * Listings read a page of rows, end the statement, then call fn: fn may write
 * to the store (a collector sets statuses and cursors as it goes), and no
 * read stays open across a long callback to hold back WAL checkpoints.
 */
TGH_MUSTCHECK tgh_err
sqlite_tracked_each(void *impl, store_tracked_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_PAGE];
    struct store_tracked page[TRK_PAGE];
    struct tgh_arena strs;
    int64_t after = INT64_MIN;
    tgh_err rc = TGH_OK;
    size_t n;

    tgh_arena_init(&strs, 4096);
    do {
        int src = SQLITE_DONE;

        tgh_arena_reset(&strs);
        n = 0;
        (void)sqlite3_bind_int64(s, 1, after);
        while (n < TRK_PAGE && (src = sqlite3_step(s)) == SQLITE_ROW) {
            tracked_row(s, &page[n]);
            tracked_keep(&strs, &page[n]);
            n++;
        }
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = sq_fail(sq, src, "list tracked chats");
        (void)sqlite3_reset(s);
        if (rc != TGH_OK)
            break;
        for (size_t i = 0; i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            after = page[n - 1].id;
    } while (n == TRK_PAGE);
out:
    tgh_arena_fini(&strs);
    return rc;
}

/* Step a TRK_COLUMNS query the caller bound; a row goes to *out, strings into sq->found. */
TGH_MUSTCHECK static tgh_err
tracked_get(struct sq *sq, enum stmt_id id, struct store_tracked *out, bool *found)
{
    sqlite3_stmt *s = sq->stmt[id];
    tgh_err rc;

    rc = step_one(sq, id, "find tracked chat", found);
    if (rc == TGH_OK && *found) {
        tracked_row(s, out);
        tracked_keep(&sq->found, out);
    }
    (void)sqlite3_reset(s);
    return rc;
}

/* The exact spec first: whatever the user typed names that row above all. */
TGH_MUSTCHECK tgh_err
sqlite_tracked_find(void *impl, const char *key, struct store_tracked *out)
{
    struct sq *sq = impl;
    struct store_tracked_key k;
    bool found = false;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    tgh_arena_reset(&sq->found);
    store_tracked_key_parse(key, &k);
    bind_str(sq->stmt[S_TRK_BY_SPEC], 1, key);
    rc = tracked_get(sq, S_TRK_BY_SPEC, out, &found);
    for (size_t i = 0; rc == TGH_OK && !found && i < k.n_ids; i++) {
        (void)sqlite3_bind_int64(sq->stmt[S_TRK_BY_CHAT], 1, k.chat_ids[i]);
        rc = tracked_get(sq, S_TRK_BY_CHAT, out, &found);
    }
    if (rc == TGH_OK && !found && k.name[0] != '\0') {
        bind_str(sq->stmt[S_TRK_BY_NAME], 1, k.name);
        rc = tracked_get(sq, S_TRK_BY_NAME, out, &found);
    }
    if (rc == TGH_OK && !found && k.name[0] != '\0') {
        bind_str(sq->stmt[S_TRK_BY_AT_SPEC], 1, k.name);
        rc = tracked_get(sq, S_TRK_BY_AT_SPEC, out, &found);
    }
    if (rc == TGH_OK && !found)
        rc = tgh_errf(TGH_ENOTFOUND, "no tracked chat matches '%.200s'", key);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_tracked_remove(void *impl, int64_t id)
{
    struct sq *sq = impl;
    tgh_err rc;

    (void)sqlite3_bind_int64(sq->stmt[S_TRK_REMOVE], 1, id);
    rc = run(sq, S_TRK_REMOVE, "remove tracked chat");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_tracked_set_status(void *impl, int64_t id, const char *status, const char *error,
                          int64_t last_collected_at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_STATUS];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    bind_str(s, 2, status);
    bind_str(s, 3, error);
    (void)sqlite3_bind_int64(s, 4, (int64_t)time(NULL));
    bind_nz(s, 5, last_collected_at);
    rc = run(sq, S_TRK_STATUS, "set tracked chat status");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_tracked_request_backfill(void *impl, int64_t id, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_BACKFILL_ASK];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, at);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    rc = run(sq, S_TRK_BACKFILL_ASK, "request backfill");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_tracked_set_media_policy(void *impl, int64_t id, const char *spec)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_MEDIA_POLICY];
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    if (spec != NULL)
        (void)sqlite3_bind_text(s, 2, spec, -1, SQLITE_TRANSIENT);
    else
        (void)sqlite3_bind_null(s, 2);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    rc = run(sq, S_TRK_MEDIA_POLICY, "set media policy");
    if (rc == TGH_OK && sqlite3_changes(sq->db) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

/*
 * Clear the request the pass was for, and only that one: a request made
 * while the pass ran has another time and stays for the next pass.
 */
TGH_MUSTCHECK tgh_err
sqlite_tracked_backfill_done(void *impl, int64_t id, int64_t at)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_TRK_BACKFILL_DONE];
    int64_t row = 0;
    tgh_err rc;

    (void)sqlite3_bind_int64(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, at);
    (void)sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    rc = run(sq, S_TRK_BACKFILL_DONE, "finish backfill request");
    if (rc != TGH_OK || sqlite3_changes(sq->db) > 0)
        return rc;
    (void)sqlite3_bind_int64(sq->stmt[S_TRK_EXISTS], 1, id);
    rc = tracked_id(sq, S_TRK_EXISTS, &row);
    if (rc == TGH_OK && row == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    return rc;
}

/* A row of CUR_COLUMNS. */
static void
cursor_row(sqlite3_stmt *s, struct store_cursor *c)
{
    c->chat_id = sqlite3_column_int64(s, 0);
    c->thread_id = sqlite3_column_int64(s, 1);
    c->newest_id = sqlite3_column_int64(s, 2);
    c->oldest_id = sqlite3_column_int64(s, 3);
    c->complete = sqlite3_column_int(s, 4) != 0;
    c->gap_hi = sqlite3_column_int64(s, 5);
    c->gap_from = sqlite3_column_int64(s, 6);
    c->updated_at = sqlite3_column_int64(s, 7);
}

TGH_MUSTCHECK tgh_err
sqlite_cursor_get(void *impl, int64_t chat_id, int64_t thread_id, struct store_cursor *out)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CUR_GET];
    bool found;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    out->chat_id = chat_id;
    out->thread_id = thread_id;
    (void)sqlite3_bind_int64(s, 1, chat_id);
    (void)sqlite3_bind_int64(s, 2, thread_id);
    rc = step_one(sq, S_CUR_GET, "read cursor", &found);
    if (rc == TGH_OK && found)
        cursor_row(s, out);
    (void)sqlite3_reset(s);
    if (rc == TGH_OK && !found)
        rc = tgh_errf(TGH_ENOTFOUND, "no cursor for chat %" PRId64 " thread %" PRId64, chat_id,
                      thread_id);
    return rc;
}

/*
 * One statement in autocommit mode: when it returns TGH_OK the cursor is
 * committed. Batches never leave a transaction open between calls; the
 * check makes sure a cursor can never ride along in one and be rolled back.
 */
TGH_MUSTCHECK tgh_err
sqlite_cursor_put(void *impl, const struct store_cursor *c)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CUR_PUT];

    if (!sqlite3_get_autocommit(sq->db))
        return tgh_errf(TGH_EIO, "cursor write inside an open transaction");
    (void)sqlite3_bind_int64(s, 1, c->chat_id);
    (void)sqlite3_bind_int64(s, 2, c->thread_id);
    (void)sqlite3_bind_int64(s, 3, c->newest_id);
    (void)sqlite3_bind_int64(s, 4, c->oldest_id);
    (void)sqlite3_bind_int(s, 5, c->complete);
    (void)sqlite3_bind_int64(s, 6, c->gap_hi);
    (void)sqlite3_bind_int64(s, 7, c->gap_from);
    (void)sqlite3_bind_int64(s, 8, c->updated_at != 0 ? c->updated_at : (int64_t)time(NULL));
    return run(sq, S_CUR_PUT, "write cursor");
}

/* Paged like sqlite_tracked_each(), by (chat_id, thread_id). */
TGH_MUSTCHECK tgh_err
sqlite_cursors_each(void *impl, int64_t chat_id, store_cursor_fn fn, void *arg)
{
    struct sq *sq = impl;
    sqlite3_stmt *s = sq->stmt[S_CUR_PAGE];
    struct store_cursor page[CUR_PAGE];
    int64_t lo = chat_id == MSG_UNSET ? INT64_MIN : chat_id;
    int64_t hi = chat_id == MSG_UNSET ? INT64_MAX : chat_id;
    int64_t after_chat = lo, after_thread = INT64_MIN; /* store.c refuses these ids */
    size_t n;

    do {
        int src = SQLITE_DONE;

        n = 0;
        (void)sqlite3_bind_int64(s, 1, lo);
        (void)sqlite3_bind_int64(s, 2, hi);
        (void)sqlite3_bind_int64(s, 3, after_chat);
        (void)sqlite3_bind_int64(s, 4, after_thread);
        while (n < CUR_PAGE && (src = sqlite3_step(s)) == SQLITE_ROW)
            cursor_row(s, &page[n++]);
        (void)sqlite3_reset(s);
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            return sq_fail(sq, src, "list cursors");
        for (size_t i = 0; i < n; i++)
            if (fn(arg, &page[i]) != 0)
                return TGH_OK;
        if (n > 0) {
            after_chat = page[n - 1].chat_id;
            after_thread = page[n - 1].thread_id;
        }
    } while (n == CUR_PAGE);
    return TGH_OK;
}

/* One transaction; the FTS triggers drop the removed texts from the index. */
TGH_MUSTCHECK tgh_err
sqlite_retention_apply(void *impl, int64_t before, int64_t *removed)
{
    struct sq *sq = impl;
    int64_t gone;
    tgh_err rc;

    rc = run(sq, S_BEGIN, "begin");
    if (rc != TGH_OK)
        return rc;
    (void)sqlite3_bind_int64(sq->stmt[S_RET_VERSIONS], 1, before);
    rc = run(sq, S_RET_VERSIONS, "remove old versions");
    if (rc != TGH_OK)
        goto out;
    (void)sqlite3_bind_int64(sq->stmt[S_RET_MESSAGES], 1, before);
    rc = run(sq, S_RET_MESSAGES, "remove old messages");
    if (rc != TGH_OK)
        goto out;
    gone = sqlite3_changes64(sq->db);
    rc = run(sq, S_COMMIT, "commit");
    if (rc == TGH_OK)
        *removed = gone;
out:
    if (rc != TGH_OK)
        rollback(sq);
    return rc;
}
