/* SPDX-License-Identifier: MIT */
/*
 * api_sse.c - the live stream: server-sent events read from the feed. Each
 * client has its own position; its reader runs on the connection's own
 * thread (libmicrohttpd's thread per connection), so it may block on the
 * feed for a while. A client that resumes after items the feed no longer
 * holds is told with an explicit "gap" event, never silently.
 *
 * In `serve` the feed is filled from the Redis stream telegram:events by a
 * subscriber thread (cache_events_read), keeping Redis's ids, so every API
 * server gives the same ids and a client can resume on any of them.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "api/api_routes_int.h"
#include "cache/cache.h"
#include "core/alloc.h"
#include "core/time.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"

#define READ_MAX     32  /* feed items taken at once */
#define WAIT_MS      250 /* a reader checks for shutdown this often */
#define KINDS_ALL    7
#define SUB_BLOCK_MS 400 /* below the cache's socket timeout */

struct stream {
    struct api_server *srv;
    struct tgh_feed_pos pos;
    struct tgh_feed_id last; /* the newest id this client has (sent, or its Last-Event-ID) */
    struct api_stream_filter f;
    struct api_text out; /* formatted frames */
    size_t out_off;      /* bytes of out already sent */
    int64_t last_write;
    int keepalive_s;
};

/* Frames go after what is pending; the buffer starts over once all was sent. */
static void
out_add(struct stream *st, const char *s, size_t len)
{
    if (st->out_off > 0 && st->out_off == st->out.len) {
        st->out_off = 0;
        st->out.len = 0;
    }
    api_text_add(&st->out, s, len);
}

static bool
wanted(const struct stream *st, const struct tgh_feed_item *it)
{
    unsigned bit = strcmp(it->kind, "new") == 0 ? 1u : strcmp(it->kind, "edit") == 0 ? 2u : 4u;

    if ((st->f.kinds & bit) == 0)
        return false;
    if (st->f.nchats == 0)
        return true;
    for (size_t i = 0; i < st->f.nchats; i++)
        if (st->f.chats[i] == it->chat_id)
            return true;
    return false;
}

static void
out_item(struct stream *st, const struct tgh_feed_item *it)
{
    char head[96];
    int n;

    tgh_feed_id_format(&it->id, head + 4, sizeof(head) - 4);
    memcpy(head, "id: ", 4);
    n = (int)strlen(head);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\nevent: message\ndata: ");
    out_add(st, head, (size_t)n);
    /* The data is compact JSON: no newline can end the field early. */
    out_add(st, it->data, it->len);
    out_add(st, "\n\n", 2);
}

static void
out_gap(struct stream *st, const char *after)
{
    char line[160];
    int n = snprintf(line, sizeof(line), "event: gap\ndata: {\"missed_after\":\"%s\"}\n\n", after);

    out_add(st, line, (size_t)n);
}

/* Fill st->out from the feed, waiting up to WAIT_MS; false when the feed closed. */
static bool
fill(struct stream *st)
{
    struct tgh_feed_item items[READ_MAX];
    size_t n = 0;
    tgh_err rc;

    rc = tgh_feed_read(st->srv->feed, &st->pos, 0, items, READ_MAX, WAIT_MS, &n);
    if (rc == TGH_ECONFLICT) {
        char id[48];

        tgh_feed_id_format(&st->last, id, sizeof(id));
        out_gap(st, id);
        return true;
    }
    if (rc != TGH_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        /* Ids only grow: a server behind the client's Last-Event-ID sends nothing twice. */
        if (tgh_feed_id_cmp(&items[i].id, &st->last) > 0) {
            if (wanted(st, &items[i]))
                out_item(st, &items[i]);
            st->last = items[i].id;
        }
        tgh_feed_item_fini(&items[i]);
    }
    return true;
}

static ssize_t
reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;

    (void)pos;
    while (st->out_off == st->out.len) {
        int64_t now = (int64_t)time(NULL);

        if (atomic_load(&st->srv->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (now - st->last_write >= st->keepalive_s) {
            out_add(st, ": keep-alive\n\n", 14);
            break;
        }
        if (!fill(st))
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    {
        size_t n = st->out.len - st->out_off;

        if (n > max)
            n = max;
        memcpy(buf, st->out.p + st->out_off, n);
        st->out_off += n;
        st->last_write = (int64_t)time(NULL);
        return (ssize_t)n;
    }
}

static void
stream_free(void *cls)
{
    struct stream *st = cls;

    atomic_fetch_sub(&st->srv->streams, 1);
    api_text_fini(&st->out);
    tgh_free(st);
}

tgh_err
api_stream_filter_parse(const char *chats, const char *kinds, struct api_stream_filter *out)
{
    char tok[32];

    memset(out, 0, sizeof(*out));
    out->kinds = KINDS_ALL;
    for (const char *p = chats; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, ",");

        if (len == 0 || len >= sizeof(tok) || out->nchats == API_STREAM_CHATS)
            return tgh_errf(TGH_EINVAL, "chat: up to %d chat ids, comma-separated",
                            API_STREAM_CHATS);
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (tgh_int_parse(tok, INT64_MIN + 1, INT64_MAX, &out->chats[out->nchats]) != TGH_OK ||
            out->chats[out->nchats] == 0)
            return tgh_errf(TGH_EINVAL, "chat: '%s' is not a chat id", tok);
        out->nchats++;
        p += len + (p[len] == ',');
    }
    if (kinds == NULL)
        return TGH_OK;
    out->kinds = 0;
    for (const char *p = kinds; *p != '\0';) {
        size_t len = strcspn(p, ",");

        if (len == 3 && strncmp(p, "new", 3) == 0)
            out->kinds |= 1u;
        else if (len == 4 && strncmp(p, "edit", 4) == 0)
            out->kinds |= 2u;
        else if (len == 6 && strncmp(p, "delete", 6) == 0)
            out->kinds |= 4u;
        else
            return tgh_errf(TGH_EINVAL, "kinds: a comma-separated list of new, edit, delete");
        p += len + (p[len] == ',');
    }
    if (out->kinds == 0)
        return tgh_errf(TGH_EINVAL, "kinds: a comma-separated list of new, edit, delete");
    return TGH_OK;
}

void
api_h_stream(struct api_req *r)
{
    struct api_server *s = r->srv;
    struct stream *st = tgh_calloc(1, sizeof(*st));
    const char *last = api_header(r, "Last-Event-ID");
    struct MHD_Response *resp;

    st->srv = s;
    st->keepalive_s = s->cfg->http_timeout / 2 < API_SSE_KEEPALIVE
                          ? (int)(s->cfg->http_timeout / 2 > 0 ? s->cfg->http_timeout / 2 : 1)
                          : API_SSE_KEEPALIVE;
    if (last == NULL || *last == '\0')
        last = api_param(r, "last_event_id");
    if (api_stream_filter_parse(api_param(r, "chat"), api_param(r, "kinds"), &st->f) != TGH_OK) {
        api_reply_error(r, 400, "bad_parameter", "%s", tgh_errmsg());
        goto fail;
    }
    out_add(st, "retry: 2000\n\n", 13);
    if (last != NULL && *last != '\0') {
        struct tgh_feed_id id;

        if (tgh_feed_id_parse(last, &id) != TGH_OK) {
            api_reply_error(r, 400, "bad_parameter", "Last-Event-ID: %s", tgh_errmsg());
            goto fail;
        }
        st->last = id;
        if (!tgh_feed_pos_after(s->feed, &id, &st->pos)) {
            char buf[48];

            tgh_feed_id_format(&id, buf, sizeof(buf));
            out_gap(st, buf);
        }
    } else {
        tgh_feed_pos_tail(s->feed, &st->pos);
    }
    if (atomic_fetch_add(&s->streams, 1) >= s->cfg->stream_max_clients) {
        atomic_fetch_sub(&s->streams, 1);
        api_reply_error(r, 503, "unavailable", "%" PRId64 " stream clients already",
                        s->cfg->stream_max_clients);
        goto fail;
    }
    st->last_write = (int64_t)time(NULL);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, st, stream_free);
    if (resp == NULL) {
        stream_free(st);
        api_reply_error(r, 500, "internal", "cannot start the stream");
        return;
    }
    (void)MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
    (void)MHD_add_response_header(resp, "Cache-Control", "no-store");
    (void)MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    r->resp = resp;
    r->status = 200;
    return;
fail:
    api_text_fini(&st->out);
    tgh_free(st);
}

/* ---- the Redis subscriber (serve) ---- */

struct sub {
    struct api_server *srv;
    bool has_first; /* the tail's oldest entry, the feed's horizon */
    struct tgh_feed_id first;
};

static int
sub_item(void *arg, const char *id, int64_t chat_id, const char *kind, const char *data, size_t len)
{
    struct sub *sb = arg;
    struct tgh_feed_id fid;

    if (tgh_feed_id_parse(id, &fid) != TGH_OK)
        return 0;
    if (!sb->has_first) {
        sb->first = fid;
        sb->has_first = true;
    }
    /* An id at or below the last one is a repeat after a reconnect: the feed refuses it. */
    if (tgh_feed_append(sb->srv->feed, &fid, chat_id, kind, data, len, NULL) != TGH_OK)
        log_debug("stream: %s not appended: %s", id, tgh_errmsg());
    return 0;
}

/*
 * Load what Redis holds first, so a client can resume across a restart of
 * this server; until that worked nothing is read (reading from 0-0 would
 * replay the whole stream as new).
 */
static bool
sub_load(struct sub *sb, struct cache *c, char *last, size_t cap)
{
    struct api_server *s = sb->srv;
    struct tgh_feed_id zero = { 0, 0 };

    while (!atomic_load(&s->stopping)) {
        if (cache_events_tail(c, (size_t)s->cfg->stream_buffer, sub_item, sb, last, cap) ==
            TGH_OK) {
            tgh_feed_set_horizon(s->feed, sb->has_first ? &sb->first : &zero);
            return true;
        }
        (void)usleep(500 * 1000);
    }
    return false;
}

static void *
sub_main(void *arg)
{
    struct api_server *s = arg;
    struct sub sb = { .srv = s };
    struct cache *c = NULL;
    char last[48] = "0-0";
    bool was_up = false;

    if (cache_open(s->cfg->cache_url, &c) != TGH_OK) {
        log_error("stream: %s", tgh_errmsg());
        return NULL;
    }
    if (sub_load(&sb, c, last, sizeof(last))) {
        atomic_store(&s->sub_up, true);
        was_up = true;
        log_info("stream: following Redis");
    }
    while (!atomic_load(&s->stopping)) {
        tgh_err rc = cache_events_read(c, last, SUB_BLOCK_MS, sub_item, &sb, last, sizeof(last));
        bool up = rc == TGH_OK;

        atomic_store(&s->sub_up, up);
        if (up && !was_up)
            log_info("stream: following Redis again");
        else if (!up && was_up)
            log_warn("stream: Redis unreachable: %s", tgh_errmsg());
        was_up = up;
        if (!up)
            (void)usleep(200 * 1000);
    }
    cache_close(c);
    return NULL;
}

tgh_err
api_sub_start(struct api_server *s)
{
    atomic_store(&s->has_sub, true);
    if (pthread_create(&s->sub_thread, NULL, sub_main, s) != 0) {
        atomic_store(&s->has_sub, false);
        return tgh_errf(TGH_EAGAIN, "cannot start the stream subscriber thread");
    }
    return TGH_OK;
}

void
api_sub_stop(struct api_server *s)
{
    if (!atomic_load(&s->has_sub))
        return;
    (void)pthread_join(s->sub_thread, NULL);
    atomic_store(&s->has_sub, false);
}
