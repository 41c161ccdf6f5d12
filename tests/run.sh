#!/bin/sh
# Runs the whole suite: every compiled unit test ($B/tests/test_*) and every
# script test (tests/t_*.sh). Each gets $B, $BIN (the gemma-chat binary),
# $PYTHON and $MODELS (the generated test models). Prints one line per test
# (PASS, FAIL or SKIP, with its time), then exactly one line
# "N passed, N failed, N skipped" and the total time ("total: N s"); exits
# nonzero if any failed. TESTS=pattern runs the tests whose file name holds it.
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
# Caches: tests never read or write the user's own files. Config, transcripts
# and history live under the build directory ($B/test-home). The caches of
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
export XDG_CONFIG_HOME=$T_HOME/config XDG_DATA_HOME=$T_HOME/data XDG_STATE_HOME=$T_HOME/state \
       XDG_CACHE_HOME=$GC_TEST_CACHE GC_TEST_CACHE
# Mesa's cache stays the suite's even in tests that point XDG_CACHE_HOME
# elsewhere (to see a fresh gemma-chat pipeline cache, for instance).
export MESA_SHADER_CACHE_DIR=$GC_TEST_CACHE/mesa_shader_cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$MESA_SHADER_CACHE_DIR"
# Vulkan validation: tests that create a Vulkan device enable the Khronos layer
# themselves and fail on any message (see vk/). Keep llvmpipe's thread count fixed
# so timings in logs are comparable.
export LP_NUM_THREADS=${LP_NUM_THREADS:-2}
mkdir -p "$B/test-logs"
pass=0; fail=0; skip=0; failed=""
start_all=$(date +%s)
for t in $B/tests/test_* tests/t_*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t")
    case "$name" in *.d|*.o) continue;; esac
    if [ -n "${TESTS:-}" ]; then case "$name" in *$TESTS*) ;; *) continue;; esac; fi
    log=$B/test-logs/$name.log
    s=$(date +%s)
    case "$t" in
        *.sh) sh "$t" >"$log" 2>&1 ;;
        *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    e=$(( $(date +%s) - s ))
    parts=$(grep -c '^SKIP: ' "$log")
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); skip=$((skip + parts))
        printf 'PASS %-40s %4ss%s\n' "$name" "$e" "$([ "$parts" -gt 0 ] && echo " ($parts skipped)")"
        grep '^SKIP: ' "$log" | sed 's/^/    | /'
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1))
        printf 'SKIP %-40s %4ss\n' "$name" "$e"
        if [ "$parts" -gt 0 ]; then grep '^SKIP: ' "$log" | sed 's/^/    | /'
        else echo "    | (the test gave no SKIP: line saying why)"; fi
    else
        fail=$((fail + 1)); failed="$failed $name"
        printf 'FAIL %-40s %4ss (rc %d)\n' "$name" "$e" "$rc"
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
echo "total: $(( $(date +%s) - start_all )) s"
[ $fail -eq 0 ]
