#!/usr/bin/env python3
"""Soak: a scripted N-turn --no-tui conversation on a generated model with a
small context, so that old exchanges leave the context many times.

After each turn the driver sends an unknown command ('/soak-mark-I') and
waits for its error on stderr: the turn is then over, and the process's RSS
(VmRSS from /proc) is read. Checks: the process exits 0 (no crash), the
autosaved transcript holds every message (N user messages in order, N
replies), and, given --rss-turns A,B, prints the RSS at those turns; with
--max-growth-kb G fails when RSS grew by more than G KiB from turn A to B.

  tools/soak.py --bin ./gemma-chat --model build/models/g3-default.gguf \
      --backend cpu --turns 300 --ctx 256 --rss-turns 50,300
"""
import argparse, os, re, select, subprocess, sys, tempfile, time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def message(i):
    # Lengths vary so the context fills at different points.
    words = ["sea", "ship", "wind", "stone", "river", "light", "song", "bread", "road", "cloud"]
    n = 1 + (i * 7) % 23
    return f"turn {i}: " + " ".join(words[(i + k) % len(words)] for k in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="./gemma-chat")
    ap.add_argument("--model", required=True)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--turns", type=int, default=300)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--rss-turns", default="")
    ap.add_argument("--max-growth-kb", type=int, default=-1)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds one turn may take")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="gc-soak-")
    env = dict(os.environ, XDG_CONFIG_HOME=f"{tmp}/config", XDG_DATA_HOME=f"{tmp}/data",
               XDG_STATE_HOME=f"{tmp}/state")
    for k in ("GEMMA_CHAT_MODEL", "GEMMA_CHAT_BACKEND", "GEMMA_CHAT_FAULT", "GEMMA_CHAT_CONTEXT",
              "GEMMA_CHAT_PERSONA"):
        env.pop(k, None)
    out = open(f"{tmp}/out.txt", "wb")
    p = subprocess.Popen([a.bin, "-m", a.model, "--backend", a.backend, "--ctx", str(a.ctx), "-n",
                          str(a.max_tokens), "--seed", "1", "--no-tui",
                          # a shipped persona's example turns alone fill a 256-token context
                          "--persona", "none"], stdin=subprocess.PIPE,
                         stdout=out, stderr=subprocess.PIPE, env=env)
    want = [int(x) for x in a.rss_turns.split(",") if x]
    rss = {}
    err_buf = b""
    dropped = 0
    fail = []
    t0 = time.time()
    for i in range(1, a.turns + 1):
        mark = f"/soak-mark-{i}"
        p.stdin.write((message(i) + "\n" + mark + "\n").encode())
        p.stdin.flush()
        deadline = time.time() + a.timeout
        while mark.encode() + b"'" not in err_buf:
            left = deadline - time.time()
            if left <= 0 or p.poll() is not None:
                break
            r, _, _ = select.select([p.stderr], [], [], left)
            if r:
                chunk = os.read(p.stderr.fileno(), 65536)
                if not chunk:
                    break
                err_buf += chunk
        if mark.encode() + b"'" not in err_buf:
            fail.append(f"turn {i}: no end of turn seen (exit status {p.poll()})")
            break
        # Keep only what follows the mark: earlier output is done with.
        head, _, err_buf = err_buf.partition(mark.encode() + b"'")
        dropped += head.count(b"left the context")
        errs = [l for l in head.decode(errors="replace").splitlines() if l.startswith("error:")
                and "unknown command" not in l]
        if errs:
            fail.append(f"turn {i}: {errs}")
        if i in want:
            rss[i] = rss_kb(p.pid)
    p.stdin.close()
    p.stdin = None
    rest = p.stderr.read()
    p.wait(timeout=a.timeout)
    err_buf += rest
    secs = time.time() - t0
    if p.returncode != 0:
        fail.append(f"exit status {p.returncode}: {err_buf.decode(errors='replace')[-2000:]}")
    tdir = f"{tmp}/data/gemma-chat/transcripts"
    files = sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []
    if len(files) != 1:
        fail.append(f"transcripts: {files}")
    else:
        text = open(f"{tdir}/{files[0]}", encoding="utf-8").read()
        # (format version 2: each message starts with its id, then its parent)
        users = re.findall(r"^    role: user\n    text: (?:\|-\n      )?(.*)\n", text, re.M)
        n_model = len(re.findall(r"^    role: model\n", text, re.M))
        expect = [message(i) for i in range(1, a.turns + 1)]
        if users != expect:
            bad = next((k for k in range(min(len(users), len(expect))) if users[k] != expect[k]), None)
            fail.append(f"transcript user messages: {len(users)} of {len(expect)}, first difference at {bad}")
        if n_model != a.turns:
            fail.append(f"transcript replies: {n_model}, want {a.turns}")
    print(f"soak: backend {a.backend}, {a.turns} turns, ctx {a.ctx}, {secs:.1f} s, "
          f"{dropped} context overflows, exit {p.returncode}")
    for k in want:
        print(f"RSS at turn {k}: {rss.get(k, -1)} KiB")
    if a.max_growth_kb >= 0 and len(want) >= 2 and want[0] in rss and want[-1] in rss:
        g = rss[want[-1]] - rss[want[0]]
        print(f"RSS growth turn {want[0]} -> {want[-1]}: {g} KiB")
        if g > a.max_growth_kb:
            fail.append(f"RSS grew {g} KiB (> {a.max_growth_kb})")
    if dropped < 2 and a.turns >= 20:
        fail.append(f"the context overflowed only {dropped} times")
    for f in fail:
        print("FAIL:", f)
    if not fail:
        subprocess.run(["rm", "-rf", tmp])
    else:
        print("files kept in", tmp)
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
