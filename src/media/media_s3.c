/* SPDX-License-Identifier: MIT */
/*
 * media_s3.c - the media store in an S3 bucket (TGH_MEDIA=s3://BUCKET?...),
 * spoken over one libcurl easy handle per store (path-style URLs, SigV4
 * signed by curl) with libxml2 for the few XML answers.
 *
 * A file up to the part size is one PUT, which S3 shows whole or not at all.
 * A larger file is a multipart upload, an object only once completed; a part
 * that fails leaves the upload for a later media_put with its upload id,
 * which sends only the parts the server lists. Bytes are never held whole:
 * each body is read from the file twice, once to hash it (S3 checks the
 * signed x-amz-content-sha256 against what arrives) and once to send it.
 */
#include "media/media_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "core/alloc.h"

#define S3_EMPTY_SHA256   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_PART_MAX       (INT64_C(5) << 30) /* S3's largest part */
#define S3_PARTS_MAX      10000              /* S3's most parts of one upload */
#define S3_XML_MAX        (4 * 1024 * 1024)  /* bytes of an answer body kept */
#define S3_ETAG_MAX       128
#define S3_ID_MAX         1024 /* bytes of an upload id */
#define S3_HASH_BUF       (256 * 1024)
#define S3_CONNECT_S      5
#define S3_LOW_SPEED_TIME 30 /* seconds under 1 byte/s before a transfer fails */

struct s3_store {
    struct media_store base;
    CURL *curl;
    char *endpoint; /* "http://host:port", no trailing '/' */
    char *bucket;
    char *prefix; /* NULL, or a valid key without a trailing '/' */
    char *key_id;
    char *secret; /* never formatted */
    char *token;  /* "x-amz-security-token: ..." or NULL */
    char sigv4[64];
    int64_t part_size;
    unsigned char *hashbuf; /* S3_HASH_BUF bytes */
    char errbuf[CURL_ERROR_SIZE];
};

/* A request body: len bytes of memory, or of the file fd from off. */
struct body {
    const unsigned char *data;
    int fd;
    int64_t off, len, pos;
    int err; /* errno of a failed read; EIO when the file shrank */
};

struct req {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;
    const char *query;  /* already in SigV4 canonical form, or NULL */
    const char *sha256; /* of the body; NULL: the empty body */
    const char *content_type;
    const char *range;
    struct body *body;
};

struct resp {
    CURL *curl;
    long status;
    char etag[S3_ETAG_MAX];
    char code[64];     /* S3 error Code, "" when none */
    char message[256]; /* S3 error Message */
    char *buf;         /* the body, when not streamed to fn */
    size_t len, cap;
    bool is_too_big;
    media_read_fn fn; /* a 2xx body goes here instead */
    void *arg;
    int64_t left;   /* bytes fn may still get; -1: all */
    int64_t offset; /* of a ranged GET: skipped if the server sends it all */
    int64_t skip;
    bool has_begun, is_stopped;
};

/* One part of a multipart upload. */
struct part {
    int64_t size;
    bool is_stored; /* listed by the server with this size */
    char etag[S3_ETAG_MAX];
};

/* A string grown on the heap; inputs are capped, so its size is too. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void
global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
}

static struct s3_store *
s3_of(struct media_store *ms)
{
    return (struct s3_store *)ms;
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = tgh_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

TGH_PRINTF(2, 3)
static void
sb_fmt(struct sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    TGH_ASSERT(n >= 0 && (size_t)n < sizeof tmp);
    sb_add(b, tmp, (size_t)n);
}

/* Append s URL-escaped, each '/'-separated component on its own. */
static bool
sb_path(struct sbuf *b, CURL *h, const char *s)
{
    for (;;) {
        const char *slash = strchr(s, '/');
        size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
        if (n > 0) { /* curl takes a length of 0 as strlen() */
            char *esc = curl_easy_escape(h, s, (int)n);
            if (esc == NULL)
                return false;
            sb_str(b, esc);
            curl_free(esc);
        }
        if (slash == NULL)
            return true;
        sb_add(b, "/", 1);
        s = slash + 1;
    }
}

/* Text from a server, made safe for a log line. */
static void
copy_printable(char *out, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[k] = '\0';
}

/* ---- XML ---- */

static xmlDocPtr
xml_parse(const struct resp *rs)
{
    if (rs->buf == NULL || rs->len == 0 || rs->is_too_big)
        return NULL;
    return xmlReadMemory(rs->buf, (int)rs->len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The first element child of n named name (namespaces ignored). */
static xmlNodePtr
xml_child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n != NULL ? n->children : NULL; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* The text of n's child name into out; false when absent or longer than cap - 1. */
static bool
xml_text(xmlNodePtr n, const char *name, char *out, size_t cap)
{
    xmlNodePtr c = xml_child(n, name);
    if (c == NULL)
        return false;
    xmlChar *t = xmlNodeGetContent(c);
    if (t == NULL)
        return false;
    size_t len = strlen((const char *)t);
    bool ok = len < cap;
    if (ok)
        memcpy(out, t, len + 1);
    xmlFree(t);
    return ok;
}

static bool
xml_int(xmlNodePtr n, const char *name, int64_t *v)
{
    char t[32], *end;
    if (!xml_text(n, name, t, sizeof t) || t[0] < '0' || t[0] > '9')
        return false;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *v = x;
    return true;
}

/* Code and Message of an <Error> body into rs. */
static void
xml_error(struct resp *rs)
{
    xmlDocPtr doc = xml_parse(rs);
    xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    char t[256];
    if (root != NULL && strcmp((const char *)root->name, "Error") == 0) {
        if (xml_text(root, "Code", t, sizeof t))
            copy_printable(rs->code, sizeof rs->code, t, strlen(t));
        if (xml_text(root, "Message", t, sizeof t))
            copy_printable(rs->message, sizeof rs->message, t, strlen(t));
    }
    xmlFreeDoc(doc);
}

/* ---- one request ---- */

static size_t
on_read(char *dst, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t want = size * n;
    if ((int64_t)want > b->len - b->pos)
        want = (size_t)(b->len - b->pos);
    if (want == 0)
        return 0;
    if (b->data != NULL) {
        memcpy(dst, b->data + b->pos, want);
    } else {
        ssize_t got;
        do
            got = pread(b->fd, dst, want, (off_t)(b->off + b->pos));
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            b->err = got < 0 ? errno : EIO;
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)got;
    }
    b->pos += (int64_t)want;
    return want;
}

/* curl rewinds a body to send it again on a fresh connection. */
static int
on_seek(void *arg, curl_off_t off, int origin)
{
    struct body *b = arg;
    if (origin != SEEK_SET || off < 0 || off > b->len)
        return CURL_SEEKFUNC_CANTSEEK;
    b->pos = off;
    return CURL_SEEKFUNC_OK;
}

static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
    struct resp *rs = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        rs->etag[0] = '\0'; /* a new answer (after 100 Continue) */
    } else if (len > 5 && strncasecmp(line, "etag:", 5) == 0) {
        const char *v = line + 5;
        size_t vlen = len - 5;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < sizeof rs->etag)
            copy_printable(rs->etag, sizeof rs->etag, v, vlen);
    }
    return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
    struct resp *rs = arg;
    size_t len = size * n;
    long status = 0;
    (void)curl_easy_getinfo(rs->curl, CURLINFO_RESPONSE_CODE, &status);
    if (rs->fn != NULL && status >= 200 && status < 300) {
        if (!rs->has_begun) {
            rs->has_begun = true;
            if (status == 200) /* the range was ignored: the whole object comes */
                rs->skip = rs->offset;
        }
        size_t from = 0;
        if (rs->skip > 0) {
            from = (int64_t)len < rs->skip ? len : (size_t)rs->skip;
            rs->skip -= (int64_t)from;
        }
        size_t give = len - from;
        if (rs->left >= 0 && (int64_t)give > rs->left)
            give = (size_t)rs->left;
        if (give > 0 && !rs->fn(rs->arg, data + from, give)) {
            rs->is_stopped = true;
            return 0;
        }
        if (rs->left >= 0) {
            rs->left -= (int64_t)give;
            if (from + give < len) { /* more than was asked for */
                rs->is_stopped = true;
                return 0;
            }
        }
        return len;
    }
    if (rs->len + len > S3_XML_MAX) {
        rs->is_too_big = true;
        return len;
    }
    if (rs->len + len + 1 > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 4096;
        while (cap < rs->len + len + 1)
            cap *= 2;
        rs->buf = tgh_realloc(rs->buf, cap);
        rs->cap = cap;
    }
    memcpy(rs->buf + rs->len, data, len);
    rs->len += len;
    rs->buf[rs->len] = '\0';
    return len;
}

static void
resp_fini(struct resp *rs)
{
    tgh_free(rs->buf);
    rs->buf = NULL;
}

TGH_PRINTF(2, 3)
static bool
add_header(struct curl_slist **list, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    char *line = tgh_malloc((size_t)n + 1);
    va_start(ap, fmt);
    (void)vsnprintf(line, (size_t)n + 1, fmt, ap);
    va_end(ap);
    struct curl_slist *l = curl_slist_append(*list, line);
    tgh_free(line);
    if (l == NULL)
        return false;
    *list = l;
    return true;
}

static char *
make_url(struct s3_store *s3, const char *key, const char *query)
{
    struct sbuf b = { 0 };
    sb_str(&b, s3->endpoint);
    sb_add(&b, "/", 1);
    sb_str(&b, s3->bucket);
    sb_add(&b, "/", 1);
    bool ok = true;
    if (s3->prefix != NULL) {
        ok = sb_path(&b, s3->curl, s3->prefix);
        sb_add(&b, "/", 1);
    }
    if (!ok || !sb_path(&b, s3->curl, key)) {
        tgh_free(b.p);
        return NULL;
    }
    if (query != NULL) {
        sb_add(&b, "?", 1);
        sb_str(&b, query);
    }
    return b.p;
}

/* How a transfer that got no HTTP answer failed. */
static tgh_err
curl_fail(struct s3_store *s3, const struct req *rq, CURLcode rc)
{
    const struct body *b = rq->body;
    if (rc == CURLE_ABORTED_BY_CALLBACK && b != NULL && b->err != 0)
        return tgh_errf(TGH_EIO, "media store s3: reading the file for %.200s: %s", rq->key,
                        b->err == EIO && b->fd >= 0 ? "it shrank while sent" : strerror(b->err));
    tgh_err code = TGH_EUNAVAIL; /* refused, unresolved, reset, TLS: not there now */
    if (rc == CURLE_OPERATION_TIMEDOUT)
        code = TGH_ETIMEOUT;
    else if (rc == CURLE_OUT_OF_MEMORY)
        code = TGH_ENOMEM;
    else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
             rc == CURLE_NOT_BUILT_IN || rc == CURLE_UNKNOWN_OPTION)
        code = TGH_EINVAL;
    return tgh_errf(code, "media store s3: %s %s/%.200s at %s: %s", rq->method, s3->bucket, rq->key,
                    s3->endpoint, s3->errbuf[0] ? s3->errbuf : curl_easy_strerror(rc));
}

#define SETOPT(rc, h, opt, val) \
    ((rc) = (rc) != CURLE_OK ? (rc) : curl_easy_setopt((h), (opt), (val)))

static CURLcode
set_method(CURL *h, const struct req *rq)
{
    CURLcode rc = CURLE_OK;
    struct body *b = rq->body;
    if (strcmp(rq->method, "HEAD") == 0) {
        SETOPT(rc, h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "DELETE") == 0) {
        SETOPT(rc, h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (strcmp(rq->method, "PUT") == 0 || strcmp(rq->method, "POST") == 0) {
        TGH_ASSERT(b != NULL);
        if (rq->method[1] == 'U') {
            SETOPT(rc, h, CURLOPT_UPLOAD, 1L);
            SETOPT(rc, h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
        } else {
            SETOPT(rc, h, CURLOPT_POST, 1L);
            SETOPT(rc, h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
        }
        SETOPT(rc, h, CURLOPT_READFUNCTION, on_read);
        SETOPT(rc, h, CURLOPT_READDATA, b);
        SETOPT(rc, h, CURLOPT_SEEKFUNCTION, on_seek);
        SETOPT(rc, h, CURLOPT_SEEKDATA, b);
    }
    return rc;
}

/*
 * Send rq and take the answer into rs. TGH_OK when an HTTP answer came,
 * whatever its status (see check()), or when rs->fn stopped the transfer.
 */
static tgh_err
perform(struct s3_store *s3, const struct req *rq, struct resp *rs)
{
    CURL *h = s3->curl;
    struct curl_slist *hdrs = NULL;
    char *url = make_url(s3, rq->key, rq->query);
    tgh_err e = TGH_OK;
    CURLcode rc = CURLE_OK;

    rs->curl = h;
    if (rq->body != NULL)
        rq->body->pos = 0;
    /* Expect: 100-continue would cost a round trip (or a second) per part. */
    if (url == NULL ||
        !add_header(&hdrs, "x-amz-content-sha256: %s",
                    rq->sha256 != NULL ? rq->sha256 : S3_EMPTY_SHA256) ||
        (s3->token != NULL && !add_header(&hdrs, "%s", s3->token)) ||
        (rq->content_type != NULL && !add_header(&hdrs, "Content-Type: %s", rq->content_type)) ||
        (rq->range != NULL && !add_header(&hdrs, "Range: %s", rq->range)) ||
        !add_header(&hdrs, "Expect:")) {
        e = tgh_errf(TGH_ENOMEM, "media store s3: no memory for a request");
        goto out;
    }
    curl_easy_reset(h); /* keeps the connection cache */
    s3->errbuf[0] = '\0';
    SETOPT(rc, h, CURLOPT_URL, url);
    SETOPT(rc, h, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(rc, h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(rc, h, CURLOPT_ERRORBUFFER, s3->errbuf);
    SETOPT(rc, h, CURLOPT_CONNECTTIMEOUT, (long)S3_CONNECT_S);
    SETOPT(rc, h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(rc, h, CURLOPT_LOW_SPEED_TIME, (long)S3_LOW_SPEED_TIME);
    SETOPT(rc, h, CURLOPT_USERNAME, s3->key_id);
    SETOPT(rc, h, CURLOPT_PASSWORD, s3->secret);
    SETOPT(rc, h, CURLOPT_AWS_SIGV4, s3->sigv4);
    SETOPT(rc, h, CURLOPT_HTTPHEADER, hdrs);
    SETOPT(rc, h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(rc, h, CURLOPT_HEADERDATA, rs);
    SETOPT(rc, h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(rc, h, CURLOPT_WRITEDATA, rs);
    if (rc == CURLE_OK)
        rc = set_method(h, rq);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    if (rc == CURLE_WRITE_ERROR && rs->is_stopped)
        rc = CURLE_OK;
    if (rc != CURLE_OK)
        e = curl_fail(s3, rq, rc);
    else if (rs->status >= 300)
        xml_error(rs);
out:
    curl_slist_free_all(hdrs);
    tgh_free(url);
    return e;
}

/* TGH_OK for a 2xx answer, else the error its status and S3 Code say. */
static tgh_err
check(struct s3_store *s3, const struct req *rq, const struct resp *rs)
{
    if (rs->status >= 200 && rs->status < 300)
        return TGH_OK;
    tgh_err e = TGH_EINVAL; /* a refusal a retry will not change */
    if (rs->status == 404)
        e = TGH_ENOTFOUND;
    else if (rs->status >= 500 || rs->status == 429 || strcmp(rs->code, "RequestTimeout") == 0 ||
             strcmp(rs->code, "SlowDown") == 0)
        e = TGH_EAGAIN;
    return tgh_errf(e, "media store s3: %s %s/%.200s%s%s: HTTP %ld%s%s%s%s", rq->method, s3->bucket,
                    rq->key, rq->query != NULL ? "?" : "", rq->query != NULL ? rq->query : "",
                    rs->status, rs->code[0] ? " " : "", rs->code, rs->message[0] ? ": " : "",
                    rs->message);
}

/* perform() then check(). */
static tgh_err
request(struct s3_store *s3, const struct req *rq, struct resp *rs)
{
    tgh_err e = perform(s3, rq, rs);
    return e != TGH_OK ? e : check(s3, rq, rs);
}

/* ---- hashing and bodies ---- */

static bool
is_sha256_hex(const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == MEDIA_SHA256_HEX;
}

/* SHA-256 of len bytes of fd from off. */
static tgh_err
hash_range(struct s3_store *s3, int fd, int64_t off, int64_t len, const char *path,
           char hex[MEDIA_SHA256_HEX + 1])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char dg[32];
    unsigned int dglen = 0;
    tgh_err e = TGH_OK;
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        e = tgh_errf(TGH_ENOMEM, "media store s3: SHA-256 failed");
        goto out;
    }
    while (len > 0) {
        size_t want = len < S3_HASH_BUF ? (size_t)len : S3_HASH_BUF;
        ssize_t got = pread(fd, s3->hashbuf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            e = tgh_errf(TGH_EIO, "media store s3: reading %s: %s", path,
                         got < 0 ? strerror(errno) : "it shrank while read");
            goto out;
        }
        if (EVP_DigestUpdate(md, s3->hashbuf, (size_t)got) != 1) {
            e = tgh_errf(TGH_ENOMEM, "media store s3: SHA-256 failed");
            goto out;
        }
        off += got;
        len -= got;
    }
    if (EVP_DigestFinal_ex(md, dg, &dglen) != 1) {
        e = tgh_errf(TGH_ENOMEM, "media store s3: SHA-256 failed");
        goto out;
    }
    media_hex(dg, sizeof dg, hex);
out:
    EVP_MD_CTX_free(md);
    return e;
}

static tgh_err
sha256_mem(const void *data, size_t len, char hex[MEDIA_SHA256_HEX + 1])
{
    unsigned char dg[32];
    unsigned int dglen = 0;
    if (EVP_Digest(data, len, dg, &dglen, EVP_sha256(), NULL) != 1)
        return tgh_errf(TGH_ENOMEM, "media store s3: SHA-256 failed");
    media_hex(dg, sizeof dg, hex);
    return TGH_OK;
}

/* ---- multipart ---- */

static void
query_upload(char *out, size_t cap, CURL *h, int part_number, const char *upload_id)
{
    char *esc = curl_easy_escape(h, upload_id, 0);
    if (esc == NULL) {
        out[0] = '\0';
        return;
    }
    if (part_number > 0)
        (void)snprintf(out, cap, "partNumber=%d&uploadId=%s", part_number, esc);
    else
        (void)snprintf(out, cap, "uploadId=%s", esc);
    curl_free(esc);
}

/* Upload ids come from the server; they go into URLs and logs. */
static bool
upload_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= S3_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] <= 0x20 || id[i] == 0x7f)
            return false;
    return true;
}

static tgh_err
mp_create(struct s3_store *s3, const struct media_put *p, char **id)
{
    struct body b = { .fd = -1, .data = (const unsigned char *)"" };
    struct req rq = { .method = "POST",
                      .key = p->key,
                      .query = "uploads=",
                      .content_type =
                          p->content_type != NULL ? p->content_type : "application/octet-stream",
                      .body = &b };
    struct resp rs = { 0 };
    char t[S3_ID_MAX];
    tgh_err e = request(s3, &rq, &rs);
    if (e == TGH_OK) {
        xmlDocPtr doc = xml_parse(&rs);
        xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
        if (root == NULL || !xml_text(root, "UploadId", t, sizeof t) || !upload_id_ok(t))
            e = tgh_errf(TGH_EPROTO, "media store s3: no UploadId in the answer to %s %s/%.200s",
                         rq.method, s3->bucket, p->key);
        else
            *id = tgh_strdup(t);
        xmlFreeDoc(doc);
    }
    resp_fini(&rs);
    return e;
}

/* Mark the parts one ListParts page lists with the right size; *next: 0 when done. */
static tgh_err
mp_list_page(struct s3_store *s3, const struct resp *rs, const char *key, struct part *parts, int n,
             int64_t *next)
{
    xmlDocPtr doc = xml_parse(rs);
    xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    tgh_err e = TGH_OK;
    char t[16];
    if (root == NULL || strcmp((const char *)root->name, "ListPartsResult") != 0) {
        e = tgh_errf(TGH_EPROTO, "media store s3: ListParts of %s/%.200s: not a ListPartsResult",
                     s3->bucket, key);
        goto out;
    }
    for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
        int64_t num, size;
        char etag[S3_ETAG_MAX];
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Part") != 0)
            continue;
        if (!xml_int(c, "PartNumber", &num) || !xml_int(c, "Size", &size) ||
            !xml_text(c, "ETag", etag, sizeof etag) || etag[0] == '\0') {
            e = tgh_errf(TGH_EPROTO, "media store s3: ListParts of %s/%.200s: a bad Part",
                         s3->bucket, key);
            goto out;
        }
        if (num >= 1 && num <= n && parts[num - 1].size == size) {
            parts[num - 1].is_stored = true;
            copy_printable(parts[num - 1].etag, sizeof parts[num - 1].etag, etag, strlen(etag));
        }
    }
    *next = 0;
    if (xml_text(root, "IsTruncated", t, sizeof t) && strcmp(t, "true") == 0 &&
        (!xml_int(root, "NextPartNumberMarker", next) || *next <= 0 || *next >= S3_PARTS_MAX))
        e = tgh_errf(TGH_EPROTO, "media store s3: ListParts of %s/%.200s: truncated, no marker",
                     s3->bucket, key);
out:
    xmlFreeDoc(doc);
    return e;
}

/*
 * Which parts of upload id the server holds. *is_live false when the upload
 * is gone (NoSuchUpload) or the server cannot list parts (s3rver 3.7.1
 * answers 405 MethodNotAllowed to ListParts): the caller begins anew.
 */
static tgh_err
mp_list(struct s3_store *s3, const char *key, const char *id, struct part *parts, int n,
        bool *is_live)
{
    char *esc = curl_easy_escape(s3->curl, id, 0);
    char query[S3_ID_MAX * 3 + 64];
    int64_t marker = 0;
    tgh_err e = TGH_OK;
    *is_live = false;
    if (esc == NULL)
        return tgh_errf(TGH_ENOMEM, "media store s3: no memory");
    do {
        struct req rq = { .method = "GET", .key = key, .query = query };
        struct resp rs = { 0 };
        if (marker > 0)
            (void)snprintf(query, sizeof query, "part-number-marker=%" PRId64 "&uploadId=%s",
                           marker, esc);
        else
            (void)snprintf(query, sizeof query, "uploadId=%s", esc);
        e = request(s3, &rq, &rs);
        if (e == TGH_ENOTFOUND || rs.status == 405 || rs.status == 501) {
            tgh_err_clear();
            e = TGH_OK;
            for (int i = 0; i < n; i++)
                parts[i].is_stored = false;
            resp_fini(&rs);
            goto out;
        }
        if (e == TGH_OK)
            e = mp_list_page(s3, &rs, key, parts, n, &marker);
        resp_fini(&rs);
    } while (e == TGH_OK && marker > 0);
    *is_live = e == TGH_OK;
out:
    curl_free(esc);
    return e;
}

static tgh_err
mp_send_part(struct s3_store *s3, const struct media_put *p, int fd, const char *id, int num,
             struct part *pt)
{
    int64_t off = (int64_t)(num - 1) * s3->part_size;
    char sha[MEDIA_SHA256_HEX + 1], query[S3_ID_MAX * 3 + 64];
    tgh_err e = hash_range(s3, fd, off, pt->size, p->path, sha);
    if (e != TGH_OK)
        return e;
    query_upload(query, sizeof query, s3->curl, num, id);
    struct body b = { .fd = fd, .off = off, .len = pt->size };
    struct req rq = { .method = "PUT", .key = p->key, .query = query, .sha256 = sha, .body = &b };
    struct resp rs = { 0 };
    e = request(s3, &rq, &rs);
    if (e == TGH_ENOTFOUND) /* aborted or expired: a retry with this id begins anew */
        e = tgh_errf(TGH_EAGAIN, "media store s3: upload %.100s of %s/%.200s is gone (%s)", id,
                     s3->bucket, p->key, rs.code[0] ? rs.code : "HTTP 404");
    else if (e == TGH_OK && rs.etag[0] == '\0')
        e = tgh_errf(TGH_EPROTO, "media store s3: no ETag for part %d of %s/%.200s", num,
                     s3->bucket, p->key);
    else if (e == TGH_OK)
        memcpy(pt->etag, rs.etag, sizeof pt->etag);
    resp_fini(&rs);
    return e;
}

static void
xml_escaped(struct sbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '&')
            sb_str(b, "&amp;");
        else if (*s == '<')
            sb_str(b, "&lt;");
        else if (*s == '>')
            sb_str(b, "&gt;");
        else
            sb_add(b, s, 1);
    }
}

/* The answer to CompleteMultipartUpload: S3 may send an <Error> with status 200. */
static tgh_err
mp_completed(struct s3_store *s3, const struct req *rq, struct resp *rs)
{
    xmlDocPtr doc = xml_parse(rs);
    xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    tgh_err e = TGH_OK;
    if (root != NULL && strcmp((const char *)root->name, "Error") == 0) {
        xml_error(rs);
        bool is_transient =
            strcmp(rs->code, "InternalError") == 0 || strcmp(rs->code, "SlowDown") == 0;
        e = tgh_errf(is_transient ? TGH_EAGAIN : TGH_EINVAL,
                     "media store s3: %s %s/%.200s: %s: %s (in an HTTP %ld answer)", rq->method,
                     s3->bucket, rq->key, rs->code, rs->message, rs->status);
    } else if (root == NULL ||
               strcmp((const char *)root->name, "CompleteMultipartUploadResult") != 0) {
        e = tgh_errf(TGH_EPROTO,
                     "media store s3: %s %s/%.200s: not a CompleteMultipartUploadResult",
                     rq->method, s3->bucket, rq->key);
    }
    xmlFreeDoc(doc);
    return e;
}

static tgh_err
mp_complete(struct s3_store *s3, const char *key, const char *id, const struct part *parts, int n,
            int64_t size)
{
    struct sbuf x = { 0 };
    char sha[MEDIA_SHA256_HEX + 1], query[S3_ID_MAX * 3 + 64];
    sb_str(&x, "<CompleteMultipartUpload>");
    for (int i = 0; i < n; i++) {
        sb_fmt(&x, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        xml_escaped(&x, parts[i].etag);
        sb_str(&x, "</ETag></Part>");
    }
    sb_str(&x, "</CompleteMultipartUpload>");
    tgh_err e = sha256_mem(x.p, x.len, sha);
    if (e != TGH_OK)
        goto out;
    query_upload(query, sizeof query, s3->curl, 0, id);
    struct body b = { .fd = -1, .data = (const unsigned char *)x.p, .len = (int64_t)x.len };
    struct req rq = { .method = "POST",
                      .key = key,
                      .query = query,
                      .sha256 = sha,
                      .content_type = "application/xml",
                      .body = &b };
    struct resp rs = { 0 };
    e = request(s3, &rq, &rs);
    if (e == TGH_OK) {
        e = mp_completed(s3, &rq, &rs);
    } else if (e == TGH_ENOTFOUND) {
        /* Completed by an earlier try whose answer was lost? The key names its bytes. */
        struct req hq = { .method = "HEAD", .key = key };
        struct resp hs = { 0 };
        curl_off_t have = -1;
        if (perform(s3, &hq, &hs) == TGH_OK && hs.status == 200 &&
            curl_easy_getinfo(s3->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &have) == CURLE_OK &&
            have == size) {
            tgh_err_clear();
            e = TGH_OK;
        } else {
            e = tgh_errf(TGH_EAGAIN, "media store s3: upload %.100s of %s/%.200s is gone (%s)", id,
                         s3->bucket, key, rs.code[0] ? rs.code : "HTTP 404");
        }
        resp_fini(&hs);
    }
    resp_fini(&rs);
out:
    tgh_free(x.p);
    return e;
}

static tgh_err
put_multipart(struct s3_store *s3, const struct media_put *p, int fd, int64_t size,
              struct media_put_result *res)
{
    int64_t ps = s3->part_size, count = (size + ps - 1) / ps;
    if (count > S3_PARTS_MAX)
        return tgh_errf(TGH_ETOOBIG,
                        "media store s3: %s is %" PRId64 " bytes, more than %d parts of %" PRId64
                        " (raise part_size)",
                        p->path, size, S3_PARTS_MAX, ps);
    int n = (int)count;
    struct part *parts = tgh_calloc((size_t)n, sizeof *parts);
    char *id = NULL;
    bool is_live = false;
    tgh_err e = TGH_OK;
    for (int i = 0; i < n; i++)
        parts[i].size = i + 1 < n ? ps : size - (int64_t)i * ps;

    if (p->upload_id != NULL && p->upload_id[0] != '\0') {
        if (!upload_id_ok(p->upload_id)) {
            e = tgh_errf(TGH_EINVAL, "media store s3: bad upload id for %s", p->key);
            goto out;
        }
        e = mp_list(s3, p->key, p->upload_id, parts, n, &is_live);
        if (e != TGH_OK)
            goto out;
        if (is_live)
            id = tgh_strdup(p->upload_id);
    }
    if (id == NULL) {
        e = mp_create(s3, p, &id);
        if (e != TGH_OK)
            goto out;
        if (p->on_upload_id != NULL)
            p->on_upload_id(p->arg, id);
    }
    for (int i = 0; i < n; i++) {
        if (parts[i].is_stored) {
            res->parts_resumed++;
            continue;
        }
        e = mp_send_part(s3, p, fd, id, i + 1, &parts[i]);
        if (e != TGH_OK)
            goto out; /* the upload stays: a retry with its id resumes it */
        res->bytes_sent += parts[i].size;
    }
    e = mp_complete(s3, p->key, id, parts, n, size);
    if (e == TGH_OK)
        res->parts = n;
out:
    tgh_free(id);
    tgh_free(parts);
    return e;
}

/* ---- the operations ---- */

static tgh_err
s3_put(struct media_store *ms, const struct media_put *p, struct media_put_result *res)
{
    struct s3_store *s3 = s3_of(ms);
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tgh_errf(errno == ENOENT ? TGH_ENOTFOUND : TGH_EIO, "media store: %s: %s", p->path,
                        strerror(errno));
    struct stat sb;
    char sha[MEDIA_SHA256_HEX + 1];
    tgh_err e = TGH_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        e = tgh_errf(TGH_EINVAL, "media store: %s is not a regular file", p->path);
        goto out;
    }
    int64_t size = (int64_t)sb.st_size;
    if (size > s3->part_size) {
        e = put_multipart(s3, p, fd, size, res);
        goto out;
    }
    if (p->sha256 != NULL && !is_sha256_hex(p->sha256)) {
        e = tgh_errf(TGH_EINVAL, "media store s3: '%.80s' is not a SHA-256 for %s", p->sha256,
                     p->key);
        goto out;
    }
    if (p->sha256 != NULL)
        memcpy(sha, p->sha256, sizeof sha);
    else if ((e = hash_range(s3, fd, 0, size, p->path, sha)) != TGH_OK)
        goto out;
    struct body b = { .fd = fd, .len = size };
    struct req rq = { .method = "PUT",
                      .key = p->key,
                      .sha256 = sha,
                      .content_type =
                          p->content_type != NULL ? p->content_type : "application/octet-stream",
                      .body = &b };
    struct resp rs = { 0 };
    e = request(s3, &rq, &rs);
    if (e == TGH_ENOTFOUND) /* NoSuchBucket */
        e = TGH_EINVAL;
    if (e == TGH_OK)
        res->bytes_sent = size;
    resp_fini(&rs);
out:
    close(fd);
    return e;
}

static tgh_err
s3_put_bytes(struct media_store *ms, const char *key, const void *data, size_t len,
             const char *content_type, const char *sha256)
{
    struct s3_store *s3 = s3_of(ms);
    struct body b = { .fd = -1, .data = data, .len = (int64_t)len };
    struct req rq = { .method = "PUT",
                      .key = key,
                      .sha256 = sha256,
                      .content_type =
                          content_type != NULL ? content_type : "application/octet-stream",
                      .body = &b };
    struct resp rs = { 0 };
    tgh_err e = request(s3, &rq, &rs);
    if (e == TGH_ENOTFOUND)
        e = TGH_EINVAL;
    resp_fini(&rs);
    return e;
}

/* s3rver 3.7.1 answers 405 MethodNotAllowed: that is an error, the upload stays. */
static tgh_err
s3_abort(struct media_store *ms, const char *key, const char *upload_id)
{
    struct s3_store *s3 = s3_of(ms);
    char query[S3_ID_MAX * 3 + 64];
    if (!upload_id_ok(upload_id))
        return tgh_errf(TGH_EINVAL, "media store s3: bad upload id for %s", key);
    query_upload(query, sizeof query, s3->curl, 0, upload_id);
    struct req rq = { .method = "DELETE", .key = key, .query = query };
    struct resp rs = { 0 };
    tgh_err e = request(s3, &rq, &rs);
    if (e == TGH_ENOTFOUND) { /* NoSuchUpload: already gone */
        tgh_err_clear();
        e = TGH_OK;
    }
    resp_fini(&rs);
    return e;
}

static tgh_err
s3_stat(struct media_store *ms, const char *key, int64_t *size)
{
    struct s3_store *s3 = s3_of(ms);
    struct req rq = { .method = "HEAD", .key = key };
    struct resp rs = { 0 };
    curl_off_t len = -1;
    tgh_err e = request(s3, &rq, &rs);
    if (e == TGH_ENOTFOUND)
        e = tgh_errf(TGH_ENOTFOUND, "media store s3: no object %s/%.200s", s3->bucket, key);
    else if (e == TGH_OK &&
             (curl_easy_getinfo(s3->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) != CURLE_OK ||
              len < 0))
        e = tgh_errf(TGH_EPROTO, "media store s3: HEAD %s/%.200s: no Content-Length", s3->bucket,
                     key);
    else if (e == TGH_OK)
        *size = (int64_t)len;
    resp_fini(&rs);
    return e;
}

static tgh_err
s3_read(struct media_store *ms, const char *key, int64_t offset, int64_t len, media_read_fn fn,
        void *arg)
{
    struct s3_store *s3 = s3_of(ms);
    char range[64];
    struct req rq = { .method = "GET", .key = key };
    struct resp rs = { .fn = fn, .arg = arg, .left = len, .offset = offset };
    if (len > 0 && len <= INT64_MAX - offset) {
        (void)snprintf(range, sizeof range, "bytes=%" PRId64 "-%" PRId64, offset, offset + len - 1);
        rq.range = range;
    } else if (offset > 0) {
        (void)snprintf(range, sizeof range, "bytes=%" PRId64 "-", offset);
        rq.range = range;
    }
    tgh_err e = perform(s3, &rq, &rs);
    if (e == TGH_OK && rs.status == 416) {
        /* Every object but an empty one has byte 0. */
        if (offset == 0)
            e = TGH_OK;
        else
            e = tgh_errf(TGH_EINVAL, "media store s3: offset %" PRId64 " is past the end of %.200s",
                         offset, key);
    } else if (e == TGH_OK) {
        e = check(s3, &rq, &rs);
        if (e == TGH_ENOTFOUND)
            e = tgh_errf(TGH_ENOTFOUND, "media store s3: no object %s/%.200s", s3->bucket, key);
    }
    resp_fini(&rs);
    return e;
}

static tgh_err
s3_alias(struct media_store *ms, const char *key, const char *alias, bool *made)
{
    (void)ms;
    (void)key;
    (void)alias;
    *made = false; /* message.json names the object */
    return TGH_OK;
}

static tgh_err
s3_remove(struct media_store *ms, const char *key)
{
    struct s3_store *s3 = s3_of(ms);
    struct req rq = { .method = "DELETE", .key = key };
    struct resp rs = { 0 };
    tgh_err e = request(s3, &rq, &rs);
    if (e == TGH_ENOTFOUND) {
        tgh_err_clear();
        e = TGH_OK;
    }
    resp_fini(&rs);
    return e;
}

static void
s3_close(struct media_store *ms)
{
    struct s3_store *s3 = s3_of(ms);
    if (s3->curl != NULL)
        curl_easy_cleanup(s3->curl);
    if (s3->secret != NULL)
        explicit_bzero(s3->secret, strlen(s3->secret));
    if (s3->token != NULL)
        explicit_bzero(s3->token, strlen(s3->token));
    tgh_free(s3->endpoint);
    tgh_free(s3->bucket);
    tgh_free(s3->prefix);
    tgh_free(s3->key_id);
    tgh_free(s3->secret);
    tgh_free(s3->token);
    tgh_free(s3->hashbuf);
    tgh_free(s3);
}

static const struct media_ops s3_ops = {
    .kind = "s3",
    .close = s3_close,
    .put = s3_put,
    .put_bytes = s3_put_bytes,
    .abort = s3_abort,
    .stat = s3_stat,
    .read = s3_read,
    .alias = s3_alias,
    .remove = s3_remove,
};

/* ---- the URL ---- */

static bool
bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
              b[i] == '-'))
            return false;
    return true;
}

static bool
region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return false;
    return true;
}

/* http(s)://host[:port][/path], no userinfo, query or spaces; trailing '/' cut. */
static bool
endpoint_ok(char *e)
{
    size_t n = strlen(e);
    const char *host;
    if (strncmp(e, "http://", 7) == 0)
        host = e + 7;
    else if (strncmp(e, "https://", 8) == 0)
        host = e + 8;
    else
        return false;
    if (n > 512 || host[0] == '\0' || host[0] == '/' || host[0] == ':')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] <= 0x20 || e[i] == 0x7f || e[i] == '?' || e[i] == '#' ||
            e[i] == '@')
            return false;
    while (n > (size_t)(host - e) && e[n - 1] == '/')
        e[--n] = '\0';
    return true;
}

/* Bytes with an optional K, M or G (1024-based). */
static bool
parse_size(const char *s, int64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    if (errno != 0)
        return false;
    if ((*end == 'K' || *end == 'k') && end[1] == '\0')
        shift = 10;
    else if ((*end == 'M' || *end == 'm') && end[1] == '\0')
        shift = 20;
    else if ((*end == 'G' || *end == 'g') && end[1] == '\0')
        shift = 30;
    else if (*end != '\0')
        return false;
    if (v > (unsigned long long)(S3_PART_MAX >> shift))
        v = (unsigned long long)S3_PART_MAX + 1;
    else
        v <<= shift;
    *out = (int64_t)v;
    return true;
}

/* Percent-decode a query value in place; false on a bad escape or a NUL. */
static bool
unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        unsigned v = 0;
        for (int i = 1; i <= 2; i++) {
            char c = r[i];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return false;
        }
        if (v == 0)
            return false;
        *w++ = (char)v;
        r += 2;
    }
    *w = '\0';
    return true;
}

struct s3_conf {
    char *endpoint, *region, *prefix, *part_size;
};

/* One "name=value" of the query into c. */
static tgh_err
conf_set(struct s3_conf *c, char *kv)
{
    static const struct {
        const char *name;
        size_t off;
    } params[] = {
        { "endpoint", offsetof(struct s3_conf, endpoint) },
        { "part_size", offsetof(struct s3_conf, part_size) },
        { "prefix", offsetof(struct s3_conf, prefix) },
        { "region", offsetof(struct s3_conf, region) },
    };
    char *eq = strchr(kv, '=');
    if (eq == NULL)
        return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: '%.100s' is not name=value", kv);
    *eq = '\0';
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (strcmp(kv, params[i].name) != 0)
            continue;
        char **slot = (char **)((char *)c + params[i].off);
        if (*slot != NULL)
            return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: %s given twice", kv);
        if (!unescape(eq + 1))
            return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: bad %%-escape in %s", kv);
        *slot = eq + 1;
        return TGH_OK;
    }
    return tgh_errf(TGH_EINVAL,
                    "TGH_MEDIA s3: unknown parameter '%.100s' (want endpoint, region, prefix, "
                    "part_size)",
                    kv);
}

/* Check and take the parts of c into s3. */
static tgh_err
conf_apply(struct s3_conf *c, struct s3_store *s3)
{
    if (c->endpoint == NULL || !endpoint_ok(c->endpoint))
        return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: endpoint=http://HOST:PORT (or https://) is "
                                    "required");
    if (c->region == NULL)
        c->region = "us-east-1";
    if (!region_ok(c->region))
        return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: bad region '%.40s'", c->region);
    if (c->prefix != NULL) {
        size_t n = strlen(c->prefix);
        if (n > 0 && c->prefix[n - 1] == '/')
            c->prefix[n - 1] = '\0';
        if (!media_key_valid(c->prefix))
            return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: prefix '%.200s' is not a safe key prefix",
                            c->prefix);
    }
    s3->part_size = MEDIA_PART_DEFAULT;
    if (c->part_size != NULL && (!parse_size(c->part_size, &s3->part_size) ||
                                 s3->part_size < MEDIA_PART_MIN || s3->part_size > S3_PART_MAX))
        return tgh_errf(TGH_EINVAL,
                        "TGH_MEDIA s3: part_size '%.40s' must be bytes (K, M, G) from %d (5M) to "
                        "5G",
                        c->part_size, MEDIA_PART_MIN);
    (void)snprintf(s3->sigv4, sizeof s3->sigv4, "aws:amz:%s:s3", c->region);
    s3->endpoint = tgh_strdup(c->endpoint);
    s3->prefix = c->prefix != NULL ? tgh_strdup(c->prefix) : NULL;
    return TGH_OK;
}

static tgh_err
parse_url(const char *rest, struct s3_store *s3)
{
    char *s = tgh_strdup(rest), *q = strchr(s, '?');
    struct s3_conf c = { 0 };
    tgh_err e = TGH_OK;
    if (q != NULL)
        *q++ = '\0';
    if (!bucket_ok(s)) {
        e = tgh_errf(TGH_EINVAL,
                     "TGH_MEDIA s3://%.100s: the bucket must be 3 to 63 of [a-z0-9.-] (a prefix "
                     "goes in &prefix=)",
                     s);
        goto out;
    }
    s3->bucket = tgh_strdup(s);
    for (char *kv = q; kv != NULL && e == TGH_OK;) {
        char *amp = strchr(kv, '&');
        if (amp != NULL)
            *amp++ = '\0';
        if (kv[0] != '\0')
            e = conf_set(&c, kv);
        kv = amp;
    }
    if (e == TGH_OK)
        e = conf_apply(&c, s3);
out:
    tgh_free(s);
    return e;
}

/* Credentials are read once, at open. */
static tgh_err
take_credentials(struct s3_store *s3)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY"),
               *token = getenv("AWS_SESSION_TOKEN");
    if (id == NULL || id[0] == '\0' || secret == NULL || secret[0] == '\0')
        return tgh_errf(TGH_EINVAL,
                        "TGH_MEDIA s3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set");
    if (token != NULL && token[0] != '\0') {
        for (const char *t = token; *t != '\0'; t++)
            if ((unsigned char)*t < 0x20 || *t == 0x7f)
                return tgh_errf(TGH_EINVAL, "TGH_MEDIA s3: AWS_SESSION_TOKEN holds a control "
                                            "character");
        struct sbuf b = { 0 };
        sb_str(&b, "x-amz-security-token: ");
        sb_str(&b, token);
        s3->token = b.p;
    }
    s3->key_id = tgh_strdup(id);
    s3->secret = tgh_strdup(secret);
    return TGH_OK;
}

tgh_err
media_s3_open(const char *rest, struct media_store **out)
{
    *out = NULL;
    (void)pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return tgh_errf(TGH_ENOMEM, "media store s3: curl_global_init: %s",
                        curl_easy_strerror(global_rc));
    struct s3_store *s3 = tgh_calloc(1, sizeof *s3);
    s3->base.ops = &s3_ops;
    tgh_err e = parse_url(rest, s3);
    if (e == TGH_OK)
        e = take_credentials(s3);
    if (e == TGH_OK && (s3->curl = curl_easy_init()) == NULL)
        e = tgh_errf(TGH_ENOMEM, "media store s3: curl_easy_init failed");
    if (e != TGH_OK) {
        s3_close(&s3->base);
        return e;
    }
    s3->hashbuf = tgh_malloc(S3_HASH_BUF);
    *out = &s3->base;
    return TGH_OK;
}
