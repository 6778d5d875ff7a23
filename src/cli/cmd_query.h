/* SPDX-License-Identifier: MIT */
/*
 * cmd_query.h - printing stored messages as event lines, shared with export.
 */
#ifndef TGH_CLI_CMD_QUERY_H
#define TGH_CLI_CMD_QUERY_H

#include <stdio.h>

#include "store/store.h"

/* The row's event, and its delete event when tombstoned; -1 on a write error. */
int query_print_event_lines(FILE *out, const struct store_message_row *row);

#endif
