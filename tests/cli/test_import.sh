#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Importing a single-chat export: every message lands under the Bot API chat
# id, the stored events round-trip through the strict decoder, and importing
# the same file again changes nothing at all.
source "$(dirname "$0")/lib.sh"

f=$FX/single_chat_channel.json
n=$(export_count "$f")
# Messages without any date cannot be keyed: the importer dead-letters them,
# except an "unsupported" one after a dated message, which takes that date.
dead_ids=$(jq -c '[foreach .messages[] as $m ({prev: false};
    .dead = ((($m | has("date") or has("date_unixtime")) or ($m.type == "unsupported" and .prev)) | not)
    | .prev = (.prev or (.dead | not)); if .dead then $m.id else empty end)]' "$f")
undated=$(jq 'length' <<<"$dead_ids")
bare=$(jq '.id' "$f")
chat=$((-1000000000000 - bare))

assert_status 0 tgh import --json -q "$f"
assert_eq "imported" "$((n - undated))" "$(jq .imported "$WORK/out")"
assert_eq "errors" "$undated" "$(jq .errors "$WORK/out")"
assert_eq "chats" 1 "$(jq .chats "$WORK/out")"
ok "import of $n messages"

assert_eq "stored ids" "$(jq --argjson dead "$dead_ids" '.messages[] | select(.id as $id | $dead | index($id) | not) | .id' "$f" | sort -n | tr '\n' ' ')" \
    "$(sql "SELECT message_id FROM messages WHERE chat_id = $chat ORDER BY 1" | tr '\n' ' ')"
assert_status 0 tgh chats --json
assert_eq "chat id" "$chat" "$(jq -s '.[0].id' "$WORK/out")"
assert_eq "chat type" channel "$(jq -rs '.[0].type' "$WORK/out")"
assert_eq "chat title" "$(jq -r .name "$f")" "$(jq -rs '.[0].title' "$WORK/out")"
assert_eq "chat messages" "$((n - undated))" "$(jq -s '.[0].messages' "$WORK/out")"
ok "chat -100 convention and counts"

# The stored events are valid schema-v1 and canonical: decode prints them unchanged.
tgh messages --chat "$chat" --json >"$WORK/events.jsonl"
assert_eq "event lines" "$((n - undated))" "$(wc -l <"$WORK/events.jsonl")"
tgh decode --from event "$WORK/events.jsonl" >"$WORK/decoded.jsonl"
cmp -s "$WORK/events.jsonl" "$WORK/decoded.jsonl" || fail "decode(encode(x)) != x for stored events"
# Each event keeps the export's message object as raw.
assert_eq "raw ids" "$(jq '.message_id' "$WORK/events.jsonl" | tr '\n' ' ')" \
    "$(jq '.raw.id' "$WORK/events.jsonl" | tr '\n' ' ')"
assert_eq "idempotency keys" 0 \
    "$(jq -r 'select(.idempotency_key != "\(.chat.id):\(.date):\(.message_id)")' "$WORK/events.jsonl" | wc -l)"
# decode --from export gives the same events the store holds (ignoring observation time).
status=0
tgh decode --from export "$f" >"$WORK/from_export.jsonl" 2>"$WORK/decode.err" || status=$?
assert_eq "decode exit status" "$([ "$undated" -gt 0 ] && echo 1 || echo 0)" "$status"
assert_eq "decode errors" "$undated" "$(grep -c 'tgharvest decode: messages\[' "$WORK/decode.err" || true)"
assert_eq "decoded events" \
    "$(jq -c 'del(.observed_at)' "$WORK/events.jsonl" | sort | md5sum)" \
    "$(jq -c 'del(.observed_at)' "$WORK/from_export.jsonl" | sort | md5sum)"
ok "stored events are canonical schema-v1 with raw kept"

before=$(sql "SELECT count(*), max(updated_at), sum(length(event)) FROM messages")
sleep 1
assert_status 0 tgh import --json -q "$f"
assert_eq "re-import imported" 0 "$(jq .imported "$WORK/out")"
assert_eq "re-import unchanged" "$((n - undated))" "$(jq .unchanged "$WORK/out")"
assert_eq "re-import versioned" 0 "$(jq .versioned "$WORK/out")"
assert_eq "rows after re-import" "$before" \
    "$(sql "SELECT count(*), max(updated_at), sum(length(event)) FROM messages")"
assert_eq "versions after re-import" 0 "$(sql "SELECT count(*) FROM message_versions")"
want=ok
[ "$undated" -eq 0 ] || want=partial
assert_eq "runs" "2" "$(sql "SELECT count(*) FROM collection_runs WHERE status = '$want'")"
ok "re-import is a no-op"

# A batch size of 1 and of 7 give the same archive.
export TGH_STORE="sqlite://$WORK/b1.db"
assert_status 0 tgh import -q --batch 1 "$f"
assert_status 0 tgh import -q --batch 7 "$f"
assert_eq "batch 1 events" "$(jq -c 'del(.observed_at)' "$WORK/events.jsonl" | md5sum)" \
    "$(tgh messages --chat "$chat" --json | jq -c 'del(.observed_at)' | md5sum)"
ok "batch size does not change the result"

# Progress on stderr only when it is a terminal (messages, MB, rate).
jq -n '{name: "P", type: "public_channel", id: 7, messages: [range(1; 9001) |
    {id: ., type: "message", date: "2024-01-01T00:00:00", date_unixtime: "1704067200", text: "m"}]}' \
    >"$WORK/progress.json"
export TGH_STORE="sqlite://$WORK/progress.db"
script -qec "$TGHARVEST import $WORK/progress.json" /dev/null >"$WORK/tty.out" </dev/null
grep -q 'messages, [0-9.]* MB, [0-9]* msg/s' "$WORK/tty.out" || fail "no progress line on a terminal"
assert_status 0 tgh import "$WORK/progress.json"
grep -q 'msg/s' "$WORK/err" && fail "progress written when stderr is not a terminal"
ok "progress only on a terminal"
