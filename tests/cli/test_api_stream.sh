#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The live stream in `run`: the collector's writer feeds the API in-process.
# New, edited and deleted messages reach a connected client once each, in
# order, filtered by chat and kind; a client that reconnects with
# Last-Event-ID gets exactly what it missed; one resuming from before what
# the server still holds is told of the gap; polling agrees with the stream;
# SIGTERM ends streams and the process cleanly.
. "$(dirname "$0")/collect_lib.sh"
. "$(dirname "$0")/api_lib.sh"

C=-1001000000700 E=-1001000000701
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Stream desk\", \"username\": \"stream_desk\",
         \"history\": {\"count\": 5, \"start_date\": 1700000000, \"step_s\": 60}},
        {\"id\": $E, \"kind\": \"channel\", \"title\": \"Else desk\", \"username\": \"else_desk\",
         \"history\": {\"count\": 3, \"start_date\": 1700000000, \"step_s\": 60}}]"
login
assert_status 0 tgh chats add @stream_desk @else_desk
export TGH_STREAM_BUFFER=16 TGH_GAPFILL_INTERVAL=2 # rescans of tracked chats every 2 s
start_http run run
trap 'kill -9 $(cat "$WORK/run.pid") 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM messages" 8
ok "run serves HTTP while it collects"

stream_start all /api/v1/stream
stream_start onlyc "/api/v1/stream?chat=$C&kinds=new,delete"
now=$(date +%s)
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":6,\"date\":$now,\"text\":\"live six\"}"
stream_wait all 1
control "{\"cmd\":\"new_message\",\"chat\":$E,\"id\":4,\"date\":$now,\"text\":\"else four\"}"
stream_wait all 2
control "{\"cmd\":\"edit\",\"chat\":$C,\"id\":6,\"text\":\"live six, edited\"}"
stream_wait all 3
control "{\"cmd\":\"delete\",\"chat\":$C,\"ids\":[2]}"
stream_wait all 4
stream_wait onlyc 2
stream_data all | jq -r '"\(.kind) \(.chat_id) \(.message_id)"' >"$WORK/seen"
assert_eq "all changes in order" "new $C 6|new $E 4|edit $C 6|delete $C 2" "$(paste -sd'|' "$WORK/seen")"
assert_eq "event text" "live six, edited" "$(stream_data all | jq -r 'select(.kind == "edit") | .event.text')"
assert_eq "delete time" true "$(stream_data all | jq -r 'select(.kind == "delete") | .deleted_at > 0')"
stream_data onlyc | jq -r '"\(.kind) \(.message_id)"' >"$WORK/seenc"
assert_eq "filtered by chat and kind" "new 6|delete 2" "$(paste -sd'|' "$WORK/seenc")"
ok "new, edit and delete streamed once each, in order; chat and kind filters"

# A view count refresh and a re-collected message change nothing: nothing is sent.
control "{\"cmd\":\"interaction\",\"chat\":$C,\"id\":6,\"views\":99}"
wait_sql "SELECT views FROM messages WHERE chat_id = $C AND message_id = 6" 99
sleep 0.5
assert_eq "no frame for a refresh" 4 "$(grep -c '^event: message' "$WORK/all.sse")"
ok "refreshes and redeliveries are not streamed"

# Resume: everything after the second id, then what comes next.
second=$(stream_ids all | sed -n 2p)
stream_start resumed /api/v1/stream "Last-Event-ID: $second"
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":7,\"date\":$now,\"text\":\"live seven\"}"
stream_wait resumed 3
stream_wait all 5
assert_eq "resumed ids" "$(stream_ids all | sed -n '3,5p' | paste -sd' ')" "$(stream_ids resumed | paste -sd' ')"
grep -q '^event: gap' "$WORK/resumed.sse" && fail "a gap reported where there was none"
ok "Last-Event-ID resumes exactly after the given id"

# Polling agrees with the stream.
expect 200 "/api/v1/chats/$C/messages?after_id=5"
assert_eq "polled" "6 7" "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
assert_eq "polled edit" "live six, edited" "$(jb '.messages[0].text')"
ok "polling after the stream's ids gives the same messages"

# More changes than the server keeps (TGH_STREAM_BUFFER=16) since the first id: resuming
# from it is a gap. (Fewer than 16 at once, so the connected clients keep up.)
first=$(stream_ids all | sed -n 1p)
for i in $(seq 8 21); do
    control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":$i,\"date\":$now,\"text\":\"burst $i\"}"
done
stream_wait all 19
stream_start late /api/v1/stream "Last-Event-ID: $first"
for _ in $(seq 100); do grep -q '^event: gap' "$WORK/late.sse" && break; sleep 0.05; done
grep -q "^data: {\"missed_after\":\"$first\"}" "$WORK/late.sse" || { cat "$WORK/late.sse" >&2; fail "no gap event"; }
stream_wait late 16
assert_eq "after the gap: the newest 16" "$(stream_ids all | tail -16 | paste -sd' ')" "$(stream_ids late | paste -sd' ')"
expect_error 400 bad_parameter -H "Last-Event-ID: yesterday" /api/v1/stream
expect_error 400 bad_parameter "/api/v1/stream?kinds=new,gossip"
expect_error 400 bad_parameter "/api/v1/stream?chat=abc"
ok "a resume from before the buffer is told of the gap; bad ids and filters refused"

expect 200 /status
assert_eq "status mode" run "$(jb .mode)"
assert_eq "stream clients" 4 "$(jb .stream.clients)"
assert_eq "stream source" in-process "$(jb .stream.source)"
assert_eq "accounts" true "$(jb '.accounts[0].logged_in')"
ok "status shows the stream and the accounts"

# What the pipeline counted, on this process's /metrics.
expect 200 /metrics
metric() { awk -v m="$1" '$1 == m { print $2 }' "$WORK/body"; }
[ "$(metric 'tgh_pipeline_messages_ingested_total{source="tdlib",chat_type="channel"}')" -ge 22 ] ||
    fail "ingested by source and chat type: $(grep ingested "$WORK/body")"
assert_eq "versions" 1 "$(metric tgh_store_versions_total)"
assert_eq "deletions" 1 "$(metric tgh_store_deletions_total)"
[ "$(metric tgh_pipeline_ingest_latency_seconds_count)" -ge 16 ] || fail "no ingest latency of live messages"
[ "$(metric tgh_pipeline_commit_seconds_count)" -ge 1 ] || fail "no commit latency"
grep -q '^tgh_pipeline_bytes_total{source="tdlib"} [1-9]' "$WORK/body" || fail "no bytes"
grep -q '^tgh_pipeline_duplicates_skipped_total{stage="store"} [1-9]' "$WORK/body" || fail "no unchanged"
ok "metrics: ingested by source and chat type, versions, deletions, latencies, bytes"

# A backfill asked for over the API runs on the next rescan and is then cleared.
expect 202 -k "$ADMIN_KEY" -X POST "/api/v1/chats/$C/backfill"
for _ in $(seq 100); do
    expect 200 /api/v1/chats
    [ "$(jb ".chats[] | select(.chat_id == $C) | .tracked.backfill_requested_at")" = null ] && break
    sleep 0.1
done
assert_eq "request cleared" null "$(jb ".chats[] | select(.chat_id == $C) | .tracked.backfill_requested_at")"
grep -q "backfill pass asked for" "$WORK/run.err" || fail "the collector did not start the pass"
ok "a backfill requested over the API is run by the collector"

# An id from before this process started (a client of an earlier run): a gap too.
stream_start ancient /api/v1/stream "Last-Event-ID: 1000-0"
for _ in $(seq 100); do grep -q '^event: gap' "$WORK/ancient.sse" && break; sleep 0.05; done
grep -q '^data: {"missed_after":"1000-0"}' "$WORK/ancient.sse" || fail "no gap for an id older than the server"
stream_stop ancient
ok "a resume from before the server started is a gap"

stop_http run
for s in all onlyc resumed late; do
    pid=$(cat "$WORK/$s.spid")
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "stream $s still open after the server stopped"
done
ok "SIGTERM ends the streams and run exits 0"
