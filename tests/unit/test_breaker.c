/* SPDX-License-Identifier: MIT */
/*
 * test_breaker.c - the worker's pure parts: the circuit breaker on a fake
 * clock, the backoff, pages split into lines, printable dead-letter text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "pipeline/pipeline.h"

static void
test_opens_after_threshold_in_window(void **state)
{
    struct pipeline_breaker b;

    (void)state;
    pipeline_breaker_init(&b, 3, 10000, 1000, 8000);
    assert_true(pipeline_breaker_allow(&b, 0));
    pipeline_breaker_failure(&b, 0);
    pipeline_breaker_failure(&b, 100);
    assert_int_equal(pipeline_breaker_state(&b, 100), PIPELINE_BREAKER_CLOSED);
    assert_true(pipeline_breaker_allow(&b, 100));
    pipeline_breaker_failure(&b, 200);
    assert_int_equal(pipeline_breaker_state(&b, 200), PIPELINE_BREAKER_OPEN);
    assert_false(pipeline_breaker_allow(&b, 300));
    assert_int_equal(pipeline_breaker_wait_ms(&b, 300), 900);
    assert_int_equal(b.opens, 1);
}

static void
test_failures_outside_window_do_not_open(void **state)
{
    struct pipeline_breaker b;

    (void)state;
    pipeline_breaker_init(&b, 3, 1000, 1000, 8000);
    pipeline_breaker_failure(&b, 0);
    pipeline_breaker_failure(&b, 600);
    pipeline_breaker_failure(&b, 1200); /* the first one is out of the window */
    assert_int_equal(pipeline_breaker_state(&b, 1200), PIPELINE_BREAKER_CLOSED);
    pipeline_breaker_failure(&b, 1300);
    assert_int_equal(pipeline_breaker_state(&b, 1300), PIPELINE_BREAKER_OPEN);
}

static void
test_success_resets_the_count(void **state)
{
    struct pipeline_breaker b;

    (void)state;
    pipeline_breaker_init(&b, 2, 10000, 1000, 8000);
    pipeline_breaker_failure(&b, 0);
    pipeline_breaker_success(&b, 10);
    pipeline_breaker_failure(&b, 20);
    assert_int_equal(pipeline_breaker_state(&b, 20), PIPELINE_BREAKER_CLOSED);
}

static void
test_half_open_single_probe(void **state)
{
    struct pipeline_breaker b;

    (void)state;
    pipeline_breaker_init(&b, 1, 10000, 1000, 3000);
    pipeline_breaker_failure(&b, 0);
    assert_false(pipeline_breaker_allow(&b, 999));
    assert_int_equal(pipeline_breaker_state(&b, 1000), PIPELINE_BREAKER_HALF_OPEN);
    assert_true(pipeline_breaker_allow(&b, 1000));  /* the probe */
    assert_false(pipeline_breaker_allow(&b, 1001)); /* only one */
    /* The probe fails: open again, for twice as long. */
    pipeline_breaker_failure(&b, 1100);
    assert_int_equal(pipeline_breaker_state(&b, 1100), PIPELINE_BREAKER_OPEN);
    assert_false(pipeline_breaker_allow(&b, 3000));
    assert_true(pipeline_breaker_allow(&b, 3100));
    pipeline_breaker_failure(&b, 3200); /* 4000 is capped at 3000 */
    assert_false(pipeline_breaker_allow(&b, 6199));
    assert_true(pipeline_breaker_allow(&b, 6200));
    /* The probe succeeds: closed, and calls flow. */
    pipeline_breaker_success(&b, 6300);
    assert_int_equal(pipeline_breaker_state(&b, 6300), PIPELINE_BREAKER_CLOSED);
    assert_true(pipeline_breaker_allow(&b, 6301));
    assert_true(pipeline_breaker_allow(&b, 6302));
    assert_int_equal(b.opens, 3);
}

static void
test_backoff_full_jitter_bounds(void **state)
{
    int64_t max_seen = 0;

    (void)state;
    for (int i = 0; i < 2000; i++) {
        int64_t d = pipeline_backoff_ms(3, 100, 5000);

        assert_true(d >= 0 && d <= 800);
        if (d > max_seen)
            max_seen = d;
    }
    assert_true(max_seen > 400); /* it spreads over the range, not a constant */
    for (int i = 0; i < 200; i++)
        assert_true(pipeline_backoff_ms(40, 100, 5000) <= 5000);
    assert_int_equal(pipeline_backoff_ms(0, 0, 5000), 0);
}

static void
test_page_lines(void **state)
{
    static const char page[] = "{\"a\":1}\r\n\n  \t\n{\"b\":2}  \nlast";
    struct pipeline_line ln[4];

    (void)state;
    assert_int_equal(pipeline_page_lines(page, strlen(page), NULL, 0), 3);
    assert_int_equal(pipeline_page_lines(page, strlen(page), ln, 4), 3);
    assert_int_equal(ln[0].len, 7);
    assert_memory_equal(ln[0].p, "{\"a\":1}", 7);
    assert_int_equal(ln[0].line, 1);
    assert_memory_equal(ln[1].p, "{\"b\":2}", 7);
    assert_int_equal(ln[1].len, 7);
    assert_int_equal(ln[1].line, 4); /* blank lines still count */
    assert_memory_equal(ln[2].p, "last", 4);
    assert_int_equal(ln[2].line, 5);
    /* Only what fits is stored; the count is of every line. */
    assert_int_equal(pipeline_page_lines(page, strlen(page), ln, 1), 3);
    /* One event, with or without its newline: line 0, the whole body. */
    assert_int_equal(pipeline_page_lines("{}\n", 3, ln, 4), 1);
    assert_int_equal(ln[0].line, 0);
    assert_int_equal(ln[0].len, 2);
    assert_int_equal(pipeline_page_lines("{}", 2, ln, 4), 1);
    assert_int_equal(ln[0].line, 0);
    assert_int_equal(pipeline_page_lines("\n \r\n", 4, ln, 4), 0);
    assert_int_equal(pipeline_page_lines("", 0, ln, 4), 0);
}

static void
test_printable(void **state)
{
    size_t len = 0;
    char *p;

    (void)state;
    p = tgh_utf8_printable("ok \xc3\xa9\x00\xff\xe2\x82", 9, 100, &len);
    assert_string_equal(p, "ok \xc3\xa9????"); /* NUL, a bad byte, a cut sequence's two */
    assert_int_equal(len, strlen(p));
    tgh_free(p);
    /* The limit never splits a character. */
    p = tgh_utf8_printable("a\xf0\x9f\x98\x80"
                           "b",
                           6, 3, &len);
    assert_string_equal(p, "a??");
    tgh_free(p);
    p = tgh_utf8_printable("\xed\xa0\x80", 3, 10, NULL); /* a UTF-16 surrogate */
    assert_string_equal(p, "???");
    tgh_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold_in_window),
        cmocka_unit_test(test_failures_outside_window_do_not_open),
        cmocka_unit_test(test_success_resets_the_count),
        cmocka_unit_test(test_half_open_single_probe),
        cmocka_unit_test(test_backoff_full_jitter_bounds),
        cmocka_unit_test(test_page_lines),
        cmocka_unit_test(test_printable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
