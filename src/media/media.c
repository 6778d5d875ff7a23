/* SPDX-License-Identifier: MIT */
/*
 * media.c - the media store's front: the TGH_MEDIA URL picks a backend
 * (media_file.c, media_s3.c), and every call checks its key before the
 * backend sees it, so no backend is ever handed a key that could leave the
 * root or the bucket prefix.
 */
#include "media/media_int.h"

#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#define HASH_BUF (256 * 1024)

bool
media_url_is_off(const char *url)
{
    return url == NULL || url[0] == '\0' || strcasecmp(url, "off") == 0 ||
           strcasecmp(url, "none") == 0;
}

tgh_err
media_open(const char *url, struct media_store **out)
{
    *out = NULL;
    if (media_url_is_off(url))
        return tgh_errf(TGH_EINVAL, "TGH_MEDIA: media store is off");
    if (strncmp(url, "file://", 7) == 0)
        return media_file_open(url + 7, out);
    if (strncmp(url, "s3://", 5) == 0)
        return media_s3_open(url + 5, out);
    return tgh_errf(TGH_EINVAL, "TGH_MEDIA '%.200s': want file://PATH or s3://BUCKET?endpoint=...",
                    url);
}

void
media_close(struct media_store *ms)
{
    if (ms != NULL)
        ms->ops->close(ms);
}

const char *
media_kind(const struct media_store *ms)
{
    return ms->ops->kind;
}

static tgh_err
check_key(const char *what, const char *key)
{
    if (key == NULL || !media_key_valid(key))
        return tgh_errf(TGH_EINVAL, "media store: %s '%.200s' is not a safe key", what,
                        key != NULL ? key : "(null)");
    return TGH_OK;
}

tgh_err
media_put(struct media_store *ms, const struct media_put *p, struct media_put_result *res)
{
    struct media_put_result scratch;
    if (res == NULL)
        res = &scratch;
    memset(res, 0, sizeof *res);
    tgh_err e = check_key("key", p->key);
    if (e != TGH_OK)
        return e;
    if (p->path == NULL)
        return tgh_errf(TGH_EINVAL, "media store: no file to store under %s", p->key);
    return ms->ops->put(ms, p, res);
}

tgh_err
media_put_bytes(struct media_store *ms, const char *key, const void *data, size_t len,
                const char *content_type)
{
    tgh_err e = check_key("key", key);
    if (e != TGH_OK)
        return e;
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
        return tgh_errf(TGH_ENOMEM, "media store: SHA-256 failed");
    char hex[MEDIA_SHA256_HEX + 1];
    media_hex(md, sizeof md, hex);
    return ms->ops->put_bytes(ms, key, data, len, content_type, hex);
}

tgh_err
media_abort(struct media_store *ms, const char *key, const char *upload_id)
{
    tgh_err e = check_key("key", key);
    if (e != TGH_OK)
        return e;
    if (upload_id == NULL || upload_id[0] == '\0')
        return TGH_OK;
    return ms->ops->abort(ms, key, upload_id);
}

tgh_err
media_stat(struct media_store *ms, const char *key, int64_t *size)
{
    tgh_err e = check_key("key", key);
    if (e != TGH_OK)
        return e;
    return ms->ops->stat(ms, key, size);
}

tgh_err
media_read(struct media_store *ms, const char *key, int64_t offset, int64_t len, media_read_fn fn,
           void *arg)
{
    tgh_err e = check_key("key", key);
    if (e != TGH_OK)
        return e;
    if (offset < 0)
        return tgh_errf(TGH_EINVAL, "media store: negative offset %lld", (long long)offset);
    if (len == 0)
        return TGH_OK;
    return ms->ops->read(ms, key, offset, len, fn, arg);
}

struct hash_ctx {
    EVP_MD_CTX *md;
    int64_t size;
    bool failed;
};

static bool
hash_piece(void *arg, const void *data, size_t len)
{
    struct hash_ctx *h = arg;
    if (EVP_DigestUpdate(h->md, data, len) != 1) {
        h->failed = true;
        return false;
    }
    h->size += (int64_t)len;
    return true;
}

static tgh_err
hash_final(struct hash_ctx *h, char sha256[MEDIA_SHA256_HEX + 1], int64_t *size)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (h->failed || EVP_DigestFinal_ex(h->md, md, &mdlen) != 1)
        return tgh_errf(TGH_ENOMEM, "media store: SHA-256 failed");
    media_hex(md, sizeof md, sha256);
    if (size != NULL)
        *size = h->size;
    return TGH_OK;
}

tgh_err
media_hash(struct media_store *ms, const char *key, char sha256[MEDIA_SHA256_HEX + 1],
           int64_t *size)
{
    struct hash_ctx h = { .md = EVP_MD_CTX_new() };
    if (h.md == NULL || EVP_DigestInit_ex(h.md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h.md);
        return tgh_errf(TGH_ENOMEM, "media store: SHA-256 failed");
    }
    tgh_err e = media_read(ms, key, 0, -1, hash_piece, &h);
    if (e == TGH_OK)
        e = hash_final(&h, sha256, size);
    EVP_MD_CTX_free(h.md);
    return e;
}

tgh_err
media_alias(struct media_store *ms, const char *key, const char *alias, bool *made)
{
    *made = false;
    tgh_err e = check_key("key", key);
    if (e == TGH_OK)
        e = check_key("alias", alias);
    if (e != TGH_OK)
        return e;
    return ms->ops->alias(ms, key, alias, made);
}

tgh_err
media_remove(struct media_store *ms, const char *key)
{
    tgh_err e = check_key("key", key);
    if (e != TGH_OK)
        return e;
    return ms->ops->remove(ms, key);
}

tgh_err
media_file_sha256(const char *path, char sha256[MEDIA_SHA256_HEX + 1], int64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tgh_errf(errno == ENOENT ? TGH_ENOTFOUND : TGH_EIO, "%s: %s", path, strerror(errno));
    struct hash_ctx h = { .md = EVP_MD_CTX_new() };
    unsigned char *buf = tgh_malloc(HASH_BUF);
    tgh_err e = TGH_OK;
    if (h.md == NULL || buf == NULL || EVP_DigestInit_ex(h.md, EVP_sha256(), NULL) != 1) {
        e = tgh_errf(TGH_ENOMEM, "media store: SHA-256 failed");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, HASH_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (!hash_piece(&h, buf, (size_t)n))
            break;
    }
    e = hash_final(&h, sha256, size);
out:
    tgh_free(buf);
    EVP_MD_CTX_free(h.md);
    close(fd);
    return e;
}

void
media_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}
