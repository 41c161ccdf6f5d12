# tests/chat_lib.sh: sourced by the chat's shell tests that run gemma-chat on
# a generated model: paths ($B, $BIN, $MODELS, $M = g3-default), ok/bad/has,
# and chat_init TAG, which makes a fresh $T (removed on exit), points the XDG
# directories into it and unsets the GEMMA_CHAT_* variables a user may have.
# A test ends with `exit $fail`.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
M=$MODELS/g3-default.gguf
fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }
has() { case "$1" in *"$2"*) return 0;; esac; return 1; }

chat_init() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/gc-$1-XXXXXX")
    trap 'rm -rf "$T"' EXIT
    export XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state XDG_CACHE_HOME=$T/cache
    TR=$XDG_DATA_HOME/gemma-chat/transcripts
    unset GEMMA_CHAT_MODEL GEMMA_CHAT_BACKEND GEMMA_CHAT_DEVICE GEMMA_CHAT_CONTEXT GEMMA_CHAT_PERSONA \
          GEMMA_CHAT_SEED GEMMA_CHAT_FAULT
}
