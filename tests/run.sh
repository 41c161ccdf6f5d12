#!/bin/sh
# Runs the whole suite: every compiled unit test ($B/tests/test_*) and every
# script test (tests/t_*.sh). Each gets $B, $BIN (the gemma-chat binary),
# $PYTHON and $MODELS (the generated test models). Prints one line per test
# and exits nonzero if any failed. TESTS=pattern runs a subset.
set -u
B=${B:-build}
BIN=${BIN:-./gemma-chat}
PYTHON=${PYTHON:-/usr/bin/python3}
MODELS=${MODELS:-$B/models}
export B BIN PYTHON MODELS
# Tests never read or write the user's own files: config, transcripts, history
# and caches (ours, and Mesa's shader cache) live under the build directory.
T_HOME=$(cd "$B" && pwd)/test-home
export XDG_CONFIG_HOME=$T_HOME/config XDG_DATA_HOME=$T_HOME/data XDG_STATE_HOME=$T_HOME/state \
       XDG_CACHE_HOME=$T_HOME/cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"
# Vulkan validation: tests that create a Vulkan device enable the Khronos layer
# themselves and fail on any message (see vk/). Keep llvmpipe's thread count fixed
# so timings in logs are comparable.
export LP_NUM_THREADS=${LP_NUM_THREADS:-2}
mkdir -p "$B/test-logs"
pass=0; fail=0; failed=""
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
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf 'PASS %-40s %4ss\n' "$name" "$e"
    else
        fail=$((fail + 1)); failed="$failed $name"
        printf 'FAIL %-40s %4ss (rc %d)\n' "$name" "$e" "$rc"
        tail -n 30 "$log" | sed 's/^/    | /'
    fi
done
echo "== $pass passed, $fail failed in $(( $(date +%s) - start_all ))s${failed:+:$failed}"
[ $fail -eq 0 ]
