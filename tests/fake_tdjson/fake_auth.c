/* SPDX-License-Identifier: MIT */
/*
 * fake_auth.c - the authorization state machine of one client, as TDLib's
 * AuthManager drives it (td/telegram/AuthManager.cpp), and the session that
 * stands in for td.binlog: <database_directory>/fake-td-session.json, written
 * when a login completes, removed by logOut. A directory is locked (flock)
 * while a client uses it, so a second process on the same session fails as
 * TDLib does, and a killed one releases it.
 */
#include "fake_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const state_types[] = {
    [FAKE_ST_NONE] = "authorizationStateWaitTdlibParameters",
    [FAKE_ST_WAIT_PARAMS] = "authorizationStateWaitTdlibParameters",
    [FAKE_ST_WAIT_PHONE] = "authorizationStateWaitPhoneNumber",
    [FAKE_ST_WAIT_CODE] = "authorizationStateWaitCode",
    [FAKE_ST_WAIT_PASSWORD] = "authorizationStateWaitPassword",
    [FAKE_ST_READY] = "authorizationStateReady",
    [FAKE_ST_LOGGING_OUT] = "authorizationStateLoggingOut",
    [FAKE_ST_CLOSING] = "authorizationStateClosing",
    [FAKE_ST_CLOSED] = "authorizationStateClosed",
};

json_t *
fake_auth_state_json(struct fake_client *cl)
{
    json_t *s = fake_obj(state_types[cl->st]);

    if (cl->st == FAKE_ST_WAIT_CODE) {
        json_t *info = fake_obj("authenticationCodeInfo"), *t;

        t = fake_obj("authenticationCodeTypeTelegramMessage");
        fake_set_int(t, "length", (int64_t)strlen(cl->pending_acct->code));
        fake_set_str(info, "phone_number", cl->pending_acct->phone);
        fake_set(info, "type", t);
        fake_set_int(info, "timeout", 0);
        fake_set(s, "code_info", info);
    } else if (cl->st == FAKE_ST_WAIT_PASSWORD) {
        fake_set_str(s, "password_hint", cl->pending_acct->password_hint);
        fake_set_bool(s, "has_recovery_email_address", false);
        fake_set_bool(s, "has_passport_data", false);
        fake_set_str(s, "recovery_email_address_pattern", "");
    }
    return s;
}

void
fake_auth_set_state(struct fake_client *cl, struct fake_req *r, enum fake_auth st)
{
    json_t *u = fake_obj("updateAuthorizationState");

    cl->st = st;
    if (st == FAKE_ST_READY) {
        json_t *o = fake_obj("updateOption"), *v = fake_obj("optionValueInteger");

        fake_set_str(o, "name", "my_id");
        fake_set_i64(v, "value", cl->acct->user_id);
        fake_set(o, "value", v);
        fake_update(cl, r, o);
        o = fake_obj("updateUser");
        fake_set(o, "user", fake_account_user_json(cl->acct));
        fake_update(cl, r, o);
    }
    if (st == FAKE_ST_CLOSING || st == FAKE_ST_LOGGING_OUT)
        fake_files_abort(cl, 500, "Request aborted"); /* downloads stop; partial files stay */
    if (st == FAKE_ST_CLOSED) {
        fake_files_close(cl);
        cl->is_connected = false;
        if (cl->lock_fd >= 0)
            (void)close(cl->lock_fd);
        cl->lock_fd = -1;
    }
    fake_set(u, "authorization_state", fake_auth_state_json(cl));
    fake_update(cl, r, u);
}

/* After Ready: the connection comes up (or stays down while the network is). */
static void
connect_after_login(struct fake_client *cl, struct fake_req *r)
{
    json_t *u = fake_obj("updateConnectionState");

    fake_set(u, "state", fake_obj("connectionStateConnecting"));
    fake_update(cl, r, u);
    if (fake_g.net_down)
        return;
    cl->is_connected = true;
    u = fake_obj("updateConnectionState");
    fake_set(u, "state", fake_obj("connectionStateReady"));
    fake_update(cl, r, u);
}

/* ---- the session file ---- */

static void
session_path(const struct fake_client *cl, const char *name, char *out, size_t n)
{
    (void)snprintf(out, n, "%s/%s", cl->db_dir, name);
}

void
fake_session_save(struct fake_client *cl)
{
    char path[4096], tmp[4200];
    json_t *s, *known = json_array(), *joined = json_array();
    struct fake_account *a = cl->acct;

    if (a == NULL || cl->db_dir == NULL || cl->st != FAKE_ST_READY) {
        json_decref(known);
        json_decref(joined);
        return;
    }
    for (size_t i = 0; i < fake_g.w->nchats; i++) {
        if (cl->use_chat_info_db && cl->known[i])
            json_array_append_new(known, json_integer(fake_g.w->chats[i].id));
        if (a->joined[i])
            json_array_append_new(joined, json_integer(fake_g.w->chats[i].id));
    }
    s = json_pack("{s:s, s:I, s:s, s:o, s:o}", "account",
                  a->bot_token != NULL ? a->bot_token : a->phone, "user_id", (json_int_t)a->user_id,
                  "database_encryption_key", cl->enc_key, "known_chats", known, "joined", joined);
    session_path(cl, FAKE_SESSION_FILE, path, sizeof(path));
    (void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* written whole, then renamed: a killed process leaves the old or the new session */
    if (json_dump_file(s, tmp, JSON_COMPACT) == 0 && rename(tmp, path) != 0)
        (void)unlink(tmp);
    json_decref(s);
}

static void
session_remove(struct fake_client *cl)
{
    char path[4096];

    if (cl->db_dir == NULL)
        return;
    session_path(cl, FAKE_SESSION_FILE, path, sizeof(path));
    (void)unlink(path);
    session_path(cl, FAKE_FILES_STATE, path, sizeof(path)); /* the file database goes too */
    (void)unlink(path);
}

static bool
mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(buf, 0750) == 0 || errno == EEXIST;
}

/* Restore a saved login; false (answered) on a wrong key. */
static bool
session_restore(struct fake_req *r, const json_t *s)
{
    struct fake_client *cl = r->cl;
    const char *key = json_string_value(json_object_get(s, "database_encryption_key"));
    const char *acct = json_string_value(json_object_get(s, "account"));
    struct fake_account *a = acct != NULL ? fake_world_account_by_key(fake_g.w, acct) : NULL;
    size_t i;
    json_t *v;

    if (key == NULL || strcmp(key, cl->enc_key) != 0) {
        fake_answer_error(r, 401, "Wrong database encryption key");
        return false;
    }
    if (a == NULL)
        return true; /* the account is gone from the world: log in again */
    cl->acct = a;
    json_array_foreach (json_object_get(s, "joined"), i, v) {
        struct fake_chat *c = fake_world_chat(fake_g.w, json_integer_value(v));

        if (c != NULL && !a->kicked[c->index])
            a->joined[c->index] = true;
    }
    if (cl->use_chat_info_db) {
        json_array_foreach (json_object_get(s, "known_chats"), i, v) {
            struct fake_chat *c = fake_world_chat(fake_g.w, json_integer_value(v));

            if (c != NULL)
                cl->known[c->index] = 1; /* announced when first used, as TDLib loads it */
        }
    }
    return true;
}

/* ---- handlers ---- */

static void
h_get_authorization_state(struct fake_req *r)
{
    fake_answer(r, fake_auth_state_json(r->cl));
}

static bool
nonempty(struct fake_req *r, const char *key, const char *message, const char **out)
{
    if (!fake_arg_str(r, key, out))
        return false;
    if (**out == '\0') {
        fake_answer_error(r, 400, message);
        return false;
    }
    return true;
}

static bool
lock_dir(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    char path[4096], msg[4300];
    int fd;

    session_path(cl, "fake-td.lock", path, sizeof(path));
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        cl->lock_fd = fd;
        return true;
    }
    if (fd >= 0)
        (void)close(fd);
    (void)snprintf(msg, sizeof(msg),
                   "Can't lock file \"%s/td.binlog\", because it is already in use; check for "
                   "another program instance running",
                   cl->db_dir);
    fake_answer_error(r, 400, msg);
    return false;
}

static void
h_set_tdlib_parameters(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    const char *hash, *dir, *key, *s, *files_dir;
    int32_t api_id;
    bool chat_db, msg_db, file_db;
    char path[4096], msg[4300];
    json_t *session;

    if (cl->st != FAKE_ST_WAIT_PARAMS) {
        fake_answer_error(r, 400, "Unexpected setTdlibParameters");
        return;
    }
    if (!fake_arg_i32(r, "api_id", &api_id) || !fake_arg_str(r, "api_hash", &hash) ||
        !fake_arg_str(r, "database_directory", &dir) ||
        !fake_arg_str(r, "database_encryption_key", &key) ||
        !fake_arg_bool(r, "use_chat_info_database", &chat_db) ||
        !fake_arg_bool(r, "use_message_database", &msg_db) ||
        !fake_arg_str(r, "files_directory", &files_dir) ||
        !fake_arg_bool(r, "use_file_database", &file_db))
        return;
    if (api_id <= 0) {
        fake_answer_error(r, 400,
                          "Valid api_id must be provided. Can be obtained at "
                          "https://my.telegram.org");
        return;
    }
    if (*hash == '\0') {
        fake_answer_error(r, 400,
                          "Valid api_hash must be provided. Can be obtained at "
                          "https://my.telegram.org");
        return;
    }
    if (!nonempty(r, "system_language_code", "System language code must be non-empty", &s) ||
        !nonempty(r, "device_model", "Device model must be non-empty", &s) ||
        !nonempty(r, "application_version", "Application version must be non-empty", &s))
        return;
    if (*dir == '\0') {
        /* TDLib would use the working directory; a test must say where its session lives */
        fake_answer_error(r, 400,
                          "Can't init database in the directory \"\": fake_tdjson needs "
                          "a database_directory");
        return;
    }
    if (!mkdir_p(dir)) {
        (void)snprintf(msg, sizeof(msg), "Can't init database in the directory \"%s\": %s", dir,
                       strerror(errno));
        fake_answer_error(r, 400, msg);
        return;
    }
    free(cl->db_dir);
    free(cl->enc_key);
    cl->db_dir = fake_xstrdup(dir);
    cl->enc_key = fake_xstrdup(key);
    cl->use_chat_info_db = chat_db || msg_db;
    if (!lock_dir(r))
        return;
    session_path(cl, FAKE_SESSION_FILE, path, sizeof(path));
    session = json_load_file(path, 0, NULL);
    if (session != NULL && !session_restore(r, session)) {
        json_decref(session);
        (void)close(cl->lock_fd);
        cl->lock_fd = -1;
        return;
    }
    json_decref(session);
    if (!fake_files_open(r, files_dir, file_db)) {
        (void)close(cl->lock_fd);
        cl->lock_fd = -1;
        return;
    }
    if (cl->acct != NULL) {
        fake_auth_set_state(cl, r, FAKE_ST_READY);
        fake_answer(r, fake_obj("ok"));
        connect_after_login(cl, r);
    } else {
        fake_auth_set_state(cl, r, FAKE_ST_WAIT_PHONE);
        fake_answer(r, fake_obj("ok"));
    }
    fake_unpark_preinit(cl);
}

static void
h_set_phone(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    struct fake_account *a;
    const char *phone;

    if (cl->st != FAKE_ST_WAIT_PHONE && cl->st != FAKE_ST_WAIT_CODE &&
        cl->st != FAKE_ST_WAIT_PASSWORD) {
        fake_answer_error(r, 400, "Call to setAuthenticationPhoneNumber unexpected");
        return;
    }
    if (!nonempty(r, "phone_number", "Phone number must be non-empty", &phone))
        return;
    a = fake_world_account_by_phone(fake_g.w, phone);
    if (a == NULL) {
        fake_answer_error(r, 400, "PHONE_NUMBER_INVALID");
        return;
    }
    cl->pending_acct = a;
    fake_auth_set_state(cl, r, FAKE_ST_WAIT_CODE);
    fake_answer(r, fake_obj("ok"));
}

static void
login_done(struct fake_req *r)
{
    struct fake_client *cl = r->cl;

    cl->acct = cl->pending_acct;
    fake_auth_set_state(cl, r, FAKE_ST_READY);
    fake_session_save(cl);
    fake_answer(r, fake_obj("ok"));
    connect_after_login(cl, r);
}

static void
h_check_code(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    const char *code;

    if (cl->st != FAKE_ST_WAIT_CODE) {
        fake_answer_error(r, 400, "Call to checkAuthenticationCode unexpected");
        return;
    }
    if (!fake_arg_str(r, "code", &code))
        return;
    if (strcmp(code, cl->pending_acct->code) != 0) {
        fake_answer_error(r, 400, "PHONE_CODE_INVALID");
        return;
    }
    if (cl->pending_acct->password != NULL) {
        fake_auth_set_state(cl, r, FAKE_ST_WAIT_PASSWORD);
        fake_answer(r, fake_obj("ok"));
        return;
    }
    login_done(r);
}

static void
h_check_password(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    const char *password;

    if (cl->st != FAKE_ST_WAIT_PASSWORD) {
        fake_answer_error(r, 400, "Call to checkAuthenticationPassword unexpected");
        return;
    }
    if (!fake_arg_str(r, "password", &password))
        return;
    if (strcmp(password, cl->pending_acct->password) != 0) {
        fake_answer_error(r, 400, "PASSWORD_HASH_INVALID");
        return;
    }
    login_done(r);
}

static void
h_check_bot_token(struct fake_req *r)
{
    struct fake_client *cl = r->cl;
    struct fake_account *a;
    const char *token;

    if (cl->st != FAKE_ST_WAIT_PHONE) {
        fake_answer_error(r, 400, "Call to checkAuthenticationBotToken unexpected");
        return;
    }
    if (!fake_arg_str(r, "token", &token))
        return;
    a = fake_world_account_by_token(fake_g.w, token);
    if (a == NULL) {
        fake_answer_error(r, 400, "ACCESS_TOKEN_INVALID");
        return;
    }
    cl->pending_acct = a;
    login_done(r);
}

static void
close_client(struct fake_req *r)
{
    fake_auth_set_state(r->cl, r, FAKE_ST_CLOSING);
    fake_auth_set_state(r->cl, r, FAKE_ST_CLOSED);
}

static void
h_log_out(struct fake_req *r)
{
    struct fake_client *cl = r->cl;

    if (cl->st == FAKE_ST_CLOSING) {
        fake_answer_error(r, 400, "Already logged out");
        return;
    }
    if (cl->st == FAKE_ST_LOGGING_OUT) {
        fake_answer_error(r, 400, "Already logging out");
        return;
    }
    fake_auth_set_state(cl, r, FAKE_ST_LOGGING_OUT);
    fake_answer(r, fake_obj("ok"));
    session_remove(cl);
    cl->logged_out = true;
    close_client(r);
}

static void
h_close(struct fake_req *r)
{
    /* TDLib answers first, then closes (Td::run_request) */
    fake_answer(r, fake_obj("ok"));
    close_client(r);
}

static void
h_destroy(struct fake_req *r)
{
    fake_answer(r, fake_obj("ok"));
    session_remove(r->cl);
    r->cl->logged_out = true;
    close_client(r);
}

static void
h_get_option(struct fake_req *r)
{
    const char *name;
    json_t *v;

    if (!fake_arg_str(r, "name", &name))
        return;
    if (strcmp(name, "my_id") == 0 && r->cl->acct != NULL && r->cl->st == FAKE_ST_READY) {
        v = fake_obj("optionValueInteger");
        fake_set_i64(v, "value", r->cl->acct->user_id);
    } else if (strcmp(name, "unix_time") == 0) {
        v = fake_obj("optionValueInteger");
        fake_set_i64(v, "value", (int64_t)fake_now_unix());
    } else {
        v = fake_obj("optionValueEmpty");
    }
    fake_answer(r, v);
}

static void
h_set_option(struct fake_req *r)
{
    fake_answer(r, fake_obj("ok"));
}

static void
h_get_me(struct fake_req *r)
{
    fake_answer(r, fake_account_user_json(r->cl->acct));
}

static void
h_get_user(struct fake_req *r)
{
    struct fake_user u;
    int64_t id;

    if (!fake_arg_i64(r, "user_id", &id))
        return;
    if (r->cl->acct != NULL && id == r->cl->acct->user_id) {
        fake_answer(r, fake_account_user_json(r->cl->acct));
        return;
    }
    if (!fake_world_user(fake_g.w, id, &u)) {
        fake_answer_error(r, 400, "User not found");
        return;
    }
    fake_answer(r, fake_user_json(&u, false));
}

#define AUTH (FAKE_F_EXEMPT | FAKE_F_PREAUTH)

const struct fake_method fake_auth_methods[] = {
    { "checkAuthenticationBotToken", h_check_bot_token, AUTH },
    { "checkAuthenticationCode", h_check_code, AUTH },
    { "checkAuthenticationPassword", h_check_password, AUTH },
    { "close", h_close, AUTH },
    { "destroy", h_destroy, AUTH },
    { "getAuthorizationState", h_get_authorization_state, AUTH },
    { "getMe", h_get_me, 0 },
    { "getOption", h_get_option, AUTH },
    { "getUser", h_get_user, 0 },
    { "logOut", h_log_out, AUTH },
    { "setAuthenticationPhoneNumber", h_set_phone, AUTH },
    { "setOption", h_set_option, AUTH },
    { "setTdlibParameters", h_set_tdlib_parameters, AUTH },
    { NULL, NULL, 0 },
};
