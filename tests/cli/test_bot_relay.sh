#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A file over the Bot API's download limit, end to end: the bot archives the
# message, copies it to the TDLib account's chat with the bot (TGH_BOT_RELAY)
# and leaves a relay job; the collector of that account finds the copy in its
# chat with the bot by the file's unique id and downloads it (TDLib stand-in);
# the bot tells the user once the job is stored. Also: a relay job whose
# copy never reaches the account is retried, then fails with the reason.
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
tgh collect --once >"$WORK/c1.out" 2>"$WORK/c1.err" || { cat "$WORK/c1.err" >&2; fail "collect --once"; }
requests createPrivateChat | jq -r .user_id | grep -qx "$BOT_ID" || fail "the account did not open its chat with the bot"
assert_eq "stored by the account" stored "$(sql "SELECT state FROM job_history WHERE message_id = 1 AND origin = 'relay'")"
key=$(sql "SELECT storage_key FROM job_history WHERE message_id = 1 AND origin = 'relay'")
assert_eq "the whole file" $BIG "$(stat -c %s "$WORK/media/$key")"
assert_eq "under the message the bot archived" "4242" "$(sql "SELECT chat_id FROM job_history WHERE storage_key = '$key'")"
told() { sent_texts 4242 | grep -q "The large file of message 1 is stored as $key"; }
wait_for 20 "the bot's notice" told
ok "a relayed file: downloaded by the TDLib account from its chat with the bot, the user told"

# the copy that never arrived: retried once after its backoff, then failed, and the user told why
sleep 1.2
tgh collect --once >"$WORK/c2.out" 2>"$WORK/c2.err" || { cat "$WORK/c2.err" >&2; fail "collect --once (2)"; }
assert_eq "failed after its attempts" failed "$(sql "SELECT state FROM job_history WHERE message_id = 2")"
assert_contains "with the reason" "not (yet) in the account's chat with the bot" <(sql "SELECT error FROM job_history WHERE message_id = 2")
failed_told() { sent_texts 4242 | grep -q "The large file of message 2 could not be downloaded"; }
wait_for 20 "the failure notice" failed_told
kill -TERM $bot
wait $bot || fail "bot exited $? after SIGTERM"
ok "a relayed file the account cannot find fails with the reason, and the user is told"
