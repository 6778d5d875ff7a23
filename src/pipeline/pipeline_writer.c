/* SPDX-License-Identifier: MIT */
/*
 * pipeline_writer.c - a writer thread committing batches in submission
 * order. The queue is a ring of depth batch slots: the producer swaps its
 * full batch with the free slot at the tail (and resets what it gets back),
 * the writer commits the slot at the head in place and then frees the slot. Errors are
 * sticky and carried across threads as text, since tgh_errmsg() is
 * per-thread.
 */
#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"
#include "queue/queue.h"

#define TGH_LOG_SUB "writer"

struct pipeline_writer {
    struct store *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* any change of pending, is_busy or is_stopping */
    struct msg_batch *slots;
    size_t depth;
    size_t batch_cap; /* every slot's capacity; a submitted batch may be smaller */
    size_t head;      /* the oldest pending slot */
    size_t pending;   /* slots submitted and not yet committed */
    bool is_stopping;
    tgh_err err;                        /* sticky: the first failed commit */
    char errmsg[1024];                  /* its detail */
    struct store_stats stats;           /* since the last drain */
    struct pipeline_commit_note *notes; /* one per slot */
    pipeline_commit_fn on_commit;
    void *on_commit_arg;
    struct tgh_feed *feed;      /* NULL: no live feed */
    enum store_change *changes; /* batch_cap entries: what the batch committed changed */
    char *queue_url;            /* publishing writer: the broker */
    struct queue_pub *pub;      /* NULL until connected */
    struct queue_page page;
};

/*
 * The publishing writer's "commit": every event to the broker, then wait
 * until all are confirmed. Only then does the caller store the cursor, so a
 * cursor never gets ahead of what the broker holds. A broker that is down
 * is waited for (the collector is held by backpressure meanwhile).
 */
static tgh_err
publish_batch(struct pipeline_writer *w, const struct msg_batch *b, struct store_stats *s)
{
    unsigned attempt = 0;
    bool logged = false;
    tgh_err rc;

    while (w->pub == NULL) {
        rc = queue_pub_open(w->queue_url, &w->pub);
        if (rc == TGH_OK)
            break;
        if (!tgh_err_is_transient(rc))
            return rc;
        if (!logged)
            log_warn("broker unreachable, waiting: %s", tgh_errmsg());
        logged = true;
        usleep((useconds_t)pipeline_backoff_ms(attempt++, 100, 5000) * 1000);
    }
    /* The batch as pages: one broker message per QUEUE_PAGE_EVENTS events. */
    for (size_t i = 0; i < b->n; i++) {
        const struct msg_event *ev = &b->ev[i];
        char key[96];

        (void)msg_event_key(ev, key, sizeof(key));
        queue_page_add(&w->page, ev->encoded, ev->encoded_len, key);
        if (queue_page_full(&w->page) && (rc = queue_page_publish(w->pub, &w->page)) != TGH_OK)
            return rc; /* the whole batch is committed again */
    }
    rc = queue_page_publish(w->pub, &w->page);
    if (rc != TGH_OK)
        return rc;
    /* The publisher reconnects and republishes by itself: wait it out. */
    logged = false;
    for (;;) {
        rc = queue_pub_flush(w->pub, 10000);
        if (rc == TGH_OK || !tgh_err_is_transient(rc))
            break;
        if (!logged)
            log_warn("%zu messages not yet confirmed by the broker, waiting: %s",
                     queue_pub_pending(w->pub), tgh_errmsg());
        logged = true;
    }
    if (rc == TGH_OK && logged)
        log_info("the broker confirmed what it was missing");
    if (rc == TGH_OK)
        s->published += b->n;
    return rc;
}

/* Commit into the store; count it, and feed the live stream what changed. */
static tgh_err
commit_batch(struct pipeline_writer *w, const struct msg_batch *b, struct store_stats *s)
{
    int64_t t0 = pipeline_now_ms();
    tgh_err rc = store_batch_commit_changes(w->st, b->ev, b->n, s, w->changes);

    if (rc != TGH_OK)
        return rc;
    pipeline_metrics_commit(b->ev, w->changes, b->n, (double)(pipeline_now_ms() - t0) / 1000.0);
    if (w->feed != NULL)
        pipeline_feed_changes(w->feed, b->ev, w->changes, b->n);
    return TGH_OK;
}

static void *
writer_main(void *arg)
{
    struct pipeline_writer *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct msg_batch *b;
        struct store_stats s = { 0 };
        tgh_err rc = TGH_OK;

        while (w->pending == 0 && !w->is_stopping)
            pthread_cond_wait(&w->changed, &w->mu);
        if (w->pending == 0)
            break;
        b = &w->slots[w->head];
        if (w->err == TGH_OK) {
            const struct pipeline_commit_note *note = &w->notes[w->head];

            pthread_mutex_unlock(&w->mu);
            if (b->n == 0)
                rc = TGH_OK;
            else if (w->queue_url != NULL)
                rc = publish_batch(w, b, &s);
            else
                rc = commit_batch(w, b, &s);
            /* The cursor only moves once the messages it covers are committed. */
            if (rc == TGH_OK && note->has_cursor)
                rc = store_cursor_put(w->st, &note->cursor);
            if (rc == TGH_OK && w->on_commit != NULL)
                w->on_commit(w->on_commit_arg, note->tag, &s);
            pthread_mutex_lock(&w->mu);
            if (rc != TGH_OK) {
                w->err = rc;
                (void)snprintf(w->errmsg, sizeof(w->errmsg), "%s", tgh_errmsg());
            } else {
                store_stats_add(&w->stats, &s);
            }
        }
        /*
         * The slot is left as it is: the producer resets it when it swaps it
         * back in, so memory is freed by the thread that allocated it and the
         * two threads never contend for one malloc arena.
         */
        w->head = (w->head + 1) % w->depth;
        w->pending--;
        pthread_cond_broadcast(&w->changed);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void
writer_free(struct pipeline_writer *w)
{
    for (size_t i = 0; i < w->depth; i++)
        msg_batch_fini(&w->slots[i]);
    tgh_free(w->slots);
    tgh_free(w->notes);
    tgh_free(w->changes);
    queue_pub_close(w->pub);
    queue_page_fini(&w->page);
    tgh_free(w->queue_url);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->changed);
    tgh_free(w);
}

tgh_err
pipeline_writer_start(struct store *st, size_t batch_cap, size_t depth,
                      struct pipeline_writer **out)
{
    struct pipeline_writer *w = tgh_calloc(1, sizeof(*w));

    w->st = st;
    w->depth = depth < 1 ? 1 : depth;
    w->batch_cap = batch_cap;
    w->slots = tgh_calloc(w->depth, sizeof(*w->slots));
    w->changes = tgh_calloc(batch_cap > 0 ? batch_cap : 1, sizeof(*w->changes));
    w->notes = tgh_calloc(w->depth, sizeof(*w->notes));
    for (size_t i = 0; i < w->depth; i++)
        msg_batch_init(&w->slots[i], batch_cap);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->changed, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        writer_free(w);
        return tgh_errf(TGH_EAGAIN, "cannot start the writer thread");
    }
    *out = w;
    return TGH_OK;
}

tgh_err
pipeline_writer_start_queue(struct store *st, const char *queue_url, size_t batch_cap, size_t depth,
                            struct pipeline_writer **out)
{
    tgh_err rc;

    if (!queue_url_is_amqp(queue_url))
        return tgh_errf(TGH_EINVAL, "not an amqp:// URL: %s", queue_url);
    rc = pipeline_writer_start(st, batch_cap, depth, out);
    if (rc != TGH_OK)
        return rc;
    pthread_mutex_lock(&(*out)->mu);
    (*out)->queue_url = tgh_strdup(queue_url);
    pthread_mutex_unlock(&(*out)->mu);
    return TGH_OK;
}

/* The sticky error, re-recorded on the calling thread. */
static tgh_err
sticky(struct pipeline_writer *w)
{
    return tgh_errf(w->err, "%s", w->errmsg);
}

void
pipeline_writer_on_commit(struct pipeline_writer *w, pipeline_commit_fn fn, void *arg)
{
    pthread_mutex_lock(&w->mu);
    w->on_commit = fn;
    w->on_commit_arg = arg;
    pthread_mutex_unlock(&w->mu);
}

void
pipeline_writer_set_feed(struct pipeline_writer *w, struct tgh_feed *feed)
{
    pthread_mutex_lock(&w->mu);
    w->feed = feed;
    pthread_mutex_unlock(&w->mu);
}

tgh_err
pipeline_writer_submit(struct pipeline_writer *w, struct msg_batch *b)
{
    return pipeline_writer_submit_note(w, b, NULL);
}

tgh_err
pipeline_writer_submit_note(struct pipeline_writer *w, struct msg_batch *b,
                            const struct pipeline_commit_note *note)
{
    static const struct pipeline_commit_note none;
    struct msg_batch tmp;
    size_t tail;
    tgh_err rc;

    if (note == NULL)
        note = &none;
    if (b->n == 0 && !note->has_cursor && note->tag == NULL)
        return TGH_OK;
    if (b->cap > w->batch_cap)
        return tgh_errf(TGH_EINVAL, "batch of %zu events is larger than the writer's %zu", b->cap,
                        w->batch_cap);
    for (size_t i = 0; i < b->n; i++) {
        rc = codec_event_encode_cached(&b->ev[i], &b->arena);
        if (rc != TGH_OK)
            return rc;
    }
    pthread_mutex_lock(&w->mu);
    while (w->pending == w->depth && w->err == TGH_OK)
        pthread_cond_wait(&w->changed, &w->mu);
    if (w->err != TGH_OK) {
        rc = sticky(w);
        pthread_mutex_unlock(&w->mu);
        msg_batch_reset(b);
        return rc;
    }
    /* The tail slot is free: the writer only touches slots it has pending. */
    tail = (w->head + w->pending) % w->depth;
    tmp = w->slots[tail];
    w->slots[tail] = *b;
    w->notes[tail] = *note;
    *b = tmp;
    w->pending++;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
    msg_batch_reset(b); /* a batch the writer is done with, or a fresh one */
    return TGH_OK;
}

tgh_err
pipeline_writer_error(struct pipeline_writer *w)
{
    tgh_err rc = TGH_OK;

    pthread_mutex_lock(&w->mu);
    if (w->err != TGH_OK)
        rc = sticky(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

tgh_err
pipeline_writer_drain(struct pipeline_writer *w, struct store_stats *stats)
{
    tgh_err rc = TGH_OK;

    pthread_mutex_lock(&w->mu);
    while (w->pending > 0)
        pthread_cond_wait(&w->changed, &w->mu);
    /* What was committed before a failure is still reported. */
    if (stats != NULL)
        store_stats_add(stats, &w->stats);
    if (w->err != TGH_OK)
        rc = sticky(w);
    memset(&w->stats, 0, sizeof(w->stats));
    pthread_mutex_unlock(&w->mu);
    return rc;
}

tgh_err
pipeline_writer_stop(struct pipeline_writer *w, struct store_stats *stats)
{
    tgh_err rc;

    if (w == NULL)
        return TGH_OK;
    rc = pipeline_writer_drain(w, stats);
    pthread_mutex_lock(&w->mu);
    w->is_stopping = true;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->mu);
    (void)pthread_join(w->thread, NULL);
    writer_free(w);
    return rc;
}
