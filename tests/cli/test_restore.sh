#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `export --format jsonl` then `import --from event` into an empty store
# restores the archive: the same events, the same tombstones; importing the
# lines again changes nothing; a bad line is a dead letter with its number.
source "$(dirname "$0")/lib.sh"

assert_status 0 tgh import -q "$FX/single_chat_channel.json" "$FX/newer_export.json" \
    "$FX/full_account.json"
tgh export -o "$WORK/archive.jsonl"
n=$(wc -l <"$WORK/archive.jsonl")
[ "$n" -gt 30 ] || fail "too few events exported ($n)"

# A delete event for one message, as a live collection would produce it.
first=$(head -n 1 "$WORK/archive.jsonl")
cid=$(jq .chat.id <<<"$first")
mid=$(jq .message_id <<<"$first")
date=$(jq .date <<<"$first")
empty_hash=$(printf '{}' | sha256sum | cut -d' ' -f1)
jq -nc --argjson c "$cid" --argjson m "$mid" --argjson d "$date" --arg h "$empty_hash" \
    '{schema_version: 1, op: "delete", source: "tdlib", idempotency_key: "\($c):\($d):\($m)",
      observed_at: 1800000000, chat: {id: $c, type: "channel"}, message_id: $m, date: $d,
      content_hash: $h}' >"$WORK/delete.jsonl"
tgh decode --from event "$WORK/delete.jsonl" >/dev/null || fail "hand-made delete event is invalid"
# ... and one for a message the archive never had (seen deleted before collected).
jq -nc --argjson c "$cid" --arg h "$empty_hash" \
    '{schema_version: 1, op: "delete", source: "tdlib", idempotency_key: "\($c):0:999999",
      observed_at: 1800000001, chat: {id: $c, type: "channel"}, message_id: 999999,
      content_hash: $h}' >>"$WORK/delete.jsonl"
assert_status 0 tgh import --from event -q "$WORK/delete.jsonl"
assert_eq "tombstone" 1 "$(sql "SELECT count(*) FROM messages WHERE deleted_at = 1800000000")"
assert_eq "tombstone of an unknown message" 1 "$(sql "SELECT count(*) FROM tombstones WHERE message_id = 999999")"
tgh export -o "$WORK/archive.jsonl"

# Restore into an empty store.
export TGH_STORE="sqlite://$WORK/restored.db"
assert_status 0 tgh import --from event --json -q "$WORK/archive.jsonl"
assert_eq "errors" 0 "$(jq .errors "$WORK/out")"
tgh export -o "$WORK/restored.jsonl"
cmp -s "$WORK/archive.jsonl" "$WORK/restored.jsonl" || fail "restored archive differs"
assert_eq "restored tombstone" 1 \
    "$(sqlite3 "$WORK/restored.db" "SELECT count(*) FROM messages WHERE deleted_at = 1800000000")"
# Chats that have messages come back with the same counts (a chat without any
# message has no event to carry it).
assert_eq "restored chats" \
    "$(TGH_STORE="sqlite://$DB" tgh chats --json | jq -c 'select(.messages + .deleted > 0) | [.id, .messages, .deleted]')" \
    "$(tgh chats --json | jq -c '[.id, .messages, .deleted]')"
# The columns beside each event, and the edit history, come back too.
cols="SELECT chat_id, message_id, date, edit_date, sender_id, sender_type, sender_name, text,
      thread_id, reply_to_message_id, media_kind, views, forwards, replies, reactions,
      content_hash, idempotency_key, deleted_at, version_count FROM messages ORDER BY 1, 2"
vers="SELECT chat_id, message_id, content_hash, edit_date, text FROM message_versions
      ORDER BY 1, 2, coalesce(edit_date, 0), version"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM message_versions")" -gt 0 ] || fail "fixture archive has no versions"
assert_eq "restored columns" "$(sqlite3 "$DB" "$cols" | md5sum)" "$(sqlite3 "$WORK/restored.db" "$cols" | md5sum)"
assert_eq "restored versions" "$(sqlite3 "$DB" "$vers")" "$(sqlite3 "$WORK/restored.db" "$vers")"
tombs="SELECT chat_id, message_id, deleted_at, source FROM tombstones ORDER BY 1, 2"
assert_eq "restored tombstones" "$(sqlite3 "$DB" "$tombs")" "$(sqlite3 "$WORK/restored.db" "$tombs")"
assert_eq "replay run" 1 "$(sqlite3 "$WORK/restored.db" "SELECT count(*) FROM collection_runs WHERE kind = 'replay' AND status = 'ok'")"
ok "export jsonl + import --from event restores the archive"

assert_status 0 tgh import --from event --json -q "$WORK/archive.jsonl"
assert_eq "again: imported" 0 "$(jq .imported "$WORK/out")"
assert_eq "again: refreshed" 0 "$(jq .refreshed "$WORK/out")"
assert_eq "again: versioned" 0 "$(jq .versioned "$WORK/out")"
assert_eq "again: deleted" 0 "$(jq .deleted "$WORK/out")"
assert_eq "again: columns" "$(sqlite3 "$DB" "$cols" | md5sum)" "$(sqlite3 "$WORK/restored.db" "$cols" | md5sum)"
ok "replaying again changes nothing"

# A bad line among good ones.
{ head -n 2 "$WORK/archive.jsonl"; echo '{"schema_version": 1, "op": "upsert"'; \
  head -n 3 "$WORK/archive.jsonl" | tail -n 1 | jq -c '.message_id = 0'; \
  tail -n 1 "$WORK/archive.jsonl"; } >"$WORK/mixed.jsonl"
export TGH_STORE="sqlite://$WORK/mixed.db"
assert_status 0 tgh import --from event --json -q "$WORK/mixed.jsonl"
assert_eq "mixed: errors" 2 "$(jq .errors "$WORK/out")"
assert_eq "mixed: dead letters by line" "line 3,line 4" \
    "$(sqlite3 "$WORK/mixed.db" "SELECT group_concat(position) FROM (SELECT position FROM ingestion_errors WHERE source = 'event' ORDER BY id)")"
ok "bad event lines are dead letters with their line numbers"

# CRLF line ends, a BOM and blank lines, as editors and other tools write them.
export TGH_STORE="sqlite://$WORK/crlf.db"
{ printf '\xef\xbb\xbf'; head -n 3 "$WORK/archive.jsonl" | sed 's/$/\r/'; printf '\r\n   \n\n'; } >"$WORK/crlf.jsonl"
assert_status 0 tgh import --from event --json -q "$WORK/crlf.jsonl"
assert_eq "crlf: errors" 0 "$(jq .errors "$WORK/out")"
assert_eq "crlf: events" 3 "$(jq ".imported + .deleted" "$WORK/out")"
ok "CRLF, BOM and blank lines"
