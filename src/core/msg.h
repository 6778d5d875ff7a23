/* SPDX-License-Identifier: MIT */
/*
 * msg.h - the normalized message event, schema_version 1.
 *
 * Every source (Telegram Desktop export, TDLib, Bot API) produces a struct
 * msg_event; every sink consumes it. The JSON form is defined by codec.h and
 * documented in docs/internals/model.md.
 *
 * Conventions:
 * - Optional integers hold MSG_UNSET when absent; optional strings are NULL.
 * - Strings and arrays live in the arena of whoever decoded the event; the
 *   json_t members (raw, action params, buttons) hold one reference each that
 *   msg_event_fini() drops.
 * - chat_id follows the Bot API / TDLib convention: users positive, basic
 *   groups negative, channels and supergroups -100xxxxxxxxxx.
 * - message_id is the server id as seen in t.me links and exports.
 * - Times are Unix seconds, UTC.
 */
#ifndef TGH_CORE_MSG_H
#define TGH_CORE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/arena.h"

#define MSG_SCHEMA_VERSION 1
#define MSG_UNSET          INT64_MIN

/* Hard caps on what one event may carry; larger input is rejected, not truncated. */
#define MSG_MAX_TEXT_BYTES   (1 << 20) /* Telegram's limit is 4096 chars, captions 1024 */
#define MSG_MAX_ENTITIES     10000
#define MSG_MAX_REACTIONS    1000
#define MSG_MAX_WARNINGS     64 /* repairs noted on one message */
#define MSG_MAX_POLL_ANSWERS 100
#define MSG_MAX_STRING_BYTES 65536      /* any other single string field */
#define MSG_MAX_EVENT_BYTES  (16 << 20) /* an encoded event, raw included */

#define MSG_HASH_HEX_LEN 64 /* SHA-256 */

/*
 * A source hands on its batch when it holds this many bytes of source input,
 * whatever the event count: memory is bounded by bytes, not by how large the
 * messages happen to be.
 */
#define MSG_BATCH_MAX_SOURCE_BYTES (1 << 20)

enum msg_op { MSG_OP_UPSERT = 0, MSG_OP_DELETE };

enum msg_source { MSG_SOURCE_EXPORT = 0, MSG_SOURCE_TDLIB, MSG_SOURCE_BOTAPI };

enum msg_chat_type {
    MSG_CHAT_UNKNOWN = 0,
    MSG_CHAT_PRIVATE, /* one-to-one with a user */
    MSG_CHAT_BOT,     /* one-to-one with a bot */
    MSG_CHAT_SAVED,   /* saved messages, replies, verification codes */
    MSG_CHAT_GROUP,   /* basic group */
    MSG_CHAT_SUPERGROUP,
    MSG_CHAT_CHANNEL,
};

enum msg_peer_type { MSG_PEER_NONE = 0, MSG_PEER_USER, MSG_PEER_CHAT, MSG_PEER_CHANNEL };

/*
 * A formatting entity. offset/length are in UTF-16 code units of the text, as
 * in TDLib and the Bot API; for exports they are computed from the text
 * parts, and text keeps the part itself.
 */
struct msg_entity {
    const char *type; /* "bold", "text_link", "custom_emoji", ... kept verbatim */
    int64_t offset;
    int64_t length;
    const char *text;            /* the covered text, when the source gives it */
    const char *href;            /* text_link */
    int64_t user_id;             /* mention_name, or MSG_UNSET */
    const char *language;        /* pre */
    const char *custom_emoji_id; /* custom_emoji (document id) */
};

struct msg_reaction {
    const char *type;            /* "emoji", "custom_emoji", "paid", ... */
    const char *emoji;           /* type "emoji" */
    const char *custom_emoji_id; /* type "custom_emoji" */
    int64_t count;
};

struct msg_media {
    const char *kind; /* photo, video, animation, audio, voice, video_note, sticker,
                         document, ... kept verbatim when unknown */
    const char *file_name;
    const char *mime_type;
    int64_t size_bytes;
    int64_t duration_s;
    int64_t width;
    int64_t height;
    const char *file_unique_id;
    const char *path;        /* relative to the export or the media store */
    const char *placeholder; /* why the file is absent ("File not included...") */
    const char *thumbnail_path;
    const char *sticker_emoji;
    const char *performer;
    const char *title;
    bool has_spoiler;
};

struct msg_poll_answer {
    const char *text;
    int64_t voters; /* MSG_UNSET when unknown */
    bool chosen;
};

struct msg_poll {
    const char *question;
    bool closed;
    int64_t total_voters;
    size_t n_answers;
    struct msg_poll_answer *answers;
};

struct msg_location {
    double latitude;
    double longitude;
    int64_t live_period_s;
    const char *venue_title; /* venue: place name */
    const char *address;
};

struct msg_contact {
    const char *first_name;
    const char *last_name;
    const char *phone;
    const char *vcard;
    int64_t user_id;
};

struct msg_event {
    int schema_version; /* MSG_SCHEMA_VERSION */
    enum msg_op op;
    enum msg_source source;
    int64_t observed_at; /* when the source saw it (import time, update time) */

    /* chat */
    int64_t chat_id;
    enum msg_chat_type chat_type;
    const char *chat_title;
    const char *chat_username;

    /* identity and time */
    int64_t message_id;
    int64_t date;      /* MSG_UNSET only on deletes whose date is unknown */
    int64_t edit_date; /* MSG_UNSET when never edited */
    /*
     * Deletes only: the deletion was not seen when it happened but found
     * later (observed_at), and happened after this (when the message was
     * last seen, or the earliest it can have existed); MSG_UNSET: at
     * observed_at.
     */
    int64_t deleted_after;

    /* sender */
    int64_t sender_id;
    enum msg_peer_type sender_type;
    const char *sender_name;
    const char *author_signature;

    /* body */
    const char *text; /* NULL means no text; "" is allowed only when entities is empty */
    size_t n_entities;
    struct msg_entity *entities;

    /* links */
    int64_t reply_to_message_id;
    int64_t reply_to_chat_id; /* only when the replied message is in another chat */
    int64_t thread_id;        /* forum topic or comment thread */
    int64_t album_id;         /* media_album_id / grouped_id */

    /* forward origin */
    const char *forward_from_name;
    int64_t forward_from_id;
    enum msg_peer_type forward_from_type;
    int64_t forward_date;
    int64_t forward_message_id;
    const char *saved_from;
    const char *via_bot;

    /* engagement: MSG_UNSET when the source does not know */
    int64_t views;
    int64_t forwards;
    int64_t replies;
    size_t n_reactions;
    struct msg_reaction *reactions;
    bool has_reactions; /* false: unknown; true with n_reactions == 0: none */

    /* content parts, NULL when absent */
    struct msg_media *media;
    struct msg_poll *poll;
    struct msg_location *location;
    struct msg_contact *contact;
    const char *action;    /* service message action ("pin_message", ...) */
    json_t *action_params; /* object of the action's fields, or NULL */
    json_t *buttons;       /* inline keyboard rows as the source gave them, or NULL */
    /*
     * What the reader repaired or left out to keep the message (an entity
     * past the end of its text, a boolean written as a string, a content
     * kind it does not know): [{"kind", "path", "detail"}...], or NULL. Not
     * part of the content hash.
     */
    json_t *warnings;

    json_t *raw; /* the source's JSON for this message, or NULL */

    char content_hash[MSG_HASH_HEX_LEN + 1]; /* filled by codec_event_finalize() */

    /*
     * The event's canonical JSON when it was already encoded
     * (codec_event_encode_cached), in the arena; NULL otherwise. Not part of
     * the event: a writer uses it instead of encoding again.
     */
    const char *encoded;
    size_t encoded_len;
};

/*
 * A batch of events and the arena their strings live in. Sources fill one,
 * the writer commits it, then the owner resets it for reuse.
 */
struct msg_batch {
    struct msg_event *ev;
    size_t n;
    size_t cap;
    struct tgh_arena arena;
};

void msg_batch_init(struct msg_batch *b, size_t cap);
void msg_batch_fini(struct msg_batch *b); /* NULL is fine */

/* Finalize every event and forget them; the arena keeps one chunk. */
void msg_batch_reset(struct msg_batch *b);

/* The next slot, msg_event_init()ed, or NULL when the batch is full. */
struct msg_event *msg_batch_push(struct msg_batch *b);

/* Drop the last pushed event (a source that gave up on it). */
void msg_batch_pop(struct msg_batch *b);

/* An event with every optional integer MSG_UNSET and every pointer NULL. */
void msg_event_init(struct msg_event *ev);

/* Drop the json_t references; the arena owns everything else. NULL is fine. */
void msg_event_fini(struct msg_event *ev);
/*
 * *dst = *src, sharing src's strings and parts, with a reference of its own
 * to each json_t member (so msg_event_fini() of both is right).
 */
void msg_event_share(struct msg_event *dst, const struct msg_event *src);

/* Name tables, total both ways. */
const char *msg_op_name(enum msg_op op);
const char *msg_source_name(enum msg_source s);
const char *msg_chat_type_name(enum msg_chat_type t);
const char *msg_peer_type_name(enum msg_peer_type t); /* NULL for MSG_PEER_NONE */
bool msg_op_parse(const char *s, enum msg_op *out);
bool msg_source_parse(const char *s, enum msg_source *out);
bool msg_chat_type_parse(const char *s, enum msg_chat_type *out);
bool msg_peer_type_parse(const char *s, enum msg_peer_type *out);

/*
 * Chat id conventions. A bare channel/supergroup id (as in exports and t.me/c/)
 * becomes -100xxxxxxxxxx; a basic group id becomes negative; users stay positive.
 * An id already in the signed convention is returned as it is. An id that is
 * out of range for its kind (0, channel ids from 10^12, user ids from 2^52,
 * a negative user id) returns 0, which is never a valid chat id.
 */
int64_t msg_chat_id_from_bare(enum msg_chat_type type, int64_t bare_id);
int64_t msg_chat_id_from_peer(enum msg_peer_type type, int64_t bare_id);

/*
 * The idempotency key "{chat_id}:{date}:{message_id}" written into buf.
 * Returns the length, or -1 when buf is too small (48 bytes always suffice).
 */
int msg_event_key(const struct msg_event *ev, char *buf, size_t bufsize);

/* Length of a UTF-8 string in UTF-16 code units (invalid bytes count as one unit each). */
int64_t msg_utf16_len(const char *s, size_t n);

#endif
