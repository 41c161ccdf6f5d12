/* ledit.c: readline's callback interface, drawn by ui (see ledit.h). */
#include "render/ledit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#define HISTORY_DEFAULT 1000

static unsigned char g_q[1024];     // key bytes waiting for readline
static size_t g_qh, g_qt;           // read and write positions in g_q
static char *g_line;                // submitted, not yet taken
static int g_redraw;
static char *g_listing;
static char g_hist_path[4096];
static FILE *g_devnull;
static ledit_words_fn g_words;
static void *g_words_ctx;
static int g_active;
static int g_hist_max;

/* ---- readline hooks ---- */

/* readline reads keys from our queue. In callback mode it asks for exactly
 * one byte per rl_callback_read_char call, and we only call that while bytes
 * are queued; an empty queue answers NUL (set-mark), which is harmless. */
static int q_getc(FILE *f)
{
    (void)f;
    if (g_qh == g_qt) return 0;
    return g_q[g_qh++];
}

static int q_available(void) { return g_qh != g_qt; }

static void redisplay(void) { g_redraw = 1; }
static void no_prep(int meta) { (void)meta; }
static void no_deprep(void) {}

/* ---- history file ---- */

static int mkdirs(const char *path)
{
    char tmp[sizeof g_hist_path];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0700) && errno != EEXIST) return -1;
        *p = '/';
    }
    return 0;
}

static void write_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') fputs("\\\\", f);
        else if (*s == '\n') fputs("\\n", f);
        else if (*s == '\r') fputs("\\r", f);
        else fputc(*s, f);
    }
    fputc('\n', f);
}

static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 'r' || s[1] == '\\')) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 'r' ? '\r' : '\\';
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

/* Rewrites the file with the entries in memory (already trimmed), through a
 * temporary file and rename so a failure leaves the old file whole. */
static void history_rewrite(void)
{
    char tmp[sizeof g_hist_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_hist_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    HIST_ENTRY **list = history_list();
    for (int i = 0; list && list[i]; i++) write_escaped(f, list[i]->line);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (ok) rename(tmp, g_hist_path);
    else unlink(tmp);
}

static void history_load(gc_err *warn)
{
    FILE *f = fopen(g_hist_path, "r");
    if (!f) {
        if (errno != ENOENT) gc_errf(warn, "%s: %s (history not loaded)", g_hist_path, strerror(errno));
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n') line[n - 1] = 0;
        unescape(line);
        if (*line) { add_history(line); count++; }
    }
    free(line);
    fclose(f);
    /* The file only grows while running (one append per line); it is
     * trimmed to the newest entries when loaded. */
    if (count > g_hist_max) history_rewrite();
}

static void history_append(const char *line)
{
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && !strcmp(last->line, line)) return;
    add_history(line);
    if (!g_hist_path[0]) return;
    FILE *f = fopen(g_hist_path, "a");
    if (!f) return;
    fchmod(fileno(f), 0600);
    write_escaped(f, line);
    fclose(f);
}

/* ---- the line ---- */

static void on_line(char *line)
{
    if (!line) return;      // EOF: ui handles Ctrl-D itself, so this is readline's own doing
    size_t n = strlen(line);    // trailing blanks (a completion's space, a last newline) mean nothing
    while (n > 0 && isspace((unsigned char)line[n - 1])) line[--n] = 0;
    int blank = 1;
    for (const char *p = line; *p; p++)
        if (!isspace((unsigned char)*p)) { blank = 0; break; }
    if (!blank) history_append(line);
    free(g_line);
    g_line = line;
    g_redraw = 1;
}

/* ---- completion ---- */

static const char *const *g_cands;
static int g_ncands, g_cidx;

static char *generate(const char *text, int state)
{
    if (!state) g_cidx = 0;
    size_t tl = strlen(text);
    while (g_cidx < g_ncands) {
        const char *c = g_cands[g_cidx++];
        if (c && !strncasecmp(c, text, tl)) return strdup(c);
    }
    return NULL;
}

/* Completes the first word from the command list, and the first argument
 * from that command's list; nothing else (never file names). */
static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;
    if (!g_words) return NULL;
    const char *l = rl_line_buffer;
    int i = 0;
    while (i < start && isspace((unsigned char)l[i])) i++;
    int n = 0;
    if (i == start) {
        g_cands = g_words(g_words_ctx, NULL, &n);
    } else {
        int j = i;
        while (j < start && !isspace((unsigned char)l[j])) j++;
        int k = j;
        while (k < start && isspace((unsigned char)l[k])) k++;
        if (k != start) return NULL;            // past the first argument
        char cmd[64];
        if (j - i >= (int)sizeof cmd) return NULL;
        memcpy(cmd, l + i, (size_t)(j - i));
        cmd[j - i] = 0;
        g_cands = g_words(g_words_ctx, cmd, &n);
    }
    g_ncands = g_cands ? n : 0;
    if (g_ncands == 0) return NULL;
    return rl_completion_matches(text, generate);
}

static void show_matches(char **matches, int num, int max_len)
{
    (void)max_len;
    size_t cap = 1;
    for (int i = 1; i <= num; i++) cap += strlen(matches[i]) + 2;
    char *s = malloc(cap);
    if (!s) return;
    size_t k = 0;
    for (int i = 1; i <= num; i++) {
        size_t m = strlen(matches[i]);
        if (i > 1) { s[k++] = ' '; s[k++] = ' '; }
        memcpy(s + k, matches[i], m);
        k += m;
    }
    s[k] = 0;
    free(g_listing);
    g_listing = s;
    g_redraw = 1;
}

/* ---- setup ---- */

int ledit_begin(const char *history_path, int history_max, ledit_words_fn words, void *ctx, gc_err *warn)
{
    if (warn) warn->msg[0] = 0;
    g_hist_max = history_max > 0 ? history_max : HISTORY_DEFAULT;
    g_words = words;
    g_words_ctx = ctx;
    g_qh = g_qt = 0;
    g_devnull = fopen("/dev/null", "w");
    rl_readline_name = "gemma-chat";
    rl_instream = stdin;
    rl_outstream = g_devnull ? g_devnull : stderr;
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_getc_function = q_getc;
    rl_input_available_hook = q_available;
    rl_redisplay_function = redisplay;
    rl_prep_term_function = no_prep;
    rl_deprep_term_function = no_deprep;
    rl_attempted_completion_function = complete;
    rl_completion_display_matches_hook = show_matches;
    rl_basic_word_break_characters = " \t\n";
    rl_initialize();    // reads ~/.inputrc; the settings below win over it
    rl_variable_bind("bell-style", "none");
    rl_variable_bind("show-all-if-ambiguous", "on");
    rl_variable_bind("completion-ignore-case", "on");
    rl_variable_bind("echo-control-characters", "off");
    rl_variable_bind("enable-bracketed-paste", "off");     // ui handles pastes
    using_history();
    stifle_history(g_hist_max);
    g_hist_path[0] = 0;
    if (history_path && *history_path) {
        if (strlen(history_path) >= sizeof g_hist_path) {
            gc_errf(warn, "history path too long: %.64s...", history_path);
        } else {
            snprintf(g_hist_path, sizeof g_hist_path, "%s", history_path);
            if (mkdirs(g_hist_path)) gc_errf(warn, "%s: cannot create its directory: %s", g_hist_path, strerror(errno));
            else history_load(warn);
        }
    }
    rl_callback_handler_install("", on_line);
    g_active = 1;
    return 0;
}

void ledit_end(void)
{
    if (!g_active) return;
    rl_callback_handler_remove();
    clear_history();
    free(g_line);
    g_line = NULL;
    free(g_listing);
    g_listing = NULL;
    if (g_devnull) fclose(g_devnull);
    g_devnull = NULL;
    rl_outstream = stdout;
    g_active = 0;
}

void ledit_feed(const char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (g_qt == sizeof g_q) {               // compact; a key is never this long
            memmove(g_q, g_q + g_qh, g_qt - g_qh);
            g_qt -= g_qh;
            g_qh = 0;
            if (g_qt == sizeof g_q) break;
        }
        g_q[g_qt++] = (unsigned char)bytes[i];
    }
    while (g_active && g_qh != g_qt) {
        size_t before = g_qh;
        rl_callback_read_char();
        if (g_qh == before) break;      // readline took nothing: never spin
    }
    g_qh = g_qt = 0;
}

char *ledit_take_line(void)
{
    char *l = g_line;
    g_line = NULL;
    return l;
}

const char *ledit_text(size_t *len, size_t *point)
{
    const char *b = rl_line_buffer ? rl_line_buffer : "";
    size_t n = rl_line_buffer ? (size_t)rl_end : 0;
    if (len) *len = n;
    if (point) *point = rl_point < 0 ? 0 : (size_t)rl_point > n ? n : (size_t)rl_point;
    return b;
}

const char *ledit_message(void)
{
    if (rl_display_prompt && rl_display_prompt != rl_prompt && rl_display_prompt[0]) return rl_display_prompt;
    return NULL;
}

void ledit_clear(void)
{
    rl_callback_sigcleanup();
    rl_replace_line("", 1);
    rl_point = rl_mark = 0;
    history_set_pos(history_length);    // Up starts again from the newest entry
    g_redraw = 1;
}

void ledit_insert(const char *s, size_t n)
{
    char *t = malloc(n + 1);
    if (!t) return;
    memcpy(t, s, n);
    t[n] = 0;
    rl_insert_text(t);
    free(t);
    g_redraw = 1;
}

void ledit_set_text(const char *s)
{
    rl_replace_line(s, 1);
    rl_point = rl_end;
    g_redraw = 1;
}

int ledit_take_redraw(void)
{
    int r = g_redraw;
    g_redraw = 0;
    return r;
}

char *ledit_take_listing(void)
{
    char *l = g_listing;
    g_listing = NULL;
    return l;
}
