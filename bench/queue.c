/* SPDX-License-Identifier: MIT */
/*
 * queue.c - the AMQP queue against the plainest use of the same broker:
 * N persistent 800-byte messages published to tg.messages.v2 with confirms
 * through queue_publish() (flush every 500), against the same publishes
 * without confirm mode from a bare rabbitmq-c loop (the baseline, measured
 * in the same run, ended by one round trip so the broker has taken them
 * all); then consuming them through queue_con_next() with prefetch 1000 and
 * a multiple ack every 500. Prints the rates and their ratios to the
 * baseline (rate / plain publish rate).
 * usage: bench_queue [amqp-url] [messages] (or TGH_BENCH_AMQP_URL).
 * It purges tg.messages.v2: never point it at a broker that matters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "core/alloc.h"
#include "queue/queue.h"

#include "common/bench_pg.h"

#define BODY_BYTES 800
#define FLUSH      500
#define PREFETCH   1000
#define ACK_EVERY  500

static void
must(tgh_err rc, const char *what)
{
    if (rc != TGH_OK) {
        fprintf(stderr, "bench_queue: %s: %s\n", what, tgh_errmsg());
        exit(1);
    }
}

static void
must_reply(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "bench_queue: %s failed (reply type %d)\n", what, (int)r.reply_type);
        exit(1);
    }
}

static void
make_body(char *body, size_t i)
{
    int n = snprintf(body, BODY_BYTES, "{\"i\":%zu,\"text\":\"", i);

    memset(body + n, 'x', BODY_BYTES - (size_t)n - 2);
    memcpy(body + BODY_BYTES - 2, "\"}", 2);
}

/* The same messages, no confirm mode, no bookkeeping: what the broker takes at best. */
static double
plain_publish(const char *url, size_t n)
{
    struct amqp_connection_info ci;
    char *copy = tgh_strdup(url);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(conn);
    amqp_basic_properties_t props;
    char body[BODY_BYTES], id[32];
    double t0;

    if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK || s == NULL ||
        amqp_socket_open(s, ci.host, ci.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "bench_queue: cannot connect to %s:%d\n", ci.host, ci.port);
        exit(1);
    }
    must_reply(
        amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password),
        "login");
    amqp_channel_open(conn, 1);
    must_reply(amqp_get_rpc_reply(conn), "channel.open");
    memset(&props, 0, sizeof(props));
    props._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        make_body(body, i);
        (void)snprintf(id, sizeof(id), "plain:%zu", i);
        props.message_id = amqp_cstring_bytes(id);
        if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(QUEUE_EXCHANGE),
                               amqp_cstring_bytes(QUEUE_ROUTING_KEY), 0, 0, &props,
                               (amqp_bytes_t){ BODY_BYTES, body }) != AMQP_STATUS_OK) {
            fprintf(stderr, "bench_queue: plain publish failed\n");
            exit(1);
        }
    }
    /* The channel handles methods in order: this answer comes after every publish. */
    (void)amqp_queue_declare(conn, 1, amqp_cstring_bytes(QUEUE_NAME), 1, 0, 0, 0, amqp_empty_table);
    must_reply(amqp_get_rpc_reply(conn), "passive declare");
    t0 = bench_now_s() - t0;
    (void)amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    (void)amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    tgh_free(copy);
    return t0;
}

static double
confirmed_publish(const char *url, size_t n)
{
    struct queue_pub *p = NULL;
    char body[BODY_BYTES], id[32];
    double t0;

    must(queue_pub_open(url, &p), "queue_pub_open");
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        make_body(body, i);
        (void)snprintf(id, sizeof(id), "bench:%zu", i);
        must(queue_publish(p, body, BODY_BYTES, id), "queue_publish");
        if ((i + 1) % FLUSH == 0)
            must(queue_pub_flush(p, 60000), "queue_pub_flush");
    }
    must(queue_pub_flush(p, 60000), "queue_pub_flush");
    t0 = bench_now_s() - t0;
    queue_pub_close(p);
    return t0;
}

static double
consume(const char *url, size_t n)
{
    struct queue_con *c = NULL;
    struct queue_delivery d;
    double t0;

    must(queue_con_open(url, QUEUE_NAME, PREFETCH, &c), "queue_con_open");
    t0 = bench_now_s();
    for (size_t i = 0; i < n; i++) {
        must(queue_con_next(c, 10000, &d), "queue_con_next");
        if (d.len != BODY_BYTES) {
            fprintf(stderr, "bench_queue: delivery of %zu bytes\n", d.len);
            exit(1);
        }
        if ((i + 1) % ACK_EVERY == 0 || i + 1 == n)
            must(queue_ack(c, d.tag, true), "queue_ack");
    }
    t0 = bench_now_s() - t0;
    queue_con_close(c);
    return t0;
}

int
main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : getenv("TGH_BENCH_AMQP_URL");
    size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 200000;
    double plain, confirmed, consumed;
    uint64_t purged, depth;

    if (url == NULL || n == 0) {
        fprintf(stderr, "usage: bench_queue amqp://user:pass@host:port/vhost [messages]\n"
                        "       (or TGH_BENCH_AMQP_URL)\n");
        return 2;
    }
    must(queue_purge(url, QUEUE_NAME, &purged), "purge");
    plain = plain_publish(url, n);
    must(queue_depth(url, QUEUE_NAME, &depth), "depth");
    must(queue_purge(url, QUEUE_NAME, &purged), "purge");
    confirmed = confirmed_publish(url, n);
    consumed = consume(url, n);
    must(queue_depth(url, QUEUE_NAME, &depth), "depth");
    printf("messages=%zu bytes=%d plain_publish=%.0f/s confirmed_publish=%.0f/s ratio=%.2f"
           " consume_ack=%.0f/s ratio=%.2f left=%llu\n",
           n, BODY_BYTES, (double)n / plain, (double)n / confirmed, plain / confirmed,
           (double)n / consumed, plain / consumed, (unsigned long long)depth);
    return depth == 0 ? 0 : 1;
}
