#!/bin/sh
# The Vulkan self-check in the app (vk/vk_selfcheck.h, app/backends.c):
#  - `devices --check`: a line per device ending in "ok" (exit 0), or, with
#    a wrong kernel result injected (GEMMA_CHAT_FAULT=selfcheck:TEXT),
#    "FAILED: CASE" and the message on stderr (exit 1); it stamps its verdict
#    beside the pipeline cache, but not an injected one;
#  - the first Vulkan start of a device, driver and build runs the check and
#    stamps it; a failing check is a warning naming the kernel and the device,
#    then the CPU backend where Vulkan was the default (`--device 0` alone,
#    `backend: vulkan` in a config file), the device anyway with
#    `--backend vulkan`;
#  - a failed verdict in the stamp says so at every start without running
#    again; GEMMA_CHAT_SELFCHECK=0 skips the check.
# lavapipe is never the default on its own (the CPU backend is faster), so
# "Vulkan by default" here is `--device 0` without --backend (auto with a
# device named). Without a Vulkan device: skipped, except under CI=true.
set -u
. "$(dirname "$0")/skip_lib.sh"
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
need_vulkan "the Vulkan self-check"
M=$MODELS/g2-default.gguf
fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }
has() { case "$1" in *"$2"*) return 0;; esac; return 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/gc-selfcheck-XXXXXX")
trap 'rm -rf "$T"' EXIT
# A cache directory of its own: no stamp yet. Mesa's shader cache stays the
# suite's (tests/run.sh), so the check's kernels compile once per suite.
export XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state XDG_CACHE_HOME=$T/cache
unset GEMMA_CHAT_MODEL GEMMA_CHAT_BACKEND GEMMA_CHAT_DEVICE GEMMA_CHAT_CONTEXT GEMMA_CHAT_PERSONA GEMMA_CHAT_SEED \
      GEMMA_CHAT_FAULT GEMMA_CHAT_SELFCHECK
STAMP_DIR=$XDG_CACHE_HOME/gemma-chat
G="-m $M --temp 0 -n 4 --no-tui --persona none"

# run NAME ARGS... (GEMMA_CHAT_FAULT etc. from the caller's environment):
# out in $T/NAME.out, .err (whose banner line names the backend: "on cpu ("), .rc.
run() {
    _n=$1; shift
    printf 'hello\n/quit\n' | timeout 300 "$BIN" "$@" >"$T/$_n.out" 2>"$T/$_n.err"
    echo $? >"$T/$_n.rc"
}
rc() { cat "$T/$1.rc"; }
stamp() { cat "$STAMP_DIR"/selfcheck-*.txt 2>/dev/null; }

# ---- devices --check
out=$($BIN devices --check 2>"$T/dc.err"); r=$?
echo "$out"
[ $r -eq 0 ] && ok "devices --check exits 0" || bad "devices --check exits $r: $(cat "$T/dc.err")"
echo "$out" | grep -Eq '^check 0 .*: [0-9]+ cases in [0-9.]+ s: ok$' && ok "device 0's line ends in ok" \
    || bad "no 'check 0 ...: ok' line"
[ "$(echo "$out" | grep -c '^check ')" -eq "$(echo "$out" | grep -Ec '^[* ] [0-9]+ ')" ] \
    && ok "one check line per device" || bad "check lines and devices differ"
has "$(stamp)" "$(printf '\nok')" && ok "the verdict is stamped" || bad "no ok stamp: $(stamp)"
ls "$STAMP_DIR"/selfcheck-*.txt.* >/dev/null 2>&1 && bad "a temporary stamp file is left"

out=$(GEMMA_CHAT_FAULT='selfcheck:matmul Q4_K rows=1 ' $BIN devices --check 2>"$T/df.err"); r=$?
[ $r -eq 1 ] && ok "a failed check exits 1" || bad "a failed check exits $r"
echo "$out" | grep -Eq '^check 0 .*: FAILED: matmul Q4_K rows=1 \(matrix-vector\)$' \
    && ok "the line ends in the failing case" || bad "no FAILED line: $out"
has "$(cat "$T/df.err")" "the Vulkan self-check failed on '" && has "$(cat "$T/df.err")" "relative error" \
    && ok "stderr says what was wrong" || bad "stderr: $(cat "$T/df.err")"
has "$(stamp)" "$(printf '\nok')" && ok "an injected failure is not stamped" || bad "stamp changed: $(stamp)"
out=$($BIN devices -v --check 2>&1)
echo "$out" | grep -Eq '^ +embed F32 \(every .* ok$' && ok "-v lists the cases" || bad "-v: no case lines"

# ---- at start: the first Vulkan start runs the check and stamps it
rm -f "$STAMP_DIR"/selfcheck-*.txt
run first $G --backend vulkan
[ "$(rc first)" -eq 0 ] && grep -q 'on vulkan (' "$T/first.err" && ok "first start on vulkan" \
    || bad "first start: rc $(rc first): $(cat "$T/first.err")"
has "$(stamp)" "$(printf '\nok')" && ok "the first start stamped ok" || bad "no stamp after the first start"
grep -q 'self-check' "$T/first.err" && bad "a passing check said something: $(cat "$T/first.err")"

# ---- a wrong kernel result at start (the stamp is not read under the fault)
F='selfcheck:attention head_dim 256 GQA 4:1 decode (F32 model)'
GEMMA_CHAT_FAULT=$F run forced $G --backend vulkan
e=$(cat "$T/forced.err")
[ "$(rc forced)" -eq 0 ] && grep -q 'on vulkan (' "$T/forced.err" && ok "--backend vulkan: the device anyway" \
    || bad "--backend vulkan under the fault: rc $(rc forced)"
has "$e" "warning: the Vulkan self-check failed on 'llvmpipe" && has "$e" "attention head_dim 256 GQA 4:1 decode (F32 model)" \
    && has "$e" "using the device anyway" && ok "--backend vulkan: the warning names kernel and device" \
    || bad "--backend vulkan: $e"

GEMMA_CHAT_FAULT=$F run default $G --device 0
e=$(cat "$T/default.err")
[ "$(rc default)" -eq 0 ] && grep -q 'on cpu (' "$T/default.err" && ok "Vulkan by default: the CPU backend" \
    || bad "default under the fault: rc $(rc default)"
has "$e" "attention head_dim 256 GQA 4:1 decode (F32 model)" && has "$e" "; using the CPU backend" \
    && ok "the default: the notice names the kernel and the fallback" || bad "default: $e"
[ -s "$T/default.out" ] && ok "and it replies" || bad "no reply"

mkdir -p "$T/config"
printf 'backend: vulkan\n' >"$T/vk.yaml"
GEMMA_CHAT_FAULT=$F run conf -c "$T/vk.yaml" $G
grep -q 'on cpu (' "$T/conf.err" && has "$(cat "$T/conf.err")" "; using the CPU backend" \
    && ok "backend: vulkan in a config file: the CPU backend" || bad "config file: $(cat "$T/conf.err")"
has "$(stamp)" "$(printf '\nok')" && ok "the stamp is still ok" || bad "stamp changed: $(stamp)"

# ---- a failed verdict in the stamp: said at every start, not run again
f=$(ls "$STAMP_DIR"/selfcheck-*.txt)
sed -i 's/^ok$/failed matmul Q6_K rows=40 (matrix-matrix)\trow 3 of 40: relative error 0.5 over 0.001/' "$f"
for i in 1 2; do
    run stamped$i $G --device 0
    e=$(cat "$T/stamped$i.err")
    grep -q 'on cpu (' "$T/stamped$i.err" && has "$e" "matmul Q6_K rows=40 (matrix-matrix) (row 3 of 40" \
        && has "$e" "; using the CPU backend" && ok "start $i: the stamped failure, the CPU backend" \
        || bad "start $i with a failed stamp: $e"
done
run stamped_vk $G --backend vulkan
grep -q 'on vulkan (' "$T/stamped_vk.err" && has "$(cat "$T/stamped_vk.err")" "using the device anyway" \
    && ok "--backend vulkan with the failed stamp: the device, with the warning" || bad "$(cat "$T/stamped_vk.err")"
GEMMA_CHAT_SELFCHECK=0 run skipped $G --device 0
grep -q 'on vulkan (' "$T/skipped.err" && ! grep -q 'self-check' "$T/skipped.err" \
    && ok "GEMMA_CHAT_SELFCHECK=0: no check" || bad "GEMMA_CHAT_SELFCHECK=0: $(cat "$T/skipped.err")"
# devices --check renews the verdict.
$BIN devices --check >/dev/null 2>&1
has "$(stamp)" "$(printf '\nok')" && ok "devices --check renews the stamp" || bad "stamp not renewed: $(stamp)"
exit $fail
