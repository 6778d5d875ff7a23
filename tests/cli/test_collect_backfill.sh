#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Backfill through the TDLib stand-in: a 50,000-message channel with id gaps
# and short pages comes in completely and exactly; TDLib's paging rules are
# kept; a second run only catches up; bounds (--limit, --days) hold.
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000100
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Big channel\", \"username\": \"big_chan\",
         \"short_pages\": true,
         \"history\": {\"count\": 50000, \"first_id\": 3, \"gap_every\": 9,
                       \"start_date\": 1600000000, \"step_s\": 60}},
        {\"id\": -1001000000200, \"kind\": \"channel\", \"title\": \"Small\", \"username\": \"small_chan\",
         \"history\": {\"count\": 700, \"start_date\": 1700000000, \"step_s\": 3600}}]"
login
assert_status 0 tgh chats add @big_chan
assert_contains "add prints the chat" "$C channel Big channel" "$WORK/out"

assert_status 0 tgh collect --once --full --chat @big_chan --json
jq -e '.ok and .chats[0].status == "ok" and .chats[0].backfill_complete' "$WORK/out" >/dev/null ||
    fail "summary: $(cat "$WORK/out")"
assert_eq "new" 50000 "$(jq '.chats[0].new' "$WORK/out")"
assert_eq "messages stored" 50000 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $C")"
gen_ids 50000 3 9 >"$WORK/want"
sql "SELECT message_id FROM messages WHERE chat_id = $C ORDER BY message_id" >"$WORK/got"
cmp -s "$WORK/want" "$WORK/got" || fail "stored ids differ from the channel's: $(diff "$WORK/want" "$WORK/got" | head -5)"
assert_eq "no versions" 0 "$(sql "SELECT count(*) FROM message_versions")"

assert_eq "cursor complete" "1|3|$(tail -n 1 "$WORK/want")" \
    "$(sql "SELECT complete, oldest_id, newest_id FROM cursors WHERE chat_id = $C AND thread_id = 0")"
# TDLib's rules: limit <= 100, offset 0, one request per chat at a time, the
# next page strictly below the oldest message received, an empty page ends it.
requests getChatHistory >"$WORK/hist"
jq -e 'select(.limit > 100 or .offset != 0)' "$WORK/hist" | grep -q . && fail "a history request broke TDLib's limits"
assert_eq "violations" "" "$(violations)"
pages=$(wc -l <"$WORK/hist")
[ "$pages" -ge 501 ] || fail "only $pages pages for 50,000 messages"
# More pages than 50,000 / 100 + 1: short pages came, and none was taken for the end.
[ "$pages" -gt 501 ] || fail "no short page came ($pages pages); the test proves nothing"
ok "50,000 messages with gaps and short pages: complete and exact ($pages pages)"

# The run row.
assert_eq "run" "collect-once|ok|50000" \
    "$(sql "SELECT kind, status, inserted FROM collection_runs WHERE chat_id = $C")"

# A second run: the history is complete, so it only catches up (one page).
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --chat $C --json
assert_eq "second run new" 0 "$(jq '.chats[0].new' "$WORK/out")"
assert_eq "second run pages" 1 "$(requests getChatHistory | wc -l)"
ok "a second run only catches up"

# Bounds: the default per-run count, then --days from the newest message.
assert_status 0 tgh chats add https://t.me/small_chan
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --chat small_chan --json
assert_eq "default limit" 200 "$(jq '.chats[0].new' "$WORK/out")"
assert_status 0 tgh collect --once --chat small_chan --limit 50 --json
assert_eq "--limit" 50 "$(jq '.chats[0].new' "$WORK/out")"
assert_eq "stored" 250 "$(sql "SELECT count(*) FROM messages WHERE chat_id = -1001000000200")"
assert_eq "not complete" 0 "$(sql "SELECT complete FROM cursors WHERE chat_id = -1001000000200")"
# --since: down to a date, found with getChatMessageByDate; nothing older is taken.
since=$((1700000000 + 100 * 3600))
assert_status 0 tgh collect --once --chat small_chan --since $since --json
assert_eq "oldest after --since" $since "$(sql "SELECT min(date) FROM messages WHERE chat_id = -1001000000200")"
assert_eq "getChatMessageByDate" 1 "$(requests getChatMessageByDate | wc -l)"
assert_status 0 tgh collect --once --chat small_chan --full --json
assert_eq "full" 700 "$(sql "SELECT count(*) FROM messages WHERE chat_id = -1001000000200")"
ok "per-run count, --limit, --since and --full bound the backfill"
