#!/bin/sh
# A long loaded conversation is shown at once and the model reads it behind
# it (issue 23, item 14): --load of a transcript of many exchanges on the
# slow reference backend shows its last exchange in the TUI while the bar
# says "Restoring the context N/M tokens", N moving; the keys still work
# meanwhile (Ctrl-D leaves at once); once it is read (the status bar shows
# its prefill speed, the bar goes), a message gets a reply.
# In --no-tui the history goes to stderr before the prompt, the replies of
# this run alone to stdout.
set -u
. "$(dirname "$0")/tmux_lib.sh"
M=$MODELS/g3-default.gguf
tmux_init restore
[ -f "$M" ] || { echo "SKIP: restore (no $M: make models)"; [ "${CI:-}" = true ] && exit 1; exit 77; }

# N exchanges, each about 100 tokens of the tiny model: 24 are ~2400 tokens,
# seconds on the reference backend.
gen() {
    printf 'format: gemma-chat-transcript\nversion: 1\ncreated: 2025-11-26T14:41:00Z\nupdated: 2025-11-26T14:41:00Z\nmessages:\n'
    _i=1
    while [ $_i -le "$1" ]; do
        printf '  - role: user\n    text: "Question %d: tell me about the lighthouse keeper, the long winter nights and the ships that pass the rocks (q%d)"\n' $_i $_i
        printf '  - role: model\n    text: "Answer %d: the keeper climbs the stairs every evening, trims the wick, polishes the great lens and watches the dark water until dawn (a%d)"\n' $_i $_i
        _i=$((_i + 1))
    done
}
gen 24 >"$T/long.yaml"
gen 2 >"$T/short.yaml"

start() {
    _name=$1; shift
    tm new-session -d -x 100 -y 30 -s "$_name" -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= \
        -e "XDG_STATE_HOME=$T/state" -e "XDG_DATA_HOME=$T/data" -e "XDG_CONFIG_HOME=$T/config" \
        -e "XDG_CACHE_HOME=$T/cache" \
        "stty -g >'$T/$_name.stty0'; '$BIN' $* 2>'$T/$_name.err'; echo \$? >'$T/$_name.rc'; stty -g >'$T/$_name.stty1'; exec sleep 600"
}
# The KV snapshots go to this run's own cache: one that an earlier run of the
# suite (the same binary) left in the shared cache would restore the whole
# conversation at once, and there would be no reading to watch.
G="-m $M --persona none -n 6 --temp 0"

# --- the TUI: the history at once, the bar over it ---
start a $G --backend ref --load "$T/long.yaml"
progress() { cap a >"$T/a.now"; grep -oE 'Restoring the context [0-9]+/[0-9]+ tokens' "$T/a.now" | head -n 1; }
both() { p=$(progress); [ -n "$p" ] && grep -q '(a24)' "$T/a.now" && grep -q '(q24)' "$T/a.now"; }
if until_ok 60 both; then
    first=$p
    ok "the last exchange is on screen while the model reads it ($first)"
    moved() { p=$(progress); [ -n "$p" ] && [ "$p" != "$first" ]; }
    until_ok 60 moved && ok "the progress moves ($first -> $p)" || bad "the progress stays at '$first'"
else
    bad "no history with a restore bar on the screen"; show "screen" a
fi
tm send-keys -t a C-d
restored a 0

# --- read to the end, then a message gets its reply ---
start b $G --backend cpu --load "$T/long.yaml"
# The end of the restore: the status bar gets its prefill speed, the bar goes.
wait_for b 'prefill [0-9.]+ t/s' 120 && screen_lacks b 'Restoring the context' && ok "the restore ends and its bar goes" \
    || bad "the restore does not end"
tm send-keys -t b 'one more question' Enter
wait_for b '^ ❯ one more question' 10 && wait_gone b 'Esc stops the reply' 60 && ok "after it, a message gets a reply" \
    || bad "no reply after the restore"
tm send-keys -t b '/stats' Enter
wait_for b 'after a prompt of [0-9]+ tokens' 10 || bad "b: /stats"
tm send-keys -t b C-d
restored b 0

# --- --no-tui: the history first, on stderr; stdout has this run's reply only ---
cd "$T" || exit 1
printf 'new message\n/quit\n' | XDG_STATE_HOME=$T/state XDG_DATA_HOME=$T/data XDG_CONFIG_HOME=$T/config XDG_CACHE_HOME=$T/cache \
    timeout 120 "$BIN" $G --backend cpu --no-tui --load "$T/short.yaml" >"$T/l.out" 2>"$T/l.err"; rc=$?
[ $rc -eq 0 ] || bad "--no-tui --load: exit $rc ($(cat "$T/l.err"))"
q1=$(grep -n '^> Question 1: ' "$T/l.err" | cut -d: -f1)
a2=$(grep -n '^Answer 2: .*(a2)$' "$T/l.err" | cut -d: -f1)
[ -n "$q1" ] && [ -n "$a2" ] && [ "$q1" -lt "$a2" ] && ok "--no-tui prints the loaded history on stderr, in order" \
    || bad "--no-tui history: $(cat "$T/l.err")"
grep -q 'Question\|Answer' "$T/l.out" && bad "the history went to stdout: $(cat "$T/l.out")"
[ -s "$T/l.out" ] && ok "stdout has the new reply only" || bad "no reply on stdout"
exit $fail
