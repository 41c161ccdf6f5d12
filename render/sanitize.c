/* sanitize.c: control characters and escape sequences shown harmlessly (see sanitize.h). */
#include "render/sanitize.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/utf8.h"
#include "render/wrap.h"

/* Appends cp if it fits entirely; returns 0, or -1 when out is full. */
static int put(char *out, size_t cap, size_t *k, uint32_t cp)
{
    char tmp[4];
    size_t m = utf8_encode(cp, tmp);
    if (*k + m + 1 > cap) return -1;
    for (size_t i = 0; i < m; i++) out[(*k)++] = tmp[i];
    return 0;
}

size_t sanitize_buf(const char *s, size_t n, int flags, char *out, size_t cap)
{
    if (cap == 0) return 0;
    int multi = flags & SANITIZE_MULTILINE;
    if (flags & SANITIZE_PARTIAL) n -= utf8_partial_tail(s, n);
    size_t k = 0, i = 0;
    int line_start = 1;     // nothing yet on this line for a combining mark to attach to
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_decode_lossy(s + i, n - i, &cp);
        uint32_t o = cp;
        int newline = 0;
        if (cp == '\n' || cp == 0x2028 || cp == 0x2029) {
            if (multi) { o = '\n'; newline = 1; }
            else o = 0x2424;
        } else if (cp == '\r') {
            if (multi && i + 1 < n && s[i + 1] == '\n') { i += len; continue; }
            o = 0x240D;
        } else if (cp == '\t') {
            o = multi ? '\t' : ' ';
        } else if (utf8_visible(cp) != cp) {
            o = utf8_visible(cp);
        } else if (!wrap_cp_known(cp)) {
            o = 0xFFFD;     // unassigned in this locale's table: its width would be a guess
        } else if (line_start && wrap_cp_is_zero_width(cp) && cp != 0x200B) {
            if (put(out, cap, &k, 0x25CC)) break;   // an orphan mark gets a base to sit on
        }
        if (put(out, cap, &k, o)) break;
        line_start = newline;
        i += len;
    }
    out[k] = 0;
    return k;
}

char *sanitize_dup(const char *s, size_t n, int flags, size_t *out_n)
{
    size_t cap = 3 * n + 4;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t k = sanitize_buf(s, n, flags, out, cap);
    if (out_n) *out_n = k;
    return out;
}
