/* SPDX-License-Identifier: MIT */
/*
 * source_botapi_content.c - the content of a Bot API Message (text, every
 * media kind, poll, location, contact, and the service fields) onto an
 * event, with the names and params shape the TDLib mapper gives the same
 * content (source_tdlib_content.c), so both sources hash the same.
 * Table: docs/internals/botapi.md.
 */
#include "source/source_botapi_int.h"

/* ---- text ------------------------------------------------------------------- */

enum ent_extra { X_NONE, X_LANG, X_HREF, X_USER, X_EMOJI };

/* Bot API entity types onto the export's names (as TDLib's), sorted for bsearch. */
static const struct entity_type {
    const char *bot;
    const char *ours;
    enum ent_extra extra;
} entity_types[] = {
    { "blockquote", "blockquote", X_NONE },
    { "bold", "bold", X_NONE },
    { "bot_command", "bot_command", X_NONE },
    { "cashtag", "cashtag", X_NONE },
    { "code", "code", X_NONE },
    { "custom_emoji", "custom_emoji", X_EMOJI },
    { "email", "email", X_NONE },
    { "expandable_blockquote", "blockquote", X_NONE },
    { "hashtag", "hashtag", X_NONE },
    { "italic", "italic", X_NONE },
    { "mention", "mention", X_NONE },
    { "phone_number", "phone", X_NONE },
    { "pre", "pre", X_LANG },
    { "spoiler", "spoiler", X_NONE },
    { "strikethrough", "strikethrough", X_NONE },
    { "text_link", "text_link", X_HREF },
    { "text_mention", "mention_name", X_USER },
    { "underline", "underline", X_NONE },
    { "url", "link", X_NONE },
};

static TGH_MUSTCHECK tgh_err
entity_map(const json_t *me, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_entity *e)
{
    const struct entity_type *et;
    const json_t *user = NULL;
    const char *type = NULL;
    tgh_err rc;

    memset(e, 0, sizeof(*e));
    e->user_id = MSG_UNSET;
    if (!json_is_object(me))
        return bad(at, NULL, "expected a MessageEntity object, got %s", source_json_kind(me));
    if ((rc = need_int(me, at, "offset", &e->offset)) != TGH_OK ||
        (rc = need_int(me, at, "length", &e->length)) != TGH_OK ||
        (rc = opt_str(me, at, "type", &type)) != TGH_OK)
        return rc;
    if (type == NULL)
        return bad(at, "type", "required");
    if ((et = lookup(type, entity_types, TGH_NELEM(entity_types), sizeof(*et))) == NULL) {
        e->type = type; /* a newer type, kept under the Bot API's name */
        return TGH_OK;
    }
    e->type = et->ours;
    switch (et->extra) {
    case X_LANG:
        e->language = "";
        return opt_str(me, at, "language", &e->language);
    case X_HREF:
        return opt_str(me, at, "url", &e->href);
    case X_USER:
        if ((rc = need_obj(me, at, "user", &user)) != TGH_OK ||
            (rc = need_int(user, TGH_JPATH_KEY(at, "user"), "id", &e->user_id)) != TGH_OK)
            return rc;
        return user_id_val(e->user_id, TGH_JPATH_KEY(at, "user"), "id");
    case X_EMOJI:
        return opt_id_text(me, at, "custom_emoji_id", a, &e->custom_emoji_id);
    case X_NONE:
        break;
    }
    return TGH_OK;
}

/* text and entities, or caption and caption_entities. */
static TGH_MUSTCHECK tgh_err
text_map(const json_t *msg, const char *tkey, const char *ekey, struct tgh_arena *a,
         struct msg_event *ev)
{
    const struct tgh_jpath *eat = TGH_JPATH_KEY(BOT_ROOT, ekey);
    const json_t *ents = NULL;
    json_t *v = get(msg, tkey), *me;
    size_t i, n;
    tgh_err rc;

    if (v == NULL)
        return TGH_OK;
    if ((rc = str_val(v, BOT_ROOT, tkey, &ev->text)) != TGH_OK ||
        (rc = opt_arr(msg, BOT_ROOT, ekey, &ents)) != TGH_OK)
        return rc;
    if (*ev->text == '\0')
        ev->text = NULL;
    if ((n = json_array_size(ents)) > MSG_MAX_ENTITIES)
        return fail(TGH_ETOOBIG, eat, NULL, "%zu entities, at most %d", n, MSG_MAX_ENTITIES);
    if (n == 0 || ev->text == NULL)
        return TGH_OK;
    ev->entities = tgh_arena_alloc(a, n * sizeof(*ev->entities));
    json_array_foreach (ents, i, me) {
        if ((rc = entity_map(me, TGH_JPATH_IDX(eat, i), a, &ev->entities[i])) != TGH_OK)
            return rc;
        ev->n_entities++;
    }
    return TGH_OK;
}

/* ---- media ------------------------------------------------------------------ */

/* What every file object has: file_unique_id and file_size. */
static TGH_MUSTCHECK tgh_err
file_map(const json_t *f, const struct tgh_jpath *at, struct msg_media *m)
{
    int64_t size = 0;
    tgh_err rc;

    if ((rc = opt_str(f, at, "file_unique_id", &m->file_unique_id)) != TGH_OK ||
        (rc = opt_int(f, at, "file_size", &size)) != TGH_OK)
        return rc;
    if (size > 0)
        m->size_bytes = size;
    return TGH_OK;
}

/* The largest PhotoSize, as Desktop and TDLib pick it. */
static TGH_MUSTCHECK tgh_err
photo_map(const json_t *sizes, const struct tgh_jpath *at, struct msg_media *m)
{
    const json_t *best = NULL;
    size_t best_i = 0;
    tgh_err rc = source_best_photo_size(sizes, at, "PhotoSize", m, &best, &best_i);

    if (rc != TGH_OK || best == NULL)
        return rc;
    return file_map(best, TGH_JPATH_IDX(at, best_i), m);
}

/* The file-like objects: each reads the fields it has, as doc_map does for TDLib. */
static const struct doc_kind {
    const char *key; /* the Message's key, also the media kind unless kind is set */
    const char *kind;
    bool has_dims, has_name, has_length, has_song, has_emoji;
} doc_kinds[] = {
    /* animation before document: an animation message carries a document too */
    { "animation", NULL, true, true, false, false, false },
    { "audio", NULL, false, true, false, true, false },
    { "document", NULL, false, true, false, false, false },
    { "sticker", NULL, true, false, false, false, true },
    { "video", NULL, true, true, false, false, false },
    { "video_note", NULL, false, false, true, false, false },
    { "voice", NULL, false, false, false, false, false },
};

static TGH_MUSTCHECK tgh_err
doc_map(const json_t *d, const struct tgh_jpath *at, const struct doc_kind *dk, struct msg_media *m)
{
    int64_t duration = 0, w = 0, h = 0;
    tgh_err rc;

    if (!json_is_object(d))
        return bad(at, NULL, "expected an object, got %s", source_json_kind(d));
    if ((rc = opt_int(d, at, "duration", &duration)) != TGH_OK ||
        (dk->has_dims && ((rc = opt_int(d, at, "width", &w)) != TGH_OK ||
                          (rc = opt_int(d, at, "height", &h)) != TGH_OK)) ||
        (dk->has_length && (rc = opt_int(d, at, "length", &w)) != TGH_OK) ||
        (dk->has_name && (rc = opt_str(d, at, "file_name", &m->file_name)) != TGH_OK) ||
        (!dk->has_emoji && (rc = opt_str(d, at, "mime_type", &m->mime_type)) != TGH_OK) ||
        (dk->has_song && ((rc = opt_str(d, at, "performer", &m->performer)) != TGH_OK ||
                          (rc = opt_str(d, at, "title", &m->title)) != TGH_OK)) ||
        (dk->has_emoji && (rc = opt_str(d, at, "emoji", &m->sticker_emoji)) != TGH_OK))
        return rc;
    source_media_dims(m, duration, w, dk->has_length ? w : h); /* a video note is a square */
    return file_map(d, at, m);
}

/* Content the TDLib mapper keeps as a kind only (raw has the rest). */
static const char *const kind_only[] = { "checklist", "game",  "giveaway", "giveaway_winners",
                                         "invoice",   "story", NULL };

/* ---- structured content ----------------------------------------------------- */

static TGH_MUSTCHECK tgh_err
venue_map(const json_t *v, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *loc = NULL;
    tgh_err rc;

    if ((rc = need_obj(v, at, "location", &loc)) != TGH_OK ||
        (rc = source_location_map(loc, TGH_JPATH_KEY(at, "location"), false, a, ev)) != TGH_OK)
        return rc;
    if ((rc = opt_str(v, at, "title", &ev->location->venue_title)) != TGH_OK)
        return rc;
    return opt_str(v, at, "address", &ev->location->address);
}

static TGH_MUSTCHECK tgh_err
poll_map(const json_t *p, const struct tgh_jpath *at, struct tgh_arena *a, struct msg_event *ev)
{
    const struct tgh_jpath *oat = TGH_JPATH_KEY(at, "options");
    const json_t *opts = NULL, *q;
    struct msg_poll *poll;
    size_t i;
    json_t *o;
    tgh_err rc;

    if ((rc = opt_arr(p, at, "options", &opts)) != TGH_OK)
        return rc;
    if (json_array_size(opts) > MSG_MAX_POLL_ANSWERS)
        return fail(TGH_ETOOBIG, oat, NULL, "%zu options, at most %d", json_array_size(opts),
                    MSG_MAX_POLL_ANSWERS);
    poll = ev->poll = tgh_arena_alloc(a, sizeof(*poll));
    poll->total_voters = MSG_UNSET;
    if ((q = get(p, "question")) == NULL)
        return bad(at, "question", "required");
    if ((rc = str_val(q, at, "question", &poll->question)) != TGH_OK ||
        (rc = opt_int(p, at, "total_voter_count", &poll->total_voters)) != TGH_OK ||
        (rc = opt_bool(p, at, "is_closed", &poll->closed)) != TGH_OK)
        return rc;
    poll->n_answers = json_array_size(opts);
    poll->answers = tgh_arena_alloc(a, (poll->n_answers + 1) * sizeof(*poll->answers));
    json_array_foreach (opts, i, o) {
        const struct tgh_jpath *iat = TGH_JPATH_IDX(oat, i);
        struct msg_poll_answer *pa = &poll->answers[i];
        json_t *t;

        pa->voters = MSG_UNSET;
        if (!json_is_object(o))
            return bad(iat, NULL, "expected a PollOption object, got %s", source_json_kind(o));
        if ((t = get(o, "text")) == NULL)
            return bad(iat, "text", "required");
        if ((rc = str_val(t, iat, "text", &pa->text)) != TGH_OK ||
            (rc = opt_int(o, iat, "voter_count", &pa->voters)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

/* ---- service fields --------------------------------------------------------- */

typedef tgh_err (*params_fn)(const json_t *msg, const json_t *v, const struct tgh_jpath *at,
                             json_t **out);

static TGH_MUSTCHECK tgh_err
p_none(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    (void)v;
    (void)at;
    *out = NULL;
    return TGH_OK;
}

/* The chat's title, as TDLib's messageSupergroupChatCreate and messageChatUpgradeFrom carry. */
static TGH_MUSTCHECK tgh_err
p_chat_title(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    const char *t = json_string_value(get(get(msg, "chat"), "title"));

    (void)v;
    (void)at;
    *out = t != NULL && *t != '\0' ? json_pack("{ss}", "title", t) : NULL;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
p_str(const json_t *v, const struct tgh_jpath *at, const char *from, const char *to, json_t **out)
{
    const char *s = NULL;
    tgh_err rc = json_is_object(v) ? opt_str(v, at, from, &s) : TGH_OK;

    *out = rc == TGH_OK && s != NULL ? json_pack("{ss}", to, s) : NULL;
    return rc;
}

static TGH_MUSTCHECK tgh_err
p_int(const json_t *v, const struct tgh_jpath *at, const char *from, const char *to, json_t **out)
{
    int64_t n = 0;
    tgh_err rc = json_is_object(v) ? opt_int(v, at, from, &n) : TGH_OK;

    *out = rc == TGH_OK && n != 0 ? json_pack("{sI}", to, (json_int_t)n) : NULL;
    return rc;
}

static TGH_MUSTCHECK tgh_err
p_title(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    *out = json_is_string(v) ? json_pack("{sO}", "title", v) : NULL;
    (void)at;
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
p_topic_created(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return p_str(v, at, "name", "title", out);
}

static TGH_MUSTCHECK tgh_err
p_topic_edited(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    const char *name = NULL, *icon = NULL;
    json_t *iv = json_object_get(v, "icon_custom_emoji_id");
    tgh_err rc;

    (void)msg;
    *out = NULL;
    if (!json_is_object(v))
        return TGH_OK;
    if ((rc = opt_str(v, at, "name", &name)) != TGH_OK ||
        (iv != NULL && (rc = str_val(iv, at, "icon_custom_emoji_id", &icon)) != TGH_OK))
        return rc;
    *out = json_object();
    if (name != NULL)
        (void)json_object_set_new(*out, "new_title", json_string(name));
    if (icon != NULL)
        (void)json_object_set_new(*out, "new_icon_emoji_id",
                                  json_integer((json_int_t)strtoll(icon, NULL, 10)));
    if (json_object_size(*out) == 0) {
        json_decref(*out);
        *out = NULL;
    }
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
p_closed(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)v;
    (void)at;
    *out = json_pack("{sb}", "is_closed", get(msg, "forum_topic_closed") != NULL);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
p_hidden(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)v;
    (void)at;
    *out = json_pack("{sb}", "is_hidden", get(msg, "general_forum_topic_hidden") != NULL);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
p_ttl(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    int64_t n = 0;
    tgh_err rc = json_is_object(v) ? opt_int(v, at, "message_auto_delete_time", &n) : TGH_OK;

    (void)msg;
    *out = rc == TGH_OK ? json_pack("{sI}", "period", (json_int_t)n) : NULL;
    return rc;
}

static TGH_MUSTCHECK tgh_err
p_duration(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return p_int(v, at, "duration", "duration", out);
}

static TGH_MUSTCHECK tgh_err
p_scheduled(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return p_int(v, at, "start_date", "schedule_date", out);
}

static TGH_MUSTCHECK tgh_err
p_boost(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return p_int(v, at, "boost_count", "boosts", out);
}

static TGH_MUSTCHECK tgh_err
p_pin(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return p_int(v, at, "message_id", "message_id", out);
}

/* User ids of an array of User objects under key, as TDLib's member_user_ids / user_ids. */
static TGH_MUSTCHECK tgh_err
user_ids(const json_t *users, const struct tgh_jpath *at, const char *key, json_t **out)
{
    json_t *ids = json_array(), *u;
    size_t i;

    json_array_foreach (users, i, u) {
        json_t *id = json_object_get(u, "id");

        if (!json_is_integer(id)) {
            json_decref(ids);
            return bad(TGH_JPATH_IDX(at, i), "id", "expected an integer, got %s",
                       source_json_kind(id));
        }
        (void)json_array_append(ids, id);
    }
    *out = json_pack("{so}", key, ids);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
p_members(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return user_ids(v, at, "member_user_ids", out);
}

static TGH_MUSTCHECK tgh_err
p_invited(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    return user_ids(json_object_get(v, "users"), TGH_JPATH_KEY(at, "users"), "user_ids", out);
}

static TGH_MUSTCHECK tgh_err
p_left(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    json_t *id = json_object_get(v, "id");

    (void)msg;
    if (!json_is_integer(id))
        return bad(at, "id", "expected an integer, got %s", source_json_kind(id));
    *out = json_pack("{sO}", "user_id", id);
    return TGH_OK;
}

/* A service field not described further: its value as params (an object, or {"value": v}). */
static TGH_MUSTCHECK tgh_err
p_value(const json_t *msg, const json_t *v, const struct tgh_jpath *at, json_t **out)
{
    (void)msg;
    (void)at;
    if (json_is_object(v))
        *out = json_object_size(v) > 0 ? json_deep_copy(v) : NULL;
    else
        *out = json_is_true(v) ? NULL : json_pack("{sO}", "value", v);
    return TGH_OK;
}

/*
 * Service fields of a Message with the action name (and params) the TDLib
 * mapper gives the same service message. A message has one of them.
 */
static const struct service_field {
    const char *key;
    const char *action;
    params_fn params;
} service_fields[] = {
    { "boost_added", "boost_apply", p_boost },
    { "channel_chat_created", "create_channel", p_chat_title },
    { "delete_chat_photo", "delete_group_photo", p_none },
    { "forum_topic_closed", "forum_topic_is_closed_toggled", p_closed },
    { "forum_topic_created", "topic_created", p_topic_created },
    { "forum_topic_edited", "topic_edit", p_topic_edited },
    { "forum_topic_reopened", "forum_topic_is_closed_toggled", p_closed },
    { "general_forum_topic_hidden", "forum_topic_is_hidden_toggled", p_hidden },
    { "general_forum_topic_unhidden", "forum_topic_is_hidden_toggled", p_hidden },
    { "group_chat_created", "create_group", p_none },
    { "left_chat_member", "remove_members", p_left },
    { "message_auto_delete_timer_changed", "set_messages_ttl", p_ttl },
    { "migrate_from_chat_id", "migrate_from_group", p_chat_title },
    { "migrate_to_chat_id", "migrate_to_supergroup", p_none },
    { "new_chat_members", "invite_members", p_members },
    { "new_chat_photo", "edit_group_photo", p_none },
    { "new_chat_title", "edit_group_title", p_title },
    { "pinned_message", "pin_message", p_pin },
    { "supergroup_chat_created", "create_channel", p_chat_title },
    { "video_chat_ended", "group_call", p_duration },
    { "video_chat_participants_invited", "invite_to_group_call", p_invited },
    { "video_chat_scheduled", "group_call_scheduled", p_scheduled },
    { "video_chat_started", "group_call", p_none },
};

/*
 * Keys of a Message that are not its content: a message whose content is
 * none of the known kinds and that has a key outside this list is a service
 * message (or content newer than this table) named after that key. Sorted.
 */
static const char *const meta_keys[] = {
    "author_signature",
    "business_connection_id",
    "caption",
    "caption_entities",
    "chat",
    "date",
    "direct_messages_topic",
    "edit_date",
    "effect_id",
    "entities",
    "external_reply",
    "forward_date",
    "forward_from",
    "forward_from_chat",
    "forward_from_message_id",
    "forward_origin",
    "forward_sender_name",
    "forward_signature",
    "from",
    "has_media_spoiler",
    "has_protected_content",
    "is_automatic_forward",
    "is_from_offline",
    "is_paid_post",
    "is_topic_message",
    "link_preview_options",
    "media_group_id",
    "message_id",
    "message_thread_id",
    "paid_star_count",
    "quote",
    "reply_markup",
    "reply_to_checklist_task_id",
    "reply_to_message",
    "reply_to_story",
    "sender_boost_count",
    "sender_business_bot",
    "sender_chat",
    "show_caption_above_media",
    "suggested_post_info",
    "text",
    "via_bot",
};

static int
str_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static TGH_MUSTCHECK tgh_err
service_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const struct service_field *sf = NULL;
    const char *key, *first = NULL;
    json_t *v;

    for (size_t i = 0; i < TGH_NELEM(service_fields) && sf == NULL; i++)
        if (get(msg, service_fields[i].key) != NULL)
            sf = &service_fields[i];
    if (sf != NULL) {
        ev->action = sf->action;
        return sf->params(msg, get(msg, sf->key), TGH_JPATH_KEY(BOT_ROOT, sf->key),
                          &ev->action_params);
    }
    json_object_foreach ((json_t *)msg, key, v) {
        if (json_is_null(v) ||
            bsearch(key, meta_keys, TGH_NELEM(meta_keys), sizeof(*meta_keys), str_cmp) != NULL)
            continue;
        if (first == NULL || strcmp(key, first) < 0)
            first = key;
    }
    if (first == NULL)
        return TGH_OK;
    ev->action = tgh_arena_strdup(a, first);
    source_warn("unknown_content", BOT_ROOT, first,
                "not known: kept as the action %.64s, its JSON in raw", first);
    return p_value(msg, get(msg, first), TGH_JPATH_KEY(BOT_ROOT, first), &ev->action_params);
}

tgh_err
source_botapi_content_map(const json_t *msg, struct tgh_arena *a, struct msg_event *ev)
{
    const json_t *o = NULL, *arr = NULL;
    bool spoiler = false;
    tgh_err rc;

    if ((rc = text_map(msg, "text", "entities", a, ev)) != TGH_OK ||
        (ev->text == NULL &&
         (rc = text_map(msg, "caption", "caption_entities", a, ev)) != TGH_OK) ||
        (rc = opt_bool(msg, BOT_ROOT, "has_media_spoiler", &spoiler)) != TGH_OK)
        return rc;
    if ((rc = opt_arr(msg, BOT_ROOT, "photo", &arr)) != TGH_OK)
        return rc;
    if (arr != NULL) {
        struct msg_media *m = source_media_of(a, ev, "photo");

        m->has_spoiler = spoiler;
        return photo_map(arr, TGH_JPATH_KEY(BOT_ROOT, "photo"), m);
    }
    for (size_t i = 0; i < TGH_NELEM(doc_kinds); i++) {
        json_t *d = get(msg, doc_kinds[i].key);
        struct msg_media *m;

        if (d == NULL)
            continue;
        m = source_media_of(a, ev,
                            doc_kinds[i].kind != NULL ? doc_kinds[i].kind : doc_kinds[i].key);
        m->has_spoiler = spoiler;
        return doc_map(d, TGH_JPATH_KEY(BOT_ROOT, doc_kinds[i].key), &doc_kinds[i], m);
    }
    if ((rc = opt_obj(msg, BOT_ROOT, "dice", &o)) != TGH_OK)
        return rc;
    if (o != NULL)
        return opt_str(o, TGH_JPATH_KEY(BOT_ROOT, "dice"), "emoji",
                       &source_media_of(a, ev, "dice")->sticker_emoji);
    if (get(msg, "paid_media") != NULL) {
        (void)source_media_of(a, ev, "paid_media");
        return TGH_OK;
    }
    for (size_t i = 0; kind_only[i] != NULL; i++) {
        if (get(msg, kind_only[i]) != NULL) {
            (void)source_media_of(a, ev, kind_only[i]);
            return TGH_OK;
        }
    }
    /* venue before location: a venue message carries its location too */
    if ((rc = opt_obj(msg, BOT_ROOT, "venue", &o)) != TGH_OK)
        return rc;
    if (o != NULL)
        return venue_map(o, TGH_JPATH_KEY(BOT_ROOT, "venue"), a, ev);
    if ((rc = opt_obj(msg, BOT_ROOT, "location", &o)) != TGH_OK)
        return rc;
    if (o != NULL)
        return source_location_map(o, TGH_JPATH_KEY(BOT_ROOT, "location"), true, a, ev);
    if ((rc = opt_obj(msg, BOT_ROOT, "contact", &o)) != TGH_OK)
        return rc;
    if (o != NULL)
        return source_contact_map(o, TGH_JPATH_KEY(BOT_ROOT, "contact"), a, ev);
    if ((rc = opt_obj(msg, BOT_ROOT, "poll", &o)) != TGH_OK)
        return rc;
    if (o != NULL)
        return poll_map(o, TGH_JPATH_KEY(BOT_ROOT, "poll"), a, ev);
    if (ev->text != NULL)
        return TGH_OK;
    return service_map(msg, a, ev);
}
