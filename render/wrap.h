/* wrap.h: terminal display widths and word wrapping.
 *
 * Everything the screen shows is laid out here first, into a wrap_text: rows
 * of styled spans whose column widths are known exactly, so that the drawing
 * code never has to guess where a character lands. Widths come from the C
 * library's wcwidth() (the same table ncurses and the terminal use) when the
 * locale is UTF-8, and from a small built-in table otherwise.
 *
 * No curses here: the layout is plain data that tests can read back.
 */
#ifndef GC_WRAP_H
#define GC_WRAP_H

#include <stddef.h>
#include <stdint.h>

/* Re-detects whether wcwidth() can be trusted (call after setlocale). */
void wrap_init(void);

/* Display columns of one code point: 0 (combining marks, zero-width
 * characters), 1 or 2 (East Asian wide, emoji). Never negative: anything the
 * table calls unprintable counts 1, because sanitize shows it as one visible
 * symbol. */
int wrap_cp_width(uint32_t cp);

/* 0 when the width table calls cp unprintable (e.g. unassigned), so that its
 * width on the terminal would be a guess; 1 otherwise (and always 1 without a
 * Unicode-aware wcwidth). */
int wrap_cp_known(uint32_t cp);

/* 1 when cp has no width of its own and attaches to the character before it. */
int wrap_cp_is_zero_width(uint32_t cp);

/* Columns of the UTF-8 string s[0..n) (tabs count 1; callers expand tabs). */
int wrap_str_width(const char *s, size_t n);

/* Copies into out (cap bytes, NUL-terminated) the longest prefix of s[0..n)
 * that fits in max_cols columns, ending with an ellipsis when it was cut.
 * Never splits a character. Returns the columns used. */
int wrap_fit(const char *s, size_t n, int max_cols, char *out, size_t cap);

/* ---- laid-out text ---- */

/* One run of same-styled text on a row; off/len index wrap_text.buf. */
typedef struct wrap_span {
    uint32_t off, len;      // bytes of UTF-8 in wrap_text.buf
    uint16_t cols;          // display columns
    uint16_t style;         // caller-defined style bits (markdown styles)
} wrap_span;

/* One screen row: spans[span0 .. span0 + nspans). */
typedef struct wrap_row {
    uint32_t span0, nspans;
    uint16_t cols;          // display columns used by all its spans
    uint16_t fill;          // style painted across the whole row width (0: none)
} wrap_row;

typedef struct wrap_text {
    char *buf;          // [len] UTF-8 text of every span, back to back (not NUL-terminated)
    size_t len, cap;
    wrap_span *spans;   // [nspans]
    size_t nspans, span_cap;
    wrap_row *rows;     // [nrows]
    size_t nrows, row_cap;
    void *scratch;      // cluster table reused by wrap_para_layout
    size_t scratch_cap;
    int oom;            // an allocation failed: the layout is truncated
} wrap_text;

/* Empties t, keeping its memory. */
void wrap_text_reset(wrap_text *t);
/* Frees t's memory (t itself is caller-owned); safe on a zeroed or freed t. */
void wrap_text_free(wrap_text *t);

/* Builder used by wrap_para_layout and by markdown for rows it composes
 * itself (rules, code fences): start a row, add text, end it. Text must be
 * display-safe UTF-8 without tabs or newlines; cols is its width. */
void wrap_row_begin(wrap_text *t, int fill);
void wrap_emit(wrap_text *t, const char *s, size_t n, int cols, int style);
void wrap_row_end(wrap_text *t);

/* Copies row r's text (all spans) into out, NUL-terminated; returns its length. */
size_t wrap_row_text(const wrap_text *t, size_t r, char *out, size_t cap);

/* One styled piece of a paragraph. */
typedef struct wrap_run {
    const char *s;
    size_t n;
    int style;
} wrap_run;

/* A paragraph to wrap: text without newlines, split into styled runs. */
typedef struct wrap_para {
    const wrap_run *runs;
    int nruns;
    wrap_run first;     // drawn at the start of the first row (e.g. a bullet); may be empty
    wrap_run rest;      // drawn at the start of every later row (hanging indent); may be empty
    int width;          // columns of a whole row, prefixes included (>= 1)
    int hard;           // 1: break anywhere at the exact width (code); 0: between words
    int fill;           // wrap_row.fill for every row
} wrap_para;

/* Lays out one paragraph, appending one or more rows to out.
 *
 * Word mode breaks at spaces and tabs (dropping the whitespace at a break and
 * at the end of the paragraph; leading indentation is kept) and beside wide
 * characters, which CJK text needs because it has no spaces. A word longer
 * than a row is broken at the exact width. A wide character never straddles
 * the last column: it moves to the next row. Combining and zero-width
 * characters stay with the character before them. Tabs expand to the next
 * multiple of 8 columns. Returns the rows added, or -1 when memory ran out. */
int wrap_para_layout(const wrap_para *p, wrap_text *out);

/* Lays out plain text: every '\n' starts a paragraph, each wrapped in word
 * mode at `width` with one style. Returns the rows added, or -1 (no memory). */
int wrap_lines(const char *s, size_t n, int width, int style, wrap_text *out);

#endif
