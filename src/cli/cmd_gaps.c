/* SPDX-License-Identifier: MIT */
/*
 * cmd_gaps.c - `gaps`: what the gap checks found (docs/internals/gaps.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "quality/quality.h"

static const struct option longopts[] = {
    { "chat", required_argument, NULL, 'c' },
    { "json", no_argument, NULL, 'j' },
    { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct gaps_out {
    bool as_json;
    int64_t chat; /* the current chat of the JSON output */
    json_t *chats, *cur;
    int64_t ids[STORE_GAP_CLASSES];
    int64_t rows;
};

static int
on_gap(void *arg, const struct store_gap *g)
{
    struct gaps_out *o = arg;
    int64_t n = g->last_id - g->first_id + 1;
    char when[32];

    o->ids[g->cls] += n;
    o->rows++;
    if (!o->as_json) {
        (void)cli_fmt_time(g->checked_at, when, sizeof(when));
        printf("%-16" PRId64 " %10" PRId64 " %10" PRId64 " %8" PRId64 " %-12s %-8s %-19s ",
               g->chat_id, g->first_id, g->last_id, n, store_gap_class_name(g->cls),
               store_gap_pos_name(g->pos), when);
        cli_put_text(stdout, g->detail != NULL ? g->detail : "");
        putchar('\n');
        return 0;
    }
    if (o->cur == NULL || g->chat_id != o->chat) {
        json_t *ids = json_object();

        o->chat = g->chat_id;
        o->cur = json_object();
        for (int k = 0; k < STORE_GAP_CLASSES; k++)
            (void)json_object_set_new(ids, store_gap_class_name((enum store_gap_class)k),
                                      json_integer(0));
        (void)json_object_set_new(o->cur, "chat_id", json_integer(g->chat_id));
        (void)json_object_set_new(o->cur, "ids", ids);
        (void)json_object_set_new(o->cur, "gaps", json_array());
        (void)json_array_append_new(o->chats, o->cur);
    }
    {
        json_t *ids = json_object_get(o->cur, "ids");
        const char *k = store_gap_class_name(g->cls);

        (void)json_object_set_new(ids, k,
                                  json_integer(json_integer_value(json_object_get(ids, k)) + n));
    }
    (void)json_array_append_new(json_object_get(o->cur, "gaps"), quality_gap_json(g));
    return 0;
}

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct gaps_out o = { 0 };
    const char *chat = NULL, *store_url = NULL;
    struct store *st = NULL;
    int64_t chat_id = MSG_UNSET;
    int ch, rc = CLI_EXIT_OK;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hjc:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            chat = optarg;
            break;
        case 'j':
            o.as_json = true;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_gaps);
        default:
            return cli_bad_option(&cli_cmd_gaps, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_gaps, "unexpected argument '%s'", argv[optind]);
    if (cli_store_open(cfg, store_url, false, &st) != TGH_OK) {
        cli_error("gaps", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (chat != NULL && cli_parse_chat(st, chat, &chat_id) != TGH_OK) {
        cli_error("gaps", "--chat: %s", tgh_errmsg());
        store_close(st);
        return CLI_EXIT_FAIL;
    }
    o.chats = json_array();
    if (!o.as_json)
        printf("%-16s %10s %10s %8s %-12s %-8s %-19s %s\n", "CHAT", "FIRST", "LAST", "IDS", "CLASS",
               "POSITION", "CHECKED (UTC)", "DETAIL");
    if (store_gaps_each(st, chat_id, on_gap, &o) != TGH_OK) {
        cli_error("gaps", "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    }
    if (rc == CLI_EXIT_OK && o.as_json) {
        json_t *root = json_object(), *ids = json_object();

        for (int k = 0; k < STORE_GAP_CLASSES; k++)
            (void)json_object_set_new(ids, store_gap_class_name((enum store_gap_class)k),
                                      json_integer(o.ids[k]));
        (void)json_object_set_new(root, "ids", ids);
        (void)json_object_set_new(root, "chats", json_incref(o.chats));
        if (json_dumpf(root, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF)
            rc = CLI_EXIT_FAIL;
        json_decref(root);
    } else if (rc == CLI_EXIT_OK) {
        printf("%" PRId64 " rows; missing ids: %" PRId64 " deleted, %" PRId64
               " missed (fetched), %" PRId64 " inaccessible, %" PRId64 " unknown\n",
               o.rows, o.ids[STORE_GAP_DELETED], o.ids[STORE_GAP_MISSED],
               o.ids[STORE_GAP_INACCESSIBLE], o.ids[STORE_GAP_UNKNOWN]);
    }
    json_decref(o.chats);
    store_close(st);
    return cli_finish_output("gaps", rc);
}

const struct cli_cmd cli_cmd_gaps = {
    "gaps",
    run,
    "the message ids each chat lacks, and what the gap checks found them to be",
    "usage: tgharvest gaps [--chat CHAT] [--json] [--store URL]\n"
    "\n"
    "Runs of message ids the archive does not hold, as the last gap check of each\n"
    "chat found them (collect --once --verify, or the daemon's checks): deleted\n"
    "(Telegram has no message there; tombstones), missed (Telegram had them and the\n"
    "archive did not: fetched and stored since), inaccessible (history the account\n"
    "cannot read: before it joined, a private range) or unknown (not checked yet).\n"
    "Each run is leading (before the oldest stored id), inner, or trailing (after\n"
    "the newest).\n"
    "  --chat CHAT  one chat (id, @username or title)\n"
    "  --json       one JSON object: ids by class, and per chat its runs\n",
};
