/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.h - the import step shared by `import` and `run --import`.
 */
#ifndef TGH_CLI_CMD_IMPORT_H
#define TGH_CLI_CMD_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/config.h"
#include "core/err.h"
#include "pipeline/pipeline.h"

/*
 * Import paths into the store at store_url; file errors are printed as they
 * happen, as errors of command cmd. A progress line is drawn when asked and stderr is a terminal.
 */
/*
 * The media beside exports go to cfg's TGH_MEDIA under its policy unless
 * media is false (--no-media) or TGH_MEDIA is off; a bad media setting is
 * TGH_EINVAL before anything is imported.
 */
TGH_MUSTCHECK tgh_err import_run(const struct tgh_config *cfg, const char *cmd,
                                 const char *store_url, enum pipeline_from from, char **paths,
                                 int npaths, const char *tz, size_t batch_size, bool progress,
                                 bool media, struct pipeline_import_totals *tot, double *seconds);

/* The media part of an import summary, or NULL when the import stored none. */
json_t *import_media_json(const struct pipeline_import_totals *t);

#endif
