/* SPDX-License-Identifier: MIT */
/*
 * collect_live.c - TDLib messages into events for the writer, and the
 * daemon's live updates. collect_map_into turns one message into an event of a
 * chat's page (collect_chat.c) or of the live batch, or into a dead letter
 * when it cannot be mapped; collect_on_update takes new, edited and deleted messages
 * of tracked chats into the live batch, which goes to the writer when it is
 * full or when the engine's loop (collect.c) finds it waited long enough.
 */
#include "collect/collect_engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "collect/collect_int.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"
#include "pipeline/pipeline.h"

#define TGH_LOG_SUB "collect"

static struct cchat *
chat_by_id(struct engine *e, int64_t chat_id, bool *is_linked)
{
    for (size_t i = 0; i < e->nchats; i++) {
        struct cchat *c = e->chats[i];

        if (c->step == STEP_FAILED || c->gone || c->res_state.chat_id == 0)
            continue;
        if (c->res_state.chat_id == chat_id) {
            *is_linked = false;
            return c;
        }
        if (c->comments && c->res_state.linked_chat_id == chat_id) {
            *is_linked = true;
            return c;
        }
    }
    return NULL;
}

static void
dead_letter(struct engine *e, struct cchat *c, const json_t *msg, const char *reason)
{
    struct store_dead_letter dl = { 0 };
    char origin[64], position[64];
    int64_t id = 0;
    char *payload = json_dumps(msg, JSON_COMPACT);

    (void)td_int(msg, "id", &id);
    (void)snprintf(origin, sizeof(origin), "chat %" PRId64, c ? c->res_state.chat_id : 0);
    if (source_tdlib_server_id(id) != 0)
        (void)snprintf(position, sizeof(position), "message %" PRId64, source_tdlib_server_id(id));
    else
        (void)snprintf(position, sizeof(position), "TDLib message id %" PRId64, id);
    dl.source = "tdlib";
    dl.origin = origin;
    dl.position = position;
    dl.reason = reason;
    dl.payload = payload ? payload : "";
    dl.payload_len = payload ? strlen(payload) : 0;
    if (store_dead_letter_add(e->meta, &dl) != TGH_OK)
        log_error("%s: dead letter not recorded: %s", origin, tgh_errmsg());
    else
        pipeline_metrics_dead_letter("tdlib");
    log_warn("%s: %s skipped: %s", origin, position, reason);
    if (c != NULL)
        c->res.dead_letters++;
    tgh_free(payload);
}

/* Map one message into b; false when it became a dead letter instead. */
bool
collect_map_into(struct engine *e, struct cchat *c, const struct source_tdlib_chat *chat,
                 const json_t *msg, struct msg_batch *b)
{
    struct msg_event *ev = msg_batch_push(b);
    tgh_err rc;

    rc = source_tdlib_map_message(msg, chat, collect_now(), &b->arena, ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(ev);
    if (rc != TGH_OK) {
        msg_batch_pop(b);
        dead_letter(e, c, msg, tgh_errmsg());
        return false;
    }
    return true;
}

void
collect_live_flush(struct engine *e)
{
    struct pipeline_commit_note note = { 0 };
    tgh_err rc;

    if (e->live.n == 0)
        return;
    note.tag = &e->live;
    rc = pipeline_writer_submit_note(e->w, &e->live, &note);
    if (rc != TGH_OK)
        collect_engine_fatal(e, rc);
}

static struct msg_batch *
live_batch(struct engine *e)
{
    if (e->live.n == e->live.cap)
        collect_live_flush(e);
    if (e->live.n == 0)
        e->live_since = td_now();
    return &e->live;
}

/* Live updates (daemon). */

static void
on_refreshed(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    struct engine *e = c->e;
    int64_t chat_id = 0;
    bool linked = false;

    (void)a;
    if (td_is_error(ans, NULL, NULL) || e->stopping)
        return; /* gone already: its deletion comes as its own update */
    (void)td_int(ans, "chat_id", &chat_id);
    if (chat_by_id(e, chat_id, &linked) != c)
        return;
    if (collect_map_into(e, c, linked ? &c->map_linked : &c->map_chat, ans, live_batch(e)))
        e->live_events++;
}

void
collect_on_update(void *arg, struct td_acct *a, json_t *u)
{
    struct engine *e = arg;
    const char *t = td_type(u);
    int64_t chat_id = 0;
    bool linked = false;
    struct cchat *c;

    if (strcmp(t, "updateFile") == 0) {
        collect_media_on_file(e, json_object_get(u, "file"));
        return;
    }
    if (!e->o->daemon || e->stopping)
        return;
    if (strcmp(t, "updateNewMessage") == 0) {
        const json_t *m = json_object_get(u, "message");

        (void)td_int(m, "chat_id", &chat_id);
        c = chat_by_id(e, chat_id, &linked);
        if (c == NULL || c->a != a)
            return; /* chats nobody tracks are not collected */
        if (!linked)
            collect_note_thread(c, m);
        if (collect_map_into(e, c, linked ? &c->map_linked : &c->map_chat, m, live_batch(e)))
            e->live_events++;
    } else if (strcmp(t, "updateMessageContent") == 0 || strcmp(t, "updateMessageEdited") == 0 ||
               strcmp(t, "updateMessageInteractionInfo") == 0) {
        int64_t id = 0;

        (void)td_int(u, "chat_id", &chat_id);
        (void)td_int(u, "message_id", &id);
        c = chat_by_id(e, chat_id, &linked);
        if (c == NULL || c->a != a || source_tdlib_server_id(id) == 0)
            return;
        /* The update carries a part; the event is the whole message. */
        td_call(a,
                json_pack("{s:s, s:I, s:I}", "@type", "getMessage", "chat_id", (json_int_t)chat_id,
                          "message_id", (json_int_t)id),
                on_refreshed, c, &c->counts);
    } else if (strcmp(t, "updateDeleteMessages") == 0) {
        size_t n = 0;
        struct msg_batch *b;
        const json_t *ids = json_object_get(u, "message_ids");
        tgh_err rc;

        (void)td_int(u, "chat_id", &chat_id);
        c = chat_by_id(e, chat_id, &linked);
        if (c == NULL || c->a != a)
            return;
        b = live_batch(e);
        if (b->cap - b->n < json_array_size(ids)) {
            collect_live_flush(e);
            b = live_batch(e);
        }
        rc = source_tdlib_map_deletes(u, linked ? &c->map_linked : &c->map_chat, collect_now(), b,
                                      &n);
        if (rc != TGH_OK)
            dead_letter(e, c, u, tgh_errmsg());
        else if (n == 0)
            log_debug("chat %" PRId64 ": %zu messages unloaded from TDLib's cache (not deleted)",
                      chat_id, json_array_size(ids));
        e->live_events += (int64_t)n;
    }
}
