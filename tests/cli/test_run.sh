#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `tgharvest run --import examples` (what `make run` does): imports the
# examples, prints the archive, and a second run imports nothing new.
source "$(dirname "$0")/lib.sh"

n=$(export_count "$TGH_TEST_SOURCE_DIR/examples/harbour_watch_result.json")
assert_status 0 tgh run --import "$TGH_TEST_SOURCE_DIR/examples"
assert_contains "import line" "$n new" "$WORK/out"
assert_contains "archive line" "archive: 1 chats, $n messages" "$WORK/out"
assert_contains "chat listed" "Harbour Watch (demo)" "$WORK/out"
assert_contains "live collection note" "live collection" "$WORK/out"
assert_status 0 tgh run --import "$TGH_TEST_SOURCE_DIR/examples"
assert_contains "second run" "0 new, $n unchanged" "$WORK/out"
ok "run imports examples idempotently"
