/* SPDX-License-Identifier: MIT */
/*
 * api.h - the HTTP server: REST API under /api/v1, server-sent events of
 * committed changes, /healthz, /readyz, /metrics, /status and the embedded
 * dashboard (docs/api.md, docs/openapi.json).
 *
 * libmicrohttpd runs its own threads, one per connection. Handlers read the
 * store through a small pool of store connections (one per thread while in
 * use), the Redis cache for polling, and the live feed for the stream; admin
 * actions write tracked chats and dead letters. Nothing a client sends is
 * trusted: every parameter is checked and a bad one is a 400 naming it.
 */
#ifndef TGH_API_API_H
#define TGH_API_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/config.h"
#include "core/err.h"
#include "core/feed.h"

struct api_server; /* opaque */

/* Roles of API keys, in increasing power. */
enum api_role { API_ROLE_NONE = 0, API_ROLE_READ, API_ROLE_ADMIN };

struct api_opts {
    const struct tgh_config *cfg; /* keys, limits, TGH_QUEUE and TGH_CACHE; kept by pointer */
    const char *store_url;        /* NULL: cfg->store_url */
    const char *addr;             /* NULL: cfg->http_addr ("host:port", port 0 picks one) */
    struct tgh_feed *feed;        /* the stream's source; NULL: the server makes its own,
                                     fed from Redis when TGH_CACHE is set */
    const char *mode;             /* "run", "serve", "work": shown in /status */
    bool metrics_only;            /* only /healthz, /readyz and /metrics (workers) */
    /*
     * Adds what only the caller knows (accounts, the collector) to the
     * /status object; called on a handler thread, may be NULL.
     */
    void (*status_fill)(void *arg, json_t *status);
    void *status_arg;
};

/*
 * Load the API keys, bind and start serving. A bad key file or an address
 * that cannot be bound is an error here (startup), never later.
 */
TGH_MUSTCHECK tgh_err api_server_start(const struct api_opts *o, struct api_server **out);

/* The port bound (useful with port 0). */
uint16_t api_server_port(const struct api_server *s);

/*
 * The key the dashboard link carries when no key was configured and the
 * server made one for this data folder (see api_keys_default), else NULL.
 */
const char *api_server_generated_key(const struct api_server *s);

/* Stop taking connections, end streams, wait for handlers, free. NULL is fine. */
void api_server_stop(struct api_server *s);

/*
 * API keys: "KEY:ROLE[,KEY:ROLE...]" (TGH_API_KEYS) and a file of KEY:ROLE
 * lines with # comments (TGH_API_KEYS_FILE). Keys are kept as SHA-256
 * digests and compared in constant time; a key is 16 to 256 printable
 * characters without ':' ',' or spaces. Errors name the entry by position,
 * never by its text.
 */
struct api_keys;
TGH_MUSTCHECK tgh_err api_keys_load(const char *list, const char *file, struct api_keys **out);
void api_keys_free(struct api_keys *k); /* NULL is fine */
size_t api_keys_count(const struct api_keys *k);
/* The role of key (len bytes), API_ROLE_NONE when it is not one of them. */
enum api_role api_keys_role(const struct api_keys *k, const char *key, size_t len);
const char *api_role_name(enum api_role r);
/* The same as api_keys_load's parser on text: lines (a key file) or a comma list. */
TGH_MUSTCHECK tgh_err api_keys_parse(const char *text, size_t len, bool lines,
                                     struct api_keys **out);

/*
 * Request parts clients send, parsed without a server (the handlers and the
 * fuzz target tests/fuzz/fuzz_http.c use the same functions).
 */
#define API_STREAM_CHATS 64 /* chats one stream may filter on */
struct api_stream_filter {
    int64_t chats[API_STREAM_CHATS];
    size_t nchats;  /* 0: every chat */
    unsigned kinds; /* bit 0 new, 1 edit, 2 delete */
};
/* chat=ID[,ID...] and kinds=new,edit,delete (either may be NULL: all). TGH_EINVAL naming it. */
TGH_MUSTCHECK tgh_err api_stream_filter_parse(const char *chats, const char *kinds,
                                              struct api_stream_filter *out);
/* The name of the route for method and path (its {} numbers in args), or NULL. */
const char *api_route_name(const char *method, const char *path, int64_t args[2]);

#endif
