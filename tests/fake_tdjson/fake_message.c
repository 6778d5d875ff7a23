/* SPDX-License-Identifier: MIT */
/*
 * fake_message.c - the TDLib `message` object of a spec: every field of
 * td_api.tl 1.8.66 in schema order, ids shifted (server id << 20), int64
 * values as strings. Generated content is a pure function of (seed, chat,
 * id): the same message looks the same on every page, in every process.
 * Text offsets of entities count UTF-16 code units, as TDLib's do, and the
 * generated words include multi-byte and astral characters on purpose.
 */
#include "fake_int.h"

#include <stdio.h>
#include <string.h>

#define SHIFT(id) ((int64_t)(id) * (INT64_C(1) << FAKE_MSG_SHIFT))

static const char *const words[] = {
    "ship", "berth", "crane",  "tide", "pier",  "fog",  "cargo", "north", "signal", "anchor",
    "🚢",    "⚓",     "Привет", "café", "naïve", "港口", "größe", "🌊🌊",    "ok",     "dock",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

struct textb {
    char buf[1024];
    size_t len;
    int32_t u16; /* length so far in UTF-16 code units */
    json_t *ents;
};

static int32_t
utf16_len(const char *s)
{
    int32_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
        if (*p >= 0xF0)
            n++; /* outside the BMP: a surrogate pair */
    }
    return n;
}

/* Append s; with etype, an entity of that type (and url for text links) covers it. */
static void
tb_add(struct textb *t, const char *s, const char *etype, const char *url)
{
    size_t n = strlen(s);
    int32_t u = utf16_len(s);

    if (t->len + n + 1 > sizeof(t->buf))
        return;
    if (etype != NULL) {
        json_t *e = fake_obj("textEntity"), *ty = fake_obj(etype);

        if (url != NULL)
            fake_set_str(ty, "url", url);
        fake_set_int(e, "offset", t->u16);
        fake_set_int(e, "length", u);
        fake_set(e, "type", ty);
        json_array_append_new(t->ents, e);
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
    t->u16 += u;
}

static json_t *
tb_take(struct textb *t)
{
    return fake_formatted_text(t->buf, t->ents);
}

/* Deterministic prose: a bold lead, some words, maybe a hashtag, a link, a mention. */
static json_t *
gen_text(struct fake_chat *c, const struct fake_spec *s, uint64_t h, const char *lead)
{
    struct textb t = { .len = 0, .u16 = 0, .ents = json_array() };
    char buf[160];
    int nw = 3 + (int)(h % 8);

    t.buf[0] = '\0';
    tb_add(&t, lead, "textEntityTypeBold", NULL);
    tb_add(&t, ":", NULL, NULL);
    for (int i = 0; i < nw; i++) {
        tb_add(&t, " ", NULL, NULL);
        tb_add(&t, words[fake_hash(h, (uint64_t)i, 3) % NWORDS],
               i == 2 && (h >> 9) % 4 == 0 ? "textEntityTypeItalic" : NULL, NULL);
    }
    if ((h >> 12) % 3 == 0) {
        tb_add(&t, " ", NULL, NULL);
        tb_add(&t, (h >> 14) % 2 ? "#harbour" : "#tide", "textEntityTypeHashtag", NULL);
    }
    if ((h >> 16) % 4 == 0) {
        (void)snprintf(buf, sizeof(buf), "https://example.org/%s/%lld",
                       c->username != NULL ? c->username : "c", (long long)s->id);
        tb_add(&t, " ", NULL, NULL);
        tb_add(&t, buf, "textEntityTypeUrl", NULL);
    }
    if ((h >> 18) % 5 == 0) {
        (void)snprintf(buf, sizeof(buf), "https://example.org/details/%lld", (long long)s->id);
        tb_add(&t, " ", NULL, NULL);
        tb_add(&t, "details", "textEntityTypeTextUrl", buf);
    }
    if ((h >> 20) % 7 == 0) {
        tb_add(&t, " ", NULL, NULL);
        tb_add(&t, "@harbour_master", "textEntityTypeMention", NULL);
    }
    return tb_take(&t);
}

void
fake_file_remote_ids(uint64_t h, char id[FAKE_REMOTE_ID_LEN], char uid[FAKE_UNIQUE_ID_LEN])
{
    (void)snprintf(id, FAKE_REMOTE_ID_LEN, "AgACAgQAAxkBAAI%016llx%08llx", (unsigned long long)h,
                   (unsigned long long)(h >> 7) & 0xFFFFFFFFULL);
    (void)snprintf(uid, FAKE_UNIQUE_ID_LEN, "AQAD%012llx",
                   (unsigned long long)(h >> 11) & 0xFFFFFFFFFFFFULL);
}

static json_t *
file_json(uint64_t h, int64_t size)
{
    json_t *f = fake_obj("file"), *l = fake_obj("localFile"), *r = fake_obj("remoteFile");
    char id[FAKE_REMOTE_ID_LEN], uid[FAKE_UNIQUE_ID_LEN];

    fake_set_int(f, "id", (int64_t)(1 + h % 0x7FFFFFF0));
    fake_set_int(f, "size", size);
    fake_set_int(f, "expected_size", size);
    fake_set_str(l, "path", "");
    fake_set_bool(l, "can_be_downloaded", true);
    fake_set_bool(l, "can_be_deleted", false);
    fake_set_bool(l, "is_downloading_active", false);
    fake_set_bool(l, "is_downloading_completed", false);
    fake_set_int(l, "download_offset", 0);
    fake_set_int(l, "downloaded_prefix_size", 0);
    fake_set_int(l, "downloaded_size", 0);
    fake_set(f, "local", l);
    fake_file_remote_ids(h, id, uid);
    fake_set_str(r, "id", id);
    fake_set_str(r, "unique_id", uid);
    fake_set_bool(r, "is_uploading_active", false);
    fake_set_bool(r, "is_uploading_completed", true);
    fake_set_int(r, "uploaded_size", size);
    fake_set(f, "remote", r);
    return f;
}

static json_t *
photo_json(uint64_t h)
{
    static const struct {
        const char *type;
        int w, hgt;
    } sizes[] = { { "m", 320, 240 }, { "x", 800, 600 }, { "y", 1280, 960 } };
    json_t *p = fake_obj("photo"), *list = json_array();
    int n = 2 + (int)(h % 2);

    fake_set_bool(p, "has_stickers", false);
    for (int i = 0; i < n; i++) {
        json_t *ps = fake_obj("photoSize");

        fake_set_str(ps, "type", sizes[i].type);
        fake_set(ps, "photo",
                 file_json(fake_hash(h, (uint64_t)i, 11),
                           (int64_t)(sizes[i].w * sizes[i].hgt / 8 + h % 997)));
        fake_set_int(ps, "width", sizes[i].w);
        fake_set_int(ps, "height", sizes[i].hgt);
        fake_set(ps, "progressive_sizes", fake_empty());
        json_array_append_new(list, ps);
    }
    fake_set(p, "sizes", list);
    return p;
}

static json_t *
caption(struct fake_chat *c, const struct fake_spec *s, uint64_t h, bool empty)
{
    char lead[48];

    if (empty)
        return fake_formatted_text("", NULL);
    (void)snprintf(lead, sizeof(lead), "Photo %lld", (long long)s->id);
    return gen_text(c, s, h, lead);
}

static json_t *
content_photo(struct fake_chat *c, const struct fake_spec *s, uint64_t h, bool album)
{
    json_t *m = fake_obj("messagePhoto");
    bool empty = album ? (s->id - c->first_id) % 4 != 0 : (h >> 26) % 3 == 0;

    fake_set(m, "photo", photo_json(h));
    fake_set(m, "caption", caption(c, s, h, empty));
    fake_set_bool(m, "show_caption_above_media", false);
    fake_set_bool(m, "has_spoiler", false);
    fake_set_bool(m, "is_secret", false);
    return m;
}

static json_t *
content_document(struct fake_chat *c, const struct fake_spec *s, uint64_t h, const char *name,
                 int64_t size, json_t *cap)
{
    json_t *m = fake_obj("messageDocument"), *d = fake_obj("document");
    char buf[64];

    if (name == NULL) {
        (void)snprintf(buf, sizeof(buf), "manifest-%lld.pdf", (long long)s->id);
        name = buf;
    }
    fake_set_str(d, "file_name", name);
    fake_set_str(d, "mime_type", "application/pdf");
    fake_set(d, "document",
             file_json(fake_hash(h, 1, 13), size > 0 ? size : (int64_t)(20000 + h % 5000000)));
    fake_set(m, "document", d);
    fake_set(m, "caption", cap != NULL ? cap : caption(c, s, h, (h >> 27) % 2 == 0));
    return m;
}

static json_t *
thumbnail_json(uint64_t h, const char *format, int width, int height)
{
    json_t *t = fake_obj("thumbnail");

    fake_set(t, "format", fake_obj(format));
    fake_set_int(t, "width", width);
    fake_set_int(t, "height", height);
    fake_set(t, "file", file_json(fake_hash(h, 2, 13), (int64_t)(1000 + h % 9000)));
    return t;
}

/* The main file's size: explicit, else generated in lo .. lo + span. */
static int64_t
media_size(int64_t size, uint64_t h, int64_t lo, int64_t span)
{
    return size > 0 ? size : lo + (int64_t)((h >> 5) % (uint64_t)span);
}

static json_t *
media_caption(json_t *cap)
{
    return cap != NULL ? cap : fake_formatted_text("", NULL);
}

/*
 * Videos, audio, voice and video notes, animations and stickers: each with
 * its main file and (but for voice notes) a thumbnail, every file's remote
 * identity a function of h. name and size (0: generated) and the caption
 * (stolen, NULL: empty) come from an explicit "media" message.
 */
static json_t *
content_media(enum fake_content kind, const struct fake_spec *s, uint64_t h, const char *name,
              int64_t size, json_t *cap)
{
    json_t *m, *o;
    char buf[64];
    int32_t duration = (int32_t)(2 + h % 300);

    switch (kind) {
    case FAKE_KIND_VIDEO:
        m = fake_obj("messageVideo");
        o = fake_obj("video");
        (void)snprintf(buf, sizeof(buf), "harbour-%lld.mp4", (long long)s->id);
        fake_set_int(o, "duration", duration);
        fake_set_int(o, "width", 1280);
        fake_set_int(o, "height", 720);
        fake_set_str(o, "file_name", name != NULL ? name : buf);
        fake_set_str(o, "mime_type", "video/mp4");
        fake_set_bool(o, "has_stickers", false);
        fake_set_bool(o, "supports_streaming", true);
        fake_set(o, "thumbnail", thumbnail_json(h, "thumbnailFormatJpeg", 320, 180));
        fake_set(o, "video", file_json(fake_hash(h, 1, 13), media_size(size, h, 200000, 4800000)));
        fake_set(m, "video", o);
        fake_set(m, "alternative_videos", fake_empty());
        fake_set(m, "storyboards", fake_empty());
        fake_set_int(m, "start_timestamp", 0);
        fake_set(m, "caption", media_caption(cap));
        fake_set_bool(m, "show_caption_above_media", false);
        fake_set_bool(m, "has_spoiler", false);
        fake_set_bool(m, "is_secret", false);
        return m;
    case FAKE_KIND_AUDIO:
        m = fake_obj("messageAudio");
        o = fake_obj("audio");
        (void)snprintf(buf, sizeof(buf), "shanty-%lld.mp3", (long long)s->id);
        fake_set_int(o, "duration", duration);
        fake_set_str(o, "title", "Sea Shanty");
        fake_set_str(o, "performer", "The Dockers");
        fake_set_str(o, "file_name", name != NULL ? name : buf);
        fake_set_str(o, "mime_type", "audio/mpeg");
        fake_set(o, "album_cover_thumbnail", thumbnail_json(h, "thumbnailFormatJpeg", 300, 300));
        fake_set(o, "external_album_covers", fake_empty());
        fake_set(o, "audio", file_json(fake_hash(h, 1, 13), media_size(size, h, 100000, 2900000)));
        fake_set(m, "audio", o);
        fake_set(m, "caption", media_caption(cap));
        return m;
    case FAKE_KIND_VOICE_NOTE:
        m = fake_obj("messageVoiceNote");
        o = fake_obj("voiceNote");
        fake_set_int(o, "duration", duration);
        fake_set_str(o, "waveform", "AAAAAAAA");
        fake_set_str(o, "mime_type", "audio/ogg");
        fake_set(o, "voice", file_json(fake_hash(h, 1, 13), media_size(size, h, 5000, 195000)));
        fake_set(m, "voice_note", o);
        fake_set(m, "caption", media_caption(cap));
        fake_set_bool(m, "is_listened", false);
        return m;
    case FAKE_KIND_VIDEO_NOTE:
        m = fake_obj("messageVideoNote");
        o = fake_obj("videoNote");
        fake_set_int(o, "duration", duration % 60 + 1);
        fake_set_str(o, "waveform", "");
        fake_set_int(o, "length", 384);
        fake_set(o, "thumbnail", thumbnail_json(h, "thumbnailFormatJpeg", 240, 240));
        fake_set(o, "video", file_json(fake_hash(h, 1, 13), media_size(size, h, 50000, 950000)));
        fake_set(m, "video_note", o);
        fake_set_bool(m, "is_viewed", false);
        fake_set_bool(m, "is_secret", false);
        json_decref(cap);
        return m;
    case FAKE_KIND_ANIMATION:
        m = fake_obj("messageAnimation");
        o = fake_obj("animation");
        (void)snprintf(buf, sizeof(buf), "gull-%lld.mp4", (long long)s->id);
        fake_set_int(o, "duration", duration % 10 + 1);
        fake_set_int(o, "width", 480);
        fake_set_int(o, "height", 270);
        fake_set_str(o, "file_name", name != NULL ? name : buf);
        fake_set_str(o, "mime_type", "video/mp4");
        fake_set_bool(o, "has_stickers", false);
        fake_set(o, "thumbnail", thumbnail_json(h, "thumbnailFormatJpeg", 320, 180));
        fake_set(o, "animation",
                 file_json(fake_hash(h, 1, 13), media_size(size, h, 50000, 1950000)));
        fake_set(m, "animation", o);
        fake_set(m, "caption", media_caption(cap));
        fake_set_bool(m, "show_caption_above_media", false);
        fake_set_bool(m, "has_spoiler", false);
        fake_set_bool(m, "is_secret", false);
        return m;
    case FAKE_KIND_STICKER:
    default:
        m = fake_obj("messageSticker");
        o = fake_obj("sticker");
        fake_set_i64(o, "id", (int64_t)(h >> 2));
        fake_set_i64(o, "set_id", (int64_t)(1 + (h >> 40) % 8));
        fake_set_int(o, "width", 512);
        fake_set_int(o, "height", 512);
        fake_set_str(o, "emoji", "⚓");
        fake_set(o, "format", fake_obj("stickerFormatWebp"));
        fake_set(o, "full_type", fake_obj("stickerFullTypeRegular"));
        fake_set(o, "thumbnail", thumbnail_json(h, "thumbnailFormatWebp", 128, 128));
        fake_set(o, "sticker", file_json(fake_hash(h, 1, 13), media_size(size, h, 10000, 50000)));
        fake_set(m, "sticker", o);
        fake_set_bool(m, "is_premium", false);
        json_decref(cap);
        return m;
    }
}

/* An explicit message's "media": the generator of its kind, with its overrides. */
static json_t *
content_explicit_media(struct fake_chat *c, const struct fake_spec *s, uint64_t h)
{
    json_t *cap = s->content != NULL ? json_incref(s->content) : NULL;
    json_t *m;

    switch (s->media) {
    case FAKE_KIND_PHOTO:
        m = fake_obj("messagePhoto");
        fake_set(m, "photo", photo_json(h));
        fake_set(m, "caption", media_caption(cap));
        fake_set_bool(m, "show_caption_above_media", false);
        fake_set_bool(m, "has_spoiler", false);
        fake_set_bool(m, "is_secret", false);
        return m;
    case FAKE_KIND_DOCUMENT:
        return content_document(c, s, h, s->media_name, s->media_size, media_caption(cap));
    default:
        return content_media(s->media, s, h, s->media_name, s->media_size, cap);
    }
}

static json_t *
content_poll(const struct fake_spec *s, uint64_t h)
{
    static const char *const answers[] = { "North pier", "South pier", "Anchor outside" };
    json_t *m = fake_obj("messagePoll"), *p = fake_obj("poll"), *opts = json_array();
    char q[80], oid[4];
    int votes[3], total = 0, pct_left = 100;

    for (int i = 0; i < 3; i++) {
        votes[i] = (int)(fake_hash(h, (uint64_t)i, 17) % 200);
        total += votes[i];
    }
    (void)snprintf(q, sizeof(q), "Where should ship %lld berth?", (long long)s->id);
    fake_set_i64(p, "id", (int64_t)(h >> 1));
    fake_set(p, "question", fake_formatted_text(q, NULL));
    for (int i = 0; i < 3; i++) {
        json_t *o = fake_obj("pollOption");
        int pct = total > 0 ? votes[i] * 100 / total : 0;

        if (i == 2 && total > 0)
            pct = pct_left;
        pct_left -= pct;
        (void)snprintf(oid, sizeof(oid), "%d", i);
        fake_set_str(o, "id", oid);
        fake_set(o, "text", fake_formatted_text(answers[i], NULL));
        fake_set_int(o, "voter_count", votes[i]);
        fake_set_int(o, "vote_percentage", pct);
        fake_set(o, "recent_voter_ids", fake_empty());
        fake_set_bool(o, "is_chosen", false);
        fake_set_bool(o, "is_being_chosen", false);
        fake_set_int(o, "addition_date", 0);
        json_array_append_new(opts, o);
    }
    fake_set(p, "options", opts);
    fake_set_int(p, "total_voter_count", total);
    fake_set(p, "recent_voter_ids", fake_empty());
    fake_set_bool(p, "can_get_voters", false);
    fake_set_bool(p, "can_see_results", true);
    fake_set_bool(p, "is_anonymous", true);
    fake_set_bool(p, "allows_multiple_answers", false);
    fake_set_bool(p, "allows_revoting", true);
    fake_set_bool(p, "members_only", false);
    fake_set(p, "country_codes", fake_empty());
    fake_set(p, "option_order", fake_empty());
    fake_set(p, "type", fake_obj("pollTypeRegular"));
    fake_set_int(p, "open_period", 0);
    fake_set_int(p, "close_date", 0);
    fake_set_bool(p, "is_closed", false);
    fake_set(m, "poll", p);
    fake_set(m, "description", fake_formatted_text("", NULL));
    fake_set_bool(m, "can_add_option", false);
    return m;
}

static json_t *
content_service(struct fake_world *w, struct fake_chat *c, const struct fake_spec *s, uint64_t h)
{
    json_t *m;

    if (c->kind == FAKE_CHANNEL || c->kind == FAKE_PRIVATE) {
        int64_t prev = fake_chat_prev(w, c, s->id);

        if ((h >> 28) % 2 == 0 && prev != 0) {
            m = fake_obj("messagePinMessage");
            fake_set_int(m, "message_id", SHIFT(prev));
            return m;
        }
        m = fake_obj("messageChatChangeTitle");
        fake_set_str(m, "title", c->title);
        return m;
    }
    if ((h >> 28) % 2 == 0)
        return fake_obj("messageChatJoinByLink");
    m = fake_obj("messageChatAddMembers");
    fake_set(m, "member_user_ids", json_pack("[I]", (json_int_t)s->sender_user_id));
    return m;
}

static json_t *
content_topic_created(struct fake_chat *c, const struct fake_spec *s)
{
    json_t *m = fake_obj("messageForumTopicCreated"), *icon = fake_obj("forumTopicIcon");
    const char *name = "Topic";
    int32_t color = 0x6FB9F0;

    for (size_t i = 0; i < c->ntopics; i++) {
        if (c->topics[i].id == s->id) {
            name = c->topics[i].name;
            color = c->topics[i].color;
        }
    }
    fake_set_str(m, "name", name);
    fake_set_bool(m, "is_name_implicit", false);
    fake_set_int(icon, "color", color);
    fake_set_i64(icon, "custom_emoji_id", 0);
    fake_set(m, "icon", icon);
    return m;
}

static json_t *
content_text(struct fake_chat *c, const struct fake_spec *s, uint64_t h)
{
    json_t *m = fake_obj("messageText");
    char lead[64];

    if (s->kind == FAKE_KIND_COMMENT)
        (void)snprintf(lead, sizeof(lead), "Comment %lld on post %lld", (long long)s->id,
                       (long long)s->post_id);
    else
        (void)snprintf(lead, sizeof(lead), "Report %lld", (long long)s->id);
    fake_set(m, "text", gen_text(c, s, h, lead));
    return m;
}

/*
 * "same_file_as": the other message's content, so its files (the same
 * remote files, posted again) with their unique ids; the message's own text,
 * if any, as the caption. A message that is gone leaves plain text.
 */
static json_t *
content_same(struct fake_world *w, struct fake_chat *c, const struct fake_spec *s, uint64_t h)
{
    static int depth; /* a chain of messages sharing files, or a loop */
    struct fake_chat *src = fake_world_chat(w, s->same_chat_id != 0 ? s->same_chat_id : c->id);
    struct fake_spec ss;
    const struct fake_ovl *sm;
    json_t *m, *copy;

    if (src == NULL || depth >= 8 || (src == c && s->same_id == s->id) ||
        !fake_chat_message(w, src, s->same_id, &ss, &sm))
        return content_text(c, s, h);
    depth++;
    m = fake_message_content(w, src, &ss, sm);
    depth--;
    if (s->content == NULL || json_object_get(m, "caption") == NULL)
        return m;
    copy = json_copy(m);
    json_decref(m);
    json_object_set(copy, "caption", s->content);
    return copy;
}

json_t *
fake_message_content(struct fake_world *w, struct fake_chat *c, const struct fake_spec *s,
                     const struct fake_ovl *mods)
{
    uint64_t h = fake_hash(w->seed ^ 0xC0FFEE, (uint64_t)c->id, (uint64_t)s->id);

    if (mods != NULL && mods->content != NULL)
        return json_incref(mods->content);
    switch (s->kind) {
    case FAKE_KIND_JSON:
        return json_incref(s->content);
    case FAKE_KIND_PHOTO:
        return content_photo(c, s, h, false);
    case FAKE_KIND_ALBUM:
        return content_photo(c, s, h, true);
    case FAKE_KIND_DOCUMENT:
        return content_document(c, s, h, NULL, 0, NULL);
    case FAKE_KIND_VIDEO:
    case FAKE_KIND_AUDIO:
    case FAKE_KIND_VOICE_NOTE:
    case FAKE_KIND_VIDEO_NOTE:
    case FAKE_KIND_ANIMATION:
    case FAKE_KIND_STICKER:
        return content_media(s->kind, s, h, NULL, 0, NULL);
    case FAKE_KIND_MEDIA:
        return content_explicit_media(c, s, h);
    case FAKE_KIND_SAME:
        return content_same(w, c, s, h);
    case FAKE_KIND_POLL:
        return content_poll(s, h);
    case FAKE_KIND_SERVICE:
        return content_service(w, c, s, h);
    case FAKE_KIND_TOPIC_CREATED:
        return content_topic_created(c, s);
    case FAKE_KIND_ROOT: {
        /* the same content as the post, edits included */
        struct fake_chat *ch = fake_world_chat(w, s->post_chat_id);
        struct fake_spec ps;
        const struct fake_ovl *pm;

        if (ch != NULL && fake_chat_message(w, ch, s->post_id, &ps, &pm))
            return fake_message_content(w, ch, &ps, pm);
        return content_text(c, s, h);
    }
    case FAKE_KIND_TEXT:
    case FAKE_KIND_FORWARD:
    case FAKE_KIND_REPLY:
    case FAKE_KIND_COMMENT:
    default:
        return content_text(c, s, h);
    }
}

static json_t *
sender_json(int64_t user_id, int64_t chat_id)
{
    json_t *o;

    if (user_id != 0) {
        o = fake_obj("messageSenderUser");
        fake_set_int(o, "user_id", user_id);
    } else {
        o = fake_obj("messageSenderChat");
        fake_set_int(o, "chat_id", chat_id);
    }
    return o;
}

static json_t *
forward_info(const struct fake_spec *s, uint64_t h)
{
    json_t *f = fake_obj("messageForwardInfo"), *o;

    if (s->kind == FAKE_KIND_ROOT) {
        json_t *src = fake_obj("forwardSource");

        o = fake_obj("messageOriginChannel");
        fake_set_int(o, "chat_id", s->post_chat_id);
        fake_set_int(o, "message_id", SHIFT(s->post_id));
        fake_set_str(o, "author_signature", "");
        fake_set(f, "origin", o);
        fake_set_int(f, "date", s->post_date);
        fake_set_int(src, "chat_id", s->post_chat_id);
        fake_set_int(src, "message_id", SHIFT(s->post_id));
        fake_set(src, "sender_id", sender_json(0, s->post_chat_id));
        fake_set_str(src, "sender_name", "");
        fake_set_int(src, "date", s->post_date);
        fake_set_bool(src, "is_outgoing", false);
        fake_set(f, "source", src);
        fake_set_str(f, "public_service_announcement_type", "");
        return f;
    }
    switch ((h >> 30) % 3) {
    case 0:
        o = fake_obj("messageOriginChannel");
        fake_set_int(o, "chat_id", -INT64_C(1001999999990) - (int64_t)((h >> 32) % 3));
        fake_set_int(o, "message_id", SHIFT(1 + (h >> 34) % 5000));
        fake_set_str(o, "author_signature", "");
        break;
    case 1:
        o = fake_obj("messageOriginUser");
        fake_set_int(o, "sender_user_id", 1000000 + (int64_t)((h >> 32) % 40));
        break;
    default:
        o = fake_obj("messageOriginHiddenUser");
        fake_set_str(o, "sender_name", "Anonymous sailor");
        break;
    }
    fake_set(f, "origin", o);
    fake_set_int(f, "date", s->date - 3600 * (int32_t)(1 + (h >> 36) % 24));
    fake_set_str(f, "public_service_announcement_type", "");
    return f;
}

static json_t *
gen_reactions(int seed)
{
    static const char *const emoji[] = { "👍", "❤", "🔥" };
    int counts[3] = { seed % 50 + 1, seed / 50 % 20, seed % 7 };
    json_t *list = json_array();

    for (int i = 0; i < 3; i++)
        if (counts[i] != 0)
            json_array_append_new(list, fake_reaction_json(emoji[i], counts[i]));
    return fake_reactions_json(list);
}

json_t *
fake_message_interaction(struct fake_world *w, struct fake_chat *c, const struct fake_spec *s,
                         const struct fake_ovl *mods)
{
    int32_t views = s->views, forwards = s->forwards;
    json_t *reactions = NULL, *ii;

    (void)w;
    (void)c;
    if (mods != NULL && mods->views >= 0)
        views = mods->views;
    if (mods != NULL && mods->forwards >= 0)
        forwards = mods->forwards;
    if (mods != NULL && mods->reactions != NULL)
        reactions = json_incref(mods->reactions);
    else if (s->reactions != 0)
        reactions = gen_reactions(s->reactions);
    if (views < 0 && !s->has_reply_info && reactions == NULL)
        return NULL;
    ii = fake_obj("messageInteractionInfo");
    fake_set_int(ii, "view_count", views > 0 ? views : 0);
    fake_set_int(ii, "forward_count", forwards > 0 ? forwards : 0);
    if (s->has_reply_info) {
        json_t *ri = fake_obj("messageReplyInfo");

        fake_set_int(ri, "reply_count", s->reply_count);
        fake_set(ri, "recent_replier_ids", fake_empty());
        fake_set_int(ri, "last_read_inbox_message_id", 0);
        fake_set_int(ri, "last_read_outbox_message_id", 0);
        fake_set_int(ri, "last_message_id", SHIFT(s->reply_last));
        fake_set(ii, "reply_info", ri);
    }
    fake_set(ii, "reactions", reactions);
    return ii;
}

static json_t *
reply_to_json(struct fake_chat *c, int64_t target)
{
    json_t *r = fake_obj("messageReplyToMessage");

    fake_set_int(r, "chat_id", c->id);
    fake_set_int(r, "message_id", SHIFT(target));
    fake_set_int(r, "checklist_task_id", 0);
    fake_set_str(r, "poll_option_id", "");
    fake_set_int(r, "origin_send_date", 0);
    return r;
}

json_t *
fake_message_json(struct fake_world *w, struct fake_chat *c, const struct fake_spec *s,
                  const struct fake_ovl *mods)
{
    uint64_t h = fake_hash(w->seed ^ 0xF0F0, (uint64_t)c->id, (uint64_t)s->id);
    json_t *m = fake_obj("message"), *topic = NULL;
    int32_t edit_date = mods != NULL && mods->edit_date != 0 ? mods->edit_date : s->edit_date;

    fake_set_int(m, "id", SHIFT(s->id));
    fake_set(m, "sender_id", sender_json(s->sender_user_id, s->sender_chat_id));
    fake_set_int(m, "chat_id", c->id);
    fake_set_bool(m, "is_outgoing", false);
    fake_set_bool(m, "is_pinned", false);
    fake_set_bool(m, "is_from_offline", false);
    fake_set_bool(m, "can_be_saved", true);
    fake_set_bool(m, "has_timestamped_media", false);
    fake_set_bool(m, "is_channel_post", c->kind == FAKE_CHANNEL);
    fake_set_bool(m, "is_paid_star_suggested_post", false);
    fake_set_bool(m, "is_paid_gram_suggested_post", false);
    fake_set_bool(m, "contains_unread_mention", false);
    fake_set_bool(m, "contains_unread_poll_votes", false);
    fake_set_int(m, "date", s->date);
    fake_set_int(m, "edit_date", edit_date);
    if (s->kind == FAKE_KIND_FORWARD || s->kind == FAKE_KIND_ROOT)
        fake_set(m, "forward_info", forward_info(s, h));
    fake_set(m, "interaction_info", fake_message_interaction(w, c, s, mods));
    fake_set(m, "unread_reactions", fake_empty());
    if (s->reply_to != 0)
        fake_set(m, "reply_to", reply_to_json(c, s->reply_to));
    if (s->thread != 0) {
        topic = fake_obj("messageTopicThread");
        fake_set_int(topic, "message_thread_id", SHIFT(s->thread));
    } else if (s->topic != 0) {
        topic = fake_obj("messageTopicForum");
        fake_set_int(topic, "forum_topic_id", s->topic);
    }
    fake_set(m, "topic_id", topic);
    json_object_set_new_nocheck(m, "self_destruct_in", json_real(0.0));
    json_object_set_new_nocheck(m, "auto_delete_in", json_real(0.0));
    fake_set_int(m, "via_bot_user_id", 0);
    fake_set_int(m, "sender_business_bot_user_id", 0);
    fake_set_int(m, "sender_boost_count", 0);
    fake_set_str(m, "sender_tag", "");
    fake_set_int(m, "paid_message_star_count", 0);
    fake_set_str(m, "author_signature", s->author_signature);
    fake_set_i64(m, "media_album_id", s->album_id);
    fake_set_i64(m, "effect_id", 0);
    fake_set_str(m, "summary_language_code", "");
    fake_set(m, "content", fake_message_content(w, c, s, mods));
    fake_set_int(m, "ephemeral_message_id", 0);
    return m;
}
