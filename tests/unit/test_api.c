/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - the API's pure parts: API keys and their roles (errors never
 * quote a key), the route table, the stream's filters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "core/time.h"

#define K1 "first-key-0123456789"
#define K2 "second-key-0123456789"

static void
test_keys_list_and_roles(void **state)
{
    static const char list[] = K1 ":read, " K2 ":admin ,";
    struct api_keys *k = NULL;

    (void)state;
    assert_int_equal(api_keys_parse(list, strlen(list), false, &k), TGH_OK);
    assert_int_equal(api_keys_count(k), 2);
    assert_int_equal(api_keys_role(k, K1, strlen(K1)), API_ROLE_READ);
    assert_int_equal(api_keys_role(k, K2, strlen(K2)), API_ROLE_ADMIN);
    /* A prefix, a longer key, another case: not a key. */
    assert_int_equal(api_keys_role(k, K1, strlen(K1) - 1), API_ROLE_NONE);
    assert_int_equal(api_keys_role(k, K1 "x", strlen(K1) + 1), API_ROLE_NONE);
    assert_int_equal(api_keys_role(k, "FIRST-key-0123456789", strlen(K1)), API_ROLE_NONE);
    assert_int_equal(api_keys_role(k, "", 0), API_ROLE_NONE);
    assert_string_equal(api_role_name(API_ROLE_ADMIN), "admin");
    api_keys_free(k);
}

static void
test_key_file_with_comments(void **state)
{
    static const char file[] = "# keys\n\n" K1 ":admin # the operator\r\n  " K2 ":read\n";
    char path[] = "/tmp/tgh-keys-XXXXXX";
    struct api_keys *k = NULL;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, file, strlen(file)), (ssize_t)strlen(file));
    assert_int_equal(close(fd), 0);
    assert_int_equal(api_keys_load(NULL, path, &k), TGH_OK);
    assert_int_equal(api_keys_count(k), 2);
    assert_int_equal(api_keys_role(k, K1, strlen(K1)), API_ROLE_ADMIN);
    assert_int_equal(api_keys_role(k, K2, strlen(K2)), API_ROLE_READ);
    api_keys_free(k);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(api_keys_load(NULL, path, &k), TGH_ENOTFOUND);
}

/* Bad entries are refused by position; the error never shows the key. */
static void
test_bad_keys_refused_without_quoting(void **state)
{
    static const char *const bad[] = {
        "short-key:read",                   /* under 16 characters */
        "good-key-0123456789:owner",        /* no such role */
        "good-key-0123456789",              /* no role */
        "good key-0123456789:read",         /* a space */
        "good-key-0123456789\x01:read",     /* a control character */
        "good-key-0123456789\xc3\xa9:read", /* not ASCII */
    };
    struct api_keys *k = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(api_keys_parse(bad[i], strlen(bad[i]), false, &k), TGH_EINVAL);
        assert_non_null(strstr(tgh_errmsg(), "entry 1"));
        assert_null(strstr(tgh_errmsg(), "key-0123456789"));
        assert_null(strstr(tgh_errmsg(), "short-key"));
    }
    assert_int_equal(api_keys_parse(K1 ":read,x:y", strlen(K1 ":read,x:y"), false, &k), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "entry 2"));
}

static void
test_routes(void **state)
{
    int64_t a[2];

    (void)state;
    assert_string_equal(api_route_name("GET", "/api/v1/chats/-1001/messages/42", a), "message");
    assert_int_equal(a[0], -1001);
    assert_int_equal(a[1], 42);
    assert_string_equal(api_route_name("HEAD", "/api/v1/chats", a), "chats");
    assert_string_equal(api_route_name("POST", "/api/v1/dead-letters/7/retry", a),
                        "dead_letter_retry");
    assert_string_equal(api_route_name("GET", "/assets/app.js", a), "dashboard");
    assert_null(api_route_name("GET", "/assets/a/b.js", a));
    assert_null(api_route_name("GET", "/api/v1/chats/007/messages", a)); /* no leading zeros */
    assert_null(api_route_name("GET", "/api/v1/chats/+7/messages", a));
    assert_null(api_route_name("GET", "/api/v1/chats/1x/messages", a));
    assert_null(api_route_name("GET", "/api/v1/chats/99999999999999999999/messages", a));
    assert_null(api_route_name("GET", "/api/v1/chats/", a));
    assert_null(api_route_name("DELETE", "/api/v1/chats", a));
}

static void
test_stream_filters(void **state)
{
    struct api_stream_filter f;

    (void)state;
    assert_int_equal(api_stream_filter_parse(NULL, NULL, &f), TGH_OK);
    assert_int_equal(f.nchats, 0);
    assert_int_equal(f.kinds, 7);
    assert_int_equal(api_stream_filter_parse("-1001,42", "edit,delete", &f), TGH_OK);
    assert_int_equal(f.nchats, 2);
    assert_int_equal(f.chats[0], -1001);
    assert_int_equal(f.chats[1], 42);
    assert_int_equal(f.kinds, 6);
    assert_int_equal(api_stream_filter_parse("0", NULL, &f), TGH_EINVAL);
    assert_int_equal(api_stream_filter_parse("1,,2", NULL, &f), TGH_EINVAL);
    assert_int_equal(api_stream_filter_parse(NULL, "new,gossip", &f), TGH_EINVAL);
    assert_int_equal(api_stream_filter_parse(NULL, "", &f), TGH_EINVAL);
}

/* Dates of query parameters: strict, in 1970..9999 (a fuzzer found year 4). */
static void
test_dates(void **state)
{
    int64_t t = -1;

    (void)state;
    assert_int_equal(tgh_time_parse("2024-02-29T10:00Z", &t), TGH_OK);
    assert_int_equal(t, 1709200800);
    assert_int_equal(tgh_time_parse("1970-01-01", &t), TGH_OK);
    assert_int_equal(t, 0);
    assert_int_equal(tgh_time_parse("1732442400", &t), TGH_OK);
    assert_int_equal(t, 1732442400);
    assert_int_equal(tgh_time_parse("2024-02-30", &t), TGH_EINVAL);
    assert_int_equal(tgh_time_parse("4-02-29T10:00Z", &t), TGH_EINVAL);
    assert_int_equal(tgh_time_parse("1969-12-31T23:59:59", &t), TGH_EINVAL);
    assert_int_equal(tgh_time_parse("-5", &t), TGH_EINVAL);
    assert_int_equal(tgh_time_parse("", &t), TGH_EINVAL);
    assert_int_equal(tgh_time_parse("2024-01-01 junk", &t), TGH_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_list_and_roles),
        cmocka_unit_test(test_key_file_with_comments),
        cmocka_unit_test(test_bad_keys_refused_without_quoting),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_stream_filters),
        cmocka_unit_test(test_dates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
