/* SPDX-License-Identifier: MIT */
/*
 * bot_reply.c - what the archive bot says: the reply to each archived
 * message or album (kind, size, where its file went, duplicates), and the
 * commands /start, /help, /status, /jobs, /retry ID and /stats, answered
 * from the store. Only whitelisted users in private chats get here.
 */
#define TGH_LOG_SUB "bot"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bot/bot_int.h"
#include "core/log.h"
#include "core/util.h"

#define TEXT_MAX 3500 /* below Telegram's 4096 characters */

void
bot_send(struct bot *b, int64_t chat_id, int64_t reply_to, const char *text)
{
    json_t *p = json_pack("{sI ss}", "chat_id", (json_int_t)chat_id, "text", text);
    tgh_err rc = TGH_OK;

    if (reply_to > 0)
        (void)json_object_set_new(p, "reply_parameters",
                                  json_pack("{sI sb}", "message_id", (json_int_t)reply_to,
                                            "allow_sending_without_reply", 1));
    rc = bot_call(b, "sendMessage", p, 30, true, NULL);
    if (rc != TGH_OK)
        log_warn("reply to chat %" PRId64 " not sent: %s", chat_id, tgh_errmsg());
    json_decref(p);
}

/* ---- text ------------------------------------------------------------------- */

struct text {
    char s[TEXT_MAX + 1];
    size_t len;
};

static void add(struct text *t, const char *fmt, ...) TGH_PRINTF(2, 3);

static void
add(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->len >= TEXT_MAX)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->s + t->len, TEXT_MAX + 1 - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < TEXT_MAX - t->len ? (size_t)n : TEXT_MAX - t->len;
}

static const char *
human_size(int64_t n, char *buf, size_t cap)
{
    if (n >= 10 * 1000 * 1000)
        (void)snprintf(buf, cap, "%" PRId64 " MB", n / 1000000);
    else if (n >= 10 * 1000)
        (void)snprintf(buf, cap, "%" PRId64 " kB", n / 1000);
    else
        (void)snprintf(buf, cap, "%" PRId64 " bytes", n);
    return buf;
}

static const char *
utc(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
        return "never";
    (void)strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

void
bot_reply_items(struct bot *b, const struct bot_item *it, size_t n)
{
    struct text t = { .len = 0 };
    char sz[32], when[32];

    if (n > 1)
        add(&t, "Archived an album of %zu.\n", n);
    for (size_t i = 0; i < n; i++) {
        const struct bot_item *x = &it[i];

        add(&t, "%s%s", n > 1 ? "- " : "Archived: ", x->kind != NULL ? x->kind : "text");
        if (x->size > 0)
            add(&t, ", %s", human_size(x->size, sz, sizeof(sz)));
        add(&t, " (message %" PRId64 ")", x->message_id);
        if (x->change == STORE_CHANGE_NONE && !x->duplicate)
            add(&t, ", already archived");
        if (x->duplicate)
            add(&t, ". Duplicate: the same post was archived before as message %" PRId64 " on %s",
                x->first_message, utc(x->first_at, when, sizeof(when)));
        if (x->original_known)
            add(&t, ". The original post is in the archive too (collected from its chat)");
        if (x->job_note[0] != '\0')
            add(&t, ". %s", x->job_note);
        add(&t, ".\n");
    }
    bot_send(b, it[0].chat_id, it[0].message_id, t.s);
}

/* ---- commands --------------------------------------------------------------- */

static const char help_text[] =
    "Forward me messages and I archive them with their media and where they came from.\n"
    "/status - the archive, the download queue and the last update\n"
    "/jobs - the last files and what became of them\n"
    "/retry ID - try a failed file again\n"
    "/stats - what is archived from this chat\n"
    "/help - this text";

struct jobs_ctx {
    struct text *t;
    int64_t n[STORE_JOB_STATES], bytes[STORE_JOB_STATES];
    int listed, max;
    bool found; /* /retry: the job of this id is in this chat */
    bool found_relay, found_retriable;
    int64_t found_message;
    int64_t want_id;
    char kinds[512];
};

static int
on_job(void *arg, const struct store_media_job *j)
{
    struct jobs_ctx *c = arg;
    char sz[32];

    c->n[j->state]++;
    c->bytes[j->state] += j->size;
    if (c->listed < c->max) {
        c->listed++;
        add(c->t, "#%" PRId64 " %s", j->id, j->media_kind);
        if (j->size > 0)
            add(c->t, " %s", human_size(j->size, sz, sizeof(sz)));
        add(c->t, ": %s%s", store_job_state_name(j->state),
            strcmp(j->origin, "relay") == 0 ? " (by the TDLib account)" : "");
        if (j->error != NULL && j->state != STORE_JOB_STORED)
            add(c->t, " - %.200s", j->error);
        add(c->t, "\n");
    }
    if (j->id == c->want_id) {
        c->found = true;
        c->found_relay = strcmp(j->origin, "relay") == 0;
        c->found_retriable = j->state == STORE_JOB_FAILED || j->state == STORE_JOB_SKIPPED;
        c->found_message = j->message_id;
    }
    return 0;
}

static tgh_err
chat_jobs(struct bot *b, int64_t chat_id, struct jobs_ctx *c, int64_t limit)
{
    struct store_media_jobs_query q = {
        .state = -1,
        .chat_id = chat_id,
        .message_id = MSG_UNSET,
        .limit = limit,
    };

    return store_media_jobs_each(b->st, &q, on_job, c);
}

struct chat_ctx {
    int64_t chat_id;
    struct store_chat_row row;
    bool found;
};

static int
on_chat(void *arg, const struct store_chat_row *r)
{
    struct chat_ctx *c = arg;

    if (r->chat_id != c->chat_id)
        return 0;
    c->row = *r;
    c->found = true;
    return 1;
}

static int
on_last(void *arg, const struct store_message_row *r)
{
    struct text *t = arg;

    add(t, "- message %" PRId64 ": %.60s\n", r->message_id,
        r->text != NULL && *r->text != '\0' ? r->text : "(media or service)");
    return 0;
}

static void
cmd_status(struct bot *b, int64_t chat_id, struct text *t)
{
    struct jobs_ctx jc = { .t = t, .max = 0 };
    struct chat_ctx cc = { .chat_id = chat_id };
    struct store_bot_state s;
    struct store_query q = {
        .chat_id = chat_id,
        .since = MSG_UNSET,
        .until = MSG_UNSET,
        .limit = 3,
        .newest_first = true,
    };
    char sz[32], when[32];

    add(t, "Bot @%s.\n", b->username);
    if (store_chats_each(b->st, on_chat, &cc) != TGH_OK ||
        chat_jobs(b, chat_id, &jc, 0) != TGH_OK) {
        add(t, "The archive cannot be read now: %.200s\n", tgh_errmsg());
        return;
    }
    add(t, "Archive: %" PRId64 " messages from you.\n", cc.found ? cc.row.message_count : 0);
    add(t,
        "Files: %" PRId64 " stored (%s), %" PRId64 " queued, %" PRId64 " downloading, %" PRId64
        " failed, %" PRId64 " skipped.\n",
        jc.n[STORE_JOB_STORED], human_size(jc.bytes[STORE_JOB_STORED], sz, sizeof(sz)),
        jc.n[STORE_JOB_QUEUED], jc.n[STORE_JOB_DOWNLOADING], jc.n[STORE_JOB_FAILED],
        jc.n[STORE_JOB_SKIPPED]);
    add(t, "Storage: %s.\n", b->ms != NULL ? media_kind(b->ms) : "off (TGH_MEDIA=off)");
    if (store_bot_state_get(b->st, b->id, &s) == TGH_OK)
        add(t, "Last update: %s at %s (offset %" PRId64 ").\n",
            s.last_update_type != NULL ? s.last_update_type : "none",
            utc(s.last_update_at, when, sizeof(when)), s.next_update_id);
    add(t, "Last items:\n");
    if (store_messages_each(b->st, &q, on_last, t) != TGH_OK)
        add(t, "(not readable now)\n");
}

static void
cmd_stats(struct bot *b, int64_t chat_id, struct text *t)
{
    struct chat_ctx cc = { .chat_id = chat_id };
    struct jobs_ctx jc = { .t = t, .max = 0 };
    char a[32], z[32];

    if (store_chats_each(b->st, on_chat, &cc) != TGH_OK ||
        chat_jobs(b, chat_id, &jc, 0) != TGH_OK) {
        add(t, "The archive cannot be read now: %.200s\n", tgh_errmsg());
        return;
    }
    add(t, "Messages archived: %" PRId64 " (deleted %" PRId64 "), from %s to %s.\n",
        cc.found ? cc.row.message_count : 0, cc.found ? cc.row.deleted_count : 0,
        utc(cc.found ? cc.row.first_date : 0, a, sizeof(a)),
        utc(cc.found ? cc.row.last_date : 0, z, sizeof(z)));
    add(t, "Files: %" PRId64 " stored, %" PRId64 " waiting, %" PRId64 " failed.\n",
        jc.n[STORE_JOB_STORED], jc.n[STORE_JOB_QUEUED] + jc.n[STORE_JOB_DOWNLOADING],
        jc.n[STORE_JOB_FAILED]);
    add(t,
        "Since this bot started: %" PRIu64 " archived, %" PRIu64 " duplicates, %" PRIu64
        " refused, %" PRIu64 " updates.\n",
        b->t->archived, b->t->duplicates, b->t->refused, b->t->updates);
}

static void
cmd_retry(struct bot *b, int64_t chat_id, const char *arg, struct text *t)
{
    struct jobs_ctx jc = { .t = t, .max = 0 };
    char *end;
    long long id = strtoll(arg, &end, 10);
    int64_t n = 0;

    while (*end == ' ')
        end++;
    if (end == arg || *end != '\0' || id <= 0) {
        add(t, "Usage: /retry ID (an id from /jobs).");
        return;
    }
    jc.want_id = id;
    if (chat_jobs(b, chat_id, &jc, 0) != TGH_OK) {
        add(t, "The archive cannot be read now: %.200s", tgh_errmsg());
        return;
    }
    if (!jc.found) {
        add(t, "There is no job %lld of yours.", id);
        return;
    }
    if (jc.found_relay && jc.found_retriable &&
        bot_media_relay_again(b, id, chat_id, jc.found_message) != TGH_OK) {
        add(t,
            "Job %lld was not queued again: its message was not handed to the TDLib account: "
            "%.200s",
            id, tgh_errmsg());
        return;
    }
    if (store_media_job_retry(b->st, id, (int64_t)time(NULL), &n) != TGH_OK) {
        add(t, "Job %lld was not queued again: %.200s", id, tgh_errmsg());
        return;
    }
    if (n == 0)
        add(t, "Job %lld is not failed or skipped: nothing to retry.", id);
    else
        add(t, "Job %lld is queued again.", id);
    bot_media_resume(b);
}

#define CMD_MAX 32

bool
bot_is_command(const json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "text"));
    size_t n;

    if (text == NULL || text[0] != '/' || json_object_get(msg, "forward_origin") != NULL)
        return false;
    n = strcspn(text + 1, " @\n");
    return n > 0 && n < CMD_MAX;
}

bool
bot_command(struct bot *b, const json_t *msg, int64_t chat_id, int64_t message_id)
{
    const char *text = json_string_value(json_object_get(msg, "text"));
    struct text t = { .len = 0 };
    struct jobs_ctx jc = { .t = &t, .max = 10 };
    char cmd[CMD_MAX];
    size_t n;

    if (!bot_is_command(msg))
        return false;
    n = strcspn(text + 1, " @\n");
    memcpy(cmd, text + 1, n);
    cmd[n] = '\0';
    text += 1 + n;
    if (*text == '@') /* /status@this_bot */
        text += 1 + strcspn(text + 1, " \n");
    while (*text == ' ')
        text++;
    if (strcmp(cmd, "start") == 0 || strcmp(cmd, "help") == 0)
        add(&t, "%s", help_text);
    else if (strcmp(cmd, "status") == 0)
        cmd_status(b, chat_id, &t);
    else if (strcmp(cmd, "stats") == 0)
        cmd_stats(b, chat_id, &t);
    else if (strcmp(cmd, "jobs") == 0) {
        add(&t, "Your last files:\n");
        if (chat_jobs(b, chat_id, &jc, 10) != TGH_OK)
            add(&t, "(not readable now: %.200s)", tgh_errmsg());
        else if (jc.listed == 0)
            add(&t, "none yet.");
    } else if (strcmp(cmd, "retry") == 0)
        cmd_retry(b, chat_id, text, &t);
    else
        add(&t, "Unknown command /%s.\n%s", cmd, help_text);
    bot_send(b, chat_id, message_id, t.s);
    return true;
}
