#!/bin/sh
# A persona bigger than the context (issue 23, item 6), on a generated model
# whose small vocabulary makes the default persona's example exchanges long:
# the examples that do not fit are left out with a warning naming the persona,
# and messages are answered; when the instruction alone cannot fit, gemma-chat
# refuses at start (exit 2), naming the persona and the sizes.
. "$(dirname "$0")/chat_lib.sh"
chat_init pfit

# examples too big: left out, the message is answered
timeout 60 "$BIN" -m "$M" --backend cpu --persona assistant --ctx 256 -n 8 -p "Hello there how are you" \
    >"$T/a.out" 2>"$T/a.err"; rc=$?
[ $rc -eq 0 ] && [ -s "$T/a.out" ] && ok "--ctx 256: a 5-word message is answered" \
    || bad "--ctx 256: exit $rc, reply '$(cat "$T/a.out")': $(cat "$T/a.err")"
has "$(cat "$T/a.err")" "persona assistant:" && has "$(cat "$T/a.err")" "example exchanges fit the context of 256" \
    && ok "the left-out examples are named" || bad "no warning about the examples: $(cat "$T/a.err")"
# the same in a line-mode chat: two messages, no "message too long"
printf 'Hello there how are you\nAnd what now\n' | timeout 60 "$BIN" -m "$M" --backend cpu --persona assistant \
    --ctx 256 -n 8 --no-tui >"$T/b.out" 2>"$T/b.err"; rc=$?
[ $rc -eq 0 ] && ! grep -q "too long" "$T/b.err" && ok "--no-tui: both messages answered" \
    || bad "--no-tui: exit $rc: $(cat "$T/b.err")"

# the instruction alone does not fit: refused at start
timeout 60 "$BIN" -m "$M" --backend cpu --persona assistant --ctx 128 -n 8 -p "Hello there" >/dev/null 2>"$T/c.err"; rc=$?
[ $rc -eq 2 ] || bad "--ctx 128: exit $rc, want 2 ($(cat "$T/c.err"))"
has "$(cat "$T/c.err")" "persona 'assistant' does not fit the context" && has "$(cat "$T/c.err")" "context of 128 tokens" \
    && ok "--ctx 128: refused, naming the persona and the sizes" || bad "--ctx 128: $(cat "$T/c.err")"
exit $fail
