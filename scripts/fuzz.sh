#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every libFuzzer target of a TGH_FUZZ build for a few seconds each,
# starting from its checked-in corpus. New inputs go to a scratch folder, not
# into the repository; a crash fails the run and leaves its input in build/.
set -euo pipefail
build=$1
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/tests/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    target=${name#fuzz_}
    scratch=$(mktemp -d)
    echo "fuzz: $name for ${seconds}s"
    if ! "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/" -print_final_stats=0 \
        "$scratch" "$root/tests/fuzz/corpus/$target" >"$build/$name.log" 2>&1; then
        echo "fuzz: $name FAILED (log: $build/$name.log)"
        tail -n 30 "$build/$name.log"
        status=1
    else
        grep -E "^Done|#[0-9]+.*DONE" "$build/$name.log" | tail -n 1 || true
    fi
    rm -rf "$scratch"
done
exit $status
