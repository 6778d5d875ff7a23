/* SPDX-License-Identifier: MIT */
/*
 * cmd_chats.c - `chats add|remove|enable|disable|list|media`: the chats the
 * collector collects (tracked chats) and a chat's own media policy, next to
 * `chats`, the archive's list.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "collect/collect.h"
#include "core/alloc.h"
#include "media/media.h"
#include "store/store.h"

static const struct option longopts[] = {
    { "account", required_argument, NULL, 'a' },
    { "join", no_argument, NULL, 'J' },
    { "comments", no_argument, NULL, 'C' },
    { "topics", no_argument, NULL, 'T' },
    { "json", no_argument, NULL, 'j' },
    { "store", required_argument, NULL, 's' },
    { "clear", no_argument, NULL, 'x' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct chats_opts {
    struct collect_add_opts add;
    bool as_json;
    bool clear;
    const char *store_url;
};

static int
parse(const char *sub, const char *allowed, int argc, char **argv, struct chats_opts *o)
{
    int ch;

    optind = 2; /* after the subcommand */
    while ((ch = getopt_long(argc, argv, "ha:JCTjs:x", longopts, NULL)) != -1) {
        if (ch != 'h' && ch != '?' && strchr(allowed, ch) == NULL)
            return cli_usage_error(&cli_cmd_chats, "option '%s' does not apply to chats %s",
                                   argv[optind - 1], sub);
        switch (ch) {
        case 'a':
            o->add.account = optarg;
            break;
        case 'J':
            o->add.join = true;
            break;
        case 'C':
            o->add.comments = true;
            break;
        case 'T':
            o->add.topics = true;
            break;
        case 'j':
            o->as_json = true;
            break;
        case 's':
            o->store_url = optarg;
            break;
        case 'x':
            o->clear = true;
            break;
        case 'h':
            return cli_help(&cli_cmd_chats);
        default:
            return cli_bad_option(&cli_cmd_chats, argv);
        }
    }
    return -1;
}

static void
print_tracked_text(const struct store_tracked *t, const struct store_cursor *cur, bool has_cur)
{
    char when[32];

    printf("%-16" PRId64 " %-10s %-8s %-7s %-10s ", t->chat_id, t->type ? t->type : "-",
           t->enabled ? "enabled" : "disabled", t->status, t->account ? t->account : "-");
    if (has_cur)
        printf("%10" PRId64 " %10" PRId64 " %-4s ", cur->newest_id, cur->oldest_id,
               cur->complete ? "yes" : "no");
    else
        printf("%10s %10s %-4s ", "-", "-", "no");
    printf("%-19s ", cli_fmt_time(t->last_collected_at, when, sizeof(when)));
    cli_put_text(stdout, t->spec);
    if (t->title != NULL) {
        fputs("  ", stdout);
        cli_put_text(stdout, t->title);
    }
    if (t->error != NULL) {
        fputs("  error: ", stdout);
        cli_put_text(stdout, t->error);
    }
    if (t->media_policy != NULL) {
        fputs("  media: ", stdout);
        cli_put_text(stdout, t->media_policy);
    }
    fputc('\n', stdout);
}

static void
print_tracked_json(const struct store_tracked *t, const struct store_cursor *cur, bool has_cur)
{
    json_t *o = json_object();
    char *text;

    (void)json_object_set_new(o, "id", json_integer(t->id));
    (void)json_object_set_new(o, "spec", json_string(t->spec));
    (void)json_object_set_new(o, "chat_id", t->chat_id ? json_integer(t->chat_id) : json_null());
    (void)json_object_set_new(o, "account", t->account ? json_string(t->account) : json_null());
    (void)json_object_set_new(o, "enabled", json_boolean(t->enabled));
    (void)json_object_set_new(o, "status", json_string(t->status));
    (void)json_object_set_new(o, "error", t->error ? json_string(t->error) : json_null());
    (void)json_object_set_new(o, "type", t->type ? json_string(t->type) : json_null());
    (void)json_object_set_new(o, "title", t->title ? json_string(t->title) : json_null());
    (void)json_object_set_new(o, "username", t->username ? json_string(t->username) : json_null());
    (void)json_object_set_new(o, "linked_chat_id",
                              t->linked_chat_id ? json_integer(t->linked_chat_id) : json_null());
    (void)json_object_set_new(o, "is_forum", json_boolean(t->is_forum));
    (void)json_object_set_new(o, "comments", json_boolean(t->comments));
    (void)json_object_set_new(o, "topics", json_boolean(t->topics));
    (void)json_object_set_new(o, "added_at", json_integer(t->added_at));
    (void)json_object_set_new(o, "last_collected_at", json_integer(t->last_collected_at));
    (void)json_object_set_new(o, "newest_id", json_integer(has_cur ? cur->newest_id : 0));
    (void)json_object_set_new(o, "oldest_id", json_integer(has_cur ? cur->oldest_id : 0));
    (void)json_object_set_new(o, "backfill_complete", json_boolean(has_cur && cur->complete));
    (void)json_object_set_new(o, "media_policy",
                              t->media_policy ? json_string(t->media_policy) : json_null());
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text != NULL)
        puts(text);
    tgh_free(text); /* json_dumps uses malloc */
    json_decref(o);
}

/* Rows are copied out first: the cursor lookups reuse the store's statement memory. */
struct tracked_list {
    struct store_tracked *rows;
    size_t n;
};

static char *
dup_or_null(const char *s)
{
    return s != NULL ? tgh_strdup(s) : NULL;
}

static int
collect_row(void *arg, const struct store_tracked *t)
{
    struct tracked_list *l = arg;
    struct store_tracked *c;

    l->rows = tgh_realloc(l->rows, (l->n + 1) * sizeof(*l->rows));
    c = &l->rows[l->n++];
    *c = *t;
    c->spec = dup_or_null(t->spec);
    c->account = dup_or_null(t->account);
    c->status = dup_or_null(t->status);
    c->error = dup_or_null(t->error);
    c->type = dup_or_null(t->type);
    c->title = dup_or_null(t->title);
    c->username = dup_or_null(t->username);
    c->media_policy = dup_or_null(t->media_policy);
    return 0;
}

static void
tracked_list_free(struct tracked_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct store_tracked *t = &l->rows[i];

        tgh_free((char *)t->spec);
        tgh_free((char *)t->account);
        tgh_free((char *)t->status);
        tgh_free((char *)t->error);
        tgh_free((char *)t->type);
        tgh_free((char *)t->title);
        tgh_free((char *)t->username);
        tgh_free((char *)t->media_policy);
    }
    tgh_free(l->rows);
}

static int
chats_list(const struct tgh_config *cfg, int argc, char **argv)
{
    struct chats_opts o = { 0 };
    struct tracked_list l = { 0 };
    struct store *st = NULL;
    tgh_err err;
    int rc = parse("list", "js", argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(&cli_cmd_chats, "unexpected argument '%s'", argv[optind]);
    err = cli_store_open(cfg, o.store_url, false, &st);
    if (err == TGH_ENOTFOUND) {
        if (!o.as_json)
            printf("no chats are tracked yet: tgharvest chats add @name\n");
        return cli_finish_output("chats", CLI_EXIT_OK);
    }
    if (err != TGH_OK) {
        cli_error("chats", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    rc = CLI_EXIT_OK;
    if (store_tracked_each(st, collect_row, &l) != TGH_OK) {
        cli_error("chats", "%s", tgh_errmsg());
        rc = CLI_EXIT_FAIL;
    }
    if (!o.as_json && rc == CLI_EXIT_OK)
        printf("%-16s %-10s %-8s %-7s %-10s %10s %10s %-4s %-19s %s\n", "CHAT ID", "TYPE", "STATE",
               "STATUS", "ACCOUNT", "NEWEST", "OLDEST", "FULL", "COLLECTED (UTC)", "SPEC  TITLE");
    for (size_t i = 0; i < l.n && rc == CLI_EXIT_OK; i++) {
        struct store_cursor cur;
        bool has =
            l.rows[i].chat_id != 0 && store_cursor_get(st, l.rows[i].chat_id, 0, &cur) == TGH_OK;

        if (o.as_json)
            print_tracked_json(&l.rows[i], &cur, has);
        else
            print_tracked_text(&l.rows[i], &cur, has);
    }
    tracked_list_free(&l);
    store_close(st);
    return cli_finish_output("chats", rc);
}

static int
chats_add(const struct tgh_config *cfg, int argc, char **argv)
{
    struct chats_opts o = { 0 };
    struct store *st = NULL;
    int rc = parse("add", "aJCTs", argc, argv, &o);
    int status = CLI_EXIT_OK;

    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error(&cli_cmd_chats, "chats add needs a chat (@name, t.me link, -100ID)");
    if (cli_store_open(cfg, o.store_url, true, &st) != TGH_OK) {
        cli_error("chats", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    for (int i = optind; i < argc; i++) {
        int64_t row = 0;
        bool deferred = false;
        struct store_tracked t;

        if (collect_chat_add(cfg, st, argv[i], &o.add, &row, &deferred) != TGH_OK) {
            cli_error("chats", "add %s: %s", argv[i], tgh_errmsg());
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (deferred) {
            printf("added %s (the account is busy: the running collector resolves it)\n", argv[i]);
            continue;
        }
        if (store_tracked_find(st, argv[i], &t) == TGH_OK) {
            printf("added %s: %" PRId64 " %s ", argv[i], t.chat_id, t.type ? t.type : "?");
            cli_put_text(stdout, t.title ? t.title : "");
            if (t.linked_chat_id != 0)
                printf(" (discussion group %" PRId64 "%s)", t.linked_chat_id,
                       t.comments ? ", comments collected" : "");
            if (t.is_forum)
                printf(" (forum%s)", t.topics ? ", per-topic history" : "");
            fputc('\n', stdout);
        }
    }
    store_close(st);
    return cli_finish_output("chats", status);
}

/* remove, enable, disable */
static int
chats_change(const struct tgh_config *cfg, const char *sub, int argc, char **argv)
{
    struct chats_opts o = { 0 };
    struct store *st = NULL;
    int rc = parse(sub, "s", argc, argv, &o);
    int status = CLI_EXIT_OK;

    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error(&cli_cmd_chats, "chats %s needs a chat", sub);
    if (cli_store_open(cfg, o.store_url, false, &st) != TGH_OK) {
        cli_error("chats", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    for (int i = optind; i < argc; i++) {
        struct store_tracked t;
        tgh_err err = store_tracked_find(st, argv[i], &t);

        if (err == TGH_OK && strcmp(sub, "remove") == 0) {
            err = store_tracked_remove(st, t.id);
        } else if (err == TGH_OK) {
            bool enable = strcmp(sub, "enable") == 0;
            /* Enabling again is how a chat in error gets another try. */
            struct store_tracked u = t;

            u.enabled = enable;
            if (enable && strcmp(t.status, "error") == 0) {
                u.status = "new";
                u.error = NULL;
            }
            err = store_tracked_put(st, &u, NULL);
        }
        if (err != TGH_OK) {
            cli_error("chats", "%s %s: %s", sub, argv[i],
                      err == TGH_ENOTFOUND ? "not a tracked chat" : tgh_errmsg());
            status = CLI_EXIT_FAIL;
            continue;
        }
        printf("%s: %s\n",
               strcmp(sub, "remove") == 0   ? "removed"
               : strcmp(sub, "enable") == 0 ? "enabled"
                                            : "disabled",
               argv[i]);
    }
    store_close(st);
    return cli_finish_output("chats", status);
}

/* The global policy of cfg with spec (may be NULL) over it, as a full spec in out. */
static tgh_err
effective_policy(const struct tgh_config *cfg, const char *spec, char *out, size_t cap)
{
    struct media_policy p;
    tgh_err rc = media_policy_init(&p, cfg->media_kinds, cfg->media_max_size, cfg->media_history,
                                   cfg->media_thumbs);

    if (rc == TGH_OK && spec != NULL)
        rc = media_policy_apply(&p, spec);
    if (rc == TGH_OK)
        (void)media_policy_format(&p, out, cap);
    return rc;
}

/* media CHAT [POLICY | --clear]: show, set or clear a chat's own media policy. */
static int
chats_media(const struct tgh_config *cfg, int argc, char **argv)
{
    struct chats_opts o = { 0 };
    struct store *st = NULL;
    struct store_tracked t;
    const char *spec;
    char eff[512], own[1100];
    int rc = parse("media", "sjx", argc, argv, &o);
    tgh_err err;

    if (rc >= 0)
        return rc;
    if (optind >= argc || argc - optind > 2)
        return cli_usage_error(&cli_cmd_chats, "chats media takes a chat and at most one policy");
    spec = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (spec != NULL && o.clear)
        return cli_usage_error(&cli_cmd_chats, "give either a policy or --clear");
    if (spec != NULL && effective_policy(cfg, spec, eff, sizeof(eff)) != TGH_OK)
        return cli_usage_error(&cli_cmd_chats, "%s", tgh_errmsg());
    if (cli_store_open(cfg, o.store_url, false, &st) != TGH_OK) {
        cli_error("chats", "store: %s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    err = store_tracked_find(st, argv[optind], &t);
    if (err == TGH_OK && (spec != NULL || o.clear)) {
        err = store_tracked_set_media_policy(st, t.id, spec);
        t.media_policy = spec;
    }
    if (err != TGH_OK) {
        cli_error("chats", "media %s: %s", argv[optind],
                  err == TGH_ENOTFOUND ? "not a tracked chat" : tgh_errmsg());
        store_close(st);
        return CLI_EXIT_FAIL;
    }
    (void)snprintf(own, sizeof(own), "%s", t.media_policy != NULL ? t.media_policy : "");
    store_close(st);
    if (effective_policy(cfg, own[0] != '\0' ? own : NULL, eff, sizeof(eff)) != TGH_OK) {
        cli_error("chats", "media %s: the stored policy: %s", argv[optind], tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    if (o.as_json) {
        json_t *j = json_pack("{s:s, s:o, s:s}", "chat", argv[optind], "media_policy",
                              own[0] != '\0' ? json_string(own) : json_null(), "effective", eff);
        char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

        if (text != NULL)
            puts(text);
        tgh_free(text); /* json_dumps uses malloc */
        json_decref(j);
    } else {
        printf("%s: %s (%s)\n", argv[optind], eff,
               own[0] != '\0' ? "its own policy over the global one" : "the global policy");
    }
    return cli_finish_output("chats", CLI_EXIT_OK);
}

int
cli_chats_manage(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *sub = argv[1];

    if (strcmp(sub, "add") == 0)
        return chats_add(cfg, argc, argv);
    if (strcmp(sub, "list") == 0)
        return chats_list(cfg, argc, argv);
    if (strcmp(sub, "remove") == 0 || strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0)
        return chats_change(cfg, sub, argc, argv);
    if (strcmp(sub, "media") == 0)
        return chats_media(cfg, argc, argv);
    return cli_usage_error(&cli_cmd_chats, "unknown subcommand '%s'", sub);
}
