#!/bin/sh
# vk_gpu_check.sh: the prepared check of the Vulkan backend on a machine with a GPU: one
# script, under 10 minutes, one summary at the end. Run it whenever a GPU is at hand and
# put its output in the note.
#
#   sh tools/vk_gpu_check.sh [MODEL_KEY...]   keys of tools/bench.sh (default: q8 q4km g3real)
#   sh tools/vk_gpu_check.sh --pack-oracle    (where the oracle is installed) llama.cpp's Vulkan
#        runner and its libraries into build/llama-oracle-vulkan.tar.gz (~20 MB) to carry along;
#        this script unpacks it into build/llama-oracle and uses it
# On the device machine:  sh tools/vk_gpu_check.sh 2>&1 | tee "$OUT/vk_gpu_check.log"
#
# Steps, each PASS, FAIL or SKIP (saying what is missing) in the summary:
#   probe      shared/device/vk-probe.sh where found (else nvidia-smi and the ICD folders); an
#              ICD file for NVIDIA's driver where the machine has its library but no ICD json;
#              a carried Vulkan loader in gpu-libs/
#   build      make (gemma-chat, the Vulkan tests, build/vk_microbench, the test models) when
#              cc and glslc exist, else the binaries that came with the tree
#   devices    `gemma-chat devices -v`; FAIL when nvidia-smi sees a GPU but Vulkan only a CPU device
#   check      `gemma-chat devices --check` (the per-device kernel self-check), where the binary has it
#   tests      the Vulkan C tests and t_vk_logits.sh through tests/run.sh, with the validation
#              layer on when installed (t_vk_logits.sh needs it)
#   bandwidth  `build/vk_microbench --bandwidth`: the device's read and copy GB/s; the larger
#              is the roofline's bandwidth
#   bench      tools/bench.sh with gemma-chat's Vulkan backend and llama.cpp's (the oracle), on
#              the same device: prefill and decode tok/s, gemma-chat / llama.cpp ratios, decode
#              as % of the roofline (decode tok/s * weights_mib_per_token / bandwidth); models
#              it cannot find or make are named and left out
#   kernels    build/vk_microbench: matvec GB/s per weight type, prefill product GFLOP/s
# Every step runs under a time limit: its own cap, and never more than what is left of
# BUDGET; a step with too little time left is a SKIP. The whole run stays within BUDGET
# plus a few seconds.
#
# Environment: QUICK=1 (bench only the real model, PP 32, TG 8, one rep; no kernels step:
# for lavapipe), BUDGET (540 s), PP (512), TG (128), REPS (3), ORACLE_DIR (a folder with
# oracle-vulkan and its libraries; default build/llama-oracle, unpacked from the carried
# tar.gz, else ORACLE_ENV: ~/.cache/llama-oracle/env.sh), BENCH_DIR (build/bench), B (build).
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
ORACLE_HOME=${ORACLE_HOME:-$HOME/.cache/llama-oracle}
PACK=$B/llama-oracle-vulkan.tar.gz

if [ "${1:-}" = --pack-oracle ]; then
    bins=$ORACLE_HOME/node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan
    [ -x "$ORACLE_HOME/oracle-vulkan" ] && [ -d "$bins" ] ||
        { echo "vk_gpu_check: no oracle in $ORACLE_HOME (../shared/oracle/setup.sh)" >&2; exit 1; }
    st=$(mktemp -d)
    mkdir -p "$st/llama-oracle" "$B"
    cp "$ORACLE_HOME/oracle-vulkan" "$st/llama-oracle/"
    # The runner, llama.cpp, ggml with its Vulkan backend, and two CPU backends (llama.cpp
    # needs one; quantizing runs there): the generic one and AVX2's.
    for f in libllama.vulkan.v0.4.0.so libggml.vulkan.v0.4.0.so libggml-base.so libggml-vulkan.so \
             libggml-cpu-x64.so libggml-cpu-haswell.so; do
        cp "$bins/$f" "$st/llama-oracle/" || { rm -rf "$st"; exit 1; }
    done
    tar -C "$st" -czf "$PACK.tmp" llama-oracle && mv "$PACK.tmp" "$PACK"
    rm -rf "$st"
    echo "wrote $PACK ($(du -h "$PACK" | cut -f1)): carry it; this script unpacks it on the other machine"
    exit 0
fi

QUICK=${QUICK:-0}
BUDGET=${BUDGET:-540}
if [ "$QUICK" = 1 ]; then PP=${PP:-32}; TG=${TG:-8}; REPS=${REPS:-1}; else PP=${PP:-512}; TG=${TG:-128}; REPS=${REPS:-3}; fi
if [ $# -gt 0 ]; then KEYS="$*"; elif [ "$QUICK" = 1 ]; then KEYS=g3real; else KEYS="q8 q4km g3real"; fi
BENCH_DIR=${BENCH_DIR:-$B/bench}
PYTHON=${PYTHON:-/usr/bin/python3}
W=$B/vk-gpu-check            # logs and the oracle's env file
mkdir -p "$W"
START=$(date +%s)
say() { printf '\n== %s\n' "$*"; }
results=""
record() {   # record STATUS STEP DETAIL
    line=$(printf '%-4s %-9s %s' "$1" "$2" "$3")
    results="$results$line
"
    echo "$line"
}
# Seconds the next step may take: its cap, at most what is left of the budget.
limit() {
    left=$(( BUDGET - ($(date +%s) - START) ))
    [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}
# run_limited STEP CAP CMD...: CMD under the step's limit, output in $W/STEP.log;
# returns CMD's status (124: it ran out of time; 125: no time was left to start it).
run_limited() {
    step=$1; lim=$(limit "$2"); last_lim=$lim; shift 2
    [ "$lim" -ge 10 ] || return 125
    if command -v timeout >/dev/null; then timeout "$lim" "$@" >"$W/$step.log" 2>&1
    else "$@" >"$W/$step.log" 2>&1; fi
}
verdict() { [ "$1" = 125 ] && echo SKIP || echo FAIL; }   # of a run_limited that did not pass
why() {   # why RC STEP: the detail of a failed run_limited
    case $1 in
        124) echo "(ran out of its $last_lim s limit; log: $W/$2.log)" ;;
        125) echo "(no time left in BUDGET=$BUDGET s)" ;;
        *) echo "(exit $1; log: $W/$2.log)" ;;
    esac
}

# ---- probe ----
say "probe"
probe=""
for p in shared/device/vk-probe.sh ../shared/device/vk-probe.sh ../../shared/device/vk-probe.sh; do
    [ -f "$p" ] && { probe=$p; sh "$p"; break; }
done
if [ -z "$probe" ]; then   # its essentials
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
    ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
fi
if ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    lib=$(ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 2>/dev/null | head -1)
    if [ -n "$lib" ]; then
        icd=$W/nvidia_icd.json
        printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3"}}\n' "$lib" > "$icd"
        export VK_ICD_FILENAMES="$icd"
        echo "wrote $icd for $lib"
    fi
fi
if [ -d gpu-libs ]; then   # a carried Vulkan loader (libvulkan.so.1 from Debian's libvulkan1)
    export LD_LIBRARY_PATH="$PWD/gpu-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
icds=$(ls ${VK_ICD_FILENAMES:-/usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json} 2>/dev/null | sed 's|.*/||' | tr '\n' ' ')
record PASS probe "${gpu_name:-no GPU from nvidia-smi}; ICD files: ${icds:-none}${probe:+; $probe}"

# ---- build ----
say "build"
vk_tests=$(ls tests/test_vk_*.c | sed "s|^tests/\(.*\)\.c$|$B/tests/\1|")
if command -v cc >/dev/null && command -v glslc >/dev/null && command -v make >/dev/null; then
    # shellcheck disable=SC2086
    if run_limited build 240 make -j"$(nproc 2>/dev/null || echo 4)" B="$B" all $vk_tests vk-microbench; then
        if make -s B="$B" models >>"$W/build.log" 2>&1; then record PASS build "make"
        else record PASS build "make (test models not generated: python3 with numpy?)"; fi
    else
        rc=$?; tail -20 "$W/build.log"; record "$(verdict $rc)" build "make $(why $rc build)"
    fi
else
    record SKIP build "no cc, glslc or make here: the carried binaries"
fi
if [ ! -x ./gemma-chat ]; then
    record FAIL devices "no ./gemma-chat (build it, or carry it)"
    printf '\n== summary\n%s' "$results"
    exit 1
fi

# ---- devices ----
say "devices"
./gemma-chat devices -v 2>&1 | tee "$W/devices.log"
use=$(sed -n 's/^would use: //p' "$W/devices.log")
DEV=$(echo "$use" | sed -n 's/^\([0-9]*\) .*/\1/p')
dev_name=$(echo "$use" | sed -n 's/^[0-9]* (\(.*\))\(: .*\)\{0,1\}$/\1/p')
if [ -z "$DEV" ]; then
    record FAIL devices "no Vulkan device"
elif echo "$use" | grep -q 'CPU Vulkan device' && [ -n "$gpu_name" ]; then
    record FAIL devices "nvidia-smi sees $gpu_name, Vulkan only the CPU device $dev_name"
else
    record PASS devices "$DEV: $dev_name ($(sed -n 's/^ *driver: //p' "$W/devices.log" | sed -n "$((DEV + 1))p"))"
fi
export GGML_VK_VISIBLE_DEVICES=${DEV:-0}   # llama.cpp benches the same device

# ---- devices --check ----
say "devices --check"
run_limited check 60 ./gemma-chat devices --check; rc=$?
cat "$W/check.log"
if grep -q "unknown argument '--check'" "$W/check.log"; then record SKIP check "not available (this gemma-chat has no devices --check)"
elif [ $rc = 0 ]; then record PASS check "$(grep '^check ' "$W/check.log" | tr '\n' ' ' | cut -c1-160)"
else record "$(verdict $rc)" check "$(why $rc check)"; fi

# ---- tests ----
say "tests"
have_layer=0
for d in /usr/share/vulkan/explicit_layer.d /etc/vulkan/explicit_layer.d /usr/local/share/vulkan/explicit_layer.d; do
    [ -f "$d/VkLayer_khronos_validation.json" ] && have_layer=1
done
sel="test_vk_ t_vk_logits"
vnote="validation layer on"
if [ $have_layer -eq 0 ]; then
    export GC_VK_TEST_NO_VALIDATION=1
    sel="test_vk_"
    vnote="no validation layer: C tests without it, t_vk_logits.sh (needs it) left out"
fi
missing=""
for t in $vk_tests; do [ -x "$t" ] || missing="$missing $(basename "$t")"; done
real=models/gemma-3-270m-q4_k_m.gguf
run_limited tests 300 env TESTS="$sel" B="$B" BIN=./gemma-chat GC_TEST_CACHE="$PWD/build-cache" \
    REAL_MODEL="$([ -f "$real" ] && echo "$PWD/$real")" sh tests/run.sh; rc=$?
grep -E '^(PASS|FAIL|SKIP) |^    \| (FAIL|SKIP)' "$W/tests.log"
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$W/tests.log")
if [ $rc = 0 ] && [ -z "$missing" ]; then record PASS tests "$counts; $vnote"
elif [ -n "$missing" ]; then record FAIL tests "not built:$missing; $counts"
else record "$(verdict $rc)" tests "${counts:-no result} $(why $rc tests); $vnote"; fi

# ---- bandwidth ----
say "bandwidth"
BW=""
if [ -x "$B/vk_microbench" ]; then
    run_limited bandwidth 60 "$B/vk_microbench" --device "${DEV:-0}" --bandwidth; rc=$?
    cat "$W/bandwidth.log"
    rd=$(sed -n 's/.*vk_read_gb_s=\([0-9.]*\).*/\1/p' "$W/bandwidth.log")
    cp=$(sed -n 's/.*vk_copy_gb_s=\([0-9.]*\).*/\1/p' "$W/bandwidth.log")
    if [ $rc = 0 ] && [ -n "$rd" ] && [ -n "$cp" ]; then
        BW=$(awk -v r="$rd" -v c="$cp" 'BEGIN { print (r > c ? r : c) }')
        record PASS bandwidth "read $rd GB/s, copy $cp GB/s (read + write): roofline at $BW GB/s"
    else record "$(verdict $rc)" bandwidth "$(why $rc bandwidth)"; fi
else
    record SKIP bandwidth "no $B/vk_microbench (make vk-microbench)"
fi

# ---- bench ----
say "bench"
# The oracle: a carried pack, ORACLE_DIR, or this machine's env.sh.
if [ -z "${ORACLE_DIR:-}" ] && [ -f "$PACK" ]; then
    [ -x "$B/llama-oracle/oracle-vulkan" ] || tar -C "$B" -xzf "$PACK"
    ORACLE_DIR=$B/llama-oracle
fi
oenv=""
if [ -n "${ORACLE_DIR:-}" ] && [ -x "$ORACLE_DIR/oracle-vulkan" ]; then
    od=$(cd "$ORACLE_DIR" && pwd)
    oenv=$W/oracle-env.sh
    # oracle_cpu (used by bench.sh to quantize) is the same runner with no Vulkan device.
    cat >"$oenv" <<EOF
oracle_vulkan() { LD_LIBRARY_PATH=$od\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} LLAMA_BIN_DIR=$od $od/oracle-vulkan "\$@"; }
oracle_cpu() { GGML_VK_VISIBLE_DEVICES= LD_LIBRARY_PATH=$od\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} LLAMA_BIN_DIR=$od $od/oracle-vulkan "\$@"; }
EOF
elif [ -f "${ORACLE_ENV:-$ORACLE_HOME/env.sh}" ]; then
    oenv=${ORACLE_ENV:-$ORACLE_HOME/env.sh}
fi
engines="vulkan llama-vulkan"
[ -n "$oenv" ] || engines=vulkan
numpy=0
"$PYTHON" -c 'import numpy' 2>/dev/null && numpy=1
keys=""; left_out=""
for k in $KEYS; do
    case $k in
        q8) f=$BENCH_DIR/g2-bench300m-q8_0.gguf ;;
        q4km) f=$BENCH_DIR/g2-bench300m-q4_k_m.gguf ;;
        g2b) f=$BENCH_DIR/g2-bench2b-q4_k_m.gguf ;;
        g3real) f=${REAL_MODEL:-$real} ;;
        *) left_out="$left_out $k (unknown key)"; continue ;;
    esac
    if [ -f "$f" ]; then keys="$keys $k"
    elif [ "$k" = g3real ]; then left_out="$left_out g3real (no $f: make real-model)"
    elif [ $numpy = 1 ] && [ -n "$oenv" ]; then keys="$keys $k"   # bench.sh makes it
    else left_out="$left_out $k (no $f; making it needs python3 with numpy and the oracle)"; fi
done
bench_table=""
if [ -z "$keys" ]; then
    record SKIP bench "no model:$left_out"
elif [ -z "$BW" ]; then
    record SKIP bench "no bandwidth measured, so no roofline"
else
    # shellcheck disable=SC2086
    run_limited bench 420 env ENGINES="$engines" BASE=vulkan BW="$BW" BW_SOURCE="the device's, vk_microbench" \
        PP="$PP" TG="$TG" REPS="$REPS" BENCH_DIR="$BENCH_DIR" ORACLE_ENV="${oenv:-/nonexistent}" PYTHON="$PYTHON" \
        sh tools/bench.sh $keys; rc=$?
    cat "$W/bench.log"
    bench_table=$(grep '^|' "$W/bench.log")
    note=""
    [ -n "$oenv" ] || note="; llama.cpp left out: no oracle (ORACLE_DIR, or carry $PACK)"
    [ -z "$left_out" ] || note="$note; left out:$left_out"
    if [ $rc != 0 ]; then record "$(verdict $rc)" bench "$(why $rc bench)$note"
    elif echo "$bench_table" | grep -q '| failed |'; then record FAIL bench "an engine failed (table)$note"
    else record PASS bench "models:$keys; PP $PP, TG $TG, $REPS rep(s)$note"; fi
fi

# ---- kernels ----
say "kernels"
if [ "$QUICK" = 1 ]; then record SKIP kernels "QUICK=1"
elif [ -x "$B/vk_microbench" ]; then
    run_limited kernels 90 "$B/vk_microbench" --device "${DEV:-0}"; rc=$?
    grep -v '^vk_read_gb_s' "$W/kernels.log"
    if [ $rc = 0 ]; then record PASS kernels "matvec and matmat per weight type (above)"
    else record "$(verdict $rc)" kernels "$(why $rc kernels)"; fi
else
    record SKIP kernels "no $B/vk_microbench"
fi

# ---- summary ----
printf '\n== summary: %s, %s s\n' "${dev_name:-no device}" "$(( $(date +%s) - START ))"
printf '%s' "$results"
[ "$(printf '%s\n' "$bench_table" | grep -c '^| [^-m]')" = 0 ] || printf '%s\n' "$bench_table"
pass=$(printf '%s' "$results" | grep -c '^PASS')
fail=$(printf '%s' "$results" | grep -c '^FAIL')
skip=$(printf '%s' "$results" | grep -c '^SKIP')
echo "vk_gpu_check: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
