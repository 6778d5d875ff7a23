/* SPDX-License-Identifier: MIT */
/*
 * cmd_collect.c - `collect`: backfill and catch-up of every enabled tracked
 * chat through TDLib, once (--once, a JSON summary for schedulers) or as the
 * collecting daemon that `run` also starts.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cmd_collect.h"
#include "core/alloc.h"

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void
collect_cli_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &sa, NULL);
}

volatile sig_atomic_t *
collect_cli_stop_flag(void)
{
    return &stop_requested;
}

static json_t *
chat_json(const struct collect_chat_result *c)
{
    json_t *o = json_object();

    (void)json_object_set_new(o, "chat_id", json_integer(c->chat_id));
    (void)json_object_set_new(o, "spec", json_string(c->spec));
    (void)json_object_set_new(o, "title", json_string(c->title));
    (void)json_object_set_new(o, "account", json_string(c->account));
    (void)json_object_set_new(o, "status", json_string(c->status ? c->status : "skipped"));
    (void)json_object_set_new(o, "fetched", json_integer(c->fetched));
    (void)json_object_set_new(o, "new", json_integer((json_int_t)c->stats.inserted));
    (void)json_object_set_new(o, "published", json_integer((json_int_t)c->stats.published));
    (void)json_object_set_new(o, "edited", json_integer((json_int_t)c->stats.versioned));
    (void)json_object_set_new(o, "deleted", json_integer((json_int_t)c->stats.deleted));
    (void)json_object_set_new(o, "unchanged", json_integer((json_int_t)c->stats.unchanged));
    (void)json_object_set_new(o, "refreshed", json_integer((json_int_t)c->stats.refreshed));
    (void)json_object_set_new(o, "dead_letters", json_integer(c->dead_letters));
    (void)json_object_set_new(o, "errors", json_integer(c->errors));
    (void)json_object_set_new(o, "error", c->error[0] ? json_string(c->error) : json_null());
    (void)json_object_set_new(o, "flood_waits", json_integer(c->flood_waits));
    (void)json_object_set_new(o, "flood_wait_seconds", json_integer(c->flood_seconds));
    (void)json_object_set_new(o, "requests", json_integer(c->requests));
    (void)json_object_set_new(o, "backfill_complete", json_boolean(c->complete));
    if (c->verified) {
        json_t *g = json_object();

        for (int k = 0; k < STORE_GAP_CLASSES; k++)
            (void)json_object_set_new(g, store_gap_class_name((enum store_gap_class)k),
                                      json_integer(c->gap_ids[k]));
        (void)json_object_set_new(g, "ids_checked", json_integer(c->gap_checked));
        (void)json_object_set_new(g, "deletions_found", json_integer(c->deletions_found));
        (void)json_object_set_new(o, "gaps", g);
    }
    return o;
}

static void
print_chat_line(void *arg, const struct collect_chat_result *c)
{
    (void)arg;
    (void)fprintf(stderr, "chat %" PRId64 " ", c->chat_id);
    cli_put_text(stderr, c->spec);
    (void)fprintf(stderr,
                  ": %s, %" PRId64 " fetched, %zu new, %zu edited, %zu deleted, %" PRId64
                  " flood waits",
                  c->status ? c->status : "skipped", c->fetched, c->stats.inserted,
                  c->stats.versioned, c->stats.deleted, c->flood_waits);
    if (c->verified)
        (void)fprintf(stderr,
                      "; gaps: %" PRId64 " deleted, %" PRId64 " missed (fetched), %" PRId64
                      " inaccessible, %" PRId64 " unknown ids; %" PRId64 " deletions found",
                      c->gap_ids[STORE_GAP_DELETED], c->gap_ids[STORE_GAP_MISSED],
                      c->gap_ids[STORE_GAP_INACCESSIBLE], c->gap_ids[STORE_GAP_UNKNOWN],
                      c->deletions_found);
    if (c->error[0] != '\0') {
        (void)fputs(", error: ", stderr);
        cli_put_text(stderr, c->error);
    }
    (void)fputc('\n', stderr);
}

/*
 * Whether a chat went well. The daemon stops whenever the signal comes, often
 * within a gap-fill pass: a pass cut short by the stop ("partial" without an
 * error) is no failure, since the next start goes on from the cursors.
 */
static bool
chat_ok(const struct collect_chat_result *c, bool daemon)
{
    if (c->status == NULL)
        return false;
    if (strcmp(c->status, "ok") == 0)
        return true;
    return daemon && strcmp(c->status, "partial") == 0 && c->error[0] == '\0' && c->errors == 0;
}

int
collect_cli_print(const struct collect_result *r, bool as_json, bool daemon)
{
    bool ok = true;
    struct store_stats tot = { 0 };

    store_stats_add(&tot, &r->live);
    for (size_t i = 0; i < r->n; i++) {
        store_stats_add(&tot, &r->chats[i].stats);
        if (!chat_ok(&r->chats[i], daemon))
            ok = false;
    }
    if (as_json) {
        json_t *o = json_object(), *chats = json_array();
        char *text;

        for (size_t i = 0; i < r->n; i++)
            (void)json_array_append_new(chats, chat_json(&r->chats[i]));
        (void)json_object_set_new(o, "ok", json_boolean(ok));
        (void)json_object_set_new(o, "mode", json_string(daemon ? "daemon" : "once"));
        (void)json_object_set_new(o, "seconds", json_real(r->seconds));
        (void)json_object_set_new(o, "chats", chats);
        (void)json_object_set_new(o, "new", json_integer((json_int_t)tot.inserted));
        (void)json_object_set_new(o, "edited", json_integer((json_int_t)tot.versioned));
        (void)json_object_set_new(o, "deleted", json_integer((json_int_t)tot.deleted));
        (void)json_object_set_new(o, "flood_waits", json_integer(r->flood_waits));
        (void)json_object_set_new(o, "live_events", json_integer(r->live_events));
        (void)json_object_set_new(
            o, "live",
            json_pack("{s:I, s:I, s:I, s:I}", "new", (json_int_t)r->live.inserted, "edited",
                      (json_int_t)r->live.versioned, "deleted", (json_int_t)r->live.deleted,
                      "refreshed", (json_int_t)r->live.refreshed));
        (void)json_object_set_new(
            o, "media",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued", (json_int_t)r->media_queued,
                      "skipped", (json_int_t)r->media_skipped, "stored",
                      (json_int_t)r->media_stored, "dedup", (json_int_t)r->media_dedup, "bytes",
                      (json_int_t)r->media_bytes, "retried", (json_int_t)r->media_retried, "failed",
                      (json_int_t)r->media_failed));
        text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (text != NULL)
            puts(text);
        tgh_free(text); /* json_dumps uses malloc */
        json_decref(o);
    } else {
        printf("collect: %zu chat(s) in %.1f s: %zu new, %zu edited, %zu deleted, %" PRId64
               " flood waits, %" PRId64 " live events%s\n",
               r->n, r->seconds, tot.inserted, tot.versioned, tot.deleted, r->flood_waits,
               r->live_events, ok ? "" : " (some chats failed)");
        if (r->media_queued + r->media_stored + r->media_failed + r->media_retried > 0)
            printf("media: %" PRId64 " queued, %" PRId64 " stored (%" PRId64
                   " already stored), %.1f MB, %" PRId64 " to retry, %" PRId64 " failed\n",
                   r->media_queued, r->media_stored, r->media_dedup, (double)r->media_bytes / 1e6,
                   r->media_retried, r->media_failed);
        for (size_t i = 0; i < r->n; i++) {
            const struct collect_chat_result *c = &r->chats[i];

            printf("  %-16" PRId64 " %-8s %6zu new %5zu edited %5zu deleted  ", c->chat_id,
                   c->status ? c->status : "skipped", c->stats.inserted, c->stats.versioned,
                   c->stats.deleted);
            cli_put_text(stdout, c->spec);
            if (c->error[0] != '\0') {
                fputs("  error: ", stdout);
                cli_put_text(stdout, c->error);
            }
            fputc('\n', stdout);
        }
    }
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static const struct option longopts[] = {
    { "once", no_argument, NULL, 'o' },
    { "chat", required_argument, NULL, 'c' },
    { "days", required_argument, NULL, 'd' },
    { "since", required_argument, NULL, 'S' },
    { "limit", required_argument, NULL, 'n' },
    { "full", no_argument, NULL, 'F' },
    { "reconcile", required_argument, NULL, 'R' },
    { "json", no_argument, NULL, 'j' },
    { "store", required_argument, NULL, 's' },
    { "shard", required_argument, NULL, 'H' },
    { "no-media", no_argument, NULL, 'M' },
    { "verify", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct collect_opts o = { 0 };
    struct collect_result r;
    bool once = false, as_json = false, full = false, has_limit = false;
    int64_t days = 0;
    int ch, rc;
    tgh_err err;

    o.limit = -1;
    o.reconcile_hours = -1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "hojFc:d:S:n:R:s:H:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            once = true;
            break;
        case 'c':
            o.chat = optarg;
            break;
        case 'd':
            if (cli_parse_int(optarg, 1, 365 * 30, &days) != TGH_OK)
                return cli_usage_error(&cli_cmd_collect, "--days: %s", tgh_errmsg());
            break;
        case 'S':
            if (cli_parse_date(optarg, &o.since) != TGH_OK)
                return cli_usage_error(&cli_cmd_collect, "--since: %s", tgh_errmsg());
            if (o.since <= 0)
                return cli_usage_error(&cli_cmd_collect,
                                       "--since: %s is the start of Unix time; use --full", optarg);
            break;
        case 'n':
            if (cli_parse_int(optarg, 0, INT32_MAX, &o.limit) != TGH_OK)
                return cli_usage_error(&cli_cmd_collect, "--limit: %s", tgh_errmsg());
            has_limit = true;
            break;
        case 'F':
            full = true;
            break;
        case 'R':
            if (cli_parse_int(optarg, 0, 24 * 365, &o.reconcile_hours) != TGH_OK)
                return cli_usage_error(&cli_cmd_collect, "--reconcile: %s", tgh_errmsg());
            break;
        case 'j':
            as_json = true;
            break;
        case 'M':
            o.no_media = true;
            break;
        case 'V':
            o.verify = true;
            break;
        case 's':
            o.store_url = optarg;
            break;
        case 'H': {
            unsigned i = 0, n = 0;
            int used = 0;

            if (sscanf(optarg, "%u/%u%n", &i, &n, &used) != 2 || optarg[used] != '\0' || n < 1 ||
                n > 1024 || i >= n)
                return cli_usage_error(&cli_cmd_collect,
                                       "--shard: expected I/N with 0 <= I < N <= 1024, not '%s'",
                                       optarg);
            o.shard = i;
            o.shards = n;
            break;
        }
        case 'h':
            return cli_help(&cli_cmd_collect);
        default:
            return cli_bad_option(&cli_cmd_collect, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_collect, "unexpected argument '%s'", argv[optind]);
    if (days > 0 && o.since > 0)
        return cli_usage_error(&cli_cmd_collect, "--days and --since exclude each other");
    if (o.verify && !once)
        return cli_usage_error(&cli_cmd_collect,
                               "--verify goes with --once (the daemon checks on its own)");
    if (full && (has_limit || days > 0 || o.since > 0))
        return cli_usage_error(&cli_cmd_collect, "--full excludes --limit, --days and --since");
    if (days > 0)
        o.since = (int64_t)time(NULL) - days * 86400;
    /* A date bound replaces the per-run count unless one is given too. */
    if (full || (o.since > 0 && !has_limit))
        o.limit = 0;
    o.daemon = !once;
    collect_cli_signals();
    o.stop = collect_cli_stop_flag();
    if (!as_json) {
        o.on_chat = print_chat_line;
        o.on_chat_arg = NULL;
    }
    err = collect_run(cfg, &o, &r);
    if (err != TGH_OK) {
        cli_error("collect", "%s", tgh_errmsg());
        collect_result_fini(&r);
        return CLI_EXIT_FAIL;
    }
    rc = collect_cli_print(&r, as_json, o.daemon);
    collect_result_fini(&r);
    return cli_finish_output("collect", rc);
}

const struct cli_cmd cli_cmd_collect = {
    "collect",
    run,
    "collect the tracked chats through TDLib (once, or as a daemon)",
    "usage: tgharvest collect --once [--chat CHAT] [--limit N | --days D | --since DATE |\n"
    "                         --full] [--reconcile HOURS] [--verify] [--json]\n"
    "                         [--store URL] [--shard I/N]\n"
    "       tgharvest collect [--store URL] [--shard I/N]\n"
    "\n"
    "--once: for every enabled tracked chat (or only --chat), catch up from the newest\n"
    "message down to what was collected before, then backfill older history within\n"
    "the bounds, and comment threads for chats added with --comments; then print a\n"
    "summary (per chat: new, edited, deleted, errors, flood waits) and exit: 0 when\n"
    "every chat went well, 1 otherwise. Each chat is a collection run.\n"
    "\n"
    "Without --once it is the collecting daemon: the same, plus live updates of the\n"
    "opened chats, gap-fill every TGH_GAPFILL_INTERVAL and on every reconnection,\n"
    "reconcile sweeps and backfill passes, and a gap check every TGH_GAP_CHECK_INTERVAL\n"
    "and after every reconnection; SIGTERM or SIGINT stops it after what was\n"
    "received is committed. It exits 0 unless a chat failed (a pass the stop cut\n"
    "short is no failure: the next start goes on from the cursors).\n"
    "\n"
    "Progress is durable: cursors move only after the messages are committed, so a\n"
    "killed run resumes where it stopped. Flood waits (429) pause the account and\n"
    "resume the same page; history requests are paced by TGH_HISTORY_RATE.\n"
    "\n"
    "  --limit N        at most N older messages per chat in this run (default\n"
    "                   TGH_BACKFILL_LIMIT, 200; 0: no limit)\n"
    "  --days D         backfill down to D days ago (no count limit unless --limit)\n"
    "  --since DATE     backfill down to DATE (UTC; getChatMessageByDate)\n"
    "  --full           the whole history\n"
    "  --reconcile H    also re-read the last H hours to catch unannounced edits\n"
    "  --verify         then check each chat for gaps: the message ids it lacks are\n"
    "                   asked about (getMessages) and classified deleted, missed (then\n"
    "                   fetched), inaccessible or unknown; `tgharvest gaps` shows them\n"
    "  --json           the summary as one JSON object\n"
    "  --no-media       do not download media (TGH_MEDIA, TGH_MEDIA_KINDS, ... say what\n"
    "                   is downloaded otherwise; --once waits for those downloads)\n"
    "  --shard I/N      only the tracked chats whose row id modulo N is I, so that N\n"
    "                   collectors (each with its own accounts) split the chats\n"
    "\n"
    "With TGH_QUEUE=amqp://... messages are published to RabbitMQ (tg.messages.v2)\n"
    "for `tgharvest work` instead of written to the store, and a chat's cursor moves\n"
    "only after the broker confirmed every message up to it (\"published\" counts\n"
    "them). Tracked chats and cursors stay in TGH_STORE.\n",
};
