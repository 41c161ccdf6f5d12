#!/bin/sh
# gemma-chat logits: the file format of DESIGN.md, --ids and text input, and errors.
# (The values themselves are tested against llama.cpp in test_gemma.)
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
D=tests/data/engine
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M=$MODELS/g2-win8.gguf

# The golden's ids (BOS + the first 39 tokens of prompt.txt) through --ids; the
# output must hold exactly those tokens and match the float64 golden.
$PYTHON - "$D/g2-win8.ref.golden" > "$tmp/ids.txt" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack_from("<I", b, 8)[0]
print(" ".join(str(x) for x in struct.unpack_from(f"<{n}i", b, 24)))
PY
$BIN logits -m "$M" --backend cpu --file "$tmp/ids.txt" --out "$tmp/ids.bin" --ids; rc=$?
check '[ $rc -eq 0 ]' "logits --ids exit $rc"
head -c 1000 "$D/prompt.txt" > "$tmp/prompt.txt"
$BIN logits -m "$M" --backend cpu --file "$tmp/prompt.txt" --out "$tmp/text.bin"; rc=$?
check '[ $rc -eq 0 ]' "logits (text) exit $rc"
res=$($PYTHON - "$tmp/ids.bin" "$tmp/text.bin" "$D/g2-win8.ref.golden" <<'PY'
import sys, numpy as np
def rd(p):
    b = open(p, "rb").read()
    n, nv = np.frombuffer(b[:8], "<i4")
    assert len(b) == 8 + 4 * n + 4 * n * nv, "file size does not match the header"
    return np.frombuffer(b[8:8 + 4 * n], "<i4"), np.frombuffer(b[8 + 4 * n:], "<f4").reshape(n, nv)
t, lg = rd(sys.argv[1])
tt, tl = rd(sys.argv[2])
g = open(sys.argv[3], "rb").read()
n, nv, cols = np.frombuffer(g[8:20], "<u4")
gt = np.frombuffer(g[24:24 + 4 * n], "<i4")
gl = np.frombuffer(g[24 + 8 * n:], "<f4").reshape(n, cols)
rel = np.linalg.norm(lg[:, :cols] - gl) / np.linalg.norm(gl)
ok = lg.shape == (n, nv) and (t == gt).all() and rel < 1e-4
# Text mode: BOS + the whole prompt; its first 40 tokens are the golden's.
ok = ok and len(tt) > n and (tt[:n] == gt).all() and np.array_equal(tl[:n], lg)
print("ok" if ok else f"bad: shape {lg.shape} rel {rel:.3e} text tokens {tt[:8]}")
PY
)
check '[ "$res" = ok ]' "logits output: $res"

# Errors: usage (2) and bad input naming the file (1).
$BIN logits -m "$M" --file "$tmp/ids.txt" 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "missing --out exits 2 (got $rc)"
$BIN logits -m "$M" --file "$tmp/ids.txt" --out "$tmp/x" --bogus 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "unknown option exits 2 (got $rc)"
echo "2 17 abc" > "$tmp/bad.txt"
err=$($BIN logits -m "$M" --file "$tmp/bad.txt" --out "$tmp/x" --ids 2>&1); rc=$?
check '[ $rc -eq 1 ] && echo "$err" | grep -q "bad.txt: token 3"' "non-numeric id: rc $rc, '$err'"
echo "2 99999" > "$tmp/big.txt"
err=$($BIN logits -m "$M" --file "$tmp/big.txt" --out "$tmp/x" --ids 2>&1); rc=$?
check '[ $rc -eq 1 ] && echo "$err" | grep -q "99999"' "id outside the vocabulary: rc $rc, '$err'"
err=$($BIN logits -m "$tmp/none.gguf" --file "$tmp/ids.txt" --out "$tmp/x" --ids 2>&1); rc=$?
check '[ $rc -eq 1 ] && echo "$err" | grep -q "none.gguf"' "missing model: rc $rc, '$err'"
exit $fail
