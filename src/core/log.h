/* SPDX-License-Identifier: MIT */
/*
 * log.h - logfmt lines on stderr:
 *   2026-11-23T22:56:01.123Z level=warn sub=store "message"
 * Each .c file that logs defines TGH_LOG_SUB. The format
 * is a contract: tests and operators grep it. Secrets are never formatted.
 */
#ifndef TGH_CORE_LOG_H
#define TGH_CORE_LOG_H

#include "core/err.h"

enum tgh_log_level { TGH_LOG_ERROR = 0, TGH_LOG_WARN, TGH_LOG_INFO, TGH_LOG_DEBUG };

void tgh_log_set_level(enum tgh_log_level level);
enum tgh_log_level tgh_log_get_level(void);

/* Parse "error", "warn", "info", "debug". */
TGH_MUSTCHECK tgh_err tgh_log_level_parse(const char *s, enum tgh_log_level *out);

void tgh_log(enum tgh_log_level level, const char *sub, const char *fmt, ...) TGH_PRINTF(3, 4);

/* TGH_LOG_SUB must be defined (anywhere before the first use) in each .c that logs. */
#define log_error(...) tgh_log(TGH_LOG_ERROR, TGH_LOG_SUB, __VA_ARGS__)
#define log_warn(...)  tgh_log(TGH_LOG_WARN, TGH_LOG_SUB, __VA_ARGS__)
#define log_info(...)  tgh_log(TGH_LOG_INFO, TGH_LOG_SUB, __VA_ARGS__)
#define log_debug(...)                                        \
    do {                                                      \
        if (tgh_log_get_level() >= TGH_LOG_DEBUG)             \
            tgh_log(TGH_LOG_DEBUG, TGH_LOG_SUB, __VA_ARGS__); \
    } while (0)

#endif
