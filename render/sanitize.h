/* sanitize.h: makes untrusted text (model output, file names, typed input)
 * safe to hand to the terminal.
 *
 * A model can emit any bytes, escape sequences included; sent raw they could
 * clear the screen, change colours, retitle the window or leave the alternate
 * screen. Sanitizing turns every control character into a visible stand-in
 * from Unicode's Control Pictures block (ESC -> U+241B "␛", so "\e[31m" reads
 * "␛[31m"), and every byte or code point the terminal might misread into
 * U+FFFD. The result is valid UTF-8 whose every character has a known width.
 *
 *   controls, DEL, C1, bidi     -> as base/utf8.h's utf8_visible says (ESC -> U+241B ...)
 *   tab, newline                -> kept with SANITIZE_MULTILINE, else a space / U+2424
 *   "\r\n"                      -> "\n" (SANITIZE_MULTILINE); a lone CR -> U+240D
 *   U+2028/U+2029               -> "\n" (SANITIZE_MULTILINE) or U+2424
 *   malformed UTF-8             -> U+FFFD per bad byte
 *   a combining mark with nothing to attach to (start of text or line)
 *                               -> preceded by U+25CC DOTTED CIRCLE
 */
#ifndef GC_SANITIZE_H
#define GC_SANITIZE_H

#include <stddef.h>

enum {
    SANITIZE_MULTILINE = 1, /* keep '\n' and '\t' for the layout; else shown as symbols/spaces */
    SANITIZE_PARTIAL = 2,   /* text is still streaming: drop an unfinished character at the end */
};

/* Writes the display-safe form of s[0..n) into out (cap bytes), never
 * splitting a character, always NUL-terminated when cap > 0. Returns the
 * bytes written (excluding the NUL). 3 * n + 1 bytes is always enough. */
size_t sanitize_buf(const char *s, size_t n, int flags, char *out, size_t cap);

/* Same, into a new malloc'd string; *out_n (may be NULL) gets its length.
 * Returns NULL when memory runs out. */
char *sanitize_dup(const char *s, size_t n, int flags, size_t *out_n);

#endif
