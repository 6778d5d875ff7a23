/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the subcommands share: the command table entry, option
 * parsing helpers, opening the configured store, printing errors.
 * Exit codes: 0 success, 1 failure, 2 bad usage.
 */
#ifndef TGH_CLI_CLI_H
#define TGH_CLI_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/config.h"
#include "core/err.h"

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

struct store;

struct cli_cmd {
    const char *name;
    int (*run)(const struct tgh_config *cfg, int argc, char **argv);
    const char *summary;
    const char *usage; /* full --help text */
};

extern const struct cli_cmd cli_cmd_import, cli_cmd_chats, cli_cmd_messages, cli_cmd_search,
    cli_cmd_export, cli_cmd_stats, cli_cmd_decode, cli_cmd_run, cli_cmd_login, cli_cmd_logout,
    cli_cmd_accounts, cli_cmd_collect, cli_cmd_work, cli_cmd_replay, cli_cmd_cleanup, cli_cmd_serve,
    cli_cmd_bot, cli_cmd_media, cli_cmd_gaps, cli_cmd_validate, cli_cmd_report;

struct api_server;
struct tgh_feed;

/*
 * Start the HTTP server (api.h) for `serve` or `run` and print where it
 * listens (and the dashboard link when the server made the key). feed NULL:
 * the server has its own (fed from Redis when TGH_CACHE is set).
 */
TGH_MUSTCHECK tgh_err cli_http_start(const struct tgh_config *cfg, const char *store_url,
                                     const char *addr, struct tgh_feed *feed, const char *mode,
                                     struct api_server **out);
/* The same, serving only /healthz, /readyz and /metrics when metrics_only (workers). */
TGH_MUSTCHECK tgh_err cli_http_start_opts(const struct tgh_config *cfg, const char *store_url,
                                          const char *addr, struct tgh_feed *feed, const char *mode,
                                          bool metrics_only, struct api_server **out);
/* Sleep until *stop is set (by the SIGTERM/SIGINT handler). */
void cli_wait_for_stop(volatile sig_atomic_t *stop);

/* `chats add|remove|enable|disable|list` (argv[1] is the subcommand). */
int cli_chats_manage(const struct tgh_config *cfg, int argc, char **argv);

/* "tgharvest CMD: message" on stderr, one line (control characters escaped). */
void cli_error(const char *cmd, const char *fmt, ...) TGH_PRINTF(2, 3);

/* Print the usage of cmd on stdout (--help) and return CLI_EXIT_OK. */
int cli_help(const struct cli_cmd *cmd);

/* Report a bad option and point at --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...) TGH_PRINTF(2, 3);

/*
 * Flush stdout; on a write error (a full disk, a closed pipe) print it and
 * return CLI_EXIT_FAIL, else rc.
 */
int cli_finish_output(const char *cmd, int rc);

/*
 * The JSON summary a one-shot step prints on stdout: an object whose
 * "status" is "ok" or "failed" as rc says; the caller adds its figures.
 */
json_t *cli_summary_new(tgh_err rc);
/*
 * Print summary (taken) as one compact line, then cli_finish_output() with
 * CLI_EXIT_OK when ok, else CLI_EXIT_FAIL.
 */
int cli_summary_print(const char *cmd, json_t *summary, bool ok);

/* getopt's '?': names the offending argument; returns CLI_EXIT_USAGE. */
int cli_bad_option(const struct cli_cmd *cmd, char **argv);

/*
 * Open the store: url (from --store) or the configured TGH_STORE. Readers
 * (create false) get TGH_ENOTFOUND for an archive that does not exist, so a
 * mistyped TGH_STORE is an error rather than an empty archive.
 */
TGH_MUSTCHECK tgh_err cli_store_open(const struct tgh_config *cfg, const char *url, bool create,
                                     struct store **out);

/*
 * Untrusted text (message text, names, titles) for a terminal: control
 * characters and DEL are shown as \xNN, a newline as " \u23ce ", so a hostile
 * chat cannot move the cursor or rewrite the screen.
 */
void cli_put_text(FILE *out, const char *s);

/*
 * Dates on the command line, always UTC: 2024-05-01, 2024-05-01T12:30,
 * 2024-05-01T12:30:00(Z), "2024-05-01 12:30:00", or Unix seconds.
 */
TGH_MUSTCHECK tgh_err cli_parse_date(const char *s, int64_t *out);

/* A chat on the command line: its id (-100...) or its exact username/title. */
TGH_MUSTCHECK tgh_err cli_parse_chat(struct store *st, const char *s, int64_t *out);

TGH_MUSTCHECK tgh_err cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* "2024-05-01 12:30:00" (UTC) into buf; "-" for 0 / unset. */
const char *cli_fmt_time(int64_t t, char *buf, size_t bufsize);

/*
 * Output written atomically: a new private file beside path (mkstemp: never
 * an existing file or a planted link), renamed over path by
 * cli_atomic_commit() only when complete and synced; cli_atomic_abort()
 * removes it. tmp (at least 4096 bytes) holds the temporary name.
 */
TGH_MUSTCHECK tgh_err cli_atomic_open(const char *path, char *tmp, size_t tmpsize, FILE **out);
TGH_MUSTCHECK tgh_err cli_atomic_commit(FILE *f, const char *tmp, const char *path);
void cli_atomic_abort(FILE *f, const char *tmp);

#endif
