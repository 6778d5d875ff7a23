/* SPDX-License-Identifier: MIT */
/*
 * config.h - configuration from TGH_* (and Telegram's TG_*) environment variables and an optional
 * .env-style file. One table (config.c) names every key, its type, default
 * and meaning; docs/config.md lists the same keys (a unit test checks).
 * Precedence: process environment, then the file, then the default.
 */
#ifndef TGH_CORE_CONFIG_H
#define TGH_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/log.h"

#define TGH_ENV_FILE_MAX (1 << 20) /* a .env file larger than this is refused */
/* TGH_RETENTION_DAYS, `cleanup --retention-days` and store_retention_apply() at most. */
#define TGH_RETENTION_DAYS_MAX (365 * 1000)

struct tgh_config {
    char *store_url;              /* TGH_STORE */
    enum tgh_log_level log_level; /* TGH_LOG_LEVEL */
    char *import_tz;              /* TGH_IMPORT_TZ: zone of export dates lacking date_unixtime */
    int64_t batch_size;           /* TGH_BATCH_SIZE: events per store transaction */
    char *env_file;               /* TGH_ENV_FILE */
    char *tdjson_path;            /* TGH_TDJSON: "" means the installed default */
    char *data_dir;               /* TGH_DATA_DIR: accounts live in DATA_DIR/accounts/NAME */
    char *account;                /* TGH_ACCOUNT: the default account's name */
    char *db_key;                 /* TGH_DB_KEY: TDLib database encryption key (secret) */
    int64_t gapfill_interval;     /* TGH_GAPFILL_INTERVAL, seconds */
    int64_t freshness_slo;        /* TGH_FRESHNESS_SLO: seconds a tracked chat may lag */
    int64_t gap_check_interval;   /* TGH_GAP_CHECK_INTERVAL, seconds; 0: only after reconnects */
    int64_t gap_check_ids;        /* TGH_GAP_CHECK_IDS: ids asked about per chat and check */
    int64_t verify_recent;        /* TGH_VERIFY_RECENT: newest stored ids checked for deletion */
    int64_t reconcile_hours;      /* TGH_RECONCILE_HOURS */
    int64_t reconcile_interval;   /* TGH_RECONCILE_INTERVAL, seconds */
    int64_t backfill_interval;    /* TGH_BACKFILL_INTERVAL, seconds */
    int64_t backfill_limit;       /* TGH_BACKFILL_LIMIT: per chat and pass, 0 = no limit */
    int64_t history_rate;         /* TGH_HISTORY_RATE: per minute and account, 0 = unlimited */
    int64_t offline_timeout;      /* TGH_OFFLINE_TIMEOUT: seconds, collect --once */
    int64_t retention_days;       /* TGH_RETENTION_DAYS: 0 = keep forever */
    int64_t api_id;               /* TG_API_ID */
    char *api_hash;               /* TG_API_HASH (secret) */
    char *phone;                  /* TG_PHONE */
    char *bot_token;              /* TG_BOT_TOKEN (secret) */
    char *password;               /* TG_PASSWORD (secret) */
    char *code_file;              /* TG_CODE_FILE */
    char *queue_url;              /* TGH_QUEUE: "memory" or amqp://... */
    char *cache_url;              /* TGH_CACHE: "none" or redis://... */
    int64_t prefetch;             /* TGH_PREFETCH: worker's unacked deliveries, 0 = batch / 5 */
    int64_t batch_wait_ms;        /* TGH_BATCH_WAIT_MS: a partial batch waits no longer */
    char *http_addr;              /* TGH_HTTP_ADDR: "host:port", "off" */
    char *api_keys;               /* TGH_API_KEYS (secret) */
    char *api_keys_file;          /* TGH_API_KEYS_FILE */
    char *api_open_loopback;      /* TGH_API_OPEN_LOOPBACK: none, read, admin */
    int64_t http_max_connections; /* TGH_HTTP_MAX_CONNECTIONS */
    int64_t http_timeout;         /* TGH_HTTP_TIMEOUT, seconds */
    int64_t stream_buffer;        /* TGH_STREAM_BUFFER: feed items kept */
    int64_t stream_max_clients;   /* TGH_STREAM_MAX_CLIENTS */
    char *metrics_addr;           /* TGH_METRICS_ADDR: work's /metrics, "" none */
    char *archive_bot_token;      /* TGH_BOT_TOKEN: the archive bot's (secret) */
    char *bot_api_url;            /* TGH_BOT_API_URL */
    char *bot_whitelist;          /* TGH_BOT_WHITELIST: user ids */
    int64_t bot_poll_timeout;     /* TGH_BOT_POLL_TIMEOUT: seconds */
    int64_t bot_album_wait_ms;    /* TGH_BOT_ALBUM_WAIT_MS */
    int64_t bot_file_limit;       /* TGH_BOT_FILE_LIMIT: bytes */
    int64_t bot_relay;            /* TGH_BOT_RELAY: user id of the TDLib account, 0 none */
    char *media_url;              /* TGH_MEDIA: file://..., s3://..., "off" */
    char *media_kinds;            /* TGH_MEDIA_KINDS (media.h's policy) */
    char *media_max_size;         /* TGH_MEDIA_MAX_SIZE */
    char *media_history;          /* TGH_MEDIA_HISTORY */
    char *media_thumbs;           /* TGH_MEDIA_THUMBS */
    int64_t media_downloads;      /* TGH_MEDIA_DOWNLOADS: at once per account */
    int64_t media_attempts;       /* TGH_MEDIA_ATTEMPTS: claims of a job before it fails */
    int64_t media_retry_s;        /* TGH_MEDIA_RETRY: first backoff of a failed download */
};

/* Load from the environment and the .env file it names (default ./.env, if present). */
TGH_MUSTCHECK tgh_err tgh_config_load(struct tgh_config *cfg);
void tgh_config_fini(struct tgh_config *cfg);

/* Every key of the table, for docs and tests: NULL-terminated. */
const char *const *tgh_config_keys(void);

/* One KEY=VALUE pair of a .env file. Return non-TGH_OK to stop. */
typedef tgh_err (*tgh_env_fn)(void *arg, const char *key, const char *value, int line);

/*
 * Parse .env text: KEY=VALUE lines, optional "export " prefix, # comments,
 * values optionally in single quotes (literal) or double quotes (\n \t \\ \"
 * escapes). A malformed line is an error naming its line number.
 */
TGH_MUSTCHECK tgh_err tgh_env_parse(const char *text, size_t len, tgh_env_fn fn, void *arg);

#endif
