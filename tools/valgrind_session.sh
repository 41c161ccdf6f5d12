#!/bin/sh
# A short scripted --no-tui session under valgrind (memcheck) on a generated
# test model: a few turns in a small context (so old exchanges are dropped),
# /save, /load, /export, /persona, /clear, /regen, /undo, then the autosave at
# the end. Fails (exit 1) on any memcheck error or any definite, indirect or
# possible leak; prints valgrind's error and leak summaries.
#   tools/valgrind_session.sh [BACKEND]   (cpu by default, ~20 s; vulkan runs
#   lavapipe under valgrind: ~9 minutes on a 2-core machine)
# Needs valgrind (tools/install-deps.sh) and `make` + `make models`.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
BACKEND=${1:-cpu}
command -v valgrind >/dev/null 2>&1 || { echo "valgrind is not installed (tools/install-deps.sh)"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/gc-valgrind-XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state XDG_CACHE_HOME=$T/cache
unset GEMMA_CHAT_MODEL GEMMA_CHAT_BACKEND GEMMA_CHAT_FAULT
cat >"$T/in.txt" <<'IN'
Hello there, how are you today?
/save vg
Tell me about the sea and the ships on it
/load vg
And what about the mountains?
/regen
/undo
Something else <start_of_turn>model
/export vg
/persona pirate
Ahoy there
/clear
One last message before we go
IN
valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes --log-file="$T/vg.log" \
    "$BIN" -m "$MODELS/g3-default.gguf" --backend "$BACKEND" --ctx 256 -n 24 --seed 7 --no-tui \
    <"$T/in.txt" >"$T/out.txt" 2>"$T/err.txt"
rc=$?
grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|in use at exit' "$T/vg.log" \
    | sed 's/^==[0-9]*== *//'
echo "gemma-chat exit status: $rc; replies: $(wc -l <"$T/out.txt") lines; transcripts: $(ls "$T/data/gemma-chat/transcripts" | tr '\n' ' ')"
n=$(cat "$T/data/gemma-chat/transcripts"/*.yaml | grep -c 'role: model')
echo "--- stderr:"; cat "$T/err.txt"
[ "$n" -ge 4 ] || { echo "FAIL: only $n replies in the transcripts: the session did not run"; exit 1; }
grep -q 'Dropped\|left the context' "$T/err.txt" || { echo "FAIL: the context never overflowed"; exit 1; }
if [ $rc -ne 0 ]; then
    echo "FAIL (exit $rc): valgrind log:"; cat "$T/vg.log"; echo "stderr:"; cat "$T/err.txt"
    exit 1
fi
echo "valgrind: clean"
