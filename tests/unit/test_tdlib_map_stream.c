/* SPDX-License-Identifier: MIT */
/*
 * test_tdlib_map_stream.c - deletion updates, the `decode --from tdlib`
 * stream (values, JSON lines, arrays, damage in between), and the guarantee
 * the mapping exists for: the same message read from a Desktop export and
 * from TDLib has the same content_hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/msg.h"
#include "source/source.h"

#define FIX(name) TGH_FIXTURES "/tdlib/" name
#define OBSERVED  1717300000

struct rec_ev {
    int64_t chat_id, message_id;
    enum msg_op op;
    enum msg_chat_type chat_type;
    char hash[MSG_HASH_HEX_LEN + 1];
};

struct rec {
    struct rec_ev ev[64];
    size_t n_ev, n_batches, max_batch;
    char pos[16][128];
    char why[16][512];
    char payload[16][256];
    size_t n_dead, n_progress;
};

static tgh_err
rec_batch(void *arg, struct msg_batch *b)
{
    struct rec *r = arg;

    r->n_batches++;
    if (b->n > r->max_batch)
        r->max_batch = b->n;
    for (size_t i = 0; i < b->n; i++) {
        struct rec_ev *e = &r->ev[r->n_ev++];

        assert_true(r->n_ev <= 64);
        assert_int_equal(codec_event_validate(&b->ev[i]), TGH_OK); /* finalized */
        e->chat_id = b->ev[i].chat_id;
        e->message_id = b->ev[i].message_id;
        e->op = b->ev[i].op;
        e->chat_type = b->ev[i].chat_type;
        memcpy(e->hash, b->ev[i].content_hash, sizeof(e->hash));
    }
    return TGH_OK;
}

static tgh_err
rec_dead(void *arg, const char *position, const char *reason, const char *payload, size_t len)
{
    struct rec *r = arg;

    assert_true(r->n_dead < 16);
    (void)snprintf(r->pos[r->n_dead], sizeof(r->pos[0]), "%s", position);
    (void)snprintf(r->why[r->n_dead], sizeof(r->why[0]), "%s", reason);
    (void)snprintf(r->payload[r->n_dead], sizeof(r->payload[0]), "%.*s", (int)len, payload);
    r->n_dead++;
    return TGH_OK;
}

static void
rec_progress(void *arg, uint64_t bytes, uint64_t messages)
{
    (void)bytes;
    (void)messages;
    ((struct rec *)arg)->n_progress++;
}

static tgh_err
decode_text(const char *text, size_t batch_size, struct rec *r, struct source_export_summary *s)
{
    struct source_export_sink sink = {
        .arg = r, .batch = rec_batch, .dead_letter = rec_dead, .progress = rec_progress
    };
    struct source_export_opts o = { .batch_size = batch_size, .observed_at = OBSERVED };
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    tgh_err rc;

    assert_non_null(f);
    memset(r, 0, sizeof(*r));
    rc = source_tdlib_decode_stream(f, "test", &o, &sink, s);
    (void)fclose(f);
    return rc;
}

static tgh_err
decode_file(const char *path, struct rec *r, struct source_export_summary *s)
{
    struct source_export_sink sink = { .arg = r, .batch = rec_batch, .dead_letter = rec_dead };
    struct source_export_opts o = { .observed_at = OBSERVED };
    FILE *f = fopen(path, "rb");
    tgh_err rc;

    assert_non_null(f);
    memset(r, 0, sizeof(*r));
    rc = source_tdlib_decode_stream(f, path, &o, &sink, s);
    (void)fclose(f);
    return rc;
}

static json_t *
load(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, 0, &jerr);

    if (v == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return v;
}

/* ---- deletions ---------------------------------------------------------------- */

static void
test_permanent_deletions_become_delete_events(void **state)
{
    json_t *u = load(FIX("delete_permanent.json"));
    struct msg_batch b;
    size_t n = 99;

    (void)state;
    msg_batch_init(&b, 8);
    assert_int_equal(source_tdlib_map_deletes(u, NULL, OBSERVED, &b, &n), TGH_OK);
    assert_int_equal(n, 3); /* the local message among them was never archived */
    assert_int_equal(b.n, 3);
    assert_int_equal(b.ev[0].op, MSG_OP_DELETE);
    assert_int_equal(b.ev[0].source, MSG_SOURCE_TDLIB);
    assert_int_equal(b.ev[0].chat_id, INT64_C(-1001234567890));
    assert_int_equal(b.ev[0].chat_type, MSG_CHAT_UNKNOWN); /* channel or supergroup: not known */
    assert_int_equal(b.ev[0].message_id, 10);
    assert_int_equal(b.ev[1].message_id, 11);
    assert_int_equal(b.ev[2].message_id, 13);
    assert_int_equal(b.ev[2].date, MSG_UNSET);
    assert_int_equal(b.ev[2].observed_at, OBSERVED);
    assert_string_equal(b.ev[0].content_hash,
                        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    msg_batch_fini(&b);
    json_decref(u);
}

static void
test_cache_unloads_are_not_deletions(void **state)
{
    json_t *a = load(FIX("delete_from_cache.json")), *b2 = load(FIX("delete_not_permanent.json"));
    struct msg_batch b;
    size_t n = 99;

    (void)state;
    msg_batch_init(&b, 8);
    assert_int_equal(source_tdlib_map_deletes(a, NULL, OBSERVED, &b, &n), TGH_OK);
    assert_int_equal(n, 0);
    n = 99;
    assert_int_equal(source_tdlib_map_deletes(b2, NULL, OBSERVED, &b, &n), TGH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(b.n, 0);
    /* permanent but from the cache: still an unload */
    (void)json_object_set_new(a, "is_permanent", json_true());
    assert_int_equal(source_tdlib_map_deletes(a, NULL, OBSERVED, &b, &n), TGH_OK);
    assert_int_equal(n, 0);
    msg_batch_fini(&b);
    json_decref(a);
    json_decref(b2);
}

static void
test_deletions_need_room_and_a_sane_update(void **state)
{
    json_t *u = load(FIX("delete_permanent.json"));
    struct source_tdlib_chat chat = { INT64_C(-1001234567890), MSG_CHAT_CHANNEL, "Harbor", NULL };
    struct msg_batch b;
    size_t n = 99;

    (void)state;
    msg_batch_init(&b, 2);
    assert_int_equal(source_tdlib_map_deletes(u, NULL, OBSERVED, &b, &n), TGH_ETOOBIG);
    assert_int_equal(n, 0);
    assert_int_equal(b.n, 0);
    msg_batch_fini(&b);
    msg_batch_init(&b, 4);
    assert_int_equal(source_tdlib_map_deletes(u, &chat, OBSERVED, &b, &n), TGH_OK);
    assert_int_equal(b.ev[0].chat_type, MSG_CHAT_CHANNEL);
    assert_string_equal(b.ev[0].chat_title, "Harbor");
    msg_batch_reset(&b);
    (void)json_array_append_new(json_object_get(u, "message_ids"), json_string("5"));
    assert_int_equal(source_tdlib_map_deletes(u, NULL, OBSERVED, &b, &n), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "message_ids[4]: expected an integer, got a string"));
    assert_int_equal(b.n, 0);
    (void)json_object_set_new(u, "chat_id", json_string("x"));
    assert_int_equal(source_tdlib_map_deletes(u, NULL, OBSERVED, &b, &n), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "chat_id: expected an integer"));
    msg_batch_fini(&b);
    json_decref(u);
}

/* ---- the stream --------------------------------------------------------------- */

#define MSG_LINE(id, text)                                                                          \
    "{\"@type\":\"message\",\"id\":" #id ",\"chat_id\":-1009876543210,\"date\":1717232400,"         \
    "\"content\":{\"@type\":\"messageText\",\"text\":{\"@type\":\"formattedText\",\"text\":\"" text \
    "\",\"entities\":[]}}}"

static void
test_json_lines_with_damage_in_between(void **state)
{
    static const char text[] = MSG_LINE(
        1048576,
        "one") "\n"
               "{\"@type\":\"message\",\"id\": oops}\n"
               "{\"@type\":\"updateNewMessage\",\"message\":" MSG_LINE(
                   2097152,
                   "two") "}\n"
                          "{\"@type\":\"message\",\"id\":3145729,\"chat_id\":-1009876543210,\"date\":1,"
                          "\"content\":{\"@type\":\"messageText\",\"text\":{\"text\":\"local\"}}}\n"
                          "{\"@type\":\"message\",\"id\":4194304,\n" MSG_LINE(5242880, "five") "\n";
    struct source_export_summary s;
    struct rec r;

    (void)state;
    assert_int_equal(decode_text(text, 500, &r, &s), TGH_OK);
    assert_int_equal(r.n_ev, 3);
    assert_int_equal(r.ev[0].message_id, 1);
    assert_int_equal(r.ev[1].message_id, 2);
    assert_int_equal(r.ev[2].message_id, 5); /* after a line cut short, the next line is read */
    assert_int_equal(r.n_dead, 3);
    assert_string_equal(r.pos[0], "line 2 (byte 170)");
    assert_non_null(strstr(r.why[0], "not valid JSON at byte"));
    assert_non_null(strstr(r.payload[0], "oops"));
    assert_string_equal(r.pos[1], "line 4 (byte 410)");
    assert_non_null(strstr(r.why[1], "id: 3145729 is not a server message id"));
    assert_string_equal(r.pos[2], "line 5 (byte 535)");
    assert_int_equal(s.events, 3);
    assert_int_equal(s.dead_letters, 3);
    assert_int_equal(s.messages, 4); /* objects that were JSON */
    assert_int_equal(s.bytes, strlen(text));
    assert_true(r.n_progress >= 1);
}

static void
test_pretty_values_arrays_and_pages(void **state)
{
    static const char text[] = "\xef\xbb\xbf[\n  " MSG_LINE(
        1048576,
        "one") ",\n  {\"@type\":\"messages\",\"total_count\":3,"
               "\"messages\":[" MSG_LINE(2097152, "two") ", null, " MSG_LINE(
                   3145728,
                   "three") "]}\n]\n"
                            "{\n \"@type\": \"foundChatMessages\",\n \"messages\": [\n  " MSG_LINE(
                                4194304, "four") "\n ],\n \"next_from_message_id\": 0\n}\n";
    struct source_export_summary s;
    struct rec r;

    (void)state;
    assert_int_equal(decode_text(text, 2, &r, &s), TGH_OK);
    assert_int_equal(r.n_dead, 0);
    assert_int_equal(r.n_ev, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(r.ev[i].message_id, (int64_t)i + 1);
    assert_int_equal(r.max_batch, 2);
}

static void
test_what_decode_does_not_map_is_a_dead_letter(void **state)
{
    static const char text[] =
        "{\"@type\":\"updateMessageContent\",\"chat_id\":-1009876543210,\"message_id\":1048576}\n"
        "{\"@type\":\"updateOption\",\"name\":\"version\"}\n"
        "{\"no_type\":1}\n"
        "[42]\n"
        "{\"@type\":\"messages\",\"messages\":{}}\n"
        "{\"@type\":\"updateNewMessage\"}\n"
        "\"a string\"\n"
        "{\"@type\":\"message\",\"id\":1048576,\"id\":2097152}\n";
    struct rec r;

    (void)state;
    assert_int_equal(decode_text(text, 500, &r, NULL), TGH_OK);
    assert_int_equal(r.n_ev, 0);
    assert_int_equal(r.n_dead, 8);
    assert_non_null(strstr(r.why[0], "updateMessageContent carries the new content only"));
    assert_non_null(strstr(r.why[0], "getMessage"));
    assert_non_null(strstr(r.why[1], "\"updateOption\" is not mapped"));
    assert_non_null(strstr(r.why[2], "without one"));
    assert_string_equal(r.pos[3], "line 4 (byte 135), [0]");
    assert_non_null(strstr(r.why[3], "got an integer"));
    assert_non_null(strstr(r.why[4], "messages: expected an array"));
    assert_string_equal(r.pos[5], "line 6 (byte 175), message");
    assert_non_null(strstr(r.why[5], "expected an object, got nothing"));
    assert_non_null(strstr(r.why[6], "not valid JSON"));
    assert_non_null(strstr(r.why[7], "duplicate object key"));
}

static void
test_truncated_and_empty_input(void **state)
{
    struct source_export_summary s;
    struct rec r;

    (void)state;
    assert_int_equal(decode_text(MSG_LINE(1048576, "one") "\n{\"@type\":\"messa", 500, &r, &s),
                     TGH_OK);
    assert_int_equal(r.n_ev, 1);
    assert_int_equal(r.n_dead, 1);
    assert_non_null(strstr(r.why[0], "not valid JSON"));
    assert_int_equal(decode_text(" \n\t\n", 500, &r, &s), TGH_OK);
    assert_int_equal(r.n_ev + r.n_dead, 0);
    assert_int_equal(s.bytes, 4);
}

static void
test_deletions_in_the_stream(void **state)
{
    static const char text[] = MSG_LINE(
        1048576,
        "one") "\n"
               "{\"@type\":\"updateDeleteMessages\",\"chat_id\":-1009876543210,\"message_ids\":"
               "[1048576,2097152,3145728],\"is_permanent\":true,\"from_cache\":false}\n"
               "{\"@type\":\"updateDeleteMessages\",\"chat_id\":-1009876543210,\"message_ids\":"
               "[1048576],\"is_permanent\":false,\"from_cache\":true}\n";
    struct rec r;

    (void)state;
    /* more deletions than a batch holds: they get a batch of their own */
    assert_int_equal(decode_text(text, 2, &r, NULL), TGH_OK);
    assert_int_equal(r.n_dead, 0);
    assert_int_equal(r.n_ev, 4);
    assert_int_equal(r.ev[0].op, MSG_OP_UPSERT);
    assert_int_equal(r.ev[1].op, MSG_OP_DELETE);
    assert_int_equal(r.ev[3].message_id, 3);
    assert_int_equal(r.ev[3].chat_type, MSG_CHAT_UNKNOWN);
    assert_int_equal(r.max_batch, 3);
}

static void
test_fixtures_decode(void **state)
{
    struct source_export_summary s;
    struct rec r;

    (void)state;
    assert_int_equal(decode_file(FIX("album.json"), &r, &s), TGH_OK);
    assert_int_equal(r.n_ev, 3);
    assert_int_equal(decode_file(FIX("bad_local_id.json"), &r, &s), TGH_OK);
    assert_int_equal(r.n_dead, 1);
    assert_string_equal(r.pos[0], "line 1 (byte 0)");
    assert_non_null(strstr(r.payload[0], "\"@type\":\"message\""));
}

/* ---- the same message from both sources ----------------------------------------- */

static tgh_err
export_batch(void *arg, struct msg_batch *b)
{
    return rec_batch(arg, b);
}

static void
test_same_message_same_hash_across_sources(void **state)
{
    struct source_export_sink sink = { .batch = export_batch, .dead_letter = rec_dead };
    struct source_export_opts o = { .observed_at = OBSERVED };
    struct rec *from_export = tgh_calloc(1, sizeof(*from_export));
    struct rec *from_tdlib = tgh_calloc(1, sizeof(*from_tdlib));

    (void)state;
    sink.arg = from_export;
    assert_int_equal(source_export_import_file(FIX("cross_export.json"), &o, &sink, NULL), TGH_OK);
    assert_int_equal(decode_file(FIX("cross_tdlib.json"), from_tdlib, NULL), TGH_OK);
    assert_int_equal(from_export->n_dead + from_tdlib->n_dead, 0);
    /* text with entities, a photo with a caption, a poll, a video, service messages, buttons */
    assert_int_equal(from_export->n_ev, 9);
    assert_int_equal(from_tdlib->n_ev, 9);
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(from_export->ev[i].chat_id, from_tdlib->ev[i].chat_id);
        assert_int_equal(from_export->ev[i].message_id, from_tdlib->ev[i].message_id);
        if (strcmp(from_export->ev[i].hash, from_tdlib->ev[i].hash) != 0)
            fail_msg("message %" PRId64 ": export hash %s, TDLib hash %s",
                     from_export->ev[i].message_id, from_export->ev[i].hash,
                     from_tdlib->ev[i].hash);
    }
    tgh_free(from_export);
    tgh_free(from_tdlib);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permanent_deletions_become_delete_events),
        cmocka_unit_test(test_cache_unloads_are_not_deletions),
        cmocka_unit_test(test_deletions_need_room_and_a_sane_update),
        cmocka_unit_test(test_json_lines_with_damage_in_between),
        cmocka_unit_test(test_pretty_values_arrays_and_pages),
        cmocka_unit_test(test_what_decode_does_not_map_is_a_dead_letter),
        cmocka_unit_test(test_truncated_and_empty_input),
        cmocka_unit_test(test_deletions_in_the_stream),
        cmocka_unit_test(test_fixtures_decode),
        cmocka_unit_test(test_same_message_same_hash_across_sources),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
