/* SPDX-License-Identifier: MIT */
/*
 * media.c - storing files in the media store against the raw limit, in the
 * same run, on the same bytes.
 *
 *   folder: media_file_sha256() then media_put() into a file:// store (hash,
 *           temporary file, fsync, rename), against a plain copy of each file
 *           (read, write, fsync);
 *   S3:     media_file_sha256() then media_put() to s3rver (SigV4,
 *           x-amz-content-sha256, multipart above the part size), against an
 *           unsigned streaming curl PUT of the same file to the same server.
 *
 * Prints MB/s and files/s of each and their ratio, then the peak RSS of a
 * child process storing one 1 MiB file and one 64 MiB file (flat: files are
 * streamed). S3 needs TGH_BENCH_S3_URL (s3://bucket?endpoint=...; `make
 * bench` starts s3rver); without it only the folder is measured.
 * usage: bench_media [files]
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/err.h"
#include "media/media.h"

#include "common/bench_pg.h"

#define COPY_BUF (256 * 1024)

struct set {
    char dir[256];
    char **paths;
    int64_t *sizes;
    size_t n;
    int64_t bytes;
};

static void
die(const char *what)
{
    fprintf(stderr, "bench_media: %s: %s\n", what,
            tgh_errmsg()[0] ? tgh_errmsg() : strerror(errno));
    exit(1);
}

/* A file of size pseudo-random bytes (a cheap generator: content differs per seed). */
static void
write_file(const char *path, int64_t size, uint64_t seed)
{
    static unsigned char buf[COPY_BUF];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    uint64_t x = seed * 0x9E3779B97F4A7C15u + 1;

    if (fd < 0)
        die(path);
    while (size > 0) {
        size_t n = size < COPY_BUF ? (size_t)size : COPY_BUF;

        for (size_t i = 0; i < n; i += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
        }
        if (write(fd, buf, n) != (ssize_t)n)
            die(path);
        size -= (int64_t)n;
    }
    close(fd);
}

/* n files of mixed sizes: mostly photos and voice (16 KiB - 1 MiB), some videos (4 - 24 MiB). */
static void
make_set(struct set *s, size_t n)
{
    const char *tmp = getenv("TMPDIR");

    (void)snprintf(s->dir, sizeof(s->dir), "%s/tgh-bench-media-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL)
        die("mkdtemp");
    s->n = n;
    s->paths = calloc(n, sizeof(*s->paths));
    s->sizes = calloc(n, sizeof(*s->sizes));
    for (size_t i = 0; i < n; i++) {
        int64_t size =
            i % 10 == 9 ? (int64_t)(4 + i % 21) << 20 : (int64_t)(16 + (i * 37) % 1008) << 10;

        s->paths[i] = malloc(strlen(s->dir) + 32);
        (void)sprintf(s->paths[i], "%s/f%05zu", s->dir, i);
        write_file(s->paths[i], size, i + 1);
        s->sizes[i] = size;
        s->bytes += size;
    }
}

static void
rm_rf(const char *dir)
{
    char cmd[600];

    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_media: could not remove %s\n", dir);
}

/* The raw limit of a folder: read, write, fsync each file. */
static double
plain_copy(const struct set *s, const char *to)
{
    static unsigned char buf[COPY_BUF];
    double t0 = bench_now_s();

    if (mkdir(to, 0700) != 0)
        die(to);
    for (size_t i = 0; i < s->n; i++) {
        char dst[700];
        int in = open(s->paths[i], O_RDONLY), out;
        ssize_t r;

        (void)snprintf(dst, sizeof(dst), "%s/%zu", to, i);
        out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0)
            die(dst);
        while ((r = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)r) != r)
                die(dst);
        if (fsync(out) != 0)
            die(dst);
        close(in);
        close(out);
    }
    return bench_now_s() - t0;
}

/* What the media archive does per file: hash it, then store it under its object key. */
static void
store_one(struct media_store *ms, const char *path)
{
    char sha[MEDIA_SHA256_HEX + 1], key[MEDIA_KEY_MAX];
    int64_t size;

    if (media_file_sha256(path, sha, &size) != TGH_OK ||
        media_object_key(sha, key, sizeof(key)) != TGH_OK)
        die(path);
    struct media_put p = { .key = key, .path = path, .sha256 = sha };
    if (media_put(ms, &p, NULL) != TGH_OK)
        die(key);
}

static double
store_all(const struct set *s, const char *url)
{
    struct media_store *ms;
    double t0;

    if (media_open(url, &ms) != TGH_OK)
        die(url);
    t0 = bench_now_s();
    for (size_t i = 0; i < s->n; i++)
        store_one(ms, s->paths[i]);
    t0 = bench_now_s() - t0;
    media_close(ms);
    return t0;
}

/* The raw limit of an S3 server: one unsigned streaming PUT per file, on one connection. */
static size_t
read_fd(char *buf, size_t size, size_t n, void *arg)
{
    ssize_t r = read(*(int *)arg, buf, size * n);

    return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static double
plain_put(const struct set *s, const char *endpoint, const char *bucket)
{
    CURL *c = curl_easy_init();
    double t0 = bench_now_s();

    for (size_t i = 0; i < s->n; i++) {
        char url[1024];
        int fd = open(s->paths[i], O_RDONLY);
        long code = 0;

        (void)snprintf(url, sizeof(url), "%s/%s/plain/%zu", endpoint, bucket, i);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_fd);
        curl_easy_setopt(c, CURLOPT_READDATA, &fd);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->sizes[i]);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        if (curl_easy_perform(c) != CURLE_OK)
            die("plain PUT");
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
            fprintf(stderr, "bench_media: plain PUT answered %ld\n", code);
        close(fd);
    }
    curl_easy_cleanup(c);
    return bench_now_s() - t0;
}

static void
report(const char *what, const struct set *s, double ours, double raw)
{
    double mb = (double)s->bytes / 1e6;

    printf("%-7s media_put: %8.1f MB/s %8.1f files/s | raw limit: %8.1f MB/s %8.1f files/s | "
           "ratio %.2f\n",
           what, mb / ours, (double)s->n / ours, mb / raw, (double)s->n / raw, raw / ours);
}

/* Peak RSS (MB) of a child that stores one file of size bytes at url. */
static double
child_rss(const char *url, const char *dir, int64_t size)
{
    char path[512];
    struct rusage ru;
    int st = 0;
    pid_t pid;

    (void)snprintf(path, sizeof(path), "%s/rss-%" PRId64, dir, size);
    write_file(path, size, (uint64_t)size);
    pid = fork();
    if (pid == 0) {
        struct media_store *ms;

        if (media_open(url, &ms) != TGH_OK)
            _exit(1);
        store_one(ms, path);
        media_close(ms);
        _exit(0);
    }
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("child");
    (void)unlink(path);
    return (double)ru.ru_maxrss / 1024.0;
}

/* endpoint and bucket of an s3:// URL, for the plain PUTs. */
static void
s3_parts(const char *url, char *bucket, size_t bcap, char *endpoint, size_t ecap)
{
    const char *q = strchr(url + 5, '?'), *e = q ? strstr(q, "endpoint=") : NULL;
    size_t n;

    if (q == NULL || e == NULL)
        die("TGH_BENCH_S3_URL needs ?endpoint=");
    n = (size_t)(q - (url + 5));
    (void)snprintf(bucket, bcap, "%.*s", (int)n, url + 5);
    e += 9;
    n = strcspn(e, "&");
    (void)snprintf(endpoint, ecap, "%.*s", (int)n, e);
}

int
main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    const char *s3 = getenv("TGH_BENCH_S3_URL");
    char url[600], to[600];
    struct set s = { 0 };
    double ours, raw;

    make_set(&s, n);
    printf("media store: %zu files, %.1f MB (mixed: 16 KiB - 1 MiB, every tenth 4 - 24 MiB)\n", s.n,
           (double)s.bytes / 1e6);
    (void)snprintf(to, sizeof(to), "%s/plain", s.dir);
    raw = plain_copy(&s, to);
    (void)snprintf(url, sizeof(url), "file://%s/media", s.dir);
    ours = store_all(&s, url);
    report("folder", &s, ours, raw);
    printf("folder  peak RSS storing one file:  1 MiB %6.1f MB   64 MiB %6.1f MB\n",
           child_rss(url, s.dir, 1 << 20), child_rss(url, s.dir, 64 << 20));

    if (s3 != NULL && *s3 != '\0') {
        char bucket[128], endpoint[256];

        setenv("AWS_ACCESS_KEY_ID",
               getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "S3RVER", 1);
        setenv("AWS_SECRET_ACCESS_KEY",
               getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY") : "S3RVER", 1);
        s3_parts(s3, bucket, sizeof(bucket), endpoint, sizeof(endpoint));
        curl_global_init(CURL_GLOBAL_DEFAULT);
        raw = plain_put(&s, endpoint, bucket);
        ours = store_all(&s, s3);
        report("s3rver", &s, ours, raw);
        printf("s3rver  peak RSS storing one file:  1 MiB %6.1f MB   64 MiB %6.1f MB\n",
               child_rss(s3, s.dir, 1 << 20), child_rss(s3, s.dir, 64 << 20));
    } else {
        printf("s3rver: not measured (set TGH_BENCH_S3_URL; `make bench` does)\n");
    }
    rm_rf(s.dir);
    return 0;
}
