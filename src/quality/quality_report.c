/* SPDX-License-Identifier: MIT */
/*
 * quality_report.c - the data-quality report as JSON: the store's own
 * figures per chat (store_chat_quality), its gap rows, the runs and dead
 * letters since a date, and freshness against the SLO for tracked chats.
 */
#include "quality/quality.h"

#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"

json_t *
quality_gap_json(const struct store_gap *g)
{
    json_t *o =
        json_pack("{s:I,s:I,s:I,s:s,s:s,s:I}", "first_id", (json_int_t)g->first_id, "last_id",
                  (json_int_t)g->last_id, "ids", (json_int_t)(g->last_id - g->first_id + 1),
                  "class", store_gap_class_name(g->cls), "position", store_gap_pos_name(g->pos),
                  "checked_at", (json_int_t)g->checked_at);

    if (o != NULL)
        (void)json_object_set_new(o, "detail",
                                  g->detail != NULL ? json_string(g->detail) : json_null());
    return o;
}

struct chat_item {
    int64_t chat_id;
    char type[32];
    char *title, *username;
};

struct chats {
    struct chat_item *v;
    size_t n, cap;
};

static int
on_chat(void *arg, const struct store_chat_row *r)
{
    struct chats *c = arg;
    struct chat_item *it;

    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 32;
        c->v = tgh_realloc(c->v, c->cap * sizeof(*c->v));
    }
    it = &c->v[c->n++];
    it->chat_id = r->chat_id;
    (void)snprintf(it->type, sizeof(it->type), "%s", r->type != NULL ? r->type : "unknown");
    it->title = r->title != NULL ? tgh_strdup(r->title) : NULL;
    it->username = r->username != NULL ? tgh_strdup(r->username) : NULL;
    return 0;
}

/* Per chat: what the tracked rows, gaps and runs say, keyed by chat id (JSON object). */
struct side {
    json_t *tracked; /* "chat_id" -> {status, last_collected_at} */
    json_t *gaps;    /* "chat_id" -> {class: ids} */
    json_t *runs;    /* "chat_id" -> {runs, failed, flood_waits, flood_wait_seconds, redelivered} */
    int64_t since;
    json_t *by_status;
    int64_t nruns, flood_waits, flood_seconds, redelivered;
};

static json_t *
entry(json_t *map, int64_t chat_id)
{
    char key[32];
    json_t *o;

    (void)snprintf(key, sizeof(key), "%" PRId64, chat_id);
    if ((o = json_object_get(map, key)) == NULL) {
        o = json_object();
        (void)json_object_set_new(map, key, o);
    }
    return o;
}

static void
add_int(json_t *o, const char *key, int64_t n)
{
    (void)json_object_set_new(o, key,
                              json_integer(json_integer_value(json_object_get(o, key)) + n));
}

static int
on_tracked(void *arg, const struct store_tracked *t)
{
    struct side *s = arg;
    json_t *o;

    if (t->chat_id == 0)
        return 0;
    o = entry(s->tracked, t->chat_id);
    (void)json_object_set_new(o, "status", json_string(t->status != NULL ? t->status : "new"));
    (void)json_object_set_new(o, "enabled", json_boolean(t->enabled));
    (void)json_object_set_new(o, "last_collected_at",
                              t->last_collected_at > 0 ? json_integer(t->last_collected_at)
                                                       : json_null());
    return 0;
}

static int
on_gap(void *arg, const struct store_gap *g)
{
    struct side *s = arg;
    json_t *o = entry(s->gaps, g->chat_id);

    if (json_object_size(o) == 0)
        for (int k = 0; k < STORE_GAP_CLASSES; k++)
            (void)json_object_set_new(o, store_gap_class_name((enum store_gap_class)k),
                                      json_integer(0));
    add_int(o, store_gap_class_name(g->cls), g->last_id - g->first_id + 1);
    return 0;
}

static int
on_run(void *arg, const struct store_run_row *r)
{
    struct side *s = arg;
    json_t *o;

    if (r->started_at < s->since)
        return 1; /* newest first */
    s->nruns++;
    s->flood_waits += r->flood_waits;
    s->flood_seconds += r->flood_seconds;
    s->redelivered += (int64_t)r->stats.unchanged;
    add_int(s->by_status, r->status, 1);
    if (r->chat_id == 0)
        return 0;
    o = entry(s->runs, r->chat_id);
    add_int(o, "runs", 1);
    add_int(o, "failed", strcmp(r->status, "failed") == 0);
    add_int(o, "flood_waits", r->flood_waits);
    add_int(o, "flood_wait_seconds", r->flood_seconds);
    add_int(o, "redelivered", (int64_t)r->stats.unchanged);
    return 0;
}

struct dls {
    int64_t open, since_n, since;
    json_t *by_source;
};

static int
on_dl(void *arg, const struct store_dead_letter_row *d)
{
    struct dls *x = arg;

    x->open++;
    if (d->created_at >= x->since)
        x->since_n++;
    add_int(x->by_source, d->source, 1);
    return 0;
}

static int
on_kind(void *arg, const struct store_kind_quality *k)
{
    json_t *list = arg;

    (void)json_array_append_new(
        list,
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "kind", k->kind, "messages", (json_int_t)k->messages,
                  "no_sender", (json_int_t)k->no_sender, "no_text", (json_int_t)k->no_text,
                  "no_size", (json_int_t)k->no_size, "no_file_id", (json_int_t)k->no_file_id));
    return 0;
}

static int
on_warning(void *arg, const char *kind, int64_t n)
{
    add_int(arg, kind, n);
    return 0;
}

tgh_err
quality_report(struct store *st, const struct quality_opts *o, json_t **out)
{
    struct chats cs = { NULL, 0, 0 };
    struct side s = {
        json_object(), json_object(), json_object(), o->since, json_object(), 0, 0, 0, 0
    };
    struct dls dl = { 0, 0, o->since, json_object() };
    json_t *report = NULL, *list = json_array(), *totals = json_object(), *gap_tot = json_object();
    json_t *warn_tot = json_object();
    tgh_err rc;

    *out = NULL;
    for (int k = 0; k < STORE_GAP_CLASSES; k++)
        (void)json_object_set_new(gap_tot, store_gap_class_name((enum store_gap_class)k),
                                  json_integer(0));
    rc = store_chats_each(st, on_chat, &cs);
    if (rc == TGH_OK)
        rc = store_tracked_each(st, on_tracked, &s);
    if (rc == TGH_OK)
        rc = store_gaps_each(st, MSG_UNSET, on_gap, &s);
    if (rc == TGH_OK)
        rc = store_runs_each(st, &(struct store_runs_query){ .chat_id = MSG_UNSET }, on_run, &s);
    if (rc == TGH_OK)
        rc = store_dead_letters_each(st, &(struct store_dl_query){ .state = STORE_DL_OPEN }, on_dl,
                                     &dl);
    for (size_t i = 0; rc == TGH_OK && i < cs.n; i++) {
        const struct chat_item *c = &cs.v[i];
        struct store_chat_quality q;
        json_t *kinds = json_array(), *row, *tr, *gp, *ru;
        char key[32];
        int64_t lag;

        json_t *warn = json_object();

        rc = store_chat_quality(st, c->chat_id, o->now, o->since, &q, on_kind, kinds);
        if (rc == TGH_OK)
            rc = store_warnings_each(st, c->chat_id, on_warning, warn);
        if (rc != TGH_OK) {
            json_decref(kinds);
            json_decref(warn);
            break;
        }
        (void)snprintf(key, sizeof(key), "%" PRId64, c->chat_id);
        tr = json_object_get(s.tracked, key);
        gp = json_object_get(s.gaps, key);
        ru = json_object_get(s.runs, key);
        lag = q.last_date > 0 ? o->now - q.last_date : -1;
        row = json_pack("{s:I,s:s,s:s?,s:s?,s:I,s:I,s:I,s:I,s:I}", "chat_id",
                        (json_int_t)c->chat_id, "type", c->type, "title", c->title, "username",
                        c->username, "messages", (json_int_t)q.messages, "deleted",
                        (json_int_t)q.deleted, "edited", (json_int_t)q.edited, "versions",
                        (json_int_t)q.versions, "new_since", (json_int_t)q.first_seen_since);
        (void)json_object_set_new(row, "first_date",
                                  q.first_date > 0 ? json_integer(q.first_date) : json_null());
        (void)json_object_set_new(row, "last_date",
                                  q.last_date > 0 ? json_integer(q.last_date) : json_null());
        (void)json_object_set_new(row, "tracked", tr != NULL ? json_incref(tr) : json_null());
        /* freshness matters for what is collected, not for an imported archive */
        (void)json_object_set_new(row, "lag_s",
                                  tr != NULL && lag >= 0 ? json_integer(lag) : json_null());
        (void)json_object_set_new(row, "fresh",
                                  tr != NULL && lag >= 0 ? json_boolean(lag <= o->freshness_slo)
                                                         : json_null());
        (void)json_object_set_new(row, "gaps", gp != NULL ? json_incref(gp) : json_null());
        (void)json_object_set_new(
            row, "duplicates",
            json_pack("{s:I,s:I}", "same_content", (json_int_t)q.same_content, "redelivered",
                      (json_int_t)json_integer_value(json_object_get(ru, "redelivered"))));
        (void)json_object_set_new(row, "references",
                                  json_pack("{s:I,s:I,s:I}", "dangling_replies",
                                            (json_int_t)q.dangling_replies,
                                            "replies_before_archive", (json_int_t)q.replies_before,
                                            "dangling_threads", (json_int_t)q.dangling_threads));
        (void)json_object_set_new(row, "timestamps",
                                  json_pack("{s:I,s:I}", "out_of_order", (json_int_t)q.out_of_order,
                                            "future", (json_int_t)q.future));
        (void)json_object_set_new(row, "missing_fields", kinds);
        {
            const char *k;
            json_t *v;

            json_object_foreach (warn, k, v)
                add_int(warn_tot, k, json_integer_value(v));
        }
        (void)json_object_set_new(row, "warnings", warn);
        (void)json_object_set_new(
            row, "runs",
            ru != NULL ? json_incref(ru)
                       : json_pack("{s:i,s:i,s:i,s:i,s:i}", "runs", 0, "failed", 0, "flood_waits",
                                   0, "flood_wait_seconds", 0, "redelivered", 0));
        (void)json_array_append_new(list, row);
        add_int(totals, "messages", q.messages);
        add_int(totals, "deleted", q.deleted);
        add_int(totals, "edited", q.edited);
        add_int(totals, "versions", q.versions);
        add_int(totals, "new_since", q.first_seen_since);
        add_int(totals, "same_content", q.same_content);
        add_int(totals, "dangling_replies", q.dangling_replies);
        add_int(totals, "replies_before_archive", q.replies_before);
        add_int(totals, "dangling_threads", q.dangling_threads);
        add_int(totals, "out_of_order", q.out_of_order);
        add_int(totals, "future", q.future);
        add_int(totals, "stale_chats", tr != NULL && lag > o->freshness_slo);
        if (gp != NULL) {
            const char *k;
            json_t *v;

            json_object_foreach (gp, k, v)
                add_int(gap_tot, k, json_integer_value(v));
        }
    }
    if (rc == TGH_OK) {
        (void)json_object_set_new(totals, "chats", json_integer((json_int_t)cs.n));
        (void)json_object_set_new(totals, "gaps", json_incref(gap_tot));
        (void)json_object_set_new(totals, "warnings", json_incref(warn_tot));
        (void)json_object_set_new(totals, "runs", json_integer(s.nruns));
        (void)json_object_set_new(totals, "flood_waits", json_integer(s.flood_waits));
        (void)json_object_set_new(totals, "flood_wait_seconds", json_integer(s.flood_seconds));
        (void)json_object_set_new(totals, "redelivered", json_integer(s.redelivered));
        (void)json_object_set_new(totals, "dead_letters_open", json_integer(dl.open));
        report =
            json_pack("{s:I,s:I,s:I,s:O,s:O,s:{s:I,s:I,s:O},s:{s:I,s:O}}", "generated_at",
                      (json_int_t)o->now, "since", (json_int_t)o->since, "freshness_slo_s",
                      (json_int_t)o->freshness_slo, "totals", totals, "chats", list, "dead_letters",
                      "open", (json_int_t)dl.open, "since", (json_int_t)dl.since_n, "by_source",
                      dl.by_source, "runs", "count", (json_int_t)s.nruns, "by_status", s.by_status);
        if (report == NULL)
            rc = tgh_errf(TGH_ENOMEM, "the report could not be built");
    }
    for (size_t i = 0; i < cs.n; i++) {
        tgh_free(cs.v[i].title);
        tgh_free(cs.v[i].username);
    }
    tgh_free(cs.v);
    json_decref(s.tracked);
    json_decref(s.gaps);
    json_decref(s.runs);
    json_decref(s.by_status);
    json_decref(dl.by_source);
    json_decref(list);
    json_decref(totals);
    json_decref(gap_tot);
    json_decref(warn_tot);
    *out = report;
    return rc;
}
