/* SPDX-License-Identifier: MIT */
/*
 * fake_history.c - reading messages: getChatHistory and its thread and
 * forum-topic variants, single messages, dates, counts, properties.
 *
 * Paging follows MessagesManager::get_dialog_history and
 * OrderedMessages::get_history: newest first; from_message_id 0 means from
 * the newest; offset 0 gives messages older than from_message_id; offset -k
 * adds up to k messages newer than it, itself included; the limit is capped
 * at 100 and the older part at limit - k. Like TDLib, the fake may return
 * fewer than asked before the end (page_max, short_pages); only an empty
 * page means the end. total_count is the number returned, as TDLib's
 * get_messages_object(-1, ...) makes it.
 */
#include "fake_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHIFT(id)       ((int64_t)(id) * (INT64_C(1) << FAKE_MSG_SHIFT))
#define MAX_GET_HISTORY 100

/* Which messages of the chat a page may hold; ids outside (floor, top] never. */
struct hist_filter {
    int64_t thread; /* message_thread_id, 0: any */
    int32_t topic;  /* forum_topic_id, 0: any */
    int64_t floor, top;
};

static bool
in_filter(struct fake_chat *c, const struct hist_filter *f, int64_t id)
{
    struct fake_spec s;
    const struct fake_ovl *mods;

    if (f->thread == 0 && f->topic == 0)
        return true;
    if (!fake_chat_message(fake_g.w, c, id, &s, &mods))
        return false;
    return (f->thread == 0 || s.thread == f->thread) && (f->topic == 0 || s.topic == f->topic);
}

static int64_t
prev_in(struct fake_chat *c, const struct hist_filter *f, int64_t below)
{
    int64_t id = fake_chat_prev(fake_g.w, c, below <= f->top ? below : f->top + 1);

    while (id > f->floor && !in_filter(c, f, id))
        id = fake_chat_prev(fake_g.w, c, id);
    return id > f->floor ? id : 0;
}

static int64_t
next_in(struct fake_chat *c, const struct hist_filter *f, int64_t from)
{
    int64_t id = fake_chat_next(fake_g.w, c, from > f->floor ? from : f->floor + 1);

    while (id != 0 && id <= f->top && !in_filter(c, f, id))
        id = fake_chat_next(fake_g.w, c, id + 1);
    return id != 0 && id <= f->top ? id : 0;
}

/* TDLib's checks of limit and offset, in its order; false after answering. */
static bool
check_paging(struct fake_req *r, int32_t *limit, int32_t offset)
{
    if (*limit <= 0) {
        fake_answer_error(r, 400, "Parameter limit must be positive");
        return false;
    }
    if (*limit > MAX_GET_HISTORY)
        *limit = MAX_GET_HISTORY;
    if (offset > 0) {
        fake_answer_error(r, 400, "Parameter offset must be non-positive");
        return false;
    }
    if (offset <= -MAX_GET_HISTORY) {
        fake_answer_error(r, 400, "Parameter offset must be greater than -100");
        return false;
    }
    if (offset < -*limit) {
        fake_answer_error(r, 400, "Parameter offset must be greater than or equal to -limit");
        return false;
    }
    return true;
}

/* Shorter than asked, deterministically by (seed, chat, request), never empty. */
static size_t
short_page(struct fake_chat *c, const struct hist_filter *f, int64_t from, int32_t offset,
           int32_t limit, size_t n)
{
    uint64_t h =
        fake_hash(fake_g.w->seed ^ 0x5407, (uint64_t)c->id,
                  (uint64_t)from ^ ((uint64_t)(uint32_t)offset << 40) ^ ((uint64_t)limit << 52) ^
                      (uint64_t)f->thread ^ ((uint64_t)f->topic << 33));

    if (n > (size_t)c->page_max)
        n = (size_t)c->page_max;
    if (!c->short_pages || n <= 1 || h % 3 != 0)
        return n;
    if ((h >> 8) % 4 == 0)
        return 1;
    return 1 + (size_t)((h >> 12) % (n - 1));
}

/* The ids of a page, newest first; returns how many. */
static size_t
collect(struct fake_chat *c, const struct hist_filter *f, int64_t from, int32_t offset,
        int32_t limit, int64_t *ids)
{
    int64_t newer[MAX_GET_HISTORY];
    size_t n = 0, nn = 0;

    if (from == 0 || from > SHIFT(FAKE_MAX_SERVER_ID)) {
        /* from the end: the newer part cannot exist and is taken off the limit */
        int64_t want = (int64_t)limit + offset;

        for (int64_t id = prev_in(c, f, INT64_MAX); id != 0 && (int64_t)n < want;
             id = prev_in(c, f, id))
            ids[n++] = id;
    } else {
        int64_t s = (from + (INT64_C(1) << FAKE_MSG_SHIFT) - 1) >> FAKE_MSG_SHIFT;

        for (int64_t id = next_in(c, f, s); id != 0 && (int32_t)nn < -offset;
             id = next_in(c, f, id + 1))
            newer[nn++] = id;
        while (nn > 0)
            ids[n++] = newer[--nn];
        for (int64_t id = prev_in(c, f, s), older = 0; id != 0 && older < limit + offset;
             id = prev_in(c, f, id), older++)
            ids[n++] = id;
    }
    return short_page(c, f, from, offset, limit, n);
}

/* The page as cl sees it: its files with cl's ids and local state (fake_files.c). */
static json_t *
page_object(struct fake_client *cl, struct fake_chat *c, const int64_t *ids, size_t n,
            struct fake_file_ids *files)
{
    json_t *list = json_array(), *o;

    for (size_t i = 0; i < n; i++) {
        json_t *m = fake_chat_message_json(fake_g.w, c, ids[i]);

        if (m != NULL) {
            json_array_append_new(list, fake_files_patch_ids(cl, m, true, files));
            json_decref(m);
        }
    }
    o = fake_obj("messages");
    fake_set_int(o, "total_count", (int64_t)json_array_size(list));
    fake_set(o, "messages", list);
    return o;
}

/*
 * Building ahead. A collector pages backwards: after a page ending at id X
 * it asks for (from X, offset 0, same limit). The library's thread builds
 * that page while the collector digests the last one, with the world
 * read-locked and the mutex free (fake_tdjson.c), as TDLib preloads older
 * messages (MessagesManager::preload_older_messages). A page built ahead is
 * used only for exactly that request in an unchanged world, so answers are
 * the same with or without it; only their cost moves off the critical path.
 * Pages carry the client's file ids and local state, so a page is built
 * for one client, and used only while none of its files has local state
 * (a download changes what a page shows).
 */
struct page_key {
    struct fake_client *cl;
    size_t chat;
    struct hist_filter f;
    int64_t from;
    int32_t offset, limit;
};

struct dump_buf {
    char *p;
    size_t n, cap;
};

static struct {
    bool has_next;
    struct page_key next;       /* the page to build ahead */
    char *text;                 /* built: the answer dumped with JSON_EMBED, or NULL */
    struct page_key key;        /* what text answers */
    uint64_t version;           /* fake_g.world_version it was built in */
    int64_t last_id;            /* its oldest message */
    struct fake_file_ids files; /* the files on it */
} ahead;

static int
append(const char *text, size_t n, void *arg)
{
    struct dump_buf *b = arg;

    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = fake_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, text, n);
    b->n += n;
    return 0;
}

/*
 * A page dumped with JSON_EMBED (fake_answer_embedded adds @extra and
 * @client_id). Through a buffer the worker keeps: json_dumps would grow a
 * new one from 16 bytes for every 150 KB page, a third of the dump's cost.
 * Pages are built on the worker thread only.
 */
static char *
dump_page(json_t *o)
{
    static struct dump_buf buf;
    char *text;

    buf.n = 0;
    if (json_dump_callback(o, append, &buf, JSON_COMPACT | JSON_EMBED) != 0)
        abort();
    text = fake_xmalloc(buf.n + 1);
    memcpy(text, buf.p, buf.n);
    text[buf.n] = '\0';
    return text;
}

static bool
same_key(const struct page_key *a, const struct page_key *b)
{
    return a->cl == b->cl && a->chat == b->chat && a->f.thread == b->f.thread &&
           a->f.topic == b->f.topic && a->f.floor == b->f.floor && a->f.top == b->f.top &&
           a->from == b->from && a->offset == b->offset && a->limit == b->limit;
}

bool
fake_prefetch_wanted(void)
{
    return ahead.has_next;
}

void
fake_prefetch_run(void)
{
    struct page_key k = ahead.next;
    struct fake_chat *c = &fake_g.w->chats[k.chat];
    int64_t ids[MAX_GET_HISTORY];
    size_t n;
    json_t *o;

    ahead.has_next = false;
    n = collect(c, &k.f, k.from, k.offset, k.limit, ids);
    ahead.files.n = 0;
    ahead.files.any_local = false;
    o = page_object(k.cl, c, ids, n, &ahead.files);
    free(ahead.text);
    ahead.text = dump_page(o);
    json_decref(o);
    ahead.key = k;
    ahead.version = fake_g.world_version;
    ahead.last_id = n > 0 ? ids[n - 1] : 0;
}

static void
page(struct fake_req *r, struct fake_chat *c, const struct hist_filter *f, int64_t from,
     int32_t offset, int32_t limit)
{
    struct page_key k = {
        .cl = r->cl, .chat = c->index, .f = *f, .from = from, .offset = offset, .limit = limit
    };
    int64_t ids[MAX_GET_HISTORY], last;

    if (ahead.text != NULL && same_key(&ahead.key, &k) && ahead.version == fake_g.world_version &&
        !ahead.files.any_local && !fake_files_any_local(r->cl, &ahead.files)) {
        fake_answer_embedded(r, ahead.text);
        last = ahead.last_id;
    } else {
        size_t n = collect(c, f, from, offset, limit, ids);
        json_t *o = page_object(r->cl, c, ids, n, NULL);
        char *text = dump_page(o);

        json_decref(o);
        last = n > 0 ? ids[n - 1] : 0;
        fake_answer_embedded(r, text);
        free(text);
    }
    free(ahead.text);
    ahead.text = NULL;
    ahead.has_next = last != 0;
    ahead.next = k;
    ahead.next.from = SHIFT(last);
    ahead.next.offset = 0;
}

static bool
paging_args(struct fake_req *r, int64_t *from, int32_t *offset, int32_t *limit)
{
    return fake_arg_i64(r, "from_message_id", from) && fake_arg_i32(r, "offset", offset) &&
           fake_arg_i32(r, "limit", limit);
}

static bool
readable(struct fake_req *r, struct fake_chat *c)
{
    if (fake_can_read(c, r->cl->acct))
        return true;
    fake_answer_error(r, 400, "CHANNEL_PRIVATE");
    return false;
}

static void
h_get_chat_history(struct fake_req *r)
{
    struct hist_filter f = { .floor = 0, .top = INT64_MAX };
    int64_t chat_id, from;
    int32_t offset, limit;
    struct fake_chat *c;

    if (!fake_arg_i64(r, "chat_id", &chat_id) || !paging_args(r, &from, &offset, &limit) ||
        !check_paging(r, &limit, offset))
        return;
    c = fake_known_chat(r, chat_id);
    if (c == NULL || !readable(r, c))
        return;
    if (from < 0) {
        fake_answer_error(r, 400, "Invalid value of parameter from_message_id specified");
        return;
    }
    page(r, c, &f, from, offset, limit);
}

/*
 * Where the thread of (c, message_id) lives: the group and its root, or
 * NULL after answering TDLib's error.
 */
static struct fake_chat *
thread_of(struct fake_req *r, struct fake_chat *c, int64_t message_id, int64_t *root)
{
    int64_t id = message_id >> FAKE_MSG_SHIFT;
    struct fake_spec s;
    const struct fake_ovl *mods;

    if (c->kind != FAKE_CHANNEL && c->kind != FAKE_SUPERGROUP) {
        fake_answer_error(r, 400, "Can't get message thread history in the chat");
        return NULL;
    }
    if (message_id <= 0 || SHIFT(id) != message_id ||
        !fake_chat_message(fake_g.w, c, id, &s, &mods)) {
        fake_answer_error(r, 400, "MSG_ID_INVALID");
        return NULL;
    }
    if (c->kind == FAKE_CHANNEL) {
        *root = fake_chat_thread_root(fake_g.w, c, id);
        if (*root == 0 || !s.has_reply_info) {
            fake_answer_error(r, 400, "Message has no comments");
            return NULL;
        }
        return c->discussion;
    }
    if (s.thread == 0) {
        fake_answer_error(r, 400, "Message has no thread");
        return NULL;
    }
    *root = s.thread;
    return c;
}

static void
h_get_message_thread_history(struct fake_req *r)
{
    struct hist_filter f = { .floor = 0, .top = INT64_MAX };
    int64_t chat_id, message_id, from, root = 0;
    int32_t offset, limit;
    struct fake_chat *c, *g;

    if (!fake_arg_i64(r, "chat_id", &chat_id) || !fake_arg_i64(r, "message_id", &message_id) ||
        !paging_args(r, &from, &offset, &limit))
        return;
    c = fake_known_chat(r, chat_id);
    if (c == NULL || !readable(r, c))
        return;
    g = thread_of(r, c, message_id, &root);
    if (g == NULL || !check_paging(r, &limit, offset))
        return;
    if (from < 0) {
        fake_answer_error(r, 400,
                          "Parameter from_message_id must be identifier of a chat "
                          "message or 0");
        return;
    }
    fake_chat_announce(r->cl, r, g); /* the messages are in the discussion group */
    f.thread = root;
    f.floor = root; /* the replies, not the root itself */
    f.top = fake_chat_thread_last(fake_g.w, g, root);
    page(r, g, &f, from, offset, limit);
}

static void
h_get_forum_topic_history(struct fake_req *r)
{
    struct hist_filter f = { .floor = 0, .top = INT64_MAX };
    int64_t chat_id, from;
    int32_t offset, limit, topic;
    struct fake_chat *c;
    bool found = false;

    if (!fake_arg_i64(r, "chat_id", &chat_id) || !fake_arg_i32(r, "forum_topic_id", &topic) ||
        !paging_args(r, &from, &offset, &limit))
        return;
    c = fake_known_chat(r, chat_id);
    if (c == NULL)
        return;
    if (!c->is_forum) {
        fake_answer_error(r, 400, "The chat is not a forum");
        return;
    }
    if (!readable(r, c) || !check_paging(r, &limit, offset))
        return;
    for (size_t i = 0; i < c->ntopics; i++)
        found |= c->topics[i].id == topic;
    if (!found) {
        fake_answer_error(r, 400, "Topic not found");
        return;
    }
    f.topic = topic;
    f.floor = topic > 1 ? topic - 1 : 0; /* a topic starts with its creation message */
    page(r, c, &f, from, offset, limit);
}

/* The server id of a message id of r, or 0 when it cannot be a server message. */
static int64_t
server_id(int64_t message_id)
{
    int64_t id = message_id >> FAKE_MSG_SHIFT;

    return message_id > 0 && SHIFT(id) == message_id ? id : 0;
}

static void
h_get_message(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");
    int64_t message_id;
    json_t *m;

    if (c == NULL || !fake_arg_i64(r, "message_id", &message_id) || !readable(r, c))
        return;
    m = server_id(message_id) != 0 ? fake_chat_message_json(fake_g.w, c, server_id(message_id))
                                   : NULL;
    if (m == NULL) {
        fake_answer_error(r, 404, "Not Found");
        return;
    }
    fake_answer(r, m);
}

static void
h_get_messages(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");
    const json_t *ids, *v;
    json_t *list, *o;
    size_t i;

    if (c == NULL || !readable(r, c))
        return;
    ids = json_object_get(r->req, "message_ids");
    if (ids != NULL && !json_is_array(ids) && !json_is_null(ids)) {
        fake_answer_error(r, 400,
                          "Failed to parse JSON object as TDLib request: Expected Array, but "
                          "receive a scalar");
        return;
    }
    list = json_array();
    json_array_foreach (ids, i, v) {
        int64_t id =
            json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
        json_t *m = server_id(id) != 0 ? fake_chat_message_json(fake_g.w, c, server_id(id)) : NULL;

        json_array_append_new(list, m != NULL ? m : json_null());
    }
    o = fake_obj("messages");
    fake_set_int(o, "total_count", (int64_t)json_array_size(list));
    fake_set(o, "messages", list);
    fake_answer(r, o);
}

static void
h_get_chat_message_by_date(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");
    int32_t date;
    int64_t id;

    if (c == NULL || !fake_arg_i32(r, "date", &date) || !readable(r, c))
        return;
    id = fake_chat_by_date(fake_g.w, c, date > 0 ? date : 1);
    if (id == 0) {
        fake_answer_error(r, 404, "Not Found");
        return;
    }
    fake_answer(r, fake_chat_message_json(fake_g.w, c, id));
}

static void
h_get_chat_message_count(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id");
    const json_t *filter, *topic;
    json_t *o;

    if (c == NULL || !readable(r, c))
        return;
    filter = json_object_get(r->req, "filter");
    topic = json_object_get(r->req, "topic_id");
    /* a filter or a topic would need a search the fake does not model */
    if ((json_is_object(filter) &&
         strcmp(json_string_value(json_object_get(filter, "@type")) != NULL
                    ? json_string_value(json_object_get(filter, "@type"))
                    : "",
                "searchMessagesFilterEmpty") != 0) ||
        json_is_object(topic)) {
        fake_log(json_pack("{s:i, s:s}", "client", r->cl->id, "unsupported",
                           "getChatMessageCount with a filter or topic"));
        fake_answer_error(r, 400, "Method not supported by fake_tdjson");
        return;
    }
    o = fake_obj("count");
    fake_set_int(o, "count", fake_chat_count(fake_g.w, c));
    fake_answer(r, o);
}

static void
h_get_message_thread(struct fake_req *r)
{
    struct fake_chat *c = fake_req_chat(r, "chat_id"), *g;
    int64_t message_id, root = 0;
    struct fake_spec s;
    const struct fake_ovl *mods;
    json_t *o, *m, *ii;

    if (c == NULL || !fake_arg_i64(r, "message_id", &message_id) || !readable(r, c))
        return;
    g = thread_of(r, c, message_id, &root);
    if (g == NULL)
        return;
    fake_chat_announce(r->cl, r, g);
    o = fake_obj("messageThreadInfo");
    fake_set_int(o, "chat_id", g->id);
    fake_set_int(o, "message_thread_id", SHIFT(root));
    m = NULL;
    if (fake_chat_message(fake_g.w, g, root, &s, &mods)) {
        m = fake_message_json(fake_g.w, g, &s, mods);
        ii = fake_message_interaction(fake_g.w, g, &s, mods);
        fake_set(o, "reply_info", json_incref(json_object_get(ii, "reply_info")));
        json_decref(ii);
    }
    fake_set_int(o, "unread_message_count", 0);
    fake_set(o, "messages", m != NULL ? json_pack("[o]", m) : json_array());
    fake_answer(r, o);
}

static void
h_get_message_properties(struct fake_req *r)
{
    static const char *const names[] = {
        "can_add_offer",
        "can_add_tasks",
        "can_be_approved",
        "can_be_copied",
        "can_be_copied_to_secret_chat",
        "can_be_declined",
        "can_be_deleted_only_for_self",
        "can_be_deleted_for_all_users",
        "can_be_edited",
        "can_be_forwarded",
        "can_be_paid",
        "can_be_pinned",
        "can_be_replied",
        "can_be_replied_in_another_chat",
        "can_be_saved",
        "can_be_shared_in_story",
        "can_delete_reactions",
        "can_edit_media",
        "can_edit_scheduling_state",
        "can_edit_suggested_post_info",
        "can_get_author",
        "can_get_embedding_code",
        "can_get_link",
        "can_get_media_timestamp_links",
        "can_get_message_thread",
        "can_get_poll_vote_statistics",
        "can_get_read_date",
        "can_get_statistics",
        "can_get_video_advertisements",
        "can_get_viewers",
        "can_mark_tasks_as_done",
        "can_recognize_speech",
        "can_report_chat",
        "can_report_reactions",
        "can_report_supergroup_spam",
        "can_set_fact_check",
        "has_protected_content_by_current_user",
        "has_protected_content_by_other_user",
        "need_show_statistics",
    };
    struct fake_chat *c = fake_req_chat(r, "chat_id");
    int64_t message_id, id;
    struct fake_spec s;
    const struct fake_ovl *mods;
    bool is_public, member, thread;
    json_t *o;

    if (c == NULL || !fake_arg_i64(r, "message_id", &message_id))
        return;
    id = server_id(message_id);
    if (id == 0 || !fake_can_read(c, r->cl->acct) ||
        !fake_chat_message(fake_g.w, c, id, &s, &mods)) {
        fake_answer_error(r, 400, "Message not found");
        return;
    }
    is_public = c->username != NULL && (c->kind == FAKE_CHANNEL || c->kind == FAKE_SUPERGROUP);
    member = fake_is_member(c, r->cl->acct);
    thread = (c->kind == FAKE_CHANNEL && s.has_reply_info && c->discussion != NULL) ||
             (c->kind == FAKE_SUPERGROUP && s.thread != 0);
    o = fake_obj("messageProperties");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *n = names[i];
        bool v = false;

        if (strcmp(n, "can_be_copied") == 0 || strcmp(n, "can_be_forwarded") == 0 ||
            strcmp(n, "can_be_saved") == 0 || strcmp(n, "can_be_replied_in_another_chat") == 0 ||
            strcmp(n, "can_report_chat") == 0)
            v = true;
        else if (strcmp(n, "can_be_replied") == 0)
            v = member && c->kind != FAKE_CHANNEL;
        else if (strcmp(n, "can_get_link") == 0 || strcmp(n, "can_get_embedding_code") == 0)
            v = is_public;
        else if (strcmp(n, "can_get_message_thread") == 0)
            v = thread;
        fake_set_bool(o, n, v);
    }
    fake_answer(r, o);
}

#define USER FAKE_F_USER_ONLY
#define NET  FAKE_F_NETWORK
#define HIST FAKE_F_HISTORY

const struct fake_method fake_history_methods[] = {
    { "getChatHistory", h_get_chat_history, USER | NET | HIST },
    { "getChatMessageByDate", h_get_chat_message_by_date, USER | NET },
    { "getChatMessageCount", h_get_chat_message_count, NET },
    { "getForumTopicHistory", h_get_forum_topic_history, USER | NET | HIST },
    { "getMessage", h_get_message, NET },
    { "getMessages", h_get_messages, NET },
    { "getMessageProperties", h_get_message_properties, 0 },
    { "getMessageThread", h_get_message_thread, NET },
    { "getMessageThreadHistory", h_get_message_thread_history, USER | NET | HIST },
    { NULL, NULL, 0 },
};
