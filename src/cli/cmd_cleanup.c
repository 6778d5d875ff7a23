/* SPDX-License-Identifier: MIT */
/*
 * cmd_cleanup.c - `cleanup`: retention (TGH_RETENTION_DAYS), whole months at
 * a time; a one-shot step for cron or Airflow.
 */
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "store/store.h"

static const struct option longopts[] = {
    { "retention-days", required_argument, NULL, 'r' },
    { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *url = NULL;
    int64_t days = cfg->retention_days, removed = 0;
    struct store *st = NULL;
    json_t *summary;
    tgh_err rc;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hr:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (cli_parse_int(optarg, 0, TGH_RETENTION_DAYS_MAX, &days) != TGH_OK)
                return cli_usage_error(&cli_cmd_cleanup, "--retention-days: %s", tgh_errmsg());
            break;
        case 's':
            url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_cleanup);
        default:
            return cli_bad_option(&cli_cmd_cleanup, argv);
        }
    }
    if (optind != argc)
        return cli_usage_error(&cli_cmd_cleanup, "unexpected argument '%s'", argv[optind]);
    rc = cli_store_open(cfg, url, false, &st);
    if (rc == TGH_OK)
        rc = store_retention_apply(st, days, (int64_t)time(NULL), &removed);
    store_close(st);
    if (rc != TGH_OK)
        cli_error("cleanup", "%s", tgh_errmsg());
    summary = cli_summary_new(rc);
    (void)json_object_set_new(summary, "retention_days", json_integer(days));
    (void)json_object_set_new(summary, "messages_removed", json_integer(removed));
    return cli_summary_print("cleanup", summary, rc == TGH_OK);
}

const struct cli_cmd cli_cmd_cleanup = {
    "cleanup",
    run,
    "apply retention: remove messages older than TGH_RETENTION_DAYS, whole months",
    "usage: tgharvest cleanup [--retention-days N] [--store URL]\n"
    "\n"
    "Remove the messages (and their earlier versions) dated before the start of\n"
    "the UTC month that holds now - N days, N from --retention-days or\n"
    "TGH_RETENTION_DAYS (0, the default, keeps everything). A PostgreSQL store\n"
    "drops those months' partitions whole; SQLite deletes the same rows.\n"
    "Chats, runs, cursors and tombstones of unknown messages stay.\n"
    "Prints a JSON summary; exit status 1 on failure.\n",
};
