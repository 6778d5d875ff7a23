/* SPDX-License-Identifier: MIT */
/*
 * test_tdlib_map.c - TDLib `message` objects (tests/fixtures/tdlib/) mapped
 * onto events: every content type, the links (forwards, replies, threads,
 * albums), engagement, buttons, chat types, and the errors that name the
 * field at fault.
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

#define FIX(name) TGH_FIXTURES "/tdlib/" name
#define OBSERVED  1717300000
#define MID(n)    ((int64_t)(n) << 20)

struct fx {
    struct tgh_arena a;
    struct msg_event ev;
    json_t *msg;
};

static int
setup(void **state)
{
    struct fx *fx = tgh_calloc(1, sizeof(*fx));

    tgh_arena_init(&fx->a, 4096);
    msg_event_init(&fx->ev);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;

    msg_event_fini(&fx->ev);
    json_decref(fx->msg);
    tgh_arena_fini(&fx->a);
    tgh_free(fx);
    return 0;
}

static json_t *
load(const char *path)
{
    json_error_t jerr;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

    if (v == NULL)
        fail_msg("%s: %s", path, jerr.text);
    return v;
}

/* Map (and finalize) the message of fixture path or of JSON text; the result must be OK. */
static struct msg_event *
map_msg(struct fx *fx, json_t *msg, const struct source_tdlib_chat *chat)
{
    tgh_err rc;

    msg_event_fini(&fx->ev);
    json_decref(fx->msg);
    fx->msg = msg;
    rc = source_tdlib_map_message(fx->msg, chat, OBSERVED, &fx->a, &fx->ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(&fx->ev);
    if (rc != TGH_OK)
        fail_msg("map: %s: %s", tgh_err_name(rc), tgh_errmsg());
    return &fx->ev;
}

static struct msg_event *
map_fix(struct fx *fx, const char *path)
{
    return map_msg(fx, load(path), NULL);
}

/* Map text that must fail with code; the recorded detail must contain what. */
static void
map_fails(struct fx *fx, json_t *msg, tgh_err code, const char *what)
{
    tgh_err rc;

    msg_event_fini(&fx->ev);
    json_decref(fx->msg);
    fx->msg = msg;
    rc = source_tdlib_map_message(fx->msg, NULL, OBSERVED, &fx->a, &fx->ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(&fx->ev);
    if (rc != code || strstr(tgh_errmsg(), what) == NULL)
        fail_msg("expected %s with '%s', got %s: %s", tgh_err_name(code), what, tgh_err_name(rc),
                 tgh_errmsg());
}

static json_t *
parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

    if (v == NULL)
        fail_msg("bad test JSON: %s", jerr.text);
    return v;
}

/* A small valid message of a supergroup, to be changed by a test. */
static json_t *
base_msg(void)
{
    return parse(
        "{\"@type\":\"message\",\"id\":5242880,\"chat_id\":-1009876543210,\"date\":1717232400,"
        "\"sender_id\":{\"@type\":\"messageSenderUser\",\"user_id\":42},"
        "\"content\":{\"@type\":\"messageText\",\"text\":{\"@type\":\"formattedText\","
        "\"text\":\"hello\",\"entities\":[]}}}");
}

static json_t *
with(json_t *msg, const char *key, const char *value_json)
{
    (void)json_object_set_new(msg, key, parse(value_json));
    return msg;
}

static void
assert_params(const struct msg_event *ev, const char *want)
{
    json_t *w = want != NULL ? parse(want) : NULL;

    if (want == NULL) {
        assert_null(ev->action_params);
        return;
    }
    if (!json_equal(w, ev->action_params)) {
        char *got = json_dumps(ev->action_params, JSON_COMPACT | JSON_SORT_KEYS);

        json_decref(w);
        fail_msg("%s params: expected %s, got %s", ev->action, want, got ? got : "null");
    }
    json_decref(w);
}

/* ---- ids ---------------------------------------------------------------------- */

static void
test_ids_shift_by_20_bits(void **state)
{
    (void)state;
    assert_int_equal(source_tdlib_msg_id(1), 1048576);
    assert_int_equal(source_tdlib_msg_id(12345), INT64_C(12345) << 20);
    assert_int_equal(source_tdlib_server_id(INT64_C(12345) << 20), 12345);
    assert_int_equal(source_tdlib_server_id(source_tdlib_msg_id(2147483647)), 2147483647);
    assert_int_equal(source_tdlib_server_id(1048577), 0);     /* local / yet unsent */
    assert_int_equal(source_tdlib_server_id(1048576 + 4), 0); /* scheduled */
    assert_int_equal(source_tdlib_server_id(0), 0);
    assert_int_equal(source_tdlib_server_id(-1048576), 0);
    assert_int_equal(source_tdlib_msg_id(0), 0);
    assert_int_equal(source_tdlib_msg_id(-5), 0);
    assert_int_equal(source_tdlib_msg_id(INT64_MAX), 0);
}

/* ---- text --------------------------------------------------------------------- */

static const struct msg_entity *
entity_of(const struct msg_event *ev, const char *type, size_t nth)
{
    for (size_t i = 0; i < ev->n_entities; i++)
        if (strcmp(ev->entities[i].type, type) == 0 && nth-- == 0)
            return &ev->entities[i];
    fail_msg("no entity %s", type);
    return NULL;
}

static void
test_text_entities_take_the_export_names(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("text_entities.json"));
    static const char *const names[] = {
        "bold",        "italic",     "underline",  "strikethrough", "spoiler",      "code",
        "pre",         "pre",        "text_link",  "mention_name",  "custom_emoji", "link",
        "email",       "phone",      "bank_card",  "mention",       "hashtag",      "cashtag",
        "bot_command", "blockquote", "blockquote", "date_time"
    };
    const struct msg_entity *e;

    assert_int_equal(ev->source, MSG_SOURCE_TDLIB);
    assert_int_equal(ev->op, MSG_OP_UPSERT);
    assert_int_equal(ev->message_id, 10);
    assert_int_equal(ev->date, 1717232410);
    assert_int_equal(ev->edit_date, 1717240000);
    assert_int_equal(ev->observed_at, OBSERVED);
    assert_string_equal(ev->author_signature, "Ada Example");
    assert_true(strncmp(ev->text, "Hi 👋 bold é😀x", strlen("Hi 👋 bold é😀x")) == 0);
    /* 23 entities in, the media timestamp (TDLib's own reading of "1:23") dropped */
    assert_int_equal(ev->n_entities, sizeof(names) / sizeof(names[0]));
    for (size_t i = 0; i < ev->n_entities; i++)
        assert_string_equal(ev->entities[i].type, names[i]);
    e = entity_of(ev, "bold", 0);
    assert_int_equal(e->offset, 6); /* 👋 is two UTF-16 units */
    assert_int_equal(e->length, 4);
    assert_null(e->text); /* TDLib gives no covered text; derivable anyway */
    assert_int_equal(entity_of(ev, "italic", 0)->length, 4);
    assert_string_equal(entity_of(ev, "pre", 0)->language, ""); /* as Desktop writes it */
    assert_string_equal(entity_of(ev, "pre", 1)->language, "c");
    assert_string_equal(entity_of(ev, "text_link", 0)->href, "https://example.org/docs");
    assert_int_equal(entity_of(ev, "mention_name", 0)->user_id, 123456789);
    assert_string_equal(entity_of(ev, "custom_emoji", 0)->custom_emoji_id, "5368324170671202286");
    assert_int_equal(entity_of(ev, "code", 0)->user_id, MSG_UNSET);
}

static void
test_text_and_raw_are_references(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("text_entities.json"));
    json_t *text =
        json_object_get(json_object_get(json_object_get(fx->msg, "content"), "text"), "text");

    assert_ptr_equal(ev->raw, fx->msg);
    assert_int_equal(fx->msg->refcount, 2);
    assert_ptr_equal(ev->text, json_string_value(text)); /* not copied */
}

static void
test_empty_text_is_no_text(void **state)
{
    json_t *m = base_msg();

    (void)json_object_set_new(json_object_get(json_object_get(m, "content"), "text"), "text",
                              json_string(""));
    assert_null(map_msg(*state, m, NULL)->text);
}

/* ---- media -------------------------------------------------------------------- */

static void
test_photo_largest_size_caption_spoiler_album(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("photo.json"));

    assert_non_null(ev->media);
    assert_string_equal(ev->media->kind, "photo");
    /* 1280x960 and 960x1280 have the same area: the first one wins, as in Desktop */
    assert_int_equal(ev->media->width, 1280);
    assert_int_equal(ev->media->height, 960);
    assert_int_equal(ev->media->size_bytes, 250000);
    assert_string_equal(ev->media->file_unique_id, "AQADy");
    assert_true(ev->media->has_spoiler);
    assert_null(ev->media->file_name);
    assert_null(ev->media->mime_type);
    assert_string_equal(ev->text, "Crane seven at berth 4");
    assert_int_equal(ev->n_entities, 1);
    assert_string_equal(ev->entities[0].type, "bold");
    assert_int_equal(ev->entities[0].offset, 6);
    assert_int_equal(ev->album_id, INT64_C(13542543546724532));
}

static void
test_video(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("video.json"));

    assert_string_equal(ev->media->kind, "video");
    assert_string_equal(ev->media->file_name, "harbour.mp4");
    assert_string_equal(ev->media->mime_type, "video/mp4");
    assert_int_equal(ev->media->duration_s, 42);
    assert_int_equal(ev->media->width, 1920);
    assert_int_equal(ev->media->height, 1080);
    assert_int_equal(ev->media->size_bytes, 7340032);
    assert_string_equal(ev->media->file_unique_id, "BAADvideo");
    assert_false(ev->media->has_spoiler);
    assert_string_equal(ev->text, "Tugboats");
}

static void
test_document(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("document.json"));

    assert_string_equal(ev->media->kind, "document");
    assert_string_equal(ev->media->file_name, "tide_table.pdf");
    assert_string_equal(ev->media->mime_type, "application/pdf");
    assert_int_equal(ev->media->size_bytes, 48213);
    assert_int_equal(ev->media->duration_s, MSG_UNSET);
    assert_int_equal(ev->media->width, MSG_UNSET);
    assert_string_equal(ev->text, "Tide table for June");
    assert_string_equal(ev->entities[0].type, "italic");
}

static void
test_audio(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("audio.json"));

    assert_string_equal(ev->media->kind, "audio");
    assert_string_equal(ev->media->performer, "The Dockers");
    assert_string_equal(ev->media->title, "Sea Shanty");
    assert_string_equal(ev->media->file_name, "shanty.mp3");
    assert_int_equal(ev->media->duration_s, 215);
    assert_null(ev->text); /* an empty caption */
}

static void
test_voice_note(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("voice_note.json"));

    assert_string_equal(ev->media->kind, "voice");
    assert_string_equal(ev->media->mime_type, "audio/ogg");
    assert_int_equal(ev->media->duration_s, 7);
    assert_string_equal(ev->media->file_unique_id, "AwADvoice");
    assert_string_equal(ev->text, "listen");
}

static void
test_video_note_is_square(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("video_note.json"));

    assert_string_equal(ev->media->kind, "video_note");
    assert_int_equal(ev->media->width, 384);
    assert_int_equal(ev->media->height, 384);
    assert_int_equal(ev->media->duration_s, 12);
    assert_null(ev->media->mime_type);
}

static void
test_animation(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("animation.json"));

    assert_string_equal(ev->media->kind, "animation");
    assert_string_equal(ev->media->file_name, "gull.mp4");
    assert_int_equal(ev->media->duration_s, 3);
    assert_int_equal(ev->media->width, 480);
    assert_true(ev->media->has_spoiler);
    assert_null(ev->text);
}

static void
test_sticker(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("sticker.json"));

    assert_string_equal(ev->media->kind, "sticker");
    assert_string_equal(ev->media->sticker_emoji, "⚓");
    assert_int_equal(ev->media->width, 512);
    assert_int_equal(ev->media->height, 512);
    assert_string_equal(ev->media->file_unique_id, "CAADsticker");
}

static void
test_dice_is_media_kind_dice(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("dice.json"));

    assert_string_equal(ev->media->kind, "dice");
    assert_string_equal(ev->media->sticker_emoji, "🎲");
    assert_null(ev->action);
}

static void
test_animated_emoji_is_its_text(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("animated_emoji.json"));

    assert_string_equal(ev->text, "👍");
    assert_null(ev->media);
}

static void
test_unsupported_and_unknown_content_are_kept(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("unsupported.json"));

    assert_string_equal(ev->media->kind, "unsupported");
    assert_non_null(ev->raw);
    ev = map_fix(fx, FIX("game.json"));
    assert_string_equal(ev->media->kind, "game");
    /* a content type newer than the mapper: a service action named after it */
    ev = map_fix(fx, FIX("unknown_content.json"));
    assert_string_equal(ev->action, "hologram");
    /* the file inside is reduced to its remote unique id: no session ids, no download state */
    assert_params(ev,
                  "{\"projector\":{\"@type\":\"projector\",\"lumens\":9000},\"file\":\"HOLO\"}");
}

/* Every type of the mapper's sorted tables is found: a row out of order would not be. */
static void
test_every_known_type_is_found(void **state)
{
    static const struct {
        const char *type, *kind, *action;
    } cases[] = {
        { "messageAnimation", "animation", NULL },
        { "messageAudio", "audio", NULL },
        { "messageChecklist", "checklist", NULL },
        { "messageDice", "dice", NULL },
        { "messageDocument", "document", NULL },
        { "messageExpiredPhoto", "expired_photo", NULL },
        { "messageExpiredVideo", "expired_video", NULL },
        { "messageExpiredVideoNote", "expired_video_note", NULL },
        { "messageExpiredVoiceNote", "expired_voice_note", NULL },
        { "messageGame", "game", NULL },
        { "messageGiveaway", "giveaway", NULL },
        { "messageGiveawayWinners", "giveaway_winners", NULL },
        { "messageInvoice", "invoice", NULL },
        { "messagePaidMedia", "paid_media", NULL },
        { "messagePhoto", "photo", NULL },
        { "messageRichMessage", "rich_message", NULL },
        { "messageStakeDice", "stake_dice", NULL },
        { "messageSticker", "sticker", NULL },
        { "messageStory", "story", NULL },
        { "messageUnsupported", "unsupported", NULL },
        { "messageVideo", "video", NULL },
        { "messageVideoNote", "video_note", NULL },
        { "messageVoiceNote", "voice", NULL },
        { "messageBasicGroupChatCreate", NULL, "create_group" },
        { "messageCall", NULL, "phone_call" },
        { "messageChatAddMembers", NULL, "invite_members" },
        { "messageChatBoost", NULL, "boost_apply" },
        { "messageChatChangePhoto", NULL, "edit_group_photo" },
        { "messageChatChangeTitle", NULL, "edit_group_title" },
        { "messageChatDeleteMember", NULL, "remove_members" },
        { "messageChatDeletePhoto", NULL, "delete_group_photo" },
        { "messageChatJoinByLink", NULL, "join_group_by_link" },
        { "messageChatJoinByRequest", NULL, "join_group_by_request" },
        { "messageChatSetMessageAutoDeleteTime", NULL, "set_messages_ttl" },
        { "messageChatUpgradeFrom", NULL, "migrate_from_group" },
        { "messageChatUpgradeTo", NULL, "migrate_to_supergroup" },
        { "messageContactRegistered", NULL, "joined_telegram" },
        { "messageCustomServiceAction", NULL, "custom_action" },
        { "messageForumTopicCreated", NULL, "topic_created" },
        { "messageForumTopicEdited", NULL, "topic_edit" },
        { "messageGameScore", NULL, "score_in_game" },
        { "messageInviteVideoChatParticipants", NULL, "invite_to_group_call" },
        { "messagePinMessage", NULL, "pin_message" },
        { "messageScreenshotTaken", NULL, "take_screenshot" },
        { "messageSupergroupChatCreate", NULL, "create_channel" },
        { "messageVideoChatEnded", NULL, "group_call" },
        { "messageVideoChatScheduled", NULL, "group_call_scheduled" },
        { "messageVideoChatStarted", NULL, "group_call" },
        { "messageChatOwnerLeft", NULL, "chat_owner_left" },
    };
    struct fx *fx = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char content[128];
        struct msg_event *ev;

        (void)snprintf(content, sizeof(content), "{\"@type\":\"%s\"}", cases[i].type);
        ev = map_msg(fx, with(base_msg(), "content", content), NULL);
        if (cases[i].kind != NULL) {
            assert_non_null(ev->media);
            assert_string_equal(ev->media->kind, cases[i].kind);
            assert_null(ev->action);
        } else {
            assert_non_null(ev->action);
            assert_string_equal(ev->action, cases[i].action);
            assert_null(ev->media);
        }
    }
}

/* ---- structured content ------------------------------------------------------- */

static void
test_poll_formatted_text(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("poll.json"));
    const struct msg_poll *p = ev->poll;

    assert_non_null(p);
    assert_string_equal(p->question, "Which berth first?");
    assert_true(p->closed);
    assert_int_equal(p->total_voters, 8);
    assert_int_equal(p->n_answers, 3);
    assert_string_equal(p->answers[1].text, "Berth 2 ⚓");
    assert_int_equal(p->answers[1].voters, 5);
    assert_true(p->answers[1].chosen);
    assert_false(p->answers[0].chosen);
    assert_int_equal(p->answers[2].voters, 0);
    assert_null(ev->media);
    assert_int_equal(ev->n_entities, 0); /* the question's entities are not the message's */
}

static void
test_poll_old_strings(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("poll_old.json"));

    assert_string_equal(ev->poll->question, "Old style?");
    assert_false(ev->poll->closed);
    assert_int_equal(ev->poll->n_answers, 2);
    assert_string_equal(ev->poll->answers[0].text, "yes");
    assert_int_equal(ev->poll->answers[0].voters, 1);
}

static void
test_location(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("location.json"));

    assert_non_null(ev->location);
    assert_true(ev->location->latitude > 53.54 && ev->location->latitude < 53.55);
    assert_true(ev->location->longitude > 9.96 && ev->location->longitude < 9.97);
    assert_int_equal(ev->location->live_period_s, MSG_UNSET);
    ev = map_fix(fx, FIX("location_old_live.json"));
    assert_int_equal(ev->location->live_period_s, 900);
}

static void
test_live_location(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("live_location.json"));

    assert_true(ev->location->latitude < -33.85 && ev->location->latitude > -33.86);
    assert_true(ev->location->longitude > 151.21);
    assert_int_equal(ev->location->live_period_s, 3600);
}

static void
test_venue(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("venue.json"));

    assert_string_equal(ev->location->venue_title, "Elbphilharmonie");
    assert_string_equal(ev->location->address, "Platz der Deutschen Einheit 4");
    assert_true(ev->location->latitude > 53.5);
}

static void
test_contact(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("contact.json"));

    assert_non_null(ev->contact);
    assert_string_equal(ev->contact->first_name, "Harbour");
    assert_string_equal(ev->contact->last_name, "Master");
    assert_string_equal(ev->contact->phone, "15550100");
    assert_int_equal(ev->contact->user_id, 424242);
    assert_non_null(strstr(ev->contact->vcard, "BEGIN:VCARD"));
}

/* ---- service messages --------------------------------------------------------- */

static void
test_service_actions(void **state)
{
    static const struct {
        const char *fixture, *action, *params;
    } cases[] = {
        { "service_pin_message.json", "pin_message", "{\"message_id\":12}" },
        { "service_add_members.json", "invite_members", "{\"member_user_ids\":[111,222]}" },
        { "service_delete_member.json", "remove_members", "{\"user_id\":222}" },
        { "service_change_title.json", "edit_group_title", "{\"title\":\"Harbour Ops\"}" },
        { "service_delete_photo.json", "delete_group_photo", NULL },
        { "service_join_by_link.json", "join_group_by_link", NULL },
        { "service_basic_group_create.json", "create_group",
          "{\"title\":\"Harbour Ops\",\"member_user_ids\":[111,222,333]}" },
        { "service_supergroup_create.json", "create_channel", "{\"title\":\"Harbour Watch\"}" },
        { "service_upgrade_to.json", "migrate_to_supergroup", NULL },
        { "service_upgrade_from.json", "migrate_from_group", "{\"title\":\"Harbour Ops\"}" },
        { "service_topic_created.json", "topic_created", "{\"title\":\"Berth 4\"}" },
        { "service_topic_edited.json", "topic_edit",
          "{\"new_title\":\"Berth 4 (north)\",\"new_icon_emoji_id\":5368324170671202286}" },
        { "service_call.json", "phone_call",
          "{\"duration_seconds\":95,\"discard_reason\":\"hangup\"}" },
        { "service_auto_delete.json", "set_messages_ttl", "{\"period\":86400}" },
        { "service_unknown.json", "harbour_closed", "{\"reason\":\"storm\",\"until\":1717300000}" },
    };
    struct fx *fx = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        struct msg_event *ev;

        (void)snprintf(path, sizeof(path), "%s/tdlib/%s", TGH_FIXTURES, cases[i].fixture);
        ev = map_fix(fx, path);
        assert_non_null(ev->action);
        assert_string_equal(ev->action, cases[i].action);
        assert_params(ev, cases[i].params);
        assert_null(ev->media);
        assert_null(ev->text);
        assert_int_equal(ev->sender_id, 777000111);
    }
}

/* Files in params are their remote unique ids: TDLib's local ids and paths change. */
static void
test_service_params_keep_no_local_file_state(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("service_change_photo.json"));
    char *dump;

    assert_string_equal(ev->action, "edit_group_photo");
    dump = json_dumps(ev->action_params, JSON_COMPACT);
    assert_non_null(strstr(dump, "\"photo\":\"AQADchatC\""));
    assert_null(strstr(dump, "/var/lib/tdlib"));
    assert_null(strstr(dump, "localFile"));
    free(dump); /* jansson's allocation */
    ev = map_fix(fx, FIX("service_set_background.json"));
    assert_string_equal(ev->action, "chat_set_background");
    dump = json_dumps(ev->action_params, JSON_COMPACT);
    assert_non_null(strstr(dump, "\"document\":\"BQADbg\""));
    assert_null(strstr(dump, "wallpapers"));
    free(dump);
}

/* ---- links -------------------------------------------------------------------- */

static void
test_forward_from_channel(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("forward_channel.json"));

    assert_int_equal(ev->forward_from_id, INT64_C(-1001111111111));
    assert_int_equal(ev->forward_from_type, MSG_PEER_CHANNEL);
    assert_int_equal(ev->forward_message_id, 77); /* a server id, not TDLib's */
    assert_int_equal(ev->forward_date, 1717000000);
    assert_null(ev->forward_from_name);
}

static void
test_forward_from_user_hidden_user_and_chat(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("forward_user.json"));

    assert_int_equal(ev->forward_from_id, 5550001);
    assert_int_equal(ev->forward_from_type, MSG_PEER_USER);
    assert_int_equal(ev->forward_message_id, MSG_UNSET);
    ev = map_fix(fx, FIX("forward_hidden_user.json"));
    assert_string_equal(ev->forward_from_name, "Anon Sailor");
    assert_int_equal(ev->forward_from_id, MSG_UNSET);
    assert_int_equal(ev->forward_date, 1716000001);
    ev = map_fix(fx, FIX("forward_chat.json"));
    assert_int_equal(ev->forward_from_id, -4001234);
    assert_int_equal(ev->forward_from_type, MSG_PEER_CHAT);
    ev = map_fix(fx, FIX("forward_old_origin.json")); /* messageForwardOriginChannel */
    assert_int_equal(ev->forward_from_id, INT64_C(-1002222222222));
    assert_int_equal(ev->forward_message_id, 9);
}

static void
test_reply_same_chat_and_cross_chat(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("reply.json"));

    assert_int_equal(ev->reply_to_message_id, 61);
    assert_int_equal(ev->reply_to_chat_id, MSG_UNSET); /* same chat */
    ev = map_fix(fx, FIX("reply_cross_chat.json"));
    assert_int_equal(ev->reply_to_message_id, 12);
    assert_int_equal(ev->reply_to_chat_id, INT64_C(-1001234567890));
    ev = map_fix(fx, FIX("reply_story.json"));
    assert_int_equal(ev->reply_to_message_id, MSG_UNSET);
    ev = map_fix(fx, FIX("reply_old.json")); /* reply_in_chat_id, reply_to_message_id */
    assert_int_equal(ev->reply_to_message_id, 11);
    assert_int_equal(ev->reply_to_chat_id, INT64_C(-1001234567890));
}

static void
test_threads(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_fix(fx, FIX("thread_forum.json"));

    assert_int_equal(ev->thread_id, 51); /* forum_topic_id is not shifted */
    assert_int_equal(ev->reply_to_message_id, 51);
    ev = map_fix(fx, FIX("thread_comment.json"));
    assert_int_equal(ev->thread_id, 12); /* message_thread_id is */
    ev = map_fix(fx, FIX("thread_old.json"));
    assert_int_equal(ev->thread_id, 51);
    ev = map_msg(fx,
                 with(base_msg(), "topic_id",
                      "{\"@type\":\"messageTopicSavedMessages\",\"saved_messages_topic_id\":3}"),
                 NULL);
    assert_int_equal(ev->thread_id, MSG_UNSET);
}

static void
test_album(void **state)
{
    struct fx *fx = *state;
    json_t *page = load(FIX("album.json"));
    json_t *list = json_object_get(page, "messages");

    for (size_t i = 0; i < 3; i++) {
        struct msg_event *ev = map_msg(fx, json_incref(json_array_get(list, i)), NULL);

        assert_int_equal(ev->album_id, INT64_C(13542543546724999));
        assert_int_equal(ev->message_id, 80 + (int64_t)i);
        assert_string_equal(ev->media->kind, "photo");
        if (i == 0)
            assert_string_equal(ev->text, "the whole berth");
        else
            assert_null(ev->text);
    }
    json_decref(page);
}

/* ---- engagement, buttons, chats ----------------------------------------------- */

static void
test_interaction_info(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("interaction.json"));

    assert_int_equal(ev->views, 12345);
    assert_int_equal(ev->forwards, 67);
    assert_int_equal(ev->replies, 8);
    assert_true(ev->has_reactions);
    assert_int_equal(ev->n_reactions, 4);
    assert_string_equal(ev->reactions[0].type, "emoji");
    assert_string_equal(ev->reactions[0].emoji, "👍");
    assert_int_equal(ev->reactions[0].count, 40);
    assert_string_equal(ev->reactions[1].type, "custom_emoji");
    assert_string_equal(ev->reactions[1].custom_emoji_id, "5368324170671202286");
    assert_string_equal(ev->reactions[2].type, "paid");
    assert_int_equal(ev->reactions[2].count, 25);
    assert_string_equal(ev->reactions[3].type, "sparkle"); /* newer: named after TDLib's */
}

static void
test_views_only_for_channel_posts(void **state)
{
    struct fx *fx = *state;
    struct msg_event *ev = map_msg(
        fx,
        with(
            base_msg(), "interaction_info",
            "{\"@type\":\"messageInteractionInfo\",\"view_count\":0,\"forward_count\":0,"
            "\"reply_info\":null,\"reactions\":{\"@type\":\"messageReactions\",\"reactions\":[]}}"),
        NULL);

    assert_int_equal(ev->views, MSG_UNSET); /* not counted outside channels */
    assert_int_equal(ev->forwards, MSG_UNSET);
    assert_int_equal(ev->replies, MSG_UNSET);
    assert_true(ev->has_reactions); /* known to have none */
    assert_int_equal(ev->n_reactions, 0);
    ev = map_fix(fx, FIX("sticker.json")); /* interaction_info null */
    assert_false(ev->has_reactions);
    assert_int_equal(ev->views, MSG_UNSET);
}

static void
test_inline_buttons_in_the_export_shape(void **state)
{
    struct msg_event *ev = map_fix(*state, FIX("buttons.json"));
    json_t *want = parse(
        "[[{\"type\":\"url\",\"text\":\"Open\",\"data\":\"https://example.org\"},"
        "{\"type\":\"callback\",\"text\":\"Yes\",\"dataBase64\":\"eWVzKz8_Pw\",\"data\":\"\"}],"
        "[{\"type\":\"auth\",\"text\":\"Login\",\"data\":\"https://example.org/login\","
        "\"forward_text\":\"Log in\",\"button_id\":17},"
        "{\"type\":\"switch_inline_same\",\"text\":\"Share\",\"data\":\"tide\"},"
        "{\"type\":\"switch_inline\",\"text\":\"Share anywhere\"}],"
        "[{\"type\":\"user_profile\",\"text\":\"Profile\",\"data\":\"5550001\"},"
        "{\"type\":\"copy_text\",\"text\":\"Copy\",\"data\":\"ABC-123\"},"
        "{\"type\":\"buy\",\"text\":\"Pay\"},"
        "{\"type\":\"web_view\",\"text\":\"App\",\"data\":\"https://example.org/app\"},"
        "{\"type\":\"teleport\",\"text\":\"Future\"}]]");

    assert_non_null(ev->buttons);
    if (!json_equal(want, ev->buttons)) {
        char *got = json_dumps(ev->buttons, JSON_COMPACT);

        fail_msg("buttons: %s", got);
    }
    json_decref(want);
    assert_null(ev->via_bot); /* TDLib gives the bot's id, the event wants its @username */
}

static void
test_chat_types_from_ids(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(map_fix(fx, FIX("text_entities.json"))->chat_type, MSG_CHAT_CHANNEL);
    assert_int_equal(map_fix(fx, FIX("reply.json"))->chat_type, MSG_CHAT_SUPERGROUP);
    assert_int_equal(map_fix(fx, FIX("basic_group.json"))->chat_type, MSG_CHAT_GROUP);
    assert_int_equal(map_fix(fx, FIX("private_chat.json"))->chat_type, MSG_CHAT_PRIVATE);
    assert_int_equal(fx->ev.sender_type, MSG_PEER_USER);
    assert_null(fx->ev.sender_name); /* TDLib messages carry no names */
    assert_int_equal(map_fix(fx, FIX("text_entities.json"))->sender_type, MSG_PEER_CHANNEL);
}

static void
test_chat_from_the_caller(void **state)
{
    struct fx *fx = *state;
    char title[] = "Harbour Ops";
    struct source_tdlib_chat chat = { INT64_C(-1009876543210), MSG_CHAT_SUPERGROUP, title,
                                      "harbour_ops" };
    struct source_tdlib_chat bot = { 5550001, MSG_CHAT_BOT, NULL, NULL };
    struct source_tdlib_chat other = { -4001234, MSG_CHAT_GROUP, NULL, NULL };
    struct msg_event *ev = map_msg(fx, base_msg(), &chat);

    title[0] = 'X'; /* the caller's strings are copied */
    assert_string_equal(ev->chat_title, "Harbour Ops");
    assert_string_equal(ev->chat_username, "harbour_ops");
    assert_int_equal(ev->chat_type, MSG_CHAT_SUPERGROUP);
    ev = map_msg(fx, load(FIX("private_chat.json")), &bot);
    assert_int_equal(ev->chat_type, MSG_CHAT_BOT);
    msg_event_fini(&fx->ev);
    json_decref(fx->msg);
    fx->msg = base_msg();
    assert_int_equal(source_tdlib_map_message(fx->msg, &other, OBSERVED, &fx->a, &fx->ev),
                     TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "chat_id: -1009876543210 is not the chat -4001234"));
}

/* ---- tolerance and errors ----------------------------------------------------- */

static void
test_unknown_fields_and_nulls_are_ignored(void **state)
{
    json_t *m = with(base_msg(), "brand_new_field", "{\"deep\":[1,2,{\"x\":true}]}");
    struct msg_event *ev;

    m = with(m, "forward_info", "null");
    m = with(m, "reply_to", "null");
    m = with(m, "reply_markup", "{\"@type\":\"replyMarkupShowKeyboard\",\"rows\":[]}");
    ev = map_msg(*state, m, NULL);
    assert_string_equal(ev->text, "hello");
    assert_null(ev->buttons); /* only inline keyboards are the export's buttons */
    assert_int_equal(ev->forward_from_id, MSG_UNSET);
}

static void
test_errors_name_the_field(void **state)
{
    static const struct {
        const char *fixture, *what;
        tgh_err code;
    } cases[] = {
        { "bad_local_id.json", "id: 99614721 is not a server message id", TGH_EPROTO },
        { "bad_chat_id_type.json", "chat_id: expected an integer, got a string", TGH_EPROTO },
        { "bad_forward_origin.json", "forward_info.origin.chat_id: expected an integer",
          TGH_EPROTO },
        { "bad_no_date.json", "date: required", TGH_EPROTO },
        { "bad_no_content.json", "content: required", TGH_EPROTO },
        { "bad_album_id.json", "media_album_id: expected an int64 string, got a real", TGH_EPROTO },
        { "bad_reply_local.json", "reply_to.message_id: 5242883 is not a server message id",
          TGH_EPROTO },
    };
    struct fx *fx = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];

        (void)snprintf(path, sizeof(path), "%s/tdlib/%s", TGH_FIXTURES, cases[i].fixture);
        map_fails(fx, load(path), cases[i].code, cases[i].what);
    }
}

/* The kind of warning i of ev, or "" when there is none. */
static const char *
warning_kind(const struct msg_event *ev, size_t i)
{
    const char *k = json_string_value(json_object_get(json_array_get(ev->warnings, i), "kind"));

    return k != NULL ? k : "";
}

/* What can be repaired is: the message maps, and each repair is a warning on it. */
static void
test_repairs_are_warnings(void **state)
{
    struct fx *fx = *state;
    char path[256];
    struct msg_event *ev;

    (void)snprintf(path, sizeof(path), "%s/tdlib/repair_entity_bounds.json", TGH_FIXTURES);
    ev = map_fix(fx, path); /* "short" with a bold entity at 2+10 */
    assert_int_equal(ev->n_entities, 1);
    assert_int_equal(ev->entities[0].offset, 2);
    assert_int_equal(ev->entities[0].length, 3);
    assert_string_equal(warning_kind(ev, 0), "entity_clipped");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(ev->warnings, 0), "path")),
               "entities[0]"));
    ev = map_msg(fx,
                 with(base_msg(), "content",
                      "{\"@type\":\"messageText\",\"text\":{\"@type\":\"formattedText\","
                      "\"text\":\"ab\",\"entities\":[{\"@type\":\"textEntity\",\"offset\":5,"
                      "\"length\":1,\"type\":{\"@type\":\"textEntityTypeBold\"}}]}}"),
                 NULL);
    assert_int_equal(ev->n_entities, 0);
    assert_string_equal(warning_kind(ev, 0), "entity_dropped");
    ev = map_msg(fx, with(base_msg(), "is_channel_post", "\"true\""), NULL);
    assert_string_equal(warning_kind(ev, 0), "bool_as_string");
    ev = map_msg(fx, with(base_msg(), "content", "{\"@type\":\"messageHologram\",\"depth\":3}"),
                 NULL);
    assert_string_equal(ev->action, "hologram");
    assert_string_equal(warning_kind(ev, 0), "unknown_content");
    /* and a clean message has none */
    ev = map_msg(fx, base_msg(), NULL);
    assert_null(ev->warnings);
}

static void
test_wrong_types_in_optional_fields(void **state)
{
    struct fx *fx = *state;

    map_fails(fx, with(base_msg(), "is_channel_post", "\"yes\""), TGH_EPROTO,
              "is_channel_post: expected a boolean, got a string");
    map_fails(fx, with(base_msg(), "edit_date", "1.5"), TGH_EPROTO,
              "edit_date: expected an integer, got a real");
    map_fails(fx, with(base_msg(), "interaction_info", "{\"view_count\":\"9\"}"), TGH_EPROTO,
              "interaction_info.view_count: expected an integer, got a string");
    map_fails(fx, with(base_msg(), "sender_id", "{\"@type\":\"messageSenderUser\",\"user_id\":0}"),
              TGH_EPROTO, "sender_id.user_id: 0 is not a user id");
    map_fails(fx, with(base_msg(), "topic_id", "[]"), TGH_EPROTO,
              "topic_id: expected an object, got an array");
    map_fails(fx,
              with(base_msg(), "content",
                   "{\"@type\":\"messagePhoto\",\"photo\":{\"sizes\":[{\"width\":1,\"height\":1},"
                   "{\"width\":\"2\"}]}}"),
              TGH_EPROTO, "content.photo.sizes[1].width: expected an integer, got a string");
    map_fails(fx,
              with(base_msg(), "content",
                   "{\"@type\":\"messageText\",\"text\":{\"text\":\"hi\",\"entities\":["
                   "{\"offset\":0,\"length\":1,\"type\":{\"@type\":\"textEntityTypeTextUrl\","
                   "\"url\":7}}]}}"),
              TGH_EPROTO, "content.text.entities[0].type.url: expected a string, got an integer");
    map_fails(fx, with(base_msg(), "content", "{\"text\":\"no type\"}"), TGH_EPROTO,
              "content.@type: expected a string");
    map_fails(fx, with(base_msg(), "@type", "\"chat\""), TGH_EPROTO,
              "@type: expected \"message\", got \"chat\"");
    map_fails(fx, with(base_msg(), "chat_id", "0"), TGH_EPROTO, "chat_id: 0 is not a chat id");
    map_fails(fx, with(base_msg(), "media_album_id", "\"12abc\""), TGH_EPROTO,
              "media_album_id: expected an int64 string, got \"12abc\"");
}

static void
test_caps_are_etoobig(void **state)
{
    json_t *m = base_msg(), *ents = json_array();
    json_t *text = json_object_get(json_object_get(m, "content"), "text");

    for (int i = 0; i < MSG_MAX_ENTITIES + 1; i++)
        (void)json_array_append_new(ents, json_pack("{sisis{ss}}", "offset", 0, "length", 1, "type",
                                                    "@type", "textEntityTypeBold"));
    (void)json_object_set_new(text, "entities", ents);
    map_fails(*state, m, TGH_ETOOBIG, "content.text.entities: 10001 entities, at most 10000");
}

static void
test_not_an_object(void **state)
{
    struct fx *fx = *state;

    assert_int_equal(source_tdlib_map_message(NULL, NULL, OBSERVED, &fx->a, &fx->ev), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "expected an object"));
    fx->msg = parse("[1]");
    assert_int_equal(source_tdlib_map_message(fx->msg, NULL, OBSERVED, &fx->a, &fx->ev),
                     TGH_EPROTO);
    assert_null(fx->ev.raw);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_shift_by_20_bits),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_text_entities_take_the_export_names),
        T(test_text_and_raw_are_references),
        T(test_empty_text_is_no_text),
        T(test_photo_largest_size_caption_spoiler_album),
        T(test_video),
        T(test_document),
        T(test_audio),
        T(test_voice_note),
        T(test_video_note_is_square),
        T(test_animation),
        T(test_sticker),
        T(test_dice_is_media_kind_dice),
        T(test_animated_emoji_is_its_text),
        T(test_unsupported_and_unknown_content_are_kept),
        T(test_every_known_type_is_found),
        T(test_poll_formatted_text),
        T(test_poll_old_strings),
        T(test_location),
        T(test_live_location),
        T(test_venue),
        T(test_contact),
        T(test_service_actions),
        T(test_service_params_keep_no_local_file_state),
        T(test_forward_from_channel),
        T(test_forward_from_user_hidden_user_and_chat),
        T(test_reply_same_chat_and_cross_chat),
        T(test_threads),
        T(test_album),
        T(test_interaction_info),
        T(test_views_only_for_channel_posts),
        T(test_inline_buttons_in_the_export_shape),
        T(test_chat_types_from_ids),
        T(test_chat_from_the_caller),
        T(test_unknown_fields_and_nulls_are_ignored),
        T(test_errors_name_the_field),
        T(test_repairs_are_warnings),
        T(test_wrong_types_in_optional_fields),
        T(test_caps_are_etoobig),
        T(test_not_an_object),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
