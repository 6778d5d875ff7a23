/* SPDX-License-Identifier: MIT */
/*
 * pipeline_work.c - the scale-out worker: tg.messages.v2 into the store.
 *
 * A delivery is a page: one or more events, one per line. The loop, in order:
 *   1. take deliveries (at most the prefetch window is ever unacked) until
 *      they hold a batch of events, the window is full, or the oldest waited
 *      batch_wait_ms;
 *   2. decode every line; a line that cannot become an event is poison;
 *   3. drop the events Redis has seen in exactly this state (fail-open);
 *   4. commit the rest in one store transaction, through the breaker,
 *      retrying transient failures with backoff while holding the batch;
 *   5. record each poison line in ingestion_errors and publish it alone,
 *      with its reason, to the dead-letter exchange (confirmed);
 *   6. mark the committed states in Redis;
 *   7. ack the batch's deliveries with one multiple ack.
 * Steps 4 and 5 run on a committer thread, so that the next batch is taken,
 * decoded and looked up in Redis (1 to 3) while the store works on this one.
 * The committer owns the store and the dead-letter publisher; the main
 * thread owns the consumer and Redis. Batches are acked in order.
 *
 * A crash anywhere before 7 redelivers the batch, and the store's idempotent
 * upsert makes the second commit change nothing. While the store is down the
 * held batch is neither acked nor requeued (a requeue would count against the
 * queue's delivery limit): the broker sends no more than the prefetch window,
 * so intake pauses by itself.
 */
#include "pipeline/pipeline.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/utf8.h"
#include "queue/queue.h"

#define TGH_LOG_SUB "work"

#define DEAD_PAYLOAD_MAX (64 * 1024) /* a dead letter's payload is cut here */
#define STATE_HEX        32          /* dedup state: half a SHA-256 in hex */
#define BREAKER_FAILS    3
#define BREAKER_WINDOW   30000
#define BREAKER_OPEN     1000
#define BREAKER_OPEN_MAX 15000
#define COMMIT_POLL_MS   2 /* socket reads while a commit is out, so its end is seen soon */

/* One held delivery. body is stable (heap) until the delivery is dropped. */
struct item {
    uint64_t tag;
    char *body;
    size_t len;
    char *message_id;
    int64_t arrived;             /* pipeline_now_ms() */
    struct pipeline_line *lines; /* its non-blank lines, split once on arrival */
    size_t npay;                 /* how many */
};

/* One line of a delivery: an event, or poison. */
struct payload {
    const char *p;
    size_t len;
    const char *message_id; /* the delivery's */
    unsigned line;          /* 1-based; 0 when the body is one line */
};

/*
 * One batch: prepared (decoded, looked up) by the main thread, committed by
 * the committer. It covers the first k held deliveries when it is first in
 * line. Its arrays grow to the largest batch seen.
 */
struct stage {
    bool prepared;
    size_t k;
    uint64_t last_tag;
    struct msg_batch batch;
    struct payload *pay;
    size_t npay, cap;
    char **poison;  /* per payload: why it is not an event, or NULL */
    size_t *ev_pay; /* batch event i came from payload ev_pay[i] */
    struct cache_item *ci;
    enum cache_verdict *verdict;
    char (*states)[STATE_HEX + 1];
    struct msg_event *cev;     /* the events to commit: shallow copies of batch events */
    size_t *cidx;              /* cev[j] is batch event cidx[j] */
    enum store_change *change; /* what committing cev[j] changed */
    size_t nci, ncommit, skipped;
    int64_t t_start, ms_decode, ms_cache;
    /* the committer's result */
    tgh_err rc;
    char errmsg[512];
    struct store_stats s;
    size_t dead;
    int64_t ms_commit;
};

#define BEAT_MS 5000 /* heartbeats to Redis for /status */

struct worker {
    const struct pipeline_work_opts *o;
    int64_t next_beat;  /* monotonic ms */
    int64_t started_at; /* Unix seconds */
    struct pipeline_work_totals *t;
    struct store *st;      /* committer's, once started */
    struct queue_pub *pub; /* dead letters: committer's, once started */
    struct cache *cache;
    struct queue_con *con;
    struct pipeline_breaker breaker;
    struct item *items; /* held deliveries, oldest first */
    size_t n, cap;
    unsigned attempt;   /* consecutive failed commits */
    int64_t not_before; /* no commit before this (backoff) */
    bool store_down;    /* logged once per outage */
    struct stage stg[2];
    unsigned head; /* stg[head] is first in line */
    /* the committer thread */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct stage *job; /* handed over, not yet taken */
    bool busy;         /* a stage is out (handed over or being committed) */
    bool done;         /* the stage out is finished */
    bool quit;
};

static bool
stopping(const struct worker *wk)
{
    return wk->o->stop != NULL && *wk->o->stop;
}

/* Sleep up to ms, in short steps so that a stop request is seen. */
static void
nap(const struct worker *wk, int64_t ms)
{
    while (ms > 0 && !stopping(wk)) {
        int64_t step = ms > 100 ? 100 : ms;

        usleep((useconds_t)step * 1000);
        ms -= step;
    }
}

/*
 * The dedup state of an encoded event: what the store would compare, that
 * is everything but when it was observed. Two deliveries of one message in
 * one state give the same string; any change of content or counters does not.
 */
static void
event_state(const char *body, size_t len, char out[STATE_HEX + 1])
{
    static const char key[] = "\"observed_at\":";
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    const char *at = memmem(body, len, key, sizeof(key) - 1);
    const char *end = at != NULL ? at + sizeof(key) - 1 : body + len;
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    if (at == NULL)
        at = body + len;
    while (end < body + len && (*end == '-' || (*end >= '0' && *end <= '9')))
        end++;
    memset(md, 0, sizeof(md));
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, body, (size_t)(at - body)) != 1 ||
        EVP_DigestUpdate(c, end, (size_t)(body + len - end)) != 1 ||
        EVP_DigestFinal_ex(c, md, &mdlen) != 1) {
        /* No digest: a state no other event has, so nothing is skipped. */
        (void)snprintf((char *)md, sizeof(md), "%p", (const void *)body);
    }
    EVP_MD_CTX_free(c);
    for (size_t i = 0; i < STATE_HEX / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[STATE_HEX] = '\0';
}

size_t
pipeline_page_lines(const char *body, size_t len, struct pipeline_line *out, size_t max)
{
    size_t n = 0, nonempty = 0;
    const char *p = body, *end = body + len;

    /* Which lines there are first: a body of one line is numbered 0. */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end;
        size_t l = (size_t)(e - p);

        while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
            l--;
        n++;
        if (l > 0) {
            if (nonempty < max)
                out[nonempty] = (struct pipeline_line){ .p = p, .len = l, .line = (unsigned)n };
            nonempty++;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (nonempty == 1 && max > 0)
        out[0].line = 0;
    return nonempty;
}

/* Drop the first k held deliveries (their stages are finished or reset). */
static void
items_drop(struct worker *wk, size_t k)
{
    if (wk->n == 0)
        return;
    for (size_t i = 0; i < k; i++) {
        tgh_free(wk->items[i].body);
        tgh_free(wk->items[i].lines);
        tgh_free(wk->items[i].message_id);
    }
    memmove(wk->items, wk->items + k, (wk->n - k) * sizeof(*wk->items));
    wk->n -= k;
}

/* ---- the committer thread ------------------------------------------- */

/* A payload that cannot become an event: kept in the store and in the DLQ. */
static tgh_err
dead_letter(struct worker *wk, const struct payload *pl, const char *reason)
{
    char position[240], digest[STATE_HEX + 1];
    size_t plen = 0;
    char *payload = tgh_utf8_printable(pl->p, pl->len, DEAD_PAYLOAD_MAX, &plen);
    char *why = tgh_utf8_printable(reason, strlen(reason), 1000, NULL);
    const char *mid = pl->message_id != NULL ? pl->message_id : "(none)";
    struct store_dead_letter dl = {
        .source = "queue",
        .origin = QUEUE_NAME,
        .position = position,
        .reason = why,
        .payload = payload,
        .payload_len = plen,
    };
    tgh_err rc = TGH_OK;

    /*
     * The position names the payload, not the delivery nor its line in the
     * page: a redelivered poison line, or one replayed from the DLQ (alone,
     * under its page's message_id), updates its row instead of adding one.
     */
    event_state(pl->p, pl->len, digest);
    (void)snprintf(position, sizeof(position), "message_id %.100s, sha256 %s", mid, digest);
    if (wk->pub == NULL)
        rc = queue_pub_open(wk->o->queue_url, &wk->pub);
    if (rc == TGH_OK)
        rc = store_dead_letter_add(wk->st, &dl);
    if (rc == TGH_OK)
        rc = queue_publish_dead(wk->pub, pl->p, pl->len, pl->message_id, why);
    if (rc == TGH_OK)
        pipeline_metrics_dead_letter("queue");
    if (rc == TGH_OK && pl->line > 0)
        log_warn("dead letter (%s, line %u of the page): %s", position, pl->line, why);
    else if (rc == TGH_OK)
        log_warn("dead letter (%s): %s", position, why);
    tgh_free(payload);
    tgh_free(why);
    return rc;
}

/*
 * Commit events one by one: a batch the store refused for a reason that is
 * not transient has a culprit, which becomes a dead letter while the rest
 * of the batch is committed.
 */
static tgh_err
commit_singly(struct worker *wk, struct stage *sg)
{
    for (size_t j = 0; j < sg->ncommit; j++) {
        size_t i = sg->cidx[j];
        tgh_err rc = store_batch_commit_changes(wk->st, &sg->cev[j], 1, &sg->s, &sg->change[j]);

        if (rc == TGH_OK)
            continue;
        sg->change[j] = STORE_CHANGE_NONE;
        if (tgh_err_is_transient(rc))
            return rc;
        rc = dead_letter(wk, &sg->pay[sg->ev_pay[i]], tgh_errmsg());
        if (rc != TGH_OK)
            return rc;
        sg->ci[i].event = NULL; /* not committed: not for the recent cache */
        sg->ci[i].state = "";   /* nor a dedup state that could skip it later */
        sg->dead++;
    }
    return TGH_OK;
}

/* Steps 4 and 5 for one stage; the outcome goes into sg->rc and sg->errmsg. */
static void
commit_stage(struct worker *wk, struct stage *sg)
{
    int64_t t0 = pipeline_now_ms();
    tgh_err rc = TGH_OK;

    memset(&sg->s, 0, sizeof(sg->s));
    sg->dead = 0;
    if (wk->st == NULL)
        rc = store_open(wk->o->store_url, &wk->st);
    if (rc == TGH_OK && sg->ncommit > 0) {
        rc = store_batch_commit_changes(wk->st, sg->cev, sg->ncommit, &sg->s, sg->change);
        if (rc != TGH_OK && !tgh_err_is_transient(rc) && rc != TGH_EIO) {
            log_warn("batch of %zu refused (%s), committing one by one", sg->ncommit, tgh_errmsg());
            memset(&sg->s, 0, sizeof(sg->s));
            rc = commit_singly(wk, sg);
        }
    }
    for (size_t i = 0; rc == TGH_OK && i < sg->npay; i++) {
        if (sg->poison[i] == NULL)
            continue;
        rc = dead_letter(wk, &sg->pay[i], sg->poison[i]);
        if (rc == TGH_OK)
            sg->dead++;
    }
    if (rc == TGH_OK && sg->dead > 0)
        rc = queue_pub_flush(wk->pub, 30000);
    sg->rc = rc;
    (void)snprintf(sg->errmsg, sizeof(sg->errmsg), "%s", rc == TGH_OK ? "" : tgh_errmsg());
    sg->ms_commit = pipeline_now_ms() - t0;
}

static void *
committer_main(void *arg)
{
    struct worker *wk = arg;

    pthread_mutex_lock(&wk->mu);
    for (;;) {
        struct stage *sg;

        while (wk->job == NULL && !wk->quit)
            pthread_cond_wait(&wk->cv, &wk->mu);
        if (wk->job == NULL)
            break;
        sg = wk->job;
        wk->job = NULL;
        pthread_mutex_unlock(&wk->mu);
        commit_stage(wk, sg);
        pthread_mutex_lock(&wk->mu);
        wk->done = true;
        pthread_cond_broadcast(&wk->cv);
    }
    pthread_mutex_unlock(&wk->mu);
    return NULL;
}

static void
submit(struct worker *wk, struct stage *sg)
{
    pthread_mutex_lock(&wk->mu);
    wk->job = sg;
    wk->busy = true;
    wk->done = false;
    pthread_cond_broadcast(&wk->cv);
    pthread_mutex_unlock(&wk->mu);
}

/* Is the stage out finished? With wait_ms > 0 wait that long for it. */
static bool
committer_done(struct worker *wk, int64_t wait_ms)
{
    bool done;

    pthread_mutex_lock(&wk->mu);
    if (!wk->done && wait_ms > 0) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!wk->done && pthread_cond_timedwait(&wk->cv, &wk->mu, &ts) == 0)
            ;
    }
    done = wk->done;
    pthread_mutex_unlock(&wk->mu);
    return done;
}

/* Wait for the stage out, whatever it takes, and take it back. */
static void
committer_settle(struct worker *wk)
{
    if (!wk->busy)
        return;
    while (!committer_done(wk, 1000))
        ;
    wk->busy = false;
}

/* ---- the main thread -------------------------------------------------- */

/* Free a stage's arrays (cleared first: no poison string left). */
static void
stage_free(struct stage *sg)
{
    tgh_free(sg->poison);
    tgh_free(sg->pay);
    tgh_free(sg->ev_pay);
    tgh_free(sg->ci);
    tgh_free(sg->verdict);
    tgh_free(sg->states);
    tgh_free(sg->cev);
    tgh_free(sg->cidx);
    tgh_free(sg->change);
    msg_batch_fini(&sg->batch);
}

/* Arrays for n payloads; only on a stage that is not prepared. */
static void
stage_grow(struct stage *sg, size_t n)
{
    if (n <= sg->cap)
        return;
    stage_free(sg);
    sg->cap = n;
    sg->poison = tgh_calloc(n, sizeof(*sg->poison));
    sg->pay = tgh_calloc(n, sizeof(*sg->pay));
    sg->ev_pay = tgh_calloc(n, sizeof(*sg->ev_pay));
    sg->ci = tgh_calloc(n, sizeof(*sg->ci));
    sg->verdict = tgh_calloc(n, sizeof(*sg->verdict));
    sg->states = tgh_calloc(n, sizeof(*sg->states));
    sg->cev = tgh_calloc(n, sizeof(*sg->cev));
    sg->cidx = tgh_calloc(n, sizeof(*sg->cidx));
    sg->change = tgh_calloc(n, sizeof(*sg->change));
    msg_batch_init(&sg->batch, n);
}

static void
stage_clear(struct stage *sg)
{
    for (size_t i = 0; i < sg->npay; i++) {
        tgh_free(sg->poison[i]);
        sg->poison[i] = NULL;
    }
    msg_batch_reset(&sg->batch);
    sg->npay = sg->nci = sg->ncommit = sg->skipped = 0;
    sg->prepared = false;
}

static void
stage_fini(struct stage *sg)
{
    stage_clear(sg);
    stage_free(sg);
}

/* The held deliveries no prepared stage covers start here. */
static size_t
first_free(const struct worker *wk)
{
    size_t f = 0;

    for (unsigned i = 0; i < 2; i++)
        if (wk->stg[i].prepared)
            f += wk->stg[i].k;
    return f;
}

/*
 * Steps 2 and 3: decode the deliveries items[from..from+k) into sg and look
 * them up in Redis.
 */
static void
prepare(struct worker *wk, struct stage *sg, size_t from, size_t k)
{
    struct msg_batch *b = &sg->batch;
    size_t npay = 0;
    int64_t t1;

    sg->t_start = pipeline_now_ms();
    for (size_t i = from; i < from + k; i++)
        npay += wk->items[i].npay ? wk->items[i].npay : 1;
    stage_grow(sg, npay);
    sg->k = k;
    sg->last_tag = wk->items[from + k - 1].tag;
    sg->npay = 0;
    for (size_t i = from; i < from + k; i++) {
        const struct item *it = &wk->items[i];
        if (it->npay == 0) {
            /* Nothing but blank lines: the delivery itself is the poison. */
            sg->pay[sg->npay] = (struct payload){ it->body, it->len, it->message_id, 0 };
            sg->poison[sg->npay++] = tgh_strdup("EINVAL: the message holds no event");
        }
        for (size_t j = 0; j < it->npay; j++)
            sg->pay[sg->npay++] = (struct payload){ it->lines[j].p, it->lines[j].len,
                                                    it->message_id, it->lines[j].line };
    }
    memset(sg->verdict, 0, sg->npay * sizeof(*sg->verdict));
    /* Decode; poison is set aside with its reason, dead-lettered after the commit. */
    for (size_t i = 0; i < sg->npay; i++) {
        struct msg_event *ev;
        tgh_err rc;

        if (sg->poison[i] != NULL)
            continue;
        ev = msg_batch_push(b);
        rc = codec_event_decode(sg->pay[i].p, sg->pay[i].len, &b->arena, ev);
        if (rc == TGH_OK)
            rc = codec_event_encode_cached(ev, &b->arena); /* the canonical text */
        if (rc != TGH_OK) {
            char reason[1200];

            (void)snprintf(reason, sizeof(reason), "%s: %s", tgh_err_name(rc), tgh_errmsg());
            msg_batch_pop(b);
            sg->poison[i] = tgh_strdup(reason);
            continue;
        }
        sg->ev_pay[b->n - 1] = i;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct msg_event *ev = &b->ev[i];

        event_state(ev->encoded, ev->encoded_len, sg->states[i]);
        sg->ci[i] = (struct cache_item){
            .chat_id = ev->chat_id,
            .message_id = ev->message_id,
            .state = sg->states[i],
            .event = ev->op == MSG_OP_UPSERT ? ev->encoded : NULL,
            .event_len = ev->encoded_len,
            .date = ev->date == MSG_UNSET ? 0 : ev->date,
            .deleted = ev->op == MSG_OP_DELETE,
        };
    }
    sg->nci = b->n;
    t1 = pipeline_now_ms();
    sg->ms_decode = t1 - sg->t_start;
    /* Redis: drop what the store already holds in exactly this state. */
    if (wk->cache != NULL && sg->nci > 0 &&
        cache_check(wk->cache, sg->ci, sg->nci, sg->verdict) != TGH_OK)
        wk->t->cache_failures++;
    sg->ncommit = sg->skipped = 0;
    for (size_t i = 0; i < sg->nci; i++) {
        sg->ci[i].changed = sg->verdict[i] == CACHE_CHANGED;
        /* deletions always reach the store */
        if (sg->verdict[i] == CACHE_SAME && b->ev[i].op != MSG_OP_DELETE) {
            sg->ci[i].dedup_only = true; /* not committed: the store's copy stands */
            sg->skipped++;
            continue;
        }
        sg->cidx[sg->ncommit] = i;
        sg->cev[sg->ncommit++] = b->ev[i];
    }
    sg->ms_cache = pipeline_now_ms() - t1;
    sg->prepared = true;
}

/* The broker connection is gone: what we hold will be redelivered. */
static void
lose_queue(struct worker *wk)
{
    committer_settle(wk); /* committed or not, it comes back; the upsert is idempotent */
    stage_clear(&wk->stg[0]);
    stage_clear(&wk->stg[1]);
    items_drop(wk, wk->n);
    queue_con_close(wk->con);
    wk->con = NULL;
}

/*
 * The recent cache may only hold what the store holds: an event that was
 * inserted is stored as it came, but an edit or a refresh is merged with
 * the stored row, so its message key is dropped instead of overwritten
 * (cache_mark with event NULL) and the API asks the store for it.
 */
static void
cache_only_inserts(struct stage *sg)
{
    for (size_t j = 0; j < sg->ncommit; j++) {
        struct cache_item *ci = &sg->ci[sg->cidx[j]];

        if (ci->event != NULL && sg->change[j] != STORE_CHANGE_NEW)
            ci->event = NULL;
    }
}

/* Every change of the batch to the Redis stream the API servers follow. */
static void
stream_changes(struct worker *wk, struct stage *sg)
{
    struct cache_event *ev = tgh_calloc(sg->ncommit > 0 ? sg->ncommit : 1, sizeof(*ev));
    char **data = tgh_calloc(sg->ncommit > 0 ? sg->ncommit : 1, sizeof(*data));
    size_t n = 0;

    for (size_t j = 0; j < sg->ncommit; j++) {
        if (sg->change[j] == STORE_CHANGE_NONE)
            continue;
        data[n] = pipeline_feed_json(&sg->cev[j], sg->change[j], &ev[n].len);
        ev[n].chat_id = sg->cev[j].chat_id;
        ev[n].kind = store_change_name(sg->change[j]);
        ev[n].data = data[n];
        n++;
    }
    if (n > 0 && cache_events_add(wk->cache, ev, n, wk->o->stream_max) != TGH_OK)
        wk->t->cache_failures++;
    for (size_t i = 0; i < n; i++)
        tgh_free(data[i]);
    tgh_free(data);
    tgh_free(ev);
}

/* Steps 6 and 7 for the stage first in line, whose commit succeeded. */
static void
finish(struct worker *wk, struct stage *sg)
{
    int64_t t0 = pipeline_now_ms();
    tgh_err rc;

    pipeline_metrics_commit(sg->cev, sg->change, sg->ncommit, (double)sg->ms_commit / 1000.0);
    pipeline_metrics_skipped(sg->skipped);
    cache_only_inserts(sg);
    if (wk->cache != NULL && sg->nci > 0 && cache_mark(wk->cache, sg->ci, sg->nci) != TGH_OK)
        wk->t->cache_failures++;
    if (wk->cache != NULL && wk->o->stream_max > 0)
        stream_changes(wk, sg);
    sg->ms_cache += pipeline_now_ms() - t0;
    rc = queue_ack(wk->con, sg->last_tag, true);
    if (rc != TGH_OK) {
        /* Committed but not acked: redelivered, and idempotent. */
        log_warn("ack failed, the batch will be redelivered: %s", tgh_errmsg());
        wk->t->reconnects++;
        lose_queue(wk);
        return;
    }
    store_stats_add(&wk->t->stats, &sg->s);
    wk->t->events += sg->ncommit;
    wk->t->duplicates += sg->skipped;
    wk->t->dead_letters += sg->dead;
    wk->t->batches++;
    wk->t->ms_decode += sg->ms_decode;
    wk->t->ms_cache += sg->ms_cache;
    wk->t->ms_commit += sg->ms_commit;
    if (wk->o->on_batch != NULL)
        wk->o->on_batch(wk->o->on_batch_arg, sg->k, pipeline_now_ms() - sg->t_start);
    items_drop(wk, sg->k);
    stage_clear(sg);
    wk->head ^= 1;
}

/*
 * The stage out came back. TGH_OK when it was acked, or held for a retry
 * after a transient failure (the breaker and the backoff decide when);
 * another error is fatal.
 */
static tgh_err
settle(struct worker *wk)
{
    struct stage *sg = &wk->stg[wk->head];
    int64_t now = pipeline_now_ms();
    tgh_err rc = sg->rc;

    wk->busy = false;
    if (rc == TGH_OK) {
        pipeline_breaker_success(&wk->breaker, now);
        pipeline_metrics_breaker(pipeline_breaker_state(&wk->breaker, now));
        if (wk->store_down)
            log_info("store reachable again; breaker closed");
        wk->store_down = false;
        wk->attempt = 0;
        finish(wk, sg);
        return TGH_OK;
    }
    if (!tgh_err_is_transient(rc) && rc != TGH_EIO)
        return tgh_errf(rc, "%s", sg->errmsg);
    {
        enum pipeline_breaker_state before = pipeline_breaker_state(&wk->breaker, now);
        uint64_t opens = wk->breaker.opens;

        pipeline_breaker_failure(&wk->breaker, now);
        pipeline_metrics_breaker(pipeline_breaker_state(&wk->breaker, now));
        pipeline_metrics_retry("work");
        wk->t->retries++;
        if (!wk->store_down)
            log_warn("commit failed, holding %zu deliveries and retrying: %s", wk->n, sg->errmsg);
        wk->store_down = true;
        if (wk->breaker.opens != opens) {
            wk->t->breaker_opens++;
            if (before == PIPELINE_BREAKER_CLOSED)
                log_warn("breaker open: intake paused");
        }
        wk->not_before = now + pipeline_backoff_ms(wk->attempt++, 100, 5000);
    }
    return TGH_OK;
}

static tgh_err
connect_queue(struct worker *wk)
{
    unsigned attempt = 0;

    while (!stopping(wk)) {
        tgh_err rc = queue_con_open(wk->o->queue_url, QUEUE_NAME, wk->o->prefetch, &wk->con);

        if (rc == TGH_OK) {
            if (attempt > 0)
                log_info("broker reachable again");
            return TGH_OK;
        }
        if (!tgh_err_is_transient(rc))
            return rc;
        if (attempt == 0)
            log_warn("broker unreachable, retrying: %s", tgh_errmsg());
        queue_con_close(wk->con);
        wk->con = NULL;
        wk->t->reconnects++;
        nap(wk, pipeline_backoff_ms(attempt++, 100, 5000));
    }
    return TGH_OK;
}

static tgh_err
connect_store(struct worker *wk)
{
    unsigned attempt = 0;

    while (!stopping(wk)) {
        tgh_err rc = store_open(wk->o->store_url, &wk->st);

        if (rc == TGH_OK) {
            if (attempt > 0)
                log_info("store reachable again");
            return TGH_OK;
        }
        if (!tgh_err_is_transient(rc) && rc != TGH_EIO)
            return rc;
        if (attempt == 0)
            log_warn("store unreachable, retrying: %s", tgh_errmsg());
        nap(wk, pipeline_backoff_ms(attempt++, 100, 5000));
    }
    return TGH_OK;
}

/* Hold one delivery (the queue's buffers are reused by the next call). */
static void
hold(struct worker *wk, const struct queue_delivery *d)
{
    struct item *it;

    if (wk->n == wk->cap) {
        wk->cap = wk->cap ? wk->cap * 2 : 256;
        wk->items = tgh_realloc(wk->items, wk->cap * sizeof(*wk->items));
    }
    it = &wk->items[wk->n++];
    it->tag = d->tag;
    it->body = tgh_malloc(d->len + 1);
    memcpy(it->body, d->body, d->len);
    it->body[d->len] = '\0';
    it->len = d->len;
    it->message_id = d->message_id != NULL ? tgh_strdup(d->message_id) : NULL;
    it->arrived = pipeline_now_ms();
    it->npay = pipeline_page_lines(it->body, it->len, NULL, 0);
    it->lines = tgh_calloc(it->npay ? it->npay : 1, sizeof(*it->lines));
    (void)pipeline_page_lines(it->body, it->len, it->lines, it->npay);
    wk->t->received++;
}

/*
 * How many of the free deliveries (from index f) the next batch takes: the
 * fewest that hold batch_size events, or all of them when the window is
 * full, the oldest waited batch_wait_ms, or the worker is stopping. 0: not
 * due yet.
 */
static size_t
batch_due(const struct worker *wk, size_t f, int64_t now)
{
    size_t events = 0;

    for (size_t i = f; i < wk->n; i++) {
        events += wk->items[i].npay ? wk->items[i].npay : 1;
        if (events >= wk->o->batch_size)
            return i - f + 1;
    }
    if (f < wk->n && (wk->n >= wk->o->prefetch ||
                      now - wk->items[f].arrived >= wk->o->batch_wait_ms || stopping(wk)))
        return wk->n - f;
    return 0;
}

/*
 * The worker's state for the API's /status (cache_worker_beat): breaker,
 * what it committed, whether the store is down. A beat that cannot be
 * written is dropped; the worker just disappears from /status meanwhile.
 */
static void
beat(struct worker *wk, int64_t now)
{
    char host[64] = "", id[160];
    json_t *j;
    char *s;

    (void)gethostname(host, sizeof(host) - 1);
    (void)snprintf(id, sizeof(id), "%s:%ld", host, (long)getpid());
    j = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "id", id, "breaker",
                  pipeline_breaker_state_name(pipeline_breaker_state(&wk->breaker, now)),
                  "store_down", wk->store_down, "held", (json_int_t)wk->n, "committed",
                  (json_int_t)wk->t->events, "batches", (json_int_t)wk->t->batches, "dead_letters",
                  (json_int_t)wk->t->dead_letters, "retries", (json_int_t)wk->t->retries,
                  "started_at", (json_int_t)wk->started_at, "beat_at", (json_int_t)time(NULL));
    s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s != NULL && cache_worker_beat(wk->cache, id, s, strlen(s)) != TGH_OK)
        wk->t->cache_failures++;
    tgh_free(s); /* jansson allocates with malloc */
    json_decref(j);
}

static void
worker_fini(struct worker *wk)
{
    if (wk->th_started) {
        committer_settle(wk);
        pthread_mutex_lock(&wk->mu);
        wk->quit = true;
        pthread_cond_broadcast(&wk->cv);
        pthread_mutex_unlock(&wk->mu);
        (void)pthread_join(wk->th, NULL);
    }
    for (unsigned i = 0; i < 2; i++)
        stage_fini(&wk->stg[i]);
    items_drop(wk, wk->n);
    tgh_free(wk->items);
    queue_con_close(wk->con);
    queue_pub_close(wk->pub);
    cache_close(wk->cache);
    store_close(wk->st);
    pthread_mutex_destroy(&wk->mu);
    pthread_cond_destroy(&wk->cv);
}

tgh_err
pipeline_work_run(const struct pipeline_work_opts *o, struct pipeline_work_totals *t)
{
    struct worker wk = { .o = o, .t = t, .started_at = (int64_t)time(NULL) };
    int64_t idle_since = pipeline_now_ms();
    tgh_err rc;

    if (o->batch_size < 1 || o->prefetch < 1)
        return tgh_errf(TGH_EINVAL, "batch size (%zu) and prefetch (%u) must be at least 1",
                        o->batch_size, o->prefetch);
    pthread_mutex_init(&wk.mu, NULL);
    pthread_cond_init(&wk.cv, NULL);
    for (unsigned i = 0; i < 2; i++)
        stage_grow(&wk.stg[i], o->batch_size);
    pipeline_breaker_init(&wk.breaker, BREAKER_FAILS, BREAKER_WINDOW, BREAKER_OPEN,
                          BREAKER_OPEN_MAX);
    if (o->cache_url != NULL && cache_url_is_redis(o->cache_url)) {
        rc = cache_open(o->cache_url, &wk.cache);
        if (rc != TGH_OK)
            goto out;
    }
    rc = connect_store(&wk);
    if (rc != TGH_OK)
        goto out;
    rc = connect_queue(&wk);
    if (rc != TGH_OK)
        goto out;
    if (pthread_create(&wk.th, NULL, committer_main, &wk) != 0) {
        rc = tgh_errf(TGH_ENOMEM, "cannot start the committer thread");
        goto out;
    }
    wk.th_started = true;
    log_info("consuming %s (batch %zu, prefetch %u)", QUEUE_NAME, o->batch_size, o->prefetch);
    for (;;) {
        int64_t now = pipeline_now_ms();

        if (wk.cache != NULL && now >= wk.next_beat) {
            beat(&wk, now);
            wk.next_beat = now + BEAT_MS;
        }
        struct stage *head = &wk.stg[wk.head], *next = &wk.stg[wk.head ^ 1];
        struct queue_delivery d;
        size_t f, k;
        int wait_ms;

        if (wk.con == NULL) {
            if (stopping(&wk))
                break;
            rc = connect_queue(&wk);
            if (rc != TGH_OK)
                goto out;
            continue;
        }
        /* The commit that is out came back: ack it, or hold it for a retry. */
        if (wk.busy && committer_done(&wk, 0)) {
            rc = settle(&wk);
            if (rc != TGH_OK)
                goto out;
            idle_since = pipeline_now_ms();
            continue;
        }
        /* Prepare the next batch, the one first in line or the one after. */
        f = first_free(&wk);
        if (!head->prepared || !next->prepared) {
            k = batch_due(&wk, f, now);
            if (k > 0 && !(stopping(&wk) && wk.store_down)) {
                prepare(&wk, head->prepared ? next : head, f, k);
                continue;
            }
        }
        /* Hand the first batch to the committer when the breaker lets it. */
        if (!wk.busy && head->prepared && now >= wk.not_before &&
            !(stopping(&wk) && wk.store_down)) {
            if (pipeline_breaker_allow(&wk.breaker, now)) {
                submit(&wk, head);
                continue;
            }
        }
        if (stopping(&wk) && !wk.busy && (!head->prepared || wk.store_down))
            break; /* done, or the store is down: what is held goes back to the broker */
        if (!wk.busy && wk.n == 0 && o->idle_exit_ms > 0 && now - idle_since >= o->idle_exit_ms)
            break;
        /*
         * Both batches ready and one out, or stopping (nothing more is
         * taken: what the broker sent and we did not read goes back to the
         * queue with the connection): wait for the committer, briefly.
         */
        if (wk.busy && (stopping(&wk) || (head->prepared && next->prepared))) {
            (void)committer_done(&wk, 50);
            if (!stopping(&wk) && !committer_done(&wk, 0) &&
                queue_con_next(wk.con, 0, &d) == TGH_OK)
                hold(&wk, &d);
            continue;
        }
        /* Read the socket (heartbeats too) until the next thing is due. */
        wait_ms = 200;
        if (wk.busy)
            wait_ms = COMMIT_POLL_MS;
        else if (f < wk.n && !wk.store_down) {
            int64_t due = wk.items[f].arrived + o->batch_wait_ms - now;

            wait_ms = due < 1 ? 1 : due < wait_ms ? (int)due : wait_ms;
        } else if (head->prepared && wk.not_before > now) {
            int64_t due = wk.not_before - now;

            wait_ms = due < 1 ? 1 : due < wait_ms ? (int)due : wait_ms;
        }
        /*
         * Even with the whole prefetch window held (the broker sends no
         * more), the socket is read: heartbeats keep the connection, and
         * with it the held deliveries, alive through a long store outage.
         */
        rc = queue_con_next(wk.con, wait_ms, &d);
        if (rc == TGH_OK) {
            hold(&wk, &d);
            idle_since = pipeline_now_ms();
        } else if (rc == TGH_ETIMEOUT) {
            continue;
        } else if (rc == TGH_EUNAVAIL) {
            log_warn("broker connection lost (%zu held deliveries will be redelivered): %s", wk.n,
                     tgh_errmsg());
            t->reconnects++;
            lose_queue(&wk);
        } else {
            goto out;
        }
    }
    rc = TGH_OK;
out:
    if (wk.th_started)
        committer_settle(&wk); /* out on an error: unacked, so redelivered */
    if (rc == TGH_OK && wk.pub != NULL)
        rc = queue_pub_flush(wk.pub, 30000);
    worker_fini(&wk);
    return rc;
}
