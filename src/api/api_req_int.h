/* SPDX-License-Identifier: MIT */
/*
 * api_req_int.h - one request and what a handler answers it with: the
 * request, the route it matched, replies, typed query parameters
 * (api_req.c) and the store connection it borrows (api_pool.c). Both the
 * server core and the routes use it; it includes neither. Private to
 * src/api (the folder's include graph is in api_int.h).
 */
#ifndef TGH_API_API_REQ_INT_H
#define TGH_API_API_REQ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "core/err.h"

struct api_server;
struct store;
struct cache;

#define API_LIMIT_DEFAULT 100  /* rows of a list when limit is not given */
#define API_LIMIT_MAX     1000 /* rows of a list at most */
#define API_QUERY_MAX     512  /* bytes of a search query */

/* One request: what was asked, and the answer being built. */
struct api_req {
    struct api_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const struct api_route *route;
    int64_t arg[2]; /* path numbers ({chat}, {msg}, {id}) in order */
    enum api_role role;
    char *body;
    size_t body_len;
    bool body_too_big;
    int64_t t0_ns;
    /* the answer */
    unsigned status;
    struct MHD_Response *resp; /* set by a handler that built its own (stream, assets) */
    char *text;                /* else this body, with ctype */
    size_t text_len;
    const char *ctype;
    char allow[64]; /* 405: the methods allowed */
};

typedef void (*api_handler_fn)(struct api_req *r);

struct api_route {
    const char *method; /* "GET", "POST" */
    const char *path;   /* "/api/v1/chats/{}/messages": {} is a decimal integer */
    enum api_role role; /* least role allowed; NONE: open */
    api_handler_fn fn;
    const char *params; /* allowed query parameters, comma-separated ("" none, "*" any) */
    const char *name;   /* the route's label in metrics */
};

/* The routes, ending with a NULL method (api_routes.c). */
extern const struct api_route api_routes[];

/* ---- answers (api_req.c) ---- */

/* Answer status with the JSON value j (stolen). */
void api_reply_json(struct api_req *r, unsigned status, json_t *j);
/* Answer with {"error": {"code": code, "message": ...}}. */
void api_reply_error(struct api_req *r, unsigned status, const char *code, const char *fmt, ...)
    TGH_PRINTF(4, 5);
/* Answer with a text body (copied). */
void api_reply_text(struct api_req *r, unsigned status, const char *ctype, const char *text,
                    size_t len);
/* Answer 503/500/404/400 from a failed call's tgh_err and tgh_errmsg(). */
void api_reply_err(struct api_req *r, tgh_err rc, const char *what);

/* A growing text (an answer spliced from stored JSON, a stream's pending frames). */
struct api_text {
    char *p;
    size_t len, cap;
};
void api_text_add(struct api_text *t, const char *s, size_t len);
void api_text_fini(struct api_text *t);
/* Answer 200 with t as the JSON body (taken: t is left empty). */
void api_reply_text_json(struct api_req *r, struct api_text *t);

/* A query parameter, or NULL. */
const char *api_param(struct api_req *r, const char *name);
/* A request header, or NULL. */
const char *api_header(struct api_req *r, const char *name);

/*
 * Typed parameters: absent leaves *out as it is and returns true; present
 * and bad answers 400 naming the parameter and returns false.
 */
bool api_param_int(struct api_req *r, const char *name, int64_t min, int64_t max, int64_t *out);
bool api_param_date(struct api_req *r, const char *name, int64_t *out);
bool api_param_bool(struct api_req *r, const char *name, bool *out);
bool api_param_enum(struct api_req *r, const char *name, const char *const *values, int *out);
bool api_param_limit(struct api_req *r, int64_t *out);

/* ---- connections (api_pool.c) ---- */

/* A pooled connection: a store, a cache (may be NULL), last used. */
struct api_conn {
    struct store *st;
    struct cache *cache;
    struct api_conn *next;
};

/* A store (and cache) for this handler; false after answering 503. */
bool api_conn_get(struct api_req *r, struct api_conn **out);
/* Give it back; broken: close it instead (it failed in a way that may last). */
void api_conn_put(struct api_server *s, struct api_conn *c, bool broken);

#endif
