#!/bin/sh
# The generated test models are byte-for-byte what tests/data/models.sha256 says
# (so a change to tools/gen_model.py or the vocabulary never drifts silently:
# update the sums on purpose, with the reason in the commit), and the generator
# gives the same bytes when run again.
set -eu
B=${B:-build}; MODELS=${MODELS:-$B/models}; PYTHON=${PYTHON:-/usr/bin/python3}
sums=$(pwd)/tests/data/models.sha256
n=$(wc -l < "$sums")
[ "$n" -ge 8 ] || { echo "FAIL: $sums lists only $n models"; exit 1; }
(cd "$MODELS" && sha256sum --strict -c "$sums") || {
    echo "FAIL: generated models differ from $sums"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PYTHON" tools/gen_model.py --all "$tmp"
(cd "$tmp" && sha256sum --strict -c "$sums") || { echo "FAIL: a second run gave other bytes"; exit 1; }
# Every model in the directory is listed (no unchecked extras).
for f in "$MODELS"/*.gguf; do
    grep -q " $(basename "$f")\$" "$sums" || { echo "FAIL: $f not in $sums"; exit 1; }
done
echo "ok: $n models match their recorded sha256"
