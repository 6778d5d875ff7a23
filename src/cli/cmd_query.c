/* SPDX-License-Identifier: MIT */
/*
 * cmd_query.c - reading the archive: `chats`, `messages`, `search`, `stats`.
 *
 * JSON output is one object per line. A message is printed as its stored
 * schema-v1 event; a tombstoned message is followed by its delete event, so
 * the lines replayed into an empty store rebuild the same archive.
 */
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cmd_query.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/msg.h"
#include "store/store.h"

/* Shared option parsing for the commands that select messages. */
struct select_opts {
    const char *store_url;
    const char *chat;
    const char *since;
    const char *until;
    int64_t limit;
    bool as_json;
    bool newest_first;
};

static const struct option select_longopts[] = {
    { "chat", required_argument, NULL, 'c' },
    { "since", required_argument, NULL, 'S' },
    { "until", required_argument, NULL, 'U' },
    { "limit", required_argument, NULL, 'n' },
    { "json", no_argument, NULL, 'j' },
    { "store", required_argument, NULL, 's' },
    { "newest-first", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/*
 * Parse the options; allowed lists the short names this command takes (the
 * others are refused, not ignored). Returns -1 to go on, else the exit code.
 */
static int
parse_select(const struct cli_cmd *cmd, const char *allowed, int argc, char **argv,
             struct select_opts *o)
{
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hjrc:S:U:n:s:", select_longopts, NULL)) != -1) {
        if (ch != 'h' && ch != '?' && strchr(allowed, ch) == NULL)
            return cli_usage_error(cmd, "option '%s' does not apply here", argv[optind - 1]);
        switch (ch) {
        case 'c':
            o->chat = optarg;
            break;
        case 'S':
            o->since = optarg;
            break;
        case 'U':
            o->until = optarg;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, INT64_C(1) << 40, &o->limit) != TGH_OK)
                return cli_usage_error(cmd, "--limit: %s", tgh_errmsg());
            break;
        case 'j':
            o->as_json = true;
            break;
        case 'r':
            o->newest_first = true;
            break;
        case 's':
            o->store_url = optarg;
            break;
        case 'h':
            return cli_help(cmd);
        default:
            return cli_bad_option(cmd, argv);
        }
    }
    return -1;
}

/*
 * Fill q from the options. Returns -1 when done, else the exit code after
 * printing the error: a malformed date is bad usage, an unknown chat a failure.
 */
static int
build_query(const char *cmd, struct store *st, const struct select_opts *o, struct store_query *q)
{
    q->chat_id = MSG_UNSET;
    q->since = MSG_UNSET;
    q->until = MSG_UNSET;
    q->limit = o->limit;
    q->newest_first = o->newest_first;
    if (o->since != NULL && cli_parse_date(o->since, &q->since) != TGH_OK) {
        cli_error(cmd, "--since: %s", tgh_errmsg());
        return CLI_EXIT_USAGE;
    }
    if (o->until != NULL && cli_parse_date(o->until, &q->until) != TGH_OK) {
        cli_error(cmd, "--until: %s", tgh_errmsg());
        return CLI_EXIT_USAGE;
    }
    if (o->chat != NULL && cli_parse_chat(st, o->chat, &q->chat_id) != TGH_OK) {
        cli_error(cmd, "--chat: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    return -1;
}

int
query_print_delete(FILE *out, int64_t chat_id, int64_t message_id, int64_t date, int64_t deleted_at,
                   const char *source, const char *chat_type)
{
    struct msg_event d;
    char *text = NULL;
    size_t len;
    int rc = 0;

    msg_event_init(&d);
    d.op = MSG_OP_DELETE;
    d.chat_id = chat_id;
    d.message_id = message_id;
    d.date = date;
    d.observed_at = deleted_at;
    if (source != NULL)
        (void)msg_source_parse(source, &d.source);
    if (chat_type != NULL)
        (void)msg_chat_type_parse(chat_type, &d.chat_type);
    if (codec_event_finalize(&d) != TGH_OK || codec_event_encode(&d, &text, &len) != TGH_OK)
        rc = -1;
    else if (fwrite(text, 1, len, out) != len || fputc('\n', out) == EOF)
        rc = -1;
    tgh_free(text);
    return rc;
}

int
query_print_event_lines(FILE *out, const struct store_message_row *row)
{
    json_t *ev;
    int rc;

    if (fputs(row->event, out) == EOF || fputc('\n', out) == EOF)
        return -1;
    if (row->deleted_at == 0)
        return 0;
    /* The delete event names the chat and source the message has. */
    ev = json_loads(row->event, 0, NULL);
    rc =
        query_print_delete(out, row->chat_id, row->message_id, row->date, row->deleted_at,
                           json_string_value(json_object_get(ev, "source")),
                           json_string_value(json_object_get(json_object_get(ev, "chat"), "type")));
    json_decref(ev);
    return rc;
}

/* chats */

static int
print_chat(void *arg, const struct store_chat_row *r)
{
    bool as_json = *(bool *)arg;
    char first[32], last[32];

    if (as_json) {
        json_t *o = json_pack("{s:I, s:s, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I}", "id",
                              (json_int_t)r->chat_id, "type", r->type, "title", r->title,
                              "username", r->username, "messages", (json_int_t)r->message_count,
                              "deleted", (json_int_t)r->deleted_count, "first_date",
                              (json_int_t)r->first_date, "last_date", (json_int_t)r->last_date,
                              "last_message_id", (json_int_t)r->last_message_id);

        (void)json_dumpf(o, stdout, JSON_COMPACT);
        (void)fputc('\n', stdout);
        json_decref(o);
        return 0;
    }
    printf("%-16" PRId64 " %-10s %8" PRId64 " %-19s %-19s ", r->chat_id, r->type, r->message_count,
           cli_fmt_time(r->first_date, first, sizeof(first)),
           cli_fmt_time(r->last_date, last, sizeof(last)));
    cli_put_text(stdout, r->title);
    if (r->username != NULL) {
        fputs(" @", stdout);
        cli_put_text(stdout, r->username);
    }
    fputc('\n', stdout);
    return 0;
}

static int
run_chats(const struct tgh_config *cfg, int argc, char **argv)
{
    struct select_opts o = { 0 };
    struct store *st = NULL;
    int rc;

    if (argc >= 2 && argv[1][0] != '-')
        return cli_chats_manage(cfg, argc, argv);
    rc = parse_select(&cli_cmd_chats, "js", argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(&cli_cmd_chats, "unexpected argument '%s'", argv[optind]);
    if (cli_store_open(cfg, o.store_url, false, &st) != TGH_OK) {
        cli_error("chats", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (!o.as_json)
        printf("%-16s %-10s %8s %-19s %-19s %s\n", "ID", "TYPE", "MESSAGES", "FIRST (UTC)",
               "LAST (UTC)", "TITLE");
    rc = CLI_EXIT_OK;
    if (store_chats_each(st, print_chat, &o.as_json) != TGH_OK) {
        cli_error("chats", "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    }
    store_close(st);
    return cli_finish_output("chats", rc);
}

/* messages and search */

struct print_ctx {
    bool as_json;
    bool search;
    int failed;
};

static int
print_message(void *arg, const struct store_message_row *r)
{
    struct print_ctx *p = arg;
    char when[32];
    const char *body;

    if (p->as_json) {
        if (query_print_event_lines(stdout, r) != 0)
            p->failed = 1;
        return p->failed;
    }
    body = p->search && r->snippet ? r->snippet : r->text ? r->text : "";
    printf("%s  %" PRId64 "  #%" PRId64 "%s%s  ", cli_fmt_time(r->date, when, sizeof(when)),
           r->chat_id, r->message_id, r->edit_date ? " (edited)" : "",
           r->deleted_at ? " (deleted)" : "");
    cli_put_text(stdout, r->sender_name ? r->sender_name : "-");
    fputs(": ", stdout);
    cli_put_text(stdout, body); /* one message per line */
    fputc('\n', stdout);
    return 0;
}

static int
select_and_print(const struct cli_cmd *cmd, const struct tgh_config *cfg, struct select_opts *o,
                 const char *match)
{
    struct print_ctx p = { o->as_json, match != NULL, 0 };
    struct store_query q = { 0 };
    struct store *st = NULL;
    int rc = CLI_EXIT_OK;

    if (cli_store_open(cfg, o->store_url, false, &st) != TGH_OK) {
        cli_error(cmd->name, "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    rc = build_query(cmd->name, st, o, &q);
    if (rc >= 0) {
        store_close(st);
        return rc;
    }
    rc = CLI_EXIT_OK;
    q.match = match;
    if (store_messages_each(st, &q, print_message, &p) != TGH_OK) {
        cli_error(cmd->name, "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    } else if (p.failed || fflush(stdout) != 0) {
        cli_error(cmd->name, "writing output failed");
        rc = CLI_EXIT_FAIL;
    }
    store_close(st);
    return rc;
}

static int
run_messages(const struct tgh_config *cfg, int argc, char **argv)
{
    struct select_opts o = { 0 };
    int rc = parse_select(&cli_cmd_messages, "cSUnjrs", argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (o.chat == NULL)
        return cli_usage_error(&cli_cmd_messages, "--chat is required");
    if (optind < argc)
        return cli_usage_error(&cli_cmd_messages, "unexpected argument '%s'", argv[optind]);
    return select_and_print(&cli_cmd_messages, cfg, &o, NULL);
}

static int
run_search(const struct tgh_config *cfg, int argc, char **argv)
{
    struct select_opts o = { .limit = 50 };
    int rc = parse_select(&cli_cmd_search, "cSUnjs", argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error(&cli_cmd_search, "expected exactly one QUERY");
    return select_and_print(&cli_cmd_search, cfg, &o, argv[optind]);
}

/* stats */

static int
run_stats(const struct tgh_config *cfg, int argc, char **argv)
{
    struct select_opts o = { 0 };
    struct store_totals t;
    struct store *st = NULL;
    char first[32], last[32];
    int rc = parse_select(&cli_cmd_stats, "js", argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(&cli_cmd_stats, "unexpected argument '%s'", argv[optind]);
    if (cli_store_open(cfg, o.store_url, false, &st) != TGH_OK) {
        cli_error("stats", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (store_totals_get(st, &t) != TGH_OK) {
        cli_error("stats", "%s", tgh_errmsg());
        store_close(st);
        return CLI_EXIT_FAIL;
    }
    store_close(st);
    if (o.as_json) {
        json_t *j = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "chats", (json_int_t)t.chats,
            "messages", (json_int_t)t.messages, "deleted", (json_int_t)t.deleted, "versions",
            (json_int_t)t.versions, "dead_letters", (json_int_t)t.dead_letters, "runs",
            (json_int_t)t.runs, "first_date", (json_int_t)t.first_date, "last_date",
            (json_int_t)t.last_date, "size_bytes", (json_int_t)t.size_bytes);

        (void)json_dumpf(j, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(j);
        return cli_finish_output("stats", CLI_EXIT_OK);
    }
    printf("chats          %" PRId64 "\n"
           "messages       %" PRId64 "\n"
           "deleted        %" PRId64 "\n"
           "versions       %" PRId64 "\n"
           "dead letters   %" PRId64 "\n"
           "runs           %" PRId64 "\n"
           "first message  %s\n"
           "last message   %s\n"
           "size           %.1f MB\n",
           t.chats, t.messages, t.deleted, t.versions, t.dead_letters, t.runs,
           cli_fmt_time(t.first_date, first, sizeof(first)),
           cli_fmt_time(t.last_date, last, sizeof(last)),
           t.size_bytes >= 0 ? (double)t.size_bytes / 1e6 : 0.0);
    return cli_finish_output("stats", CLI_EXIT_OK);
}

const struct cli_cmd cli_cmd_chats = {
    "chats",
    run_chats,
    "list archived chats; add, remove, enable, disable the chats to collect",
    "usage: tgharvest chats [--json] [--store URL]\n"
    "       tgharvest chats add CHAT... [--account NAME] [--join] [--comments] [--topics]\n"
    "       tgharvest chats list [--json]\n"
    "       tgharvest chats remove|enable|disable CHAT...\n"
    "       tgharvest chats media CHAT [POLICY | --clear] [--json]\n"
    "\n"
    "Without a subcommand: every chat in the archive: id (Bot API convention: -100...\n"
    "for channels and supergroups), type, number of messages (tombstones not counted),\n"
    "first and last message date (UTC) and title.\n"
    "\n"
    "add resolves each CHAT through TDLib (@name, name, https://t.me/name, t.me/c/ID,\n"
    "-100ID, or an invite link) and records it for `collect` and `run`: type, title,\n"
    "username, discussion group, forum flag. A chat that cannot be read (private,\n"
    "banned, unknown username) is recorded with status error and its reason and is\n"
    "not retried until enabled again. When a running collector holds the account, the\n"
    "chat is recorded and that collector resolves it (not with --join: joining needs\n"
    "the account, so stop the collector first).\n"
    "  --account NAME  the account that collects it (default TGH_ACCOUNT)\n"
    "  --join          join by invite link when the account is not a member\n"
    "  --comments      also collect the comments of channel posts (discussion group)\n"
    "  --topics        forum: also collect each topic's history\n"
    "\n"
    "list shows the tracked chats: state, status, account, cursors (newest and oldest\n"
    "message id collected, whether the backfill reached the start), last collection,\n"
    "and the error of a chat in error. remove stops tracking (the archive keeps its\n"
    "messages); enable and disable switch collection; enable also clears an error.\n"
    "CHAT is then a chat id, t.me/c/ID, @username, or the spec given to add.\n"
    "\n"
    "media shows the media policy of a tracked chat, sets its own (POLICY, applied\n"
    "over the global TGH_MEDIA_* settings for this chat only) or clears it. POLICY is\n"
    "KEY=VALUE pairs joined by ';': kinds=photo,video,... or none, max=SIZE (20M, 1G),\n"
    "history=all|none|Nd (also the media of messages up to N days older than the\n"
    "chat's tracking), thumbs=KINDS (keep only the thumbnail of these kinds).\n"
    "Example:\n"
    "  tgharvest chats media @news 'kinds=photo;max=5M;history=none'\n"
    "\n"
    "  --json       one JSON object per chat and line\n"
    "  --store URL  store to read (default TGH_STORE)\n",
};

const struct cli_cmd cli_cmd_messages = {
    "messages",
    run_messages,
    "print the messages of one chat",
    "usage: tgharvest messages --chat CHAT [--since DATE] [--until DATE] [--limit N]\n"
    "                          [--newest-first] [--json] [--store URL]\n"
    "\n"
    "Print a chat's messages, oldest first. CHAT is a chat id, @username or exact\n"
    "title. DATE is YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z] (UTC) or Unix seconds;\n"
    "--since is inclusive, --until exclusive.\n"
    "\n"
    "  --json          one schema-v1 event per line; a deleted message is followed by\n"
    "                  its delete event\n"
    "  --limit N       at most N messages\n"
    "  --newest-first  newest first\n",
};

const struct cli_cmd cli_cmd_search = {
    "search",
    run_search,
    "full-text search over message text",
    "usage: tgharvest search QUERY [--chat CHAT] [--since DATE] [--until DATE]\n"
    "                        [--limit N] [--json] [--store URL]\n"
    "\n"
    "Search message text (SQLite FTS5 syntax: words, \"exact phrase\", prefix*, AND,\n"
    "OR, NOT). Case and diacritics are ignored. Best matches first; 50 by default.\n"
    "\n"
    "  --json     one schema-v1 event per line\n"
    "  --limit N  at most N results (default 50)\n",
};

const struct cli_cmd cli_cmd_stats = {
    "stats",
    run_stats,
    "archive totals: chats, messages, versions, deletions, dead letters",
    "usage: tgharvest stats [--json] [--store URL]\n"
    "\n"
    "Print archive totals: chats, messages, tombstoned (deleted) messages, kept\n"
    "previous versions of edited messages, dead letters, collection runs, first and\n"
    "last message date and on-disk size.\n",
};
