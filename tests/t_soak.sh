#!/bin/sh
# A short soak (tools/soak.py; tools/soak.sh runs the full 300 turns): 30
# --no-tui turns on a generated model in a 256-token context, so that old
# exchanges leave the context on most turns. No crash (exit 0), no error on
# any turn, the autosaved transcript holds every message in order (30 user
# messages, 30 replies). No persona: the shipped ones' example exchanges take
# more than 256 tokens in the test vocabulary.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}; PYTHON=${PYTHON:-/usr/bin/python3}
exec "$PYTHON" tools/soak.py --bin "$BIN" --model "$MODELS/g3-default.gguf" --backend cpu --turns 30 --ctx 256
