#!/usr/bin/python3
"""gen_model.py: deterministic tiny Gemma-shaped GGUF models (F32) for tests.

    gen_model.py --all DIR                  every preset into DIR/NAME.gguf
    gen_model.py --preset NAME -o OUT       one preset (also the BENCH_PRESETS)
    gen_model.py [--arch gemma2 --n-layer 4 ...] -o OUT    any shape (see --help)

Same arguments, same bytes: weights come from a counter-based hash of
(seed, tensor name, element index), not from numpy's generators, whose streams
may change between numpy versions. The vocabulary is the committed
SentencePiece model tools/vocab/test-vocab.model, read with a small protobuf
reader so that only numpy is needed.

Weight scales are chosen so that the model is neither degenerate nor chaotic:
attention scores have a standard deviation of about 1.5 (qk_gain 0.5; a soft-cap
of 5 bends the large ones), the residual stream keeps an RMS near 1.5 so every
layer matters, and logits spread with a standard deviation of about 6 (the
final cap of 30 bends the top ones). Sharper attention (qk_gain 1, scores ~6)
made the models so sensitive that llama.cpp's own rounding (fp16 GELU table,
8-bit activations for quantized products) moved logits by 3e-3..1e-1 and
flipped top-1 tokens: such models cannot tell an engine bug from rounding.
Norm weights are stored as 1+w, as GGUF files hold them.
"""
import argparse
import hashlib
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = os.path.join(HERE, "vocab", "test-vocab.model")

# Gemma 2's chat template as Hugging Face ships it (the engine builds prompts
# from token ids; the string is here so files look like real ones).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

# name -> shape. Keys not given take the defaults of make_config().
PRESETS = {
    "g2-default": dict(arch="gemma2", n_layer=4, n_embd=256, n_head=4, n_head_kv=2, head_dim=64, ffn=512),
    "g2-gqa4":    dict(arch="gemma2", n_layer=2, n_embd=128, n_head=8, n_head_kv=2, head_dim=32, ffn=256),
    "g2-hd":      dict(arch="gemma2", n_layer=3, n_embd=128, n_head=4, n_head_kv=2, head_dim=48, ffn=256),
    "g2-win8":    dict(arch="gemma2", n_layer=4, n_embd=128, n_head=4, n_head_kv=2, head_dim=32, ffn=256,
                       window=8),
    "g2-cap":     dict(arch="gemma2", n_layer=2, n_embd=128, n_head=4, n_head_kv=2, head_dim=32, ffn=256,
                       attn_cap=5.0, final_cap=3.0, out_norm=(3.0, 6.0)),
    # 46 layers: llama.cpp takes this for the 27B and scales queries by
    # 1/sqrt(n_embd/n_head) = 1/sqrt(32) instead of 1/sqrt(head_dim) = 1/sqrt(16).
    "g2-46l":     dict(arch="gemma2", n_layer=46, n_embd=64, n_head=2, n_head_kv=1, head_dim=16, ffn=64),
    # 7 layers: layer 5 is the one global layer of the 5:1 pattern, layer 6 slides again.
    "g3-default": dict(arch="gemma3", n_layer=7, n_embd=128, n_head=4, n_head_kv=1, head_dim=64, ffn=256,
                       window=8, rope_base=1e6),
    "g3-linear":  dict(arch="gemma3", n_layer=6, n_embd=128, n_head=2, n_head_kv=1, head_dim=64, ffn=256,
                       window=8, rope_base=1e6, rope_linear=8.0, output_weight=True),
    # Sources of the committed quantized models (tools/make_quant_models.sh): the
    # default shapes with gentler attention (qk_gain 0.3) and wider logit gaps
    # (embd_std 1.0), so that an error of a few 1e-3 from quantized arithmetic
    # (llama.cpp's or ours) never flips a top-1 token on a near-tie.
    "g2-quant":   dict(arch="gemma2", n_layer=4, n_embd=256, n_head=4, n_head_kv=2, head_dim=64, ffn=512,
                       qk_gain=0.3, embd_std=1.0),
    # Seed 3: with seed 1 one position of the golden prompt is a near-tie (top-2
    # gap 0.06 against differences of ~0.1 between llama.cpp's f16 rounding and
    # exact arithmetic), which makes top-1 agreement a coin toss there.
    "g3-quant":   dict(arch="gemma3", n_layer=7, n_embd=128, n_head=4, n_head_kv=1, head_dim=64, ffn=256,
                       window=8, rope_base=1e6, qk_gain=0.3, embd_std=1.0, seed=3),
}

# Benchmark models (tools/bench.sh): big, so never part of --all. g2-bench300m is
# Gemma-2-2B-shaped at ~300M parameters: 12 layers of n_embd 1152, 8 heads of
# 128 (4 KV heads), ffn 4608, the vocabulary padded to 64000 with unused tokens.
BENCH_PRESETS = {
    "g2-bench300m": dict(arch="gemma2", n_layer=12, n_embd=1152, n_head=8, n_head_kv=4, head_dim=128,
                         ffn=4608, n_vocab=64000, ctx=8192, qk_gain=0.3, embd_std=1.0),
    # Gemma 2 2B's shape (26 layers, n_embd 2304, 8 heads of 256, 4 KV heads,
    # ffn 9216, vocabulary 256000), in F16 (5 GB) to be quantized for benchmarks.
    "g2-bench2b": dict(arch="gemma2", n_layer=26, n_embd=2304, n_head=8, n_head_kv=4, head_dim=256,
                       ffn=9216, n_vocab=256000, ctx=8192, qk_gain=0.3, embd_std=1.0, window=4096, f16=True),
}


def make_config(**kw):
    c = dict(arch="gemma2", n_layer=4, n_embd=256, n_head=4, n_head_kv=2, head_dim=None, ffn=512,
             window=None, attn_cap=50.0, final_cap=30.0, rope_base=None, rope_linear=None,
             output_weight=False, ctx=4096, eps=1e-6, seed=1, embd_std=0.4, out_norm=(10.0, 20.0),
             qk_gain=0.5, ffn_gain=1.5, n_vocab=None, name=None, f16=False)
    for k, v in kw.items():
        if k not in c:
            raise SystemExit(f"gen_model.py: unknown setting {k}")
        if v is not None:
            c[k] = v
    if c["head_dim"] is None:
        c["head_dim"] = c["n_embd"] // c["n_head"]
    if c["window"] is None:
        c["window"] = 4096 if c["arch"] == "gemma2" else 512
    if c["rope_base"] is None:
        c["rope_base"] = 10000.0 if c["arch"] == "gemma2" else 1e6
    if c["arch"] not in ("gemma2", "gemma3"):
        raise SystemExit(f"gen_model.py: arch must be gemma2 or gemma3, not {c['arch']}")
    if c["n_head"] % c["n_head_kv"]:
        raise SystemExit("gen_model.py: n_head must be a multiple of n_head_kv")
    if c["head_dim"] % 2:
        raise SystemExit("gen_model.py: head_dim must be even (RoPE pairs)")
    return c


# ---------------------------------------------------------------- vocabulary

def _varint(buf, i):
    v = 0
    shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def _skip(buf, i, wire):
    if wire == 0:
        return _varint(buf, i)[1]
    if wire == 1:
        return i + 8
    if wire == 2:
        n, i = _varint(buf, i)
        return i + n
    if wire == 5:
        return i + 4
    raise ValueError(f"unsupported protobuf wire type {wire}")


def read_spm_model(path):
    """Pieces of a SentencePiece ModelProto: [(piece, score, type)].
    ModelProto.pieces = field 1; SentencePiece.piece = 1, score = 2 (float),
    type = 3 (NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6:
    the same numbers GGUF's token_type uses)."""
    buf = open(path, "rb").read()
    pieces = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 2:
            n, i = _varint(buf, i)
            end = i + n
            piece, score, typ = b"", 0.0, 1
            while i < end:
                k2, i = _varint(buf, i)
                f2, w2 = k2 >> 3, k2 & 7
                if f2 == 1 and w2 == 2:
                    m, i = _varint(buf, i)
                    piece = buf[i:i + m]
                    i += m
                elif f2 == 2 and w2 == 5:
                    score = struct.unpack_from("<f", buf, i)[0]
                    i += 4
                elif f2 == 3 and w2 == 0:
                    typ, i = _varint(buf, i)
                else:
                    i = _skip(buf, i, w2)
            pieces.append((piece, score, typ))
        else:
            i = _skip(buf, i, wire)
    return pieces


def gguf_vocab(pieces):
    """Tokens as llama.cpp's converter writes them: user-defined pieces get
    their U+2581 turned back into spaces (llama.cpp matches them against raw
    text), everything else is the piece itself."""
    tokens, scores, types = [], [], []
    for piece, score, typ in pieces:
        if typ == 4:
            piece = piece.replace("\u2581".encode(), b" ")
        tokens.append(piece)
        scores.append(score)
        types.append(typ)
    return tokens, scores, types


def special_id(pieces, text):
    for i, (p, _, _) in enumerate(pieces):
        if p == text.encode():
            return i
    raise SystemExit(f"gen_model.py: {text} not in {VOCAB}")


# ---------------------------------------------------------------- weights

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(x):
    """splitmix64 finalizer over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def uniform(seed, name, n):
    """n float32 values uniform in [-1, 1), a pure function of (seed, name, index)."""
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    base = np.uint64(int.from_bytes(h[:8], "little"))
    with np.errstate(over="ignore"):
        x = _splitmix(np.arange(n, dtype=np.uint64) + base)
    # top 24 bits -> exact float32 in [0, 1)
    u = (x >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    return u * np.float32(2.0) - np.float32(1.0)


def tensor_std(seed, name, shape, std):
    """Uniform values with the given standard deviation; shape is numpy order
    (rows, cols) = GGUF (ne1, ne0)."""
    n = int(np.prod(shape))
    return (uniform(seed, name, n) * np.float32(std * np.sqrt(3.0))).reshape(shape)


def tensor_range(seed, name, shape, lo, hi):
    n = int(np.prod(shape))
    u = (uniform(seed, name, n) + np.float32(1.0)) * np.float32(0.5)
    return (np.float32(lo) + u * np.float32(hi - lo)).reshape(shape)


def build_tensors(c, n_vocab):
    s = c["seed"]
    E, F, hd = c["n_embd"], c["ffn"], c["head_dim"]
    nq, nkv = c["n_head"] * hd, c["n_head_kv"] * hd
    t = []

    # Each tensor as (name, shape, make): made only when written, so a
    # benchmark model of several GB never sits in memory whole.
    def std(name, shape, sd):
        t.append((name, shape, lambda: tensor_std(s, name, shape, sd)))

    def norm(name, n, lo=0.5, hi=1.5):  # 1 + w with w in [lo-1, hi-1)
        t.append((name, (n,), lambda: tensor_range(s, name, (n,), lo, hi)))

    # scores q.k/sqrt(hd) have variance E*std_qk^2 (gemma2: no q/k norms)
    std_qk = float(np.sqrt(6.0 / E)) * c["qk_gain"]
    # x0 = embd * sqrt(E) has RMS embd_std: small next to the layers' outputs
    # (RMS ~1 each), so that the tied output matrix does not simply predict
    # the current token again; the output norm (~15) restores the logit scale.
    es = c["embd_std"] / np.sqrt(E)
    std("token_embd.weight", (n_vocab, E), es)
    for il in range(c["n_layer"]):
        p = f"blk.{il}."
        norm(p + "attn_norm.weight", E)
        std(p + "attn_q.weight", (nq, E), std_qk)
        std(p + "attn_k.weight", (nkv, E), std_qk)
        std(p + "attn_v.weight", (nkv, E), 1.0 / np.sqrt(E))
        if c["arch"] == "gemma3":
            # q and k are rmsnormed per head, so these set the score scale:
            # about |q_norm| * |k_norm| ~ 4 * qk_gain^2.
            g = c["qk_gain"]
            norm(p + "attn_q_norm.weight", hd, 1.5 * g, 2.5 * g)
            norm(p + "attn_k_norm.weight", hd, 1.5 * g, 2.5 * g)
        std(p + "attn_output.weight", (E, nq), 1.0 / np.sqrt(nq))
        norm(p + "post_attention_norm.weight", E)
        norm(p + "ffn_norm.weight", E)
        std(p + "ffn_gate.weight", (F, E), c["ffn_gain"] / np.sqrt(E))
        std(p + "ffn_up.weight", (F, E), c["ffn_gain"] / np.sqrt(E))
        std(p + "ffn_down.weight", (E, F), 1.0 / np.sqrt(F))
        norm(p + "post_ffw_norm.weight", E)
    lo, hi = c["out_norm"]
    norm("output_norm.weight", E, lo, hi)
    if c["output_weight"]:
        std("output.weight", (n_vocab, E), es)
    return t


# ---------------------------------------------------------------- GGUF writer

GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9
ALIGN = 32


def _str(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<Q", len(b)) + b


def _kv(key, typ, val):
    out = _str(key) + struct.pack("<I", typ)
    if typ == GGUF_U32:
        out += struct.pack("<I", val)
    elif typ == GGUF_F32:
        out += struct.pack("<f", val)
    elif typ == GGUF_BOOL:
        out += struct.pack("<B", 1 if val else 0)
    elif typ == GGUF_STRING:
        out += _str(val)
    elif typ == GGUF_ARRAY:
        etyp, items = val
        out += struct.pack("<IQ", etyp, len(items))
        if etyp == GGUF_STRING:
            out += b"".join(_str(x) for x in items)
        elif etyp == GGUF_F32:
            out += np.asarray(items, dtype="<f4").tobytes()
        elif etyp == GGUF_I32:
            out += np.asarray(items, dtype="<i4").tobytes()
        else:
            raise ValueError(etyp)
    else:
        raise ValueError(typ)
    return out


def metadata(c, pieces, name):
    a = c["arch"]
    tokens, scores, types = gguf_vocab(pieces)
    kv = [
        ("general.architecture", GGUF_STRING, a),
        ("general.name", GGUF_STRING, name),
        ("general.file_type", GGUF_U32, 0),  # all F32
        (f"{a}.context_length", GGUF_U32, c["ctx"]),
        (f"{a}.embedding_length", GGUF_U32, c["n_embd"]),
        (f"{a}.block_count", GGUF_U32, c["n_layer"]),
        (f"{a}.feed_forward_length", GGUF_U32, c["ffn"]),
        (f"{a}.attention.head_count", GGUF_U32, c["n_head"]),
        (f"{a}.attention.head_count_kv", GGUF_U32, c["n_head_kv"]),
        (f"{a}.attention.key_length", GGUF_U32, c["head_dim"]),
        (f"{a}.attention.value_length", GGUF_U32, c["head_dim"]),
        (f"{a}.attention.layer_norm_rms_epsilon", GGUF_F32, c["eps"]),
        (f"{a}.attention.sliding_window", GGUF_U32, c["window"]),
        (f"{a}.rope.freq_base", GGUF_F32, c["rope_base"]),
    ]
    if a == "gemma2":
        kv += [(f"{a}.attn_logit_softcapping", GGUF_F32, c["attn_cap"]),
               (f"{a}.final_logit_softcapping", GGUF_F32, c["final_cap"])]
    if c["rope_linear"]:
        kv += [(f"{a}.rope.scaling.type", GGUF_STRING, "linear"),
               (f"{a}.rope.scaling.factor", GGUF_F32, c["rope_linear"])]
    kv += [
        ("tokenizer.ggml.model", GGUF_STRING, "llama"),
        ("tokenizer.ggml.pre", GGUF_STRING, "default"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        ("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_F32, scores)),
        ("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_I32, types)),
        ("tokenizer.ggml.bos_token_id", GGUF_U32, special_id(pieces, "<bos>")),
        ("tokenizer.ggml.eos_token_id", GGUF_U32, special_id(pieces, "<eos>")),
        ("tokenizer.ggml.unknown_token_id", GGUF_U32, special_id(pieces, "<unk>")),
        ("tokenizer.ggml.padding_token_id", GGUF_U32, special_id(pieces, "<pad>")),
        ("tokenizer.ggml.add_bos_token", GGUF_BOOL, True),
        ("tokenizer.ggml.add_eos_token", GGUF_BOOL, False),
        ("tokenizer.ggml.add_space_prefix", GGUF_BOOL, False),
        ("tokenizer.chat_template", GGUF_STRING, CHAT_TEMPLATE),
    ]
    return kv


def write_gguf(path, kv, tensors, f16=False):
    """tensors: (name, shape, make) with make() giving the float32 array.
    f16: matrices stored as F16 (type 1), vectors stay F32."""
    head = struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(kv))
    head += b"".join(_kv(*x) for x in kv)
    infos, off = [], 0
    for name, shape, _ in tensors:
        ne = list(reversed(shape))  # GGUF lists the contiguous dimension first
        half = f16 and len(shape) > 1
        infos.append(_str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
                     + struct.pack("<IQ", 1 if half else 0, off))
        size = int(np.prod(shape)) * (2 if half else 4)
        off += size + (-size) % ALIGN
    head += b"".join(infos)
    head += b"\0" * ((-len(head)) % ALIGN)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for name, shape, make in tensors:
            half = f16 and len(shape) > 1
            data = np.ascontiguousarray(make(), dtype="<f2" if half else "<f4").tobytes()
            f.write(data + b"\0" * ((-len(data)) % ALIGN))
    os.replace(tmp, path)


def pad_vocab(pieces, n_vocab):
    """The test vocabulary padded with unused control tokens to n_vocab entries
    (the size of the embedding matrix is what a benchmark needs)."""
    if not n_vocab or n_vocab <= len(pieces):
        return pieces
    return pieces + [(f"<unused{i}>".encode(), 0.0, 5) for i in range(n_vocab - len(pieces))]


def generate(c, out, pieces):
    pieces = pad_vocab(pieces, c["n_vocab"])
    name = c["name"] or os.path.splitext(os.path.basename(out))[0]
    write_gguf(out, metadata(c, pieces, name), build_tensors(c, len(pieces)), f16=c["f16"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", metavar="DIR", help="write every preset to DIR/NAME.gguf")
    ap.add_argument("--preset", choices=sorted(PRESETS) + sorted(BENCH_PRESETS))
    ap.add_argument("--list", action="store_true", help="print the preset names")
    ap.add_argument("-o", "--out")
    ap.add_argument("--arch", choices=["gemma2", "gemma3"])
    for k in ("n-layer", "n-embd", "n-head", "n-head-kv", "head-dim", "ffn", "window", "ctx", "seed", "n-vocab"):
        ap.add_argument("--" + k, type=int)
    for k in ("attn-cap", "final-cap", "rope-base", "rope-linear", "eps", "qk-gain", "ffn-gain", "embd-std"):
        ap.add_argument("--" + k, type=float)
    ap.add_argument("--output-weight", action="store_true", help="write a separate output.weight")
    ap.add_argument("--name")
    a = ap.parse_args()
    if a.list:
        print("\n".join(list(PRESETS) + list(BENCH_PRESETS)))
        return 0
    pieces = read_spm_model(VOCAB)
    if a.all:
        os.makedirs(a.all, exist_ok=True)
        for name, p in PRESETS.items():
            generate(make_config(name=name, **p), os.path.join(a.all, name + ".gguf"), pieces)
        return 0
    if not a.out:
        ap.error("-o OUT (or --all DIR) is required")
    base = dict({**PRESETS, **BENCH_PRESETS}[a.preset]) if a.preset else {}
    over = {k: getattr(a, k) for k in ("arch", "n_layer", "n_embd", "n_head", "n_head_kv", "head_dim", "ffn",
                                       "window", "ctx", "seed", "attn_cap", "final_cap", "rope_base",
                                       "rope_linear", "eps", "qk_gain", "ffn_gain", "embd_std", "n_vocab",
                                       "name")}
    if a.output_weight:
        over["output_weight"] = True
    base.update({k: v for k, v in over.items() if v is not None})
    generate(make_config(**base), a.out, pieces)
    return 0


if __name__ == "__main__":
    sys.exit(main())
