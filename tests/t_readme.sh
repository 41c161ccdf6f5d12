#!/bin/sh
# CI must run exactly the README's test command: the second command of the
# README's first code block must be the last line of .ci/run.
set -u
readme_test=$(awk '/^```/{n++; next} n==1' README.md | sed -n 2p | sed 's/^\$ *//')
ci_test=$(grep -v '^\s*#' .ci/run | grep -v '^\s*$' | tail -n 1)
if [ "$readme_test" != "$ci_test" ]; then
    echo "README test command '$readme_test' != .ci/run '$ci_test'"; exit 1
fi
echo "ok: $ci_test"
