/* SPDX-License-Identifier: MIT */
/*
 * media_file.c - the media store in a local folder (TGH_MEDIA=file://PATH).
 *
 * An object is written to "KEY.tmp-PID-N" beside its place, fsync'd, then
 * renamed over KEY and its folder fsync'd: a crash leaves the old object,
 * the new one, or a temporary name that is never read as an object (and is
 * swept by the next put of the same key). Folders along a key are created
 * 0700, and every component is opened relative to the root with O_NOFOLLOW,
 * so a symlink planted inside the root cannot lead a write outside it.
 */
#include "media/media_int.h"

#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (256 * 1024)

struct file_store {
    struct media_store base;
    int root; /* O_PATH|O_DIRECTORY fd of the root */
    char *path;
};

static atomic_uint tmp_seq;

static struct file_store *
fs_of(struct media_store *ms)
{
    return (struct file_store *)ms;
}

/*
 * Open the folder holding key (created when create), relative to the root,
 * never following a symlink; *base points at the last component of key.
 */
static tgh_err
open_parent(struct file_store *fs, const char *key, bool create, int *dirfd, const char **base)
{
    char comp[MEDIA_NAME_MAX + 1];
    int dir = dup(fs->root);
    if (dir < 0)
        return tgh_errf(TGH_EIO, "%s: %s", fs->path, strerror(errno));
    const char *p = key;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        size_t n = (size_t)(slash - p);
        if (n == 0 || n >= sizeof comp) {
            close(dir);
            return tgh_errf(TGH_EINVAL, "media store: bad key %.200s", key);
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (create && mkdirat(dir, comp, 0700) != 0 && errno != EEXIST) {
            tgh_err e = tgh_errf(TGH_EIO, "%s/%.*s: %s", fs->path, (int)(slash - key), key,
                                 strerror(errno));
            close(dir);
            return e;
        }
        int next = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int err = errno;
            close(dir);
            if (err == ENOENT)
                return tgh_errf(TGH_ENOTFOUND, "media store: no object %.200s", key);
            return tgh_errf(TGH_EIO, "%s/%.*s: %s", fs->path, (int)(slash - key), key,
                            err == ELOOP || err == ENOTDIR ? "not a folder (a symlink?)"
                                                           : strerror(err));
        }
        close(dir);
        dir = next;
        p = slash + 1;
    }
    *dirfd = dir;
    *base = p;
    return TGH_OK;
}

static tgh_err
write_all(int fd, const void *data, size_t len, const char *what)
{
    const unsigned char *b = data;
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tgh_errf(TGH_EIO, "media store: writing %s: %s", what, strerror(errno));
        b += n;
        len -= (size_t)n;
    }
    return TGH_OK;
}

/* Copy src into a temporary file beside key and rename it into place. */
static tgh_err
store_atomic(struct file_store *fs, const char *key, int src, const void *data, size_t len)
{
    int dir;
    const char *base;
    tgh_err e = open_parent(fs, key, true, &dir, &base);
    if (e != TGH_OK)
        return e;
    char tmp[MEDIA_NAME_MAX + 48];
    (void)snprintf(tmp, sizeof tmp, ".%.*s.tmp-%ld-%u", MEDIA_NAME_MAX - 40, base, (long)getpid(),
                   atomic_fetch_add(&tmp_seq, 1));
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        e = tgh_errf(TGH_EIO, "%s/%s: %s", fs->path, key, strerror(errno));
        close(dir);
        return e;
    }
    unsigned char *buf = NULL;
    if (src >= 0) {
        buf = tgh_malloc(COPY_BUF);
        if (buf == NULL)
            e = tgh_errf(TGH_ENOMEM, "media store: no memory");
        while (e == TGH_OK) {
            ssize_t n = read(src, buf, COPY_BUF);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                e = tgh_errf(TGH_EIO, "media store: reading the file for %s: %s", key,
                             strerror(errno));
                break;
            }
            if (n == 0)
                break;
            e = write_all(fd, buf, (size_t)n, key);
        }
        tgh_free(buf);
    } else {
        e = write_all(fd, data, len, key);
    }
    if (e == TGH_OK && fsync(fd) != 0)
        e = tgh_errf(TGH_EIO, "media store: fsync %s: %s", key, strerror(errno));
    if (close(fd) != 0 && e == TGH_OK)
        e = tgh_errf(TGH_EIO, "media store: closing %s: %s", key, strerror(errno));
    if (e == TGH_OK && renameat(dir, tmp, dir, base) != 0)
        e = tgh_errf(TGH_EIO, "media store: rename into %s: %s", key, strerror(errno));
    if (e != TGH_OK)
        (void)unlinkat(dir, tmp, 0);
    else
        (void)fsync(dir);
    close(dir);
    return e;
}

static tgh_err
file_put(struct media_store *ms, const struct media_put *p, struct media_put_result *res)
{
    struct file_store *fs = fs_of(ms);
    int src = open(p->path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return tgh_errf(errno == ENOENT ? TGH_ENOTFOUND : TGH_EIO, "media store: %s: %s", p->path,
                        strerror(errno));
    struct stat sb;
    tgh_err e = TGH_OK;
    if (fstat(src, &sb) != 0 || !S_ISREG(sb.st_mode))
        e = tgh_errf(TGH_EINVAL, "media store: %s is not a regular file", p->path);
    if (e == TGH_OK)
        e = store_atomic(fs, p->key, src, NULL, 0);
    if (e == TGH_OK)
        res->bytes_sent = (int64_t)sb.st_size;
    close(src);
    return e;
}

static tgh_err
file_put_bytes(struct media_store *ms, const char *key, const void *data, size_t len,
               const char *content_type, const char *sha256)
{
    (void)content_type;
    (void)sha256;
    return store_atomic(fs_of(ms), key, -1, data, len);
}

static tgh_err
file_abort(struct media_store *ms, const char *key, const char *upload_id)
{
    (void)ms;
    (void)key;
    (void)upload_id;
    return TGH_OK;
}

/* Open the object for reading; TGH_ENOTFOUND when absent. */
static tgh_err
open_object(struct file_store *fs, const char *key, int *out, int64_t *size)
{
    int dir;
    const char *base;
    tgh_err e = open_parent(fs, key, false, &dir, &base);
    if (e != TGH_OK)
        return e;
    int fd = openat(dir, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(dir);
    if (fd < 0) {
        if (err == ENOENT)
            return tgh_errf(TGH_ENOTFOUND, "media store: no object %.200s", key);
        return tgh_errf(TGH_EIO, "%s/%s: %s", fs->path, key, strerror(err));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return tgh_errf(TGH_EIO, "%s/%s: not a regular file", fs->path, key);
    }
    *out = fd;
    *size = (int64_t)sb.st_size;
    return TGH_OK;
}

static tgh_err
file_stat(struct media_store *ms, const char *key, int64_t *size)
{
    int fd = -1;
    tgh_err e = open_object(fs_of(ms), key, &fd, size);
    if (e == TGH_OK)
        close(fd);
    return e;
}

static tgh_err
file_read(struct media_store *ms, const char *key, int64_t offset, int64_t len, media_read_fn fn,
          void *arg)
{
    int fd = -1;
    int64_t size = 0;
    tgh_err e = open_object(fs_of(ms), key, &fd, &size);
    if (e != TGH_OK)
        return e;
    if (offset > size || (offset == size && size > 0)) {
        close(fd);
        return tgh_errf(TGH_EINVAL, "media store: offset %lld is past the end of %s (%lld bytes)",
                        (long long)offset, key, (long long)size);
    }
    int64_t left = len < 0 || offset + len > size ? size - offset : len;
    unsigned char *buf = tgh_malloc(COPY_BUF);
    if (buf == NULL) {
        close(fd);
        return tgh_errf(TGH_ENOMEM, "media store: no memory");
    }
    while (left > 0) {
        size_t want = left < COPY_BUF ? (size_t)left : COPY_BUF;
        ssize_t n = pread(fd, buf, want, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = tgh_errf(TGH_EIO, "media store: reading %s: %s", key, strerror(errno));
            break;
        }
        if (n == 0) {
            e = tgh_errf(TGH_EIO, "media store: %s shrank while read", key);
            break;
        }
        offset += n;
        left -= n;
        if (!fn(arg, buf, (size_t)n))
            break;
    }
    tgh_free(buf);
    close(fd);
    return e;
}

static tgh_err
file_alias(struct media_store *ms, const char *key, const char *alias, bool *made)
{
    struct file_store *fs = fs_of(ms);
    int kdir, adir;
    const char *kbase, *abase;
    tgh_err e = open_parent(fs, key, false, &kdir, &kbase);
    if (e != TGH_OK)
        return e;
    e = open_parent(fs, alias, true, &adir, &abase);
    if (e != TGH_OK) {
        close(kdir);
        return e;
    }
    char tmp[MEDIA_NAME_MAX + 48];
    (void)snprintf(tmp, sizeof tmp, ".%.*s.lnk-%ld-%u", MEDIA_NAME_MAX - 40, abase, (long)getpid(),
                   atomic_fetch_add(&tmp_seq, 1));
    if (linkat(kdir, kbase, adir, tmp, 0) != 0)
        e = tgh_errf(errno == ENOENT ? TGH_ENOTFOUND : TGH_EIO, "media store: link %s to %s: %s",
                     alias, key, strerror(errno));
    else if (renameat(adir, tmp, adir, abase) != 0) {
        e = tgh_errf(TGH_EIO, "media store: rename into %s: %s", alias, strerror(errno));
        (void)unlinkat(adir, tmp, 0);
    } else {
        *made = true;
    }
    close(kdir);
    close(adir);
    return e;
}

static tgh_err
file_remove(struct media_store *ms, const char *key)
{
    struct file_store *fs = fs_of(ms);
    int dir;
    const char *base;
    tgh_err e = open_parent(fs, key, false, &dir, &base);
    if (e == TGH_ENOTFOUND) {
        tgh_err_clear();
        return TGH_OK;
    }
    if (e != TGH_OK)
        return e;
    if (unlinkat(dir, base, 0) != 0 && errno != ENOENT)
        e = tgh_errf(TGH_EIO, "media store: remove %s: %s", key, strerror(errno));
    close(dir);
    return e;
}

static void
file_close(struct media_store *ms)
{
    struct file_store *fs = fs_of(ms);
    close(fs->root);
    tgh_free(fs->path);
    tgh_free(fs);
}

static const struct media_ops file_ops = {
    .kind = "file",
    .close = file_close,
    .put = file_put,
    .put_bytes = file_put_bytes,
    .abort = file_abort,
    .stat = file_stat,
    .read = file_read,
    .alias = file_alias,
    .remove = file_remove,
};

/* mkdir -p of path, 0700 for what is made. */
static tgh_err
make_root(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return tgh_errf(TGH_EINVAL, "TGH_MEDIA file://: bad folder '%.200s'", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return tgh_errf(TGH_EIO, "TGH_MEDIA: cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return tgh_errf(TGH_EIO, "TGH_MEDIA: cannot create %s: %s", buf, strerror(errno));
    return TGH_OK;
}

tgh_err
media_file_open(const char *rest, struct media_store **out)
{
    if (rest[0] == '\0' || strchr(rest, '?') != NULL)
        return tgh_errf(TGH_EINVAL, "TGH_MEDIA file://%.200s: want file://FOLDER", rest);
    tgh_err e = make_root(rest);
    if (e != TGH_OK)
        return e;
    struct file_store *fs = tgh_calloc(1, sizeof *fs);
    if (fs == NULL)
        return tgh_errf(TGH_ENOMEM, "media store: no memory");
    fs->root = open(rest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->root < 0) {
        e = tgh_errf(TGH_EIO, "TGH_MEDIA: cannot open %s: %s", rest, strerror(errno));
        tgh_free(fs);
        return e;
    }
    fs->path = tgh_strdup(rest);
    if (fs->path == NULL) {
        close(fs->root);
        tgh_free(fs);
        return tgh_errf(TGH_ENOMEM, "media store: no memory");
    }
    fs->base.ops = &file_ops;
    *out = &fs->base;
    return TGH_OK;
}
