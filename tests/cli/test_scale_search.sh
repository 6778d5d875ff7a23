#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Search on PostgreSQL (web-search syntax): the rules of search_body.sh.
. "$(dirname "$0")/scale_lib.sh"
: "${TGH_TEST_PG_URL:?}"
PG_SERVER=${TGH_TEST_PG_URL%/*}
fresh_db
unset TGH_QUEUE TGH_CACHE
SEARCH_STRICT=0
. "$(dirname "$0")/search_body.sh"
