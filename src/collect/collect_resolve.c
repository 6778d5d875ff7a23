/* SPDX-License-Identifier: MIT */
/*
 * collect_resolve.c - from what a user typed to a chat TDLib can read:
 * searchPublicChat, getChat, invite links, then the supergroup's details
 * (forum flag, username, linked discussion group).
 */
#include "collect/collect_resolve.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

#define TGH_LOG_SUB "collect"

static bool
parse_int(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (*s == '\0')
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Strip "https://", "http://", "www." and "t.me/" or "telegram.me/"; NULL when not a t.me link. */
static const char *
tme_path(const char *s)
{
    static const char *const schemes[] = { "https://", "http://" };
    static const char *const hosts[] = { "t.me/", "telegram.me/", "telegram.dog/" };

    for (size_t i = 0; i < 2; i++)
        if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0)
            s += strlen(schemes[i]);
    if (strncasecmp(s, "www.", 4) == 0)
        s += 4;
    for (size_t i = 0; i < 3; i++)
        if (strncasecmp(s, hosts[i], strlen(hosts[i])) == 0)
            return s + strlen(hosts[i]);
    return NULL;
}

static bool
username_valid(const char *u, size_t n)
{
    if (n < 4 || n > 32 || !isalpha((unsigned char)u[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)u[i]) && u[i] != '_')
            return false;
    return true;
}

tgh_err
resolve_parse(const char *spec, struct resolve_spec *out)
{
    const char *p;
    int64_t id;

    memset(out, 0, sizeof(*out));
    if (strlen(spec) >= sizeof(out->text))
        return tgh_errf(TGH_EINVAL, "chat '%.40s...' is too long", spec);
    (void)snprintf(out->text, sizeof(out->text), "%s", spec);
    if (parse_int(spec, &id)) {
        if (id > 0)
            id = msg_chat_id_from_bare(MSG_CHAT_CHANNEL, id);
        if (id == 0)
            return tgh_errf(TGH_EINVAL, "chat id '%s' is out of range", spec);
        out->kind = RESOLVE_ID;
        out->chat_id = id;
        return TGH_OK;
    }
    if (spec[0] == '@') {
        p = spec + 1;
    } else if ((p = tme_path(spec)) != NULL) {
        if (p[0] == '+' || strncasecmp(p, "joinchat/", 9) == 0) {
            out->kind = RESOLVE_INVITE;
            return TGH_OK;
        }
        if (strncasecmp(p, "c/", 2) == 0) {
            char digits[32];
            size_t n = strspn(p + 2, "0123456789");

            if (n == 0 || n >= sizeof(digits) || (p[2 + n] != '\0' && p[2 + n] != '/'))
                return tgh_errf(TGH_EINVAL, "'%s' is not a t.me/c/ID link", spec);
            memcpy(digits, p + 2, n);
            digits[n] = '\0';
            if (!parse_int(digits, &id) || (id = msg_chat_id_from_bare(MSG_CHAT_CHANNEL, id)) == 0)
                return tgh_errf(TGH_EINVAL, "'%s': channel id out of range", spec);
            out->kind = RESOLVE_ID;
            out->chat_id = id;
            return TGH_OK;
        }
        if (strncasecmp(p, "s/", 2) == 0)
            p += 2; /* t.me/s/name: the web preview */
    } else {
        p = spec;
    }
    {
        size_t n = strcspn(p, "/?#");

        if (!username_valid(p, n))
            return tgh_errf(TGH_EINVAL,
                            "'%s' is not a chat: expected @username, https://t.me/username, "
                            "t.me/c/ID, -100ID or an invite link",
                            spec);
        memcpy(out->username, p, n);
        out->username[n] = '\0';
    }
    out->kind = RESOLVE_USERNAME;
    return TGH_OK;
}

/* The request sequence. Each answer moves the resolver one step on. */

static void resolve_step(struct resolve *r);

static void resolve_fail(struct resolve *r, int code, const char *fmt, ...) TGH_PRINTF(3, 4);

static void
resolve_fail(struct resolve *r, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    r->error_code = code;
    r->state = RESOLVE_S_DONE;
    r->done(r->arg, r);
}

/* An error answer: fail with its text; true when it was one. */
static bool
failed(struct resolve *r, json_t *ans, const char *what)
{
    int code;
    const char *msg;

    if (!td_is_error(ans, &code, &msg))
        return false;
    resolve_fail(r, code, "%s: %s", what, msg);
    return true;
}

static void
take_chat(struct resolve *r, const json_t *chat)
{
    const json_t *type = json_object_get(chat, "type");
    const char *t = td_type(type);
    const char *title = td_str(chat, "title");

    (void)td_int(chat, "id", &r->chat_id);
    if (title != NULL)
        (void)snprintf(r->title, sizeof(r->title), "%s", title);
    r->supergroup_id = 0;
    if (strcmp(t, "chatTypeSupergroup") == 0) {
        (void)td_int(type, "supergroup_id", &r->supergroup_id);
        r->type = json_is_true(json_object_get(type, "is_channel")) ? MSG_CHAT_CHANNEL
                                                                    : MSG_CHAT_SUPERGROUP;
    } else if (strcmp(t, "chatTypeBasicGroup") == 0) {
        r->type = MSG_CHAT_GROUP;
    } else if (strcmp(t, "chatTypePrivate") == 0 || strcmp(t, "chatTypeSecret") == 0) {
        r->type = MSG_CHAT_PRIVATE;
    } else {
        r->type = MSG_CHAT_UNKNOWN;
    }
}

static void
on_linked_chat(void *ctx, struct td_acct *a, json_t *ans)
{
    struct resolve *r = ctx;

    (void)a;
    /* The discussion group is optional: a failure leaves comments off. */
    if (td_is_error(ans, NULL, NULL)) {
        log_warn("chat %" PRId64 ": its discussion group %" PRId64 " cannot be read", r->chat_id,
                 r->linked_chat_id);
        r->linked_chat_id = 0;
    } else {
        const char *title = td_str(ans, "title");

        if (title != NULL)
            (void)snprintf(r->linked_title, sizeof(r->linked_title), "%s", title);
    }
    r->state = RESOLVE_S_DONE;
    r->done(r->arg, r);
}

static void
on_full_info(void *ctx, struct td_acct *a, json_t *ans)
{
    struct resolve *r = ctx;

    (void)a;
    if (!td_is_error(ans, NULL, NULL)) {
        (void)td_int(ans, "linked_chat_id", &r->linked_chat_id);
        r->history_hidden = json_is_false(json_object_get(ans, "is_all_history_available"));
    }
    if (r->linked_chat_id != 0 && r->want_linked) {
        r->state = RESOLVE_S_LINKED;
        resolve_step(r);
        return;
    }
    r->state = RESOLVE_S_DONE;
    r->done(r->arg, r);
}

static void
on_supergroup(void *ctx, struct td_acct *a, json_t *ans)
{
    struct resolve *r = ctx;
    const json_t *active;

    (void)a;
    if (failed(r, ans, "getSupergroup"))
        return;
    r->is_forum = json_is_true(json_object_get(ans, "is_forum"));
    active = json_object_get(json_object_get(ans, "usernames"), "active_usernames");
    if (json_is_string(json_array_get(active, 0)))
        (void)snprintf(r->username, sizeof(r->username), "%s",
                       json_string_value(json_array_get(active, 0)));
    r->state = RESOLVE_S_FULL;
    resolve_step(r);
}

static void
on_chat(void *ctx, struct td_acct *a, json_t *ans)
{
    struct resolve *r = ctx;
    int code;
    const char *msg;

    (void)a;
    if (td_is_error(ans, &code, &msg)) {
        /* A chat TDLib forgot (a new session) is found again by its username. */
        if (r->state == RESOLVE_S_GETCHAT && r->spec.username[0] != '\0' && !r->searched) {
            r->state = RESOLVE_S_SEARCH;
            resolve_step(r);
            return;
        }
        if (r->state == RESOLVE_S_GETCHAT && strcmp(msg, "Chat not found") == 0) {
            resolve_fail(r, code,
                         "getChat: Chat not found (TDLib knows a chat by id only once this "
                         "account has seen it: add it once by @username or invite link)");
            return;
        }
        resolve_fail(r, code, "%s: %s",
                     r->state == RESOLVE_S_SEARCH ? "searchPublicChat" : "getChat", msg);
        return;
    }
    take_chat(r, ans);
    if (r->type == MSG_CHAT_UNKNOWN) {
        resolve_fail(r, 400, "chat %" PRId64 " is of a type that cannot be collected (%s)",
                     r->chat_id, td_type(json_object_get(ans, "type")));
        return;
    }
    if (r->supergroup_id != 0) {
        r->state = RESOLVE_S_SUPERGROUP;
        resolve_step(r);
        return;
    }
    r->state = RESOLVE_S_DONE;
    r->done(r->arg, r);
}

static void
on_join(void *ctx, struct td_acct *a, json_t *ans)
{
    struct resolve *r = ctx;
    const char *t = td_type(ans);

    (void)a;
    if (failed(r, ans, "joinChatByInviteLink"))
        return;
    if (strcmp(t, "chat") == 0) {
        on_chat(ctx, a, ans);
        return;
    }
    if (strcmp(t, "chatJoinResultSuccess") != 0 || !td_int(ans, "chat_id", &r->chat_id)) {
        resolve_fail(r, 400, "joinChatByInviteLink: not joined (%s)", t);
        return;
    }
    r->state = RESOLVE_S_GETCHAT;
    resolve_step(r);
}

static void
on_invite(void *ctx, struct td_acct *a, json_t *ans)
{
    struct resolve *r = ctx;
    int64_t id = 0;

    (void)a;
    if (failed(r, ans, "checkChatInviteLink"))
        return;
    (void)td_int(ans, "chat_id", &id);
    if (id != 0) {
        /* Already a member (or the chat is public): no join needed. */
        r->spec.chat_id = id;
        r->state = RESOLVE_S_GETCHAT;
        resolve_step(r);
        return;
    }
    if (!r->join) {
        const char *title = td_str(ans, "title");

        resolve_fail(r, 400,
                     "invite link of '%s': this account is not a member; pass --join to join",
                     title ? title : "a chat");
        return;
    }
    r->state = RESOLVE_S_JOIN;
    resolve_step(r);
}

static void
resolve_step(struct resolve *r)
{
    struct td_acct *a = r->acct;

    switch (r->state) {
    case RESOLVE_S_START:
        switch (r->spec.kind) {
        case RESOLVE_ID:
            r->state = RESOLVE_S_GETCHAT;
            break;
        case RESOLVE_USERNAME:
            r->state = r->spec.chat_id != 0 ? RESOLVE_S_GETCHAT : RESOLVE_S_SEARCH;
            break;
        case RESOLVE_INVITE:
            r->state = r->spec.chat_id != 0 ? RESOLVE_S_GETCHAT : RESOLVE_S_INVITE;
            break;
        }
        resolve_step(r);
        return;
    case RESOLVE_S_GETCHAT:
        td_call(a,
                json_pack("{s:s, s:I}", "@type", "getChat", "chat_id",
                          (json_int_t)(r->chat_id ? r->chat_id : r->spec.chat_id)),
                on_chat, r, r->counts);
        return;
    case RESOLVE_S_SEARCH:
        r->searched = true;
        td_call(a,
                json_pack("{s:s, s:s}", "@type", "searchPublicChat", "username", r->spec.username),
                on_chat, r, r->counts);
        return;
    case RESOLVE_S_INVITE:
        td_call(
            a, json_pack("{s:s, s:s}", "@type", "checkChatInviteLink", "invite_link", r->spec.text),
            on_invite, r, r->counts);
        return;
    case RESOLVE_S_JOIN:
        td_call(
            a,
            json_pack("{s:s, s:s}", "@type", "joinChatByInviteLink", "invite_link", r->spec.text),
            on_join, r, r->counts);
        return;
    case RESOLVE_S_SUPERGROUP:
        td_call(a,
                json_pack("{s:s, s:I}", "@type", "getSupergroup", "supergroup_id",
                          (json_int_t)r->supergroup_id),
                on_supergroup, r, r->counts);
        return;
    case RESOLVE_S_FULL:
        td_call(a,
                json_pack("{s:s, s:I}", "@type", "getSupergroupFullInfo", "supergroup_id",
                          (json_int_t)r->supergroup_id),
                on_full_info, r, r->counts);
        return;
    case RESOLVE_S_LINKED:
        td_call(
            a,
            json_pack("{s:s, s:I}", "@type", "getChat", "chat_id", (json_int_t)r->linked_chat_id),
            on_linked_chat, r, r->counts);
        return;
    case RESOLVE_S_DONE:
        return;
    }
}

void
resolve_start(struct resolve *r)
{
    r->state = RESOLVE_S_START;
    r->error[0] = '\0';
    r->error_code = 0;
    r->chat_id = 0;
    r->searched = false;
    resolve_step(r);
}

bool
resolve_error_is_permanent(int code)
{
    return code >= 400 && code < 500 && code != 429;
}
