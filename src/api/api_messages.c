/* SPDX-License-Identifier: MIT */
/*
 * api_messages.c - the routes over messages: polling a chat's messages
 * (from the Redis recent cache when it holds the whole window, else the
 * store: the same answer), one message with its history, search, totals
 * and activity.
 */
#include "api/api_routes_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "cache/cache.h"
#include "core/alloc.h"
#include "core/msg.h"
#include "store/store.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"

#define ACTIVITY_MAX_BUCKETS 2000

/* ---- messages ---- */

/* A stored event as JSON, or NULL when it is not (a store bug, answered with a 500). */
static json_t *
event_json(const char *text, size_t len)
{
    json_error_t err;

    return text != NULL ? json_loadb(text, len, 0, &err) : NULL;
}

/*
 * A page of messages. The stored events are the codec's canonical JSON, so
 * they are spliced into the answer as they are, not parsed and printed
 * again: that is most of the cost of a poll.
 */
struct page {
    struct api_text out; /* "ev,ev,..." */
    json_t *deleted;     /* include_deleted: id -> deleted_at */
    int64_t last_id;
    size_t n;
    bool bad;
    /* where each event is in out, to warm the recent cache with */
    int64_t ids[API_LIMIT_MAX];
    size_t off[API_LIMIT_MAX], len[API_LIMIT_MAX];
};

static void
page_add(struct page *p, int64_t message_id, const char *event, size_t len)
{
    if (event == NULL || len == 0 || event[0] != '{' || p->n >= API_LIMIT_MAX) {
        p->bad = true; /* not an event the codec wrote */
        return;
    }
    if (p->n > 0)
        api_text_add(&p->out, ",", 1);
    p->ids[p->n] = message_id;
    p->off[p->n] = p->out.len;
    p->len[p->n] = len;
    api_text_add(&p->out, event, len);
    p->last_id = message_id;
    p->n++;
}

/*
 * After a store answer that holds every message of the chat above after_id
 * (not a full page, no date bounds, no tombstones asked for), hand it to
 * the recent cache, so the next polls of that window are answered there.
 * warm_begin came before the store read; a worker's change in between
 * cancels the write (cache.h).
 */
static void
warm_cache(struct api_conn *c, const struct store_query *q, const struct page *p)
{
    struct cache_warm_item *items = tgh_calloc(p->n > 0 ? p->n : 1, sizeof(*items));
    bool applied = false;

    for (size_t i = 0; i < p->n; i++) {
        size_t k = q->newest_first ? p->n - 1 - i : i; /* oldest first */

        items[i].message_id = p->ids[k];
        items[i].event = p->out.p + p->off[k];
        items[i].event_len = p->len[k];
    }
    if (cache_warm_commit(c->cache, q->chat_id, q->after_id + 1, items, p->n, &applied) != TGH_OK)
        log_debug("recent cache of %" PRId64 " not warmed: %s", q->chat_id, tgh_errmsg());
    tgh_free(items);
}

static bool
warmable(const struct api_req *r, const struct api_conn *c, const struct store_query *q,
         bool include_deleted)
{
    return r->srv->cache_polling && c->cache != NULL && q->since == MSG_UNSET &&
           q->until == MSG_UNSET && q->before_id == 0 && !include_deleted;
}

static int
page_row(void *arg, const struct store_message_row *m)
{
    struct page *p = arg;

    page_add(p, m->message_id, m->event, m->event != NULL ? strlen(m->event) : 0);
    if (m->deleted_at > 0 && p->deleted != NULL) {
        char key[24];

        (void)snprintf(key, sizeof(key), "%" PRId64, m->message_id);
        (void)json_object_set_new(p->deleted, key, json_integer(m->deleted_at));
    }
    return p->bad;
}

static int
page_cached(void *arg, int64_t message_id, const char *event, size_t len)
{
    struct page *p = arg;

    page_add(p, message_id, event, len);
    return p->bad;
}

/*
 * From the recent cache when it can answer: an id window only (no dates, no
 * deleted rows, which it does not keep). false: ask the store.
 */
static bool
messages_from_cache(struct api_req *r, struct api_conn *c, const struct store_query *q,
                    struct page *p)
{
    bool complete = false;

    if (!r->srv->cache_polling || c->cache == NULL || q->since != MSG_UNSET ||
        q->until != MSG_UNSET || p->deleted != NULL)
        return false;
    if (cache_recent(c->cache, q->chat_id, q->after_id, q->before_id, (size_t)q->limit,
                     q->newest_first, page_cached, p, &complete) != TGH_OK ||
        !complete || p->bad) {
        p->out.len = 0;
        p->n = 0;
        p->bad = false;
        return false;
    }
    return true;
}

/* Only the rows that are not tombstones, unless include_deleted. */
struct live_filter {
    struct page *p;
    bool include_deleted;
    size_t scanned;       /* rows the store gave, tombstones included */
    int64_t last_scanned; /* the last one's id */
};

static int
live_row(void *arg, const struct store_message_row *m)
{
    struct live_filter *f = arg;

    f->scanned++;
    f->last_scanned = m->message_id;
    if (m->deleted_at > 0 && !f->include_deleted)
        return 0;
    return page_row(f->p, m);
}

/*
 * The store's rows, tombstones filtered: a page may need more rows than
 * limit. Asks again after the last row scanned (live or not) for as long as
 * the store filled its batch, so a run of deleted messages never ends a page
 * early. *exhausted: the store has nothing more in the window.
 */
static tgh_err
messages_from_store(struct api_conn *c, const struct store_query *q, struct page *p,
                    bool include_deleted, bool *exhausted)
{
    struct live_filter f = { p, include_deleted, 0, 0 };
    struct store_query sq = *q;
    tgh_err rc;

    *exhausted = false;
    for (;;) {
        f.scanned = 0;
        rc = store_messages_each(c->st, &sq, live_row, &f);
        if (rc != TGH_OK || p->bad)
            return rc;
        if (f.scanned < (size_t)sq.limit) {
            *exhausted = true;
            return TGH_OK;
        }
        if (p->n >= (size_t)q->limit)
            return TGH_OK;
        if (q->newest_first)
            sq.before_id = f.last_scanned;
        else
            sq.after_id = f.last_scanned;
        sq.limit = q->limit - (int64_t)p->n;
    }
}

/* {"chat_id":..,"order":..,"source":..,"messages":[..],"next":..[,"deleted":{..}]} */
static void
reply_page(struct api_req *r, const struct store_query *q, const char *order, bool cached,
           struct page *p)
{
    struct api_text t = { 0 };
    char head[160];
    int n;

    n = snprintf(head, sizeof(head),
                 "{\"chat_id\":%" PRId64 ",\"order\":\"%s\",\"source\":\"%s\",\"messages\":[",
                 q->chat_id, order, cached ? "cache" : "store");
    api_text_add(&t, head, (size_t)n);
    api_text_add(&t, p->out.p != NULL ? p->out.p : "", p->out.len);
    if (p->n == (size_t)q->limit)
        n = snprintf(head, sizeof(head), "],\"next\":{\"%s\":%" PRId64 "}",
                     q->newest_first ? "before_id" : "after_id", p->last_id);
    else
        n = snprintf(head, sizeof(head), "],\"next\":null");
    api_text_add(&t, head, (size_t)n);
    if (p->deleted != NULL) {
        char *d = json_dumps(p->deleted, JSON_COMPACT);

        api_text_add(&t, ",\"deleted\":", 11);
        api_text_add(&t, d, strlen(d));
        tgh_free(d); /* jansson allocates with malloc */
    }
    api_text_add(&t, "}", 1);
    api_reply_text_json(r, &t);
}

void
api_h_messages(struct api_req *r)
{
    static const char *const orders[] = { "asc", "desc", NULL };
    struct store_query q = { .chat_id = r->arg[0], .since = MSG_UNSET, .until = MSG_UNSET };
    struct page p = { 0 };
    struct api_conn *c = NULL;
    bool include_deleted = false, cached, exhausted = false;
    int order = 0;
    tgh_err rc = TGH_OK;

    if (!api_param_int(r, "after_id", 0, INT64_MAX - 1, &q.after_id) ||
        !api_param_int(r, "before_id", 0, INT64_MAX - 1, &q.before_id) ||
        !api_param_date(r, "since", &q.since) || !api_param_date(r, "until", &q.until) ||
        !api_param_limit(r, &q.limit) || !api_param_enum(r, "order", orders, &order) ||
        !api_param_bool(r, "include_deleted", &include_deleted))
        return;
    if (q.chat_id == 0) {
        api_reply_error(r, 404, "not_found", "chat 0 is not a chat");
        return;
    }
    q.by_id = true;
    q.newest_first = order == 1;
    if (include_deleted)
        p.deleted = json_object();
    if (!api_conn_get(r, &c))
        goto out;
    cached = messages_from_cache(r, c, &q, &p);
    if (!cached) {
        bool warm =
            warmable(r, c, &q, include_deleted) && cache_warm_begin(c->cache, q.chat_id) == TGH_OK;

        rc = messages_from_store(c, &q, &p, include_deleted, &exhausted);
        if (warm && rc == TGH_OK && !p.bad && exhausted)
            warm_cache(c, &q, &p);
        else if (warm)
            cache_warm_abort(c->cache);
    }
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "messages");
    else if (p.bad)
        api_reply_error(r, 500, "internal", "a stored event is not JSON");
    else
        reply_page(r, &q, orders[order], cached, &p);
out:
    api_text_fini(&p.out);
    json_decref(p.deleted);
}

struct one {
    json_t *o;
    json_t *versions;
    bool bad;
};

static int
one_row(void *arg, const struct store_message_row *m)
{
    struct one *x = arg;
    json_t *ev = event_json(m->event, m->event != NULL ? strlen(m->event) : 0);

    if (ev == NULL) {
        x->bad = true;
        return 1;
    }
    x->o = json_pack("{s:I,s:I,s:I,s:o,s:o,s:o}", "chat_id", (json_int_t)m->chat_id, "message_id",
                     (json_int_t)m->message_id, "date", (json_int_t)m->date, "edit_date",
                     m->edit_date > 0 ? json_integer(m->edit_date) : json_null(), "deleted_at",
                     m->deleted_at > 0 ? json_integer(m->deleted_at) : json_null(), "event", ev);
    return 1;
}

static int
version_row(void *arg, const struct store_message_row *m)
{
    struct one *x = arg;
    json_t *ev = event_json(m->event, m->event != NULL ? strlen(m->event) : 0);

    if (ev == NULL) {
        x->bad = true;
        return 1;
    }
    (void)json_array_append_new(x->versions, ev);
    return 0;
}

void
api_h_message(struct api_req *r)
{
    struct store_query q = { .chat_id = r->arg[0], .since = MSG_UNSET, .until = MSG_UNSET };
    struct one x = { NULL, json_array(), false };
    struct api_conn *c;
    tgh_err rc;

    if (r->arg[0] == 0 || r->arg[1] <= 0) {
        api_reply_error(r, 404, "not_found", "no such message");
        goto out;
    }
    q.after_id = r->arg[1] - 1;
    q.before_id = r->arg[1] + 1;
    q.by_id = true;
    q.limit = 1;
    if (!api_conn_get(r, &c))
        goto out;
    rc = store_messages_each(c->st, &q, one_row, &x);
    if (rc == TGH_OK && x.o != NULL)
        rc = store_versions_each(c->st, r->arg[0], r->arg[1], version_row, &x);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "message");
    else if (x.bad)
        api_reply_error(r, 500, "internal", "a stored event is not JSON");
    else if (x.o == NULL)
        api_reply_error(r, 404, "not_found", "chat %" PRId64 " has no message %" PRId64, r->arg[0],
                        r->arg[1]);
    else {
        (void)json_object_set(x.o, "versions", x.versions);
        api_reply_json(r, 200, x.o);
        x.o = NULL;
    }
out:
    json_decref(x.o);
    json_decref(x.versions);
}

/* ---- search, stats, activity ---- */

static int
search_row(void *arg, const struct store_message_row *m)
{
    json_t *list = arg;
    json_t *o = json_pack("{s:I,s:s?,s:I,s:I,s:s?,s:s?}", "chat_id", (json_int_t)m->chat_id,
                          "chat_title", m->chat_title, "message_id", (json_int_t)m->message_id,
                          "date", (json_int_t)m->date, "sender_name", m->sender_name, "snippet",
                          m->snippet != NULL ? m->snippet : m->text);

    if (o == NULL)
        return 0;
    (void)json_object_set_new(o, "deleted_at",
                              m->deleted_at > 0 ? json_integer(m->deleted_at) : json_null());
    (void)json_array_append_new(list, o);
    return 0;
}

void
api_h_search(struct api_req *r)
{
    struct store_query q = { .chat_id = MSG_UNSET, .since = MSG_UNSET, .until = MSG_UNSET };
    const char *text = api_param(r, "q");
    json_t *list = json_array();
    struct api_conn *c;
    tgh_err rc;

    if (text == NULL || *text == '\0' || strlen(text) > API_QUERY_MAX) {
        api_reply_error(r, 400, "bad_parameter", "q: a search query of 1..%d bytes is needed",
                        API_QUERY_MAX);
        goto out;
    }
    if (!api_param_int(r, "chat", INT64_MIN + 1, INT64_MAX, &q.chat_id) ||
        !api_param_date(r, "since", &q.since) || !api_param_date(r, "until", &q.until) ||
        !api_param_limit(r, &q.limit))
        goto out;
    q.match = text;
    q.newest_first = true;
    if (!api_conn_get(r, &c))
        goto out;
    rc = store_messages_each(c->st, &q, search_row, list);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "search");
        goto out;
    }
    api_reply_json(r, 200, json_pack("{s:s,s:O}", "query", text, "results", list));
out:
    json_decref(list);
}

void
api_h_stats(struct api_req *r)
{
    struct api_conn *c;
    struct store_totals t;
    tgh_err rc;

    if (!api_conn_get(r, &c))
        return;
    rc = store_totals_get(c->st, &t);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "stats");
        return;
    }
    api_reply_json(
        r, 200,
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "chats", (json_int_t)t.chats, "messages",
                  (json_int_t)t.messages, "deleted", (json_int_t)t.deleted, "versions",
                  (json_int_t)t.versions, "dead_letters", (json_int_t)t.dead_letters, "runs",
                  (json_int_t)t.runs, "first_message_at",
                  t.first_date > 0 ? json_integer(t.first_date) : json_null(), "last_message_at",
                  t.last_date > 0 ? json_integer(t.last_date) : json_null(), "size_bytes",
                  t.size_bytes >= 0 ? json_integer(t.size_bytes) : json_null()));
}

struct buckets {
    int64_t *count;
    int64_t since, bucket_s;
    size_t n;
};

static int
bucket_row(void *arg, int64_t start, int64_t count)
{
    struct buckets *b = arg;
    int64_t i = (start - b->since) / b->bucket_s;

    if (i >= 0 && (size_t)i < b->n)
        b->count[i] += count;
    return 0;
}

void
api_h_activity(struct api_req *r)
{
    static const char *const sizes[] = { "hour", "day", NULL };
    int64_t chat = MSG_UNSET, now = (int64_t)time(NULL), since = MSG_UNSET, until = MSG_UNSET;
    struct buckets b = { NULL, 0, 3600, 0 };
    struct api_conn *c;
    int size = 0;
    json_t *list;
    tgh_err rc;

    if (!api_param_int(r, "chat", INT64_MIN + 1, INT64_MAX, &chat) ||
        !api_param_date(r, "since", &since) || !api_param_date(r, "until", &until) ||
        !api_param_enum(r, "bucket", sizes, &size))
        return;
    b.bucket_s = size == 0 ? 3600 : 86400;
    if (until == MSG_UNSET)
        until = now - now % b.bucket_s + b.bucket_s;
    if (since == MSG_UNSET)
        since = until - 48 * b.bucket_s;
    since -= since % b.bucket_s;
    if (until <= since) {
        api_reply_error(r, 400, "bad_parameter", "until must be after since");
        return;
    }
    b.n = (size_t)((until - since + b.bucket_s - 1) / b.bucket_s);
    if (b.n > ACTIVITY_MAX_BUCKETS) {
        api_reply_error(r, 400, "bad_parameter", "at most %d buckets (%zu asked)",
                        ACTIVITY_MAX_BUCKETS, b.n);
        return;
    }
    b.since = since;
    if (!api_conn_get(r, &c))
        return;
    b.count = tgh_calloc(b.n, sizeof(*b.count));
    rc = store_message_buckets(c->st, chat, since, until, b.bucket_s, bucket_row, &b);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "activity");
        tgh_free(b.count);
        return;
    }
    list = json_array();
    for (size_t i = 0; i < b.n; i++)
        (void)json_array_append_new(list, json_pack("{s:I,s:I}", "t",
                                                    (json_int_t)(since + (int64_t)i * b.bucket_s),
                                                    "messages", (json_int_t)b.count[i]));
    tgh_free(b.count);
    api_reply_json(r, 200,
                   json_pack("{s:I,s:I,s:I,s:o}", "bucket_s", (json_int_t)b.bucket_s, "since",
                             (json_int_t)since, "until", (json_int_t)until, "buckets", list));
}
