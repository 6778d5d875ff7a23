/* SPDX-License-Identifier: MIT */
/*
 * store_pg_int.h - private to the PostgreSQL backend (store_pg*.c): the
 * connection, the prepared statements' ids and column lists, statement
 * parameters and result helpers, and the entries of the vtable by file.
 *
 * Which file holds what:
 *   store_pg.c          errors, the connection (open, close, reconnect), the
 *                       session (staging tables, the SQL of every prepared
 *                       statement), the vtable
 *   store_pg_migrate.c  the embedded migrations, monthly partitions
 *   store_pg_commit.c   the batch commit protocol: locks, one fetch of the
 *                       batch's rows, the rules applied in C, COPY into
 *                       messages or the staging tables, set-based apply
 *   store_pg_read.c     chats, messages (the polling query built from a
 *                       store_query), versions, totals, tombstones, buckets
 *   store_pg_admin.c    chat upsert, collection runs, dead letters, tracked
 *                       chats, cursors, retention
 *   store_pg_media.c    media jobs, the content index, the media scan
 */
#ifndef TGH_STORE_STORE_PG_INT_H
#define TGH_STORE_STORE_PG_INT_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/msg.h"
#include "store/store_int.h"

/* Advisory lock class of the store (two-int keys never meet chat ids, one-bigint keys). */
#define LOCK_CLASS    "1952999272"
#define MONTHS_AROUND 3         /* partitions created ahead (and behind) at open */
#define COPY_FLUSH    (1 << 20) /* bytes of COPY data sent at a time */
#define MAX_RANGE_GAP 32        /* message ids apart that still share one lookup range */
#define LOCK_MSGS_MAX 1000      /* messages a batch locks one by one; more: whole chats */
#define PAGE_ROWS     1000      /* rows per page of messages_each */
#define DATE_MAX      INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MAX_PARAMS    20

enum stmt_id {
    P_LOCK_CHATS,
    P_LOCK_MSGS,
    P_FETCH,
    P_PARTITIONS,
    P_CHAT_INSERT,
    P_CHAT_UPDATE,
    P_TOMB_INSERT,
    P_MSG_UPDATE,
    P_MSG_META,
    P_VER_INSERT,
    P_CHAT_UPSERT,
    P_DEAD_ADD,
    P_RUN_BEGIN,
    P_RUN_FINISH,
    P_CHATS,
    P_VERSIONS,
    P_TOTALS,
    P_TOMBSTONES,
    P_BUCKETS_CHAT,
    P_BUCKETS_ALL,
    P_RUNS_LAST,
    P_DL_GET,
    P_DL_RETRIED,
    P_DL_RESOLVE,
    P_TRK_LOCK,
    P_TRK_INSERT,
    P_TRK_UPDATE,
    P_TRK_DROP_SPEC,
    P_TRK_MOVE_SPEC,
    P_TRK_BY_CHAT,
    P_TRK_BY_SPEC,
    P_TRK_BY_NAME,
    P_TRK_BY_AT_SPEC,
    P_TRK_PAGE,
    P_TRK_REMOVE,
    P_TRK_STATUS,
    P_TRK_EXISTS,
    P_TRK_BACKFILL_ASK,
    P_TRK_BACKFILL_DONE,
    P_TRK_MEDIA_POLICY,
    P_CUR_GET,
    P_CUR_PUT,
    P_CUR_PAGE,
    P_RETENTION,
    P_COUNT
};

/* The content columns of a message, in the order rows are staged. */
#define MSG_CONTENT                                                                  \
    "date, edit_date, sender_id, sender_type, sender_name, text, thread_id,"         \
    " reply_to_message_id, media_kind, views, forwards, replies, reactions, source," \
    " content_hash, idempotency_key, event"
#define MSG_ALL \
    "chat_id, message_id, " MSG_CONTENT ", first_seen_at, updated_at, deleted_at, version_count"
#define N_CONTENT 17

#define TRK_COLUMNS                                                                         \
    "id, spec, chat_id, account, enabled, status, error, type, title, username,"            \
    " linked_chat_id, is_forum, comments, topics, added_at, updated_at, last_collected_at," \
    " backfill_requested_at, media_policy"
#define CUR_COLUMNS \
    "chat_id, thread_id, newest_id, oldest_id, complete, gap_hi, gap_from, updated_at"
#define RUN_COLUMNS                                                                        \
    "id, chat_id, kind, origin, started_at, finished_at, status, messages_seen, inserted," \
    " versioned, unchanged, refreshed, deleted, errors, error, flood_waits, flood_seconds"
#define DL_COLUMNS \
    "id, source, origin, position, reason, payload, created_at, retry_count, resolved_at"
/* Rows per page of the listings (kept in step with the LIMIT text). */
#define TRK_PAGE   64
#define TRK_PAGE_S "64"
#define RUN_PAGE   64
#define RUN_PAGE_S "64"
#define DL_PAGE    32 /* payloads are cut at 256 KiB by their writers */
#define CUR_PAGE   256
#define CUR_PAGE_S "256"

#define COPY_MSG "COPY tgh_stage_msg (op, old_date, " MSG_ALL ", tomb_source) FROM STDIN"
#define COPY_NEW "COPY messages (" MSG_ALL ") FROM STDIN"
#define COPY_VER                                                                              \
    "COPY tgh_stage_ver (chat_id, message_id, version, content_hash, edit_date, text, event," \
    " superseded_at) FROM STDIN"
#define COPY_CHAT "COPY tgh_stage_chat (chat_id, type, title, username) FROM STDIN"

/* A growing byte buffer: COPY data and pre-rendered rows. */
struct cbuf {
    char *p;
    size_t len, cap;
};

struct pg {
    PGconn *conn;
    char *uri;       /* what libpq connects to (the password is in it: never logged) */
    bool session_ok; /* staging tables and prepared statements exist on conn */
    int64_t *months; /* month starts known to have a partition, unsorted */
    size_t n_months, cap_months;
    char *reac_buf; /* reusable buffer for the reactions JSON of one event */
    size_t reac_cap;
    struct cbuf copy;         /* the COPY data being sent */
    struct tgh_arena scratch; /* merged events */
    struct tgh_arena found;   /* strings of the last store_tracked_find() result */
};

/* Text-format parameters of one statement; numbers are formatted in place. */
struct params {
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    char *heap[6]; /* arrays, tgh_free()d by params_fini() */
    size_t n_heap;
    int n;
};

/* ---- store_pg.c ---- */

/*
 * Map a failure to our codes and record the detail. Class 08 and the
 * shutdown states mean the connection is gone: TGH_EUNAVAIL, and the next
 * call reconnects. Serialisation failures and deadlocks are worth a retry.
 */
TGH_MUSTCHECK tgh_err pg_fail(struct pg *pg, const PGresult *res, const char *what);
/* Run a statement without parameters or results (BEGIN, COMMIT, DDL). */
TGH_MUSTCHECK tgh_err pg_exec_plain(struct pg *pg, const char *sql, const char *what);
/* Run prepared statement id; *out (may be NULL) receives the result to PQclear(). */
TGH_MUSTCHECK tgh_err pg_exec_stmt(struct pg *pg, enum stmt_id id, const struct params *p,
                                   PGresult **out, const char *what);
/* Quietly undo an open transaction: the first error's detail stays recorded. */
void pg_rollback(struct pg *pg);
/* Make sure the connection is usable: reconnect and prepare the session after a loss. */
TGH_MUSTCHECK tgh_err pg_conn_ready(struct pg *pg);

/* ---- store_pg_migrate.c ---- */

TGH_MUSTCHECK tgh_err pg_query_i64(struct pg *pg, const char *sql, int64_t *out);
/* Bring the schema to the newest embedded migration, under an advisory lock. */
TGH_MUSTCHECK tgh_err pg_migrate(struct pg *pg);
bool pg_month_known(const struct pg *pg, int64_t month);
/* Create the monthly partitions that the dates in times[] need. */
TGH_MUSTCHECK tgh_err pg_partitions_ensure(struct pg *pg, const int64_t *times, size_t n);

/* ---- parameters ---- */

static inline void
params_fini(struct params *p)
{
    for (size_t i = 0; i < p->n_heap; i++)
        tgh_free(p->heap[i]);
    p->n_heap = 0;
}

static inline void
p_str(struct params *p, const char *s)
{
    if (p->n >= MAX_PARAMS) /* the statements above have fewer: a programming error */
        abort();
    p->v[p->n++] = s;
}

static inline void
p_int(struct params *p, int64_t v)
{
    if (p->n >= MAX_PARAMS) /* the statements above have fewer: a programming error */
        abort();
    (void)snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* MSG_UNSET is NULL. */
static inline void
p_i64(struct params *p, int64_t v)
{
    if (v == MSG_UNSET)
        p_str(p, NULL);
    else
        p_int(p, v);
}

/* 0 means "none" in the API and NULL in the optional columns. */
static inline void
p_nz(struct params *p, int64_t v)
{
    if (v == 0)
        p_str(p, NULL);
    else
        p_int(p, v);
}

static inline void
p_bool(struct params *p, bool v)
{
    p_str(p, v ? "t" : "f");
}

/* An array of integers as a bigint[] literal: digits, signs and commas only. */
static inline void
p_array(struct params *p, const int64_t *v, size_t n)
{
    size_t cap = n * 21 + 3, len = 0;
    char *s = tgh_malloc(cap);

    if (p->n_heap >= sizeof(p->heap) / sizeof(p->heap[0]))
        abort();
    s[len++] = '{';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%" PRId64, i > 0 ? "," : "", v[i]);
    s[len++] = '}';
    s[len] = '\0';
    p->heap[p->n_heap++] = s;
    p_str(p, s);
}

/* ---- results ---- */

static inline int64_t
v_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* NULL is MSG_UNSET. */
static inline int64_t
v_opt(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? MSG_UNSET : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static inline const char *
v_str(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static inline bool
v_bool(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* Run sql with p; *out (may be NULL) receives the result to PQclear(). */
TGH_MUSTCHECK static inline tgh_err
pg_px(struct pg *pg, const char *sql, const struct params *p, PGresult **out, const char *what)
{
    tgh_err rc = pg_conn_ready(pg);
    PGresult *r;

    if (out != NULL)
        *out = NULL;
    if (rc != TGH_OK)
        return rc;
    r = PQexecParams(pg->conn, sql, p->n, NULL, p->v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(pg, r, what);
        PQclear(r);
        return rc;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return TGH_OK;
}

/* ---- query text built from constant fragments (store_pg_read.c, store_pg_admin.c) ---- */

/* Append a constant SQL fragment; the query text never contains values. */
static inline void
sql_add(char *buf, size_t cap, size_t *len, const char *frag)
{
    size_t n = strlen(frag);

    if (*len + n + 1 > cap) /* the fragments below always fit: a programming error */
        abort();
    memcpy(buf + *len, frag, n + 1);
    *len += n;
}

/* A query built from constant fragments; every value is a parameter ($n). */
struct qbuf {
    char sql[1536];
    size_t len;
    struct params p;
};

static inline void
q_add(struct qbuf *b, const char *frag)
{
    sql_add(b->sql, sizeof(b->sql), &b->len, frag);
}

/* "$n" for the parameter added last. */
static inline void
q_ref(struct qbuf *b)
{
    char ref[16];

    (void)snprintf(ref, sizeof(ref), "$%d", b->p.n);
    q_add(b, ref);
}

/* frag, then v as the next parameter. */
static inline void
q_int(struct qbuf *b, const char *frag, int64_t v)
{
    q_add(b, frag);
    p_int(&b->p, v);
    q_ref(b);
}

static inline void
q_str(struct qbuf *b, const char *frag, const char *v)
{
    q_add(b, frag);
    p_str(&b->p, v);
    q_ref(b);
}

/* Run b as an unnamed statement: planned with its values, so only the filters set count. */
TGH_MUSTCHECK static inline tgh_err
q_exec(struct pg *pg, const struct qbuf *b, PGresult **out, const char *what)
{
    PGresult *r = PQexecParams(pg->conn, b->sql, b->p.n, NULL, b->p.v, NULL, NULL, 0);
    tgh_err rc;

    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(pg, r, what);
        PQclear(r);
        return rc;
    }
    *out = r;
    return TGH_OK;
}

/* Rows a statement changed (INSERT, UPDATE, DELETE). */
static inline int64_t
changed(const PGresult *r)
{
    return strtoll(PQcmdTuples((PGresult *)r), NULL, 10);
}

/* ---- the vtable entries (store_int.h), by file ---- */

/* store_pg.c */
void pg_close(void *impl);
TGH_MUSTCHECK tgh_err pg_open(const struct tgh_url *url, bool must_exist, void **impl);

/* store_pg_commit.c */
TGH_MUSTCHECK tgh_err pg_commit(void *impl, const struct msg_event *ev, size_t n,
                                struct store_stats *stats, enum store_change *changes);

/* store_pg_read.c */
TGH_MUSTCHECK tgh_err pg_chats_each(void *impl, store_chat_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_messages_each(void *impl, const struct store_query *q, store_message_fn fn,
                                       void *arg);
TGH_MUSTCHECK tgh_err pg_versions_each(void *impl, int64_t chat_id, int64_t message_id,
                                       store_message_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_totals_get(void *impl, struct store_totals *out);
TGH_MUSTCHECK tgh_err pg_tombstones_each(void *impl, int64_t chat_id, store_message_fn fn,
                                         void *arg);
TGH_MUSTCHECK tgh_err pg_message_buckets(void *impl, int64_t chat_id, int64_t since, int64_t until,
                                         int64_t bucket_s, store_bucket_fn fn, void *arg);

/* store_pg_admin.c */
TGH_MUSTCHECK tgh_err pg_chat_upsert(void *impl, int64_t chat_id, enum msg_chat_type type,
                                     const char *title, const char *username);
TGH_MUSTCHECK tgh_err pg_dead_letter_add(void *impl, const struct store_dead_letter *dl);
TGH_MUSTCHECK tgh_err pg_run_begin(void *impl, int64_t chat_id, const char *kind,
                                   const char *origin, int64_t *run_id);
TGH_MUSTCHECK tgh_err pg_run_finish(void *impl, int64_t run_id, const struct store_run_result *res);
TGH_MUSTCHECK tgh_err pg_runs_each(void *impl, const struct store_runs_query *q, store_run_fn fn,
                                   void *arg);
TGH_MUSTCHECK tgh_err pg_runs_last_each(void *impl, store_run_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_dead_letters_each(void *impl, const struct store_dl_query *q,
                                           store_dead_letter_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_dead_letter_get(void *impl, int64_t id, store_dead_letter_fn fn,
                                         void *arg);
TGH_MUSTCHECK tgh_err pg_dead_letter_retried(void *impl, int64_t id, bool resolved,
                                             const char *reason, int64_t at);
TGH_MUSTCHECK tgh_err pg_dead_letter_resolve(void *impl, int64_t id, int64_t at);
TGH_MUSTCHECK tgh_err pg_tracked_put(void *impl, const struct store_tracked *t, int64_t *id);
TGH_MUSTCHECK tgh_err pg_tracked_each(void *impl, store_tracked_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_tracked_find(void *impl, const char *key, struct store_tracked *out);
TGH_MUSTCHECK tgh_err pg_tracked_remove(void *impl, int64_t id);
TGH_MUSTCHECK tgh_err pg_tracked_set_status(void *impl, int64_t id, const char *status,
                                            const char *error, int64_t last_collected_at);
TGH_MUSTCHECK tgh_err pg_tracked_request_backfill(void *impl, int64_t id, int64_t at);
TGH_MUSTCHECK tgh_err pg_tracked_set_media_policy(void *impl, int64_t id, const char *spec);
TGH_MUSTCHECK tgh_err pg_tracked_backfill_done(void *impl, int64_t id, int64_t at);
TGH_MUSTCHECK tgh_err pg_cursor_get(void *impl, int64_t chat_id, int64_t thread_id,
                                    struct store_cursor *out);
TGH_MUSTCHECK tgh_err pg_cursor_put(void *impl, const struct store_cursor *c);
TGH_MUSTCHECK tgh_err pg_cursors_each(void *impl, int64_t chat_id, store_cursor_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_retention_apply(void *impl, int64_t before, int64_t *removed);

/* store_pg_media.c */
TGH_MUSTCHECK tgh_err pg_media_job_add(void *impl, const struct store_media_job *j, int64_t now,
                                       int64_t *id, bool *added);
TGH_MUSTCHECK tgh_err pg_media_jobs_claim(void *impl, const struct store_media_claim *c,
                                          store_media_job_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_media_job_progress(void *impl, int64_t id, int64_t downloaded,
                                            int64_t lease_until, int64_t now);
TGH_MUSTCHECK tgh_err pg_media_job_set_upload(void *impl, int64_t id, const char *upload_id,
                                              int64_t now);
TGH_MUSTCHECK tgh_err pg_media_job_end(void *impl, int64_t id, const struct store_media_end *e);
TGH_MUSTCHECK tgh_err pg_media_jobs_each(void *impl, const struct store_media_jobs_query *q,
                                         store_media_job_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_media_job_retry(void *impl, int64_t id, int64_t now, int64_t *n);
TGH_MUSTCHECK tgh_err pg_media_counts_each(void *impl, store_media_count_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_dedup_find(void *impl, const char *sha256, const char *file_unique_id,
                                    struct store_dedup *out);
TGH_MUSTCHECK tgh_err pg_dedup_put(void *impl, const struct store_dedup *d, bool *added);
TGH_MUSTCHECK tgh_err pg_dedup_each(void *impl, store_dedup_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_media_scan_get(void *impl, int64_t chat_id, int64_t *last);
TGH_MUSTCHECK tgh_err pg_media_scan_put(void *impl, int64_t chat_id, int64_t last, int64_t now);

/* The archive bot (store_pg_bot.c). */
TGH_MUSTCHECK tgh_err pg_bot_state_get(void *impl, int64_t bot_id, struct store_bot_state *out);
TGH_MUSTCHECK tgh_err pg_bot_state_put(void *impl, const struct store_bot_state *s, int64_t now);
TGH_MUSTCHECK tgh_err pg_bot_item_put(void *impl, const char *key, int64_t chat_id,
                                      int64_t message_id, int64_t now, bool *is_new,
                                      struct store_bot_item *first);
TGH_MUSTCHECK tgh_err pg_bot_item_get(void *impl, const char *key, struct store_bot_item *out);

/* Completeness (store_pg_gaps.c). */
TGH_MUSTCHECK tgh_err pg_id_bounds(void *impl, int64_t chat_id, int64_t *min_id, int64_t *max_id,
                                   int64_t *count);
TGH_MUSTCHECK tgh_err pg_missing_runs(void *impl, int64_t chat_id, store_idrun_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_gaps_put(void *impl, int64_t chat_id, const struct store_gap *g, size_t n);
TGH_MUSTCHECK tgh_err pg_gaps_each(void *impl, int64_t chat_id, store_gap_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_warnings_each(void *impl, int64_t chat_id, store_warning_fn fn, void *arg);
TGH_MUSTCHECK tgh_err pg_chat_quality(void *impl, int64_t chat_id, int64_t now, int64_t since,
                                      struct store_chat_quality *out, store_kind_fn kinds,
                                      void *arg);
TGH_MUSTCHECK tgh_err pg_first_seen_count(void *impl, int64_t chat_id, int64_t from, int64_t to,
                                          int64_t *n);

#endif
