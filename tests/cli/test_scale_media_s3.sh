#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The collector's media archive in S3 (the test services' s3rver): an
# endpoint that is not there leaves the messages archived and the jobs
# queued again with the reason; a large file goes up as a multipart upload;
# a kill -9 in the middle of it leaves no object and no stored job, and the
# next run uploads it whole (s3rver cannot list the parts already sent, so
# that run begins a new upload); the same file in another chat is one
# object; `media verify` reads every object back from the bucket.
. "$(dirname "$0")/collect_lib.sh"

: "${TGH_TEST_S3_URL:?TGH_TEST_S3_URL must name the s3rver of the test services}"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
prefix=media-s3-$$-$RANDOM
export TGH_MEDIA="$TGH_TEST_S3_URL&prefix=$prefix&part_size=5M"
export TGH_MEDIA_HISTORY=all TGH_MEDIA_MAX_SIZE=1G TGH_MEDIA_RETRY=1
C=-1001000000980 D=-1001000000981 NOW=$(date +%s)
big=$((96 << 20))
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Big files\", \"username\": \"big_files\",
         \"history\": {\"count\": 3, \"start_date\": $((NOW - 7200)), \"step_s\": 60, \"mix\": {\"text\": 1}},
         \"messages\": [{\"id\": 10, \"date\": $((NOW - 600)), \"text\": \"the archive\",
                         \"media\": {\"kind\": \"document\", \"size\": $big, \"file_name\": \"dump.tar\"}},
                        {\"id\": 11, \"date\": $((NOW - 500)), \"text\": \"a small one\",
                         \"media\": {\"kind\": \"photo\"}}]},
        {\"id\": $D, \"kind\": \"channel\", \"title\": \"Mirror\", \"username\": \"mirror_files\",
         \"history\": {\"count\": 2, \"start_date\": $((NOW - 7200)), \"step_s\": 60, \"mix\": {\"text\": 1}},
         \"messages\": [{\"id\": 5, \"date\": $((NOW - 300)), \"text\": \"mirrored\",
                         \"same_file_as\": {\"chat\": $C, \"id\": 10}}]}]"
login
assert_status 0 tgh chats add @big_files @mirror_files

# ---- an S3 endpoint that is not there: messages archived, jobs queued again with the reason ----
TGH_MEDIA="s3://tgh-test?endpoint=http://127.0.0.1:1&region=us-east-1&prefix=$prefix" \
    assert_status 0 tgh collect --once --json
assert_eq "messages archived without the media store" 8 "$(sql "SELECT count(*) FROM messages")"
assert_eq "nothing stored" 0 "$(sql "SELECT count(*) FROM job_history WHERE state = 'stored'")"
[ "$(sql "SELECT count(*) FROM job_history WHERE state = 'queued' AND attempts >= 1
          AND next_at > 0 AND error IS NOT NULL")" = 3 ] ||
    fail "jobs not queued again after their attempts: $(sql "SELECT id, state, attempts, next_at, error FROM job_history")"
sql "SELECT error FROM job_history" >"$WORK/errors"
grep -qi "connect\|refused" "$WORK/errors" || fail "the jobs' error does not say the store was unreachable: $(cat "$WORK/errors")"
ok "S3 unreachable: every message archived, every job queued again with a backoff and the reason"

# ---- kill -9 while the multipart upload is under way ----
# Once the jobs' backoff is over (TGH_MEDIA_RETRY=1, doubling per attempt, with jitter).
due=$(($(sql "SELECT max(next_at) FROM job_history") - $(date +%s) + 1))
[ "$due" -le 0 ] || sleep "$due"
"$TGHARVEST" collect --once >/dev/null 2>"$WORK/c1.err" &
pid=$!
up=""
# The big file is one content in two chats: whichever job claims it first uploads it.
for _ in $(seq 3000); do
    up=$(sql "SELECT id || ' ' || upload_id FROM job_history WHERE upload_id IS NOT NULL" 2>/dev/null || true)
    [ -n "$up" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
[ -n "$up" ] || { kill -9 $pid 2>/dev/null || true; cat "$WORK/c1.err" >&2; fail "no multipart upload began"; }
kill -9 $pid
wait $pid 2>/dev/null || true
job=${up%% *}
assert_eq "not stored after the kill" downloading "$(sql "SELECT state FROM job_history WHERE id = $job")"
assert_eq "no content indexed" 0 "$(sql "SELECT count(*) FROM dedup_index WHERE size_bytes = $big")"
s3=http://127.0.0.1:$((TGH_TEST_PORT_BASE + 5))/tgh-test
curl -fsS "$s3?list-type=2&prefix=$prefix/" >"$WORK/list.xml" || fail "the bucket cannot be listed"
if grep -q "<Size>$big</Size>" "$WORK/list.xml"; then fail "a whole object appeared from the killed upload"; fi
ok "kill -9 during multipart upload ${up#* } (job $job): no object, nothing stored"

assert_status 0 tgh collect --once --json
assert_eq "stored on the next run" stored "$(sql "SELECT state FROM job_history WHERE chat_id = $C AND message_id = 10")"
assert_eq "every job stored" "$(sql "SELECT count(*) FROM job_history")" \
    "$(sql "SELECT count(*) FROM job_history WHERE state = 'stored'")"
assert_eq "the upload is no longer pending" "" "$(sql "SELECT upload_id FROM job_history WHERE id = $job")"
sha=$(sql "SELECT sha256 FROM job_history WHERE chat_id = $C AND message_id = 10")
assert_eq "the mirror is the same content" "$sha" "$(sql "SELECT sha256 FROM job_history WHERE chat_id = $D AND message_id = 5")"
assert_eq "one index row for it" 1 "$(sql "SELECT count(*) FROM dedup_index WHERE sha256 = '$sha'")"
assert_eq "its size" "$big" "$(sql "SELECT size_bytes FROM dedup_index WHERE sha256 = '$sha'")"
key=$(sql "SELECT storage_key FROM dedup_index WHERE sha256 = '$sha'")
case "$key" in objects/*) ;; *) fail "object key $key is not content-addressed" ;; esac
# Keys are relative to the bucket prefix the URL gives.
assert_eq "object size in the bucket" "$big" \
    "$(curl -fsSI "$s3/$prefix/$key" | tr -d '\r' | awk 'tolower($1) == "content-length:" { print $2 }')"
ok "the next run uploaded it whole; the mirror in the other chat is the same object"

# The bucket holds it byte for byte: media verify reads each object back and hashes it.
assert_status 0 tgh media verify --json
jq -e '.checked >= 2 and (.problems | length) == 0' "$WORK/out" >/dev/null ||
    fail "verify: $(cat "$WORK/out")"
# An object removed behind the archive's back is reported missing.
small=$(sql "SELECT storage_key FROM job_history WHERE chat_id = $C AND message_id = 11")
assert_status 0 curl -fsS -X DELETE "$s3/$prefix/$small"
assert_status 1 tgh media verify --json
assert_eq "missing" "missing" "$(jq -r '.problems[0].problem' "$WORK/out")"
ok "media verify against the bucket: clean, then the deleted object reported missing"
