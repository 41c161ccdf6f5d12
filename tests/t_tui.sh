#!/bin/sh
# gemma-chat's TUI end to end on a generated model (CPU backend), in tmux:
# a message gets a reply and the status bar shows its tokens/s; a reply
# streams in (streaming cursor, "generating") and Ctrl-C stops it, after which
# the session goes on; /save, /clear, /load bring the conversation back;
# /persona pirate switches; escape sequences in a model reply do not reach
# the terminal; resizing to 40x15 and back leaves the same screen; /quit
# exits 0, autosaves and restores the terminal; SIGTERM autosaves and exits 143;
# on Vulkan with a fresh cache the kernels compile at start, with a notice.
# Every wait polls the screen with a timeout; nothing relies on a fixed sleep.
set -u
. "$(dirname "$0")/tmux_lib.sh"
# g2-46l never ends its turn by itself: an unlimited reply runs until stopped
# (or the 1024-token context is full), so there is time to press Ctrl-C.
M=$MODELS/g2-46l.gguf

# Vulkan sessions (c, d) keep Mesa's shader cache the suite's, whatever their
# XDG_CACHE_HOME (the tmux server passes this on to every session).
export MESA_SHADER_CACHE_DIR=${MESA_SHADER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesa_shader_cache}
# The model reads a loaded conversation in steps while the screen is idle,
# and its bar can be off between two steps: settled only when it stays off.
context_read() { wait_gone "$1" 'Restoring the context' 30 && sleep 1 && wait_gone "$1" 'Restoring the context' 30; }
tmux_init tui
# replied SESSION TEXT: the message TEXT was sent (it is in the pane, no longer
# in the input on the last row) and its reply is over (the busy placeholder of
# the empty input, "Esc stops the reply ...", is gone).
sent() { cap "$1" >"$T/sent"; grep -qE "^ ❯ $2" "$T/sent" && ! tail -n 1 "$T/sent" | grep -qE -- "$2"; }
replied() {
    until_ok 5 sent "$1" "$2" || { show "$2 not sent" "$1"; return 1; }
    wait_gone "$1" 'Esc stops the reply' 10
}

DATA=$T/data
TR=$DATA/gemma-chat/transcripts
# start NAME ARGS...: gemma-chat in an 80x24 terminal, inside a shell that
# records its exit status and the terminal modes before and after. START_ENV,
# when set, is one more VAR=value for it.
start() {
    _name=$1; shift
    _args=""
    for _a in "$@"; do _args="$_args '$(printf %s "$_a" | sed "s/'/'\\\\''/g")'"; done
    tm new-session -d -x 80 -y 24 -s "$_name" -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= \
        -e "XDG_STATE_HOME=$T/state" -e "XDG_DATA_HOME=$DATA" -e "XDG_CONFIG_HOME=$T/config" \
        ${START_ENV:+-e "$START_ENV"} \
        "stty -g >'$T/$_name.stty0'; '$BIN' $_args 2>'$T/$_name.err'; echo \$? >'$T/$_name.rc'; stty -g >'$T/$_name.stty1'; exec sleep 600"
}

# A saved conversation whose model reply holds escape sequences that would
# recolour, retitle, leave the alternate screen, hide the cursor and clear.
mkdir -p "$TR"
cat >"$TR/esc.yaml" <<'EOF'
format: gemma-chat-transcript
version: 1
created: 2025-11-26T14:41:00Z
updated: 2025-11-26T14:41:00Z
messages:
  - role: user
    text: Show me colours
  - role: model
    text: "Escapes: \e[31mRED\e[0m \e]0;pwned\a\e[?1049l\e[?25l\e[2J done."
EOF
cp "$TR/esc.yaml" "$T/esc.orig"

# ---------------------------------------------------------------- session a
start a -m "$M" --backend cpu --temp 0 -n 16 --ctx 1024
wait_for a 'g2-46l on cpu' 10 && ok "started" || bad "gemma-chat did not start"
[ "$(fmt a '#{alternate_on}')" = 1 ] && ok "alternate screen on" || bad "alternate screen not on"
wait_for a '^ g2-46l │ assistant │ cpu.* ctx [0-9]*/1024' 2 && ok "status bar: model, persona, backend, context" \
    || bad "status bar at start"
# The persona's example exchanges are the context before the first message.
prefix=$(cap a | sed -n 's/.* ctx \([0-9]*\)\/1024.*/\1/p' | head -n 1)
[ -n "$prefix" ] && [ "$prefix" -gt 0 ] && ok "the persona's examples are in the context ($prefix tokens)" \
    || bad "ctx at start '$prefix': the persona's examples are not in the context"

tm send-keys -t a 'Hello there' Enter
until_ok 3 sent a 'Hello there' && ok "user message shown" || bad "user message not shown"
replied a 'Hello there' && wait_for a 'reached max_tokens' 1 && ok "reply complete (16 tokens)" \
    || bad "reply did not complete"
# rates: whole numbers from 100 t/s, one decimal below (render/ui.c)
wait_for a 'ctx [0-9]+/1024 │ (pp|prefill) [0-9]+(\.[0-9])? t/s │ decode [0-9]+(\.[0-9])? t/s' 2 \
    && ok "status bar: prefill and decode tok/s" || bad "no tok/s in the status bar"

# an unlimited reply streams in; Ctrl-C stops it and the session goes on
tm send-keys -t a '/set max_tokens -1' Enter
wait_for a 'max_tokens -1' 3 || bad "/set max_tokens -1"
tm send-keys -t a 'Tell me more' Enter
wait_for a '▍' 10 && wait_for a 'generating' 1 && ok "reply streams in (cursor, busy)" || bad "no streaming reply seen"
wait_for a 'decode [0-9]+(\.[0-9])? t/s' 2 && ok "live decode tok/s while streaming" || bad "no live tok/s"
tm send-keys -t a C-c
wait_for a '\[stopped\]' 5 && ok "Ctrl-C stops the reply" || bad "Ctrl-C did not stop the reply"
wait_gone a '▍' 3 && ok "streaming cursor gone" || bad "still streaming"
tm send-keys -t a '/stats' Enter
wait_for a 'last reply \(stopped\): [0-9]+ tokens' 3 && ok "/stats: the reply was stopped" || bad "/stats after stop"
tm send-keys -t a '/set max_tokens 16' Enter 'Again please' Enter
replied a 'Again please'
tm send-keys -t a '/stats' Enter
wait_for a 'last reply \(max_tokens reached\): 16 tokens' 5 && ok "the session goes on after a stop" \
    || bad "no reply after the stop"

# /save, /clear, /load
tm send-keys -t a '/save t1' Enter
wait_for a "Saved to .*t1\.yaml" 3 && [ -f "$TR/t1.yaml" ] && ok "/save t1" || bad "/save t1"
tm send-keys -t a '/clear' Enter
wait_for a 'A new conversation' 3 && wait_gone a '❯ Hello there' 2 && ok "/clear empties the conversation" \
    || bad "/clear"
wait_for a "ctx $prefix/1024" 2 && ok "/clear: only the persona's examples in the context" \
    || bad "/clear: the context is not back to the persona's $prefix tokens"
tm send-keys -t a '/load t1' Enter
wait_for a 'Loaded .*t1\.yaml \(6 messages\)' 5 && wait_for a '^ ❯ Hello there' 1 && wait_for a '^ ❯ Again please' 1 \
    && ok "/load t1 brings the conversation back" || bad "/load t1"
screen_has a 'ctx 0/1024' && bad "/load did not fill the context" || ok "/load prefilled the context"
context_read a || bad "/load t1: the model did not finish reading the conversation"

# /persona pirate
tm send-keys -t a '/persona pirate' Enter
wait_for a 'Persona: pirate' 3 && wait_for a '^ g2-46l │ pirate │' 2 && ok "/persona pirate switches" \
    || bad "/persona pirate"

# a model reply with escape sequences is shown, not obeyed
tm send-keys -t a '/load esc' Enter
wait_for a 'Loaded .*esc\.yaml' 5 || bad "/load esc"
context_read a || bad "/load esc: the model did not finish reading the conversation"
cap a | grep -q '␛\[31mRED␛\[0m ␛\]0;pwned␇␛\[?1049l␛\[?25l␛\[2J done\.' && ok "escape sequences shown as text" \
    || { bad "escape sequences not shown as ␛ text"; show "esc" a; }
flags=$(fmt a '#{alternate_on} #{cursor_flag} #{pane_title}')
case "$flags" in *pwned*) bad "the reply retitled the window";; *) ok "window title unchanged";; esac
[ "${flags% *}" = "1 1" ] && ok "still on the alternate screen, cursor visible" || bad "terminal state changed: $flags"
screen_has a 'Show me colours' && ok "screen not cleared by the reply" || bad "screen was cleared"
tm capture-pane -p -e -t a | grep 'RED' | grep -q "$(printf '\033')\[31m" && bad "RED was coloured red" \
    || ok "no colour from the reply"

# resize to 40x15 and back: the same screen
wait_gone a 'reached max_tokens' 8
context_read a || bad "the model did not finish reading the conversation before the resize"
cap a >"$T/p80"
tm resize-window -t a -x 40 -y 15
wait_for a '^ g2-46l' 3 && ok "40x15: status bar" || bad "40x15: status bar"
cap a >"$T/p40"
awk 'NR==15 && /^ ❯ /{f=1} END{exit !f}' "$T/p40" && ok "40x15: input on the last row" || bad "40x15: layout"
"${PYTHON:-/usr/bin/python3}" -c 'import sys; sys.exit(any(len(l.rstrip("\n")) > 40 for l in open(sys.argv[1], encoding="utf-8")))' \
    "$T/p40" && ok "40x15: nothing wider than the screen" || bad "40x15: a row wider than 40 columns"
tm resize-window -t a -x 80 -y 24
wait_same a "$T/p80" 3 && ok "back to 80x24: the same screen" || bad "resize left a different screen"

# /quit: exit 0, autosave, terminal restored
tm send-keys -t a '/quit' Enter
restored a 0
# esc.yaml was only viewed: /quit leaves it as it was (no rewrite, no new file)
cmp -s "$TR/esc.yaml" "$T/esc.orig" && ! grep -q "autosave failed\|Saved the conversation" "$T/a.err" \
    && ok "/quit after only viewing esc.yaml leaves it unchanged" || bad "/quit rewrote a viewed conversation: $(cat "$T/a.err")"

# ---------------------------------------------------------------- session b
# SIGTERM: autosave, exit 143, terminal restored
start b -m "$M" --backend cpu --temp 0 -n 8
wait_for b 'g2-46l on cpu' 10 || bad "session b did not start"
tm send-keys -t b 'Remember this' Enter
replied b 'Remember this' || bad "session b: no reply"
pid=$(pgrep -P "$(fmt b '#{pane_pid}')" gemma-chat)
[ -n "$pid" ] && kill -TERM "$pid"
restored b 143
f=$(grep -o "$TR/[^ ]*\.yaml" "$T/b.err" | head -n 1)
[ -n "$f" ] && grep -q 'Remember this' "$f" && ok "SIGTERM autosaved $f" || bad "SIGTERM: no autosave ($(cat "$T/b.err"))"

# ------------------------------------------------------------ sessions c, d
# Vulkan with no pipeline cache of this build (a fresh cache directory): the
# kernels compile before the first prompt and a notice says so; the next start,
# with that cache, says nothing.
START_ENV="XDG_CACHE_HOME=$T/cache"
start c -m "$MODELS/g2-default.gguf" --backend vulkan
wait_for c 'Compiled the compute kernels in [0-9]+ s' 120 && ok "cold kernels: compiled at start, with a notice" \
    || bad "cold kernels: no notice ($(cat "$T/c.err"))"
tm send-keys -t c '/quit' Enter
restored c 0
start d -m "$MODELS/g2-default.gguf" --backend vulkan
wait_for d 'on vulkan' 30 && screen_lacks d 'compute kernels' && ok "warm kernels: no notice" \
    || bad "warm kernels: notice again or no start"
tm send-keys -t d '/quit' Enter
restored d 0
unset START_ENV

exit $fail
