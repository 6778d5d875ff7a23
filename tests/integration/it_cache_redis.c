/* SPDX-License-Identifier: MIT */
/*
 * it_cache_redis.c - src/cache/cache_redis.c against a real Redis: the dedup
 * round trip and its TTLs, the recent sorted set (trim, windows, the
 * completeness rule of docs/internals/cache.md, deletions), one pipeline per
 * batch, and failing open while a private Redis is stopped and started again.
 * The shared server comes from TGH_TEST_REDIS_URL; this test owns its
 * database TEST_DB and flushes it before every case.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ftw.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cache/cache.h"
#include "core/alloc.h"

#define TEST_DB 7
#define CHAT    INT64_C(-1001000000042)

static char base_url[256]; /* redis://host:port, no database */
static char url[300];      /* with /TEST_DB */
static redisContext *raw;  /* the test's own view of the server */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

static redisContext *
raw_connect(const char *u)
{
    char host[128];
    int port = 0;
    redisContext *c;

    assert_int_equal(sscanf(u, "redis://%127[^:]:%d", host, &port), 2);
    c = redisConnect(host, port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    return c;
}

static redisReply *
rcmd(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static long long
rinteger(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v;

    va_start(ap, fmt);
    r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    return v;
}

/* A string reply read as a number (GET); 0 when there is none. */
static long long
rnumber(const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = 0;

    va_start(ap, fmt);
    r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return v;
}

/* Commands and read events the server processed so far (one INFO). */
struct counts {
    long long cmds, reads;
};

static long long
field(const char *info, const char *name)
{
    const char *p = strstr(info, name);

    assert_non_null(p);
    return strtoll(p + strlen(name) + 1, NULL, 10);
}

static struct counts
counts(void)
{
    redisReply *r = rcmd("INFO stats");
    struct counts n = { field(r->str, "total_commands_processed"),
                        field(r->str, "total_reads_processed") };

    freeReplyObject(r);
    return n;
}

static int
setup(void **state)
{
    struct cache *c = NULL;

    raw = raw_connect(base_url);
    freeReplyObject(rcmd("SELECT %d", TEST_DB));
    freeReplyObject(rcmd("FLUSHDB"));
    if (cache_open(url, &c) != TGH_OK || !cache_connected(c))
        return -1;
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    cache_close(*state);
    redisFree(raw);
    raw = NULL;
    return 0;
}

/* An upsert of chat/id in state st, with an event "e<id>" when with_event. */
static struct cache_item
item(int64_t chat, int64_t id, const char *st, bool with_event, bool is_new)
{
    static char events[8][32];
    static int next;
    struct cache_item it = { .chat_id = chat, .message_id = id, .state = st, .is_new = is_new };

    if (with_event) {
        char *e = events[next++ % 8];

        (void)snprintf(e, sizeof(events[0]), "e%lld", (long long)id);
        it.event = e;
        it.event_len = strlen(e);
    }
    return it;
}

/* Mark ids lo..hi of chat as new messages, in batches of 500. */
static void
mark_range(struct cache *c, int64_t chat, int64_t lo, int64_t hi)
{
    size_t cap = 500, k = 0;
    struct cache_item *items = tgh_calloc(cap, sizeof(*items));
    char(*ev)[32] = tgh_calloc(cap, sizeof(*ev));

    for (int64_t id = lo; id <= hi; id++) {
        items[k] =
            (struct cache_item){ .chat_id = chat, .message_id = id, .state = "s1", .is_new = true };
        (void)snprintf(ev[k], sizeof(ev[k]), "e%lld", (long long)id);
        items[k].event = ev[k];
        items[k].event_len = strlen(ev[k]);
        if (++k == cap || id == hi) {
            assert_int_equal(cache_mark(c, items, k), TGH_OK);
            k = 0;
        }
    }
    tgh_free(ev);
    tgh_free(items);
}

/* What cache_recent delivered. */
struct got {
    int64_t ids[2048];
    size_t n;
    bool bad_event;
};

static int
collect(void *arg, int64_t id, const char *event, size_t len)
{
    struct got *g = arg;
    char want[32];

    (void)snprintf(want, sizeof(want), "e%lld", (long long)id);
    if (len != strlen(want) || memcmp(event, want, len) != 0)
        g->bad_event = true;
    g->ids[g->n++] = id;
    return 0;
}

/* cache_recent into g; returns *complete. */
static bool
recent(struct cache *c, int64_t chat, int64_t after, int64_t before, size_t limit, bool newest,
       struct got *g)
{
    bool complete = true;

    memset(g, 0, sizeof(*g));
    assert_int_equal(cache_recent(c, chat, after, before, limit, newest, collect, g, &complete),
                     TGH_OK);
    assert_false(g->bad_event);
    if (!complete)
        assert_int_equal(g->n, 0); /* never half an answer */
    return complete;
}

/* g holds from, from+step, ... n ids. */
static void
assert_ids(const struct got *g, int64_t from, int64_t step, size_t n)
{
    assert_int_equal(g->n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(g->ids[i], from + (int64_t)i * step);
}

static void
test_url(void **state)
{
    struct cache *c = NULL;

    (void)state;
    assert_true(cache_url_is_redis("redis://127.0.0.1"));
    assert_false(cache_url_is_redis("none"));
    assert_false(cache_url_is_redis(""));
    assert_false(cache_url_is_redis(NULL));
    assert_false(cache_url_is_redis("rediss://h"));
    assert_int_equal(cache_open("http://127.0.0.1:6379", &c), TGH_EINVAL);
    assert_int_equal(cache_open("redis://", &c), TGH_EINVAL);
    assert_int_equal(cache_open("redis://127.0.0.1:99999", &c), TGH_EINVAL);
    assert_int_equal(cache_open("redis://127.0.0.1:12x", &c), TGH_EINVAL);
    assert_int_equal(cache_open("redis://127.0.0.1/zero", &c), TGH_EINVAL);
    assert_int_equal(cache_open("redis://:secret@127.0.0.1/-1", &c), TGH_EINVAL);
    assert_null(strstr(tgh_errmsg(), "secret"));
    assert_null(c);
}

/* Nothing listens on the port: open succeeds, disconnected, and every call fails open. */
static void
test_closed_port(void **state)
{
    char u[64];
    struct cache *c = NULL;
    struct cache_item it = item(CHAT, 1, "s", true, true);
    struct cache_stats st;
    bool seen = true, complete = true;

    (void)state;
    (void)snprintf(u, sizeof(u), "redis://:secret@127.0.0.1:%d/3",
                   atoi(getenv("TGH_TEST_PORT_BASE")) + 19);
    assert_int_equal(cache_open(u, &c), TGH_OK);
    assert_false(cache_connected(c));
    assert_int_equal(cache_seen(c, &it, 1, &seen), TGH_EUNAVAIL);
    assert_false(seen);
    assert_non_null(strstr(tgh_errmsg(), "127.0.0.1:"));
    assert_null(strstr(tgh_errmsg(), "secret"));
    assert_int_equal(cache_mark(c, &it, 1), TGH_EUNAVAIL);
    assert_int_equal(cache_recent(c, CHAT, 0, 0, 10, true, collect, NULL, &complete), TGH_EUNAVAIL);
    assert_false(complete);
    cache_stats_get(c, &st);
    assert_int_equal(st.failures, 4); /* open, seen, mark, recent */
    assert_int_equal(st.reconnects, 0);
    cache_close(c);
}

/* cache_seen answers want: one '1' (seen) or '0' per item. */
static void
expect_seen(struct cache *c, const struct cache_item *it, size_t n, const char *want)
{
    bool seen[8];

    memset(seen, 1, sizeof(seen));
    assert_int_equal(cache_seen(c, it, n, seen), TGH_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], want[i] == '1');
}

static void
test_seen_mark_round_trip(void **state)
{
    struct cache *c = *state;
    struct cache_item it[2] = { item(CHAT, 10, "v1", true, true),
                                item(CHAT, 11, "v1", false, false) };
    enum cache_verdict v[2];
    struct cache_stats st;

    expect_seen(c, it, 2, "00");
    assert_int_equal(cache_mark(c, it, 2), TGH_OK);
    expect_seen(c, it, 2, "11");

    /* An edit: another state is not seen, and is CHANGED to cache_check. */
    it[0].state = "v2 with spaces";
    expect_seen(c, it, 2, "01");
    assert_int_equal(cache_check(c, it, 2, v), TGH_OK);
    assert_int_equal(v[0], CACHE_CHANGED);
    assert_int_equal(v[1], CACHE_SAME);

    /* Marked without the flag, NX keeps the first committed state. */
    assert_int_equal(cache_mark(c, it, 1), TGH_OK);
    expect_seen(c, it, 1, "0");
    it[0].changed = true;
    assert_int_equal(cache_mark(c, it, 1), TGH_OK);
    expect_seen(c, it, 2, "11");
    it[0].state = "v1";
    expect_seen(c, it, 1, "0");

    cache_stats_get(c, &st);
    assert_int_equal(st.hits, 6);
    assert_int_equal(st.misses, 6);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.errors, 0);
}

static void
test_ttls(void **state)
{
    struct cache *c = *state;
    struct cache_item it = item(CHAT, 5, "v1", true, true);
    long long t;

    assert_int_equal(cache_mark(c, &it, 1), TGH_OK);
    t = rinteger("TTL telegram:dedup:%lld:5", (long long)CHAT);
    assert_true(t > 0 && t <= CACHE_DEDUP_TTL);
    t = rinteger("TTL telegram:msg:%lld:5", (long long)CHAT);
    assert_true(t > 0 && t <= CACHE_MSG_TTL);
    t = rinteger("TTL telegram:channel:%lld:recent", (long long)CHAT);
    assert_true(t > 0 && t <= CACHE_MSG_TTL);
    t = rinteger("TTL telegram:channel:%lld:floor", (long long)CHAT);
    assert_true(t > 0 && t <= CACHE_MSG_TTL);
}

static void
test_trim_keeps_newest(void **state)
{
    struct cache *c = *state;
    redisReply *r;

    mark_range(c, CHAT, 1, 1500);
    assert_int_equal(rinteger("ZCARD telegram:channel:%lld:recent", (long long)CHAT),
                     CACHE_RECENT_MAX);
    r = rcmd("ZRANGE telegram:channel:%lld:recent 0 0", (long long)CHAT);
    assert_string_equal(r->element[0]->str, "501");
    freeReplyObject(r);
    r = rcmd("ZRANGE telegram:channel:%lld:recent -1 -1", (long long)CHAT);
    assert_string_equal(r->element[0]->str, "1500");
    freeReplyObject(r);
}

static void
test_recent_windows(void **state)
{
    struct cache *c = *state;
    struct got *g = tgh_calloc(1, sizeof(*g));

    mark_range(c, CHAT, 1, 50);
    assert_true(recent(c, CHAT, 10, 20, 100, false, g));
    assert_ids(g, 11, 1, 9);
    assert_true(recent(c, CHAT, 10, 20, 100, true, g));
    assert_ids(g, 19, -1, 9);
    assert_true(recent(c, CHAT, 10, 20, 3, false, g));
    assert_ids(g, 11, 1, 3);
    assert_true(recent(c, CHAT, 10, 20, 3, true, g));
    assert_ids(g, 19, -1, 3);
    assert_true(recent(c, CHAT, 0, 0, 5, true, g));
    assert_ids(g, 50, -1, 5);
    assert_true(recent(c, CHAT, 0, 0, 5, false, g));
    assert_ids(g, 1, 1, 5);
    assert_true(recent(c, CHAT, 45, 0, 100, false, g));
    assert_ids(g, 46, 1, 5);
    assert_true(recent(c, CHAT, 50, 0, 100, true, g)); /* nothing newer: a valid answer */
    assert_int_equal(g->n, 0);
    assert_true(recent(c, CHAT, 0, 0, 0, true, g));

    /* A message key that expired before its id: windows over it cannot be answered. */
    assert_int_equal(rinteger("DEL telegram:msg:%lld:15", (long long)CHAT), 1);
    assert_false(recent(c, CHAT, 10, 20, 100, false, g));
    assert_false(recent(c, CHAT, 0, 0, 100, true, g));
    assert_true(recent(c, CHAT, 30, 40, 100, true, g));
    assert_ids(g, 39, -1, 9);

    /* An unknown chat, and a chat whose set holds only old edits (no floor). */
    assert_false(recent(c, CHAT - 1, 0, 0, 10, true, g));
    {
        struct cache_item edit = item(CHAT - 2, 7, "v3", true, false);

        assert_int_equal(cache_mark(c, &edit, 1), TGH_OK);
        assert_false(recent(c, CHAT - 2, 0, 0, 10, true, g));
        assert_false(recent(c, CHAT - 2, 6, 0, 10, true, g));
    }
    tgh_free(g);
}

/* n warm items ids from..from+n-1 with events "e<id>". */
static struct cache_warm_item *
warm_items(int64_t from, size_t n, char (*ev)[32])
{
    struct cache_warm_item *w = tgh_calloc(n, sizeof(*w));

    for (size_t i = 0; i < n; i++) {
        w[i].message_id = from + (int64_t)i;
        (void)snprintf(ev[i], sizeof(ev[i]), "e%lld", (long long)w[i].message_id);
        w[i].event = ev[i];
        w[i].event_len = strlen(ev[i]);
    }
    return w;
}

/*
 * The API warms a chat from a store answer: then the cache answers windows
 * from the floor up. A worker's edit, refresh or deletion between the
 * WATCH and the write cancels it; a new message does not.
 */
static void
test_warm(void **state)
{
    struct cache *c = *state, *worker = NULL;
    struct got *g = tgh_calloc(1, sizeof(*g));
    char ev[10][32];
    struct cache_warm_item *w = warm_items(11, 10, ev);
    struct cache_item edit = item(CHAT, 15, "v2", false, false),
                      fresh = item(CHAT, 21, "s1", true, false);
    bool applied = false;

    assert_int_equal(cache_open(url, &worker), TGH_OK);
    assert_false(recent(c, CHAT, 10, 0, 100, false, g));
    /* An edit committed while the API read the store: nothing is written. */
    assert_int_equal(cache_warm_begin(c, CHAT), TGH_OK);
    assert_int_equal(cache_mark(worker, &edit, 1), TGH_OK);
    assert_int_equal(cache_warm_commit(c, CHAT, 11, w, 10, &applied), TGH_OK);
    assert_false(applied);
    assert_false(recent(c, CHAT, 10, 0, 100, false, g));
    assert_int_equal(rinteger("EXISTS telegram:msg:%lld:11", (long long)CHAT), 0);
    /* A new message meanwhile: the warm stands, and the new one is in it. */
    assert_int_equal(cache_warm_begin(c, CHAT), TGH_OK);
    assert_int_equal(cache_mark(worker, &fresh, 1), TGH_OK);
    assert_int_equal(cache_warm_commit(c, CHAT, 11, w, 10, &applied), TGH_OK);
    assert_true(applied);
    assert_true(recent(c, CHAT, 10, 0, 100, false, g));
    assert_ids(g, 11, 1, 11);
    assert_true(recent(c, CHAT, 0, 0, 5, true, g));
    assert_ids(g, 21, -1, 5);
    assert_false(recent(c, CHAT, 5, 0, 100, false, g)); /* below the floor */
    /* A lower floor stands after a warm from higher up. */
    assert_int_equal(cache_warm_begin(c, CHAT), TGH_OK);
    assert_int_equal(cache_warm_commit(c, CHAT, 16, w + 5, 5, &applied), TGH_OK);
    assert_true(applied);
    assert_int_equal(rnumber("GET telegram:channel:%lld:floor", (long long)CHAT), 11);
    /* A deletion by a worker: out of the set, and the generation moved. */
    {
        struct cache_item del = {
            .chat_id = CHAT, .message_id = 12, .state = "t", .deleted = true
        };
        long long gen = rnumber("GET telegram:channel:%lld:gen", (long long)CHAT);

        assert_int_equal(cache_mark(worker, &del, 1), TGH_OK);
        assert_int_equal(rnumber("GET telegram:channel:%lld:gen", (long long)CHAT), gen + 1);
        assert_true(recent(c, CHAT, 10, 0, 100, false, g));
        assert_int_equal(g->n, 10);
        assert_int_equal(g->ids[1], 13);
    }
    /* A skipped redelivery (dedup_only) leaves the recent cache alone. */
    {
        struct cache_item skip = item(CHAT, 13, "s1", true, false);
        long long gen = rnumber("GET telegram:channel:%lld:gen", (long long)CHAT);

        skip.dedup_only = true;
        skip.event = "other";
        skip.event_len = 5;
        assert_int_equal(cache_mark(worker, &skip, 1), TGH_OK);
        assert_int_equal(rnumber("GET telegram:channel:%lld:gen", (long long)CHAT), gen);
        assert_true(recent(c, CHAT, 10, 0, 100, false, g)); /* events still "e<id>" */
    }
    cache_warm_abort(c);
    cache_close(worker);
    tgh_free(w);
    tgh_free(g);
}

/* The floor: below it, or below the trimmed range, the store must answer. */
static void
test_recent_floor_and_trim(void **state)
{
    struct cache *c = *state;
    struct got *g = tgh_calloc(1, sizeof(*g));
    struct cache_item old = item(CHAT, 3, "v2", true, false);

    mark_range(c, CHAT, 100, 1599); /* trimmed to 600..1599, floor 100 */
    assert_true(recent(c, CHAT, 0, 0, 10, true, g));
    assert_ids(g, 1599, -1, 10);
    assert_true(recent(c, CHAT, 599, 0, 10, false, g));
    assert_ids(g, 600, 1, 10);
    assert_false(recent(c, CHAT, 598, 0, 10, false, g));
    assert_false(recent(c, CHAT, 100, 0, 10, false, g));
    assert_true(recent(c, CHAT, 1500, 0, 200, false, g));
    assert_ids(g, 1501, 1, 99);
    assert_false(recent(c, CHAT, 400, 0, 2000, true, g)); /* reaches below 600 */
    assert_true(recent(c, CHAT, 599, 0, 2000, true, g));
    assert_ids(g, 1599, -1, 1000);

    /* An edit of an old message lands below the floor: it changes nothing above it. */
    assert_int_equal(cache_mark(c, &old, 1), TGH_OK);
    assert_true(recent(c, CHAT, 599, 0, 5, false, g));
    assert_ids(g, 600, 1, 5);

    /* A committed message without event: the floor goes until the next new message. */
    old = item(CHAT, 1000, "v2", false, false);
    assert_int_equal(cache_mark(c, &old, 1), TGH_OK);
    assert_false(recent(c, CHAT, 1500, 0, 5, false, g));
    mark_range(c, CHAT, 1600, 1600);
    assert_false(recent(c, CHAT, 1500, 0, 5, false, g));
    assert_true(recent(c, CHAT, 1599, 0, 5, false, g));
    assert_ids(g, 1600, 1, 1);
    tgh_free(g);
}

static void
test_delete(void **state)
{
    struct cache *c = *state;
    struct got *g = tgh_calloc(1, sizeof(*g));
    struct cache_item del = {
        .chat_id = CHAT, .message_id = 12, .state = "deleted", .deleted = true, .changed = true
    };
    redisReply *r;

    mark_range(c, CHAT, 10, 14);
    assert_int_equal(cache_mark(c, &del, 1), TGH_OK);
    r = rcmd("ZSCORE telegram:channel:%lld:recent 12", (long long)CHAT);
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    assert_int_equal(rinteger("EXISTS telegram:msg:%lld:12", (long long)CHAT), 0);
    r = rcmd("GET telegram:dedup:%lld:12", (long long)CHAT);
    assert_string_equal(r->str, "deleted");
    freeReplyObject(r);
    assert_true(recent(c, CHAT, 9, 0, 10, false, g));
    assert_int_equal(g->n, 4);
    assert_int_equal(g->ids[1], 11);
    assert_int_equal(g->ids[2], 13);
    tgh_free(g);
}

/* 5,000 items are one MGET and one pipeline: far fewer reads than commands on the server. */
static void
test_pipeline(void **state)
{
    struct cache *c = *state;
    size_t n = 5000;
    struct cache_item *items = tgh_calloc(n, sizeof(*items));
    bool *seen = tgh_calloc(n, sizeof(*seen));
    struct counts a, b;

    for (size_t i = 0; i < n; i++)
        items[i] = item(CHAT + (int64_t)(i % 7), (int64_t)i + 1, "state", true, true);
    /* Each delta below includes the first INFO itself (command and read). */
    a = counts();
    assert_int_equal(cache_seen(c, items, n, seen), TGH_OK);
    b = counts();
    assert_int_equal(b.cmds - a.cmds - 1, 1);
    a = counts();
    assert_int_equal(cache_mark(c, items, n), TGH_OK);
    b = counts();
    /* three per item, four per chat (trim, expire, floor, expire floor) */
    assert_int_equal(b.cmds - a.cmds - 1, (long long)(3 * n + 4 * 7));
    assert_true(b.reads - a.reads - 1 < (long long)n / 10);
    assert_int_equal(cache_seen(c, items, n, seen), TGH_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(seen[i]);
    tgh_free(seen);
    tgh_free(items);
}

/* --- a private Redis, stopped and started again ---------------------------- */

static char priv_dir[] = "/tmp/it_cache_redis.XXXXXX";

static void
services(const char *action, const char *extra)
{
    char cmd[1024];
    int rc;

    (void)snprintf(cmd, sizeof(cmd), "bash \"%s\" %s %s %s >/dev/null",
                   getenv("TGH_TEST_SERVICES_SCRIPT"), action, priv_dir, extra);
    rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* With a password: AUTH and SELECT; a wrong one is an outage that never names it. */
static void
check_auth(int port)
{
    char u[128];
    struct cache *c = NULL;
    struct cache_item it = item(CHAT, 1, "s", false, false);
    redisContext *r;
    redisReply *k;

    (void)snprintf(u, sizeof(u), "redis://127.0.0.1:%d", port);
    r = raw_connect(u);
    k = redisCommand(r, "CONFIG SET requirepass canary-pw-1");
    assert_non_null(k);
    freeReplyObject(k);
    (void)snprintf(u, sizeof(u), "redis://:canary-pw-1@127.0.0.1:%d/2", port);
    assert_int_equal(cache_open(u, &c), TGH_OK);
    assert_true(cache_connected(c));
    assert_int_equal(cache_mark(c, &it, 1), TGH_OK);
    cache_close(c);
    k = redisCommand(r, "AUTH canary-pw-1");
    freeReplyObject(k);
    k = redisCommand(r, "SELECT 2");
    freeReplyObject(k);
    k = redisCommand(r, "EXISTS telegram:dedup:%lld:1", (long long)CHAT);
    assert_int_equal(k->integer, 1);
    freeReplyObject(k);
    redisFree(r);

    (void)snprintf(u, sizeof(u), "redis://:canary-pw-2@127.0.0.1:%d/2", port);
    assert_int_equal(cache_open(u, &c), TGH_OK);
    assert_false(cache_connected(c));
    assert_int_equal(cache_mark(c, &it, 1), TGH_EUNAVAIL);
    assert_null(strstr(tgh_errmsg(), "canary"));
    cache_close(c);
}

static void
test_fail_open(void **state)
{
    int base = atoi(getenv("TGH_TEST_PORT_BASE")) + 20;
    char start[32], u[64];
    struct cache *c = NULL;
    struct cache_item it[3] = { item(CHAT, 1, "s", true, true), item(CHAT, 2, "s", true, true),
                                item(CHAT - 5, 1, "s", true, true) };
    bool seen[3] = { true, true, true };
    struct cache_stats st;
    int64_t t0, took;

    (void)state;
    assert_non_null(mkdtemp(priv_dir));
    (void)snprintf(start, sizeof(start), "%d redis", base);
    services("start", start);
    (void)snprintf(u, sizeof(u), "redis://127.0.0.1:%d", base + 1);
    assert_int_equal(cache_open(u, &c), TGH_OK);
    assert_true(cache_connected(c));
    assert_int_equal(cache_mark(c, it, 1), TGH_OK);

    services("down", "redis");
    t0 = now_ms();
    assert_int_equal(cache_seen(c, it, 3, seen), TGH_EUNAVAIL);
    took = now_ms() - t0;
    assert_true(took <= 2 * CACHE_TIMEOUT_MS);
    for (int i = 0; i < 3; i++)
        assert_false(seen[i]);
    assert_false(cache_connected(c));
    t0 = now_ms();
    assert_int_equal(cache_mark(c, it + 1, 1), TGH_EUNAVAIL); /* in the quiet period: at once */
    assert_int_equal(cache_seen(c, it, 3, seen), TGH_EUNAVAIL);
    assert_true(now_ms() - t0 < 50);

    services("up", "redis");
    sleep_ms(CACHE_RECONNECT_MS + 50);
    assert_int_equal(cache_seen(c, it, 3, seen), TGH_OK);
    assert_true(cache_connected(c));
    assert_int_equal(cache_mark(c, it, 3), TGH_OK);
    cache_stats_get(c, &st);
    assert_int_equal(st.reconnects, 1);
    assert_int_equal(st.failures, 3);

    /*
     * A connection cut while Redis keeps its data: the chat whose mark was
     * lost loses its recent cache once the cache is back, the other keeps it.
     */
    {
        redisContext *r = raw_connect(u);
        redisReply *k = redisCommand(r, "CLIENT KILL TYPE normal SKIPME yes");

        assert_non_null(k);
        freeReplyObject(k);
        assert_int_equal(cache_mark(c, it + 1, 1), TGH_EUNAVAIL);
        sleep_ms(CACHE_RECONNECT_MS + 50);
        assert_int_equal(cache_seen(c, it, 1, seen), TGH_OK);
        k = redisCommand(r,
                         "EXISTS telegram:channel:%lld:recent telegram:channel:%lld:floor "
                         "telegram:channel:%lld:recent",
                         (long long)CHAT, (long long)CHAT, (long long)(CHAT - 5));
        assert_non_null(k);
        assert_int_equal(k->integer, 1); /* only the other chat's set */
        freeReplyObject(k);
        redisFree(r);
    }
    cache_stats_get(c, &st);
    assert_int_equal(st.reconnects, 2);
    cache_close(c);
    check_auth(base + 1);
    services("stop", "redis");
    (void)nftw(priv_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
    const char *u = getenv("TGH_TEST_REDIS_URL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_closed_port),
        cmocka_unit_test_setup_teardown(test_seen_mark_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_keeps_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recent_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recent_floor_and_trim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline, setup, teardown),
        cmocka_unit_test(test_fail_open),
    };

    if (u == NULL || *u == '\0' || getenv("TGH_TEST_PORT_BASE") == NULL ||
        getenv("TGH_TEST_SERVICES_SCRIPT") == NULL) {
        fprintf(stderr, "it_cache_redis: TGH_TEST_REDIS_URL, TGH_TEST_PORT_BASE and "
                        "TGH_TEST_SERVICES_SCRIPT must be set (ctest's services fixture)\n");
        return 1;
    }
    (void)signal(SIGPIPE, SIG_IGN); /* as the daemon does: see cache.h */
    (void)snprintf(base_url, sizeof(base_url), "%s", u);
    (void)snprintf(url, sizeof(url), "%s/%d", u, TEST_DB);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
