#!/bin/sh
# The real Gemma 3 270M Q4_K_M ($REAL_MODEL) against llama.cpp, for the chats of
# tests/data/real/ (tools/make_real_goldens.sh; the measures are defined in
# tools/real_goldens.py; figures in docs/real-model.md, "Agreement with llama.cpp"):
#  - fed llama.cpp's prompt + greedy reply ids (`logits --ids`), our logits on the
#    CPU and on the Vulkan backend have rel err <= 3e-2 in each chat (L2 over
#    llama.cpp's 16 highest ids of each position) against llama.cpp's Vulkan
#    backend, and against its CPU backend <= 3e-2 or, where larger, the distance
#    between llama.cpp's own two backends (captain: 3.4e-2); the same top-1 token at >= 98%
#    of the positions, over all chats, where llama.cpp's top two are not tied (within
#    1e-3 relative) and its own Vulkan backend has the same top-1 as its CPU one;
#  - our free-running greedy reply (-p, --temp 0, no persona, no penalty, 32 tokens
#    at most) is llama.cpp's reply text byte for byte (`oracle chat`), on Vulkan,
#    the default backend, and for one chat on the CPU backend too.
# Under the sanitizers (a debug build: ASan is 3-5x slower) only the logits of one
# chat on the CPU backend. Without the model: skipped (exit 77), except under CI=true, where
# it fails (CI has it: `make test` runs `make real-model`).
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
D=tests/data/real
. "$(dirname "$0")/real_model_lib.sh"
need_real_model "the real-model comparison with llama.cpp"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Plain chats: no persona (the config's default is "assistant"), no user config, no
# autosave in the user's data directory.
export GEMMA_CHAT_PERSONA=none XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data
# The pipeline cache (and Mesa's shader cache) go to the suite's cache
# directory (tests/run.sh), else to the build dir, never to ~/.cache.
export XDG_CACHE_HOME=${GC_TEST_CACHE:-$PWD/$B/test-cache}
export MESA_SHADER_CACHE_DIR=${MESA_SHADER_CACHE_DIR:-$XDG_CACHE_HOME/mesa_shader_cache}
MAX_REL=3e-2
MIN_TOP1=0.98
GREEDY="--persona none --temp 0 --top-k 0 --top-p 1 --min-p 0 --repeat-penalty 1 -n 32"

chats="pirate fact twoturn unicode captain"
greedy="fact captain"
backends="cpu vulkan"
case "$B $BIN" in *debug*) chats="fact"; backends="cpu";; esac

for be in $backends; do
    pairs=
    for n in $chats; do
        $PYTHON tools/real_goldens.py ids "$D/$n.json" > "$tmp/$n.ids"
        $BIN logits -m "$REAL_MODEL" --backend "$be" --ids --file "$tmp/$n.ids" --out "$tmp/$n.$be.bin" \
            2> "$tmp/err"; rc=$?
        check '[ $rc -eq 0 ]' "$n/$be: logits exit $rc: $(cat "$tmp/err")"
        [ $rc -eq 0 ] && pairs="$pairs $D/$n.json $tmp/$n.$be.bin"
    done
    # shellcheck disable=SC2086
    [ -n "$pairs" ] && { $PYTHON tools/real_goldens.py compare "$be" $MAX_REL $MIN_TOP1 $pairs || fail=1; }
    rm -f "$tmp"/*.bin
done
case "$B $BIN" in *debug*) exit $fail;; esac

# Free-running greedy replies. A chat of several turns continues a saved
# transcript of the earlier ones (--load), then -p gives the last user turn.
# Left out: chats where our reply parts from llama.cpp's at a near-tie
# (docs/real-model.md, "Agreement with llama.cpp"):
#   pirate   2nd reply token: "are" for "like"; in llama.cpp's own all-positions
#            logits "are" leads by 0.126 too (its one-token decode picked "like")
#   twoturn  10th reply token: gap 0.209, its Vulkan backend also picks ours
#   unicode  25th reply token: gap 0.132 (its Vulkan backend agrees with its CPU)
for n in $greedy; do
    mkdir -p "$tmp/$n"
    $PYTHON tools/real_goldens.py turns "$D/$n.json" "$tmp/$n"
    load=
    [ -f "$tmp/$n/history.yaml" ] && load="--load $tmp/$n/history.yaml"
    for be in vulkan $([ "$n" = fact ] && echo cpu); do
        # shellcheck disable=SC2086
        $BIN -m "$REAL_MODEL" --backend "$be" $GREEDY $load -p "$(cat "$tmp/$n/prompt.txt")" \
            > "$tmp/$n/$be.txt" 2> "$tmp/err"; rc=$?
        check '[ $rc -eq 0 ]' "$n/$be: greedy reply exit $rc: $(cat "$tmp/err")"
        if cmp -s "$tmp/$n/$be.txt" "$D/$n.reply.txt"; then
            echo "$n/$be: greedy reply = llama.cpp's: $(cat "$D/$n.reply.txt")"
        else
            echo "FAIL: $n/$be: greedy reply differs from llama.cpp's"
            echo "  ours:      $(cat "$tmp/$n/$be.txt")"
            echo "  llama.cpp: $(cat "$D/$n.reply.txt")"
            fail=1
        fi
    done
done
exit $fail
