#!/bin/sh
# Remakes the committed quantized test models tests/models/{g2,g3}-quant-TYPE.gguf
# with llama.cpp's own quantizer (the oracle, see ../shared/oracle/README.md):
#   g2-quant (n_embd 256: every row fits K-quant blocks): Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K
#   g3-quant (n_embd 128: K-quants fall back where ne0 % 256 != 0, as they do for
#   Gemma 3 270M): Q4_K_M (Q5_0 + Q4_K + Q6_K + Q8_0) and Q5_K_M (Q5_1 + Q5_K + Q6_K + Q8_0).
#   Its other variants would add no weight type, only megabytes.
#     . ~/.cache/llama-oracle/env.sh && sh tools/make_quant_models.sh
# Inputs are the F32 presets of tools/gen_model.py, so the quantized files follow
# the generator. Quantizing is deterministic for a given llama.cpp version; the
# files are committed so tests never need the oracle.
set -eu
cd "$(dirname "$0")/.."
command -v oracle_cpu >/dev/null 2>&1 || . "$HOME/.cache/llama-oracle/env.sh"
PYTHON=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p tests/models
# ftype numbers: llama.cpp's LLAMA_FTYPE_MOSTLY_*
for m in g2-quant g3-quant; do
    "$PYTHON" tools/gen_model.py --preset $m -o "$tmp/$m.gguf"
    types="Q8_0:7 Q4_0:2 Q4_K_M:15 Q5_K_M:17 Q6_K:18"
    [ $m = g3-quant ] && types="Q4_K_M:15 Q5_K_M:17"
    for q in $types; do
        name=${q%%:*}; ftype=${q#*:}
        oracle_cpu quantize "$tmp/$m.gguf" "tests/models/$m-$name.gguf" "$ftype" >/dev/null
        echo "tests/models/$m-$name.gguf"
    done
done
