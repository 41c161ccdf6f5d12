#!/usr/bin/python3
"""ref_forward.py: the Gemma 2 / Gemma 3 forward pass in float64 numpy.

    ref_forward.py MODEL.gguf IDSFILE OUT.bin

An independent check of the engine's arithmetic (../shared/GEMMA.md sections 3
and 4, written as array code): weights are dequantized by gguf-py (llama.cpp's
Python GGUF package, a separate implementation of the block formats), every
product and sum is float64. llama.cpp itself rounds GELU through an fp16 table
and quantizes activations to 8 bits for quantized weights, so its logits carry
errors of 1e-3 .. 1e-1 on the tiny, deliberately sensitive test models; this
reference carries none. Used by tools/make_logit_goldens.sh only.

OUT: int32 n, int32 n_vocab, int32 tokens[n], float32 logits[n][n_vocab].
gguf-py is found through $GGUF_PY (default ~/.cache/llama-oracle/src/gguf-py).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.environ.get("GGUF_PY", os.path.expanduser("~/.cache/llama-oracle/src/gguf-py")))
from gguf import GGUFReader  # noqa: E402
from gguf.quants import dequantize  # noqa: E402


def load(path):
    r = GGUFReader(path)
    kv = {}
    for f in r.fields.values():
        try:
            kv[f.name] = f.contents()
        except Exception:  # arrays of strings etc. are not needed here
            pass
    tensors = {}
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        tensors[t.name] = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(shape)
    return kv, tensors


def forward(kv, T, ids):
    arch = kv["general.architecture"]
    g3 = arch == "gemma3"

    def A(key, default=None):
        return kv.get(f"{arch}.{key}", default)

    n_layer, E, H = A("block_count"), A("embedding_length"), A("attention.head_count")
    KV = A("attention.head_count_kv", H)
    hd = A("attention.key_length", E // H)
    eps = A("attention.layer_norm_rms_epsilon", 1e-6)
    attn_cap = 0.0 if g3 else A("attn_logit_softcapping", 50.0)
    final_cap = A("final_logit_softcapping", 0.0 if g3 else 30.0)
    window = A("attention.sliding_window", 4096)
    period = A("attention.sliding_window_pattern", 6 if g3 else 2)
    base = A("rope.freq_base", 10000.0)
    scale = 1.0 / A("rope.scaling.factor") if A("rope.scaling.type") == "linear" else 1.0
    base_swa = A("rope.freq_base_swa", 10000.0 if g3 else base)
    scale_swa = 1.0 if g3 else scale
    big = 62 if g3 else 46                    # the 27B rule for the query scale
    q_scale = 1 / np.sqrt(E // H) if n_layer == big else 1 / np.sqrt(hd)
    n = len(ids)
    pos = np.arange(n)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x, b, s):                         # x [n][heads][hd], NEOX pairs (i, i + hd/2)
        half = hd // 2
        th = (pos * s)[:, None] * b ** (-2.0 * np.arange(half) / hd)
        c, sn = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        a, bb = x[..., :half], x[..., half:]
        return np.concatenate([a * c - bb * sn, a * sn + bb * c], -1)

    # sqrt(n_embd) rounded to f32, as llama.cpp computes it.
    x = T["token_embd.weight"][ids] * float(np.sqrt(np.float32(E), dtype=np.float32))
    qi, kj = np.meshgrid(pos, pos, indexing="ij")
    for il in range(n_layer):
        def W(k):
            return T[f"blk.{il}.{k}.weight"]
        slides = window > 0 and il % period < period - 1
        h = rms(x, W("attn_norm"))
        q = (h @ W("attn_q").T).reshape(n, H, hd)
        k = (h @ W("attn_k").T).reshape(n, KV, hd)
        v = (h @ W("attn_v").T).reshape(n, KV, hd)
        if g3:
            q, k = rms(q, W("attn_q_norm")), rms(k, W("attn_k_norm"))
        b, s = (base_swa, scale_swa) if slides else (base, scale)
        q, k = rope(q, b, s), rope(k, b, s)
        mask = (kj > qi) | ((qi - kj >= window) if slides else False)
        o = np.zeros((n, H, hd))
        for hh in range(H):
            g = hh // (H // KV)
            sc = (q[:, hh] @ k[:, g].T) * q_scale
            if attn_cap:
                sc = attn_cap * np.tanh(sc / attn_cap)   # before the mask
            sc = np.where(mask, -np.inf, sc)
            p = np.exp(sc - sc.max(1, keepdims=True))
            o[:, hh] = (p / p.sum(1, keepdims=True)) @ v[:, g]
        x = x + rms(o.reshape(n, -1) @ W("attn_output").T, W("post_attention_norm"))
        h = rms(x, W("ffn_norm"))
        gate, up = h @ W("ffn_gate").T, h @ W("ffn_up").T
        gelu = 0.5 * gate * (1 + np.tanh(np.sqrt(2 / np.pi) * (gate + 0.044715 * gate ** 3)))
        x = x + rms((gelu * up) @ W("ffn_down").T, W("post_ffw_norm"))
    out_w = T.get("output.weight", T["token_embd.weight"])
    logits = rms(x, T["output_norm.weight"]) @ out_w.T
    if final_cap:
        logits = final_cap * np.tanh(logits / final_cap)
    return logits


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    kv, T = load(sys.argv[1])
    ids = [int(t) for t in open(sys.argv[2]).read().split()]
    logits = forward(kv, T, ids)
    with open(sys.argv[3], "wb") as f:
        f.write(np.array([len(ids), logits.shape[1]], "<i4").tobytes())
        f.write(np.array(ids, "<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())


if __name__ == "__main__":
    main()
