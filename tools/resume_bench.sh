#!/bin/sh
# Time to the first reply after --load of a 40-exchange transcript, with and
# without its KV snapshot (app/resume.h), on the real Gemma 3 270M, CPU backend.
# Not a test (tests/t_resume.sh checks the behaviour). Usage: tools/resume_bench.sh
set -u
cd "$(dirname "$0")/.."
T=$(mktemp -d /tmp/gc-meas-XXXXXX)
export XDG_CONFIG_HOME=$T/c XDG_DATA_HOME=$T/d XDG_STATE_HOME=$T/s XDG_CACHE_HOME=$T/k
M=models/gemma-3-270m-q4_k_m.gguf
{
    printf 'format: gemma-chat-transcript\nversion: 1\ncreated: 2026-01-01T00:00:00Z\nupdated: 2026-01-01T00:00:00Z\n'
    printf 'persona:\n  name: ""\n  instruction: ""\nmessages:\n'
    i=1; while [ $i -le 40 ]; do
        printf '  - role: user\n    text: Tell me fact number %s about the ocean, its tides and the creatures that live in it.\n' "$i"
        printf '  - role: model\n    text: Fact %s is that the ocean covers much of the planet, moves with the moon twice a day, and is home to whales, fish and coral.\n' "$i"
        i=$((i+1)); done
} >"$T/t40.yaml"
printf 'transcripts: { autosave: false }\n' >"$T/on.yaml"
printf 'transcripts: { autosave: false }\nsnapshots: { max_mib: 0 }\n' >"$T/off.yaml"
one() {  # one CFG: seconds from start to the end of a 1-token reply
    s=$(date +%s.%N)
    printf 'What did I ask first?\n/stats\n' | ./gemma-chat -m $M --backend cpu --temp 0 -n 1 --no-tui --persona none --load "$T/t40.yaml" -c "$1" >/dev/null 2>"$T/err"
    e=$(date +%s.%N)
    pf=$(sed -n 's/.*prefilled \([0-9]*\) tokens this session.*/\1/p' "$T/err")
    echo "$(echo "$e - $s" | bc) s (prefilled $pf)"
}
./gemma-chat -m $M --backend cpu -p hi -n 1 >/dev/null 2>&1   # page cache warm
echo "first run (reads it, keeps a snapshot): $(one $T/on.yaml)"
for r in 1 2 3; do
  echo "no snapshots:   $(one $T/off.yaml)"
  echo "with snapshot:  $(one $T/on.yaml)"
done
ls -la $T/k/gemma-chat/snapshots/
grep -m1 "model name" /proc/cpuinfo
rm -rf "$T"
