# tests/skip_lib.sh: sourced by script tests that may not be able to run all
# they check here (the convention is stated at the top of tests/run.sh):
#   skip WHAT REASON [ci]       the whole test cannot run: prints
#                               "SKIP: WHAT (REASON)" and exits 77
#   skip_part WHAT REASON [ci]  one part cannot run: prints the same line and
#                               returns; the test goes on and exits 0 if the
#                               rest passed (run.sh counts each line)
# With "ci", WHAT is something CI always can run (it installs the real model,
# tmux, lavapipe): under CI=true its absence is a failure, not a skip. skip
# then prints "FAIL: ..." and exits 1; skip_part prints it and sets fail=1
# (every script test that uses it keeps its verdict in $fail).
# A missing CPU instruction set is no "ci" thing: it is a skip everywhere.
skip_is_fail() { [ "${3:-}" = ci ] && [ "${CI:-}" = true ]; }

skip() {
    if skip_is_fail "$@"; then
        echo "FAIL: $1 cannot run ($2), and CI=true must run it"
        exit 1
    fi
    echo "SKIP: $1 ($2)"
    exit 77
}

skip_part() {
    if skip_is_fail "$@"; then
        echo "FAIL: $1 cannot run ($2), and CI=true must run it"
        fail=1
        return 0
    fi
    echo "SKIP: $1 ($2)"
}

# need_vulkan WHAT: skip WHAT (fail under CI=true, which has lavapipe) when
# `$BIN devices` finds no Vulkan device.
need_vulkan() {
    "$BIN" devices 2>/dev/null | grep -q "would use: " ||
        skip "$1" "no Vulkan device: install mesa-vulkan-drivers (lavapipe)" ci
}
