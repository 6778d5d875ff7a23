/* SPDX-License-Identifier: MIT */
/*
 * source_events.c - JSON lines of schema-v1 events (what `export --format
 * jsonl` and `messages --json` write) back into events: the way to restore
 * an archive from its export, or to load events produced elsewhere.
 *
 * Each line is decoded strictly (codec_event_decode); a line that fails is a
 * dead letter with its line number and the next line goes on. Lines are
 * read with a hard cap, so a file without newlines cannot take the memory.
 * CRLF line ends, a leading BOM and blank lines are accepted.
 */
#include "source/source.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"

#define BATCH_DEFAULT    500
#define PROGRESS_EVERY   4096
#define DEAD_PAYLOAD_MAX (64 * 1024)

struct line {
    char *p;
    size_t len;
    size_t cap;
    bool is_too_long; /* more than MSG_MAX_EVENT_BYTES: only the start is kept */
};

/* Read one line without its newline; false at the end of the file. */
static bool
line_read(FILE *f, struct line *l, uint64_t *bytes)
{
    int c;

    l->len = 0;
    l->is_too_long = false;
    while ((c = getc_unlocked(f)) != EOF) { /* the stream is this thread's alone */
        (*bytes)++;
        if (c == '\n')
            return true;
        if (l->len >= MSG_MAX_EVENT_BYTES) {
            l->is_too_long = true;
            continue;
        }
        if (l->len + 1 >= l->cap) {
            l->cap = l->cap ? 2 * l->cap : 4096;
            l->p = tgh_realloc(l->p, l->cap);
        }
        l->p[l->len++] = (char)c;
    }
    return l->len > 0 || l->is_too_long;
}

/* Drop what editors and other tools add: a UTF-8 BOM (first line), CR of CRLF. */
static void
line_trim(struct line *l, bool is_first)
{
    if (is_first && l->len >= 3 && memcmp(l->p, "\xef\xbb\xbf", 3) == 0) {
        memmove(l->p, l->p + 3, l->len - 3);
        l->len -= 3;
    }
    if (l->len > 0 && l->p[l->len - 1] == '\r')
        l->len--;
}

static bool
line_is_blank(const struct line *l)
{
    for (size_t i = 0; i < l->len; i++)
        if (l->p[i] != ' ' && l->p[i] != '\t')
            return false;
    return !l->is_too_long;
}

static tgh_err
flush(const struct source_export_sink *sink, struct msg_batch *b, struct source_export_summary *s)
{
    tgh_err rc = TGH_OK;

    if (b->n > 0) {
        s->events += b->n;
        rc = sink->batch(sink->arg, b);
    }
    msg_batch_reset(b);
    return rc;
}

static tgh_err
dead_letter(const struct source_export_sink *sink, uint64_t lineno, const char *reason,
            const struct line *l, struct source_export_summary *s)
{
    char pos[64];

    s->dead_letters++;
    if (sink->dead_letter == NULL)
        return TGH_OK;
    (void)snprintf(pos, sizeof(pos), "line %" PRIu64, lineno);
    return sink->dead_letter(sink->arg, pos, reason, l->p != NULL ? l->p : "",
                             l->len > DEAD_PAYLOAD_MAX ? DEAD_PAYLOAD_MAX : l->len);
}

tgh_err
source_events_import_stream(FILE *f, const char *name, const struct source_export_opts *o,
                            const struct source_export_sink *sink,
                            struct source_export_summary *sum)
{
    struct source_export_summary s = { 0 };
    size_t batch_size = o != NULL && o->batch_size > 0 ? o->batch_size : BATCH_DEFAULT;
    struct line l = { NULL, 0, 0, false };
    struct msg_batch b;
    uint64_t lineno = 0;
    size_t batch_bytes = 0; /* source bytes of the events in b */
    tgh_err rc = TGH_OK;

    msg_batch_init(&b, batch_size);
    while (line_read(f, &l, &s.bytes)) {
        struct msg_event *ev;
        char why[1024];

        lineno++;
        line_trim(&l, lineno == 1);
        if (line_is_blank(&l))
            continue;
        s.messages++;
        if (l.is_too_long) {
            (void)snprintf(why, sizeof(why), "event longer than %d bytes", MSG_MAX_EVENT_BYTES);
            rc = dead_letter(sink, lineno, why, &l, &s);
        } else {
            ev = msg_batch_push(&b);
            rc = codec_event_decode(l.p, l.len, &b.arena, ev);
            if (rc != TGH_OK) {
                (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
                msg_batch_pop(&b);
                rc = dead_letter(sink, lineno, why, &l, &s);
            } else if (b.n >= batch_size || (batch_bytes += l.len) >= MSG_BATCH_MAX_SOURCE_BYTES) {
                rc = flush(sink, &b, &s);
                batch_bytes = 0;
            }
        }
        if (rc != TGH_OK)
            goto out;
        if (s.messages % PROGRESS_EVERY == 0 && sink->progress != NULL)
            sink->progress(sink->arg, s.bytes, s.messages);
    }
    if (ferror(f)) {
        rc = tgh_errf(TGH_EIO, "%s: read error after line %" PRIu64 ": %s", name, lineno,
                      strerror(errno));
        goto out;
    }
    rc = flush(sink, &b, &s);
    if (rc == TGH_OK && sink->progress != NULL)
        sink->progress(sink->arg, s.bytes, s.messages);
out:
    msg_batch_fini(&b);
    tgh_free(l.p);
    if (sum != NULL)
        *sum = s;
    return rc;
}

tgh_err
source_events_import_file(const char *path, const struct source_export_opts *o,
                          const struct source_export_sink *sink, struct source_export_summary *sum)
{
    FILE *f = fopen(path, "rb");
    tgh_err rc;

    if (f == NULL)
        return tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
    rc = source_events_import_stream(f, path, o, sink, sum);
    (void)fclose(f);
    return rc;
}
