/* SPDX-License-Identifier: MIT */
/*
 * api_req.c - what a handler answers with: JSON answers and errors of one
 * shape, text bodies, and the request's query parameters and headers,
 * checked and typed (a bad one is a 400 naming it).
 */
#include "api/api_req_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"
#include "core/utf8.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"

/* ---- answers ---- */

void
api_reply_text(struct api_req *r, unsigned status, const char *ctype, const char *text, size_t len)
{
    tgh_free(r->text);
    r->text = tgh_malloc(len + 1);
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    r->text_len = len;
    r->ctype = ctype;
    r->status = status;
}

void
api_reply_json(struct api_req *r, unsigned status, json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

    json_decref(j);
    if (s == NULL) {
        api_reply_error(r, 500, "internal", "cannot encode the answer");
        return;
    }
    tgh_free(r->text);
    r->text = s; /* jansson allocates with malloc, as tgh_free expects */
    r->text_len = strlen(s);
    r->ctype = "application/json";
    r->status = status;
}

void
api_reply_error(struct api_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[1024], *text;
    size_t len;
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The message may quote a client's bytes: make it valid UTF-8 first. */
    text = tgh_utf8_printable(msg, strlen(msg), sizeof(msg), &len);
    api_reply_json(r, status,
                   json_pack("{s:{s:s,s:s%}}", "error", "code", code, "message", text, len));
    tgh_free(text);
}

void
api_reply_err(struct api_req *r, tgh_err rc, const char *what)
{
    switch (rc) {
    case TGH_ENOTFOUND:
        api_reply_error(r, 404, "not_found", "%s: %s", what, tgh_errmsg());
        break;
    case TGH_EINVAL:
    case TGH_ETOOBIG:
        api_reply_error(r, 400, "bad_request", "%s: %s", what, tgh_errmsg());
        break;
    case TGH_EUNAVAIL:
    case TGH_ETIMEOUT:
    case TGH_EAGAIN:
        api_reply_error(r, 503, "unavailable", "%s: %s", what, tgh_errmsg());
        break;
    default:
        log_error("%s %s: %s: %s", r->method, r->route ? r->route->name : "?", what, tgh_errmsg());
        api_reply_error(r, 500, "internal", "%s failed (see the server log)", what);
        break;
    }
}

void
api_text_add(struct api_text *t, const char *s, size_t len)
{
    if (t->len + len + 1 > t->cap) {
        t->cap = (t->len + len + 1) * 2;
        t->p = tgh_realloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, len);
    t->len += len;
    t->p[t->len] = '\0';
}

void
api_text_fini(struct api_text *t)
{
    tgh_free(t->p);
    t->p = NULL;
    t->len = t->cap = 0;
}

void
api_reply_text_json(struct api_req *r, struct api_text *t)
{
    tgh_free(r->text);
    r->text = t->p != NULL ? t->p : tgh_strdup("");
    r->text_len = t->len;
    r->ctype = "application/json";
    r->status = 200;
    t->p = NULL;
    t->len = t->cap = 0;
}

/* ---- parameters ---- */

const char *
api_param(struct api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
api_header(struct api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool
api_param_int(struct api_req *r, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *v = api_param(r, name);

    if (v == NULL)
        return true;
    if (tgh_int_parse(v, min, max, out) != TGH_OK) {
        api_reply_error(r, 400, "bad_parameter", "%s: %s", name, tgh_errmsg());
        return false;
    }
    return true;
}

bool
api_param_date(struct api_req *r, const char *name, int64_t *out)
{
    const char *v = api_param(r, name);

    if (v == NULL)
        return true;
    if (tgh_time_parse(v, out) != TGH_OK) {
        api_reply_error(r, 400, "bad_parameter", "%s: %s", name, tgh_errmsg());
        return false;
    }
    return true;
}

bool
api_param_bool(struct api_req *r, const char *name, bool *out)
{
    const char *v = api_param(r, name);

    if (v == NULL)
        return true;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else {
        api_reply_error(r, 400, "bad_parameter", "%s: '%.64s' is not true, false, 1 or 0", name, v);
        return false;
    }
    return true;
}

bool
api_param_enum(struct api_req *r, const char *name, const char *const *values, int *out)
{
    const char *v = api_param(r, name);
    char allowed[256] = "";

    if (v == NULL)
        return true;
    for (int i = 0; values[i] != NULL; i++) {
        size_t used = strlen(allowed);

        if (strcmp(v, values[i]) == 0) {
            *out = i;
            return true;
        }
        (void)snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "", values[i]);
    }
    api_reply_error(r, 400, "bad_parameter", "%s: '%.64s' is not one of %s", name, v, allowed);
    return false;
}

bool
api_param_limit(struct api_req *r, int64_t *out)
{
    *out = API_LIMIT_DEFAULT;
    return api_param_int(r, "limit", 1, API_LIMIT_MAX, out);
}
