/* SPDX-License-Identifier: MIT */
/*
 * collect_td.c - the TDLib client hub: accounts' folders and locks, request
 * correlation, the history token bucket, flood waits and transient retries.
 */
#include "collect/collect_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"

#define TGH_LOG_SUB "tdlib"

#define TD_MAX_RETRIES  6    /* transient errors of one request */
#define TD_BACKOFF_BASE 0.5  /* seconds */
#define TD_BACKOFF_CAP  60.0 /* seconds */
#define TD_BUCKET_BURST 5.0

struct td_pending {
    uint64_t extra;
    struct td_acct *a;
    json_t *req;
    td_cb cb;
    void *ctx;
    struct td_counts *counts;
    int attempts;
    double not_before; /* waiting only: backoff */
    bool is_history;
};

double
td_now(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A uniform random number in [0, 1). */
static double
td_random(void)
{
    uint64_t r = 0;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint64_t)time(NULL) * 6364136223846793005ULL + (uint64_t)getpid();
    return (double)(r >> 11) / 9007199254740992.0;
}

bool
td_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    char *end;
    long long x;

    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    errno = 0;
    x = strtoll(json_string_value(v), &end, 10);
    if (errno != 0 || end == json_string_value(v) || *end != '\0')
        return false;
    *out = x;
    return true;
}

const char *
td_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

const char *
td_type(const json_t *obj)
{
    const char *t = td_str(obj, "@type");

    return t != NULL ? t : "";
}

bool
td_is_error(const json_t *answer, int *code, const char **message)
{
    int64_t c = 0;

    if (strcmp(td_type(answer), "error") != 0)
        return false;
    (void)td_int(answer, "code", &c);
    if (code != NULL)
        *code = (int)c;
    if (message != NULL) {
        *message = td_str(answer, "message");
        if (*message == NULL)
            *message = "(no message)";
    }
    return true;
}

static bool
is_history_request(const char *type)
{
    return strcmp(type, "getChatHistory") == 0 || strcmp(type, "getMessageThreadHistory") == 0 ||
           strcmp(type, "getForumTopicHistory") == 0 || strcmp(type, "getChatMessageByDate") == 0 ||
           strcmp(type, "searchChatMessages") == 0;
}

/* Requests that may go out during a flood wait: the session's own plumbing. */
static bool
is_exempt(const char *type)
{
    return strcmp(type, "close") == 0 || strcmp(type, "setTdlibParameters") == 0 ||
           strcmp(type, "getOption") == 0 || strcmp(type, "logOut") == 0 ||
           strcmp(type, "getAuthorizationState") == 0;
}

tgh_err
td_acct_path(const struct tgh_config *cfg, const char *name, char *buf, size_t n)
{
    int len;

    if (!collect_account_name_valid(name))
        return tgh_errf(TGH_EINVAL,
                        "account name '%s' is not valid (1-64 of A-Z a-z 0-9 _ . -, not "
                        "starting with . or -)",
                        name);
    if (cfg->data_dir[0] == '\0')
        return tgh_errf(TGH_EINVAL, "TGH_DATA_DIR is empty: set it to the folder for accounts");
    len = snprintf(buf, n, "%s/accounts/%s", cfg->data_dir, name);
    if (len < 0 || (size_t)len >= n)
        return tgh_errf(TGH_ETOOBIG, "account folder path of '%s' is too long", name);
    return TGH_OK;
}

bool
collect_account_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > COLLECT_ACCOUNT_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* mkdir -p with mode 0700 for the folders it creates. */
static tgh_err
make_dirs(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n >= sizeof(buf))
        return tgh_errf(TGH_ETOOBIG, "path %s is too long", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return tgh_errf(TGH_EIO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return tgh_errf(TGH_EIO, "cannot create %s: %s", buf, strerror(errno));
    return TGH_OK;
}

tgh_err
td_check_credentials(const struct tgh_config *cfg)
{
    if (cfg->api_id <= 0 || cfg->api_hash[0] == '\0')
        return tgh_errf(
            TGH_EINVAL,
            "TG_API_ID and TG_API_HASH must be set (from my.telegram.org) to use TDLib");
    return TGH_OK;
}

tgh_err
td_hub_close_failed(struct td_hub *h, tgh_err rc)
{
    char msg[1024];

    (void)snprintf(msg, sizeof(msg), "%s", tgh_errmsg());
    td_hub_close(h, 10);
    return tgh_errf(rc, "%s", msg);
}

tgh_err
td_hub_open(const struct tgh_config *cfg, struct td_hub **out)
{
    struct td_hub *h;
    struct source_tdjson *tj;
    tgh_err rc;

    rc = td_check_credentials(cfg);
    if (rc != TGH_OK)
        return rc;
    rc = source_tdjson_open(cfg->tdjson_path, &tj);
    if (rc != TGH_OK)
        return rc;
    h = tgh_calloc(1, sizeof(*h));
    h->cfg = cfg;
    h->tj = tj;
    h->next_extra = 1;
    *out = h;
    return TGH_OK;
}

static void
lock_holder(int fd, char *buf, size_t n)
{
    ssize_t r = pread(fd, buf, n - 1, 0);

    buf[r > 0 ? r : 0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] == '\0')
        (void)snprintf(buf, n, "unknown");
}

tgh_err
td_acct_open(struct td_hub *h, const char *name, bool create, struct td_acct **out)
{
    struct td_acct *a;
    char path[PATH_MAX], pid[32], holder[32];
    struct stat sb;
    int fd, len;
    tgh_err rc;

    rc = td_acct_path(h->cfg, name, path, sizeof(path));
    if (rc != TGH_OK)
        return rc;
    if (stat(path, &sb) != 0) {
        if (!create)
            return tgh_errf(TGH_ENOTFOUND, "account '%s' does not exist (%s): run tgharvest login",
                            name, path);
        rc = make_dirs(path);
        if (rc != TGH_OK)
            return rc;
    } else if (!S_ISDIR(sb.st_mode)) {
        return tgh_errf(TGH_EINVAL, "account folder %s is not a folder", path);
    }
    if (chmod(path, 0700) != 0)
        return tgh_errf(TGH_EIO, "cannot make %s private: %s", path, strerror(errno));
    {
        char lockp[PATH_MAX + 8];

        (void)snprintf(lockp, sizeof(lockp), "%s/lock", path);
        fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return tgh_errf(TGH_EIO, "account '%s': cannot open %s: %s", name, lockp,
                            strerror(errno));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        lock_holder(fd, holder, sizeof(holder));
        (void)close(fd);
        if (e == EWOULDBLOCK)
            return tgh_errf(TGH_ECONFLICT,
                            "account '%s' is in use by another tgharvest process (pid %s); one "
                            "session must never run twice",
                            name, holder);
        return tgh_errf(TGH_EIO, "account '%s': cannot lock: %s", name, strerror(e));
    }
    len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        log_warn("account '%s': cannot record the lock holder: %s", name, strerror(errno));

    if (!h->log_routed) {
        /* TDLib's log is one per process: it goes to the first account's folder. */
        char logp[PATH_MAX + 16];

        (void)snprintf(logp, sizeof(logp), "%s/td.log", path);
        rc = source_tdjson_log_to_file(h->tj, logp, 2);
        if (rc != TGH_OK) {
            (void)close(fd);
            return rc;
        }
        h->log_routed = true;
    }

    a = tgh_calloc(1, sizeof(*a));
    a->hub = h;
    (void)snprintf(a->name, sizeof(a->name), "%s", name);
    (void)snprintf(a->dir, sizeof(a->dir), "%s", path);
    a->lock_fd = fd;
    a->rate = (double)h->cfg->history_rate / 60.0;
    a->burst = TD_BUCKET_BURST;
    a->tokens = a->burst;
    a->refill_at = td_now();
    a->offline_since = td_now();
    a->client_id = source_tdjson_client_new(h->tj);
    h->accts = tgh_realloc(h->accts, (h->nacct + 1) * sizeof(*h->accts));
    h->accts[h->nacct++] = a;
    /* TDLib starts a client when it gets its first request. */
    td_call(a, json_pack("{s:s, s:s}", "@type", "getOption", "name", "version"), NULL, NULL, NULL);
    *out = a;
    return TGH_OK;
}

static struct td_pending *
list_push(struct td_pending **list, size_t *n, size_t *cap)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *list = tgh_realloc(*list, *cap * sizeof(**list));
    }
    return &(*list)[(*n)++];
}

static void
pending_free(struct td_pending *p)
{
    json_decref(p->req);
}

/* Take a token of a's bucket if there is one. */
static bool
bucket_take(struct td_acct *a, double now)
{
    if (a->rate <= 0)
        return true;
    a->tokens += (now - a->refill_at) * a->rate;
    a->refill_at = now;
    if (a->tokens > a->burst)
        a->tokens = a->burst;
    if (a->tokens < 1.0)
        return false;
    a->tokens -= 1.0;
    return true;
}

/* When the bucket has a token again. */
static double
bucket_ready_at(const struct td_acct *a)
{
    if (a->rate <= 0 || a->tokens >= 1.0)
        return a->refill_at;
    return a->refill_at + (1.0 - a->tokens) / a->rate;
}

static void
send_now(struct td_hub *h, struct td_pending *p)
{
    char extra[32];
    char *text;

    (void)snprintf(extra, sizeof(extra), "%" PRIu64, p->extra);
    (void)json_object_set_new(p->req, "@extra", json_string(extra));
    text = json_dumps(p->req, JSON_COMPACT);
    if (text == NULL) {
        log_error("cannot encode a %s request", td_type(p->req));
        return;
    }
    if (p->counts != NULL)
        p->counts->requests++;
    source_tdjson_send(h->tj, p->a->client_id, text);
    tgh_free(text); /* json_dumps uses malloc */
    *list_push(&h->pending, &h->npending, &h->cappending) = *p;
}

/* Whether p may go out now; may take a history token. */
static bool
can_send(struct td_pending *p, double now)
{
    const char *type = td_type(p->req);

    if (p->not_before > now)
        return false;
    if (is_exempt(type))
        return true;
    if (p->a->flood_until > now)
        return false;
    if (p->is_history && !bucket_take(p->a, now))
        return false;
    return true;
}

void
td_call(struct td_acct *a, json_t *req, td_cb cb, void *ctx, struct td_counts *counts)
{
    struct td_hub *h = a->hub;
    struct td_pending p = { 0 };

    if (req == NULL) {
        log_error("account %s: a request could not be built (out of memory)", a->name);
        return;
    }
    p.extra = h->next_extra++;
    p.a = a;
    p.req = req;
    p.cb = cb;
    p.ctx = ctx;
    p.counts = counts;
    p.is_history = is_history_request(td_type(req));
    /* Keep submission order: nothing overtakes a request already waiting. */
    if (h->nwaiting == 0 && can_send(&p, td_now()))
        send_now(h, &p);
    else
        *list_push(&h->waiting, &h->nwaiting, &h->capwaiting) = p;
}

void
td_forget(struct td_hub *h, void *ctx)
{
    for (size_t i = 0; i < h->npending; i++)
        if (h->pending[i].ctx == ctx)
            h->pending[i].cb = NULL;
    for (size_t i = 0; i < h->nwaiting;) {
        if (h->waiting[i].ctx == ctx) {
            pending_free(&h->waiting[i]);
            memmove(&h->waiting[i], &h->waiting[i + 1],
                    (h->nwaiting - i - 1) * sizeof(*h->waiting));
            h->nwaiting--;
        } else {
            i++;
        }
    }
}

void
td_hub_forget_all(struct td_hub *h)
{
    for (size_t i = 0; i < h->npending; i++)
        h->pending[i].cb = NULL;
    for (size_t i = 0; i < h->nwaiting; i++)
        h->waiting[i].cb = NULL;
}

/* Send every waiting request that may go; returns when the next one may. */
static double
flush_waiting(struct td_hub *h)
{
    double now = td_now(), next = now + 3600;
    size_t i = 0;

    while (i < h->nwaiting) {
        struct td_pending *p = &h->waiting[i];

        if (can_send(p, now)) {
            struct td_pending q = *p;

            memmove(p, p + 1, (h->nwaiting - i - 1) * sizeof(*p));
            h->nwaiting--;
            send_now(h, &q);
            continue;
        }
        {
            double at = p->not_before;

            if (p->a->flood_until > at)
                at = p->a->flood_until;
            if (p->is_history && bucket_ready_at(p->a) > at)
                at = bucket_ready_at(p->a);
            if (at < next)
                next = at;
        }
        i++;
    }
    return next;
}

/* "Too Many Requests: retry after N" -> N, or -1. */
static int64_t
retry_after(const char *message)
{
    const char *p = strstr(message, "retry after ");
    char *end;
    long long n;

    if (p == NULL)
        return -1;
    p += strlen("retry after ");
    errno = 0;
    n = strtoll(p, &end, 10);
    if (errno != 0 || end == p || n < 0)
        return -1;
    return n > 86400 ? 86400 : n;
}

/* Flood waits and retries, per account, for /metrics. */
static void
count_flood(const char *account, int64_t seconds)
{
    const char *v[1] = { account };

    tgh_metric_inc(tgh_metric_counter("tgh_collect_flood_waits_total",
                                      "FLOOD_WAIT / 429 answers that paused an account", "account"),
                   v);
    tgh_metric_add(tgh_metric_counter("tgh_collect_flood_wait_seconds_total",
                                      "seconds of flood wait Telegram asked for", "account"),
                   v, (double)seconds);
}

static void
count_retry(const char *account)
{
    const char *v[2] = { "collect", account };

    tgh_metric_inc(tgh_metric_counter("tgh_retries_total",
                                      "requests or batches tried again after a transient failure",
                                      "sub,account"),
                   v);
}

static void
flood(struct td_pending *p, int64_t seconds)
{
    struct td_acct *a = p->a;
    double now = td_now();
    /* Jitter so that accounts (and restarts) do not all come back at once. */
    double jitter = td_random() * (1.0 + (double)seconds * 0.1);
    double until = now + (double)seconds + jitter;

    if (a->flood_until > now) {
        /* Requests that were in flight when the wait began: the same wait. */
        if (until > a->flood_until)
            a->flood_until = until;
    } else {
        a->flood_until = until;
        a->counts.flood_waits++;
        a->counts.flood_seconds += seconds;
        count_flood(a->name, seconds);
        if (p->counts != NULL) {
            p->counts->flood_waits++;
            p->counts->flood_seconds += seconds;
        }
        log_warn("account %s: flood wait of %" PRId64 " s on %s, no request for %.1f s", a->name,
                 seconds, td_type(p->req), until - now);
    }
}

static void
auth_update(struct td_acct *a, const json_t *state)
{
    const char *t = td_type(state);

    if (strcmp(t, "authorizationStateWaitTdlibParameters") == 0)
        a->auth = TD_AUTH_WAIT_PARAMS;
    else if (strcmp(t, "authorizationStateWaitPhoneNumber") == 0)
        a->auth = TD_AUTH_WAIT_PHONE;
    else if (strcmp(t, "authorizationStateWaitCode") == 0)
        a->auth = TD_AUTH_WAIT_CODE;
    else if (strcmp(t, "authorizationStateWaitPassword") == 0)
        a->auth = TD_AUTH_WAIT_PASSWORD;
    else if (strcmp(t, "authorizationStateReady") == 0)
        a->auth = TD_AUTH_READY;
    else if (strcmp(t, "authorizationStateLoggingOut") == 0)
        a->auth = TD_AUTH_LOGGING_OUT;
    else if (strcmp(t, "authorizationStateClosing") == 0)
        a->auth = TD_AUTH_CLOSING;
    else if (strcmp(t, "authorizationStateClosed") == 0)
        a->auth = TD_AUTH_CLOSED;
    else
        a->auth = TD_AUTH_WAIT_OTHER;
    log_debug("account %s: %s", a->name, t);
}

static void
params_answer(void *ctx, struct td_acct *a, json_t *answer)
{
    const char *msg;

    (void)ctx;
    if (td_is_error(answer, NULL, &msg)) {
        (void)snprintf(a->auth_error, sizeof(a->auth_error), "setTdlibParameters: %s", msg);
        log_error("account %s: TDLib refused its parameters: %s", a->name, msg);
        a->auth = TD_AUTH_CLOSED;
    }
}

static void
send_params(struct td_acct *a)
{
    const struct tgh_config *cfg = a->hub->cfg;
    char db[PATH_MAX + 8], files[PATH_MAX + 8];
    json_t *req;

    (void)snprintf(db, sizeof(db), "%s/td", a->dir);
    (void)snprintf(files, sizeof(files), "%s/files", a->dir);
    /* database_encryption_key is bytes: base64 in TDLib's JSON. */
    req = json_pack("{s:s, s:b, s:s, s:s, s:b, s:b, s:b, s:b, s:I, s:s, s:s, s:s, s:s, s:s}",
                    "@type", "setTdlibParameters", "use_test_dc", 0, "database_directory", db,
                    "files_directory", files, "use_file_database", 1, "use_chat_info_database", 1,
                    "use_message_database", 1, "use_secret_chats", 0, "api_id",
                    (json_int_t)cfg->api_id, "api_hash", cfg->api_hash, "system_language_code",
                    "en", "device_model", "tgharvest", "system_version", "Linux",
                    "application_version", TGH_VERSION);
    if (req != NULL && cfg->db_key[0] != '\0') {
        /* A key is raw bytes; TDLib's JSON carries bytes as base64. */
        size_t n = strlen(cfg->db_key);
        char *enc = tgh_malloc(4 * ((n + 2) / 3) + 1);

        (void)EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)cfg->db_key, (int)n);
        (void)json_object_set_new(req, "database_encryption_key", json_string(enc));
        tgh_free(enc);
    }
    td_call(a, req, params_answer, NULL, NULL);
}

static struct td_acct *
acct_by_client(struct td_hub *h, int64_t client_id)
{
    for (size_t i = 0; i < h->nacct; i++)
        if (h->accts[i]->client_id == client_id)
            return h->accts[i];
    return NULL;
}

static void
dispatch_update(struct td_hub *h, struct td_acct *a, json_t *obj)
{
    const char *t = td_type(obj);

    if (strcmp(t, "updateAuthorizationState") == 0) {
        auth_update(a, json_object_get(obj, "authorization_state"));
        if (a->auth == TD_AUTH_WAIT_PARAMS)
            send_params(a);
    } else if (strcmp(t, "updateConnectionState") == 0) {
        const char *s = td_type(json_object_get(obj, "state"));
        bool ready = strcmp(s, "connectionStateReady") == 0;

        if (ready && !a->connected)
            a->ready_epoch++;
        if (a->connected != ready && (a->ready_epoch > 1 || !ready))
            log_info("account %s: %s", a->name, s);
        if (a->connected && !ready)
            a->offline_since = td_now();
        a->connected = ready;
    } else if (strcmp(t, "updateOption") == 0) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        int64_t id;

        if (name != NULL && strcmp(name, "my_id") == 0 &&
            td_int(json_object_get(obj, "value"), "value", &id)) /* int64: a string */
            a->my_id = id;
    }
    if (h->on_update != NULL)
        h->on_update(h->on_update_arg, a, obj);
}

static void
dispatch_answer(struct td_hub *h, struct td_acct *a, uint64_t extra, json_t *obj)
{
    struct td_pending p;
    size_t i;
    int code;
    const char *msg;

    for (i = 0; i < h->npending; i++)
        if (h->pending[i].extra == extra)
            break;
    if (i == h->npending) {
        dispatch_update(h, a, obj);
        return;
    }
    p = h->pending[i];
    memmove(&h->pending[i], &h->pending[i + 1], (h->npending - i - 1) * sizeof(p));
    h->npending--;

    if (td_is_error(obj, &code, &msg) && a->auth != TD_AUTH_CLOSING && a->auth != TD_AUTH_CLOSED) {
        int64_t secs = code == 429 ? retry_after(msg) : -1;

        if (secs >= 0) {
            flood(&p, secs);
            p.not_before = 0;
            /* The same request again, first in line once the wait is over. */
            *list_push(&h->waiting, &h->nwaiting, &h->capwaiting) = p;
            memmove(&h->waiting[1], &h->waiting[0], (h->nwaiting - 1) * sizeof(p));
            h->waiting[0] = p;
            return;
        }
        if (code >= 500 && p.attempts < TD_MAX_RETRIES) {
            double cap = TD_BACKOFF_BASE * pow(2.0, p.attempts);

            if (cap > TD_BACKOFF_CAP)
                cap = TD_BACKOFF_CAP;
            p.attempts++;
            p.not_before = td_now() + td_random() * cap; /* full jitter */
            if (p.counts != NULL)
                p.counts->retries++;
            count_retry(a->name);
            log_info("account %s: %s failed (%d %s), retry %d", a->name, td_type(p.req), code, msg,
                     p.attempts);
            *list_push(&h->waiting, &h->nwaiting, &h->capwaiting) = p;
            return;
        }
    }
    if (p.cb != NULL)
        p.cb(p.ctx, a, obj);
    pending_free(&p);
}

bool
td_hub_poll(struct td_hub *h, double timeout_s)
{
    double next = flush_waiting(h), now = td_now();
    const char *text;
    json_t *obj;
    json_error_t jerr;
    int64_t client = 0;
    struct td_acct *a;
    const char *extra;

    if (next - now < timeout_s)
        timeout_s = next - now > 0 ? next - now : 0;
    text = source_tdjson_receive(h->tj, timeout_s);
    if (text == NULL)
        return false;
    obj = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (obj == NULL) {
        log_error("TDLib sent text that is not JSON (%s at %d): dropped", jerr.text, jerr.position);
        return true;
    }
    (void)td_int(obj, "@client_id", &client);
    a = acct_by_client(h, client);
    if (a == NULL) {
        json_decref(obj);
        return true; /* a client closed and forgotten */
    }
    extra = td_str(obj, "@extra");
    if (extra != NULL) {
        char *end;
        unsigned long long x = strtoull(extra, &end, 10);

        if (*end == '\0' && end != extra)
            dispatch_answer(h, a, (uint64_t)x, obj);
        else
            dispatch_update(h, a, obj);
    } else {
        dispatch_update(h, a, obj);
    }
    json_decref(obj);
    return true;
}

tgh_err
td_acct_wait_auth(struct td_acct *a, double timeout_s, volatile sig_atomic_t *stop)
{
    double until = td_now() + timeout_s;

    for (;;) {
        switch (a->auth) {
        case TD_AUTH_WAIT_PHONE:
        case TD_AUTH_WAIT_CODE:
        case TD_AUTH_WAIT_PASSWORD:
        case TD_AUTH_WAIT_OTHER:
        case TD_AUTH_READY:
            return TGH_OK;
        case TD_AUTH_CLOSED:
            return tgh_errf(TGH_EUNAVAIL, "account %s: TDLib closed the session%s%s", a->name,
                            a->auth_error[0] ? ": " : "", a->auth_error);
        default:
            break;
        }
        if (td_now() >= until)
            return tgh_errf(TGH_ETIMEOUT, "account %s: TDLib did not start within %.0f s", a->name,
                            timeout_s);
        if (stop != NULL && *stop)
            return tgh_errf(TGH_EAGAIN, "account %s: stopped while TDLib was starting", a->name);
        (void)td_hub_poll(a->hub, 0.2);
    }
}

void
td_hub_close(struct td_hub *h, double timeout_s)
{
    double until;
    bool open;

    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nacct; i++) {
        struct td_acct *a = h->accts[i];

        if (a->auth != TD_AUTH_CLOSED)
            td_call(a, json_pack("{s:s}", "@type", "close"), NULL, NULL, NULL);
    }
    until = td_now() + timeout_s;
    do {
        open = false;
        for (size_t i = 0; i < h->nacct; i++)
            open |= h->accts[i]->auth != TD_AUTH_CLOSED;
        if (open)
            (void)td_hub_poll(h, 0.2);
    } while (open && td_now() < until);
    for (size_t i = 0; i < h->npending; i++)
        pending_free(&h->pending[i]);
    for (size_t i = 0; i < h->nwaiting; i++)
        pending_free(&h->waiting[i]);
    tgh_free(h->pending);
    tgh_free(h->waiting);
    for (size_t i = 0; i < h->nacct; i++) {
        (void)close(h->accts[i]->lock_fd); /* releases the lock */
        tgh_free(h->accts[i]);
    }
    tgh_free(h->accts);
    source_tdjson_close(h->tj);
    tgh_free(h);
}

tgh_err
td_acct_info_write(struct td_acct *a, const json_t *me)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
    json_t *info;
    const json_t *usernames = json_object_get(me, "usernames");
    const json_t *active = json_object_get(usernames, "active_usernames");
    const char *first = td_str(me, "first_name"), *last = td_str(me, "last_name");
    char display[256];
    int64_t id = 0;
    int rc;

    (void)td_int(me, "id", &id);
    (void)snprintf(display, sizeof(display), "%s%s%s", first ? first : "", last && *last ? " " : "",
                   last ? last : "");
    info = json_pack("{s:s, s:I, s:s, s:s, s:b, s:I}", "name", a->name, "user_id", (json_int_t)id,
                     "display", display, "username",
                     json_is_string(json_array_get(active, 0))
                         ? json_string_value(json_array_get(active, 0))
                         : "",
                     "is_bot", strcmp(td_type(json_object_get(me, "type")), "userTypeBot") == 0,
                     "logged_in_at", (json_int_t)time(NULL));
    if (info == NULL)
        return tgh_errf(TGH_ENOMEM, "account %s: cannot build account.json", a->name);
    (void)snprintf(path, sizeof(path), "%s/account.json", a->dir);
    (void)snprintf(tmp, sizeof(tmp), "%s/account.json.tmp", a->dir);
    rc = json_dump_file(info, tmp, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(info);
    if (rc != 0 || rename(tmp, path) != 0)
        return tgh_errf(TGH_EIO, "account %s: cannot write %s", a->name, path);
    return TGH_OK;
}

tgh_err
td_acct_info_read(const char *dir, struct collect_account_info *out)
{
    char path[PATH_MAX + 32];
    json_error_t jerr;
    json_t *info;
    int64_t v;

    (void)snprintf(path, sizeof(path), "%s/account.json", dir);
    info = json_load_file(path, 0, &jerr);
    if (info == NULL)
        return tgh_errf(TGH_ENOTFOUND, "%s: %s", path, jerr.text);
    out->logged_in = true;
    if (td_int(info, "user_id", &v))
        out->user_id = v;
    if (td_int(info, "logged_in_at", &v))
        out->logged_in_at = v;
    out->is_bot = json_is_true(json_object_get(info, "is_bot"));
    (void)snprintf(out->display, sizeof(out->display), "%s",
                   td_str(info, "display") ? td_str(info, "display") : "");
    (void)snprintf(out->username, sizeof(out->username), "%s",
                   td_str(info, "username") ? td_str(info, "username") : "");
    json_decref(info);
    return TGH_OK;
}
