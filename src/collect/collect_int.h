/* SPDX-License-Identifier: MIT */
/*
 * collect_int.h - the TDLib client hub (private to src/collect/).
 *
 * One hub drives every account's TDLib client through the single receive
 * loop TDLib has per process. Requests carry an "@extra" the hub matches
 * answers with. The hub is where Telegram's limits are kept, so callers only
 * ever see final answers:
 * - history requests wait for a token of the account's bucket;
 * - a 429 "retry after N" puts the whole account on hold until N plus
 *   jitter has passed (logged once, counted), then the same request is sent
 *   again: a paged walk resumes where it stopped;
 * - transient errors (5xx) are retried with exponential backoff and full
 *   jitter; other errors go to the caller, who treats them as permanent.
 */
#ifndef TGH_COLLECT_COLLECT_INT_H
#define TGH_COLLECT_COLLECT_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "collect/collect.h"
#include "source/source.h"

enum td_auth {
    TD_AUTH_NONE = 0, /* no state received yet */
    TD_AUTH_WAIT_PARAMS,
    TD_AUTH_WAIT_PHONE,
    TD_AUTH_WAIT_CODE,
    TD_AUTH_WAIT_PASSWORD,
    TD_AUTH_WAIT_OTHER, /* email, registration, QR: not supported */
    TD_AUTH_READY,
    TD_AUTH_LOGGING_OUT,
    TD_AUTH_CLOSING,
    TD_AUTH_CLOSED,
};

/* Counters a request's owner wants kept (may be shared by many requests). */
struct td_counts {
    int64_t requests;
    int64_t flood_waits;
    int64_t flood_seconds;
    int64_t retries;
};

struct td_hub;
struct td_acct;

/* An answer: the object (borrowed for the call), never a 429 or a retried 5xx. */
typedef void (*td_cb)(void *ctx, struct td_acct *a, json_t *answer);

struct td_acct {
    struct td_hub *hub;
    char name[COLLECT_ACCOUNT_NAME_MAX + 1];
    char dir[PATH_MAX];
    int lock_fd;
    int client_id;
    enum td_auth auth;
    char auth_error[256]; /* last authorization error, for login */
    bool connected;       /* connectionStateReady */
    double offline_since; /* when it last lost (or has not yet had) the connection */
    int64_t ready_epoch;  /* bumped on every return to connectionStateReady */
    int64_t my_id;        /* the account's user id (updateOption my_id), 0 until known */
    double flood_until;   /* monotonic seconds; no request before it */
    double tokens;        /* history token bucket */
    double refill_at;
    double rate;  /* tokens per second, 0: unlimited */
    double burst; /* bucket size */
    struct td_counts counts;
    void *owner; /* the engine's per-account data */
};

struct td_hub {
    const struct tgh_config *cfg;
    struct source_tdjson *tj;
    struct td_acct **accts;
    size_t nacct;
    struct td_pending *pending; /* sent, waiting for an answer */
    size_t npending, cappending;
    struct td_pending *waiting; /* not sent yet: flood, bucket or backoff */
    size_t nwaiting, capwaiting;
    uint64_t next_extra;
    bool log_routed;
    /* every update (and answers nobody waits for) of a client */
    void (*on_update)(void *arg, struct td_acct *a, json_t *update);
    void *on_update_arg;
};

double td_now(void); /* monotonic seconds */

/* TG_API_ID and TG_API_HASH are set (TDLib refuses to start without them). */
TGH_MUSTCHECK tgh_err td_check_credentials(const struct tgh_config *cfg);

/* Load TDLib (td_check_credentials first); no client yet. */
TGH_MUSTCHECK tgh_err td_hub_open(const struct tgh_config *cfg, struct td_hub **out);

/* Close h (NULL is fine) after rc failed, keeping rc's detail as the error; returns rc. */
TGH_MUSTCHECK tgh_err td_hub_close_failed(struct td_hub *h, tgh_err rc);
/* Close every client (waiting for authorizationStateClosed up to timeout_s), free. */
void td_hub_close(struct td_hub *h, double timeout_s);

/*
 * Open account name: validate the name, create its folder (0700) when
 * create, take its lock (TGH_ECONFLICT naming the holder when another process
 * has it), route TDLib's log into it, create the TDLib client and start it.
 * A folder that does not exist is TGH_ENOTFOUND when !create.
 */
TGH_MUSTCHECK tgh_err td_acct_open(struct td_hub *h, const char *name, bool create,
                                   struct td_acct **out);

/* The account's folder path (TGH_DATA_DIR/accounts/NAME) into buf. */
TGH_MUSTCHECK tgh_err td_acct_path(const struct tgh_config *cfg, const char *name, char *buf,
                                   size_t n);

/*
 * Send req (the reference is taken) for account a; cb(ctx, a, answer) gets
 * the answer. counts may be NULL. Requests are paced as the header says.
 */
void td_call(struct td_acct *a, json_t *req, td_cb cb, void *ctx, struct td_counts *counts);

/* Forget every callback with this ctx (its owner goes away); answers are dropped. */
void td_forget(struct td_hub *h, void *ctx);

/* Forget every callback (the engine is going away); requests still go out. */
void td_hub_forget_all(struct td_hub *h);

/*
 * Send what is due, then receive and dispatch at most one answer or update,
 * waiting up to timeout_s. Returns true when something was dispatched.
 */
bool td_hub_poll(struct td_hub *h, double timeout_s);

/*
 * Poll until a's auth state is one of the ready/wait states or timeout
 * (TGH_ETIMEOUT), or until *stop is set (TGH_EAGAIN; stop may be NULL).
 */
TGH_MUSTCHECK tgh_err td_acct_wait_auth(struct td_acct *a, double timeout_s,
                                        volatile sig_atomic_t *stop);

/* Error answers: code and message (NULL when answer is not an error). */
bool td_is_error(const json_t *answer, int *code, const char **message);

/* Integer fields as TDLib sends them: numbers, or int64 as strings. */
bool td_int(const json_t *obj, const char *key, int64_t *out);
const char *td_str(const json_t *obj, const char *key); /* NULL when absent */
const char *td_type(const json_t *obj);                 /* "@type" or "" */

/* Account metadata file (account.json) in the account folder. */
TGH_MUSTCHECK tgh_err td_acct_info_write(struct td_acct *a, const json_t *me);
TGH_MUSTCHECK tgh_err td_acct_info_read(const char *dir, struct collect_account_info *out);

#endif
