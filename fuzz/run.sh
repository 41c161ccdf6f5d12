#!/bin/sh
# fuzz/run.sh MODE HARNESS [SECONDS]: runs one libFuzzer harness built by
# fuzz/fuzz.mk ($FUZZ_B/fuzz_HARNESS; FUZZ_B defaults to build-fuzz).
#
#   run   fuzz for SECONDS; new inputs go to $FUZZ_B/corpus/HARNESS (never
#         into the committed corpus), crashes to $FUZZ_B/artifacts/HARNESS/
#   smoke the same for SECONDS with a throw-away corpus directory
#   merge fold $FUZZ_B/corpus/HARNESS into fuzz/corpus/HARNESS, keeping only
#         inputs that add coverage (libFuzzer -merge=1); review, then commit
#
# The committed seeds (fuzz/corpus/HARNESS) and crash regressions
# (fuzz/regressions/HARNESS) are always read first. The log is
# $FUZZ_B/logs/HARNESS.log; one summary line goes to stdout:
#   fuzz HARNESS: N inputs in S s, cov C, ft F, corpus K: ok | CRASH (artifact)
set -u
mode=$1 h=$2 secs=${3:-600}
B=${FUZZ_B:-build-fuzz}
bin=$B/fuzz_$h
[ -x "$bin" ] || { echo "fuzz/run.sh: $bin is not built (make fuzz-build)"; exit 2; }

# Per-harness options: input size cap and a dictionary of tokens the format uses.
case $h in
    gguf) opts="-max_len=12288 -dict=fuzz/dict/gguf.dict" ;;
    tokenizer|stream) opts="-max_len=4096" ;;
    transcript|config|persona) opts="-max_len=8192 -dict=fuzz/dict/yaml.dict" ;;
    *) echo "fuzz/run.sh: unknown harness '$h'"; exit 2 ;;
esac
seeds="fuzz/corpus/$h"
regs=""
[ -d "fuzz/regressions/$h" ] && regs="fuzz/regressions/$h"
mkdir -p "$B/logs" "$B/artifacts/$h"
log=$B/logs/$h.log
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case $mode in
merge)
    new=$(mktemp -d)
    # shellcheck disable=SC2086
    "$bin" -merge=1 $opts "$new" "$seeds" "$B/corpus/$h" >"$log" 2>&1 || { tail -n 20 "$log"; rm -rf "$new"; exit 1; }
    rm -f "$seeds"/*
    mv "$new"/* "$seeds"/ 2>/dev/null
    rm -rf "$new"
    echo "fuzz $h: merged corpus now $(ls "$seeds" | wc -l) files, $(du -sk "$seeds" | cut -f1) KiB"
    exit 0 ;;
run) work=$B/corpus/$h; mkdir -p "$work" ;;
smoke) work=$(mktemp -d) ;;
*) echo "fuzz/run.sh: mode must be run, smoke or merge"; exit 2 ;;
esac

# -timeout: an input taking over 10 s is a hang; -rss_limit_mb / malloc limit:
# a file must not make the reader allocate gigabytes.
# shellcheck disable=SC2086
"$bin" $opts -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$h/" "$work" "$seeds" $regs >"$log" 2>&1
rc=$?
[ "$mode" = smoke ] && rm -rf "$work"

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
time_s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
if [ $rc -eq 0 ]; then
    echo "fuzz $h: ${execs:-?} inputs in ${secs} s (${time_s:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}: ok"
else
    art=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //')
    echo "fuzz $h: CRASH after ${execs:-?} inputs (rc $rc); input: ${art:-none}; log: $log"
    grep -E "ERROR|property failed|runtime error|SUMMARY" "$log" | head -n 5 | sed 's/^/    | /'
fi
exit $rc
