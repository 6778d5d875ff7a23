/* SPDX-License-Identifier: MIT */
/*
 * pipeline_retry.c - a dead letter processed again: its payload decoded with
 * today's code (a fixed decoder, or a payload corrected by hand) and, when it
 * now makes a valid event, committed or published like any other. Which
 * decoder applies follows from the source that dead-lettered it.
 */
#include "pipeline/pipeline.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "queue/queue.h"
#include "source/source.h"

/*
 * A Bot API dead letter: the whole Update (it could not be read as one) or
 * its Message (it could not be mapped), as the archive bot recorded it.
 */
static tgh_err
botapi_message(const json_t *v, struct tgh_arena *a, struct msg_event *ev)
{
    struct source_botapi_update u;
    tgh_err rc;

    if (json_object_get(v, "update_id") == NULL)
        return source_botapi_map_message(v, (int64_t)time(NULL), a, ev);
    msg_event_init(ev);
    if ((rc = source_botapi_update_parse(v, &u)) != TGH_OK)
        return rc;
    if (u.cls != SOURCE_BOTAPI_MESSAGE)
        return tgh_errf(TGH_EINVAL, "update %" PRId64 " (%s) carries no single message",
                        u.update_id, u.type);
    return source_botapi_map_message(u.payload, (int64_t)time(NULL), a, ev);
}

/* The payload as one finalized event in ev (arena a), or the decoder's error. */
static tgh_err
decode(const struct store_dead_letter_row *d, struct tgh_arena *a, struct msg_event *ev,
       json_t **keep)
{
    const char *src = d->source;
    tgh_err rc;

    if (d->payload == NULL || d->payload_len == 0)
        return tgh_errf(TGH_EINVAL, "the dead letter has no payload to process again");
    if (strcmp(src, "queue") == 0 || strcmp(src, "event") == 0 || strcmp(src, "replay") == 0) {
        rc = codec_event_decode(d->payload, d->payload_len, a, ev);
    } else if (strcmp(src, "tdlib") == 0 || strcmp(src, "botapi") == 0) {
        json_error_t err;

        *keep = json_loadb(d->payload, d->payload_len, 0, &err);
        if (*keep == NULL)
            return tgh_errf(TGH_EPROTO, "not JSON: %s (at byte %d)", err.text, err.position);
        if (strcmp(src, "tdlib") == 0) {
            msg_event_init(ev);
            rc = source_tdlib_map_message(*keep, NULL, (int64_t)time(NULL), a, ev);
        } else {
            rc = botapi_message(*keep, a, ev);
        }
        if (rc != TGH_OK)
            msg_event_fini(ev);
    } else {
        return tgh_errf(TGH_ECONFLICT,
                        "%s dead letters cannot be processed alone: import the file again", src);
    }
    if (rc != TGH_OK)
        return rc;
    rc = codec_event_finalize(ev);
    if (rc != TGH_OK)
        msg_event_fini(ev);
    return rc;
}

static tgh_err
publish(const char *queue_url, const struct msg_event *ev)
{
    struct queue_pub *p = NULL;
    char *json = NULL, key[96];
    size_t len = 0;
    tgh_err rc;

    rc = codec_event_encode(ev, &json, &len);
    if (rc == TGH_OK)
        rc = queue_pub_open(queue_url, &p);
    if (rc == TGH_OK && msg_event_key(ev, key, sizeof(key)) < 0)
        rc = tgh_errf(TGH_EINVAL, "cannot build the idempotency key");
    if (rc == TGH_OK)
        rc = queue_publish(p, json, len, key);
    if (rc == TGH_OK)
        rc = queue_pub_flush(p, 10000);
    queue_pub_close(p);
    tgh_free(json);
    return rc;
}

tgh_err
pipeline_dead_letter_retry(struct store *st, const char *queue_url, struct tgh_feed *feed,
                           const struct store_dead_letter_row *d, enum pipeline_retry_result *res)
{
    struct tgh_arena a;
    struct msg_event ev;
    json_t *keep = NULL;
    tgh_err rc;

    tgh_arena_init(&a, 4096);
    rc = decode(d, &a, &ev, &keep);
    if (rc != TGH_OK)
        goto out;
    if (queue_url != NULL && queue_url_is_amqp(queue_url)) {
        rc = publish(queue_url, &ev);
        *res = PIPELINE_RETRY_PUBLISHED;
    } else {
        struct store_stats s = { 0 };
        enum store_change change = STORE_CHANGE_NONE;

        rc = store_batch_commit_changes(st, &ev, 1, &s, &change);
        if (rc == TGH_OK && feed != NULL)
            pipeline_feed_changes(feed, &ev, &change, 1);
        *res = PIPELINE_RETRY_COMMITTED;
    }
    msg_event_fini(&ev);
out:
    json_decref(keep);
    tgh_arena_fini(&a);
    return rc;
}
