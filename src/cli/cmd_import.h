/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.h - the import step shared by `import` and `run --import`.
 */
#ifndef TGH_CLI_CMD_IMPORT_H
#define TGH_CLI_CMD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pipeline/pipeline.h"

/*
 * Import paths into the store at store_url; file errors are printed as they
 * happen, as errors of command cmd. A progress line is drawn when asked and stderr is a terminal.
 */
TGH_MUSTCHECK tgh_err import_run(const char *cmd, const char *store_url, enum pipeline_from from,
                                 char **paths, int npaths, const char *tz, size_t batch_size,
                                 bool progress, struct pipeline_import_totals *tot,
                                 double *seconds);

#endif
