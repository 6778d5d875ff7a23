#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The dashboard in a real browser: `run` collects a channel from the fake
# TDLib and serves the dashboard; tests/dashboard/dashboard.mjs (Debian's
# chromium through playwright-core) opens every view, sees a message injected
# into the collector arrive live, finds it by search with its edit history,
# and retries a dead letter. The store must then agree. Needs node, chromium
# and playwright-core (scripts/deps.sh): without them the test fails.
. "$(dirname "$0")/collect_lib.sh"
. "$(dirname "$0")/api_lib.sh"

: "${TGH_TEST_SOURCE_DIR:?TGH_TEST_SOURCE_DIR must name the source tree}"
NODE_MODULES=$TGH_TEST_SOURCE_DIR/.deps/npm/node_modules
command -v node >/dev/null 2>&1 || fail "node is missing: apt-get install nodejs npm (scripts/deps.sh)"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing: apt-get install chromium (scripts/deps.sh)"
pw=$(jq -r .version "$NODE_MODULES/playwright-core/package.json" 2>/dev/null || true)
[ "$pw" = 1.65.1 ] || fail "playwright-core 1.65.1 is missing from $NODE_MODULES (found '${pw:-nothing}'):" \
    "run scripts/deps.sh, or npm install --no-save --no-audit --no-fund --prefix .deps/npm playwright-core@1.65.1"
ARTIFACTS=${TGH_TEST_ARTIFACTS:-$WORK/artifacts}
[ -n "${TGH_TEST_ARTIFACTS:-}" ] || echo "note: screenshots go to $WORK/artifacts, removed at the end; set TGH_TEST_ARTIFACTS to keep them"
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS"/*.png

# A channel with 40 messages over the last 20 hours, so the activity chart has bars.
C=-1001000000800 D=-1001000000801 NOW=$(date +%s)
world "[{\"id\": $C, \"kind\": \"channel\", \"title\": \"Dashboard desk\", \"username\": \"dashboard_desk\",
         \"history\": {\"count\": 40, \"start_date\": $((NOW - 72000)), \"step_s\": 1800}}]"
login
assert_status 0 tgh chats add @dashboard_desk

# One dead letter that a retry will fix: an event line of a schema this code
# does not know, then repaired by hand into a valid event of another chat.
echo '{"schema_version": 9}' >"$WORK/bad.jsonl"
tgh import --from event "$WORK/bad.jsonl" >/dev/null 2>&1 || true # it reports the bad line
dl=$(sql "SELECT id FROM ingestion_errors")
[ -n "$dl" ] || fail "the bad line made no dead letter"
# A text-only event's content_hash is the SHA-256 of {"text":...} (docs/internals/model.md).
hash=$(jq -cjn '{text: "repaired by hand"}' | sha256sum | cut -d' ' -f1)
fixed=$(jq -cn --argjson c $D --argjson d $((NOW - 600)) --arg h "$hash" \
    '{schema_version: 1, op: "upsert", source: "tdlib", idempotency_key: "\($c):\($d):1",
      chat: {id: $c, type: "channel", title: "Repaired desk"}, message_id: 1, date: $d,
      text: "repaired by hand", content_hash: $h}')
echo "$fixed" >"$WORK/fixed.jsonl"
assert_status 0 tgh decode --from event "$WORK/fixed.jsonl" # the repaired line is a valid event
sql "UPDATE ingestion_errors SET payload = '$fixed' WHERE id = $dl"
ok "a dead letter ($dl) that a retry will fix"

# A photo message imported from an export with its file, for the message view's media.
P=-1001000000802
mkdir -p "$WORK/export/photos"
echo 'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR4nGM4ISeHFTEMLQkAkL9BAbKfPiIAAAAASUVORK5CYII=' |
    base64 -d >"$WORK/export/photos/photo_1.jpg"
jq -n --argjson d $((NOW - 900)) '{name: "Media desk", type: "public_channel", id: 1000000802,
    messages: [{id: 1, type: "message", date: "2026-01-01T00:00:00", date_unixtime: ($d | tostring),
                from: "Media desk", from_id: "channel1000000802", photo: "photos/photo_1.jpg",
                width: 8, height: 8, text: "a photo"}]}' >"$WORK/export/result.json"
assert_status 0 tgh import --json "$WORK/export/result.json"
assert_eq "photo stored" 1 "$(jq .media.stored "$WORK/out")"
ok "a photo imported with its file"

export TGH_GAPFILL_INTERVAL=2 # the Backfill button's pass runs within 2 s
start_http run run
trap 'kill -9 $(cat "$WORK/run.pid") 2>/dev/null || true; rm -rf "$WORK"' EXIT
wait_sql "SELECT count(*) FROM messages WHERE chat_id = $C" 40
ok "run collected the channel"

# The page is served with its security headers and no external resources.
curl -sS -D "$WORK/hdr" -o "$WORK/index.html" "$BASE/"
grep -qi "^Content-Security-Policy: default-src 'self'" "$WORK/hdr" || fail "/ without its Content-Security-Policy"
grep -Eq '(src|href)="(https?:)?//' "$WORK/index.html" && fail "index.html loads something from elsewhere"
for a in app.js app.css; do
    [ "$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/assets/$a")" = 200 ] || fail "/assets/$a not served"
done
ok "the dashboard's files are served, self-contained"

status=0
TGH_DASH_BASE=$BASE TGH_DASH_KEY=$ADMIN_KEY TGH_DASH_CONTROL=$TGH_FAKE_TD_CONTROL \
    TGH_DASH_CHAT=$C TGH_DASH_PHOTO_CHAT=$P TGH_DASH_NEXT_ID=41 TGH_DASH_ARTIFACTS=$ARTIFACTS TGH_DASH_DEAD_LETTER=$dl \
    NODE_PATH=$NODE_MODULES timeout 300 node "$TGH_TEST_SOURCE_DIR/tests/dashboard/dashboard.mjs" \
    >"$WORK/node.out" 2>"$WORK/node.err" || status=$?
cat "$WORK/node.out"
[ "$status" = 0 ] || { cat "$WORK/node.err" >&2; tail -20 "$WORK/run.err" >&2; fail "the browser test failed (exit $status); screenshots in $ARTIFACTS"; }
for v in overview chats live search message media chat dead-letters; do
    [ -s "$ARTIFACTS/$v.png" ] || fail "no screenshot of $v"
done
ok "the browser test passed; screenshots in $ARTIFACTS"

# The store agrees with what the page showed.
text=$(sed -n 's/^injected text: //p' "$WORK/node.out")
[ -n "$text" ] || fail "the browser test did not say what it injected"
assert_eq "injected message stored" "$text" "$(sql "SELECT text FROM messages WHERE chat_id = $C AND message_id = 41")"
assert_eq "its earlier version kept" 1 "$(sql "SELECT count(*) FROM message_versions WHERE chat_id = $C AND message_id = 41")"
assert_eq "dead letter resolved" 1 "$(sql "SELECT resolved_at > 0 FROM ingestion_errors WHERE id = $dl")"
assert_eq "retried message stored" "repaired by hand" "$(sql "SELECT text FROM messages WHERE chat_id = $D AND message_id = 1")"
grep -q "backfill pass asked for" "$WORK/run.err" || fail "the Backfill button's request did not reach the collector"
ok "the store has the injected message, its edit, and the retried dead letter"

stop_http run
ok "run stops cleanly"
