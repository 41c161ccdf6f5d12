/* utf8.h: the one UTF-8 codec of gemma-chat.
 *
 * Valid means: no overlong forms, no surrogates, nothing above U+10FFFF, no
 * truncated sequences. The data-file readers (config, personas, transcripts)
 * refuse anything else (utf8_decode); the screen shows it as U+FFFD, one
 * replacement per bad byte (utf8_decode_lossy); streamed text holds back a
 * character still arriving (utf8_partial_tail). */
#ifndef GC_BASE_UTF8_H
#define GC_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from s[0..n). Returns its length in bytes (1..4) and
 * stores it in *cp, or returns 0 for an invalid or truncated sequence. */
int utf8_decode(const char *s, size_t n, uint32_t *cp);

/* The same for display: always consumes 1..4 bytes (0 only when n == 0);
 * an invalid or truncated sequence gives U+FFFD for its first byte. */
size_t utf8_decode_lossy(const char *s, size_t n, uint32_t *cp);

/* Bytes at the end of s[0..n) that begin a valid character whose remaining
 * bytes have not arrived yet (0..3); 0 when the tail is complete or could
 * never become valid (it is then shown, replaced, at once). */
size_t utf8_partial_tail(const char *s, size_t n);

/* The one rule for showing text that may hold terminal controls, so that
 * none is ever executed: what code point cp is shown as. C0 controls become
 * their Control Pictures (U+2400 + cp: ESC -> U+241B), DEL U+2421, C1
 * controls (U+0080..U+009F: U+009B is CSI to some terminals) and the bidi
 * overrides and isolates (U+202A..U+202E, U+2066..U+2069: they reorder what
 * follows) U+FFFD; anything else is itself. Callers keep '\n' and '\t'
 * where a layout needs them. */
uint32_t utf8_visible(uint32_t cp);

/* Encodes cp (a valid scalar value) into out; returns the length (1..4). */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Offset of the first invalid byte of s[0..n), or n when all is valid. */
size_t utf8_invalid_at(const char *s, size_t n);

#endif
