#!/bin/sh
# Signals and the terminal, on a generated model (CPU backend):
#  line mode (--no-tui, input from a pipe):
#   - SIGINT during a reply stops it ([stopped]); the chat goes on with the
#     next line; the stopped reply is kept; exit 0 at the end of input;
#   - SIGHUP during a reply: autosave (the message and the reply so far), exit 129;
#   - -p: SIGINT stops the reply, what came so far is printed, exit 130;
#   - stdout closed by its reader (SIGPIPE): autosave, exit 141;
#  line mode on a terminal (tmux): SIGTERM at the prompt autosaves, exits 143
#   and leaves the terminal modes as they were; a crash (SIGSEGV) at the
#   prompt, inside readline's raw mode, restores them too;
#  TUI (tmux):
#   - SIGINT during a reply stops it and the chat goes on;
#   - SIGHUP during a reply: autosave, exit 129, terminal restored;
#   - SIGSEGV and SIGABRT: terminal restored (modes, normal screen, cursor),
#     the shell sees the signal (139, 134).
# Every wait polls with a timeout; nothing relies on a fixed sleep.
set -u
. "$(dirname "$0")/tmux_lib.sh"
# g2-46l never ends its turn by itself: an unlimited reply runs until stopped.
M=$MODELS/g2-46l.gguf

tmux_init signals
unset GEMMA_CHAT_MODEL GEMMA_CHAT_BACKEND GEMMA_CHAT_FAULT GEMMA_CHAT_CONTEXT
export XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
# A SIGSEGV sent with kill must die as SIGSEGV in the sanitizer build too
# (ASan would report it and exit 1).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
TR=$XDG_DATA_HOME/gemma-chat/transcripts
nonempty() { [ -s "$1" ]; }
grows() { [ "$(wc -c <"$1")" -gt "$2" ]; }
G="-m $M --backend cpu --temp 0 --ctx 1024"

# ------------------------------------------------ line mode, input from a pipe
# lm NAME: gemma-chat --no-tui reading the fifo $T/NAME.in; fd 7 writes to it.
lm_start() {
    mkfifo "$T/$1.in"
    "$BIN" $G -n -1 --no-tui <"$T/$1.in" >"$T/$1.out" 2>"$T/$1.err" &
    LM_PID=$!
    PIDS="$PIDS $LM_PID"
    exec 7>"$T/$1.in"
}
lm_wait() {     # lm_wait NAME: exit status in $T/NAME.rc
    wait "$LM_PID"; echo $? >"$T/$1.rc"
}

lm_start int
echo "Tell me a long story" >&7
until_ok 10 nonempty "$T/int.out" || bad "line mode: no reply started"
n=$(wc -c <"$T/int.out"); until_ok 5 grows "$T/int.out" "$n"   # it is streaming
kill -INT "$LM_PID"
until_ok 5 file_has "$T/int.err" '\[stopped\]' && ok "line mode: SIGINT stops the reply" || bad "no [stopped]: $(cat "$T/int.err")"
printf '/set max_tokens 4\nAnother one\n' >&7
exec 7>&-
lm_wait int
[ "$(cat "$T/int.rc")" = 0 ] && ok "line mode: the chat went on, exit 0" || bad "line mode after SIGINT: exit $(cat "$T/int.rc")"
f=$(ls "$TR"/*.yaml 2>/dev/null | head -n 1)
if [ -n "$f" ] && [ "$(grep -c 'role: model' "$f")" = 2 ] && grep -q 'Another one' "$f"; then
    ok "line mode: both replies saved (the stopped one kept)"
else bad "line mode transcript after SIGINT: $(cat "$f" 2>/dev/null)"; fi
rm -rf "$TR"

lm_start hup
echo "Tell me a long story" >&7
until_ok 10 nonempty "$T/hup.out" || bad "line mode: no reply started (hup)"
kill -HUP "$LM_PID"
lm_wait hup
exec 7>&-
[ "$(cat "$T/hup.rc")" = 129 ] && ok "line mode: SIGHUP exits 129" || bad "line mode SIGHUP: exit $(cat "$T/hup.rc") ($(cat "$T/hup.err"))"
f=$(ls "$TR"/*.yaml 2>/dev/null | head -n 1)
[ -n "$f" ] && grep -q 'Tell me a long story' "$f" && grep -q 'role: model' "$f" \
    && ok "line mode: SIGHUP autosaved the message and the reply so far" || bad "SIGHUP: no autosave: $(cat "$T/hup.err")"
rm -rf "$TR"

"$BIN" $G -n -1 -p "Tell me a long story" >"$T/p.out" 2>"$T/p.err" &
P=$!; PIDS="$PIDS $P"
until_ok 10 nonempty "$T/p.out" || bad "-p: no reply started"
kill -INT "$P"; wait "$P"; rc=$?
[ $rc = 130 ] && [ -s "$T/p.out" ] && ok "-p: SIGINT stops the reply, exit 130, the text so far printed" \
    || bad "-p SIGINT: exit $rc, $(wc -c <"$T/p.out") bytes"

# stdout closed by its reader (SIGPIPE): the reply stops, autosave, exit 141
rm -rf "$TR"
( printf 'Tell me a long story\nnever read\n' | "$BIN" $G -n -1 --no-tui 2>"$T/pipe.err"; echo $? >"$T/pipe.rc" ) \
    | head -c 100 >/dev/null
until_ok 10 nonempty "$T/pipe.rc"
[ "$(cat "$T/pipe.rc")" = 141 ] && ok "line mode: a closed stdout exits 141" || bad "closed stdout: exit $(cat "$T/pipe.rc")"
f=$(ls "$TR"/*.yaml 2>/dev/null | head -n 1)
[ -n "$f" ] && grep -q 'Tell me a long story' "$f" && ! grep -q 'never read' "$f" \
    && ok "line mode: a closed stdout autosaves" || bad "closed stdout: no autosave ($(cat "$T/pipe.err"))"

# ------------------------------------------------ in a terminal (tmux)
start() {       # start NAME ARGS...: gemma-chat in an 80x24 terminal, modes recorded before and after
    _name=$1; shift
    tm new-session -d -x 80 -y 24 -s "$_name" -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= \
        -e "XDG_STATE_HOME=$T/state" -e "XDG_DATA_HOME=$XDG_DATA_HOME" -e "XDG_CONFIG_HOME=$T/config" \
        "stty -g >'$T/$_name.stty0'; '$BIN' $* ${ERR-2>'$T/$_name.err'}; echo \$? >'$T/$_name.rc'; stty -g >'$T/$_name.stty1'; exec sleep 600"
}
pid_of() { pgrep -P "$(fmt "$1" '#{pane_pid}')" gemma-chat; }
# line mode on a terminal (readline's prompt is on stderr: it stays on the screen)
ERR= start lterm $G -n 4 --no-tui
wait_for lterm '^>' 10 || bad "lterm: no prompt"
tm send-keys -t lterm 'Hello' Enter
wait_for lterm 'reply cut' 10 && wait_for lterm '^>$' 5
kill -TERM "$(pid_of lterm)"
restored lterm 143 modes
touch "$T/lterm.err"
screen_has lterm "Saved the conversation to" && ok "lterm: SIGTERM autosaved" || bad "lterm: no autosave"
ERR= start lsegv $G -n 4 --no-tui
wait_for lsegv '^>' 10 || bad "lsegv: no prompt"
tm send-keys -t lsegv 'half a li'
wait_for lsegv '^> half a li' 5
kill -SEGV "$(pid_of lsegv)"
restored lsegv 139 modes

# TUI: SIGINT stops a reply; SIGHUP ends it with an autosave
rm -rf "$TR"
start tint $G -n -1
wait_for tint 'g2-46l on cpu' 10 || bad "tint: did not start"
tm send-keys -t tint 'Tell me a long story' Enter
wait_for tint '▍' 10 && wait_for tint 'generating' 2 || bad "tint: no streaming reply"
kill -INT "$(pid_of tint)"
wait_for tint '\[stopped\]' 5 && ok "TUI: SIGINT stops the reply" || bad "TUI: SIGINT did not stop the reply"
tm send-keys -t tint '/set max_tokens 4' Enter 'Next' Enter
wait_for tint 'reached max_tokens' 10 && ok "TUI: the chat goes on after SIGINT" || bad "TUI: no reply after SIGINT"
tm send-keys -t tint '/set max_tokens -1' Enter 'Another long story' Enter
wait_for tint '▍' 10 || bad "tint: no second streaming reply"
kill -HUP "$(pid_of tint)"
restored tint 129
f=$(grep -o "$TR/[^ ]*\.yaml" "$T/tint.err" | head -n 1)
[ -n "$f" ] && grep -q 'Another long story' "$f" && [ "$(grep -c 'role: model' "$f")" = 3 ] \
    && ok "TUI: SIGHUP autosaved every message, the reply in progress too" || bad "TUI SIGHUP autosave: $(cat "$T/tint.err")"

# TUI: crashes restore the terminal
for s in SEGV:139 ABRT:134; do
    sig=${s%:*}; want=${s#*:}
    n=t$(echo "$sig" | tr 'A-Z' 'a-z')
    start "$n" $G -n 4
    wait_for "$n" 'g2-46l on cpu' 10 || bad "$n: did not start"
    [ "$(fmt "$n" '#{alternate_on}')" = 1 ] || bad "$n: not on the alternate screen"
    kill -"$sig" "$(pid_of "$n")"
    restored "$n" "$want"
done

exit $fail
