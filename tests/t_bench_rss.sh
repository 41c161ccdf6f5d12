#!/bin/sh
# bench's memory figures (issue 23, item 11): peak_rss_mib is never below
# rss_mib (it was in every run: the kernel's high-water mark lags). Tiny runs
# on generated models; the speeds are not looked at.
set -u
B=${B:-build}; BIN=${BIN:-./gemma-chat}; MODELS=${MODELS:-$B/models}
fail=0
for m in g2-hd g2-cap g2-win8 g3-default; do
    line=$(timeout 60 "$BIN" bench -m "$MODELS/$m.gguf" --backend cpu --pp 8 --tg 4 2>/dev/null | tail -n 1)
    rss=$(echo "$line" | sed -n 's/.* rss_mib=\([0-9.]*\) .*/\1/p')
    peak=$(echo "$line" | sed -n 's/.* peak_rss_mib=\([0-9.]*\) .*/\1/p')
    if [ -z "$rss" ] || [ -z "$peak" ]; then echo "FAIL: $m: no rss figures in '$line'"; fail=1; continue; fi
    if awk -v r="$rss" -v p="$peak" 'BEGIN { exit !(p + 0 >= r + 0) }'; then echo "ok: $m: peak $peak >= rss $rss"
    else echo "FAIL: $m: peak_rss_mib $peak is below rss_mib $rss"; fail=1; fi
done
exit $fail
