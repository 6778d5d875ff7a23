/* SPDX-License-Identifier: MIT */
/*
 * cmd_replay.c - `replay`: put dead letters (tg.messages.dlq) or JSON lines
 * of events back on tg.messages.v2 for the workers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/codec.h"
#include "queue/queue.h"

#define REPLAY_BATCH 200

struct replay_totals {
    uint64_t published;
    uint64_t invalid; /* lines that are not valid events: reported, not published */
    uint64_t files;
};

/* Dead letters: each is published to the main queue, then acked on the DLQ. */
static tgh_err
replay_dlq(const char *url, int64_t limit, struct replay_totals *t)
{
    struct queue_con *con = NULL;
    struct queue_pub *pub = NULL;
    uint64_t last_tag = 0, in_batch = 0;
    tgh_err rc;

    rc = queue_con_open(url, QUEUE_DLQ, REPLAY_BATCH, &con);
    if (rc == TGH_OK)
        rc = queue_pub_open(url, &pub);
    while (rc == TGH_OK && (limit <= 0 || (int64_t)t->published < limit)) {
        struct queue_delivery d;

        rc = queue_con_next(con, 1000, &d);
        if (rc == TGH_ETIMEOUT) {
            rc = TGH_OK;
            break; /* the DLQ is empty */
        }
        if (rc != TGH_OK)
            break;
        rc = queue_publish(pub, d.body, d.len, d.message_id);
        if (rc != TGH_OK)
            break;
        last_tag = d.tag;
        t->published++;
        if (++in_batch == REPLAY_BATCH) {
            /* Confirmed on the main queue before it leaves the DLQ. */
            rc = queue_pub_flush(pub, 30000);
            if (rc == TGH_OK)
                rc = queue_ack(con, last_tag, true);
            in_batch = 0;
        }
    }
    if (rc == TGH_OK && in_batch > 0) {
        rc = queue_pub_flush(pub, 30000);
        if (rc == TGH_OK)
            rc = queue_ack(con, last_tag, true);
    }
    queue_pub_close(pub);
    queue_con_close(con);
    return rc;
}

/* One JSONL file: valid event lines are published, others reported. */
static tgh_err
replay_file(struct queue_pub *pub, const char *path, struct replay_totals *t)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    struct tgh_arena a;
    struct queue_page page;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    tgh_err rc = TGH_OK;

    if (f == NULL)
        return tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
    tgh_arena_init(&a, 1 << 16);
    queue_page_init(&page);
    while ((len = getline(&line, &cap, f)) >= 0) {
        struct msg_event ev;
        char *text = NULL;
        size_t text_len = 0;
        char key[96];

        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        tgh_arena_reset(&a);
        if (codec_event_decode(line, (size_t)len, &a, &ev) != TGH_OK) {
            cli_error("replay", "%s:%zu: %s", path, lineno, tgh_errmsg());
            t->invalid++;
            continue;
        }
        rc = codec_event_encode(&ev, &text, &text_len);
        (void)msg_event_key(&ev, key, sizeof(key));
        msg_event_fini(&ev);
        if (rc == TGH_OK)
            queue_page_add(&page, text, text_len, key);
        tgh_free(text);
        if (rc == TGH_OK && queue_page_full(&page))
            rc = queue_page_publish(pub, &page);
        if (rc != TGH_OK)
            break;
        if (++t->published % REPLAY_BATCH == 0) {
            rc = queue_pub_flush(pub, 30000);
            if (rc != TGH_OK)
                break;
        }
    }
    if (rc == TGH_OK)
        rc = queue_page_publish(pub, &page);
    queue_page_fini(&page);
    if (rc == TGH_OK && ferror(f))
        rc = tgh_errf(TGH_EIO, "%s: read error", path);
    tgh_free(line); /* getline allocates with malloc, which tgh_free releases */
    tgh_arena_fini(&a);
    if (f != stdin)
        (void)fclose(f);
    t->files++;
    return rc;
}

static const struct option longopts[] = {
    { "dead-letters", no_argument, NULL, 'd' },
    { "limit", required_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct replay_totals t = { 0 };
    bool dlq = false;
    int64_t limit = 0;
    json_t *summary;
    tgh_err rc = TGH_OK;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hdn:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            dlq = true;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, INT64_MAX, &limit) != TGH_OK)
                return cli_usage_error(&cli_cmd_replay, "--limit: %s", tgh_errmsg());
            break;
        case 'h':
            return cli_help(&cli_cmd_replay);
        default:
            return cli_bad_option(&cli_cmd_replay, argv);
        }
    }
    if (dlq == (optind < argc))
        return cli_usage_error(&cli_cmd_replay, "give either --dead-letters or FILE...");
    if (!queue_url_is_amqp(cfg->queue_url)) {
        cli_error("replay", "TGH_QUEUE must be an amqp:// URL (it is '%s')", cfg->queue_url);
        return CLI_EXIT_USAGE;
    }
    if (dlq) {
        rc = replay_dlq(cfg->queue_url, limit, &t);
    } else {
        struct queue_pub *pub = NULL;

        rc = queue_pub_open(cfg->queue_url, &pub);
        for (int i = optind; rc == TGH_OK && i < argc; i++)
            rc = replay_file(pub, argv[i], &t);
        if (rc == TGH_OK)
            rc = queue_pub_flush(pub, 60000);
        queue_pub_close(pub);
    }
    if (rc != TGH_OK)
        cli_error("replay", "%s", tgh_errmsg());
    summary = cli_summary_new(rc);
    (void)json_object_set_new(summary, "published", json_integer((json_int_t)t.published));
    (void)json_object_set_new(summary, "invalid", json_integer((json_int_t)t.invalid));
    (void)json_object_set_new(summary, "files", json_integer((json_int_t)t.files));
    return cli_summary_print("replay", summary, rc == TGH_OK && t.invalid == 0);
}

const struct cli_cmd cli_cmd_replay = {
    "replay",
    run,
    "re-publish dead letters or JSON lines of events to the queue",
    "usage: tgharvest replay --dead-letters [--limit N]\n"
    "       tgharvest replay FILE...\n"
    "\n"
    "--dead-letters: move the messages of tg.messages.dlq back onto tg.messages.v2\n"
    "(each is acknowledged on the DLQ only after the broker confirmed its copy), for\n"
    "example after fixing what made the workers refuse them; stops when the DLQ is\n"
    "empty or after --limit messages.\n"
    "\n"
    "FILE...: publish every line of these JSON-lines files of schema-v1 events (as\n"
    "`export --format jsonl` writes them; \"-\" reads stdin). A line that is not a\n"
    "valid event is reported with its file and line number and not published.\n"
    "\n"
    "Needs TGH_QUEUE=amqp://.... Prints a JSON summary; exit status 1 when anything\n"
    "failed or a line was invalid.\n",
};
