/* ui.c: the chat screen: setup, the event loop and the frame (see ui.h).
 *
 * Every change (a key, a streamed token, a status update) only marks the
 * frame for redraw; the frame is then rebuilt whole into curses' buffer and
 * written once, and curses sends the terminal only the cells that differ.
 * Input handlers return what needs redrawing (REDRAW_FRAME, or REDRAW_FULL
 * when the terminal's contents can no longer be trusted: resize, Ctrl-L).
 */
#include "render/ui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/utf8.h"
#include "render/convo.h"
#include "render/ledit.h"
#include "render/markdown.h"
#include "render/sanitize.h"
#include "render/tty.h"
#include "render/wrap.h"

/* Key codes we ask curses to report for bracketed paste; well above the
 * codes curses hands out to terminfo's extended keys. */
#define KEY_PASTE_BEGIN (KEY_MAX + 400)
#define KEY_PASTE_END (KEY_MAX + 401)

enum { REDRAW_NONE = 0, REDRAW_FRAME = 1, REDRAW_FULL = 2 };

/* Columns: 1 margin + 2 gutter on the left, 1 margin on the right. */
#define LEFT 3
#define MIN_W 24
#define MIN_H 6
#define FRAME_MS 16         /* at most ~60 frames a second while streaming */
#define SPIN_MS 100

/* Bytes sent when we enable / disable bracketed paste. */
#define PASTE_ON "\033[?2004h"
#define PASTE_OFF "\033[?2004l"

typedef struct completion {
    char *command;
    char **words;   // [n]
    int n;
} completion;

typedef struct in_row { size_t a, b; } in_row;     // bytes of the input shown on one row

struct ui {
    SCREEN *scr;
    convo *cv;
    int colors;                     // colours in use (0: monochrome)
    int default_colors;             // the terminal has a default fg/bg (-1)
    theme_color th[THEME_SLOTS];
    short pair_fg[256], pair_bg[256];
    int npairs;
    int mouse;
    int catch_signals;
    unsigned redraw;
    long last_frame;

    char *st_model, *st_persona, *st_backend, *st_device;
    long ctx_used, ctx_total, ctx_window;
    double pp, tg;
    char *busy;
    long busy_since;
    char *notice;
    long notice_until;              // 0: until replaced
    char *listing;                  // completion candidates, until the next key
    char *prog_label;
    double prog;                    // < 0: no progress bar
    int ctrl_c_armed;               // Ctrl-C on an empty input: the next one quits

    size_t scroll;                  // rows scrolled back from the bottom
    size_t last_total;              // conversation rows at the last frame
    size_t top_msg;                 // message at the top of the pane at the last frame
    int reanchor;                   // the width changed: put top_msg back at the top
    int text_w, conv_h;
    in_row *in_rows;
    int in_cap, input_top;
    int help, help_scroll;
    int paste;                      // inside a bracketed paste
    int streaming;                  // a reply is arriving into message stream_msg
    size_t stream_msg;

    ui_command *cmds;
    int ncmds;
    const char **cmd_names;         // [ncmds] for completion
    completion *comps;
    int ncomps;
    char *line;                     // text of the last UI_EV_LINE
    char *placeholder;
};

static long now_ms(void) { return (long)(gc_now_s() * 1000.0); }

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = dup_or_null(s);
}

/* ---- colours ---- */

static short pair_for(ui *u, short fg, short bg)
{
    if (!u->colors || (fg < 0 && bg < 0)) return 0;
    if (!u->default_colors) {
        if (fg < 0) fg = COLOR_WHITE;
        if (bg < 0) bg = COLOR_BLACK;
    }
    for (int i = 0; i < u->npairs; i++)
        if (u->pair_fg[i] == fg && u->pair_bg[i] == bg) return (short)(i + 1);
    if (u->npairs >= 255 || u->npairs + 1 >= COLOR_PAIRS) return 0;
    init_pair((short)(u->npairs + 1), fg, bg);
    u->pair_fg[u->npairs] = fg;
    u->pair_bg[u->npairs] = bg;
    return (short)++u->npairs;
}

static void use_color(ui *u, theme_color c, unsigned extra)
{
    unsigned at = c.attrs | extra;
    attr_t a = A_NORMAL;
    if (at & THEME_BOLD) a |= A_BOLD;
    if (at & THEME_DIM) a |= A_DIM;
    if (at & THEME_ITALIC) a |= A_ITALIC;
    if (at & THEME_UNDERLINE) a |= A_UNDERLINE;
    if (at & THEME_REVERSE) a |= A_REVERSE;
    attr_set(a, pair_for(u, c.fg, c.bg), NULL);
}

static theme_color slot(ui *u, int s) { return u->th[s]; }

static theme_color with_attrs(theme_color c, unsigned attrs) { c.attrs |= attrs; return c; }

/* The colour of a span of a message: the role's colour, overridden by the
 * markdown style, on the code block background when the row is filled. */
static theme_color span_color(ui *u, convo_role role, int style, int fill)
{
    static const int role_slot[] = { THEME_USER, THEME_MODEL, THEME_NOTICE, THEME_ERROR };
    theme_color c = slot(u, role_slot[role]);
    if (style & CONVO_STYLE_NOTE) c = with_attrs(slot(u, THEME_NOTICE), THEME_ITALIC);
    else if (style & MD_CODEBLOCK) c = slot(u, THEME_CODEBLOCK);
    else if (style & (MD_FENCE | MD_RULE)) c = slot(u, THEME_NOTICE);
    else if (style & MD_CODE) c = slot(u, THEME_CODE);
    else if (style & MD_HEADING) c = slot(u, THEME_HEADING);
    else if (style & MD_MARKER) c = slot(u, THEME_ACCENT);
    else if (style & MD_QUOTE) c = with_attrs(slot(u, THEME_NOTICE), THEME_ITALIC);
    if (style & MD_BOLD) c.attrs |= THEME_BOLD;
    if (style & MD_ITALIC) c.attrs |= THEME_ITALIC;
    if (fill && c.bg < 0) c.bg = slot(u, THEME_CODEBLOCK).bg;
    return c;
}

/* ---- drawing primitives ---- */

static int is_picture(uint32_t cp) { return (cp >= 0x2400 && cp <= 0x2426) || cp == 0xFFFD; }

/* Draws display-safe text at (y, x) without passing column `limit`; the
 * stand-ins for control characters and bad bytes are shown in reverse video
 * so they cannot be mistaken for text. Returns the column after the text. */
static int put(ui *u, int y, int x, int limit, const char *s, size_t n, theme_color c)
{
    size_t i = 0;
    while (i < n && x < limit) {
        uint32_t cp;
        utf8_decode_lossy(s + i, n - i, &cp);
        int pic = is_picture(cp), cols = 0;
        size_t j = i;
        while (j < n) {
            size_t k = utf8_decode_lossy(s + j, n - j, &cp);
            int w = wrap_cp_width(cp);
            if (w > 0 && is_picture(cp) != pic) break;
            if (x + cols + w > limit) { n = j; break; }
            cols += w;
            j += k;
        }
        if (j == i) break;
        use_color(u, c, pic ? THEME_REVERSE : 0);
        mvaddnstr(y, x, s + i, (int)(j - i));
        x += cols;
        i = j;
    }
    return x;
}

static int puts_at(ui *u, int y, int x, int limit, const char *s, theme_color c)
{
    return put(u, y, x, limit, s, strlen(s), c);
}

/* Sanitized single-line text (app-given strings: status fields, notices). */
static int put_safe(ui *u, int y, int x, int limit, const char *s, theme_color c)
{
    char buf[1024];
    size_t n = sanitize_buf(s, strlen(s), 0, buf, sizeof buf);
    return put(u, y, x, limit, buf, n, c);
}

static void fill(ui *u, int y, int x0, int x1, theme_color c)
{
    use_color(u, c, 0);
    for (int x = x0; x < x1; x++) mvaddch(y, x, ' ');
}

/* ---- conversation pane ---- */

static const char *gutter_mark(convo_role r)
{
    switch (r) {
    case CONVO_USER: return "\xE2\x9D\xAF";     // ❯
    case CONVO_NOTICE: return "\xC2\xB7";       // ·
    case CONVO_ERROR: return "\xE2\x9C\x97";    // ✗
    default: return NULL;
    }
}

static void draw_line(ui *u, int y, const convo_line *L, int W)
{
    if (!L->text) return;
    const wrap_row *row = &L->text->rows[L->row];
    int limit = LEFT + u->text_w;
    if (row->fill && u->colors && slot(u, THEME_CODEBLOCK).bg >= 0)
        fill(u, y, LEFT - 1, limit < W ? limit : W, slot(u, THEME_CODEBLOCK));
    const char *mark = L->first ? gutter_mark(L->role) : NULL;
    if (mark) {
        int s = L->role == CONVO_USER ? THEME_ACCENT : L->role == CONVO_ERROR ? THEME_ERROR : THEME_NOTICE;
        puts_at(u, y, 1, 2, mark, with_attrs(slot(u, s), THEME_BOLD));
    }
    int x = LEFT;
    for (uint32_t i = 0; i < row->nspans; i++) {
        const wrap_span *sp = &L->text->spans[row->span0 + i];
        x = put(u, y, x, limit, L->text->buf + sp->off, sp->len, span_color(u, L->role, sp->style, row->fill));
    }
    if (L->last && L->streaming && x < limit)
        puts_at(u, y, x, limit, "\xE2\x96\x8D", slot(u, THEME_ACCENT));     // ▍ reply still coming
}

static void draw_welcome(ui *u, int h, int W)
{
    const char *title = "gemma-chat";
    const char *hint = "Type a message and press Enter \xC2\xB7 /help or F1 for help";
    int y = h / 2 - 1;
    if (y < 0) return;
    int tw = wrap_str_width(title, strlen(title)), hw = wrap_str_width(hint, strlen(hint));
    puts_at(u, y, (W - tw) / 2 > 0 ? (W - tw) / 2 : 0, W, title, with_attrs(slot(u, THEME_ACCENT), THEME_BOLD));
    if (y + 2 < h) puts_at(u, y + 2, (W - hw) / 2 > 0 ? (W - hw) / 2 : 0, W, hint, slot(u, THEME_NOTICE));
}

static void draw_convo(ui *u, int h, int W)
{
    size_t total = convo_layout(u->cv, u->text_w);
    if (u->reanchor && u->scroll > 0) {
        /* After a resize the rows have moved: bring the message that was at
         * the top of a scrolled-back view to the top again. */
        size_t want = convo_msg_row(u->cv, u->top_msg) + (size_t)h;
        u->scroll = want < total ? total - want : 0;
    } else if (u->scroll > 0 && total > u->last_total) {
        /* Content arriving while the view is scrolled back must not move
         * what the user is reading. */
        u->scroll += total - u->last_total;
    }
    u->reanchor = 0;
    u->last_total = total;
    size_t max_scroll = total > (size_t)h ? total - (size_t)h : 0;
    if (u->scroll > max_scroll) u->scroll = max_scroll;
    if (total == 0 && u->prog < 0) { draw_welcome(u, h, W); return; }
    size_t bottom = total - u->scroll;
    size_t top = bottom > (size_t)h ? bottom - (size_t)h : 0;
    convo_line tl;
    convo_line_at(u->cv, top, &tl);
    u->top_msg = tl.msg;
    for (int y = 0; y < h && top + (size_t)y < bottom; y++) {
        convo_line L;
        convo_line_at(u->cv, top + (size_t)y, &L);
        draw_line(u, y, &L, W);
    }
    if (u->scroll > 0) {
        char tag[64];
        snprintf(tag, sizeof tag, " \xE2\x86\x93 %zu more (End) ", u->scroll);
        int tw = wrap_str_width(tag, strlen(tag));
        puts_at(u, h - 1, W - tw - 1 > 0 ? W - tw - 1 : 0, W, tag, with_attrs(slot(u, THEME_ACCENT), THEME_REVERSE));
    }
}

/* ---- notice line ---- */

static int has_notice_row(ui *u)
{
    return u->prog >= 0 || u->listing || u->notice || u->ctrl_c_armed || ledit_message();
}

static void draw_progress(ui *u, int y, int W)
{
    char pct[16];
    snprintf(pct, sizeof pct, " %3d%%", (int)(u->prog * 100 + 0.5));
    int x = put_safe(u, y, 1, W / 2, u->prog_label ? u->prog_label : "", slot(u, THEME_NOTICE));
    x += 2;
    int bar = W - 1 - x - (int)strlen(pct);
    if (bar < 4) return;
    /* Eighth blocks give the bar sub-cell resolution. */
    static const char *const eighth[8] = { "", "\xE2\x96\x8F", "\xE2\x96\x8E", "\xE2\x96\x8D",
                                           "\xE2\x96\x8C", "\xE2\x96\x8B", "\xE2\x96\x8A", "\xE2\x96\x89" };
    int units = (int)(u->prog * bar * 8 + 0.5), full = units / 8, part = units % 8;
    for (int i = 0; i < bar; i++) {
        const char *g = i < full ? "\xE2\x96\x88" : i == full && part ? eighth[part] : "\xE2\x96\x91";
        puts_at(u, y, x + i, x + i + 1, g, i < full || (i == full && part) ? slot(u, THEME_ACCENT) : slot(u, THEME_NOTICE));
    }
    puts_at(u, y, x + bar, W, pct, slot(u, THEME_NOTICE));
}

static void draw_notice_row(ui *u, int y, int W)
{
    const char *msg = ledit_message();
    if (u->prog >= 0) draw_progress(u, y, W);
    else if (msg) put_safe(u, y, 1, W - 1, msg, slot(u, THEME_ACCENT));
    else if (u->ctrl_c_armed) puts_at(u, y, 1, W - 1, "Press Ctrl-C again to quit (or Ctrl-D)", slot(u, THEME_NOTICE));
    else if (u->listing) put_safe(u, y, 1, W - 1, u->listing, slot(u, THEME_ACCENT));
    else if (u->notice) put_safe(u, y, 1, W - 1, u->notice, slot(u, THEME_NOTICE));
}

/* ---- status bar ---- */

typedef struct sitem {
    char full[192], brief[96];
    int prio;           // higher survives longer
    int right;          // right-aligned group
    int bold;
    int brief_on, off;
} sitem;

static int item_w(const sitem *it) { return it->off ? 0 : wrap_str_width(it->brief_on ? it->brief : it->full, strlen(it->brief_on ? it->brief : it->full)); }

static int bar_width(const sitem *it, int n)
{
    int w = 2, groups[2] = { 0, 0 };
    for (int i = 0; i < n; i++) {
        if (it[i].off) continue;
        w += item_w(&it[i]) + (groups[it[i].right]++ ? 3 : 0);
    }
    return w + (groups[0] && groups[1] ? 2 : 0);
}

static void fmt_rate(char *out, size_t cap, const char *label, double v)
{
    if (v >= 100) snprintf(out, cap, "%s%.0f t/s", label, v);
    else snprintf(out, cap, "%s%.1f t/s", label, v);
}

static void draw_status(ui *u, int y, int W)
{
    static const char *const spin[10] = { "\xE2\xA0\x8B", "\xE2\xA0\x99", "\xE2\xA0\xB9", "\xE2\xA0\xB8", "\xE2\xA0\xBC",
                                          "\xE2\xA0\xB4", "\xE2\xA0\xA6", "\xE2\xA0\xA7", "\xE2\xA0\x87", "\xE2\xA0\x8F" };
    sitem it[8];
    int n = 0;
    memset(it, 0, sizeof it);
#define ITEM(p, r, b) (it[n].prio = (p), it[n].right = (r), it[n].bold = (b), &it[n++])
    sitem *s;
    if (u->st_model) { s = ITEM(7, 0, 1); snprintf(s->full, sizeof s->full, "%s", u->st_model); snprintf(s->brief, sizeof s->brief, "%s", u->st_model); }
    if (u->st_persona) { s = ITEM(5, 0, 0); snprintf(s->full, sizeof s->full, "%s", u->st_persona); snprintf(s->brief, sizeof s->brief, "%s", u->st_persona); }
    if (u->st_backend) {
        s = ITEM(4, 0, 0);
        if (u->st_device) snprintf(s->full, sizeof s->full, "%s \xC2\xB7 %s", u->st_backend, u->st_device);
        else snprintf(s->full, sizeof s->full, "%s", u->st_backend);
        snprintf(s->brief, sizeof s->brief, "%s", u->st_backend);
    }
    if (u->busy) {
        s = ITEM(9, 1, 1);
        const char *g = spin[((now_ms() - u->busy_since) / SPIN_MS) % 10];
        snprintf(s->full, sizeof s->full, "%s %s", g, u->busy);
        snprintf(s->brief, sizeof s->brief, "%s", g);
    }
    if (u->ctx_total > 0) {
        s = ITEM(8, 1, 0);
        if (u->ctx_window > 0 && u->ctx_used > u->ctx_window)
            snprintf(s->full, sizeof s->full, "ctx %ld/%ld (window %ld)", u->ctx_used, u->ctx_total, u->ctx_window);
        else
            snprintf(s->full, sizeof s->full, "ctx %ld/%ld", u->ctx_used, u->ctx_total);
        snprintf(s->brief, sizeof s->brief, "%ld/%ld", u->ctx_used, u->ctx_total);
    }
    if (u->pp > 0) { s = ITEM(6, 1, 0); fmt_rate(s->full, sizeof s->full, "prefill ", u->pp); fmt_rate(s->brief, sizeof s->brief, "pp ", u->pp); }
    if (u->tg > 0) { s = ITEM(10, 1, 1); fmt_rate(s->full, sizeof s->full, "decode ", u->tg); fmt_rate(s->brief, sizeof s->brief, "", u->tg); }
#undef ITEM
    /* Shorten or drop items, least important first, until the bar fits;
     * the model name is cut to what is left. */
    static const struct { int prio, drop; } degrade[] = {
        { 4, 0 }, { 6, 0 }, { 5, 1 }, { 8, 0 }, { 6, 1 }, { 9, 0 }, { 4, 1 }, { 10, 0 }, { 8, 1 }, { 9, 1 },
    };
    for (size_t d = 0; d < sizeof degrade / sizeof *degrade && bar_width(it, n) > W; d++)
        for (int i = 0; i < n; i++)
            if (it[i].prio == degrade[d].prio) { if (degrade[d].drop) it[i].off = 1; else it[i].brief_on = 1; }

    theme_color bar = slot(u, THEME_STATUS), sep = with_attrs(bar, THEME_DIM);
    fill(u, y, 0, W, bar);
    int rw = 0, nr = 0;
    for (int i = 0; i < n; i++) if (!it[i].off && it[i].right) rw += item_w(&it[i]) + (nr++ ? 3 : 0);
    int left_limit = W - 1 - (rw ? rw + 2 : 0);
    int x = 1, first = 1;
    for (int i = 0; i < n && x < left_limit; i++) {
        if (it[i].off || it[i].right) continue;
        if (!first) x = puts_at(u, y, x, left_limit, " \xE2\x94\x82 ", sep);
        first = 0;
        char fit[192];
        const char *t = it[i].brief_on ? it[i].brief : it[i].full;
        wrap_fit(t, strlen(t), left_limit - x, fit, sizeof fit);
        x = put_safe(u, y, x, left_limit, fit, it[i].bold ? with_attrs(bar, THEME_BOLD) : bar);
    }
    int rx = W - 1 - rw;
    first = 1;
    for (int i = 0; i < n; i++) {
        if (it[i].off || !it[i].right) continue;
        if (!first) rx = puts_at(u, y, rx, W - 1, " \xE2\x94\x82 ", sep);
        first = 0;
        const char *t = it[i].brief_on ? it[i].brief : it[i].full;
        rx = put_safe(u, y, rx, W - 1, t, it[i].bold ? with_attrs(bar, THEME_BOLD) : bar);
    }
}

/* ---- input area ---- */

static void push_in_row(ui *u, int *nr, size_t a, size_t b)
{
    if (*nr == u->in_cap) {
        int cap = u->in_cap ? u->in_cap * 2 : 16;
        in_row *v = realloc(u->in_rows, (size_t)cap * sizeof *v);
        if (!v) return;
        u->in_rows = v;
        u->in_cap = cap;
    }
    u->in_rows[(*nr)++] = (in_row){ a, b };
}

/* Breaks the input into rows of `width` columns (at newlines and at the
 * exact width) and finds the cursor's row and column. */
static int layout_input(ui *u, const char *s, size_t n, size_t point, int width, int *cr, int *cc)
{
    int nr = 0, col = 0;
    size_t start = 0, i = 0;
    *cr = -1;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode_lossy(s + i, n - i, &cp);
        int w = cp == '\n' ? 0 : wrap_cp_width(cp);
        if (cp != '\n' && w > 0 && col + w > width && col > 0) { push_in_row(u, &nr, start, i); start = i; col = 0; }
        if (i == point) { *cr = nr; *cc = col; }
        if (cp == '\n') { push_in_row(u, &nr, start, i); start = i + 1; col = 0; }
        else col += w;
        i += k;
    }
    push_in_row(u, &nr, start, n);
    if (*cr < 0) {
        *cr = nr - 1;
        *cc = col;
        if (col >= width) { push_in_row(u, &nr, n, n); *cr = nr - 1; *cc = 0; }
    }
    return nr;
}

/* Draws the input rows [input_top, input_top + rows) from y; returns the cursor position. */
static void draw_input(ui *u, int y, int rows, int W, const char *s, int cr, int cc, int *cy, int *cx)
{
    int limit = W - 1;
    for (int r = 0; r < rows; r++) {
        int br = u->input_top + r;
        if (br == 0) puts_at(u, y + r, 1, 3, "\xE2\x9D\xAF ", with_attrs(slot(u, THEME_ACCENT), THEME_BOLD));
        const in_row *ir = &u->in_rows[br];
        char buf[4096];
        size_t k = sanitize_buf(s + ir->a, ir->b - ir->a, 0, buf, sizeof buf);
        put(u, y + r, LEFT, limit, buf, k, slot(u, THEME_MODEL));
    }
    size_t len;
    ledit_text(&len, NULL);
    if (len == 0) {
        const char *ph = u->busy ? "Esc stops the reply \xC2\xB7 type ahead meanwhile"
                                 : u->placeholder ? u->placeholder : "Send a message \xC2\xB7 /help for commands";
        puts_at(u, y, LEFT, limit, ph, with_attrs(slot(u, THEME_NOTICE), THEME_DIM));
    }
    *cy = y + cr - u->input_top;
    *cx = LEFT + cc;
}

/* ---- help overlay ---- */

typedef struct help_line { const char *left; char leftbuf[96]; const char *right; int heading; } help_line;

static const char *const key_help[][2] = {
    { "Enter", "send the message" },
    { "Alt-Enter", "new line (pastes keep theirs)" },
    { "Tab", "complete commands and names" },
    { "Up / Down, Ctrl-R", "history, search it" },
    { "PgUp / PgDn, wheel", "scroll the conversation" },
    { "Home / End", "top / bottom (empty input)" },
    { "Esc, Ctrl-C", "stop the reply" },
    { "Ctrl-C", "clear the input; twice: quit" },
    { "Ctrl-D", "quit (empty input)" },
    { "Ctrl-L", "redraw the screen" },
    { "Alt-Left / Alt-Right", "previous / next branch (at the last fork)" },
    { "F1", "this help" },
};
#define NKEYS (int)(sizeof key_help / sizeof *key_help)

static int help_build(ui *u, help_line *v, int cap)
{
    int n = 0;
    if (u->ncmds && n < cap) { v[n] = (help_line){ .left = "Commands", .heading = 1 }; n++; }
    for (int i = 0; i < u->ncmds && n < cap; i++) {
        help_line *h = &v[n++];
        memset(h, 0, sizeof *h);
        snprintf(h->leftbuf, sizeof h->leftbuf, "%s%s%s", u->cmds[i].name, u->cmds[i].args ? " " : "",
                 u->cmds[i].args ? u->cmds[i].args : "");
        h->left = h->leftbuf;
        h->right = u->cmds[i].help ? u->cmds[i].help : "";
    }
    if (n < cap && u->ncmds) { v[n] = (help_line){ .left = "" }; n++; }
    if (n < cap) { v[n] = (help_line){ .left = "Keys", .heading = 1 }; n++; }
    for (int i = 0; i < NKEYS && n < cap; i++) { v[n] = (help_line){ .left = key_help[i][0], .right = key_help[i][1] }; n++; }
    return n;
}

static void draw_help(ui *u, int H, int W)
{
    help_line lines[128];
    int n = help_build(u, lines, 128);
    int lw = 0;
    for (int i = 0; i < n; i++) {
        if (lines[i].heading) continue;
        int w = wrap_str_width(lines[i].left, strlen(lines[i].left));
        if (w > lw) lw = w;
    }
    int bw = W - 4 < 76 ? W - 4 : 76;
    if (lw > bw / 2) lw = bw / 2;
    int inner = H - 4;                  // rows of text the box can hold
    if (inner < 1) return;
    int shown = n < inner ? n : inner;
    if (u->help_scroll > n - shown) u->help_scroll = n - shown;
    if (u->help_scroll < 0) u->help_scroll = 0;
    int bh = shown + 2, x0 = (W - bw) / 2, y0 = (H - bh) / 2;
    theme_color box = slot(u, THEME_ACCENT), txt = slot(u, THEME_MODEL), dim = slot(u, THEME_NOTICE);
    for (int y = y0; y < y0 + bh; y++) fill(u, y, x0 > 0 ? x0 - 1 : 0, x0 + bw + 1 < W ? x0 + bw + 1 : W, txt);
    /* frame */
    for (int x = x0 + 1; x < x0 + bw - 1; x++) {
        puts_at(u, y0, x, x + 1, "\xE2\x94\x80", box);
        puts_at(u, y0 + bh - 1, x, x + 1, "\xE2\x94\x80", box);
    }
    for (int y = y0 + 1; y < y0 + bh - 1; y++) {
        puts_at(u, y, x0, x0 + 1, "\xE2\x94\x82", box);
        puts_at(u, y, x0 + bw - 1, x0 + bw, "\xE2\x94\x82", box);
    }
    puts_at(u, y0, x0, x0 + 1, "\xE2\x94\x8C", box);
    puts_at(u, y0, x0 + bw - 1, x0 + bw, "\xE2\x94\x90", box);
    puts_at(u, y0 + bh - 1, x0, x0 + 1, "\xE2\x94\x94", box);
    puts_at(u, y0 + bh - 1, x0 + bw - 1, x0 + bw, "\xE2\x94\x98", box);
    puts_at(u, y0, x0 + 2, x0 + bw - 2, " gemma-chat help ", with_attrs(box, THEME_BOLD));
    const char *foot = n > shown ? " \xE2\x86\x91\xE2\x86\x93 scroll \xC2\xB7 Esc closes " : " Esc closes ";
    int fw = wrap_str_width(foot, strlen(foot));
    puts_at(u, y0 + bh - 1, x0 + bw - 2 - fw, x0 + bw - 2, foot, dim);
    for (int i = 0; i < shown; i++) {
        const help_line *h = &lines[u->help_scroll + i];
        int y = y0 + 1 + i, x = x0 + 2, lim = x0 + bw - 2;
        if (h->heading) { puts_at(u, y, x, lim, h->left, with_attrs(box, THEME_BOLD)); continue; }
        put_safe(u, y, x + 2, x + 2 + lw, h->left, with_attrs(txt, THEME_BOLD));
        if (h->right) put_safe(u, y, x + 4 + lw, lim, h->right, dim);
    }
}

/* ---- the frame ---- */

static void draw(ui *u)
{
    int H, W;
    getmaxyx(stdscr, H, W);
    if (u->redraw & REDRAW_FULL) clearok(curscr, TRUE);
    erase();
    int cy = 0, cx = 0;
    if (H < MIN_H || W < MIN_W) {
        puts_at(u, 0, 0, W, "terminal too small", slot(u, THEME_ERROR));
        curs_set(0);
    } else {
        u->text_w = W - LEFT - 1;
        size_t len, point;
        const char *s = ledit_text(&len, &point);
        int cr, cc;
        int nr = layout_input(u, s, len, point, W - LEFT - 1, &cr, &cc);
        int max_in = (H - 4) / 3;
        if (max_in < 1) max_in = 1;
        if (max_in > 10) max_in = 10;
        int rows = nr < max_in ? nr : max_in;
        if (cr < u->input_top) u->input_top = cr;
        if (cr >= u->input_top + rows) u->input_top = cr - rows + 1;
        if (u->input_top > nr - rows) u->input_top = nr - rows;
        if (u->input_top < 0) u->input_top = 0;
        int status_y = H - rows - 1, notice = has_notice_row(u);
        u->conv_h = status_y - notice;
        draw_convo(u, u->conv_h, W);
        if (notice) draw_notice_row(u, status_y - 1, W);
        draw_status(u, status_y, W);
        draw_input(u, status_y + 1, rows, W, s, cr, cc, &cy, &cx);
        if (u->help) {
            draw_help(u, H, W);
            curs_set(0);
        } else {
            curs_set(1);
        }
    }
    attr_set(A_NORMAL, 0, NULL);
    move(cy, cx);
    refresh();
    u->redraw = REDRAW_NONE;
    u->last_frame = now_ms();
}

void ui_render(ui *u)
{
    if (u && u->redraw) draw(u);
}

/* ---- completion lists ---- */

static const char *const *words_for(void *ctx, const char *command, int *n)
{
    ui *u = ctx;
    if (!command) { *n = u->ncmds; return u->cmd_names; }
    for (int i = 0; i < u->ncomps; i++)
        if (!strcmp(u->comps[i].command, command)) { *n = u->comps[i].n; return (const char *const *)u->comps[i].words; }
    *n = 0;
    return NULL;
}

static void free_commands(ui *u)
{
    for (int i = 0; i < u->ncmds; i++) {
        free((char *)u->cmds[i].name);
        free((char *)u->cmds[i].args);
        free((char *)u->cmds[i].help);
    }
    free(u->cmds);
    free(u->cmd_names);
    u->cmds = NULL;
    u->cmd_names = NULL;
    u->ncmds = 0;
}

void ui_set_commands(ui *u, const ui_command *cmds, int n)
{
    free_commands(u);
    u->cmds = calloc((size_t)(n > 0 ? n : 1), sizeof *u->cmds);
    u->cmd_names = calloc((size_t)(n > 0 ? n : 1), sizeof *u->cmd_names);
    if (!u->cmds || !u->cmd_names) { free_commands(u); return; }
    for (int i = 0; i < n; i++) {
        u->cmds[i].name = strdup(cmds[i].name ? cmds[i].name : "");
        u->cmds[i].args = cmds[i].args ? strdup(cmds[i].args) : NULL;
        u->cmds[i].help = cmds[i].help ? strdup(cmds[i].help) : NULL;
        u->cmd_names[i] = u->cmds[i].name;
    }
    u->ncmds = n;
    u->redraw |= REDRAW_FRAME;
}

static void free_completion(completion *c)
{
    for (int i = 0; i < c->n; i++) free(c->words[i]);
    free(c->words);
    free(c->command);
}

void ui_set_completions(ui *u, const char *command, const char *const *words, int n)
{
    completion *c = NULL;
    for (int i = 0; i < u->ncomps; i++)
        if (!strcmp(u->comps[i].command, command)) { c = &u->comps[i]; break; }
    if (c) {
        for (int i = 0; i < c->n; i++) free(c->words[i]);
        free(c->words);
    } else {
        completion *v = realloc(u->comps, (size_t)(u->ncomps + 1) * sizeof *v);
        if (!v) return;
        u->comps = v;
        c = &u->comps[u->ncomps++];
        c->command = strdup(command);
    }
    c->words = calloc((size_t)(n > 0 ? n : 1), sizeof *c->words);
    c->n = 0;
    if (!c->words) return;
    for (int i = 0; i < n; i++) c->words[c->n++] = strdup(words[i]);
}

/* ---- setup and teardown ---- */

/* The bytes that undo everything the screen turned on, from terminfo where
 * it knows them: mouse reporting (all modes curses may have used), bracketed
 * paste, attributes, cursor visibility, keypad mode, the alternate screen. */
static void build_restore_sequence(void)
{
    char seq[512];
    size_t k = 0;
    const char *parts[8];
    int np = 0;
    parts[np++] = "\033[?1000l\033[?1002l\033[?1003l\033[?1005l\033[?1006l\033[?1015l";
    parts[np++] = PASTE_OFF;
    const char *caps[] = { "sgr0", "cnorm", "rmkx", "rmcup" };
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
        char *v = tigetstr((char *)caps[i]);
        if (v && v != (char *)-1) parts[np++] = v;
    }
    for (int i = 0; i < np; i++) {
        size_t m = strlen(parts[i]);
        if (k + m > sizeof seq) break;
        memcpy(seq + k, parts[i], m);
        k += m;
    }
    tty_set_sequence(seq, k);
}

static void write_all(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void set_theme(ui *u, const ui_config *cfg)
{
    for (int i = 0; i < THEME_SLOTS; i++) {
        u->th[i] = theme_default(i, u->colors);
        if (cfg && (cfg->colors_set & (1u << i))) u->th[i] = theme_fit(cfg->colors[i], u->colors);
    }
}

ui *ui_create(const ui_config *cfg, gc_err *err)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        gc_errf(err, "the chat screen needs a terminal on stdin and stdout (use --no-tui or -p for scripts)");
        return NULL;
    }
    /* Wide characters need a UTF-8 character type; only LC_CTYPE is set so
     * that number formatting elsewhere stays in the C locale. */
    if (!setlocale(LC_CTYPE, "") || strcmp(nl_langinfo(CODESET), "UTF-8"))
        setlocale(LC_CTYPE, "C.UTF-8");
    wrap_init();
    ui *u = calloc(1, sizeof *u);
    if (!u) { gc_errf(err, "out of memory"); return NULL; }
    u->prog = -1;
    u->cv = convo_create();
    if (!u->cv) { gc_errf(err, "out of memory"); free(u); return NULL; }
    int no_color = cfg && cfg->color_mode < 0;   /* the app has weighed NO_COLOR */
    if (tty_begin(STDIN_FILENO)) {
        gc_errf(err, "cannot read the terminal's modes");
        convo_destroy(u->cv);
        free(u);
        return NULL;
    }
    u->scr = newterm(NULL, stdout, stdin);
    if (!u->scr) {
        tty_end();
        const char *t = getenv("TERM");
        gc_errf(err, "cannot start the screen for TERM=%s (unknown terminal type?)", t ? t : "(unset)");
        convo_destroy(u->cv);
        free(u);
        return NULL;
    }
    build_restore_sequence();
    u->catch_signals = cfg && cfg->catch_signals;
    tty_catch_exit_signals(u->catch_signals);
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    /* Esc alone must be told from Alt+key (ESC then the key) by timing:
     * 50 ms is quick to the eye yet rarely splits a sequence over ssh;
     * $ESCDELAY, which curses reads itself, still wins. */
    if (!getenv("ESCDELAY")) set_escdelay(50);
    define_key("\033[200~", KEY_PASTE_BEGIN);
    define_key("\033[201~", KEY_PASTE_END);
    if (!no_color && has_colors() && start_color() == OK) {
        u->default_colors = use_default_colors() == OK;
        u->colors = COLORS >= 256 ? 256 : COLORS >= 8 ? 8 : 0;
    } else {
        u->colors = 0;
    }
    set_theme(u, cfg);
    if (!(cfg && cfg->no_mouse)) {
        mouseinterval(0);
        u->mouse = mousemask(BUTTON4_PRESSED | BUTTON5_PRESSED, NULL) != 0;
    }
    write_all(PASTE_ON);

    gc_err warn = {0};
    ledit_begin(cfg ? cfg->history_path : NULL, cfg ? cfg->history_max : 0, words_for, u, &warn);
    if (warn.msg[0]) convo_add(u->cv, CONVO_ERROR, warn.msg, strlen(warn.msg));
    u->placeholder = dup_or_null(cfg ? cfg->placeholder : NULL);
    u->redraw = REDRAW_FULL;
    draw(u);
    return u;
}

void ui_destroy(ui *u)
{
    if (!u) return;
    ledit_end();
    if (u->scr) {
        write_all(PASTE_OFF);
        if (u->mouse) mousemask(0, NULL);
        endwin();           // restores the terminal's modes and leaves the alternate screen
        delscreen(u->scr);
    }
    tty_end();
    convo_destroy(u->cv);
    free_commands(u);
    for (int i = 0; i < u->ncomps; i++) free_completion(&u->comps[i]);
    free(u->comps);
    free(u->in_rows);
    free(u->st_model); free(u->st_persona); free(u->st_backend); free(u->st_device);
    free(u->busy); free(u->notice); free(u->listing); free(u->prog_label);
    free(u->line); free(u->placeholder);
    free(u);
}

void ui_restore_terminal(void) { tty_restore(); }

/* ---- app-facing setters ---- */

void ui_add(ui *u, ui_role role, const char *text)
{
    static const convo_role map[] = { CONVO_USER, CONVO_MODEL, CONVO_NOTICE, CONVO_ERROR };
    convo_add(u->cv, map[role], text ? text : "", text ? strlen(text) : 0);
    if (role == UI_USER) u->scroll = 0;     // the user's own message is always in view
    u->redraw |= REDRAW_FRAME;
}

void ui_label_last(ui *u, const char *label)
{
    size_t n = convo_count(u->cv);
    if (n) convo_set_label(u->cv, n - 1, label);
    u->redraw |= REDRAW_FRAME;
}

/* Alt-Left / Alt-Right: a branch switch the app makes (not while busy). */
static unsigned branch_key(ui *u, int dir, ui_event *ev)
{
    if (u->busy) return REDRAW_NONE;
    ev->type = UI_EV_BRANCH;
    ev->dir = dir;
    return REDRAW_NONE;
}

void ui_addf(ui *u, ui_role role, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ui_add(u, role, buf);
}

void ui_clear(ui *u)
{
    convo_clear(u->cv);
    u->scroll = 0;
    u->last_total = 0;
    u->streaming = 0;
    u->redraw |= REDRAW_FRAME;
}

void ui_stream_begin(ui *u)
{
    if (convo_add(u->cv, CONVO_MODEL, "", 0)) return;
    u->stream_msg = convo_count(u->cv) - 1;
    convo_set_streaming(u->cv, u->stream_msg, 1);
    u->streaming = 1;
    u->redraw |= REDRAW_FRAME;
}

void ui_stream_append(ui *u, const char *text, size_t n)
{
    if (!u->streaming || n == 0) return;
    convo_append(u->cv, u->stream_msg, text, n);
    u->redraw |= REDRAW_FRAME;
}

void ui_stream_end(ui *u, int stopped)
{
    if (!u->streaming) return;
    convo_set_streaming(u->cv, u->stream_msg, 0);
    if (stopped) convo_set_stopped(u->cv, u->stream_msg);
    u->streaming = 0;
    u->redraw |= REDRAW_FRAME;
}

void ui_set_busy(ui *u, const char *label)
{
    if (label && !u->busy) u->busy_since = now_ms();
    set_str(&u->busy, label);
    if (label && !u->busy) u->busy = strdup("busy");    // "" still means busy
    u->ctrl_c_armed = 0;
    u->redraw |= REDRAW_FRAME;
}

void ui_set_status(ui *u, const ui_status *st)
{
    set_str(&u->st_model, st->model);
    set_str(&u->st_persona, st->persona);
    set_str(&u->st_backend, st->backend);
    set_str(&u->st_device, st->device);
    u->ctx_used = st->ctx_used;
    u->ctx_total = st->ctx_total;
    u->ctx_window = st->ctx_window;
    u->pp = st->prefill_tok_s;
    u->tg = st->decode_tok_s;
    u->redraw |= REDRAW_FRAME;
}

void ui_set_notice(ui *u, const char *text, int timeout_ms)
{
    set_str(&u->notice, text);
    u->notice_until = text && timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    u->redraw |= REDRAW_FRAME;
}

void ui_progress(ui *u, const char *label, double fraction)
{
    if (fraction < 0) {
        u->prog = -1;
        u->redraw |= REDRAW_FRAME;
        return;
    }
    if (fraction > 1) fraction = 1;
    if (!u->prog_label || !label || strcmp(u->prog_label, label)) set_str(&u->prog_label, label);
    u->prog = fraction;
    u->redraw |= REDRAW_FRAME;
    if (fraction >= 1 || now_ms() - u->last_frame >= 33) draw(u);
}

void ui_show_help(ui *u, int show)
{
    u->help = show;
    u->help_scroll = 0;
    u->redraw |= REDRAW_FRAME;
}

void ui_set_input(ui *u, const char *text)
{
    ledit_set_text(text ? text : "");
    ledit_take_redraw();
    u->redraw |= REDRAW_FRAME;
}

/* ---- keys ---- */

static void feed(const char *s) { ledit_feed(s, strlen(s)); }

static void feed_char(wint_t ch)
{
    char b[4];
    size_t n = utf8_encode((uint32_t)ch, b);
    ledit_feed(b, n);
}

static int input_empty(void)
{
    size_t len;
    ledit_text(&len, NULL);
    return len == 0;
}

static unsigned scroll_by(ui *u, long rows)
{
    if (rows < 0 && (size_t)-rows > u->scroll) u->scroll = 0;
    else u->scroll = (size_t)((long)u->scroll + rows);     // draw() clamps the top
    return REDRAW_FRAME;
}

static void suspend(ui *u)
{
    write_all(PASTE_OFF);
    def_prog_mode();
    endwin();
    tty_end();          // stopped, the terminal belongs to the shell
    kill(getpid(), SIGTSTP);
    /* continued: the modes the shell left are the ones to restore later */
    tty_begin(STDIN_FILENO);
    tty_catch_exit_signals(u->catch_signals);
    build_restore_sequence();
    reset_prog_mode();
    write_all(PASTE_ON);
    u->redraw |= REDRAW_FULL;
}

/* Keys for the help overlay: scrolling, and closing it. Returns 1 if the
 * key was used. */
static int help_key(ui *u, int is_code, wint_t ch)
{
    if (is_code) {
        if (ch == KEY_UP) u->help_scroll--;
        else if (ch == KEY_DOWN) u->help_scroll++;
        else if (ch == KEY_PPAGE) u->help_scroll -= 10;
        else if (ch == KEY_NPAGE) u->help_scroll += 10;
        else if (ch == KEY_F(1)) u->help = 0;
        else return 0;
        return 1;
    }
    if (ch == 27 || ch == 'q' || ch == '\r' || ch == ' ') { u->help = 0; return 1; }
    u->help = 0;        // any other key closes the help and does its own work
    return 0;
}

static unsigned code_key(ui *u, wint_t ch, ui_event *ev)
{
    switch (ch) {
    case KEY_RESIZE: ev->type = UI_EV_RESIZE; u->reanchor = 1; return REDRAW_FULL;
    case KEY_PASTE_BEGIN: u->paste = 1; return REDRAW_NONE;
    case KEY_PASTE_END: u->paste = 0; return REDRAW_NONE;
    case KEY_F(1): u->help = !u->help; u->help_scroll = 0; return REDRAW_FRAME;
    case KEY_PPAGE: return scroll_by(u, u->conv_h > 3 ? u->conv_h - 2 : 1);
    case KEY_NPAGE: return scroll_by(u, -(u->conv_h > 3 ? u->conv_h - 2 : 1));
    case KEY_HOME:
        if (input_empty()) { u->scroll = (size_t)-1 / 2; return REDRAW_FRAME; }
        feed("\001");
        return REDRAW_NONE;
    case KEY_END:
        if (input_empty()) { u->scroll = 0; return REDRAW_FRAME; }
        feed("\005");
        return REDRAW_NONE;
    case KEY_MOUSE: {
        MEVENT me;
        if (getmouse(&me) != OK) return REDRAW_NONE;
        if (me.bstate & BUTTON4_PRESSED) return scroll_by(u, 3);
        if (me.bstate & BUTTON5_PRESSED) return scroll_by(u, -3);
        return REDRAW_NONE;
    }
    /* Editing keys reach readline as the sequences its default bindings
     * (and a user's inputrc) know. */
    case KEY_UP: feed("\033[A"); return REDRAW_NONE;
    case KEY_DOWN: feed("\033[B"); return REDRAW_NONE;
    case KEY_RIGHT: feed("\033[C"); return REDRAW_NONE;
    case KEY_LEFT: feed("\033[D"); return REDRAW_NONE;
    case KEY_DC: feed("\033[3~"); return REDRAW_NONE;
    case KEY_BACKSPACE: feed("\177"); return REDRAW_NONE;
    case KEY_ENTER: feed("\r"); return REDRAW_NONE;
    default: {
        const char *name = keyname((int)ch);
        if (name && !strcmp(name, "kLFT5")) feed("\033b");         // Ctrl-Left: word back
        else if (name && !strcmp(name, "kRIT5")) feed("\033f");    // Ctrl-Right: word forward
        else if (name && !strcmp(name, "kLFT3")) return branch_key(u, -1, ev);   // Alt-Left
        else if (name && !strcmp(name, "kRIT3")) return branch_key(u, +1, ev);   // Alt-Right
        return REDRAW_NONE;
    }
    }
}

static unsigned char_key(ui *u, wint_t ch, ui_event *ev)
{
    if (u->paste) {
        if (ch == '\r' || ch == '\n') ledit_insert("\n", 1);
        else if (ch == '\t') ledit_insert("\t", 1);
        else feed_char(ch);
        return REDRAW_NONE;
    }
    switch (ch) {
    case 3:     // Ctrl-C
        if (u->busy) { ev->type = UI_EV_CANCEL; return REDRAW_FRAME; }
        if (!input_empty() || ledit_message()) { ledit_clear(); return REDRAW_FRAME; }
        if (u->ctrl_c_armed) { ev->type = UI_EV_QUIT; return REDRAW_NONE; }
        u->ctrl_c_armed = 1;
        return REDRAW_FRAME;
    case 4:     // Ctrl-D
        if (input_empty()) { ev->type = UI_EV_QUIT; return REDRAW_NONE; }
        feed("\004");
        return REDRAW_NONE;
    case 12:    // Ctrl-L
        return REDRAW_FULL;
    case 26:    // Ctrl-Z
        suspend(u);
        return REDRAW_FULL;
    case 27: {  // Esc alone, or Alt + a key
        wint_t c2;
        timeout(0);
        int r = get_wch(&c2);
        if (r == ERR) {
            if (u->busy) { ev->type = UI_EV_CANCEL; return REDRAW_FRAME; }
            if (ledit_message()) { feed("\033"); return REDRAW_FRAME; }     // ends a search, keeping its find
            int had = u->notice || u->listing;
            set_str(&u->notice, NULL);
            set_str(&u->listing, NULL);
            return had ? REDRAW_FRAME : REDRAW_NONE;
        }
        /* Alt + an arrow sent as ESC, then the arrow: the branch keys */
        if (r == KEY_CODE_YES && (c2 == KEY_LEFT || c2 == KEY_RIGHT)) return branch_key(u, c2 == KEY_LEFT ? -1 : 1, ev);
        if (r == KEY_CODE_YES) return code_key(u, c2, ev);    // Alt + a special key: as the key
        if (c2 == '\r' || c2 == '\n') { ledit_insert("\n", 1); return REDRAW_FRAME; }
        char b[8] = "\033";
        size_t n = 1 + utf8_encode((uint32_t)c2, b + 1);
        ledit_feed(b, n);
        return REDRAW_NONE;
    }
    default:
        feed_char(ch);
        return REDRAW_NONE;
    }
}

static unsigned handle_key(ui *u, int r, wint_t ch, ui_event *ev)
{
    int is_code = r == KEY_CODE_YES;
    unsigned rd = REDRAW_NONE;
    if (!(!is_code && ch == 3) && u->ctrl_c_armed) { u->ctrl_c_armed = 0; rd = REDRAW_FRAME; }
    if (!is_code && ch != '\t' && u->listing) { set_str(&u->listing, NULL); rd = REDRAW_FRAME; }
    if (u->help && help_key(u, is_code, ch)) return REDRAW_FRAME;
    rd |= is_code ? code_key(u, ch, ev) : char_key(u, ch, ev);
    if (ledit_take_redraw()) rd |= REDRAW_FRAME;
    char *listing = ledit_take_listing();
    if (listing) { free(u->listing); u->listing = listing; rd |= REDRAW_FRAME; }
    char *line = ledit_take_line();
    if (line && ev->type == UI_EV_NONE) {
        free(u->line);
        u->line = line;
        ev->type = UI_EV_LINE;
        ev->text = line;
        u->scroll = 0;
        u->input_top = 0;
        rd |= REDRAW_FRAME;
    } else {
        free(line);
    }
    return rd;
}

static int key_event(ui *u, int r, wint_t ch, ui_event *ev)
{
    u->redraw |= handle_key(u, r, ch, ev);
    return ev->type != UI_EV_NONE;
}

int ui_poll(ui *u, int timeout_ms, ui_event *ev)
{
    memset(ev, 0, sizeof *ev);
    free(u->line);
    u->line = NULL;
    long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int sig = tty_take_signal();
        if (sig) { ev->type = UI_EV_SIGNAL; ev->signo = sig; break; }
        /* Keys already typed (a paste, a burst) are all handled before the
         * next frame is drawn. */
        wint_t ch;
        timeout(0);
        int r = get_wch(&ch);
        if (r != ERR) {
            if (key_event(u, r, ch, ev)) break;
            continue;
        }
        long now = now_ms();
        if (u->notice && u->notice_until && now >= u->notice_until) {
            set_str(&u->notice, NULL);
            u->redraw |= REDRAW_FRAME;
        }
        if (u->busy && now - u->last_frame >= SPIN_MS) u->redraw |= REDRAW_FRAME;   // spinner
        /* While streaming (timeout 0) at most one frame per FRAME_MS,
         * however fast tokens come. */
        if (u->redraw && (timeout_ms != 0 || now - u->last_frame >= FRAME_MS)) draw(u);
        if (deadline >= 0 && now >= deadline) break;
        long wait = deadline < 0 || deadline - now > SPIN_MS ? SPIN_MS : deadline - now;
        timeout((int)wait);
        r = get_wch(&ch);
        if (r != ERR && key_event(u, r, ch, ev)) break;
    }
    if (ev->type != UI_EV_NONE && u->redraw) draw(u);
    return ev->type;
}
