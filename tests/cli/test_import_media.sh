#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `import` stores the media files beside a Telegram Desktop export: once per
# content (across chats), under the human layout with message.json, never
# from a path that leads out of the export folder (the message is archived
# all the same), and the export's "not included" placeholders become jobs a
# TDLib download can fill. `media status|jobs|verify|retry` report on it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"

M=$WORK/media
exp=$WORK/export
mkdir -p "$exp"/{photos,files,voice_messages,video_files,stickers}
# The fixture's message 9 points at ../outside.txt, 12 at an absolute path;
# files/shanty.mp3 (message 11) is a symlink out of the folder.
jq '(.messages[] | select(.id == 9) | .file) = "../outside.txt"
    | (.messages[] | select(.id == 9) | .thumbnail) = "/etc/hostname"' \
    "$FX/newer_export.json" >"$exp/result.json"
printf 'photo bytes\n' >"$exp/photos/photo_1@02-03-2023_08-00-00.jpg"
head -c 300000 /dev/urandom >"$exp/files/report.pdf"
head -c 4000 /dev/urandom >"$exp/voice_messages/audio_1@02-03-2023_09-10-00.ogg"
printf 'secret\n' >"$WORK/outside.txt"
ln -s /etc/passwd "$exp/files/shanty.mp3"
n=$(export_count "$exp/result.json")
chat=-1001234567890

assert_status 0 tgh import --json "$exp/result.json"
assert_eq "messages archived" "$n" "$(jq '.imported + .errors' "$WORK/out")"
assert_eq "media stored" 3 "$(jq .media.stored "$WORK/out")"
assert_eq "media refused" 2 "$(jq .media.refused "$WORK/out")"
assert_eq "media dedup" 0 "$(jq .media.dedup "$WORK/out")"
assert_eq "media failed" 0 "$(jq .media.failed "$WORK/out")"
assert_contains "refusal names the message" "message 11 of chat $chat" "$WORK/err"
assert_contains "refusal names the message" "message 9 of chat $chat" "$WORK/err"
assert_contains "refusal says why" "outside the export folder" "$WORK/err"
# The refused messages themselves are archived.
assert_eq "refused messages kept" 2 "$(sql "SELECT count(*) FROM messages WHERE message_id IN (9, 11)")"
ok "import stores the export's files, refuses the ones leading out"

# Content-addressed objects, byte for byte, and nothing from outside.
for f in "$exp/photos/photo_1@02-03-2023_08-00-00.jpg" "$exp/files/report.pdf" \
    "$exp/voice_messages/audio_1@02-03-2023_09-10-00.ogg"; do
    h=$(sha256sum "$f" | cut -d' ' -f1)
    obj="$M/objects/${h:0:2}/${h:2:2}/$h"
    [ -f "$obj" ] || fail "no object for $f"
    cmp -s "$f" "$obj" || fail "object of $f differs"
done
assert_eq "objects" 3 "$(find "$M/objects" -type f | wc -l)"
for secret in /etc/passwd "$WORK/outside.txt" /etc/hostname; do
    h=$(sha256sum "$secret" | cut -d' ' -f1)
    [ ! -e "$M/objects/${h:0:2}/${h:2:2}/$h" ] || fail "$secret was stored"
done
[ -z "$(find "$M" -name '*.tmp-*')" ] || fail "temporary files left"
ok "objects are the files' bytes, nothing from outside the export"

# The human layout: {YYYY}/{MM}/{slug}/{message_id}/ with a hard link and message.json.
folder=$M/2023/03/harbor-watch-test-channel-1001234567890
[ -f "$folder/12/report.pdf" ] || fail "no layout name for report.pdf: $(find "$M" | head -30)"
[ "$(stat -c %i "$folder/12/report.pdf")" = "$(stat -c %i "$M/objects/$(sha256sum "$exp/files/report.pdf" | cut -c1-2)/$(sha256sum "$exp/files/report.pdf" | cut -c3-4)/$(sha256sum "$exp/files/report.pdf" | cut -d' ' -f1)")" ] ||
    fail "layout name is not a link to the object"
[ -f "$folder/7/audio_1.ogg" ] || fail "voice keeps its file name"
[ -f "$folder/4/photo_1@02-03-2023_08-00-00.jpg" ] || fail "photo named after its export file"
side=$folder/12/message.json
assert_eq "sidecar message" 12 "$(jq .event.message_id "$side")"
assert_eq "sidecar schema" 1 "$(jq .schema_version "$side")"
assert_eq "sidecar original name" report.pdf "$(jq -r '.files[0].original_name' "$side")"
assert_eq "sidecar sha" "$(sha256sum "$exp/files/report.pdf" | cut -d' ' -f1)" "$(jq -r '.files[0].sha256' "$side")"
assert_eq "sidecar type" application/pdf "$(jq -r '.files[0].content_type' "$side")"
assert_eq "sidecar event is the stored one" "$(sql "SELECT content_hash FROM messages WHERE chat_id = $chat AND message_id = 12")" \
    "$(jq -r .event.content_hash "$side")"
ok "layout names and message.json"

# Jobs: stored, skipped by the policy, and placeholders left for TDLib.
assert_status 0 tgh media jobs --json
jobs=$WORK/jobs.json
cp "$WORK/out" "$jobs"
assert_eq "job of the not-included photo" queued "$(jq -rs '.[] | select(.message_id == 5) | .state' "$jobs")"
assert_eq "its origin" tdlib "$(jq -rs '.[] | select(.message_id == 5) | .origin' "$jobs")"
assert_contains "placeholder kept as the reason" "File not included" "$jobs"
assert_eq "sticker skipped by kind" skipped "$(jq -rs '.[] | select(.message_id == 6) | .state' "$jobs")"
assert_eq "2 GB video skipped by size" skipped "$(jq -rs '.[] | select(.message_id == 10) | .state' "$jobs")"
assert_eq "refused file queued for TDLib" queued "$(jq -rs '.[] | select(.message_id == 11) | .state' "$jobs")"
assert_status 0 tgh media status --json
assert_eq "status stored" 3 "$(jq .states.stored.jobs "$WORK/out")"
assert_eq "status unique files" 3 "$(jq .unique_files "$WORK/out")"
assert_eq "status bytes" "$((12 + 300000 + 4000))" "$(jq .unique_bytes "$WORK/out")"
ok "jobs and status"

# The API serves a message's files and their bytes, with ranges, to keyed clients.
start_http serve serve
trap 'kill -9 $(cat "$WORK/serve.pid") 2>/dev/null || true; rm -rf "$WORK"' EXIT
expect 200 "/api/v1/chats/$chat/messages/12/media"
assert_eq "media list state" stored "$(jq -r '.files[0].state' "$WORK/body")"
url=$(jq -r '.files[0].url' "$WORK/body")
expect 200 "/api/v1/chats/$chat/messages/5/media"
assert_eq "queued file has no url" null "$(jq -r '.files[0].url' "$WORK/body")"
expect 401 -k "" "$url"
curl -sS -D "$WORK/hdr" -o "$WORK/got" -H "X-API-Key: $READ_KEY" "$BASE$url"
cmp -s "$WORK/got" "$exp/files/report.pdf" || fail "served bytes differ"
assert_contains "content type" "Content-Type: application/pdf" "$WORK/hdr"
assert_contains "ranges" "Accept-Ranges: bytes" "$WORK/hdr"
curl -sS -D "$WORK/hdr" -o "$WORK/got" -H "X-API-Key: $READ_KEY" -H "Range: bytes=100-199" "$BASE$url"
assert_contains "206" "HTTP/1.1 206" "$WORK/hdr"
assert_contains "content range" "Content-Range: bytes 100-199/300000" "$WORK/hdr"
cmp -s "$WORK/got" <(tail -c +101 "$exp/files/report.pdf" | head -c 100) || fail "range bytes differ"
curl -sS -o "$WORK/got" -H "X-API-Key: $READ_KEY" -H "Range: bytes=-10" "$BASE$url"
cmp -s "$WORK/got" <(tail -c 10 "$exp/files/report.pdf") || fail "suffix range differs"
expect 416 -H "Range: bytes=300000-" "$url"
photo=$(api "/api/v1/chats/$chat/messages/4/media" >/dev/null; jq -r '.files[0].url' "$WORK/body")
curl -sS -D "$WORK/hdr" -o /dev/null -H "X-API-Key: $READ_KEY" "$BASE$photo"
assert_contains "photo content type" "Content-Type: image/jpeg" "$WORK/hdr"
expect 404 "/api/v1/media/999999"
expect 404 "/api/v1/media/$(jq -rs '.[] | select(.message_id == 5) | .id' "$jobs")"
for _ in $(seq 50); do
    expect 200 /metrics
    grep -q '^tgh_media_jobs{state="stored"} 3$' "$WORK/body" && break
    sleep 0.1
done
assert_contains "media gauge stored" 'tgh_media_jobs{state="stored"} 3' "$WORK/body"
assert_contains "media gauge failed" 'tgh_media_jobs{state="failed"} 0' "$WORK/body"
stop_http serve
ok "API: media list, bytes, ranges, keys, gauges"

# Importing again stores nothing new and adds no job.
before=$(sql "SELECT count(*) FROM job_history")
assert_status 0 tgh import --json "$exp/result.json"
assert_eq "re-import stores nothing" 0 "$(jq .media.stored "$WORK/out")"
assert_eq "no new job" "$before" "$(sql "SELECT count(*) FROM job_history")"
ok "re-import is idempotent"

# The same files in another chat: stored once, referenced from both.
jq '.id = 1999999999 | .name = "Second Harbour"' "$exp/result.json" >"$exp/second.json"
assert_status 0 tgh import --json "$exp/second.json"
assert_eq "second chat stored" 3 "$(jq .media.stored "$WORK/out")"
assert_eq "all of them dedup" 3 "$(jq .media.dedup "$WORK/out")"
assert_eq "still 3 objects" 3 "$(find "$M/objects" -type f | wc -l)"
[ -f "$M/2023/03/second-harbour-1001999999999/12/report.pdf" ] || fail "second chat has no layout"
assert_status 0 tgh media status --json
assert_eq "dedup saved" "$((12 + 300000 + 4000))" "$(jq .dedup_saved_bytes "$WORK/out")"
ok "dedup across chats"

# verify: all good, then a changed object and a missing one.
assert_status 0 tgh media verify
assert_contains "verify count" "verified 3 objects" "$WORK/out"
h=$(sha256sum "$exp/files/report.pdf" | cut -d' ' -f1)
printf 'tampered' >"$M/objects/${h:0:2}/${h:2:2}/$h.x" && mv "$M/objects/${h:0:2}/${h:2:2}/$h.x" "$M/objects/${h:0:2}/${h:2:2}/$h"
v=$(sha256sum "$exp/voice_messages/audio_1@02-03-2023_09-10-00.ogg" | cut -d' ' -f1)
rm "$M/objects/${v:0:2}/${v:2:2}/$v"
assert_status 1 tgh media verify --json
assert_eq "mismatch found" "$h" "$(jq -r '.problems[] | select(.problem == "mismatch") | .sha256' "$WORK/out")"
assert_eq "missing found" "$v" "$(jq -r '.problems[] | select(.problem == "missing") | .sha256' "$WORK/out")"
ok "verify reports mismatched and missing objects"

# retry: a skipped job by id, then every failed one.
sid=$(jq -rs '.[] | select(.message_id == 6 and .chat_id == '"$chat"') | .id' "$jobs")
assert_status 0 tgh media retry "$sid"
assert_eq "retried job queued" queued "$(sql "SELECT state FROM job_history WHERE id = $sid")"
assert_status 1 tgh media retry 999999
assert_contains "unknown job named" "999999" "$WORK/err"
assert_status 0 tgh media retry --failed
ok "retry"

# TGH_MEDIA=off and --no-media keep messages only; a bad TGH_MEDIA is named.
rm -f "$DB"*
TGH_MEDIA=off assert_status 0 tgh import --json "$exp/result.json"
assert_eq "no media section" null "$(jq .media "$WORK/out")"
assert_eq "no jobs" 0 "$(sql "SELECT count(*) FROM job_history")"
assert_status 0 tgh import --no-media --json "$exp/result.json"
assert_eq "no jobs with --no-media" 0 "$(sql "SELECT count(*) FROM job_history")"
TGH_MEDIA='ftp://nowhere' assert_status 1 tgh import "$exp/result.json"
assert_contains "bad TGH_MEDIA named" "ftp://nowhere" "$WORK/err"
ok "media off, --no-media, bad TGH_MEDIA"
