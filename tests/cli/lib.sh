# SPDX-License-Identifier: MIT
# Shared by the CLI tests: a private store per test, the binary under test,
# and small assertions that print what was expected and what came.
set -euo pipefail

: "${TGHARVEST:?TGHARVEST must name the binary under test}"
: "${TGH_TEST_FIXTURES:?TGH_TEST_FIXTURES must name tests/fixtures}"
FX=$TGH_TEST_FIXTURES/export
WORK=$(mktemp -d /tmp/tgh-cli-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
export TGH_STORE="sqlite://$WORK/test.db"
export TGH_ENV_FILE=/dev/null
# `run` serves HTTP by default; tests that want it set their own address.
export TGH_HTTP_ADDR=off TGH_DATA_DIR=$WORK/data TGH_MEDIA=file://$WORK/media
DB=$WORK/test.db
unset TGH_IMPORT_TZ TGH_BATCH_SIZE

tgh() { "$TGHARVEST" "$@"; }

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
    [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# assert_status EXPECTED COMMAND... (stdout and stderr kept in $WORK/out, $WORK/err)
assert_status() {
    local want=$1 got=0
    shift
    "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
    [ "$got" = "$want" ] || { cat "$WORK/err" >&2; fail "'$*': exit $got, expected $want"; }
}

assert_contains() {
    grep -qF -- "$2" "$3" || { cat "$3" >&2; fail "$1: '$2' not found"; }
}

sql() { sqlite3 -batch -noheader "$DB" "$1"; }

# Number of messages in a single-chat export.
export_count() { jq '.messages | length' "$1"; }

ok() { echo "ok: $*"; }
