/* SPDX-License-Identifier: MIT */
/*
 * collect_chat.c - one tracked chat's walk through its history: the state
 * machine (collect_chat_next) and the answers to the requests it sends.
 *
 * A chat goes through steps: resolve (getChat, or searchPublicChat when
 * TDLib forgot it), open (daemon), catch-up (from the newest message down
 * to the newest cursor, and further down over the reconcile window), backfill
 * (from the oldest cursor down, within the run's bounds), comment threads,
 * then idle until the engine (collect.c) starts its next pass.
 * Every page is one batch for the writer, with the chat's cursor riding
 * along: the writer stores the cursor only after the page committed, so a
 * crash at any moment re-fetches at most the page in flight.
 */
#include "collect/collect_engine_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "collect/collect_int.h"
#include "collect/collect_resolve.h"
#include "core/alloc.h"
#include "core/log.h"
#include "pipeline/pipeline.h"

#define TGH_LOG_SUB "collect"

#define MAX_THREAD_QUEUE 100000

void
collect_chat_submit(struct engine *e, struct cchat *c, struct msg_batch *b,
                    const struct store_cursor *cur)
{
    struct pipeline_commit_note note = { 0 };
    tgh_err rc;

    note.tag = c;
    atomic_fetch_add(&c->uncommitted, 1);
    if (cur != NULL) {
        note.has_cursor = true;
        note.cursor = *cur;
    }
    rc = pipeline_writer_submit_note(e->w, b, &note);
    if (rc != TGH_OK)
        collect_engine_fatal(e, rc);
}

static void
queue_thread(struct cchat *c, int64_t id, int64_t last, bool topic)
{
    if (c->nthreads >= MAX_THREAD_QUEUE)
        return; /* the next pass finds it again */
    if (c->nthreads == c->capthreads) {
        c->capthreads = c->capthreads ? c->capthreads * 2 : 64;
        c->threads = tgh_realloc(c->threads, c->capthreads * sizeof(*c->threads));
    }
    c->threads[c->nthreads].post_id = id;
    c->threads[c->nthreads].last_reply = last;
    c->threads[c->nthreads].topic = topic;
    c->nthreads++;
}

/* Comment threads: remember posts whose replies are newer than what we have. */
void
collect_note_thread(struct cchat *c, const json_t *msg)
{
    const json_t *ri = json_object_get(json_object_get(msg, "interaction_info"), "reply_info");
    int64_t count = 0, last = 0, id = 0;
    struct store_cursor tc;

    if (!c->comments || c->res_state.linked_chat_id == 0 || ri == NULL)
        return;
    if (!td_int(ri, "reply_count", &count) || count <= 0 || !td_int(ri, "last_message_id", &last) ||
        !td_int(msg, "id", &id))
        return;
    last = source_tdlib_server_id(last);
    id = source_tdlib_server_id(id);
    if (last == 0 || id == 0)
        return;
    if (store_cursor_get(c->e->meta, c->res_state.chat_id, id, &tc) == TGH_OK &&
        tc.newest_id >= last)
        return;
    for (size_t i = 0; i < c->nthreads; i++)
        if (c->threads[i].post_id == id) {
            if (last > c->threads[i].last_reply)
                c->threads[i].last_reply = last;
            return;
        }
    queue_thread(c, id, last, false);
}

void
collect_chat_fail(struct cchat *c, int code, const char *fmt, ...)
{
    va_list ap;
    bool permanent = resolve_error_is_permanent(code);

    va_start(ap, fmt);
    (void)vsnprintf(c->res.error, sizeof(c->res.error), fmt, ap);
    va_end(ap);
    c->res.errors++;
    c->step = STEP_FAILED;
    c->busy = false;
    c->permanent = permanent;
    log_warn("chat %s: %s%s", c->spec, c->res.error,
             permanent ? " (not retried until the chat is enabled again)" : "");
    if (permanent &&
        store_tracked_set_status(c->e->meta, c->row_id, "error", c->res.error, 0) != TGH_OK)
        log_error("chat %s: status not recorded: %s", c->spec, tgh_errmsg());
}

/* A history page answered: returns the messages array or NULL after failing the chat. */
static const json_t *
page_messages(struct cchat *c, json_t *ans, const char *what)
{
    int code;
    const char *msg;
    const json_t *msgs;

    c->busy = false;
    if (td_is_error(ans, &code, &msg)) {
        collect_chat_fail(c, code, "%s: %d %s", what, code, msg);
        return NULL;
    }
    msgs = json_object_get(ans, "messages");
    if (!json_is_array(msgs)) {
        collect_chat_fail(c, 400, "%s: answer without messages (%s)", what, td_type(ans));
        return NULL;
    }
    c->res.fetched += (int64_t)json_array_size(msgs);
    return msgs;
}

static void
send_history(struct cchat *c, td_cb cb)
{
    c->busy = true;
    td_call(c->a,
            json_pack("{s:s, s:I, s:I, s:i, s:i, s:b}", "@type", "getChatHistory", "chat_id",
                      (json_int_t)c->res_state.chat_id, "from_message_id", (json_int_t)c->from,
                      "offset", 0, "limit", PAGE_LIMIT, "only_local", 0),
            cb, c, &c->counts);
}

/*
 * One message of a page: its server id (0 for a message that is not on the
 * server yet: local, being sent, failed) and date. *from_td follows the
 * oldest TDLib id of the page, server message or not, which is where the
 * next page starts.
 */
static int64_t
page_msg(const json_t *m, int64_t *date, int64_t *from_td)
{
    int64_t id = 0;

    *date = 0;
    (void)td_int(m, "id", &id);
    (void)td_int(m, "date", date);
    if (id > 0 && (*from_td == 0 || id < *from_td))
        *from_td = id;
    return source_tdlib_server_id(id);
}

/*
 * Catch-up: from the newest message down to the newest cursor (and over the
 * reconcile window). While it runs the cursor records the walk (gap_hi,
 * gap_from), so a restart goes on where it stopped; at the end newest_id
 * becomes the top of the walk.
 */
static void
on_catchup_page(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    struct engine *e = c->e;
    const json_t *msgs = page_messages(c, ans, "getChatHistory");
    size_t n;
    int64_t top = 0, low = 0, low_date = 0, from_td = 0;
    bool done;

    (void)a;
    if (msgs == NULL) {
        collect_chat_next(c);
        return;
    }
    n = json_array_size(msgs);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(msgs, i);
        int64_t date, id = page_msg(m, &date, &from_td);

        if (id == 0)
            continue; /* not a server message: nothing to archive yet */
        if (id > top)
            top = id;
        if (low == 0 || id < low) {
            low = id;
            low_date = date;
        }
        if (id > c->cur.newest_id || date >= c->reconcile_floor) {
            collect_note_thread(c, m);
            (void)collect_map_into(e, c, &c->map_chat, m, &e->page);
        }
    }
    done = n == 0 || (low != 0 && low <= c->cur.newest_id && low_date < c->reconcile_floor);
    if (top != 0 && c->cur.gap_hi == 0)
        c->cur.gap_hi = top;
    if (done) {
        if (c->cur.gap_hi > c->cur.newest_id)
            c->cur.newest_id = c->cur.gap_hi;
        if (c->cur.oldest_id == 0) /* a chat that was empty: the walk went to its start */
            c->cur.oldest_id = low != 0 ? low : c->cur.gap_from;
        c->cur.gap_hi = 0;
        c->cur.gap_from = 0;
        c->want_catchup = false;
        c->reconcile_hours = 0;
        c->reconcile_floor = 0;
    } else {
        if (low != 0)
            c->cur.gap_from = low;
        c->from = from_td;
    }
    collect_chat_submit(e, c, &e->page, &c->cur);
    collect_chat_next(c);
}

/* Backfill: from the oldest cursor down, within this pass's bounds. */
static void
on_backfill_page(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    struct engine *e = c->e;
    const json_t *msgs = page_messages(c, ans, "getChatHistory");
    size_t n;
    int64_t low = 0, top = 0, from_td = 0;
    bool hit_floor = false;

    (void)a;
    if (msgs == NULL) {
        collect_chat_next(c);
        return;
    }
    n = json_array_size(msgs);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(msgs, i);
        int64_t date, id = page_msg(m, &date, &from_td);

        if (id == 0)
            continue; /* not a server message: nothing to archive yet */
        if ((c->floor_date > 0 && date < c->floor_date) || (c->floor_id > 0 && id < c->floor_id) ||
            c->budget == 0) {
            hit_floor = true; /* the rest of the page is left for a later run */
            break;
        }
        if (id > top)
            top = id;
        if (low == 0 || id < low)
            low = id;
        collect_note_thread(c, m);
        (void)collect_map_into(e, c, &c->map_chat, m, &e->page);
        if (c->budget > 0)
            c->budget--;
    }
    if (n == 0) {
        c->cur.complete = true;
        c->res.complete = true;
        c->want_backfill = false;
    } else {
        if (low != 0) {
            /* The first page from the top also starts the newest cursor. */
            if (c->cur.newest_id == 0 && c->from == 0)
                c->cur.newest_id = top;
            c->cur.oldest_id = low;
        }
        c->from = low != 0 ? source_tdlib_msg_id(low) : from_td;
        if (hit_floor || c->budget == 0)
            c->want_backfill = false;
    }
    collect_chat_submit(e, c, &e->page, &c->cur);
    collect_chat_next(c);
}

static void
on_floor(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    int code;
    const char *msg;
    int64_t id = 0;

    (void)a;
    c->busy = false;
    if (td_is_error(ans, &code, &msg)) {
        if (code != 404) {
            collect_chat_fail(c, code, "getChatMessageByDate: %d %s", code, msg);
            collect_chat_next(c);
            return;
        }
    } else if (td_int(ans, "id", &id)) {
        c->floor_id = source_tdlib_server_id(id);
    }
    c->step = STEP_BACKFILL;
    collect_chat_next(c);
}

/* Comment threads: each post's replies, from the newest down to what we had. */
static void
on_thread_page(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    struct engine *e = c->e;
    const json_t *msgs;
    size_t n;
    int64_t low = 0, from_td = 0;
    int code;
    const char *emsg;

    (void)a;
    if (td_is_error(ans, &code, &emsg)) {
        c->busy = false;
        /* A post without a thread (deleted, comments off) is no failure of the chat. */
        log_info("chat %s: %s %" PRId64 ": %d %s", c->spec,
                 c->thread.topic ? "forum topic" : "comments of post", c->thread.post_id, code,
                 emsg);
        c->thread.post_id = 0;
        collect_chat_next(c);
        return;
    }
    msgs =
        page_messages(c, ans, c->thread.topic ? "getForumTopicHistory" : "getMessageThreadHistory");
    if (msgs == NULL) {
        collect_chat_next(c);
        return;
    }
    n = json_array_size(msgs);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(msgs, i);
        int64_t date, id = page_msg(m, &date, &from_td);

        if (id == 0)
            continue;
        if (id > c->thread_max)
            c->thread_max = id;
        if (low == 0 || id < low)
            low = id;
        (void)collect_map_into(e, c, c->thread.topic ? &c->map_chat : &c->map_linked, m, &e->page);
    }
    if (n == 0 || (low != 0 && low <= c->thread_cur.newest_id)) {
        if (c->thread_max > c->thread_cur.newest_id)
            c->thread_cur.newest_id = c->thread_max;
        c->thread_cur.complete = true;
        collect_chat_submit(e, c, &e->page, &c->thread_cur);
        c->thread.post_id = 0;
    } else {
        collect_chat_submit(e, c, &e->page, NULL);
        c->from = from_td;
    }
    collect_chat_next(c);
}

static void
send_thread(struct cchat *c)
{
    c->busy = true;
    if (c->thread.topic) {
        td_call(c->a,
                json_pack("{s:s, s:I, s:I, s:I, s:i, s:i}", "@type", "getForumTopicHistory",
                          "chat_id", (json_int_t)c->res_state.chat_id, "forum_topic_id",
                          (json_int_t)c->thread.post_id, "from_message_id", (json_int_t)c->from,
                          "offset", 0, "limit", PAGE_LIMIT),
                on_thread_page, c, &c->counts);
        return;
    }
    td_call(c->a,
            json_pack("{s:s, s:I, s:I, s:I, s:i, s:i}", "@type", "getMessageThreadHistory",
                      "chat_id", (json_int_t)c->res_state.chat_id, "message_id",
                      (json_int_t)source_tdlib_msg_id(c->thread.post_id), "from_message_id",
                      (json_int_t)c->from, "offset", 0, "limit", PAGE_LIMIT),
            on_thread_page, c, &c->counts);
}

/* Forum topics: each topic whose last message is newer than its cursor gets its history read. */
static void
on_topics(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    const json_t *topics = json_object_get(ans, "topics");
    size_t i;
    json_t *t;
    int code;
    const char *msg;

    (void)a;
    c->busy = false;
    if (td_is_error(ans, &code, &msg)) {
        log_warn("chat %s: getForumTopics: %d %s (topics not read separately)", c->spec, code, msg);
        c->step = STEP_THREADS;
        collect_chat_next(c);
        return;
    }
    json_array_foreach (topics, i, t) {
        int64_t id = 0, last = 0;
        struct store_cursor tc;

        if (!td_int(json_object_get(t, "info"), "forum_topic_id", &id) || id <= 0)
            continue;
        (void)td_int(json_object_get(t, "last_message"), "id", &last);
        last = source_tdlib_server_id(last);
        if (last == 0 || (store_cursor_get(c->e->meta, c->res_state.chat_id, id, &tc) == TGH_OK &&
                          tc.newest_id >= last))
            continue;
        queue_thread(c, id, last, true);
    }
    (void)td_int(ans, "next_offset_date", &c->topic_off_date);
    (void)td_int(ans, "next_offset_message_id", &c->topic_off_msg);
    (void)td_int(ans, "next_offset_forum_topic_id", &c->topic_off_id);
    if (json_array_size(topics) == 0 ||
        (c->topic_off_date == 0 && c->topic_off_msg == 0 && c->topic_off_id == 0))
        c->step = STEP_THREADS;
    collect_chat_next(c);
}

void
collect_on_resolved(void *arg, struct resolve *r)
{
    struct cchat *c = arg;
    struct engine *e = c->e;
    struct store_tracked t = { 0 };
    tgh_err rc;

    c->busy = false;
    if (r->error[0] != '\0') {
        collect_chat_fail(c, r->error_code, "%s", r->error);
        collect_chat_next(c);
        return;
    }
    c->map_chat.chat_id = r->chat_id;
    c->map_chat.type = r->type;
    c->map_chat.title = r->title[0] ? r->title : NULL;
    c->map_chat.username = r->username[0] ? r->username : NULL;
    c->map_linked.chat_id = r->linked_chat_id;
    c->map_linked.type = MSG_CHAT_SUPERGROUP;
    c->map_linked.title = r->linked_title[0] ? r->linked_title : NULL;
    (void)snprintf(c->res.title, sizeof(c->res.title), "%s", r->title);
    c->res.chat_id = r->chat_id;

    t.id = c->row_id;
    t.spec = c->spec;
    t.chat_id = r->chat_id;
    t.account = c->account;
    t.enabled = true;
    t.status = "ok";
    t.type = msg_chat_type_name(r->type);
    t.title = c->map_chat.title;
    t.username = c->map_chat.username;
    t.linked_chat_id = r->linked_chat_id;
    t.is_forum = r->is_forum;
    t.comments = c->comments;
    t.topics = c->topics;
    rc = store_tracked_put(e->meta, &t, NULL);
    if (rc == TGH_OK)
        rc = store_chat_upsert(e->meta, r->chat_id, r->type, c->map_chat.title,
                               c->map_chat.username);
    if (rc == TGH_OK && r->linked_chat_id != 0 && c->comments)
        rc = store_chat_upsert(e->meta, r->linked_chat_id, MSG_CHAT_SUPERGROUP, c->map_linked.title,
                               NULL);
    if (rc != TGH_OK) {
        collect_engine_fatal(e, rc);
        return;
    }
    if (c->run_id == 0) {
        rc = store_run_begin(e->meta, r->chat_id, e->o->daemon ? "collect" : "collect-once",
                             c->account, &c->run_id);
        if (rc != TGH_OK) {
            collect_engine_fatal(e, rc);
            return;
        }
    }
    rc = store_cursor_get(e->meta, r->chat_id, 0, &c->cur);
    if (rc != TGH_OK && rc != TGH_ENOTFOUND) {
        collect_engine_fatal(e, rc);
        return;
    }
    c->res.complete = c->cur.complete;
    c->want_catchup = c->cur.newest_id != 0 || c->cur.gap_hi != 0 || c->cur.complete;
    /* --verify, and the daemon's first pass: a gap check after the walk */
    c->want_verify = e->o->verify || (e->o->daemon && c->passes == 0);
    c->step = e->o->daemon && (r->type == MSG_CHAT_CHANNEL || r->type == MSG_CHAT_SUPERGROUP)
                  ? STEP_OPEN
                  : STEP_CATCHUP;
    collect_chat_next(c);
}

static void
on_opened(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    const char *msg;

    (void)a;
    c->busy = false;
    if (td_is_error(ans, NULL, &msg))
        log_warn("chat %s: openChat: %s (live updates may not arrive)", c->spec, msg);
    else
        c->opened = true;
    c->step = STEP_CATCHUP;
    collect_chat_next(c);
}

void
collect_begin_backfill(struct cchat *c)
{
    struct engine *e = c->e;

    c->from = source_tdlib_msg_id(c->cur.oldest_id);
    c->budget = e->limit > 0 ? e->limit : -1;
    c->floor_id = 0;
    c->floor_date = e->o->since;
    c->want_backfill = !c->cur.complete && c->budget != 0;
    c->step = c->floor_date > 0 && c->want_backfill ? STEP_FLOOR : STEP_BACKFILL;
}

/* Decide and send this chat's next request, or finish its pass. */
void
collect_chat_next(struct cchat *c)
{
    struct engine *e = c->e;

    if (c->busy || e->stopping || c->gone)
        return;
    if ((c->step == STEP_CATCHUP || c->step == STEP_BACKFILL || c->step == STEP_THREADS ||
         c->step == STEP_VERIFY) &&
        atomic_load(&c->uncommitted) > 0) {
        c->waiting_commit = true; /* the main loop comes back when the writer caught up */
        return;
    }
    c->waiting_commit = false;
    switch (c->step) {
    case STEP_RESOLVE:
        c->busy = true;
        resolve_start(&c->res_state);
        return;
    case STEP_OPEN:
        if (c->opened) {
            c->step = STEP_CATCHUP;
            collect_chat_next(c);
            return;
        }
        c->busy = true;
        td_call(c->a,
                json_pack("{s:s, s:I}", "@type", "openChat", "chat_id",
                          (json_int_t)c->res_state.chat_id),
                on_opened, c, &c->counts);
        if (c->comments && c->res_state.linked_chat_id != 0)
            td_call(c->a,
                    json_pack("{s:s, s:I}", "@type", "openChat", "chat_id",
                              (json_int_t)c->res_state.linked_chat_id),
                    NULL, NULL, &c->counts);
        return;
    case STEP_CATCHUP:
        if (!c->want_catchup) {
            if (!e->o->daemon || c->pending_backfill || c->passes == 0) {
                c->pending_backfill = false;
                collect_begin_backfill(c);
            } else {
                c->step = c->topics && c->res_state.is_forum ? STEP_TOPICS : STEP_THREADS;
                c->topic_off_date = c->topic_off_msg = c->topic_off_id = 0;
            }
            c->passes++;
            collect_chat_next(c);
            return;
        }
        if (c->cur.gap_hi == 0 || c->reconcile_floor == 0)
            c->reconcile_floor =
                c->reconcile_hours > 0 ? collect_now() - c->reconcile_hours * 3600 : INT64_MAX;
        c->from = c->cur.gap_hi != 0 ? source_tdlib_msg_id(c->cur.gap_from) : 0;
        send_history(c, on_catchup_page);
        return;
    case STEP_FLOOR:
        c->busy = true;
        td_call(c->a,
                json_pack("{s:s, s:I, s:I}", "@type", "getChatMessageByDate", "chat_id",
                          (json_int_t)c->res_state.chat_id, "date", (json_int_t)c->floor_date),
                on_floor, c, &c->counts);
        return;
    case STEP_BACKFILL:
        if (!c->want_backfill) {
            c->step = c->topics && c->res_state.is_forum ? STEP_TOPICS : STEP_THREADS;
            c->topic_off_date = c->topic_off_msg = c->topic_off_id = 0;
            collect_chat_next(c);
            return;
        }
        send_history(c, on_backfill_page);
        return;
    case STEP_TOPICS:
        c->busy = true;
        td_call(c->a,
                json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:i}", "@type", "getForumTopics",
                          "chat_id", (json_int_t)c->res_state.chat_id, "query", "", "offset_date",
                          (json_int_t)c->topic_off_date, "offset_message_id",
                          (json_int_t)c->topic_off_msg, "offset_forum_topic_id",
                          (json_int_t)c->topic_off_id, "limit", PAGE_LIMIT),
                on_topics, c, &c->counts);
        return;
    case STEP_THREADS:
        if (c->thread.post_id == 0) {
            if (c->nthreads == 0) {
                c->step = c->want_verify ? STEP_VERIFY : STEP_IDLE;
                collect_chat_next(c);
                return;
            }
            c->thread = c->threads[--c->nthreads];
            c->from = 0;
            c->thread_max = 0;
            if (store_cursor_get(e->meta, c->res_state.chat_id, c->thread.post_id,
                                 &c->thread_cur) != TGH_OK) {
                memset(&c->thread_cur, 0, sizeof(c->thread_cur));
                c->thread_cur.chat_id = c->res_state.chat_id;
                c->thread_cur.thread_id = c->thread.post_id;
            }
            if (c->thread_cur.newest_id >= c->thread.last_reply) {
                c->thread.post_id = 0;
                collect_chat_next(c);
                return;
            }
        }
        send_thread(c);
        return;
    case STEP_VERIFY:
        collect_verify_next(c);
        return;
    case STEP_IDLE:
        c->pass_done = e->o->daemon;
        if (c->catchup_again) {
            /* A reconnection during the pass: TDLib may have dropped updates meanwhile. */
            c->catchup_again = false;
            c->want_catchup = true;
            c->step = STEP_CATCHUP;
            collect_chat_next(c);
        }
        return;
    case STEP_FAILED:
        return;
    }
}
