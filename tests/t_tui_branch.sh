#!/bin/sh
# Edit and branch in the TUI (issue 22): /edit puts the last message back in
# the input as "/edit 1 TEXT"; sending the changed line forks (the pane marks
# the message "branch 2/2"); Alt-Left shows branch 1 again ("branch 1/2", the
# old text), Alt-Right branch 2. In tmux (tests/tmux_lib.sh).
set -u
. "$(dirname "$0")/tmux_lib.sh"
M=$MODELS/g2-46l.gguf
tmux_init branch
tui_start b "-m '$M' --backend cpu --temp 0 -n 6 --persona none --ctx 512"
wait_for b 'g2-46l on cpu' 10 || bad "did not start"
tm send-keys -t b 'Hello there' Enter
wait_for b 'reached max_tokens' 10 || bad "no first reply"
wait_gone b 'Esc stops the reply' 10
tm send-keys -t b '/edit' Enter
wait_for b '^ *❯ /edit 1 Hello there *$' 5 && ok "/edit puts the message back in the input" ||
    bad "/edit: the input does not hold '/edit 1 Hello there'"
tm send-keys -t b ' again' Enter
wait_for b 'branch 2/2' 10 && ok "the edited message is marked branch 2/2" || bad "no 'branch 2/2' label"
wait_gone b 'Esc stops the reply|generating' 10
screen_has b '❯ Hello there again' || { bad "the edited message is not shown"; show edited b; }
tm send-keys -t b M-Left
wait_for b 'branch 1/2' 5 && ok "Alt-Left shows branch 1" || bad "Alt-Left: no 'branch 1/2'"
screen_lacks b 'Hello there again' || { bad "branch 1 still shows the edited text"; show branch1 b; }
tm send-keys -t b M-Right
wait_for b 'branch 2/2' 5 && ok "Alt-Right shows branch 2 again" || bad "Alt-Right: no 'branch 2/2'"
tm send-keys -t b '/quit' Enter
sleep 0.5
f=$(ls "$T/data/gemma-chat/transcripts/"*.yaml 2>/dev/null | head -n 1)
[ -n "$f" ] && grep -q 'Hello there again' "$f" && [ "$(grep -c '^  - id:' "$f")" -eq 4 ] &&
    ok "the autosave holds both branches" || bad "autosave: $(cat "$f" 2>/dev/null)"
tmux_cleanup
exit $fail
