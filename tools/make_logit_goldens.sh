#!/bin/sh
# Regenerates the golden files of the engine tests in tests/data/engine/:
#   NAME.llama.golden  llama.cpp's logits (tools/golden_oracle.c: f32 KV cache,
#                      flash attention off), f16: for F32 models its CPU backend, whole
#                      vocabulary; for quantized ones its Vulkan backend on lavapipe (no
#                      8-bit rounding of activations), first 256 ids
#   NAME.ref.golden    the float64 reference (tools/ref_forward.py), f32, first 128 ids
# for BOS + the first 39 tokens of tests/data/engine/prompt.txt (40 positions: the
# window of 8 of g2-win8 cuts 32 of them), on the generated models ($B/models, made
# by `make models`) and the committed quantized ones (tests/models); and
#   oneshot-NAME.txt   llama.cpp's greedy reply (32 tokens at most) to the one user turn
#                      of tests/t_oneshot.sh, for the F32 models where it is stable.
# Needs the llama.cpp oracle (../shared/oracle/README.md): sh tools/make_logit_goldens.sh
set -eu
B=${B:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
H=${ORACLE_HOME:-$HOME/.cache/llama-oracle}
. "$H/env.sh"
LIBS=$H/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
VKLIBS=$H/node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan
OUT=tests/data/engine
N_TOK=40

make -s models B="$B" PYTHON="$PYTHON"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/golden_oracle" tools/golden_oracle.c -I"$H/src/include" -I"$H/src/ggml/include" \
   -L"$LIBS" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$LIBS"
cc -O2 -o "$tmp/golden_oracle_vk" tools/golden_oracle.c -I"$H/src/include" -I"$H/src/ggml/include" \
   -L"$VKLIBS" -l:libllama.vulkan.v0.4.0.so -l:libggml.vulkan.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$VKLIBS"

# Every test model shares the generated vocabulary, so one id list serves all.
bos=$(GGUF_PY=${GGUF_PY:-$H/src/gguf-py} $PYTHON -c "
import os, sys; sys.path.insert(0, os.environ['GGUF_PY'])
from gguf import GGUFReader
print(GGUFReader(sys.argv[1]).fields['tokenizer.ggml.bos_token_id'].contents())" "$B/models/g2-default.gguf")
oracle_cpu tokenize "$B/models/g2-default.gguf" "$OUT/prompt.txt" > "$tmp/prompt.ids"
ids=$(tr ' ' '\n' < "$tmp/prompt.ids" | head -n $((N_TOK - 1)) | tr '\n' ' ')
echo "$bos $ids" > "$tmp/ids.txt"
[ "$(wc -w < "$tmp/ids.txt")" -eq $N_TOK ] || { echo "prompt gave fewer than $N_TOK tokens" >&2; exit 1; }

gold() {  # gold NAME MODEL LLAMA_PACK_ARGS [vk]
    if [ "${4:-}" = vk ]; then
        GGML_VK_VISIBLE_DEVICES=0 GOLDEN_NGL=99 LLAMA_BIN_DIR=$VKLIBS "$tmp/golden_oracle_vk" "$2" "$tmp/ids.txt" "$tmp/llama.bin"
    else
        LLAMA_BIN_DIR=$LIBS "$tmp/golden_oracle" "$2" "$tmp/ids.txt" "$tmp/llama.bin"
    fi
    $PYTHON tools/ref_forward.py "$2" "$tmp/ids.txt" "$tmp/ref.bin"
    $PYTHON tools/logit_goldens.py pack "$tmp/llama.bin" "$OUT/$1.llama.golden" $3
    $PYTHON tools/logit_goldens.py pack "$tmp/ref.bin" "$OUT/$1.ref.golden" --cols 128
    echo "$1: llama.cpp vs float64 reference: $($PYTHON tools/logit_goldens.py compare "$tmp/llama.bin" "$tmp/ref.bin")"
}
for m in g2-default g2-gqa4 g2-hd g2-win8 g2-cap g2-46l g3-default g3-linear; do
    gold "$m" "$B/models/$m.gguf" "--f16"
done
for f in tests/models/*.gguf; do
    m=$(basename "$f" .gguf)
    gold "$m" "$f" "--f16 --cols 256" vk
done

# The chat prompt gemma-chat -p builds for this text (BOS is added by the oracle).
printf '<start_of_turn>user\nTell me about the lighthouse.<end_of_turn>\n<start_of_turn>model\n' > "$tmp/chat.txt"
for m in g2-default g2-win8 g3-default; do
    oracle_cpu chat "$B/models/$m.gguf" 0 "$tmp/chat.txt" 32 > "$OUT/oneshot-$m.txt"
done
