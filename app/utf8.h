/* utf8.h: strict UTF-8 decoding for the data-file readers and writers
 * (config, personas, transcripts). Strict means: no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncated sequences. */
#ifndef GC_UTF8_H
#define GC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from s[0..n). Returns its length in bytes (1..4) and
 * stores it in *cp, or returns 0 for an invalid or truncated sequence. */
int utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Encodes cp (a valid scalar value) into out; returns the length (1..4). */
int utf8_encode(uint32_t cp, char out[4]);

/* Offset of the first invalid byte of s[0..n), or n when all is valid. */
size_t utf8_invalid_at(const char *s, size_t n);

#endif
