/* SPDX-License-Identifier: MIT */
/*
 * bot_http.c - the Bot API over one libcurl easy handle: methods as JSON
 * POSTs to {api}/bot{token}/{method}, answers read by jansson and judged by
 * source_botapi_response(), files fetched from {api}/file/bot{token}/{path}.
 * The token is in every URL: nothing here logs a URL, and curl's own error
 * texts never contain one.
 */
#define TGH_LOG_SUB "bot"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bot/bot_int.h"
#include "core/alloc.h"
#include "core/log.h"

#define ANSWER_MAX (64 << 20) /* a getUpdates page of 100 updates is far below */

struct bot_http {
    CURL *curl;
    char *base; /* {api}/bot{token}/ */
    char *file; /* {api}/file/bot{token}/ */
    char err[CURL_ERROR_SIZE];
    /* the answer being read */
    char *buf;
    size_t len, cap;
    bool over;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void
global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

tgh_err
bot_http_open(const char *api_url, const char *token, struct bot_http **out)
{
    struct bot_http *h;
    size_t n;

    *out = NULL;
    if (token == NULL || *token == '\0' || strchr(token, '/') != NULL || strchr(token, '?') != NULL)
        return tgh_errf(TGH_EINVAL, "TGH_BOT_TOKEN: missing, or not a bot token");
    if (strncmp(api_url, "http://", 7) != 0 && strncmp(api_url, "https://", 8) != 0)
        return tgh_errf(TGH_EINVAL, "TGH_BOT_API_URL: expected http:// or https://, got '%.64s'",
                        api_url);
    (void)pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return tgh_errf(TGH_ENOMEM, "curl_global_init: %s", curl_easy_strerror(global_rc));
    h = tgh_calloc(1, sizeof(*h));
    n = strlen(api_url);
    while (n > 0 && api_url[n - 1] == '/')
        n--;
    h->base = tgh_malloc(n + strlen(token) + 8);
    (void)snprintf(h->base, n + strlen(token) + 8, "%.*s/bot%s/", (int)n, api_url, token);
    h->file = tgh_malloc(n + strlen(token) + 13);
    (void)snprintf(h->file, n + strlen(token) + 13, "%.*s/file/bot%s/", (int)n, api_url, token);
    if ((h->curl = curl_easy_init()) == NULL) {
        bot_http_close(h);
        return tgh_errf(TGH_ENOMEM, "curl_easy_init failed");
    }
    *out = h;
    return TGH_OK;
}

void
bot_http_close(struct bot_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    tgh_free(h->base);
    tgh_free(h->file);
    tgh_free(h->buf);
    tgh_free(h);
}

static size_t
on_answer(char *p, size_t size, size_t nmemb, void *arg)
{
    struct bot_http *h = arg;
    size_t n = size * nmemb;

    if (h->len + n > ANSWER_MAX) {
        h->over = true;
        return 0;
    }
    if (h->len + n + 1 > h->cap) {
        h->cap = h->cap == 0 ? 16384 : h->cap;
        while (h->len + n + 1 > h->cap)
            h->cap *= 2;
        h->buf = tgh_realloc(h->buf, h->cap);
    }
    memcpy(h->buf + h->len, p, n);
    h->len += n;
    h->buf[h->len] = '\0';
    return n;
}

/* The easy handle set for one request to url (reset from the last one). */
static void
prepare(struct bot_http *h, const char *url, long timeout_s)
{
    curl_easy_reset(h->curl);
    h->err[0] = '\0';
    (void)curl_easy_setopt(h->curl, CURLOPT_URL, url);
    (void)curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    (void)curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->err);
    (void)curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    (void)curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, timeout_s);
    (void)curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

static const char *
curl_reason(const struct bot_http *h, CURLcode cc)
{
    return h->err[0] != '\0' ? h->err : curl_easy_strerror(cc);
}

tgh_err
bot_http_call(struct bot_http *h, const char *method, const json_t *params, long timeout_s,
              json_t **result, struct source_botapi_error *e)
{
    struct source_botapi_error dummy;
    struct curl_slist *hdr = NULL;
    const json_t *res = NULL;
    json_error_t jerr;
    json_t *answer;
    char *url, *body;
    long status = 0;
    CURLcode cc;
    tgh_err rc;

    if (result != NULL)
        *result = NULL;
    if (e == NULL)
        e = &dummy;
    memset(e, 0, sizeof(*e));
    url = tgh_malloc(strlen(h->base) + strlen(method) + 1);
    (void)snprintf(url, strlen(h->base) + strlen(method) + 1, "%s%s", h->base, method);
    body = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;
    prepare(h, url, timeout_s);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    (void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdr);
    (void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "{}");
    (void)curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_answer);
    (void)curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    h->len = 0;
    h->over = false;
    cc = curl_easy_perform(h->curl);
    (void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    tgh_free(body); /* json_dumps uses malloc */
    tgh_free(url);
    if (cc != CURLE_OK)
        return tgh_errf(h->over ? TGH_EPROTO : TGH_EUNAVAIL, "Bot API %s: %s", method,
                        h->over ? "answer over 64 MiB" : curl_reason(h, cc));
    answer = json_loadb(h->buf != NULL ? h->buf : "", h->len, 0, &jerr);
    if (answer == NULL || json_object_get(answer, "ok") == NULL) {
        const char *m = json_string_value(json_object_get(answer, "message"));

        rc = tgh_errf(status >= 500 || status == 0 ? TGH_EUNAVAIL : TGH_EPROTO,
                      "Bot API %s: HTTP %ld without a Bot API answer%s%.200s", method, status,
                      m != NULL ? ": " : "", m != NULL ? m : "");
        json_decref(answer);
        return rc;
    }
    rc = source_botapi_response(answer, &res, e);
    if (rc == TGH_OK && result != NULL)
        *result = json_incref((json_t *)res);
    else if (rc != TGH_OK)
        rc = tgh_errf(rc, "%s: %s", method, tgh_errmsg());
    json_decref(answer);
    return rc;
}

struct sink {
    int fd;
    int64_t n, max;
    bool over, failed;
};

static size_t
on_file(char *p, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb, off = 0;

    if (s->n + (int64_t)n > s->max) {
        s->over = true;
        return 0;
    }
    while (off < n) {
        ssize_t w = write(s->fd, p + off, n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            s->failed = true;
            return 0;
        }
        off += (size_t)w;
    }
    s->n += (int64_t)n;
    return n;
}

tgh_err
bot_http_download(struct bot_http *h, const char *file_path, const char *dest, int64_t max,
                  int64_t *bytes)
{
    struct sink s = { .fd = -1, .max = max };
    long status = 0;
    CURLcode cc;
    char *url;
    tgh_err rc = TGH_OK;

    *bytes = 0;
    if (file_path == NULL || *file_path == '\0' || strstr(file_path, "..") != NULL)
        return tgh_errf(TGH_EPROTO, "getFile: no usable file_path");
    s.fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (s.fd < 0)
        return tgh_errf(TGH_EIO, "%s: %s", dest, strerror(errno));
    url = tgh_malloc(strlen(h->file) + strlen(file_path) + 1);
    (void)snprintf(url, strlen(h->file) + strlen(file_path) + 1, "%s%s", h->file, file_path);
    prepare(h, url, 3600);
    (void)curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_file);
    (void)curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &s);
    (void)curl_easy_setopt(h->curl, CURLOPT_FAILONERROR, 1L);
    cc = curl_easy_perform(h->curl);
    (void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    tgh_free(url);
    if (s.over)
        rc = tgh_errf(TGH_ETOOBIG, "file larger than %" PRId64 " bytes", max);
    else if (s.failed)
        rc = tgh_errf(TGH_EIO, "%s: %s", dest, strerror(errno));
    else if (cc != CURLE_OK)
        rc = tgh_errf(status == 404 ? TGH_ENOTFOUND : TGH_EUNAVAIL, "file download: %s",
                      curl_reason(h, cc));
    if (close(s.fd) != 0 && rc == TGH_OK)
        rc = tgh_errf(TGH_EIO, "%s: %s", dest, strerror(errno));
    if (rc != TGH_OK)
        (void)unlink(dest);
    *bytes = s.n;
    return rc;
}
