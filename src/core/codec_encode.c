/* SPDX-License-Identifier: MIT */
/*
 * codec_encode.c - an event as canonical JSON (keys in the order of
 * docs/internals/model.md, absent values omitted), as text with a size cap,
 * cached in the event, and the content hash over the canonical content object.
 */
#include "core/codec.h"

#include <string.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/codec_int.h"

/* Keys are literals, so the unchecked setter; a NULL value (bad UTF-8, NaN) clears *ok. */
static void
set(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (json_object_set_new_nocheck(o, key, v) != 0)
        *ok = false;
}

static void
put_int(json_t *o, const char *key, int64_t v, bool *ok)
{
    if (v != MSG_UNSET)
        set(o, key, json_integer(v), ok);
}

static void
put_str(json_t *o, const char *key, const char *s, bool *ok)
{
    if (s != NULL)
        set(o, key, json_string(s), ok);
}

/* The event keeps its reference; the object takes one of its own. */
static void
put_json(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (v != NULL)
        set(o, key, json_incref(v), ok);
}

static void
put_field(json_t *o, const void *base, const struct field *f, bool *ok)
{
    const void *p = CAT(base, f);

    switch (f->kind) {
    case K_INT:
        put_int(o, f->key, *(const int64_t *)p, ok);
        break;
    case K_STR:
        put_str(o, f->key, *(const char *const *)p, ok);
        break;
    case K_BOOL:
        if (*(const bool *)p)
            set(o, f->key, json_true(), ok);
        break;
    case K_REAL:
        set(o, f->key, json_real(*(const double *)p), ok);
        break;
    case K_OP:
    case K_SOURCE:
    case K_CHAT_TYPE:
    case K_PEER_TYPE:
        if (enum_name(p, f->kind) != NULL)
            set(o, f->key, json_string_nocheck(enum_name(p, f->kind)), ok);
        break;
    case K_JSON:
    case K_JSON_OBJ:
    case K_JSON_ARR:
        put_json(o, f->key, *(json_t *const *)p, ok);
        break;
    default:
        break;
    }
}

/* The fields of base as a new object; hash_only keeps the F_HASH ones. */
static json_t *
fields_json(const void *base, const struct field *fs, size_t n, bool hash_only, bool *ok)
{
    json_t *o = json_object();

    for (size_t i = 0; i < n; i++)
        if (!hash_only || (fs[i].flags & F_HASH))
            put_field(o, base, &fs[i], ok);
    return o;
}

static void
put_group(json_t *o, const struct msg_event *ev, int g, bool hash_only, bool *ok)
{
    const struct group *gr = &groups[g];

    if (group_set(ev, gr->f, gr->n))
        set(o, gr->key, fields_json(ev, gr->f, gr->n, hash_only, ok), ok);
}

static void
put_part(json_t *o, const char *key, const void *part, const struct field *fs, size_t n,
         bool hash_only, bool *ok)
{
    if (part != NULL)
        set(o, key, fields_json(part, fs, n, hash_only, ok), ok);
}

static void
put_array(json_t *o, const char *key, const void *arr, size_t n, size_t elem,
          const struct field *fs, size_t nf, bool hash_only, bool *ok)
{
    json_t *a;

    if (n == 0)
        return;
    a = json_array();
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(
                a, fields_json((const char *)arr + i * elem, fs, nf, hash_only, ok)) != 0)
            *ok = false;
    set(o, key, a, ok);
}

static void
put_poll(json_t *o, const struct msg_poll *p, bool hash_only, bool *ok)
{
    json_t *po, *a;

    if (p == NULL)
        return;
    po = fields_json(p, poll_fields, TGH_NELEM(poll_fields), hash_only, ok);
    if (!hash_only) {
        put_array(po, "answers", p->answers, p->n_answers, sizeof(*p->answers), answer_fields,
                  TGH_NELEM(answer_fields), false, ok);
    } else if (p->n_answers > 0) {
        /* Vote counts change while the poll runs; the options are the content. */
        a = json_array();
        for (size_t i = 0; i < p->n_answers; i++)
            if (json_array_append_new(a, json_string(p->answers[i].text)) != 0)
                *ok = false;
        set(po, "answers", a, ok);
    }
    set(o, "poll", po, ok);
}

/* The canonical content object that content_hash is computed over. */
static json_t *
content_json(const struct msg_event *ev, bool *ok)
{
    json_t *o = json_object();

    if (ev->op == MSG_OP_DELETE)
        return o;
    put_str(o, "text", ev->text, ok);
    put_array(o, "entities", ev->entities, ev->n_entities, sizeof(*ev->entities), entity_fields,
              TGH_NELEM(entity_fields), true, ok);
    put_part(o, "media", ev->media, media_fields, TGH_NELEM(media_fields), true, ok);
    put_poll(o, ev->poll, true, ok);
    put_part(o, "location", ev->location, location_fields, TGH_NELEM(location_fields), true, ok);
    put_part(o, "contact", ev->contact, contact_fields, TGH_NELEM(contact_fields), true, ok);
    put_group(o, ev, G_ACTION, true, ok);
    put_json(o, "buttons", ev->buttons, ok);
    return o;
}

json_t *
codec_event_to_json(const struct msg_event *ev)
{
    char key[48];
    bool ok = true;
    json_t *o = json_object();

    set(o, "schema_version", json_integer(ev->schema_version), &ok);
    set(o, "op", json_string_nocheck(msg_op_name(ev->op)), &ok);
    set(o, "source", json_string_nocheck(msg_source_name(ev->source)), &ok);
    if (msg_event_key(ev, key, sizeof(key)) < 0)
        ok = false;
    else
        set(o, "idempotency_key", json_string_nocheck(key), &ok);
    put_int(o, "observed_at", ev->observed_at, &ok);
    put_group(o, ev, G_CHAT, false, &ok);
    put_int(o, "message_id", ev->message_id, &ok);
    put_int(o, "date", ev->date, &ok);
    put_int(o, "edit_date", ev->edit_date, &ok);
    put_int(o, "deleted_after", ev->deleted_after, &ok);
    put_group(o, ev, G_SENDER, false, &ok);
    put_str(o, "author_signature", ev->author_signature, &ok);
    put_str(o, "text", ev->text, &ok);
    put_array(o, "entities", ev->entities, ev->n_entities, sizeof(*ev->entities), entity_fields,
              TGH_NELEM(entity_fields), false, &ok);
    put_group(o, ev, G_REPLY, false, &ok);
    put_int(o, "thread_id", ev->thread_id, &ok);
    put_int(o, "album_id", ev->album_id, &ok);
    put_group(o, ev, G_FORWARD, false, &ok);
    put_str(o, "saved_from", ev->saved_from, &ok);
    put_str(o, "via_bot", ev->via_bot, &ok);
    put_int(o, "views", ev->views, &ok);
    put_int(o, "forwards", ev->forwards, &ok);
    put_int(o, "replies", ev->replies, &ok);
    if (ev->has_reactions && ev->n_reactions == 0)
        set(o, "reactions", json_array(), &ok); /* known to have none */
    else if (ev->has_reactions)
        put_array(o, "reactions", ev->reactions, ev->n_reactions, sizeof(*ev->reactions),
                  reaction_fields, TGH_NELEM(reaction_fields), false, &ok);
    put_part(o, "media", ev->media, media_fields, TGH_NELEM(media_fields), false, &ok);
    put_poll(o, ev->poll, false, &ok);
    put_part(o, "location", ev->location, location_fields, TGH_NELEM(location_fields), false, &ok);
    put_part(o, "contact", ev->contact, contact_fields, TGH_NELEM(contact_fields), false, &ok);
    put_group(o, ev, G_ACTION, false, &ok);
    put_json(o, "buttons", ev->buttons, &ok);
    put_json(o, "warnings", ev->warnings, &ok);
    if (ev->content_hash[0] != '\0')
        set(o, "content_hash",
            json_stringn(ev->content_hash, strnlen(ev->content_hash, MSG_HASH_HEX_LEN + 1)), &ok);
    put_json(o, "raw", ev->raw, &ok);
    if (ok)
        return o;
    json_decref(o);
    /* Only a value JSON cannot hold gets here; validation names it. */
    if (codec_event_check(ev, true, false) == TGH_OK)
        (void)tgh_errf(TGH_EINVAL, "event: not representable as JSON");
    return NULL;
}

struct outbuf {
    char *p;
    size_t len;
    size_t cap;
    bool too_big;
};

static int
out_append(const char *s, size_t n, void *data)
{
    struct outbuf *b = data;

    if (n > MSG_MAX_EVENT_BYTES - b->len) {
        b->too_big = true;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;

        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = tgh_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

tgh_err
codec_event_encode(const struct msg_event *ev, char **out, size_t *out_len)
{
    struct outbuf b = { NULL, 0, 0, false };
    json_t *o = NULL;
    tgh_err rc = TGH_OK;

    *out = NULL;
    *out_len = 0;
    o = codec_event_to_json(ev);
    if (o == NULL)
        return TGH_EINVAL; /* detail recorded */
    if (json_dump_callback(o, out_append, &b, JSON_COMPACT) != 0 || b.p == NULL) {
        rc = b.too_big
                 ? tgh_errf(TGH_ETOOBIG, "event: encoded form over %d bytes", MSG_MAX_EVENT_BYTES)
                 : tgh_errf(TGH_EINVAL, "event: JSON output failed (raw not valid?)");
        goto out;
    }
    b.p[b.len] = '\0';
    *out = b.p;
    *out_len = b.len;
    b.p = NULL;
out:
    json_decref(o);
    tgh_free(b.p);
    return rc;
}

tgh_err
codec_event_encode_cached(struct msg_event *ev, struct tgh_arena *a)
{
    char *text = NULL;
    size_t len = 0;
    tgh_err rc;

    ev->encoded = NULL;
    ev->encoded_len = 0;
    rc = codec_event_encode(ev, &text, &len);
    if (rc != TGH_OK)
        return rc;
    ev->encoded = tgh_arena_strndup(a, text, len);
    ev->encoded_len = len;
    tgh_free(text);
    return TGH_OK;
}

/* ---- content hash -------------------------------------------------------------- */

struct hasher {
    EVP_MD_CTX *ctx;
    size_t len;
    bool failed;
    unsigned char buf[2048]; /* jansson writes in small pieces; digest them in blocks */
};

static void
hash_flush(struct hasher *h)
{
    if (h->len > 0 && EVP_DigestUpdate(h->ctx, h->buf, h->len) != 1)
        h->failed = true;
    h->len = 0;
}

static int
hash_append(const char *s, size_t n, void *data)
{
    struct hasher *h = data;

    if (n > sizeof(h->buf) - h->len) {
        hash_flush(h);
        if (n >= sizeof(h->buf)) {
            if (EVP_DigestUpdate(h->ctx, s, n) != 1)
                h->failed = true;
            return h->failed ? -1 : 0;
        }
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    return h->failed ? -1 : 0;
}

tgh_err
codec_content_hash(const struct msg_event *ev, char hex[MSG_HASH_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    struct hasher h = { NULL, 0, false, { 0 } };
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    bool ok = true;
    json_t *c = NULL;
    tgh_err rc = TGH_OK;

    c = content_json(ev, &ok);
    if (!ok) {
        rc = codec_event_check(ev, true, false);
        if (rc == TGH_OK)
            rc = tgh_errf(TGH_EINVAL, "content_hash: content not representable as JSON");
        goto out;
    }
    h.ctx = EVP_MD_CTX_new();
    if (h.ctx == NULL || EVP_DigestInit_ex(h.ctx, EVP_sha256(), NULL) != 1 ||
        json_dump_callback(c, hash_append, &h, JSON_COMPACT | JSON_SORT_KEYS) != 0) {
        rc = tgh_errf(TGH_EINVAL, "content_hash: SHA-256 failed");
        goto out;
    }
    hash_flush(&h);
    if (h.failed || EVP_DigestFinal_ex(h.ctx, md, &md_len) != 1 || md_len * 2 != MSG_HASH_HEX_LEN) {
        rc = tgh_errf(TGH_EINVAL, "content_hash: SHA-256 failed");
        goto out;
    }
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }
    hex[MSG_HASH_HEX_LEN] = '\0';
out:
    EVP_MD_CTX_free(h.ctx);
    json_decref(c);
    return rc;
}
