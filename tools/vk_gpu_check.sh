#!/bin/sh
# vk_gpu_check.sh: the prepared check of the Vulkan backend on a machine with
# a real GPU (run by the lead when one is at hand; a few minutes at most).
#
#   sh tools/vk_gpu_check.sh [MODEL.gguf]
#
# 1. the driver probe (shared/device/vk-probe.sh), and an ICD file for
#    NVIDIA's driver if the machine has the library but no ICD json;
# 2. a build (make) when a compiler and glslc exist, else the binaries that
#    came with the tree (carry build/ and gemma-chat);
# 3. `gemma-chat devices -v`: the GPU must be the device that would be used;
# 4. the Vulkan tests (validation layer on when installed, else said so);
# 5. bench lines: build/vk_microbench (matvec GB/s per weight type, prefill
#    GFLOP/s) and, with MODEL, `gemma-chat bench` when that command exists.
# On the device machine:  sh tools/vk_gpu_check.sh 2>&1 | tee "$OUT/vk_gpu_check.log"
set -u
cd "$(dirname "$0")/.."
MODEL=${1:-}
B=${B:-build}
say() { printf '\n== %s\n' "$*"; }
fails=0

say "probe"
for p in shared/device/vk-probe.sh ../shared/device/vk-probe.sh; do
    [ -f "$p" ] && { sh "$p"; break; }
done
if ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1; then
    lib=$(ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 2>/dev/null | head -1)
    if [ -n "$lib" ]; then
        icd=${TMPDIR:-/tmp}/gc_nvidia_icd.json
        printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s","api_version":"1.3"}}\n' "$lib" > "$icd"
        export VK_ICD_FILENAMES="$icd"
        echo "wrote $icd for $lib"
    fi
fi
if [ -d gpu-libs ]; then   # a carried Vulkan loader (libvulkan.so.1 from Debian's libvulkan1)
    export LD_LIBRARY_PATH="$PWD/gpu-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

say "build"
if command -v cc >/dev/null && command -v glslc >/dev/null && command -v make >/dev/null; then
    vk_tests=$(ls tests/test_vk_*.c | sed "s|^tests/\(.*\)\.c$|$B/tests/\1|")
    # shellcheck disable=SC2086
    make -j"$(nproc 2>/dev/null || echo 4)" B="$B" all $vk_tests >/dev/null || { echo "build failed"; exit 1; }
    cc -O2 -std=c11 -D_GNU_SOURCE -I. -I"$B" -o "$B/vk_microbench" tools/vk_microbench.c "$B/libgc.a" -lvulkan -lm ||
        echo "vk_microbench: build failed"
    make -s B="$B" models >/dev/null 2>&1 || echo "test models: not generated (no python3/numpy?)"
else
    echo "no compiler or glslc here: using the carried binaries"
fi

say "devices"
./gemma-chat devices -v || fails=$((fails + 1))
if ./gemma-chat devices | grep -q '^would use: .*CPU Vulkan device'; then
    echo "WARNING: the GPU is not visible to Vulkan (only a CPU device)"
fi

say "tests"
have_layer=0
for d in /usr/share/vulkan/explicit_layer.d /etc/vulkan/explicit_layer.d /usr/local/share/vulkan/explicit_layer.d; do
    [ -f "$d/VkLayer_khronos_validation.json" ] && have_layer=1
done
if [ $have_layer -eq 0 ]; then
    echo "NOTE: no Khronos validation layer here: the tests run without it"
    export GC_VK_TEST_NO_VALIDATION=1
fi
for t in $(ls tests/test_vk_*.c | sed 's|^tests/\(.*\)\.c$|\1|'); do
    [ -x "$B/tests/$t" ] || { echo "MISSING $t (not built)"; fails=$((fails + 1)); continue; }
    s=$(date +%s)
    if B=$B MODELS=$B/models "$B/tests/$t" > "${TMPDIR:-/tmp}/$t.log" 2>&1; then
        echo "PASS $t ($(( $(date +%s) - s ))s)"
    else
        echo "FAIL $t"; fails=$((fails + 1))
        grep -E 'FAIL|validation|error' "${TMPDIR:-/tmp}/$t.log" | head -20
    fi
    grep -E 'rel_l2' "${TMPDIR:-/tmp}/$t.log" | head -4
done

say "bench"
[ -x "$B/vk_microbench" ] && "$B/vk_microbench"
if [ -n "$MODEL" ] && ./gemma-chat bench --help >/dev/null 2>&1; then
    ./gemma-chat bench -m "$MODEL" --backend vulkan
fi

say "done: $fails failure(s)"
[ $fails -eq 0 ]
