/* SPDX-License-Identifier: MIT */
/*
 * fake_world.c - the Telegram side of the fake: accounts, users and chats
 * read from the world file, and each chat's history. A history is a
 * generator (ids, dates and content computed from the id, so a million
 * messages cost nothing until asked for) plus an overlay sorted by id that
 * holds explicit messages, live additions, edits and deletions. The format
 * is in docs/internals/fake_tdjson.md.
 */
#include "fake_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_GEN_USER_BASE  INT64_C(1000000) /* generated senders: 1000000..1000039 */
#define FAKE_GEN_USER_COUNT 40

static bool fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* An integer field, also given as a decimal string (as TDLib accepts int64). */
static bool
jint(const json_t *o, const char *key, int64_t def, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    char *end;

    if (v == NULL || json_is_null(v)) {
        *out = def;
        return true;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_string(v) && json_string_length(v) > 0) {
        long long x = strtoll(json_string_value(v), &end, 10);

        if (*end == '\0') {
            *out = x;
            return true;
        }
    }
    return false;
}

static char *
jstrdup(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));

    if (s == NULL)
        s = def;
    return s != NULL ? fake_xstrdup(s) : NULL;
}

static bool
jbool(const json_t *o, const char *key, bool def)
{
    const json_t *v = json_object_get(o, key);

    return json_is_boolean(v) ? json_is_true(v) : def;
}

#define INT_FIELD(obj, key, def, dst, what)                                           \
    do {                                                                              \
        int64_t v_;                                                                   \
        if (!jint((obj), (key), (def), &v_))                                          \
            return fail(err, errlen, "%s: \"%s\" must be an integer", (what), (key)); \
        (dst) = v_;                                                                   \
    } while (0)

/* ---- generators ---- */

static bool
gen_missing(const struct fake_chat *c, int64_t p)
{
    return c->gap_every >= 2 && (p + 1) % c->gap_every == 0;
}

static int64_t
gen_pos_of_index(const struct fake_chat *c, int64_t i)
{
    return c->gap_every >= 2 ? i + i / (c->gap_every - 1) : i;
}

static int64_t
gen_index_of_pos(const struct fake_chat *c, int64_t p)
{
    return c->gap_every >= 2 ? p - (p + 1) / c->gap_every : p;
}

static int64_t
gen_last_pos(const struct fake_chat *c)
{
    return c->count > 0 ? gen_pos_of_index(c, c->count - 1) : -1;
}

/* Index of generated id, or -1. */
static int64_t
gen_index(const struct fake_chat *c, int64_t id)
{
    int64_t p = id - c->first_id;

    if (c->gen == FAKE_GEN_NONE || p < 0 || p > gen_last_pos(c) || gen_missing(c, p))
        return -1;
    return gen_index_of_pos(c, p);
}

static int64_t
gen_prev(const struct fake_chat *c, int64_t below)
{
    int64_t p, last = gen_last_pos(c);

    if (c->gen == FAKE_GEN_NONE || last < 0 || below <= c->first_id)
        return 0;
    p = below - 1 - c->first_id;
    if (p > last)
        p = last;
    if (gen_missing(c, p))
        p--;
    return c->first_id + p;
}

static int64_t
gen_next(const struct fake_chat *c, int64_t from)
{
    int64_t p, last = gen_last_pos(c);

    if (c->gen == FAKE_GEN_NONE || last < 0)
        return 0;
    p = from > c->first_id ? from - c->first_id : 0;
    if (p > last)
        return 0;
    if (gen_missing(c, p))
        p++;
    return c->first_id + p;
}

static int32_t
gen_date(const struct fake_chat *c, int64_t id)
{
    return (int32_t)(c->start_date + (id - c->first_id) * c->step_s);
}

/* Discussion group index of (post index i, j-th message of its block: 0 the root). */
static int64_t
comments_index(const struct fake_chat *ch, int64_t i, int64_t j)
{
    int64_t e = ch->comments_every, k = ch->comments_per_post, r = i % e;

    return (i / e) * (e + k) + (r == 0 ? j : k + r);
}

static void
comments_of_index(const struct fake_chat *ch, int64_t g, int64_t *i, int64_t *j)
{
    int64_t e = ch->comments_every, k = ch->comments_per_post, l = e + k, r = g % l;

    *i = (g / l) * e + (r <= k ? 0 : r - k);
    *j = r <= k ? r : 0;
}

static int64_t
comments_count(const struct fake_chat *ch)
{
    int64_t e = ch->comments_every, k = ch->comments_per_post;
    int64_t full = ch->count / e, rem = ch->count % e;

    return full * (e + k) + (rem > 0 ? k + rem : 0);
}

/* ---- overlay ---- */

static size_t
ovl_lower(const struct fake_chat *c, int64_t id)
{
    size_t lo = 0, hi = c->novl;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->ovl[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct fake_ovl *
fake_chat_ovl(struct fake_chat *c, int64_t id, bool create)
{
    size_t at = ovl_lower(c, id);
    struct fake_ovl *o;

    if (at < c->novl && c->ovl[at].id == id)
        return &c->ovl[at];
    if (!create)
        return NULL;
    if (c->novl == c->capovl) {
        c->capovl = c->capovl != 0 ? c->capovl * 2 : 16;
        c->ovl = fake_xrealloc(c->ovl, c->capovl * sizeof(*c->ovl));
    }
    memmove(&c->ovl[at + 1], &c->ovl[at], (c->novl - at) * sizeof(*c->ovl));
    c->novl++;
    o = &c->ovl[at];
    memset(o, 0, sizeof(*o));
    o->id = id;
    o->views = -1;
    o->forwards = -1;
    return o;
}

static bool
deleted(const struct fake_chat *c, int64_t id)
{
    const struct fake_ovl *o = fake_chat_ovl((struct fake_chat *)c, id, false);

    return o != NULL && o->is_deleted;
}

int64_t
fake_chat_prev(struct fake_world *w, struct fake_chat *c, int64_t below)
{
    int64_t g = gen_prev(c, below), e = 0;
    size_t at = ovl_lower(c, below);

    (void)w;
    while (g != 0 && deleted(c, g))
        g = gen_prev(c, g);
    while (at > 0) {
        const struct fake_ovl *o = &c->ovl[--at];

        if (o->is_extra && !o->is_deleted) {
            e = o->id;
            break;
        }
    }
    if (g < e)
        g = e;
    return g >= c->history_hidden_before ? g : 0; /* history before the join is hidden */
}

int64_t
fake_chat_next(struct fake_world *w, struct fake_chat *c, int64_t from)
{
    int64_t g, e = 0;

    (void)w;
    if (from < c->history_hidden_before)
        from = c->history_hidden_before;
    g = gen_next(c, from);
    while (g != 0 && deleted(c, g))
        g = gen_next(c, g + 1);
    for (size_t at = ovl_lower(c, from); at < c->novl; at++) {
        if (c->ovl[at].is_extra && !c->ovl[at].is_deleted) {
            e = c->ovl[at].id;
            break;
        }
    }
    if (g == 0)
        return e;
    return e != 0 && e < g ? e : g;
}

int64_t
fake_chat_last_id(struct fake_world *w, struct fake_chat *c)
{
    return fake_chat_prev(w, c, INT64_MAX);
}

int64_t
fake_chat_count(struct fake_world *w, struct fake_chat *c)
{
    int64_t n = c->gen != FAKE_GEN_NONE ? c->count : 0;

    (void)w;
    for (size_t i = 0; i < c->novl; i++) {
        const struct fake_ovl *o = &c->ovl[i];
        bool generated = gen_index(c, o->id) >= 0;

        if (o->is_deleted && generated)
            n--;
        else if (!o->is_deleted && o->is_extra && !generated)
            n++;
    }
    return n;
}

/* ---- specs of generated messages ---- */

static enum fake_content
pick_kind(const struct fake_chat *c, uint64_t h)
{
    int total = c->mix_total - c->mix[FAKE_KIND_ALBUM], x;

    if (total <= 0)
        return FAKE_KIND_TEXT;
    x = (int)(h % (uint64_t)total);
    for (int k = 0; k < FAKE_KIND_NMIX; k++) {
        if (k == FAKE_KIND_ALBUM)
            continue;
        if (x < c->mix[k])
            return (enum fake_content)k;
        x -= c->mix[k];
    }
    return FAKE_KIND_TEXT;
}

static int32_t
forum_topic_of(const struct fake_chat *c, int64_t id, uint64_t h)
{
    size_t eligible = 0;

    for (size_t t = 0; t < c->ntopics; t++) {
        if (c->topics[t].id == id)
            return c->topics[t].id;
        if (c->topics[t].id < id || c->topics[t].id == 1)
            eligible++;
    }
    if (eligible == 0)
        return 1;
    /* topics are sorted by id, so the eligible ones come first */
    return c->topics[(h >> 17) % eligible].id;
}

static void
spec_base(struct fake_chat *c, int64_t id, uint64_t h, struct fake_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->views = -1;
    if (c->kind == FAKE_CHANNEL) {
        s->sender_chat_id = c->id;
        s->views = (int32_t)(50 + h % 5000);
        s->forwards = (int32_t)((h >> 13) % 20);
        if (c->sign_messages)
            s->author_signature = (h >> 7) % 2 ? "Harbour desk" : "Night editor";
    } else if (c->kind == FAKE_PRIVATE) {
        s->sender_user_id = c->id;
    } else {
        s->sender_user_id = FAKE_GEN_USER_BASE + (int64_t)((h >> 3) % FAKE_GEN_USER_COUNT);
    }
    s->reactions = (h >> 21) % 3 == 0 ? (int)((h >> 24) % 1000) + 1 : 0;
}

static void
spec_plain(struct fake_world *w, struct fake_chat *c, int64_t id, struct fake_spec *s)
{
    uint64_t h = fake_hash(w->seed, (uint64_t)c->id, (uint64_t)id);
    int64_t p = id - c->first_id, i = gen_index_of_pos(c, p);
    uint64_t hb = fake_hash(w->seed ^ 0xA1B0, (uint64_t)c->id, (uint64_t)(p / 4));

    spec_base(c, id, h, s);
    s->date = gen_date(c, id);
    s->kind = pick_kind(c, h >> 32);
    if (c->mix_total > 0 && (int)(hb % (uint64_t)c->mix_total) < c->mix[FAKE_KIND_ALBUM]) {
        s->kind = FAKE_KIND_ALBUM;
        s->album_id = (int64_t)((hb >> 8) | 1);
    }
    if (c->discussion != NULL) {
        /* every post of a channel with comments is forwarded to its group */
        int64_t k = c->comments_per_post;
        bool commented = i % c->comments_every == 0;

        if (s->kind == FAKE_KIND_SERVICE)
            s->kind = FAKE_KIND_TEXT;
        s->has_reply_info = true;
        s->reply_count = commented ? (int32_t)k : 0;
        s->reply_last = commented && k > 0 ? comments_index(c, i, k) + 1 : 0;
    }
    if (c->is_forum) {
        s->topic = forum_topic_of(c, id, h);
        if (s->topic == id && id != 1)
            s->kind = FAKE_KIND_TOPIC_CREATED;
        else if (s->kind == FAKE_KIND_SERVICE && id == c->first_id)
            s->kind = FAKE_KIND_TEXT;
    }
    if (s->kind == FAKE_KIND_REPLY && c->is_forum)
        s->kind = FAKE_KIND_TEXT; /* a reply would have to stay in its topic */
    if (s->kind == FAKE_KIND_REPLY) {
        s->reply_to = gen_prev(c, id - (int64_t)((h >> 40) % 5));
        if (s->reply_to == 0)
            s->kind = FAKE_KIND_TEXT;
    }
    if ((h >> 44) % 11 == 0 && s->kind != FAKE_KIND_SERVICE && s->kind != FAKE_KIND_TOPIC_CREATED)
        s->edit_date = s->date + 300;
}

static void
spec_comment(struct fake_world *w, struct fake_chat *g, int64_t id, struct fake_spec *s)
{
    struct fake_chat *ch = g->channel;
    uint64_t h = fake_hash(w->seed, (uint64_t)g->id, (uint64_t)id);
    int64_t i, j, post, root, spacing;

    comments_of_index(ch, id - 1, &i, &j);
    post = ch->first_id + gen_pos_of_index(ch, i);
    root = comments_index(ch, i, 0) + 1;
    spacing = (ch->step_s - 1) / (ch->comments_per_post + 1);
    if (spacing < 1)
        spacing = 1;
    spec_base(g, id, h, s);
    s->post_chat_id = ch->id;
    s->post_id = post;
    s->post_date = gen_date(ch, post);
    s->date = (int32_t)(s->post_date + 1 + j * spacing);
    s->thread = root;
    if (j == 0) {
        int64_t k = ch->comments_per_post;
        bool commented = i % ch->comments_every == 0;

        s->kind = FAKE_KIND_ROOT;
        s->sender_user_id = 0;
        s->sender_chat_id = ch->id;
        s->has_reply_info = true;
        s->reply_count = commented ? (int32_t)k : 0;
        s->reply_last = commented && k > 0 ? root + k : 0;
    } else {
        s->kind = FAKE_KIND_COMMENT;
        s->reply_to = root;
    }
}

bool
fake_chat_message(struct fake_world *w, struct fake_chat *c, int64_t id, struct fake_spec *spec,
                  const struct fake_ovl **mods)
{
    const struct fake_ovl *o = fake_chat_ovl(c, id, false);

    *mods = o;
    if ((o != NULL && o->is_deleted) || id < c->history_hidden_before)
        return false;
    if (o != NULL && o->is_extra) {
        *spec = o->spec;
        return true;
    }
    if (gen_index(c, id) < 0)
        return false;
    if (c->gen == FAKE_GEN_COMMENTS)
        spec_comment(w, c, id, spec);
    else
        spec_plain(w, c, id, spec);
    return true;
}

int64_t
fake_chat_by_date(struct fake_world *w, struct fake_chat *c, int32_t date)
{
    int64_t lo = 0, hi = c->gen != FAKE_GEN_NONE ? c->count : 0, best = 0, g = 0;
    struct fake_spec s;

    /* generated dates grow with the id: the first index dated after date */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, id = c->first_id + gen_pos_of_index(c, mid);

        if (c->gen == FAKE_GEN_COMMENTS)
            spec_comment(w, c, id, &s);
        else
            spec_plain(w, c, id, &s);
        if (s.date <= date)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        g = c->first_id + gen_pos_of_index(c, lo - 1);
        while (g != 0 && deleted(c, g))
            g = gen_prev(c, g);
    }
    for (size_t i = 0; i < c->novl; i++) {
        const struct fake_ovl *o = &c->ovl[i];

        if (o->is_extra && !o->is_deleted && o->spec.date <= date && o->id > best)
            best = o->id;
    }
    if (g < best)
        g = best;
    return g >= c->history_hidden_before ? g : 0;
}

json_t *
fake_chat_message_json(struct fake_world *w, struct fake_chat *c, int64_t id)
{
    struct fake_spec s;
    const struct fake_ovl *mods;

    if (!fake_chat_message(w, c, id, &s, &mods))
        return NULL;
    return fake_message_json(w, c, &s, mods);
}

int64_t
fake_chat_thread_root(struct fake_world *w, struct fake_chat *c, int64_t post_id)
{
    int64_t i = gen_index(c, post_id);

    (void)w;
    if (c->discussion == NULL || i < 0)
        return 0;
    return comments_index(c, i, 0) + 1;
}

int64_t
fake_chat_thread_last(struct fake_world *w, struct fake_chat *g, int64_t root)
{
    int64_t last = root;

    (void)w;
    if (g->gen == FAKE_GEN_COMMENTS && gen_index(g, root) >= 0) {
        int64_t i, j;

        comments_of_index(g->channel, root - 1, &i, &j);
        if (j == 0 && i % g->channel->comments_every == 0)
            last = root + g->channel->comments_per_post;
    }
    for (size_t k = 0; k < g->novl; k++) {
        const struct fake_ovl *o = &g->ovl[k];

        if (o->is_extra && o->spec.thread == root && o->id > last)
            last = o->id;
    }
    return last;
}

/* ---- lookups ---- */

struct fake_chat *
fake_world_chat(struct fake_world *w, int64_t chat_id)
{
    for (size_t i = 0; i < w->nchats; i++)
        if (w->chats[i].id == chat_id)
            return &w->chats[i];
    return NULL;
}

struct fake_chat *
fake_world_chat_by_username(struct fake_world *w, const char *username)
{
    for (size_t i = 0; i < w->nchats; i++)
        if (w->chats[i].username != NULL && strcasecmp(w->chats[i].username, username) == 0)
            return &w->chats[i];
    return NULL;
}

struct fake_account *
fake_world_account_by_phone(struct fake_world *w, const char *phone)
{
    char want[64], have[64];
    size_t n = 0;

    /* Telegram ignores everything but digits in a phone number */
    for (const char *p = phone; *p != '\0' && n + 1 < sizeof(want); p++)
        if (*p >= '0' && *p <= '9')
            want[n++] = *p;
    want[n] = '\0';
    for (size_t i = 0; i < w->naccounts; i++) {
        size_t m = 0;

        if (w->accounts[i].phone == NULL)
            continue;
        for (const char *p = w->accounts[i].phone; *p != '\0' && m + 1 < sizeof(have); p++)
            if (*p >= '0' && *p <= '9')
                have[m++] = *p;
        have[m] = '\0';
        if (n > 0 && strcmp(want, have) == 0)
            return &w->accounts[i];
    }
    return NULL;
}

struct fake_account *
fake_world_account_by_token(struct fake_world *w, const char *token)
{
    for (size_t i = 0; i < w->naccounts; i++)
        if (w->accounts[i].bot_token != NULL && strcmp(w->accounts[i].bot_token, token) == 0)
            return &w->accounts[i];
    return NULL;
}

struct fake_account *
fake_world_account_by_key(struct fake_world *w, const char *key)
{
    struct fake_account *a = fake_world_account_by_token(w, key);

    return a != NULL ? a : fake_world_account_by_phone(w, key);
}

bool
fake_world_user(struct fake_world *w, int64_t user_id, struct fake_user *out)
{
    static char names[FAKE_GEN_USER_COUNT][16];

    for (size_t i = 0; i < w->nusers; i++) {
        if (w->users[i].id == user_id) {
            *out = w->users[i];
            return true;
        }
    }
    for (size_t i = 0; i < w->naccounts; i++) {
        if (w->accounts[i].user_id == user_id) {
            out->id = user_id;
            out->first_name = w->accounts[i].first_name;
            out->last_name = w->accounts[i].last_name;
            out->username = w->accounts[i].username;
            return true;
        }
    }
    if (user_id >= FAKE_GEN_USER_BASE && user_id < FAKE_GEN_USER_BASE + FAKE_GEN_USER_COUNT) {
        char *name = names[user_id - FAKE_GEN_USER_BASE];

        (void)snprintf(name, sizeof(names[0]), "Member %lld",
                       (long long)(user_id - FAKE_GEN_USER_BASE));
        out->id = user_id;
        out->first_name = name;
        out->last_name = NULL;
        out->username = NULL;
        return true;
    }
    for (size_t i = 0; i < w->nchats; i++) {
        if (w->chats[i].kind == FAKE_PRIVATE && w->chats[i].id == user_id) {
            out->id = user_id;
            out->first_name = w->chats[i].title;
            out->last_name = NULL;
            out->username = w->chats[i].username;
            return true;
        }
    }
    return false;
}

/* ---- loading ---- */

static const char *const kind_names[FAKE_KIND_NMIX] = {
    "text",  "photo", "document", "poll",       "service",    "album",     "forward",
    "reply", "video", "audio",    "voice_note", "video_note", "animation", "sticker",
};
static const int default_mix[FAKE_KIND_NMIX] = { 55, 12, 6, 3, 3, 6, 8, 7, 0, 0, 0, 0, 0, 0 };

/* "media" of an explicit message: a kind name, or {"kind", "size", "file_name"}. */
static bool
parse_media(const json_t *media, struct fake_spec *s, char *err, size_t errlen)
{
    static const enum fake_content kinds[] = {
        FAKE_KIND_PHOTO,      FAKE_KIND_DOCUMENT,   FAKE_KIND_VIDEO,     FAKE_KIND_AUDIO,
        FAKE_KIND_VOICE_NOTE, FAKE_KIND_VIDEO_NOTE, FAKE_KIND_ANIMATION, FAKE_KIND_STICKER,
    };
    const char *kind = json_is_string(media) ? json_string_value(media)
                                             : json_string_value(json_object_get(media, "kind"));

    for (size_t i = 0; kind != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kind_names[kinds[i]]) != 0)
            continue;
        s->kind = FAKE_KIND_MEDIA;
        s->media = kinds[i];
        if (json_is_object(media)) {
            INT_FIELD(media, "size", 0, s->media_size, "message media");
            if (s->media_size < 0)
                return fail(err, errlen, "message media: \"size\" must be >= 0");
            s->media_name = jstrdup(media, "file_name", NULL);
        }
        return true;
    }
    return fail(err, errlen,
                "message: \"media\" is photo, document, video, audio, voice_note, video_note, "
                "animation or sticker (or {\"kind\": .., \"size\": .., \"file_name\": ..})");
}

bool
fake_spec_parse(struct fake_chat *c, const json_t *j, struct fake_spec *s, char *err, size_t errlen)
{
    const char *text = json_string_value(json_object_get(j, "text"));
    const json_t *content = json_object_get(j, "content");
    const json_t *media = json_object_get(j, "media"), *same = json_object_get(j, "same_file_as");
    int64_t v;

    memset(s, 0, sizeof(*s));
    s->views = -1;
    INT_FIELD(j, "id", 0, s->id, "message");
    if (s->id <= 0 || s->id > FAKE_MAX_SERVER_ID)
        return fail(err, errlen, "message: \"id\" must be a server id from 1 to 2^31-1");
    INT_FIELD(j, "date", c->start_date + (s->id - c->first_id) * c->step_s, v, "message");
    s->date = (int32_t)v;
    INT_FIELD(j, "edit_date", 0, v, "message");
    s->edit_date = (int32_t)v;
    INT_FIELD(j, "sender_user_id", 0, s->sender_user_id, "message");
    INT_FIELD(j, "sender_chat_id", 0, s->sender_chat_id, "message");
    if (s->sender_user_id == 0 && s->sender_chat_id == 0) {
        if (c->kind == FAKE_CHANNEL)
            s->sender_chat_id = c->id;
        else if (c->kind == FAKE_PRIVATE)
            s->sender_user_id = c->id;
        else
            s->sender_user_id = FAKE_GEN_USER_BASE;
    }
    INT_FIELD(j, "reply_to", 0, s->reply_to, "message");
    INT_FIELD(j, "thread", 0, s->thread, "message");
    INT_FIELD(j, "topic", c->is_forum ? 1 : 0, v, "message");
    s->topic = (int32_t)v;
    INT_FIELD(j, "album_id", 0, s->album_id, "message");
    INT_FIELD(j, "views", c->kind == FAKE_CHANNEL ? 0 : -1, v, "message");
    s->views = (int32_t)v;
    INT_FIELD(j, "forwards", 0, v, "message");
    s->forwards = (int32_t)v;
    s->author_signature = jstrdup(j, "author_signature", NULL);
    s->kind = FAKE_KIND_JSON;
    if ((media != NULL || same != NULL) && content != NULL)
        return fail(err, errlen,
                    "message: \"content\" goes with neither \"media\" nor "
                    "\"same_file_as\"");
    if (media != NULL && same != NULL)
        return fail(err, errlen, "message: give \"media\" or \"same_file_as\", not both");
    if (media != NULL && !parse_media(media, s, err, errlen))
        return false;
    if (same != NULL) {
        if (!json_is_object(same))
            return fail(err, errlen, "message: \"same_file_as\" is {\"chat\": .., \"id\": ..}");
        INT_FIELD(same, "chat", c->id, s->same_chat_id, "same_file_as");
        INT_FIELD(same, "id", 0, s->same_id, "same_file_as");
        if (s->same_id <= 0)
            return fail(err, errlen, "same_file_as: \"id\" must be a server id");
        s->kind = FAKE_KIND_SAME;
    }
    if (s->kind != FAKE_KIND_JSON) {
        const json_t *ents = json_object_get(j, "entities");

        if (text != NULL)
            s->content =
                fake_formatted_text(text, json_is_array(ents) ? json_deep_copy(ents) : NULL);
    } else if (json_is_object(content)) {
        s->content = json_deep_copy(content);
    } else {
        const json_t *ents = json_object_get(j, "entities");
        json_t *t = fake_obj("messageText");

        fake_set(t, "text",
                 fake_formatted_text(text != NULL ? text : "",
                                     json_is_array(ents) ? json_deep_copy(ents) : NULL));
        s->content = t;
    }
    if (c->discussion != NULL) {
        s->has_reply_info = true;
    }
    return true;
}

static bool
load_mix(struct fake_chat *c, const json_t *mix, char *err, size_t errlen)
{
    memcpy(c->mix, default_mix, sizeof(c->mix));
    if (json_is_object(mix)) {
        for (int k = 0; k < FAKE_KIND_NMIX; k++) {
            int64_t v;

            if (!jint(mix, kind_names[k], 0, &v) || v < 0 || v > 1000000)
                return fail(err, errlen, "chat %lld: mix \"%s\" must be a weight >= 0",
                            (long long)c->id, kind_names[k]);
            c->mix[k] = (int)v;
        }
    }
    c->mix_total = 0;
    for (int k = 0; k < FAKE_KIND_NMIX; k++)
        c->mix_total += c->mix[k];
    return true;
}

static bool
load_history(struct fake_chat *c, const json_t *h, char *err, size_t errlen)
{
    char what[48];

    (void)snprintf(what, sizeof(what), "chat %lld history", (long long)c->id);
    c->first_id = 1;
    c->step_s = 60;
    c->start_date = 1700000000;
    if (!json_is_object(h))
        return load_mix(c, NULL, err, errlen);
    c->gen = FAKE_GEN_PLAIN;
    INT_FIELD(h, "count", 0, c->count, what);
    INT_FIELD(h, "first_id", 1, c->first_id, what);
    INT_FIELD(h, "gap_every", 0, c->gap_every, what);
    INT_FIELD(h, "start_date", 1700000000, c->start_date, what);
    INT_FIELD(h, "step_s", 60, c->step_s, what);
    if (c->count < 0 || c->first_id < 1 || c->gap_every < 0 || c->gap_every == 1 || c->step_s < 1)
        return fail(err, errlen,
                    "%s: need count >= 0, first_id >= 1, gap_every 0 or >= 2, "
                    "step_s >= 1",
                    what);
    if (c->count > 0 && c->first_id + gen_last_pos(c) > FAKE_MAX_SERVER_ID)
        return fail(err, errlen, "%s: ids beyond 2^31-1", what);
    return load_mix(c, json_object_get(h, "mix"), err, errlen);
}

static int
topic_cmp(const void *a, const void *b)
{
    const struct fake_topic *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

static bool
load_topics(struct fake_chat *c, const json_t *topics, char *err, size_t errlen)
{
    size_t n = json_array_size(topics), at = 0;
    bool has_general = false;

    c->topics = fake_xcalloc(n + 1, sizeof(*c->topics));
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(topics, i);
        struct fake_topic *tp = &c->topics[at++];
        int64_t v;

        INT_FIELD(t, "id", 0, v, "topic");
        if (v < 1 || v > FAKE_MAX_SERVER_ID)
            return fail(err, errlen, "chat %lld: topic ids are server ids >= 1", (long long)c->id);
        tp->id = (int32_t)v;
        tp->name = jstrdup(t, "name", tp->id == 1 ? "General" : "Topic");
        INT_FIELD(t, "icon_color", 0x6FB9F0, v, "topic");
        tp->color = (int32_t)v;
        tp->is_closed = jbool(t, "is_closed", false);
        has_general |= tp->id == 1;
    }
    if (!has_general) {
        c->topics[at].id = 1;
        c->topics[at].name = fake_xstrdup("General");
        c->topics[at].color = 0x6FB9F0;
        at++;
    }
    c->ntopics = at;
    qsort(c->topics, c->ntopics, sizeof(*c->topics), topic_cmp);
    for (size_t i = 0; i < c->ntopics; i++)
        c->topics[i].creation_date =
            (int32_t)(c->start_date + (c->topics[i].id - c->first_id) * c->step_s);
    return true;
}

static bool
load_messages(struct fake_chat *c, const json_t *msgs, char *err, size_t errlen)
{
    size_t i;
    json_t *m;

    json_array_foreach ((json_t *)msgs, i, m) {
        struct fake_ovl *o;
        struct fake_spec s;
        const json_t *reactions = json_object_get(m, "reactions");

        if (!fake_spec_parse(c, m, &s, err, errlen))
            return false;
        o = fake_chat_ovl(c, s.id, true);
        o->is_extra = true;
        o->spec = s;
        if (json_is_object(reactions))
            o->reactions = fake_reactions_from_counts(reactions);
    }
    return true;
}

static bool
kind_of(const char *s, enum fake_kind *k)
{
    static const char *const names[] = { "channel", "supergroup", "group", "private" };

    for (int i = 0; i < 4; i++) {
        if (s != NULL && strcmp(s, names[i]) == 0) {
            *k = (enum fake_kind)i;
            return true;
        }
    }
    return false;
}

static bool
access_of(const char *s, enum fake_access *a)
{
    if (s == NULL || strcmp(s, "ok") == 0)
        *a = FAKE_ACCESS_OK;
    else if (strcmp(s, "private") == 0)
        *a = FAKE_ACCESS_PRIVATE;
    else if (strcmp(s, "unknown") == 0)
        *a = FAKE_ACCESS_UNKNOWN;
    else
        return false;
    return true;
}

static bool
id_fits_kind(int64_t id, enum fake_kind k)
{
    switch (k) {
    case FAKE_CHANNEL:
    case FAKE_SUPERGROUP:
        return id < -INT64_C(1000000000000) && id > -INT64_C(1000000000000) - (INT64_C(1) << 40);
    case FAKE_GROUP:
        return id < 0 && id > -INT64_C(1000000000000);
    case FAKE_PRIVATE:
    default:
        return id > 0 && id < (INT64_C(1) << 40);
    }
}

static bool
load_chat(struct fake_chat *c, const json_t *j, char *err, size_t errlen)
{
    const json_t *comments = json_object_get(j, "comments");
    int64_t v;

    INT_FIELD(j, "id", 0, c->id, "chat");
    if (!kind_of(json_string_value(json_object_get(j, "kind")), &c->kind))
        return fail(err, errlen, "chat %lld: \"kind\" is channel, supergroup, group or private",
                    (long long)c->id);
    if (!id_fits_kind(c->id, c->kind))
        return fail(err, errlen,
                    "chat %lld: id does not fit its kind (-100... for channels and "
                    "supergroups, negative for groups, positive for private chats)",
                    (long long)c->id);
    if (!access_of(json_string_value(json_object_get(j, "access")), &c->access))
        return fail(err, errlen, "chat %lld: \"access\" is ok, private or unknown",
                    (long long)c->id);
    c->title = jstrdup(j, "title", "Untitled");
    c->username = jstrdup(j, "username", NULL);
    c->invite_link = jstrdup(j, "invite_link", NULL);
    c->description = jstrdup(j, "description", "");
    c->is_forum = jbool(j, "is_forum", false);
    c->is_member = jbool(j, "member", true);
    c->sign_messages = jbool(j, "sign_messages", false);
    INT_FIELD(j, "linked_chat_id", 0, c->linked_chat_id, "chat");
    INT_FIELD(j, "member_count", 100, v, "chat");
    c->member_count = (int32_t)v;
    INT_FIELD(j, "upgraded_from_basic_group_id", 0, c->upgraded_from_basic_group_id, "chat");
    INT_FIELD(j, "upgraded_from_max_message_id", 0, c->upgraded_from_max_message_id, "chat");
    INT_FIELD(j, "history_hidden_before", 0, c->history_hidden_before, "chat");
    INT_FIELD(j, "page_max", 100, v, "chat");
    if (v < 1 || v > 100)
        return fail(err, errlen, "chat %lld: page_max is 1..100", (long long)c->id);
    c->page_max = (int)v;
    c->short_pages = jbool(j, "short_pages", false);
    if (!load_history(c, json_object_get(j, "history"), err, errlen))
        return false;
    INT_FIELD(j, "date", c->start_date - 86400, v, "chat");
    c->date = (int32_t)v;
    if (json_is_object(comments)) {
        INT_FIELD(comments, "every", 5, c->comments_every, "comments");
        INT_FIELD(comments, "per_post", 3, c->comments_per_post, "comments");
        if (c->kind != FAKE_CHANNEL || c->linked_chat_id == 0 || c->comments_every < 1 ||
            c->comments_per_post < 0)
            return fail(err, errlen,
                        "chat %lld: comments need a channel with linked_chat_id, "
                        "every >= 1, per_post >= 0",
                        (long long)c->id);
    }
    if (c->is_forum && c->kind != FAKE_SUPERGROUP)
        return fail(err, errlen, "chat %lld: only a supergroup can be a forum", (long long)c->id);
    if (c->is_forum && !load_topics(c, json_object_get(j, "topics"), err, errlen))
        return false;
    return load_messages(c, json_object_get(j, "messages"), err, errlen);
}

static bool
link_discussions(struct fake_world *w, char *err, size_t errlen)
{
    for (size_t i = 0; i < w->nchats; i++) {
        struct fake_chat *c = &w->chats[i], *g;

        if (c->kind != FAKE_CHANNEL || c->linked_chat_id == 0)
            continue;
        g = fake_world_chat(w, c->linked_chat_id);
        if (g == NULL || g->kind != FAKE_SUPERGROUP)
            return fail(err, errlen, "chat %lld: linked_chat_id %lld is not a supergroup",
                        (long long)c->id, (long long)c->linked_chat_id);
        if (g->linked_chat_id == 0)
            g->linked_chat_id = c->id;
        if (c->comments_every == 0)
            continue;
        if (g->gen != FAKE_GEN_NONE || g->is_forum)
            return fail(err, errlen,
                        "chat %lld: a discussion group's history comes from its "
                        "channel's comments; give it no history and no topics",
                        (long long)g->id);
        c->discussion = g;
        g->channel = c;
        g->gen = FAKE_GEN_COMMENTS;
        g->first_id = 1;
        g->gap_every = 0;
        g->count = c->gen == FAKE_GEN_PLAIN ? comments_count(c) : 0;
        g->step_s = 1;
        g->start_date = c->start_date;
    }
    return true;
}

static bool
load_account(struct fake_world *w, struct fake_account *a, const json_t *j, char *err,
             size_t errlen)
{
    const json_t *flood = json_object_get(j, "flood");

    a->phone = jstrdup(j, "phone", NULL);
    a->bot_token = jstrdup(j, "bot_token", NULL);
    if ((a->phone == NULL) == (a->bot_token == NULL))
        return fail(err, errlen, "account %zu: give exactly one of \"phone\" and \"bot_token\"",
                    a->index);
    a->code = jstrdup(j, "code", "12345");
    a->password = jstrdup(j, "password", NULL);
    a->password_hint = jstrdup(j, "password_hint", "");
    INT_FIELD(j, "user_id", 0, a->user_id, "account");
    if (a->user_id <= 0)
        return fail(err, errlen, "account %zu: \"user_id\" must be positive", a->index);
    a->first_name = jstrdup(j, "first_name", a->bot_token != NULL ? "Bot" : "Archivist");
    a->last_name = jstrdup(j, "last_name", "");
    a->username = jstrdup(j, "username", NULL);
    a->nflood = json_array_size(flood);
    a->flood = fake_xcalloc(a->nflood, sizeof(*a->flood));
    a->counters = fake_xcalloc(a->nflood, sizeof(*a->counters));
    for (size_t i = 0; i < a->nflood; i++) {
        const json_t *r = json_array_get(flood, i), *m = json_object_get(r, "methods");
        struct fake_flood_rule *fr = &a->flood[i];

        INT_FIELD(r, "every", 0, fr->every, "flood rule");
        INT_FIELD(r, "seconds", 1, fr->seconds, "flood rule");
        INT_FIELD(r, "after", 0, fr->after, "flood rule");
        if (fr->every < 1 || fr->seconds < 1)
            return fail(err, errlen, "account %zu: flood rules need every >= 1, seconds >= 1",
                        a->index);
        fr->nmethods = json_is_array(m) ? json_array_size(m) : 1;
        fr->methods = fake_xcalloc(fr->nmethods, sizeof(char *));
        for (size_t k = 0; k < fr->nmethods; k++) {
            const char *s = json_is_array(m) ? json_string_value(json_array_get(m, k)) : NULL;

            fr->methods[k] = fake_xstrdup(s != NULL ? s : "history");
        }
    }
    a->joined = fake_xcalloc(w->nchats, sizeof(bool));
    a->kicked = fake_xcalloc(w->nchats, sizeof(bool));
    return true;
}

static bool
load_world(struct fake_world *w, const json_t *root, char *err, size_t errlen)
{
    const json_t *chats = json_object_get(root, "chats");
    const json_t *accounts = json_object_get(root, "accounts");
    const json_t *users = json_object_get(root, "users");
    const json_t *downloads = json_object_get(root, "downloads");
    int64_t v;

    if (!json_is_object(root))
        return fail(err, errlen, "the world is a JSON object");
    INT_FIELD(root, "seed", 1, v, "world");
    w->seed = (uint64_t)v;
    INT_FIELD(root, "latency_ms", 0, v, "world");
    if (v < 0 || v > 60000)
        return fail(err, errlen, "latency_ms is 0..60000");
    w->latency_ms = (int)v;
    INT_FIELD(downloads, "speed", 50000000, w->dl_speed, "downloads");
    INT_FIELD(downloads, "chunk", 131072, w->dl_chunk, "downloads");
    if (w->dl_speed < 0 || w->dl_chunk < 1 || w->dl_chunk > 67108864)
        return fail(err, errlen, "downloads: speed >= 0 (0: unlimited), chunk 1..67108864");
    w->nchats = json_array_size(chats);
    w->chats = fake_xcalloc(w->nchats, sizeof(*w->chats));
    for (size_t i = 0; i < w->nchats; i++) {
        w->chats[i].index = i;
        if (!load_chat(&w->chats[i], json_array_get(chats, i), err, errlen))
            return false;
        for (size_t k = 0; k < i; k++)
            if (w->chats[k].id == w->chats[i].id)
                return fail(err, errlen, "chat %lld appears twice", (long long)w->chats[i].id);
    }
    if (!link_discussions(w, err, errlen))
        return false;
    w->nusers = json_array_size(users);
    w->users = fake_xcalloc(w->nusers, sizeof(*w->users));
    for (size_t i = 0; i < w->nusers; i++) {
        const json_t *u = json_array_get(users, i);

        INT_FIELD(u, "id", 0, w->users[i].id, "user");
        w->users[i].first_name = jstrdup(u, "first_name", "User");
        w->users[i].last_name = jstrdup(u, "last_name", "");
        w->users[i].username = jstrdup(u, "username", NULL);
    }
    w->naccounts = json_array_size(accounts);
    w->accounts = fake_xcalloc(w->naccounts, sizeof(*w->accounts));
    for (size_t i = 0; i < w->naccounts; i++) {
        w->accounts[i].index = i;
        if (!load_account(w, &w->accounts[i], json_array_get(accounts, i), err, errlen))
            return false;
    }
    return true;
}

static struct fake_world *failed_world; /* keeps a failed load reachable (no leak report) */

/*
 * The world lives until the process ends. After a failed load the library
 * runs with an empty world and says why in its log.
 */
struct fake_world *
fake_world_load(const char *path, char *err, size_t errlen)
{
    struct fake_world *w = fake_xcalloc(1, sizeof(*w));
    json_error_t je;
    json_t *root;

    w->seed = 1;
    w->dl_speed = 50000000;
    w->dl_chunk = 131072;
    if (path == NULL || *path == '\0')
        return w;
    root = json_load_file(path, 0, &je);
    if (root == NULL) {
        (void)snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        failed_world = w;
        return NULL;
    }
    if (!load_world(w, root, err, errlen)) {
        json_decref(root);
        failed_world = w;
        return NULL;
    }
    json_decref(root);
    return w;
}
