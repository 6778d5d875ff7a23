/* SPDX-License-Identifier: MIT */
/*
 * store.c - picks the backend from the URL scheme and forwards to it.
 */
#include "store/store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/url.h"
#include "core/util.h"
#include "store/store_int.h"

struct store {
    const struct store_backend *be;
    void *impl;
};

const struct store_backend *
store_be(struct store *st)
{
    return st->be;
}

void *
store_impl(struct store *st)
{
    return st->impl;
}

/* URL scheme -> backend; "postgres" is the short form libpq accepts too. */
static const struct {
    const char *scheme;
    const struct store_backend *be;
} backends[] = {
    { "sqlite", &store_sqlite_backend },
    { "postgresql", &store_pg_backend },
    { "postgres", &store_pg_backend },
};

void
store_stats_add(struct store_stats *to, const struct store_stats *from)
{
    to->inserted += from->inserted;
    to->versioned += from->versioned;
    to->unchanged += from->unchanged;
    to->refreshed += from->refreshed;
    to->deleted += from->deleted;
    to->delete_unknown += from->delete_unknown;
    to->published += from->published;
}

static tgh_err
open_url(const char *url, bool must_exist, struct store **out)
{
    struct tgh_url u;
    tgh_err rc;

    rc = tgh_url_parse(url, &u);
    if (rc != TGH_OK)
        return rc;
    for (size_t i = 0; i < TGH_NELEM(backends); i++) {
        struct store *st;
        void *impl;

        if (strcmp(backends[i].scheme, u.scheme) != 0)
            continue;
        rc = backends[i].be->open(&u, must_exist, &impl);
        tgh_url_fini(&u);
        if (rc != TGH_OK)
            return rc;
        st = tgh_calloc(1, sizeof(*st));
        st->be = backends[i].be;
        st->impl = impl;
        *out = st;
        return TGH_OK;
    }
    rc = tgh_errf(TGH_EINVAL,
                  "TGH_STORE: unsupported store scheme '%s' (supported: sqlite, postgresql)",
                  u.scheme);
    tgh_url_fini(&u);
    return rc;
}

tgh_err
store_open(const char *url, struct store **out)
{
    return open_url(url, false, out);
}

tgh_err
store_open_existing(const char *url, struct store **out)
{
    return open_url(url, true, out);
}

void
store_close(struct store *st)
{
    if (st == NULL)
        return;
    st->be->close(st->impl);
    tgh_free(st);
}

tgh_err
store_batch_commit(struct store *st, const struct msg_event *ev, size_t n,
                   struct store_stats *stats)
{
    return st->be->commit(st->impl, ev, n, stats, NULL);
}

tgh_err
store_batch_commit_changes(struct store *st, const struct msg_event *ev, size_t n,
                           struct store_stats *stats, enum store_change *changes)
{
    return st->be->commit(st->impl, ev, n, stats, changes);
}

enum store_change
store_change_between(const struct store_stats *before, const struct store_stats *after)
{
    if (after->inserted != before->inserted)
        return STORE_CHANGE_NEW;
    if (after->versioned != before->versioned)
        return STORE_CHANGE_EDIT;
    if (after->deleted != before->deleted || after->delete_unknown != before->delete_unknown)
        return STORE_CHANGE_DELETE;
    return STORE_CHANGE_NONE;
}

const char *
store_change_name(enum store_change c)
{
    switch (c) {
    case STORE_CHANGE_NEW:
        return "new";
    case STORE_CHANGE_EDIT:
        return "edit";
    case STORE_CHANGE_DELETE:
        return "delete";
    case STORE_CHANGE_NONE:
        break;
    }
    return "none";
}

tgh_err
store_chat_upsert(struct store *st, int64_t chat_id, enum msg_chat_type type, const char *title,
                  const char *username)
{
    if (chat_id == 0)
        return tgh_errf(TGH_EINVAL, "chat id 0 is not a chat");
    return st->be->chat_upsert(st->impl, chat_id, type, title, username);
}

tgh_err
store_dead_letter_add(struct store *st, const struct store_dead_letter *dl)
{
    return st->be->dead_letter_add(st->impl, dl);
}

tgh_err
store_run_begin(struct store *st, int64_t chat_id, const char *kind, const char *origin,
                int64_t *run_id)
{
    return st->be->run_begin(st->impl, chat_id, kind, origin, run_id);
}

tgh_err
store_run_finish(struct store *st, int64_t run_id, const struct store_run_result *res)
{
    return st->be->run_finish(st->impl, run_id, res);
}

tgh_err
store_chats_each(struct store *st, store_chat_fn fn, void *arg)
{
    return st->be->chats_each(st->impl, fn, arg);
}

/*
 * The search syntax the user wrote, if any (docs/internals/store.md,
 * "Search"): a double quote, a parenthesis, a word ending in '*' or starting
 * with '-', or one of AND, OR, NOT, NEAR in capitals. NULL when the query is
 * plain words.
 */
static const char *
search_syntax(const char *q)
{
    static const char *const ops[] = { "AND", "OR", "NOT", "NEAR" };
    const char *p = q;

    if (strchr(q, '"') != NULL)
        return "a double quote";
    if (strpbrk(q, "()") != NULL)
        return "a parenthesis";
    while (*p != '\0') {
        size_t n;

        p += strspn(p, " \t\r\n");
        n = strcspn(p, " \t\r\n");
        if (n > 0 && p[n - 1] == '*')
            return "a word ending in *";
        if (n > 1 && p[0] == '-')
            return "a word starting with -";
        for (size_t i = 0; i < TGH_NELEM(ops); i++)
            if (n == strlen(ops[i]) && strncmp(p, ops[i], n) == 0)
                return "AND, OR, NOT or NEAR";
        p += n;
    }
    return NULL;
}

/* Plain words as phrases, one per word: every word is searched as the words it is made of. */
static char *
plain_query(const char *q)
{
    char *out = tgh_malloc(3 * strlen(q) + 1), *o = out;
    const char *p = q;

    while (*p != '\0') {
        size_t n;

        p += strspn(p, " \t\r\n");
        n = strcspn(p, " \t\r\n");
        if (n == 0)
            break;
        if (o != out)
            *o++ = ' ';
        *o++ = '"';
        memcpy(o, p, n); /* no '"' in a plain query */
        o += n;
        *o++ = '"';
        p += n;
    }
    *o = '\0';
    return out;
}

tgh_err
store_messages_each(struct store *st, const struct store_query *q, store_message_fn fn, void *arg)
{
    struct store_query plain;
    const char *syntax;
    char *words;
    tgh_err rc;

    /* Message ids are per chat: a window across chats means nothing. */
    if ((q->after_id != 0 || q->before_id != 0) && q->chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "a message id window (after_id, before_id) needs a chat");
    if (q->match == NULL)
        return st->be->messages_each(st->impl, q, fn, arg);
    if (q->match[strspn(q->match, " \t\r\n")] == '\0')
        return tgh_errf(TGH_EINVAL, "an empty search query");
    if ((syntax = search_syntax(q->match)) != NULL) {
        rc = st->be->messages_each(st->impl, q, fn, arg);
        if (rc == TGH_EINVAL) {
            char why[400];

            (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
            rc = tgh_errf(TGH_EINVAL,
                          "%s (read as search syntax because it has %s; plain words, without "
                          "these, are searched as words)",
                          why, syntax);
        }
        return rc;
    }
    plain = *q;
    plain.match = words = plain_query(q->match);
    rc = st->be->messages_each(st->impl, &plain, fn, arg);
    tgh_free(words);
    return rc;
}

tgh_err
store_versions_each(struct store *st, int64_t chat_id, int64_t message_id, store_message_fn fn,
                    void *arg)
{
    return st->be->versions_each(st->impl, chat_id, message_id, fn, arg);
}

tgh_err
store_totals_get(struct store *st, struct store_totals *out)
{
    return st->be->totals_get(st->impl, out);
}

tgh_err
store_tombstones_each(struct store *st, int64_t chat_id, store_message_fn fn, void *arg)
{
    return st->be->tombstones_each(st->impl, chat_id, fn, arg);
}

tgh_err
store_message_buckets(struct store *st, int64_t chat_id, int64_t since, int64_t until,
                      int64_t bucket_s, store_bucket_fn fn, void *arg)
{
    /* A minute to a month: finer or coarser is a chart nobody can read. */
    if (bucket_s < 60 || bucket_s > 86400 * 31)
        return tgh_errf(TGH_EINVAL, "bucket of %" PRId64 " s (60 s to 31 days)", bucket_s);
    /* MSG_UNSET is INT64_MIN, already an open lower end; dates never reach INT64_MAX. */
    return st->be->message_buckets(st->impl, chat_id, since, until == MSG_UNSET ? INT64_MAX : until,
                                   bucket_s, fn, arg);
}

tgh_err
store_runs_each(struct store *st, const struct store_runs_query *q, store_run_fn fn, void *arg)
{
    return st->be->runs_each(st->impl, q, fn, arg);
}

tgh_err
store_runs_last_each(struct store *st, store_run_fn fn, void *arg)
{
    return st->be->runs_last_each(st->impl, fn, arg);
}

tgh_err
store_dead_letters_each(struct store *st, const struct store_dl_query *q, store_dead_letter_fn fn,
                        void *arg)
{
    if (q->state != STORE_DL_OPEN && q->state != STORE_DL_RESOLVED && q->state != STORE_DL_ALL)
        return tgh_errf(TGH_EINVAL, "dead letter state %d (open, resolved or all)", (int)q->state);
    return st->be->dead_letters_each(st->impl, q, fn, arg);
}

tgh_err
store_dead_letter_get(struct store *st, int64_t id, store_dead_letter_fn fn, void *arg)
{
    return st->be->dead_letter_get(st->impl, id, fn, arg);
}

/* resolved_at 0 reads as "open": a resolution needs a real time. */
static tgh_err
resolved_at_valid(int64_t at)
{
    if (at <= 0)
        return tgh_errf(TGH_EINVAL, "dead letter resolved at %" PRId64 " (Unix seconds > 0)", at);
    return TGH_OK;
}

tgh_err
store_dead_letter_retried(struct store *st, int64_t id, bool resolved, const char *reason,
                          int64_t at)
{
    if (resolved && resolved_at_valid(at) != TGH_OK)
        return TGH_EINVAL;
    return st->be->dead_letter_retried(st->impl, id, resolved, reason, at);
}

tgh_err
store_dead_letter_resolve(struct store *st, int64_t id, int64_t at)
{
    if (resolved_at_valid(at) != TGH_OK)
        return TGH_EINVAL;
    return st->be->dead_letter_resolve(st->impl, id, at);
}

/* The status values of tracked_chats (CHECKed by the schema too). */
static bool
status_valid(const char *status)
{
    return strcmp(status, "new") == 0 || strcmp(status, "ok") == 0 || strcmp(status, "error") == 0;
}

tgh_err
store_tracked_put(struct store *st, const struct store_tracked *t, int64_t *id)
{
    int64_t ignored;

    if (t->spec == NULL || *t->spec == '\0')
        return tgh_errf(TGH_EINVAL, "a tracked chat needs a spec");
    if (t->status != NULL && !status_valid(t->status))
        return tgh_errf(TGH_EINVAL, "tracked chat status '%.40s' (new, ok or error)", t->status);
    return st->be->tracked_put(st->impl, t, id != NULL ? id : &ignored);
}

tgh_err
store_tracked_each(struct store *st, store_tracked_fn fn, void *arg)
{
    return st->be->tracked_each(st->impl, fn, arg);
}

tgh_err
store_tracked_find(struct store *st, const char *key, struct store_tracked *out)
{
    if (key == NULL || *key == '\0')
        return tgh_errf(TGH_EINVAL, "empty chat name");
    return st->be->tracked_find(st->impl, key, out);
}

tgh_err
store_tracked_remove(struct store *st, int64_t id)
{
    return st->be->tracked_remove(st->impl, id);
}

tgh_err
store_tracked_set_status(struct store *st, int64_t id, const char *status, const char *error,
                         int64_t last_collected_at)
{
    if (status == NULL || !status_valid(status))
        return tgh_errf(TGH_EINVAL, "tracked chat status '%.40s' (new, ok or error)",
                        status != NULL ? status : "(null)");
    return st->be->tracked_set_status(st->impl, id, status, error, last_collected_at);
}

/* 0 means "no request" in the row: a request needs a real time. */
static tgh_err
backfill_at_valid(int64_t at)
{
    if (at <= 0)
        return tgh_errf(TGH_EINVAL, "backfill request at %" PRId64 " (Unix seconds > 0)", at);
    return TGH_OK;
}

tgh_err
store_tracked_request_backfill(struct store *st, int64_t id, int64_t at)
{
    if (backfill_at_valid(at) != TGH_OK)
        return TGH_EINVAL;
    return st->be->tracked_request_backfill(st->impl, id, at);
}

tgh_err
store_tracked_set_media_policy(struct store *st, int64_t id, const char *spec)
{
    if (spec != NULL && (*spec == '\0' || strlen(spec) > 1024))
        return tgh_errf(TGH_EINVAL, "media policy: 1 to 1024 bytes, or none");
    return st->be->tracked_set_media_policy(st->impl, id, spec);
}

tgh_err
store_tracked_backfill_done(struct store *st, int64_t id, int64_t at)
{
    if (backfill_at_valid(at) != TGH_OK)
        return TGH_EINVAL;
    return st->be->tracked_backfill_done(st->impl, id, at);
}

tgh_err
store_cursor_get(struct store *st, int64_t chat_id, int64_t thread_id, struct store_cursor *out)
{
    return st->be->cursor_get(st->impl, chat_id, thread_id, out);
}

tgh_err
store_cursor_put(struct store *st, const struct store_cursor *c)
{
    if (c->chat_id == 0 || c->chat_id == MSG_UNSET)
        return tgh_errf(TGH_EINVAL, "cursor without a chat id");
    if (c->thread_id < 0)
        return tgh_errf(TGH_EINVAL, "cursor thread id %" PRId64 " (0 or a message id)",
                        c->thread_id);
    return st->be->cursor_put(st->impl, c);
}

tgh_err
store_cursors_each(struct store *st, int64_t chat_id, store_cursor_fn fn, void *arg)
{
    return st->be->cursors_each(st->impl, chat_id, fn, arg);
}

/* ---- shared by the backends ---- */

int64_t
store_migration_version(const char *name)
{
    int64_t v = 0;
    const char *p = name;

    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > INT32_MAX)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (p == name || *p != '_')
        return -1;
    return v;
}

const char *
store_reactions_json(const struct msg_event *ev, char **buf, size_t *cap, size_t *len)
{
    json_t *arr = json_array();
    size_t need;

    for (size_t i = 0; i < ev->n_reactions; i++) {
        const struct msg_reaction *r = &ev->reactions[i];
        json_t *o = json_object();

        if (r->type != NULL)
            json_object_set_new(o, "type", json_string(r->type));
        if (r->emoji != NULL)
            json_object_set_new(o, "emoji", json_string(r->emoji));
        if (r->custom_emoji_id != NULL)
            json_object_set_new(o, "custom_emoji_id", json_string(r->custom_emoji_id));
        json_object_set_new(o, "count", json_integer(r->count));
        json_array_append_new(arr, o);
    }
    need = json_dumpb(arr, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    if (need + 1 > *cap) {
        *cap = need + 1;
        *buf = tgh_realloc(*buf, *cap);
    }
    *len = json_dumpb(arr, *buf, need, JSON_COMPACT | JSON_SORT_KEYS);
    (*buf)[*len] = '\0';
    json_decref(arr);
    return *buf;
}

static void
key_add_id(struct store_tracked_key *k, int64_t chat_id)
{
    if (chat_id != 0 && k->n_ids < sizeof(k->chat_ids) / sizeof(k->chat_ids[0]))
        k->chat_ids[k->n_ids++] = chat_id;
}

/* Telegram usernames are ASCII letters, digits and '_'. */
static void
key_set_name(struct store_tracked_key *k, const char *s, size_t n)
{
    if (n == 0 || n >= sizeof(k->name))
        return;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return;
    }
    memcpy(k->name, s, n);
    k->name[n] = '\0';
}

/* s[0..n) as a decimal id with an optional '-'; false when it is not one. */
static bool
parse_id(const char *s, size_t n, int64_t *out)
{
    size_t i = n > 0 && s[0] == '-' ? 1 : 0;
    int64_t v = 0;

    if (i == n || n - i > 18) /* Telegram ids have at most 16 digits: no overflow */
        return false;
    for (size_t j = i; j < n; j++) {
        if (s[j] < '0' || s[j] > '9')
            return false;
        v = v * 10 + (s[j] - '0');
    }
    *out = i == 1 ? -v : v;
    return true;
}

/* The path after "https://t.me/" (scheme and host optional, any case), else NULL. */
static const char *
link_path(const char *key)
{
    static const char *const hosts[] = { "t.me/", "telegram.me/", "www.t.me/" };
    const char *p = key;

    if (strncasecmp(p, "https://", 8) == 0)
        p += 8;
    else if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    for (size_t i = 0; i < TGH_NELEM(hosts); i++)
        if (strncasecmp(p, hosts[i], strlen(hosts[i])) == 0)
            return p + strlen(hosts[i]);
    return NULL;
}

void
store_tracked_key_parse(const char *key, struct store_tracked_key *k)
{
    const char *path = link_path(key);
    int64_t v;
    size_t n;

    memset(k, 0, sizeof(*k));
    if (path != NULL) {
        if (strncmp(path, "c/", 2) == 0) {
            n = strcspn(path + 2, "/?#");
            if (parse_id(path + 2, n, &v) && v > 0)
                key_add_id(k, msg_chat_id_from_bare(MSG_CHAT_CHANNEL, v));
            return;
        }
        if (strncmp(path, "s/", 2) == 0) /* the web preview of a channel */
            path += 2;
        n = strcspn(path, "/?#");
        if (!(n == 8 && strncmp(path, "joinchat", 8) == 0))
            key_set_name(k, path, n);
        return;
    }
    n = strlen(key);
    if (key[0] == '@') {
        key_set_name(k, key + 1, n - 1);
    } else if (parse_id(key, n, &v)) {
        if (v > 0)
            key_add_id(k, msg_chat_id_from_bare(MSG_CHAT_CHANNEL, v));
        key_add_id(k, v);
    } else {
        key_set_name(k, key, n);
    }
}

/* The start of the UTC month that holds t, plus `months` months. */
static int64_t
month_start_plus(int64_t t, int months)
{
    time_t tt = (time_t)t;
    struct tm tm;

    (void)gmtime_r(&tt, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon += months; /* timegm() carries December into January */
    return (int64_t)timegm(&tm);
}

int64_t
store_month_start(int64_t t)
{
    return month_start_plus(t, 0);
}

int64_t
store_month_next(int64_t month_start)
{
    return month_start_plus(month_start, 1);
}

tgh_err
store_retention_apply(struct store *st, int64_t retention_days, int64_t now, int64_t *removed)
{
    *removed = 0;
    if (retention_days <= 0)
        return TGH_OK;
    if (retention_days > TGH_RETENTION_DAYS_MAX)
        return tgh_errf(TGH_EINVAL, "retention of %" PRId64 " days", retention_days);
    /* Whole months only: what a PostgreSQL store can drop as a partition. */
    return st->be->retention_apply(st->impl, store_month_start(now - retention_days * 86400),
                                   removed);
}
