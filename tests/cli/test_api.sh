#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The HTTP API over real HTTP against `tgharvest serve` on a SQLite archive:
# every route, keys and roles, bad parameters and limits, the error shape,
# polling order and paging, message history, search, runs, dead letters
# (retry and resolve), chat management, and keys never echoed or logged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/api_lib.sh"

C=-1001555000001 D=-1001555000002 T0=1732000000
# td CHAT ID DATE TEXT [EDIT_DATE]: a TDLib message object, which `decode
# --from tdlib` turns into the canonical event the collector would make.
td() {
    jq -cn --argjson c "$1" --argjson id $(($2 << 20)) --argjson d "$3" --arg t "$4" \
        --argjson e "${5:-null}" '{"@type": "message", id: $id, chat_id: $c, date: $d,
          is_channel_post: true, sender_id: {"@type": "messageSenderChat", chat_id: $c},
          content: {"@type": "messageText", text: {"@type": "formattedText", text: $t, entities: []}}}
          + (if $e then {edit_date: $e} else {} end)'
}
# ev ...: the same as one schema-v1 event line.
ev() {
    td "$@" >"$WORK/one.json"
    tgh decode --from tdlib "$WORK/one.json"
}
for i in $(seq 1 30); do td $C "$i" $((T0 + i * 60)) "harbour note $i"; done >"$WORK/a.td"
for i in $(seq 1 5); do td $D "$i" $((T0 + i * 60)) "other $i"; done >>"$WORK/a.td"
tgh decode --from tdlib "$WORK/a.td" >"$WORK/a.jsonl"
# Two bad lines: dead letters of source "event".
echo '{"schema_version": 1, "op": "upsert"' >>"$WORK/a.jsonl"
echo '{"schema_version": 9}' >>"$WORK/a.jsonl"
tgh import --from event "$WORK/a.jsonl" >/dev/null 2>&1 || true # it reports the two bad lines
# Message 7 edited twice: two earlier versions. Message 9 deleted, and 12..23
# (more than a page of 10 in a row).
{
    td $C 7 $((T0 + 420)) "harbour note 7, edited" $((T0 + 5000))
    td $C 7 $((T0 + 420)) "harbour note 7, edited again" $((T0 + 6000))
    jq -cn --argjson c $C --argjson ids "[$(for i in 9 $(seq 12 23); do printf '%s,' $((i << 20)); done | sed 's/,$//')]" \
        '{"@type": "updateDeleteMessages", chat_id: $c, message_ids: $ids, is_permanent: true,
          from_cache: false}'
} >"$WORK/b.td"
tgh decode --from tdlib "$WORK/b.td" >"$WORK/b.jsonl"
assert_status 0 tgh import --from event "$WORK/b.jsonl"
assert_eq "dead letters imported" 2 "$(sql "SELECT count(*) FROM ingestion_errors")"
DELETED_AT=$(sql "SELECT deleted_at FROM messages WHERE message_id = 9")

start_http serve serve
trap 'kill -9 $(cat "$WORK/serve.pid") 2>/dev/null || true; rm -rf "$WORK"' EXIT

# ---- open routes, keys, roles ----
expect 200 -k "" /healthz
assert_eq "healthz" ok "$(jb .status)"
expect 200 -k "" /readyz
assert_eq "readyz" ready "$(jb .status)"
assert_eq "readyz store check" true "$(jb .checks.store.ok)"
expect_error 401 unauthorized -k "" /api/v1/chats
curl -sS -D "$WORK/hdr" -o /dev/null "$BASE/api/v1/chats"
grep -qi '^WWW-Authenticate: Bearer' "$WORK/hdr" || fail "401 without WWW-Authenticate"
expect_error 401 unauthorized -k "not-a-key-0123456789" /api/v1/chats
assert_eq "bad key named as such" "the API key is not valid" "$(jb .error.message)"
expect 200 -k "" -H "Authorization: Bearer $READ_KEY" /api/v1/chats
expect_error 403 forbidden -X POST /api/v1/chats/$C/disable
expect_error 401 unauthorized -k "" /metrics
ok "health open; keys by header or bearer; 401 and 403"

# ---- chats, stats, status ----
expect 200 /api/v1/chats
assert_eq "chats" "$C $D" "$(jb '[.chats[].chat_id] | sort | reverse | map(tostring) | join(" ")')"
assert_eq "messages of C (13 deleted)" 17 "$(jb ".chats[] | select(.chat_id == $C) | .messages")"
assert_eq "deleted of C" 13 "$(jb ".chats[] | select(.chat_id == $C) | .deleted")"
assert_eq "last message time" $((T0 + 1800)) "$(jb ".chats[] | select(.chat_id == $C) | .last_message_at")"
expect 200 /api/v1/stats
assert_eq "stats messages" 22 "$(jb .messages)"
assert_eq "stats versions" 2 "$(jb .versions)"
assert_eq "stats dead letters" 2 "$(jb .dead_letters)"
expect 200 /status
assert_eq "status mode" serve "$(jb .mode)"
assert_eq "status version" "$("$TGHARVEST" --version | awk '{print $2}')" "$(jb .version)"
assert_eq "status open dead letters" 2 "$(jb .dead_letters.open)"
assert_eq "status chats" 2 "$(jb '.chats | length')"
assert_eq "status lag" "true" "$(jb "[.chats[] | select(.chat_id == $C) | .lag_s > 0] | .[0]")"
assert_eq "status last import run" replay "$(jb '.last_runs | keys | map(select(. == "replay")) | .[0]')"
ok "chats, stats, status"

# ---- polling ----
expect 200 "/api/v1/chats/$C/messages?limit=10"
assert_eq "first page ids" "1 2 3 4 5 6 7 8 10 11" "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
assert_eq "deleted left out, page still full" 10 "$(jb '.messages | length')"
assert_eq "next" 11 "$(jb .next.after_id)"
assert_eq "source" store "$(jb .source)"
assert_eq "edited text is current" "harbour note 7, edited again" "$(jb '.messages[6].text')"
expect 200 "/api/v1/chats/$C/messages?limit=10&after_id=11"
assert_eq "second page, past 12 deleted in a row" "24 25 26 27 28 29 30" \
    "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
expect 200 "/api/v1/chats/$C/messages?limit=5&order=desc&before_id=24"
assert_eq "newest first, past the deleted run" "11 10 8 7 6" \
    "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
expect 200 "/api/v1/chats/$C/messages?after_id=25"
assert_eq "last page" "26 27 28 29 30" "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
assert_eq "no next after the last page" null "$(jb .next)"
expect 200 "/api/v1/chats/$C/messages?order=desc&limit=3"
assert_eq "newest first" "30 29 28" "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
assert_eq "desc next" 28 "$(jb .next.before_id)"
expect 200 "/api/v1/chats/$C/messages?include_deleted=true&after_id=8&before_id=11"
assert_eq "deleted included" "9 10" "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
assert_eq "deleted marked" "$DELETED_AT" "$(jb '.deleted["9"]')"
expect 200 "/api/v1/chats/$C/messages?since=$((T0 + 600))&until=$((T0 + 720))"
assert_eq "date window" "10 11" "$(jb '[.messages[].message_id] | map(tostring) | join(" ")')"
expect 200 "/api/v1/chats/-1009999/messages"
assert_eq "unknown chat: empty" 0 "$(jb '.messages | length')"
ok "polling: order, paging, windows, deletions"

# ---- one message, search ----
expect 200 "/api/v1/chats/$C/messages/7"
assert_eq "versions oldest first" "harbour note 7|harbour note 7, edited" "$(jb '[.versions[].text] | join("|")')"
assert_eq "current" "harbour note 7, edited again" "$(jb .event.text)"
assert_eq "edit date" $((T0 + 6000)) "$(jb .edit_date)"
assert_eq "not deleted" null "$(jb .deleted_at)"
expect 200 "/api/v1/chats/$C/messages/9"
assert_eq "deleted_at" "$DELETED_AT" "$(jb .deleted_at)"
expect_error 404 not_found "/api/v1/chats/$C/messages/999"
expect 200 "/api/v1/search?q=edited&chat=$C"
assert_eq "search hit" 7 "$(jb '.results[0].message_id')"
assert_eq "search snippet marks" true "$(jb '.results[0].snippet | test("\\[edited")')"
expect 200 "/api/v1/search?q=other"
assert_eq "search all chats" 5 "$(jb '.results | length')"
expect_error 400 bad_parameter "/api/v1/search"
ok "message with history and deletion; search"

# ---- activity ----
H=$((T0 - T0 % 3600))
expect 200 "/api/v1/stats/activity?chat=$C&since=$((H + 10))&until=$((H + 7200))"
assert_eq "hour buckets, since rounded down" "2 $H" "$(jb '"\(.buckets | length) \(.buckets[0].t)"')"
assert_eq "messages per hour (the deleted one too)" "30 0" "$(jb '[.buckets[].messages] | map(tostring) | join(" ")')"
expect 200 "/api/v1/stats/activity?bucket=day&since=$H&until=$((H + 86400))"
assert_eq "a day bucket over both chats" 35 "$(jb '[.buckets[].messages] | add')"
expect_error 400 bad_parameter "/api/v1/stats/activity?since=0&until=99999999"
ok "activity buckets"

# ---- bad parameters and limits ----
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?limit=0"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?limit=1001"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?limit=ten"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?after_id=-1"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?since=2024-02-30"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?order=sideways"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?colour=red"
assert_eq "unknown parameter named" true "$(jb '.error.message | test("colour")')"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?limit=1&limit=2"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?include_deleted=maybe"
expect_error 400 bad_parameter "/api/v1/search?q=$(head -c 600 /dev/zero | tr '\0' a)"
expect_error 400 bad_parameter "/api/v1/chats/$C/messages?since=%ff%fe"
jq -e . "$WORK/body" >/dev/null || fail "an error quoting bad bytes is not JSON"
expect_error 404 not_found /api/v1/nothing
expect_error 404 not_found /api/v1/chats/abc/messages
expect_error 405 method_not_allowed -X DELETE /api/v1/chats
curl -sS -D "$WORK/hdr" -o /dev/null -X DELETE -H "X-API-Key: $READ_KEY" "$BASE/api/v1/chats"
grep -qi '^Allow: GET, POST' "$WORK/hdr" || fail "405 without Allow"
expect_error 414 uri_too_long "/api/v1/chats?x=$(head -c 3000 /dev/zero | tr '\0' a)"
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big"
code=$(curl -sS -o "$WORK/body" -w '%{http_code}' -H "X-API-Key: $ADMIN_KEY" \
    -H 'Content-Type: application/json' --data-binary @"$WORK/big" "$BASE/api/v1/chats")
assert_eq "body over 64 KiB" 413 "$code"
expect_error 400 bad_request -k "$ADMIN_KEY" -X POST -d '{"spec": ' /api/v1/chats
expect_error 400 bad_request -k "$ADMIN_KEY" -X POST -d '[1]' /api/v1/chats
expect_error 400 bad_request -k "$ADMIN_KEY" -X POST -d '{"spec": "@x", "colour": 1}' /api/v1/chats
expect_error 400 bad_request -k "$ADMIN_KEY" -X POST -d '{"spec": "@x", "comments": "yes"}' /api/v1/chats
ok "bad parameters, unknown routes, methods, long URIs, big and bad bodies"

# ---- chat management ----
expect 201 -k "$ADMIN_KEY" -X POST -d '{"spec": "@api_desk", "comments": true}' /api/v1/chats
assert_eq "tracked new" new "$(jb .tracked.status)"
assert_eq "tracked spec" "@api_desk" "$(jb .tracked.spec)"
assert_eq "tracked comments" true "$(jb .tracked.comments)"
expect 200 -k "$ADMIN_KEY" -X POST -d '{"spec": "@api_desk"}' /api/v1/chats
assert_eq "same spec: one row" 1 "$(sql "SELECT count(*) FROM tracked_chats WHERE spec = '@api_desk'")"
# A resolved tracked row for C, as `chats add` leaves it.
sql "INSERT INTO tracked_chats (spec, chat_id, enabled, status, added_at, updated_at)
     VALUES ('$C', $C, 1, 'error', 1, 1)"
sql "UPDATE tracked_chats SET error = 'CHANNEL_PRIVATE' WHERE chat_id = $C"
expect 200 -k "$ADMIN_KEY" -X POST /api/v1/chats/$C/disable
assert_eq "disabled" false "$(jb .tracked.enabled)"
assert_eq "disabled in the store" 0 "$(sql "SELECT enabled FROM tracked_chats WHERE chat_id = $C")"
expect 200 -k "$ADMIN_KEY" -X POST /api/v1/chats/$C/enable
assert_eq "enabled" true "$(jb .tracked.enabled)"
assert_eq "enable clears the error" "new|" "$(sql "SELECT status || '|' || coalesce(error, '') FROM tracked_chats WHERE chat_id = $C")"
expect 202 -k "$ADMIN_KEY" -X POST /api/v1/chats/$C/backfill
[ "$(jb .tracked.backfill_requested_at)" -ge "$(($(date +%s) - 60))" ] || fail "backfill not requested"
expect_error 404 not_found -k "$ADMIN_KEY" -X POST /api/v1/chats/-100424242/enable
expect 200 /api/v1/chats
assert_eq "tracked in the list" true "$(jb ".chats[] | select(.chat_id == $C) | .tracked.enabled")"
assert_eq "unresolved tracked chat listed" "@api_desk" "$(jb '.chats[] | select(.chat_id == 0) | .tracked.spec')"
ok "chats: add, re-add, disable, enable (clears error), backfill request"

# ---- runs ----
expect 200 "/api/v1/runs?limit=1"
assert_eq "newest run first" "$(sql "SELECT max(id) FROM collection_runs")" "$(jb '.runs[0].id')"
before=$(jb .next.before_id)
expect 200 "/api/v1/runs?before_id=$before"
assert_eq "paging" "$(sql "SELECT count(*) FROM collection_runs WHERE id < $before")" "$(jb '.runs | length')"
expect 200 "/api/v1/runs?kind=replay&status=ok"
[ "$(jb '.runs | length')" -ge 1 ] || fail "no replay runs"
ok "runs, newest first, with paging and filters"

# ---- dead letters ----
expect 200 /api/v1/dead-letters
assert_eq "open dead letters" 2 "$(jb '.dead_letters | length')"
assert_eq "dead letter source" event "$(jb '.dead_letters[0].source')"
id=$(jb '.dead_letters[] | select(.payload | test("schema_version\": 9")) | .id')
expect 200 "/api/v1/dead-letters/$id"
assert_eq "whole payload" '{"schema_version": 9}' "$(jb .payload)"
expect_error 403 forbidden -X POST "/api/v1/dead-letters/$id/retry"
expect_error 422 retry_failed -k "$ADMIN_KEY" -X POST "/api/v1/dead-letters/$id/retry"
assert_eq "retry counted" 1 "$(sql "SELECT retry_count FROM ingestion_errors WHERE id = $id")"
# An operator fixes the payload; the retry now commits it.
fixed=$(ev $C 31 $((T0 + 1860)) "fixed by hand")
sql "UPDATE ingestion_errors SET payload = '$fixed' WHERE id = $id"
expect 200 -k "$ADMIN_KEY" -X POST "/api/v1/dead-letters/$id/retry"
assert_eq "retry result" committed "$(jb .result)"
assert_eq "resolved" true "$(jb '.dead_letter.resolved_at > 0')"
assert_eq "retried message stored" "fixed by hand" "$(sql "SELECT text FROM messages WHERE message_id = 31")"
expect_error 409 conflict -k "$ADMIN_KEY" -X POST "/api/v1/dead-letters/$id/retry"
other=$(sql "SELECT id FROM ingestion_errors WHERE id <> $id")
expect 200 -k "$ADMIN_KEY" -X POST "/api/v1/dead-letters/$other/resolve"
expect 200 "/api/v1/dead-letters?state=open"
assert_eq "none open" 0 "$(jb '.dead_letters | length')"
expect 200 "/api/v1/dead-letters?state=resolved"
assert_eq "two resolved" 2 "$(jb '.dead_letters | length')"
expect_error 404 not_found -k "$ADMIN_KEY" -X POST /api/v1/dead-letters/999999/resolve
expect_error 400 bad_parameter "/api/v1/dead-letters?state=sideways"
ok "dead letters: list, one, retry (fails, then commits after a fix), resolve"

# ---- metrics and OpenAPI ----
expect 200 /metrics
grep -q '^# TYPE tgh_http_requests_total counter' "$WORK/body" || fail "no request counter"
grep -q 'tgh_http_requests_total{route="messages",method="GET",status="400"}' "$WORK/body" ||
    fail "400s of the messages route not counted"
grep -q '^tgh_http_request_duration_seconds_bucket{route="messages",le="+Inf"}' "$WORK/body" ||
    fail "no latency histogram"
grep -q "^tgh_chat_freshness_lag_seconds{chat=\"$C\"} [0-9]" "$WORK/body" || fail "no freshness lag of $C"
grep -q '^tgh_dead_letters_open [0-9]' "$WORK/body" || fail "no open dead letters gauge"
expect 200 -k "" /api/v1/openapi.json
assert_eq "openapi" 3 "$(jb '.openapi | split(".")[0]')"
# Every route is documented, and nothing else: the OpenAPI paths are the route table's.
jb '.paths | keys[] | gsub("\\{[a-z_]+\\}"; "{}")' | sort >"$WORK/documented"
grep -o '"/[a-z0-9/{}._-]*"' "$TGH_TEST_SOURCE_DIR/src/api/api_routes.c" | tr -d '"' |
    grep -v '^/assets/\|^/$' | sort -u >"$WORK/routes"
diff "$WORK/routes" "$WORK/documented" >&2 || fail "docs/openapi.json and the route table differ"
ok "metrics count requests by route and status; OpenAPI covers every route"

# ---- the dashboard's files ----
code=$(curl -sS -o "$WORK/index" -D "$WORK/hdr" -w '%{http_code}' "$BASE/")
assert_eq "dashboard" 200 "$code"
grep -qi '^Content-Security-Policy: default-src .self.' "$WORK/hdr" || fail "no CSP"
expect_error 404 not_found -k "" "/assets/..%2f..%2fetc%2fpasswd"
expect_error 404 not_found -k "" "/assets/nothing.js"
ok "dashboard served with a CSP; asset names cannot escape"

stop_http serve
for k in "$READ_KEY" "$ADMIN_KEY"; do
    ! grep -qF "$k" "$WORK/serve.out" "$WORK/serve.err" || fail "a key reached the output"
done
ok "serve stops on SIGTERM; keys never printed"
