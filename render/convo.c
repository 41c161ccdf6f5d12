/* convo.c: messages and their cached layout (see convo.h). */
#include "render/convo.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "render/markdown.h"
#include "render/sanitize.h"

typedef struct message {
    convo_role role;
    char *text;         // [len] raw bytes as given
    size_t len, cap;
    int streaming;
    int stopped;
    char *label;        // the app's note under it ("branch 2/3"), or NULL
    int dirty;          // text changed since the layout
    int width;          // width of the cached layout
    wrap_text layout;
    size_t start;       // first row of its separator (or of itself), from the last convo_layout
    int sep;            // 1 when a blank row precedes it
} message;

struct convo {
    message *msgs;      // [n]
    size_t n, cap;
    size_t total;       // rows of the last layout
};

convo *convo_create(void)
{
    return calloc(1, sizeof(convo));
}

static void msg_free(message *m)
{
    free(m->text);
    free(m->label);
    wrap_text_free(&m->layout);
}

void convo_clear(convo *c)
{
    for (size_t i = 0; i < c->n; i++) msg_free(&c->msgs[i]);
    c->n = 0;
    c->total = 0;
}

void convo_destroy(convo *c)
{
    if (!c) return;
    convo_clear(c);
    free(c->msgs);
    free(c);
}

size_t convo_count(const convo *c) { return c->n; }

static int msg_append(message *m, const char *s, size_t n)
{
    if (GC_GROW(m->text, m->cap, m->len + n)) return -1;
    if (n) memcpy(m->text + m->len, s, n);
    m->len += n;
    m->dirty = 1;
    return 0;
}

int convo_add(convo *c, convo_role role, const char *text, size_t n)
{
    if (GC_GROW(c->msgs, c->cap, c->n + 1)) return -1;
    message *m = &c->msgs[c->n];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->dirty = 1;
    if (msg_append(m, text, n)) { msg_free(m); return -1; }
    c->n++;
    return 0;
}

int convo_append(convo *c, size_t i, const char *text, size_t n)
{
    if (i >= c->n) return -1;
    return msg_append(&c->msgs[i], text, n);
}

void convo_set_streaming(convo *c, size_t i, int on)
{
    if (i >= c->n) return;
    c->msgs[i].streaming = on;
    c->msgs[i].dirty = 1;
}

void convo_set_stopped(convo *c, size_t i)
{
    if (i >= c->n) return;
    c->msgs[i].stopped = 1;
    c->msgs[i].dirty = 1;
}

int convo_set_label(convo *c, size_t i, const char *label)
{
    if (i >= c->n) return -1;
    char *l = label ? strdup(label) : NULL;
    if (label && !l) return -1;
    for (char *p = l; p && *p; p++)
        if (*p < 0x20 || *p > 0x7E) *p = '?';      // one row of plain ASCII (convo.h)
    free(c->msgs[i].label);
    c->msgs[i].label = l;
    c->msgs[i].dirty = 1;
    return 0;
}

/* A row of note-styled ASCII (the app's label, "[stopped]"), cut at the width. */
static void note_row(wrap_text *w, const char *s, int width)
{
    size_t n = strlen(s);
    if (width >= 0 && n > (size_t)width) n = (size_t)width;
    wrap_row_begin(w, 0);
    wrap_emit(w, s, n, (int)n, CONVO_STYLE_NOTE);
    wrap_row_end(w);
}

static void layout_msg(message *m, int width)
{
    wrap_text_reset(&m->layout);
    int flags = SANITIZE_MULTILINE | (m->streaming ? SANITIZE_PARTIAL : 0);
    size_t sn = 0;
    char *s = sanitize_dup(m->text ? m->text : "", m->len, flags, &sn);
    if (!s) { m->layout.oom = 1; return; }
    if (m->role == CONVO_MODEL) {
        md_layout(s, sn, width, &m->layout);
    } else {
        while (sn > 0 && s[sn - 1] == '\n') sn--;   // a typed trailing newline is not a row
        wrap_lines(s, sn, width, 0, &m->layout);
    }
    free(s);
    if (m->layout.nrows == 0) {         // a reply that has not started yet still has its row
        wrap_row_begin(&m->layout, 0);
        wrap_row_end(&m->layout);
    }
    if (m->label) note_row(&m->layout, m->label, width);
    if (m->stopped) note_row(&m->layout, "[stopped]", width);
    m->width = width;
    m->dirty = 0;
}

static int is_meta(convo_role r) { return r == CONVO_NOTICE || r == CONVO_ERROR; }

size_t convo_layout(convo *c, int width)
{
    size_t row = 0;
    for (size_t i = 0; i < c->n; i++) {
        message *m = &c->msgs[i];
        if (m->dirty || m->width != width) layout_msg(m, width);
        /* A blank row between messages, except inside a run of notices,
         * which read better as one block. */
        m->sep = i > 0 && !(is_meta(m->role) && is_meta(c->msgs[i - 1].role));
        m->start = row;
        row += (size_t)m->sep + m->layout.nrows;
    }
    c->total = row;
    return row;
}

size_t convo_msg_row(const convo *c, size_t i)
{
    if (i >= c->n) return c->total;
    return c->msgs[i].start + (size_t)c->msgs[i].sep;
}

void convo_line_at(const convo *c, size_t r, convo_line *out)
{
    memset(out, 0, sizeof *out);
    if (c->n == 0) return;
    /* Binary search for the last message starting at or before r. */
    size_t lo = 0, hi = c->n;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->msgs[mid].start <= r) lo = mid; else hi = mid;
    }
    const message *m = &c->msgs[lo];
    out->role = m->role;
    out->msg = lo;
    out->streaming = m->streaming;
    size_t k = r - m->start;
    if (k < (size_t)m->sep) return;         // separator row
    k -= (size_t)m->sep;
    if (k >= m->layout.nrows) return;
    out->text = &m->layout;
    out->row = k;
    out->first = k == 0;
    out->last = k + 1 == m->layout.nrows;
}
