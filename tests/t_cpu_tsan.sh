#!/bin/sh
# The native CPU backend's thread pool under ThreadSanitizer: tests/test_cpu_pool.c
# built with -fsanitize=thread against cpu/pool.c alone (the rest of the
# program is not needed, and TSan cannot share a binary with ASan), run with
# halt_on_error so any reported race fails the test.
set -u
T=${TMPDIR:-/tmp}/gc-tsan.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
CC=${CC:-cc}
if ! $CC -std=c11 -D_GNU_SOURCE -I. -O1 -g -fsanitize=thread -o "$T/pool" tests/test_cpu_pool.c cpu/pool.c \
        base/err.c -lpthread 2> "$T/cc.err"; then
    cat "$T/cc.err"
    echo "FAIL: building the pool test with -fsanitize=thread"
    exit 1
fi
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$T/pool"
rc=$?
[ $rc -eq 0 ] || echo "FAIL: the pool under ThreadSanitizer (rc $rc)"
exit $rc
