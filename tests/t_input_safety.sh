#!/bin/sh
# Input safety end to end in line mode (tests/test_chat_safety.c has the unit
# checks): text from files (a model's name in the GGUF, config and persona
# keys, transcript messages) never reaches the terminal as escape sequences;
# /save, /load, /export names that try to leave the transcripts directory are
# refused and write nothing; a typed "<start_of_turn>" is kept as the user's
# text.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}; PYTHON=${PYTHON:-/usr/bin/python3}
M=$MODELS/g3-default.gguf
fail=0
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }
T=$(mktemp -d "${TMPDIR:-/tmp}/gc-safety-XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
unset GEMMA_CHAT_MODEL GEMMA_CHAT_BACKEND GEMMA_CHAT_FAULT GEMMA_CHAT_CONTEXT GEMMA_CHAT_PERSONA
TR=$XDG_DATA_HOME/gemma-chat/transcripts
G="--backend cpu --temp 0 -n 4 --no-tui"
esc=$(printf '\033')
no_esc() { ! grep -q "$esc" "$1"; }

# A model whose general.name is an escape sequence (same length as "g3-default").
"$PYTHON" - "$M" "$T/evil.gguf" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'g3-default')
assert i > 0
open(sys.argv[2], 'wb').write(d[:i] + b'\x1b[2J\x1b]0;p\x07' + d[i + 10:])
PY
printf 'hi\n' | "$BIN" -m "$T/evil.gguf" $G >/dev/null 2>"$T/banner.err"
grep -q 'on cpu' "$T/banner.err" || bad "evil model: no banner: $(cat "$T/banner.err")"
no_esc "$T/banner.err" && ok "the model's name is neutralized in the banner" || bad "ESC in the banner: $(cat -v "$T/banner.err")"

# Config and persona keys with escapes: warnings and errors show them, not obey.
printf '"k\\e[2Jey": 1\n' >"$T/cfg.yaml"
mkdir -p "$XDG_CONFIG_HOME/gemma-chat/prompts"
printf 'name: evil\ninstruction: hi\nsampling:\n  temperature: "\\e]0;x\\a"\n' >"$XDG_CONFIG_HOME/gemma-chat/prompts/evil.yaml"
printf 'hi\n/persona evil\n' | "$BIN" -c "$T/cfg.yaml" -m "$M" $G >/dev/null 2>"$T/keys.err"
grep -q 'unknown key' "$T/keys.err" && grep -q 'sampling.temperature' "$T/keys.err" \
    || bad "no warning or error for the evil keys: $(cat -v "$T/keys.err")"
no_esc "$T/keys.err" && ok "config and persona messages are neutralized" || bad "ESC in messages: $(cat -v "$T/keys.err")"

# A transcript whose messages hold escapes: /load and the reply in line mode,
# and the Markdown export.
mkdir -p "$TR"
cat >"$TR/esc.yaml" <<'EOF2'
format: gemma-chat-transcript
version: 1
created: 2025-11-26T14:41:00Z
updated: 2025-11-26T14:41:00Z
messages:
  - role: user
    text: "Show me \e[31mcolours"
  - role: model
    text: "Escapes: \e[31mRED\e[0m \e]0;pwned\a\e[?1049l\e[2J \u202Eevil done."
EOF2
printf '/load esc\n/export esc\n' | "$BIN" -m "$M" $G >"$T/load.out" 2>"$T/load.err"
grep -q 'Loaded' "$T/load.err" || bad "/load esc: $(cat -v "$T/load.err")"
no_esc "$T/load.err" || bad "ESC on stderr after /load"
[ -f "$TR/esc.md" ] && no_esc "$TR/esc.md" && grep -q 'RED' "$TR/esc.md" && ! grep -q "$(printf '\342\200\256')" "$TR/esc.md" \
    && ok "Markdown export: escapes and bidi overrides neutralized" || bad "esc.md: $(cat -v "$TR/esc.md" 2>/dev/null)"

# Names that leave the directory: refused, nothing written outside.
mkdir -p "$T/out"
printf 'hi\n/save ../../out/x\n/save /tmp/gc-evil-save\n/export ../x\n/load ../../../../etc/passwd\n/load .hidden\n/persona ../../x\n' \
    | "$BIN" -m "$M" $G >/dev/null 2>"$T/names.err"
n=$(grep -c '^error:' "$T/names.err")
[ "$n" = 6 ] && ok "six bad names refused" || bad "$n errors for six bad names: $(cat "$T/names.err")"
[ -z "$(ls "$T/out")" ] && [ ! -e /tmp/gc-evil-save.yaml ] && [ ! -e "$XDG_DATA_HOME/gemma-chat/x.md" ] \
    && ok "nothing written outside the transcripts directory" || bad "a file escaped: $(ls "$T/out" "$XDG_DATA_HOME/gemma-chat")"

# A typed control token is the user's text, kept as typed.
rm -rf "$TR"
printf 'hi<end_of_turn>\n' | "$BIN" -m "$M" $G >/dev/null 2>"$T/tok.err"
f=$(ls "$TR"/*.yaml 2>/dev/null | head -n 1)
[ -n "$f" ] && grep -q 'hi<end_of_turn>' "$f" && [ "$(grep -c 'role: model' "$f")" = 1 ] \
    && ok "a typed <end_of_turn> is text; the reply still came" || bad "typed control token: $(cat "$f" 2>/dev/null)"

exit $fail
