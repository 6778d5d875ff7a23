/* SPDX-License-Identifier: MIT */
/*
 * test_store_collect.c - tracked chats and collection cursors keep the
 * contracts of store.h in every store backend (store_fx.h picks it): one row per chat whatever spec
 * named it, every key form finds its chat, cursors are committed when put returns, and all of it
 * survives reopening and the migration of an older archive.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/msg.h"
#include "core/util.h"
#include "store/store.h"
#include "store_fx.h"

#define DATE0   1700000000
#define CHAN    INT64_C(-1001006503122) /* t.me/c/1006503122 */
#define CHAN2   INT64_C(-1001234567890)
#define PRIVATE INT64_C(12345)

static int
fx_new(void **state, bool open_store)
{
    struct store_fx *fx = tgh_calloc(1, sizeof(*fx));

    *state = fx;
    return store_fx_init(fx, "test_store_collect", open_store);
}

static int
setup(void **state)
{
    return fx_new(state, true);
}

/* A database file without a store on it yet: the test builds an old one. */
static int
setup_empty(void **state)
{
    return fx_new(state, false);
}

static int
teardown(void **state)
{
    struct store_fx *fx = *state;

    store_fx_fini(fx);
    tgh_free(fx);
    return 0;
}

/* ---- helpers ---- */

static void
reopen(struct store_fx *fx)
{
    store_close(fx->st);
    fx->st = NULL;
    if (store_open(fx->url, &fx->st) != TGH_OK)
        fail_msg("store_open: %s", tgh_errmsg());
}

/* One integer from the raw connection (booleans read as 1 and 0); NULL reads as -1. */
static int64_t
sql_i64(struct store_fx *fx, const char *sql)
{
    return store_fx_i64_2(fx, sql, sql);
}

static void
sql_exec(struct store_fx *fx, const char *sql)
{
    store_fx_exec2(fx, sql, sql);
}

/* A resolved channel as `chats add` would store it. */
static struct store_tracked
tracked(const char *spec, int64_t chat_id, const char *username)
{
    struct store_tracked t;

    memset(&t, 0, sizeof(t));
    t.spec = spec;
    t.chat_id = chat_id;
    t.enabled = true;
    t.status = "new";
    t.type = chat_id != 0 ? "channel" : NULL;
    t.title = chat_id != 0 ? "Some Channel" : NULL;
    t.username = username;
    return t;
}

static int64_t
put(struct store_fx *fx, const struct store_tracked *t)
{
    int64_t id = 0;

    if (store_tracked_put(fx->st, t, &id) != TGH_OK)
        fail_msg("store_tracked_put(%s): %s", t->spec, tgh_errmsg());
    assert_true(id > 0);
    return id;
}

/* The row id key finds, or 0 (and the ENOTFOUND detail names the key). */
static int64_t
find_id(struct store_fx *fx, const char *key)
{
    struct store_tracked t;
    tgh_err rc = store_tracked_find(fx->st, key, &t);

    if (rc == TGH_ENOTFOUND) {
        assert_non_null(strstr(tgh_errmsg(), "no tracked chat matches"));
        assert_int_equal(t.id, 0);
        return 0;
    }
    if (rc != TGH_OK)
        fail_msg("store_tracked_find(%s): %s", key, tgh_errmsg());
    return t.id;
}

#define MAX_TRACKED 200

struct tracked_list {
    size_t n;
    int64_t id[MAX_TRACKED];
    int64_t chat_id[MAX_TRACKED];
    bool enabled[MAX_TRACKED];
    int64_t backfill[MAX_TRACKED];
    char spec[MAX_TRACKED][48];
    struct store *st; /* set: the callback writes through it */
};

static int
collect_tracked(void *arg, const struct store_tracked *t)
{
    struct tracked_list *l = arg;

    assert_true(l->n < MAX_TRACKED);
    l->id[l->n] = t->id;
    l->chat_id[l->n] = t->chat_id;
    l->enabled[l->n] = t->enabled;
    l->backfill[l->n] = t->backfill_requested_at;
    (void)snprintf(l->spec[l->n], sizeof(l->spec[0]), "%s", t->spec);
    l->n++;
    if (l->st != NULL) {
        struct store_cursor c = { .chat_id = t->chat_id != 0 ? t->chat_id : 1, .newest_id = 7 };

        assert_int_equal(store_tracked_set_status(l->st, t->id, "ok", NULL, DATE0), TGH_OK);
        assert_int_equal(store_cursor_put(l->st, &c), TGH_OK);
    }
    return 0;
}

static void
list_tracked(struct store_fx *fx, struct tracked_list *l)
{
    struct store *writer = l->st;

    memset(l, 0, sizeof(*l));
    l->st = writer;
    if (store_tracked_each(fx->st, collect_tracked, l) != TGH_OK)
        fail_msg("store_tracked_each: %s", tgh_errmsg());
}

#define MAX_CURSORS 700

struct cursor_list {
    size_t n;
    size_t stop_after; /* 0: never */
    struct store_cursor c[MAX_CURSORS];
};

static int
collect_cursor(void *arg, const struct store_cursor *c)
{
    struct cursor_list *l = arg;

    assert_true(l->n < MAX_CURSORS);
    l->c[l->n++] = *c;
    return l->stop_after != 0 && l->n == l->stop_after;
}

static void
list_cursors(struct store_fx *fx, int64_t chat_id, struct cursor_list *l)
{
    size_t stop = l->stop_after;

    memset(l, 0, sizeof(*l));
    l->stop_after = stop;
    if (store_cursors_each(fx->st, chat_id, collect_cursor, l) != TGH_OK)
        fail_msg("store_cursors_each: %s", tgh_errmsg());
}

static void
put_cursor(struct store_fx *fx, int64_t chat_id, int64_t thread_id, int64_t newest, int64_t oldest)
{
    struct store_cursor c = {
        .chat_id = chat_id, .thread_id = thread_id, .newest_id = newest, .oldest_id = oldest
    };

    if (store_cursor_put(fx->st, &c) != TGH_OK)
        fail_msg("store_cursor_put: %s", tgh_errmsg());
}

/* ---- tracked chats ---- */

static void
test_put_round_trip(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = tracked("@durov", CHAN, "durov"), got;
    int64_t id, id2;

    t.account = "work";
    t.linked_chat_id = CHAN2;
    t.is_forum = true;
    t.comments = true;
    t.topics = true;
    t.last_collected_at = DATE0 + 5;
    id = put(fx, &t);
    id2 = put(fx, &(struct store_tracked){ .spec = "https://t.me/+AbCdEf",
                                           .status = "error",
                                           .error = "invite link expired" });
    assert_true(id2 > id);

    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.spec, "@durov");
    assert_int_equal(got.chat_id, CHAN);
    assert_string_equal(got.account, "work");
    assert_true(got.enabled);
    assert_string_equal(got.status, "new");
    assert_null(got.error);
    assert_string_equal(got.type, "channel");
    assert_string_equal(got.title, "Some Channel");
    assert_string_equal(got.username, "durov");
    assert_int_equal(got.linked_chat_id, CHAN2);
    assert_true(got.is_forum && got.comments && got.topics);
    assert_int_equal(got.last_collected_at, DATE0 + 5);
    assert_true(got.added_at >= DATE0);
    assert_true(got.updated_at >= got.added_at);

    /* The unresolved row: chat_id 0 is NULL in the table, so two never clash. */
    assert_int_equal(store_tracked_find(fx->st, "https://t.me/+AbCdEf", &got), TGH_OK);
    assert_int_equal(got.id, id2);
    assert_int_equal(got.chat_id, 0);
    assert_false(got.enabled);
    assert_string_equal(got.status, "error");
    assert_string_equal(got.error, "invite link expired");
    assert_null(got.account);
    assert_null(got.username);
    assert_int_equal(got.linked_chat_id, 0);
    assert_int_equal(got.last_collected_at, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats WHERE chat_id IS NULL"
                                 " AND linked_chat_id IS NULL AND last_collected_at IS NULL"),
                     1);
    put(fx, &(struct store_tracked){ .spec = "@typo", .status = "error" });
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"), 3);
}

static void
test_update_by_chat_id_takes_spec(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = tracked("@durov", CHAN, "durov"), got;
    int64_t id, added_at;

    id = put(fx, &t);
    added_at = sql_i64(fx, "SELECT added_at FROM tracked_chats");
    sql_exec(fx, "UPDATE tracked_chats SET added_at = 1000, updated_at = 1000");
    /* The same chat added again by its id: still one row, the new spec. */
    t = tracked("-1001006503122", CHAN, "durov");
    t.title = "Renamed";
    assert_int_equal(put(fx, &t), id);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"), 1);
    assert_int_equal(store_tracked_find(fx->st, "-1001006503122", &got), TGH_OK);
    assert_string_equal(got.spec, "-1001006503122");
    assert_string_equal(got.title, "Renamed");
    assert_int_equal(got.added_at, 1000); /* kept */
    assert_true(got.updated_at >= added_at);
    /* Now only through the username, in any case. */
    assert_int_equal(find_id(fx, "@durov"), id);
    assert_int_equal(find_id(fx, "@DUROV"), id);
    assert_int_equal(find_id(fx, "https://t.me/DuRoV"), id);
}

static void
test_update_by_spec_resolves(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = { .spec = "@durov", .status = "error", .error = "FLOOD_WAIT" };
    struct store_tracked got;
    int64_t id;

    id = put(fx, &t);
    assert_int_equal(find_id(fx, "-1001006503122"), 0);
    t = tracked("@durov", CHAN, "durov");
    t.status = "ok";
    t.updated_at = DATE0 + 77; /* written as given */
    assert_int_equal(put(fx, &t), id);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"), 1);
    assert_int_equal(store_tracked_find(fx->st, "-1001006503122", &got), TGH_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.status, "ok");
    assert_null(got.error);
    assert_int_equal(got.updated_at, DATE0 + 77);
}

/* "@durov" failed once and "-100..." was added; resolving "@durov" later merges them. */
static void
test_two_specs_one_chat_merge(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked got;
    int64_t unresolved, by_id;

    unresolved = put(fx, &(struct store_tracked){ .spec = "@durov", .status = "error" });
    by_id = put(fx, &(struct store_tracked){ .spec = "-1001006503122", .chat_id = CHAN });
    assert_int_not_equal(unresolved, by_id);

    assert_int_equal(put(fx, &(struct store_tracked){ .spec = "@durov", .chat_id = CHAN }), by_id);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"), 1);
    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_int_equal(got.id, by_id);
    assert_int_equal(got.chat_id, CHAN);
}

/* A username that moved to another chat: the old chat stays tracked, under its id. */
static void
test_username_moved_keeps_old_chat(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked got;
    int64_t old, other;

    old = put(fx, &(struct store_tracked){ .spec = "@name", .chat_id = CHAN });
    other = put(fx, &(struct store_tracked){ .spec = "-1001234567890", .chat_id = CHAN2 });
    assert_int_equal(put(fx, &(struct store_tracked){ .spec = "@name", .chat_id = CHAN2 }), other);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"), 2);
    assert_int_equal(store_tracked_find(fx->st, "@name", &got), TGH_OK);
    assert_int_equal(got.id, other);
    assert_int_equal(got.chat_id, CHAN2);
    assert_int_equal(store_tracked_find(fx->st, "-1001006503122", &got), TGH_OK);
    assert_int_equal(got.id, old);
    assert_string_equal(got.spec, "-1001006503122");
}

static void
test_find_every_key_form(void **state)
{
    struct store_fx *fx = *state;
    const char *chan_keys[] = {
        "-1001006503122",
        "1006503122",
        "t.me/c/1006503122",
        "https://t.me/c/1006503122/45",
        "HTTPS://T.ME/c/1006503122?single",
        "@durov",
        "@DuRoV",
        "durov",
        "DUROV",
        "https://t.me/durov",
        "http://telegram.me/Durov/12",
        "t.me/s/durov",
        "@Durov", /* the exact spec */
    };
    const char *missing[] = { "@nobody",
                              "nobody",
                              "-1001234567890",
                              "1234567890",
                              "t.me/c/1234567890/1",
                              "https://t.me/joinchat/durov",
                              "t.me/c/abc",
                              "durov!",
                              "-",
                              "99999999999999999999" };
    int64_t chan, priv, invite, typo;

    chan = put(fx, &(struct store_tracked){
                       .spec = "@Durov", .chat_id = CHAN, .username = "Durov", .enabled = true });
    priv = put(fx, &(struct store_tracked){ .spec = "alice", .chat_id = PRIVATE });
    invite = put(fx, &(struct store_tracked){ .spec = "https://t.me/+AbCdEf" });
    typo = put(fx, &(struct store_tracked){ .spec = "@Typo_Name", .status = "error" });

    for (size_t i = 0; i < sizeof(chan_keys) / sizeof(chan_keys[0]); i++) {
        if (find_id(fx, chan_keys[i]) != chan)
            fail_msg("key '%s' did not find the channel", chan_keys[i]);
    }
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        if (find_id(fx, missing[i]) != 0)
            fail_msg("key '%s' found a chat", missing[i]);
    }
    assert_int_equal(find_id(fx, "12345"), priv); /* not a channel: the id as it is */
    assert_int_equal(find_id(fx, "alice"), priv); /* the exact spec, no username known */
    assert_int_equal(find_id(fx, "https://t.me/+AbCdEf"), invite);
    assert_int_equal(find_id(fx, "https://t.me/+abcdef"), 0); /* invite hashes have case */
    assert_int_equal(find_id(fx, "typo_name"), typo);         /* unresolved: its "@" spec */
    assert_int_equal(find_id(fx, "t.me/TYPO_NAME"), typo);

    assert_int_equal(store_tracked_find(fx->st, "", &(struct store_tracked){ 0 }), TGH_EINVAL);
}

/* The username lookup is an index search, not a scan (tracked_chats_username). */
static void
test_username_lookup_uses_index(void **state)
{
    struct store_fx *fx = *state;
    sqlite3_stmt *s = NULL;
    bool uses = false;

    assert_int_equal(sqlite3_prepare_v2(fx->sq,
                                        "EXPLAIN QUERY PLAN SELECT id FROM tracked_chats"
                                        " WHERE username = ?1 COLLATE NOCASE",
                                        -1, &s, NULL),
                     SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW)
        uses |= strstr((const char *)sqlite3_column_text(s, 3), "tracked_chats_username") != NULL;
    sqlite3_finalize(s);
    assert_true(uses);
}

/* The same in PostgreSQL: lower(username) has an expression index. */
static void
test_pg_username_lookup_uses_index(void **state)
{
    struct store_fx *fx = *state;
    char *plan;

    sql_exec(fx, "SET enable_seqscan = off");
    plan = store_fx_text2(fx, "",
                          "EXPLAIN SELECT id FROM tracked_chats"
                          " WHERE lower(username) = lower('Durov')");
    assert_non_null(strstr(plan, "tracked_chats_username"));
    tgh_free(plan);
}

static void
test_remove(void **state)
{
    struct store_fx *fx = *state;
    struct cursor_list cl = { 0 };
    int64_t id = put(fx, &(struct store_tracked){ .spec = "@durov", .chat_id = CHAN });

    put_cursor(fx, CHAN, 0, 100, 1);
    assert_int_equal(store_tracked_remove(fx->st, id), TGH_OK);
    assert_int_equal(find_id(fx, "@durov"), 0);
    assert_int_equal(store_tracked_remove(fx->st, id), TGH_ENOTFOUND);
    list_cursors(fx, CHAN, &cl);
    assert_int_equal(cl.n, 1); /* the cursor stays, as the messages do */
    /* Tracking the chat again gets a new row. */
    assert_true(put(fx, &(struct store_tracked){ .spec = "@durov", .chat_id = CHAN }) > id);
}

static void
test_set_status(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked got;
    int64_t id = put(fx, &(struct store_tracked){ .spec = "@durov", .chat_id = CHAN });

    sql_exec(fx, "UPDATE tracked_chats SET updated_at = 1000");
    assert_int_equal(store_tracked_set_status(fx->st, id, "error", "CHANNEL_PRIVATE", 0), TGH_OK);
    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_string_equal(got.status, "error");
    assert_string_equal(got.error, "CHANNEL_PRIVATE");
    assert_int_equal(got.last_collected_at, 0);
    assert_true(got.updated_at > 1000);

    assert_int_equal(store_tracked_set_status(fx->st, id, "ok", NULL, DATE0 + 9), TGH_OK);
    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_string_equal(got.status, "ok");
    assert_null(got.error);
    assert_int_equal(got.last_collected_at, DATE0 + 9);

    /* 0 keeps the last collection time. */
    assert_int_equal(store_tracked_set_status(fx->st, id, "error", "timeout", 0), TGH_OK);
    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_int_equal(got.last_collected_at, DATE0 + 9);

    assert_int_equal(store_tracked_set_status(fx->st, id + 1, "ok", NULL, 0), TGH_ENOTFOUND);
    assert_int_equal(store_tracked_set_status(fx->st, id, "paused", NULL, 0), TGH_EINVAL);
    assert_int_equal(store_tracked_set_status(fx->st, id, NULL, NULL, 0), TGH_EINVAL);
}

/* backfill_requested_at of the row key finds. */
static int64_t
backfill_at(struct store_fx *fx, const char *key)
{
    struct store_tracked t;

    if (store_tracked_find(fx->st, key, &t) != TGH_OK)
        fail_msg("store_tracked_find(%s): %s", key, tgh_errmsg());
    return t.backfill_requested_at;
}

static void
test_backfill_request(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = tracked("@durov", CHAN, "durov");
    struct tracked_list l = { 0 };
    int64_t id = put(fx, &t), other;

    other = put(fx, &(struct store_tracked){ .spec = "@other", .chat_id = CHAN2 });
    assert_int_equal(backfill_at(fx, "@durov"), 0);
    sql_exec(fx, "UPDATE tracked_chats SET updated_at = 1000");
    assert_int_equal(store_tracked_request_backfill(fx->st, id, DATE0 + 10), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0 + 10);
    assert_true(sql_i64(fx, "SELECT updated_at FROM tracked_chats WHERE spec = '@durov'") > 1000);
    assert_int_equal(backfill_at(fx, "@other"), 0); /* one row only */
    list_tracked(fx, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.backfill[0], DATE0 + 10);
    assert_int_equal(l.backfill[1], 0);

    /* tracked_put writes every field but this one: a re-resolve keeps the request. */
    t.title = "Renamed";
    t.backfill_requested_at = 0;
    assert_int_equal(put(fx, &t), id);
    t = tracked("-1001006503122", CHAN, "durov"); /* by chat id, another spec */
    t.backfill_requested_at = DATE0 + 999;
    assert_int_equal(put(fx, &t), id);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0 + 10);

    /* Done for another (older) time: not this request, which stays. */
    assert_int_equal(store_tracked_backfill_done(fx->st, id, DATE0 + 5), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0 + 10);
    /* A newer request while the pass of DATE0 + 10 runs is not lost when it ends. */
    assert_int_equal(store_tracked_request_backfill(fx->st, id, DATE0 + 20), TGH_OK);
    assert_int_equal(store_tracked_backfill_done(fx->st, id, DATE0 + 10), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0 + 20);
    assert_int_equal(store_tracked_backfill_done(fx->st, id, DATE0 + 20), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"
                                 " WHERE backfill_requested_at IS NULL"),
                     2);
    assert_int_equal(store_tracked_backfill_done(fx->st, id, DATE0 + 20), TGH_OK); /* again */
    assert_int_equal(backfill_at(fx, "@durov"), 0);

    assert_int_equal(store_tracked_request_backfill(fx->st, other + 100, DATE0), TGH_ENOTFOUND);
    assert_non_null(strstr(tgh_errmsg(), "does not exist"));
    assert_int_equal(store_tracked_backfill_done(fx->st, other + 100, DATE0), TGH_ENOTFOUND);
    /* 0 is "no request" in the row. */
    assert_int_equal(store_tracked_request_backfill(fx->st, id, 0), TGH_EINVAL);
    assert_int_equal(store_tracked_backfill_done(fx->st, id, 0), TGH_EINVAL);
    assert_int_equal(backfill_at(fx, "@durov"), 0);
}

/* The chat's own media policy as stored, "" for none. */
static const char *
media_policy_of(struct store_fx *fx, const char *key, char *out, size_t cap)
{
    struct store_tracked t;

    if (store_tracked_find(fx->st, key, &t) != TGH_OK)
        fail_msg("store_tracked_find(%s): %s", key, tgh_errmsg());
    (void)snprintf(out, cap, "%s", t.media_policy != NULL ? t.media_policy : "");
    return out;
}

static void
test_media_policy(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = tracked("@durov", CHAN, "durov");
    int64_t id = put(fx, &t), other;
    char buf[128];

    other = put(fx, &(struct store_tracked){ .spec = "@other", .chat_id = CHAN2 });
    assert_string_equal(media_policy_of(fx, "@durov", buf, sizeof(buf)), "");
    assert_int_equal(store_tracked_set_media_policy(fx->st, id, "kinds=photo;max=5M"), TGH_OK);
    assert_string_equal(media_policy_of(fx, "@durov", buf, sizeof(buf)), "kinds=photo;max=5M");
    assert_string_equal(media_policy_of(fx, "@other", buf, sizeof(buf)), "");

    /* tracked_put leaves it: a re-resolve keeps the chat's policy. */
    t.title = "Renamed";
    t.media_policy = "kinds=none";
    assert_int_equal(put(fx, &t), id);
    assert_string_equal(media_policy_of(fx, "@durov", buf, sizeof(buf)), "kinds=photo;max=5M");

    assert_int_equal(store_tracked_set_media_policy(fx->st, id, NULL), TGH_OK);
    assert_string_equal(media_policy_of(fx, "@durov", buf, sizeof(buf)), "");
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats WHERE media_policy IS NULL"),
                     2);
    assert_int_equal(store_tracked_set_media_policy(fx->st, other + 100, "kinds=photo"),
                     TGH_ENOTFOUND);
    assert_non_null(strstr(tgh_errmsg(), "does not exist"));
    assert_int_equal(store_tracked_set_media_policy(fx->st, id, ""), TGH_EINVAL);
}

/* The archive bot's offset only moves forward; items name their first message. */
static void
test_bot_state_and_items(void **state)
{
    struct store_fx *fx = *state;
    struct store_bot_state b;
    struct store_bot_item first;
    bool is_new = false;

    assert_int_equal(store_bot_state_get(fx->st, 777, &b), TGH_ENOTFOUND);
    assert_int_equal(b.bot_id, 777);
    assert_int_equal(b.next_update_id, 0);
    assert_int_equal(
        store_bot_state_put(fx->st, &(struct store_bot_state){ .bot_id = 777,
                                                               .username = "harbor_bot",
                                                               .next_update_id = 101,
                                                               .last_update_type = "message",
                                                               .last_update_at = 1717300000 }),
        TGH_OK);
    /* an older offset (a second process behind this one) does not move it back */
    assert_int_equal(store_bot_state_put(
                         fx->st, &(struct store_bot_state){ .bot_id = 777, .next_update_id = 50 }),
                     TGH_OK);
    assert_int_equal(store_bot_state_get(fx->st, 777, &b), TGH_OK);
    assert_int_equal(b.next_update_id, 101);
    assert_string_equal(b.username, "harbor_bot");
    assert_string_equal(b.last_update_type, "message");
    assert_int_equal(b.last_update_at, 1717300000);
    assert_true(b.updated_at > 0);
    assert_int_equal(
        store_bot_state_put(fx->st, &(struct store_bot_state){ .bot_id = 0, .next_update_id = 5 }),
        TGH_EINVAL);

    assert_int_equal(store_bot_item_put(fx->st, "fwd:-1001234567890:77", 4242, 5, &is_new, &first),
                     TGH_OK);
    assert_true(is_new);
    assert_int_equal(first.message_id, 5);
    assert_int_equal(store_bot_item_put(fx->st, "fwd:-1001234567890:77", 4243, 9, &is_new, &first),
                     TGH_OK);
    assert_false(is_new);
    assert_int_equal(first.chat_id, 4242);
    assert_int_equal(first.message_id, 5);
    assert_true(first.created_at > 0);
    assert_int_equal(store_bot_item_put(fx->st, "", 4242, 5, &is_new, NULL), TGH_EINVAL);
    memset(&first, 0xff, sizeof(first));
    assert_int_equal(store_bot_item_get(fx->st, "fwd:-1001234567890:77", &first), TGH_OK);
    assert_int_equal(first.chat_id, 4242);
    assert_int_equal(first.message_id, 5);
    assert_true(first.created_at > 0);
    assert_int_equal(store_bot_item_get(fx->st, "notice:1", &first), TGH_ENOTFOUND);
    assert_int_equal(first.message_id, 0);
    assert_int_equal(store_bot_item_get(fx->st, "", &first), TGH_EINVAL);
}

static void
test_enabled_round_trip(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = tracked("@durov", CHAN, "durov");
    struct tracked_list l = { 0 };

    t.enabled = false;
    put(fx, &t);
    list_tracked(fx, &l);
    assert_int_equal(l.n, 1);
    assert_false(l.enabled[0]);
    t.enabled = true;
    put(fx, &t);
    list_tracked(fx, &l);
    assert_int_equal(l.n, 1);
    assert_true(l.enabled[0]);
    assert_int_equal(sql_i64(fx, "SELECT enabled FROM tracked_chats"), 1);
}

static void
test_put_refuses_bad_rows(void **state)
{
    struct store_fx *fx = *state;
    int64_t id = -1;

    assert_int_equal(store_tracked_put(fx->st, &(struct store_tracked){ .chat_id = CHAN }, &id),
                     TGH_EINVAL);
    assert_int_equal(store_tracked_put(fx->st, &(struct store_tracked){ .spec = "" }, NULL),
                     TGH_EINVAL);
    assert_int_equal(
        store_tracked_put(fx->st, &(struct store_tracked){ .spec = "@x", .status = "done" }, &id),
        TGH_EINVAL);
    assert_int_equal(id, -1);
    /* NULL id and NULL status ("new") are fine. */
    assert_int_equal(store_tracked_put(fx->st, &(struct store_tracked){ .spec = "@x" }, NULL),
                     TGH_OK);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats WHERE status = 'new'"), 1);
}

/* More rows than one page; the callback writes to the same store as it goes. */
static void
test_each_pages_and_callback_may_write(void **state)
{
    struct store_fx *fx = *state;
    struct tracked_list *l = tgh_calloc(1, sizeof(*l));
    char spec[32];

    for (int i = 0; i < 150; i++) {
        (void)snprintf(spec, sizeof(spec), "@chat%03d", i);
        put(fx, &(struct store_tracked){ .spec = spec, .chat_id = CHAN + i });
    }
    l->st = fx->st;
    list_tracked(fx, l);
    assert_int_equal(l->n, 150);
    for (size_t i = 0; i < l->n; i++) {
        (void)snprintf(spec, sizeof(spec), "@chat%03zu", i);
        assert_string_equal(l->spec[i], spec);
        assert_int_equal(l->chat_id[i], CHAN + (int64_t)i);
        if (i > 0)
            assert_true(l->id[i] > l->id[i - 1]);
    }
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats WHERE status = 'ok'"
                                 " AND last_collected_at = 1700000000"),
                     150);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM cursors"), 150);
    tgh_free(l);
}

/* ---- cursors ---- */

static void
test_cursor_absent(void **state)
{
    struct store_fx *fx = *state;
    struct store_cursor c;

    memset(&c, 0xff, sizeof(c));
    assert_int_equal(store_cursor_get(fx->st, CHAN, 42, &c), TGH_ENOTFOUND);
    assert_int_equal(c.chat_id, CHAN);
    assert_int_equal(c.thread_id, 42);
    assert_int_equal(c.newest_id, 0);
    assert_int_equal(c.oldest_id, 0);
    assert_false(c.complete);
    assert_int_equal(c.gap_hi, 0);
    assert_int_equal(c.gap_from, 0);
    assert_int_equal(c.updated_at, 0);
}

static void
test_cursor_put_get_replace(void **state)
{
    struct store_fx *fx = *state;
    struct store_cursor c = { .chat_id = CHAN,
                              .thread_id = 0,
                              .newest_id = 900,
                              .oldest_id = 1,
                              .complete = true,
                              .gap_hi = 1200,
                              .gap_from = 1000 };
    struct store_cursor got;

    assert_int_equal(store_cursor_put(fx->st, &c), TGH_OK);
    assert_int_equal(store_cursor_get(fx->st, CHAN, 0, &got), TGH_OK);
    assert_int_equal(got.newest_id, 900);
    assert_int_equal(got.oldest_id, 1);
    assert_true(got.complete);
    assert_int_equal(got.gap_hi, 1200);
    assert_int_equal(got.gap_from, 1000);
    assert_true(got.updated_at >= DATE0); /* set by the store */
    /* Another thread of the same chat is another cursor. */
    assert_int_equal(store_cursor_get(fx->st, CHAN, 900, &got), TGH_ENOTFOUND);

    /* Replace: the catch-up finished, every field written as given. */
    c.newest_id = 1200;
    c.gap_hi = 0;
    c.gap_from = 0;
    c.complete = false;
    c.updated_at = DATE0 + 3;
    assert_int_equal(store_cursor_put(fx->st, &c), TGH_OK);
    assert_int_equal(store_cursor_get(fx->st, CHAN, 0, &got), TGH_OK);
    assert_int_equal(got.newest_id, 1200);
    assert_int_equal(got.gap_hi, 0);
    assert_false(got.complete);
    assert_int_equal(got.updated_at, DATE0 + 3);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM cursors"), 1);

    c.chat_id = 0;
    assert_int_equal(store_cursor_put(fx->st, &c), TGH_EINVAL);
    c.chat_id = CHAN;
    c.thread_id = -1;
    assert_int_equal(store_cursor_put(fx->st, &c), TGH_EINVAL);
}

static void
test_cursors_each(void **state)
{
    struct store_fx *fx = *state;
    struct cursor_list *l = tgh_calloc(1, sizeof(*l));
    const int64_t chats[3] = { CHAN2, CHAN, PRIVATE }; /* put out of order */

    /* 3 x 200 cursors: more than two pages in all, less than one per chat. */
    for (int t = 199; t >= 0; t--)
        for (size_t k = 0; k < 3; k++)
            put_cursor(fx, chats[k], t * 10, t + 1000, 1);

    list_cursors(fx, MSG_UNSET, l);
    assert_int_equal(l->n, 600);
    for (size_t i = 1; i < l->n; i++) {
        const struct store_cursor *a = &l->c[i - 1], *b = &l->c[i];

        assert_true(a->chat_id < b->chat_id ||
                    (a->chat_id == b->chat_id && a->thread_id < b->thread_id));
    }
    assert_int_equal(l->c[0].chat_id, CHAN2);
    assert_int_equal(l->c[599].chat_id, PRIVATE);
    assert_int_equal(l->c[599].thread_id, 1990);
    assert_int_equal(l->c[599].newest_id, 1199);

    list_cursors(fx, CHAN, l);
    assert_int_equal(l->n, 200);
    for (size_t i = 0; i < l->n; i++) {
        assert_int_equal(l->c[i].chat_id, CHAN);
        assert_int_equal(l->c[i].thread_id, (int64_t)i * 10);
    }
    list_cursors(fx, -5, l);
    assert_int_equal(l->n, 0);

    l->stop_after = 300;
    list_cursors(fx, MSG_UNSET, l);
    assert_int_equal(l->n, 300);
    tgh_free(l);
}

/*
 * Between two batches, on the batch's own connection: the cursor is committed
 * when put returns, so another connection sees it, and the next batch's
 * failure cannot take it back.
 */
static void
test_cursor_committed_between_batches(void **state)
{
    struct store_fx *fx = *state;
    struct store_stats stats = { 0 };
    struct msg_event ev;
    struct store_cursor got;

    msg_event_init(&ev);
    ev.source = MSG_SOURCE_TDLIB;
    ev.chat_id = CHAN;
    ev.chat_type = MSG_CHAT_CHANNEL;
    ev.message_id = 10;
    ev.date = DATE0;
    ev.text = "first page";
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_OK);
    put_cursor(fx, CHAN, 0, 10, 10);
    assert_int_equal(sql_i64(fx, "SELECT newest_id FROM cursors WHERE chat_id = -1001006503122"),
                     10);

    /* A failing batch (an unfinalized event) rolls back only itself. */
    ev.message_id = 11;
    ev.content_hash[0] = '\0';
    assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_EINVAL);
    assert_int_equal(store_cursor_get(fx->st, CHAN, 0, &got), TGH_OK);
    assert_int_equal(got.newest_id, 10);
    put_cursor(fx, CHAN, 0, 11, 10); /* and the connection is usable after it */
    assert_int_equal(sql_i64(fx, "SELECT newest_id FROM cursors"), 11);
}

/* ---- completeness: ids, gap rows, deletion windows ---- */

static void
commit_ids(struct store_fx *fx, const int64_t *ids, size_t n)
{
    struct store_stats stats = { 0 };

    for (size_t i = 0; i < n; i++) {
        struct msg_event ev;

        msg_event_init(&ev);
        ev.source = MSG_SOURCE_TDLIB;
        ev.chat_id = CHAN;
        ev.chat_type = MSG_CHAT_CHANNEL;
        ev.message_id = ids[i];
        ev.date = DATE0 + ids[i] * 60;
        ev.text = "post";
        assert_int_equal(codec_event_finalize(&ev), TGH_OK);
        assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_OK);
    }
}

struct runs {
    int64_t r[8][2];
    size_t n;
};

static int
on_run(void *arg, int64_t first, int64_t last, int64_t below)
{
    struct runs *r = arg;

    assert_int_equal(below, DATE0 + (first - 1) * 60); /* commit_ids' dates */
    if (r->n < 8) {
        r->r[r->n][0] = first;
        r->r[r->n][1] = last;
    }
    r->n++;
    return 0;
}

struct gap_rows {
    struct store_gap g[8];
    char detail[8][64];
    size_t n;
};

static int
on_gap(void *arg, const struct store_gap *g)
{
    struct gap_rows *r = arg;

    if (r->n < 8) {
        r->g[r->n] = *g;
        (void)snprintf(r->detail[r->n], sizeof(r->detail[0]), "%s",
                       g->detail != NULL ? g->detail : "(null)");
    }
    r->n++;
    return 0;
}

static void
test_gaps_ids_and_rows(void **state)
{
    struct store_fx *fx = *state;
    static const int64_t ids[] = { 3, 4, 5, 9, 10, 15 };
    struct store_stats stats = { 0 };
    struct runs runs = { .n = 0 };
    struct gap_rows rows = { .n = 0 };
    int64_t lo, hi, count;
    struct msg_event del;

    assert_int_equal(store_id_bounds(fx->st, CHAN, &lo, &hi, &count), TGH_OK);
    assert_int_equal(lo + hi + count, 0);
    assert_int_equal(store_missing_runs(fx->st, CHAN, on_run, &runs), TGH_OK);
    assert_int_equal(runs.n, 0);
    commit_ids(fx, ids, TGH_NELEM(ids));
    assert_int_equal(store_id_bounds(fx->st, CHAN, &lo, &hi, &count), TGH_OK);
    assert_int_equal(lo, 3);
    assert_int_equal(hi, 15);
    assert_int_equal(count, 6);
    assert_int_equal(store_missing_runs(fx->st, CHAN, on_run, &runs), TGH_OK);
    assert_int_equal(runs.n, 2);
    assert_int_equal(runs.r[0][0], 6);
    assert_int_equal(runs.r[0][1], 8);
    assert_int_equal(runs.r[1][0], 11);
    assert_int_equal(runs.r[1][1], 14);
    {
        int64_t now = (int64_t)time(NULL), n = -1;

        assert_int_equal(store_first_seen_count(fx->st, CHAN, now - 60, now + 60, &n), TGH_OK);
        assert_int_equal(n, 6);
        assert_int_equal(store_first_seen_count(fx->st, MSG_UNSET, now - 60, now + 60, &n), TGH_OK);
        assert_int_equal(n, 6);
        assert_int_equal(store_first_seen_count(fx->st, CHAN2, now - 60, now + 60, &n), TGH_OK);
        assert_int_equal(n, 0);
        assert_int_equal(store_first_seen_count(fx->st, CHAN, now + 60, now + 120, &n), TGH_OK);
        assert_int_equal(n, 0);
        assert_int_equal(store_first_seen_count(fx->st, CHAN, now, now - 1, &n), TGH_EINVAL);
    }

    /* A deletion found later: of a message never stored (a tombstone) and of a stored one. */
    msg_event_init(&del);
    del.op = MSG_OP_DELETE;
    del.source = MSG_SOURCE_TDLIB;
    del.chat_id = CHAN;
    del.message_id = 7;
    del.observed_at = DATE0 + 5000;
    del.deleted_after = DATE0 + 6 * 60;
    assert_int_equal(codec_event_finalize(&del), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, &del, 1, &stats), TGH_OK);
    del.message_id = 10;
    del.deleted_after = DATE0 + 4000;
    assert_int_equal(codec_event_finalize(&del), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, &del, 1, &stats), TGH_OK);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tombstones WHERE message_id = 7"), 1);
    assert_int_equal(sql_i64(fx, "SELECT deleted_at FROM messages WHERE message_id = 10"),
                     DATE0 + 5000);
    assert_int_equal(sql_i64(fx, "SELECT deleted_after FROM deletion_windows WHERE message_id = 7"),
                     DATE0 + 360);
    assert_int_equal(sql_i64(fx, "SELECT found_at FROM deletion_windows WHERE message_id = 10"),
                     DATE0 + 5000);
    runs.n = 0; /* a tombstone is no message: the run stays; a tombstoned message is one */
    assert_int_equal(store_missing_runs(fx->st, CHAN, on_run, &runs), TGH_OK);
    assert_int_equal(runs.n, 2);
    assert_int_equal(runs.r[0][0], 6);

    /* Gap rows: replaced per chat, missed rows kept as the record. */
    {
        struct store_gap g[] = {
            { CHAN, 1, 2, STORE_GAP_INACCESSIBLE, STORE_GAP_LEADING, DATE0, "before the join" },
            { CHAN, 6, 8, STORE_GAP_DELETED, STORE_GAP_INNER, DATE0, NULL },
            { CHAN, 11, 14, STORE_GAP_MISSED, STORE_GAP_INNER, DATE0, "fetched 4" },
            { CHAN, 16, 20, STORE_GAP_UNKNOWN, STORE_GAP_TRAILING, DATE0, NULL },
        };

        assert_int_equal(store_gaps_put(fx->st, CHAN, g, TGH_NELEM(g)), TGH_OK);
        assert_int_equal(store_gaps_each(fx->st, CHAN, on_gap, &rows), TGH_OK);
        assert_int_equal(rows.n, 4);
        assert_int_equal(rows.g[0].cls, STORE_GAP_INACCESSIBLE);
        assert_int_equal(rows.g[0].pos, STORE_GAP_LEADING);
        assert_string_equal(rows.detail[0], "before the join");
        assert_string_equal(rows.detail[1], "(null)");
        assert_int_equal(rows.g[3].pos, STORE_GAP_TRAILING);
        assert_int_equal(rows.g[3].last_id, 20);
        assert_int_equal(store_gaps_put(fx->st, CHAN, g + 1, 1), TGH_OK);
        rows.n = 0;
        assert_int_equal(store_gaps_each(fx->st, MSG_UNSET, on_gap, &rows), TGH_OK);
        assert_int_equal(rows.n, 2);
        assert_int_equal(rows.g[0].cls, STORE_GAP_DELETED);
        assert_int_equal(rows.g[1].cls, STORE_GAP_MISSED);
        g[0].last_id = 0;
        assert_int_equal(store_gaps_put(fx->st, CHAN, g, 1), TGH_EINVAL);
        assert_int_equal(store_gaps_put(fx->st, CHAN2, g + 1, 1), TGH_EINVAL);
    }
    assert_string_equal(store_gap_class_name(STORE_GAP_INACCESSIBLE), "inaccessible");
    {
        enum store_gap_class c;

        assert_true(store_gap_class_parse("missed", &c));
        assert_int_equal(c, STORE_GAP_MISSED);
        assert_false(store_gap_class_parse("lost", &c));
    }
}

/* One event of the quality archive, committed. */
static void
qev(struct store_fx *fx, int64_t id, int64_t date, const char *text, int64_t reply, int64_t thread)
{
    struct store_stats stats = { 0 };
    struct msg_event ev;

    msg_event_init(&ev);
    ev.source = MSG_SOURCE_TDLIB;
    ev.chat_id = CHAN;
    ev.chat_type = MSG_CHAT_SUPERGROUP;
    ev.message_id = id;
    ev.date = date;
    ev.text = text;
    if (id != 13) { /* one message without a sender */
        ev.sender_id = 4242;
        ev.sender_type = MSG_PEER_USER;
    }
    if (reply > 0)
        ev.reply_to_message_id = reply;
    if (thread > 0)
        ev.thread_id = thread;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_OK);
}

struct kinds_seen {
    char line[8][96];
    size_t n;
};

static int
on_kind(void *arg, const struct store_kind_quality *k)
{
    struct kinds_seen *x = arg;

    if (x->n < 8)
        (void)snprintf(x->line[x->n], sizeof(x->line[0]), "%s %lld %lld %lld %lld %lld", k->kind,
                       (long long)k->messages, (long long)k->no_sender, (long long)k->no_text,
                       (long long)k->no_size, (long long)k->no_file_id);
    x->n++;
    return 0;
}

/* A constructed archive whose figures are known: each one counted once. */
static void
test_chat_quality(void **state)
{
    struct store_fx *fx = *state;
    int64_t now = (int64_t)time(NULL), d = DATE0;
    struct store_chat_quality q;
    struct kinds_seen k = { .n = 0 };
    struct store_stats stats = { 0 };
    struct msg_media photo;
    struct msg_event ev;

    qev(fx, 10, d, "hello", 0, 0);
    qev(fx, 11, d + 60, "hello", 0, 0);          /* the same content as 10 */
    qev(fx, 12, d + 120, "a reply", 11, 0);      /* to a stored message */
    qev(fx, 13, d + 180, "older", 5, 0);         /* to one below the archive */
    qev(fx, 14, d + 240, "to nothing", 16, 0);   /* to an id inside the range, absent */
    qev(fx, 15, d + 30, "out of order", 0, 0);   /* dated before 14 */
    qev(fx, 18, d + 360, "in a thread", 0, 999); /* its root is nowhere */
    qev(fx, 21, now + 3600, "from the future", 0, 0);
    qev(fx, 12, d + 120, "a reply, edited", 11, 0);
    /* a photo without its size */
    msg_event_init(&ev);
    ev.source = MSG_SOURCE_TDLIB;
    ev.chat_id = CHAN;
    ev.chat_type = MSG_CHAT_SUPERGROUP;
    ev.message_id = 17;
    ev.date = d + 300;
    ev.sender_id = 4242;
    ev.sender_type = MSG_PEER_USER;
    memset(&photo, 0, sizeof(photo));
    photo.kind = "photo";
    photo.size_bytes = MSG_UNSET;
    photo.duration_s = MSG_UNSET;
    photo.width = photo.height = MSG_UNSET;
    photo.file_unique_id = "AQADph";
    ev.media = &photo;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_OK);
    /* a deleted one */
    qev(fx, 19, d + 420, "gone", 0, 0);
    msg_event_init(&ev);
    ev.op = MSG_OP_DELETE;
    ev.source = MSG_SOURCE_TDLIB;
    ev.chat_id = CHAN;
    ev.message_id = 19;
    assert_int_equal(codec_event_finalize(&ev), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_OK);

    assert_int_equal(store_chat_quality(fx->st, CHAN, now, now - 600, &q, on_kind, &k), TGH_OK);
    assert_int_equal(q.messages, 9);
    assert_int_equal(q.deleted, 1);
    assert_int_equal(q.edited, 1);
    assert_int_equal(q.versions, 1);
    assert_int_equal(q.first_date, d);
    assert_int_equal(q.last_date, now + 3600);
    assert_int_equal(q.same_content, 1);
    assert_int_equal(q.dangling_replies, 1);
    assert_int_equal(q.replies_before, 1);
    assert_int_equal(q.dangling_threads, 1);
    assert_int_equal(q.out_of_order, 1);
    assert_int_equal(q.future, 1);
    assert_int_equal(q.first_seen_since, 10);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.line[0], "photo 1 0 0 1 0");
    assert_string_equal(k.line[1], "text 8 1 0 0 0");
    assert_int_equal(store_chat_quality(fx->st, CHAN, now, now + 600, &q, NULL, NULL), TGH_OK);
    assert_int_equal(q.first_seen_since, 0);
    assert_int_equal(store_chat_quality(fx->st, CHAN2, now, 0, &q, on_kind, &k), TGH_OK);
    assert_int_equal(q.messages + q.last_date, 0);
}

static int
on_warn(void *arg, const char *kind, int64_t n)
{
    char *buf = arg;
    size_t len = strlen(buf);

    (void)snprintf(buf + len, 256 - len, "%s=%lld ", kind, (long long)n);
    return 0;
}

/* Warnings stored with the messages, counted per kind. */
static void
test_warnings_counted(void **state)
{
    struct store_fx *fx = *state;
    struct store_stats stats = { 0 };
    char seen[256] = "";

    for (int64_t id = 1; id <= 3; id++) {
        struct msg_event ev;

        msg_event_init(&ev);
        ev.source = MSG_SOURCE_EXPORT;
        ev.chat_id = CHAN;
        ev.chat_type = MSG_CHAT_CHANNEL;
        ev.message_id = id;
        ev.date = DATE0 + id;
        ev.text = "x";
        if (id < 3)
            ev.warnings =
                json_pack("[{s:s,s:s},{s:s}]", "kind", "bool_as_string", "path", "media_spoiler",
                          "kind", id == 1 ? "entity_clipped" : "unknown_media");
        assert_int_equal(codec_event_finalize(&ev), TGH_OK);
        assert_int_equal(store_batch_commit(fx->st, &ev, 1, &stats), TGH_OK);
        msg_event_fini(&ev);
    }
    assert_int_equal(store_warnings_each(fx->st, CHAN, on_warn, seen), TGH_OK);
    assert_string_equal(seen, "bool_as_string=2 entity_clipped=1 unknown_media=1 ");
    seen[0] = '\0';
    assert_int_equal(store_warnings_each(fx->st, CHAN2, on_warn, seen), TGH_OK);
    assert_string_equal(seen, "");
}

/* ---- durability and migration ---- */

static void
test_reopen_keeps_everything(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked t = tracked("@durov", CHAN, "durov"), got;
    struct store_cursor c;
    int64_t id;

    t.comments = true;
    t.enabled = false;
    id = put(fx, &t);
    assert_int_equal(store_tracked_set_status(fx->st, id, "ok", NULL, DATE0), TGH_OK);
    assert_int_equal(store_tracked_request_backfill(fx->st, id, DATE0 + 7), TGH_OK);
    put_cursor(fx, CHAN, 0, 500, 3);
    put_cursor(fx, CHAN, 77, 90, 78);
    reopen(fx);

    assert_int_equal(store_tracked_find(fx->st, "durov", &got), TGH_OK);
    assert_int_equal(got.id, id);
    assert_string_equal(got.status, "ok");
    assert_int_equal(got.last_collected_at, DATE0);
    assert_true(got.comments);
    assert_false(got.enabled);
    assert_int_equal(got.backfill_requested_at, DATE0 + 7);
    assert_int_equal(store_cursor_get(fx->st, CHAN, 77, &c), TGH_OK);
    assert_int_equal(c.newest_id, 90);
    assert_int_equal(c.oldest_id, 78);
    assert_int_equal(store_cursor_get(fx->st, CHAN, 0, &c), TGH_OK);
    assert_int_equal(c.newest_id, 500);
}

static char *
read_source(const char *rel)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;

    (void)snprintf(path, sizeof(path), "%s/%s", TGH_SOURCE_DIR, rel);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = tgh_malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int
count_message(void *arg, const struct store_message_row *row)
{
    size_t *n = arg;

    assert_string_equal(row->text, "kept across 004");
    (*n)++;
    return 0;
}

/* An archive as the released migrations 001..n left it (SQLite only). */
static void
old_archive(struct store_fx *fx, size_t n)
{
    static const char *const names[] = { "001_init.sql", "002_dead_letter_once.sql",
                                         "003_tombstones.sql", "004_collect.sql" };

    sql_exec(fx, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                 " name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (size_t i = 0; i < n; i++) {
        char rel[128], sql[160];
        char *text;

        (void)snprintf(rel, sizeof(rel), "src/store/migrations/sqlite/%s", names[i]);
        text = read_source(rel);
        sql_exec(fx, text);
        tgh_free(text);
        (void)snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%zu, '%s', 1)",
                       i + 1, names[i]);
        sql_exec(fx, sql);
    }
}

/* An archive written before 004 (built from the released 001..003 files) gains the tables. */
static void
test_migrate_003_archive(void **state)
{
    struct store_fx *fx = *state;
    struct store_query q = { .chat_id = MSG_UNSET, .since = MSG_UNSET, .until = MSG_UNSET };
    size_t n = 0;

    old_archive(fx, 3);
    sql_exec(fx, "INSERT INTO chats (chat_id, type, title, created_at, updated_at)"
                 " VALUES (-1001006503122, 'channel', 'Old', 1, 1)");
    sql_exec(fx, "INSERT INTO messages (chat_id, message_id, date, text, source, content_hash,"
                 " idempotency_key, event, first_seen_at, updated_at) VALUES (-1001006503122, 5,"
                 " 1700000000, 'kept across 004', 'export', printf('%064d', 0),"
                 " '-1001006503122:1700000000:5', '{}', 1, 1)");
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM sqlite_master WHERE name = 'cursors'"), 0);

    reopen(fx);
    assert_int_equal(sql_i64(fx, "SELECT max(version) FROM schema_migrations"), 9);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations"
                                 " WHERE version = 4 AND name = '004_collect.sql'"),
                     1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations"
                                 " WHERE version = 5 AND name = '005_backfill_request.sql'"),
                     1);
    assert_int_equal(store_messages_each(fx->st, &q, count_message, &n), TGH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH"
                                 " 'kept'"),
                     1);
    put(fx, &(struct store_tracked){ .spec = "@durov", .chat_id = CHAN });
    put_cursor(fx, CHAN, 0, 5, 5);
    reopen(fx); /* and opening it again applies nothing */
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations"), 9);
    assert_int_equal(find_id(fx, "@durov"), 1);
    assert_int_equal(store_tracked_request_backfill(fx->st, 1, DATE0), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0);
}

/*
 * A tracked_chats row written by 004 (before 005 existed) reads with no
 * request pending, and can take one.
 */
static void
test_migrate_004_archive_tracked_row(void **state)
{
    struct store_fx *fx = *state;
    struct store_tracked got;

    old_archive(fx, 4);
    sql_exec(fx, "INSERT INTO tracked_chats (spec, chat_id, added_at, updated_at)"
                 " VALUES ('@durov', -1001006503122, 1, 1)");
    reopen(fx);
    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_int_equal(got.chat_id, CHAN);
    assert_int_equal(got.backfill_requested_at, 0);
    assert_null(got.media_policy);
    assert_int_equal(store_tracked_request_backfill(fx->st, got.id, DATE0), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0);
}

/*
 * The same for a PostgreSQL database at version 1 (001_init.sql): 002 adds
 * the column, 003 gives job_history its media shape.
 */
static void
test_pg_migrate_001_database(void **state)
{
    struct store_fx *fx = *state;
    char *text = read_source("src/store/migrations/postgresql/001_init.sql");
    struct store_tracked got;

    sql_exec(fx, "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                 " name text NOT NULL, applied_at bigint NOT NULL)");
    sql_exec(fx, text);
    tgh_free(text);
    sql_exec(fx, "INSERT INTO schema_migrations VALUES (1, '001_init.sql', 1)");
    sql_exec(fx, "INSERT INTO tracked_chats (spec, chat_id, added_at, updated_at)"
                 " VALUES ('@durov', -1001006503122, 1, 1)");
    reopen(fx);
    assert_int_equal(sql_i64(fx, "SELECT max(version) FROM schema_migrations"), 6);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM information_schema.columns"
                                 " WHERE table_name = 'job_history' AND column_name = 'media_key'"),
                     1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations"
                                 " WHERE version = 2 AND name = '002_backfill_request.sql'"),
                     1);
    assert_int_equal(store_tracked_find(fx->st, "@durov", &got), TGH_OK);
    assert_int_equal(got.backfill_requested_at, 0);
    assert_null(got.media_policy);
    assert_int_equal(store_tracked_request_backfill(fx->st, got.id, DATE0), TGH_OK);
    assert_int_equal(backfill_at(fx, "@durov"), DATE0);
    reopen(fx); /* and opening it again applies nothing */
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations"), 6);
}

/*
 * Several processes start at once on a new database (workers scaled up
 * together): each open migrates or waits for the one that does, and the
 * schema is applied exactly once.
 */
#define FO_OPENERS 4

struct fo_run {
    const char *url;
    tgh_err rc;
    char err[256];
};

static void *
fo_open(void *arg)
{
    struct fo_run *r = arg;
    struct store *st = NULL;

    r->rc = store_open(r->url, &st);
    if (r->rc != TGH_OK)
        (void)snprintf(r->err, sizeof(r->err), "%s", tgh_errmsg());
    store_close(st);
    return NULL;
}

static void
test_concurrent_first_open(void **state)
{
    struct store_fx *fx = *state;
    struct fo_run run[FO_OPENERS];
    pthread_t th[FO_OPENERS];

    for (int i = 0; i < FO_OPENERS; i++) {
        run[i] = (struct fo_run){ .url = fx->url };
        assert_int_equal(pthread_create(&th[i], NULL, fo_open, &run[i]), 0);
    }
    for (int i = 0; i < FO_OPENERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (run[i].rc != TGH_OK)
            fail_msg("open %d: %s", i, run[i].err);
    }
    assert_true(sql_i64(fx, "SELECT count(*) FROM schema_migrations") > 0);
    assert_int_equal(
        sql_i64(fx, "SELECT count(*) - count(DISTINCT version) FROM schema_migrations"), 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM tracked_chats"), 0);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest common[] = {
        T(test_put_round_trip),
        T(test_update_by_chat_id_takes_spec),
        T(test_update_by_spec_resolves),
        T(test_two_specs_one_chat_merge),
        T(test_username_moved_keeps_old_chat),
        T(test_find_every_key_form),
        T(test_remove),
        T(test_set_status),
        T(test_backfill_request),
        T(test_media_policy),
        T(test_bot_state_and_items),
        T(test_gaps_ids_and_rows),
        T(test_chat_quality),
        T(test_warnings_counted),
        T(test_enabled_round_trip),
        T(test_put_refuses_bad_rows),
        T(test_each_pages_and_callback_may_write),
        T(test_cursor_absent),
        T(test_cursor_put_get_replace),
        T(test_cursors_each),
        T(test_cursor_committed_between_batches),
        T(test_reopen_keeps_everything),
    };
    const struct CMUnitTest sqlite_only[] = {
        T(test_username_lookup_uses_index),
        cmocka_unit_test_setup_teardown(test_migrate_003_archive, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_004_archive_tracked_row, setup_empty,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup_empty, teardown),
    };
    const struct CMUnitTest pg_only[] = {
        T(test_pg_username_lookup_uses_index),
        cmocka_unit_test_setup_teardown(test_pg_migrate_001_database, setup_empty, teardown),
    };
#undef T

    return STORE_FX_RUN("store_collect", common, sqlite_only, pg_only);
}
