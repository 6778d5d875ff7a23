/* SPDX-License-Identifier: MIT */
/*
 * bot.c - the archive bot's loop.
 *
 * getUpdates long polls; each page is handled in order: updates that carry
 * no message are counted, messages from outside the whitelist or outside
 * private chats are refused (counted, never answered with data), commands
 * are answered, everything else is mapped (source_botapi_map_message) and
 * committed in one transaction. Parts of an album (media_group_id) are held
 * until TGH_BOT_ALBUM_WAIT_MS passed without a new part, then committed
 * together. Only after a commit is the offset stored (bot_state), and only
 * up to the first update still held, so a crash redelivers what was not
 * stored and loses nothing; while an album is held the poll does not
 * confirm it to Telegram either (its offset stays at the album's first
 * update, and updates already handled are recognised by id). Then files
 * (bot_media.c) and the replies (bot_reply.c).
 */
#define TGH_LOG_SUB "bot"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bot/bot_int.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define PAGE_MAX    100 /* getUpdates limit */
#define BACKOFF_MAX 30000
#define ITEMS_MAX   (PAGE_MAX + 64)
#define CALL_TRIES  5

/* The update types asked for: all of them, so that every kind is counted. */
static const char *const allowed_updates[] = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
};

/* One update held for its album. */
struct held {
    int64_t update_id;
    json_t *update;
    char group[64];
    int64_t deadline_ms; /* of its album: the last part's arrival + the wait */
};

struct loop {
    struct bot *b;
    struct held held[ITEMS_MAX];
    size_t nheld;
    int64_t seen; /* every update below this was handled in this process */
};

/* ---- small things ----------------------------------------------------------- */

static int64_t
now_ms(void)
{
    return pipeline_now_ms();
}

bool
bot_sleep(struct bot *b, int64_t ms)
{
    int64_t end = now_ms() + ms;

    while (b->o->stop == NULL || !*b->o->stop) {
        int64_t left = end - now_ms();
        struct timespec ts;

        if (left <= 0)
            return true;
        if (left > 100)
            left = 100;
        ts.tv_sec = 0;
        ts.tv_nsec = left * 1000000L;
        (void)nanosleep(&ts, NULL);
    }
    return false;
}

static bool
stopping(const struct bot *b)
{
    return b->o->stop != NULL && *b->o->stop;
}

bool
bot_allowed(const struct bot *b, int64_t user_id)
{
    for (size_t i = 0; i < b->nwhite; i++)
        if (b->whitelist[i] == user_id)
            return true;
    return false;
}

tgh_err
bot_whitelist_parse(const char *s, int64_t *ids, size_t max, size_t *n)
{
    const char *p = s;

    *n = 0;
    while (p != NULL && *p != '\0') {
        char *end;
        long long v;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        errno = 0;
        v = strtoll(p, &end, 10);
        if (errno != 0 || end == p || v <= 0 || (*end != '\0' && *end != ',' && *end != ' '))
            return tgh_errf(TGH_EINVAL, "TGH_BOT_WHITELIST: '%.32s' is not a user id", p);
        if (*n == max)
            return tgh_errf(TGH_EINVAL, "TGH_BOT_WHITELIST: more than %zu ids", max);
        ids[(*n)++] = v;
        p = end;
    }
    return TGH_OK;
}

static void
count(const char *family, const char *help, const char *label, const char *value)
{
    const char *v[1] = { value };

    tgh_metric_inc(tgh_metric_counter(family, help, label), label != NULL ? v : NULL);
}

void
bot_count_request(const char *method, tgh_err rc)
{
    const char *v[2] = { method, rc == TGH_OK         ? "ok"
                                 : rc == TGH_EAGAIN   ? "flood_wait"
                                 : rc == TGH_EUNAVAIL ? "unavailable"
                                                      : "error" };

    tgh_metric_inc(tgh_metric_counter("tgh_bot_api_requests_total",
                                      "Bot API requests, by method and outcome (ok, flood_wait, "
                                      "unavailable, error)",
                                      "method,outcome"),
                   v);
}

tgh_err
bot_call(struct bot *b, const char *method, const json_t *params, long timeout_s,
         bool retry_unavailable, json_t **result)
{
    tgh_err rc = TGH_OK;

    for (int i = 0; i < CALL_TRIES; i++) {
        struct source_botapi_error e;

        rc = bot_http_call(b->http, method, params, timeout_s, result, &e);
        bot_count_request(method, rc);
        if (rc == TGH_EAGAIN) {
            b->t->flood_waits++;
            tgh_metric_inc(tgh_metric_counter("tgh_bot_flood_waits_total",
                                              "429 answers of the Bot API, waited out", NULL),
                           NULL);
        } else if (rc != TGH_EUNAVAIL || !retry_unavailable) {
            break;
        }
        if (!bot_sleep(b, rc == TGH_EAGAIN ? (e.retry_after > 0 ? e.retry_after : 1) * 1000
                                           : 500L << i))
            break;
    }
    return rc;
}

static void
count_refused(struct bot *b, const char *reason)
{
    b->t->refused++;
    count("tgh_bot_refused_total",
          "messages the bot did not archive: not_whitelisted, not_private, business", "reason",
          reason);
}

/* ---- an update -------------------------------------------------------------- */

struct page {
    struct msg_batch batch;
    struct bot_item items[ITEMS_MAX];
    size_t nitems;
    int64_t last_type_id; /* the update whose type is recorded as the last */
    const char *last_type;
    json_t *cmds[PAGE_MAX]; /* commands of the page, answered after its commit */
    size_t ncmds;
};

static void
dead_letter(struct bot *b, const struct source_botapi_update *u, const json_t *v,
            const char *reason)
{
    char *payload = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char origin[160], position[64];
    struct store_dead_letter dl = {
        .source = "botapi",
        .origin = origin,
        .position = position,
        .reason = reason,
        .payload = payload != NULL ? payload : "",
        .payload_len = payload != NULL ? strlen(payload) : 0,
    };

    (void)snprintf(origin, sizeof(origin), "bot @%s", b->username);
    (void)snprintf(position, sizeof(position), "update %" PRId64, u->update_id);
    if (dl.payload_len > 64 * 1024)
        dl.payload_len = 64 * 1024;
    if (store_dead_letter_add(b->st, &dl) != TGH_OK)
        log_error("update %" PRId64 ": dead letter not recorded: %s", u->update_id, tgh_errmsg());
    tgh_free(payload); /* json_dumps uses malloc */
}

/* The user a message comes from: from.id, else (a channel post) 0. */
static int64_t
sender_user(const json_t *msg)
{
    const json_t *id = json_object_get(json_object_get(msg, "from"), "id");

    return json_is_integer(id) ? json_integer_value(id) : 0;
}

/* A message-bearing update of the page into the batch, or refused, or a command. */
static void
take_message(struct bot *b, struct page *pg, const struct source_botapi_update *u)
{
    const json_t *msg = u->payload, *chat = json_object_get(msg, "chat");
    const char *ctype = json_string_value(json_object_get(chat, "type"));
    int64_t user = sender_user(msg), chat_id = json_integer_value(json_object_get(chat, "id"));
    int64_t mid = json_integer_value(json_object_get(msg, "message_id"));
    struct msg_event *ev;
    struct bot_item *it;
    char why[512];

    if (u->is_business) {
        count_refused(b, "business");
        return;
    }
    if (ctype == NULL || strcmp(ctype, "private") != 0) {
        count_refused(b, "not_private"); /* a group or channel the bot was added to */
        return;
    }
    if (!bot_allowed(b, user) || user != chat_id) {
        count_refused(b, "not_whitelisted");
        log_info("update %" PRId64 ": user %" PRId64 " is not whitelisted", u->update_id, user);
        return;
    }
    if (!u->is_edit && bot_is_command(msg)) {
        /* answered after the page is committed, so that it sees the page */
        if (pg->ncmds < PAGE_MAX)
            pg->cmds[pg->ncmds++] = json_incref((json_t *)msg);
        b->t->commands++;
        return;
    }
    if (pg->nitems == ITEMS_MAX || pg->batch.n == pg->batch.cap)
        return; /* cannot happen: a page is at most PAGE_MAX plus the held parts */
    ev = msg_batch_push(&pg->batch);
    if (source_botapi_map_message(msg, (int64_t)time(NULL), &pg->batch.arena, ev) != TGH_OK ||
        codec_event_finalize(ev) != TGH_OK) {
        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        msg_batch_pop(&pg->batch);
        log_warn("update %" PRId64 ": not archived: %s", u->update_id, why);
        dead_letter(b, u, u->payload, why);
        {
            char text[700];

            (void)snprintf(text, sizeof(text), "Could not archive this message: %s", why);
            bot_send(b, chat_id, mid, text);
        }
        return;
    }
    it = &pg->items[pg->nitems++];
    memset(it, 0, sizeof(*it));
    it->chat_id = chat_id;
    it->message_id = mid;
    it->user_id = user;
    it->album_id = ev->album_id;
    it->kind = ev->media != NULL ? ev->media->kind : NULL;
    it->size = ev->media != NULL && ev->media->size_bytes > 0 ? ev->media->size_bytes : 0;
    it->is_edit = u->is_edit;
}

static void
take_update(struct bot *b, struct page *pg, const json_t *v)
{
    struct source_botapi_update u;

    if (source_botapi_update_parse(v, &u) != TGH_OK) {
        char why[512];

        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        log_warn("an update not read: %s", why);
        u.update_id = json_integer_value(json_object_get(v, "update_id"));
        dead_letter(b, &u, v, why);
        count("tgh_bot_updates_total", "updates read, by type", "type", "malformed");
        return;
    }
    b->t->updates++;
    count("tgh_bot_updates_total", "updates read, by type", "type", u.type);
    pg->last_type = u.type;
    if (u.cls == SOURCE_BOTAPI_SKIPPED) {
        b->t->skipped++;
        return;
    }
    if (u.cls == SOURCE_BOTAPI_DELETES) {
        count_refused(b, "business");
        return;
    }
    take_message(b, pg, &u);
}

/* ---- duplicates ------------------------------------------------------------- */

/* Is the forwarded post itself in the archive (collected from its chat)? */
static int
found_one(void *arg, const struct store_message_row *row)
{
    (void)row;
    *(bool *)arg = true;
    return 1;
}

static void
check_duplicate(struct bot *b, const struct msg_event *ev, struct bot_item *it)
{
    struct store_bot_item first;
    char key[128];
    bool is_new = false;

    if (ev->forward_from_id != MSG_UNSET && ev->forward_message_id != MSG_UNSET) {
        struct store_query q = {
            .chat_id = ev->forward_from_id,
            .since = MSG_UNSET,
            .until = MSG_UNSET,
            .limit = 1,
            .after_id = ev->forward_message_id - 1,
            .before_id = ev->forward_message_id + 1,
        };

        (void)snprintf(key, sizeof(key), "fwd:%" PRId64 ":%" PRId64, ev->forward_from_id,
                       ev->forward_message_id);
        if (store_messages_each(b->st, &q, found_one, &it->original_known) != TGH_OK)
            log_warn("the original of a forward not looked up: %s", tgh_errmsg());
    } else {
        (void)snprintf(key, sizeof(key), "hash:%" PRId64 ":%s", it->user_id, ev->content_hash);
    }
    if (store_bot_item_put(b->st, key, it->chat_id, it->message_id, &is_new, &first) != TGH_OK) {
        log_warn("message %" PRId64 ": not recorded as an item: %s", it->message_id, tgh_errmsg());
        return;
    }
    if (!is_new && !(first.chat_id == it->chat_id && first.message_id == it->message_id)) {
        it->duplicate = true;
        it->first_chat = first.chat_id;
        it->first_message = first.message_id;
        it->first_at = first.created_at;
        b->t->duplicates++;
        count("tgh_bot_duplicates_total",
              "messages whose content the bot had archived before (forwarded twice)", NULL, NULL);
    }
}

/* ---- a page: commit, offset, files, replies --------------------------------- */

static int64_t
durable_offset(const struct loop *l)
{
    int64_t off = l->seen;

    for (size_t i = 0; i < l->nheld; i++)
        if (l->held[i].update_id < off)
            off = l->held[i].update_id;
    return off;
}

static tgh_err
store_offset(struct loop *l, const char *last_type)
{
    struct bot *b = l->b;
    struct store_bot_state s = {
        .bot_id = b->id,
        .username = b->username,
        .next_update_id = durable_offset(l),
        .last_update_type = last_type,
        .last_update_at = last_type != NULL ? (int64_t)time(NULL) : 0,
    };
    tgh_err rc;

    if (s.next_update_id <= b->next_update_id && last_type == NULL)
        return TGH_OK;
    if ((rc = store_bot_state_put(b->st, &s)) != TGH_OK)
        return rc;
    b->next_update_id = s.next_update_id;
    b->t->next_update_id = s.next_update_id;
    if (last_type != NULL)
        tgh_metric_set(tgh_metric_gauge("tgh_bot_last_update_timestamp_seconds",
                                        "when the bot last stored an update", NULL),
                       NULL, (double)s.last_update_at);
    return TGH_OK;
}

/* Commit the page's events; then items, offset, files, replies. */
static tgh_err
finish_page(struct loop *l, struct page *pg)
{
    struct bot *b = l->b;
    enum store_change changes[ITEMS_MAX];
    struct store_stats stats = { 0 };
    size_t i, j;
    tgh_err rc;

    if (pg->batch.n > 0 && (rc = store_batch_commit_changes(b->st, pg->batch.ev, pg->batch.n,
                                                            &stats, changes)) != TGH_OK)
        return rc; /* nothing is confirmed: the same page comes again */
    pipeline_metrics_commit(pg->batch.ev, changes, pg->batch.n, 0);
    for (i = 0; i < pg->batch.n; i++) {
        struct bot_item *it = &pg->items[i];

        it->change = changes[i];
        if (changes[i] == STORE_CHANGE_NEW || changes[i] == STORE_CHANGE_EDIT) {
            b->t->archived++;
            count("tgh_bot_archived_total", "messages archived by the bot, by media kind", "kind",
                  it->kind != NULL ? it->kind : "text");
        }
        if (!it->is_edit)
            check_duplicate(b, &pg->batch.ev[i], it);
    }
    if ((rc = store_offset(l, pg->last_type)) != TGH_OK)
        return rc;
    for (i = 0; i < pg->batch.n && !stopping(b); i++)
        if (pg->batch.ev[i].media != NULL && !pg->items[i].is_edit)
            bot_media_item(b, &pg->batch.ev[i], &pg->items[i]);
    /* one reply per message, or per album */
    for (i = 0; i < pg->batch.n; i = j) {
        j = i + 1;
        if (pg->items[i].album_id != MSG_UNSET)
            while (j < pg->batch.n && pg->items[j].album_id == pg->items[i].album_id &&
                   pg->items[j].chat_id == pg->items[i].chat_id)
                j++;
        if (!pg->items[i].is_edit)
            bot_reply_items(b, &pg->items[i], j - i);
    }
    for (i = 0; i < pg->ncmds; i++) {
        const json_t *chat = json_object_get(pg->cmds[i], "chat");

        (void)bot_command(b, pg->cmds[i], json_integer_value(json_object_get(chat, "id")),
                          json_integer_value(json_object_get(pg->cmds[i], "message_id")));
    }
    return TGH_OK;
}

static void
page_free(struct page *pg)
{
    for (size_t i = 0; i < pg->ncmds; i++)
        json_decref(pg->cmds[i]);
    msg_batch_fini(&pg->batch);
    tgh_free(pg);
}

/* ---- albums ----------------------------------------------------------------- */

static bool
is_held(const struct loop *l, int64_t update_id)
{
    for (size_t i = 0; i < l->nheld; i++)
        if (l->held[i].update_id == update_id)
            return true;
    return false;
}

/* Hold v when it is a part of an album from a whitelisted private chat; true if held. */
static bool
hold(struct loop *l, const json_t *v, int64_t update_id)
{
    const json_t *msg = json_object_get(v, "message");
    const char *group = json_string_value(json_object_get(msg, "media_group_id"));
    int64_t deadline = now_ms() + l->b->cfg->bot_album_wait_ms;

    if (group == NULL || l->nheld == PAGE_MAX || strlen(group) >= sizeof(l->held[0].group))
        return false;
    for (size_t i = 0; i < l->nheld; i++)
        if (strcmp(l->held[i].group, group) == 0)
            l->held[i].deadline_ms = deadline; /* the album is still arriving */
    l->held[l->nheld].update_id = update_id;
    l->held[l->nheld].update = json_incref((json_t *)v);
    (void)snprintf(l->held[l->nheld].group, sizeof(l->held[0].group), "%s", group);
    l->held[l->nheld].deadline_ms = deadline;
    l->nheld++;
    return true;
}

/* Albums whose wait is over (all of them when flush) into the page, in update order. */
static void
release_albums(struct loop *l, struct page *pg, bool flush)
{
    int64_t now = now_ms();
    size_t i = 0;

    while (i < l->nheld) {
        if (flush || l->held[i].deadline_ms <= now) {
            take_update(l->b, pg, l->held[i].update);
            json_decref(l->held[i].update);
            memmove(&l->held[i], &l->held[i + 1], (l->nheld - i - 1) * sizeof(l->held[0]));
            l->nheld--;
        } else {
            i++;
        }
    }
}

static int64_t
next_deadline(const struct loop *l)
{
    int64_t d = INT64_MAX;

    for (size_t i = 0; i < l->nheld; i++)
        if (l->held[i].deadline_ms < d)
            d = l->held[i].deadline_ms;
    return d;
}

/* ---- the loop --------------------------------------------------------------- */

static tgh_err
handle_page(struct loop *l, const json_t *result)
{
    struct page *pg = tgh_calloc(1, sizeof(*pg));
    size_t i;
    json_t *v;
    tgh_err rc;

    msg_batch_init(&pg->batch, ITEMS_MAX);
    json_array_foreach (result, i, v) {
        json_t *idv = json_object_get(v, "update_id");
        int64_t id = json_is_integer(idv) ? json_integer_value(idv) : -1;

        if (id >= 0 && (id < l->seen || is_held(l, id)))
            continue; /* handled, or held, already: the poll did not confirm it */
        if (id >= l->seen)
            l->seen = id + 1;
        if (!hold(l, v, id))
            take_update(l->b, pg, v);
    }
    release_albums(l, pg, false);
    rc = finish_page(l, pg);
    if (rc != TGH_OK)
        l->seen = l->b->next_update_id; /* read it all again */
    page_free(pg);
    return rc;
}

/* The rest of a held album after a stop: committed, or left for the next run. */
static void
flush_albums(struct loop *l)
{
    struct page *pg;

    if (l->nheld == 0)
        return;
    pg = tgh_calloc(1, sizeof(*pg));
    msg_batch_init(&pg->batch, ITEMS_MAX);
    release_albums(l, pg, true);
    if (finish_page(l, pg) != TGH_OK)
        log_warn("held album not stored (the next run gets it again): %s", tgh_errmsg());
    page_free(pg);
}

static tgh_err
poll_once(struct loop *l, bool *empty)
{
    struct bot *b = l->b;
    struct source_botapi_error e;
    json_t *params, *types = json_array(), *result = NULL;
    int64_t timeout = b->o->once ? 0 : b->cfg->bot_poll_timeout;
    int64_t offset = l->nheld > 0 ? durable_offset(l) : l->seen;
    tgh_err rc;

    if (l->nheld > 0) {
        int64_t left = next_deadline(l) - now_ms();

        timeout = left <= 0 ? 0 : (left + 999) / 1000;
    }
    for (size_t i = 0; i < TGH_NELEM(allowed_updates); i++)
        (void)json_array_append_new(types, json_string(allowed_updates[i]));
    params = json_pack("{sI sI si so}", "offset", (json_int_t)offset, "timeout",
                       (json_int_t)timeout, "limit", PAGE_MAX, "allowed_updates", types);
    rc = bot_http_call(b->http, "getUpdates", params, (long)timeout + 15, &result, &e);
    json_decref(params);
    bot_count_request("getUpdates", rc);
    if (rc == TGH_OK) {
        *empty = json_array_size(result) == 0;
        if (!json_is_array(result))
            rc = tgh_errf(TGH_EPROTO, "getUpdates: the result is not an array");
        else
            rc = handle_page(l, result);
    } else if (rc == TGH_EAGAIN) {
        b->t->flood_waits++;
        tgh_metric_inc(tgh_metric_counter("tgh_bot_flood_waits_total",
                                          "429 answers of the Bot API, waited out", NULL),
                       NULL);
        log_warn("getUpdates: flood wait %" PRId64 " s", e.retry_after);
        (void)bot_sleep(b, (e.retry_after > 0 ? e.retry_after : 1) * 1000);
        rc = TGH_OK;
        *empty = false;
    }
    json_decref(result);
    return rc;
}

static tgh_err
get_me(struct bot *b)
{
    json_t *me = NULL;
    int64_t backoff = 500;
    tgh_err rc;

    for (;;) {
        struct source_botapi_error e;

        rc = bot_http_call(b->http, "getMe", NULL, 30, &me, &e);
        if (rc == TGH_OK)
            break;
        if (rc != TGH_EAGAIN && rc != TGH_EUNAVAIL)
            return rc; /* 401: a wrong token never gets better */
        log_warn("%s; again in %" PRId64 " ms", tgh_errmsg(), backoff);
        if (!bot_sleep(b, rc == TGH_EAGAIN && e.retry_after > 0 ? e.retry_after * 1000 : backoff))
            return tgh_errf(TGH_EAGAIN, "stopped before the Bot API answered");
        backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
    }
    b->id = json_integer_value(json_object_get(me, "id"));
    (void)snprintf(b->username, sizeof(b->username), "%s",
                   json_string_value(json_object_get(me, "username")) != NULL
                       ? json_string_value(json_object_get(me, "username"))
                       : "bot");
    json_decref(me);
    if (b->id <= 0)
        return tgh_errf(TGH_EPROTO, "getMe: no bot id in the answer");
    return TGH_OK;
}

static tgh_err
open_all(struct bot *b)
{
    const struct tgh_config *cfg = b->cfg;
    struct store_bot_state s;
    tgh_err rc;

    if ((rc = bot_whitelist_parse(cfg->bot_whitelist, b->whitelist, BOT_WHITELIST_MAX,
                                  &b->nwhite)) != TGH_OK ||
        (rc = bot_http_open(cfg->bot_api_url, cfg->archive_bot_token, &b->http)) != TGH_OK ||
        (rc = media_policy_init(&b->policy, cfg->media_kinds, cfg->media_max_size,
                                cfg->media_history, cfg->media_thumbs)) != TGH_OK)
        return rc;
    if (b->nwhite == 0)
        log_warn("TGH_BOT_WHITELIST is empty: every message is refused");
    if ((rc = store_open(cfg->store_url, &b->st)) != TGH_OK)
        return rc;
    if (!media_url_is_off(cfg->media_url) && (rc = media_open(cfg->media_url, &b->ms)) != TGH_OK)
        return tgh_errf(rc, "TGH_MEDIA: %s", tgh_errmsg());
    (void)snprintf(b->data_dir, sizeof(b->data_dir), "%s/bot", cfg->data_dir);
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST)
        return tgh_errf(TGH_EIO, "%s: %s", cfg->data_dir, strerror(errno));
    if (mkdir(b->data_dir, 0700) != 0 && errno != EEXIST)
        return tgh_errf(TGH_EIO, "%s: %s", b->data_dir, strerror(errno));
    if ((rc = get_me(b)) != TGH_OK)
        return rc;
    rc = store_bot_state_get(b->st, b->id, &s);
    if (rc != TGH_OK && rc != TGH_ENOTFOUND)
        return rc;
    b->next_update_id = s.next_update_id;
    b->t->next_update_id = s.next_update_id;
    return store_bot_state_put(
        b->st, &(struct store_bot_state){
                   .bot_id = b->id, .username = b->username, .next_update_id = s.next_update_id });
}

tgh_err
bot_run(const struct bot_opts *o, struct bot_totals *t)
{
    struct bot *b = tgh_calloc(1, sizeof(*b));
    struct loop *l = tgh_calloc(1, sizeof(*l));
    int64_t backoff = 500;
    bool empty = false;
    tgh_err rc;

    memset(t, 0, sizeof(*t));
    b->o = o;
    b->cfg = o->cfg;
    b->t = t;
    b->retry = (struct pipeline_media_retry){
        .max_attempts = (int)o->cfg->media_attempts,
        .base_s = o->cfg->media_retry_s,
        .cap_s = 3600,
    };
    l->b = b;
    rc = open_all(b);
    if (rc == TGH_OK) {
        log_info("@%s (%" PRId64 "): %zu whitelisted, offset %" PRId64, b->username, b->id,
                 b->nwhite, b->next_update_id);
        l->seen = b->next_update_id;
        bot_media_load_notices(b);
        bot_media_resume(b);
        bot_media_gauges(b, true);
    }
    while (rc == TGH_OK && !stopping(b)) {
        tgh_err prc = poll_once(l, &empty);

        bot_media_notices(b);
        bot_media_gauges(b, false);
        if (prc == TGH_OK) {
            backoff = 500;
            if (o->once && empty && l->nheld == 0)
                break;
            continue;
        }
        if (prc == TGH_EINVAL || prc == TGH_ENOTFOUND) {
            rc = prc; /* 401 Unauthorized, 409 Conflict (a webhook is set): permanent */
            break;
        }
        log_warn("%s; again in %" PRId64 " ms", tgh_errmsg(), backoff);
        if (o->once && backoff >= BACKOFF_MAX) {
            rc = prc;
            break;
        }
        (void)bot_sleep(b, backoff);
        backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
    }
    if (rc == TGH_OK)
        flush_albums(l);
    else if (b->st != NULL) {
        char msg[512];

        (void)snprintf(msg, sizeof(msg), "%s", tgh_errmsg());
        flush_albums(l);
        (void)tgh_errf(rc, "%s", msg);
    }
    for (size_t i = 0; i < l->nheld; i++)
        json_decref(l->held[i].update);
    tgh_free(b->notices);
    media_close(b->ms);
    store_close(b->st);
    bot_http_close(b->http);
    tgh_free(b);
    tgh_free(l);
    return rc;
}
