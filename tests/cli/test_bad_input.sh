#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad input gets a clear error naming what was wrong, malformed messages land
# in dead letters with position and reason while the good ones around them
# are imported, and a broken file leaves the store consistent.
source "$(dirname "$0")/lib.sh"

# Malformed message objects among good ones.
f=$FX/malformed_messages.json
n=$(export_count "$f")
assert_status 0 tgh import --json -q "$f"
errors=$(jq .errors "$WORK/out")
[ "$errors" -gt 0 ] || fail "no dead letters from malformed_messages.json"
assert_eq "good messages imported" "$((n - errors))" "$(jq .imported "$WORK/out")"
assert_eq "dead letters stored" "$errors" "$(sql "SELECT count(*) FROM ingestion_errors WHERE source = 'export'")"
assert_eq "dead letters with position and reason" 0 \
    "$(sql "SELECT count(*) FROM ingestion_errors WHERE position NOT LIKE '%messages[%' OR reason = '' OR payload = ''")"
assert_eq "origin is the file" "$errors" "$(sql "SELECT count(*) FROM ingestion_errors WHERE origin = '$f'")"
assert_eq "run is partial" partial "$(sql "SELECT status FROM collection_runs ORDER BY id DESC LIMIT 1")"
assert_eq "stats dead letters" "$errors" "$(tgh stats --json | jq .dead_letters)"
# Re-import: the same dead letters again, nothing else changes.
assert_status 0 tgh import --json -q "$f"
assert_eq "re-import imported" 0 "$(jq .imported "$WORK/out")"
assert_eq "re-import adds no dead letter" "$errors" "$(sql "SELECT count(*) FROM ingestion_errors")"
ok "$errors malformed messages dead-lettered, $((n - errors)) imported"

# A file cut in the middle: error naming file and offset, complete batches kept.
rows_before=$(sql "SELECT count(*) FROM messages")
assert_status 1 tgh import -q --batch 2 "$FX/truncated.json"
assert_contains "truncated error" "truncated.json" "$WORK/err"
assert_eq "one-line error" 1 "$(grep -c 'tgharvest import' "$WORK/err")"
assert_eq "integrity" ok "$(sql "PRAGMA integrity_check")"
assert_eq "failed run recorded" failed "$(sql "SELECT status FROM collection_runs ORDER BY id DESC LIMIT 1")"
[ "$(sql "SELECT count(*) FROM messages")" -ge "$rows_before" ] || fail "rows lost"
ok "truncated file fails cleanly"

# Not JSON at all, missing file, empty file, a root that is not an object.
assert_status 1 tgh import -q "$FX/not_json.txt"
assert_contains "not json error" "not_json.txt" "$WORK/err"
assert_status 1 tgh import -q "$WORK/does-not-exist.json"
assert_contains "missing file" "does-not-exist.json" "$WORK/err"
: >"$WORK/empty.json"
assert_status 1 tgh import -q "$WORK/empty.json"
assert_contains "empty file" "empty.json" "$WORK/err"
echo '[1,2,3]' >"$WORK/array.json"
assert_status 1 tgh import -q "$WORK/array.json"
assert_contains "array root" "array.json" "$WORK/err"
ok "unreadable files give one-line errors"

# A hostile file name is just a name.
hostile="$WORK/we\"ird \$(touch pwned) ; name'.json"
cp "$FX/single_chat_channel.json" "$hostile"
( cd "$WORK" && assert_status 0 tgh import -q "$hostile" )
[ ! -e "$WORK/pwned" ] || fail "file name was executed"
assert_eq "hostile origin recorded verbatim" 1 \
    "$(sql "SELECT count(*) FROM collection_runs WHERE origin = '$(printf '%s' "$hostile" | sed "s/'/''/g")'")"
ok "hostile file name"

# An oversized field: one message with 2 MB of text is a dead letter, its neighbours import.
export TGH_STORE="sqlite://$WORK/big.db"
DB=$WORK/big.db
head -c 2000000 /dev/zero | tr '\0' 'a' >"$WORK/big.txt"
jq -n --rawfile big "$WORK/big.txt" '{name: "Big", type: "public_channel", id: 42, messages: [
    {id: 1, type: "message", date: "2024-01-01T00:00:00", date_unixtime: "1704067200", text: "before"},
    {id: 2, type: "message", date: "2024-01-01T00:00:01", date_unixtime: "1704067201", text: $big},
    {id: 3, type: "message", date: "2024-01-01T00:00:02", date_unixtime: "1704067202", text: "after"}]}' \
    >"$WORK/big.json"
assert_status 0 tgh import --json -q "$WORK/big.json"
assert_eq "big: imported" 2 "$(jq .imported "$WORK/out")"
assert_eq "big: errors" 1 "$(jq .errors "$WORK/out")"
assert_eq "big: reason names the field" 1 "$(sql "SELECT count(*) FROM ingestion_errors WHERE reason LIKE '%text%'")"
ok "oversized field dead-lettered"

# Unknown fields and unknown message types are kept in raw, never an error.
jq -n '{name: "Odd", type: "public_channel", id: 43, future_root_key: {x: 1}, messages: [
    {id: 1, type: "message", date: "2024-01-01T00:00:00", date_unixtime: "1704067200", text: "hi",
     brand_new_field: [1, 2, {deep: true}]},
    {id: 2, type: "hologram", date: "2024-01-01T00:00:01", date_unixtime: "1704067201", text: ""}]}' \
    >"$WORK/odd.json"
assert_status 0 tgh import --json -q "$WORK/odd.json"
assert_eq "odd: imported" 2 "$(jq .imported "$WORK/out")"
assert_eq "odd: raw kept" true \
    "$(tgh messages --chat -1000000000043 --json | jq -s '.[0].raw.brand_new_field[2].deep')"
ok "unknown fields and types kept in raw"

# A directory without exports, and a file name with a newline: one-line errors.
mkdir -p "$WORK/empty"
assert_status 1 tgh import -q "$WORK/empty"
assert_contains "empty directory" "no *.json files" "$WORK/err"
nl_name="$WORK/$(printf 'bad\nname.json')"
printf 'not json' >"$nl_name"
assert_status 1 tgh import -q "$nl_name"
assert_eq "newline in a file name stays on one line" 1 "$(grep -c 'tgharvest import' "$WORK/err")"
assert_eq "error has one line" 1 "$(wc -l <"$WORK/err")"
ok "directory without exports, file name with a newline"

# A chat whose id is out of range for its type fails alone, with a one-line error; the
# other chats of the file are imported.
export TGH_STORE="sqlite://$WORK/range.db"
DB=$WORK/range.db
jq -n '{chats: {list: [
    {name: "Bad", type: "public_channel", id: -5, messages: [
        {id: 1, type: "message", date_unixtime: "1704067200", text: "lost"}]},
    {name: "Good", type: "public_channel", id: 44, messages: [
        {id: 1, type: "message", date_unixtime: "1704067200", text: "kept"}]}]}}' \
    >"$WORK/range.json"
assert_status 1 tgh import --json -q "$WORK/range.json"
assert_eq "range: failed chats" 1 "$(jq .failed_chats "$WORK/out")"
assert_eq "range: imported" 1 "$(jq .imported "$WORK/out")"
assert_contains "range: error names the id" "chats.list[0].id -5 is out of range" "$WORK/err"
assert_eq "range: no chat 0" 0 "$(sql "SELECT count(*) FROM chats WHERE chat_id = 0")"
assert_eq "range: good chat" 1 "$(sql "SELECT count(*) FROM messages WHERE chat_id = -1000000000044")"
ok "chat id out of range fails that chat only"

# The same file by another spelling of its path is the same origin: no new dead letters.
export TGH_STORE="sqlite://$WORK/spell.db"
DB=$WORK/spell.db
f=$FX/malformed_messages.json
assert_status 0 tgh import -q "$f"
n_dead=$(sql "SELECT count(*) FROM ingestion_errors")
( cd "$FX" && assert_status 0 tgh import -q ./malformed_messages.json )
assert_status 0 tgh import -q "$FX//malformed_messages.json"
assert_eq "dead letters by canonical origin" "$n_dead" "$(sql "SELECT count(*) FROM ingestion_errors")"
ok "one origin whatever the spelling of the path"

# A folder import reads regular files only: a FIFO or a folder named x.json is skipped.
mkdir -p "$WORK/mixed/sub.json"
mkfifo "$WORK/mixed/pipe.json"
cp "$TGH_TEST_SOURCE_DIR/examples/harbour_watch_result.json" "$WORK/mixed/"
assert_status 0 timeout 60 "$TGHARVEST" import -q "$WORK/mixed"
ok "FIFO and folder named *.json skipped"

# Impossible calendar dates are refused, not moved to the next month.
jq -n '{name: "Cal", type: "public_channel", id: 45, messages: [
    {id: 1, type: "message", date: "2020-02-30T10:00:00", text: "no such day"},
    {id: 2, type: "message", date: "2020-02-28T10:00:00", text: "fine"}]}' >"$WORK/cal.json"
assert_status 0 tgh import --json -q "$WORK/cal.json"
assert_eq "impossible date: dead letter" 1 "$(jq .errors "$WORK/out")"
assert_eq "impossible date: reason" 1 "$(sql "SELECT count(*) FROM ingestion_errors WHERE reason LIKE '%not a date of the calendar%'")"
ok "impossible dates"

# C1 controls and bidi overrides in names are escaped in listings too.
jq -n '{name: "C1 \u009b31m chat \u202e", type: "public_channel", id: 46, messages: [
    {id: 1, type: "message", date_unixtime: "1704067200", text: "x"}]}' >"$WORK/c1.json"
assert_status 0 tgh import -q "$WORK/c1.json"
tgh chats >"$WORK/c1.out"
grep -q $'\xc2\x9b' "$WORK/c1.out" && fail "C1 CSI reached the terminal"
grep -q $'\xe2\x80\xae' "$WORK/c1.out" && fail "bidi override reached the terminal"
grep -qF 'C1 \xc2\x9b31m chat \xe2\x80\xae' "$WORK/c1.out" || fail "escaped title not shown"
ok "C1 controls and bidi overrides escaped"

# Output that cannot be written is a failure.
assert_status 1 sh -c "\"$TGHARVEST\" stats >/dev/full"
assert_status 1 sh -c "\"$TGHARVEST\" chats >/dev/full"
ok "write errors on stdout"
