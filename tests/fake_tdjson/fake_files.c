/* SPDX-License-Identifier: MIT */
/*
 * fake_files.c - files as a client sees them, and their downloads.
 *
 * Every "file" object an answer or update carries goes through
 * fake_files_patch() on its way out: the client's registry gives it an id
 * (1, 2, 3, ... in the order the client first meets each remote file, keyed
 * by remote.unique_id, so one remote file in two messages has one id, as
 * TDLib merges file nodes) and its local state. A download writes the file's
 * bytes, a pure function of (unique_id, size), into the files directory in
 * steps of the world's chunk at the world's speed, each step one updateFile;
 * the worker runs the steps between requests (fake_files_run), so nothing
 * else waits. Partial files stay in <files_directory>/temp/, complete ones
 * move to <files_directory>/<type>/<name> (FileLoaderUtils.cpp's names).
 * With use_file_database the downloads are listed in
 * <database_directory>/fake-td-files.json, written whenever a file appears
 * or disappears on disk; what is on disk is the truth at load, so a killed
 * process resumes from the bytes it wrote. Scripted failures come from
 * control lines (fake_control.c): failed and truncated downloads, expired
 * file references, the speed.
 */
#include "fake_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STEPS_PER_CALL 32
#define FAILED_MESSAGE "File download has failed or was canceled"

/* TDLib's directories by file type (get_file_type_name), and the extension of file_N names. */
static const struct {
    const char *parent; /* @type of the object holding the file */
    const char *dir;
    const char *ext;
} types[] = {
    { "document", "documents", "" },
    { "photoSize", "photos", ".jpg" },
    { "video", "videos", ".mp4" },
    { "alternativeVideo", "videos", ".mp4" },
    { "audio", "music", ".mp3" },
    { "voiceNote", "voice", ".oga" },
    { "videoNote", "video_notes", ".mp4" },
    { "animation", "animations", ".mp4" },
    { "sticker", "stickers", ".webp" },
    { "stickerFullTypeRegular", "stickers", ".webp" },
    { "thumbnail", "thumbnails", ".jpg" },
    { "chatPhotoInfo", "profile_photos", ".jpg" },
    { "profilePhoto", "profile_photos", ".jpg" },
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

struct fake_dl {
    uint32_t file;        /* index in the client's files */
    size_t slot;          /* index in fs->dls */
    char *partial, *path; /* relative to the files directory; NULL: none */
    int64_t prefix;       /* bytes on disk from the start */
    bool active, completed;
    bool truncated; /* completed short of its size (download_truncate), reported whole */
    int fd;
    double next_due;
    int64_t run_bytes; /* written by the current run */
    int64_t stop_at;   /* the run ends here: the size, or offset + limit */
    int64_t end_at;    /* the file is complete here: the size, less a truncation */
    int64_t fail_at;   /* -1, or where the run fails (download_fail) */
    int fail_code;
    char *fail_msg;
    int64_t w_offset, w_limit; /* of the synchronous requests waiting */
    json_t **waits;            /* their @extra (NULL: none) */
    size_t nwaits, capwaits;
};

struct fake_file {
    /*
     * A generated file (fake_message.c) keeps the hash its remote ids are
     * made of, any other the offsets of both in fs->str (unique id << 32).
     */
    uint64_t remote;
    bool gen;
    uint32_t name; /* offset into fs->str; 0: none */
    uint8_t type;
    int64_t size, expected;
    uint64_t seen; /* last time a message carried it to the client (refs) */
    struct fake_dl *dl;
};

struct fake_files {
    struct fake_file *v; /* id = index + 1 */
    size_t n, cap;
    uint32_t *slots; /* open addressing by unique_id: index + 1, 0 free */
    size_t nslots;
    char *str; /* every string of the registry, NUL-terminated, offset 0 is "" */
    size_t nstr, capstr;
    struct fake_dl **dls; /* files with local state */
    size_t ndls, capdls;
    char *dir;   /* the files directory, absolute */
    char *state; /* the list of downloads, NULL without a file database */
    int64_t tmp_id, perm_id;
};

/* Downloads running, of every client. */
struct run {
    struct fake_client *cl;
    struct fake_dl *dl;
};
static struct run *runs;
static size_t nruns, capruns;

/* Scripted failures (control lines), consumed by the downloads they match. */
struct inject {
    bool truncate; /* download_truncate; else download_fail */
    int64_t count;
    int client; /* 0: any */
    char **uids;
    size_t nuids;  /* 0: any file */
    int64_t bytes; /* after_bytes / bytes; -1: half */
    int code;
    char *message;
};
static struct inject *injects;
static size_t ninjects, capinjects;

/* Expired file references: a file is expired for a client that last saw it before. */
static uint64_t seq, expired_all;
static int64_t stale_all; /* reads of any expired file still stale (stale_reads without FILES) */
static struct expired {
    char *uid;
    uint64_t at;
    int64_t stale; /* reads still carrying the expired reference (stale_reads) */
} * expired;
static size_t nexpired, capexpired;

static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    while (*cap < need)
        *cap = *cap != 0 ? *cap * 2 : 16;
    return fake_xrealloc(p, *cap * size);
}

static uint64_t
fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xCBF29CE484222325);

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001B3);
    }
    return h;
}

/* Bytes [off, off + n) of the file (uid, total): 8 at a time from fake_hash, little-endian. */
static void
fill(const char *uid, int64_t total, int64_t off, unsigned char *buf, size_t n)
{
    uint64_t seed = fnv1a(uid), blk = 0;
    int64_t cur = -1;

    for (size_t i = 0; i < n; i++) {
        int64_t p = off + (int64_t)i;

        if (p / 8 != cur) {
            cur = p / 8;
            blk = fake_hash(seed, (uint64_t)cur, (uint64_t)total);
        }
        buf[i] = (unsigned char)(blk >> (8 * (p % 8)));
    }
}

/* ---- the registry ---- */

static const char *
fstr(const struct fake_files *fs, uint32_t off)
{
    return fs->str + off;
}

struct ids {
    char rid[FAKE_REMOTE_ID_LEN], uid[FAKE_UNIQUE_ID_LEN];
};

static const char *
uid_str(const struct fake_files *fs, const struct fake_file *f, struct ids *buf)
{
    if (!f->gen)
        return fstr(fs, (uint32_t)(f->remote >> 32));
    fake_file_remote_ids(f->remote, buf->rid, buf->uid);
    return buf->uid;
}

static const char *
rid_str(const struct fake_files *fs, const struct fake_file *f, struct ids *buf)
{
    if (!f->gen)
        return fstr(fs, (uint32_t)f->remote);
    fake_file_remote_ids(f->remote, buf->rid, buf->uid);
    return buf->rid;
}

/* Whether (uid, rid) are the ids of a generated file; its hash in *h. */
static bool
generated(const char *uid, const char *rid, uint64_t *h)
{
    struct ids want;
    char *end;

    if (strlen(rid) != FAKE_REMOTE_ID_LEN - 1 || strncmp(rid, "AgACAgQAAxkBAAI", 15) != 0)
        return false;
    {
        char hex[17];

        memcpy(hex, rid + 15, 16);
        hex[16] = '\0';
        *h = strtoull(hex, &end, 16);
        if (*end != '\0')
            return false;
    }
    fake_file_remote_ids(*h, want.rid, want.uid);
    return strcmp(want.rid, rid) == 0 && strcmp(want.uid, uid) == 0;
}

static uint32_t
str_add(struct fake_files *fs, const char *s)
{
    size_t n = strlen(s) + 1;
    uint32_t off = (uint32_t)fs->nstr;

    if (*s == '\0')
        return 0;
    fs->str = grow(fs->str, &fs->capstr, fs->nstr + n, 1);
    memcpy(fs->str + fs->nstr, s, n);
    fs->nstr += n;
    return off;
}

static int64_t
total_of(const struct fake_file *f)
{
    return f->size > 0 ? f->size : f->expected;
}

static void
slots_rebuild(struct fake_files *fs)
{
    size_t mask;

    free(fs->slots);
    fs->nslots = fs->nslots != 0 ? fs->nslots * 2 : 1024;
    fs->slots = fake_xcalloc(fs->nslots, sizeof(*fs->slots));
    mask = fs->nslots - 1;
    for (size_t i = 0; i < fs->n; i++) {
        struct ids b;
        size_t at = (size_t)fnv1a(uid_str(fs, &fs->v[i], &b)) & mask;

        while (fs->slots[at] != 0)
            at = (at + 1) & mask;
        fs->slots[at] = (uint32_t)(i + 1);
    }
}

static struct fake_file *
file_find(struct fake_files *fs, const char *uid, size_t *slot)
{
    size_t mask, at;

    if (fs->nslots == 0)
        slots_rebuild(fs);
    mask = fs->nslots - 1;
    for (at = (size_t)fnv1a(uid) & mask; fs->slots[at] != 0; at = (at + 1) & mask) {
        struct fake_file *f = &fs->v[fs->slots[at] - 1];
        struct ids b;

        if (strcmp(uid_str(fs, f, &b), uid) == 0)
            return f;
    }
    if (slot != NULL)
        *slot = at;
    return NULL;
}

static struct fake_file *
file_add(struct fake_files *fs, const char *uid, const char *rid, int64_t size, int64_t expected,
         uint8_t type, const char *name)
{
    struct fake_file *f;
    size_t slot;

    f = file_find(fs, uid, &slot);
    if (f != NULL)
        return f;
    if ((fs->n + 1) * 2 > fs->nslots) {
        slots_rebuild(fs);
        (void)file_find(fs, uid, &slot);
    }
    fs->v = grow(fs->v, &fs->cap, fs->n + 1, sizeof(*fs->v));
    f = &fs->v[fs->n];
    memset(f, 0, sizeof(*f));
    f->gen = generated(uid, rid, &f->remote);
    if (!f->gen)
        f->remote = (uint64_t)str_add(fs, uid) << 32 | str_add(fs, rid);
    f->name = name != NULL ? str_add(fs, name) : 0;
    f->type = type;
    f->size = size;
    f->expected = expected;
    fs->slots[slot] = (uint32_t)(++fs->n);
    return f;
}

static struct fake_file *
file_of(struct fake_client *cl, int64_t id)
{
    struct fake_files *fs = cl->files;

    if (fs == NULL || id < 1 || (uint64_t)id > fs->n)
        return NULL;
    return &fs->v[id - 1];
}

static int32_t
id_of(const struct fake_files *fs, const struct fake_file *f)
{
    return (int32_t)(f - fs->v) + 1;
}

static void
path_of(const struct fake_files *fs, const char *rel, char *out, size_t n)
{
    (void)snprintf(out, n, "%s/%s", fs->dir, rel);
}

/* The TDLib file object of f as its client sees it now. */
static json_t *
file_object(const struct fake_files *fs, const struct fake_file *f)
{
    const struct fake_dl *d = f->dl;
    json_t *o = fake_obj("file"), *l = fake_obj("localFile"), *r = fake_obj("remoteFile");
    const char *rel = d == NULL ? NULL : d->path != NULL ? d->path : d->partial;
    int64_t have = d == NULL ? 0 : d->truncated ? total_of(f) : d->prefix;
    char path[PATH_MAX + 256];
    struct ids b;

    fake_set_int(o, "id", id_of(fs, f));
    fake_set_int(o, "size", f->size);
    fake_set_int(o, "expected_size", f->expected);
    if (rel != NULL)
        path_of(fs, rel, path, sizeof(path));
    fake_set_str(l, "path", rel != NULL ? path : "");
    fake_set_bool(l, "can_be_downloaded", true);
    fake_set_bool(l, "can_be_deleted", rel != NULL);
    fake_set_bool(l, "is_downloading_active", d != NULL && d->active);
    fake_set_bool(l, "is_downloading_completed", d != NULL && d->completed);
    fake_set_int(l, "download_offset", 0);
    fake_set_int(l, "downloaded_prefix_size", have);
    fake_set_int(l, "downloaded_size", have);
    fake_set(o, "local", l);
    fake_set_str(r, "id", rid_str(fs, f, &b));
    fake_set_str(r, "unique_id", uid_str(fs, f, &b));
    fake_set_bool(r, "is_uploading_active", false);
    fake_set_bool(r, "is_uploading_completed", true);
    fake_set_int(r, "uploaded_size", f->size);
    fake_set(o, "remote", r);
    return o;
}

static void
send_update(struct fake_client *cl, const struct fake_file *f)
{
    json_t *u = fake_obj("updateFile");

    fake_set(u, "file", file_object(cl->files, f));
    fake_update(cl, NULL, u);
}

/* ---- patching answers ---- */

struct walk {
    struct fake_client *cl;
    bool refresh;
    struct fake_file_ids *ids;
};

static uint8_t
type_of_parent(const json_t *parent)
{
    const char *t = json_string_value(json_object_get(parent, "@type"));

    for (size_t i = 0; t != NULL && i < NTYPES; i++)
        if (strcmp(t, types[i].parent) == 0)
            return (uint8_t)i;
    return 0;
}

static int64_t
jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
}

static bool ref_expired(const struct fake_files *fs, const struct fake_file *f);

/* A read of an expired file that does not refresh its reference (stale_reads), counted down. */
static bool
read_stays_stale(const struct fake_files *fs, const struct fake_file *f, const char *uid)
{
    if (!ref_expired(fs, f))
        return false;
    for (size_t i = 0; i < nexpired; i++)
        if (expired[i].stale > 0 && strcmp(expired[i].uid, uid) == 0) {
            expired[i].stale--;
            return true;
        }
    if (stale_all > 0) {
        stale_all--;
        return true;
    }
    return false;
}

static json_t *
patch_file(struct walk *x, json_t *v, const json_t *parent)
{
    struct fake_files *fs = x->cl->files;
    const json_t *remote = json_object_get(v, "remote");
    const char *uid = json_string_value(json_object_get(remote, "unique_id"));
    const char *rid = json_string_value(json_object_get(remote, "id"));
    const char *name = json_string_value(json_object_get(parent, "file_name"));
    struct fake_file *f;

    if (uid == NULL || *uid == '\0')
        return json_incref(v); /* no remote file: nothing to download */
    f = file_add(fs, uid, rid != NULL ? rid : "", jint(v, "size"), jint(v, "expected_size"),
                 type_of_parent(parent), name != NULL && *name != '\0' ? name : NULL);
    if (x->refresh && !read_stays_stale(fs, f, uid))
        f->seen = ++seq;
    if (x->ids != NULL) {
        x->ids->v = grow(x->ids->v, &x->ids->cap, x->ids->n + 1, sizeof(*x->ids->v));
        x->ids->v[x->ids->n++] = (uint32_t)(f - fs->v);
        x->ids->any_local |= f->dl != NULL;
    }
    return file_object(fs, f);
}

/* v with its files patched: a new reference, v itself when nothing below is a file. */
static json_t *
walk(struct walk *x, json_t *v, const json_t *parent)
{
    json_t *copy = NULL;

    if (json_is_object(v)) {
        const char *key, *type = json_string_value(json_object_get(v, "@type"));
        json_t *child;

        if (type != NULL && strcmp(type, "file") == 0)
            return patch_file(x, v, parent);
        json_object_foreach (v, key, child) {
            json_t *p;

            if (!json_is_object(child) && !json_is_array(child))
                continue;
            p = walk(x, child, v);
            if (p == child) {
                json_decref(p);
                continue;
            }
            if (copy == NULL)
                copy = json_copy(v);
            json_object_set_new_nocheck(copy, key, p);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *child = json_array_get(v, i), *p;

            if (!json_is_object(child) && !json_is_array(child))
                continue;
            p = walk(x, child, parent);
            if (p == child) {
                json_decref(p);
                continue;
            }
            if (copy == NULL)
                copy = json_copy(v);
            json_array_set_new(copy, i, p);
        }
    }
    return copy != NULL ? copy : json_incref(v);
}

json_t *
fake_files_patch_ids(struct fake_client *cl, json_t *obj, bool refresh, struct fake_file_ids *ids)
{
    struct walk x = { .cl = cl, .refresh = refresh, .ids = ids };

    if (cl == NULL || cl->files == NULL)
        return json_incref(obj);
    return walk(&x, obj, NULL);
}

json_t *
fake_files_patch(struct fake_client *cl, json_t *obj, bool refresh)
{
    return fake_files_patch_ids(cl, obj, refresh, NULL);
}

bool
fake_files_any_local(struct fake_client *cl, const struct fake_file_ids *ids)
{
    struct fake_files *fs = cl->files;

    for (size_t i = 0; fs != NULL && i < ids->n; i++)
        if (ids->v[i] < fs->n && fs->v[ids->v[i]].dl != NULL)
            return true;
    return false;
}

/* ---- local state ---- */

static struct fake_dl *
dl_get(struct fake_files *fs, struct fake_file *f)
{
    struct fake_dl *d = f->dl;

    if (d != NULL)
        return d;
    d = fake_xcalloc(1, sizeof(*d));
    d->file = (uint32_t)(f - fs->v);
    d->fd = -1;
    d->fail_at = -1;
    fs->dls = grow(fs->dls, &fs->capdls, fs->ndls + 1, sizeof(*fs->dls));
    d->slot = fs->ndls;
    fs->dls[fs->ndls++] = d;
    f->dl = d;
    return d;
}

static void
dl_free(struct fake_files *fs, struct fake_dl *d)
{
    fs->v[d->file].dl = NULL;
    fs->dls[d->slot] = fs->dls[--fs->ndls];
    fs->dls[d->slot]->slot = d->slot;
    if (d->fd >= 0)
        (void)close(d->fd);
    free(d->partial);
    free(d->path);
    free(d->fail_msg);
    free(d->waits);
    free(d);
}

static bool
mkdirs(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0750) == 0 || errno == EEXIST;
}

/* The list of downloads, written whole and renamed, so a killed process leaves one list. */
static void
save_state(struct fake_files *fs)
{
    json_t *list, *s;
    char tmp[PATH_MAX + 8];

    if (fs->state == NULL)
        return;
    list = json_array();
    for (size_t i = 0; i < fs->ndls; i++) {
        const struct fake_dl *d = fs->dls[i];
        const struct fake_file *f = &fs->v[d->file];
        json_t *e;

        if (d->partial == NULL && d->path == NULL)
            continue;
        struct ids b;

        e = json_pack("{s:s, s:s, s:I, s:I, s:s}", "unique_id", uid_str(fs, f, &b), "remote_id",
                      rid_str(fs, f, &b), "size", (json_int_t)f->size, "expected_size",
                      (json_int_t)f->expected, "type", types[f->type].dir);
        if (f->name != 0)
            json_object_set_new(e, "name", json_string(fstr(fs, f->name)));
        if (d->partial != NULL)
            json_object_set_new(e, "partial", json_string(d->partial));
        if (d->path != NULL)
            json_object_set_new(e, "path", json_string(d->path));
        if (d->truncated)
            json_object_set_new(e, "truncated", json_true());
        json_array_append_new(list, e);
    }
    s = json_pack("{s:I, s:I, s:o}", "tmp_file_id", (json_int_t)fs->tmp_id, "perm_file_id",
                  (json_int_t)fs->perm_id, "files", list);
    (void)snprintf(tmp, sizeof(tmp), "%s.tmp", fs->state);
    if (json_dump_file(s, tmp, JSON_COMPACT) != 0 || rename(tmp, fs->state) != 0)
        (void)unlink(tmp);
    json_decref(s);
}

static uint8_t
type_by_dir(const char *dir)
{
    for (size_t i = 0; dir != NULL && i < NTYPES; i++)
        if (strcmp(types[i].dir, dir) == 0)
            return (uint8_t)i;
    return 0;
}

/*
 * Back from the list: what is on disk decides. A partial file resumes from
 * its length; a complete file whose length is not the size is dropped, as
 * TDLib drops a local copy that changed (and leaves it where it is).
 */
static void
load_state(struct fake_files *fs)
{
    json_t *s = json_load_file(fs->state, 0, NULL), *e;
    size_t i;

    if (s == NULL)
        return;
    fs->tmp_id = jint(s, "tmp_file_id");
    fs->perm_id = jint(s, "perm_file_id");
    json_array_foreach (json_object_get(s, "files"), i, e) {
        const char *uid = json_string_value(json_object_get(e, "unique_id"));
        const char *rid = json_string_value(json_object_get(e, "remote_id"));
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *partial = json_string_value(json_object_get(e, "partial"));
        const char *path = json_string_value(json_object_get(e, "path"));
        struct fake_file *f;
        struct fake_dl *d;
        char full[PATH_MAX + 256];
        struct stat st;

        if (uid == NULL || *uid == '\0')
            continue;
        f = file_add(fs, uid, rid != NULL ? rid : "", jint(e, "size"), jint(e, "expected_size"),
                     type_by_dir(json_string_value(json_object_get(e, "type"))), name);
        d = dl_get(fs, f);
        if (path != NULL) {
            path_of(fs, path, full, sizeof(full));
            if (stat(full, &st) == 0 && st.st_size == total_of(f)) {
                d->path = fake_xstrdup(path);
                d->prefix = total_of(f);
                d->completed = true;
            }
        } else if (partial != NULL) {
            path_of(fs, partial, full, sizeof(full));
            if (stat(full, &st) == 0) {
                d->partial = fake_xstrdup(partial);
                d->prefix = st.st_size < total_of(f) ? st.st_size : total_of(f);
            }
        }
        if (d->path == NULL && d->partial == NULL)
            dl_free(fs, d);
    }
    json_decref(s);
}

bool
fake_files_open(struct fake_req *r, const char *files_dir, bool use_file_database)
{
    struct fake_client *cl = r->cl;
    const char *dir = files_dir != NULL && *files_dir != '\0' ? files_dir : cl->db_dir;
    char real[PATH_MAX], state[PATH_MAX + 64], msg[PATH_MAX + 128];
    struct fake_files *fs;

    fake_files_close(cl);
    if (!mkdirs(dir) || realpath(dir, real) == NULL) {
        (void)snprintf(msg, sizeof(msg), "Can't init files directory \"%s\": %s", dir,
                       strerror(errno));
        fake_answer_error(r, 400, msg);
        return false;
    }
    fs = fake_xcalloc(1, sizeof(*fs));
    fs->str = fake_xmalloc(256);
    fs->capstr = 256;
    fs->str[0] = '\0';
    fs->nstr = 1;
    fs->dir = fake_xstrdup(real);
    if (use_file_database) {
        (void)snprintf(state, sizeof(state), "%s/%s", cl->db_dir, FAKE_FILES_STATE);
        fs->state = fake_xstrdup(state);
    }
    cl->files = fs;
    if (fs->state != NULL)
        load_state(fs);
    return true;
}

/* ---- downloads ---- */

static void
runs_remove(const struct fake_dl *d)
{
    for (size_t i = 0; i < nruns; i++) {
        if (runs[i].dl == d) {
            memmove(&runs[i], &runs[i + 1], (nruns - i - 1) * sizeof(*runs));
            nruns--;
            return;
        }
    }
}

static void
answer_wait(struct fake_client *cl, json_t *extra, json_t *obj)
{
    struct fake_req r = { .cl = cl, .extra = extra, .due = fake_now_mono() };

    fake_answer(&r, obj);
    json_decref(extra);
}

/* Answer the waiting synchronous requests: the file when TDLib would, else code/message. */
static void
answer_waits(struct fake_client *cl, struct fake_file *f, int code, const char *message)
{
    struct fake_dl *d = f->dl;
    int64_t want = d->w_limit > 0 ? d->w_offset + d->w_limit : INT64_MAX;
    bool ok = d->completed || d->prefix >= want;

    for (size_t i = 0; i < d->nwaits; i++)
        answer_wait(cl, d->waits[i],
                    ok ? file_object(cl->files, f)
                       : fake_error(code, message != NULL ? message : FAILED_MESSAGE));
    d->nwaits = 0;
}

/* The run ends without the file complete: failed, canceled, at its limit, or the client closes. */
static void
run_stop(struct fake_client *cl, struct fake_file *f, int code, const char *message, bool update)
{
    struct fake_dl *d = f->dl;

    runs_remove(d);
    d->active = false;
    if (d->fd >= 0)
        (void)close(d->fd);
    d->fd = -1;
    if (update)
        send_update(cl, f);
    answer_waits(cl, f, code, message);
}

/* TDLib's name for a finished file: the suggested name, name_(0..9), else file_N. */
static char *
final_name(struct fake_files *fs, const struct fake_file *f)
{
    const char *dir = types[f->type].dir;
    char full[PATH_MAX + 256], rel[512], stem[256], clean[256];
    const char *ext = types[f->type].ext, *dot;
    size_t n = 0;
    int fd;

    path_of(fs, dir, full, sizeof(full));
    (void)mkdirs(full);
    if (f->name != 0) {
        for (const char *p = fstr(fs, f->name); *p != '\0' && n + 1 < sizeof(clean); p++)
            clean[n++] = *p == '/' ? '_' : *p;
        clean[n] = '\0';
        dot = strrchr(clean, '.');
        if (dot == NULL || dot == clean)
            dot = clean + n;
        ext = dot;
        (void)snprintf(stem, sizeof(stem), "%.*s", (int)(dot - clean), clean);
        for (int i = -1; i < 10; i++) {
            if (i < 0)
                (void)snprintf(rel, sizeof(rel), "%s/%s%s", dir, stem, ext);
            else
                (void)snprintf(rel, sizeof(rel), "%s/%s_(%d)%s", dir, stem, i, ext);
            path_of(fs, rel, full, sizeof(full));
            fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
            if (fd >= 0) {
                (void)close(fd);
                return fake_xstrdup(rel);
            }
        }
        ext = types[f->type].ext;
    }
    for (;;) {
        (void)snprintf(rel, sizeof(rel), "%s/file_%lld%s", dir, (long long)fs->perm_id++, ext);
        path_of(fs, rel, full, sizeof(full));
        fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd >= 0) {
            (void)close(fd);
            return fake_xstrdup(rel);
        }
        if (errno != EEXIST)
            return NULL;
    }
}

static void
run_complete(struct fake_client *cl, struct fake_file *f)
{
    struct fake_files *fs = cl->files;
    struct fake_dl *d = f->dl;
    char from[PATH_MAX + 256], to[PATH_MAX + 256];
    char *rel = final_name(fs, f);

    if (d->fd >= 0)
        (void)close(d->fd);
    d->fd = -1;
    path_of(fs, d->partial, from, sizeof(from));
    if (rel != NULL)
        path_of(fs, rel, to, sizeof(to));
    if (rel == NULL || rename(from, to) != 0) {
        char msg[PATH_MAX + 64];

        (void)snprintf(msg, sizeof(msg), "Can't create the file: %s", strerror(errno));
        free(rel);
        run_stop(cl, f, 400, msg, true);
        return;
    }
    free(d->partial);
    d->partial = NULL;
    d->path = rel;
    d->completed = true;
    d->truncated = d->prefix < total_of(f);
    runs_remove(d);
    d->active = false;
    save_state(fs);
    send_update(cl, f);
    answer_waits(cl, f, 400, NULL);
}

/* The world's step: one chunk (less at the end), after chunk / speed seconds. */
static double
step_time(int64_t bytes)
{
    return fake_g.w->dl_speed > 0 ? (double)bytes / (double)fake_g.w->dl_speed : 0.0;
}

static int64_t
run_target(const struct fake_dl *d)
{
    int64_t t = d->stop_at < d->end_at ? d->stop_at : d->end_at;

    return d->fail_at >= 0 && d->fail_at < t ? d->fail_at : t;
}

static int64_t
next_chunk(const struct fake_dl *d)
{
    int64_t left = run_target(d) - d->prefix;

    return left < fake_g.w->dl_chunk ? (left > 0 ? left : 0) : fake_g.w->dl_chunk;
}

static void
run_step(struct fake_client *cl, struct fake_dl *d, double now)
{
    struct fake_files *fs = cl->files;
    struct fake_file *f = &fs->v[d->file];
    int64_t n = next_chunk(d), target = run_target(d);

    if (n > 0) {
        unsigned char *buf = fake_xmalloc((size_t)n);
        ssize_t put;

        struct ids b;

        fill(uid_str(fs, f, &b), total_of(f), d->prefix, buf, (size_t)n);
        put = pwrite(d->fd, buf, (size_t)n, d->prefix);
        free(buf);
        if (put != n) {
            char msg[128];

            (void)snprintf(msg, sizeof(msg), "Can't write the file: %s",
                           put < 0 ? strerror(errno) : "short write");
            run_stop(cl, f, 400, msg, true);
            return;
        }
        d->prefix += n;
        d->run_bytes += n;
    }
    if (d->prefix < target) {
        double base = d->next_due > now - 0.1 ? d->next_due : now;

        d->next_due = base + step_time(next_chunk(d));
        send_update(cl, f);
        return;
    }
    if (d->fail_at >= 0 && d->prefix >= d->fail_at)
        run_stop(cl, f, d->fail_code, d->fail_msg, true);
    else if (d->prefix >= d->end_at)
        run_complete(cl, f);
    else
        run_stop(cl, f, 400, NULL, true); /* the limit: TDLib cancels the download there */
}

static bool
connected(const struct fake_client *cl)
{
    return cl->st == FAKE_ST_READY && cl->is_connected;
}

double
fake_files_run(double now)
{
    for (int steps = 0; steps < STEPS_PER_CALL; steps++) {
        struct run *best = NULL;

        for (size_t i = 0; i < nruns; i++)
            if (connected(runs[i].cl) &&
                (best == NULL || runs[i].dl->next_due < best->dl->next_due))
                best = &runs[i];
        if (best == NULL)
            return 0;
        if (best->dl->next_due > now)
            return best->dl->next_due;
        run_step(best->cl, best->dl, now);
    }
    return now; /* more is due: the worker comes back after a request */
}

static bool
uid_listed(const struct inject *in, const char *uid)
{
    if (in->nuids == 0)
        return true;
    for (size_t i = 0; i < in->nuids; i++)
        if (strcmp(in->uids[i], uid) == 0)
            return true;
    return false;
}

/* The first scripted failure of this kind for (cl, uid), consumed; false: none. */
static bool
take_inject(bool truncate, const struct fake_client *cl, const char *uid, struct inject *out)
{
    for (size_t i = 0; i < ninjects; i++) {
        struct inject *in = &injects[i];

        if (in->truncate != truncate || (in->client != 0 && in->client != cl->id) ||
            !uid_listed(in, uid))
            continue;
        *out = *in;
        out->message = in->message != NULL ? fake_xstrdup(in->message) : NULL;
        if (--in->count > 0)
            return true;
        for (size_t k = 0; k < in->nuids; k++)
            free(in->uids[k]);
        free(in->uids);
        free(in->message);
        memmove(&injects[i], &injects[i + 1], (ninjects - i - 1) * sizeof(*injects));
        ninjects--;
        return true;
    }
    return false;
}

static bool
ref_expired(const struct fake_files *fs, const struct fake_file *f)
{
    uint64_t at = expired_all;
    struct ids b;
    const char *uid = uid_str(fs, f, &b);

    for (size_t i = 0; i < nexpired; i++)
        if (expired[i].at > at && strcmp(expired[i].uid, uid) == 0)
            at = expired[i].at;
    return f->seen < at;
}

static void
set_limits(struct fake_dl *d, const struct fake_file *f, int64_t offset, int64_t limit)
{
    int64_t total = total_of(f);

    d->w_offset = offset;
    d->w_limit = limit;
    d->stop_at = limit > 0 && offset + limit < total ? offset + limit : total;
}

/* A new run of f's download; false after answering. */
static bool
run_start(struct fake_req *r, struct fake_file *f, int64_t offset, int64_t limit)
{
    struct fake_files *fs = r->cl->files;
    struct fake_dl *d = dl_get(fs, f);
    int64_t total = total_of(f);
    char full[PATH_MAX + 256], msg[PATH_MAX + 128];
    struct inject in;
    struct stat st;
    struct ids b;

    if (d->partial != NULL) {
        path_of(fs, d->partial, full, sizeof(full));
        if (stat(full, &st) == 0) {
            d->prefix = st.st_size < total ? st.st_size : total;
        } else {
            free(d->partial);
            d->partial = NULL;
        }
    }
    if (d->partial == NULL) {
        char rel[64];

        d->prefix = 0;
        path_of(fs, "temp", full, sizeof(full));
        (void)mkdirs(full);
        for (;;) {
            int fd;

            (void)snprintf(rel, sizeof(rel), "temp/%lld", (long long)fs->tmp_id++);
            path_of(fs, rel, full, sizeof(full));
            fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
            if (fd >= 0) {
                (void)close(fd);
                break;
            }
            if (errno != EEXIST) {
                (void)snprintf(msg, sizeof(msg), "Can't create a temporary file: %s",
                               strerror(errno));
                dl_free(fs, d);
                fake_answer_error(r, 400, msg);
                return false;
            }
        }
        d->partial = fake_xstrdup(rel);
        save_state(fs);
    }
    path_of(fs, d->partial, full, sizeof(full));
    d->fd = open(full, O_WRONLY | O_CLOEXEC);
    if (d->fd < 0 || ftruncate(d->fd, d->prefix) != 0) {
        (void)snprintf(msg, sizeof(msg), "Can't open the file: %s", strerror(errno));
        fake_answer_error(r, 400, msg);
        return false;
    }
    d->end_at = total;
    d->fail_at = -1;
    free(d->fail_msg);
    d->fail_msg = NULL;
    if (take_inject(true, r->cl, uid_str(fs, f, &b), &in)) {
        int64_t cut = in.bytes >= 0 ? in.bytes : total / 2;

        d->end_at = total - (cut < total ? cut : total);
        if (d->prefix > d->end_at && ftruncate(d->fd, d->end_at) == 0)
            d->prefix = d->end_at;
        free(in.message);
    }
    if (take_inject(false, r->cl, uid_str(fs, f, &b), &in)) {
        int64_t left = total - d->prefix, after = in.bytes >= 0 ? in.bytes : left / 2;

        if (after >= left)
            after = left > 0 ? left - 1 : 0;
        d->fail_at = d->prefix + after;
        d->fail_code = in.code;
        d->fail_msg = in.message;
    }
    set_limits(d, f, offset, limit);
    /* Where each run begins, for tests that check a download goes on rather than restarts. */
    fake_log(json_pack("{s:{s:s, s:I, s:I, s:b, s:b}}", "download_run", "unique_id",
                       uid_str(fs, f, &b), "from", (json_int_t)d->prefix, "size", (json_int_t)total,
                       "fails", d->fail_at >= 0, "truncated", d->end_at < total));
    d->active = true;
    d->run_bytes = 0;
    d->next_due = r->due + step_time(next_chunk(d));
    runs = grow(runs, &capruns, nruns + 1, sizeof(*runs));
    runs[nruns].cl = r->cl;
    runs[nruns].dl = d;
    nruns++;
    return true;
}

static void
add_wait(struct fake_dl *d, struct fake_req *r)
{
    d->waits = grow(d->waits, &d->capwaits, d->nwaits + 1, sizeof(*d->waits));
    d->waits[d->nwaits++] = r->extra != NULL ? json_incref(r->extra) : NULL;
}

/* A completed file whose copy is gone from disk: TDLib finds out and downloads it again. */
static void
check_complete(struct fake_files *fs, struct fake_file *f)
{
    struct fake_dl *d = f->dl;
    char full[PATH_MAX + 256];

    if (d == NULL || !d->completed)
        return;
    path_of(fs, d->path, full, sizeof(full));
    if (access(full, F_OK) == 0)
        return;
    dl_free(fs, d);
    save_state(fs);
}

static void
h_download_file(struct fake_req *r)
{
    struct fake_files *fs = r->cl->files;
    int32_t id, priority;
    int64_t offset, limit;
    bool sync;
    struct fake_file *f;
    struct fake_dl *d;

    if (!fake_arg_i32(r, "file_id", &id) || !fake_arg_i32(r, "priority", &priority) ||
        !fake_arg_i64(r, "offset", &offset) || !fake_arg_i64(r, "limit", &limit) ||
        !fake_arg_bool(r, "synchronous", &sync))
        return;
    if (priority < 1 || priority > 32) {
        fake_answer_error(r, 400, "Priority must be between 1 and 32");
        return;
    }
    if (offset < 0) {
        fake_answer_error(r, 400, "Download offset must be non-negative");
        return;
    }
    if (limit < 0) {
        fake_answer_error(r, 400, "Download limit must be non-negative");
        return;
    }
    f = file_of(r->cl, id);
    if (f == NULL) {
        fake_answer_error(r, 400, "File not found");
        return;
    }
    check_complete(fs, f);
    d = f->dl;
    if (d != NULL && d->completed) {
        fake_answer(r, file_object(fs, f));
        return;
    }
    if (d != NULL && d->active) {
        if (sync && d->nwaits > 0 && (offset != d->w_offset || limit != d->w_limit)) {
            for (size_t i = 0; i < d->nwaits; i++)
                answer_wait(r->cl, d->waits[i],
                            fake_error(200, "Canceled by another downloadFile request"));
            d->nwaits = 0;
        }
        set_limits(d, f, offset, limit);
    } else {
        if (ref_expired(fs, f)) {
            fake_answer_error(r, 400, "FILE_REFERENCE_EXPIRED");
            return;
        }
        if (!run_start(r, f, offset, limit))
            return;
        d = f->dl;
        {
            json_t *u = fake_obj("updateFile");

            fake_set(u, "file", file_object(fs, f));
            fake_update(r->cl, r, u);
        }
    }
    if (sync)
        add_wait(d, r);
    else
        fake_answer(r, file_object(fs, f));
}

static void
h_get_file(struct fake_req *r)
{
    int32_t id;
    struct fake_file *f;

    if (!fake_arg_i32(r, "file_id", &id))
        return;
    f = file_of(r->cl, id);
    if (f == NULL) {
        fake_answer_error(r, 404, "Not Found"); /* a null result (Td::send_result) */
        return;
    }
    check_complete(r->cl->files, f);
    fake_answer(r, file_object(r->cl->files, f));
}

static void
h_get_file_downloaded_prefix_size(struct fake_req *r)
{
    int32_t id;
    int64_t offset, have;
    struct fake_file *f;
    json_t *o;

    if (!fake_arg_i32(r, "file_id", &id) || !fake_arg_i64(r, "offset", &offset))
        return;
    if (offset < 0) {
        fake_answer_error(r, 400, "Parameter offset must be non-negative");
        return;
    }
    f = file_of(r->cl, id);
    if (f == NULL) {
        fake_answer_error(r, 400, "Unknown file ID");
        return;
    }
    have = f->dl == NULL ? 0 : f->dl->truncated ? total_of(f) : f->dl->prefix;
    o = fake_obj("fileDownloadedPrefixSize");
    fake_set_int(o, "size", have > offset ? have - offset : 0);
    fake_answer(r, o);
}

static void
h_cancel_download_file(struct fake_req *r)
{
    bool only_if_pending;
    int32_t id;
    struct fake_file *f;

    if (!fake_arg_i32(r, "file_id", &id) || !fake_arg_bool(r, "only_if_pending", &only_if_pending))
        return;
    f = file_of(r->cl, id);
    /* only_if_pending: not once the first bytes came ("the request has been sent") */
    if (f != NULL && f->dl != NULL && f->dl->active && !(only_if_pending && f->dl->run_bytes > 0))
        run_stop(r->cl, f, 400, NULL, true);
    fake_answer(r, fake_obj("ok"));
}

static void
unlink_rel(const struct fake_files *fs, const char *rel)
{
    char full[PATH_MAX + 256];

    if (rel == NULL)
        return;
    path_of(fs, rel, full, sizeof(full));
    (void)unlink(full);
}

static void
h_delete_file(struct fake_req *r)
{
    struct fake_files *fs = r->cl->files;
    int32_t id;
    struct fake_file *f;

    if (!fake_arg_i32(r, "file_id", &id))
        return;
    f = file_of(r->cl, id);
    if (f != NULL && f->dl != NULL) {
        if (f->dl->active)
            run_stop(r->cl, f, 400, NULL, false);
        unlink_rel(fs, f->dl->partial);
        unlink_rel(fs, f->dl->path);
        dl_free(fs, f->dl);
        save_state(fs);
        send_update(r->cl, f);
    }
    fake_answer(r, fake_obj("ok"));
}

void
fake_files_abort(struct fake_client *cl, int code, const char *message)
{
    struct fake_files *fs = cl->files;

    if (fs == NULL)
        return;
    for (size_t i = 0; i < fs->ndls; i++)
        if (fs->dls[i]->active)
            run_stop(cl, &fs->v[fs->dls[i]->file], code, message, false);
}

void
fake_files_close(struct fake_client *cl)
{
    struct fake_files *fs = cl->files;

    if (fs == NULL)
        return;
    fake_files_abort(cl, 500, "Request aborted");
    while (fs->ndls > 0)
        dl_free(fs, fs->dls[fs->ndls - 1]);
    free(fs->dls);
    free(fs->v);
    free(fs->slots);
    free(fs->str);
    free(fs->dir);
    free(fs->state);
    free(fs);
    cl->files = NULL;
}

/* ---- control lines ---- */

static void
collect_uids(const json_t *v, struct inject *in)
{
    const char *key;
    const json_t *child;
    size_t i;

    if (json_is_object(v)) {
        const char *type = json_string_value(json_object_get(v, "@type"));

        if (type != NULL && strcmp(type, "file") == 0) {
            const char *uid =
                json_string_value(json_object_get(json_object_get(v, "remote"), "unique_id"));

            if (uid != NULL && *uid != '\0') {
                in->uids = fake_xrealloc(in->uids, (in->nuids + 1) * sizeof(*in->uids));
                in->uids[in->nuids++] = fake_xstrdup(uid);
            }
            return;
        }
        json_object_foreach ((json_t *)v, key, child) {
            collect_uids(child, in);
        }
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, child) {
            collect_uids(child, in);
        }
    }
}

/* The files a line names: "unique_id", "unique_ids", or every file of message (chat, id). */
static bool
selected_files(const json_t *cmd, struct inject *in, const char *line)
{
    const json_t *one = json_object_get(cmd, "unique_id"),
                 *many = json_object_get(cmd, "unique_ids");
    const json_t *chat = json_object_get(cmd, "chat"), *v;
    size_t i;

    if (json_is_string(one)) {
        in->uids = fake_xrealloc(in->uids, (in->nuids + 1) * sizeof(*in->uids));
        in->uids[in->nuids++] = fake_xstrdup(json_string_value(one));
    }
    json_array_foreach (many, i, v) {
        if (json_is_string(v)) {
            in->uids = fake_xrealloc(in->uids, (in->nuids + 1) * sizeof(*in->uids));
            in->uids[in->nuids++] = fake_xstrdup(json_string_value(v));
        }
    }
    if (chat != NULL) {
        struct fake_chat *c = fake_world_chat(fake_g.w, json_integer_value(chat));
        json_t *m = c != NULL ? fake_chat_message_json(
                                    fake_g.w, c, json_integer_value(json_object_get(cmd, "id")))
                              : NULL;
        size_t before = in->nuids;

        if (m != NULL)
            collect_uids(json_object_get(m, "content"), in);
        json_decref(m);
        if (in->nuids == before) {
            fake_log(json_pack("{s:s, s:s}", "control_error",
                               m == NULL ? "no such message" : "the message has no files", "line",
                               line));
            return false;
        }
    }
    return true;
}

static void
free_uids(struct inject *in)
{
    for (size_t i = 0; i < in->nuids; i++)
        free(in->uids[i]);
    free(in->uids);
    in->uids = NULL;
    in->nuids = 0;
}

void
fake_files_inject(const char *what, const json_t *cmd, const char *line)
{
    struct inject in = { .count = 1, .bytes = -1, .code = 400 };
    const json_t *v;

    if (strcmp(what, "download_speed") == 0) {
        const json_t *speed = json_object_get(cmd, "bytes_per_s"), *chunk;
        double now = fake_now_mono();

        chunk = json_object_get(cmd, "chunk");
        if ((speed != NULL && (!json_is_integer(speed) || json_integer_value(speed) < 0)) ||
            (chunk != NULL && (!json_is_integer(chunk) || json_integer_value(chunk) < 1 ||
                               json_integer_value(chunk) > 67108864))) {
            fake_log(json_pack("{s:s, s:s}", "control_error",
                               "download_speed: bytes_per_s >= 0 (0: unlimited), chunk 1..67108864",
                               "line", line));
            return;
        }
        if (speed != NULL)
            fake_g.w->dl_speed = json_integer_value(speed);
        if (chunk != NULL)
            fake_g.w->dl_chunk = json_integer_value(chunk);
        for (size_t i = 0; i < nruns; i++)
            runs[i].dl->next_due = now + step_time(next_chunk(runs[i].dl));
        return;
    }
    if (!selected_files(cmd, &in, line)) {
        free_uids(&in);
        return;
    }
    if (strcmp(what, "file_reference_expired") == 0) {
        int64_t stale =
            (v = json_object_get(cmd, "stale_reads")) != NULL ? json_integer_value(v) : 0;

        if (in.nuids == 0) {
            expired_all = ++seq;
            stale_all = stale > 0 ? stale : 0;
        }
        for (size_t i = 0; i < in.nuids; i++) {
            expired = grow(expired, &capexpired, nexpired + 1, sizeof(*expired));
            expired[nexpired].uid = in.uids[i];
            expired[nexpired].stale = stale > 0 ? stale : 0;
            expired[nexpired++].at = ++seq;
        }
        free(in.uids);
        return;
    }
    in.truncate = strcmp(what, "download_truncate") == 0;
    if ((v = json_object_get(cmd, "count")) != NULL)
        in.count = json_integer_value(v);
    if ((v = json_object_get(cmd, in.truncate ? "bytes" : "after_bytes")) != NULL)
        in.bytes = json_integer_value(v);
    if ((v = json_object_get(cmd, "code")) != NULL)
        in.code = (int)json_integer_value(v);
    if ((v = json_object_get(cmd, "client")) != NULL)
        in.client = (int)json_integer_value(v);
    v = json_object_get(cmd, "message");
    in.message = fake_xstrdup(json_is_string(v) ? json_string_value(v) : FAILED_MESSAGE);
    if (in.count < 1 || in.bytes < -1) {
        fake_log(json_pack("{s:s, s:s}", "control_error", "count >= 1, bytes >= 0", "line", line));
        free_uids(&in);
        free(in.message);
        return;
    }
    injects = grow(injects, &capinjects, ninjects + 1, sizeof(*injects));
    injects[ninjects++] = in;
}

const struct fake_method fake_file_methods[] = {
    { "cancelDownloadFile", h_cancel_download_file, FAKE_F_EXEMPT },
    { "deleteFile", h_delete_file, FAKE_F_EXEMPT },
    { "downloadFile", h_download_file, 0 },
    { "getFile", h_get_file, FAKE_F_EXEMPT },
    { "getFileDownloadedPrefixSize", h_get_file_downloaded_prefix_size, FAKE_F_EXEMPT },
    { NULL, NULL, 0 },
};
