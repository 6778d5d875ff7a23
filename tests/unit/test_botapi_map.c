/* SPDX-License-Identifier: MIT */
/*
 * test_botapi_map.c - Bot API updates (tests/fixtures/botapi/) into events:
 * every update type classified, every content kind and forward origin
 * mapped, errors that name the field, error responses, and the same post
 * from the Bot API and from TDLib hashing the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/msg.h"
#include "source/source.h"

#define FIX(name) TGH_FIXTURES "/" name
#define OBSERVED  1717300000

static json_t *
load(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

    if (v == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return v;
}

static json_t *
parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);

    if (v == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return v;
}

/* ---- decode of the fixture of every update type ---------------------------- */

struct rec {
    json_t *events; /* array of the encoded events */
    size_t dead, skipped;
    char skipped_types[1024];
    char last_dead[512];
};

static tgh_err
rec_batch(void *arg, struct msg_batch *b)
{
    struct rec *r = arg;

    for (size_t i = 0; i < b->n; i++)
        (void)json_array_append_new(r->events, codec_event_to_json(&b->ev[i]));
    return TGH_OK;
}

static tgh_err
rec_dead(void *arg, const char *pos, const char *reason, const char *payload, size_t len)
{
    struct rec *r = arg;

    (void)payload;
    (void)len;
    r->dead++;
    (void)snprintf(r->last_dead, sizeof(r->last_dead), "%s: %s", pos, reason);
    return TGH_OK;
}

static tgh_err
rec_skipped(void *arg, const char *pos, const char *why)
{
    struct rec *r = arg;
    const char *open = strchr(why, '('), *close = open ? strchr(open, ')') : NULL;
    size_t used = strlen(r->skipped_types);

    (void)pos;
    r->skipped++;
    if (open != NULL && close != NULL)
        (void)snprintf(r->skipped_types + used, sizeof(r->skipped_types) - used, "%.*s,",
                       (int)(close - open - 1), open + 1);
    return TGH_OK;
}

static void
decode_text(struct rec *r, const char *text)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    struct source_export_sink sink = {
        .arg = r, .batch = rec_batch, .dead_letter = rec_dead, .skipped = rec_skipped
    };
    struct source_export_opts o = { .observed_at = OBSERVED };

    memset(r, 0, sizeof(*r));
    r->events = json_array();
    assert_non_null(f);
    assert_int_equal(source_botapi_decode_stream(f, "test", &o, &sink, NULL), TGH_OK);
    (void)fclose(f);
}

static const json_t *
event_of(const struct rec *r, int64_t chat, int64_t id, const char *op)
{
    size_t i;
    json_t *e;

    json_array_foreach (r->events, i, e) {
        if (json_integer_value(json_object_get(json_object_get(e, "chat"), "id")) == chat &&
            json_integer_value(json_object_get(e, "message_id")) == id &&
            strcmp(json_string_value(json_object_get(e, "op")), op) == 0)
            return e;
    }
    fail_msg("no %s event for %lld:%lld", op, (long long)chat, (long long)id);
    return NULL;
}

static const char *
str_at(const json_t *e, const char *a, const char *b)
{
    const json_t *v = json_object_get(e, a);

    return json_string_value(b != NULL ? json_object_get(v, b) : v);
}

static int64_t
int_at(const json_t *e, const char *a, const char *b)
{
    const json_t *v = json_object_get(e, a);

    return json_integer_value(b != NULL ? json_object_get(v, b) : v);
}

static void
test_every_update_type(void **state)
{
    json_t *all = load(FIX("botapi/updates.json"));
    char *text = json_dumps(all, JSON_COMPACT);
    const json_t *e;
    struct rec r;

    (void)state;
    decode_text(&r, text);
    /* 30 message-bearing updates (two deletions in one), 10 that carry no message */
    assert_int_equal(json_array_size(r.events), 30);
    assert_int_equal(r.dead, 0);
    assert_int_equal(r.skipped, 10);
    assert_string_equal(r.skipped_types,
                        "message_reaction,message_reaction_count,poll,poll_answer,my_chat_member,"
                        "chat_member,chat_join_request,callback_query,inline_query,chat_boost,");

    e = event_of(&r, 4242, 1, "upsert");
    assert_string_equal(str_at(e, "source", NULL), "botapi");
    assert_string_equal(str_at(e, "chat", "type"), "private");
    assert_string_equal(str_at(e, "chat", "title"), "Ann Lee");
    assert_string_equal(str_at(e, "sender", "name"), "Ann Lee");
    assert_int_equal(int_at(e, "sender", "id"), 4242);
    /* the edit replaces the message under the same key */
    e = json_array_get(r.events, 2);
    assert_string_equal(str_at(e, "text", NULL), "plain note, edited");
    assert_int_equal(int_at(e, "edit_date", NULL), 1717300100);
    assert_string_equal(str_at(e, "idempotency_key", NULL), "4242:1717300002:2");
    /* forward origins: user, hidden user, chat (anonymous admin), channel */
    e = event_of(&r, 4242, 3, "upsert");
    assert_string_equal(str_at(e, "forward", "from_type"), "user");
    assert_int_equal(int_at(e, "forward", "from_id"), 5550001);
    assert_string_equal(str_at(e, "forward", "from_name"), "Bo");
    e = event_of(&r, 4242, 4, "upsert");
    assert_string_equal(str_at(e, "forward", "from_name"), "Hidden Harry");
    assert_null(json_object_get(json_object_get(e, "forward"), "from_id"));
    e = event_of(&r, 4242, 5, "upsert");
    assert_int_equal(int_at(e, "forward", "from_id"), -1009876543210);
    e = event_of(&r, 4242, 6, "upsert");
    assert_int_equal(int_at(e, "forward", "from_id"), -1001234567890);
    assert_int_equal(int_at(e, "forward", "message_id"), 77);
    assert_int_equal(int_at(e, "forward", "date"), 1717200003);
    /* an album: both parts carry the group id */
    assert_int_equal(int_at(event_of(&r, 4242, 7, "upsert"), "album_id", NULL),
                     13542543546724532LL);
    assert_int_equal(int_at(event_of(&r, 4242, 8, "upsert"), "album_id", NULL),
                     13542543546724532LL);
    e = event_of(&r, 4242, 7, "upsert");
    assert_int_equal(int_at(e, "media", "width"), 1280);
    assert_string_equal(str_at(e, "media", "file_unique_id"), "AQADy7");
    assert_string_equal(str_at(e, "text", NULL), "album 1/2");
    /* each media kind */
    assert_string_equal(str_at(event_of(&r, 4242, 9, "upsert"), "media", "file_name"),
                        "tide_table.pdf");
    assert_string_equal(str_at(event_of(&r, 4242, 10, "upsert"), "media", "kind"), "voice");
    assert_int_equal(int_at(event_of(&r, 4242, 11, "upsert"), "media", "height"), 384);
    assert_string_equal(str_at(event_of(&r, 4242, 12, "upsert"), "media", "sticker_emoji"), "⚓");
    assert_string_equal(str_at(event_of(&r, 4242, 13, "upsert"), "media", "performer"),
                        "The Dockers");
    e = event_of(&r, 4242, 14, "upsert");
    assert_string_equal(str_at(e, "media", "kind"), "animation"); /* not its document */
    assert_true(json_is_true(json_object_get(json_object_get(e, "media"), "has_spoiler")));
    assert_string_equal(str_at(event_of(&r, 4242, 15, "upsert"), "poll", "question"),
                        "Which berth first?");
    assert_int_equal(int_at(event_of(&r, 4242, 16, "upsert"), "location", "live_period_s"), 900);
    assert_string_equal(str_at(event_of(&r, 4242, 17, "upsert"), "contact", "phone"), "15550100");
    assert_string_equal(str_at(event_of(&r, 4242, 18, "upsert"), "media", "kind"), "dice");
    e = event_of(&r, 4242, 19, "upsert");
    assert_string_equal(str_at(e, "via_bot", NULL), "@gif");
    assert_int_equal(int_at(e, "reply_to", "message_id"), 2);
    /* a channel post and its edit; buttons in the export's shape */
    e = event_of(&r, -1001234567890, 20, "upsert");
    assert_string_equal(str_at(e, "chat", "type"), "channel");
    assert_string_equal(str_at(e, "sender", "type"), "channel");
    assert_string_equal(str_at(json_array_get(json_array_get(json_object_get(e, "buttons"), 0), 1),
                               "dataBase64", NULL),
                        "eWVzKz8_Pw");
    /* a topic message: thread, and the topic's creation is not a reply */
    e = event_of(&r, -1009876543210, 21, "upsert");
    assert_int_equal(int_at(e, "thread_id", NULL), 51);
    assert_null(json_object_get(e, "reply_to"));
    /* service messages and a newer one kept by its field's name */
    assert_string_equal(str_at(event_of(&r, -1009876543210, 22, "upsert"), "action", "type"),
                        "invite_members");
    assert_string_equal(str_at(event_of(&r, -1009876543210, 23, "upsert"), "action", "type"),
                        "pin_message");
    assert_string_equal(str_at(event_of(&r, -1009876543210, 24, "upsert"), "action", "type"),
                        "gift");
    /* business messages, and their deletion as tombstones */
    assert_string_equal(str_at(event_of(&r, 777001, 25, "upsert"), "text", NULL), "hello business");
    event_of(&r, 777001, 25, "delete");
    event_of(&r, 777001, 26, "delete");

    json_decref(r.events);
    tgh_free(text);
    json_decref(all);
}

/* ---- errors ------------------------------------------------------------------ */

static void
expect_dead(const char *text, const char *what)
{
    struct rec r;

    decode_text(&r, text);
    if (r.dead != 1 || strstr(r.last_dead, what) == NULL)
        fail_msg("expected one dead letter with '%s', got %zu: %s", what, r.dead, r.last_dead);
    json_decref(r.events);
}

#define MSG_HEAD "{\"update_id\":1,\"message\":{\"message_id\":5,\"date\":1717300000,"
#define PRIV     "\"chat\":{\"id\":4242,\"type\":\"private\"}"

static void
test_malformed_updates(void **state)
{
    struct rec r;

    (void)state;
    expect_dead("[1]", "update: expected an Update object, got an integer");
    expect_dead("{\"message\":{}}", "update.update_id: required");
    expect_dead("{\"update_id\":\"7\"}", "update.update_id: expected an integer, got a string");
    expect_dead("{\"update_id\":-1}", "update.update_id: -1 is negative");
    expect_dead("{\"update_id\":1,\"message\":[]}", "update.message: expected an object");
    expect_dead("{\"update_id\":1,\"message\":{\"date\":1," PRIV "}}", "message_id: required");
    expect_dead("{\"update_id\":1,\"message\":{\"message_id\":5," PRIV "}}", "date: required");
    expect_dead(MSG_HEAD "\"text\":\"x\"}}", "chat: required");
    expect_dead(MSG_HEAD "\"chat\":{\"id\":-1001,\"type\":\"private\"}}}",
                "chat.id: -1001 is not the id of a private chat");
    expect_dead(MSG_HEAD "\"chat\":{\"id\":\"x\"}}}", "chat.id: expected an integer, got a string");
    expect_dead(MSG_HEAD PRIV ",\"text\":5}}", "text: expected a string, got an integer");
    expect_dead(MSG_HEAD PRIV ",\"text\":\"ab\",\"entities\":[{\"offset\":0,\"type\":\"bold\"}]}}",
                "entities[0].length: required");
    expect_dead(MSG_HEAD PRIV ",\"forward_origin\":{\"type\":\"user\"}}}",
                "forward_origin.sender_user: required");
    expect_dead(MSG_HEAD PRIV ",\"forward_origin\":{\"type\":\"channel\",\"chat\":{\"id\":0}}}}",
                "forward_origin.chat.id: 0 is not a chat id");
    expect_dead(MSG_HEAD PRIV ",\"photo\":[5]}}", "photo[0]: expected a PhotoSize object");
    expect_dead(MSG_HEAD PRIV ",\"location\":{\"latitude\":\"north\",\"longitude\":1}}}",
                "location.latitude: expected a number, got a string");
    expect_dead(MSG_HEAD PRIV ",\"reply_markup\":{\"inline_keyboard\":[5]}}}",
                "reply_markup.inline_keyboard[0]: expected an array of buttons");
    expect_dead("{\"update_id\":1,\"deleted_business_messages\":{" PRIV
                ",\"message_ids\":[\"3\"]}}",
                "message_ids[0]: expected a message id, got a string");
    /* an error response: reported as the Bot API's error, with its parameters */
    expect_dead("{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry "
                "after 5\",\"parameters\":{\"retry_after\":5}}",
                "Bot API error 429: Too Many Requests: retry after 5 (retry_after 5 s)");
    expect_dead("{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat was "
                "upgraded to a supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":"
                "-1001234567890}}",
                "(migrate_to_chat_id -1001234567890)");
    expect_dead("{\"ok\":true,\"result\":{\"id\":1}}", "expected an array of updates");
    /* not JSON: the good update after it is still mapped */
    decode_text(&r, "{\"update_id\":1,\"message\":{\n" MSG_HEAD PRIV ",\"text\":\"ok\"}}\n");
    assert_int_equal(r.dead, 1);
    assert_int_equal(json_array_size(r.events), 1);
    json_decref(r.events);
    /* unknown fields and newer update types are not errors */
    decode_text(&r, MSG_HEAD PRIV ",\"text\":\"ok\",\"brand_new\":{\"x\":1}}}\n"
                                  "{\"update_id\":2,\"future_update\":{\"a\":1}}\n"
                                  "{\"update_id\":3}");
    assert_int_equal(r.dead, 0);
    assert_int_equal(json_array_size(r.events), 1);
    assert_string_equal(r.skipped_types, "future_update,empty,");
    json_decref(r.events);
}

static void
test_response(void **state)
{
    struct source_botapi_error e;
    const json_t *res;
    json_t *v;

    (void)state;
    v = parse("{\"ok\":true,\"result\":[]}");
    assert_int_equal(source_botapi_response(v, &res, &e), TGH_OK);
    assert_true(json_is_array(res));
    json_decref(v);
    v = parse("{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests\","
              "\"parameters\":{\"retry_after\":3}}");
    assert_int_equal(source_botapi_response(v, &res, &e), TGH_EAGAIN);
    assert_int_equal(e.retry_after, 3);
    json_decref(v);
    v = parse("{\"ok\":false,\"error_code\":502,\"description\":\"Bad Gateway\"}");
    assert_int_equal(source_botapi_response(v, &res, &e), TGH_EUNAVAIL);
    json_decref(v);
    v = parse("{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}");
    assert_int_equal(source_botapi_response(v, &res, &e), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "Bot API error 401: Unauthorized");
    json_decref(v);
    v = parse("{\"message\":\"boom\"}");
    assert_int_equal(source_botapi_response(v, &res, &e), TGH_EPROTO);
    json_decref(v);
}

/* Dates in milliseconds (as the Bot API emulator writes them) are read as seconds. */
static void
test_millisecond_dates(void **state)
{
    struct rec r;

    (void)state;
    decode_text(&r, "{\"update_id\":1,\"message\":{\"message_id\":5,\"date\":1717300000123,"
                    "\"chat\":{\"id\":4242,\"type\":\"private\"},\"text\":\"x\"}}");
    assert_int_equal(json_array_size(r.events), 1);
    assert_int_equal(int_at(json_array_get(r.events, 0), "date", NULL), 1717300000);
    json_decref(r.events);
}

/* What can be repaired is: the message is an event, each repair a warning on it. */
static void
test_repairs_are_warnings(void **state)
{
    struct rec r;
    json_t *ev;

    (void)state;
    decode_text(&r, MSG_HEAD PRIV ",\"text\":\"ab\",\"entities\":[{\"offset\":0,\"length\":9,"
                                  "\"type\":\"bold\"},{\"offset\":7,\"length\":1,\"type\":"
                                  "\"italic\"}],\"has_media_spoiler\":\"false\"}}");
    assert_int_equal(json_array_size(r.events), 1);
    ev = json_array_get(r.events, 0);
    assert_int_equal(json_array_size(json_object_get(ev, "entities")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(ev, "entities"), 0), "length")),
                     2);
    {
        const char *want[] = { "bool_as_string", "entity_clipped", "entity_dropped" };
        json_t *w = json_object_get(ev, "warnings");

        assert_int_equal(json_array_size(w), 3);
        for (size_t i = 0; i < 3; i++)
            assert_string_equal(json_string_value(json_object_get(json_array_get(w, i), "kind")),
                                want[i]);
    }
    json_decref(r.events);
    /* content of a kind not known: kept under its name */
    decode_text(&r, MSG_HEAD PRIV ",\"hologram\":{\"depth\":3}}}");
    assert_int_equal(json_array_size(r.events), 1);
    ev = json_array_get(r.events, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "action"), "type")),
                        "hologram");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(ev, "warnings"), 0), "kind")),
                        "unknown_content");
    json_decref(r.events);
}

/* ---- the same post from the Bot API and from TDLib -------------------------- */

static void
hash_of_tdlib(json_t *msg, char out[MSG_HASH_HEX_LEN + 1])
{
    struct tgh_arena a;
    struct msg_event ev;
    tgh_err rc;

    tgh_arena_init(&a, 4096);
    rc = source_tdlib_map_message(msg, NULL, OBSERVED, &a, &ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(&ev);
    if (rc != TGH_OK)
        fail_msg("tdlib: %s", tgh_errmsg());
    memcpy(out, ev.content_hash, MSG_HASH_HEX_LEN + 1);
    msg_event_fini(&ev);
    tgh_arena_fini(&a);
}

static void
hash_of_botapi(const json_t *msg, char out[MSG_HASH_HEX_LEN + 1])
{
    struct tgh_arena a;
    struct msg_event ev;
    tgh_err rc;

    tgh_arena_init(&a, 4096);
    rc = source_botapi_map_message(msg, OBSERVED, &a, &ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(&ev);
    if (rc != TGH_OK)
        fail_msg("botapi: %s", tgh_errmsg());
    memcpy(out, ev.content_hash, MSG_HASH_HEX_LEN + 1);
    msg_event_fini(&ev);
    tgh_arena_fini(&a);
}

/*
 * cross_tdlib.json holds, per TDLib fixture, the same post as the Bot API
 * delivers it to a bot it was forwarded to (or, for service messages, in
 * the group): the content hash must agree, the ids and chat must not matter.
 */
static void
test_same_post_same_hash(void **state)
{
    json_t *cross = load(FIX("botapi/cross_tdlib.json")), *m;
    char a[MSG_HASH_HEX_LEN + 1], b[MSG_HASH_HEX_LEN + 1], path[512];
    const char *name;
    size_t n = 0;

    (void)state;
    json_object_foreach (cross, name, m) {
        json_t *td;

        if (strcmp(name, "text_entities_plain") == 0) {
            td = parse("{\"@type\":\"message\",\"id\":5242880,\"chat_id\":-1001234567890,"
                       "\"date\":1717232400,\"is_channel_post\":true,\"content\":{\"@type\":"
                       "\"messageText\",\"text\":{\"@type\":\"formattedText\",\"text\":\"Hi "
                       "bold https://t.me/harbor #tide\",\"entities\":[{\"@type\":\"textEntity\","
                       "\"offset\":3,\"length\":4,\"type\":{\"@type\":\"textEntityTypeBold\"}},"
                       "{\"@type\":\"textEntity\",\"offset\":8,\"length\":19,\"type\":{\"@type\":"
                       "\"textEntityTypeUrl\"}},{\"@type\":\"textEntity\",\"offset\":28,\"length\":"
                       "5,\"type\":{\"@type\":\"textEntityTypeHashtag\"}}]}}}");
        } else {
            (void)snprintf(path, sizeof(path), "%s/tdlib/%s.json", TGH_FIXTURES, name);
            td = load(path);
        }
        hash_of_tdlib(td, a);
        hash_of_botapi(m, b);
        if (strcmp(a, b) != 0)
            fail_msg("%s: TDLib %s, Bot API %s", name, a, b);
        json_decref(td);
        n++;
    }
    assert_int_equal(n, 18);
    /* and a changed caption is a different content */
    m = json_deep_copy(json_object_get(cross, "document"));
    (void)json_object_set_new(m, "caption", json_string("Tide table for July"));
    hash_of_botapi(json_object_get(cross, "document"), a);
    hash_of_botapi(m, b);
    assert_string_not_equal(a, b);
    json_decref(m);
    json_decref(cross);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_update_type),
        cmocka_unit_test(test_malformed_updates),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_millisecond_dates),
        cmocka_unit_test(test_repairs_are_warnings),
        cmocka_unit_test(test_same_post_same_hash),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
