/* SPDX-License-Identifier: MIT */
/*
 * it_fake_tdjson.c - the scripted stand-in for TDLib (tests/fake_tdjson/),
 * loaded through source_tdjson_open exactly as the collector loads TDLib,
 * against tests/fixtures/worlds/harbour.json: the login states, the saved
 * session, paging with short pages and negative offsets, comments and forum
 * topics, flood waits and the usage rules it logs, updates driven by the
 * control file, disconnects, chats that cannot be read, and file downloads
 * (progress, shared files, resuming after a restart or a kill -9, cancel,
 * delete, scripted failures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/alloc.h"
#include "source/source.h"

#define HARBOUR    INT64_C(-1001000000001)
#define DISCUSSION INT64_C(-1001000000002)
#define FORUM      INT64_C(-1001000000003)
#define CUSTOMS    INT64_C(-1001000000004)
#define BIG        INT64_C(-1001000000006)
#define LIVE       INT64_C(-1001000000007)
#define MSG(id)    ((json_int_t)(id)*1048576) /* TDLib id of a server id */

#define ADA 0 /* +15550001001: code and password, flood every 5th history request */
#define BO  1 /* +15550001002: code only */

static struct source_tdjson *tj;
static char dir[] = "/tmp/it_fake_td.XXXXXX";
static char logp[128], ctlp[128];
static json_t *backlog; /* received objects no check has taken yet */
static int seq;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *
receive(double timeout)
{
    const char *r = source_tdjson_receive(tj, timeout);
    json_t *j;

    if (r == NULL)
        return NULL;
    j = json_loads(r, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *
type_of(const json_t *j)
{
    const char *t = json_string_value(json_object_get(j, "@type"));

    return t != NULL ? t : "";
}

/* Send req (stolen) from client cl; returns the @extra its answer will carry. */
static int
send_req(int cl, json_t *req)
{
    char *text;

    json_object_set_new(req, "@extra", json_integer(++seq));
    text = json_dumps(req, JSON_COMPACT);
    source_tdjson_send(tj, cl, text);
    tgh_free(text);
    json_decref(req);
    return seq;
}

/* The answer with @extra extra; everything else received meanwhile goes to the backlog. */
static json_t *
await_answer(int extra, double timeout)
{
    double deadline = now_s() + timeout;

    for (size_t i = 0; i < json_array_size(backlog); i++) {
        json_t *j = json_array_get(backlog, i);

        if (json_integer_value(json_object_get(j, "@extra")) == extra) {
            json_incref(j);
            json_array_remove(backlog, i);
            return j;
        }
    }
    while (now_s() < deadline) {
        json_t *j = receive(0.2);

        if (j == NULL)
            continue;
        if (json_integer_value(json_object_get(j, "@extra")) == extra)
            return j;
        json_array_append_new(backlog, j);
    }
    return NULL;
}

static json_t *
call(int cl, json_t *req)
{
    json_t *a = await_answer(send_req(cl, req), 5.0);

    assert_non_null(a);
    return a;
}

/* The first update of this type for cl, from the backlog or within timeout. */
static json_t *
await_update(int cl, const char *type, double timeout)
{
    double deadline = now_s() + timeout;

    for (;;) {
        json_t *j;

        for (size_t i = 0; i < json_array_size(backlog); i++) {
            j = json_array_get(backlog, i);
            if (json_integer_value(json_object_get(j, "@client_id")) == cl &&
                strcmp(type_of(j), type) == 0) {
                json_incref(j);
                json_array_remove(backlog, i);
                return j;
            }
        }
        if (now_s() >= deadline)
            return NULL;
        j = receive(0.1);
        if (j != NULL)
            json_array_append_new(backlog, j);
    }
}

/* Receive until nothing comes for quiet seconds. */
static void
drain(double quiet)
{
    json_t *j;

    while ((j = receive(quiet)) != NULL)
        json_array_append_new(backlog, j);
}

static size_t
backlog_count(int cl, const char *type)
{
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(backlog); i++) {
        json_t *j = json_array_get(backlog, i);

        if (json_integer_value(json_object_get(j, "@client_id")) == cl &&
            strcmp(type_of(j), type) == 0)
            n++;
    }
    return n;
}

static void
assert_error(json_t *a, int code, const char *message)
{
    assert_string_equal(type_of(a), "error");
    assert_int_equal(json_integer_value(json_object_get(a, "code")), code);
    assert_string_equal(json_string_value(json_object_get(a, "message")), message);
    json_decref(a);
}

static void
assert_ok(json_t *a)
{
    assert_string_equal(type_of(a), "ok");
    json_decref(a);
}

static const char *
auth_state(const json_t *u)
{
    return type_of(json_object_get(u, "authorization_state"));
}

static void
expect_state(int cl, const char *state)
{
    json_t *u = await_update(cl, "updateAuthorizationState", 5.0);

    assert_non_null(u);
    assert_string_equal(auth_state(u), state);
    json_decref(u);
}

static void
control(json_t *cmd)
{
    char *text = json_dumps(cmd, JSON_COMPACT);
    int fd = open(ctlp, O_WRONLY | O_CREAT | O_APPEND, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(write(fd, "\n", 1), 1);
    assert_int_equal(close(fd), 0);
    tgh_free(text);
    json_decref(cmd);
}

/* Lines of the fake's log for client cl holding key (and, if given, text in its value). */
static int
log_count(int cl, const char *key, const char *text)
{
    FILE *f = fopen(logp, "r");
    char line[65536];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        json_t *j = json_loads(line, 0, NULL), *v;

        assert_non_null(j);
        v = json_object_get(j, key);
        if (v != NULL && json_integer_value(json_object_get(j, "client")) == cl &&
            (text == NULL || strstr(json_string_value(v), text) != NULL))
            n++;
        json_decref(j);
    }
    fclose(f);
    return n;
}

static json_t *
params(const char *sub, const char *key)
{
    char path[256];

    (void)snprintf(path, sizeof(path), "%s/%s", dir, sub);
    return json_pack("{s:s, s:s, s:s, s:b, s:b, s:i, s:s, s:s, s:s, s:s}", "@type",
                     "setTdlibParameters", "database_directory", path, "database_encryption_key",
                     key, "use_chat_info_database", 1, "use_file_database", 1, "api_id", 94575,
                     "api_hash", "a3406de8d171bb422bb6ddf3bbd800e2", "system_language_code", "en",
                     "device_model", "it", "application_version", "1");
}

/* A client logged in as account who (ADA, BO), its session in dir/sub. */
static int
login(const char *sub, int who)
{
    static const char *const phones[] = { "+15550001001", "+15550001002" };
    static const char *const codes[] = { "12345", "54321" };
    int cl = source_tdjson_client_new(tj);

    assert_ok(call(cl, params(sub, "")));
    assert_ok(call(cl, json_pack("{s:s, s:s}", "@type", "setAuthenticationPhoneNumber",
                                 "phone_number", phones[who])));
    assert_ok(
        call(cl, json_pack("{s:s, s:s}", "@type", "checkAuthenticationCode", "code", codes[who])));
    if (who == ADA)
        assert_ok(call(cl, json_pack("{s:s, s:s}", "@type", "checkAuthenticationPassword",
                                     "password", "hunter2")));
    for (;;) {
        json_t *u = await_update(cl, "updateAuthorizationState", 5.0);
        bool ready;

        assert_non_null(u);
        ready = strcmp(auth_state(u), "authorizationStateReady") == 0;
        json_decref(u);
        if (ready)
            break;
    }
    for (;;) { /* connecting, then ready */
        json_t *u = await_update(cl, "updateConnectionState", 5.0);
        bool ready;

        assert_non_null(u);
        ready = strcmp(type_of(json_object_get(u, "state")), "connectionStateReady") == 0;
        json_decref(u);
        if (ready)
            break;
    }
    json_array_clear(backlog);
    return cl;
}

static void
close_client(int cl)
{
    assert_ok(call(cl, json_pack("{s:s}", "@type", "close")));
    expect_state(cl, "authorizationStateClosing");
    expect_state(cl, "authorizationStateClosed");
    json_array_clear(backlog);
}

static int64_t
search(int cl, const char *username)
{
    json_t *a =
        call(cl, json_pack("{s:s, s:s}", "@type", "searchPublicChat", "username", username));
    int64_t id;

    assert_string_equal(type_of(a), "chat");
    id = json_integer_value(json_object_get(a, "id"));
    json_decref(a);
    return id;
}

static json_t *
history(int cl, int64_t chat, json_int_t from, int offset, int limit)
{
    return call(cl, json_pack("{s:s, s:I, s:I, s:i, s:i, s:b}", "@type", "getChatHistory",
                              "chat_id", (json_int_t)chat, "from_message_id", from, "offset",
                              offset, "limit", limit, "only_local", 0));
}

static json_t *
messages_of(json_t *page)
{
    assert_string_equal(type_of(page), "messages");
    assert_int_equal(json_integer_value(json_object_get(page, "total_count")),
                     json_array_size(json_object_get(page, "messages")));
    return json_object_get(page, "messages");
}

static json_int_t
msg_id(json_t *messages, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(messages, i), "id"));
}

static const char *
msg_text(json_t *m)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(m, "content"), "text"), "text"));
}

static json_t *
get_message(int cl, int64_t chat, json_int_t id)
{
    return call(cl, json_pack("{s:s, s:I, s:I}", "@type", "getMessage", "chat_id", (json_int_t)chat,
                              "message_id", id));
}

/* ---- tests ---- */

static void
test_login_with_code_and_password(void **state)
{
    int cl = source_tdjson_client_new(tj);
    json_t *a, *u;

    (void)state;
    a = call(cl, json_pack("{s:s}", "@type", "getAuthorizationState"));
    assert_string_equal(type_of(a), "authorizationStateWaitTdlibParameters");
    json_decref(a);
    u = await_update(cl, "updateOption", 1.0); /* the client starts at its first request */
    assert_string_equal(json_string_value(json_object_get(u, "name")), "version");
    json_decref(u);
    expect_state(cl, "authorizationStateWaitTdlibParameters");
    assert_error(call(cl, json_pack("{s:s}", "@type", "getMe")), 400,
                 "Initialization parameters are needed: call setTdlibParameters first");
    a = params("login", "");
    json_object_set_new(a, "api_id", json_integer(0));
    assert_error(call(cl, a), 400,
                 "Valid api_id must be provided. Can be obtained at https://my.telegram.org");
    assert_ok(call(cl, params("login", "")));
    expect_state(cl, "authorizationStateWaitPhoneNumber");
    assert_error(call(cl, json_pack("{s:s}", "@type", "getMe")), 401, "Unauthorized");
    assert_error(call(cl, json_pack("{s:s, s:s}", "@type", "setAuthenticationPhoneNumber",
                                    "phone_number", "+19990000000")),
                 400, "PHONE_NUMBER_INVALID");
    assert_ok(call(cl, json_pack("{s:s, s:s}", "@type", "setAuthenticationPhoneNumber",
                                 "phone_number", "+1 555 000 1001")));
    u = await_update(cl, "updateAuthorizationState", 1.0);
    assert_string_equal(auth_state(u), "authorizationStateWaitCode");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(json_object_get(u, "authorization_state"), "code_info"),
                            "type"),
            "length")),
        5);
    json_decref(u);
    assert_error(
        call(cl, json_pack("{s:s, s:s}", "@type", "checkAuthenticationCode", "code", "11111")), 400,
        "PHONE_CODE_INVALID");
    assert_ok(
        call(cl, json_pack("{s:s, s:s}", "@type", "checkAuthenticationCode", "code", "12345")));
    u = await_update(cl, "updateAuthorizationState", 1.0);
    assert_string_equal(auth_state(u), "authorizationStateWaitPassword");
    assert_string_equal(json_string_value(json_object_get(json_object_get(u, "authorization_state"),
                                                          "password_hint")),
                        "the usual");
    json_decref(u);
    assert_error(call(cl, json_pack("{s:s, s:s}", "@type", "checkAuthenticationPassword",
                                    "password", "hunter3")),
                 400, "PASSWORD_HASH_INVALID");
    assert_ok(call(cl, json_pack("{s:s, s:s}", "@type", "checkAuthenticationPassword", "password",
                                 "hunter2")));
    expect_state(cl, "authorizationStateReady");
    u = await_update(cl, "updateConnectionState", 1.0);
    assert_string_equal(type_of(json_object_get(u, "state")), "connectionStateConnecting");
    json_decref(u);
    u = await_update(cl, "updateConnectionState", 1.0);
    assert_string_equal(type_of(json_object_get(u, "state")), "connectionStateReady");
    json_decref(u);
    a = call(cl, json_pack("{s:s}", "@type", "getMe"));
    assert_string_equal(type_of(a), "user");
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 777001);
    assert_int_equal(json_integer_value(json_object_get(a, "@client_id")), cl);
    json_decref(a);
    close_client(cl);
    /* a closed client answers nothing but "Request aborted" */
    assert_error(call(cl, json_pack("{s:s}", "@type", "getMe")), 500, "Request aborted");
}

static void
test_session_persists(void **state)
{
    int cl = login("session", BO), other;
    json_t *a;

    (void)state;
    /* one session, two users of it at once: TDLib refuses the second */
    other = source_tdjson_client_new(tj);
    a = call(other, params("session", ""));
    assert_string_equal(type_of(a), "error");
    assert_non_null(strstr(json_string_value(json_object_get(a, "message")), "Can't lock file"));
    json_decref(a);
    assert_ok(call(other, json_pack("{s:s}", "@type", "close")));
    close_client(cl);

    cl = source_tdjson_client_new(tj);
    assert_error(call(cl, params("session", "c2VjcmV0")), 401, "Wrong database encryption key");
    assert_ok(call(cl, params("session", "")));
    expect_state(cl, "authorizationStateWaitTdlibParameters");
    expect_state(cl, "authorizationStateReady"); /* no phone, no code */
    a = call(cl, json_pack("{s:s}", "@type", "getMe"));
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 777002);
    json_decref(a);
    close_client(cl);
}

/* Collecting from the newest with offset 0 until an empty page gets every id once. */
static void
test_history_paging_gets_every_id_once(void **state)
{
    int cl = login("paging", BO), pages = 0, short_pages = 0, total = 0;
    json_int_t from = 0, prev = INT64_MAX;
    static unsigned char seen[1200];

    (void)state;
    assert_int_equal(search(cl, "harbour_watch"), HARBOUR);
    for (;;) {
        json_t *page = history(cl, HARBOUR, from, 0, 100), *msgs = messages_of(page);
        size_t n = json_array_size(msgs);

        if (n == 0) {
            json_decref(page);
            break;
        }
        pages++;
        if (n < 100)
            short_pages++;
        for (size_t i = 0; i < n; i++) {
            json_int_t id = msg_id(msgs, i);

            assert_true(id < prev);
            assert_int_equal(id % 1048576, 0);
            assert_true(id / 1048576 < 1200);
            assert_int_equal(seen[id / 1048576]++, 0);
            assert_int_equal(
                json_integer_value(json_object_get(json_array_get(msgs, i), "chat_id")), HARBOUR);
            prev = id;
            total++;
        }
        from = prev;
        json_decref(page);
    }
    assert_int_equal(total, 1000);
    for (int id = 1; id < 1200; id++) /* every 7th id was deleted before we came */
        assert_int_equal(seen[id], id <= 1166 && id % 7 != 0);
    assert_true(short_pages > 1); /* short pages came before the end */
    assert_true(pages > 10);
    close_client(cl);
}

static void
expect_ids(json_t *page, const int *ids, size_t n)
{
    json_t *msgs = messages_of(page);

    assert_int_equal(json_array_size(msgs), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(msg_id(msgs, i), MSG(ids[i]));
    json_decref(page);
}

static void
test_history_offsets(void **state)
{
    int cl = login("offsets", BO);
    static const int around_100[] = { 102, 101, 100, 99, 98, 97, 96, 95, 94, 93 };
    static const int only_100[] = { 100 };
    static const int newest[] = { 300, 299, 298, 297, 296 };
    static const int near_end[] = { 300, 299, 298, 297, 296, 295, 294 };
    json_t *page;

    (void)state;
    assert_int_equal(search(cl, "pilots"), FORUM);
    /* -3: two newer messages and from_message_id itself, then the older ones */
    expect_ids(history(cl, FORUM, MSG(100), -3, 10), around_100, 10);
    expect_ids(history(cl, FORUM, MSG(100), -1, 1), only_100, 1);
    expect_ids(history(cl, FORUM, 0, 0, 5), newest, 5);
    expect_ids(history(cl, FORUM, 0, -2, 5), newest, 3); /* from the end: limit + offset */
    expect_ids(history(cl, FORUM, MSG(299), -5, 10), near_end, 7); /* older part: limit - 5 */
    expect_ids(history(cl, FORUM, MSG(1), 0, 10), NULL, 0);
    page = history(cl, FORUM, 0, 0, 500); /* TDLib caps the limit at 100 */
    assert_int_equal(json_array_size(messages_of(page)), 100);
    json_decref(page);
    assert_error(history(cl, FORUM, 0, 0, 0), 400, "Parameter limit must be positive");
    assert_error(history(cl, FORUM, 0, 1, 10), 400, "Parameter offset must be non-positive");
    assert_error(history(cl, FORUM, 0, -100, 100), 400,
                 "Parameter offset must be greater than -100");
    assert_error(history(cl, FORUM, 0, -5, 3), 400,
                 "Parameter offset must be greater than or equal to -limit");
    close_client(cl);
}

static void
test_comments_and_topics(void **state)
{
    int cl = login("threads", BO);
    json_t *page, *msgs, *post = NULL, *a, *u;
    json_int_t root;

    (void)state;
    assert_int_equal(search(cl, "harbour_watch"), HARBOUR);
    json_array_clear(backlog);
    page = history(cl, HARBOUR, 0, 0, 100);
    msgs = messages_of(page);
    for (size_t i = 0; i < json_array_size(msgs) && post == NULL; i++) {
        json_t *ri = json_object_get(json_object_get(json_array_get(msgs, i), "interaction_info"),
                                     "reply_info");

        if (json_integer_value(json_object_get(ri, "reply_count")) == 3)
            post = json_array_get(msgs, i);
    }
    assert_non_null(post);
    a = call(cl, json_pack("{s:s, s:I, s:I}", "@type", "getMessageProperties", "chat_id",
                           (json_int_t)HARBOUR, "message_id",
                           json_integer_value(json_object_get(post, "id"))));
    assert_true(json_is_true(json_object_get(a, "can_get_message_thread")));
    json_decref(a);
    a = call(cl, json_pack("{s:s, s:I, s:I, s:i, s:i, s:i}", "@type", "getMessageThreadHistory",
                           "chat_id", (json_int_t)HARBOUR, "message_id",
                           json_integer_value(json_object_get(post, "id")), "from_message_id", 0,
                           "offset", 0, "limit", 100));
    u = await_update(cl, "updateNewChat", 1.0); /* the discussion group, before its messages */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "chat"), "id")),
                     DISCUSSION);
    json_decref(u);
    msgs = messages_of(a);
    assert_int_equal(json_array_size(msgs), 3);
    root = json_integer_value(
        json_object_get(json_object_get(json_array_get(msgs, 0), "topic_id"), "message_thread_id"));
    assert_true(root > 0);
    for (size_t i = 0; i < 3; i++) {
        json_t *m = json_array_get(msgs, i);

        assert_int_equal(json_integer_value(json_object_get(m, "chat_id")), DISCUSSION);
        assert_string_equal(type_of(json_object_get(m, "topic_id")), "messageTopicThread");
        assert_int_equal(json_integer_value(
                             json_object_get(json_object_get(m, "topic_id"), "message_thread_id")),
                         root);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(m, "reply_to"), "message_id")),
            root);
        assert_true(msg_id(msgs, i) > root);
    }
    json_decref(a);
    json_decref(page);

    assert_int_equal(search(cl, "pilots"), FORUM);
    a = call(cl, json_pack("{s:s, s:I, s:s, s:i, s:i, s:i, s:i}", "@type", "getForumTopics",
                           "chat_id", (json_int_t)FORUM, "query", "", "offset_date", 0,
                           "offset_message_id", 0, "offset_forum_topic_id", 0, "limit", 10));
    assert_int_equal(json_array_size(json_object_get(a, "topics")), 3);
    json_decref(a);
    {
        json_int_t from = 0, oldest = 0;
        int n = 0;

        for (;;) {
            json_t *p = call(cl, json_pack("{s:s, s:I, s:i, s:I, s:i, s:i}", "@type",
                                           "getForumTopicHistory", "chat_id", (json_int_t)FORUM,
                                           "forum_topic_id", 5, "from_message_id", from, "offset",
                                           0, "limit", 50));
            json_t *ms = messages_of(p);

            if (json_array_size(ms) == 0) {
                json_decref(p);
                break;
            }
            for (size_t i = 0; i < json_array_size(ms); i++) {
                json_t *m = json_array_get(ms, i);

                assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "topic_id"),
                                                                    "forum_topic_id")),
                                 5);
                oldest = msg_id(ms, i);
                if (oldest == MSG(5))
                    assert_string_equal(type_of(json_object_get(m, "content")),
                                        "messageForumTopicCreated");
                n++;
            }
            from = oldest;
            json_decref(p);
        }
        assert_int_equal(oldest, MSG(5)); /* a topic begins with its creation */
        assert_true(n > 10);
    }
    close_client(cl);
}

static json_t *
history_req(int64_t chat)
{
    return json_pack("{s:s, s:I, s:i, s:i, s:i}", "@type", "getChatHistory", "chat_id",
                     (json_int_t)chat, "from_message_id", 0, "offset", 0, "limit", 10);
}

static void
test_flood_waits_and_usage_rules(void **state)
{
    int cl = login("flood", BO), a1, a2, ada;
    json_t *page;

    (void)state;
    assert_int_equal(search(cl, "live_desk"), LIVE);
    control(json_pack("{s:s, s:i, s:i}", "cmd", "flood", "seconds", 1, "client", cl));
    assert_error(call(cl, history_req(LIVE)), 429, "Too Many Requests: retry after 1");
    assert_int_equal(log_count(cl, "flood", NULL), 1);
    assert_int_equal(log_count(cl, "violation", NULL), 0);
    /* asking again at once breaks the wait it was just told */
    assert_error(call(cl, history_req(LIVE)), 429, "Too Many Requests: retry after 1");
    assert_int_equal(log_count(cl, "violation", "flood wait"), 1);
    assert_int_equal(log_count(cl, "flood", NULL), 2);
    usleep(1100 * 1000);
    page = call(cl, history_req(LIVE));
    assert_int_equal(json_array_size(messages_of(page)), 10);
    json_decref(page);
    assert_int_equal(log_count(cl, "violation", NULL), 1); /* waiting is no violation */

    /* one history request per chat at a time */
    a1 = send_req(cl, history_req(LIVE));
    a2 = send_req(cl, history_req(LIVE));
    json_decref(await_answer(a1, 5.0));
    json_decref(await_answer(a2, 5.0));
    assert_int_equal(log_count(cl, "violation", "unanswered"), 1);

    /* an unknown chat is an error, not a violation */
    assert_error(call(cl, json_pack("{s:s, s:I}", "@type", "getChat", "chat_id", (json_int_t)BIG)),
                 400, "Chat not found");
    assert_int_equal(log_count(cl, "violation", NULL), 2);
    close_client(cl);

    /* the account's own rule: every 5th history request waits a second */
    ada = login("flood-ada", ADA);
    assert_int_equal(search(ada, "live_desk"), LIVE);
    for (int i = 1; i <= 4; i++) {
        page = call(ada, history_req(LIVE));
        assert_string_equal(type_of(page), "messages");
        json_decref(page);
    }
    assert_error(call(ada, history_req(LIVE)), 429, "Too Many Requests: retry after 1");
    assert_int_equal(log_count(ada, "flood", NULL), 1);
    usleep(1100 * 1000);
    page = call(ada, history_req(LIVE));
    assert_string_equal(type_of(page), "messages");
    json_decref(page);
    assert_int_equal(log_count(ada, "violation", NULL), 0);
    close_client(ada);
}

static json_t *
chat_cmd(const char *cmd, int64_t chat)
{
    return json_pack("{s:s, s:I}", "cmd", cmd, "chat", (json_int_t)chat);
}

static void
test_control_edit_delete_unload(void **state)
{
    int cl = login("control", BO);
    json_t *a, *u, *cmd;

    (void)state;
    assert_int_equal(search(cl, "live_desk"), LIVE);
    assert_ok(call(cl, json_pack("{s:s, s:I}", "@type", "openChat", "chat_id", (json_int_t)LIVE)));
    /* a line in the control file before the library started: history, no update */
    a = get_message(cl, LIVE, MSG(3));
    assert_string_equal(msg_text(a), "edited before start");
    assert_true(json_integer_value(json_object_get(a, "edit_date")) > 0);
    json_decref(a);

    cmd = chat_cmd("new_message", LIVE);
    json_object_set_new(cmd, "text", json_string("Ship ahoy"));
    control(cmd);
    u = await_update(cl, "updateNewMessage", 2.0);
    assert_non_null(u);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "message"), "id")),
                     MSG(21));
    assert_string_equal(msg_text(json_object_get(u, "message")), "Ship ahoy");
    json_decref(u);

    cmd = chat_cmd("edit", LIVE);
    json_object_set_new(cmd, "id", json_integer(21));
    json_object_set_new(cmd, "text", json_string("Ship ahoy!"));
    control(cmd);
    u = await_update(cl, "updateMessageContent", 2.0);
    assert_non_null(u);
    assert_int_equal(json_integer_value(json_object_get(u, "message_id")), MSG(21));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(u, "new_content"), "text"), "text")),
                        "Ship ahoy!");
    json_decref(u);
    u = await_update(cl, "updateMessageEdited", 2.0);
    assert_non_null(u);
    assert_true(json_integer_value(json_object_get(u, "edit_date")) > 0);
    json_decref(u);

    cmd = chat_cmd("delete", LIVE);
    json_object_set_new(cmd, "ids", json_pack("[i]", 20));
    control(cmd);
    u = await_update(cl, "updateDeleteMessages", 2.0);
    assert_non_null(u);
    assert_true(json_is_true(json_object_get(u, "is_permanent")));
    assert_true(json_is_false(json_object_get(u, "from_cache")));
    assert_int_equal(json_integer_value(json_array_get(json_object_get(u, "message_ids"), 0)),
                     MSG(20));
    json_decref(u);
    assert_error(get_message(cl, LIVE, MSG(20)), 404, "Not Found");

    cmd = chat_cmd("unload", LIVE);
    json_object_set_new(cmd, "ids", json_pack("[i]", 19));
    control(cmd);
    u = await_update(cl, "updateDeleteMessages", 2.0);
    assert_non_null(u);
    assert_true(json_is_false(json_object_get(u, "is_permanent")));
    assert_true(json_is_true(json_object_get(u, "from_cache")));
    json_decref(u);
    a = get_message(cl, LIVE, MSG(19)); /* still on the server */
    assert_string_equal(type_of(a), "message");
    json_decref(a);

    /* an edit TDLib never told about */
    cmd = chat_cmd("edit", LIVE);
    json_object_set_new(cmd, "id", json_integer(18));
    json_object_set_new(cmd, "text", json_string("silently changed"));
    json_object_set_new(cmd, "push", json_false());
    control(cmd);
    drain(0.3);
    assert_int_equal(backlog_count(cl, "updateMessageContent"), 0);
    a = get_message(cl, LIVE, MSG(18));
    assert_string_equal(msg_text(a), "silently changed");
    json_decref(a);

    cmd = chat_cmd("interaction", LIVE);
    json_object_set_new(cmd, "id", json_integer(17));
    json_object_set_new(cmd, "views", json_integer(999));
    control(cmd);
    u = await_update(cl, "updateMessageInteractionInfo", 2.0);
    assert_non_null(u);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(u, "interaction_info"), "view_count")),
        999);
    json_decref(u);

    /* a closed channel gets no updates */
    assert_ok(call(cl, json_pack("{s:s, s:I}", "@type", "closeChat", "chat_id", (json_int_t)LIVE)));
    cmd = chat_cmd("new_message", LIVE);
    json_object_set_new(cmd, "text", json_string("nobody is looking"));
    control(cmd);
    drain(0.3);
    assert_int_equal(backlog_count(cl, "updateNewMessage"), 0);
    close_client(cl);
}

static void
test_disconnect_drops_updates(void **state)
{
    int cl = login("disconnect", BO), pending;
    json_t *u, *a, *cmd;

    (void)state;
    assert_int_equal(search(cl, "live_desk"), LIVE);
    assert_ok(call(cl, json_pack("{s:s, s:I}", "@type", "openChat", "chat_id", (json_int_t)LIVE)));
    control(json_pack("{s:s, s:i}", "cmd", "disconnect", "client", cl));
    u = await_update(cl, "updateConnectionState", 2.0);
    assert_non_null(u);
    assert_string_equal(type_of(json_object_get(u, "state")), "connectionStateConnecting");
    json_decref(u);
    cmd = chat_cmd("new_message", LIVE);
    json_object_set_new(cmd, "text", json_string("lost while offline"));
    control(cmd);
    pending = send_req(cl, history_req(LIVE)); /* waits for the network, as in TDLib */
    drain(0.3);
    assert_int_equal(backlog_count(cl, "updateNewMessage"), 0);
    assert_null(await_answer(pending, 0.2));
    assert_true(log_count(cl, "dropped", "updateNewMessage") >= 1);

    control(json_pack("{s:s, s:i}", "cmd", "reconnect", "client", cl));
    u = await_update(cl, "updateConnectionState", 2.0);
    assert_string_equal(type_of(json_object_get(u, "state")), "connectionStateUpdating");
    json_decref(u);
    u = await_update(cl, "updateConnectionState", 2.0);
    assert_string_equal(type_of(json_object_get(u, "state")), "connectionStateReady");
    json_decref(u);
    a = await_answer(pending, 2.0);
    assert_non_null(a);
    assert_string_equal(msg_text(json_array_get(messages_of(a), 0)), "lost while offline");
    json_decref(a);

    control(json_pack("{s:s, s:i, s:i}", "cmd", "drop_next_updates", "count", 1, "client", cl));
    cmd = chat_cmd("new_message", LIVE);
    json_object_set_new(cmd, "text", json_string("dropped"));
    control(cmd);
    cmd = chat_cmd("new_message", LIVE);
    json_object_set_new(cmd, "text", json_string("delivered"));
    control(cmd);
    u = await_update(cl, "updateNewMessage", 2.0);
    assert_non_null(u);
    assert_string_equal(msg_text(json_object_get(u, "message")), "delivered");
    json_decref(u);
    close_client(cl);
}

static void
test_private_and_unknown_chats(void **state)
{
    int cl = login("private", BO);
    json_t *a, *page, *cmd;

    (void)state;
    assert_error(
        call(cl, json_pack("{s:s, s:s}", "@type", "searchPublicChat", "username", "gone_channel")),
        400, "USERNAME_NOT_OCCUPIED");
    assert_error(call(cl, json_pack("{s:s, s:I}", "@type", "getChat", "chat_id", (json_int_t)BIG)),
                 400, "Chat not found");
    assert_error(history(cl, BIG, 0, 0, 10), 400, "Chat not found");
    search(cl, "restricted_port");
    assert_error(history(cl, INT64_C(-1001000000008), 0, 0, 10), 400, "CHANNEL_PRIVATE");

    a = call(cl, json_pack("{s:s, s:s}", "@type", "checkChatInviteLink", "invite_link",
                           "https://t.me/+CustomsPrivate"));
    assert_string_equal(type_of(a), "chatInviteLinkInfo");
    assert_int_equal(json_integer_value(json_object_get(a, "chat_id")), 0); /* not a member */
    json_decref(a);
    assert_error(call(cl, json_pack("{s:s, s:s}", "@type", "checkChatInviteLink", "invite_link",
                                    "https://t.me/+NoSuchLink")),
                 400, "INVITE_HASH_EXPIRED");
    a = call(cl, json_pack("{s:s, s:s}", "@type", "joinChatByInviteLink", "invite_link",
                           "https://t.me/+CustomsPrivate"));
    assert_string_equal(type_of(a), "chatJoinResultSuccess");
    assert_int_equal(json_integer_value(json_object_get(a, "chat_id")), CUSTOMS);
    json_decref(a);
    page = history(cl, CUSTOMS, 0, 0, 100);
    assert_int_equal(json_array_size(messages_of(page)), 50);
    json_decref(page);
    cmd = chat_cmd("kick", CUSTOMS);
    json_object_set_new(cmd, "account", json_string("+15550001002"));
    control(cmd);
    drain(0.1);
    assert_error(history(cl, CUSTOMS, 0, 0, 10), 400, "CHANNEL_PRIVATE");
    assert_int_equal(log_count(cl, "violation", NULL), 0);
    close_client(cl);
}

static void
test_execute(void **state)
{
    const char *r;
    char path[256], req[512];
    json_t *j;

    (void)state;
    r = source_tdjson_execute(tj, "{\"@type\":\"getOption\",\"name\":\"version\",\"@extra\":[7]}");
    j = json_loads(r, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "value")), "1.8.66");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "@extra"), 0)), 7);
    assert_null(json_object_get(j, "@client_id"));
    json_decref(j);
    r = source_tdjson_execute(tj, "{\"@type\":\"getChat\",\"chat_id\":1}");
    assert_non_null(strstr(r, "can't be executed synchronously"));
    r = source_tdjson_execute(tj, "{\"@type\":\"noSuchFunction\"}");
    assert_non_null(strstr(r, "Unknown class"));
    r = source_tdjson_execute(tj, "not json");
    assert_non_null(strstr(r, "Failed to parse request as JSON object"));
    (void)snprintf(path, sizeof(path), "%s/td.log", dir);
    assert_int_equal(source_tdjson_log_to_file(tj, path, 2), TGH_OK);
    assert_int_equal(access(path, F_OK), 0);
    (void)snprintf(req, sizeof(req), "{\"@type\":\"getLogVerbosityLevel\"}");
    assert_non_null(strstr(source_tdjson_execute(tj, req), "\"verbosity_level\":2"));
}

/* ---- files and downloads ---- */

/* The fake's bytes of a file (docs/internals/fake_tdjson.md, "Downloads"). */
static uint64_t
ref_hash(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a * UINT64_C(0x9E3779B97F4A7C15) ^ (b + UINT64_C(0x632BE59BD9B4E019)) ^
                 (c * UINT64_C(0xD6E8FEB86659FD93));

    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return x;
}

static bool
bytes_are(const char *uid, int64_t size, const unsigned char *buf, int64_t n)
{
    uint64_t seed = UINT64_C(0xCBF29CE484222325);

    for (const char *p = uid; *p != '\0'; p++) {
        seed ^= (unsigned char)*p;
        seed *= UINT64_C(0x100000001B3);
    }
    for (int64_t i = 0; i < n; i++)
        if (buf[i] !=
            (unsigned char)(ref_hash(seed, (uint64_t)(i / 8), (uint64_t)size) >> (8 * (i % 8))))
            return false;
    return true;
}

/* The whole file at path (tgh_free it); *n its length. */
static unsigned char *
slurp(const char *path, int64_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    buf = tgh_malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = len;
    return buf;
}

/* The file at path holds exactly the bytes of the remote file (uid, size). */
static void
assert_file_bytes(const char *path, const char *uid, int64_t size)
{
    int64_t n;
    unsigned char *buf = slurp(path, &n);

    assert_int_equal(n, size);
    assert_true(bytes_are(uid, size, buf, n));
    tgh_free(buf);
}

static json_int_t
jnum(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static const json_t *
local_of(const json_t *file)
{
    return json_object_get(file, "local");
}

static const char *
uid_of(const json_t *file)
{
    return json_string_value(json_object_get(json_object_get(file, "remote"), "unique_id"));
}

/* The main file of a message's content: content[obj][field]. */
static json_t *
content_file(json_t *msg, const char *obj, const char *field)
{
    json_t *f = json_object_get(json_object_get(json_object_get(msg, "content"), obj), field);

    assert_non_null(f);
    assert_string_equal(type_of(f), "file");
    return f;
}

static json_t *
doc_file(json_t *msg)
{
    return content_file(msg, "document", "document");
}

/* A message with generated media in chat (an explicit "media" line), as cl reads it. */
static json_t *
post_media(int cl, int64_t chat, int id, const char *kind, int64_t size, const char *name)
{
    json_t *cmd = chat_cmd("new_message", chat), *media, *m;

    media = json_pack("{s:s, s:I}", "kind", kind, "size", (json_int_t)size);
    if (name != NULL)
        json_object_set_new(media, "file_name", json_string(name));
    json_object_set_new(cmd, "id", json_integer(id));
    json_object_set_new(cmd, "media", media);
    json_object_set_new(cmd, "push", json_false());
    control(cmd);
    m = get_message(cl, chat, MSG(id));
    assert_string_equal(type_of(m), "message");
    return m;
}

static json_t *
download_req(json_int_t file_id, int priority, int synchronous)
{
    return json_pack("{s:s, s:I, s:i, s:i, s:i, s:b}", "@type", "downloadFile", "file_id", file_id,
                     "priority", priority, "offset", 0, "limit", 0, "synchronous", synchronous);
}

static json_t *
file_req(const char *type, json_int_t file_id)
{
    return json_pack("{s:s, s:I}", "@type", type, "file_id", file_id);
}

static void
speed(json_int_t bytes_per_s, json_int_t chunk)
{
    control(json_pack("{s:s, s:I, s:I}", "cmd", "download_speed", "bytes_per_s", bytes_per_s,
                      "chunk", chunk));
}

/* The next updateFile of file id for cl (from the backlog first), or NULL. */
static json_t *
await_file_update(int cl, json_int_t id, double timeout)
{
    double deadline = now_s() + timeout;

    for (;;) {
        json_t *j;

        for (size_t i = 0; i < json_array_size(backlog); i++) {
            j = json_array_get(backlog, i);
            if (jnum(j, "@client_id") == cl && strcmp(type_of(j), "updateFile") == 0 &&
                jnum(json_object_get(j, "file"), "id") == id) {
                json_incref(j);
                json_array_remove(backlog, i);
                return j;
            }
        }
        if (now_s() >= deadline)
            return NULL;
        j = receive(0.05);
        if (j != NULL)
            json_array_append_new(backlog, j);
    }
}

/* Wait for an updateFile of id with at least bytes downloaded; returns its prefix. */
static json_int_t
await_prefix(int cl, json_int_t id, json_int_t bytes)
{
    for (;;) {
        json_t *u = await_file_update(cl, id, 5.0);
        json_int_t have;

        assert_non_null(u);
        have = jnum(local_of(json_object_get(u, "file")), "downloaded_prefix_size");
        json_decref(u);
        if (have >= bytes)
            return have;
    }
}

/* Reopen the saved session in dir/sub: Ready and connected. */
static int
reopen(const char *sub)
{
    int cl = source_tdjson_client_new(tj);

    assert_ok(call(cl, params(sub, "")));
    for (;;) {
        json_t *u = await_update(cl, "updateConnectionState", 5.0);
        bool ready;

        assert_non_null(u);
        ready = strcmp(type_of(json_object_get(u, "state")), "connectionStateReady") == 0;
        json_decref(u);
        if (ready)
            break;
    }
    json_array_clear(backlog);
    return cl;
}

static int64_t
file_size_at(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void
test_download_sync_and_async(void **state)
{
    int cl = login("dl", BO), pending;
    json_t *m, *f, *a, *u, *page;
    json_int_t id, vid, last = -1;
    int updates = 0;
    char want[512];
    double t0;

    (void)state;
    assert_int_equal(search(cl, "big_archive"), BIG);
    m = post_media(cl, BIG, 2000001, "document", 300000, "tide.pdf");
    f = doc_file(m);
    id = jnum(f, "id");
    assert_true(id > 0);
    assert_int_equal(jnum(f, "size"), 300000);
    assert_string_equal(json_string_value(json_object_get(local_of(f), "path")), "");
    assert_true(json_is_false(json_object_get(local_of(f), "is_downloading_completed")));
    json_decref(m);
    /* TDLib's checks (FileManager::download_file) */
    assert_error(call(cl, download_req(id, 0, 1)), 400, "Priority must be between 1 and 32");
    assert_error(call(cl, download_req(id, 33, 1)), 400, "Priority must be between 1 and 32");
    assert_error(call(cl, download_req(987654, 1, 1)), 400, "File not found");
    a = download_req(id, 1, 1);
    json_object_set_new(a, "offset", json_integer(-1));
    assert_error(call(cl, a), 400, "Download offset must be non-negative");
    assert_error(call(cl, file_req("getFile", 987654)), 404, "Not Found");

    /* synchronous: the answer is the complete file, updateFile after every chunk before it */
    speed(0, 65536);
    a = call(cl, download_req(id, 1, 1));
    assert_string_equal(type_of(a), "file");
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    assert_true(json_is_false(json_object_get(local_of(a), "is_downloading_active")));
    assert_int_equal(jnum(local_of(a), "downloaded_prefix_size"), 300000);
    (void)snprintf(want, sizeof(want), "%s/dl/documents/tide.pdf", dir);
    assert_string_equal(json_string_value(json_object_get(local_of(a), "path")), want);
    assert_file_bytes(want, uid_of(a), 300000);
    json_decref(a);
    while ((u = await_file_update(cl, id, 0.2)) != NULL) {
        const json_t *l = local_of(json_object_get(u, "file"));

        assert_true(jnum(l, "downloaded_prefix_size") >= last);
        last = jnum(l, "downloaded_prefix_size");
        assert_int_equal(jnum(l, "downloaded_size"), last);
        assert_int_equal(json_is_true(json_object_get(l, "is_downloading_completed")),
                         last == 300000);
        updates++;
        json_decref(u);
    }
    assert_true(updates >= 5); /* the start, then 5 chunks of 64 KiB (the last one completes) */
    assert_int_equal(last, 300000);

    /* getFile, getMessage and history show the local copy */
    a = call(cl, file_req("getFile", id));
    assert_string_equal(json_string_value(json_object_get(local_of(a), "path")), want);
    json_decref(a);
    m = get_message(cl, BIG, MSG(2000001));
    f = doc_file(m);
    assert_int_equal(jnum(f, "id"), id);
    assert_true(json_is_true(json_object_get(local_of(f), "is_downloading_completed")));
    assert_true(json_is_true(json_object_get(local_of(f), "can_be_deleted")));
    json_decref(m);
    page = history(cl, BIG, 0, 0, 1);
    f = doc_file(json_array_get(messages_of(page), 0));
    assert_string_equal(json_string_value(json_object_get(local_of(f), "path")), want);
    json_decref(page);
    /* again: answered at once */
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    json_decref(a);

    /* asynchronous, slow: the answer comes at once, progress by updateFile, others go on */
    m = post_media(cl, BIG, 2000002, "video", 200000, NULL);
    f = content_file(m, "video", "video");
    vid = jnum(f, "id");
    assert_true(vid != id);
    f = json_object_get(
        json_object_get(json_object_get(json_object_get(m, "content"), "video"), "thumbnail"),
        "file");
    assert_true(jnum(f, "id") > 0 && jnum(f, "id") != vid && jnum(f, "id") != id);
    json_decref(m);
    json_array_clear(backlog);
    speed(400000, 50000);
    t0 = now_s();
    a = call(cl, download_req(vid, 16, 0));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_active")));
    assert_true(json_is_false(json_object_get(local_of(a), "is_downloading_completed")));
    assert_true(jnum(local_of(a), "downloaded_prefix_size") < 200000);
    json_decref(a);
    pending = send_req(cl, json_pack("{s:s}", "@type", "getMe"));
    a = await_answer(pending, 0.2); /* not behind the download */
    assert_non_null(a);
    assert_string_equal(type_of(a), "user");
    json_decref(a);
    updates = 0;
    for (;;) {
        u = await_file_update(cl, vid, 3.0);
        assert_non_null(u);
        updates++;
        if (json_is_true(json_object_get(local_of(json_object_get(u, "file")),
                                         "is_downloading_completed"))) {
            const json_t *l = local_of(json_object_get(u, "file"));

            (void)snprintf(want, sizeof(want), "%s/dl/videos/harbour-2000002.mp4", dir);
            assert_string_equal(json_string_value(json_object_get(l, "path")), want);
            assert_file_bytes(want, uid_of(json_object_get(u, "file")), 200000);
            json_decref(u);
            break;
        }
        json_decref(u);
    }
    assert_true(updates >= 4);
    assert_true(now_s() - t0 >= 0.4); /* 200000 bytes at 400000 B/s */
    speed(50000000, 131072);
    close_client(cl);
}

static void
test_download_shared_file(void **state)
{
    int cl = login("shared", BO), ada;
    json_t *m, *cmd, *f, *a, *page, *msgs;
    json_int_t id, photo_ids[3];
    char uid[64], path[512], path2[512];
    size_t nphotos = 0;

    (void)state;
    assert_int_equal(search(cl, "big_archive"), BIG);
    assert_int_equal(search(cl, "live_desk"), LIVE);
    m = post_media(cl, BIG, 2000003, "document", 150000, "shared.pdf");
    id = jnum(doc_file(m), "id");
    (void)snprintf(uid, sizeof(uid), "%s", uid_of(doc_file(m)));
    json_decref(m);
    /* the same remote file posted again in another chat */
    cmd = chat_cmd("new_message", LIVE);
    json_object_set_new(cmd, "id", json_integer(5000));
    json_object_set_new(cmd, "same_file_as",
                        json_pack("{s:I, s:i}", "chat", (json_int_t)BIG, "id", 2000003));
    json_object_set_new(cmd, "text", json_string("reposted"));
    json_object_set_new(cmd, "push", json_false());
    control(cmd);
    m = get_message(cl, LIVE, MSG(5000));
    f = doc_file(m);
    assert_int_equal(jnum(f, "id"), id); /* one file, one id */
    assert_string_equal(uid_of(f), uid);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(m, "content"), "caption"), "text")),
                        "reposted");
    json_decref(m);

    /* generated photos: every size its own file, ids stable on a second read */
    page = history(cl, BIG, MSG(1020000), 0, 100);
    msgs = messages_of(page);
    for (size_t i = 0; i < json_array_size(msgs) && nphotos == 0; i++) {
        json_t *c = json_object_get(json_array_get(msgs, i), "content");
        json_t *sizes = json_object_get(json_object_get(c, "photo"), "sizes");

        if (strcmp(type_of(c), "messagePhoto") != 0)
            continue;
        for (size_t k = 0; k < json_array_size(sizes) && k < 3; k++) {
            json_t *pf = json_object_get(json_array_get(sizes, k), "photo");

            photo_ids[nphotos++] = jnum(pf, "id");
            for (size_t j = 0; j + 1 < nphotos; j++)
                assert_true(photo_ids[j] != jnum(pf, "id"));
            assert_true(jnum(pf, "id") != id);
        }
        m = get_message(cl, BIG, jnum(json_array_get(msgs, i), "id"));
        sizes = json_object_get(json_object_get(json_object_get(m, "content"), "photo"), "sizes");
        for (size_t k = 0; k < nphotos; k++)
            assert_int_equal(jnum(json_object_get(json_array_get(sizes, k), "photo"), "id"),
                             photo_ids[k]);
        json_decref(m);
    }
    assert_true(nphotos >= 2);
    json_decref(page);

    /* downloaded through one message, complete in the other */
    a = call(cl, download_req(id, 1, 1));
    (void)snprintf(path, sizeof(path), "%s",
                   json_string_value(json_object_get(local_of(a), "path")));
    json_decref(a);
    assert_file_bytes(path, uid, 150000);
    m = get_message(cl, BIG, MSG(2000003));
    assert_string_equal(json_string_value(json_object_get(local_of(doc_file(m)), "path")), path);
    json_decref(m);

    /* another account, another directory: the same bytes */
    ada = login("shared-ada", ADA);
    assert_int_equal(search(ada, "live_desk"), LIVE);
    m = get_message(ada, LIVE, MSG(5000));
    a = call(ada, download_req(jnum(doc_file(m), "id"), 1, 1));
    json_decref(m);
    (void)snprintf(path2, sizeof(path2), "%s",
                   json_string_value(json_object_get(local_of(a), "path")));
    json_decref(a);
    assert_true(strcmp(path, path2) != 0);
    assert_file_bytes(path2, uid, 150000);
    close_client(ada);

    /* deleteFile: the copy goes, the fields reset, an updateFile says so */
    json_array_clear(backlog);
    assert_ok(call(cl, file_req("deleteFile", id)));
    assert_int_equal(access(path, F_OK), -1);
    a = await_file_update(cl, id, 1.0);
    assert_non_null(a);
    f = json_object_get(a, "file");
    assert_string_equal(json_string_value(json_object_get(local_of(f), "path")), "");
    assert_int_equal(jnum(local_of(f), "downloaded_prefix_size"), 0);
    assert_true(json_is_false(json_object_get(local_of(f), "is_downloading_completed")));
    json_decref(a);
    a = call(cl, file_req("getFile", id));
    assert_true(json_is_false(json_object_get(local_of(a), "can_be_deleted")));
    json_decref(a);
    assert_ok(call(cl, file_req("deleteFile", 987654))); /* TDLib: ok for an unknown file */
    a = call(cl, download_req(id, 1, 1));                /* again, the same bytes */
    assert_string_equal(json_string_value(json_object_get(local_of(a), "path")), path);
    assert_file_bytes(path, uid, 150000);
    json_decref(a);
    close_client(cl);
}

/* A partial download survives the client: the next one goes on from the bytes on disk. */
static void
test_download_resume_after_reopen(void **state)
{
    int cl = login("resume", BO);
    json_t *m, *a, *u;
    json_int_t id, have, after;
    char uid[64], partial[512];

    (void)state;
    assert_int_equal(search(cl, "big_archive"), BIG);
    m = post_media(cl, BIG, 2000004, "document", 400000, "resume.pdf");
    id = jnum(doc_file(m), "id");
    (void)snprintf(uid, sizeof(uid), "%s", uid_of(doc_file(m)));
    json_decref(m);
    speed(200000, 20000);
    a = call(cl, download_req(id, 1, 0));
    (void)snprintf(partial, sizeof(partial), "%s",
                   json_string_value(json_object_get(local_of(a), "path")));
    assert_non_null(strstr(partial, "/resume/temp/")); /* TDLib's temporary file */
    json_decref(a);
    have = await_prefix(cl, id, 100000);
    close_client(cl);
    after = file_size_at(partial);
    assert_true(after >= have && after < 400000);

    cl = reopen("resume");
    m = get_message(cl, BIG, MSG(2000004));
    id = jnum(doc_file(m), "id");
    assert_int_equal(jnum(local_of(doc_file(m)), "downloaded_prefix_size"), after);
    assert_true(json_is_false(json_object_get(local_of(doc_file(m)), "is_downloading_active")));
    json_decref(m);
    speed(50000000, 131072);
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    assert_file_bytes(json_string_value(json_object_get(local_of(a), "path")), uid, 400000);
    json_decref(a);
    /* never from zero: every update of the second download starts at the prefix */
    while ((u = await_file_update(cl, id, 0.2)) != NULL) {
        assert_true(jnum(local_of(json_object_get(u, "file")), "downloaded_prefix_size") >= after);
        json_decref(u);
    }
    assert_int_equal(access(partial, F_OK), -1); /* moved to documents/ */
    close_client(cl);
}

#define KILL_MSG 2000005

/*
 * The child process of test_download_resume_after_kill: opens the session
 * in <top>/kill (top: the parent's folder), starts the download of KILL_MSG's document and prints
 * every downloaded_prefix_size it is told, until it is killed.
 */
static int
download_child(const char *top)
{
    json_t *m, *a;
    int cl;

    if (strlen(top) != strlen(dir))
        return 2;
    memcpy(dir, top, sizeof(dir));
    if (source_tdjson_open(TGH_FAKE_TDJSON_PATH, &tj) != TGH_OK)
        return 2;
    backlog = json_array();
    cl = reopen("kill");
    m = get_message(cl, BIG, MSG(KILL_MSG));
    a = call(cl, download_req(jnum(doc_file(m), "id"), 1, 0));
    json_decref(a);
    for (;;) {
        json_t *u = await_file_update(cl, jnum(doc_file(m), "id"), 5.0);

        if (u == NULL)
            return 3;
        printf("%lld\n",
               (long long)jnum(local_of(json_object_get(u, "file")), "downloaded_prefix_size"));
        fflush(stdout);
        json_decref(u);
    }
}

/* kill -9 of the process mid-download: the next process resumes from what is on disk. */
static void
test_download_resume_after_kill(void **state)
{
    int cl = login("kill", BO), fds[2], status;
    json_t *m, *a, *u;
    json_int_t id, seen = 0, have;
    char uid[64], line[64];
    FILE *out;
    pid_t pid;

    (void)state;
    assert_int_equal(search(cl, "big_archive"), BIG);
    m = post_media(cl, BIG, KILL_MSG, "document", 600000, "killed.pdf");
    (void)snprintf(uid, sizeof(uid), "%s", uid_of(doc_file(m)));
    json_decref(m);
    close_client(cl); /* the session is the child's now */
    speed(200000, 10000);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)dup2(fds[1], 1);
        (void)close(fds[0]);
        (void)close(fds[1]);
        execl("/proc/self/exe", "it_fake_tdjson", "--download-child", dir, (char *)NULL);
        _exit(127);
    }
    (void)close(fds[1]);
    out = fdopen(fds[0], "r");
    assert_non_null(out);
    while (seen < 150000 && fgets(line, sizeof(line), out) != NULL)
        seen = strtoll(line, NULL, 10);
    assert_true(seen >= 150000);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    fclose(out);

    cl = reopen("kill"); /* the lock died with the process */
    m = get_message(cl, BIG, MSG(KILL_MSG));
    id = jnum(doc_file(m), "id");
    have = jnum(local_of(doc_file(m)), "downloaded_prefix_size");
    assert_true(have >= seen && have < 600000);
    json_decref(m);
    speed(50000000, 131072);
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    assert_file_bytes(json_string_value(json_object_get(local_of(a), "path")), uid, 600000);
    json_decref(a);
    while ((u = await_file_update(cl, id, 0.2)) != NULL) {
        assert_true(jnum(local_of(json_object_get(u, "file")), "downloaded_prefix_size") >= have);
        json_decref(u);
    }
    close_client(cl);
}

static void
test_download_cancel(void **state)
{
    int cl = login("cancel", BO), waiting;
    json_t *m, *a, *u;
    json_int_t id, have;
    char partial[512];

    (void)state;
    assert_int_equal(search(cl, "big_archive"), BIG);
    m = post_media(cl, BIG, 2000006, "document", 500000, NULL);
    id = jnum(doc_file(m), "id");
    json_decref(m);
    speed(200000, 20000);
    waiting = send_req(cl, download_req(id, 1, 1));
    (void)await_prefix(cl, id, 40000);
    /* started: only_if_pending leaves it alone */
    assert_ok(call(cl, json_pack("{s:s, s:I, s:b}", "@type", "cancelDownloadFile", "file_id", id,
                                 "only_if_pending", 1)));
    a = call(cl, file_req("getFile", id));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_active")));
    json_decref(a);
    assert_ok(call(cl, json_pack("{s:s, s:I, s:b}", "@type", "cancelDownloadFile", "file_id", id,
                                 "only_if_pending", 0)));
    assert_error(await_answer(waiting, 2.0), 400, "File download has failed or was canceled");
    for (;;) {
        u = await_file_update(cl, id, 2.0);
        assert_non_null(u);
        if (json_is_false(
                json_object_get(local_of(json_object_get(u, "file")), "is_downloading_active"))) {
            json_decref(u);
            break;
        }
        json_decref(u);
    }
    a = call(cl, file_req("getFile", id));
    have = jnum(local_of(a), "downloaded_prefix_size");
    assert_true(have >= 40000 && have < 500000);
    assert_true(json_is_false(json_object_get(local_of(a), "is_downloading_completed")));
    (void)snprintf(partial, sizeof(partial), "%s",
                   json_string_value(json_object_get(local_of(a), "path")));
    json_decref(a);
    assert_int_equal(file_size_at(partial), have); /* the prefix stays */
    drain(0.3);
    a = call(cl, file_req("getFile", id)); /* and nothing more arrives */
    assert_int_equal(jnum(local_of(a), "downloaded_prefix_size"), have);
    json_decref(a);
    a = call(cl, json_pack("{s:s, s:I, s:i}", "@type", "getFileDownloadedPrefixSize", "file_id", id,
                           "offset", 1000));
    assert_int_equal(jnum(a, "size"), have - 1000);
    json_decref(a);
    speed(50000000, 131072);
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    assert_int_equal(file_size_at(json_string_value(json_object_get(local_of(a), "path"))), 500000);
    json_decref(a);
    close_client(cl);
}

static void
test_download_failures(void **state)
{
    int cl = login("fail", BO);
    json_t *m, *a, *cmd;
    json_int_t id, have;
    char uid[64];

    (void)state;
    assert_int_equal(search(cl, "big_archive"), BIG);

    /* (a) failing after some bytes: the scripted error, the prefix kept, then a resume */
    m = post_media(cl, BIG, 2000007, "document", 200000, "failing.pdf");
    id = jnum(doc_file(m), "id");
    (void)snprintf(uid, sizeof(uid), "%s", uid_of(doc_file(m)));
    json_decref(m);
    control(json_pack("{s:s, s:i, s:i, s:i, s:s}", "cmd", "download_fail", "count", 1,
                      "after_bytes", 50000, "code", 500, "message", "Internal Server Error"));
    assert_error(call(cl, download_req(id, 1, 1)), 500, "Internal Server Error");
    a = call(cl, file_req("getFile", id));
    assert_int_equal(jnum(local_of(a), "downloaded_prefix_size"), 50000);
    assert_true(json_is_false(json_object_get(local_of(a), "is_downloading_active")));
    assert_int_equal(file_size_at(json_string_value(json_object_get(local_of(a), "path"))), 50000);
    json_decref(a);
    control(json_pack("{s:s, s:s}", "cmd", "download_fail", "unique_id", uid)); /* TDLib's text */
    assert_error(call(cl, download_req(id, 1, 1)), 400, "File download has failed or was canceled");
    a = call(cl, file_req("getFile", id));
    have = jnum(local_of(a), "downloaded_prefix_size");
    assert_true(have > 50000 && have < 200000); /* half of the rest */
    json_decref(a);
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    assert_file_bytes(json_string_value(json_object_get(local_of(a), "path")), uid, 200000);
    json_decref(a);

    /* (b) an expired file reference, until the message is read again */
    m = post_media(cl, BIG, 2000008, "document", 30000, NULL);
    id = jnum(doc_file(m), "id");
    json_decref(m);
    cmd = json_pack("{s:s, s:I, s:i}", "cmd", "file_reference_expired", "chat", (json_int_t)BIG,
                    "id", 2000008);
    control(cmd);
    assert_error(call(cl, download_req(id, 1, 1)), 400, "FILE_REFERENCE_EXPIRED");
    json_decref(call(cl, file_req("getFile", id))); /* not a read of the message */
    assert_error(call(cl, download_req(id, 1, 1)), 400, "FILE_REFERENCE_EXPIRED");
    json_decref(get_message(cl, BIG, MSG(2000008)));
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    json_decref(a);
    /* every file; getMessages and getChatHistory read messages too */
    m = post_media(cl, BIG, 2000009, "voice_note", 20000, NULL);
    id = jnum(content_file(m, "voice_note", "voice"), "id");
    json_decref(m);
    control(json_pack("{s:s}", "cmd", "file_reference_expired"));
    assert_error(call(cl, download_req(id, 1, 1)), 400, "FILE_REFERENCE_EXPIRED");
    a = call(cl, json_pack("{s:s, s:I, s:[I, I]}", "@type", "getMessages", "chat_id",
                           (json_int_t)BIG, "message_ids", MSG(2000009), MSG(1999999)));
    assert_int_equal(json_array_size(messages_of(a)), 2);
    assert_true(json_is_null(json_array_get(json_object_get(a, "messages"), 1)));
    json_decref(a);
    a = call(cl, download_req(id, 1, 1));
    assert_string_equal(type_of(a), "file");
    assert_non_null(strstr(json_string_value(json_object_get(local_of(a), "path")), "/voice/"));
    json_decref(a);

    /* (c) a flood wait on downloads, as on history */
    m = post_media(cl, BIG, 2000010, "animation", 30000, NULL);
    id = jnum(content_file(m, "animation", "animation"), "id");
    json_decref(m);
    control(json_pack("{s:s, s:i, s:s, s:i}", "cmd", "flood", "seconds", 1, "method",
                      "downloadFile", "client", cl));
    assert_error(call(cl, download_req(id, 1, 1)), 429, "Too Many Requests: retry after 1");
    json_decref(call(cl, file_req("getFile", id))); /* local: no violation */
    usleep(1100 * 1000);
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    json_decref(a);
    assert_int_equal(log_count(cl, "violation", NULL), 0);

    /* (e) a truncated download: reported complete, shorter on disk */
    m = post_media(cl, BIG, 2000011, "document", 100000, "short.pdf");
    id = jnum(doc_file(m), "id");
    json_decref(m);
    control(json_pack("{s:s, s:i}", "cmd", "download_truncate", "bytes", 1000));
    a = call(cl, download_req(id, 1, 1));
    assert_true(json_is_true(json_object_get(local_of(a), "is_downloading_completed")));
    assert_int_equal(jnum(local_of(a), "downloaded_size"), 100000);
    assert_int_equal(jnum(a, "expected_size"), 100000);
    assert_int_equal(file_size_at(json_string_value(json_object_get(local_of(a), "path"))), 99000);
    json_decref(a);
    close_client(cl);
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    json_t *early;
    char *text;
    FILE *f;

    (void)state;
    if (mkdtemp(dir) == NULL)
        return -1;
    (void)snprintf(logp, sizeof(logp), "%s/fake.log", dir);
    (void)snprintf(ctlp, sizeof(ctlp), "%s/control.jsonl", dir);
    /* already there when the library starts: applied without updates */
    early = json_pack("{s:s, s:I, s:i, s:s}", "cmd", "edit", "chat", (json_int_t)LIVE, "id", 3,
                      "text", "edited before start");
    text = json_dumps(early, JSON_COMPACT);
    f = fopen(ctlp, "w");
    if (f == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
        return -1;
    tgh_free(text);
    json_decref(early);
    setenv("TGH_FAKE_TD_WORLD", TGH_FIXTURES "/worlds/harbour.json", 1);
    setenv("TGH_FAKE_TD_LOG", logp, 1);
    setenv("TGH_FAKE_TD_CONTROL", ctlp, 1);
    if (source_tdjson_open(TGH_FAKE_TDJSON_PATH, &tj) != TGH_OK) {
        fprintf(stderr, "it_fake_tdjson: %s\n", tgh_errmsg());
        return -1;
    }
    backlog = json_array();
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    source_tdjson_close(tj);
    json_decref(backlog);
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute),
        cmocka_unit_test(test_login_with_code_and_password),
        cmocka_unit_test(test_session_persists),
        cmocka_unit_test(test_history_paging_gets_every_id_once),
        cmocka_unit_test(test_history_offsets),
        cmocka_unit_test(test_comments_and_topics),
        cmocka_unit_test(test_flood_waits_and_usage_rules),
        cmocka_unit_test(test_control_edit_delete_unload),
        cmocka_unit_test(test_disconnect_drops_updates),
        cmocka_unit_test(test_private_and_unknown_chats),
        cmocka_unit_test(test_download_sync_and_async),
        cmocka_unit_test(test_download_shared_file),
        cmocka_unit_test(test_download_resume_after_reopen),
        cmocka_unit_test(test_download_resume_after_kill),
        cmocka_unit_test(test_download_cancel),
        cmocka_unit_test(test_download_failures),
    };

    if (argc == 3 && strcmp(argv[1], "--download-child") == 0)
        return download_child(argv[2]);

    return cmocka_run_group_tests(tests, setup, teardown);
}
