/* SPDX-License-Identifier: MIT */
/*
 * config.h - configuration from TGH_* environment variables and an optional
 * .env-style file. One table (config.c) names every key, its type, default
 * and meaning; docs/config.md lists the same keys (a unit test checks).
 * Precedence: process environment, then the file, then the default.
 */
#ifndef TGH_CORE_CONFIG_H
#define TGH_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"

#define TGH_ENV_FILE_MAX (1 << 20) /* a .env file larger than this is refused */

struct tgh_config {
    char *store_url;              /* TGH_STORE */
    enum tgh_log_level log_level; /* TGH_LOG_LEVEL */
    char *import_tz;              /* TGH_IMPORT_TZ: zone of export dates lacking date_unixtime */
    int64_t batch_size;           /* TGH_BATCH_SIZE: events per store transaction */
    char *env_file;               /* TGH_ENV_FILE */
    char *tdjson_path;            /* TGH_TDJSON: "" means the installed default */
};

/* Load from the environment and the .env file it names (default ./.env, if present). */
TGH_MUSTCHECK tgh_err tgh_config_load(struct tgh_config *cfg);
void tgh_config_fini(struct tgh_config *cfg);

/* Every key of the table, for docs and tests: NULL-terminated. */
const char *const *tgh_config_keys(void);

/* One KEY=VALUE pair of a .env file. Return non-TGH_OK to stop. */
typedef tgh_err (*tgh_env_fn)(void *arg, const char *key, const char *value, int line);

/*
 * Parse .env text: KEY=VALUE lines, optional "export " prefix, # comments,
 * values optionally in single quotes (literal) or double quotes (\n \t \\ \"
 * escapes). A malformed line is an error naming its line number.
 */
TGH_MUSTCHECK tgh_err tgh_env_parse(const char *text, size_t len, tgh_env_fn fn, void *arg);

#endif
