/* SPDX-License-Identifier: MIT */
/*
 * main.c - the tgharvest binary: load configuration, dispatch to the
 * subcommand named on the command line.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

static const struct cli_cmd *const commands[] = {
    &cli_cmd_run,     &cli_cmd_login,  &cli_cmd_logout,   &cli_cmd_accounts, &cli_cmd_chats,
    &cli_cmd_collect, &cli_cmd_import, &cli_cmd_messages, &cli_cmd_search,   &cli_cmd_export,
    &cli_cmd_stats,   &cli_cmd_decode, &cli_cmd_work,     &cli_cmd_replay,   &cli_cmd_cleanup,
    &cli_cmd_serve,   &cli_cmd_media,  &cli_cmd_bot,      &cli_cmd_gaps,     &cli_cmd_validate,
    &cli_cmd_report,
};

#define NCOMMANDS TGH_NELEM(commands)

static void
usage(FILE *out)
{
    (void)fprintf(out, "usage: tgharvest COMMAND [OPTIONS]\n"
                       "       tgharvest COMMAND --help\n"
                       "       tgharvest --version\n\n"
                       "Collect and archive Telegram chats: history, edits, deletions, media.\n\n"
                       "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        (void)fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    (void)fprintf(out, "\nConfiguration comes from TGH_* environment variables and an optional\n"
                       ".env file (see docs/config.md). TGH_STORE defaults to\n"
                       "sqlite://data/tgharvest.db.\n");
}

static const struct cli_cmd *
find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

int
main(int argc, char **argv)
{
    const struct cli_cmd *cmd;
    struct tgh_config cfg;
    int rc;

    /* An archive holds private conversations: what we create is the user's alone. */
    (void)umask(077);
    opterr = 0; /* bad options are reported by the command, in one line */
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("tgharvest %s (event schema_version 1)\n", TGH_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        cmd = find_command(argv[2]);
        if (cmd == NULL) {
            cli_error("help", "unknown command '%s'", argv[2]);
            return CLI_EXIT_USAGE;
        }
        return cli_help(cmd);
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL) {
        (void)fprintf(stderr, "tgharvest: unknown command '%s' (try tgharvest --help)\n", argv[1]);
        return CLI_EXIT_USAGE;
    }
    if (tgh_config_load(&cfg) != TGH_OK) {
        cli_error(cmd->name, "configuration: %s", tgh_errmsg());
        tgh_config_fini(&cfg);
        return CLI_EXIT_FAIL;
    }
    tgh_log_set_level(cfg.log_level);
    rc = cmd->run(&cfg, argc - 1, argv + 1);
    tgh_config_fini(&cfg);
    return rc;
}
