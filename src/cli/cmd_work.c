/* SPDX-License-Identifier: MIT */
/*
 * cmd_work.c - `work`: the scale-out worker, RabbitMQ into the store.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/cmd_collect.h"
#include "core/url.h"
#include "pipeline/pipeline.h"
#include "queue/queue.h"

static void
totals_json(json_t *o, const struct pipeline_work_totals *t)
{
    (void)json_object_set_new(o, "received", json_integer((json_int_t)t->received));
    (void)json_object_set_new(o, "committed", json_integer((json_int_t)t->events));
    (void)json_object_set_new(o, "new", json_integer((json_int_t)t->stats.inserted));
    (void)json_object_set_new(o, "edited", json_integer((json_int_t)t->stats.versioned));
    (void)json_object_set_new(o, "deleted", json_integer((json_int_t)t->stats.deleted));
    (void)json_object_set_new(o, "unchanged", json_integer((json_int_t)t->stats.unchanged));
    (void)json_object_set_new(o, "refreshed", json_integer((json_int_t)t->stats.refreshed));
    (void)json_object_set_new(o, "duplicates_skipped", json_integer((json_int_t)t->duplicates));
    (void)json_object_set_new(o, "dead_letters", json_integer((json_int_t)t->dead_letters));
    (void)json_object_set_new(o, "batches", json_integer((json_int_t)t->batches));
    (void)json_object_set_new(o, "retries", json_integer((json_int_t)t->retries));
    (void)json_object_set_new(o, "breaker_opens", json_integer((json_int_t)t->breaker_opens));
    (void)json_object_set_new(o, "broker_reconnects", json_integer((json_int_t)t->reconnects));
    (void)json_object_set_new(o, "cache_failures", json_integer((json_int_t)t->cache_failures));
}

static const struct option longopts[] = {
    { "drain", required_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct pipeline_work_opts o = { 0 };
    struct pipeline_work_totals t = { 0 };
    struct api_server *srv = NULL;
    char redacted[TGH_URL_MAX];
    int64_t drain = 0;
    json_t *summary;
    tgh_err rc;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "hd:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            if (cli_parse_int(optarg, 1, 86400, &drain) != TGH_OK)
                return cli_usage_error(&cli_cmd_work, "--drain: %s", tgh_errmsg());
            break;
        case 'h':
            return cli_help(&cli_cmd_work);
        default:
            return cli_bad_option(&cli_cmd_work, argv);
        }
    }
    if (optind != argc)
        return cli_usage_error(&cli_cmd_work, "unexpected argument '%s'", argv[optind]);
    if (!queue_url_is_amqp(cfg->queue_url)) {
        cli_error("work", "TGH_QUEUE must be an amqp:// URL (it is '%s')", cfg->queue_url);
        return CLI_EXIT_USAGE;
    }
    o.queue_url = cfg->queue_url;
    o.store_url = cfg->store_url;
    o.cache_url = cfg->cache_url;
    o.batch_size = (size_t)cfg->batch_size;
    /*
     * The window is counted in deliveries, and a delivery is a page of up
     * to QUEUE_PAGE_EVENTS events: a fifth of the batch (at least 16) holds
     * two batches of collector pages without holding thousands of them.
     */
    o.prefetch = cfg->prefetch > 0 ? (unsigned)cfg->prefetch : (unsigned)(cfg->batch_size / 5);
    if (o.prefetch < 16)
        o.prefetch = 16;
    o.batch_wait_ms = cfg->batch_wait_ms;
    o.idle_exit_ms = drain * 1000;
    o.stream_max = (size_t)cfg->stream_buffer;
    collect_cli_signals();
    o.stop = collect_cli_stop_flag();
    tgh_url_redact(cfg->queue_url, redacted, sizeof(redacted));
    (void)fprintf(stderr, "work: %s -> store, batch %zu, prefetch %u\n", redacted, o.batch_size,
                  o.prefetch);
    if (*cfg->metrics_addr != '\0' &&
        cli_http_start_opts(cfg, NULL, cfg->metrics_addr, NULL, "work", true, &srv) != TGH_OK) {
        cli_error("work", "TGH_METRICS_ADDR: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    rc = pipeline_work_run(&o, &t);
    api_server_stop(srv);
    summary = cli_summary_new(rc);
    totals_json(summary, &t);
    (void)json_object_set_new(summary, "error",
                              rc == TGH_OK ? json_null() : json_string(tgh_errmsg()));
    if (rc != TGH_OK)
        cli_error("work", "%s", tgh_errmsg());
    return cli_summary_print("work", summary, rc == TGH_OK);
}

const struct cli_cmd cli_cmd_work = {
    "work",
    run,
    "consume the RabbitMQ queue into the store (scale-out worker)",
    "usage: tgharvest work [--drain SECONDS]\n"
    "\n"
    "Consume tg.messages.v2 on TGH_QUEUE (amqp://...) into TGH_STORE in batches of\n"
    "TGH_BATCH_SIZE, skipping what TGH_CACHE (redis://..., optional) has seen in the\n"
    "same state. A batch is acknowledged only after it was committed. Payloads that\n"
    "are not valid events go to the store's dead letters and, with the reason, to\n"
    "tg.messages.dlq. While the store is down the batch is held and retried with\n"
    "backoff behind a circuit breaker; nothing more is consumed meanwhile.\n"
    "Run as many workers as needed. SIGTERM or SIGINT: commit and acknowledge the\n"
    "batch in hand, then exit.\n"
    "  --drain SECONDS  exit once the queue gave nothing for SECONDS\n"
    "Prints a JSON summary on stdout; exit status 1 on a permanent failure.\n",
};
