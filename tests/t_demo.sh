#!/bin/sh
# The demo of docs/real-model.md on the real Gemma 3 270M Q4_K_M ($REAL_MODEL):
#   gemma-chat --persona pirate -p "Who are you? Please, answer in pirate-speak."
# with a fixed seed on the CPU backend (faster than lavapipe here) gives a
# pirate reply that ends by itself (the persona's stop string or the end of
# the turn, not max_tokens), is short, holds a pirate word, does not echo the
# question and shows none of the persona's markup. Under the sanitizers
# (B=build-debug) only a cheap 8-token run of the pirate persona on the tiny
# test model ($MODELS/g3-default.gguf): -n beats the persona's max_tokens.
# Without the real model the test is skipped (exit 77), except under CI=true,
# where it fails.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
T=${TMPDIR:-/tmp}/gc-demo.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
echo "show_stats: true" > "$T/config.yaml"
Q="Who are you? Please, answer in pirate-speak."
run() {  # run ARGS...: stdout to $T/out, stderr to $T/err, exit code in $rc
    $BIN -m "$REAL_MODEL" -c "$T/config.yaml" --backend cpu --persona pirate "$@" -p "$Q" > "$T/out" 2> "$T/err"
    rc=$?
    echo "--- reply:"; cat "$T/out"; echo "--- stderr:"; cat "$T/err"
}
case "$B" in
*debug*)
    # The real model takes minutes under ASan: the tiny test model instead.
    REAL_MODEL=$MODELS/g3-default.gguf
    run --seed 7 -n 8
    check '[ $rc -eq 0 ]' "exits 0 (got $rc)"
    check 'grep -q "reply cut at max_tokens = 8\]" "$T/err"' "-n 8 beats the persona's max_tokens"
    check 'grep -q "reply 8 tokens" "$T/err"' "8 tokens generated"
    exit $fail
    ;;
esac
. "$(dirname "$0")/real_model_lib.sh"
need_real_model "the pirate demo on the real model"
run --seed 4
check '[ $rc -eq 0 ]' "exits 0 (got $rc)"
check '! grep -q "reply cut" "$T/err"' "the reply ends by itself, not at max_tokens or a full context"
n=$(sed -n 's/.*reply \([0-9]*\) tokens.*/\1/p' "$T/err")
check '[ -n "$n" ] && [ "$n" -ge 5 ] && [ "$n" -le 80 ]' "a short reply: 5 to 80 tokens (got '${n}')"
check '[ $(tr -d " \n" < "$T/out" | wc -c) -ge 15 ]' "the reply has text"
check 'grep -qiE "\b(arr+|ahoy|matey|aye|ye)\b" "$T/out"' "a pirate word (arr, ahoy, matey, aye, ye)"
check '! grep -qiE "please, answer|pirate-speak" "$T/out"' "the question is not echoed"
check '! grep -qE "\[END|<start_of_turn>|<end_of_turn>|^user$" "$T/out"' "no stop string or chat markup shown"
check '[ $(grep -c . "$T/out") -le 3 ]' "at most 3 lines"
exit $fail
