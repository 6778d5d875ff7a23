/* SPDX-License-Identifier: MIT */
/*
 * queue_int.h - private to src/queue/: one AMQP connection with channel 1
 * open (a "link"), shared by the publisher (queue_amqp_pub.c), the consumer
 * (queue_amqp_con.c) and the short-lived admin calls (queue_amqp.c).
 *
 * A link is either up (conn != NULL) or down. Any failure that leaves the
 * connection in doubt takes it down; nothing ever retries on a half-broken
 * connection.
 */
#ifndef TGH_QUEUE_QUEUE_INT_H
#define TGH_QUEUE_QUEUE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include <amqp.h>

#include "core/err.h"

#define QUEUE_CHANNEL            1
#define QUEUE_HEARTBEAT_S        30
#define QUEUE_CONNECT_TIMEOUT_MS 5000  /* TCP connect and the AMQP handshake, each */
#define QUEUE_RPC_TIMEOUT_MS     15000 /* one synchronous method (declare, qos, ...) */
#define QUEUE_FRAME_MAX          131072

struct queue_link {
    char *url_copy; /* amqp_parse_url() writes into it; ci points into it */
    struct amqp_connection_info ci;
    char label[320];              /* "amqp host:port[/vhost]": never a password */
    amqp_connection_state_t conn; /* NULL when down */
};

/*
 * Parse an amqp:// URL into l (down). amqps:// and anything else are
 * TGH_EINVAL. queue_link_fini() releases l, whatever happened.
 */
TGH_MUSTCHECK tgh_err queue_link_init(struct queue_link *l, const char *url);
void queue_link_fini(struct queue_link *l);

/*
 * Connect (each step bounded by timeout_ms), log in with PLAIN and open
 * channel 1. heartbeat_s 0 disables heartbeats (short-lived links only).
 * Unreachable broker: TGH_EUNAVAIL; refused login: TGH_EPROTO.
 */
TGH_MUSTCHECK tgh_err queue_link_up(struct queue_link *l, int heartbeat_s, int timeout_ms);

/*
 * Take the link down. graceful sends connection.close and waits for its
 * answer (bounded by the RPC timeout); otherwise the socket is just closed.
 */
void queue_link_down(struct queue_link *l, bool graceful);

/*
 * Declare the whole topology of queue.h, idempotently. A declaration that
 * conflicts with an existing one is TGH_EPROTO naming the object and the
 * broker's reply; the link is then down.
 */
TGH_MUSTCHECK tgh_err queue_link_declare(struct queue_link *l);

/*
 * Turn the reply of the last synchronous method into an error recorded with
 * tgh_errf ("<label>: <what>: ..."); any failure takes the link down.
 * 404 is TGH_ENOTFOUND, other broker refusals TGH_EPROTO, a forced close
 * and every library or socket failure TGH_EUNAVAIL.
 */
TGH_MUSTCHECK tgh_err queue_link_check(struct queue_link *l, const char *what);

/* The same for a status returned by a rabbitmq-c call; the link goes down. */
TGH_MUSTCHECK tgh_err queue_link_fail(struct queue_link *l, int status, const char *what);

/*
 * A channel.close or connection.close the broker sent outside an RPC: answer
 * it, take the link down, record "<label>: <what>: closed by the broker:
 * <code> <text>" and return TGH_EUNAVAIL (TGH_EPROTO for 403/406).
 */
TGH_MUSTCHECK tgh_err queue_link_closed(struct queue_link *l, const amqp_frame_t *f,
                                        const char *what);

/* Milliseconds on the monotonic clock. */
uint64_t queue_now_ms(void);

/* ms as a timeval (negative counts as 0). */
struct timeval queue_ms_timeval(int64_t ms);

/* Sleep ms milliseconds (through EINTR). */
void queue_sleep_ms(uint64_t ms);

/*
 * Copy s into out (outsize >= 4) as valid UTF-8 of at most outsize - 1
 * bytes: invalid bytes become '?', and a character that does not fit is
 * left out whole.
 */
void queue_utf8_clip(const char *s, char *out, size_t outsize);

#endif
