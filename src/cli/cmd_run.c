/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - `tgharvest run`: the main job on the embedded default.
 *
 * run imports the paths given with --import (files, or folders of *.json
 * exports), prints the archive, then serves the HTTP API and dashboard
 * (unless TGH_HTTP_ADDR=off) and collects live through TDLib when an account
 * is logged in (the collect daemon), until SIGTERM or SIGINT. The collector's
 * writer feeds the API's live stream in-process. Without an account and
 * without HTTP it says how to get one and exits.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/cmd_collect.h"
#include "cli/cmd_import.h"
#include "core/alloc.h"
#include "core/feed.h"
#include "core/url.h"
#include "store/store.h"

#define MAX_IMPORTS 64

struct chat_list {
    int64_t n;
};

struct account_scan {
    int logged_in;
};

static int
scan_account(void *arg, const struct collect_account_info *a)
{
    struct account_scan *s = arg;

    if (a->logged_in)
        s->logged_in++;
    return 0;
}

static void
log_warn_run(const char *msg)
{
    cli_error("run", "accounts: %s", msg);
}

static int
print_chat(void *arg, const struct store_chat_row *r)
{
    struct chat_list *l = arg;
    char last[32];

    l->n++;
    printf("  %-16" PRId64 " %-10s %8" PRId64 " msgs, last %s  ", r->chat_id, r->type,
           r->message_count, cli_fmt_time(r->last_date, last, sizeof(last)));
    cli_put_text(stdout, r->title);
    fputc('\n', stdout);
    return 0;
}

/* Serve HTTP (unless TGH_HTTP_ADDR=off) and collect live while an account is logged in. */
static int
live(const struct tgh_config *cfg, const char *store_url, int rc)
{
    struct account_scan scan = { 0 };
    struct api_server *srv = NULL;
    struct tgh_feed *feed = NULL;
    bool http = strcmp(cfg->http_addr, "off") != 0;

    if (collect_accounts_each(cfg, scan_account, &scan) != TGH_OK)
        log_warn_run(tgh_errmsg());
    if (scan.logged_in == 0) {
        printf("\nlive collection: no account is logged in, so nothing is collected live.\n"
               "  Get an API id and hash at https://my.telegram.org, set TG_API_ID and\n"
               "  TG_API_HASH, then `tgharvest login` (phone, code, 2FA password, or a\n"
               "  bot token) and `tgharvest chats add @name`; `tgharvest run` then\n"
               "  collects history, live messages, edits and deletions. Exports can be\n"
               "  imported at any time: tgharvest import path/to/result.json\n");
        if (!http)
            return cli_finish_output("run", rc);
    }
    if (cli_finish_output("run", rc) != CLI_EXIT_OK)
        return CLI_EXIT_FAIL;
    collect_cli_signals();
    if (http) {
        feed = tgh_feed_new((size_t)cfg->stream_buffer);
        printf("\n");
        if (cli_http_start(cfg, store_url, NULL, feed, "run", &srv) != TGH_OK) {
            cli_error("run", "http: %s", tgh_errmsg());
            tgh_feed_free(feed);
            return CLI_EXIT_FAIL;
        }
    }
    if (scan.logged_in == 0) {
        printf("serving the archive until SIGTERM or Ctrl-C\n");
        (void)fflush(stdout);
        cli_wait_for_stop(collect_cli_stop_flag());
    } else {
        struct collect_opts o = { 0 };
        struct collect_result r;
        int crc;

        o.store_url = store_url;
        o.daemon = true;
        o.limit = -1;
        o.reconcile_hours = -1;
        o.feed = feed;
        o.stop = collect_cli_stop_flag();
        printf("\nlive collection: %d account(s); stop with SIGTERM or Ctrl-C\n", scan.logged_in);
        (void)fflush(stdout);
        if (collect_run(cfg, &o, &r) != TGH_OK) {
            cli_error("run", "%s", tgh_errmsg());
            rc = CLI_EXIT_FAIL;
        } else {
            crc = collect_cli_print(&r, false, true);
            if (crc != CLI_EXIT_OK)
                rc = crc;
        }
        collect_result_fini(&r);
    }
    api_server_stop(srv);
    tgh_feed_free(feed);
    return cli_finish_output("run", rc);
}

static const struct option longopts[] = {
    { "import", required_argument, NULL, 'i' },
    { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    char *imports[MAX_IMPORTS];
    int nimports = 0, ch, rc = CLI_EXIT_OK;
    const char *store_url = NULL;
    struct store *st = NULL;
    struct store_totals t;
    struct chat_list chats = { 0 };
    char redacted[512];

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hi:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            if (nimports == MAX_IMPORTS)
                return cli_usage_error(&cli_cmd_run, "at most %d --import paths", MAX_IMPORTS);
            imports[nimports++] = optarg;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_run);
        default:
            return cli_bad_option(&cli_cmd_run, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_run, "unexpected argument '%s'", argv[optind]);

    tgh_url_redact(store_url ? store_url : cfg->store_url, redacted, sizeof(redacted));
    printf("tgharvest %s: embedded archive, store %s\n", TGH_VERSION, redacted);
    (void)fflush(stdout); /* before the store's log lines on stderr */
    if (cli_store_open(cfg, store_url, true, &st) != TGH_OK) {
        cli_error("run", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (nimports > 0) {
        struct pipeline_import_totals tot = { 0 };
        double seconds;

        /* The import has its own connections; this one waits for the summary. */
        store_close(st);
        st = NULL;
        tgh_err irc = import_run(cfg, "run", store_url ? store_url : cfg->store_url,
                                 PIPELINE_FROM_EXPORT, imports, nimports, cfg->import_tz,
                                 (size_t)cfg->batch_size, true, true, &tot, &seconds);

        if (irc != TGH_OK && tot.failed_files == 0)
            cli_error("run", "import: %s", tgh_errmsg()); /* not a file's error */
        if (irc != TGH_OK || tot.failed_chats > 0)
            rc = CLI_EXIT_FAIL; /* the same rule as `import` */
        printf("import: %" PRIu64 " file(s), %" PRIu64 " messages: %zu new, %zu unchanged, "
               "%zu versioned, %zu refreshed, %" PRIu64 " dead letters\n",
               tot.files, tot.messages, tot.stats.inserted, tot.stats.unchanged,
               tot.stats.versioned, tot.stats.refreshed, tot.dead_letters);
        if (tot.media_stored + tot.media_missing + tot.media_refused + tot.media_failed > 0)
            printf("media: %" PRIu64 " stored (%" PRIu64 " already stored), %" PRIu64
                   " left for a TDLib download, %" PRIu64 " refused, %" PRIu64 " failed\n",
                   tot.media_stored, tot.media_dedup, tot.media_missing, tot.media_refused,
                   tot.media_failed);
        if (cli_store_open(cfg, store_url, true, &st) != TGH_OK) {
            cli_error("run", "store: %s", tgh_errmsg());
            return CLI_EXIT_FAIL;
        }
    }
    if (store_totals_get(st, &t) != TGH_OK) {
        cli_error("run", "%s", tgh_errmsg());
        store_close(st);
        return CLI_EXIT_FAIL;
    }
    printf("archive: %" PRId64 " chats, %" PRId64 " messages, %" PRId64 " deleted, %" PRId64
           " earlier versions, %" PRId64 " dead letters\n",
           t.chats, t.messages, t.deleted, t.versions, t.dead_letters);
    if (store_chats_each(st, print_chat, &chats) != TGH_OK) {
        cli_error("run", "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    }
    store_close(st);
    return live(cfg, store_url, rc);
}

const struct cli_cmd cli_cmd_run = {
    "run",
    run,
    "the main job: import, show the archive, collect live through TDLib",
    "usage: tgharvest run [--import PATH]... [--store URL]\n"
    "\n"
    "Run the main job on the embedded default store (TGH_STORE, by default\n"
    "sqlite://data/tgharvest.db): import each --import PATH (a Telegram Desktop\n"
    "export file or a folder of *.json exports) and print the archive summary and\n"
    "its chats. Then, when an account is logged in (`tgharvest login`), collect the\n"
    "enabled tracked chats as `tgharvest collect` does: backfill, live new messages,\n"
    "edits and deletions, gap-fill and reconcile passes, until SIGTERM or Ctrl-C.\n"
    "Without an account it says how to get one and exits. `make run` runs\n"
    "`tgharvest run --import examples`.\n",
};
