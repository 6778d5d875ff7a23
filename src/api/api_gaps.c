/* SPDX-License-Identifier: MIT */
/*
 * api_gaps.c - GET /api/v1/chats/{id}/gaps: the runs of message ids the
 * chat's archive lacks, as its last gap check classified them
 * (docs/internals/gaps.md).
 */
#include "api/api_routes_int.h"

#include <inttypes.h>

#include "api/api_req_int.h"
#include "quality/quality.h"

struct gaps_ctx {
    json_t *list;
    int64_t ids[STORE_GAP_CLASSES];
    int64_t checked_at;
};

static int
on_gap(void *arg, const struct store_gap *g)
{
    struct gaps_ctx *x = arg;
    json_t *o = quality_gap_json(g);

    if (o == NULL)
        return 1;
    (void)json_array_append_new(x->list, o);
    x->ids[g->cls] += g->last_id - g->first_id + 1;
    if (g->cls != STORE_GAP_MISSED && g->checked_at > x->checked_at)
        x->checked_at = g->checked_at;
    return 0;
}

void
api_h_chat_gaps(struct api_req *r)
{
    struct gaps_ctx x = { json_array(), { 0 }, 0 };
    struct api_conn *c;
    json_t *o, *ids;
    tgh_err rc;

    if (r->arg[0] == 0) {
        api_reply_error(r, 404, "not_found", "chat 0 is not a chat");
        json_decref(x.list);
        return;
    }
    if (!api_conn_get(r, &c)) {
        json_decref(x.list);
        return;
    }
    rc = store_gaps_each(c->st, r->arg[0], on_gap, &x);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "gaps");
        json_decref(x.list);
        return;
    }
    ids = json_object();
    for (int i = 0; i < STORE_GAP_CLASSES; i++)
        (void)json_object_set_new(ids, store_gap_class_name((enum store_gap_class)i),
                                  json_integer(x.ids[i]));
    o = json_pack("{s:I,s:o,s:o}", "chat_id", (json_int_t)r->arg[0], "ids", ids, "gaps", x.list);
    (void)json_object_set_new(o, "checked_at",
                              x.checked_at > 0 ? json_integer(x.checked_at) : json_null());
    api_reply_json(r, 200, o);
}
