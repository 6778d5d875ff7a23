/* SPDX-License-Identifier: MIT */
/*
 * cmd_report.c - `report`: the data-quality report (src/quality/), as JSON
 * or one self-contained HTML page, on stdout or written atomically to -o.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "quality/quality.h"

static const struct option longopts[] = {
    { "since", required_argument, NULL, 'S' },  { "format", required_argument, NULL, 'f' },
    { "output", required_argument, NULL, 'o' }, { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct quality_opts o = { .now = (int64_t)time(NULL), .freshness_slo = cfg->freshness_slo };
    const char *store_url = NULL, *output = NULL;
    struct store *st = NULL;
    json_t *report = NULL;
    bool html = false;
    char tmp[4096];
    FILE *out = stdout;
    int ch, rc = CLI_EXIT_FAIL;
    tgh_err err;

    o.since = o.now - 86400;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "hS:f:o:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S':
            if (cli_parse_date(optarg, &o.since) != TGH_OK)
                return cli_usage_error(&cli_cmd_report, "--since: %s", tgh_errmsg());
            break;
        case 'f':
            if (strcmp(optarg, "html") == 0)
                html = true;
            else if (strcmp(optarg, "json") != 0)
                return cli_usage_error(&cli_cmd_report, "--format: json or html, not '%s'", optarg);
            break;
        case 'o':
            output = optarg;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_report);
        default:
            return cli_bad_option(&cli_cmd_report, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_report, "unexpected argument '%s'", argv[optind]);
    if (cli_store_open(cfg, store_url, false, &st) != TGH_OK) {
        cli_error("report", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if ((err = quality_report(st, &o, &report)) != TGH_OK) {
        cli_error("report", "%s", tgh_errmsg());
        goto done;
    }
    if (output != NULL && cli_atomic_open(output, tmp, sizeof(tmp), &out) != TGH_OK) {
        cli_error("report", "%s", tgh_errmsg());
        goto done;
    }
    if (html)
        err = quality_html(report, out);
    else if (json_dumpf(report, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF)
        err = tgh_errf(TGH_EIO, "the report could not be written");
    if (output != NULL) {
        if (err == TGH_OK)
            err = cli_atomic_commit(out, tmp, output);
        else
            cli_atomic_abort(out, tmp);
    }
    if (err != TGH_OK) {
        cli_error("report", "%s", tgh_errmsg());
        goto done;
    }
    rc = output != NULL ? CLI_EXIT_OK : cli_finish_output("report", CLI_EXIT_OK);
done:
    json_decref(report);
    store_close(st);
    return rc;
}

const struct cli_cmd cli_cmd_report = {
    "report",
    run,
    "the data-quality report: per chat volume, freshness, gaps, edits, deletions, errors",
    "usage: tgharvest report [--since DATE] [--format json|html] [-o FILE] [--store URL]\n"
    "\n"
    "Per chat: messages, first and last, freshness lag against TGH_FRESHNESS_SLO\n"
    "(tracked chats), missing ids by gap class, edits, deletions, the same content\n"
    "under two ids, replies and threads that point at nothing, dates out of order or\n"
    "in the future, missing fields per kind, runs and flood waits since DATE\n"
    "(default: 24 hours ago); open dead letters by source. --format html writes one\n"
    "self-contained page with charts (no script, nothing fetched). -o writes FILE\n"
    "atomically, readable by its owner only. Details: docs/internals/report.md.\n",
};
