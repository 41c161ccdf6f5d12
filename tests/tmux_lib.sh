# tests/tmux_lib.sh: what the tests that drive a program in tmux share
# (t_tui*.sh, t_signals.sh, t_load_restore.sh, t_warmup.sh): $B, $BIN and
# $MODELS made absolute, and the helpers below. Sourced, not run (tests/run.sh
# only runs t_*.sh). `tmux_init NAME` makes $T (a fresh temporary directory,
# removed at exit), a private tmux server (`tm ARGS...`) and the traps that
# stop it; pids listed in $PIDS are killed at exit too. Then:
#   ok TEXT / bad TEXT          a result line; bad sets fail=1
#   until_ok SECONDS CMD...     CMD every 50 ms until it succeeds or time is up
#   tui_start S ARGS...         gemma-chat ARGS in session S, private HOME/XDG dirs
#   cap S / fmt S FORMAT        the screen of session S / a tmux format of it
#   screen_has S ERE, screen_lacks S ERE, screen_is S FILE, file_has FILE ERE
#   wait_for S ERE [SECONDS]    until a line of the screen matches (shows it if not)
#   wait_gone S ERE [SECONDS]   until no line matches
#   wait_file FILE ERE [SECONDS], wait_same S FILE [SECONDS]
#   restored S RC [modes]       the program in S exited with RC and left the
#                               terminal modes (and, unless "modes", the screen
#                               flags) as they were; needs $T/S.rc, .stty0, .stty1
# Every wait polls with a timeout; nothing relies on a fixed sleep.

# The suite's paths (tests/run.sh exports them), absolute: the programs run
# in tmux sessions that start in other directories.
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
case $MODELS in /*) ;; *) MODELS=$(pwd)/$MODELS ;; esac

# Without tmux the test is skipped (exit 77), except under CI=true, where
# tools/install-deps.sh has installed it: there it fails.
. "$(dirname "$0")/skip_lib.sh"
command -v tmux >/dev/null 2>&1 || skip "the tmux-driven terminal tests" "tmux is not installed; tools/install-deps.sh installs it" ci

tmux_init() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/gc-$1-XXXXXX")
    SOCK=gc-$1-$$
    export LANG=C.UTF-8
    unset LC_ALL
    _term=screen-256color
    infocmp tmux-256color >/dev/null 2>&1 && _term=tmux-256color
    printf 'set -g default-terminal %s\nset -g escape-time 0\nset -g history-limit 0\n' "$_term" >"$T/tmux.conf"
    PIDS=""
    trap tmux_cleanup EXIT
    trap 'exit 1' INT TERM HUP PIPE   # the EXIT trap then stops tmux
}
tm() { tmux -u -L "$SOCK" -f "$T/tmux.conf" "$@"; }
tmux_cleanup() {
    for _p in $PIDS; do kill "$_p" 2>/dev/null; done
    tm kill-server >/dev/null 2>&1
    rm -rf "$T"
}

fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
until_ok() {
    _n=$(( $1 * 20 )); shift
    while [ $_n -gt 0 ]; do "$@" && return 0; sleep 0.05; _n=$((_n - 1)); done
    return 1
}
# tui_start S ARGS...: $BIN ARGS in a new 80x40 session S with HOME and the
# XDG directories in $T, no inputrc, NO_COLOR empty; stderr to $T/S.err.
tui_start() {
    _s=$1; shift
    tm new-session -d -x 80 -y 40 -s "$_s" -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= \
        -e "XDG_STATE_HOME=$T/state" -e "XDG_DATA_HOME=$T/data" -e "XDG_CONFIG_HOME=$T/config" \
        "'$BIN' $* 2>'$T/$_s.err'; exec sleep 600"
}
cap() { tm capture-pane -p -t "$1"; }
fmt() { tm display -p -t "$1" "$2"; }
show() { echo "--- $1:"; cap "$2" | sed 's/^/    |/'; }
screen_has() { cap "$1" | grep -qE -- "$2"; }
screen_lacks() { ! screen_has "$1" "$2"; }
screen_is() { cap "$1" >"$T/now"; cmp -s "$T/now" "$2"; }
file_has() { [ -f "$1" ] && grep -qE -- "$2" "$1"; }
wait_for() { until_ok "${3:-5}" screen_has "$1" "$2" || { show "screen of $1 without /$2/" "$1"; return 1; }; }
wait_gone() { until_ok "${3:-5}" screen_lacks "$1" "$2" || { show "screen of $1 still with /$2/" "$1"; return 1; }; }
wait_file() {
    until_ok "${3:-5}" file_has "$1" "$2" && return 0
    echo "--- $1 has no line matching /$2/:"; [ -f "$1" ] && sed 's/^/    |/' "$1"
    return 1
}
wait_same() {
    until_ok "${3:-5}" screen_is "$1" "$2" && return 0
    echo "--- screen of $1 differs from $2:"; diff "$2" "$T/now" | sed 's/^/    |/'
    return 1
}
restored() {
    if until_ok 10 test -s "$T/$1.rc"; then
        _rc=$(cat "$T/$1.rc")
        [ "$_rc" = "$2" ] && ok "$1: exit status $_rc" \
            || bad "$1: exit status $_rc, expected $2 ($(cat "$T/$1.err" 2>/dev/null))"
    else
        bad "$1: the program did not exit"; show "$1" "$1"
        return
    fi
    until_ok 5 test -s "$T/$1.stty1"
    cmp -s "$T/$1.stty0" "$T/$1.stty1" && ok "$1: terminal modes restored" \
        || bad "$1: terminal modes differ: $(cat "$T/$1.stty0") -> $(cat "$T/$1.stty1")"
    [ "${3:-}" = modes ] && return
    _flags=$(fmt "$1" '#{alternate_on} #{cursor_flag} #{mouse_any_flag} #{keypad_cursor_flag}')
    [ "$_flags" = "0 1 0 0" ] && ok "$1: normal screen, cursor shown, mouse and keypad off" \
        || bad "$1: terminal flags (alternate cursor mouse keypad) '$_flags', expected '0 1 0 0'"
}
