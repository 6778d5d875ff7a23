/* SPDX-License-Identifier: MIT */
/*
 * store_pg_media.c - media jobs, the content index and the media scan
 * cursor in PostgreSQL (migration 003_media.sql). Unnamed statements: they
 * run at the pace of files, not of messages. A claim locks its rows FOR
 * UPDATE SKIP LOCKED, so concurrent downloaders never wait on each other
 * or take the same job.
 */
#include <time.h>

#include "store/store_pg_int.h"

#define JOB_WHERE_DUE " kind = 'media' AND state IN ('queued', 'downloading') AND next_at <= "

/* Row i of a JOB_COLUMNS result as a job, strings copied into a. */
TGH_MUSTCHECK static tgh_err
job_row(const PGresult *r, int i, struct tgh_arena *a, struct store_media_job *j)
{
    const char *col[JOB_NCOLUMNS];

    for (int c = 0; c < JOB_NCOLUMNS; c++)
        col[c] = v_str(r, i, c);
    return store_media_job_from(col, a, j);
}

/* A write by job id that changed nothing: TGH_ENOTFOUND when id does not exist. */
TGH_MUSTCHECK static tgh_err
none_changed(struct pg *pg, int64_t id)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, id);
    rc = pg_px(pg, "SELECT 1 FROM job_history WHERE id = $1", &p, &r, "find media job");
    if (rc == TGH_OK && PQntuples(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "media job %" PRId64 " does not exist", id);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_job_add(void *impl, const struct store_media_job *j, int64_t now, int64_t *id, bool *added)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, j->chat_id);
    p_int(&p, j->message_id);
    p_str(&p, j->media_key);
    p_int(&p, j->date);
    p_str(&p, j->media_kind);
    p_str(&p, j->file_unique_id);
    p_str(&p, j->file_name);
    p_str(&p, j->mime_type);
    p_int(&p, j->size);
    p_str(&p, j->origin);
    p_str(&p, j->source_path);
    p_int(&p, j->priority);
    p_str(&p, store_job_state_name(j->state));
    p_str(&p, j->error);
    p_int(&p, j->next_at);
    p_int(&p, now);
    p_nz(&p, j->state == STORE_JOB_SKIPPED ? now : 0);
    /* An insert that conflicts returns nothing: the second branch finds the row. */
    rc = pg_px(pg,
               "WITH ins AS (INSERT INTO job_history (kind, chat_id, message_id, media_key, date,"
               " media_kind, file_unique_id, file_name, mime_type, size, origin, source_path,"
               " priority, state, error, next_at, created_at, updated_at, finished_at)"
               " VALUES ('media', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
               " $16, $16, $17) ON CONFLICT (kind, chat_id, message_id, media_key) DO NOTHING"
               " RETURNING id)"
               " SELECT id, true FROM ins UNION ALL SELECT id, false FROM job_history"
               " WHERE kind = 'media' AND chat_id = $1 AND message_id = $2 AND media_key = $3"
               " AND NOT EXISTS (SELECT 1 FROM ins)",
               &p, &r, "add media job");
    if (rc == TGH_OK && PQntuples(r) != 1)
        rc = tgh_errf(TGH_EAGAIN, "media job of message %" PRId64 " added concurrently",
                      j->message_id);
    if (rc == TGH_OK) {
        *id = v_i64(r, 0, 0);
        *added = v_bool(r, 0, 1);
    }
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_jobs_claim(void *impl, const struct store_media_claim *c, store_media_job_fn fn, void *arg)
{
    struct pg *pg = impl;
    struct qbuf b = { .len = 0 };
    struct store_media_job *jobs;
    PGresult *r = NULL;
    struct tgh_arena a;
    tgh_err rc;
    int n;

    b.sql[0] = '\0';
    q_int(&b, "UPDATE job_history SET state = 'downloading', attempts = attempts + 1, next_at = ",
          c->now + c->lease_s);
    q_int(&b, ", updated_at = ", c->now);
    q_int(&b, " WHERE id IN (SELECT id FROM job_history WHERE" JOB_WHERE_DUE, c->now);
    if (c->origin != NULL)
        q_str(&b, " AND origin = ", c->origin);
    if (c->chat_id != MSG_UNSET)
        q_int(&b, " AND chat_id = ", c->chat_id);
    q_int(&b, " ORDER BY priority DESC, id LIMIT ", (int64_t)c->max);
    q_add(&b, " FOR UPDATE SKIP LOCKED) RETURNING " JOB_COLUMNS);
    rc = pg_px(pg, b.sql, &b.p, &r, "claim media jobs");
    if (rc != TGH_OK)
        return rc;
    n = PQntuples(r);
    jobs = tgh_calloc((size_t)n + 1, sizeof(*jobs));
    tgh_arena_init(&a, 4096);
    for (int i = 0; rc == TGH_OK && i < n; i++)
        rc = job_row(r, i, &a, &jobs[i]);
    PQclear(r);
    if (rc == TGH_OK) {
        store_media_jobs_sort(jobs, (size_t)n);
        for (int i = 0; i < n; i++)
            if (fn(arg, &jobs[i]) != 0)
                break;
    }
    tgh_arena_fini(&a);
    tgh_free(jobs);
    return rc;
}

/* A one-row write by job id; TGH_ENOTFOUND when there is no such job. */
TGH_MUSTCHECK static tgh_err
job_write(struct pg *pg, const char *sql, const struct params *p, int64_t id, bool any_row,
          const char *what)
{
    PGresult *r = NULL;
    tgh_err rc = pg_px(pg, sql, p, &r, what);

    if (rc == TGH_OK && changed(r) == 0) {
        PQclear(r);
        if (!any_row)
            return none_changed(pg, id);
        return tgh_errf(TGH_ENOTFOUND, "media job %" PRId64 " does not exist", id);
    }
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_job_progress(void *impl, int64_t id, int64_t downloaded, int64_t lease_until, int64_t now)
{
    struct params p = { .n = 0 };

    p_int(&p, id);
    p_int(&p, downloaded);
    p_int(&p, lease_until);
    p_int(&p, now);
    return job_write(impl,
                     "UPDATE job_history SET downloaded = $2, next_at = greatest(next_at, $3),"
                     " updated_at = $4 WHERE id = $1 AND state = 'downloading'",
                     &p, id, false, "record media progress");
}

TGH_MUSTCHECK tgh_err
pg_media_job_set_upload(void *impl, int64_t id, const char *upload_id, int64_t now)
{
    struct params p = { .n = 0 };

    p_int(&p, id);
    p_str(&p, upload_id);
    p_int(&p, now);
    return job_write(impl, "UPDATE job_history SET upload_id = $2, updated_at = $3 WHERE id = $1",
                     &p, id, true, "record media upload");
}

TGH_MUSTCHECK tgh_err
pg_media_job_end(void *impl, int64_t id, const struct store_media_end *e)
{
    bool stored = e->state == STORE_JOB_STORED, queued = e->state == STORE_JOB_QUEUED;
    struct params p = { .n = 0 };

    p_int(&p, id);
    p_str(&p, store_job_state_name(e->state));
    p_str(&p, stored ? NULL : e->error);
    p_int(&p, queued ? e->next_at : 0);
    p_str(&p, stored ? e->sha256 : NULL);
    p_str(&p, stored ? e->storage_key : NULL);
    if (stored)
        p_int(&p, e->size);
    else
        p_str(&p, NULL);
    p_int(&p, e->at);
    p_nz(&p, queued ? 0 : e->at);
    return job_write(impl,
                     "UPDATE job_history SET state = $2, error = $3, next_at = $4,"
                     " sha256 = coalesce($5, sha256), storage_key = coalesce($6, storage_key),"
                     " size = coalesce($7::bigint, size), downloaded = coalesce($7::bigint,"
                     " downloaded), upload_id = NULL, updated_at = $8, finished_at = $9"
                     " WHERE id = $1",
                     &p, id, true, "end media job");
}

TGH_MUSTCHECK tgh_err
pg_media_jobs_each(void *impl, const struct store_media_jobs_query *q, store_media_job_fn fn,
                   void *arg)
{
    struct pg *pg = impl;
    int64_t before = q->before_id > 0 ? q->before_id : INT64_MAX;
    int64_t left = q->limit > 0 ? q->limit : INT64_MAX;
    struct store_media_job page[JOB_PAGE];
    struct tgh_arena a;
    tgh_err rc = TGH_OK;
    int n = 0;

    tgh_arena_init(&a, 8192);
    do {
        struct qbuf b = { .len = 0 };
        PGresult *r = NULL;

        b.sql[0] = '\0';
        q_int(&b, "SELECT " JOB_COLUMNS " FROM job_history WHERE kind = 'media' AND id < ", before);
        if (q->state >= 0)
            q_str(&b, " AND state = ", store_job_state_name((enum store_job_state)q->state));
        if (q->chat_id != MSG_UNSET)
            q_int(&b, " AND chat_id = ", q->chat_id);
        if (q->message_id != MSG_UNSET)
            q_int(&b, " AND message_id = ", q->message_id);
        q_int(&b, " ORDER BY id DESC LIMIT ", left < JOB_PAGE ? left : JOB_PAGE);
        rc = pg_px(pg, b.sql, &b.p, &r, "list media jobs");
        if (rc != TGH_OK)
            break;
        tgh_arena_reset(&a);
        n = PQntuples(r);
        for (int i = 0; rc == TGH_OK && i < n; i++)
            rc = job_row(r, i, &a, &page[i]);
        PQclear(r);
        for (int i = 0; rc == TGH_OK && i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            before = page[n - 1].id;
        left -= n;
    } while (rc == TGH_OK && n == JOB_PAGE && left > 0);
out:
    tgh_arena_fini(&a);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_job_retry(void *impl, int64_t id, int64_t now, int64_t *n)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, now);
    if (id > 0)
        p_int(&p, id);
    rc = pg_px(pg,
               id > 0 ? "UPDATE job_history SET state = 'queued', next_at = $1, attempts = 0,"
                        " updated_at = $1, finished_at = NULL"
                        " WHERE id = $2 AND state IN ('failed', 'skipped')"
                      : "UPDATE job_history SET state = 'queued', next_at = $1, attempts = 0,"
                        " updated_at = $1, finished_at = NULL"
                        " WHERE kind = 'media' AND state = 'failed'",
               &p, &r, "retry media jobs");
    *n = rc == TGH_OK ? changed(r) : 0;
    PQclear(r);
    if (rc == TGH_OK && id > 0 && *n == 0)
        rc = none_changed(pg, id);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_counts_each(void *impl, store_media_count_fn fn, void *arg)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_px(impl,
               "SELECT state, media_kind, count(*), coalesce(sum(size), 0) FROM job_history"
               " WHERE kind = 'media' GROUP BY state, media_kind ORDER BY state, media_kind",
               &p, &r, "count media jobs");
    for (int i = 0; rc == TGH_OK && i < PQntuples(r); i++) {
        enum store_job_state st;

        if (!store_job_state_parse(v_str(r, i, 0), &st))
            continue;
        if (fn(arg, st, v_str(r, i, 1), v_i64(r, i, 2), v_i64(r, i, 3)) != 0)
            break;
    }
    PQclear(r);
    return rc;
}

static void
dedup_row(const PGresult *r, int i, struct tgh_arena *a, struct store_dedup *d)
{
    const char *fuid = v_str(r, i, 2), *ct = v_str(r, i, 4);

    d->sha256 = tgh_arena_strdup(a, v_str(r, i, 0));
    d->storage_key = tgh_arena_strdup(a, v_str(r, i, 1));
    d->file_unique_id = fuid != NULL ? tgh_arena_strdup(a, fuid) : NULL;
    d->size = v_i64(r, i, 3);
    d->content_type = ct != NULL ? tgh_arena_strdup(a, ct) : NULL;
    d->created_at = v_i64(r, i, 5);
}

TGH_MUSTCHECK tgh_err
pg_dedup_find(void *impl, const char *sha256, const char *file_unique_id, struct store_dedup *out)
{
    struct pg *pg = impl;
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_str(&p, sha256 != NULL ? sha256 : file_unique_id);
    rc =
        pg_px(pg,
              sha256 != NULL ? "SELECT " DEDUP_COLUMNS " FROM dedup_index WHERE sha256 = $1"
                             : "SELECT " DEDUP_COLUMNS " FROM dedup_index WHERE file_unique_id = $1"
                               " ORDER BY created_at, sha256 LIMIT 1",
              &p, &r, "find stored content");
    if (rc == TGH_OK && PQntuples(r) == 0)
        rc = tgh_errf(TGH_ENOTFOUND, "no stored content %.64s",
                      sha256 != NULL ? sha256 : file_unique_id);
    if (rc == TGH_OK) {
        tgh_arena_reset(&pg->found);
        dedup_row(r, 0, &pg->found, out);
    }
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_dedup_put(void *impl, const struct store_dedup *d, bool *added)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_str(&p, d->sha256);
    p_str(&p, d->storage_key);
    p_str(&p, d->file_unique_id);
    p_int(&p, d->size);
    p_str(&p, d->content_type);
    p_int(&p, d->created_at > 0 ? d->created_at : (int64_t)time(NULL));
    rc = pg_px(impl,
               "INSERT INTO dedup_index (" DEDUP_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6)"
               " ON CONFLICT (sha256) DO NOTHING",
               &p, &r, "record stored content");
    *added = rc == TGH_OK && changed(r) == 1;
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_dedup_each(void *impl, store_dedup_fn fn, void *arg)
{
    struct store_dedup page[DEDUP_PAGE];
    char after[65] = "";
    struct tgh_arena a;
    tgh_err rc = TGH_OK;
    int n = 0;

    tgh_arena_init(&a, 16 * 1024);
    do {
        struct params p = { .n = 0 };
        PGresult *r = NULL;

        p_str(&p, after);
        rc = pg_px(impl,
                   "SELECT " DEDUP_COLUMNS " FROM dedup_index WHERE sha256 > $1"
                   " ORDER BY sha256 LIMIT " DEDUP_PAGE_S,
                   &p, &r, "list stored content");
        if (rc != TGH_OK)
            break;
        tgh_arena_reset(&a);
        n = PQntuples(r);
        for (int i = 0; i < n; i++)
            dedup_row(r, i, &a, &page[i]);
        PQclear(r);
        for (int i = 0; i < n; i++)
            if (fn(arg, &page[i]) != 0)
                goto out;
        if (n > 0)
            (void)snprintf(after, sizeof(after), "%s", page[n - 1].sha256);
    } while (n == DEDUP_PAGE);
out:
    tgh_arena_fini(&a);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_scan_get(void *impl, int64_t chat_id, int64_t *last)
{
    struct params p = { .n = 0 };
    PGresult *r = NULL;
    tgh_err rc;

    p_int(&p, chat_id);
    rc = pg_px(impl, "SELECT last_id FROM media_scan WHERE chat_id = $1", &p, &r,
               "read media scan position");
    if (rc == TGH_OK && PQntuples(r) == 1)
        *last = v_i64(r, 0, 0);
    PQclear(r);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_media_scan_put(void *impl, int64_t chat_id, int64_t last, int64_t now)
{
    struct params p = { .n = 0 };

    p_int(&p, chat_id);
    p_int(&p, last);
    p_int(&p, now);
    return pg_px(impl,
                 "INSERT INTO media_scan (chat_id, last_id, updated_at) VALUES ($1, $2, $3)"
                 " ON CONFLICT (chat_id) DO UPDATE SET"
                 " last_id = greatest(media_scan.last_id, excluded.last_id),"
                 " updated_at = excluded.updated_at",
                 &p, NULL, "record media scan position");
}
