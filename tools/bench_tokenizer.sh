#!/bin/sh
# Tokenizer speed (a benchmark, not a test): 1 MiB of English (Debian's license
# texts, repeated) through the real Gemma 3 vocab, best of 5 runs.
#     sh tools/bench_tokenizer.sh [MODEL]      (default: $REAL_MODEL)
set -eu
BIN=${BIN:-./gemma-chat}
MODEL=${1:-${REAL_MODEL:-}}
[ -n "$MODEL" ] || { echo "usage: sh tools/bench_tokenizer.sh MODEL (or set REAL_MODEL)" >&2; exit 2; }
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
L=/usr/share/common-licenses
i=0
while [ $i -lt 12 ]; do
    cat $L/GPL-3 $L/Apache-2.0 $L/GFDL-1.3 $L/LGPL-2.1 $L/MPL-2.0
    i=$((i + 1))
done | head -c 1048576 > "$tmp"
"$BIN" tokenize -m "$MODEL" --file "$tmp" --bench 5
