#!/bin/sh
# bench.sh: gemma-chat against llama.cpp on the same GGUF files, same machine, one run.
#
#   tools/bench.sh [MODEL_KEY...]        keys: q8 q4km g3real g2b (default: q8 q4km g3real g2b)
#
# Engines (ENGINES, default "cpu llama-cpu vulkan llama-vulkan"):
#   cpu           gemma-chat's native CPU backend, one thread per CPU
#   vulkan        gemma-chat's Vulkan backend (lavapipe where there is no GPU)
#   llama-cpu     llama.cpp's CPU backend (oracle_cpu), once per thread count in THREADS
#   llama-vulkan  llama.cpp's Vulkan backend (oracle_vulkan, all layers offloaded)
# Each does the same work: a warm-up, then a prefill of PP tokens in one batch
# and TG decode steps. Every engine runs once per round, REPS rounds, and the
# medians are printed, so a change in a shared machine's load hits all alike.
#
# The roofline: decode reads every weight once per token, so it cannot beat
# (read bandwidth) / (weight bytes per token). tools/membw.c measures the
# bandwidth in the same run (one thread per CPU), unless BW gives it (GB/s:
# tools/vk_gpu_check.sh passes the GPU's); gemma-chat bench reports the bytes
# (weights_mib_per_token); decode is printed as % of that limit.
# The ratio columns divide the gemma-chat engine BASE's tok/s by each engine's.
#
# Models (built on first use into $BENCH_DIR, default build/bench, gitignored):
#   q8     g2-bench300m (tools/gen_model.py preset) quantized to Q8_0   (oracle_cpu quantize .. 7)
#   q4km   g2-bench300m quantized to Q4_K_M                             (oracle_cpu quantize .. 15)
#   g3real the real Gemma 3 270M Q4_K_M ($REAL_MODEL, else models/)
#   g2b    g2-bench2b (Gemma 2 2B's shape, 1.7 GB) quantized to Q4_K_M; PP_2B / TG_2B
#          (64 / 16) replace PP / TG for it
#
# Environment: PP (128), TG (32), PP_2B (64), TG_2B (16), REPS (3), THREADS ("1 nproc"),
# ENGINES, BASE (cpu), BW (measured), BW_SOURCE (what measured BW), BIN (./gemma-chat),
# PYTHON (/usr/bin/python3), ORACLE_ENV (~/.cache/llama-oracle/env.sh: needed for the
# llama engines and to make the models), BENCH_DIR.
set -eu

PP=${PP:-128}
TG=${TG:-32}
PP_2B=${PP_2B:-64}
TG_2B=${TG_2B:-16}
REPS=${REPS:-3}
THREADS=${THREADS:-"1 $(nproc)"}
ENGINES=${ENGINES:-"cpu llama-cpu vulkan llama-vulkan"}
BASE=${BASE:-cpu}
BW=${BW:-}
BIN=${BIN:-./gemma-chat}
PYTHON=${PYTHON:-/usr/bin/python3}
BENCH_DIR=${BENCH_DIR:-build/bench}
ORACLE_ENV=${ORACLE_ENV:-$HOME/.cache/llama-oracle/env.sh}

[ -x "$BIN" ] || { echo "bench.sh: $BIN not found (run make)" >&2; exit 1; }
if [ -f "$ORACLE_ENV" ]; then . "$ORACLE_ENV"
else
    case " $ENGINES " in *" llama-"*)
        echo "bench.sh: $ORACLE_ENV not found (../shared/oracle/setup.sh)" >&2; exit 1 ;;
    esac
fi
mkdir -p "$BENCH_DIR"
MEMBW=$BENCH_DIR/membw
[ -n "$BW" ] || cc -O2 -std=c11 -D_GNU_SOURCE -I. -o "$MEMBW" tools/membw.c -lpthread

gen() {   # $1 = preset, $2 = ftype number, $3 = output
    src="$BENCH_DIR/$1-src.gguf"
    command -v oracle_cpu >/dev/null || { echo "bench.sh: making $3 needs the oracle ($ORACLE_ENV)" >&2; return 1; }
    if [ ! -f "$src" ]; then
        echo "bench.sh: generating $src" >&2
        "$PYTHON" tools/gen_model.py --preset "$1" -o "$src"
    fi
    echo "bench.sh: quantizing to $3" >&2
    oracle_cpu quantize "$src" "$3.tmp" "$2" >/dev/null 2>&1
    mv "$3.tmp" "$3"
}

model_path() {
    case $1 in
    q8)   p="$BENCH_DIR/g2-bench300m-q8_0.gguf";   [ -f "$p" ] || gen g2-bench300m 7 "$p" ;;
    q4km) p="$BENCH_DIR/g2-bench300m-q4_k_m.gguf"; [ -f "$p" ] || gen g2-bench300m 15 "$p" ;;
    g2b)  p="$BENCH_DIR/g2-bench2b-q4_k_m.gguf";   [ -f "$p" ] || gen g2-bench2b 15 "$p" ;;
    g3real)
        p=${REAL_MODEL:-models/gemma-3-270m-q4_k_m.gguf}
        [ -f "$p" ] || { echo "bench.sh: no real model (make real-model)" >&2; return 1; } ;;
    *) echo "bench.sh: unknown model key $1 (q8 q4km g3real g2b)" >&2; return 1 ;;
    esac
    echo "$p"
}

describe() {
    case $1 in
    q8)     echo "g2-bench300m Q8_0" ;;
    q4km)   echo "g2-bench300m Q4_K_M" ;;
    g3real) echo "Gemma 3 270M (real) Q4_K_M" ;;
    g2b)    echo "Gemma 2 2B shape Q4_K_M" ;;
    esac
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }'; }

# One run of engine $1 (with threads $3 for llama-cpu) on model $2, appended to
# $T/$1$3 as "pp tg".
run_one() {
    case $1 in
    cpu|vulkan)
        line=$("$BIN" bench -m "$2" --backend "$1" --pp "$pp" --tg "$tg" --reps 1 2>/dev/null) || line=""
        echo "$line" | sed -n 's/.*prefill_tok_s=\([0-9.]*\).*decode_tok_s=\([0-9.]*\).*/\1 \2/p' >>"$T/$1$3"
        w=$(echo "$line" | sed -n 's/.*weights_mib_per_token=\([0-9.]*\).*/\1/p')
        [ -z "$w" ] || echo "$w" >"$T/weights" ;;
    llama-cpu)    oracle_cpu bench "$2" 0 "$pp" "$tg" "$3" 2>/dev/null |
                  sed -n 's/^prefill .* s \([0-9.]*\) tok\/s | decode .* s \([0-9.]*\) tok\/s/\1 \2/p' >>"$T/$1$3" ;;
    llama-vulkan) oracle_vulkan bench "$2" 99 "$pp" "$tg" 2>/dev/null |
                  sed -n 's/^prefill .* s \([0-9.]*\) tok\/s | decode .* s \([0-9.]*\) tok\/s/\1 \2/p' >>"$T/$1$3" ;;
    esac
}

label() {
    case $1 in
    cpu) echo "gemma-chat cpu ($(nproc) threads)" ;;
    vulkan) echo "gemma-chat vulkan" ;;
    llama-cpu) echo "llama.cpp CPU ($2 thread$([ "$2" = 1 ] || echo s))" ;;
    llama-vulkan) echo "llama.cpp Vulkan" ;;
    esac
}

[ $# -gt 0 ] || set -- q8 q4km g3real g2b

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
flags=$(grep -o -w 'avx2\|fma\|f16c\|avx512f\|avx512bw\|avx512vl\|avx512_vnni\|avx_vnni\|avx512_bf16\|amx_bf16\|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')
dev=$("$BIN" devices 2>/dev/null | sed -n "s/^would use: //p" | cut -d: -f1)
echo "machine: $(nproc) cores, $cpu; flags: $flags; Vulkan device: ${dev:-?}; $(date -u '+%Y-%m-%d %H:%M UTC')"
if [ -n "$BW" ]; then
    bw=$BW
    echo "read bandwidth: $bw GB/s (${BW_SOURCE:-given})"
else
    bw=$("$MEMBW" | sed -n 's/membw_gb_s=\([0-9.]*\).*/\1/p')
    bw1=$("$MEMBW" 1 | sed -n 's/membw_gb_s=\([0-9.]*\).*/\1/p')
    echo "read bandwidth: $bw GB/s ($(nproc) threads), $bw1 GB/s (1 thread)"
fi
echo "command: PP=$PP TG=$TG REPS=$REPS THREADS=\"$THREADS\" ENGINES=\"$ENGINES\" BASE=$BASE tools/bench.sh $*"
echo
echo "| model | engine | prefill tok/s | decode tok/s | decode % of roofline | gemma-chat $BASE prefill ratio | gemma-chat $BASE decode ratio |"
echo "|---|---|---|---|---|---|---|"
for key in "$@"; do
    m=$(model_path "$key")
    pp=$PP; tg=$TG
    [ "$key" != g2b ] || { pp=$PP_2B; tg=$TG_2B; }
    T=$(mktemp -d)
    echo "bench.sh: $key = $m (pp $pp, tg $tg)" >&2
    i=0
    while [ $i -lt "$REPS" ]; do
        for e in $ENGINES; do
            if [ "$e" = llama-cpu ]; then for th in $THREADS; do run_one "$e" "$m" "$th"; done
            else run_one "$e" "$m" ""; fi
        done
        i=$((i + 1))
    done
    W=$(cat "$T/weights" 2>/dev/null || echo 0)
    roof=$(awk -v bw="$bw" -v w="$W" 'BEGIN { if (w > 0) printf "%.1f", bw * 1e9 / (w * 1048576); else print 0 }')
    opp=$( [ -f "$T/$BASE" ] && cut -d' ' -f1 "$T/$BASE" | median || echo 0)
    otg=$( [ -f "$T/$BASE" ] && cut -d' ' -f2 "$T/$BASE" | median || echo 0)
    for e in $ENGINES; do
        ths=""; [ "$e" = llama-cpu ] && ths=$THREADS
        for th in ${ths:-""}; do
            f="$T/$e$th"
            [ -s "$f" ] || { echo "| $(describe "$key") | $(label "$e" "$th") | failed | | | | |"; continue; }
            p=$(cut -d' ' -f1 "$f" | median); g=$(cut -d' ' -f2 "$f" | median)
            pct=$(awk -v g="$g" -v r="$roof" 'BEGIN { if (r > 0) printf "%.0f%%", 100 * g / r; else print "-" }')
            if [ "$e" = "$BASE" ]; then rp=""; rg=""; else rp=$(ratio "$opp" "$p"); rg=$(ratio "$otg" "$g"); fi
            echo "| $(describe "$key") | $(label "$e" "$th") | $p | $g | $pct | $rp | $rg |"
        done
    done
    echo "| $(describe "$key") | roofline ($W MiB/token at $bw GB/s) | | $roof | 100% | | |"
    rm -rf "$T"
done
