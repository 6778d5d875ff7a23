#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Source rules of the house style that a compiler cannot check:
# banned calls, raw allocation outside core/alloc.c, stdout outside the CLI,
# SPDX lines, header guards, private headers across subsystems, TODOs without
# an issue number. Prints each violation as file:line: rule; exits 1 on any.
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

# Dependency direction: store, source never include cli; core includes only core.
for f in "${files[@]}"; do
    case "$f" in
    src/core/*) grep -nE '#include "(store|source|cli|queue|pipeline|cache|media|api|sched)/' "$f" | sed "s|^|$f:|" | while read -r l; do echo "$l: core must not depend on other subsystems"; done ;;
    src/store/* | src/source/*) grep -nE '#include "cli/' "$f" | sed "s|^|$f:|" | while read -r l; do echo "$l: only cli may include cli"; done ;;
    esac
done | { if read -r first; then echo "$first"; cat; exit 1; fi; } || status=1

[ $status -eq 0 ] && echo "checksrc: ${#files[@]} files clean"
exit $status
