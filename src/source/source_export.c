/* SPDX-License-Identifier: MIT */
/*
 * source_export.c - streaming import of a Telegram Desktop export.
 *
 * A small structural walker (whitespace , : { } [ ]) moves through the root,
 * the chat lists and each messages array; every key and every value is parsed
 * by jansson, which reports how many bytes it consumed, so that exactly the
 * bytes of one value are taken from the reader. Only one message object and
 * one batch are in memory at a time. Design and limits: docs/internals/export.md.
 */
#include "source/source.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/util.h"
#include "source/source_int.h"

#define RD_BUF_BYTES     (64 * 1024)
#define VALUE_MAX_BYTES  (4 * 1024 * 1024) /* one message object, key or skipped value */
#define DEAD_PAYLOAD_MAX (64 * 1024)       /* payload kept of an oversized message */
#define BATCH_DEFAULT    500
#define BATCH_MAX        100000
#define PROGRESS_EVERY   4096
#define SKIP_STACK       4096 /* bracket kinds remembered when skipping a broken value */

/* Buffered reader over the FILE, with the text of the value being parsed. */
struct rd {
    FILE *f;
    const char *name;
    unsigned char *buf;
    size_t pos, len;
    uint64_t base; /* file offset of buf[0] */
    bool is_eof;
    bool is_io_error;
    /* the current jansson load */
    size_t fed, limit;
    size_t last_chunk; /* bytes of the last callback, all still in buf */
    bool is_over;
    bool is_bad_json; /* jansson rejected the bytes (not end of file, not over the limit) */
    json_error_t jerr;
    bool is_cut; /* rd_skip_value() did not keep the whole value in text */
    char *text;  /* every byte fed, minus what jansson gave back */
    size_t text_len, text_cap;
};

struct imp {
    size_t batch_bytes; /* source bytes of the events in b */
    struct rd rd;
    const struct source_export_sink *sink;
    struct source_export_summary sum;
    struct msg_batch b;
    size_t batch_size;
    int64_t observed_at;
    bool is_local_tz;
    bool has_lists;     /* the root had "chats" or "left_chats" */
    int64_t next_index; /* of the next chat to begin */
};

struct chat {
    struct source_export_chat pub;
    char path[48]; /* "chats.list[2]." or "" for a single-chat export */
    char *title, *type;
    bool has_id, has_keys, is_begun;
    int64_t bare_id;
    tgh_err status; /* the chat failed without failing the file */
    char reason[256];
    int64_t last_date; /* of the last message imported, for "unsupported" ones */
};

typedef tgh_err (*member_fn)(struct imp *im, void *ctx, const char *key);
typedef tgh_err (*elem_fn)(struct imp *im, void *ctx, size_t index);

static uint64_t
rd_offset(const struct rd *r)
{
    return r->base + r->pos;
}

static bool
rd_fill(struct rd *r)
{
    size_t n;
    int c;

    if (r->is_eof || r->is_io_error)
        return false;
    /*
     * At the end of the stream keep the buffer as it is: bytes handed to
     * jansson past a value are given back into it (rd_load), and jansson asks
     * for more before it reports a scalar that ends the file.
     */
    if ((c = getc(r->f)) == EOF) {
        if (ferror(r->f))
            r->is_io_error = true;
        else
            r->is_eof = true;
        return false;
    }
    (void)ungetc(c, r->f);
    r->base += r->len;
    r->pos = r->len = 0;
    n = fread(r->buf, 1, RD_BUF_BYTES, r->f);
    if (n == 0) {
        if (ferror(r->f))
            r->is_io_error = true;
        else
            r->is_eof = true;
        return false;
    }
    r->len = n;
    return true;
}

static int
rd_get(struct rd *r)
{
    if (r->pos == r->len && !rd_fill(r))
        return -1;
    return r->buf[r->pos++];
}

/* The error for a byte that is not there: read failure or end of file. */
static tgh_err
rd_eof_error(const struct rd *r, const char *what)
{
    if (r->is_io_error)
        return tgh_errf(TGH_EIO, "%s: read error at byte %" PRIu64, r->name, rd_offset(r));
    return tgh_errf(TGH_EPROTO, "%s: truncated: end of file at byte %" PRIu64 " inside %s", r->name,
                    rd_offset(r), what);
}

/* The next byte that is not JSON whitespace, left unread; -1 at the end. */
static int
rd_peek(struct rd *r)
{
    for (;;) {
        int c = rd_get(r);

        if (c < 0)
            return -1;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            r->pos--;
            return c;
        }
    }
}

/* Append to the text of the current value; its size is bounded by the callers' caps. */
static void
text_put(struct rd *r, const unsigned char *p, size_t n)
{
    if (r->text_len + n > r->text_cap) {
        while (r->text_len + n > r->text_cap)
            r->text_cap = r->text_cap ? r->text_cap * 2 : 4096;
        r->text = tgh_realloc(r->text, r->text_cap);
    }
    memcpy(r->text + r->text_len, p, n);
    r->text_len += n;
}

/*
 * jansson's read callback: hand it what the buffer holds, up to the value's
 * limit. jansson reports how many bytes it consumed (json_error_t.position,
 * also on success), so whatever it was given beyond the value is given back
 * by rd_load(); it always lies inside the last chunk, which is still in buf.
 */
static size_t
feed(void *buffer, size_t buflen, void *arg)
{
    struct rd *r = arg;
    size_t n;

    if (r->fed >= r->limit) {
        r->is_over = true;
        return (size_t)-1;
    }
    if (r->pos == r->len && !rd_fill(r))
        return r->is_io_error ? (size_t)-1 : 0;
    n = r->len - r->pos;
    if (n > buflen)
        n = buflen;
    if (n > r->limit - r->fed)
        n = r->limit - r->fed;
    memcpy(buffer, r->buf + r->pos, n);
    text_put(r, r->buf + r->pos, n);
    r->pos += n;
    r->fed += n;
    r->last_chunk = n;
    return n;
}

/*
 * Parse the value starting at the reader with jansson (flags: JSON_* decoding
 * flags besides the ones every load uses). TGH_ETOOBIG when it is longer than
 * limit bytes: then r->text holds its first limit bytes and the rest is
 * unread (rd_skip_value). Any other failure is TGH_EPROTO or TGH_EIO; when
 * jansson rejected the bytes themselves, r->is_bad_json is set, r->jerr says
 * why and r->text holds every byte fed (see load_value).
 */
static TGH_MUSTCHECK tgh_err
rd_load(struct rd *r, size_t limit, size_t flags, const char *what, json_t **out)
{
    uint64_t start = rd_offset(r);
    size_t back;

    r->fed = 0;
    r->last_chunk = 0;
    r->limit = limit;
    r->is_over = false;
    r->is_bad_json = false;
    r->text_len = 0;
    *out = json_load_callback(feed, r, flags | JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &r->jerr);
    if (*out == NULL) {
        if (r->is_over)
            return TGH_ETOOBIG;
        if (r->is_io_error || r->is_eof)
            return rd_eof_error(r, what);
        r->is_bad_json = true;
        return tgh_errf(TGH_EPROTO, "%s: not valid JSON at byte %" PRIu64 " in %s: %s", r->name,
                        start + (uint64_t)r->jerr.position, what, r->jerr.text);
    }
    /* What jansson was given past the value (at least a scalar's lookahead) is ours again. */
    back = r->fed - (size_t)r->jerr.position;
    if (r->jerr.position < 0 || back > r->last_chunk) {
        json_decref(*out);
        *out = NULL;
        return tgh_errf(TGH_EPROTO, "%s: not valid JSON after byte %" PRIu64, r->name, start);
    }
    r->pos -= back;
    r->text_len -= back;
    return TGH_OK;
}

static bool
is_delim(int c)
{
    return c == ',' || c == ']' || c == '}' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Where a byte leaves a scan of JSON text: inside a string or not, and just
 * after a backslash in one. Returns true when the byte was part of a string
 * (its quotes included), so the caller looks at structure only otherwise.
 */
struct strscan {
    bool in_str;
    bool esc;
};

static bool
strscan_step(struct strscan *st, unsigned char c)
{
    if (st->in_str) {
        if (st->esc)
            st->esc = false;
        else if (c == '\\')
            st->esc = true;
        else if (c == '"')
            st->in_str = false;
        return true;
    }
    if (c == '"') {
        st->in_str = true;
        return true;
    }
    return false;
}

/*
 * For a value jansson did not return (over the cap, or rejected): find its
 * end by its delimiters only (quotes, backslash escapes, brackets; a bare
 * token ends before ',', ']', '}' or whitespace), starting with the bytes
 * already fed (r->text) and going on in the stream. Bytes fed past the end
 * are given back to the reader, so the walker resumes right after the value.
 * r->text is left holding the value's text, or its first keep bytes
 * (r->is_cut). A value that does not end before the end of the file is a
 * file error: nothing after it can be delimited.
 */
static TGH_MUSTCHECK tgh_err
rd_skip_value(struct rd *r, const char *what, size_t keep)
{
    size_t fed = r->text_len, i = 0, end, back;
    struct strscan st = { false, false };
    bool is_bare = false;
    long depth = 0;
    /*
     * Which brackets are open, so that a mismatched closer ([1,2} in a broken
     * message) ends the value at its own opener instead of swallowing the
     * rest of the array. Deeper than the stack, only the depth is counted.
     */
    char open[SKIP_STACK];

    r->is_cut = false;
    for (;;) {
        unsigned char c;
        int got;

        if (i < fed) {
            c = (unsigned char)r->text[i];
        } else {
            if ((got = rd_get(r)) < 0)
                return rd_eof_error(r, what);
            c = (unsigned char)got;
            if (r->text_len < keep)
                text_put(r, &c, 1);
            else
                r->is_cut = true;
        }
        if (i++ == 0)
            is_bare = c != '{' && c != '[' && c != '"';
        if (is_bare) {
            if (is_delim(c)) {
                end = i - 1;
                break;
            }
            continue;
        }
        if (strscan_step(&st, c)) {
            /* inside a string: brackets there are text */
        } else if (c == '{' || c == '[') {
            if (depth < SKIP_STACK)
                open[depth] = (char)c;
            depth++;
        } else if (c == '}' || c == ']') {
            char want = c == '}' ? '{' : '[';
            long k = depth - 1;

            if (depth > SKIP_STACK) {
                depth--;
            } else {
                while (k >= 0 && open[k] != want)
                    k--;
                if (k < 0) {
                    /* Closes nothing of this value: the value ended just before it. */
                    end = i - 1;
                    break;
                }
                depth = k; /* unclosed inner brackets are dropped with it */
            }
        }
        if (!st.in_str && depth <= 0) {
            end = i;
            break;
        }
    }
    if (end < fed) {
        /* Only the last chunk is still in the buffer; jansson stops inside it. */
        back = fed - end;
        if (back > r->last_chunk)
            return tgh_errf(TGH_EPROTO, "%s: cannot find the end of %s", r->name, what);
        r->pos -= back;
    } else if (end < i) {
        r->pos--; /* the bare token's delimiter, just read from the stream */
    }
    if (r->text_len > end)
        r->text_len = end;
    if (end == 0)
        return tgh_errf(TGH_EPROTO, "%s: expected a value at byte %" PRIu64 " in %s", r->name,
                        rd_offset(r), what);
    return TGH_OK;
}

static bool
is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * Telegram Desktop writes a control character inside a string as "\xHH"
 * (SerializeString in export_output_json.cpp), which JSON does not have.
 * Returns a copy of text with every such escape written "\u00HH" (*n is its
 * length), or NULL when there is none. Only real escapes count: inside a
 * string, an 'x' after an odd number of backslashes.
 */
static char *
desktop_escapes_fixed(const char *text, size_t len, size_t *n)
{
    struct strscan st = { false, false };
    char *out = NULL;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (st.esc && c == 'x' && i + 2 < len && is_hex((unsigned char)text[i + 1]) &&
            is_hex((unsigned char)text[i + 2])) {
            if (out == NULL) {
                out = tgh_malloc(len + len / 2 + 1); /* "\xHH" grows by half at most */
                memcpy(out, text, i);
                o = i;
            }
            memcpy(out + o, "u00", 3);
            o += 3;
            st.esc = false;
            continue;
        }
        (void)strscan_step(&st, c);
        if (out != NULL)
            out[o++] = (char)c;
    }
    *n = o;
    return out;
}

/*
 * Load a value that may be given up without failing the file: TGH_OK with
 * *out; TGH_ETOOBIG when it is over the cap, or TGH_EINVAL (reason in
 * tgh_errmsg()) when jansson rejects it: then it has been skipped and r->text
 * holds its text (its first VALUE_MAX_BYTES, r->is_cut). A rejected value is
 * parsed once more with Desktop's "\xHH" escapes read as "\u00HH"; when that
 * succeeds it is returned as any other (r->text keeps the bytes as written).
 * Anything else is a file error.
 */
static TGH_MUSTCHECK tgh_err
load_value(struct rd *r, const char *what, size_t flags, json_t **out)
{
    uint64_t start = rd_offset(r);
    char reason[320];
    json_error_t jerr;
    char *fixed = NULL;
    size_t n = 0;
    tgh_err rc = rd_load(r, VALUE_MAX_BYTES, flags, what, out);

    if (rc == TGH_ETOOBIG)
        return (rc = rd_skip_value(r, what, VALUE_MAX_BYTES)) != TGH_OK ? rc : TGH_ETOOBIG;
    if (rc == TGH_OK || !r->is_bad_json)
        return rc;
    (void)snprintf(reason, sizeof(reason), "not valid JSON at byte %" PRIu64 ": %s",
                   start + (uint64_t)r->jerr.position, r->jerr.text);
    if ((rc = rd_skip_value(r, what, VALUE_MAX_BYTES)) != TGH_OK)
        return rc;
    if (!r->is_cut)
        fixed = desktop_escapes_fixed(r->text, r->text_len, &n);
    if (fixed != NULL) {
        *out = json_loadb(fixed, n, flags | JSON_DECODE_ANY, &jerr);
        tgh_free(fixed);
        if (*out != NULL)
            return TGH_OK;
        (void)snprintf(reason, sizeof(reason),
                       "not valid JSON (with Desktop's \\xHH escapes read as \\u00HH): %s",
                       jerr.text);
    }
    return tgh_errf(TGH_EINVAL, "%s", reason);
}

static TGH_MUSTCHECK tgh_err
expect(struct rd *r, int want, const char *what)
{
    int c = rd_peek(r);

    if (c < 0)
        return rd_eof_error(r, what);
    if (c != want)
        return tgh_errf(TGH_EPROTO, "%s: expected '%c' at byte %" PRIu64 " in %s, found '%c'",
                        r->name, want, rd_offset(r), what, c);
    r->pos++;
    return TGH_OK;
}

/* After a member or element: ',' continues (true), the closing byte ends. */
static TGH_MUSTCHECK tgh_err
next_item(struct rd *r, int close, const char *what, bool *more)
{
    int c = rd_peek(r);

    if (c < 0)
        return rd_eof_error(r, what);
    if (c != ',' && c != close)
        return tgh_errf(TGH_EPROTO, "%s: expected ',' or '%c' at byte %" PRIu64 " in %s", r->name,
                        close, rd_offset(r), what);
    r->pos++;
    *more = c == ',';
    return TGH_OK;
}

/*
 * Parse one value with jansson and forget it; one that is huge or that jansson
 * rejects is skipped by its delimiters: it would be dropped anyway.
 */
static TGH_MUSTCHECK tgh_err
drop_value(struct imp *im, const char *what)
{
    json_t *v = NULL;
    tgh_err rc = load_value(&im->rd, what, 0, &v);

    json_decref(v);
    return rc == TGH_ETOOBIG || rc == TGH_EINVAL ? TGH_OK : rc;
}

static TGH_MUSTCHECK tgh_err
walk_object(struct imp *im, const char *what, member_fn fn, void *ctx)
{
    bool more = true;
    tgh_err rc;

    if ((rc = expect(&im->rd, '{', what)) != TGH_OK)
        return rc;
    if (rd_peek(&im->rd) == '}') {
        im->rd.pos++;
        return TGH_OK;
    }
    while (more) {
        json_t *key = NULL;

        if (rd_peek(&im->rd) != '"')
            return rd_peek(&im->rd) < 0
                       ? rd_eof_error(&im->rd, what)
                       : tgh_errf(TGH_EPROTO, "%s: expected a key at byte %" PRIu64 " in %s",
                                  im->rd.name, rd_offset(&im->rd), what);
        if ((rc = rd_load(&im->rd, VALUE_MAX_BYTES, 0, what, &key)) != TGH_OK)
            return rc == TGH_ETOOBIG ? tgh_errf(rc, "%s: key over %d bytes in %s", im->rd.name,
                                                VALUE_MAX_BYTES, what)
                                     : rc;
        if ((rc = expect(&im->rd, ':', what)) == TGH_OK && rd_peek(&im->rd) < 0)
            rc = rd_eof_error(&im->rd, what);
        if (rc == TGH_OK)
            rc = fn(im, ctx, json_string_value(key));
        json_decref(key);
        if (rc != TGH_OK || (rc = next_item(&im->rd, '}', what, &more)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
walk_array(struct imp *im, const char *what, elem_fn fn, void *ctx)
{
    bool more = true;
    tgh_err rc;

    if ((rc = expect(&im->rd, '[', what)) != TGH_OK)
        return rc;
    if (rd_peek(&im->rd) == ']') {
        im->rd.pos++;
        return TGH_OK;
    }
    for (size_t i = 0; more; i++) {
        if (rd_peek(&im->rd) < 0)
            return rd_eof_error(&im->rd, what);
        if ((rc = fn(im, ctx, i)) != TGH_OK ||
            (rc = next_item(&im->rd, ']', what, &more)) != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

/* Hand the batch to the sink; it is reset whatever the outcome. */
static TGH_MUSTCHECK tgh_err
flush(struct imp *im)
{
    tgh_err rc = TGH_OK;

    if (im->b.n > 0) {
        im->sum.events += im->b.n;
        rc = im->sink->batch(im->sink->arg, &im->b);
    }
    msg_batch_reset(&im->b);
    im->batch_bytes = 0;
    return rc;
}

static TGH_MUSTCHECK tgh_err
dead_letter(struct imp *im, const char *position, const char *reason, const char *payload,
            size_t len)
{
    char why[1024];

    /* The sink may record errors of its own: keep our reason stable. */
    (void)snprintf(why, sizeof(why), "%s", reason);
    im->sum.dead_letters++;
    if (im->sink->dead_letter == NULL)
        return TGH_OK;
    return im->sink->dead_letter(im->sink->arg, position, why, payload, len);
}

static enum msg_chat_type
chat_type_of(const char *s)
{
    static const struct {
        const char *name;
        enum msg_chat_type type;
    } types[] = {
        { "personal_chat", MSG_CHAT_PRIVATE },         { "bot_chat", MSG_CHAT_BOT },
        { "saved_messages", MSG_CHAT_SAVED },          { "replies", MSG_CHAT_SAVED },
        { "verification_codes", MSG_CHAT_SAVED },      { "private_group", MSG_CHAT_GROUP },
        { "private_supergroup", MSG_CHAT_SUPERGROUP }, { "public_supergroup", MSG_CHAT_SUPERGROUP },
        { "private_channel", MSG_CHAT_CHANNEL },       { "public_channel", MSG_CHAT_CHANNEL },
    };

    for (size_t i = 0; s != NULL && i < TGH_NELEM(types); i++) {
        if (strcmp(s, types[i].name) == 0)
            return types[i].type;
    }
    return MSG_CHAT_UNKNOWN;
}

static TGH_MUSTCHECK tgh_err
chat_begin(struct imp *im, struct chat *ch)
{
    ch->pub.type = chat_type_of(ch->type);
    /* An unknown type keeps the bare id: guessing a prefix could merge two chats. */
    ch->pub.chat_id = msg_chat_id_from_bare(ch->pub.type, ch->bare_id);
    if (ch->pub.chat_id == 0 && ch->status == TGH_OK) {
        /* No chat to put its messages in: fail the chat, not the file (source.h). */
        ch->status = TGH_EPROTO;
        (void)snprintf(ch->reason, sizeof(ch->reason),
                       "%s: %sid %" PRId64 " is out of range for a chat of type %s: chat not "
                       "imported",
                       im->rd.name, ch->path, ch->bare_id, ch->type != NULL ? ch->type : "null");
    }
    ch->pub.export_type = ch->type;
    ch->pub.title = ch->title;
    ch->pub.index = im->next_index++;
    ch->is_begun = true;
    im->sum.chats++;
    if (im->sink->chat_begin == NULL)
        return TGH_OK;
    return im->sink->chat_begin(im->sink->arg, &ch->pub);
}

static TGH_MUSTCHECK tgh_err
message_elem(struct imp *im, void *ctx, size_t index)
{
    struct chat *ch = ctx;
    struct source_export_msg_ctx mc = {
        .chat_id = ch->pub.chat_id,
        .chat_type = ch->pub.type,
        .chat_title = ch->title,
        .observed_at = im->observed_at,
        .is_local_tz = im->is_local_tz,
        .prev_date = ch->last_date,
    };
    char pos[128];
    json_t *obj = NULL;
    struct msg_event *ev;
    tgh_err rc;

    (void)snprintf(pos, sizeof(pos), "%smessages[%zu] at byte %" PRIu64, ch->path, index,
                   rd_offset(&im->rd));
    /* Desktop never repeats a key: jansson would silently keep the last one. */
    rc = load_value(&im->rd, pos, JSON_REJECT_DUPLICATES, &obj);
    if (rc == TGH_ETOOBIG || rc == TGH_EINVAL) {
        /* One bad element is that message's problem, not the file's. */
        im->sum.messages++;
        return dead_letter(im, pos,
                           rc == TGH_ETOOBIG
                               ? "message object over 4 MiB, skipped (payload truncated)"
                               : tgh_errmsg(),
                           im->rd.text,
                           im->rd.is_cut && im->rd.text_len > DEAD_PAYLOAD_MAX ? DEAD_PAYLOAD_MAX
                                                                               : im->rd.text_len);
    }
    if (rc != TGH_OK)
        return rc;
    if (++im->sum.messages % PROGRESS_EVERY == 0 && im->sink->progress != NULL)
        im->sink->progress(im->sink->arg, rd_offset(&im->rd), im->sum.messages);
    ev = msg_batch_push(&im->b); /* never full: flushed as soon as it fills */
    rc = source_export_msg_fill(&mc, obj, &im->b.arena, ev);
    if (rc == TGH_OK)
        rc = codec_event_finalize(ev);
    json_decref(obj); /* ev->raw holds its own reference */
    if (rc != TGH_OK) {
        msg_batch_pop(&im->b);
        return dead_letter(im, pos, tgh_errmsg(), im->rd.text, im->rd.text_len);
    }
    ch->last_date = ev->date;
    im->batch_bytes += im->rd.text_len;
    return im->b.n >= im->batch_size || im->batch_bytes >= MSG_BATCH_MAX_SOURCE_BYTES ? flush(im)
                                                                                      : TGH_OK;
}

/* name and type: a string or null (Desktop writes null for an empty name). */
static TGH_MUSTCHECK tgh_err
chat_string(struct imp *im, struct chat *ch, const char *key, char **out)
{
    char what[96];
    json_t *v = NULL;
    tgh_err rc;

    (void)snprintf(what, sizeof(what), "%s%s", ch->path, key);
    rc = load_value(&im->rd, what, 0, &v); /* a name may hold Desktop's \xHH escapes */
    if (rc == TGH_ETOOBIG)
        return tgh_errf(rc, "%s: %s too large", im->rd.name, what);
    if (rc == TGH_EINVAL) {
        char why[400];

        (void)snprintf(why, sizeof(why), "%s", tgh_errmsg());
        return tgh_errf(TGH_EPROTO, "%s: %s: %s", im->rd.name, what, why);
    }
    if (rc != TGH_OK)
        return rc;
    if (!json_is_string(v) && !json_is_null(v)) {
        json_decref(v);
        return tgh_errf(TGH_EPROTO, "%s: %s is not a string", im->rd.name, what);
    }
    tgh_free(*out);
    *out = json_is_string(v) ? tgh_strdup(json_string_value(v)) : NULL;
    json_decref(v);
    return TGH_OK;
}

static TGH_MUSTCHECK tgh_err
chat_member(struct imp *im, void *ctx, const char *key)
{
    struct chat *ch = ctx;
    char what[96];
    json_t *v = NULL;
    tgh_err rc;

    (void)snprintf(what, sizeof(what), "%s%s", ch->path, key);
    if (ch->is_begun && strcmp(key, "messages") != 0)
        return drop_value(im, what); /* Desktop writes nothing after messages */
    if (strcmp(key, "name") == 0) {
        ch->has_keys = true;
        return chat_string(im, ch, key, &ch->title);
    }
    if (strcmp(key, "type") == 0) {
        ch->has_keys = true;
        return chat_string(im, ch, key, &ch->type);
    }
    if (strcmp(key, "id") == 0) {
        ch->has_keys = true;
        if ((rc = rd_load(&im->rd, VALUE_MAX_BYTES, 0, what, &v)) != TGH_OK)
            return rc == TGH_ETOOBIG ? tgh_errf(rc, "%s: %s too large", im->rd.name, what) : rc;
        ch->has_id = json_is_integer(v);
        ch->bare_id = json_integer_value(v);
        json_decref(v);
        if (!ch->has_id)
            return tgh_errf(TGH_EPROTO, "%s: %s is not an integer", im->rd.name, what);
        return TGH_OK;
    }
    if (strcmp(key, "messages") != 0)
        return drop_value(im, what);
    ch->has_keys = true;
    if (!ch->has_id) {
        /* Desktop writes id first; without it the messages have no chat. */
        ch->status = TGH_EPROTO;
        (void)snprintf(ch->reason, sizeof(ch->reason),
                       "%s: %s at byte %" PRIu64
                       " comes before the chat's \"id\": chat not imported",
                       im->rd.name, what, rd_offset(&im->rd));
        return drop_value(im, what);
    }
    if (!ch->is_begun && (rc = chat_begin(im, ch)) != TGH_OK)
        return rc;
    if (ch->status != TGH_OK)
        return drop_value(im, what);
    return walk_array(im, what, message_elem, ch);
}

/*
 * Close a chat whose object was walked with result rc: a chat without
 * messages is begun here; every begun chat gets its chat_end. On failure
 * the batch in flight is dropped, not flushed.
 */
static TGH_MUSTCHECK tgh_err
chat_finish(struct imp *im, struct chat *ch, tgh_err rc)
{
    char why[1024];
    tgh_err status, erc;

    if (rc == TGH_OK && !ch->has_id)
        rc = tgh_errf(TGH_EPROTO, "%s: chat %s(ending at byte %" PRIu64 ") has no \"id\"",
                      im->rd.name, ch->path, rd_offset(&im->rd));
    if (rc == TGH_OK && !ch->is_begun)
        rc = chat_begin(im, ch);
    if (rc == TGH_OK)
        rc = flush(im);
    else
        msg_batch_reset(&im->b);
    im->batch_bytes = 0;
    if (ch->is_begun) {
        status = rc != TGH_OK ? rc : ch->status;
        (void)snprintf(why, sizeof(why), "%s", rc != TGH_OK ? tgh_errmsg() : ch->reason);
        (void)tgh_errf(status, "%s", why);
        erc = im->sink->chat_end != NULL ? im->sink->chat_end(im->sink->arg, &ch->pub, status)
                                         : TGH_OK;
        if (rc != TGH_OK)
            (void)tgh_errf(rc, "%s", why);
        else
            rc = erc;
    }
    tgh_free(ch->title);
    tgh_free(ch->type);
    return rc;
}

static TGH_MUSTCHECK tgh_err
chat_elem(struct imp *im, void *ctx, size_t index)
{
    const char *list = ctx;
    struct chat ch;

    memset(&ch, 0, sizeof(ch));
    ch.last_date = MSG_UNSET;
    (void)snprintf(ch.path, sizeof(ch.path), "%s.list[%zu].", list, index);
    ch.pub.is_left = strcmp(list, "left_chats") == 0;
    return chat_finish(im, &ch, walk_object(im, ch.path, chat_member, &ch));
}

static TGH_MUSTCHECK tgh_err
list_member(struct imp *im, void *ctx, const char *key)
{
    char what[64];

    (void)snprintf(what, sizeof(what), "%s.%s", (const char *)ctx, key);
    if (strcmp(key, "list") == 0)
        return walk_array(im, what, chat_elem, ctx);
    return drop_value(im, what);
}

/* The root: a chat itself (single-chat export) or the account with its lists. */
static TGH_MUSTCHECK tgh_err
root_member(struct imp *im, void *ctx, const char *key)
{
    struct chat *root = ctx;

    if (strcmp(key, "chats") == 0 || strcmp(key, "left_chats") == 0) {
        im->has_lists = true;
        return walk_object(im, key, list_member,
                           (void *)(strcmp(key, "chats") == 0 ? "chats" : "left_chats"));
    }
    return chat_member(im, root, key);
}

static TGH_MUSTCHECK tgh_err
root_import(struct imp *im)
{
    struct chat root;
    json_t *v = NULL;
    tgh_err rc;
    int c;

    memset(&root, 0, sizeof(root));
    root.last_date = MSG_UNSET;
    c = rd_peek(&im->rd);
    if (c < 0)
        return im->rd.is_io_error ? rd_eof_error(&im->rd, "the root")
                                  : tgh_errf(TGH_EPROTO, "%s: empty file", im->rd.name);
    if (c != '{') {
        /* Let jansson say whether this is JSON at all, for a clearer message. */
        rc = rd_load(&im->rd, VALUE_MAX_BYTES, 0, "the root", &v);
        json_decref(v);
        if (rc != TGH_OK && rc != TGH_ETOOBIG)
            return rc;
        return tgh_errf(TGH_EPROTO,
                        "%s: not a Telegram Desktop export: the root is not a JSON object",
                        im->rd.name);
    }
    rc = walk_object(im, "the root", root_member, &root);
    if (rc == TGH_OK && !root.has_keys && !im->has_lists)
        rc =
            tgh_errf(TGH_EPROTO, "%s: not a Telegram Desktop export: no \"messages\" nor \"chats\"",
                     im->rd.name);
    if (root.has_keys) {
        rc = chat_finish(im, &root, rc);
    } else {
        tgh_free(root.title);
        tgh_free(root.type);
    }
    if (rc == TGH_OK && rd_peek(&im->rd) >= 0)
        rc = tgh_errf(TGH_EPROTO, "%s: data after the root object at byte %" PRIu64, im->rd.name,
                      rd_offset(&im->rd));
    if (rc == TGH_OK && im->rd.is_io_error)
        rc = rd_eof_error(&im->rd, "the trailing whitespace");
    return rc;
}

/*
 * A readable file under the zoneinfo directory is not necessarily a zone
 * (zone.tab, iso3166.tab, a directory): glibc would then silently use UTC.
 * Every compiled zone file starts with the magic "TZif" (RFC 8536).
 */
static bool
is_zone_file(const char *path)
{
    unsigned char magic[4];
    FILE *f = fopen(path, "rb");
    bool ok;

    if (f == NULL)
        return false;
    ok = fread(magic, 1, sizeof(magic), f) == sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
    (void)fclose(f); /* read-only */
    return ok;
}

/* "date" strings are local time of the exporting machine: read them in tz. */
static TGH_MUSTCHECK tgh_err
tz_enter(const char *tz, bool *is_local, char **saved, bool *had_saved)
{
    const char *dir = getenv("TZDIR"), *old = getenv("TZ");
    char path[512];

    *is_local = false;
    *saved = NULL;
    *had_saved = false;
    if (tz == NULL || strcmp(tz, "UTC") == 0)
        return TGH_OK;
    if (tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL ||
        (size_t)snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "/usr/share/zoneinfo",
                         tz) >= sizeof(path) ||
        access(path, R_OK) != 0)
        return tgh_errf(TGH_EINVAL,
                        "unknown time zone \"%s\" (want an IANA name like Europe/Berlin)", tz);
    if (!is_zone_file(path))
        return tgh_errf(TGH_EINVAL,
                        "time zone \"%s\": %s is not a zone file (no TZif header); want an "
                        "IANA name like Europe/Berlin",
                        tz, path);
    if (old != NULL) {
        *saved = tgh_strdup(old);
        *had_saved = true;
    }
    if (setenv("TZ", tz, 1) != 0) {
        tgh_free(*saved);
        *saved = NULL;
        return tgh_errf(TGH_EINVAL, "cannot set TZ=%s", tz);
    }
    tzset();
    *is_local = true;
    return TGH_OK;
}

static void
tz_leave(bool is_local, char *saved, bool had_saved)
{
    if (!is_local)
        return;
    if (had_saved)
        (void)setenv("TZ", saved, 1);
    else
        (void)unsetenv("TZ");
    tzset();
    tgh_free(saved);
}

tgh_err
source_export_import_stream(FILE *f, const char *name, const struct source_export_opts *o,
                            const struct source_export_sink *sink,
                            struct source_export_summary *sum)
{
    static const struct source_export_opts defaults = { 0 };
    struct imp im;
    char *saved_tz = NULL;
    bool had_tz = false;
    tgh_err rc;

    if (o == NULL)
        o = &defaults;
    if (sum != NULL)
        memset(sum, 0, sizeof(*sum));
    if (o->batch_size > BATCH_MAX)
        return tgh_errf(TGH_EINVAL, "batch size %zu over %d", o->batch_size, BATCH_MAX);
    memset(&im, 0, sizeof(im));
    if ((rc = tz_enter(o->tz, &im.is_local_tz, &saved_tz, &had_tz)) != TGH_OK)
        return rc;
    im.rd.f = f;
    im.rd.name = name != NULL ? name : "(stream)";
    im.rd.buf = tgh_malloc(RD_BUF_BYTES);
    im.sink = sink;
    im.batch_size = o->batch_size ? o->batch_size : BATCH_DEFAULT;
    im.observed_at = o->observed_at ? o->observed_at : (int64_t)time(NULL);
    msg_batch_init(&im.b, im.batch_size);

    rc = root_import(&im);

    im.sum.bytes = rd_offset(&im.rd);
    if (rc == TGH_OK && sink->progress != NULL)
        sink->progress(sink->arg, im.sum.bytes, im.sum.messages);
    if (sum != NULL)
        *sum = im.sum;
    msg_batch_fini(&im.b);
    tgh_free(im.rd.text);
    tgh_free(im.rd.buf);
    tz_leave(im.is_local_tz, saved_tz, had_tz);
    return rc;
}

tgh_err
source_export_import_file(const char *path, const struct source_export_opts *o,
                          const struct source_export_sink *sink, struct source_export_summary *sum)
{
    FILE *f = fopen(path, "rb");
    tgh_err rc;

    if (sum != NULL)
        memset(sum, 0, sizeof(*sum));
    if (f == NULL)
        return tgh_errf(TGH_EIO, "%s: cannot open: %s", path, strerror(errno));
    rc = source_export_import_stream(f, path, o, sink, sum);
    (void)fclose(f); /* read-only: nothing to lose on close */
    return rc;
}
