/* SPDX-License-Identifier: MIT */
/*
 * msg.c - small helpers of the message model: name tables, id conventions,
 * the idempotency key.
 */
#include "core/msg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"

static const char *const op_names[] = { "upsert", "delete" };
static const char *const source_names[] = { "export", "tdlib", "botapi" };
static const char *const chat_type_names[] = { "unknown", "private",    "bot",    "saved",
                                               "group",   "supergroup", "channel" };
static const char *const peer_type_names[] = { NULL, "user", "chat", "channel" };

void
msg_event_init(struct msg_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->schema_version = MSG_SCHEMA_VERSION;
    ev->observed_at = MSG_UNSET;
    ev->date = MSG_UNSET;
    ev->edit_date = MSG_UNSET;
    ev->deleted_after = MSG_UNSET;
    ev->sender_id = MSG_UNSET;
    ev->reply_to_message_id = MSG_UNSET;
    ev->reply_to_chat_id = MSG_UNSET;
    ev->thread_id = MSG_UNSET;
    ev->album_id = MSG_UNSET;
    ev->forward_from_id = MSG_UNSET;
    ev->forward_date = MSG_UNSET;
    ev->forward_message_id = MSG_UNSET;
    ev->views = MSG_UNSET;
    ev->forwards = MSG_UNSET;
    ev->replies = MSG_UNSET;
}

void
msg_event_fini(struct msg_event *ev)
{
    if (ev == NULL)
        return;
    json_decref(ev->raw);
    json_decref(ev->action_params);
    json_decref(ev->buttons);
    json_decref(ev->warnings);
    ev->raw = ev->action_params = ev->buttons = ev->warnings = NULL;
}

void
msg_event_share(struct msg_event *dst, const struct msg_event *src)
{
    *dst = *src;
    dst->raw = json_incref(src->raw);
    dst->action_params = json_incref(src->action_params);
    dst->buttons = json_incref(src->buttons);
    dst->warnings = json_incref(src->warnings);
}

static bool
parse_name(const char *const *names, size_t n, const char *s, int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (names[i] != NULL && strcmp(names[i], s) == 0) {
            *out = (int)i;
            return true;
        }
    }
    return false;
}

const char *
msg_op_name(enum msg_op op)
{
    return (unsigned)op < TGH_NELEM(op_names) ? op_names[op] : "upsert";
}

const char *
msg_source_name(enum msg_source s)
{
    return (unsigned)s < TGH_NELEM(source_names) ? source_names[s] : "export";
}

const char *
msg_chat_type_name(enum msg_chat_type t)
{
    return (unsigned)t < TGH_NELEM(chat_type_names) ? chat_type_names[t] : "unknown";
}

const char *
msg_peer_type_name(enum msg_peer_type t)
{
    return (unsigned)t < TGH_NELEM(peer_type_names) ? peer_type_names[t] : NULL;
}

bool
msg_op_parse(const char *s, enum msg_op *out)
{
    int v;

    if (!parse_name(op_names, TGH_NELEM(op_names), s, &v))
        return false;
    *out = (enum msg_op)v;
    return true;
}

bool
msg_source_parse(const char *s, enum msg_source *out)
{
    int v;

    if (!parse_name(source_names, TGH_NELEM(source_names), s, &v))
        return false;
    *out = (enum msg_source)v;
    return true;
}

bool
msg_chat_type_parse(const char *s, enum msg_chat_type *out)
{
    int v;

    if (!parse_name(chat_type_names, TGH_NELEM(chat_type_names), s, &v))
        return false;
    *out = (enum msg_chat_type)v;
    return true;
}

bool
msg_peer_type_parse(const char *s, enum msg_peer_type *out)
{
    int v;

    if (!parse_name(peer_type_names, TGH_NELEM(peer_type_names), s, &v))
        return false;
    *out = (enum msg_peer_type)v;
    return true;
}

/*
 * Channels and supergroups: -(10^12 + id), the "-100" prefix of the Bot API,
 * which leaves room for bare ids below 10^12; basic groups are below that
 * too. User ids fit in 52 bits.
 */
#define CHANNEL_ID_BASE INT64_C(1000000000000)
#define USER_ID_MAX     ((INT64_C(1) << 52) - 1)

int64_t
msg_chat_id_from_bare(enum msg_chat_type type, int64_t bare_id)
{
    switch (type) {
    case MSG_CHAT_SUPERGROUP:
    case MSG_CHAT_CHANNEL:
        if (bare_id <= -CHANNEL_ID_BASE && bare_id > -2 * CHANNEL_ID_BASE)
            return bare_id; /* already in the signed convention */
        return bare_id > 0 && bare_id < CHANNEL_ID_BASE ? -(CHANNEL_ID_BASE + bare_id) : 0;
    case MSG_CHAT_GROUP:
        if (bare_id < 0 && bare_id > -CHANNEL_ID_BASE)
            return bare_id;
        return bare_id > 0 && bare_id < CHANNEL_ID_BASE ? -bare_id : 0;
    default:
        if (bare_id < 0 && bare_id > -2 * CHANNEL_ID_BASE)
            return bare_id; /* a signed id of unknown kind is kept */
        return bare_id > 0 && bare_id <= USER_ID_MAX ? bare_id : 0;
    }
}

int64_t
msg_chat_id_from_peer(enum msg_peer_type type, int64_t bare_id)
{
    switch (type) {
    case MSG_PEER_CHANNEL:
        return msg_chat_id_from_bare(MSG_CHAT_CHANNEL, bare_id);
    case MSG_PEER_CHAT:
        return msg_chat_id_from_bare(MSG_CHAT_GROUP, bare_id);
    default:
        return msg_chat_id_from_bare(MSG_CHAT_PRIVATE, bare_id);
    }
}

int
msg_event_key(const struct msg_event *ev, char *buf, size_t bufsize)
{
    int64_t date = ev->date == MSG_UNSET ? 0 : ev->date;
    int n = snprintf(buf, bufsize, "%" PRId64 ":%" PRId64 ":%" PRId64, ev->chat_id, date,
                     ev->message_id);

    return (n < 0 || (size_t)n >= bufsize) ? -1 : n;
}

int64_t
msg_utf16_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    int64_t units = 0;

    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xe  ? 3
                     : (c >> 3) == 0x1e ? 4
                                        : 1;

        if (i + len > n)
            len = 1;
        units += len == 4 ? 2 : 1; /* astral planes take a surrogate pair */
        i += len;
    }
    return units;
}

void
msg_batch_init(struct msg_batch *b, size_t cap)
{
    b->ev = tgh_calloc(cap ? cap : 1, sizeof(*b->ev));
    b->n = 0;
    b->cap = cap ? cap : 1;
    tgh_arena_init(&b->arena, 256 * 1024);
}

void
msg_batch_fini(struct msg_batch *b)
{
    if (b == NULL)
        return;
    msg_batch_reset(b);
    tgh_arena_fini(&b->arena);
    tgh_free(b->ev);
    b->ev = NULL;
    b->cap = 0;
}

void
msg_batch_reset(struct msg_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        msg_event_fini(&b->ev[i]);
    b->n = 0;
    tgh_arena_reset(&b->arena);
}

struct msg_event *
msg_batch_push(struct msg_batch *b)
{
    struct msg_event *ev;

    if (b->n >= b->cap)
        return NULL;
    ev = &b->ev[b->n++];
    msg_event_init(ev);
    return ev;
}

void
msg_batch_pop(struct msg_batch *b)
{
    if (b->n > 0)
        msg_event_fini(&b->ev[--b->n]);
}
