#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The scale-out path end to end on real RabbitMQ, PostgreSQL and Redis:
# events published to tg.messages.v2 are committed by `tgharvest work`
# exactly once, edits become versions, deletes tombstones, poison goes to
# the dead-letter queue with its reason and to ingestion_errors, a second
# delivery of everything is skipped through Redis without touching the
# store, and `replay` brings dead letters and JSON-lines files back.
. "$(dirname "$0")/scale_lib.sh"
use_shared

N=20000 CHATS=4 EV=10 DV=25 PV=1000
gen $N $CHATS $EV $DV $PV >"$WORK/stream.jsonl"
lines=$(wc -l <"$WORK/stream.jsonl")
poison=$((lines - $(grep -cE '"content_hash":"[0-9a-f]{64}"' "$WORK/stream.jsonl")))
[ "$poison" -ge 20 ] || fail "the stream has only $poison poison lines"
# In pages of 37 lines (as collectors publish pages): poison lines sit at
# every position of a page, among good events of several chats.
PAGE=37
pages=$(((lines + PAGE - 1) / PAGE))
publish "$WORK/stream.jsonl" $PAGE
assert_eq "queued" "$pages" "$(depth tg.messages.v2)"

# One worker drains it.
export TGH_BATCH_SIZE=500
assert_status 0 tgh work --drain 2
summary=$(cat "$WORK/out")
assert_eq "received" "$pages" "$(jq .received <<<"$summary")"
assert_eq "dead letters" "$poison" "$(jq .dead_letters <<<"$summary")"
assert_eq "status" '"ok"' "$(jq .status <<<"$summary")"
check_final $N $CHATS $EV $DV
assert_eq "queue empty" "0" "$(depth tg.messages.v2)"
ok "a $lines-line stream in $pages pages is committed exactly once"

# Poison: in ingestion_errors and in the DLQ, each with its reason.
assert_eq "ingestion_errors" "$poison" "$(pg "SELECT count(*) FROM ingestion_errors")"
assert_eq "dead-letter queue" "$poison" "$(depth tg.messages.dlq)"
qtool peek "$TGH_QUEUE" tg.messages.dlq 1000 >"$WORK/dlq.jsonl"
assert_eq "DLQ messages with a reason" "$poison" "$(jq -r 'select(.error != null and (.error | length) > 0) | .error' "$WORK/dlq.jsonl" | wc -l)"
assert_contains "a truncated payload's reason" "invalid JSON" "$WORK/dlq.jsonl"
assert_contains "a newer schema's reason" "schema_version" "$WORK/dlq.jsonl"
reasons=$(pg "SELECT count(*) FROM ingestion_errors WHERE reason <> '' AND payload <> ''")
assert_eq "ingestion_errors with reason and payload" "$poison" "$reasons"
# Each dead letter is its line alone, named by its page and its digest.
assert_eq "DLQ bodies of one line" "$poison" "$(jq -r '.body | split("\n") | length' "$WORK/dlq.jsonl" | grep -c '^1$')"
named=$(pg "SELECT count(*) FROM ingestion_errors WHERE position ~ '^message_id line-[0-9]+[+][0-9]+, sha256 [0-9a-f]{32}$'")
assert_eq "positions naming page and payload" "$poison" "$named"
grep -vE '"content_hash":"[0-9a-f]{64}"' "$WORK/stream.jsonl" | sort >"$WORK/poison.sorted"
jq -r .body "$WORK/dlq.jsonl" | sort >"$WORK/dlq.sorted"
cmp -s "$WORK/poison.sorted" "$WORK/dlq.sorted" || fail "the DLQ does not hold exactly the poison lines"
ok "poison is dead-lettered with its reason, in the DLQ and in ingestion_errors"

# Replay of dead letters: back on the main queue, refused again with their
# reasons; ingestion_errors keeps one row per payload.
assert_status 0 tgh replay --dead-letters
assert_eq "replayed" "$poison" "$(jq .published "$WORK/out")"
assert_eq "DLQ emptied by replay" "0" "$(depth tg.messages.dlq)"
assert_status 0 tgh work --drain 2
assert_eq "dead letters again" "$poison" "$(jq .dead_letters "$WORK/out")"
assert_eq "ingestion_errors after replay" "$poison" "$(pg "SELECT count(*) FROM ingestion_errors")"
assert_eq "back in the DLQ" "$poison" "$(depth tg.messages.dlq)"
ok "replay --dead-letters republishes, and poison stays poison"

# Everything again: Redis knows every state, nothing reaches the store.
before=$(pg "SELECT count(*), max(updated_at) FROM messages")
publish "$WORK/stream.jsonl"
assert_status 0 tgh work --drain 2
summary=$(cat "$WORK/out")
valid=$((lines - poison))
dups=$(jq .duplicates_skipped <<<"$summary")
# Deletes always reach the store. An upsert is skipped when Redis holds its
# state; an older version (the original of an edited or deleted message)
# meets the newer state there and goes to the store, which changes nothing.
committed=$(jq .committed <<<"$summary")
assert_eq "skipped + committed" "$valid" "$((dups + committed))"
assert_eq "unchanged" "$committed" "$(jq .unchanged <<<"$summary")"
[ "$dups" -ge $((valid * 3 / 4)) ] || fail "only $dups of $valid skipped by Redis"
for k in new edited deleted refreshed; do
    assert_eq "$k on redelivery" "0" "$(jq .$k <<<"$summary")"
done
assert_eq "store untouched" "$before" "$(pg "SELECT count(*), max(updated_at) FROM messages")"
check_final $N $CHATS $EV $DV
ok "a redelivered stream is skipped by Redis de-duplication"

# The recent cache: at most 1000 ids of a chat (5000 messages). Every
# message of the newest 1000 ids that is not deleted is there (the window the
# cache may vouch for), and no deleted one; an inserted one has its event.
chat=-1009000000000
rc() { redis-cli -u "$TGH_CACHE" "$@"; }
recent=$(rc ZCARD "telegram:channel:$chat:recent")
[ "$recent" -ge 960 ] && [ "$recent" -le 1000 ] || fail "recent set size $recent"
assert_eq "the newest 1000 ids but the deleted" \
    "$(pg "SELECT string_agg(message_id::text, ' ' ORDER BY message_id) FROM messages
           WHERE chat_id = $chat AND deleted_at IS NULL AND message_id > 4000")" \
    "$(rc ZRANGEBYSCORE "telegram:channel:$chat:recent" 4001 +inf | paste -sd' ')"
for id in $(pg "SELECT message_id FROM messages WHERE chat_id = $chat AND deleted_at IS NOT NULL"); do
    [ -z "$(rc ZSCORE "telegram:channel:$chat:recent" "$id")" ] || fail "deleted $id is in the recent set"
done
assert_eq "a recent message's event" "4999" "$(rc GET "telegram:msg:$chat:4999" | jq .message_id)"
assert_eq "a deleted message is not cached" "" "$(rc GET "telegram:msg:$chat:4975")"
ttl=$(rc TTL "telegram:dedup:$chat:1")
[ "$ttl" -gt 0 ] || fail "dedup key without a TTL ($ttl)"
ok "recent-message cache and dedup keys are written after commit"

# Without Redis the store's upsert alone keeps it exactly-once.
redis-cli -u "$TGH_CACHE" FLUSHALL >/dev/null
publish "$WORK/stream.jsonl"
TGH_CACHE=none assert_status 0 tgh work --drain 2
assert_eq "duplicates skipped without a cache" "0" "$(jq .duplicates_skipped "$WORK/out")"
assert_eq "new without a cache" "0" "$(jq .new "$WORK/out")"
check_final $N $CHATS $EV $DV
ok "without Redis the idempotent upsert keeps the same state"

# Replay of a JSON-lines file: valid lines published, invalid ones named.
printf '%s\n' "$(sed -n 1p "$WORK/stream.jsonl")" 'not an event' >"$WORK/replay.jsonl"
assert_status 1 tgh replay "$WORK/replay.jsonl"
assert_eq "published from file" "1" "$(jq .published "$WORK/out")"
assert_contains "invalid line named" "replay.jsonl:2:" "$WORK/err"
ok "replay FILE publishes valid events and names invalid lines"

# work refuses a non-AMQP queue with a clear message.
TGH_QUEUE=memory assert_status 2 tgh work
assert_contains "queue URL error" "TGH_QUEUE must be an amqp:// URL" "$WORK/err"
ok "work needs an amqp:// queue"

# Retention drops whole monthly partitions (the stream is all in 2023-11).
assert_status 0 tgh cleanup
assert_eq "retention 0 keeps everything" "0" "$(jq .messages_removed "$WORK/out")"
assert_status 0 tgh cleanup --retention-days 36500
assert_eq "a century keeps everything" "0" "$(jq .messages_removed "$WORK/out")"
has_nov() { pg "SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass AND inhrelid::regclass::text = 'messages_2023_11'"; }
assert_eq "partition of 2023-11 before" "1" "$(has_nov)"
assert_status 0 tgh cleanup --retention-days 30
assert_eq "removed by retention" "$N" "$(jq .messages_removed "$WORK/out")"
assert_eq "partition of 2023-11 dropped" "0" "$(has_nov)"
assert_eq "versions of removed messages" "0" "$(pg "SELECT count(*) FROM message_versions")"
ok "cleanup drops whole months past TGH_RETENTION_DAYS"

# Sharded collectors: `collect --shard I/N` takes the tracked rows whose id
# modulo N is I, publishing to RabbitMQ; the two shards together take all.
world '[{"id": -1001600000001, "kind": "channel", "title": "S1", "username": "s_one", "history": {"count": 120, "start_date": 1700000000, "step_s": 60}},
        {"id": -1001600000002, "kind": "channel", "title": "S2", "username": "s_two", "history": {"count": 130, "start_date": 1700000000, "step_s": 60}},
        {"id": -1001600000003, "kind": "channel", "title": "S3", "username": "s_three", "history": {"count": 140, "start_date": 1700000000, "step_s": 60}},
        {"id": -1001600000004, "kind": "channel", "title": "S4", "username": "s_four", "history": {"count": 150, "start_date": 1700000000, "step_s": 60}}]'
login
for c in s_one s_two s_three s_four; do assert_status 0 tgh chats add "@$c"; done
tgh chats list --json >"$WORK/tracked.jsonl"
for shard in 0 1; do
    want=$(jq -r "select(.id % 2 == $shard) | .chat_id" "$WORK/tracked.jsonl" | sort | tr '\n' ' ')
    assert_status 0 tgh collect --once --full --json --shard $shard/2
    got=$(jq -r '.chats[].chat_id' "$WORK/out" | sort | tr '\n' ' ')
    assert_eq "chats of shard $shard/2" "$want" "$got"
    n=$(jq -r "select(.id % 2 == $shard) | .chat_id" "$WORK/tracked.jsonl" |
        sed -E 's/-100160000000//' | awk '{ s += 110 + 10 * $1 } END { print s }')
    assert_eq "published by shard $shard/2" "$n" "$(jq '[.chats[].published] | add' "$WORK/out")"
done
assert_status 0 tgh work --drain 2
assert_eq "sharded chats in PostgreSQL" "540" "$(pg "SELECT count(*) FROM messages WHERE chat_id BETWEEN -1001600000004 AND -1001600000001")"
assert_status 2 tgh collect --once --shard 2/2
assert_contains "bad shard" "--shard: expected I/N" "$WORK/err"
ok "collect --shard splits the tracked chats between collectors"
