/* SPDX-License-Identifier: MIT */
/*
 * test_feed.c - the live feed: order, chat filter, resume after an id, the
 * gap a slow reader is told about, waiting and closing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "core/feed.h"

static void
put(struct tgh_feed *f, int64_t chat, const char *data, struct tgh_feed_id *id)
{
    assert_int_equal(tgh_feed_append(f, NULL, chat, "new", data, strlen(data), id), TGH_OK);
}

static size_t
read_all(struct tgh_feed *f, struct tgh_feed_pos *pos, int64_t chat, char *joined, size_t cap)
{
    struct tgh_feed_item it[4];
    size_t n, total = 0;

    joined[0] = '\0';
    do {
        assert_int_equal(tgh_feed_read(f, pos, chat, it, 4, 0, &n), TGH_OK);
        for (size_t i = 0; i < n; i++) {
            size_t used = strlen(joined);

            (void)snprintf(joined + used, cap - used, "%s%s", used ? "," : "", it[i].data);
            tgh_feed_item_fini(&it[i]);
        }
        total += n;
    } while (n > 0);
    return total;
}

static void
test_order_ids_and_filter(void **state)
{
    struct tgh_feed *f = tgh_feed_new(16);
    struct tgh_feed_pos pos = { 0 }, pos2 = { 0 };
    struct tgh_feed_id a, b, c;
    char got[256];

    (void)state;
    put(f, 1, "a", &a);
    put(f, 2, "b", &b);
    put(f, 1, "c", &c);
    assert_true(tgh_feed_id_cmp(&a, &b) < 0);
    assert_true(tgh_feed_id_cmp(&b, &c) < 0);
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 3);
    assert_string_equal(got, "a,b,c");
    assert_int_equal(read_all(f, &pos2, 1, got, sizeof(got)), 2);
    assert_string_equal(got, "a,c");
    /* Nothing new: the reader at the tail gets nothing. */
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 0);
    tgh_feed_free(f);
}

static void
test_resume_after_id(void **state)
{
    struct tgh_feed *f = tgh_feed_new(16);
    struct tgh_feed_pos pos;
    struct tgh_feed_id ids[5], zero = { 0, 0 };
    char got[256], name[2] = "a";

    (void)state;
    for (int i = 0; i < 5; i++) {
        name[0] = (char)('a' + i);
        put(f, 1, name, &ids[i]);
    }
    assert_true(tgh_feed_pos_after(f, &ids[1], &pos));
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 3);
    assert_string_equal(got, "c,d,e");
    assert_true(tgh_feed_pos_after(f, &ids[4], &pos));
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 0);
    /* From before the feed existed: it cannot vouch for that (a restart), but delivers all. */
    assert_false(tgh_feed_pos_after(f, &zero, &pos));
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 5);
    tgh_feed_set_horizon(f, &zero);
    assert_true(tgh_feed_pos_after(f, &zero, &pos));
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 5);
    tgh_feed_pos_tail(f, &pos);
    put(f, 1, "f", NULL);
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 1);
    assert_string_equal(got, "f");
    tgh_feed_free(f);
}

/* A full ring drops the oldest; resuming before it or reading too slowly says so. */
static void
test_gap_is_reported(void **state)
{
    struct tgh_feed *f = tgh_feed_new(3);
    struct tgh_feed_pos slow = { 0 }, pos;
    struct tgh_feed_item it[4];
    struct tgh_feed_id ids[5], dummy = { 0, 0 };
    struct tgh_feed_stats st;
    char got[256], name[2] = "a";
    size_t n;

    (void)state;
    put(f, 1, "a", &ids[0]);
    assert_int_equal(tgh_feed_read(f, &slow, 0, it, 1, 0, &n), TGH_OK);
    assert_int_equal(n, 1);
    tgh_feed_item_fini(&it[0]);
    for (int i = 1; i < 5; i++) {
        name[0] = (char)('a' + i);
        put(f, 1, name, &ids[i]);
    }
    /* slow had read "a"; "b" was dropped before it read it. */
    assert_int_equal(tgh_feed_read(f, &slow, 0, it, 4, 0, &n), TGH_ECONFLICT);
    assert_int_equal(n, 0);
    assert_int_equal(read_all(f, &slow, 0, got, sizeof(got)), 3);
    assert_string_equal(got, "c,d,e");

    assert_false(tgh_feed_pos_after(f, &ids[0], &pos)); /* b is gone */
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 3);
    assert_true(tgh_feed_pos_after(f, &ids[1], &pos)); /* b was its last: nothing missed */
    assert_int_equal(read_all(f, &pos, 0, got, sizeof(got)), 3);
    assert_false(tgh_feed_pos_after(f, &dummy, &pos));
    tgh_feed_stats_get(f, &st);
    assert_int_equal(st.appended, 5);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.held, 3);
    tgh_feed_free(f);
}

static void
test_explicit_ids_must_grow(void **state)
{
    struct tgh_feed *f = tgh_feed_new(4);
    struct tgh_feed_id a = { 1700000000000u, 0 }, b = { 1700000000000u, 1 }, got;

    (void)state;
    assert_int_equal(tgh_feed_append(f, &b, 1, "edit", "x", 1, &got), TGH_OK);
    assert_int_equal(tgh_feed_id_cmp(&got, &b), 0);
    assert_int_equal(tgh_feed_append(f, &b, 1, "edit", "x", 1, NULL), TGH_EINVAL);
    assert_int_equal(tgh_feed_append(f, &a, 1, "edit", "x", 1, NULL), TGH_EINVAL);
    /* The clock never goes below an id Redis gave. */
    put(f, 1, "y", &got);
    assert_true(tgh_feed_id_cmp(&got, &b) > 0);
    got = tgh_feed_last_id(f);
    assert_true(tgh_feed_id_cmp(&got, &b) > 0);
    tgh_feed_free(f);
}

static void
test_id_format_and_parse(void **state)
{
    struct tgh_feed_id id = { 1732442400123u, 7 }, back;
    char buf[48];

    (void)state;
    tgh_feed_id_format(&id, buf, sizeof(buf));
    assert_string_equal(buf, "1732442400123-7");
    assert_int_equal(tgh_feed_id_parse(buf, &back), TGH_OK);
    assert_int_equal(tgh_feed_id_cmp(&id, &back), 0);
    assert_int_equal(tgh_feed_id_parse("17", &back), TGH_OK);
    assert_int_equal(back.ms, 17);
    assert_int_equal(back.seq, 0);
    assert_int_equal(tgh_feed_id_parse("", &back), TGH_EINVAL);
    assert_int_equal(tgh_feed_id_parse("-1", &back), TGH_EINVAL);
    assert_int_equal(tgh_feed_id_parse("1-", &back), TGH_EINVAL);
    assert_int_equal(tgh_feed_id_parse("1-2-3", &back), TGH_EINVAL);
    assert_int_equal(tgh_feed_id_parse("12a-0", &back), TGH_EINVAL);
    assert_int_equal(tgh_feed_id_parse("18446744073709551616-0", &back), TGH_EINVAL);
    assert_int_equal(tgh_feed_id_parse("18446744073709551615-0", &back), TGH_OK);
}

struct waiter {
    struct tgh_feed *f;
    struct tgh_feed_pos pos;
    tgh_err rc;
    size_t n;
    char data[16];
};

static void *
wait_one(void *arg)
{
    struct waiter *w = arg;
    struct tgh_feed_item it;

    w->rc = tgh_feed_read(w->f, &w->pos, 0, &it, 1, 10000, &w->n);
    if (w->rc == TGH_OK && w->n == 1) {
        (void)snprintf(w->data, sizeof(w->data), "%s", it.data);
        tgh_feed_item_fini(&it);
    }
    return NULL;
}

/* A waiting reader wakes for an append, and for a close. */
static void
test_wait_and_close(void **state)
{
    struct tgh_feed *f = tgh_feed_new(4);
    struct waiter w = { .f = f };
    struct timespec ms20 = { 0, 20000000 };
    pthread_t t;

    (void)state;
    put(f, 1, "old", NULL);
    tgh_feed_pos_tail(f, &w.pos);
    assert_int_equal(pthread_create(&t, NULL, wait_one, &w), 0);
    (void)nanosleep(&ms20, NULL); /* most likely waiting by now; either way it gets "late" */
    put(f, 1, "late", NULL);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, TGH_OK);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.data, "late");

    memset(&w, 0, sizeof(w));
    w.f = f;
    tgh_feed_pos_tail(f, &w.pos);
    assert_int_equal(pthread_create(&t, NULL, wait_one, &w), 0);
    tgh_feed_close(f);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.rc, TGH_EUNAVAIL);
    tgh_feed_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_ids_and_filter), cmocka_unit_test(test_resume_after_id),
        cmocka_unit_test(test_gap_is_reported),      cmocka_unit_test(test_explicit_ids_must_grow),
        cmocka_unit_test(test_id_format_and_parse),  cmocka_unit_test(test_wait_and_close),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
