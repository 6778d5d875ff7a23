/* SPDX-License-Identifier: MIT */
/*
 * source_parts.c - pieces of message content that TDLib and the Bot API
 * describe with the same field names (photo sizes, coordinates, contacts),
 * read once for both mappers so the two give the same event parts.
 */
#include "source/source_tdlib_int.h"

struct msg_media *
source_media_of(struct tgh_arena *a, struct msg_event *ev, const char *kind)
{
    struct msg_media *m = ev->media;

    if (m == NULL) {
        m = ev->media = tgh_arena_alloc(a, sizeof(*m));
        m->size_bytes = m->duration_s = m->width = m->height = MSG_UNSET;
    }
    m->kind = kind;
    return m;
}

void
source_media_dims(struct msg_media *m, int64_t duration, int64_t width, int64_t height)
{
    if (duration != 0)
        m->duration_s = duration;
    if (width != 0 && height != 0) {
        m->width = width;
        m->height = height;
    }
}

tgh_err
source_best_photo_size(const json_t *sizes, const struct tgh_jpath *at, const char *what,
                       struct msg_media *m, const json_t **best, size_t *best_i)
{
    int64_t best_w = 0, best_h = 0, best_area = 0;
    size_t i;
    json_t *ps;
    tgh_err rc;

    *best = NULL;
    *best_i = 0;
    json_array_foreach (sizes, i, ps) {
        const struct tgh_jpath *pat = TGH_JPATH_IDX(at, i);
        int64_t w = 0, h = 0;

        if (!json_is_object(ps))
            return bad(pat, NULL, "expected a %s object, got %s", what, source_json_kind(ps));
        if ((rc = opt_int(ps, pat, "width", &w)) != TGH_OK ||
            (rc = opt_int(ps, pat, "height", &h)) != TGH_OK)
            return rc;
        if (w > 0 && h > 0 && w <= INT32_MAX && h <= INT32_MAX && w * h > best_area) {
            *best = ps;
            *best_i = i;
            best_w = w;
            best_h = h;
            best_area = w * h;
        }
    }
    if (*best != NULL)
        source_media_dims(m, 0, best_w, best_h);
    return TGH_OK;
}

tgh_err
source_location_map(const json_t *loc, const struct tgh_jpath *at, bool live, struct tgh_arena *a,
                    struct msg_event *ev)
{
    struct msg_location *l = ev->location = tgh_arena_alloc(a, sizeof(*l));
    json_t *lat = get(loc, "latitude"), *lon = get(loc, "longitude");
    int64_t period = 0;
    tgh_err rc;

    l->live_period_s = MSG_UNSET;
    if (!json_is_number(lat))
        return bad(at, "latitude", "expected a number, got %s",
                   lat ? source_json_kind(lat) : "nothing");
    if (!json_is_number(lon))
        return bad(at, "longitude", "expected a number, got %s",
                   lon ? source_json_kind(lon) : "nothing");
    l->latitude = json_number_value(lat);
    l->longitude = json_number_value(lon);
    if (live && (rc = opt_int(loc, at, "live_period", &period)) != TGH_OK)
        return rc;
    if (period != 0)
        l->live_period_s = period;
    return TGH_OK;
}

tgh_err
source_contact_map(const json_t *c, const struct tgh_jpath *at, struct tgh_arena *a,
                   struct msg_event *ev)
{
    struct msg_contact *ct = ev->contact = tgh_arena_alloc(a, sizeof(*ct));
    int64_t user_id = 0;
    tgh_err rc;

    ct->user_id = MSG_UNSET;
    if ((rc = opt_str(c, at, "phone_number", &ct->phone)) != TGH_OK ||
        (rc = opt_str(c, at, "first_name", &ct->first_name)) != TGH_OK ||
        (rc = opt_str(c, at, "last_name", &ct->last_name)) != TGH_OK ||
        (rc = opt_str(c, at, "vcard", &ct->vcard)) != TGH_OK ||
        (rc = opt_int(c, at, "user_id", &user_id)) != TGH_OK)
        return rc;
    if (user_id != 0)
        ct->user_id = user_id;
    return TGH_OK;
}
