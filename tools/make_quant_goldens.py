#!/usr/bin/env python3
"""Writes tests/data/quant/<TYPE>.bin: random but valid blocks of every weight
type gemma-chat dequantizes, plus gguf-py's dequantization of them, so that
tests/test_quant.c can check model/quant.c bit for bit without the oracle.

Run (needs numpy and llama.cpp's gguf-py):
    PYTHONPATH=~/.cache/llama-oracle/src/gguf-py /usr/bin/python3 tools/make_quant_goldens.py [OUTDIR]

File layout (little-endian):
    char magic[4] = "QGLD"; u32 type id; u32 n_blocks; u32 block_elems; u32 block_bytes;
    u8 blocks[n_blocks * block_bytes]; f32 expected[n_blocks * block_elems]
The seed is fixed: the same gguf-py gives the same bytes.
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

# Byte offsets of the fp16 fields inside one block (scales d, m, dmin):
# random bytes there could be NaN/inf, whose payload propagation through a
# multiply depends on operand order, not on the format; so those fields get
# random *finite* halves (all exponents incl. subnormals and zero, both signs).
F16_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
# Enough values to hit every code path many times while keeping files a few KB.
N_VALUES = {T.F32: 512, T.F16: 1024, T.BF16: 1024}
N_BLOCKS_32 = 24     # 32-value types
N_BLOCKS_256 = 6     # K-quants


def random_finite_f16(rng, n):
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    # Exponents: mostly the range real scales live in (products then round,
    # which is what catches a changed operation order), some anywhere finite.
    typical = rng.integers(4, 21, size=n, dtype=np.uint32).astype(np.uint16)
    anywhere = rng.integers(0, 0x1F, size=n, dtype=np.uint32).astype(np.uint16)
    exp = np.where(rng.random(n) < 0.75, typical, anywhere)
    h = (h & 0x83FF) | (exp << 10)
    # A few exact specials (+-0, the smallest subnormal, the largest finite)
    # in random blocks, never more than a quarter of them.
    specials = np.array([0x0000, 0x8000, 0x0001, 0x7BFF, 0xFBFF], dtype=np.uint16)
    k = min(len(specials), n // 4)
    where = rng.choice(n, size=k, replace=False)
    h[where] = rng.choice(specials, size=k, replace=False)
    return h


def make(qtype, rng):
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    if qtype in N_VALUES:
        n_blocks = N_VALUES[qtype]
        if qtype == T.F32:
            bits = rng.integers(0, 1 << 32, size=n_blocks, dtype=np.uint64).astype(np.uint32)
            # NaN payloads are not what this test is about; keep inf.
            nan = ((bits >> 23) & 0xFF == 0xFF) & (bits & 0x7FFFFF != 0)
            bits[nan] &= 0xFF800000
            raw = bits.view(np.uint8)
        elif qtype == T.F16:
            h = rng.integers(0, 1 << 16, size=n_blocks, dtype=np.uint32).astype(np.uint16)
            nan = ((h >> 10) & 0x1F == 0x1F) & (h & 0x3FF != 0)
            h[nan] &= 0xFC00
            raw = h.view(np.uint8)
        else:   # BF16: pure bit shift in gguf-py, every pattern incl. NaN is exact
            raw = rng.integers(0, 1 << 16, size=n_blocks, dtype=np.uint32).astype(np.uint16).view(np.uint8)
        raw = np.ascontiguousarray(raw)
        expected = dequantize(raw.copy(), qtype)
    else:
        n_blocks = N_BLOCKS_256 if block_elems == 256 else N_BLOCKS_32
        raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint32).astype(np.uint8)
        for off in F16_FIELDS[qtype]:
            raw[:, off:off + 2] = random_finite_f16(rng, n_blocks).view(np.uint8).reshape(n_blocks, 2)
        raw = raw.reshape(-1)
        expected = dequantize(raw.copy(), qtype)
    expected = np.asarray(expected, dtype=np.float32).reshape(-1)
    assert expected.size == n_blocks * block_elems, (qtype, expected.size)
    head = b"QGLD" + struct.pack("<4I", int(qtype), n_blocks, block_elems, block_bytes)
    return head + raw.tobytes() + expected.astype("<f4").tobytes()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "data", "quant")
    os.makedirs(out, exist_ok=True)
    types = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q4_K, T.Q5_K, T.Q6_K]
    for i, qt in enumerate(types):
        rng = np.random.default_rng(20240601 + i)   # one stream per type: adding a type changes no other file
        data = make(qt, rng)
        with open(os.path.join(out, qt.name + ".bin"), "wb") as f:
            f.write(data)
        print(f"{qt.name}.bin {len(data)} bytes")


if __name__ == "__main__":
    main()
