#!/bin/sh
# One rule for the exit status (issue 23, items 9 and 10): a bad flag or value
# is 2; a file that cannot be read or parsed is 1. Input files that are not
# regular files (a FIFO, a directory) are refused before they are opened, so
# that nothing blocks: every run here has a short timeout.
. "$(dirname "$0")/chat_lib.sh"
chat_init exit
mkfifo "$T/fifo"
mkdir -p "$T/dir" "$XDG_CONFIG_HOME/gemma-chat/prompts"
printf 'sampling: [1\n' >"$T/broken.yaml"
printf 'name: broken\ninstruction: [\n' >"$XDG_CONFIG_HOME/gemma-chat/prompts/broken.yaml"
printf 'format: gemma-chat-transcript\n' >"$T/tr.yaml"

want() {   # want CODE TEXT ARGS...: exit CODE within 10 s, stderr containing TEXT
    code=$1; text=$2; shift 2
    err=$(timeout 10 "$BIN" "$@" </dev/null 2>&1 >/dev/null); rc=$?
    [ $rc -eq "$code" ] || bad "'$*': exit $rc, want $code ($err)"
    has "$err" "$text" || bad "'$*': message '$err' lacks '$text'"
    [ $rc -eq "$code" ] && has "$err" "$text" && echo "ok: exit $code: $*"
}
G="--backend cpu -p hi"
# bad flags and values: 2
want 2 "--temp" -m "$M" $G --temp -1
want 2 "--bogus" -m "$M" $G --bogus
want 2 "--persona nosuch" -m "$M" $G --persona nosuch
# files that cannot be read or parsed: 1
want 1 "/nonexistent" -m /nonexistent $G
want 1 "--load $T/none.yaml: no such file" -m "$M" $G --load "$T/none.yaml"
want 1 "-c $T/none.yaml: no such file" -c "$T/none.yaml" -m "$M" $G
want 1 "$T/broken.yaml" -c "$T/broken.yaml" -m "$M" $G
want 1 "$T/tr.yaml" -m "$M" $G --load "$T/tr.yaml"
want 1 "broken" -m "$M" $G --persona broken
# not regular files: refused before opening, at once
want 1 "FIFO" -m "$T/fifo" $G
want 1 "FIFO" -m "$M" $G --load "$T/fifo"
want 1 "FIFO" -c "$T/fifo" -m "$M" $G
want 1 "directory" -m "$T/dir" $G
printf 'model: %s\n' "$T/fifo" >"$T/cfgfifo.yaml"
want 1 "FIFO" -c "$T/cfgfifo.yaml" $G
err=$(timeout 10 "$BIN" tokenize -m "$M" --file "$T/fifo" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] && has "$err" "FIFO" && echo "ok: tokenize --file FIFO: exit 1" || bad "tokenize --file FIFO: exit $rc ($err)"
err=$(timeout 10 "$BIN" inspect "$T/fifo" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || bad "inspect FIFO: exit $rc ($err)"
exit $fail
