/* SPDX-License-Identifier: MIT */
/*
 * bot_int.h - private to src/bot/: the Bot API client (bot_http.c), the
 * bot's state shared by the loop (bot.c), its replies and commands
 * (bot_reply.c) and its files (bot_media.c).
 */
#ifndef TGH_BOT_BOT_INT_H
#define TGH_BOT_BOT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "bot/bot.h"
#include "media/media.h"
#include "pipeline/pipeline.h"
#include "source/source.h"
#include "store/store.h"

#define BOT_WHITELIST_MAX 256

/* ---- bot_http.c ---- */

struct bot_http;

/* A client of the Bot API at api_url for token (never logged: errors say "bot<token>" as bot***).
 */
TGH_MUSTCHECK tgh_err bot_http_open(const char *api_url, const char *token, struct bot_http **out);
void bot_http_close(struct bot_http *h); /* NULL is fine */

/*
 * Call method with params (a JSON object, borrowed; NULL: none), waiting at
 * most timeout_s for the answer. *result (may be NULL) is a new reference
 * to the answer's result. Errors as source_botapi_response(), plus
 * TGH_EUNAVAIL for a server that cannot be reached or answers no Bot API
 * JSON; *e (may be NULL) gets an error's retry_after.
 */
TGH_MUSTCHECK tgh_err bot_http_call(struct bot_http *h, const char *method, const json_t *params,
                                    long timeout_s, json_t **result, struct source_botapi_error *e);

/*
 * Download the file at file_path (as getFile gave it) into the new file
 * dest (mode 0600), at most max bytes (TGH_ETOOBIG beyond); *bytes is its
 * size. A failed download leaves no dest.
 */
TGH_MUSTCHECK tgh_err bot_http_download(struct bot_http *h, const char *file_path, const char *dest,
                                        int64_t max, int64_t *bytes);

/* ---- the bot ---- */

/* A relayed file whose end its user is told about. */
struct bot_notice {
    int64_t id, chat_id, message_id;
};

struct bot {
    const struct bot_opts *o;
    const struct tgh_config *cfg;
    struct bot_totals *t;
    struct bot_http *http;
    struct store *st;
    struct media_store *ms; /* NULL when TGH_MEDIA is off */
    struct media_policy policy;
    struct pipeline_media_retry retry;
    int64_t id;         /* the bot's user id */
    char username[128]; /* without '@' */
    int64_t whitelist[BOT_WHITELIST_MAX];
    size_t nwhite;
    int64_t next_update_id;
    char data_dir[4096]; /* where downloads land before they are stored */
    /* relayed jobs whose end the user is told about */
    struct bot_notice *notices;
    size_t nnotices, capnotices;
    int64_t notice_at; /* when they were last looked at (monotonic ms) */
    int64_t gauge_at;  /* when tgh_bot_jobs was last counted (monotonic ms) */
};

/* One archived message of a batch, for the reply it gets. */
struct bot_item {
    int64_t chat_id, message_id, user_id;
    int64_t album_id; /* MSG_UNSET when alone */
    const char *kind; /* media kind, or NULL for text and the rest */
    int64_t size;     /* bytes of its file, 0 when none or unknown */
    enum store_change change;
    bool is_edit;
    bool duplicate; /* the same content came before, as first_* */
    int64_t first_chat, first_message, first_at;
    bool original_known; /* the forwarded post itself is in the archive */
    int64_t job_id;      /* its file's job, 0 when none */
    enum store_job_state job_state;
    char job_note[512]; /* what became of its file */
};

/* Wait up to ms, or less when *stop is set; false when stopped. */
bool bot_sleep(struct bot *b, int64_t ms);

/*
 * bot_http_call, counted, with 429 answers waited out (retry_after) and,
 * when retry_unavailable, 5xx and network failures retried with backoff; a
 * few tries at most, and none after a stop.
 */
TGH_MUSTCHECK tgh_err bot_call(struct bot *b, const char *method, const json_t *params,
                               long timeout_s, bool retry_unavailable, json_t **result);

/* Count a Bot API request and its outcome (tgh_bot_api_requests_total). */
void bot_count_request(const char *method, tgh_err rc);

/* Is user id whitelisted? */
bool bot_allowed(const struct bot *b, int64_t user_id);

/* ---- bot_reply.c ---- */

/* Send text to chat (reply_to: a message id, or 0), honouring 429; failures are logged. */
void bot_send(struct bot *b, int64_t chat_id, int64_t reply_to, const char *text);

/* Is msg a command ("/word ...", not forwarded)? */
bool bot_is_command(const json_t *msg);

/* A command (/start, /help, /status, /jobs, /retry ID, /stats) answered: true when msg was one. */
bool bot_command(struct bot *b, const json_t *msg, int64_t chat_id, int64_t message_id);

/* The reply to n archived items of one message or album. */
void bot_reply_items(struct bot *b, const struct bot_item *it, size_t n);

/* ---- bot_media.c ---- */

/*
 * The file of archived event ev (raw: its Bot API message): a job as the
 * policy says, downloaded through getFile and stored now when it is within
 * TGH_BOT_FILE_LIMIT, else copied to the TGH_BOT_RELAY account's chat and
 * left queued for it. it->job_* say what happened.
 */
void bot_media_item(struct bot *b, const struct msg_event *ev, struct bot_item *it);

/* Claim and store queued getFile jobs left from an earlier run. */
void bot_media_resume(struct bot *b);

/*
 * Relayed jobs an earlier run left with the TDLib account, and those that
 * ended while no bot ran and were not told (bot_items "notice:<job>"): their
 * users are told too.
 */
void bot_media_load_notices(struct bot *b);

/*
 * /retry of relayed job job_id: copy its message (chat_id, message_id) to the
 * TGH_BOT_RELAY account again and tell the user when the job ends.
 */
TGH_MUSTCHECK tgh_err bot_media_relay_again(struct bot *b, int64_t job_id, int64_t chat_id,
                                            int64_t message_id);

/* Tell users about relayed jobs that ended since the last look. */
void bot_media_notices(struct bot *b);

/* Count the bot's jobs by state into tgh_bot_jobs: every few seconds, or now when force. */
void bot_media_gauges(struct bot *b, bool force);

#endif
