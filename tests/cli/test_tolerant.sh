#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tolerant reading, strict events: messages broken in each repairable way are
# all archived, each repair is a warning stored with the message and counted
# per chat and kind by the report, and nothing else about them changes; only
# what cannot be read as a message at all is a dead letter.
source "$(dirname "$0")/lib.sh"

export_of() { # export_of SPOILER MEDIA_TYPE: a channel export of five messages, the last with no id
    jq -n --argjson spoiler "$1" --arg mt "$2" '{name: "Tolerant desk", type: "public_channel", id: 1234500001,
      messages: [
        {id: 1, type: "message", date: "2024-06-01T10:00:00", date_unixtime: "1717236000",
         from: "Tolerant desk", from_id: "channel1234500001", text: "plain", text_entities: [{type: "plain", text: "plain"}]},
        {id: 2, type: "message", date: "2024-06-01T10:01:00", date_unixtime: "1717236060",
         from: "Tolerant desk", from_id: "channel1234500001", photo: "photos/p.jpg", width: 8, height: 8,
         media_spoiler: $spoiler, text: "a photo", text_entities: [{type: "plain", text: "a photo"}]},
        {id: 3, type: "message", date: "2024-06-01T10:02:00", date_unixtime: "1717236120",
         from: "Tolerant desk", from_id: "channel1234500001", file: "files/h.bin", media_type: $mt,
         mime_type: "application/octet-stream", text: "", text_entities: []},
        {id: 4, type: "unsupported"},
        {type: "message", date: "2024-06-01T10:04:00", date_unixtime: "1717236240", text: "no id"}]}'
}
mkdir -p "$WORK/broken" "$WORK/clean"
export_of '"true"' hologram >"$WORK/broken/result.json"
export_of true video_file >"$WORK/clean/result.json"
export TGH_MEDIA=off
assert_status 0 tgh import "$WORK/broken/result.json"
assert_contains "the summary counts the unreadable one" "4 new, 0 unchanged, 0 versioned, 0 refreshed, 0 deleted, 1 errors" "$WORK/out"
assert_eq "every readable message archived" "1 2 3 4" "$(sql "SELECT message_id FROM messages ORDER BY 1" | xargs)"
assert_eq "the one without an id is a dead letter" 1 "$(sql "SELECT count(*) FROM ingestion_errors")"
assert_contains "named" "id: expected an integer" <(sql "SELECT reason FROM ingestion_errors")
w() { sql "SELECT json_extract(event, '\$.warnings') FROM messages WHERE message_id = $1"; }
assert_eq "a clean message has no warnings" "" "$(w 1)"
assert_eq "a boolean written as a string" 'bool_as_string media_spoiler' "$(w 2 | jq -r '.[] | "\(.kind) \(.path)"')"
assert_eq "read as the boolean" true "$(sql "SELECT json_extract(event, '\$.media.has_spoiler') = 1 FROM messages WHERE message_id = 2" | sed 's/1/true/')"
assert_eq "a media kind not known" 'unknown_media hologram' "$(w 3 | jq -r '.[] | .kind' | tr '\n' ' ')$(sql "SELECT media_kind FROM messages WHERE message_id = 3")"
assert_eq "an unsupported message dated from the one before" 'date_derived 1717236120' "$(w 4 | jq -r '.[0].kind') $(sql "SELECT date FROM messages WHERE message_id = 4")"
ok "every repairable message is archived, each repair a warning with it"

# Nothing else changed: the repaired photo is the clean one, but for its warning.
DB2=$WORK/clean.db
TGH_STORE=sqlite://$DB2 tgh import "$WORK/clean/result.json" >/dev/null 2>&1 || true
strip() { jq -cS 'del(.warnings, .observed_at, .raw)'; } # raw keeps what the source wrote
assert_eq "the same event but for the warning" \
    "$(sqlite3 "$DB2" "SELECT event FROM messages WHERE message_id = 2" | strip)" \
    "$(sql "SELECT event FROM messages WHERE message_id = 2" | strip)"
assert_eq "the same content hash" \
    "$(sqlite3 "$DB2" "SELECT content_hash FROM messages WHERE message_id = 2")" \
    "$(sql "SELECT content_hash FROM messages WHERE message_id = 2")"
ok "a repair changes nothing else about the message"

# The report counts them per chat and kind.
assert_status 0 tgh report
assert_eq "per chat and kind" '{"bool_as_string":1,"date_derived":1,"unknown_media":1}' "$(jq -c '.chats[0].warnings' "$WORK/out")"
assert_eq "in the totals" 3 "$(jq '[.totals.warnings[]] | add' "$WORK/out")"
assert_status 0 tgh report --format html -o "$WORK/r.html"
grep -q 'id="warnings"' "$WORK/r.html" && grep -q "unknown_media" "$WORK/r.html" || fail "the HTML report does not list the repairs"
ok "the report counts repairs per chat and kind"

# The other readers repair the same way.
assert_status 0 tgh decode --from tdlib "$TGH_TEST_FIXTURES/tdlib/repair_entity_bounds.json"
assert_eq "TDLib: an entity past the end of its text is clipped" "entity_clipped 3" "$(jq -r '"\(.warnings[0].kind) \(.entities[0].length)"' "$WORK/out")"
echo '{"update_id":1,"message":{"message_id":5,"date":1717300000,"chat":{"id":4242,"type":"private"},"text":"ab","entities":[{"offset":5,"length":1,"type":"bold"}],"has_media_spoiler":"false"}}' >"$WORK/u.json"
assert_status 0 tgh decode --from botapi "$WORK/u.json"
assert_eq "Bot API: dropped and read" "bool_as_string entity_dropped" "$(jq -r '[.warnings[].kind] | join(" ")' "$WORK/out")"
ok "TDLib and Bot API messages are repaired the same way"
