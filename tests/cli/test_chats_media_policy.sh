#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A chat's own media policy (`chats media`): checked before it is stored,
# shown by `chats list`, applied over the global TGH_MEDIA_* settings to that
# chat only by the collector's media scanner, and cleared again.
. "$(dirname "$0")/collect_lib.sh"

P=-1001000000970 Q=-1001000000971 NOW=$(date +%s)
export TGH_MEDIA_HISTORY=all
mix='"mix": {"photo": 40, "document": 30, "voice_note": 30}'
world "[{\"id\": $P, \"kind\": \"channel\", \"title\": \"Photos only\", \"username\": \"photos_only\",
         \"history\": {\"count\": 20, \"start_date\": $((NOW - 7200)), \"step_s\": 60, $mix}},
        {\"id\": $Q, \"kind\": \"channel\", \"title\": \"Everything\", \"username\": \"everything\",
         \"history\": {\"count\": 20, \"start_date\": $((NOW - 7200)), \"step_s\": 60, $mix}}]"
login
assert_status 0 tgh chats add @photos_only @everything

# Refused before anything is stored, with the reason.
assert_status 2 tgh chats media @photos_only 'kinds=photo,holograms'
assert_contains "unknown kind" "holograms" "$WORK/err"
assert_status 2 tgh chats media @photos_only 'max=lots'
assert_contains "bad size" "max" "$WORK/err"
assert_status 1 tgh chats media @nobody 'kinds=photo'
assert_contains "not tracked" "not a tracked chat" "$WORK/err"
assert_status 0 tgh chats list --json
assert_eq "nothing stored by the refusals" "null null" "$(jq -r '.media_policy' "$WORK/out" | xargs)"
ok "bad policies and unknown chats refused"

assert_status 0 tgh chats media @photos_only 'kinds=photo;history=all' --json
assert_eq "own policy" "kinds=photo;history=all" "$(jq -r '.media_policy' "$WORK/out")"
jq -e '.effective | test("kinds=photo;")' "$WORK/out" >/dev/null || fail "effective policy: $(cat "$WORK/out")"
assert_status 0 tgh chats list --json
assert_eq "listed" "kinds=photo;history=all" "$(jq -r "select(.chat_id == $P) | .media_policy" "$WORK/out")"
assert_eq "the other chat has none" null "$(jq -r "select(.chat_id == $Q) | .media_policy" "$WORK/out")"
assert_status 0 tgh chats list
assert_contains "text list" "media: kinds=photo;history=all" "$WORK/out"
ok "a chat's own policy stored and listed"

assert_status 0 tgh collect --once
kinds() { sql "SELECT group_concat(DISTINCT media_kind) FROM (SELECT media_kind FROM job_history
               WHERE chat_id = $1 AND state = '$2' ORDER BY media_kind)"; }
assert_eq "kept in the photo chat" photo "$(kinds $P stored)"
assert_eq "skipped in the photo chat" "document,voice" "$(kinds $P skipped)"
assert_eq "reason" "policy: kind not kept" \
    "$(sql "SELECT DISTINCT error FROM job_history WHERE chat_id = $P AND media_kind = 'document'")"
assert_eq "the other chat keeps everything" "document,photo,voice" "$(kinds $Q stored)"
assert_eq "nothing skipped there" "" "$(kinds $Q skipped)"
ok "the collector kept only photos of the chat with its own policy"

assert_status 0 tgh chats media @photos_only --clear
assert_contains "cleared" "the global policy" "$WORK/out"
assert_status 0 tgh chats list --json
assert_eq "cleared in the list" null "$(jq -r "select(.chat_id == $P) | .media_policy" "$WORK/out")"
ok "the policy cleared"
