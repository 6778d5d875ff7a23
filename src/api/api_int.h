/* SPDX-License-Identifier: MIT */
/*
 * api_int.h - what the files of the API share: the server, its helpers and
 * the handlers; one request and its answers are in api_req_int.h. Private
 * to src/api.
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
#include "api/api_req_int.h"
#include "core/config.h"
#include "core/err.h"
#include "core/feed.h"

struct store;
struct store_run_row;
struct cache;

#define API_BODY_MAX      (64 * 1024) /* request body bytes */
#define API_URL_MAX       2048        /* path plus query */
#define API_POOL_MAX      16          /* store connections kept for handlers */
#define API_POOL_WAIT_MS  5000        /* a handler waits this long for one, then 503 */
#define API_SSE_KEEPALIVE 15          /* seconds between comments on an idle stream */
#define API_STREAM_CHATS  64          /* chats one stream may filter on */

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
