#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A newer export of the same chat adds its new messages and records edits:
# the previous text goes to message_versions, the row shows the new one.
source "$(dirname "$0")/lib.sh"

old=$FX/single_chat_channel.json
new=$FX/newer_export.json
bare=$(jq '.id' "$old")
assert_eq "same chat in both fixtures" "$bare" "$(jq '.id' "$new")"
chat=$((-1000000000000 - bare))

# Expected from the two files themselves: ids only in the newer one, and ids in
# both whose text differs.
jq -c '.messages[] | {id, t: (.text | tostring)}' "$old" | sort >"$WORK/old"
jq -c '.messages[] | {id, t: (.text | tostring)}' "$new" | sort >"$WORK/new"
new_ids=$(comm -13 <(jq '.messages[].id' "$old" | sort) <(jq '.messages[].id' "$new" | sort) | wc -l)
edited=$(join -t$'\t' <(jq -r '.messages[] | "\(.id)\t\(.text | tostring)"' "$old" | sort) \
                     <(jq -r '.messages[] | "\(.id)\t\(.text | tostring)"' "$new" | sort) |
         awk -F'\t' '$2 != $3' | wc -l)
[ "$new_ids" -gt 0 ] || fail "fixture: newer export has no new messages"
[ "$edited" -gt 0 ] || fail "fixture: newer export edits nothing"

assert_status 0 tgh import -q "$old"
assert_status 0 tgh import --json -q "$new"
assert_eq "new messages" "$new_ids" "$(jq .imported "$WORK/out")"
assert_eq "versioned" "$edited" "$(jq .versioned "$WORK/out")"
assert_eq "versions kept" "$edited" "$(sql "SELECT count(*) FROM message_versions WHERE chat_id = $chat")"
ok "$new_ids new, $edited edited"

# Every edited message: current text is the newer export's, the version holds the old one.
while IFS=$'\t' read -r id oldtext newtext; do
    got=$(tgh messages --chat "$chat" --json | jq -r "select(.message_id == $id) | .text // \"\"")
    want=$(jq -r ".messages[] | select(.id == $id) | .text | if type == \"array\" then map(if type == \"string\" then . else .text end) | join(\"\") else . end" "$new")
    assert_eq "current text of $id" "$want" "$got"
    vold=$(sql "SELECT json_extract(event, '\$.text') FROM message_versions WHERE chat_id = $chat AND message_id = $id ORDER BY version LIMIT 1")
    want=$(jq -r ".messages[] | select(.id == $id) | .text | if type == \"array\" then map(if type == \"string\" then . else .text end) | join(\"\") else . end" "$old")
    assert_eq "kept text of $id" "$want" "$vold"
done < <(join -t$'\t' <(jq -r '.messages[] | "\(.id)\t\(.text | tostring)"' "$old" | sort) \
                      <(jq -r '.messages[] | "\(.id)\t\(.text | tostring)"' "$new" | sort) |
         awk -F'\t' '$2 != $3')
ok "versions hold the previous text"

# Importing both again changes nothing.
assert_status 0 tgh import --json -q "$old" "$new"
assert_eq "re-import imported" 0 "$(jq .imported "$WORK/out")"
assert_eq "re-import versioned" 0 "$(jq .versioned "$WORK/out")"
ok "re-import of old and new is a no-op"
