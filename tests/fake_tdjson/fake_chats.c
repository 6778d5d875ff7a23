/* SPDX-License-Identifier: MIT */
/*
 * fake_chats.c - requests about chats: finding them (searchPublicChat,
 * invite links, the chat list), their type objects, opening and closing,
 * and forum topics. A client knows only the chats it was shown: TDLib
 * answers "Chat not found" for any other chat_id, and so does the fake.
 * Before a chat id first reaches the client, updateSupergroup (or
 * updateBasicGroup, updateUser) and updateNewChat come, as in TDLib.
 */
#include "fake_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void
fake_chat_announce(struct fake_client *cl, struct fake_req *r, struct fake_chat *c)
{
    bool is_new = !cl->known[c->index];
    json_t *u;

    cl->known[c->index] = 1;
    if (!cl->announced[c->index]) {
        cl->announced[c->index] = 1;
        fake_update(cl, r, fake_chat_type_update(fake_g.w, c, cl->acct));
        u = fake_obj("updateNewChat");
        fake_set(u, "chat", fake_chat_json(fake_g.w, c, cl->acct, NULL));
        fake_update(cl, r, u);
    }
    if (is_new && cl->use_chat_info_db)
        fake_session_save(cl);
}

struct fake_chat *
fake_known_chat(struct fake_req *r, int64_t chat_id)
{
    struct fake_chat *c = fake_world_chat(fake_g.w, chat_id);

    if (c == NULL || !r->cl->known[c->index] || c->access == FAKE_ACCESS_UNKNOWN) {
        fake_answer_error(r, 400, "Chat not found");
        return NULL;
    }
    fake_chat_announce(r->cl, r, c); /* a chat restored from the session is loaded now */
    return c;
}

struct fake_chat *
fake_req_chat(struct fake_req *r, const char *field)
{
    int64_t id;

    if (!fake_arg_i64(r, field, &id))
        return NULL;
    return fake_known_chat(r, id);
}

static void
h_search_public_chat(struct fake_req *r)
{
    const char *name;
    struct fake_chat *c;

    if (!fake_arg_str(r, "username", &name))
        return;
    if (*name == '@')
        name++;
    if (*name == '\0') {
        fake_answer_error(r, 200, "Username is invalid"); /* sic: DialogManager.cpp */
        return;
    }
    c = fake_world_chat_by_username(fake_g.w, name);
    if (c == NULL || c->access == FAKE_ACCESS_UNKNOWN) {
        fake_answer_error(r, 400, "USERNAME_NOT_OCCUPIED");
        return;
    }
    fake_chat_announce(r->cl, r, c);
    fake_answer(r, fake_chat_json(fake_g.w, c, r->cl->acct, NULL));
}

static void
h_get_chat(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");
    json_t *chat, *last_message = NULL;

    if (c == NULL)
        return;
    if (fake_can_read(c, r->cl->acct)) {
        int64_t last = fake_chat_last_id(fake_g.w, c);

        if (last != 0)
            last_message = fake_chat_message_json(fake_g.w, c, last);
    }
    chat = fake_chat_json(fake_g.w, c, r->cl->acct, last_message);
    fake_answer(r, chat);
}

/*
 * createPrivateChat: the chat with a user the world has a private chat
 * with (td_api.tl: "Returns an existing chat corresponding to a given
 * user"); any other user is unknown to this client: 400 "User not found".
 */
static void
h_create_private_chat(struct fake_req *r)
{
    struct fake_chat *c;
    int64_t user_id;

    if (!fake_arg_i64(r, "user_id", &user_id))
        return;
    c = fake_world_chat(fake_g.w, user_id);
    if (c == NULL || c->kind != FAKE_PRIVATE) {
        fake_answer_error(r, 400, "User not found");
        return;
    }
    fake_chat_announce(r->cl, r, c);
    fake_answer(r, fake_chat_json(fake_g.w, c, r->cl->acct, NULL));
}

static bool
in_chat_list(struct fake_chat *c, struct fake_account *a)
{
    return c->access != FAKE_ACCESS_UNKNOWN && fake_is_member(c, a);
}

static void
h_get_chats(struct fake_req *r)
{
    json_t *ids = json_array(), *o;
    int32_t limit;
    int n = 0;

    if (!fake_arg_i32(r, "limit", &limit))
        return;
    for (size_t i = 0; i < fake_g.w->nchats && n < limit; i++) {
        struct fake_chat *c = &fake_g.w->chats[i];

        if (!in_chat_list(c, r->cl->acct))
            continue;
        fake_chat_announce(r->cl, r, c);
        json_array_append_new(ids, json_integer(c->id));
        n++;
    }
    o = fake_obj("chats");
    fake_set_int(o, "total_count", n);
    fake_set(o, "chat_ids", ids);
    fake_answer(r, o);
}

static void
h_load_chats(struct fake_req *r)
{
    int32_t limit;
    int n = 0;

    if (!fake_arg_i32(r, "limit", &limit))
        return;
    if (limit <= 0) {
        fake_answer_error(r, 400, "Parameter limit must be positive");
        return;
    }
    for (size_t i = 0; i < fake_g.w->nchats && n < limit; i++) {
        struct fake_chat *c = &fake_g.w->chats[i];

        if (!in_chat_list(c, r->cl->acct) || r->cl->announced[i])
            continue;
        fake_chat_announce(r->cl, r, c);
        n++;
    }
    if (n == 0) {
        fake_answer_error(r, 404, "Not Found"); /* "all chats have been loaded" */
        return;
    }
    fake_answer(r, fake_obj("ok"));
}

static void
h_open_chat(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");

    if (c == NULL)
        return;
    r->cl->opened[c->index] = 1;
    fake_answer(r, fake_obj("ok"));
}

static void
h_close_chat(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");

    if (c == NULL)
        return;
    r->cl->opened[c->index] = 0;
    fake_answer(r, fake_obj("ok"));
}

/* The hash of an invite link in the forms LinkManager accepts, or NULL. */
static const char *
invite_hash(const char *link)
{
    static const char *const prefixes[] = {
        "https://t.me/+",
        "http://t.me/+",
        "t.me/+",
        "https://t.me/joinchat/",
        "http://t.me/joinchat/",
        "t.me/joinchat/",
        "https://telegram.me/+",
        "https://telegram.me/joinchat/",
        "tg://join?invite=",
    };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);

        if (strncasecmp(link, prefixes[i], n) == 0 && link[n] != '\0')
            return link + n;
    }
    return NULL;
}

/* The chat of a request's invite_link, or NULL after answering TDLib's error. */
static struct fake_chat *
link_chat(struct fake_req *r)
{
    const char *link, *hash;

    if (!fake_arg_str(r, "invite_link", &link))
        return NULL;
    hash = invite_hash(link);
    if (hash == NULL) {
        fake_answer_error(r, 400, "Wrong invite link");
        return NULL;
    }
    for (size_t i = 0; i < fake_g.w->nchats; i++) {
        struct fake_chat *c = &fake_g.w->chats[i];
        const char *h = c->invite_link != NULL ? invite_hash(c->invite_link) : NULL;

        if (h != NULL && strcmp(h, hash) == 0 && c->access != FAKE_ACCESS_UNKNOWN)
            return c;
    }
    fake_answer_error(r, 400, "INVITE_HASH_EXPIRED");
    return NULL;
}

static void
h_check_chat_invite_link(struct fake_req *r)
{
    struct fake_chat *c = link_chat(r);
    json_t *o;
    const char *type;

    if (c == NULL)
        return;
    type = c->kind == FAKE_CHANNEL      ? "inviteLinkChatTypeChannel"
           : c->kind == FAKE_SUPERGROUP ? "inviteLinkChatTypeSupergroup"
                                        : "inviteLinkChatTypeBasicGroup";
    o = fake_obj("chatInviteLinkInfo");
    if (fake_can_read(c, r->cl->acct)) {
        fake_chat_announce(r->cl, r, c);
        fake_set_int(o, "chat_id", c->id);
    } else {
        fake_set_int(o, "chat_id", 0);
    }
    fake_set_int(o, "accessible_for", 0);
    fake_set(o, "type", fake_obj(type));
    fake_set_str(o, "title", c->title);
    fake_set_int(o, "accent_color_id", (int64_t)(fake_hash(0, (uint64_t)c->id, 7) % 7));
    fake_set_str(o, "description", c->description);
    fake_set_int(o, "member_count", c->member_count);
    fake_set(o, "member_user_ids", fake_empty());
    fake_set_bool(o, "creates_join_request", false);
    fake_set_bool(o, "is_public", c->username != NULL);
    fake_answer(r, o);
}

static void
join(struct fake_req *r, struct fake_chat *c)
{
    struct fake_client *cl = r->cl;
    json_t *o;

    if (fake_is_member(c, cl->acct)) {
        fake_answer_error(r, 400, "USER_ALREADY_PARTICIPANT");
        return;
    }
    cl->acct->joined[c->index] = true;
    cl->acct->kicked[c->index] = false;
    if (cl->announced[c->index]) /* the new status */
        fake_update(cl, r, fake_chat_type_update(fake_g.w, c, cl->acct));
    fake_chat_announce(cl, r, c);
    fake_session_save(cl);
    o = fake_obj("chatJoinResultSuccess");
    fake_set_int(o, "chat_id", c->id);
    fake_answer(r, o);
}

static void
h_join_chat_by_invite_link(struct fake_req *r)
{
    struct fake_chat *c = link_chat(r);

    if (c != NULL)
        join(r, c);
}

static void
h_join_chat(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");

    if (c == NULL)
        return;
    if (!fake_can_read(c, r->cl->acct)) {
        fake_answer_error(r, 400, "CHANNEL_PRIVATE");
        return;
    }
    join(r, c);
}

/* The known chat of a supergroup or basic group id, or NULL after answering not found. */
static struct fake_chat *
type_chat(struct fake_req *r, const char *field, bool supergroup)
{
    struct fake_chat *c;
    int64_t id;

    if (!fake_arg_i64(r, field, &id))
        return NULL;
    c = fake_world_chat(fake_g.w, supergroup ? -INT64_C(1000000000000) - id : -id);
    if (id <= 0 || c == NULL || !r->cl->known[c->index] || c->access == FAKE_ACCESS_UNKNOWN ||
        (supergroup != (c->kind == FAKE_CHANNEL || c->kind == FAKE_SUPERGROUP)) ||
        (!supergroup && c->kind != FAKE_GROUP)) {
        fake_answer_error(r, 400, supergroup ? "Supergroup not found" : "Basic group not found");
        return NULL;
    }
    return c;
}

static void
h_get_supergroup(struct fake_req *r)
{
    struct fake_chat *c = type_chat(r, "supergroup_id", true);

    if (c != NULL)
        fake_answer(r, fake_supergroup_json(c, r->cl->acct));
}

static void
h_get_supergroup_full_info(struct fake_req *r)
{
    struct fake_chat *c = type_chat(r, "supergroup_id", true), *linked;

    if (c == NULL)
        return;
    if (!fake_can_read(c, r->cl->acct)) {
        fake_answer_error(r, 400, "CHANNEL_PRIVATE");
        return;
    }
    linked = c->linked_chat_id != 0 ? fake_world_chat(fake_g.w, c->linked_chat_id) : NULL;
    if (linked != NULL && linked->access != FAKE_ACCESS_UNKNOWN && !r->cl->known[linked->index]) {
        /* the answer carries the linked chat: TDLib learns it (updateNewChat comes on first use) */
        fake_update(r->cl, r, fake_chat_type_update(fake_g.w, linked, r->cl->acct));
        r->cl->known[linked->index] = 1;
        if (r->cl->use_chat_info_db)
            fake_session_save(r->cl);
    }
    fake_answer(r, fake_supergroup_full_json(c));
}

static void
h_get_basic_group(struct fake_req *r)
{
    struct fake_chat *c = type_chat(r, "basic_group_id", false);

    if (c != NULL)
        fake_answer(r, fake_basic_group_json(c, r->cl->acct));
}

static void
h_get_basic_group_full_info(struct fake_req *r)
{
    struct fake_chat *c = type_chat(r, "basic_group_id", false);

    if (c != NULL)
        fake_answer(r, fake_basic_group_full_json(c));
}

/* ---- forum topics ---- */

static struct fake_chat *
forum_chat(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");

    if (c == NULL)
        return NULL;
    if (!c->is_forum) {
        fake_answer_error(r, 400, "The chat is not a forum");
        return NULL;
    }
    if (!fake_can_read(c, r->cl->acct)) {
        fake_answer_error(r, 400, "CHANNEL_PRIVATE");
        return NULL;
    }
    return c;
}

/* The newest message of topic t (0: none). */
static int64_t
topic_last(struct fake_chat *c, const struct fake_topic *t)
{
    for (int64_t id = fake_chat_last_id(fake_g.w, c); id != 0 && id >= t->id;
         id = fake_chat_prev(fake_g.w, c, id)) {
        struct fake_spec s;
        const struct fake_ovl *mods;

        if (fake_chat_message(fake_g.w, c, id, &s, &mods) && s.topic == t->id)
            return id;
    }
    return 0;
}

static json_t *
forum_topic_json(struct fake_chat *c, const struct fake_topic *t, int64_t last)
{
    json_t *o = fake_obj("forumTopic");

    fake_set(o, "info", fake_forum_topic_info_json(c, t));
    if (last != 0)
        fake_set(o, "last_message", fake_chat_message_json(fake_g.w, c, last));
    fake_set_i64(o, "order", last * (INT64_C(1) << 20) + t->id);
    fake_set_bool(o, "is_pinned", false);
    fake_set_int(o, "unread_count", 0);
    fake_set_int(o, "last_read_inbox_message_id", 0);
    fake_set_int(o, "last_read_outbox_message_id", 0);
    fake_set_int(o, "unread_mention_count", 0);
    fake_set_int(o, "unread_reaction_count", 0);
    fake_set_int(o, "unread_poll_vote_count", 0);
    fake_set(o, "notification_settings", fake_notification_settings_json());
    return o;
}

struct topic_pos {
    const struct fake_topic *t;
    int64_t last;
};

static void
h_get_forum_topics(struct fake_req *r)
{
    struct fake_chat *c = forum_chat(r);
    int64_t off_msg;
    int32_t off_date, off_topic, limit;
    const char *query;
    struct topic_pos pos[256];
    size_t n = 0, shown = 0;
    int64_t next_date = 0, next_msg = 0, next_topic = 0;
    json_t *o, *list;

    if (c == NULL || !fake_arg_str(r, "query", &query) ||
        !fake_arg_i32(r, "offset_date", &off_date) ||
        !fake_arg_i64(r, "offset_message_id", &off_msg) ||
        !fake_arg_i32(r, "offset_forum_topic_id", &off_topic) || !fake_arg_i32(r, "limit", &limit))
        return;
    if (off_date < 0 || off_msg % (INT64_C(1) << FAKE_MSG_SHIFT) != 0) {
        fake_answer_error(r, 400,
                          off_date < 0 ? "Invalid offset date specified"
                                       : "Invalid offset message identifier specified");
        return;
    }
    if (limit <= 0) {
        fake_answer_error(r, 400, "Invalid limit specified");
        return;
    }
    /* newest activity first; the offset is the (message, topic) pair of the last one shown */
    for (size_t i = 0; i < c->ntopics && n < sizeof(pos) / sizeof(pos[0]); i++) {
        const struct fake_topic *t = &c->topics[i];
        size_t at;

        if (*query != '\0' && strcasestr(t->name, query) == NULL)
            continue;
        pos[n].t = t;
        pos[n].last = topic_last(c, t);
        for (at = n; at > 0 && (pos[at - 1].last < pos[at].last ||
                                (pos[at - 1].last == pos[at].last && pos[at - 1].t->id < t->id));
             at--) {
            struct topic_pos tmp = pos[at];

            pos[at] = pos[at - 1];
            pos[at - 1] = tmp;
        }
        n++;
    }
    list = json_array();
    for (size_t i = 0; i < n && shown < (size_t)limit; i++) {
        int64_t last_tdlib = pos[i].last * (INT64_C(1) << FAKE_MSG_SHIFT);

        if (off_msg != 0 &&
            (last_tdlib > off_msg || (last_tdlib == off_msg && pos[i].t->id >= off_topic)))
            continue;
        json_array_append_new(list, forum_topic_json(c, pos[i].t, pos[i].last));
        shown++;
        if (shown == (size_t)limit && i + 1 < n) {
            struct fake_spec s;
            const struct fake_ovl *mods;

            next_date = fake_chat_message(fake_g.w, c, pos[i].last, &s, &mods) ? s.date : 0;
            next_msg = last_tdlib;
            next_topic = pos[i].t->id;
        }
    }
    o = fake_obj("forumTopics");
    fake_set_int(o, "total_count", (int64_t)n);
    fake_set(o, "topics", list);
    fake_set_int(o, "next_offset_date", next_date);
    fake_set_int(o, "next_offset_message_id", next_msg);
    fake_set_int(o, "next_offset_forum_topic_id", next_topic);
    fake_answer(r, o);
}

static void
h_get_forum_topic(struct fake_req *r)
{
    struct fake_chat *c = forum_chat(r);
    int32_t id;

    if (c == NULL || !fake_arg_i32(r, "forum_topic_id", &id))
        return;
    for (size_t i = 0; i < c->ntopics; i++) {
        if (c->topics[i].id == id) {
            fake_answer(r, forum_topic_json(c, &c->topics[i], topic_last(c, &c->topics[i])));
            return;
        }
    }
    fake_answer_error(r, 400, "Topic not found");
}

#define USER FAKE_F_USER_ONLY
#define NET  FAKE_F_NETWORK

const struct fake_method fake_chat_methods[] = {
    { "checkChatInviteLink", h_check_chat_invite_link, USER | NET },
    { "closeChat", h_close_chat, USER },
    { "createPrivateChat", h_create_private_chat, USER },
    { "getBasicGroup", h_get_basic_group, 0 },
    { "getBasicGroupFullInfo", h_get_basic_group_full_info, NET },
    { "getChat", h_get_chat, 0 },
    { "getChats", h_get_chats, USER },
    { "getForumTopic", h_get_forum_topic, NET },
    { "getForumTopics", h_get_forum_topics, USER | NET },
    { "getSupergroup", h_get_supergroup, 0 },
    { "getSupergroupFullInfo", h_get_supergroup_full_info, NET },
    { "joinChat", h_join_chat, USER | NET },
    { "joinChatByInviteLink", h_join_chat_by_invite_link, USER | NET },
    { "loadChats", h_load_chats, USER | NET },
    { "openChat", h_open_chat, USER },
    { "searchPublicChat", h_search_public_chat, NET },
    { NULL, NULL, 0 },
};
