#!/bin/sh
# The conventions of a command-line tool (issue 23, item 18):
#  - `make install DESTDIR=... PREFIX=/usr` puts the man page gemma-chat(1)
#    and a bash completion file beside the binary, config and personas;
#  - the page renders without warnings (groff) and lists every flag of
#    --help, every subcommand and slash command;
#  - the completion completes --backend's values, flags and commands;
#  - `tokenize -m M TEXT` equals `tokenize --file`, and --pieces prints an
#    id and a piece per token.
. "$(dirname "$0")/chat_lib.sh"
chat_init install
M=$MODELS/g2-default.gguf
skip() { echo "SKIP: $1"; [ "${CI:-}" = true ] && exit 1; exit 77; }

# --- make install ---
if command -v make >/dev/null 2>&1 && [ -f Makefile ]; then
    make -s install B="$B" BIN="$BIN" DESTDIR="$T/root" PREFIX=/usr >"$T/make.out" 2>&1 || bad "make install: $(cat "$T/make.out")"
    MAN=$T/root/usr/share/man/man1/gemma-chat.1
    COMP=$T/root/usr/share/bash-completion/completions/gemma-chat
    [ -x "$T/root/usr/bin/gemma-chat" ] && [ -s "$MAN" ] && [ -s "$COMP" ] \
        && ok "make install puts the binary, gemma-chat.1 and the bash completion" \
        || bad "make install: $(cd "$T/root" && find . -type f)"
else
    skip "make install (no make or Makefile here)"
fi
[ -s "$MAN" ] || { "$BIN" --man >"$T/gemma-chat.1"; MAN=$T/gemma-chat.1; }
[ -s "$COMP" ] || { "$BIN" --bash-completion >"$T/comp"; COMP=$T/comp; }

# --- the page renders without warnings and names every flag ---
command -v groff >/dev/null 2>&1 || skip "man page rendering (no groff: tools/install-deps.sh installs groff-base)"
LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$MAN" 2>"$T/groff.err"
[ -s "$T/groff.err" ] && bad "groff warns: $(cat "$T/groff.err")" || ok "the man page renders without warnings"
if command -v man >/dev/null 2>&1; then
    MANWIDTH=120 LC_ALL=C.UTF-8 man -l "$MAN" 2>"$T/man.err" >"$T/page.txt"
    [ -s "$T/man.err" ] && bad "man -l: $(cat "$T/man.err")"
else
    LC_ALL=C.UTF-8 groff -man -Tutf8 -P-cbou "$MAN" >"$T/page.txt" 2>/dev/null
fi
"$BIN" --help | grep -oE -- '(^|[ ,])--?[a-z][a-z-]*' | tr -d ' ,' | sort -u >"$T/flags"
[ "$(wc -l <"$T/flags")" -gt 15 ] || bad "few flags in --help: $(cat "$T/flags")"
missing=""
for f in $(cat "$T/flags"); do grep -qE -- "(^|[ ,])$f([ ,]|$)" "$T/page.txt" || missing="$missing $f"; done
[ -z "$missing" ] && ok "the page lists every flag of --help ($(wc -l <"$T/flags"))" || bad "not in the man page:$missing"
missing=""
for c in inspect devices tokenize logits bench /help /save /load /export /persona /clear /regen /undo /set /stats /quit \
         GEMMA_CHAT_MODEL XDG_DATA_HOME; do
    grep -q -- "$c" "$T/page.txt" || missing="$missing $c"
done
[ -z "$missing" ] && ok "the page has the commands, slash commands, environment" || bad "not in the man page:$missing"
grep -q '^FILES' "$T/page.txt" && grep -q 'transcripts' "$T/page.txt" || bad "no FILES section with the transcripts"

# --- the bash completion ---
if command -v bash >/dev/null 2>&1; then
    got=$(bash -c '. "$1"; COMP_WORDS=(gemma-chat --backend ""); COMP_CWORD=2; _gemma_chat; echo "${COMPREPLY[*]}"' sh "$COMP")
    [ "$got" = "auto vulkan cpu ref" ] && ok "--backend completes to $got" || bad "--backend completes to '$got'"
    got=$(bash -c '. "$1"; COMP_WORDS=(gemma-chat --no-t); COMP_CWORD=1; _gemma_chat; echo "${COMPREPLY[*]}"' sh "$COMP")
    [ "$got" = "--no-tui" ] || bad "--no-t completes to '$got'"
    got=$(bash -c '. "$1"; COMP_WORDS=(gemma-chat tok); COMP_CWORD=1; _gemma_chat; echo "${COMPREPLY[*]}"' sh "$COMP")
    [ "$got" = "tokenize" ] || bad "tok completes to '$got'"
    bash -c '. "$1"; complete -p gemma-chat' sh "$COMP" >/dev/null 2>&1 || bad "the file does not register a completion"
else
    skip "bash completion (no bash)"
fi

# --- tokenize TEXT, --pieces ---
text="Hello world, it's a fine day: 3.14!"
printf '%s' "$text" >"$T/text"
a=$("$BIN" tokenize -m "$M" "$text") || bad "tokenize TEXT exited $?"
b=$("$BIN" tokenize -m "$M" --file "$T/text")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "tokenize TEXT = tokenize --file ($a)" || bad "tokenize TEXT '$a' vs --file '$b'"
c=$("$BIN" tokenize -m "$M" -- "-x")
d=$(printf '%s' "-x" | "$BIN" tokenize -m "$M")
[ -n "$c" ] && [ "$c" = "$d" ] || bad "tokenize -- -x: '$c' vs stdin '$d'"
"$BIN" tokenize -m "$M" --file "$T/text" "$text" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || bad "a text and --file: exit $rc, want 2"
"$BIN" tokenize -m "$M" --pieces "$text" >"$T/pieces" || bad "--pieces exited $?"
ids=$(cut -f1 "$T/pieces" | tr '\n' ' ' | sed 's/ $//')
[ "$ids" = "$a" ] && ok "--pieces: one line per token, the same ids" || bad "--pieces ids '$ids' vs '$a'"
awk -F'\t' 'NF != 2 || $1 !~ /^[0-9]+$/ || $2 == "" { exit 1 }' "$T/pieces" && ok "--pieces: id, tab, piece" \
    || bad "--pieces lines: $(cat "$T/pieces")"
# The pieces spell the text (SentencePiece's U+2581 for a space).
joined=$(cut -f2 "$T/pieces" | tr -d '\n' | sed 's/\xe2\x96\x81/ /g')
[ "$joined" = "$text" ] || [ "$joined" = " $text" ] && ok "the pieces spell the text" || bad "pieces spell '$joined'"
printf 'a\tb\nc' >"$T/ctl"
"$BIN" tokenize -m "$M" --pieces --file "$T/ctl" >"$T/pc" && [ "$(wc -l <"$T/pc")" -eq "$("$BIN" tokenize -m "$M" --file "$T/ctl" | wc -w)" ] \
    || bad "--pieces: a tab or newline in a piece broke the lines: $(cat "$T/pc")"
exit $fail
