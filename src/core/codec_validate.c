/* SPDX-License-Identifier: MIT */
/*
 * codec_validate.c - the struct-level rules of an event, which the decoder
 * applies to what it read and sources apply before handing an event on:
 * required fields, ranges, caps, UTF-8, entity bounds and the content hash;
 * codec_event_validate() and codec_event_finalize().
 */
#include "core/codec.h"

#include <inttypes.h>
#include <string.h>

#include "core/codec_int.h"
#include "core/time.h"

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
    if (ev->warnings != NULL) {
        size_t i;
        json_t *w;

        if (json_array_size(ev->warnings) > MSG_MAX_WARNINGS)
            return fail(TGH_ETOOBIG, NULL, -1, "warnings", "%zu warnings, at most %d",
                        json_array_size(ev->warnings), MSG_MAX_WARNINGS);
        json_array_foreach (ev->warnings, i, w) {
            const char *k = json_string_value(json_object_get(w, "kind"));

            if (!json_is_object(w) || k == NULL || *k == '\0')
                return fail(TGH_EINVAL, "warnings", (int)i, "kind",
                            "a warning is an object with a kind");
        }
    }
    if (ev->deleted_after != MSG_UNSET && ev->op != MSG_OP_DELETE)
        return fail(TGH_EINVAL, NULL, -1, "deleted_after", "only a delete has it");
    if (ev->deleted_after != MSG_UNSET && ev->observed_at != MSG_UNSET &&
        ev->deleted_after > ev->observed_at)
        return fail(TGH_EINVAL, NULL, -1, "deleted_after",
                    "%" PRId64 " is after observed_at %" PRId64, ev->deleted_after,
                    ev->observed_at);
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
