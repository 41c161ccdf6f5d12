#!/bin/sh
# /regen in the TUI (issue 23, item 13): the discarded reply leaves the
# screen, so that after two /regen the question has one reply under it, as
# the saved transcript has. Greedy decoding on g2-46l gives the same 6-token
# reply each time, so its first row can be counted. In tmux (tests/tmux_lib.sh).
set -u
. "$(dirname "$0")/tmux_lib.sh"
M=$MODELS/g2-46l.gguf
tmux_init regen
tui_start r "-m '$M' --backend cpu --temp 0 -n 6 --persona none --ctx 512"
wait_for r 'g2-46l on cpu' 10 || bad "did not start"
tm send-keys -t r 'Hello there' Enter
wait_for r 'reached max_tokens' 10 || bad "no first reply"
wait_gone r 'Esc stops the reply' 10
# the reply's first row: the first non-empty row after the question
cap r >"$T/s1"
row=$(awk '/^ ❯ Hello there/{f=1; next} f && NF {print; exit}' "$T/s1")
[ -n "$row" ] || { bad "no reply row found"; show s1 r; }
for i in 1 2; do
    tm send-keys -t r '/regen' Enter
    sleep 0.3
    wait_gone r 'Esc stops the reply|generating' 10
done
sleep 0.5
cap r >"$T/s2"
n=$(grep -cxF -- "$row" "$T/s2")
[ "$n" = 1 ] && ok "two /regen: one reply under the question" \
    || { bad "two /regen: the reply row appears $n times"; show after r; }
tm send-keys -t r '/quit' Enter
sleep 0.5
tmux_cleanup
exit $fail
