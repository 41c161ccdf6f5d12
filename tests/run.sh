#!/bin/sh
# Runs the whole suite: every compiled unit test ($B/tests/test_*) and every
# script test (tests/t_*.sh). Each gets $B, $BIN (the gemma-chat binary),
# $PYTHON and $MODELS (the generated test models). Prints one line per test
# (PASS, FAIL or SKIP, with its time), then exactly one line
# "N passed, N failed, N skipped" and the total time ("total: N s"); exits
# nonzero if any failed. TESTS=pattern runs the tests whose file name holds it
# (TESTS="pattern1 pattern2": any of them).
#
# Skips: a test that cannot run here is never shown as passed.
#  - exit status 77: the whole test was skipped. It prints why, as one line
#    "SKIP: WHAT (REASON)"; run.sh shows it and counts one skip.
#  - exit status 0 with "SKIP: WHAT (REASON)" lines: the test ran, but the parts
#    named were left out. It counts as passed, each line as one skip, and the
#    lines are shown under its PASS line.
#  - under CI=true a skip of something CI always has (the real model, tmux, a
#    Vulkan device: tools/install-deps.sh and `make test` install them) is a
#    failure; each test decides that itself, through tests/skip_lib.sh
#    (script tests) or test_skip_ci() / test_skip_all_ci() of tests/test.h.
#    A missing CPU instruction set is a skip everywhere.
#
# Homes and caches: tests never read or write the user's own files. Config,
# transcripts and history live under the build directory, one home per test
# ($B/test-home/NAME: XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME). The caches of
# compiled kernels (Mesa's shader cache, gemma-chat's pipeline files, the
# validation layer's cache) live in $GC_TEST_CACHE (the Makefile's
# TEST_CACHE, build-cache/ by default), shared by every test and by both builds
# (`make test`, `make test-sanitize`): their keys name the driver and the
# SPIR-V, which both builds embed the same, so a kernel compiled once is never
# compiled again, and sanitizers have nothing to find inside Mesa's compiler.
set -u
B=${B:-build}
BIN=${BIN:-./gemma-chat}
PYTHON=${PYTHON:-/usr/bin/python3}
MODELS=${MODELS:-$B/models}
export B BIN PYTHON MODELS
T_HOME=$(cd "$B" && pwd)/test-home
GC_TEST_CACHE=${GC_TEST_CACHE:-$T_HOME/cache}
mkdir -p "$GC_TEST_CACHE"
GC_TEST_CACHE=$(cd "$GC_TEST_CACHE" && pwd)
export XDG_CACHE_HOME=$GC_TEST_CACHE GC_TEST_CACHE
# Mesa's cache stays the suite's even in tests that point XDG_CACHE_HOME
# elsewhere (to see a fresh gemma-chat pipeline cache, for instance).
export MESA_SHADER_CACHE_DIR=$GC_TEST_CACHE/mesa_shader_cache
mkdir -p "$MESA_SHADER_CACHE_DIR"
# Vulkan validation: tests that create a Vulkan device enable the Khronos layer
# themselves and fail on any message (see vk/). Keep llvmpipe's thread count fixed
# so timings in logs are comparable.
export LP_NUM_THREADS=${LP_NUM_THREADS:-2}
# Two lanes (TEST_JOBS, default 2: CI has 2 cores). The Vulkan tests spend much
# of their time in lavapipe's one-threaded kernel compiles and the script tests
# mostly wait on the program they drive, so a second lane fills the other
# core. Each lane takes the next unclaimed test of one list (mkdir is the
# lock); the longest tests come first so that the lanes end together. Every
# test has its own config, data and state homes, so none sees another's
# files. Results are printed in the list's order as they come in.
JOBS=${TEST_JOBS:-2}
LOGS=$B/test-logs
rm -rf "$LOGS"; mkdir -p "$LOGS/claim"
# Longest first (their times: docs/bench-results.md, "CI time").
first="test_vk_gemma test_vk_ops t_real_model.sh test_vk_backend test_vk_selfcheck t_vk_logits.sh t_demo.sh test_session"
list=
for n in $first; do
    for t in $B/tests/$n tests/$n; do [ -e "$t" ] && list="$list $t"; done
done
for t in $B/tests/test_* tests/t_*.sh; do
    [ -e "$t" ] || continue
    case " $list " in *" $t "*) continue;; esac
    list="$list $t"
done
sel=
for t in $list; do
    name=$(basename "$t")
    case "$name" in *.d|*.o) continue;; esac
    if [ -n "${TESTS:-}" ]; then
        hit=0
        for p in $TESTS; do case "$name" in *"$p"*) hit=1 ;; esac; done
        [ $hit = 1 ] || continue
    fi
    sel="$sel $t"
done

# CPU seconds (user + system) of this shell's finished children so far: the
# second line of `times`, which must run in this shell (`times >FILE`; in a
# command substitution it would count a subshell's children: none).
child_cpu() {
    sed -n 2p "$1" | awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}
# run_one TEST: runs it, writes $LOGS/NAME.res: "rc seconds cpu-seconds"
# (after the log). The CPU time counts what the test waited for (not a tmux
# server it started): on a loaded machine it says more than the wall time.
run_one() {
    name=$(basename "$1")
    h=$T_HOME/$name
    rm -rf "$h"; mkdir -p "$h/config" "$h/data" "$h/state"
    times >"$LOGS/$name.times"; c=$(child_cpu "$LOGS/$name.times")
    s=$(date +%s)
    case "$1" in
        *.sh) XDG_CONFIG_HOME=$h/config XDG_DATA_HOME=$h/data XDG_STATE_HOME=$h/state sh "$1" ;;
        *) XDG_CONFIG_HOME=$h/config XDG_DATA_HOME=$h/data XDG_STATE_HOME=$h/state "$1" ;;
    esac >"$LOGS/$name.log" 2>&1 </dev/null
    rc=$?
    e=$(( $(date +%s) - s ))
    times >"$LOGS/$name.times"
    echo "$rc $e $(( $(child_cpu "$LOGS/$name.times") - c ))" >"$LOGS/$name.res.tmp"
    mv "$LOGS/$name.res.tmp" "$LOGS/$name.res"
}
lane() {
    for t in $sel; do
        mkdir "$LOGS/claim/$(basename "$t")" 2>/dev/null && run_one "$t"
    done
}

pass=0; fail=0; skip=0; failed=""
echo "== tests of $BIN (B=$B), $JOBS at a time"
start_all=$(date +%s)
pids=
i=0
while [ $i -lt "$JOBS" ]; do lane & pids="$pids $!"; i=$((i + 1)); done
trap 'kill $pids 2>/dev/null; exit 130' INT TERM
for t in $sel; do
    name=$(basename "$t")
    log=$LOGS/$name.log
    while [ ! -e "$LOGS/$name.res" ]; do sleep 1; done
    read -r rc e cpu <"$LOGS/$name.res"
    parts=$(grep -c '^SKIP: ' "$log")
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1)); skip=$((skip + parts))
        printf 'PASS %-40s %4ss  cpu %4ss%s\n' "$name" "$e" "$cpu" "$([ "$parts" -gt 0 ] && echo "  ($parts skipped)")"
        grep '^SKIP: ' "$log" | sed 's/^/    | /'
    elif [ "$rc" -eq 77 ]; then
        skip=$((skip + 1))
        printf 'SKIP %-40s %4ss  cpu %4ss\n' "$name" "$e" "$cpu"
        if [ "$parts" -gt 0 ]; then grep '^SKIP: ' "$log" | sed 's/^/    | /'
        else echo "    | (the test gave no SKIP: line saying why)"; fi
    else
        fail=$((fail + 1)); failed="$failed $name"
        printf 'FAIL %-40s %4ss  cpu %4ss  (rc %d)\n' "$name" "$e" "$cpu" "$rc"
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
done
wait
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
echo "total: $(( $(date +%s) - start_all )) s"
[ $fail -eq 0 ]
