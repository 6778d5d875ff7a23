#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The real TDLib (the installed libtdjson.so), offline, through the
# collector's own client hub: login gets as far as TDLib's phone-number
# prompt and stops with a clear error when there is no way to ask; the
# account folder is private and locked; TDLib's log goes into it.
. "$(dirname "$0")/lib.sh"

export LSAN_OPTIONS=suppressions=$TGH_TEST_SOURCE_DIR/tests/lsan.supp
export TGH_DATA_DIR=$WORK/data TG_API_ID=94575 TG_API_HASH=a3406de8d171bb422bb6ddf3bbd800e2
unset TGH_TDJSON TG_PHONE TG_BOT_TOKEN TG_CODE_FILE TG_PASSWORD

assert_status 1 tgh login </dev/null
assert_contains "stops at the phone prompt" "login needs the phone: set TG_PHONE" "$WORK/err"
assert_eq "folder mode" 700 "$(stat -c %a "$WORK/data/accounts/default")"
[ -s "$WORK/data/accounts/default/td.log" ] || fail "TDLib's log is not in the account folder"
[ -d "$WORK/data/accounts/default/td" ] || fail "TDLib's database folder is missing"
grep -q "$TG_API_HASH" "$WORK/err" "$WORK/out" && fail "the API hash was printed"
assert_status 0 tgh accounts --json
assert_eq "not logged in" false "$(jq .logged_in "$WORK/out")"
ok "real TDLib offline: login reaches the phone prompt through the hub"

TGH_TDJSON=$WORK/missing.so assert_status 1 tgh login </dev/null
assert_contains "a missing library is named" "TDLib JSON library $WORK/missing.so" "$WORK/err"
ok "a missing TDLib library is an error naming it"
