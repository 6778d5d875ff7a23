#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Flood waits and pacing: a 429 "retry after N" holds the account until N has
# passed (no request before, the stand-in logs any as a violation), is
# counted, and the walk resumes with the very request that was refused; the
# token bucket paces history requests at TGH_HISTORY_RATE.
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000500
jq -n --argjson c $C '{seed: 3, latency_ms: 0,
    accounts: [{phone: "+15550001001", code: "12345", user_id: 777001, first_name: "Ada",
                flood: [{methods: ["history"], every: 4, seconds: 2}]}],
    chats: [{id: $c, kind: "channel", title: "Flooded", username: "flooded",
             history: {count: 1000, start_date: 1700000000, step_s: 60}}]}' >"$TGH_FAKE_TD_WORLD"
login
assert_status 0 tgh chats add @flooded
assert_status 0 tgh collect --once --full --json
jq -e '.ok and .chats[0].backfill_complete and .chats[0].new == 1000' "$WORK/out" >/dev/null ||
    fail "summary: $(cat "$WORK/out")"
floods=$(jq -s '[.[] | select(.flood)] | length' "$TGH_FAKE_TD_LOG")
[ "$floods" -ge 2 ] || fail "the stand-in issued $floods flood waits, expected at least 2"
assert_eq "flood waits counted" "$floods" "$(jq '.chats[0].flood_waits' "$WORK/out")"
assert_eq "and kept with the run" "$floods" "$(sql "SELECT flood_waits FROM collection_runs")"
[ "$(sql "SELECT flood_seconds FROM collection_runs")" -ge $((2 * floods)) ] || fail "the run's flood seconds: $(sql "SELECT flood_seconds FROM collection_runs")"
assert_eq "violations (a request before the wait was over)" "" "$(violations)"
grep -q 'level=warn sub=tdlib "account default: flood wait of 2 s' "$WORK/err" ||
    fail "the wait was not logged: $(cat "$WORK/err")"
# After each 429 the same request goes out again, and not before the wait.
jq -s -e '
    [.[] | select(.req["@type"] == "getChatHistory" or .flood)] as $l
    | [range(0; $l | length) | select($l[.].flood) | {i: ., until: $l[.].until}]
    | all(.[]; ($l[.i - 1].req.from_message_id == $l[.i + 1].req.from_message_id)
                and ($l[.i + 1].t >= .until))' "$TGH_FAKE_TD_LOG" >/dev/null ||
    fail "a refused page was not asked for again, or too early"
ok "429 retry after N: held, logged, counted, the same page asked again after the wait"

# Pacing: 120 requests a minute (2/s, burst 5) over 11 pages takes at least 3 s.
sql "DELETE FROM cursors; DELETE FROM messages;" >/dev/null
jq '.accounts[0].flood = []' "$TGH_FAKE_TD_WORLD" >"$WORK/w" && mv "$WORK/w" "$TGH_FAKE_TD_WORLD"
: >"$TGH_FAKE_TD_LOG"
TGH_HISTORY_RATE=120 tgh collect --once --full --json >"$WORK/out"
span=$(requests getChatHistory | wc -l)
jq -s -e --argjson n "$span" '[.[] | select(.req["@type"] == "getChatHistory") | .t]
    | (last - first) >= (($n - 5) / 2 - 0.2)' "$TGH_FAKE_TD_LOG" >/dev/null ||
    fail "$span history requests were not paced at 2/s"
ok "history requests paced by the token bucket ($span requests)"

# The same flood waits on run's /metrics (per account: how many, how long).
. "$(dirname "$0")/api_lib.sh"
sql "DELETE FROM cursors; DELETE FROM messages;" >/dev/null
jq '.accounts[0].flood = [{methods: ["history"], every: 4, seconds: 1}]' "$TGH_FAKE_TD_WORLD" >"$WORK/w" &&
    mv "$WORK/w" "$TGH_FAKE_TD_WORLD"
: >"$TGH_FAKE_TD_LOG"
TGH_BACKFILL_LIMIT=0 start_http run run
trap 'kill -9 $(cat "$WORK/run.pid") 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM messages" 1000 60
floods=$(jq -s '[.[] | select(.flood)] | length' "$TGH_FAKE_TD_LOG")
expect 200 /metrics
assert_eq "flood waits on /metrics" "$floods" \
    "$(awk '$1 == "tgh_collect_flood_waits_total{account=\"default\"}" { print $2 }' "$WORK/body")"
assert_eq "their seconds" "$floods" \
    "$(awk '$1 == "tgh_collect_flood_wait_seconds_total{account=\"default\"}" { print $2 }' "$WORK/body")"
stop_http run
ok "flood waits and their seconds counted per account on /metrics"
