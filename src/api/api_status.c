/* SPDX-License-Identifier: MIT */
/*
 * api_status.c - health and state for machines and people: /healthz (the
 * process answers), /readyz (store, queue and cache reachable, each named),
 * /metrics (the registry in Prometheus text) and /status (one JSON document
 * for the dashboard and operators). The HTTP metrics are counted here.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "api/api_routes_int.h"
#include "cache/cache.h"
#include "core/alloc.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/url.h"
#include "quality/quality.h"
#include "queue/queue.h"
#include "store/store.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"
#include "core/util.h"

static struct tgh_metric *m_requests, *m_duration, *m_streams;

static const double duration_bounds[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,   1,     2.5,  5,     10 };

void
api_metrics_init(void)
{
    m_requests = tgh_metric_counter("tgh_http_requests_total",
                                    "HTTP requests answered, by route, method and status",
                                    "route,method,status");
    m_duration = tgh_metric_histogram(
        "tgh_http_request_duration_seconds",
        "time from a request's headers to its answer queued, by route (streams excluded)", "route",
        duration_bounds, TGH_NELEM(duration_bounds));
    m_streams = tgh_metric_gauge("tgh_http_streams", "live-stream clients connected", NULL);
}

void
api_metrics_request(const struct api_req *r, double seconds)
{
    const char *route = r->route != NULL ? r->route->name : "unmatched";
    char status[8];
    const char *method = r->method;
    const char *vals[3];

    /* Methods are the client's bytes: only the ones routes use become labels. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "HEAD") != 0)
        method = "other";
    (void)snprintf(status, sizeof(status), "%u", r->status);
    vals[0] = route;
    vals[1] = method;
    vals[2] = status;
    tgh_metric_inc(m_requests, vals);
    if (r->route == NULL || strcmp(r->route->name, "stream") != 0)
        tgh_metric_observe(m_duration, vals, seconds);
}

void
api_h_healthz(struct api_req *r)
{
    api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Is the store reachable? A primary-key lookup that needs no row. */
static bool
store_ok(struct api_req *r, char *why, size_t cap)
{
    struct api_conn *c;
    struct store_cursor cur;
    tgh_err rc;
    bool ok;

    if (!api_conn_get(r, &c)) {
        (void)snprintf(why, cap, "no store connection");
        /* api_conn_get answered; the caller answers again with the full picture */
        return false;
    }
    rc = store_cursor_get(c->st, 0, 0, &cur);
    ok = rc == TGH_OK || rc == TGH_ENOTFOUND;
    if (!ok)
        (void)snprintf(why, cap, "%s", tgh_errmsg());
    api_conn_put(r->srv, c, !ok);
    return ok;
}

void
api_h_readyz(struct api_req *r)
{
    struct api_server *s = r->srv;
    char why[512] = "";
    bool st_ok = store_ok(r, why, sizeof(why)), q_ok, c_ok = true, all;
    json_t *checks = json_object(), *j;

    (void)json_object_set_new(checks, "store",
                              st_ok ? json_pack("{s:b}", "ok", 1)
                                    : json_pack("{s:b,s:s}", "ok", 0, "error", why));
    (void)api_queue_depth(s, &q_ok);
    if (queue_url_is_amqp(s->cfg->queue_url))
        (void)json_object_set_new(checks, "queue", json_pack("{s:b}", "ok", q_ok));
    if (cache_url_is_redis(s->cfg->cache_url)) {
        struct api_conn *c = NULL;

        c_ok = false;
        if (api_conn_get(r, &c)) {
            struct cache_item probe = { .chat_id = 0, .message_id = 0, .state = "" };
            bool seen;

            c_ok = c->cache != NULL && cache_seen(c->cache, &probe, 1, &seen) == TGH_OK;
            api_conn_put(s, c, false);
        }
        (void)json_object_set_new(checks, "cache", json_pack("{s:b}", "ok", c_ok));
    }
    all = st_ok && q_ok && c_ok && !atomic_load(&s->stopping);
    j = json_pack("{s:s,s:o}", "status", all ? "ready" : "unavailable", "checks", checks);
    api_reply_json(r, all ? 200 : 503, j);
}

static int
lag_row(void *arg, const struct store_chat_row *c)
{
    const int64_t *now = arg;
    char id[24];
    const char *v[1] = { id };

    if (c->last_date <= 0)
        return 0;
    (void)snprintf(id, sizeof(id), "%" PRId64, c->chat_id);
    tgh_metric_set(tgh_metric_gauge("tgh_chat_freshness_lag_seconds",
                                    "now minus the date of the chat's newest stored message",
                                    "chat"),
                   v, (double)(*now - c->last_date));
    return 0;
}

struct media_sums {
    int64_t jobs[STORE_JOB_STATES], bytes[STORE_JOB_STATES];
};

static int
media_sum(void *arg, enum store_job_state state, const char *kind, int64_t jobs, int64_t bytes)
{
    struct media_sums *m = arg;

    (void)kind;
    m->jobs[state] += jobs;
    m->bytes[state] += bytes;
    return 0;
}

/* Media jobs by state (every state, 0 included, so a drained state reads 0). */
static void
media_gauges(struct store *st)
{
    struct media_sums m;

    memset(&m, 0, sizeof(m));
    if (store_media_counts_each(st, media_sum, &m) != TGH_OK) {
        log_warn("metrics: media jobs not read: %s", tgh_errmsg());
        return;
    }
    for (int i = 0; i < STORE_JOB_STATES; i++) {
        const char *v[1] = { store_job_state_name((enum store_job_state)i) };

        tgh_metric_set(tgh_metric_gauge("tgh_media_jobs",
                                        "media jobs by state: queued, downloading, stored, "
                                        "failed, skipped",
                                        "state"),
                       v, (double)m.jobs[i]);
        tgh_metric_set(tgh_metric_gauge("tgh_media_job_bytes",
                                        "bytes of the files of the media jobs, by state", "state"),
                       v, (double)m.bytes[i]);
    }
}

/* Missing message ids by gap class, as the last gap checks found them (every class, 0 included). */
static int
gap_sum(void *arg, const struct store_gap *g)
{
    int64_t *ids = arg;

    ids[g->cls] += g->last_id - g->first_id + 1;
    return 0;
}

static void
gap_gauges(struct store *st)
{
    int64_t ids[STORE_GAP_CLASSES] = { 0 };

    if (store_gaps_each(st, MSG_UNSET, gap_sum, ids) != TGH_OK) {
        log_warn("metrics: gaps not read: %s", tgh_errmsg());
        return;
    }
    for (int i = 0; i < STORE_GAP_CLASSES; i++) {
        const char *v[1] = { store_gap_class_name((enum store_gap_class)i) };

        tgh_metric_set(tgh_metric_gauge("tgh_gap_ids",
                                        "message ids the archive lacks, by gap class: unknown, "
                                        "deleted, missed (fetched since), inaccessible",
                                        "class"),
                       v, (double)ids[i]);
    }
}

/*
 * Gauges read from the store and the broker: per-chat freshness, open dead
 * letters, media jobs, queue depth. Reading them can take a while on a large archive,
 * so a thread of the server refreshes them every GAUGES_S seconds with a
 * store connection of its own, and a scrape only renders.
 */
#define GAUGES_S  15
#define QUALITY_S 600 /* the data-quality figures read every chat's messages: less often */

struct quality_sum {
    struct store *st;
    int64_t now;
    int64_t same, replies, threads, order, future;
};

static int
quality_row(void *arg, const struct store_chat_row *r)
{
    struct quality_sum *q = arg;
    struct store_chat_quality c;

    if (store_chat_quality(q->st, r->chat_id, q->now, q->now, &c, NULL, NULL) != TGH_OK)
        return 1;
    q->same += c.same_content;
    q->replies += c.dangling_replies;
    q->threads += c.dangling_threads;
    q->order += c.out_of_order;
    q->future += c.future;
    return 0;
}

/* What validate would say of the last day: its shortfalls, as a gauge. */
static void
validation_gauge(struct store *st)
{
    int64_t now = (int64_t)time(NULL);
    json_t *res = NULL;

    if (quality_validate(st, 0, now - 86400, now, &res) != TGH_OK) {
        log_warn("metrics: validation not run: %s", tgh_errmsg());
        return;
    }
    tgh_metric_set(tgh_metric_gauge("tgh_validation_shortfalls",
                                    "what the last day's runs promised and the store lacks, and "
                                    "cursor ends the store does not reach (tgharvest validate)",
                                    NULL),
                   NULL, (double)json_integer_value(json_object_get(res, "shortfalls")));
    json_decref(res);
}

/* The report's figures over every chat (docs/internals/report.md), as gauges. */
static void
quality_gauges(struct store *st)
{
    struct quality_sum q = { .st = st, .now = (int64_t)time(NULL) };
    const char *reply[1] = { "reply" }, *thread[1] = { "thread" };
    const char *order[1] = { "out_of_order" }, *future[1] = { "future" };

    if (store_chats_each(st, quality_row, &q) != TGH_OK) {
        log_warn("metrics: quality figures not read: %s", tgh_errmsg());
        return;
    }
    tgh_metric_set(tgh_metric_gauge("tgh_quality_duplicates",
                                    "live messages whose content an earlier message of their chat "
                                    "has (the same post under two ids)",
                                    NULL),
                   NULL, (double)q.same);
    tgh_metric_set(tgh_metric_gauge("tgh_quality_dangling_references",
                                    "replies and thread ids pointing at no stored message", "kind"),
                   reply, (double)q.replies);
    tgh_metric_set(tgh_metric_gauge("tgh_quality_dangling_references",
                                    "replies and thread ids pointing at no stored message", "kind"),
                   thread, (double)q.threads);
    tgh_metric_set(tgh_metric_gauge("tgh_quality_bad_timestamps",
                                    "messages dated before a lower id, or in the future",
                                    "problem"),
                   order, (double)q.order);
    tgh_metric_set(tgh_metric_gauge("tgh_quality_bad_timestamps",
                                    "messages dated before a lower id, or in the future",
                                    "problem"),
                   future, (double)q.future);
}

static void
refresh_gauges(struct api_server *s, struct store **st, bool quality)
{
    int64_t now = (int64_t)time(NULL), depth;
    struct store_totals t;
    bool ok;

    depth = api_queue_depth(s, &ok);
    if (depth >= 0) {
        const char *v[1] = { QUEUE_NAME };

        tgh_metric_set(
            tgh_metric_gauge("tgh_queue_depth", "messages ready in the broker queue", "queue"), v,
            (double)depth);
    }
    if (*st == NULL && store_open_existing(s->store_url, st) != TGH_OK)
        return; /* /readyz says why */
    if (store_totals_get(*st, &t) == TGH_OK)
        tgh_metric_set(tgh_metric_gauge("tgh_dead_letters_open", "dead letters not resolved", NULL),
                       NULL, (double)t.dead_letters);
    media_gauges(*st);
    gap_gauges(*st);
    if (quality) {
        quality_gauges(*st);
        validation_gauge(*st);
    }
    if (store_chats_each(*st, lag_row, &now) != TGH_OK) {
        log_warn("metrics: per-chat freshness not read: %s", tgh_errmsg());
        store_close(*st);
        *st = NULL;
    }
}

static void *
gauges_main(void *arg)
{
    struct api_server *s = arg;
    struct store *st = NULL;
    struct timespec tick = { 0, 200 * 1000 * 1000 };
    int64_t next = 0, next_quality = 0;

    while (!atomic_load(&s->stopping)) {
        if ((int64_t)time(NULL) >= next) {
            bool quality = (int64_t)time(NULL) >= next_quality;

            refresh_gauges(s, &st, quality);
            next = (int64_t)time(NULL) + GAUGES_S;
            if (quality)
                next_quality = (int64_t)time(NULL) + QUALITY_S;
        }
        (void)nanosleep(&tick, NULL);
    }
    store_close(st);
    return NULL;
}

tgh_err
api_gauges_start(struct api_server *s)
{
    if (pthread_create(&s->gauges_thread, NULL, gauges_main, s) != 0)
        return tgh_errf(TGH_EAGAIN, "cannot start the metrics thread");
    s->has_gauges = true;
    return TGH_OK;
}

void
api_gauges_stop(struct api_server *s)
{
    if (s->has_gauges)
        (void)pthread_join(s->gauges_thread, NULL);
    s->has_gauges = false;
}

void
api_h_metrics(struct api_req *r)
{
    char *text = NULL;
    size_t len = 0;

    tgh_metric_set(m_streams, NULL, (double)atomic_load(&r->srv->streams));
    if (tgh_metrics_render(&text, &len) != TGH_OK) {
        api_reply_err(r, TGH_EIO, "metrics");
        return;
    }
    api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    tgh_free(text);
}

/* ---- /status ---- */

/* The newest run of each kind, by kind. */
static int
status_run(void *arg, const struct store_run_row *run)
{
    (void)json_object_set_new(arg, run->kind, api_run_json(run));
    return 0;
}

static json_t *
status_stream(struct api_server *s)
{
    struct tgh_feed_stats fs;
    bool sub = atomic_load(&s->has_sub);
    const char *source = s->own_feed ? (sub ? "redis" : "none") : "in-process";

    tgh_feed_stats_get(s->feed, &fs);
    return json_pack("{s:s,s:b,s:i,s:I,s:I,s:I}", "source", source, "connected",
                     s->own_feed ? (sub && atomic_load(&s->sub_up)) : 1, "clients",
                     atomic_load(&s->streams), "buffered", (json_int_t)fs.held, "appended",
                     (json_int_t)fs.appended, "dropped", (json_int_t)fs.dropped);
}

static int
worker_row(void *arg, const char *json, size_t len)
{
    json_error_t err;
    json_t *w = json_loadb(json, len, 0, &err);

    if (w != NULL)
        (void)json_array_append_new(arg, w);
    return 0;
}

void
api_h_status(struct api_req *r)
{
    struct api_server *s = r->srv;
    struct api_conn *c;
    json_t *chats = NULL;
    struct store_totals t;
    json_t *st, *runs = json_object(), *o, *workers = json_array();
    char redacted[512];
    bool q_ok;
    int64_t depth;
    tgh_err rc;

    if (!api_conn_get(r, &c))
        goto out;
    rc = store_totals_get(c->st, &t);
    if (rc == TGH_OK)
        rc = api_chats_list(c->st, &chats);
    if (rc == TGH_OK)
        rc = store_runs_last_each(c->st, status_run, runs);
    /* The workers' heartbeats (their breakers) when they share our Redis. */
    if (c->cache != NULL && cache_workers_each(c->cache, worker_row, workers) != TGH_OK) {
        json_decref(workers);
        workers = json_null();
    }
    api_conn_put(s, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "status");
        goto out;
    }
    tgh_url_redact(s->store_url, redacted, sizeof(redacted));
    st = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "url", redacted, "chats", (json_int_t)t.chats,
                   "messages", (json_int_t)t.messages, "deleted", (json_int_t)t.deleted, "versions",
                   (json_int_t)t.versions, "runs", (json_int_t)t.runs, "size_bytes",
                   (json_int_t)t.size_bytes);
    depth = api_queue_depth(s, &q_ok);
    tgh_url_redact(s->cfg->queue_url, redacted, sizeof(redacted));
    o = json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:o,s:{s:s,s:b,s:o},s:o,s:{s:I},s:o,s:o}", "version", TGH_VERSION,
        "mode", s->mode, "schema_version", "1", "started_at", (json_int_t)(s->started_ms / 1000),
        "uptime_s", (json_int_t)((int64_t)time(NULL) - s->started_ms / 1000), "store", st, "queue",
        "url", redacted, "ok", q_ok, "depth", depth >= 0 ? json_integer(depth) : json_null(),
        "cache", json_pack("{s:b}", "configured", cache_url_is_redis(s->cfg->cache_url)),
        "dead_letters", "open", (json_int_t)t.dead_letters, "stream", status_stream(s), "last_runs",
        runs);
    runs = NULL;
    if (o == NULL) {
        api_reply_error(r, 500, "internal", "cannot build the status");
        goto out;
    }
    (void)json_object_set(o, "chats", chats);
    /* Breakers are the workers'; `run` commits in-process and has none. */
    (void)json_object_set(o, "workers", workers);
    if (s->status_fill != NULL)
        s->status_fill(s->status_arg, o);
    api_reply_json(r, 200, o);
out:
    json_decref(workers);
    json_decref(runs);
    json_decref(chats);
}
