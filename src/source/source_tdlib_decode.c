/* SPDX-License-Identifier: MIT */
/*
 * source_tdlib_decode.c - `decode --from tdlib`: each TDLib value of the
 * file (source_decode.c reads them) mapped as the collector maps it.
 */
#include "source/source_tdlib_int.h"

#include "core/codec.h"

/* ---- values ----------------------------------------------------------------- */

static tgh_err
map_message(const json_t *msg, int64_t observed_at, struct tgh_arena *a, struct msg_event *ev)
{
    return source_tdlib_map_message(msg, NULL, observed_at, a, ev);
}

static tgh_err
map_deletes(const json_t *u, int64_t observed_at, struct msg_batch *b, size_t *n)
{
    return source_tdlib_map_deletes(u, NULL, observed_at, b, n);
}

static TGH_MUSTCHECK tgh_err
map_one(struct source_dec *d, const json_t *msg, const char *path)
{
    return source_dec_message(d, msg, path, map_message);
}

static TGH_MUSTCHECK tgh_err
map_list(struct source_dec *d, const json_t *o, const char *path)
{
    json_t *list = json_object_get(o, "messages"), *m;
    char sub[96];
    size_t i;
    tgh_err rc;

    if (!json_is_array(list))
        return source_dec_dead_json(d, path, "messages: expected an array of message objects", o);
    json_array_foreach (list, i, m) {
        if (json_is_null(m))
            continue; /* getMessages gives null for a message it does not have */
        (void)snprintf(sub, sizeof(sub), "%s%smessages[%zu]", path, *path ? "." : "", i);
        if ((rc = map_one(d, m, sub)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

/* Updates that carry part of a message: the collector acts on them otherwise. */
static const struct name partial_updates[] = {
    { "updateMessageContent", "updateMessageContent carries the new content only" },
    { "updateMessageEdited", "updateMessageEdited carries the edit date and buttons only" },
    { "updateMessageInteractionInfo",
      "updateMessageInteractionInfo carries the counters and reactions only" },
};

static TGH_MUSTCHECK tgh_err
handle_object(struct source_dec *d, const json_t *o, const char *path)
{
    const struct name *partial;
    const char *type = type_of(o);
    char why[256], sub[96];

    if (!json_is_object(o) || type == NULL) {
        (void)snprintf(why, sizeof(why), "expected a TDLib object with an \"@type\", got %s",
                       json_is_object(o) ? "an object without one" : source_json_kind(o));
        return source_dec_dead_json(d, path, why, o);
    }
    if (strcmp(type, "message") == 0)
        return map_one(d, o, path);
    if (strcmp(type, "messages") == 0 || strcmp(type, "foundChatMessages") == 0 ||
        strcmp(type, "foundMessages") == 0)
        return map_list(d, o, path);
    if (strcmp(type, "updateNewMessage") == 0 || strcmp(type, "updateMessageSendSucceeded") == 0) {
        (void)snprintf(sub, sizeof(sub), "%s%smessage", path, *path ? "." : "");
        return map_one(d, json_object_get(o, "message"), sub);
    }
    if (strcmp(type, "updateDeleteMessages") == 0)
        return source_dec_deletes(d, o, "message_ids", path, map_deletes);
    partial = lookup(type, partial_updates, TGH_NELEM(partial_updates), sizeof(*partial_updates));
    if (partial != NULL)
        (void)snprintf(why, sizeof(why),
                       "%s, not a whole message: the collector fetches the message "
                       "(getMessage) and maps that",
                       partial->ours);
    else
        (void)snprintf(why, sizeof(why),
                       "\"%.64s\" is not mapped: expected message, messages, foundMessages, "
                       "foundChatMessages, updateNewMessage, updateMessageSendSucceeded or "
                       "updateDeleteMessages",
                       type);
    return source_dec_dead_json(d, path, why, o);
}

static tgh_err
handle_value(struct source_dec *d, const json_t *v)
{
    char sub[32];
    size_t i;
    json_t *el;
    tgh_err rc;

    if (!json_is_array(v))
        return handle_object(d, v, "");
    json_array_foreach (v, i, el) {
        (void)snprintf(sub, sizeof(sub), "[%zu]", i);
        if ((rc = handle_object(d, el, sub)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

tgh_err
source_tdlib_decode_stream(FILE *f, const char *name, const struct source_export_opts *o,
                           const struct source_export_sink *sink, struct source_export_summary *sum)
{
    return source_dec_stream(f, name, o, sink, sum, handle_value, NULL);
}
