#!/usr/bin/python3
"""real_goldens.py: llama.cpp goldens for the real Gemma 3 270M (tests/t_real_model.sh).

    real_goldens.py render NAME OUT.chat         the chat as Gemma template text (no BOS)
    real_goldens.py pack NAME PROMPT.ids CHAT.ids REPLY.txt CPU.bin VK.bin OUT.json
    real_goldens.py ids GOLDEN.json              prompt + reply ids (BOS first), one line
    real_goldens.py turns GOLDEN.json DIR        DIR/prompt.txt: the last user turn; and
                                                 DIR/history.yaml, a transcript of the
                                                 earlier turns (only when there are some)
    real_goldens.py compare LABEL MAX_REL MIN_TOP1 GOLDEN.json OURS.bin [GOLDEN OURS ...]
    real_goldens.py llama GOLDEN.json...         llama.cpp's own Vulkan-vs-CPU figures

The chats are PROMPTS below; tools/make_real_goldens.sh runs llama.cpp on them.
A golden (tests/data/real/NAME.json) holds the turns, the template text, llama.cpp's
prompt ids (with BOS) and greedy reply ids (`oracle chatids`), and for every position
of prompt + reply its CPU backend's 16 highest logits and their ids, descending (the
whole 262144-id row would be 1 MB a position); also, for scale only, its Vulkan
backend's logits at those ids and its Vulkan top-1. The reply text (`oracle chat`)
is NAME.reply.txt, byte for byte. OURS.bin is a `gemma-chat logits --ids` file.

The measures, for ours against llama.cpp's CPU logits (S_p = llama.cpp's 16 highest
ids at position p; all positions of prompt + reply):
  rel err of a chat = ||ours[p, S_p] - llama[p, S_p]||_F / ||llama[p, S_p]||_F, over
      all positions at once (the convention of tools/logit_goldens.py and
      tests/t_vk_logits.sh, there over the whole vocabulary). Bounded per chat.
      The same per position is printed too (max, mean) but not bounded: a row of
      logits near 0 (after <start_of_turn>, say) makes it large while a shift
      common to all ids leaves the probabilities alone; llama.cpp's own Vulkan and
      CPU backends part by up to 0.5 that way.
  top-1 = the share of positions where our argmax over the whole vocabulary is
      llama.cpp's top id, counted only where llama.cpp's top two are not tied.
      Strict: tied means top1 - top2 <= 1e-3 * max(1, |top1|). Settled (bounded,
      over all chats together: one chat has only ~70 positions): tied also where
      llama.cpp's own Vulkan backend has another top-1 than its CPU backend, a
      near-tie llama.cpp cannot settle itself (its two backends part by ~0.3 in
      a logit; every position where ours differed was one of these). Printed both.
Needs numpy (Debian python3-numpy, installed by tools/install-deps.sh).
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logit_goldens import read_bin  # noqa: E402  (the logits file format of DESIGN.md)

TOP = 16
TIE_EPS = 1e-3

# (name, turns): user and model alternate, starting with the user; the last is the
# user's. A persona is plain text at the start of the first user turn, then "\n\n",
# which is what gemma-chat's template makes of a persona (model/chat_template.c).
PROMPTS = {
    "pirate": [
        "You are a pirate captain. Answer like a pirate, in two sentences.\n\n"
        "What do you like best about the sea?",
    ],
    "fact": [
        "Why is the sky blue? Explain briefly.",
    ],
    "twoturn": [
        "My name is Ada and I like painting.",
        "Nice to meet you, Ada! Painting is a wonderful hobby.",
        "What is my name, and what do I like?",
    ],
    "captain": [
        "You are a ship's captain. Always answer in one short sentence.\n\n"
        "What is two plus two?",
    ],
    "unicode": [
        "Traduis en anglais : « Le café est très chaud. » Merci ! 日本語でも言えますか？",
    ],
}


def render(turns):
    out = []
    for i, t in enumerate(turns):
        role = "model" if i % 2 else "user"
        out.append(f"<start_of_turn>{role}\n{t.strip()}<end_of_turn>\n")
    out.append("<start_of_turn>model\n")
    return "".join(out)


def read_ids(path):
    return [int(x) for x in open(path).read().split()]


def top_k(row, k=TOP):
    idx = np.argpartition(-row, k)[:k]
    idx = idx[np.argsort(-row[idx], kind="stable")]
    return idx


def tied(top_logits):
    a, b = top_logits[0], top_logits[1]
    return a - b <= TIE_EPS * max(1.0, abs(a))


class Tally:
    """The measures of one chat against the golden: rel err, and top-1 agreement
    counted twice: strict (only exact ties left out) and settled (also leaving
    out the positions llama.cpp's own two backends do not agree on)."""

    def __init__(self, g, ours_top16, ours_top1, settle=True):
        ref = np.asarray(g["top_logits"], np.float64)
        got = np.asarray(ours_top16, np.float64)
        self.n = len(ref)
        self.rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        self.rel_pos = np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)
        # the same against llama.cpp's Vulkan backend, and how far that one is
        # from its CPU backend (the two references part by up to 3.4e-2 here)
        vk = np.asarray(g["llama_vulkan_logits"], np.float64)
        self.rel_vk = np.linalg.norm(got - vk) / np.linalg.norm(vk)
        self.rel_llama = np.linalg.norm(vk - ref) / np.linalg.norm(ref)
        self.agree = self.counted = self.strict_agree = self.strict_counted = 0
        self.parts = []
        for p in range(self.n):
            if tied(g["top_logits"][p]):
                continue
            want = g["top_ids"][p][0]
            same = int(ours_top1[p]) == want
            self.strict_counted += 1
            self.strict_agree += same
            unsettled = settle and g["llama_vulkan_top1"][p] != want
            if not unsettled:
                self.counted += 1
                self.agree += same
            if not same:
                gap = g["top_logits"][p][0] - g["top_logits"][p][1]
                self.parts.append(f"pos {p}: {int(ours_top1[p])} instead of {want} (llama.cpp's top-2 gap "
                                  f"{gap:.3f}{'; its Vulkan backend also differs' if unsettled else ''})")

    def line(self, label):
        return (f"{label}: n={self.n} rel err {self.rel:.3e} (vs llama.cpp Vulkan {self.rel_vk:.3e}; "
                f"its Vulkan vs its CPU {self.rel_llama:.3e}) (per position: max {self.rel_pos.max():.3e} "
                f"mean {self.rel_pos.mean():.3e}) top-1 {self.agree}/{self.counted} "
                f"(strict {self.strict_agree}/{self.strict_counted})")


def tally(g, ours):
    """Tally of a full logits matrix (n x n_vocab) against the golden."""
    ids = np.asarray(g["top_ids"])
    return Tally(g, np.take_along_axis(ours, ids, 1), ours.argmax(1))


def pack(name, prompt_ids, chat_ids, reply_txt, cpu_bin, vk_bin, out):
    turns = PROMPTS[name]
    p_ids, all_ids = read_ids(prompt_ids), read_ids(chat_ids)
    if all_ids[:len(p_ids)] != p_ids:
        raise SystemExit(f"{name}: chatids does not start with the prompt ids")
    toks, cpu = read_bin(cpu_bin)
    if list(toks) != all_ids:
        raise SystemExit(f"{name}: the logits file holds other ids than chatids printed")
    vtoks, vk = read_bin(vk_bin)
    if list(vtoks) != all_ids:
        raise SystemExit(f"{name}: the Vulkan logits file holds other ids")
    top_ids, top_logits, vk_logits = [], [], []
    for p in range(len(all_ids)):
        idx = top_k(cpu[p])
        top_ids.append([int(i) for i in idx])
        top_logits.append([float(f"{float(v):.6g}") for v in cpu[p, idx]])
        vk_logits.append([float(f"{float(v):.6g}") for v in vk[p, idx]])
    g = {
        "name": name,
        "turns": turns,
        "chat": render(turns),
        "n_prompt": len(p_ids),
        "ids": all_ids,
        "top_ids": top_ids,
        "top_logits": top_logits,
        # llama.cpp's Vulkan backend (lavapipe) at the same ids, and its top-1 over
        # the whole vocabulary: for scale in the docs, not for the test
        "llama_vulkan_logits": vk_logits,
        "llama_vulkan_top1": [int(i) for i in vk.argmax(1)],
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(g, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    reply = open(reply_txt, "rb").read().decode("utf-8", "replace")
    t = Tally(g, vk_logits, g["llama_vulkan_top1"], settle=False)
    print(f"{name}: {len(p_ids)} prompt + {len(all_ids) - len(p_ids)} reply ids; reply {reply!r}")
    print(t.line(f"{name}: llama.cpp vulkan vs cpu"))


def turns_files(golden, d):
    g = json.load(open(golden, encoding="utf-8"))
    t = g["turns"]
    with open(os.path.join(d, "prompt.txt"), "w", encoding="utf-8") as f:
        f.write(t[-1])
    if len(t) > 1:
        with open(os.path.join(d, "history.yaml"), "w", encoding="utf-8") as f:
            f.write("format: gemma-chat-transcript\nversion: 1\n"
                    "created: 2026-01-01T00:00:00Z\nupdated: 2026-01-01T00:00:00Z\nmessages:\n")
            for i, text in enumerate(t[:-1]):
                f.write(f"  - role: {'model' if i % 2 else 'user'}\n    text: {json.dumps(text)}\n")


def summary(tallies, label):
    agree = sum(t.agree for t in tallies)
    counted = sum(t.counted for t in tallies)
    share = agree / counted if counted else 0.0
    s_agree = sum(t.strict_agree for t in tallies)
    s_counted = sum(t.strict_counted for t in tallies)
    rel = max(t.rel for t in tallies)
    pos = np.concatenate([t.rel_pos for t in tallies])
    print(f"{label}: rel err max {rel:.3e} over {len(tallies)} chats (per position: max {pos.max():.3e} "
          f"mean {pos.mean():.3e}); top-1 {agree}/{counted} = {100 * share:.1f}% "
          f"(strict {s_agree}/{s_counted} = {100 * s_agree / max(1, s_counted):.1f}%)")
    return rel, share


def compare(label, max_rel, min_top1, pairs):
    """pairs: [(golden, ours.bin)]; each chat's rel err within its bounds, top-1 over all >= min_top1."""
    tallies, ok = [], True
    for golden, ours_bin in pairs:
        g = json.load(open(golden, encoding="utf-8"))
        toks, ours = read_bin(ours_bin)
        name = f"{label} {g['name']}"
        if list(toks) != g["ids"]:
            print(f"FAIL {name}: the logits file holds other ids than the golden")
            ok = False
            continue
        if not np.isfinite(ours).all():
            print(f"FAIL {name}: non-finite logits")
            ok = False
            continue
        t = tally(g, ours)
        print(t.line(name))
        for s in t.parts:
            print(f"  top-1 differs at {s}")
        # Against llama.cpp's CPU backend the bound is max_rel, or the distance
        # between llama.cpp's own two backends where that is larger: we need not
        # be nearer its CPU backend than its Vulkan backend is. Against its Vulkan
        # backend (no 8-bit activations, like ours) max_rel always.
        cpu_bound = max(max_rel, t.rel_llama)
        if not t.rel <= cpu_bound:
            print(f"FAIL {name}: rel err {t.rel:.3e} > {cpu_bound:.3e} against llama.cpp's CPU backend")
            ok = False
        if not t.rel_vk <= max_rel:
            print(f"FAIL {name}: rel err {t.rel_vk:.3e} > {max_rel} against llama.cpp's Vulkan backend")
            ok = False
        tallies.append(t)
    if tallies:
        _, share = summary(tallies, label)
        if not share >= min_top1:
            print(f"FAIL {label}: top-1 agreement {share:.3f} < {min_top1}")
            ok = False
    return 0 if ok else 1


def llama_figures(goldens):
    """llama.cpp's own Vulkan backend against its CPU backend, from the goldens."""
    tallies = []
    for golden in goldens:
        g = json.load(open(golden, encoding="utf-8"))
        t = Tally(g, g["llama_vulkan_logits"], g["llama_vulkan_top1"], settle=False)
        print(t.line(f"llama.cpp vulkan vs cpu {g['name']}"))
        tallies.append(t)
    summary(tallies, "llama.cpp vulkan vs cpu")


def main():
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "render":
        with open(a[2], "w", encoding="utf-8") as f:
            f.write(render(PROMPTS[a[1]]))
    elif len(a) == 8 and a[0] == "pack":
        pack(*a[1:])
    elif len(a) == 2 and a[0] == "ids":
        print(" ".join(str(i) for i in json.load(open(a[1]))["ids"]))
    elif len(a) == 3 and a[0] == "turns":
        turns_files(a[1], a[2])
    elif len(a) >= 6 and len(a) % 2 == 0 and a[0] == "compare":
        sys.exit(compare(a[1], float(a[2]), float(a[3]), list(zip(a[4::2], a[5::2]))))
    elif len(a) >= 2 and a[0] == "llama":
        llama_figures(a[1:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
