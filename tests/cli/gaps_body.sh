# SPDX-License-Identifier: MIT
# The gap check of `collect --once --verify`, every class, against the store
# TGH_STORE names (test_gaps.sh: SQLite; test_scale_gaps.sh: PostgreSQL).
# The caller defines q SQL (one value per line, columns joined by '|').
# Channel A: ids 3..39 with every fifth position missing (deleted before the
# collector came); then a message TDLib never delivered appears in a hole
# (missed), and a stored one is deleted without an update (deletion found).
# Supergroup B hides history before id 10 from the account (inaccessible).
# Channel C begins at id 500: more ids below it than TGH_GAP_CHECK_IDS asks
# about (deleted as far as asked, the rest unknown).
NOW=$(date +%s)
A=-1001000000970 B=-1001000000971 C=-1001000000972
world "[{\"id\": $A, \"kind\": \"channel\", \"title\": \"Desk\", \"username\": \"desk\",
         \"history\": {\"count\": 30, \"first_id\": 3, \"gap_every\": 5, \"start_date\": $((NOW - 6000)), \"step_s\": 60}},
        {\"id\": $B, \"kind\": \"supergroup\", \"title\": \"Crew\", \"username\": \"crew\",
         \"history_hidden_before\": 10,
         \"history\": {\"count\": 20, \"start_date\": $((NOW - 6000)), \"step_s\": 60}},
        {\"id\": $C, \"kind\": \"channel\", \"title\": \"Late\", \"username\": \"late\",
         \"history\": {\"count\": 5, \"first_id\": 500, \"start_date\": $((NOW - 6000)), \"step_s\": 60}}]"
login
for c in desk crew late; do assert_status 0 tgh chats add "@$c"; done
assert_status 0 tgh collect --once --full
assert_eq "collected" "30 11 5" "$(for c in $A $B $C; do q "SELECT count(*) FROM messages WHERE chat_id = $c"; done | xargs)"
assert_eq "no check without --verify" 0 "$(q "SELECT count(*) FROM gaps")"
assert_eq "no getMessages without --verify" 0 "$(requests getMessages | wc -l)"

control "{\"cmd\":\"new_message\",\"chat\":$A,\"id\":12,\"text\":\"a message TDLib dropped\",\"push\":false}"
control "{\"cmd\":\"delete\",\"chat\":$A,\"id\":30,\"push\":false}"
seen30=$(q "SELECT first_seen_at FROM messages WHERE chat_id = $A AND message_id = 30")
before=$(date +%s)
TGH_GAP_CHECK_IDS=100 tgh collect --once --verify --json >"$WORK/v1.json" 2>"$WORK/v1.err" ||
    { cat "$WORK/v1.err" >&2; fail "collect --once --verify"; }
gapsof() { jq -c --arg s "$1" '.chats[] | select(.spec == $s) | .gaps | [.deleted, .missed, .inaccessible, .unknown, .deletions_found]' "$WORK/v1.json"; }
assert_eq "desk: deleted, missed, inaccessible, unknown, deletions found" "[8,1,0,0,1]" "$(gapsof @desk)"
assert_eq "crew" "[0,0,9,0,0]" "$(gapsof @crew)"
assert_eq "late" "[100,0,0,399,0]" "$(gapsof @late)"
rows() { q "SELECT first_id, last_id, class, position FROM gaps WHERE chat_id = $1 ORDER BY first_id" | tr '\n' ' '; }
assert_eq "desk's runs" "1|2|deleted|leading 7|7|deleted|inner 12|12|missed|inner 17|17|deleted|inner 22|22|deleted|inner 27|27|deleted|inner 32|32|deleted|inner 37|37|deleted|inner " "$(rows $A)"
assert_eq "crew's run" "1|9|inaccessible|leading " "$(rows $B)"
assert_eq "late's runs" "1|399|unknown|leading 400|499|deleted|leading " "$(rows $C)"
assert_eq "the missed message was fetched" "a message TDLib dropped" "$(q "SELECT text FROM messages WHERE chat_id = $A AND message_id = 12")"
assert_eq "deleted ids are tombstones" 8 "$(q "SELECT count(*) FROM tombstones WHERE chat_id = $A")"
assert_eq "the deletion found is a tombstone" 1 "$(q "SELECT count(*) FROM messages WHERE chat_id = $A AND message_id = 30 AND deleted_at IS NOT NULL")"
# windows: a hole after the message below it; the stored one after it was last seen
below7=$(q "SELECT date FROM messages WHERE chat_id = $A AND message_id = 6")
assert_eq "the window of a hole starts at the message below" "$below7" "$(q "SELECT deleted_after FROM deletion_windows WHERE chat_id = $A AND message_id = 7")"
after30=$(q "SELECT deleted_after FROM deletion_windows WHERE chat_id = $A AND message_id = 30")
found30=$(q "SELECT found_at FROM deletion_windows WHERE chat_id = $A AND message_id = 30")
[ "$after30" -ge "$seen30" ] && [ "$after30" -le "$before" ] || fail "the deleted message's window starts at $after30, last seen at $seen30..$before"
[ "$found30" -ge "$before" ] || fail "found at $found30, before the check began ($before)"
assert_eq "its tombstone is the time it was found" "$found30" "$(q "SELECT deleted_at FROM messages WHERE chat_id = $A AND message_id = 30")"
assert_eq "nothing below the hidden history was asked" 0 "$(requests getMessages | jq -c --argjson c $B 'select(.chat_id == $c) | .message_ids[] | select(. < 10485760)' | wc -l)"
ok "every class: deleted (tombstones with their windows), missed (fetched), inaccessible, unknown"

# gaps: the table as text and JSON
assert_status 0 tgh gaps
assert_contains "text lists the classes" "missing ids: 108 deleted, 1 missed (fetched), 9 inaccessible, 399 unknown" "$WORK/out"
assert_status 0 tgh gaps --chat @crew --json
assert_eq "one chat" "$B 9" "$(jq -r '.chats[0] | "\(.chat_id) \(.ids.inaccessible)"' "$WORK/out")"
assert_contains "why" "history before the account joined is hidden" "$WORK/out"
assert_status 1 tgh gaps --chat @nowhere
ok "tgharvest gaps, text and JSON"

# A second check: nothing new to fetch or delete; the missed run stays as the record.
TGH_GAP_CHECK_IDS=100 tgh collect --once --verify --json >"$WORK/v2.json" 2>"$WORK/v2.err" ||
    { cat "$WORK/v2.err" >&2; fail "collect --once --verify (2)"; }
assert_eq "desk again" "[8,0,0,0,0]" "$(jq -c '.chats[] | select(.spec == "@desk") | .gaps | [.deleted, .missed, .inaccessible, .unknown, .deletions_found]' "$WORK/v2.json")"
assert_eq "late: the next check asks the next ids below" "[200,0,0,299,0]" "$(jq -c '.chats[] | select(.spec == "@late") | .gaps | [.deleted, .missed, .inaccessible, .unknown, .deletions_found]' "$WORK/v2.json")"
assert_eq "the missed record is kept" "12|12|missed" "$(q "SELECT first_id, last_id, class FROM gaps WHERE chat_id = $A AND class = 'missed'")"
assert_eq "no second tombstone" 8 "$(q "SELECT count(*) FROM tombstones WHERE chat_id = $A")"
assert_eq "the same windows: 8 holes and the deletion found" 9 "$(q "SELECT count(*) FROM deletion_windows WHERE chat_id = $A")"
ok "a second check changes nothing it need not"
