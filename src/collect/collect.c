/* SPDX-License-Identifier: MIT */
/*
 * collect.c - the collection engine: one loop drives every account's TDLib
 * client and every tracked chat's walk through its history.
 *
 * The engine loads the tracked chats (again at every rescan in the daemon),
 * attaches them to their accounts and starts them; each chat then walks
 * resolve -> open -> catch-up -> backfill -> threads -> idle by itself as its
 * answers come back (collect_chat.c), while the daemon's updates go into live
 * batches (collect_live.c). The loop here polls the hub, lets chats whose
 * pages committed go on, starts the daemon's gap-fill, reconcile and backfill
 * passes and, at the end, records every chat's run and hands back results.
 */
#include "collect/collect.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect/collect_engine_int.h"
#include "collect/collect_int.h"
#include "collect/collect_resolve.h"
#include "core/alloc.h"
#include "core/log.h"
#include "pipeline/pipeline.h"
#include "queue/queue.h"

#define TGH_LOG_SUB "collect"

#define LIVE_FLUSH_S  0.05  /* live events wait at most this long for company */
#define COMMIT_POLL_S 0.001 /* how often chats waiting for the writer are looked at */
#define RESCAN_S      15.0  /* the daemon looks for newly added chats this often */
#define WRITER_DEPTH  8

int64_t
collect_now(void)
{
    return (int64_t)time(NULL);
}

void
collect_engine_fatal(struct engine *e, tgh_err rc)
{
    if (e->fatal == TGH_OK) {
        e->fatal = rc;
        (void)snprintf(e->fatal_msg, sizeof(e->fatal_msg), "%s", tgh_errmsg());
    }
    e->stopping = true;
}

/* Writer thread: a batch (and its cursor) committed. */
static void
on_commit(void *arg, void *tag, const struct store_stats *s)
{
    struct engine *e = arg;
    struct cchat *c = tag;

    if (tag == (void *)&e->live) {
        pthread_mutex_lock(&e->mu);
        store_stats_add(&e->live_stats, s);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    if (c == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    store_stats_add(&c->stats, s);
    pthread_mutex_unlock(&e->mu);
    atomic_fetch_sub(&c->uncommitted, 1);
}

/* Tracked chats into the engine. */

struct load_ctx {
    struct engine *e;
    const char *only;
    int64_t only_id;
};

static int
load_chat(void *arg, const struct store_tracked *t)
{
    struct load_ctx *l = arg;
    struct engine *e = l->e;
    struct cchat *c;

    if (l->only != NULL && t->id != l->only_id)
        return 0;
    /* --shard i/N: the row id is stable from `chats add` on, resolved or not. */
    if (e->o->shards > 1 && (uint64_t)t->id % e->o->shards != e->o->shard)
        return 0;
    for (size_t i = 0; i < e->nchats; i++) {
        c = e->chats[i];
        if (c->row_id != t->id)
            continue;
        c->seen = true;
        c->backfill_req = t->backfill_requested_at;
        (void)snprintf(c->media_policy, sizeof(c->media_policy), "%s",
                       t->media_policy != NULL ? t->media_policy : "");
        if (!t->enabled && l->only == NULL) {
            c->gone = true; /* disabled while running */
        } else if (c->gone ||
                   (c->step == STEP_FAILED && c->permanent && strcmp(t->status, "error") != 0)) {
            /* Enabled again (which also clears an error): start over. */
            c->gone = false;
            c->permanent = false;
            c->res.error[0] = '\0';
            if (!c->busy && c->a != NULL) {
                c->step = STEP_RESOLVE;
                collect_chat_next(c);
            }
        }
        return 0;
    }
    if (!t->enabled && l->only == NULL)
        return 0;
    if (strcmp(t->status, "error") == 0 && l->only == NULL)
        return 0; /* not retried until enabled again */
    /* The same chat under two rows (two specs, one resolved late): one walk. */
    for (size_t i = 0; t->chat_id != 0 && i < e->nchats; i++)
        if (!e->chats[i]->gone && e->chats[i]->res_state.chat_id == t->chat_id)
            return 0;
    c = tgh_calloc(1, sizeof(*c));
    c->e = e;
    c->seen = true;
    c->row_id = t->id;
    c->backfill_req = t->backfill_requested_at; /* the first pass is one anyway */
    (void)snprintf(c->spec, sizeof(c->spec), "%s", t->spec);
    (void)snprintf(c->account, sizeof(c->account), "%s",
                   t->account != NULL ? t->account : e->cfg->account);
    c->comments = t->comments;
    c->topics = t->topics;
    c->added_at = t->added_at;
    (void)snprintf(c->media_policy, sizeof(c->media_policy), "%s",
                   t->media_policy != NULL ? t->media_policy : "");
    if (resolve_parse(t->spec, &c->res_state.spec) != TGH_OK)
        (void)snprintf(c->res_state.spec.text, sizeof(c->res_state.spec.text), "%s", t->spec);
    if (t->chat_id != 0)
        c->res_state.spec.chat_id = t->chat_id;
    if (t->username != NULL && c->res_state.spec.username[0] == '\0')
        (void)snprintf(c->res_state.spec.username, sizeof(c->res_state.spec.username), "%s",
                       t->username);
    c->res_state.want_linked = t->comments;
    c->reconcile_hours = e->o->reconcile_hours > 0 ? e->o->reconcile_hours : 0;
    c->res_state.done = collect_on_resolved;
    c->res_state.arg = c;
    c->res_state.counts = &c->counts;
    c->res.chat_id = t->chat_id;
    (void)snprintf(c->res.spec, sizeof(c->res.spec), "%s", t->spec);
    (void)snprintf(c->res.title, sizeof(c->res.title), "%s", t->title ? t->title : "");
    (void)snprintf(c->res.account, sizeof(c->res.account), "%s", c->account);
    e->chats = tgh_realloc(e->chats, (e->nchats + 1) * sizeof(*e->chats));
    e->chats[e->nchats++] = c;
    return 0;
}

static tgh_err
load_chats(struct engine *e)
{
    struct load_ctx l = { .e = e, .only = e->o->chat };
    tgh_err rc;

    if (l.only != NULL) {
        struct store_tracked t;

        rc = store_tracked_find(e->meta, l.only, &t);
        if (rc == TGH_ENOTFOUND)
            return tgh_errf(TGH_ENOTFOUND, "chat '%s' is not tracked (tgharvest chats add)",
                            l.only);
        if (rc != TGH_OK)
            return rc;
        l.only_id = t.id;
    }
    for (size_t i = 0; i < e->nchats; i++)
        e->chats[i]->seen = false;
    rc = store_tracked_each(e->meta, load_chat, &l);
    if (rc != TGH_OK)
        return rc;
    /* Removed while running: no more requests, updates or runs for it. */
    for (size_t i = 0; i < e->nchats && l.only == NULL; i++)
        if (!e->chats[i]->seen)
            e->chats[i]->gone = true;
    return TGH_OK;
}

static struct td_acct *
account_for(struct engine *e, const char *name, tgh_err *rc)
{
    struct td_acct *a;

    for (size_t i = 0; i < e->hub->nacct; i++)
        if (strcmp(e->hub->accts[i]->name, name) == 0)
            return e->hub->accts[i];
    *rc = td_acct_open(e->hub, name, false, &a);
    if (*rc != TGH_OK)
        return NULL;
    *rc = td_acct_wait_auth(a, 60, e->o->stop);
    if (*rc != TGH_OK)
        return NULL;
    if (a->auth != TD_AUTH_READY) {
        *rc =
            tgh_errf(TGH_EINVAL, "account '%s' is not logged in: run tgharvest login --account %s",
                     name, name);
        return NULL;
    }
    a->owner = e;
    return a;
}

/* Attach new chats to their accounts and start them. */
static void
start_chats(struct engine *e)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];
        tgh_err rc = TGH_OK;

        if (c->a != NULL || c->step == STEP_FAILED)
            continue;
        c->a = account_for(e, c->account, &rc);
        if (c->a == NULL && (rc == TGH_ECONFLICT || rc == TGH_EAGAIN) && e->o->daemon) {
            /* Another process has the session: a daemon that cannot collect must say so. */
            collect_engine_fatal(e, rc);
            return;
        }
        if (c->a == NULL) {
            (void)snprintf(c->res.error, sizeof(c->res.error), "%s", tgh_errmsg());
            c->res.errors++;
            c->step = STEP_FAILED;
            log_error("chat %s: %s", c->spec, c->res.error);
            continue;
        }
        c->res_state.acct = c->a;
        c->step = STEP_RESOLVE;
        collect_chat_next(c);
    }
}

static bool
any_waiting(struct engine *e)
{
    for (size_t i = 0; i < e->nchats; i++)
        if (e->chats[i]->waiting_commit)
            return true;
    return false;
}

/* Chats that waited for their pages to commit go on. */
static void
resume_waiting(struct engine *e)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];

        if (c->waiting_commit && atomic_load(&c->uncommitted) == 0)
            collect_chat_next(c);
        if (c->pass_done && !c->gone && atomic_load(&c->uncommitted) == 0) {
            c->pass_done = false;
            if (store_tracked_set_status(e->meta, c->row_id, "ok", NULL, collect_now()) != TGH_OK)
                log_error("chat %s: status not recorded: %s", c->spec, tgh_errmsg());
        }
    }
}

/*
 * collect --once: a connection lost for longer than TGH_OFFLINE_TIMEOUT fails
 * the chats still waiting on it (transient: the next run goes on from their
 * cursors), so a scheduled run ends instead of hanging.
 */
static void
fail_offline(struct engine *e, double now)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];

        if (c->a == NULL || c->a->connected || c->step == STEP_IDLE || c->step == STEP_FAILED ||
            now - c->a->offline_since < (double)e->cfg->offline_timeout)
            continue;
        td_forget(e->hub, c);
        td_forget(e->hub, &c->res_state);
        c->busy = false;
        collect_chat_fail(c, 503,
                          "no connection to Telegram for %" PRId64 " s (TGH_OFFLINE_TIMEOUT)",
                          e->cfg->offline_timeout);
    }
}

static bool
all_idle(struct engine *e)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];

        if (c->busy || c->waiting_commit)
            return false;
        if (!c->gone && c->step != STEP_IDLE && c->step != STEP_FAILED)
            return false;
    }
    return true;
}

/* Daemon passes: mark chats and start the idle ones. */
/* Start the passes asked for on one chat, or note them for after its current step. */
static void
trigger_chat(struct cchat *c, bool catchup, bool backfill, int64_t reconcile_hours, bool verify)
{
    if (c->step == STEP_FAILED) {
        if (c->permanent || c->busy)
            return;
        /* A transient failure (retries ran out): the next pass tries again. */
        c->res.error[0] = '\0';
        c->step = STEP_RESOLVE;
        collect_chat_next(c);
        return;
    }
    if (c->run_id == 0)
        return;
    if (catchup && (c->step != STEP_IDLE || c->busy))
        c->catchup_again = true;
    if (catchup)
        c->want_catchup = true;
    if (verify)
        c->want_verify = true;
    if (reconcile_hours > c->reconcile_hours)
        c->reconcile_hours = reconcile_hours;
    if (c->step == STEP_IDLE) {
        if (backfill && !c->want_catchup)
            collect_begin_backfill(c);
        else
            c->step = STEP_CATCHUP;
    }
    if (backfill && c->step != STEP_BACKFILL && c->step != STEP_FLOOR)
        c->pending_backfill = true; /* busy with another step: after it */
    collect_chat_next(c);
}

static void
trigger(struct engine *e, struct td_acct *only, bool catchup, bool backfill,
        int64_t reconcile_hours, bool verify)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];

        if (c->a == NULL || (only != NULL && c->a != only) || c->gone)
            continue;
        trigger_chat(c, catchup, backfill, reconcile_hours, verify);
    }
}

/*
 * Backfill passes an operator asked for (the API's POST .../backfill): run
 * each, then clear the request, unless a newer one came meanwhile.
 */
static void
requested_backfills(struct engine *e)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];

        if (c->backfill_req == 0 || c->a == NULL || c->gone)
            continue;
        log_info("chat %s: backfill pass asked for", c->spec);
        trigger_chat(c, false, true, 0, false);
        if (store_tracked_backfill_done(e->meta, c->row_id, c->backfill_req) != TGH_OK)
            log_warn("chat %s: backfill request not cleared: %s", c->spec, tgh_errmsg());
        c->backfill_req = 0;
    }
}

static void
finish_runs(struct engine *e)
{
    struct store_stats unused = { 0 };
    tgh_err rc = pipeline_writer_drain(e->w, &unused);

    if (rc != TGH_OK)
        collect_engine_fatal(e, rc);
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];
        struct store_run_result rr = { 0 };

        pthread_mutex_lock(&e->mu);
        c->res.stats = c->stats;
        pthread_mutex_unlock(&e->mu);
        c->res.flood_waits = c->counts.flood_waits;
        c->res.flood_seconds = c->counts.flood_seconds;
        c->res.requests = c->counts.requests;
        if (c->step == STEP_FAILED)
            c->res.status = c->res.fetched > 0 ? "partial" : "failed";
        else if (c->step == STEP_IDLE)
            c->res.status = "ok";
        else
            c->res.status = c->a == NULL ? "skipped" : "partial";
        if (c->run_id != 0) {
            rr.status = strcmp(c->res.status, "ok") == 0        ? "ok"
                        : strcmp(c->res.status, "partial") == 0 ? "partial"
                                                                : "failed";
            rr.messages_seen = c->res.fetched;
            rr.stats = c->res.stats;
            rr.errors = (size_t)(c->res.errors + c->res.dead_letters);
            rr.error = c->res.error[0] ? c->res.error : NULL;
            rr.flood_waits = c->res.flood_waits;
            rr.flood_seconds = c->res.flood_seconds;
            if (store_run_finish(e->meta, c->run_id, &rr) != TGH_OK)
                log_error("chat %s: run not recorded: %s", c->spec, tgh_errmsg());
            c->run_id = 0;
        }
        if (c->step == STEP_IDLE && !c->gone &&
            store_tracked_set_status(e->meta, c->row_id, "ok", NULL, collect_now()) != TGH_OK)
            log_error("chat %s: status not recorded: %s", c->spec, tgh_errmsg());
        if (!c->reported && e->o->on_chat != NULL) {
            c->reported = true;
            e->o->on_chat(e->o->on_chat_arg, &c->res);
        }
    }
}

static void
engine_free(struct engine *e)
{
    for (size_t i = 0; i < e->nchats; i++) {
        collect_verify_free(e->chats[i]);
        tgh_free(e->chats[i]->threads);
        tgh_free(e->chats[i]);
    }
    tgh_free(e->chats);
    msg_batch_fini(&e->page);
    msg_batch_fini(&e->live);
    pthread_mutex_destroy(&e->mu);
}

static void
result_take(struct engine *e, struct collect_result *res, double started)
{
    res->chats = tgh_calloc(e->nchats ? e->nchats : 1, sizeof(*res->chats));
    res->n = e->nchats;
    for (size_t i = 0; i < e->nchats; i++) {
        res->chats[i] = e->chats[i]->res;
        res->flood_waits += e->chats[i]->res.flood_waits;
    }
    res->live_events = e->live_events;
    res->live = e->live_stats;
    res->seconds = td_now() - started;
    res->media_queued = e->media_queued_n;
    res->media_skipped = e->media_skipped_n;
    res->media_stored = e->media_stored_n;
    res->media_dedup = e->media_dedup_n;
    res->media_failed = e->media_failed_n;
    res->media_retried = e->media_retried_n;
    res->media_bytes = e->media_bytes_n;
}

void
collect_result_fini(struct collect_result *r)
{
    if (r == NULL)
        return;
    tgh_free(r->chats);
    memset(r, 0, sizeof(*r));
}

tgh_err
collect_run(const struct tgh_config *cfg, const struct collect_opts *o, struct collect_result *res)
{
    struct engine e = { 0 };
    const char *url = o->store_url != NULL ? o->store_url : cfg->store_url;
    double started = td_now(), next_gapfill, next_backfill, next_reconcile, next_rescan, rescan_s,
           next_verify;
    tgh_err rc;

    memset(res, 0, sizeof(*res));
    rc = td_check_credentials(cfg); /* before any store is touched */
    if (rc != TGH_OK)
        return rc;
    e.cfg = cfg;
    e.o = o;
    e.limit = o->limit >= 0 ? o->limit : cfg->backfill_limit;
    pthread_mutex_init(&e.mu, NULL);
    msg_batch_init(&e.page, PAGE_LIMIT);
    msg_batch_init(&e.live, PAGE_LIMIT);

    rc = store_open(url, &e.meta);
    if (rc == TGH_OK)
        rc = store_open(url, &e.wstore);
    if (rc == TGH_OK)
        rc = load_chats(&e);
    if (rc == TGH_OK && e.nchats == 0 && !o->daemon) {
        store_close(e.wstore);
        store_close(e.meta);
        engine_free(&e);
        return TGH_OK; /* nothing to collect: an empty summary */
    }
    if (rc == TGH_OK)
        rc = td_hub_open(cfg, &e.hub);
    if (rc != TGH_OK) {
        store_close(e.wstore);
        store_close(e.meta);
        engine_free(&e);
        return rc;
    }
    e.hub->on_update = collect_on_update;
    e.hub->on_update_arg = &e;
    /* Into the store, or (TGH_QUEUE=amqp://) to the broker for the workers. */
    if (queue_url_is_amqp(o->queue_url != NULL ? o->queue_url : cfg->queue_url))
        rc = pipeline_writer_start_queue(e.wstore,
                                         o->queue_url != NULL ? o->queue_url : cfg->queue_url,
                                         PAGE_LIMIT, WRITER_DEPTH, &e.w);
    else
        rc = pipeline_writer_start(e.wstore, PAGE_LIMIT, WRITER_DEPTH, &e.w);
    if (rc != TGH_OK) {
        td_hub_close(e.hub, 5);
        store_close(e.wstore);
        store_close(e.meta);
        engine_free(&e);
        return rc;
    }
    pipeline_writer_on_commit(e.w, on_commit, &e);
    if (o->feed != NULL)
        pipeline_writer_set_feed(e.w, o->feed);

    if (o->daemon) {
        /* The daemon needs at least the default account. */
        tgh_err arc = TGH_OK;

        if (account_for(&e, cfg->account, &arc) == NULL && e.nchats == 0)
            collect_engine_fatal(&e, arc);
    }
    start_chats(&e);
    rc = collect_media_start(&e);
    if (rc != TGH_OK)
        collect_engine_fatal(&e, rc);
    next_gapfill = td_now() + (double)cfg->gapfill_interval;
    next_backfill = td_now() + (double)cfg->backfill_interval;
    next_reconcile = td_now() + (double)cfg->reconcile_interval;
    next_verify = td_now() + (double)cfg->gap_check_interval;
    rescan_s = (double)cfg->gapfill_interval < RESCAN_S ? (double)cfg->gapfill_interval : RESCAN_S;
    next_rescan = td_now() + rescan_s;
    {
        int64_t *epochs = tgh_calloc(e.hub->nacct + 64, sizeof(*epochs));
        size_t nepochs = e.hub->nacct + 64;

        for (size_t i = 0; i < e.hub->nacct && i < nepochs; i++)
            epochs[i] = e.hub->accts[i]->ready_epoch;
        while (!e.stopping) {
            bool got;
            double now;

            if (o->stop != NULL && *o->stop)
                break;
            if (!o->daemon && all_idle(&e) && collect_media_idle(&e))
                break;
            got = td_hub_poll(e.hub, any_waiting(&e) ? COMMIT_POLL_S
                                     : e.live.n > 0  ? LIVE_FLUSH_S
                                                     : 0.5);
            now = td_now();
            {
                tgh_err werr = pipeline_writer_error(e.w);

                if (werr != TGH_OK) {
                    collect_engine_fatal(&e, werr);
                    break;
                }
            }
            resume_waiting(&e);
            collect_media_tick(&e, now, !o->daemon && all_idle(&e));
            if (e.live.n > 0 && (!got || now - e.live_since >= LIVE_FLUSH_S))
                collect_live_flush(&e);
            if (!o->daemon) {
                fail_offline(&e, now);
                continue;
            }
            /* A return to connectionStateReady: TDLib may have dropped updates. */
            for (size_t i = 0; i < e.hub->nacct && i < nepochs; i++) {
                struct td_acct *a = e.hub->accts[i];

                if (a->ready_epoch != epochs[i]) {
                    bool first = epochs[i] == 0;

                    epochs[i] = a->ready_epoch;
                    if (!first) {
                        log_info("account %s: connection back, gap-fill and gap check of its chats",
                                 a->name);
                        trigger(&e, a, true, false, 0, true);
                    }
                }
            }
            if (now >= next_gapfill) {
                next_gapfill = now + (double)cfg->gapfill_interval;
                log_info("gap-fill pass");
                trigger(&e, NULL, true, false, 0, false);
            }
            if (now >= next_reconcile && cfg->reconcile_hours > 0) {
                next_reconcile = now + (double)cfg->reconcile_interval;
                log_info("reconcile pass over the last %" PRId64 " hours", cfg->reconcile_hours);
                trigger(&e, NULL, true, false, cfg->reconcile_hours, false);
            }
            if (cfg->gap_check_interval > 0 && now >= next_verify) {
                next_verify = now + (double)cfg->gap_check_interval;
                log_info("gap check pass");
                trigger(&e, NULL, true, false, 0, true);
            }
            if (now >= next_backfill) {
                next_backfill = now + (double)cfg->backfill_interval;
                trigger(&e, NULL, false, true, 0, false);
            }
            if (now >= next_rescan) {
                next_rescan = now + rescan_s;
                rc = load_chats(&e);
                if (rc != TGH_OK)
                    log_error("tracked chats not reloaded: %s", tgh_errmsg());
                start_chats(&e);
                requested_backfills(&e);
            }
        }
        tgh_free(epochs);
    }
    e.stopping = true;
    collect_media_stop(&e);
    collect_live_flush(&e);
    finish_runs(&e);
    /* Answers still in flight are dropped: their cursors never moved. */
    e.hub->on_update = NULL;
    td_hub_forget_all(e.hub);
    {
        struct store_stats unused = { 0 };
        tgh_err wrc = pipeline_writer_stop(e.w, &unused);

        if (wrc != TGH_OK && e.fatal == TGH_OK)
            collect_engine_fatal(&e, wrc);
    }
    td_hub_close(e.hub, 10);
    result_take(&e, res, started);
    store_close(e.wstore);
    store_close(e.meta);
    rc = e.fatal;
    if (rc != TGH_OK)
        rc = tgh_errf(rc, "%s", e.fatal_msg);
    engine_free(&e);
    return rc;
}
