/* SPDX-License-Identifier: MIT */
/*
 * codec.c - the schema_version 1 JSON form of a message event, the shape in
 * docs/internals/model.md. Each JSON object is described once by a field
 * table (codec_int.h) that drives decoding (codec_decode.c), validation and
 * the content hash check (codec_validate.c), encoding and the hash
 * (codec_encode.c) and equality. This file compares and merges versions of
 * one message: field-by-field equality, same state of two encodings, merge.
 */
#include "core/codec.h"

#include <string.h>

#include "core/codec_int.h"

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
        /* The warnings are those of the reading that made this version, never older ones. */
        if (strcmp(key, "warnings") == 0)
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
