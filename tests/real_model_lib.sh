# tests/real_model_lib.sh: sourced by the tests that use the real Gemma 3 270M
# ($REAL_MODEL, which `make test` installs with `make real-model`).
# have_real_model WHAT: true when $REAL_MODEL is a file. Otherwise it says that
# WHAT is left out and returns false, except under CI=true, where the model is
# always installed and its absence fails the test (exit 1).
have_real_model() {
    [ -n "${REAL_MODEL:-}" ] && [ -f "$REAL_MODEL" ] && return 0
    if [ "${CI:-}" = true ]; then
        echo "FAIL: REAL_MODEL '${REAL_MODEL:-}' is not a file (make real-model puts it in models/)"
        exit 1
    fi
    echo "SKIP: REAL_MODEL is not set or not a file: $1 is left out (make real-model installs it)"
    return 1
}
