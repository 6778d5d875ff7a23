/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - the process-wide registry of counters, gauges and histograms,
 * rendered as Prometheus text for /metrics. Families are created at run time
 * and live until exit. Every label combination ("series") costs memory, so a
 * family holds at most TGH_METRIC_MAX_SERIES of them; see
 * docs/internals/metrics.md for the naming rules.
 */
#ifndef TGH_CORE_METRICS_H
#define TGH_CORE_METRICS_H

#include <stddef.h>

#include "core/err.h"

#define TGH_METRIC_MAX_LABELS  4           /* label names per family */
#define TGH_METRIC_MAX_BOUNDS  32          /* histogram bucket bounds, +Inf not counted */
#define TGH_METRIC_MAX_SERIES  10000       /* label combinations per family */
#define TGH_METRIC_VALUE_MAX   128         /* bytes kept of a label value */
#define TGH_METRICS_RENDER_MAX (64u << 20) /* bytes of rendered text */

struct tgh_metric; /* opaque: one family */

/*
 * The family called name, created on first use. Calling again with the same
 * name returns the same family; kind, labels and bounds must then be the
 * same (TGH_ASSERT) and help is ignored. name follows the Prometheus grammar
 * [a-zA-Z_:][a-zA-Z0-9_:]* and our tgh_<sub>_<thing>_<unit> rule. labels is a
 * comma-separated list of up to TGH_METRIC_MAX_LABELS names ("route,status"),
 * each [a-zA-Z_][a-zA-Z0-9_]* not starting with "__"; "" or NULL for none.
 * A histogram's labels may not include "le"; its bounds are finite and
 * strictly increasing, and +Inf is implied. Bad names, labels or bounds are
 * programming errors (TGH_ASSERT). Thread-safe; never NULL.
 */
struct tgh_metric *tgh_metric_counter(const char *name, const char *help, const char *labels);
struct tgh_metric *tgh_metric_gauge(const char *name, const char *help, const char *labels);
struct tgh_metric *tgh_metric_histogram(const char *name, const char *help, const char *labels,
                                        const double *bounds, size_t nbounds);

/*
 * Updates. values holds one label value per label of the family, in the
 * family's order, or is NULL for a family without labels. Values are bytes
 * from outside and are stored as at most TGH_METRIC_VALUE_MAX bytes of valid
 * UTF-8, every other byte becoming '?' (one bad value would otherwise make
 * Prometheus reject the whole scrape). Never pass chat titles or other text
 * without a bound on its distinct values. An update that would create series
 * number TGH_METRIC_MAX_SERIES + 1 of a family is dropped and counted in
 * tgh_metrics_series_dropped_total{metric="<family>"}. All are thread-safe.
 */

/* Counters (v >= 0: TGH_ASSERT) and gauges. */
void tgh_metric_add(struct tgh_metric *m, const char *const *values, double v);

/* tgh_metric_add(m, values, 1). */
void tgh_metric_inc(struct tgh_metric *m, const char *const *values);

/* Gauges only. */
void tgh_metric_set(struct tgh_metric *m, const char *const *values, double v);

/* Histograms only: v counts in every bucket whose bound is >= v, in sum and in count. */
void tgh_metric_observe(struct tgh_metric *m, const char *const *values, double v);

/*
 * The value of one series: a counter's or gauge's value, a histogram's count
 * of observations; 0 when the series does not exist. For tests and /status.
 */
double tgh_metric_value(struct tgh_metric *m, const char *const *values);

/*
 * fn(arg) runs at the start of every render, outside any family lock, so it
 * can set gauges computed on demand (queue depth, per-chat lag). Renders run
 * hooks one render at a time. Registering the same (fn, arg) twice keeps one.
 * Once tgh_metrics_off_collect() returns, fn(arg) is not running and will not
 * run again. A hook must not call on_collect or off_collect itself. At most
 * 32 hooks (TGH_ASSERT).
 */
typedef void tgh_metrics_collect_fn(void *arg);
void tgh_metrics_on_collect(tgh_metrics_collect_fn *fn, void *arg);
void tgh_metrics_off_collect(tgh_metrics_collect_fn *fn, void *arg);

/*
 * Every family as Prometheus text exposition format 0.0.4, families sorted by
 * name and series by label values (byte order). A family without labels
 * always shows its sample (0 before any update). *out is NUL-terminated,
 * *len excludes the NUL; the caller frees *out with tgh_free. TGH_ETOOBIG
 * when the text would exceed TGH_METRICS_RENDER_MAX bytes (nothing is
 * returned then). Thread-safe; updates to a family wait while it is written.
 */
TGH_MUSTCHECK tgh_err tgh_metrics_render(char **out, size_t *len);

/*
 * Free every family and forget every hook, as at process start. For tests
 * only: no other thread may use the registry or hold a family pointer.
 */
void tgh_metrics_reset(void);

#endif
