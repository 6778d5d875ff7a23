/* SPDX-License-Identifier: MIT */
/*
 * config.c - the configuration table and the .env parser.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"

#define TGH_LOG_SUB "config"

extern char **environ;

enum cfg_type { CFG_STR, CFG_INT, CFG_LOGLEVEL };

struct cfg_param {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;
    int64_t min, max; /* CFG_INT */
    const char *doc;
};

/* Sorted by name. */
static const struct cfg_param params[] = {
    { "TGH_ACCOUNT", CFG_STR, offsetof(struct tgh_config, account), "default", 0, 0,
      "account used when a command names none" },
    { "TGH_API_KEYS", CFG_STR, offsetof(struct tgh_config, api_keys), "", 0, 0,
      "HTTP API keys, KEY:ROLE[,KEY:ROLE...], role read or admin (secret)" },
    { "TGH_API_KEYS_FILE", CFG_STR, offsetof(struct tgh_config, api_keys_file), "", 0, 0,
      "file of KEY:ROLE lines (# comments); empty with no TGH_API_KEYS: DATA_DIR/api-keys, "
      "created with one admin key" },
    { "TGH_API_OPEN_LOOPBACK", CFG_STR, offsetof(struct tgh_config, api_open_loopback), "none", 0,
      0, "role of requests without a key from 127.0.0.1/::1: none, read or admin" },
    { "TGH_BACKFILL_INTERVAL", CFG_INT, offsetof(struct tgh_config, backfill_interval), "3600", 10,
      86400 * 7, "seconds between the daemon's backfill passes" },
    { "TGH_BACKFILL_LIMIT", CFG_INT, offsetof(struct tgh_config, backfill_limit), "200", 0,
      INT32_MAX, "older messages fetched per chat and pass (0: no limit)" },
    { "TGH_BATCH_SIZE", CFG_INT, offsetof(struct tgh_config, batch_size), "500", 1, 100000,
      "events per store transaction" },
    { "TGH_BATCH_WAIT_MS", CFG_INT, offsetof(struct tgh_config, batch_wait_ms), "200", 1, 60000,
      "milliseconds a worker waits to fill a batch before committing what it has" },
    { "TGH_BOT_ALBUM_WAIT_MS", CFG_INT, offsetof(struct tgh_config, bot_album_wait_ms), "1500", 0,
      60000, "milliseconds the bot waits for the rest of an album after its last part" },
    { "TGH_BOT_API_URL", CFG_STR, offsetof(struct tgh_config, bot_api_url),
      "https://api.telegram.org", 0, 0,
      "Bot API server of the archive bot (Telegram's, or a local telegram-bot-api)" },
    { "TGH_BOT_FILE_LIMIT", CFG_INT, offsetof(struct tgh_config, bot_file_limit), "20971520", 0,
      INT64_C(4) << 30,
      "largest file the bot downloads through getFile (the Bot API's limit); larger ones go "
      "to the TDLib account of TGH_BOT_RELAY" },
    { "TGH_BOT_POLL_TIMEOUT", CFG_INT, offsetof(struct tgh_config, bot_poll_timeout), "30", 0, 600,
      "seconds a getUpdates long poll waits for updates" },
    { "TGH_BOT_RELAY", CFG_INT, offsetof(struct tgh_config, bot_relay), "0", 0, INT64_C(1) << 52,
      "user id of the TDLib account that downloads files over TGH_BOT_FILE_LIMIT (it must have "
      "started the bot); 0: such files fail with the reason" },
    { "TGH_BOT_TOKEN", CFG_STR, offsetof(struct tgh_config, archive_bot_token), "", 0, 0,
      "the archive bot's token from @BotFather (secret)" },
    { "TGH_BOT_WHITELIST", CFG_STR, offsetof(struct tgh_config, bot_whitelist), "", 0, 0,
      "user ids allowed to use the archive bot, comma-separated (empty: nobody)" },
    { "TGH_CACHE", CFG_STR, offsetof(struct tgh_config, cache_url), "none", 0, 0,
      "none, or redis://[:password@]host:port[/db] (dedup and recent-message cache)" },
    { "TGH_DATA_DIR", CFG_STR, offsetof(struct tgh_config, data_dir), "data", 0, 0,
      "folder of the accounts (TDLib sessions)" },
    { "TGH_DB_KEY", CFG_STR, offsetof(struct tgh_config, db_key), "", 0, 0,
      "TDLib database encryption key (secret)" },
    { "TGH_ENV_FILE", CFG_STR, offsetof(struct tgh_config, env_file), ".env", 0, 0,
      ".env-style file read at start when it exists" },
    { "TGH_FRESHNESS_SLO", CFG_INT, offsetof(struct tgh_config, freshness_slo), "600", 1,
      30 * 86400,
      "seconds a tracked chat's newest message may be old before the report calls it stale" },
    { "TGH_GAPFILL_INTERVAL", CFG_INT, offsetof(struct tgh_config, gapfill_interval), "1800", 1,
      86400, "seconds between gap-fill passes" },
    { "TGH_GAP_CHECK_IDS", CFG_INT, offsetof(struct tgh_config, gap_check_ids), "2000", 100,
      1000000,
      "missing message ids a gap check asks Telegram about, per chat and check (the rest stays "
      "unknown until the next)" },
    { "TGH_GAP_CHECK_INTERVAL", CFG_INT, offsetof(struct tgh_config, gap_check_interval), "3600", 0,
      7 * 86400,
      "seconds between the daemon's gap checks (also after every reconnect); 0: only after "
      "reconnects" },
    { "TGH_HISTORY_RATE", CFG_INT, offsetof(struct tgh_config, history_rate), "60", 0, 60000,
      "history requests per minute and account (0: unlimited)" },
    { "TGH_HTTP_ADDR", CFG_STR, offsetof(struct tgh_config, http_addr), "127.0.0.1:8080", 0, 0,
      "address of the HTTP API and dashboard, host:port ([v6]:port); off: none in run" },
    { "TGH_HTTP_MAX_CONNECTIONS", CFG_INT, offsetof(struct tgh_config, http_max_connections), "256",
      4, 100000, "HTTP connections served at once (each has a thread)" },
    { "TGH_HTTP_TIMEOUT", CFG_INT, offsetof(struct tgh_config, http_timeout), "30", 1, 3600,
      "seconds an idle HTTP connection is kept" },
    { "TGH_IMPORT_TZ", CFG_STR, offsetof(struct tgh_config, import_tz), "UTC", 0, 0,
      "time zone of export dates that lack date_unixtime" },
    { "TGH_LOG_LEVEL", CFG_LOGLEVEL, offsetof(struct tgh_config, log_level), "info", 0, 0,
      "error, warn, info or debug" },
    { "TGH_MEDIA", CFG_STR, offsetof(struct tgh_config, media_url), "file://data/media", 0, 0,
      "media store: file://FOLDER, s3://BUCKET?endpoint=URL&region=R[&prefix=P], or off" },
    { "TGH_MEDIA_ATTEMPTS", CFG_INT, offsetof(struct tgh_config, media_attempts), "5", 1, 100,
      "download attempts of a media file before its job fails" },
    { "TGH_MEDIA_DOWNLOADS", CFG_INT, offsetof(struct tgh_config, media_downloads), "2", 1, 16,
      "media downloads at once per account" },
    { "TGH_MEDIA_HISTORY", CFG_STR, offsetof(struct tgh_config, media_history), "7d", 0, 0,
      "media of history: all, none, or Nd (messages at most N days older than the chat's "
      "tracking)" },
    { "TGH_MEDIA_KINDS", CFG_STR, offsetof(struct tgh_config, media_kinds),
      "photo,video,animation,audio,voice,video_note,document", 0, 0,
      "media kinds kept (also sticker, other; all; none)" },
    { "TGH_MEDIA_MAX_SIZE", CFG_STR, offsetof(struct tgh_config, media_max_size), "100M", 0, 0,
      "largest media file kept, bytes or with K, M, G; 0: no limit" },
    { "TGH_MEDIA_RETRY", CFG_INT, offsetof(struct tgh_config, media_retry_s), "30", 1, 3600,
      "seconds before a failed media download is tried again, doubling per attempt up to an "
      "hour" },
    { "TGH_MEDIA_THUMBS", CFG_STR, offsetof(struct tgh_config, media_thumbs), "", 0, 0,
      "media kinds of which only the thumbnail is kept" },
    { "TGH_METRICS_ADDR", CFG_STR, offsetof(struct tgh_config, metrics_addr), "", 0, 0,
      "host:port where work serves /metrics, /healthz and /readyz (empty: none)" },
    { "TGH_OFFLINE_TIMEOUT", CFG_INT, offsetof(struct tgh_config, offline_timeout), "120", 1, 86400,
      "seconds collect --once waits for a lost connection before failing its chats" },
    { "TGH_PREFETCH", CFG_INT, offsetof(struct tgh_config, prefetch), "0", 0, 65535,
      "deliveries (pages) a worker holds unacked (0: a fifth of the batch size, at least 16)" },
    { "TGH_QUEUE", CFG_STR, offsetof(struct tgh_config, queue_url), "memory", 0, 0,
      "memory (in process), or amqp://user:password@host:port/vhost (RabbitMQ)" },
    { "TGH_RECONCILE_HOURS", CFG_INT, offsetof(struct tgh_config, reconcile_hours), "24", 0,
      24 * 365, "hours of recent history the reconcile sweep re-reads (0: none)" },
    { "TGH_RECONCILE_INTERVAL", CFG_INT, offsetof(struct tgh_config, reconcile_interval), "21600",
      10, 86400 * 7, "seconds between reconcile sweeps" },
    { "TGH_RETENTION_DAYS", CFG_INT, offsetof(struct tgh_config, retention_days), "0", 0,
      TGH_RETENTION_DAYS_MAX, "days of messages kept, in whole months (0: keep forever)" },
    { "TGH_STORE", CFG_STR, offsetof(struct tgh_config, store_url), "sqlite://data/tgharvest.db", 0,
      0, "message store URL" },
    { "TGH_STREAM_BUFFER", CFG_INT, offsetof(struct tgh_config, stream_buffer), "10000", 16,
      10000000, "changes the live stream keeps for clients resuming with Last-Event-ID" },
    { "TGH_STREAM_MAX_CLIENTS", CFG_INT, offsetof(struct tgh_config, stream_max_clients), "64", 1,
      10000, "live-stream clients served at once" },
    { "TGH_TDJSON", CFG_STR, offsetof(struct tgh_config, tdjson_path), "", 0, 0,
      "path of TDLib's libtdjson.so (empty: the one scripts/deps.sh installs)" },
    { "TGH_VERIFY_RECENT", CFG_INT, offsetof(struct tgh_config, verify_recent), "100", 0, 10000,
      "newest stored messages of a chat a gap check asks about again, to find deletions it never "
      "heard of (while disconnected)" },
    { "TG_API_HASH", CFG_STR, offsetof(struct tgh_config, api_hash), "", 0, 0,
      "Telegram API hash from my.telegram.org (secret)" },
    { "TG_API_ID", CFG_INT, offsetof(struct tgh_config, api_id), "0", 0, INT32_MAX,
      "Telegram API id from my.telegram.org" },
    { "TG_BOT_TOKEN", CFG_STR, offsetof(struct tgh_config, bot_token), "", 0, 0,
      "log in as this bot instead of a phone number (secret)" },
    { "TG_CODE_FILE", CFG_STR, offsetof(struct tgh_config, code_file), "", 0, 0,
      "file the login code is read from (waited for) instead of a prompt" },
    { "TG_PASSWORD", CFG_STR, offsetof(struct tgh_config, password), "", 0, 0,
      "two-step verification password for login (secret)" },
    { "TG_PHONE", CFG_STR, offsetof(struct tgh_config, phone), "", 0, 0,
      "phone number for login, international format" },
};

#define NPARAMS (TGH_NELEM(params))

const char *const *
tgh_config_keys(void)
{
    static const char *keys[NPARAMS + 1];

    for (size_t i = 0; i < NPARAMS; i++)
        keys[i] = params[i].name;
    keys[NPARAMS] = NULL;
    return keys;
}

static const struct cfg_param *
param_find(const char *name)
{
    for (size_t i = 0; i < NPARAMS; i++)
        if (strcmp(params[i].name, name) == 0)
            return &params[i];
    return NULL;
}

static tgh_err
param_set(struct tgh_config *cfg, const struct cfg_param *p, const char *value)
{
    char *field = (char *)cfg + p->offset;

    switch (p->type) {
    case CFG_STR: {
        char **s = (char **)(void *)field;

        tgh_free(*s);
        *s = tgh_strdup(value);
        return TGH_OK;
    }
    case CFG_INT: {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < p->min || v > p->max)
            return tgh_errf(TGH_EINVAL, "%s: '%s' is not an integer in %" PRId64 "..%" PRId64,
                            p->name, value, p->min, p->max);
        *(int64_t *)(void *)field = v;
        return TGH_OK;
    }
    case CFG_LOGLEVEL: {
        enum tgh_log_level lv;

        if (tgh_log_level_parse(value, &lv) != TGH_OK)
            return tgh_errf(TGH_EINVAL, "%s: %s", p->name, tgh_errmsg());
        *(enum tgh_log_level *)(void *)field = lv;
        return TGH_OK;
    }
    }
    return TGH_EINVAL;
}

static tgh_err
file_pair(void *arg, const char *key, const char *value, int line)
{
    struct tgh_config *cfg = arg;
    const struct cfg_param *p = param_find(key);

    if (p == NULL) {
        if (strncmp(key, "TGH_", 4) == 0)
            log_warn("%s:%d: unknown setting %s ignored", cfg->env_file, line, key);
        return TGH_OK; /* other programs' keys may share the file */
    }
    if (getenv(key) != NULL)
        return TGH_OK; /* the environment wins */
    if (param_set(cfg, p, value) != TGH_OK)
        return tgh_errf(TGH_EINVAL, "%s:%d: %s", cfg->env_file, line, tgh_errmsg());
    return TGH_OK;
}

static tgh_err
load_file(struct tgh_config *cfg, bool must_exist)
{
    FILE *f = fopen(cfg->env_file, "rb");
    char *text;
    size_t n;
    tgh_err rc;

    if (f == NULL) {
        if (!must_exist && errno == ENOENT)
            return TGH_OK;
        return tgh_errf(TGH_EIO, "TGH_ENV_FILE %s: %s", cfg->env_file, strerror(errno));
    }
    text = tgh_malloc(TGH_ENV_FILE_MAX + 1);
    n = fread(text, 1, TGH_ENV_FILE_MAX + 1, f);
    (void)fclose(f);
    if (n > TGH_ENV_FILE_MAX) {
        tgh_free(text);
        return tgh_errf(TGH_ETOOBIG, "%s: larger than %d bytes", cfg->env_file, TGH_ENV_FILE_MAX);
    }
    rc = tgh_env_parse(text, n, file_pair, cfg);
    tgh_free(text);
    return rc;
}

tgh_err
tgh_config_load(struct tgh_config *cfg)
{
    const char *envf = getenv("TGH_ENV_FILE");
    tgh_err rc;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NPARAMS; i++) {
        rc = param_set(cfg, &params[i], params[i].def);
        if (rc != TGH_OK)
            return rc;
    }
    if (envf != NULL && param_set(cfg, param_find("TGH_ENV_FILE"), envf) != TGH_OK)
        return TGH_EINVAL;
    rc = load_file(cfg, envf != NULL);
    if (rc != TGH_OK)
        return rc;
    for (char **e = environ; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        char name[128];
        const struct cfg_param *p;

        if ((strncmp(*e, "TGH_", 4) != 0 && strncmp(*e, "TG_", 3) != 0) || eq == NULL ||
            (size_t)(eq - *e) >= sizeof(name))
            continue;
        memcpy(name, *e, (size_t)(eq - *e));
        name[eq - *e] = '\0';
        p = param_find(name);
        if (p == NULL) {
            if (strncmp(name, "TGH_", 4) == 0 && strncmp(name, "TGH_TEST_", 9) != 0 &&
                strncmp(name, "TGH_FAKE_", 9) != 0)
                log_warn("unknown setting %s ignored", name);
            continue;
        }
        rc = param_set(cfg, p, eq + 1);
        if (rc != TGH_OK)
            return rc;
    }
    return TGH_OK;
}

void
tgh_config_fini(struct tgh_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NPARAMS; i++) {
        if (params[i].type == CFG_STR) {
            char **s = (char **)(void *)((char *)cfg + params[i].offset);
            tgh_free(*s);
            *s = NULL;
        }
    }
}

/* .env parsing */

static bool
is_key_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c));
}

static tgh_err
parse_value(const char *p, const char *end, char *out, size_t outcap, int line)
{
    size_t n = 0;

    if (p < end && (*p == '"' || *p == '\'')) {
        char quote = *p++;

        for (; p < end && *p != quote; p++) {
            char c = *p;

            if (quote == '"' && c == '\\' && p + 1 < end) {
                p++;
                c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p;
            }
            if (n + 1 >= outcap)
                return tgh_errf(TGH_ETOOBIG, "line %d: value too long", line);
            out[n++] = c;
        }
        if (p >= end)
            return tgh_errf(TGH_EINVAL, "line %d: unterminated %c quote", line, quote);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != '#')
            return tgh_errf(TGH_EINVAL, "line %d: text after the closing quote", line);
    } else {
        const char *vend = p;

        /* Unquoted: up to an unescaped " #" comment, trailing blanks trimmed. */
        while (vend < end && !(*vend == '#' && vend > p && (vend[-1] == ' ' || vend[-1] == '\t')))
            vend++;
        while (vend > p && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
            vend--;
        if ((size_t)(vend - p) >= outcap)
            return tgh_errf(TGH_ETOOBIG, "line %d: value too long", line);
        memcpy(out, p, (size_t)(vend - p));
        n = (size_t)(vend - p);
    }
    out[n] = '\0';
    return TGH_OK;
}

tgh_err
tgh_env_parse(const char *text, size_t len, tgh_env_fn fn, void *arg)
{
    const char *p = text, *end = text + len;
    char *value = tgh_malloc(len + 1);
    tgh_err rc = TGH_OK;
    int line = 0;

    while (p < end && rc == TGH_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *lend = eol ? eol : end;
        char key[128];
        size_t klen = 0;

        line++;
        while (p < lend && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p == lend || *p == '#')
            goto next;
        if ((size_t)(lend - p) > 7 && strncmp(p, "export ", 7) == 0)
            p += 7;
        while (p < lend && is_key_char(*p, klen == 0)) {
            if (klen + 1 >= sizeof(key)) {
                rc = tgh_errf(TGH_ETOOBIG, "line %d: key too long", line);
                goto out;
            }
            key[klen++] = *p++;
        }
        key[klen] = '\0';
        while (p < lend && (*p == ' ' || *p == '\t'))
            p++;
        if (klen == 0 || p >= lend || *p != '=') {
            rc = tgh_errf(TGH_EINVAL, "line %d: expected KEY=VALUE", line);
            goto out;
        }
        p++;
        while (p < lend && (*p == ' ' || *p == '\t'))
            p++;
        rc = parse_value(p, lend, value, len + 1, line);
        if (rc != TGH_OK)
            goto out;
        if (memchr(p, '\0', (size_t)(lend - p)) != NULL) {
            rc = tgh_errf(TGH_EINVAL, "line %d: NUL byte in value", line);
            goto out;
        }
        rc = fn(arg, key, value, line);
next:
        p = eol ? eol + 1 : end;
    }
out:
    tgh_free(value);
    return rc;
}
