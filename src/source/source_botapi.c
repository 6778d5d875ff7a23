/* SPDX-License-Identifier: MIT */
/*
 * source_botapi.c - Bot API updates and responses: which field of an Update
 * carries a message, what an error response says, and `decode --from
 * botapi` (each value of the file, read by source_decode.c, mapped as the
 * archive bot maps it).
 */
#include "source/source_botapi_int.h"

#include "core/codec.h"

/* Update fields, sorted for bsearch. Anything not listed here is skipped by its name. */
static const struct update_type {
    const char *field;
    enum source_botapi_class cls;
    bool is_edit, is_business;
} update_types[] = {
    { "business_message", SOURCE_BOTAPI_MESSAGE, false, true },
    { "channel_post", SOURCE_BOTAPI_MESSAGE, false, false },
    { "deleted_business_messages", SOURCE_BOTAPI_DELETES, false, true },
    { "edited_business_message", SOURCE_BOTAPI_MESSAGE, true, true },
    { "edited_channel_post", SOURCE_BOTAPI_MESSAGE, true, false },
    { "edited_message", SOURCE_BOTAPI_MESSAGE, true, false },
    { "message", SOURCE_BOTAPI_MESSAGE, false, false },
};

static int
field_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct update_type *)elem)->field);
}

tgh_err
source_botapi_update_parse(const json_t *u, struct source_botapi_update *out)
{
    const struct tgh_jpath *uat = TGH_JPATH_KEY(BOT_ROOT, "update");
    const struct update_type *ut = NULL;
    const char *key, *first = NULL;
    json_t *v;
    tgh_err rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(u))
        return tgh_errf(TGH_EPROTO, "update: expected an Update object, got %s",
                        source_json_kind(u));
    if ((rc = need_int(u, uat, "update_id", &out->update_id)) != TGH_OK)
        return rc;
    if (out->update_id < 0)
        return bad(uat, "update_id", "%" PRId64 " is negative", out->update_id);
    json_object_foreach ((json_t *)u, key, v) {
        const struct update_type *t;

        if (strcmp(key, "update_id") == 0 || json_is_null(v))
            continue;
        t = bsearch(key, update_types, TGH_NELEM(update_types), sizeof(*update_types), field_cmp);
        if (t != NULL && ut == NULL) {
            ut = t;
            out->type = t->field;
            out->payload = v;
        } else if (first == NULL || strcmp(key, first) < 0) {
            first = key;
        }
    }
    if (ut == NULL) {
        out->cls = SOURCE_BOTAPI_SKIPPED;
        out->type = first != NULL ? first : "empty";
        out->payload = first != NULL ? json_object_get(u, first) : NULL;
        return TGH_OK;
    }
    if (!json_is_object(out->payload))
        return bad(uat, out->type, "expected an object, got %s", source_json_kind(out->payload));
    out->cls = ut->cls;
    out->is_edit = ut->is_edit;
    out->is_business = ut->is_business;
    return TGH_OK;
}

tgh_err
source_botapi_response(const json_t *resp, const json_t **result, struct source_botapi_error *e)
{
    const json_t *ok = json_object_get(resp, "ok"), *params;
    const char *d;
    char extra[96] = "";
    tgh_err code;

    memset(e, 0, sizeof(*e));
    *result = NULL;
    if (!json_is_object(resp) || !json_is_boolean(ok))
        return tgh_errf(TGH_EPROTO,
                        "not a Bot API response: expected an object with \"ok\", got %s",
                        json_is_object(resp) ? "an object without it" : source_json_kind(resp));
    if (json_is_true(ok)) {
        *result = json_object_get(resp, "result");
        return TGH_OK;
    }
    if (json_is_integer(json_object_get(resp, "error_code")))
        e->code = json_integer_value(json_object_get(resp, "error_code"));
    d = json_string_value(json_object_get(resp, "description"));
    e->description = d;
    params = json_object_get(resp, "parameters");
    if (json_is_integer(json_object_get(params, "retry_after")))
        e->retry_after = json_integer_value(json_object_get(params, "retry_after"));
    if (json_is_integer(json_object_get(params, "migrate_to_chat_id")))
        e->migrate_to_chat_id = json_integer_value(json_object_get(params, "migrate_to_chat_id"));
    if (e->retry_after > 0)
        (void)snprintf(extra, sizeof(extra), " (retry_after %" PRId64 " s)", e->retry_after);
    else if (e->migrate_to_chat_id != 0)
        (void)snprintf(extra, sizeof(extra), " (migrate_to_chat_id %" PRId64 ")",
                       e->migrate_to_chat_id);
    code = e->code == 429   ? TGH_EAGAIN
           : e->code >= 500 ? TGH_EUNAVAIL
           : e->code == 404 ? TGH_ENOTFOUND
                            : TGH_EINVAL;
    return tgh_errf(code, "Bot API error %" PRId64 ": %.300s%s", e->code,
                    d != NULL ? d : "(no description)", extra);
}

/* ---- decode ----------------------------------------------------------------- */

static TGH_MUSTCHECK tgh_err
handle_update(struct source_dec *d, const json_t *u, const char *path)
{
    struct source_botapi_update up;
    char sub[128], why[1024];

    if (source_botapi_update_parse(u, &up) != TGH_OK) {
        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        return source_dec_dead_json(d, path, why, u);
    }
    (void)snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", up.type);
    if (up.cls == SOURCE_BOTAPI_MESSAGE)
        return source_dec_message(d, up.payload, sub, source_botapi_map_message);
    if (up.cls == SOURCE_BOTAPI_DELETES)
        return source_dec_deletes(d, up.payload, "message_ids", sub, source_botapi_map_deletes);
    (void)snprintf(why, sizeof(why), "update %" PRId64 " (%s) skipped: carries no message",
                   up.update_id, up.type);
    return source_dec_skipped(d, path, why);
}

/* An Update, an array of them, or a getUpdates response. */
static tgh_err
handle_value(struct source_dec *d, const json_t *v)
{
    const json_t *result = NULL, *list = v;
    struct source_botapi_error e;
    char sub[32], why[1024];
    const char *prefix = "";
    size_t i;
    json_t *el;
    tgh_err rc;

    if (json_is_object(v) && json_object_get(v, "ok") != NULL) {
        if (source_botapi_response(v, &result, &e) != TGH_OK) {
            (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
            return source_dec_dead_json(d, "", why, v);
        }
        if (!json_is_array(result))
            return source_dec_dead_json(d, "result",
                                        "expected an array of updates (a getUpdates response)", v);
        list = result;
        prefix = "result";
    }
    if (!json_is_array(list))
        return handle_update(d, v, "");
    json_array_foreach (list, i, el) {
        (void)snprintf(sub, sizeof(sub), "%s[%zu]", prefix, i);
        if ((rc = handle_update(d, el, sub)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

tgh_err
source_botapi_decode_stream(FILE *f, const char *name, const struct source_export_opts *o,
                            const struct source_export_sink *sink,
                            struct source_export_summary *sum)
{
    return source_dec_stream(f, name, o, sink, sum, handle_value, NULL);
}
