/* SPDX-License-Identifier: MIT */
/*
 * cmd_decode.c - `tgharvest decode`: show the schema-v1 events a raw input
 * becomes, or why it cannot, without touching the store.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/msg.h"
#include "source/source.h"

struct decode_ctx {
    uint64_t errors, skipped;
    int write_failed;
    char last_error[1024]; /* printed by on_chat_end: not printed again */
};

static int
print_event(const struct msg_event *ev)
{
    char *text = NULL;
    size_t len;
    int rc = 0;

    if (codec_event_encode(ev, &text, &len) != TGH_OK)
        return -1;
    if (fwrite(text, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
        rc = -1;
    tgh_free(text);
    return rc;
}

static tgh_err
on_batch(void *arg, struct msg_batch *b)
{
    struct decode_ctx *c = arg;

    for (size_t i = 0; i < b->n; i++)
        if (print_event(&b->ev[i]) != 0)
            c->write_failed = 1;
    return c->write_failed ? tgh_errf(TGH_EIO, "writing stdout failed") : TGH_OK;
}

static tgh_err
on_dead_letter(void *arg, const char *position, const char *reason, const char *payload, size_t len)
{
    struct decode_ctx *c = arg;

    (void)payload;
    (void)len;
    c->errors++;
    cli_error("decode", "%s: %s", position, reason);
    return TGH_OK;
}

/* A fine input that yields no event: said on stderr, not an error. */
static tgh_err
on_skipped(void *arg, const char *position, const char *why)
{
    struct decode_ctx *c = arg;

    c->skipped++;
    (void)fprintf(stderr, "decode: %s: %s\n", position, why);
    return TGH_OK;
}

static tgh_err
on_chat_begin(void *arg, const struct source_export_chat *chat)
{
    (void)arg;
    (void)chat;
    return TGH_OK;
}

/* A chat the file could not deliver is an error of the decode, like a bad message. */
static tgh_err
on_chat_end(void *arg, const struct source_export_chat *chat, tgh_err status)
{
    struct decode_ctx *c = arg;

    (void)chat;
    if (status != TGH_OK && !c->write_failed) {
        c->errors++;
        (void)snprintf(c->last_error, sizeof(c->last_error), "%s", tgh_errmsg());
        cli_error("decode", "%s", c->last_error);
    }
    return TGH_OK;
}

static int
decode_export(const char *path, const char *tz)
{
    struct decode_ctx c = { 0 };
    /* One event per batch: everything before damage in the file is shown, as import keeps it. */
    struct source_export_opts o = { .tz = tz, .batch_size = 1 };
    struct source_export_sink sink = {
        .arg = &c,
        .chat_begin = on_chat_begin,
        .batch = on_batch,
        .chat_end = on_chat_end,
        .dead_letter = on_dead_letter,
    };
    struct source_export_summary sum = { 0 };

    if (source_export_import_file(path, &o, &sink, &sum) != TGH_OK) {
        if (!c.write_failed && strcmp(tgh_errmsg(), c.last_error) != 0)
            cli_error("decode", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    return c.errors > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* JSON lines of events: each is checked strictly and printed canonically. */
static int
decode_events(const char *path)
{
    struct decode_ctx c = { 0 };
    struct source_export_opts o = { .batch_size = 256 };
    struct source_export_sink sink = {
        .arg = &c,
        .batch = on_batch,
        .dead_letter = on_dead_letter,
    };
    tgh_err rc;

    if (strcmp(path, "-") == 0)
        rc = source_events_import_stream(stdin, "stdin", &o, &sink, NULL);
    else
        rc = source_events_import_file(path, &o, &sink, NULL);
    if (rc != TGH_OK) {
        if (!c.write_failed)
            cli_error("decode", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    return c.errors > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

typedef tgh_err (*stream_fn)(FILE *f, const char *name, const struct source_export_opts *o,
                             const struct source_export_sink *sink,
                             struct source_export_summary *sum);

/*
 * TDLib or Bot API JSON (one value or JSON lines): what the collector, or
 * the archive bot, would make of it.
 */
static int
decode_json_stream(const char *path, stream_fn stream)
{
    struct decode_ctx c = { 0 };
    struct source_export_opts o = { .batch_size = 256 };
    struct source_export_sink sink = {
        .arg = &c,
        .batch = on_batch,
        .dead_letter = on_dead_letter,
        .skipped = on_skipped,
    };
    FILE *f = stdin;
    tgh_err rc;

    if (strcmp(path, "-") != 0 && (f = fopen(path, "rb")) == NULL) {
        cli_error("decode", "%s: %s", path, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    rc = stream(f, f == stdin ? "stdin" : path, &o, &sink, NULL);
    if (f != stdin)
        (void)fclose(f);
    if (rc != TGH_OK) {
        if (!c.write_failed)
            cli_error("decode", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    return c.errors > 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static const struct option longopts[] = {
    { "from", required_argument, NULL, 'f' },
    { "tz", required_argument, NULL, 'z' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *from = NULL, *tz = cfg->import_tz;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hf:z:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            from = optarg;
            break;
        case 'z':
            tz = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_decode);
        default:
            return cli_bad_option(&cli_cmd_decode, argv);
        }
    }
    if (from == NULL)
        return cli_usage_error(&cli_cmd_decode,
                               "--from is required (export, event, tdlib or botapi)");
    if (optind != argc - 1)
        return cli_usage_error(&cli_cmd_decode, "expected exactly one FILE");
    /* A write error is reported once, by cli_finish_output, whichever decoder met it. */
    if (strcmp(from, "export") == 0)
        return cli_finish_output("decode", decode_export(argv[optind], tz));
    if (strcmp(from, "event") == 0)
        return cli_finish_output("decode", decode_events(argv[optind]));
    if (strcmp(from, "tdlib") == 0)
        return cli_finish_output("decode",
                                 decode_json_stream(argv[optind], source_tdlib_decode_stream));
    if (strcmp(from, "botapi") == 0)
        return cli_finish_output("decode",
                                 decode_json_stream(argv[optind], source_botapi_decode_stream));
    return cli_usage_error(&cli_cmd_decode,
                           "--from must be export, event, tdlib or botapi, not '%s'", from);
}

const struct cli_cmd cli_cmd_decode = {
    "decode",
    run,
    "print the schema-v1 events a raw input becomes (no store)",
    "usage: tgharvest decode --from export|event|tdlib|botapi [--tz ZONE] FILE\n"
    "\n"
    "Print, one JSON object per line, the schema-v1 events that FILE becomes, or\n"
    "the error naming what is wrong. Nothing is written to the store.\n"
    "  export  a Telegram Desktop export (result.json, either shape)\n"
    "  event   JSON lines of schema-v1 events (\"-\" reads stdin); each is\n"
    "          validated strictly and printed in canonical form\n"
    "  tdlib   TDLib JSON, one value or JSON lines (\"-\" reads stdin): message,\n"
    "          messages, foundMessages, foundChatMessages, updateNewMessage,\n"
    "          updateMessageSendSucceeded, updateDeleteMessages, or arrays of them;\n"
    "          mapped as the collector maps them\n"
    "  botapi  Bot API JSON, one value or JSON lines (\"-\" reads stdin): an Update,\n"
    "          an array of them, or a getUpdates response; mapped as the archive\n"
    "          bot maps them. Updates that carry no message (reactions, polls,\n"
    "          member changes, queries) are reported on stderr as skipped; an\n"
    "          error response (ok: false) is an error with its description\n"
    "Exit status is 1 when any input could not be decoded (skipped is not).\n",
};
