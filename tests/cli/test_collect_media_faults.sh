#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The media downloader in the daemon, against the TDLib stand-in's scripted
# faults, each on a file posted live: a failed download goes on from the
# bytes TDLib kept (a 4xx as a new attempt after a backoff, a 5xx as the
# hub's retry of the same attempt), a truncated file is never stored and is
# fetched again, an expired file reference is refreshed by reading the
# message again, a flood wait on downloadFile pauses downloads, a slow
# download does not hold up the messages, and a job that used up its
# attempts fails until `media retry`.
. "$(dirname "$0")/collect_lib.sh"

C=-1001000000960 NOW=$(date +%s)
export TGH_MEDIA_RETRY=1 TGH_MEDIA_ATTEMPTS=3
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Fault desk\", \"username\": \"fault_desk\",
         \"history\": {\"count\": 5, \"start_date\": $((NOW - 3600)), \"step_s\": 60, \"mix\": {\"text\": 1}}}]"
login
assert_status 0 tgh chats add @fault_desk
"$TGHARVEST" collect --json >"$WORK/daemon.out" 2>"$WORK/daemon.err" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C" 5
# The chat is open once the live updates come: a message posted now reaches the store.
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":6,\"date\":$NOW,\"text\":\"barrier\"}"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C AND message_id = 6" 1

# post ID SIZE: a document of SIZE bytes, live.
post() {
    control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":$1,\"date\":$(date +%s),\"text\":\"file $1\",\"media\":{\"kind\":\"document\",\"size\":$2,\"file_name\":\"f$1.bin\"}}"
}
job() { sql "SELECT $2 FROM job_history WHERE chat_id = $C AND message_id = $1"; }
# runs ID: the stand-in's download runs of message ID's file, as JSON lines.
runs() {
    local uid
    uid=$(job "$1" file_unique_id)
    jq -c --arg u "$uid" 'select(.download_run.unique_id == $u) | .download_run' "$TGH_FAKE_TD_LOG"
}
stored() { wait_sql "SELECT state FROM job_history WHERE chat_id = $C AND message_id = $1" stored "${2:-30}"; }
sha_ok() {
    local key
    key=$(job "$1" storage_key)
    assert_eq "message $1: the stored bytes" "$(job "$1" sha256)" \
        "$(sha256sum "$WORK/media/$key" | cut -d' ' -f1)"
    assert_eq "message $1: the stored size" "$2" "$(stat -c %s "$WORK/media/$key")"
}

# ---- a 4xx failure midway: a new attempt after the backoff, from the bytes kept ----
control '{"cmd":"download_speed","bytes_per_s":2000000,"chunk":65536}'
control '{"cmd":"download_fail","after_bytes":300000,"code":400}'
post 10 1000000
stored 10
assert_eq "attempts" 2 "$(job 10 attempts)"
runs 10 >"$WORK/runs10"
assert_eq "download runs" 2 "$(wc -l <"$WORK/runs10")"
jq -e -s '.[0].from == 0 and .[0].fails and .[1].from >= 300000 and (.[1].fails | not)' \
    "$WORK/runs10" >/dev/null || fail "the second run did not go on from the failure: $(cat "$WORK/runs10")"
sha_ok 10 1000000
ok "a failed download was tried again after the backoff, from $(jq -s '.[1].from' "$WORK/runs10") bytes"

# ---- a 5xx: the hub repeats the request within the same attempt ----
control '{"cmd":"download_fail","after_bytes":200000,"code":500,"message":"Internal Server Error"}'
post 11 800000
stored 11
assert_eq "attempts after a 5xx" 1 "$(job 11 attempts)"
runs 11 >"$WORK/runs11"
jq -e -s 'length == 2 and .[1].from >= 200000' "$WORK/runs11" >/dev/null ||
    fail "the 5xx retry did not go on: $(cat "$WORK/runs11")"
sha_ok 11 800000
ok "a 5xx was retried by the hub, going on from $(jq -s '.[1].from' "$WORK/runs11") bytes"

# ---- a truncated file is never stored; TDLib's copy is deleted and fetched again ----
control '{"cmd":"download_truncate","bytes":1000}'
post 12 500000
stored 12
assert_eq "attempts after a truncation" 2 "$(job 12 attempts)"
runs 12 >"$WORK/runs12"
jq -e -s 'length == 2 and .[0].truncated and (.[1].truncated | not)' "$WORK/runs12" >/dev/null ||
    fail "the truncated file was not fetched again: $(cat "$WORK/runs12")"
sha_ok 12 500000
grep -q "truncated download: 499000 of 500000 bytes" "$WORK/daemon.err" ||
    fail "the truncation is not in the log"
ok "a truncated download was not stored, TDLib's copy deleted and fetched again"

# ---- an expired file reference: the message is read again ----
# The reference the message was pushed with expires, and the downloader's first read still carries it.
post 13 300000
control "{\"cmd\":\"file_reference_expired\",\"chat\":$C,\"id\":13,\"stale_reads\":1}"
stored 13
assert_eq "attempts after a refresh" 1 "$(job 13 attempts)"
reads=$(requests getMessage | jq -s "[.[] | select(.chat_id == $C and .message_id == $((13 << 20)))] | length")
[ "$reads" -ge 2 ] || fail "the message was read $reads times, not again after the expired reference"
grep -q "file reference expired, reading the message again" "$WORK/daemon.err" ||
    fail "the refresh is not in the log"
sha_ok 13 300000
ok "an expired file reference was refreshed by reading the message again ($reads reads)"

# ---- a flood wait on downloadFile pauses the downloads, not the messages ----
control '{"cmd":"flood","seconds":3,"method":"downloadFile"}'
start=$(date +%s%3N)
post 14 200000
sleep 0.5
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":15,\"date\":$(date +%s),\"text\":\"during the flood wait\"}"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C AND message_id = 15" 1 10
[ "$(job 14 state)" != stored ] || fail "the file was stored before the flood wait ended"
stored 14
took=$(($(date +%s%3N) - start))
[ "$took" -ge 3000 ] || fail "stored $took ms after a 3 s flood wait"
grep -q "flood wait of 3 s on downloadFile" "$WORK/daemon.err" || fail "the flood wait is not in the log"
sha_ok 14 200000
ok "a flood wait on downloadFile was waited out ($took ms); messages went on meanwhile"

# ---- a slow download does not hold up the messages ----
control '{"cmd":"download_speed","bytes_per_s":100000,"chunk":16384}'
post 16 2000000
wait_sql "SELECT state FROM job_history WHERE chat_id = $C AND message_id = 16" downloading 20
t0=$(date +%s%3N)
control "{\"cmd\":\"new_message\",\"chat\":$C,\"id\":17,\"date\":$(date +%s),\"text\":\"while a file trickles in\"}"
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C AND message_id = 17" 1 10
lag=$(($(date +%s%3N) - t0))
[ "$lag" -lt 3000 ] || fail "a message took $lag ms to land during a slow download"
assert_eq "still downloading" downloading "$(job 16 state)"
control '{"cmd":"download_speed","bytes_per_s":0}'
stored 16
sha_ok 16 2000000
ok "a message landed in $lag ms while a 2 MB file downloaded at 100 kB/s"

# ---- attempts used up: failed with the last error, until media retry ----
control '{"cmd":"download_fail","after_bytes":1000,"code":400,"count":3}'
post 18 100000
wait_sql "SELECT state FROM job_history WHERE chat_id = $C AND message_id = 18" failed 30
assert_eq "attempts used" 3 "$(job 18 attempts)"
assert_contains_text() { case "$2" in *"$1"*) ;; *) fail "'$1' not in '$2'" ;; esac; }
assert_contains_text "downloadFile: 400 File download has failed" "$(job 18 error)"
assert_eq "no object for a failed job" "" "$(job 18 storage_key)"
assert_status 0 tgh media retry --failed
stored 18
assert_eq "attempts after retry" 1 "$(job 18 attempts)"
sha_ok 18 100000
ok "a job failed after 3 attempts, and media retry stored it"

# The messages were all archived, and the metrics saw it.
assert_eq "messages" 15 "$(sql "SELECT count(*) FROM messages WHERE chat_id = $C")"
kill -TERM $daemon
wait $daemon || fail "the daemon exited $? on SIGTERM: $(tail -3 "$WORK/daemon.err")"
trap 'rm -rf "$WORK"' EXIT
assert_eq "violations" "" "$(violations)"
[ -z "$(find "$WORK/media" -name '*.tmp-*')" ] || fail "temporary files left"
ok "every message archived, no temporary files left"
