#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what tgharvest needs to build and test on Debian 12, as root.
# Installs only what is missing, so a second run costs a dpkg query.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libsqlite3-dev sqlite3 libjansson-dev libssl-dev libcmocka-dev
    clang libclang-rt-14-dev clang-format
    jq tzdata git
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root or install them" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
