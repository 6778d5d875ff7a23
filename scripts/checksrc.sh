#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Source rules of the house style that a compiler cannot check:
# banned calls, raw allocation outside core/alloc.c, stdout outside the CLI,
# SPDX lines, header guards, private headers across subsystems, TODOs without
# an issue number, the layers and public headers of docs/ARCHITECTURE.md, and
# the size of a file. Prints each violation as file:line: rule; exits 1 on any.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
status=0
report() { echo "$1: $2"; status=1; }

mapfile -t files < <(git ls-files 'src/*.c' 'src/*.h' 2>/dev/null || find src -name '*.[ch]')

for f in "${files[@]}"; do
    head -n 1 "$f" | grep -q 'SPDX-License-Identifier' || report "$f:1" "missing SPDX line"
    # Strip comments and string literals crudely: enough for these greps.
    code=$(sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e 's:"[^"]*"::g' "$f")
    while IFS= read -r hit; do
        report "$f:${hit%%:*}" "banned call: ${hit#*:}"
    done < <(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|gets|atoi|atol|atof|system|popen)\s*\(' <<<"$code" | sed -E 's/^([0-9]+):.*\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|gets|atoi|atol|atof|system|popen)\s*\(.*/\1:\2/')
    if [ "$f" != src/core/alloc.c ]; then
        while IFS= read -r hit; do
            report "$f:${hit%%:*}" "raw allocator call (use tgh_malloc and friends)"
        done < <(grep -nE '(^|[^_a-zA-Z])(malloc|calloc|realloc|strdup|strndup|free)\s*\(' <<<"$code")
    fi
    case "$f" in
    src/cli/*) ;;
    *)
        while IFS= read -r hit; do
            report "$f:${hit%%:*}" "stdout is reserved for the CLI"
        done < <(grep -nE '(^|[^_a-zA-Z])(printf|puts|putchar)\s*\(|\bstdout\b' <<<"$code")
        ;;
    esac
    case "$f" in
    *.h)
        guard="TGH_$(echo "${f#src/}" | tr 'a-z/.' 'A-Z__')"
        grep -q "^#ifndef $guard\$" "$f" || report "$f" "header guard should be $guard"
        ;;
    esac
    sub=$(echo "$f" | cut -d/ -f2)
    while IFS= read -r inc; do
        other=$(echo "$inc" | sed -E 's/.*"([a-z]+)\/.*/\1/')
        [ "$other" = "$sub" ] || report "$f" "includes another subsystem's private header: $inc"
    done < <(grep -E '#include "[a-z]+/[a-z_]+_int\.h"' "$f")
    while IFS= read -r hit; do
        report "$f:${hit%%:*}" "TODO/FIXME without an issue number"
    done < <(grep -nE '\b(TODO|FIXME|XXX)\b' "$f" | grep -vE 'TODO\(#?[0-9]+\)')
done

# Layers (docs/ARCHITECTURE.md): a folder includes only headers of its own
# folder and of folders in a lower layer; outside its folder, a subsystem is
# seen through its public header X/X.h alone (core: any header but *_int.h).
layer() {
    case "$1" in
    core) echo 0 ;;
    cache | queue | source | store | media) echo 1 ;;
    pipeline | quality) echo 2 ;;
    collect | api) echo 3 ;;
    sched | bot) echo 4 ;;
    cli) echo 5 ;;
    *) echo "" ;;
    esac
}
for f in "${files[@]}"; do
    sub=$(echo "$f" | cut -d/ -f2)
    mine=$(layer "$sub")
    if [ -z "$mine" ]; then
        report "$f" "folder src/$sub has no layer in scripts/checksrc.sh (and docs/ARCHITECTURE.md)"
        continue
    fi
    while IFS=: read -r line inc; do
        dir=${inc%%/*}
        [ "$dir" = "$sub" ] && continue
        theirs=$(layer "$dir")
        if [ -z "$theirs" ] || [ "$theirs" -ge "$mine" ]; then
            report "$f:$line" "src/$sub (layer $mine) must not include $inc (layer ${theirs:-?})"
        elif [ "$dir" != core ] && [ "$inc" != "$dir/$dir.h" ]; then
            report "$f:$line" "outside src/$dir only its public header $dir/$dir.h may be included, not $inc"
        fi
    done < <(grep -nE '^#include "[a-z]+/[a-z_]+\.h"' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
done

# Size: a file in src/ over 1,500 lines needs a written reason here
# ("path: why"), so that a long file is a decision, never an accident.
long_ok=()
for f in "${files[@]}"; do
    n=$(wc -l <"$f")
    [ "$n" -le 1500 ] && continue
    why=""
    for entry in "${long_ok[@]}"; do
        [ "${entry%%:*}" = "$f" ] && why=${entry#*:}
    done
    [ -n "$why" ] || report "$f" "$n lines, over 1,500: split it by concern or give the reason in long_ok"
done

[ $status -eq 0 ] && echo "checksrc: ${#files[@]} files clean"
exit $status
