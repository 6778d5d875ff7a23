#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Chats that cannot be read, against the TDLib stand-in: an unknown username
# and an invite link without --join are refused at add time and recorded as
# errors; a channel that turns private fails its chat only (the others of
# the run are collected), is marked "error" and not asked for again until
# `chats enable`; disabled and removed chats are not collected; a chat added
# again keeps what is known of it; an account that is not logged in names
# `tgharvest login`; the account lock keeps a second collector out while
# `chats add` defers to the running daemon (but not --join, which needs the
# session); SIGTERM within a gap-fill pass is a clean stop.
. "$(dirname "$0")/collect_lib.sh"

UNKNOWN=-1001000000501
SECRET=-1001000000502
SOON=-1001000000503
STEADY=-1001000000504
SPARE=-1001000000505
OTHER=-1001000000506
SECOND=-1001000000507
INVITE=https://t.me/+SecretHarbour
INVITE2=https://t.me/+SecondHarbour
world "[{\"id\": $UNKNOWN, \"kind\": \"channel\", \"title\": \"Ghost\", \"username\": \"unknown_user\",
         \"access\": \"unknown\"},
        {\"id\": $SECRET, \"kind\": \"channel\", \"title\": \"Secret harbour\", \"access\": \"private\",
         \"member\": false, \"invite_link\": \"$INVITE\",
         \"history\": {\"count\": 30, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $SOON, \"kind\": \"channel\", \"title\": \"Soon private\", \"username\": \"soon_private\",
         \"history\": {\"count\": 40, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $STEADY, \"kind\": \"channel\", \"title\": \"Steady\", \"username\": \"steady_chan\",
         \"history\": {\"count\": 50, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $SPARE, \"kind\": \"channel\", \"title\": \"Spare\", \"username\": \"spare_chan\",
         \"history\": {\"count\": 10, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $OTHER, \"kind\": \"channel\", \"title\": \"Other\", \"username\": \"other_chan\",
         \"history\": {\"count\": 25, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $SECOND, \"kind\": \"channel\", \"title\": \"Second secret\", \"access\": \"private\",
         \"member\": false, \"invite_link\": \"$INVITE2\",
         \"history\": {\"count\": 15, \"start_date\": 1700000000, \"step_s\": 60}}]"
login

# tracked SPEC JQ-FIELD: one field of a chat in `chats list --json`.
tracked() {
    tgh chats list --json | jq -r --arg s "$1" "select(.spec == \$s) | $2"
}
# in_run SPEC JQ-FIELD: one field of a chat in the last `collect --once --json`.
in_run() { jq -r --arg s "$1" ".chats[] | select(.spec == \$s) | $2" "$WORK/out"; }
# Requests in the stand-in's log that name a chat.
requests_for() { jq -c "select(.req.chat_id == $1) | .req" "$TGH_FAKE_TD_LOG"; }

assert_status 0 tgh chats add @steady_chan # also creates the store: its log lines come now

# An unknown username: refused, one line naming Telegram's reason, recorded as an error.
assert_status 1 tgh chats add @unknown_user
assert_eq "one error line" 1 "$(wc -l <"$WORK/err")"
assert_contains "unknown user" "tgharvest chats: add @unknown_user:" "$WORK/err"
assert_contains "unknown user" "USERNAME_NOT_OCCUPIED" "$WORK/err"
assert_eq "unknown user listed" "error" "$(tracked @unknown_user .status)"
tracked @unknown_user .error | grep -q USERNAME_NOT_OCCUPIED ||
    fail "the error reason is not listed: $(tracked @unknown_user .error)"
ok "@unknown_user: exit 1, USERNAME_NOT_OCCUPIED, listed with status error"

# A private channel by invite link: --join is needed, and then it is read.
assert_status 1 tgh chats add $INVITE
assert_eq "one error line" 1 "$(wc -l <"$WORK/err")"
assert_contains "invite without --join" "pass --join" "$WORK/err"
assert_eq "no join without --join" 0 "$(requests joinChatByInviteLink | wc -l)"
assert_status 0 tgh chats add --join $INVITE
assert_contains "joined" "added $INVITE: $SECRET channel Secret harbour" "$WORK/out"
assert_eq "joined once" 1 "$(requests joinChatByInviteLink | wc -l)"
assert_eq "one row for the link" 1 "$(tgh chats list --json | jq -s "[.[] | select(.spec == \"$INVITE\")] | length")"
assert_eq "its error is cleared" "new|null" "$(tracked $INVITE '"\(.status)|\(.error)"')"
ok "invite link: exit 1 and 'pass --join' without it, added with --join"

# A channel fine at add time, private by the time it is collected.
assert_status 0 tgh chats add @soon_private
assert_status 0 tgh chats add @spare_chan
control "{\"cmd\":\"set_access\",\"chat\":$SOON,\"access\":\"private\"}"
: >"$TGH_FAKE_TD_LOG"
assert_status 1 tgh collect --once --json
jq -e '.ok == false' "$WORK/out" >/dev/null || fail "summary claims ok: $(cat "$WORK/out")"
assert_eq "soon_private failed" "failed" "$(in_run @soon_private .status)"
in_run @soon_private .error | grep -q CHANNEL_PRIVATE ||
    fail "the failure does not name CHANNEL_PRIVATE: $(in_run @soon_private .error)"
assert_eq "tracked status" "error" "$(tracked @soon_private .status)"
tracked @soon_private .error | grep -q CHANNEL_PRIVATE ||
    fail "the tracked error does not name CHANNEL_PRIVATE: $(tracked @soon_private .error)"
assert_eq "one history request for the private chat" 1 \
    "$(requests_for $SOON | jq -r '.["@type"]' | grep -c '^getChatHistory$')"
# The failure is the chat's: the others of the same run are collected.
for s in @steady_chan @spare_chan $INVITE; do
    assert_eq "$s in the failing run" "ok" "$(in_run "$s" .status)"
done
assert_eq "steady collected" 50 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $STEADY")"
assert_eq "spare collected" 10 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $SPARE")"
assert_eq "joined channel collected" 30 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $SECRET")"
assert_eq "unknown user not in the run" "" "$(in_run @unknown_user .status)"
ok "CHANNEL_PRIVATE fails only that chat, marks it error; the other chats of the run are collected"

# A chat in error is not asked for again, in any way, until it is enabled.
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --json
assert_eq "no request for the chat in error" "" "$(requests_for $SOON)"
assert_eq "not searched either" "" "$(requests searchPublicChat)"
assert_eq "not in the run" "" "$(in_run @soon_private .status)"
assert_eq "still error" "error" "$(tracked @soon_private .status)"
assert_status 0 tgh chats enable @soon_private
assert_eq "enable clears the error" "new|null|true" \
    "$(tracked @soon_private '"\(.status)|\(.error)|\(.enabled)"')"
control "{\"cmd\":\"set_access\",\"chat\":$SOON,\"access\":\"ok\"}"
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --json
requests_for $SOON | grep -q getChatHistory || fail "the enabled chat was not tried again"
assert_eq "collected after enable" "ok|40" "$(in_run @soon_private '"\(.status)|\(.new)"')"
assert_eq "tracked ok" "ok" "$(tracked @soon_private .status)"
ok "a chat in error gets no request until 'chats enable', then is collected"

# Adding a collected chat again keeps what is known of it.
before=$(tracked @soon_private '"\(.chat_id)|\(.status)|\(.title)|\(.last_collected_at)|\(.newest_id)"')
[ "$(tracked @soon_private .last_collected_at)" -gt 0 ] || fail "no collection time: $before"
assert_status 0 tgh chats add @soon_private
assert_eq "added again" "$before" \
    "$(tracked @soon_private '"\(.chat_id)|\(.status)|\(.title)|\(.last_collected_at)|\(.newest_id)"')"

# Disabled: not collected; removed: gone from the list, its messages stay.
assert_status 0 tgh chats disable @spare_chan
assert_eq "disabled" "false" "$(tracked @spare_chan .enabled)"
control "{\"cmd\":\"new_message\",\"chat\":$SPARE,\"id\":11,\"text\":\"not for a disabled chat\"}"
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --json
assert_eq "no request for a disabled chat" "" "$(requests_for $SPARE)"
assert_eq "disabled not in the run" "" "$(in_run @spare_chan .status)"
assert_eq "nothing new" 10 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $SPARE")"
assert_status 0 tgh chats remove @spare_chan
assert_eq "removed from the list" "" "$(tracked @spare_chan .spec)"
assert_status 1 tgh chats enable @spare_chan
assert_contains "not tracked" "not a tracked chat" "$WORK/err"
assert_eq "its messages stay" 10 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $SPARE")"
ok "disabled chats are not collected; removed chats leave the list and keep their messages"

# An account that is not logged in: chats add and collect name `tgharvest login`.
echo 99999 >"$WORK/wrong_code"
assert_status 1 env TG_CODE_FILE="$WORK/wrong_code" "$TGHARVEST" login --account half
assert_status 1 tgh chats add --account half @other_chan
assert_contains "add to a half-logged-in account" "tgharvest login" "$WORK/err"
assert_eq "not recorded" "" "$(tracked @other_chan .spec)"
login --account gone
assert_status 0 tgh chats add --account gone @spare_chan
assert_status 0 tgh logout --account gone
: >"$TGH_FAKE_TD_LOG"
assert_status 1 tgh collect --once --json
assert_eq "chat of a logged-out account" "failed" "$(in_run @spare_chan .status)"
in_run @spare_chan .error | grep -q "tgharvest login" ||
    fail "the error does not say to log in: $(in_run @spare_chan .error)"
assert_contains "said on stderr too" "tgharvest login" "$WORK/err"
assert_eq "the others still collected" "ok" "$(in_run @steady_chan .status)"
assert_eq "no request for it" "" "$(requests_for $SPARE)"
assert_status 0 tgh chats remove @spare_chan
# A folder without a session (the login above failed): recorded while its lock
# is held elsewhere, as a running collector would hold it.
exec 9<>"$TGH_DATA_DIR/accounts/half/lock"
flock -n 9 || fail "cannot take the lock of account half"
assert_status 0 tgh chats add --account half @other_chan
assert_contains "deferred" "the running collector resolves it" "$WORK/out"
exec 9>&-
assert_status 1 tgh collect --once --json
assert_eq "chat of an account without a session" "failed" "$(in_run @other_chan .status)"
in_run @other_chan .error | grep -q "not logged in: run tgharvest login --account half" ||
    fail "the error does not say to log in: $(in_run @other_chan .error)"
assert_status 0 tgh chats remove @other_chan
ok "chats of an account that is not logged in fail with 'tgharvest login'"

# The account lock: a running daemon keeps a second collector out, and takes
# over chats added meanwhile.
export TGH_GAPFILL_INTERVAL=1
"$TGHARVEST" collect >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM collection_runs WHERE kind = 'collect'" 3
for _ in $(seq 50); do
    grep -q "^$daemon\$" "$TGH_DATA_DIR/accounts/default/lock" 2>/dev/null && break
    sleep 0.1
done
assert_eq "the lock names the daemon" "$daemon" "$(cat "$TGH_DATA_DIR/accounts/default/lock")"
assert_status 0 tgh accounts --json
assert_eq "accounts shows it in use" "true" "$(jq -r 'select(.name == "default") | .in_use' "$WORK/out")"

assert_status 1 tgh collect --once --json
assert_contains "in use" "in use" "$WORK/err"
assert_contains "by the daemon" "pid $daemon" "$WORK/err"
assert_eq "every chat failed" "failed" "$(jq -r '[.chats[].status] | unique | join(",")' "$WORK/out")"
assert_eq "a busy account puts no chat in error" 0 \
    "$(sql "SELECT count(*) FROM tracked_chats WHERE status = 'error' AND spec != '@unknown_user'")"
ok "collect --once while the daemon runs: exit 1, the account is in use by pid $daemon"

assert_status 0 tgh chats add @other_chan
assert_contains "deferred" "the running collector resolves it" "$WORK/out"
# Recorded by `chats add` without resolving it ("deferred" above); the daemon
# rescans every second, so by now it may have resolved it already.
assert_eq "recorded" "@other_chan" "$(tracked @other_chan .spec)"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $OTHER" 25
wait_sql "SELECT status || '|' || chat_id FROM tracked_chats WHERE spec = '@other_chan'" "ok|$OTHER"
ok "chats add while the daemon holds the account: deferred, then resolved and collected by it"

# Added again while the daemon collects it: nothing known of it is lost.
# The daemon may finish a pass meanwhile: last_collected_at may move on, never back.
before=$(tracked @soon_private '"\(.chat_id)|\(.type)|\(.title)|\(.status)"')
collected=$(tracked @soon_private .last_collected_at)
assert_status 0 tgh chats add @soon_private
assert_contains "deferred" "the running collector resolves it" "$WORK/out"
assert_eq "added again, deferred" "$before" \
    "$(tracked @soon_private '"\(.chat_id)|\(.type)|\(.title)|\(.status)"')"
after=$(tracked @soon_private .last_collected_at)
[ "$collected" != null ] && [ "$after" != null ] && [ "$after" -ge "$collected" ] ||
    fail "last_collected_at went from $collected to $after"
ok "a chat added again (also while the daemon runs) keeps its chat id, title, status"

# Joining needs the session itself: refused while the daemon holds it, since
# the daemon would resolve the link without joining and put the chat in error.
assert_status 1 tgh chats add --join $INVITE2
assert_contains "join refused while in use" "pid $daemon" "$WORK/err"
assert_contains "says how" "--join" "$WORK/err"
assert_eq "not recorded" "" "$(tracked $INVITE2 .spec)"
assert_eq "no join" 0 "$(requests joinChatByInviteLink | jq -s "[.[] | select(.invite_link == \"$INVITE2\")] | length")"
ok "chats add --join while the daemon holds the account: refused, nothing recorded"

# Slow answers, so that the stop comes within a gap-fill pass: still a clean stop.
control '{"cmd":"latency","ms":300}'
sleep 1.5
kill -TERM $daemon
wait $daemon || fail "the daemon exited $? on SIGTERM: $(tail -3 "$WORK/daemon.err")"
trap 'rm -rf "$WORK"' EXIT
control '{"cmd":"latency","ms":0}'
assert_eq "violations" "" "$(violations)"
ok "daemon stopped cleanly"

assert_status 0 tgh chats add --join $INVITE2
assert_status 0 tgh collect --once --chat $INVITE2 --json
assert_eq "joined later, collected" "ok|15" "$(in_run $INVITE2 '"\(.status)|\(.new)"')"
ok "the same link with --join once the daemon stopped: joined and collected"

# A connection lost during a scheduled run: after TGH_OFFLINE_TIMEOUT the run
# ends (exit 1, the waiting chat failed, not in error) instead of hanging.
control '{"cmd":"latency","ms":200}'
: >"$TGH_FAKE_TD_LOG"
TGH_OFFLINE_TIMEOUT=2 "$TGHARVEST" collect --once --full --chat @steady_chan --json \
    >"$WORK/out" 2>"$WORK/err" &
run=$!
sleep 0.5
control '{"cmd":"disconnect"}'
start=$SECONDS
wait $run && fail "a run without a connection exited 0"
[ $((SECONDS - start)) -lt 10 ] || fail "the run waited $((SECONDS - start)) s"
jq -e '.chats[0].error | test("no connection to Telegram for 2 s")' "$WORK/out" >/dev/null ||
    fail "summary: $(cat "$WORK/out")"
assert_eq "not put in error" ok "$(tracked @steady_chan .status)"
control '{"cmd":"reconnect"}'
control '{"cmd":"latency","ms":0}'
ok "collect --once gives up after TGH_OFFLINE_TIMEOUT without a connection"
