/* SPDX-License-Identifier: MIT */
/*
 * store_pg_commit.c - the batch commit protocol of the PostgreSQL store.
 *
 * A batch is one transaction that holds an advisory lock per chat (or per
 * message) it touches, reads the rows of its messages once, decides every
 * event in C with exactly the rules of the SQLite store
 * (store_sqlite_commit.c), then COPYs new messages straight into messages
 * and the other rows into temporary staging tables, which a few set-based
 * statements apply. On any error it is rolled back. The rules are spelled
 * out in docs/internals/store.md.
 */
#define TGH_LOG_SUB "store"

#include "store/store_pg_int.h"

#include <time.h>

#include <jansson.h>

#include "core/codec.h"
#include "core/log.h"

/* ---- COPY ---- */

static void
cb_reserve(struct cbuf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    while (b->len + more > b->cap)
        b->cap = b->cap > 0 ? b->cap * 2 : 64 * 1024;
    b->p = tgh_realloc(b->p, b->cap);
}

static void
cb_null(struct cbuf *b)
{
    cb_reserve(b, 3);
    memcpy(b->p + b->len, "\\N\t", 3);
    b->len += 3;
}

static void
cb_int(struct cbuf *b, int64_t v)
{
    cb_reserve(b, 24);
    b->len += (size_t)snprintf(b->p + b->len, 24, "%" PRId64 "\t", v);
}

/* MSG_UNSET is NULL. */
static void
cb_i64(struct cbuf *b, int64_t v)
{
    if (v == MSG_UNSET)
        cb_null(b);
    else
        cb_int(b, v);
}

/* A text field of COPY's text format: backslash, tab, newline and CR escaped. */
static void
cb_textn(struct cbuf *b, const char *s, size_t n)
{
    char *o;

    if (s == NULL) {
        cb_null(b);
        return;
    }
    cb_reserve(b, 2 * n + 1);
    o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        switch (c) {
        case '\\':
            *o++ = '\\';
            *o++ = '\\';
            break;
        case '\t':
            *o++ = '\\';
            *o++ = 't';
            break;
        case '\n':
            *o++ = '\\';
            *o++ = 'n';
            break;
        case '\r':
            *o++ = '\\';
            *o++ = 'r';
            break;
        default:
            *o++ = c;
            break;
        }
    }
    *o++ = '\t';
    b->len = (size_t)(o - b->p);
}

static void
cb_text(struct cbuf *b, const char *s)
{
    cb_textn(b, s, s != NULL ? strlen(s) : 0);
}

static void
cb_raw(struct cbuf *b, const char *s, size_t n)
{
    cb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Every field ends in a tab; the row's last one ends it instead. */
static void
cb_row_end(struct cbuf *b)
{
    b->p[b->len - 1] = '\n';
}

/* Start COPY ... FROM STDIN. */
TGH_MUSTCHECK static tgh_err
copy_begin(struct pg *pg, const char *sql)
{
    PGresult *r = PQexec(pg->conn, sql);
    tgh_err rc = TGH_OK;

    if (PQresultStatus(r) != PGRES_COPY_IN)
        rc = pg_fail(pg, r, "start copy");
    PQclear(r);
    pg->copy.len = 0;
    return rc;
}

/* Send what the buffer holds once it is big enough (always, when force). */
TGH_MUSTCHECK static tgh_err
copy_flush(struct pg *pg, bool force)
{
    if (pg->copy.len == 0 || (!force && pg->copy.len < COPY_FLUSH))
        return TGH_OK;
    if (PQputCopyData(pg->conn, pg->copy.p, (int)pg->copy.len) != 1)
        return pg_fail(pg, NULL, "copy data");
    pg->copy.len = 0;
    return TGH_OK;
}

/* Finish the COPY; the server reports bad data only now. */
TGH_MUSTCHECK static tgh_err
copy_end(struct pg *pg, tgh_err rc)
{
    PGresult *r;

    if (rc == TGH_OK)
        rc = copy_flush(pg, true);
    if (PQputCopyEnd(pg->conn, rc == TGH_OK ? NULL : "batch failed") != 1 && rc == TGH_OK)
        rc = pg_fail(pg, NULL, "end copy");
    while ((r = PQgetResult(pg->conn)) != NULL) {
        if (rc == TGH_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_fail(pg, r, "copy");
        PQclear(r);
    }
    pg->copy.len = 0;
    return rc;
}

/* ---- one batch ---- */

/* A version (content and edit date) a message had. */
struct known_ver {
    char hash[MSG_HASH_HEX_LEN + 1];
    int64_t edit_date;
};

/*
 * One message of a batch: what is stored (in_db) and what the events so far
 * made of it. Strings are borrowed (from the fetch result or the batch's
 * events) or owned (the _own twin, freed with the batch).
 */
struct kstate {
    int64_t chat_id, message_id;
    bool in_db;      /* a row existed when the batch began */
    int64_t db_date; /* its partition key then */
    bool exists;     /* a row exists now */
    char hash[MSG_HASH_HEX_LEN + 1];
    int64_t date, edit_date, version_count, deleted_at, first_seen_at;
    const char *text;
    char *text_own;
    const char *event;
    char *event_own;
    size_t event_len;
    const struct msg_event *ins_ev; /* the row is this event as inserted, unchanged since */
    char *cols;                     /* else: its content columns, rendered for COPY */
    size_t cols_len;
    bool dirty;      /* content to write */
    bool meta_dirty; /* version_count or deleted_at to write */
    bool has_tomb, tomb_new;
    int64_t tomb_at;
    const char *tomb_source;
    struct known_ver *vers;
    size_t n_vers, cap_vers;
};

/* A row for message_versions. */
struct new_ver {
    int64_t chat_id, message_id, version, edit_date;
    char hash[MSG_HASH_HEX_LEN + 1];
    char *text;
    char *event;
    size_t event_len;
};

/* The chat row an event names, as the batch's events leave it. */
struct chat_final {
    int64_t chat_id;
    const char *type, *title, *username; /* NULL: not known from the batch */
};

struct batch {
    int64_t now;
    const struct msg_event *ev;
    size_t n;
    const char **json; /* the canonical JSON of each upsert event */
    size_t *json_len;
    char **json_own;
    struct kstate *ks;
    size_t n_ks;
    size_t *slot; /* hash of (chat_id, message_id) -> index into ks + 1 */
    size_t n_slot;
    struct new_ver *vers;
    size_t n_vers, cap_vers;
    struct chat_final *chats;
    size_t n_chats;
    PGresult *fetched;
    size_t n_ins, n_upd, n_meta, n_tomb;
    struct store_stats add;
};

static void
batch_fini(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        tgh_free(b->json_own[i]);
    for (size_t i = 0; i < b->n_ks; i++) {
        tgh_free(b->ks[i].text_own);
        tgh_free(b->ks[i].event_own);
        tgh_free(b->ks[i].cols);
        tgh_free(b->ks[i].vers);
    }
    for (size_t i = 0; i < b->n_vers; i++) {
        tgh_free(b->vers[i].text);
        tgh_free(b->vers[i].event);
    }
    tgh_free(b->json);
    tgh_free(b->json_len);
    tgh_free(b->json_own);
    tgh_free(b->ks);
    tgh_free(b->slot);
    tgh_free(b->vers);
    tgh_free(b->chats);
    PQclear(b->fetched);
}

static size_t
key_hash(int64_t chat_id, int64_t message_id)
{
    uint64_t h = (uint64_t)chat_id * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)message_id;

    h ^= h >> 31;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    return (size_t)(h ^ (h >> 29));
}

/* The state of (chat_id, message_id); NULL when not in the batch and !add. */
static struct kstate *
ks_get(struct batch *b, int64_t chat_id, int64_t message_id, bool add)
{
    size_t i = key_hash(chat_id, message_id) & (b->n_slot - 1);

    for (; b->slot[i] != 0; i = (i + 1) & (b->n_slot - 1)) {
        struct kstate *k = &b->ks[b->slot[i] - 1];

        if (k->chat_id == chat_id && k->message_id == message_id)
            return k;
    }
    if (!add)
        return NULL;
    struct kstate *k = &b->ks[b->n_ks++];

    b->slot[i] = b->n_ks;
    k->chat_id = chat_id;
    k->message_id = message_id;
    k->deleted_at = MSG_UNSET;
    k->edit_date = MSG_UNSET;
    return k;
}

static void
ks_text_set(struct kstate *k, const char *s)
{
    tgh_free(k->text_own);
    k->text_own = s != NULL ? tgh_strdup(s) : NULL;
    k->text = k->text_own;
}

static void
ks_ver_add(struct kstate *k, const char *hash, int64_t edit_date)
{
    if (k->n_vers == k->cap_vers) {
        k->cap_vers = k->cap_vers > 0 ? k->cap_vers * 2 : 4;
        k->vers = tgh_realloc(k->vers, k->cap_vers * sizeof(*k->vers));
    }
    (void)snprintf(k->vers[k->n_vers].hash, sizeof(k->vers[0].hash), "%s", hash);
    k->vers[k->n_vers].edit_date = edit_date;
    k->n_vers++;
}

/* Is this exact version (content and edit date) among the previous ones? */
static bool
ks_ver_known(const struct kstate *k, const struct msg_event *ev)
{
    for (size_t i = 0; i < k->n_vers; i++)
        if (strcmp(k->vers[i].hash, ev->content_hash) == 0 && k->vers[i].edit_date == ev->edit_date)
            return true;
    return false;
}

/* Record a row for message_versions: version k->version_count + 1. */
static void
version_add(struct batch *b, struct kstate *k, const char *hash, int64_t edit_date,
            const char *text, const char *event, size_t event_len)
{
    struct new_ver *v;

    if (b->n_vers == b->cap_vers) {
        b->cap_vers = b->cap_vers > 0 ? b->cap_vers * 2 : 16;
        b->vers = tgh_realloc(b->vers, b->cap_vers * sizeof(*b->vers));
    }
    v = &b->vers[b->n_vers++];
    v->chat_id = k->chat_id;
    v->message_id = k->message_id;
    v->version = k->version_count + 1;
    (void)snprintf(v->hash, sizeof(v->hash), "%s", hash);
    v->edit_date = edit_date;
    v->text = text != NULL ? tgh_strdup(text) : NULL;
    v->event = tgh_strndup(event, event_len);
    v->event_len = event_len;
    ks_ver_add(k, hash, edit_date);
    k->version_count++;
    k->meta_dirty = true;
}

/*
 * The content columns of event m (encoded as json) for COPY, in MSG_CONTENT
 * order; the same values the SQLite store binds (bind_event_columns()).
 */
TGH_MUSTCHECK static tgh_err
render_content(struct pg *pg, struct cbuf *out, const struct msg_event *m, const char *hash,
               const char *json, size_t json_len)
{
    const char *reac = NULL;
    size_t reac_len = 0;
    char key[48];

    if (msg_event_key(m, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    if (m->has_reactions)
        reac = store_reactions_json(m, &pg->reac_buf, &pg->reac_cap, &reac_len);
    cb_i64(out, m->date);
    cb_i64(out, m->edit_date);
    cb_i64(out, m->sender_id);
    cb_text(out, msg_peer_type_name(m->sender_type));
    cb_text(out, m->sender_name);
    cb_text(out, m->text);
    cb_i64(out, m->thread_id);
    cb_i64(out, m->reply_to_message_id);
    cb_text(out, m->media != NULL ? m->media->kind : NULL);
    cb_i64(out, m->views);
    cb_i64(out, m->forwards);
    cb_i64(out, m->replies);
    cb_textn(out, reac, reac_len);
    cb_text(out, msg_source_name(m->source));
    cb_textn(out, hash, MSG_HASH_HEX_LEN);
    cb_text(out, key);
    cb_textn(out, json, json_len);
    return TGH_OK;
}

/* The row takes event m's content and state (json is m encoded, taken over). */
TGH_MUSTCHECK static tgh_err
ks_rewrite(struct pg *pg, struct kstate *k, const struct msg_event *m, char *json, size_t json_len)
{
    struct cbuf cols = { 0 };
    tgh_err rc;

    if (m->date == MSG_UNSET || m->date < 0 || m->date > DATE_MAX) {
        tgh_free(json);
        return tgh_errf(TGH_EINVAL, "message date out of range");
    }
    rc = render_content(pg, &cols, m, m->content_hash, json, json_len);
    if (rc != TGH_OK) {
        tgh_free(cols.p);
        tgh_free(json);
        return rc;
    }
    tgh_free(k->cols);
    k->cols = cols.p;
    k->cols_len = cols.len;
    k->ins_ev = NULL;
    (void)snprintf(k->hash, sizeof(k->hash), "%s", m->content_hash);
    k->date = m->date;
    k->edit_date = m->edit_date;
    ks_text_set(k, m->text);
    tgh_free(k->event_own);
    k->event_own = json;
    k->event = json;
    k->event_len = json_len;
    k->dirty = true;
    return TGH_OK;
}

/*
 * The event the row should hold: what the stored event and the new one know,
 * merged; a stored event that no longer decodes is replaced by the new one
 * (the same fallback as the SQLite store's merged_event()).
 */
TGH_MUSTCHECK static tgh_err
merged_event(struct pg *pg, const struct kstate *k, const struct msg_event *ev, struct msg_event *m,
             char **json, size_t *json_len)
{
    tgh_arena_reset(&pg->scratch);
    if (codec_event_merge(k->event, k->event_len, ev, &pg->scratch, m) != TGH_OK) {
        log_warn("chat=%" PRId64 " msg=%" PRId64 " stored event unreadable, replaced: %s",
                 ev->chat_id, ev->message_id, tgh_errmsg());
        msg_event_share(m, ev);
    }
    return codec_event_encode(m, json, json_len);
}

/* Same content, other state: merge, and write unless that is what is stored. */
TGH_MUSTCHECK static tgh_err
refresh_state(struct pg *pg, struct kstate *k, const struct msg_event *ev, bool *refreshed)
{
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    *refreshed = false;
    msg_event_init(&m);
    rc = merged_event(pg, k, ev, &m, &json, &json_len);
    if (rc == TGH_OK && !codec_event_same_state(k->event, k->event_len, json, json_len)) {
        rc = ks_rewrite(pg, k, &m, json, json_len);
        json = NULL;
        *refreshed = rc == TGH_OK;
    }
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/*
 * An older version arrived after a newer one: it becomes history, and the
 * row only learns state it did not know from it.
 */
TGH_MUSTCHECK static tgh_err
save_old_version(struct pg *pg, struct batch *b, struct kstate *k, const struct msg_event *ev,
                 const char *json, size_t json_len)
{
    struct msg_event cur, m;
    char *mjson = NULL;
    size_t mlen = 0;
    tgh_err rc;

    version_add(b, k, ev->content_hash, ev->edit_date, ev->text, json, json_len);
    /* The row is the newer side of the merge: its values win, its gaps are filled. */
    tgh_arena_reset(&pg->scratch);
    msg_event_init(&m);
    if (codec_event_decode(k->event, k->event_len, &pg->scratch, &cur) != TGH_OK)
        return TGH_OK; /* an unreadable row is replaced by the next current event */
    rc = codec_event_merge(json, json_len, &cur, &pg->scratch, &m);
    msg_event_fini(&cur);
    if (rc == TGH_OK)
        rc = codec_event_encode(&m, &mjson, &mlen);
    if (rc == TGH_OK && !codec_event_same_state(k->event, k->event_len, mjson, mlen)) {
        rc = ks_rewrite(pg, k, &m, mjson, mlen);
        mjson = NULL;
    }
    tgh_free(mjson);
    msg_event_fini(&m);
    return rc;
}

/* The content changed: the row becomes a version and takes the new content. */
TGH_MUSTCHECK static tgh_err
new_version(struct pg *pg, struct batch *b, struct kstate *k, const struct msg_event *ev)
{
    struct msg_event m;
    char *json = NULL;
    size_t json_len = 0;
    tgh_err rc;

    version_add(b, k, k->hash, k->edit_date, k->text, k->event, k->event_len);
    msg_event_init(&m);
    rc = merged_event(pg, k, ev, &m, &json, &json_len);
    if (rc == TGH_OK) {
        rc = ks_rewrite(pg, k, &m, json, json_len);
        json = NULL;
    }
    tgh_free(json);
    msg_event_fini(&m);
    return rc;
}

/* The message exists: unchanged, refreshed or versioned, as in upsert_existing(). */
TGH_MUSTCHECK static tgh_err
upsert_existing(struct pg *pg, struct batch *b, struct kstate *k, const struct msg_event *ev,
                const char *json, size_t json_len)
{
    bool same_hash = strcmp(k->hash, ev->content_hash) == 0, refreshed;
    bool is_older = k->edit_date != MSG_UNSET &&
                    (ev->edit_date == MSG_UNSET ? !same_hash : ev->edit_date < k->edit_date);
    tgh_err rc;

    if (same_hash && !is_older) {
        if (codec_event_same_state(k->event, k->event_len, json, json_len)) {
            b->add.unchanged++;
            return TGH_OK;
        }
        rc = refresh_state(pg, k, ev, &refreshed);
        if (rc == TGH_OK && refreshed)
            b->add.refreshed++;
        else if (rc == TGH_OK)
            b->add.unchanged++;
        return rc;
    }
    /* A redelivered previous version changes nothing. */
    if (ks_ver_known(k, ev)) {
        b->add.unchanged++;
        return TGH_OK;
    }
    rc = is_older ? save_old_version(pg, b, k, ev, json, json_len) : new_version(pg, b, k, ev);
    if (rc == TGH_OK)
        b->add.versioned++;
    return rc;
}

/* A new row from event ev; a deletion seen before it tombstones it at once. */
static void
insert_new(struct batch *b, struct kstate *k, const struct msg_event *ev, const char *json,
           size_t json_len)
{
    k->exists = true;
    k->ins_ev = ev;
    (void)snprintf(k->hash, sizeof(k->hash), "%s", ev->content_hash);
    k->date = ev->date;
    k->edit_date = ev->edit_date;
    k->text = ev->text;
    k->event = json;
    k->event_len = json_len;
    k->version_count = 0;
    k->deleted_at = k->has_tomb ? k->tomb_at : MSG_UNSET;
    k->first_seen_at = ev->observed_at != MSG_UNSET ? ev->observed_at : b->now;
    k->dirty = true;
    b->add.inserted++;
}

/* A delete only ever sets deleted_at; an unknown message gets a tombstone row. */
static void
apply_delete(struct batch *b, struct kstate *k, const struct msg_event *ev)
{
    int64_t at = ev->observed_at != MSG_UNSET ? ev->observed_at : b->now;

    if (k->exists) {
        if (k->deleted_at == MSG_UNSET) {
            k->deleted_at = at;
            k->meta_dirty = true;
            b->add.deleted++;
        } else {
            b->add.unchanged++;
        }
    } else if (!k->has_tomb) {
        k->has_tomb = true;
        k->tomb_new = true;
        k->tomb_at = at;
        k->tomb_source = msg_source_name(ev->source);
        b->add.delete_unknown++;
    } else {
        b->add.unchanged++;
    }
}

/* Refuse what the SQLite store would refuse, before anything is written. */
TGH_MUSTCHECK static tgh_err
check_event(const struct msg_event *ev)
{
    char key[48];

    if (ev->op == MSG_OP_DELETE)
        return TGH_OK;
    if (strlen(ev->content_hash) != MSG_HASH_HEX_LEN)
        return tgh_errf(TGH_EINVAL, "event was not finalized (no content_hash)");
    if (ev->date == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "message without a date (messages.date is NOT NULL)");
    if (ev->date < 0 || ev->date > DATE_MAX)
        return tgh_errf(TGH_EINVAL, "message date %" PRId64 " out of range", ev->date);
    if (msg_event_key(ev, key, sizeof(key)) < 0)
        return tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    return TGH_OK;
}

/* "event i of n (chat, message): detail", as the SQLite store words it. */
TGH_MUSTCHECK static tgh_err
event_fail(tgh_err rc, const struct batch *b, size_t i)
{
    char detail[512];

    /* tgh_errf() writes the buffer it would read: copy it first. */
    (void)snprintf(detail, sizeof(detail), "%s", tgh_errmsg());
    return tgh_errf(rc, "event %zu of %zu (chat %" PRId64 ", message %" PRId64 "): %s", i, b->n,
                    b->ev[i].chat_id, b->ev[i].message_id, detail);
}

/* Check and encode every event, index the keys and fold the chats. */
TGH_MUSTCHECK static tgh_err
batch_init(struct batch *b, const struct msg_event *ev, size_t n)
{
    tgh_err rc;

    b->now = (int64_t)time(NULL);
    b->ev = ev;
    b->n = n;
    b->json = tgh_calloc(n, sizeof(*b->json));
    b->json_len = tgh_calloc(n, sizeof(*b->json_len));
    b->json_own = tgh_calloc(n, sizeof(*b->json_own));
    b->ks = tgh_calloc(n, sizeof(*b->ks));
    for (b->n_slot = 16; b->n_slot < 2 * n; b->n_slot *= 2)
        ;
    b->slot = tgh_calloc(b->n_slot, sizeof(*b->slot));
    b->chats = tgh_calloc(n, sizeof(*b->chats));
    for (size_t i = 0; i < n; i++) {
        const struct msg_event *e = &ev[i];
        struct chat_final *c = NULL;

        rc = check_event(e);
        if (rc != TGH_OK)
            return event_fail(rc, b, i);
        (void)ks_get(b, e->chat_id, e->message_id, true);
        if (e->op == MSG_OP_DELETE)
            continue;
        if (e->encoded != NULL) {
            b->json[i] = e->encoded;
            b->json_len[i] = e->encoded_len;
        } else {
            rc = codec_event_encode(e, &b->json_own[i], &b->json_len[i]);
            if (rc != TGH_OK)
                return event_fail(rc, b, i);
            b->json[i] = b->json_own[i];
        }
        /* Later events win where they know something, as successive upserts would. */
        for (size_t j = b->n_chats; j > 0 && c == NULL; j--)
            if (b->chats[j - 1].chat_id == e->chat_id)
                c = &b->chats[j - 1];
        if (c == NULL) {
            c = &b->chats[b->n_chats++];
            c->chat_id = e->chat_id;
        }
        if (e->chat_type != MSG_CHAT_UNKNOWN)
            c->type = msg_chat_type_name(e->chat_type);
        if (e->chat_title != NULL)
            c->title = e->chat_title;
        if (e->chat_username != NULL)
            c->username = e->chat_username;
    }
    return TGH_OK;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int
cmp_key(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;

    if (x[0] != y[0])
        return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/*
 * The batch's advisory locks. A writer holds a shared lock on each chat it
 * touches and an exclusive lock on each message, so two workers committing
 * different pages of one chat run side by side, while two batches holding
 * one message are serialized (its rows are read, decided on and written in
 * one go). A batch of more than LOCK_MSGS_MAX messages locks its chats
 * exclusively instead, which also excludes every message writer of them.
 * Keys are taken sorted, chats before messages, so writers never deadlock.
 */
/*
 * One message's lock key: the two 32-bit halves of a 64-bit mix of (chat,
 * message), as the two int4 keys of pg_advisory_xact_lock(int, int).
 */
static void
msg_lock_key(int64_t chat_id, int64_t message_id, int64_t out[2])
{
    uint64_t h = (uint64_t)chat_id * 0x9e3779b97f4a7c15ULL ^ (uint64_t)message_id;

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    out[0] = (int32_t)(uint32_t)(h >> 32);
    out[1] = (int32_t)(uint32_t)h;
}

TGH_MUSTCHECK static tgh_err
lock_chats(struct pg *pg, const struct batch *b)
{
    int64_t *ids = tgh_malloc(b->n_ks * sizeof(*ids));
    int64_t *mk = NULL;
    bool whole = b->n_ks > LOCK_MSGS_MAX;
    struct params p = { .n = 0 };
    size_t n = 0;
    tgh_err rc;

    for (size_t i = 0; i < b->n_ks; i++)
        ids[n++] = b->ks[i].chat_id;
    qsort(ids, n, sizeof(*ids), cmp_i64);
    for (size_t i = 1, w = 1; i <= n; i++) {
        if (i == n) {
            n = w;
            break;
        }
        if (ids[i] != ids[w - 1])
            ids[w++] = ids[i];
    }
    p_array(&p, ids, n);
    p_bool(&p, whole);
    rc = pg_exec_stmt(pg, P_LOCK_CHATS, &p, NULL, "lock chats");
    params_fini(&p);
    tgh_free(ids);
    if (rc != TGH_OK || whole)
        return rc;
    mk = tgh_malloc(3 * b->n_ks * sizeof(*mk));
    for (size_t i = 0; i < b->n_ks; i++)
        msg_lock_key(b->ks[i].chat_id, b->ks[i].message_id, mk + 2 * i);
    qsort(mk, b->n_ks, 2 * sizeof(*mk), cmp_key);
    /* The second halves after the pairs, so that each half is one array. */
    for (size_t i = 0; i < b->n_ks; i++)
        mk[2 * b->n_ks + i] = mk[2 * i + 1];
    for (size_t i = 0; i < b->n_ks; i++)
        mk[i] = mk[2 * i];
    p = (struct params){ .n = 0 };
    p_array(&p, mk, b->n_ks);
    p_array(&p, mk + 2 * b->n_ks, b->n_ks);
    rc = pg_exec_stmt(pg, P_LOCK_MSGS, &p, NULL, "lock messages");
    params_fini(&p);
    tgh_free(mk);
    return rc;
}

/* Rows of P_FETCH into the batch's states. */
static void
fetched_apply(struct batch *b)
{
    const PGresult *r = b->fetched;

    for (int i = 0; i < PQntuples(r); i++) {
        char kind = PQgetvalue(r, i, 0)[0];
        struct kstate *k = ks_get(b, v_i64(r, i, 1), v_i64(r, i, 2), false);

        if (k == NULL) /* inside a lookup range, not in the batch */
            continue;
        if (kind == 'm') {
            k->in_db = k->exists = true;
            k->db_date = k->date = v_i64(r, i, 3);
            (void)snprintf(k->hash, sizeof(k->hash), "%s", PQgetvalue(r, i, 4));
            k->edit_date = v_opt(r, i, 5);
            k->text = v_str(r, i, 6);
            k->event = PQgetvalue(r, i, 7);
            k->event_len = (size_t)PQgetlength(r, i, 7);
            k->version_count = v_i64(r, i, 8);
            k->deleted_at = v_opt(r, i, 9);
        } else if (kind == 'v') {
            ks_ver_add(k, PQgetvalue(r, i, 4), v_opt(r, i, 5));
        } else {
            k->has_tomb = true;
            k->tomb_at = v_i64(r, i, 9);
        }
    }
}

/*
 * Read the stored rows, versions and tombstones of the batch's messages.
 * Rows are looked up by (chat_id, message_id) ranges: message ids of a chat
 * that are close share one range, so a batch costs a few index probes per
 * partition instead of one per message and partition.
 */
TGH_MUSTCHECK static tgh_err
fetch_existing(struct pg *pg, struct batch *b)
{
    int64_t *keys = tgh_malloc(2 * b->n_ks * sizeof(*keys));
    int64_t *rc_chat = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *rc_lo = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *rc_hi = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *k_chat = tgh_malloc(b->n_ks * sizeof(int64_t));
    int64_t *k_msg = tgh_malloc(b->n_ks * sizeof(int64_t));
    struct params p = { .n = 0 };
    size_t n_r = 0;
    tgh_err rc;

    for (size_t i = 0; i < b->n_ks; i++) {
        keys[2 * i] = b->ks[i].chat_id;
        keys[2 * i + 1] = b->ks[i].message_id;
    }
    qsort(keys, b->n_ks, 2 * sizeof(*keys), cmp_key);
    for (size_t i = 0; i < b->n_ks; i++) {
        int64_t c = keys[2 * i], m = keys[2 * i + 1];

        k_chat[i] = c;
        k_msg[i] = m;
        if (n_r > 0 && rc_chat[n_r - 1] == c && m - rc_hi[n_r - 1] <= MAX_RANGE_GAP) {
            rc_hi[n_r - 1] = m;
            continue;
        }
        rc_chat[n_r] = c;
        rc_lo[n_r] = rc_hi[n_r] = m;
        n_r++;
    }
    p_array(&p, rc_chat, n_r);
    p_array(&p, rc_lo, n_r);
    p_array(&p, rc_hi, n_r);
    p_array(&p, k_chat, b->n_ks);
    p_array(&p, k_msg, b->n_ks);
    /*
     * The lookup reads a few rows of big tables: index probes, never a scan.
     * Otherwise a plan made while a partition was new and nearly empty (a
     * sequential scan is cheapest then) is cached and kept as the partition
     * grows, and every batch reads it whole.
     */
    rc = pg_exec_plain(pg, "SET LOCAL enable_seqscan = off", "plan the lookup");
    if (rc == TGH_OK)
        rc = pg_exec_stmt(pg, P_FETCH, &p, &b->fetched, "read messages");
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "SET LOCAL enable_seqscan = on", "plan the lookup");
    params_fini(&p);
    tgh_free(keys);
    tgh_free(rc_chat);
    tgh_free(rc_lo);
    tgh_free(rc_hi);
    tgh_free(k_chat);
    tgh_free(k_msg);
    if (rc == TGH_OK)
        fetched_apply(b);
    return rc;
}

/* Every event in order, against the states: the SQLite store's rules. */
TGH_MUSTCHECK static tgh_err
decide(struct pg *pg, struct batch *b, enum store_change *changes)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct msg_event *e = &b->ev[i];
        struct kstate *k = ks_get(b, e->chat_id, e->message_id, false);
        struct store_stats before = b->add;
        tgh_err rc = TGH_OK;

        if (e->op == MSG_OP_DELETE)
            apply_delete(b, k, e);
        else if (!k->exists)
            insert_new(b, k, e, b->json[i], b->json_len[i]);
        else
            rc = upsert_existing(pg, b, k, e, b->json[i], b->json_len[i]);
        if (changes != NULL)
            changes[i] = store_change_between(&before, &b->add);
        if (rc != TGH_OK)
            return event_fail(rc, b, i);
    }
    return TGH_OK;
}

/*
 * The first fields of a staged message row: op, old_date, keys, content and
 * first_seen_at; the caller adds updated_at, deleted_at, version_count and
 * tomb_source. A new message COPYed straight into messages (direct) starts
 * at the keys.
 */
TGH_MUSTCHECK static tgh_err
stage_row(struct pg *pg, char op, const struct kstate *k, bool direct)
{
    struct cbuf *c = &pg->copy;
    tgh_err rc = TGH_OK;

    if (!direct) {
        cb_textn(c, &op, 1);
        cb_i64(c, k->in_db ? k->db_date : MSG_UNSET);
    }
    cb_int(c, k->chat_id);
    cb_int(c, k->message_id);
    if (op == 'm' || op == 't') {
        for (int i = 0; i < N_CONTENT; i++)
            cb_null(c);
    } else if (k->cols != NULL) {
        cb_raw(c, k->cols, k->cols_len);
    } else {
        rc = render_content(pg, c, k->ins_ev, k->hash, k->event, k->event_len);
    }
    cb_i64(c, op == 't' ? MSG_UNSET : k->first_seen_at);
    return rc;
}

/* What the batch does to a message row: 'i' new, 'u' rewrite, 'm' meta only, 0 nothing. */
static char
row_op(const struct kstate *k)
{
    if (k->exists && !k->in_db)
        return 'i';
    if (k->in_db && k->dirty)
        return 'u';
    if (k->in_db && k->meta_dirty)
        return 'm';
    return 0;
}

/*
 * The batch's message rows: new messages COPYed straight into messages (the
 * lookup under the batch's locks proved them absent), the others, and
 * tombstones of unknown messages, staged for the set-based statements.
 */
TGH_MUSTCHECK static tgh_err
stage_messages(struct pg *pg, struct batch *b)
{
    struct cbuf *c = &pg->copy;
    size_t staged = 0;
    tgh_err rc = TGH_OK;

    for (size_t i = 0; i < b->n_ks; i++) {
        char op = row_op(&b->ks[i]);

        b->n_ins += op == 'i';
        staged += (op == 'u' || op == 'm') + b->ks[i].tomb_new;
    }
    if (b->n_ins > 0) {
        rc = copy_begin(pg, COPY_NEW);
        for (size_t i = 0; rc == TGH_OK && i < b->n_ks; i++) {
            struct kstate *k = &b->ks[i];

            if (row_op(k) != 'i')
                continue;
            rc = stage_row(pg, 'i', k, true);
            if (rc != TGH_OK)
                break;
            cb_int(c, b->now);
            cb_i64(c, k->deleted_at);
            cb_int(c, k->version_count);
            cb_row_end(c);
            rc = copy_flush(pg, false);
        }
        rc = copy_end(pg, rc);
    }
    if (rc != TGH_OK || staged == 0)
        return rc;
    rc = copy_begin(pg, COPY_MSG);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; rc == TGH_OK && i < b->n_ks; i++) {
        struct kstate *k = &b->ks[i];
        char op = row_op(k);

        if (op == 'u' || op == 'm') {
            rc = stage_row(pg, op, k, false);
            if (rc != TGH_OK)
                break;
            cb_int(c, b->now);
            cb_i64(c, k->deleted_at);
            cb_int(c, k->version_count);
            cb_null(c);
            cb_row_end(c);
            b->n_upd += op == 'u';
            b->n_meta += op == 'm';
        }
        if (k->tomb_new) {
            rc = stage_row(pg, 't', k, false);
            if (rc != TGH_OK)
                break;
            cb_null(c);
            cb_int(c, k->tomb_at);
            cb_null(c);
            cb_text(c, k->tomb_source);
            cb_row_end(c);
            b->n_tomb++;
        }
        rc = copy_flush(pg, false);
    }
    return copy_end(pg, rc);
}

TGH_MUSTCHECK static tgh_err
stage_versions(struct pg *pg, struct batch *b)
{
    struct cbuf *c = &pg->copy;
    tgh_err rc;

    rc = copy_begin(pg, COPY_VER);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; rc == TGH_OK && i < b->n_vers; i++) {
        const struct new_ver *v = &b->vers[i];

        cb_int(c, v->chat_id);
        cb_int(c, v->message_id);
        cb_int(c, v->version);
        cb_textn(c, v->hash, MSG_HASH_HEX_LEN);
        cb_i64(c, v->edit_date);
        cb_text(c, v->text);
        cb_textn(c, v->event, v->event_len);
        cb_int(c, b->now);
        cb_row_end(c);
        rc = copy_flush(pg, false);
    }
    return copy_end(pg, rc);
}

TGH_MUSTCHECK static tgh_err
stage_chats(struct pg *pg, struct batch *b)
{
    struct cbuf *c = &pg->copy;
    tgh_err rc;

    rc = copy_begin(pg, COPY_CHAT);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; i < b->n_chats; i++) {
        cb_int(c, b->chats[i].chat_id);
        cb_text(c, b->chats[i].type);
        cb_text(c, b->chats[i].title);
        cb_text(c, b->chats[i].username);
        cb_row_end(c);
    }
    return copy_end(pg, TGH_OK);
}

/* Run a set-based statement that must change exactly `want` rows (-1: any). */
TGH_MUSTCHECK static tgh_err
apply(struct pg *pg, enum stmt_id id, const struct params *p, int64_t want, const char *what)
{
    PGresult *r = NULL;
    tgh_err rc;

    rc = pg_exec_stmt(pg, id, p, &r, what);
    if (rc == TGH_OK && want >= 0 && changed(r) != want)
        rc = tgh_errf(TGH_EIO, "postgresql: %s: %" PRId64 " rows changed, %" PRId64 " expected",
                      what, changed(r), want);
    PQclear(r);
    return rc;
}

/* A deletion found later (rare: one statement each): the window it happened in. */
TGH_MUSTCHECK static tgh_err
deletion_window(struct pg *pg, const struct msg_event *ev, int64_t now)
{
    struct params p = { .n = 0 };

    p_int(&p, ev->chat_id);
    p_int(&p, ev->message_id);
    p_int(&p, ev->deleted_after);
    p_int(&p, ev->observed_at != MSG_UNSET ? ev->observed_at : now);
    return pg_px(pg,
                 "INSERT INTO deletion_windows (chat_id, message_id, deleted_after, found_at)"
                 " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                 &p, NULL, "record a deletion window");
}

/* The staged rows into the tables: chats, tombstones, messages, versions. */
TGH_MUSTCHECK static tgh_err
apply_staged(struct pg *pg, struct batch *b)
{
    struct params now = { .n = 0 };
    tgh_err rc = TGH_OK;

    p_int(&now, b->now);
    if (b->n_chats > 0) {
        rc = stage_chats(pg, b);
        if (rc == TGH_OK)
            rc = apply(pg, P_CHAT_INSERT, &now, -1, "insert chats");
        if (rc == TGH_OK)
            rc = apply(pg, P_CHAT_UPDATE, &now, -1, "update chats");
    }
    if (rc == TGH_OK)
        rc = stage_messages(pg, b);
    if (rc == TGH_OK && b->n_tomb > 0)
        rc = apply(pg, P_TOMB_INSERT, NULL, (int64_t)b->n_tomb, "record tombstones");
    if (rc == TGH_OK && b->n_upd > 0)
        rc = apply(pg, P_MSG_UPDATE, NULL, (int64_t)b->n_upd, "update messages");
    if (rc == TGH_OK && b->n_meta > 0)
        rc = apply(pg, P_MSG_META, NULL, (int64_t)b->n_meta, "tombstone messages");
    if (rc == TGH_OK && b->n_vers > 0) {
        rc = stage_versions(pg, b);
        if (rc == TGH_OK)
            rc = apply(pg, P_VER_INSERT, NULL, (int64_t)b->n_vers, "save versions");
    }
    for (size_t i = 0; rc == TGH_OK && i < b->n; i++)
        if (b->ev[i].op == MSG_OP_DELETE && b->ev[i].deleted_after != MSG_UNSET)
            rc = deletion_window(pg, &b->ev[i], b->now);
    return rc;
}

/* The dates the batch's rows will have: those of its upserts. */
TGH_MUSTCHECK static tgh_err
batch_partitions(struct pg *pg, const struct batch *b)
{
    int64_t *dates = tgh_malloc((b->n > 0 ? b->n : 1) * sizeof(*dates));
    size_t n = 0;
    tgh_err rc;

    for (size_t i = 0; i < b->n; i++)
        if (b->ev[i].op != MSG_OP_DELETE)
            dates[n++] = b->ev[i].date;
    rc = pg_partitions_ensure(pg, dates, n);
    tgh_free(dates);
    return rc;
}

/* A refresh may move a row to another month (a changed date): make sure it exists. */
TGH_MUSTCHECK static tgh_err
moved_partitions(struct pg *pg, const struct batch *b)
{
    tgh_err rc = TGH_OK;

    for (size_t i = 0; rc == TGH_OK && i < b->n_ks; i++)
        if (b->ks[i].exists && b->ks[i].dirty &&
            !pg_month_known(pg, store_month_start(b->ks[i].date)))
            rc = pg_partitions_ensure(pg, &b->ks[i].date, 1);
    return rc;
}

TGH_MUSTCHECK static tgh_err
commit_once(struct pg *pg, const struct msg_event *ev, size_t n, struct store_stats *stats,
            enum store_change *changes)
{
    struct batch b;
    tgh_err rc;

    memset(&b, 0, sizeof(b));
    rc = batch_init(&b, ev, n);
    if (rc == TGH_OK)
        rc = batch_partitions(pg, &b);
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "BEGIN", "begin");
    if (rc != TGH_OK)
        goto out;
    rc = lock_chats(pg, &b);
    if (rc == TGH_OK)
        rc = fetch_existing(pg, &b);
    if (rc == TGH_OK)
        rc = decide(pg, &b, changes);
    if (rc == TGH_OK)
        rc = moved_partitions(pg, &b);
    if (rc == TGH_OK)
        rc = apply_staged(pg, &b);
    if (rc == TGH_OK)
        rc = pg_exec_plain(pg, "COMMIT", "commit");
out:
    if (rc != TGH_OK)
        pg_rollback(pg);
    else
        store_stats_add(stats, &b.add);
    batch_fini(&b);
    return rc;
}

TGH_MUSTCHECK tgh_err
pg_commit(void *impl, const struct msg_event *ev, size_t n, struct store_stats *stats,
          enum store_change *changes)
{
    struct pg *pg = impl;
    tgh_err rc;

    if (n == 0)
        return TGH_OK;
    rc = pg_conn_ready(pg);
    if (rc != TGH_OK)
        return rc;
    rc = commit_once(pg, ev, n, stats, changes);
    if (rc == TGH_EINVAL && strstr(tgh_errmsg(), "no partition of relation") != NULL) {
        /* Another process dropped a month this one believed in (retention). */
        pg->n_months = 0;
        rc = commit_once(pg, ev, n, stats, changes);
    }
    if (rc != TGH_OK)
        pg->n_months = 0; /* partitions created in a rolled-back transaction */
    return rc;
}
