#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# report: the figures of a constructed archive whose truth is known (a chat
# imported as events with one of each defect, a channel collected and
# gap-checked through the TDLib stand-in), as JSON; the HTML page opened in
# Chromium (no console error, nothing fetched), its screenshot kept.
. "$(dirname "$0")/collect_lib.sh"
NODE_MODULES=$TGH_TEST_SOURCE_DIR/.deps/npm/node_modules
ARTIFACTS=${TGH_TEST_ARTIFACTS:-$WORK/artifacts}

NOW=$(date +%s) T=1700000000
A=-1001000000970 I=-1001000000990
world "[{\"id\": $A, \"kind\": \"channel\", \"title\": \"Desk <b>&</b>\", \"username\": \"desk\",
         \"history\": {\"count\": 30, \"first_id\": 3, \"gap_every\": 5, \"start_date\": $((NOW - 6000)), \"step_s\": 60}}]"
login
assert_status 0 tgh chats add @desk
assert_status 0 tgh collect --once --full --verify

# msg ID DATE TEXT [EXTRA]: a TDLib message of the imported supergroup I.
msg() {
    jq -cn --argjson c $I --argjson id $(($1 << 20)) --argjson d "$2" --arg t "$3" --argjson x "${4:-{\}}" \
        '{"@type": "message", id: $id, chat_id: $c, date: $d,
          sender_id: {"@type": "messageSenderUser", user_id: 501},
          content: {"@type": "messageText", text: {"@type": "formattedText", text: $t, entities: []}}} + $x'
}
reply() { jq -cn --argjson c $I --argjson id $(($1 << 20)) '{reply_to: {"@type": "messageReplyToMessage", chat_id: $c, message_id: $id}}'; }
{
    msg 10 $T "hello"
    msg 11 $((T + 60)) "hello" "$(reply 10)"                     # the same content, a good reply
    msg 12 $((T + 120)) "" "{\"topic_id\": {\"@type\": \"messageTopicThread\", \"message_thread_id\": $((999 << 20))},
        \"content\": {\"@type\": \"messagePhoto\", \"photo\": {\"@type\": \"photo\", \"has_stickers\": false,
        \"sizes\": [{\"@type\": \"photoSize\", \"type\": \"x\", \"width\": 800, \"height\": 600,
        \"photo\": {\"@type\": \"file\", \"id\": 1, \"size\": 0, \"expected_size\": 0,
        \"remote\": {\"@type\": \"remoteFile\", \"id\": \"AgAD\", \"unique_id\": \"AQADx\"}}}]},
        \"caption\": {\"@type\": \"formattedText\", \"text\": \"\", \"entities\": []}}}" # no size, a thread to nothing
    msg 13 $((T + 180)) "refers to older" "$(reply 3)"           # below the archive
    msg 14 $((T + 240)) "refers to nothing" "$(reply 16)"        # inside it, absent
    msg 15 $((T + 30)) "dated too early"                         # out of order
    msg 17 $((T + 300)) "no sender" '{"sender_id": null}'
    msg 18 $((T + 360)) "to be deleted"
    msg 20 $((NOW + 7200)) "from the future"
    msg 13 $((T + 180)) "refers to older, edited" "$(reply 3 | jq -c '. + {edit_date: 1700001000}')"
    jq -cn --argjson c $I --argjson id $((18 << 20)) '{"@type": "updateDeleteMessages", chat_id: $c, message_ids: [$id], is_permanent: true, from_cache: false}'
} >"$WORK/i.td"
tgh decode --from tdlib "$WORK/i.td" >"$WORK/i.jsonl"
echo '{"schema_version": 1, "op": "upsert"' >>"$WORK/i.jsonl" # a dead letter
tgh import --from event "$WORK/i.jsonl" >/dev/null 2>&1 || true

assert_status 0 tgh report
R=$WORK/out
chat() { jq -c --argjson c "$1" ".chats[] | select(.chat_id == \$c) | $2" "$R"; }
assert_eq "imported: messages, deleted, edited, versions" "[8,1,1,1]" "$(chat $I '[.messages, .deleted, .edited, .versions]')"
assert_eq "imported: same content" 1 "$(chat $I .duplicates.same_content)"
assert_eq "imported: references" '{"dangling_replies":1,"replies_before_archive":1,"dangling_threads":1}' "$(chat $I .references)"
assert_eq "imported: timestamps" '{"out_of_order":1,"future":1}' "$(chat $I .timestamps)"
assert_eq "imported: missing fields per kind" '[{"kind":"photo","messages":1,"no_sender":0,"no_text":0,"no_size":1,"no_file_id":0},{"kind":"text","messages":7,"no_sender":1,"no_text":0,"no_size":0,"no_file_id":0}]' "$(chat $I .missing_fields)"
assert_eq "imported: not tracked, no freshness" "null null null" "$(chat $I '[.tracked, .lag_s, .fresh] | map(tostring) | join(" ")' | tr -d '"')"
assert_eq "imported: first and last" "$T $((NOW + 7200))" "$(chat $I '"\(.first_date) \(.last_date)"' | tr -d '"')"
assert_eq "collected: messages, gaps" '[30,{"unknown":0,"deleted":9,"missed":0,"inaccessible":0}]' "$(chat $A '[.messages, .gaps]')"
lag=$(chat $A .lag_s)
[ "$lag" -ge 3000 ] && [ "$lag" -le 4500 ] || fail "collected: lag $lag"
assert_eq "collected: stale against the default SLO" false "$(chat $A .fresh)"
assert_eq "collected: its run" 1 "$(chat $A .runs.runs)"
assert_eq "totals" '[2,38,1,9,1,1]' "$(jq -c '.totals | [.chats, .messages, .stale_chats, .gaps.deleted, .dead_letters_open, .future]' "$R")"
assert_eq "totals are the chats' sums" "$(jq '[.chats[].duplicates.same_content] | add' "$R") $(jq '[.chats[].edited] | add' "$R")" "$(jq -r '"\(.totals.same_content) \(.totals.edited)"' "$R")"
assert_eq "dead letters by source" '{"event":1}' "$(jq -c .dead_letters.by_source "$R")"
TGH_FRESHNESS_SLO=86400 tgh report >"$WORK/fresh.json"
assert_eq "fresh against a day" "true 0" "$(jq -r --argjson c $A '"\(.chats[] | select(.chat_id == $c) | .fresh) \(.totals.stale_chats)"' "$WORK/fresh.json")"
assert_status 0 tgh report --since 2099-01-01
assert_eq "nothing new since then" "0 0" "$(jq -r '"\(.totals.new_since) \(.totals.runs)"' "$WORK/out")"
ok "the report's figures match the archive's known truth"

# The same figures as gauges of an API server.
. "$(dirname "$0")/api_lib.sh"
TGH_HTTP_ADDR=127.0.0.1:0 start_http serve serve
gauge() { curl -sf -H "X-API-Key: $READ_KEY" "$BASE/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
deadline=$((SECONDS + 30))
until [ -n "$(gauge tgh_quality_duplicates)" ]; do [ $SECONDS -lt $deadline ] || fail "no quality gauges"; sleep 0.2; done
assert_eq "duplicates" "$(jq .totals.same_content "$R")" "$(gauge tgh_quality_duplicates)"
assert_eq "replies to nothing" 1 "$(gauge 'tgh_quality_dangling_references{kind="reply"}')"
assert_eq "threads to nothing" 1 "$(gauge 'tgh_quality_dangling_references{kind="thread"}')"
assert_eq "out of order" 1 "$(gauge 'tgh_quality_bad_timestamps{problem="out_of_order"}')"
assert_eq "in the future" 1 "$(gauge 'tgh_quality_bad_timestamps{problem="future"}')"
[ -n "$(gauge "tgh_chat_freshness_lag_seconds{chat=\"$A\"}")" ] || fail "no data lag of the collected chat"
stop_http serve
ok "the figures are gauges of /metrics"

assert_status 0 tgh report --format html -o "$WORK/report.html"
assert_eq "nothing on stdout with -o" "" "$(cat "$WORK/out")"
[ "$(stat -c %a "$WORK/report.html")" = 600 ] || fail "the report is not private"
grep -q "Desk &lt;b&gt;&amp;&lt;/b&gt;" "$WORK/report.html" || fail "a title was not escaped"
grep -Eq '<script|(src|href)="(https?:)?//' "$WORK/report.html" && fail "the page runs a script or loads something"
status=0
TGH_REPORT_FILE=$WORK/report.html TGH_REPORT_CHATS=2 TGH_REPORT_ARTIFACTS=$ARTIFACTS \
    NODE_PATH=$NODE_MODULES timeout 120 node "$TGH_TEST_SOURCE_DIR/tests/dashboard/report.mjs" \
    >"$WORK/node.out" 2>"$WORK/node.err" || status=$?
cat "$WORK/node.out"
[ "$status" = 0 ] || { cat "$WORK/node.err" >&2; fail "the report page failed in Chromium (exit $status)"; }
[ -s "$ARTIFACTS/report.png" ] || fail "no screenshot of the report"
ok "the HTML report opens in Chromium offline, without errors; screenshot in $ARTIFACTS"

assert_status 2 tgh report --format pdf
assert_status 2 tgh report --since someday
assert_status 1 tgh report -o /nonexistent/dir/report.json
ok "bad arguments"
