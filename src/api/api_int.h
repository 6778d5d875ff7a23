/* SPDX-License-Identifier: MIT */
/*
 * api_int.h - what the files of the API share: the server, one request, the
 * route table's shape, the helpers that answer. Private to src/api.
 */
#ifndef TGH_API_API_INT_H
#define TGH_API_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "core/config.h"
#include "core/err.h"
#include "core/feed.h"

struct store;
struct store_run_row;
struct cache;

#define API_BODY_MAX      (64 * 1024) /* request body bytes */
#define API_URL_MAX       2048        /* path plus query */
#define API_LIMIT_DEFAULT 100         /* rows of a list when limit is not given */
#define API_LIMIT_MAX     1000        /* rows of a list at most */
#define API_QUERY_MAX     512         /* bytes of a search query */
#define API_POOL_MAX      16          /* store connections kept for handlers */
#define API_POOL_WAIT_MS  5000        /* a handler waits this long for one, then 503 */
#define API_SSE_KEEPALIVE 15          /* seconds between comments on an idle stream */
#define API_STREAM_CHATS  64          /* chats one stream may filter on */

/* A pooled connection: a store, a cache (may be NULL), last used. */
struct api_conn {
    struct store *st;
    struct cache *cache;
    struct api_conn *next;
};

struct api_server {
    const struct tgh_config *cfg;
    char *store_url;
    char mode[16];
    bool metrics_only;
    /*
     * Polls may use (and warm) the Redis recent cache: only in `serve` with
     * RabbitMQ, where workers are the only writers and mark every commit.
     */
    bool cache_polling;
    struct MHD_Daemon *d;
    uint16_t port;
    struct api_keys *keys;
    enum api_role open_role; /* of keyless requests from loopback */
    char *generated_key;     /* the one made for DATA_DIR/api-keys, or NULL */
    struct tgh_feed *feed;
    bool own_feed;
    void (*status_fill)(void *arg, json_t *status);
    void *status_arg;
    int64_t started_ms; /* wall clock */
    atomic_bool stopping;
    atomic_int streams;

    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    struct api_conn *idle;
    int n_open; /* connections made and not closed */

    pthread_t gauges_thread; /* store and broker gauges for /metrics */
    bool has_gauges;
    pthread_t sub_thread; /* Redis stream subscriber, when own_feed and TGH_CACHE */
    atomic_bool has_sub;
    atomic_bool sub_up; /* the subscriber is connected */

    pthread_mutex_t depth_mu; /* queue depth, asked of the broker at most once a second */
    int64_t depth_at_ms;
    int64_t depth; /* -1 unknown */
    bool depth_ok;
};

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

/* ---- answers (api_http.c) ---- */

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

/* ---- connections (api_http.c) ---- */

/* A store (and cache) for this handler; false after answering 503. */
bool api_conn_get(struct api_req *r, struct api_conn **out);
/* Give it back; broken: close it instead (it failed in a way that may last). */
void api_conn_put(struct api_server *s, struct api_conn *c, bool broken);

/* Queue depth of tg.messages.v2 (-1 when not using RabbitMQ or unknown); ok: reachable. */
int64_t api_queue_depth(struct api_server *s, bool *ok);

/* ---- the parts ---- */

/* api_status.c */
void api_h_healthz(struct api_req *r);
void api_h_readyz(struct api_req *r);
void api_h_metrics(struct api_req *r);
void api_h_status(struct api_req *r);
void api_metrics_init(void);
void api_metrics_request(const struct api_req *r, double seconds);
TGH_MUSTCHECK tgh_err api_gauges_start(struct api_server *s);
void api_gauges_stop(struct api_server *s);

/* api_routes.c */
/* Every chat the store has or tracks, as /api/v1/chats and /status list them. */
TGH_MUSTCHECK tgh_err api_chats_list(struct store *st, json_t **out);
void api_h_chats(struct api_req *r);
void api_h_chat_add(struct api_req *r);
void api_h_chat_enable(struct api_req *r);
void api_h_chat_disable(struct api_req *r);
void api_h_chat_backfill(struct api_req *r);
void api_h_messages(struct api_req *r);
void api_h_message(struct api_req *r);
void api_h_search(struct api_req *r);
void api_h_stats(struct api_req *r);
void api_h_activity(struct api_req *r);

/* api_admin.c */
json_t *api_run_json(const struct store_run_row *run); /* never NULL */
void api_h_runs(struct api_req *r);
void api_h_dead_letters(struct api_req *r);
void api_h_dead_letter(struct api_req *r);
void api_h_dead_letter_retry(struct api_req *r);
void api_h_dead_letter_resolve(struct api_req *r);

/* api_sse.c */
void api_h_stream(struct api_req *r);
/* Start the Redis stream subscriber that feeds s->feed (TGH_CACHE set, own feed). */
TGH_MUSTCHECK tgh_err api_sub_start(struct api_server *s);
void api_sub_stop(struct api_server *s);

/* api_assets.c */
void api_h_asset(struct api_req *r);
void api_h_openapi(struct api_req *r);

/* api_auth.c: the role of this request (key, or loopback), API_ROLE_NONE when none. */
enum api_role api_auth_role(struct api_req *r, bool *bad_key);
TGH_MUSTCHECK tgh_err api_auth_setup(struct api_server *s);

#endif
