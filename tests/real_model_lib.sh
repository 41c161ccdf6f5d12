# tests/real_model_lib.sh: sourced by the tests that use the real Gemma 3 270M
# ($REAL_MODEL, which `make test` installs with `make real-model`; CI always
# has it). Built on tests/skip_lib.sh:
#   need_real_model WHAT   the whole test needs the model: without it, skip
#                          (exit 77), or fail under CI=true
#   have_real_model WHAT   one part needs it: true when $REAL_MODEL is a file;
#                          otherwise a SKIP line for WHAT and false (under
#                          CI=true a FAIL line and fail=1)
. "$(dirname "$0")/skip_lib.sh"
real_model_reason() {
    echo "REAL_MODEL '${REAL_MODEL:-}' is not a file; make real-model installs models/gemma-3-270m-q4_k_m.gguf"
}
need_real_model() {
    [ -n "${REAL_MODEL:-}" ] && [ -f "$REAL_MODEL" ] && return 0
    skip "$1" "$(real_model_reason)" ci
}
have_real_model() {
    [ -n "${REAL_MODEL:-}" ] && [ -f "$REAL_MODEL" ] && return 0
    skip_part "$1" "$(real_model_reason)" ci
    return 1
}
