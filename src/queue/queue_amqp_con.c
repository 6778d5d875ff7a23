/* SPDX-License-Identifier: MIT */
/*
 * queue_amqp_con.c - the consumer: basic.qos, basic.consume with manual
 * acknowledgement, one delivery at a time.
 *
 * The envelope of the last delivery stays alive until the next
 * queue_con_next() or close, so the caller reads body and strings in place.
 * A consumer never reconnects by itself: delivery tags belong to the
 * channel, so after a lost connection the caller drops what it holds
 * (unacked, the broker redelivers it) and opens a new consumer.
 */
#include "queue/queue.h"

#include <stdio.h>
#include <string.h>

#include <amqp.h>

#include "core/alloc.h"
#include "queue/queue_int.h"

struct queue_con {
    struct queue_link link;
    char queue[256];
    amqp_envelope_t env;
    bool has_env;
    char *message_id; /* NUL-terminated copies for queue_delivery */
    char *error;
};

tgh_err
queue_con_open(const char *url, const char *queue, unsigned prefetch, struct queue_con **out)
{
    struct queue_con *c;
    char what[300];
    tgh_err rc;

    *out = NULL;
    if (queue == NULL || queue[0] == '\0' || strlen(queue) >= sizeof(c->queue))
        return tgh_errf(TGH_EINVAL, "consumer: bad queue name");
    if (prefetch == 0 || prefetch > UINT16_MAX)
        return tgh_errf(TGH_EINVAL, "consumer: prefetch %u outside 1..65535", prefetch);
    c = tgh_calloc(1, sizeof(*c));
    (void)snprintf(c->queue, sizeof(c->queue), "%s", queue);
    if ((rc = queue_link_init(&c->link, url)) != TGH_OK ||
        (rc = queue_link_up(&c->link, QUEUE_HEARTBEAT_S, QUEUE_CONNECT_TIMEOUT_MS)) != TGH_OK ||
        (rc = queue_link_declare(&c->link)) != TGH_OK)
        goto fail;
    (void)amqp_basic_qos(c->link.conn, QUEUE_CHANNEL, 0, (uint16_t)prefetch, 0);
    if ((rc = queue_link_check(&c->link, "basic.qos")) != TGH_OK)
        goto fail;
    (void)amqp_basic_consume(c->link.conn, QUEUE_CHANNEL, amqp_cstring_bytes(queue),
                             amqp_empty_bytes, 0, 0 /* no_ack: acks are the caller's */, 0,
                             amqp_empty_table);
    (void)snprintf(what, sizeof(what), "basic.consume on %s", queue);
    if ((rc = queue_link_check(&c->link, what)) != TGH_OK)
        goto fail;
    *out = c;
    return TGH_OK;
fail:
    queue_con_close(c);
    return rc;
}

static void
release_delivery(struct queue_con *c)
{
    if (c->has_env) {
        amqp_destroy_envelope(&c->env);
        c->has_env = false;
    }
    tgh_free(c->message_id);
    tgh_free(c->error);
    c->message_id = NULL;
    c->error = NULL;
}

/* Integer header of any width (quorum queues send x-delivery-count as a long today). */
static bool
field_int(const amqp_field_value_t *v, int64_t *out)
{
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8:
        *out = v->value.i8;
        return true;
    case AMQP_FIELD_KIND_U8:
        *out = v->value.u8;
        return true;
    case AMQP_FIELD_KIND_I16:
        *out = v->value.i16;
        return true;
    case AMQP_FIELD_KIND_U16:
        *out = v->value.u16;
        return true;
    case AMQP_FIELD_KIND_I32:
        *out = v->value.i32;
        return true;
    case AMQP_FIELD_KIND_U32:
        *out = v->value.u32;
        return true;
    case AMQP_FIELD_KIND_I64:
        *out = v->value.i64;
        return true;
    case AMQP_FIELD_KIND_U64:
        *out = v->value.u64 > INT64_MAX ? INT64_MAX : (int64_t)v->value.u64;
        return true;
    default:
        return false;
    }
}

static bool
key_is(amqp_bytes_t key, const char *name)
{
    size_t n = strlen(name);

    return key.len == n && memcmp(key.bytes, name, n) == 0;
}

static void
fill_delivery(struct queue_con *c, struct queue_delivery *d)
{
    const amqp_basic_properties_t *pr = &c->env.message.properties;

    memset(d, 0, sizeof(*d));
    d->tag = c->env.delivery_tag;
    d->body = c->env.message.body.len ? c->env.message.body.bytes : "";
    d->len = c->env.message.body.len;
    d->redelivered = c->env.redelivered != 0;
    if (pr->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        c->message_id =
            tgh_strndup(pr->message_id.bytes ? pr->message_id.bytes : "", pr->message_id.len);
        d->message_id = c->message_id;
    }
    if (!(pr->_flags & AMQP_BASIC_HEADERS_FLAG))
        return;
    for (int i = 0; i < pr->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &pr->headers.entries[i];

        if (key_is(e->key, "x-delivery-count")) {
            int64_t n;

            if (field_int(&e->value, &n))
                d->delivery_count = n;
        } else if (key_is(e->key, QUEUE_HDR_ERROR) && c->error == NULL &&
                   (e->value.kind == AMQP_FIELD_KIND_UTF8 ||
                    e->value.kind == AMQP_FIELD_KIND_BYTES)) {
            amqp_bytes_t b = e->value.value.bytes;

            c->error = tgh_strndup(b.bytes ? b.bytes : "", b.len);
            d->error = c->error;
        }
    }
}

/*
 * amqp_consume_message met a frame that is not a delivery: read it. A close
 * or a cancel ends the consumer (TGH_EUNAVAIL, or TGH_EPROTO when the broker
 * refused something); anything else is skipped (TGH_OK).
 */
static tgh_err
other_frame(struct queue_con *c)
{
    struct timeval tv = queue_ms_timeval(QUEUE_RPC_TIMEOUT_MS);
    amqp_frame_t f;
    int st = amqp_simple_wait_frame_noblock(c->link.conn, &f, &tv);

    if (st != AMQP_STATUS_OK)
        return queue_link_fail(&c->link, st, "consuming");
    if (f.frame_type != AMQP_FRAME_METHOD)
        return TGH_OK;
    switch (f.payload.method.id) {
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        return queue_link_closed(&c->link, &f, "consuming");
    case AMQP_BASIC_CANCEL_METHOD: {
        tgh_err rc = tgh_errf(TGH_EUNAVAIL, "%s: the broker cancelled the consumer of %s",
                              c->link.label, c->queue);

        queue_link_down(&c->link, true);
        return rc;
    }
    default:
        return TGH_OK;
    }
}

tgh_err
queue_con_next(struct queue_con *c, int timeout_ms, struct queue_delivery *d)
{
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : queue_now_ms() + (uint64_t)timeout_ms;

    memset(d, 0, sizeof(*d));
    release_delivery(c);
    for (;;) {
        uint64_t now = queue_now_ms();
        struct timeval tv = queue_ms_timeval(deadline > now ? (int64_t)(deadline - now) : 0);
        amqp_rpc_reply_t r;
        tgh_err rc;

        if (c->link.conn == NULL)
            return tgh_errf(TGH_EUNAVAIL, "%s: consumer of %s lost its connection; open a new one",
                            c->link.label, c->queue);
        amqp_maybe_release_buffers(c->link.conn);
        r = amqp_consume_message(c->link.conn, &c->env, timeout_ms < 0 ? NULL : &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            c->has_env = true;
            fill_delivery(c, d);
            return TGH_OK;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            return tgh_errf(TGH_ETIMEOUT, "%s: no delivery from %s within %d ms", c->link.label,
                            c->queue, timeout_ms);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            if ((rc = other_frame(c)) != TGH_OK)
                return rc;
            continue;
        }
        return queue_link_fail(&c->link,
                               r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                   ? r.library_error
                                   : AMQP_STATUS_UNEXPECTED_STATE,
                               "consuming");
    }
}

static tgh_err
settle(struct queue_con *c, int st, const char *what, uint64_t tag)
{
    char buf[96];

    if (st == AMQP_STATUS_OK)
        return TGH_OK;
    (void)snprintf(buf, sizeof(buf), "%s of delivery %llu", what, (unsigned long long)tag);
    return queue_link_fail(&c->link, st, buf);
}

tgh_err
queue_ack(struct queue_con *c, uint64_t tag, bool multiple)
{
    if (c->link.conn == NULL)
        return tgh_errf(TGH_EUNAVAIL, "%s: basic.ack: connection lost", c->link.label);
    return settle(c, amqp_basic_ack(c->link.conn, QUEUE_CHANNEL, tag, multiple), "basic.ack", tag);
}

tgh_err
queue_nack(struct queue_con *c, uint64_t tag, bool multiple, bool requeue)
{
    if (c->link.conn == NULL)
        return tgh_errf(TGH_EUNAVAIL, "%s: basic.nack: connection lost", c->link.label);
    return settle(c, amqp_basic_nack(c->link.conn, QUEUE_CHANNEL, tag, multiple, requeue),
                  "basic.nack", tag);
}

void
queue_con_close(struct queue_con *c)
{
    if (c == NULL)
        return;
    release_delivery(c);
    queue_link_down(&c->link, c->link.conn != NULL);
    queue_link_fini(&c->link);
    tgh_free(c);
}
