/* SPDX-License-Identifier: MIT */
/*
 * source_tdlib_map.c - TDLib `message` objects and updateDeleteMessages
 * mapped onto struct msg_event: identity, chat, sender, forward and reply
 * links, threads, engagement and inline buttons here, the content in
 * source_tdlib_content.c. No I/O and no state between messages.
 *
 * Strings are not copied: they point into the message tree, which ev->raw
 * keeps alive until msg_event_fini(). A known field of the wrong JSON type
 * is an error naming its path; unknown fields and types stay in raw only.
 * Table and reasons: docs/internals/tdlib.md, "Mapping".
 */
#include "source/source_tdlib_int.h"

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"

/* ---- ids -------------------------------------------------------------------- */

int64_t
source_tdlib_msg_id(int64_t server_id)
{
    if (server_id <= 0 || server_id > (INT64_MAX >> SERVER_ID_SHIFT))
        return 0;
    return server_id << SERVER_ID_SHIFT;
}

int64_t
source_tdlib_server_id(int64_t tdlib_id)
{
    if (tdlib_id <= 0 || (tdlib_id & SERVER_ID_MASK) != 0)
        return 0;
    return tdlib_id >> SERVER_ID_SHIFT;
}

/* ---- links, engagement, buttons --------------------------------------------- */

static TGH_MUSTCHECK tgh_err
sender_map(const json_t *msg, struct msg_event *ev)
{
    const struct tgh_jpath *sat = TGH_JPATH_KEY(TDL_ROOT, "sender_id");
    const json_t *s = NULL;
    const char *type;
    int64_t id = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, TDL_ROOT, "sender_id", &s)) != TGH_OK || s == NULL)
        return rc;
    if ((rc = need_type(s, sat, &type)) != TGH_OK)
        return rc;
    if (strcmp(type, "messageSenderUser") == 0) {
        if ((rc = need_int(s, sat, "user_id", &id)) != TGH_OK ||
            (rc = user_id_val(id, sat, "user_id")) != TGH_OK)
            return rc;
        ev->sender_type = MSG_PEER_USER;
    } else if (strcmp(type, "messageSenderChat") == 0) {
        if ((rc = need_int(s, sat, "chat_id", &id)) != TGH_OK ||
            (rc = chat_id_val(id, sat, "chat_id", &ev->sender_type)) != TGH_OK)
            return rc;
    } else {
        return TGH_OK; /* a newer kind of sender: raw only */
    }
    ev->sender_id = id;
    return TGH_OK;
}

/*
 * Where a forward comes from. Older TDLib named the same objects
 * messageForwardOrigin*; messageForwardOriginMessageImport has a name only.
 */
static TGH_MUSTCHECK tgh_err
origin_map(const json_t *o, const struct tgh_jpath *oat, struct msg_event *ev)
{
    const char *type;
    int64_t id = 0;
    tgh_err rc;

    if ((rc = need_type(o, oat, &type)) != TGH_OK)
        return rc;
    if (strncmp(type, "messageForwardOrigin", 20) == 0)
        type += 20;
    else if (strncmp(type, "messageOrigin", 13) == 0)
        type += 13;
    if (strcmp(type, "User") == 0) {
        if ((rc = need_int(o, oat, "sender_user_id", &id)) != TGH_OK ||
            (rc = user_id_val(id, oat, "sender_user_id")) != TGH_OK)
            return rc;
        ev->forward_from_type = MSG_PEER_USER;
        ev->forward_from_id = id;
    } else if (strcmp(type, "HiddenUser") == 0 || strcmp(type, "MessageImport") == 0) {
        return opt_str(o, oat, "sender_name", &ev->forward_from_name);
    } else if (strcmp(type, "Chat") == 0) {
        if ((rc = need_int(o, oat, "sender_chat_id", &id)) != TGH_OK ||
            (rc = chat_id_val(id, oat, "sender_chat_id", &ev->forward_from_type)) != TGH_OK)
            return rc;
        ev->forward_from_id = id;
    } else if (strcmp(type, "Channel") == 0) {
        if ((rc = need_int(o, oat, "chat_id", &id)) != TGH_OK ||
            (rc = chat_id_val(id, oat, "chat_id", &ev->forward_from_type)) != TGH_OK ||
            (rc = opt_msg_id(o, oat, "message_id", &ev->forward_message_id)) != TGH_OK)
            return rc;
        ev->forward_from_id = id;
    }
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
forward_map(const json_t *msg, struct msg_event *ev)
{
    const struct tgh_jpath *fat = TGH_JPATH_KEY(TDL_ROOT, "forward_info");
    const json_t *f = NULL, *origin = NULL;
    int64_t date = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, TDL_ROOT, "forward_info", &f)) != TGH_OK || f == NULL)
        return rc;
    if ((rc = opt_obj(f, fat, "origin", &origin)) != TGH_OK ||
        (rc = opt_int(f, fat, "date", &date)) != TGH_OK ||
        (origin != NULL && (rc = origin_map(origin, TGH_JPATH_KEY(fat, "origin"), ev)) != TGH_OK))
        return rc;
    if (date != 0)
        ev->forward_date = date;
    return TGH_OK;
}

/* reply_to, else what older TDLib had instead: reply_in_chat_id and reply_to_message_id. */
static TGH_MUSTCHECK tgh_err
reply_map(const json_t *msg, struct msg_event *ev)
{
    const struct tgh_jpath *rat = TGH_JPATH_KEY(TDL_ROOT, "reply_to");
    const json_t *r = NULL, *holder = msg;
    const struct tgh_jpath *hat = TDL_ROOT;
    const char *type, *chat_key = "reply_in_chat_id", *msg_key = "reply_to_message_id";
    enum msg_peer_type pt = MSG_PEER_NONE;
    int64_t chat_id = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, TDL_ROOT, "reply_to", &r)) != TGH_OK)
        return rc;
    if (r != NULL) {
        if ((rc = need_type(r, rat, &type)) != TGH_OK)
            return rc;
        if (strcmp(type, "messageReplyToMessage") != 0)
            return TGH_OK; /* a story, or newer: raw only */
        holder = r;
        hat = rat;
        chat_key = "chat_id";
        msg_key = "message_id";
    }
    if ((rc = opt_int(holder, hat, chat_key, &chat_id)) != TGH_OK ||
        (rc = opt_msg_id(holder, hat, msg_key, &ev->reply_to_message_id)) != TGH_OK)
        return rc;
    if (chat_id != 0 && chat_id != ev->chat_id && ev->reply_to_message_id != MSG_UNSET) {
        if ((rc = chat_id_val(chat_id, hat, chat_key, &pt)) != TGH_OK)
            return rc;
        ev->reply_to_chat_id = chat_id;
    }
    return TGH_OK;
}

/*
 * topic_id: a forum topic's id is a server message id already (not shifted);
 * a comment thread's is a message id. Older TDLib had message_thread_id.
 */
static TGH_MUSTCHECK tgh_err
thread_map(const json_t *msg, struct msg_event *ev)
{
    const struct tgh_jpath *tat = TGH_JPATH_KEY(TDL_ROOT, "topic_id");
    const json_t *t = NULL;
    const char *type;
    int64_t id = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, TDL_ROOT, "topic_id", &t)) != TGH_OK)
        return rc;
    if (t == NULL)
        return opt_msg_id(msg, TDL_ROOT, "message_thread_id", &ev->thread_id);
    if ((rc = need_type(t, tat, &type)) != TGH_OK)
        return rc;
    if (strcmp(type, "messageTopicThread") == 0)
        return opt_msg_id(t, tat, "message_thread_id", &ev->thread_id);
    if (strcmp(type, "messageTopicForum") != 0)
        return TGH_OK; /* direct-messages and Saved Messages topics are not threads */
    if ((rc = opt_int(t, tat, "forum_topic_id", &id)) == TGH_OK && id != 0)
        ev->thread_id = id;
    return rc;
}

static const struct name reaction_types[] = {
    { "reactionTypeCustomEmoji", "custom_emoji" },
    { "reactionTypeEmoji", "emoji" },
    { "reactionTypePaid", "paid" },
};

static TGH_MUSTCHECK tgh_err
reaction_map(const json_t *r, const struct tgh_jpath *at, struct tgh_arena *a,
             struct msg_reaction *mr)
{
    const struct tgh_jpath *tat = TGH_JPATH_KEY(at, "type");
    const json_t *type = NULL;
    const struct name *n;
    const char *tname;
    tgh_err rc;

    mr->count = MSG_UNSET;
    if (!json_is_object(r))
        return bad(at, NULL, "expected a messageReaction object, got %s", source_json_kind(r));
    if ((rc = need_obj(r, at, "type", &type)) != TGH_OK ||
        (rc = need_type(type, tat, &tname)) != TGH_OK ||
        (rc = need_int(r, at, "total_count", &mr->count)) != TGH_OK ||
        (rc = opt_str(type, tat, "emoji", &mr->emoji)) != TGH_OK ||
        (rc = opt_id_text(type, tat, "custom_emoji_id", a, &mr->custom_emoji_id)) != TGH_OK)
        return rc;
    n = lookup(tname, reaction_types, TGH_NELEM(reaction_types), sizeof(*reaction_types));
    mr->type = n != NULL ? n->ours : snake(tname, "reactionType", a);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
reactions_map(const json_t *rs, const struct tgh_jpath *at, struct tgh_arena *a,
              struct msg_event *ev)
{
    const struct tgh_jpath *lat = TGH_JPATH_KEY(at, "reactions");
    const json_t *list = NULL;
    size_t i;
    json_t *r;
    tgh_err rc;

    ev->has_reactions = true;
    if ((rc = opt_arr(rs, at, "reactions", &list)) != TGH_OK || list == NULL)
        return rc;
    if (json_array_size(list) > MSG_MAX_REACTIONS)
        return fail(TGH_ETOOBIG, lat, NULL, "%zu reactions, at most %d", json_array_size(list),
                    MSG_MAX_REACTIONS);
    ev->reactions = tgh_arena_alloc(a, (json_array_size(list) + 1) * sizeof(*ev->reactions));
    json_array_foreach (list, i, r) {
        if ((rc = reaction_map(r, TGH_JPATH_IDX(lat, i), a, &ev->reactions[i])) != TGH_OK)
            return rc;
        ev->n_reactions++;
    }
    return TGH_OK;
}

/* Views and forwards are counted for channel posts; elsewhere a 0 is "not counted". */
static TGH_MUSTCHECK tgh_err
interaction_map(const json_t *msg, bool is_post, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *iat = TGH_JPATH_KEY(TDL_ROOT, "interaction_info");
    const json_t *ii = NULL, *ri = NULL, *rs = NULL;
    int64_t views = 0, forwards = 0;
    tgh_err rc;

    if ((rc = opt_obj(msg, TDL_ROOT, "interaction_info", &ii)) != TGH_OK || ii == NULL)
        return rc;
    if ((rc = opt_int(ii, iat, "view_count", &views)) != TGH_OK ||
        (rc = opt_int(ii, iat, "forward_count", &forwards)) != TGH_OK ||
        (rc = opt_obj(ii, iat, "reply_info", &ri)) != TGH_OK ||
        (rc = opt_obj(ii, iat, "reactions", &rs)) != TGH_OK ||
        (ri != NULL && (rc = opt_int(ri, TGH_JPATH_KEY(iat, "reply_info"), "reply_count",
                                     &ev->replies)) != TGH_OK))
        return rc;
    if (is_post || views != 0)
        ev->views = views;
    if (is_post || forwards != 0)
        ev->forwards = forwards;
    return rs != NULL ? reactions_map(rs, TGH_JPATH_KEY(iat, "reactions"), a, ev) : TGH_OK;
}

enum btn_data { B_NONE, B_URL, B_LOGIN, B_CALLBACK, B_SWITCH, B_USER, B_COPY };

/* Desktop's button type names (HistoryMessageMarkupButton::TypeToString). */
static const struct button_type {
    const char *tdlib;
    const char *ours;
    enum btn_data data;
} button_types[] = {
    { "inlineKeyboardButtonTypeBuy", "buy", B_NONE },
    { "inlineKeyboardButtonTypeCallback", "callback", B_CALLBACK },
    { "inlineKeyboardButtonTypeCallbackGame", "game", B_NONE },
    { "inlineKeyboardButtonTypeCallbackWithPassword", "callback_with_password", B_CALLBACK },
    { "inlineKeyboardButtonTypeCopyText", "copy_text", B_COPY },
    { "inlineKeyboardButtonTypeLoginUrl", "auth", B_LOGIN },
    { "inlineKeyboardButtonTypeSwitchInline", "switch_inline", B_SWITCH },
    { "inlineKeyboardButtonTypeUrl", "url", B_URL },
    { "inlineKeyboardButtonTypeUser", "user_profile", B_USER },
    { "inlineKeyboardButtonTypeWebApp", "web_view", B_URL },
};

/* TDLib's base64 of callback data as Desktop writes it: base64url without padding. */
static json_t *
base64url(const char *s)
{
    size_t n = strlen(s);
    char *t = tgh_strndup(s, n);
    json_t *out;

    while (n > 0 && t[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++)
        t[i] = t[i] == '+' ? '-' : t[i] == '/' ? '_' : t[i];
    out = json_stringn(t, n);
    tgh_free(t);
    return out;
}

static TGH_MUSTCHECK tgh_err
button_data(const json_t *t, const struct tgh_jpath *tat, const struct button_type *bt, json_t *o)
{
    const json_t *target = NULL;
    const char *s = NULL, *fwd = NULL;
    int64_t id = 0;
    char buf[24];
    tgh_err rc = TGH_OK;

    switch (bt->data) {
    case B_URL:
        rc = opt_str(t, tat, "url", &s);
        break;
    case B_LOGIN:
        if ((rc = opt_str(t, tat, "url", &s)) == TGH_OK &&
            (rc = opt_str(t, tat, "forward_text", &fwd)) == TGH_OK)
            rc = opt_int(t, tat, "id", &id);
        break;
    case B_CALLBACK:
        if ((rc = opt_str(t, tat, "data", &s)) == TGH_OK && s != NULL) {
            (void)json_object_set_new(o, "dataBase64", base64url(s));
            s = "";
        }
        break;
    case B_SWITCH:
        if ((rc = opt_str(t, tat, "query", &s)) == TGH_OK &&
            (rc = opt_obj(t, tat, "target_chat", &target)) == TGH_OK && target != NULL &&
            type_of(target) != NULL && strcmp(type_of(target), "targetChatCurrent") == 0)
            (void)json_object_set_new(o, "type", json_string("switch_inline_same"));
        break;
    case B_USER:
        if ((rc = opt_int(t, tat, "user_id", &id)) == TGH_OK && id != 0) {
            (void)snprintf(buf, sizeof(buf), "%" PRId64, id);
            s = buf;
            id = 0;
        }
        break;
    case B_COPY:
        rc = opt_str(t, tat, "text", &s);
        break;
    case B_NONE:
        break;
    }
    if (s != NULL)
        (void)json_object_set_new(o, "data", json_string(s));
    if (fwd != NULL)
        (void)json_object_set_new(o, "forward_text", json_string(fwd));
    if (id != 0)
        (void)json_object_set_new(o, "button_id", json_integer((json_int_t)id));
    return rc;
}

/* One inlineKeyboardButton as Desktop exports it: {type, text, data|dataBase64, ...}. */
static TGH_MUSTCHECK tgh_err
button_map(const json_t *b, const struct tgh_jpath *at, struct tgh_arena *a, json_t **out)
{
    const struct tgh_jpath *tat = TGH_JPATH_KEY(at, "type");
    const struct button_type *bt;
    const json_t *t = NULL;
    const char *text = NULL, *tname;
    tgh_err rc;

    if (!json_is_object(b))
        return bad(at, NULL, "expected an inlineKeyboardButton object, got %s",
                   source_json_kind(b));
    if ((rc = opt_str(b, at, "text", &text)) != TGH_OK ||
        (rc = need_obj(b, at, "type", &t)) != TGH_OK || (rc = need_type(t, tat, &tname)) != TGH_OK)
        return rc;
    bt = lookup(tname, button_types, TGH_NELEM(button_types), sizeof(*button_types));
    *out = json_object();
    (void)json_object_set_new(
        *out, "type", json_string(bt ? bt->ours : snake(tname, "inlineKeyboardButtonType", a)));
    if (text != NULL)
        (void)json_object_set_new(*out, "text", json_string(text));
    return bt != NULL ? button_data(t, tat, bt, *out) : TGH_OK;
}

/* Inline keyboards only: the export has no other kind of markup. */
static TGH_MUSTCHECK tgh_err
buttons_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *mat = TGH_JPATH_KEY(TDL_ROOT, "reply_markup"),
                           *rat = TGH_JPATH_KEY(mat, "rows");
    const json_t *m = NULL, *rows = NULL;
    json_t *row, *b, *out = NULL;
    size_t i, j;
    tgh_err rc;

    if ((rc = opt_obj(msg, TDL_ROOT, "reply_markup", &m)) != TGH_OK || m == NULL ||
        type_of(m) == NULL || strcmp(type_of(m), "replyMarkupInlineKeyboard") != 0)
        return rc;
    if ((rc = opt_arr(m, mat, "rows", &rows)) != TGH_OK || json_array_size(rows) == 0)
        return rc;
    out = json_array();
    json_array_foreach (rows, i, row) {
        const struct tgh_jpath *iat = TGH_JPATH_IDX(rat, i);
        json_t *orow;

        if (!json_is_array(row)) {
            rc = bad(iat, NULL, "expected an array of buttons, got %s", source_json_kind(row));
            break;
        }
        (void)json_array_append_new(out, orow = json_array());
        json_array_foreach (row, j, b) {
            json_t *ob = NULL;

            if ((rc = button_map(b, TGH_JPATH_IDX(iat, j), a, &ob)) != TGH_OK) {
                json_decref(ob);
                break;
            }
            (void)json_array_append_new(orow, ob);
        }
        if (rc != TGH_OK)
            break;
    }
    if (rc != TGH_OK) {
        json_decref(out);
        return rc;
    }
    ev->buttons = out;
    return TGH_OK;
}

/* ---- the message ------------------------------------------------------------ */

static TGH_MUSTCHECK tgh_err
chat_map(const json_t *msg, const struct source_tdlib_chat *chat, bool is_post, struct tgh_arena *a,
         struct msg_event *ev)
{
    enum msg_peer_type pt = MSG_PEER_NONE;
    tgh_err rc;

    if ((rc = need_int(msg, TDL_ROOT, "chat_id", &ev->chat_id)) != TGH_OK ||
        (rc = chat_id_val(ev->chat_id, TDL_ROOT, "chat_id", &pt)) != TGH_OK)
        return rc;
    if (chat != NULL && chat->chat_id != ev->chat_id)
        return bad(TDL_ROOT, "chat_id", "%" PRId64 " is not the chat %" PRId64 " it was read from",
                   ev->chat_id, chat->chat_id);
    if (chat != NULL && chat->type != MSG_CHAT_UNKNOWN)
        ev->chat_type = chat->type;
    else if (pt == MSG_PEER_CHANNEL)
        ev->chat_type = is_post ? MSG_CHAT_CHANNEL : MSG_CHAT_SUPERGROUP;
    else
        ev->chat_type = pt == MSG_PEER_CHAT ? MSG_CHAT_GROUP : MSG_CHAT_PRIVATE;
    if (chat != NULL && chat->title != NULL)
        ev->chat_title = tgh_arena_strdup(a, chat->title);
    if (chat != NULL && chat->username != NULL)
        ev->chat_username = tgh_arena_strdup(a, chat->username);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
head_map(const json_t *msg, struct msg_event *ev)
{
    int64_t id = 0, edit = 0, album = 0;
    const char *type = type_of(msg);
    tgh_err rc;

    if (type != NULL && strcmp(type, "message") != 0)
        return bad(TDL_ROOT, "@type", "expected \"message\", got \"%.64s\"", type);
    if ((rc = need_int(msg, TDL_ROOT, "id", &id)) != TGH_OK)
        return rc;
    if ((ev->message_id = source_tdlib_server_id(id)) == 0)
        return bad(TDL_ROOT, "id",
                   "%" PRId64 " is not a server message id (server_id << 20): a local, "
                   "yet unsent or scheduled message",
                   id);
    if ((rc = need_int(msg, TDL_ROOT, "date", &ev->date)) != TGH_OK ||
        (rc = opt_int(msg, TDL_ROOT, "edit_date", &edit)) != TGH_OK ||
        (rc = opt_str(msg, TDL_ROOT, "author_signature", &ev->author_signature)) != TGH_OK ||
        (rc = opt_int64(msg, TDL_ROOT, "media_album_id", &album)) != TGH_OK)
        return rc;
    if (edit != 0)
        ev->edit_date = edit;
    if (album != 0)
        ev->album_id = album;
    return TGH_OK;
}

tgh_err
source_tdlib_map_message(const json_t *msg, const struct source_tdlib_chat *chat,
                         int64_t observed_at, struct tgh_arena *a, struct msg_event *ev)
{
    bool is_post = false;
    tgh_err rc;

    msg_event_init(ev);
    if (!json_is_object(msg))
        return tgh_errf(TGH_EPROTO, "message: expected an object, got %s", source_json_kind(msg));
    ev->op = MSG_OP_UPSERT;
    ev->source = MSG_SOURCE_TDLIB;
    ev->observed_at = observed_at;
    ev->raw = json_incref((json_t *)msg); /* also keeps alive the strings pointing into msg */
    source_warn_begin();
    if ((rc = head_map(msg, ev)) != TGH_OK ||
        (rc = opt_bool(msg, TDL_ROOT, "is_channel_post", &is_post)) != TGH_OK ||
        (rc = chat_map(msg, chat, is_post, a, ev)) != TGH_OK ||
        (rc = sender_map(msg, ev)) != TGH_OK || (rc = forward_map(msg, ev)) != TGH_OK ||
        (rc = reply_map(msg, ev)) != TGH_OK || (rc = thread_map(msg, ev)) != TGH_OK ||
        (rc = interaction_map(msg, is_post, a, ev)) != TGH_OK ||
        (rc = source_tdlib_content_map(msg, a, ev)) != TGH_OK ||
        (rc = buttons_map(msg, a, ev)) != TGH_OK) {
        source_warn_begin(); /* no message: no warnings */
        return rc;
    }
    source_warn_attach(ev);
    return TGH_OK;
}

/* ---- deletions -------------------------------------------------------------- */

/* Without a chat a -100... id is a channel or a supergroup: "unknown" then, never a guess. */
static enum msg_chat_type
delete_chat_type(const struct source_tdlib_chat *chat, enum msg_peer_type pt)
{
    if (chat != NULL && chat->type != MSG_CHAT_UNKNOWN)
        return chat->type;
    if (pt == MSG_PEER_CHANNEL)
        return MSG_CHAT_UNKNOWN;
    return pt == MSG_PEER_CHAT ? MSG_CHAT_GROUP : MSG_CHAT_PRIVATE;
}

static TGH_MUSTCHECK tgh_err
delete_push(const struct source_tdlib_chat *chat, enum msg_chat_type type, int64_t chat_id,
            int64_t message_id, int64_t observed_at, struct msg_batch *b)
{
    struct msg_event *ev = msg_batch_push(b);
    tgh_err rc;

    ev->op = MSG_OP_DELETE;
    ev->source = MSG_SOURCE_TDLIB;
    ev->observed_at = observed_at;
    ev->chat_id = chat_id;
    ev->chat_type = type;
    if (chat != NULL && chat->title != NULL)
        ev->chat_title = tgh_arena_strdup(&b->arena, chat->title);
    if (chat != NULL && chat->username != NULL)
        ev->chat_username = tgh_arena_strdup(&b->arena, chat->username);
    ev->message_id = message_id;
    if ((rc = codec_event_finalize(ev)) != TGH_OK)
        msg_batch_pop(b);
    return rc;
}

tgh_err
source_tdlib_map_deletes(const json_t *update, const struct source_tdlib_chat *chat,
                         int64_t observed_at, struct msg_batch *b, size_t *n)
{
    const struct tgh_jpath *iat = TGH_JPATH_KEY(TDL_ROOT, "message_ids");
    bool is_permanent = false, from_cache = false;
    const json_t *ids = NULL;
    size_t i, count = 0;
    enum msg_peer_type pt = MSG_PEER_NONE;
    int64_t chat_id = 0;
    const char *type;
    json_t *v;
    tgh_err rc;

    *n = 0;
    if (!json_is_object(update))
        return tgh_errf(TGH_EPROTO, "update: expected an object, got %s", source_json_kind(update));
    if ((type = type_of(update)) != NULL && strcmp(type, "updateDeleteMessages") != 0)
        return bad(TDL_ROOT, "@type", "expected \"updateDeleteMessages\", got \"%.64s\"", type);
    if ((rc = need_int(update, TDL_ROOT, "chat_id", &chat_id)) != TGH_OK ||
        (rc = chat_id_val(chat_id, TDL_ROOT, "chat_id", &pt)) != TGH_OK ||
        (rc = opt_arr(update, TDL_ROOT, "message_ids", &ids)) != TGH_OK ||
        (rc = opt_bool(update, TDL_ROOT, "is_permanent", &is_permanent)) != TGH_OK ||
        (rc = opt_bool(update, TDL_ROOT, "from_cache", &from_cache)) != TGH_OK)
        return rc;
    if (chat != NULL && chat->chat_id != chat_id)
        return bad(TDL_ROOT, "chat_id", "%" PRId64 " is not the chat %" PRId64 " it was read from",
                   chat_id, chat->chat_id);
    /* Check everything before pushing anything. Local (never sent) messages were never archived. */
    json_array_foreach (ids, i, v) {
        if (!json_is_integer(v))
            return bad(TGH_JPATH_IDX(iat, i), NULL, "expected an integer, got %s",
                       source_json_kind(v));
        count += source_tdlib_server_id(json_integer_value(v)) != 0;
    }
    if (!is_permanent || from_cache)
        return TGH_OK; /* TDLib unloaded its cache: nothing was deleted on Telegram */
    if (b->cap - b->n < count)
        return tgh_errf(TGH_ETOOBIG,
                        "updateDeleteMessages: %zu deletions, room for %zu in the batch", count,
                        b->cap - b->n);
    json_array_foreach (ids, i, v) {
        int64_t id = source_tdlib_server_id(json_integer_value(v));

        if (id == 0)
            continue;
        rc = delete_push(chat, delete_chat_type(chat, pt), chat_id, id, observed_at, b);
        if (rc != TGH_OK) {
            for (; *n > 0; (*n)--)
                msg_batch_pop(b);
            return rc;
        }
        (*n)++;
    }
    return TGH_OK;
}
