/* SPDX-License-Identifier: MIT */
/*
 * collect.c - the TDLib collector's backfill through the TDLib stand-in with
 * zero latency and no pacing: messages/s fetched, mapped and committed end
 * to end (collect_run into SQLite), against baselines measured in the same
 * run:
 *   source   the stand-in's pages fetched and parsed with jansson, nothing else
 *   collect  the collector thread's own work per message: fetch, parse, map,
 *            finalize (content hash), encode, with no store behind it
 *   store    the same events committed in pages of 100 by a plain loop
 * The ratio end-to-end / min(source, store) shows whether the collector is
 * the bottleneck; `collect` is what one collector thread can feed.
 * usage: bench_collect [messages] [channels]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "collect/collect.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/config.h"
#include "core/log.h"
#include "source/source.h"
#include "store/store.h"

#define CHAT0 -1001000000000LL

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
    fprintf(stderr, "bench_collect: %s: %s\n", what, tgh_errmsg());
    exit(1);
}

static void
write_world(const char *path, long n, int chats)
{
    json_t *w = json_pack("{s:i, s:i, s:[{s:s, s:s, s:I, s:s}], s:[]}", "seed", 5, "latency_ms", 0,
                          "accounts", "phone", "+15550009999", "code", "11111", "user_id",
                          (json_int_t)900001, "first_name", "Bench", "chats");
    json_t *list = json_object_get(w, "chats");

    for (int i = 0; i < chats; i++) {
        char name[32];

        (void)snprintf(name, sizeof(name), "bench_chan_%d", i);
        (void)json_array_append_new(list, json_pack("{s:I, s:s, s:s, s:s, s:{s:I, s:I, s:i}}", "id",
                                                    (json_int_t)(CHAT0 - i), "kind", "channel",
                                                    "title", name, "username", name, "history",
                                                    "count", (json_int_t)(n / chats), "start_date",
                                                    (json_int_t)1500000000, "step_s", 30));
    }
    if (json_dump_file(w, path, JSON_COMPACT) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    json_decref(w);
}

/* One answer from the raw client, waiting as long as it takes. */
static json_t *
receive(struct source_tdjson *tj, const char *extra)
{
    for (;;) {
        const char *text = source_tdjson_receive(tj, 10.0);
        json_t *o;

        if (text == NULL) {
            fprintf(stderr, "bench_collect: no answer for %s\n", extra);
            exit(1);
        }
        o = json_loads(text, 0, NULL);
        if (o != NULL && json_is_string(json_object_get(o, "@extra")) &&
            strcmp(json_string_value(json_object_get(o, "@extra")), extra) == 0)
            return o;
        json_decref(o);
    }
}

static json_t *
call(struct source_tdjson *tj, int client, json_t *req, const char *extra)
{
    char *text;

    (void)json_object_set_new(req, "@extra", json_string(extra));
    text = json_dumps(req, JSON_COMPACT);
    source_tdjson_send(tj, client, text);
    tgh_free(text); /* json_dumps uses malloc */
    json_decref(req);
    return receive(tj, extra);
}

/*
 * Page through every chat with a client of the bench account's session.
 * With map set, each message is also mapped, finalized and encoded as the
 * collector does.
 */
static double
raw_walk(const struct tgh_config *cfg, const char *dir, int chats, bool map, long *messages)
{
    struct source_tdjson *tj;
    char db[600], files[600];
    int client;
    json_t *ans;
    struct tgh_arena arena;
    double t0;

    if (source_tdjson_open(cfg->tdjson_path, &tj) != TGH_OK)
        die("tdjson");
    client = source_tdjson_client_new(tj);
    (void)snprintf(db, sizeof(db), "%s/td", dir);
    (void)snprintf(files, sizeof(files), "%s/files", dir);
    ans = call(tj, client,
               json_pack("{s:s, s:s, s:s, s:b, s:b, s:I, s:s, s:s, s:s, s:s}", "@type",
                         "setTdlibParameters", "database_directory", db, "files_directory", files,
                         "use_message_database", 1, "use_chat_info_database", 1, "api_id",
                         (json_int_t)cfg->api_id, "api_hash", cfg->api_hash, "system_language_code",
                         "en", "device_model", "bench", "application_version", "1"),
               "params");
    json_decref(ans);
    tgh_arena_init(&arena, 1 << 16);
    *messages = 0;
    t0 = now_s();
    for (int i = 0; i < chats; i++) {
        char name[32];
        int64_t from = 0;
        struct source_tdlib_chat chat = { CHAT0 - i, MSG_CHAT_CHANNEL, name, name };

        (void)snprintf(name, sizeof(name), "bench_chan_%d", i);
        json_decref(call(tj, client,
                         json_pack("{s:s, s:s}", "@type", "searchPublicChat", "username", name),
                         "search"));
        for (;;) {
            json_t *msgs;
            size_t n, k;
            json_t *m;

            ans = call(tj, client,
                       json_pack("{s:s, s:I, s:I, s:i, s:i, s:b}", "@type", "getChatHistory",
                                 "chat_id", (json_int_t)(CHAT0 - i), "from_message_id",
                                 (json_int_t)from, "offset", 0, "limit", 100, "only_local", 0),
                       "page");
            msgs = json_object_get(ans, "messages");
            n = json_array_size(msgs);
            if (n == 0) {
                json_decref(ans);
                break;
            }
            json_array_foreach (msgs, k, m) {
                if (map) {
                    struct msg_event ev;

                    if (source_tdlib_map_message(m, &chat, 1700000000, &arena, &ev) != TGH_OK ||
                        codec_event_finalize(&ev) != TGH_OK ||
                        codec_event_encode_cached(&ev, &arena) != TGH_OK)
                        die("map");
                    msg_event_fini(&ev);
                }
            }
            (void)json_integer_value(json_object_get(json_array_get(msgs, n - 1), "id"));
            {
                json_int_t id =
                    json_integer_value(json_object_get(json_array_get(msgs, n - 1), "id"));

                from = id;
            }
            *messages += (long)n;
            json_decref(ans);
            tgh_arena_reset(&arena);
        }
    }
    t0 = now_s() - t0;
    json_decref(call(tj, client, json_pack("{s:s}", "@type", "close"), "close"));
    tgh_arena_fini(&arena);
    source_tdjson_close(tj);
    return t0;
}

struct copy {
    struct msg_batch b;
    struct store *dst;
    double commit_s;
    long n;
};

static int
copy_row(void *arg, const struct store_message_row *r)
{
    struct copy *c = arg;
    struct msg_event *ev = msg_batch_push(&c->b);

    if (codec_event_decode(r->event, strlen(r->event), &c->b.arena, ev) != TGH_OK)
        die("decode");
    if (c->b.n == c->b.cap) {
        struct store_stats s = { 0 };
        double t0 = now_s();

        if (store_batch_commit(c->dst, c->b.ev, c->b.n, &s) != TGH_OK)
            die("commit");
        c->commit_s += now_s() - t0;
        c->n += (long)c->b.n;
        msg_batch_reset(&c->b);
    }
    return 0;
}

/* The collected events committed again, by a plain loop, into a fresh store. */
static double
store_baseline(const char *from_url, const char *to_url, long *n)
{
    struct store *src;
    struct copy c = { 0 };
    struct store_query q = {
        .chat_id = MSG_UNSET, .since = MSG_UNSET, .until = MSG_UNSET, .newest_first = true
    };

    if (store_open_existing(from_url, &src) != TGH_OK || store_open(to_url, &c.dst) != TGH_OK)
        die("store");
    msg_batch_init(&c.b, 100);
    if (store_messages_each(src, &q, copy_row, &c) != TGH_OK)
        die("read");
    if (c.b.n > 0) {
        struct store_stats s = { 0 };
        double t0 = now_s();

        if (store_batch_commit(c.dst, c.b.ev, c.b.n, &s) != TGH_OK)
            die("commit");
        c.commit_s += now_s() - t0;
        c.n += (long)c.b.n;
    }
    msg_batch_fini(&c.b);
    store_close(src);
    store_close(c.dst);
    *n = c.n;
    return c.commit_s;
}

int
main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int chats = argc > 2 ? atoi(argv[2]) : 4;
    char dir[] = "/tmp/bench_collect.XXXXXX";
    char path[256], url[300], url2[300], acct[300];
    struct tgh_config cfg;
    struct collect_account_info info;
    struct collect_opts o = { 0 };
    struct collect_result res;
    struct store *st;
    long fetched = 0, mapped = 0, stored = 0;
    double e2e, src_s, map_s, store_s;

    if (n < 1000 || chats < 1 || chats > 64) {
        fprintf(stderr, "usage: bench_collect [messages >= 1000] [channels 1..64]\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL)
        return 1;
    tgh_log_set_level(TGH_LOG_WARN);
    (void)snprintf(path, sizeof(path), "%s/world.json", dir);
    write_world(path, n, chats);
    (void)setenv("TGH_FAKE_TD_WORLD", path, 1);
    (void)snprintf(path, sizeof(path), "%s/code", dir);
    {
        FILE *f = fopen(path, "w");

        if (f == NULL)
            return 1;
        fputs("11111\n", f);
        fclose(f);
    }
    if (tgh_config_load(&cfg) != TGH_OK)
        die("config");
    tgh_free(cfg.tdjson_path);
    cfg.tdjson_path =
        tgh_strdup(getenv("TGH_TDJSON") ? getenv("TGH_TDJSON") : TGH_FAKE_TDJSON_PATH);
    tgh_free(cfg.data_dir);
    cfg.data_dir = tgh_strdup(dir);
    tgh_free(cfg.phone);
    cfg.phone = tgh_strdup("+15550009999");
    tgh_free(cfg.code_file);
    cfg.code_file = tgh_strdup(path);
    tgh_free(cfg.api_hash);
    cfg.api_hash = tgh_strdup("bench");
    cfg.api_id = 1;
    cfg.history_rate = 0;
    if (collect_login(&cfg, "bench", NULL, &info) != TGH_OK)
        die("login");

    (void)snprintf(url, sizeof(url), "sqlite://%s/collect.db", dir);
    (void)snprintf(url2, sizeof(url2), "sqlite://%s/baseline.db", dir);
    if (store_open(url, &st) != TGH_OK)
        die("store");
    for (int i = 0; i < chats; i++) {
        char spec[40];
        struct store_tracked t = { 0 };

        (void)snprintf(spec, sizeof(spec), "@bench_chan_%d", i);
        t.spec = spec;
        t.account = "bench";
        t.enabled = true;
        t.status = "new";
        if (store_tracked_put(st, &t, NULL) != TGH_OK)
            die("track");
    }
    store_close(st);

    o.store_url = url;
    o.limit = 0;
    o.reconcile_hours = 0;
    e2e = now_s();
    if (collect_run(&cfg, &o, &res) != TGH_OK)
        die("collect");
    e2e = now_s() - e2e;
    for (size_t i = 0; i < res.n; i++) {
        if (strcmp(res.chats[i].status, "ok") != 0 || !res.chats[i].complete)
            die("a chat did not complete");
        stored += (long)res.chats[i].stats.inserted;
    }
    collect_result_fini(&res);
    if (stored != n / chats * chats) {
        fprintf(stderr, "bench_collect: %ld of %ld messages stored\n", stored, n);
        return 1;
    }

    (void)snprintf(acct, sizeof(acct), "%s/accounts/bench", dir);
    src_s = raw_walk(&cfg, acct, chats, false, &fetched);
    map_s = raw_walk(&cfg, acct, chats, true, &mapped);
    store_s = store_baseline(url, url2, &stored);

    {
        double r_e2e = (double)n / e2e, r_src = (double)fetched / src_s;
        double r_map = (double)mapped / map_s, r_store = (double)stored / store_s;
        double limit = r_src < r_store ? r_src : r_store;

        printf("messages=%ld channels=%d end_to_end=%.0f/s source_fetch_parse=%.0f/s "
               "collector_thread=%.0f/s store_commit_100=%.0f/s ratio_to_limit=%.2f\n",
               n, chats, r_e2e, r_src, r_map, r_store, r_e2e / limit);
    }
    tgh_config_fini(&cfg);
    {
        char cmd[400];

        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (strncmp(dir, "/tmp/bench_collect.", 19) == 0)
            (void)!system(cmd);
    }
    return 0;
}
