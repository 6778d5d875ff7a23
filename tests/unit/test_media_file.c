/* SPDX-License-Identifier: MIT */
/*
 * The media store in a local folder (media_file.c through media.h): objects
 * are whole or absent, written through a temporary name that never stays,
 * read in ranges, hashed, linked under their layout names, and no key or
 * symlink planted in the folder leads a write outside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/media.h"

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct fx {
    char dir[256];  /* holds root/ and the source files */
    char root[300]; /* the media folder */
    char url[320];
    struct media_store *ms;
};

static int
setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    const char *tmp = getenv("TMPDIR");

    (void)snprintf(fx->dir, sizeof(fx->dir), "%s/tgh-media-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    (void)snprintf(fx->root, sizeof(fx->root), "%s/root/media", fx->dir);
    (void)snprintf(fx->url, sizeof(fx->url), "file://%s", fx->root);
    if (media_open(fx->url, &fx->ms) != TGH_OK)
        return -1;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[400];

    media_close(fx->ms);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    free(fx);
    return 0;
}

/* A source file of n bytes (byte i is i * 7 + seed), its path in out. */
static void
source(struct fx *fx, const char *name, size_t n, int seed, char *out, size_t cap)
{
    (void)snprintf(out, cap, "%s/%s", fx->dir, name);
    FILE *f = fopen(out, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(fputc((int)((i * 7 + (size_t)seed) & 0xff), f), EOF);
    assert_int_equal(fclose(f), 0);
}

struct buf {
    unsigned char b[1 << 20];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static bool
collect(void *arg, const void *data, size_t len)
{
    struct buf *b = arg;

    assert_true(b->n + len <= sizeof(b->b));
    memcpy(b->b + b->n, data, len);
    b->n += len;
    return b->stop_after == 0 || b->n < b->stop_after;
}

/* Files in dir whose name contains what (temporary names). */
static int
count_names(const char *dir, const char *what)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, what) != NULL)
            n++;
    closedir(d);
    return n;
}

static void
test_put_read_stat_hash(void **state)
{
    struct fx *fx = *state;
    char src[400], key[MEDIA_KEY_MAX], sha[MEDIA_SHA256_HEX + 1], sha2[MEDIA_SHA256_HEX + 1];
    int64_t size = 0, size2 = 0;
    struct buf *b = calloc(1, sizeof(*b));

    source(fx, "a.bin", 300000, 1, src, sizeof(src));
    assert_int_equal(media_file_sha256(src, sha, &size), TGH_OK);
    assert_int_equal(size, 300000);
    assert_int_equal(media_object_key(sha, key, sizeof(key)), TGH_OK);
    struct media_put p = { .key = key, .path = src, .sha256 = sha };
    struct media_put_result res;
    assert_int_equal(media_put(fx->ms, &p, &res), TGH_OK);
    assert_int_equal(res.bytes_sent, 300000);
    assert_string_equal(media_kind(fx->ms), "file");

    assert_int_equal(media_stat(fx->ms, key, &size2), TGH_OK);
    assert_int_equal(size2, 300000);
    assert_int_equal(media_hash(fx->ms, key, sha2, &size2), TGH_OK);
    assert_string_equal(sha2, sha);

    /* whole, a range, a range past the end cut at the end, a reader that stops */
    assert_int_equal(media_read(fx->ms, key, 0, -1, collect, b), TGH_OK);
    assert_int_equal(b->n, 300000);
    assert_int_equal(b->b[299999], (299999 * 7 + 1) & 0xff);
    b->n = 0;
    assert_int_equal(media_read(fx->ms, key, 1000, 10, collect, b), TGH_OK);
    assert_int_equal(b->n, 10);
    assert_int_equal(b->b[0], (1000 * 7 + 1) & 0xff);
    b->n = 0;
    assert_int_equal(media_read(fx->ms, key, 299990, 100, collect, b), TGH_OK);
    assert_int_equal(b->n, 10);
    b->n = 0;
    b->stop_after = 1;
    assert_int_equal(media_read(fx->ms, key, 0, -1, collect, b), TGH_OK);
    assert_true(b->n < 300000);
    assert_int_equal(media_read(fx->ms, key, 300000, 1, collect, b), TGH_EINVAL);
    assert_int_equal(media_read(fx->ms, key, -1, 1, collect, b), TGH_EINVAL);

    /* no temporary name is left beside the object */
    char dir[600];
    (void)snprintf(dir, sizeof(dir), "%s/objects/%.2s/%.2s", fx->root, sha, sha + 2);
    assert_int_equal(count_names(dir, ".tmp-"), 0);
    assert_int_equal(count_names(dir, sha), 1);

    /* absent objects */
    assert_int_equal(media_stat(fx->ms, "objects/00/00/none", &size), TGH_ENOTFOUND);
    assert_int_equal(media_read(fx->ms, "nothere", 0, -1, collect, b), TGH_ENOTFOUND);
    assert_int_equal(media_remove(fx->ms, key), TGH_OK);
    assert_int_equal(media_stat(fx->ms, key, &size), TGH_ENOTFOUND);
    assert_int_equal(media_remove(fx->ms, key), TGH_OK);
    free(b);
}

static void
test_put_bytes_and_alias(void **state)
{
    struct fx *fx = *state;
    char src[400], key[MEDIA_KEY_MAX], sha[MEDIA_SHA256_HEX + 1], path[1500];
    struct stat a, l;
    bool made = false;

    source(fx, "v.ogg", 5000, 3, src, sizeof(src));
    assert_int_equal(media_file_sha256(src, sha, NULL), TGH_OK);
    assert_int_equal(media_object_key(sha, key, sizeof(key)), TGH_OK);
    struct media_put p = { .key = key, .path = src };
    assert_int_equal(media_put(fx->ms, &p, NULL), TGH_OK);
    const char *alias = "2026/12/harbour-1001/42/voice.ogg";
    assert_int_equal(media_alias(fx->ms, key, alias, &made), TGH_OK);
    assert_true(made);
    (void)snprintf(path, sizeof(path), "%s/%s", fx->root, key);
    assert_int_equal(stat(path, &a), 0);
    (void)snprintf(path, sizeof(path), "%s/%s", fx->root, alias);
    assert_int_equal(stat(path, &l), 0);
    assert_int_equal(a.st_ino, l.st_ino); /* one copy of the bytes */
    assert_int_equal(a.st_mode & 0777, 0600);
    /* replacing an alias, and a sidecar written whole */
    assert_int_equal(media_alias(fx->ms, key, alias, &made), TGH_OK);
    assert_int_equal(media_put_bytes(fx->ms, "2026/12/harbour-1001/42/message.json", "{}", 2,
                                     "application/json"),
                     TGH_OK);
    int64_t size = 0;
    assert_int_equal(media_stat(fx->ms, "2026/12/harbour-1001/42/message.json", &size), TGH_OK);
    assert_int_equal(size, 2);
    /* an empty object */
    assert_int_equal(media_put_bytes(fx->ms, "empty", "", 0, NULL), TGH_OK);
    char h[MEDIA_SHA256_HEX + 1];
    assert_int_equal(media_hash(fx->ms, "empty", h, &size), TGH_OK);
    assert_string_equal(h, SHA_EMPTY);
    assert_int_equal(size, 0);
    /* folders are private */
    (void)snprintf(path, sizeof(path), "%s/2026", fx->root);
    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(a.st_mode & 0777, 0700);
    /* an alias of an object that is not there */
    assert_int_equal(media_alias(fx->ms, "objects/00/00/none", "x/y", &made), TGH_ENOTFOUND);
}

static void
test_refuses_unsafe_keys(void **state)
{
    struct fx *fx = *state;
    static const char *bad[] = {
        "../escape", "/etc/passwd", "a/../../b", "a//b", "",   "a/./b",
        "a\\b",      "a/b/",        "nul\x01",   "./x",  "..",
    };
    char src[400], path[600];
    bool made;

    source(fx, "s.bin", 10, 1, src, sizeof(src));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct media_put p = { .key = bad[i], .path = src };

        assert_int_equal(media_put(fx->ms, &p, NULL), TGH_EINVAL);
        assert_non_null(strstr(tgh_errmsg(), "not a safe key"));
        assert_int_equal(media_put_bytes(fx->ms, bad[i], "x", 1, NULL), TGH_EINVAL);
        assert_int_equal(media_alias(fx->ms, "s", bad[i], &made), TGH_EINVAL);
        assert_int_equal(media_remove(fx->ms, bad[i]), TGH_EINVAL);
    }
    (void)snprintf(path, sizeof(path), "%s/root/escape", fx->dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

/* A symlink planted inside the folder never leads a write outside it. */
static void
test_symlink_in_root_not_followed(void **state)
{
    struct fx *fx = *state;
    char outside[400], link[600], victim[700];
    int64_t size;

    (void)snprintf(outside, sizeof(outside), "%s/outside", fx->dir);
    assert_int_equal(mkdir(outside, 0700), 0);
    (void)snprintf(link, sizeof(link), "%s/planted", fx->root);
    assert_int_equal(symlink(outside, link), 0);
    assert_int_not_equal(media_put_bytes(fx->ms, "planted/evil.txt", "x", 1, NULL), TGH_OK);
    (void)snprintf(victim, sizeof(victim), "%s/evil.txt", outside);
    assert_int_not_equal(access(victim, F_OK), 0);
    /* a symlink as the last component is not read through either */
    (void)snprintf(link, sizeof(link), "%s/leaf", fx->root);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_not_equal(media_stat(fx->ms, "leaf", &size), TGH_OK);
    /* and a rename over it replaces the link, not its target */
    assert_int_equal(media_put_bytes(fx->ms, "leaf", "y", 1, NULL), TGH_OK);
    assert_int_equal(media_stat(fx->ms, "leaf", &size), TGH_OK);
    assert_int_equal(size, 1);
}

/* A write that fails (the file size limit standing in for a full disk) leaves nothing. */
static void
test_failed_write_leaves_nothing(void **state)
{
    struct fx *fx = *state;
    char src[400], key[MEDIA_KEY_MAX], sha[MEDIA_SHA256_HEX + 1], dir[600];
    struct rlimit old, small = { .rlim_cur = 4096, .rlim_max = RLIM_INFINITY };
    int64_t size;

    source(fx, "big.bin", 100000, 5, src, sizeof(src));
    assert_int_equal(media_file_sha256(src, sha, NULL), TGH_OK);
    assert_int_equal(media_object_key(sha, key, sizeof(key)), TGH_OK);
    struct media_put p = { .key = key, .path = src };
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    tgh_err rc = media_put(fx->ms, &p, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, TGH_EIO);
    assert_non_null(strstr(tgh_errmsg(), key));
    assert_int_equal(media_stat(fx->ms, key, &size), TGH_ENOTFOUND);
    (void)snprintf(dir, sizeof(dir), "%s/objects/%.2s/%.2s", fx->root, sha, sha + 2);
    assert_int_equal(count_names(dir, ".tmp-"), 0);
    /* the same put then succeeds */
    assert_int_equal(media_put(fx->ms, &p, NULL), TGH_OK);
    assert_int_equal(media_stat(fx->ms, key, &size), TGH_OK);
    assert_int_equal(size, 100000);
}

static void
test_open_errors_and_bad_sources(void **state)
{
    struct fx *fx = *state;
    struct media_store *ms = NULL;
    char src[400];

    assert_int_equal(media_open("ftp://x", &ms), TGH_EINVAL);
    assert_non_null(strstr(tgh_errmsg(), "ftp://x"));
    assert_int_equal(media_open("file://", &ms), TGH_EINVAL);
    assert_int_equal(media_open("off", &ms), TGH_EINVAL);
    assert_true(media_url_is_off("off"));
    assert_true(media_url_is_off(""));
    assert_false(media_url_is_off("file://x"));
    assert_int_equal(media_open("file:///proc/no/such/place", &ms), TGH_EIO);
    assert_null(ms);

    struct media_put p = { .key = "k", .path = "/no/such/file" };
    assert_int_equal(media_put(fx->ms, &p, NULL), TGH_ENOTFOUND);
    p.path = fx->dir; /* a folder is not a file */
    assert_int_equal(media_put(fx->ms, &p, NULL), TGH_EINVAL);
    assert_int_equal(media_stat(fx->ms, "k", &(int64_t){ 0 }), TGH_ENOTFOUND);
    source(fx, "ok.bin", 1, 1, src, sizeof(src));
    char sha[MEDIA_SHA256_HEX + 1];
    assert_int_equal(media_file_sha256("/no/such/file", sha, NULL), TGH_ENOTFOUND);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_read_stat_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_bytes_and_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_unsafe_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_in_root_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors_and_bad_sources, setup, teardown),
    };

    return cmocka_run_group_tests_name("media_file", tests, NULL, NULL);
}
