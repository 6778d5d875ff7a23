#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# decode --from botapi: Bot API updates (one Update, an array of them, a
# getUpdates response, or a stream of these) printed as the schema-v1 events
# the archive bot stores; updates without a message reported as skipped by
# type (exit 0); error responses reported with their code and description
# (exit 1); bad values named by line and path while the good ones go on.
source "$(dirname "$0")/lib.sh"
BA=$TGH_TEST_FIXTURES/botapi

# Every update of the fixture: 30 events, canonical and strict; 10 skipped by type.
assert_status 0 tgh decode --from botapi "$BA/updates.json"
assert_eq "events" 30 "$(wc -l <"$WORK/out")"
assert_eq "every event is from the Bot API" botapi "$(jq -r .source "$WORK/out" | sort -u)"
assert_eq "skipped, one line each" 10 "$(grep -c 'skipped: carries no message' "$WORK/err")"
for t in message_reaction message_reaction_count poll poll_answer my_chat_member chat_member \
    chat_join_request callback_query inline_query chat_boost; do
    assert_contains "skipped by type: $t" "($t) skipped" "$WORK/err"
done
cp "$WORK/out" "$WORK/events.jsonl"
assert_status 0 tgh decode --from event "$WORK/events.jsonl"
cmp -s "$WORK/events.jsonl" "$WORK/out" || fail "the events are not canonical"
assert_eq "edits carry their edit date" "$(jq -s '[.[] | select(.raw.edit_date != null)] | length' "$WORK/events.jsonl")" \
    "$(jq -s '[.[] | select(.edit_date != null)] | length' "$WORK/events.jsonl")"
assert_eq "deleted business messages are tombstones" 2 "$(jq -s '[.[] | select(.op == "delete")] | length' "$WORK/events.jsonl")"
ok "every update type: events canonical and strict, the rest skipped by type"

# One Update, an array, a getUpdates response: the same events.
msg='{"message_id":1,"date":1717300000,"chat":{"id":42,"type":"private","first_name":"Ann"},"from":{"id":42,"is_bot":false,"first_name":"Ann"},"text":"hi"}'
echo "{\"update_id\":5,\"message\":$msg}" >"$WORK/one.json"
echo "[{\"update_id\":5,\"message\":$msg}]" >"$WORK/array.json"
echo "{\"ok\":true,\"result\":[{\"update_id\":5,\"message\":$msg}]}" >"$WORK/resp.json"
for f in one array resp; do
    assert_status 0 tgh decode --from botapi "$WORK/$f.json"
    jq -c 'del(.observed_at)' "$WORK/out" >"$WORK/$f.events"
done
cmp -s "$WORK/one.events" "$WORK/array.events" || fail "an array differs from one update"
cmp -s "$WORK/one.events" "$WORK/resp.events" || fail "a getUpdates response differs from one update"
assert_eq "the message" "42 1 hi" "$(jq -r '"\(.chat.id) \(.message_id) \(.text)"' "$WORK/one.events")"
echo '{"ok":true,"result":[]}' >"$WORK/empty.json"
assert_status 0 tgh decode --from botapi "$WORK/empty.json"
assert_eq "an empty page: nothing" 0 "$(wc -l <"$WORK/out")"
ok "one update, an array, a getUpdates response"

# Error responses: exit 1 with the code and the description, never mapped.
echo '{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}' >"$WORK/flood.json"
assert_status 1 tgh decode --from botapi "$WORK/flood.json"
assert_contains "429 named" "Bot API error 429: Too Many Requests: retry after 5 (retry_after 5 s)" "$WORK/err"
assert_eq "nothing printed" 0 "$(wc -l <"$WORK/out")"
echo '{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}' >"$WORK/migrate.json"
assert_status 1 tgh decode --from botapi "$WORK/migrate.json"
assert_contains "migration named" "-1001234567890" "$WORK/err"
assert_contains "its description" "group chat was upgraded" "$WORK/err"
echo '{"ok":false,"error_code":401,"description":"Unauthorized"}' >"$WORK/unauth.json"
assert_status 1 tgh decode --from botapi "$WORK/unauth.json"
assert_contains "401 named" "Bot API error 401: Unauthorized" "$WORK/err"
ok "error responses: exit 1 with their code and description"

# Bad values in a stream: each named by line and path; the good ones around them kept.
{
    echo "{\"update_id\":5,\"message\":$msg}"
    echo '{"update_id":6,"message":{"message_id":"x","date":1717300000,"chat":{"id":42,"type":"private"}}}'
    echo '{"update_id":7,"message":{"message_id":2,"date":1717300000,"chat":{"id":"42","type":"private"},"text":"x"}}'
    echo '{"update_id":8,"message":{"message_id":3,"date":1717300000,"chat":{"id":-1001234567890,"type":"private"},"text":"x"}}'
    echo '{"update_id":9}'
    echo '{"update_id":10,"message":{"message_id":4,"date":1717300000,"chat":{"id":42,"type":"private"},"text":"after"}}'
    printf '{"update_id": 11, "messa'
} >"$WORK/bad.jsonl"
assert_status 1 tgh decode --from botapi "$WORK/bad.jsonl"
assert_eq "the good ones" "1 4" "$(jq -r .message_id "$WORK/out" | xargs)"
assert_contains "a string id" "line 2 (byte" "$WORK/err"
assert_contains "its path" "message_id: expected an integer, got a string" "$WORK/err"
assert_contains "a string chat id" "chat.id: expected an integer, got a string" "$WORK/err"
assert_contains "an id that is no private chat" "is not the id of a private chat" "$WORK/err"
assert_contains "no content field" "line 5" "$WORK/err"
assert_contains "the truncated last line" "line 7" "$WORK/err"
assert_contains "named as JSON" "not valid JSON" "$WORK/err"
printf '' >"$WORK/nothing.json"
assert_status 0 tgh decode --from botapi "$WORK/nothing.json"
assert_status 1 tgh decode --from botapi "$WORK/missing.json"
assert_contains "a missing file" "missing.json" "$WORK/err"
ok "bad values are named by line and path; the rest goes on"
