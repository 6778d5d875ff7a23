/* SPDX-License-Identifier: MIT */
/*
 * api_admin.c - collection runs and dead letters: lists newest first with
 * keyset paging (before_id), one dead letter whole, and the two actions on
 * it: retry (decode again, commit or publish, then resolve) and resolve.
 */
#include "api/api.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "api/api_routes_int.h"
#include "core/alloc.h"
#include "core/msg.h"
#include "core/utf8.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"

#define PAYLOAD_LIST_MAX 4096 /* bytes of a payload shown in lists */

struct list {
    json_t *items;
    int64_t last_id;
    size_t n;
    size_t payload_max; /* dead letters: 0 whole */
};

json_t *
api_run_json(const struct store_run_row *run)
{
    json_t *o = json_pack(
        "{s:I,s:I,s:s,s:s?,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s?}", "id", (json_int_t)run->id,
        "chat_id", (json_int_t)run->chat_id, "kind", run->kind, "origin", run->origin, "started_at",
        (json_int_t)run->started_at, "status", run->status, "messages_seen",
        (json_int_t)run->messages_seen, "inserted", (json_int_t)run->stats.inserted, "versioned",
        (json_int_t)run->stats.versioned, "unchanged", (json_int_t)run->stats.unchanged,
        "refreshed", (json_int_t)run->stats.refreshed, "deleted", (json_int_t)run->stats.deleted,
        "errors", (json_int_t)run->errors, "error", run->error);

    if (o == NULL)
        return json_null();
    (void)json_object_set_new(o, "finished_at",
                              run->finished_at > 0 ? json_integer(run->finished_at) : json_null());
    (void)json_object_set_new(o, "flood_waits", json_integer(run->flood_waits));
    (void)json_object_set_new(o, "flood_wait_seconds", json_integer(run->flood_seconds));
    return o;
}

static int
run_row(void *arg, const struct store_run_row *run)
{
    struct list *l = arg;

    l->last_id = run->id;
    l->n++;
    (void)json_array_append_new(l->items, api_run_json(run));
    return 0;
}

static void
reply_list(struct api_req *r, const char *name, struct list *l, int64_t limit)
{
    json_t *next = (int64_t)l->n == limit ? json_pack("{s:I}", "before_id", (json_int_t)l->last_id)
                                          : json_null();

    api_reply_json(r, 200, json_pack("{s:O,s:o}", name, l->items, "next", next));
}

void
api_h_runs(struct api_req *r)
{
    struct store_runs_query q = { .chat_id = MSG_UNSET };
    struct list l = { json_array(), 0, 0, 0 };
    struct api_conn *c;
    tgh_err rc;

    q.kind = api_param(r, "kind");
    q.status = api_param(r, "status");
    if (!api_param_int(r, "chat", INT64_MIN + 1, INT64_MAX, &q.chat_id) ||
        !api_param_int(r, "before_id", 1, INT64_MAX, &q.before_id) || !api_param_limit(r, &q.limit))
        goto out;
    if ((q.kind != NULL && strlen(q.kind) > 64) || (q.status != NULL && strlen(q.status) > 64)) {
        api_reply_error(r, 400, "bad_parameter", "kind and status are at most 64 bytes");
        goto out;
    }
    if (!api_conn_get(r, &c))
        goto out;
    rc = store_runs_each(c->st, &q, run_row, &l);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "runs");
    else
        reply_list(r, "runs", &l, q.limit);
out:
    json_decref(l.items);
}

/* One dead letter as JSON; payloads over max (0: none) are cut at a character. */
static json_t *
dead_letter_json(const struct store_dead_letter_row *d, size_t max)
{
    size_t len = d->payload != NULL ? d->payload_len : 0, shown;
    char *payload =
        d->payload != NULL
            ? tgh_utf8_printable(d->payload, len, max > 0 && len > max ? max : len, &shown)
            : NULL;
    json_t *o = json_pack("{s:I,s:s,s:s?,s:s?,s:s,s:s?,s:I,s:b,s:I,s:I}", "id", (json_int_t)d->id,
                          "source", d->source, "origin", d->origin, "position", d->position,
                          "reason", d->reason, "payload", payload, "payload_bytes", (json_int_t)len,
                          "payload_truncated", max > 0 && len > max, "created_at",
                          (json_int_t)d->created_at, "retry_count", (json_int_t)d->retry_count);

    tgh_free(payload);
    if (o == NULL)
        return json_null();
    (void)json_object_set_new(o, "resolved_at",
                              d->resolved_at > 0 ? json_integer(d->resolved_at) : json_null());
    return o;
}

static int
dl_row(void *arg, const struct store_dead_letter_row *d)
{
    struct list *l = arg;

    l->last_id = d->id;
    l->n++;
    (void)json_array_append_new(l->items, dead_letter_json(d, l->payload_max));
    return 0;
}

void
api_h_dead_letters(struct api_req *r)
{
    static const char *const states[] = { "open", "resolved", "all", NULL };
    struct store_dl_query q = { .state = STORE_DL_OPEN };
    struct list l = { json_array(), 0, 0, PAYLOAD_LIST_MAX };
    struct api_conn *c;
    int state = 0;
    tgh_err rc;

    q.source = api_param(r, "source");
    if (!api_param_enum(r, "state", states, &state) ||
        !api_param_int(r, "before_id", 1, INT64_MAX, &q.before_id) || !api_param_limit(r, &q.limit))
        goto out;
    if (q.source != NULL && strlen(q.source) > 64) {
        api_reply_error(r, 400, "bad_parameter", "source is at most 64 bytes");
        goto out;
    }
    q.state = state == 0 ? STORE_DL_OPEN : state == 1 ? STORE_DL_RESOLVED : STORE_DL_ALL;
    if (!api_conn_get(r, &c))
        goto out;
    rc = store_dead_letters_each(c->st, &q, dl_row, &l);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "dead letters");
    else
        reply_list(r, "dead_letters", &l, q.limit);
out:
    json_decref(l.items);
}

static int
dl_one(void *arg, const struct store_dead_letter_row *d)
{
    json_t **o = arg;

    *o = dead_letter_json(d, 0);
    return 1;
}

void
api_h_dead_letter(struct api_req *r)
{
    struct api_conn *c;
    json_t *o = NULL;
    tgh_err rc;

    if (!api_conn_get(r, &c))
        return;
    rc = store_dead_letter_get(c->st, r->arg[0], dl_one, &o);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "dead letter");
    else
        api_reply_json(r, 200, o);
}

/* A dead letter copied out of its callback, so the store can be used again. */
struct dl_copy {
    struct store_dead_letter_row d;
    char *s[5];
};

static int
dl_copy_row(void *arg, const struct store_dead_letter_row *d)
{
    struct dl_copy *x = arg;

    x->d = *d;
    x->s[0] = tgh_strdup(d->source);
    x->s[1] = d->origin != NULL ? tgh_strdup(d->origin) : NULL;
    x->s[2] = d->position != NULL ? tgh_strdup(d->position) : NULL;
    x->s[3] = tgh_strdup(d->reason);
    x->s[4] = d->payload != NULL ? tgh_strndup(d->payload, d->payload_len) : NULL;
    x->d.source = x->s[0];
    x->d.origin = x->s[1];
    x->d.position = x->s[2];
    x->d.reason = x->s[3];
    x->d.payload = x->s[4];
    return 1;
}

static void
dl_copy_fini(struct dl_copy *x)
{
    for (int i = 0; i < 5; i++)
        tgh_free(x->s[i]);
}

void
api_h_dead_letter_retry(struct api_req *r)
{
    struct api_server *s = r->srv;
    struct dl_copy x = { 0 };
    enum pipeline_retry_result res = PIPELINE_RETRY_COMMITTED;
    struct api_conn *c;
    json_t *o = NULL;
    char why[1024];
    tgh_err rc, rrc;

    if (!api_conn_get(r, &c))
        return;
    rc = store_dead_letter_get(c->st, r->arg[0], dl_copy_row, &x);
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "dead letter");
        goto out;
    }
    if (x.d.resolved_at > 0) {
        api_reply_error(r, 409, "conflict", "dead letter %" PRId64 " is already resolved", x.d.id);
        goto out;
    }
    rrc = pipeline_dead_letter_retry(c->st, s->cfg->queue_url, s->own_feed ? NULL : s->feed, &x.d,
                                     &res);
    if (rrc == TGH_ECONFLICT) {
        api_reply_error(r, 409, "conflict", "%s", tgh_errmsg());
        goto out;
    }
    if (rrc != TGH_OK && tgh_err_is_transient(rrc)) {
        rc = rrc;
        api_reply_err(r, rrc, "retry");
        goto out;
    }
    (void)snprintf(why, sizeof(why), "%s", rrc == TGH_OK ? "" : tgh_errmsg());
    rc = store_dead_letter_retried(c->st, x.d.id, rrc == TGH_OK, rrc == TGH_OK ? NULL : why,
                                   (int64_t)time(NULL));
    if (rc == TGH_OK)
        rc = store_dead_letter_get(c->st, x.d.id, dl_one, &o);
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "dead letter");
        goto out;
    }
    if (rrc != TGH_OK) {
        api_reply_error(r, 422, "retry_failed", "%s", why);
        goto out;
    }
    log_info("dead letter %" PRId64 " processed again: %s", x.d.id,
             res == PIPELINE_RETRY_PUBLISHED ? "published" : "committed");
    api_reply_json(r, 200,
                   json_pack("{s:O,s:s}", "dead_letter", o, "result",
                             res == PIPELINE_RETRY_PUBLISHED ? "published" : "committed"));
out:
    json_decref(o);
    api_conn_put(s, c, rc != TGH_OK && tgh_err_is_transient(rc));
    dl_copy_fini(&x);
}

void
api_h_dead_letter_resolve(struct api_req *r)
{
    struct api_conn *c;
    json_t *o = NULL;
    tgh_err rc;

    if (!api_conn_get(r, &c))
        return;
    rc = store_dead_letter_resolve(c->st, r->arg[0], (int64_t)time(NULL));
    if (rc == TGH_OK)
        rc = store_dead_letter_get(c->st, r->arg[0], dl_one, &o);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "dead letter");
    else
        api_reply_json(r, 200, json_pack("{s:o}", "dead_letter", o));
}
