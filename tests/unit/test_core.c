/* SPDX-License-Identifier: MIT */
/*
 * test_core.c - configuration table, .env parsing, URLs, chat-id conventions,
 * UTF-16 lengths and the arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/url.h"

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = tgh_malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Every key of the configuration table is documented. */
static void
test_config_keys_documented(void **state)
{
    char *doc = read_file(TGH_SOURCE_DIR "/docs/config.md");
    const char *const *keys = tgh_config_keys();
    int n = 0;

    (void)state;
    for (; *keys != NULL; keys++, n++) {
        char needle[160];

        snprintf(needle, sizeof(needle), "| `%s` |", *keys);
        if (strstr(doc, needle) == NULL)
            fail_msg("%s is missing from docs/config.md", *keys);
    }
    assert_true(n >= 5);
    tgh_free(doc);
}

struct pairs {
    int n;
    char keys[8][64];
    char values[8][128];
};

static tgh_err
collect(void *arg, const char *key, const char *value, int line)
{
    struct pairs *p = arg;

    (void)line;
    if (p->n == 8)
        return TGH_ETOOBIG;
    snprintf(p->keys[p->n], sizeof(p->keys[0]), "%s", key);
    snprintf(p->values[p->n], sizeof(p->values[0]), "%s", value);
    p->n++;
    return TGH_OK;
}

static void
test_env_parse(void **state)
{
    const char *text = "# comment\n"
                       "TGH_STORE=sqlite://x.db\n"
                       "export TGH_LOG_LEVEL = debug  # trailing comment\n"
                       "\n"
                       "QUOTED=\"a \\\"b\\\"\\nc\"\n"
                       "SINGLE='lit \\n # not a comment'\n"
                       "EMPTY=\n"
                       "HASH=a#b\r\n";
    struct pairs p = { 0 };

    (void)state;
    assert_int_equal(tgh_env_parse(text, strlen(text), collect, &p), TGH_OK);
    assert_int_equal(p.n, 6);
    assert_string_equal(p.keys[0], "TGH_STORE");
    assert_string_equal(p.values[0], "sqlite://x.db");
    assert_string_equal(p.keys[1], "TGH_LOG_LEVEL");
    assert_string_equal(p.values[1], "debug");
    assert_string_equal(p.values[2], "a \"b\"\nc");
    assert_string_equal(p.values[3], "lit \\n # not a comment");
    assert_string_equal(p.values[4], "");
    assert_string_equal(p.values[5], "a#b");
}

static void
test_env_parse_errors_name_the_line(void **state)
{
    static const char *const bad[] = { "A=1\nnot a pair\n", "A=1\nB=\"open\n", "=1\n",
                                       "A='x' y\n" };
    struct pairs p;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&p, 0, sizeof(p));
        assert_int_not_equal(tgh_env_parse(bad[i], strlen(bad[i]), collect, &p), TGH_OK);
        assert_non_null(strstr(tgh_errmsg(), "line "));
    }
}

static void
test_config_load_precedence(void **state)
{
    char path[] = "/tmp/tgh_env_XXXXXX";
    int fd = mkstemp(path);
    struct tgh_config cfg;
    const char *text = "TGH_STORE=sqlite://from-file.db\nTGH_BATCH_SIZE=42\n";

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    setenv("TGH_ENV_FILE", path, 1);
    setenv("TGH_BATCH_SIZE", "7", 1);
    assert_int_equal(tgh_config_load(&cfg), TGH_OK);
    assert_string_equal(cfg.store_url, "sqlite://from-file.db");
    assert_int_equal(cfg.batch_size, 7); /* environment wins */
    assert_string_equal(cfg.import_tz, "UTC");
    tgh_config_fini(&cfg);

    setenv("TGH_BATCH_SIZE", "0", 1);
    assert_int_equal(tgh_config_load(&cfg), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "TGH_BATCH_SIZE: '0' is not an integer"));
    tgh_config_fini(&cfg);
    unsetenv("TGH_BATCH_SIZE");
    /* A detail that wraps the previous one reads whole (no overlapping format). */
    setenv("TGH_LOG_LEVEL", "loud", 1);
    assert_int_equal(tgh_config_load(&cfg), TGH_EINVAL);
    assert_string_equal(tgh_errmsg(), "TGH_LOG_LEVEL: unknown log level 'loud' (error, warn, "
                                      "info, debug)");
    unsetenv("TGH_LOG_LEVEL");
    tgh_config_fini(&cfg);
    unsetenv("TGH_BATCH_SIZE");
    unsetenv("TGH_ENV_FILE");
    unlink(path);
}

static void
test_url_parse(void **state)
{
    struct tgh_url u;
    char buf[256];

    (void)state;
    assert_int_equal(tgh_url_parse("sqlite://data/x.db", &u), TGH_OK);
    assert_string_equal(u.scheme, "sqlite");
    assert_string_equal(u.rest, "data/x.db");
    tgh_url_fini(&u);
    assert_int_equal(tgh_url_parse("sqlite:///abs/x.db", &u), TGH_OK);
    assert_string_equal(u.rest, "/abs/x.db");
    tgh_url_fini(&u);
    assert_int_equal(tgh_url_parse("PostgreSQL://me:secret@db.local:5433/tg?sslmode=off", &u),
                     TGH_OK);
    assert_string_equal(u.scheme, "postgresql");
    assert_string_equal(u.user, "me");
    assert_string_equal(u.password, "secret");
    assert_string_equal(u.host, "db.local");
    assert_string_equal(u.port, "5433");
    assert_string_equal(u.path, "/tg");
    assert_string_equal(u.query, "sslmode=off");
    tgh_url_fini(&u);
    assert_int_equal(tgh_url_parse("no-scheme", &u), TGH_EINVAL);
    assert_int_equal(tgh_url_parse("", &u), TGH_EINVAL);

    tgh_url_redact("postgresql://me:secret@h/db", buf, sizeof(buf));
    assert_null(strstr(buf, "secret"));
    assert_string_equal(buf, "postgresql://me:***@h/db");
    tgh_url_redact("sqlite://data/x.db", buf, sizeof(buf));
    assert_string_equal(buf, "sqlite://data/x.db");
}

/* Import and live collection of the same chat must land on the same id. */
static void
test_chat_id_conventions(void **state)
{
    (void)state;
    assert_true(msg_chat_id_from_bare(MSG_CHAT_CHANNEL, 1234567890) == INT64_C(-1001234567890));
    assert_true(msg_chat_id_from_bare(MSG_CHAT_SUPERGROUP, 77) == INT64_C(-1000000000077));
    assert_true(msg_chat_id_from_bare(MSG_CHAT_GROUP, 4242) == -4242);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_PRIVATE, 4242) == 4242);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_CHANNEL, INT64_C(-1001234567890)) ==
                INT64_C(-1001234567890));
    assert_true(msg_chat_id_from_peer(MSG_PEER_CHANNEL, 5) == INT64_C(-1000000000005));
    assert_true(msg_chat_id_from_peer(MSG_PEER_USER, 5) == 5);
    /* Out of range for the kind: 0, never an overflow. */
    assert_true(msg_chat_id_from_bare(MSG_CHAT_CHANNEL, INT64_C(9223372036854775000)) == 0);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_CHANNEL, INT64_C(1000000000000)) == 0);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_CHANNEL, 0) == 0);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_CHANNEL, -5) == 0);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_GROUP, INT64_C(-1001234567890)) == 0);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_PRIVATE, INT64_C(1) << 52) == 0);
    assert_true(msg_chat_id_from_bare(MSG_CHAT_PRIVATE, INT64_MIN) == 0);
    assert_true(msg_chat_id_from_peer(MSG_PEER_CHANNEL, INT64_MAX) == 0);
}

static void
test_idempotency_key(void **state)
{
    struct msg_event ev;
    char key[64];

    (void)state;
    msg_event_init(&ev);
    ev.chat_id = INT64_C(-1001234567890);
    ev.date = 1700000000;
    ev.message_id = 42;
    assert_int_equal(msg_event_key(&ev, key, sizeof(key)), 28);
    assert_string_equal(key, "-1001234567890:1700000000:42");
    assert_int_equal(msg_event_key(&ev, key, 10), -1);
}

static void
test_utf16_len(void **state)
{
    (void)state;
    assert_int_equal(msg_utf16_len("abc", 3), 3);
    assert_int_equal(msg_utf16_len("\xd0\x9f\xd1\x80", 4), 2); /* "Пр" */
    assert_int_equal(msg_utf16_len("\xe2\x9a\x93", 3), 1);     /* U+2693 anchor */
    assert_int_equal(msg_utf16_len("\xf0\x9f\x9a\xa2", 4), 2); /* U+1F6A2 ship: surrogates */
    assert_int_equal(msg_utf16_len("\xf0\x9f", 2), 2);         /* truncated: unit per byte */
}

static void
test_arena(void **state)
{
    struct tgh_arena a;
    char *big, *s;

    (void)state;
    tgh_arena_init(&a, 1024);
    s = tgh_arena_strdup(&a, "hello");
    assert_string_equal(s, "hello");
    assert_int_equal((uintptr_t)s % 16, 0);
    big = tgh_arena_alloc(&a, 100000); /* larger than a chunk */
    memset(big, 'x', 100000);
    s = tgh_arena_strndup(&a, "abcdef", 3);
    assert_string_equal(s, "abc");
    tgh_arena_reset(&a);
    assert_int_equal(a.used_bytes, 0);
    s = tgh_arena_strdup(&a, "again");
    assert_string_equal(s, "again");
    tgh_arena_fini(&a);
}

static void
test_names_round_trip(void **state)
{
    enum msg_chat_type t;
    enum msg_peer_type p;

    (void)state;
    for (int i = MSG_CHAT_UNKNOWN; i <= MSG_CHAT_CHANNEL; i++) {
        assert_true(msg_chat_type_parse(msg_chat_type_name((enum msg_chat_type)i), &t));
        assert_int_equal(t, i);
    }
    for (int i = MSG_PEER_USER; i <= MSG_PEER_CHANNEL; i++) {
        assert_true(msg_peer_type_parse(msg_peer_type_name((enum msg_peer_type)i), &p));
        assert_int_equal(p, i);
    }
    assert_false(msg_chat_type_parse("planet", &t));
}

/* Log lines escape what a hostile chat title could carry: quotes, C0, DEL, C1. */
static void
test_log_escapes_control_characters(void **state)
{
    int fds[2], saved;
    char buf[512];
    ssize_t n;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    tgh_log(TGH_LOG_ERROR, "test", "title %s end",
            "\x1b]0;pwned\x07\"q\"\\ \xc2\x9b"
            "1m\x7f ok \xc3\xa9");
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    (void)close(saved);
    (void)close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    (void)close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(
        buf,
        "sub=test \"title \\x1b]0;pwned\\x07\\\"q\\\"\\\\ \\xc2\\x9b1m\\x7f ok \xc3\xa9 end\"\n"));
    for (ssize_t i = 0; i < n - 1; i++)
        assert_true((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_keys_documented),
        cmocka_unit_test(test_log_escapes_control_characters),
        cmocka_unit_test(test_env_parse),
        cmocka_unit_test(test_env_parse_errors_name_the_line),
        cmocka_unit_test(test_config_load_precedence),
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_chat_id_conventions),
        cmocka_unit_test(test_idempotency_key),
        cmocka_unit_test(test_utf16_len),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_names_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
