/* SPDX-License-Identifier: MIT */
/*
 * source_tdlib_content.c - the content of a TDLib message (messageText,
 * messagePhoto, ..., and every service message) onto an event, with the
 * Telegram Desktop export's names for entity types, media kinds and service
 * actions, so the same message from both sources hashes the same. Strings
 * point into the message tree (ev->raw keeps it). Table and the choices made
 * where the two sources differ: docs/internals/tdlib.md, "Mapping".
 */
#include "source/source_tdlib_int.h"

#include "core/arena.h"

typedef tgh_err (*content_fn)(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a,
                              struct msg_event *ev);
typedef tgh_err (*params_fn)(const json_t *c, const struct tgh_jpath *at, json_t **out);

/* ---- text ------------------------------------------------------------------- */

enum ent_extra { X_NONE, X_LANG_EMPTY, X_LANG, X_HREF, X_USER, X_EMOJI, X_DROP };

/*
 * The export's entity names (export_output_json.cpp SerializeText). Desktop
 * writes "language": "" for pre without a language, so textEntityTypePre gets
 * "" too. Media timestamps are TDLib's own reading of "1:23" in the text, not
 * Telegram's: they are dropped (raw keeps them).
 */
static const struct entity_type {
    const char *tdlib;
    const char *ours;
    enum ent_extra extra;
} entity_types[] = {
    { "textEntityTypeBankCardNumber", "bank_card", X_NONE },
    { "textEntityTypeBlockQuote", "blockquote", X_NONE },
    { "textEntityTypeBold", "bold", X_NONE },
    { "textEntityTypeBotCommand", "bot_command", X_NONE },
    { "textEntityTypeCashtag", "cashtag", X_NONE },
    { "textEntityTypeCode", "code", X_NONE },
    { "textEntityTypeCustomEmoji", "custom_emoji", X_EMOJI },
    { "textEntityTypeEmailAddress", "email", X_NONE },
    { "textEntityTypeExpandableBlockQuote", "blockquote", X_NONE },
    { "textEntityTypeHashtag", "hashtag", X_NONE },
    { "textEntityTypeItalic", "italic", X_NONE },
    { "textEntityTypeMediaTimestamp", NULL, X_DROP },
    { "textEntityTypeMention", "mention", X_NONE },
    { "textEntityTypeMentionName", "mention_name", X_USER },
    { "textEntityTypePhoneNumber", "phone", X_NONE },
    { "textEntityTypePre", "pre", X_LANG_EMPTY },
    { "textEntityTypePreCode", "pre", X_LANG },
    { "textEntityTypeSpoiler", "spoiler", X_NONE },
    { "textEntityTypeStrikethrough", "strikethrough", X_NONE },
    { "textEntityTypeTextUrl", "text_link", X_HREF },
    { "textEntityTypeUnderline", "underline", X_NONE },
    { "textEntityTypeUrl", "link", X_NONE },
};

/* One textEntity into e; e->type stays NULL for an entity that is dropped. */
static TGH_MUSTCHECK tgh_err
entity_map(const json_t *te, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_entity *e)
{
    const struct tgh_jpath *tat = TGH_JPATH_KEY(at, "type");
    const struct entity_type *et;
    const json_t *type = NULL;
    const char *tname;
    tgh_err rc;

    memset(e, 0, sizeof(*e));
    e->user_id = MSG_UNSET;
    if (!json_is_object(te))
        return bad(at, NULL, "expected a textEntity object, got %s", source_json_kind(te));
    if ((rc = need_int(te, at, "offset", &e->offset)) != TGH_OK ||
        (rc = need_int(te, at, "length", &e->length)) != TGH_OK ||
        (rc = need_obj(te, at, "type", &type)) != TGH_OK ||
        (rc = need_type(type, tat, &tname)) != TGH_OK)
        return rc;
    et = lookup(tname, entity_types, TGH_NELEM(entity_types), sizeof(*entity_types));
    if (et == NULL) {
        e->type = snake(tname, "textEntityType", a); /* a newer type: named after TDLib's */
        return TGH_OK;
    }
    switch (et->extra) {
    case X_DROP:
        return TGH_OK;
    case X_LANG_EMPTY:
        e->language = "";
        break;
    case X_LANG:
        e->language = "";
        rc = opt_str(type, tat, "language", &e->language);
        break;
    case X_HREF:
        rc = opt_str(type, tat, "url", &e->href);
        break;
    case X_USER:
        if ((rc = opt_int(type, tat, "user_id", &e->user_id)) == TGH_OK && e->user_id != MSG_UNSET)
            rc = user_id_val(e->user_id, tat, "user_id");
        break;
    case X_EMOJI:
        rc = opt_id_text(type, tat, "custom_emoji_id", a, &e->custom_emoji_id);
        break;
    case X_NONE:
        break;
    }
    e->type = et->ours;
    return rc;
}

static TGH_MUSTCHECK tgh_err
entities_map(const json_t *arr, const struct tgh_jpath *at, struct tgh_arena *a,
             struct msg_event *ev)
{
    size_t n = json_array_size(arr), i;
    json_t *te;
    tgh_err rc;

    if (n > MSG_MAX_ENTITIES)
        return fail(TGH_ETOOBIG, at, NULL, "%zu entities, at most %d", n, MSG_MAX_ENTITIES);
    if (n == 0)
        return TGH_OK;
    ev->entities = tgh_arena_alloc(a, n * sizeof(*ev->entities));
    json_array_foreach (arr, i, te) {
        struct msg_entity *e = &ev->entities[ev->n_entities];

        if ((rc = entity_map(te, TGH_JPATH_IDX(at, i), a, e)) != TGH_OK)
            return rc;
        if (e->type != NULL)
            ev->n_entities++;
    }
    return TGH_OK;
}

/*
 * A formattedText (or, where old TDLib had one, a plain string) under key:
 * its text into *text ("" when allow_empty, else NULL), its entities into ev
 * when ev is not NULL.
 */
static TGH_MUSTCHECK tgh_err
formatted(const json_t *o, const struct tgh_jpath *at, const char *key, bool allow_string,
          bool allow_empty, struct tgh_arena *a, const char **text, struct msg_event *ev)
{
    const struct tgh_jpath *fat = TGH_JPATH_KEY(at, key);
    const json_t *v = get(o, key), *ents = NULL;
    tgh_err rc;

    if (v == NULL)
        return TGH_OK;
    if (allow_string && json_is_string(v)) {
        rc = str_val(v, at, key, text);
    } else if (!json_is_object(v)) {
        return bad(at, key, "expected a formattedText object, got %s", source_json_kind(v));
    } else {
        json_t *t = get(v, "text");

        if (t == NULL)
            return bad(fat, "text", "required");
        if ((rc = str_val(t, fat, "text", text)) != TGH_OK ||
            (rc = opt_arr(v, fat, "entities", &ents)) != TGH_OK)
            return rc;
    }
    if (rc == TGH_OK && **text == '\0' && !allow_empty)
        *text = NULL;
    if (rc == TGH_OK && ev != NULL && ents != NULL)
        rc = entities_map(ents, TGH_JPATH_KEY(fat, "entities"), a, ev);
    return rc;
}

static TGH_MUSTCHECK tgh_err
caption_map(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return formatted(c, at, "caption", false, false, a, &ev->text, ev);
}

/* ---- media ------------------------------------------------------------------ */

/* A `file`: its size and the remote unique id, the same for every user and over time. */
static TGH_MUSTCHECK tgh_err
file_map(const json_t *holder, const struct tgh_jpath *at, const char *key, struct msg_media *m)
{
    const struct tgh_jpath *fat = TGH_JPATH_KEY(at, key);
    const json_t *f = NULL, *remote = NULL;
    int64_t size = 0, expected = 0;
    tgh_err rc;

    if ((rc = opt_obj(holder, at, key, &f)) != TGH_OK || f == NULL)
        return rc;
    if ((rc = opt_int(f, fat, "size", &size)) != TGH_OK ||
        (rc = opt_int(f, fat, "expected_size", &expected)) != TGH_OK ||
        (rc = opt_obj(f, fat, "remote", &remote)) != TGH_OK)
        return rc;
    if (size != 0 || expected != 0)
        m->size_bytes = size != 0 ? size : expected;
    return remote == NULL
               ? TGH_OK
               : opt_str(remote, TGH_JPATH_KEY(fat, "remote"), "unique_id", &m->file_unique_id);
}

/* The largest size of a `photo`, as Desktop picks it (largest area, first of equals). */
static TGH_MUSTCHECK tgh_err
photo_map(const json_t *photo, const struct tgh_jpath *at, struct msg_media *m)
{
    const struct tgh_jpath *sat = TGH_JPATH_KEY(at, "sizes");
    const json_t *sizes = NULL, *best = NULL;
    size_t best_i = 0;
    tgh_err rc;

    if ((rc = opt_arr(photo, at, "sizes", &sizes)) != TGH_OK ||
        (rc = source_best_photo_size(sizes, sat, "photoSize", m, &best, &best_i)) != TGH_OK ||
        best == NULL)
        return rc;
    return file_map(best, TGH_JPATH_IDX(sat, best_i), "photo", m);
}

static TGH_MUSTCHECK tgh_err
fn_photo(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    struct msg_media *m = source_media_of(a, ev, "photo");
    const json_t *photo = NULL;
    tgh_err rc;

    if ((rc = opt_bool(c, at, "has_spoiler", &m->has_spoiler)) != TGH_OK ||
        (rc = opt_obj(c, at, "photo", &photo)) != TGH_OK ||
        (photo != NULL && (rc = photo_map(photo, TGH_JPATH_KEY(at, "photo"), m)) != TGH_OK))
        return rc;
    return caption_map(c, at, a, ev);
}

/*
 * The file-like objects (video, animation, audio, document, voiceNote,
 * videoNote, sticker) share their field names; each reads the ones it has.
 */
struct doc_fields {
    const char *key;  /* content key of the object: "video" */
    const char *file; /* key of its file: "video" */
    bool has_dims, has_name, has_mime, has_length, has_song, has_emoji;
};

static TGH_MUSTCHECK tgh_err
doc_map(const json_t *c, const struct tgh_jpath *at, const struct doc_fields *df,
        struct msg_media *m)
{
    const struct tgh_jpath *dat = TGH_JPATH_KEY(at, df->key);
    int64_t duration = 0, w = 0, h = 0;
    const json_t *d = NULL;
    tgh_err rc;

    if ((rc = opt_obj(c, at, df->key, &d)) != TGH_OK || d == NULL)
        return rc;
    if ((rc = opt_int(d, dat, "duration", &duration)) != TGH_OK ||
        (df->has_dims && ((rc = opt_int(d, dat, "width", &w)) != TGH_OK ||
                          (rc = opt_int(d, dat, "height", &h)) != TGH_OK)) ||
        (df->has_length && (rc = opt_int(d, dat, "length", &w)) != TGH_OK) ||
        (df->has_name && (rc = opt_str(d, dat, "file_name", &m->file_name)) != TGH_OK) ||
        (df->has_mime && (rc = opt_str(d, dat, "mime_type", &m->mime_type)) != TGH_OK) ||
        (df->has_song && ((rc = opt_str(d, dat, "performer", &m->performer)) != TGH_OK ||
                          (rc = opt_str(d, dat, "title", &m->title)) != TGH_OK)) ||
        (df->has_emoji && (rc = opt_str(d, dat, "emoji", &m->sticker_emoji)) != TGH_OK))
        return rc;
    source_media_dims(m, duration, w, df->has_length ? w : h); /* a video note is a square */
    return file_map(d, dat, df->file, m);
}

static const struct doc_fields doc_video = {
    .key = "video", .file = "video", .has_dims = true, .has_name = true, .has_mime = true
};
static const struct doc_fields doc_animation = {
    .key = "animation", .file = "animation", .has_dims = true, .has_name = true, .has_mime = true
};
static const struct doc_fields doc_audio = {
    .key = "audio", .file = "audio", .has_name = true, .has_mime = true, .has_song = true
};
static const struct doc_fields doc_document = {
    .key = "document", .file = "document", .has_name = true, .has_mime = true
};
static const struct doc_fields doc_voice = { .key = "voice_note",
                                             .file = "voice",
                                             .has_mime = true };
static const struct doc_fields doc_video_note = { .key = "video_note",
                                                  .file = "video",
                                                  .has_length = true };
static const struct doc_fields doc_sticker = {
    .key = "sticker", .file = "sticker", .has_dims = true, .has_emoji = true
};

static TGH_MUSTCHECK tgh_err
doc_content(const json_t *c, const struct tgh_jpath *at, const struct doc_fields *df,
            const char *kind, bool has_caption, struct tgh_arena *a, struct msg_event *ev)
{
    struct msg_media *m = source_media_of(a, ev, kind);
    tgh_err rc;

    if ((rc = opt_bool(c, at, "has_spoiler", &m->has_spoiler)) != TGH_OK ||
        (rc = doc_map(c, at, df, m)) != TGH_OK)
        return rc;
    return has_caption ? caption_map(c, at, a, ev) : TGH_OK;
}

static TGH_MUSTCHECK tgh_err
fn_video(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return doc_content(c, at, &doc_video, "video", true, a, ev);
}

static TGH_MUSTCHECK tgh_err
fn_animation(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return doc_content(c, at, &doc_animation, "animation", true, a, ev);
}

static TGH_MUSTCHECK tgh_err
fn_audio(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return doc_content(c, at, &doc_audio, "audio", true, a, ev);
}

static TGH_MUSTCHECK tgh_err
fn_document(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return doc_content(c, at, &doc_document, "document", true, a, ev);
}

static TGH_MUSTCHECK tgh_err
fn_voice(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return doc_content(c, at, &doc_voice, "voice", true, a, ev);
}

static TGH_MUSTCHECK tgh_err
fn_video_note(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a,
              struct msg_event *ev)
{
    return doc_content(c, at, &doc_video_note, "video_note", false, a, ev);
}

static TGH_MUSTCHECK tgh_err
fn_sticker(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return doc_content(c, at, &doc_sticker, "sticker", false, a, ev);
}

/* Media TDLib knows and this mapper does not describe further: the kind and the caption. */
static TGH_MUSTCHECK tgh_err
fn_caption(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    return caption_map(c, at, a, ev);
}

/*
 * A dice throw. Desktop's exporter does not handle dice (ParseMedia in
 * export_data_types.cpp) and writes an empty message, so no name agrees with
 * it: the kind is "dice" and the emoji is kept like a sticker's; the value
 * stays in raw.
 */
static TGH_MUSTCHECK tgh_err
fn_dice(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    (void)a;
    return opt_str(c, at, "emoji", &ev->media->sticker_emoji);
}

/* On the server a text of one emoji; TDLib shows it animated. The export has the text. */
static TGH_MUSTCHECK tgh_err
fn_animated_emoji(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a,
                  struct msg_event *ev)
{
    (void)a;
    return opt_str(c, at, "emoji", &ev->text);
}

static TGH_MUSTCHECK tgh_err
fn_text(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    if (get(c, "text") == NULL)
        return bad(at, "text", "required");
    return formatted(c, at, "text", false, false, a, &ev->text, ev);
}

/* ---- structured content ----------------------------------------------------- */

/* A live period beside the coordinates (of the content, or of a live location). */
static TGH_MUSTCHECK tgh_err
live_period(const json_t *o, const struct tgh_jpath *at, struct msg_event *ev)
{
    int64_t period = 0;
    tgh_err rc = opt_int(o, at, "live_period", &period);

    if (rc == TGH_OK && period != 0)
        ev->location->live_period_s = period;
    return rc;
}

/* messageLocation; before messageLiveLocation existed it also carried live_period. */
static TGH_MUSTCHECK tgh_err
fn_location(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *loc = NULL;
    tgh_err rc;

    if ((rc = need_obj(c, at, "location", &loc)) != TGH_OK ||
        (rc = source_location_map(loc, TGH_JPATH_KEY(at, "location"), false, a, ev)) != TGH_OK)
        return rc;
    return live_period(c, at, ev);
}

static TGH_MUSTCHECK tgh_err
fn_live_location(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a,
                 struct msg_event *ev)
{
    const struct tgh_jpath *lat = TGH_JPATH_KEY(at, "location");
    const json_t *live = NULL, *loc = NULL;
    tgh_err rc;

    if ((rc = need_obj(c, at, "location", &live)) != TGH_OK ||
        (rc = need_obj(live, lat, "location", &loc)) != TGH_OK ||
        (rc = source_location_map(loc, TGH_JPATH_KEY(lat, "location"), false, a, ev)) != TGH_OK)
        return rc;
    return live_period(live, lat, ev);
}

static TGH_MUSTCHECK tgh_err
fn_venue(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *vat = TGH_JPATH_KEY(at, "venue");
    const json_t *venue = NULL, *loc = NULL;
    tgh_err rc;

    if ((rc = need_obj(c, at, "venue", &venue)) != TGH_OK ||
        (rc = need_obj(venue, vat, "location", &loc)) != TGH_OK ||
        (rc = source_location_map(loc, TGH_JPATH_KEY(vat, "location"), false, a, ev)) != TGH_OK ||
        (rc = opt_str(venue, vat, "title", &ev->location->venue_title)) != TGH_OK)
        return rc;
    return opt_str(venue, vat, "address", &ev->location->address);
}

/* The vCard is its text here; an export holds the path of the file Desktop wrote instead. */
static TGH_MUSTCHECK tgh_err
fn_contact(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *contact = NULL;
    tgh_err rc;

    if ((rc = need_obj(c, at, "contact", &contact)) != TGH_OK)
        return rc;
    return source_contact_map(contact, TGH_JPATH_KEY(at, "contact"), a, ev);
}

/* Poll questions and options are formattedText in current TDLib, strings in older ones. */
static TGH_MUSTCHECK tgh_err
fn_poll(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *pat = TGH_JPATH_KEY(at, "poll"), *oat = TGH_JPATH_KEY(pat, "options");
    const json_t *p = NULL, *opts = NULL;
    struct msg_poll *poll;
    size_t i;
    json_t *o;
    tgh_err rc;

    if ((rc = need_obj(c, at, "poll", &p)) != TGH_OK ||
        (rc = opt_arr(p, pat, "options", &opts)) != TGH_OK)
        return rc;
    if (json_array_size(opts) > MSG_MAX_POLL_ANSWERS)
        return fail(TGH_ETOOBIG, oat, NULL, "%zu options, at most %d", json_array_size(opts),
                    MSG_MAX_POLL_ANSWERS);
    poll = ev->poll = tgh_arena_alloc(a, sizeof(*poll));
    poll->total_voters = MSG_UNSET;
    if (get(p, "question") == NULL)
        return bad(pat, "question", "required");
    if ((rc = formatted(p, pat, "question", true, true, a, &poll->question, NULL)) != TGH_OK ||
        (rc = opt_int(p, pat, "total_voter_count", &poll->total_voters)) != TGH_OK ||
        (rc = opt_bool(p, pat, "is_closed", &poll->closed)) != TGH_OK)
        return rc;
    poll->n_answers = json_array_size(opts);
    poll->answers = tgh_arena_alloc(a, (poll->n_answers + 1) * sizeof(*poll->answers));
    json_array_foreach (opts, i, o) {
        struct msg_poll_answer *pa = &poll->answers[i];
        const struct tgh_jpath *iat = TGH_JPATH_IDX(oat, i);

        pa->voters = MSG_UNSET;
        if (!json_is_object(o))
            return bad(iat, NULL, "expected a pollOption object, got %s", source_json_kind(o));
        if (get(o, "text") == NULL)
            return bad(iat, "text", "required");
        if ((rc = formatted(o, iat, "text", true, true, a, &pa->text, NULL)) != TGH_OK ||
            (rc = opt_int(o, iat, "voter_count", &pa->voters)) != TGH_OK ||
            (rc = opt_bool(o, iat, "is_chosen", &pa->chosen)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

/*
 * Content that is the body of a message (anything else is a service action).
 * kind: the media kind, the export's where it has one; NULL for content that
 * is not media. Sorted by TDLib type for bsearch.
 */
static const struct content_type {
    const char *tdlib;
    const char *kind;
    content_fn fn;
} content_types[] = {
    { "messageAnimatedEmoji", NULL, fn_animated_emoji },
    { "messageAnimation", "animation", fn_animation },
    { "messageAudio", "audio", fn_audio },
    { "messageChecklist", "checklist", NULL },
    { "messageContact", NULL, fn_contact },
    { "messageDice", "dice", fn_dice },
    { "messageDocument", "document", fn_document },
    { "messageExpiredPhoto", "expired_photo", NULL },
    { "messageExpiredVideo", "expired_video", NULL },
    { "messageExpiredVideoNote", "expired_video_note", NULL },
    { "messageExpiredVoiceNote", "expired_voice_note", NULL },
    { "messageGame", "game", NULL },
    { "messageGiveaway", "giveaway", NULL },
    { "messageGiveawayWinners", "giveaway_winners", NULL },
    { "messageInvoice", "invoice", NULL },
    { "messageLiveLocation", NULL, fn_live_location },
    { "messageLocation", NULL, fn_location },
    { "messagePaidMedia", "paid_media", fn_caption },
    { "messagePhoto", "photo", fn_photo },
    { "messagePoll", NULL, fn_poll },
    { "messageRichMessage", "rich_message", NULL },
    { "messageStakeDice", "stake_dice", NULL },
    { "messageSticker", "sticker", fn_sticker },
    { "messageStory", "story", NULL },
    { "messageText", NULL, fn_text },
    { "messageUnsupported", "unsupported", NULL },
    { "messageVenue", NULL, fn_venue },
    { "messageVideo", "video", fn_video },
    { "messageVideoNote", "video_note", fn_video_note },
    { "messageVoiceNote", "voice", fn_voice },
};

/* ---- service actions -------------------------------------------------------- */

/*
 * The content minus "@type", for actions without a shape of their own. A
 * `file` inside becomes its remote unique id: TDLib's file ids and download
 * state differ between sessions and change as files download, and the
 * params are part of the content hash.
 */
static json_t *
scrub(json_t *v)
{
    const char *key, *t;
    json_t *out, *x;
    size_t i;

    if (json_is_object(v)) {
        if ((t = type_of(v)) != NULL && strcmp(t, "file") == 0) {
            x = json_object_get(json_object_get(v, "remote"), "unique_id");
            return json_is_string(x) && json_string_length(x) > 0 ? json_incref(x) : json_null();
        }
        out = json_object();
        json_object_foreach (v, key, x)
            (void)json_object_set_new(out, key, scrub(x));
        return out;
    }
    if (json_is_array(v)) {
        out = json_array();
        json_array_foreach (v, i, x)
            (void)json_array_append_new(out, scrub(x));
        return out;
    }
    return json_incref(v);
}

static TGH_MUSTCHECK tgh_err
params_content(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    json_t *o = json_object(), *v;
    const char *key;

    (void)at;
    json_object_foreach ((json_t *)c, key, v) {
        if (strcmp(key, "@type") != 0)
            (void)json_object_set_new(o, key, scrub(v));
    }
    if (json_object_size(o) == 0) {
        json_decref(o);
        o = NULL;
    }
    *out = o;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
params_none(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    (void)c;
    (void)at;
    *out = NULL;
    return TGH_OK;
}

/* One key of the export's params from one integer of the content; 0 is "none". */
static TGH_MUSTCHECK tgh_err
params_int(const json_t *c, const struct tgh_jpath *at, const char *from, const char *to,
           bool is_msg, json_t **out)
{
    int64_t v = 0;
    tgh_err rc = is_msg ? opt_msg_id(c, at, from, &v) : opt_int(c, at, from, &v);

    *out = rc == TGH_OK && v != 0 ? json_pack("{sI}", to, (json_int_t)v) : NULL;
    return rc;
}

static TGH_MUSTCHECK tgh_err
params_pin(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_int(c, at, "message_id", "message_id", true, out);
}

static TGH_MUSTCHECK tgh_err
params_ttl(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    int64_t v = 0;
    tgh_err rc = opt_int(c, at, "message_auto_delete_time", &v);

    *out = rc == TGH_OK ? json_pack("{sI}", "period", (json_int_t)v) : NULL;
    return rc;
}

static TGH_MUSTCHECK tgh_err
params_duration(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_int(c, at, "duration", "duration", false, out);
}

static TGH_MUSTCHECK tgh_err
params_boost(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_int(c, at, "boost_count", "boosts", false, out);
}

static TGH_MUSTCHECK tgh_err
params_scheduled(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_int(c, at, "start_date", "schedule_date", false, out);
}

/* One string of the content under the export's key. */
static TGH_MUSTCHECK tgh_err
params_str(const json_t *c, const struct tgh_jpath *at, const char *from, const char *to,
           json_t **out)
{
    const char *s = NULL;
    tgh_err rc = opt_str(c, at, from, &s);

    *out = rc == TGH_OK && s != NULL ? json_pack("{ss}", to, s) : NULL;
    return rc;
}

static TGH_MUSTCHECK tgh_err
params_title(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_str(c, at, "title", "title", out);
}

static TGH_MUSTCHECK tgh_err
params_topic_created(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_str(c, at, "name", "title", out);
}

static TGH_MUSTCHECK tgh_err
params_custom(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    return params_str(c, at, "text", "information_text", out);
}

static TGH_MUSTCHECK tgh_err
params_topic_edit(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    const char *name = NULL;
    bool is_icon = false;
    int64_t icon = 0;
    tgh_err rc;

    *out = NULL;
    if ((rc = opt_str(c, at, "name", &name)) != TGH_OK ||
        (rc = opt_bool(c, at, "edit_icon_custom_emoji_id", &is_icon)) != TGH_OK ||
        (rc = opt_int64(c, at, "icon_custom_emoji_id", &icon)) != TGH_OK)
        return rc;
    *out = json_object();
    if (name != NULL)
        (void)json_object_set_new(*out, "new_title", json_string(name));
    if (is_icon)
        (void)json_object_set_new(*out, "new_icon_emoji_id", json_integer((json_int_t)icon));
    if (json_object_size(*out) == 0) {
        json_decref(*out);
        *out = NULL;
    }
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
params_game_score(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    int64_t msg = 0, score = 0;
    tgh_err rc;

    *out = NULL;
    if ((rc = opt_msg_id(c, at, "game_message_id", &msg)) != TGH_OK ||
        (rc = opt_int(c, at, "score", &score)) != TGH_OK)
        return rc;
    *out = json_pack("{sI}", "score", (json_int_t)score);
    if (msg != 0)
        (void)json_object_set_new(*out, "game_message_id", json_integer((json_int_t)msg));
    return TGH_OK;
}

/* Desktop's names for MTProto's discard reasons; TDLib's "declined" is MTProto's busy. */
static const struct name call_reasons[] = {
    { "callDiscardReasonDeclined", "busy" },
    { "callDiscardReasonDisconnected", "disconnect" },
    { "callDiscardReasonHungUp", "hangup" },
    { "callDiscardReasonMissed", "missed" },
    { "callDiscardReasonUpgradeToGroupCall", "migrate_conference_all" },
};

static TGH_MUSTCHECK tgh_err
params_call(const json_t *c, const struct tgh_jpath *at, json_t **out)
{
    const json_t *reason = NULL;
    const struct name *r;
    int64_t duration = 0;
    tgh_err rc;

    *out = NULL;
    if ((rc = opt_int(c, at, "duration", &duration)) != TGH_OK ||
        (rc = opt_obj(c, at, "discard_reason", &reason)) != TGH_OK)
        return rc;
    *out = json_object();
    if (duration != 0)
        (void)json_object_set_new(*out, "duration_seconds", json_integer((json_int_t)duration));
    r = lookup(type_of(reason), call_reasons, TGH_NELEM(call_reasons), sizeof(*call_reasons));
    if (r != NULL)
        (void)json_object_set_new(*out, "discard_reason", json_string(r->ours));
    if (json_object_size(*out) == 0) {
        json_decref(*out);
        *out = NULL;
    }
    return TGH_OK;
}

/*
 * Service messages with the export's action name. Where the export writes
 * the same information, params take its shape (and only what it has, so the
 * hashes agree; raw keeps the rest). Where it writes names TDLib does not
 * have (members, inviter), params are the TDLib content. Sorted for bsearch.
 */
static const struct service_type {
    const char *tdlib;
    const char *action;
    params_fn params;
} service_types[] = {
    { "messageBasicGroupChatCreate", "create_group", params_content },
    { "messageCall", "phone_call", params_call },
    { "messageChatAddMembers", "invite_members", params_content },
    { "messageChatBoost", "boost_apply", params_boost },
    { "messageChatChangePhoto", "edit_group_photo", params_content },
    { "messageChatChangeTitle", "edit_group_title", params_title },
    { "messageChatDeleteMember", "remove_members", params_content },
    { "messageChatDeletePhoto", "delete_group_photo", params_none },
    { "messageChatJoinByLink", "join_group_by_link", params_none },
    { "messageChatJoinByRequest", "join_group_by_request", params_none },
    { "messageChatSetMessageAutoDeleteTime", "set_messages_ttl", params_ttl },
    { "messageChatUpgradeFrom", "migrate_from_group", params_title },
    { "messageChatUpgradeTo", "migrate_to_supergroup", params_none },
    { "messageContactRegistered", "joined_telegram", params_none },
    { "messageCustomServiceAction", "custom_action", params_custom },
    { "messageForumTopicCreated", "topic_created", params_topic_created },
    { "messageForumTopicEdited", "topic_edit", params_topic_edit },
    { "messageGameScore", "score_in_game", params_game_score },
    { "messageInviteVideoChatParticipants", "invite_to_group_call", params_content },
    { "messagePinMessage", "pin_message", params_pin },
    { "messageScreenshotTaken", "take_screenshot", params_none },
    { "messageSupergroupChatCreate", "create_channel", params_title },
    { "messageVideoChatEnded", "group_call", params_duration },
    { "messageVideoChatScheduled", "group_call_scheduled", params_scheduled },
    { "messageVideoChatStarted", "group_call", params_none },
};

tgh_err
source_tdlib_content_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *cat = TGH_JPATH_KEY(TDL_ROOT, "content");
    const struct content_type *ct;
    const struct service_type *st;
    const json_t *c = NULL;
    const char *type;
    tgh_err rc;

    if ((rc = need_obj(msg, TDL_ROOT, "content", &c)) != TGH_OK ||
        (rc = need_type(c, cat, &type)) != TGH_OK)
        return rc;
    if ((ct = lookup(type, content_types, TGH_NELEM(content_types), sizeof(*ct))) != NULL) {
        if (ct->kind != NULL)
            (void)source_media_of(a, ev, ct->kind);
        return ct->fn != NULL ? ct->fn(c, cat, a, ev) : TGH_OK;
    }
    /* Every other content type is a service message, known or newer than this table. */
    if ((st = lookup(type, service_types, TGH_NELEM(service_types), sizeof(*st))) != NULL) {
        ev->action = st->action;
        return st->params(c, cat, &ev->action_params);
    }
    ev->action = snake(type, "message", a);
    source_warn("unknown_content", cat, "@type",
                "%.64s is not known: kept as the action %.64s, its JSON in raw", type, ev->action);
    return params_content(c, cat, &ev->action_params);
}
