/* SPDX-License-Identifier: MIT */
/*
 * source_botapi_map.c - Bot API `Message` objects (and deleted business
 * messages) onto struct msg_event: identity, chat, sender, forward origin,
 * replies, threads, albums and inline buttons here, the content in
 * source_botapi_content.c. Names are the Telegram Desktop export's, as for
 * TDLib, so a post forwarded to the bot and the same post collected through
 * TDLib have the same content_hash. No I/O and no state between messages.
 *
 * Strings point into the message tree, which ev->raw keeps alive. A known
 * field of the wrong JSON type is an error naming its path; unknown fields
 * stay in raw. Table and reasons: docs/internals/botapi.md.
 */
#include "source/source_botapi_int.h"

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/codec.h"

/* ---- who -------------------------------------------------------------------- */

/* "First Last" of a User or a private Chat, or NULL when it has neither. */
const char *
botapi_person_name(const json_t *o, struct tgh_arena *a)
{
    const char *first = json_string_value(get(o, "first_name"));
    const char *last = json_string_value(get(o, "last_name"));
    size_t n;
    char *s;

    if (first == NULL || *first == '\0')
        first = NULL;
    if (last == NULL || *last == '\0')
        last = NULL;
    if (first == NULL || last == NULL)
        return first != NULL ? first : last;
    n = strlen(first) + strlen(last) + 2;
    s = tgh_arena_alloc(a, n);
    (void)snprintf(s, n, "%s %s", first, last);
    return s;
}

/* A User object: its id (checked) and name. */
static TGH_MUSTCHECK tgh_err
user_of(const json_t *u, const struct tgh_jpath *at, struct tgh_arena *a, int64_t *id,
        const char **name)
{
    tgh_err rc;

    if ((rc = need_int(u, at, "id", id)) != TGH_OK || (rc = user_id_val(*id, at, "id")) != TGH_OK)
        return rc;
    if (name != NULL)
        *name = botapi_person_name(u, a);
    return TGH_OK;
}

/* A Chat object: its id (checked), peer type and title. */
static TGH_MUSTCHECK tgh_err
chat_of(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a, int64_t *id,
        enum msg_peer_type *pt, const char **title)
{
    tgh_err rc;

    if ((rc = need_int(c, at, "id", id)) != TGH_OK ||
        (rc = chat_id_val(*id, at, "id", pt)) != TGH_OK)
        return rc;
    if (title != NULL && (rc = opt_str(c, at, "title", title)) == TGH_OK && *title == NULL)
        *title = botapi_person_name(c, a);
    return rc;
}

static const struct name chat_types[] = {
    { "channel", "channel" },       { "group", "group" }, { "private", "private" },
    { "sender", "private" }, /* inline queries' chat_type for the sender's own chat */
    { "supergroup", "supergroup" },
};

static TGH_MUSTCHECK tgh_err
chat_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *cat = TGH_JPATH_KEY(BOT_ROOT, "chat");
    const json_t *c = NULL;
    const struct name *t;
    const char *type = NULL;
    enum msg_peer_type pt = MSG_PEER_NONE;
    tgh_err rc;

    if ((rc = need_obj(msg, BOT_ROOT, "chat", &c)) != TGH_OK ||
        (rc = chat_of(c, cat, a, &ev->chat_id, &pt, &ev->chat_title)) != TGH_OK ||
        (rc = opt_str(c, cat, "type", &type)) != TGH_OK ||
        (rc = opt_str(c, cat, "username", &ev->chat_username)) != TGH_OK)
        return rc;
    t = lookup(type, chat_types, TGH_NELEM(chat_types), sizeof(*chat_types));
    if (t != NULL && !msg_chat_type_parse(t->ours, &ev->chat_type))
        return bad(cat, "type", "\"%.32s\" has no chat type", type);
    if (t == NULL) /* absent or newer: from the id */
        ev->chat_type = pt == MSG_PEER_CHANNEL ? MSG_CHAT_SUPERGROUP
                        : pt == MSG_PEER_CHAT  ? MSG_CHAT_GROUP
                                               : MSG_CHAT_PRIVATE;
    if ((ev->chat_type == MSG_CHAT_PRIVATE) != (pt == MSG_PEER_USER) ||
        ((ev->chat_type == MSG_CHAT_CHANNEL || ev->chat_type == MSG_CHAT_SUPERGROUP) !=
         (pt == MSG_PEER_CHANNEL)))
        return bad(cat, "id", "%" PRId64 " is not the id of a %s chat", ev->chat_id,
                   msg_chat_type_name(ev->chat_type));
    return TGH_OK;
}

/* sender_chat (anonymous admins, channel posts, linked channels) wins over from. */
static TGH_MUSTCHECK tgh_err
sender_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *from = NULL, *chat = NULL;
    tgh_err rc;

    if ((rc = opt_obj(msg, BOT_ROOT, "from", &from)) != TGH_OK ||
        (rc = opt_obj(msg, BOT_ROOT, "sender_chat", &chat)) != TGH_OK)
        return rc;
    if (chat != NULL)
        return chat_of(chat, TGH_JPATH_KEY(BOT_ROOT, "sender_chat"), a, &ev->sender_id,
                       &ev->sender_type, &ev->sender_name);
    if (from == NULL)
        return TGH_OK;
    ev->sender_type = MSG_PEER_USER;
    return user_of(from, TGH_JPATH_KEY(BOT_ROOT, "from"), a, &ev->sender_id, &ev->sender_name);
}

/* A MessageOrigin (forward_origin, external_reply.origin) onto the forward fields. */
static TGH_MUSTCHECK tgh_err
origin_map(const json_t *o, const struct tgh_jpath *oat, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *who = NULL;
    const char *type = NULL;
    int64_t date = 0;
    tgh_err rc;

    if ((rc = opt_str(o, oat, "type", &type)) != TGH_OK ||
        (rc = opt_int(o, oat, "date", &date)) != TGH_OK)
        return rc;
    if (type == NULL)
        return bad(oat, "type", "required");
    if (date != 0)
        ev->forward_date = botapi_seconds(date);
    if (strcmp(type, "user") == 0) {
        if ((rc = need_obj(o, oat, "sender_user", &who)) != TGH_OK)
            return rc;
        ev->forward_from_type = MSG_PEER_USER;
        return user_of(who, TGH_JPATH_KEY(oat, "sender_user"), a, &ev->forward_from_id,
                       &ev->forward_from_name);
    }
    if (strcmp(type, "hidden_user") == 0)
        return opt_str(o, oat, "sender_user_name", &ev->forward_from_name);
    if (strcmp(type, "chat") == 0) {
        if ((rc = need_obj(o, oat, "sender_chat", &who)) != TGH_OK)
            return rc;
        return chat_of(who, TGH_JPATH_KEY(oat, "sender_chat"), a, &ev->forward_from_id,
                       &ev->forward_from_type, &ev->forward_from_name);
    }
    if (strcmp(type, "channel") == 0) {
        int64_t mid = 0;

        if ((rc = need_obj(o, oat, "chat", &who)) != TGH_OK ||
            (rc = chat_of(who, TGH_JPATH_KEY(oat, "chat"), a, &ev->forward_from_id,
                          &ev->forward_from_type, &ev->forward_from_name)) != TGH_OK ||
            (rc = opt_int(o, oat, "message_id", &mid)) != TGH_OK)
            return rc;
        if (mid < 0)
            return bad(oat, "message_id", "%" PRId64 " is not a message id", mid);
        if (mid > 0)
            ev->forward_message_id = mid;
        return TGH_OK;
    }
    return TGH_OK; /* a newer kind of origin: raw only */
}

/* forward_origin (Bot API 7.0), else the fields it replaced (forward_from, ...). */
static TGH_MUSTCHECK tgh_err
forward_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *o = NULL, *from = NULL, *chat = NULL;
    int64_t date = 0, mid = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, BOT_ROOT, "forward_origin", &o)) != TGH_OK)
        return rc;
    if (o != NULL)
        return origin_map(o, TGH_JPATH_KEY(BOT_ROOT, "forward_origin"), a, ev);
    if ((rc = opt_obj(msg, BOT_ROOT, "forward_from", &from)) != TGH_OK ||
        (rc = opt_obj(msg, BOT_ROOT, "forward_from_chat", &chat)) != TGH_OK ||
        (rc = opt_int(msg, BOT_ROOT, "forward_date", &date)) != TGH_OK ||
        (rc = opt_int(msg, BOT_ROOT, "forward_from_message_id", &mid)) != TGH_OK ||
        (rc = opt_str(msg, BOT_ROOT, "forward_sender_name", &ev->forward_from_name)) != TGH_OK)
        return rc;
    if (date != 0)
        ev->forward_date = botapi_seconds(date);
    if (chat != NULL) {
        if ((rc = chat_of(chat, TGH_JPATH_KEY(BOT_ROOT, "forward_from_chat"), a,
                          &ev->forward_from_id, &ev->forward_from_type, &ev->forward_from_name)) !=
            TGH_OK)
            return rc;
        if (mid > 0)
            ev->forward_message_id = mid;
    } else if (from != NULL) {
        ev->forward_from_type = MSG_PEER_USER;
        return user_of(from, TGH_JPATH_KEY(BOT_ROOT, "forward_from"), a, &ev->forward_from_id,
                       &ev->forward_from_name);
    }
    return TGH_OK;
}

/* reply_to_message (same chat, or its topic's root), else external_reply (another chat). */
static TGH_MUSTCHECK tgh_err
reply_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *rat = TGH_JPATH_KEY(BOT_ROOT, "reply_to_message"),
                           *xat = TGH_JPATH_KEY(BOT_ROOT, "external_reply");
    const json_t *r = NULL, *x = NULL, *chat = NULL;
    enum msg_peer_type pt = MSG_PEER_NONE;
    int64_t id = 0, chat_id = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, BOT_ROOT, "reply_to_message", &r)) != TGH_OK ||
        (rc = opt_obj(msg, BOT_ROOT, "external_reply", &x)) != TGH_OK)
        return rc;
    if (r != NULL) {
        if ((rc = need_int(r, rat, "message_id", &id)) != TGH_OK)
            return rc;
        if (id <= 0)
            return bad(rat, "message_id", "%" PRId64 " is not a message id", id);
        /* A topic message "replies" to the topic's creation when it replies to nothing. */
        if (!(ev->thread_id != MSG_UNSET && id == ev->thread_id &&
              json_is_true(get(msg, "is_topic_message"))))
            ev->reply_to_message_id = id;
        return TGH_OK;
    }
    if (x == NULL)
        return TGH_OK;
    if ((rc = opt_int(x, xat, "message_id", &id)) != TGH_OK ||
        (rc = opt_obj(x, xat, "chat", &chat)) != TGH_OK)
        return rc;
    if (id <= 0 || chat == NULL)
        return TGH_OK; /* a reply to a message of a private chat names no message */
    if ((rc = chat_of(chat, TGH_JPATH_KEY(xat, "chat"), a, &chat_id, &pt, NULL)) != TGH_OK)
        return rc;
    ev->reply_to_message_id = id;
    if (chat_id != ev->chat_id)
        ev->reply_to_chat_id = chat_id;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
head_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const char *group = NULL, *via = NULL;
    const json_t *vb = NULL;
    int64_t edit = 0, thread = 0;
    tgh_err rc;

    if ((rc = need_int(msg, BOT_ROOT, "message_id", &ev->message_id)) != TGH_OK)
        return rc;
    if (ev->message_id <= 0)
        return bad(BOT_ROOT, "message_id", "%" PRId64 " is not a message id", ev->message_id);
    if ((rc = need_int(msg, BOT_ROOT, "date", &ev->date)) != TGH_OK ||
        (rc = opt_int(msg, BOT_ROOT, "edit_date", &edit)) != TGH_OK ||
        (rc = opt_int(msg, BOT_ROOT, "message_thread_id", &thread)) != TGH_OK ||
        (rc = opt_str(msg, BOT_ROOT, "author_signature", &ev->author_signature)) != TGH_OK ||
        (rc = opt_str(msg, BOT_ROOT, "media_group_id", &group)) != TGH_OK ||
        (rc = opt_obj(msg, BOT_ROOT, "via_bot", &vb)) != TGH_OK ||
        (vb != NULL &&
         (rc = opt_str(vb, TGH_JPATH_KEY(BOT_ROOT, "via_bot"), "username", &via)) != TGH_OK))
        return rc;
    if (ev->date <= 0)
        return bad(BOT_ROOT, "date", "%" PRId64 " is not a date", ev->date);
    ev->date = botapi_seconds(ev->date);
    if (edit > 0)
        ev->edit_date = botapi_seconds(edit);
    if (thread > 0)
        ev->thread_id = thread;
    if (group != NULL) {
        char *end;
        long long g;

        errno = 0;
        g = strtoll(group, &end, 10);
        if (errno == 0 && *end == '\0' && g != 0) /* grouped_id, as TDLib's media_album_id */
            ev->album_id = g;
    }
    if (via != NULL) {
        size_t n = strlen(via) + 2;
        char *s = tgh_arena_alloc(a, n);

        (void)snprintf(s, n, "@%s", via); /* as the export writes it */
        ev->via_bot = s;
    }
    return TGH_OK;
}

/* ---- inline buttons --------------------------------------------------------- */

/* Callback data as the export writes it: the bytes in base64url without padding. */
static json_t *
base64url(const char *s, size_t n)
{
    unsigned char *out = tgh_malloc(4 * (n / 3 + 1) + 1);
    int len = EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
    json_t *j;

    while (len > 0 && out[len - 1] == '=')
        len--;
    for (int i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    j = json_stringn((const char *)out, (size_t)len);
    tgh_free(out);
    return j;
}

/* One InlineKeyboardButton as Desktop exports it ({type, text, data|dataBase64, ...}). */
static TGH_MUSTCHECK tgh_err
button_map(const json_t *b, const struct tgh_jpath *at, json_t **out)
{
    const char *text = NULL, *s = NULL, *fwd = NULL, *type = NULL;
    const json_t *o = NULL, *v;
    tgh_err rc;

    *out = NULL;
    if (!json_is_object(b))
        return bad(at, NULL, "expected an InlineKeyboardButton object, got %s",
                   source_json_kind(b));
    if ((rc = opt_str(b, at, "text", &text)) != TGH_OK)
        return rc;
    if ((v = get(b, "url")) != NULL) {
        type = "url";
        rc = str_val(v, at, "url", &s);
    } else if ((v = get(b, "callback_data")) != NULL) {
        type = "callback";
        if ((rc = str_val(v, at, "callback_data", &s)) == TGH_OK) {
            *out = json_pack("{ss}", "type", type);
            (void)json_object_set_new(*out, "dataBase64", base64url(s, strlen(s)));
            s = "";
        }
    } else if ((rc = opt_obj(b, at, "login_url", &o)) == TGH_OK && o != NULL) {
        type = "auth";
        if ((rc = opt_str(o, TGH_JPATH_KEY(at, "login_url"), "url", &s)) == TGH_OK)
            rc = opt_str(o, TGH_JPATH_KEY(at, "login_url"), "forward_text", &fwd);
    } else if (rc == TGH_OK && (rc = opt_obj(b, at, "web_app", &o)) == TGH_OK && o != NULL) {
        type = "web_view";
        rc = opt_str(o, TGH_JPATH_KEY(at, "web_app"), "url", &s);
    } else if (rc == TGH_OK && (v = get(b, "switch_inline_query")) != NULL) {
        type = "switch_inline";
        rc = str_val(v, at, "switch_inline_query", &s);
    } else if (rc == TGH_OK && (v = get(b, "switch_inline_query_current_chat")) != NULL) {
        type = "switch_inline_same";
        rc = str_val(v, at, "switch_inline_query_current_chat", &s);
    } else if (rc == TGH_OK && (rc = opt_obj(b, at, "copy_text", &o)) == TGH_OK && o != NULL) {
        type = "copy_text";
        rc = opt_str(o, TGH_JPATH_KEY(at, "copy_text"), "text", &s);
    } else if (rc == TGH_OK && get(b, "callback_game") != NULL) {
        type = "game";
    } else if (rc == TGH_OK && json_is_true(get(b, "pay"))) {
        type = "buy";
    } else if (rc == TGH_OK) {
        type = "unknown";
    }
    if (rc != TGH_OK) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    if (*out == NULL)
        *out = json_pack("{ss}", "type", type);
    if (text != NULL)
        (void)json_object_set_new(*out, "text", json_string(text));
    /* As TDLib's (and the export): "" is no data, but a callback's data is always there. */
    if (s != NULL && (*s != '\0' || strcmp(type, "callback") == 0))
        (void)json_object_set_new(*out, "data", json_string(s));
    if (fwd != NULL)
        (void)json_object_set_new(*out, "forward_text", json_string(fwd));
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
buttons_map(const json_t *msg, struct msg_event *ev)
{
    const struct tgh_jpath *mat = TGH_JPATH_KEY(BOT_ROOT, "reply_markup"),
                           *kat = TGH_JPATH_KEY(mat, "inline_keyboard");
    const json_t *m = NULL, *rows = NULL;
    json_t *row, *b, *out;
    size_t i, j;
    tgh_err rc;

    if ((rc = opt_obj(msg, BOT_ROOT, "reply_markup", &m)) != TGH_OK || m == NULL ||
        (rc = opt_arr(m, mat, "inline_keyboard", &rows)) != TGH_OK || json_array_size(rows) == 0)
        return rc;
    out = json_array();
    json_array_foreach (rows, i, row) {
        const struct tgh_jpath *iat = TGH_JPATH_IDX(kat, i);
        json_t *orow;

        if (!json_is_array(row)) {
            json_decref(out);
            return bad(iat, NULL, "expected an array of buttons, got %s", source_json_kind(row));
        }
        (void)json_array_append_new(out, orow = json_array());
        json_array_foreach (row, j, b) {
            json_t *ob = NULL;

            if ((rc = button_map(b, TGH_JPATH_IDX(iat, j), &ob)) != TGH_OK) {
                json_decref(out);
                return rc;
            }
            (void)json_array_append_new(orow, ob);
        }
    }
    ev->buttons = out;
    return TGH_OK;
}

/* ---- the message ------------------------------------------------------------ */

tgh_err
source_botapi_map_message(const json_t *msg, int64_t observed_at, struct tgh_arena *a,
                          struct msg_event *ev)
{
    tgh_err rc;

    msg_event_init(ev);
    if (!json_is_object(msg))
        return tgh_errf(TGH_EPROTO, "message: expected a Message object, got %s",
                        source_json_kind(msg));
    ev->op = MSG_OP_UPSERT;
    ev->source = MSG_SOURCE_BOTAPI;
    ev->observed_at = observed_at;
    ev->raw = json_incref((json_t *)msg); /* keeps alive the strings pointing into msg */
    source_warn_begin();
    if ((rc = head_map(msg, a, ev)) != TGH_OK || (rc = chat_map(msg, a, ev)) != TGH_OK ||
        (rc = sender_map(msg, a, ev)) != TGH_OK || (rc = forward_map(msg, a, ev)) != TGH_OK ||
        (rc = reply_map(msg, a, ev)) != TGH_OK ||
        (rc = source_botapi_content_map(msg, a, ev)) != TGH_OK ||
        (rc = buttons_map(msg, ev)) != TGH_OK) {
        source_warn_begin(); /* no message: no warnings */
        return rc;
    }
    source_warn_attach(ev);
    return TGH_OK;
}

/* ---- deletions -------------------------------------------------------------- */

tgh_err
source_botapi_map_deletes(const json_t *d, int64_t observed_at, struct msg_batch *b, size_t *n)
{
    const struct tgh_jpath *cat = TGH_JPATH_KEY(BOT_ROOT, "chat"),
                           *iat = TGH_JPATH_KEY(BOT_ROOT, "message_ids");
    const json_t *chat = NULL, *ids = NULL;
    enum msg_peer_type pt = MSG_PEER_NONE;
    const char *title = NULL;
    int64_t chat_id = 0;
    struct msg_event *ev;
    size_t i;
    json_t *v;
    tgh_err rc;

    *n = 0;
    if (!json_is_object(d))
        return tgh_errf(TGH_EPROTO, "message: expected a BusinessMessagesDeleted object, got %s",
                        source_json_kind(d));
    if ((rc = need_obj(d, BOT_ROOT, "chat", &chat)) != TGH_OK ||
        (rc = chat_of(chat, cat, &b->arena, &chat_id, &pt, &title)) != TGH_OK ||
        (rc = opt_arr(d, BOT_ROOT, "message_ids", &ids)) != TGH_OK)
        return rc;
    json_array_foreach (ids, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return bad(TGH_JPATH_IDX(iat, i), NULL, "expected a message id, got %s",
                       json_is_integer(v) ? "a number below 1" : source_json_kind(v));
    }
    if (b->cap - b->n < json_array_size(ids))
        return tgh_errf(TGH_ETOOBIG, "deleted_business_messages: %zu deletions, room for %zu",
                        json_array_size(ids), b->cap - b->n);
    json_array_foreach (ids, i, v) {
        ev = msg_batch_push(b);
        ev->op = MSG_OP_DELETE;
        ev->source = MSG_SOURCE_BOTAPI;
        ev->observed_at = observed_at;
        ev->chat_id = chat_id;
        ev->chat_type = pt == MSG_PEER_USER ? MSG_CHAT_PRIVATE : MSG_CHAT_UNKNOWN;
        ev->chat_title = title != NULL ? tgh_arena_strdup(&b->arena, title) : NULL;
        ev->message_id = json_integer_value(v);
        if ((rc = codec_event_finalize(ev)) != TGH_OK) {
            msg_batch_pop(b);
            for (; *n > 0; (*n)--)
                msg_batch_pop(b);
            return rc;
        }
        (*n)++;
    }
    return TGH_OK;
}
