#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The daemon follows the tracked-chat list while it runs: a disabled or
# removed chat is no longer collected (not even its live updates), enabling
# it again resumes it; a second daemon on the same account exits with an
# error instead of idling; live changes are in the stop summary.
. "$(dirname "$0")/collect_lib.sh"

A=-1001000000800 B=-1001000000801
world "[{\"id\": $A, \"kind\": \"channel\", \"title\": \"Alpha\", \"username\": \"alpha_chan\",
         \"history\": {\"count\": 10, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $B, \"kind\": \"channel\", \"title\": \"Beta\", \"username\": \"beta_chan\",
         \"history\": {\"count\": 10, \"start_date\": 1700000000, \"step_s\": 60}}]"
login
assert_status 0 tgh chats add @alpha_chan @beta_chan
export TGH_GAPFILL_INTERVAL=1
"$TGHARVEST" collect --json >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM messages" 20

# A second daemon on the same account: an error, not an idle process.
start=$SECONDS
assert_status 1 timeout 20 "$TGHARVEST" collect
assert_contains "second daemon" "in use by another tgharvest process (pid $daemon)" "$WORK/err"
[ $((SECONDS - start)) -lt 15 ] || fail "the second daemon took $((SECONDS - start)) s to give up"
ok "a second daemon on a busy account exits 1 naming the holder"

now=$(date +%s)
assert_status 0 tgh chats disable @beta_chan
sleep 2.5
control "{\"cmd\":\"new_message\",\"chat\":$B,\"id\":11,\"date\":$now,\"text\":\"while disabled\"}"
control "{\"cmd\":\"new_message\",\"chat\":$A,\"id\":11,\"date\":$now,\"text\":\"barrier\"}"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $A AND message_id = 11" 1
sleep 1.5
assert_eq "disabled chat not collected" 0 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $B AND message_id = 11")"
ok "a chat disabled while the daemon runs is not collected"

assert_status 0 tgh chats enable @beta_chan
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $B AND message_id = 11" 1
ok "enabled again: the daemon catches it up"

assert_status 0 tgh chats remove @alpha_chan
sleep 2.5
control "{\"cmd\":\"new_message\",\"chat\":$A,\"id\":12,\"date\":$now,\"text\":\"after removal\"}"
control "{\"cmd\":\"new_message\",\"chat\":$B,\"id\":12,\"date\":$now,\"text\":\"barrier\"}"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $B AND message_id = 12" 1
sleep 1.5
assert_eq "removed chat not collected" 0 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $A AND message_id = 12")"
assert_eq "its messages stay" 11 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $A")"
ok "a chat removed while the daemon runs is not collected, its archive stays"

kill -TERM $daemon
wait $daemon || fail "the daemon exited $? on SIGTERM: $(tail -3 "$WORK/daemon.err")"
trap 'rm -rf "$WORK"' EXIT
jq -e '.new == 23 and .live_events >= 2 and (.live | has("new"))' "$WORK/daemon.out" >/dev/null ||
    fail "live changes missing from the summary: $(cat "$WORK/daemon.out")"
assert_eq "violations" "" "$(violations)"
ok "the stop summary counts what came live"
