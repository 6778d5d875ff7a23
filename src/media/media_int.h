/* SPDX-License-Identifier: MIT */
/*
 * media_int.h - what media.c shares with the backends of the media store:
 * the operations each backend provides, and the parsed TGH_MEDIA URL.
 */
#ifndef TGH_MEDIA_MEDIA_INT_H
#define TGH_MEDIA_MEDIA_INT_H

#include "media/media.h"

struct media_ops {
    const char *kind; /* "file", "s3" */
    void (*close)(struct media_store *ms);
    tgh_err (*put)(struct media_store *ms, const struct media_put *p, struct media_put_result *res);
    tgh_err (*put_bytes)(struct media_store *ms, const char *key, const void *data, size_t len,
                         const char *content_type, const char *sha256);
    tgh_err (*abort)(struct media_store *ms, const char *key, const char *upload_id);
    tgh_err (*stat)(struct media_store *ms, const char *key, int64_t *size);
    tgh_err (*read)(struct media_store *ms, const char *key, int64_t offset, int64_t len,
                    media_read_fn fn, void *arg);
    tgh_err (*alias)(struct media_store *ms, const char *key, const char *alias, bool *made);
    tgh_err (*remove)(struct media_store *ms, const char *key);
};

/* Every backend's struct begins with this. */
struct media_store {
    const struct media_ops *ops;
};

/* The backends' constructors: rest is the URL after "file://" or "s3://". */
tgh_err media_file_open(const char *rest, struct media_store **out);
tgh_err media_s3_open(const char *rest, struct media_store **out);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void media_hex(const unsigned char *in, size_t n, char *out);

#endif
