/* SPDX-License-Identifier: MIT */
/* The media policy: settings, chat specs, and what is kept of a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/media.h"

#define DAY 86400

static void
test_defaults(void **state)
{
    struct media_policy p;
    char spec[256];

    (void)state;
    assert_int_equal(media_policy_init(&p, NULL, NULL, NULL, NULL), TGH_OK);
    assert_int_equal(p.kinds, MEDIA_K_ALL & ~(MEDIA_K_STICKER | MEDIA_K_OTHER));
    assert_int_equal(p.max_size, 100 << 20);
    assert_int_equal(p.history_days, 7);
    assert_int_equal(p.thumbs, 0);
    (void)media_policy_format(&p, spec, sizeof(spec));
    assert_string_equal(spec, "kinds=photo,video,animation,audio,voice,video_note,document;"
                              "max=100M;history=7d;thumbs=");
}

static void
test_settings_parse_and_refuse(void **state)
{
    struct media_policy p;

    (void)state;
    assert_int_equal(media_policy_init(&p, "all", "0", "all", "video,animation"), TGH_OK);
    assert_int_equal(p.kinds, MEDIA_K_ALL);
    assert_int_equal(p.max_size, 0);
    assert_int_equal(p.history_days, -1);
    assert_int_equal(p.thumbs, MEDIA_K_VIDEO | MEDIA_K_ANIMATION);
    assert_int_equal(media_policy_init(&p, "none", "2G", "none", ""), TGH_OK);
    assert_int_equal(p.kinds, 0);
    assert_int_equal(p.max_size, INT64_C(2) << 30);
    assert_int_equal(p.history_days, 0);
    assert_int_equal(media_policy_init(&p, "photo,gif", NULL, NULL, NULL), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "TGH_MEDIA_KINDS"));
    assert_non_null(strstr(tgh_errmsg(), "'gif'"));
    assert_int_equal(media_policy_init(&p, NULL, "12X", NULL, NULL), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "TGH_MEDIA_MAX_SIZE"));
    assert_int_equal(media_policy_init(&p, NULL, "99999999999999999999", NULL, NULL), TGH_EINVAL);
    assert_int_equal(media_policy_init(&p, NULL, "M", NULL, NULL), TGH_EINVAL);
    assert_int_equal(media_policy_init(&p, NULL, NULL, "7", NULL), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "TGH_MEDIA_HISTORY"));
    assert_int_equal(media_policy_init(&p, NULL, NULL, "d", NULL), TGH_EINVAL);
    assert_int_equal(media_policy_init(&p, NULL, NULL, NULL, "voice,x"), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "TGH_MEDIA_THUMBS"));
}

static void
test_chat_spec_overrides(void **state)
{
    struct media_policy p, q;
    char spec[256];

    (void)state;
    assert_int_equal(media_policy_init(&p, NULL, NULL, NULL, NULL), TGH_OK);
    q = p;
    assert_int_equal(media_policy_apply(&q, "kinds=photo,voice;max=20M"), TGH_OK);
    assert_int_equal(q.kinds, MEDIA_K_PHOTO | MEDIA_K_VOICE);
    assert_int_equal(q.max_size, 20 << 20);
    assert_int_equal(q.history_days, 7); /* kept from the global policy */
    assert_int_equal(media_policy_apply(&q, "history=all;thumbs=video"), TGH_OK);
    (void)media_policy_format(&q, spec, sizeof(spec));
    assert_string_equal(spec, "kinds=photo,voice;max=20M;history=all;thumbs=video");
    /* A spec that fails changes nothing. */
    assert_int_equal(media_policy_apply(&q, "kinds=none;size=3"), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "'size'"));
    assert_int_equal(q.kinds, MEDIA_K_PHOTO | MEDIA_K_VOICE);
    assert_int_equal(media_policy_apply(&q, "kinds"), TGH_EINVAL);
    assert_int_equal(media_policy_apply(&q, "max=1Q"), TGH_EINVAL);
    assert_int_equal(media_policy_apply(&q, ""), TGH_OK);
    assert_int_equal(media_policy_apply(&q, "max=1500;"), TGH_OK);
    (void)media_policy_format(&q, spec, sizeof(spec));
    assert_non_null(strstr(spec, "max=1500;"));
}

static void
test_decisions(void **state)
{
    struct media_policy p;
    const char *why;
    int64_t added = 1700000000;

    (void)state;
    assert_int_equal(media_policy_init(&p, NULL, "10M", "7d", "video"), TGH_OK);
    assert_int_equal(media_policy_decide(&p, "photo", 1000, added + DAY, added, &why), MEDIA_KEEP);
    assert_null(why);
    assert_int_equal(media_policy_decide(&p, "sticker", 1000, added, added, &why), MEDIA_SKIP);
    assert_string_equal(why, "policy: kind not kept");
    assert_int_equal(media_policy_decide(&p, "something_new", 1, added, added, &why), MEDIA_SKIP);
    assert_int_equal(media_policy_decide(&p, "document", 10 << 20, added, added, &why), MEDIA_KEEP);
    assert_int_equal(media_policy_decide(&p, "document", (10 << 20) + 1, added, added, &why),
                     MEDIA_SKIP);
    assert_string_equal(why, "policy: larger than the size kept");
    assert_int_equal(media_policy_decide(&p, "document", 0, added, added, &why), MEDIA_KEEP);
    /* History: seven days before the chat was added is kept, older is not. */
    assert_int_equal(media_policy_decide(&p, "photo", 1, added - 7 * DAY, added, &why), MEDIA_KEEP);
    assert_int_equal(media_policy_decide(&p, "photo", 1, added - 7 * DAY - 1, added, &why),
                     MEDIA_SKIP);
    assert_string_equal(why, "policy: history older than the days kept");
    /* Imports (no added_at) are not history. */
    assert_int_equal(media_policy_decide(&p, "photo", 1, 0, 0, &why), MEDIA_KEEP);
    /* Thumbnails only, whatever the size of the file. */
    assert_int_equal(media_policy_decide(&p, "video", INT64_C(1) << 40, added, added, &why),
                     MEDIA_THUMB);
    p.history_days = 0;
    assert_int_equal(media_policy_decide(&p, "photo", 1, added - 1, added, &why), MEDIA_SKIP);
    assert_string_equal(why, "policy: history before the chat was added");
    p.history_days = -1;
    assert_int_equal(media_policy_decide(&p, "photo", 1, 0, added, &why), MEDIA_KEEP);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_settings_parse_and_refuse),
        cmocka_unit_test(test_chat_spec_overrides),
        cmocka_unit_test(test_decisions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
