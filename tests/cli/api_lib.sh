# SPDX-License-Identifier: MIT
# Shared by the HTTP API tests: start a server process on a free port, talk
# to it over real HTTP with curl, and follow its live stream.
: "${WORK:?source lib.sh or collect_lib.sh first}"

READ_KEY=read-key-0123456789abcdef
ADMIN_KEY=admin-key-0123456789abcdef
export TGH_API_KEYS="$READ_KEY:read,$ADMIN_KEY:admin"

# start_http NAME COMMAND...: run COMMAND (a tgharvest subcommand that serves
# HTTP) in the background with TGH_HTTP_ADDR=127.0.0.1:0 and set BASE to
# its address once it printed it. Its pid is in $WORK/NAME.pid.
start_http() {
    local name=$1 deadline=$((SECONDS + 30)) port=""
    shift
    TGH_HTTP_ADDR=127.0.0.1:0 "$TGHARVEST" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    echo $! >"$WORK/$name.pid"
    while [ $SECONDS -lt $deadline ]; do
        port=$(sed -n 's|^http: listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$WORK/$name.out" 2>/dev/null || true)
        [ -n "$port" ] && break
        kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null ||
            { cat "$WORK/$name.err" >&2; fail "$name exited before listening"; }
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$WORK/$name.err" >&2; fail "$name did not listen within 30 s"; }
    BASE=http://127.0.0.1:$port
}

# stop_http NAME: SIGTERM, and it must exit 0 within 10 s.
stop_http() {
    local pid rc=0
    pid=$(cat "$WORK/$1.pid")
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; fail "$1 did not stop on SIGTERM"; }
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { cat "$WORK/$1.err" >&2; fail "$1 exited $rc after SIGTERM"; }
}

# api [-k KEY] [-X METHOD] [-d BODY] PATH: the body in $WORK/body, the status echoed.
api() {
    local key=$READ_KEY args=()
    while [ $# -gt 1 ]; do
        case $1 in
        -k) key=$2; shift 2 ;;
        -X) args+=(-X "$2"); shift 2 ;;
        -d) args+=(-H 'Content-Type: application/json' --data-binary "$2"); shift 2 ;;
        -H) args+=(-H "$2"); shift 2 ;;
        *) break ;;
        esac
    done
    [ -n "$key" ] && args+=(-H "X-API-Key: $key")
    curl -sS -o "$WORK/body" -w '%{http_code}' "${args[@]}" "$BASE$1"
}

# expect STATUS [-k KEY] [-X M] [-d BODY] PATH: the call must answer STATUS.
expect() {
    local want=$1 got
    shift
    got=$(api "$@")
    [ "$got" = "$want" ] || { cat "$WORK/body" >&2; echo >&2; fail "${*:0:200}: HTTP $got, expected $want"; }
}

# jb FILTER: jq over the last body.
jb() { jq -r "$1" "$WORK/body"; }

# expect_error STATUS CODE [-k KEY] ... PATH: an error of the documented shape.
expect_error() {
    local status=$1 code=$2
    shift 2
    expect "$status" "$@"
    assert_eq "error code of $*" "$code" "$(jb .error.code)"
    [ -n "$(jb .error.message)" ] || fail "$*: the error has no message"
}

# stream_start NAME PATH [HEADER]: follow an SSE route into $WORK/NAME.sse.
stream_start() {
    local hdr=()
    [ -n "${3:-}" ] && hdr=(-H "$3")
    curl -sS -N -H "X-API-Key: $READ_KEY" "${hdr[@]}" "$BASE$2" >"$WORK/$1.sse" 2>"$WORK/$1.curl" &
    echo $! >"$WORK/$1.spid"
    # The stream answers "retry:" first: then it is registered at the feed's tail.
    for _ in $(seq 100); do grep -q '^retry:' "$WORK/$1.sse" 2>/dev/null && return 0; sleep 0.05; done
    fail "stream $1 did not start"
}

stream_stop() { kill "$(cat "$WORK/$1.spid")" 2>/dev/null || true; }

# stream_wait NAME COUNT [SECONDS]: until COUNT "event: message" frames came.
stream_wait() {
    local deadline=$((SECONDS + ${3:-20})) n=0
    while [ $SECONDS -lt $deadline ]; do
        n=$(grep -c '^event: message' "$WORK/$1.sse" || true)
        [ "$n" -ge "$2" ] && return 0
        sleep 0.1
    done
    cat "$WORK/$1.sse" >&2
    fail "stream $1: $n messages after ${3:-20} s, expected $2"
}

# stream_data NAME: the data lines of its message frames, one JSON per line.
stream_data() { sed -n 's/^data: //p' "$WORK/$1.sse" | grep -v missed_after || true; }
stream_ids() { sed -n 's/^id: //p' "$WORK/$1.sse"; }
