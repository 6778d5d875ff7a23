/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite_media.c - media jobs, the content index and the media scan
 * cursor in SQLite (migration 006_media.sql). These statements run at the
 * pace of files, not of messages, so they are prepared per call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "core/alloc.h"
#include "store/store_sqlite_int.h"

#define JOB_WHERE_DUE " kind = 'media' AND state IN ('queued', 'downloading') AND next_at <= :now"

static void
bind_s(sqlite3_stmt *s, const char *name, const char *v)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx > 0)
        bind_str(s, idx, v);
}

static void
bind_nz(sqlite3_stmt *s, const char *name, int64_t v)
{
    int idx = sqlite3_bind_parameter_index(s, name);

    if (idx <= 0)
        return;
    if (v == 0)
        (void)sqlite3_bind_null(s, idx);
    else
        (void)sqlite3_bind_int64(s, idx, v);
}

/* The JOB_COLUMNS of the current row as strings. */
static void
job_cols(sqlite3_stmt *s, const char *col[JOB_NCOLUMNS])
{
    for (int i = 0; i < JOB_NCOLUMNS; i++)
        col[i] = col_str(s, i);
}

/* Does job id exist? */
TGH_MUSTCHECK static tgh_err
job_exists(struct sq *sq, int64_t id, bool *yes)
{
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq, "SELECT 1 FROM job_history WHERE id = :id", &s, "find media job");

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":id", id);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW || src == SQLITE_DONE)
        *yes = src == SQLITE_ROW;
    else
        rc = sq_fail(sq, src, "find media job");
    sqlite3_finalize(s);
    return rc;
}

/* A write that changed nothing: TGH_ENOTFOUND when id does not exist, else TGH_OK. */
TGH_MUSTCHECK static tgh_err
none_changed(struct sq *sq, int64_t id)
{
    bool yes = false;
    tgh_err rc = job_exists(sq, id, &yes);

    if (rc == TGH_OK && !yes)
        rc = tgh_errf(TGH_ENOTFOUND, "media job %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_job_add(void *impl, const struct store_media_job *j, int64_t now, int64_t *id,
                     bool *added)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    int64_t n = 0;
    tgh_err rc;

    rc =
        sq_prep(sq,
                "INSERT INTO job_history (kind, chat_id, message_id, media_key, date, media_kind,"
                " file_unique_id, file_name, mime_type, size, origin, source_path, priority, state,"
                " error, next_at, created_at, updated_at, finished_at)"
                " VALUES ('media', :chat, :msg, :key, :date, :kind, :fuid, :name, :mime, :size,"
                " :origin, :path, :prio, :state, :error, :next, :now, :now, :fin)"
                " ON CONFLICT (kind, chat_id, message_id, media_key) DO NOTHING",
                &s, "add media job");
    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", j->chat_id);
    bind_named_i64(s, ":msg", j->message_id);
    bind_s(s, ":key", j->media_key);
    bind_named_i64(s, ":date", j->date);
    bind_s(s, ":kind", j->media_kind);
    bind_s(s, ":fuid", j->file_unique_id);
    bind_s(s, ":name", j->file_name);
    bind_s(s, ":mime", j->mime_type);
    bind_named_i64(s, ":size", j->size);
    bind_s(s, ":origin", j->origin);
    bind_s(s, ":path", j->source_path);
    bind_named_i64(s, ":prio", j->priority);
    bind_s(s, ":state", store_job_state_name(j->state));
    bind_s(s, ":error", j->error);
    bind_named_i64(s, ":next", j->next_at);
    bind_named_i64(s, ":now", now);
    bind_nz(s, ":fin", j->state == STORE_JOB_SKIPPED ? now : 0);
    rc = sq_finish(sq, s, &n, "add media job");
    if (rc != TGH_OK)
        return rc;
    *added = n == 1;
    if (*added) {
        *id = sqlite3_last_insert_rowid(sq->db);
        return TGH_OK;
    }
    rc = sq_prep(sq,
                 "SELECT id FROM job_history WHERE kind = 'media' AND chat_id = :chat"
                 " AND message_id = :msg AND media_key = :key",
                 &s, "find media job");
    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", j->chat_id);
    bind_named_i64(s, ":msg", j->message_id);
    bind_s(s, ":key", j->media_key);
    int src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else
        rc = src == SQLITE_DONE ? tgh_errf(TGH_EIO, "media job vanished while added")
                                : sq_fail(sq, src, "find media job");
    sqlite3_finalize(s);
    return rc;
}

/* Step s to the end, each row a job copied into jobs[] (cap rows) and a. */
TGH_MUSTCHECK static tgh_err
job_rows(struct sq *sq, sqlite3_stmt *s, struct store_media_job *jobs, size_t cap,
         struct tgh_arena *a, size_t *n, const char *what)
{
    const char *col[JOB_NCOLUMNS];
    tgh_err rc = TGH_OK;
    int src;

    *n = 0;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap || rc != TGH_OK)
            continue; /* RETURNING rows are only final once stepped to the end */
        job_cols(s, col);
        rc = store_media_job_from(col, a, &jobs[*n]);
        if (rc == TGH_OK)
            (*n)++;
    }
    if (src != SQLITE_DONE && rc == TGH_OK)
        rc = sq_fail(sq, src, what);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_jobs_claim(void *impl, const struct store_media_claim *c, store_media_job_fn fn,
                        void *arg)
{
    struct sq *sq = impl;
    struct store_media_job *jobs = tgh_calloc(c->max, sizeof(*jobs));
    struct tgh_arena a;
    sqlite3_stmt *s = NULL;
    char sql[1024];
    size_t len = 0, n = 0;
    tgh_err rc;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len,
            "UPDATE job_history SET state = 'downloading', next_at = :lease,"
            " attempts = attempts + 1, updated_at = :now WHERE id IN (SELECT id FROM job_history"
            " WHERE" JOB_WHERE_DUE);
    if (c->origin != NULL)
        sql_add(sql, sizeof(sql), &len, " AND origin = :origin");
    if (c->chat_id != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND chat_id = :chat");
    sql_add(sql, sizeof(sql), &len,
            " ORDER BY priority DESC, id LIMIT :max) RETURNING " JOB_COLUMNS);
    tgh_arena_init(&a, 4096);
    rc = sq_prep(sq, sql, &s, "claim media jobs");
    if (rc == TGH_OK) {
        bind_named_i64(s, ":now", c->now);
        bind_named_i64(s, ":lease", c->now + c->lease_s);
        bind_s(s, ":origin", c->origin);
        bind_named_i64(s, ":chat", c->chat_id);
        bind_named_i64(s, ":max", (int64_t)c->max);
        rc = job_rows(sq, s, jobs, c->max, &a, &n, "claim media jobs");
        sqlite3_finalize(s);
    }
    store_media_jobs_sort(jobs, n);
    for (size_t i = 0; rc == TGH_OK && i < n; i++)
        if (fn(arg, &jobs[i]) != 0)
            break;
    tgh_arena_fini(&a);
    tgh_free(jobs);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_job_progress(void *impl, int64_t id, int64_t downloaded, int64_t lease_until,
                          int64_t now)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    int64_t n = 0;
    tgh_err rc = sq_prep(sq,
                         "UPDATE job_history SET downloaded = :d, next_at = max(next_at, :lease),"
                         " updated_at = :now WHERE id = :id AND state = 'downloading'",
                         &s, "record media progress");

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":d", downloaded);
    bind_named_i64(s, ":lease", lease_until);
    bind_named_i64(s, ":now", now);
    bind_named_i64(s, ":id", id);
    rc = sq_finish(sq, s, &n, "record media progress");
    return rc == TGH_OK && n == 0 ? none_changed(sq, id) : rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_job_set_upload(void *impl, int64_t id, const char *upload_id, int64_t now)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    int64_t n = 0;
    tgh_err rc =
        sq_prep(sq, "UPDATE job_history SET upload_id = :u, updated_at = :now WHERE id = :id", &s,
                "record media upload");

    if (rc != TGH_OK)
        return rc;
    bind_s(s, ":u", upload_id);
    bind_named_i64(s, ":now", now);
    bind_named_i64(s, ":id", id);
    rc = sq_finish(sq, s, &n, "record media upload");
    return rc == TGH_OK && n == 0 ? none_changed(sq, id) : rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_job_end(void *impl, int64_t id, const struct store_media_end *e)
{
    struct sq *sq = impl;
    bool stored = e->state == STORE_JOB_STORED, queued = e->state == STORE_JOB_QUEUED;
    sqlite3_stmt *s;
    int64_t n = 0;
    tgh_err rc =
        sq_prep(sq,
                "UPDATE job_history SET state = :state, error = :error, next_at = :next,"
                " sha256 = coalesce(:sha, sha256), storage_key = coalesce(:skey, storage_key),"
                " size = coalesce(:size, size), downloaded = coalesce(:size, downloaded),"
                " upload_id = NULL, updated_at = :at, finished_at = :fin WHERE id = :id",
                &s, "end media job");

    if (rc != TGH_OK)
        return rc;
    bind_s(s, ":state", store_job_state_name(e->state));
    bind_s(s, ":error", stored ? NULL : e->error);
    bind_named_i64(s, ":next", queued ? e->next_at : 0);
    bind_s(s, ":sha", stored ? e->sha256 : NULL);
    bind_s(s, ":skey", stored ? e->storage_key : NULL);
    if (stored)
        bind_named_i64(s, ":size", e->size);
    bind_named_i64(s, ":at", e->at);
    bind_nz(s, ":fin", queued ? 0 : e->at);
    bind_named_i64(s, ":id", id);
    rc = sq_finish(sq, s, &n, "end media job");
    if (rc == TGH_OK && n == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "media job %" PRId64 " does not exist", id);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_jobs_each(void *impl, const struct store_media_jobs_query *q, store_media_job_fn fn,
                       void *arg)
{
    struct sq *sq = impl;
    struct store_media_job page[JOB_PAGE];
    int64_t before = q->before_id > 0 ? q->before_id : INT64_MAX;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX;
    sqlite3_stmt *s = NULL;
    struct tgh_arena a;
    char sql[1024];
    size_t len = 0, n = 0;
    tgh_err rc;

    sql[0] = '\0';
    sql_add(sql, sizeof(sql), &len,
            "SELECT " JOB_COLUMNS " FROM job_history WHERE kind = 'media' AND id < :before");
    if (q->state >= 0)
        sql_add(sql, sizeof(sql), &len, " AND state = :state");
    if (q->chat_id != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND chat_id = :chat");
    if (q->message_id != MSG_UNSET)
        sql_add(sql, sizeof(sql), &len, " AND message_id = :msg");
    sql_add(sql, sizeof(sql), &len, " ORDER BY id DESC LIMIT :limit");
    rc = sq_prep(sq, sql, &s, "list media jobs");
    if (rc != TGH_OK)
        return rc;
    if (q->state >= 0)
        bind_s(s, ":state", store_job_state_name((enum store_job_state)q->state));
    bind_named_i64(s, ":chat", q->chat_id);
    bind_named_i64(s, ":msg", q->message_id);
    tgh_arena_init(&a, 8192);
    do {
        tgh_arena_reset(&a);
        bind_named_i64(s, ":before", before);
        bind_named_i64(s, ":limit", left < JOB_PAGE ? left : JOB_PAGE);
        rc = job_rows(sq, s, page, JOB_PAGE, &a, &n, "list media jobs");
        (void)sqlite3_reset(s);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            before = page[n - 1].id;
        left -= (int64_t)n;
    } while (rc == TGH_OK && n == JOB_PAGE && left > 0);
out:
    tgh_arena_fini(&a);
    sqlite3_finalize(s);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_job_retry(void *impl, int64_t id, int64_t now, int64_t *n)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc;

    rc = sq_prep(sq,
                 id > 0 ? "UPDATE job_history SET state = 'queued', next_at = :now, attempts = 0,"
                          " updated_at = :now, finished_at = NULL"
                          " WHERE id = :id AND state IN ('failed', 'skipped')"
                        : "UPDATE job_history SET state = 'queued', next_at = :now, attempts = 0,"
                          " updated_at = :now, finished_at = NULL"
                          " WHERE kind = 'media' AND state = 'failed'",
                 &s, "retry media jobs");
    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":now", now);
    bind_named_i64(s, ":id", id);
    *n = 0;
    rc = sq_finish(sq, s, n, "retry media jobs");
    if (rc == TGH_OK && id > 0 && *n == 0)
        rc = none_changed(sq, id);
    return rc;
}

struct count_row {
    enum store_job_state state;
    char *kind;
    int64_t jobs, bytes;
};

TGH_MUSTCHECK tgh_err
sqlite_media_counts_each(void *impl, store_media_count_fn fn, void *arg)
{
    struct sq *sq = impl;
    struct count_row *rows = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s;
    tgh_err rc;
    int src;

    rc = sq_prep(sq,
                 "SELECT state, media_kind, count(*), coalesce(sum(size), 0) FROM job_history"
                 " WHERE kind = 'media' GROUP BY state, media_kind ORDER BY state, media_kind",
                 &s, "count media jobs");
    if (rc != TGH_OK)
        return rc;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        struct count_row r;

        if (!store_job_state_parse(col_str(s, 0), &r.state))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            rows = tgh_realloc(rows, cap * sizeof(*rows));
        }
        r.kind = tgh_strdup(col_str(s, 1));
        r.jobs = sqlite3_column_int64(s, 2);
        r.bytes = sqlite3_column_int64(s, 3);
        rows[n++] = r;
    }
    if (src != SQLITE_DONE)
        rc = sq_fail(sq, src, "count media jobs");
    sqlite3_finalize(s);
    bool stop = false;
    for (size_t i = 0; i < n; i++) {
        if (rc == TGH_OK && !stop)
            stop = fn(arg, rows[i].state, rows[i].kind, rows[i].jobs, rows[i].bytes) != 0;
        tgh_free(rows[i].kind);
    }
    tgh_free(rows);
    return rc;
}

static void
dedup_row(sqlite3_stmt *s, struct tgh_arena *a, struct store_dedup *d)
{
    const char *fuid = col_str(s, 2), *ct = col_str(s, 4);

    d->sha256 = tgh_arena_strdup(a, col_str(s, 0));
    d->storage_key = tgh_arena_strdup(a, col_str(s, 1));
    d->file_unique_id = fuid != NULL ? tgh_arena_strdup(a, fuid) : NULL;
    d->size = sqlite3_column_int64(s, 3);
    d->content_type = ct != NULL ? tgh_arena_strdup(a, ct) : NULL;
    d->created_at = sqlite3_column_int64(s, 5);
}

TGH_MUSTCHECK tgh_err
sqlite_dedup_find(void *impl, const char *sha256, const char *file_unique_id,
                  struct store_dedup *out)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc;
    int src;

    rc = sq_prep(sq,
                 sha256 != NULL ? "SELECT " DEDUP_COLUMNS " FROM dedup_index WHERE sha256 = :v"
                                : "SELECT " DEDUP_COLUMNS " FROM dedup_index"
                                  " WHERE file_unique_id = :v ORDER BY created_at, sha256 LIMIT 1",
                 &s, "find stored content");
    if (rc != TGH_OK)
        return rc;
    bind_s(s, ":v", sha256 != NULL ? sha256 : file_unique_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        tgh_arena_reset(&sq->found);
        dedup_row(s, &sq->found, out);
    } else if (src == SQLITE_DONE) {
        rc = tgh_errf(TGH_ENOTFOUND, "no stored content %.64s",
                      sha256 != NULL ? sha256 : file_unique_id);
    } else {
        rc = sq_fail(sq, src, "find stored content");
    }
    sqlite3_finalize(s);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_dedup_put(void *impl, const struct store_dedup *d, bool *added)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    int64_t n = 0;
    tgh_err rc = sq_prep(sq,
                         "INSERT INTO dedup_index (" DEDUP_COLUMNS ")"
                         " VALUES (:sha, :key, :fuid, :size, :ct, :at)"
                         " ON CONFLICT (sha256) DO NOTHING",
                         &s, "record stored content");

    if (rc != TGH_OK)
        return rc;
    bind_s(s, ":sha", d->sha256);
    bind_s(s, ":key", d->storage_key);
    bind_s(s, ":fuid", d->file_unique_id);
    bind_named_i64(s, ":size", d->size);
    bind_s(s, ":ct", d->content_type);
    bind_named_i64(s, ":at", d->created_at > 0 ? d->created_at : (int64_t)time(NULL));
    rc = sq_finish(sq, s, &n, "record stored content");
    *added = rc == TGH_OK && n == 1;
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_dedup_each(void *impl, store_dedup_fn fn, void *arg)
{
    struct sq *sq = impl;
    struct store_dedup page[DEDUP_PAGE];
    char after[65] = "";
    struct tgh_arena a;
    sqlite3_stmt *s;
    size_t n;
    tgh_err rc;
    int src;

    rc = sq_prep(sq,
                 "SELECT " DEDUP_COLUMNS " FROM dedup_index WHERE sha256 > :after"
                 " ORDER BY sha256 LIMIT " DEDUP_PAGE_S,
                 &s, "list stored content");
    if (rc != TGH_OK)
        return rc;
    tgh_arena_init(&a, 16 * 1024);
    do {
        tgh_arena_reset(&a);
        n = 0;
        bind_s(s, ":after", after);
        while ((src = sqlite3_step(s)) == SQLITE_ROW && n < DEDUP_PAGE)
            dedup_row(s, &a, &page[n++]);
        if (src != SQLITE_DONE && src != SQLITE_ROW)
            rc = sq_fail(sq, src, "list stored content");
        (void)sqlite3_reset(s);
        for (size_t i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            (void)snprintf(after, sizeof(after), "%s", page[n - 1].sha256);
    } while (rc == TGH_OK && n == DEDUP_PAGE);
out:
    tgh_arena_fini(&a);
    sqlite3_finalize(s);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_scan_get(void *impl, int64_t chat_id, int64_t *last)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc = sq_prep(sq, "SELECT last_id FROM media_scan WHERE chat_id = :chat", &s,
                         "read media scan position");
    int src;

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", chat_id);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        *last = sqlite3_column_int64(s, 0);
    else if (src != SQLITE_DONE)
        rc = sq_fail(sq, src, "read media scan position");
    sqlite3_finalize(s);
    return rc;
}

TGH_MUSTCHECK tgh_err
sqlite_media_scan_put(void *impl, int64_t chat_id, int64_t last, int64_t now)
{
    struct sq *sq = impl;
    sqlite3_stmt *s;
    tgh_err rc =
        sq_prep(sq,
                "INSERT INTO media_scan (chat_id, last_id, updated_at) VALUES (:chat, :last,"
                " :now) ON CONFLICT (chat_id) DO UPDATE SET"
                " last_id = max(last_id, excluded.last_id), updated_at = excluded.updated_at",
                &s, "record media scan position");

    if (rc != TGH_OK)
        return rc;
    bind_named_i64(s, ":chat", chat_id);
    bind_named_i64(s, ":last", last);
    bind_named_i64(s, ":now", now);
    return sq_finish(sq, s, NULL, "record media scan position");
}
