/* SPDX-License-Identifier: MIT */
/*
 * pipeline_import.c - Telegram Desktop exports into the store.
 *
 * The export reader runs on the calling thread; its batches go to a writer
 * thread. Each chat of each file is one collection run, finished after the
 * chat's batches were drained so its counts are what was committed. A message
 * that cannot become an event is a dead letter and the file goes on. A file
 * that is truncated or not JSON fails after the complete batches before the
 * damage were committed, so the store stays consistent and a re-import
 * resumes idempotently.
 */
#define TGH_LOG_SUB "import"

#include "pipeline/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <inttypes.h>
#include <time.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/log.h"
#include "media/media.h"
#include "source/source.h"

#define PAYLOAD_MAX   (256 * 1024) /* dead-letter payloads are cut here */
#define WRITER_DEPTH  4
#define MEDIA_LEASE_S 300

struct job {
    struct store *aux; /* chats, runs, dead letters: the writer owns the other */
    struct pipeline_writer *w;
    const struct pipeline_import_opts *o;
    const char *file;
    int64_t run_id; /* 0 when no run is open */
    struct store_stats chat_stats;
    uint64_t chat_errors;
    struct pipeline_import_totals *tot;
    void (*on_error)(const char *msg);
    struct media_store *ms; /* NULL: media are not stored */
};

static tgh_err
on_chat_begin(void *arg, const struct source_export_chat *chat)
{
    struct job *j = arg;
    tgh_err rc;

    memset(&j->chat_stats, 0, sizeof(j->chat_stats));
    j->chat_errors = 0;
    j->tot->chats++;
    if (chat->chat_id == 0)
        return TGH_OK; /* its id is out of range: it only fails (source.h), nothing to store */
    /* A chat without messages is still a chat of the archive. */
    rc = store_chat_upsert(j->aux, chat->chat_id, chat->type, chat->title, NULL);
    if (rc != TGH_OK)
        return rc;
    return store_run_begin(j->aux, chat->chat_id, "import", j->file, &j->run_id);
}

static tgh_err
finish_run(struct job *j, const char *status, const char *error)
{
    struct store_run_result res = { 0 };
    tgh_err rc;

    if (j->run_id == 0)
        return TGH_OK;
    res.status = status;
    res.messages_seen =
        (int64_t)(j->chat_stats.inserted + j->chat_stats.versioned + j->chat_stats.unchanged +
                  j->chat_stats.refreshed + j->chat_stats.deleted + j->chat_stats.delete_unknown +
                  j->chat_errors);
    res.stats = j->chat_stats;
    res.errors = j->chat_errors;
    res.error = error;
    rc = store_run_finish(j->aux, j->run_id, &res);
    j->run_id = 0;
    return rc;
}

static tgh_err
on_batch(void *arg, struct msg_batch *b)
{
    struct job *j = arg;

    return pipeline_writer_submit(j->w, b);
}

static int
count_job(void *arg, const struct store_media_job *mj)
{
    uint64_t *n = arg;

    *n += strcmp(mj->origin, "tdlib") == 0;
    return 0;
}

/* Jobs of the chat waiting for a TDLib download: files the export did not have. */
static uint64_t
media_missing(struct store *st, int64_t chat_id)
{
    struct store_media_jobs_query q = {
        .state = STORE_JOB_QUEUED,
        .chat_id = chat_id,
        .message_id = MSG_UNSET,
    };
    uint64_t n = 0;

    if (store_media_jobs_each(st, &q, count_job, &n) != TGH_OK)
        return 0;
    return n;
}

/* A claimed export job: its file beside the export into the media store. */
static int
store_export_job(void *arg, const struct store_media_job *mj)
{
    struct job *j = arg;
    struct pipeline_media_stored out;

    if (mj->source_path == NULL) {
        (void)!pipeline_media_failed(j->aux, mj, TGH_ENOTFOUND, "an export job without its file",
                                     &j->o->media_retry, (int64_t)time(NULL));
        j->tot->media_failed++;
        return 0;
    }
    if (pipeline_media_store(j->aux, j->ms, mj, mj->source_path, &j->o->media_retry, &out) ==
        TGH_OK) {
        j->tot->media_stored++;
        j->tot->media_dedup += out.dedup;
        j->tot->media_bytes += out.bytes;
    } else {
        log_warn("media: %s not stored: %s", mj->source_path, tgh_errmsg());
        j->tot->media_failed++;
    }
    return 0;
}

/*
 * After a chat's messages are committed: jobs for its media (the files
 * beside the export, or missing ones for TDLib), then the export's files
 * stored. A media failure is counted and logged; the messages stay imported.
 */
static void
chat_media(struct job *j, int64_t chat_id)
{
    char dir[4096], *slash;
    struct pipeline_media_scan q = {
        .chat_id = chat_id,
        .policy = j->o->media_policy,
        .export_dir = dir,
        .from_start = true,
    };
    struct pipeline_media_scan_result r;
    struct store_media_claim c = {
        .lease_s = MEDIA_LEASE_S,
        .max = 32,
        .origin = "export",
        .chat_id = chat_id,
    };
    uint64_t before;

    (void)snprintf(dir, sizeof(dir), "%s", j->file);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        (void)snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (pipeline_media_scan(j->aux, &q, &r) != TGH_OK) {
        log_warn("media of chat %" PRId64 " not scanned: %s", chat_id, tgh_errmsg());
        return;
    }
    j->tot->media_refused += r.refused;
    j->tot->media_skipped += r.skipped;
    do {
        before = j->tot->media_stored + j->tot->media_failed;
        c.now = (int64_t)time(NULL);
        if (store_media_jobs_claim(j->aux, &c, store_export_job, j) != TGH_OK) {
            log_warn("media of chat %" PRId64 " not claimed: %s", chat_id, tgh_errmsg());
            return;
        }
    } while (j->tot->media_stored + j->tot->media_failed > before);
    j->tot->media_missing += media_missing(j->aux, chat_id);
}

static tgh_err
on_chat_end(void *arg, const struct source_export_chat *chat, tgh_err status)
{
    struct job *j = arg;
    char why[1024];
    tgh_err rc;

    (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
    rc = pipeline_writer_drain(j->w, &j->chat_stats);
    store_stats_add(&j->tot->stats, &j->chat_stats);
    if (rc != TGH_OK) {
        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        (void)finish_run(j, "failed", why);
        return tgh_errf(rc, "%s", why);
    }
    if (status != TGH_OK) {
        j->tot->failed_chats++;
        if (chat->chat_id == 0 && j->on_error != NULL)
            j->on_error(why); /* no run to record it in */
        return finish_run(j, "failed", why);
    }
    rc = finish_run(j, j->chat_errors > 0 ? "partial" : "ok", NULL);
    if (rc == TGH_OK && j->ms != NULL && chat->chat_id != 0)
        chat_media(j, chat->chat_id);
    return rc;
}

static tgh_err
on_dead_letter(void *arg, const char *position, const char *reason, const char *payload, size_t len)
{
    struct job *j = arg;
    struct store_dead_letter dl = {
        .source = j->o->from == PIPELINE_FROM_EVENTS ? "event" : "export",
        .origin = j->file,
        .position = position,
        .reason = reason,
        .payload = payload,
        .payload_len = len > PAYLOAD_MAX ? PAYLOAD_MAX : len,
    };

    j->chat_errors++;
    j->tot->dead_letters++;
    pipeline_metrics_dead_letter(dl.source);
    return store_dead_letter_add(j->aux, &dl);
}

static void
on_progress(void *arg, uint64_t bytes, uint64_t messages)
{
    struct job *j = arg;

    j->o->progress(j->o->progress_arg, j->file, bytes, j->tot->messages + messages);
}

/* An event file has no chats to begin and end: the whole file is one run. */
static tgh_err
read_events(struct job *j, const char *path, const struct source_export_opts *eo,
            const struct source_export_sink *sink, struct source_export_summary *sum)
{
    tgh_err rc;

    memset(&j->chat_stats, 0, sizeof(j->chat_stats));
    j->chat_errors = 0;
    rc = store_run_begin(j->aux, MSG_UNSET, "replay", path, &j->run_id);
    if (rc != TGH_OK)
        return rc;
    rc = source_events_import_file(path, eo, sink, sum);
    if (rc != TGH_OK)
        return rc; /* the caller drains and finishes the run as failed */
    rc = pipeline_writer_drain(j->w, &j->chat_stats);
    store_stats_add(&j->tot->stats, &j->chat_stats);
    if (rc != TGH_OK)
        return rc;
    return finish_run(j, j->chat_errors > 0 ? "partial" : "ok", NULL);
}

static tgh_err
import_file(struct job *j, const char *path)
{
    struct source_export_opts eo = { .tz = j->o->tz, .batch_size = j->o->batch_size };
    struct source_export_sink sink = {
        .arg = j,
        .chat_begin = on_chat_begin,
        .batch = on_batch,
        .chat_end = on_chat_end,
        .dead_letter = on_dead_letter,
        .progress = j->o->progress != NULL ? on_progress : NULL,
    };
    struct source_export_summary sum = { 0 };
    char *canon;
    tgh_err rc;

    /*
     * Runs and dead letters name the file by its canonical path, so the same
     * file reached as ./x.json, x.json or dir//x.json is one origin (and one
     * set of dead letters).
     */
    canon = realpath(path, NULL);
    j->file = canon != NULL ? canon : path;
    if (j->o->from == PIPELINE_FROM_EVENTS)
        rc = read_events(j, path, &eo, &sink, &sum);
    else
        rc = source_export_import_file(path, &eo, &sink, &sum);
    j->tot->messages += sum.messages;
    j->tot->bytes += sum.bytes;
    if (rc != TGH_OK) {
        struct store_stats late = { 0 };
        char why[1024];

        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        /* What was submitted before the damage is committed; the run says so. */
        (void)!pipeline_writer_drain(j->w, &late); /* the file's error is the one to report */
        store_stats_add(&j->chat_stats, &late);
        store_stats_add(&j->tot->stats, &late);
        (void)finish_run(j, "failed", why);
        j->tot->failed_files++;
        j->file = NULL;
        tgh_free(canon);
        return tgh_errf(rc, "%s", why);
    }
    j->tot->files++;
    j->file = NULL;
    tgh_free(canon); /* realpath() allocates with malloc */
    return TGH_OK;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * One path: a file, or a directory whose files are imported in name order
 * (*.json for exports, *.jsonl for events).
 */
static tgh_err
import_path(struct job *j, const char *path, void (*on_error)(const char *msg))
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    tgh_err rc, first = TGH_OK;
    const char *suffix = j->o->from == PIPELINE_FROM_EVENTS ? ".jsonl" : ".json";

    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = import_file(j, path);
        if (rc != TGH_OK && on_error != NULL)
            on_error(tgh_errmsg());
        return rc;
    }
    /* readdir, not glob: a directory name is a name, not a pattern. */
    d = opendir(path);
    if (d == NULL) {
        first = tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.' || len <= strlen(suffix) ||
            strcmp(de->d_name + len - strlen(suffix), suffix) != 0)
            continue;
        /* Only regular files: a FIFO would block, a folder named x.json fail. */
        if (fstatat(dirfd(d), de->d_name, &sb, 0) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            names = tgh_realloc(names, cap * sizeof(*names));
        }
        len += strlen(path) + 2;
        names[n] = tgh_malloc(len);
        (void)snprintf(names[n++], len, "%s/%s", path, de->d_name);
    }
    (void)closedir(d);
    if (n == 0) {
        first = tgh_errf(TGH_ENOTFOUND, "%s: no *%s files in this directory", path, suffix);
        goto out;
    }
    qsort(names, n, sizeof(*names), name_cmp);
    for (size_t k = 0; k < n; k++) {
        rc = import_file(j, names[k]);
        if (rc != TGH_OK) {
            if (on_error != NULL)
                on_error(tgh_errmsg());
            if (first == TGH_OK)
                first = rc;
        }
    }
out:
    if (first != TGH_OK && n == 0) {
        j->tot->failed_files++;
        if (on_error != NULL)
            on_error(tgh_errmsg());
    }
    for (size_t k = 0; k < n; k++)
        tgh_free(names[k]);
    tgh_free(names);
    return first;
}

tgh_err
pipeline_import_paths(const char *store_url, char *const *paths, size_t npaths,
                      const struct pipeline_import_opts *o, void (*on_error)(const char *msg),
                      struct pipeline_import_totals *tot)
{
    struct job j = { 0 };
    struct store *st = NULL;
    tgh_err rc, first = TGH_OK;

    j.o = o;
    j.tot = tot;
    j.on_error = on_error;
    rc = store_open(store_url, &st);
    if (rc != TGH_OK)
        return rc;
    rc = store_open(store_url, &j.aux);
    if (rc != TGH_OK)
        goto out;
    if (o->from == PIPELINE_FROM_EXPORT && o->media_url != NULL && !media_url_is_off(o->media_url))
        rc = media_open(o->media_url, &j.ms);
    if (rc != TGH_OK)
        goto out;
    rc = pipeline_writer_start(st, o->batch_size > 0 ? o->batch_size : 500, WRITER_DEPTH, &j.w);
    if (rc != TGH_OK)
        goto out;
    for (size_t i = 0; i < npaths; i++) {
        rc = import_path(&j, paths[i], on_error);
        if (rc != TGH_OK && first == TGH_OK)
            first = rc;
    }
    rc = pipeline_writer_stop(j.w, NULL);
    j.w = NULL;
    if (rc != TGH_OK && first == TGH_OK)
        first = rc;
    rc = first;
out:
    if (j.w != NULL && pipeline_writer_stop(j.w, NULL) != TGH_OK)
        rc = TGH_EIO; /* the detail of the first error is already recorded */
    media_close(j.ms);
    store_close(j.aux);
    store_close(st);
    return rc;
}
