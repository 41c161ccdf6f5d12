#!/bin/sh
# Instant resume (issue 22; app/resume.h, app/snapshot.h), line mode on the
# real Gemma 3 270M:
#  - --load of a saved conversation: the first run reads it (prefill) and
#    keeps a snapshot; the next run prefills 0 tokens and gives the same
#    greedy reply as a run without snapshots (snapshots.max_mib: 0);
#  - a corrupted, truncated or mismatched (another context size) snapshot is
#    ignored: the conversation is read again, the reply is the same, and the
#    damaged file is gone;
#  - a new chat with a persona with example exchanges: the second start
#    takes them from the snapshot the first one made.
. "$(dirname "$0")/chat_lib.sh"
. "$(dirname "$0")/real_model_lib.sh"
REAL_MODEL=${REAL_MODEL:-models/gemma-3-270m-q4_k_m.gguf}
need_real_model "instant resume on the real model"
chat_init resume
SNAPS=$XDG_CACHE_HOME/gemma-chat/snapshots
mkdir -p "$TR" "$XDG_CONFIG_HOME/gemma-chat"
# No autosave: the only snapshots are the ones the reading of a stream makes.
echo "transcripts: { autosave: false }" >"$T/on.yaml"
printf 'transcripts: { autosave: false }\nsnapshots: { max_mib: 0 }\n' >"$T/off.yaml"

# A conversation of 12 exchanges, written as a transcript.
{
    printf 'format: gemma-chat-transcript\nversion: 1\ncreated: 2026-01-01T00:00:00Z\nupdated: 2026-01-01T00:00:00Z\n'
    printf 'persona:\n  name: ""\n  instruction: ""\nmessages:\n'
    for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
        printf '  - role: user\n    text: Tell me fact number %s about the ocean and its tides.\n' "$i"
        printf '  - role: model\n    text: Fact %s is that the ocean covers much of the planet and moves with the moon.\n' "$i"
    done
} >"$TR/long.yaml"

# run NAME ARGS...: one question after a /stats, then /stats again.
run() {
    _n=$1; shift
    printf '/stats\nWhat did I ask first?\n/stats\n' |
        timeout 120 "$BIN" -m "$REAL_MODEL" --backend cpu --temp 0 -n 12 --no-tui "$@" >"$T/$_n.out" 2>"$T/$_n.err"
    echo $? >"$T/$_n.rc"
}
# prefilled NAME K: the K-th /stats figure (1 = before the question)
prefilled() { sed -n 's/.*prefilled \([0-9]*\) tokens this session.*/\1/p' "$T/$1.err" | sed -n "${2}p"; }
reply() { cat "$T/$1.out"; }
snap_count() { ls "$SNAPS"/*.snap 2>/dev/null | wc -l; }
L="--persona none --load $TR/long.yaml -c $T/on.yaml"

run cold $L
[ "$(cat "$T/cold.rc")" = 0 ] || bad "cold run: exit $(cat "$T/cold.rc") ($(tail -n 3 "$T/cold.err"))"
full=$(prefilled cold 1)
[ -n "$full" ] && [ "$full" -gt 200 ] && ok "cold: the conversation is read ($full tokens)" || bad "cold: prefilled '$full'"
[ "$(snap_count)" -ge 1 ] && ok "cold: a snapshot is kept" || bad "no snapshot in $SNAPS"

run warm $L
[ "$(prefilled warm 1)" = 0 ] && ok "warm: --load prefills 0 tokens" || bad "warm: prefilled '$(prefilled warm 1)', want 0"
run off --persona none --load "$TR/long.yaml" -c "$T/off.yaml"
[ "$(prefilled off 1)" = "$full" ] || bad "snapshots off: prefilled '$(prefilled off 1)', want $full"
[ -n "$(reply off)" ] && [ "$(reply warm)" = "$(reply off)" ] && ok "warm: the same greedy reply as a full prefill" \
    || bad "warm reply differs: '$(reply warm)' vs '$(reply off)'"
[ "$(reply cold)" = "$(reply off)" ] || bad "cold reply differs: '$(reply cold)' vs '$(reply off)'"
d_warm=$(( $(prefilled warm 2) - $(prefilled warm 1) )); d_off=$(( $(prefilled off 2) - $(prefilled off 1) ))
[ "$d_warm" = "$d_off" ] && ok "the question alone is evaluated ($d_warm tokens)" || bad "question: $d_warm vs $d_off tokens"
# /stats names both windows: Gemma 3's sliding layers see the last 512 tokens.
grep -q "context: [0-9]* of 32768 tokens (the sliding-window layers see the last 512 of them)" "$T/warm.err" \
    && ok "/stats: the global and the sliding window" || bad "/stats without the sliding window: $(grep context: "$T/warm.err")"

# Damaged snapshots: each is ignored (full prefill, same reply) and removed.
damage() {   # damage KIND: one snapshot file damaged in place
    f=$(ls "$SNAPS"/*.snap | head -n 1)
    size=$(wc -c <"$f")
    case $1 in
        corrupt) printf '\377' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null ;;
        truncate) head -c $((size / 2)) "$f" >"$T/half" && cat "$T/half" >"$f" ;;
    esac
    echo "$f"
}
for kind in corrupt truncate; do
    run warm0 $L                                # a good snapshot of the whole conversation first
    f=$(damage $kind)
    run $kind $L
    [ "$(prefilled $kind 1)" = "$full" ] && ok "$kind snapshot ignored: read again" \
        || bad "$kind snapshot: prefilled '$(prefilled $kind 1)', want $full"
    [ "$(reply $kind)" = "$(reply off)" ] || bad "$kind: reply differs: '$(reply $kind)'"
    run again $L                                 # the damaged file went; a good one took its place
    [ "$(prefilled again 1)" = 0 ] && ok "$kind: replaced by a good snapshot" || bad "$kind: next run prefilled '$(prefilled again 1)'"
done
run ctx $L --ctx 8192
[ "$(prefilled ctx 1)" = "$full" ] && ok "another context size: not used" || bad "--ctx 8192: prefilled '$(prefilled ctx 1)'"
[ "$(reply ctx)" = "$(reply off)" ] || bad "--ctx 8192: reply differs"

# A persona's example exchanges.
P="--persona pirate -c $T/on.yaml"
run p1 $P
k=$(prefilled p1 1)
[ -n "$k" ] && [ "$k" -gt 50 ] && ok "persona: its examples read at the start ($k tokens)" || bad "persona: prefilled '$k'"
run p2 $P
[ "$(prefilled p2 1)" = 0 ] && ok "persona: the next start takes them from the snapshot" \
    || bad "persona: second start prefilled '$(prefilled p2 1)'"
run p3 --persona pirate -c "$T/off.yaml"
[ "$(reply p2)" = "$(reply p3)" ] && ok "persona: the same reply as without snapshots" || bad "persona reply differs"
exit $fail
