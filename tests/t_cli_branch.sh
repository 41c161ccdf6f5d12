#!/bin/sh
# Edit and branch in --no-tui on a generated model (CPU backend, greedy):
# /edit N TEXT forks, reusing the KV cache up to the fork (the prefilled
# tokens counted); /branches lists both, /branch N switches, /export writes
# the branch on screen; the saved YAML holds the tree and loads back.
. "$(dirname "$0")/chat_lib.sh"
chat_init branch
printf 'show_stats: true\n' > "$T/stats.yaml"
G="-m $M --backend cpu --temp 0 -n 12 --persona none"

cat > "$T/script" <<'EOF'
What is a lighthouse?
Why is it tall?
/edit
/edit 9 Nothing.
/edit 2 Why is it white?
/stats
/branches
/export white.md
/branch 1
/export tall.md
/branch 7
/save tree
/quit
EOF
"$BIN" $G --no-tui -c "$T/stats.yaml" <"$T/script" >"$T/b.out" 2>"$T/b.err"; rc=$?
e=$(cat "$T/b.err")
[ $rc -eq 0 ] || bad "exit $rc: $e"
has "$e" "/edit: give the new text: /edit [N] TEXT" || bad "/edit without text in --no-tui: $e"
has "$e" "there is no message 9 to edit" || bad "/edit 9: $e"
[ "$(grep -c '^\[prompt ' "$T/b.err")" -eq 3 ] || bad "want 3 replies (2 and the edit's): $e"
# KV reuse: the edit evaluates less than the turn it replaces did, and all
# it cost the session (its prompt, and the reply's tail read after it: the
# line mode reads what a shown branch lacks before the next prompt) is less
# than the first exchange alone: that was not prefilled again.
p1=$(sed -n 's/^\[prompt \([0-9]*\) tokens.*/\1/p' "$T/b.err" | sed -n 1p)
p2=$(sed -n 's/^\[prompt \([0-9]*\) tokens.*/\1/p' "$T/b.err" | sed -n 2p)
p3=$(sed -n 's/^\[prompt \([0-9]*\) tokens.*/\1/p' "$T/b.err" | sed -n 3p)
[ -n "$p3" ] && [ "$p3" -ge 1 ] && [ "$p3" -lt "$p2" ] && [ "$p3" -lt "$p1" ] ||
    bad "the edit prefilled $p3 tokens (turn 1: $p1, turn 2: $p2): the cache is not reused"
total=$(echo "$e" | sed -n 's/.*prefilled \([0-9]*\) tokens this session.*/\1/p')
[ -n "$total" ] && [ "$total" -ge $((p1 + p2 + p3)) ] && [ $((total - p1 - p2)) -lt "$p1" ] ||
    bad "/stats: prefilled ${total:-?} tokens in all; the edit's share $((${total:-0} - p1 - p2)) is not under turn 1's $p1"
has "$e" "Branches (/branch N switches; * = on screen):
   1  at message 2: Why is it tall?  (4 messages)
 * 2  at message 2: Why is it white?  (4 messages)" || bad "/branches: $e"
grep -q "white" "$TR/white.md" && ! grep -q "tall" "$TR/white.md" || bad "white.md is not the edited branch: $(cat "$TR/white.md")"
has "$e" "Branch 1 of 2." || bad "/branch 1: $e"
grep -q "tall" "$TR/tall.md" && ! grep -q "white" "$TR/tall.md" || bad "tall.md is not branch 1: $(cat "$TR/tall.md")"
has "$e" "there is no branch 7 (the conversation has 2)" || bad "/branch 7: $e"
y=$TR/tree.yaml
grep -q '^version: 2$' "$y" && grep -q '^current: 4$' "$y" || bad "tree.yaml: version 2, current 4 (branch 1): $(head -5 "$y")"
[ "$(grep -c '^  - id:' "$y")" -eq 6 ] || bad "tree.yaml should hold 6 messages: $(cat "$y")"
grep -q 'Why is it tall?' "$y" && grep -q 'Why is it white?' "$y" || bad "tree.yaml lacks a branch"
[ "$(grep -c '^    parent: 2$' "$y")" -eq 2 ] || bad "both second questions follow reply 1: $(cat "$y")"

# Loaded again: both branches, branch 1 on screen; switching shows branch 2.
printf '/branches\n/branch 2\n/export again.md\n/quit\n' | "$BIN" $G --no-tui --load "$y" >/dev/null 2>"$T/l.err"; rc=$?
e=$(cat "$T/l.err")
[ $rc -eq 0 ] || bad "--load tree exit $rc: $e"
has "$e" " * 1  at message 2: Why is it tall?" || bad "loaded /branches: $e"
cmp -s "$TR/again.md" "$TR/white.md" 2>/dev/null ||
    { diff "$TR/again.md" "$TR/white.md" | grep -v Updated | grep -q '^[<>]' && bad "branch 2 after a load exports differently"; }
exit $fail
