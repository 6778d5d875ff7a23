# SPDX-License-Identifier: MIT
# Shared by the archive bot's tests: a Bot API server on a free port (the
# scripted one in tests/fake_botapi, or telegram-test-api), updates posted to
# it, and what the bot sent back.
: "${WORK:?source lib.sh first}"

NODE_MODULES=$TGH_TEST_SOURCE_DIR/.deps/npm/node_modules
BOT_TOKEN=123456:TEST-token_abc
export TGH_BOT_TOKEN=$BOT_TOKEN TGH_BOT_WHITELIST=4242 TGH_BOT_POLL_TIMEOUT=1
export TGH_BOT_ALBUM_WAIT_MS=800

# The servers a test started (each NAME.pid in $WORK) stop with it, whatever way it ends.
bot_cleanup() {
    local f
    for f in "$WORK"/*.pid; do
        [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap bot_cleanup EXIT

# start_node NAME URL_PATH SCRIPT ARGS...: run a node server on a free port,
# PORT is set once URL_PATH answers. Its pid is in $WORK/NAME.pid.
start_node() {
    local name=$1 probe=$2 deadline
    shift 2
    for _ in 1 2 3 4 5; do
        PORT=$((20000 + RANDOM % 30000))
        node "$@" "$PORT" >"$WORK/$name.out" 2>&1 &
        echo $! >"$WORK/$name.pid"
        deadline=$((SECONDS + 15))
        while [ $SECONDS -lt $deadline ]; do
            curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT$probe" && return 0
            kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null || break
            sleep 0.1
        done
        kill "$(cat "$WORK/$name.pid")" 2>/dev/null || true
    done
    cat "$WORK/$name.out" >&2
    fail "$name did not start"
}

# The scripted Bot API server: BOTAPI is its base URL, its request log botapi.log.
start_fake_botapi() {
    start_node botapi /control/state "$TGH_TEST_SOURCE_DIR/tests/fake_botapi/run.mjs" \
        "$BOT_TOKEN" "$WORK/botapi.log"
    BOTAPI=http://127.0.0.1:$PORT
    export TGH_BOT_API_URL=$BOTAPI
}

# post_update JSON: an Update (without update_id) queued for the bot; prints its id.
post_update() { curl -sf -X POST "$BOTAPI/control/update" -d "$1" | jq -r .update_id; }

# pm USER ID EXTRA_JSON: an update with a private message from USER, message id ID.
pm() {
    jq -cn --argjson u "$1" --argjson id "$2" --argjson x "$3" \
        '{message: ({message_id: $id, date: 1717300000,
                     from: {id: $u, is_bot: false, first_name: "Ann", last_name: "Lee"},
                     chat: {id: $u, type: "private", first_name: "Ann", last_name: "Lee"}} + $x)}'
}

# sent_texts CHAT: the texts the bot sent to CHAT, one per line (newlines as \n).
sent_texts() {
    curl -sf "$BOTAPI/control/sent" |
        jq -r --arg c "$1" '.[] | select(.method == "sendMessage" and (.chat_id | tostring) == $c)
                            | .text | gsub("\n"; "\\n")'
}

# bot_log METHOD: the logged requests of METHOD, one JSON object per line.
bot_log() { jq -c --arg m "$1" 'select(.method == $m)' "$WORK/botapi.log"; }

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds.
wait_for() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@"; do
        [ $SECONDS -lt $deadline ] || fail "timed out waiting for $what"
        sleep 0.2
    done
}
