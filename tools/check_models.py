#!/usr/bin/python3
"""check_models.py: sanity of the generated test models through llama.cpp (the oracle).

    . ~/.cache/llama-oracle/env.sh; tools/check_models.py DIR

For each DIR/*.gguf: llama.cpp loads it and its logits over a short English
prompt are finite and well spread (not all zero, different argmax across
positions). For the gemma2 models it also regenerates the model with the
soft-caps switched off (caps of 1e6) and shows how much the caps change the
logits, so a model whose caps never bite is caught. Run after changing
gen_model.py; not part of `make test` (it needs the oracle).
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_model  # noqa: E402

PROMPT = ("The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of "
          "times; it was the age of wisdom, it was the age of foolishness.")
ORACLE = os.path.expanduser("~/.cache/llama-oracle")


def oracle_logits(model, prompt_file, out):
    env = dict(os.environ, LLAMA_BIN_DIR=ORACLE + "/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
    subprocess.run([ORACLE + "/oracle-cpu", "logits", model, "0", prompt_file, out], check=True, env=env)
    raw = open(out, "rb").read()
    n, nv = np.frombuffer(raw[:8], dtype="<i4")
    toks = np.frombuffer(raw[8:8 + 4 * n], dtype="<i4")
    return toks, np.frombuffer(raw[8 + 4 * n:], dtype="<f4").reshape(n, nv)


def main():
    d = sys.argv[1]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        pf = os.path.join(tmp, "p.txt")
        open(pf, "w").write(PROMPT)
        for m in sorted(glob.glob(os.path.join(d, "*.gguf"))):
            name = os.path.splitext(os.path.basename(m))[0]
            toks, lg = oracle_logits(m, pf, os.path.join(tmp, "l.bin"))
            ok = bool(np.isfinite(lg).all())
            std = float(lg.std(axis=1).mean())
            am = lg.argmax(axis=1)
            line = (f"{name:12s} n={lg.shape[0]} finite={ok} std={std:.2f} min={lg.min():.2f} "
                    f"max={lg.max():.2f} distinct_argmax={len(set(am.tolist()))} "
                    f"argmax_is_input={int((am == toks).sum())}")
            if name in gen_model.PRESETS and gen_model.PRESETS[name]["arch"] == "gemma2":
                c = gen_model.make_config(**dict(gen_model.PRESETS[name], attn_cap=1e6, final_cap=1e6))
                nm = os.path.join(tmp, "nocap.gguf")
                gen_model.generate(c, nm, gen_model.read_spm_model(gen_model.VOCAB))
                _, ln = oracle_logits(nm, pf, os.path.join(tmp, "l2.bin"))
                diff = float(np.abs(lg - ln).max())
                flips = int((ln.argmax(axis=1) != am).sum())
                line += f" caps_change_logits_by={diff:.2f} argmax_flips={flips}"
                ok = ok and diff > 0.5
            ok = ok and std > 1.0 and len(set(am.tolist())) > 3
            print(("ok   " if ok else "BAD  ") + line)
            bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
