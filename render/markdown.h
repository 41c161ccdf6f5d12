/* markdown.h: markdown-lite for model replies, laid out into styled rows.
 *
 * What is recognised, line by line (a reply is streamed, so each line stands
 * on its own and an unfinished last line simply lays out again when more text
 * arrives; markers that are not closed on their line stay literal):
 *   ```lang ... ```  (or ~~~)  fenced code, framed and set apart, never word-wrapped
 *   # .. ######               headings
 *   - * +  item               bullets (shown as "•", nested ones "◦"), hanging indent
 *   1. item   1) item         numbered items, hanging indent
 *   > quote                   block quote with a bar
 *   --- *** ___               horizontal rule
 *   **bold** __bold__  *italic* _italic_  `code` ``co`de``  \* (escape)
 * Blank lines at the start and end are dropped and runs of blank lines
 * collapse to one. Everything else is a paragraph per line.
 *
 * Input must already be sanitized (SANITIZE_MULTILINE): only '\n' and '\t'
 * may remain of the control characters.
 */
#ifndef GC_MARKDOWN_H
#define GC_MARKDOWN_H

#include <stddef.h>

#include "render/wrap.h"

/* Style bits of the spans md_layout produces (wrap_span.style). */
enum md_style {
    MD_BOLD = 1 << 0,
    MD_ITALIC = 1 << 1,
    MD_CODE = 1 << 2,       /* inline code */
    MD_CODEBLOCK = 1 << 3,  /* text of a fenced block; also the row fill of its rows */
    MD_FENCE = 1 << 4,      /* the frame of a fenced block and its language tag */
    MD_HEADING = 1 << 5,
    MD_MARKER = 1 << 6,     /* list bullets and numbers */
    MD_RULE = 1 << 7,       /* horizontal rule */
    MD_QUOTE = 1 << 8,      /* block quote, bar and text */
};

/* Lays out text[0..n) at `width` columns, appending rows to out. Returns the
 * rows added, or -1 when memory ran out. */
int md_layout(const char *text, size_t n, int width, wrap_text *out);

#endif
