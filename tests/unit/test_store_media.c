/* SPDX-License-Identifier: MIT */
/*
 * test_store_media.c - media jobs, the content index and the media scan
 * position keep the contracts of store.h in every store backend
 * (store_fx.h picks it): one job per file of a message, claims that never
 * hand one job to two claimers and give a dead claimer's jobs back after
 * the lease, ends that record what happened, listings in pages that the
 * callback may write during, and content recorded once per SHA-256.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/msg.h"
#include "store/store.h"
#include "store_fx.h"

#define NOW   1800000000
#define CHAT  INT64_C(-1001006503122)
#define CHAT2 INT64_C(-1001234567890)
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int
setup(void **state)
{
    struct store_fx *fx = tgh_calloc(1, sizeof(*fx));

    *state = fx;
    return store_fx_init(fx, "test_store_media", true);
}

static int
teardown(void **state)
{
    struct store_fx *fx = *state;

    store_fx_fini(fx);
    tgh_free(fx);
    return 0;
}

static struct store_media_job
job(int64_t chat, int64_t msg, const char *key)
{
    return (struct store_media_job){
        .chat_id = chat,
        .message_id = msg,
        .media_key = key,
        .date = NOW - 100,
        .media_kind = "photo",
        .file_unique_id = "AQADuniq",
        .file_name = "photo.jpg",
        .mime_type = "image/jpeg",
        .size = 1000,
        .origin = "tdlib",
        .priority = 1,
        .state = STORE_JOB_QUEUED,
    };
}

static int64_t
add(struct store_fx *fx, struct store_media_job j)
{
    int64_t id = 0;
    bool added = false;

    if (store_media_job_add(fx->st, &j, &id, &added) != TGH_OK)
        fail_msg("store_media_job_add: %s", tgh_errmsg());
    assert_true(added);
    assert_true(id > 0);
    return id;
}

/* What a claim or a listing handed over, in order. */
struct seen {
    int64_t ids[1024];
    int attempts[1024];
    enum store_job_state states[1024];
    size_t n;
    struct store *write; /* when set: end every job seen as failed (writes during the walk) */
};

static int
see(void *arg, const struct store_media_job *j)
{
    struct seen *s = arg;

    if (s->n < 1024) {
        s->ids[s->n] = j->id;
        s->attempts[s->n] = j->attempts;
        s->states[s->n] = j->state;
        s->n++;
    }
    if (s->write != NULL) {
        struct store_media_end e = { .state = STORE_JOB_FAILED, .error = "walked", .at = NOW };

        assert_int_equal(store_media_job_end(s->write, j->id, &e), TGH_OK);
    }
    return 0;
}

static size_t
claim(struct store_fx *fx, int64_t now, size_t max, const char *origin, int64_t chat,
      struct seen *s)
{
    struct store_media_claim c = {
        .now = now, .lease_s = 60, .max = max, .origin = origin, .chat_id = chat
    };

    memset(s, 0, sizeof(*s));
    if (store_media_jobs_claim(fx->st, &c, see, s) != TGH_OK)
        fail_msg("claim: %s", tgh_errmsg());
    return s->n;
}

/* The one job of (chat, message), read back through the listing. */
struct one {
    struct store_media_job j;
    char error[128], sha[80], key[256], upload[128];
    char origin[32], name[128], mime[64], uniq[128];
    int found;
};

static int
keep_one(void *arg, const struct store_media_job *j)
{
    struct one *o = arg;

    o->j = *j;
    (void)snprintf(o->error, sizeof(o->error), "%s", j->error ? j->error : "");
    (void)snprintf(o->sha, sizeof(o->sha), "%s", j->sha256 ? j->sha256 : "");
    (void)snprintf(o->key, sizeof(o->key), "%s", j->storage_key ? j->storage_key : "");
    (void)snprintf(o->upload, sizeof(o->upload), "%s", j->upload_id ? j->upload_id : "");
    (void)snprintf(o->origin, sizeof(o->origin), "%s", j->origin ? j->origin : "");
    (void)snprintf(o->name, sizeof(o->name), "%s", j->file_name ? j->file_name : "");
    (void)snprintf(o->mime, sizeof(o->mime), "%s", j->mime_type ? j->mime_type : "");
    (void)snprintf(o->uniq, sizeof(o->uniq), "%s", j->file_unique_id ? j->file_unique_id : "");
    /* the row's strings live only as long as the callback */
    o->j.error = o->j.sha256 = o->j.storage_key = o->j.upload_id = NULL;
    o->j.origin = o->j.file_name = o->j.mime_type = o->j.file_unique_id = NULL;
    o->j.media_key = o->j.media_kind = o->j.source_path = NULL;
    o->found++;
    return 0;
}

static struct one
get(struct store_fx *fx, int64_t chat, int64_t msg)
{
    struct store_media_jobs_query q = { .state = -1, .chat_id = chat, .message_id = msg };
    struct one o;

    memset(&o, 0, sizeof(o));
    if (store_media_jobs_each(fx->st, &q, keep_one, &o) != TGH_OK)
        fail_msg("jobs_each: %s", tgh_errmsg());
    assert_int_equal(o.found, 1);
    return o;
}

/* ---- tests ---- */

static void
test_add_once_per_file(void **state)
{
    struct store_fx *fx = *state;
    struct store_media_job j = job(CHAT, 10, "AQADuniq");
    int64_t id = add(fx, j), id2 = 0;
    bool added = true;

    j.size = 5; /* the same file again: the existing row wins */
    assert_int_equal(store_media_job_add(fx->st, &j, &id2, &added), TGH_OK);
    assert_false(added);
    assert_int_equal(id2, id);
    struct one o = get(fx, CHAT, 10);
    assert_int_equal(o.j.size, 1000);
    assert_int_equal(o.j.state, STORE_JOB_QUEUED);
    assert_int_equal(o.j.attempts, 0);
    assert_string_equal(o.origin, "tdlib");

    /* another file of the same message, and the same key in another chat */
    (void)add(fx, job(CHAT, 10, "thumb:AQADuniq"));
    (void)add(fx, job(CHAT2, 10, "AQADuniq"));

    /* a skipped job is finished when added */
    j = job(CHAT, 11, "k");
    j.state = STORE_JOB_SKIPPED;
    j.error = "kind video not kept";
    (void)add(fx, j);
    o = get(fx, CHAT, 11);
    assert_int_equal(o.j.state, STORE_JOB_SKIPPED);
    assert_string_equal(o.error, "kind video not kept");
    assert_true(o.j.finished_at > 0);
}

static void
test_add_refuses_bad_rows(void **state)
{
    struct store_fx *fx = *state;
    struct store_media_job j;
    bool added;

    j = job(CHAT, 10, "k");
    j.priority = 0;
    assert_int_equal(store_media_job_add(fx->st, &j, NULL, &added), TGH_EINVAL);
    j = job(CHAT, 10, "k");
    j.priority = 33;
    assert_int_equal(store_media_job_add(fx->st, &j, NULL, &added), TGH_EINVAL);
    j = job(CHAT, 10, "");
    assert_int_equal(store_media_job_add(fx->st, &j, NULL, &added), TGH_EINVAL);
    j = job(CHAT, 0, "k");
    assert_int_equal(store_media_job_add(fx->st, &j, NULL, &added), TGH_EINVAL);
    j = job(CHAT, 10, "k");
    j.state = STORE_JOB_STORED;
    assert_int_equal(store_media_job_add(fx->st, &j, NULL, &added), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "stored"));
    j = job(CHAT, 10, "k");
    j.origin = NULL;
    assert_int_equal(store_media_job_add(fx->st, &j, NULL, &added), TGH_EINVAL);
}

static void
test_claim_order_lease_and_filters(void **state)
{
    struct store_fx *fx = *state;
    struct store_media_job j;
    struct seen s;

    int64_t low = add(fx, job(CHAT, 1, "k"));
    j = job(CHAT, 2, "k");
    j.priority = 32;
    int64_t high = add(fx, j);
    j = job(CHAT, 3, "k");
    j.next_at = NOW + 1000; /* not due yet */
    int64_t later = add(fx, j);
    j = job(CHAT2, 4, "k");
    j.origin = "export";
    int64_t exported = add(fx, j);

    /* filters: origin, chat */
    assert_int_equal(claim(fx, NOW, 10, "export", MSG_UNSET, &s), 1);
    assert_int_equal(s.ids[0], exported);
    assert_int_equal(s.states[0], STORE_JOB_DOWNLOADING);
    assert_int_equal(s.attempts[0], 1);
    assert_int_equal(claim(fx, NOW, 10, NULL, CHAT2, &s), 0); /* claimed already */

    /* priority first, then id; max respected */
    assert_int_equal(claim(fx, NOW, 1, NULL, MSG_UNSET, &s), 1);
    assert_int_equal(s.ids[0], high);
    assert_int_equal(claim(fx, NOW, 10, NULL, MSG_UNSET, &s), 1);
    assert_int_equal(s.ids[0], low);
    assert_int_equal(claim(fx, NOW + 59, 10, NULL, MSG_UNSET, &s), 0);

    /* the lease runs out (the claimer died): claimable again, one attempt more */
    assert_int_equal(claim(fx, NOW + 60, 10, NULL, CHAT, &s), 2);
    assert_int_equal(s.ids[0], high);
    assert_int_equal(s.ids[1], low);
    assert_int_equal(s.attempts[0], 2);

    /* progress extends the lease */
    assert_int_equal(store_media_job_progress(fx->st, high, 500, NOW + 500), TGH_OK);
    assert_int_equal(claim(fx, NOW + 121, 10, NULL, CHAT, &s), 1);
    assert_int_equal(s.ids[0], low);
    assert_int_equal(get(fx, CHAT, 2).j.downloaded, 500);

    /* due at last, with the two whose leases ran out again */
    assert_int_equal(claim(fx, NOW + 1000, 10, NULL, CHAT, &s), 3);
    assert_int_equal(s.ids[0], high);
    assert_int_equal(s.ids[1], low);
    assert_int_equal(s.ids[2], later);
    assert_int_equal(s.attempts[2], 1);

    assert_int_equal(store_media_job_progress(fx->st, 999999, 1, NOW), TGH_ENOTFOUND);
    struct store_media_claim bad = { .now = NOW, .lease_s = 0, .max = 1, .chat_id = MSG_UNSET };
    assert_int_equal(store_media_jobs_claim(fx->st, &bad, see, &s), TGH_EINVAL);
}

static void
test_end_states_and_retry(void **state)
{
    struct store_fx *fx = *state;
    struct seen s;
    int64_t n = -1;

    int64_t a = add(fx, job(CHAT, 1, "k"));
    int64_t b = add(fx, job(CHAT, 2, "k"));
    int64_t c = add(fx, job(CHAT, 3, "k"));
    assert_int_equal(claim(fx, NOW, 10, NULL, MSG_UNSET, &s), 3);

    assert_int_equal(store_media_job_set_upload(fx->st, a, "upload-1"), TGH_OK);
    assert_string_equal(get(fx, CHAT, 1).upload, "upload-1");
    struct store_media_end stored = { .state = STORE_JOB_STORED,
                                      .sha256 = SHA_A,
                                      .storage_key = "objects/aa/aa/" SHA_A,
                                      .size = 4321,
                                      .at = NOW + 5 };
    assert_int_equal(store_media_job_end(fx->st, a, &stored), TGH_OK);
    struct one o = get(fx, CHAT, 1);
    assert_int_equal(o.j.state, STORE_JOB_STORED);
    assert_string_equal(o.sha, SHA_A);
    assert_string_equal(o.key, "objects/aa/aa/" SHA_A);
    assert_int_equal(o.j.size, 4321);
    assert_int_equal(o.j.downloaded, 4321);
    assert_int_equal(o.j.finished_at, NOW + 5);
    assert_string_equal(o.upload, ""); /* ending forgets the upload */

    struct store_media_end again = { .state = STORE_JOB_QUEUED,
                                     .error = "downloadFile: 500 boom",
                                     .next_at = NOW + 30,
                                     .at = NOW + 1 };
    assert_int_equal(store_media_job_end(fx->st, b, &again), TGH_OK);
    o = get(fx, CHAT, 2);
    assert_int_equal(o.j.state, STORE_JOB_QUEUED);
    assert_string_equal(o.error, "downloadFile: 500 boom");
    assert_int_equal(o.j.finished_at, 0);
    assert_int_equal(claim(fx, NOW + 29, 10, NULL, MSG_UNSET, &s), 0);
    assert_int_equal(claim(fx, NOW + 30, 10, NULL, MSG_UNSET, &s), 1);
    assert_int_equal(s.attempts[0], 2);

    struct store_media_end failed = { .state = STORE_JOB_FAILED, .error = "gave up", .at = NOW };
    assert_int_equal(store_media_job_end(fx->st, b, &failed), TGH_OK);
    assert_int_equal(store_media_job_end(fx->st, c, &failed), TGH_OK);
    assert_int_equal(get(fx, CHAT, 3).j.state, STORE_JOB_FAILED);

    /* stored needs what was stored; no such job */
    struct store_media_end half = { .state = STORE_JOB_STORED, .sha256 = "abc", .at = NOW };
    assert_int_equal(store_media_job_end(fx->st, a, &half), TGH_EINVAL);
    assert_int_equal(store_media_job_end(fx->st, 999999, &failed), TGH_ENOTFOUND);

    /* retry one, then every failed one; a stored job is left alone */
    assert_int_equal(store_media_job_retry(fx->st, b, NOW + 100, &n), TGH_OK);
    assert_int_equal(n, 1);
    o = get(fx, CHAT, 2);
    assert_int_equal(o.j.state, STORE_JOB_QUEUED);
    assert_int_equal(o.j.attempts, 0);
    assert_string_equal(o.error, "gave up"); /* kept until the next end */
    assert_int_equal(store_media_job_retry(fx->st, a, NOW + 100, &n), TGH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(get(fx, CHAT, 1).j.state, STORE_JOB_STORED);
    assert_int_equal(store_media_job_retry(fx->st, 0, NOW + 100, &n), TGH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(get(fx, CHAT, 3).j.state, STORE_JOB_QUEUED);
    assert_int_equal(store_media_job_retry(fx->st, 999999, NOW, &n), TGH_ENOTFOUND);
}

static void
test_listing_pages_filters_and_writes(void **state)
{
    struct store_fx *fx = *state;
    struct seen s;

    for (int i = 1; i <= 300; i++) {
        struct store_media_job j = job(i % 2 ? CHAT : CHAT2, i, "k");

        j.media_kind = i % 3 ? "photo" : "voice";
        j.size = i;
        (void)add(fx, j);
    }
    struct store_media_jobs_query all = { .state = -1,
                                          .chat_id = MSG_UNSET,
                                          .message_id = MSG_UNSET };
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_media_jobs_each(fx->st, &all, see, &s), TGH_OK);
    assert_int_equal(s.n, 300);
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.ids[i] < s.ids[i - 1]); /* newest first, across pages */

    struct store_media_jobs_query one_chat = {
        .state = STORE_JOB_QUEUED, .chat_id = CHAT, .message_id = MSG_UNSET, .limit = 7
    };
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_media_jobs_each(fx->st, &one_chat, see, &s), TGH_OK);
    assert_int_equal(s.n, 7);
    struct store_media_jobs_query paged = one_chat;
    paged.limit = 0;
    paged.before_id = s.ids[6];
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_media_jobs_each(fx->st, &paged, see, &s), TGH_OK);
    assert_int_equal(s.n, 150 - 7);

    /* the callback may write: every job ends failed while walked */
    memset(&s, 0, sizeof(s));
    s.write = fx->st;
    assert_int_equal(store_media_jobs_each(fx->st, &all, see, &s), TGH_OK);
    assert_int_equal(s.n, 300);
    struct store_media_jobs_query failed = { .state = STORE_JOB_FAILED,
                                             .chat_id = MSG_UNSET,
                                             .message_id = MSG_UNSET };
    memset(&s, 0, sizeof(s));
    assert_int_equal(store_media_jobs_each(fx->st, &failed, see, &s), TGH_OK);
    assert_int_equal(s.n, 300);

    struct store_media_jobs_query bad = { .state = 9,
                                          .chat_id = MSG_UNSET,
                                          .message_id = MSG_UNSET };
    assert_int_equal(store_media_jobs_each(fx->st, &bad, see, &s), TGH_EINVAL);
    bad.state = -1;
    bad.message_id = 5;
    assert_int_equal(store_media_jobs_each(fx->st, &bad, see, &s), TGH_EINVAL);
}

struct counts {
    int64_t jobs[STORE_JOB_STATES][2], bytes[STORE_JOB_STATES][2];
};

static int
count(void *arg, enum store_job_state st, const char *kind, int64_t jobs, int64_t bytes)
{
    struct counts *c = arg;
    int k = strcmp(kind, "voice") == 0;

    c->jobs[st][k] += jobs;
    c->bytes[st][k] += bytes;
    return 0;
}

static void
test_counts_by_state_and_kind(void **state)
{
    struct store_fx *fx = *state;
    struct counts c;
    struct seen s;

    for (int i = 1; i <= 6; i++) {
        struct store_media_job j = job(CHAT, i, "k");

        j.media_kind = i <= 2 ? "voice" : "photo";
        j.size = 100 * i;
        (void)add(fx, j);
    }
    assert_int_equal(claim(fx, NOW, 1, NULL, MSG_UNSET, &s), 1); /* message 1, a voice */
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_media_counts_each(fx->st, count, &c), TGH_OK);
    assert_int_equal(c.jobs[STORE_JOB_DOWNLOADING][1], 1);
    assert_int_equal(c.bytes[STORE_JOB_DOWNLOADING][1], 100);
    assert_int_equal(c.jobs[STORE_JOB_QUEUED][1], 1);
    assert_int_equal(c.jobs[STORE_JOB_QUEUED][0], 4);
    assert_int_equal(c.bytes[STORE_JOB_QUEUED][0], 300 + 400 + 500 + 600);
}

struct dedups {
    char sha[400][65];
    size_t n;
};

static int
see_dedup(void *arg, const struct store_dedup *d)
{
    struct dedups *s = arg;

    if (s->n < 400)
        (void)snprintf(s->sha[s->n++], 65, "%s", d->sha256);
    return 0;
}

static void
test_dedup_index(void **state)
{
    struct store_fx *fx = *state;
    struct store_dedup d = { .sha256 = SHA_A,
                             .storage_key = "objects/aa/aa/" SHA_A,
                             .file_unique_id = "AQADx",
                             .size = 77,
                             .content_type = "image/jpeg" };
    struct store_dedup out;
    bool added = false;

    assert_int_equal(store_dedup_find(fx->st, SHA_A, NULL, &out), TGH_ENOTFOUND);
    assert_int_equal(store_dedup_put(fx->st, &d, &added), TGH_OK);
    assert_true(added);
    d.storage_key = "elsewhere";
    assert_int_equal(store_dedup_put(fx->st, &d, &added), TGH_OK);
    assert_false(added);
    assert_int_equal(store_dedup_find(fx->st, SHA_A, NULL, &out), TGH_OK);
    assert_string_equal(out.storage_key, "objects/aa/aa/" SHA_A); /* the first one kept */
    assert_int_equal(out.size, 77);
    assert_string_equal(out.content_type, "image/jpeg");
    assert_int_equal(store_dedup_find(fx->st, NULL, "AQADx", &out), TGH_OK);
    assert_string_equal(out.sha256, SHA_A);
    assert_int_equal(store_dedup_find(fx->st, NULL, "nope", &out), TGH_ENOTFOUND);
    assert_int_equal(store_dedup_find(fx->st, "xyz", NULL, &out), TGH_EINVAL);
    d.sha256 = "ABC";
    assert_int_equal(store_dedup_put(fx->st, &d, &added), TGH_EINVAL);

    /* every content, by sha256, in pages */
    for (int i = 0; i < 300; i++) {
        char sha[65];

        (void)snprintf(sha, sizeof(sha), "%064x", i * 7919);
        struct store_dedup e = { .sha256 = sha, .storage_key = "k", .size = i };
        assert_int_equal(store_dedup_put(fx->st, &e, &added), TGH_OK);
    }
    struct dedups *s = tgh_calloc(1, sizeof(*s));
    assert_int_equal(store_dedup_each(fx->st, see_dedup, s), TGH_OK);
    assert_int_equal(s->n, 301);
    for (size_t i = 1; i < s->n; i++)
        assert_true(strcmp(s->sha[i - 1], s->sha[i]) < 0);
    tgh_free(s);
}

static void
test_scan_moves_forward(void **state)
{
    struct store_fx *fx = *state;
    int64_t last = -1;

    assert_int_equal(store_media_scan_get(fx->st, CHAT, &last), TGH_OK);
    assert_int_equal(last, 0);
    assert_int_equal(store_media_scan_put(fx->st, CHAT, 50), TGH_OK);
    assert_int_equal(store_media_scan_put(fx->st, CHAT, 20), TGH_OK);
    assert_int_equal(store_media_scan_get(fx->st, CHAT, &last), TGH_OK);
    assert_int_equal(last, 50);
    assert_int_equal(store_media_scan_get(fx->st, CHAT2, &last), TGH_OK);
    assert_int_equal(last, 0);
    assert_int_equal(store_media_scan_put(fx->st, CHAT, -1), TGH_EINVAL);
}

/* Two claimers on their own connections, at once: every job is taken exactly once. */
struct claimer {
    const char *url;
    int64_t ids[400];
    size_t n;
    int failed;
};

static int
take(void *arg, const struct store_media_job *j)
{
    struct claimer *c = arg;

    if (c->n < 400)
        c->ids[c->n++] = j->id;
    return 0;
}

static void *
claimer_run(void *arg)
{
    struct claimer *c = arg;
    struct store *st = NULL;

    if (store_open(c->url, &st) != TGH_OK) {
        c->failed = 1;
        return NULL;
    }
    for (int round = 0; round < 2000; round++) {
        struct store_media_claim cl = {
            .now = NOW, .lease_s = 600, .max = 3, .chat_id = MSG_UNSET
        };
        size_t before = c->n;
        tgh_err rc = store_media_jobs_claim(st, &cl, take, c);

        if (rc == TGH_EAGAIN) {
            usleep(1000);
            continue;
        }
        if (rc != TGH_OK) {
            c->failed = 1;
            break;
        }
        if (c->n == before)
            break;
    }
    store_close(st);
    return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static void
test_concurrent_claims_disjoint(void **state)
{
    struct store_fx *fx = *state;
    struct claimer *c = tgh_calloc(2, sizeof(*c));
    pthread_t t[2];
    int64_t all[800];
    size_t n = 0;

    for (int i = 1; i <= 200; i++)
        (void)add(fx, job(CHAT, i, "k"));
    for (int i = 0; i < 2; i++) {
        c[i].url = fx->url;
        assert_int_equal(pthread_create(&t[i], NULL, claimer_run, &c[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(c[i].failed, 0);
        memcpy(all + n, c[i].ids, c[i].n * sizeof(all[0]));
        n += c[i].n;
    }
    assert_int_equal(n, 200);
    qsort(all, n, sizeof(all[0]), cmp_i64);
    for (size_t i = 1; i < n; i++)
        assert_true(all[i] != all[i - 1]);
    tgh_free(c);
}

static void
test_reopen_keeps_everything(void **state)
{
    struct store_fx *fx = *state;
    struct store_dedup d = { .sha256 = SHA_B, .storage_key = "objects/bb/bb/" SHA_B, .size = 9 };
    struct store_dedup out;
    int64_t last = 0;
    bool added;

    int64_t id = add(fx, job(CHAT, 42, "k"));
    assert_int_equal(store_media_job_set_upload(fx->st, id, "u-42"), TGH_OK);
    assert_int_equal(store_dedup_put(fx->st, &d, &added), TGH_OK);
    assert_int_equal(store_media_scan_put(fx->st, CHAT, 42), TGH_OK);
    store_close(fx->st);
    fx->st = NULL;
    if (store_open(fx->url, &fx->st) != TGH_OK)
        fail_msg("store_open: %s", tgh_errmsg());
    struct one o = get(fx, CHAT, 42);
    assert_int_equal(o.j.id, id);
    assert_string_equal(o.upload, "u-42");
    assert_string_equal(o.name, "photo.jpg");
    assert_string_equal(o.mime, "image/jpeg");
    assert_string_equal(o.uniq, "AQADuniq");
    assert_int_equal(o.j.date, NOW - 100);
    assert_int_equal(store_dedup_find(fx->st, SHA_B, NULL, &out), TGH_OK);
    assert_int_equal(store_media_scan_get(fx->st, CHAT, &last), TGH_OK);
    assert_int_equal(last, 42);
}

static void
test_state_names(void **state)
{
    enum store_job_state s;

    (void)state;
    for (int i = 0; i < STORE_JOB_STATES; i++) {
        assert_true(store_job_state_parse(store_job_state_name((enum store_job_state)i), &s));
        assert_int_equal(s, i);
    }
    assert_false(store_job_state_parse("done", &s));
    assert_false(store_job_state_parse(NULL, &s));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest common[] = {
        T(test_add_once_per_file),
        T(test_add_refuses_bad_rows),
        T(test_claim_order_lease_and_filters),
        T(test_end_states_and_retry),
        T(test_listing_pages_filters_and_writes),
        T(test_counts_by_state_and_kind),
        T(test_dedup_index),
        T(test_scan_moves_forward),
        T(test_concurrent_claims_disjoint),
        T(test_reopen_keeps_everything),
        T(test_state_names),
    };
#undef T

    return store_fx_run("store_media", common, STORE_FX_N(common), NULL, 0, NULL, 0);
}
