/* SPDX-License-Identifier: MIT */
/*
 * test_codec.c - the schema_version 1 JSON codec: round trips of maximal and
 * minimal events, the canonical text, every validation error naming its
 * field, content-hash invariance and UTF-16 entity bounds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"

/* sha256("{}"): a delete hashes an empty content object. */
#define EMPTY_HASH "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/* A minimal upsert in canonical form; its hash is sha256('{"text":"hello"}'). */
static const char canonical_min[] =
    "{\"schema_version\":1,\"op\":\"upsert\",\"source\":\"export\","
    "\"idempotency_key\":\"-1001234567890:1700000000:42\","
    "\"chat\":{\"id\":-1001234567890,\"type\":\"channel\"},"
    "\"message_id\":42,\"date\":1700000000,\"text\":\"hello\","
    "\"content_hash\":\"cbbbdcd27692344de5dbab3abcaba413fb0f45307267de7081401576df1cb176\"}";

struct fixture {
    struct tgh_arena arena;
};

static int
setup(void **state)
{
    struct fixture *f = tgh_calloc(1, sizeof(*f));

    tgh_arena_init(&f->arena, 64 * 1024);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    tgh_arena_fini(&f->arena);
    tgh_free(f);
    return 0;
}

static void
fill_min(struct msg_event *ev)
{
    msg_event_init(ev);
    ev->source = MSG_SOURCE_EXPORT;
    ev->chat_id = INT64_C(-1001234567890);
    ev->chat_type = MSG_CHAT_CHANNEL;
    ev->message_id = 42;
    ev->date = 1700000000;
    ev->text = "hello";
}

/* Every field of the event set, the json members included. */
static void
fill_max(struct tgh_arena *a, struct msg_event *ev)
{
    struct msg_entity *e = tgh_arena_alloc(a, 2 * sizeof(*e));
    struct msg_reaction *r = tgh_arena_alloc(a, 2 * sizeof(*r));
    struct msg_media *m = tgh_arena_alloc(a, sizeof(*m));
    struct msg_poll *p = tgh_arena_alloc(a, sizeof(*p));
    struct msg_poll_answer *ans = tgh_arena_alloc(a, 2 * sizeof(*ans));
    struct msg_location *loc = tgh_arena_alloc(a, sizeof(*loc));
    struct msg_contact *c = tgh_arena_alloc(a, sizeof(*c));

    msg_event_init(ev);
    ev->source = MSG_SOURCE_TDLIB;
    ev->observed_at = 1700000100;
    ev->chat_id = INT64_C(-1001234567890);
    ev->chat_type = MSG_CHAT_SUPERGROUP;
    ev->chat_title = "Example \"chat\"";
    ev->chat_username = "example";
    ev->message_id = 777;
    ev->date = 1700000000;
    ev->edit_date = 1700000050;
    ev->sender_id = 12345;
    ev->sender_type = MSG_PEER_USER;
    ev->sender_name = "Ana Ávila";
    ev->author_signature = "editor";
    ev->text = "Hi \xf0\x9f\x91\x8b there, see https://example.org";
    e[0] = (struct msg_entity){ "bold", 0, 2, "Hi", NULL, MSG_UNSET, NULL, NULL };
    e[1] =
        (struct msg_entity){ "text_link", 6, 5, "there", "https://example.org/x", 99, "c", "5368" };
    ev->entities = e;
    ev->n_entities = 2;
    ev->reply_to_message_id = 700;
    ev->reply_to_chat_id = -1009876543210;
    ev->thread_id = 5;
    ev->album_id = INT64_C(13571113171923);
    ev->forward_from_name = "Origin";
    ev->forward_from_id = -1001111111111;
    ev->forward_from_type = MSG_PEER_CHANNEL;
    ev->forward_date = 1690000000;
    ev->forward_message_id = 3;
    ev->saved_from = "Saved chat";
    ev->via_bot = "somebot";
    ev->views = 1000;
    ev->forwards = 10;
    ev->replies = 4;
    r[0] = (struct msg_reaction){ "emoji", "\xf0\x9f\x91\x8d", NULL, 12 };
    r[1] = (struct msg_reaction){ "custom_emoji", NULL, "5368324170671202286", 0 };
    ev->reactions = r;
    ev->n_reactions = 2;
    ev->has_reactions = true;
    *m = (struct msg_media){ .kind = "video",
                             .file_name = "clip.mp4",
                             .mime_type = "video/mp4",
                             .size_bytes = 1048576,
                             .duration_s = 12,
                             .width = 1280,
                             .height = 720,
                             .file_unique_id = "AgADuniq",
                             .path = "media/clip.mp4",
                             .placeholder = "not downloaded yet",
                             .thumbnail_path = "media/clip_thumb.jpg",
                             .sticker_emoji = "\xf0\x9f\x98\x80",
                             .performer = "Band",
                             .title = "Song",
                             .has_spoiler = true };
    ev->media = m;
    ans[0] = (struct msg_poll_answer){ "yes", 7, true };
    ans[1] = (struct msg_poll_answer){ "no", MSG_UNSET, false };
    *p = (struct msg_poll){ "Agree?", true, 7, 2, ans };
    ev->poll = p;
    *loc = (struct msg_location){ 55.751244, -37.618423, 900, "Cafe", "1 Main St" };
    ev->location = loc;
    *c = (struct msg_contact){ "Ana", "Avila", "+15550100", "BEGIN:VCARD\nEND:VCARD", 12345 };
    ev->contact = c;
    ev->action = "pin_message";
    ev->action_params = json_pack("{s:i,s:[i,i]}", "message_id", 700, "list", 1, 2);
    ev->buttons = json_pack("[[{s:s,s:s}]]", "text", "Open", "url", "https://example.org");
    ev->raw =
        json_pack("{s:s,s:{s:f,s:b,s:n}}", "@type", "message", "nested", "x", 0.5, "y", 1, "z");
}

/* decode(encode(ev)) equals ev, and the text is stable across the round trip. */
static void
assert_round_trip(struct tgh_arena *a, const struct msg_event *ev)
{
    struct msg_event back;
    char *s1 = NULL, *s2 = NULL;
    size_t n1, n2;

    assert_int_equal(codec_event_encode(ev, &s1, &n1), TGH_OK);
    assert_int_equal(strlen(s1), n1);
    if (codec_event_decode(s1, n1, a, &back) != TGH_OK)
        fail_msg("decode: %s\n%s", tgh_errmsg(), s1);
    assert_true(codec_event_equal(ev, &back));
    assert_true(codec_event_equal(&back, ev));
    assert_int_equal(codec_event_encode(&back, &s2, &n2), TGH_OK);
    assert_int_equal(n1, n2);
    assert_string_equal(s1, s2);
    msg_event_fini(&back);
    tgh_free(s1);
    tgh_free(s2);
}

static void
test_round_trip_maximal(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;

    fill_max(&f->arena, &ev);
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_int_equal(codec_event_validate(&ev), TGH_OK);
    assert_round_trip(&f->arena, &ev);
    msg_event_fini(&ev);
}

static void
test_round_trip_minimal(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;

    fill_min(&ev);
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_round_trip(&f->arena, &ev);
    msg_event_fini(&ev);
}

static void
test_round_trip_delete(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;

    msg_event_init(&ev);
    ev.op = MSG_OP_DELETE;
    ev.source = MSG_SOURCE_TDLIB;
    ev.chat_id = 777000;
    ev.message_id = 9;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_string_equal(ev.content_hash, EMPTY_HASH);
    assert_round_trip(&f->arena, &ev);
    /* a deletion found later: bounded by deleted_after and observed_at */
    ev.observed_at = 1700000900;
    ev.deleted_after = 1700000100;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_string_equal(ev.content_hash, EMPTY_HASH); /* not part of the content */
    assert_round_trip(&f->arena, &ev);
    ev.deleted_after = 1700000901;
    assert_int_equal(codec_event_validate(&ev), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "deleted_after"));
    ev.deleted_after = 1700000100;
    ev.op = MSG_OP_UPSERT;
    ev.date = 1700000000;
    assert_int_equal(codec_event_validate(&ev), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "only a delete"));
}

static void
test_canonical_text_is_stable(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev, min;
    char *s = NULL;
    size_t n;

    assert_int_equal(codec_event_decode(canonical_min, strlen(canonical_min), &f->arena, &ev),
                     TGH_OK);
    assert_int_equal(codec_event_encode(&ev, &s, &n), TGH_OK);
    assert_string_equal(s, canonical_min);
    tgh_free(s);

    fill_min(&min);
    assert_int_equal(codec_event_finalize(&min), TGH_OK);
    assert_true(codec_event_equal(&ev, &min));
    msg_event_fini(&ev);
}

static void
test_encode_key_order(void **state)
{
    static const char *const keys[] = {
        "schema_version",
        "op",
        "source",
        "idempotency_key",
        "observed_at",
        "chat",
        "message_id",
        "date",
        "edit_date",
        "sender",
        "author_signature",
        "text",
        "entities",
        "reply_to",
        "thread_id",
        "album_id",
        "forward",
        "saved_from",
        "via_bot",
        "views",
        "forwards",
        "replies",
        "reactions",
        "media",
        "poll",
        "location",
        "contact",
        "action",
        "buttons",
        "content_hash",
        "raw",
    };
    struct fixture *f = *state;
    struct msg_event ev;
    json_t *o;
    const char *key;
    json_t *v;
    size_t i = 0;

    fill_max(&f->arena, &ev);
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    o = codec_event_to_json(&ev);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
    json_object_foreach (o, key, v) {
        (void)v;
        assert_string_equal(key, keys[i]);
        i++;
    }
    json_decref(o);
    msg_event_fini(&ev);
}

/* Absent and null are the same; empty sub-objects of flat groups read as absent. */
static void
test_null_means_absent(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev, min;
    json_t *o = json_loads(canonical_min, 0, NULL);

    assert_non_null(o);
    json_object_set_new(o, "views", json_null());
    json_object_set_new(o, "sender", json_null());
    json_object_set_new(o, "raw", json_null());
    json_object_set_new(o, "reactions", json_null());
    json_object_set_new(o, "reply_to", json_object());
    assert_int_equal(codec_event_from_json(o, &f->arena, &ev), TGH_OK);
    fill_min(&min);
    assert_int_equal(codec_event_finalize(&min), TGH_OK);
    assert_true(codec_event_equal(&ev, &min));
    json_decref(o);
    msg_event_fini(&ev);
}

/* Decode j (a mutated copy of a valid event) and expect code with needle in the message. */
static void
expect_bad_json(struct tgh_arena *a, json_t *j, tgh_err code, const char *needle)
{
    struct msg_event ev;
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    char *s = tgh_malloc(n + 1);
    tgh_err rc;

    assert_int_equal(json_dumpb(j, s, n, JSON_COMPACT), n);
    s[n] = '\0';
    tgh_err_clear();
    rc = codec_event_decode(s, strlen(s), a, &ev);
    if (rc != code || strstr(tgh_errmsg(), needle) == NULL)
        fail_msg("want %s '%s', got %s '%s' for %s", tgh_err_name(code), needle, tgh_err_name(rc),
                 tgh_errmsg(), s);
    assert_null(ev.raw);
    tgh_free(s);
    json_decref(j);
}

static void
expect_bad_text(struct tgh_arena *a, const char *text, size_t len, tgh_err code, const char *needle)
{
    struct msg_event ev;
    tgh_err rc;

    tgh_err_clear();
    rc = codec_event_decode(text, len, a, &ev);
    if (rc != code || strstr(tgh_errmsg(), needle) == NULL)
        fail_msg("want %s '%s', got %s '%s'", tgh_err_name(code), needle, tgh_err_name(rc),
                 tgh_errmsg());
}

/* A valid finalized maximal event as a JSON tree, to be broken one field at a time. */
static json_t *
valid_max(struct tgh_arena *a)
{
    struct msg_event ev;
    json_t *o;

    fill_max(a, &ev);
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    o = codec_event_to_json(&ev);
    assert_non_null(o);
    msg_event_fini(&ev);
    return o;
}

static json_t *
with(json_t *o, const char *path, json_t *v)
{
    /* "a.b" or "a[i].b" or "a" */
    char head[64];
    const char *dot = strchr(path, '.');
    const char *br = strchr(path, '[');
    json_t *parent = o;

    if (dot == NULL) {
        if (v == NULL)
            json_object_del(o, path);
        else
            json_object_set_new(o, path, v);
        return o;
    }
    if (br != NULL && br < dot) {
        memcpy(head, path, (size_t)(br - path));
        head[br - path] = '\0';
        parent = json_array_get(json_object_get(o, head), (size_t)(br[1] - '0'));
    } else {
        memcpy(head, path, (size_t)(dot - path));
        head[dot - path] = '\0';
        parent = json_object_get(o, head);
    }
    assert_non_null(parent);
    with(parent, dot + 1, v);
    return o;
}

static void
test_errors_name_their_field(void **state)
{
    struct fixture *f = *state;
    struct tgh_arena *a = &f->arena;

    expect_bad_json(a, with(valid_max(a), "colour", json_integer(1)), TGH_EINVAL,
                    "colour: unknown key");
    expect_bad_json(a, with(valid_max(a), "chat.colour", json_integer(1)), TGH_EINVAL,
                    "chat.colour: unknown key");
    expect_bad_json(a, with(valid_max(a), "entities[1].bogus", json_true()), TGH_EINVAL,
                    "entities[1].bogus: unknown key");
    expect_bad_json(a, with(valid_max(a), "message_id", json_string("777")), TGH_EINVAL,
                    "message_id: expected integer, got string");
    expect_bad_json(a, with(valid_max(a), "message_id", json_real(777.0)), TGH_EINVAL,
                    "message_id: expected integer, got real");
    expect_bad_json(a, with(valid_max(a), "message_id", NULL), TGH_EINVAL, "message_id: required");
    expect_bad_json(a, with(valid_max(a), "edit_date", json_integer(INT64_C(99999999999999))),
                    TGH_EINVAL, "edit_date: must be a Unix time");
    expect_bad_json(a, with(valid_max(a), "forward.date", json_integer(-1)), TGH_EINVAL,
                    "forward.date: must be a Unix time");
    expect_bad_json(a, with(valid_max(a), "message_id", json_integer(-3)), TGH_EINVAL,
                    "message_id: must be > 0");
    expect_bad_json(a, with(valid_max(a), "op", json_string("merge")), TGH_EINVAL,
                    "op: unknown op 'merge'");
    expect_bad_json(a, with(valid_max(a), "schema_version", json_integer(2)), TGH_EINVAL,
                    "schema_version: unsupported version 2");
    expect_bad_json(a, with(valid_max(a), "chat.type", json_string("foo")), TGH_EINVAL,
                    "chat.type: unknown chat type 'foo'");
    expect_bad_json(a, with(valid_max(a), "chat.id", json_integer(0)), TGH_EINVAL,
                    "chat.id: must be != 0");
    expect_bad_json(a, with(valid_max(a), "entities[1].offset", json_integer(-1)), TGH_EINVAL,
                    "entities[1].offset: must be >= 0");
    expect_bad_json(a, with(valid_max(a), "entities[1].length", json_integer(99)), TGH_EINVAL,
                    "entities[1].length: offset 6 + length 99 exceeds the text");
    expect_bad_json(a, with(valid_max(a), "reactions[1].count", json_integer(-1)), TGH_EINVAL,
                    "reactions[1].count: must be >= 0");
    expect_bad_json(a, with(valid_max(a), "location.latitude", json_real(91.5)), TGH_EINVAL,
                    "location.latitude: must be in [-90, 90]");
    expect_bad_json(a, with(valid_max(a), "location.longitude", NULL), TGH_EINVAL,
                    "location.longitude: required");
    expect_bad_json(a, with(valid_max(a), "poll.answers[1].text", NULL), TGH_EINVAL,
                    "poll.answers[1].text: required");
    expect_bad_json(a, with(valid_max(a), "media.has_spoiler", json_integer(1)), TGH_EINVAL,
                    "media.has_spoiler: expected boolean, got integer");
    expect_bad_json(a, with(valid_max(a), "action.params", json_array()), TGH_EINVAL,
                    "action.params: expected object, got array");
    expect_bad_json(a, with(valid_max(a), "sender", json_string("x")), TGH_EINVAL,
                    "sender: expected object, got string");
    expect_bad_json(a, with(valid_max(a), "date", NULL), TGH_EINVAL,
                    "date: required for an upsert");
    expect_bad_json(a, with(valid_max(a), "idempotency_key", json_string("1:2:3")), TGH_EINVAL,
                    "idempotency_key: '1:2:3' does not match");
    expect_bad_json(a, with(valid_max(a), "content_hash", json_string(EMPTY_HASH)), TGH_EINVAL,
                    "content_hash: does not match the content");
    expect_bad_json(a, with(valid_max(a), "content_hash", json_string("abc")), TGH_EINVAL,
                    "content_hash: must be 64 lowercase hex digits");
    expect_bad_json(a,
                    with(valid_max(a), "content_hash",
                         json_string("44136FA355B3678A1146AD16F7E8649E94FB4FC21FE77E8310C060F61"
                                     "CAAFF8A")),
                    TGH_EINVAL, "content_hash: must be 64 lowercase hex digits");
    expect_bad_json(a, with(valid_max(a), "views", json_integer(INT64_MIN)), TGH_EINVAL,
                    "views: out of range");
}

static void
test_caps(void **state)
{
    struct fixture *f = *state;
    struct tgh_arena *a = &f->arena;
    char *big = tgh_malloc(MSG_MAX_TEXT_BYTES + 2);
    json_t *ents = json_array();

    memset(big, 'x', MSG_MAX_TEXT_BYTES + 1);
    big[MSG_MAX_TEXT_BYTES + 1] = '\0';
    expect_bad_json(a, with(valid_max(a), "text", json_string(big)), TGH_ETOOBIG,
                    "text: 1048577 bytes, at most 1048576");
    big[MSG_MAX_STRING_BYTES + 1] = '\0';
    expect_bad_json(a, with(valid_max(a), "media.title", json_string(big)), TGH_ETOOBIG,
                    "media.title: 65537 bytes, at most 65536");
    tgh_free(big);

    for (int i = 0; i <= MSG_MAX_ENTITIES; i++)
        json_array_append_new(ents,
                              json_pack("{s:s,s:i,s:i}", "type", "bold", "offset", 0, "length", 1));
    expect_bad_json(a, with(valid_max(a), "entities", ents), TGH_ETOOBIG,
                    "entities: 10001 items, at most 10000");
    expect_bad_text(a, canonical_min, (size_t)MSG_MAX_EVENT_BYTES + 1, TGH_ETOOBIG,
                    "event: 16777217 bytes");
}

static void
test_malformed_json(void **state)
{
    struct fixture *f = *state;
    struct tgh_arena *a = &f->arena;
    static const char dup[] = "{\"schema_version\":1,\"schema_version\":1}";
    static const char nul[] = "{\"schema_version\":1,\"text\":\"a\\u0000b\"}";

    expect_bad_text(a, "{\"schema_version\":", 18, TGH_EINVAL, "event: invalid JSON");
    expect_bad_text(a, canonical_min, strlen(canonical_min) / 2, TGH_EINVAL, "event: invalid JSON");
    expect_bad_text(a, "", 0, TGH_EINVAL, "event: invalid JSON");
    expect_bad_text(a, "[1,2]", 5, TGH_EINVAL, "event: expected an object, got array");
    expect_bad_text(a, dup, strlen(dup), TGH_EINVAL, "event: invalid JSON");
    expect_bad_text(a, nul, strlen(nul), TGH_EINVAL, "event: invalid JSON");
    expect_bad_text(a, "{}", 2, TGH_EINVAL, "schema_version: required");
}

/* A tree built in memory can hold what JSON text cannot reach us with. */
static void
test_nul_in_string(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;
    json_t *o = valid_max(&f->arena);

    with(o, "chat.title", json_stringn("a\0b", 3));
    assert_int_equal(codec_event_from_json(o, &f->arena, &ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "chat.title: contains a NUL character");
    json_decref(o);

    o = valid_max(&f->arena);
    with(o, "sender.name", json_stringn_nocheck("\xff\xfe", 2));
    assert_int_equal(codec_event_from_json(o, &f->arena, &ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "sender.name: not valid UTF-8");
    json_decref(o);

    assert_int_equal(codec_event_from_json(NULL, &f->arena, &ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "event: expected an object, got nothing");
}

static void
test_from_json_copies_borrowed_values(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;
    json_t *o = valid_max(&f->arena);

    assert_int_equal(codec_event_from_json(o, &f->arena, &ev), TGH_OK);
    json_object_set_new(json_object_get(o, "raw"), "later", json_true());
    assert_null(json_object_get(ev.raw, "later"));
    assert_int_equal(codec_event_validate(&ev), TGH_OK);
    json_decref(o);
    msg_event_fini(&ev);
}

static void
test_validate_struct(void **state)
{
    static const char *const bad_utf8[] = {
        "\xc0\xaf",                      /* overlong '/' */
        "\xed\xa0\x80",                  /* a surrogate */
        "\xf4\x90\x80\x80",              /* above U+10FFFF */
        "\xe2\x82",                      /* truncated */
        "\xff",                          /* never valid */
        "sixteen ascii bytes then \x80", /* past the ASCII fast path */
    };
    struct fixture *f = *state;
    struct msg_event ev;
    char *s = NULL;
    size_t n = 1;

    fill_max(&f->arena, &ev);
    assert_int_equal(codec_event_validate(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "content_hash: missing (event not finalized)");

    ev.sender_name = "bad \xc3\x28 utf8";
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "sender.name: not valid UTF-8");
    assert_null(codec_event_to_json(&ev));
    assert_string_equal(tgh_errmsg(), "sender.name: not valid UTF-8");
    assert_int_equal(codec_event_encode(&ev, &s, &n), TGH_EINVAL);
    assert_null(s);
    assert_int_equal(n, 0);
    for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
        ev.sender_name = bad_utf8[i];
        assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
        assert_string_equal(tgh_errmsg(), "sender.name: not valid UTF-8");
    }
    ev.sender_name = "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x91\x8b \xf4\x8f\xbf\xbf";
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);

    ev.chat_type = (enum msg_chat_type)42;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "chat.type: invalid value 42");
    ev.chat_type = MSG_CHAT_CHANNEL;

    ev.reply_to_message_id = MSG_UNSET;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "reply_to.message_id: required");
    ev.reply_to_message_id = 700;

    ev.has_reactions = false;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    ev.has_reactions = true;

    ev.n_entities = MSG_MAX_ENTITIES + 1;
    assert_int_equal(codec_event_finalize(&ev), TGH_ETOOBIG);
    assert_string_equal(tgh_errmsg(), "entities: 10001 items, at most 10000");
    ev.n_entities = 2;

    ev.text = "";
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "entities: need a non-empty text");
    ev.text = "Hi \xf0\x9f\x91\x8b there, see https://example.org";

    ev.location->longitude = -180.5;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "location.longitude: must be in [-180, 180], got -180.5");
    ev.location->longitude = NAN;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    ev.location->longitude = 180.0;

    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_int_equal(codec_event_validate(&ev), TGH_OK);
    ev.views = 5; /* not content: the hash still matches */
    assert_int_equal(codec_event_validate(&ev), TGH_OK);
    ev.text = "changed";
    ev.n_entities = 0;
    assert_int_equal(codec_event_validate(&ev), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "content_hash: does not match the content"));
    msg_event_fini(&ev);
}

static void
hash_of(struct msg_event *ev, char out[MSG_HASH_HEX_LEN + 1])
{
    assert_int_equal(codec_event_finalize(ev), TGH_OK);
    memcpy(out, ev->content_hash, MSG_HASH_HEX_LEN + 1);
}

static void
test_hash_invariance(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;
    char base[MSG_HASH_HEX_LEN + 1], h[MSG_HASH_HEX_LEN + 1];
    struct msg_entity *ents;

    fill_max(&f->arena, &ev);
    hash_of(&ev, base);

    /* Not content: counters, raw, paths, observation, source, edit time, sender. */
    ev.views = 5000;
    ev.forwards = MSG_UNSET;
    ev.reactions[0].count = 99;
    ev.poll->answers[0].voters = 100;
    ev.poll->total_voters = 100;
    json_decref(ev.raw);
    ev.raw = json_pack("{s:s}", "other", "source");
    ev.media->path = "elsewhere/clip.mp4";
    ev.media->size_bytes = 1;
    ev.media->file_unique_id = NULL;
    ev.observed_at = 1800000000;
    ev.edit_date = 1800000000;
    ev.source = MSG_SOURCE_EXPORT;
    ev.sender_name = "Renamed";
    ev.chat_title = "Renamed";
    ev.entities[1].text = NULL; /* derivable from the text */
    hash_of(&ev, h);
    assert_string_equal(h, base);

    /* Content. */
    ev.text = "Hi \xf0\x9f\x91\x8b there, see https://example.net";
    hash_of(&ev, h);
    assert_string_not_equal(h, base);
    ev.text = "Hi \xf0\x9f\x91\x8b there, see https://example.org";
    hash_of(&ev, h);
    assert_string_equal(h, base);

    ents = ev.entities;
    ents[0].length = 1;
    hash_of(&ev, h);
    assert_string_not_equal(h, base);
    ents[0].length = 2;

    ev.media->kind = "animation";
    hash_of(&ev, h);
    assert_string_not_equal(h, base);
    ev.media->kind = "video";

    json_array_append_new(ev.buttons, json_array());
    hash_of(&ev, h);
    assert_string_not_equal(h, base);

    ev.op = MSG_OP_DELETE;
    hash_of(&ev, h);
    assert_string_equal(h, EMPTY_HASH);
    msg_event_fini(&ev);
}

/* Offsets count UTF-16 units: an emoji outside the BMP is a surrogate pair. */
static void
test_utf16_entity_bounds(void **state)
{
    struct fixture *f = *state;
    struct msg_event ev;
    struct msg_entity e = { "bold", 6, 5, NULL, NULL, MSG_UNSET, NULL, NULL };
    const char *text = "Hi \xf0\x9f\x91\x8b there"; /* H i sp [2 units] sp t h e r e */

    assert_int_equal(msg_utf16_len(text, strlen(text)), 11);
    assert_int_equal(msg_utf16_len("\xc3\xa9\xe2\x82\xac", 5), 2); /* é € */
    fill_min(&ev);
    ev.text = text;
    ev.entities = &e;
    ev.n_entities = 1;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK); /* "there" ends at unit 11 */
    assert_round_trip(&f->arena, &ev);

    e.offset = 7;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "entities[0].length: offset 7 + length 5 exceeds the text "
                                      "(11 UTF-16 units)");
    e.offset = 12;
    e.length = 0;
    assert_int_equal(codec_event_finalize(&ev), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(),
                        "entities[0].offset: 12 is past the end of the text (11 UTF-16 units)");
    e.offset = 3; /* the emoji itself */
    e.length = 2;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
}

static void
test_equal_detects_differences(void **state)
{
    struct fixture *f = *state;
    struct msg_event a, b;

    fill_max(&f->arena, &a);
    fill_max(&f->arena, &b);
    assert_true(codec_event_equal(&a, &b));
    b.poll->answers[1].chosen = true;
    assert_false(codec_event_equal(&a, &b));
    b.poll->answers[1].chosen = false;
    b.location->latitude = -0.0;
    a.location->latitude = 0.0;
    assert_false(codec_event_equal(&a, &b));
    b.location->latitude = 0.0;
    assert_true(codec_event_equal(&a, &b));
    json_object_set_new(b.raw, "extra", json_null());
    assert_false(codec_event_equal(&a, &b));
    assert_false(codec_event_equal(&a, NULL));
    msg_event_fini(&a);
    msg_event_fini(&b);
}

/* Two encodings of one state differ only in observed_at. */
static void
test_same_state_ignores_only_observed_at(void **state)
{
    struct msg_event a, b;
    char *ta = NULL, *tb = NULL;
    size_t la, lb;

    (void)state;
    fill_min(&a);
    fill_min(&b);
    a.observed_at = 1700000100;
    b.observed_at = 1800000000;
    assert_int_equal(codec_event_finalize(&a), TGH_OK);
    assert_int_equal(codec_event_finalize(&b), TGH_OK);
    assert_int_equal(codec_event_encode(&a, &ta, &la), TGH_OK);
    assert_int_equal(codec_event_encode(&b, &tb, &lb), TGH_OK);
    assert_true(codec_event_same_state(ta, la, tb, lb));
    tgh_free(tb);
    b.views = 3;
    assert_int_equal(codec_event_encode(&b, &tb, &lb), TGH_OK);
    assert_false(codec_event_same_state(ta, la, tb, lb));
    tgh_free(ta);
    tgh_free(tb);
}

/* Merging keeps what only the older version knew and takes the newer's values. */
static void
test_merge_adds_knowledge(void **state)
{
    struct fixture *f = *state;
    struct msg_event old, upd, m;
    struct msg_media om = { .kind = "photo",
                            .path = "photos/a.jpg",
                            .width = 10,
                            .height = 10,
                            .size_bytes = MSG_UNSET,
                            .duration_s = MSG_UNSET };
    struct msg_media um = { .kind = "photo",
                            .file_unique_id = "AQADx",
                            .width = 10,
                            .height = 10,
                            .size_bytes = 999,
                            .duration_s = MSG_UNSET };
    char *t = NULL;
    size_t l;

    fill_min(&old);
    old.views = 70;
    old.chat_title = "Old title";
    old.media = &om;
    assert_int_equal(codec_event_finalize(&old), TGH_OK);
    assert_int_equal(codec_event_encode(&old, &t, &l), TGH_OK);

    fill_min(&upd);
    upd.chat_type = MSG_CHAT_UNKNOWN;
    upd.forwards = 2;
    upd.media = &um;
    upd.source = MSG_SOURCE_TDLIB;
    assert_int_equal(codec_event_finalize(&upd), TGH_OK);
    assert_string_equal(upd.content_hash, old.content_hash);
    assert_int_equal(codec_event_merge(t, l, &upd, &f->arena, &m), TGH_OK);
    assert_int_equal(m.views, 70);
    assert_int_equal(m.forwards, 2);
    assert_int_equal(m.source, MSG_SOURCE_TDLIB);
    assert_int_equal(m.chat_type, MSG_CHAT_CHANNEL);
    assert_string_equal(m.chat_title, "Old title");
    assert_string_equal(m.media->path, "photos/a.jpg");
    assert_string_equal(m.media->file_unique_id, "AQADx");
    assert_int_equal(m.media->size_bytes, 999);
    msg_event_fini(&m);
    assert_int_equal(codec_event_merge("{not json", 9, &upd, &f->arena, &m), TGH_EINVAL);
    tgh_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_maximal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_minimal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canonical_text_is_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_means_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_their_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_in_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_json_copies_borrowed_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_struct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_invariance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf16_entity_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equal_detects_differences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_state_ignores_only_observed_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_adds_knowledge, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
