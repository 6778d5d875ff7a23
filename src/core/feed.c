/* SPDX-License-Identifier: MIT */
/*
 * feed.c - the live feed's ring. Items are numbered internally from 0 in
 * append order; item k lives in slot k % cap while first <= k < end. A
 * reader's position is such a number, so a reader never misses an item
 * silently: when its number fell below first, the items it had not read were
 * dropped and it is told so.
 */
#include "core/feed.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"

struct slot {
    struct tgh_feed_id id;
    int64_t chat_id;
    char kind[8];
    char *data;
    size_t len;
};

struct tgh_feed {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot *ring;
    size_t cap;
    uint64_t first, end;        /* held: [first, end) */
    struct tgh_feed_id last;    /* id of item end - 1 (or of the last dropped) */
    struct tgh_feed_id dropped; /* id of the newest dropped item, {0,0} when none */
    struct tgh_feed_id horizon; /* held: every change from here on (resumes below it are gaps) */
    uint64_t appended, n_dropped;
    bool closed;
};

static struct tgh_feed_id next_id(const struct tgh_feed *f);

struct tgh_feed *
tgh_feed_new(size_t capacity)
{
    struct tgh_feed *f = tgh_calloc(1, sizeof(*f));
    pthread_condattr_t ca;

    f->cap = capacity > 0 ? capacity : 1;
    f->ring = tgh_calloc(f->cap, sizeof(*f->ring));
    f->horizon = next_id(f);
    (void)pthread_mutex_init(&f->mu, NULL);
    (void)pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&f->cv, &ca);
    (void)pthread_condattr_destroy(&ca);
    return f;
}

void
tgh_feed_free(struct tgh_feed *f)
{
    if (f == NULL)
        return;
    for (uint64_t k = f->first; k < f->end; k++)
        tgh_free(f->ring[k % f->cap].data);
    tgh_free(f->ring);
    (void)pthread_cond_destroy(&f->cv);
    (void)pthread_mutex_destroy(&f->mu);
    tgh_free(f);
}

int
tgh_feed_id_cmp(const struct tgh_feed_id *a, const struct tgh_feed_id *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

/* The next id from the clock: never smaller than the last one, so never equal either. */
static struct tgh_feed_id
next_id(const struct tgh_feed *f)
{
    struct timespec ts;
    struct tgh_feed_id id;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    id.ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    id.seq = 0;
    if (id.ms <= f->last.ms) {
        id.ms = f->last.ms;
        id.seq = f->last.seq + 1;
    }
    return id;
}

tgh_err
tgh_feed_append(struct tgh_feed *f, const struct tgh_feed_id *id, int64_t chat_id, const char *kind,
                const char *data, size_t len, struct tgh_feed_id *out_id)
{
    struct slot *s;
    char *copy = tgh_malloc(len + 1);

    memcpy(copy, data, len);
    copy[len] = '\0';
    (void)pthread_mutex_lock(&f->mu);
    if (id != NULL && tgh_feed_id_cmp(id, &f->last) <= 0) {
        (void)pthread_mutex_unlock(&f->mu);
        tgh_free(copy);
        return tgh_errf(TGH_EINVAL, "feed id %" PRIu64 "-%" PRIu64 " is not after the last one",
                        id->ms, id->seq);
    }
    if (f->end - f->first == f->cap) {
        s = &f->ring[f->first % f->cap];
        f->dropped = s->id;
        tgh_free(s->data);
        f->first++;
        f->n_dropped++;
    }
    s = &f->ring[f->end % f->cap];
    s->id = id != NULL ? *id : next_id(f);
    s->chat_id = chat_id;
    (void)snprintf(s->kind, sizeof(s->kind), "%s", kind);
    s->data = copy;
    s->len = len;
    f->last = s->id;
    f->end++;
    f->appended++;
    if (out_id != NULL)
        *out_id = s->id;
    (void)pthread_cond_broadcast(&f->cv);
    (void)pthread_mutex_unlock(&f->mu);
    return TGH_OK;
}

void
tgh_feed_set_horizon(struct tgh_feed *f, const struct tgh_feed_id *id)
{
    (void)pthread_mutex_lock(&f->mu);
    f->horizon = *id;
    (void)pthread_mutex_unlock(&f->mu);
}

struct tgh_feed_id
tgh_feed_last_id(struct tgh_feed *f)
{
    struct tgh_feed_id id;

    (void)pthread_mutex_lock(&f->mu);
    id = f->last;
    (void)pthread_mutex_unlock(&f->mu);
    return id;
}

void
tgh_feed_pos_tail(struct tgh_feed *f, struct tgh_feed_pos *pos)
{
    (void)pthread_mutex_lock(&f->mu);
    pos->next = f->end;
    pos->started = true;
    (void)pthread_mutex_unlock(&f->mu);
}

bool
tgh_feed_pos_after(struct tgh_feed *f, const struct tgh_feed_id *after, struct tgh_feed_pos *pos)
{
    uint64_t lo, hi;
    bool complete;

    (void)pthread_mutex_lock(&f->mu);
    /* The first held item with an id greater than after: ids grow with k. */
    lo = f->first;
    hi = f->end;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;

        if (tgh_feed_id_cmp(&f->ring[mid % f->cap].id, after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    pos->next = lo;
    pos->started = true;
    complete = (f->n_dropped == 0 || tgh_feed_id_cmp(after, &f->dropped) >= 0) &&
               tgh_feed_id_cmp(after, &f->horizon) >= 0;
    (void)pthread_mutex_unlock(&f->mu);
    return complete;
}

/* Wait for an item past pos, a close, or the deadline; the lock is held. */
static void
wait_for(struct tgh_feed *f, const struct tgh_feed_pos *pos, int timeout_ms)
{
    struct timespec dl;

    if (timeout_ms <= 0)
        return;
    (void)clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (!f->closed && pos->next >= f->end)
        if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
            break;
}

tgh_err
tgh_feed_read(struct tgh_feed *f, struct tgh_feed_pos *pos, int64_t chat_id,
              struct tgh_feed_item *out, size_t max, int timeout_ms, size_t *n)
{
    tgh_err rc = TGH_OK;

    *n = 0;
    (void)pthread_mutex_lock(&f->mu);
    if (!pos->started) {
        pos->next = f->first;
        pos->started = true;
    }
    if (pos->next < f->first) {
        pos->next = f->first;
        rc = tgh_errf(TGH_ECONFLICT, "the reader fell behind the feed: items were dropped");
        goto out;
    }
    wait_for(f, pos, timeout_ms);
    if (f->closed) {
        rc = tgh_errf(TGH_EUNAVAIL, "the feed is closed");
        goto out;
    }
    if (pos->next < f->first) { /* dropped while waiting */
        pos->next = f->first;
        rc = tgh_errf(TGH_ECONFLICT, "the reader fell behind the feed: items were dropped");
        goto out;
    }
    while (*n < max && pos->next < f->end) {
        const struct slot *s = &f->ring[pos->next % f->cap];
        struct tgh_feed_item *it = &out[*n];

        pos->next++;
        if (chat_id != 0 && s->chat_id != chat_id)
            continue;
        it->id = s->id;
        it->chat_id = s->chat_id;
        memcpy(it->kind, s->kind, sizeof(it->kind));
        it->data = tgh_strndup(s->data, s->len);
        it->len = s->len;
        (*n)++;
    }
out:
    (void)pthread_mutex_unlock(&f->mu);
    return rc;
}

void
tgh_feed_close(struct tgh_feed *f)
{
    (void)pthread_mutex_lock(&f->mu);
    f->closed = true;
    (void)pthread_cond_broadcast(&f->cv);
    (void)pthread_mutex_unlock(&f->mu);
}

void
tgh_feed_item_fini(struct tgh_feed_item *it)
{
    if (it == NULL)
        return;
    tgh_free(it->data);
    it->data = NULL;
    it->len = 0;
}

void
tgh_feed_id_format(const struct tgh_feed_id *id, char *buf, size_t cap)
{
    (void)snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, id->ms, id->seq);
}

/* Decimal digits only, no sign, no overflow. */
static bool
parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return false;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

tgh_err
tgh_feed_id_parse(const char *s, struct tgh_feed_id *out)
{
    const char *dash = strchr(s, '-');
    struct tgh_feed_id id = { 0, 0 };
    bool ok;

    /* Redis accepts "MS" alone for "MS-0"; so do we. */
    if (dash == NULL)
        ok = parse_u64(s, strlen(s), &id.ms);
    else
        ok = parse_u64(s, (size_t)(dash - s), &id.ms) &&
             parse_u64(dash + 1, strlen(dash + 1), &id.seq);
    if (!ok)
        return tgh_errf(TGH_EINVAL, "not an event id (MS-SEQ, decimal): '%.40s'", s);
    *out = id;
    return TGH_OK;
}

void
tgh_feed_stats_get(struct tgh_feed *f, struct tgh_feed_stats *out)
{
    (void)pthread_mutex_lock(&f->mu);
    out->appended = f->appended;
    out->dropped = f->n_dropped;
    out->held = (size_t)(f->end - f->first);
    (void)pthread_mutex_unlock(&f->mu);
}
