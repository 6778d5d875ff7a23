#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The archive bot against the scripted Bot API server (tests/fake_botapi):
# the parts of the Bot API that telegram-test-api does not have (offsets,
# long polling, getFile and downloads, copyMessage, 429 with retry_after).
# Whitelist and private chats only, every forward origin, an album across
# two polls, files through getFile, duplicates, commands, flood waits, a file
# over the download limit, and kill -9 while an album is held.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bot_lib.sh"

start_fake_botapi
CH='{"id":-1001234567890,"title":"Harbour News","username":"harbour_news","type":"channel"}'

# ---- whitelist, private chats, forward origins, a command ----
post_update "$(pm 4242 1 '{"text":"hello archive"}')" >/dev/null
post_update "$(pm 5555 1 '{"text":"let me in"}')" >/dev/null
post_update "$(jq -cn '{message: {message_id: 3, date: 1717300000,
    from: {id: 4242, is_bot: false, first_name: "Ann"},
    chat: {id: -1009876543210, type: "supergroup", title: "Ops"}, text: "in a group"}}')" >/dev/null
post_update "$(pm 4242 2 '{"forward_origin":{"type":"user","sender_user":{"id":5550001,"is_bot":false,"first_name":"Bo"},"date":1717200000},"text":"from a user"}')" >/dev/null
post_update "$(pm 4242 3 '{"forward_origin":{"type":"hidden_user","sender_user_name":"Hidden Harry","date":1717200001},"text":"from a hidden user"}')" >/dev/null
post_update "$(pm 4242 4 '{"forward_origin":{"type":"chat","sender_chat":{"id":-1009876543210,"title":"Ops","type":"supergroup"},"date":1717200002},"text":"from an admin"}')" >/dev/null
post_update "$(pm 4242 5 "{\"forward_origin\":{\"type\":\"channel\",\"chat\":$CH,\"message_id\":77,\"date\":1717200003},\"text\":\"tide at 6\"}")" >/dev/null
post_update '{"message_reaction":{"chat":{"id":4242,"type":"private"},"message_id":1,"date":1717300001,"old_reaction":[],"new_reaction":[{"type":"emoji","emoji":"👍"}]}}' >/dev/null
post_update "$(pm 4242 6 '{"text":"/help","entities":[{"offset":0,"length":5,"type":"bot_command"}]}')" >/dev/null
tgh bot --once >"$WORK/run1.json" 2>"$WORK/run1.err" || { cat "$WORK/run1.err" >&2; fail "bot --once"; }
assert_eq "updates read" 9 "$(jq .updates "$WORK/run1.json")"
assert_eq "archived" 5 "$(jq .archived "$WORK/run1.json")"
assert_eq "refused: another user and a group" 2 "$(jq .refused "$WORK/run1.json")"
assert_eq "skipped: a reaction" 1 "$(jq .skipped "$WORK/run1.json")"
assert_eq "commands" 1 "$(jq .commands "$WORK/run1.json")"
assert_eq "messages of the whitelisted user" 5 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242")"
assert_eq "nothing of the others" 0 "$(sql "SELECT count(*) FROM messages WHERE chat_id <> 4242")"
assert_eq "no answer to the stranger" "" "$(sent_texts 5555)"
assert_eq "no answer in the group" "" "$(sent_texts -1009876543210)"
ev() { sql "SELECT event FROM messages WHERE chat_id = 4242 AND message_id = $1"; }
assert_eq "user origin" "user 5550001 Bo" "$(ev 2 | jq -r '[.forward.from_type, .forward.from_id, .forward.from_name] | join(" ")')"
assert_eq "hidden user origin" "Hidden Harry" "$(ev 3 | jq -r '.forward.from_name')"
assert_eq "chat origin" "-1009876543210" "$(ev 4 | jq -r '.forward.from_id')"
assert_eq "channel origin" "-1001234567890 77" "$(ev 5 | jq -r '"\(.forward.from_id) \(.forward.message_id)"')"
assert_eq "source" "botapi" "$(ev 5 | jq -r .source)"
assert_contains "each archived message gets a reply" "Archived: text (message 5)" <(sent_texts 4242)
assert_contains "/help answers" "/retry ID" <(sent_texts 4242)
next=$(sql "SELECT next_update_id FROM bot_state")
assert_eq "offset is past the last update" "$(curl -sf "$BOTAPI/control/state" | jq .confirmed)" "$next"
ok "whitelist, private chats only, every forward origin, commands, offset"

# ---- a duplicate: the same post forwarded again ----
post_update "$(pm 4242 7 "{\"forward_origin\":{\"type\":\"channel\",\"chat\":$CH,\"message_id\":77,\"date\":1717200003},\"text\":\"tide at 6\"}")" >/dev/null
tgh bot --once >"$WORK/run2.json" 2>"$WORK/run2.err" || { cat "$WORK/run2.err" >&2; fail "bot --once (2)"; }
assert_eq "duplicates" 1 "$(jq .duplicates "$WORK/run2.json")"
assert_contains "the reply says so" "Duplicate: the same post was archived before as message 5" <(sent_texts 4242)
assert_eq "both messages kept" 2 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id IN (5, 7)")"
ok "a post forwarded twice is recognised"

# ---- an album across two polls, its files through getFile; the same file again ----
curl -sf -X POST "$BOTAPI/control/file" -d '{"file_id":"PH1","file_unique_id":"AQADph1","size":70000,"seed":11}' >/dev/null
curl -sf -X POST "$BOTAPI/control/file" -d '{"file_id":"VD1","file_unique_id":"BAADvd1","size":300000,"seed":12}' >/dev/null
curl -sf -X POST "$BOTAPI/control/file" -d '{"file_id":"PH1b","file_unique_id":"AQADph1","size":70000,"seed":11}' >/dev/null
"$TGHARVEST" bot >"$WORK/run3.json" 2>"$WORK/run3.err" &
pid=$!
post_update "$(pm 4242 8 '{"media_group_id":"1354254354","caption":"album","photo":[{"file_id":"PH1s","file_unique_id":"AQADs","width":90,"height":60,"file_size":900},{"file_id":"PH1","file_unique_id":"AQADph1","width":1280,"height":853,"file_size":70000}]}')" >/dev/null
sleep 0.4
post_update "$(pm 4242 9 '{"media_group_id":"1354254354","video":{"file_id":"VD1","file_unique_id":"BAADvd1","width":640,"height":360,"duration":5,"mime_type":"video/mp4","file_name":"clip.mp4","file_size":300000}}')" >/dev/null
album_reply() { sent_texts 4242 | grep -q "Archived an album of 2"; }
wait_for 20 "the album's reply" album_reply
post_update "$(pm 4242 10 '{"photo":[{"file_id":"PH1b","file_unique_id":"AQADph1","width":1280,"height":853,"file_size":70000}]}')" >/dev/null
again_reply() { sent_texts 4242 | grep -q "message 10).*stored before"; }
wait_for 20 "the reply to the same file" again_reply
kill -TERM $pid
wait $pid || fail "bot exited $? after SIGTERM"
assert_eq "album parts share their group" 2 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND json_extract(event, '$.album_id') = 1354254354")"
assert_contains "one reply for the album" "Archived an album of 2" <(sent_texts 4242)
assert_eq "one reply, not one per part" 0 "$(sent_texts 4242 | grep -c "Archived: photo, 70 kB (message 8)" || true)"
assert_eq "files stored" 3 "$(sql "SELECT count(*) FROM job_history WHERE origin = 'bot' AND state = 'stored'")"
assert_eq "the same bytes stored once" 2 "$(sql "SELECT count(*) FROM dedup_index")"
want=$(node -e 'let x=11,b=Buffer.alloc(70000);for(let i=0;i<70000;i++){x=(x*1103515245+12345)>>>0;b[i]=x>>>24}console.log(require("crypto").createHash("sha256").update(b).digest("hex"))')
assert_eq "the photo's bytes" "$want" "$(sql "SELECT sha256 FROM job_history WHERE chat_id = 4242 AND message_id = 8")"
key=$(sql "SELECT storage_key FROM job_history WHERE chat_id = 4242 AND message_id = 9")
assert_eq "the video's object" 300000 "$(stat -c %s "$WORK/media/$key")"
ok "an album is one unit across two polls; files via getFile; the same file stored once"

# ---- commands against the archive ----
post_update "$(pm 4242 11 '{"text":"/status","entities":[{"offset":0,"length":7,"type":"bot_command"}]}')" >/dev/null
post_update "$(pm 4242 12 '{"text":"/jobs","entities":[{"offset":0,"length":5,"type":"bot_command"}]}')" >/dev/null
post_update "$(pm 4242 13 '{"text":"/stats","entities":[{"offset":0,"length":6,"type":"bot_command"}]}')" >/dev/null
post_update "$(pm 4242 14 '{"text":"/retry 999","entities":[{"offset":0,"length":6,"type":"bot_command"}]}')" >/dev/null
tgh bot --once >"$WORK/run4.json" 2>"$WORK/run4.err" || { cat "$WORK/run4.err" >&2; fail "bot --once (4)"; }
assert_contains "/status: the archive" "Archive: 9 messages from you" <(sent_texts 4242)
assert_contains "/status: the files" "Files: 3 stored" <(sent_texts 4242)
assert_contains "/status: the last update" "Last update: message at" <(sent_texts 4242)
assert_contains "/jobs lists the video" "video 300 kB: stored" <(sent_texts 4242)
assert_contains "/stats" "Messages archived: 9" <(sent_texts 4242)
assert_contains "/retry of an id not theirs" "There is no job 999 of yours" <(sent_texts 4242)
assert_eq "commands are not archived" 0 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id >= 11")"
ok "/status, /jobs, /stats, /retry"

# ---- 429: waited out, for getUpdates and for a reply ----
curl -sf -X POST "$BOTAPI/control/flood" -d '{"method":"getUpdates","count":1,"retry_after":2}' >/dev/null
curl -sf -X POST "$BOTAPI/control/flood" -d '{"method":"sendMessage","count":1,"retry_after":1}' >/dev/null
post_update "$(pm 4242 15 '{"text":"after a flood"}')" >/dev/null
start=$(date +%s%N)
tgh bot --once >"$WORK/run5.json" 2>"$WORK/run5.err" || { cat "$WORK/run5.err" >&2; fail "bot --once (5)"; }
took=$((($(date +%s%N) - start) / 1000000))
assert_eq "flood waits" 2 "$(jq .flood_waits "$WORK/run5.json")"
[ "$took" -ge 3000 ] || fail "the flood waits were not waited out ($took ms for 2 s + 1 s)"
assert_contains "the reply came after its wait" "Archived: text (message 15)" <(sent_texts 4242)
ok "429 retry_after honoured ($took ms)"

# ---- a file over the Bot API's limit: failed with the reason, or relayed ----
big='{"document":{"file_id":"BIG1","file_unique_id":"BQADbig1","file_name":"harbour.mkv","mime_type":"video/x-matroska","file_size":31457280}}'
post_update "$(pm 4242 16 "$big")" >/dev/null
tgh bot --once >"$WORK/run6.json" 2>"$WORK/run6.err" || fail "bot --once (6)"
assert_contains "told why" "larger than the Bot API's download limit" <(sent_texts 4242)
assert_eq "job failed with its reason" failed "$(sql "SELECT state FROM job_history WHERE message_id = 16")"
assert_eq "getFile was not asked" 0 "$(bot_log getFile | jq -r .params.file_id | grep -c BIG1 || true)"
post_update "$(pm 4242 17 "$big")" >/dev/null
TGH_BOT_RELAY=31337 tgh bot --once >"$WORK/run7.json" 2>"$WORK/run7.err" || fail "bot --once (7)"
assert_eq "relayed" 1 "$(jq .relayed "$WORK/run7.json")"
assert_eq "copied to the TDLib account's chat" "31337 4242 17" "$(curl -sf "$BOTAPI/control/sent" | jq -r '.[] | select(.method == "copyMessage") | "\(.chat_id) \(.from_chat_id) \(.message_id)"')"
assert_eq "a relay job for the collector" "relay queued 777000111" "$(sql "SELECT origin, state, source_path FROM job_history WHERE message_id = 17" | tr '|' ' ')"
assert_contains "the user is told" "the TDLib account downloads it" <(sent_texts 4242)
ok "a file over TGH_BOT_FILE_LIMIT: failed with the reason, or handed to TGH_BOT_RELAY"

# ---- kill -9 while an album is held: nothing confirmed, nothing lost ----
export TGH_BOT_ALBUM_WAIT_MS=60000
"$TGHARVEST" bot >"$WORK/run8.json" 2>"$WORK/run8.err" &
pid=$!
curl -sf -X POST "$BOTAPI/control/file" -d '{"file_id":"PH2","file_unique_id":"AQADph2","size":5000,"seed":21}' >/dev/null
curl -sf -X POST "$BOTAPI/control/file" -d '{"file_id":"PH3","file_unique_id":"AQADph3","size":6000,"seed":22}' >/dev/null
post_update "$(pm 4242 18 '{"media_group_id":"77","photo":[{"file_id":"PH2","file_unique_id":"AQADph2","width":800,"height":600,"file_size":5000}]}')" >/dev/null
post_update "$(pm 4242 19 '{"text":"after the album"}')" >/dev/null
post_update "$(pm 4242 20 '{"media_group_id":"77","photo":[{"file_id":"PH3","file_unique_id":"AQADph3","width":800,"height":600,"file_size":6000}]}')" >/dev/null
after_album() { [ "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id = 19")" = 1 ]; }
wait_for 20 "the message after the album" after_album
assert_eq "the album is held, not stored" 0 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id IN (18, 20)")"
held_at=$(sql "SELECT next_update_id FROM bot_state")
kill -9 $pid
wait $pid 2>/dev/null || true
assert_eq "the stored offset stops at the album" "$held_at" "$(sql "SELECT next_update_id FROM bot_state")"
export TGH_BOT_ALBUM_WAIT_MS=300
tgh bot --once >"$WORK/run9.json" 2>"$WORK/run9.err" || { cat "$WORK/run9.err" >&2; fail "bot after kill -9"; }
assert_eq "the restart asked from the stored offset" "$held_at" "$(bot_log getUpdates | tail -n 2 | head -n 1 | jq .params.offset)"
assert_eq "the album is stored after the restart" 2 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id IN (18, 20)")"
assert_eq "the message after it once" 1 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id = 19")"
assert_eq "their files" 2 "$(sql "SELECT count(*) FROM job_history WHERE message_id IN (18, 20) AND state = 'stored'")"
assert_eq "no update left unconfirmed" 0 "$(curl -sf "$BOTAPI/control/state" | jq .pending)"
ok "kill -9 with an album held: the offset stayed before it, the restart stored it"

# ---- metrics: updates by type, archived, duplicates, refused, jobs by state ----
MPORT=$((20000 + RANDOM % 30000))
curl -sf -X POST "$BOTAPI/control/file" -d '{"file_id":"PH4","file_unique_id":"AQADph4","size":4000,"seed":31}' >/dev/null
TGH_API_KEYS=bot-metrics-read-key:read TGH_METRICS_ADDR=127.0.0.1:$MPORT "$TGHARVEST" bot >"$WORK/run10.json" 2>"$WORK/run10.err" &
pid=$!
post_update "$(pm 5555 2 '{"text":"still me"}')" >/dev/null
post_update "$(jq -cn '{message: {message_id: 4, date: 1717300000,
    from: {id: 4242, is_bot: false, first_name: "Ann"},
    chat: {id: -1009876543210, type: "supergroup", title: "Ops"}, text: "in a group"}}')" >/dev/null
post_update "$(pm 4242 21 "{\"forward_origin\":{\"type\":\"channel\",\"chat\":$CH,\"message_id\":77,\"date\":1717200003},\"text\":\"tide at 6\"}")" >/dev/null
post_update "$(pm 4242 22 '{"photo":[{"file_id":"PH4","file_unique_id":"AQADph4","width":640,"height":480,"file_size":4000}]}')" >/dev/null
post_update '{"edited_message":{"message_id":15,"date":1717300000,"edit_date":1717300100,"from":{"id":4242,"is_bot":false,"first_name":"Ann"},"chat":{"id":4242,"type":"private"},"text":"after a flood, edited"}}' >/dev/null
post_update "$(pm 4242 23 '{"text":5}')" >/dev/null
post_update '{"message":"not an object"}' >/dev/null
metric() { curl -sf -H "X-API-Key: bot-metrics-read-key" "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
jobs_counted() { [ "$(metric 'tgh_bot_jobs{state="stored"}')" = 6 ]; }
wait_for 30 "tgh_bot_jobs to count the new photo" jobs_counted
assert_eq "updates: message" 5 "$(metric 'tgh_bot_updates_total{type="message"}')"
assert_eq "updates: malformed" 1 "$(metric 'tgh_bot_updates_total{type="malformed"}')"
assert_eq "updates: edited_message" 1 "$(metric 'tgh_bot_updates_total{type="edited_message"}')"
assert_eq "archived: text (the post and the edit)" 2 "$(metric 'tgh_bot_archived_total{kind="text"}')"
assert_eq "archived: photo" 1 "$(metric 'tgh_bot_archived_total{kind="photo"}')"
assert_eq "duplicates" 1 "$(metric tgh_bot_duplicates_total)"
assert_eq "refused: not whitelisted" 1 "$(metric 'tgh_bot_refused_total{reason="not_whitelisted"}')"
assert_eq "refused: not private" 1 "$(metric 'tgh_bot_refused_total{reason="not_private"}')"
assert_eq "jobs: failed (over the limit)" 1 "$(metric 'tgh_bot_jobs{state="failed"}')"
assert_eq "jobs: queued (with the relay)" 1 "$(metric 'tgh_bot_jobs{state="queued"}')"
assert_eq "jobs: as the store has them" "$(sql "SELECT count(*) FROM job_history WHERE chat_id = 4242 AND state = 'stored'")" "$(metric 'tgh_bot_jobs{state="stored"}')"
last=$(metric tgh_bot_last_update_timestamp_seconds)
[ "${last%.*}" -ge "$(($(date +%s) - 60))" ] || fail "tgh_bot_last_update_timestamp_seconds is $last"
kill -TERM $pid
wait $pid || fail "bot exited $? after SIGTERM (metrics)"
assert_eq "both bad updates are dead letters" 2 "$(sql "SELECT count(*) FROM ingestion_errors WHERE source = 'botapi'")"
assert_contains "naming the field" "text: expected a string" <(sql "SELECT reason FROM ingestion_errors WHERE source = 'botapi'")
assert_contains "the user is told" "Could not archive this message: " <(sent_texts 4242)
assert_eq "the bad message is not stored" 0 "$(sql "SELECT count(*) FROM messages WHERE chat_id = 4242 AND message_id = 23")"
assert_eq "the offset is past them" "$(curl -sf "$BOTAPI/control/state" | jq .confirmed)" "$(sql "SELECT next_update_id FROM bot_state")"
ok "metrics: updates by type, archived by kind, duplicates, refused by reason, jobs by state; bad updates are dead letters"

# ---- the bot's dead letters through the API's retry, with the Bot API's mapper ----
source "$(dirname "$0")/api_lib.sh"
start_http serve serve
msg_dl=$(sql "SELECT id FROM ingestion_errors WHERE source = 'botapi' AND payload LIKE '%\"message_id\":23%'")
upd_dl=$(sql "SELECT id FROM ingestion_errors WHERE source = 'botapi' AND id <> $msg_dl")
expect_error 422 retry_failed -k "$ADMIN_KEY" -X POST "/api/v1/dead-letters/$upd_dl/retry"
assert_contains "read again by the Bot API reader" "message: expected" "$WORK/body"
sql "UPDATE ingestion_errors SET payload = json_set(payload, '$.text', 'fixed by hand') WHERE id = $msg_dl"
expect 200 -k "$ADMIN_KEY" -X POST "/api/v1/dead-letters/$msg_dl/retry"
assert_eq "committed" committed "$(jb .result)"
assert_eq "the fixed message is stored" "fixed by hand botapi" "$(sql "SELECT text, json_extract(event, '$.source') FROM messages WHERE chat_id = 4242 AND message_id = 23" | tr '|' ' ')"
stop_http serve
ok "the bot's dead letters are retried with the Bot API mapper"

# ---- a bad token is a clear error, not a loop ----
TGH_BOT_TOKEN=999:wrong tgh bot --once >"$WORK/bad.json" 2>"$WORK/bad.err" && fail "a wrong token must fail"
assert_contains "names the answer" "Bot API error 401: Unauthorized" "$WORK/bad.err"
ok "a wrong token fails with the Bot API's answer"
