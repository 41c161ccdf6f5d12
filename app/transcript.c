#include "app/transcript.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/paths.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "app/ydoc.h"

static const ydoc_limits tr_limits = {
    .max_bytes = TR_MAX_FILE_BYTES, .max_depth = 16, .max_nodes = 8u << 20, .max_map_keys = 64,
};

#define TR_FORMAT_NAME "gemma-chat-transcript"
#define TR_MAX_META_BYTES 4096
#define TR_MAX_SIZE (1ll << 53)

const char *tr_role_name(tr_role r)
{
    return r == TR_USER ? "user" : r == TR_MODEL ? "model" : "notice";
}

/* --- the text being written (base/buf.h; out of memory checked once, in text_finish) --- */

static void text_indent(gc_buf *b, int n)
{
    for (int i = 0; i < n; i++) gc_buf_add(b, " ", 1);
}

static int text_finish(gc_buf *b, char **out, size_t *len, gc_err *err)
{
    char *p = b->p ? gc_buf_take(b, len) : NULL;   /* nothing written: an append failed */
    if (!p) {
        gc_buf_free(b);
        return gc_errf(err, "out of memory");
    }
    *out = p;
    return 0;
}

/* --- time --- */

void tr_format_time(long long t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) { snprintf(buf, 32, "1970-01-01T00:00:00Z"); return; }
    if (!strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(buf, 32, "1970-01-01T00:00:00Z");
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int tr_parse_time(const char *s, long long *out)
{
    int Y, M, D, h, m, sec;
    if (strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) || s[7] != '-' ||
        !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return -1;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (Y < 1970 || Y > 9999 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return -1;
        while (*p >= '0' && *p <= '9') p++;
    }
    long long off = 0;
    if ((p[0] == 'Z' || p[0] == 'z') && !p[1]) {
        off = 0;
    } else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59) return -1;
        off = (oh * 3600ll + om * 60) * (p[0] == '-' ? -1 : 1);
    } else {
        return -1;
    }
    struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m,
                     .tm_sec = sec };
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = (long long)t - off;
    return 0;
}

/* --- building --- */

/* A new generation number, never reused in this process. */
static void touch(tr_transcript *t)
{
    static unsigned long long counter;
    t->gen = ++counter;
}

static int set_str(char **dst, const char *s, gc_err *err)
{
    char *c = strdup(s ? s : "");
    if (!c) return gc_errf(err, "out of memory");
    free(*dst);
    *dst = c;
    return 0;
}

int tr_create(tr_transcript **out, gc_err *err)
{
    *out = NULL;
    tr_transcript *t = calloc(1, sizeof *t);
    if (!t) return gc_errf(err, "out of memory");
    t->created = t->updated = (long long)time(NULL);
    t->model_size = -1;
    touch(t);
    if (set_str(&t->model_name, "", err) || set_str(&t->model_arch, "", err) || set_str(&t->model_file, "", err) ||
        set_str(&t->persona_name, "", err) || set_str(&t->persona_instruction, "", err)) {
        tr_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tr_free(tr_transcript *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_msgs; i++) free(t->msgs[i].text);
    free(t->msgs);
    free(t->path);
    free(t->model_name);
    free(t->model_arch);
    free(t->model_file);
    free(t->persona_name);
    free(t->persona_instruction);
    free(t);
}

int tr_set_model(tr_transcript *t, const char *name, const char *arch, const char *file, long long size,
                 gc_err *err)
{
    if (!strcmp(t->model_name, name ? name : "") && !strcmp(t->model_arch, arch ? arch : "") &&
        !strcmp(t->model_file, file ? file : "") && t->model_size == size)
        return 0;
    touch(t);
    if (set_str(&t->model_name, name, err) || set_str(&t->model_arch, arch, err) ||
        set_str(&t->model_file, file, err))
        return -1;
    t->model_size = size;
    return 0;
}

int tr_set_persona(tr_transcript *t, const char *name, const char *instruction, gc_err *err)
{
    touch(t);
    return set_str(&t->persona_name, name, err) || set_str(&t->persona_instruction, instruction, err) ? -1 : 0;
}

static bool same_sampling(const cfg_sampling *a, const cfg_sampling *b)
{
    return a->temperature == b->temperature && a->top_k == b->top_k && a->top_p == b->top_p &&
           a->min_p == b->min_p && a->repeat_penalty == b->repeat_penalty && a->repeat_last_n == b->repeat_last_n &&
           a->seed == b->seed;
}

void tr_set_sampling(tr_transcript *t, const cfg_sampling *s)
{
    if (t->has_sampling && same_sampling(&t->sampling, s)) return;
    touch(t);
    t->sampling = *s;
    t->has_sampling = true;
}

/* Copy of s with each invalid UTF-8 byte replaced by U+FFFD. */
static char *utf8_repair(const char *s, size_t len)
{
    size_t bad = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_invalid_at(s + i, len - i);
        i += k;
        if (i < len) { bad++; i++; }
    }
    char *o = malloc(len + bad * 2 + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_invalid_at(s + i, len - i);
        memcpy(o + j, s + i, k);
        j += k;
        i += k;
        if (i < len) { memcpy(o + j, "\xEF\xBF\xBD", 3); j += 3; i++; }
    }
    o[j] = 0;
    return o;
}

size_t tr_len(const tr_transcript *t) { return t->n_path; }
tr_message *tr_msg(const tr_transcript *t, size_t i) { return &t->msgs[t->path[i]]; }

static int push_path(tr_transcript *t, size_t idx, gc_err *err)
{
    if (GC_GROW(t->path, t->cap_path, t->n_path + 1)) return gc_errf(err, "out of memory");
    t->path[t->n_path++] = idx;
    return 0;
}

/* Appends m to msgs (its parent already set), not to the current branch. */
static int push_msg(tr_transcript *t, tr_message m, gc_err *err)
{
    if (t->n_msgs >= TR_MAX_MESSAGES) return gc_errf(err, "too many messages (at most %d)", TR_MAX_MESSAGES);
    if (GC_GROW(t->msgs, t->cap_msgs, t->n_msgs + 1)) return gc_errf(err, "out of memory");
    t->msgs[t->n_msgs++] = m;
    return 0;
}

int tr_add(tr_transcript *t, tr_role role, const char *text, long long tokens, double tok_s, gc_err *err)
{
    size_t len = strlen(text);
    if (len > TR_MAX_TEXT_BYTES) return gc_errf(err, "message too long (%zu bytes, at most %u)", len, TR_MAX_TEXT_BYTES);
    tr_message m = { .role = role, .tokens = tokens < 0 ? -1 : tokens, .tok_s = tok_s >= 0 ? tok_s : -1,
                     .time = (long long)time(NULL),
                     .parent = t->n_path ? (long long)t->path[t->n_path - 1] : -1 };
    if (!(m.text = utf8_repair(text, len))) return gc_errf(err, "out of memory");
    if (push_msg(t, m, err)) { free(m.text); return -1; }
    if (push_path(t, t->n_msgs - 1, err)) { free(t->msgs[--t->n_msgs].text); return -1; }
    touch(t);
    return 0;
}

static bool has_children(const tr_transcript *t, size_t idx)
{
    for (size_t i = idx + 1; i < t->n_msgs; i++)
        if (t->msgs[i].parent == (long long)idx) return true;
    return false;
}

/* Removes msgs[idx] (a leaf), renumbering what follows it. */
static void delete_msg(tr_transcript *t, size_t idx)
{
    free(t->msgs[idx].text);
    memmove(t->msgs + idx, t->msgs + idx + 1, (t->n_msgs - idx - 1) * sizeof *t->msgs);
    t->n_msgs--;
    for (size_t i = idx; i < t->n_msgs; i++)
        if (t->msgs[i].parent > (long long)idx) t->msgs[i].parent--;
    for (size_t i = 0; i < t->n_path; i++)
        if (t->path[i] > idx) t->path[i]--;
}

void tr_truncate(tr_transcript *t, size_t n)
{
    if (n < t->n_path) touch(t);
    while (t->n_path > n) {
        size_t idx = t->path[--t->n_path];
        if (!has_children(t, idx)) delete_msg(t, idx);
    }
}

int tr_fork(tr_transcript *t, size_t n, gc_err *err)
{
    if (n > t->n_path) return gc_errf(err, "no message %zu to fork at (the branch has %zu)", n + 1, t->n_path);
    if (n < t->n_path) touch(t);
    t->n_path = n;
    return 0;
}

size_t tr_n_branches(const tr_transcript *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_msgs; i++) n += !has_children(t, i);
    return n;
}

size_t tr_branch_leaf(const tr_transcript *t, size_t k)
{
    for (size_t i = 0; i < t->n_msgs; i++)
        if (!has_children(t, i) && k-- == 0) return i;
    return t->n_msgs;
}

size_t tr_siblings(const tr_transcript *t, size_t pos, size_t *k)
{
    long long parent = t->msgs[t->path[pos]].parent;
    size_t n = 0;
    for (size_t i = parent < 0 ? 0 : (size_t)parent + 1; i < t->n_msgs; i++) {
        if (t->msgs[i].parent != parent) continue;
        n++;
        if (i == t->path[pos]) *k = n;
    }
    return n;
}

size_t tr_sibling(const tr_transcript *t, size_t pos, int d)
{
    size_t k = 0, n = tr_siblings(t, pos, &k), want = d < 0 ? (k > 1 ? k - 1 : k) : (k < n ? k + 1 : k);
    long long parent = t->msgs[t->path[pos]].parent;
    for (size_t i = parent < 0 ? 0 : (size_t)parent + 1, j = 0; i < t->n_msgs; i++)
        if (t->msgs[i].parent == parent && ++j == want) return i;
    return t->path[pos];
}

size_t tr_newest_leaf(const tr_transcript *t, size_t idx)
{
    for (size_t i = t->n_msgs; i-- > idx;) {
        if (has_children(t, i)) continue;
        long long a = (long long)i;
        while (a > (long long)idx) a = t->msgs[a].parent;
        if (a == (long long)idx) return i;
    }
    return idx;
}

int tr_set_branch(tr_transcript *t, size_t leaf, gc_err *err)
{
    if (leaf >= t->n_msgs) return gc_errf(err, "no message %zu", leaf + 1);
    size_t depth = 0;
    for (long long i = (long long)leaf; i >= 0; i = t->msgs[i].parent) depth++;
    if (GC_GROW(t->path, t->cap_path, depth)) return gc_errf(err, "out of memory");
    t->n_path = depth;
    size_t k = depth;
    for (long long i = (long long)leaf; i >= 0; i = t->msgs[i].parent) t->path[--k] = (size_t)i;
    touch(t);
    return 0;
}

/* --- YAML writing --- */

/* Characters a literal block scalar carries as they are. Everything else
 * (controls, CR, NEL, line/paragraph separators that libyaml treats as line
 * breaks, a BOM) needs the escapes of a double-quoted scalar. */
static bool block_char(uint32_t c)
{
    return c == '\n' || c == '\t' || (c >= 0x20 && c <= 0x7E) || (c >= 0xA0 && c <= 0xD7FF && c != 0x2028 &&
           c != 0x2029) || (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF) || c >= 0x10000;
}

static void emit_quoted(gc_buf *b, const char *s, size_t len)
{
    gc_buf_add(b, "\"", 1);
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = utf8_decode(s + i, len - i, &c);
        if (!k) { gc_buf_puts(b, "\\uFFFD"); i++; continue; }
        switch (c) {
        case '"': gc_buf_puts(b, "\\\""); break;
        case '\\': gc_buf_puts(b, "\\\\"); break;
        case '\n': gc_buf_puts(b, "\\n"); break;
        case '\t': gc_buf_puts(b, "\\t"); break;
        case '\r': gc_buf_puts(b, "\\r"); break;
        case 0x1B: gc_buf_puts(b, "\\e"); break;
        default:
            if (c < 0x20 || c == 0x7F) gc_buf_printf(b, "\\x%02X", (unsigned)c);
            else if ((c >= 0x80 && c < 0xA0) || c == 0x2028 || c == 0x2029 || c == 0xFEFF || c == 0xFFFE ||
                     c == 0xFFFF)
                gc_buf_printf(b, "\\u%04X", (unsigned)c);
            else gc_buf_add(b, s + i, (size_t)k);
        }
        i += (size_t)k;
    }
    gc_buf_add(b, "\"", 1);
}

/* A string value after "key: " at the given indentation (of the key). */
static void emit_text(gc_buf *b, int indent, const char *s)
{
    size_t len = strlen(s);
    bool block = len > 0;
    for (size_t i = 0; i < len && block;) {
        uint32_t c;
        int k = utf8_decode(s + i, len - i, &c);
        if (!k || !block_char(c)) block = false;
        i += k ? (size_t)k : 1;
    }
    if (!block) {
        emit_quoted(b, s, len);
        gc_buf_add(b, "\n", 1);
        return;
    }
    size_t trail = 0;
    while (trail < len && s[len - 1 - trail] == '\n') trail++;
    gc_buf_add(b, "|", 1);
    /* Explicit indentation when the first line would mislead the parser's
     * auto-detection (leading space/tab, or leading empty lines). */
    if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n') gc_buf_add(b, "2", 1);
    /* Clip keeps one final break only after content: all-newline text needs keep. */
    gc_buf_puts(b, trail == 0 ? "-" : trail == 1 && trail < len ? "" : "+");
    gc_buf_add(b, "\n", 1);
    size_t body = trail ? len - trail + 1 : len;   /* lines up to and including the first final break */
    size_t i = 0;
    while (i < body) {
        const char *nl = memchr(s + i, '\n', body - i);
        size_t end = nl ? (size_t)(nl - s) : body;
        if (end > i) {
            text_indent(b, indent + 2);
            gc_buf_add(b, s + i, end - i);
        }
        gc_buf_add(b, "\n", 1);
        i = end + 1;
    }
    for (size_t j = 1; j < trail; j++) gc_buf_add(b, "\n", 1);
}

/* A one-line metadata string: plain when unambiguous, else double-quoted. */
static void emit_inline(gc_buf *b, const char *s)
{
    bool plain = s[0] && !strchr("0123456789.+-", s[0]) && s[strlen(s) - 1] != ' ';
    for (const char *p = s; *p && plain; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("_.+- ()", *p)))
            plain = false;
    bool bv;
    if (plain && (ydoc_is_null_text(s) || !ydoc_parse_bool(s, &bv))) plain = false;
    if (plain) gc_buf_puts(b, s);
    else emit_quoted(b, s, strlen(s));
    gc_buf_add(b, "\n", 1);
}

/* Shortest decimal text that reads back as the same double. */
static void fmt_double(double v, char *buf, size_t n)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e") && strlen(buf) + 2 < n) strcat(buf, ".0");
}

/* The same for a float: 0.95f prints as 0.95, not 0.949999988. */
static void fmt_float(float v, char *buf, size_t n)
{
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e") && strlen(buf) + 2 < n) strcat(buf, ".0");
}

int tr_to_yaml(const tr_transcript *t, char **out, size_t *len, gc_err *err)
{
    gc_buf b = { 0 };
    char tb[32], num[40];
    gc_buf_puts(&b, "# gemma-chat transcript (format: docs/transcript-format.md)\n");
    gc_buf_puts(&b, "format: " TR_FORMAT_NAME "\n");
    gc_buf_printf(&b, "version: %d\n", TR_FORMAT_VERSION);
    /* ids are positions in msgs, from 1 */
    if (t->n_msgs) gc_buf_printf(&b, "current: %zu\n", t->n_path ? t->path[t->n_path - 1] + 1 : 0);
    tr_format_time(t->created, tb);
    gc_buf_printf(&b, "created: %s\n", tb);
    tr_format_time(t->updated, tb);
    gc_buf_printf(&b, "updated: %s\n", tb);
    gc_buf_puts(&b, "model:\n  name: ");
    emit_inline(&b, t->model_name);
    gc_buf_puts(&b, "  arch: ");
    emit_inline(&b, t->model_arch);
    gc_buf_puts(&b, "  file: ");
    emit_inline(&b, t->model_file);
    if (t->model_size >= 0) gc_buf_printf(&b, "  size: %lld\n", t->model_size);
    gc_buf_puts(&b, "persona:\n  name: ");
    emit_inline(&b, t->persona_name);
    gc_buf_puts(&b, "  instruction: ");
    emit_text(&b, 2, t->persona_instruction);
    if (t->has_sampling) {
        const cfg_sampling *s = &t->sampling;
        gc_buf_puts(&b, "sampling:\n");
        fmt_float(s->temperature, num, sizeof num);
        gc_buf_printf(&b, "  temperature: %s\n  top_k: %d\n", num, s->top_k);
        fmt_float(s->top_p, num, sizeof num);
        gc_buf_printf(&b, "  top_p: %s\n", num);
        fmt_float(s->min_p, num, sizeof num);
        gc_buf_printf(&b, "  min_p: %s\n", num);
        fmt_float(s->repeat_penalty, num, sizeof num);
        gc_buf_printf(&b, "  repeat_penalty: %s\n  repeat_last_n: %d\n  seed: %lld\n", num, s->repeat_last_n, s->seed);
    }
    gc_buf_puts(&b, t->n_msgs ? "messages:\n" : "messages: []\n");
    for (size_t i = 0; i < t->n_msgs; i++) {
        const tr_message *m = &t->msgs[i];
        gc_buf_printf(&b, "  - id: %zu\n", i + 1);
        if (m->parent >= 0) gc_buf_printf(&b, "    parent: %lld\n", m->parent + 1);
        gc_buf_printf(&b, "    role: %s\n    text: ", tr_role_name(m->role));
        emit_text(&b, 4, m->text);
        if (m->time >= 0) {
            tr_format_time(m->time, tb);
            gc_buf_printf(&b, "    time: %s\n", tb);
        }
        if (m->role != TR_MODEL) continue;     /* tokens and tok_s describe replies */
        if (m->tokens >= 0) gc_buf_printf(&b, "    tokens: %lld\n", m->tokens);
        if (m->tok_s >= 0) {
            fmt_double(m->tok_s, num, sizeof num);
            gc_buf_printf(&b, "    tok_s: %s\n", num);
        }
    }
    return text_finish(&b, out, len, err);
}

int tr_save(tr_transcript *t, const char *path, gc_err *err)
{
    long long before = t->updated;
    t->updated = (long long)time(NULL);
    char *y;
    size_t len;
    if (tr_to_yaml(t, &y, &len, err)) { t->updated = before; return -1; }
    int rc = paths_write_atomic(path, y, len, 0600, err);
    free(y);
    if (rc < 0) t->updated = before;   /* rc 1: the file holds the new time, though not synced */
    return rc;
}

/* --- YAML reading --- */

/* Strict key check: every key of map must be in `allowed`. */
static int only_keys(const ydoc *d, const ydoc_node *map, const char *where, const char *const *allowed, gc_err *err)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const ydoc_node *k = map->kids[i];
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strlen(*a) == k->len && !strcmp(k->str, *a);
        if (!ok) {
            char shown[64], list[256] = "";
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            return ydoc_errf(d, k, err, "unknown key %s in %s (expected: %s)", ydoc_describe(k, shown, sizeof shown),
                             where, list);
        }
    }
    return 0;
}

static int need(const ydoc *d, const ydoc_node *map, const char *key, const char *where, const ydoc_node **out,
                gc_err *err)
{
    *out = ydoc_map_get(map, key);
    if (!*out) return ydoc_errf(d, map, err, "'%s' is missing in %s", key, where);
    return 0;
}

static int get_time(const ydoc *d, const ydoc_node *n, const char *key, long long *out, gc_err *err)
{
    const char *s;
    if (ydoc_get_str(d, n, key, 64, &s, err)) return -1;
    if (tr_parse_time(s, out))
        return ydoc_errf(d, n, err, "'%s' must be an ISO 8601 time like 2025-01-31T12:00:00Z, got '%s'", key, s);
    return 0;
}

/* A text value: a string, valid UTF-8 (escapes can produce anything), no NUL. */
static int get_text(const ydoc *d, const ydoc_node *n, const char *key, size_t max, char **dst, gc_err *err)
{
    const char *s;
    if (ydoc_get_str(d, n, key, max, &s, err)) return -1;
    if (utf8_invalid_at(s, n->len) != n->len) return ydoc_errf(d, n, err, "'%s' is not valid UTF-8", key);
    return set_str(dst, s, err);
}

/* The index in msgs of the message with this id (ids[] increases), or -1. */
static long long index_of_id(const long long *ids, size_t n, long long id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && ids[lo] == id ? (long long)lo : -1;
}

/* Message t->n_msgs; version 2 gives each an id (ids[], increasing) and a
 * parent among the earlier ones, version 1 makes it follow the one before. */
static int read_message(const ydoc *d, const ydoc_node *mn, long long version, long long *ids, tr_transcript *t,
                        gc_err *err)
{
    static const char *const mkeys1[] = { "role", "text", "time", "tokens", "tok_s", NULL };
    static const char *const mkeys2[] = { "id", "parent", "role", "text", "time", "tokens", "tok_s", NULL };
    if (ydoc_want(d, mn, YDOC_MAP, "messages[]", err) ||
        only_keys(d, mn, "a message", version >= 2 ? mkeys2 : mkeys1, err))
        return -1;
    const ydoc_node *v;
    const char *s;
    tr_message m = { .tokens = -1, .tok_s = -1, .time = -1, .parent = (long long)t->n_msgs - 1 };
    if (version >= 2) {
        long long id, parent;
        if (need(d, mn, "id", "a message", &v, err) || ydoc_get_int(d, v, "id", 1, TR_MAX_SIZE, &id, err)) return -1;
        if (t->n_msgs && id <= ids[t->n_msgs - 1])
            return ydoc_errf(d, v, err, id == ids[t->n_msgs - 1] || index_of_id(ids, t->n_msgs, id) >= 0 ?
                             "duplicate message id %lld" : "message id %lld is not greater than the one before (%lld)",
                             id, ids[t->n_msgs - 1]);
        ids[t->n_msgs] = id;
        m.parent = -1;
        if ((v = ydoc_map_get(mn, "parent"))) {
            if (ydoc_get_int(d, v, "parent", 1, TR_MAX_SIZE, &parent, err)) return -1;
            if ((m.parent = index_of_id(ids, t->n_msgs, parent)) < 0)
                return ydoc_errf(d, v, err, "parent %lld is not the id of an earlier message", parent);
        }
    }
    if (need(d, mn, "role", "a message", &v, err) || ydoc_get_str(d, v, "role", 16, &s, err)) return -1;
    if (!strcmp(s, "user")) m.role = TR_USER;
    else if (!strcmp(s, "model")) m.role = TR_MODEL;
    else if (!strcmp(s, "notice")) m.role = TR_NOTICE;
    else return ydoc_errf(d, v, err, "'role' must be user, model or notice, got '%s'", s);
    if ((v = ydoc_map_get(mn, "time")) && get_time(d, v, "time", &m.time, err)) return -1;
    if ((v = ydoc_map_get(mn, "tokens")) && ydoc_get_int(d, v, "tokens", 0, INT32_MAX, &m.tokens, err)) return -1;
    if ((v = ydoc_map_get(mn, "tok_s")) && ydoc_get_double(d, v, "tok_s", 0, 1e9, &m.tok_s, err)) return -1;
    if (need(d, mn, "text", "a message", &v, err) || get_text(d, v, "text", TR_MAX_TEXT_BYTES, &m.text, err))
        return -1;
    /* tokens and tok_s describe replies: on another message (older files put
     * the prompt's there) they are read, and dropped. */
    if (m.role != TR_MODEL) { m.tokens = -1; m.tok_s = -1; }
    if (push_msg(t, m, err)) { free(m.text); return -1; }
    return 0;
}

static int from_doc(tr_transcript *t, const ydoc *d, gc_err *err)
{
    static const char *const top1[] = { "format", "version", "created", "updated", "model", "persona",
                                        "sampling", "messages", NULL };
    static const char *const top2[] = { "format", "version", "current", "created", "updated", "model", "persona",
                                        "sampling", "messages", NULL };
    static const char *const mkeys[] = { "name", "arch", "file", "size", NULL };
    static const char *const pkeys[] = { "name", "instruction", NULL };
    static const char *const skeys[] = { "temperature", "top_k", "top_p", "min_p", "repeat_penalty",
                                         "repeat_last_n", "seed", NULL };
    const ydoc_node *r = d->root, *v, *sec;
    const char *s;
    long long iv;
    if (!r || ydoc_is_null(r)) return ydoc_errf(d, NULL, err, "empty file: not a gemma-chat transcript");
    if (r->kind != YDOC_MAP) return ydoc_errf(d, r, err, "not a gemma-chat transcript (the top level must be a mapping)");
    if (need(d, r, "format", "the transcript", &v, err) || ydoc_get_str(d, v, "format", 64, &s, err)) return -1;
    if (strcmp(s, TR_FORMAT_NAME)) return ydoc_errf(d, v, err, "'format' must be '" TR_FORMAT_NAME "', got '%s'", s);
    if (need(d, r, "version", "the transcript", &v, err) || ydoc_get_int(d, v, "version", 1, INT32_MAX, &iv, err))
        return -1;
    if (iv > TR_FORMAT_VERSION)
        return ydoc_errf(d, v, err, "transcript format version %lld is newer than this gemma-chat reads (%d)", iv,
                         TR_FORMAT_VERSION);
    long long version = iv;
    if (only_keys(d, r, "the transcript", version >= 2 ? top2 : top1, err)) return -1;
    if (need(d, r, "created", "the transcript", &v, err) || get_time(d, v, "created", &t->created, err)) return -1;
    if (need(d, r, "updated", "the transcript", &v, err) || get_time(d, v, "updated", &t->updated, err)) return -1;

    if ((sec = ydoc_map_get(r, "model")) && !ydoc_is_null(sec)) {
        if (ydoc_want(d, sec, YDOC_MAP, "model", err) || only_keys(d, sec, "'model'", mkeys, err)) return -1;
        if ((v = ydoc_map_get(sec, "name")) && get_text(d, v, "model.name", TR_MAX_META_BYTES, &t->model_name, err))
            return -1;
        if ((v = ydoc_map_get(sec, "arch")) && get_text(d, v, "model.arch", TR_MAX_META_BYTES, &t->model_arch, err))
            return -1;
        if ((v = ydoc_map_get(sec, "file")) && get_text(d, v, "model.file", TR_MAX_META_BYTES, &t->model_file, err))
            return -1;
        if ((v = ydoc_map_get(sec, "size")) && ydoc_get_int(d, v, "model.size", 0, TR_MAX_SIZE, &t->model_size, err))
            return -1;
    }
    if ((sec = ydoc_map_get(r, "persona")) && !ydoc_is_null(sec)) {
        if (ydoc_want(d, sec, YDOC_MAP, "persona", err) || only_keys(d, sec, "'persona'", pkeys, err)) return -1;
        if ((v = ydoc_map_get(sec, "name"))) {
            if (get_text(d, v, "persona.name", 200, &t->persona_name, err)) return -1;
            gc_err e;
            if (t->persona_name[0] && paths_check_name(t->persona_name, "persona name", &e))
                return ydoc_errf(d, v, err, "%s", e.msg);
        }
        if ((v = ydoc_map_get(sec, "instruction")) &&
            get_text(d, v, "persona.instruction", TR_MAX_TEXT_BYTES, &t->persona_instruction, err))
            return -1;
    }
    if ((sec = ydoc_map_get(r, "sampling")) && !ydoc_is_null(sec)) {
        cfg_config defaults;
        cfg_defaults(&defaults);
        t->sampling = defaults.sampling;
        unsigned mask = 0;
        if (ydoc_want(d, sec, YDOC_MAP, "sampling", err) || only_keys(d, sec, "'sampling'", skeys, err) ||
            cfg_read_sampling(d, sec, &t->sampling, &mask, NULL, NULL, err))
            return -1;
        t->has_sampling = true;
    }
    if (need(d, r, "messages", "the transcript", &v, err) || ydoc_want(d, v, YDOC_SEQ, "messages", err)) return -1;
    if (v->n > TR_MAX_MESSAGES) return ydoc_errf(d, v, err, "more than %d messages", TR_MAX_MESSAGES);
    long long *ids = malloc((v->n ? v->n : 1) * sizeof *ids);
    if (!ids) return gc_errf(err, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < v->n && !rc; i++) rc = read_message(d, v->kids[i], version, ids, t, err);
    const ydoc_node *cur = ydoc_map_get(r, "current");
    long long leaf = (long long)t->n_msgs - 1, id = 0;
    if (!rc && version >= 2 && t->n_msgs) {
        if (!cur) rc = ydoc_errf(d, r, err, "'current' is missing in the transcript (it has messages)");
        else if (ydoc_get_int(d, cur, "current", 0, TR_MAX_SIZE, &id, err)) rc = -1;
        else if (id && (leaf = index_of_id(ids, t->n_msgs, id)) < 0)
            rc = ydoc_errf(d, cur, err, "'current' %lld is not the id of a message", id);
        else if (!id) leaf = -1;
    }
    free(ids);
    if (rc) return -1;
    if (leaf >= 0) return tr_set_branch(t, (size_t)leaf, err);
    return 0;
}

static int load_doc(ydoc *d, tr_transcript **out, gc_err *err)
{
    tr_transcript *t;
    if (tr_create(&t, err)) { ydoc_free(d); return -1; }
    int rc = from_doc(t, d, err);
    ydoc_free(d);
    if (rc) { tr_free(t); return -1; }
    *out = t;
    return 0;
}

int tr_load_buf(const char *name, const char *buf, size_t len, tr_transcript **out, gc_err *err)
{
    *out = NULL;
    ydoc *d;
    if (ydoc_load_buf(name, buf, len, &tr_limits, &d, err)) return -1;
    return load_doc(d, out, err);
}

int tr_load(const char *path, tr_transcript **out, gc_err *err)
{
    *out = NULL;
    ydoc *d;
    if (ydoc_load_file(path, &tr_limits, &d, err)) return -1;
    return load_doc(d, out, err);
}

/* --- Markdown --- */

char *tr_neutralize(const char *s, size_t len)
{
    gc_buf b = { 0 };
    gc_buf_add(&b, "", 0);
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = utf8_decode(s + i, len - i, &c);
        char enc[4];
        if (!k) { gc_buf_puts(&b, "\xEF\xBF\xBD"); i++; continue; }
        uint32_t v = c == '\n' || c == '\t' ? c : utf8_visible(c);
        if (v != c) gc_buf_add(&b, enc, utf8_encode(v, enc));
        else gc_buf_add(&b, s + i, (size_t)k);
        i += (size_t)k;
    }
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

static void md_put(gc_buf *b, const char *s)
{
    char *n = tr_neutralize(s, strlen(s));
    if (!n) { b->oom = true; return; }
    gc_buf_puts(b, n);
    free(n);
}

int tr_to_markdown(const tr_transcript *t, char **out, size_t *len, gc_err *err)
{
    gc_buf b = { 0 };
    char tb[32];
    gc_buf_puts(&b, "# gemma-chat conversation\n\n");
    if (t->model_name[0] || t->model_file[0]) {
        gc_buf_puts(&b, "- Model: ");
        md_put(&b, t->model_name[0] ? t->model_name : t->model_file);
        if (t->model_name[0] && t->model_file[0]) {
            gc_buf_puts(&b, " (");
            md_put(&b, t->model_file);
            gc_buf_puts(&b, ")");
        }
        gc_buf_puts(&b, "\n");
    }
    if (t->persona_name[0]) {
        gc_buf_puts(&b, "- Persona: ");
        md_put(&b, t->persona_name);
        gc_buf_puts(&b, "\n");
    }
    if (t->has_sampling) {
        const cfg_sampling *s = &t->sampling;
        gc_buf_printf(&b, "- Sampling: temperature %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g, seed %lld\n",
                  (double)s->temperature, s->top_k, (double)s->top_p, (double)s->min_p, (double)s->repeat_penalty,
                  s->seed);
    }
    tr_format_time(t->created, tb);
    gc_buf_printf(&b, "- Created: %s\n", tb);
    tr_format_time(t->updated, tb);
    gc_buf_printf(&b, "- Updated: %s\n", tb);
    for (size_t i = 0; i < tr_len(t); i++) {
        const tr_message *m = tr_msg(t, i);
        gc_buf_puts(&b, m->role == TR_USER ? "\n## User\n\n" : m->role == TR_MODEL ? "\n## Model\n\n" : "\n## Notice\n\n");
        md_put(&b, m->text);
        if (!m->text[0] || m->text[strlen(m->text) - 1] != '\n') gc_buf_puts(&b, "\n");
        if (m->role != TR_MODEL) continue;     /* token counts describe replies */
        if (m->tokens >= 0 && m->tok_s >= 0) gc_buf_printf(&b, "\n*%lld tokens, %.1f tok/s*\n", m->tokens, m->tok_s);
        else if (m->tokens >= 0) gc_buf_printf(&b, "\n*%lld tokens*\n", m->tokens);
    }
    return text_finish(&b, out, len, err);
}

int tr_export_markdown(const tr_transcript *t, const char *path, gc_err *err)
{
    char *md;
    size_t len;
    if (tr_to_markdown(t, &md, &len, err)) return -1;
    int rc = paths_write_atomic(path, md, len, 0600, err);
    free(md);
    return rc;
}

void tr_first_words(const char *s, char *buf, size_t n)
{
    size_t len = strcspn(s, "\n\r\t"), max = 40;
    if (len > max) {
        len = max;
        while (len && ((unsigned char)s[len] & 0xC0) == 0x80) len--;
    }
    snprintf(buf, n, "%.*s%s", (int)len, s, s[len] ? "..." : "");
}

/* --- names --- */

int tr_check_name(const char *name, gc_err *err)
{
    return paths_check_name(name, "transcript name", err);
}

int tr_path(const char *dir, const char *name, const char *ext, char *buf, size_t n, gc_err *err)
{
    if (tr_check_name(name, err)) return -1;
    size_t ln = strlen(name), le = strlen(ext);
    bool has = ln > le && !strcmp(name + ln - le, ext);
    return paths_join(buf, n, err, "%s/%s%s", dir, name, has ? "" : ext);
}

/* The stem tr_default_name formats: STEM_FMT for strftime, STEM_SHAPE with
 * d for each digit it yields. */
#define STEM_FMT "%Y-%m-%d_%H-%M-%S"
static const char STEM_SHAPE[] = "dddd-dd-dd_dd-dd-dd";

bool tr_is_default_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    for (size_t i = 0; i < sizeof STEM_SHAPE - 1; i++)
        if (STEM_SHAPE[i] == 'd' ? (b[i] < '0' || b[i] > '9') : b[i] != STEM_SHAPE[i]) return false;
    const char *p = b + sizeof STEM_SHAPE - 1;
    if (*p == '-') {
        p++;
        if (*p < '0' || *p > '9') return false;
        while (*p >= '0' && *p <= '9') p++;
    }
    return !strcmp(p, ".yaml");
}

int tr_default_name(const char *dir, time_t t, char *buf, size_t n, gc_err *err)
{
    struct tm tm;
    if (!localtime_r(&t, &tm)) return gc_errf(err, "cannot format the time");
    char stem[64];
    strftime(stem, sizeof stem, STEM_FMT, &tm);
    for (int i = 1; i < 1000; i++) {
        char path[PATHS_MAX];
        if (i == 1) {
            if (paths_join(buf, n, err, "%s.yaml", stem)) return -1;
        } else if (paths_join(buf, n, err, "%s-%d.yaml", stem, i)) {
            return -1;
        }
        if (paths_join(path, sizeof path, err, "%s/%s", dir, buf)) return -1;
        if (access(path, F_OK) != 0) return 0;
    }
    return gc_errf(err, "cannot find a free transcript name for %s in '%s'", stem, dir);
}
