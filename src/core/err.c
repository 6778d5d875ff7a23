/* SPDX-License-Identifier: MIT */
/*
 * err.c - thread-local error detail, so that a deep failure can explain
 * itself without every layer logging it, and where TGH_ASSERT ends.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define TGH_LOG_SUB "core"

static _Thread_local char errbuf[1024];

tgh_err
tgh_errf(tgh_err code, const char *fmt, ...)
{
    char tmp[sizeof(errbuf)];
    va_list ap;

    /* Through a copy: callers often wrap the current detail ("%s: %s", ..., tgh_errmsg()). */
    va_start(ap, fmt);
    (void)vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(errbuf, tmp, sizeof(errbuf));
    return code;
}

const char *
tgh_errmsg(void)
{
    return errbuf;
}

void
tgh_err_clear(void)
{
    errbuf[0] = '\0';
}

void
tgh_assert_fail(const char *cond, const char *file, int line, const char *func)
{
    log_error("assertion failed: %s (%s:%d, %s)", cond, file, line, func);
    abort();
}

const char *
tgh_err_name(tgh_err code)
{
    static const char *const names[] = {
        [TGH_OK] = "OK",
        [TGH_ENOMEM] = "ENOMEM",
        [TGH_EINVAL] = "EINVAL",
        [TGH_ETOOBIG] = "ETOOBIG",
        [TGH_EIO] = "EIO",
        [TGH_EPROTO] = "EPROTO",
        [TGH_ETIMEOUT] = "ETIMEOUT",
        [TGH_EAGAIN] = "EAGAIN",
        [TGH_EUNAVAIL] = "EUNAVAIL",
        [TGH_ECONFLICT] = "ECONFLICT",
        [TGH_ENOTFOUND] = "ENOTFOUND",
    };

    if ((unsigned)code >= TGH_NELEM(names) || names[code] == NULL)
        return "EUNKNOWN";
    return names[code];
}

bool
tgh_err_is_transient(tgh_err code)
{
    return code == TGH_EUNAVAIL || code == TGH_ETIMEOUT || code == TGH_EAGAIN;
}
