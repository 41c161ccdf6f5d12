#!/bin/sh
# The command line contract: --help, --version, usage errors exit 2.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
out=$($BIN --help); rc=$?
check '[ $rc -eq 0 ]' "--help exits 0 (got $rc)"
check 'echo "$out" | grep -q "usage: gemma-chat"' "--help prints usage"
out=$($BIN --version); rc=$?
check '[ $rc -eq 0 ]' "--version exits 0"
check 'echo "$out" | grep -Eq "^gemma-chat [0-9]+\.[0-9]+\.[0-9]+"' "--version prints a version"
err=$($BIN --no-such-flag 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ]' "unknown flag exits 2 (got $rc)"
check 'echo "$err" | grep -q "no-such-flag"' "unknown flag is named in the error"
exit $fail
