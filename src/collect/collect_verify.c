/* SPDX-License-Identifier: MIT */
/*
 * collect_verify.c - the gap check of one chat (docs/internals/gaps.md).
 *
 * After a walk, the runs of message ids the archive lacks are read from the
 * store: the leading run below the oldest stored id, the inner runs between
 * stored ids, and the trailing run up to the chat's last message on
 * Telegram. Each id of a run that is not known already is asked about with
 * getMessages (100 a request, at most TGH_GAP_CHECK_IDS a check, through
 * the account's pacing and flood waits): an id Telegram has no message for
 * is deleted (a tombstone, its window from the message below it to now), a
 * message Telegram has is missed (mapped and stored now), an error is
 * inaccessible. The newest TGH_VERIFY_RECENT stored messages are asked about
 * too: one Telegram no longer has was deleted without TDLib telling us
 * (while disconnected), and is tombstoned with the window since it was last
 * seen. When the events are committed, the chat's gap rows are replaced.
 */
#include "collect/collect_engine_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/log.h"

#define TGH_LOG_SUB "collect"

#define ASK_MAX 100 /* getMessages per request, as a history page */

/* Where a check id came from. */
enum vwhat { V_GAP = 0, V_RECENT };

/* A run of missing ids, as found; cls fixed, or V_CHECK: its ids are asked about. */
#define V_CHECK (-1)

struct vrun {
    int64_t first, last;
    enum store_gap_pos pos;
    int fixed;          /* an enum store_gap_class, or V_CHECK */
    const char *detail; /* for a fixed class */
    int64_t after;      /* deleted_after of its ids: the date of the message below, 0: unknown */
    size_t id0;         /* its ids in verify.ids from here (V_CHECK only), highest first */
    size_t nids;
    bool cut; /* the budget ran out before its lowest id */
};

struct vid {
    int64_t id;
    int64_t after; /* deleted_after when it turns out deleted */
    enum vwhat what;
    int cls;   /* the answer: an enum store_gap_class, or V_CHECK while not asked */
    char *why; /* inaccessible: the error (owned) */
};

enum vphase { VP_CHAT = 0, VP_ASK, VP_DONE };

struct verify {
    enum vphase phase;
    int64_t last_message_id; /* the chat's newest on Telegram (getChat) */
    struct vrun *runs;
    size_t nruns, capruns;
    struct vid *ids;
    size_t nids, capids;
    size_t next; /* the next id to ask about */
    size_t asked_from, asked_n;
};

/* ---- building the list ---------------------------------------------------- */

static struct vrun *
add_run(struct verify *v, int64_t first, int64_t last, enum store_gap_pos pos, int fixed,
        const char *detail)
{
    struct vrun *r;

    if (v->nruns == v->capruns) {
        v->capruns = v->capruns ? 2 * v->capruns : 16;
        v->runs = tgh_realloc(v->runs, v->capruns * sizeof(*v->runs));
    }
    r = &v->runs[v->nruns++];
    memset(r, 0, sizeof(*r));
    r->first = first;
    r->last = last;
    r->pos = pos;
    r->fixed = fixed;
    r->detail = detail;
    return r;
}

static void
add_id(struct verify *v, int64_t id, int64_t after, enum vwhat what)
{
    struct vid *x;

    if (v->nids == v->capids) {
        v->capids = v->capids ? 2 * v->capids : 256;
        v->ids = tgh_realloc(v->ids, v->capids * sizeof(*v->ids));
    }
    x = &v->ids[v->nids++];
    x->id = id;
    x->after = after;
    x->what = what;
    x->cls = V_CHECK;
    x->why = NULL;
}

struct idset {
    int64_t *v;
    size_t n, cap;
};

static int
on_tombstone(void *arg, const struct store_message_row *row)
{
    struct idset *s = arg;

    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = tgh_realloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = row->message_id;
    return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The index of the first id >= x in the sorted set. */
static size_t
lower_bound(const struct idset *s, int64_t x)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* How many ids of [first, last] the sorted set (without duplicates) holds. */
static int64_t
count_in(const struct idset *s, int64_t first, int64_t last)
{
    return (int64_t)(lower_bound(s, last + 1) - lower_bound(s, first));
}

struct runs_ctx {
    struct verify *v;
    const struct idset *tomb;
};

static int
on_missing(void *arg, int64_t first, int64_t last, int64_t below)
{
    struct runs_ctx *x = arg;

    if (count_in(x->tomb, first, last) == last - first + 1)
        (void)add_run(x->v, first, last, STORE_GAP_INNER, STORE_GAP_DELETED,
                      "Telegram has no message there (tombstones)");
    else
        add_run(x->v, first, last, STORE_GAP_INNER, V_CHECK, NULL)->after = below;
    return 0;
}

/* One stored message (the first row fn sees). */
struct one_row {
    bool found;
    int64_t date, observed_at;
    char action[64];
};

static int
on_one(void *arg, const struct store_message_row *row)
{
    struct one_row *o = arg;
    json_t *ev = row->event != NULL ? json_loads(row->event, 0, NULL) : NULL;
    const char *a = json_string_value(json_object_get(json_object_get(ev, "action"), "type"));

    o->found = true;
    o->date = row->date;
    o->observed_at = json_integer_value(json_object_get(ev, "observed_at"));
    (void)snprintf(o->action, sizeof(o->action), "%s", a != NULL ? a : "");
    json_decref(ev);
    return 1;
}

static void
stored_at(struct engine *e, int64_t chat_id, int64_t id, struct one_row *o)
{
    struct store_query q = {
        .chat_id = chat_id,
        .since = MSG_UNSET,
        .until = MSG_UNSET,
        .limit = 1,
        .after_id = id - 1,
        .before_id = id + 1,
    };

    memset(o, 0, sizeof(*o));
    if (store_messages_each(e->meta, &q, on_one, o) != TGH_OK)
        log_warn("chat %" PRId64 ": message %" PRId64 " not read: %s", chat_id, id, tgh_errmsg());
}

/* A chat's history begins at its creation or its move from a basic group: nothing before it. */
static bool
history_start(const char *action)
{
    return strcmp(action, "create_channel") == 0 || strcmp(action, "create_group") == 0 ||
           strcmp(action, "migrate_from_group") == 0;
}

struct recent_ctx {
    struct verify *v;
    int64_t n;
};

static int
on_recent(void *arg, const struct store_message_row *row)
{
    struct recent_ctx *x = arg;
    json_t *ev;

    if (row->deleted_at != 0)
        return 0;
    ev = row->event != NULL ? json_loads(row->event, 0, NULL) : NULL;
    add_id(x->v, row->message_id, json_integer_value(json_object_get(ev, "observed_at")), V_RECENT);
    json_decref(ev);
    x->n++;
    return 0;
}

/* The runs and the ids to ask about, from the store and the chat's last message. */
static tgh_err
build(struct cchat *c, struct verify *v)
{
    struct engine *e = c->e;
    int64_t chat = c->res_state.chat_id, lo = 0, hi = 0, count = 0, budget;
    struct idset tomb = { NULL, 0, 0 };
    struct runs_ctx rx = { v, &tomb };
    struct one_row o;
    tgh_err rc;

    if ((rc = store_id_bounds(e->meta, chat, &lo, &hi, &count)) != TGH_OK ||
        (rc = store_tombstones_each(e->meta, chat, on_tombstone, &tomb)) != TGH_OK)
        goto out;
    if (tomb.n > 1)
        qsort(tomb.v, tomb.n, sizeof(*tomb.v), cmp_i64);
    if (count == 0) {
        if (v->last_message_id > 0)
            (void)add_run(v, 1, v->last_message_id, STORE_GAP_LEADING, STORE_GAP_UNKNOWN,
                          "history not yet walked");
        goto out;
    }
    /* Trailing first: the newest are the ones a reader misses first. */
    if (v->last_message_id > hi) {
        struct vrun *r = add_run(v, hi + 1, v->last_message_id, STORE_GAP_TRAILING, V_CHECK, NULL);

        stored_at(e, chat, hi, &o);
        r->after = o.date;
    }
    if ((rc = store_missing_runs(e->meta, chat, on_missing, &rx)) != TGH_OK)
        goto out;
    if (lo > 1) {
        stored_at(e, chat, lo, &o);
        if (history_start(o.action))
            ; /* the chat begins there: ids below it are no gap */
        else if (!c->cur.complete)
            (void)add_run(v, 1, lo - 1, STORE_GAP_LEADING, STORE_GAP_UNKNOWN,
                          "history not yet walked");
        else if (c->res_state.history_hidden)
            (void)add_run(v, 1, lo - 1, STORE_GAP_LEADING, STORE_GAP_INACCESSIBLE,
                          "history before the account joined is hidden from new members");
        else
            (void)add_run(v, 1, lo - 1, STORE_GAP_LEADING, V_CHECK, NULL);
    }
    /* The ids to ask about, within the budget: the runs in the order above, newest first. */
    budget = e->cfg->gap_check_ids;
    for (size_t i = 0; i < v->nruns; i++) {
        struct vrun *r = &v->runs[i];

        if (r->fixed != V_CHECK)
            continue;
        r->id0 = v->nids;
        for (int64_t id = r->last; id >= r->first; id--) {
            if (budget == 0) {
                r->cut = true;
                break;
            }
            if (count_in(&tomb, id, id) > 0)
                continue; /* known deleted */
            add_id(v, id, r->after, V_GAP);
            budget--;
        }
        r->nids = v->nids - r->id0;
    }
    if (e->cfg->verify_recent > 0) {
        struct recent_ctx x = { v, 0 };
        struct store_query q = {
            .chat_id = chat,
            .since = MSG_UNSET,
            .until = MSG_UNSET,
            .limit = e->cfg->verify_recent,
            .newest_first = true,
            .by_id = true,
        };

        rc = store_messages_each(e->meta, &q, on_recent, &x);
    }
out:
    tgh_free(tomb.v);
    return rc;
}

/* ---- asking ----------------------------------------------------------------- */

static void
page_room(struct engine *e, struct cchat *c)
{
    if (e->page.n == e->page.cap)
        collect_chat_submit(e, c, &e->page, NULL);
}

static void
tombstone(struct cchat *c, const struct vid *x)
{
    struct engine *e = c->e;
    int64_t now = collect_now();
    struct msg_event *ev;

    page_room(e, c);
    ev = msg_batch_push(&e->page);
    ev->op = MSG_OP_DELETE;
    ev->source = MSG_SOURCE_TDLIB;
    ev->observed_at = now;
    ev->chat_id = c->res_state.chat_id;
    ev->chat_type = c->res_state.type;
    ev->message_id = x->id;
    ev->deleted_after = x->after > 0 && x->after <= now ? x->after : 0;
    if (codec_event_finalize(ev) != TGH_OK) {
        log_warn("chat %s: the deletion of %" PRId64 " not recorded: %s", c->spec, x->id,
                 tgh_errmsg());
        msg_batch_pop(&e->page);
    }
}

static void send_ask(struct cchat *c);

static void
on_messages(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    struct engine *e = c->e;
    struct verify *v = c->verify;
    const json_t *msgs = json_object_get(ans, "messages");
    int code = 0;
    const char *why = NULL;

    (void)a;
    c->busy = false;
    if (v == NULL || e->stopping)
        return;
    if (td_is_error(ans, &code, &why) || !json_is_array(msgs)) {
        char text[300];

        (void)snprintf(text, sizeof(text), "getMessages: %d %s", code,
                       why != NULL ? why : "answer without messages");
        for (size_t i = 0; i < v->asked_n; i++) {
            struct vid *x = &v->ids[v->asked_from + i];

            if (x->what == V_GAP) {
                x->cls = STORE_GAP_INACCESSIBLE;
                x->why = tgh_strdup(text);
            }
        }
    } else {
        for (size_t i = 0; i < v->asked_n; i++) {
            struct vid *x = &v->ids[v->asked_from + i];
            const json_t *m = json_array_get(msgs, i);

            if (json_is_object(m)) {
                if (x->what == V_GAP) {
                    page_room(e, c);
                    x->cls = collect_map_into(e, c, &c->map_chat, m, &e->page)
                                 ? STORE_GAP_MISSED
                                 : STORE_GAP_INACCESSIBLE;
                    if (x->cls == STORE_GAP_INACCESSIBLE)
                        x->why = tgh_strdup("the message cannot be read (a dead letter)");
                    c->res.fetched++;
                }
                continue;
            }
            x->cls = STORE_GAP_DELETED;
            tombstone(c, x);
            if (x->what == V_RECENT)
                c->res.deletions_found++;
        }
    }
    c->res.gap_checked += (int64_t)v->asked_n;
    if (e->page.n > 0)
        collect_chat_submit(e, c, &e->page, NULL);
    collect_chat_next(c);
}

static void
send_ask(struct cchat *c)
{
    struct verify *v = c->verify;
    json_t *ids = json_array();

    v->asked_from = v->next;
    v->asked_n = 0;
    while (v->next < v->nids && v->asked_n < ASK_MAX) {
        (void)json_array_append_new(ids, json_integer(source_tdlib_msg_id(v->ids[v->next].id)));
        v->next++;
        v->asked_n++;
    }
    c->busy = true;
    td_call(c->a,
            json_pack("{s:s, s:I, s:o}", "@type", "getMessages", "chat_id",
                      (json_int_t)c->res_state.chat_id, "message_ids", ids),
            on_messages, c, &c->counts);
}

/* ---- the rows ----------------------------------------------------------------- */

struct rows {
    struct store_gap *g;
    size_t n, cap;
    char **owned;
    size_t nowned;
};

static void
add_row(struct rows *rs, int64_t chat, int64_t first, int64_t last, enum store_gap_class cls,
        enum store_gap_pos pos, const char *detail)
{
    struct store_gap *g;

    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 16;
        rs->g = tgh_realloc(rs->g, rs->cap * sizeof(*rs->g));
    }
    g = &rs->g[rs->n++];
    g->chat_id = chat;
    g->first_id = first;
    g->last_id = last;
    g->cls = cls;
    g->pos = pos;
    g->checked_at = collect_now();
    g->detail = detail;
}

static const char *
class_detail(struct rows *rs, enum store_gap_class cls, int64_t n, const char *why)
{
    char buf[400], *s;

    switch (cls) {
    case STORE_GAP_DELETED:
        return "Telegram has no message there (checked)";
    case STORE_GAP_MISSED:
        (void)snprintf(buf, sizeof(buf),
                       "Telegram had %" PRId64 " message%s here: fetched and stored", n,
                       n == 1 ? "" : "s");
        break;
    case STORE_GAP_INACCESSIBLE:
        return why != NULL ? why : "cannot be read";
    default:
        return "not checked yet (TGH_GAP_CHECK_IDS reached)";
    }
    s = tgh_strdup(buf);
    rs->owned = tgh_realloc(rs->owned, (rs->nowned + 1) * sizeof(*rs->owned));
    rs->owned[rs->nowned++] = s;
    return s;
}

struct seg {
    int64_t first, last;
    int cls;
    const char *why;
};

/* Segments of run r, highest first: asked ids by their answer, tombstones between them, the rest.
 */
static size_t
run_segments(const struct verify *v, const struct vrun *r, struct seg **out)
{
    struct seg *sg = tgh_malloc((2 * r->nids + 2) * sizeof(*sg));
    int64_t pos = r->last; /* the highest id not yet placed */
    size_t n = 0;

    for (size_t k = 0; k < r->nids; k++) {
        const struct vid *x = &v->ids[r->id0 + k];

        if (x->id < pos) /* skipped while listing: known deleted */
            sg[n++] = (struct seg){ x->id + 1, pos, STORE_GAP_DELETED, NULL };
        sg[n++] =
            (struct seg){ x->id, x->id, x->cls == V_CHECK ? STORE_GAP_UNKNOWN : x->cls, x->why };
        pos = x->id - 1;
    }
    if (pos >= r->first)
        sg[n++] =
            (struct seg){ r->first, pos, r->cut ? STORE_GAP_UNKNOWN : STORE_GAP_DELETED, NULL };
    *out = sg;
    return n;
}

static bool
same_why(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
write_rows(struct cchat *c)
{
    struct engine *e = c->e;
    struct verify *v = c->verify;
    int64_t chat = c->res_state.chat_id;
    struct rows rs = { 0 };

    for (size_t i = 0; i < v->nruns; i++) {
        const struct vrun *r = &v->runs[i];
        struct seg *sg;
        size_t n;

        if (r->fixed != V_CHECK) {
            add_row(&rs, chat, r->first, r->last, (enum store_gap_class)r->fixed, r->pos,
                    r->detail);
            c->res.gap_ids[r->fixed] += r->last - r->first + 1;
            continue;
        }
        n = run_segments(v, r, &sg);
        /* lowest first, neighbours of one class (and reason) joined */
        for (size_t k = n; k-- > 0;) {
            struct seg cur = sg[k];

            while (k > 0 && sg[k - 1].cls == cur.cls && same_why(sg[k - 1].why, cur.why) &&
                   sg[k - 1].first == cur.last + 1) {
                cur.last = sg[k - 1].last;
                k--;
            }
            add_row(&rs, chat, cur.first, cur.last, (enum store_gap_class)cur.cls, r->pos,
                    class_detail(&rs, (enum store_gap_class)cur.cls, cur.last - cur.first + 1,
                                 cur.why));
            c->res.gap_ids[cur.cls] += cur.last - cur.first + 1;
        }
        tgh_free(sg);
    }
    if (store_gaps_put(e->meta, chat, rs.g, rs.n) != TGH_OK)
        log_error("chat %s: gaps not recorded: %s", c->spec, tgh_errmsg());
    else
        log_info("chat %s: gap check: %" PRId64 " ids asked; missing: %" PRId64 " deleted, %" PRId64
                 " missed (fetched), %" PRId64 " inaccessible, %" PRId64 " unknown; %" PRId64
                 " deletions found",
                 c->spec, c->res.gap_checked, c->res.gap_ids[STORE_GAP_DELETED],
                 c->res.gap_ids[STORE_GAP_MISSED], c->res.gap_ids[STORE_GAP_INACCESSIBLE],
                 c->res.gap_ids[STORE_GAP_UNKNOWN], c->res.deletions_found);
    for (size_t i = 0; i < rs.nowned; i++)
        tgh_free(rs.owned[i]);
    tgh_free(rs.owned);
    tgh_free(rs.g);
    c->res.verified = true;
}

/* ---- the step ----------------------------------------------------------------- */

static void
on_chat(void *ctx, struct td_acct *a, json_t *ans)
{
    struct cchat *c = ctx;
    struct verify *v = c->verify;
    int64_t id = 0;

    (void)a;
    c->busy = false;
    if (v == NULL || c->e->stopping)
        return;
    if (!td_is_error(ans, NULL, NULL) && td_int(json_object_get(ans, "last_message"), "id", &id))
        v->last_message_id = source_tdlib_server_id(id);
    if (build(c, v) != TGH_OK) {
        log_error("chat %s: gap check not started: %s", c->spec, tgh_errmsg());
        v->phase = VP_DONE;
    } else {
        v->phase = VP_ASK;
    }
    collect_chat_next(c);
}

void
collect_verify_free(struct cchat *c)
{
    struct verify *v = c->verify;

    if (v == NULL)
        return;
    for (size_t i = 0; i < v->nids; i++)
        tgh_free(v->ids[i].why);
    tgh_free(v->ids);
    tgh_free(v->runs);
    tgh_free(v);
    c->verify = NULL;
}

void
collect_verify_next(struct cchat *c)
{
    struct verify *v = c->verify;

    if (v == NULL && c->res_state.type != MSG_CHAT_CHANNEL &&
        c->res_state.type != MSG_CHAT_SUPERGROUP) {
        /* private chats and basic groups number messages per account: holes are other chats' */
        log_info("chat %s: no gap check (its message ids are the account's, not the chat's)",
                 c->spec);
        c->want_verify = false;
        c->step = STEP_IDLE;
        collect_chat_next(c);
        return;
    }
    if (v == NULL) {
        /* the counters are this check's */
        memset(c->res.gap_ids, 0, sizeof(c->res.gap_ids));
        c->res.gap_checked = 0;
        c->res.deletions_found = 0;
        v = c->verify = tgh_calloc(1, sizeof(*v));
        c->busy = true;
        td_call(c->a,
                json_pack("{s:s, s:I}", "@type", "getChat", "chat_id",
                          (json_int_t)c->res_state.chat_id),
                on_chat, c, &c->counts);
        return;
    }
    if (v->phase == VP_CHAT)
        return; /* getChat in flight */
    if (v->phase == VP_ASK && v->next < v->nids) {
        send_ask(c);
        return;
    }
    if (v->phase == VP_ASK) /* every answer's pages are committed: collect_chat_next waited */
        write_rows(c);
    collect_verify_free(c);
    c->want_verify = false;
    c->step = STEP_IDLE;
    collect_chat_next(c);
}
