#!/bin/sh
# Trains tools/vocab/test-vocab.model: the small SentencePiece BPE vocabulary of
# the tiny test models. The .model file is committed so the vocabulary never
# changes; this script documents how it was made (Debian's sentencepiece
# `spm_train`, corpus = the license texts every Debian system ships).
#
# Settings mirror Gemma's tokenizer: BPE, byte fallback, digits split, identity
# normalization, no dummy prefix, whitespace kept as it is (runs of spaces may
# form pieces). Ids: pad 0, eos 1, bos 2, unk 3, then the control symbols
# <start_of_turn> 4 and <end_of_turn> 5, then user-defined symbols (always split
# out of user text: a newline, a run of two spaces and an HTML tag, as Gemma has).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corpus=$tmp/corpus.txt
for f in Apache-2.0 Artistic BSD GFDL-1.3 GPL-2 GPL-3 LGPL-2.1 LGPL-3 MPL-1.1 MPL-2.0; do
    cat "/usr/share/common-licenses/$f"
done > "$corpus"
# A few accented words so that some multi-byte characters are ordinary pieces
# (the rest of non-ASCII text goes through byte fallback).
for i in 1 2 3 4 5 6 7 8; do
    echo "Le café était très célèbre à Paris; la façade, déjà ancienne, brûlait au soleil."
    echo "Die Straße über dem Fluß führt zur schönen Brücke, wo Müller wohnt."
    echo "El niño comió piña en la montaña, señor."
done >> "$corpus"
nl='
'
spm_train --input="$corpus" --model_prefix="$tmp/test-vocab" \
    --model_type=bpe --vocab_size=1024 --character_coverage=1.0 \
    --byte_fallback=true --split_digits=true \
    --normalization_rule_name=identity --add_dummy_prefix=false \
    --remove_extra_whitespaces=false --allow_whitespace_only_pieces=true \
    --pad_id=0 --pad_piece='<pad>' --eos_id=1 --eos_piece='<eos>' \
    --bos_id=2 --bos_piece='<bos>' --unk_id=3 --unk_piece='<unk>' \
    --control_symbols='<start_of_turn>,<end_of_turn>' \
    --user_defined_symbols="${nl},▁▁,<b>" \
    --num_threads=1 --random_seed=1 --minloglevel=1
cp "$tmp/test-vocab.model" "$here/test-vocab.model"
echo "wrote $here/test-vocab.model"
