# SPDX-License-Identifier: MIT
# Shared by the scale-out tests (test_scale_*, test_chaos_*): RabbitMQ,
# PostgreSQL and Redis, either the run's shared servers (ctest's `services`
# fixture) or private ones a chaos test may stop and kill; a fresh database
# per test; event streams with a known final state; PostgreSQL assertions.
. "$(dirname "$0")/collect_lib.sh"

: "${TGH_TEST_GEN_EVENTS:?TGH_TEST_GEN_EVENTS must name tests/tools/gen_events}"
: "${TGH_TEST_QTOOL:?TGH_TEST_QTOOL must name tests/tools/qtool}"
: "${TGH_TEST_SERVICES_SCRIPT:?TGH_TEST_SERVICES_SCRIPT must name scripts/services.sh}"
: "${TGH_TEST_PORT_BASE:?TGH_TEST_PORT_BASE must be set (tests/CMakeLists.txt)}"
command -v psql >/dev/null || fail "psql is missing (apt-get install postgresql-client-15)"

SVC=""
PIDS=()

scale_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "$SVC" ]; then bash "$TGH_TEST_SERVICES_SCRIPT" stop "$SVC" >/dev/null 2>&1 || true; fi
    if [ -n "${DROPDB:-}" ]; then
        psql "$DROPDB" -qAt -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [ -n "${TGH_TEST_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap scale_cleanup EXIT

# use_shared: the run's servers. use_private OFFSET: own servers at
# TGH_TEST_PORT_BASE+OFFSET (10, 20, ... : see tests/CMakeLists.txt).
use_shared() {
    : "${TGH_TEST_PG_URL:?}" "${TGH_TEST_REDIS_URL:?}" "${TGH_TEST_AMQP_URL:?}"
    PG_SERVER=${TGH_TEST_PG_URL%/*}
    export TGH_QUEUE=$TGH_TEST_AMQP_URL TGH_CACHE=$TGH_TEST_REDIS_URL
    fresh_db
    "$TGH_TEST_QTOOL" purge "$TGH_QUEUE" tg.messages.v2 >/dev/null || fail "purge tg.messages.v2"
    "$TGH_TEST_QTOOL" purge "$TGH_QUEUE" tg.messages.dlq >/dev/null || fail "purge tg.messages.dlq"
    redis-cli -u "$TGH_CACHE" FLUSHALL >/dev/null || fail "FLUSHALL"
}

use_private() {
    local base=$((TGH_TEST_PORT_BASE + $1))
    SVC=$WORK/svc
    mkdir -p "$SVC"
    chmod 755 "$WORK"
    bash "$TGH_TEST_SERVICES_SCRIPT" start "$SVC" "$base" >"$WORK/svc.log" 2>&1 ||
        { cat "$WORK/svc.log" >&2; fail "private servers did not start"; }
    PG_SERVER=postgresql://postgres@127.0.0.1:$base
    export TGH_QUEUE="amqp://guest:guest@127.0.0.1:$((base + 2))/%2f"
    export TGH_CACHE="redis://127.0.0.1:$((base + 1))"
    fresh_db
}

svc() { bash "$TGH_TEST_SERVICES_SCRIPT" "$1" "$SVC" "$2" >>"$WORK/svc.log" 2>&1 || fail "services.sh $1 $2"; }

fresh_db() {
    DBNAME=t_$$_$RANDOM
    DROPDB=$PG_SERVER/postgres
    psql "$DROPDB" -qAt -c "CREATE DATABASE $DBNAME" >/dev/null || fail "CREATE DATABASE"
    PGURL=$PG_SERVER/$DBNAME
    export TGH_STORE=$PGURL
}

pg() { psql "$PGURL" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }

gen() { "$TGH_TEST_GEN_EVENTS" "$@"; }
qtool() { "$TGH_TEST_QTOOL" "$@"; }

# publish FILE [PAGE]: every line, raw, confirmed, PAGE lines per message (default 1).
publish() { qtool publish "$TGH_QUEUE" "${2:-1}" <"$1" >/dev/null || fail "publishing $1"; }

depth() { qtool depth "$TGH_QUEUE" "$1"; }

# start_worker NAME [ARGS]: a worker in the background, its output in $WORK/NAME.*
start_worker() {
    local name=$1
    shift
    "$TGHARVEST" work "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    WORKER_PID=$!
    PIDS+=("$WORKER_PID")
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
wait_for() {
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    fail "timed out after ${secs}s waiting for $what"
}

# check_final MESSAGES CHATS EDIT_EVERY DELETE_EVERY: the store holds exactly
# the state gen_events describes, each message once, edits as versions.
check_final() {
    local n=$1 chats=$2 ev=$3 dv=$4 edited deleted got
    got=$(pg "SELECT count(*), count(DISTINCT (chat_id, message_id)) FROM messages")
    assert_eq "messages, distinct messages" "$n|$n" "$got"
    # ids 1..per in every chat (the last chat may have fewer when n % chats != 0)
    got=$(pg "SELECT count(*) FROM (SELECT chat_id FROM messages GROUP BY chat_id
              HAVING min(message_id) = 1 AND max(message_id) = count(*)) c")
    assert_eq "chats with ids 1..N without holes" "$chats" "$got"
    edited=0
    deleted=0
    if [ "$ev" -gt 0 ]; then
        edited=$(pg "SELECT count(*) FROM messages WHERE message_id % $ev = 0")
        got=$(pg "SELECT count(*) FROM messages WHERE message_id % $ev = 0 AND text LIKE 'edited message %'")
        assert_eq "edited texts" "$edited" "$got"
        got=$(pg "SELECT count(*), count(DISTINCT (chat_id, message_id)) FROM message_versions")
        assert_eq "versions (one per edited message)" "$edited|$edited" "$got"
    fi
    if [ "$dv" -gt 0 ]; then
        deleted=$(pg "SELECT count(*) FROM messages WHERE message_id % $dv = 0")
        got=$(pg "SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL")
        assert_eq "tombstones" "$deleted" "$got"
    fi
    # every text exactly as generated (tabs, newlines, backslashes, scripts)
    got=$(pg "SELECT count(*) FROM messages WHERE text IS DISTINCT FROM
              CASE WHEN $ev > 0 AND message_id % $ev = 0
                   THEN format('edited message %s of chat %s', message_id, -1009000000000 - chat_id)
                   ELSE format(E'message %s of chat %s\twith a tab\nа строка\\\\N and \\\\t %s',
                               message_id, -1009000000000 - chat_id,
                               CASE WHEN message_id % 3 = 0 THEN '日本語のテキスト 🚀' ELSE 'plain' END)
              END")
    assert_eq "texts that did not survive the trip intact" "0" "$got"
}
