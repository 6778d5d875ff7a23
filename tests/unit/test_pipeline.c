/* SPDX-License-Identifier: MIT */
/*
 * test_pipeline.c - the writer thread commits in submission order, reports
 * only what was committed, stops at the first failed commit without writing
 * any later batch, and the import job finishes a chat's run after its
 * batches were drained.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/msg.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#define DATE0 1700000000

struct fx {
    char dir[256];
    char path[300];
    char url[320];
    struct store *st;
};

static int
setup(void **state)
{
    struct fx *fx = tgh_calloc(1, sizeof(*fx));

    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_pipeline.XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    (void)snprintf(fx->path, sizeof(fx->path), "%s/tgh.db", fx->dir);
    (void)snprintf(fx->url, sizeof(fx->url), "sqlite://%s", fx->path);
    if (store_open(fx->url, &fx->st) != TGH_OK)
        return -1;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[400];

    store_close(fx->st);
    (void)snprintf(cmd, sizeof(cmd), "%s-wal", fx->path);
    (void)unlink(cmd);
    (void)snprintf(cmd, sizeof(cmd), "%s-shm", fx->path);
    (void)unlink(cmd);
    (void)unlink(fx->path);
    (void)rmdir(fx->dir);
    tgh_free(fx);
    return 0;
}

/* Push one finalized text message into b. */
static void
push(struct msg_batch *b, int64_t message_id, const char *text, bool finalize)
{
    struct msg_event *ev = msg_batch_push(b);

    assert_non_null(ev);
    ev->source = MSG_SOURCE_EXPORT;
    ev->chat_id = -1000000000042;
    ev->chat_type = MSG_CHAT_CHANNEL;
    ev->chat_title = "Pipeline";
    ev->message_id = message_id;
    ev->date = DATE0 + message_id;
    ev->observed_at = DATE0 + 5000;
    ev->text = tgh_arena_strdup(&b->arena, text);
    if (finalize)
        assert_int_equal(codec_event_finalize(ev), TGH_OK);
}

static int64_t
count(struct fx *fx, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t n = -1;

    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

/* Three versions of one message in three batches: applied in order. */
static void
test_writer_commits_in_submission_order(void **state)
{
    struct fx *fx = *state;
    struct pipeline_writer *w;
    struct store_stats stats = { 0 };
    struct msg_batch b;
    static const char *const texts[] = { "first", "second", "third" };

    msg_batch_init(&b, 8);
    assert_int_equal(pipeline_writer_start(fx->st, 8, 1, &w), TGH_OK);
    for (int i = 0; i < 3; i++) {
        push(&b, 1, texts[i], true);
        push(&b, 10 + i, "other", true);
        assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
        assert_int_equal(b.n, 0); /* swapped for an empty batch */
    }
    assert_int_equal(pipeline_writer_drain(w, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 4);
    assert_int_equal(stats.versioned, 2);
    assert_int_equal(pipeline_writer_stop(w, NULL), TGH_OK);
    assert_int_equal(count(fx, "SELECT count(*) FROM messages WHERE text = 'third'"), 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM message_versions"), 2);
    msg_batch_fini(&b);
}

/* Committed changes reach the live feed once; a redelivery adds nothing. */
static void
test_writer_feeds_committed_changes(void **state)
{
    struct fx *fx = *state;
    struct tgh_feed *feed = tgh_feed_new(64);
    struct tgh_feed_pos pos = { 0 };
    struct tgh_feed_item it[8];
    struct pipeline_writer *w;
    struct msg_batch b;
    struct msg_event *del;
    static const char *const kinds[] = { "new", "new", "edit", "delete" };
    size_t n;

    msg_batch_init(&b, 8);
    assert_int_equal(pipeline_writer_start(fx->st, 8, 2, &w), TGH_OK);
    pipeline_writer_set_feed(w, feed);
    for (int round = 0; round < 2; round++) {
        push(&b, 1, "first", true);
        push(&b, 2, "x", true);
        assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
        push(&b, 1, "second", true);
        push(&b, 2, "x", true);
        del = msg_batch_push(&b);
        del->op = MSG_OP_DELETE;
        del->source = MSG_SOURCE_TDLIB;
        del->chat_id = -1000000000042;
        del->message_id = 2;
        del->observed_at = DATE0 + 6000;
        assert_int_equal(codec_event_finalize(del), TGH_OK);
        assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
        assert_int_equal(pipeline_writer_drain(w, NULL), TGH_OK);
    }
    assert_int_equal(pipeline_writer_stop(w, NULL), TGH_OK);
    assert_int_equal(tgh_feed_read(feed, &pos, 0, it, 8, 0, &n), TGH_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        json_error_t err;
        json_t *j = json_loadb(it[i].data, it[i].len, 0, &err);

        assert_non_null(j);
        assert_string_equal(it[i].kind, kinds[i]);
        assert_string_equal(json_string_value(json_object_get(j, "kind")), kinds[i]);
        assert_int_equal(json_integer_value(json_object_get(j, "chat_id")), -1000000000042);
        assert_int_equal(it[i].chat_id, -1000000000042);
        assert_int_equal(json_integer_value(json_object_get(j, "message_id")), i == 0   ? 1
                                                                               : i == 1 ? 2
                                                                               : i == 2 ? 1
                                                                                        : 2);
        assert_true(json_is_object(json_object_get(j, "event")));
        if (i == 2)
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "event"), "text")), "second");
        if (i == 3)
            assert_int_equal(json_integer_value(json_object_get(j, "deleted_at")), DATE0 + 6000);
        json_decref(j);
        tgh_feed_item_fini(&it[i]);
    }
    tgh_feed_free(feed);
    msg_batch_fini(&b);
}

/* A failed commit acknowledges nothing of its batch and writes no later batch. */
static void
test_commit_failure_is_sticky_and_writes_nothing_after(void **state)
{
    struct fx *fx = *state;
    struct pipeline_writer *w;
    struct store_stats stats = { 0 };
    struct msg_batch b;

    msg_batch_init(&b, 8);
    assert_int_equal(pipeline_writer_start(fx->st, 8, 4, &w), TGH_OK);
    push(&b, 1, "good", true);
    assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
    assert_int_equal(pipeline_writer_drain(w, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 1);

    push(&b, 2, "in the failing batch", true);
    push(&b, 3, "never finalized", false); /* the store refuses it */
    assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
    push(&b, 4, "after the failure", true);
    /* Either refused at once or accepted and then dropped; never written. */
    (void)!pipeline_writer_submit(w, &b);
    memset(&stats, 0, sizeof(stats));
    assert_int_equal(pipeline_writer_drain(w, &stats), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "content_hash"));
    assert_int_equal(stats.inserted, 0);
    push(&b, 5, "refused", true);
    assert_int_equal(pipeline_writer_submit(w, &b), TGH_EINVAL);
    assert_int_equal(b.n, 0);
    assert_int_equal(pipeline_writer_stop(w, NULL), TGH_EINVAL);
    assert_int_equal(count(fx, "SELECT count(*) FROM messages"), 1);
    msg_batch_fini(&b);
}

struct commit_log {
    int calls;
    void *last_tag;
    size_t inserted;
};

static void
on_commit(void *arg, void *tag, const struct store_stats *s)
{
    struct commit_log *l = arg;

    l->calls++;
    l->last_tag = tag;
    l->inserted += s->inserted;
}

/*
 * A cursor riding with a batch is stored only after the batch committed,
 * also with an empty batch; a batch that fails stores neither.
 */
static void
test_cursor_rides_with_its_batch(void **state)
{
    struct fx *fx = *state;
    struct pipeline_writer *w;
    struct pipeline_commit_note note = { 0 };
    struct commit_log log = { 0 };
    struct store_cursor cur;
    struct msg_batch b;
    int tag;

    msg_batch_init(&b, 8);
    assert_int_equal(pipeline_writer_start(fx->st, 8, 2, &w), TGH_OK);
    pipeline_writer_on_commit(w, on_commit, &log);
    push(&b, 7, "page", true);
    push(&b, 6, "page", true);
    note.tag = &tag;
    note.has_cursor = true;
    note.cursor.chat_id = -1000000000042;
    note.cursor.newest_id = 7;
    note.cursor.oldest_id = 6;
    assert_int_equal(pipeline_writer_submit_note(w, &b, &note), TGH_OK);
    assert_int_equal(pipeline_writer_drain(w, NULL), TGH_OK);
    assert_int_equal(log.calls, 1);
    assert_ptr_equal(log.last_tag, &tag);
    assert_int_equal(log.inserted, 2);
    assert_int_equal(count(fx, "SELECT oldest_id FROM cursors WHERE chat_id = -1000000000042"), 6);

    /* The end of the history: no messages, only the cursor. */
    note.cursor.complete = true;
    assert_int_equal(pipeline_writer_submit_note(w, &b, &note), TGH_OK);
    assert_int_equal(pipeline_writer_drain(w, NULL), TGH_OK);
    assert_int_equal(count(fx, "SELECT complete FROM cursors"), 1);

    /* A failing batch: its cursor must not move. */
    push(&b, 5, "bad", false);
    note.cursor.oldest_id = 5;
    note.cursor.complete = false;
    assert_int_equal(pipeline_writer_submit_note(w, &b, &note), TGH_OK);
    assert_int_equal(pipeline_writer_drain(w, NULL), TGH_EINVAL);
    assert_int_equal(pipeline_writer_stop(w, NULL), TGH_EINVAL);
    assert_int_equal(count(fx, "SELECT oldest_id FROM cursors"), 6);
    assert_int_equal(store_cursor_get(fx->st, -1000000000042, 0, &cur), TGH_OK);
    assert_true(cur.complete);
    assert_int_equal(log.calls, 2);
    msg_batch_fini(&b);
}

/* With one slot the producer waits for the writer; nothing is lost. */
static void
test_backpressure_loses_nothing(void **state)
{
    struct fx *fx = *state;
    struct pipeline_writer *w;
    struct store_stats stats = { 0 };
    struct msg_batch b;

    msg_batch_init(&b, 3);
    assert_int_equal(pipeline_writer_start(fx->st, 3, 1, &w), TGH_OK);
    for (int64_t id = 1; id <= 300; id++) {
        push(&b, id, "text", true);
        if (b.n == b.cap)
            assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
    }
    assert_int_equal(pipeline_writer_stop(w, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 300);
    assert_int_equal(count(fx, "SELECT count(*) FROM messages"), 300);
    msg_batch_fini(&b);
}

/* A producer batch smaller than the writer's slots works every time, swaps included. */
static void
test_smaller_batches_accepted(void **state)
{
    struct fx *fx = *state;
    struct pipeline_writer *w;
    struct store_stats stats = { 0 };
    struct msg_batch b;

    msg_batch_init(&b, 4);
    assert_int_equal(pipeline_writer_start(fx->st, 8, 2, &w), TGH_OK);
    for (int64_t id = 1; id <= 20; id++) {
        push(&b, id, "small", true);
        if (b.n == 4)
            assert_int_equal(pipeline_writer_submit(w, &b), TGH_OK);
    }
    assert_int_equal(pipeline_writer_stop(w, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 20);
    msg_batch_fini(&b);
}

/* A batch larger than the writer's slots is refused, not truncated. */
static void
test_oversized_batch_refused(void **state)
{
    struct fx *fx = *state;
    struct pipeline_writer *w;
    struct msg_batch b;

    msg_batch_init(&b, 16);
    assert_int_equal(pipeline_writer_start(fx->st, 8, 2, &w), TGH_OK);
    push(&b, 1, "x", true);
    assert_int_equal(pipeline_writer_submit(w, &b), TGH_EINVAL);
    assert_int_equal(pipeline_writer_stop(w, NULL), TGH_OK);
    msg_batch_fini(&b);
}

static int errors_seen;

static void
note_error(const char *msg)
{
    assert_non_null(strstr(msg, "missing.json"));
    errors_seen++;
}

/* The import job: runs per chat with committed counts, file errors reported. */
static void
test_import_paths_runs_and_errors(void **state)
{
    struct fx *fx = *state;
    struct pipeline_import_opts o = { .batch_size = 4 };
    struct pipeline_import_totals tot = { 0 };
    char *paths[] = { TGH_FIXTURES "/export/full_account.json",
                      TGH_FIXTURES "/export/missing.json" };

    store_close(fx->st); /* the job opens its own connections */
    fx->st = NULL;
    errors_seen = 0;
    assert_int_equal(pipeline_import_paths(fx->url, paths, 2, &o, note_error, &tot), TGH_EIO);
    assert_int_equal(errors_seen, 1);
    assert_int_equal(tot.files, 1);
    assert_int_equal(tot.failed_files, 1);
    assert_int_equal(tot.chats, 5);
    assert_true(tot.stats.inserted > 0);
    assert_int_equal(count(fx, "SELECT count(*) FROM collection_runs"), 5);
    /* Each run's counts are what the store holds for its chat. */
    assert_int_equal(count(fx, "SELECT count(*) FROM collection_runs r WHERE inserted != "
                               "(SELECT count(*) FROM messages m WHERE m.chat_id = r.chat_id)"),
                     0);
    assert_int_equal(count(fx, "SELECT sum(inserted) FROM collection_runs"),
                     (int64_t)tot.stats.inserted);
    assert_int_equal(count(fx, "SELECT count(*) FROM chats"), 5);
    assert_int_equal(store_open(fx->url, &fx->st), TGH_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writer_commits_in_submission_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_is_sticky_and_writes_nothing_after,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_feeds_committed_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_rides_with_its_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smaller_batches_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_batch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_paths_runs_and_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
