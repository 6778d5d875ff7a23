/* SPDX-License-Identifier: MIT */
/*
 * queue_amqp_pub.c - the confirming publisher.
 *
 * Every message is kept (body, message_id, exchange, reason) from
 * queue_publish() until the broker acks it. A publish in confirm mode gets
 * the next sequence number of the channel (1, 2, ...), so the messages in
 * flight sit in a ring indexed by seq - first_seq. A nack, a basic.return
 * (the broker acks a returned message too: that ack is not a confirm) or a
 * lost connection moves messages to the retry list, which is published again
 * with new sequence numbers. Nothing is dropped except by queue_pub_close().
 */
#include "queue/queue.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>

#include "core/alloc.h"
#include "queue/queue_int.h"

#define TGH_LOG_SUB "queue"
#include "core/log.h"

#define RETRY_BACKOFF_MIN_MS 50 /* after a nack or a return, doubling */
#define RETRY_BACKOFF_MAX_MS 1000
#define RECONNECT_MIN_MS     100 /* full jitter, doubling */
#define RECONNECT_MAX_MS     5000
#define POLL_EVERY           128 /* publishes between reads of what the broker sent */
#define BLOCK_TARGET         (QUEUE_PUB_PENDING_MAX * 3 / 4)
#define WAIT_SLICE_MS        1000 /* so that the stall check below runs */
/*
 * In flight, connected, and not one confirm for this long: seen with
 * RabbitMQ 3.10 after a channel's messages came back unroutable and were
 * published again. A new connection gets them confirmed (duplicates are
 * allowed, losses are not).
 */
#define CONFIRM_STALL_MS 10000

struct pmsg {
    struct pmsg *next;    /* in the retry list */
    const char *exchange; /* QUEUE_EXCHANGE or QUEUE_DLX (static strings) */
    bool is_dead;         /* to QUEUE_DLX */
    const char *message_id;
    const char *error; /* QUEUE_HDR_ERROR of a dead letter, else NULL */
    size_t len;
    uint32_t sends;
    bool is_returned; /* came back as basic.return: its ack is not a confirm */
    char data[];      /* body (len bytes), then message_id and error, NUL-terminated */
};

struct pmsg_list {
    struct pmsg *head, *tail;
    size_t n;
};

struct queue_pub {
    struct queue_link link;

    /* In flight on the current channel: ring[(head + i) & mask] is seq first_seq + i. */
    struct pmsg **ring;
    size_t ring_cap, ring_head, ring_len, inflight;
    uint64_t first_seq;

    struct pmsg_list retry; /* to publish (again) once up and retry_at_ms has passed */
    uint64_t retry_at_ms;
    unsigned refused_streak;
    bool needs_declare; /* a return means a binding is missing: declare again */

    bool is_down; /* an outage was logged and is not over */
    uint64_t down_since_ms, next_attempt_ms;
    unsigned attempt;
    char last_error[512];

    uint64_t progress_ms; /* last confirm, or first publish into an empty ring */
    uint64_t rng;
    unsigned since_poll;
    struct queue_pub_stats stats;
};

static uint64_t
rng_next(struct queue_pub *p)
{
    uint64_t z = (p->rng += 0x9E3779B97F4A7C15ull); /* splitmix64 */

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Full jitter: uniform in [0, min(cap, base * 2^n)]. */
static uint64_t
jitter(struct queue_pub *p, uint64_t base, uint64_t cap, unsigned n)
{
    uint64_t ceil = base << (n < 16 ? n : 16);

    if (ceil > cap)
        ceil = cap;
    return rng_next(p) % (ceil + 1);
}

static struct pmsg *
pmsg_new(const char *exchange, const char *body, size_t len, const char *message_id,
         const char *error)
{
    size_t idlen = message_id ? strlen(message_id) + 1 : 0;
    size_t errlen = error ? strlen(error) + 1 : 0;
    struct pmsg *m = tgh_malloc(sizeof(*m) + len + idlen + errlen);
    char *tail = m->data + len;

    memset(m, 0, sizeof(*m));
    m->exchange = exchange;
    m->is_dead = strcmp(exchange, QUEUE_DLX) == 0;
    m->len = len;
    memcpy(m->data, body, len);
    if (message_id != NULL) {
        memcpy(tail, message_id, idlen);
        m->message_id = tail;
        tail += idlen;
    }
    if (error != NULL) {
        memcpy(tail, error, errlen);
        m->error = tail;
    }
    return m;
}

static void
list_push(struct pmsg_list *l, struct pmsg *m)
{
    m->next = NULL;
    if (l->tail != NULL)
        l->tail->next = m;
    else
        l->head = m;
    l->tail = m;
    l->n++;
}

static struct pmsg *
list_pop(struct pmsg_list *l)
{
    struct pmsg *m = l->head;

    if (m != NULL) {
        l->head = m->next;
        if (l->head == NULL)
            l->tail = NULL;
        l->n--;
    }
    return m;
}

/* Put front before everything in l. */
static void
list_prepend(struct pmsg_list *l, struct pmsg_list *front)
{
    if (front->head == NULL)
        return;
    front->tail->next = l->head;
    if (l->tail == NULL)
        l->tail = front->tail;
    l->head = front->head;
    l->n += front->n;
    memset(front, 0, sizeof(*front));
}

static void
list_free(struct pmsg_list *l)
{
    struct pmsg *m;

    while ((m = list_pop(l)) != NULL)
        tgh_free(m);
}

static struct pmsg **
slot(struct queue_pub *p, size_t i)
{
    return &p->ring[(p->ring_head + i) & (p->ring_cap - 1)];
}

static void
ring_push(struct queue_pub *p, struct pmsg *m)
{
    if (p->ring_len == p->ring_cap) {
        size_t cap = p->ring_cap ? p->ring_cap * 2 : 1024;
        struct pmsg **r = tgh_malloc(cap * sizeof(*r));

        for (size_t i = 0; i < p->ring_len; i++)
            r[i] = *slot(p, i);
        tgh_free(p->ring);
        p->ring = r;
        p->ring_cap = cap;
        p->ring_head = 0;
    }
    *slot(p, p->ring_len) = m;
    p->ring_len++;
    p->inflight++;
}

/* Drop settled slots from the front, so that first_seq is the oldest unsettled publish. */
static void
ring_trim(struct queue_pub *p)
{
    while (p->ring_len > 0 && *slot(p, 0) == NULL) {
        p->ring_head = (p->ring_head + 1) & (p->ring_cap - 1);
        p->ring_len--;
        p->first_seq++;
    }
}

/* What still needs the broker: in flight (settled holes included, so memory is bounded) and
 * retries. */
static size_t
window(const struct queue_pub *p)
{
    return p->ring_len + p->retry.n;
}

static void
schedule_retry(struct queue_pub *p, struct pmsg *m)
{
    uint64_t at =
        queue_now_ms() + jitter(p, RETRY_BACKOFF_MIN_MS, RETRY_BACKOFF_MAX_MS, p->refused_streak);

    m->is_returned = false;
    list_push(&p->retry, m);
    if (at > p->retry_at_ms)
        p->retry_at_ms = at;
}

/*
 * The connection is gone: everything in flight goes back, in publish order,
 * ahead of the retries, to be published again on the next connection.
 */
static void
take_down(struct queue_pub *p, tgh_err why)
{
    struct pmsg_list back = { 0 };

    (void)snprintf(p->last_error, sizeof(p->last_error), "%s", tgh_errmsg());
    queue_link_down(&p->link, false);
    for (size_t i = 0; i < p->ring_len; i++) {
        struct pmsg *m = *slot(p, i);

        if (m != NULL) {
            m->is_returned = false;
            list_push(&back, m);
        }
    }
    p->ring_head = p->ring_len = p->inflight = 0;
    p->first_seq = 1;
    list_prepend(&p->retry, &back);
    p->retry_at_ms = 0;
    if (!p->is_down) {
        p->is_down = true;
        p->down_since_ms = queue_now_ms();
        p->attempt = 0;
        p->next_attempt_ms = 0;
        log_warn("err=%s %s; reconnecting, %zu messages kept to publish again", tgh_err_name(why),
                 p->last_error, p->retry.n);
    }
}

/* basic.publish of m; false (m back at the front of the retries) when the link went down. */
static bool
send_msg(struct queue_pub *p, struct pmsg *m)
{
    amqp_basic_properties_t props;
    amqp_table_entry_t hdr[2];
    const char *rk = m->is_dead ? QUEUE_DLQ : QUEUE_ROUTING_KEY;
    amqp_bytes_t body = { m->len, m->data };
    int st;

    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    if (m->message_id != NULL) {
        props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        props.message_id = amqp_cstring_bytes(m->message_id);
    }
    if (m->error != NULL) {
        hdr[0].key = amqp_cstring_bytes(QUEUE_HDR_ERROR);
        hdr[0].value.kind = AMQP_FIELD_KIND_UTF8;
        hdr[0].value.value.bytes = amqp_cstring_bytes(m->error);
        hdr[1].key = amqp_cstring_bytes(QUEUE_HDR_SOURCE);
        hdr[1].value.kind = AMQP_FIELD_KIND_UTF8;
        hdr[1].value.value.bytes = amqp_cstring_bytes("worker");
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers.num_entries = 2;
        props.headers.entries = hdr;
    }
    st = amqp_basic_publish(p->link.conn, QUEUE_CHANNEL, amqp_cstring_bytes(m->exchange),
                            amqp_cstring_bytes(rk), 1 /* mandatory */, 0, &props, body);
    if (st != AMQP_STATUS_OK) {
        struct pmsg_list one = { m, m, 1 };

        m->next = NULL;
        list_prepend(&p->retry, &one);
        take_down(p, queue_link_fail(&p->link, st, "basic.publish"));
        return false;
    }
    if (p->inflight == 0)
        p->progress_ms = queue_now_ms();
    p->stats.published++;
    if (m->sends++ > 0)
        p->stats.republished++;
    ring_push(p, m);
    return true;
}

/* Publish the retry list once its backoff has passed (and after a return, declare again). */
static tgh_err
send_retries(struct queue_pub *p)
{
    struct pmsg *m;

    if (p->retry.n == 0 || p->link.conn == NULL || queue_now_ms() < p->retry_at_ms)
        return TGH_OK;
    if (p->needs_declare) {
        tgh_err rc = queue_link_declare(&p->link);

        if (rc != TGH_OK) {
            if (p->link.conn == NULL)
                take_down(p, rc);
            return rc == TGH_EPROTO ? rc : TGH_OK;
        }
        p->needs_declare = false;
    }
    while (p->link.conn != NULL && (m = list_pop(&p->retry)) != NULL)
        if (!send_msg(p, m))
            break;
    return TGH_OK;
}

/* basic.ack or basic.nack for tag (and every earlier one when multiple). */
static void
on_confirm(struct queue_pub *p, uint64_t tag, bool multiple, bool is_ack)
{
    size_t from, to;

    if (tag < p->first_seq || tag - p->first_seq >= p->ring_len)
        return; /* already settled, or not ours: nothing to do */
    to = (size_t)(tag - p->first_seq);
    from = multiple ? 0 : to;
    p->progress_ms = queue_now_ms();
    if (is_ack)
        p->refused_streak = 0;
    else
        p->refused_streak++;
    for (size_t i = from; i <= to; i++) {
        struct pmsg *m = *slot(p, i);

        if (m == NULL)
            continue;
        *slot(p, i) = NULL;
        p->inflight--;
        if (is_ack && !m->is_returned) {
            p->stats.confirmed++;
            tgh_free(m);
        } else {
            if (!is_ack)
                p->stats.nacked++;
            schedule_retry(p, m);
        }
    }
    ring_trim(p);
}

/*
 * basic.return: the message is identified by content (the return carries no
 * sequence number): the oldest in-flight message with the same exchange,
 * message_id and body that is not already marked. The broker sends returns
 * in publish order and before the ack, so this is the one it means.
 */
static tgh_err
on_return(struct queue_pub *p, const amqp_frame_t *f)
{
    const amqp_basic_return_t *ret = f->payload.method.decoded;
    amqp_message_t msg;
    amqp_rpc_reply_t r;
    amqp_bytes_t id = { 0, NULL };
    char exch[256];

    (void)snprintf(exch, sizeof(exch), "%.*s", (int)ret->exchange.len,
                   ret->exchange.bytes ? (const char *)ret->exchange.bytes : "");
    log_debug("basic.return from %s: %u %.*s", exch, (unsigned)ret->reply_code,
              (int)ret->reply_text.len, (const char *)ret->reply_text.bytes);
    r = amqp_read_message(p->link.conn, f->channel, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        take_down(p, queue_link_fail(&p->link,
                                     r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                         ? r.library_error
                                         : AMQP_STATUS_UNEXPECTED_STATE,
                                     "reading a returned message"));
        return TGH_EUNAVAIL;
    }
    if (msg.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        id = msg.properties.message_id;
    p->stats.returned++;
    p->needs_declare = true;
    for (size_t i = 0; i < p->ring_len; i++) {
        struct pmsg *m = *slot(p, i);
        size_t mlen = m && m->message_id ? strlen(m->message_id) : 0;

        if (m == NULL || m->is_returned || strcmp(m->exchange, exch) != 0 ||
            m->len != msg.body.len || (m->message_id != NULL) != (id.bytes != NULL) ||
            mlen != id.len || (mlen && memcmp(m->message_id, id.bytes, mlen) != 0) ||
            memcmp(m->data, msg.body.bytes, m->len) != 0)
            continue;
        m->is_returned = true;
        break;
    }
    amqp_destroy_message(&msg);
    return TGH_OK;
}

/*
 * Read and handle one frame, waiting up to wait_ms (0: only what has
 * arrived). TGH_ETIMEOUT when none came; TGH_EUNAVAIL when the link went down.
 */
static tgh_err
read_frame(struct queue_pub *p, uint64_t wait_ms)
{
    struct timeval tv = queue_ms_timeval((int64_t)wait_ms);
    amqp_frame_t f;
    int st;

    amqp_maybe_release_buffers(p->link.conn);
    st = amqp_simple_wait_frame_noblock(p->link.conn, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT)
        return TGH_ETIMEOUT;
    if (st != AMQP_STATUS_OK) {
        take_down(p, queue_link_fail(&p->link, st, "waiting for confirms"));
        return TGH_EUNAVAIL;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return TGH_OK;
    switch (f.payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f.payload.method.decoded;

        on_confirm(p, a->delivery_tag, a->multiple, true);
        return TGH_OK;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *n = f.payload.method.decoded;

        on_confirm(p, n->delivery_tag, n->multiple, false);
        return TGH_OK;
    }
    case AMQP_BASIC_RETURN_METHOD:
        return on_return(p, &f);
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        take_down(p, queue_link_closed(&p->link, &f, "publishing"));
        return TGH_EUNAVAIL;
    default:
        return TGH_OK;
    }
}

/* Handle everything that already arrived, without waiting (heartbeats are sent here too). */
static void
poll_frames(struct queue_pub *p)
{
    while (p->link.conn != NULL && read_frame(p, 0) == TGH_OK)
        ;
}

/* Connect, declare, confirm mode: a fresh channel numbers publishes from 1. */
static tgh_err
pub_up(struct queue_pub *p, int timeout_ms)
{
    tgh_err rc;

    if ((rc = queue_link_up(&p->link, QUEUE_HEARTBEAT_S, timeout_ms)) != TGH_OK ||
        (rc = queue_link_declare(&p->link)) != TGH_OK)
        return rc;
    (void)amqp_confirm_select(p->link.conn, QUEUE_CHANNEL);
    if ((rc = queue_link_check(&p->link, "confirm.select")) != TGH_OK)
        return rc;
    p->first_seq = 1;
    p->needs_declare = false;
    return TGH_OK;
}

/*
 * One reconnection attempt, after waiting for its turn (full-jitter backoff)
 * if that comes before deadline_ms. TGH_EPROTO is permanent (topology
 * conflict, login refused); the rest means "not yet".
 */
static tgh_err
reconnect(struct queue_pub *p, uint64_t deadline_ms)
{
    uint64_t now = queue_now_ms();
    uint64_t left;
    tgh_err rc;

    if (p->next_attempt_ms > now) {
        queue_sleep_ms((p->next_attempt_ms < deadline_ms ? p->next_attempt_ms : deadline_ms) - now);
        now = queue_now_ms();
        if (p->next_attempt_ms > now)
            return tgh_errf(TGH_EUNAVAIL, "%s", p->last_error);
    }
    left = deadline_ms > now ? deadline_ms - now : 0;
    left = left < 250 ? 250 : left > QUEUE_CONNECT_TIMEOUT_MS ? QUEUE_CONNECT_TIMEOUT_MS : left;
    rc = pub_up(p, (int)left);
    if (rc != TGH_OK) {
        (void)snprintf(p->last_error, sizeof(p->last_error), "%s", tgh_errmsg());
        p->next_attempt_ms =
            queue_now_ms() + jitter(p, RECONNECT_MIN_MS, RECONNECT_MAX_MS, p->attempt++);
        return rc;
    }
    p->stats.reconnects++;
    log_info("%s: connected again after %.1f s; publishing %zu kept messages again", p->link.label,
             (double)(queue_now_ms() - p->down_since_ms) / 1000.0, p->retry.n);
    p->is_down = false;
    p->attempt = 0;
    p->next_attempt_ms = 0;
    p->retry_at_ms = 0;
    return TGH_OK;
}

static tgh_err
unsettled(const struct queue_pub *p, tgh_err code, int timeout_ms)
{
    if (p->link.conn == NULL)
        return tgh_errf(code, "%zu messages unconfirmed after %d ms, broker unreachable: %s",
                        queue_pub_pending(p), timeout_ms, p->last_error);
    return tgh_errf(code, "%s: %zu messages unconfirmed after %d ms", p->link.label,
                    queue_pub_pending(p), timeout_ms);
}

/*
 * Read confirms, publish retries and reconnect until at most target
 * messages need the broker or timeout_ms (< 0: no limit) passed.
 */
static tgh_err
settle(struct queue_pub *p, size_t target, int timeout_ms)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : queue_now_ms() + (uint64_t)timeout_ms;
    tgh_err rc;

    for (;;) {
        uint64_t now, wait;

        if (p->link.conn == NULL) {
            rc = reconnect(p, deadline);
            if (rc == TGH_EPROTO)
                return rc;
            if (rc != TGH_OK) {
                if (queue_now_ms() >= deadline)
                    return unsettled(p, TGH_EUNAVAIL, timeout_ms);
                continue;
            }
        }
        if ((rc = send_retries(p)) != TGH_OK)
            return rc;
        poll_frames(p);
        if (p->link.conn == NULL)
            continue;
        if (window(p) <= target)
            return TGH_OK;
        now = queue_now_ms();
        if (p->inflight > 0 && now - p->progress_ms > CONFIRM_STALL_MS) {
            take_down(p,
                      tgh_errf(TGH_EUNAVAIL, "%s: no confirm for %d ms with %zu messages in flight",
                               p->link.label, CONFIRM_STALL_MS, p->inflight));
            continue;
        }
        if (now >= deadline)
            return unsettled(p, TGH_ETIMEOUT, timeout_ms);
        wait = deadline - now;
        if (p->retry.n > 0 && p->retry_at_ms > now && p->retry_at_ms - now < wait)
            wait = p->retry_at_ms - now;
        (void)read_frame(p, wait < WAIT_SLICE_MS ? wait : WAIT_SLICE_MS);
    }
}

tgh_err
queue_pub_open(const char *url, struct queue_pub **out)
{
    struct queue_pub *p = tgh_calloc(1, sizeof(*p));
    tgh_err rc;

    *out = NULL;
    p->rng = queue_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p;
    p->first_seq = 1;
    if ((rc = queue_link_init(&p->link, url)) != TGH_OK ||
        (rc = pub_up(p, QUEUE_CONNECT_TIMEOUT_MS)) != TGH_OK) {
        queue_pub_close(p);
        return rc;
    }
    *out = p;
    return TGH_OK;
}

static tgh_err
enqueue(struct queue_pub *p, struct pmsg *m)
{
    if (window(p) >= QUEUE_PUB_PENDING_MAX) {
        tgh_err rc = settle(p, BLOCK_TARGET, QUEUE_PUB_BLOCK_MS);

        if (rc != TGH_OK && window(p) >= QUEUE_PUB_PENDING_MAX) {
            tgh_free(m);
            return rc;
        }
    }
    if (p->link.conn != NULL && p->retry.n > 0) {
        tgh_err rc = send_retries(p);

        if (rc != TGH_OK) {
            tgh_free(m);
            return rc;
        }
    }
    if (p->link.conn == NULL || p->retry.n > 0) {
        list_push(&p->retry, m); /* after what waits already; the next flush sends it */
        return TGH_OK;
    }
    if (send_msg(p, m) && ++p->since_poll >= POLL_EVERY) {
        p->since_poll = 0;
        poll_frames(p);
    }
    return TGH_OK;
}

static tgh_err
check_args(const char *body, size_t len, const char *message_id)
{
    if (body == NULL && len > 0)
        return tgh_errf(TGH_EINVAL, "publish: NULL body");
    if (len > QUEUE_BODY_MAX)
        return tgh_errf(TGH_ETOOBIG, "publish: body of %zu bytes over the %d byte cap", len,
                        QUEUE_BODY_MAX);
    if (message_id != NULL && strlen(message_id) > 255)
        return tgh_errf(TGH_EINVAL, "publish: message_id longer than 255 bytes");
    return TGH_OK;
}

tgh_err
queue_publish(struct queue_pub *p, const char *body, size_t len, const char *message_id)
{
    tgh_err rc = check_args(body, len, message_id);

    if (rc != TGH_OK)
        return rc;
    return enqueue(p, pmsg_new(QUEUE_EXCHANGE, body ? body : "", len, message_id, NULL));
}

tgh_err
queue_publish_dead(struct queue_pub *p, const char *body, size_t len, const char *message_id,
                   const char *reason)
{
    char clipped[QUEUE_REASON_MAX + 1];
    tgh_err rc = check_args(body, len, message_id);

    if (rc != TGH_OK)
        return rc;
    queue_utf8_clip(reason != NULL ? reason : "", clipped, sizeof(clipped));
    return enqueue(p, pmsg_new(QUEUE_DLX, body ? body : "", len, message_id, clipped));
}

tgh_err
queue_pub_flush(struct queue_pub *p, int timeout_ms)
{
    return settle(p, 0, timeout_ms);
}

size_t
queue_pub_pending(const struct queue_pub *p)
{
    return p->inflight + p->retry.n;
}

void
queue_pub_stats_get(const struct queue_pub *p, struct queue_pub_stats *out)
{
    *out = p->stats;
}

void
queue_pub_close(struct queue_pub *p)
{
    if (p == NULL)
        return;
    queue_link_down(&p->link, p->link.conn != NULL);
    for (size_t i = 0; i < p->ring_len; i++)
        tgh_free(*slot(p, i));
    tgh_free(p->ring);
    list_free(&p->retry);
    queue_link_fini(&p->link);
    tgh_free(p);
}
