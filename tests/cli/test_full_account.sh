#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A full-account export: every chat of chats.list and left_chats.list is
# imported under its Bot API id (-100... channels and supergroups, negative
# basic groups, positive users), the rest of the account data is skipped.
source "$(dirname "$0")/lib.sh"

f=$FX/full_account.json
jq -e '.personal_information and .chats.list and .left_chats.list' "$f" >/dev/null ||
    fail "fixture is not a full-account export"

expected_ids() {
    jq -r '(.chats.list + .left_chats.list)[] | "\(.type) \(.id)"' "$f" | while read -r type id; do
        case $type in
        private_supergroup | public_supergroup | private_channel | public_channel)
            echo $((-1000000000000 - id)) ;;
        private_group) echo $((-id)) ;;
        *) echo "$id" ;;
        esac
    done | sort -n
}
total=$(jq '[(.chats.list + .left_chats.list)[].messages | length] | add' "$f")
nchats=$(jq '(.chats.list + .left_chats.list) | length' "$f")

assert_status 0 tgh import --json -q "$f"
assert_eq "chats" "$nchats" "$(jq .chats "$WORK/out")"
assert_eq "messages" "$total" "$(jq .imported "$WORK/out")"
assert_eq "chat ids" "$(expected_ids | tr '\n' ' ')" \
    "$(tgh chats --json | jq '.id' | sort -n | tr '\n' ' ')"
ok "$nchats chats with Bot API ids, $total messages"

# Types as the model names them.
for pair in "private_group group" "personal_chat private" "public_channel channel" \
            "private_supergroup supergroup" "public_supergroup supergroup" "private_channel channel" \
            "bot_chat bot" "saved_messages saved"; do
    set -- $pair
    jq -e --arg t "$1" '(.chats.list + .left_chats.list) | any(.type == $t)' "$f" >/dev/null || continue
    n_want=$(jq --arg t "$1" '[(.chats.list + .left_chats.list)[] | select(.type == $t)] | length' "$f")
    [ "$(tgh chats --json | jq -s --arg t "$2" '[.[] | select(.type == $t)] | length')" -ge "$n_want" ] ||
        fail "type $1 not mapped to $2"
done
ok "chat types mapped"

# Per-chat counts match the file.
jq -r '(.chats.list + .left_chats.list)[] | "\(.type) \(.id) \(.messages | length)"' "$f" |
while read -r type id count; do
    case $type in
    private_supergroup | public_supergroup | private_channel | public_channel) cid=$((-1000000000000 - id)) ;;
    private_group) cid=$((-id)) ;;
    *) cid=$id ;;
    esac
    assert_eq "messages of $cid" "$count" "$(sql "SELECT count(*) FROM messages WHERE chat_id = $cid")"
done
assert_eq "one run per chat" "$nchats" "$(sql "SELECT count(*) FROM collection_runs")"
ok "per-chat counts and runs"
