/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - the registry renders exact Prometheus text (0.0.4):
 * families and series sorted, values escaped, numbers that read back
 * exactly; a family keeps at most 10,000 series and counts what it drops;
 * collect hooks run at render; updates from several threads all count.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/metrics.h"

/* Every rendering includes this family: the registry always registers it. */
#define DROPPED_HEAD                                                                           \
    "# HELP tgh_metrics_series_dropped_total Updates dropped because their family was at its " \
    "cap of series, by family.\n"                                                              \
    "# TYPE tgh_metrics_series_dropped_total counter\n"

static char *
render(void)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(tgh_metrics_render(&text, &len), TGH_OK);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void
assert_renders(const char *expected)
{
    char *text = render();

    assert_string_equal(text, expected);
    tgh_free(text);
}

static int
teardown(void **state)
{
    (void)state;
    tgh_metrics_reset();
    return 0;
}

static void
test_counter_with_labels(void **state)
{
    struct tgh_metric *m =
        tgh_metric_counter("tgh_api_requests_total", "HTTP requests.", "route,status");

    (void)state;
    tgh_metric_inc(m, (const char *[]){ "/api/v1/messages", "200" });
    tgh_metric_add(m, (const char *[]){ "/api/v1/messages", "200" }, 2);
    tgh_metric_inc(m, (const char *[]){ "/metrics", "200" });
    tgh_metric_inc(m, (const char *[]){ "/api/v1/messages", "404" });
    assert_renders("# HELP tgh_api_requests_total HTTP requests.\n"
                   "# TYPE tgh_api_requests_total counter\n"
                   "tgh_api_requests_total{route=\"/api/v1/messages\",status=\"200\"} 3\n"
                   "tgh_api_requests_total{route=\"/api/v1/messages\",status=\"404\"} 1\n"
                   "tgh_api_requests_total{route=\"/metrics\",status=\"200\"} 1\n" DROPPED_HEAD);
    assert_true(tgh_metric_value(m, (const char *[]){ "/api/v1/messages", "200" }) == 3);
    assert_true(tgh_metric_value(m, (const char *[]){ "/api/v1/messages", "500" }) == 0);
}

static void
test_gauge_without_labels(void **state)
{
    struct tgh_metric *g = tgh_metric_gauge("tgh_queue_depth_messages", "Messages queued.", NULL);

    (void)state;
    /* Before any update: one sample, 0, so dashboards see the family. */
    assert_renders(DROPPED_HEAD "# HELP tgh_queue_depth_messages Messages queued.\n"
                                "# TYPE tgh_queue_depth_messages gauge\n"
                                "tgh_queue_depth_messages 0\n");
    tgh_metric_set(g, NULL, 17);
    tgh_metric_add(g, NULL, -2);
    assert_renders(DROPPED_HEAD "# HELP tgh_queue_depth_messages Messages queued.\n"
                                "# TYPE tgh_queue_depth_messages gauge\n"
                                "tgh_queue_depth_messages 15\n");
    assert_true(tgh_metric_value(g, NULL) == 15);
}

static void
test_labelled_family_without_series_renders_only_head(void **state)
{
    (void)state;
    (void)tgh_metric_gauge("tgh_collect_lag_seconds", "Lag by chat.", "chat");
    assert_renders("# HELP tgh_collect_lag_seconds Lag by chat.\n"
                   "# TYPE tgh_collect_lag_seconds gauge\n" DROPPED_HEAD);
}

static void
test_histogram_cumulative_buckets(void **state)
{
    static const double bounds[] = { 0.005, 0.25, 1, 2.5 };
    static const double one[] = { 1 };
    struct tgh_metric *h =
        tgh_metric_histogram("tgh_api_request_seconds", "Request time.", "route", bounds, 4);

    (void)state;
    (void)tgh_metric_histogram("tgh_pipeline_commit_seconds", "Commit time.", "", one, 1);
    tgh_metric_observe(h, (const char *[]){ "/b" }, 0.001);
    tgh_metric_observe(h, (const char *[]){ "/a" }, 0.25); /* a bound counts in its bucket */
    tgh_metric_observe(h, (const char *[]){ "/a" }, 0.5);
    tgh_metric_observe(h, (const char *[]){ "/a" }, 0.5);
    tgh_metric_observe(h, (const char *[]){ "/a" }, 4); /* past every bound: only +Inf */
    assert_renders("# HELP tgh_api_request_seconds Request time.\n"
                   "# TYPE tgh_api_request_seconds histogram\n"
                   "tgh_api_request_seconds_bucket{route=\"/a\",le=\"0.005\"} 0\n"
                   "tgh_api_request_seconds_bucket{route=\"/a\",le=\"0.25\"} 1\n"
                   "tgh_api_request_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
                   "tgh_api_request_seconds_bucket{route=\"/a\",le=\"2.5\"} 3\n"
                   "tgh_api_request_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
                   "tgh_api_request_seconds_sum{route=\"/a\"} 5.25\n"
                   "tgh_api_request_seconds_count{route=\"/a\"} 4\n"
                   "tgh_api_request_seconds_bucket{route=\"/b\",le=\"0.005\"} 1\n"
                   "tgh_api_request_seconds_bucket{route=\"/b\",le=\"0.25\"} 1\n"
                   "tgh_api_request_seconds_bucket{route=\"/b\",le=\"1\"} 1\n"
                   "tgh_api_request_seconds_bucket{route=\"/b\",le=\"2.5\"} 1\n"
                   "tgh_api_request_seconds_bucket{route=\"/b\",le=\"+Inf\"} 1\n"
                   "tgh_api_request_seconds_sum{route=\"/b\"} 0.001\n"
                   "tgh_api_request_seconds_count{route=\"/b\"} 1\n" DROPPED_HEAD
                   "# HELP tgh_pipeline_commit_seconds Commit time.\n"
                   "# TYPE tgh_pipeline_commit_seconds histogram\n"
                   "tgh_pipeline_commit_seconds_bucket{le=\"1\"} 0\n"
                   "tgh_pipeline_commit_seconds_bucket{le=\"+Inf\"} 0\n"
                   "tgh_pipeline_commit_seconds_sum 0\n"
                   "tgh_pipeline_commit_seconds_count 0\n");
    assert_true(tgh_metric_value(h, (const char *[]){ "/a" }) == 4);
}

static void
test_escaping_of_help_and_label_values(void **state)
{
    struct tgh_metric *m = tgh_metric_counter("tgh_test_escapes_total",
                                              "Back\\slash, \"quote\" and\nnewline.", "source");

    (void)state;
    tgh_metric_inc(m, (const char *[]){ "say \"hi\"\\\nbye" });
    /* HELP escapes backslash and newline only; label values also the quote. */
    assert_renders(DROPPED_HEAD
                   "# HELP tgh_test_escapes_total Back\\\\slash, \"quote\" and\\nnewline.\n"
                   "# TYPE tgh_test_escapes_total counter\n"
                   "tgh_test_escapes_total{source=\"say \\\"hi\\\"\\\\\\nbye\"} 1\n");
}

static void
test_families_and_series_sorted_by_bytes(void **state)
{
    struct tgh_metric *m;

    (void)state;
    (void)tgh_metric_gauge("tgh_z_last", "z", NULL);
    m = tgh_metric_counter("tgh_m_middle_total", "m", "chat,source");
    (void)tgh_metric_gauge("tgh_a_first", "a", NULL);
    tgh_metric_inc(m, (const char *[]){ "2", "x" });
    tgh_metric_inc(m, (const char *[]){ "-100", "tdlib" });
    tgh_metric_inc(m, (const char *[]){ "10", "x" });
    tgh_metric_inc(m, (const char *[]){ "-20", "tdlib" });
    tgh_metric_inc(m, (const char *[]){ "-100", "export" });
    /* "tgh_m_" sorts before "tgh_me" ('_' < 'e'); "10" before "2". */
    assert_renders("# HELP tgh_a_first a\n"
                   "# TYPE tgh_a_first gauge\n"
                   "tgh_a_first 0\n"
                   "# HELP tgh_m_middle_total m\n"
                   "# TYPE tgh_m_middle_total counter\n"
                   "tgh_m_middle_total{chat=\"-100\",source=\"export\"} 1\n"
                   "tgh_m_middle_total{chat=\"-100\",source=\"tdlib\"} 1\n"
                   "tgh_m_middle_total{chat=\"-20\",source=\"tdlib\"} 1\n"
                   "tgh_m_middle_total{chat=\"10\",source=\"x\"} 1\n"
                   "tgh_m_middle_total{chat=\"2\",source=\"x\"} 1\n" DROPPED_HEAD
                   "# HELP tgh_z_last z\n"
                   "# TYPE tgh_z_last gauge\n"
                   "tgh_z_last 0\n");
}

static void
test_integers_and_fractions_formatting(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        { 42, "42" },
        { -3, "-3" },
        { 1e15, "1000000000000000" },
        { 9007199254740992.0, "9007199254740992" }, /* 2^53: the last exact integer */
        { 1e20, "1e+20" },
        { 0.1, "0.1" },
        { 0.005, "0.005" },
        { 2.5, "2.5" },
        { 123456.5, "123456.5" },
        { 1.0 / 3, "0.3333333333333333" },
        { 0.1 + 0.2, "0.30000000000000004" }, /* needs all 17 digits */
        { 1e-7, "1e-07" },
        { -0.0, "0" },
        { INFINITY, "+Inf" },
        { -INFINITY, "-Inf" },
        { NAN, "NaN" },
    };
    struct tgh_metric *g = tgh_metric_gauge("tgh_test_value", "v", NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char expected[512];

        (void)snprintf(expected, sizeof(expected),
                       DROPPED_HEAD "# HELP tgh_test_value v\n"
                                    "# TYPE tgh_test_value gauge\n"
                                    "tgh_test_value %s\n",
                       cases[i].text);
        tgh_metric_set(g, NULL, cases[i].v);
        assert_renders(expected);
    }
}

static void
test_same_name_returns_same_family(void **state)
{
    static const double bounds[] = { 0.1, 1 };
    struct tgh_metric *a = tgh_metric_counter("tgh_test_events_total", "first help", "chat");
    struct tgh_metric *b = tgh_metric_counter("tgh_test_events_total", "other help", "chat");
    struct tgh_metric *h = tgh_metric_histogram("tgh_test_seconds", "h", NULL, bounds, 2);

    (void)state;
    assert_ptr_equal(a, b);
    assert_ptr_equal(h, tgh_metric_histogram("tgh_test_seconds", "h", "", bounds, 2));
    assert_ptr_not_equal(a, h);
    tgh_metric_inc(a, (const char *[]){ "-1001" });
    tgh_metric_inc(b, (const char *[]){ "-1001" });
    assert_true(tgh_metric_value(a, (const char *[]){ "-1001" }) == 2);
    assert_renders(DROPPED_HEAD "# HELP tgh_test_events_total first help\n"
                                "# TYPE tgh_test_events_total counter\n"
                                "tgh_test_events_total{chat=\"-1001\"} 2\n"
                                "# HELP tgh_test_seconds h\n"
                                "# TYPE tgh_test_seconds histogram\n"
                                "tgh_test_seconds_bucket{le=\"0.1\"} 0\n"
                                "tgh_test_seconds_bucket{le=\"1\"} 0\n"
                                "tgh_test_seconds_bucket{le=\"+Inf\"} 0\n"
                                "tgh_test_seconds_sum 0\n"
                                "tgh_test_seconds_count 0\n");
}

static size_t
count_lines_starting(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = 0;

    while (p != NULL) {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            n++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return n;
}

static void
test_series_cap_drops_and_counts(void **state)
{
    struct tgh_metric *m = tgh_metric_counter("tgh_test_capped_total", "capped", "chat");
    const char *family[] = { "tgh_test_capped_total" };
    struct tgh_metric *dropped;
    char id[32];
    char *text;

    (void)state;
    tgh_free(render()); /* the registry registers its own family, with its own help */
    dropped = tgh_metric_counter("tgh_metrics_series_dropped_total", "other help", "metric");
    for (int i = 0; i < 10000; i++) {
        (void)snprintf(id, sizeof(id), "%d", i);
        tgh_metric_inc(m, (const char *[]){ id });
    }
    assert_true(tgh_metric_value(dropped, family) == 0);
    tgh_metric_inc(m, (const char *[]){ "10000" }); /* the 10,001st series */
    assert_true(tgh_metric_value(m, (const char *[]){ "10000" }) == 0);
    assert_true(tgh_metric_value(dropped, family) == 1);
    tgh_metric_add(m, (const char *[]){ "10001" }, 5);
    assert_true(tgh_metric_value(dropped, family) == 2);
    /* Series that exist still count. */
    tgh_metric_inc(m, (const char *[]){ "9999" });
    assert_true(tgh_metric_value(m, (const char *[]){ "9999" }) == 2);
    assert_true(tgh_metric_value(dropped, family) == 2);

    text = render();
    assert_int_equal(count_lines_starting(text, "tgh_test_capped_total{"), 10000);
    assert_non_null(
        strstr(text, "\ntgh_metrics_series_dropped_total{metric=\"tgh_test_capped_total\"} 2\n"));
    assert_null(strstr(text, "chat=\"10000\""));
    tgh_free(text);
}

static void
test_label_values_cut_at_128_bytes_as_utf8(void **state)
{
    struct tgh_metric *m = tgh_metric_counter("tgh_test_values_total", "v", "v");
    char longer[201], limit[129], straddle[130], expected[129];
    char *text;

    (void)state;
    memset(longer, 'x', 200);
    longer[200] = '\0';
    memset(limit, 'x', 128);
    limit[128] = '\0';
    tgh_metric_inc(m, (const char *[]){ longer });
    tgh_metric_inc(m, (const char *[]){ limit }); /* the same series once cut */
    assert_true(tgh_metric_value(m, (const char *[]){ limit }) == 2);

    /* A 2-byte character across the limit becomes '?', never half a character. */
    memset(straddle, 'y', 127);
    memcpy(straddle + 127, "\xc3\xa9", 3);
    memset(expected, 'y', 127);
    memcpy(expected + 127, "?", 2);
    tgh_metric_inc(m, (const char *[]){ straddle });
    assert_true(tgh_metric_value(m, (const char *[]){ expected }) == 1);

    /* Invalid UTF-8 becomes '?'; valid multibyte text is kept. */
    tgh_metric_inc(m, (const char *[]){ "caf\xc3\xa9\xff" });
    assert_true(tgh_metric_value(m, (const char *[]){ "caf\xc3\xa9?" }) == 1);

    text = render();
    assert_non_null(strstr(text, "{v=\"caf\xc3\xa9?\"} 1\n"));
    assert_null(strstr(text, "\xff"));
    tgh_free(text);
}

struct hook_state {
    int calls;
    const char *gauge;
};

/* Registers its gauge from inside the hook: hooks run outside every lock. */
static void
collect(void *arg)
{
    struct hook_state *h = arg;

    h->calls++;
    tgh_metric_set(tgh_metric_gauge(h->gauge, "set by a hook", NULL), NULL, h->calls * 10);
}

static void
test_collect_hooks_run_at_render_and_can_be_removed(void **state)
{
    struct hook_state a = { 0, "tgh_test_a_lag_seconds" }, b = { 0, "tgh_test_b_lag_seconds" };
    char *text;

    (void)state;
    tgh_metrics_on_collect(collect, &a);
    tgh_metrics_on_collect(collect, &a); /* the same pair: kept once */
    text = render();
    assert_int_equal(a.calls, 1);
    assert_non_null(strstr(text, "\ntgh_test_a_lag_seconds 10\n"));
    tgh_free(text);

    tgh_metrics_on_collect(collect, &b);
    tgh_free(render());
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 1);

    tgh_metrics_off_collect(collect, &a);
    tgh_metrics_off_collect(collect, &a); /* not registered: nothing happens */
    text = render();
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 2);
    assert_non_null(strstr(text, "\ntgh_test_a_lag_seconds 20\n")); /* its last value stays */
    assert_non_null(strstr(text, "\ntgh_test_b_lag_seconds 20\n"));
    tgh_free(text);

    tgh_metrics_off_collect(collect, &b);
    tgh_free(render());
    assert_int_equal(b.calls, 2);
}

#define NTHREADS 4
#define NINCS    100000

static void *
increment(void *arg)
{
    struct tgh_metric **out = arg;
    struct tgh_metric *m = tgh_metric_counter("tgh_test_threads_total", "t", "worker");

    *out = m;
    for (int i = 0; i < NINCS; i++)
        tgh_metric_inc(m, (const char *[]){ "shared" });
    return NULL;
}

static void
test_threads_increments_all_count(void **state)
{
    struct tgh_metric *seen[NTHREADS];
    pthread_t th[NTHREADS];

    (void)state;
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, increment, &seen[i]), 0);
    for (int i = 0; i < 20; i++) /* scrapes meanwhile take the same locks */
        tgh_free(render());
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 1; i < NTHREADS; i++)
        assert_ptr_equal(seen[i], seen[0]);
    assert_true(tgh_metric_value(seen[0], (const char *[]){ "shared" }) == NTHREADS * NINCS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter_with_labels, teardown),
        cmocka_unit_test_teardown(test_gauge_without_labels, teardown),
        cmocka_unit_test_teardown(test_labelled_family_without_series_renders_only_head, teardown),
        cmocka_unit_test_teardown(test_histogram_cumulative_buckets, teardown),
        cmocka_unit_test_teardown(test_escaping_of_help_and_label_values, teardown),
        cmocka_unit_test_teardown(test_families_and_series_sorted_by_bytes, teardown),
        cmocka_unit_test_teardown(test_integers_and_fractions_formatting, teardown),
        cmocka_unit_test_teardown(test_same_name_returns_same_family, teardown),
        cmocka_unit_test_teardown(test_series_cap_drops_and_counts, teardown),
        cmocka_unit_test_teardown(test_label_values_cut_at_128_bytes_as_utf8, teardown),
        cmocka_unit_test_teardown(test_collect_hooks_run_at_render_and_can_be_removed, teardown),
        cmocka_unit_test_teardown(test_threads_increments_all_count, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
