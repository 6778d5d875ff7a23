/* SPDX-License-Identifier: MIT */
/*
 * quality.h - the data-quality report (`tgharvest report`,
 * docs/internals/report.md): per chat volume, first and last message,
 * freshness against an SLO, gaps by class, edits, deletions, duplicates,
 * references that point at nothing, timestamps out of order or in the
 * future, missing fields per kind; dead letters and flood waits. As JSON,
 * and as one self-contained HTML page with charts.
 */
#ifndef TGH_QUALITY_QUALITY_H
#define TGH_QUALITY_QUALITY_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/err.h"
#include "store/store.h"

struct quality_opts {
    int64_t now;           /* Unix seconds */
    int64_t since;         /* runs, dead letters and new messages from here */
    int64_t freshness_slo; /* seconds: a tracked chat whose newest message is older is stale */
};

/* One gap row as the CLI and the API show it: {first_id, last_id, ids, class, position, checked_at,
 * detail}. */
json_t *quality_gap_json(const struct store_gap *g);

/* The report of every chat of st, as a new JSON object (docs/internals/report.md). */
TGH_MUSTCHECK tgh_err quality_report(struct store *st, const struct quality_opts *o, json_t **out);

/* The report as one HTML page (no script, no outside resource) on out; TGH_EIO on a write error. */
TGH_MUSTCHECK tgh_err quality_html(const json_t *report, FILE *out);

/*
 * Check the runs since since (or only run_id, when not 0) and, without
 * run_id, every tracked chat's cursor: *out is {ok, runs_checked,
 * shortfalls, runs[], cursors[]} with each problem named
 * (docs/internals/report.md). TGH_ENOTFOUND for a run_id that does not exist.
 */
TGH_MUSTCHECK tgh_err quality_validate(struct store *st, int64_t run_id, int64_t since, int64_t now,
                                       json_t **out);

#endif
