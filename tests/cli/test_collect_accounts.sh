#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Accounts against the TDLib stand-in: login with a code file that appears
# later, a wrong code, a 2FA password (right and wrong), a bot token, no
# phone without a terminal; `accounts` and the folder's permissions; no
# secret in any output or in TDLib's log; two accounts collecting in one run;
# the database encryption key; logout.
. "$(dirname "$0")/collect_lib.sh"

A=-1001000000601
B=-1001000000602
C=-1001000000603
BOT_TOKEN=123456:harbour-bot-token-c0ffee
KEY=harbour-db-key-7c1e5b0a
OTHER_KEY=another-db-key-93f2d4e8
WRONG_PASSWORD=not-hunter2-at-all
world "[{\"id\": $A, \"kind\": \"channel\", \"title\": \"Chat A\", \"username\": \"chat_a\",
         \"history\": {\"count\": 30, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $B, \"kind\": \"channel\", \"title\": \"Chat B\", \"username\": \"chat_b\",
         \"history\": {\"count\": 40, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $C, \"kind\": \"channel\", \"title\": \"Chat C\", \"username\": \"chat_c\",
         \"history\": {\"count\": 20, \"start_date\": 1700000000, \"step_s\": 60}}]"
jq --arg t "$BOT_TOKEN" '.accounts += [{bot_token: $t, user_id: 123456, first_name: "Harbour bot"}]' \
    "$TGH_FAKE_TD_WORLD" >"$WORK/world.tmp" && mv "$WORK/world.tmp" "$TGH_FAKE_TD_WORLD"
export TGH_LOG_LEVEL=debug # the most the program ever says: still no secret in it

# run EXPECTED-STATUS COMMAND...: assert_status, keeping every output for the secrets check.
run() {
    local rc=0
    assert_status "$@" || rc=$?
    cat "$WORK/out" "$WORK/err" >>"$WORK/captured"
    return $rc
}
# The stand-in's log starts again; what it held is kept for the secrets check.
reset_log() {
    cat "$TGH_FAKE_TD_LOG" >>"$WORK/fake.all"
    : >"$TGH_FAKE_TD_LOG"
}
accounts_json() { run 0 tgh accounts --json && cat "$WORK/out"; }
account() { accounts_json | jq -r --arg n "$1" "select(.name == \$n) | $2"; }

# The code file appears only after login started (TDLib sent the code by then).
rm -f "$TG_CODE_FILE"
"$TGHARVEST" login --account a1 >"$WORK/login_a1.out" 2>"$WORK/login_a1.err" </dev/null &
pid=$!
for _ in $(seq 100); do
    [ -s "$TGH_FAKE_TD_LOG" ] && [ -n "$(requests setAuthenticationPhoneNumber)" ] && break
    sleep 0.1
done
assert_eq "the phone number sent" '"+15550001001"' "$(requests setAuthenticationPhoneNumber | jq .phone_number)"
sleep 0.5
kill -0 $pid 2>/dev/null || fail "login ended before the code file existed: $(cat "$WORK/login_a1.err")"
assert_eq "no code tried yet" "" "$(requests checkAuthenticationCode)"
echo 12345 >"$TG_CODE_FILE"
wait $pid || fail "login with a late code file: $(cat "$WORK/login_a1.err")"
assert_contains "logged in" "account a1: logged in as Ada (@ada_archives), user id 777001" "$WORK/login_a1.out"
ok "login waits for TG_CODE_FILE to appear"

echo 99999 >"$WORK/wrong_code"
TG_CODE_FILE=$WORK/wrong_code run 1 tgh login --account wrongcode
assert_contains "wrong code" "PHONE_CODE_INVALID" "$WORK/err"
ok "a wrong code: exit 1, PHONE_CODE_INVALID"

echo 54321 >"$WORK/code2"
TG_PHONE=+15550001002 TG_CODE_FILE=$WORK/code2 TG_PASSWORD=hunter2 run 0 tgh login --account a2
assert_contains "2FA login" "account a2: logged in as Bo, user id 777002" "$WORK/out"
TG_PHONE=+15550001002 TG_CODE_FILE=$WORK/code2 TG_PASSWORD=$WRONG_PASSWORD run 1 tgh login --account badpass
assert_contains "wrong password" "PASSWORD_HASH_INVALID" "$WORK/err"
ok "2FA: TG_PASSWORD logs in, a wrong one fails with PASSWORD_HASH_INVALID"

TG_BOT_TOKEN=$BOT_TOKEN run 0 tgh login --account bot
assert_contains "bot login" "account bot: logged in as Harbour bot, a bot, user id 123456" "$WORK/out"
assert_eq "by token, no phone" 1 "$(requests checkAuthenticationBotToken | wc -l)"
ok "a bot logs in with TG_BOT_TOKEN"

(unset TG_PHONE && run 1 tgh login --account nophone </dev/null)
assert_contains "no phone" "TG_PHONE" "$WORK/err"
assert_eq "one error line" 1 "$(grep -vc 'level=debug' "$WORK/err")"
ok "no TG_PHONE and no terminal: exit 1 naming TG_PHONE"

# accounts: names, sessions, who.
run 0 tgh accounts
for want in "a1 +logged-in .*Ada @ada_archives" "a2 +logged-in .*Bo\$" "bot +logged-in .*Harbour bot\$" \
    "wrongcode +no-session"; do
    grep -Eq "^$want" "$WORK/out" || { cat "$WORK/out" >&2; fail "accounts: no line '$want'"; }
done
assert_eq "logged in" "true|true|true|false|false" \
    "$(for n in a1 a2 bot wrongcode badpass; do account $n .logged_in; done | paste -sd'|')"
assert_eq "display names" "Ada|Bo|Harbour bot" \
    "$(for n in a1 a2 bot; do account $n .display; done | paste -sd'|')"
assert_eq "is_bot" "false|true" "$(account a1 .is_bot)|$(account bot .is_bot)"
assert_eq "user ids" "777001|777002|123456" \
    "$(for n in a1 a2 bot; do account $n .user_id; done | paste -sd'|')"
[ "$(account a1 .logged_in_at)" -gt 1700000000 ] || fail "no login time: $(account a1 .logged_in_at)"
ok "accounts and accounts --json: name, logged in, display name"

# Logging in again keeps the session: no code is asked for (a wrong one would fail).
reset_log
TG_CODE_FILE=$WORK/wrong_code run 0 tgh login --account a1
assert_contains "still logged in" "account a1: logged in as Ada" "$WORK/out"
assert_eq "no authentication request" "" \
    "$(jq -c 'select(.req["@type"] | test("^(setAuthenticationPhoneNumber|checkAuthentication)"))' "$TGH_FAKE_TD_LOG")"
ok "login of a logged-in account keeps its session"

# The account folder is private.
for n in a1 a2 bot; do
    d=$TGH_DATA_DIR/accounts/$n
    assert_eq "$n folder mode" 700 "$(stat -c %a "$d")"
    for f in lock account.json td.log; do
        [ -e "$d/$f" ] || [ $f = td.log ] || fail "$d/$f is missing"
        [ -e "$d/$f" ] || continue
        [ $((0$(stat -c %a "$d/$f") & 077)) = 0 ] || fail "$d/$f is readable by others: $(stat -c %a "$d/$f")"
    done
done
open=$(find "$TGH_DATA_DIR" -perm /077 | head -3)
[ -z "$open" ] || fail "readable by others: $open"
ok "account folders 0700, lock and account.json private"

# Two accounts collecting at once, in one process.
run 0 tgh chats add --account a1 @chat_a
run 0 tgh chats add --account a2 @chat_b
reset_log
run 0 tgh collect --once --json
assert_eq "both collected" "ok|30|ok|40" \
    "$(jq -r '[.chats[] | select(.chat_id == '$A', .chat_id == '$B') | .status, .new] | join("|")' "$WORK/out")"
ca=$(jq -r "select(.req[\"@type\"] == \"getChatHistory\" and .req.chat_id == $A) | .client" "$TGH_FAKE_TD_LOG" | sort -u)
cb=$(jq -r "select(.req[\"@type\"] == \"getChatHistory\" and .req.chat_id == $B) | .client" "$TGH_FAKE_TD_LOG" | sort -u)
[ -n "$ca" ] && [ -n "$cb" ] || fail "history requests missing: A from '$ca', B from '$cb'"
assert_eq "one client per chat" "1|1" "$(echo "$ca" | wc -l)|$(echo "$cb" | wc -l)"
[ "$ca" != "$cb" ] || fail "both chats were read by client $ca"
assert_eq "two clients in the log" 2 "$(jq -r 'select(.req) | .client' "$TGH_FAKE_TD_LOG" | sort -u | wc -l)"
assert_eq "runs per account" "a1|a2" \
    "$(sql "SELECT origin FROM collection_runs WHERE chat_id IN ($A, $B) ORDER BY chat_id DESC" | paste -sd'|')"
run 0 tgh chats list --json
assert_eq "each chat's account" "a1|a2" \
    "$(jq -r "select(.chat_id == $A or .chat_id == $B) | .account" "$WORK/out" | sort | paste -sd'|')"
assert_eq "chat A's account" "a1" "$(jq -r "select(.chat_id == $A) | .account" "$WORK/out")"
run 0 tgh chats list
grep -Eq -- "^$A +channel +enabled +ok +a1 " "$WORK/out" || { cat "$WORK/out" >&2; fail "chats list: A not on a1"; }
grep -Eq -- "^$B +channel +enabled +ok +a2 " "$WORK/out" || { cat "$WORK/out" >&2; fail "chats list: B not on a2"; }
ok "two accounts collect in one run, each chat through its own TDLib client"

# TGH_DB_KEY: the key of the login is needed on every later start.
TGH_DB_KEY=$KEY run 0 tgh login --account enc
assert_eq "the key is sent (base64)" "$(printf %s "$KEY" | base64)" \
    "$(requests setTdlibParameters | jq -r 'select(.database_directory | contains("/enc/")) | .database_encryption_key' | sort -u)"
TGH_DB_KEY=$KEY run 0 tgh chats add --account enc @chat_c
TGH_DB_KEY=$OTHER_KEY run 1 tgh collect --once --chat @chat_c --json
assert_eq "wrong key: the chat failed" "failed" "$(jq -r '.chats[0].status' "$WORK/out")"
jq -r '.chats[0].error' "$WORK/out" | grep -q "Wrong database encryption key" ||
    fail "not TDLib's error: $(jq -r '.chats[0].error' "$WORK/out")"
assert_contains "said on stderr" "Wrong database encryption key" "$WORK/err"
run 1 tgh collect --once --chat @chat_c --json
jq -r '.chats[0].error' "$WORK/out" | grep -q "Wrong database encryption key" ||
    fail "no key: $(jq -r '.chats[0].error' "$WORK/out")"
TGH_DB_KEY=$KEY run 0 tgh collect --once --chat @chat_c --json
assert_eq "right key: collected" "ok" "$(jq -r '.chats[0].status' "$WORK/out")"
assert_eq "enc account's runs" 1 "$(sql "SELECT count(*) FROM collection_runs WHERE origin = 'enc' AND status = 'ok'")"
assert_eq "collected" 20 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $C")"
ok "TGH_DB_KEY: another key (or none) fails with TDLib's error, the login's key works"

# The same chat added again for another account (under another spec): one
# row, now the other account's, and said so.
run 0 tgh chats add --account a2 https://t.me/chat_a
assert_contains "the move is said" "this chat was collected by account a1 (added as @chat_a)" "$WORK/err"
assert_contains "to whom" "from now on account a2 collects it" "$WORK/err"
run 0 tgh chats list --json
assert_eq "one row for chat A, a2's" "https://t.me/chat_a|a2" \
    "$(jq -r "select(.chat_id == $A) | \"\\(.spec)|\\(.account)\"" "$WORK/out")"
run 0 tgh chats add --account a2 https://t.me/chat_a
assert_eq "adding it again for the same account is quiet" "" "$(grep -v 'level=debug' "$WORK/err")"
ok "a chat added for another account moves there, with a warning"

# logout: TDLib's logOut, the folder gone, the archive kept.
reset_log
run 0 tgh logout --account a2
assert_contains "logout" "account a2: logged out" "$WORK/out"
assert_eq "logOut sent" 1 "$(requests logOut | wc -l)"
[ ! -e "$TGH_DATA_DIR/accounts/a2" ] || fail "the folder of a2 is still there: $(ls -A "$TGH_DATA_DIR/accounts/a2")"
assert_eq "not listed" "" "$(account a2 .name)"
assert_eq "the others stay" "a1 bot" "$(account a1 .name) $(account bot .name)"
assert_eq "chat B's messages stay" 40 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $B")"
run 1 tgh logout --account a2
assert_contains "logout twice" "tgharvest login" "$WORK/err"
ok "logout: logOut sent, folder removed, no longer listed, messages kept"

# No secret anywhere the program wrote: its output, TDLib's log, account.json.
# Each one did reach TDLib (the stand-in's log), so the check is not vacuous.
for f in "$WORK"/login_*.out "$WORK"/login_*.err "$WORK/login.err"; do
    [ -e "$f" ] && cat "$f" >>"$WORK/captured"
done
find "$TGH_DATA_DIR" \( -name td.log -o -name account.json -o -name lock \) -exec cat {} + >"$WORK/written"
cat "$WORK/fake.all" "$TGH_FAKE_TD_LOG" >"$WORK/sent"
[ -s "$WORK/captured" ] && [ -s "$WORK/written" ] || fail "nothing captured"
grep -q "level=debug" "$WORK/captured" || fail "debug logging did not happen"
k64=$(printf %s "$KEY" | base64)
o64=$(printf %s "$OTHER_KEY" | base64)
for secret in "$TG_API_HASH" hunter2 "$WRONG_PASSWORD" "$BOT_TOKEN" "$k64" "$o64"; do
    grep -qF -- "$secret" "$WORK/sent" || fail "secret ${secret:0:4}... never reached TDLib"
done
for secret in "$TG_API_HASH" hunter2 "$WRONG_PASSWORD" "$BOT_TOKEN" "$KEY" "$OTHER_KEY" "$k64" "$o64"; do
    if grep -qF -- "$secret" "$WORK/captured" "$WORK/written"; then
        grep -nF -- "$secret" "$WORK/captured" "$WORK/written" | head -3 >&2
        fail "a secret was written out: ${secret:0:4}..."
    fi
done
ok "no secret in any output, TDLib's log or account.json"
