#!/bin/sh
# The first run's kernel compile says what it does and shows time passing
# (issue 23, item 16): with an empty cache directory (no pipeline cache, no
# Mesa shader cache) `--backend vulkan` compiles the kernels before the first
# prompt; the TUI's notice line names the step and counts the seconds, and
# the text changes while it runs; --no-tui on a terminal does the same on
# its stderr line. Needs a Vulkan device (lavapipe will do).
set -u
. "$(dirname "$0")/tmux_lib.sh"
M=$MODELS/g2-default.gguf
tmux_init warmup
skip() { echo "SKIP: $1"; [ "${CI:-}" = true ] && exit 1; exit 77; }
[ -f "$M" ] || skip "kernel warm-up (no $M: make models)"
"$BIN" devices 2>/dev/null | grep -q '^\*' || skip "kernel warm-up (no Vulkan device)"

# start NAME ARGS...: in a 100x30 terminal with caches of its own, all cold;
# stderr to $T/NAME.err, but for --no-tui (its progress is for a terminal).
# The first-run self-check (vk/vk_selfcheck.h) is left out: with Mesa's cache
# cold too its own compile would come first, silently, for about a minute on
# lavapipe (tests/t_selfcheck.sh tests it).
start() {
    _name=$1; shift
    _err="2>'$T/$_name.err'"
    case "$*" in *--no-tui*) _err="" ;; esac
    mkdir -p "$T/$_name.cache"
    tm new-session -d -x 100 -y 30 -s "$_name" -e INPUTRC=/dev/null -e "HOME=$T" -e NO_COLOR= \
        -e "XDG_STATE_HOME=$T/state" -e "XDG_DATA_HOME=$T/data" -e "XDG_CONFIG_HOME=$T/config" \
        -e "XDG_CACHE_HOME=$T/$_name.cache" -e "MESA_SHADER_CACHE_DIR=$T/$_name.cache/mesa" -e GEMMA_CHAT_SELFCHECK=0 \
        "stty -g >'$T/$_name.stty0'; '$BIN' $* $_err; echo \$? >'$T/$_name.rc'; stty -g >'$T/$_name.stty1'; exec sleep 600"
}
# counting S ERE: the first line of S's screen that matches ERE (in $now).
counting() { now=$(cap "$1" | grep -oE -- "$2" | head -n 1); [ -n "$now" ]; }
changed() { counting "$1" "$2" && [ "$now" != "$first" ]; }

# watch S ERE DONE: a matching text shows up, then changes, then DONE comes.
watch() {
    if until_ok 60 counting "$1" "$2"; then
        first=$now
        until_ok 60 changed "$1" "$2" && ok "$1: the compile progress moves ('$first' -> '$now')" \
            || bad "$1: the compile progress stays at '$first'"
    else
        bad "$1: no compile progress on the screen"; show "screen" "$1"
    fi
    wait_for "$1" "$3" 180 || bad "$1: the compile did not end"
}

G="-m $M --backend vulkan --persona none -n 4"
start a $G
watch a 'Compiling the compute kernels \(first run only\): the (prefill|decode) kernels, [0-9]+ s' \
    'Compiled the compute kernels in [0-9]+ s'
screen_lacks a 'Compiling the compute kernels' || bad "a: the compile notice stays after the compile"
tm send-keys -t a '/quit' Enter
restored a 0

start b $G --no-tui
watch b '^  the (prefill|decode) kernels, [0-9]+ s' \
    'compiled the compute kernels in [0-9]+ s'
tm send-keys -t b '/quit' Enter
restored b 0 modes
exit $fail
