/* SPDX-License-Identifier: MIT */
/*
 * api_auth.c - API keys and roles. Keys are kept only as SHA-256 digests;
 * a presented key is hashed and compared with every digest with
 * CRYPTO_memcmp, so neither a key's bytes nor its length shape the time an
 * answer takes. Keys never reach a log or an error message: errors name the
 * entry by its position.
 */
#include "api/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/api_int.h"
#include "api/api_req_int.h"
#include "core/alloc.h"

#define TGH_LOG_SUB "api"
#include "core/log.h"

#define KEY_MIN       16
#define KEY_MAX       256
#define KEYS_MAX      1024
#define KEY_FILE_MAX  (1 << 20)
#define DIGEST_LEN    32
#define GEN_KEY_BYTES 24

struct api_key {
    unsigned char digest[DIGEST_LEN];
    enum api_role role;
};

struct api_keys {
    struct api_key *k;
    size_t n;
};

const char *
api_role_name(enum api_role r)
{
    switch (r) {
    case API_ROLE_READ:
        return "read";
    case API_ROLE_ADMIN:
        return "admin";
    case API_ROLE_NONE:
        break;
    }
    return "none";
}

static void
digest(const char *key, size_t len, unsigned char out[DIGEST_LEN])
{
    unsigned int n = DIGEST_LEN;

    (void)EVP_Digest(key, len, out, &n, EVP_sha256(), NULL);
}

/* One "KEY:ROLE" entry (len bytes, trimmed by the caller). */
static tgh_err
key_add(struct api_keys *ks, const char *e, size_t len, const char *where, size_t pos)
{
    const char *colon = memchr(e, ':', len);
    size_t klen, rlen;
    const char *role;
    enum api_role r;

    if (colon == NULL)
        return tgh_errf(TGH_EINVAL, "%s, entry %zu: not KEY:ROLE", where, pos);
    klen = (size_t)(colon - e);
    role = colon + 1;
    rlen = len - klen - 1;
    if (rlen == 4 && strncmp(role, "read", 4) == 0)
        r = API_ROLE_READ;
    else if (rlen == 5 && strncmp(role, "admin", 5) == 0)
        r = API_ROLE_ADMIN;
    else
        return tgh_errf(TGH_EINVAL, "%s, entry %zu: the role must be read or admin", where, pos);
    if (klen < KEY_MIN || klen > KEY_MAX)
        return tgh_errf(TGH_EINVAL, "%s, entry %zu: a key has %d to %d characters", where, pos,
                        KEY_MIN, KEY_MAX);
    for (size_t i = 0; i < klen; i++)
        if ((unsigned char)e[i] <= ' ' || (unsigned char)e[i] >= 0x7f || e[i] == ',')
            return tgh_errf(TGH_EINVAL,
                            "%s, entry %zu: a key is printable ASCII without spaces, ':' or ','",
                            where, pos);
    if (ks->n == KEYS_MAX)
        return tgh_errf(TGH_ETOOBIG, "more than %d API keys", KEYS_MAX);
    ks->k = tgh_realloc(ks->k, (ks->n + 1) * sizeof(*ks->k));
    digest(e, klen, ks->k[ks->n].digest);
    ks->k[ks->n].role = r;
    ks->n++;
    return TGH_OK;
}

/* Entries separated by any of seps, blanks around them ignored, # to end of line a comment. */
static tgh_err
parse_entries(struct api_keys *ks, const char *text, size_t len, const char *seps,
              const char *where)
{
    size_t pos = 0, i = 0;
    tgh_err rc = TGH_OK;

    while (i < len && rc == TGH_OK) {
        size_t start = i, end;

        while (i < len && strchr(seps, text[i]) == NULL && text[i] != '\0')
            i++;
        end = i;
        if (i < len)
            i++;
        {
            const char *hash = memchr(text + start, '#', end - start);

            if (hash != NULL && strchr(seps, '\n') != NULL)
                end = (size_t)(hash - text);
        }
        while (start < end && (text[start] == ' ' || text[start] == '\t' || text[start] == '\r'))
            start++;
        while (end > start &&
               (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r'))
            end--;
        if (end == start)
            continue;
        rc = key_add(ks, text + start, end - start, where, ++pos);
    }
    return rc;
}

static tgh_err
read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text;
    size_t n;

    if (f == NULL)
        return tgh_errf(errno == ENOENT ? TGH_ENOTFOUND : TGH_EIO, "%s: %s", path, strerror(errno));
    text = tgh_malloc(KEY_FILE_MAX + 1);
    n = fread(text, 1, KEY_FILE_MAX + 1, f);
    (void)fclose(f);
    if (n > KEY_FILE_MAX) {
        tgh_free(text);
        return tgh_errf(TGH_ETOOBIG, "%s: larger than %d bytes", path, KEY_FILE_MAX);
    }
    text[n] = '\0';
    *out = text;
    *len = n;
    return TGH_OK;
}

tgh_err
api_keys_parse(const char *text, size_t len, bool lines, struct api_keys **out)
{
    struct api_keys *ks = tgh_calloc(1, sizeof(*ks));
    tgh_err rc = parse_entries(ks, text, len, lines ? "\n" : ",", lines ? "key file" : "key list");

    if (rc != TGH_OK) {
        api_keys_free(ks);
        return rc;
    }
    *out = ks;
    return TGH_OK;
}

tgh_err
api_keys_load(const char *list, const char *file, struct api_keys **out)
{
    struct api_keys *ks = tgh_calloc(1, sizeof(*ks));
    tgh_err rc = TGH_OK;

    if (list != NULL && *list != '\0')
        rc = parse_entries(ks, list, strlen(list), ",", "TGH_API_KEYS");
    if (rc == TGH_OK && file != NULL && *file != '\0') {
        char *text = NULL;
        size_t len = 0;

        rc = read_file(file, &text, &len);
        if (rc == TGH_OK)
            rc = parse_entries(ks, text, len, "\n", file);
        if (text != NULL)
            OPENSSL_cleanse(text, len);
        tgh_free(text);
    }
    if (rc != TGH_OK) {
        api_keys_free(ks);
        return rc;
    }
    *out = ks;
    return TGH_OK;
}

void
api_keys_free(struct api_keys *k)
{
    if (k == NULL)
        return;
    tgh_free(k->k);
    tgh_free(k);
}

size_t
api_keys_count(const struct api_keys *k)
{
    return k != NULL ? k->n : 0;
}

enum api_role
api_keys_role(const struct api_keys *k, const char *key, size_t len)
{
    unsigned char d[DIGEST_LEN];
    enum api_role role = API_ROLE_NONE;

    if (k == NULL || len == 0 || len > KEY_MAX)
        return API_ROLE_NONE;
    digest(key, len, d);
    /* Every digest is compared, whether or not one matched already. */
    for (size_t i = 0; i < k->n; i++)
        if (CRYPTO_memcmp(d, k->k[i].digest, DIGEST_LEN) == 0)
            role = k->k[i].role;
    return role;
}

/* ---- the server's side ---- */

/*
 * No key configured: DATA_DIR/api-keys, made once with one random admin key
 * (mode 0600, created exclusively so two starts cannot both write it).
 */
static tgh_err
default_keys_file(struct api_server *s, char *path, size_t cap)
{
    unsigned char raw[GEN_KEY_BYTES];
    char key[GEN_KEY_BYTES * 2 + 1], line[GEN_KEY_BYTES * 2 + 64];
    int fd, n;

    if (mkdir(s->cfg->data_dir, 0700) != 0 && errno != EEXIST)
        return tgh_errf(TGH_EIO, "%s: %s", s->cfg->data_dir, strerror(errno));
    (void)snprintf(path, cap, "%s/api-keys", s->cfg->data_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return TGH_OK;
        return tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        (void)close(fd);
        (void)unlink(path);
        return tgh_errf(TGH_EIO, "no random bytes for an API key");
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        (void)snprintf(key + 2 * i, 3, "%02x", raw[i]);
    n = snprintf(line, sizeof(line), "# made by tgharvest: KEY:ROLE lines\n%s:admin\n", key);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        (void)close(fd);
        (void)unlink(path);
        return tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
    }
    if (close(fd) != 0)
        return tgh_errf(TGH_EIO, "%s: %s", path, strerror(errno));
    s->generated_key = tgh_strdup(key);
    OPENSSL_cleanse(line, sizeof(line));
    log_info("no API key was configured: made one admin key in %s", path);
    return TGH_OK;
}

/* The generated key again (a later start): the file's only admin key, when it is ours. */
static void
reread_generated(struct api_server *s, const char *path)
{
    char *text = NULL, *nl;
    size_t len = 0;

    if (read_file(path, &text, &len) != TGH_OK)
        return;
    if (strncmp(text, "# made by tgharvest", 19) == 0 && (nl = strchr(text, '\n')) != NULL) {
        char *line = nl + 1, *colon = strchr(line, ':');

        if (colon != NULL && strncmp(colon, ":admin\n", 7) == 0 && colon[7] == '\0')
            s->generated_key = tgh_strndup(line, (size_t)(colon - line));
    }
    OPENSSL_cleanse(text, len);
    tgh_free(text);
}

tgh_err
api_auth_setup(struct api_server *s)
{
    const struct tgh_config *cfg = s->cfg;
    const char *file = cfg->api_keys_file;
    char path[1024];
    tgh_err rc;

    if (strcmp(cfg->api_open_loopback, "none") == 0)
        s->open_role = API_ROLE_NONE;
    else if (strcmp(cfg->api_open_loopback, "read") == 0)
        s->open_role = API_ROLE_READ;
    else if (strcmp(cfg->api_open_loopback, "admin") == 0)
        s->open_role = API_ROLE_ADMIN;
    else
        return tgh_errf(TGH_EINVAL, "TGH_API_OPEN_LOOPBACK must be none, read or admin");
    if (*cfg->api_keys == '\0' && *file == '\0') {
        rc = default_keys_file(s, path, sizeof(path));
        if (rc != TGH_OK)
            return rc;
        file = path;
        if (s->generated_key == NULL)
            reread_generated(s, path);
    }
    rc = api_keys_load(cfg->api_keys, file, &s->keys);
    if (rc != TGH_OK)
        return tgh_errf(rc, "API keys: %s", tgh_errmsg());
    return TGH_OK;
}

static bool
is_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
    }
    return false;
}

enum api_role
api_auth_role(struct api_req *r, bool *bad_key)
{
    const char *key = api_header(r, "X-API-Key");
    const char *auth = api_header(r, "Authorization");
    enum api_role role;

    if (key == NULL && auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        key = auth + 7;
        while (*key == ' ')
            key++;
    }
    if (key == NULL)
        return is_loopback(r->conn) ? r->srv->open_role : API_ROLE_NONE;
    role = api_keys_role(r->srv->keys, key, strlen(key));
    *bad_key = role == API_ROLE_NONE;
    return role;
}
