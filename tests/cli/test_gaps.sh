#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Gaps on SQLite: the classes of `collect --once --verify` (gaps_body.sh),
# then the daemon's check after a reconnection: a message posted and deleted
# while disconnected is a deleted gap, a stored one deleted meanwhile is
# found and tombstoned.
. "$(dirname "$0")/collect_lib.sh"
q() { sql "$1"; }
. "$(dirname "$0")/gaps_body.sh"

# The API and /metrics show the same.
. "$(dirname "$0")/api_lib.sh"
TGH_HTTP_ADDR=127.0.0.1:0 start_http serve serve
expect 200 "/api/v1/chats/$A/gaps"
assert_eq "API: ids by class" '{"unknown":0,"deleted":8,"missed":1,"inaccessible":0}' "$(jq -c .ids "$WORK/body")"
assert_eq "API: the missed run" "12 12 missed inner" "$(jq -r '.gaps[] | select(.class == "missed") | "\(.first_id) \(.last_id) \(.class) \(.position)"' "$WORK/body")"
[ "$(jq .checked_at "$WORK/body")" -gt 0 ] || fail "API: no checked_at"
expect 200 "/api/v1/chats/$B/gaps"
assert_eq "API: hidden history" "inaccessible 9" "$(jq -r '.gaps[0] | "\(.class) \(.ids)"' "$WORK/body")"
expect 200 "/api/v1/chats/-1009999999/gaps"
assert_eq "API: a chat without rows" "0 null" "$(jq -r '"\(.gaps | length) \(.checked_at)"' "$WORK/body")"
expect_error 401 unauthorized -k "" "/api/v1/chats/$A/gaps"
gauge() { curl -sf -H "X-API-Key: $READ_KEY" "$BASE/metrics" | awk -v k="tgh_gap_ids{class=\"$1\"}" '$1 == k { print $2 }'; }
metric_ready() { [ "$(gauge unknown)" = 299 ]; }
deadline=$((SECONDS + 30))
until metric_ready; do [ $SECONDS -lt $deadline ] || fail "tgh_gap_ids never counted"; sleep 0.2; done
assert_eq "metrics: deleted (after the two checks)" 208 "$(gauge deleted)"
assert_eq "metrics: missed" 1 "$(gauge missed)"
assert_eq "metrics: inaccessible" 9 "$(gauge inaccessible)"
stop_http serve
ok "the API's gaps route and tgh_gap_ids"

export TGH_GAPFILL_INTERVAL=3600 TGH_GAP_CHECK_INTERVAL=0
"$TGHARVEST" collect >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
checks() { grep -c "gap check:" "$WORK/daemon.err" || true; }
deadline=$((SECONDS + 30))
until [ "$(checks)" -ge 3 ]; do # the first pass checks every chat
    [ $SECONDS -lt $deadline ] || { cat "$WORK/daemon.err" >&2; fail "no first gap check"; }
    sleep 0.1
done
control '{"cmd":"disconnect"}'
sleep 0.3
now=$(date +%s)
control "{\"cmd\":\"new_message\",\"chat\":$A,\"id\":40,\"date\":$now,\"text\":\"posted while away\"}"
control "{\"cmd\":\"new_message\",\"chat\":$A,\"id\":41,\"date\":$now,\"text\":\"posted and deleted while away\"}"
control "{\"cmd\":\"new_message\",\"chat\":$A,\"id\":42,\"date\":$now,\"text\":\"the newest\"}"
control "{\"cmd\":\"delete\",\"chat\":$A,\"ids\":[41, 35]}"
sleep 0.5
control '{"cmd":"reconnect"}'
wait_sql "SELECT class FROM gaps WHERE chat_id = $A AND first_id = 41" deleted 30
[ "$(checks)" -ge 6 ] || fail "the reconnection did not check every chat again"
assert_eq "the messages after it were collected" "40 42" "$(sql "SELECT message_id FROM messages WHERE chat_id = $A AND message_id >= 40 ORDER BY 1" | xargs)"
wait_sql "SELECT deleted_at IS NOT NULL FROM messages WHERE chat_id = $A AND message_id = 35" 1
assert_eq "its window" 1 "$(sql "SELECT count(*) FROM deletion_windows WHERE chat_id = $A AND message_id = 35")"
kill -TERM $daemon
wait $daemon || fail "the daemon exited $? after SIGTERM"
ok "after a reconnection: deletions made while away are found"
