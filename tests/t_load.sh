#!/bin/sh
# Loading a transcript (issue 23, items 2 and 3), line mode on a generated
# model:
#  - /load and --load continue with the transcript's sampling settings and
#    seed (flags still win), and a new reply saves them, not the defaults;
#  - only viewing a transcript leaves its file byte-identical (no new model
#    name, seed or `updated`) and writes no other file; a transcript made
#    with another model gets a notice naming both.
. "$(dirname "$0")/chat_lib.sh"
chat_init load
G="-m $M --backend cpu -n 6 --persona none --no-tui"
mkdir -p "$TR"
cat >"$T/f.yaml" <<'EOF'
format: gemma-chat-transcript
version: 1
created: 2025-11-26T14:41:00Z
updated: 2025-11-26T14:41:00Z
model:
  name: Other Model
  arch: gemma3
  file: other.gguf
  size: 12
sampling:
  temperature: 0.2
  top_k: 7
  top_p: 0.95
  min_p: 0.0
  repeat_penalty: 1.0
  repeat_last_n: 64
  seed: 42
messages:
  - role: user
    text: hi
  - role: model
    text: hello
EOF
cp "$T/f.yaml" "$T/orig.yaml"
cp "$T/f.yaml" "$TR/f.yaml"

# --- --load: the saved settings and seed; viewing only changes nothing ---
printf '/set\n/quit\n' | timeout 60 "$BIN" $G --load "$T/f.yaml" >"$T/a.out" 2>"$T/a.err"; rc=$?
[ $rc -eq 0 ] || bad "--load: exit $rc ($(cat "$T/a.err"))"
has "$(cat "$T/a.err")" "temperature 0.2  top_k 7 " && has "$(cat "$T/a.err")" "seed 42 " \
    && ok "--load continues with temperature 0.2, top_k 7, seed 42" || bad "--load settings: $(cat "$T/a.err")"
cmp -s "$T/f.yaml" "$T/orig.yaml" && ok "--load and /quit leave the file byte-identical" \
    || bad "only viewing rewrote the transcript: $(diff "$T/orig.yaml" "$T/f.yaml")"
[ -z "$(ls "$TR" | grep -v '^f.yaml$')" ] || bad "only viewing wrote another file: $(ls "$TR")"
has "$(cat "$T/a.err")" "made with Other Model (other.gguf); new replies come from g3-default (g3-default.gguf)" \
    && ok "another model: a notice names both" || bad "no notice about the other model: $(cat "$T/a.err")"

# --- /load NAME: the same ---
printf '/load f\n/set\n/quit\n' | timeout 60 "$BIN" $G >"$T/b.out" 2>"$T/b.err"; rc=$?
[ $rc -eq 0 ] || bad "/load: exit $rc ($(cat "$T/b.err"))"
has "$(cat "$T/b.err")" "temperature 0.2  top_k 7 " && has "$(cat "$T/b.err")" "seed 42 " \
    && ok "/load continues with the saved settings" || bad "/load settings: $(cat "$T/b.err")"
cmp -s "$TR/f.yaml" "$T/orig.yaml" || bad "/load and /quit rewrote f.yaml"

# --- a flag beats the transcript; a new reply saves the settings in use ---
printf 'more\n/quit\n' | timeout 60 "$BIN" $G --top-k 9 --load "$T/f.yaml" >"$T/c.out" 2>"$T/c.err"; rc=$?
[ $rc -eq 0 ] || bad "--load + message: exit $rc ($(cat "$T/c.err"))"
cmp -s "$T/f.yaml" "$T/orig.yaml" || bad "autosave wrote over the loaded file, which the user named"
saved=$(sed -n 's/^Saved the conversation to //p' "$T/c.err")
[ -f "$saved" ] || bad "the continued conversation was not autosaved: $(cat "$T/c.err")"
grep -q '^  temperature: 0.2$' "$saved" && grep -q '^  top_k: 9$' "$saved" && grep -q '^  seed: 42$' "$saved" \
    && ok "the continued conversation keeps temperature 0.2 and seed 42, with --top-k 9" \
    || bad "saved sampling: $(sed -n '/^sampling:/,/^messages:/p' "$saved")"
grep -q '^  name: g3-default$' "$saved" && ok "a new reply records the model that made it" \
    || bad "model after a new reply: $(sed -n '/^model:/,/^persona:/p' "$saved")"
# --- /load with no name lists the saved conversations (issue 23, item 15) ---
printf '/load\n/quit\n' | timeout 60 "$BIN" $G >"$T/d.out" 2>"$T/d.err"; rc=$?
[ $rc -eq 0 ] || bad "/load alone: exit $rc ($(cat "$T/d.err"))"
line=$(grep '^  f ' "$T/d.err")
has "$line" "2025-11-2" && has "$line" "2 messages" && has "$line" "hi" \
    && ok "/load alone lists f: date, message count, first words" || bad "/load alone: $(cat "$T/d.err")"
has "$(cat "$T/d.err")" "Saved conversations in $TR" || bad "/load alone: no heading: $(cat "$T/d.err")"
grep -q "error" "$T/d.err" && bad "/load alone is an error: $(cat "$T/d.err")"
exit $fail
