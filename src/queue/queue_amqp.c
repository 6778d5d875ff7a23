/* SPDX-License-Identifier: MIT */
/*
 * queue_amqp.c - the connection ("link") under the publisher and the
 * consumer: URL, connect with timeouts, login, the topology of queue.h, and
 * the mapping of broker and library failures to tgh_err. Also queue_depth
 * and queue_purge, each on a link of its own.
 *
 * Invariant: a link whose connection is in doubt is taken down at once, so
 * no caller ever retries on a half-broken connection.
 */
#include "queue/queue.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "core/alloc.h"
#include "core/utf8.h"
#include "queue/queue_int.h"

bool
queue_url_is_amqp(const char *url)
{
    return url != NULL &&
           (strncasecmp(url, "amqp://", 7) == 0 || strncasecmp(url, "amqps://", 8) == 0);
}

uint64_t
queue_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct timeval
queue_ms_timeval(int64_t ms)
{
    struct timeval tv = { 0, 0 };

    if (ms > 0) {
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    }
    return tv;
}

void
queue_sleep_ms(uint64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void
queue_utf8_clip(const char *s, char *out, size_t outsize)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s), o = 0;

    while (left > 0) {
        size_t n = tgh_utf8_seq_len(p, left);

        if (n == 0) {
            if (o + 1 >= outsize)
                break;
            out[o++] = '?';
            p++;
            left--;
            continue;
        }
        if (o + n >= outsize)
            break;
        memcpy(out + o, p, n);
        o += n;
        p += n;
        left -= n;
    }
    out[o] = '\0';
}

tgh_err
queue_link_init(struct queue_link *l, const char *url)
{
    int st;

    memset(l, 0, sizeof(*l));
    if (url == NULL || strncasecmp(url, "amqp", 4) != 0)
        return tgh_errf(TGH_EINVAL, "queue URL must start with amqp://");
    if (strncasecmp(url, "amqps://", 8) == 0)
        return tgh_errf(
            TGH_EINVAL,
            "amqps:// is not supported (TLS is not built in); use amqp:// on a trusted network");
    if (strncasecmp(url, "amqp://", 7) != 0)
        return tgh_errf(TGH_EINVAL, "queue URL must start with amqp://");
    l->url_copy = tgh_strdup(url);
    st = amqp_parse_url(l->url_copy, &l->ci);
    if (st != AMQP_STATUS_OK)
        return tgh_errf(TGH_EINVAL, "bad queue URL (expected amqp://user:pass@host:port/vhost): %s",
                        amqp_error_string2(st));
    if (l->ci.ssl)
        return tgh_errf(TGH_EINVAL, "amqps:// is not supported");
    if (l->ci.host == NULL || l->ci.host[0] == '\0')
        return tgh_errf(TGH_EINVAL, "queue URL has no host");
    if (strcmp(l->ci.vhost, "/") == 0)
        (void)snprintf(l->label, sizeof(l->label), "amqp %s:%d", l->ci.host, l->ci.port);
    else
        (void)snprintf(l->label, sizeof(l->label), "amqp %s:%d/%s", l->ci.host, l->ci.port,
                       l->ci.vhost);
    return TGH_OK;
}

void
queue_link_fini(struct queue_link *l)
{
    if (l == NULL)
        return;
    queue_link_down(l, false);
    tgh_free(l->url_copy);
    memset(l, 0, sizeof(*l));
}

void
queue_link_down(struct queue_link *l, bool graceful)
{
    if (l->conn == NULL)
        return;
    if (graceful) {
        /* Errors here change nothing: the connection goes either way. */
        (void)amqp_channel_close(l->conn, QUEUE_CHANNEL, AMQP_REPLY_SUCCESS);
        (void)amqp_connection_close(l->conn, AMQP_REPLY_SUCCESS);
    }
    (void)amqp_destroy_connection(l->conn);
    l->conn = NULL;
}

/*
 * "a socket error occurred" says little. rabbitmq-c 0.11 drops the SO_ERROR
 * of a failed non-blocking connect (errno is left at EINPROGRESS), so that
 * case can only be named by what it means.
 */
static tgh_err
connect_failed(struct queue_link *l, int st, int saved_errno)
{
    if (st == AMQP_STATUS_SOCKET_ERROR && (saved_errno == EINPROGRESS || saved_errno == 0))
        return tgh_errf(TGH_EUNAVAIL, "%s: connect: connection refused or host unreachable",
                        l->label);
    if (st == AMQP_STATUS_SOCKET_ERROR)
        return tgh_errf(TGH_EUNAVAIL, "%s: connect: %s", l->label, strerror(saved_errno));
    if (st == AMQP_STATUS_TIMEOUT)
        return tgh_errf(TGH_EUNAVAIL, "%s: connect: timed out", l->label);
    return tgh_errf(TGH_EUNAVAIL, "%s: connect: %s", l->label, amqp_error_string2(st));
}

tgh_err
queue_link_up(struct queue_link *l, int heartbeat_s, int timeout_ms)
{
    struct timeval tv = queue_ms_timeval(timeout_ms);
    struct timeval rpc_tv = queue_ms_timeval(QUEUE_RPC_TIMEOUT_MS);
    amqp_socket_t *sock;
    amqp_rpc_reply_t r;
    int st;

    queue_link_down(l, false);
    l->conn = amqp_new_connection();
    if (l->conn == NULL)
        return tgh_errf(TGH_ENOMEM, "%s: cannot allocate a connection", l->label);
    sock = amqp_tcp_socket_new(l->conn);
    if (sock == NULL) {
        queue_link_down(l, false);
        return tgh_errf(TGH_ENOMEM, "%s: cannot allocate a socket", l->label);
    }
    errno = 0;
    st = amqp_socket_open_noblock(sock, l->ci.host, l->ci.port, &tv);
    if (st != AMQP_STATUS_OK) {
        int saved = errno;

        queue_link_down(l, false);
        return connect_failed(l, st, saved);
    }
    if (amqp_set_handshake_timeout(l->conn, &tv) != AMQP_STATUS_OK ||
        amqp_set_rpc_timeout(l->conn, &rpc_tv) != AMQP_STATUS_OK) {
        queue_link_down(l, false);
        return tgh_errf(TGH_EINVAL, "%s: cannot set timeouts", l->label);
    }
    r = amqp_login(l->conn, l->ci.vhost, 0, QUEUE_FRAME_MAX, heartbeat_s, AMQP_SASL_METHOD_PLAIN,
                   l->ci.user, l->ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        /* RabbitMQ answers a bad password by closing the socket (auth_failure). */
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_CONNECTION_CLOSED) {
            queue_link_down(l, false);
            return tgh_errf(TGH_EPROTO, "%s: login as '%s' refused (user, password or vhost)",
                            l->label, l->ci.user);
        }
        return queue_link_check(l, "login");
    }
    (void)amqp_channel_open(l->conn, QUEUE_CHANNEL);
    return queue_link_check(l, "channel.open");
}

/* Answer a close the broker sent, so it logs a clean shutdown rather than a dropped socket. */
static void
answer_close(struct queue_link *l, amqp_method_number_t id)
{
    if (id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_ok_t ok = { 0 };

        (void)amqp_send_method(l->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    } else if (id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_ok_t ok = { 0 };

        (void)amqp_send_method(l->conn, QUEUE_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    }
}

static tgh_err
refused(struct queue_link *l, const amqp_method_t *m, const char *what)
{
    uint16_t code = 0;
    amqp_bytes_t text = { 0, NULL };
    const char *scope = "connection";
    tgh_err rc;

    if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *c = m->decoded;

        code = c->reply_code;
        text = c->reply_text;
        scope = "channel";
    } else if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *c = m->decoded;

        code = c->reply_code;
        text = c->reply_text;
    } else {
        rc = tgh_errf(TGH_EPROTO, "%s: %s: unexpected method 0x%08x", l->label, what,
                      (unsigned)m->id);
        queue_link_down(l, false);
        return rc;
    }
    if (code == AMQP_NOT_FOUND)
        rc = TGH_ENOTFOUND;
    else if (code == AMQP_CONNECTION_FORCED || code == AMQP_INTERNAL_ERROR ||
             code == AMQP_RESOURCE_ERROR)
        rc = TGH_EUNAVAIL;
    else
        rc = TGH_EPROTO;
    rc = tgh_errf(rc, "%s: %s: %s closed by the broker: %u %.*s", l->label, what, scope,
                  (unsigned)code, (int)text.len, text.bytes ? (const char *)text.bytes : "");
    answer_close(l, m->id);
    queue_link_down(l, false);
    return rc;
}

tgh_err
queue_link_check(struct queue_link *l, const char *what)
{
    amqp_rpc_reply_t r;
    tgh_err rc;

    if (l->conn == NULL)
        return tgh_errf(TGH_EUNAVAIL, "%s: %s: not connected", l->label, what);
    r = amqp_get_rpc_reply(l->conn);
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return TGH_OK;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        return refused(l, &r.reply, what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return queue_link_fail(l, r.library_error, what);
    default:
        rc = tgh_errf(TGH_EPROTO, "%s: %s: no reply", l->label, what);
        queue_link_down(l, false);
        return rc;
    }
}

tgh_err
queue_link_fail(struct queue_link *l, int status, const char *what)
{
    tgh_err rc = tgh_errf(TGH_EUNAVAIL, "%s: %s: %s", l->label, what, amqp_error_string2(status));

    queue_link_down(l, false);
    return rc;
}

tgh_err
queue_link_closed(struct queue_link *l, const amqp_frame_t *f, const char *what)
{
    tgh_err rc = refused(l, &f->payload.method, what);

    /* Outside an RPC a missing queue or exchange may come back: only a refusal is permanent. */
    return rc == TGH_EPROTO ? rc : TGH_EUNAVAIL;
}

static amqp_table_entry_t
str_arg(const char *key, const char *value)
{
    amqp_table_entry_t e;

    e.key = amqp_cstring_bytes(key);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(value);
    return e;
}

static tgh_err
declare_exchange(struct queue_link *l, const char *name, const char *type)
{
    char what[128];

    (void)amqp_exchange_declare(l->conn, QUEUE_CHANNEL, amqp_cstring_bytes(name),
                                amqp_cstring_bytes(type), 0, 1, 0, 0, amqp_empty_table);
    (void)snprintf(what, sizeof(what), "declare exchange %s", name);
    return queue_link_check(l, what);
}

static tgh_err
declare_queue(struct queue_link *l, const char *name, amqp_table_t args)
{
    char what[128];

    (void)amqp_queue_declare(l->conn, QUEUE_CHANNEL, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    (void)snprintf(what, sizeof(what), "declare queue %s", name);
    return queue_link_check(l, what);
}

static tgh_err
bind_queue(struct queue_link *l, const char *queue, const char *exchange, const char *key)
{
    char what[160];

    (void)amqp_queue_bind(l->conn, QUEUE_CHANNEL, amqp_cstring_bytes(queue),
                          amqp_cstring_bytes(exchange), amqp_cstring_bytes(key), amqp_empty_table);
    (void)snprintf(what, sizeof(what), "bind queue %s to %s", queue, exchange);
    return queue_link_check(l, what);
}

tgh_err
queue_link_declare(struct queue_link *l)
{
    /*
     * At-least-once dead lettering (RabbitMQ 3.10) needs x-overflow
     * reject-publish on the source queue: a full queue then nacks new
     * publishes, which the publisher sends again after a backoff.
     */
    amqp_table_entry_t main_args[5];
    amqp_table_entry_t dlq_args[1];
    amqp_table_t main_table = { 5, main_args };
    amqp_table_t dlq_table = { 1, dlq_args };
    tgh_err rc;

    main_args[0] = str_arg("x-queue-type", "quorum");
    main_args[1] = str_arg("x-dead-letter-exchange", QUEUE_DLX);
    main_args[2] = str_arg("x-dead-letter-strategy", "at-least-once");
    main_args[3] = str_arg("x-overflow", "reject-publish");
    main_args[4].key = amqp_cstring_bytes("x-delivery-limit");
    main_args[4].value.kind = AMQP_FIELD_KIND_I64;
    main_args[4].value.value.i64 = QUEUE_DELIVERY_MAX;
    dlq_args[0] = str_arg("x-queue-type", "quorum");

    if ((rc = declare_exchange(l, QUEUE_EXCHANGE, "direct")) != TGH_OK ||
        (rc = declare_exchange(l, QUEUE_DLX, "fanout")) != TGH_OK ||
        (rc = declare_queue(l, QUEUE_DLQ, dlq_table)) != TGH_OK ||
        (rc = bind_queue(l, QUEUE_DLQ, QUEUE_DLX, "")) != TGH_OK ||
        (rc = declare_queue(l, QUEUE_NAME, main_table)) != TGH_OK ||
        (rc = bind_queue(l, QUEUE_NAME, QUEUE_EXCHANGE, QUEUE_ROUTING_KEY)) != TGH_OK)
        return rc;
    return TGH_OK;
}

/*
 * One method on a link of its own: a passive declare (is_purge false) or,
 * after declaring the topology so that the queue exists, a purge. *out is
 * the message count the broker answers with.
 */
static tgh_err
admin(const char *url, const char *queue, bool is_purge, uint64_t *out)
{
    struct queue_link l;
    char what[128];
    uint32_t count = 0;
    tgh_err rc;

    *out = 0;
    if ((rc = queue_link_init(&l, url)) != TGH_OK ||
        (rc = queue_link_up(&l, 0, QUEUE_CONNECT_TIMEOUT_MS)) != TGH_OK ||
        (is_purge && (rc = queue_link_declare(&l)) != TGH_OK))
        goto out;
    if (is_purge) {
        amqp_queue_purge_ok_t *ok =
            amqp_queue_purge(l.conn, QUEUE_CHANNEL, amqp_cstring_bytes(queue));

        count = ok ? ok->message_count : 0;
    } else {
        amqp_queue_declare_ok_t *ok = amqp_queue_declare(
            l.conn, QUEUE_CHANNEL, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);

        count = ok ? ok->message_count : 0;
    }
    (void)snprintf(what, sizeof(what), "%s queue %s", is_purge ? "purge" : "passive declare of",
                   queue);
    if ((rc = queue_link_check(&l, what)) != TGH_OK)
        goto out;
    *out = count;
    queue_link_down(&l, true);
out:
    queue_link_fini(&l);
    return rc;
}

tgh_err
queue_depth(const char *url, const char *queue, uint64_t *out)
{
    return admin(url, queue, false, out);
}

tgh_err
queue_purge(const char *url, const char *queue, uint64_t *purged)
{
    return admin(url, queue, true, purged);
}
