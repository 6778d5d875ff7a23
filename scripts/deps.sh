#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what tgharvest needs to build and test on Debian 12, as root:
# Debian packages, then TDLib's JSON library and playwright-core from npm
# (pinned) into the git-ignored .deps/npm. Installs only what is missing, so a second run costs
# a dpkg query and a file check.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
    build-essential cmake pkg-config
    libsqlite3-dev sqlite3 libjansson-dev libssl-dev libcmocka-dev
    libpq-dev librabbitmq-dev libhiredis-dev libmicrohttpd-dev
    libcurl4-openssl-dev libxml2-dev
    curl wrk chromium
    postgresql-15 rabbitmq-server redis-server redis-tools
    clang libclang-rt-14-dev clang-format
    jq tzdata git
)

# TDLib 1.8.67, prebuilt for glibc: one libtdjson.so, no other dependency.
tdlib_pkg="@prebuilt-tdlib/linux-x64-glibc"
tdlib_version="0.1008067.0"
tdlib_dir="$root/.deps/npm"

command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps.sh: missing packages: ${missing[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "deps.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, installed together (an install of one alone would prune the
# other): TDLib, playwright-core, which drives Debian's chromium in the
# dashboard test (it never downloads a browser), s3rver, the S3 server the
# media tests store to, and telegram-test-api, the Bot API emulator the
# archive bot's tests talk to.
npm_pkgs=("$tdlib_pkg@$tdlib_version" "playwright-core@1.65.1" "s3rver@3.7.1"
          "telegram-test-api@4.2.1")
need_npm=0
for spec in "${npm_pkgs[@]}"; do
    name=${spec%@*}
    installed=$(jq -r .version "$tdlib_dir/node_modules/$name/package.json" 2>/dev/null || true)
    [ "$installed" = "${spec##*@}" ] || need_npm=1
done
[ -f "$tdlib_dir/node_modules/$tdlib_pkg/libtdjson.so" ] || need_npm=1
if [ $need_npm = 1 ]; then
    echo "deps.sh: installing ${npm_pkgs[*]} into .deps/npm" >&2
    mkdir -p "$tdlib_dir"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$tdlib_dir" \
        "${npm_pkgs[@]}" >/dev/null
fi
