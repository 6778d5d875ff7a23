/* SPDX-License-Identifier: MIT */
/*
 * source.h - producers of message events. Today: the Telegram Desktop export
 * importer, which streams a result.json (single chat or full account) into
 * finalized events with bounded memory: one message object and one batch at
 * a time, however large the file. Mapping and limits: docs/internals/export.md.
 */
#ifndef TGH_SOURCE_SOURCE_H
#define TGH_SOURCE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "core/msg.h"

/*
 * One chat of the export, valid from chat_begin until chat_end returns.
 * chat_id is 0 only for a chat whose export id is out of range for its type
 * (msg_chat_id_from_bare): it gets no batch and its chat_end has status
 * TGH_EPROTO; the sink must not record a chat 0.
 */
struct source_export_chat {
    int64_t chat_id; /* signed convention (-100... for channels/supergroups) */
    enum msg_chat_type type;
    const char *export_type; /* the export's "type" string */
    const char *title;       /* NULL when the export has no name */
    int64_t index;           /* 0-based position in the file */
    bool is_left;            /* from left_chats */
};

/*
 * Where the importer delivers. Any callback returning an error stops the
 * import, which returns that error (after chat_end for the open chat).
 */
/* Every callback but batch may be NULL. */
struct source_export_sink {
    void *arg;
    tgh_err (*chat_begin)(void *arg, const struct source_export_chat *chat);
    /*
     * Events are finalized (codec_event_finalize); the callee commits them;
     * after it returns the importer resets the batch.
     */
    tgh_err (*batch)(void *arg, struct msg_batch *b);
    /*
     * Every chat_begin gets one chat_end. status is TGH_OK, or the error that
     * ended the chat (tgh_errmsg() holds its detail during the call).
     */
    tgh_err (*chat_end)(void *arg, const struct source_export_chat *chat, tgh_err status);
    /*
     * A message object that could not become an event: position like
     * "chats.list[2].messages[17] at byte 5120", reason, the object's JSON text.
     */
    tgh_err (*dead_letter)(void *arg, const char *position, const char *reason, const char *payload,
                           size_t len);
    /* May be NULL; called about every 4096 messages and once at the end. */
    void (*progress)(void *arg, uint64_t bytes_read, uint64_t messages);
    /*
     * May be NULL: an input that is fine and becomes no event (a Bot API
     * update that carries no message), at position, and why.
     */
    tgh_err (*skipped)(void *arg, const char *position, const char *why);
};

struct source_export_opts {
    const char *tz;      /* IANA zone for "date" when date_unixtime is absent; NULL/"UTC" = UTC */
    size_t batch_size;   /* events per sink->batch call, default 500 */
    int64_t observed_at; /* import time written into events; 0 = now */
};

struct source_export_summary {
    uint64_t chats, messages, events, dead_letters, bytes;
};

/*
 * Import the export at path; see source_export_import_stream(). A file that
 * cannot be opened is TGH_EIO.
 */
TGH_MUSTCHECK tgh_err source_export_import_file(const char *path,
                                                const struct source_export_opts *o,
                                                const struct source_export_sink *sink,
                                                struct source_export_summary *sum);

/*
 * Import an export read from f (not closed); name appears in error messages.
 * o may be NULL (defaults), sum may be NULL. A message that cannot become an
 * event goes to sink->dead_letter and the import continues, also when the
 * element is not valid JSON but its end can be found by its delimiters. A
 * file that is not JSON, is truncated or is not an export returns TGH_EPROTO (TGH_EIO on
 * a read error) naming the file and byte offset; batches already handed to
 * the sink stay handed and the batch in flight is dropped, not flushed. An
 * unknown o->tz, or one whose file under the zoneinfo directory is not a
 * compiled zone (no "TZif" magic), is TGH_EINVAL. Batches never span two chats. While a zone
 * other than UTC is in use the process's TZ variable is changed (and
 * restored before returning): not thread-safe with respect to localtime().
 */
TGH_MUSTCHECK tgh_err source_export_import_stream(FILE *f, const char *name,
                                                  const struct source_export_opts *o,
                                                  const struct source_export_sink *sink,
                                                  struct source_export_summary *sum);

/*
 * JSON lines of schema-v1 events (`export --format jsonl`) into batches for
 * the same sink (only batch, dead_letter and progress are called). Each line
 * is decoded strictly; a line that fails, or is longer than
 * MSG_MAX_EVENT_BYTES, goes to sink->dead_letter as "line N" and the next
 * line goes on. Empty lines are skipped. o->tz and o->observed_at are not
 * used: the events carry their own times. A read error is TGH_EIO.
 */
TGH_MUSTCHECK tgh_err source_events_import_file(const char *path,
                                                const struct source_export_opts *o,
                                                const struct source_export_sink *sink,
                                                struct source_export_summary *sum);
TGH_MUSTCHECK tgh_err source_events_import_stream(FILE *f, const char *name,
                                                  const struct source_export_opts *o,
                                                  const struct source_export_sink *sink,
                                                  struct source_export_summary *sum);

/*
 * TDLib's JSON interface (td_json_client.h), loaded with dlopen from path
 * (NULL or "": source_tdjson_default_path(), the library scripts/deps.sh
 * installs). A missing file is TGH_ENOTFOUND naming the path; a library
 * without the four functions is TGH_EPROTO. The library is never unloaded.
 * The receive and execute results are valid until the next call of the same
 * function, as in TDLib.
 */
struct source_tdjson;

const char *source_tdjson_default_path(void);
TGH_MUSTCHECK tgh_err source_tdjson_open(const char *path, struct source_tdjson **out);
void source_tdjson_close(struct source_tdjson *tj); /* NULL is fine */
int source_tdjson_client_new(struct source_tdjson *tj);
void source_tdjson_send(struct source_tdjson *tj, int client_id, const char *request);
const char *source_tdjson_receive(struct source_tdjson *tj, double timeout_s);
const char *source_tdjson_execute(struct source_tdjson *tj, const char *request);

/* TDLib's own log goes to path (never the terminal) at the given verbosity. */
TGH_MUSTCHECK tgh_err source_tdjson_log_to_file(struct source_tdjson *tj, const char *path,
                                                int verbosity);

/*
 * TDLib objects into events (docs/internals/tdlib.md, "Mapping"). TDLib gives
 * message ids as server_id << 20 and int64 values as JSON strings; events
 * carry server ids. Entity types, media kinds, service actions and buttons
 * take the Desktop export's names, so the same message from an export and
 * from TDLib has the same content_hash. Thread-safe: no state.
 */

/* What the caller knows of the chat a TDLib message is in. */
struct source_tdlib_chat {
    int64_t chat_id;
    enum msg_chat_type type; /* MSG_CHAT_UNKNOWN: from the id and is_channel_post */
    const char *title;       /* may be NULL */
    const char *username;    /* may be NULL */
};

/*
 * TDLib's message id of a server message id and back. 0 when the id is not
 * a server message's (local, yet unsent, scheduled: low 20 bits set) or out
 * of range.
 */
int64_t source_tdlib_msg_id(int64_t server_id);
int64_t source_tdlib_server_id(int64_t tdlib_id);

/*
 * Map one TDLib `message` object into ev (msg_event_init()ed here), source
 * MSG_SOURCE_TDLIB, raw a new reference to msg. Strings point into msg
 * (which raw keeps alive), so msg must not be changed while ev lives; only
 * the chat's strings and names made up here go into a. chat may be NULL
 * (only the message is known); chat->chat_id must then match the message's.
 * A message that is not a server message (local, yet unsent, scheduled),
 * lacks a required field (id, chat_id, date, content) or has a known field
 * of the wrong JSON type is TGH_EPROTO naming the field path
 * ("forward_info.origin.chat_id: expected an integer, got a string"); an
 * array over its cap (entities, reactions, poll options) is TGH_ETOOBIG.
 * Unknown fields, and content types this mapper does not know, are kept
 * (raw; the type as media kind or action), never an error. On error ev may
 * hold references: msg_event_fini() it (msg_batch_pop() does). The event is
 * not finalized (codec_event_finalize).
 */
TGH_MUSTCHECK tgh_err source_tdlib_map_message(const json_t *msg,
                                               const struct source_tdlib_chat *chat,
                                               int64_t observed_at, struct tgh_arena *a,
                                               struct msg_event *ev);

/*
 * Delete events for an updateDeleteMessages object pushed into b: only when
 * is_permanent is true and from_cache is false (otherwise TDLib unloaded its
 * cache: *n is 0 and nothing is pushed). Ids of local messages (never sent,
 * so never archived) are skipped. *n receives the number pushed; a batch
 * without room for all of them is TGH_ETOOBIG before anything is pushed; a
 * malformed update is TGH_EPROTO. Events are finalized; their date is unset
 * and, without chat, a -100... chat's type is MSG_CHAT_UNKNOWN.
 */
TGH_MUSTCHECK tgh_err source_tdlib_map_deletes(const json_t *update,
                                               const struct source_tdlib_chat *chat,
                                               int64_t observed_at, struct msg_batch *b, size_t *n);

/*
 * `decode --from tdlib`: f holds TDLib JSON values separated by whitespace
 * (one value, pretty-printed or not, or JSON lines): message, messages
 * (getChatHistory), foundMessages, foundChatMessages, updateNewMessage,
 * updateMessageSendSucceeded, updateDeleteMessages, or an array of these.
 * Events go to sink->batch (finalized; o->batch_size per batch, default 500;
 * o->observed_at, 0 = now). Anything that cannot be mapped goes to
 * sink->dead_letter with its position ("line 3 (byte 120), messages[2]"),
 * the reason and its JSON text, and the rest goes on: a value that is not
 * JSON, or longer than 64 MiB, resumes at the next line starting with '{'
 * or '['. An update that carries no whole message (updateMessageContent,
 * updateMessageEdited, updateMessageInteractionInfo) is a dead letter whose
 * reason says what the collector does instead. Only a read error (TGH_EIO)
 * or a sink error stops the stream. name appears in error messages.
 */
TGH_MUSTCHECK tgh_err source_tdlib_decode_stream(FILE *f, const char *name,
                                                 const struct source_export_opts *o,
                                                 const struct source_export_sink *sink,
                                                 struct source_export_summary *sum);

/*
 * The Bot API (docs/internals/botapi.md): Update and Message objects into
 * events, with the names the TDLib mapper uses, so a post forwarded to the
 * archive bot and the same post collected through TDLib hash the same.
 * Thread-safe: no state.
 */
enum source_botapi_class {
    SOURCE_BOTAPI_MESSAGE = 0, /* payload is a Message: map it */
    SOURCE_BOTAPI_DELETES,     /* payload is a BusinessMessagesDeleted: tombstones */
    SOURCE_BOTAPI_SKIPPED,     /* carries no message (reactions, polls, members, queries...) */
};

struct source_botapi_update {
    int64_t update_id;
    const char *type; /* the update's field: "message", "edited_channel_post", "poll", ... */
    enum source_botapi_class cls;
    const json_t *payload; /* the object under type (borrowed from the update) */
    bool is_edit;          /* edited_message, edited_channel_post, edited_business_message */
    bool is_business;      /* business_message, edited_business_message, deleted_... */
};

/*
 * Classify Update u. Not an object, or an update_id that is missing, not an
 * integer or negative, is TGH_EPROTO naming the field; so is a
 * message-bearing field that is not an object. An update with no field but
 * update_id, or one this table does not know, is SKIPPED with that field's
 * name (or "empty").
 */
TGH_MUSTCHECK tgh_err source_botapi_update_parse(const json_t *u, struct source_botapi_update *out);

/*
 * Map one Bot API Message into ev (msg_event_init()ed here), source
 * MSG_SOURCE_BOTAPI, raw a new reference to msg; strings point into msg.
 * Errors as for source_tdlib_map_message(): a missing message_id, date or
 * chat, or a known field of the wrong type, is TGH_EPROTO naming its path;
 * an array over its cap is TGH_ETOOBIG. The event is not finalized.
 */
TGH_MUSTCHECK tgh_err source_botapi_map_message(const json_t *msg, int64_t observed_at,
                                                struct tgh_arena *a, struct msg_event *ev);

/* Finalized delete events of a BusinessMessagesDeleted pushed into b (*n of them). */
TGH_MUSTCHECK tgh_err source_botapi_map_deletes(const json_t *d, int64_t observed_at,
                                                struct msg_batch *b, size_t *n);

/* An answer of the Bot API that said ok: false. */
struct source_botapi_error {
    int64_t code;               /* error_code, 0 when absent */
    const char *description;    /* NULL when absent (borrowed from the response) */
    int64_t retry_after;        /* parameters.retry_after seconds, 0 when absent */
    int64_t migrate_to_chat_id; /* parameters.migrate_to_chat_id, 0 when absent */
};

/*
 * A Bot API response {"ok": ..., "result": ...}: TGH_OK with *result
 * (borrowed). ok false is TGH_EAGAIN for 429 (flood: wait e->retry_after),
 * TGH_EUNAVAIL for 5xx, TGH_ENOTFOUND for 404, TGH_EINVAL for any other
 * code, with the error recorded ("Bot API error 429: Too Many Requests:
 * retry after 5 (retry_after 5 s)") and *e filled. A value that is not a
 * response is TGH_EPROTO.
 */
TGH_MUSTCHECK tgh_err source_botapi_response(const json_t *resp, const json_t **result,
                                             struct source_botapi_error *e);

/*
 * `decode --from botapi`: f holds JSON values (one, pretty-printed, or JSON
 * lines): an Update, an array of them, or a getUpdates response. Events of
 * message-bearing updates go to sink->batch (finalized); updates that carry
 * no message go to sink->skipped ("update 7 (poll): carries no message"); a
 * Bot API error response, and whatever cannot be mapped, to
 * sink->dead_letter with its reason. Otherwise as source_tdlib_decode_stream().
 */
TGH_MUSTCHECK tgh_err source_botapi_decode_stream(FILE *f, const char *name,
                                                  const struct source_export_opts *o,
                                                  const struct source_export_sink *sink,
                                                  struct source_export_summary *sum);

#endif
