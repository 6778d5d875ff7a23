/* SPDX-License-Identifier: MIT */
/*
 * api_chats.c - the routes over chats: every chat the store has or tracks,
 * and managing tracked chats (add, enable, disable, ask for a backfill).
 */
#include "api/api_routes_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_req_int.h"
#include "core/alloc.h"
#include "store/store.h"

static json_t *
tracked_json(const struct store_tracked *t)
{
    json_t *o = json_pack("{s:I,s:s,s:I,s:s?,s:b,s:s,s:s?,s:s?,s:s?,s:b,s:b,s:I}", "id",
                          (json_int_t)t->id, "spec", t->spec, "chat_id", (json_int_t)t->chat_id,
                          "account", t->account, "enabled", t->enabled, "status", t->status,
                          "error", t->error, "type", t->type, "title", t->title, "comments",
                          t->comments, "topics", t->topics, "added_at", (json_int_t)t->added_at);

    if (o == NULL)
        return json_null();
    (void)json_object_set_new(o, "last_collected_at",
                              t->last_collected_at > 0 ? json_integer(t->last_collected_at)
                                                       : json_null());
    (void)json_object_set_new(o, "backfill_requested_at",
                              t->backfill_requested_at > 0 ? json_integer(t->backfill_requested_at)
                                                           : json_null());
    return o;
}

struct chats_join {
    json_t *by_id;
    json_t *list;
    int64_t now;
};

static int
chat_row(void *arg, const struct store_chat_row *c)
{
    struct chats_join *cj = arg;
    char key[24];
    json_t *o = json_pack("{s:I,s:s,s:s?,s:s?,s:I,s:I,s:I}", "chat_id", (json_int_t)c->chat_id,
                          "type", c->type, "title", c->title, "username", c->username, "messages",
                          (json_int_t)c->message_count, "deleted", (json_int_t)c->deleted_count,
                          "last_message_id", (json_int_t)c->last_message_id);

    if (o == NULL)
        return 0;
    (void)json_object_set_new(o, "first_message_at",
                              c->first_date > 0 ? json_integer(c->first_date) : json_null());
    (void)json_object_set_new(o, "last_message_at",
                              c->last_date > 0 ? json_integer(c->last_date) : json_null());
    (void)json_object_set_new(
        o, "lag_s", c->last_date > 0 ? json_integer(cj->now - c->last_date) : json_null());
    (void)json_object_set_new(o, "tracked", json_null());
    (void)snprintf(key, sizeof(key), "%" PRId64, c->chat_id);
    (void)json_object_set(cj->by_id, key, o);
    (void)json_array_append_new(cj->list, o);
    return 0;
}

static int
tracked_row(void *arg, const struct store_tracked *t)
{
    struct chats_join *cj = arg;
    json_t *o = NULL;
    char key[24];

    if (t->chat_id != 0) {
        (void)snprintf(key, sizeof(key), "%" PRId64, t->chat_id);
        o = json_object_get(cj->by_id, key);
    }
    if (o == NULL) {
        o = json_pack("{s:I,s:s?,s:s?,s:s?,s:I,s:I,s:I,s:n,s:n,s:n}", "chat_id",
                      (json_int_t)t->chat_id, "type", t->type, "title", t->title, "username",
                      t->username, "messages", (json_int_t)0, "deleted", (json_int_t)0,
                      "last_message_id", (json_int_t)0, "first_message_at", "last_message_at",
                      "lag_s");
        if (o == NULL)
            return 0;
        (void)json_array_append_new(cj->list, o);
    }
    (void)json_object_set_new(o, "tracked", tracked_json(t));
    return 0;
}

tgh_err
api_chats_list(struct store *st, json_t **out)
{
    struct chats_join cj = { json_object(), json_array(), (int64_t)time(NULL) };
    tgh_err rc = store_chats_each(st, chat_row, &cj);

    if (rc == TGH_OK)
        rc = store_tracked_each(st, tracked_row, &cj);
    json_decref(cj.by_id);
    if (rc != TGH_OK) {
        json_decref(cj.list);
        return rc;
    }
    *out = cj.list;
    return TGH_OK;
}

void
api_h_chats(struct api_req *r)
{
    struct api_conn *c;
    json_t *list = NULL;
    tgh_err rc;

    if (!api_conn_get(r, &c))
        return;
    rc = api_chats_list(c->st, &list);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK)
        api_reply_err(r, rc, "chats");
    else
        api_reply_json(r, 200, json_pack("{s:o}", "chats", list));
}

/* The JSON object body of a POST, or NULL after answering 400. */
static json_t *
body_object(struct api_req *r, bool optional)
{
    json_error_t err;
    json_t *j;

    if (r->body_len == 0) {
        if (optional)
            return json_object();
        api_reply_error(r, 400, "bad_request", "a JSON object body is needed");
        return NULL;
    }
    j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL || !json_is_object(j)) {
        api_reply_error(r, 400, "bad_request", "the body is not a JSON object%s%s (at byte %d)",
                        j == NULL ? ": " : "", j == NULL ? err.text : "", err.position);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A boolean member: absent keeps *out; anything but a boolean answers 400. */
static bool
body_bool(struct api_req *r, json_t *o, const char *key, bool *out)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        api_reply_error(r, 400, "bad_request", "%s must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* A tracked row with its own copies of the strings (store_tracked_find's are borrowed). */
struct tracked_own {
    struct store_tracked t;
    char *s[7];
};

static void
tracked_own_set(struct tracked_own *o, const struct store_tracked *t)
{
    const char **f[7];

    o->t = *t;
    f[0] = &o->t.spec;
    f[1] = &o->t.account;
    f[2] = &o->t.status;
    f[3] = &o->t.error;
    f[4] = &o->t.type;
    f[5] = &o->t.title;
    f[6] = &o->t.username;
    for (int i = 0; i < 7; i++) {
        o->s[i] = *f[i] != NULL ? tgh_strdup(*f[i]) : NULL;
        *f[i] = o->s[i];
    }
}

static void
tracked_own_fini(struct tracked_own *o)
{
    for (int i = 0; i < 7; i++)
        tgh_free(o->s[i]);
}

struct by_id {
    int64_t id;
    json_t *j;
};

static int
by_id_row(void *arg, const struct store_tracked *t)
{
    struct by_id *b = arg;

    if (t->id != b->id)
        return 0;
    b->j = tracked_json(t);
    return 1;
}

/* {"tracked": row id} as the answer, read back from the store. */
static void
reply_tracked(struct api_req *r, struct store *st, int64_t id, unsigned status)
{
    struct by_id b = { id, NULL };
    tgh_err rc = store_tracked_each(st, by_id_row, &b);

    if (rc != TGH_OK)
        api_reply_err(r, rc, "tracked chats");
    else if (b.j == NULL)
        api_reply_error(r, 404, "not_found", "the tracked chat was removed meanwhile");
    else
        api_reply_json(r, status, json_pack("{s:o}", "tracked", b.j));
}

/* Check the members of POST /api/v1/chats; false after answering 400. */
static bool
chat_add_body(struct api_req *r, json_t *o, const char **spec, const char **account, bool *comments,
              bool *topics)
{
    const char *key;
    json_t *v;

    json_object_foreach (o, key, v) {
        if (strcmp(key, "spec") != 0 && strcmp(key, "account") != 0 &&
            strcmp(key, "comments") != 0 && strcmp(key, "topics") != 0) {
            api_reply_error(r, 400, "bad_request",
                            "unknown member '%.64s' (spec, account, comments, topics)", key);
            return false;
        }
    }
    *spec = json_string_value(json_object_get(o, "spec"));
    if (*spec == NULL || **spec == '\0' || strlen(*spec) > 512) {
        api_reply_error(r, 400, "bad_request", "spec must be a string of 1..512 bytes");
        return false;
    }
    v = json_object_get(o, "account");
    *account = NULL;
    if (v != NULL && !json_is_null(v)) {
        *account = json_string_value(v);
        if (*account == NULL || **account == '\0' || strlen(*account) > 64) {
            api_reply_error(r, 400, "bad_request", "account must be an account name or null");
            return false;
        }
    }
    return body_bool(r, o, "comments", comments) && body_bool(r, o, "topics", topics);
}

void
api_h_chat_add(struct api_req *r)
{
    json_t *o = body_object(r, false);
    struct tracked_own own = { 0 };
    struct store_tracked found;
    struct api_conn *c = NULL;
    const char *spec, *account;
    bool comments = false, topics = false, existed = false;
    int64_t id = 0;
    tgh_err rc;

    if (o == NULL)
        return;
    if (!chat_add_body(r, o, &spec, &account, &comments, &topics) || !api_conn_get(r, &c))
        goto out;
    rc = store_tracked_find(c->st, spec, &found);
    if (rc == TGH_OK && strcmp(found.spec, spec) == 0) {
        tracked_own_set(&own, &found); /* the same spec again: re-enable it */
        existed = true;
    } else if (rc != TGH_OK && rc != TGH_ENOTFOUND) {
        goto fail;
    } else {
        own.t.spec = spec;
    }
    if (account != NULL)
        own.t.account = account;
    own.t.enabled = true;
    own.t.status = "new";
    own.t.error = NULL;
    own.t.comments = comments || own.t.comments;
    own.t.topics = topics || own.t.topics;
    rc = store_tracked_put(c->st, &own.t, &id);
    if (rc != TGH_OK)
        goto fail;
    reply_tracked(r, c->st, id, existed ? 200 : 201);
    goto done;
fail:
    api_reply_err(r, rc, "add chat");
done:
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
out:
    tracked_own_fini(&own);
    json_decref(o);
}

enum chat_action { ACT_ENABLE, ACT_DISABLE, ACT_BACKFILL };

static void
chat_action(struct api_req *r, enum chat_action act)
{
    struct api_conn *c;
    struct store_tracked t;
    struct tracked_own own = { 0 };
    char key[24];
    tgh_err rc;

    if (r->arg[0] == 0) {
        api_reply_error(r, 404, "not_found", "chat 0 is not a chat");
        return;
    }
    if (!api_conn_get(r, &c))
        return;
    (void)snprintf(key, sizeof(key), "%" PRId64, r->arg[0]);
    rc = store_tracked_find(c->st, key, &t);
    if (rc == TGH_OK && t.chat_id != r->arg[0])
        rc = tgh_errf(TGH_ENOTFOUND, "chat %" PRId64 " is not tracked", r->arg[0]);
    if (rc == TGH_OK)
        tracked_own_set(&own, &t);
    if (rc == TGH_OK && act == ACT_BACKFILL) {
        rc = store_tracked_request_backfill(c->st, own.t.id, (int64_t)time(NULL));
    } else if (rc == TGH_OK) {
        own.t.enabled = act == ACT_ENABLE;
        if (act == ACT_ENABLE && strcmp(own.t.status, "error") == 0) {
            own.t.status = "new"; /* enabling clears the error: the collector tries again */
            own.t.error = NULL;
        }
        rc = store_tracked_put(c->st, &own.t, NULL);
    }
    if (rc == TGH_OK)
        reply_tracked(r, c->st, own.t.id, act == ACT_BACKFILL ? 202 : 200);
    else
        api_reply_err(r, rc, "chat");
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    tracked_own_fini(&own);
}

void
api_h_chat_enable(struct api_req *r)
{
    chat_action(r, ACT_ENABLE);
}

void
api_h_chat_disable(struct api_req *r)
{
    chat_action(r, ACT_DISABLE);
}

void
api_h_chat_backfill(struct api_req *r)
{
    chat_action(r, ACT_BACKFILL);
}
