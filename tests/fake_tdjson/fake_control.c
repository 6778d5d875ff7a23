/* SPDX-License-Identifier: MIT */
/*
 * fake_control.c - commands a test appends to TGH_FAKE_TD_CONTROL, one JSON
 * object a line: world changes (messages added, edited, deleted, unloaded,
 * reacted to; access changed; the download speed) and network events
 * (disconnects, floods, lost updates, failed downloads, expired file
 * references). Lines already in the file when the library starts replay
 * the world's history silently, so a restarted collector sees the same
 * world; network events are transient and are not replayed. Live changes
 * are pushed the way TDLib pushes them: channel and supergroup updates only
 * to clients that opened the chat, none while disconnected.
 */
#include "fake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHIFT(id) ((int64_t)(id) * (INT64_C(1) << FAKE_MSG_SHIFT))

struct flood_slot {
    int64_t seconds;
    int client;   /* 0: any */
    char *method; /* NULL: any */
};

static struct flood_slot *floods;
static size_t nfloods, capfloods;

static void
control_error(const char *line, const char *why)
{
    fake_log(json_pack("{s:s, s:s}", "control_error", why, "line", line));
}

int64_t
fake_control_take_flood(struct fake_client *cl, const char *method)
{
    for (size_t i = 0; i < nfloods; i++) {
        int64_t s = floods[i].seconds;

        if ((floods[i].client != 0 && floods[i].client != cl->id) ||
            (floods[i].method != NULL && strcmp(floods[i].method, method) != 0))
            continue;
        free(floods[i].method);
        memmove(&floods[i], &floods[i + 1], (nfloods - i - 1) * sizeof(*floods));
        nfloods--;
        return s;
    }
    return 0;
}

void
fake_broadcast(struct fake_chat *c, json_t *obj)
{
    bool needs_open = c->kind == FAKE_CHANNEL || c->kind == FAKE_SUPERGROUP;

    for (size_t i = 0; i < fake_g.nclients; i++) {
        struct fake_client *cl = fake_g.clients[i];

        if (cl->st != FAKE_ST_READY || cl->acct == NULL || !cl->known[c->index] ||
            !cl->announced[c->index] || !fake_can_read(c, cl->acct) ||
            (needs_open && !cl->opened[c->index]))
            continue;
        fake_push(cl, json_incref(obj));
    }
    json_decref(obj);
}

static bool
wants_push(const json_t *cmd, bool live)
{
    const json_t *p = json_object_get(cmd, "push");

    return live && (p == NULL || json_is_true(p));
}

/* The ids a command names: "id" or "ids". */
static size_t
cmd_ids(const json_t *cmd, int64_t *ids, size_t max)
{
    const json_t *one = json_object_get(cmd, "id"), *many = json_object_get(cmd, "ids");
    size_t n = 0;

    if (json_is_integer(one))
        ids[n++] = json_integer_value(one);
    for (size_t i = 0; i < json_array_size(many) && n < max; i++)
        if (json_is_integer(json_array_get(many, i)))
            ids[n++] = json_integer_value(json_array_get(many, i));
    return n;
}

static void
push_new_message(struct fake_chat *c, int64_t id)
{
    json_t *m = fake_chat_message_json(fake_g.w, c, id), *u;

    if (m == NULL)
        return;
    u = fake_obj("updateNewMessage");
    fake_set(u, "message", json_incref(m));
    fake_broadcast(c, u);
    u = fake_obj("updateChatLastMessage");
    fake_set_int(u, "chat_id", c->id);
    fake_set(u, "last_message", m);
    fake_set(u, "positions", fake_empty());
    fake_broadcast(c, u);
}

static void
cmd_new_message(struct fake_chat *c, json_t *cmd, bool live, const char *line)
{
    int64_t last = fake_chat_last_id(fake_g.w, c), max = last;
    struct fake_spec s, prev;
    const struct fake_ovl *mods;
    struct fake_ovl *o;
    json_t *spec = json_copy(cmd);
    char err[256];

    for (size_t i = 0; i < c->novl; i++)
        if (c->ovl[i].id > max)
            max = c->ovl[i].id; /* deleted ids are not reused */
    if (json_object_get(spec, "id") == NULL)
        json_object_set_new(spec, "id", json_integer(max + 1));
    if (json_object_get(spec, "date") == NULL) {
        int64_t date = last != 0 && fake_chat_message(fake_g.w, c, last, &prev, &mods)
                           ? prev.date + c->step_s
                           : c->start_date;

        json_object_set_new(spec, "date", json_integer(date));
    }
    if (!fake_spec_parse(c, spec, &s, err, sizeof(err))) {
        control_error(line, err);
        json_decref(spec);
        return;
    }
    json_decref(spec);
    o = fake_chat_ovl(c, s.id, true);
    json_decref(o->content);
    o->content = NULL;
    o->is_extra = true;
    o->is_deleted = false;
    o->spec = s;
    if (json_is_object(json_object_get(cmd, "reactions")))
        control_error(line, "new_message takes no reactions: send an interaction command");
    if (wants_push(cmd, live))
        push_new_message(c, s.id);
}

static json_t *
new_content(const json_t *cmd)
{
    const json_t *content = json_object_get(cmd, "content");
    const json_t *text = json_object_get(cmd, "text"), *ents = json_object_get(cmd, "entities");
    json_t *t;

    if (json_is_object(content))
        return json_deep_copy(content);
    if (!json_is_string(text))
        return NULL;
    t = fake_obj("messageText");
    fake_set(t, "text",
             fake_formatted_text(json_string_value(text),
                                 json_is_array(ents) ? json_deep_copy(ents) : NULL));
    return t;
}

static void
cmd_edit(struct fake_chat *c, json_t *cmd, bool live, const char *line)
{
    int64_t id = json_integer_value(json_object_get(cmd, "id"));
    const json_t *ed = json_object_get(cmd, "edit_date");
    struct fake_spec s;
    const struct fake_ovl *mods;
    struct fake_ovl *o;
    json_t *content = new_content(cmd), *u;

    if (content == NULL || !fake_chat_message(fake_g.w, c, id, &s, &mods)) {
        control_error(line,
                      content == NULL ? "edit needs \"text\" or \"content\"" : "no such message");
        json_decref(content);
        return;
    }
    o = fake_chat_ovl(c, id, true);
    json_decref(o->content);
    o->content = content;
    o->edits++;
    o->edit_date = json_is_integer(ed) ? (int32_t)json_integer_value(ed) : s.date + 60 * o->edits;
    if (!wants_push(cmd, live))
        return;
    u = fake_obj("updateMessageContent");
    fake_set_int(u, "chat_id", c->id);
    fake_set_int(u, "message_id", SHIFT(id));
    fake_set(u, "new_content", json_incref(content));
    fake_broadcast(c, u);
    u = fake_obj("updateMessageEdited");
    fake_set_int(u, "chat_id", c->id);
    fake_set_int(u, "message_id", SHIFT(id));
    fake_set_int(u, "edit_date", o->edit_date);
    fake_broadcast(c, u);
}

static void
push_delete(struct fake_chat *c, const int64_t *ids, size_t n, bool permanent)
{
    json_t *u = fake_obj("updateDeleteMessages"), *list = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_integer(SHIFT(ids[i])));
    fake_set_int(u, "chat_id", c->id);
    fake_set(u, "message_ids", list);
    fake_set_bool(u, "is_permanent", permanent);
    fake_set_bool(u, "from_cache", !permanent);
    fake_broadcast(c, u);
}

static void
cmd_delete(struct fake_chat *c, json_t *cmd, bool live, bool unload, const char *line)
{
    int64_t ids[1024], done[1024];
    size_t n = cmd_ids(cmd, ids, 1024), m = 0;

    for (size_t i = 0; i < n; i++) {
        struct fake_spec s;
        const struct fake_ovl *mods;

        if (!fake_chat_message(fake_g.w, c, ids[i], &s, &mods)) {
            control_error(line, "no such message");
            continue;
        }
        if (!unload) /* an unload leaves the message on the server */
            fake_chat_ovl(c, ids[i], true)->is_deleted = true;
        done[m++] = ids[i];
    }
    if (m > 0 && wants_push(cmd, live))
        push_delete(c, done, m, !unload);
}

static void
cmd_interaction(struct fake_chat *c, json_t *cmd, bool live, const char *line)
{
    int64_t id = json_integer_value(json_object_get(cmd, "id"));
    const json_t *views = json_object_get(cmd, "views"), *fwd = json_object_get(cmd, "forwards");
    const json_t *reactions = json_object_get(cmd, "reactions");
    struct fake_spec s;
    const struct fake_ovl *mods;
    struct fake_ovl *o;
    json_t *u;

    if (!fake_chat_message(fake_g.w, c, id, &s, &mods)) {
        control_error(line, "no such message");
        return;
    }
    o = fake_chat_ovl(c, id, true);
    if (json_is_integer(views))
        o->views = (int32_t)json_integer_value(views);
    if (json_is_integer(fwd))
        o->forwards = (int32_t)json_integer_value(fwd);
    if (json_is_object(reactions)) {
        json_decref(o->reactions);
        o->reactions = fake_reactions_from_counts(reactions);
    }
    if (!wants_push(cmd, live))
        return;
    u = fake_obj("updateMessageInteractionInfo");
    fake_set_int(u, "chat_id", c->id);
    fake_set_int(u, "message_id", SHIFT(id));
    fake_set(u, "interaction_info", fake_message_interaction(fake_g.w, c, &s, o));
    fake_broadcast(c, u);
}

static bool
client_matches(const json_t *cmd, const struct fake_client *cl)
{
    const json_t *want = json_object_get(cmd, "client");

    return !json_is_integer(want) || json_integer_value(want) == cl->id;
}

static void
cmd_disconnect(json_t *cmd, bool is_up)
{
    const char *state = json_string_value(json_object_get(cmd, "state"));
    const char *type = "connectionStateConnecting";

    if (state != NULL && strcmp(state, "connecting_to_proxy") == 0)
        type = "connectionStateConnectingToProxy";
    else if (state != NULL && strcmp(state, "waiting_for_network") == 0)
        type = "connectionStateWaitingForNetwork";
    if (!json_is_integer(json_object_get(cmd, "client")))
        fake_g.net_down = !is_up;
    for (size_t i = 0; i < fake_g.nclients; i++) {
        struct fake_client *cl = fake_g.clients[i];

        if (!client_matches(cmd, cl) || cl->st != FAKE_ST_READY)
            continue;
        if (is_up) {
            fake_set_connected(cl, NULL, true);
        } else if (cl->is_connected) {
            json_t *u = fake_obj("updateConnectionState");

            cl->is_connected = false;
            fake_set(u, "state", fake_obj(type));
            fake_update(cl, NULL, u);
        }
    }
}

static void
cmd_flood(json_t *cmd, const char *line)
{
    const json_t *s = json_object_get(cmd, "seconds"), *cl = json_object_get(cmd, "client");
    const char *method = json_string_value(json_object_get(cmd, "method"));

    if (!json_is_integer(s) || json_integer_value(s) < 1) {
        control_error(line, "flood needs \"seconds\" >= 1");
        return;
    }
    if (nfloods == capfloods) {
        capfloods = capfloods != 0 ? capfloods * 2 : 8;
        floods = fake_xrealloc(floods, capfloods * sizeof(*floods));
    }
    floods[nfloods].seconds = json_integer_value(s);
    floods[nfloods].client = json_is_integer(cl) ? (int)json_integer_value(cl) : 0;
    floods[nfloods].method = method != NULL ? fake_xstrdup(method) : NULL;
    nfloods++;
}

static void
cmd_drop(json_t *cmd)
{
    int count = (int)json_integer_value(json_object_get(cmd, "count"));

    for (size_t i = 0; i < fake_g.nclients; i++)
        if (client_matches(cmd, fake_g.clients[i]))
            fake_g.clients[i]->drop_updates += count;
}

static void
cmd_set_access(struct fake_chat *c, json_t *cmd, const char *line)
{
    const char *a = json_string_value(json_object_get(cmd, "access"));

    if (a != NULL && strcmp(a, "ok") == 0)
        c->access = FAKE_ACCESS_OK;
    else if (a != NULL && strcmp(a, "private") == 0)
        c->access = FAKE_ACCESS_PRIVATE;
    else if (a != NULL && strcmp(a, "unknown") == 0)
        c->access = FAKE_ACCESS_UNKNOWN;
    else
        control_error(line, "access is ok, private or unknown");
}

static void
cmd_kick(struct fake_chat *c, json_t *cmd, const char *line)
{
    const char *key = json_string_value(json_object_get(cmd, "account"));
    struct fake_account *a = key != NULL ? fake_world_account_by_key(fake_g.w, key) : NULL;

    if (a == NULL) {
        control_error(line, "kick needs the \"account\" (phone or bot token)");
        return;
    }
    a->joined[c->index] = false;
    a->kicked[c->index] = true; /* also when a session that remembers the join is restored */
}

/* World changes: they replay at start. The rest are events of the running process. */
static void
apply_world(const char *name, struct fake_chat *c, json_t *cmd, bool live, const char *line)
{
    if (c == NULL)
        control_error(line, "no such chat");
    else if (strcmp(name, "new_message") == 0)
        cmd_new_message(c, cmd, live, line);
    else if (strcmp(name, "edit") == 0)
        cmd_edit(c, cmd, live, line);
    else if (strcmp(name, "delete") == 0)
        cmd_delete(c, cmd, live, false, line);
    else if (strcmp(name, "unload") == 0)
        cmd_delete(c, cmd, live, true, line);
    else if (strcmp(name, "interaction") == 0)
        cmd_interaction(c, cmd, live, line);
    else if (strcmp(name, "set_access") == 0)
        cmd_set_access(c, cmd, line);
    else if (strcmp(name, "kick") == 0)
        cmd_kick(c, cmd, line);
}

void
fake_control_apply(const char *line, bool live)
{
    json_error_t je;
    json_t *cmd = json_loads(line, 0, &je);
    const char *name = json_string_value(json_object_get(cmd, "cmd"));
    static const char *const world_cmds[] = { "new_message", "edit",       "delete", "unload",
                                              "interaction", "set_access", "kick" };

    if (name == NULL) {
        control_error(line, cmd == NULL ? je.text : "no \"cmd\"");
        json_decref(cmd);
        return;
    }
    if (live)
        fake_log(json_pack("{s:O}", "control", cmd));
    for (size_t i = 0; i < sizeof(world_cmds) / sizeof(world_cmds[0]); i++) {
        if (strcmp(name, world_cmds[i]) == 0) {
            int64_t chat_id = json_integer_value(json_object_get(cmd, "chat"));

            apply_world(name, fake_world_chat(fake_g.w, chat_id), cmd, live, line);
            json_decref(cmd);
            return;
        }
    }
    if (strcmp(name, "latency") == 0) {
        fake_g.w->latency_ms = (int)json_integer_value(json_object_get(cmd, "ms"));
    } else if (strcmp(name, "download_speed") == 0) {
        fake_files_inject(name, cmd, line);
    } else if (!live) {
        /* network events of an earlier process */
    } else if (strcmp(name, "disconnect") == 0) {
        cmd_disconnect(cmd, false);
    } else if (strcmp(name, "reconnect") == 0) {
        cmd_disconnect(cmd, true);
    } else if (strcmp(name, "flood") == 0) {
        cmd_flood(cmd, line);
    } else if (strcmp(name, "drop_next_updates") == 0) {
        cmd_drop(cmd);
    } else if (strcmp(name, "download_fail") == 0 || strcmp(name, "download_truncate") == 0 ||
               strcmp(name, "file_reference_expired") == 0) {
        fake_files_inject(name, cmd, line);
    } else {
        control_error(line, "unknown cmd");
    }
    json_decref(cmd);
}
