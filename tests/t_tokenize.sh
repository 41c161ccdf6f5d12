#!/bin/sh
# `gemma-chat tokenize`: the ids of a file and of stdin equal llama.cpp's
# (committed goldens, test vocab), empty input gives an empty line, and bad
# usage / bad files fail with the right exit code and a message naming the fault.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
M=$MODELS/g2-default.gguf
C=tests/data/tok/corpus; G=tests/data/tok/golden
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for f in english.txt spaces.txt markers.txt invalid-utf8.bin; do
    out=$("$BIN" tokenize -m "$M" --file "$C/$f") || bad "tokenize --file $f exited $?"
    [ "$out" = "$(cat "$G/$f.test.ids")" ] || bad "tokenize --file $f differs from $G/$f.test.ids"
done
out=$("$BIN" tokenize -m "$M" < "$C/emoji.txt") || bad "tokenize from stdin exited $?"
[ "$out" = "$(cat "$G/emoji.txt.test.ids")" ] || bad "tokenize from stdin differs from the golden"
out=$(printf '' | "$BIN" tokenize -m "$M"); rc=$?
[ $rc -eq 0 ] && [ -z "$out" ] || bad "empty input: rc $rc, output '$out'"
out=$(printf 'a' | "$BIN" tokenize -m "$M" | wc -w)
[ "$out" -eq 1 ] || bad "one character gave $out ids"

err=$("$BIN" tokenize 2>&1 </dev/null); rc=$?
[ $rc -eq 2 ] || bad "no -m: exit $rc, want 2"
case "$err" in *"-m MODEL"*) ;; *) bad "no -m: message '$err'";; esac
"$BIN" tokenize -m "$M" --bogus </dev/null >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "unknown flag: exit $rc, want 2"
err=$("$BIN" tokenize -m /nonexistent/model.gguf </dev/null 2>&1); rc=$?
[ $rc -eq 1 ] || bad "missing model: exit $rc, want 1"
case "$err" in *"/nonexistent/model.gguf"*) ;; *) bad "missing model: message '$err' does not name the file";; esac
err=$("$BIN" tokenize -m "$M" --file /nonexistent/text.txt 2>&1); rc=$?
[ $rc -eq 1 ] || bad "missing text file: exit $rc, want 1"
case "$err" in *"/nonexistent/text.txt"*) ;; *) bad "missing text file: message '$err'";; esac
err=$("$BIN" tokenize -m "$C/english.txt" </dev/null 2>&1); rc=$?
[ $rc -eq 1 ] || bad "a text file as model: exit $rc, want 1"
case "$err" in *english.txt*) ;; *) bad "a text file as model: message '$err'";; esac

[ $fail -eq 0 ] && echo "ok: tokenize CLI"
exit $fail
