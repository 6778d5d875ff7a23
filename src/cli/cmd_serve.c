/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c - `tgharvest serve`: the HTTP API, live stream, metrics and
 * dashboard alone (the scale-out deployment's API server), until SIGTERM or
 * SIGINT. Also the start of the same server inside `run`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/cmd_collect.h"
#include "collect/collect.h"
#include "core/url.h"

static int
account_row(void *arg, const struct collect_account_info *a)
{
    json_t *list = arg;
    json_t *o =
        json_pack("{s:s,s:b,s:b,s:b,s:s,s:s}", "name", a->name, "logged_in", a->logged_in, "in_use",
                  a->in_use, "is_bot", a->is_bot, "display", a->display, "username", a->username);

    if (o != NULL)
        (void)json_array_append_new(list, o);
    return 0;
}

/* /status: the accounts of this data folder (their TDLib sessions). */
static void
status_accounts(void *arg, json_t *status)
{
    const struct tgh_config *cfg = arg;
    json_t *list = json_array();

    if (collect_accounts_each(cfg, account_row, list) != TGH_OK) {
        json_decref(list);
        (void)json_object_set_new(status, "accounts", json_null());
        return;
    }
    (void)json_object_set_new(status, "accounts", list);
}

tgh_err
cli_http_start(const struct tgh_config *cfg, const char *store_url, const char *addr,
               struct tgh_feed *feed, const char *mode, struct api_server **out)
{
    return cli_http_start_opts(cfg, store_url, addr, feed, mode, false, out);
}

tgh_err
cli_http_start_opts(const struct tgh_config *cfg, const char *store_url, const char *addr,
                    struct tgh_feed *feed, const char *mode, bool metrics_only,
                    struct api_server **out)
{
    struct api_opts o = { 0 };
    const char *key;
    tgh_err rc;

    o.cfg = cfg;
    o.store_url = store_url;
    o.addr = addr;
    o.feed = feed;
    o.mode = mode;
    o.metrics_only = metrics_only;
    o.status_fill = status_accounts;
    o.status_arg = (void *)(uintptr_t)cfg;
    rc = api_server_start(&o, out);
    if (rc != TGH_OK)
        return rc;
    if (metrics_only) { /* a worker's stdout is its JSON summary */
        (void)fprintf(stderr, "http: listening on http://127.0.0.1:%u/ (metrics)\n",
                      api_server_port(*out));
        return TGH_OK;
    }
    printf("http: listening on http://127.0.0.1:%u/ (TGH_HTTP_ADDR %s)\n", api_server_port(*out),
           addr != NULL ? addr : cfg->http_addr);
    key = api_server_generated_key(*out);
    /* The key is the operator's own: shown on a terminal, never in a log or a pipe. */
    if (key != NULL && isatty(STDOUT_FILENO))
        printf("dashboard: http://127.0.0.1:%u/#key=%s\n", api_server_port(*out), key);
    else if (key != NULL)
        printf("dashboard: http://127.0.0.1:%u/ (the admin key is in %s/api-keys)\n",
               api_server_port(*out), cfg->data_dir);
    (void)fflush(stdout);
    return TGH_OK;
}

void
cli_wait_for_stop(volatile sig_atomic_t *stop)
{
    struct timespec ts = { 0, 200 * 1000 * 1000 };

    while (!*stop)
        (void)nanosleep(&ts, NULL);
}

static const struct option longopts[] = {
    { "addr", required_argument, NULL, 'a' },
    { "store", required_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int
serve(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *store_url = NULL, *addr = NULL;
    struct api_server *srv = NULL;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "ha:s:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            addr = optarg;
            break;
        case 's':
            store_url = optarg;
            break;
        case 'h':
            return cli_help(&cli_cmd_serve);
        default:
            return cli_bad_option(&cli_cmd_serve, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(&cli_cmd_serve, "unexpected argument '%s'", argv[optind]);
    collect_cli_signals();
    if (cli_http_start(cfg, store_url, addr, NULL, "serve", &srv) != TGH_OK) {
        cli_error("serve", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    cli_wait_for_stop(collect_cli_stop_flag());
    api_server_stop(srv);
    printf("http: stopped\n");
    return cli_finish_output("serve", CLI_EXIT_OK);
}

const struct cli_cmd cli_cmd_serve = {
    "serve",
    serve,
    "the HTTP API, live stream, /metrics and the dashboard, alone",
    "usage: tgharvest serve [--addr HOST:PORT] [--store URL]\n"
    "\n"
    "Serve the archive over HTTP until SIGTERM or Ctrl-C: the REST API under\n"
    "/api/v1 (docs/api.md), the live stream /api/v1/stream, /healthz, /readyz,\n"
    "/metrics, /status and the dashboard at /. It listens on TGH_HTTP_ADDR\n"
    "(127.0.0.1:8080; --addr overrides it, port 0 picks a free one). Keys come\n"
    "from TGH_API_KEYS and TGH_API_KEYS_FILE; without either, DATA_DIR/api-keys\n"
    "is made with one admin key. With TGH_CACHE=redis://... the live stream\n"
    "follows the changes the workers commit (`tgharvest work`), and polling is\n"
    "answered from the recent cache when it holds the window.\n",
};
