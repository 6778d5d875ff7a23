#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A file over the Bot API's download limit, end to end: the bot archives the
# message, copies it to the TDLib account's chat with the bot (TGH_BOT_RELAY)
# and leaves a relay job; the collector of that account finds the copy in its
# chat with the bot by the file's unique id and downloads it (TDLib stand-in);
# the bot tells the user once the job is stored. Also: a collector of
# another account leaves relay jobs alone; a relay job whose copy never
# reaches the account is retried, then fails with the reason, and a bot that
# was down meanwhile tells the user at its next start, once.
. "$(dirname "$0")/collect_lib.sh"
source "$(dirname "$0")/bot_lib.sh"

BOT_ID=777000111 BIG=31457280 NOW=$(date +%s)
export TGH_MEDIA_HISTORY=all TGH_MEDIA_RETRY=1 TGH_MEDIA_ATTEMPTS=2 TGH_BOT_RELAY=777001
doc() { # doc UNIQUE_ID: the document as TDLib gives it in the account's chat with the bot
    jq -cn --arg u "$1" --argjson n $BIG '{"@type": "messageDocument",
        document: {"@type": "document", file_name: "harbour.mkv", mime_type: "video/x-matroska",
                   document: {"@type": "file", id: 0, size: $n, expected_size: $n,
                              local: {"@type": "localFile", path: "", is_downloading_completed: false},
                              remote: {"@type": "remoteFile", id: ("BQACAgQAAxkBrelay" + $u),
                                       unique_id: $u, is_uploading_completed: true, uploaded_size: $n}}},
        caption: {"@type": "formattedText", text: "", entities: []}}'
}
world "[{\"id\": -1001000000970, \"kind\": \"channel\", \"title\": \"Desk\", \"username\": \"desk\",
         \"history\": {\"count\": 2, \"start_date\": $((NOW - 600)), \"step_s\": 60}},
        {\"id\": $BOT_ID, \"kind\": \"private\", \"title\": \"Harbor Archive\",
         \"messages\": [{\"id\": 1, \"date\": $((NOW - 60)), \"content\": $(doc BQADbig1)}]}]"
login
assert_status 0 tgh chats add @desk
start_fake_botapi

big='{"document":{"file_id":"BIG1","file_unique_id":"BQADbig1","file_name":"harbour.mkv","mime_type":"video/x-matroska","file_size":31457280}}'
post_update "$(pm 4242 1 "$big")" >/dev/null
post_update "$(pm 4242 2 '{"document":{"file_id":"BIG2","file_unique_id":"BQADlost","file_name":"lost.mkv","file_size":31457280}}')" >/dev/null
"$TGHARVEST" bot >"$WORK/bot.json" 2>"$WORK/bot.err" &
bot=$!
relayed() { [ "$(sql "SELECT count(*) FROM job_history WHERE origin = 'relay'")" = 2 ]; }
wait_for 20 "the relay jobs" relayed
assert_eq "copied to the account" "777001 4242 1" "$(curl -sf "$BOTAPI/control/sent" | jq -r '[.[] | select(.method == "copyMessage")][0] | "\(.chat_id) \(.from_chat_id) \(.message_id)"')"
assert_contains "the user is told it is on its way" "the TDLib account downloads it" <(sent_texts 4242)

# a collector whose account is not TGH_BOT_RELAY leaves the relayed files alone
TGH_BOT_RELAY=777002 tgh collect --once >"$WORK/c0.out" 2>"$WORK/c0.err" || { cat "$WORK/c0.err" >&2; fail "collect --once (another account)"; }
assert_eq "not claimed by another account" "queued queued" "$(sql "SELECT state FROM job_history WHERE origin = 'relay' ORDER BY message_id" | xargs)"
assert_eq "no chat with the bot opened" 0 "$(requests createPrivateChat | wc -l)"
TGH_MEDIA_RETRY=600 tgh collect --once >"$WORK/c1.out" 2>"$WORK/c1.err" || { cat "$WORK/c1.err" >&2; fail "collect --once"; }
requests createPrivateChat | jq -r .user_id | grep -qx "$BOT_ID" || fail "the account did not open its chat with the bot"
assert_eq "stored by the account" stored "$(sql "SELECT state FROM job_history WHERE message_id = 1 AND origin = 'relay'")"
key=$(sql "SELECT storage_key FROM job_history WHERE message_id = 1 AND origin = 'relay'")
assert_eq "the whole file" $BIG "$(stat -c %s "$WORK/media/$key")"
assert_eq "under the message the bot archived" "4242" "$(sql "SELECT chat_id FROM job_history WHERE storage_key = '$key'")"
told() { sent_texts 4242 | grep -q "The large file of message 1 is stored as $key"; }
wait_for 20 "the bot's notice" told
assert_eq "the lost copy waits for its next attempt" queued "$(sql "SELECT state FROM job_history WHERE message_id = 2")"
kill -TERM $bot
wait $bot || fail "bot exited $? after SIGTERM"
ok "a relayed file: downloaded by the TDLib account from its chat with the bot, the user told"

# the copy that never arrived: retried once after its backoff, then failed while
# the bot was down; the next start of the bot tells the user why, once
sql "UPDATE job_history SET next_at = 0 WHERE message_id = 2" # its backoff has passed
tgh collect --once >"$WORK/c2.out" 2>"$WORK/c2.err" || { cat "$WORK/c2.err" >&2; fail "collect --once (2)"; }
assert_eq "failed after its attempts" failed "$(sql "SELECT state FROM job_history WHERE message_id = 2")"
assert_contains "with the reason" "not (yet) in the account's chat with the bot" <(sql "SELECT error FROM job_history WHERE message_id = 2")
failed_told() { sent_texts 4242 | grep -c "The large file of message 2 could not be downloaded" || true; }
assert_eq "not told while the bot is down" 0 "$(failed_told)"
tgh bot --once >"$WORK/bot2.json" 2>"$WORK/bot2.err" || { cat "$WORK/bot2.err" >&2; fail "bot --once"; }
assert_eq "told at the next start" 1 "$(failed_told)"
assert_contains "why" "not (yet) in the account's chat with the bot" <(sent_texts 4242)
tgh bot --once >"$WORK/bot3.json" 2>"$WORK/bot3.err" || { cat "$WORK/bot3.err" >&2; fail "bot --once (3)"; }
assert_eq "told once, not at every start" 1 "$(failed_told)"
assert_eq "the stored one is not told again" 1 "$(sent_texts 4242 | grep -c "The large file of message 1 is stored" || true)"
ok "a relayed file the account cannot find fails with the reason; a bot down meanwhile tells the user at its next start, once"

# /retry of the failed relay job: its message is copied to the account again, then queued
job2=$(sql "SELECT id FROM job_history WHERE message_id = 2")
cmd() { pm 4242 "$1" "{\"text\":\"/retry $job2\",\"entities\":[{\"offset\":0,\"length\":6,\"type\":\"bot_command\"}]}"; }
post_update "$(cmd 3)" >/dev/null
TGH_BOT_RELAY=0 tgh bot --once >"$WORK/bot4.json" 2>"$WORK/bot4.err" || { cat "$WORK/bot4.err" >&2; fail "bot --once (4)"; }
assert_contains "no account to hand it to" "Job $job2 was not queued again: its message was not handed to the TDLib account: no TDLib account is set to fetch it (TGH_BOT_RELAY)" <(sent_texts 4242)
assert_eq "still failed" failed "$(sql "SELECT state FROM job_history WHERE id = $job2")"
post_update "$(cmd 4)" >/dev/null
tgh bot --once >"$WORK/bot5.json" 2>"$WORK/bot5.err" || { cat "$WORK/bot5.err" >&2; fail "bot --once (5)"; }
assert_contains "queued again" "Job $job2 is queued again." <(sent_texts 4242)
assert_eq "copied again" 2 "$(curl -sf "$BOTAPI/control/sent" | jq '[.[] | select(.method == "copyMessage" and .message_id == 2)] | length')"
assert_eq "queued for the account" queued "$(sql "SELECT state FROM job_history WHERE id = $job2")"
ok "/retry of a relayed file copies its message to the account again"
