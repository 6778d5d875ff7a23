/* SPDX-License-Identifier: MIT */
/*
 * cmd_validate.c - `validate`: did what each collection run promised land?
 *
 * A run row says how many new messages its commits stored (or, published to
 * the queue, the broker confirmed); the store must hold at least that many
 * messages of the run's chat first stored within the run (published ones:
 * since its start, workers store them later). A tracked chat's cursor says
 * every message from its oldest to its newest id was collected; the store
 * must reach both ends. Any shortfall is named and exits 1.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "store/store.h"

static const struct option longopts[] = {
    { "run", required_argument, NULL, 'r' }, { "since", required_argument, NULL, 'S' },
    { "json", no_argument, NULL, 'j' },      { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },      { NULL, 0, NULL, 0 },
};

struct vctx {
    struct store *st;
    int64_t run_id; /* 0: every run since */
    int64_t since;
    int64_t now;
    bool as_json;
    json_t *runs, *cursors;
    int64_t checked, shortfalls;
    tgh_err rc;
};

static void problem(struct vctx *x, json_t *o, const char *fmt, ...) TGH_PRINTF(3, 4);

static void
problem(struct vctx *x, json_t *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    (void)json_array_append_new(json_object_get(o, "problems"), json_string(buf));
    (void)json_object_set_new(o, "ok", json_false());
    x->shortfalls++;
}

static int
on_run(void *arg, const struct store_run_row *r)
{
    struct vctx *x = arg;
    bool queued = r->stats.published > 0;
    int64_t promised = queued ? (int64_t)r->stats.published : (int64_t)r->stats.inserted;
    int64_t to = queued || r->finished_at == 0 ? x->now : r->finished_at, landed = 0;
    json_t *o;

    if (x->run_id != 0 && r->id != x->run_id)
        return 0;
    if (x->run_id == 0 && r->started_at < x->since)
        return 1; /* newest first: the rest is older */
    o = json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:b,s:[]}", "id", (json_int_t)r->id, "kind", r->kind,
                  "chat_id", (json_int_t)r->chat_id, "status", r->status, "started_at",
                  (json_int_t)r->started_at, "finished_at", (json_int_t)r->finished_at, "ok", 1,
                  "problems");
    (void)json_array_append_new(x->runs, o);
    x->checked++;
    (void)json_object_set_new(o, "promised_new", json_integer(promised));
    if (strcmp(r->status, "running") == 0) {
        (void)json_object_set_new(o, "landed_new", json_null());
        return 0; /* not done: nothing promised yet */
    }
    /* a run with no chat (an import) put its messages into every chat */
    if (promised > 0 &&
        (x->rc = store_first_seen_count(x->st, r->chat_id != 0 ? r->chat_id : MSG_UNSET,
                                        r->started_at, to, &landed)) != TGH_OK)
        return 1;
    (void)json_object_set_new(o, "landed_new", json_integer(landed));
    if (landed < promised)
        problem(x, o,
                "run %" PRId64 " (%s) %s %" PRId64 " new messages, the store has %" PRId64
                " first stored in its window",
                r->id, r->kind, queued ? "published" : "committed", promised, landed);
    return 0;
}

static int
on_tracked(void *arg, const struct store_tracked *t)
{
    struct vctx *x = arg;
    struct store_cursor cur;
    int64_t lo = 0, hi = 0, n = 0;
    json_t *o;
    tgh_err rc;

    if (t->chat_id == 0)
        return 0;
    rc = store_cursor_get(x->st, t->chat_id, 0, &cur);
    if (rc == TGH_ENOTFOUND)
        return 0;
    if (rc == TGH_OK)
        rc = store_id_bounds(x->st, t->chat_id, &lo, &hi, &n);
    if (rc != TGH_OK) {
        x->rc = rc;
        return 1;
    }
    o = json_pack("{s:I,s:s,s:I,s:I,s:b,s:I,s:I,s:I,s:b,s:[]}", "chat_id", (json_int_t)t->chat_id,
                  "spec", t->spec, "newest_id", (json_int_t)cur.newest_id, "oldest_id",
                  (json_int_t)cur.oldest_id, "complete", cur.complete, "stored_min", (json_int_t)lo,
                  "stored_max", (json_int_t)hi, "stored", (json_int_t)n, "ok", 1, "problems");
    (void)json_array_append_new(x->cursors, o);
    if (cur.newest_id > 0 && (n == 0 || hi < cur.newest_id))
        problem(x, o,
                "chat %" PRId64 ": its cursor says messages up to %" PRId64
                " were collected, the store's newest is %" PRId64,
                t->chat_id, cur.newest_id, hi);
    if (cur.oldest_id > 0 && n > 0 && lo > cur.oldest_id)
        problem(x, o,
                "chat %" PRId64 ": its cursor says messages down to %" PRId64
                " were collected, the store's oldest is %" PRId64,
                t->chat_id, cur.oldest_id, lo);
    return 0;
}

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct vctx x = { 0 };
    const char *store_url = NULL;
    int ch, rc = CLI_EXIT_OK;

    x.now = (int64_t)time(NULL);
    x.since = x.now - 86400;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "hjr:S:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (cli_parse_int(optarg, 1, INT64_MAX, &x.run_id) != TGH_OK)
                return cli_usage_error(&cli_cmd_validate, "--run: %s", tgh_errmsg());
            break;
        case 'S':
            if (cli_parse_date(optarg, &x.since) != TGH_OK)
                return cli_usage_error(&cli_cmd_validate, "--since: %s", tgh_errmsg());
            break;
        case 'j':
            x.as_json = true;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_validate);
        default:
            return cli_bad_option(&cli_cmd_validate, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_validate, "unexpected argument '%s'", argv[optind]);
    if (cli_store_open(cfg, store_url, false, &x.st) != TGH_OK) {
        cli_error("validate", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    x.runs = json_array();
    x.cursors = json_array();
    x.rc = store_runs_each(x.st, &(struct store_runs_query){ .chat_id = MSG_UNSET }, on_run, &x);
    if (x.rc == TGH_OK && x.run_id != 0 && x.checked == 0)
        x.rc = tgh_errf(TGH_ENOTFOUND, "there is no run %" PRId64, x.run_id);
    if (x.rc == TGH_OK && x.run_id == 0)
        x.rc = store_tracked_each(x.st, on_tracked, &x);
    if (x.rc != TGH_OK) {
        cli_error("validate", "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    } else if (x.as_json) {
        json_t *root = json_pack("{s:b,s:I,s:I,s:O,s:O}", "ok", x.shortfalls == 0, "runs_checked",
                                 (json_int_t)x.checked, "shortfalls", (json_int_t)x.shortfalls,
                                 "runs", x.runs, "cursors", x.cursors);

        if (json_dumpf(root, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF)
            rc = CLI_EXIT_FAIL;
        json_decref(root);
    } else {
        size_t i;
        json_t *o, *p;

        json_array_foreach (x.runs, i, o) {
            size_t k;

            json_array_foreach (json_object_get(o, "problems"), k, p)
                printf("shortfall: %s\n", json_string_value(p));
        }
        json_array_foreach (x.cursors, i, o) {
            size_t k;

            json_array_foreach (json_object_get(o, "problems"), k, p)
                printf("shortfall: %s\n", json_string_value(p));
        }
        printf("%" PRId64 " runs and %zu cursors checked: %s\n", x.checked,
               json_array_size(x.cursors),
               x.shortfalls == 0 ? "everything promised landed" : "shortfalls above");
    }
    if (rc == CLI_EXIT_OK && x.shortfalls > 0)
        rc = CLI_EXIT_FAIL;
    json_decref(x.runs);
    json_decref(x.cursors);
    store_close(x.st);
    return cli_finish_output("validate", rc);
}

const struct cli_cmd cli_cmd_validate = {
    "validate",
    run,
    "check that what each collection run promised landed in the store",
    "usage: tgharvest validate [--run ID | --since DATE] [--json] [--store URL]\n"
    "\n"
    "For each collection run since DATE (default: the last 24 hours), or run ID\n"
    "alone: the new messages its row says it committed (or published, for the\n"
    "workers to store) must be in the store, first stored within the run. For each\n"
    "tracked chat (not with --run): the store must reach both ends of its cursor\n"
    "(the ids it says were collected). Prints each shortfall and exits 1 when\n"
    "there is one, 0 when everything promised landed.\n"
    "  --json  one JSON object: ok, runs and cursors with their problems\n",
};
