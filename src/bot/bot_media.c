/* SPDX-License-Identifier: MIT */
/*
 * bot_media.c - the files of what the archive bot archived.
 *
 * Each file becomes a media job (job_history) as the media policy says. A
 * file within TGH_BOT_FILE_LIMIT (the Bot API's 20 MB download limit) is a
 * job of origin "bot": source_path holds its Bot API file_id, getFile
 * names its path, the bytes are downloaded and stored by
 * pipeline_media_store() (hash, content index, object, sidecar). A larger
 * file is a job of origin "relay": the bot copies the message to the
 * TDLib account of TGH_BOT_RELAY, whose collector finds it in its chat
 * with the bot (source_path holds the bot's user id) by the file's unique
 * id and downloads it over MTProto; the bot tells the user when that job
 * ends. Jobs are rows in the store before anything is downloaded, so a
 * crash loses no file: the next start claims what was left.
 */
#define TGH_LOG_SUB "bot"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot/bot_int.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

#define PRIORITY_FILE   16
#define LEASE_S         600
#define NOTICE_EVERY_MS 5000
#define GAUGE_EVERY_MS  5000
#define CLAIM_MAX       16

/* Message keys of the file-like objects, by media kind (the mapper's kinds). */
static const struct {
    const char *kind, *key;
} file_keys[] = {
    { "animation", "animation" }, { "audio", "audio" }, { "document", "document" },
    { "sticker", "sticker" },     { "video", "video" }, { "video_note", "video_note" },
    { "voice", "voice" },
};

/* The object of the file of ev (or of its thumbnail): the one with a file_id, or NULL. */
static const json_t *
file_object(const struct msg_event *ev, bool thumb)
{
    const json_t *msg = ev->raw, *o = NULL, *ps;
    size_t i;

    if (strcmp(ev->media->kind, "photo") == 0) {
        const json_t *sizes = json_object_get(msg, "photo");

        if (thumb)
            return json_array_get(sizes, 0);
        json_array_foreach (sizes, i, ps) {
            const char *u = json_string_value(json_object_get(ps, "file_unique_id"));

            if (u != NULL && ev->media->file_unique_id != NULL &&
                strcmp(u, ev->media->file_unique_id) == 0)
                return ps;
        }
        return NULL;
    }
    for (i = 0; i < TGH_NELEM(file_keys); i++)
        if (strcmp(ev->media->kind, file_keys[i].kind) == 0)
            o = json_object_get(msg, file_keys[i].key);
    return thumb ? json_object_get(o, "thumbnail") : o;
}

/* ---- one job ---------------------------------------------------------------- */

struct outcome {
    int64_t job_id;
    enum store_job_state state;
    char note[512];
};

/* getFile, honouring flood waits: *path is the answer's file_path (a new string). */
static tgh_err
get_file(struct bot *b, const char *file_id, char **path, int64_t *size)
{
    json_t *p = json_pack("{ss}", "file_id", file_id), *r = NULL;
    tgh_err rc = TGH_OK;

    *path = NULL;
    rc = bot_call(b, "getFile", p, 60, false, &r);
    json_decref(p);
    if (rc == TGH_OK) {
        const char *fp = json_string_value(json_object_get(r, "file_path"));

        if (fp == NULL || *fp == '\0')
            rc = tgh_errf(TGH_EPROTO, "getFile: the answer names no file_path");
        else
            *path = tgh_strdup(fp);
        if (json_is_integer(json_object_get(r, "file_size")))
            *size = json_integer_value(json_object_get(r, "file_size"));
    }
    json_decref(r);
    return rc;
}

/* Download and store claimed job j (origin "bot"); the job is ended either way. */
static void
run_job(struct bot *b, const struct store_media_job *j, struct outcome *out)
{
    struct pipeline_media_stored st;
    char tmp[4200], why[600];
    const char *path = NULL;
    char *fpath = NULL;
    int64_t size = 0, got = 0;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    out->job_id = j->id;
    rc = j->source_path != NULL ? get_file(b, j->source_path, &fpath, &size)
                                : tgh_errf(TGH_ENOTFOUND, "the job has no file_id");
    if (rc == TGH_OK && fpath[0] == '/') {
        path = fpath; /* a local Bot API server (--local) hands its own file */
    } else if (rc == TGH_OK) {
        (void)snprintf(tmp, sizeof(tmp), "%s/job-%" PRId64 ".part", b->data_dir, j->id);
        rc = bot_http_download(b->http, fpath, tmp, b->cfg->bot_file_limit, &got);
        path = tmp;
    }
    if (rc == TGH_OK) {
        rc = pipeline_media_store(b->st, b->ms, j, path, &b->retry, &st);
        if (path == tmp)
            (void)unlink(tmp);
        if (rc == TGH_OK) {
            b->t->files++;
            out->state = STORE_JOB_STORED;
            (void)snprintf(out->note, sizeof(out->note),
                           "File stored (%" PRId64 " bytes) as %.300s%s", st.bytes, st.key,
                           st.dedup ? "; the same file was stored before, kept once" : "");
        } else {
            out->state = STORE_JOB_FAILED;
            (void)snprintf(out->note, sizeof(out->note),
                           "File not stored yet: %.300s (job %" PRId64 ", tried again later)",
                           tgh_errmsg(), j->id);
        }
    } else {
        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        if (pipeline_media_failed(b->st, j, rc, why, &b->retry, (int64_t)time(NULL)) != TGH_OK)
            log_warn("job %" PRId64 " not ended: %s", j->id, tgh_errmsg());
        out->state = STORE_JOB_FAILED;
        (void)snprintf(out->note, sizeof(out->note),
                       "File not downloaded: %.300s (job %" PRId64 ")", why, j->id);
    }
    tgh_free(fpath);
}

struct claim_ctx {
    struct bot *b;
    struct outcome out[CLAIM_MAX];
    size_t n;
    bool tell; /* resumed jobs: tell the user when stored */
};

static int
on_claimed(void *arg, const struct store_media_job *j)
{
    struct claim_ctx *c = arg;
    struct outcome *o = &c->out[c->n < CLAIM_MAX ? c->n : CLAIM_MAX - 1];

    run_job(c->b, j, o);
    if (c->n < CLAIM_MAX)
        c->n++;
    if (c->tell) {
        char text[700];

        (void)snprintf(text, sizeof(text), "Message %" PRId64 ": %s.", j->message_id, o->note);
        bot_send(c->b, j->chat_id, j->message_id, text);
    }
    return 0;
}

static void
claim_and_run(struct bot *b, int64_t chat_id, struct claim_ctx *c)
{
    struct store_media_claim q = {
        .now = (int64_t)time(NULL),
        .lease_s = LEASE_S,
        .max = CLAIM_MAX,
        .origin = "bot",
        .chat_id = chat_id,
    };

    c->b = b;
    if (b->ms != NULL && store_media_jobs_claim(b->st, &q, on_claimed, c) != TGH_OK)
        log_warn("bot jobs not claimed: %s", tgh_errmsg());
}

void
bot_media_resume(struct bot *b)
{
    struct claim_ctx c = { .tell = true };

    claim_and_run(b, MSG_UNSET, &c);
}

/* ---- relayed files ---------------------------------------------------------- */

static void
notice_add(struct bot *b, int64_t id, int64_t chat_id, int64_t message_id)
{
    struct bot_notice *n;

    if (b->nnotices == b->capnotices) {
        b->capnotices = b->capnotices == 0 ? 16 : 2 * b->capnotices;
        b->notices = tgh_realloc(b->notices, b->capnotices * sizeof(struct bot_notice));
    }
    n = &b->notices[b->nnotices++];
    n->id = id;
    n->chat_id = chat_id;
    n->message_id = message_id;
}

struct find_ctx {
    int64_t id, finished_at;
    enum store_job_state state;
    char error[400], key[600];
    bool found;
};

static int
on_find(void *arg, const struct store_media_job *j)
{
    struct find_ctx *f = arg;

    if (j->id != f->id)
        return 0;
    f->found = true;
    f->state = j->state;
    f->finished_at = j->finished_at;
    (void)snprintf(f->error, sizeof(f->error), "%s", j->error != NULL ? j->error : "");
    (void)snprintf(f->key, sizeof(f->key), "%s", j->storage_key != NULL ? j->storage_key : "");
    return 1;
}

/*
 * Record that the end (at finished_at) of relayed job n was told (bot_items
 * "notice:<job>:<finished_at>": a job retried and ended again is told again).
 * A start tells what ended while the
 * bot was down and was not recorded; a crash between the message and the
 * record tells it twice, never not at all.
 */
static void
notice_sent(struct bot *b, const struct bot_notice *n, int64_t finished_at)
{
    char key[64];
    bool is_new = false;

    (void)snprintf(key, sizeof(key), "notice:%" PRId64 ":%" PRId64, n->id, finished_at);
    if (store_bot_item_put(b->st, key, n->chat_id, n->message_id, &is_new, NULL) != TGH_OK)
        log_warn("the notice of job %" PRId64 " not recorded: %s", n->id, tgh_errmsg());
}

/* Was the end of relayed job id told already? (Unreadable: taken as told, not told at every start.)
 */
static bool
notice_told(struct bot *b, int64_t id, int64_t finished_at)
{
    struct store_bot_item first;
    char key[64];
    tgh_err rc;

    (void)snprintf(key, sizeof(key), "notice:%" PRId64 ":%" PRId64, id, finished_at);
    rc = store_bot_item_get(b->st, key, &first);
    if (rc != TGH_OK && rc != TGH_ENOTFOUND)
        log_warn("the notice of job %" PRId64 " not read: %s", id, tgh_errmsg());
    return rc != TGH_ENOTFOUND;
}

void
bot_media_notices(struct bot *b)
{
    struct bot_notice *ns = b->notices;
    size_t i = 0;

    if (b->nnotices == 0 || pipeline_now_ms() - b->notice_at < NOTICE_EVERY_MS)
        return;
    b->notice_at = pipeline_now_ms();
    while (i < b->nnotices) {
        struct find_ctx f = { .id = ns[i].id };
        struct store_media_jobs_query q = {
            .state = -1,
            .chat_id = ns[i].chat_id,
            .message_id = ns[i].message_id,
        };
        char text[1200];

        if (store_media_jobs_each(b->st, &q, on_find, &f) != TGH_OK) {
            log_warn("relayed job %" PRId64 " not read: %s", ns[i].id, tgh_errmsg());
            return;
        }
        if (f.found && f.state != STORE_JOB_STORED && f.state != STORE_JOB_FAILED) {
            i++;
            continue;
        }
        if (!f.found)
            (void)snprintf(text, sizeof(text),
                           "The file of message %" PRId64 " (job %" PRId64
                           ") is no longer in the archive's jobs.",
                           ns[i].message_id, ns[i].id);
        else if (f.state == STORE_JOB_STORED)
            (void)snprintf(text, sizeof(text),
                           "The large file of message %" PRId64 " is stored as %s (job %" PRId64
                           ").",
                           ns[i].message_id, f.key, ns[i].id);
        else
            (void)snprintf(text, sizeof(text),
                           "The large file of message %" PRId64
                           " could not be downloaded: %s (job %" PRId64 "; /retry %" PRId64 ").",
                           ns[i].message_id, f.error, ns[i].id, ns[i].id);
        bot_send(b, ns[i].chat_id, ns[i].message_id, text);
        notice_sent(b, &ns[i], f.finished_at);
        ns[i] = ns[--b->nnotices];
    }
}

struct gauge_ctx {
    int64_t jobs[STORE_JOB_STATES];
};

static int
on_gauge(void *arg, const struct store_media_job *j)
{
    struct gauge_ctx *g = arg;

    if ((strcmp(j->origin, "bot") == 0 || strcmp(j->origin, "relay") == 0) && (int)j->state >= 0 &&
        (int)j->state < STORE_JOB_STATES)
        g->jobs[j->state]++;
    return 0;
}

void
bot_media_gauges(struct bot *b, bool force)
{
    struct gauge_ctx g;

    if (!force && pipeline_now_ms() - b->gauge_at < GAUGE_EVERY_MS)
        return;
    b->gauge_at = pipeline_now_ms();
    memset(&g, 0, sizeof(g));
    for (size_t i = 0; i < b->nwhite; i++) {
        struct store_media_jobs_query q = {
            .state = -1,
            .chat_id = b->whitelist[i], /* a user's private chat with the bot has the user's id */
            .message_id = MSG_UNSET,
        };

        if (store_media_jobs_each(b->st, &q, on_gauge, &g) != TGH_OK) {
            log_warn("jobs of chat %" PRId64 " not counted: %s", b->whitelist[i], tgh_errmsg());
            return;
        }
    }
    for (int i = 0; i < STORE_JOB_STATES; i++) {
        const char *v[1] = { store_job_state_name((enum store_job_state)i) };

        tgh_metric_set(tgh_metric_gauge("tgh_bot_jobs",
                                        "files of the bot's users by job state (getFile and "
                                        "relayed): queued, downloading, stored, failed, skipped",
                                        "state"),
                       v, (double)g.jobs[i]);
    }
}

struct load_ctx {
    struct bot *b;
    size_t n, ended;
};

static int
on_pending(void *arg, const struct store_media_job *j)
{
    struct load_ctx *c = arg;

    if (strcmp(j->origin, "relay") != 0)
        return 0;
    if (j->state == STORE_JOB_QUEUED || j->state == STORE_JOB_DOWNLOADING) {
        notice_add(c->b, j->id, j->chat_id, j->message_id);
        c->n++;
    } else if ((j->state == STORE_JOB_STORED || j->state == STORE_JOB_FAILED) &&
               !notice_told(c->b, j->id, j->finished_at)) {
        notice_add(c->b, j->id, j->chat_id, j->message_id); /* it ended while the bot was down */
        c->ended++;
    }
    return 0;
}

void
bot_media_load_notices(struct bot *b)
{
    struct load_ctx c = { .b = b };

    for (size_t i = 0; i < b->nwhite; i++) {
        struct store_media_jobs_query q = {
            .state = -1,
            .chat_id = b->whitelist[i],
            .message_id = MSG_UNSET,
        };

        if (store_media_jobs_each(b->st, &q, on_pending, &c) != TGH_OK)
            log_warn("relayed jobs of chat %" PRId64 " not read: %s", b->whitelist[i],
                     tgh_errmsg());
    }
    if (c.n > 0)
        log_info("%zu relayed files are still with the TDLib account", c.n);
    if (c.ended > 0)
        log_info("%zu relayed files ended while the bot was down: their users are told", c.ended);
}

/* Copy the message to the relay account's chat with the bot; TGH_OK when sent. */
static tgh_err relay_copy(struct bot *b, const struct bot_item *it);

tgh_err
bot_media_relay_again(struct bot *b, int64_t job_id, int64_t chat_id, int64_t message_id)
{
    struct bot_item it = { .chat_id = chat_id, .message_id = message_id };
    tgh_err rc;

    if (b->cfg->bot_relay == 0)
        return tgh_errf(TGH_EINVAL, "no TDLib account is set to fetch it (TGH_BOT_RELAY)");
    if ((rc = relay_copy(b, &it)) != TGH_OK)
        return rc;
    notice_add(b, job_id, chat_id, message_id);
    return TGH_OK;
}

/* Copy the message to the relay account's chat with the bot; TGH_OK when sent. */
static tgh_err
relay_copy(struct bot *b, const struct bot_item *it)
{
    json_t *p = json_pack("{sI sI sI}", "chat_id", (json_int_t)b->cfg->bot_relay, "from_chat_id",
                          (json_int_t)it->chat_id, "message_id", (json_int_t)it->message_id);
    tgh_err rc = TGH_OK;

    rc = bot_call(b, "copyMessage", p, 60, false, NULL);
    json_decref(p);
    return rc;
}

/* ---- an archived message ---------------------------------------------------- */

void
bot_media_item(struct bot *b, const struct msg_event *ev, struct bot_item *it)
{
    const struct msg_media *m = ev->media;
    struct store_media_job j = { 0 };
    const json_t *fo;
    const char *why = NULL, *fid;
    enum media_decision d;
    int64_t size = m->size_bytes > 0 ? m->size_bytes : 0;
    char bot_id[24], msg[600];
    bool added = false, relay;
    struct claim_ctx c = { .tell = false };

    if (b->ms == NULL) {
        (void)snprintf(it->job_note, sizeof(it->job_note), "Files are not kept (TGH_MEDIA=off)");
        return;
    }
    d = media_policy_decide(&b->policy, m->kind, size, ev->date, 0, &why);
    fo = file_object(ev, d == MEDIA_THUMB);
    fid = json_string_value(json_object_get(fo, "file_id"));
    if (fid == NULL && d != MEDIA_SKIP)
        return; /* a dice, a poll, a story: no file */
    relay = d == MEDIA_KEEP && size > b->cfg->bot_file_limit;
    (void)snprintf(bot_id, sizeof(bot_id), "%" PRId64, b->id);
    j.chat_id = ev->chat_id;
    j.message_id = ev->message_id;
    j.media_key = d == MEDIA_THUMB ? "thumb" : "file";
    j.date = ev->date;
    j.media_kind = m->kind;
    j.file_unique_id = d == MEDIA_THUMB ? json_string_value(json_object_get(fo, "file_unique_id"))
                                        : m->file_unique_id;
    j.file_name = d == MEDIA_THUMB ? NULL : m->file_name;
    j.mime_type = d == MEDIA_THUMB ? NULL : m->mime_type;
    j.size = d == MEDIA_THUMB ? 0 : size;
    j.origin = relay ? "relay" : "bot";
    j.source_path = relay ? bot_id : fid;
    j.priority = PRIORITY_FILE;
    j.state = d == MEDIA_SKIP ? STORE_JOB_SKIPPED : STORE_JOB_QUEUED;
    j.error = d == MEDIA_SKIP ? why : NULL;
    if (store_media_job_add(b->st, &j, &it->job_id, &added) != TGH_OK) {
        (void)snprintf(it->job_note, sizeof(it->job_note), "File not queued: %.300s", tgh_errmsg());
        return;
    }
    if (!added) {
        (void)snprintf(it->job_note, sizeof(it->job_note), "Its file is job %" PRId64, it->job_id);
        return;
    }
    if (d == MEDIA_SKIP) {
        (void)snprintf(it->job_note, sizeof(it->job_note), "File not kept: %s", why);
        return;
    }
    if (relay && b->cfg->bot_relay == 0) {
        struct store_media_end e = { .state = STORE_JOB_FAILED, .at = (int64_t)time(NULL) };

        (void)snprintf(msg, sizeof(msg),
                       "larger than the Bot API's download limit (%" PRId64
                       " bytes) and no TDLib account is set to fetch it (TGH_BOT_RELAY)",
                       b->cfg->bot_file_limit);
        e.error = msg;
        if (store_media_job_end(b->st, it->job_id, &e) != TGH_OK)
            log_warn("job %" PRId64 " not ended: %s", it->job_id, tgh_errmsg());
        (void)snprintf(it->job_note, sizeof(it->job_note),
                       "File not downloaded: %.400s (job %" PRId64 ")", msg, it->job_id);
        return;
    }
    if (relay) {
        if (relay_copy(b, it) != TGH_OK) {
            struct store_media_end e = { .state = STORE_JOB_FAILED, .at = (int64_t)time(NULL) };

            (void)snprintf(msg, sizeof(msg), "not handed to the TDLib account: %.300s",
                           tgh_errmsg());
            e.error = msg;
            if (store_media_job_end(b->st, it->job_id, &e) != TGH_OK)
                log_warn("job %" PRId64 " not ended: %s", it->job_id, tgh_errmsg());
            (void)snprintf(it->job_note, sizeof(it->job_note), "File %.400s (job %" PRId64 ")", msg,
                           it->job_id);
            return;
        }
        b->t->relayed++;
        notice_add(b, it->job_id, it->chat_id, it->message_id);
        (void)snprintf(it->job_note, sizeof(it->job_note),
                       "The file is over the Bot API's %" PRId64
                       " MB: the TDLib account downloads it (job %" PRId64
                       "); I will tell you when it is stored",
                       b->cfg->bot_file_limit / 1000000, it->job_id);
        return;
    }
    claim_and_run(b, ev->chat_id, &c);
    for (size_t i = 0; i < c.n; i++) {
        if (c.out[i].job_id == it->job_id) {
            it->job_state = c.out[i].state;
            (void)snprintf(it->job_note, sizeof(it->job_note), "%s", c.out[i].note);
        }
    }
}
