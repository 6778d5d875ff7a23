#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Search on SQLite (FTS5): the rules of search_body.sh, and the same on the API.
source "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/search_body.sh"
. "$(dirname "$0")/api_lib.sh"
TGH_HTTP_ADDR=127.0.0.1:0 start_http serve serve
expect 200 "/api/v1/search?q=C%23"
assert_eq "API: C#" 1 "$(jq '.results[0].message_id' "$WORK/body")"
expect 200 "/api/v1/search?q=3.5%25"
assert_eq "API: 3.5%" 3 "$(jq '.results[0].message_id' "$WORK/body")"
expect_error 400 bad_request "/api/v1/search?q=%22fog"
assert_contains "API: why" "read as search syntax" "$WORK/body"
stop_http serve
ok "the API searches by the same rules"
