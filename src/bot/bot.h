/* SPDX-License-Identifier: MIT */
/*
 * bot.h - the archive bot (`tgharvest bot`): a Telegram bot that whitelisted
 * users forward messages to; each one, with its media, is archived with
 * full metadata. Long polling over the Bot API (libcurl), the update
 * offset stored only after what it covers was committed. Design, replies
 * and commands: docs/internals/bot.md.
 */
#ifndef TGH_BOT_BOT_H
#define TGH_BOT_BOT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

struct bot_opts {
    const struct tgh_config *cfg; /* TGH_BOT_*, TGH_STORE, TGH_MEDIA* */
    bool once;                    /* return when a poll brings nothing more (tests, cron) */
    volatile sig_atomic_t *stop;  /* set by a signal handler: finish the batch and return */
};

struct bot_totals {
    uint64_t updates;    /* updates read */
    uint64_t archived;   /* messages stored (new or edited) */
    uint64_t duplicates; /* content that was archived before */
    uint64_t refused;    /* not whitelisted, not a private chat */
    uint64_t skipped;    /* updates that carry no message */
    uint64_t commands;
    uint64_t files;   /* files stored */
    uint64_t relayed; /* files handed to the TDLib account */
    uint64_t flood_waits;
    int64_t next_update_id;
};

/* Run until *stop (or, with once, until no update is left). TGH_OK unless it could not run. */
TGH_MUSTCHECK tgh_err bot_run(const struct bot_opts *o, struct bot_totals *t);

/* "123,456" into ids (at most max); a bad element is TGH_EINVAL naming it. */
TGH_MUSTCHECK tgh_err bot_whitelist_parse(const char *s, int64_t *ids, size_t max, size_t *n);

#endif
