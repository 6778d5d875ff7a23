#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Gaps on PostgreSQL (the run's shared server, a fresh database): every class
# of `collect --once --verify`, as test_gaps.sh checks them on SQLite.
. "$(dirname "$0")/scale_lib.sh"
: "${TGH_TEST_PG_URL:?}"
PG_SERVER=${TGH_TEST_PG_URL%/*}
fresh_db
unset TGH_QUEUE TGH_CACHE
q() { pg "$1"; }
. "$(dirname "$0")/gaps_body.sh"
