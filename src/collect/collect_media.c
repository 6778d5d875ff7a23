/* SPDX-License-Identifier: MIT */
/*
 * collect_media.c - the media downloader of the collection engine.
 *
 * On the engine's thread, apart from the history requests: the scanner turns
 * newly committed messages with media into jobs (pipeline_media_scan), due
 * jobs of the engine's chats are claimed, each claimed job re-reads its
 * message (TDLib file ids belong to one session, and a fresh read also
 * refreshes an expired file reference) and downloads the file with
 * downloadFile, synchronous, while updateFile reports progress. TDLib keeps
 * what it downloaded of a file, so an interrupted download goes on from
 * there. A finished file goes to a thread of its own that hashes and stores
 * it (pipeline_media_store), so neither the messages nor the TDLib loop wait
 * for the media store; then TDLib's copy is deleted. Flood waits and 5xx
 * answers are the hub's, as for every request.
 */
#define TGH_LOG_SUB "media"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "collect/collect_engine_int.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/log.h"
#include "core/util.h"
#include "media/media.h"

#define SCAN_EVERY_S     5.0 /* between scans of a chat that had nothing new */
#define SCAN_BUSY_S      0.2 /* while a scan found a full page */
#define SCAN_MAX         500 /* messages a chat's scan reads per tick */
#define CLAIM_EVERY_S    1.0
#define LEASE_S          300 /* a claimed job is claimable again after this without progress */
#define PROGRESS_EVERY_S 5.0 /* progress (and the lease) written at most this often */
#define RETRY_CAP_S      3600

/* One claimed job, from its claim until it is stored or given back. */
struct dl {
    struct collect_media *m;
    struct td_acct *a;
    struct cchat *c;
    struct tgh_arena ar; /* the job's strings */
    struct store_media_job job;
    int64_t file_id;
    int64_t downloaded;
    double progress_at;
    bool refreshed; /* the message was read again after a file-reference error */
    bool storing;   /* handed to the storing thread */
    char path[4096];
    /* set by the storing thread */
    tgh_err rc;
    struct pipeline_media_stored out;
    struct dl *next;  /* in m->active (the engine's thread) */
    struct dl *qnext; /* in m->todo or m->done (under m->mu) */
};

struct collect_media {
    struct engine *e;
    struct media_policy policy;
    struct pipeline_media_retry retry;
    double next_scan, next_claim;
    size_t scan_at, claim_at; /* round robin over the engine's chats */
    bool scans_done;          /* the last round of scans found nothing more */
    bool claims_done;         /* the last round of claims found nothing */
    bool quiet;               /* chats idle, and a round since found nothing to do */
    struct dl *active;        /* downloads in flight (the engine's thread) */
    size_t nactive;
    /* the storing thread */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dl *todo, *todo_tail; /* to store, in order */
    struct dl *done;             /* stored (or failed), back to the engine */
    bool quit;
    struct store *st;
    struct media_store *ms;
};

/* ---- TDLib's files in a message ---- */

static const struct {
    const char *type;  /* content @type */
    const char *field; /* the object in the content */
    const char *file;  /* its file */
} content_files[] = {
    { "messageVideo", "video", "video" },          { "messageDocument", "document", "document" },
    { "messageAudio", "audio", "audio" },          { "messageVoiceNote", "voice_note", "voice" },
    { "messageVideoNote", "video_note", "video" }, { "messageAnimation", "animation", "animation" },
    { "messageSticker", "sticker", "sticker" },
};

/*
 * The file object of media_key ("file": the file itself, the largest size
 * of a photo; "thumb": its thumbnail) in a TDLib message, or NULL.
 */
static const json_t *
message_file(const json_t *msg, const char *media_key)
{
    const json_t *content = json_object_get(msg, "content"), *obj, *sizes, *size;
    const char *type = td_type(content);
    bool thumb = strcmp(media_key, "thumb") == 0;

    if (strcmp(type, "messagePhoto") == 0) {
        sizes = json_object_get(json_object_get(content, "photo"), "sizes");
        size = json_array_get(sizes, thumb ? 0 : json_array_size(sizes) - 1);
        return json_object_get(size, "photo");
    }
    for (size_t i = 0; i < TGH_NELEM(content_files); i++) {
        if (strcmp(type, content_files[i].type) != 0)
            continue;
        obj = json_object_get(content, content_files[i].field);
        if (thumb)
            return json_object_get(json_object_get(obj, strcmp(type, "messageAudio") == 0
                                                            ? "album_cover_thumbnail"
                                                            : "thumbnail"),
                                   "file");
        return json_object_get(obj, content_files[i].file);
    }
    return NULL;
}

/* ---- the storing thread ---- */

static void *
storing_main(void *arg)
{
    struct collect_media *m = arg;

    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct dl *d;

        while (m->todo == NULL && !m->quit)
            pthread_cond_wait(&m->cv, &m->mu);
        if (m->todo == NULL)
            break;
        d = m->todo;
        m->todo = d->qnext;
        if (m->todo == NULL)
            m->todo_tail = NULL;
        pthread_mutex_unlock(&m->mu);
        d->rc = pipeline_media_store(m->st, m->ms, &d->job, d->path, &m->retry, &d->out);
        if (d->rc != TGH_OK)
            log_warn("media: message %" PRId64 " of chat %" PRId64 " not stored: %s",
                     d->job.message_id, d->job.chat_id, tgh_errmsg());
        pthread_mutex_lock(&m->mu);
        d->qnext = m->done;
        m->done = d;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- downloads ---- */

static void
dl_free(struct dl *d)
{
    tgh_arena_fini(&d->ar);
    tgh_free(d);
}

static void
dl_unlink(struct collect_media *m, struct dl *d)
{
    for (struct dl **p = &m->active; *p != NULL; p = &(*p)->next) {
        if (*p == d) {
            *p = d->next;
            m->nactive--;
            return;
        }
    }
}

static size_t
account_active(const struct collect_media *m, const struct td_acct *a)
{
    size_t n = 0;

    for (const struct dl *d = m->active; d != NULL; d = d->next)
        n += d->a == a;
    return n;
}

/* A download failed with rc (message msg): the job is queued again or fails. */
static void
dl_failed(struct dl *d, tgh_err rc, const char *msg)
{
    struct collect_media *m = d->m;
    struct engine *e = m->e;

    if (pipeline_media_failed(e->meta, &d->job, rc, msg, &m->retry, collect_now()) != TGH_OK)
        log_warn("media: job %" PRId64 " not ended: %s", d->job.id, tgh_errmsg());
    if (rc == TGH_ENOTFOUND || d->job.attempts >= m->retry.max_attempts)
        e->media_failed_n++;
    else
        e->media_retried_n++;
    dl_unlink(m, d);
    dl_free(d);
}

static void
dl_store(struct dl *d, const char *path)
{
    struct collect_media *m = d->m;

    (void)snprintf(d->path, sizeof(d->path), "%s", path);
    d->storing = true;
    pthread_mutex_lock(&m->mu);
    d->qnext = NULL;
    if (m->todo_tail != NULL)
        m->todo_tail->qnext = d;
    else
        m->todo = d;
    m->todo_tail = d;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static void on_message(void *ctx, struct td_acct *a, json_t *ans);

/* The chat's counters of the job's chat; a relayed file has none. */
static struct td_counts *
dl_counts(struct dl *d)
{
    return d->c != NULL ? &d->c->counts : NULL;
}

/*
 * A file the archive bot relayed (origin "relay"): the bot copied its
 * message into this account's private chat with the bot, whose user id is
 * the job's source_path. The newest messages there are read and the one
 * holding the file of the job's unique id is downloaded like any other.
 */
static void
on_relay_history(void *ctx, struct td_acct *a, json_t *ans)
{
    struct dl *d = ctx;
    const char *msg = NULL;
    size_t i;
    json_t *m;
    int code = 0;

    if (td_is_error(ans, &code, &msg)) {
        char why[512];

        (void)snprintf(why, sizeof(why), "the chat with the bot: %d %s", code, msg ? msg : "");
        dl_failed(d, TGH_EAGAIN, why);
        return;
    }
    json_array_foreach (json_object_get(ans, "messages"), i, m) {
        const json_t *file = message_file(m, "file");
        const char *uid = td_str(json_object_get(file, "remote"), "unique_id");

        if (uid != NULL && d->job.file_unique_id != NULL &&
            strcmp(uid, d->job.file_unique_id) == 0) {
            on_message(d, a, m);
            return;
        }
    }
    /* The bot's copy may not have arrived yet: the job is tried again after its backoff. */
    dl_failed(d, TGH_EAGAIN, "the file is not (yet) in the account's chat with the bot");
}

static void
on_relay_chat(void *ctx, struct td_acct *a, json_t *ans)
{
    struct dl *d = ctx;
    const char *msg = NULL;
    int64_t chat_id = 0;
    int code = 0;

    if (td_is_error(ans, &code, &msg) || !td_int(ans, "id", &chat_id)) {
        char why[512];

        (void)snprintf(why, sizeof(why), "the chat with bot %s: %d %s", d->job.source_path, code,
                       msg ? msg : "no chat");
        dl_failed(d, TGH_EAGAIN, why);
        return;
    }
    td_call(a,
            json_pack("{s:s, s:I, s:i, s:i, s:i, s:b}", "@type", "getChatHistory", "chat_id",
                      (json_int_t)chat_id, "from_message_id", 0, "offset", 0, "limit", 100,
                      "only_local", 0),
            on_relay_history, d, NULL);
}

static void
send_get_message(struct dl *d)
{
    if (strcmp(d->job.origin, "relay") == 0) {
        int64_t bot = d->job.source_path != NULL ? strtoll(d->job.source_path, NULL, 10) : 0;

        if (bot <= 0) {
            dl_failed(d, TGH_ENOTFOUND, "a relayed job without the bot's user id");
            return;
        }
        td_call(d->a,
                json_pack("{s:s, s:I, s:b}", "@type", "createPrivateChat", "user_id",
                          (json_int_t)bot, "force", 0),
                on_relay_chat, d, NULL);
        return;
    }
    td_call(d->a,
            json_pack("{s:s, s:I, s:I}", "@type", "getMessage", "chat_id",
                      (json_int_t)d->job.chat_id, "message_id",
                      (json_int_t)(d->job.message_id << 20)),
            on_message, d, dl_counts(d));
}

static void
on_downloaded(void *ctx, struct td_acct *a, json_t *ans)
{
    struct dl *d = ctx;
    const json_t *local = json_object_get(ans, "local");
    const char *msg = NULL, *path;
    int64_t size = 0;
    int code = 0;

    (void)a;
    if (td_is_error(ans, &code, &msg)) {
        /* TDLib repairs file references itself; when it gives up, a fresh read of the message does.
         */
        if (!d->refreshed && msg != NULL && strstr(msg, "FILE_REFERENCE") != NULL) {
            d->refreshed = true;
            log_info("media: message %" PRId64 " of chat %" PRId64
                     ": file reference expired, reading the message again",
                     d->job.message_id, d->job.chat_id);
            d->file_id = 0;
            send_get_message(d);
            return;
        }
        {
            char why[512];

            (void)snprintf(why, sizeof(why), "downloadFile: %d %s", code, msg ? msg : "");
            dl_failed(d, TGH_EAGAIN, why);
        }
        return;
    }
    path = td_str(local, "path");
    if (!json_is_true(json_object_get(local, "is_downloading_completed")) || path == NULL ||
        *path == '\0') {
        dl_failed(d, TGH_EAGAIN, "downloadFile answered before the file was complete");
        return;
    }
    if (td_int(ans, "size", &size) && size > 0)
        d->job.size = size;
    dl_store(d, path);
}

static void
on_message(void *ctx, struct td_acct *a, json_t *ans)
{
    struct dl *d = ctx;
    const json_t *file, *local;
    const char *msg = NULL, *path;
    int64_t size = 0;
    int code = 0;

    if (td_is_error(ans, &code, &msg)) {
        char why[512];

        (void)snprintf(why, sizeof(why), "getMessage: %d %s", code, msg ? msg : "");
        /* 404: deleted on Telegram; nothing to download, ever. */
        dl_failed(d, code == 404 ? TGH_ENOTFOUND : TGH_EAGAIN, why);
        return;
    }
    file = message_file(ans, d->job.media_key);
    if (file == NULL || !td_int(file, "id", &d->file_id)) {
        dl_failed(d, TGH_ENOTFOUND, "the message no longer has this file");
        return;
    }
    if (td_int(file, "size", &size) && size > 0)
        d->job.size = size;
    local = json_object_get(file, "local");
    path = td_str(local, "path");
    if (json_is_true(json_object_get(local, "is_downloading_completed")) && path != NULL &&
        *path != '\0' && access(path, R_OK) == 0) {
        dl_store(d, path);
        return;
    }
    td_call(a,
            json_pack("{s:s, s:I, s:i, s:i, s:i, s:b}", "@type", "downloadFile", "file_id",
                      (json_int_t)d->file_id, "priority", d->job.priority, "offset", 0, "limit", 0,
                      "synchronous", 1),
            on_downloaded, d, dl_counts(d));
}

/* A claimed job: copy it and begin with its message. */
struct claim_ctx {
    struct collect_media *m;
    struct cchat *c;
    struct td_acct *a;
};

static const char *
dup_or_null(struct tgh_arena *a, const char *s)
{
    return s != NULL ? tgh_arena_strdup(a, s) : NULL;
}

static int
on_claimed(void *arg, const struct store_media_job *j)
{
    struct claim_ctx *cx = arg;
    struct dl *d = tgh_calloc(1, sizeof(*d));

    d->m = cx->m;
    d->a = cx->a;
    d->c = cx->c;
    tgh_arena_init(&d->ar, 1024);
    d->job = *j;
    d->job.media_key = dup_or_null(&d->ar, j->media_key);
    d->job.media_kind = dup_or_null(&d->ar, j->media_kind);
    d->job.file_unique_id = dup_or_null(&d->ar, j->file_unique_id);
    d->job.file_name = dup_or_null(&d->ar, j->file_name);
    d->job.mime_type = dup_or_null(&d->ar, j->mime_type);
    d->job.origin = dup_or_null(&d->ar, j->origin);
    d->job.source_path = dup_or_null(&d->ar, j->source_path);
    d->job.error = NULL;
    d->job.sha256 = NULL;
    d->job.storage_key = NULL;
    d->job.upload_id = dup_or_null(&d->ar, j->upload_id);
    d->progress_at = td_now();
    d->next = cx->m->active;
    cx->m->active = d;
    cx->m->nactive++;
    send_get_message(d);
    return 0;
}

/* ---- the engine's side ---- */

/* Jobs an earlier process left downloading in this chat are free again now. */
struct release_ctx {
    struct store *st;
    int64_t now;
    int64_t n;
    int64_t ids[64];
    size_t nids;
};

static int
release_row(void *arg, const struct store_media_job *j)
{
    struct release_ctx *r = arg;

    if (r->nids < TGH_NELEM(r->ids))
        r->ids[r->nids++] = j->id;
    return 0;
}

static void
release_chat(struct collect_media *m, int64_t chat_id)
{
    struct store_media_jobs_query q = {
        .state = STORE_JOB_DOWNLOADING,
        .chat_id = chat_id,
        .message_id = MSG_UNSET,
    };
    struct release_ctx r = { .st = m->e->meta, .now = collect_now() };
    struct store_media_end end = {
        .state = STORE_JOB_QUEUED,
        .error = "interrupted; goes on where the download stopped",
        .at = r.now,
    };

    do {
        r.nids = 0;
        if (store_media_jobs_each(m->e->meta, &q, release_row, &r) != TGH_OK) {
            log_warn("media: interrupted jobs of chat %" PRId64 " not read: %s", chat_id,
                     tgh_errmsg());
            return;
        }
        for (size_t i = 0; i < r.nids; i++)
            if (store_media_job_end(m->e->meta, r.ids[i], &end) == TGH_OK)
                r.n++;
    } while (r.nids == TGH_NELEM(r.ids));
    if (r.n > 0)
        log_info("media: chat %" PRId64 ": %" PRId64 " interrupted downloads queued again", chat_id,
                 r.n);
}

static bool
chat_usable(const struct cchat *c)
{
    return c->res_state.chat_id != 0 && !c->gone && c->step != STEP_FAILED && c->a != NULL;
}

static void
scan_round(struct collect_media *m)
{
    struct engine *e = m->e;
    bool more = false;

    for (size_t k = 0; k < e->nchats; k++) {
        struct cchat *c = e->chats[(m->scan_at + k) % e->nchats];
        struct media_policy own = m->policy;
        int64_t chats[2];
        size_t nchats = 0;

        if (!chat_usable(c))
            continue;
        /* A chat's own policy (`chats media`) over the global one; a bad one is not used. */
        if (c->media_policy[0] != '\0' && media_policy_apply(&own, c->media_policy) != TGH_OK) {
            log_warn("media: chat %" PRId64 ": its media policy is not used: %s",
                     c->res_state.chat_id, tgh_errmsg());
            own = m->policy;
        }
        chats[nchats++] = c->res_state.chat_id;
        if (c->comments && c->res_state.linked_chat_id != 0)
            chats[nchats++] = c->res_state.linked_chat_id;
        for (size_t i = 0; i < nchats; i++) {
            struct pipeline_media_scan q = {
                .chat_id = chats[i],
                .added_at = c->added_at,
                .policy = &own,
                .max = SCAN_MAX,
            };
            struct pipeline_media_scan_result r;

            if (!c->media_released)
                release_chat(m, chats[i]);
            if (pipeline_media_scan(e->meta, &q, &r) != TGH_OK) {
                log_warn("media: chat %" PRId64 " not scanned: %s", chats[i], tgh_errmsg());
                continue;
            }
            e->media_queued_n += (int64_t)r.queued;
            e->media_skipped_n += (int64_t)r.skipped;
            if (!r.done)
                more = true;
        }
        c->media_released = true;
    }
    m->scan_at++;
    m->scans_done = !more;
}

/*
 * Files the archive bot relayed: claimed by the account the bot copied them
 * to (TGH_BOT_RELAY, matched by its user id), or with TGH_BOT_RELAY unset by
 * the first ready account.
 */
static bool
claim_relayed(struct collect_media *m)
{
    struct engine *e = m->e;
    struct td_hub *h = e->hub;

    for (size_t k = 0; k < h->nacct; k++) {
        struct td_acct *a = h->accts[k];
        struct claim_ctx cx = { .m = m, .c = NULL, .a = a };
        size_t before = m->nactive;
        struct store_media_claim q = {
            .now = collect_now(),
            .lease_s = LEASE_S,
            .origin = "relay",
            .chat_id = MSG_UNSET,
        };

        if (a->auth != TD_AUTH_READY || (e->cfg->bot_relay != 0 && a->my_id != e->cfg->bot_relay))
            continue;
        if (account_active(m, a) >= (size_t)e->cfg->media_downloads)
            return false;
        q.max = (size_t)e->cfg->media_downloads - account_active(m, a);
        if (store_media_jobs_claim(e->meta, &q, on_claimed, &cx) != TGH_OK)
            log_warn("media: relayed jobs not claimed: %s", tgh_errmsg());
        return m->nactive > before;
    }
    return false;
}

static void
claim_round(struct collect_media *m)
{
    struct engine *e = m->e;
    bool got = false;

    for (size_t k = 0; k < e->nchats; k++) {
        struct cchat *c = e->chats[(m->claim_at + k) % e->nchats];
        size_t busy;

        if (!chat_usable(c) || !c->media_released || c->a->auth != TD_AUTH_READY)
            continue;
        busy = account_active(m, c->a);
        if (busy >= (size_t)e->cfg->media_downloads)
            continue;
        for (int linked = 0; linked < 2; linked++) {
            struct claim_ctx cx = { .m = m, .c = c, .a = c->a };
            struct store_media_claim q = {
                .now = collect_now(),
                .lease_s = LEASE_S,
                .max = (size_t)e->cfg->media_downloads - account_active(m, c->a),
                .origin = "tdlib",
                .chat_id = linked ? c->res_state.linked_chat_id : c->res_state.chat_id,
            };
            size_t before = m->nactive;

            if (q.chat_id == 0 || (linked && !c->comments) || q.max == 0)
                continue;
            if (store_media_jobs_claim(e->meta, &q, on_claimed, &cx) != TGH_OK) {
                log_warn("media: jobs of chat %" PRId64 " not claimed: %s", q.chat_id,
                         tgh_errmsg());
                continue;
            }
            got = got || m->nactive > before;
        }
    }
    got = claim_relayed(m) || got;
    m->claim_at++;
    m->claims_done = !got;
}

static void
harvest(struct collect_media *m)
{
    struct engine *e = m->e;
    struct dl *done;

    pthread_mutex_lock(&m->mu);
    done = m->done;
    m->done = NULL;
    pthread_mutex_unlock(&m->mu);
    while (done != NULL) {
        struct dl *d = done;

        done = d->qnext;
        if (d->rc == TGH_OK) {
            e->media_stored_n++;
            e->media_dedup_n += d->out.dedup;
            e->media_bytes_n += d->out.bytes;
        } else if (d->job.attempts >= m->retry.max_attempts) {
            e->media_failed_n++;
        } else {
            e->media_retried_n++;
        }
        /*
         * TDLib's copy is not needed any more once the media store has the
         * bytes; a short copy is deleted too, or TDLib would hand it back
         * as complete on the next attempt.
         */
        if (d->file_id != 0 && (d->rc == TGH_OK || d->out.truncated))
            td_call(
                d->a,
                json_pack("{s:s, s:I}", "@type", "deleteFile", "file_id", (json_int_t)d->file_id),
                NULL, NULL, NULL);
        dl_unlink(m, d);
        dl_free(d);
    }
}

tgh_err
collect_media_start(struct engine *e)
{
    const struct tgh_config *cfg = e->cfg;
    struct collect_media *m;
    tgh_err rc;

    if (e->o->no_media || media_url_is_off(cfg->media_url))
        return TGH_OK;
    m = tgh_calloc(1, sizeof(*m));
    m->e = e;
    m->retry = (struct pipeline_media_retry){
        .max_attempts = (int)cfg->media_attempts,
        .base_s = cfg->media_retry_s,
        .cap_s = RETRY_CAP_S,
    };
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    rc = media_policy_init(&m->policy, cfg->media_kinds, cfg->media_max_size, cfg->media_history,
                           cfg->media_thumbs);
    if (rc == TGH_OK)
        rc = media_open(cfg->media_url, &m->ms);
    if (rc == TGH_OK)
        rc = store_open(e->o->store_url != NULL ? e->o->store_url : cfg->store_url, &m->st);
    if (rc == TGH_OK && pthread_create(&m->thread, NULL, storing_main, m) != 0)
        rc = tgh_errf(TGH_ENOMEM, "media: no thread for storing");
    if (rc != TGH_OK) {
        char msg[512];

        (void)snprintf(msg, sizeof(msg), "%s", tgh_errmsg());
        media_close(m->ms);
        store_close(m->st);
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        tgh_free(m);
        return tgh_errf(rc, "TGH_MEDIA: %s", msg);
    }
    m->started = true;
    e->media = m;
    log_info("media: kept in %s (%s)", media_kind(m->ms), cfg->media_kinds);
    return TGH_OK;
}

void
collect_media_tick(struct engine *e, double now, bool chats_idle)
{
    struct collect_media *m = e->media;

    if (m == NULL || e->stopping)
        return;
    harvest(m);
    if (now >= m->next_scan || chats_idle) {
        scan_round(m);
        m->next_scan = now + (m->scans_done ? SCAN_EVERY_S : SCAN_BUSY_S);
    }
    if (now >= m->next_claim || chats_idle) {
        claim_round(m);
        m->next_claim = now + CLAIM_EVERY_S;
    }
    m->quiet = chats_idle && m->scans_done && m->claims_done && m->nactive == 0;
    /* Progress and lease of running downloads. */
    for (struct dl *d = m->active; d != NULL; d = d->next) {
        if (d->storing || now - d->progress_at < PROGRESS_EVERY_S)
            continue;
        d->progress_at = now;
        if (store_media_job_progress(e->meta, d->job.id, d->downloaded, collect_now() + LEASE_S) !=
            TGH_OK)
            log_warn("media: progress of job %" PRId64 " not written: %s", d->job.id, tgh_errmsg());
    }
}

bool
collect_media_idle(const struct engine *e)
{
    const struct collect_media *m = e->media;

    return m == NULL || m->quiet;
}

void
collect_media_on_file(struct engine *e, const json_t *file)
{
    struct collect_media *m = e->media;
    int64_t id = 0, have = 0;

    if (m == NULL || !td_int(file, "id", &id))
        return;
    for (struct dl *d = m->active; d != NULL; d = d->next) {
        if (d->file_id == id && !d->storing) {
            if (td_int(json_object_get(file, "local"), "downloaded_prefix_size", &have))
                d->downloaded = have;
            return;
        }
    }
}

void
collect_media_stop(struct engine *e)
{
    struct collect_media *m = e->media;
    struct store_media_end end = {
        .state = STORE_JOB_QUEUED,
        .error = "interrupted; goes on where the download stopped",
    };

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->quit = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->started)
        (void)pthread_join(m->thread, NULL);
    harvest(m);
    /* Downloads still with TDLib: queued again, to go on after the next start. */
    end.at = collect_now();
    while (m->active != NULL) {
        struct dl *d = m->active;

        m->active = d->next;
        td_forget(e->hub, d);
        if (store_media_job_end(e->meta, d->job.id, &end) != TGH_OK)
            log_warn("media: job %" PRId64 " not given back: %s", d->job.id, tgh_errmsg());
        dl_free(d);
    }
    media_close(m->ms);
    store_close(m->st);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    tgh_free(m);
    e->media = NULL;
}
