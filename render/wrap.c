/* wrap.c: display widths and the greedy word wrapper (see wrap.h). */
#include "render/wrap.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "base/utf8.h"

/* ---- widths ---- */

static int g_wcwidth_ok = -1;

void wrap_init(void)
{
    /* wcwidth() knows Unicode only in a UTF-8 locale; probe a wide ideograph
     * and a combining accent rather than trusting the locale's name. */
    g_wcwidth_ok = wcwidth(0x4E00) == 2 && wcwidth(0x0301) == 0 && wcwidth(L'a') == 1;
}

typedef struct { uint32_t lo, hi; } cp_range;

/* Fallback tables for a locale without Unicode widths: the common combining
 * blocks and the East Asian wide / emoji blocks. Approximate on purpose: the
 * terminal in such a locale cannot show these characters properly anyway. */
static const cp_range zero_ranges[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A}, {0x064B, 0x065F},
    {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
    {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF},
};
static const cp_range wide_ranges[] = {
    {0x1100, 0x115F}, {0x231A, 0x231B}, {0x2329, 0x232A}, {0x23E9, 0x23EC}, {0x2614, 0x2615},
    {0x2648, 0x2653}, {0x26A1, 0x26A1}, {0x26AA, 0x26AB}, {0x26BD, 0x26BE}, {0x2705, 0x2705},
    {0x270A, 0x270B}, {0x2728, 0x2728}, {0x274C, 0x274C}, {0x2753, 0x2757}, {0x2B1B, 0x2B1C},
    {0x2B50, 0x2B50}, {0x2B55, 0x2B55}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF},
    {0x4E00, 0x9FFF}, {0xA000, 0xA4CF}, {0xA960, 0xA97F}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
    {0xFE10, 0xFE19}, {0xFE30, 0xFE6F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x1F004, 0x1F004},
    {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF},
    {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static int in_ranges(uint32_t cp, const cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi) return 1;
    return 0;
}

int wrap_cp_width(uint32_t cp)
{
    if (g_wcwidth_ok < 0) wrap_init();
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) return 1;   // shown as one symbol by sanitize
    if (g_wcwidth_ok) {
        int w = wcwidth((wchar_t)cp);
        return w < 0 ? 1 : w > 2 ? 2 : w;
    }
    if (cp < 0x300) return 1;
    if (in_ranges(cp, zero_ranges, sizeof zero_ranges / sizeof *zero_ranges)) return 0;
    if (in_ranges(cp, wide_ranges, sizeof wide_ranges / sizeof *wide_ranges)) return 2;
    return 1;
}

int wrap_cp_known(uint32_t cp)
{
    if (g_wcwidth_ok < 0) wrap_init();
    return !g_wcwidth_ok || cp < 0xA0 || wcwidth((wchar_t)cp) >= 0;
}

int wrap_cp_is_zero_width(uint32_t cp)
{
    return wrap_cp_width(cp) == 0;
}

int wrap_str_width(const char *s, size_t n)
{
    int w = 0;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        i += utf8_decode_lossy(s + i, n - i, &cp);
        w += wrap_cp_width(cp);
    }
    return w;
}

int wrap_fit(const char *s, size_t n, int max_cols, char *out, size_t cap)
{
    if (cap == 0) return 0;
    out[0] = 0;
    if (max_cols <= 0) return 0;
    int total = wrap_str_width(s, n);
    int limit = total <= max_cols ? max_cols : max_cols - 1;   // room for the ellipsis
    size_t i = 0, keep = 0;
    int cols = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode_lossy(s + i, n - i, &cp);
        int w = wrap_cp_width(cp);
        if (cols + w > limit) break;
        cols += w;
        i += k;
        keep = i;
    }
    size_t room = cap - 1;
    if (total > max_cols) {
        if (keep + 3 > room) keep = room >= 3 ? room - 3 : 0;
        while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) keep--;   // whole characters only
        memcpy(out, s, keep);
        if (keep + 3 <= room) { memcpy(out + keep, "\xE2\x80\xA6", 3); keep += 3; cols = wrap_str_width(s, keep - 3) + 1; }
        else cols = wrap_str_width(s, keep);
    } else {
        if (keep > room) {
            keep = room;
            while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) keep--;
        }
        memcpy(out, s, keep);
        cols = wrap_str_width(s, keep);
    }
    out[keep] = 0;
    return cols;
}

/* ---- wrap_text builder ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

void wrap_text_reset(wrap_text *t)
{
    t->len = t->nspans = t->nrows = 0;
    t->oom = 0;
}

void wrap_text_free(wrap_text *t)
{
    if (!t) return;
    free(t->buf);
    free(t->spans);
    free(t->rows);
    free(t->scratch);
    memset(t, 0, sizeof *t);
}

void wrap_row_begin(wrap_text *t, int fill)
{
    if (grow((void **)&t->rows, &t->row_cap, t->nrows + 1, sizeof *t->rows)) { t->oom = 1; return; }
    wrap_row *r = &t->rows[t->nrows++];
    r->span0 = (uint32_t)t->nspans;
    r->nspans = 0;
    r->cols = 0;
    r->fill = (uint16_t)fill;
}

void wrap_emit(wrap_text *t, const char *s, size_t n, int cols, int style)
{
    if (n == 0 || t->nrows == 0) return;
    if (grow((void **)&t->buf, &t->cap, t->len + n, 1)) { t->oom = 1; return; }
    wrap_row *r = &t->rows[t->nrows - 1];
    wrap_span *last = r->nspans ? &t->spans[t->nspans - 1] : NULL;
    memcpy(t->buf + t->len, s, n);
    if (last && last->style == style && last->off + last->len == t->len) {
        last->len += (uint32_t)n;
        last->cols = (uint16_t)(last->cols + cols);
    } else {
        if (grow((void **)&t->spans, &t->span_cap, t->nspans + 1, sizeof *t->spans)) { t->oom = 1; return; }
        t->spans[t->nspans++] = (wrap_span){ (uint32_t)t->len, (uint32_t)n, (uint16_t)cols, (uint16_t)style };
        r->nspans++;
    }
    t->len += n;
    r->cols = (uint16_t)(r->cols + cols);
}

void wrap_row_end(wrap_text *t)
{
    (void)t;    // rows are complete as they are built; kept for symmetry with wrap_row_begin
}

size_t wrap_row_text(const wrap_text *t, size_t r, char *out, size_t cap)
{
    size_t k = 0;
    if (cap == 0) return 0;
    if (r < t->nrows) {
        const wrap_row *row = &t->rows[r];
        for (uint32_t i = 0; i < row->nspans; i++) {
            const wrap_span *sp = &t->spans[row->span0 + i];
            size_t m = sp->len < cap - 1 - k ? sp->len : cap - 1 - k;
            memcpy(out + k, t->buf + sp->off, m);
            k += m;
        }
    }
    out[k] = 0;
    return k;
}

/* ---- paragraph wrapping ---- */

enum { CL_TEXT, CL_SPACE, CL_TAB };

/* A cluster: one spacing character plus the zero-width ones that follow it
 * in the same run (a zero-width character that opens a run is a cluster of
 * its own with no columns, which never starts a row). */
typedef struct cluster {
    uint32_t run, off, len;
    uint8_t cols;
    uint8_t kind;
    uint8_t glue;       // ends with ZERO WIDTH JOINER: no break before the next cluster
} cluster;

typedef struct wrapper {
    const wrap_para *p;
    wrap_text *t;
    const cluster *cl;
    int avail;          // columns for text on every row (prefix excluded)
    int prefix;         // draw the prefixes (0 when the row is too narrow for them)
    int col;            // columns of text on the current row
    int wrapped;        // the current row was opened by a break
} wrapper;

static void emit_run_text(wrapper *w, const wrap_run *r)
{
    if (r->n) wrap_emit(w->t, r->s, r->n, wrap_str_width(r->s, r->n), r->style);
}

static void new_row(wrapper *w)
{
    wrap_row_begin(w->t, w->p->fill);
    if (w->prefix) emit_run_text(w, &w->p->rest);
    w->col = 0;
    w->wrapped = 1;
}

static int tab_cols(int col) { return 8 - col % 8; }

static void put_spaces(wrapper *w, int n, int style)
{
    static const char sp[] = "        ";
    while (n > 0) {
        int k = n > 8 ? 8 : n;
        wrap_emit(w->t, sp, (size_t)k, k, style);
        w->col += k;
        n -= k;
    }
}

/* Emits one cluster where it stands, opening a new row first when it does not fit. */
static void put_cluster(wrapper *w, const cluster *c)
{
    const wrap_run *r = &w->p->runs[c->run];
    if (c->kind == CL_TAB) {
        if (w->col >= w->avail) new_row(w);
        int k = tab_cols(w->col);
        if (w->col + k > w->avail) k = w->avail - w->col;
        put_spaces(w, k, r->style);
        return;
    }
    if (c->cols > 0 && w->col > 0 && w->col + c->cols > w->avail) new_row(w);
    wrap_emit(w->t, r->s + c->off, c->len, c->cols, r->style);
    w->col += c->cols;
}

/* Columns that whitespace clusters [a, b) take when placed at column col. */
static int space_cols(const cluster *cl, size_t a, size_t b, int col)
{
    int c0 = col;
    for (size_t i = a; i < b; i++) col += cl[i].kind == CL_TAB ? tab_cols(col) : cl[i].cols;
    return col - c0;
}

static int break_before(const cluster *cl, size_t j)
{
    if (cl[j].cols == 0 || cl[j - 1].glue) return 0;
    return cl[j].cols == 2 || cl[j - 1].cols == 2;
}

/* Splits the runs into clusters in w->t->scratch; returns the count or -1. */
static long make_clusters(const wrap_para *p, wrap_text *t)
{
    size_t n = 0;
    for (int r = 0; r < p->nruns; r++) {
        const char *s = p->runs[r].s;
        size_t len = p->runs[r].n, i = 0;
        while (i < len) {
            uint32_t cp;
            size_t k = utf8_decode_lossy(s + i, len - i, &cp);
            int wcols = cp == '\t' ? 0 : wrap_cp_width(cp);
            cluster *cl = t->scratch;
            if (wcols == 0 && cp != '\t' && n > 0 && cl[n - 1].run == (uint32_t)r) {
                cl[n - 1].len += (uint32_t)k;
                cl[n - 1].glue = cp == 0x200D;
            } else {
                if (grow(&t->scratch, &t->scratch_cap, n + 1, sizeof(cluster))) return -1;
                cl = t->scratch;
                cl[n].run = (uint32_t)r;
                cl[n].off = (uint32_t)i;
                cl[n].len = (uint32_t)k;
                cl[n].cols = (uint8_t)wcols;
                cl[n].kind = cp == ' ' ? CL_SPACE : cp == '\t' ? CL_TAB : CL_TEXT;
                cl[n].glue = cp == 0x200D;
                n++;
            }
            i += k;
        }
    }
    return (long)n;
}

int wrap_para_layout(const wrap_para *p, wrap_text *t)
{
    size_t rows0 = t->nrows;
    long nc = make_clusters(p, t);
    if (nc < 0) { t->oom = 1; return -1; }
    wrapper w = { .p = p, .t = t, .cl = t->scratch, .prefix = 1 };
    int width = p->width < 1 ? 1 : p->width;
    int pw = wrap_str_width(p->first.s, p->first.n), rw = wrap_str_width(p->rest.s, p->rest.n);
    w.avail = width - (pw > rw ? pw : rw);
    if (w.avail < 1) { w.avail = width; w.prefix = 0; }

    wrap_row_begin(t, p->fill);
    if (w.prefix) emit_run_text(&w, &p->first);
    const cluster *cl = w.cl;
    size_t n = (size_t)nc, i = 0;
    if (p->hard) {
        for (; i < n; i++) put_cluster(&w, &cl[i]);
    } else {
        size_t ws = 0;      // pending whitespace is [ws, i) when ws < i
        int have_ws = 0;
        while (i < n) {
            if (cl[i].kind != CL_TEXT) {
                ws = i;
                while (i < n && cl[i].kind != CL_TEXT) i++;
                have_ws = 1;
                continue;
            }
            size_t j = i + 1;
            while (j < n && cl[j].kind == CL_TEXT && !break_before(cl, j)) j++;
            int wcols = 0;
            for (size_t k = i; k < j; k++) wcols += cl[k].cols;
            /* Whitespace at the start of a row that a break opened is dropped;
             * at the start of the paragraph it is indentation and kept. */
            int drop_ws = w.wrapped && w.col == 0;
            int s = have_ws && !drop_ws ? space_cols(cl, ws, i, w.col) : 0;
            if (w.col + s + wcols <= w.avail) {
                if (s) for (size_t k = ws; k < i; k++) put_cluster(&w, &cl[k]);
            } else if (wcols <= w.avail) {
                new_row(&w);
            } else if (w.col > 0) {
                new_row(&w);        // a word longer than a row starts on a row of its own
            } else if (s && s < w.avail) {
                for (size_t k = ws; k < i; k++) put_cluster(&w, &cl[k]);
            }
            for (size_t k = i; k < j; k++) put_cluster(&w, &cl[k]);
            have_ws = 0;
            i = j;
        }
    }
    wrap_row_end(t);
    if (t->oom) return -1;
    return (int)(t->nrows - rows0);
}

int wrap_lines(const char *s, size_t n, int width, int style, wrap_text *out)
{
    int rows = 0;
    size_t i = 0;
    for (;;) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        wrap_run run = { s + i, e - i, style };
        wrap_para p = { .runs = &run, .nruns = 1, .width = width };
        int r = wrap_para_layout(&p, out);
        if (r < 0) return -1;
        rows += r;
        if (e >= n) break;
        i = e + 1;
    }
    return rows;
}
