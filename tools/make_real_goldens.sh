#!/bin/sh
# Regenerates tests/data/real/ (tests/t_real_model.sh) from llama.cpp on the real
# Gemma 3 270M Q4_K_M, for each chat of tools/real_goldens.py (PROMPTS):
#   NAME.chat       the chat as Gemma template text (the oracle adds BOS)
#   NAME.json       prompt ids (oracle chatids ... 0), prompt + greedy reply ids
#                   (oracle chatids ... N), the top-16 ids and logits of every
#                   position (oracle_cpu logitsid) and llama.cpp's own Vulkan-vs-CPU
#                   figures (oracle_vulkan logitsid, lavapipe), for scale only
#   NAME.reply.txt  llama.cpp's greedy reply text (oracle chat), as it prints it
# Deterministic: llama.cpp's greedy decoding on CPU. Needs the oracle
# (../shared/oracle/README.md) and numpy. Usage: sh tools/make_real_goldens.sh [NAME...]
set -eu
PYTHON=${PYTHON:-/usr/bin/python3}
H=${ORACLE_HOME:-$HOME/.cache/llama-oracle}
. "$H/env.sh"
N=${N_REPLY:-32}
OUT=tests/data/real
M=${REAL_MODEL:-$(sh tools/real_model.sh)}
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=${*:-$($PYTHON -c 'import sys; sys.path.insert(0, "tools"); import real_goldens; print(" ".join(real_goldens.PROMPTS))')}
for n in $names; do
    $PYTHON tools/real_goldens.py render "$n" "$OUT/$n.chat"
    oracle_cpu chatids "$M" 0 "$OUT/$n.chat" 0 > "$tmp/$n.prompt.ids"
    oracle_cpu chatids "$M" 0 "$OUT/$n.chat" "$N" > "$tmp/$n.ids"
    oracle_cpu chat "$M" 0 "$OUT/$n.chat" "$N" > "$OUT/$n.reply.txt"
    oracle_cpu logitsid "$M" 0 "$tmp/$n.ids" "$tmp/$n.cpu.bin"
    oracle_vulkan logitsid "$M" 99 "$tmp/$n.ids" "$tmp/$n.vk.bin"
    $PYTHON tools/real_goldens.py pack "$n" "$tmp/$n.prompt.ids" "$tmp/$n.ids" "$OUT/$n.reply.txt" \
        "$tmp/$n.cpu.bin" "$tmp/$n.vk.bin" "$OUT/$n.json"
done
