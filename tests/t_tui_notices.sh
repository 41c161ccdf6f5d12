#!/bin/sh
# Notices in the TUI's conversation pane (issue 23, item 8): config warnings
# (an unknown key) are shown at start, not only on stderr after exit; /clear
# says where the previous conversation was saved; /persona says which settings
# the persona replaced (a /set max_tokens 30 is not silently undone). And
# item 1 on screen: with nowhere to save, /quit keeps the conversation open.
# In tmux.
set -u
. "$(dirname "$0")/tmux_lib.sh"
M=$MODELS/g3-default.gguf
tmux_init notices
printf 'bogus_key: 1\n' >"$T/cfg.yaml"
tm new-session -d -x 100 -y 40 -s n -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= \
    -e "XDG_STATE_HOME=$T/state" -e "XDG_DATA_HOME=$T/data" -e "XDG_CONFIG_HOME=$T/config" \
    "'$BIN' -c '$T/cfg.yaml' -m '$M' --backend cpu --persona none 2>'$T/n.err'; exec sleep 600"
wait_for n 'g3-default on cpu' 10 || bad "did not start"
wait_for n "bogus_key" 2 && ok "a config warning is shown in the pane" || bad "the config warning is not on screen"
tm send-keys -t n 'Hello there' Enter
wait_for n 'reached max_tokens|ctx [1-9]' 10 || bad "no reply"
wait_gone n 'Esc stops the reply' 10
tm send-keys -t n '/clear' Enter
wait_for n 'The previous conversation was saved to' 3 && ok "/clear: where the conversation went, on screen" \
    || bad "/clear: no notice of the autosave"
tm send-keys -t n '/set max_tokens 30' Enter
wait_for n 'max_tokens 30' 3 || bad "/set max_tokens 30"
tm send-keys -t n '/persona pirate' Enter
wait_for n 'Persona: pirate' 3 || bad "/persona pirate"
wait_for n 'persona pirate sets max_tokens 128 \(was 30\)' 2 && ok "/persona: the replaced max_tokens is named" \
    || bad "/persona replaced max_tokens silently"
tm send-keys -t n '/quit' Enter

# Nowhere to save (issue 23, item 1): /quit keeps the conversation on screen
# and says why; a second /quit leaves, printing the transcript on stderr.
: >"$T/afile"
tm new-session -d -x 100 -y 40 -s f -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= -e "TMPDIR=$T/afile" \
    -e "XDG_STATE_HOME=$T/afile" -e "XDG_DATA_HOME=$T/afile" -e "XDG_CONFIG_HOME=$T/config" -e "XDG_CACHE_HOME=$T/afile" \
    "'$BIN' -m '$M' --backend cpu --persona none -n 4 2>'$T/f.err'; echo \$? >'$T/f.rc'; exec sleep 600"
wait_for f 'g3-default on cpu' 10 || bad "session f did not start"
tm send-keys -t f 'Keep me' Enter
wait_for f 'reached max_tokens|ctx [1-9]' 10 || bad "f: no reply"
wait_gone f 'Esc stops the reply' 10
tm send-keys -t f '/quit' Enter
wait_for f 'autosave failed' 3 && wait_for f 'The conversation stays open' 1 && ok "/quit with nowhere to save: stays open" \
    || bad "/quit with nowhere to save did not keep the screen"
[ -f "$T/f.rc" ] && bad "gemma-chat left although the conversation could not be saved"
tm send-keys -t f '/quit' Enter
until_ok 5 test -f "$T/f.rc" && [ "$(cat "$T/f.rc")" = 1 ] && grep -q '^      Keep me$' "$T/f.err" \
    && ok "a second /quit leaves (exit 1), the transcript on stderr" || bad "second /quit: rc $(cat "$T/f.rc" 2>&1), $(cat "$T/f.err")"
exit $fail
