#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The collecting daemon against the TDLib stand-in: live new messages, edits
# (a new version) and deletions (tombstones); cache unloads are no deletions;
# view counts refresh in place; updates dropped during a disconnect come back
# through the gap-fill on reconnection; an edit TDLib never pushed is found by
# the reconcile sweep; SIGTERM commits and exits cleanly.
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000400 S=-1001000000401
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Live desk\", \"username\": \"live_desk\",
         \"history\": {\"count\": 20, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $S, \"kind\": \"channel\", \"title\": \"Slow desk\", \"username\": \"slow_desk\",
         \"history\": {\"count\": 6000, \"start_date\": 1600000000, \"step_s\": 60}}]"
login
assert_status 0 tgh chats add @live_desk
export TGH_GAPFILL_INTERVAL=3600
"$TGHARVEST" collect >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C" 20
wait_sql "SELECT count(*) FROM tracked_chats WHERE status = 'ok' OR status = 'new'" 1
requests openChat | grep -q -- "$C" || fail "the channel was not opened"
ok "backfill on start, channel opened"

now=$(date +%s)
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":21,\"date\":$now,\"text\":\"hello live\"}"
wait_sql "SELECT text FROM messages WHERE chat_id = $C AND message_id = 21" "hello live"
control "{\"cmd\":\"edit\",\"chat\":$C,\"id\":21,\"text\":\"hello edited\"}"
wait_sql "SELECT text FROM messages WHERE chat_id = $C AND message_id = 21" "hello edited"
assert_eq "the first text is a version" "hello live" \
    "$(sql "SELECT json_extract(event, '$.text') FROM message_versions WHERE message_id = 21")"
ok "live new message and edit (with its version)"

control "{\"cmd\":\"delete\",\"chat\":$C,\"ids\":[5]}"
wait_sql "SELECT deleted_at IS NOT NULL FROM messages WHERE chat_id = $C AND message_id = 5" 1
control "{\"cmd\":\"unload\",\"chat\":$C,\"ids\":[6,7]}"
control "{\"cmd\":\"interaction\",\"chat\":$C,\"id\":21,\"views\":777}"
wait_sql "SELECT views FROM messages WHERE chat_id = $C AND message_id = 21" 777
assert_eq "unloaded messages are not deleted" 0 \
    "$(sql "SELECT count(*) FROM messages WHERE message_id IN (6, 7) AND deleted_at IS NOT NULL")"
assert_eq "a view count is no edit" 1 "$(sql "SELECT count(*) FROM message_versions")"
ok "permanent deletion tombstoned, cache unload ignored, views refreshed"

control '{"cmd":"disconnect"}'
sleep 0.3
for i in 22 23 24; do
    control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":$i,\"date\":$now,\"text\":\"missed $i\"}"
done
sleep 0.5
assert_eq "dropped while disconnected" 0 "$(sql "SELECT count(*) FROM messages WHERE message_id > 21")"
[ "$(jq -r 'select(.dropped) | .dropped' "$TGH_FAKE_TD_LOG" | grep -c updateNewMessage)" -ge 3 ] ||
    fail "the stand-in did not drop the updates"
control '{"cmd":"reconnect"}'
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C AND message_id > 21" 3
assert_eq "cursor moved to the newest" 24 "$(sql "SELECT newest_id FROM cursors WHERE chat_id = $C")"
ok "updates dropped during a disconnect recovered by gap-fill"

# Dropped by TDLib while connected (too many pending): the next gap-fill has them.
control '{"cmd":"drop_next_updates","count":1}'
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":25,\"date\":$now,\"text\":\"dropped\"}"
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":26,\"date\":$now,\"text\":\"pushed\"}"
wait_sql "SELECT count(*) FROM messages WHERE message_id = 26" 1
assert_eq "25 was dropped" 0 "$(sql "SELECT count(*) FROM messages WHERE message_id = 25")"

kill -TERM $daemon
wait $daemon || fail "the daemon exited $? on SIGTERM: $(tail -3 "$WORK/daemon.err")"
trap 'rm -rf "$WORK"' EXIT
assert_contains "summary" "collect: 1 chat(s)" "$WORK/daemon.out"
assert_eq "runs finished" 0 "$(sql "SELECT count(*) FROM collection_runs WHERE finished_at IS NULL")"
ok "SIGTERM: committed, runs finished, exit 0"

# An edit TDLib never pushed, and the dropped message: the once run with a
# reconcile window re-reads the recent hours.
control "{\"cmd\":\"edit\",\"chat\":$C,\"id\":22,\"text\":\"silently edited\",\"push\":false}"
assert_status 0 tgh collect --once --reconcile 2 --json
assert_eq "unpushed edit found" "silently edited" \
    "$(sql "SELECT text FROM messages WHERE chat_id = $C AND message_id = 22")"
assert_eq "dropped message found" 1 "$(sql "SELECT count(*) FROM messages WHERE message_id = 25")"
assert_eq "violations" "" "$(violations)"
ok "reconcile finds an edit that was never pushed"

# A reconnection while a long backfill runs: the catch-up it asks for runs
# right after that pass, not at the next gap-fill interval.
assert_status 0 tgh chats add @slow_desk
control '{"cmd":"latency","ms":25}'
TGH_BACKFILL_LIMIT=0 "$TGHARVEST" collect >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) > 300 FROM messages WHERE chat_id = $S" 1
control '{"cmd":"disconnect"}'
sleep 0.3
for i in 9001 9002 9003; do
    control "{\"cmd\":\"new_message\",\"chat\":$S,\"id\":$i,\"date\":$now,\"text\":\"during backfill $i\"}"
done
control '{"cmd":"reconnect"}'
[ "$(sql "SELECT count(*) FROM messages WHERE chat_id = $S")" -lt 6000 ] ||
    fail "the backfill ended before the reconnection; the test proves nothing"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $S AND message_id > 9000" 3 60
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $S" 6003 60
kill -TERM $daemon
wait $daemon || fail "the daemon exited $? on SIGTERM"
trap 'rm -rf "$WORK"' EXIT
assert_eq "violations" "" "$(violations)"
ok "a reconnection during a backfill pass: its catch-up follows the pass"
