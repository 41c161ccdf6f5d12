#!/bin/sh
# The chat screen in a real terminal: tmux runs tests/fixtures/ui_driver (the
# render/ui library driven by a fake engine that streams a canned reply) and
# this script types into it and reads the screen back (capture-pane).
#
# Shown: the reply streams in and the status bar shows tok/s; escape
# sequences in the reply change nothing in the terminal; Ctrl-C and Esc stop
# a reply and the session goes on; resizing to 40x15 and back leaves exactly
# the screen a fresh render draws; help overlay; tab completion; multi-line
# input (Alt-Enter, bracketed paste); scrollback; history kept across runs;
# NO_COLOR; and the terminal restored (modes, alternate screen, cursor) after
# Ctrl-C twice, /quit, SIGTERM, abort() and a segfault.
# Every wait polls the screen with a timeout; nothing relies on a fixed sleep.
set -u
B=${B:-build}
DRV=$B/tests/fixtures/ui_driver
[ -x "$DRV" ] || { echo "FAIL: $DRV is not built (make test builds it)"; exit 1; }
case $DRV in /*) ;; *) DRV=$(pwd)/$DRV ;; esac

. "$(dirname "$0")/tmux_lib.sh"
tmux_init render

# start NAME [ENV=VALUE...] -- [DRIVER ARGS...]: the driver in an 80x24
# terminal, inside a shell that records its exit status and the terminal
# modes before and after.
start() {
    _name=$1; shift
    _env=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do _env="$_env -e $1"; shift; done
    [ $# -gt 0 ] && shift
    _args=""
    for _a in "$@"; do _args="$_args '$(printf %s "$_a" | sed "s/'/'\\\\''/g")'"; done
    # shellcheck disable=SC2086
    tm new-session -d -x 80 -y 24 -s "$_name" -e INPUTRC=/dev/null -e "XDG_STATE_HOME=$T/state" \
        -e "HOME=$T" -e NO_COLOR= $_env \
        "stty -g >'$T/$_name.stty0'; '$DRV' --log '$T/$_name.log' $_args; echo \$? >'$T/$_name.rc'; stty -g >'$T/$_name.stty1'; exec sleep 600"
}

ESC=$(printf '\033')

# ---------------------------------------------------------------- session a
start a -- --delay 20
wait_for a 'fake-1M loaded' 5 && ok "started" || bad "driver did not start"
[ "$(fmt a '#{alternate_on}')" = 1 ] && ok "alternate screen on while running" || bad "alternate screen not on"
wait_for a 'fake-1M .* ctx 0/2048' 2 && ok "status bar: model and context" || bad "status bar"

# streaming: the reply appears piece by piece (the streaming cursor ▍ shows a
# reply still arriving), then the status bar has the speeds of the reply
tm send-keys -t a 'hello there' Enter
wait_for a '^ ❯ hello there' 3 && ok "user message shown" || bad "user message not shown"
wait_for a 'Answer 1' 5 && wait_for a '▍' 2 && ok "reply streams in" || bad "no partial reply seen"
cap a | grep -q 'generating' && ok "status shows generating" || bad "no busy indicator while streaming"
wait_for a 'End of reply 1\.' 10 && ok "reply complete" || bad "reply did not complete"
wait_for a 'prefill [0-9]+ t/s .* decode [0-9]+\.[0-9] t/s' 2 && ok "status shows prefill and decode tok/s" \
    || bad "no tok/s in the status bar"
cap a | grep -q '▍' && bad "streaming cursor left after the reply" || ok "streaming cursor gone"
grep -q 'reply 1 done after 95 pieces' "$T/a.log" && ok "reply 1 streamed in 95 pieces" || bad "log: $(cat "$T/a.log")"

# escape sequences in the reply are shown, not obeyed
cap a | grep -q '␛\[31mRED␛\[0m ␛\]0;pwned␇␛\[?1049l␛\[?25l␛\[2J done\.' && ok "escape sequences shown as text" \
    || bad "escape sequences not shown as ␛ text"
flags=$(fmt a '#{alternate_on} #{cursor_flag} #{pane_title}')
[ "$flags" != "${flags%pwned}" ] && bad "the reply retitled the window" || ok "window title unchanged"
[ "${flags% *}" = "1 1" ] && ok "still on the alternate screen, cursor visible" || bad "terminal state changed: $flags"
cap a | grep -q 'hello there' && ok "screen not cleared by the reply" || bad "screen was cleared"
tm capture-pane -p -e -t a | grep 'RED' | grep -q "$ESC\[31m" && bad "RED was coloured red" || ok "no colour from the reply"

# Ctrl-C and Esc stop a reply; the session goes on
tm send-keys -t a '/slow 80' Enter 'again' Enter
wait_for a 'Answer 2' 5 && tm send-keys -t a C-c
wait_for a '\[stopped\]' 3 && ok "Ctrl-C stops the reply" || bad "Ctrl-C did not stop the reply"
wait_file "$T/a.log" 'reply 2 stopped after [0-9]+ pieces' 3 || bad "no stop in the log"
n=$(sed -n 's/^reply 2 stopped after \([0-9]*\) pieces/\1/p' "$T/a.log")
[ -n "$n" ] && [ "$n" -lt 95 ] && ok "reply 2 stopped after $n of 95 pieces" || bad "reply 2 stopped after '$n' pieces"
cap a | grep -q 'End of reply 2' && bad "reply 2 went on after Ctrl-C" || ok "reply 2 cut short"
tm send-keys -t a 'third' Enter
wait_for a 'Answer 3' 5 && tm send-keys -t a Escape
wait_file "$T/a.log" 'reply 3 stopped' 3 && ok "Esc stops the reply" || bad "Esc did not stop the reply"
tm send-keys -t a 'fourth' Enter
wait_for a 'Answer 4' 5
tm send-keys -t a 'next question' Enter
wait_for a 'A reply is streaming: Esc stops it' 3 && wait_for a '^ ❯ next question' 1 \
    && ok "Enter while streaming keeps the line" || bad "type-ahead line lost"
tm send-keys -t a Escape
wait_file "$T/a.log" 'reply 4 stopped' 3 || bad "reply 4 not stopped"
tm send-keys -t a C-u '/slow 2' Enter 'fifth' Enter
wait_for a 'End of reply 5\.' 10 && ok "the session goes on after stops" || bad "reply 5 did not complete"

# resize to 40x15 and back: the screen equals what a fresh render draws
cap a >"$T/p80"
tm resize-window -t a -x 40 -y 15
wait_for a '^ fake-1M .*[0-9]+/2048 │ .*[0-9] t/s' 3 && ok "40x15: status bar fits" || bad "40x15: status bar"
cap a >"$T/p40"
awk 'NR==15 && /^ ❯ /{f=1} END{exit !f}' "$T/p40" && ok "40x15: input on the last row" || bad "40x15: layout"
grep -q 'End of reply 5' "$T/p40" && ok "40x15: reply re-wrapped" || bad "40x15: reply not visible"
tm resize-window -t a -x 80 -y 24
wait_same a "$T/p80" 3 && ok "back to 80x24: same screen as before" || bad "resize left a different screen"
tm send-keys -t a C-l
sleep 0.2
wait_same a "$T/p80" 3 && ok "Ctrl-L full repaint: same screen" || bad "repaint differs"

# help overlay, opened by /help and F1, closed by Esc and F1, leaves nothing behind
tm send-keys -t a '/help' Enter
wait_for a 'gemma-chat help' 3 && cap a | grep -q '/persona NAME .*switch persona' && ok "/help shows commands" || bad "/help"
tm send-keys -t a Escape
wait_gone a 'gemma-chat help' 3 && ok "Esc closes help" || bad "help did not close"
tm send-keys -t a F1
wait_for a 'gemma-chat help' 3 && ok "F1 opens help" || bad "F1"
tm send-keys -t a F1
wait_gone a 'gemma-chat help' 3
wait_same a "$T/p80" 3 && ok "help leaves no trace" || bad "screen differs after help"

# notices, errors, the progress bar, the empty screen
tm send-keys -t a '/notice a passing notice' Enter
wait_for a '^ a passing notice' 3 && ok "notice line" || bad "notice line"
tm send-keys -t a '/error something failed' Enter '/nope' Enter
wait_for a '^ ✗ something failed' 3 && ok "error message" || bad "error message"
wait_for a '^ ✗ unknown command: /nope' 3 && ok "unknown command reported" || bad "unknown command"
tm send-keys -t a '/progress 1500' Enter
wait_for a '^ Uploading weights +[█▏▎▍▌▋▊▉░]+ +[0-9]+%$' 3 && ok "progress bar" || bad "progress bar"
wait_gone a 'Uploading weights' 5
tm send-keys -t a '/clear' Enter
wait_for a 'Type a message and press Enter' 3 && ok "empty conversation shows the welcome hint" || bad "welcome"

# tab completion of commands and of a command's argument
tm send-keys -t a '/pe' Tab
wait_for a '^ ❯ /persona' 3 && ok "Tab completes /persona" || bad "command completion"
tm send-keys -t a Tab
wait_for a 'assistant  coder  pirate' 3 && ok "Tab lists persona names" || bad "candidate list"
tm send-keys -t a 'pi' Tab Enter
wait_for a 'persona: pirate \(new conversation\)' 3 && ok "persona name completed" || bad "argument completion"
wait_for a 'fake-1M │ pirate' 2 && ok "status shows the new persona" || bad "persona in status"

# multi-line input: Alt-Enter, and a bracketed paste keeps its newlines
tm send-keys -t a 'line one' M-Enter 'line two'
wait_for a '^   line two' 3 && ok "Alt-Enter: second input row" || bad "Alt-Enter"
tm send-keys -t a Enter
wait_file "$T/a.log" '^line line one\\nline two$' 3 && ok "multi-line message sent whole" || bad "multi-line message"
tm send-keys -t a C-c
printf 'pasted A\npasted B' | tm load-buffer -
tm paste-buffer -p -t a
wait_for a '^   pasted B' 3 && ok "paste keeps its newline" || bad "paste"
grep -q 'pasted' "$T/a.log" && bad "paste submitted by its newline" || ok "paste not submitted early"
tm send-keys -t a Enter
wait_file "$T/a.log" '^line pasted A\\npasted B$' 3 && ok "pasted message sent" || bad "pasted message"

# scrollback: PgUp, End, Home
tm send-keys -t a C-c '/long 60' Enter
wait_for a 'filler line 60' 3
tm send-keys -t a PPage
wait_for a '↓ [0-9]+ more \(End\)' 3 && wait_gone a 'filler line 60' 1 && ok "PgUp scrolls back" || bad "PgUp"
tm send-keys -t a Home
wait_for a '^ · persona: pirate' 3 && ok "Home: top of the conversation" || bad "Home"
tm send-keys -t a End
wait_for a 'filler line 60' 3 && wait_gone a 'more \(End\)' 1 && ok "End: back to the bottom" || bad "End"

# quit with Ctrl-C twice on an empty input
tm send-keys -t a C-c
wait_for a 'Press Ctrl-C again to quit' 3 && ok "first Ctrl-C warns" || bad "no Ctrl-C warning"
tm send-keys -t a C-c
restored a 0

# ---------------------------------------------------------------- session b
# history from session a; /quit
start b -- --no-load
wait_for b 'fake-1M loaded' 5
tm send-keys -t b Up
wait_for b '^ ❯ /long 60' 3 && ok "history: last line of the previous run" || bad "history not kept"
tm send-keys -t b Up
wait_for b '^ ❯ pasted A' 3 && wait_for b '^   pasted B' 1 && ok "history: multi-line entry" || bad "multi-line history"
tm send-keys -t b C-c C-r 'line o'
wait_for b 'reverse-i-search.*line o' 3 && wait_for b '^ ❯ line one' 1 && ok "Ctrl-R searches history" || bad "Ctrl-R"
tm send-keys -t b C-c
wait_gone b 'reverse-i-search' 3 && ok "Ctrl-C ends the search" || bad "search not ended"
tm send-keys -t b '/quit' Enter
restored b 0

# ---------------------------------------------------------------- session c
# NO_COLOR, then SIGTERM
start c NO_COLOR=1 -- --no-load --delay 1
wait_for c 'fake-1M loaded' 5
tm send-keys -t c 'hi' Enter
wait_for c 'End of reply 1\.' 5
tm capture-pane -p -e -t c | grep -qE "$ESC\[([0-9;]*;)?(3[0-8]|4[0-8]|9[0-7]|10[0-7])(;[0-9;]*)?m" \
    && bad "colours shown despite NO_COLOR" || ok "NO_COLOR: no colours"
tm capture-pane -p -e -t c | grep -q "$ESC\[[0-9;]*7m" && ok "NO_COLOR: status bar in reverse video" || bad "NO_COLOR status bar"
pid=$(sed -n 's/^pid //p' "$T/c.log")
kill -TERM "$pid"
restored c 143

# ---------------------------------------------------------------- session h
# colours from the app's config win over NO_COLOR when it says so
start h NO_COLOR=1 -- --no-load --colors on --color 'user=green on blue'
wait_for h 'fake-1M loaded' 5
tm send-keys -t h 'hi there' Enter
wait_for h '^ ❯ hi there' 3
tm capture-pane -p -e -t h | grep 'hi there' | grep -q "$ESC\[32m$ESC\[44mhi there\|$ESC\[32;44mhi there" \
    && ok "configured colour used" || { bad "configured colour not used"; tm capture-pane -p -e -t h | grep 'hi there' | cat -v; }
tm send-keys -t h C-d
restored h 0

# ---------------------------------------------------------------- sessions f, g
# SIGHUP as an event; SIGINT through the UI's own handler (--no-catch)
start f -- --no-load
wait_for f 'fake-1M loaded' 5
kill -HUP "$(sed -n 's/^pid //p' "$T/f.log")"
restored f 129
start g -- --no-load --no-catch
wait_for g 'fake-1M loaded' 5
kill -INT "$(sed -n 's/^pid //p' "$T/g.log")"
restored g 130

# ---------------------------------------------------------------- sessions d, e
# crashes: abort() and a segfault still restore the terminal
start d -- --no-load
wait_for d 'fake-1M loaded' 5
tm send-keys -t d '/crash' Enter
restored d 134
start e -- --no-load
wait_for e 'fake-1M loaded' 5
tm send-keys -t e '/segv' Enter
# AddressSanitizer (make test-sanitize) reports a segfault and exits 1 itself
segv_rc=139
grep -q __asan_init "$DRV" && segv_rc=1
restored e $segv_rc

exit $fail
