#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Exports without date_unixtime carry local time without offset: read as UTC
# by default, or in the zone given by --tz / TGH_IMPORT_TZ. Old bare-number
# from_id values are users.
source "$(dirname "$0")/lib.sh"

f=$FX/old_format.json
jq -e '[.messages[] | has("date_unixtime")] | any | not' "$f" >/dev/null || fail "fixture has date_unixtime"
id=$(jq '.messages[0].id' "$f")
local_date=$(jq -r '.messages[0].date' "$f")
utc=$(date -u -d "${local_date/T/ }" +%s)
berlin=$(TZ=Europe/Berlin date -d "${local_date/T/ }" +%s)

assert_status 0 tgh import -q "$f"
assert_eq "UTC by default" "$utc" "$(sql "SELECT date FROM messages WHERE message_id = $id")"

export TGH_STORE="sqlite://$WORK/berlin.db"
DB=$WORK/berlin.db
assert_status 0 tgh import -q --tz Europe/Berlin "$f"
assert_eq "--tz Europe/Berlin" "$berlin" "$(sql "SELECT date FROM messages WHERE message_id = $id")"

export TGH_STORE="sqlite://$WORK/env.db"
DB=$WORK/env.db
TGH_IMPORT_TZ=Europe/Berlin assert_status 0 tgh import -q "$f"
assert_eq "TGH_IMPORT_TZ" "$berlin" "$(sql "SELECT date FROM messages WHERE message_id = $id")"
ok "dates without date_unixtime follow the zone"

# Bare-number from_id is a user id.
uid=$(jq '[.messages[] | select(.from_id | type == "number")][0].from_id' "$f")
[ "$uid" != null ] || fail "fixture has no bare-number from_id"
assert_eq "bare from_id is a user" "user $uid" \
    "$(sql "SELECT sender_type || ' ' || sender_id FROM messages WHERE sender_id = $uid LIMIT 1")"
ok "old from_id form"
