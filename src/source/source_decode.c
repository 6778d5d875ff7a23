/* SPDX-License-Identifier: MIT */
/*
 * source_decode.c - the reader behind `decode --from tdlib|botapi`: a file
 * of JSON values (one value, a pretty-printed transcript, or JSON lines)
 * handed one at a time to a source's mapper, with its batches and dead
 * letters.
 *
 * The input is read as a sequence of JSON values separated by whitespace,
 * each parsed by jansson straight from a buffer that holds the value being
 * parsed (at most VALUE_MAX_BYTES) and is emptied between values. A value
 * jansson rejects is a dead letter at its line and byte; reading resumes at
 * the next line that starts with '{' or '[' (the next JSON line, or the next
 * top-level value of a pretty-printed file). Nothing in the input stops the
 * stream; only a read error or the sink does.
 */
#include "source/source_tdlib_int.h"

#include <time.h>

#include "core/alloc.h"
#include "core/codec.h"

#define BATCH_DEFAULT    500
#define PROGRESS_EVERY   4096
#define DEAD_PAYLOAD_MAX (64 * 1024)
#define VALUE_MAX_BYTES  (64 << 20) /* one top-level value: a page of messages is < 1 MiB */
#define READ_BYTES       (64 * 1024)

struct rd {
    FILE *f;
    unsigned char *buf;
    size_t len, cap;
    size_t pos;    /* next byte not yet consumed */
    uint64_t base; /* file offset of buf[0] */
    uint64_t line; /* line of buf[pos], from 1 */
    size_t start;  /* the value being parsed begins at buf[start] */
    size_t fed;    /* bytes handed to jansson end at buf[fed] */
    bool is_eof, is_io_error, is_over;
};

/* ---- reading ---------------------------------------------------------------- */

/* Forget what was consumed; only between values, never while jansson reads. */
static void
rd_compact(struct rd *r)
{
    if (r->pos == 0)
        return;
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->base += r->pos;
    r->len -= r->pos;
    r->pos = 0;
}

/* Append what the file has next; false at its end or on a read error. */
static bool
rd_fill(struct rd *r)
{
    size_t n;

    if (r->is_eof || r->is_io_error)
        return false;
    if (r->cap - r->len < READ_BYTES) {
        r->cap = r->cap == 0 ? 4 * READ_BYTES : 2 * r->cap;
        r->buf = tgh_realloc(r->buf, r->cap);
    }
    n = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
    if (n == 0) {
        if (ferror(r->f))
            r->is_io_error = true;
        else
            r->is_eof = true;
        return false;
    }
    r->len += n;
    return true;
}

/* The next unconsumed byte, -1 at the end of the input. */
static int
rd_peek(struct rd *r)
{
    if (r->pos == r->len) {
        rd_compact(r);
        if (!rd_fill(r))
            return -1;
    }
    return r->buf[r->pos];
}

static void
rd_advance(struct rd *r, size_t to)
{
    for (; r->pos < to; r->pos++)
        r->line += r->buf[r->pos] == '\n';
}

/* Skip whitespace (and a UTF-8 byte order mark at the start); the next byte, or -1. */
static int
rd_skip_space(struct rd *r)
{
    int c;

    while ((c = rd_peek(r)) == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           (c == 0xef && r->base + r->pos == 0)) {
        if (c == 0xef) {
            while (r->len - r->pos < 3 && rd_fill(r))
                ;
            if (r->len - r->pos < 3 || memcmp(r->buf + r->pos, "\xef\xbb\xbf", 3) != 0)
                return c;
            rd_advance(r, r->pos + 3);
            continue;
        }
        rd_advance(r, r->pos + 1);
    }
    return c;
}

/* After a value jansson rejected: on to the next line that starts with '{' or '['. */
static void
rd_resync(struct rd *r)
{
    int c;

    for (;;) {
        unsigned char *nl;

        if (r->pos == r->len && rd_peek(r) < 0)
            return;
        nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        if (nl == NULL) {
            rd_advance(r, r->len);
            continue;
        }
        rd_advance(r, (size_t)(nl - r->buf) + 1);
        if ((c = rd_peek(r)) == '{' || c == '[')
            return;
    }
}

/*
 * jansson's read callback: the buffer as far as it goes, then more of the
 * file, up to the value's cap. jansson reports how far it consumed
 * (json_error_t.position, also on success); the bytes it was given beyond
 * the value are still in buf, so nothing is lost between values.
 */
static size_t
feed(void *out, size_t size, void *arg)
{
    struct rd *r = arg;
    size_t n;

    if (r->fed - r->start >= VALUE_MAX_BYTES) {
        r->is_over = true;
        return (size_t)-1;
    }
    if (r->fed == r->len && !rd_fill(r))
        return r->is_io_error ? (size_t)-1 : 0;
    n = r->len - r->fed;
    if (n > size)
        n = size;
    if (n > VALUE_MAX_BYTES - (r->fed - r->start))
        n = VALUE_MAX_BYTES - (r->fed - r->start);
    memcpy(out, r->buf + r->fed, n);
    r->fed += n;
    return n;
}

/* ---- the sink --------------------------------------------------------------- */

tgh_err
source_dec_flush(struct source_dec *d)
{
    tgh_err rc = TGH_OK;

    if (d->b.n > 0) {
        d->s.events += d->b.n;
        rc = d->sink->batch(d->sink->arg, &d->b);
    }
    msg_batch_reset(&d->b);
    d->batch_bytes = 0;
    return rc;
}

struct dump {
    char *p;
    size_t len;
};

static int
dump_append(const char *s, size_t n, void *arg)
{
    struct dump *dp = arg;

    if (n > DEAD_PAYLOAD_MAX - dp->len)
        n = DEAD_PAYLOAD_MAX - dp->len;
    memcpy(dp->p + dp->len, s, n);
    dp->len += n;
    return dp->len < DEAD_PAYLOAD_MAX ? 0 : -1; /* a longer payload is cut, not failed */
}

/* path: where in the value ("messages[3]"), "" for the value itself. */
static TGH_MUSTCHECK tgh_err
dead_letter(struct source_dec *d, const char *path, const char *reason, const char *payload,
            size_t len)
{
    char pos[192];

    d->s.dead_letters++;
    if (d->sink->dead_letter == NULL)
        return TGH_OK;
    (void)snprintf(pos, sizeof(pos), "%s%s%s", d->pos, *path != '\0' ? ", " : "", path);
    return d->sink->dead_letter(d->sink->arg, pos, reason, payload,
                                len > DEAD_PAYLOAD_MAX ? DEAD_PAYLOAD_MAX : len);
}

tgh_err
source_dec_skipped(struct source_dec *d, const char *path, const char *why)
{
    char pos[192];

    if (d->sink->skipped == NULL)
        return TGH_OK;
    (void)snprintf(pos, sizeof(pos), "%s%s%s", d->pos, *path != '\0' ? ", " : "", path);
    return d->sink->skipped(d->sink->arg, pos, why);
}

tgh_err
source_dec_dead_json(struct source_dec *d, const char *path, const char *reason, const json_t *v)
{
    struct dump dp = { tgh_malloc(DEAD_PAYLOAD_MAX), 0 };
    tgh_err rc;

    if (v != NULL)
        (void)json_dump_callback(v, dump_append, &dp, JSON_COMPACT | JSON_ENCODE_ANY);
    rc = dead_letter(d, path, reason, dp.p, dp.len);
    tgh_free(dp.p);
    return rc;
}

/* ---- mapping ---------------------------------------------------------------- */

tgh_err
source_dec_message(struct source_dec *d, const json_t *msg, const char *path, source_dec_map_fn map)
{
    char why[1024];
    struct msg_event *ev;
    tgh_err rc;

    d->s.messages++;
    if (d->b.n == d->b.cap && (rc = source_dec_flush(d)) != TGH_OK)
        return rc;
    ev = msg_batch_push(&d->b);
    rc = map(msg, d->observed_at, &d->b.arena, ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(ev);
    if (rc == TGH_OK)
        return TGH_OK;
    (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
    msg_batch_pop(&d->b);
    return source_dec_dead_json(d, path, why, msg);
}

tgh_err
source_dec_deletes(struct source_dec *d, const json_t *u, const char *ids_key, const char *path,
                   source_dec_deletes_fn fn)
{
    size_t want = json_array_size(json_object_get(u, ids_key)), n;
    struct msg_batch big, *b = &d->b;
    char why[1024];
    tgh_err rc;

    d->s.messages++;
    if (d->b.cap - d->b.n < want && (rc = source_dec_flush(d)) != TGH_OK)
        return rc;
    if (want > d->b.cap) { /* more deletions than a batch holds: a batch of their own */
        msg_batch_init(&big, want);
        b = &big;
    }
    rc = fn(u, d->observed_at, b, &n);
    if (rc != TGH_OK) {
        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        rc = source_dec_dead_json(d, path, why, u);
    } else if (b == &big && big.n > 0) {
        d->s.events += big.n;
        rc = d->sink->batch(d->sink->arg, &big);
    }
    if (b == &big)
        msg_batch_fini(&big);
    return rc;
}

/*
 * Where to go on after jansson rejected a value at buf[err]: the start of the
 * error's line when that line starts a value (a JSON line cut short, then a
 * good one), else the next line that does.
 */
static void
rd_skip_bad(struct rd *r, size_t err)
{
    for (size_t k = err; k > r->start + 1; k--) {
        if (r->buf[k - 1] == '\n') {
            if (k < r->len && (r->buf[k] == '{' || r->buf[k] == '[')) {
                rd_advance(r, k);
                return;
            }
            break;
        }
    }
    rd_advance(r, err);
    rd_resync(r);
}

static TGH_MUSTCHECK tgh_err
bad_value(struct source_dec *d, struct rd *r, const json_error_t *jerr)
{
    size_t err = r->start + (jerr->position > 0 ? (size_t)jerr->position : 0), end;
    unsigned char *nl;
    char why[320];
    tgh_err rc;

    if (err > r->fed)
        err = r->fed;
    if (r->is_over)
        (void)snprintf(why, sizeof(why), "value longer than %d bytes", VALUE_MAX_BYTES);
    else
        (void)snprintf(why, sizeof(why), "not valid JSON at byte %" PRIu64 ": %s", r->base + err,
                       jerr->text);
    /* The payload runs to the end of the line where jansson gave up. */
    nl = memchr(r->buf + err, '\n', r->fed - err);
    end = nl != NULL ? (size_t)(nl - r->buf) : r->fed;
    rc = dead_letter(d, "", why, (const char *)r->buf + r->start, end - r->start);
    if (r->is_over) {
        rd_advance(r, r->fed);
        rd_resync(r);
    } else {
        rd_skip_bad(r, err);
    }
    return rc;
}

/* Parse the value at the reader and map it; a value jansson rejects is a dead letter. */
static TGH_MUSTCHECK tgh_err
next_value(struct source_dec *d, struct rd *r, const char *name)
{
    json_error_t jerr;
    json_t *v;
    size_t end;
    tgh_err rc;

    rd_compact(r);
    r->start = r->fed = r->pos;
    r->is_over = false;
    (void)snprintf(d->pos, sizeof(d->pos), "line %" PRIu64 " (byte %" PRIu64 ")", r->line,
                   r->base + r->pos);
    v = json_load_callback(feed, r, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL && r->is_io_error)
        return tgh_errf(TGH_EIO, "%s: read error after byte %" PRIu64 ": %s", name,
                        r->base + r->fed, strerror(errno));
    if (v == NULL)
        return bad_value(d, r, &jerr);
    end = r->start + (jerr.position > 0 ? (size_t)jerr.position : 0);
    if (end < r->start + 1 || end > r->fed) /* jansson consumed at least the closing bracket */
        end = r->fed;
    rd_advance(r, end);
    rc = d->value(d, v);
    json_decref(v); /* the events keep the messages they were made from (raw) */
    if (rc == TGH_OK && (d->batch_bytes += end - r->start) >= MSG_BATCH_MAX_SOURCE_BYTES)
        rc = source_dec_flush(d);
    return rc;
}

tgh_err
source_dec_stream(FILE *f, const char *name, const struct source_export_opts *o,
                  const struct source_export_sink *sink, struct source_export_summary *sum,
                  source_dec_value_fn value, void *arg)
{
    struct rd r = { .f = f, .line = 1 };
    struct source_dec d = { .sink = sink, .value = value, .arg = arg };
    uint64_t next_progress = PROGRESS_EVERY;
    tgh_err rc = TGH_OK;

    d.observed_at = o != NULL && o->observed_at > 0 ? o->observed_at : (int64_t)time(NULL);
    msg_batch_init(&d.b, o != NULL && o->batch_size > 0 ? o->batch_size : BATCH_DEFAULT);
    while (rc == TGH_OK && rd_skip_space(&r) >= 0) {
        rc = next_value(&d, &r, name);
        if (rc == TGH_OK && d.s.messages >= next_progress && sink->progress != NULL) {
            sink->progress(sink->arg, r.base + r.pos, d.s.messages);
            next_progress = d.s.messages + PROGRESS_EVERY;
        }
    }
    if (rc == TGH_OK && r.is_io_error)
        rc = tgh_errf(TGH_EIO, "%s: read error after byte %" PRIu64 ": %s", name, r.base + r.pos,
                      strerror(errno));
    if (rc == TGH_OK)
        rc = source_dec_flush(&d);
    if (rc == TGH_OK && sink->progress != NULL)
        sink->progress(sink->arg, r.base + r.pos, d.s.messages);
    msg_batch_fini(&d.b);
    tgh_free(r.buf);
    d.s.bytes = r.base + r.pos;
    if (sum != NULL)
        *sum = d.s;
    return rc;
}
