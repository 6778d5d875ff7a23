#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# decode --from tdlib: TDLib JSON (one value, pretty or not, or JSON lines)
# printed as schema-v1 events with the output conventions and exit codes of
# the other decoders; the same messages from an export and from TDLib hash
# the same; bad input is named by line and byte and the rest goes on.
source "$(dirname "$0")/lib.sh"
TD=$TGH_TEST_FIXTURES/tdlib

# Every good fixture decodes; its events are canonical and strict (decode --from event).
for f in "$TD"/*.json; do
    case $(basename "$f") in bad_* | cross_export.json) continue ;; esac
    assert_status 0 tgh decode --from tdlib "$f"
    if [ -s "$WORK/out" ]; then
        cp "$WORK/out" "$WORK/events.jsonl"
        assert_status 0 tgh decode --from event "$WORK/events.jsonl"
        cmp -s "$WORK/events.jsonl" "$WORK/out" || fail "$(basename "$f"): not canonical"
    fi
done
ok "every fixture decodes into valid canonical events"

assert_status 0 tgh decode --from tdlib "$TD/text_entities.json"
assert_eq "source" tdlib "$(jq -r .source "$WORK/out")"
assert_eq "server id" 10 "$(jq .message_id "$WORK/out")"
assert_eq "chat type" channel "$(jq -r .chat.type "$WORK/out")"
assert_eq "raw kept" 10485760 "$(jq .raw.id "$WORK/out")"
assert_eq "entity names" "bold,italic,underline" "$(jq -r '[.entities[:3][].type] | join(",")' "$WORK/out")"
assert_status 0 tgh decode --from tdlib "$TD/album.json"
assert_eq "album: three events" 3 "$(wc -l <"$WORK/out")"
assert_eq "album: one album id" 1 "$(jq -r '.raw.media_album_id' "$WORK/out" | sort -u | wc -l)"
assert_status 0 tgh decode --from tdlib "$TD/delete_permanent.json"
assert_eq "deletes" "delete delete delete" "$(jq -r .op "$WORK/out" | xargs)"
assert_status 0 tgh decode --from tdlib "$TD/delete_from_cache.json"
assert_eq "cache unload: nothing" 0 "$(wc -l <"$WORK/out")"
ok "fields, albums, deletions"

# The same messages from a Desktop export and from TDLib: the same content hashes.
assert_status 0 tgh decode --from export "$TD/cross_export.json"
jq -r '"\(.message_id) \(.content_hash)"' "$WORK/out" >"$WORK/export.hashes"
assert_status 0 tgh decode --from tdlib "$TD/cross_tdlib.json"
jq -r '"\(.message_id) \(.content_hash)"' "$WORK/out" >"$WORK/tdlib.hashes"
assert_eq "messages compared" 9 "$(wc -l <"$WORK/tdlib.hashes")"
diff "$WORK/export.hashes" "$WORK/tdlib.hashes" >&2 || fail "content hashes differ between sources"
ok "same content hash from both sources"

# JSON lines with damage: each bad value is one line on stderr naming line and byte; the rest goes on.
{
    jq -c . "$TD/reply.json"
    echo '{"@type":"message","id": oops}'
    jq -c '{"@type": "updateNewMessage", message: .}' "$TD/poll.json"
    jq -c . "$TD/bad_local_id.json"
    echo '{"@type":"updateMessageEdited","chat_id":-1009876543210,"message_id":1048576,"edit_date":1}'
    jq -c . "$TD/delete_permanent.json"
} >"$WORK/transcript.jsonl"
assert_status 1 tgh decode --from tdlib "$WORK/transcript.jsonl"
assert_eq "good events printed" 5 "$(wc -l <"$WORK/out")"
assert_eq "one line per error" 3 "$(wc -l <"$WORK/err")"
assert_contains "bad JSON named" "tgharvest decode: line 2 (byte" "$WORK/err"
assert_contains "jansson's reason" "not valid JSON" "$WORK/err"
assert_contains "local message named" "line 4 (byte" "$WORK/err"
assert_contains "field named" "id: 99614721 is not a server message id" "$WORK/err"
assert_contains "partial update explained" "updateMessageEdited carries the edit date and buttons only" "$WORK/err"
ok "damaged JSON lines"

# stdin, a pretty-printed file of several values, an array of values.
assert_status 0 tgh decode --from tdlib - <"$TD/video.json"
assert_eq "stdin" 1 "$(wc -l <"$WORK/out")"
cat "$TD/photo.json" "$TD/contact.json" >"$WORK/pretty.json"
assert_status 0 tgh decode --from tdlib "$WORK/pretty.json"
assert_eq "two pretty values" "11 25" "$(jq .message_id "$WORK/out" | xargs)"
jq -s . "$TD/photo.json" "$TD/contact.json" >"$WORK/array.json"
assert_status 0 tgh decode --from tdlib "$WORK/array.json"
assert_eq "array of values" "11 25" "$(jq .message_id "$WORK/out" | xargs)"
ok "stdin, pretty values, arrays"

# Files that cannot be read, empty input, output that cannot be written, usage.
assert_status 1 tgh decode --from tdlib "$WORK/missing.json"
assert_contains "missing file" "missing.json" "$WORK/err"
assert_eq "one line" 1 "$(wc -l <"$WORK/err")"
: >"$WORK/empty.json"
assert_status 0 tgh decode --from tdlib "$WORK/empty.json"
assert_status 1 sh -c "\"$TGHARVEST\" decode --from tdlib \"$TD/photo.json\" >/dev/full"
assert_status 2 tgh decode --from telegram "$TD/photo.json"
assert_contains "usage names tdlib" "export, event, tdlib or botapi" "$WORK/err"
assert_status 0 tgh decode --help
assert_contains "help" "--from export|event|tdlib" "$WORK/out"
assert_contains "help explains tdlib" "updateDeleteMessages" "$WORK/out"
ok "errors and usage"
