#!/bin/sh
# The fit check before loading (app/fit.h), on the real Gemma 3 270M and the
# CPU backend, with GEMMA_CHAT_FAULT=mem:N as the host's memory: a model
# too big for the limit fails as a load error does (exit 1) naming each size;
# a context whose KV cache alone is too big gets a --ctx suggestion that then
# works; without --ctx the largest context that fits is taken. And bench's
# kv_mib with the ring and with the full cache.
set -u
. "$(dirname "$0")/real_model_lib.sh"
need_real_model "the fit check on Gemma 3 270M"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GEMMA_CHAT_PERSONA=none XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data
M=$REAL_MODEL
run() {   # run LIMIT ARGS...: the one-shot reply of 2 tokens; rc and stderr in $rc, $tmp/err
    lim=$1; shift
    GEMMA_CHAT_FAULT=mem:$lim timeout 120 "$BIN" -m "$M" --backend cpu -p hi --temp 0 -n 2 "$@" \
        > "$tmp/out" 2> "$tmp/err"; rc=$?
}
has() { grep -q -- "$1" "$tmp/err"; }

run 100 --ctx 32768
if [ $rc -eq 1 ] && has "model needs [0-9]* MiB weights + [0-9]* MiB KV (ctx 32768) + [0-9]* MiB scratch; the host has 100 MiB" &&
   ! has "fits"; then echo "ok: too big for 100 MiB: exit 1, sizes named"
else echo "FAIL: 100 MiB: exit $rc: $(cat "$tmp/err")"; fail=1; fi

run 450 --ctx 32768
ctx=$(sed -n 's/.*; --ctx \([0-9]*\) fits.*/\1/p' "$tmp/err")
if [ $rc -eq 1 ] && [ -n "$ctx" ] && [ "$ctx" -gt 4096 ] && [ "$ctx" -lt 32768 ]; then
    echo "ok: KV too big for 450 MiB at 32768: --ctx $ctx suggested"
    run 450 --ctx "$ctx"
    if [ $rc -eq 0 ] && [ -s "$tmp/out" ]; then echo "ok: --ctx $ctx works"
    else echo "FAIL: the suggested --ctx $ctx: exit $rc: $(cat "$tmp/err")"; fail=1; fi
    run 450 --ctx "$((ctx + 64))"
    if [ $rc -eq 1 ] && has "; --ctx $ctx fits"; then echo "ok: 64 more does not fit"
    else echo "FAIL: --ctx $((ctx + 64)): exit $rc: $(cat "$tmp/err")"; fail=1; fi
else
    echo "FAIL: 450 MiB at 32768: exit $rc, no --ctx suggestion: $(cat "$tmp/err")"; fail=1
fi

# No --ctx: the largest that fits (the status of a one-shot run does not show
# it, so a limit too small for even 4096 tokens shows the floor instead).
run 450
if [ $rc -eq 0 ]; then echo "ok: no --ctx under 450 MiB runs"; else echo "FAIL: no --ctx: exit $rc: $(cat "$tmp/err")"; fail=1; fi
run 320
if [ $rc -eq 1 ] && has "(ctx 4096)"; then echo "ok: under 320 MiB the default context stops at 4096 and fails"
else echo "FAIL: 320 MiB without --ctx: exit $rc: $(cat "$tmp/err")"; fail=1; fi

# bench's kv_mib at --ctx 32768 (pp 4): 3 global layers of 32768 slots and 15
# sliding ones of 512 + 3 + 1024 (model/gemma.h), 2 KiB a slot (K and V, f32):
# 237.1 MiB; every layer the whole context (GEMMA_CHAT_FULL_KV=1): 1152.0.
for full in 0 1; do
    want=237.1; [ $full = 1 ] && want=1152.0
    line=$(GEMMA_CHAT_FULL_KV=$full timeout 120 "$BIN" bench -m "$M" --backend cpu --ctx 32768 --pp 4 --tg 1 --reps 1 2>"$tmp/err")
    case "$line" in
        *" ctx=32768 kv_mib=$want"*) echo "ok: bench --ctx 32768 (full $full): kv_mib=$want" ;;
        *) echo "FAIL: bench --ctx 32768 (full $full): want kv_mib=$want: $line $(cat "$tmp/err")"; fail=1 ;;
    esac
done
exit $fail
