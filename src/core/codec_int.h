/* SPDX-License-Identifier: MIT */
/*
 * codec_int.h - private to the JSON codec (src/core/codec*.c): the field
 * tables that describe each JSON object of an event once, so that decoding,
 * validation, equality and encoding cannot disagree about a field, and the
 * helpers every codec file reads them with. The tables are static so that
 * each file sees their sizes.
 */
#ifndef TGH_CORE_CODEC_INT_H
#define TGH_CORE_CODEC_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "core/jpath.h"
#include "core/msg.h"
#include "core/util.h"

enum kind {
    K_INT,       /* int64_t, MSG_UNSET when absent */
    K_STR,       /* const char *, NULL when absent */
    K_BOOL,      /* bool, false when absent */
    K_REAL,      /* double, always present */
    K_OP,        /* enum msg_op */
    K_SOURCE,    /* enum msg_source */
    K_CHAT_TYPE, /* enum msg_chat_type, always encoded */
    K_PEER_TYPE, /* enum msg_peer_type, MSG_PEER_NONE when absent */
    K_JSON,      /* json_t *, any value, NULL when absent */
    K_JSON_OBJ,  /* json_t *, an object */
    K_JSON_ARR,  /* json_t *, an array */
    K_SPECIAL,   /* a key handled by its own code; listed so it is a known key */
};

enum rule { R_ANY, R_POS, R_NONNEG, R_NONZERO, R_LAT, R_LON, R_TIME };

#define F_REQ      0x01 /* required (in a group: once any of its fields is set) */
#define F_NONEMPTY 0x02 /* a string that may not be "" */
#define F_HASH     0x04 /* part of the content hash */
#define F_BIG      0x08 /* a string capped at MSG_MAX_TEXT_BYTES, not MSG_MAX_STRING_BYTES */

struct field {
    const char *key;
    unsigned char kind;
    unsigned char rule;
    unsigned char flags;
    size_t off; /* of the member in the struct the table describes */
};

#define EV(m) offsetof(struct msg_event, m)

/* The top-level object, in encoding order. */
static const struct field top_fields[] = {
    { "schema_version", K_SPECIAL, R_ANY, 0, 0 },
    { "op", K_OP, R_ANY, F_REQ, EV(op) },
    { "source", K_SOURCE, R_ANY, F_REQ, EV(source) },
    { "idempotency_key", K_SPECIAL, R_ANY, 0, 0 },
    { "observed_at", K_INT, R_TIME, 0, EV(observed_at) },
    { "chat", K_SPECIAL, R_ANY, 0, 0 },
    { "message_id", K_INT, R_POS, F_REQ, EV(message_id) },
    { "date", K_INT, R_TIME, 0, EV(date) },
    { "edit_date", K_INT, R_TIME, 0, EV(edit_date) },
    { "deleted_after", K_INT, R_TIME, 0, EV(deleted_after) },
    { "sender", K_SPECIAL, R_ANY, 0, 0 },
    { "author_signature", K_STR, R_ANY, 0, EV(author_signature) },
    { "text", K_STR, R_ANY, F_BIG | F_HASH, EV(text) },
    { "entities", K_SPECIAL, R_ANY, 0, 0 },
    { "reply_to", K_SPECIAL, R_ANY, 0, 0 },
    { "thread_id", K_INT, R_POS, 0, EV(thread_id) },
    { "album_id", K_INT, R_NONZERO, 0, EV(album_id) },
    { "forward", K_SPECIAL, R_ANY, 0, 0 },
    { "saved_from", K_STR, R_ANY, 0, EV(saved_from) },
    { "via_bot", K_STR, R_ANY, 0, EV(via_bot) },
    { "views", K_INT, R_NONNEG, 0, EV(views) },
    { "forwards", K_INT, R_NONNEG, 0, EV(forwards) },
    { "replies", K_INT, R_NONNEG, 0, EV(replies) },
    { "reactions", K_SPECIAL, R_ANY, 0, 0 },
    { "media", K_SPECIAL, R_ANY, 0, 0 },
    { "poll", K_SPECIAL, R_ANY, 0, 0 },
    { "location", K_SPECIAL, R_ANY, 0, 0 },
    { "contact", K_SPECIAL, R_ANY, 0, 0 },
    { "action", K_SPECIAL, R_ANY, 0, 0 },
    { "buttons", K_JSON_ARR, R_ANY, F_HASH, EV(buttons) },
    { "warnings", K_JSON_ARR, R_ANY, 0, EV(warnings) },
    { "content_hash", K_SPECIAL, R_ANY, 0, 0 },
    { "raw", K_JSON, R_ANY, 0, EV(raw) },
};

/* Groups: JSON objects whose fields live flat in struct msg_event. */
static const struct field chat_fields[] = {
    { "id", K_INT, R_NONZERO, F_REQ, EV(chat_id) },
    { "type", K_CHAT_TYPE, R_ANY, 0, EV(chat_type) },
    { "title", K_STR, R_ANY, 0, EV(chat_title) },
    { "username", K_STR, R_ANY, 0, EV(chat_username) },
};

static const struct field sender_fields[] = {
    { "id", K_INT, R_NONZERO, 0, EV(sender_id) },
    { "type", K_PEER_TYPE, R_ANY, 0, EV(sender_type) },
    { "name", K_STR, R_ANY, 0, EV(sender_name) },
};

static const struct field reply_fields[] = {
    { "message_id", K_INT, R_POS, F_REQ, EV(reply_to_message_id) },
    { "chat_id", K_INT, R_NONZERO, 0, EV(reply_to_chat_id) },
};

static const struct field forward_fields[] = {
    { "from_name", K_STR, R_ANY, 0, EV(forward_from_name) },
    { "from_id", K_INT, R_NONZERO, 0, EV(forward_from_id) },
    { "from_type", K_PEER_TYPE, R_ANY, 0, EV(forward_from_type) },
    { "date", K_INT, R_TIME, 0, EV(forward_date) },
    { "message_id", K_INT, R_POS, 0, EV(forward_message_id) },
};

static const struct field action_fields[] = {
    { "type", K_STR, R_ANY, F_REQ | F_NONEMPTY | F_HASH, EV(action) },
    { "params", K_JSON_OBJ, R_ANY, F_HASH, EV(action_params) },
};

struct group {
    const char *key;
    const struct field *f;
    size_t n;
};

static const struct group groups[] = {
    { "chat", chat_fields, TGH_NELEM(chat_fields) },
    { "sender", sender_fields, TGH_NELEM(sender_fields) },
    { "reply_to", reply_fields, TGH_NELEM(reply_fields) },
    { "forward", forward_fields, TGH_NELEM(forward_fields) },
    { "action", action_fields, TGH_NELEM(action_fields) },
};

enum { G_CHAT, G_SENDER, G_REPLY, G_FORWARD, G_ACTION };

/* Parts of the event that are structs of their own. */
#define ENT(m) offsetof(struct msg_entity, m)
static const struct field entity_fields[] = {
    { "type", K_STR, R_ANY, F_REQ | F_NONEMPTY | F_HASH, ENT(type) },
    { "offset", K_INT, R_NONNEG, F_REQ | F_HASH, ENT(offset) },
    { "length", K_INT, R_NONNEG, F_REQ | F_HASH, ENT(length) },
    { "text", K_STR, R_ANY, F_BIG, ENT(text) }, /* derivable from text and the bounds */
    { "href", K_STR, R_ANY, F_HASH, ENT(href) },
    { "user_id", K_INT, R_POS, F_HASH, ENT(user_id) },
    { "language", K_STR, R_ANY, F_HASH, ENT(language) },
    { "custom_emoji_id", K_STR, R_ANY, F_HASH, ENT(custom_emoji_id) },
};

#define REA(m) offsetof(struct msg_reaction, m)
static const struct field reaction_fields[] = {
    { "type", K_STR, R_ANY, F_REQ | F_NONEMPTY, REA(type) },
    { "emoji", K_STR, R_ANY, 0, REA(emoji) },
    { "custom_emoji_id", K_STR, R_ANY, 0, REA(custom_emoji_id) },
    { "count", K_INT, R_NONNEG, F_REQ, REA(count) },
};

/* Only what identifies the content is hashed: sizes, paths and ids differ by source. */
#define MED(m) offsetof(struct msg_media, m)
static const struct field media_fields[] = {
    { "kind", K_STR, R_ANY, F_REQ | F_NONEMPTY | F_HASH, MED(kind) },
    { "file_name", K_STR, R_ANY, F_HASH, MED(file_name) },
    { "mime_type", K_STR, R_ANY, F_HASH, MED(mime_type) },
    { "size_bytes", K_INT, R_NONNEG, 0, MED(size_bytes) },
    { "duration_s", K_INT, R_NONNEG, F_HASH, MED(duration_s) },
    { "width", K_INT, R_NONNEG, F_HASH, MED(width) },
    { "height", K_INT, R_NONNEG, F_HASH, MED(height) },
    { "file_unique_id", K_STR, R_ANY, 0, MED(file_unique_id) },
    { "path", K_STR, R_ANY, 0, MED(path) },
    { "placeholder", K_STR, R_ANY, 0, MED(placeholder) },
    { "thumbnail_path", K_STR, R_ANY, 0, MED(thumbnail_path) },
    { "sticker_emoji", K_STR, R_ANY, 0, MED(sticker_emoji) },
    { "performer", K_STR, R_ANY, 0, MED(performer) },
    { "title", K_STR, R_ANY, 0, MED(title) },
    { "has_spoiler", K_BOOL, R_ANY, 0, MED(has_spoiler) },
};

#define POL(m) offsetof(struct msg_poll, m)
static const struct field poll_fields[] = {
    { "question", K_STR, R_ANY, F_REQ | F_HASH, POL(question) },
    { "closed", K_BOOL, R_ANY, F_HASH, POL(closed) },
    { "total_voters", K_INT, R_NONNEG, 0, POL(total_voters) },
    { "answers", K_SPECIAL, R_ANY, 0, 0 }, /* hashed as the list of answer texts */
};

#define ANS(m) offsetof(struct msg_poll_answer, m)
static const struct field answer_fields[] = {
    { "text", K_STR, R_ANY, F_REQ, ANS(text) },
    { "voters", K_INT, R_NONNEG, 0, ANS(voters) },
    { "chosen", K_BOOL, R_ANY, 0, ANS(chosen) },
};

#define LOC(m) offsetof(struct msg_location, m)
static const struct field location_fields[] = {
    { "latitude", K_REAL, R_LAT, F_REQ | F_HASH, LOC(latitude) },
    { "longitude", K_REAL, R_LON, F_REQ | F_HASH, LOC(longitude) },
    { "live_period_s", K_INT, R_NONNEG, F_HASH, LOC(live_period_s) },
    { "venue_title", K_STR, R_ANY, F_HASH, LOC(venue_title) },
    { "address", K_STR, R_ANY, F_HASH, LOC(address) },
};

#define CON(m) offsetof(struct msg_contact, m)
static const struct field contact_fields[] = {
    { "first_name", K_STR, R_ANY, F_HASH, CON(first_name) },
    { "last_name", K_STR, R_ANY, F_HASH, CON(last_name) },
    { "phone", K_STR, R_ANY, F_HASH, CON(phone) },
    { "vcard", K_STR, R_ANY, F_HASH, CON(vcard) },
    { "user_id", K_INT, R_POS, F_HASH, CON(user_id) },
};

/* ---- errors ---------------------------------------------------------------- */

static inline tgh_err fail(tgh_err code, const char *path, long idx, const char *key,
                           const char *fmt, ...) TGH_PRINTF(5, 6);

/*
 * Record "path[idx].key: message". path is the enclosing object ("chat",
 * "poll.answers") or NULL at the top; idx is the array index or -1; key is
 * the field or NULL for the object itself. That is a place of at most two
 * steps (the object, then the element) for tgh_jpath_verrf().
 */
static inline tgh_err
fail(tgh_err code, const char *path, long idx, const char *key, const char *fmt, ...)
{
    struct tgh_jpath obj = { NULL, path, -1 }, elem = { &obj, NULL, idx };
    va_list ap;
    tgh_err rc;

    va_start(ap, fmt);
    rc = tgh_jpath_verrf(code, path == NULL ? NULL : idx < 0 ? &obj : &elem, key, "event", fmt, ap);
    va_end(ap);
    return rc;
}

static inline const char *
jtype(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

/* ---- field access ------------------------------------------------------------ */

#define AT(base, f)  ((void *)((char *)(base) + (f)->off))
#define CAT(base, f) ((const void *)((const char *)(base) + (f)->off))

static inline int
enum_at(const void *p, unsigned kind)
{
    switch (kind) {
    case K_OP:
        return (int)*(const enum msg_op *)p;
    case K_SOURCE:
        return (int)*(const enum msg_source *)p;
    case K_CHAT_TYPE:
        return (int)*(const enum msg_chat_type *)p;
    default:
        return (int)*(const enum msg_peer_type *)p;
    }
}

static inline const char *
enum_name(const void *p, unsigned kind)
{
    switch (kind) {
    case K_OP:
        return msg_op_name(*(const enum msg_op *)p);
    case K_SOURCE:
        return msg_source_name(*(const enum msg_source *)p);
    case K_CHAT_TYPE:
        return msg_chat_type_name(*(const enum msg_chat_type *)p);
    default:
        return msg_peer_type_name(*(const enum msg_peer_type *)p);
    }
}

/* Whether a field holds a value, i.e. would be encoded. */
static inline bool
field_set(const void *base, const struct field *f)
{
    const void *p = CAT(base, f);

    switch (f->kind) {
    case K_INT:
        return *(const int64_t *)p != MSG_UNSET;
    case K_STR:
        return *(const char *const *)p != NULL;
    case K_BOOL:
        return *(const bool *)p;
    case K_PEER_TYPE:
        return *(const enum msg_peer_type *)p != MSG_PEER_NONE;
    case K_JSON:
    case K_JSON_OBJ:
    case K_JSON_ARR:
        return *(json_t *const *)p != NULL;
    case K_SPECIAL:
        return false;
    default:
        return true;
    }
}

static inline bool
group_set(const void *base, const struct field *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (field_set(base, &fs[i]))
            return true;
    return false;
}

/* ---- shared between the codec files ------------------------------------------ */

/*
 * Every struct-level rule (codec_validate.c). utf8: also check string
 * encoding; hash: also check content_hash.
 */
TGH_MUSTCHECK tgh_err codec_event_check(const struct msg_event *ev, bool utf8, bool hash);

/* SHA-256 of the canonical content object as hex (codec_encode.c). */
TGH_MUSTCHECK tgh_err codec_content_hash(const struct msg_event *ev,
                                         char hex[MSG_HASH_HEX_LEN + 1]);

#endif
