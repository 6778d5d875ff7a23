/* SPDX-License-Identifier: MIT */
/*
 * time.c - strict integer and UTC date parsing. strptime accepts what the
 * formats allow, so the day and month are checked after timegm: a date that
 * timegm had to normalise was not a date of the calendar.
 */
#include "core/time.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

tgh_err
tgh_int_parse(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || isspace((unsigned char)*s) || v < min || v > max)
        return tgh_errf(TGH_EINVAL, "'%.64s' is not an integer in %" PRId64 "..%" PRId64, s, min,
                        max);
    *out = v;
    return TGH_OK;
}

tgh_err
tgh_time_parse(const char *s, int64_t *out)
{
    static const char *const formats[] = { "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                                           "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d" };
    bool digits = *s != '\0';

    for (const char *p = s; *p; p++)
        digits = digits && isdigit((unsigned char)*p);
    if (digits)
        return tgh_int_parse(s, 0, TGH_TIME_MAX, out);
    for (size_t i = 0; i < TGH_NELEM(formats); i++) {
        struct tm tm, want;
        const char *end;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end == NULL)
            continue;
        if (*end == 'Z')
            end++;
        if (*end != '\0')
            continue;
        want = tm;
        t = timegm(&tm);
        if (tm.tm_mday != want.tm_mday || tm.tm_mon != want.tm_mon)
            return tgh_errf(TGH_EINVAL, "'%.64s' is not a date of the calendar", s);
        /* Year 4 parses too, and Unix seconds before 1970 are nothing we keep. */
        if ((int64_t)t < 0 || (int64_t)t > TGH_TIME_MAX)
            return tgh_errf(TGH_EINVAL, "'%.64s' is outside 1970-01-01..9999-12-31", s);
        *out = (int64_t)t;
        return TGH_OK;
    }
    return tgh_errf(TGH_EINVAL,
                    "'%.64s' is not a date (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] in UTC, or Unix "
                    "seconds)",
                    s);
}
