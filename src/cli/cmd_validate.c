/* SPDX-License-Identifier: MIT */
/*
 * cmd_validate.c - `validate`: did what each collection run promised land
 * (src/quality/quality_validate.c)? Any shortfall is named and exits 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "quality/quality.h"

static const struct option longopts[] = {
    { "run", required_argument, NULL, 'r' }, { "since", required_argument, NULL, 'S' },
    { "json", no_argument, NULL, 'j' },      { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },      { NULL, 0, NULL, 0 },
};

static void
print_problems(const json_t *list)
{
    size_t i, k;
    const json_t *o, *p;

    json_array_foreach (list, i, o)
        json_array_foreach (json_object_get(o, "problems"), k, p)
            printf("shortfall: %s\n", json_string_value(p));
}

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    int64_t now = (int64_t)time(NULL), since = now - 86400, run_id = 0;
    const char *store_url = NULL;
    struct store *st = NULL;
    json_t *res = NULL;
    bool as_json = false;
    int ch, rc = CLI_EXIT_OK;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hjr:S:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (cli_parse_int(optarg, 1, INT64_MAX, &run_id) != TGH_OK)
                return cli_usage_error(&cli_cmd_validate, "--run: %s", tgh_errmsg());
            break;
        case 'S':
            if (cli_parse_date(optarg, &since) != TGH_OK)
                return cli_usage_error(&cli_cmd_validate, "--since: %s", tgh_errmsg());
            break;
        case 'j':
            as_json = true;
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
    if (cli_store_open(cfg, store_url, false, &st) != TGH_OK) {
        cli_error("validate", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (quality_validate(st, run_id, since, now, &res) != TGH_OK) {
        cli_error("validate", "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    } else if (as_json) {
        if (json_dumpf(res, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF)
            rc = CLI_EXIT_FAIL;
    } else {
        print_problems(json_object_get(res, "runs"));
        print_problems(json_object_get(res, "cursors"));
        printf("%" PRId64 " runs and %zu cursors checked: %s\n",
               (int64_t)json_integer_value(json_object_get(res, "runs_checked")),
               json_array_size(json_object_get(res, "cursors")),
               json_is_true(json_object_get(res, "ok")) ? "everything promised landed"
                                                        : "shortfalls above");
    }
    if (rc == CLI_EXIT_OK && !json_is_true(json_object_get(res, "ok")))
        rc = CLI_EXIT_FAIL;
    json_decref(res);
    store_close(st);
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
