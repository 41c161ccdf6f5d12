#!/bin/sh
# gemma-chat -m MODEL -p TEXT: the greedy reply equals llama.cpp's (tests/data/engine/
# oneshot-*.txt, from tools/make_logit_goldens.sh), the same with the text on stdin,
# a fixed seed reproduces a sampled reply, and bad input gives clear errors.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
D=tests/data/engine
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The goldens are plain chats: no persona (the config's default is "assistant"),
# no user config, no autosave in the user's data directory.
export GEMMA_CHAT_PERSONA=none XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data
P="Tell me about the lighthouse."

for m in g2-default g2-win8 g3-default; do
    $BIN -m "$MODELS/$m.gguf" -p "$P" --temp 0 -n 32 --backend cpu > "$tmp/$m.txt" 2> "$tmp/err"; rc=$?
    check '[ $rc -eq 0 ]' "$m: exit $rc: $(cat "$tmp/err")"
    check 'cmp -s "$tmp/$m.txt" "$D/oneshot-$m.txt"' "$m: greedy reply differs from llama.cpp's"
done

# Text on stdin (not a terminal) instead of -p.
printf '%s' "$P" | $BIN -m "$MODELS/g2-default.gguf" --temp 0 -n 32 > "$tmp/stdin.txt"; rc=$?
check '[ $rc -eq 0 ] && cmp -s "$tmp/stdin.txt" "$D/oneshot-g2-default.txt"' "stdin prompt (rc $rc)"

# -n bounds the reply: 4 greedy tokens are a prefix of the 32-token reply.
$BIN -m "$MODELS/g2-default.gguf" -p "$P" --temp 0 -n 4 > "$tmp/n4.txt"
head -c "$(($(wc -c < "$tmp/n4.txt") - 1))" "$tmp/n4.txt" > "$tmp/n4.body"
check '[ -s "$tmp/n4.body" ] && [ "$(head -c "$(wc -c < "$tmp/n4.body")" "$D/oneshot-g2-default.txt")" = "$(cat "$tmp/n4.body")" ]' "-n 4 is not a prefix of the full reply"
check '[ "$(wc -c < "$tmp/n4.txt")" -lt "$(wc -c < "$D/oneshot-g2-default.txt")" ]' "-n 4 did not stop early"

# Kernels compile on first use: with no pipeline cache of this build (a fresh
# cache directory) the Vulkan backend says so and compiles them before the reply
# (the same reply); the next run does neither. Mesa's own shader cache stays the
# suite's, so this costs no cold compile.
export MESA_SHADER_CACHE_DIR=${MESA_SHADER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mesa_shader_cache}
for run in cold warm; do
    XDG_CACHE_HOME=$tmp/cache $BIN -m "$MODELS/g2-default.gguf" -p "$P" --temp 0 -n 32 --backend vulkan \
        > "$tmp/$run.txt" 2> "$tmp/$run.err"; rc=$?
    check '[ $rc -eq 0 ] && cmp -s "$tmp/$run.txt" "$D/oneshot-g2-default.txt"' "$run kernels: rc $rc, reply differs"
done
check 'grep -q "compiling the compute kernels for .* (first run of this version" "$tmp/cold.err"' "cold: no notice: $(cat "$tmp/cold.err")"
check '! grep -q "compiling" "$tmp/warm.err"' "warm: notice again: $(cat "$tmp/warm.err")"
check 'ls "$tmp"/cache/gemma-chat/pipelines-*.bin > /dev/null' "no pipeline cache written"

# Sampling: the same seed gives the same reply, another seed another one.
s1=$($BIN -m "$MODELS/g2-default.gguf" -p "$P" --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 42 -n 24)
s2=$($BIN -m "$MODELS/g2-default.gguf" -p "$P" --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 42 -n 24)
s3=$($BIN -m "$MODELS/g2-default.gguf" -p "$P" --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 43 -n 24)
check '[ -n "$s1" ] && [ "$s1" = "$s2" ]' "seed 42 twice gave different replies"
check '[ "$s1" != "$s3" ]' "seeds 42 and 43 gave the same reply"

# Errors name what is wrong.
err=$($BIN -m "$tmp/none.gguf" -p hi 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 1 ] && echo "$err" | grep -q "none.gguf"' "missing model: rc $rc, '$err'"
err=$($BIN -m "$MODELS/g2-default.gguf" -p hi --temp abc 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ] && echo "$err" | grep -q -- "--temp"' "bad --temp: rc $rc, '$err'"
err=$($BIN -m "$MODELS/g2-default.gguf" -p "$P $P $P $P" --ctx 16 --persona none 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 1 ] && echo "$err" | grep -q "context"' "prompt longer than --ctx: rc $rc, '$err'"
# An unknown backend name is a usage error (exit 2, DESIGN.md), named in the message.
err=$($BIN -m "$MODELS/g2-default.gguf" -p hi --backend nope 2>&1 >/dev/null); rc=$?
check '[ $rc -eq 2 ] && echo "$err" | grep -q "nope"' "unknown backend: rc $rc, '$err'"
exit $fail
