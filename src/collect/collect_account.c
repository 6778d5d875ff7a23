/* SPDX-License-Identifier: MIT */
/*
 * collect_account.c - accounts (login, logout, listing) and adding chats:
 * the short TDLib sessions the CLI runs outside the collection loop.
 */
#include "collect/collect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collect/collect_int.h"
#include "collect/collect_resolve.h"
#include "core/alloc.h"
#include "core/log.h"

#define TGH_LOG_SUB "collect"

#define LOGIN_TIMEOUT_S 600.0
#define CALL_TIMEOUT_S  120.0

/*
 * A TDLib session of account (its folder created when create), started as
 * far as TDLib's first authorization state. On failure nothing stays open.
 */
static tgh_err
session_open(const struct tgh_config *cfg, const char *account, bool create, struct td_hub **hp,
             struct td_acct **ap)
{
    struct td_hub *h = NULL;
    tgh_err rc = td_hub_open(cfg, &h);

    if (rc == TGH_OK)
        rc = td_acct_open(h, account, create, ap);
    if (rc == TGH_OK)
        rc = td_acct_wait_auth(*ap, 60, NULL);
    if (rc != TGH_OK)
        return h != NULL ? td_hub_close_failed(h, rc) : rc;
    *hp = h;
    return TGH_OK;
}

/* One request answered synchronously (for the CLI's short sessions). */
struct sync_call {
    bool done;
    json_t *answer;
};

static void
sync_done(void *ctx, struct td_acct *a, json_t *answer)
{
    struct sync_call *s = ctx;

    (void)a;
    s->done = true;
    s->answer = json_incref(answer);
}

static tgh_err
call_sync(struct td_acct *a, json_t *req, json_t **answer)
{
    struct sync_call s = { 0 };
    double until = td_now() + CALL_TIMEOUT_S;
    const char *type = td_type(req);
    char what[64];

    (void)snprintf(what, sizeof(what), "%s", type);
    td_call(a, req, sync_done, &s, &a->counts);
    while (!s.done && td_now() < until && a->auth != TD_AUTH_CLOSED)
        (void)td_hub_poll(a->hub, 0.5);
    if (!s.done) {
        td_forget(a->hub, &s);
        return tgh_errf(TGH_ETIMEOUT, "account %s: no answer to %s", a->name, what);
    }
    *answer = s.answer;
    return TGH_OK;
}

/* The file's first line once it exists and is not empty (TG_CODE_FILE). */
static tgh_err
code_from_file(const char *path, char *buf, size_t n, double timeout_s)
{
    double until = td_now() + timeout_s;

    for (;;) {
        FILE *f = fopen(path, "r");

        if (f != NULL) {
            bool got = fgets(buf, (int)n, f) != NULL;

            (void)fclose(f);
            buf[strcspn(buf, "\r\n")] = '\0';
            if (got && buf[0] != '\0')
                return TGH_OK;
        } else if (errno != ENOENT) {
            return tgh_errf(TGH_EIO, "TG_CODE_FILE %s: %s", path, strerror(errno));
        }
        if (td_now() >= until)
            return tgh_errf(TGH_ETIMEOUT, "TG_CODE_FILE %s: no code within %.0f s", path,
                            timeout_s);
        (void)usleep(200 * 1000);
    }
}

static tgh_err
ask(const struct collect_login_io *io, const char *what, bool secret, char *buf, size_t n)
{
    if (io == NULL || io->ask == NULL)
        return tgh_errf(TGH_EINVAL, "login needs the %s and cannot ask for it here", what);
    return io->ask(io->arg, what, secret, buf, n);
}

static void
say(const struct collect_login_io *io, const char *line)
{
    if (io != NULL && io->say != NULL)
        io->say(io->arg, line);
}

/* An error answer into a tgh_err naming the step; TGH_OK otherwise. */
static tgh_err
answer_error(struct td_acct *a, const json_t *ans, const char *step)
{
    int code;
    const char *msg;

    if (!td_is_error(ans, &code, &msg))
        return TGH_OK;
    return tgh_errf(code >= 500 ? TGH_EUNAVAIL : TGH_EINVAL, "account %s: %s: %d %s", a->name, step,
                    code, msg);
}

/* Send an authentication step; a wrong answer may be asked again when interactive. */
static tgh_err
auth_step(struct td_acct *a, json_t *req, const char *step, bool *retry)
{
    json_t *ans = NULL;
    enum td_auth before = a->auth; /* the new state may come before the answer */
    tgh_err rc = call_sync(a, req, &ans);

    *retry = false;
    if (rc != TGH_OK)
        return rc;
    rc = answer_error(a, ans, step);
    if (rc != TGH_OK) {
        *retry = true;
        json_decref(ans);
        return rc;
    }
    json_decref(ans);
    /* The new state follows the answer. */
    {
        double until = td_now() + 30;

        while (a->auth == before && td_now() < until)
            (void)td_hub_poll(a->hub, 0.2);
    }
    return TGH_OK;
}

tgh_err
collect_login(const struct tgh_config *cfg, const char *account, const struct collect_login_io *io,
              struct collect_account_info *out)
{
    struct td_hub *h = NULL;
    struct td_acct *a = NULL;
    tgh_err rc;
    char buf[256];
    int tries = 0;
    bool interactive_code = cfg->code_file[0] == '\0';

    memset(out, 0, sizeof(*out));
    if (account == NULL)
        account = cfg->account;
    rc = session_open(cfg, account, true, &h, &a);
    if (rc != TGH_OK)
        return rc;
    while (rc == TGH_OK && a->auth != TD_AUTH_READY) {
        bool retry = false;

        if (++tries > 10) {
            rc = tgh_errf(TGH_EINVAL, "account %s: too many failed attempts", account);
            break;
        }
        switch (a->auth) {
        case TD_AUTH_WAIT_PHONE:
            if (cfg->bot_token[0] != '\0') {
                rc = auth_step(a,
                               json_pack("{s:s, s:s}", "@type", "checkAuthenticationBotToken",
                                         "token", cfg->bot_token),
                               "bot token", &retry);
                retry = false; /* a token from the environment is not asked again */
                break;
            }
            if (cfg->phone[0] != '\0')
                (void)snprintf(buf, sizeof(buf), "%s", cfg->phone);
            else if ((rc = ask(io, "phone", false, buf, sizeof(buf))) != TGH_OK)
                break;
            rc = auth_step(a,
                           json_pack("{s:s, s:s}", "@type", "setAuthenticationPhoneNumber",
                                     "phone_number", buf),
                           "phone number", &retry);
            retry = retry && cfg->phone[0] == '\0';
            break;
        case TD_AUTH_WAIT_CODE:
            say(io, "Telegram sent a login code to the account's other sessions (or by SMS).");
            if (!interactive_code)
                rc = code_from_file(cfg->code_file, buf, sizeof(buf), LOGIN_TIMEOUT_S);
            else
                rc = ask(io, "code", false, buf, sizeof(buf));
            if (rc != TGH_OK)
                break;
            rc = auth_step(a,
                           json_pack("{s:s, s:s}", "@type", "checkAuthenticationCode", "code", buf),
                           "login code", &retry);
            retry = retry && interactive_code;
            break;
        case TD_AUTH_WAIT_PASSWORD:
            if (cfg->password[0] != '\0')
                (void)snprintf(buf, sizeof(buf), "%s", cfg->password);
            else if ((rc = ask(io, "password", true, buf, sizeof(buf))) != TGH_OK)
                break;
            rc = auth_step(
                a, json_pack("{s:s, s:s}", "@type", "checkAuthenticationPassword", "password", buf),
                "two-step verification password", &retry);
            retry = retry && cfg->password[0] == '\0';
            memset(buf, 0, sizeof(buf));
            break;
        case TD_AUTH_WAIT_OTHER:
            rc = tgh_errf(TGH_EINVAL,
                          "account %s: Telegram asks for a login step tgharvest does not support "
                          "(e-mail, registration or QR code); log in once in an official app",
                          account);
            break;
        case TD_AUTH_CLOSED:
            rc = tgh_errf(TGH_EUNAVAIL, "account %s: TDLib closed the session: %s", account,
                          a->auth_error[0] ? a->auth_error : "no reason given");
            break;
        default:
            (void)td_hub_poll(h, 0.5);
            break;
        }
        if (rc != TGH_OK && retry) {
            say(io, tgh_errmsg());
            rc = TGH_OK;
        }
    }
    if (rc == TGH_OK) {
        json_t *me = NULL;

        rc = call_sync(a, json_pack("{s:s}", "@type", "getMe"), &me);
        if (rc == TGH_OK)
            rc = answer_error(a, me, "getMe");
        if (rc == TGH_OK)
            rc = td_acct_info_write(a, me);
        if (rc == TGH_OK) {
            (void)snprintf(out->name, sizeof(out->name), "%s", account);
            rc = td_acct_info_read(a->dir, out);
        }
        json_decref(me);
    }
    if (rc != TGH_OK)
        return td_hub_close_failed(h, rc);
    td_hub_close(h, 10);
    return TGH_OK;
}

static tgh_err
remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    tgh_err rc = TGH_OK;

    if (d == NULL)
        return errno == ENOENT ? TGH_OK
                               : tgh_errf(TGH_EIO, "cannot open %s: %s", path, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        char child[PATH_MAX];
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= (int)sizeof(child)) {
            rc = tgh_errf(TGH_ETOOBIG, "path under %s is too long", path);
            break;
        }
        if (lstat(child, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            rc = remove_tree(child);
        else if (unlink(child) != 0)
            rc = tgh_errf(TGH_EIO, "cannot remove %s: %s", child, strerror(errno));
        if (rc != TGH_OK)
            break;
    }
    (void)closedir(d);
    if (rc == TGH_OK && rmdir(path) != 0)
        rc = tgh_errf(TGH_EIO, "cannot remove %s: %s", path, strerror(errno));
    return rc;
}

tgh_err
collect_logout(const struct tgh_config *cfg, const char *account)
{
    struct td_hub *h = NULL;
    struct td_acct *a = NULL;
    char dir[PATH_MAX];
    tgh_err rc;

    if (account == NULL)
        account = cfg->account;
    rc = session_open(cfg, account, false, &h, &a);
    if (rc != TGH_OK)
        return rc;
    if (a->auth == TD_AUTH_READY) {
        double until = td_now() + 60;

        td_call(a, json_pack("{s:s}", "@type", "logOut"), NULL, NULL, NULL);
        while (a->auth != TD_AUTH_CLOSED && td_now() < until)
            (void)td_hub_poll(h, 0.5);
        if (a->auth != TD_AUTH_CLOSED)
            rc = tgh_errf(TGH_ETIMEOUT, "account %s: logOut did not finish", account);
    }
    if (rc != TGH_OK)
        return td_hub_close_failed(h, rc);
    (void)snprintf(dir, sizeof(dir), "%s", a->dir);
    td_hub_close(h, 10);
    return remove_tree(dir);
}

static int
name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

tgh_err
collect_accounts_each(const struct tgh_config *cfg, collect_account_fn fn, void *arg)
{
    char root[PATH_MAX];
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    tgh_err rc = TGH_OK;

    if (cfg->data_dir[0] == '\0')
        return tgh_errf(TGH_EINVAL, "TGH_DATA_DIR is empty: set it to the folder for accounts");
    if (snprintf(root, sizeof(root), "%s/accounts", cfg->data_dir) >= (int)sizeof(root))
        return tgh_errf(TGH_ETOOBIG, "TGH_DATA_DIR is too long");
    d = opendir(root);
    if (d == NULL)
        return errno == ENOENT ? TGH_OK
                               : tgh_errf(TGH_EIO, "cannot read %s: %s", root, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        if (!collect_account_name_valid(de->d_name))
            continue;
        names = tgh_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = tgh_strdup(de->d_name);
    }
    (void)closedir(d);
    qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct collect_account_info info = { 0 };
        char dir[PATH_MAX + 80], lockp[PATH_MAX + 96];
        int fd;

        if (rc == TGH_OK) {
            (void)snprintf(info.name, sizeof(info.name), "%s", names[i]);
            (void)snprintf(dir, sizeof(dir), "%s/%s", root, names[i]);
            if (td_acct_info_read(dir, &info) != TGH_OK)
                info.logged_in = false; /* a folder without a finished login */
            (void)snprintf(lockp, sizeof(lockp), "%s/lock", dir);
            fd = open(lockp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd >= 0) {
                if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
                    info.in_use = true;
                (void)close(fd);
            }
            if (fn(arg, &info) != 0)
                rc = TGH_OK, i = n - 1;
        }
        tgh_free(names[i]);
    }
    tgh_free(names);
    return rc;
}

/* Adding a chat: a short session of its own. */

struct add_wait {
    bool done;
};

static void
add_done(void *arg, struct resolve *r)
{
    struct add_wait *w = arg;

    (void)r;
    w->done = true;
}

/* The row of a chat added again, copied out (the store reuses its strings). */
struct tracked_before {
    bool found;
    char account[COLLECT_ACCOUNT_NAME_MAX + 1];
    char spec[256];
    int64_t chat_id, linked_chat_id, last_collected_at;
    bool is_forum;
    bool collected; /* status "ok" */
    char type[32], title[256], username[128];
};

static void
remember_row(const struct tgh_config *cfg, const struct store_tracked *old,
             struct tracked_before *b)
{
    b->found = true;
    (void)snprintf(b->account, sizeof(b->account), "%s",
                   old->account != NULL ? old->account : cfg->account);
    (void)snprintf(b->spec, sizeof(b->spec), "%s", old->spec);
    b->chat_id = old->chat_id;
    b->linked_chat_id = old->linked_chat_id;
    b->last_collected_at = old->last_collected_at;
    b->is_forum = old->is_forum;
    b->collected = old->status != NULL && strcmp(old->status, "ok") == 0;
    (void)snprintf(b->type, sizeof(b->type), "%s", old->type ? old->type : "");
    (void)snprintf(b->title, sizeof(b->title), "%s", old->title ? old->title : "");
    (void)snprintf(b->username, sizeof(b->username), "%s", old->username ? old->username : "");
}

/*
 * Adding a chat again must not lose what its row knew: the chat id, type
 * and title when this add did not resolve it (the collector holds the
 * account, or TDLib refused), and when it was last collected.
 */
static void
keep_learnt(const struct tracked_before *b, bool resolved, struct store_tracked *t)
{
    if (!b->found || (t->chat_id != 0 && b->chat_id != 0 && t->chat_id != b->chat_id))
        return; /* another chat by now (its username moved) */
    if (!resolved && b->chat_id != 0) {
        t->chat_id = b->chat_id;
        t->type = b->type[0] ? b->type : NULL;
        t->title = b->title[0] ? b->title : NULL;
        if (t->username == NULL && b->username[0] != '\0')
            t->username = b->username;
        t->linked_chat_id = b->linked_chat_id;
        t->is_forum = b->is_forum;
    }
    t->last_collected_at = b->last_collected_at;
    if (b->collected && strcmp(t->status, "new") == 0)
        t->status = "ok";
}

/* Moving a chat to another account is allowed, but never silently. */
static void
warn_moved(const struct tracked_before *b, const char *spec, const char *account)
{
    if (b->found && strcmp(b->account, account) != 0)
        log_warn("%s: this chat was collected by account %s (added as %s); from now on account "
                 "%s collects it",
                 spec, b->account, b->spec, account);
}

tgh_err
collect_chat_add(const struct tgh_config *cfg, struct store *st, const char *spec,
                 const struct collect_add_opts *o, int64_t *row_id, bool *deferred)
{
    const char *account = o->account != NULL ? o->account : cfg->account;
    struct store_tracked t = { 0 }, old;
    struct resolve r = { 0 };
    struct add_wait w = { 0 };
    struct tracked_before before = { 0 };
    struct td_hub *h = NULL;
    struct td_acct *a = NULL;
    double until;
    tgh_err rc;

    *deferred = false;
    rc = resolve_parse(spec, &r.spec);
    if (rc != TGH_OK)
        return rc;
    if (!collect_account_name_valid(account))
        return tgh_errf(TGH_EINVAL, "account name '%s' is not valid", account);
    t.spec = spec;
    t.account = account;
    t.enabled = true;
    t.status = "new";
    t.comments = o->comments;
    t.topics = o->topics;
    t.chat_id = r.spec.kind == RESOLVE_ID ? r.spec.chat_id : 0;
    t.username = r.spec.username[0] ? r.spec.username : NULL;
    /* A chat added before keeps what was learnt of it (keep_learnt). */
    if (store_tracked_find(st, spec, &old) == TGH_OK) {
        t.id = old.id;
        remember_row(cfg, &old, &before);
    }

    rc = session_open(cfg, account, false, &h, &a);
    if (rc == TGH_ECONFLICT) {
        /* The running collector has the session: it resolves the chat itself. */
        char msg[512];

        (void)snprintf(msg, sizeof(msg), "%s", tgh_errmsg());
        /*
         * A tracked chat does not record --join, so the collector would
         * resolve the link without joining and mark the chat in error.
         */
        if (o->join && r.spec.kind == RESOLVE_INVITE)
            return tgh_errf(TGH_ECONFLICT,
                            "%s; joining by invite link needs the account: stop the collector, "
                            "add the chat with --join, then start it again",
                            msg);
        keep_learnt(&before, false, &t);
        rc = store_tracked_put(st, &t, row_id);
        if (rc == TGH_OK) {
            log_info("%s; the chat is recorded and the running collector will resolve it", msg);
            warn_moved(&before, spec, account);
            *deferred = true;
        }
        return rc;
    }
    if (rc != TGH_OK)
        return rc;
    if (a->auth != TD_AUTH_READY)
        return td_hub_close_failed(
            h,
            tgh_errf(TGH_EINVAL, "account '%s' is not logged in: run tgharvest login --account %s",
                     account, account));
    r.acct = a;
    r.join = o->join;
    r.want_linked = o->comments;
    r.counts = &a->counts;
    r.done = add_done;
    r.arg = &w;
    resolve_start(&r);
    until = td_now() + CALL_TIMEOUT_S;
    while (!w.done && td_now() < until)
        (void)td_hub_poll(h, 0.5);
    td_hub_close(h, 10);
    if (!w.done) {
        t.status = "error";
        t.error = "no answer from TDLib";
    } else if (r.error[0] != '\0') {
        t.status = "error";
        t.error = r.error;
    } else {
        t.chat_id = r.chat_id;
        t.status = "new";
        t.type = msg_chat_type_name(r.type);
        t.title = r.title[0] ? r.title : NULL;
        t.username = r.username[0] ? r.username : t.username;
        t.linked_chat_id = r.linked_chat_id;
        t.is_forum = r.is_forum;
        if (o->comments && r.type != MSG_CHAT_CHANNEL)
            log_warn("%s is not a channel: --comments has no effect", spec);
        if (o->comments && r.type == MSG_CHAT_CHANNEL && r.linked_chat_id == 0)
            log_warn("%s has no discussion group: there are no comments to collect", spec);
        if (o->topics && !r.is_forum)
            log_warn("%s is not a forum: --topics has no effect", spec);
    }
    if (t.chat_id != 0 && store_tracked_find(st, spec, &old) != TGH_OK) {
        char key[32];

        (void)snprintf(key, sizeof(key), "%" PRId64, t.chat_id);
        if (store_tracked_find(st, key, &old) == TGH_OK) {
            t.id = old.id; /* the same chat under another spec: one row */
            remember_row(cfg, &old, &before);
        }
    }
    if (strcmp(t.status, "error") == 0 && before.found && before.chat_id != 0 &&
        strcmp(before.account, account) != 0) {
        /* A failed attempt through another account leaves the working row alone. */
        return tgh_errf(resolve_error_is_permanent(r.error_code) ? TGH_EINVAL : TGH_EUNAVAIL,
                        "%s (through account %s; the chat stays with account %s)", t.error, account,
                        before.account);
    }
    keep_learnt(&before, w.done && r.error[0] == '\0', &t);
    rc = store_tracked_put(st, &t, row_id);
    if (rc == TGH_OK)
        warn_moved(&before, spec, account);
    if (rc == TGH_OK && t.chat_id != 0 && strcmp(t.status, "error") != 0)
        rc = store_chat_upsert(st, t.chat_id, r.type, t.title, t.username);
    if (rc != TGH_OK)
        return rc;
    if (strcmp(t.status, "error") == 0)
        return tgh_errf(resolve_error_is_permanent(r.error_code) ? TGH_EINVAL : TGH_EUNAVAIL, "%s",
                        t.error);
    return TGH_OK;
}
