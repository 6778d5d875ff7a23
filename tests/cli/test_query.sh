#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reading the archive: messages with filters, search, export as JSON lines
# and CSV, stats, decode, and the usage errors of every command.
source "$(dirname "$0")/lib.sh"

ex=$TGH_TEST_SOURCE_DIR/examples/harbour_watch_result.json
chat=-1001987654321
n=$(export_count "$ex")
assert_status 0 tgh import -q "$ex"

# messages: order, limit, newest-first, since/until (UTC, until exclusive).
tgh messages --chat "$chat" --json >"$WORK/all"
assert_eq "messages" "$n" "$(wc -l <"$WORK/all")"
assert_eq "oldest first" "$(jq '.messages | map(.id) | sort | .[0]' "$ex")" "$(head -n 1 "$WORK/all" | jq .message_id)"
assert_eq "limit" 3 "$(tgh messages --chat "$chat" --limit 3 --json | wc -l)"
assert_eq "newest first" "$(jq '.messages | map(.id) | max' "$ex")" \
    "$(tgh messages --chat "$chat" --newest-first --limit 1 --json | jq .message_id)"
since=2024-06-01T12:00:00Z
until=2024-06-01T15:00:00
want=$(jq '[.messages[] | select((.date_unixtime | tonumber) >= 1717243200 and (.date_unixtime | tonumber) < 1717254000)] | length' "$ex")
assert_eq "since/until" "$want" "$(tgh messages --chat "$chat" --since $since --until $until --json | wc -l)"
assert_eq "chat by title" "$n" "$(tgh messages --chat 'Harbour Watch (demo)' --json | wc -l)"
assert_status 0 tgh messages --chat "$chat"
assert_contains "text listing" "Crane 4 is back in service" "$WORK/out"
ok "messages filters"

# search: words, case, diacritics, Cyrillic, phrase, chat filter, bad syntax.
assert_eq "search word" 1 "$(tgh search crane --json | jq -s 'map(select(.text | test("Crane 4"))) | length')"
assert_eq "search case" "$(tgh search crane --json | wc -l)" "$(tgh search CRANE --json | wc -l)"
assert_eq "search cyrillic" 1 "$(tgh search 'танкера' --json | wc -l)"
assert_eq "search phrase" 1 "$(tgh search '"fog warning"' --json | wc -l)"
assert_eq "search other chat" 0 "$(tgh search crane --chat 5 --json | wc -l)"
assert_status 0 tgh search crane
assert_contains "snippet marks the match" "[Crane]" "$WORK/out"
assert_status 1 tgh search '"unterminated'
assert_eq "one-line error" 1 "$(wc -l <"$WORK/err")"
ok "search"

# export: jsonl equals messages --json; csv has a header and one record per message.
assert_status 0 tgh export --chat "$chat" -o "$WORK/out.jsonl"
cmp -s "$WORK/out.jsonl" "$WORK/all" || fail "export jsonl differs from messages --json"
[ "$(ls "$WORK" | grep -c "^out.jsonl.")" = 0 ] || fail "export left its temporary file"
[ "$(stat -c %a "$WORK/out.jsonl")" = 600 ] || fail "export is readable by others"
assert_status 0 tgh export --format csv -o "$WORK/out.csv"
assert_eq "csv header" "chat_id,message_id,date_utc,edit_date_utc,deleted_at_utc,versions,chat_title,sender_name,text" \
    "$(head -n 1 "$WORK/out.csv" | tr -d '\r')"
assert_eq "csv records" "$n" "$(grep -c "^$chat," "$WORK/out.csv")"
grep -q '"Harbour Watch (demo)","Harbour Watch","Crane 4 is back in service' "$WORK/out.csv" || fail "csv quoting"
assert_status 2 tgh export --format xml
assert_status 1 tgh export -o /nonexistent-dir/x.csv
ok "export"

# stats
assert_status 0 tgh stats --json
assert_eq "stats messages" "$n" "$(jq .messages "$WORK/out")"
assert_eq "stats chats" 1 "$(jq .chats "$WORK/out")"
assert_eq "stats first" 1717232400 "$(jq .first_date "$WORK/out")"
ok "stats"

# decode
assert_status 0 tgh decode --from export "$ex"
assert_eq "decode export lines" "$n" "$(wc -l <"$WORK/out")"
head -n 1 "$WORK/all" | jq -c '.message_id = -5' >"$WORK/bad_event.jsonl"
assert_status 1 tgh decode --from event "$WORK/bad_event.jsonl"
assert_contains "decode names the field" "message_id" "$WORK/err"
head -n 1 "$WORK/all" | jq -c '.surprise = 1' >"$WORK/bad2.jsonl"
assert_status 1 tgh decode --from event "$WORK/bad2.jsonl"
assert_contains "decode unknown key" "surprise" "$WORK/err"
assert_status 0 tgh decode --from event - <"$WORK/all"
assert_eq "decode stdin" "$n" "$(wc -l <"$WORK/out")"
ok "decode"

# usage errors exit 2 with one line; --help and --version exit 0.
assert_status 2 tgh messages
assert_status 2 tgh messages --chat "$chat" --since yesterday
assert_status 2 tgh nosuchcommand
assert_status 2 tgh decode --from carrier-pigeon x
assert_status 2 tgh import
assert_status 1 tgh messages --chat @nobody
for c in run import chats messages search export stats decode; do
    assert_status 0 tgh "$c" --help
    assert_contains "$c --help" "usage: tgharvest $c" "$WORK/out"
done
assert_status 0 tgh --version
assert_contains "version" "schema_version 1" "$WORK/out"
assert_status 0 tgh --help
ok "usage, help, version"

# A bad TGH_* value is a clear configuration error.
TGH_BATCH_SIZE=abc assert_status 1 tgh stats
assert_contains "config error" "TGH_BATCH_SIZE" "$WORK/err"
TGH_STORE=mysql://x assert_status 1 tgh stats
assert_contains "store scheme" "mysql" "$WORK/err"
ok "configuration errors"

# Readers never create an archive: a mistyped TGH_STORE is an error, not an empty archive.
TGH_STORE="sqlite://$WORK/typo/none.db" assert_status 1 tgh chats
assert_contains "missing archive" "no archive at" "$WORK/err"
[ ! -e "$WORK/typo" ] || fail "a reader created the store's directory"
# Options that do not apply are refused, not ignored.
assert_status 2 tgh chats --since 2024-01-01
assert_status 2 tgh stats --limit 3
assert_status 2 tgh messages --chat "$chat" --format csv
# The archive is private to its owner.
assert_eq "database mode" 600 "$(stat -c %a "$DB")"
ok "readers, option tables, permissions"

# Hostile text cannot drive the terminal: control characters are shown escaped.
jq -n '{name: "Esc\u001b]0;title\u0007", type: "public_channel", id: 44, messages: [
    {id: 1, type: "message", date_unixtime: "1704067200", from: "Mal\u001b[2J", text: "a\u001b[31mred\rb\nc"}]}' \
    >"$WORK/esc.json"
assert_status 0 tgh import -q "$WORK/esc.json"
tgh messages --chat -1000000000044 >"$WORK/esc.out"
tgh chats >>"$WORK/esc.out"
grep -q $'\x1b' "$WORK/esc.out" && fail "escape character reached the terminal"
grep -q $'\r' "$WORK/esc.out" && fail "carriage return reached the terminal"
grep -qF 'a\x1b[31mred\x0db' "$WORK/esc.out" || fail "escaped text not shown"
assert_eq "json keeps the text exactly" "$(printf 'a\033[31mred\rb\nc')" \
    "$(tgh messages --chat -1000000000044 --json | jq -r .text)"
ok "control characters escaped in listings"

# Unknown chats and options: clear errors, one line each.
assert_status 1 tgh messages --chat 5
assert_contains "unknown numeric chat" "no chat with id" "$WORK/err"
assert_status 2 tgh chats --bogus
assert_eq "bad option: one line" 1 "$(wc -l <"$WORK/err")"
assert_contains "bad option named" "--bogus" "$WORK/err"
assert_status 2 tgh import --from event --tz Europe/Berlin "$WORK/all"
assert_status 1 tgh run --import "$WORK/nothing-here.json"
assert_contains "run names itself" "tgharvest run:" "$WORK/err"
ok "unknown chat ids, bad options, run errors"

# A reader never turns another SQLite file into an archive.
sqlite3 "$WORK/other.db" "CREATE TABLE notes (x TEXT)"
other_sum=$(md5sum <"$WORK/other.db")
assert_status 1 tgh stats --store "sqlite://$WORK/other.db"
assert_eq "other database byte for byte" "$other_sum" "$(md5sum <"$WORK/other.db")"
assert_contains "not an archive" "is not a tgharvest archive" "$WORK/err"
assert_eq "other database untouched" "notes" "$(sqlite3 "$WORK/other.db" "SELECT group_concat(name) FROM sqlite_master")"
assert_status 2 tgh import -xq "$WORK/all"
assert_contains "clustered short option named" "-x" "$WORK/err"
ok "foreign databases, clustered options"

# Retention: the option and TGH_RETENTION_DAYS accept the same range.
assert_status 0 tgh cleanup --retention-days 365000
assert_eq "longest retention keeps everything" 0 "$(jq .messages_removed "$WORK/out")"
assert_status 0 env TGH_RETENTION_DAYS=365000 "$TGHARVEST" cleanup
assert_eq "summary status" '"ok"' "$(jq .status "$WORK/out")"
assert_status 2 tgh cleanup --retention-days 365001
assert_contains "cap named" "--retention-days" "$WORK/err"
assert_status 1 env TGH_RETENTION_DAYS=365001 "$TGHARVEST" cleanup
assert_contains "config cap named" "TGH_RETENTION_DAYS" "$WORK/err"
assert_eq "messages kept" "$n" "$(tgh messages --chat "$chat" --json | wc -l)"
ok "retention caps agree"
