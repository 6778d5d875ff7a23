/* SPDX-License-Identifier: MIT */
/*
 * store_pg_admin.c - the bookkeeping of the PostgreSQL store: the chat
 * upsert, collection runs, dead letters, tracked chats and their cursors,
 * and retention (whole monthly partitions).
 */
#include "store/store_pg_int.h"

#include <time.h>

#include "core/util.h"

/* ---- single writes ---- */

TGH_MUSTCHECK tgh_err
pg_chat_upsert(void *impl, int64_t chat_id, enum msg_chat_type type, const char *title,
               const char *username)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    p_str(&p, type == MSG_CHAT_UNKNOWN ? NULL : msg_chat_type_name(type));
    p_str(&p, title);
    p_str(&p, username);
    p_int(&p, (int64_t)time(NULL));
    return pg_exec_stmt(pg, P_CHAT_UPSERT, &p, NULL, "upsert chat");
}

TGH_MUSTCHECK tgh_err
pg_dead_letter_add(void *impl, const struct store_dead_letter *dl)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    char *payload = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    if (dl->payload != NULL) /* (ptr, len): not NUL-terminated */
        payload = tgh_strndup(dl->payload, dl->payload_len);
    p_str(&p, dl->source != NULL ? dl->source : "unknown");
    p_str(&p, dl->origin);
    p_str(&p, dl->position);
    p_str(&p, dl->reason != NULL ? dl->reason : "");
    p_str(&p, payload);
    p_int(&p, (int64_t)time(NULL));
    rc = pg_exec_stmt(pg, P_DEAD_ADD, &p, NULL, "add dead letter");
    tgh_free(payload);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_run_begin(void *impl, int64_t chat_id, const char *kind, const char *origin, int64_t *run_id)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_i64(&p, chat_id);
    p_str(&p, kind != NULL ? kind : "unknown");
    p_str(&p, origin);
    p_int(&p, (int64_t)time(NULL));
    rc = pg_exec_stmt(pg, P_RUN_BEGIN, &p, &r, "begin run");
    if (rc == TGH_OK)
        *run_id = v_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_run_finish(void *impl, int64_t run_id, const struct store_run_result *res)
{
    struct pg *pg = impl;
    const struct store_stats *st = &res->stats;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, run_id);
    p_int(&p, (int64_t)time(NULL));
    p_str(&p, res->status != NULL ? res->status : "ok");
    p_int(&p, res->messages_seen);
    p_int(&p, (int64_t)st->inserted);
    p_int(&p, (int64_t)st->versioned);
    p_int(&p, (int64_t)st->unchanged);
    p_int(&p, (int64_t)st->refreshed);
    p_int(&p, (int64_t)(st->deleted + st->delete_unknown));
    p_int(&p, (int64_t)res->errors);
    p_str(&p, res->error);
    p_int(&p, res->flood_waits);
    p_int(&p, res->flood_seconds);
    rc = pg_exec_stmt(pg, P_RUN_FINISH, &p, &r, "finish run");
    if (rc == TGH_OK && changed(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "collection run %" PRId64 " does not exist", run_id);
    PQclear(r);
    return rc;
}

/* ---- runs and dead letters ---- */

/* A row of RUN_COLUMNS (NULL integers read as 0); strings are the result's. */
static void
run_row(const PGresult *r, int i, struct store_run_row *run)
{
    memset(run, 0, sizeof(*run));
    run->id = v_i64(r, i, 0);
    run->chat_id = v_i64(r, i, 1);
    run->kind = v_str(r, i, 2);
    run->origin = v_str(r, i, 3);
    run->started_at = v_i64(r, i, 4);
    run->finished_at = v_i64(r, i, 5);
    run->status = v_str(r, i, 6);
    run->messages_seen = v_i64(r, i, 7);
    run->stats.inserted = (size_t)v_i64(r, i, 8);
    run->stats.versioned = (size_t)v_i64(r, i, 9);
    run->stats.unchanged = (size_t)v_i64(r, i, 10);
    run->stats.refreshed = (size_t)v_i64(r, i, 11);
    run->stats.deleted = (size_t)v_i64(r, i, 12);
    run->errors = v_i64(r, i, 13);
    run->error = v_str(r, i, 14);
    run->flood_waits = v_i64(r, i, 15);
    run->flood_seconds = v_i64(r, i, 16);
}

/* Hand every row of r to fn; *stopped when fn asked to stop. */
static void
each_run(const PGresult *r, store_run_fn fn, void *arg, bool *stopped)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_run_row run;

        run_row(r, i, &run);
        if (fn(arg, &run) != 0) {
            *stopped = true;
            return;
        }
    }
}

/*
 * A listing in pages keyed on the id, newest (highest id) first: sql builds
 * one page's query, rows hands its rows on. Each page's query is finished
 * before rows runs, so a callback may use the store.
 */
typedef void (*page_sql_fn)(const void *q, int64_t before, int64_t page, struct qbuf *b);
typedef void (*page_rows_fn)(void *ctx, const PGresult *r, bool *stopped);

TGH_MUSTCHECK static tgh_err
pages_by_id(struct pg *pg, const void *q, int64_t before_id, int64_t limit, int64_t page_max,
            page_sql_fn sql, page_rows_fn rows, void *ctx, const char *what)
{
    int64_t before = before_id != 0 ? before_id : INT64_MAX;
    int64_t left = limit > 0 ? limit : INT64_MAX;
    bool stopped = false;
    tgh_err rc = pg_conn_ready(pg);

    while (rc == TGH_OK && !stopped && left > 0) {
        struct qbuf b = { .len = 0 };
        int64_t page = left < page_max ? left : page_max;
        PGresult *r = NULL;
        int n;

        sql(q, before, page, &b);
        rc = q_exec(pg, &b, &r, what);
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        rows(ctx, r, &stopped);
        if (n > 0)
            before = v_i64(r, n - 1, 0);
        PQclear(r);
        left -= n;
        if (n < page)
            break;
    }
    return rc;
}

/* One page of runs_each(): only the filters that are set (chat 0: runs without one). */
static void
runs_sql(const void *query, int64_t before, int64_t page, struct qbuf *b)
{
    const struct store_runs_query *q = query;

    q_int(b, "SELECT " RUN_COLUMNS " FROM collection_runs WHERE id < ", before);
    if (q->chat_id == 0)
        q_add(b, " AND chat_id IS NULL");
    else if (q->chat_id != MSG_UNSET)
        q_int(b, " AND chat_id = ", q->chat_id);
    if (q->kind != NULL)
        q_str(b, " AND kind = ", q->kind);
    if (q->status != NULL)
        q_str(b, " AND status = ", q->status);
    q_int(b, " ORDER BY id DESC LIMIT ", page);
}

struct run_cb {
    store_run_fn fn;
    void *arg;
};

static void
run_rows(void *ctx, const PGresult *r, bool *stopped)
{
    const struct run_cb *cb = ctx;

    each_run(r, cb->fn, cb->arg, stopped);
}

TGH_MUSTCHECK tgh_err
pg_runs_each(void *impl, const struct store_runs_query *q, store_run_fn fn, void *arg)
{
    struct run_cb cb = { fn, arg };

    return pages_by_id(impl, q, q->before_id, q->limit, RUN_PAGE, runs_sql, run_rows, &cb,
                       "list runs");
}

/* Pages of kinds, keyed on the last kind (a copy: the page's result is cleared). */
TGH_MUSTCHECK tgh_err
pg_runs_last_each(void *impl, store_run_fn fn, void *arg)
{
    struct pg *pg = impl;
    bool stopped = false;
    char *after = NULL;
    tgh_err rc;
    int n = 0;

    rc = pg_conn_ready(pg);
    while (rc == TGH_OK && !stopped) {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        p_str(&p, after);
        rc = pg_exec_stmt(pg, P_RUNS_LAST, &p, &r, "list last runs");
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        each_run(r, fn, arg, &stopped);
        if (n > 0) {
            tgh_free(after);
            after = tgh_strdup(PQgetvalue(r, n - 1, 2));
        }
        PQclear(r);
        if (n < RUN_PAGE)
            break;
    }
    tgh_free(after);
    return rc;
}

/* Hand every row of DL_COLUMNS in r to fn (strings are the result's); *stopped when fn asked. */
static void
each_dead_letter(const PGresult *r, store_dead_letter_fn fn, void *arg, bool *stopped)
{
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_dead_letter_row d = {
            .id = v_i64(r, i, 0),
            .source = v_str(r, i, 1),
            .origin = v_str(r, i, 2),
            .position = v_str(r, i, 3),
            .reason = v_str(r, i, 4),
            .payload = v_str(r, i, 5),
            .payload_len = (size_t)PQgetlength(r, i, 5),
            .created_at = v_i64(r, i, 6),
            .retry_count = v_i64(r, i, 7),
            .resolved_at = v_i64(r, i, 8),
        };

        if (fn(arg, &d) != 0) {
            *stopped = true;
            return;
        }
    }
}

/* One page of dead_letters_each(): only the filters that are set. */
static void
dead_letters_sql(const void *query, int64_t before, int64_t page, struct qbuf *b)
{
    const struct store_dl_query *q = query;

    q_int(b, "SELECT " DL_COLUMNS " FROM ingestion_errors WHERE id < ", before);
    if (q->state == STORE_DL_OPEN)
        q_add(b, " AND resolved_at IS NULL");
    else if (q->state == STORE_DL_RESOLVED)
        q_add(b, " AND resolved_at IS NOT NULL");
    if (q->source != NULL)
        q_str(b, " AND source = ", q->source);
    q_int(b, " ORDER BY id DESC LIMIT ", page);
}

struct dl_cb {
    store_dead_letter_fn fn;
    void *arg;
};

static void
dl_rows(void *ctx, const PGresult *r, bool *stopped)
{
    const struct dl_cb *cb = ctx;

    each_dead_letter(r, cb->fn, cb->arg, stopped);
}

TGH_MUSTCHECK tgh_err
pg_dead_letters_each(void *impl, const struct store_dl_query *q, store_dead_letter_fn fn, void *arg)
{
    struct dl_cb cb = { fn, arg };

    return pages_by_id(impl, q, q->before_id, q->limit, DL_PAGE, dead_letters_sql, dl_rows, &cb,
                       "list dead letters");
}

TGH_MUSTCHECK tgh_err
pg_dead_letter_get(void *impl, int64_t id, store_dead_letter_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    bool stopped = false;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    rc = pg_exec_stmt(pg, P_DL_GET, &p, &r, "read dead letter");
    if (rc == TGH_OK && PQntuples(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", id);
    if (rc == TGH_OK)
        each_dead_letter(r, fn, arg, &stopped);
    PQclear(r);
    return rc;
}

/* Run a one-row write by dead letter id; TGH_ENOTFOUND when it matched nothing. */
TGH_MUSTCHECK static tgh_err
dead_letter_write(struct pg *pg, enum stmt_id id, const struct params *p, int64_t row,
                  const char *what)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_exec_stmt(pg, id, p, &r, what);
    if (rc == TGH_OK && changed(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "dead letter %" PRId64 " does not exist", row);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_dead_letter_retried(void *impl, int64_t id, bool resolved, const char *reason, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_bool(&p, resolved);
    p_str(&p, reason);
    p_int(&p, at);
    return dead_letter_write(pg, P_DL_RETRIED, &p, id, "record dead letter retry");
}

TGH_MUSTCHECK tgh_err
pg_dead_letter_resolve(void *impl, int64_t id, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_int(&p, at);
    return dead_letter_write(pg, P_DL_RESOLVE, &p, id, "resolve dead letter");
}

/* ---- tracked chats and cursors ---- */

/* $1..$15 of P_TRK_INSERT and P_TRK_UPDATE. */
static void
bind_tracked(struct params *p, const struct store_tracked *t, int64_t now)
{
    p_str(p, t->spec);
    p_nz(p, t->chat_id);
    p_str(p, t->account);
    p_bool(p, t->enabled);
    p_str(p, t->status != NULL ? t->status : "new");
    p_str(p, t->error);
    p_str(p, t->type);
    p_str(p, t->title);
    p_str(p, t->username);
    p_nz(p, t->linked_chat_id);
    p_bool(p, t->is_forum);
    p_bool(p, t->comments);
    p_bool(p, t->topics);
    p_int(p, t->updated_at != 0 ? t->updated_at : now);
    p_nz(p, t->last_collected_at);
}

/* A row of TRK_COLUMNS (NULL integers read as 0); strings are the result's. */
static void
tracked_row(const PGresult *r, int i, struct store_tracked *t)
{
    t->id = v_i64(r, i, 0);
    t->spec = v_str(r, i, 1);
    t->chat_id = v_i64(r, i, 2);
    t->account = v_str(r, i, 3);
    t->enabled = v_bool(r, i, 4);
    t->status = v_str(r, i, 5);
    t->error = v_str(r, i, 6);
    t->type = v_str(r, i, 7);
    t->title = v_str(r, i, 8);
    t->username = v_str(r, i, 9);
    t->linked_chat_id = v_i64(r, i, 10);
    t->is_forum = v_bool(r, i, 11);
    t->comments = v_bool(r, i, 12);
    t->topics = v_bool(r, i, 13);
    t->added_at = v_i64(r, i, 14);
    t->updated_at = v_i64(r, i, 15);
    t->last_collected_at = v_i64(r, i, 16);
    t->backfill_requested_at = v_i64(r, i, 17);
    t->media_policy = v_str(r, i, 18);
}

/* Run a TRK_COLUMNS query by one key: *row is the id found, or 0. */
TGH_MUSTCHECK static tgh_err
tracked_id(struct pg *pg, enum stmt_id id, const struct params *p, int64_t *row)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_exec_stmt(pg, id, p, &r, "find tracked chat");
    *row = rc == TGH_OK && PQntuples(r) > 0 ? v_i64(r, 0, 0) : 0;
    PQclear(r);
    return rc;
}

/* The row with t's chat_id takes t's spec (see tracked_take_spec() of the SQLite store). */
TGH_MUSTCHECK static tgh_err
tracked_take_spec(struct pg *pg, const struct store_tracked *t, int64_t row, int64_t now)
{
    struct params p = { .n = 0 };
    tgh_err rc;

    p_str(&p, t->spec);
    p_int(&p, row);
    rc = pg_exec_stmt(pg, P_TRK_DROP_SPEC, &p, NULL, "merge tracked chat");
    if (rc != TGH_OK)
        return rc;
    p_int(&p, now);
    return pg_exec_stmt(pg, P_TRK_MOVE_SPEC, &p, NULL, "rename tracked chat");
}

/* One short transaction under an advisory lock: lookups and the write see the same rows. */
TGH_MUSTCHECK tgh_err
pg_tracked_put(void *impl, const struct store_tracked *t, int64_t *id)
{
    struct pg *pg = impl;
    int64_t now = (int64_t)time(NULL), row = 0;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "BEGIN", "begin");
    if (rc != TGH_OK)
        return rc;
    rc = pg_exec_stmt(pg, P_TRK_LOCK, NULL, NULL, "lock tracked chats");
    if (rc == TGH_OK && t->chat_id != 0) {
        p_int(&p, t->chat_id);
        rc = tracked_id(pg, P_TRK_BY_CHAT, &p, &row);
        if (rc == TGH_OK && row != 0)
            rc = tracked_take_spec(pg, t, row, now);
    }
    if (rc == TGH_OK && row == 0) {
        p.n = 0;
        p_str(&p, t->spec);
        rc = tracked_id(pg, P_TRK_BY_SPEC, &p, &row);
    }
    if (rc != TGH_OK)
        goto out;
    p.n = 0;
    bind_tracked(&p, t, now);
    if (row != 0) {
        p_int(&p, row);
        rc = pg_exec_stmt(pg, P_TRK_UPDATE, &p, NULL, "update tracked chat");
    } else {
        p_int(&p, now);
        rc = pg_exec_stmt(pg, P_TRK_INSERT, &p, &r, "add tracked chat");
        if (rc == TGH_OK)
            row = v_i64(r, 0, 0);
        PQclear(r);
    }
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "COMMIT", "commit");
out:
    if (rc != TGH_OK) {
        pg_rollback(pg);
        return rc;
    }
    *id = row;
    return TGH_OK;
}

/* Pages by id; each page's query is finished before fn runs (fn may write). */
TGH_MUSTCHECK tgh_err
pg_tracked_each(void *impl, store_tracked_fn fn, void *arg)
{
    struct pg *pg = impl;
    int64_t after = INT64_MIN;
    tgh_err rc;
    int n = 0;

    rc = pg_conn_ready(pg);
    do {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        if (rc != TGH_OK)
            break;
        p_int(&p, after);
        rc = pg_exec_stmt(pg, P_TRK_PAGE, &p, &r, "list tracked chats");
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            struct store_tracked t;

            tracked_row(r, i, &t);
            after = t.id;
            if (fn(arg, &t) != 0) {
                n = 0;
                break;
            }
        }
        PQclear(r);
    } while (n == TRK_PAGE);
    return rc;
}

/* Run a TRK_COLUMNS query; a row goes to *out, its strings into pg->found. */
TGH_MUSTCHECK static tgh_err
tracked_get(struct pg *pg, enum stmt_id id, const struct params *p, struct store_tracked *out,
            bool *found)
{
    const char **strs[] = { &out->spec, &out->account, &out->status,   &out->error,
                            &out->type, &out->title,   &out->username, &out->media_policy };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_exec_stmt(pg, id, p, &r, "find tracked chat");
    *found = rc == TGH_OK && PQntuples(r) > 0;
    if (*found) {
        tracked_row(r, 0, out);
        for (size_t i = 0; i < TGH_NELEM(strs); i++)
            if (*strs[i] != NULL)
                *strs[i] = tgh_arena_strdup(&pg->found, *strs[i]);
    }
    PQclear(r);
    return rc;
}

/* The exact spec first, then chat ids, the username and "@name" specs. */
TGH_MUSTCHECK tgh_err
pg_tracked_find(void *impl, const char *key, struct store_tracked *out)
{
    struct pg *pg = impl;
    struct store_tracked_key k;
    struct params p = { .n = 0 };
    bool found = false;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    tgh_arena_reset(&pg->found);
    store_tracked_key_parse(key, &k);
    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_str(&p, key);
    rc = tracked_get(pg, P_TRK_BY_SPEC, &p, out, &found);
    for (size_t i = 0; rc == TGH_OK && !found && i < k.n_ids; i++) {
        p.n = 0;
        p_int(&p, k.chat_ids[i]);
        rc = tracked_get(pg, P_TRK_BY_CHAT, &p, out, &found);
    }
    p.n = 0;
    p_str(&p, k.name);
    if (rc == TGH_OK && !found && k.name[0] != '\0')
        rc = tracked_get(pg, P_TRK_BY_NAME, &p, out, &found);
    if (rc == TGH_OK && !found && k.name[0] != '\0')
        rc = tracked_get(pg, P_TRK_BY_AT_SPEC, &p, out, &found);
    if (rc == TGH_OK && !found)
        rc = tgh_errf(TGH_ENOTFOUND, "no tracked chat matches '%.200s'", key);
    return rc;
}

/* Run a one-row write by id; TGH_ENOTFOUND when it changed nothing. */
TGH_MUSTCHECK static tgh_err
write_by_id(struct pg *pg, enum stmt_id id, const struct params *p, int64_t row, const char *what)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_exec_stmt(pg, id, p, &r, what);
    if (rc == TGH_OK && changed(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", row);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_tracked_remove(void *impl, int64_t id)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    return write_by_id(pg, P_TRK_REMOVE, &p, id, "remove tracked chat");
}

TGH_MUSTCHECK tgh_err
pg_tracked_set_status(void *impl, int64_t id, const char *status, const char *error,
                      int64_t last_collected_at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_str(&p, status);
    p_str(&p, error);
    p_int(&p, (int64_t)time(NULL));
    p_nz(&p, last_collected_at);
    return write_by_id(pg, P_TRK_STATUS, &p, id, "set tracked chat status");
}

TGH_MUSTCHECK tgh_err
pg_tracked_request_backfill(void *impl, int64_t id, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_int(&p, at);
    p_int(&p, (int64_t)time(NULL));
    return write_by_id(pg, P_TRK_BACKFILL_ASK, &p, id, "request backfill");
}

TGH_MUSTCHECK tgh_err
pg_tracked_set_media_policy(void *impl, int64_t id, const char *spec)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_str(&p, spec);
    p_int(&p, (int64_t)time(NULL));
    return write_by_id(pg, P_TRK_MEDIA_POLICY, &p, id, "set media policy");
}

/* Clear the request the pass was for, and only that one (see the SQLite store). */
TGH_MUSTCHECK tgh_err
pg_tracked_backfill_done(void *impl, int64_t id, int64_t at)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    int64_t row = 0;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, id);
    p_int(&p, at);
    p_int(&p, (int64_t)time(NULL));
    rc = pg_exec_stmt(pg, P_TRK_BACKFILL_DONE, &p, &r, "finish backfill request");
    if (rc == TGH_OK && changed(r) == 0) {
        p.n = 1;
        rc = tracked_id(pg, P_TRK_EXISTS, &p, &row);
        if (rc == TGH_OK && row == 0)
            rc = tgh_errf(TGH_ENOTFOUND, "tracked chat %" PRId64 " does not exist", id);
    }
    PQclear(r);
    return rc;
}

/* A row of CUR_COLUMNS. */
static void
cursor_row(const PGresult *r, int i, struct store_cursor *c)
{
    c->chat_id = v_i64(r, i, 0);
    c->thread_id = v_i64(r, i, 1);
    c->newest_id = v_i64(r, i, 2);
    c->oldest_id = v_i64(r, i, 3);
    c->complete = v_bool(r, i, 4);
    c->gap_hi = v_i64(r, i, 5);
    c->gap_from = v_i64(r, i, 6);
    c->updated_at = v_i64(r, i, 7);
}

TGH_MUSTCHECK tgh_err
pg_cursor_get(void *impl, int64_t chat_id, int64_t thread_id, struct store_cursor *out)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    out->chat_id = chat_id;
    out->thread_id = thread_id;
    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, chat_id);
    p_int(&p, thread_id);
    rc = pg_exec_stmt(pg, P_CUR_GET, &p, &r, "read cursor");
    if (rc == TGH_OK && PQntuples(r) > 0)
        cursor_row(r, 0, out);
    else if (rc == TGH_OK)
        rc = tgh_errf(TGH_ENOTFOUND, "no cursor for chat %" PRId64 " thread %" PRId64, chat_id,
                      thread_id);
    PQclear(r);
    return rc;
}

/*
 * One statement outside any transaction: when it returns TGH_OK the cursor
 * is committed, and it can never ride along in a batch and be rolled back.
 */
TGH_MUSTCHECK tgh_err
pg_cursor_put(void *impl, const struct store_cursor *c)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        return tgh_errf(TGH_EIO, "cursor write inside an open transaction");
    p_int(&p, c->chat_id);
    p_int(&p, c->thread_id);
    p_int(&p, c->newest_id);
    p_int(&p, c->oldest_id);
    p_bool(&p, c->complete);
    p_int(&p, c->gap_hi);
    p_int(&p, c->gap_from);
    p_int(&p, c->updated_at != 0 ? c->updated_at : (int64_t)time(NULL));
    return pg_exec_stmt(pg, P_CUR_PUT, &p, NULL, "write cursor");
}

/* Paged like pg_tracked_each(), by (chat_id, thread_id). */
TGH_MUSTCHECK tgh_err
pg_cursors_each(void *impl, int64_t chat_id, store_cursor_fn fn, void *arg)
{
    struct pg *pg = impl;
    int64_t lo = chat_id == MSG_UNSET ? INT64_MIN : chat_id;
    int64_t hi = chat_id == MSG_UNSET ? INT64_MAX : chat_id;
    int64_t after_chat = lo, after_thread = INT64_MIN; /* store.c refuses these ids */
    tgh_err rc;
    int n = 0;

    rc = pg_conn_ready(pg);
    do {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        if (rc != TGH_OK)
            break;
        p_int(&p, lo);
        p_int(&p, hi);
        p_int(&p, after_chat);
        p_int(&p, after_thread);
        rc = pg_exec_stmt(pg, P_CUR_PAGE, &p, &r, "list cursors");
        if (rc != TGH_OK)
            break;
        n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            struct store_cursor c;

            cursor_row(r, i, &c);
            after_chat = c.chat_id;
            after_thread = c.thread_id;
            if (fn(arg, &c) != 0) {
                n = 0;
                break;
            }
        }
        PQclear(r);
    } while (n == CUR_PAGE);
    return rc;
}

/* ---- retention ---- */

/* Whole partitions go (tgh_messages_drop_before() in 001_init.sql), in one transaction. */
TGH_MUSTCHECK tgh_err
pg_retention_apply(void *impl, int64_t before, int64_t *removed)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    p_int(&p, before);
    rc = pg_exec_stmt(pg, P_RETENTION, &p, &r, "drop old partitions");
    if (rc == TGH_OK)
        *removed = v_i64(r, 0, 0);
    PQclear(r);
    pg->n_months = 0; /* some may be gone: ask again */
    return rc;
}
