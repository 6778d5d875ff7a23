/* SPDX-License-Identifier: MIT */
/*
 * pipeline_media.c - the store side of the media archive: the scanner that
 * turns messages with media into jobs as the policy says, storing a job's
 * local file (content index, object, layout name, message.json), and the
 * end of a failed job (pipeline.h; docs/internals/media.md).
 *
 * Nothing here talks to Telegram: the collector downloads a claimed job's
 * file through TDLib and hands the path to pipeline_media_store(); the
 * importer hands the files beside an export.
 */
#define TGH_LOG_SUB "media"

#include "pipeline/pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "media/media.h"

#define SCAN_PAGE      200 /* messages read per store query */
#define PRIORITY_FILE  16  /* downloadFile priorities (1..32) */
#define PRIORITY_THUMB 24

/* ---- content types and names ---- */

static const struct {
    const char *mime;
    const char *ext;
} mime_ext[] = {
    { "image/jpeg", ".jpg" },
    { "image/png", ".png" },
    { "image/webp", ".webp" },
    { "image/gif", ".gif" },
    { "video/mp4", ".mp4" },
    { "video/quicktime", ".mov" },
    { "video/webm", ".webm" },
    { "audio/ogg", ".ogg" },
    { "audio/mpeg", ".mp3" },
    { "audio/mp4", ".m4a" },
    { "application/pdf", ".pdf" },
    { "application/zip", ".zip" },
    { "application/x-tgsticker", ".tgs" },
};

static const struct {
    const char *kind;
    const char *mime;
} kind_mime[] = {
    { "photo", "image/jpeg" },    { "voice", "audio/ogg" },      { "video", "video/mp4" },
    { "animation", "video/mp4" }, { "video_note", "video/mp4" }, { "sticker", "image/webp" },
    { "audio", "audio/mpeg" },
};

const char *
pipeline_media_content_type(const struct store_media_job *j)
{
    if (strcmp(j->media_key, "thumb") == 0)
        return "image/jpeg";
    if (j->mime_type != NULL && *j->mime_type != '\0')
        return j->mime_type;
    for (size_t i = 0; j->media_kind != NULL && i < TGH_NELEM(kind_mime); i++)
        if (strcmp(j->media_kind, kind_mime[i].kind) == 0)
            return kind_mime[i].mime;
    return "application/octet-stream";
}

static const char *
ext_of(const char *mime)
{
    for (size_t i = 0; i < TGH_NELEM(mime_ext); i++)
        if (strcmp(mime, mime_ext[i].mime) == 0)
            return mime_ext[i].ext;
    return ".bin";
}

/*
 * The file's name in the layout: the source's name, sanitized, or
 * "<kind>-<message id><ext>"; a thumbnail's starts with "thumb-".
 */
static void
layout_name(const struct store_media_job *j, char *out, size_t cap)
{
    bool thumb = strcmp(j->media_key, "thumb") == 0;
    char fallback[96], raw[MEDIA_NAME_MAX + 16], clean[MEDIA_NAME_MAX + 1];

    (void)snprintf(fallback, sizeof(fallback), "%s-%" PRId64 "%s",
                   j->media_kind != NULL ? j->media_kind : "file", j->message_id,
                   ext_of(pipeline_media_content_type(j)));
    (void)media_name_sanitize(thumb ? NULL : j->file_name, fallback, clean, sizeof(clean));
    if (!thumb) {
        (void)snprintf(out, cap, "%s", clean);
        return;
    }
    (void)snprintf(raw, sizeof(raw), "thumb-%s", clean);
    (void)media_name_sanitize(raw, "thumb.jpg", out, cap);
}

/* ---- the message a job belongs to ---- */

struct one_message {
    struct tgh_arena *a;
    int64_t message_id;
    char *event; /* the stored event JSON, in a */
};

static int
one_row(void *arg, const struct store_message_row *row)
{
    struct one_message *m = arg;

    if (row->message_id == m->message_id && row->event != NULL)
        m->event = tgh_arena_strdup(m->a, row->event);
    return 1;
}

/* The stored event of (chat_id, message_id) into ev (strings in a); TGH_ENOTFOUND when none. */
static tgh_err
load_event(struct store *st, int64_t chat_id, int64_t message_id, struct tgh_arena *a,
           struct msg_event *ev, const char **json)
{
    struct store_query q = {
        .chat_id = chat_id,
        .since = MSG_UNSET,
        .until = MSG_UNSET,
        .limit = 1,
        .after_id = message_id - 1,
        .by_id = true,
    };
    struct one_message m = { .a = a, .message_id = message_id };
    tgh_err rc;

    rc = store_messages_each(st, &q, one_row, &m);
    if (rc != TGH_OK)
        return rc;
    if (m.event == NULL)
        return tgh_errf(TGH_ENOTFOUND, "message %" PRId64 " of chat %" PRId64 " is not stored",
                        message_id, chat_id);
    *json = m.event;
    return codec_event_decode(m.event, strlen(m.event), a, ev);
}

/* ---- metrics ---- */
void
pipeline_metrics_media(enum store_job_state state, int64_t bytes, bool dedup)
{
    const char *v[1] = { store_job_state_name(state) };

    tgh_metric_inc(tgh_metric_counter("tgh_media_jobs_ended_total",
                                      "media jobs ended, by state: stored, failed, skipped, or "
                                      "queued again after a failed attempt",
                                      "state"),
                   v);
    if (bytes > 0)
        tgh_metric_add(tgh_metric_counter("tgh_media_bytes_stored_total",
                                          "bytes written to the media store (new content only)",
                                          NULL),
                       NULL, (double)bytes);
    if (dedup)
        tgh_metric_inc(tgh_metric_counter("tgh_media_dedup_hits_total",
                                          "media files whose content was already stored", NULL),
                       NULL);
}

/* ---- the scanner ---- */

struct scan_page {
    struct tgh_arena *a;
    char **events;
    int64_t *ids;
    size_t n, cap;
};

static int
scan_row(void *arg, const struct store_message_row *row)
{
    struct scan_page *p = arg;

    if (p->n == p->cap)
        return 1;
    p->ids[p->n] = row->message_id;
    p->events[p->n] = row->event != NULL ? tgh_arena_strdup(p->a, row->event) : NULL;
    p->n++;
    return 0;
}

enum export_path { EXPORT_OK, EXPORT_MISSING, EXPORT_REFUSED };

/*
 * rel (a path from an export) made absolute inside dir, into out.
 * EXPORT_REFUSED, with *why, when it leads outside dir (.., an absolute
 * path, a symbolic link out) or is not a regular file; EXPORT_MISSING when
 * there is no such file (an export copied without its media folders).
 */
static enum export_path
export_file(const char *dir, const char *rel, char *out, size_t cap, const char **why)
{
    char root[PATH_MAX], joined[PATH_MAX * 2], real[PATH_MAX];
    struct stat sb;
    size_t n;

    if (realpath(dir, root) == NULL) {
        *why = "the export folder cannot be resolved";
        return EXPORT_MISSING;
    }
    if (rel[0] == '/') {
        *why = "an absolute path";
        return EXPORT_REFUSED;
    }
    if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", root, rel) >= sizeof(joined)) {
        *why = "a path too long";
        return EXPORT_REFUSED;
    }
    if (strncmp(rel, "../", 3) == 0 || strstr(rel, "/../") != NULL || strcmp(rel, "..") == 0) {
        *why = "a path leading outside the export folder";
        return EXPORT_REFUSED;
    }
    if (realpath(joined, real) == NULL) {
        *why = "not there";
        return EXPORT_MISSING;
    }
    n = strlen(root);
    if (strncmp(real, root, n) != 0 || real[n] != '/') {
        *why = "a path leading outside the export folder";
        return EXPORT_REFUSED;
    }
    if (stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *why = "not a regular file";
        return EXPORT_REFUSED;
    }
    if ((size_t)snprintf(out, cap, "%s", real) >= cap) {
        *why = "a path too long";
        return EXPORT_REFUSED;
    }
    return EXPORT_OK;
}

static const char *
base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

void *
pipeline_media_job_json(const struct store_media_job *j)
{
    json_t *o = json_object();

#define S(k, v) (void)json_object_set_new(o, k, (v) != NULL ? json_string(v) : json_null())
#define I(k, v) (void)json_object_set_new(o, k, json_integer((json_int_t)(v)))
    I("id", j->id);
    I("chat_id", j->chat_id);
    I("message_id", j->message_id);
    S("media_key", j->media_key);
    S("kind", j->media_kind);
    S("state", store_job_state_name(j->state));
    S("origin", j->origin);
    S("file_name", j->file_name);
    S("mime_type", j->mime_type);
    S("content_type", pipeline_media_content_type(j));
    I("size", j->size);
    I("downloaded", j->downloaded);
    I("attempts", j->attempts);
    S("error", j->error);
    S("sha256", j->sha256);
    S("storage_key", j->storage_key);
    I("next_at", j->next_at);
    I("created_at", j->created_at);
    I("updated_at", j->updated_at);
    I("finished_at", j->finished_at);
#undef S
#undef I
    return o;
}

/* The job of one file of ev (the file itself, or its thumbnail), added to the store. */
static tgh_err
scan_file(struct store *st, const struct pipeline_media_scan *q, const struct msg_event *ev,
          struct pipeline_media_scan_result *res)
{
    const struct msg_media *m = ev->media;
    struct store_media_job j = { 0 };
    char src[PATH_MAX];
    const char *why = NULL, *rel;
    enum media_decision d;
    int64_t size = m->size_bytes != MSG_UNSET && m->size_bytes > 0 ? m->size_bytes : 0;
    bool added = false;
    tgh_err rc;

    d = media_policy_decide(q->policy, m->kind, size, ev->date, q->added_at, &why);
    j.chat_id = ev->chat_id;
    j.message_id = ev->message_id;
    j.media_key = d == MEDIA_THUMB ? "thumb" : "file";
    j.date = ev->date;
    j.media_kind = m->kind;
    j.file_unique_id = d == MEDIA_THUMB ? NULL : m->file_unique_id;
    j.file_name = d == MEDIA_THUMB ? NULL : m->file_name;
    j.mime_type = d == MEDIA_THUMB ? NULL : m->mime_type;
    j.size = d == MEDIA_THUMB ? 0 : size;
    j.origin = "tdlib";
    j.priority = d == MEDIA_THUMB ? PRIORITY_THUMB : PRIORITY_FILE;
    j.state = STORE_JOB_QUEUED;
    if (d == MEDIA_SKIP) {
        j.state = STORE_JOB_SKIPPED;
        j.error = why;
    } else if (q->export_dir != NULL) {
        rel = d == MEDIA_THUMB ? m->thumbnail_path : m->path;
        if (rel != NULL && m->placeholder == NULL) {
            enum export_path ep = export_file(q->export_dir, rel, src, sizeof(src), &why);

            if (ep == EXPORT_OK) {
                j.origin = "export";
                j.source_path = src;
                if (j.file_name == NULL && d != MEDIA_THUMB)
                    j.file_name = base_name(rel); /* photos have no name but their file's */
            } else if (ep == EXPORT_REFUSED) {
                log_warn("media: message %" PRId64 " of chat %" PRId64
                         ": its file is %s, refused; the message is archived",
                         ev->message_id, ev->chat_id, why);
                res->refused++;
                j.error = "the export's file was refused: it leads outside the export folder";
            } else {
                j.error = "the export's file is not there";
            }
        } else if (m->placeholder != NULL) {
            j.error = m->placeholder; /* missing: a download through TDLib may fill it */
        }
    }
    rc = store_media_job_add(st, &j, NULL, &added);
    if (rc == TGH_OK && added) {
        if (j.state == STORE_JOB_SKIPPED)
            res->skipped++;
        else
            res->queued++;
    }
    return rc;
}

tgh_err
pipeline_media_scan(struct store *st, const struct pipeline_media_scan *q,
                    struct pipeline_media_scan_result *res)
{
    struct tgh_arena a;
    char *events[SCAN_PAGE];
    int64_t ids[SCAN_PAGE], last = 0;
    tgh_err rc = TGH_OK;

    memset(res, 0, sizeof(*res));
    if (!q->from_start && (rc = store_media_scan_get(st, q->chat_id, &last)) != TGH_OK)
        return rc;
    tgh_arena_init(&a, 64 * 1024);
    for (;;) {
        struct scan_page p = { .a = &a, .events = events, .ids = ids, .cap = SCAN_PAGE };
        struct store_query sq = {
            .chat_id = q->chat_id,
            .since = MSG_UNSET,
            .until = MSG_UNSET,
            .limit = SCAN_PAGE,
            .after_id = last,
            .by_id = true,
            .media_only = true,
        };

        if (q->max > 0 && res->messages + SCAN_PAGE > q->max)
            sq.limit = (int64_t)(q->max - res->messages);
        if (sq.limit <= 0)
            break;
        tgh_arena_reset(&a);
        rc = store_messages_each(st, &sq, scan_row, &p);
        if (rc != TGH_OK)
            break;
        for (size_t i = 0; rc == TGH_OK && i < p.n; i++) {
            struct msg_event ev;

            last = p.ids[i];
            res->messages++;
            if (p.events[i] == NULL)
                continue;
            rc = codec_event_decode(p.events[i], strlen(p.events[i]), &a, &ev);
            if (rc != TGH_OK) {
                /* A stored event is always valid; say which one is not, and go on. */
                log_warn("media: stored event %" PRId64 " of chat %" PRId64 " does not decode: %s",
                         p.ids[i], q->chat_id, tgh_errmsg());
                rc = TGH_OK;
                continue;
            }
            if (ev.media != NULL && ev.op == MSG_OP_UPSERT)
                rc = scan_file(st, q, &ev, res);
            msg_event_fini(&ev);
        }
        if (rc == TGH_OK && !q->from_start && p.n > 0)
            rc = store_media_scan_put(st, q->chat_id, last);
        if (rc != TGH_OK)
            break;
        if (p.n < (size_t)sq.limit) {
            res->done = true;
            break;
        }
    }
    tgh_arena_fini(&a);
    return rc;
}

/* ---- storing a job's file ---- */

static void
record_upload(void *arg, const char *upload_id)
{
    void **ctx = arg;
    struct store *st = ctx[0];
    const struct store_media_job *j = ctx[1];

    /* If this fails the upload is only not resumable: the next attempt begins a new one. */
    if (store_media_job_set_upload(st, j->id, upload_id) != TGH_OK)
        log_warn("media: job %" PRId64 ": upload id not recorded: %s", j->id, tgh_errmsg());
}

/* The files of a message as message.json lists them: stored jobs, and this one. */
struct sidecar {
    json_t *files;
    int64_t skip_id;
};

static json_t *
file_json(const struct store_media_job *j, const char *sha256, const char *key, int64_t size,
          const char *alias)
{
    json_t *o = json_object();

    (void)json_object_set_new(o, "media_key", json_string(j->media_key));
    (void)json_object_set_new(o, "kind", j->media_kind ? json_string(j->media_kind) : json_null());
    (void)json_object_set_new(o, "original_name",
                              j->file_name ? json_string(j->file_name) : json_null());
    (void)json_object_set_new(o, "name", alias != NULL ? json_string(alias) : json_null());
    (void)json_object_set_new(o, "content_type", json_string(pipeline_media_content_type(j)));
    (void)json_object_set_new(o, "size", json_integer(size));
    (void)json_object_set_new(o, "sha256", json_string(sha256));
    (void)json_object_set_new(o, "object", json_string(key));
    (void)json_object_set_new(o, "file_unique_id",
                              j->file_unique_id ? json_string(j->file_unique_id) : json_null());
    return o;
}

static int
sidecar_row(void *arg, const struct store_media_job *j)
{
    struct sidecar *s = arg;
    char name[MEDIA_NAME_MAX + 1];

    if (j->id == s->skip_id || j->sha256 == NULL || j->storage_key == NULL)
        return 0;
    layout_name(j, name, sizeof(name));
    (void)json_array_append_new(s->files, file_json(j, j->sha256, j->storage_key, j->size, name));
    return 0;
}

/* Write message.json of j's message into folder (the layout folder). */
static tgh_err
write_sidecar(struct store *st, struct media_store *ms, const struct store_media_job *j,
              const char *event_json, const char *folder, json_t *this_file)
{
    struct store_media_jobs_query q = {
        .state = STORE_JOB_STORED,
        .chat_id = j->chat_id,
        .message_id = j->message_id,
    };
    struct sidecar s = { .files = json_array(), .skip_id = j->id };
    char key[MEDIA_KEY_MAX];
    json_t *doc, *ev;
    char *text = NULL;
    tgh_err rc;

    (void)json_array_append(s.files, this_file);
    rc = store_media_jobs_each(st, &q, sidecar_row, &s);
    if (rc != TGH_OK) {
        json_decref(s.files);
        return rc;
    }
    ev = json_loads(event_json, 0, NULL);
    doc = json_object();
    (void)json_object_set_new(doc, "schema_version", json_integer(MSG_SCHEMA_VERSION));
    (void)json_object_set_new(doc, "chat_id", json_integer(j->chat_id));
    (void)json_object_set_new(doc, "message_id", json_integer(j->message_id));
    (void)json_object_set_new(doc, "files", s.files);
    (void)json_object_set_new(doc, "event", ev != NULL ? ev : json_null());
    text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(doc);
    if (text == NULL)
        return tgh_errf(TGH_ENOMEM, "message.json of message %" PRId64, j->message_id);
    if ((size_t)snprintf(key, sizeof(key), "%s/message.json", folder) >= sizeof(key))
        rc = tgh_errf(TGH_ETOOBIG, "layout key of message %" PRId64, j->message_id);
    else
        rc = media_put_bytes(ms, key, text, strlen(text), "application/json");
    tgh_free(text); /* json_dumps uses malloc */
    return rc;
}

tgh_err
pipeline_media_store(struct store *st, struct media_store *ms, const struct store_media_job *j,
                     const char *path, const struct pipeline_media_retry *retry,
                     struct pipeline_media_stored *out)
{
    struct store_dedup d;
    struct msg_event ev;
    struct tgh_arena a;
    struct media_put_result pr = { 0 };
    char name[MEDIA_NAME_MAX + 1], slug[MEDIA_SLUG_MAX + 32], folder[MEDIA_KEY_MAX];
    const char *event_json = NULL;
    int64_t size = 0, now = (int64_t)time(NULL);
    bool made = false;
    json_t *file;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    tgh_arena_init(&a, 16 * 1024);
    msg_event_init(&ev);
    rc = media_file_sha256(path, out->sha256, &size);
    if (rc == TGH_OK && (strcmp(j->origin, "tdlib") == 0 || strcmp(j->origin, "relay") == 0) &&
        j->size > 0 && size != j->size) {
        out->truncated = true;
        rc = tgh_errf(TGH_EAGAIN, "truncated download: %" PRId64 " of %" PRId64 " bytes", size,
                      j->size);
    }
    out->bytes = size;
    if (rc == TGH_OK) {
        rc = store_dedup_find(st, out->sha256, NULL, &d);
        if (rc == TGH_OK) {
            int64_t have = 0;

            (void)snprintf(out->key, sizeof(out->key), "%s", d.storage_key);
            /* The index says stored; the store must agree, or it is stored again. */
            rc = media_stat(ms, out->key, &have);
            out->dedup = rc == TGH_OK && have == size;
            if (rc == TGH_ENOTFOUND || (rc == TGH_OK && have != size))
                rc = TGH_OK;
        } else if (rc == TGH_ENOTFOUND) {
            rc = media_object_key(out->sha256, out->key, sizeof(out->key));
        }
    }
    if (rc == TGH_OK && !out->dedup) {
        void *ctx[2] = { st, (void *)j };
        struct media_put p = {
            .key = out->key,
            .path = path,
            .content_type = pipeline_media_content_type(j),
            .sha256 = out->sha256,
            .upload_id = j->upload_id,
            .on_upload_id = record_upload,
            .arg = ctx,
        };
        struct store_dedup nd = {
            .sha256 = out->sha256,
            .storage_key = out->key,
            .file_unique_id = j->file_unique_id,
            .size = size,
            .content_type = pipeline_media_content_type(j),
            .created_at = now,
        };
        bool added;

        rc = media_put(ms, &p, &pr);
        out->bytes_sent = pr.bytes_sent;
        if (rc == TGH_OK)
            rc = store_dedup_put(st, &nd, &added);
    }
    if (rc == TGH_OK)
        rc = load_event(st, j->chat_id, j->message_id, &a, &ev, &event_json);
    if (rc == TGH_OK) {
        (void)media_chat_slug(j->chat_id, ev.chat_username, ev.chat_title, slug, sizeof(slug));
        layout_name(j, name, sizeof(name));
        rc = media_layout_key(j->date != MSG_UNSET && j->date > 0 ? j->date : ev.date, slug,
                              j->message_id, NULL, folder, sizeof(folder));
    }
    if (rc == TGH_OK) {
        if ((size_t)snprintf(out->alias, sizeof(out->alias), "%s/%s", folder, name) >=
            sizeof(out->alias))
            rc = tgh_errf(TGH_ETOOBIG, "layout name of message %" PRId64, j->message_id);
        else
            rc = media_alias(ms, out->key, out->alias, &made);
        if (!made)
            out->alias[0] = '\0';
    }
    if (rc == TGH_OK) {
        file = file_json(j, out->sha256, out->key, size, made ? name : NULL);
        rc = write_sidecar(st, ms, j, event_json, folder, file);
        json_decref(file);
    }
    if (rc == TGH_OK) {
        struct store_media_end e = {
            .state = STORE_JOB_STORED,
            .sha256 = out->sha256,
            .storage_key = out->key,
            .size = size,
            .at = now,
        };

        rc = store_media_job_end(st, j->id, &e);
        if (rc == TGH_OK)
            pipeline_metrics_media(STORE_JOB_STORED, out->dedup ? 0 : size, out->dedup);
    } else {
        char msg[512];
        tgh_err end;

        (void)snprintf(msg, sizeof(msg), "%s", tgh_errmsg());
        end = pipeline_media_failed(st, j, rc, msg, retry, now);
        if (end != TGH_OK)
            log_warn("media: job %" PRId64 " could not be ended: %s", j->id, tgh_errmsg());
        (void)tgh_errf(rc, "%s", msg);
    }
    msg_event_fini(&ev);
    tgh_arena_fini(&a);
    return rc;
}

tgh_err
pipeline_media_failed(struct store *st, const struct store_media_job *j, tgh_err rc,
                      const char *msg, const struct pipeline_media_retry *retry, int64_t now)
{
    struct store_media_end e = { .error = msg, .at = now };
    bool permanent = rc == TGH_ENOTFOUND || rc == TGH_ETOOBIG;

    if (permanent || j->attempts >= retry->max_attempts) {
        e.state = STORE_JOB_FAILED;
        log_warn("media: job %" PRId64 " (message %" PRId64 " of chat %" PRId64
                 ") failed after %d attempts: %s",
                 j->id, j->message_id, j->chat_id, j->attempts, msg);
    } else {
        unsigned n = j->attempts > 1 ? (unsigned)j->attempts - 1 : 0;
        int64_t delay = retry->base_s;

        while (n-- > 0 && delay < retry->cap_s)
            delay *= 2;
        if (delay > retry->cap_s)
            delay = retry->cap_s;
        /* Between the delay and half again as much, so many jobs do not return at once. */
        e.state = STORE_JOB_QUEUED;
        e.next_at = now + delay + pipeline_backoff_ms(0, delay * 500, delay * 500) / 1000;
        log_info("media: job %" PRId64 " attempt %d failed, again in %" PRId64 " s: %s", j->id,
                 j->attempts, e.next_at - now, msg);
    }
    pipeline_metrics_media(e.state, 0, false);
    return store_media_job_end(st, j->id, &e);
}
