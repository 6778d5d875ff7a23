/* SPDX-License-Identifier: MIT */
/*
 * quality_validate.c - did what each collection run promised land?
 *
 * A run row says how many new messages its commits stored (or, published to
 * the queue, the broker confirmed); the store must hold at least that many
 * messages of the run's chat first stored within the run (published ones:
 * since its start, workers store them later). A tracked chat's cursor says
 * every message from its oldest to its newest id was collected; the store
 * must reach both ends. `tgharvest validate` prints the result; API servers
 * count the shortfalls as a gauge.
 */
#include "quality/quality.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct vctx {
    struct store *st;
    int64_t run_id; /* 0: every run since */
    int64_t since;
    int64_t now;
    json_t *runs, *cursors;
    int64_t checked, shortfalls;
    tgh_err rc;
};

static void problem(struct vctx *x, json_t *o, const char *fmt, ...) TGH_PRINTF(3, 4);

static void
problem(struct vctx *x, json_t *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    (void)json_array_append_new(json_object_get(o, "problems"), json_string(buf));
    (void)json_object_set_new(o, "ok", json_false());
    x->shortfalls++;
}

static int
on_run(void *arg, const struct store_run_row *r)
{
    struct vctx *x = arg;
    bool queued = r->stats.published > 0;
    int64_t promised = queued ? (int64_t)r->stats.published : (int64_t)r->stats.inserted;
    int64_t to = queued || r->finished_at == 0 ? x->now : r->finished_at, landed = 0;
    json_t *o;

    if (x->run_id != 0 && r->id != x->run_id)
        return 0;
    if (x->run_id == 0 && r->started_at < x->since)
        return 1; /* newest first: the rest is older */
    o = json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:b,s:[]}", "id", (json_int_t)r->id, "kind", r->kind,
                  "chat_id", (json_int_t)r->chat_id, "status", r->status, "started_at",
                  (json_int_t)r->started_at, "finished_at", (json_int_t)r->finished_at, "ok", 1,
                  "problems");
    (void)json_array_append_new(x->runs, o);
    x->checked++;
    (void)json_object_set_new(o, "promised_new", json_integer(promised));
    if (strcmp(r->status, "running") == 0) {
        (void)json_object_set_new(o, "landed_new", json_null());
        return 0; /* not done: nothing promised yet */
    }
    /* a run with no chat (an import) put its messages into every chat */
    if (promised > 0 &&
        (x->rc = store_first_seen_count(x->st, r->chat_id != 0 ? r->chat_id : MSG_UNSET,
                                        r->started_at, to, &landed)) != TGH_OK)
        return 1;
    (void)json_object_set_new(o, "landed_new", json_integer(landed));
    if (landed < promised)
        problem(x, o,
                "run %" PRId64 " (%s) %s %" PRId64 " new messages, the store has %" PRId64
                " first stored in its window",
                r->id, r->kind, queued ? "published" : "committed", promised, landed);
    return 0;
}

static int
on_tracked(void *arg, const struct store_tracked *t)
{
    struct vctx *x = arg;
    struct store_cursor cur;
    int64_t lo = 0, hi = 0, n = 0;
    json_t *o;
    tgh_err rc;

    if (t->chat_id == 0)
        return 0;
    rc = store_cursor_get(x->st, t->chat_id, 0, &cur);
    if (rc == TGH_ENOTFOUND)
        return 0;
    if (rc == TGH_OK)
        rc = store_id_bounds(x->st, t->chat_id, &lo, &hi, &n);
    if (rc != TGH_OK) {
        x->rc = rc;
        return 1;
    }
    o = json_pack("{s:I,s:s,s:I,s:I,s:b,s:I,s:I,s:I,s:b,s:[]}", "chat_id", (json_int_t)t->chat_id,
                  "spec", t->spec, "newest_id", (json_int_t)cur.newest_id, "oldest_id",
                  (json_int_t)cur.oldest_id, "complete", cur.complete, "stored_min", (json_int_t)lo,
                  "stored_max", (json_int_t)hi, "stored", (json_int_t)n, "ok", 1, "problems");
    (void)json_array_append_new(x->cursors, o);
    if (cur.newest_id > 0 && (n == 0 || hi < cur.newest_id))
        problem(x, o,
                "chat %" PRId64 ": its cursor says messages up to %" PRId64
                " were collected, the store's newest is %" PRId64,
                t->chat_id, cur.newest_id, hi);
    if (cur.oldest_id > 0 && n > 0 && lo > cur.oldest_id)
        problem(x, o,
                "chat %" PRId64 ": its cursor says messages down to %" PRId64
                " were collected, the store's oldest is %" PRId64,
                t->chat_id, cur.oldest_id, lo);
    return 0;
}

tgh_err
quality_validate(struct store *st, int64_t run_id, int64_t since, int64_t now, json_t **out)
{
    struct vctx x = { .st = st, .run_id = run_id, .since = since, .now = now };

    *out = NULL;
    x.runs = json_array();
    x.cursors = json_array();
    x.rc = store_runs_each(st, &(struct store_runs_query){ .chat_id = MSG_UNSET }, on_run, &x);
    if (x.rc == TGH_OK && x.run_id != 0 && x.checked == 0)
        x.rc = tgh_errf(TGH_ENOTFOUND, "there is no run %" PRId64, x.run_id);
    if (x.rc == TGH_OK && x.run_id == 0)
        x.rc = store_tracked_each(st, on_tracked, &x);
    if (x.rc == TGH_OK)
        *out = json_pack("{s:b,s:I,s:I,s:O,s:O}", "ok", x.shortfalls == 0, "runs_checked",
                         (json_int_t)x.checked, "shortfalls", (json_int_t)x.shortfalls, "runs",
                         x.runs, "cursors", x.cursors);
    json_decref(x.runs);
    json_decref(x.cursors);
    return x.rc;
}
