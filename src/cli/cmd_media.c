/* SPDX-License-Identifier: MIT */
/*
 * cmd_media.c - `media status|jobs|retry|verify`: the media archive's jobs
 * and what the media store holds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"
#include "core/url.h"
#include "media/media.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

static const struct option longopts[] = {
    { "json", no_argument, NULL, 'j' },        { "store", required_argument, NULL, 's' },
    { "state", required_argument, NULL, 'S' }, { "chat", required_argument, NULL, 'c' },
    { "limit", required_argument, NULL, 'n' }, { "failed", no_argument, NULL, 'F' },
    { "help", no_argument, NULL, 'h' },        { NULL, 0, NULL, 0 },
};

struct media_opts {
    bool as_json;
    bool all_failed;
    const char *store_url;
    const char *state;
    const char *chat;
    int64_t limit;
};

static int
parse(const char *sub, const char *allowed, int argc, char **argv, struct media_opts *o)
{
    int ch;

    optind = 2; /* after the subcommand */
    while ((ch = getopt_long(argc, argv, "hjs:S:c:n:F", longopts, NULL)) != -1) {
        if (ch != 'h' && ch != '?' && strchr(allowed, ch) == NULL)
            return cli_usage_error(&cli_cmd_media, "option '%s' does not apply to media %s",
                                   argv[optind - 1], sub);
        switch (ch) {
        case 'j':
            o->as_json = true;
            break;
        case 's':
            o->store_url = optarg;
            break;
        case 'S':
            o->state = optarg;
            break;
        case 'c':
            o->chat = optarg;
            break;
        case 'n':
            if (cli_parse_int(optarg, 1, 1000000, &o->limit) != TGH_OK)
                return cli_usage_error(&cli_cmd_media, "--limit: %s", tgh_errmsg());
            break;
        case 'F':
            o->all_failed = true;
            break;
        case 'h':
            return cli_help(&cli_cmd_media);
        default:
            return cli_bad_option(&cli_cmd_media, argv);
        }
    }
    return -1;
}

/* ---- status ---- */

struct status {
    json_t *states; /* state -> {jobs, bytes, kinds: {kind: jobs}} */
    int64_t stored_bytes;
    int64_t unique_bytes, unique_files;
    json_t *failed;
};

static int
count_row(void *arg, enum store_job_state state, const char *kind, int64_t jobs, int64_t bytes)
{
    struct status *s = arg;
    const char *name = store_job_state_name(state);
    json_t *st = json_object_get(s->states, name), *kinds;

    if (st == NULL) {
        st = json_pack("{s:I, s:I, s:{}}", "jobs", (json_int_t)0, "bytes", (json_int_t)0, "kinds");
        (void)json_object_set_new(s->states, name, st);
    }
    (void)json_object_set_new(st, "jobs",
                              json_integer(json_integer_value(json_object_get(st, "jobs")) + jobs));
    (void)json_object_set_new(
        st, "bytes", json_integer(json_integer_value(json_object_get(st, "bytes")) + bytes));
    kinds = json_object_get(st, "kinds");
    (void)json_object_set_new(kinds, kind != NULL ? kind : "unknown", json_integer(jobs));
    if (state == STORE_JOB_STORED)
        s->stored_bytes += bytes;
    return 0;
}

static int
dedup_row(void *arg, const struct store_dedup *d)
{
    struct status *s = arg;

    s->unique_files++;
    s->unique_bytes += d->size;
    return 0;
}

static int
failed_row(void *arg, const struct store_media_job *j)
{
    struct status *s = arg;

    (void)json_array_append_new(s->failed, pipeline_media_job_json(j));
    return 0;
}

static int
media_status(const struct tgh_config *cfg, const struct media_opts *o, struct store *st)
{
    struct status s = { .states = json_object(), .failed = json_array() };
    struct store_media_jobs_query fq = {
        .state = STORE_JOB_FAILED,
        .chat_id = MSG_UNSET,
        .message_id = MSG_UNSET,
        .limit = 10,
    };
    char url[TGH_URL_MAX];
    json_t *out;
    tgh_err rc;

    rc = store_media_counts_each(st, count_row, &s);
    if (rc == TGH_OK)
        rc = store_dedup_each(st, dedup_row, &s);
    if (rc == TGH_OK)
        rc = store_media_jobs_each(st, &fq, failed_row, &s);
    if (rc != TGH_OK) {
        cli_error("media", "%s", tgh_errmsg());
        json_decref(s.states);
        json_decref(s.failed);
        return CLI_EXIT_FAIL;
    }
    tgh_url_redact(cfg->media_url, url, sizeof(url));
    out = json_pack(
        "{s:s, s:o, s:I, s:I, s:I, s:I, s:o}", "media", url, "states", s.states, "stored_bytes",
        (json_int_t)s.stored_bytes, "unique_files", (json_int_t)s.unique_files, "unique_bytes",
        (json_int_t)s.unique_bytes, "dedup_saved_bytes",
        (json_int_t)(s.stored_bytes > s.unique_bytes ? s.stored_bytes - s.unique_bytes : 0),
        "recent_failures", s.failed);
    if (o->as_json) {
        (void)json_dumpf(out, stdout, JSON_COMPACT);
        (void)fputc('\n', stdout);
    } else {
        const char *name;
        json_t *v;
        size_t i;

        printf("media store: %s\n", url);
        for (int k = 0; k < STORE_JOB_STATES; k++) {
            name = store_job_state_name((enum store_job_state)k);
            v = json_object_get(s.states, name);
            printf("  %-12s %8" PRId64 " jobs %12.1f MB\n", name,
                   v ? (int64_t)json_integer_value(json_object_get(v, "jobs")) : 0,
                   v ? (double)json_integer_value(json_object_get(v, "bytes")) / 1e6 : 0.0);
        }
        printf("stored: %" PRId64 " distinct files, %.1f MB; de-duplication saved %.1f MB\n",
               s.unique_files, (double)s.unique_bytes / 1e6,
               (double)(s.stored_bytes > s.unique_bytes ? s.stored_bytes - s.unique_bytes : 0) /
                   1e6);
        json_array_foreach (s.failed, i, v) {
            printf("failed job %" PRId64 ": chat %" PRId64 " message %" PRId64 ": ",
                   (int64_t)json_integer_value(json_object_get(v, "id")),
                   (int64_t)json_integer_value(json_object_get(v, "chat_id")),
                   (int64_t)json_integer_value(json_object_get(v, "message_id")));
            cli_put_text(stdout, json_string_value(json_object_get(v, "error")));
            printf("\n");
        }
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

/* ---- jobs ---- */

struct jobs_ctx {
    bool as_json;
    int64_t n;
};

static int
jobs_row(void *arg, const struct store_media_job *j)
{
    struct jobs_ctx *c = arg;

    c->n++;
    if (c->as_json) {
        json_t *o = pipeline_media_job_json(j);

        (void)json_dumpf(o, stdout, JSON_COMPACT);
        (void)fputc('\n', stdout);
        json_decref(o);
        return 0;
    }
    printf("%" PRId64 "  %-11s %-10s chat %" PRId64 " message %" PRId64 "  %" PRId64
           " bytes  attempts %d",
           j->id, store_job_state_name(j->state), j->media_kind ? j->media_kind : "-", j->chat_id,
           j->message_id, j->size, j->attempts);
    if (j->error != NULL) {
        printf("  ");
        cli_put_text(stdout, j->error);
    }
    printf("\n");
    return 0;
}

static int
media_jobs(const struct media_opts *o, struct store *st)
{
    struct store_media_jobs_query q = {
        .state = -1,
        .chat_id = MSG_UNSET,
        .message_id = MSG_UNSET,
        .limit = o->limit > 0 ? o->limit : 100,
    };
    struct jobs_ctx c = { .as_json = o->as_json };
    enum store_job_state s;

    if (o->state != NULL) {
        if (!store_job_state_parse(o->state, &s))
            return cli_usage_error(&cli_cmd_media,
                                   "--state must be queued, downloading, stored, failed or "
                                   "skipped, not '%s'",
                                   o->state);
        q.state = (int)s;
    }
    if (o->chat != NULL && cli_parse_chat(st, o->chat, &q.chat_id) != TGH_OK) {
        cli_error("media", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (store_media_jobs_each(st, &q, jobs_row, &c) != TGH_OK) {
        cli_error("media", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* ---- retry ---- */

static int
media_retry(const struct media_opts *o, int argc, char **argv, struct store *st)
{
    int64_t id = 0, n = 0;
    tgh_err rc;

    if (o->all_failed == (optind < argc))
        return cli_usage_error(&cli_cmd_media, "give either a job ID or --failed");
    if (optind < argc &&
        (optind + 1 != argc || cli_parse_int(argv[optind], 1, INT64_MAX, &id) != TGH_OK))
        return cli_usage_error(&cli_cmd_media, "media retry takes one job ID");
    rc = store_media_job_retry(st, id, (int64_t)time(NULL), &n);
    if (rc != TGH_OK) {
        cli_error("media", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (o->as_json)
        printf("{\"queued\":%" PRId64 "}\n", n);
    else
        printf("%" PRId64 " job(s) queued again\n", n);
    return CLI_EXIT_OK;
}

/* ---- verify ---- */

struct verify {
    struct media_store *ms;
    json_t *problems;
    int64_t checked, bytes;
    tgh_err rc;
};

static int
verify_row(void *arg, const struct store_dedup *d)
{
    struct verify *v = arg;
    char sha[MEDIA_SHA256_HEX + 1];
    int64_t size = 0;
    tgh_err rc;

    v->checked++;
    rc = media_hash(v->ms, d->storage_key, sha, &size);
    if (rc == TGH_ENOTFOUND) {
        (void)json_array_append_new(v->problems,
                                    json_pack("{s:s, s:s, s:s}", "problem", "missing", "sha256",
                                              d->sha256, "key", d->storage_key));
        return 0;
    }
    if (rc != TGH_OK) {
        v->rc = rc; /* the media store itself failed: stop, it is not the object's fault */
        return 1;
    }
    v->bytes += size;
    if (strcmp(sha, d->sha256) != 0 || size != d->size)
        (void)json_array_append_new(
            v->problems, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "problem", "mismatch",
                                   "sha256", d->sha256, "actual_sha256", sha, "key", d->storage_key,
                                   "size", (json_int_t)d->size, "actual_size", (json_int_t)size));
    return 0;
}

static int
media_verify(const struct tgh_config *cfg, const struct media_opts *o, struct store *st)
{
    struct verify v = { .problems = json_array() };
    size_t i;
    json_t *p;
    tgh_err rc;

    if (media_url_is_off(cfg->media_url)) {
        cli_error("media", "TGH_MEDIA is off: nothing to verify");
        json_decref(v.problems);
        return CLI_EXIT_FAIL;
    }
    rc = media_open(cfg->media_url, &v.ms);
    if (rc == TGH_OK)
        rc = store_dedup_each(st, verify_row, &v);
    if (rc == TGH_OK)
        rc = v.rc;
    media_close(v.ms);
    if (rc != TGH_OK) {
        cli_error("media", "%s", tgh_errmsg());
        json_decref(v.problems);
        return CLI_EXIT_FAIL;
    }
    if (o->as_json) {
        json_t *out = json_pack("{s:I, s:I, s:O}", "checked", (json_int_t)v.checked, "bytes",
                                (json_int_t)v.bytes, "problems", v.problems);

        (void)json_dumpf(out, stdout, JSON_COMPACT);
        (void)fputc('\n', stdout);
        json_decref(out);
    } else {
        json_array_foreach (v.problems, i, p) {
            printf("%s: %s (%s)\n", json_string_value(json_object_get(p, "problem")),
                   json_string_value(json_object_get(p, "key")),
                   json_string_value(json_object_get(p, "sha256")));
        }
        printf("verified %" PRId64 " objects, %.1f MB: %zu problem(s)\n", v.checked,
               (double)v.bytes / 1e6, json_array_size(v.problems));
    }
    i = json_array_size(v.problems);
    json_decref(v.problems);
    return i == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
run(const struct tgh_config *cfg, int argc, char **argv)
{
    struct media_opts o = { 0 };
    const char *sub = argc >= 2 ? argv[1] : NULL;
    const char *allowed;
    struct store *st = NULL;
    int rc;

    if (sub == NULL)
        return cli_usage_error(&cli_cmd_media, "give status, jobs, retry or verify");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)
        return cli_help(&cli_cmd_media);
    if (strcmp(sub, "status") == 0 || strcmp(sub, "verify") == 0)
        allowed = "js";
    else if (strcmp(sub, "jobs") == 0)
        allowed = "jsScn";
    else if (strcmp(sub, "retry") == 0)
        allowed = "jsF";
    else
        return cli_usage_error(&cli_cmd_media, "unknown subcommand '%s'", sub);
    rc = parse(sub, allowed, argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (strcmp(sub, "retry") != 0 && optind != argc)
        return cli_usage_error(&cli_cmd_media, "unexpected argument '%s'", argv[optind]);
    if (cli_store_open(cfg, o.store_url, false, &st) != TGH_OK) {
        cli_error("media", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (strcmp(sub, "status") == 0)
        rc = media_status(cfg, &o, st);
    else if (strcmp(sub, "jobs") == 0)
        rc = media_jobs(&o, st);
    else if (strcmp(sub, "retry") == 0)
        rc = media_retry(&o, argc, argv, st);
    else
        rc = media_verify(cfg, &o, st);
    store_close(st);
    return cli_finish_output("media", rc);
}

const struct cli_cmd cli_cmd_media = {
    "media",
    run,
    "the media archive: job states, retry, verify the stored files",
    "usage: tgharvest media status [--json]\n"
    "       tgharvest media jobs [--state S] [--chat CHAT] [--limit N] [--json]\n"
    "       tgharvest media retry ID | --failed\n"
    "       tgharvest media verify [--json]\n"
    "\n"
    "status: jobs and bytes by state (queued, downloading, stored, failed,\n"
    "skipped) and kind, the distinct files stored and what de-duplication saved,\n"
    "the latest failures.\n"
    "jobs: the jobs, newest first (default 100), with state, attempts, last error.\n"
    "retry: queue a failed or skipped job again, or every failed one.\n"
    "verify: read every stored object back from TGH_MEDIA, hash it and compare\n"
    "with what was recorded; lists missing and mismatched objects, exit 1 if any.\n"
    "  --store URL  the store (default TGH_STORE)\n",
};
