/* markdown.c: markdown-lite block and inline parsing (see markdown.h). */
#include "render/markdown.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

typedef struct runs {
    wrap_run *v;    // [n]
    size_t n, cap;
    int oom;
} runs;

static void push(runs *r, const char *s, size_t n, int style)
{
    if (n == 0) return;
    if (r->n > 0) {
        wrap_run *last = &r->v[r->n - 1];
        if (last->style == style && last->s + last->n == s) { last->n += n; return; }
    }
    if (GC_GROW(r->v, r->cap, r->n + 1)) {
        r->oom = 1;
        return;
    }
    r->v[r->n++] = (wrap_run){ s, n, style };
}

static int is_alnum(char c) { return isalnum((unsigned char)c) || (unsigned char)c >= 0x80; }
static int is_space(char c) { return c == ' ' || c == '\t'; }

/* Index of the run of exactly `tick` backticks that closes a code span whose
 * content starts at s[from], or -1. */
static long tick_close(const char *s, size_t n, size_t from, size_t tick)
{
    size_t e = from;
    while (e < n) {
        if (s[e] != '`') { e++; continue; }
        size_t f = e;
        while (f < n && s[f] == '`') f++;
        if (f - e == tick) return (long)e;
        e = f;
    }
    return -1;
}

/* Finds the closing delimiter (k copies of ch) of an emphasis whose content
 * starts at s[from]: the content is not empty, the closer follows a
 * non-space, and a '_' closer must not sit inside a word. Inside a longer run
 * of ch the closer is the run's end, so "***x***" nests as bold(italic(x)).
 * Code spans are skipped: emphasis does not close inside them.
 * Returns the closer's index or -1. */
static long find_closer(const char *s, size_t n, size_t from, char ch, size_t k)
{
    for (size_t j = from + 1; j + k <= n; j++) {
        if (s[j] == '`') {
            size_t b = j;
            while (b < n && s[b] == '`') b++;
            long c = tick_close(s, n, b, b - j);
            j = c >= 0 ? (size_t)c + (b - j) - 1 : b - 1;
            continue;
        }
        if (s[j] == '\\') { j++; continue; }
        if (s[j] != ch) continue;
        size_t e = j;
        while (e < n && s[e] == ch) e++;
        size_t c = e - k;           // the last k of the run
        if (e - j < k || is_space(s[c - 1]) || (ch == '_' && e < n && is_alnum(s[e]))) {
            j = e - 1;
            continue;
        }
        return (long)c;
    }
    return -1;
}

/* Inline markup of s[0..n) into styled runs (style bits OR'd onto base). */
static void parse_inline(runs *out, const char *s, size_t n, int base, int depth)
{
    size_t i = 0, lit = 0;
    while (i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && ispunct((unsigned char)s[i + 1])) {
            push(out, s + lit, i - lit, base);
            push(out, s + i + 1, 1, base);
            i += 2;
            lit = i;
            continue;
        }
        if (c == '`') {
            size_t k = i;
            while (k < n && s[k] == '`') k++;
            size_t tick = k - i;
            long close = tick_close(s, n, k, tick);
            if (close < 0) { i = k; continue; }
            const char *cs = s + k;
            size_t cn = (size_t)close - k;
            if (cn >= 2 && cs[0] == ' ' && cs[cn - 1] == ' ') { cs++; cn -= 2; }
            push(out, s + lit, i - lit, base);
            push(out, cs, cn, base | MD_CODE);
            i = (size_t)close + tick;
            lit = i;
            continue;
        }
        if ((c == '*' || c == '_') && depth < 4) {
            size_t e = i;
            while (e < n && s[e] == c) e++;
            size_t k = e - i >= 2 ? 2 : 1, from = i + k;
            int left_ok = c == '*' || i == 0 || !is_alnum(s[i - 1]);
            long close = -1;
            if (left_ok && from < n && !is_space(s[from])) close = find_closer(s, n, from, c, k);
            if (close >= 0) {
                push(out, s + lit, i - lit, base);
                parse_inline(out, s + from, (size_t)close - from, base | (k == 2 ? MD_BOLD : MD_ITALIC), depth + 1);
                i = (size_t)close + k;
                lit = i;
            } else {
                i = e;
            }
            continue;
        }
        i++;

    }
    push(out, s + lit, i - lit, base);
}

typedef struct line { const char *s; size_t n; } line;

static size_t lead_spaces(line l)
{
    size_t k = 0;
    while (k < l.n && l.s[k] == ' ') k++;
    return k;
}

static int is_blank(line l)
{
    for (size_t i = 0; i < l.n; i++)
        if (!is_space(l.s[i])) return 0;
    return 1;
}

/* A fence opener/closer: up to 3 spaces, then 3+ backticks or tildes. Sets
 * *ch and *len; returns the offset just past the fence, or 0 if none. */
static size_t fence_at(line l, char *ch, size_t *len)
{
    size_t k = lead_spaces(l);
    if (k > 3 || k >= l.n || (l.s[k] != '`' && l.s[k] != '~')) return 0;
    size_t e = k;
    while (e < l.n && l.s[e] == l.s[k]) e++;
    if (e - k < 3) return 0;
    *ch = l.s[k];
    *len = e - k;
    return e;
}

static int is_rule(line l)
{
    size_t k = lead_spaces(l);
    if (k > 3 || k >= l.n) return 0;
    char c = l.s[k];
    if (c != '-' && c != '*' && c != '_') return 0;
    int count = 0;
    for (size_t i = k; i < l.n; i++) {
        if (l.s[i] == c) count++;
        else if (!is_space(l.s[i])) return 0;
    }
    return count >= 3;
}

typedef struct md {
    wrap_text *out;
    int width;
    runs r;
} md;

static int para(md *m, int style_first, const char *first, size_t first_n,
                const char *rest, size_t rest_n, int hard, int fill)
{
    wrap_para p = {
        .runs = m->r.v, .nruns = m->r.n,
        .first = { first, first_n, style_first },
        .rest = { rest, rest_n, style_first },
        .width = m->width, .hard = hard, .fill = fill,
    };
    return wrap_para_layout(&p, m->out) < 0 || m->r.oom ? -1 : 0;
}

static void rule_row(md *m, const char *text, size_t n, int cols_text, int fill, int style, int full)
{
    wrap_row_begin(m->out, fill);
    wrap_emit(m->out, text, n, cols_text, style);
    if (full) {
        for (int c = cols_text; c < m->width; c++) wrap_emit(m->out, "\xE2\x94\x80", 3, 1, style);
    }
    wrap_row_end(m->out);
}

/* One line outside a code block. */
static int block_line(md *m, line l)
{
    size_t k = lead_spaces(l);
    const char *s = l.s;
    size_t n = l.n;
    m->r.n = 0;

    /* heading */
    if (k <= 3 && k < n && s[k] == '#') {
        size_t h = k;
        while (h < n && s[h] == '#') h++;
        if (h - k <= 6 && (h == n || is_space(s[h]))) {
            size_t a = h, b = n;
            while (a < b && is_space(s[a])) a++;
            while (b > a && is_space(s[b - 1])) b--;
            size_t t = b;           // a closing "###" counts only after a space: "C#" keeps its '#'
            while (t > a && s[t - 1] == '#') t--;
            if (t < b && (t == a || is_space(s[t - 1]))) {
                b = t;
                while (b > a && is_space(s[b - 1])) b--;
            }
            parse_inline(&m->r, s + a, b - a, MD_HEADING, 0);
            return para(m, MD_HEADING, NULL, 0, NULL, 0, 0, 0);
        }
    }
    if (is_rule(l)) {
        rule_row(m, "", 0, 0, 0, MD_RULE, 1);
        return m->out->oom ? -1 : 0;
    }
    /* quote */
    if (k <= 3 && k < n && s[k] == '>') {
        size_t a = k + 1;
        if (a < n && s[a] == ' ') a++;
        parse_inline(&m->r, s + a, n - a, MD_QUOTE, 0);
        return para(m, MD_QUOTE, "\xE2\x94\x82 ", 4, "\xE2\x94\x82 ", 4, 0, 0);
    }
    /* list items: indentation beyond a third of the width is capped so that
     * deeply nested items still have room for text */
    size_t ind = k;
    size_t cap = (size_t)(m->width / 3);
    if (ind > cap) ind = cap;
    if (ind > 24) ind = 24;     // the marker buffers below hold 64 bytes
    if (k + 1 < n && (s[k] == '-' || s[k] == '*' || s[k] == '+') && is_space(s[k + 1])) {
        char first[64], rest[64];
        const char *bullet = k >= 2 ? "\xE2\x97\xA6 " : "\xE2\x80\xA2 ";   // ◦ nested, • top
        size_t fn = 0;
        memset(first, ' ', ind); fn = ind;
        memcpy(first + fn, bullet, 4); fn += 4;
        memset(rest, ' ', ind + 2);
        size_t a = k + 2;
        while (a < n && is_space(s[a])) a++;
        parse_inline(&m->r, s + a, n - a, 0, 0);
        return para(m, MD_MARKER, first, fn, rest, ind + 2, 0, 0);
    }
    size_t d = k;
    while (d < n && d - k < 9 && isdigit((unsigned char)s[d])) d++;
    if (d > k && d + 1 < n && (s[d] == '.' || s[d] == ')') && is_space(s[d + 1])) {
        char first[64], rest[64];
        size_t num = d + 1 - k;     // "12." is num bytes
        memset(first, ' ', ind);
        memcpy(first + ind, s + k, num);
        first[ind + num] = ' ';
        memset(rest, ' ', ind + num + 1);
        size_t a = d + 2;
        while (a < n && is_space(s[a])) a++;
        parse_inline(&m->r, s + a, n - a, 0, 0);
        return para(m, MD_MARKER, first, ind + num + 1, rest, ind + num + 1, 0, 0);
    }
    parse_inline(&m->r, s, n, 0, 0);
    return para(m, 0, NULL, 0, NULL, 0, 0, 0);
}

int md_layout(const char *text, size_t n, int width, wrap_text *out)
{
    size_t rows0 = out->nrows;
    md m = { .out = out, .width = width < 1 ? 1 : width };
    /* Lines, with blank lines trimmed at both ends. */
    size_t a = 0, b = n;
    for (;;) {      // drop leading blank lines
        size_t e = a;
        while (e < b && text[e] != '\n') e++;
        if (e >= b || !is_blank((line){ text + a, e - a })) break;
        a = e + 1;
    }
    while (b > a) {     // drop trailing blank lines (and the final newline)
        size_t s = b;
        while (s > a && text[s - 1] != '\n') s--;
        if (!is_blank((line){ text + s, b - s })) break;
        b = s > a ? s - 1 : a;
    }

    int in_code = 0, prev_blank = 0;
    char fch = 0;
    size_t flen = 0;
    size_t i = a;
    int rc = 0;
    while (i < b && rc == 0) {
        size_t e = i;
        while (e < b && text[e] != '\n') e++;
        line l = { text + i, e - i };
        i = e + 1;
        char ch;
        size_t len, past;
        if (in_code) {
            past = fence_at(l, &ch, &len);
            if (past && ch == fch && len >= flen && is_blank((line){ l.s + past, l.n - past })) {
                rule_row(&m, "\xE2\x94\x94\xE2\x94\x80", 6, 2, MD_CODEBLOCK, MD_FENCE, 0);   // └─
                in_code = 0;
                prev_blank = 0;
                continue;
            }
            m.r.n = 0;
            push(&m.r, l.s, l.n, MD_CODEBLOCK);
            rc = para(&m, MD_FENCE, "\xE2\x94\x82 ", 4, "\xE2\x94\x82 ", 4, 1, MD_CODEBLOCK);
            continue;
        }
        if ((past = fence_at(l, &ch, &len)) != 0) {
            /* ┌─ followed by the language tag, if any */
            size_t ia = past, ib = l.n;
            while (ia < ib && is_space(l.s[ia])) ia++;
            while (ib > ia && is_space(l.s[ib - 1])) ib--;
            char head[96];
            size_t hn = 0;
            memcpy(head, "\xE2\x94\x8C\xE2\x94\x80", 6); hn = 6;    // ┌─
            int cols = 2;
            if (ib > ia) {
                char tag[64];
                int tc = wrap_fit(l.s + ia, ib - ia, m.width > 8 ? m.width - 4 : 4, tag, sizeof tag);
                size_t tn = strlen(tag);
                head[hn++] = ' ';
                memcpy(head + hn, tag, tn); hn += tn;
                cols += 1 + tc;
            }
            rule_row(&m, head, hn, cols, MD_CODEBLOCK, MD_FENCE, 0);
            in_code = 1;
            fch = ch;
            flen = len;
            prev_blank = 0;
            continue;
        }
        if (is_blank(l)) {
            if (prev_blank) continue;
            prev_blank = 1;
            wrap_row_begin(out, 0);
            wrap_row_end(out);
            continue;
        }
        prev_blank = 0;
        rc = block_line(&m, l);
    }
    free(m.r.v);
    if (rc || out->oom) return -1;
    return (int)(out->nrows - rows0);
}
