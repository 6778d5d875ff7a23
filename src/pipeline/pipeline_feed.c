/* SPDX-License-Identifier: MIT */
/*
 * pipeline_feed.c - what a committed batch changed, as live-feed items. Only
 * changes the store reported (store_batch_commit_changes) become items, so a
 * redelivered or re-collected message never reaches the stream twice.
 */
#include "pipeline/pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"

#define TGH_LOG_SUB "feed"
#include "core/log.h"

char *
pipeline_feed_json(const struct msg_event *ev, enum store_change change, size_t *len)
{
    const char *json = ev->encoded;
    size_t json_len = ev->encoded_len, cap;
    char *own = NULL, *out;
    char head[256];
    int hn;

    if (json == NULL && codec_event_encode(ev, &own, &json_len) == TGH_OK)
        json = own;
    if (ev->op == MSG_OP_DELETE)
        hn = snprintf(head, sizeof(head),
                      "{\"kind\":\"%s\",\"chat_id\":%" PRId64 ",\"message_id\":%" PRId64
                      ",\"deleted_at\":%" PRId64 ",",
                      store_change_name(change), ev->chat_id, ev->message_id,
                      ev->observed_at != MSG_UNSET ? ev->observed_at : 0);
    else
        hn = snprintf(head, sizeof(head),
                      "{\"kind\":\"%s\",\"chat_id\":%" PRId64 ",\"message_id\":%" PRId64
                      ",\"date\":%" PRId64 ",",
                      store_change_name(change), ev->chat_id, ev->message_id, ev->date);
    if (json == NULL || json_len > PIPELINE_FEED_EVENT_MAX) {
        json = "null,\"truncated\":true";
        json_len = strlen(json);
    }
    cap = (size_t)hn + sizeof("\"event\":}") + json_len;
    out = tgh_malloc(cap);
    *len = (size_t)snprintf(out, cap, "%s\"event\":%.*s}", head, (int)json_len, json);
    tgh_free(own);
    return out;
}

void
pipeline_feed_changes(struct tgh_feed *feed, const struct msg_event *ev,
                      const enum store_change *changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *json;
        size_t len;
        tgh_err rc;

        if (changes[i] == STORE_CHANGE_NONE)
            continue;
        json = pipeline_feed_json(&ev[i], changes[i], &len);
        /* Only a caller-given id can be refused; this one comes from the feed's clock. */
        rc = tgh_feed_append(feed, NULL, ev[i].chat_id, store_change_name(changes[i]), json, len,
                             NULL);
        if (rc != TGH_OK)
            log_warn("live feed: %s", tgh_errmsg());
        tgh_free(json);
    }
}
