/* SPDX-License-Identifier: MIT */
/*
 * collect.h - collecting from Telegram through TDLib: accounts and login,
 * tracked chats, backfill, catch-up (gap-fill and reconcile), live updates,
 * flood waits. How it works: docs/internals/collector.md.
 *
 * Every account is one TDLib client in its own folder
 * (TGH_DATA_DIR/accounts/NAME, mode 0700) holding TDLib's database, its log
 * and a lock: a process that uses an account holds the lock for as long as
 * it runs, so two processes never drive the same session.
 */
#ifndef TGH_COLLECT_COLLECT_H
#define TGH_COLLECT_COLLECT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/feed.h"
#include "store/store.h"

#define COLLECT_ACCOUNT_NAME_MAX 64

/* What the account folder records about its session. */
struct collect_account_info {
    char name[COLLECT_ACCOUNT_NAME_MAX + 1];
    bool logged_in;
    bool in_use; /* another process holds the lock right now */
    bool is_bot;
    int64_t user_id;
    int64_t logged_in_at;
    char display[256];  /* first and last name, or the bot's name */
    char username[128]; /* without @, "" when none */
};

/* A valid account name: 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool collect_account_name_valid(const char *name);

typedef int (*collect_account_fn)(void *arg, const struct collect_account_info *a);

/* Every account folder under TGH_DATA_DIR/accounts, by name. */
TGH_MUSTCHECK tgh_err collect_accounts_each(const struct tgh_config *cfg, collect_account_fn fn,
                                            void *arg);

/*
 * How login asks for what it needs. ask() fills buf with the answer to
 * "phone", "code" or "password" (secret: do not echo) and returns TGH_OK,
 * or an error to give up. say() shows a line to the person logging in.
 */
struct collect_login_io {
    void *arg;
    tgh_err (*ask)(void *arg, const char *what, bool secret, char *buf, size_t n);
    void (*say)(void *arg, const char *line);
};

/*
 * Log the account in, driven by TDLib's authorization states: a bot token
 * (TG_BOT_TOKEN), else the phone number (TG_PHONE or ask), the code
 * (TG_CODE_FILE or ask) and the 2FA password (TG_PASSWORD or ask). Needs
 * TG_API_ID and TG_API_HASH. An account that is logged in already stays so.
 */
TGH_MUSTCHECK tgh_err collect_login(const struct tgh_config *cfg, const char *account,
                                    const struct collect_login_io *io,
                                    struct collect_account_info *out);

/* Log out on Telegram's side (TDLib logOut) and remove the account's folder. */
TGH_MUSTCHECK tgh_err collect_logout(const struct tgh_config *cfg, const char *account);

/* Adding a chat to collect. */
struct collect_add_opts {
    const char *account; /* NULL: TGH_ACCOUNT */
    bool join;           /* join by invite link when not a member */
    bool comments;       /* comment threads of channel posts */
    bool topics;         /* forum: per-topic history */
};

/*
 * Resolve spec (@name, name, https://t.me/name, t.me/c/ID, -100ID, an
 * invite link) through TDLib and record it as a tracked chat in st. A chat
 * that cannot be read is recorded too, with status "error" and the reason,
 * and the call returns that error. When the account is busy (a running
 * collector holds it) the chat is recorded unresolved (status "new") for the
 * collector to resolve, and *deferred is set.
 */
TGH_MUSTCHECK tgh_err collect_chat_add(const struct tgh_config *cfg, struct store *st,
                                       const char *spec, const struct collect_add_opts *o,
                                       int64_t *row_id, bool *deferred);

/* One chat's part of a collection run. */
struct collect_chat_result {
    int64_t chat_id;
    char spec[256];
    char title[256];
    char account[COLLECT_ACCOUNT_NAME_MAX + 1];
    const char *status; /* "ok", "partial", "failed", "skipped" */
    char error[512];    /* "" when none */
    int64_t fetched;    /* messages received from TDLib */
    struct store_stats stats;
    int64_t dead_letters;
    int64_t errors;
    int64_t flood_waits;
    int64_t flood_seconds;
    int64_t requests;
    bool complete; /* backfill reached the start of the history */
    /* the gap check (--verify, the daemon's checks): ids by class, as stored in gaps */
    bool verified;
    int64_t gap_ids[STORE_GAP_CLASSES]; /* missing ids by class (missed: fetched now) */
    int64_t gap_checked;                /* ids asked about */
    int64_t deletions_found;            /* stored messages Telegram no longer has */
};

struct collect_result {
    struct collect_chat_result *chats;
    size_t n;
    int64_t flood_waits;
    int64_t live_events;     /* live updates turned into events */
    struct store_stats live; /* what they changed in the store */
    double seconds;
    /* media (TGH_MEDIA on): jobs made by the scanner, and how downloads ended */
    int64_t media_queued, media_skipped;
    int64_t media_stored, media_dedup, media_failed, media_retried;
    int64_t media_bytes; /* bytes of the files stored */
};

void collect_result_fini(struct collect_result *r);

struct collect_opts {
    const char *store_url;       /* NULL: cfg->store_url */
    bool daemon;                 /* run: live updates, gap-fill, periodic passes until *stop */
    const char *chat;            /* only this tracked chat (a store_tracked_find key), or NULL */
    int64_t limit;               /* older messages per chat and pass; 0 none; <0: cfg */
    int64_t since;               /* keep backfilling down to this date (Unix seconds); 0: none */
    int64_t reconcile_hours;     /* catch-up also re-reads this many recent hours; <0: cfg */
    volatile sig_atomic_t *stop; /* set (by a signal handler) to stop: commit and return */
    const char *queue_url;       /* NULL: cfg->queue_url; amqp://: publish instead of store */
    unsigned shard, shards;      /* shards > 1: only tracked rows with id % shards == shard */
    struct tgh_feed *feed;       /* committed changes go here too (the API's stream); or NULL */
    bool no_media;               /* do not download media even when TGH_MEDIA is on */
    bool verify;                 /* --once: a gap check of each chat after its walk */
    /* called after each chat finished (collect --once progress); may be NULL */
    void (*on_chat)(void *arg, const struct collect_chat_result *c);
    void *on_chat_arg;
};

/*
 * Collect every enabled tracked chat (or o->chat): catch-up from the newest
 * cursor, then backfill older history within the bounds. Once (daemon false)
 * it returns when every chat is done; as a daemon it also opens the chats,
 * applies live updates, runs gap-fill, reconcile and backfill passes on
 * their intervals, and returns after *stop was set and everything received
 * was committed. Per-chat outcomes go to *res (collect_result_fini it).
 * A chat's failure is in its result, not the return value; the return value
 * is an error only when the run itself could not work (no store, no
 * account logged in, the writer failed).
 */
TGH_MUSTCHECK tgh_err collect_run(const struct tgh_config *cfg, const struct collect_opts *o,
                                  struct collect_result *res);

#endif
