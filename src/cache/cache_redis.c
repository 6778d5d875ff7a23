/* SPDX-License-Identifier: MIT */
/*
 * cache_redis.c - the cache of cache.h on one hiredis connection.
 *
 * Every call is one pipeline (cache_recent: two) and fails open: when Redis
 * cannot be reached the call returns TGH_EUNAVAIL within CACHE_TIMEOUT_MS,
 * the context is dropped, and no new connection is tried before
 * CACHE_RECONNECT_MS has passed. The recent cache never vouches for a range
 * it may have missed writes to: see docs/internals/cache.md.
 */
#define TGH_LOG_SUB "cache"
#include "cache/cache.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/url.h"

#define KEY_MAX   80 /* "telegram:channel:<int64>:recent" and friends */
#define WHERE_MAX 300
#define DIRTY_MAX 1024 /* chats remembered after a failed mark; beyond: all */

struct cache {
    char *host;
    int port;
    char *user;     /* NULL: AUTH with the password alone */
    char *password; /* NULL: no AUTH; never logged */
    int db;
    char where[WHERE_MAX]; /* "host:port", for messages */
    redisContext *ctx;     /* NULL while disconnected */
    bool is_down;          /* an outage was logged and its end was not */
    int64_t down_since_ms;
    int64_t next_attempt_ms; /* no connection attempt before this */
    int64_t *dirty;          /* chats whose recent cache missed a write */
    size_t n_dirty;
    bool dirty_all; /* more than DIRTY_MAX of them */
    struct cache_stats stats;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
key_dedup(char *buf, int64_t chat_id, int64_t message_id)
{
    (void)snprintf(buf, KEY_MAX, "telegram:dedup:%" PRId64 ":%" PRId64, chat_id, message_id);
}

static void
key_msg(char *buf, int64_t chat_id, int64_t message_id)
{
    (void)snprintf(buf, KEY_MAX, "telegram:msg:%" PRId64 ":%" PRId64, chat_id, message_id);
}

static void
key_chat(char *buf, int64_t chat_id, const char *what)
{
    (void)snprintf(buf, KEY_MAX, "telegram:channel:%" PRId64 ":%s", chat_id, what);
}

bool
cache_url_is_redis(const char *url)
{
    return url != NULL && strncmp(url, "redis://", 8) == 0;
}

/* A decimal in [lo, hi], the whole string. */
static bool
parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v;

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static tgh_err
parse_url(struct cache *c, const char *url)
{
    struct tgh_url u;
    char red[WHERE_MAX];
    tgh_err rc;

    tgh_url_redact(url, red, sizeof(red));
    if (!cache_url_is_redis(url))
        return tgh_errf(TGH_EINVAL, "cache URL '%s' is not redis://", red);
    rc = tgh_url_parse(url, &u);
    if (rc != TGH_OK)
        return rc;
    c->port = 6379;
    c->db = 0;
    if (u.host[0] == '\0' || u.query != NULL)
        rc = tgh_errf(TGH_EINVAL, "cache URL '%s': expected redis://[:password@]host[:port][/db]",
                      red);
    else if (u.port != NULL && !parse_int(u.port, 1, 65535, &c->port))
        rc = tgh_errf(TGH_EINVAL, "cache URL '%s': bad port", red);
    else if (u.path[0] != '\0' && strcmp(u.path, "/") != 0 &&
             !parse_int(u.path + 1, 0, INT_MAX, &c->db))
        rc = tgh_errf(TGH_EINVAL, "cache URL '%s': the path must be a database number", red);
    if (rc == TGH_OK) {
        c->host = tgh_strdup(u.host);
        if (u.user != NULL && u.user[0] != '\0')
            c->user = tgh_strdup(u.user);
        if (u.password != NULL && u.password[0] != '\0')
            c->password = tgh_strdup(u.password);
        (void)snprintf(c->where, sizeof(c->where), "%s:%d", c->host, c->port);
    }
    tgh_url_fini(&u);
    return rc;
}

/*
 * The one place an outage is counted and logged: at warn when it starts,
 * never again until cache_ensure() logs its end.
 */
static tgh_err
went_down(struct cache *c)
{
    c->stats.failures++;
    if (!c->is_down) {
        c->is_down = true;
        c->down_since_ms = now_ms();
        log_warn("going on without the cache: %s", tgh_errmsg());
    }
    return TGH_EUNAVAIL;
}

/* The connection failed under a command: drop it and fail open. */
static tgh_err
broke(struct cache *c, const char *what)
{
    (void)tgh_errf(TGH_EUNAVAIL, "redis at %s: %s: %s", c->where, what,
                   c->ctx != NULL && c->ctx->errstr[0] ? c->ctx->errstr : "connection lost");
    redisFree(c->ctx);
    c->ctx = NULL;
    c->next_attempt_ms = now_ms() + CACHE_RECONNECT_MS;
    return went_down(c);
}

/* One command, waited for; an error reply is refused (AUTH, SELECT). */
static tgh_err
command(struct cache *c, const char *what, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c->ctx, argc, argv, NULL);
    tgh_err rc = TGH_OK;

    if (r == NULL)
        return broke(c, what);
    if (r->type == REDIS_REPLY_ERROR)
        rc = tgh_errf(TGH_EUNAVAIL, "redis at %s refused %s: %.200s", c->where, what, r->str);
    freeReplyObject(r);
    if (rc != TGH_OK) {
        redisFree(c->ctx);
        c->ctx = NULL;
        c->next_attempt_ms = now_ms() + CACHE_RECONNECT_MS;
        return went_down(c);
    }
    return TGH_OK;
}

static tgh_err
connect_now(struct cache *c)
{
    struct timeval tv = { CACHE_TIMEOUT_MS / 1000, (CACHE_TIMEOUT_MS % 1000) * 1000 };
    char db[16];
    tgh_err rc;

    c->next_attempt_ms = now_ms() + CACHE_RECONNECT_MS;
    c->ctx = redisConnectWithTimeout(c->host, c->port, tv);
    if (c->ctx == NULL || c->ctx->err != 0)
        return broke(c, "connect");
    if (redisSetTimeout(c->ctx, tv) != REDIS_OK)
        return broke(c, "setting the timeout");
    if (c->password != NULL) {
        const char *auth[] = { "AUTH", c->user != NULL ? c->user : c->password, c->password };

        rc = command(c, "AUTH", c->user != NULL ? 3 : 2, auth);
        if (rc != TGH_OK)
            return rc;
    }
    if (c->db != 0) {
        const char *sel[] = { "SELECT", db };

        (void)snprintf(db, sizeof(db), "%d", c->db);
        rc = command(c, "SELECT", 2, sel);
        if (rc != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

static tgh_err forget_dirty(struct cache *c);

/*
 * Be connected, or fail open at once. A new connection is tried at most once
 * per CACHE_RECONNECT_MS, so a worker whose Redis is gone does not spend
 * CACHE_TIMEOUT_MS on every batch.
 */
static tgh_err
cache_ensure(struct cache *c)
{
    tgh_err rc;

    if (c->ctx != NULL)
        return TGH_OK;
    if (now_ms() < c->next_attempt_ms) {
        c->stats.failures++;
        return tgh_errf(TGH_EUNAVAIL, "redis at %s is down (next attempt within %d ms)", c->where,
                        CACHE_RECONNECT_MS);
    }
    rc = connect_now(c);
    if (rc != TGH_OK)
        return rc;
    if (c->is_down) {
        c->is_down = false;
        c->stats.reconnects++;
        log_info("redis at %s is reachable again after %.1f s", c->where,
                 (double)(now_ms() - c->down_since_ms) / 1000.0);
    }
    return forget_dirty(c);
}

tgh_err
cache_open(const char *url, struct cache **out)
{
    struct cache *c;
    tgh_err rc;

    *out = NULL;
    if (url == NULL)
        return tgh_errf(TGH_EINVAL, "no cache URL");
    c = tgh_calloc(1, sizeof(*c));
    rc = parse_url(c, url);
    if (rc != TGH_OK) {
        cache_close(c);
        return rc;
    }
    /* Down is not an error here: cache_ensure() logged it and will try again. */
    (void)cache_ensure(c);
    *out = c;
    return TGH_OK;
}

void
cache_close(struct cache *c)
{
    if (c == NULL)
        return;
    redisFree(c->ctx);
    tgh_free(c->host);
    tgh_free(c->user);
    tgh_free(c->password);
    tgh_free(c->dirty);
    tgh_free(c);
}

bool
cache_connected(const struct cache *c)
{
    return c != NULL && c->ctx != NULL;
}

void
cache_stats_get(const struct cache *c, struct cache_stats *out)
{
    *out = c->stats;
}

/* Append one command to the pipeline. hiredis copies the arguments at once. */
static void
append(struct cache *c, size_t *queued, const char *fmt, ...)
{
    va_list ap;
    int rv;

    va_start(ap, fmt);
    rv = redisvAppendCommand(c->ctx, fmt, ap);
    va_end(ap);
    /* Only a bad format or out of memory fails here: both are bugs. */
    if (rv != REDIS_OK) {
        log_error("cannot queue a redis command: %s", c->ctx->errstr);
        abort();
    }
    (*queued)++;
}

/*
 * Read and drop n replies. An error reply is counted and logged at debug; a
 * broken connection fails the whole pipeline.
 */
static tgh_err
drain(struct cache *c, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;

        if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
            return broke(c, what);
        if (r->type == REDIS_REPLY_ERROR) {
            c->stats.errors++;
            log_debug("redis at %s: %s: error reply %.200s", c->where, what, r->str);
        }
        freeReplyObject(r);
    }
    return TGH_OK;
}

/* --- de-duplication ----------------------------------------------------- */

tgh_err
cache_check(struct cache *c, const struct cache_item *items, size_t n, enum cache_verdict *verdict)
{
    const char **argv = NULL;
    size_t *lens = NULL;
    char(*keys)[KEY_MAX] = NULL;
    redisReply *r = NULL;
    tgh_err rc;

    memset(verdict, 0, n * sizeof(*verdict));
    if (n == 0)
        return TGH_OK;
    rc = cache_ensure(c);
    if (rc != TGH_OK)
        return rc;
    argv = tgh_calloc(n + 1, sizeof(*argv));
    lens = tgh_calloc(n + 1, sizeof(*lens));
    keys = tgh_calloc(n, sizeof(*keys));
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < n; i++) {
        key_dedup(keys[i], items[i].chat_id, items[i].message_id);
        argv[i + 1] = keys[i];
        lens[i + 1] = strlen(keys[i]);
    }
    r = redisCommandArgv(c->ctx, (int)(n + 1), argv, lens);
    if (r == NULL) {
        rc = broke(c, "MGET");
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) { /* -LOADING, -NOAUTH, ... */
        c->stats.errors++;
        c->stats.failures++;
        rc = tgh_errf(TGH_EUNAVAIL, "redis at %s did not answer MGET: %.200s", c->where,
                      r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];

        if (e->type == REDIS_REPLY_STRING)
            verdict[i] = items[i].state != NULL && e->len == strlen(items[i].state) &&
                                 memcmp(e->str, items[i].state, e->len) == 0
                             ? CACHE_SAME
                             : CACHE_CHANGED;
        if (verdict[i] == CACHE_SAME)
            c->stats.hits++;
        else
            c->stats.misses++;
    }
out:
    freeReplyObject(r);
    tgh_free(keys);
    tgh_free(lens);
    tgh_free(argv);
    return rc;
}

tgh_err
cache_seen(struct cache *c, const struct cache_item *items, size_t n, bool *seen)
{
    enum cache_verdict *v = tgh_calloc(n ? n : 1, sizeof(*v));
    tgh_err rc = cache_check(c, items, n, v);

    for (size_t i = 0; i < n; i++)
        seen[i] = rc == TGH_OK && v[i] == CACHE_SAME;
    tgh_free(v);
    return rc;
}

/* --- marking ------------------------------------------------------------ */

/* What one batch did to one chat's sorted set. */
struct chat_acc {
    int64_t chat_id;
    bool touched;    /* the sorted set changed: trim it, refresh its TTL */
    bool has_hole;   /* an upsert without event: the floor cannot stand */
    bool has_change; /* an id's cached state changed or went: bump the generation */
    bool has_new;    /* min_new is set */
    int64_t min_new; /* lowest is_new id */
};

static int
cmp_acc(const void *a, const void *b)
{
    int64_t x = ((const struct chat_acc *)a)->chat_id, y = ((const struct chat_acc *)b)->chat_id;

    return (x > y) - (x < y);
}

/* The distinct chats of a batch, sorted; *n_out of them. */
static struct chat_acc *
chats_of(const struct cache_item *items, size_t n, size_t *n_out)
{
    struct chat_acc *acc = tgh_calloc(n ? n : 1, sizeof(*acc));
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        acc[i].chat_id = items[i].chat_id;
    qsort(acc, n, sizeof(*acc), cmp_acc);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || acc[k - 1].chat_id != acc[i].chat_id)
            acc[k++] = acc[i];
    *n_out = k;
    return acc;
}

static struct chat_acc *
chat_find(struct chat_acc *acc, size_t n, int64_t chat_id)
{
    struct chat_acc key = { .chat_id = chat_id };

    return bsearch(&key, acc, n, sizeof(*acc), cmp_acc);
}

/* The commands of one item; what it means for its chat goes into a. */
static void
mark_item(struct cache *c, const struct cache_item *it, struct chat_acc *a, size_t *queued)
{
    char dedup[KEY_MAX], msg[KEY_MAX], zset[KEY_MAX], id[24];

    key_dedup(dedup, it->chat_id, it->message_id);
    key_msg(msg, it->chat_id, it->message_id);
    key_chat(zset, it->chat_id, "recent");
    (void)snprintf(id, sizeof(id), "%" PRId64, it->message_id);
    /*
     * NX for a key Redis did not hold: when another worker wrote one since
     * our check, its state was committed too and may stand. XX when the
     * state changed: a key that expired since the check stays absent, and
     * the next delivery is committed again, which the store absorbs.
     */
    if (it->state != NULL)
        append(c, queued, "SET %s %s %s EX %d", dedup, it->state, it->changed ? "XX" : "NX",
               CACHE_DEDUP_TTL);
    if (it->dedup_only)
        return;
    if (it->deleted) {
        append(c, queued, "DEL %s", msg);
        append(c, queued, "ZREM %s %s", zset, id);
        a->touched = true;
        a->has_change = true;
    } else if (it->event != NULL) {
        append(c, queued, "SET %s %b EX %d", msg, it->event, it->event_len, CACHE_MSG_TTL);
        append(c, queued, "ZADD %s %s %s", zset, id, id);
        a->touched = true;
        if (it->is_new && (!a->has_new || it->message_id < a->min_new)) {
            a->has_new = true;
            a->min_new = it->message_id;
        }
    } else {
        /* Committed but not cached: an older version must not be served. */
        append(c, queued, "DEL %s", msg);
        a->has_hole = true;
        a->has_change = true;
    }
}

/* Trim, expiry and floor of one chat, once per batch. */
static void
mark_chat(struct cache *c, const struct chat_acc *a, size_t *queued)
{
    char zset[KEY_MAX], floor[KEY_MAX];

    key_chat(zset, a->chat_id, "recent");
    key_chat(floor, a->chat_id, "floor");
    if (a->has_change) {
        char gen[KEY_MAX];

        /* An API server warming this chat from the store must not write over it. */
        key_chat(gen, a->chat_id, "gen");
        append(c, queued, "INCR %s", gen);
        append(c, queued, "EXPIRE %s %d", gen, CACHE_MSG_TTL);
    }
    if (a->touched) {
        append(c, queued, "ZREMRANGEBYRANK %s 0 %d", zset, -(CACHE_RECENT_MAX + 1));
        append(c, queued, "EXPIRE %s %d", zset, CACHE_MSG_TTL);
    }
    if (a->has_hole) {
        append(c, queued, "DEL %s", floor);
        return;
    }
    if (a->has_new)
        append(c, queued, "SET %s %" PRId64 " NX EX %d", floor, a->min_new, CACHE_MSG_TTL);
    if (a->touched)
        append(c, queued, "EXPIRE %s %d", floor, CACHE_MSG_TTL);
}

/*
 * A failed mark may have left ids out of these chats' sorted sets: remember
 * them, and drop their recent cache as soon as Redis is back.
 */
static void
remember_dirty(struct cache *c, const struct chat_acc *acc, size_t n)
{
    for (size_t i = 0; i < n && !c->dirty_all; i++) {
        bool known = false;

        for (size_t j = 0; j < c->n_dirty && !known; j++)
            known = c->dirty[j] == acc[i].chat_id;
        if (known)
            continue;
        if (c->n_dirty == DIRTY_MAX) {
            c->dirty_all = true;
            break;
        }
        if (c->dirty == NULL)
            c->dirty = tgh_calloc(DIRTY_MAX, sizeof(*c->dirty));
        c->dirty[c->n_dirty++] = acc[i].chat_id;
    }
}

/* Every recent-cache key, in SCAN steps: after more than DIRTY_MAX dirty chats. */
static tgh_err
forget_all_recent(struct cache *c)
{
    char cursor[32] = "0";

    do {
        redisReply *r = redisCommand(c->ctx, "SCAN %s MATCH telegram:channel:* COUNT 1000", cursor);
        size_t queued = 0;
        tgh_err rc;

        if (r == NULL)
            return broke(c, "SCAN");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            c->stats.errors++;
            return broke(c, "SCAN answered something else");
        }
        (void)snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            append(c, &queued, "DEL %s", r->element[1]->element[i]->str);
        freeReplyObject(r);
        rc = drain(c, queued, "DEL");
        if (rc != TGH_OK)
            return rc;
    } while (strcmp(cursor, "0") != 0);
    return TGH_OK;
}

static tgh_err
forget_dirty(struct cache *c)
{
    size_t queued = 0;
    tgh_err rc;

    if (c->dirty_all) {
        rc = forget_all_recent(c);
    } else {
        for (size_t i = 0; i < c->n_dirty; i++) {
            char zset[KEY_MAX], floor[KEY_MAX];

            key_chat(zset, c->dirty[i], "recent");
            key_chat(floor, c->dirty[i], "floor");
            append(c, &queued, "DEL %s %s", zset, floor);
        }
        rc = drain(c, queued, "dropping recent caches");
    }
    if (rc != TGH_OK)
        return rc;
    if (c->dirty_all)
        log_info("dropped the recent cache of every chat: writes were lost in the outage");
    else if (c->n_dirty > 0)
        log_info("dropped the recent cache of %zu chat(s): writes were lost in the outage",
                 c->n_dirty);
    c->dirty_all = false;
    c->n_dirty = 0;
    return TGH_OK;
}

tgh_err
cache_mark(struct cache *c, const struct cache_item *items, size_t n)
{
    struct chat_acc *acc;
    size_t n_chats = 0, queued = 0;
    tgh_err rc;

    if (n == 0)
        return TGH_OK;
    acc = chats_of(items, n, &n_chats);
    rc = cache_ensure(c);
    if (rc == TGH_OK) {
        for (size_t i = 0; i < n; i++)
            mark_item(c, &items[i], chat_find(acc, n_chats, items[i].chat_id), &queued);
        for (size_t i = 0; i < n_chats; i++)
            mark_chat(c, &acc[i], &queued);
        rc = drain(c, queued, "mark");
    }
    if (rc != TGH_OK)
        remember_dirty(c, acc, n_chats);
    tgh_free(acc);
    return rc;
}

/* --- reading the recent cache ------------------------------------------- */

static bool
reply_int64(const redisReply *r, int64_t *out)
{
    char *end;

    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
        return false;
    errno = 0;
    *out = strtoll(r->str, &end, 10);
    return errno == 0 && end == r->str + r->len;
}

/* Reply of one pipelined command; NULL (and the context gone) when the connection broke. */
static redisReply *
next_reply(struct cache *c)
{
    redisReply *r = NULL;

    if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
        return NULL;
    return r;
}

/*
 * Can the ids found answer the window as the store would? Only when the
 * lowest id the answer depends on is at or above the floor, the id from which
 * the sorted set is known to hold every committed message. Trimming drops
 * the lowest ids, so the smallest member raises the floor.
 */
static bool
window_covered(const redisReply *floor, const redisReply *lowest, const redisReply *ids,
               int64_t after_id, size_t limit, bool newest_first)
{
    int64_t f, m, need;

    if (!reply_int64(floor, &f) || lowest->type != REDIS_REPLY_ARRAY || lowest->elements != 1 ||
        !reply_int64(lowest->element[0], &m))
        return false;
    if (m > f)
        f = m;
    if (newest_first && ids->elements == limit) {
        if (!reply_int64(ids->element[ids->elements - 1], &need))
            return false;
    } else {
        need = after_id + 1; /* the window reaches down to after_id */
    }
    return need >= f;
}

/* The events of ids; the MGET reply when every one is still there. */
static tgh_err
fetch_events(struct cache *c, int64_t chat_id, const redisReply *ids, redisReply **out)
{
    size_t n = ids->elements;
    const char **argv = tgh_calloc(n + 1, sizeof(*argv));
    char(*keys)[KEY_MAX] = tgh_calloc(n, sizeof(*keys));
    redisReply *r;
    tgh_err rc = TGH_OK;

    *out = NULL;
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++) {
        int64_t id;

        if (!reply_int64(ids->element[i], &id))
            goto out; /* someone else's member: the cache cannot answer */
        key_msg(keys[i], chat_id, id);
        argv[i + 1] = keys[i];
    }
    r = redisCommandArgv(c->ctx, (int)(n + 1), argv, NULL);
    if (r == NULL) {
        rc = broke(c, "MGET");
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        c->stats.errors++;
        freeReplyObject(r);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) { /* expired before its id */
            freeReplyObject(r);
            goto out;
        }
    }
    *out = r;
out:
    tgh_free(keys);
    tgh_free(argv);
    return rc;
}

tgh_err
cache_recent(struct cache *c, int64_t chat_id, int64_t after_id, int64_t before_id, size_t limit,
             bool newest_first, cache_msg_fn fn, void *arg, bool *complete)
{
    char zset[KEY_MAX], floor[KEY_MAX], lo[24] = "-inf", hi[24] = "+inf";
    redisReply *rf = NULL, *rl = NULL, *ri = NULL, *ev = NULL;
    size_t queued = 0;
    tgh_err rc;

    *complete = false;
    if (limit == 0) {
        *complete = true;
        return TGH_OK;
    }
    if (limit > (size_t)INT_MAX)
        limit = INT_MAX;
    rc = cache_ensure(c);
    if (rc != TGH_OK)
        return rc;
    key_chat(zset, chat_id, "recent");
    key_chat(floor, chat_id, "floor");
    if (after_id != 0)
        (void)snprintf(lo, sizeof(lo), "(%" PRId64, after_id);
    if (before_id != 0)
        (void)snprintf(hi, sizeof(hi), "(%" PRId64, before_id);
    append(c, &queued, "GET %s", floor);
    append(c, &queued, "ZRANGE %s 0 0", zset);
    if (newest_first)
        append(c, &queued, "ZREVRANGEBYSCORE %s %s %s LIMIT 0 %d", zset, hi, lo, (int)limit);
    else
        append(c, &queued, "ZRANGEBYSCORE %s %s %s LIMIT 0 %d", zset, lo, hi, (int)limit);
    if ((rf = next_reply(c)) == NULL || (rl = next_reply(c)) == NULL ||
        (ri = next_reply(c)) == NULL) {
        rc = broke(c, "reading the recent set");
        goto out;
    }
    if (ri->type != REDIS_REPLY_ARRAY) {
        c->stats.errors++;
        goto out;
    }
    if (!window_covered(rf, rl, ri, after_id, limit, newest_first))
        goto out;
    if (ri->elements > 0) {
        rc = fetch_events(c, chat_id, ri, &ev);
        if (rc != TGH_OK || ev == NULL)
            goto out;
    }
    *complete = true;
    for (size_t i = 0; i < ri->elements; i++) {
        int64_t id = 0;

        (void)reply_int64(ri->element[i], &id); /* checked by fetch_events */
        if (fn(arg, id, ev->element[i]->str, ev->element[i]->len) != 0)
            break;
    }
out:
    freeReplyObject(ev);
    freeReplyObject(ri);
    freeReplyObject(rl);
    freeReplyObject(rf);
    return rc;
}

/* --- the live stream ------------------------------------------------------ */

tgh_err
cache_events_add(struct cache *c, const struct cache_event *ev, size_t n, size_t max)
{
    size_t queued = 0;
    tgh_err rc;

    if (n == 0)
        return TGH_OK;
    rc = cache_ensure(c);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char chat[24], cap[24];

        /* hiredis formats know no %zu: numbers go in as strings. */
        (void)snprintf(chat, sizeof(chat), "%" PRId64, ev[i].chat_id);
        (void)snprintf(cap, sizeof(cap), "%zu", max);
        append(c, &queued, "XADD %s MAXLEN ~ %s * chat %s kind %s data %b", CACHE_EVENTS_KEY, cap,
               chat, ev[i].kind, ev[i].data, ev[i].len);
    }
    return drain(c, queued, "XADD");
}

/* One stream entry [id, [field, value, ...]] to fn; false when it is not one. */
static bool
event_entry(const redisReply *e, cache_event_fn fn, void *arg, char *last, size_t cap, int *stop)
{
    const redisReply *f;
    const char *kind = NULL, *data = NULL;
    size_t len = 0;
    int64_t chat = 0;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "chat") == 0)
            (void)reply_int64(v, &chat);
        else if (strcmp(k->str, "kind") == 0)
            kind = v->str;
        else if (strcmp(k->str, "data") == 0) {
            data = v->str;
            len = v->len;
        }
    }
    (void)snprintf(last, cap, "%s", e->element[0]->str);
    if (kind != NULL && data != NULL && *stop == 0)
        *stop = fn(arg, e->element[0]->str, chat, kind, data, len);
    return true;
}

tgh_err
cache_events_tail(struct cache *c, size_t n, cache_event_fn fn, void *arg, char *last, size_t cap)
{
    char count[24];
    redisReply *r;
    tgh_err rc;
    int stop = 0;

    (void)snprintf(last, cap, "0-0");
    rc = cache_ensure(c);
    if (rc != TGH_OK)
        return rc;
    (void)snprintf(count, sizeof(count), "%zu", n > 0 ? n : 1);
    r = redisCommand(c->ctx, "XREVRANGE %s + - COUNT %s", CACHE_EVENTS_KEY, count);
    if (r == NULL)
        return broke(c, "XREVRANGE");
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = r->elements; i > 0; i--)
            (void)event_entry(r->element[i - 1], fn, arg, last, cap, &stop);
    } else {
        c->stats.errors++;
    }
    freeReplyObject(r);
    return TGH_OK;
}

tgh_err
cache_events_read(struct cache *c, const char *after, int block_ms, cache_event_fn fn, void *arg,
                  char *last, size_t cap)
{
    char from[64];
    redisReply *r;
    tgh_err rc;
    int stop = 0;

    (void)snprintf(from, sizeof(from), "%s", after);
    (void)snprintf(last, cap, "%s", from);
    rc = cache_ensure(c);
    if (rc != TGH_OK)
        return rc;
    r = redisCommand(c->ctx, "XREAD COUNT 256 BLOCK %d STREAMS %s %s", block_ms, CACHE_EVENTS_KEY,
                     from);
    if (r == NULL)
        return broke(c, "XREAD");
    /* [[key, [entry, ...]]], or nil when the block timed out. */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
        const redisReply *entries = r->element[0]->element[1];

        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++)
            (void)event_entry(entries->element[i], fn, arg, last, cap, &stop);
    } else if (r->type == REDIS_REPLY_ERROR) {
        c->stats.errors++;
        rc = tgh_errf(TGH_EUNAVAIL, "redis at %s: XREAD: %.200s", c->where, r->str);
    }
    freeReplyObject(r);
    return rc;
}

/* --- warming the recent cache from the store (the API) ------------------- */

tgh_err
cache_warm_begin(struct cache *c, int64_t chat_id)
{
    char gen[KEY_MAX], floor[KEY_MAX];
    const char *argv[3] = { "WATCH", gen, floor };
    tgh_err rc = cache_ensure(c);

    if (rc != TGH_OK)
        return rc;
    key_chat(gen, chat_id, "gen");
    key_chat(floor, chat_id, "floor");
    return command(c, "WATCH", 3, argv);
}

void
cache_warm_abort(struct cache *c)
{
    redisReply *r;

    if (c->ctx == NULL)
        return;
    r = redisCommand(c->ctx, "UNWATCH");
    if (r == NULL) {
        (void)broke(c, "UNWATCH");
        return;
    }
    freeReplyObject(r);
}

/* The chat's floor now (under WATCH), or 0 when it has none. */
static tgh_err
floor_get(struct cache *c, const char *floor, int64_t *out)
{
    redisReply *r = redisCommand(c->ctx, "GET %s", floor);

    *out = 0;
    if (r == NULL)
        return broke(c, "GET floor");
    if (!reply_int64(r, out))
        *out = 0;
    freeReplyObject(r);
    return TGH_OK;
}

tgh_err
cache_warm_commit(struct cache *c, int64_t chat_id, int64_t from_id,
                  const struct cache_warm_item *items, size_t n, bool *applied)
{
    char zset[KEY_MAX], floor[KEY_MAX], msg[KEY_MAX], id[24];
    size_t queued = 0;
    int64_t f;
    redisReply *r = NULL;
    tgh_err rc;

    *applied = false;
    if (c->ctx == NULL)
        return tgh_errf(TGH_EUNAVAIL, "redis at %s: not connected", c->where);
    key_chat(zset, chat_id, "recent");
    key_chat(floor, chat_id, "floor");
    rc = floor_get(c, floor, &f);
    if (rc != TGH_OK)
        return rc;
    append(c, &queued, "MULTI");
    for (size_t i = 0; i < n; i++) {
        key_msg(msg, chat_id, items[i].message_id);
        (void)snprintf(id, sizeof(id), "%" PRId64, items[i].message_id);
        append(c, &queued, "SET %s %b EX %d", msg, items[i].event, items[i].event_len,
               CACHE_MSG_TTL);
        append(c, &queued, "ZADD %s %s %s", zset, id, id);
    }
    append(c, &queued, "ZREMRANGEBYRANK %s 0 %d", zset, -(CACHE_RECENT_MAX + 1));
    append(c, &queued, "EXPIRE %s %d", zset, CACHE_MSG_TTL);
    /* A lower floor still holds (the set only grew): keep it. */
    if (f == 0 || from_id < f)
        append(c, &queued, "SET %s %" PRId64 " EX %d", floor, from_id, CACHE_MSG_TTL);
    append(c, &queued, "EXEC");
    /* MULTI and the queued commands answer OK / QUEUED; EXEC answers last. */
    for (size_t i = 0; i < queued; i++) {
        freeReplyObject(r);
        r = NULL;
        if (redisGetReply(c->ctx, (void **)&r) != REDIS_OK)
            return broke(c, "warming the recent cache");
    }
    /* nil: a worker changed the chat (or its floor) since WATCH: nothing was written. */
    *applied = r != NULL && r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    return TGH_OK;
}

/* --- worker heartbeats ----------------------------------------------------- */

/*
 * telegram:workers (hash: id -> JSON) and telegram:workers:beats (sorted
 * set: id by the Unix time of its last beat): the reader takes the ids that
 * beat within CACHE_WORKER_TTL, without scanning the keyspace. Both keys
 * expire an hour after the last beat of any worker.
 */
#define WORKERS_KEY "telegram:workers"
#define BEATS_KEY   "telegram:workers:beats"

tgh_err
cache_worker_beat(struct cache *c, const char *id, const char *json, size_t len)
{
    char now[24], old[24];
    size_t queued = 0;
    tgh_err rc = cache_ensure(c);

    if (rc != TGH_OK)
        return rc;
    (void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    (void)snprintf(old, sizeof(old), "%lld", (long long)time(NULL) - 3600);
    append(c, &queued, "HSET %s %s %b", WORKERS_KEY, id, json, len);
    append(c, &queued, "ZADD %s %s %s", BEATS_KEY, now, id);
    append(c, &queued, "ZREMRANGEBYSCORE %s -inf %s", BEATS_KEY, old);
    append(c, &queued, "EXPIRE %s 3600", WORKERS_KEY);
    append(c, &queued, "EXPIRE %s 3600", BEATS_KEY);
    return drain(c, queued, "heartbeat");
}

tgh_err
cache_workers_each(struct cache *c, cache_worker_fn fn, void *arg)
{
    char since[24];
    redisReply *ids, *vals;
    const char **argv;
    tgh_err rc = cache_ensure(c);

    if (rc != TGH_OK)
        return rc;
    (void)snprintf(since, sizeof(since), "%lld", (long long)time(NULL) - CACHE_WORKER_TTL);
    ids = redisCommand(c->ctx, "ZRANGEBYSCORE %s %s +inf", BEATS_KEY, since);
    if (ids == NULL)
        return broke(c, "ZRANGEBYSCORE");
    if (ids->type != REDIS_REPLY_ARRAY || ids->elements == 0) {
        freeReplyObject(ids);
        return TGH_OK;
    }
    argv = tgh_calloc(ids->elements + 2, sizeof(*argv));
    argv[0] = "HMGET";
    argv[1] = WORKERS_KEY;
    for (size_t i = 0; i < ids->elements; i++)
        argv[i + 2] = ids->element[i]->type == REDIS_REPLY_STRING ? ids->element[i]->str : "";
    vals = redisCommandArgv(c->ctx, (int)ids->elements + 2, argv, NULL);
    tgh_free(argv);
    if (vals == NULL) {
        freeReplyObject(ids);
        return broke(c, "HMGET");
    }
    for (size_t i = 0; vals->type == REDIS_REPLY_ARRAY && i < vals->elements; i++)
        if (vals->element[i]->type == REDIS_REPLY_STRING)
            (void)fn(arg, vals->element[i]->str, vals->element[i]->len);
    freeReplyObject(vals);
    freeReplyObject(ids);
    return TGH_OK;
}
