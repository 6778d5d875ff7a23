#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 at random moments of a backfill, then restart: nothing is lost,
# nothing is duplicated, and each restart goes on from the committed cursor
# (never above where the killed process already was, so at most the page in
# flight is fetched again).
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000300
N=20000
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Killable\", \"username\": \"killable\",
         \"short_pages\": true,
         \"history\": {\"count\": $N, \"gap_every\": 11, \"start_date\": 1600000000, \"step_s\": 60}}]" 4
login
assert_status 0 tgh chats add @killable

RANDOM=4242
for round in 1 2 3 4 5 6; do
    : >"$TGH_FAKE_TD_LOG"
    "$TGHARVEST" collect --once --full >/dev/null 2>"$WORK/collect.err" &
    pid=$!
    sleep "0.$((RANDOM % 5 + 2))"
    kill -9 $pid 2>/dev/null || fail "round $round: the collector ended before the kill"
    wait $pid 2>/dev/null || true
    stored=$(sql "SELECT oldest_id FROM cursors WHERE chat_id = $C AND thread_id = 0")
    last=$(requests getChatHistory | jq -s '[.[] | select(.from_message_id != 0)] | last | .from_message_id // 0')
    last=$((last / 1048576))
    if [ -n "$stored" ] && [ "$last" -gt 0 ]; then
        [ "$stored" -le "$last" ] || fail "round $round: cursor $stored above the last page asked for ($last)"
    fi
    kills_at+=("$stored")
    # The restart's first backfill request starts at the committed cursor.
    : >"$TGH_FAKE_TD_LOG"
    "$TGHARVEST" collect --once --limit 100 >/dev/null 2>"$WORK/collect.err" || true
    if [ -n "$stored" ]; then
        first=$(requests getChatHistory | jq -s '[.[] | select(.from_message_id != 0)] | first | .from_message_id // 0')
        assert_eq "round $round: restart from the cursor" "$((stored * 1048576))" "$first"
    fi
done
echo "cursors at the kills: ${kills_at[*]}"

assert_status 0 tgh collect --once --full --json
jq -e '.chats[0].backfill_complete' "$WORK/out" >/dev/null || fail "not complete: $(cat "$WORK/out")"
gen_ids $N 1 11 >"$WORK/want"
sql "SELECT message_id FROM messages WHERE chat_id = $C ORDER BY message_id" >"$WORK/got"
cmp -s "$WORK/want" "$WORK/got" || fail "ids differ after the kills: $(diff "$WORK/want" "$WORK/got" | head -5)"
assert_eq "no duplicates" $N "$(sql "SELECT count(DISTINCT message_id) FROM messages")"
assert_eq "no versions" 0 "$(sql "SELECT count(*) FROM message_versions")"
assert_eq "violations" "" "$(violations)"
ok "6 kill -9 during backfill: all $N messages exactly once, every restart from its cursor"
