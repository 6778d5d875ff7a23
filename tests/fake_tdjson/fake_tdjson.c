/* SPDX-License-Identifier: MIT */
/*
 * fake_tdjson.c - a scripted stand-in for TDLib's libtdjson.so: the four
 * functions of td_json_client.h over a world read from TGH_FAKE_TD_WORLD.
 *
 * Like TDLib, requests are answered by a thread of the library's own: td_send
 * queues, the worker computes the answer (and the updates it causes) and
 * queues text due after the world's latency, td_receive hands the due ones
 * out. One mutex guards queues, clients and world. The one exception is the
 * page the worker builds ahead (fake_history.c): it does that with the mutex
 * free and the world read-locked, and live control lines write-lock the
 * world. jansson counts references atomically (JSON_HAVE_ATOMIC_BUILTINS),
 * so the constant values all answers share (fake_objects.c) may be taken on
 * any thread. The string td_receive or td_execute returns stays valid until the
 * same thread calls either again (TDLib keeps one thread-local buffer for
 * both). Control lines (TGH_FAKE_TD_CONTROL) are read at every td_receive
 * and td_send, and every request, 429 and rule violation is logged to
 * TGH_FAKE_TD_LOG.
 */
#include "fake_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fake_out {
    struct fake_out *next;
    double due;
    int client_id;
    char *text;
    int64_t hist_chat;  /* nonzero: the answer to a history request for this chat */
    double flood_until; /* > 0: a 429; receiving it tells the client how long to wait */
};

struct fake_in {
    struct fake_in *next;
    int client_id;
    json_t *req; /* NULL: not a request; err says why */
    char *err;
    double sent_at;
    int64_t hist_chat;
};

struct fake_state fake_g;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Written by live control lines (with mu held too), read while a page is built ahead. */
static pthread_rwlock_t world_rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t out_cv, in_cv;
static pthread_key_t output_key;
static struct fake_out *out_head;
static struct fake_in *in_head, *in_tail;
static int next_client_id = 1;
static int log_verbosity = 5;
static json_t *log_stream;

static struct {
    char *path;
    off_t offset;
    char *partial;
    size_t npartial;
} control;

static const char *const td_functions[] = {
#include "td_functions.inc"
};

/* ---- output ---- */

/* The thread's last result, freed when the thread makes another or ends (TDLib's store_string). */
static const char *
store_output(char *text)
{
    free(pthread_getspecific(output_key));
    (void)pthread_setspecific(output_key, text);
    return text;
}

static void
out_insert(struct fake_out *o)
{
    struct fake_out **p = &out_head;

    /* by due time, first come first out among equals */
    while (*p != NULL && (*p)->due <= o->due)
        p = &(*p)->next;
    o->next = *p;
    *p = o;
    (void)pthread_cond_broadcast(&out_cv);
}

static void
queue_raw(int client_id, char *text, double due, int64_t hist_chat, double flood_until)
{
    struct fake_out *o = fake_xcalloc(1, sizeof(*o));

    o->text = text;
    o->due = due;
    o->client_id = client_id;
    o->hist_chat = hist_chat;
    o->flood_until = flood_until;
    out_insert(o);
}

static struct fake_client *client_get(int id);

/*
 * obj as the client sees it: its files with the client's ids and local
 * state (fake_files.c), but for the file objects fake_files.c makes itself.
 */
static void
queue_text(int client_id, json_t *obj, double due, int64_t hist_chat, double flood_until)
{
    const char *type = json_string_value(json_object_get(obj, "@type"));
    bool own = type != NULL && (strcmp(type, "file") == 0 || strcmp(type, "updateFile") == 0);
    json_t *out = obj;
    char *text;

    if (client_id != 0) {
        /* a message read or pushed renews its files' references */
        out = own ? json_incref(obj) : fake_files_patch(client_get(client_id), obj, true);
        json_object_set_new(out, "@client_id", json_integer(client_id));
    }
    text = json_dumps(out, JSON_COMPACT);
    if (client_id != 0)
        json_decref(out);
    if (text == NULL)
        abort();
    queue_raw(client_id, text, due, hist_chat, flood_until);
}

static void
answer_flood(struct fake_req *r, json_t *obj, double flood_until)
{
    if (r->extra != NULL)
        json_object_set(obj, "@extra", r->extra);
    queue_text(r->cl != NULL ? r->cl->id : 0, obj, r->due, r->hist_chat, flood_until);
    json_decref(obj);
}

void
fake_answer(struct fake_req *r, json_t *obj)
{
    answer_flood(r, obj, 0);
}

void
fake_answer_error(struct fake_req *r, int code, const char *message)
{
    fake_answer(r, fake_error(code, message));
}

/*
 * body is an object dumped with JSON_EMBED; its @extra and @client_id come
 * as a second one, and jansson's two outputs are joined into one object the
 * way its manual describes JSON_EMBED ("useful when concatenating").
 */
void
fake_answer_embedded(struct fake_req *r, const char *body)
{
    json_t *tail = json_object();
    size_t nb = strlen(body), nt;
    char *t, *text;

    if (r->extra != NULL)
        json_object_set(tail, "@extra", r->extra);
    json_object_set_new(tail, "@client_id", json_integer(r->cl->id));
    t = json_dumps(tail, JSON_COMPACT | JSON_EMBED);
    json_decref(tail);
    if (t == NULL)
        abort();
    nt = strlen(t);
    text = fake_xmalloc(nb + nt + 4);
    text[0] = '{';
    memcpy(text + 1, body, nb);
    text[1 + nb] = ',';
    memcpy(text + 2 + nb, t, nt);
    text[2 + nb + nt] = '}';
    text[3 + nb + nt] = '\0';
    free(t);
    queue_raw(r->cl->id, text, r->due, r->hist_chat, 0);
}

void
fake_update(struct fake_client *cl, struct fake_req *r, json_t *obj)
{
    if (obj == NULL)
        return;
    queue_text(cl->id, obj, r != NULL ? r->due : fake_now_mono(), 0, 0);
    json_decref(obj);
}

void
fake_push(struct fake_client *cl, json_t *obj)
{
    const char *why = NULL;

    if (!cl->is_connected) {
        why = "disconnected";
    } else if (cl->drop_updates > 0) {
        cl->drop_updates--;
        why = "drop_next_updates";
    }
    if (why != NULL) {
        fake_log(json_pack("{s:i, s:s, s:s}", "client", cl->id, "dropped",
                           json_string_value(json_object_get(obj, "@type")), "why", why));
        json_decref(obj);
        return;
    }
    fake_update(cl, NULL, obj);
}

/* ---- log ---- */

void
fake_log(json_t *obj)
{
    json_t *line;
    char *text;
    size_t n;

    if (obj == NULL)
        return;
    if (fake_g.log_fd < 0) {
        json_decref(obj);
        return;
    }
    line = json_pack("{s:f}", "t", fake_now_unix());
    json_object_update(line, obj);
    json_decref(obj);
    text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (text == NULL)
        return;
    n = strlen(text);
    text[n] = '\n'; /* the terminator becomes the newline: one write per line */
    /* O_APPEND and a single write: whole lines even when the process is killed */
    while (write(fake_g.log_fd, text, n + 1) < 0 && errno == EINTR)
        ;
    free(text);
}

static void log_violation(int client_id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_violation(int client_id, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fake_log(json_pack("{s:i, s:s}", "client", client_id, "violation", what));
}

/* ---- request fields, as lenient as TDLib's from_json (td/tl/tl_json.h) ---- */

static const char *
json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "Object";
    case JSON_ARRAY:
        return "Array";
    case JSON_STRING:
        return "String";
    case JSON_INTEGER:
    case JSON_REAL:
        return "Number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "Boolean";
    case JSON_NULL:
    default:
        return "Null";
    }
}

static bool parse_error(struct fake_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Answer TDLib's parse error ("Failed to parse JSON object as TDLib request: ..."). */
static bool
parse_error(struct fake_req *r, const char *fmt, ...)
{
    char msg[320] = "Failed to parse JSON object as TDLib request: ";
    size_t n = strlen(msg);
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
    va_end(ap);
    fake_answer_error(r, 400, msg);
    return false;
}

bool
fake_arg_i64(struct fake_req *r, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(r->req, key);
    char *end;

    *out = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);

        errno = 0;
        *out = strtoll(s, &end, 10);
        if (*s != '\0' && *end == '\0' && errno == 0)
            return true;
        *out = 0;
        return parse_error(r, "Can't parse \"%s\" as number", s);
    }
    return parse_error(r, "Expected String or Number, but receive %s", json_type_name(v));
}

bool
fake_arg_i32(struct fake_req *r, const char *key, int32_t *out)
{
    const json_t *v = json_object_get(r->req, key);
    int64_t x;

    *out = 0;
    if (v != NULL && !json_is_integer(v) && !json_is_string(v) && !json_is_null(v))
        return parse_error(r, "Expected Number, but receive %s", json_type_name(v));
    if (!fake_arg_i64(r, key, &x))
        return false;
    if (x < INT32_MIN || x > INT32_MAX)
        return parse_error(r, "Number %s is out of range", key);
    *out = (int32_t)x;
    return true;
}

bool
fake_arg_bool(struct fake_req *r, const char *key, bool *out)
{
    const json_t *v = json_object_get(r->req, key);

    *out = false;
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v) != 0;
        return true;
    }
    return parse_error(r, "Expected Boolean, but receive %s", json_type_name(v));
}

bool
fake_arg_str(struct fake_req *r, const char *key, const char **out)
{
    const json_t *v = json_object_get(r->req, key);

    *out = "";
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return true;
    }
    return parse_error(r, "Expected String, but receive %s", json_type_name(v));
}

/* ---- methods ---- */

static const struct fake_method *
method_find(const char *name)
{
    const struct fake_method *tables[] = { fake_auth_methods, fake_chat_methods,
                                           fake_history_methods, fake_file_methods };

    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const struct fake_method *m = tables[t]; m->name != NULL; m++)
            if (strcmp(m->name, name) == 0)
                return m;
    return NULL;
}

static int
name_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static bool
is_td_function(const char *name)
{
    return bsearch(name, td_functions, sizeof(td_functions) / sizeof(td_functions[0]),
                   sizeof(td_functions[0]), name_cmp) != NULL;
}

/* TDLib's synchronous requests (SynchronousRequests::is_synchronous_request). */
static bool
is_synchronous(const char *type, const json_t *req)
{
    static const char *const names[] = {
        "searchQuote",
        "getTextEntities",
        "parseTextEntities",
        "parseMarkdown",
        "getMarkdownText",
        "searchStringsByPrefix",
        "checkQuickReplyShortcutName",
        "getCountryFlagEmoji",
        "getFileMimeType",
        "getFileExtension",
        "cleanFileName",
        "getLanguagePackString",
        "getPhoneNumberInfoSync",
        "getChatFolderDefaultIconName",
        "getJsonValue",
        "getJsonString",
        "getThemeParametersJsonString",
        "getPushReceiverId",
        "setLogStream",
        "getLogStream",
        "setLogVerbosityLevel",
        "getLogVerbosityLevel",
        "getLogTags",
        "setLogTagVerbosityLevel",
        "getLogTagVerbosityLevel",
        "addLogMessage",
        "testReturnError",
    };

    if (strcmp(type, "getOption") == 0) {
        const char *n = json_string_value(json_object_get(req, "name"));

        return n != NULL && (strcmp(n, "version") == 0 || strcmp(n, "commit_hash") == 0);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(type, names[i]) == 0)
            return true;
    return false;
}

static json_t *
option_string(const char *value)
{
    json_t *o = fake_obj("optionValueString");

    fake_set_str(o, "value", value);
    return o;
}

static json_t *
set_log_stream(const json_t *req)
{
    const json_t *s = json_object_get(req, "log_stream");
    const char *type = json_string_value(json_object_get(s, "@type"));

    if (type == NULL)
        return fake_error(400, "Log stream must be non-empty");
    if (strcmp(type, "logStreamFile") == 0) {
        const char *path = json_string_value(json_object_get(s, "path"));
        json_int_t max = json_integer_value(json_object_get(s, "max_file_size"));
        int fd;

        if (max <= 0)
            return fake_error(400, "Max log file size must be positive");
        if (path == NULL || *path == '\0')
            return fake_error(400, "Log file path must be non-empty");
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return fake_error(400, strerror(errno));
        if (write(fd, "[fake_tdjson] log stream set\n", 29) < 0 || close(fd) != 0)
            return fake_error(400, strerror(errno));
    } else if (strcmp(type, "logStreamDefault") != 0 && strcmp(type, "logStreamEmpty") != 0) {
        return fake_error(400, "Unsupported log stream");
    }
    json_decref(log_stream);
    log_stream = json_deep_copy(s);
    return fake_obj("ok");
}

/* The answer to a synchronous request, in td_execute and td_send alike. */
static json_t *
execute_sync(const char *type, const json_t *req)
{
    if (strcmp(type, "setLogVerbosityLevel") == 0) {
        const json_t *v = json_object_get(req, "new_verbosity_level");
        json_int_t lvl = json_integer_value(v);

        if (!json_is_integer(v) || lvl < 0 || lvl > 1024)
            return fake_error(400, "Wrong new verbosity level specified");
        log_verbosity = (int)lvl;
        return fake_obj("ok");
    }
    if (strcmp(type, "getLogVerbosityLevel") == 0) {
        json_t *o = fake_obj("logVerbosityLevel");

        fake_set_int(o, "verbosity_level", log_verbosity);
        return o;
    }
    if (strcmp(type, "setLogStream") == 0)
        return set_log_stream(req);
    if (strcmp(type, "getLogStream") == 0)
        return log_stream != NULL ? json_deep_copy(log_stream) : fake_obj("logStreamDefault");
    if (strcmp(type, "addLogMessage") == 0)
        return fake_obj("ok");
    if (strcmp(type, "getOption") == 0) {
        const char *n = json_string_value(json_object_get(req, "name"));

        if (n != NULL && strcmp(n, "version") == 0)
            return option_string(FAKE_TDLIB_VERSION);
        if (n != NULL && strcmp(n, "commit_hash") == 0)
            return option_string(FAKE_COMMIT_HASH);
        return fake_error(400, "The option can't be get synchronously");
    }
    if (strcmp(type, "testReturnError") == 0) {
        const json_t *e = json_object_get(req, "error");

        return fake_error((int)json_integer_value(json_object_get(e, "code")),
                          json_string_value(json_object_get(e, "message")));
    }
    fake_log(json_pack("{s:s}", "unsupported", type));
    return fake_error(400, "Method not supported by fake_tdjson");
}

/*
 * Parse a request as ClientJson's to_request does: *type is its "@type",
 * or NULL with *err set to the message of TDLib's parse error.
 */
static json_t *
parse_request(const char *text, const char **type, char **err)
{
    json_error_t je;
    json_t *req = json_loads(text != NULL ? text : "", JSON_DECODE_ANY, &je);
    const json_t *t;
    char msg[320];

    *type = NULL;
    *err = NULL;
    if (req == NULL) {
        (void)snprintf(msg, sizeof(msg), "Failed to parse request as JSON object: %s", je.text);
        *err = fake_xstrdup(msg);
        return NULL;
    }
    if (!json_is_object(req)) {
        *err = fake_xstrdup("Expected a JSON object");
        return req;
    }
    t = json_object_get(req, "@type");
    if (t == NULL) {
        *err = fake_xstrdup("Failed to parse JSON object as TDLib request: Can't find field "
                            "\"@type\"");
    } else if (!json_is_string(t)) {
        (void)snprintf(msg, sizeof(msg),
                       "Failed to parse JSON object as TDLib request: Expected String or "
                       "Integer, but receive %s",
                       json_type_name(t));
        *err = fake_xstrdup(msg);
    } else if (!is_td_function(json_string_value(t))) {
        (void)snprintf(msg, sizeof(msg),
                       "Failed to parse JSON object as TDLib request: Unknown class \"%.200s\"",
                       json_string_value(t));
        *err = fake_xstrdup(msg);
    } else {
        *type = json_string_value(t);
    }
    return req;
}

/* ---- clients ---- */

static struct fake_client *
client_get(int id)
{
    if (id <= 0 || (size_t)id > fake_g.nclients)
        return NULL;
    return fake_g.clients[id - 1];
}

static void
hist_adjust(struct fake_client *cl, int64_t chat_id, int delta, int *before)
{
    size_t i;

    for (i = 0; i < cl->nhist; i++)
        if (cl->hist[i].chat_id == chat_id)
            break;
    if (i == cl->nhist) {
        if (cl->nhist == cl->caphist) {
            cl->caphist = cl->caphist != 0 ? cl->caphist * 2 : 8;
            cl->hist = fake_xrealloc(cl->hist, cl->caphist * sizeof(*cl->hist));
        }
        cl->hist[cl->nhist].chat_id = chat_id;
        cl->hist[cl->nhist].count = 0;
        cl->nhist++;
    }
    if (before != NULL)
        *before = cl->hist[i].count;
    cl->hist[i].count += delta;
}

static void
park(struct fake_parked **list, size_t *n, size_t *cap, struct fake_req *r)
{
    if (*n == *cap) {
        *cap = *cap != 0 ? *cap * 2 : 8;
        *list = fake_xrealloc(*list, *cap * sizeof(**list));
    }
    (*list)[*n].req = json_incref((json_t *)r->req);
    (*list)[*n].sent_at = r->sent_at;
    (*list)[*n].hist_chat = r->hist_chat;
    (*n)++;
}

/*
 * Back to the front of the input queue, in their order: the worker answers
 * them, so handlers only ever run on the library's own thread.
 */
static void
requeue(struct fake_client *cl, struct fake_parked *list, size_t n)
{
    struct fake_in *first = NULL, *last = NULL;

    for (size_t i = 0; i < n; i++) {
        struct fake_in *in = fake_xcalloc(1, sizeof(*in));

        in->client_id = cl->id;
        in->req = list[i].req; /* the reference moves */
        in->sent_at = list[i].sent_at;
        in->hist_chat = list[i].hist_chat;
        if (last != NULL)
            last->next = in;
        else
            first = in;
        last = in;
    }
    free(list);
    if (first == NULL)
        return;
    last->next = in_head;
    if (in_head == NULL)
        in_tail = last;
    in_head = first;
    (void)pthread_cond_signal(&in_cv);
}

void
fake_unpark(struct fake_client *cl)
{
    struct fake_parked *list = cl->parked;
    size_t n = cl->nparked;

    cl->parked = NULL;
    cl->nparked = cl->capparked = 0;
    requeue(cl, list, n);
}

void
fake_unpark_preinit(struct fake_client *cl)
{
    struct fake_parked *list = cl->preinit;
    size_t n = cl->npreinit;

    cl->preinit = NULL;
    cl->npreinit = cl->cappreinit = 0;
    requeue(cl, list, n);
}

void
fake_set_connected(struct fake_client *cl, struct fake_req *r, bool is_connected)
{
    json_t *u;

    if (cl->st != FAKE_ST_READY || cl->is_connected == is_connected)
        return;
    cl->is_connected = is_connected;
    u = fake_obj("updateConnectionState");
    fake_set(u, "state",
             fake_obj(is_connected ? "connectionStateUpdating" : "connectionStateConnecting"));
    fake_update(cl, r, u);
    if (!is_connected)
        return;
    u = fake_obj("updateConnectionState");
    fake_set(u, "state", fake_obj("connectionStateReady"));
    fake_update(cl, r, u);
    fake_unpark(cl);
}

void
fake_flood_answer(struct fake_req *r, int64_t seconds)
{
    char msg[64];
    double until = r->due + (double)seconds;

    if (until > r->cl->flood_until)
        r->cl->flood_until = until;
    (void)snprintf(msg, sizeof(msg), "Too Many Requests: retry after %lld", (long long)seconds);
    fake_log(json_pack("{s:i, s:I, s:f}", "client", r->cl->id, "flood", (json_int_t)seconds,
                       "until", fake_now_unix() + (until - fake_now_mono())));
    answer_flood(r, fake_error(429, msg), until);
}

static bool
method_matches(const char *rule, const char *type)
{
    if (strcmp(rule, "*") == 0)
        return true;
    if (strcmp(rule, "history") == 0)
        return strcmp(type, "getChatHistory") == 0 ||
               strcmp(type, "getMessageThreadHistory") == 0 ||
               strcmp(type, "getForumTopicHistory") == 0;
    return strcmp(rule, type) == 0;
}

/* The flood a request meets on the server side: seconds of a 429, or 0. */
static int64_t
flood_for(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    struct fake_account *a = cl->acct;
    double now = fake_now_mono();
    int64_t s;

    if (now < cl->flood_until) {
        double left = cl->flood_until - now;
        int64_t whole = (int64_t)left;

        return whole + (left > (double)whole); /* rounded up, as a retry-after is */
    }
    s = fake_control_take_flood(cl, r->type);
    if (s > 0 || a == NULL)
        return s;
    for (size_t i = 0; i < a->nflood; i++) {
        struct fake_flood_rule *fr = &a->flood[i];
        bool match = false;

        for (size_t k = 0; k < fr->nmethods && !match; k++)
            match = method_matches(fr->methods[k], r->type);
        if (!match)
            continue;
        a->counters[i]++;
        if (a->counters[i] > fr->after && (a->counters[i] - fr->after) % fr->every == 0)
            return fr->seconds;
    }
    return 0;
}

static void
start_client(struct fake_client *cl, struct fake_req *r)
{
    json_t *u;

    /* TDLib starts a client when its first request arrives (Td::start_up) */
    u = fake_obj("updateOption");
    fake_set_str(u, "name", "version");
    fake_set(u, "value", option_string(FAKE_TDLIB_VERSION));
    fake_update(cl, r, u);
    u = fake_obj("updateOption");
    fake_set_str(u, "name", "commit_hash");
    fake_set(u, "value", option_string(FAKE_COMMIT_HASH));
    fake_update(cl, r, u);
    fake_auth_set_state(cl, r, FAKE_ST_WAIT_PARAMS);
}

static bool
is_authentication(const char *type)
{
    static const char *const names[] = {
        "setTdlibParameters",
        "getAuthorizationState",
        "setAuthenticationPhoneNumber",
        "resendAuthenticationCode",
        "checkAuthenticationCode",
        "checkAuthenticationPassword",
        "checkAuthenticationBotToken",
        "logOut",
        "close",
        "destroy",
        "deleteAccount",
        "requestQrCodeAuthentication",
        "registerUser",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(type, names[i]) == 0)
            return true;
    return false;
}

/* Td::run_request's checks, the flood, the connection, then the handler. */
static void
run(struct fake_req *r, const struct fake_method *m)
{
    struct fake_client *cl = r->cl;
    unsigned flags = m != NULL ? m->flags : 0;
    int64_t flood;

    if (cl->st == FAKE_ST_CLOSING || cl->st == FAKE_ST_LOGGING_OUT) {
        if (strcmp(r->type, "getAuthorizationState") == 0 && m != NULL)
            return m->fn(r);
        fake_answer_error(r, cl->logged_out ? 401 : 500,
                          cl->logged_out ? "Unauthorized" : "Request aborted");
        return;
    }
    if (cl->st == FAKE_ST_WAIT_PARAMS && strcmp(r->type, "setTdlibParameters") != 0 &&
        strcmp(r->type, "getAuthorizationState") != 0 && strcmp(r->type, "close") != 0) {
        if (strcmp(r->type, "getOption") == 0 || strcmp(r->type, "setOption") == 0)
            return park(&cl->preinit, &cl->npreinit, &cl->cappreinit, r);
        fake_answer_error(r, 400,
                          "Initialization parameters are needed: call setTdlibParameters "
                          "first");
        return;
    }
    if (cl->st != FAKE_ST_READY && !(flags & FAKE_F_PREAUTH) && !is_authentication(r->type)) {
        fake_answer_error(r, 401, "Unauthorized");
        return;
    }
    if (m == NULL) {
        fake_log(json_pack("{s:i, s:s}", "client", cl->id, "unsupported", r->type));
        fake_answer_error(r, 400, "Method not supported by fake_tdjson");
        return;
    }
    if ((flags & FAKE_F_USER_ONLY) && cl->acct != NULL && cl->acct->bot_token != NULL) {
        fake_answer_error(r, 400, "The method is not available to bots");
        return;
    }
    if (cl->st == FAKE_ST_READY && (flags & FAKE_F_NETWORK) && !cl->is_connected)
        return park(&cl->parked, &cl->nparked, &cl->capparked, r);
    if (cl->st == FAKE_ST_READY && !(flags & FAKE_F_EXEMPT)) {
        flood = flood_for(r);
        if (flood > 0)
            return fake_flood_answer(r, flood);
    }
    m->fn(r);
}

/* hist_chat: the pending history slot the answer frees (check_rules took it). */
static void
dispatch(struct fake_client *cl, const json_t *req, double sent_at, int64_t hist_chat)
{
    struct fake_req r = {
        .cl = cl,
        .req = req,
        .type = json_string_value(json_object_get(req, "@type")),
        .extra = json_object_get(req, "@extra"),
        .sent_at = sent_at,
        .due = fake_now_mono() + fake_g.w->latency_ms / 1000.0,
        .hist_chat = hist_chat,
    };

    run(&r, method_find(r.type));
}

/* One request from the input queue: the parts of ClientManager and Td before run(). */
static void
process(struct fake_in *in)
{
    struct fake_client *cl = client_get(in->client_id);
    struct fake_req r = {
        .cl = cl,
        .req = in->req,
        .extra = json_is_object(in->req) ? json_object_get(in->req, "@extra") : NULL,
        .sent_at = in->sent_at,
        .due = fake_now_mono() + fake_g.w->latency_ms / 1000.0,
        .hist_chat = in->hist_chat,
    };

    if (cl == NULL) {
        json_t *e = fake_error(400, "Invalid TDLib instance specified");

        if (r.extra != NULL)
            json_object_set(e, "@extra", r.extra);
        queue_text(in->client_id, e, r.due, 0, 0);
        json_decref(e);
        return;
    }
    if (cl->st == FAKE_ST_CLOSED) {
        fake_answer_error(&r, 500, "Request aborted");
        return;
    }
    if (cl->st == FAKE_ST_NONE)
        start_client(cl, &r);
    if (in->err != NULL) {
        fake_answer_error(&r, 400, in->err); /* a testReturnError, answered at once */
        return;
    }
    r.type = json_string_value(json_object_get(in->req, "@type"));
    if (is_synchronous(r.type, in->req)) {
        fake_answer(&r, execute_sync(r.type, in->req));
        return;
    }
    dispatch(cl, in->req, in->sent_at, in->hist_chat);
}

static void *
worker(void *arg)
{
    (void)arg;
    (void)pthread_mutex_lock(&mu);
    for (;;) {
        struct fake_in *in;

        for (;;) {
            /* download steps due now, between requests (fake_files.c) */
            double now = fake_now_mono(), wake = fake_files_run(now);
            struct timespec ts;

            if (in_head != NULL)
                break;
            if (wake != 0 && wake <= now)
                continue;
            if (fake_prefetch_wanted()) {
                /* build ahead while the collector reads what it got */
                (void)pthread_mutex_unlock(&mu);
                (void)pthread_rwlock_rdlock(&world_rw);
                fake_prefetch_run();
                (void)pthread_rwlock_unlock(&world_rw);
                (void)pthread_mutex_lock(&mu);
                continue;
            }
            if (wake == 0) {
                (void)pthread_cond_wait(&in_cv, &mu);
                continue;
            }
            ts.tv_sec = (time_t)wake;
            ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
            (void)pthread_cond_timedwait(&in_cv, &mu, &ts);
        }
        in = in_head;
        in_head = in->next;
        if (in_head == NULL)
            in_tail = NULL;
        process(in);
        json_decref(in->req);
        free(in->err);
        free(in);
    }
    return NULL;
}

/* ---- control file ---- */

static void
control_poll(bool live)
{
    struct stat st;
    char *buf, *line, *nl;
    ssize_t got;
    int fd;

    if (control.path == NULL || stat(control.path, &st) != 0)
        return;
    if (st.st_size < control.offset) { /* rewritten: start over */
        control.offset = 0;
        control.npartial = 0;
    }
    if (st.st_size == control.offset)
        return;
    fd = open(control.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    buf = fake_xmalloc((size_t)(st.st_size - control.offset));
    got = pread(fd, buf, (size_t)(st.st_size - control.offset), control.offset);
    (void)close(fd);
    if (got <= 0) {
        free(buf);
        return;
    }
    control.offset += got;
    control.partial = fake_xrealloc(control.partial, control.npartial + (size_t)got + 1);
    memcpy(control.partial + control.npartial, buf, (size_t)got);
    control.npartial += (size_t)got;
    control.partial[control.npartial] = '\0';
    free(buf);
    line = control.partial;
    while ((nl = memchr(line, '\n', control.npartial - (size_t)(line - control.partial))) != NULL) {
        *nl = '\0';
        if (nl > line) {
            (void)pthread_rwlock_wrlock(&world_rw);
            fake_g.world_version++;
            fake_control_apply(line, live);
            (void)pthread_rwlock_unlock(&world_rw);
            (void)pthread_cond_signal(&in_cv); /* downloads may go on, or at another speed */
        }
        line = nl + 1;
    }
    control.npartial -= (size_t)(line - control.partial);
    memmove(control.partial, line, control.npartial + 1);
}

/* ---- start ---- */

static void
init_once(void)
{
    const char *world = getenv("TGH_FAKE_TD_WORLD"), *logp = getenv("TGH_FAKE_TD_LOG");
    const char *ctl = getenv("TGH_FAKE_TD_CONTROL");
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t th;
    char err[512] = "";

    (void)pthread_key_create(&output_key, free);
    (void)pthread_condattr_init(&ca);
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    (void)pthread_cond_init(&out_cv, &ca);
    (void)pthread_cond_init(&in_cv, &ca);
    (void)pthread_condattr_destroy(&ca);
    fake_objects_init();
    fake_g.log_fd = -1;
    if (logp != NULL && *logp != '\0') {
        fake_g.log_fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fake_g.log_fd < 0)
            fprintf(stderr, "fake_tdjson: log %s: %s\n", logp, strerror(errno));
    }
    fake_g.w = fake_world_load(world, err, sizeof(err));
    if (fake_g.w == NULL) {
        fprintf(stderr, "fake_tdjson: world: %s\n", err);
        fake_log(json_pack("{s:s}", "error", err));
        fake_g.w = fake_world_load(NULL, err, sizeof(err));
    }
    if (ctl != NULL && *ctl != '\0') {
        control.path = fake_xstrdup(ctl);
        control_poll(false); /* the world's history: no updates */
    }
    (void)pthread_attr_init(&ta);
    (void)pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &ta, worker, NULL) != 0)
        abort();
    (void)pthread_setname_np(th, "fake_tdjson");
    (void)pthread_attr_destroy(&ta);
}

static void
init(void)
{
    (void)pthread_once(&once, init_once);
}

/* ---- the four functions of td_json_client.h ---- */

FAKE_EXPORT int
td_create_client_id(void)
{
    struct fake_client *cl;
    int id;

    init();
    (void)pthread_mutex_lock(&mu);
    id = next_client_id++;
    if (fake_g.nclients == fake_g.capclients) {
        fake_g.capclients = fake_g.capclients != 0 ? fake_g.capclients * 2 : 8;
        fake_g.clients = fake_xrealloc(fake_g.clients, fake_g.capclients * sizeof(cl));
    }
    cl = fake_xcalloc(1, sizeof(*cl));
    cl->id = id;
    cl->lock_fd = -1;
    cl->known = fake_xcalloc(fake_g.w->nchats, 1);
    cl->opened = fake_xcalloc(fake_g.w->nchats, 1);
    cl->announced = fake_xcalloc(fake_g.w->nchats, 1);
    fake_g.clients[fake_g.nclients++] = cl;
    (void)pthread_mutex_unlock(&mu);
    return id;
}

/* Usage rules checked when a request is sent, before any answer exists. */
static void
check_rules(struct fake_client *cl, struct fake_in *in, const char *type)
{
    const struct fake_method *m = method_find(type);
    unsigned flags = m != NULL ? m->flags : 0;
    int before = 0;

    if (!(flags & FAKE_F_EXEMPT) && !is_synchronous(type, in->req) &&
        in->sent_at < cl->flood_known_until)
        log_violation(cl->id, "%s sent %lld ms before the flood wait it was told ends", type,
                      (long long)((cl->flood_known_until - in->sent_at) * 1000));
    if (flags & FAKE_F_HISTORY) {
        const json_t *c = json_object_get(in->req, "chat_id");

        in->hist_chat =
            json_is_string(c) ? strtoll(json_string_value(c), NULL, 10) : json_integer_value(c);
        if (in->hist_chat == 0)
            return;
        hist_adjust(cl, in->hist_chat, +1, &before);
        if (before > 0)
            log_violation(cl->id,
                          "%s for chat %lld while another history request for it is "
                          "unanswered",
                          type, (long long)in->hist_chat);
    }
}

FAKE_EXPORT void
td_send(int client_id, const char *request)
{
    struct fake_in *in = fake_xcalloc(1, sizeof(*in));
    struct fake_client *cl;
    const char *type;

    init();
    in->client_id = client_id;
    in->sent_at = fake_now_mono();
    (void)pthread_mutex_lock(&mu);
    control_poll(true); /* a command appended before this request applies to it */
    in->req = parse_request(request, &type, &in->err);
    if (in->req != NULL)
        fake_log(json_pack("{s:i, s:O}", "client", client_id, "req", in->req));
    else
        fake_log(json_pack("{s:i, s:s}", "client", client_id, "req_text",
                           request != NULL ? request : ""));
    cl = client_get(client_id);
    if (cl != NULL && type != NULL && cl->st != FAKE_ST_CLOSED)
        check_rules(cl, in, type);
    if (in_tail != NULL)
        in_tail->next = in;
    else
        in_head = in;
    in_tail = in;
    (void)pthread_cond_signal(&in_cv);
    (void)pthread_mutex_unlock(&mu);
}

static void
delivered(struct fake_out *o)
{
    struct fake_client *cl = client_get(o->client_id);

    if (cl == NULL)
        return;
    if (o->hist_chat != 0)
        hist_adjust(cl, o->hist_chat, -1, NULL);
    if (o->flood_until > cl->flood_known_until)
        cl->flood_known_until = o->flood_until;
}

FAKE_EXPORT const char *
td_receive(double timeout)
{
    double now = fake_now_mono(), deadline = now + (timeout > 0 ? timeout : 0);
    const char *result = NULL;

    init();
    (void)pthread_mutex_lock(&mu);
    control_poll(true);
    for (;;) {
        double wake;
        struct timespec ts;

        now = fake_now_mono();
        if (out_head != NULL && out_head->due <= now) {
            struct fake_out *o = out_head;

            out_head = o->next;
            delivered(o);
            result = store_output(o->text);
            free(o);
            break;
        }
        if (now >= deadline)
            break;
        wake = out_head != NULL && out_head->due < deadline ? out_head->due : deadline;
        ts.tv_sec = (time_t)wake;
        ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
        (void)pthread_cond_timedwait(&out_cv, &mu, &ts);
    }
    (void)pthread_mutex_unlock(&mu);
    if (result == NULL)
        store_output(NULL);
    return result;
}

FAKE_EXPORT const char *
td_execute(const char *request)
{
    const char *type;
    char *err, *text;
    json_t *req, *ans;

    init();
    (void)pthread_mutex_lock(&mu);
    req = parse_request(request, &type, &err);
    if (err != NULL)
        ans = fake_error(400, err);
    else if (!is_synchronous(type, req))
        ans = fake_error(400, "The method can't be executed synchronously");
    else
        ans = execute_sync(type, req);
    if (json_is_object(req) && json_object_get(req, "@extra") != NULL)
        json_object_set(ans, "@extra", json_object_get(req, "@extra"));
    text = json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    json_decref(req);
    free(err);
    (void)pthread_mutex_unlock(&mu);
    return store_output(text);
}
