/* SPDX-License-Identifier: MIT */
/*
 * cmd_export.c - `tgharvest export`: messages as JSON lines or CSV.
 *
 * With -o the output is written to a new private file beside FILE (mkstemp:
 * never an existing file or a planted link) and renamed over FILE only when
 * complete and synced, so a failed export never leaves a half file under the
 * real name.
 */
#include <errno.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_query.h"
#include "core/msg.h"
#include "store/store.h"

enum export_format { FMT_JSONL, FMT_CSV };

struct export_ctx {
    struct store *st;
    FILE *out;
    enum export_format fmt;
    int64_t rows;
    int failed;
};

/* RFC 4180: quote every text field, double the quotes inside. */
static int
csv_field(FILE *out, const char *s)
{
    if (fputc('"', out) == EOF)
        return -1;
    for (; s != NULL && *s; s++) {
        if (*s == '"' && fputc('"', out) == EOF)
            return -1;
        if (fputc(*s, out) == EOF)
            return -1;
    }
    return fputc('"', out) == EOF ? -1 : 0;
}

static int
export_version(void *arg, const struct store_message_row *v)
{
    struct export_ctx *c = arg;

    if (fputs(v->event, c->out) == EOF || fputc('\n', c->out) == EOF)
        c->failed = 1;
    return c->failed;
}

static int
export_tombstone(void *arg, const struct store_message_row *t)
{
    struct export_ctx *c = arg;

    if (query_print_delete(c->out, t->chat_id, t->message_id, MSG_UNSET, t->deleted_at, t->source,
                           NULL) != 0)
        c->failed = 1;
    return c->failed;
}

static int
export_row(void *arg, const struct store_message_row *r)
{
    struct export_ctx *c = arg;
    char date[32], edit[32], del[32];

    c->rows++;
    if (c->fmt == FMT_JSONL) {
        /* Earlier versions first, oldest first: replayed, they rebuild the history. */
        if (r->versions > 0 &&
            store_versions_each(c->st, r->chat_id, r->message_id, export_version, c) != TGH_OK)
            c->failed = 1;
        if (!c->failed && query_print_event_lines(c->out, r) != 0)
            c->failed = 1;
        return c->failed;
    }
    if (fprintf(c->out, "%" PRId64 ",%" PRId64 ",%s,%s,%s,%" PRId64 ",", r->chat_id, r->message_id,
                cli_fmt_time(r->date, date, sizeof(date)),
                r->edit_date ? cli_fmt_time(r->edit_date, edit, sizeof(edit)) : "",
                r->deleted_at ? cli_fmt_time(r->deleted_at, del, sizeof(del)) : "",
                r->versions) < 0 ||
        csv_field(c->out, r->chat_title) != 0 || fputc(',', c->out) == EOF ||
        csv_field(c->out, r->sender_name) != 0 || fputc(',', c->out) == EOF ||
        csv_field(c->out, r->text) != 0 || fputs("\r\n", c->out) == EOF)
        c->failed = 1;
    return c->failed;
}

static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' }, { "chat", required_argument, NULL, 'c' },
    { "since", required_argument, NULL, 'S' },  { "until", required_argument, NULL, 'U' },
    { "output", required_argument, NULL, 'o' }, { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *format = "jsonl", *chat = NULL, *since = NULL, *until = NULL, *output = NULL,
               *store_url = NULL;
    struct export_ctx c = { 0 };
    struct store_query q = { .chat_id = MSG_UNSET, .since = MSG_UNSET, .until = MSG_UNSET };
    struct store *st = NULL;
    char tmp[4096];
    int ch, rc = CLI_EXIT_FAIL;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hf:c:S:U:o:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            format = optarg;
            break;
        case 'c':
            chat = optarg;
            break;
        case 'S':
            since = optarg;
            break;
        case 'U':
            until = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_export);
        default:
            return cli_bad_option(&cli_cmd_export, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_export, "unexpected argument '%s'", argv[optind]);
    if (strcmp(format, "jsonl") == 0)
        c.fmt = FMT_JSONL;
    else if (strcmp(format, "csv") == 0)
        c.fmt = FMT_CSV;
    else
        return cli_usage_error(&cli_cmd_export, "--format must be jsonl or csv, not '%s'", format);
    if (since != NULL && cli_parse_date(since, &q.since) != TGH_OK)
        return cli_usage_error(&cli_cmd_export, "--since: %s", tgh_errmsg());
    if (until != NULL && cli_parse_date(until, &q.until) != TGH_OK)
        return cli_usage_error(&cli_cmd_export, "--until: %s", tgh_errmsg());
    if (cli_store_open(cfg, store_url, false, &st) != TGH_OK) {
        cli_error("export", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (chat != NULL && cli_parse_chat(st, chat, &q.chat_id) != TGH_OK) {
        cli_error("export", "--chat: %s", tgh_errmsg());
        store_close(st);
        return CLI_EXIT_FAIL;
    }
    c.st = st;
    c.out = stdout;
    if (output != NULL && cli_atomic_open(output, tmp, sizeof(tmp), &c.out) != TGH_OK) {
        c.out = NULL;
        cli_error("export", "%s", tgh_errmsg());
        goto out;
    }
    if (c.fmt == FMT_CSV &&
        fputs("chat_id,message_id,date_utc,edit_date_utc,deleted_at_utc,versions,chat_title,"
              "sender_name,text\r\n",
              c.out) == EOF)
        c.failed = 1;
    if (store_messages_each(st, &q, export_row, &c) != TGH_OK) {
        cli_error("export", "%s", tgh_errmsg());
        goto out;
    }
    /* Deletions of messages never collected have no date: they go with undated exports. */
    if (c.fmt == FMT_JSONL && q.since == MSG_UNSET && q.until == MSG_UNSET &&
        store_tombstones_each(st, q.chat_id, export_tombstone, &c) != TGH_OK) {
        cli_error("export", "%s", tgh_errmsg());
        goto out;
    }
    if (c.failed || fflush(c.out) != 0) {
        cli_error("export", "writing %s failed: %s", output ? tmp : "stdout", strerror(errno));
        goto out;
    }
    if (output != NULL) {
        FILE *f = c.out;

        c.out = NULL;
        if (cli_atomic_commit(f, tmp, output) != TGH_OK) {
            cli_error("export", "%s", tgh_errmsg());
            goto out;
        }
        (void)fprintf(stderr, "exported %" PRId64 " messages to %s\n", c.rows, output);
    }
    rc = CLI_EXIT_OK;
out:
    if (output != NULL && c.out != NULL)
        cli_atomic_abort(c.out, tmp);
    store_close(st);
    return rc;
}

const struct cli_cmd cli_cmd_export = {
    "export",
    run,
    "write messages as JSON lines or CSV",
    "usage: tgharvest export [--format jsonl|csv] [--chat CHAT] [--since DATE]\n"
    "                        [--until DATE] [-o FILE] [--store URL]\n"
    "\n"
    "Write messages, oldest first, to stdout or FILE.\n"
    "  jsonl  one schema-v1 event per line (raw source JSON included): a message's\n"
    "         earlier versions, oldest first, then its current event, then its\n"
    "         delete event if it was deleted, then the deletions of messages never\n"
    "         collected (without --since/--until) (default). `tgharvest import --from\n"
    "         event` of this file into an empty store restores the archive.\n"
    "  csv    chat_id, message_id, date_utc, edit_date_utc, deleted_at_utc, versions,\n"
    "         chat_title, sender_name, text (RFC 4180, UTF-8, CRLF)\n"
    "With -o the file appears only when complete (written beside it under a temporary\n"
    "name, synced, then renamed); it is readable by its owner only.\n",
};
