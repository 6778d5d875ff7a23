/* SPDX-License-Identifier: MIT */
/*
 * cmd_query.h - printing stored messages as event lines, shared with export.
 */
#ifndef TGH_CLI_CMD_QUERY_H
#define TGH_CLI_CMD_QUERY_H

#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

/* A delete event line (date MSG_UNSET when unknown); -1 on a write error. */
int query_print_delete(FILE *out, int64_t chat_id, int64_t message_id, int64_t date,
                       int64_t deleted_at, const char *source, const char *chat_type);

/* The row's event, and its delete event when tombstoned; -1 on a write error. */
int query_print_event_lines(FILE *out, const struct store_message_row *row);

#endif
