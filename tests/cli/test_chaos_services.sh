#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The servers fail under a running worker (private servers, so stopping them
# disturbs no other test), while a publisher keeps adding to the stream:
#   - Redis stops: the worker goes on without de-duplication (fail-open);
#   - PostgreSQL stops for 30+ s: the breaker opens, the held batch is neither
#     acked nor requeued, there is no hot retry loop, and the worker resumes
#     when PostgreSQL is back;
#   - RabbitMQ restarts: publisher and worker reconnect.
# Then a TDLib collector publishing to RabbitMQ rides through a broker
# restart. Each phase ends with the exact expected PostgreSQL contents.
. "$(dirname "$0")/scale_lib.sh"
use_private 10

N=90000 CHATS=3 EV=15 DV=40
gen $N $CHATS $EV $DV 0 >"$WORK/stream.jsonl"
lines=$(wc -l <"$WORK/stream.jsonl")
split -n l/60 -d -a 2 "$WORK/stream.jsonl" "$WORK/chunk."
# A publisher that trickles the stream in over about a minute.
(
    for f in "$WORK"/chunk.*; do
        qtool publish "$TGH_QUEUE" 25 <"$f" >/dev/null || exit 1
        sleep 1
    done
) 2>"$WORK/publisher.err" &
publisher=$!
PIDS+=("$publisher")

export TGH_BATCH_SIZE=500
start_worker w
worker=$WORKER_PID
stored() { pg "SELECT count(*) FROM messages" 2>/dev/null || echo -1; }
stored_over() { [ "$(stored)" -gt "$1" ]; }
queue_empty() { [ "$(depth tg.messages.v2)" = 0 ]; }
wait_for 30 "first commits" stored_over 0

# Redis down: commits go on.
svc down redis
a=$(stored)
sleep 4
b=$(stored)
[ "$b" -gt "$a" ] || fail "no progress while Redis was down ($a -> $b)"
svc up redis
ok "Redis down: the worker went on ($a -> $b messages)"

# PostgreSQL down for 32 s.
sleep 1
svc down pg
sleep 3
held1=$(depth tg.messages.v2)
sleep 29
kill -0 "$worker" 2>/dev/null || { cat "$WORK/w.err" >&2; fail "the worker died while PostgreSQL was down"; }
grep -q "breaker open" "$WORK/w.err" || { cat "$WORK/w.err" >&2; fail "the breaker did not open"; }
svc up pg
c=$(stored)
wait_for 60 "commits after PostgreSQL came back" stored_over "$c"
ok "PostgreSQL down 32 s: breaker opened, worker resumed (ready during outage: $held1)"

# RabbitMQ restart (the publisher and the worker both ride through it).
sleep 2
svc down amqp
depth tg.messages.v2 >/dev/null 2>&1 && fail "RabbitMQ still answers after being stopped"
sleep 2
svc up amqp
wait "$publisher" || { cat "$WORK/publisher.err" >&2; fail "the publisher did not survive the broker restart"; }
wait_for 120 "the queue to drain" queue_empty
sleep 3 # the last partial batch commits after TGH_BATCH_WAIT_MS
kill -TERM "$worker"
wait "$worker" || { cat "$WORK/w.err" >&2; fail "worker exit status after SIGTERM"; }
summary=$(cat "$WORK/w.out")
check_final $N $CHATS $EV $DV
[ "$(jq .breaker_opens <<<"$summary")" -ge 1 ] || fail "breaker_opens: $summary"
[ "$(jq .broker_reconnects <<<"$summary")" -ge 1 ] || fail "broker_reconnects: $summary"
[ "$(jq .cache_failures <<<"$summary")" -ge 1 ] || fail "cache_failures: $summary"
retries=$(jq .retries <<<"$summary")
[ "$retries" -le 20 ] || fail "$retries commit retries in a 32 s outage: a hot loop ($summary)"
ok "$lines events through Redis, PostgreSQL and RabbitMQ outages: final state exact ($summary)"

# A collector publishing to RabbitMQ across a broker restart.
world '[{"id": -1001500000001, "kind": "channel", "title": "Chaos", "username": "chaos",
         "history": {"count": 6000, "start_date": 1700000000, "step_s": 60}}]' 80
login
tgh chats add @chaos >/dev/null 2>"$WORK/add.err" || { cat "$WORK/add.err" >&2; fail "chats add"; }
"$TGHARVEST" collect --once --full --json >"$WORK/collect.out" 2>"$WORK/collect.err" &
collector=$!
PIDS+=("$collector")
wait_for 60 "the first published page" grep -q "from_message_id" "$TGH_FAKE_TD_LOG"
sleep 1
svc down amqp
sleep 3
svc up amqp
wait "$collector" || { cat "$WORK/collect.err" >&2; fail "collect across a broker restart"; }
assert_eq "published by the collector" "6000" "$(jq '[.chats[].published] | add' "$WORK/collect.out")"
assert_status 0 tgh work --drain 3
got=$(pg "SELECT count(*), count(DISTINCT message_id), min(message_id), max(message_id) FROM messages WHERE chat_id = -1001500000001")
assert_eq "collected messages in PostgreSQL" "6000|6000|1|6000" "$got"
ok "collector and worker rode through a RabbitMQ restart"
