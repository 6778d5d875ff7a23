/* SPDX-License-Identifier: MIT */
/*
 * store_media.c - the media half of the store's front (store.h, "Media
 * jobs"): argument checks shared by both backends, state names, and the
 * row reader both backends use.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/util.h"
#include "store/store_int.h"

static const char *const state_names[STORE_JOB_STATES] = {
    [STORE_JOB_QUEUED] = "queued",   [STORE_JOB_DOWNLOADING] = "downloading",
    [STORE_JOB_STORED] = "stored",   [STORE_JOB_FAILED] = "failed",
    [STORE_JOB_SKIPPED] = "skipped",
};

const char *
store_job_state_name(enum store_job_state s)
{
    return (unsigned)s < STORE_JOB_STATES ? state_names[s] : "unknown";
}

bool
store_job_state_parse(const char *s, enum store_job_state *out)
{
    for (size_t i = 0; s != NULL && i < TGH_NELEM(state_names); i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum store_job_state)i;
            return true;
        }
    return false;
}

static int64_t
num(const char *s)
{
    return s != NULL ? strtoll(s, NULL, 10) : 0;
}

static const char *
dup(struct tgh_arena *a, const char *s)
{
    return s != NULL ? tgh_arena_strdup(a, s) : NULL;
}

tgh_err
store_media_job_from(const char *const col[JOB_NCOLUMNS], struct tgh_arena *a,
                     struct store_media_job *j)
{
    memset(j, 0, sizeof(*j));
    j->id = num(col[0]);
    j->chat_id = num(col[1]);
    j->message_id = num(col[2]);
    j->media_key = dup(a, col[3]);
    j->date = num(col[4]);
    j->media_kind = dup(a, col[5]);
    j->file_unique_id = dup(a, col[6]);
    j->file_name = dup(a, col[7]);
    j->mime_type = dup(a, col[8]);
    j->size = num(col[9]);
    j->origin = dup(a, col[10]);
    j->source_path = dup(a, col[11]);
    j->priority = (int)num(col[12]);
    if (!store_job_state_parse(col[13], &j->state))
        return tgh_errf(TGH_EPROTO, "media job %" PRId64 ": unknown state '%.40s'", j->id,
                        col[13] != NULL ? col[13] : "(null)");
    j->attempts = (int)num(col[14]);
    j->error = dup(a, col[15]);
    j->next_at = num(col[16]);
    j->downloaded = num(col[17]);
    j->sha256 = dup(a, col[18]);
    j->storage_key = dup(a, col[19]);
    j->upload_id = dup(a, col[20]);
    j->created_at = num(col[21]);
    j->updated_at = num(col[22]);
    j->finished_at = num(col[23]);
    return TGH_OK;
}

static bool
is_sha256(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

tgh_err
store_media_job_add(struct store *st, const struct store_media_job *j, int64_t *id, bool *added)
{
    int64_t ignored_id;
    bool ignored_added;

    if (j->chat_id == 0 || j->chat_id == MSG_UNSET || j->message_id <= 0)
        return tgh_errf(TGH_EINVAL, "a media job needs a chat and a message id");
    if (j->media_key == NULL || *j->media_key == '\0' || strlen(j->media_key) > 256)
        return tgh_errf(TGH_EINVAL, "media job of message %" PRId64 ": bad media key",
                        j->message_id);
    if (j->media_kind == NULL || *j->media_kind == '\0' || j->origin == NULL || *j->origin == '\0')
        return tgh_errf(TGH_EINVAL, "media job of message %" PRId64 ": needs a kind and an origin",
                        j->message_id);
    if (j->state != STORE_JOB_QUEUED && j->state != STORE_JOB_SKIPPED)
        return tgh_errf(TGH_EINVAL, "a new media job is queued or skipped, not %s",
                        store_job_state_name(j->state));
    if (j->priority < 1 || j->priority > 32)
        return tgh_errf(TGH_EINVAL, "media job priority %d (1..32)", j->priority);
    if (j->size < 0)
        return tgh_errf(TGH_EINVAL, "media job size %" PRId64, j->size);
    return store_be(st)->media_job_add(store_impl(st), j, (int64_t)time(NULL),
                                       id != NULL ? id : &ignored_id,
                                       added != NULL ? added : &ignored_added);
}

/* Orders claimed jobs as the claim promises: priority, then id. */
static int
claim_order(const void *pa, const void *pb)
{
    const struct store_media_job *a = pa, *b = pb;

    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

void
store_media_jobs_sort(struct store_media_job *jobs, size_t n)
{
    qsort(jobs, n, sizeof(*jobs), claim_order);
}

tgh_err
store_media_jobs_claim(struct store *st, const struct store_media_claim *c, store_media_job_fn fn,
                       void *arg)
{
    if (c->max == 0)
        return TGH_OK;
    if (c->max > 1000 || c->lease_s <= 0 || c->now <= 0)
        return tgh_errf(TGH_EINVAL, "media claim: max 1..1000, lease and now > 0");
    return store_be(st)->media_jobs_claim(store_impl(st), c, fn, arg);
}

tgh_err
store_media_job_progress(struct store *st, int64_t id, int64_t downloaded, int64_t lease_until)
{
    if (downloaded < 0)
        return tgh_errf(TGH_EINVAL, "media job %" PRId64 ": %" PRId64 " bytes downloaded", id,
                        downloaded);
    return store_be(st)->media_job_progress(store_impl(st), id, downloaded, lease_until,
                                            (int64_t)time(NULL));
}

tgh_err
store_media_job_set_upload(struct store *st, int64_t id, const char *upload_id)
{
    if (upload_id != NULL && (*upload_id == '\0' || strlen(upload_id) > 1024))
        return tgh_errf(TGH_EINVAL, "media job %" PRId64 ": bad upload id", id);
    return store_be(st)->media_job_set_upload(store_impl(st), id, upload_id, (int64_t)time(NULL));
}

tgh_err
store_media_job_end(struct store *st, int64_t id, const struct store_media_end *e)
{
    switch (e->state) {
    case STORE_JOB_STORED:
        if (!is_sha256(e->sha256) || e->storage_key == NULL || e->size < 0)
            return tgh_errf(TGH_EINVAL, "media job %" PRId64 ": stored needs a SHA-256 and a key",
                            id);
        break;
    case STORE_JOB_FAILED:
    case STORE_JOB_SKIPPED:
    case STORE_JOB_QUEUED:
        break;
    default:
        return tgh_errf(TGH_EINVAL, "media job %" PRId64 " cannot end %s", id,
                        store_job_state_name(e->state));
    }
    if (e->at <= 0)
        return tgh_errf(TGH_EINVAL, "media job %" PRId64 ": end at %" PRId64, id, e->at);
    return store_be(st)->media_job_end(store_impl(st), id, e);
}

tgh_err
store_media_jobs_each(struct store *st, const struct store_media_jobs_query *q,
                      store_media_job_fn fn, void *arg)
{
    if (q->state < -1 || q->state >= STORE_JOB_STATES)
        return tgh_errf(TGH_EINVAL, "media job state %d", q->state);
    if (q->message_id != MSG_UNSET && q->chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "media jobs of a message need its chat");
    return store_be(st)->media_jobs_each(store_impl(st), q, fn, arg);
}

tgh_err
store_media_job_retry(struct store *st, int64_t id, int64_t now, int64_t *n)
{
    int64_t ignored;

    if (id < 0 || now <= 0)
        return tgh_errf(TGH_EINVAL, "media retry: job %" PRId64 " at %" PRId64, id, now);
    return store_be(st)->media_job_retry(store_impl(st), id, now, n != NULL ? n : &ignored);
}

tgh_err
store_media_counts_each(struct store *st, store_media_count_fn fn, void *arg)
{
    return store_be(st)->media_counts_each(store_impl(st), fn, arg);
}

tgh_err
store_dedup_find(struct store *st, const char *sha256, const char *file_unique_id,
                 struct store_dedup *out)
{
    if (sha256 == NULL && (file_unique_id == NULL || *file_unique_id == '\0'))
        return tgh_errf(TGH_EINVAL, "content lookup needs a SHA-256 or a file_unique_id");
    if (sha256 != NULL && !is_sha256(sha256))
        return tgh_errf(TGH_EINVAL, "'%.80s' is not a SHA-256", sha256);
    return store_be(st)->dedup_find(store_impl(st), sha256, file_unique_id, out);
}

tgh_err
store_dedup_put(struct store *st, const struct store_dedup *d, bool *added)
{
    bool ignored;

    if (!is_sha256(d->sha256) || d->storage_key == NULL || *d->storage_key == '\0' || d->size < 0)
        return tgh_errf(TGH_EINVAL, "stored content needs a SHA-256, a key and a size");
    return store_be(st)->dedup_put(store_impl(st), d, added != NULL ? added : &ignored);
}

tgh_err
store_dedup_each(struct store *st, store_dedup_fn fn, void *arg)
{
    return store_be(st)->dedup_each(store_impl(st), fn, arg);
}

tgh_err
store_media_scan_get(struct store *st, int64_t chat_id, int64_t *last)
{
    *last = 0;
    return store_be(st)->media_scan_get(store_impl(st), chat_id, last);
}

tgh_err
store_media_scan_put(struct store *st, int64_t chat_id, int64_t last)
{
    if (last < 0)
        return tgh_errf(TGH_EINVAL, "media scan position %" PRId64, last);
    return store_be(st)->media_scan_put(store_impl(st), chat_id, last, (int64_t)time(NULL));
}
