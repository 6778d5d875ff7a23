/* SPDX-License-Identifier: MIT */
/*
 * codec.c - the schema_version 1 JSON form of a message event: encode, strict
 * decode, validation and the content hash. Each JSON object is described once
 * by a field table that drives decoding, validation, equality and encoding, so
 * the four cannot disagree about a field. The shape is in docs/internals/model.md.
 */
#include "core/codec.h"

#include <inttypes.h>
#include <string.h>

#include "core/codec_int.h"
#include "core/time.h"

/* ---- validation ------------------------------------------------------------ */

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool
utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i];
        size_t len;
        uint32_t cp, min;

        if (c < 0x80) {
            uint64_t w;

            /* Text is mostly ASCII: skip it eight bytes at a time. */
            while (n - i >= 8 && (memcpy(&w, p + i, 8), (w & UINT64_C(0x8080808080808080)) == 0))
                i += 8;
            if (i < n && p[i] < 0x80)
                i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

struct vctx {
    const char *path; /* as for fail() */
    long idx;
    bool utf8;    /* check strings are UTF-8 (not needed for what jansson parsed) */
    bool present; /* the enclosing object exists, so F_REQ applies */
};

static tgh_err
check_int(const struct vctx *c, const struct field *f, int64_t v)
{
    bool bad;
    const char *want;

    if (v == MSG_UNSET)
        return (f->flags & F_REQ) && c->present
                   ? fail(TGH_EINVAL, c->path, c->idx, f->key, "required")
                   : TGH_OK;
    switch (f->rule) {
    case R_POS:
        bad = v <= 0, want = "> 0";
        break;
    case R_NONNEG:
        bad = v < 0, want = ">= 0";
        break;
    case R_NONZERO:
        bad = v == 0, want = "!= 0";
        break;
    case R_TIME: /* a later date is corrupt input */
        bad = v < 0 || v > TGH_TIME_MAX, want = "a Unix time in 0..253402300799 (year 9999)";
        break;
    default:
        bad = false, want = "";
        break;
    }
    return bad ? fail(TGH_EINVAL, c->path, c->idx, f->key, "must be %s, got %" PRId64, want, v)
               : TGH_OK;
}

static tgh_err
check_str(const struct vctx *c, const struct field *f, const char *s)
{
    size_t n, max = (f->flags & F_BIG) ? MSG_MAX_TEXT_BYTES : MSG_MAX_STRING_BYTES;

    if (s == NULL)
        return (f->flags & F_REQ) && c->present
                   ? fail(TGH_EINVAL, c->path, c->idx, f->key, "required")
                   : TGH_OK;
    n = strlen(s);
    if (n > max)
        return fail(TGH_ETOOBIG, c->path, c->idx, f->key, "%zu bytes, at most %zu", n, max);
    if (n == 0 && (f->flags & F_NONEMPTY))
        return fail(TGH_EINVAL, c->path, c->idx, f->key, "must not be empty");
    if (c->utf8 && !utf8_valid(s, n))
        return fail(TGH_EINVAL, c->path, c->idx, f->key, "not valid UTF-8");
    return TGH_OK;
}

static tgh_err
check_field(const struct vctx *c, const void *base, const struct field *f)
{
    const void *p = CAT(base, f);
    static const int enum_max[] = { [K_OP] = MSG_OP_DELETE,
                                    [K_SOURCE] = MSG_SOURCE_BOTAPI,
                                    [K_CHAT_TYPE] = MSG_CHAT_CHANNEL,
                                    [K_PEER_TYPE] = MSG_PEER_CHANNEL };
    double d;
    json_t *j;

    switch (f->kind) {
    case K_INT:
        return check_int(c, f, *(const int64_t *)p);
    case K_STR:
        return check_str(c, f, *(const char *const *)p);
    case K_REAL:
        d = *(const double *)p;
        if (f->rule == R_LAT && !(d >= -90.0 && d <= 90.0))
            return fail(TGH_EINVAL, c->path, c->idx, f->key, "must be in [-90, 90], got %g", d);
        if (f->rule == R_LON && !(d >= -180.0 && d <= 180.0))
            return fail(TGH_EINVAL, c->path, c->idx, f->key, "must be in [-180, 180], got %g", d);
        return TGH_OK;
    case K_OP:
    case K_SOURCE:
    case K_CHAT_TYPE:
    case K_PEER_TYPE:
        if (enum_at(p, f->kind) < 0 || enum_at(p, f->kind) > enum_max[f->kind])
            return fail(TGH_EINVAL, c->path, c->idx, f->key, "invalid value %d",
                        enum_at(p, f->kind));
        return TGH_OK;
    case K_JSON_OBJ:
    case K_JSON_ARR:
        j = *(json_t *const *)p;
        if (j != NULL && json_typeof(j) != (f->kind == K_JSON_OBJ ? JSON_OBJECT : JSON_ARRAY))
            return fail(TGH_EINVAL, c->path, c->idx, f->key, "must be an %s, got %s",
                        f->kind == K_JSON_OBJ ? "object" : "array", jtype(j));
        return TGH_OK;
    default:
        return TGH_OK;
    }
}

static tgh_err
check_fields(const struct vctx *c, const void *base, const struct field *fs, size_t n)
{
    tgh_err rc;

    for (size_t i = 0; i < n; i++)
        if ((rc = check_field(c, base, &fs[i])) != TGH_OK)
            return rc;
    return TGH_OK;
}

/* An array of n structs of elem bytes each, every one checked against fs. */
static tgh_err
check_array(bool utf8, const char *path, const void *arr, size_t n, size_t cap, size_t elem,
            const struct field *fs, size_t nf)
{
    tgh_err rc;

    if (n > cap)
        return fail(TGH_ETOOBIG, path, -1, NULL, "%zu items, at most %zu", n, cap);
    if (n > 0 && arr == NULL)
        return fail(TGH_EINVAL, path, -1, NULL, "%zu items but no array", n);
    for (size_t i = 0; i < n; i++) {
        struct vctx c = { path, (long)i, utf8, true };

        if ((rc = check_fields(&c, (const char *)arr + i * elem, fs, nf)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

/* Entity bounds are UTF-16 code units of the text, as Telegram counts them. */
static tgh_err
check_entity_bounds(const struct msg_event *ev)
{
    int64_t units;

    if (ev->n_entities == 0)
        return TGH_OK;
    if (ev->text == NULL || ev->text[0] == '\0')
        return fail(TGH_EINVAL, NULL, -1, "entities", "need a non-empty text");
    units = msg_utf16_len(ev->text, strlen(ev->text));
    for (size_t i = 0; i < ev->n_entities; i++) {
        const struct msg_entity *e = &ev->entities[i];

        if (e->offset > units)
            return fail(TGH_EINVAL, "entities", (long)i, "offset",
                        "%" PRId64 " is past the end of the text (%" PRId64 " UTF-16 units)",
                        e->offset, units);
        if (e->length > units - e->offset)
            return fail(TGH_EINVAL, "entities", (long)i, "length",
                        "offset %" PRId64 " + length %" PRId64 " exceeds the text (%" PRId64
                        " UTF-16 units)",
                        e->offset, e->length, units);
    }
    return TGH_OK;
}

/* A part of the event held by pointer (media, location, contact). */
static tgh_err
check_part(bool utf8, const char *path, const void *part, const struct field *fs, size_t n)
{
    struct vctx c = { path, -1, utf8, true };

    return part == NULL ? TGH_OK : check_fields(&c, part, fs, n);
}

static tgh_err
check_parts(const struct msg_event *ev, bool utf8)
{
    const struct msg_poll *p = ev->poll;
    tgh_err rc;

    if ((rc = check_part(utf8, "media", ev->media, media_fields, TGH_NELEM(media_fields))) ||
        (rc = check_part(utf8, "location", ev->location, location_fields,
                         TGH_NELEM(location_fields))) ||
        (rc =
             check_part(utf8, "contact", ev->contact, contact_fields, TGH_NELEM(contact_fields))) ||
        (rc = check_part(utf8, "poll", p, poll_fields, TGH_NELEM(poll_fields))))
        return rc;
    if (p != NULL)
        return check_array(utf8, "poll.answers", p->answers, p->n_answers, MSG_MAX_POLL_ANSWERS,
                           sizeof(*p->answers), answer_fields, TGH_NELEM(answer_fields));
    return TGH_OK;
}

static tgh_err
check_body(const struct msg_event *ev, bool utf8)
{
    tgh_err rc;

    rc = check_array(utf8, "entities", ev->entities, ev->n_entities, MSG_MAX_ENTITIES,
                     sizeof(*ev->entities), entity_fields, TGH_NELEM(entity_fields));
    if (rc == TGH_OK)
        rc = check_entity_bounds(ev);
    if (rc == TGH_OK && ev->n_reactions > 0 && !ev->has_reactions)
        rc = fail(TGH_EINVAL, NULL, -1, "reactions", "items but has_reactions is false");
    if (rc == TGH_OK)
        rc = check_array(utf8, "reactions", ev->reactions, ev->n_reactions, MSG_MAX_REACTIONS,
                         sizeof(*ev->reactions), reaction_fields, TGH_NELEM(reaction_fields));
    if (rc == TGH_OK)
        rc = check_parts(ev, utf8);
    return rc;
}

static tgh_err
check_hash(const struct msg_event *ev)
{
    char want[MSG_HASH_HEX_LEN + 1];
    tgh_err rc;

    if (ev->content_hash[0] == '\0')
        return fail(TGH_EINVAL, NULL, -1, "content_hash", "missing (event not finalized)");
    for (size_t i = 0; i < MSG_HASH_HEX_LEN; i++) {
        char h = ev->content_hash[i];

        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')))
            return fail(TGH_EINVAL, NULL, -1, "content_hash", "must be %d lowercase hex digits",
                        MSG_HASH_HEX_LEN);
    }
    if (ev->content_hash[MSG_HASH_HEX_LEN] != '\0')
        return fail(TGH_EINVAL, NULL, -1, "content_hash", "must be %d lowercase hex digits",
                    MSG_HASH_HEX_LEN);
    if ((rc = codec_content_hash(ev, want)) != TGH_OK)
        return rc;
    if (memcmp(want, ev->content_hash, MSG_HASH_HEX_LEN) != 0)
        return fail(TGH_EINVAL, NULL, -1, "content_hash", "does not match the content (%s)", want);
    return TGH_OK;
}

/*
 * Every struct-level rule. utf8: also check string encoding (skipped for what
 * jansson parsed, which it already checked); hash: also check content_hash.
 */
tgh_err
codec_event_check(const struct msg_event *ev, bool utf8, bool hash)
{
    struct vctx top = { NULL, -1, utf8, true };
    tgh_err rc;

    if (ev->schema_version != MSG_SCHEMA_VERSION)
        return fail(TGH_EINVAL, NULL, -1, "schema_version", "unsupported version %d (expected %d)",
                    ev->schema_version, MSG_SCHEMA_VERSION);
    if ((rc = check_fields(&top, ev, top_fields, TGH_NELEM(top_fields))) != TGH_OK)
        return rc;
    for (size_t i = 0; i < TGH_NELEM(groups); i++) {
        const struct group *g = &groups[i];
        struct vctx c = { g->key, -1, utf8, group_set(ev, g->f, g->n) };

        if ((rc = check_fields(&c, ev, g->f, g->n)) != TGH_OK)
            return rc;
    }
    if (ev->op == MSG_OP_UPSERT && ev->date == MSG_UNSET)
        return fail(TGH_EINVAL, NULL, -1, "date", "required for an upsert");
    if ((rc = check_body(ev, utf8)) != TGH_OK)
        return rc;
    return hash ? check_hash(ev) : TGH_OK;
}

tgh_err
codec_event_validate(const struct msg_event *ev)
{
    return codec_event_check(ev, true, true);
}

tgh_err
codec_event_finalize(struct msg_event *ev)
{
    char hex[MSG_HASH_HEX_LEN + 1];
    tgh_err rc;

    if ((rc = codec_event_check(ev, true, false)) != TGH_OK)
        return rc;
    if ((rc = codec_content_hash(ev, hex)) != TGH_OK)
        return rc;
    memcpy(ev->content_hash, hex, sizeof(hex));
    return TGH_OK;
}

/* ---- equality ---------------------------------------------------------------- */

static bool
str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
field_eq(const void *a, const void *b, const struct field *f)
{
    const void *pa = CAT(a, f), *pb = CAT(b, f);
    json_t *ja, *jb;

    switch (f->kind) {
    case K_INT:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    case K_STR:
        return str_eq(*(const char *const *)pa, *(const char *const *)pb);
    case K_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case K_REAL: /* bit for bit: -0.0 and 0.0 encode differently */
        return memcmp(pa, pb, sizeof(double)) == 0;
    case K_JSON:
    case K_JSON_OBJ:
    case K_JSON_ARR:
        ja = *(json_t *const *)pa;
        jb = *(json_t *const *)pb;
        return ja == jb || (ja != NULL && jb != NULL && json_equal(ja, jb));
    case K_SPECIAL:
        return true;
    default:
        return enum_at(pa, f->kind) == enum_at(pb, f->kind);
    }
}

static bool
fields_eq(const void *a, const void *b, const struct field *fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!field_eq(a, b, &fs[i]))
            return false;
    return true;
}

static bool
part_eq(const void *a, const void *b, const struct field *fs, size_t n)
{
    return a == b || (a != NULL && b != NULL && fields_eq(a, b, fs, n));
}

static bool
array_eq(const void *a, size_t na, const void *b, size_t nb, size_t elem, const struct field *fs,
         size_t nf)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!fields_eq((const char *)a + i * elem, (const char *)b + i * elem, fs, nf))
            return false;
    return true;
}

bool
codec_event_equal(const struct msg_event *a, const struct msg_event *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || a->schema_version != b->schema_version ||
        a->has_reactions != b->has_reactions ||
        strncmp(a->content_hash, b->content_hash, sizeof(a->content_hash)) != 0 ||
        !fields_eq(a, b, top_fields, TGH_NELEM(top_fields)))
        return false;
    for (size_t i = 0; i < TGH_NELEM(groups); i++)
        if (!fields_eq(a, b, groups[i].f, groups[i].n))
            return false;
    if (!array_eq(a->entities, a->n_entities, b->entities, b->n_entities, sizeof(*a->entities),
                  entity_fields, TGH_NELEM(entity_fields)) ||
        !array_eq(a->reactions, a->n_reactions, b->reactions, b->n_reactions, sizeof(*a->reactions),
                  reaction_fields, TGH_NELEM(reaction_fields)) ||
        !part_eq(a->media, b->media, media_fields, TGH_NELEM(media_fields)) ||
        !part_eq(a->location, b->location, location_fields, TGH_NELEM(location_fields)) ||
        !part_eq(a->contact, b->contact, contact_fields, TGH_NELEM(contact_fields)) ||
        !part_eq(a->poll, b->poll, poll_fields, TGH_NELEM(poll_fields)))
        return false;
    return a->poll == NULL ||
           array_eq(a->poll->answers, a->poll->n_answers, b->poll->answers, b->poll->n_answers,
                    sizeof(*a->poll->answers), answer_fields, TGH_NELEM(answer_fields));
}

/* Where the observed_at member starts and ends in a canonical encoding. */
static bool
find_observed(const char *s, size_t len, size_t *start, size_t *end)
{
    static const char key[] = ",\"observed_at\":";
    static const char chat[] = ",\"chat\":";
    /* Canonical order puts observed_at before chat: never look into later values. */
    const char *limit = memmem(s, len, chat, sizeof(chat) - 1);
    const char *p = memmem(s, limit != NULL ? (size_t)(limit - s) : len, key, sizeof(key) - 1);
    size_t i;

    if (p == NULL)
        return false;
    i = (size_t)(p - s) + sizeof(key) - 1;
    while (i < len && (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')))
        i++;
    *start = (size_t)(p - s);
    *end = i;
    return true;
}

bool
codec_event_same_state(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t as, ae, bs, be;
    bool ha = find_observed(a, alen, &as, &ae), hb = find_observed(b, blen, &bs, &be);

    if (!ha)
        as = ae = alen;
    if (!hb)
        bs = be = blen;
    /* observed_at comes before every free-text field, so its first match is the member. */
    return as == bs && memcmp(a, b, as) == 0 && alen - ae == blen - be &&
           memcmp(a + ae, b + be, alen - ae) == 0;
}

/* Nested objects whose missing keys are filled from the older version. */
static const char *const merge_nested[] = {
    "chat", "sender", "reply_to", "forward", "media", "poll", "location", "contact",
};

/* Keys whose values make up the content (content_hash), not the state. */
static bool
is_content_key(const char *key)
{
    static const char *const content[] = { "text",     "entities", "media",  "poll",
                                           "location", "contact",  "action", "buttons" };

    for (size_t i = 0; i < TGH_NELEM(content); i++)
        if (strcmp(key, content[i]) == 0)
            return true;
    return false;
}

tgh_err
codec_event_merge(const char *older, size_t older_len, const struct msg_event *newer,
                  struct tgh_arena *a, struct msg_event *out)
{
    const char *old_hash;
    bool same_content;
    json_error_t jerr;
    json_t *old = NULL, *merged = NULL;
    const char *key;
    json_t *v;
    tgh_err rc;

    msg_event_init(out);
    old = json_loadb(older, older_len, 0, &jerr);
    if (old == NULL || !json_is_object(old)) {
        rc = tgh_errf(TGH_EINVAL, "stored event: invalid JSON: %s", jerr.text);
        goto out;
    }
    merged = codec_event_to_json(newer);
    if (merged == NULL) {
        rc = TGH_EINVAL; /* detail recorded */
        goto out;
    }
    old_hash = json_string_value(json_object_get(old, "content_hash"));
    same_content = old_hash != NULL && strcmp(old_hash, newer->content_hash) == 0;
    json_object_foreach (old, key, v) {
        json_t *mine = json_object_get(merged, key);

        /* Content the newer version dropped stays dropped: only state carries over. */
        if (!same_content && is_content_key(key))
            continue;
        if (mine == NULL) {
            (void)json_object_set(merged, key, v);
            continue;
        }
        for (size_t i = 0; i < TGH_NELEM(merge_nested); i++) {
            const char *k;
            json_t *sv;

            if (strcmp(key, merge_nested[i]) != 0 || !json_is_object(v) || !json_is_object(mine))
                continue;
            json_object_foreach (v, k, sv) {
                if (json_object_get(mine, k) == NULL)
                    (void)json_object_set(mine, k, sv);
            }
        }
    }
    /* chat.type is always written; "unknown" is the absence of knowledge. */
    {
        json_t *mc = json_object_get(merged, "chat"), *oc = json_object_get(old, "chat");
        json_t *ot = json_object_get(oc, "type");
        const char *mt = json_string_value(json_object_get(mc, "type"));

        if (json_is_object(mc) && json_is_string(ot) && mt != NULL && strcmp(mt, "unknown") == 0)
            (void)json_object_set(mc, "type", ot);
    }
    rc = codec_event_from_json(merged, a, out);
out:
    json_decref(old);
    json_decref(merged);
    return rc;
}
