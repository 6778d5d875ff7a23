/* SPDX-License-Identifier: MIT */
/*
 * source_tdlib_int.h - private to the TDLib and Bot API mappers
 * (source_tdlib_*.c, source_botapi_*.c, source_parts.c): typed access to
 * JSON objects that names the path of whatever is wrong, the content parts
 * both describe alike, and the content mapping that source_tdlib_map.c
 * calls. TDLib's schema is td_api.tl; its JSON writes int64 as strings and
 * int53 as numbers.
 */
#ifndef TGH_SOURCE_SOURCE_TDLIB_INT_H
#define TGH_SOURCE_SOURCE_TDLIB_INT_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/jpath.h"
#include "core/msg.h"
#include "core/util.h"
#include "source/source.h"
#include "source/source_int.h"

/* td/telegram/MessageId.h: server message ids are shifted left by 20 bits. */
#define SERVER_ID_SHIFT 20
#define SERVER_ID_MASK  ((INT64_C(1) << SERVER_ID_SHIFT) - 1)

/* The place of the message itself, where every path of a value starts. */
#define TDL_ROOT ((const struct tgh_jpath *)NULL)

/*
 * The message's content (text, media, poll, location, contact, service
 * action) into ev; strings point into msg. Errors as for source_tdlib_map_message().
 */
TGH_MUSTCHECK tgh_err source_tdlib_content_map(const json_t *msg, struct tgh_arena *a,
                                               struct msg_event *ev);

/* ---- content parts shared by both mappers (source_parts.c) ------------------ */

/* ev->media (allocated on first use, integers unset) with kind set. */
struct msg_media *source_media_of(struct tgh_arena *a, struct msg_event *ev, const char *kind);

/* As the export: a duration only when not 0, dimensions only in pairs. */
void source_media_dims(struct msg_media *m, int64_t duration, int64_t width, int64_t height);

/*
 * The largest of an array of photo sizes (largest area, first of equals, as
 * Desktop picks it; what names the element type in errors): its dimensions
 * into m, the element into *best (NULL when none has both) at *best_i.
 */
TGH_MUSTCHECK tgh_err source_best_photo_size(const json_t *sizes, const struct tgh_jpath *at,
                                             const char *what, struct msg_media *m,
                                             const json_t **best, size_t *best_i);

/* latitude, longitude (and live_period when live) of loc into a new ev->location. */
TGH_MUSTCHECK tgh_err source_location_map(const json_t *loc, const struct tgh_jpath *at, bool live,
                                          struct tgh_arena *a, struct msg_event *ev);

/* A contact (phone_number, first_name, last_name, vcard, user_id) into ev->contact. */
TGH_MUSTCHECK tgh_err source_contact_map(const json_t *c, const struct tgh_jpath *at,
                                         struct tgh_arena *a, struct msg_event *ev);

/* ---- errors and typed access ------------------------------------------------ */

static inline tgh_err fail(tgh_err code, const struct tgh_jpath *at, const char *key,
                           const char *fmt, ...) TGH_PRINTF(4, 5);

/* Record "path.key: message". key may be NULL (the value itself). */
static inline tgh_err
fail(tgh_err code, const struct tgh_jpath *at, const char *key, const char *fmt, ...)
{
    va_list ap;
    tgh_err rc;

    va_start(ap, fmt);
    rc = tgh_jpath_verrf(code, at, key, "message", fmt, ap);
    va_end(ap);
    return rc;
}

/* A value that breaks TDLib's schema. */
#define bad(at, key, ...) fail(TGH_EPROTO, (at), (key), __VA_ARGS__)

static inline json_t *
get(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    return json_is_null(v) ? NULL : v;
}

/* The "@type" of an object, NULL when it has none. */
static inline const char *
type_of(const json_t *o)
{
    return json_string_value(json_object_get(o, "@type"));
}

static inline TGH_MUSTCHECK tgh_err
need_type(const json_t *o, const struct tgh_jpath *at, const char **out)
{
    if ((*out = type_of(o)) == NULL)
        return bad(at, "@type", "expected a string");
    return TGH_OK;
}

/*
 * The accessors below leave *out alone when the key is absent or null, and
 * fail naming the field when it has another JSON type.
 */
static inline TGH_MUSTCHECK tgh_err
opt_obj(const json_t *o, const struct tgh_jpath *at, const char *key, const json_t **out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (!json_is_object(v))
        return bad(at, key, "expected an object, got %s", source_json_kind(v));
    *out = v;
    return TGH_OK;
}

static inline TGH_MUSTCHECK tgh_err
need_obj(const json_t *o, const struct tgh_jpath *at, const char *key, const json_t **out)
{
    tgh_err rc = opt_obj(o, at, key, out);

    if (rc == TGH_OK && *out == NULL)
        return bad(at, key, "required");
    return rc;
}

static inline TGH_MUSTCHECK tgh_err
opt_arr(const json_t *o, const struct tgh_jpath *at, const char *key, const json_t **out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (!json_is_array(v))
        return bad(at, key, "expected an array, got %s", source_json_kind(v));
    *out = v;
    return TGH_OK;
}

static inline TGH_MUSTCHECK tgh_err
opt_int(const json_t *o, const struct tgh_jpath *at, const char *key, int64_t *out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (!json_is_integer(v))
        return bad(at, key, "expected an integer, got %s", source_json_kind(v));
    *out = json_integer_value(v);
    return TGH_OK;
}

static inline TGH_MUSTCHECK tgh_err
need_int(const json_t *o, const struct tgh_jpath *at, const char *key, int64_t *out)
{
    if (get(o, key) == NULL)
        return bad(at, key, "required");
    return opt_int(o, at, key, out);
}

static inline TGH_MUSTCHECK tgh_err
opt_bool(const json_t *o, const struct tgh_jpath *at, const char *key, bool *out)
{
    json_t *v = get(o, key);

    if (v == NULL)
        return TGH_OK;
    if (json_is_string(v) &&
        (strcmp(json_string_value(v), "true") == 0 || strcmp(json_string_value(v), "false") == 0)) {
        *out = strcmp(json_string_value(v), "true") == 0;
        source_warn("bool_as_string", at, key, "the string \"%s\" read as a boolean",
                    json_string_value(v));
        return TGH_OK;
    }
    if (!json_is_boolean(v))
        return bad(at, key, "expected a boolean, got %s", source_json_kind(v));
    *out = json_is_true(v);
    return TGH_OK;
}

static inline TGH_MUSTCHECK tgh_err
str_val(const json_t *v, const struct tgh_jpath *at, const char *key, const char **out)
{
    const char *s = NULL;

    if (!json_is_string(v))
        return bad(at, key, "expected a string, got %s", source_json_kind(v));
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return bad(at, key, "contains a NUL character");
    *out = s;
    return TGH_OK;
}

/* A string; "" is TDLib's "none" and leaves *out alone, like an absent key. */
static inline TGH_MUSTCHECK tgh_err
opt_str(const json_t *o, const struct tgh_jpath *at, const char *key, const char **out)
{
    json_t *v = get(o, key);
    const char *s = NULL;
    tgh_err rc;

    if (v == NULL)
        return TGH_OK;
    if ((rc = str_val(v, at, key, &s)) == TGH_OK && *s != '\0')
        *out = s;
    return rc;
}

/* TDLib writes int64 as a JSON string of digits (int53 as numbers); a number is accepted too. */
static inline TGH_MUSTCHECK tgh_err
opt_int64(const json_t *o, const struct tgh_jpath *at, const char *key, int64_t *out)
{
    json_t *v = get(o, key);
    const char *s = NULL;
    char *end;
    long long n;

    if (v == NULL)
        return TGH_OK;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return TGH_OK;
    }
    if (!json_is_string(v))
        return bad(at, key, "expected an int64 string, got %s", source_json_kind(v));
    s = json_string_value(v);
    errno = 0;
    n = strtoll(s, &end, 10);
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')) || errno != 0 ||
        *end != '\0')
        return bad(at, key, "expected an int64 string, got \"%.32s\"", s);
    *out = n;
    return TGH_OK;
}

/* An int64 id kept as its decimal text (custom emoji ids); 0 leaves *out alone. */
static inline TGH_MUSTCHECK tgh_err
opt_id_text(const json_t *o, const struct tgh_jpath *at, const char *key, struct tgh_arena *a,
            const char **out)
{
    json_t *v = get(o, key);
    int64_t id = 0;
    char buf[24];
    tgh_err rc = TGH_OK;

    if (v == NULL || (rc = opt_int64(o, at, key, &id)) != TGH_OK || id == 0)
        return v == NULL ? TGH_OK : rc;
    if (json_is_string(v) && json_string_value(v)[0] != '0' && json_string_value(v)[0] != '-') {
        *out = json_string_value(v); /* already canonical: no leading zero, no sign */
        return TGH_OK;
    }
    (void)snprintf(buf, sizeof(buf), "%" PRId64, id);
    *out = tgh_arena_strdup(a, buf);
    return TGH_OK;
}

/* A TDLib message id that must be a server message's; 0 (unknown) leaves *out alone. */
static inline TGH_MUSTCHECK tgh_err
opt_msg_id(const json_t *o, const struct tgh_jpath *at, const char *key, int64_t *out)
{
    int64_t id = 0;
    tgh_err rc = opt_int(o, at, key, &id);

    if (rc != TGH_OK || id == 0)
        return rc;
    if (source_tdlib_server_id(id) == 0)
        return bad(at, key,
                   "%" PRId64 " is not a server message id (server_id << 20): a local, "
                   "yet unsent or scheduled message",
                   id);
    *out = source_tdlib_server_id(id);
    return TGH_OK;
}

/* A chat id in TDLib's signed convention; peer type from its range. */
static inline TGH_MUSTCHECK tgh_err
chat_id_val(int64_t id, const struct tgh_jpath *at, const char *key, enum msg_peer_type *type)
{
    if (id == 0 || msg_chat_id_from_bare(MSG_CHAT_UNKNOWN, id) != id)
        return bad(at, key, "%" PRId64 " is not a chat id", id);
    if (msg_chat_id_from_bare(MSG_CHAT_CHANNEL, id) == id)
        *type = MSG_PEER_CHANNEL;
    else
        *type = id < 0 ? MSG_PEER_CHAT : MSG_PEER_USER;
    return TGH_OK;
}

static inline TGH_MUSTCHECK tgh_err
user_id_val(int64_t id, const struct tgh_jpath *at, const char *key)
{
    if (id <= 0 || msg_chat_id_from_peer(MSG_PEER_USER, id) != id)
        return bad(at, key, "%" PRId64 " is not a user id", id);
    return TGH_OK;
}

/* ---- names ------------------------------------------------------------------ */

/* "messageChatSetTheme" less prefix "message" becomes "chat_set_theme", in a. */
static inline const char *
snake(const char *type, const char *prefix, struct tgh_arena *a)
{
    size_t plen = strlen(prefix);
    const char *s = strncmp(type, prefix, plen) == 0 && type[plen] != '\0' ? type + plen : type;
    char *out = tgh_arena_alloc(a, 2 * strlen(s) + 1), *p = out;

    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            if (p != out)
                *p++ = '_';
            *p++ = (char)(*s - 'A' + 'a');
        } else {
            *p++ = *s;
        }
    }
    *p = '\0';
    return out;
}

struct name {
    const char *tdlib;
    const char *ours;
};

static inline int
name_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

/* bsearch over a table sorted by its first member, a const char *. */
static inline const void *
lookup(const char *type, const void *table, size_t n, size_t size)
{
    return type == NULL ? NULL : bsearch(type, table, n, size, name_cmp);
}

#endif
