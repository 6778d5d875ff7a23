#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The archive bot against telegram-test-api, the Bot API emulator from npm:
# whitelist, private chats only, forwarded messages of each origin, an
# album, a duplicate, commands, and a kill -9 between two runs. The emulator
# ignores getUpdates' offset (it hands each update out once), so what the
# offset guarantees after a crash mid-page is proved in test_bot.sh against
# the scripted server; here the restart must neither lose nor repeat.
# It has no getFile either: files are off (TGH_MEDIA=off) in this test.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bot_lib.sh"

export TGH_MEDIA=off
start_node emulator /getUpdatesHistory "$TGH_TEST_SOURCE_DIR/tests/fake_botapi/emulator.cjs" \
    "$NODE_MODULES"
EMU=http://127.0.0.1:$PORT
export TGH_BOT_API_URL=$EMU

# user USER CHAT_TYPE CHAT_ID EXTRA_JSON: a message from USER, as the emulator's client sends it.
user() {
    jq -cn --arg t "$BOT_TOKEN" --argjson u "$1" --arg ct "$2" --argjson c "$3" --argjson x "$4" \
        '{botToken: $t, date: 1717300000,
          from: {id: $u, is_bot: false, first_name: "Ann", username: "ann"},
          chat: {id: $c, type: $ct, first_name: "Ann", username: "ann"}} + $x' |
        curl -sf -X POST -H 'Content-Type: application/json' "$EMU/sendMessage" -d @- >/dev/null ||
        fail "the emulator refused a user message"
}
replies() {
    curl -sf -X POST -H 'Content-Type: application/json' "$EMU/getUpdatesHistory" \
        -d "{\"token\":\"$BOT_TOKEN\"}" |
        jq -r --arg c "$1" '.result[] | select(.message.chat_id != null and
                            (.message.chat_id | tostring) == $c) | .message.text | gsub("\n"; "\\n")'
}
CH='{"id":-1001234567890,"title":"Harbour News","type":"channel"}'

user 4242 private 4242 '{"text":"a note"}'
user 5555 private 5555 '{"text":"not on the list"}'
user 4242 group -4001 '{"text":"in a group"}'
user 4242 private 4242 '{"text":"fwd user","forward_origin":{"type":"user","sender_user":{"id":5550001,"is_bot":false,"first_name":"Bo"},"date":1717200000}}'
user 4242 private 4242 '{"text":"fwd hidden","forward_origin":{"type":"hidden_user","sender_user_name":"Hidden Harry","date":1717200001}}'
user 4242 private 4242 '{"text":"fwd chat","forward_origin":{"type":"chat","sender_chat":{"id":-1009876543210,"title":"Ops","type":"supergroup"},"date":1717200002}}'
user 4242 private 4242 "{\"text\":\"fwd channel\",\"forward_origin\":{\"type\":\"channel\",\"chat\":$CH,\"message_id\":77,\"date\":1717200003}}"
user 4242 private 4242 '{"caption":"album","media_group_id":"4711","photo":[{"file_id":"A","file_unique_id":"UA","width":800,"height":600,"file_size":5000}]}'
user 4242 private 4242 '{"media_group_id":"4711","photo":[{"file_id":"B","file_unique_id":"UB","width":800,"height":600,"file_size":6000}]}'
user 4242 private 4242 "{\"text\":\"fwd channel\",\"forward_origin\":{\"type\":\"channel\",\"chat\":$CH,\"message_id\":77,\"date\":1717200003}}"

tgh bot --once >"$WORK/run1.json" 2>"$WORK/run1.err" || { cat "$WORK/run1.err" >&2; fail "bot --once"; }
assert_eq "updates" 10 "$(jq .updates "$WORK/run1.json")"
assert_eq "archived" 8 "$(jq .archived "$WORK/run1.json")"
assert_eq "refused" 2 "$(jq .refused "$WORK/run1.json")"
assert_eq "duplicates" 1 "$(jq .duplicates "$WORK/run1.json")"
assert_eq "only the whitelisted user's private chat" "4242" "$(sql "SELECT DISTINCT chat_id FROM messages")"
origins=$(sql "SELECT DISTINCT json_extract(event, '$.forward.from_type') || ':' || json_extract(event, '$.forward.from_id') FROM messages WHERE json_extract(event, '$.forward.from_id') IS NOT NULL ORDER BY 1" | tr '\n' ' ')
assert_eq "each origin with an id" "channel:-1001234567890 channel:-1009876543210 user:5550001 " "$origins"
assert_eq "the hidden user by name" 1 "$(sql "SELECT count(*) FROM messages WHERE json_extract(event, '$.forward.from_name') = 'Hidden Harry'")"
assert_eq "the album, both parts" 2 "$(sql "SELECT count(*) FROM messages WHERE json_extract(event, '$.album_id') = 4711")"
assert_contains "one reply for the album" "Archived an album of 2" <(replies 4242)
assert_contains "the duplicate is named" "Duplicate: the same post was archived before" <(replies 4242)
assert_eq "nothing to the stranger" "" "$(replies 5555)"
assert_eq "nothing to the group" "" "$(replies -4001)"
user 4242 private 4242 '{"text":"/status","entities":[{"offset":0,"length":7,"type":"bot_command"}]}'
tgh bot --once >"$WORK/run1b.json" 2>"$WORK/run1b.err" || { cat "$WORK/run1b.err" >&2; fail "bot --once"; }
assert_contains "/status answers" "Archive: 8 messages from you" <(replies 4242)
assert_eq "a command is not archived" 8 "$(sql "SELECT count(*) FROM messages")"
ok "telegram-test-api: whitelist, private only, each origin, album, duplicate, /status"

# A daemon, killed -9 once its messages were archived; the next run neither loses nor repeats.
"$TGHARVEST" bot >"$WORK/run2.json" 2>"$WORK/run2.err" &
pid=$!
user 4242 private 4242 '{"text":"while running"}'
running() { [ "$(sql "SELECT count(*) FROM messages WHERE text = 'while running'")" = 1 ]; }
wait_for 20 "the daemon to archive" running
kill -9 $pid
wait $pid 2>/dev/null || true
user 4242 private 4242 '{"text":"after the crash"}'
tgh bot --once >"$WORK/run3.json" 2>"$WORK/run3.err" || { cat "$WORK/run3.err" >&2; fail "bot after kill -9"; }
assert_eq "the message after the crash" 1 "$(sql "SELECT count(*) FROM messages WHERE text = 'after the crash'")"
assert_eq "nothing twice" 10 "$(sql "SELECT count(*) FROM messages")"
last=$(curl -sf -X POST -H 'Content-Type: application/json' "$EMU/getUpdatesHistory" -d "{\"token\":\"$BOT_TOKEN\"}" | jq '[.result[] | select(.message.botToken != null and .message.from.is_bot == false) | .updateId] | max')
assert_eq "the stored offset is past the last update" "$((last + 1))" "$(sql "SELECT next_update_id FROM bot_state")"
ok "telegram-test-api: kill -9 of the daemon, then a run: nothing lost or repeated"
