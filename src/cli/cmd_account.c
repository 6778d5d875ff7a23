/* SPDX-License-Identifier: MIT */
/*
 * cmd_account.c - `login`, `logout` and `accounts`: TDLib sessions, one
 * folder per account under TGH_DATA_DIR/accounts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "collect/collect.h"
#include "core/alloc.h"

static const struct option longopts[] = {
    { "account", required_argument, NULL, 'a' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Ask on the terminal; a secret is read without echo. */
static tgh_err
ask_tty(void *arg, const char *what, bool secret, char *buf, size_t n)
{
    struct termios old, quiet;
    bool restore = false;
    bool got;

    (void)arg;
    if (!isatty(STDIN_FILENO))
        return tgh_errf(TGH_EINVAL, "login needs the %s: set %s or run login on a terminal", what,
                        strcmp(what, "phone") == 0  ? "TG_PHONE"
                        : strcmp(what, "code") == 0 ? "TG_CODE_FILE"
                                                    : "TG_PASSWORD");
    (void)fprintf(stderr, "%s%s: ",
                  strcmp(what, "phone") == 0  ? "Phone number (international format, +...)"
                  : strcmp(what, "code") == 0 ? "Login code"
                                              : "Two-step verification password",
                  "");
    (void)fflush(stderr);
    if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    got = fgets(buf, (int)n, stdin) != NULL;
    if (restore) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        (void)fputc('\n', stderr);
    }
    if (!got)
        return tgh_errf(TGH_EINVAL, "login: no %s given", what);
    buf[strcspn(buf, "\r\n")] = '\0';
    return TGH_OK;
}

static void
say_tty(void *arg, const char *line)
{
    (void)arg;
    (void)fprintf(stderr, "%s\n", line);
}

static int
parse(const struct cli_cmd *cmd, int argc, char **argv, const char **account, bool *as_json)
{
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "ha:j", longopts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            *account = optarg;
            break;
        case 'j':
            if (as_json == NULL)
                return cli_usage_error(cmd, "option '--json' does not apply here");
            *as_json = true;
            break;
        case 'h':
            return cli_help(cmd);
        default:
            return cli_bad_option(cmd, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

static int
run_login(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *account = NULL;
    struct collect_login_io io = { NULL, ask_tty, say_tty };
    struct collect_account_info info;
    int rc = parse(&cli_cmd_login, argc, argv, &account, NULL);

    if (rc >= 0)
        return rc;
    if (collect_login(cfg, account, &io, &info) != TGH_OK) {
        cli_error("login", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    printf("account %s: logged in as ", info.name);
    cli_put_text(stdout, info.display);
    if (info.username[0] != '\0') {
        fputs(" (@", stdout);
        cli_put_text(stdout, info.username);
        fputc(')', stdout);
    }
    printf("%s, user id %" PRId64 "\n", info.is_bot ? ", a bot" : "", info.user_id);
    return cli_finish_output("login", CLI_EXIT_OK);
}

static int
run_logout(const struct tgh_config *cfg, int argc, char **argv)
{
    const char *account = NULL;
    int rc = parse(&cli_cmd_logout, argc, argv, &account, NULL);

    if (rc >= 0)
        return rc;
    if (account == NULL)
        account = cfg->account;
    if (collect_logout(cfg, account) != TGH_OK) {
        cli_error("logout", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    printf("account %s: logged out, its folder removed\n", account);
    return cli_finish_output("logout", CLI_EXIT_OK);
}

static int
print_account(void *arg, const struct collect_account_info *a)
{
    bool as_json = *(bool *)arg;
    char when[32];

    if (as_json) {
        json_t *o = json_pack("{s:s, s:b, s:b, s:b, s:I, s:s, s:s, s:I}", "name", a->name,
                              "logged_in", a->logged_in, "in_use", a->in_use, "is_bot", a->is_bot,
                              "user_id", (json_int_t)a->user_id, "display", a->display, "username",
                              a->username, "logged_in_at", (json_int_t)a->logged_in_at);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

        if (text != NULL)
            puts(text);
        json_decref(o);
        tgh_free(text); /* json_dumps uses malloc */
        return 0;
    }
    printf("%-20s %-10s %-6s %-19s ", a->name, a->logged_in ? "logged-in" : "no-session",
           a->in_use ? "in-use" : "-", cli_fmt_time(a->logged_in_at, when, sizeof(when)));
    cli_put_text(stdout, a->display);
    if (a->username[0] != '\0') {
        fputs(" @", stdout);
        cli_put_text(stdout, a->username);
    }
    fputc('\n', stdout);
    return 0;
}

static int
run_accounts(const struct tgh_config *cfg, int argc, char **argv)
{
    bool as_json = false;
    const char *account = NULL;
    int rc = parse(&cli_cmd_accounts, argc, argv, &account, &as_json);

    if (rc >= 0)
        return rc;
    if (account != NULL)
        return cli_usage_error(&cli_cmd_accounts, "option '--account' does not apply here");
    if (!as_json)
        printf("%-20s %-10s %-6s %-19s %s\n", "ACCOUNT", "SESSION", "LOCK", "LOGGED IN (UTC)",
               "NAME");
    if (collect_accounts_each(cfg, print_account, &as_json) != TGH_OK) {
        cli_error("accounts", "%s", tgh_errmsg());
        return CLI_EXIT_FAIL;
    }
    return cli_finish_output("accounts", CLI_EXIT_OK);
}

const struct cli_cmd cli_cmd_login = {
    "login",
    run_login,
    "log a Telegram account in through TDLib",
    "usage: tgharvest login [--account NAME]\n"
    "\n"
    "Log an account in, following TDLib's authorization states. Needs TG_API_ID\n"
    "and TG_API_HASH (https://my.telegram.org). With TG_BOT_TOKEN set it logs in as\n"
    "that bot. Otherwise it asks on the terminal for the phone number (or takes\n"
    "TG_PHONE), the login code (or waits for the file TG_CODE_FILE) and the two-step\n"
    "verification password (or takes TG_PASSWORD; typed without echo).\n"
    "\n"
    "The session lives in TGH_DATA_DIR/accounts/NAME (mode 0700), with TDLib's own log\n"
    "(td.log) and a lock: one process at a time uses an account. TGH_DB_KEY, when\n"
    "set, encrypts TDLib's database and is needed on every later start.\n"
    "\n"
    "  --account NAME  the account (default TGH_ACCOUNT, \"default\")\n",
};

const struct cli_cmd cli_cmd_logout = {
    "logout",
    run_logout,
    "log an account out and remove its session",
    "usage: tgharvest logout [--account NAME]\n"
    "\n"
    "Log the account out on Telegram's side (the session ends on every device list)\n"
    "and remove its folder. The archive is not touched.\n",
};

const struct cli_cmd cli_cmd_accounts = {
    "accounts",
    run_accounts,
    "list the accounts and their sessions",
    "usage: tgharvest accounts [--json]\n"
    "\n"
    "List the account folders under TGH_DATA_DIR/accounts: logged in or not, in use\n"
    "by a running process (its lock is held), when the login happened, and who.\n",
};
