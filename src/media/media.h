/* SPDX-License-Identifier: MIT */
/*
 * media.h - the media store (TGH_MEDIA): where the bytes of photos, videos,
 * documents and voice messages are kept, and the names they are kept under.
 *
 *   file://data/media  file:///abs/path   a local folder (the default)
 *   s3://BUCKET?endpoint=http://host:port&region=us-east-1[&prefix=P]
 *       [&part_size=BYTES]                S3 or an S3-compatible server;
 *                                         credentials from AWS_ACCESS_KEY_ID,
 *                                         AWS_SECRET_ACCESS_KEY (and
 *                                         AWS_SESSION_TOKEN when set)
 *
 * Keys are relative, '/'-separated, made only by media_object_key() and
 * media_layout_key() below (never from outside bytes directly), so no key
 * escapes the folder or the bucket prefix.
 *
 * Bytes are content-addressed: one object per SHA-256 under
 * "objects/ab/cd/<sha256>". The human layout
 * "{YYYY}/{MM}/{chat_slug}/{message_id}/" holds message.json (the event and
 * the message's files with their original names and object keys) and, in a
 * local folder, a hard link per file under its sanitized name.
 *
 * Writes are atomic: a key holds the whole object or nothing (a temporary
 * file renamed into place; an S3 PUT, or a multipart upload that is either
 * completed or left unfinished, never visible as an object). Files are
 * streamed, never held whole in memory.
 *
 * One struct media_store per thread.
 */
#ifndef TGH_MEDIA_MEDIA_H
#define TGH_MEDIA_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MEDIA_SHA256_HEX   64
#define MEDIA_NAME_MAX     255               /* bytes of one sanitized path component */
#define MEDIA_SLUG_MAX     80                /* bytes of a chat slug */
#define MEDIA_KEY_MAX      1024              /* bytes of a key */
#define MEDIA_PART_DEFAULT (8 * 1024 * 1024) /* S3 multipart part size */
#define MEDIA_PART_MIN     (5 * 1024 * 1024) /* S3's least part (but the last) */

struct media_store; /* opaque */

/* ---- names (media_name.c): pure functions of outside strings ---- */

/*
 * One path component from a stranger's file name: valid UTF-8 (bad bytes
 * become '_'), no '/', '\\', NUL or control characters, no bidirectional
 * controls or other invisible format characters, no leading '.' or '-', no
 * trailing dots or spaces, not a reserved device name (CON, NUL, COM1, ...),
 * at most MEDIA_NAME_MAX bytes with the extension kept when it is cut (and
 * cut on a character boundary). An empty result becomes fallback (itself
 * sanitized; "file" when NULL). out has cap bytes (at least
 * MEDIA_NAME_MAX + 1); returns the length written.
 */
size_t media_name_sanitize(const char *name, const char *fallback, char *out, size_t cap);

/*
 * A chat's folder name: the username, else the title, lower-cased where
 * ASCII, runs of anything but [a-z0-9_] and non-ASCII letters become '-',
 * at most MEDIA_SLUG_MAX bytes, then "-" and the chat id's digits (so two
 * chats never share a slug): "harbour_watch-1001987654321". No username or
 * title: "chat-<digits>". Always a safe path component.
 */
size_t media_chat_slug(int64_t chat_id, const char *username, const char *title, char *out,
                       size_t cap);

/* "objects/ab/cd/<sha256>" for a lower-case hex SHA-256; TGH_EINVAL otherwise. */
TGH_MUSTCHECK tgh_err media_object_key(const char *sha256, char *out, size_t cap);

/*
 * "{YYYY}/{MM}/{slug}/{message_id}/{name}" (UTC month of date); name NULL
 * gives the folder without a trailing '/'. slug from media_chat_slug(), name
 * from media_name_sanitize(); both are checked again (TGH_EINVAL when not a
 * safe component). TGH_ETOOBIG when it does not fit cap.
 */
TGH_MUSTCHECK tgh_err media_layout_key(int64_t date, const char *slug, int64_t message_id,
                                       const char *name, char *out, size_t cap);

/* Is key a relative key with only safe components (what the store accepts)? */
bool media_key_valid(const char *key);

/* ---- policy (media_policy.c): which files of which messages are kept ---- */

/*
 * Global from TGH_MEDIA_KINDS, TGH_MEDIA_MAX_SIZE, TGH_MEDIA_HISTORY and
 * TGH_MEDIA_THUMBS; a tracked chat may override any of them with a spec
 * "kinds=photo,voice;max=20M;history=all;thumbs=video" (`chats media`).
 *
 * kinds    photo video animation audio voice video_note sticker document
 *          other (any kind not named here); "all"; "none"
 * max      largest file kept, bytes with an optional K, M or G (1024-based);
 *          0: no limit
 * history  media of messages dated before the chat was added to tracking:
 *          "all", "none", or "Nd": those at most N days older than that
 * thumbs   kinds of which only the thumbnail is kept, not the file
 */
enum media_kind_bit {
    MEDIA_K_PHOTO = 1u << 0,
    MEDIA_K_VIDEO = 1u << 1,
    MEDIA_K_ANIMATION = 1u << 2,
    MEDIA_K_AUDIO = 1u << 3,
    MEDIA_K_VOICE = 1u << 4,
    MEDIA_K_VIDEO_NOTE = 1u << 5,
    MEDIA_K_STICKER = 1u << 6,
    MEDIA_K_DOCUMENT = 1u << 7,
    MEDIA_K_OTHER = 1u << 8,
    MEDIA_K_ALL = (1u << 9) - 1,
};

struct media_policy {
    unsigned kinds;       /* media_kind_bit set */
    int64_t max_size;     /* bytes, 0: no limit */
    int64_t history_days; /* -1: all history, 0: none, N: N days before the chat was added */
    unsigned thumbs;      /* kinds kept as thumbnails only */
};

/* The bit of a msg_media kind ("photo", ...); MEDIA_K_OTHER for any other. */
unsigned media_kind_bit(const char *kind);

/*
 * The global policy from its four settings (any NULL: the default,
 * MEDIA_POLICY_DEFAULT_*). TGH_EINVAL naming the setting and the bad word.
 */
#define MEDIA_POLICY_DEFAULT_KINDS   "photo,video,animation,audio,voice,video_note,document"
#define MEDIA_POLICY_DEFAULT_MAX     "100M"
#define MEDIA_POLICY_DEFAULT_HISTORY "7d"
#define MEDIA_POLICY_DEFAULT_THUMBS  ""
TGH_MUSTCHECK tgh_err media_policy_init(struct media_policy *p, const char *kinds,
                                        const char *max_size, const char *history,
                                        const char *thumbs);

/* Apply a chat's spec ("kinds=...;max=...;history=...;thumbs=...", "" none) over *p. */
TGH_MUSTCHECK tgh_err media_policy_apply(struct media_policy *p, const char *spec);

/* The policy as a spec (all four keys), for status and `chats list`. */
size_t media_policy_format(const struct media_policy *p, char *out, size_t cap);

enum media_decision {
    MEDIA_KEEP = 0, /* keep the file */
    MEDIA_THUMB,    /* keep its thumbnail only */
    MEDIA_SKIP,     /* keep nothing; *why says which rule */
};

/*
 * What to keep of a file of kind and size (0: unknown, kept) in a message
 * dated date of a chat added to tracking at added_at (0: not tracked, such
 * as an import: history rules do not apply).
 */
enum media_decision media_policy_decide(const struct media_policy *p, const char *kind,
                                        int64_t size, int64_t date, int64_t added_at,
                                        const char **why);

/* ---- the store (media.c, media_file.c, media_s3.c) ---- */

/* TGH_MEDIA "off" (or "none", ""): no media store. */
bool media_url_is_off(const char *url);

/*
 * Open the store named by url (file:// or s3://). A local folder is created
 * (mode 0700) when missing. A bad URL or missing S3 credentials is
 * TGH_EINVAL naming what is wrong; nothing is contacted yet.
 */
TGH_MUSTCHECK tgh_err media_open(const char *url, struct media_store **out);
void media_close(struct media_store *ms); /* NULL is fine */

/* "file" or "s3". */
const char *media_kind(const struct media_store *ms);

/* What to store, and where a multipart upload of it stands. */
struct media_put {
    const char *key;          /* from media_object_key() or media_layout_key() */
    const char *path;         /* the local file whose bytes are stored */
    const char *content_type; /* NULL: application/octet-stream */
    const char *sha256;       /* hex of the whole file (S3: x-amz-content-sha256 of a single PUT) */
    /*
     * S3 multipart (files larger than the part size): an upload of this key
     * begun earlier (resumed: the parts the server lists are not sent again),
     * or NULL; on_upload_id is called once a new upload is begun, so the
     * caller can record it before any part is sent.
     */
    const char *upload_id;
    void (*on_upload_id)(void *arg, const char *upload_id);
    void *arg;
};

/* What a put did, for metrics and tests. */
struct media_put_result {
    int64_t bytes_sent; /* bytes sent this call (resumed parts not counted) */
    int parts;          /* multipart: parts of the object; 0 for a single PUT or a file */
    int parts_resumed;  /* parts found on the server and not sent again */
};

/*
 * Store the file at p->path under p->key. TGH_EUNAVAIL / TGH_ETIMEOUT / TGH_EAGAIN
 * for a server that is down or answered 5xx (retry later; a multipart upload
 * stays resumable), TGH_EIO for a local failure (ENOSPC included), TGH_EINVAL
 * for a refusal that a retry will not change.
 */
TGH_MUSTCHECK tgh_err media_put(struct media_store *ms, const struct media_put *p,
                                struct media_put_result *res);

/* Store len bytes (a sidecar) under key, atomically. */
TGH_MUSTCHECK tgh_err media_put_bytes(struct media_store *ms, const char *key, const void *data,
                                      size_t len, const char *content_type);

/* Abandon a multipart upload begun by media_put (S3); a no-op for a folder. */
TGH_MUSTCHECK tgh_err media_abort(struct media_store *ms, const char *key, const char *upload_id);

/* The object's size; TGH_ENOTFOUND when there is none. */
TGH_MUSTCHECK tgh_err media_stat(struct media_store *ms, const char *key, int64_t *size);

/*
 * Stream bytes [offset, offset + len) of the object to fn (len < 0: to the
 * end) in pieces; fn returning false stops with TGH_OK. TGH_ENOTFOUND when
 * there is no object; TGH_EINVAL when offset is past its end.
 */
typedef bool (*media_read_fn)(void *arg, const void *data, size_t len);
TGH_MUSTCHECK tgh_err media_read(struct media_store *ms, const char *key, int64_t offset,
                                 int64_t len, media_read_fn fn, void *arg);

/* SHA-256 (hex) and size of the stored object, streamed (for verify). */
TGH_MUSTCHECK tgh_err media_hash(struct media_store *ms, const char *key,
                                 char sha256[MEDIA_SHA256_HEX + 1], int64_t *size);

/*
 * Make alias (a layout key) name the same bytes as key: a hard link in a
 * folder. *made false where the backend has no such thing (S3: message.json
 * names the object instead). An existing alias is replaced.
 */
TGH_MUSTCHECK tgh_err media_alias(struct media_store *ms, const char *key, const char *alias,
                                  bool *made);

/* Remove the object (tests, verify --repair); TGH_OK when it is not there. */
TGH_MUSTCHECK tgh_err media_remove(struct media_store *ms, const char *key);

/* SHA-256 (hex) and size of a local file, streamed. */
TGH_MUSTCHECK tgh_err media_file_sha256(const char *path, char sha256[MEDIA_SHA256_HEX + 1],
                                        int64_t *size);

#endif
