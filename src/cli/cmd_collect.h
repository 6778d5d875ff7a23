/* SPDX-License-Identifier: MIT */
/*
 * cmd_collect.h - what `collect` shares with `run`: signals and the summary.
 */
#ifndef TGH_CLI_CMD_COLLECT_H
#define TGH_CLI_CMD_COLLECT_H

#include <signal.h>
#include <stdbool.h>

#include "collect/collect.h"

/* SIGTERM and SIGINT set the stop flag; SIGPIPE is ignored. */
void collect_cli_signals(void);
volatile sig_atomic_t *collect_cli_stop_flag(void);

/* Print the summary; returns CLI_EXIT_OK when every chat went well. */
int collect_cli_print(const struct collect_result *r, bool as_json, bool daemon);

#endif
