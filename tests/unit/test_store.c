/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - every store backend keeps the upsert, version and tombstone
 * rules of store.h: every test gets a fresh database (store_fx.h: a SQLite
 * file, or with TGH_TEST_STORE_URL a PostgreSQL database of its own), and
 * inspects it through the store API and, for what the API does not show
 * (updated_at, counters), through a second raw connection.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "core/msg.h"
#include "store/store.h"
#include "store_fx.h"

#define DATE0 1700000000

static int
setup(void **state)
{
    struct store_fx *fx = tgh_calloc(1, sizeof(*fx));

    *state = fx;
    return store_fx_init(fx, "test_store", true);
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

static struct msg_event
ev_msg(int64_t chat_id, int64_t message_id, int64_t date, const char *text)
{
    struct msg_event ev;

    msg_event_init(&ev);
    ev.source = MSG_SOURCE_EXPORT;
    ev.observed_at = DATE0 + 1000;
    ev.chat_id = chat_id;
    ev.chat_type = MSG_CHAT_CHANNEL;
    ev.chat_title = "Channel";
    ev.message_id = message_id;
    ev.date = date;
    ev.text = text;
    ev.sender_name = "Alice";
    return ev;
}

static struct msg_event
ev_del(int64_t chat_id, int64_t message_id, int64_t observed_at)
{
    struct msg_event ev;

    msg_event_init(&ev);
    ev.op = MSG_OP_DELETE;
    ev.source = MSG_SOURCE_TDLIB;
    ev.observed_at = observed_at;
    ev.chat_id = chat_id;
    ev.message_id = message_id;
    return ev;
}

static void
fin(struct msg_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(codec_event_finalize(&ev[i]), TGH_OK);
}

static struct store_stats
commit(struct store_fx *fx, struct msg_event *ev, size_t n)
{
    struct store_stats stats = { 0 };
    tgh_err rc;

    fin(ev, n);
    rc = store_batch_commit(fx->st, ev, n, &stats);
    if (rc != TGH_OK)
        fail_msg("commit: %s", tgh_errmsg());
    return stats;
}

static void
assert_stats(struct store_stats s, size_t ins, size_t ver, size_t unch, size_t ref, size_t del,
             size_t unk)
{
    assert_int_equal(s.inserted, ins);
    assert_int_equal(s.versioned, ver);
    assert_int_equal(s.unchanged, unch);
    assert_int_equal(s.refreshed, ref);
    assert_int_equal(s.deleted, del);
    assert_int_equal(s.delete_unknown, unk);
}

/* One integer from the raw connection, where both backends speak the same SQL. */
static int64_t
sql_i64(struct store_fx *fx, const char *sql)
{
    return store_fx_i64_2(fx, sql, sql);
}

/* The same where the dialects differ: SQLite's, then PostgreSQL's. */
static int64_t
sql_i64_2(struct store_fx *fx, const char *sqlite_sql, const char *pg_sql)
{
    return store_fx_i64_2(fx, sqlite_sql, pg_sql);
}

static void
sql_exec(struct store_fx *fx, const char *sql)
{
    store_fx_exec2(fx, sql, sql);
}

/* Everything the store writes, as one string, to compare before and after. */
static char *
snapshot(struct store_fx *fx)
{
    const char *sqlite_sql =
        "SELECT (SELECT group_concat(x, '|') FROM (SELECT quote(chat_id) || quote(type) ||"
        " quote(title) || quote(username) || quote(updated_at) AS x FROM chats ORDER BY chat_id))"
        " || '#' || (SELECT group_concat(x, '|') FROM (SELECT quote(chat_id) ||"
        " quote(message_id) || quote(text) ||"
        " quote(edit_date) || quote(views) || quote(forwards) || quote(replies) ||"
        " quote(reactions) || quote(content_hash) || quote(event) || quote(updated_at) ||"
        " quote(deleted_at) || quote(version_count) AS x FROM messages"
        " ORDER BY chat_id, message_id))"
        " || '#' || coalesce((SELECT group_concat(x, '|') FROM (SELECT quote(chat_id) ||"
        " quote(message_id) || quote(version) || quote(text) || quote(event) AS x"
        " FROM message_versions ORDER BY 1)), '')";
    const char *pg_sql =
        "SELECT (SELECT string_agg(concat_ws(',', chat_id, quote_nullable(type),"
        " quote_nullable(title), quote_nullable(username), updated_at), '|' ORDER BY chat_id)"
        " FROM chats) || '#' || (SELECT string_agg(concat_ws(',', chat_id, message_id,"
        " quote_nullable(text), quote_nullable(edit_date), quote_nullable(views),"
        " quote_nullable(forwards), quote_nullable(replies), quote_nullable(reactions),"
        " content_hash, quote_nullable(event), updated_at, quote_nullable(deleted_at),"
        " version_count), '|' ORDER BY chat_id, message_id) FROM messages) || '#' ||"
        " coalesce((SELECT string_agg(concat_ws(',', chat_id, message_id, version,"
        " quote_nullable(text), event), '|' ORDER BY chat_id, message_id, version)"
        " FROM message_versions), '')";
    char *out = store_fx_text2(fx, sqlite_sql, pg_sql);

    assert_non_null(out);
    return out;
}

#define MAX_ROWS 32

struct rows {
    size_t n;
    int64_t chat_id[MAX_ROWS];
    int64_t message_id[MAX_ROWS];
    int64_t date[MAX_ROWS];
    int64_t edit_date[MAX_ROWS];
    int64_t deleted_at[MAX_ROWS];
    int64_t versions[MAX_ROWS];
    char *text[MAX_ROWS];
    char *snippet[MAX_ROWS];
    char *event[MAX_ROWS];
    char *chat_title[MAX_ROWS];
};

static char *
dup_or_null(const char *s)
{
    return s != NULL ? tgh_strdup(s) : NULL;
}

static int
collect(void *arg, const struct store_message_row *r)
{
    struct rows *rows = arg;
    size_t i = rows->n++;

    assert_true(i < MAX_ROWS);
    rows->chat_id[i] = r->chat_id;
    rows->message_id[i] = r->message_id;
    rows->date[i] = r->date;
    rows->edit_date[i] = r->edit_date;
    rows->deleted_at[i] = r->deleted_at;
    rows->versions[i] = r->versions;
    rows->text[i] = dup_or_null(r->text);
    rows->snippet[i] = dup_or_null(r->snippet);
    rows->event[i] = dup_or_null(r->event);
    rows->chat_title[i] = dup_or_null(r->chat_title);
    return 0;
}

static void
rows_fini(struct rows *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        tgh_free(rows->text[i]);
        tgh_free(rows->snippet[i]);
        tgh_free(rows->event[i]);
        tgh_free(rows->chat_title[i]);
    }
    memset(rows, 0, sizeof(*rows));
}

static struct store_query
query_all(void)
{
    struct store_query q = { .chat_id = MSG_UNSET, .since = MSG_UNSET, .until = MSG_UNSET };

    return q;
}

static void
query(struct store_fx *fx, const struct store_query *q, struct rows *out)
{
    memset(out, 0, sizeof(*out));
    if (store_messages_each(fx->st, q, collect, out) != TGH_OK)
        fail_msg("messages_each: %s", tgh_errmsg());
}

static size_t
search_count(struct store_fx *fx, const char *match)
{
    struct store_query q = query_all();
    struct rows rows;
    size_t n;

    q.match = match;
    query(fx, &q, &rows);
    n = rows.n;
    rows_fini(&rows);
    return n;
}

static struct store_totals
totals(struct store_fx *fx)
{
    struct store_totals t;

    memset(&t, 0, sizeof(t));
    assert_int_equal(store_totals_get(fx->st, &t), TGH_OK);
    return t;
}

/* ---- tests ---- */

static void
test_insert(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[2] = { ev_msg(-1001, 1, DATE0, "first"),
                               ev_msg(-1001, 2, DATE0 + 5, "second") };
    struct rows rows;
    struct store_query q = query_all();

    struct msg_event back;
    struct tgh_arena a;

    ev[0].raw = json_pack("{s:i, s:s}", "id", 1, "text", "first");
    assert_stats(commit(fx, ev, 2), 2, 0, 0, 0, 0, 0);
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 2);
    assert_int_equal(rows.message_id[0], 1);
    /* The event column is the whole event, raw included. */
    tgh_arena_init(&a, 4096);
    assert_int_equal(codec_event_decode(rows.event[0], strlen(rows.event[0]), &a, &back), TGH_OK);
    assert_true(codec_event_equal(&ev[0], &back));
    assert_non_null(back.raw);
    msg_event_fini(&back);
    msg_event_fini(&ev[0]);
    tgh_arena_fini(&a);
    assert_string_equal(rows.text[1], "second");
    assert_string_equal(rows.chat_title[0], "Channel");
    assert_int_equal(rows.edit_date[0], 0);
    assert_int_equal(rows.deleted_at[0], 0);
    assert_int_equal(rows.versions[0], 0);
    assert_non_null(strstr(rows.event[0], "\"first\""));
    rows_fini(&rows);
    assert_int_equal(sql_i64(fx, "SELECT first_seen_at FROM messages WHERE message_id = 1"),
                     DATE0 + 1000);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE idempotency_key = "
                                 "'-1001:1700000000:1' AND source = 'export'"),
                     1);
}

static void
test_identical_recommit_is_noop(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 1, DATE0, "same");

    assert_stats(commit(fx, &ev, 1), 1, 0, 0, 0, 0, 0);
    sql_exec(fx, "UPDATE messages SET updated_at = 7");
    sql_exec(fx, "UPDATE chats SET updated_at = 7");
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT updated_at FROM messages"), 7);
    assert_int_equal(sql_i64(fx, "SELECT updated_at FROM chats"), 7);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 0);
}

static void
test_chat_refresh_does_not_count_as_insert(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 1, DATE0, "same");

    commit(fx, &ev, 1);
    ev.chat_title = "Renamed";
    ev.chat_username = "renamed";
    /* Not an insert and not an edit: the stored event learns the new names. */
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM chats WHERE title = 'Renamed'"
                                 " AND username = 'renamed' AND type = 'channel'"),
                     1);
    /* An event that does not know the chat's names keeps them. */
    ev.chat_title = NULL;
    ev.chat_username = NULL;
    ev.chat_type = MSG_CHAT_UNKNOWN;
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM chats WHERE title = 'Renamed'"
                                 " AND username = 'renamed' AND type = 'channel'"),
                     1);
}

static void
test_edit_keeps_previous_version(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event v1 = ev_msg(-1001, 1, DATE0, "hello world");
    struct msg_event v2 = ev_msg(-1001, 1, DATE0, "goodbye moon");
    struct rows rows;
    struct store_query q = query_all();

    commit(fx, &v1, 1);
    v2.edit_date = DATE0 + 60;
    assert_stats(commit(fx, &v2, 1), 0, 1, 0, 0, 0, 0);

    query(fx, &q, &rows);
    assert_int_equal(rows.n, 1);
    assert_string_equal(rows.text[0], "goodbye moon");
    assert_int_equal(rows.edit_date[0], DATE0 + 60);
    assert_int_equal(rows.versions[0], 1);
    rows_fini(&rows);

    assert_int_equal(store_versions_each(fx->st, -1001, 1, collect, &rows), TGH_OK);
    assert_int_equal(rows.n, 1);
    assert_string_equal(rows.text[0], "hello world");
    assert_non_null(strstr(rows.event[0], "hello world"));
    assert_null(strstr(rows.event[0], "goodbye"));
    assert_int_equal(rows.edit_date[0], 0);
    rows_fini(&rows);

    assert_int_equal(search_count(fx, "goodbye"), 1);
    assert_int_equal(search_count(fx, "moon"), 1);
    assert_int_equal(search_count(fx, "hello"), 0);
    assert_int_equal(search_count(fx, "world"), 0);

    /* The same edit again is a no-op. */
    assert_stats(commit(fx, &v2, 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 1);
}

static void
test_old_version_after_new_is_history(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event v1 = ev_msg(-1001, 1, DATE0, "original");
    struct msg_event v2 = ev_msg(-1001, 1, DATE0, "edited");
    struct rows rows;

    v2.edit_date = DATE0 + 60;
    commit(fx, &v2, 1);
    /* An old export without the edit arrives later: history, not the current text. */
    assert_stats(commit(fx, &v1, 1), 0, 1, 0, 0, 0, 0);
    assert_stats(commit(fx, &v1, 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE text = 'edited'"
                                 " AND version_count = 1"),
                     1);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(store_versions_each(fx->st, -1001, 1, collect, &rows), TGH_OK);
    assert_int_equal(rows.n, 1);
    assert_string_equal(rows.text[0], "original");
    rows_fini(&rows);
    assert_int_equal(search_count(fx, "original"), 0);
}

static void
test_edit_back_to_original_is_a_version(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event a = ev_msg(-1001, 1, DATE0, "text A");
    struct msg_event b = ev_msg(-1001, 1, DATE0, "text B");
    struct msg_event a2 = ev_msg(-1001, 1, DATE0, "text A");
    struct rows rows;

    b.edit_date = DATE0 + 10;
    a2.edit_date = DATE0 + 20;
    commit(fx, &a, 1);
    assert_stats(commit(fx, &b, 1), 0, 1, 0, 0, 0, 0);
    assert_stats(commit(fx, &a2, 1), 0, 1, 0, 0, 0, 0);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(store_versions_each(fx->st, -1001, 1, collect, &rows), TGH_OK);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.text[0], "text A");
    assert_string_equal(rows.text[1], "text B");
    assert_int_equal(rows.versions[1], 1);
    rows_fini(&rows);
    /* Redelivering any of the three changes nothing. */
    assert_stats(commit(fx, &a, 1), 0, 0, 1, 0, 0, 0);
    assert_stats(commit(fx, &b, 1), 0, 0, 1, 0, 0, 0);
    assert_stats(commit(fx, &a2, 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE text = 'text A'"
                                 " AND version_count = 2"),
                     1);
}

static void
test_counters_refresh_without_version(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 1, DATE0, "counted");
    struct msg_reaction r[2] = { { .type = "emoji", .emoji = "\xf0\x9f\x91\x8d", .count = 3 },
                                 { .type = "custom_emoji", .custom_emoji_id = "42", .count = 1 } };

    ev.views = 10;
    commit(fx, &ev, 1);
    ev.views = 12;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT views FROM messages"), 12);

    /* A counter the event does not know never clobbers a known one. */
    ev.views = MSG_UNSET;
    ev.forwards = 3;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT views FROM messages"), 12);
    assert_int_equal(sql_i64(fx, "SELECT forwards FROM messages"), 3);
    /* The stored event, what messages --json and export print, knows both. */
    assert_int_equal(sql_i64_2(fx, "SELECT json_extract(event, '$.views') FROM messages",
                               "SELECT (event::jsonb ->> 'views')::bigint FROM messages"),
                     12);
    assert_int_equal(sql_i64_2(fx, "SELECT json_extract(event, '$.forwards') FROM messages",
                               "SELECT (event::jsonb ->> 'forwards')::bigint FROM messages"),
                     3);
    ev.forwards = MSG_UNSET;
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);

    ev.replies = 0;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT replies FROM messages"), 0);

    /* Reactions: refreshed when known and different, kept when unknown. */
    ev.has_reactions = true;
    ev.n_reactions = 2;
    ev.reactions = r;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
    r[0].count = 4;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64_2(fx, "SELECT json_extract(reactions, '$[0].count') FROM messages",
                               "SELECT (reactions::jsonb -> 0 ->> 'count')::bigint FROM messages"),
                     4);
    ev.has_reactions = false;
    ev.n_reactions = 0;
    ev.reactions = NULL;
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64_2(fx, "SELECT json_array_length(reactions) FROM messages",
                               "SELECT jsonb_array_length(reactions::jsonb) FROM messages"),
                     2);
    /* Known and empty is a change too. */
    ev.has_reactions = true;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64_2(fx, "SELECT json_array_length(reactions) FROM messages",
                               "SELECT jsonb_array_length(reactions::jsonb) FROM messages"),
                     0);

    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 0);
    assert_int_equal(sql_i64(fx, "SELECT version_count FROM messages"), 0);
}

/*
 * Same content, newer state: poll votes, sender name, a corrected date. The
 * row and its event follow without a version; what the new event does not
 * know (views) stays; re-applying either event afterwards changes nothing.
 */
static void
test_state_refresh_updates_event(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 7, DATE0, "vote");
    struct msg_poll_answer ans[2] = { { .text = "yes", .voters = 1 },
                                      { .text = "no", .voters = 0 } };
    struct msg_poll poll = { .question = "ok?", .total_voters = 1, .n_answers = 2, .answers = ans };

    ev.poll = &poll;
    ev.views = 50;
    commit(fx, &ev, 1);
    ans[0].voters = 9;
    poll.total_voters = 9;
    ev.views = MSG_UNSET;
    ev.sender_name = "Alice B.";
    ev.date = DATE0 - 3600; /* the export's date read in the right zone */
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(
        sql_i64_2(fx, "SELECT json_extract(event, '$.poll.total_voters') FROM messages",
                  "SELECT (event::jsonb #>> '{poll,total_voters}')::bigint FROM messages"),
        9);
    assert_int_equal(sql_i64_2(fx,
                               "SELECT json_extract(event, '$.poll.answers[0].voters')"
                               " FROM messages",
                               "SELECT (event::jsonb #>> '{poll,answers,0,voters}')::bigint"
                               " FROM messages"),
                     9);
    assert_int_equal(sql_i64_2(fx,
                               "SELECT count(*) FROM messages WHERE sender_name = 'Alice B.'"
                               " AND json_extract(event, '$.sender.name') = 'Alice B.'",
                               "SELECT count(*) FROM messages WHERE sender_name = 'Alice B.'"
                               " AND event::jsonb #>> '{sender,name}' = 'Alice B.'"),
                     1);
    assert_int_equal(sql_i64(fx, "SELECT date FROM messages"), DATE0 - 3600);
    assert_int_equal(sql_i64_2(fx,
                               "SELECT count(*) FROM messages WHERE idempotency_key ="
                               " '-1001:1699996400:7' AND json_extract(event,"
                               " '$.idempotency_key') = idempotency_key",
                               "SELECT count(*) FROM messages WHERE idempotency_key ="
                               " '-1001:1699996400:7' AND event::jsonb ->> 'idempotency_key'"
                               " = idempotency_key"),
                     1);
    assert_int_equal(sql_i64_2(fx, "SELECT json_extract(event, '$.views') FROM messages",
                               "SELECT (event::jsonb ->> 'views')::bigint FROM messages"),
                     50);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 0);
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
    ev.views = 50;
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
}

static void
test_delete_is_a_tombstone(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[2] = { ev_msg(-1001, 1, DATE0, "doomed"), ev_msg(-1001, 2, DATE0, "kept") };
    struct msg_event del = ev_del(-1001, 1, DATE0 + 500);
    struct msg_event unknown[2] = { ev_del(-1001, 99, DATE0), ev_del(-2002, 1, DATE0) };
    struct store_query q = query_all();
    struct store_totals t;
    struct rows rows;

    commit(fx, ev, 2);
    assert_stats(commit(fx, &del, 1), 0, 0, 0, 0, 1, 0);
    assert_stats(commit(fx, &del, 1), 0, 0, 1, 0, 0, 0);
    assert_stats(commit(fx, unknown, 2), 0, 0, 0, 0, 0, 2);

    q.chat_id = -1001;
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 2);
    assert_string_equal(rows.text[0], "doomed");
    assert_int_equal(rows.deleted_at[0], DATE0 + 500);
    assert_int_equal(rows.deleted_at[1], 0);
    rows_fini(&rows);

    t = totals(fx);
    assert_int_equal(t.messages, 1);
    assert_int_equal(t.deleted, 1);
    assert_int_equal(t.chats, 1); /* a delete of an unknown message stores nothing */

    /* An upsert of a tombstoned message does not bring it back. */
    assert_stats(commit(fx, &ev[0], 1), 0, 0, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT deleted_at FROM messages WHERE message_id = 1"),
                     DATE0 + 500);
}

static void
test_reapplying_mixed_batch_is_noop(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[7] = {
        ev_msg(-1001, 1, DATE0, "one"),         ev_msg(-1001, 2, DATE0 + 1, "two"),
        ev_msg(-1001, 1, DATE0, "one, edited"), ev_del(-1001, 2, DATE0 + 9),
        ev_msg(42, 7, DATE0 + 2, "private"),    ev_del(42, 8, DATE0 + 9),
        ev_msg(-1001, 3, DATE0 + 3, NULL),
    };
    struct store_stats stats = { 0 };
    char *before, *after;

    ev[2].edit_date = DATE0 + 30;
    ev[4].chat_type = MSG_CHAT_PRIVATE;
    ev[4].chat_title = "Bob";
    ev[4].views = 5;
    ev[6].media = &(struct msg_media){ .kind = "photo", .size_bytes = MSG_UNSET };
    assert_stats(commit(fx, ev, 7), 4, 1, 0, 0, 1, 1);
    before = snapshot(fx);
    /* The delete of the unknown message 8 was remembered: now unchanged too. */
    assert_stats(commit(fx, ev, 7), 0, 0, 7, 0, 0, 0);
    after = snapshot(fx);
    assert_string_equal(before, after);
    tgh_free(before);
    tgh_free(after);

    /* stats are added to, not overwritten */
    stats.inserted = 100;
    assert_int_equal(store_batch_commit(fx->st, ev, 7, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 100);
    assert_int_equal(stats.unchanged, 7);
}

/*
 * A deletion seen before its message (live collection, or a replayed batch
 * in another order): the message arrives already tombstoned, and applying the
 * batch again changes nothing.
 */
static void
test_delete_before_upsert_is_order_independent(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[2] = { ev_del(-1001, 5, DATE0 + 50), ev_msg(-1001, 5, DATE0, "late") };
    char *before, *after;

    assert_stats(commit(fx, ev, 2), 1, 0, 0, 0, 0, 1);
    assert_int_equal(sql_i64(fx, "SELECT deleted_at FROM messages WHERE message_id = 5"),
                     DATE0 + 50);
    before = snapshot(fx);
    assert_stats(commit(fx, ev, 2), 0, 0, 2, 0, 0, 0);
    after = snapshot(fx);
    assert_string_equal(before, after);
    tgh_free(before);
    tgh_free(after);
}

/*
 * An edit: the row takes the new content and every state the new event
 * knows (date, sender), and keeps the state only the stored event knew
 * (reactions); the version holds the previous row.
 */
static void
test_edit_merges_state(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 9, DATE0, "before");
    struct msg_reaction r = { .type = "emoji", .emoji = "\xf0\x9f\x91\x8d", .count = 3 };

    ev.has_reactions = true;
    ev.n_reactions = 1;
    ev.reactions = &r;
    commit(fx, &ev, 1);
    ev.text = "after";
    ev.edit_date = DATE0 + 100;
    ev.date = DATE0 + 1;
    ev.sender_name = "C renamed";
    ev.has_reactions = false;
    ev.n_reactions = 0;
    ev.reactions = NULL;
    assert_stats(commit(fx, &ev, 1), 0, 1, 0, 0, 0, 0);
    assert_int_equal(sql_i64_2(fx,
                               "SELECT count(*) FROM messages WHERE text = 'after'"
                               " AND date = json_extract(event, '$.date')"
                               " AND sender_name = 'C renamed'"
                               " AND json_extract(event, '$.sender.name') = 'C renamed'"
                               " AND json_extract(event, '$.reactions[0].count') = 3"
                               " AND json_extract(reactions, '$[0].count') = 3",
                               "SELECT count(*) FROM messages WHERE text = 'after'"
                               " AND date = (event::jsonb ->> 'date')::bigint"
                               " AND sender_name = 'C renamed'"
                               " AND event::jsonb #>> '{sender,name}' = 'C renamed'"
                               " AND event::jsonb #>> '{reactions,0,count}' = '3'"
                               " AND reactions::jsonb -> 0 ->> 'count' = '3'"),
                     1);
    assert_int_equal(sql_i64(fx, "SELECT date FROM messages WHERE message_id = 9"), DATE0 + 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions WHERE text = 'before'"), 1);
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
}

/* An older copy of the current text (A@5 after A@20) is history, not a rollback. */
static void
test_older_copy_of_current_text_is_history(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event a5 = ev_msg(-1001, 12, DATE0, "A"), b10 = a5, a20 = a5;
    char *before, *after;

    a5.edit_date = DATE0 + 5;
    b10.text = "B";
    b10.edit_date = DATE0 + 10;
    a20.edit_date = DATE0 + 20;
    commit(fx, &a5, 1);
    commit(fx, &b10, 1);
    commit(fx, &a20, 1);
    before = snapshot(fx);
    assert_stats(commit(fx, &a5, 1), 0, 0, 1, 0, 0, 0);
    assert_stats(commit(fx, &b10, 1), 0, 0, 1, 0, 0, 0);
    after = snapshot(fx);
    assert_string_equal(before, after);
    assert_int_equal(sql_i64(fx, "SELECT edit_date FROM messages WHERE message_id = 12"),
                     DATE0 + 20);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions WHERE message_id = 12"), 2);
    tgh_free(before);
    tgh_free(after);
}

/* An old version arriving late gives the row the state only it knew: order does not matter. */
static void
test_late_old_version_fills_state(void **state)
{
    struct store_fx *fx = *state;
    struct msg_reaction r = { .type = "emoji", .emoji = "\xf0\x9f\x91\x8d", .count = 3 };
    struct msg_event old = ev_msg(-1001, 13, DATE0, "A"), upd = old;

    old.has_reactions = true;
    old.n_reactions = 1;
    old.reactions = &r;
    upd.text = "B";
    upd.edit_date = DATE0 + 10;
    commit(fx, &upd, 1);
    assert_stats(commit(fx, &old, 1), 0, 1, 0, 0, 0, 0);
    assert_int_equal(sql_i64_2(fx,
                               "SELECT json_extract(event, '$.reactions[0].count') FROM messages"
                               " WHERE message_id = 13 AND text = 'B'",
                               "SELECT (event::jsonb #>> '{reactions,0,count}')::bigint"
                               " FROM messages WHERE message_id = 13 AND text = 'B'"),
                     3);
    /* The other order, on a fresh message id: the same row. */
    sql_exec(fx, "DELETE FROM message_versions; DELETE FROM messages");
    commit(fx, &old, 1);
    commit(fx, &upd, 1);
    assert_int_equal(sql_i64_2(fx,
                               "SELECT json_extract(reactions, '$[0].count') FROM messages"
                               " WHERE message_id = 13 AND text = 'B'",
                               "SELECT (reactions::jsonb -> 0 ->> 'count')::bigint FROM messages"
                               " WHERE message_id = 13 AND text = 'B'"),
                     3);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 1);
}

/* A stored event that no longer validates never blocks new data for its message. */
static void
test_unreadable_stored_event_is_replaced(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 11, DATE0, "x");

    commit(fx, &ev, 1);
    /* album_id 0 is invalid, and the new event does not override it. */
    store_fx_exec2(fx, "UPDATE messages SET event = json_set(event, '$.album_id', 0)",
                   "UPDATE messages SET event = jsonb_set(event::jsonb, '{album_id}', '0')::text");
    ev.views = 4;
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64_2(fx, "SELECT json_extract(event, '$.views') FROM messages",
                               "SELECT (event::jsonb ->> 'views')::bigint FROM messages"),
                     4);
    ev.text = "y";
    assert_stats(commit(fx, &ev, 1), 0, 1, 0, 0, 0, 0);
}

static void
test_same_key_twice_in_one_batch(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[4] = { ev_msg(-1001, 1, DATE0, "v1"), ev_msg(-1001, 1, DATE0, "v2"),
                               ev_msg(-1001, 2, DATE0, "same"), ev_msg(-1001, 2, DATE0, "same") };

    ev[1].edit_date = DATE0 + 1;
    assert_stats(commit(fx, ev, 4), 2, 1, 1, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE text = 'v2'"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions WHERE text = 'v1'"), 1);
}

/* What each event changed, in one batch and across batches: the live feed's input. */
static void
test_changes_per_event(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[7] = { ev_msg(-1001, 1, DATE0, "v1"),   ev_msg(-1001, 1, DATE0, "v2"),
                               ev_msg(-1001, 2, DATE0, "same"), ev_msg(-1001, 2, DATE0, "same"),
                               ev_del(-1001, 2, DATE0 + 5),     ev_del(-1001, 2, DATE0 + 6),
                               ev_del(-1001, 77, DATE0 + 7) };
    enum store_change want[7] = { STORE_CHANGE_NEW,   STORE_CHANGE_EDIT,   STORE_CHANGE_NEW,
                                  STORE_CHANGE_NONE,  STORE_CHANGE_DELETE, STORE_CHANGE_NONE,
                                  STORE_CHANGE_DELETE };
    enum store_change got[7];
    struct store_stats stats = { 0 };

    ev[1].edit_date = DATE0 + 1;
    fin(ev, 7);
    memset(got, 0xff, sizeof(got));
    assert_int_equal(store_batch_commit_changes(fx->st, ev, 7, &stats, got), TGH_OK);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(got[i], want[i]);
    /* The same batch again changes nothing: no duplicates in a feed. */
    assert_int_equal(store_batch_commit_changes(fx->st, ev, 7, &stats, got), TGH_OK);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(got[i], STORE_CHANGE_NONE);
    assert_string_equal(store_change_name(STORE_CHANGE_EDIT), "edit");
}

static void
test_failing_batch_rolls_back(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ok = ev_msg(-1001, 1, DATE0, "kept");
    struct msg_event ev[3] = { ev_msg(-1001, 2, DATE0, "a"), ev_msg(-2002, 3, DATE0, "b"),
                               ev_msg(-1001, 4, DATE0, "bad") };
    struct store_stats stats = { .inserted = 5, .unchanged = 6 };
    tgh_err rc;

    commit(fx, &ok, 1);
    fin(ev, 3);
    ev[2].date = MSG_UNSET; /* the row's date is NOT NULL: the insert fails */
    rc = store_batch_commit(fx->st, ev, 3, &stats);
    assert_int_equal(rc, TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "event 2 of 3"));
    assert_non_null(strstr(tgh_errmsg(), "date"));
    assert_int_equal(stats.inserted, 5);
    assert_int_equal(stats.unchanged, 6);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM chats"), 1);
    assert_int_equal(search_count(fx, "b"), 0);

    /* An event that never went through codec_event_finalize() is refused. */
    ev[2].date = DATE0;
    ev[2].content_hash[0] = '\0';
    assert_int_equal(store_batch_commit(fx->st, ev, 3, &stats), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "finalized"));
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), 1);

    /* The store is usable afterwards. */
    assert_int_equal(codec_event_finalize(&ev[2]), TGH_OK);
    assert_int_equal(store_batch_commit(fx->st, ev, 3, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 8);
}

static void
test_migrations_idempotent_and_future_refused(void **state)
{
    struct store_fx *fx = *state;
    struct store *st2 = NULL;

    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations"),
                     sql_i64(fx, "SELECT max(version) FROM schema_migrations"));
    store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(store_open(fx->url, &fx->st), TGH_OK);
    assert_int_equal(store_open(fx->url, &st2), TGH_OK); /* a second connection, too */
    store_close(st2);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM schema_migrations WHERE version = 1"
                                 " AND name = '001_init.sql' AND applied_at > 0"),
                     1);

    store_close(fx->st);
    fx->st = NULL;
    sql_exec(fx, "INSERT INTO schema_migrations VALUES (999, '999_future.sql', 0)");
    st2 = NULL;
    assert_int_equal(store_open(fx->url, &st2), TGH_EINVAL);
    assert_null(st2);
    assert_non_null(strstr(tgh_errmsg(), "schema version 999 is newer"));
}

static void
test_wal_mode(void **state)
{
    struct store_fx *fx = *state;
    sqlite3_stmt *s = NULL;

    assert_int_equal(sqlite3_prepare_v2(fx->sq, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
}

struct chats {
    size_t n;
    struct store_chat_row row[8];
    char title[8][32];
};

static int
collect_chat(void *arg, const struct store_chat_row *r)
{
    struct chats *c = arg;

    assert_true(c->n < 8);
    c->row[c->n] = *r;
    (void)snprintf(c->title[c->n], sizeof(c->title[0]), "%s", r->title ? r->title : "(null)");
    c->row[c->n].type = NULL;
    c->row[c->n].title = NULL;
    c->row[c->n].username = NULL;
    c->n++;
    return 0;
}

static void
test_chats_each_counts_and_dates(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[5] = { ev_msg(-1001, 10, DATE0 + 10, "a"),
                               ev_msg(-1001, 12, DATE0 + 30, "b"),
                               ev_msg(-1001, 11, DATE0 + 20, "c"), ev_msg(77, 1, DATE0 + 5, "d"),
                               ev_del(-1001, 12, DATE0 + 99) };
    struct chats c = { 0 };

    ev[3].chat_title = "Carol";
    ev[3].chat_type = MSG_CHAT_PRIVATE;
    commit(fx, ev, 5);
    assert_int_equal(store_chats_each(fx->st, collect_chat, &c), TGH_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.row[0].chat_id, -1001);
    assert_string_equal(c.title[0], "Channel");
    assert_int_equal(c.row[0].message_count, 2);
    assert_int_equal(c.row[0].deleted_count, 1);
    assert_int_equal(c.row[0].first_date, DATE0 + 10);
    assert_int_equal(c.row[0].last_date, DATE0 + 30);
    assert_int_equal(c.row[0].last_message_id, 12);
    assert_int_equal(c.row[1].chat_id, 77);
    assert_string_equal(c.title[1], "Carol");
    assert_int_equal(c.row[1].message_count, 1);
    assert_int_equal(c.row[1].deleted_count, 0);
}

/* A chat with no messages exists; unknown type and NULL title keep what is stored. */
static void
test_chat_upsert_without_messages(void **state)
{
    struct store_fx *fx = *state;
    struct chats c = { 0 };

    assert_int_equal(store_chat_upsert(fx->st, 555, MSG_CHAT_BOT, "Helper Bot", "helperbot"),
                     TGH_OK);
    assert_int_equal(store_chat_upsert(fx->st, 555, MSG_CHAT_UNKNOWN, NULL, NULL), TGH_OK);
    assert_int_equal(store_chat_upsert(fx->st, 0, MSG_CHAT_BOT, NULL, NULL), TGH_EINVAL);
    assert_int_equal(store_chats_each(fx->st, collect_chat, &c), TGH_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.row[0].chat_id, 555);
    assert_string_equal(c.title[0], "Helper Bot");
    assert_int_equal(c.row[0].message_count, 0);
    assert_int_equal(c.row[0].first_date, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM chats WHERE type = 'bot'"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM chats WHERE username = 'helperbot'"), 1);
}

static void
test_messages_each_filters(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[5] = { ev_msg(-1001, 1, DATE0 + 10, "a"), ev_msg(-1001, 2, DATE0 + 20, "b"),
                               ev_msg(-1001, 3, DATE0 + 30, "c"), ev_msg(-1001, 4, DATE0 + 40, "d"),
                               ev_msg(55, 1, DATE0 + 25, "other chat") };
    struct store_query q = query_all();
    struct rows rows;

    commit(fx, ev, 5);
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 5);
    assert_int_equal(rows.chat_id[2], 55); /* ordered by date across chats */
    rows_fini(&rows);

    q.chat_id = -1001;
    q.since = DATE0 + 20;
    q.until = DATE0 + 40;
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 2);
    assert_int_equal(rows.message_id[0], 2);
    assert_int_equal(rows.message_id[1], 3);
    rows_fini(&rows);

    q = query_all();
    q.chat_id = -1001;
    q.newest_first = true;
    q.limit = 3;
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 3);
    assert_int_equal(rows.message_id[0], 4);
    assert_int_equal(rows.message_id[2], 2);
    rows_fini(&rows);

    q = query_all();
    q.chat_id = 12345;
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 0);
}

static int
stop_after_one(void *arg, const struct store_message_row *r)
{
    (void)r;
    (*(int *)arg)++;
    return 1;
}

static void
test_messages_each_callback_stops(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[3] = { ev_msg(1, 1, DATE0, "x"), ev_msg(1, 2, DATE0, "y"),
                               ev_msg(1, 3, DATE0, "z") };
    struct store_query q = query_all();
    int calls = 0;

    commit(fx, ev, 3);
    assert_int_equal(store_messages_each(fx->st, &q, stop_after_one, &calls), TGH_OK);
    assert_int_equal(calls, 1);
}

/* The message ids q lists, in order, as "1,2,3", compared with want. */
static void
assert_ids(struct store_fx *fx, const struct store_query *q, const char *want)
{
    struct rows rows;
    char got[256] = "";
    size_t len = 0;

    query(fx, q, &rows);
    for (size_t i = 0; i < rows.n; i++)
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%" PRId64, i > 0 ? "," : "",
                                rows.message_id[i]);
    rows_fini(&rows);
    assert_string_equal(got, want);
}

static void
test_messages_id_window(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[20];
    struct store_query q = query_all();
    struct rows rows;

    for (int i = 0; i < 10; i++) {
        ev[i] = ev_msg(-1001, i + 1, DATE0 + (i + 1) * 10, "in the chat");
        ev[10 + i] = ev_msg(55, i + 1, DATE0 + (i + 1) * 10, "another chat");
    }
    commit(fx, ev, 20);

    q.chat_id = -1001;
    q.after_id = 2;
    q.before_id = 9; /* both bounds exclusive: 3..8 */
    assert_ids(fx, &q, "3,4,5,6,7,8");
    q.limit = 3;
    q.by_id = true;
    assert_ids(fx, &q, "3,4,5");
    q.newest_first = true;
    assert_ids(fx, &q, "8,7,6");
    q.by_id = false; /* dates follow the ids here: the same windows */
    assert_ids(fx, &q, "8,7,6");
    q.newest_first = false;
    assert_ids(fx, &q, "3,4,5");

    q = query_all();
    q.chat_id = -1001;
    q.after_id = 8;
    assert_ids(fx, &q, "9,10");
    q.after_id = 0;
    q.before_id = 3;
    assert_ids(fx, &q, "1,2");
    q.since = DATE0 + 20; /* with the date filters too */
    assert_ids(fx, &q, "2");
    q.before_id = 1;
    assert_ids(fx, &q, "");

    /* Message ids are per chat: a window without one is refused. */
    q = query_all();
    q.after_id = 2;
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(store_messages_each(fx->st, &q, collect, &rows), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "needs a chat"));
    q.after_id = 0;
    q.before_id = 5;
    assert_int_equal(store_messages_each(fx->st, &q, collect, &rows), TGH_EINVAL);
    assert_int_equal(rows.n, 0);
    q.before_id = 0;
    q.by_id = true; /* id order alone is fine across chats: (message_id, chat_id) */
    q.limit = 4;
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 4);
    assert_int_equal(rows.message_id[0], 1);
    assert_int_equal(rows.chat_id[0], -1001);
    assert_int_equal(rows.message_id[1], 1);
    assert_int_equal(rows.chat_id[1], 55);
    assert_int_equal(rows.message_id[3], 2);
    assert_int_equal(rows.chat_id[3], 55);
    rows_fini(&rows);
}

/* Where dates and ids disagree (a message with a higher id but an earlier date). */
static void
test_messages_by_id_vs_date(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[4] = { ev_msg(-1001, 1, DATE0 + 10, "a"), ev_msg(-1001, 2, DATE0 + 30, "b"),
                               ev_msg(-1001, 3, DATE0 + 20, "c"),
                               ev_msg(-1001, 4, DATE0 + 5, "d") };
    struct store_query q = query_all();

    commit(fx, ev, 4);
    q.chat_id = -1001;
    assert_ids(fx, &q, "4,1,3,2");
    q.newest_first = true;
    assert_ids(fx, &q, "2,3,1,4");
    q.by_id = true;
    assert_ids(fx, &q, "4,3,2,1");
    q.limit = 2;
    assert_ids(fx, &q, "4,3");
    q.newest_first = false;
    assert_ids(fx, &q, "1,2");
    q.limit = 0;
    q.after_id = 1;
    q.before_id = 4;
    assert_ids(fx, &q, "2,3");
    q.by_id = false;
    assert_ids(fx, &q, "3,2");
    q.newest_first = true;
    assert_ids(fx, &q, "2,3");
}

/* Checks that a long listing comes in strictly increasing (or decreasing) key order. */
struct id_seq {
    size_t n;
    bool desc, by_chat_too;
    int64_t first_id, last_id, last_chat;
};

static int
check_seq(void *arg, const struct store_message_row *r)
{
    struct id_seq *s = arg;

    if (s->n == 0) {
        s->first_id = r->message_id;
    } else {
        int64_t a = s->desc ? r->message_id : s->last_id, b = s->desc ? s->last_id : r->message_id;
        int64_t ca = s->desc ? r->chat_id : s->last_chat, cb = s->desc ? s->last_chat : r->chat_id;

        /* (message_id, chat_id) grows; within one chat the id alone does. */
        assert_true(a < b || (s->by_chat_too && a == b && ca < cb));
    }
    s->last_id = r->message_id;
    s->last_chat = r->chat_id;
    s->n++;
    return 0;
}

static void
seq(struct store_fx *fx, const struct store_query *q, struct id_seq *s, bool desc, bool by_chat_too)
{
    memset(s, 0, sizeof(*s));
    s->desc = desc;
    s->by_chat_too = by_chat_too;
    if (store_messages_each(fx->st, q, check_seq, s) != TGH_OK)
        fail_msg("messages_each: %s", tgh_errmsg());
}

/* More rows than a PostgreSQL page (1000), dates running against the ids. */
#define PAGED_IDS 1100

static void
test_messages_by_id_pages(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event *ev = tgh_calloc(2 * PAGED_IDS, sizeof(*ev));
    struct store_query q = query_all();
    struct id_seq s;

    /*
     * Chat 55 starts at id 2, so across chats rows 1000 and 1001 are (501,
     * -1001) and (501, 55): the first PostgreSQL page ends inside a tie.
     */
    for (int i = 0; i < PAGED_IDS; i++)
        ev[i] = ev_msg(-1001, i + 1, DATE0 + PAGED_IDS - i, "paged");
    for (int i = 1; i < PAGED_IDS; i++)
        ev[PAGED_IDS + i - 1] = ev_msg(55, i + 1, DATE0 + PAGED_IDS - i, "paged");
    commit(fx, ev, 2 * PAGED_IDS - 1);
    tgh_free(ev);

    q.chat_id = -1001;
    q.by_id = true;
    seq(fx, &q, &s, false, false);
    assert_int_equal(s.n, PAGED_IDS);
    assert_int_equal(s.first_id, 1);
    assert_int_equal(s.last_id, PAGED_IDS);
    q.newest_first = true;
    q.limit = 1050;
    seq(fx, &q, &s, true, false);
    assert_int_equal(s.n, 1050);
    assert_int_equal(s.first_id, PAGED_IDS);
    assert_int_equal(s.last_id, PAGED_IDS - 1049);
    q.limit = 0;
    q.after_id = 10;
    q.before_id = PAGED_IDS;
    seq(fx, &q, &s, true, false);
    assert_int_equal(s.n, PAGED_IDS - 11);
    assert_int_equal(s.first_id, PAGED_IDS - 1);
    assert_int_equal(s.last_id, 11);
    /* Ordered by date (oldest first) the ids come down: the dates run against them. */
    q.by_id = false;
    q.newest_first = false;
    seq(fx, &q, &s, true, false);
    assert_int_equal(s.n, PAGED_IDS - 11);
    assert_int_equal(s.first_id, PAGED_IDS - 1);
    assert_int_equal(s.last_id, 11);

    /* Every chat: (message_id, chat_id), across pages that end between two chats. */
    q = query_all();
    q.by_id = true;
    seq(fx, &q, &s, false, true);
    assert_int_equal(s.n, 2 * PAGED_IDS - 1);
    assert_int_equal(s.first_id, 1);
    assert_int_equal(s.last_id, PAGED_IDS);
    assert_int_equal(s.last_chat, 55);
    q.newest_first = true;
    seq(fx, &q, &s, true, true);
    assert_int_equal(s.n, 2 * PAGED_IDS - 1);
    assert_int_equal(s.first_id, PAGED_IDS);
    assert_int_equal(s.last_id, 1);
    assert_int_equal(s.last_chat, -1001);
}

/* Buckets as "start:count,start:count" relative to base, compared with want. */
struct buckets {
    int64_t base;
    size_t n, stop_after; /* stop_after 0: never */
    char text[256];
    size_t len;
};

static int
collect_bucket(void *arg, int64_t start, int64_t count)
{
    struct buckets *b = arg;

    b->len += (size_t)snprintf(b->text + b->len, sizeof(b->text) - b->len, "%s%" PRId64 ":%" PRId64,
                               b->n > 0 ? "," : "", start - b->base, count);
    b->n++;
    return b->stop_after != 0 && b->n == b->stop_after;
}

static void
assert_buckets(struct store_fx *fx, int64_t chat_id, int64_t since, int64_t until, int64_t bucket_s,
               int64_t base, const char *want)
{
    struct buckets b = { .base = base };

    if (store_message_buckets(fx->st, chat_id, since, until, bucket_s, collect_bucket, &b) !=
        TGH_OK)
        fail_msg("store_message_buckets: %s", tgh_errmsg());
    assert_string_equal(b.text, want);
}

#define HOUR0 INT64_C(1699999200) /* DATE0 rounded down to the hour */
#define DAY0  INT64_C(1699920000) /* DATE0 rounded down to the UTC day */

static void
test_message_buckets(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[8] = {
        ev_msg(-1001, 1, HOUR0, "a"),
        ev_msg(-1001, 2, HOUR0 + 100, "b"),
        ev_msg(-1001, 3, HOUR0 + 3599, "c"),
        ev_msg(-1001, 4, HOUR0 + 3600, "d"),
        ev_msg(-1001, 5, HOUR0 + 3 * 3600 + 5, "e"), /* no message in the hour before */
        ev_msg(55, 1, HOUR0 + 50, "other chat"),
        ev_del(-1001, 2, DATE0 + 99),   /* a tombstone still counts */
        ev_del(-1001, 999, DATE0 + 99), /* a deletion of an unknown message has no date */
    };
    struct buckets b = { .base = HOUR0, .stop_after = 1 };

    commit(fx, ev, 8);
    assert_buckets(fx, -1001, MSG_UNSET, MSG_UNSET, 3600, HOUR0, "0:3,3600:1,10800:1");
    assert_buckets(fx, MSG_UNSET, MSG_UNSET, MSG_UNSET, 3600, HOUR0, "0:4,3600:1,10800:1");
    /* [since, until): until is exclusive, and a cut bucket keeps its aligned start. */
    assert_buckets(fx, -1001, HOUR0 + 3600, HOUR0 + 3 * 3600 + 5, 3600, HOUR0, "3600:1");
    assert_buckets(fx, -1001, HOUR0 + 3600, HOUR0 + 3 * 3600 + 6, 3600, HOUR0, "3600:1,10800:1");
    assert_buckets(fx, -1001, HOUR0 + 100, MSG_UNSET, 3600, HOUR0, "0:2,3600:1,10800:1");
    assert_buckets(fx, MSG_UNSET, MSG_UNSET, HOUR0 + 3600, 3600, HOUR0, "0:4");
    /* UTC days: HOUR0 + 3 h is past midnight. */
    assert_buckets(fx, -1001, MSG_UNSET, MSG_UNSET, 86400, DAY0, "0:4,86400:1");
    assert_buckets(fx, -1001, MSG_UNSET, MSG_UNSET, 60, HOUR0, "0:1,60:1,3540:1,3600:1,10800:1");
    assert_buckets(fx, 12345, MSG_UNSET, MSG_UNSET, 3600, HOUR0, "");

    assert_int_equal(
        store_message_buckets(fx->st, -1001, MSG_UNSET, MSG_UNSET, 3600, collect_bucket, &b),
        TGH_OK);
    assert_int_equal(b.n, 1); /* the callback stopped it */

    assert_int_equal(
        store_message_buckets(fx->st, -1001, MSG_UNSET, MSG_UNSET, 59, collect_bucket, &b),
        TGH_EINVAL);
    assert_int_equal(store_message_buckets(fx->st, -1001, MSG_UNSET, MSG_UNSET, 86400 * 31 + 1,
                                           collect_bucket, &b),
                     TGH_EINVAL);
    assert_int_equal(
        store_message_buckets(fx->st, -1001, MSG_UNSET, MSG_UNSET, 0, collect_bucket, &b),
        TGH_EINVAL);
    assert_int_equal(b.n, 1);
    assert_buckets(fx, -1001, MSG_UNSET, MSG_UNSET, 86400 * 31, INT64_C(1698105600), "0:5");
}

static void
test_search_non_ascii(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[4] = {
        ev_msg(-1001, 1, DATE0,
               "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
               "\xd0\xbc\xd0\xb8\xd1\x80!"), /* "Привет, мир!" */
        ev_msg(-1001, 2, DATE0 + 1, "Un caf\xc3\xa9 cr\xc3\xa8me au lait"),
        ev_msg(-1001, 3, DATE0 + 2, "plain english cafe"),
        ev_msg(-1001, 4, DATE0 + 3, "nothing here"),
    };
    struct store_query q = query_all();
    struct rows rows;

    commit(fx, ev, 4);
    /* "привет": lower case finds the capitalised word */
    assert_int_equal(search_count(fx, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"), 1);
    /* "МИР" */
    assert_int_equal(search_count(fx, "\xd0\x9c\xd0\x98\xd0\xa0"), 1);
    /* accents are folded both ways */
    assert_int_equal(search_count(fx, "cafe"), 2);
    assert_int_equal(search_count(fx, "caf\xc3\xa9"), 2);
    assert_int_equal(search_count(fx, "creme"), 1);
    if (!fx->is_pg) /* FTS5 syntax; PostgreSQL reads web-search syntax */
        assert_int_equal(search_count(fx, "caf*"), 2);

    q.match = "creme";
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 1);
    assert_int_equal(rows.message_id[0], 2);
    assert_string_equal(rows.snippet[0], "Un caf\xc3\xa9 [cr\xc3\xa8me] au lait");
    rows_fini(&rows);

    /* ranked first, then by date */
    q.match = "cafe";
    q.newest_first = true;
    q.limit = 1;
    query(fx, &q, &rows);
    assert_int_equal(rows.n, 1);
    rows_fini(&rows);
}

static void
test_search_malformed_query(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 1, DATE0, "some text");
    struct store_query q = query_all();
    struct rows rows;
    const char *bad[] = { "\"unterminated", "AND OR", "(", "-x" };

    commit(fx, &ev, 1);
    /* no search syntax in it: plain words, searched as words, found nowhere */
    assert_int_equal(search_count(fx, "nosuchcolumn: x"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&rows, 0, sizeof(rows));
        q.match = bad[i];
        assert_int_equal(store_messages_each(fx->st, &q, collect, &rows), TGH_EINVAL);
        assert_non_null(strstr(tgh_errmsg(), "invalid search query"));
        assert_int_equal(rows.n, 0);
    }
    assert_int_equal(search_count(fx, "text"), 1); /* still fine afterwards */
}

static void
test_dead_letters_and_runs(void **state)
{
    struct store_fx *fx = *state;
    const char payload[] = "{\"id\": 17, \"broken";
    struct store_dead_letter dl = {
        .source = "export",
        .origin = "result.json",
        .position = "messages[17] at byte 5120",
        .reason = "date: missing",
        .payload = payload,
        .payload_len = sizeof(payload) - 1,
    };
    struct store_run_result res = {
        .status = "partial",
        .messages_seen = 10,
        .errors = 1,
        .error = "one dead letter",
        .stats = { .inserted = 7, .versioned = 1, .unchanged = 1, .refreshed = 0, .deleted = 1 },
    };
    int64_t run_id = 0, run2 = 0;

    assert_int_equal(store_dead_letter_add(fx->st, &dl), TGH_OK);
    /* The same input read again is the same dead letter. */
    assert_int_equal(store_dead_letter_add(fx->st, &dl), TGH_OK);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM ingestion_errors"), 1);
    dl.reason = "date: unparseable";
    assert_int_equal(store_dead_letter_add(fx->st, &dl), TGH_OK);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM ingestion_errors"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM ingestion_errors"
                                 " WHERE reason = 'date: unparseable'"),
                     1);
    dl.reason = "date: missing";
    assert_int_equal(store_dead_letter_add(fx->st, &dl), TGH_OK);
    dl.origin = NULL;
    dl.position = NULL;
    dl.payload = NULL;
    dl.payload_len = 0;
    assert_int_equal(store_dead_letter_add(fx->st, &dl), TGH_OK);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM ingestion_errors WHERE source = 'export'"
                                 " AND origin = 'result.json' AND reason = 'date: missing'"
                                 " AND payload = '{\"id\": 17, \"broken' AND retry_count = 0"
                                 " AND resolved_at IS NULL AND created_at > 0"),
                     1);

    assert_int_equal(store_run_begin(fx->st, -1001, "import", "result.json", &run_id), TGH_OK);
    assert_true(run_id > 0);
    assert_int_equal(store_run_begin(fx->st, MSG_UNSET, "import", NULL, &run2), TGH_OK);
    assert_true(run2 > run_id);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM collection_runs WHERE status = 'running'"
                                 " AND finished_at IS NULL"),
                     2);
    assert_int_equal(store_run_finish(fx->st, run_id, &res), TGH_OK);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM collection_runs WHERE chat_id = -1001"
                                 " AND status = 'partial' AND messages_seen = 10 AND inserted = 7"
                                 " AND versioned = 1 AND unchanged = 1 AND deleted = 1"
                                 " AND errors = 1 AND error = 'one dead letter'"
                                 " AND finished_at >= started_at"),
                     1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM collection_runs WHERE chat_id IS NULL"), 1);
    assert_int_equal(store_run_finish(fx->st, run_id + 1000, &res), TGH_ENOTFOUND);

    struct store_totals t = totals(fx);
    assert_int_equal(t.dead_letters, 2);
    assert_int_equal(t.runs, 2);
}

#define MAX_RUNS 96

struct runs {
    size_t n, stop_after; /* stop_after 0: never */
    struct store *writer; /* set: collect_run_and_write() writes through it */
    struct store_run_row row[MAX_RUNS];
    char kind[MAX_RUNS][16], origin[MAX_RUNS][16], status[MAX_RUNS][16], error[MAX_RUNS][32];
};

static int
collect_run(void *arg, const struct store_run_row *r)
{
    struct runs *l = arg;
    size_t i = l->n++;

    assert_true(i < MAX_RUNS);
    l->row[i] = *r;
    (void)snprintf(l->kind[i], sizeof(l->kind[0]), "%s", r->kind != NULL ? r->kind : "(null)");
    (void)snprintf(l->origin[i], sizeof(l->origin[0]), "%s",
                   r->origin != NULL ? r->origin : "(null)");
    (void)snprintf(l->status[i], sizeof(l->status[0]), "%s",
                   r->status != NULL ? r->status : "(null)");
    (void)snprintf(l->error[i], sizeof(l->error[0]), "%s", r->error != NULL ? r->error : "(null)");
    l->row[i].kind = l->row[i].origin = l->row[i].status = l->row[i].error = NULL;
    return l->stop_after != 0 && l->n == l->stop_after;
}

/* Row ids as indexes into ids[] ("5,4,1"), so both backends' ids compare. */
static void
assert_ids_as_indexes(const int64_t *got_ids, size_t n, const int64_t *ids, size_t n_ids,
                      const char *want)
{
    char got[256] = "";
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        size_t j = 0;

        while (j < n_ids && ids[j] != got_ids[i])
            j++;
        assert_true(j < n_ids);
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%zu", i > 0 ? "," : "", j);
    }
    assert_string_equal(got, want);
}

/* The rows of l as indexes into ids[]. */
static void
assert_run_ids(const struct runs *l, const int64_t *ids, size_t n_ids, const char *want)
{
    int64_t got[sizeof(l->row) / sizeof(l->row[0])];

    for (size_t i = 0; i < l->n; i++)
        got[i] = l->row[i].id;
    assert_ids_as_indexes(got, l->n, ids, n_ids, want);
}

static void
list_runs(struct store_fx *fx, const struct store_runs_query *q, struct runs *l)
{
    size_t stop = l->stop_after;

    memset(l, 0, sizeof(*l));
    l->stop_after = stop;
    if (store_runs_each(fx->st, q, collect_run, l) != TGH_OK)
        fail_msg("store_runs_each: %s", tgh_errmsg());
}

static void
run_add(struct store_fx *fx, int64_t chat_id, const char *kind, const char *origin,
        const struct store_run_result *res, int64_t *id)
{
    assert_int_equal(store_run_begin(fx->st, chat_id, kind, origin, id), TGH_OK);
    if (res != NULL)
        assert_int_equal(store_run_finish(fx->st, *id, res), TGH_OK);
}

static void
test_runs_each(void **state)
{
    struct store_fx *fx = *state;
    struct store_run_result ok = {
        .status = "ok",
        .messages_seen = 10,
        .stats = { .inserted = 7,
                   .versioned = 1,
                   .unchanged = 1,
                   .refreshed = 2,
                   .deleted = 1,
                   .delete_unknown = 2 },
    };
    struct store_run_result failed = { .status = "failed", .errors = 3, .error = "flood wait" };
    struct store_run_result partial = { .status = "partial", .messages_seen = 4 };
    struct store_runs_query q = { .chat_id = MSG_UNSET };
    int64_t r[6] = { 0 }; /* r[1]..r[5]; the test names rows by these indexes */
    struct runs l = { 0 };

    run_add(fx, -1001, "import", "a.json", &ok, &r[1]);
    run_add(fx, MSG_UNSET, "import", NULL, &failed, &r[2]);
    run_add(fx, -1001, "backfill", NULL, NULL, &r[3]); /* still running */
    run_add(fx, 55, "live", "tdlib", &partial, &r[4]);
    run_add(fx, -1001, "import", "b.json", &ok, &r[5]);

    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "5,4,3,2,1");
    /* Every column as stored. */
    assert_int_equal(l.row[4].chat_id, -1001);
    assert_string_equal(l.kind[4], "import");
    assert_string_equal(l.origin[4], "a.json");
    assert_string_equal(l.status[4], "ok");
    assert_true(l.row[4].started_at >= DATE0);
    assert_true(l.row[4].finished_at >= l.row[4].started_at);
    assert_int_equal(l.row[4].messages_seen, 10);
    assert_int_equal(l.row[4].stats.inserted, 7);
    assert_int_equal(l.row[4].stats.versioned, 1);
    assert_int_equal(l.row[4].stats.unchanged, 1);
    assert_int_equal(l.row[4].stats.refreshed, 2);
    assert_int_equal(l.row[4].stats.deleted, 3); /* the column holds both kinds of delete */
    assert_int_equal(l.row[4].stats.delete_unknown, 0);
    assert_int_equal(l.row[4].errors, 0);
    assert_string_equal(l.error[4], "(null)");
    assert_int_equal(l.row[3].chat_id, 0); /* a run without a chat */
    assert_string_equal(l.origin[3], "(null)");
    assert_string_equal(l.status[3], "failed");
    assert_int_equal(l.row[3].errors, 3);
    assert_string_equal(l.error[3], "flood wait");
    assert_string_equal(l.status[2], "running");
    assert_int_equal(l.row[2].finished_at, 0);

    q.chat_id = -1001;
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "5,3,1");
    q.chat_id = 0;
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "2");
    q.chat_id = MSG_UNSET;
    q.kind = "import";
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "5,2,1");
    q.status = "ok";
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "5,1");
    q.chat_id = -1001;
    q.kind = NULL;
    q.status = "running";
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "3");
    q = (struct store_runs_query){ .chat_id = 12345 };
    list_runs(fx, &q, &l);
    assert_int_equal(l.n, 0);

    /* Paging: a limit, then before_id the last id seen. */
    q = (struct store_runs_query){ .chat_id = MSG_UNSET, .limit = 2 };
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "5,4");
    q.before_id = l.row[1].id;
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "3,2");
    q.before_id = l.row[1].id;
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "1");
    q.before_id = l.row[0].id;
    list_runs(fx, &q, &l);
    assert_int_equal(l.n, 0);

    q = (struct store_runs_query){ .chat_id = MSG_UNSET };
    l.stop_after = 2;
    list_runs(fx, &q, &l);
    assert_run_ids(&l, r, 6, "5,4");
}

/* More runs than a page of the backends (64); the callback writes as it goes. */
static int
collect_run_and_write(void *arg, const struct store_run_row *r)
{
    struct runs *l = arg;
    int64_t id;

    assert_true(l->n < MAX_RUNS);
    l->row[l->n++].id = r->id;
    /* A write while the listing is under way (a retry loop would do this). */
    assert_int_equal(store_run_begin(l->writer, 77, "other", NULL, &id), TGH_OK);
    return 0;
}

static void
test_runs_each_pages(void **state)
{
    struct store_fx *fx = *state;
    struct store_runs_query q = { .chat_id = MSG_UNSET, .kind = "live" };
    struct runs *l = tgh_calloc(1, sizeof(*l));
    int64_t first = 0, id = 0;

    for (int i = 0; i < 80; i++)
        run_add(fx, -1001, "live", NULL, NULL, i == 0 ? &first : &id);
    l->writer = fx->st;
    assert_int_equal(store_runs_each(fx->st, &q, collect_run_and_write, l), TGH_OK);
    assert_int_equal(l->n, 80);
    assert_int_equal(l->row[0].id, id);
    assert_int_equal(l->row[79].id, first);
    for (size_t i = 1; i < 80; i++)
        assert_true(l->row[i].id < l->row[i - 1].id);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM collection_runs WHERE kind = 'other'"), 80);

    memset(l, 0, sizeof(*l));
    q.limit = 70;
    list_runs(fx, &q, l);
    assert_int_equal(l->n, 70);
    assert_int_equal(l->row[69].id, first + 10);
    tgh_free(l);
}

static void
test_runs_last_each(void **state)
{
    struct store_fx *fx = *state;
    struct store_run_result ok = { .status = "ok" };
    int64_t r[7] = { 0 };
    struct runs l = { 0 };

    assert_int_equal(store_runs_last_each(fx->st, collect_run, &l), TGH_OK);
    assert_int_equal(l.n, 0);
    run_add(fx, -1001, "live", NULL, &ok, &r[1]);
    run_add(fx, -1001, "import", "a.json", &ok, &r[2]);
    run_add(fx, 55, "live", NULL, NULL, &r[3]); /* the newest live run, still running */
    run_add(fx, MSG_UNSET, "backfill", NULL, &ok, &r[4]);
    run_add(fx, -1001, "import", "b.json", &ok, &r[5]);
    run_add(fx, -1001, "Zeta", NULL, &ok, &r[6]); /* byte order: capitals first */

    assert_int_equal(store_runs_last_each(fx->st, collect_run, &l), TGH_OK);
    assert_run_ids(&l, r, 7, "6,4,5,3");
    assert_string_equal(l.kind[0], "Zeta");
    assert_string_equal(l.kind[1], "backfill");
    assert_string_equal(l.kind[2], "import");
    assert_string_equal(l.origin[2], "b.json");
    assert_string_equal(l.kind[3], "live");
    assert_string_equal(l.status[3], "running");
    assert_int_equal(l.row[3].chat_id, 55);

    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    assert_int_equal(store_runs_last_each(fx->st, collect_run, &l), TGH_OK);
    assert_int_equal(l.n, 1);

    /* More kinds than a page (64): every kind once, in order. */
    for (int i = 0; i < 66; i++) {
        char kind[8];

        (void)snprintf(kind, sizeof(kind), "k%02d", i);
        run_add(fx, -1001, kind, NULL, NULL, &r[0]);
    }
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_runs_last_each(fx->st, collect_run, &l), TGH_OK);
    assert_int_equal(l.n, 70);
    for (size_t i = 1; i < l.n; i++)
        assert_true(strcmp(l.kind[i - 1], l.kind[i]) < 0);
    assert_string_equal(l.kind[69], "live");
    assert_int_equal(l.row[68].id, r[0]); /* k65 */
}

#define MAX_DLS 48

struct dls {
    size_t n;
    struct store *writer; /* set: each row listed is resolved through it */
    struct store_dead_letter_row row[MAX_DLS];
    char source[MAX_DLS][16], origin[MAX_DLS][16], position[MAX_DLS][16], reason[MAX_DLS][32];
    char payload[MAX_DLS][32];
    bool has_payload[MAX_DLS];
};

static void
copy_or_null(char *out, size_t cap, const char *s)
{
    (void)snprintf(out, cap, "%s", s != NULL ? s : "(null)");
}

static int
collect_dl(void *arg, const struct store_dead_letter_row *d)
{
    struct dls *l = arg;
    size_t i = l->n++;

    assert_true(i < MAX_DLS);
    l->row[i] = *d;
    copy_or_null(l->source[i], sizeof(l->source[0]), d->source);
    copy_or_null(l->origin[i], sizeof(l->origin[0]), d->origin);
    copy_or_null(l->position[i], sizeof(l->position[0]), d->position);
    copy_or_null(l->reason[i], sizeof(l->reason[0]), d->reason);
    l->has_payload[i] = d->payload != NULL;
    if (d->payload != NULL) {
        assert_true(d->payload_len < sizeof(l->payload[0]));
        memcpy(l->payload[i], d->payload, d->payload_len);
    }
    l->row[i].source = l->row[i].origin = l->row[i].position = l->row[i].reason = NULL;
    l->row[i].payload = NULL;
    if (l->writer != NULL)
        assert_int_equal(store_dead_letter_resolve(l->writer, d->id, DATE0), TGH_OK);
    return 0;
}

static void
list_dls(struct store_fx *fx, const struct store_dl_query *q, struct dls *l)
{
    struct store *writer = l->writer;

    memset(l, 0, sizeof(*l));
    l->writer = writer;
    if (store_dead_letters_each(fx->st, q, collect_dl, l) != TGH_OK)
        fail_msg("store_dead_letters_each: %s", tgh_errmsg());
}

/* The dead letter row id, read through store_dead_letter_get(). */
static void
get_dl(struct store_fx *fx, int64_t id, struct dls *l)
{
    memset(l, 0, sizeof(*l));
    if (store_dead_letter_get(fx->st, id, collect_dl, l) != TGH_OK)
        fail_msg("store_dead_letter_get: %s", tgh_errmsg());
    assert_int_equal(l->n, 1);
}

static int64_t
dl_add(struct store_fx *fx, const char *source, const char *origin, const char *position,
       const char *payload)
{
    struct store_dead_letter dl = {
        .source = source,
        .origin = origin,
        .position = position,
        .reason = "date: missing",
        .payload = payload,
        .payload_len = payload != NULL ? strlen(payload) : 0,
    };

    assert_int_equal(store_dead_letter_add(fx->st, &dl), TGH_OK);
    return sql_i64(fx, "SELECT max(id) FROM ingestion_errors");
}

/* The rows of l as indexes into ids[] ("4,2,1"). */
static void
assert_dl_ids(const struct dls *l, const int64_t *ids, size_t n_ids, const char *want)
{
    int64_t got[sizeof(l->row) / sizeof(l->row[0])];

    for (size_t i = 0; i < l->n; i++)
        got[i] = l->row[i].id;
    assert_ids_as_indexes(got, l->n, ids, n_ids, want);
}

static void
test_dead_letters_each_and_get(void **state)
{
    struct store_fx *fx = *state;
    struct store_dl_query q = { .state = STORE_DL_ALL };
    int64_t d[5] = { 0 };
    struct dls l = { 0 };

    d[1] = dl_add(fx, "export", "a.json", "messages[1]", "{\"id\": 1, \"br");
    d[2] = dl_add(fx, "tdlib", NULL, NULL, NULL);
    d[3] = dl_add(fx, "export", "a.json", "messages[3]", "{}");
    d[4] = dl_add(fx, "tdlib", "updates", "tag 9", "x");
    assert_int_equal(store_dead_letter_resolve(fx->st, d[3], DATE0 + 50), TGH_OK);

    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "4,3,2,1");
    q.state = STORE_DL_OPEN;
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "4,2,1");
    q.state = STORE_DL_RESOLVED;
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "3");
    assert_int_equal(l.row[0].resolved_at, DATE0 + 50);
    q.state = STORE_DL_OPEN;
    q.source = "export";
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "1");
    q.state = STORE_DL_ALL;
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "3,1");
    q.source = "tdlib";
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "4,2");
    q.source = "bot";
    list_dls(fx, &q, &l);
    assert_int_equal(l.n, 0);

    /* Paging: a limit, then before_id the last id seen. */
    q = (struct store_dl_query){ .state = STORE_DL_ALL, .limit = 2 };
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "4,3");
    q.before_id = l.row[1].id;
    list_dls(fx, &q, &l);
    assert_dl_ids(&l, d, 5, "2,1");
    q.before_id = l.row[1].id;
    list_dls(fx, &q, &l);
    assert_int_equal(l.n, 0);

    /* One row, every column. */
    get_dl(fx, d[1], &l);
    assert_int_equal(l.row[0].id, d[1]);
    assert_string_equal(l.source[0], "export");
    assert_string_equal(l.origin[0], "a.json");
    assert_string_equal(l.position[0], "messages[1]");
    assert_string_equal(l.reason[0], "date: missing");
    assert_true(l.has_payload[0]);
    assert_int_equal(l.row[0].payload_len, strlen("{\"id\": 1, \"br"));
    assert_string_equal(l.payload[0], "{\"id\": 1, \"br");
    assert_true(l.row[0].created_at >= DATE0);
    assert_int_equal(l.row[0].retry_count, 0);
    assert_int_equal(l.row[0].resolved_at, 0);
    get_dl(fx, d[2], &l);
    assert_string_equal(l.origin[0], "(null)");
    assert_string_equal(l.position[0], "(null)");
    assert_false(l.has_payload[0]);
    assert_int_equal(l.row[0].payload_len, 0);

    memset(&l, 0, sizeof(l));
    assert_int_equal(store_dead_letter_get(fx->st, d[4] + 100, collect_dl, &l), TGH_ENOTFOUND);
    assert_non_null(strstr(tgh_errmsg(), "does not exist"));
    assert_int_equal(l.n, 0);
    q = (struct store_dl_query){ .state = (enum store_dl_state)7 };
    assert_int_equal(store_dead_letters_each(fx->st, &q, collect_dl, &l), TGH_EINVAL);
    assert_int_equal(l.n, 0);
}

static void
test_dead_letter_retried_and_resolve(void **state)
{
    struct store_fx *fx = *state;
    int64_t id = dl_add(fx, "export", "a.json", "messages[1]", "{}");
    int64_t other = dl_add(fx, "export", "a.json", "messages[2]", "{}");
    struct dls l;

    /* A failed retry: counted, and the new reason replaces the old one. */
    assert_int_equal(store_dead_letter_retried(fx->st, id, false, "still broken", DATE0 + 60),
                     TGH_OK);
    get_dl(fx, id, &l);
    assert_int_equal(l.row[0].retry_count, 1);
    assert_string_equal(l.reason[0], "still broken");
    assert_int_equal(l.row[0].resolved_at, 0);
    /* Without a reason the stored one stays. */
    assert_int_equal(store_dead_letter_retried(fx->st, id, false, NULL, 0), TGH_OK);
    get_dl(fx, id, &l);
    assert_int_equal(l.row[0].retry_count, 2);
    assert_string_equal(l.reason[0], "still broken");
    /* A retry that worked resolves it, and keeps the reason it failed for. */
    assert_int_equal(store_dead_letter_retried(fx->st, id, true, "fixed", DATE0 + 70), TGH_OK);
    get_dl(fx, id, &l);
    assert_int_equal(l.row[0].retry_count, 3);
    assert_int_equal(l.row[0].resolved_at, DATE0 + 70);
    assert_string_equal(l.reason[0], "still broken");
    /* Resolved stays resolved, at the first time. */
    assert_int_equal(store_dead_letter_retried(fx->st, id, true, NULL, DATE0 + 80), TGH_OK);
    assert_int_equal(store_dead_letter_retried(fx->st, id, false, "broke again", DATE0 + 90),
                     TGH_OK);
    assert_int_equal(store_dead_letter_resolve(fx->st, id, DATE0 + 95), TGH_OK);
    get_dl(fx, id, &l);
    assert_int_equal(l.row[0].retry_count, 5);
    assert_int_equal(l.row[0].resolved_at, DATE0 + 70);
    assert_string_equal(l.reason[0], "broke again");

    /* An operator dismissing one: resolved, no retry counted. */
    assert_int_equal(store_dead_letter_resolve(fx->st, other, DATE0 + 5), TGH_OK);
    get_dl(fx, other, &l);
    assert_int_equal(l.row[0].retry_count, 0);
    assert_int_equal(l.row[0].resolved_at, DATE0 + 5);
    assert_string_equal(l.reason[0], "date: missing");

    assert_int_equal(store_dead_letter_retried(fx->st, other + 100, false, "x", DATE0),
                     TGH_ENOTFOUND);
    assert_int_equal(store_dead_letter_resolve(fx->st, other + 100, DATE0), TGH_ENOTFOUND);
    /* resolved_at 0 would read as open. */
    assert_int_equal(store_dead_letter_resolve(fx->st, other, 0), TGH_EINVAL);
    assert_int_equal(store_dead_letter_retried(fx->st, other, true, NULL, 0), TGH_EINVAL);
    get_dl(fx, other, &l);
    assert_int_equal(l.row[0].retry_count, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM ingestion_errors"), 2);
}

/* More than a page (32), resolved by the callback as they are listed. */
static void
test_dead_letters_each_pages(void **state)
{
    struct store_fx *fx = *state;
    struct store_dl_query q = { .state = STORE_DL_OPEN };
    struct dls *l = tgh_calloc(1, sizeof(*l));

    for (int i = 0; i < 40; i++) {
        char pos[16];

        (void)snprintf(pos, sizeof(pos), "messages[%d]", i);
        (void)dl_add(fx, "export", "a.json", pos, "{}");
    }
    l->writer = fx->st;
    list_dls(fx, &q, l);
    assert_int_equal(l->n, 40);
    for (size_t i = 1; i < l->n; i++)
        assert_true(l->row[i].id < l->row[i - 1].id);
    assert_string_equal(l->position[0], "messages[39]");
    assert_string_equal(l->position[39], "messages[0]");
    l->writer = NULL;
    list_dls(fx, &q, l);
    assert_int_equal(l->n, 0);
    q.state = STORE_DL_RESOLVED;
    q.limit = 35;
    list_dls(fx, &q, l);
    assert_int_equal(l->n, 35);
    tgh_free(l);
}

static void
test_totals(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[4] = { ev_msg(-1001, 1, DATE0 + 10, "a"), ev_msg(-1001, 2, DATE0 + 20, "b"),
                               ev_msg(9, 1, DATE0 + 30, "c"), ev_del(-1001, 2, DATE0) };
    struct msg_event edit = ev_msg(-1001, 1, DATE0 + 10, "a2");
    struct store_totals t = totals(fx);

    assert_int_equal(t.chats, 0);
    assert_int_equal(t.messages, 0);
    assert_int_equal(t.first_date, 0);
    assert_true(t.size_bytes > 0);

    edit.edit_date = DATE0 + 50;
    commit(fx, ev, 4);
    commit(fx, &edit, 1);
    t = totals(fx);
    assert_int_equal(t.chats, 2);
    assert_int_equal(t.messages, 2);
    assert_int_equal(t.deleted, 1);
    assert_int_equal(t.versions, 1);
    assert_int_equal(t.dead_letters, 0);
    assert_int_equal(t.runs, 0);
    assert_int_equal(t.first_date, DATE0 + 10);
    assert_int_equal(t.last_date, DATE0 + 30);
    assert_int_equal(t.size_bytes, sql_i64_2(fx,
                                             "SELECT page_count * page_size FROM"
                                             " pragma_page_count(), pragma_page_size()",
                                             "SELECT pg_database_size(current_database())"));
}

/* No fixture: URL forms and the in-memory store. */
static void
test_urls(void **state)
{
    struct store *st = NULL;
    struct msg_event ev = ev_msg(1, 1, DATE0, "in memory");
    struct store_stats stats = { 0 };
    struct store_totals t;
    char dir[256], url[320], path[300];
    const char *tmp = getenv("TMPDIR");

    (void)state;
    assert_int_equal(store_open("sqlite::memory:", &st), TGH_OK);
    fin(&ev, 1);
    assert_int_equal(store_batch_commit(st, &ev, 1, &stats), TGH_OK);
    assert_int_equal(store_totals_get(st, &t), TGH_OK);
    assert_int_equal(t.messages, 1);
    store_close(st);

    assert_int_equal(store_open("sqlite://", &st), TGH_EINVAL);
    assert_int_equal(store_open("nosuch://x", &st), TGH_EINVAL);

    (void)snprintf(dir, sizeof(dir), "%s/test_store_url.XXXXXX",
                   tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    /* sqlite:/abs/path.db (no slashes after the scheme) */
    (void)snprintf(path, sizeof(path), "%s/x.db", dir);
    (void)snprintf(url, sizeof(url), "sqlite:%s", path);
    assert_int_equal(store_open(url, &st), TGH_OK);
    store_close(st);
    assert_int_equal(access(path, F_OK), 0);
    (void)unlink(path);
    /* a directory that cannot be created */
    (void)snprintf(url, sizeof(url), "sqlite://%s/x.db/sub/y.db", dir);
    assert_int_equal(symlink("/nonexistent-target", path), 0);
    assert_int_equal(store_open(url, &st), TGH_EIO);
    (void)unlink(path);
    (void)rmdir(dir);
}

/* ---- retention (both backends) ---- */

#define JAN_2015 1420070400 /* 2015-01-01T00:00:00Z */
#define FEB_2015 1422748800
#define MAR_2015 1425168000

static void
test_retention_drops_whole_months(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[4] = { ev_msg(-1001, 1, JAN_2015 + 10, "january"),
                               ev_msg(-1001, 2, FEB_2015 - 1, "january too"),
                               ev_msg(-1001, 3, FEB_2015, "february"),
                               ev_msg(-1001, 4, MAR_2015 + 5, "march") };
    struct msg_event edit = ev_msg(-1001, 1, JAN_2015 + 10, "january, edited");
    int64_t removed = -1;

    edit.edit_date = JAN_2015 + 20;
    commit(fx, ev, 4);
    commit(fx, &edit, 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 1);
    /* Keeping everything is the default. */
    assert_int_equal(store_retention_apply(fx->st, 0, MAR_2015 + 86400, &removed), TGH_OK);
    assert_int_equal(removed, 0);
    /* now - 20 days is in February: January goes, February stays whole. */
    assert_int_equal(store_retention_apply(fx->st, 20, MAR_2015 + 10 * 86400, &removed), TGH_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(sql_i64(fx, "SELECT min(message_id) FROM messages"), 3);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"), 0);
    assert_int_equal(search_count(fx, "january"), 0);
    if (fx->is_pg) {
        assert_int_equal(sql_i64(fx, "SELECT count(*) FROM pg_class"
                                     " WHERE relname = 'messages_2015_01'"),
                         0);
        assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_2015_02"), 1);
    }
    /* Again: nothing more to remove; the store still takes old messages. */
    assert_int_equal(store_retention_apply(fx->st, 20, MAR_2015 + 10 * 86400, &removed), TGH_OK);
    assert_int_equal(removed, 0);
    assert_stats(commit(fx, ev, 2), 2, 0, 0, 0, 0, 0);
}

/* ---- PostgreSQL only ---- */

/* Monthly partitions appear for whatever months a batch needs, 2015 included. */
static void
test_pg_partitions_follow_batches(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[3] = { ev_msg(-1001, 1, JAN_2015 + 5, "backfill"),
                               ev_msg(-1001, 2, MAR_2015 + 5, "backfill"),
                               ev_msg(-1001, 3, DATE0, "recent") };

    commit(fx, ev, 3);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_2015_01"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_2015_03"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_2023_11"), 1);
    assert_int_equal(
        sql_i64(fx, "SELECT count(*) FROM pg_class WHERE relname = 'messages_2015_02'"), 0);
    /* Bounds are whole UTC months. */
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM pg_class c WHERE c.relname ="
                                 " 'messages_2015_01' AND pg_get_expr(c.relpartbound, c.oid) ="
                                 " 'FOR VALUES FROM (''1420070400'') TO (''1422748800'')'"),
                     1);
    /* Partitions of the current month and a few around it exist from the start. */
    assert_true(sql_i64(fx, "SELECT count(*) FROM pg_inherits"
                            " WHERE inhparent = 'messages'::regclass") >= 7 + 2);
}

/* The key holds the date; one (chat, message) stays one row when its date moves. */
static void
test_pg_primary_key_and_moving_date(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev = ev_msg(-1001, 1, JAN_2015 + 5, "moving");

    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM pg_constraint WHERE conrelid ="
                                 " 'messages'::regclass AND contype = 'p' AND conkey = ARRAY("
                                 "SELECT attnum FROM pg_attribute WHERE attrelid ="
                                 " 'messages'::regclass AND attname IN ('chat_id', 'message_id',"
                                 " 'date') ORDER BY attnum)::int2[]"),
                     1);
    commit(fx, &ev, 1);
    ev.date = FEB_2015 + 5; /* same content, the date corrected: a refresh */
    assert_stats(commit(fx, &ev, 1), 0, 0, 0, 1, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_2015_02"), 1);
    ev.text = "moved and edited";
    ev.edit_date = FEB_2015 + 6;
    ev.date = JAN_2015 + 5;
    assert_stats(commit(fx, &ev, 1), 0, 1, 0, 0, 0, 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages_2015_01"), 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), 1);
    assert_stats(commit(fx, &ev, 1), 0, 0, 1, 0, 0, 0);
}

/* A lost connection is TGH_EUNAVAIL once; the next call reconnects and works. */
static void
test_pg_reconnect_after_terminate(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[2] = { ev_msg(-1001, 1, DATE0, "before"),
                               ev_msg(-1001, 2, DATE0, "after") };
    struct store_stats stats = { 0 };

    commit(fx, ev, 1);
    assert_int_equal(sql_i64(fx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                 " WHERE datname = current_database() AND pid <> pg_backend_pid()"),
                     1);
    fin(&ev[1], 1);
    assert_int_equal(store_batch_commit(fx->st, &ev[1], 1, &stats), TGH_EUNAVAIL);
    assert_int_equal(stats.inserted, 0);
    assert_int_equal(store_batch_commit(fx->st, &ev[1], 1, &stats), TGH_OK);
    assert_int_equal(stats.inserted, 1);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), 2);
}

/* Text that COPY's text format must escape arrives byte for byte. */
static void
test_pg_copy_hostile_text(void **state)
{
    struct store_fx *fx = *state;
    static const char *const texts[] = {
        "tab\there",
        "new\nline",
        "cr\r\nlf",
        "back\\slash",
        "\\N",
        "\\.",
        "\\\\N\t\\",
        "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac",
        "\x01\x02\x1f control",
    };
    size_t n = sizeof(texts) / sizeof(texts[0]), big_len = 1 << 20;
    struct msg_event ev[16];
    char *big = tgh_malloc(big_len + 1);
    struct store_query q = query_all();
    struct rows rows;

    for (size_t i = 0; i < big_len; i++)
        big[i] = "ab\t\\\n c"[i % 7];
    big[big_len] = '\0';
    for (size_t i = 0; i < n; i++)
        ev[i] = ev_msg(-1001, (int64_t)i + 1, DATE0 + (int64_t)i, texts[i]);
    ev[n] = ev_msg(-1001, (int64_t)n + 1, DATE0 + (int64_t)n, big);
    ev[n].chat_title = "Tab\tand\\backslash";
    assert_stats(commit(fx, ev, n + 1), n + 1, 0, 0, 0, 0, 0);
    query(fx, &q, &rows);
    assert_int_equal(rows.n, n + 1);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows.text[i], texts[i]);
    assert_true(strcmp(rows.text[n], big) == 0);
    assert_string_equal(rows.chat_title[0], "Tab\tand\\backslash");
    rows_fini(&rows);
    /* What is stored is what was sent: committing again changes nothing. */
    assert_stats(commit(fx, ev, n + 1), 0, 0, n + 1, 0, 0, 0);
    tgh_free(big);
}

/* PostgreSQL reads search queries in web-search syntax: never a syntax error. */
static void
test_pg_search_websearch_syntax(void **state)
{
    struct store_fx *fx = *state;
    struct msg_event ev[2] = { ev_msg(-1001, 1, DATE0, "red apples and green pears"),
                               ev_msg(-1001, 2, DATE0 + 1, "green apples") };
    const char *odd[] = { "\"unterminated", "AND OR", "nosuchcolumn: x", "(" };

    commit(fx, ev, 2);
    assert_int_equal(search_count(fx, "apples"), 2);
    assert_int_equal(search_count(fx, "apples -red"), 1);
    assert_int_equal(search_count(fx, "\"green pears\""), 1);
    assert_int_equal(search_count(fx, "pears OR red"), 1);
    assert_int_equal(search_count(fx, "pears or red"), 0); /* plain words: "or" is one */
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
        assert_int_equal(search_count(fx, odd[i]), 0);
}

/*
 * Several writers at once, each with its own connection, commit the same
 * events (three versions of every message, and deletions) in different
 * orders and batches: the result is what one writer gets. The store's
 * locking (PostgreSQL: per message; SQLite: the database) is what keeps
 * two read-decide-write batches on one message from interleaving.
 */
#define CW_THREADS  4
#define CW_CHATS    2
#define CW_MSGS     150
#define CW_VERSIONS 3
#define CW_DELETED  15 /* the first messages of each chat */
#define CW_BATCH    40

struct cw_run {
    const char *url;
    struct msg_event *ev;
    size_t n;
    unsigned seed;
    tgh_err rc;
    char err[256];
};

static void *
cw_writer(void *arg)
{
    struct cw_run *r = arg;
    struct store *st = NULL;
    size_t *order = tgh_malloc(r->n * sizeof(*order));
    struct msg_event *batch = tgh_malloc(CW_BATCH * sizeof(*batch));
    unsigned x = r->seed;

    for (size_t i = 0; i < r->n; i++)
        order[i] = i;
    for (size_t i = r->n - 1; i > 0; i--) { /* Fisher-Yates, a per-writer order */
        size_t j;

        x = x * 1103515245u + 12345u;
        j = (x >> 8) % (i + 1);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    r->rc = store_open(r->url, &st);
    for (size_t i = 0; r->rc == TGH_OK && i < r->n; i += CW_BATCH) {
        size_t m = r->n - i < CW_BATCH ? r->n - i : CW_BATCH;
        struct store_stats s = { 0 };

        for (size_t j = 0; j < m; j++)
            batch[j] = r->ev[order[i + j]];
        for (unsigned tries = 0;; tries++) {
            r->rc = store_batch_commit(st, batch, m, &s);
            /* SQLite may say busy past its timeout, PostgreSQL detect a deadlock: retry */
            if (r->rc == TGH_OK || !tgh_err_is_transient(r->rc) || tries == 20)
                break;
        }
    }
    if (r->rc != TGH_OK)
        (void)snprintf(r->err, sizeof(r->err), "%s", tgh_errmsg());
    store_close(st);
    tgh_free(batch);
    tgh_free(order);
    return NULL;
}

static void
test_concurrent_writers(void **state)
{
    struct store_fx *fx = *state;
    static char text[CW_CHATS][CW_MSGS][CW_VERSIONS][40];
    size_t n = 0, cap = CW_CHATS * CW_MSGS * (CW_VERSIONS + 1);
    struct msg_event *ev = tgh_calloc(cap, sizeof(*ev));
    struct cw_run run[CW_THREADS];
    pthread_t th[CW_THREADS];

    for (int c = 0; c < CW_CHATS; c++)
        for (int m = 0; m < CW_MSGS; m++) {
            for (int v = 0; v < CW_VERSIONS; v++) {
                (void)snprintf(text[c][m][v], sizeof(text[c][m][v]), "chat %d message %d v%d", c,
                               m + 1, v);
                ev[n] = ev_msg(-1001 - c, m + 1, DATE0 + m, text[c][m][v]);
                if (v > 0)
                    ev[n].edit_date = DATE0 + 1000 + v;
                n++;
            }
            if (m < CW_DELETED)
                ev[n++] = ev_del(-1001 - c, m + 1, DATE0 + 5000);
        }
    fin(ev, n);
    for (int t = 0; t < CW_THREADS; t++) {
        run[t] = (struct cw_run){ .url = fx->url, .ev = ev, .n = n, .seed = 7u + (unsigned)t };
        assert_int_equal(pthread_create(&th[t], NULL, cw_writer, &run[t]), 0);
    }
    for (int t = 0; t < CW_THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        if (run[t].rc != TGH_OK)
            fail_msg("writer %d: %s", t, run[t].err);
    }
    /* Every message once, its last version current, the others history. */
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages"), CW_CHATS * CW_MSGS);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM message_versions"),
                     CW_CHATS * CW_MSGS * (CW_VERSIONS - 1));
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM (SELECT DISTINCT chat_id, message_id,"
                                 " version FROM message_versions) v"),
                     CW_CHATS * CW_MSGS * (CW_VERSIONS - 1));
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL"),
                     CW_CHATS * CW_DELETED);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE version_count <> 2"), 0);
    assert_int_equal(sql_i64(fx, "SELECT count(*) FROM messages WHERE text = 'chat ' ||"
                                 " (-1001 - chat_id) || ' message ' || message_id || ' v2'"),
                     CW_CHATS * CW_MSGS);
    /* Version numbers follow arrival, which differs: each older text once. */
    for (int v = 0; v < CW_VERSIONS - 1; v++) {
        char sql[300];

        (void)snprintf(sql, sizeof(sql),
                       "SELECT count(*) FROM message_versions WHERE text = 'chat ' ||"
                       " (-1001 - chat_id) || ' message ' || message_id || ' v%d'",
                       v);
        assert_int_equal(sql_i64(fx, sql), CW_CHATS * CW_MSGS);
    }
    tgh_free(ev);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest common[] = {
        T(test_insert),
        T(test_identical_recommit_is_noop),
        T(test_chat_refresh_does_not_count_as_insert),
        T(test_edit_keeps_previous_version),
        T(test_old_version_after_new_is_history),
        T(test_edit_back_to_original_is_a_version),
        T(test_counters_refresh_without_version),
        T(test_delete_is_a_tombstone),
        T(test_reapplying_mixed_batch_is_noop),
        T(test_same_key_twice_in_one_batch),
        T(test_changes_per_event),
        T(test_concurrent_writers),
        T(test_failing_batch_rolls_back),
        T(test_migrations_idempotent_and_future_refused),
        T(test_state_refresh_updates_event),
        T(test_delete_before_upsert_is_order_independent),
        T(test_edit_merges_state),
        T(test_unreadable_stored_event_is_replaced),
        T(test_older_copy_of_current_text_is_history),
        T(test_late_old_version_fills_state),
        T(test_chats_each_counts_and_dates),
        T(test_chat_upsert_without_messages),
        T(test_messages_each_filters),
        T(test_messages_each_callback_stops),
        T(test_messages_id_window),
        T(test_messages_by_id_vs_date),
        T(test_messages_by_id_pages),
        T(test_message_buckets),
        T(test_search_non_ascii),
        T(test_dead_letters_and_runs),
        T(test_runs_each),
        T(test_runs_each_pages),
        T(test_runs_last_each),
        T(test_dead_letters_each_and_get),
        T(test_dead_letter_retried_and_resolve),
        T(test_dead_letters_each_pages),
        T(test_totals),
        T(test_retention_drops_whole_months),
    };
    const struct CMUnitTest sqlite_only[] = {
        T(test_wal_mode),
        T(test_search_malformed_query),
        cmocka_unit_test(test_urls),
    };
    const struct CMUnitTest pg_only[] = {
        T(test_pg_partitions_follow_batches), T(test_pg_primary_key_and_moving_date),
        T(test_pg_reconnect_after_terminate), T(test_pg_copy_hostile_text),
        T(test_pg_search_websearch_syntax),
    };
#undef T

    return STORE_FX_RUN("store", common, sqlite_only, pg_only);
}
