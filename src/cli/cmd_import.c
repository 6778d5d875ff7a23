/* SPDX-License-Identifier: MIT */
/*
 * cmd_import.c - `tgharvest import`: Telegram Desktop exports into the store
 * (pipeline_import_paths), with a progress line on a terminal and a summary.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cmd_import.h"
#include "media/media.h"
#include "pipeline/pipeline.h"

struct progress {
    double started;
};

static double
now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_progress(void *arg, const char *file, uint64_t bytes, uint64_t messages)
{
    const struct progress *p = arg;
    double el = now_s() - p->started;

    (void)fprintf(stderr, "\r\033[K%s: %" PRIu64 " messages, %.1f MB, %.0f msg/s", file, messages,
                  (double)bytes / 1e6, el > 0 ? (double)messages / el : 0.0);
}

static const char *error_cmd = "import"; /* the command the errors belong to */

static void
on_error(const char *msg)
{
    if (isatty(STDERR_FILENO))
        (void)fputs("\r\033[K", stderr);
    cli_error(error_cmd, "%s", msg);
}

tgh_err
import_run(const struct tgh_config *cfg, const char *cmd, const char *store_url,
           enum pipeline_from from, char **paths, int npaths, const char *tz, size_t batch_size,
           bool progress, bool media, struct pipeline_import_totals *tot, double *seconds)
{
    struct progress p = { now_s() };
    struct media_policy policy;
    struct pipeline_import_opts o = {
        .from = from,
        .tz = tz,
        .batch_size = batch_size,
        .progress = progress && isatty(STDERR_FILENO) ? on_progress : NULL,
        .progress_arg = &p,
        .media_url = media ? cfg->media_url : NULL,
        .media_policy = &policy,
        .media_retry = { .max_attempts = (int)cfg->media_attempts,
                         .base_s = cfg->media_retry_s,
                         .cap_s = 3600 },
    };
    tgh_err rc;

    error_cmd = cmd;
    *seconds = 0;
    if (o.media_url != NULL && !media_url_is_off(o.media_url)) {
        rc = media_policy_init(&policy, cfg->media_kinds, cfg->media_max_size, cfg->media_history,
                               cfg->media_thumbs);
        if (rc != TGH_OK)
            return rc;
    }
    rc = pipeline_import_paths(store_url, paths, (size_t)npaths, &o, on_error, tot);

    if (o.progress != NULL)
        (void)fputs("\r\033[K", stderr);
    *seconds = now_s() - p.started;
    return rc;
}

static bool
media_any(const struct pipeline_import_totals *t)
{
    return t->media_stored + t->media_refused + t->media_missing + t->media_failed +
               t->media_skipped >
           0;
}

json_t *
import_media_json(const struct pipeline_import_totals *t)
{
    if (!media_any(t))
        return NULL;
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "stored", (json_int_t)t->media_stored,
                     "dedup", (json_int_t)t->media_dedup, "bytes", (json_int_t)t->media_bytes,
                     "missing", (json_int_t)t->media_missing, "refused",
                     (json_int_t)t->media_refused, "skipped", (json_int_t)t->media_skipped,
                     "failed", (json_int_t)t->media_failed);
}

static void
print_summary(const struct pipeline_import_totals *t, double el, bool as_json)
{
    if (as_json) {
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "files",
            (json_int_t)t->files, "failed_files", (json_int_t)t->failed_files, "chats",
            (json_int_t)t->chats, "failed_chats", (json_int_t)t->failed_chats, "messages",
            (json_int_t)t->messages, "imported", (json_int_t)t->stats.inserted, "unchanged",
            (json_int_t)t->stats.unchanged, "versioned", (json_int_t)t->stats.versioned,
            "refreshed", (json_int_t)t->stats.refreshed, "errors", (json_int_t)t->dead_letters,
            "bytes", (json_int_t)t->bytes, "deleted",
            (json_int_t)(t->stats.deleted + t->stats.delete_unknown), "seconds", el);
        json_t *media = import_media_json(t);

        if (media != NULL)
            (void)json_object_set_new(o, "media", media);
        (void)json_dumpf(o, stdout, JSON_COMPACT);
        (void)fputc('\n', stdout);
        json_decref(o);
        return;
    }
    printf("imported %zu new, %zu unchanged, %zu versioned, %zu refreshed, %zu deleted, %" PRIu64
           " errors\n",
           t->stats.inserted, t->stats.unchanged, t->stats.versioned, t->stats.refreshed,
           t->stats.deleted + t->stats.delete_unknown, t->dead_letters);
    printf("%" PRIu64 " messages in %" PRIu64 " chats from %" PRIu64 " file(s), %.1f MB in "
           "%.1f s (%.0f msg/s)",
           t->messages, t->chats, t->files, (double)t->bytes / 1e6, el,
           el > 0 ? (double)t->messages / el : 0.0);
    if (t->failed_files > 0 || t->failed_chats > 0)
        printf("; failed: %" PRIu64 " file(s), %" PRIu64 " chat(s)", t->failed_files,
               t->failed_chats);
    printf("\n");
    if (media_any(t))
        printf("media: %" PRIu64 " stored (%" PRIu64 " already stored), %.1f MB, %" PRIu64
               " left for a TDLib download, %" PRIu64 " refused, %" PRIu64
               " skipped by the policy, %" PRIu64 " failed\n",
               t->media_stored, t->media_dedup, (double)t->media_bytes / 1e6, t->media_missing,
               t->media_refused, t->media_skipped, t->media_failed);
}

static const struct option longopts[] = {
    { "json", no_argument, NULL, 'j' },
    { "tz", required_argument, NULL, 'z' },
    { "store", required_argument, NULL, 's' },
    { "batch", required_argument, NULL, 'b' },
    { "quiet", no_argument, NULL, 'q' },
    { "from", required_argument, NULL, 'f' },
    { "no-media", no_argument, NULL, 'M' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct pipeline_import_totals tot = { 0 };
    const char *store_url = cfg->store_url, *tz = cfg->import_tz;
    size_t batch = (size_t)cfg->batch_size;
    bool as_json = false, progress = true, tz_given = false, media = true;
    enum pipeline_from from = PIPELINE_FROM_EXPORT;
    double seconds;
    int64_t v;
    int ch;
    tgh_err rc;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hjqs:z:b:f:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            if (strcmp(optarg, "export") == 0)
                from = PIPELINE_FROM_EXPORT;
            else if (strcmp(optarg, "event") == 0)
                from = PIPELINE_FROM_EVENTS;
            else
                return cli_usage_error(&cli_cmd_import, "--from must be export or event, not '%s'",
                                       optarg);
            break;
        case 'j':
            as_json = true;
            break;
        case 'z':
            tz = optarg;
            tz_given = true;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'q':
            progress = false;
            break;
        case 'M':
            media = false;
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, 100000, &v) != TGH_OK)
                return cli_usage_error(&cli_cmd_import, "--batch: %s", tgh_errmsg());
            batch = (size_t)v;
            break;
        case 'h':
            return cli_help(&cli_cmd_import);
        default:
            return cli_bad_option(&cli_cmd_import, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error(&cli_cmd_import, "no FILE given");
    if (from == PIPELINE_FROM_EVENTS && tz_given)
        return cli_usage_error(&cli_cmd_import, "--tz applies to exports; events carry UTC times");
    rc = import_run(cfg, "import", store_url, from, argv + optind, argc - optind, tz, batch,
                    progress, media, &tot, &seconds);
    if (rc != TGH_OK && tot.failed_files == 0)
        cli_error("import", "%s", tgh_errmsg()); /* not a file's error: the store's */
    print_summary(&tot, seconds, as_json);
    return cli_finish_output("import",
                             rc == TGH_OK && tot.failed_chats == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL);
}

const struct cli_cmd cli_cmd_import = {
    "import",
    run,
    "import Telegram Desktop exports (result.json, either shape)",
    "usage: tgharvest import [--from export|event] [--json] [--tz ZONE] [--batch N]\n"
    "                        [--store URL] [-q] FILE|DIR...\n"
    "\n"
    "Import Telegram Desktop \"Export chat history\" JSON files: a single chat's\n"
    "result.json or a full-account export (chats.list and left_chats.list).\n"
    "A directory imports the *.json files directly inside it. The file is streamed,\n"
    "so memory stays small whatever its size. Importing the same file again changes\n"
    "nothing; a newer export of the same chat adds new messages and records edits.\n"
    "A message that cannot be read becomes a dead letter (see `tgharvest stats`)\n"
    "and the rest of the file is imported.\n"
    "The photos, videos and files beside the export (photos/, files/, ...) go\n"
    "into the media store (TGH_MEDIA) as TGH_MEDIA_KINDS and TGH_MEDIA_MAX_SIZE say;\n"
    "a path that leads outside the export folder is refused, its message kept.\n"
    "\n"
    "  --from F     export (default): Telegram Desktop exports;\n"
    "               event: JSON lines of schema-v1 events, as written by\n"
    "               `tgharvest export --format jsonl` (a directory: its *.jsonl);\n"
    "               restores an archive from its export\n"
    "  --json       print the summary as one JSON object\n"
    "  --tz ZONE    time zone of export dates that lack date_unixtime (exports from\n"
    "               before 2021 write local time without offset); default\n"
    "               TGH_IMPORT_TZ or UTC. Example: --tz Europe/Berlin\n"
    "  --batch N    events per transaction (default TGH_BATCH_SIZE, 500)\n"
    "  --store URL  store to write (default TGH_STORE)\n"
    "  --no-media   do not store the media files beside the export (TGH_MEDIA)\n"
    "  -q, --quiet  no progress line on a terminal\n"
    "\n"
    "Exit status is 1 when any file or chat failed (truncated, not JSON,\n"
    "unreadable); the complete batches before the damage are kept.\n",
};
