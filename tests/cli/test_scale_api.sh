#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The API of the scale-out deployment: workers commit into PostgreSQL and
# append each change to the Redis stream; two `serve` processes follow it.
# A client of either sees every new, edited and deleted message once, with
# the same ids, and can resume on the other server; polling from the
# PostgreSQL store agrees, from Redis's recent cache too; /readyz checks the
# broker and Redis; the worker's heartbeat and metrics are visible.
. "$(dirname "$0")/scale_lib.sh"
. "$(dirname "$0")/api_lib.sh"

use_shared
# 60 messages in 2 chats, every 10th edited, every 15th deleted: 60 + 6 + 4 changes.
gen 60 2 10 15 0 >"$WORK/stream.jsonl"
# The worker creates the schema; the API servers open an existing store only.
TGH_METRICS_ADDR=127.0.0.1:0 start_worker w1 --drain 300
for _ in $(seq 100); do pg "SELECT 1 FROM schema_version LIMIT 1" >/dev/null 2>&1 && break; sleep 0.1; done
start_http a serve
PIDS+=("$(cat "$WORK/a.pid")")
A=$BASE
stream_start s1 /api/v1/stream
expect 200 /readyz
assert_eq "readyz checks" "true true true" "$(jb '[.checks.store.ok, .checks.queue.ok, .checks.cache.ok] | map(tostring) | join(" ")')"
ok "serve against PostgreSQL, RabbitMQ and Redis is ready"

publish "$WORK/stream.jsonl" 7
stream_wait s1 70 60
stream_data s1 | jq -r .kind | sort | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ' >"$WORK/kinds"
assert_eq "changes by kind" "delete=4 edit=6 new=60" "$(cat "$WORK/kinds")"
assert_eq "no change twice" "" "$(stream_data s1 | jq -r '"\(.chat_id):\(.message_id):\(.kind)"' | sort | uniq -d)"
stream_ids s1 | grep -qv '^[0-9]*-[0-9]*$' && fail "ids are not Redis stream ids"
ok "every change of the workers reaches the stream once"

# A second API server: resume there after the 50th id of the first.
start_http b serve
PIDS+=("$(cat "$WORK/b.pid")")
mid=$(stream_ids s1 | sed -n 50p)
stream_start s2 /api/v1/stream "Last-Event-ID: $mid"
stream_wait s2 20
assert_eq "same ids on the other server" "$(stream_ids s1 | sed -n '51,70p' | paste -sd' ')" \
    "$(stream_ids s2 | paste -sd' ')"
ok "a client resumes on another API server with the same ids"

# Redelivering everything changes nothing, so nothing more is streamed.
publish "$WORK/stream.jsonl" 7
for _ in $(seq 100); do [ "$(depth tg.messages.v2)" = 0 ] && break; sleep 0.1; done
sleep 1
assert_eq "no frame for redeliveries" 70 "$(grep -c '^event: message' "$WORK/s1.sse")"
ok "redelivered events are not streamed again"

BASE=$A
chat=-1009000000000
expect 200 "/api/v1/chats/$chat/messages?limit=1000"
assert_eq "polled ids" "$(pg "SELECT string_agg(message_id::text, ' ' ORDER BY message_id) FROM messages WHERE chat_id = $chat AND deleted_at IS NULL")" \
    "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
# Polling: a store answer that reaches the chat's newest message warms the
# recent cache (the poll above did); then the cache answers, and exactly as
# the store does (a date bound makes the store answer). An edit a worker
# commits drops its cached copy: the next poll asks the store (and sees the
# edit) and warms it again.
poll() {
    expect 200 "/api/v1/chats/$chat/messages?after_id=20&limit=100${2:-}"
    jq -S .messages "$WORK/body" >"$WORK/$1.json"
    jb .source
}
assert_eq "a date bound asks the store" store "$(poll s1 '&since=2000-01-01')"
assert_eq "warmed" cache "$(poll c1)"
cmp -s "$WORK/s1.json" "$WORK/c1.json" || { diff "$WORK/s1.json" "$WORK/c1.json" | head >&2; fail "cache and store answers differ"; }
[ "$(jq length "$WORK/s1.json")" -ge 8 ] || fail "the window is too small"
id=$(jq '.[2].message_id' "$WORK/s1.json")
date=$(jq '.[2].date' "$WORK/s1.json")
jq -cn --argjson c $chat --argjson id $((id << 20)) --argjson d "$date" '{"@type": "message", id: $id,
    chat_id: $c, date: $d, edit_date: ($d + 99), is_channel_post: true,
    sender_id: {"@type": "messageSenderChat", chat_id: $c},
    content: {"@type": "messageText", text: {"@type": "formattedText", text: "edited by the test",
    entities: []}}}' >"$WORK/edit.td"
"$TGHARVEST" decode --from tdlib "$WORK/edit.td" >"$WORK/edit.jsonl"
stream_count=$(grep -c '^event: message' "$WORK/s1.sse")
publish "$WORK/edit.jsonl"
stream_wait s1 $((stream_count + 1))
assert_eq "after an edit" store "$(poll c2)"
assert_eq "the edit is there" "edited by the test" "$(jq -r ".[] | select(.message_id == $id) | .text" "$WORK/c2.json")"
assert_eq "then the cache again" cache "$(poll c3)"
assert_eq "the store's answer" store "$(poll s3 '&since=2000-01-01')"
cmp -s "$WORK/s3.json" "$WORK/c3.json" || fail "cache and store answers differ after the edit"
ok "polling from PostgreSQL warms the Redis recent cache; both give the same answer, edits included"

expect 200 /status
assert_eq "stream follows redis" "redis true" "$(jb '"\(.stream.source) \(.stream.connected)"')"
assert_eq "queue depth known" 0 "$(jb .queue.depth)"
assert_eq "the worker's heartbeat: breaker" "closed false" "$(jb '.workers[0] | "\(.breaker) \(.store_down)"')"
# A heartbeat every 5 s: its counts catch up with the commits within one.
for _ in $(seq 100); do
    [ "$(jb '.workers[0].committed // 0')" -ge 70 ] && break
    sleep 0.1
    expect 200 /status
done
[ "$(jb '.workers[0].committed')" -ge 70 ] || fail "the worker's heartbeat lacks its counts"
ok "polling from PostgreSQL; status shows the stream's source and the queue"

# The worker's own /metrics (TGH_METRICS_ADDR).
wport=$(sed -n 's|^http: listening on http://127.0.0.1:\([0-9]*\)/ (metrics)|\1|p' "$WORK/w1.err")
[ -n "$wport" ] || fail "the worker did not serve its metrics"
BASE=http://127.0.0.1:$wport
expect 200 /metrics
metric() { awk -v m="$1" '$1 == m { print $2 }' "$WORK/body"; }
assert_eq "worker: new" 60 "$(metric 'tgh_pipeline_events_committed_total{outcome="new"}')"
assert_eq "worker: edits (and the test's own)" 7 "$(metric 'tgh_pipeline_events_committed_total{outcome="edit"}')"
[ "$(metric 'tgh_pipeline_duplicates_skipped_total{stage="cache"}')" -ge 60 ] || fail "no Redis skips counted"
assert_eq "worker: breaker closed" 0 "$(metric tgh_pipeline_breaker_state)"
[ "$(metric tgh_pipeline_batch_events_count)" -ge 1 ] || fail "no batch sizes"
expect_error 404 not_found /api/v1/chats
ok "the worker serves its own metrics, and nothing else"

BASE=$A
stop_http b
stop_http a
ok "both API servers stop on SIGTERM"
