/* SPDX-License-Identifier: MIT */
/*
 * pipeline_metrics.c - what the pipeline counts for /metrics: committed
 * events by outcome, source and chat type, bytes, duplicates skipped, dead
 * letters, batch sizes, commit latency, and how long fresh messages took from
 * their Telegram date to the store. Families are created on first use
 * (core/metrics.h), so a process shows only what it does.
 */
#include "pipeline/pipeline.h"

#include <time.h>

#include "core/metrics.h"
#include "core/util.h"

#define FRESH_S 3600 /* only messages dated within this are "live" for the latency */

static const double batch_bounds[] = { 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
static const double commit_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10 };
static const double latency_bounds[] = {
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600
};

static void
count_event(const struct msg_event *ev, enum store_change change, int64_t now)
{
    const char *outcome[1] = { change == STORE_CHANGE_NONE ? "unchanged"
                                                           : store_change_name(change) };
    const char *src[1] = { msg_source_name(ev->source) };

    tgh_metric_inc(tgh_metric_counter("tgh_pipeline_events_committed_total",
                                      "events committed, by what they changed: new, edit, delete, "
                                      "unchanged (redelivered or refreshed)",
                                      "outcome"),
                   outcome);
    tgh_metric_add(tgh_metric_counter("tgh_pipeline_bytes_total",
                                      "bytes of canonical event JSON committed, by source",
                                      "source"),
                   src, (double)ev->encoded_len);
    if (change == STORE_CHANGE_NEW) {
        const char *v[2] = { src[0], msg_chat_type_name(ev->chat_type) };

        tgh_metric_inc(tgh_metric_counter("tgh_pipeline_messages_ingested_total",
                                          "messages the store did not have, by source and chat "
                                          "type",
                                          "source,chat_type"),
                       v);
        if (ev->date != MSG_UNSET && now - ev->date >= 0 && now - ev->date < FRESH_S)
            tgh_metric_observe(
                tgh_metric_histogram("tgh_pipeline_ingest_latency_seconds",
                                     "from a new message's Telegram date to its commit, for "
                                     "messages dated within the last hour",
                                     NULL, latency_bounds, TGH_NELEM(latency_bounds)),
                NULL, (double)(now - ev->date));
    } else if (change == STORE_CHANGE_EDIT) {
        tgh_metric_inc(tgh_metric_counter("tgh_store_versions_total",
                                          "earlier versions kept because content changed", NULL),
                       NULL);
    } else if (change == STORE_CHANGE_DELETE) {
        tgh_metric_inc(
            tgh_metric_counter("tgh_store_deletions_total", "messages newly tombstoned", NULL),
            NULL);
    } else {
        const char *stage[1] = { "store" };

        tgh_metric_inc(tgh_metric_counter("tgh_pipeline_duplicates_skipped_total",
                                          "events that changed nothing: skipped by the Redis "
                                          "check (cache) or found unchanged by the store (store)",
                                          "stage"),
                       stage);
    }
}

void
pipeline_metrics_commit(const struct msg_event *ev, const enum store_change *changes, size_t n,
                        double commit_s)
{
    int64_t now = (int64_t)time(NULL);

    for (size_t i = 0; i < n; i++)
        count_event(&ev[i], changes != NULL ? changes[i] : STORE_CHANGE_NONE, now);
    tgh_metric_observe(tgh_metric_histogram("tgh_pipeline_batch_events",
                                            "events per committed batch", NULL, batch_bounds,
                                            TGH_NELEM(batch_bounds)),
                       NULL, (double)n);
    tgh_metric_observe(tgh_metric_histogram("tgh_pipeline_commit_seconds",
                                            "time one batch took to commit", NULL, commit_bounds,
                                            TGH_NELEM(commit_bounds)),
                       NULL, commit_s);
}

void
pipeline_metrics_skipped(size_t n)
{
    const char *stage[1] = { "cache" };

    tgh_metric_add(tgh_metric_counter("tgh_pipeline_duplicates_skipped_total",
                                      "events that changed nothing: skipped by the Redis "
                                      "check (cache) or found unchanged by the store (store)",
                                      "stage"),
                   stage, (double)n);
}

void
pipeline_metrics_dead_letter(const char *source)
{
    const char *v[1] = { source };

    tgh_metric_inc(tgh_metric_counter("tgh_pipeline_dead_letters_total",
                                      "inputs that could not become events, by source", "source"),
                   v);
}

void
pipeline_metrics_retry(const char *sub)
{
    const char *v[2] = { sub, "" };

    tgh_metric_inc(tgh_metric_counter("tgh_retries_total",
                                      "requests or batches tried again after a transient failure",
                                      "sub,account"),
                   v);
}

void
pipeline_metrics_breaker(enum pipeline_breaker_state st)
{
    tgh_metric_set(tgh_metric_gauge("tgh_pipeline_breaker_state",
                                    "the worker's store breaker: 0 closed, 1 half-open, 2 open",
                                    NULL),
                   NULL,
                   st == PIPELINE_BREAKER_CLOSED ? 0
                   : st == PIPELINE_BREAKER_OPEN ? 2
                                                 : 1);
}
