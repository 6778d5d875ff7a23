# SPDX-License-Identifier: MIT
# Shared by the collector's CLI tests: the scripted TDLib stand-in
# (tests/fake_tdjson) loaded through TGH_TDJSON, a world file per test, an
# account folder per test, and helpers to read the stand-in's request log.
. "$(dirname "$0")/lib.sh"

: "${TGH_TEST_FAKE_TDJSON:?TGH_TEST_FAKE_TDJSON must name libfake_tdjson.so}"
[ -r "$TGH_TEST_FAKE_TDJSON" ] || fail "the TDLib stand-in $TGH_TEST_FAKE_TDJSON is missing"
export TGH_TDJSON=$TGH_TEST_FAKE_TDJSON
export TGH_DATA_DIR=$WORK/data
export TGH_FAKE_TD_WORLD=$WORK/world.json
export TGH_FAKE_TD_LOG=$WORK/fake.log
export TGH_FAKE_TD_CONTROL=$WORK/control
export TG_API_ID=94575 TG_API_HASH=a3406de8d171bb422bb6ddf3bbd800e2
export TG_PHONE=+15550001001 TG_CODE_FILE=$WORK/code
export TGH_HISTORY_RATE=0
unset TG_PASSWORD TG_BOT_TOKEN TGH_DB_KEY TGH_ACCOUNT
: >"$TGH_FAKE_TD_CONTROL"
echo 12345 >"$TG_CODE_FILE"

# world JSON: the accounts below plus the chats given as one JSON array.
world() {
    jq -n --argjson chats "$1" --argjson latency "${2:-0}" '{
        seed: 7, latency_ms: $latency,
        accounts: [
            {phone: "+15550001001", code: "12345", user_id: 777001, first_name: "Ada",
             username: "ada_archives"},
            {phone: "+15550001002", code: "54321", password: "hunter2", user_id: 777002,
             first_name: "Bo"}
        ],
        chats: $chats}' >"$TGH_FAKE_TD_WORLD"
}

login() { tgh login "$@" >/dev/null 2>"$WORK/login.err" || { cat "$WORK/login.err" >&2; fail "login $*"; }; }

control() { echo "$1" >>"$TGH_FAKE_TD_CONTROL"; }

# Requests of a type in the stand-in's log (jq filter on .req).
requests() { jq -c "select(.req[\"@type\"] == \"$1\") | .req" "$TGH_FAKE_TD_LOG"; }

violations() { jq -r 'select(.violation) | .violation' "$TGH_FAKE_TD_LOG"; }

# wait_sql SQL EXPECTED [SECONDS]: poll the store until SQL prints EXPECTED.
wait_sql() {
    local deadline=$((SECONDS + ${3:-20})) got=""
    while [ $SECONDS -lt $deadline ]; do
        got=$(sql "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.1
    done
    fail "waited for '$1' = '$2', got '$got'"
}

# Ids the stand-in generates: positions p give first+p, except every k-th (p+1 % k == 0).
gen_ids() {
    local count=$1 first=${2:-1} gap=${3:-0}
    awk -v n="$count" -v f="$first" -v k="$gap" 'BEGIN {
        p = 0; got = 0
        while (got < n) { if (!(k >= 2 && (p + 1) % k == 0)) { print f + p; got++ } p++ }
    }'
}
