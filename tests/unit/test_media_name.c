/* SPDX-License-Identifier: MIT */
/* Names in the media store from strangers' strings: file names, chat slugs, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/utf8.h"
#include "media/media.h"

static const struct {
    const char *in;
    const char *out;
} names[] = {
    { "photo.jpg", "photo.jpg" },
    { "../../etc/passwd", "_.._etc_passwd" },
    { "..", "file" },
    { ".", "file" },
    { "...", "file" },
    { "/etc/shadow", "_etc_shadow" },
    { "C:\\Windows\\win.ini", "C__Windows_win.ini" },
    { ".bashrc", "bashrc" },
    { "-rf", "rf" },
    { "  spaced name.txt  ", "spaced name.txt" },
    { "trailing dot.", "trailing dot" },
    { "a\x01"
      "b\x1f"
      "c\x7f.txt",
      "a_b_c_.txt" },
    { "bad\xff\xfe"
      "bytes.bin",
      "bad__bytes.bin" },
    { "over\xc0\xaflong", "over__long" },        /* overlong '/' */
    { "sur\xed\xa0\x80rogate", "sur___rogate" }, /* U+D800 */
    { "c1\xc2\x85"
      "char",
      "c1_char" },                                /* NEL, a C1 control */
    { "evil\xe2\x80\xaegpj.exe", "evilgpj.exe" }, /* RIGHT-TO-LEFT OVERRIDE dropped */
    { "zero\xe2\x80\x8bwidth", "zerowidth" },     /* ZERO WIDTH SPACE dropped */
    { "\xef\xbb\xbf"
      "bom.txt",
      "bom.txt" },                             /* BOM dropped */
    { "full\xef\xbc\x8fwidth", "full_width" }, /* FULLWIDTH SOLIDUS */
    { "div\xe2\x88\x95slash", "div_slash" },   /* DIVISION SLASH */
    { "q\"uote<>|?*:.txt", "q_uote______.txt" },
    { "CON", "_CON" },
    { "con.txt", "_con.txt" },
    { "Lpt9.log", "_Lpt9.log" },
    { "COM0", "COM0" },
    { "console", "console" },
    { "Отчёт 2024.pdf", "Отчёт 2024.pdf" },
    { "写真 📷.jpg", "写真 📷.jpg" },
    { "", "file" },
    { "\xe2\x80\x8f", "file" },
};

static void
test_hostile_names(void **state)
{
    char out[MEDIA_NAME_MAX + 1], again[MEDIA_NAME_MAX + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = media_name_sanitize(names[i].in, NULL, out, sizeof(out));

        if (strcmp(out, names[i].out) != 0)
            fail_msg("'%s' became '%s', not '%s'", names[i].in, out, names[i].out);
        assert_int_equal(n, strlen(out));
        (void)media_name_sanitize(out, NULL, again, sizeof(again));
        assert_string_equal(again, out); /* idempotent */
        assert_true(media_key_valid(out));
        for (size_t k = 0; k < n;) {
            size_t l = tgh_utf8_seq_len((const unsigned char *)out + k, n - k);

            assert_true(l > 0);
            k += l;
        }
    }
    /* The fallback is sanitized too, and used only when nothing is left. */
    media_name_sanitize("..", "../photo-12.jpg", out, sizeof(out));
    assert_string_equal(out, "_photo-12.jpg");
    media_name_sanitize(NULL, NULL, out, sizeof(out));
    assert_string_equal(out, "file");
    media_name_sanitize("x", "fallback", out, sizeof(out));
    assert_string_equal(out, "x");
}

static void
test_long_names_keep_their_extension(void **state)
{
    char in[4096], out[MEDIA_NAME_MAX + 1], again[MEDIA_NAME_MAX + 1];
    size_t n;

    (void)state;
    memset(in, 'a', 600);
    (void)snprintf(in + 600, sizeof(in) - 600, ".mp4");
    n = media_name_sanitize(in, NULL, out, sizeof(out));
    assert_int_equal(n, MEDIA_NAME_MAX);
    assert_string_equal(out + n - 4, ".mp4");
    /* A cut never splits a character: 2-byte Cyrillic letters around the limit. */
    in[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(in, "ж"); /* 400 bytes */
    strcat(in, ".txt");
    n = media_name_sanitize(in, NULL, out, sizeof(out));
    assert_true(n <= MEDIA_NAME_MAX);
    assert_string_equal(out + n - 4, ".txt");
    assert_int_equal((n - 4) % 2, 0);
    (void)media_name_sanitize(out, NULL, again, sizeof(again));
    assert_string_equal(again, out);
    /* A very long name (2 MB): the start and the extension. */
    {
        static char big[2 * 1024 * 1024 + 16];

        memset(big, 'b', sizeof(big) - 16);
        memcpy(big + sizeof(big) - 16, ".tar.gz", 8);
        n = media_name_sanitize(big, NULL, out, sizeof(out));
        assert_int_equal(n, MEDIA_NAME_MAX);
        assert_string_equal(out + n - 3, ".gz");
    }
    /* An extension longer than 16 bytes is not an extension. */
    memset(in, 'c', 300);
    memcpy(in + 300, ".abcdefghijklmnopqrstuvwxyz", 28);
    n = media_name_sanitize(in, NULL, out, sizeof(out));
    assert_int_equal(n, MEDIA_NAME_MAX);
    assert_int_equal(out[n - 1], 'c');
    /* A reserved name at the limit: cut for its '_', the cut ending in a dot is trimmed. */
    memcpy(in, "CON.", 4);
    memset(in + 4, 'a', 249);
    memcpy(in + 253, ".x", 3); /* 255 bytes */
    n = media_name_sanitize(in, NULL, out, sizeof(out));
    assert_int_equal(n, 254);
    assert_memory_equal(out, "_CON.aaa", 8);
    assert_int_equal(out[n - 1], 'a');
    (void)media_name_sanitize(out, NULL, again, sizeof(again));
    assert_string_equal(again, out);
    /* A small buffer is respected. */
    n = media_name_sanitize("abcdef.jpg", NULL, out, 8);
    assert_int_equal(n, 7);
    assert_string_equal(out, "abc.jpg");
}

static void
test_slugs(void **state)
{
    char a[MEDIA_SLUG_MAX + 32], b[MEDIA_SLUG_MAX + 32];

    (void)state;
    media_chat_slug(-1001987654321, "Harbour_Watch", "Harbour Watch (demo)", a, sizeof(a));
    assert_string_equal(a, "harbour_watch-1001987654321");
    media_chat_slug(-1001987654321, NULL, "Harbour Watch (demo)", a, sizeof(a));
    assert_string_equal(a, "harbour-watch-demo-1001987654321");
    media_chat_slug(-100123, "", "Новости Порта", a, sizeof(a));
    assert_string_equal(a, "Новости-Порта-100123"); /* lower case only where ASCII */
    media_chat_slug(42, NULL, "🚢 ships ⚓", a, sizeof(a));
    assert_string_equal(a, "🚢-ships-⚓-42");
    media_chat_slug(-5, NULL, NULL, a, sizeof(a));
    assert_string_equal(a, "chat-5");
    media_chat_slug(-5, NULL, "../../..", a, sizeof(a));
    assert_string_equal(a, "chat-5");
    media_chat_slug(-5, NULL, "con", a, sizeof(a));
    assert_string_equal(a, "con-5");
    /* Two chats with one title never share a folder. */
    media_chat_slug(-1001, NULL, "Same", a, sizeof(a));
    media_chat_slug(-1002, NULL, "Same", b, sizeof(b));
    assert_string_not_equal(a, b);
    /* Long titles are cut, on a character boundary, and stay valid. */
    {
        char title[1024] = "";

        for (int i = 0; i < 100; i++)
            strcat(title, "я");
        media_chat_slug(INT64_MIN, NULL, title, a, sizeof(a));
        assert_true(media_key_valid(a));
        assert_true(strlen(a) <= MEDIA_SLUG_MAX + 21);
        assert_non_null(strstr(a, "-9223372036854775808"));
    }
    assert_true(media_key_valid("harbour_watch-1001987654321"));
}

static void
test_object_and_layout_keys(void **state)
{
    const char *sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    char k[MEDIA_KEY_MAX];

    (void)state;
    assert_int_equal(media_object_key(sha, k, sizeof(k)), TGH_OK);
    assert_string_equal(
        k, "objects/9f/86/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    assert_true(media_key_valid(k));
    assert_int_equal(
        media_object_key("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", k,
                         sizeof(k)),
        TGH_EINVAL);
    assert_int_equal(media_object_key("../../x", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_object_key(NULL, k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_object_key(sha, k, 20), TGH_ETOOBIG);

    /* UTC months: 2024-05-31T23:59:59Z is May, a second later June. */
    assert_int_equal(media_layout_key(1717199999, "harbour-1", 42, "photo.jpg", k, sizeof(k)),
                     TGH_OK);
    assert_string_equal(k, "2024/05/harbour-1/42/photo.jpg");
    assert_int_equal(media_layout_key(1717200000, "harbour-1", 42, NULL, k, sizeof(k)), TGH_OK);
    assert_string_equal(k, "2024/06/harbour-1/42");
    assert_true(media_key_valid(k));
    assert_int_equal(media_layout_key(0, "a-1", 1, "x", k, sizeof(k)), TGH_OK);
    assert_string_equal(k, "1970/01/a-1/1/x");
    assert_int_equal(media_layout_key(-1, "a-1", 1, "x", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(253402300800, "a-1", 1, "x", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(1717200000, "a-1", 0, "x", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(1717200000, "../x", 1, "x", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(1717200000, "a-1", 1, "..", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(1717200000, "a-1", 1, "a/b", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(1717200000, "a-1", 1, ".hidden", k, sizeof(k)), TGH_EINVAL);
    assert_int_equal(media_layout_key(1717200000, "a-1", 1, "x", k, 10), TGH_ETOOBIG);
}

static void
test_key_validity(void **state)
{
    static const char *const bad[] = {
        "",       "/abs",      "a//b",  "a/",
        "../a",   "a/../b",    "a/./b", "a/\x01",
        "a\\b",   "a/.hidden", "a/CON", "a/\xe2\x80\xaex", /* a right-to-left override */
        "a/\xff",
    };
    static const char *const good[] = {
        "objects/ab/cd/abcd",
        "2024/05/chat-1/42/message.json",
        "2024/05/новости-1/7/фото.jpg",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (media_key_valid(bad[i]))
            fail_msg("'%s' was accepted", bad[i]);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!media_key_valid(good[i]))
            fail_msg("'%s' was refused", good[i]);
    assert_false(media_key_valid(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_long_names_keep_their_extension),
        cmocka_unit_test(test_slugs),
        cmocka_unit_test(test_object_and_layout_keys),
        cmocka_unit_test(test_key_validity),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
