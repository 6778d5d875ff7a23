#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The media downloader against the TDLib stand-in: files downloaded with
# downloadFile and stored once per content (across chats), a kill -9 in the
# middle of a download resumed from the bytes TDLib kept, names from
# strangers made safe, TDLib's copies deleted once stored, and the message
# stream untouched.
. "$(dirname "$0")/collect_lib.sh"

M=$WORK/media
C=-1001000000950 D=-1001000000951 NOW=$(date +%s)
export TGH_MEDIA_RETRY=1 TGH_MEDIA_HISTORY=all
big=3000000
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Photo desk\", \"username\": \"photo_desk\",
         \"history\": {\"count\": 24, \"start_date\": $((NOW - 7200)), \"step_s\": 60,
                       \"mix\": {\"photo\": 40, \"document\": 30, \"voice_note\": 15, \"text\": 15}},
         \"messages\": [{\"id\": 30, \"date\": $((NOW - 600)), \"text\": \"the big one\",
                         \"media\": {\"kind\": \"document\", \"size\": $big, \"file_name\": \"../../etc/passwd\"}}]},
        {\"id\": $D, \"kind\": \"channel\", \"title\": \"Repost desk\", \"username\": \"repost_desk\",
         \"history\": {\"count\": 3, \"start_date\": $((NOW - 7200)), \"step_s\": 60, \"mix\": {\"text\": 1}},
         \"messages\": [{\"id\": 5, \"date\": $((NOW - 300)), \"text\": \"reposted\",
                         \"same_file_as\": {\"chat\": $C, \"id\": 30}}]}]"
login
assert_status 0 tgh chats add @photo_desk
assert_status 0 tgh chats add @repost_desk

# ---- a killed download goes on from the bytes TDLib kept ----
control '{"cmd":"download_speed","bytes_per_s":400000,"chunk":65536}'
"$TGHARVEST" collect --once >/dev/null 2>"$WORK/c1.err" &
pid=$!
partial=""
for _ in $(seq 400); do
    partial=$(find "$TGH_DATA_DIR" -path '*temp*' -type f -size +1000k 2>/dev/null | head -1)
    [ -n "$partial" ] && break
    sleep 0.05
done
[ -n "$partial" ] || { kill -9 $pid; cat "$WORK/c1.err" >&2; fail "no partial download of the big file appeared"; }
kill -9 $pid
wait $pid 2>/dev/null || true
have=$(stat -c %s "$partial")
[ "$have" -lt "$big" ] || fail "the big file was complete before the kill ($have bytes)"
assert_eq "not stored while partial" 0 "$(sql "SELECT count(*) FROM job_history WHERE chat_id = $C AND message_id = 30 AND state = 'stored'")"
# The restart downloads at the same 400 kB/s: from zero it would need 2.5 s to hold 1 MB again.
: >"$TGH_FAKE_TD_LOG"
"$TGHARVEST" collect --once --json >"$WORK/c2.out" 2>"$WORK/c2.err" &
pid=$!
for _ in $(seq 400); do
    requests downloadFile 2>/dev/null | grep -q . && break
    sleep 0.02
done
requests downloadFile | grep -q . || { kill -9 $pid; fail "the restart asked for no download"; }
sleep 0.3
again=$(stat -c %s "$partial" 2>/dev/null || echo 0)
[ "$again" -ge "$have" ] || { kill -9 $pid; fail "the restart began again from zero: $again bytes, had $have"; }
control '{"cmd":"download_speed","bytes_per_s":0}'
wait $pid || { cat "$WORK/c2.err" >&2; fail "the restarted collector failed"; }
assert_eq "big job stored" stored "$(sql "SELECT state FROM job_history WHERE chat_id = $C AND message_id = 30")"
ok "kill -9 mid-download: the next run went on from $have bytes"

files=$(sql "SELECT count(*) FROM job_history WHERE state = 'stored'")
assert_eq "every job stored" "$(sql "SELECT count(*) FROM job_history")" "$files"
[ "$files" -ge 20 ] || fail "only $files files stored"
assert_eq "messages untouched" 24 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $C AND message_id < 30")"
ok "$files files stored"

# The shared file: one object, two layout folders, two sidecars.
sha=$(sql "SELECT sha256 FROM job_history WHERE chat_id = $C AND message_id = 30")
assert_eq "same content in the repost" "$sha" "$(sql "SELECT sha256 FROM job_history WHERE chat_id = $D AND message_id = 5")"
assert_eq "its size" "$big" "$(sql "SELECT size_bytes FROM dedup_index WHERE sha256 = '$sha'")"
assert_eq "one object per content" "$(sql "SELECT count(*) FROM dedup_index")" "$(find "$M/objects" -type f | wc -l)"
y=$(date -u -d @"$((NOW - 600))" +%Y/%m)
[ -f "$M/$y/photo_desk-1001000000950/30/_.._etc_passwd" ] || fail "no safe layout name for ../../etc/passwd: $(ls "$M/$y/photo_desk-1001000000950/30")"
[ -f "$M/$(date -u -d @"$((NOW - 300))" +%Y/%m)/repost_desk-1001000000951/5/message.json" ] || fail "repost has no sidecar"
assert_eq "original name kept" "../../etc/passwd" \
    "$(jq -r '.files[0].original_name' "$M/$y/photo_desk-1001000000950/30/message.json")"
[ -z "$(find "$M" -name '*.tmp-*')" ] || fail "temporary files left"
assert_status 0 tgh media verify --json
assert_eq "verify clean" 0 "$(jq '.problems | length' "$WORK/out")"
ok "dedup across chats, safe names, verify"

# Downloads asked for as documented: one file, a priority, synchronous; TDLib's copy deleted after.
requests downloadFile | jq -e -s 'all(.[]; .synchronous == true and .priority >= 1 and .priority <= 32)' >/dev/null ||
    fail "a downloadFile request without its priority or not synchronous"
dl_ids=$(requests downloadFile | jq -s -c '[.[].file_id] | unique')
del_ids=$(requests deleteFile | jq -s -c '[.[].file_id] | unique')
assert_eq "TDLib's copy of every downloaded file deleted after the store" "$dl_ids" "$del_ids"
ok "downloadFile with priorities, deleteFile after the store"
