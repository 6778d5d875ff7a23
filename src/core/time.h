/* SPDX-License-Identifier: MIT */
/*
 * time.h - the dates people and URLs give: parsing an integer or a UTC date
 * strictly, the same for the CLI and the HTTP API.
 */
#ifndef TGH_CORE_TIME_H
#define TGH_CORE_TIME_H

#include <stdint.h>

#include "core/err.h"

/* Largest Unix second accepted (9999-12-31T23:59:59Z). */
#define TGH_TIME_MAX INT64_C(253402300799)

/*
 * A decimal integer in [min, max], nothing else around it (no sign for
 * positive numbers is needed, no spaces). TGH_EINVAL naming the text otherwise.
 */
TGH_MUSTCHECK tgh_err tgh_int_parse(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * A UTC date: Unix seconds, YYYY-MM-DD, or YYYY-MM-DD[T ]HH:MM[:SS] with an
 * optional Z. Impossible dates (2024-02-30) are TGH_EINVAL, never normalised.
 */
TGH_MUSTCHECK tgh_err tgh_time_parse(const char *s, int64_t *out);

#endif
