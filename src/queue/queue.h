/* SPDX-License-Identifier: MIT */
/*
 * queue.h - the message broker between collectors and workers (AMQP 0-9-1,
 * RabbitMQ), named by TGH_QUEUE=amqp://user:pass@host:port/vhost.
 *
 * Topology (declared idempotently by whichever process connects first,
 * docs/internals/queue.md):
 *   exchange "tg.messages"      direct, durable    -> queue "tg.messages.v2"
 *   queue    "tg.messages.v2"   quorum, durable, x-dead-letter-exchange
 *                               "tg.messages.dlx", x-delivery-limit,
 *                               x-dead-letter-strategy at-least-once,
 *                               x-overflow reject-publish
 *   exchange "tg.messages.dlx"  fanout, durable    -> queue "tg.messages.dlq"
 *   queue    "tg.messages.dlq"  quorum, durable
 * Messages are persistent, content type application/json. A body is a page:
 * one or more canonical events, one per line (JSON lines; the last newline
 * is optional, so a body of one event without it is a page too). message_id
 * is the first event's idempotency key ({chat_id}:{date}:{message_id}),
 * followed by "+N" when N more events follow it in the page.
 *
 * Publisher: publisher confirms. queue_pub_flush() returns only when every
 * message published so far was confirmed (basic.ack) by the broker; a nack,
 * a returned (unroutable) message or a lost connection means the message is
 * published again (after reconnecting with backoff), never dropped. So a
 * caller that advances a cursor after a flush never gets ahead of the broker.
 *
 * Consumer: manual acknowledgement, prefetch set by the caller (size it to
 * the batch). Nothing is acked implicitly.
 *
 * One publisher or consumer per thread. Errors: TGH_EUNAVAIL when the broker
 * cannot be reached (transient: retry), TGH_EPROTO when it refuses what we
 * asked (a topology conflict), TGH_EINVAL for a bad URL.
 */
#ifndef TGH_QUEUE_QUEUE_H
#define TGH_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define QUEUE_EXCHANGE     "tg.messages"
#define QUEUE_NAME         "tg.messages.v2"
#define QUEUE_DLX          "tg.messages.dlx"
#define QUEUE_DLQ          "tg.messages.dlq"
#define QUEUE_ROUTING_KEY  "tg.messages.v2"
#define QUEUE_DELIVERY_MAX 20 /* x-delivery-limit: redeliveries before dead-lettering */

#define QUEUE_PUB_PENDING_MAX 10000     /* unconfirmed messages before queue_publish waits */
#define QUEUE_PUB_BLOCK_MS    30000     /* how long queue_publish waits for confirms then */
#define QUEUE_BODY_MAX        (1 << 24) /* bytes of one message body */
#define QUEUE_REASON_MAX      1000      /* bytes of a dead letter's reason (QUEUE_HDR_ERROR) */

/* Header a dead-lettered message carries with the reason it was refused. */
#define QUEUE_HDR_ERROR  "x-tgh-error"
#define QUEUE_HDR_SOURCE "x-tgh-source" /* who dead-lettered it: "worker", ... */

struct queue_pub; /* opaque */
struct queue_con; /* opaque */

/* Is url an amqp:// or amqps:// URL (so TGH_QUEUE selects the broker)? */
bool queue_url_is_amqp(const char *url);

/*
 * Connect, declare the topology, enable confirms. Fails with TGH_EUNAVAIL
 * when the broker is down (the caller decides whether to wait).
 */
TGH_MUSTCHECK tgh_err queue_pub_open(const char *url, struct queue_pub **out);

/*
 * Publish one persistent message to tg.messages.v2 (the body is copied and
 * kept until confirmed; message_id may be NULL, at most 255 bytes). Does not
 * wait for confirms unless QUEUE_PUB_PENDING_MAX messages are unconfirmed:
 * then it first reads confirms (reconnecting if needed) for up to
 * QUEUE_PUB_BLOCK_MS, and if they do not come returns that flush's error
 * (TGH_ETIMEOUT, TGH_EUNAVAIL, TGH_EPROTO) without taking the message. May
 * block on the socket. A connection lost here is not an error: the message
 * is kept and sent again by the next flush. A body over QUEUE_BODY_MAX is
 * TGH_ETOOBIG.
 */
TGH_MUSTCHECK tgh_err queue_publish(struct queue_pub *p, const char *body, size_t len,
                                    const char *message_id);

/*
 * Publish to the dead-letter exchange, with the reason in QUEUE_HDR_ERROR
 * (cut to QUEUE_REASON_MAX bytes of valid UTF-8: invalid bytes become '?')
 * and QUEUE_HDR_SOURCE "worker", confirmed like any other message (a
 * worker's poison path; replay's source). reason may be NULL (empty).
 */
TGH_MUSTCHECK tgh_err queue_publish_dead(struct queue_pub *p, const char *body, size_t len,
                                         const char *message_id, const char *reason);

/*
 * Wait until every message published so far is confirmed, republishing what
 * was nacked, returned or lost with a connection, reconnecting with
 * exponential backoff and full jitter. TGH_ETIMEOUT when timeout_ms passed
 * first while connected, TGH_EUNAVAIL when it passed while the broker could
 * not be reached (either way what is unconfirmed stays kept; flush again).
 * TGH_EPROTO when a reconnection found a conflicting topology. timeout_ms
 * < 0: no limit. Also reads whatever the broker sent (and sends a heartbeat
 * when due) even with nothing pending: a publisher idle for longer than the
 * 30 s heartbeat should call queue_pub_flush(p, 0) now and then.
 */
TGH_MUSTCHECK tgh_err queue_pub_flush(struct queue_pub *p, int timeout_ms);

/* Messages published and not yet confirmed. */
size_t queue_pub_pending(const struct queue_pub *p);

/* Counters since open, for summaries and metrics. */
struct queue_pub_stats {
    uint64_t published;   /* basic.publish sent, republishes included */
    uint64_t confirmed;   /* acked by the broker */
    uint64_t nacked;      /* nacked, then republished */
    uint64_t returned;    /* returned as unroutable, then republished */
    uint64_t reconnects;  /* connections made after the first */
    uint64_t republished; /* sent again for any reason */
};
void queue_pub_stats_get(const struct queue_pub *p, struct queue_pub_stats *out);

/* Close; unconfirmed messages are dropped (flush first). NULL is fine. */
void queue_pub_close(struct queue_pub *p);

/*
 * A page being filled: events are appended (each followed by a newline)
 * until queue_page_full(), then queue_page_publish() sends the page as one
 * message and empties it. Pages keep the broker's per-message cost off the
 * per-event path: a worker takes a page as it would take its events one by
 * one, and dead-letters a bad line alone.
 */
#define QUEUE_PAGE_EVENTS 100          /* events in one page, at most */
#define QUEUE_PAGE_BYTES  (256 * 1024) /* a page is full from this size on */

struct queue_page {
    char *buf;
    size_t len, cap;
    size_t n;       /* events in the page */
    char first[96]; /* the first event's key */
};

void queue_page_init(struct queue_page *pg);
void queue_page_fini(struct queue_page *pg);

/* Append one encoded event (no newline in it) and its idempotency key. */
void queue_page_add(struct queue_page *pg, const char *event, size_t len, const char *key);

/* QUEUE_PAGE_EVENTS events, or QUEUE_PAGE_BYTES bytes, are in the page. */
bool queue_page_full(const struct queue_page *pg);

/* Publish the page, if it holds anything; it is emptied even on failure (queue_publish's errors).
 */
TGH_MUSTCHECK tgh_err queue_page_publish(struct queue_pub *p, struct queue_page *pg);

/* One delivery; body and strings live until the next queue_con_next() or close. */
struct queue_delivery {
    uint64_t tag; /* delivery tag, for ack / reject */
    const char *body;
    size_t len;
    const char *message_id; /* NULL when the publisher set none */
    bool redelivered;
    int64_t delivery_count; /* x-delivery-count header of quorum queues, 0 when absent */
    const char *error;      /* QUEUE_HDR_ERROR when present (dead letters), else NULL */
};

/*
 * Connect, declare the topology, basic.qos(prefetch), basic.consume with
 * manual ack on queue (QUEUE_NAME, or QUEUE_DLQ to read dead letters).
 * prefetch must be 1..65535 (TGH_EINVAL). A consumer never reconnects by
 * itself: delivery tags die with the connection.
 */
TGH_MUSTCHECK tgh_err queue_con_open(const char *url, const char *queue, unsigned prefetch,
                                     struct queue_con **out);

/*
 * The next delivery, waiting up to timeout_ms (< 0: forever). TGH_ETIMEOUT
 * when none came; TGH_EUNAVAIL when the connection was lost (every
 * unacked delivery will be redelivered by the broker: reopen with backoff).
 */
TGH_MUSTCHECK tgh_err queue_con_next(struct queue_con *c, int timeout_ms, struct queue_delivery *d);

/* Ack tag (and every earlier one when multiple). */
TGH_MUSTCHECK tgh_err queue_ack(struct queue_con *c, uint64_t tag, bool multiple);

/*
 * basic.nack: requeue for another try (transient failure), or not, which
 * dead-letters through tg.messages.dlx.
 */
TGH_MUSTCHECK tgh_err queue_nack(struct queue_con *c, uint64_t tag, bool multiple, bool requeue);

/*
 * Messages ready in queue (passive declare on a connection of its own), for
 * depth metrics and tests. TGH_ENOTFOUND when the queue does not exist.
 */
TGH_MUSTCHECK tgh_err queue_depth(const char *url, const char *queue, uint64_t *out);

/*
 * Delete every ready message of queue (tests and `replay --purge`). Declares
 * the topology first, so purging a fresh broker is not an error.
 */
TGH_MUSTCHECK tgh_err queue_purge(const char *url, const char *queue, uint64_t *purged);

void queue_con_close(struct queue_con *c); /* NULL is fine */

#endif
