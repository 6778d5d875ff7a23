#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# validate: what the collection runs promised (new messages committed, cursor
# ends) is checked against the store; a shortfall is named and exits 1.
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000980
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Ledger\", \"username\": \"ledger\",
         \"history\": {\"count\": 40, \"start_date\": 1700000000, \"step_s\": 60}}]"
login
assert_status 0 tgh chats add @ledger
assert_status 0 tgh collect --once --full
assert_status 0 tgh import "$FX/single_chat_channel.json"
run=$(sql "SELECT max(id) FROM collection_runs WHERE kind = 'collect-once'")
assert_status 0 tgh validate --json
assert_eq "ok" true "$(jq .ok "$WORK/out")"
assert_eq "every run" "$(sql "SELECT count(*) FROM collection_runs")" "$(jq .runs_checked "$WORK/out")"
assert_eq "the collect run promised and landed" "40 40" "$(jq -r --argjson r "$run" '.runs[] | select(.id == $r) | "\(.promised_new) \(.landed_new)"' "$WORK/out")"
assert_eq "the import run (every chat)" true "$(jq '[.runs[] | select(.kind == "import")][0].ok' "$WORK/out")"
assert_eq "the cursor reaches the store" "40 1 40 1" "$(jq -r '.cursors[0] | "\(.newest_id) \(.oldest_id) \(.stored_max) \(.stored_min)"' "$WORK/out")"
assert_status 0 tgh validate
assert_contains "text" "everything promised landed" "$WORK/out"
assert_status 0 tgh validate --run "$run"
ok "everything the runs promised is there"

# The archive loses its newest and oldest messages (a broken disk, a bad restore).
sql "DELETE FROM messages WHERE chat_id = $C AND message_id IN (1, 40)"
assert_status 1 tgh validate --json
assert_eq "not ok" "false 3" "$(jq -r '"\(.ok) \(.shortfalls)"' "$WORK/out")"
assert_eq "the run's shortfall" "40 38" "$(jq -r --argjson r "$run" '.runs[] | select(.id == $r) | "\(.promised_new) \(.landed_new)"' "$WORK/out")"
assert_contains "named" "committed 40 new messages, the store has 38" "$WORK/out"
assert_contains "the cursor's newest" "its cursor says messages up to 40 were collected, the store's newest is 39" "$WORK/out"
assert_contains "the cursor's oldest" "down to 1 were collected, the store's oldest is 2" "$WORK/out"
. "$(dirname "$0")/api_lib.sh"
TGH_HTTP_ADDR=127.0.0.1:0 start_http serve serve
gauge() { curl -sf -H "X-API-Key: $READ_KEY" "$BASE/metrics" | awk '$1 == "tgh_validation_shortfalls" { print $2 }'; }
deadline=$((SECONDS + 30))
until [ -n "$(gauge)" ]; do [ $SECONDS -lt $deadline ] || fail "no tgh_validation_shortfalls"; sleep 0.2; done
assert_eq "the shortfalls as a gauge" 3 "$(gauge)"
stop_http serve
assert_status 1 tgh validate
assert_contains "text names each" "shortfall: run $run (collect-once) committed 40" "$WORK/out"
assert_status 1 tgh validate --run "$run"
assert_status 1 tgh validate --since 2099-01-01 --json
assert_eq "no run that recent; the cursors are still checked" "0 2" "$(jq -r '"\(.runs_checked) \(.shortfalls)"' "$WORK/out")"
ok "a shortfall is named and exits 1"

assert_status 1 tgh validate --run 999999
assert_contains "an unknown run" "there is no run 999999" "$WORK/err"
assert_status 2 tgh validate --run x
assert_status 2 tgh validate --since yesterday
ok "bad arguments"
