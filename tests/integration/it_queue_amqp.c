/* SPDX-License-Identifier: MIT */
/*
 * it_queue_amqp.c - the AMQP publisher and consumer against a real RabbitMQ
 * (the shared test server, TGH_TEST_AMQP_URL; and a private one started on
 * TGH_TEST_PORT_BASE+10 for the restart case): topology and its conflicts,
 * 10,000 messages each exactly once, redelivery after an unacked close,
 * dead letters both ways, a returned (unroutable) message published again,
 * a broker restart in the middle of publishing and consuming, bad URLs and
 * a broker that is not there. Each case purges the two queues first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "queue/queue.h"

static const char *url; /* TGH_TEST_AMQP_URL */

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
purge_both(const char *u)
{
    uint64_t n;

    assert_int_equal(queue_purge(u, QUEUE_NAME, &n), TGH_OK);
    assert_int_equal(queue_purge(u, QUEUE_DLQ, &n), TGH_OK);
}

static void
publish_range(struct queue_pub *p, const char *prefix, int from, int to)
{
    for (int i = from; i < to; i++) {
        char id[64], body[128];
        int n = snprintf(body, sizeof(body), "{\"i\":%d,\"text\":\"message %d\"}", i, i);

        (void)snprintf(id, sizeof(id), "%s:%d", prefix, i);
        assert_int_equal(queue_publish(p, body, (size_t)n, id), TGH_OK);
    }
}

/* The index in message_id "prefix:N", checking the body carries the same N. */
static int
index_of(const struct queue_delivery *d, const char *prefix)
{
    size_t plen = strlen(prefix);
    char body[128];
    int i, j;

    assert_non_null(d->message_id);
    assert_memory_equal(d->message_id, prefix, plen);
    assert_int_equal(d->message_id[plen], ':');
    i = (int)strtol(d->message_id + plen + 1, NULL, 10);
    assert_true(d->len < sizeof(body));
    memcpy(body, d->body, d->len);
    body[d->len] = '\0';
    assert_int_equal(sscanf(body, "{\"i\":%d,", &j), 1);
    assert_int_equal(i, j);
    return i;
}

/*
 * Consume from queue until idle_ms pass without a delivery, counting each
 * index into seen[0..n); ack every 500 (multiple) and at the end when ack.
 * Returns how many deliveries came.
 */
static int
drain(const char *u, const char *queue, const char *prefix, unsigned prefetch, int *seen, int n,
      bool ack, int idle_ms)
{
    struct queue_con *c = NULL;
    struct queue_delivery d;
    uint64_t last = 0;
    int got = 0;
    tgh_err rc;

    assert_int_equal(queue_con_open(u, queue, prefetch, &c), TGH_OK);
    while ((rc = queue_con_next(c, idle_ms, &d)) == TGH_OK) {
        int i = index_of(&d, prefix);

        assert_true(i >= 0 && i < n);
        seen[i]++;
        got++;
        last = d.tag;
        if (ack && got % 500 == 0)
            assert_int_equal(queue_ack(c, last, true), TGH_OK);
    }
    assert_int_equal(rc, TGH_ETIMEOUT);
    if (ack && last != 0)
        assert_int_equal(queue_ack(c, last, true), TGH_OK);
    queue_con_close(c);
    return got;
}

/* A raw rabbitmq-c connection, for what the queue API does not do on purpose. */
static amqp_connection_state_t
raw_open(const char *u)
{
    struct amqp_connection_info ci;
    char *copy = tgh_strdup(u);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(conn);
    amqp_rpc_reply_t r;

    assert_int_equal(amqp_parse_url(copy, &ci), AMQP_STATUS_OK);
    assert_int_equal(amqp_socket_open(s, ci.host, ci.port), AMQP_STATUS_OK);
    r = amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    assert_int_equal(r.reply_type, AMQP_RESPONSE_NORMAL);
    amqp_channel_open(conn, 1);
    assert_int_equal(amqp_get_rpc_reply(conn).reply_type, AMQP_RESPONSE_NORMAL);
    tgh_free(copy);
    return conn;
}

static void
raw_close(amqp_connection_state_t conn)
{
    (void)amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    (void)amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* 1. Any number of processes declare the topology; what they declare is a quorum queue. */
static void
test_topology(void **state)
{
    struct queue_pub *p1 = NULL, *p2 = NULL;
    struct queue_con *c1 = NULL;
    amqp_connection_state_t raw;
    amqp_table_entry_t classic = { amqp_cstring_bytes("x-queue-type"),
                                   { AMQP_FIELD_KIND_UTF8, { .bytes = { 7, "classic" } } } };
    amqp_table_t args = { 1, &classic };
    amqp_rpc_reply_t r;
    uint64_t depth = 99;
    tgh_err rc;

    (void)state;
    purge_both(url);
    assert_int_equal(queue_pub_open(url, &p1), TGH_OK);
    assert_int_equal(queue_con_open(url, QUEUE_NAME, 10, &c1), TGH_OK);
    assert_int_equal(queue_pub_open(url, &p2), TGH_OK);
    assert_int_equal(queue_depth(url, QUEUE_NAME, &depth), TGH_OK);
    assert_int_equal(depth, 0);
    assert_int_equal(queue_depth(url, QUEUE_DLQ, &depth), TGH_OK);
    assert_int_equal(queue_depth(url, "tg.no.such.queue", &depth), TGH_ENOTFOUND);
    queue_pub_close(p1);
    queue_pub_close(p2);
    queue_con_close(c1);

    /* The broker itself says the queue is not classic. */
    raw = raw_open(url);
    (void)amqp_queue_declare(raw, 1, amqp_cstring_bytes(QUEUE_NAME), 0, 1, 0, 0, args);
    r = amqp_get_rpc_reply(raw);
    assert_int_equal(r.reply_type, AMQP_RESPONSE_SERVER_EXCEPTION);
    assert_int_equal(r.reply.id, AMQP_CHANNEL_CLOSE_METHOD);
    assert_int_equal(((amqp_channel_close_t *)r.reply.decoded)->reply_code, 406);
    amqp_destroy_connection(raw);

    /* A classic queue of the same name is a conflict the publisher names. */
    raw = raw_open(url);
    (void)amqp_queue_delete(raw, 1, amqp_cstring_bytes(QUEUE_NAME), 0, 0);
    assert_int_equal(amqp_get_rpc_reply(raw).reply_type, AMQP_RESPONSE_NORMAL);
    (void)amqp_queue_declare(raw, 1, amqp_cstring_bytes(QUEUE_NAME), 0, 1, 0, 0, args);
    assert_int_equal(amqp_get_rpc_reply(raw).reply_type, AMQP_RESPONSE_NORMAL);
    rc = queue_pub_open(url, &p1);
    assert_int_equal(rc, TGH_EPROTO);
    assert_null(p1);
    assert_non_null(strstr(tgh_errmsg(), QUEUE_NAME));
    assert_non_null(strstr(tgh_errmsg(), "PRECONDITION_FAILED"));
    (void)amqp_queue_delete(raw, 1, amqp_cstring_bytes(QUEUE_NAME), 0, 0);
    assert_int_equal(amqp_get_rpc_reply(raw).reply_type, AMQP_RESPONSE_NORMAL);
    raw_close(raw);
    assert_int_equal(queue_pub_open(url, &p1), TGH_OK);
    queue_pub_close(p1);
}

/* 2. 10,000 messages, each consumed exactly once, intact; acked, nothing left. */
static void
test_ten_thousand(void **state)
{
    enum { N = 10000 };
    struct queue_pub *p = NULL;
    struct queue_pub_stats st;
    int *seen = tgh_calloc(N, sizeof(int));
    uint64_t depth = 1;

    (void)state;
    purge_both(url);
    assert_int_equal(queue_pub_open(url, &p), TGH_OK);
    publish_range(p, "ten", 0, N);
    assert_int_equal(queue_pub_flush(p, 60000), TGH_OK);
    assert_int_equal(queue_pub_pending(p), 0);
    queue_pub_stats_get(p, &st);
    assert_int_equal(st.confirmed, N);
    assert_int_equal(st.published, N);
    queue_pub_close(p);

    assert_int_equal(drain(url, QUEUE_NAME, "ten", 500, seen, N, true, 2000), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(queue_depth(url, QUEUE_NAME, &depth), TGH_OK);
    assert_int_equal(depth, 0);
    /* Acked means gone: nothing comes back. */
    assert_int_equal(drain(url, QUEUE_NAME, "ten", 500, seen, N, true, 500), 0);
    tgh_free(seen);
}

/* 3. Unacked deliveries of a closed consumer come again, marked redelivered. */
static void
test_redelivery(void **state)
{
    enum { N = 50 };
    struct queue_pub *p = NULL;
    struct queue_con *c = NULL;
    struct queue_delivery d;
    int seen[N] = { 0 };
    int got = 0, counted = 0;

    (void)state;
    purge_both(url);
    assert_int_equal(queue_pub_open(url, &p), TGH_OK);
    publish_range(p, "re", 0, N);
    assert_int_equal(queue_pub_flush(p, 30000), TGH_OK);
    queue_pub_close(p);

    assert_int_equal(queue_con_open(url, QUEUE_NAME, 100, &c), TGH_OK);
    while (got < N && queue_con_next(c, 5000, &d) == TGH_OK) {
        assert_false(d.redelivered);
        assert_int_equal(d.delivery_count, 0);
        got++;
    }
    assert_int_equal(got, N);
    queue_con_close(c); /* nothing acked */

    assert_int_equal(queue_con_open(url, QUEUE_NAME, 100, &c), TGH_OK);
    for (got = 0; got < N; got++) {
        assert_int_equal(queue_con_next(c, 5000, &d), TGH_OK);
        assert_true(d.redelivered);
        assert_true(d.delivery_count >= 0);
        counted += d.delivery_count > 0;
        seen[index_of(&d, "re")]++;
    }
    assert_int_equal(queue_ack(c, d.tag, true), TGH_OK);
    queue_con_close(c);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    /* RabbitMQ 3.10 quorum queues count a return to the queue as a delivery attempt. */
    print_message("x-delivery-count present on %d of %d redeliveries\n", counted, N);
}

/* 4. A nack without requeue and queue_publish_dead both end in the DLQ. */
static void
test_dead_letters(void **state)
{
    struct queue_pub *p = NULL;
    struct queue_con *c = NULL;
    struct queue_delivery d;
    char reason[2100];
    size_t o = 0;
    bool saw_nacked = false, saw_dead = false;

    (void)state;
    purge_both(url);
    assert_int_equal(queue_pub_open(url, &p), TGH_OK);
    assert_int_equal(queue_publish(p, "{\"i\":1}", 7, "poison:1"), TGH_OK);
    assert_int_equal(queue_pub_flush(p, 30000), TGH_OK);

    assert_int_equal(queue_con_open(url, QUEUE_NAME, 10, &c), TGH_OK);
    assert_int_equal(queue_con_next(c, 5000, &d), TGH_OK);
    assert_string_equal(d.message_id, "poison:1");
    assert_null(d.error);
    assert_int_equal(queue_nack(c, d.tag, false, false), TGH_OK);
    queue_con_close(c);

    /* A reason over the cap, with a byte that is not UTF-8 and a Cyrillic tail. */
    memcpy(reason, "decode failed: \xff ", 17);
    o = 17;
    while (o + 2 < 2000) {
        memcpy(reason + o, "\xd0\xb6", 2); /* ж */
        o += 2;
    }
    reason[o] = '\0';
    assert_int_equal(queue_publish_dead(p, "{\"i\":2}", 7, "poison:2", reason), TGH_OK);
    assert_int_equal(queue_pub_flush(p, 30000), TGH_OK);
    queue_pub_close(p);

    assert_int_equal(queue_con_open(url, QUEUE_DLQ, 10, &c), TGH_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(queue_con_next(c, 10000, &d), TGH_OK);
        if (strcmp(d.message_id, "poison:1") == 0) {
            saw_nacked = true;
            assert_memory_equal(d.body, "{\"i\":1}", 7);
        } else {
            size_t len;

            assert_string_equal(d.message_id, "poison:2");
            saw_dead = true;
            assert_non_null(d.error);
            len = strlen(d.error);
            assert_true(len <= QUEUE_REASON_MAX && len >= QUEUE_REASON_MAX - 1);
            assert_memory_equal(d.error, "decode failed: ? \xd0\xb6", 19);
            assert_int_equal((len - 17) % 2, 0); /* 17 ASCII bytes, then whole characters */
        }
        assert_int_equal(queue_ack(c, d.tag, false), TGH_OK);
    }
    assert_true(saw_nacked && saw_dead);
    assert_int_equal(queue_con_next(c, 300, &d), TGH_ETIMEOUT);
    queue_con_close(c);
}

/* 5a. A message the exchange cannot route comes back; the publisher binds again and resends. */
static void
test_returned(void **state)
{
    struct queue_pub *p = NULL;
    struct queue_pub_stats st;
    amqp_connection_state_t raw;
    int seen[3] = { 0 };
    tgh_err rc;

    (void)state;
    purge_both(url);
    assert_int_equal(queue_pub_open(url, &p), TGH_OK);
    raw = raw_open(url);
    (void)amqp_queue_unbind(raw, 1, amqp_cstring_bytes(QUEUE_NAME),
                            amqp_cstring_bytes(QUEUE_EXCHANGE),
                            amqp_cstring_bytes(QUEUE_ROUTING_KEY), amqp_empty_table);
    assert_int_equal(amqp_get_rpc_reply(raw).reply_type, AMQP_RESPONSE_NORMAL);
    raw_close(raw);
    publish_range(p, "ret", 0, 3);
    rc = queue_pub_flush(p, 30000);
    queue_pub_stats_get(p, &st);
    print_message("returned: published %llu confirmed %llu returned %llu: %s\n",
                  (unsigned long long)st.published, (unsigned long long)st.confirmed,
                  (unsigned long long)st.returned, rc == TGH_OK ? "ok" : tgh_errmsg());
    assert_int_equal(rc, TGH_OK);
    queue_pub_close(p);
    assert_true(st.returned >= 1);
    assert_int_equal(st.confirmed, 3);
    assert_true(st.republished >= 1);
    assert_int_equal(drain(url, QUEUE_NAME, "ret", 10, seen, 3, true, 1000), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(seen[i], 1);
}

/* 5. A private broker, restarted in the middle of publishing and consuming. */
static char pdir[] = "/tmp/it_queue_amqp.XXXXXX";
static char purl[128];
static char script[512];

static int
private_start(void **state)
{
    char cmd[2048];
    const char *s = getenv("TGH_TEST_SERVICES_SCRIPT"), *b = getenv("TGH_TEST_PORT_BASE");
    int base;

    (void)state;
    if (s == NULL || b == NULL) {
        fprintf(stderr, "TGH_TEST_SERVICES_SCRIPT and TGH_TEST_PORT_BASE must be set\n");
        return -1;
    }
    base = (int)strtol(b, NULL, 10) + 10;
    (void)snprintf(script, sizeof(script), "%s", s);
    if (mkdtemp(pdir) == NULL)
        return -1;
    (void)snprintf(purl, sizeof(purl), "amqp://guest:guest@127.0.0.1:%d/%%2f", base + 2);
    (void)snprintf(cmd, sizeof(cmd), "bash '%s' start '%s' %d amqp", script, pdir, base);
    return system(cmd) == 0 ? 0 : -1;
}

static int
private_stop(void **state)
{
    char cmd[2048];

    (void)state;
    (void)snprintf(cmd, sizeof(cmd), "bash '%s' stop '%s' >/dev/null 2>&1; rm -rf '%s'", script,
                   pdir, pdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void *
restart_broker(void *arg)
{
    char cmd[2048];

    (void)snprintf(cmd, sizeof(cmd), "bash '%s' down '%s' amqp && bash '%s' up '%s' amqp", script,
                   pdir, script, pdir);
    *(int *)arg = system(cmd);
    return NULL;
}

static bool
port_open(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void
test_broker_restart(void **state)
{
    enum { N = 5000, CHUNK = 500 };
    struct queue_pub *p = NULL;
    struct queue_con *c = NULL;
    struct queue_pub_stats st;
    struct queue_delivery d;
    pthread_t th = 0;
    int restart_rc = -1, port = (int)strtol(strrchr(purl, ':') + 1, NULL, 10);
    int *seen = tgh_calloc(N, sizeof(int));
    int distinct = 0, dups = 0, held = 0;
    double t0;
    tgh_err rc;

    (void)state;
    purge_both(purl);
    assert_int_equal(queue_pub_open(purl, &p), TGH_OK);
    assert_int_equal(queue_con_open(purl, QUEUE_NAME, 1, &c), TGH_OK); /* read after the restart */
    for (int i = 0; i < N; i += CHUNK) {
        if (i == N / 2) {
            assert_int_equal(pthread_create(&th, NULL, restart_broker, &restart_rc), 0);
            t0 = now_s();
            while (port_open(port) && now_s() - t0 < 60) /* publish the rest into the outage */
                usleep(50000);
        }
        publish_range(p, "rs", i, i + CHUNK);
        assert_int_equal(queue_pub_flush(p, 120000), TGH_OK);
    }
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(restart_rc, 0);
    queue_pub_stats_get(p, &st);
    print_message("restart: published %llu confirmed %llu republished %llu reconnects %llu\n",
                  (unsigned long long)st.published, (unsigned long long)st.confirmed,
                  (unsigned long long)st.republished, (unsigned long long)st.reconnects);
    assert_true(st.reconnects >= 1);
    assert_int_equal(queue_pub_pending(p), 0);
    queue_pub_close(p);

    /* The consumer from before the restart: what it had buffered, then EUNAVAIL. */
    while ((rc = queue_con_next(c, 30000, &d)) == TGH_OK)
        assert_true(++held <= 1);
    assert_int_equal(rc, TGH_EUNAVAIL);
    assert_int_equal(queue_ack(c, 1, false), TGH_EUNAVAIL);
    queue_con_close(c);

    (void)drain(purl, QUEUE_NAME, "rs", 1000, seen, N, true, 3000);
    for (int i = 0; i < N; i++) {
        distinct += seen[i] > 0;
        dups += seen[i] > 1 ? seen[i] - 1 : 0;
    }
    print_message("restart: %d distinct of %d, %d duplicates\n", distinct, N, dups);
    assert_int_equal(distinct, N);
    tgh_free(seen);
}

/* 6. A bad URL is EINVAL; a broker that is not there is EUNAVAIL, fast, without the password. */
static void
test_bad_urls(void **state)
{
    static const char *const bad[] = {
        "http://127.0.0.1:5672/",
        "amqps://guest:guest@127.0.0.1:5671/",
        "amqp://host:notaport/",
        "",
        "amqp//x",
    };
    struct queue_pub *p = NULL;
    struct queue_con *c = NULL;
    char nothing[128];
    uint64_t n;
    double t0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(queue_pub_open(bad[i], &p), TGH_EINVAL);
        assert_null(p);
        assert_int_equal(queue_con_open(bad[i], QUEUE_NAME, 1, &c), TGH_EINVAL);
        assert_int_equal(queue_depth(bad[i], QUEUE_NAME, &n), TGH_EINVAL);
    }
    assert_int_equal(queue_pub_open(bad[1], &p), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "not supported"));
    (void)snprintf(nothing, sizeof(nothing), "amqp://guest:s3cr3tpw@127.0.0.1:%d/",
                   (int)strtol(getenv("TGH_TEST_PORT_BASE"), NULL, 10) + 19);
    t0 = now_s();
    assert_int_equal(queue_pub_open(nothing, &p), TGH_EUNAVAIL);
    assert_int_equal(queue_con_open(nothing, QUEUE_NAME, 1, &c), TGH_EUNAVAIL);
    assert_int_equal(queue_purge(nothing, QUEUE_NAME, &n), TGH_EUNAVAIL);
    assert_true(now_s() - t0 < 5.0);
    assert_non_null(strstr(tgh_errmsg(), "127.0.0.1"));
    assert_null(strstr(tgh_errmsg(), "s3cr3tpw"));
    print_message("nothing listening: %s\n", tgh_errmsg());
    assert_int_equal(queue_con_open(url, QUEUE_NAME, 0, &c), TGH_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_topology),
        cmocka_unit_test(test_ten_thousand),
        cmocka_unit_test(test_redelivery),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_returned),
        cmocka_unit_test_setup_teardown(test_broker_restart, private_start, private_stop),
    };

    url = getenv("TGH_TEST_AMQP_URL");
    if (url == NULL || *url == '\0' || getenv("TGH_TEST_PORT_BASE") == NULL) {
        fprintf(stderr, "it_queue_amqp: TGH_TEST_AMQP_URL and TGH_TEST_PORT_BASE must be set "
                        "(ctest sets them with the services fixture; see tests/CMakeLists.txt)\n");
        return 1;
    }
    if (getenv("TGH_TEST_FILTER") != NULL) /* e.g. TGH_TEST_FILTER=test_returned */
        cmocka_set_test_filter(getenv("TGH_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
