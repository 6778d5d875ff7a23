/* SPDX-License-Identifier: MIT */
/*
 * it_tdlib_offline.c - the real TDLib, loaded through source_tdjson as the
 * collector will load it, driven as far as it goes without a network: a
 * synchronous td_execute round trip, and a client that takes its parameters,
 * reaches the phone-number prompt and closes cleanly. A missing library is a
 * failure, not a skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ftw.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/alloc.h"
#include "source/source.h"

static struct source_tdjson *tj;

static int
setup(void **state)
{
    (void)state;
    if (source_tdjson_open(getenv("TGH_TDJSON"), &tj) != TGH_OK) {
        fprintf(stderr, "it_tdlib_offline: %s\n", tgh_errmsg());
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    source_tdjson_close(tj);
    return 0;
}

static void
test_missing_library_names_path(void **state)
{
    struct source_tdjson *none = NULL;

    (void)state;
    assert_int_equal(source_tdjson_open("/nonexistent/libtdjson.so", &none), TGH_ENOTFOUND);
    assert_non_null(strstr(tgh_errmsg(), "/nonexistent/libtdjson.so"));
    assert_null(none);
}

/* td_execute answers synchronously; @extra comes back unchanged. */
static void
test_execute_round_trip(void **state)
{
    const char *r;
    json_t *j, *e;

    (void)state;
    r = source_tdjson_execute(tj, "{\"@type\":\"getTextEntities\",\"text\":\"see @durov and "
                                  "https://telegram.org\",\"@extra\":\"x-42\"}");
    assert_non_null(r);
    j = json_loads(r, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "@type")), "textEntities");
    assert_string_equal(json_string_value(json_object_get(j, "@extra")), "x-42");
    e = json_array_get(json_object_get(j, "entities"), 0);
    assert_int_equal(json_integer_value(json_object_get(e, "offset")), 4);
    assert_int_equal(json_integer_value(json_object_get(e, "length")), 6);
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "type"), "@type")),
                        "textEntityTypeMention");
    json_decref(j);
    r = source_tdjson_execute(tj, "{\"@type\":\"noSuchFunction\"}");
    assert_non_null(strstr(r, "\"@type\":\"error\""));
}

/* The authorization state an update announces, or NULL for any other answer. */
static const char *
auth_state(json_t *j)
{
    const char *type = json_string_value(json_object_get(j, "@type"));

    if (type == NULL || strcmp(type, "updateAuthorizationState") != 0)
        return NULL;
    return json_string_value(json_object_get(json_object_get(j, "authorization_state"), "@type"));
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
test_client_reaches_phone_prompt_offline(void **state)
{
    char dir[] = "/tmp/it_tdlib.XXXXXX", logp[64], params[512];
    bool seen_params = false, seen_phone = false, closed = false;
    time_t deadline = time(NULL) + 60;
    int id;

    (void)state;
    assert_non_null(mkdtemp(dir));
    (void)snprintf(logp, sizeof(logp), "%s/tdlib.log", dir);
    assert_int_equal(source_tdjson_log_to_file(tj, logp, 1), TGH_OK);
    id = source_tdjson_client_new(tj);
    assert_true(id > 0);
    source_tdjson_send(tj, id, "{\"@type\":\"getOption\",\"name\":\"version\",\"@extra\":7}");
    /* Placeholder credentials: without a network TDLib never checks them. */
    (void)snprintf(params, sizeof(params),
                   "{\"@type\":\"setTdlibParameters\",\"database_directory\":\"%s/db\","
                   "\"use_message_database\":false,\"api_id\":1,"
                   "\"api_hash\":\"00000000000000000000000000000000\","
                   "\"system_language_code\":\"en\",\"device_model\":\"test\","
                   "\"application_version\":\"0\"}",
                   dir);
    while (!closed && time(NULL) < deadline) {
        const char *r = source_tdjson_receive(tj, 1.0);
        const char *st;
        json_t *j;

        if (r == NULL)
            continue;
        j = json_loads(r, 0, NULL);
        assert_non_null(j);
        if (json_integer_value(json_object_get(j, "@extra")) == 7)
            assert_non_null(strstr(r, "1.8.67"));
        st = auth_state(j);
        if (st != NULL && strcmp(st, "authorizationStateWaitTdlibParameters") == 0) {
            seen_params = true;
            source_tdjson_send(tj, id, params);
        } else if (st != NULL && strcmp(st, "authorizationStateWaitPhoneNumber") == 0) {
            seen_phone = true;
            source_tdjson_send(tj, id, "{\"@type\":\"close\"}");
        } else if (st != NULL && strcmp(st, "authorizationStateClosed") == 0) {
            closed = true;
        }
        json_decref(j);
    }
    assert_true(seen_params);
    assert_true(seen_phone);
    assert_true(closed);
    /* TDLib wrote its log to the file, not to the terminal. */
    assert_int_equal(access(logp, F_OK), 0);
    assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library_names_path),
        cmocka_unit_test(test_execute_round_trip),
        cmocka_unit_test(test_client_reaches_phone_prompt_offline),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
