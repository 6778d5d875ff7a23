/* SPDX-License-Identifier: MIT */
/*
 * err.h - error codes and the thread-local error detail.
 *
 * A function that fails records what went wrong with tgh_errf() where it is
 * detected and returns the code; the caller that decides the consequence
 * logs or prints tgh_errmsg() once.
 */
#ifndef TGH_CORE_ERR_H
#define TGH_CORE_ERR_H

#include <stdbool.h>

#define TGH_MUSTCHECK    __attribute__((warn_unused_result))
#define TGH_NORETURN     __attribute__((noreturn))
#define TGH_PRINTF(f, a) __attribute__((format(printf, f, a)))

typedef enum tgh_err {
    TGH_OK = 0,
    TGH_ENOMEM,
    TGH_EINVAL,  /* bad input: permanent */
    TGH_ETOOBIG, /* input over a hard cap: permanent */
    TGH_EIO,
    TGH_EPROTO, /* peer or file broke its format: permanent */
    TGH_ETIMEOUT,
    TGH_EAGAIN,
    TGH_EUNAVAIL, /* dependency down: transient */
    TGH_ECONFLICT,
    TGH_ENOTFOUND,
} tgh_err;

/* Record a formatted detail for the current thread and return code. */
tgh_err tgh_errf(tgh_err code, const char *fmt, ...) TGH_PRINTF(2, 3);

/* The last detail recorded by this thread ("" when none). */
const char *tgh_errmsg(void);

/* Forget the recorded detail. */
void tgh_err_clear(void);

/*
 * TGH_ASSERT(cond) checks an invariant of the program itself and stays on in
 * every build type. Never use it on bytes from outside (Telegram JSON, files,
 * queue payloads, HTTP requests, env): those are validated into an error. On
 * failure it logs the condition and its place and aborts.
 */
#define TGH_ASSERT(cond) ((cond) ? (void)0 : tgh_assert_fail(#cond, __FILE__, __LINE__, __func__))

TGH_NORETURN void tgh_assert_fail(const char *cond, const char *file, int line, const char *func);

/* "EINVAL", "EIO", ... */
const char *tgh_err_name(tgh_err code);

/* True for errors worth retrying later (UNAVAIL, TIMEOUT, AGAIN). */
bool tgh_err_is_transient(tgh_err code);

#endif
