/* SPDX-License-Identifier: MIT */
/*
 * api_int.h - the server and what its core (api_http.c) shares with its
 * helpers: the store pool, authentication, the gauges thread and the
 * stream's subscriber. Private to src/api.
 *
 * The private headers of src/api, and who includes them:
 *   api_req_int.h     one request, its answers, the store connection it
 *                     borrows, the route table's type: every file
 *   api_int.h         the server: api_http.c, api_pool.c, api_auth.c,
 *                     api_status.c and api_sse.c (handlers and helpers), and
 *                     the routes that read the server's settings
 *                     (api_messages.c, api_admin.c)
 *   api_routes_int.h  the handlers: the route table (api_routes.c) and the
 *                     files that define them; never api_http.c, which
 *                     reaches a handler only through api_routes[]
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

struct api_conn;
struct api_req;

#define API_BODY_MAX      (64 * 1024) /* request body bytes */
#define API_URL_MAX       2048        /* path plus query */
#define API_POOL_MAX      16          /* store connections kept for handlers */
#define API_POOL_WAIT_MS  5000        /* a handler waits this long for one, then 503 */
#define API_SSE_KEEPALIVE 15          /* seconds between comments on an idle stream */

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

/* Queue depth of tg.messages.v2 (-1 when not using RabbitMQ or unknown); ok: reachable. */
int64_t api_queue_depth(struct api_server *s, bool *ok);

/* ---- the server's helpers ---- */

/* api_status.c: the HTTP metrics, and the thread that refreshes the store and broker gauges. */
void api_metrics_init(void);
void api_metrics_request(const struct api_req *r, double seconds);
TGH_MUSTCHECK tgh_err api_gauges_start(struct api_server *s);
void api_gauges_stop(struct api_server *s);

/* api_sse.c: start the Redis stream subscriber that feeds s->feed (TGH_CACHE set, own feed). */
TGH_MUSTCHECK tgh_err api_sub_start(struct api_server *s);
void api_sub_stop(struct api_server *s);

/* api_auth.c: the role of this request (key, or loopback), API_ROLE_NONE when none. */
enum api_role api_auth_role(struct api_req *r, bool *bad_key);
TGH_MUSTCHECK tgh_err api_auth_setup(struct api_server *s);

#endif
