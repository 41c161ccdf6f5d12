#!/usr/bin/python3
"""logit_goldens.py: compact golden logits files for tests/test_gemma.c.

    logit_goldens.py pack IN.bin OUT.golden [--cols N] [--f16]
    logit_goldens.py compare A.bin B.bin        rel L2 error and top-1 agreement of A against B

IN.bin is a logits file as `gemma-chat logits` and the oracles write it
(int32 n, int32 n_vocab, int32 tokens[n], float32 logits[n][n_vocab]).
A .golden file keeps what the tests need in less space, little-endian:
    char magic[4] = "GCLG"; uint32 version = 1, n, n_vocab, n_cols, dtype (0 f32, 1 f16);
    int32 tokens[n]; int32 top1[n] (argmax over the whole vocabulary, from the f32 values);
    logits[n][n_cols] (the first n_cols ids) as f32 or f16.
"""
import sys

import numpy as np


def read_bin(path):
    b = open(path, "rb").read()
    n, nv = (int(x) for x in np.frombuffer(b[:8], "<i4"))
    toks = np.frombuffer(b[8:8 + 4 * n], "<i4")
    logits = np.frombuffer(b[8 + 4 * n:], "<f4")
    if logits.size != n * nv:
        raise SystemExit(f"{path}: {logits.size} logits, header says {n} x {nv}")
    return toks, logits.reshape(n, nv)


def pack(src, dst, cols, f16):
    toks, lg = read_bin(src)
    n, nv = lg.shape
    cols = nv if cols is None else min(cols, nv)
    top1 = lg.argmax(1).astype("<i4")
    body = lg[:, :cols].astype("<f2" if f16 else "<f4")
    with open(dst, "wb") as f:
        f.write(b"GCLG")
        f.write(np.array([1, n, nv, cols, 1 if f16 else 0], "<u4").tobytes())
        f.write(toks.astype("<i4").tobytes())
        f.write(top1.tobytes())
        f.write(body.tobytes())


def compare(a_path, b_path):
    ta, a = read_bin(a_path)
    tb, b = read_bin(b_path)
    if a.shape != b.shape or (ta != tb).any():
        raise SystemExit("different tokens or shapes")
    rel = np.linalg.norm(a - b) / np.linalg.norm(b)
    top = (a.argmax(1) == b.argmax(1)).mean()
    print(f"n={len(ta)} n_vocab={a.shape[1]} rel_l2={rel:.3e} top1_agree={top:.3f}")


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "pack":
        cols = int(args[args.index("--cols") + 1]) if "--cols" in args else None
        pack(args[1], args[2], cols, "--f16" in args)
    elif len(args) == 3 and args[0] == "compare":
        compare(args[1], args[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
