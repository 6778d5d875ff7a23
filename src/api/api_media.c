/* SPDX-License-Identifier: MIT */
/*
 * api_media.c - the media of a message: its jobs (state, size, where the
 * bytes are) and the bytes themselves, with their content type and range
 * requests (RFC 9110 section 14), read from the media store in pieces as
 * the client takes them.
 */
#include "api/api.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "api/api_routes_int.h"
#include "core/alloc.h"
#include "media/media.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

#define PIECE (1024 * 1024) /* bytes read from the media store at a time */

/* ---- the jobs of a message ---- */

static int
file_row(void *arg, const struct store_media_job *j)
{
    json_t *list = arg;
    char url[64];
    json_t *o = pipeline_media_job_json(j);

    if (j->state == STORE_JOB_STORED) {
        (void)snprintf(url, sizeof(url), "/api/v1/media/%" PRId64, j->id);
        (void)json_object_set_new(o, "url", json_string(url));
    } else {
        (void)json_object_set_new(o, "url", json_null());
    }
    (void)json_array_append_new(list, o);
    return 0;
}

void
api_h_message_media(struct api_req *r)
{
    struct store_media_jobs_query q = {
        .state = -1,
        .chat_id = r->arg[0],
        .message_id = r->arg[1],
    };
    json_t *files = json_array();
    struct api_conn *c;
    tgh_err rc;

    if (!api_conn_get(r, &c)) {
        json_decref(files);
        return;
    }
    rc = store_media_jobs_each(c->st, &q, file_row, files);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        json_decref(files);
        api_reply_err(r, rc, "media");
        return;
    }
    api_reply_json(r, 200,
                   json_pack("{s:I, s:I, s:o}", "chat_id", (json_int_t)r->arg[0], "message_id",
                             (json_int_t)r->arg[1], "files", files));
}

/* ---- the bytes ---- */

struct job_copy {
    int64_t id; /* the job asked for */
    bool found;
    enum store_job_state state;
    char key[MEDIA_KEY_MAX];
    char ctype[128];
    char name[MEDIA_NAME_MAX + 1];
};

static int
job_row(void *arg, const struct store_media_job *j)
{
    struct job_copy *c = arg;

    if (j->id != c->id)
        return 1;
    c->found = true;
    c->state = j->state;
    (void)snprintf(c->key, sizeof(c->key), "%s", j->storage_key ? j->storage_key : "");
    (void)snprintf(c->ctype, sizeof(c->ctype), "%s", pipeline_media_content_type(j));
    (void)media_name_sanitize(j->file_name, "file", c->name, sizeof(c->name));
    return 1;
}

/* What one answer reads, piece by piece, from the media store. */
struct body {
    struct media_store *ms;
    char key[MEDIA_KEY_MAX];
    int64_t pos, end; /* [pos, end) still to send */
    char *buf;
    size_t have, off; /* bytes in buf, of which off were sent */
};

static bool
take_piece(void *arg, const void *data, size_t len)
{
    struct body *b = arg;
    size_t room = PIECE - b->have;

    if (len > room)
        len = room;
    memcpy(b->buf + b->have, data, len);
    b->have += len;
    return b->have < PIECE;
}

static ssize_t
body_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct body *b = cls;
    size_t n;

    (void)pos; /* MHD asks in order; b->pos follows it */
    if (b->off == b->have) {
        int64_t want = b->end - b->pos < PIECE ? b->end - b->pos : PIECE;

        if (want <= 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        b->have = b->off = 0;
        if (media_read(b->ms, b->key, b->pos, want, take_piece, b) != TGH_OK || b->have == 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        b->pos += (int64_t)b->have;
    }
    n = b->have - b->off < max ? b->have - b->off : max;
    memcpy(out, b->buf + b->off, n);
    b->off += n;
    return (ssize_t)n;
}

static void
body_free(void *cls)
{
    struct body *b = cls;

    media_close(b->ms);
    tgh_free(b->buf);
    tgh_free(b);
}

/*
 * A "bytes=" range of an object of size bytes into [*from, *to]: "a-b",
 * "a-", "-n" (the last n). false when it cannot be satisfied (416); a
 * header that is not a single bytes range is ignored (*whole true), as
 * RFC 9110 allows.
 */
static bool
parse_range(const char *h, int64_t size, int64_t *from, int64_t *to, bool *whole)
{
    int64_t a = -1, b = -1;
    const char *p;
    char *end;

    *whole = true;
    *from = 0;
    *to = size - 1;
    if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
        return true;
    p = h + 6;
    if (*p == '-') {
        long long n = strtoll(p + 1, &end, 10);

        if (end == p + 1 || *end != '\0' || n <= 0)
            return true;
        if (size == 0)
            return false;
        *whole = false;
        *from = n >= size ? 0 : size - n;
        return true;
    }
    a = strtoll(p, &end, 10);
    if (end == p || *end != '-' || a < 0)
        return true;
    p = end + 1;
    if (*p != '\0') {
        b = strtoll(p, &end, 10);
        if (end == p || *end != '\0' || b < a)
            return true;
    }
    if (a >= size)
        return false;
    *whole = false;
    *from = a;
    *to = b < 0 || b >= size ? size - 1 : b;
    return true;
}

void
api_h_media(struct api_req *r)
{
    const struct tgh_config *cfg = r->srv->cfg;
    struct store_media_jobs_query q = {
        .state = -1,
        .chat_id = MSG_UNSET,
        .message_id = MSG_UNSET,
        .before_id = r->arg[0] + 1,
        .limit = 1,
    };
    struct job_copy jc = { .id = r->arg[0] };
    struct body *b;
    struct MHD_Response *resp;
    int64_t size = 0, from, to;
    char hdr[MEDIA_NAME_MAX + 64];
    bool whole;
    struct api_conn *c;
    tgh_err rc;

    if (media_url_is_off(cfg->media_url)) {
        api_reply_error(r, 404, "not_found", "this server keeps no media (TGH_MEDIA is off)");
        return;
    }
    if (!api_conn_get(r, &c))
        return;
    rc = store_media_jobs_each(c->st, &q, job_row, &jc);
    api_conn_put(r->srv, c, rc != TGH_OK && tgh_err_is_transient(rc));
    if (rc != TGH_OK) {
        api_reply_err(r, rc, "media");
        return;
    }
    if (!jc.found || jc.key[0] == '\0' || jc.state != STORE_JOB_STORED) {
        api_reply_error(r, 404, "not_found", "no stored media %" PRId64, r->arg[0]);
        return;
    }
    b = tgh_calloc(1, sizeof(*b));
    rc = media_open(cfg->media_url, &b->ms);
    if (rc == TGH_OK)
        rc = media_stat(b->ms, jc.key, &size);
    if (rc != TGH_OK) {
        body_free(b);
        api_reply_err(r, rc, "media");
        return;
    }
    if (!parse_range(api_header(r, "Range"), size, &from, &to, &whole)) {
        body_free(b);
        api_reply_error(r, 416, "range_not_satisfiable", "the object has %" PRId64 " bytes", size);
        return;
    }
    (void)snprintf(b->key, sizeof(b->key), "%s", jc.key);
    b->pos = from;
    b->end = to + 1;
    b->buf = tgh_malloc(PIECE);
    resp = MHD_create_response_from_callback(size == 0 ? 0 : (uint64_t)(to - from + 1), 64 * 1024,
                                             body_read, b, body_free);
    if (resp == NULL) {
        body_free(b);
        api_reply_error(r, 500, "internal", "cannot answer");
        return;
    }
    (void)MHD_add_response_header(resp, "Content-Type", jc.ctype);
    (void)MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    (void)MHD_add_response_header(resp, "Cache-Control", "private, max-age=86400, immutable");
    (void)snprintf(hdr, sizeof(hdr), "inline; filename=\"%s\"", jc.name);
    /* The name was sanitized: no quote or control character can end the header. */
    if (strchr(jc.name, '"') == NULL && strchr(jc.name, '\\') == NULL)
        (void)MHD_add_response_header(resp, "Content-Disposition", hdr);
    if (!whole) {
        (void)snprintf(hdr, sizeof(hdr), "bytes %" PRId64 "-%" PRId64 "/%" PRId64, from, to, size);
        (void)MHD_add_response_header(resp, "Content-Range", hdr);
    }
    r->resp = resp;
    r->status = whole ? 200 : 206;
}
