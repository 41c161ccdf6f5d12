#!/bin/sh
# The full soak (not part of `make test`; tests/t_soak.sh is the short one):
# 300 --no-tui turns on a generated model in a 256-token context, on the CPU
# and the Vulkan backends. Prints the RSS at turns 50 and 300 and fails when
# it grew by more than MAX_GROWTH_KB (default 1024 KiB; the conversation
# itself is kept in memory: every message of the transcript) or on a crash,
# an error on any turn, or a transcript missing a message.
#   tools/soak.sh [TURNS]     (after `make` and `make models`)
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}; PYTHON=${PYTHON:-/usr/bin/python3}
TURNS=${1:-300}
rc=0
for be in cpu vulkan; do
    "$PYTHON" tools/soak.py --bin "$BIN" --model "$MODELS/g3-default.gguf" --backend $be --turns "$TURNS" \
        --ctx 256 --rss-turns "50,$TURNS" --max-growth-kb "${MAX_GROWTH_KB:-1024}" || rc=1
done
exit $rc
