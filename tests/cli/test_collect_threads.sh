#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Comments of channel posts (the linked discussion group, per-thread cursors)
# and forum topics (the topic id on every message).
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000600 G=-1001000000601 F=-1001000000700
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Harbour\", \"username\": \"harbour\",
         \"linked_chat_id\": $G, \"comments\": {\"every\": 4, \"per_post\": 3},
         \"history\": {\"count\": 120, \"start_date\": 1700000000, \"step_s\": 600}},
        {\"id\": $G, \"kind\": \"supergroup\", \"title\": \"Harbour chat\", \"username\": \"harbour_chat\"},
        {\"id\": $F, \"kind\": \"supergroup\", \"title\": \"Pilots\", \"username\": \"pilots\",
         \"is_forum\": true, \"topics\": [{\"id\": 5, \"name\": \"Tides\"}, {\"id\": 17, \"name\": \"Night\"}],
         \"history\": {\"count\": 300, \"start_date\": 1700000000, \"step_s\": 300}}]"
login
assert_status 0 tgh chats add @harbour --comments
assert_contains "discussion group" "discussion group $G, comments collected" "$WORK/out"
assert_status 0 tgh collect --once --full --json
jq -e '.ok' "$WORK/out" >/dev/null || fail "summary: $(cat "$WORK/out")"
assert_eq "posts" 120 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $C")"
want=$(sql "SELECT sum(json_extract(event, '$.raw.interaction_info.reply_info.reply_count'))
            FROM messages WHERE chat_id = $C")
[ "$want" -gt 0 ] || fail "no post has comments"
assert_eq "comments" "$want" "$(sql "SELECT count(*) FROM messages WHERE chat_id = $G")"
assert_eq "comments carry their thread" 0 \
    "$(sql "SELECT count(*) FROM messages WHERE chat_id = $G AND (thread_id IS NULL OR thread_id <= 0)")"
assert_eq "discussion group archived" "Harbour chat" "$(sql "SELECT title FROM chats WHERE chat_id = $G")"
threads=$(requests getMessageThreadHistory | wc -l)
[ "$threads" -ge "$((want / 3))" ] || fail "$threads thread requests for $want comments"
assert_eq "violations" "" "$(violations)"
ok "$want comments of $((want / 3)) posts collected into the discussion group"

: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --reconcile 0 --json
assert_eq "threads are not read again" 0 "$(requests getMessageThreadHistory | wc -l)"
ok "thread cursors: a second run reads no thread again"

assert_status 0 tgh chats add @pilots --topics
assert_contains "forum" "(forum, per-topic history)" "$WORK/out"
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --full --chat @pilots --json
assert_eq "forum messages" 300 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $F")"
assert_eq "every message has its topic" 0 \
    "$(sql "SELECT count(*) FROM messages WHERE chat_id = $F AND thread_id IS NULL")"
assert_eq "topics" "1 5 17" "$(sql "SELECT DISTINCT thread_id FROM messages WHERE chat_id = $F ORDER BY 1" | xargs)"
assert_eq "each topic's history read" "1 17 5" \
    "$(requests getForumTopicHistory | jq -r .forum_topic_id | sort -u | xargs)"
assert_eq "violations" "" "$(violations)"
: >"$TGH_FAKE_TD_LOG"
assert_status 0 tgh collect --once --chat @pilots --reconcile 0 --json
assert_eq "topics are not read again" 0 "$(requests getForumTopicHistory | wc -l)"
ok "forum messages carry their topic id; --topics reads each topic's history once"
