/* SPDX-License-Identifier: MIT */
/*
 * cmd_bot.c - `bot`: the archive bot (src/bot/).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "bot/bot.h"
#include "cli/cli.h"
#include "cli/cmd_collect.h"

static const struct option longopts[] = {
    { "once", no_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

#define PUT(key, v) (void)json_object_set_new(summary, key, json_integer((json_int_t)(v)))

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct bot_opts o = { .cfg = cfg };
    struct api_server *srv = NULL;
    struct bot_totals t;
    json_t *summary;
    tgh_err rc;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "ho", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o.once = true;
            break;
        case 'h':
            return cli_help(&cli_cmd_bot);
        default:
            return cli_bad_option(&cli_cmd_bot, argv);
        }
    }
    if (optind != argc)
        return cli_usage_error(&cli_cmd_bot, "unexpected argument '%s'", argv[optind]);
    if (*cfg->archive_bot_token == '\0') {
        cli_error("bot", "TGH_BOT_TOKEN is not set (the bot's token from @BotFather)");
        return CLI_EXIT_USAGE;
    }
    collect_cli_signals();
    o.stop = collect_cli_stop_flag();
    if (*cfg->metrics_addr != '\0' &&
        cli_http_start_opts(cfg, NULL, cfg->metrics_addr, NULL, "bot", true, &srv) != TGH_OK) {
        cli_error("bot", "TGH_METRICS_ADDR: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    rc = bot_run(&o, &t);
    api_server_stop(srv);
    summary = cli_summary_new(rc);
    PUT("updates", t.updates);
    PUT("archived", t.archived);
    PUT("duplicates", t.duplicates);
    PUT("refused", t.refused);
    PUT("skipped", t.skipped);
    PUT("commands", t.commands);
    PUT("files", t.files);
    PUT("relayed", t.relayed);
    PUT("flood_waits", t.flood_waits);
    PUT("next_update_id", t.next_update_id);
    (void)json_object_set_new(summary, "error",
                              rc == TGH_OK ? json_null() : json_string(tgh_errmsg()));
    if (rc != TGH_OK)
        cli_error("bot", "%s", tgh_errmsg());
    return cli_summary_print("bot", summary, rc == TGH_OK);
}

const struct cli_cmd cli_cmd_bot = {
    "bot",
    run,
    "the archive bot: what whitelisted users forward to it is archived",
    "usage: tgharvest bot [--once]\n"
    "\n"
    "Long-poll the Bot API at TGH_BOT_API_URL with TGH_BOT_TOKEN and archive into\n"
    "TGH_STORE every message that a user of TGH_BOT_WHITELIST sends or forwards to\n"
    "the bot in its private chat: text, entities, where it was forwarded from,\n"
    "replies, albums (held TGH_BOT_ALBUM_WAIT_MS for their parts), every media kind.\n"
    "Files go to TGH_MEDIA as TGH_MEDIA_KINDS says: through getFile up to\n"
    "TGH_BOT_FILE_LIMIT, larger ones through the TDLib account TGH_BOT_RELAY (which\n"
    "must run `collect` or `run`). Each message gets a reply: what was archived,\n"
    "duplicates, where its file went. Commands: /start, /help, /status, /jobs,\n"
    "/retry ID, /stats. Everything else (groups, channels, other users) is ignored\n"
    "and counted. The update offset is stored only after what it covers was\n"
    "committed: a crash delivers again, never loses.\n"
    "  --once  return when the Bot API has no update left (no long poll)\n"
    "TGH_METRICS_ADDR (host:port) serves /metrics. SIGTERM or SIGINT: finish the\n"
    "page in hand and exit. Prints a JSON summary on stdout.\n",
};
