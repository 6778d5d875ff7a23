/* SPDX-License-Identifier: MIT */
/*
 * fake_objects.c - TDLib objects other than messages, field for field as
 * td_api.tl (1.8.66) declares them and in its order: TDLib's JSON writer
 * emits every field, int64 as a string, and leaves out only object fields
 * that are null (td/generate/tl_json_converter.cpp), so these do the same.
 * Plus the small helpers every file of the fake uses.
 */
#include "fake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *
fake_xmalloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL)
        abort(); /* a test double: out of memory is fatal, as in tgh_malloc */
    return p;
}

void *
fake_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);

    if (p == NULL)
        abort();
    return p;
}

void *
fake_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n != 0 ? n : 1);

    if (q == NULL)
        abort();
    return q;
}

char *
fake_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = fake_xmalloc(n);

    memcpy(p, s, n);
    return p;
}

/* splitmix64 over three words: every generated detail is a function of (seed, chat, id). */
uint64_t
fake_hash(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a * UINT64_C(0x9E3779B97F4A7C15) ^ (b + UINT64_C(0x632BE59BD9B4E019)) ^
                 (c * UINT64_C(0xD6E8FEB86659FD93));

    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x;
}

double
fake_now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
fake_now_unix(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Values that half of every message consists of (0, "", "0", []), made once
 * and shared by reference: a 100-message page then costs a fraction of the
 * allocations. Nothing modifies an answer's values after building it, and
 * jansson's reference counts are atomic, so any thread may share them.
 */
static json_t *shared_zero, *shared_empty_string, *shared_zero_string, *shared_empty_array;

void
fake_objects_init(void)
{
    shared_zero = json_integer(0);
    shared_empty_string = json_string("");
    shared_zero_string = json_string("0");
    shared_empty_array = json_array();
}

json_t *
fake_empty(void)
{
    return json_incref(shared_empty_array);
}

json_t *
fake_obj(const char *type)
{
    json_t *o = json_object();

    json_object_set_new_nocheck(o, "@type", json_string_nocheck(type));
    return o;
}

void
fake_set_int(json_t *o, const char *key, int64_t v)
{
    if (v == 0)
        json_object_set_nocheck(o, key, shared_zero);
    else
        json_object_set_new_nocheck(o, key, json_integer((json_int_t)v));
}

void
fake_set_i64(json_t *o, const char *key, int64_t v)
{
    char buf[24];

    if (v == 0) {
        json_object_set_nocheck(o, key, shared_zero_string);
        return;
    }
    (void)snprintf(buf, sizeof(buf), "%lld", (long long)v);
    json_object_set_new_nocheck(o, key, json_string_nocheck(buf));
}

/* Every string here came out of JSON or the generator: valid UTF-8 already. */
void
fake_set_str(json_t *o, const char *key, const char *v)
{
    if (v == NULL || *v == '\0')
        json_object_set_nocheck(o, key, shared_empty_string);
    else
        json_object_set_new_nocheck(o, key, json_string_nocheck(v));
}

void
fake_set_bool(json_t *o, const char *key, bool v)
{
    json_object_set_new_nocheck(o, key, json_boolean(v));
}

void
fake_set(json_t *o, const char *key, json_t *v)
{
    if (v != NULL)
        json_object_set_new_nocheck(o, key, v);
}

json_t *
fake_error(int code, const char *message)
{
    json_t *e = fake_obj("error");

    fake_set_int(e, "code", code);
    fake_set_str(e, "message", message);
    return e;
}

json_t *
fake_formatted_text(const char *text, json_t *entities)
{
    json_t *t = fake_obj("formattedText");

    fake_set_str(t, "text", text);
    fake_set(t, "entities", entities != NULL ? entities : fake_empty());
    return t;
}

json_t *
fake_reaction_json(const char *emoji, int64_t count)
{
    json_t *mr = fake_obj("messageReaction"), *t = fake_obj("reactionTypeEmoji");

    fake_set_str(t, "emoji", emoji);
    fake_set(mr, "type", t);
    fake_set_int(mr, "total_count", count);
    fake_set_bool(mr, "is_chosen", false);
    fake_set(mr, "recent_sender_ids", fake_empty());
    return mr;
}

/* messageReactions of a list (stolen) of messageReaction. */
json_t *
fake_reactions_json(json_t *list)
{
    json_t *r = fake_obj("messageReactions");

    fake_set(r, "reactions", list);
    fake_set_bool(r, "are_tags", false);
    fake_set(r, "paid_reactors", fake_empty());
    fake_set_bool(r, "can_get_added_reactions", false);
    return r;
}

/* messageReactions of {"emoji": count, ...}. */
json_t *
fake_reactions_from_counts(const json_t *counts)
{
    json_t *list = json_array(), *v;
    const char *emoji;

    json_object_foreach ((json_t *)counts, emoji, v) {
        json_array_append_new(list, fake_reaction_json(emoji, json_integer_value(v)));
    }
    return fake_reactions_json(list);
}

bool
fake_is_member(struct fake_chat *c, struct fake_account *me)
{
    if (c->kind == FAKE_PRIVATE)
        return true;
    if (me != NULL && me->joined != NULL && me->joined[c->index])
        return true;
    return c->is_member && c->access == FAKE_ACCESS_OK;
}

/* Whether me may read the chat's messages: public and open, or joined. */
bool
fake_can_read(struct fake_chat *c, struct fake_account *me)
{
    if (c->access == FAKE_ACCESS_UNKNOWN)
        return false;
    if (c->access == FAKE_ACCESS_OK)
        return true;
    return me != NULL && me->joined != NULL && me->joined[c->index];
}

static json_t *
usernames_json(const char *username)
{
    json_t *u;

    if (username == NULL || *username == '\0')
        return NULL;
    u = fake_obj("usernames");
    fake_set(u, "active_usernames", json_pack("[s]", username));
    fake_set(u, "disabled_usernames", fake_empty());
    fake_set_str(u, "editable_username", username);
    fake_set(u, "collectible_usernames", fake_empty());
    return u;
}

static json_t *
member_status_json(struct fake_chat *c, struct fake_account *me)
{
    json_t *s;

    if (!fake_is_member(c, me))
        return fake_obj("chatMemberStatusLeft");
    s = fake_obj("chatMemberStatusMember");
    fake_set_int(s, "member_until_date", 0);
    return s;
}

static json_t *
permissions_json(bool can_send)
{
    static const char *const keys[] = {
        "can_send_basic_messages", "can_send_audios",       "can_send_documents",
        "can_send_photos",         "can_send_videos",       "can_send_video_notes",
        "can_send_voice_notes",    "can_send_polls",        "can_send_other_messages",
        "can_add_link_previews",   "can_react_to_messages", "can_edit_tag",
        "can_change_info",         "can_invite_users",      "can_pin_messages",
        "can_create_topics",
    };
    json_t *p = fake_obj("chatPermissions");

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        fake_set_bool(p, keys[i], can_send && i < 11);
    return p;
}

json_t *
fake_notification_settings_json(void)
{
    json_t *n = fake_obj("chatNotificationSettings");

    fake_set_bool(n, "use_default_mute_for", true);
    fake_set_int(n, "mute_for", 0);
    fake_set_bool(n, "use_default_sound", true);
    fake_set_i64(n, "sound_id", 0);
    fake_set_bool(n, "use_default_show_preview", true);
    fake_set_bool(n, "show_preview", false);
    fake_set_bool(n, "use_default_mute_stories", true);
    fake_set_bool(n, "mute_stories", false);
    fake_set_bool(n, "use_default_story_sound", true);
    fake_set_i64(n, "story_sound_id", 0);
    fake_set_bool(n, "use_default_show_story_poster", true);
    fake_set_bool(n, "show_story_poster", false);
    fake_set_bool(n, "use_default_disable_pinned_message_notifications", true);
    fake_set_bool(n, "disable_pinned_message_notifications", false);
    fake_set_bool(n, "use_default_disable_mention_notifications", true);
    fake_set_bool(n, "disable_mention_notifications", false);
    return n;
}

static int64_t
supergroup_id(const struct fake_chat *c)
{
    return -c->id - INT64_C(1000000000000);
}

static json_t *
chat_type_json(struct fake_chat *c)
{
    json_t *t;

    switch (c->kind) {
    case FAKE_CHANNEL:
    case FAKE_SUPERGROUP:
        t = fake_obj("chatTypeSupergroup");
        fake_set_int(t, "supergroup_id", supergroup_id(c));
        fake_set_bool(t, "is_channel", c->kind == FAKE_CHANNEL);
        return t;
    case FAKE_GROUP:
        t = fake_obj("chatTypeBasicGroup");
        fake_set_int(t, "basic_group_id", -c->id);
        return t;
    case FAKE_PRIVATE:
    default:
        t = fake_obj("chatTypePrivate");
        fake_set_int(t, "user_id", c->id);
        return t;
    }
}

/* The chat object as getChat and updateNewChat carry it; last_message (stolen) may be NULL. */
json_t *
fake_chat_json(struct fake_world *w, struct fake_chat *c, struct fake_account *me,
               json_t *last_message)
{
    json_t *o = fake_obj("chat"), *r, *v;
    bool member = fake_is_member(c, me);

    (void)w;
    fake_set_int(o, "id", c->id);
    fake_set(o, "type", chat_type_json(c));
    fake_set_str(o, "title", c->title);
    fake_set_int(o, "accent_color_id", (int64_t)(fake_hash(0, (uint64_t)c->id, 7) % 7));
    fake_set_i64(o, "background_custom_emoji_id", 0);
    fake_set_int(o, "profile_accent_color_id", -1);
    fake_set_i64(o, "profile_background_custom_emoji_id", 0);
    fake_set(o, "permissions", permissions_json(c->kind != FAKE_CHANNEL));
    fake_set(o, "last_message", last_message);
    fake_set(o, "positions", fake_empty());
    fake_set(o, "chat_lists", fake_empty());
    fake_set_bool(o, "has_protected_content", false);
    fake_set_bool(o, "is_translatable", false);
    fake_set_bool(o, "is_marked_as_unread", false);
    fake_set_bool(o, "view_as_topics", false);
    fake_set_bool(o, "has_scheduled_messages", false);
    fake_set_bool(o, "can_be_deleted_only_for_self", member && c->kind != FAKE_CHANNEL);
    fake_set_bool(o, "can_be_deleted_for_all_users", false);
    fake_set_bool(o, "can_be_reported", c->kind != FAKE_PRIVATE);
    fake_set_bool(o, "default_disable_notification", false);
    fake_set_int(o, "unread_count", 0);
    fake_set_int(o, "last_read_inbox_message_id", 0);
    fake_set_int(o, "last_read_outbox_message_id", 0);
    fake_set_int(o, "unread_mention_count", 0);
    fake_set_int(o, "unread_reaction_count", 0);
    fake_set_int(o, "unread_poll_vote_count", 0);
    fake_set(o, "notification_settings", fake_notification_settings_json());
    r = fake_obj("chatAvailableReactionsAll");
    fake_set_int(r, "max_reaction_count", 11);
    fake_set(o, "available_reactions", r);
    fake_set_int(o, "message_auto_delete_time", 0);
    v = fake_obj("videoChat");
    fake_set_int(v, "group_call_id", 0);
    fake_set_bool(v, "has_participants", false);
    fake_set(o, "video_chat", v);
    fake_set_int(o, "reply_markup_message_id", 0);
    fake_set_str(o, "client_data", "");
    return o;
}

json_t *
fake_supergroup_json(struct fake_chat *c, struct fake_account *me)
{
    json_t *o = fake_obj("supergroup");

    fake_set_int(o, "id", supergroup_id(c));
    fake_set(o, "usernames", usernames_json(c->username));
    fake_set_int(o, "date", c->date);
    fake_set(o, "status", member_status_json(c, me));
    fake_set_int(o, "member_count", c->member_count);
    fake_set_int(o, "boost_level", 0);
    fake_set_bool(o, "has_automatic_translation", false);
    fake_set_bool(o, "has_linked_chat", c->linked_chat_id != 0);
    fake_set_bool(o, "has_location", false);
    fake_set_bool(o, "sign_messages", c->sign_messages);
    fake_set_bool(o, "show_message_sender", false);
    fake_set_bool(o, "join_to_send_messages", c->kind == FAKE_SUPERGROUP && c->linked_chat_id != 0);
    fake_set_bool(o, "join_by_request", false);
    fake_set_bool(o, "is_slow_mode_enabled", false);
    fake_set_bool(o, "is_channel", c->kind == FAKE_CHANNEL);
    fake_set_bool(o, "is_broadcast_group", false);
    fake_set_bool(o, "is_forum", c->is_forum);
    fake_set_bool(o, "is_direct_messages_group", false);
    fake_set_bool(o, "is_administered_direct_messages_group", false);
    fake_set_bool(o, "has_direct_messages_group", false);
    fake_set_bool(o, "has_forum_tabs", false);
    fake_set_int(o, "paid_message_star_count", 0);
    return o;
}

json_t *
fake_supergroup_full_json(struct fake_chat *c)
{
    static const char *const falses[] = {
        "can_enable_paid_messages",
        "can_enable_paid_reaction",
        "can_get_members",
        "has_hidden_members",
        "can_hide_members",
        "can_set_sticker_set",
        "can_set_location",
        "can_get_statistics",
        "can_get_revenue_statistics",
        "can_get_star_revenue_statistics",
        "can_send_gift",
        "can_toggle_aggressive_anti_spam",
    };
    json_t *o = fake_obj("supergroupFullInfo");

    fake_set_int(o, "community_id", 0);
    fake_set_str(o, "description", c->description);
    fake_set_int(o, "member_count", c->member_count);
    fake_set_int(o, "administrator_count", 0);
    fake_set_int(o, "restricted_count", 0);
    fake_set_int(o, "banned_count", 0);
    fake_set_int(o, "linked_chat_id", c->linked_chat_id);
    fake_set_int(o, "direct_messages_chat_id", 0);
    fake_set_int(o, "slow_mode_delay", 0);
    json_object_set_new_nocheck(o, "slow_mode_delay_expires_in", json_real(0.0));
    for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
        fake_set_bool(o, falses[i], false);
    fake_set_bool(o, "is_all_history_available", c->history_hidden_before == 0);
    fake_set_bool(o, "can_have_sponsored_messages", c->kind == FAKE_CHANNEL);
    fake_set_bool(o, "has_aggressive_anti_spam_enabled", false);
    fake_set_bool(o, "has_paid_media_allowed", false);
    fake_set_bool(o, "has_pinned_stories", false);
    fake_set_int(o, "gift_count", 0);
    fake_set_int(o, "my_boost_count", 0);
    fake_set_int(o, "unrestrict_boost_count", 0);
    fake_set_int(o, "outgoing_paid_message_star_count", 0);
    fake_set_i64(o, "sticker_set_id", 0);
    fake_set_i64(o, "custom_emoji_sticker_set_id", 0);
    fake_set_int(o, "guard_bot_user_id", 0);
    fake_set(o, "bot_commands", fake_empty());
    fake_set_int(o, "upgraded_from_basic_group_id", c->upgraded_from_basic_group_id);
    fake_set_int(o, "upgraded_from_max_message_id",
                 c->upgraded_from_max_message_id * (INT64_C(1) << FAKE_MSG_SHIFT));
    return o;
}

json_t *
fake_basic_group_json(struct fake_chat *c, struct fake_account *me)
{
    json_t *o = fake_obj("basicGroup");

    fake_set_int(o, "id", -c->id);
    fake_set_int(o, "member_count", c->member_count);
    fake_set(o, "status", member_status_json(c, me));
    fake_set_bool(o, "is_active", true);
    fake_set_int(o, "upgraded_to_supergroup_id", 0);
    return o;
}

json_t *
fake_basic_group_full_json(struct fake_chat *c)
{
    json_t *o = fake_obj("basicGroupFullInfo");

    fake_set_str(o, "description", c->description);
    fake_set_int(o, "creator_user_id", 0);
    fake_set(o, "members", fake_empty());
    fake_set_bool(o, "can_hide_members", false);
    fake_set_bool(o, "can_toggle_aggressive_anti_spam", false);
    fake_set(o, "bot_commands", fake_empty());
    return o;
}

static json_t *
bot_type_json(void)
{
    static const char *const falses[] = {
        "can_be_edited",    "can_join_groups", "can_read_all_group_messages",
        "has_main_web_app", "has_topics",      "allows_users_to_create_topics",
        "can_manage_bots",  "is_inline",
    };
    json_t *t = fake_obj("userTypeBot");

    for (size_t i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
        fake_set_bool(t, falses[i], false);
    fake_set_str(t, "inline_query_placeholder", "");
    fake_set_bool(t, "supports_guest_queries", false);
    fake_set_bool(t, "is_guard", false);
    fake_set_bool(t, "need_location", false);
    fake_set_bool(t, "can_connect_to_business", false);
    fake_set_bool(t, "can_be_added_to_attachment_menu", false);
    fake_set_int(t, "active_user_count", 0);
    return t;
}

json_t *
fake_user_json(const struct fake_user *u, bool is_bot)
{
    json_t *o = fake_obj("user");

    fake_set_int(o, "id", u->id);
    fake_set_str(o, "first_name", u->first_name);
    fake_set_str(o, "last_name", u->last_name);
    fake_set(o, "usernames", usernames_json(u->username));
    fake_set_str(o, "phone_number", "");
    fake_set(o, "status", fake_obj(is_bot ? "userStatusEmpty" : "userStatusRecently"));
    if (!is_bot) {
        json_t *s = json_object_get(o, "status");

        fake_set_bool(s, "by_my_privacy_settings", false);
    }
    fake_set_int(o, "accent_color_id", (int64_t)(fake_hash(0, (uint64_t)u->id, 7) % 7));
    fake_set_i64(o, "background_custom_emoji_id", 0);
    fake_set_int(o, "profile_accent_color_id", -1);
    fake_set_i64(o, "profile_background_custom_emoji_id", 0);
    fake_set_bool(o, "is_contact", false);
    fake_set_bool(o, "is_mutual_contact", false);
    fake_set_bool(o, "is_close_friend", false);
    fake_set_bool(o, "is_premium", false);
    fake_set_bool(o, "is_support", false);
    fake_set_bool(o, "restricts_new_chats", false);
    fake_set_int(o, "paid_message_star_count", 0);
    fake_set_bool(o, "have_access", true);
    fake_set(o, "type", is_bot ? bot_type_json() : fake_obj("userTypeRegular"));
    fake_set_str(o, "language_code", "");
    fake_set_bool(o, "added_to_attachment_menu", false);
    return o;
}

json_t *
fake_account_user_json(const struct fake_account *a)
{
    struct fake_user u = {
        .id = a->user_id,
        .first_name = a->first_name,
        .last_name = a->last_name,
        .username = a->username,
    };
    json_t *o = fake_user_json(&u, a->bot_token != NULL);

    if (a->phone != NULL) {
        const char *p = a->phone[0] == '+' ? a->phone + 1 : a->phone;

        fake_set_str(o, "phone_number", p); /* TDLib gives it without the plus */
    }
    return o;
}

json_t *
fake_forum_topic_info_json(struct fake_chat *c, const struct fake_topic *t)
{
    json_t *o = fake_obj("forumTopicInfo"), *icon = fake_obj("forumTopicIcon");
    json_t *creator = fake_obj("messageSenderUser");

    fake_set_int(o, "chat_id", c->id);
    fake_set_int(o, "forum_topic_id", t->id);
    fake_set_str(o, "name", t->name);
    fake_set_int(icon, "color", t->color);
    fake_set_i64(icon, "custom_emoji_id", 0);
    fake_set(o, "icon", icon);
    fake_set_int(o, "creation_date", t->creation_date);
    fake_set_int(creator, "user_id", 1000000);
    fake_set(o, "creator_id", creator);
    fake_set_bool(o, "is_general", t->id == 1);
    fake_set_bool(o, "is_outgoing", false);
    fake_set_bool(o, "is_closed", t->is_closed);
    fake_set_bool(o, "is_hidden", false);
    fake_set_bool(o, "is_name_implicit", false);
    return o;
}

/* The update TDLib sends about a chat's type object before the chat itself. */
json_t *
fake_chat_type_update(struct fake_world *w, struct fake_chat *c, struct fake_account *me)
{
    json_t *u;

    switch (c->kind) {
    case FAKE_CHANNEL:
    case FAKE_SUPERGROUP:
        u = fake_obj("updateSupergroup");
        fake_set(u, "supergroup", fake_supergroup_json(c, me));
        return u;
    case FAKE_GROUP:
        u = fake_obj("updateBasicGroup");
        fake_set(u, "basic_group", fake_basic_group_json(c, me));
        return u;
    case FAKE_PRIVATE:
    default: {
        struct fake_user usr;

        if (!fake_world_user(w, c->id, &usr))
            return NULL;
        u = fake_obj("updateUser");
        fake_set(u, "user", fake_user_json(&usr, false));
        return u;
    }
    }
}
