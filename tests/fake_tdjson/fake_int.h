/* SPDX-License-Identifier: MIT */
/*
 * fake_int.h - private declarations of the scripted stand-in for TDLib's
 * libtdjson.so (tests/fake_tdjson/). Everything here runs with the library's
 * mutex held (fake_tdjson.c), so no function below locks; the exception,
 * fake_prefetch_run(), runs with the world read-locked instead. Handlers run
 * on the library's worker thread only. The world (chats, messages, accounts)
 * is in fake_world.c, messages are built in fake_message.c and other TDLib
 * objects in fake_objects.c, request handlers are split by topic into
 * fake_auth.c, fake_chats.c and fake_history.c, control lines are applied in
 * fake_control.c. docs/internals/fake_tdjson.md describes the model.
 */
#ifndef TGH_TESTS_FAKE_TDJSON_FAKE_INT_H
#define TGH_TESTS_FAKE_TDJSON_FAKE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define FAKE_TDLIB_VERSION "1.8.66"
#define FAKE_COMMIT_HASH   "fa4e0000000000000000000000000000000000fa"
#define FAKE_MSG_SHIFT     20 /* TDLib message id = server id << 20 (MessageId.h) */
#define FAKE_MAX_SERVER_ID INT64_C(2147483647)
#define FAKE_SESSION_FILE  "fake-td-session.json"
#define FAKE_FILES_STATE   "fake-td-files.json" /* the downloads (fake_files.c) */

/* ---- td_json_client.h: the only symbols the library exports ---- */

#define FAKE_EXPORT __attribute__((visibility("default")))

FAKE_EXPORT int td_create_client_id(void);
FAKE_EXPORT void td_send(int client_id, const char *request);
FAKE_EXPORT const char *td_receive(double timeout);
FAKE_EXPORT const char *td_execute(const char *request);

/* ---- small helpers (fake_objects.c) ---- */

void *fake_xmalloc(size_t n);
void *fake_xcalloc(size_t n, size_t size);
void *fake_xrealloc(void *p, size_t n);
char *fake_xstrdup(const char *s);
uint64_t fake_hash(uint64_t a, uint64_t b, uint64_t c);
double fake_now_mono(void);
double fake_now_unix(void);

/* ---- the world (fake_world.c) ---- */

enum fake_kind { FAKE_CHANNEL, FAKE_SUPERGROUP, FAKE_GROUP, FAKE_PRIVATE };
enum fake_access { FAKE_ACCESS_OK, FAKE_ACCESS_PRIVATE, FAKE_ACCESS_UNKNOWN };
enum fake_gen { FAKE_GEN_NONE, FAKE_GEN_PLAIN, FAKE_GEN_COMMENTS };

/* Content kinds of generated messages; FAKE_KIND_JSON carries its own content. */
enum fake_content {
    FAKE_KIND_TEXT,
    FAKE_KIND_PHOTO,
    FAKE_KIND_DOCUMENT,
    FAKE_KIND_POLL,
    FAKE_KIND_SERVICE,
    FAKE_KIND_ALBUM,
    FAKE_KIND_FORWARD,
    FAKE_KIND_REPLY,
    FAKE_KIND_VIDEO,
    FAKE_KIND_AUDIO,
    FAKE_KIND_VOICE_NOTE,
    FAKE_KIND_VIDEO_NOTE,
    FAKE_KIND_ANIMATION,
    FAKE_KIND_STICKER,
    FAKE_KIND_NMIX, /* the kinds above are the "mix" weights */
    FAKE_KIND_TOPIC_CREATED,
    FAKE_KIND_COMMENT,
    FAKE_KIND_ROOT, /* a channel post forwarded into its discussion group */
    FAKE_KIND_JSON,
    FAKE_KIND_MEDIA, /* explicit "media": generated content of kind media */
    FAKE_KIND_SAME,  /* explicit "same_file_as": the content of another message */
};

/*
 * Everything needed to build one message object. Generated messages get a
 * spec computed from their id; explicit and live-added messages keep one.
 */
struct fake_spec {
    int64_t id; /* server id */
    int32_t date, edit_date;
    int64_t sender_user_id; /* 0: sent on behalf of sender_chat_id */
    int64_t sender_chat_id;
    enum fake_content kind;
    json_t *content;         /* FAKE_KIND_JSON: the MessageContent (owned by the world);
                                MEDIA and SAME: the caption (formattedText) or NULL */
    enum fake_content media; /* FAKE_KIND_MEDIA: which content */
    int64_t media_size;      /* FAKE_KIND_MEDIA: size of the main file, 0 generated */
    const char *media_name;  /* FAKE_KIND_MEDIA: its file_name, NULL generated */
    int64_t same_chat_id;    /* FAKE_KIND_SAME: the message whose content (files) it shares */
    int64_t same_id;
    int64_t album_id; /* media_album_id, 0 none */
    int64_t reply_to; /* server id in the same chat, 0 none */
    int64_t thread;   /* message_thread_id (server id of the root), 0 none */
    int32_t topic;    /* forum_topic_id, 0 none */
    int32_t views;    /* -1: no view counter */
    int32_t forwards;
    bool has_reply_info;
    int32_t reply_count;
    int64_t reply_last;   /* server id of the last comment (in the discussion group) */
    int64_t post_chat_id; /* FAKE_KIND_ROOT and comments: the channel */
    int64_t post_id;      /* FAKE_KIND_ROOT and comments: the channel post */
    int32_t post_date;
    int reactions; /* 0 none; otherwise seeds generated reactions */
    const char *author_signature;
};

/* A change to a generated message, or a message of its own (is_extra). */
struct fake_ovl {
    int64_t id;
    bool is_extra;
    bool is_deleted;
    struct fake_spec spec; /* is_extra only */
    json_t *content;       /* replacement content (edits), or NULL */
    int32_t edit_date;     /* 0: unchanged */
    int32_t views;         /* -1: unchanged */
    int32_t forwards;      /* -1: unchanged */
    json_t *reactions;     /* replacement messageReactions, or NULL */
    int edits;
};

struct fake_topic {
    int32_t id; /* server id of its creation message; 1 is General */
    char *name;
    int32_t color;
    bool is_closed;
    int32_t creation_date;
};

struct fake_chat {
    size_t index;
    int64_t id;
    enum fake_kind kind;
    enum fake_access access;
    char *title, *username, *invite_link, *description;
    bool is_forum, is_member, sign_messages;
    int64_t linked_chat_id;
    int32_t member_count, date;
    int64_t upgraded_from_basic_group_id, upgraded_from_max_message_id;
    int64_t
        history_hidden_before; /* server id: older messages are not shown to the account; 0 none */
    int page_max;
    bool short_pages;
    /* generator */
    enum fake_gen gen;
    int64_t count, first_id, gap_every, start_date, step_s;
    int mix[FAKE_KIND_NMIX];
    int mix_total;
    int64_t comments_every, comments_per_post;
    struct fake_chat *channel;    /* FAKE_GEN_COMMENTS: whose posts */
    struct fake_chat *discussion; /* channel with comments: its group */
    struct fake_topic *topics;
    size_t ntopics;
    /* overlay, sorted by id */
    struct fake_ovl *ovl;
    size_t novl, capovl;
};

struct fake_flood_rule {
    char **methods; /* "history", "*" or method names */
    size_t nmethods;
    int64_t every, seconds, after;
};

struct fake_account {
    size_t index;
    char *phone, *bot_token, *code, *password, *password_hint;
    int64_t user_id;
    char *first_name, *last_name, *username;
    struct fake_flood_rule *flood;
    size_t nflood;
    int64_t *counters; /* per flood rule: matching requests seen */
    bool *joined;      /* by chat index: joined through an invite link */
    bool *kicked;      /* by chat index: removed by a "kick" control line since */
};

struct fake_user {
    int64_t id;
    char *first_name, *last_name, *username;
};

struct fake_world {
    uint64_t seed;
    int latency_ms;
    int64_t dl_speed; /* download bytes per second, 0 unlimited */
    int64_t dl_chunk; /* bytes written (and one updateFile) per step */
    struct fake_account *accounts;
    size_t naccounts;
    struct fake_user *users;
    size_t nusers;
    struct fake_chat *chats;
    size_t nchats;
};

/* Load path (NULL: an empty world). On error returns NULL and fills err. */
struct fake_world *fake_world_load(const char *path, char *err, size_t errlen);

struct fake_chat *fake_world_chat(struct fake_world *w, int64_t chat_id);
struct fake_chat *fake_world_chat_by_username(struct fake_world *w, const char *username);
struct fake_account *fake_world_account_by_phone(struct fake_world *w, const char *phone);
struct fake_account *fake_world_account_by_token(struct fake_world *w, const char *token);
struct fake_account *fake_world_account_by_key(struct fake_world *w, const char *key);
/* A user known to the world: accounts, "users", generated senders. */
bool fake_world_user(struct fake_world *w, int64_t user_id, struct fake_user *out);

/* Fill spec for message id of chat c; false when it does not exist (deleted or never). */
bool fake_chat_message(struct fake_world *w, struct fake_chat *c, int64_t id,
                       struct fake_spec *spec, const struct fake_ovl **mods);
/* Largest existing id < below (0: none); smallest existing id >= from (0: none). */
int64_t fake_chat_prev(struct fake_world *w, struct fake_chat *c, int64_t below);
int64_t fake_chat_next(struct fake_world *w, struct fake_chat *c, int64_t from);
/* The last message with date <= date (0: none). */
int64_t fake_chat_by_date(struct fake_world *w, struct fake_chat *c, int32_t date);
/* The newest id (0: empty history); the number of existing messages. */
int64_t fake_chat_last_id(struct fake_world *w, struct fake_chat *c);
int64_t fake_chat_count(struct fake_world *w, struct fake_chat *c);
/* Discussion thread of a channel post: root id in c->discussion (0: none), newest id in it. */
int64_t fake_chat_thread_root(struct fake_world *w, struct fake_chat *c, int64_t post_id);
int64_t fake_chat_thread_last(struct fake_world *w, struct fake_chat *group, int64_t root);

/* The overlay entry of id, created on demand (never NULL with create). */
struct fake_ovl *fake_chat_ovl(struct fake_chat *c, int64_t id, bool create);

/* The message object of spec (with mods applied) in chat c; a new reference. */
json_t *fake_message_json(struct fake_world *w, struct fake_chat *c, const struct fake_spec *spec,
                          const struct fake_ovl *mods);
/* A message's content alone (what updateMessageContent carries); a new reference. */
json_t *fake_message_content(struct fake_world *w, struct fake_chat *c,
                             const struct fake_spec *spec, const struct fake_ovl *mods);
json_t *fake_message_interaction(struct fake_world *w, struct fake_chat *c,
                                 const struct fake_spec *spec, const struct fake_ovl *mods);
/* The remote id and unique id of the generated file of hash h (fake_files.c stores h alone). */
#define FAKE_REMOTE_ID_LEN 40
#define FAKE_UNIQUE_ID_LEN 17
void fake_file_remote_ids(uint64_t h, char id[FAKE_REMOTE_ID_LEN], char uid[FAKE_UNIQUE_ID_LEN]);
/* A message by id, or NULL. */
json_t *fake_chat_message_json(struct fake_world *w, struct fake_chat *c, int64_t id);

/* Parse an explicit message ({"id":..,"text":..} etc., see the docs) into spec. */
bool fake_spec_parse(struct fake_chat *c, const json_t *j, struct fake_spec *spec, char *err,
                     size_t errlen);

/* ---- TDLib objects (fake_objects.c) ---- */

void fake_objects_init(void);
json_t *fake_obj(const char *type);
json_t *fake_empty(void); /* a shared [] (never append to it) */
void fake_set_int(json_t *o, const char *key, int64_t v);
void fake_set_i64(json_t *o, const char *key, int64_t v); /* int64: a JSON string */
void fake_set_str(json_t *o, const char *key, const char *v);
void fake_set_bool(json_t *o, const char *key, bool v);
void fake_set(json_t *o, const char *key, json_t *v); /* steals v; NULL: the field is omitted */
json_t *fake_error(int code, const char *message);
json_t *fake_formatted_text(const char *text, json_t *entities); /* steals entities */
json_t *fake_reaction_json(const char *emoji, int64_t count);
json_t *fake_reactions_json(json_t *list); /* steals list */
json_t *fake_reactions_from_counts(const json_t *counts);
json_t *fake_chat_json(struct fake_world *w, struct fake_chat *c, struct fake_account *me,
                       json_t *last_message);
json_t *fake_chat_type_update(struct fake_world *w, struct fake_chat *c, struct fake_account *me);
json_t *fake_supergroup_json(struct fake_chat *c, struct fake_account *me);
json_t *fake_supergroup_full_json(struct fake_chat *c);
json_t *fake_basic_group_json(struct fake_chat *c, struct fake_account *me);
json_t *fake_basic_group_full_json(struct fake_chat *c);
json_t *fake_user_json(const struct fake_user *u, bool is_bot);
json_t *fake_account_user_json(const struct fake_account *a);
json_t *fake_forum_topic_info_json(struct fake_chat *c, const struct fake_topic *t);
json_t *fake_notification_settings_json(void);
bool fake_is_member(struct fake_chat *c, struct fake_account *me);
bool fake_can_read(struct fake_chat *c, struct fake_account *me);

/* ---- the library state (fake_tdjson.c) ---- */

enum fake_auth {
    FAKE_ST_NONE, /* no request yet: TDLib starts a client at its first request */
    FAKE_ST_WAIT_PARAMS,
    FAKE_ST_WAIT_PHONE,
    FAKE_ST_WAIT_CODE,
    FAKE_ST_WAIT_PASSWORD,
    FAKE_ST_READY,
    FAKE_ST_LOGGING_OUT,
    FAKE_ST_CLOSING,
    FAKE_ST_CLOSED,
};

struct fake_parked {
    json_t *req; /* owned */
    double sent_at;
    int64_t hist_chat;
};

struct fake_hist_pending {
    int64_t chat_id;
    int count;
};

struct fake_client {
    int id;
    enum fake_auth st;
    bool logged_out; /* Closing after logOut: requests get 401 */
    struct fake_account *acct, *pending_acct;
    char *db_dir, *enc_key;
    bool use_chat_info_db;
    bool is_connected;
    unsigned char *known, *opened, *announced; /* by chat index */
    double flood_until;       /* server side: requests before this get 429 (monotonic s) */
    double flood_known_until; /* the wait of the last 429 the client received */
    int drop_updates;
    int lock_fd; /* flock on the database directory, as TDLib locks td.binlog */
    struct fake_hist_pending *hist;
    size_t nhist, caphist;
    struct fake_parked *parked; /* network requests made while disconnected */
    size_t nparked, capparked;
    struct fake_parked *preinit; /* getOption/setOption before setTdlibParameters */
    size_t npreinit, cappreinit;
    struct fake_files *files; /* the client's files and downloads (fake_files.c) */
};

/* One request being answered: where its outputs go and when they are due. */
struct fake_req {
    struct fake_client *cl;
    const json_t *req;
    const char *type;
    json_t *extra; /* borrowed; echoed as @extra */
    double sent_at, due;
    int64_t hist_chat; /* a history request: the chat its pending slot counts */
};

struct fake_state {
    struct fake_world *w;
    uint64_t world_version; /* bumped by every live control line (under the world write lock) */
    struct fake_client **clients; /* index id-1 */
    size_t nclients, capclients;
    int log_fd;
    bool net_down; /* "disconnect" without a client: clients reaching Ready stay connecting */
};

extern struct fake_state fake_g;

/* Queue an answer to r (steals obj; adds @extra and @client_id). */
void fake_answer(struct fake_req *r, json_t *obj);
void fake_answer_error(struct fake_req *r, int code, const char *message);
/* Queue an answer dumped ahead with JSON_EMBED (fake_history.c builds pages ahead). */
void fake_answer_embedded(struct fake_req *r, const char *body);
/* Queue an update caused by a request (or a state change) for cl, due with r (NULL: now). */
void fake_update(struct fake_client *cl, struct fake_req *r, json_t *obj);
/*
 * Queue an update the server pushes (steals obj): dropped, as TDLib loses
 * them, while cl is disconnected or has drop_next_updates left.
 */
void fake_push(struct fake_client *cl, json_t *obj);
/* Append one event line to the log (steals obj; adds "t"). */
void fake_log(json_t *obj);

void fake_auth_set_state(struct fake_client *cl, struct fake_req *r, enum fake_auth st);
json_t *fake_auth_state_json(struct fake_client *cl);
void fake_session_save(struct fake_client *cl);
/* Make chat c known to cl, sending updateSupergroup/updateNewChat first if needed. */
void fake_chat_announce(struct fake_client *cl, struct fake_req *r, struct fake_chat *c);
/* The chat of a request's chat_id that cl knows, or NULL after answering "Chat not found". */
struct fake_chat *fake_req_chat(struct fake_req *r, const char *field);
struct fake_chat *fake_known_chat(struct fake_req *r, int64_t chat_id);
/* Process the requests cl parked while disconnected (or before setTdlibParameters). */
void fake_unpark(struct fake_client *cl);
void fake_unpark_preinit(struct fake_client *cl);
/* Connection state changes: updates and, on reconnect, the parked requests. */
void fake_set_connected(struct fake_client *cl, struct fake_req *r, bool is_connected);
/* Answer 429 "retry after seconds" and start the wait. */
void fake_flood_answer(struct fake_req *r, int64_t seconds);

/* ---- request fields with TDLib's leniency (fake_tdjson.c) ---- */

/* false after answering r with TDLib's parse error */
bool fake_arg_i64(struct fake_req *r, const char *key, int64_t *out);
bool fake_arg_i32(struct fake_req *r, const char *key, int32_t *out);
bool fake_arg_bool(struct fake_req *r, const char *key, bool *out);
bool fake_arg_str(struct fake_req *r, const char *key, const char **out);

/*
 * Pages built ahead (fake_history.c): whether one is wanted, and building
 * it, which the worker does with the mutex released and the world read-locked.
 */
bool fake_prefetch_wanted(void);
void fake_prefetch_run(void);

/* ---- handlers ---- */

typedef void (*fake_handler_fn)(struct fake_req *r);

#define FAKE_F_USER_ONLY 0x01 /* "The method is not available to bots" */
#define FAKE_F_NETWORK   0x02 /* waits for the connection */
#define FAKE_F_HISTORY   0x04 /* one at a time per chat */
#define FAKE_F_EXEMPT    0x08 /* allowed during a flood wait */
#define FAKE_F_PREAUTH   0x10 /* allowed before authorization */

struct fake_method {
    const char *name;
    fake_handler_fn fn;
    unsigned flags;
};

extern const struct fake_method fake_auth_methods[];
extern const struct fake_method fake_chat_methods[];
extern const struct fake_method fake_history_methods[];
extern const struct fake_method fake_file_methods[];

/* ---- files and downloads (fake_files.c) ---- */

/*
 * obj (borrowed) as client cl sees it: every "file" object inside gets the
 * client's file id and local state. A new reference (obj itself when
 * nothing changes). refresh: the objects are messages read from the
 * server, which renews their files' references. ids, when not NULL,
 * collects the client's file indices met (fake_history.c's pages ahead).
 */
json_t *fake_files_patch(struct fake_client *cl, json_t *obj, bool refresh);
struct fake_file_ids {
    uint32_t *v;
    size_t n, cap;
    bool any_local; /* one of them had local state */
};
json_t *fake_files_patch_ids(struct fake_client *cl, json_t *obj, bool refresh,
                             struct fake_file_ids *ids);
/* Whether any file of ids has local state now. */
bool fake_files_any_local(struct fake_client *cl, const struct fake_file_ids *ids);
/* setTdlibParameters: the files directory (created) and the saved downloads; false answered. */
bool fake_files_open(struct fake_req *r, const char *files_dir, bool use_file_database);
/* The client closes: downloads stop, waiting requests get code/message. */
void fake_files_abort(struct fake_client *cl, int code, const char *message);
void fake_files_close(struct fake_client *cl);
/*
 * Run the download steps due by now (the worker, mutex held); returns the
 * monotonic time of the next step, or 0 when none is waiting.
 */
double fake_files_run(double now);
/* Control lines (fake_control.c): scripted download failures. */
void fake_files_inject(const char *what, const json_t *cmd, const char *line);

/* ---- control lines (fake_control.c) ---- */

/* Apply one control command; live: push updates to clients. Errors go to the log. */
void fake_control_apply(const char *line, bool live);
/* The next matching "flood" command, consumed: seconds, or 0. */
int64_t fake_control_take_flood(struct fake_client *cl, const char *method);

/* Push an update about chat c to every client that would receive it (steals obj). */
void fake_broadcast(struct fake_chat *c, json_t *obj);

#endif
