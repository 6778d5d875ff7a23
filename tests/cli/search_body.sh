# SPDX-License-Identifier: MIT
# Search rules on the store TGH_STORE names (test_search.sh: SQLite FTS5;
# test_scale_search.sh: PostgreSQL): plain words are searched as words,
# whatever their punctuation; search syntax only when the query has it, and
# a query that still cannot be read says why.
C=-1001000000995 T0=1717236000
texts=("Learning C# today" "send an e-mail to the harbour master" "growth of 3.5% this year"
    "tides at https://harbour.example/tides?x=1 now" "Привет, мир" "東京 タワー" "nothing to see here"
    "fog warning for the pier")
for i in "${!texts[@]}"; do
    jq -cn --argjson c $C --argjson id $(((i + 1) << 20)) --argjson d $((T0 + i * 60)) --arg t "${texts[$i]}" \
        '{"@type": "message", id: $id, chat_id: $c, date: $d, is_channel_post: true,
          sender_id: {"@type": "messageSenderChat", chat_id: $c},
          content: {"@type": "messageText", text: {"@type": "formattedText", text: $t, entities: []}}}'
done >"$WORK/s.td"
tgh decode --from tdlib "$WORK/s.td" >"$WORK/s.jsonl"
assert_status 0 tgh import --from event "$WORK/s.jsonl"
found() { # found QUERY: the ids of what the search finds, sorted
    tgh search "$1" --json >"$WORK/found" 2>"$WORK/found.err" || { cat "$WORK/found.err" >&2; fail "search '$1' failed"; }
    jq -r .message_id "$WORK/found" | sort -n | xargs
}
assert_eq "C#" 1 "$(found 'C#')"
assert_eq "e-mail" 2 "$(found 'e-mail')"
assert_eq "3.5%" 3 "$(found '3.5%')"
assert_eq "a URL" 4 "$(found 'https://harbour.example/tides?x=1')"
assert_eq "Cyrillic" 5 "$(found 'мир')"
assert_eq "two words, anywhere" 8 "$(found 'pier fog')"
assert_eq "a word and punctuation" 2 "$(found 'harbour master!')"
assert_eq "an operator-looking word in lower case is a word" "" "$(found 'fog or')"
ok "plain words are searched as words: C#, e-mail, 3.5%, a URL, Cyrillic"
assert_eq "a phrase" 8 "$(found '"fog warning"')"
assert_eq "OR" "5 8" "$(found 'мир OR pier')"
if [ "${SEARCH_STRICT:-1}" = 1 ]; then # FTS5 refuses what it cannot read
    assert_status 1 tgh search '"fog warning'
    assert_contains "why it was read as syntax" "read as search syntax because it has a double quote" "$WORK/err"
    assert_status 1 tgh search 'the -pier' # FTS5 has no '-'
    assert_contains "why" "because it has a word starting with -" "$WORK/err"
else # PostgreSQL's web-search syntax reads anything: an open quote runs to the end
    assert_eq "an open quote" 8 "$(found '"fog warning')"
    assert_eq "-word excludes" 2 "$(found 'the -pier')"
fi
assert_status 1 tgh search '   '
assert_contains "an empty query" "an empty search query" "$WORK/err"
ok "search syntax when the query has it; what cannot be read says why"
