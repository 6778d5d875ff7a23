/* SPDX-License-Identifier: MIT */
/*
 * source_export_msg.c - one message object of a Telegram Desktop export
 * mapped onto a struct msg_event. No I/O and no state between messages.
 * A known field with the wrong JSON type fails the message (the caller
 * dead-letters it); unknown fields and types only stay in raw. null reads as
 * absent, as Desktop writes null for empty names. Table: docs/internals/export.md.
 */
#include "source/source_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/util.h"

/* Desktop's texts for files it did not save (export_output_json.cpp, pushPath). */
static const char *const placeholders[] = {
    "(File not included.",
    "(File exceeds maximum size.",
    "(File unavailable",
};

static const struct {
    const char *media_type; /* the export's "media_type" */
    const char *kind;       /* msg_media.kind */
} media_kinds[] = {
    { "sticker", "sticker" },     { "video_message", "video_note" }, { "voice_message", "voice" },
    { "animation", "animation" }, { "video_file", "video" },         { "audio_file", "audio" },
};

/* Keys every service message has; the rest of a service object is the action's. */
static const char *const service_common[] = {
    "id",    "type",     "date",   "date_unixtime", "edited",        "edited_unixtime",
    "actor", "actor_id", "action", "text",          "text_entities",
};

const char *
source_json_kind(const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static json_t *
get(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_null(v) ? NULL : v;
}

static char *
dup(struct tgh_arena *a, const json_t *s)
{
    return tgh_arena_strndup(a, json_string_value(s), json_string_length(s));
}

/* A whole string of decimal digits, optionally negative, within int64_t. */
static bool
dec_of(const char *s, int64_t *out)
{
    char *end;
    long long n;

    if (!(*s == '-' || (*s >= '0' && *s <= '9')))
        return false;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || end[-1] == '-')
        return false;
    *out = n;
    return true;
}

/* An integer, or a string of one (Desktop writes *_unixtime as strings). */
static bool
int_of(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    return json_is_string(v) && dec_of(json_string_value(v), out);
}

static TGH_MUSTCHECK tgh_err
get_str(const json_t *o, const char *key, struct tgh_arena *a, const char **out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (!json_is_string(v))
        return tgh_errf(TGH_EINVAL, "%s: expected a string, got %s", key, source_json_kind(v));
    *out = dup(a, v);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
get_int(const json_t *o, const char *key, int64_t *out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (!int_of(v, out))
        return tgh_errf(TGH_EINVAL, "%s: expected an integer, got %s", key, source_json_kind(v));
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
get_bool(const json_t *o, const char *key, bool *out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (json_is_string(v) &&
        (strcmp(json_string_value(v), "true") == 0 || strcmp(json_string_value(v), "false") == 0)) {
        *out = strcmp(json_string_value(v), "true") == 0;
        source_warn("bool_as_string", NULL, key, "the string \"%s\" read as a boolean",
                    json_string_value(v));
        return TGH_OK;
    }
    if (!json_is_boolean(v))
        return tgh_errf(TGH_EINVAL, "%s: expected a boolean, got %s", key, source_json_kind(v));
    *out = json_is_true(v);
    return TGH_OK;
}

/*
 * A time: the *_unixtime key when present, else the ISO key, which Desktop
 * writes in the exporting machine's local time without an offset; the
 * importer has set TZ to that zone when is_local_tz (docs/internals/export.md).
 */
static TGH_MUSTCHECK tgh_err
get_time(const struct source_export_msg_ctx *c, const json_t *o, const char *raw_key,
         const char *iso_key, int64_t *out)
{
    json_t *v = get(o, raw_key);
    const char *end;
    struct tm tm;
    int mday, mon;

    if (v != NULL) {
        if (!int_of(v, out))
            return tgh_errf(TGH_EINVAL, "%s: not a Unix time", raw_key);
        return TGH_OK;
    }
    v = get(o, iso_key);
    if (v == NULL)
        return TGH_OK;
    memset(&tm, 0, sizeof(tm));
    if (!json_is_string(v) ||
        (end = strptime(json_string_value(v), "%Y-%m-%dT%H:%M:%S", &tm)) == NULL || *end != '\0')
        return tgh_errf(TGH_EINVAL, "%s: not a date like 2020-11-12T12:57:31", iso_key);
    mday = tm.tm_mday;
    mon = tm.tm_mon;
    if (c->is_local_tz) {
        tm.tm_isdst = -1; /* let the zone decide; see the doc on DST overlaps */
        *out = (int64_t)mktime(&tm);
    } else {
        *out = (int64_t)timegm(&tm);
    }
    /* Both normalise: 2020-02-30 would quietly become March 1. */
    if (tm.tm_mday != mday || tm.tm_mon != mon)
        return tgh_errf(TGH_EINVAL, "%s: '%s' is not a date of the calendar", iso_key,
                        json_string_value(v));
    return TGH_OK;
}

/* "user123", "channel123", "chat123", or a bare number (exports of about 2020: a user). */
static bool
peer_of(const json_t *v, enum msg_peer_type *type, int64_t *bare)
{
    static const struct {
        const char *prefix;
        enum msg_peer_type type;
    } kinds[] = { { "user", MSG_PEER_USER },
                  { "channel", MSG_PEER_CHANNEL },
                  { "chat", MSG_PEER_CHAT } };
    const char *s;

    if (json_is_integer(v)) {
        *type = MSG_PEER_USER;
        *bare = json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    s = json_string_value(v);
    *type = MSG_PEER_USER;
    for (size_t i = 0; i < TGH_NELEM(kinds); i++) {
        size_t n = strlen(kinds[i].prefix);

        if (strncmp(s, kinds[i].prefix, n) == 0) {
            *type = kinds[i].type;
            s += n;
            break;
        }
    }
    return *s >= '0' && *s <= '9' && dec_of(s, bare);
}

static TGH_MUSTCHECK tgh_err
get_peer(const json_t *o, const char *key, enum msg_peer_type *type, int64_t *id)
{
    json_t *v = get(o, key);
    int64_t bare;

    if (v == NULL)
        return TGH_OK;
    if (!peer_of(v, type, &bare))
        return tgh_errf(TGH_EINVAL, "%s: not a peer id like \"user123\"", key);
    *id = msg_chat_id_from_peer(*type, bare);
    if (*id == 0) /* out of range for its kind: dropping it would hide who wrote the message */
        return tgh_errf(TGH_EINVAL, "%s: peer id %" PRId64 " out of range for a %s", key, bare,
                        msg_peer_type_name(*type));
    return TGH_OK;
}

static bool
is_placeholder(const char *s)
{
    for (size_t i = 0; i < TGH_NELEM(placeholders); i++) {
        if (strncmp(s, placeholders[i], strlen(placeholders[i])) == 0)
            return true;
    }
    return false;
}

/* A document id: Desktop writes a string, older files may hold a number. */
static bool
id_str(const json_t *v, struct tgh_arena *a, const char **out)
{
    char buf[24];
    int64_t id;

    if (json_is_string(v)) {
        *out = dup(a, v);
        return true;
    }
    if (!json_is_integer(v))
        return false;
    id = json_integer_value(v);
    (void)snprintf(buf, sizeof(buf), "%" PRId64, id);
    *out = tgh_arena_strdup(a, buf);
    return true;
}

static TGH_MUSTCHECK tgh_err
entity_fill(const json_t *part, const char *key, size_t i, struct tgh_arena *a,
            struct msg_entity *e)
{
    json_t *type = get(part, "type"), *doc = get(part, "document_id");
    tgh_err rc;

    if (!json_is_string(type))
        return tgh_errf(TGH_EINVAL, "%s[%zu].type: expected a string", key, i);
    e->type = dup(a, type);
    e->user_id = MSG_UNSET;
    if ((rc = get_str(part, "href", a, &e->href)) != TGH_OK ||
        (rc = get_str(part, "language", a, &e->language)) != TGH_OK ||
        (rc = get_int(part, "user_id", &e->user_id)) != TGH_OK)
        return rc;
    if (doc != NULL && !id_str(doc, a, &e->custom_emoji_id))
        return tgh_errf(TGH_EINVAL, "%s[%zu].document_id: expected a string", key, i);
    return TGH_OK;
}

/*
 * A text value: a string, or an array of strings and {type, text, ...} parts
 * (also the shape of text_entities). *text is the concatenation, NULL when
 * empty (text may be NULL: entities only); with ent != NULL every non-"plain" part becomes an
 * entity whose offset and length are UTF-16 units of the concatenation.
 */
static TGH_MUSTCHECK tgh_err
text_of(const json_t *v, const char *key, struct tgh_arena *a, const char **text,
        struct msg_entity **ent, size_t *n_ent)
{
    size_t total = 0, n = 0, i;
    int64_t units = 0;
    json_t *part;
    char *buf;
    tgh_err rc;

    if (json_is_string(v)) {
        if (text != NULL)
            *text = json_string_length(v) > 0 ? dup(a, v) : NULL;
        return TGH_OK;
    }
    if (!json_is_array(v))
        return tgh_errf(TGH_EINVAL, "%s: expected a string or an array, got %s", key,
                        source_json_kind(v));
    json_array_foreach (v, i, part) {
        json_t *t = json_is_object(part) ? get(part, "text") : part;

        if (!json_is_string(t))
            return tgh_errf(TGH_EINVAL, "%s[%zu]: expected a string or a {type, text} part", key,
                            i);
        total += json_string_length(t);
    }
    buf = text != NULL ? tgh_arena_alloc(a, total + 1) : NULL;
    if (ent != NULL)
        *ent = tgh_arena_alloc(a, json_array_size(v) * sizeof(**ent));
    total = 0;
    json_array_foreach (v, i, part) {
        json_t *t = json_is_object(part) ? get(part, "text") : part, *type = get(part, "type");
        size_t len = json_string_length(t);
        int64_t len16 = msg_utf16_len(json_string_value(t), len);

        if (ent != NULL && json_is_object(part) &&
            !(json_is_string(type) && strcmp(json_string_value(type), "plain") == 0)) {
            struct msg_entity *e = &(*ent)[n++];

            if ((rc = entity_fill(part, key, i, a, e)) != TGH_OK)
                return rc;
            e->offset = units;
            e->length = len16;
            e->text = tgh_arena_strndup(a, json_string_value(t), len);
        }
        if (buf != NULL)
            memcpy(buf + total, json_string_value(t), len);
        total += len;
        units += len16;
    }
    if (buf != NULL) {
        buf[total] = '\0';
        *text = total > 0 ? buf : NULL;
    }
    if (n_ent != NULL)
        *n_ent = n;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
body_fill(json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    json_t *text = get(o, "text"), *ents = get(o, "text_entities");
    tgh_err rc;

    if (ents != NULL && !json_is_array(ents))
        return tgh_errf(TGH_EINVAL, "text_entities: expected an array, got %s",
                        source_json_kind(ents));
    if (text != NULL &&
        (rc = text_of(text, "text", a, &ev->text, ents == NULL ? &ev->entities : NULL,
                      &ev->n_entities)) != TGH_OK)
        return rc;
    if (ents != NULL)
        return text_of(ents, "text_entities", a, NULL, &ev->entities, &ev->n_entities);
    return TGH_OK;
}

/* A file path or one of Desktop's placeholders. */
static TGH_MUSTCHECK tgh_err
path_of(const json_t *o, const char *key, struct tgh_arena *a, const char **path,
        const char **placeholder)
{
    const char *s = NULL;
    tgh_err rc = get_str(o, key, a, &s);

    if (rc != TGH_OK || s == NULL)
        return rc;
    if (is_placeholder(s)) {
        if (placeholder != NULL)
            *placeholder = s;
    } else {
        *path = s;
    }
    return TGH_OK;
}

static const char *
media_kind(const char *media_type)
{
    if (media_type == NULL)
        return "document";
    for (size_t i = 0; i < TGH_NELEM(media_kinds); i++) {
        if (strcmp(media_type, media_kinds[i].media_type) == 0)
            return media_kinds[i].kind;
    }
    source_warn("unknown_media", NULL, "media_type",
                "\"%.64s\" is not known: kept as the media kind it names", media_type);
    return media_type; /* a newer kind: kept verbatim */
}

static TGH_MUSTCHECK tgh_err
media_fill(const json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    bool is_photo = get(o, "photo") != NULL;
    struct msg_media *m;
    const char *media_type = NULL;
    tgh_err rc;

    if (!is_photo && get(o, "file") == NULL)
        return TGH_OK;
    m = ev->media = tgh_arena_alloc(a, sizeof(*m));
    m->size_bytes = m->duration_s = m->width = m->height = MSG_UNSET;
    if ((rc = get_int(o, "width", &m->width)) != TGH_OK ||
        (rc = get_int(o, "height", &m->height)) != TGH_OK ||
        (rc = get_bool(o, "media_spoiler", &m->has_spoiler)) != TGH_OK)
        return rc;
    if (is_photo) {
        m->kind = "photo";
        return (rc = path_of(o, "photo", a, &m->path, &m->placeholder)) != TGH_OK
                   ? rc
                   : get_int(o, "photo_file_size", &m->size_bytes);
    }
    if ((rc = get_str(o, "media_type", a, &media_type)) != TGH_OK ||
        (rc = path_of(o, "file", a, &m->path, &m->placeholder)) != TGH_OK ||
        (rc = path_of(o, "thumbnail", a, &m->thumbnail_path, NULL)) != TGH_OK ||
        (rc = get_str(o, "file_name", a, &m->file_name)) != TGH_OK ||
        (rc = get_str(o, "mime_type", a, &m->mime_type)) != TGH_OK ||
        (rc = get_int(o, "file_size", &m->size_bytes)) != TGH_OK ||
        (rc = get_int(o, "duration_seconds", &m->duration_s)) != TGH_OK ||
        (rc = get_str(o, "sticker_emoji", a, &m->sticker_emoji)) != TGH_OK ||
        (rc = get_str(o, "performer", a, &m->performer)) != TGH_OK ||
        (rc = get_str(o, "title", a, &m->title)) != TGH_OK)
        return rc;
    m->kind = media_kind(media_type);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
poll_fill(const json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    json_t *p = get(o, "poll"), *answers, *q, *ans;
    struct msg_poll *poll;
    size_t i;
    tgh_err rc;

    if (p == NULL)
        return TGH_OK;
    answers = get(p, "answers");
    q = get(p, "question");
    if (!json_is_object(p) || (answers != NULL && !json_is_array(answers)))
        return tgh_errf(TGH_EINVAL, "poll: expected an object with an answers array");
    poll = ev->poll = tgh_arena_alloc(a, sizeof(*poll));
    poll->total_voters = MSG_UNSET;
    if ((q != NULL &&
         (rc = text_of(q, "poll.question", a, &poll->question, NULL, NULL)) != TGH_OK) ||
        (rc = get_bool(p, "closed", &poll->closed)) != TGH_OK ||
        (rc = get_int(p, "total_voters", &poll->total_voters)) != TGH_OK)
        return rc;
    if (q != NULL && poll->question == NULL)
        poll->question = ""; /* present but empty: not the same as absent */
    poll->n_answers = json_array_size(answers);
    poll->answers = tgh_arena_alloc(a, poll->n_answers * sizeof(*poll->answers));
    json_array_foreach (answers, i, ans) {
        struct msg_poll_answer *pa = &poll->answers[i];
        json_t *t = get(ans, "text");

        pa->voters = MSG_UNSET;
        if (!json_is_object(ans) || t == NULL)
            return tgh_errf(TGH_EINVAL, "poll.answers[%zu]: expected an object with a text", i);
        if ((rc = text_of(t, "poll.answers.text", a, &pa->text, NULL, NULL)) != TGH_OK ||
            (rc = get_int(ans, "voters", &pa->voters)) != TGH_OK ||
            (rc = get_bool(ans, "chosen", &pa->chosen)) != TGH_OK)
            return rc;
        if (pa->text == NULL)
            pa->text = "";
    }
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
contact_fill(const json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    json_t *ci = get(o, "contact_information");
    struct msg_contact *c;
    tgh_err rc;

    if (ci == NULL)
        return TGH_OK;
    if (!json_is_object(ci))
        return tgh_errf(TGH_EINVAL, "contact_information: expected an object");
    c = ev->contact = tgh_arena_alloc(a, sizeof(*c));
    c->user_id = MSG_UNSET;
    if ((rc = get_str(ci, "first_name", a, &c->first_name)) != TGH_OK ||
        (rc = get_str(ci, "last_name", a, &c->last_name)) != TGH_OK ||
        (rc = get_str(ci, "phone_number", a, &c->phone)) != TGH_OK ||
        (rc = get_int(ci, "user_id", &c->user_id)) != TGH_OK)
        return rc;
    /* Desktop writes the vCard as a file next to result.json: this is its path. */
    return path_of(o, "contact_vcard", a, &c->vcard, NULL);
}

static TGH_MUSTCHECK tgh_err
location_fill(const json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    json_t *li = get(o, "location_information");
    struct msg_location *l;
    tgh_err rc;

    if (li == NULL && get(o, "place_name") == NULL && get(o, "address") == NULL)
        return TGH_OK;
    l = ev->location = tgh_arena_alloc(a, sizeof(*l));
    l->live_period_s = MSG_UNSET;
    if (li != NULL) {
        json_t *lat = get(li, "latitude"), *lon = get(li, "longitude");

        if (!json_is_number(lat) || !json_is_number(lon))
            return tgh_errf(TGH_EINVAL,
                            "location_information: expected numeric latitude and longitude");
        l->latitude = json_number_value(lat);
        l->longitude = json_number_value(lon);
    }
    if ((rc = get_int(o, "live_location_period_seconds", &l->live_period_s)) != TGH_OK ||
        (rc = get_str(o, "place_name", a, &l->venue_title)) != TGH_OK ||
        (rc = get_str(o, "address", a, &l->address)) != TGH_OK)
        return rc;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
reactions_fill(const json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    json_t *rs = json_object_get(o, "reactions"), *r;
    size_t i;
    tgh_err rc;

    if (rs == NULL)
        return TGH_OK;
    ev->has_reactions = true;
    if (json_is_null(rs))
        return TGH_OK;
    if (!json_is_array(rs))
        return tgh_errf(TGH_EINVAL, "reactions: expected an array, got %s", source_json_kind(rs));
    ev->n_reactions = json_array_size(rs);
    ev->reactions = tgh_arena_alloc(a, ev->n_reactions * sizeof(*ev->reactions));
    json_array_foreach (rs, i, r) {
        struct msg_reaction *mr = &ev->reactions[i];
        json_t *doc = get(r, "document_id");

        mr->count = MSG_UNSET;
        if (!json_is_object(r))
            return tgh_errf(TGH_EINVAL, "reactions[%zu]: expected an object", i);
        if ((rc = get_str(r, "type", a, &mr->type)) != TGH_OK ||
            (rc = get_int(r, "count", &mr->count)) != TGH_OK ||
            (rc = get_str(r, "emoji", a, &mr->emoji)) != TGH_OK)
            return rc;
        if (doc != NULL && !id_str(doc, a, &mr->custom_emoji_id))
            return tgh_errf(TGH_EINVAL, "reactions[%zu].document_id: expected a string", i);
    }
    return TGH_OK;
}

/* Everything in a service object but the common keys describes the action. */
static json_t *
action_params(json_t *o)
{
    json_t *params = json_object(), *v;
    const char *key;

    json_object_foreach (o, key, v) {
        size_t i;

        for (i = 0; i < TGH_NELEM(service_common); i++) {
            if (strcmp(key, service_common[i]) == 0)
                break;
        }
        if (i == TGH_NELEM(service_common))
            (void)json_object_set(params, key, v);
    }
    if (json_object_size(params) == 0) {
        json_decref(params);
        return NULL;
    }
    return params;
}

static TGH_MUSTCHECK tgh_err
service_fill(json_t *o, struct tgh_arena *a, struct msg_event *ev)
{
    tgh_err rc;

    if ((rc = get_str(o, "action", a, &ev->action)) != TGH_OK ||
        (rc = get_str(o, "actor", a, &ev->sender_name)) != TGH_OK ||
        (rc = get_peer(o, "actor_id", &ev->sender_type, &ev->sender_id)) != TGH_OK)
        return rc;
    /* Desktop writes ActionCustomAction as actor and information_text only. */
    if (ev->action == NULL)
        ev->action = get(o, "information_text") != NULL ? "custom_action" : "unknown";
    ev->action_params = action_params(o);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
reply_fill(const struct source_export_msg_ctx *c, const json_t *o, struct msg_event *ev)
{
    json_t *peer = get(o, "reply_to_peer_id");
    enum msg_peer_type type;
    int64_t bare, id;
    tgh_err rc;

    if ((rc = get_int(o, "reply_to_message_id", &ev->reply_to_message_id)) != TGH_OK)
        return rc;
    if (peer == NULL)
        return TGH_OK;
    if (json_is_integer(peer)) {
        /* Not what Desktop writes: taken as signed, or this chat's own bare id. */
        bare = json_integer_value(peer);
        id = msg_chat_id_from_bare(c->chat_type, bare) == c->chat_id
                 ? c->chat_id
                 : msg_chat_id_from_bare(MSG_CHAT_UNKNOWN, bare); /* 0 unless a valid signed id */
    } else if (peer_of(peer, &type, &bare)) {
        id = msg_chat_id_from_peer(type, bare);
    } else {
        return tgh_errf(TGH_EINVAL, "reply_to_peer_id: not a peer id like \"channel123\"");
    }
    if (id == 0)
        return tgh_errf(TGH_EINVAL, "reply_to_peer_id: peer id %" PRId64 " out of range", bare);
    if (id != c->chat_id)
        ev->reply_to_chat_id = id;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
message_fill(const struct source_export_msg_ctx *c, json_t *o, struct tgh_arena *a,
             struct msg_event *ev)
{
    tgh_err rc;

    if ((rc = get_str(o, "from", a, &ev->sender_name)) != TGH_OK ||
        (rc = get_peer(o, "from_id", &ev->sender_type, &ev->sender_id)) != TGH_OK ||
        (rc = get_str(o, "author", a, &ev->author_signature)) != TGH_OK ||
        (rc = get_str(o, "forwarded_from", a, &ev->forward_from_name)) != TGH_OK ||
        (rc = get_peer(o, "forwarded_from_id", &ev->forward_from_type, &ev->forward_from_id)) !=
            TGH_OK ||
        (rc = get_str(o, "saved_from", a, &ev->saved_from)) != TGH_OK ||
        (rc = get_str(o, "via_bot", a, &ev->via_bot)) != TGH_OK ||
        (rc = reply_fill(c, o, ev)) != TGH_OK || (rc = media_fill(o, a, ev)) != TGH_OK ||
        (rc = poll_fill(o, a, ev)) != TGH_OK || (rc = contact_fill(o, a, ev)) != TGH_OK ||
        (rc = location_fill(o, a, ev)) != TGH_OK)
        return rc;
    /* Desktop writes the key only for a forward, and null when the name is empty. */
    if (json_is_null(json_object_get(o, "forwarded_from")))
        ev->forward_from_name = "";
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
msg_fill(const struct source_export_msg_ctx *c, json_t *obj, struct tgh_arena *a,
         struct msg_event *ev)
{
    json_t *id = json_object_get(obj, "id"), *buttons = get(obj, "inline_bot_buttons");
    const char *type = "message";
    tgh_err rc;

    if (!json_is_object(obj))
        return tgh_errf(TGH_EINVAL, "message: expected an object, got %s", source_json_kind(obj));
    if (!json_is_integer(id))
        return tgh_errf(TGH_EINVAL, "id: expected an integer, got %s",
                        id ? source_json_kind(id) : "nothing");
    ev->op = MSG_OP_UPSERT;
    ev->source = MSG_SOURCE_EXPORT;
    ev->observed_at = c->observed_at;
    ev->chat_id = c->chat_id;
    ev->chat_type = c->chat_type;
    ev->chat_title = c->chat_title != NULL ? tgh_arena_strdup(a, c->chat_title) : NULL;
    ev->message_id = json_integer_value(id);
    ev->raw = json_incref(obj);
    if ((rc = get_str(obj, "type", a, &type)) != TGH_OK ||
        (rc = get_time(c, obj, "date_unixtime", "date", &ev->date)) != TGH_OK ||
        (rc = get_time(c, obj, "edited_unixtime", "edited", &ev->edit_date)) != TGH_OK)
        return rc;
    if (ev->date == MSG_UNSET && strcmp(type, "unsupported") == 0) {
        /*
         * Desktop writes what it cannot export as {id, type} only. Ids and dates
         * grow together within a chat, so the previous message's date is the
         * closest one known; raw keeps the object as written.
         */
        if (c->prev_date == MSG_UNSET)
            return tgh_errf(TGH_EINVAL,
                            "date: missing in an \"unsupported\" message with no earlier message "
                            "in the chat to take it from");
        ev->date = c->prev_date;
        source_warn("date_derived", NULL, "date",
                    "an \"unsupported\" message without a date: the previous message's taken");
    }
    if (ev->date == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "date: missing (neither date_unixtime nor date; type \"%s\")",
                        type);
    if ((rc = body_fill(obj, a, ev)) != TGH_OK || (rc = reactions_fill(obj, a, ev)) != TGH_OK)
        return rc;
    if (buttons != NULL && !json_is_array(buttons))
        return tgh_errf(TGH_EINVAL, "inline_bot_buttons: expected an array, got %s",
                        source_json_kind(buttons));
    ev->buttons = json_incref(buttons);
    if (strcmp(type, "service") == 0)
        return service_fill(obj, a, ev);
    if (strcmp(type, "unsupported") == 0)
        return TGH_OK; /* Desktop could not export the content: id and date only */
    return message_fill(c, obj, a, ev);
}

tgh_err
source_export_msg_fill(const struct source_export_msg_ctx *c, json_t *obj, struct tgh_arena *a,
                       struct msg_event *ev)
{
    tgh_err rc;

    source_warn_begin();
    rc = msg_fill(c, obj, a, ev);
    if (rc == TGH_OK)
        source_warn_attach(ev);
    else
        source_warn_begin(); /* no message: no warnings */
    return rc;
}
