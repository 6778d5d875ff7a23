#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 of workers at random points of a 200,000-event stream: two workers
# consume at once and one of them is killed and restarted again and again.
# Whatever was committed but not acked is redelivered; the final PostgreSQL
# contents are still exactly the stream's state: every message once, one
# version per edit, one tombstone per delete.
. "$(dirname "$0")/scale_lib.sh"
use_shared

N=${TGH_CHAOS_EVENTS:-200000} CHATS=4 EV=20 DV=50
gen $N $CHATS $EV $DV 0 >"$WORK/stream.jsonl"
lines=$(wc -l <"$WORK/stream.jsonl")
# Small pages (10 events), so that the stream lasts through every kill.
publish "$WORK/stream.jsonl" 10
assert_eq "queued" "$(((lines + 9) / 10))" "$(depth tg.messages.v2)"

export TGH_BATCH_SIZE=500
start_worker steady --drain 5
steady=$WORKER_PID
# SIGTERM mid-stream: the batches in hand are committed and acked, then exit 0.
start_worker graceful
graceful=$WORKER_PID
sleep 1
[ "$(depth tg.messages.v2)" -gt 0 ] || fail "the stream was drained before the SIGTERM"
kill -TERM "$graceful"
for _ in $(seq 1 100); do kill -0 "$graceful" 2>/dev/null || break; sleep 0.1; done
kill -0 "$graceful" 2>/dev/null && fail "the worker still runs 10 s after SIGTERM"
wait "$graceful" || { cat "$WORK/graceful.err" >&2; fail "worker exit status after SIGTERM"; }
assert_eq "status after SIGTERM" '"ok"' "$(jq .status "$WORK/graceful.out")"
[ "$(jq .committed "$WORK/graceful.out")" -gt 0 ] || fail "the worker committed nothing: $(cat "$WORK/graceful.out")"
kills=0
for round in $(seq 1 10); do
    start_worker "victim$round"
    victim=$WORKER_PID
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + (r % 80) / 100 }')"
    left=$(depth tg.messages.v2)
    kill -9 "$victim" 2>/dev/null && [ "$left" -gt 0 ] && kills=$((kills + 1))
    wait "$victim" 2>/dev/null || true
done
[ "$kills" -ge 8 ] || fail "only $kills workers were killed while the stream was still queued"
wait "$steady" || { cat "$WORK/steady.err" >&2; fail "the steady worker failed"; }
# What the last victim held goes back to the queue; drain it.
assert_status 0 tgh work --drain 3
assert_eq "queue empty" "0" "$(depth tg.messages.v2)"
assert_eq "nothing dead-lettered" "0" "$(depth tg.messages.dlq)"
check_final $N $CHATS $EV $DV
assert_eq "ingestion_errors" "0" "$(pg "SELECT count(*) FROM ingestion_errors")"
ok "$kills kill -9 and a SIGTERM of a worker during a $lines-event stream: final state exact"
