/* SPDX-License-Identifier: MIT */
/*
 * pipeline_work.c - the scale-out worker: tg.messages.v2 into the store.
 *
 * The loop, in order:
 *   1. take deliveries (at most the prefetch window is ever unacked) until a
 *      batch is full or the oldest waited batch_wait_ms;
 *   2. decode them; what cannot become an event is poison;
 *   3. drop the events Redis has seen in exactly this state (fail-open);
 *   4. commit the rest in one store transaction, through the breaker,
 *      retrying transient failures with backoff while holding the batch;
 *   5. record the poison in ingestion_errors and publish it, with its
 *      reason, to the dead-letter exchange (confirmed);
 *   6. mark the committed states in Redis;
 *   7. ack the whole batch with one multiple ack.
 * A crash anywhere before 7 redelivers the batch, and the store's
 * idempotent upsert makes the second commit change nothing. While the
 * store is down the held batch is neither acked nor requeued (a requeue
 * would count against the queue's delivery limit): the broker sends no
 * more than the prefetch window, so intake pauses by itself.
 */
#include "pipeline/pipeline.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"
#include "queue/queue.h"

#define TGH_LOG_SUB "work"

#define DEAD_PAYLOAD_MAX (64 * 1024) /* a dead letter's payload is cut here */
#define STATE_HEX        32          /* dedup state: half a SHA-256 in hex */
#define BREAKER_FAILS    3
#define BREAKER_WINDOW   30000
#define BREAKER_OPEN     1000
#define BREAKER_OPEN_MAX 15000

struct item {
    uint64_t tag;
    char *body;
    size_t len;
    char *message_id;
    int64_t delivery_count;
};

struct worker {
    const struct pipeline_work_opts *o;
    struct pipeline_work_totals *t;
    struct store *st;
    struct cache *cache;
    struct queue_con *con;
    struct queue_pub *pub; /* dead letters */
    struct pipeline_breaker breaker;
    struct item *items; /* held deliveries, oldest first */
    size_t n, cap;
    int64_t first_at;   /* when items[0] arrived */
    unsigned attempt;   /* consecutive failed commits */
    int64_t not_before; /* no commit before this (backoff) */
    bool store_down;    /* logged once per outage */
    /* per batch */
    struct msg_batch batch;
    struct cache_item *ci;
    enum cache_verdict *verdict;
    char (*states)[STATE_HEX + 1];
    size_t *ev_item;       /* batch event i came from item ev_item[i] */
    struct msg_event *cev; /* the events to commit: shallow copies of batch events */
    size_t *cidx;          /* cev[j] is batch event cidx[j] */
    char **poison;         /* per held delivery: why it is not an event, or NULL */
    size_t npoison;
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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t left)
{
    size_t n;
    unsigned cp;

    if (s[0] < 0x80)
        return s[0] == 0 ? 0 : 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/*
 * Outside bytes as text a database and a log accept: at most max bytes,
 * NUL and invalid UTF-8 each replaced by '?'. Malloc'd.
 */
static char *
printable(const char *s, size_t len, size_t max, size_t *out_len)
{
    char *out = tgh_malloc((len < max ? len : max) + 1);
    size_t i = 0, o = 0;

    while (i < len && o < max) {
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);

        if (n == 0 || o + n > max) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return out;
}

static void
items_drop(struct worker *wk, size_t k)
{
    if (wk->n == 0)
        return;
    for (size_t i = 0; i < k; i++) {
        tgh_free(wk->items[i].body);
        tgh_free(wk->items[i].message_id);
    }
    memmove(wk->items, wk->items + k, (wk->n - k) * sizeof(*wk->items));
    wk->n -= k;
    wk->first_at = pipeline_now_ms();
}

/* The broker connection is gone: what we hold will be redelivered. */
static void
lose_queue(struct worker *wk)
{
    items_drop(wk, wk->n);
    queue_con_close(wk->con);
    wk->con = NULL;
}

static tgh_err
connect_queue(struct worker *wk)
{
    unsigned attempt = 0;

    while (!stopping(wk)) {
        tgh_err rc = queue_con_open(wk->o->queue_url, QUEUE_NAME, wk->o->prefetch, &wk->con);

        if (rc == TGH_OK && wk->pub == NULL)
            rc = queue_pub_open(wk->o->queue_url, &wk->pub);
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
    if (wk->n == 0)
        wk->first_at = pipeline_now_ms();
    it = &wk->items[wk->n++];
    it->tag = d->tag;
    it->body = tgh_malloc(d->len + 1);
    memcpy(it->body, d->body, d->len);
    it->body[d->len] = '\0';
    it->len = d->len;
    it->message_id = d->message_id != NULL ? tgh_strdup(d->message_id) : NULL;
    it->delivery_count = d->delivery_count;
    wk->t->received++;
}

/* A payload that cannot become an event: kept in the store and in the DLQ. */
static tgh_err
dead_letter(struct worker *wk, const struct item *it, const char *reason)
{
    char position[200], digest[STATE_HEX + 1];
    size_t plen = 0;
    char *payload = printable(it->body, it->len, DEAD_PAYLOAD_MAX, &plen);
    char *why = printable(reason, strlen(reason), 1000, NULL);
    struct store_dead_letter dl = {
        .source = "queue",
        .origin = QUEUE_NAME,
        .position = position,
        .reason = why,
        .payload = payload,
        .payload_len = plen,
    };
    tgh_err rc;

    /*
     * The position names the payload, not the delivery: a redelivered or
     * replayed poison message updates its row instead of adding one.
     */
    event_state(it->body, it->len, digest);
    (void)snprintf(position, sizeof(position), "message_id %.100s, sha256 %s",
                   it->message_id != NULL ? it->message_id : "(none)", digest);
    rc = store_dead_letter_add(wk->st, &dl);
    if (rc == TGH_OK)
        rc = queue_publish_dead(wk->pub, it->body, it->len, it->message_id, why);
    if (rc == TGH_OK)
        log_warn("dead letter (%s): %s", position, why);
    tgh_free(payload);
    tgh_free(why);
    return rc;
}

/* The per-batch arrays, sized once for the largest batch. */
static void
batch_arrays_init(struct worker *wk, size_t cap)
{
    wk->poison = tgh_calloc(cap, sizeof(*wk->poison));
    wk->cev = tgh_calloc(cap, sizeof(*wk->cev));
    wk->cidx = tgh_calloc(cap, sizeof(*wk->cidx));
    wk->ci = tgh_calloc(cap, sizeof(*wk->ci));
    wk->verdict = tgh_calloc(cap, sizeof(*wk->verdict));
    wk->states = tgh_calloc(cap, sizeof(*wk->states));
    wk->ev_item = tgh_calloc(cap, sizeof(*wk->ev_item));
    wk->npoison = cap;
}

static void
poison_clear(struct worker *wk)
{
    for (size_t i = 0; i < wk->npoison; i++) {
        tgh_free(wk->poison[i]);
        wk->poison[i] = NULL;
    }
}

static void
batch_arrays_fini(struct worker *wk)
{
    if (wk->poison != NULL)
        poison_clear(wk);
    tgh_free(wk->poison);
    tgh_free(wk->cev);
    tgh_free(wk->cidx);
    tgh_free(wk->ci);
    tgh_free(wk->verdict);
    tgh_free(wk->states);
    tgh_free(wk->ev_item);
}

/*
 * Commit events one by one: a batch the store refused for a reason that is
 * not transient has a culprit, which becomes a dead letter while the rest
 * of the batch is committed.
 */
static tgh_err
commit_singly(struct worker *wk, size_t ncommit, struct store_stats *s, size_t *dead)
{
    for (size_t j = 0; j < ncommit; j++) {
        size_t i = wk->cidx[j];
        tgh_err rc = store_batch_commit(wk->st, &wk->cev[j], 1, s);

        if (rc == TGH_OK)
            continue;
        if (tgh_err_is_transient(rc))
            return rc;
        rc = dead_letter(wk, &wk->items[wk->ev_item[i]], tgh_errmsg());
        if (rc != TGH_OK)
            return rc;
        wk->ci[i].event = NULL; /* not committed: not for the recent cache */
        wk->ci[i].state = "";   /* nor a dedup state that could skip it later */
        (*dead)++;
    }
    return TGH_OK;
}

/*
 * Steps 2 to 7 for the first k held deliveries. TGH_OK when they were
 * acked; a transient error leaves them held for a retry.
 */
static tgh_err
process(struct worker *wk, size_t k)
{
    struct store_stats s = { 0 };
    size_t dead = 0, skipped = 0, nci = 0, ncommit = 0;
    tgh_err rc = TGH_OK;
    struct msg_batch *b = &wk->batch;
    int64_t t0 = pipeline_now_ms(), t1, t2, t3, t4;

    msg_batch_reset(b);
    poison_clear(wk);
    memset(wk->verdict, 0, k * sizeof(*wk->verdict));
    /* Decode; poison is set aside with its reason, dead-lettered after the commit. */
    for (size_t i = 0; i < k; i++) {
        struct item *it = &wk->items[i];
        struct msg_event *ev = msg_batch_push(b);

        rc = codec_event_decode(it->body, it->len, &b->arena, ev);
        if (rc == TGH_OK)
            rc = codec_event_encode_cached(ev, &b->arena); /* the canonical text */
        if (rc != TGH_OK) {
            char reason[1200];

            (void)snprintf(reason, sizeof(reason), "%s: %s", tgh_err_name(rc), tgh_errmsg());
            msg_batch_pop(b);
            wk->poison[i] = tgh_strdup(reason);
            continue;
        }
        wk->ev_item[b->n - 1] = i;
    }
    /* Redis: drop what the store already holds in exactly this state. */
    for (size_t i = 0; i < b->n; i++) {
        const struct msg_event *ev = &b->ev[i];
        event_state(ev->encoded, ev->encoded_len, wk->states[i]);
        wk->ci[i] = (struct cache_item){
            .chat_id = ev->chat_id,
            .message_id = ev->message_id,
            .state = wk->states[i],
            .event = ev->op == MSG_OP_UPSERT ? ev->encoded : NULL,
            .event_len = ev->encoded_len,
            .date = ev->date == MSG_UNSET ? 0 : ev->date,
            .deleted = ev->op == MSG_OP_DELETE,
        };
    }
    nci = b->n;
    t1 = pipeline_now_ms();
    if (wk->cache != NULL && nci > 0 && cache_check(wk->cache, wk->ci, nci, wk->verdict) != TGH_OK)
        wk->t->cache_failures++;
    /* The events the store must see, as shallow copies (the batch owns them). */
    for (size_t i = 0; i < nci; i++) {
        wk->ci[i].changed = wk->verdict[i] == CACHE_CHANGED;
        /* deletions always reach the store */
        if (wk->verdict[i] == CACHE_SAME && b->ev[i].op != MSG_OP_DELETE) {
            skipped++;
            continue;
        }
        wk->cidx[ncommit] = i;
        wk->cev[ncommit++] = b->ev[i];
    }
    /* The commit: one transaction, or one per event when it has a culprit. */
    t2 = pipeline_now_ms();
    if (ncommit > 0) {
        rc = store_batch_commit(wk->st, wk->cev, ncommit, &s);
        if (rc != TGH_OK && !tgh_err_is_transient(rc) && rc != TGH_EIO) {
            log_warn("batch of %zu refused (%s), committing one by one", ncommit, tgh_errmsg());
            memset(&s, 0, sizeof(s));
            rc = commit_singly(wk, ncommit, &s, &dead);
        }
        if (rc != TGH_OK)
            goto out;
    }
    for (size_t i = 0; i < k; i++) {
        if (wk->poison[i] == NULL)
            continue;
        rc = dead_letter(wk, &wk->items[i], wk->poison[i]);
        if (rc != TGH_OK)
            goto out;
        dead++;
    }
    if (dead > 0) {
        rc = queue_pub_flush(wk->pub, 30000);
        if (rc != TGH_OK)
            goto out;
    }
    t3 = pipeline_now_ms();
    if (wk->cache != NULL && nci > 0 && cache_mark(wk->cache, wk->ci, nci) != TGH_OK)
        wk->t->cache_failures++;
    t4 = pipeline_now_ms();
    rc = queue_ack(wk->con, wk->items[k - 1].tag, true);
    if (rc != TGH_OK) {
        /* Committed but not acked: redelivered, and idempotent. */
        log_warn("ack failed, the batch will be redelivered: %s", tgh_errmsg());
        wk->t->reconnects++;
        lose_queue(wk);
        return TGH_OK;
    }
    store_stats_add(&wk->t->stats, &s);
    wk->t->events += ncommit;
    wk->t->duplicates += skipped;
    wk->t->dead_letters += dead;
    wk->t->batches++;
    wk->t->ms_decode += t1 - t0;
    wk->t->ms_cache += (t2 - t1) + (t4 - t3);
    wk->t->ms_commit += t3 - t2;
    if (wk->o->on_batch != NULL)
        wk->o->on_batch(wk->o->on_batch_arg, k, pipeline_now_ms() - t0);
    items_drop(wk, k);
out:
    return rc;
}

/* Commit the first k held deliveries through the breaker; false while it waits. */
static tgh_err
try_commit(struct worker *wk, size_t k)
{
    int64_t now = pipeline_now_ms();
    tgh_err rc;

    if (now < wk->not_before || !pipeline_breaker_allow(&wk->breaker, now))
        return TGH_EAGAIN;
    if (wk->st == NULL) {
        rc = store_open(wk->o->store_url, &wk->st);
        if (rc != TGH_OK)
            goto failed;
    }
    rc = process(wk, k);
    if (rc == TGH_OK) {
        pipeline_breaker_success(&wk->breaker, pipeline_now_ms());
        if (wk->store_down)
            log_info("store reachable again; breaker closed");
        wk->store_down = false;
        wk->attempt = 0;
        return TGH_OK;
    }
failed:
    if (!tgh_err_is_transient(rc) && rc != TGH_EIO)
        return rc;
    {
        enum pipeline_breaker_state before = pipeline_breaker_state(&wk->breaker, now);
        uint64_t opens = wk->breaker.opens;

        now = pipeline_now_ms();
        pipeline_breaker_failure(&wk->breaker, now);
        wk->t->retries++;
        if (!wk->store_down)
            log_warn("commit failed, holding %zu deliveries and retrying: %s", wk->n, tgh_errmsg());
        wk->store_down = true;
        if (wk->breaker.opens != opens) {
            wk->t->breaker_opens++;
            if (before == PIPELINE_BREAKER_CLOSED)
                log_warn("breaker open: intake paused");
        }
        wk->not_before = now + pipeline_backoff_ms(wk->attempt++, 100, 5000);
    }
    return TGH_EAGAIN;
}

static bool
batch_due(const struct worker *wk, int64_t now)
{
    return wk->n >= wk->o->batch_size ||
           (wk->n > 0 && now - wk->first_at >= wk->o->batch_wait_ms) || (wk->n > 0 && stopping(wk));
}

static void
worker_fini(struct worker *wk)
{
    items_drop(wk, wk->n);
    tgh_free(wk->items);
    msg_batch_fini(&wk->batch);
    batch_arrays_fini(wk);
    queue_con_close(wk->con);
    queue_pub_close(wk->pub);
    cache_close(wk->cache);
    store_close(wk->st);
}

tgh_err
pipeline_work_run(const struct pipeline_work_opts *o, struct pipeline_work_totals *t)
{
    struct worker wk = { .o = o, .t = t };
    int64_t idle_since = pipeline_now_ms();
    tgh_err rc;

    if (o->batch_size < 1 || o->prefetch < o->batch_size)
        return tgh_errf(TGH_EINVAL, "prefetch (%u) must be at least the batch size (%zu)",
                        o->prefetch, o->batch_size);
    msg_batch_init(&wk.batch, o->batch_size);
    batch_arrays_init(&wk, o->batch_size);
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
    log_info("consuming %s (batch %zu, prefetch %u)", QUEUE_NAME, o->batch_size, o->prefetch);
    for (;;) {
        int64_t now = pipeline_now_ms();
        struct queue_delivery d;
        int wait_ms;

        if (wk.con == NULL) {
            if (stopping(&wk))
                break;
            rc = connect_queue(&wk);
            if (rc != TGH_OK)
                goto out;
            continue;
        }
        if (batch_due(&wk, now)) {
            size_t k = wk.n < o->batch_size ? wk.n : o->batch_size;

            rc = try_commit(&wk, k);
            if (rc == TGH_OK) {
                idle_since = pipeline_now_ms();
                continue;
            }
            if (rc != TGH_EAGAIN)
                goto out;
            if (stopping(&wk))
                break; /* the store is down: what is held goes back to the broker */
            if (wk.con == NULL)
                continue;
        } else if (stopping(&wk)) {
            break;
        }
        if (wk.n == 0 && o->idle_exit_ms > 0 && now - idle_since >= o->idle_exit_ms)
            break;
        /* Read the socket (heartbeats too) until the next thing is due. */
        wait_ms = 200;
        if (wk.n > 0 && !wk.store_down) {
            int64_t due = wk.first_at + o->batch_wait_ms - now;

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
    if (rc == TGH_OK && wk.pub != NULL)
        rc = queue_pub_flush(wk.pub, 30000);
    worker_fini(&wk);
    return rc;
}
