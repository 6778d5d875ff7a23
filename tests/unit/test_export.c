/* SPDX-License-Identifier: MIT */
/*
 * test_export.c - the Telegram Desktop export importer against hand-written
 * fixtures (tests/fixtures/export/) and in-memory streams, through a sink
 * that records every chat, event and dead letter it is given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"
#include "source/source.h"

#define FIX(name) TGH_FIXTURES "/export/" name
#define OBSERVED  1700000000

struct rec_chat {
    struct source_export_chat c;
    char export_type[64];
    char title[128];
    bool has_title, has_type, is_ended;
    tgh_err status;
    char end_msg[512];
    size_t n_events;
};

struct rec_dead {
    char position[160];
    char reason[512];
    char *payload;
    size_t len;
};

struct rec {
    struct tgh_arena arena; /* copies of the events */
    struct msg_event *ev;
    size_t n_ev, cap_ev;
    struct rec_chat chats[16];
    size_t n_chats;
    struct rec_dead dead[32];
    size_t n_dead;
    size_t n_batches, max_batch;
    size_t n_progress;
    tgh_err fail_batch; /* returned by the batch callback when set */
};

static const char *
cp(struct tgh_arena *a, const char *s)
{
    return s != NULL ? tgh_arena_strdup(a, s) : NULL;
}

/* Deep copy: the importer resets its batch once the callback returns. */
static void
ev_copy(struct tgh_arena *a, struct msg_event *d, const struct msg_event *s)
{
    msg_event_share(d, s); /* then its strings into the recorder's arena */
    d->chat_title = cp(a, s->chat_title);
    d->sender_name = cp(a, s->sender_name);
    d->author_signature = cp(a, s->author_signature);
    d->text = cp(a, s->text);
    d->forward_from_name = cp(a, s->forward_from_name);
    d->saved_from = cp(a, s->saved_from);
    d->via_bot = cp(a, s->via_bot);
    d->action = cp(a, s->action);
    d->entities = tgh_arena_alloc(a, s->n_entities * sizeof(*s->entities) + 1);
    for (size_t i = 0; i < s->n_entities; i++) {
        struct msg_entity *e = &d->entities[i];

        *e = s->entities[i];
        e->type = cp(a, e->type);
        e->text = cp(a, e->text);
        e->href = cp(a, e->href);
        e->language = cp(a, e->language);
        e->custom_emoji_id = cp(a, e->custom_emoji_id);
    }
    d->reactions = tgh_arena_alloc(a, s->n_reactions * sizeof(*s->reactions) + 1);
    for (size_t i = 0; i < s->n_reactions; i++) {
        struct msg_reaction *r = &d->reactions[i];

        *r = s->reactions[i];
        r->type = cp(a, r->type);
        r->emoji = cp(a, r->emoji);
        r->custom_emoji_id = cp(a, r->custom_emoji_id);
    }
    if (s->media != NULL) {
        struct msg_media *m = tgh_arena_alloc(a, sizeof(*m));

        *m = *s->media;
        m->kind = cp(a, m->kind);
        m->file_name = cp(a, m->file_name);
        m->mime_type = cp(a, m->mime_type);
        m->path = cp(a, m->path);
        m->placeholder = cp(a, m->placeholder);
        m->thumbnail_path = cp(a, m->thumbnail_path);
        m->sticker_emoji = cp(a, m->sticker_emoji);
        m->performer = cp(a, m->performer);
        m->title = cp(a, m->title);
        d->media = m;
    }
    if (s->poll != NULL) {
        struct msg_poll *p = tgh_arena_alloc(a, sizeof(*p));

        *p = *s->poll;
        p->question = cp(a, p->question);
        p->answers = tgh_arena_alloc(a, p->n_answers * sizeof(*p->answers) + 1);
        for (size_t i = 0; i < p->n_answers; i++) {
            p->answers[i] = s->poll->answers[i];
            p->answers[i].text = cp(a, p->answers[i].text);
        }
        d->poll = p;
    }
    if (s->location != NULL) {
        struct msg_location *l = tgh_arena_alloc(a, sizeof(*l));

        *l = *s->location;
        l->venue_title = cp(a, l->venue_title);
        l->address = cp(a, l->address);
        d->location = l;
    }
    if (s->contact != NULL) {
        struct msg_contact *c = tgh_arena_alloc(a, sizeof(*c));

        *c = *s->contact;
        c->first_name = cp(a, c->first_name);
        c->last_name = cp(a, c->last_name);
        c->phone = cp(a, c->phone);
        c->vcard = cp(a, c->vcard);
        d->contact = c;
    }
}

static tgh_err
on_chat_begin(void *arg, const struct source_export_chat *chat)
{
    struct rec *r = arg;
    struct rec_chat *rc;

    assert_true(r->n_chats < 16);
    rc = &r->chats[r->n_chats++];
    memset(rc, 0, sizeof(*rc));
    rc->c = *chat;
    rc->has_type = chat->export_type != NULL;
    rc->has_title = chat->title != NULL;
    if (chat->export_type != NULL)
        (void)snprintf(rc->export_type, sizeof(rc->export_type), "%s", chat->export_type);
    if (chat->title != NULL)
        (void)snprintf(rc->title, sizeof(rc->title), "%s", chat->title);
    return TGH_OK;
}

static tgh_err
on_batch(void *arg, struct msg_batch *b)
{
    struct rec *r = arg;

    assert_true(r->n_chats > 0);
    assert_false(r->chats[r->n_chats - 1].is_ended);
    r->n_batches++;
    if (b->n > r->max_batch)
        r->max_batch = b->n;
    if (r->fail_batch != TGH_OK)
        return tgh_errf(r->fail_batch, "store is down");
    for (size_t i = 0; i < b->n; i++) {
        assert_int_equal(b->ev[i].chat_id, r->chats[r->n_chats - 1].c.chat_id);
        assert_int_equal(strlen(b->ev[i].content_hash), MSG_HASH_HEX_LEN);
        if (r->n_ev == r->cap_ev) {
            r->cap_ev = r->cap_ev ? r->cap_ev * 2 : 64;
            r->ev = tgh_realloc(r->ev, r->cap_ev * sizeof(*r->ev));
        }
        ev_copy(&r->arena, &r->ev[r->n_ev++], &b->ev[i]);
        r->chats[r->n_chats - 1].n_events++;
    }
    return TGH_OK;
}

static tgh_err
on_chat_end(void *arg, const struct source_export_chat *chat, tgh_err status)
{
    struct rec *r = arg;
    struct rec_chat *rc = &r->chats[r->n_chats - 1];

    assert_int_equal(rc->c.chat_id, chat->chat_id);
    assert_false(rc->is_ended);
    rc->is_ended = true;
    rc->status = status;
    (void)snprintf(rc->end_msg, sizeof(rc->end_msg), "%s", tgh_errmsg());
    return TGH_OK;
}

static tgh_err
on_dead(void *arg, const char *position, const char *reason, const char *payload, size_t len)
{
    struct rec *r = arg;
    struct rec_dead *d;

    assert_true(r->n_dead < 32);
    d = &r->dead[r->n_dead++];
    (void)snprintf(d->position, sizeof(d->position), "%s", position);
    (void)snprintf(d->reason, sizeof(d->reason), "%s", reason);
    d->payload = tgh_arena_strndup(&r->arena, payload, len);
    d->len = len;
    return TGH_OK;
}

static void
on_progress(void *arg, uint64_t bytes, uint64_t messages)
{
    struct rec *r = arg;

    (void)bytes;
    (void)messages;
    r->n_progress++;
}

static struct source_export_sink
sink_of(struct rec *r)
{
    struct source_export_sink s = { r,       on_chat_begin, on_batch, on_chat_end,
                                    on_dead, on_progress,   NULL };

    return s;
}

static void
rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    tgh_arena_init(&r->arena, 0);
}

static void
rec_fini(struct rec *r)
{
    for (size_t i = 0; i < r->n_ev; i++)
        msg_event_fini(&r->ev[i]);
    tgh_free(r->ev);
    tgh_arena_fini(&r->arena);
}

static tgh_err
import(struct rec *r, const char *path, const char *tz, size_t batch,
       struct source_export_summary *sum)
{
    struct source_export_opts o = { tz, batch, OBSERVED };
    struct source_export_sink s = sink_of(r);

    return source_export_import_file(path, &o, &s, sum);
}

static const struct msg_event *
find(const struct rec *r, int64_t chat_id, int64_t message_id)
{
    for (size_t i = 0; i < r->n_ev; i++) {
        if (r->ev[i].chat_id == chat_id && r->ev[i].message_id == message_id)
            return &r->ev[i];
    }
    fail_msg("no event %lld in chat %lld", (long long)message_id, (long long)chat_id);
    return NULL;
}

static const struct msg_entity *
entity(const struct msg_event *ev, const char *type)
{
    for (size_t i = 0; i < ev->n_entities; i++) {
        if (strcmp(ev->entities[i].type, type) == 0)
            return &ev->entities[i];
    }
    fail_msg("no %s entity", type);
    return NULL;
}

static const char *
param_str(const struct msg_event *ev, const char *key)
{
    return json_string_value(json_object_get(ev->action_params, key));
}

static int64_t
param_int(const struct msg_event *ev, const char *key)
{
    return json_integer_value(json_object_get(ev->action_params, key));
}

#define CHAN INT64_C(-1001234567890)

/* ---- single chat: chat, counts and the text / entity rules ------------------------------ */

static void
test_channel_chat_and_counts(void **state)
{
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, &sum), TGH_OK);
    assert_int_equal(r.n_chats, 1);
    assert_int_equal(r.chats[0].c.chat_id, CHAN);
    assert_int_equal(r.chats[0].c.type, MSG_CHAT_CHANNEL);
    assert_string_equal(r.chats[0].export_type, "public_channel");
    assert_string_equal(r.chats[0].title, "Harbor Watch Test Channel");
    assert_int_equal(r.chats[0].c.index, 0);
    assert_false(r.chats[0].c.is_left);
    assert_true(r.chats[0].is_ended);
    assert_int_equal(r.chats[0].status, TGH_OK);
    /* 35 message objects; #32 is Desktop's current "unsupported" form: id and type only */
    assert_int_equal(sum.chats, 1);
    assert_int_equal(sum.messages, 35);
    assert_int_equal(sum.events, 35);
    assert_int_equal(sum.dead_letters, 0);
    assert_int_equal(r.n_ev, 35);
    assert_int_equal(r.n_batches, 1);
    assert_int_equal(sum.bytes, 17548); /* the whole file */
    assert_int_equal(r.n_dead, 0);
    assert_true(r.n_progress >= 1);
    rec_fini(&r);
}

static void
test_channel_common_fields(void **state)
{
    const struct msg_event *ev;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    ev = find(&r, CHAN, 2);
    assert_int_equal(ev->schema_version, MSG_SCHEMA_VERSION);
    assert_int_equal(ev->op, MSG_OP_UPSERT);
    assert_int_equal(ev->source, MSG_SOURCE_EXPORT);
    assert_int_equal(ev->observed_at, OBSERVED);
    assert_int_equal(ev->chat_type, MSG_CHAT_CHANNEL);
    assert_string_equal(ev->chat_title, "Harbor Watch Test Channel");
    assert_int_equal(ev->date, 1677661500);
    assert_int_equal(ev->edit_date, MSG_UNSET);
    assert_int_equal(ev->sender_id, CHAN);
    assert_int_equal(ev->sender_type, MSG_PEER_CHANNEL);
    assert_string_equal(ev->sender_name, "Harbor Watch Test Channel");
    assert_string_equal(ev->author_signature, "Ada Example");
    assert_string_equal(ev->text, "First post: tide tables are up.");
    assert_int_equal(ev->n_entities, 0); /* "plain" parts are not entities */
    assert_int_equal(ev->thread_id, MSG_UNSET);
    assert_int_equal(ev->album_id, MSG_UNSET);
    assert_int_equal(ev->views, MSG_UNSET);
    assert_false(ev->has_reactions);
    assert_null(ev->media);
    assert_null(ev->buttons);
    /* raw is the message object itself */
    assert_true(json_is_object(ev->raw));
    assert_int_equal(json_integer_value(json_object_get(ev->raw, "id")), 2);
    assert_string_equal(json_string_value(json_object_get(ev->raw, "date_unixtime")), "1677661500");

    ev = find(&r, CHAN, 22);
    assert_int_equal(ev->edit_date, 1677929400);
    ev = find(&r, CHAN, 5);
    assert_null(ev->text); /* "" is no text */
    rec_fini(&r);
}

static void
test_channel_entities_utf16(void **state)
{
    const struct msg_event *ev;
    const struct msg_entity *e;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    ev = find(&r, CHAN, 3);
    assert_int_equal(
        strncmp(ev->text, "Hi \xF0\x9F\x91\x8B bold and \xC3\xA9\xF0\x9F\x98\x80x x = 1", 27), 0);
    assert_int_equal(ev->n_entities, 20);
    /* "Hi 👋 " is 6 UTF-16 units: the wave is a surrogate pair */
    e = entity(ev, "bold");
    assert_int_equal(e->offset, 6);
    assert_int_equal(e->length, 4);
    assert_string_equal(e->text, "bold");
    e = entity(ev, "italic");
    assert_int_equal(e->offset, 15);
    assert_int_equal(e->length, 4); /* é 😀 x */
    e = entity(ev, "pre");
    assert_string_equal(e->language, "c");
    assert_string_equal(e->text, "int main(void);");
    e = entity(ev, "text_link");
    assert_string_equal(e->href, "https://example.org/docs");
    assert_string_equal(e->text, "docs");
    e = entity(ev, "mention_name");
    assert_int_equal(e->user_id, 5550002);
    assert_int_equal(entity(ev, "mention")->user_id, MSG_UNSET);
    e = entity(ev, "custom_emoji");
    assert_string_equal(e->custom_emoji_id, "5368324170671202286");
    e = &ev->entities[ev->n_entities - 1];
    assert_string_equal(e->type, "unknown");
    assert_int_equal(e->offset + e->length, msg_utf16_len(ev->text, strlen(ev->text)));
    const char *const types[] = { "code",        "mention",       "hashtag",    "cashtag",
                                  "bot_command", "link",          "email",      "phone",
                                  "underline",   "strikethrough", "blockquote", "bank_card",
                                  "spoiler" };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        e = entity(ev, types[i]);
        assert_non_null(strstr(ev->text, e->text));
        assert_int_equal(e->length, msg_utf16_len(e->text, strlen(e->text)));
    }
    rec_fini(&r);
}

/* ---- media -------------------------------------------------------------------------------- */

static void
test_channel_media(void **state)
{
    const struct msg_media *m;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    m = find(&r, CHAN, 4)->media;
    assert_string_equal(m->kind, "photo");
    assert_string_equal(m->path, "photos/photo_1@02-03-2023_08-00-00.jpg");
    assert_null(m->placeholder);
    assert_int_equal(m->size_bytes, 123456);
    assert_int_equal(m->width, 1280);
    assert_int_equal(m->height, 960);
    assert_true(m->has_spoiler);
    assert_string_equal(find(&r, CHAN, 4)->text, "Harbor at dawn");

    m = find(&r, CHAN, 5)->media;
    assert_string_equal(m->kind, "photo");
    assert_null(m->path);
    assert_string_equal(m->placeholder,
                        "(File not included. Change data exporting settings to download.)");
    assert_int_equal(m->size_bytes, MSG_UNSET);
    assert_false(m->has_spoiler);

    m = find(&r, CHAN, 6)->media;
    assert_string_equal(m->kind, "sticker");
    assert_string_equal(m->sticker_emoji, "\xF0\x9F\x94\xA5");
    assert_string_equal(m->path, "stickers/sticker.webp");
    assert_string_equal(m->thumbnail_path, "stickers/sticker.webp_thumb.jpg");
    assert_string_equal(m->mime_type, "image/webp");
    assert_int_equal(m->size_bytes, 24680);

    m = find(&r, CHAN, 7)->media;
    assert_string_equal(m->kind, "voice");
    assert_int_equal(m->duration_s, 7);
    assert_string_equal(m->file_name, "audio_1.ogg");

    m = find(&r, CHAN, 8)->media;
    assert_string_equal(m->kind, "video_note");
    assert_null(m->path);
    assert_null(m->thumbnail_path);
    assert_string_equal(m->placeholder, "(File unavailable, please try again later)");
    assert_int_equal(m->width, 384);

    m = find(&r, CHAN, 9)->media;
    assert_string_equal(m->kind, "animation");
    assert_int_equal(m->duration_s, 3);

    m = find(&r, CHAN, 10)->media;
    assert_string_equal(m->kind, "video");
    assert_int_equal(m->size_bytes, INT64_C(2147483648));
    assert_non_null(strstr(m->placeholder, "(File exceeds maximum size."));
    assert_string_equal(m->thumbnail_path, "video_files/storm.mp4_thumb.jpg");
    assert_true(m->has_spoiler);
    assert_int_equal(m->height, 1080);

    m = find(&r, CHAN, 11)->media;
    assert_string_equal(m->kind, "audio");
    assert_string_equal(m->performer, "The Test Sailors");
    assert_string_equal(m->title, "Sample Shanty");

    m = find(&r, CHAN, 12)->media;
    assert_string_equal(m->kind, "document");
    assert_string_equal(m->file_name, "report.pdf");
    assert_string_equal(m->mime_type, "application/pdf");
    assert_int_equal(m->duration_s, MSG_UNSET);
    rec_fini(&r);
}

/* ---- poll, contact, location, venue, reactions, buttons ------------------------------------ */

static void
test_channel_structured_content(void **state)
{
    const struct msg_event *ev;
    json_t *row;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    ev = find(&r, CHAN, 13);
    assert_string_equal(ev->poll->question, "Best time for a walk?");
    assert_true(ev->poll->closed);
    assert_int_equal(ev->poll->total_voters, 42);
    assert_int_equal(ev->poll->n_answers, 2);
    assert_string_equal(ev->poll->answers[0].text, "Low tide");
    assert_int_equal(ev->poll->answers[0].voters, 30);
    assert_true(ev->poll->answers[0].chosen);
    assert_false(ev->poll->answers[1].chosen);
    assert_null(ev->text);

    ev = find(&r, CHAN, 14);
    assert_string_equal(ev->contact->first_name, "Carl");
    assert_string_equal(ev->contact->last_name, "Sample");
    assert_string_equal(ev->contact->phone, "+10005550123");
    assert_string_equal(ev->contact->vcard, "contacts/contact_1.vcard");
    assert_int_equal(ev->contact->user_id, MSG_UNSET);

    ev = find(&r, CHAN, 15);
    assert_true(ev->location->latitude > 54.32 && ev->location->latitude < 54.33);
    assert_true(ev->location->longitude > 10.13 && ev->location->longitude < 10.14);
    assert_int_equal(ev->location->live_period_s, 900);
    assert_null(ev->location->venue_title);

    ev = find(&r, CHAN, 16);
    assert_string_equal(ev->location->venue_title, "Old Lighthouse");
    assert_string_equal(ev->location->address, "1 Pier Road, Testport");
    assert_int_equal(ev->location->live_period_s, MSG_UNSET);

    ev = find(&r, CHAN, 17);
    assert_true(ev->has_reactions);
    assert_int_equal(ev->n_reactions, 3);
    assert_string_equal(ev->reactions[0].type, "emoji");
    assert_string_equal(ev->reactions[0].emoji, "\xF0\x9F\x91\x8D");
    assert_int_equal(ev->reactions[0].count, 5);
    assert_string_equal(ev->reactions[1].type, "custom_emoji");
    assert_string_equal(ev->reactions[1].custom_emoji_id, "5368324170671202286");
    assert_int_equal(ev->reactions[1].count, 2);
    assert_string_equal(ev->reactions[2].type, "paid");
    assert_null(ev->reactions[2].emoji);
    assert_int_equal(ev->reactions[2].count, 10);

    ev = find(&r, CHAN, 18);
    assert_string_equal(ev->via_bot, "@harbor_test_bot");
    assert_true(json_is_array(ev->buttons));
    assert_int_equal(json_array_size(ev->buttons), 1);
    row = json_array_get(ev->buttons, 0);
    assert_int_equal(json_array_size(row), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(row, 0), "dataBase64")),
                        "eWVz");
    /* a reference to the raw value, not a copy */
    assert_ptr_equal(ev->buttons, json_object_get(ev->raw, "inline_bot_buttons"));
    rec_fini(&r);
}

/* ---- links: forward, reply, saved_from ----------------------------------------------------- */

static void
test_channel_links(void **state)
{
    const struct msg_event *ev;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    ev = find(&r, CHAN, 19);
    assert_string_equal(ev->forward_from_name, "Coast Guard Test Feed");
    assert_int_equal(ev->forward_from_id, INT64_C(-1002223334445));
    assert_int_equal(ev->forward_from_type, MSG_PEER_CHANNEL);
    ev = find(&r, CHAN, 20);
    assert_int_equal(ev->reply_to_message_id, 2);
    assert_int_equal(ev->reply_to_chat_id, MSG_UNSET);
    ev = find(&r, CHAN, 21);
    assert_int_equal(ev->reply_to_message_id, 77);
    assert_int_equal(ev->reply_to_chat_id, INT64_C(-1000987654321));
    ev = find(&r, CHAN, 23);
    assert_string_equal(ev->saved_from, "Coast Guard Test Feed");
    assert_null(ev->forward_from_name);
    assert_int_equal(ev->forward_from_id, MSG_UNSET);
    rec_fini(&r);
}

/* ---- service messages, unsupported and unknown ---------------------------------------------- */

static void
test_channel_service_and_unknown(void **state)
{
    const struct msg_event *ev;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    ev = find(&r, CHAN, 1);
    assert_string_equal(ev->action, "create_channel");
    assert_string_equal(param_str(ev, "title"), "Harbor Watch Test Channel");
    assert_int_equal(json_object_size(ev->action_params), 1);
    assert_int_equal(ev->sender_id, CHAN);
    assert_string_equal(ev->sender_name, "Harbor Watch Test Channel");
    assert_null(ev->text);

    ev = find(&r, CHAN, 24);
    assert_string_equal(ev->action, "pin_message");
    assert_int_equal(param_int(ev, "message_id"), 2);
    ev = find(&r, CHAN, 25);
    assert_string_equal(param_str(ev, "title"), "Harbor Watch");
    ev = find(&r, CHAN, 26);
    assert_string_equal(ev->action, "edit_group_photo");
    assert_string_equal(param_str(ev, "photo"), "photos/photo_2@05-03-2023_08-20-00.jpg");
    assert_int_equal(param_int(ev, "width"), 640);
    assert_null(ev->media); /* the photo belongs to the action */
    assert_null(json_object_get(ev->action_params, "actor"));
    assert_null(json_object_get(ev->action_params, "text_entities"));
    assert_int_equal(param_int(find(&r, CHAN, 27), "duration"), 1800);
    assert_int_equal(param_int(find(&r, CHAN, 28), "period"), 86400);
    ev = find(&r, CHAN, 29);
    assert_string_equal(ev->action, "boost_apply");
    assert_int_equal(ev->sender_id, 5550002);
    assert_int_equal(ev->sender_type, MSG_PEER_USER);
    assert_int_equal(param_int(ev, "boosts"), 3);
    ev = find(&r, CHAN, 30);
    assert_string_equal(ev->action, "delete_group_photo");
    assert_null(ev->action_params);

    ev = find(&r, CHAN, 31); /* unsupported, older form with a date */
    assert_int_equal(ev->date, 1678010400);
    assert_null(ev->text);
    assert_null(ev->action);
    assert_null(ev->sender_name);
    ev = find(&r, CHAN, 32); /* unsupported, current form: the previous message's date */
    assert_int_equal(ev->date, 1678010400);
    assert_null(json_object_get(ev->raw, "date_unixtime")); /* raw shows the date was inferred */
    assert_int_equal(json_object_size(ev->raw), 2);
    assert_null(ev->text);

    ev = find(&r, CHAN, 33); /* game: raw only */
    assert_string_equal(ev->text, "Play");
    assert_null(ev->media);
    assert_string_equal(json_string_value(json_object_get(ev->raw, "game_title")), "Tide Runner");
    ev = find(&r, CHAN, 34); /* invoice, paid media and a field from the future: raw only */
    assert_null(ev->media);
    assert_null(ev->action_params);
    assert_true(json_is_object(json_object_get(ev->raw, "invoice_information")));
    assert_int_equal(json_integer_value(json_object_get(ev->raw, "paid_stars_amount")), 25);
    assert_true(json_is_true(json_object_get(json_object_get(ev->raw, "future_field"), "flag")));
    ev = find(&r, CHAN, 35); /* an unknown message type is still a message */
    assert_string_equal(ev->text, "an unknown message type");
    assert_string_equal(json_string_value(json_object_get(ev->raw, "type")), "story_share");
    rec_fini(&r);
}

/* ---- old format and time zones ------------------------------------------------------------- */

static void
test_old_format(void **state)
{
    const struct msg_event *ev;
    const struct msg_entity *e;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("old_format.json"), NULL, 0, NULL), TGH_OK);
    assert_int_equal(r.n_ev, 4);
    assert_int_equal(r.chats[0].c.chat_id, 555000111);
    assert_int_equal(r.chats[0].c.type, MSG_CHAT_PRIVATE);
    ev = find(&r, 555000111, 1);
    assert_int_equal(ev->sender_id, 555000111); /* bare number: a user */
    assert_int_equal(ev->sender_type, MSG_PEER_USER);
    assert_int_equal(ev->date, 1579089600); /* 2020-01-15T12:00:00 read as UTC */
    assert_string_equal(ev->text, "Winter hello");
    ev = find(&r, 555000111, 2);
    assert_int_equal(ev->edit_date, 1593606600);
    assert_int_equal(ev->sender_id, 555000999);
    /* no text_entities: entities from the text array */
    assert_string_equal(ev->text, "See https://example.org and \xF0\x9F\x8C\x8A waves");
    assert_int_equal(ev->n_entities, 2);
    e = entity(ev, "link");
    assert_int_equal(e->offset, 4);
    assert_int_equal(e->length, 19);
    e = entity(ev, "bold");
    assert_int_equal(e->offset, 28);
    assert_int_equal(e->length, 8); /* 🌊 is two units */
    ev = find(&r, 555000111, 3);
    assert_int_equal(ev->reply_to_message_id, 2);
    assert_string_equal(ev->media->kind, "photo");
    assert_int_equal(ev->media->size_bytes, MSG_UNSET);
    ev = find(&r, 555000111, 4);
    assert_string_equal(ev->action, "phone_call");
    assert_int_equal(ev->sender_id, 555000999);
    assert_int_equal(param_int(ev, "duration_seconds"), 65);
    assert_string_equal(param_str(ev, "discard_reason"), "hangup");
    rec_fini(&r);
}

static void
test_tz_berlin_vs_utc(void **state)
{
    struct rec utc, ber;
    const char *tz;

    (void)state;
    assert_int_equal(setenv("TZ", "America/New_York", 1), 0);
    rec_init(&utc);
    rec_init(&ber);
    assert_int_equal(import(&utc, FIX("old_format.json"), "UTC", 0, NULL), TGH_OK);
    assert_int_equal(import(&ber, FIX("old_format.json"), "Europe/Berlin", 0, NULL), TGH_OK);
    /* winter: CET is UTC+1; summer: CEST is UTC+2 */
    assert_int_equal(utc.ev[0].date - ber.ev[0].date, 3600);
    assert_int_equal(utc.ev[1].date - ber.ev[1].date, 7200);
    assert_int_equal(utc.ev[1].edit_date - ber.ev[1].edit_date, 7200);
    tz = getenv("TZ");
    assert_non_null(tz);
    assert_string_equal(tz, "America/New_York"); /* restored */
    rec_fini(&utc);
    rec_fini(&ber);

    /* date_unixtime wins over date whatever the zone */
    rec_init(&ber);
    assert_int_equal(import(&ber, FIX("single_chat_channel.json"), "Europe/Berlin", 0, NULL),
                     TGH_OK);
    assert_int_equal(find(&ber, CHAN, 2)->date, 1677661500);
    rec_fini(&ber);
    assert_int_equal(unsetenv("TZ"), 0);

    rec_init(&ber);
    assert_int_equal(import(&ber, FIX("old_format.json"), "Mars/Olympus_Mons", 0, NULL),
                     TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "Mars/Olympus_Mons"));
    assert_int_equal(import(&ber, FIX("old_format.json"), "../../etc/passwd", 0, NULL), TGH_EINVAL);
    assert_int_equal(ber.n_chats, 0);
    assert_null(getenv("TZ"));
    rec_fini(&ber);
}

/* A readable file under the zoneinfo directory is not necessarily a zone. */
static void
test_tz_must_be_a_zone_file(void **state)
{
    char dir[] = "/tmp/tgh-tzdir-XXXXXX", path[64];
    FILE *f;
    struct rec r;

    (void)state;
    assert_non_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/zone.tab", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("# tzdb timezone descriptions\nDE\t+5230+01322\tEurope/Berlin\n", f);
    fclose(f);
    (void)snprintf(path, sizeof(path), "%s/Real", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("TZif2 and the rest of a zone file", f);
    fclose(f);
    (void)snprintf(path, sizeof(path), "%s/Europe", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(setenv("TZDIR", dir, 1), 0);

    rec_init(&r);
    assert_int_equal(import(&r, FIX("old_format.json"), "zone.tab", 0, NULL), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "\"zone.tab\""));
    assert_non_null(strstr(tgh_errmsg(), "not a zone file (no TZif header)"));
    assert_int_equal(import(&r, FIX("old_format.json"), "Europe", 0, NULL), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "not a zone file"));
    assert_int_equal(r.n_chats, 0);
    /* the check is on the magic only; what glibc then makes of the file is its business */
    assert_int_equal(import(&r, FIX("old_format.json"), "Real", 0, NULL), TGH_OK);
    assert_null(getenv("TZ"));
    rec_fini(&r);

    assert_int_equal(unsetenv("TZDIR"), 0);
    assert_int_equal(rmdir(path), 0);
    (void)snprintf(path, sizeof(path), "%s/zone.tab", dir);
    assert_int_equal(unlink(path), 0);
    (void)snprintf(path, sizeof(path), "%s/Real", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- full account export ------------------------------------------------------------------- */

static void
test_full_account(void **state)
{
    struct source_export_summary sum;
    const struct msg_event *ev;
    json_t *members;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("full_account.json"), NULL, 0, &sum), TGH_OK);
    assert_int_equal(r.n_chats, 5);
    assert_int_equal(sum.chats, 5);
    assert_int_equal(sum.events, 9);
    assert_int_equal(sum.dead_letters, 0);
    for (size_t i = 0; i < r.n_chats; i++) {
        assert_int_equal(r.chats[i].c.index, (int64_t)i);
        assert_true(r.chats[i].is_ended);
        assert_int_equal(r.chats[i].status, TGH_OK);
    }
    assert_int_equal(r.chats[0].c.chat_id, 555000111);
    assert_int_equal(r.chats[0].c.type, MSG_CHAT_PRIVATE);
    assert_string_equal(r.chats[0].title, "Dora Sample");
    assert_int_equal(r.chats[1].c.chat_id, -44400044); /* basic group: negative */
    assert_int_equal(r.chats[1].c.type, MSG_CHAT_GROUP);
    assert_string_equal(r.chats[1].export_type, "private_group");
    assert_int_equal(r.chats[2].c.chat_id, 555000999);
    assert_int_equal(r.chats[2].c.type, MSG_CHAT_SAVED);
    assert_false(r.chats[2].has_title); /* Desktop writes no name for saved messages */
    assert_int_equal(r.chats[3].c.chat_id, 777000123); /* no messages: still begun and ended */
    assert_int_equal(r.chats[3].c.type, MSG_CHAT_BOT);
    assert_int_equal(r.chats[3].n_events, 0);
    assert_int_equal(r.chats[4].c.chat_id, INT64_C(-1001500000001));
    assert_int_equal(r.chats[4].c.type, MSG_CHAT_SUPERGROUP);
    assert_true(r.chats[4].c.is_left);
    assert_false(r.chats[3].c.is_left);
    assert_int_equal(r.chats[4].n_events, 2);

    ev = find(&r, 555000111, 11);
    assert_int_equal(ev->sender_id, 555000999);
    assert_int_equal(ev->reply_to_message_id, 10);
    ev = find(&r, 555000111, 12);
    assert_string_equal(ev->action, "phone_call");
    assert_int_equal(param_int(ev, "duration_seconds"), 120);
    ev = find(&r, -44400044, 1);
    assert_string_equal(ev->action, "create_group");
    assert_int_equal(ev->chat_type, MSG_CHAT_GROUP);
    members = json_object_get(ev->action_params, "members");
    assert_int_equal(json_array_size(members), 3);
    assert_true(json_is_null(json_array_get(members, 2)));
    ev = find(&r, 555000999, 5);
    assert_null(ev->chat_title);
    assert_string_equal(ev->saved_from, "Test Sailing Club");
    ev = find(&r, INT64_C(-1001500000001), 1);
    assert_string_equal(ev->action, "migrate_from_group");
    rec_fini(&r);
}

/* ---- newer export of the same chat ---------------------------------------------------------- */

static void
test_newer_export_edits(void **state)
{
    const struct msg_event *a, *b;
    struct rec old, neu;

    (void)state;
    rec_init(&old);
    rec_init(&neu);
    assert_int_equal(import(&old, FIX("single_chat_channel.json"), NULL, 0, NULL), TGH_OK);
    assert_int_equal(import(&neu, FIX("newer_export.json"), NULL, 0, NULL), TGH_OK);
    assert_int_equal(neu.n_ev, old.n_ev + 2);
    a = find(&old, CHAN, 2);
    b = find(&neu, CHAN, 2);
    assert_string_equal(b->text, "First post: tide tables are up (corrected).");
    assert_int_equal(a->edit_date, MSG_UNSET);
    assert_int_equal(b->edit_date, 1678435200);
    assert_string_not_equal(a->content_hash, b->content_hash);
    /* same content, same hash; a reaction count is not content */
    assert_string_equal(find(&old, CHAN, 3)->content_hash, find(&neu, CHAN, 3)->content_hash);
    assert_string_equal(find(&old, CHAN, 17)->content_hash, find(&neu, CHAN, 17)->content_hash);
    assert_int_equal(find(&neu, CHAN, 17)->reactions[0].count, 9);
    assert_int_equal(find(&neu, CHAN, 37)->reply_to_message_id, 36);
    rec_fini(&old);
    rec_fini(&neu);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = tgh_malloc(1 << 16);

    assert_non_null(f);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void
test_malformed_messages_are_dead_letters(void **state)
{
    static const struct {
        size_t index;
        const char *reason;
    } want[] = {
        { 1, "text: expected a string or an array" },
        { 3, "id: expected an integer" },
        { 4, "date: missing" },
        { 5, "date: not a date" },
        { 6, "message: expected an object" },
        { 7, "text_entities" },
        { 8, "from_id: not a peer id" },
    };
    struct source_export_summary sum;
    struct rec r;
    size_t flen;
    char *file = slurp(FIX("malformed_messages.json"), &flen);

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("malformed_messages.json"), NULL, 0, &sum), TGH_OK);
    assert_int_equal(sum.messages, 10);
    assert_int_equal(sum.events, 3);
    assert_int_equal(sum.dead_letters, 7);
    assert_int_equal(r.n_dead, 7);
    assert_string_equal(r.ev[0].text, "good one");
    assert_string_equal(r.ev[1].text, "good two");
    assert_string_equal(r.ev[2].text, "good three");
    assert_int_equal(r.chats[0].status, TGH_OK);
    for (size_t i = 0; i < r.n_dead; i++) {
        char prefix[64];
        const char *at;
        unsigned long long off;

        (void)snprintf(prefix, sizeof(prefix), "messages[%zu] at byte ", want[i].index);
        assert_int_equal(strncmp(r.dead[i].position, prefix, strlen(prefix)), 0);
        assert_non_null(strstr(r.dead[i].reason, want[i].reason));
        /* the byte offset points at the object, and the payload is its exact text */
        at = r.dead[i].position + strlen(prefix);
        off = strtoull(at, NULL, 10);
        assert_true(off < flen);
        assert_int_equal(memcmp(file + off, r.dead[i].payload, r.dead[i].len), 0);
    }
    assert_string_equal(r.dead[4].payload, "\"not an object\"");
    tgh_free(file);
    rec_fini(&r);
}

static void
test_truncated_file_fails_without_flushing(void **state)
{
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("truncated.json"), NULL, 0, &sum), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "truncated.json"));
    assert_non_null(strstr(tgh_errmsg(), "truncated"));
    assert_non_null(strstr(tgh_errmsg(), "byte 944"));
    /* the two complete messages were in the batch in flight: dropped, not flushed */
    assert_int_equal(r.n_ev, 0);
    assert_int_equal(sum.events, 0);
    assert_int_equal(sum.messages, 2);
    assert_int_equal(r.n_chats, 1);
    assert_true(r.chats[0].is_ended);
    assert_int_equal(r.chats[0].status, TGH_EPROTO);
    assert_non_null(strstr(r.chats[0].end_msg, "truncated"));
    rec_fini(&r);

    /* batches already handed stay handed */
    rec_init(&r);
    assert_int_equal(import(&r, FIX("truncated.json"), NULL, 1, &sum), TGH_EPROTO);
    assert_int_equal(r.n_ev, 2);
    assert_int_equal(sum.events, 2);
    rec_fini(&r);
}

static void
test_not_json_fails(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("not_json.txt"), NULL, 0, NULL), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "not_json.txt"));
    assert_non_null(strstr(tgh_errmsg(), "not valid JSON at byte 4"));
    assert_int_equal(r.n_chats, 0);
    assert_int_equal(import(&r, FIX("no_such_file.json"), NULL, 0, NULL), TGH_EIO);
    assert_non_null(strstr(tgh_errmsg(), "no_such_file.json"));
    rec_fini(&r);
}

static tgh_err
import_mem(struct rec *r, const char *json, size_t batch, struct source_export_summary *sum)
{
    struct source_export_opts o = { NULL, batch, OBSERVED };
    struct source_export_sink s = sink_of(r);
    FILE *f = fmemopen((void *)json, strlen(json), "r");
    tgh_err rc;

    assert_non_null(f);
    rc = source_export_import_stream(f, "mem.json", &o, &s, sum);
    fclose(f);
    return rc;
}

static void
test_stream_roots(void **state)
{
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import_mem(&r, "[1, 2]", 0, NULL), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "root is not a JSON object"));
    assert_int_equal(import_mem(&r, "", 0, NULL), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "empty"));
    assert_int_equal(import_mem(&r, "{\"hello\": 1}", 0, NULL), TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "not a Telegram Desktop export"));
    assert_int_equal(
        import_mem(&r, "{\"id\": 5, \"type\": \"personal_chat\", \"messages\": []} x", 0, NULL),
        TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "data after the root object at byte 51"));
    /* a bad element with mismatched brackets ends at its own opener: a dead letter */
    assert_int_equal(import_mem(&r, "{\"id\": 5, \"messages\": [{\"id\": 1 \"x\": [}]}", 0, &sum),
                     TGH_OK);
    assert_int_equal(sum.dead_letters, 1);
    /* a string that never ends leaves the array undelimitable */
    assert_int_equal(
        import_mem(&r, "{\"id\": 5, \"messages\": [{\"id\": 1 \"x\": \"open}]}", 0, NULL),
        TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "truncated"));
    rec_fini(&r);

    /* compact JSON, scalars right before delimiters, an unknown chat type */
    rec_init(&r);
    assert_int_equal(
        import_mem(&r,
                   "{\"name\":\"X\",\"type\":\"future_chat\",\"id\":42,\"extra\":[true,"
                   "null,1.5,\"s\"],\"messages\":[{\"id\":1,\"type\":\"message\","
                   "\"date_unixtime\":1600000000,\"text\":\"a\"},{\"id\":2,\"type\":"
                   "\"message\",\"date_unixtime\":\"1600000001\",\"text\":\"b\"}]}",
                   0, &sum),
        TGH_OK);
    assert_int_equal(sum.events, 2);
    assert_int_equal(r.chats[0].c.type, MSG_CHAT_UNKNOWN);
    assert_int_equal(r.chats[0].c.chat_id, 42); /* bare id kept */
    assert_string_equal(r.chats[0].export_type, "future_chat");
    assert_int_equal(r.ev[0].date, 1600000000);
    assert_int_equal(r.ev[1].date, 1600000001);
    rec_fini(&r);
}

/* An export whose messages array is the given elements, joined by ",\n". */
static char *
chat_of(const char *const *elems, size_t n, size_t *len)
{
    static const char head[] = "{\"name\": \"T\", \"type\": \"personal_chat\", \"id\": 5, "
                               "\"messages\": [\n";
    size_t cap = sizeof(head) + 8, off;
    char *buf;

    for (size_t i = 0; i < n; i++)
        cap += strlen(elems[i]) + 2;
    buf = tgh_malloc(cap);
    off = (size_t)snprintf(buf, cap, "%s", head);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i > 0 ? ",\n" : "", elems[i]);
    off += (size_t)snprintf(buf + off, cap - off, "\n]}\n");
    *len = off;
    return buf;
}

static tgh_err
import_buf(struct rec *r, const char *buf, size_t len, struct source_export_summary *sum)
{
    struct source_export_opts o = { NULL, 0, OBSERVED };
    struct source_export_sink s = sink_of(r);
    FILE *f = fmemopen((void *)buf, len, "r");
    tgh_err rc;

    assert_non_null(f);
    rc = source_export_import_stream(f, "mem.json", &o, &s, sum);
    fclose(f);
    return rc;
}

/* Every dead letter's position names the element's first byte; its payload is the element. */
static void
assert_dead_is_element(const struct rec_dead *d, const char *file, size_t flen, size_t index)
{
    char prefix[64];
    unsigned long long off;

    (void)snprintf(prefix, sizeof(prefix), "messages[%zu] at byte ", index);
    assert_int_equal(strncmp(d->position, prefix, strlen(prefix)), 0);
    off = strtoull(d->position + strlen(prefix), NULL, 10);
    assert_true(off + d->len <= flen);
    assert_int_equal(memcmp(file + off, d->payload, d->len), 0);
}

static void
test_unparseable_elements_are_dead_letters(void **state)
{
    static char deep[2 * 3000 + 64];
    const char *elems[] = {
        "{\"id\": 1, \"date_unixtime\": 1, \"text\": \"good one\"}",
        "{\"id\": 2, \"date_unixtime\": 2, \"text\": \"bad \\q escape\"}",
        "{\"id\": 3, \"date_unixtime\": 3, \"text\": \"good \\\"two]}\\\\\"}",
        "{\"id\": 99999999999999999999, \"date_unixtime\": 4}",
        "{\"id\": 5, \"date_unixtime\": 5, \"text\": \"bad \xff\xfe utf-8\"}",
        "{\"id\": 6, \"date_unixtime\": 6, \"text\": \"nul \\u0000 char\"}",
        deep,
        "{\"id\": 8, \"date_unixtime\": 8, \"text\" \"no colon\"}",
        "nul",
        "{\"id\": 10, \"date_unixtime\": 10, \"text\": \"good three\"}",
        "{\"id\": 11, \"date_unixtime\": 11, \"text\": \"a\", \"text\": \"b\"}",
    };
    static const struct {
        size_t index;
        const char *reason;
    } want[] = {
        { 1, "invalid escape" },
        { 3, "too big integer" },
        { 4, "unable to decode byte 0xff" },
        { 5, "\\u0000" },
        { 6, "maximum parsing depth" },
        { 7, "':' expected" },
        { 8, "invalid token" },
        { 10, "duplicate object key near '\"text\"'" },
    };
    struct source_export_summary sum;
    struct rec r;
    size_t len, off;
    char *file;

    (void)state;
    off = (size_t)snprintf(deep, sizeof(deep), "{\"id\": 7, \"date_unixtime\": 7, \"d\": ");
    for (size_t i = 0; i < 3000; i++)
        deep[off++] = '[';
    for (size_t i = 0; i < 3000; i++)
        deep[off++] = ']';
    deep[off++] = '}';
    deep[off] = '\0';
    file = chat_of(elems, sizeof(elems) / sizeof(elems[0]), &len);
    rec_init(&r);
    assert_int_equal(import_buf(&r, file, len, &sum), TGH_OK);
    assert_int_equal(sum.messages, 11);
    assert_int_equal(sum.events, 3);
    assert_int_equal(sum.dead_letters, 8);
    assert_int_equal(r.n_batches, 1); /* the batch in flight was not dropped */
    assert_string_equal(r.ev[0].text, "good one");
    assert_string_equal(r.ev[1].text, "good \"two]}\\");
    assert_string_equal(r.ev[2].text, "good three");
    assert_int_equal(r.chats[0].status, TGH_OK);
    assert_int_equal(r.n_dead, 8);
    for (size_t i = 0; i < r.n_dead; i++) {
        assert_dead_is_element(&r.dead[i], file, len, want[i].index);
        assert_non_null(strstr(r.dead[i].reason, want[i].reason));
        assert_non_null(strstr(r.dead[i].reason, "not valid JSON at byte "));
        assert_int_equal(r.dead[i].len, strlen(elems[want[i].index]));
    }
    rec_fini(&r);
    tgh_free(file);

    /* mismatched brackets end the broken element at its own opener; the rest imports */
    {
        const char *mixed[] = {
            "{\"id\": 1, \"date_unixtime\": 1, \"text\": \"one\"}",
            "{\"id\": 2, \"date_unixtime\": 2, \"x\": [1, 2}",
            "{\"id\": 3, \"date_unixtime\": 3, \"text\": \"three\"}",
            "{\"id\": 4, \"date_unixtime\": 4, \"x\": {\"y\": [}}",
            "{\"id\": 5, \"date_unixtime\": 5, \"text\": \"five\"}",
        };

        file = chat_of(mixed, sizeof(mixed) / sizeof(mixed[0]), &len);
        rec_init(&r);
        assert_int_equal(import_buf(&r, file, len, &sum), TGH_OK);
        assert_int_equal(sum.events, 3);
        assert_int_equal(sum.dead_letters, 2);
        assert_string_equal(r.ev[2].text, "five");
        assert_dead_is_element(&r.dead[0], file, len, 1);
        assert_dead_is_element(&r.dead[1], file, len, 3);
        rec_fini(&r);
        tgh_free(file);
    }

    /* a root value that is dropped anyway may be unparseable too */
    rec_init(&r);
    assert_int_equal(import_mem(&r,
                                "{\"personal_information\": {\"bio\": \"\\q\"}, \"chats\": "
                                "{\"list\": [{\"id\": 5, \"messages\": [{\"id\": 1, "
                                "\"date_unixtime\": 1}]}]}}",
                                0, &sum),
                     TGH_OK);
    assert_int_equal(sum.events, 1);
    rec_fini(&r);

    /* the bad element is the last thing in a cut file: truncated, the batch in flight dropped */
    rec_init(&r);
    assert_int_equal(import_mem(&r,
                                "{\"id\": 5, \"messages\": [{\"id\": 1, \"date_unixtime\": 1}, "
                                "{\"id\": 2, \"text\": \"\\q\", \"x\": [}",
                                0, &sum),
                     TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "truncated: end of file at byte"));
    assert_non_null(strstr(tgh_errmsg(), "end of file at byte 85 inside messages"));
    assert_int_equal(r.n_ev, 0);
    assert_int_equal(r.n_dead, 1); /* the broken element itself was delimited */
    rec_fini(&r);
}

/* Desktop writes control characters as "\xHH", which is not JSON: read as "\u00HH". */
static void
test_desktop_hex_escapes(void **state)
{
    struct source_export_summary sum;
    const struct msg_event *ev;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("desktop_escapes.json"), NULL, 0, &sum), TGH_OK);
    assert_string_equal(r.chats[0].title, "Escape \x1b Tester");
    assert_int_equal(sum.messages, 4);
    assert_int_equal(sum.events, 3);
    assert_int_equal(sum.dead_letters, 1);
    ev = find(&r, 555000222, 1);
    assert_string_equal(ev->text, "bell \x07 here");
    assert_int_equal(ev->sender_id, 555000222);
    /* the raw kept is the parsed object */
    assert_string_equal(json_string_value(json_object_get(ev->raw, "text")), "bell \x07 here");
    /* an even number of backslashes before the x is not an escape */
    ev = find(&r, 555000222, 2);
    assert_string_equal(ev->text, "\x1b[1mbold\x1b[0m, not an escape: \\x41, \\"
                                  "\x07"
                                  " after a backslash");
    /* only \x with two hex digits is Desktop's */
    assert_non_null(strstr(r.dead[0].position, "messages[2] at byte "));
    assert_non_null(strstr(r.dead[0].reason, "invalid escape"));
    assert_string_equal(find(&r, 555000222, 4)->text, "plain");
    rec_fini(&r);
}

static void
test_unsupported_and_actionless_service(void **state)
{
    struct source_export_summary sum;
    const struct msg_event *ev;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(
        import_mem(&r,
                   "{\"id\": 5, \"type\": \"private_group\", \"messages\": ["
                   "{\"id\": 1, \"type\": \"unsupported\"},"
                   "{\"id\": 2, \"type\": \"message\", \"date_unixtime\": \"1700000100\"},"
                   "{\"id\": 3, \"type\": \"unsupported\"},"
                   "{\"id\": 4, \"type\": \"unsupported\"},"
                   "{\"id\": 5, \"type\": \"service\", \"date_unixtime\": \"1700000200\","
                   " \"actor\": \"Ann\", \"actor_id\": \"user7\","
                   " \"information_text\": \"Ann did a custom thing\"},"
                   "{\"id\": 6, \"type\": \"service\", \"date_unixtime\": \"1700000300\","
                   " \"actor\": \"Ann\", \"actor_id\": \"user7\", \"mystery\": 1},"
                   "{\"id\": 7, \"type\": \"service\", \"date_unixtime\": \"1700000400\"}]}",
                   0, &sum),
        TGH_OK);
    assert_int_equal(sum.messages, 7);
    assert_int_equal(sum.events, 6);
    /* the first message of the chat has no earlier date to take */
    assert_int_equal(r.n_dead, 1);
    assert_non_null(strstr(r.dead[0].position, "messages[0] at byte "));
    assert_non_null(strstr(r.dead[0].reason, "no earlier message"));
    assert_int_equal(find(&r, -5, 3)->date, 1700000100);
    assert_int_equal(find(&r, -5, 4)->date, 1700000100);
    ev = find(&r, -5, 5);
    assert_string_equal(ev->action, "custom_action");
    assert_string_equal(param_str(ev, "information_text"), "Ann did a custom thing");
    assert_int_equal(json_object_size(ev->action_params), 1);
    assert_int_equal(ev->sender_id, 7);
    assert_string_equal(ev->sender_name, "Ann");
    ev = find(&r, -5, 6);
    assert_string_equal(ev->action, "unknown");
    assert_int_equal(param_int(ev, "mystery"), 1);
    ev = find(&r, -5, 7);
    assert_string_equal(ev->action, "unknown");
    assert_null(ev->action_params);
    rec_fini(&r);
}

static void
test_ids_out_of_range(void **state)
{
    static const struct {
        size_t index;
        const char *reason;
    } want[] = {
        { 1, "from_id: peer id 0 out of range for a user" },
        { 2, "from_id: peer id 9223372036854775000 out of range for a channel" },
        { 3, "forwarded_from_id: peer id 1000000000000 out of range for a chat" },
        { 4, "reply_to_peer_id: peer id 0 out of range" },
        { 5, "reply_to_peer_id: peer id 9223372036854775000 out of range" },
        { 6, "actor_id: peer id 4503599627370496 out of range for a user" },
    };
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(
        import_mem(&r,
                   "{\"chats\": {\"list\": ["
                   "{\"type\": \"public_channel\", \"id\": 9223372036854775000, \"messages\": ["
                   "{\"id\": 1, \"date_unixtime\": 1, \"text\": \"lost\"}]},"
                   "{\"type\": \"public_channel\", \"id\": -5, \"messages\": []},"
                   "{\"type\": \"private_group\", \"id\": 8, \"messages\": ["
                   "{\"id\": 1, \"date_unixtime\": 1, \"from_id\": \"user7\"},"
                   "{\"id\": 2, \"date_unixtime\": 2, \"from_id\": \"user0\"},"
                   "{\"id\": 3, \"date_unixtime\": 3, \"from_id\": "
                   "\"channel9223372036854775000\"},"
                   "{\"id\": 4, \"date_unixtime\": 4, \"forwarded_from_id\": "
                   "\"chat1000000000000\"},"
                   "{\"id\": 5, \"date_unixtime\": 5, \"reply_to_peer_id\": \"channel0\"},"
                   "{\"id\": 6, \"date_unixtime\": 6, \"reply_to_peer_id\": "
                   "9223372036854775000},"
                   "{\"id\": 7, \"type\": \"service\", \"date_unixtime\": 7, \"actor_id\": "
                   "\"user4503599627370496\"},"
                   "{\"id\": 8, \"date_unixtime\": 8, \"reply_to_peer_id\": -8, "
                   "\"reply_to_message_id\": 1}]}]}}",
                   0, &sum),
        TGH_OK);
    assert_int_equal(r.n_chats, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(r.chats[i].c.chat_id, 0);
        assert_true(r.chats[i].is_ended);
        assert_int_equal(r.chats[i].status, TGH_EPROTO);
        assert_int_equal(r.chats[i].n_events, 0);
    }
    assert_non_null(strstr(r.chats[0].end_msg, "chats.list[0].id 9223372036854775000 is out of "
                                               "range for a chat of type public_channel"));
    assert_non_null(strstr(r.chats[1].end_msg, "chats.list[1].id -5 is out of range"));
    assert_int_equal(r.chats[2].c.chat_id, -8);
    assert_int_equal(r.chats[2].status, TGH_OK);
    assert_int_equal(sum.events, 2);
    assert_int_equal(find(&r, -8, 1)->sender_id, 7);
    assert_int_equal(find(&r, -8, 8)->reply_to_chat_id, MSG_UNSET); /* this chat */
    assert_int_equal(r.n_dead, 6);
    for (size_t i = 0; i < r.n_dead; i++) {
        char prefix[64];

        (void)snprintf(prefix, sizeof(prefix), "chats.list[2].messages[%zu] at byte ",
                       want[i].index);
        assert_int_equal(strncmp(r.dead[i].position, prefix, strlen(prefix)), 0);
        assert_non_null(strstr(r.dead[i].reason, want[i].reason));
    }
    rec_fini(&r);
}

/* Desktop writes "forwarded_from": null when the original sender's name is empty. */
static void
test_forward_with_null_name(void **state)
{
    struct tgh_arena a;
    struct msg_event back;
    const struct msg_event *ev;
    size_t len;
    char *json = NULL;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(
        import_mem(&r,
                   "{\"id\": 5, \"type\": \"personal_chat\", \"messages\": ["
                   "{\"id\": 1, \"date_unixtime\": 1, \"text\": \"fwd\", \"forwarded_from\": null},"
                   "{\"id\": 2, \"date_unixtime\": 2, \"text\": \"own\"}]}",
                   0, NULL),
        TGH_OK);
    ev = find(&r, 5, 1);
    assert_non_null(ev->forward_from_name);
    assert_string_equal(ev->forward_from_name, "");
    assert_null(find(&r, 5, 2)->forward_from_name);
    /* the codec keeps the empty name: still a forward after a round trip */
    tgh_arena_init(&a, 0);
    assert_int_equal(codec_event_encode(ev, &json, &len), TGH_OK);
    assert_non_null(strstr(json, "\"forward\":{\"from_name\":\"\"}"));
    assert_int_equal(codec_event_decode(json, len, &a, &back), TGH_OK);
    assert_string_equal(back.forward_from_name, "");
    msg_event_fini(&back);
    tgh_free(json);
    tgh_arena_fini(&a);
    rec_fini(&r);
}

static void
test_messages_before_id_fails_the_chat(void **state)
{
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(
        import_mem(&r,
                   "{\"chats\": {\"list\": ["
                   "{\"type\": \"private_group\", \"messages\": [{\"id\": 1, \"date_unixtime\": 1,"
                   " \"text\": \"lost\"}], \"id\": 7},"
                   "{\"type\": \"private_group\", \"id\": 8, \"messages\": [{\"id\": 1, "
                   "\"date_unixtime\": 1, \"text\": \"kept\"}]}]}}",
                   0, &sum),
        TGH_OK);
    assert_int_equal(r.n_chats, 2);
    assert_int_equal(r.chats[0].c.chat_id, -7);
    assert_int_equal(r.chats[0].status, TGH_EPROTO);
    assert_non_null(strstr(r.chats[0].end_msg, "chats.list[0].messages"));
    assert_non_null(strstr(r.chats[0].end_msg, "before the chat's \"id\""));
    assert_int_equal(r.chats[0].n_events, 0);
    assert_int_equal(r.chats[1].status, TGH_OK);
    assert_int_equal(r.n_ev, 1);
    assert_string_equal(r.ev[0].text, "kept");
    rec_fini(&r);

    rec_init(&r);
    assert_int_equal(import_mem(&r, "{\"chats\": {\"list\": [{\"name\": \"no id\"}]}}", 0, NULL),
                     TGH_EPROTO);
    assert_non_null(strstr(tgh_errmsg(), "has no \"id\""));
    rec_fini(&r);
}

/* Large messages: a batch is handed on by bytes before it reaches its event count. */
static void
test_batch_bounded_by_bytes(void **state)
{
    const size_t n = 12, text_len = 300 * 1024;
    size_t cap = n * (text_len + 200) + 200, len = 0;
    char *json = tgh_malloc(cap);
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    len += (size_t)snprintf(json + len, cap - len,
                            "{\"name\": \"Big\", \"type\": \"public_channel\", \"id\": 9, "
                            "\"messages\": [");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(json + len, cap - len,
                                "%s{\"id\": %zu, \"type\": \"message\", \"date_unixtime\": "
                                "\"1700000000\", \"text\": \"",
                                i ? ", " : "", i + 1);
        memset(json + len, 'x', text_len);
        len += text_len;
        len += (size_t)snprintf(json + len, cap - len, "\"}");
    }
    len += (size_t)snprintf(json + len, cap - len, "]}");
    json[len] = '\0';
    rec_init(&r);
    assert_int_equal(import_mem(&r, json, 500, &sum), TGH_OK);
    assert_int_equal(r.n_ev, n);
    /* 1 MiB of source per batch: at most four of these 300 KiB messages. */
    assert_true(r.max_batch <= 4);
    assert_true(r.n_batches >= 3);
    rec_fini(&r);
    tgh_free(json);
}

static void
test_batch_size_respected(void **state)
{
    struct source_export_summary sum;
    struct rec r;

    (void)state;
    rec_init(&r);
    assert_int_equal(import(&r, FIX("single_chat_channel.json"), NULL, 4, &sum), TGH_OK);
    assert_int_equal(r.max_batch, 4);
    assert_int_equal(r.n_batches, 9); /* 35 events: 8 x 4 + 3 */
    assert_int_equal(r.n_ev, 35);
    rec_fini(&r);

    /* batches never span chats */
    rec_init(&r);
    assert_int_equal(import(&r, FIX("full_account.json"), NULL, 500, &sum), TGH_OK);
    assert_int_equal(r.n_batches, 4); /* the bot chat has no messages */
    rec_fini(&r);
}

static void
test_sink_failure_stops_the_import(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r);
    r.fail_batch = TGH_EUNAVAIL;
    assert_int_equal(import(&r, FIX("full_account.json"), NULL, 2, NULL), TGH_EUNAVAIL);
    assert_string_equal(tgh_errmsg(), "store is down");
    assert_int_equal(r.n_chats, 1);
    assert_int_equal(r.chats[0].status, TGH_EUNAVAIL);
    rec_fini(&r);
}

/* A generated export: n messages, one of text_bytes. */
static char *
big_export(size_t n, size_t text_bytes, size_t *len)
{
    size_t cap = n * 160 + 2 * text_bytes + 256, off = 0;
    char *buf = tgh_malloc(cap);

    off += (size_t)snprintf(buf + off, cap - off,
                            "{\"name\": \"Gen\", \"type\": \"public_supergroup\", \"id\": 99, "
                            "\"contacts\": {\"list\": [\"");
    memset(buf + off, 'c', text_bytes);
    off += text_bytes;
    off += (size_t)snprintf(buf + off, cap - off, "\"]}, \"messages\": [");
    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(buf + off, cap - off,
                                "%s{\"id\": %zu, \"type\": \"message\", \"date_unixtime\": "
                                "\"%zu\", \"from_id\": \"user7\", \"text\": \"",
                                i ? ", " : "", i + 1, 1600000000 + i);
        if (i == 1) {
            memset(buf + off, 'x', text_bytes);
            off += text_bytes;
        }
        off += (size_t)snprintf(buf + off, cap - off, "message %zu\"}", i);
    }
    off += (size_t)snprintf(buf + off, cap - off, "]}\n");
    *len = off;
    return buf;
}

static void
test_oversized_values_are_skipped(void **state)
{
    struct source_export_opts o = { NULL, 0, OBSERVED };
    struct source_export_summary sum;
    struct source_export_sink s;
    struct rec r;
    size_t len;
    char *json = big_export(10000, 5u << 20, &len);
    FILE *f = fmemopen(json, len, "r");

    (void)state;
    rec_init(&r);
    s = sink_of(&r);
    assert_int_equal(source_export_import_stream(f, "gen.json", &o, &s, &sum), TGH_OK);
    fclose(f);
    assert_int_equal(sum.messages, 10000);
    assert_int_equal(sum.events, 9999);
    assert_int_equal(r.n_dead, 1);
    assert_non_null(strstr(r.dead[0].position, "messages[1] at byte "));
    assert_non_null(strstr(r.dead[0].reason, "over 4 MiB"));
    assert_int_equal(r.dead[0].len, 64 * 1024);
    assert_int_equal(r.chats[0].c.chat_id, INT64_C(-1000000000099));
    assert_int_equal(find(&r, INT64_C(-1000000000099), 3)->message_id, 3);
    assert_int_equal(r.n_progress, 3); /* at 4096, 8192 and the end */
    assert_int_equal(sum.bytes, len);
    tgh_free(json);
    rec_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_chat_and_counts),
        cmocka_unit_test(test_channel_common_fields),
        cmocka_unit_test(test_channel_entities_utf16),
        cmocka_unit_test(test_channel_media),
        cmocka_unit_test(test_channel_structured_content),
        cmocka_unit_test(test_channel_links),
        cmocka_unit_test(test_channel_service_and_unknown),
        cmocka_unit_test(test_unsupported_and_actionless_service),
        cmocka_unit_test(test_old_format),
        cmocka_unit_test(test_tz_berlin_vs_utc),
        cmocka_unit_test(test_tz_must_be_a_zone_file),
        cmocka_unit_test(test_full_account),
        cmocka_unit_test(test_newer_export_edits),
        cmocka_unit_test(test_malformed_messages_are_dead_letters),
        cmocka_unit_test(test_truncated_file_fails_without_flushing),
        cmocka_unit_test(test_not_json_fails),
        cmocka_unit_test(test_stream_roots),
        cmocka_unit_test(test_messages_before_id_fails_the_chat),
        cmocka_unit_test(test_forward_with_null_name),
        cmocka_unit_test(test_ids_out_of_range),
        cmocka_unit_test(test_unparseable_elements_are_dead_letters),
        cmocka_unit_test(test_desktop_hex_escapes),
        cmocka_unit_test(test_batch_size_respected),
        cmocka_unit_test(test_batch_bounded_by_bytes),
        cmocka_unit_test(test_sink_failure_stops_the_import),
        cmocka_unit_test(test_oversized_values_are_skipped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
