/* SPDX-License-Identifier: MIT */
/*
 * cli.c - helpers shared by the subcommands.
 */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/time.h"
#include "store/store.h"

/*
 * Length of a UTF-8 encoded control a terminal may act on: C1 controls
 * (U+0080..U+009F, CSI and OSC among them) and the bidirectional overrides
 * and isolates (U+202A..U+202E, U+2066..U+2069). 0 for anything else.
 */
static size_t
utf8_control_len(const unsigned char *c)
{
    if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)
        return 2;
    if (c[0] == 0xe2 && c[1] == 0x80 && c[2] >= 0xaa && c[2] <= 0xae)
        return 3;
    if (c[0] == 0xe2 && c[1] == 0x81 && c[2] >= 0xa6 && c[2] <= 0xa9)
        return 3;
    return 0;
}

/* Escape control characters; keep every other byte (UTF-8 included). */
static void
put_escaped(FILE *out, const char *s, const char *newline)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        size_t n;

        if (*c == '\n' && newline != NULL) {
            (void)fputs(newline, out);
        } else if (*c < 0x20 || *c == 0x7f) {
            (void)fprintf(out, "\\x%02x", *c);
        } else if ((n = utf8_control_len(c)) > 0) {
            for (size_t i = 0; i < n; i++)
                (void)fprintf(out, "\\x%02x", c[i]);
            c += n - 1;
        } else {
            (void)fputc(*c, out);
        }
    }
}

void
cli_put_text(FILE *out, const char *s)
{
    if (s != NULL)
        put_escaped(out, s, " \xe2\x8f\x8e ");
}

void
cli_error(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, "tgharvest %s: ", cmd);
    put_escaped(stderr, msg, NULL); /* a file name with a newline stays one line */
    (void)fputc('\n', stderr);
}

int
cli_help(const struct cli_cmd *cmd)
{
    fputs(cmd->usage, stdout);
    return CLI_EXIT_OK;
}

int
cli_finish_output(const char *cmd, int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(cmd, "writing the output failed: %s", strerror(errno));
        return CLI_EXIT_FAIL;
    }
    return rc;
}

json_t *
cli_summary_new(tgh_err rc)
{
    json_t *o = json_object();

    (void)json_object_set_new(o, "status", json_string(rc == TGH_OK ? "ok" : "failed"));
    return o;
}

int
cli_summary_print(const char *cmd, json_t *summary, bool ok)
{
    (void)json_dumpf(summary, stdout, JSON_COMPACT);
    (void)fputc('\n', stdout);
    json_decref(summary);
    return cli_finish_output(cmd, ok ? CLI_EXIT_OK : CLI_EXIT_FAIL);
}

int
cli_bad_option(const struct cli_cmd *cmd, char **argv)
{
    /* In a cluster like -xq, argv[optind - 1] is not the offending option: optopt is. */
    if (optopt != 0)
        return cli_usage_error(cmd, "unknown option or missing value: -%c", optopt);
    return cli_usage_error(cmd, "unknown option or missing value in '%s'", argv[optind - 1]);
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    (void)fprintf(stderr, "tgharvest %s: ", cmd->name);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fprintf(stderr, " (see tgharvest %s --help)\n", cmd->name);
    return CLI_EXIT_USAGE;
}

tgh_err
cli_store_open(const struct tgh_config *cfg, const char *url, bool create, struct store **out)
{
    const char *u = url != NULL ? url : cfg->store_url;

    return create ? store_open(u, out) : store_open_existing(u, out);
}

tgh_err
cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return tgh_int_parse(s, min, max, out);
}

tgh_err
cli_parse_date(const char *s, int64_t *out)
{
    return tgh_time_parse(s, out);
}

struct chat_lookup {
    const char *name;
    int64_t id; /* 0: match by name */
    int64_t found;
    int matches;
};

static int
chat_match(void *arg, const struct store_chat_row *row)
{
    struct chat_lookup *l = arg;
    const char *name = l->name[0] == '@' ? l->name + 1 : l->name;

    if (l->id != 0) {
        if (row->chat_id == l->id) {
            l->found = row->chat_id;
            l->matches = 1;
            return 1;
        }
        return 0;
    }
    if ((row->username != NULL && strcasecmp(row->username, name) == 0) ||
        (row->title != NULL && strcmp(row->title, l->name) == 0)) {
        l->found = row->chat_id;
        l->matches++;
    }
    return 0;
}

tgh_err
cli_parse_chat(struct store *st, const char *s, int64_t *out)
{
    struct chat_lookup l = { s, 0, 0, 0 };
    tgh_err rc;

    if (cli_parse_int(s, INT64_MIN + 1, INT64_MAX, &l.id) == TGH_OK && l.id == 0)
        return tgh_errf(TGH_ENOTFOUND, "chat id 0 does not exist");
    rc = store_chats_each(st, chat_match, &l);
    if (rc != TGH_OK)
        return rc;
    if (l.matches == 0)
        return tgh_errf(TGH_ENOTFOUND, "no chat with id, username or title '%s'", s);
    if (l.matches > 1)
        return tgh_errf(TGH_EINVAL, "%d chats match '%s'; use the chat id", l.matches, s);
    *out = l.found;
    return TGH_OK;
}

const char *
cli_fmt_time(int64_t t, char *buf, size_t bufsize)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0 || t == INT64_MIN || gmtime_r(&tt, &tm) == NULL) {
        (void)snprintf(buf, bufsize, "-");
        return buf;
    }
    (void)strftime(buf, bufsize, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* Make a rename durable: fsync the directory that holds path. */
static int
sync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int fd, rc;

    if (slash == NULL)
        (void)snprintf(dir, sizeof(dir), ".");
    else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + 1), path) >=
             sizeof(dir))
        return -1;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    rc = fsync(fd);
    (void)close(fd);
    return rc;
}

tgh_err
cli_atomic_open(const char *path, char *tmp, size_t tmpsize, FILE **out)
{
    int fd;

    *out = NULL;
    if ((size_t)snprintf(tmp, tmpsize, "%s.XXXXXX", path) >= tmpsize)
        return tgh_errf(TGH_EINVAL, "output path too long");
    fd = mkstemp(tmp);
    if (fd == -1 || (*out = fdopen(fd, "wb")) == NULL) {
        tgh_err rc = tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));

        if (fd != -1) {
            (void)close(fd);
            (void)unlink(tmp);
        }
        return rc;
    }
    return TGH_OK;
}

tgh_err
cli_atomic_commit(FILE *f, const char *tmp, const char *path)
{
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        tgh_err rc = tgh_errf(TGH_EIO, "writing %s failed: %s", tmp, strerror(errno));

        cli_atomic_abort(f, tmp);
        return rc;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0 || sync_dir_of(path) != 0) {
        tgh_err rc = tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));

        (void)unlink(tmp);
        return rc;
    }
    return TGH_OK;
}

void
cli_atomic_abort(FILE *f, const char *tmp)
{
    if (f != NULL)
        (void)fclose(f);
    (void)unlink(tmp);
}
