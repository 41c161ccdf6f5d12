#!/bin/sh
# `gemma-chat devices`: lists the Vulkan devices and marks the one that would
# be used. Without any device: skipped, except under CI=true (CI has
# lavapipe), where it fails.
set -u
. "$(dirname "$0")/skip_lib.sh"
need_vulkan "gemma-chat devices"
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
out=$($BIN devices 2>&1); rc=$?
echo "$out"
check '[ $rc -eq 0 ]' "devices exits 0 (got $rc; no Vulkan device?)"
check 'echo "$out" | grep -Eq "^\* 0 "' "device 0 is listed and marked"
check 'echo "$out" | grep -q "would use: 0 "' "the choice is named"
check 'echo "$out" | grep -Eq "GiB +1\.[0-9]+\.[0-9]+"' "memory and Vulkan version are shown"
out=$($BIN devices -v 2>&1); rc=$?
check '[ $rc -eq 0 ]' "devices -v exits 0"
check 'echo "$out" | grep -q "subgroup size"' "-v shows capabilities"
err=$($BIN devices --device 99 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]' "--device 99 exits 2 (got $rc)"
check 'echo "$err" | grep -q -- "--device 99"' "--device 99 is named in the error"
err=$($BIN devices --device x 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]' "--device x exits 2 (got $rc)"
err=$($BIN devices --bogus 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]' "unknown flag exits 2 (got $rc)"
exit $fail
