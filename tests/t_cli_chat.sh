#!/bin/sh
# The chat's command line on a generated model (CPU backend): -p and stdin
# give the reply alone on stdout; --no-tui runs a scripted session with slash
# commands; a saved conversation loaded again gives the same next greedy
# reply; /copy emits OSC 52 whose payload is the reply; /system replaces the instruction for one conversation and is saved;
# SIGTERM autosaves a valid transcript and exits 143; transcript names
# with / or .. are refused; bad flags exit 2 naming the flag and value.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
M=$MODELS/g3-default.gguf
fail=0
bad() { echo "FAIL: $*"; fail=1; }
has() { case "$1" in *"$2"*) return 0;; esac; return 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/gc-clichat-XXXXXX")
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
unset GEMMA_CHAT_MODEL GEMMA_CHAT_BACKEND GEMMA_CHAT_DEVICE GEMMA_CHAT_CONTEXT GEMMA_CHAT_PERSONA GEMMA_CHAT_SEED
TR=$XDG_DATA_HOME/gemma-chat/transcripts
# No snapshots: each run reads its persona's examples itself.
printf 'show_stats: true\nsnapshots: { max_mib: 0 }\n' > "$T/stats.yaml"
G="-m $M --backend cpu --temp 0 -n 12"      # greedy: replies are reproducible

# --- -p: the reply alone on stdout, exit 0 ---
"$BIN" $G -p "Hello there" >"$T/p.out" 2>"$T/p.err"; rc=$?
[ $rc -eq 0 ] || bad "-p exit $rc: $(cat "$T/p.err")"
[ -s "$T/p.out" ] || bad "-p printed no reply"
grep -q "gemma-chat" "$T/p.out" && bad "-p: stdout holds more than the reply: $(cat "$T/p.out")"
"$BIN" $G -p "Hello there" >"$T/p2.out" 2>/dev/null
cmp -s "$T/p.out" "$T/p2.out" || bad "-p under greedy sampling is not reproducible"
[ -d "$TR" ] && [ -n "$(ls "$TR")" ] && bad "-p autosaved a transcript: $(ls "$TR")"

# --- stdin when it is not a terminal: the same reply ---
printf 'Hello there\n' | "$BIN" $G >"$T/s.out" 2>"$T/s.err"; rc=$?
[ $rc -eq 0 ] || bad "stdin mode exit $rc: $(cat "$T/s.err")"
cmp -s "$T/p.out" "$T/s.out" || bad "stdin mode reply differs from -p: '$(cat "$T/s.out")' vs '$(cat "$T/p.out")'"
printf '  \n' | "$BIN" $G >/dev/null 2>"$T/e.err"; rc=$?
[ $rc -eq 2 ] || bad "empty stdin: exit $rc, want 2"
has "$(cat "$T/e.err")" "no text on stdin" || bad "empty stdin message: $(cat "$T/e.err")"

# --- flag errors exit 2 and name the flag and the value ---
usage() {   # usage EXPECTED_TEXT ARGS...
    want=$1; shift
    err=$("$BIN" "$@" </dev/null 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] || bad "'$*': exit $rc, want 2 ($err)"
    has "$err" "$want" || bad "'$*': message '$err' lacks '$want'"
}
usage "--temp" -m "$M" --temp abc -p x
usage "'abc'" -m "$M" --temp abc -p x
usage "--top-p" -m "$M" --top-p 0 -p x
usage "--ctx" -m "$M" --ctx 5 -p x
usage "--backend" -m "$M" --backend metal -p x
usage "--seed" -m "$M" --seed -7 -p x
usage "--max-tokens" -m "$M" --max-tokens 0 -p x
usage "needs a value" -m "$M" --temp
usage "--bogus" -m "$M" --bogus
usage "stray" -m "$M" stray
usage "--persona nosuch" -m "$M" --persona nosuch -p x
# (a missing --load or -c file is a file that cannot be read: exit 1, tests/t_exit_codes.sh)
usage "-p: the text is empty" -m "$M" -p ""
# No model anywhere: a share directory without models/ (prompts only).
mkdir -p "$T/share/prompts"
err=$(GEMMA_CHAT_SHARE_DIR=$T/share "$BIN" --backend cpu -p hi 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || bad "no model: exit $rc, want 2"
has "$err" "pass -m" || bad "no model: message '$err'"
# Runtime errors exit 1 and name the file or the limit.
err=$("$BIN" -m "$T/missing.gguf" --backend cpu -p hi 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || bad "missing model file: exit $rc, want 1"
has "$err" "$T/missing.gguf" || bad "missing model file: message '$err'"
long=$(i=0; while [ $i -lt 60 ]; do printf 'many words here '; i=$((i+1)); done)
err=$("$BIN" $G --ctx 64 --persona none -p "$long" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || bad "message longer than the context: exit $rc, want 1"
has "$err" "message too long" || bad "too long: message '$err'"

# --- --no-tui: a scripted session with slash commands ---
cat > "$T/script1" <<'EOF'
/stats
What is a lighthouse?
/stats
/set temperature
/set bogus 3
/set top_k 0
Why is it tall?
/save first
/save ../evil
/save a/b
/load ../evil
/export talk.md
/persona
/persona none
Plain question.
/quit
EOF
"$BIN" $G --no-tui -c "$T/stats.yaml" <"$T/script1" >"$T/n1.out" 2>"$T/n1.err"; rc=$?
e=$(cat "$T/n1.err")
[ $rc -eq 0 ] || bad "--no-tui exit $rc: $e"
[ "$(grep -c '^\[prompt ' "$T/n1.err")" -eq 3 ] || bad "--no-tui: want 3 replies with stats in: $e"
echo "$e" | grep -Eq "^last reply \((end of turn|max_tokens reached)\): [0-9]+ tokens at" || bad "/stats output missing: $e"
# /stats before the first message: the persona's example exchanges, read at
# the start; after one reply: those and that turn's prompt.
p1=$(sed -n 's/^\[prompt \([0-9]*\) tokens.*/\1/p' "$T/n1.err" | head -1)
k0=$(echo "$e" | sed -n 's/.*prefilled \([0-9]*\) tokens this session.*/\1/p' | sed -n 1p)
k1=$(echo "$e" | sed -n 's/.*prefilled \([0-9]*\) tokens this session.*/\1/p' | sed -n 2p)
[ -n "$k0" ] && [ "$k0" -gt 0 ] || bad "/stats at the start: the persona's examples not read ($k0): $e"
[ -n "$k1" ] && [ "$k1" = $((k0 + p1)) ] || bad "/stats: want prefilled $k0 + $p1, got '$k1': $e"
has "$e" "/set temperature: which value" || bad "/set without value: $e"
has "$e" "unknown setting 'bogus'" || bad "/set bogus: $e"
has "$e" "top_k 0" || bad "/set top_k 0 not shown: $e"
has "$e" "Saved to $TR/first.yaml" || bad "/save first: $e"
[ -f "$TR/first.yaml" ] || bad "/save first wrote no file"
[ "$(grep -c '^  - id:' "$TR/first.yaml")" -eq 4 ] || bad "first.yaml should hold 4 messages"
has "$e" "'..'" || bad "/save ../evil not refused: $e"
[ -e "$XDG_DATA_HOME/gemma-chat/evil.yaml" ] && bad "/save ../evil wrote outside the transcripts dir"
has "$e" "'/'" || bad "/save a/b not refused: $e"
[ -e "$TR/a" ] && bad "/save a/b created a directory"
[ -f "$TR/talk.md" ] || bad "/export talk.md wrote nothing"
grep -q "What is a lighthouse" "$TR/talk.md" 2>/dev/null || bad "talk.md lacks the conversation"
has "$e" "pirate" || bad "/persona lists no personas: $e"
has "$e" "Persona: none (a new conversation)" || bad "/persona none: $e"
has "$e" "The previous conversation was saved to $TR/first.yaml" || bad "/persona did not autosave the old conversation: $e"
grep -q "gemma-chat\|error\|Saved" "$T/n1.out" && bad "--no-tui stdout holds more than replies"
# /persona started a new conversation: the exit autosave gives it a new file.
saved=$(echo "$e" | sed -n 's/^Saved the conversation to //p')
case "$saved" in "$TR/"*.yaml) [ "$saved" != "$TR/first.yaml" ] || bad "the new conversation overwrote first.yaml";;
    *) bad "autosave on /quit: $e";; esac
grep -q "Plain question" "$saved" 2>/dev/null || bad "the autosaved conversation lacks its message"
grep -q "Plain question" "$TR/first.yaml" && bad "first.yaml got the new conversation"

# --- save -> load -> the same next reply (greedy) ---
printf 'Who keeps it?\n/quit\n' | "$BIN" $G --no-tui --load "$TR/first.yaml" >"$T/n2.out" 2>"$T/n2.err"; rc=$?
[ $rc -eq 0 ] || bad "--load --no-tui exit $rc: $(cat "$T/n2.err")"
cp "$TR/first.yaml" "$T/first-copy.yaml"
printf 'What is a lighthouse?\nWhy is it tall?\nWho keeps it?\n' | "$BIN" $G --no-tui >"$T/n3.out" 2>"$T/n3.err"
tail -c "$(wc -c <"$T/n2.out")" "$T/n3.out" >"$T/n3.tail"
cmp -s "$T/n2.out" "$T/n3.tail" || bad "after --load, the next reply differs from the uninterrupted conversation's"
# /load NAME in a session, then -p continues a loaded transcript too.
printf '/load first\n/quit\n' | "$BIN" $G --no-tui >/dev/null 2>"$T/n4.err"
# (autosave never writes over a file the user named: --load's new exchange went to a file of its own)
has "$(cat "$T/n4.err")" "Loaded $TR/first.yaml (4 messages)" || bad "/load first: $(cat "$T/n4.err")"
"$BIN" $G --load "$T/first-copy.yaml" -p "Who keeps it?" >"$T/n5.out" 2>/dev/null || bad "--load with -p failed"

# --- /system: show, replace for this conversation (saved), the persona file untouched ---
printf 'What is a lighthouse?\n/system\n/system   You are a terse sailor.  \n/system\nWhy is it tall?\n/save sys\n/quit\n' |
    "$BIN" $G --no-tui -c "$T/stats.yaml" >/dev/null 2>"$T/sys.err"; rc=$?
e=$(cat "$T/sys.err")
[ $rc -eq 0 ] || bad "/system session exit $rc: $e"
has "$e" "Instruction for this conversation (persona assistant):
You are a helpful" || bad "/system does not show the persona's instruction: $e"
has "$e" "New instruction for this conversation (persona assistant):
You are a terse sailor." || bad "/system TEXT not confirmed: $e"
[ "$(grep -c '^You are a terse sailor\.$' "$T/sys.err")" -eq 2 ] || bad "/system after the change does not show it: $e"
[ "$(grep -c '^\[prompt ' "$T/sys.err")" -eq 2 ] || bad "/system: want 2 replies: $e"
grep -A2 '^persona:' "$TR/sys.yaml" | tr '\n' '|' | grep -q '^persona:|  name: assistant|  instruction: |-|$' ||
    bad "persona block of the saved transcript: $(grep -A3 '^persona:' "$TR/sys.yaml")"
grep -A3 '^persona:' "$TR/sys.yaml" | tail -1 | grep -qx '    You are a terse sailor\.' ||
    bad "saved instruction: $(grep -A3 '^persona:' "$TR/sys.yaml")"
printf '/system\n/quit\n' | "$BIN" $G --no-tui --load "$TR/sys.yaml" >/dev/null 2>"$T/sys2.err"
grep -qx 'You are a terse sailor\.' "$T/sys2.err" || bad "--load does not bring the replaced instruction: $(cat "$T/sys2.err")"
printf '/system\n/quit\n' | "$BIN" $G --no-tui >/dev/null 2>"$T/sys3.err"
grep -q '^You are a helpful' "$T/sys3.err" || bad "a new conversation lost the persona's instruction: $(cat "$T/sys3.err")"
printf 'Hi\n/system\n/quit\n' | "$BIN" $G --no-tui --persona none >/dev/null 2>"$T/sys4.err"
has "$(cat "$T/sys4.err")" "Instruction for this conversation (persona none): none" || bad "/system with no persona: $(cat "$T/sys4.err")"

# --- /copy: OSC 52 on stdout without a terminal (setsid: no /dev/tty); /copy PATH ---
if command -v setsid >/dev/null && command -v base64 >/dev/null; then
    printf 'Write code.\n/copy\n/copy 1\n/copy %s\n/quit\n' "$T/copied.txt" |
        setsid -w "$BIN" $G --no-tui >"$T/copy.out" 2>"$T/copy.err"; rc=$?
    e=$(cat "$T/copy.err")
    [ $rc -eq 0 ] || bad "/copy session exit $rc: $e"
    n=$(wc -c <"$T/copied.txt" 2>/dev/null)
    has "$e" "Copied the last reply (${n:-?} bytes, 1 line) to the clipboard (OSC 52)" || bad "/copy notice: $e"
    has "$e" "Copied the last reply (${n:-?} bytes, 1 line) to $T/copied.txt" || bad "/copy PATH notice: $e"
    has "$e" "/copy: the last reply has no code block" || bad "/copy 1 without a block: $e"
    tr -d '\n' <"$T/copy.out" | sed -n 's/.*\x1b\]52;c;\([A-Za-z0-9+\/=]*\)\x07.*/\1/p' | base64 -d >"$T/osc.txt" 2>/dev/null
    [ -s "$T/osc.txt" ] && cmp -s "$T/osc.txt" "$T/copied.txt" ||
        bad "the OSC 52 payload does not decode to the reply: '$(cat "$T/osc.txt")' vs '$(cat "$T/copied.txt")'"
else
    echo "SKIP: /copy in --no-tui (setsid or base64 missing)"
fi

# --- SIGTERM autosaves a valid transcript and exits 143 ---
rm -rf "$TR"
mkfifo "$T/in"
"$BIN" $G --no-tui -c "$T/stats.yaml" <"$T/in" >"$T/t.out" 2>"$T/t.err" &
pid=$!
exec 3>"$T/in"
echo "Tell me about ships." >&3
i=0
while [ $i -lt 200 ] && ! grep -q '^\[prompt ' "$T/t.err"; do sleep 0.05; i=$((i+1)); done
grep -q '^\[prompt ' "$T/t.err" || bad "no reply before SIGTERM: $(cat "$T/t.err")"
kill -TERM $pid
wait $pid; rc=$?
exec 3>&-
[ $rc -eq 143 ] || bad "SIGTERM: exit $rc, want 143"
f=$(ls "$TR"/*.yaml 2>/dev/null | head -n 1)
if [ -z "$f" ]; then
    bad "SIGTERM: no transcript autosaved ($(cat "$T/t.err"))"
else
    grep -q "Tell me about ships." "$f" || bad "autosaved transcript lacks the message"
    "$BIN" $G --load "$f" -p "And boats?" >/dev/null 2>"$T/l.err" || bad "autosaved transcript does not load: $(cat "$T/l.err")"
fi
ls -a "$TR" | grep -q '\.tmp' && bad "a temporary file was left in $TR"

exit $fail
