/* SPDX-License-Identifier: MIT */
/*
 * log.c - one logfmt line per call, written with a single write so lines
 * from several threads never interleave.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

static _Atomic int cur_level = TGH_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
tgh_log_set_level(enum tgh_log_level level)
{
    atomic_store(&cur_level, (int)level);
}

enum tgh_log_level
tgh_log_get_level(void)
{
    return (enum tgh_log_level)atomic_load(&cur_level);
}

tgh_err
tgh_log_level_parse(const char *s, enum tgh_log_level *out)
{
    for (size_t i = 0; i < TGH_NELEM(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum tgh_log_level)i;
            return TGH_OK;
        }
    }
    return tgh_errf(TGH_EINVAL, "unknown log level '%s' (error, warn, info, debug)", s);
}

void
tgh_log(enum tgh_log_level level, const char *sub, const char *fmt, ...)
{
    char line[2048], msg[1536];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    if ((int)level > atomic_load(&cur_level))
        return;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    (void)gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s sub=%s \"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[level], sub);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    if ((size_t)m >= sizeof(msg))
        m = (int)sizeof(msg) - 1;
    /*
     * The message is quoted logfmt: quotes and backslashes are escaped, and
     * so are control characters (C0, DEL, C1), which chat titles and other
     * text from Telegram may carry, so a log line cannot drive a terminal.
     */
    for (int i = 0; i < m && (size_t)n < sizeof(line) - 8; i++) {
        unsigned char c = (unsigned char)msg[i];

        if (c == '"' || c == '\\') {
            line[n++] = '\\';
            line[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            n += snprintf(line + n, sizeof(line) - (size_t)n, "\\x%02x", c);
        } else if (c == 0xc2 && i + 1 < m && (unsigned char)msg[i + 1] >= 0x80 &&
                   (unsigned char)msg[i + 1] <= 0x9f) {
            n += snprintf(line + n, sizeof(line) - (size_t)n, "\\xc2\\x%02x",
                          (unsigned char)msg[++i]);
        } else {
            line[n++] = (char)c;
        }
    }
    line[n++] = '"';
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
