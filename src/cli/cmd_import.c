/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.c - `tgharvest import`: Telegram Desktop exports into the store.
 *
 * Each chat of each file is one collection run. Events reach the store in
 * batches, one transaction each; a message that cannot become an event is a
 * dead letter and the file goes on. A file that is truncated or not JSON
 * fails with its error after the complete batches before the damage were
 * committed, so the store is always consistent and a re-import resumes
 * idempotently.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cmd_import.h"
#include "core/msg.h"
#include "source/source.h"
#include "store/store.h"

#define PAYLOAD_MAX (256 * 1024) /* dead-letter payloads are cut here */

struct import_ctx {
    struct store *st;
    const char *file;
    bool progress_tty;
    int64_t run_id; /* 0 when no run is open */
    struct store_stats chat_stats;
    uint64_t chat_seen;
    uint64_t chat_errors;
    struct import_totals *tot;
    double started;
    uint64_t base_messages; /* messages of earlier files, for the progress line */
};

static double
now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
stats_add(struct store_stats *dst, const struct store_stats *src)
{
    dst->inserted += src->inserted;
    dst->versioned += src->versioned;
    dst->unchanged += src->unchanged;
    dst->refreshed += src->refreshed;
    dst->deleted += src->deleted;
    dst->delete_unknown += src->delete_unknown;
}

static tgh_err
on_chat_begin(void *arg, const struct source_export_chat *chat)
{
    struct import_ctx *c = arg;
    tgh_err rc;

    memset(&c->chat_stats, 0, sizeof(c->chat_stats));
    c->chat_seen = 0;
    c->chat_errors = 0;
    c->tot->chats++;
    /* A chat without messages is still a chat of the archive. */
    rc = store_chat_upsert(c->st, chat->chat_id, chat->type, chat->title, NULL);
    if (rc != TGH_OK)
        return rc;
    return store_run_begin(c->st, chat->chat_id, "import", c->file, &c->run_id);
}

static tgh_err
finish_run(struct import_ctx *c, const char *status, const char *error)
{
    struct store_run_result res = { 0 };
    tgh_err rc;

    if (c->run_id == 0)
        return TGH_OK;
    res.status = status;
    res.messages_seen = (int64_t)c->chat_seen;
    res.stats = c->chat_stats;
    res.errors = c->chat_errors;
    res.error = error;
    rc = store_run_finish(c->st, c->run_id, &res);
    c->run_id = 0;
    return rc;
}

static tgh_err
on_batch(void *arg, struct msg_batch *b)
{
    struct import_ctx *c = arg;
    struct store_stats s = { 0 };
    tgh_err rc;

    rc = store_batch_commit(c->st, b->ev, b->n, &s);
    if (rc != TGH_OK)
        return rc;
    stats_add(&c->chat_stats, &s);
    stats_add(&c->tot->stats, &s);
    c->chat_seen += b->n;
    return TGH_OK;
}

static tgh_err
on_chat_end(void *arg, const struct source_export_chat *chat, tgh_err status)
{
    struct import_ctx *c = arg;

    (void)chat;
    if (status != TGH_OK)
        return finish_run(c, "failed", tgh_errmsg());
    return finish_run(c, c->chat_errors > 0 ? "partial" : "ok", NULL);
}

static tgh_err
on_dead_letter(void *arg, const char *position, const char *reason, const char *payload,
               size_t len)
{
    struct import_ctx *c = arg;
    struct store_dead_letter dl = {
        .source = "export",
        .origin = c->file,
        .position = position,
        .reason = reason,
        .payload = payload,
        .payload_len = len > PAYLOAD_MAX ? PAYLOAD_MAX : len,
    };

    c->chat_errors++;
    c->tot->dead_letters++;
    return store_dead_letter_add(c->st, &dl);
}

static void
on_progress(void *arg, uint64_t bytes, uint64_t messages)
{
    struct import_ctx *c = arg;
    double el = now_s() - c->started;
    uint64_t total = c->base_messages + messages;

    if (!c->progress_tty)
        return;
    (void)fprintf(stderr, "\r%s: %" PRIu64 " messages, %.1f MB, %.0f msg/s   ", c->file, total,
                  (double)bytes / 1e6, el > 0 ? (double)total / el : 0.0);
}

tgh_err
import_file(struct store *st, const char *path, const struct import_opts *o,
            struct import_totals *tot)
{
    struct import_ctx c = { 0 };
    struct source_export_opts eo = { 0 };
    struct source_export_sink sink = { 0 };
    struct source_export_summary sum = { 0 };
    tgh_err rc;

    c.st = st;
    c.file = path;
    c.tot = tot;
    c.progress_tty = o->progress && isatty(STDERR_FILENO);
    c.started = tot->started;
    c.base_messages = tot->messages;
    eo.tz = o->tz;
    eo.batch_size = o->batch_size;
    sink.arg = &c;
    sink.chat_begin = on_chat_begin;
    sink.batch = on_batch;
    sink.chat_end = on_chat_end;
    sink.dead_letter = on_dead_letter;
    sink.progress = on_progress;

    rc = source_export_import_file(path, &eo, &sink, &sum);
    if (c.progress_tty)
        (void)fputs("\r\033[K", stderr);
    tot->messages += sum.messages;
    tot->bytes += sum.bytes;
    if (rc != TGH_OK) {
        char why[1024];

        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        /* A run left open by the failure is closed as failed. */
        (void)finish_run(&c, "failed", why);
        return tgh_errf(rc, "%s", why);
    }
    tot->files++;
    return TGH_OK;
}

/* Expand a directory into the .json files directly inside it, sorted. */
static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

tgh_err
import_paths(struct store *st, char **paths, int npaths, const struct import_opts *o,
             struct import_totals *tot, int *failed_files)
{
    tgh_err first = TGH_OK;

    for (int i = 0; i < npaths; i++) {
        struct stat sb;
        glob_t g;

        if (stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            char pattern[4096];

            (void)snprintf(pattern, sizeof(pattern), "%s/*.json", paths[i]);
            if (glob(pattern, 0, NULL, &g) != 0) {
                globfree(&g);
                continue;
            }
            qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), name_cmp);
            for (size_t k = 0; k < g.gl_pathc; k++) {
                tgh_err rc = import_file(st, g.gl_pathv[k], o, tot);

                if (rc != TGH_OK) {
                    cli_error("import", "%s", tgh_errmsg());
                    (*failed_files)++;
                    if (first == TGH_OK)
                        first = rc;
                }
            }
            globfree(&g);
            continue;
        }
        tgh_err rc = import_file(st, paths[i], o, tot);
        if (rc != TGH_OK) {
            cli_error("import", "%s", tgh_errmsg());
            (*failed_files)++;
            if (first == TGH_OK)
                first = rc;
        }
    }
    return first;
}

static void
print_summary(const struct import_totals *t, int failed_files, bool as_json)
{
    double el = now_s() - t->started;

    if (as_json) {
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "files",
            (json_int_t)t->files, "failed_files", (json_int_t)failed_files, "chats",
            (json_int_t)t->chats, "messages", (json_int_t)t->messages, "imported",
            (json_int_t)t->stats.inserted, "unchanged", (json_int_t)t->stats.unchanged,
            "versioned", (json_int_t)t->stats.versioned, "refreshed",
            (json_int_t)t->stats.refreshed, "errors", (json_int_t)t->dead_letters, "bytes",
            (json_int_t)t->bytes, "deleted", (json_int_t)t->stats.deleted, "seconds", el);

        (void)json_dumpf(o, stdout, JSON_COMPACT);
        (void)fputc('\n', stdout);
        json_decref(o);
        return;
    }
    printf("imported %zu new, %zu unchanged, %zu versioned, %zu refreshed, %" PRIu64
           " errors\n",
           t->stats.inserted, t->stats.unchanged, t->stats.versioned, t->stats.refreshed,
           t->dead_letters);
    printf("%" PRIu64 " messages in %" PRIu64 " chats from %" PRIu64 " file(s)%s, %.1f MB in "
           "%.1f s (%.0f msg/s)\n",
           t->messages, t->chats, t->files, failed_files ? " (some failed)" : "",
           (double)t->bytes / 1e6, el, el > 0 ? (double)t->messages / el : 0.0);
}

static const struct option longopts[] = {
    { "json", no_argument, NULL, 'j' },       { "tz", required_argument, NULL, 'z' },
    { "store", required_argument, NULL, 's' }, { "batch", required_argument, NULL, 'b' },
    { "quiet", no_argument, NULL, 'q' },      { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct import_opts o = { .tz = cfg->import_tz, .batch_size = (size_t)cfg->batch_size,
                             .progress = true };
    struct import_totals tot = { 0 };
    const char *store_url = NULL;
    struct store *st = NULL;
    bool as_json = false;
    int failed = 0, ch;
    int64_t v;
    tgh_err rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hjqs:z:b:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            as_json = true;
            break;
        case 'z':
            o.tz = optarg;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'q':
            o.progress = false;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 100000, &v) != TGH_OK)
                return cli_usage_error(&cli_cmd_import, "--batch: %s", tgh_errmsg());
            o.batch_size = (size_t)v;
            break;
        case 'h':
            return cli_help(&cli_cmd_import);
        default:
            return cli_usage_error(&cli_cmd_import, "bad option");
        }
    }
    if (optind >= argc)
        return cli_usage_error(&cli_cmd_import, "no FILE given");
    if (cli_store_open(cfg, store_url, &st) != TGH_OK) {
        cli_error("import", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    tot.started = now_s();
    rc = import_paths(st, argv + optind, argc - optind, &o, &tot, &failed);
    print_summary(&tot, failed, as_json);
    store_close(st);
    return rc == TGH_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

const struct cli_cmd cli_cmd_import = {
    "import",
    run,
    "import Telegram Desktop exports (result.json, either shape)",
    "usage: tgharvest import [--json] [--tz ZONE] [--batch N] [--store URL] [-q] FILE|DIR...\n"
    "\n"
    "Import Telegram Desktop \"Export chat history\" JSON files: a single chat's\n"
    "result.json or a full-account export (chats.list and left_chats.list).\n"
    "A directory imports the *.json files directly inside it. The file is streamed,\n"
    "so memory stays small whatever its size. Importing the same file again changes\n"
    "nothing; a newer export of the same chat adds new messages and records edits.\n"
    "A message that cannot be read becomes a dead letter (see `tgharvest stats`)\n"
    "and the rest of the file is imported.\n"
    "\n"
    "  --json       print the summary as one JSON object\n"
    "  --tz ZONE    time zone of export dates that lack date_unixtime (exports from\n"
    "               before 2021 write local time without offset); default\n"
    "               TGH_IMPORT_TZ or UTC. Example: --tz Europe/Berlin\n"
    "  --batch N    events per transaction (default TGH_BATCH_SIZE, 500)\n"
    "  --store URL  store to write (default TGH_STORE)\n"
    "  -q, --quiet  no progress line on a terminal\n"
    "\n"
    "Exit status is 1 when any file failed (truncated, not JSON, unreadable).\n",
};
