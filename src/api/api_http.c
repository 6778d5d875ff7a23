/* SPDX-License-Identifier: MIT */
/*
 * api_http.c - the server around the routes: libmicrohttpd with a thread per
 * connection (so a stream may block in its reader), request limits (URL,
 * body, parameters), routing by method and path through the route table,
 * authentication before any handler runs, and sending what the handler
 * answered (api_req.c builds it). Every request is counted by route and
 * status when it completes.
 */
#include "api/api.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "cache/cache.h"
#include "core/alloc.h"
#include "core/time.h"
#include "core/url.h"
#include "queue/queue.h"
#include "store/store.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"

static int64_t
now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- parameters ---- */

/* Every parameter must be one the route takes, and given once. */
struct param_check {
    const char *allowed;
    const char *bad;
    const char *twice;
    char seen[16][32];
    int nseen;
};

static bool
param_allowed(const char *allowed, const char *key)
{
    size_t klen = strlen(key);

    if (strcmp(allowed, "*") == 0)
        return true;
    for (const char *p = allowed; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

        if (len == klen && strncmp(p, key, len) == 0)
            return true;
        p += len + (comma != NULL);
    }
    return false;
}

static enum MHD_Result
check_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct param_check *c = cls;

    (void)kind;
    (void)value;
    if (!param_allowed(c->allowed, key)) {
        c->bad = key;
        return MHD_NO;
    }
    for (int i = 0; i < c->nseen; i++) {
        if (strcmp(c->seen[i], key) == 0) {
            c->twice = key;
            return MHD_NO;
        }
    }
    if (c->nseen < 16)
        (void)snprintf(c->seen[c->nseen++], sizeof(c->seen[0]), "%s", key);
    return MHD_YES;
}

static bool
params_ok(struct api_req *r)
{
    struct param_check c = { .allowed = r->route->params };

    (void)MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_param, &c);
    if (c.bad != NULL) {
        api_reply_error(r, 400, "bad_parameter", "unknown parameter '%.64s' (this route takes %s)",
                        c.bad, *r->route->params ? r->route->params : "none");
        return false;
    }
    if (c.twice != NULL) {
        api_reply_error(r, 400, "bad_parameter", "parameter '%.64s' given more than once", c.twice);
        return false;
    }
    return true;
}

/* ---- routing ---- */

/*
 * Does path match pattern? "{}" matches a decimal integer segment (with an
 * optional '-'), stored in arg; a trailing "*" matches any rest.
 */
static bool
route_match(const char *pattern, const char *path, int64_t arg[2])
{
    int n = 0;

    while (*pattern != '\0') {
        if (pattern[0] == '*' && pattern[1] == '\0')
            return *path != '\0' && strchr(path, '/') == NULL;
        if (pattern[0] == '{' && pattern[1] == '}') {
            char num[24];
            size_t len = strcspn(path, "/");

            if (len == 0 || len >= sizeof(num) || n == 2)
                return false;
            memcpy(num, path, len);
            num[len] = '\0';
            if (tgh_int_parse(num, INT64_MIN + 1, INT64_MAX - 1, &arg[n]) != TGH_OK ||
                (num[0] == '0' && len > 1) || num[0] == '+')
                return false;
            n++;
            path += len;
            pattern += 2;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *path == '\0';
}

/* The route for method and path; NULL with allow set (405) or empty (404). */
static const struct api_route *
route_find(const char *method, const char *path, int64_t arg[2], char *allow, size_t cap)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;

    allow[0] = '\0';
    for (const struct api_route *rt = api_routes; rt->method != NULL; rt++) {
        int64_t a[2] = { 0, 0 };

        if (!route_match(rt->path, path, a))
            continue;
        if (strcmp(rt->method, m) == 0) {
            arg[0] = a[0];
            arg[1] = a[1];
            return rt;
        }
        if (strstr(allow, rt->method) == NULL) {
            size_t used = strlen(allow);

            (void)snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", rt->method);
        }
    }
    return NULL;
}

const char *
api_route_name(const char *method, const char *path, int64_t args[2])
{
    char allow[64];
    const struct api_route *rt = route_find(method, path, args, allow, sizeof(allow));

    return rt != NULL ? rt->name : NULL;
}

/* ---- the request's life ---- */

static void
req_free(struct api_req *r)
{
    if (r == NULL)
        return;
    tgh_free(r->body);
    tgh_free(r->text);
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    tgh_free(r);
}

static void
add_common_headers(struct MHD_Response *resp)
{
    (void)MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    (void)MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result
send_answer(struct api_req *r)
{
    struct MHD_Response *resp = r->resp;
    enum MHD_Result ret;

    if (resp == NULL) {
        resp = MHD_create_response_from_buffer(r->text_len, r->text, MHD_RESPMEM_MUST_COPY);
        if (resp == NULL)
            return MHD_NO;
        (void)MHD_add_response_header(resp, "Content-Type",
                                      r->ctype != NULL ? r->ctype : "application/json");
        (void)MHD_add_response_header(resp, "Cache-Control", "no-store");
        if (r->status == 401)
            (void)MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"tgharvest\"");
        if (r->status == 405 && r->allow[0] != '\0')
            (void)MHD_add_response_header(resp, "Allow", r->allow);
    } else {
        r->resp = NULL; /* ours to destroy below */
    }
    add_common_headers(resp);
    ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Route, authenticate, check parameters, run the handler. */
static void
dispatch(struct api_req *r)
{
    bool bad_key = false;

    r->route = route_find(r->method, r->path, r->arg, r->allow, sizeof(r->allow));
    if (r->route != NULL && r->srv->metrics_only && strcmp(r->route->name, "healthz") != 0 &&
        strcmp(r->route->name, "readyz") != 0 && strcmp(r->route->name, "metrics") != 0) {
        r->route = NULL;
        r->allow[0] = '\0';
    }
    if (r->route == NULL) {
        if (r->allow[0] != '\0')
            api_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                            r->method, r->allow);
        else
            api_reply_error(r, 404, "not_found", "no such route");
        return;
    }
    r->role = api_auth_role(r, &bad_key);
    if (r->route->role != API_ROLE_NONE && r->role < r->route->role) {
        if (r->role == API_ROLE_NONE)
            api_reply_error(r, 401, "unauthorized",
                            bad_key ? "the API key is not valid"
                                    : "an API key is needed (X-API-Key or Authorization: Bearer)");
        else
            api_reply_error(r, 403, "forbidden", "this needs the %s role; the key has %s",
                            api_role_name(r->route->role), api_role_name(r->role));
        return;
    }
    if (r->body_too_big) {
        api_reply_error(r, 413, "too_large", "the request body is larger than %d bytes",
                        API_BODY_MAX);
        return;
    }
    if (!params_ok(r))
        return;
    r->route->fn(r);
    if (r->status == 0 && r->resp == NULL)
        api_reply_error(r, 500, "internal", "the handler gave no answer");
}

static enum MHD_Result
add_arg_len(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_t *len = cls;

    (void)kind;
    *len += strlen(key) + (value != NULL ? strlen(value) : 0) + 2;
    return MHD_YES;
}

/* Path and query as received (decoded), for the URI limit: the handler sees no raw line. */
static size_t
uri_len(struct MHD_Connection *conn, const char *url)
{
    size_t len = strlen(url);

    (void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg_len, &len);
    return len;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct api_server *s = cls;
    struct api_req *r = *con_cls;

    (void)version;
    if (r == NULL) {
        r = tgh_calloc(1, sizeof(*r));
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->t0_ns = now_ns();
        *con_cls = r;
        return MHD_YES; /* headers only: the body, if any, comes next */
    }
    if (*upload_data_size > 0) {
        if (r->body_len + *upload_data_size > API_BODY_MAX) {
            r->body_too_big = true;
        } else {
            r->body = tgh_realloc(r->body, r->body_len + *upload_data_size + 1);
            memcpy(r->body + r->body_len, upload_data, *upload_data_size);
            r->body_len += *upload_data_size;
            r->body[r->body_len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (uri_len(conn, url) > API_URL_MAX)
        api_reply_error(r, 414, "uri_too_long", "the path and query are longer than %d bytes",
                        API_URL_MAX);
    else if (atomic_load(&s->stopping))
        api_reply_error(r, 503, "unavailable", "the server is stopping");
    else
        dispatch(r);
    return send_answer(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct api_req *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    api_metrics_request(r, (double)(now_ns() - r->t0_ns) / 1e9);
    req_free(r);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages, into our log; it formats them like printf. */
static void mhd_log(void *cls, const char *fmt, va_list ap) TGH_PRINTF(2, 0);

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t len;

    (void)cls;
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    log_warn("libmicrohttpd: %s", line);
}

/* ---- the broker ---- */

int64_t
api_queue_depth(struct api_server *s, bool *ok)
{
    int64_t now = wall_ms(), depth;
    bool fresh;

    if (!queue_url_is_amqp(s->cfg->queue_url)) {
        *ok = true;
        return -1;
    }
    (void)pthread_mutex_lock(&s->depth_mu);
    fresh = s->depth_at_ms != 0 && now - s->depth_at_ms < 1000;
    if (!fresh) {
        uint64_t d = 0;
        tgh_err rc = queue_depth(s->cfg->queue_url, QUEUE_NAME, &d);

        s->depth_ok = rc == TGH_OK || rc == TGH_ENOTFOUND;
        s->depth = rc == TGH_OK ? (int64_t)d : rc == TGH_ENOTFOUND ? 0 : -1;
        s->depth_at_ms = now;
    }
    depth = s->depth;
    *ok = s->depth_ok;
    (void)pthread_mutex_unlock(&s->depth_mu);
    return depth;
}

/* ---- start and stop ---- */

/* host:port or [v6]:port into a socket address. */
static tgh_err
parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon, *port;
    struct addrinfo hints = { 0 }, *ai = NULL;
    int64_t p;
    int gai;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');

        if (close == NULL || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof(host))
            return tgh_errf(TGH_EINVAL, "TGH_HTTP_ADDR '%s' is not [v6]:port", addr);
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = '\0';
        port = close + 2;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
            return tgh_errf(TGH_EINVAL, "TGH_HTTP_ADDR '%s' is not host:port", addr);
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = colon + 1;
    }
    if (tgh_int_parse(port, 0, 65535, &p) != TGH_OK)
        return tgh_errf(TGH_EINVAL, "TGH_HTTP_ADDR '%s': port %s", addr, tgh_errmsg());
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    gai = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai);
    if (gai != 0 || ai == NULL)
        return tgh_errf(TGH_EINVAL, "TGH_HTTP_ADDR '%s': %s", addr, gai_strerror(gai));
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return TGH_OK;
}

static void
server_free(struct api_server *s)
{
    struct api_conn *c, *next;

    if (s == NULL)
        return;
    for (c = s->idle; c != NULL; c = next) {
        next = c->next;
        store_close(c->st);
        cache_close(c->cache);
        tgh_free(c);
    }
    if (s->own_feed)
        tgh_feed_free(s->feed);
    api_keys_free(s->keys);
    tgh_free(s->generated_key);
    tgh_free(s->store_url);
    (void)pthread_mutex_destroy(&s->pool_mu);
    (void)pthread_cond_destroy(&s->pool_cv);
    (void)pthread_mutex_destroy(&s->depth_mu);
    tgh_free(s);
}

tgh_err
api_server_start(const struct api_opts *o, struct api_server **out)
{
    struct api_server *s = tgh_calloc(1, sizeof(*s));
    const char *addr = o->addr != NULL ? o->addr : o->cfg->http_addr;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    const union MHD_DaemonInfo *info;
    pthread_condattr_t ca;
    unsigned flags;
    tgh_err rc;

    s->cfg = o->cfg;
    s->store_url = tgh_strdup(o->store_url != NULL ? o->store_url : o->cfg->store_url);
    (void)snprintf(s->mode, sizeof(s->mode), "%s", o->mode != NULL ? o->mode : "serve");
    s->started_ms = wall_ms();
    s->status_fill = o->status_fill;
    s->metrics_only = o->metrics_only;
    s->cache_polling = strcmp(s->mode, "serve") == 0 && queue_url_is_amqp(o->cfg->queue_url) &&
                       cache_url_is_redis(o->cfg->cache_url);
    s->status_arg = o->status_arg;
    s->depth = -1;
    (void)pthread_mutex_init(&s->pool_mu, NULL);
    (void)pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&s->pool_cv, &ca);
    (void)pthread_condattr_destroy(&ca);
    (void)pthread_mutex_init(&s->depth_mu, NULL);
    api_metrics_init();

    rc = api_auth_setup(s);
    if (rc == TGH_OK)
        rc = parse_addr(addr, &ss, &sslen);
    if (rc != TGH_OK)
        goto fail;
    if (o->feed != NULL) {
        s->feed = o->feed;
    } else {
        s->feed = tgh_feed_new((size_t)o->cfg->stream_buffer);
        s->own_feed = true;
    }
    /* ITC: MHD_quiesce_daemon needs it to stop the listening thread cleanly. */
    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
            MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first: libmicrohttpd logs its own way until it sees it. */
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->cfg->http_max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->cfg->http_timeout,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_END);
    if (s->d == NULL) {
        rc = tgh_errf(TGH_EIO, "cannot listen on %s (in use, or not an address of this machine)",
                      addr);
        goto fail;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? info->port : 0;
    rc = api_gauges_start(s);
    if (rc != TGH_OK)
        goto fail;
    if (s->own_feed && !s->metrics_only && cache_url_is_redis(o->cfg->cache_url)) {
        rc = api_sub_start(s);
        if (rc != TGH_OK)
            goto fail;
    }
    *out = s;
    return TGH_OK;
fail:
    atomic_store(&s->stopping, true);
    api_gauges_stop(s);
    if (s->d != NULL)
        MHD_stop_daemon(s->d);
    server_free(s);
    return rc;
}

uint16_t
api_server_port(const struct api_server *s)
{
    return s->port;
}

const char *
api_server_generated_key(const struct api_server *s)
{
    return s->generated_key;
}

void
api_server_stop(struct api_server *s)
{
    MHD_socket listening = MHD_INVALID_SOCKET;

    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    if (s->d != NULL)
        listening = MHD_quiesce_daemon(s->d); /* ours to close from now on */
    /* Streams wake and end; only then can the connection threads be joined. */
    if (s->own_feed)
        tgh_feed_close(s->feed);
    api_sub_stop(s);
    api_gauges_stop(s);
    if (s->d != NULL)
        MHD_stop_daemon(s->d);
    if (listening != MHD_INVALID_SOCKET)
        (void)close(listening);
    server_free(s);
}
