/* SPDX-License-Identifier: MIT */
/*
 * codec_decode.c - JSON text or a parsed tree into a struct msg_event,
 * strictly: wrong types, unknown keys, NUL characters and oversized values
 * are errors naming the field, then every rule of codec_validate.c.
 */
#include "core/codec.h"

#include <string.h>

#include "core/codec_int.h"

/* One JSON object being read. */
struct rd {
    const json_t *obj;
    const char *path; /* as for fail() */
    long idx;
    size_t seen; /* known keys found; fewer than the object has means an unknown key */
    struct tgh_arena *a;
    bool share; /* reference json values rather than copy them (the tree is ours) */
};

/* The value at key, NULL when absent or JSON null (both mean "unset"). */
static const json_t *
look(struct rd *r, const char *key)
{
    const json_t *v = json_object_get(r->obj, key);

    if (v == NULL)
        return NULL;
    r->seen++;
    return json_is_null(v) ? NULL : v;
}

static tgh_err
wrong_type(const struct rd *r, const char *key, const char *want, const json_t *v)
{
    return fail(TGH_EINVAL, r->path, r->idx, key, "expected %s, got %s", want, jtype(v));
}

static size_t
str_max(const struct field *f)
{
    return (f->flags & F_BIG) ? MSG_MAX_TEXT_BYTES : MSG_MAX_STRING_BYTES;
}

/* A JSON string without NUL: jansson can hold "\u0000", C strings cannot. */
static tgh_err
str_of(const struct rd *r, const char *key, const json_t *v, const char **s, size_t *n)
{
    if (!json_is_string(v))
        return wrong_type(r, key, "string", v);
    *s = json_string_value(v);
    *n = json_string_length(v);
    if (memchr(*s, '\0', *n) != NULL)
        return fail(TGH_EINVAL, r->path, r->idx, key, "contains a NUL character");
    return TGH_OK;
}

static tgh_err
get_int(const struct rd *r, const char *key, const json_t *v, int64_t *out)
{
    *out = MSG_UNSET;
    if (v == NULL)
        return TGH_OK;
    if (!json_is_integer(v))
        return wrong_type(r, key, "integer", v);
    if (json_integer_value(v) == MSG_UNSET) /* would read back as absent */
        return fail(TGH_EINVAL, r->path, r->idx, key, "out of range");
    *out = json_integer_value(v);
    return TGH_OK;
}

static tgh_err
get_str(const struct rd *r, const struct field *f, const json_t *v, const char **out)
{
    const char *s;
    size_t n;
    tgh_err rc;

    *out = NULL;
    if (v == NULL)
        return TGH_OK;
    if ((rc = str_of(r, f->key, v, &s, &n)) != TGH_OK)
        return rc;
    if (n > str_max(f)) /* before copying it */
        return fail(TGH_ETOOBIG, r->path, r->idx, f->key, "%zu bytes, at most %zu", n, str_max(f));
    *out = tgh_arena_strndup(r->a, s, n);
    return TGH_OK;
}

static tgh_err
get_enum(const struct rd *r, const struct field *f, const json_t *v, void *p)
{
    const char *s;
    size_t n;
    bool known;
    tgh_err rc;

    if (v == NULL)
        return (f->flags & F_REQ) ? fail(TGH_EINVAL, r->path, r->idx, f->key, "required")
                                  : TGH_OK; /* msg_event_init()'s default stays */
    if ((rc = str_of(r, f->key, v, &s, &n)) != TGH_OK)
        return rc;
    switch (f->kind) {
    case K_OP:
        known = msg_op_parse(s, p);
        break;
    case K_SOURCE:
        known = msg_source_parse(s, p);
        break;
    case K_CHAT_TYPE:
        known = msg_chat_type_parse(s, p);
        break;
    default:
        known = msg_peer_type_parse(s, p);
        break;
    }
    if (!known)
        return fail(TGH_EINVAL, r->path, r->idx, f->key, "unknown %s '%.40s'",
                    f->kind == K_CHAT_TYPE   ? "chat type"
                    : f->kind == K_PEER_TYPE ? "peer type"
                                             : f->key,
                    s);
    return TGH_OK;
}

static tgh_err
get_json(const struct rd *r, const struct field *f, const json_t *v, json_t **out)
{
    *out = NULL;
    if (v == NULL)
        return TGH_OK;
    if (f->kind == K_JSON_OBJ && !json_is_object(v))
        return wrong_type(r, f->key, "object", v);
    if (f->kind == K_JSON_ARR && !json_is_array(v))
        return wrong_type(r, f->key, "array", v);
    /* A borrowed tree may change after we return, so it is copied. */
    *out = r->share ? json_incref((json_t *)v) : json_deep_copy(v);
    if (*out == NULL)
        return fail(TGH_EINVAL, r->path, r->idx, f->key, "cannot copy value");
    return TGH_OK;
}

static tgh_err
get_field(struct rd *r, void *base, const struct field *f)
{
    void *p = AT(base, f);
    const json_t *v;

    if (f->kind == K_SPECIAL)
        return TGH_OK; /* its own reader looks it up */
    v = look(r, f->key);
    switch (f->kind) {
    case K_INT:
        return get_int(r, f->key, v, p);
    case K_STR:
        return get_str(r, f, v, p);
    case K_BOOL:
        if (v != NULL && !json_is_boolean(v))
            return wrong_type(r, f->key, "boolean", v);
        *(bool *)p = v != NULL && json_is_true(v);
        return TGH_OK;
    case K_REAL:
        if (v == NULL)
            return fail(TGH_EINVAL, r->path, r->idx, f->key, "required");
        if (!json_is_number(v))
            return wrong_type(r, f->key, "number", v);
        *(double *)p = json_number_value(v);
        return TGH_OK;
    case K_JSON:
    case K_JSON_OBJ:
    case K_JSON_ARR:
        return get_json(r, f, v, p);
    default:
        return get_enum(r, f, v, p);
    }
}

static tgh_err
check_unknown(const struct rd *r, const struct field *fs, size_t n)
{
    const char *key;
    json_t *v;

    if (r->seen == json_object_size(r->obj))
        return TGH_OK;
    json_object_foreach ((json_t *)r->obj, key, v) {
        size_t i = 0;

        (void)v;
        while (i < n && strcmp(fs[i].key, key) != 0)
            i++;
        if (i == n)
            return fail(TGH_EINVAL, r->path, r->idx, key, "unknown key");
    }
    return fail(TGH_EINVAL, r->path, r->idx, NULL, "unknown key"); /* one with a NUL in it */
}

static tgh_err
get_fields(struct rd *r, void *base, const struct field *fs, size_t n)
{
    tgh_err rc;

    for (size_t i = 0; i < n; i++)
        if ((rc = get_field(r, base, &fs[i])) != TGH_OK)
            return rc;
    return TGH_OK;
}

static tgh_err
read_fields(struct rd *r, void *base, const struct field *fs, size_t n)
{
    tgh_err rc = get_fields(r, base, fs, n);

    return rc != TGH_OK ? rc : check_unknown(r, fs, n);
}

/* The object at key as sub, named path in errors; sub->obj is NULL when unset. */
static tgh_err
open_obj(struct rd *r, const char *key, const char *path, struct rd *sub)
{
    const json_t *v = look(r, key);

    *sub = (struct rd){ v, path, -1, 0, r->a, r->share };
    if (v != NULL && !json_is_object(v)) {
        sub->obj = NULL;
        return wrong_type(r, key, "object", v);
    }
    return TGH_OK;
}

/* A part held by pointer (media, location, contact, poll) in the arena. */
static tgh_err
read_part(struct rd *r, const char *key, size_t size, const struct field *fs, size_t n, void **out)
{
    struct rd sub;
    tgh_err rc;

    *out = NULL;
    if ((rc = open_obj(r, key, key, &sub)) != TGH_OK || sub.obj == NULL)
        return rc;
    *out = tgh_arena_alloc(r->a, size);
    return read_fields(&sub, *out, fs, n);
}

/* An array of objects into an arena array of elem-byte structs; capped before allocating. */
static tgh_err
read_array(struct rd *r, const char *key, const char *path, size_t elem, const struct field *fs,
           size_t nf, size_t cap, size_t *n_out, void **out)
{
    const json_t *v = look(r, key);
    size_t n;
    tgh_err rc;

    *n_out = 0;
    *out = NULL;
    if (v == NULL)
        return TGH_OK;
    if (!json_is_array(v))
        return wrong_type(r, key, "array", v);
    n = json_array_size(v);
    if (n > cap)
        return fail(TGH_ETOOBIG, path, -1, NULL, "%zu items, at most %zu", n, cap);
    if (n == 0)
        return TGH_OK;
    *out = tgh_arena_alloc(r->a, n * elem);
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        struct rd sub = { e, path, (long)i, 0, r->a, r->share };

        if (!json_is_object(e))
            return fail(TGH_EINVAL, path, (long)i, NULL, "expected object, got %s", jtype(e));
        if ((rc = read_fields(&sub, (char *)*out + i * elem, fs, nf)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

static tgh_err
read_poll(struct rd *r, struct msg_event *ev)
{
    struct msg_poll *p;
    struct rd sub;
    void *arr;
    tgh_err rc;

    if ((rc = open_obj(r, "poll", "poll", &sub)) != TGH_OK || sub.obj == NULL)
        return rc;
    p = ev->poll = tgh_arena_alloc(r->a, sizeof(*p));
    if ((rc = get_fields(&sub, p, poll_fields, TGH_NELEM(poll_fields))) != TGH_OK)
        return rc;
    rc = read_array(&sub, "answers", "poll.answers", sizeof(*p->answers), answer_fields,
                    TGH_NELEM(answer_fields), MSG_MAX_POLL_ANSWERS, &p->n_answers, &arr);
    p->answers = arr;
    return rc != TGH_OK ? rc : check_unknown(&sub, poll_fields, TGH_NELEM(poll_fields));
}

/* schema_version first, so a newer event says so rather than "unknown key". */
static tgh_err
read_head(struct rd *r, struct msg_event *ev, const char **key)
{
    const json_t *v = look(r, "schema_version");
    const char *s;
    size_t n;
    tgh_err rc;

    if (v == NULL)
        return fail(TGH_EINVAL, NULL, -1, "schema_version", "required");
    if (!json_is_integer(v))
        return wrong_type(r, "schema_version", "integer", v);
    if (json_integer_value(v) != MSG_SCHEMA_VERSION)
        return fail(TGH_EINVAL, NULL, -1, "schema_version",
                    "unsupported version %" JSON_INTEGER_FORMAT " (expected %d)",
                    json_integer_value(v), MSG_SCHEMA_VERSION);
    ev->schema_version = MSG_SCHEMA_VERSION;

    if ((v = look(r, "idempotency_key")) == NULL)
        return fail(TGH_EINVAL, NULL, -1, "idempotency_key", "required");
    if ((rc = str_of(r, "idempotency_key", v, key, &n)) != TGH_OK)
        return rc;

    if ((v = look(r, "content_hash")) == NULL)
        return fail(TGH_EINVAL, NULL, -1, "content_hash", "required");
    if ((rc = str_of(r, "content_hash", v, &s, &n)) != TGH_OK)
        return rc;
    if (n != MSG_HASH_HEX_LEN) /* the digits themselves are checked with the hash */
        return fail(TGH_EINVAL, NULL, -1, "content_hash", "must be %d lowercase hex digits",
                    MSG_HASH_HEX_LEN);
    memcpy(ev->content_hash, s, MSG_HASH_HEX_LEN + 1);
    return TGH_OK;
}

static tgh_err
read_body(struct rd *r, struct msg_event *ev)
{
    void *p;
    tgh_err rc;

    for (size_t i = 0; i < TGH_NELEM(groups); i++) {
        struct rd sub;

        if ((rc = open_obj(r, groups[i].key, groups[i].key, &sub)) != TGH_OK)
            return rc;
        if (sub.obj != NULL && (rc = read_fields(&sub, ev, groups[i].f, groups[i].n)) != TGH_OK)
            return rc;
    }
    rc = read_array(r, "entities", "entities", sizeof(*ev->entities), entity_fields,
                    TGH_NELEM(entity_fields), MSG_MAX_ENTITIES, &ev->n_entities, &p);
    ev->entities = p;
    if (rc != TGH_OK)
        return rc;
    ev->has_reactions = json_object_get(r->obj, "reactions") != NULL &&
                        !json_is_null(json_object_get(r->obj, "reactions"));
    rc = read_array(r, "reactions", "reactions", sizeof(*ev->reactions), reaction_fields,
                    TGH_NELEM(reaction_fields), MSG_MAX_REACTIONS, &ev->n_reactions, &p);
    ev->reactions = p;
    if (rc != TGH_OK)
        return rc;
    if ((rc = read_part(r, "media", sizeof(*ev->media), media_fields, TGH_NELEM(media_fields), &p)))
        return rc;
    ev->media = p;
    if ((rc = read_part(r, "location", sizeof(*ev->location), location_fields,
                        TGH_NELEM(location_fields), &p)))
        return rc;
    ev->location = p;
    if ((rc = read_part(r, "contact", sizeof(*ev->contact), contact_fields,
                        TGH_NELEM(contact_fields), &p)))
        return rc;
    ev->contact = p;
    return read_poll(r, ev);
}

/*
 * Fill ev from root: JSON-level checks here (types, unknown keys, NUL,
 * required values the struct cannot express), then every struct-level rule
 * through codec_event_check(), the one codec_event_validate() runs.
 */
static tgh_err
read_event(const json_t *root, struct tgh_arena *a, struct msg_event *ev, bool from_text)
{
    struct rd r = { root, NULL, -1, 0, a, from_text };
    const char *key = NULL;
    char want[48];
    tgh_err rc;

    msg_event_init(ev);
    if (!json_is_object(root)) {
        rc = fail(TGH_EINVAL, NULL, -1, NULL, "expected an object, got %s",
                  root != NULL ? jtype(root) : "nothing");
        goto out;
    }
    if ((rc = read_head(&r, ev, &key)) != TGH_OK ||
        (rc = get_fields(&r, ev, top_fields, TGH_NELEM(top_fields))) != TGH_OK ||
        (rc = read_body(&r, ev)) != TGH_OK ||
        (rc = check_unknown(&r, top_fields, TGH_NELEM(top_fields))) != TGH_OK)
        goto out;
    /* jansson checked the UTF-8 of what it parsed; a borrowed tree may hold anything. */
    if ((rc = codec_event_check(ev, !from_text, true)) != TGH_OK)
        goto out;
    if (msg_event_key(ev, want, sizeof(want)) < 0 || strcmp(want, key) != 0)
        rc = fail(TGH_EINVAL, NULL, -1, "idempotency_key",
                  "'%.48s' does not match chat.id:date:message_id '%s'", key, want);
out:
    if (rc != TGH_OK)
        msg_event_fini(ev);
    return rc;
}

tgh_err
codec_event_decode(const char *json, size_t len, struct tgh_arena *a, struct msg_event *ev)
{
    json_error_t jerr;
    json_t *root;
    tgh_err rc;

    msg_event_init(ev);
    if (len > MSG_MAX_EVENT_BYTES)
        return fail(TGH_ETOOBIG, NULL, -1, NULL, "%zu bytes, at most %d", len, MSG_MAX_EVENT_BYTES);
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return tgh_errf(TGH_EINVAL, "event: invalid JSON at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
    rc = read_event(root, a, ev, true);
    json_decref(root);
    return rc;
}

tgh_err
codec_event_from_json(const json_t *obj, struct tgh_arena *a, struct msg_event *ev)
{
    return read_event(obj, a, ev, false);
}
