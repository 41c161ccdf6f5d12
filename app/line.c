/* line.c: -p / stdin one-shot replies and the --no-tui line-mode chat (see line.h).
 *
 * Signals: handlers only set flags. SIGINT during a reply stops it (between
 * tokens); SIGINT at the line-mode prompt clears the line on a terminal and
 * ends the chat otherwise. SIGTERM, SIGHUP and SIGPIPE (stdout closed) stop
 * a reply, and the main loop then autosaves and exits with 128 + the signal
 * number. The handlers are
 * installed without SA_RESTART so that a blocking select() returns at once.
 */
#include "app/line.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "app/chat.h"
#include "app/frontend.h"
#include "app/slash.h"
#include "app/transcript.h"
#include "base/buf.h"
#include "render/tty.h"

static volatile sig_atomic_t g_signal;      /* SIGTERM / SIGHUP received */
static volatile sig_atomic_t g_sigint;      /* SIGINT received while no reply was running */
static volatile sig_atomic_t g_busy;        /* a reply is running: SIGINT stops it */
static volatile sig_atomic_t *g_cancel;     /* the chat's cancel flag, once it is open */

static void on_signal(int sig)
{
    if (sig == SIGINT && g_busy) {
        if (g_cancel) *g_cancel = 1;
        g_sigint = 2;   /* remembered: a -p reply stopped by SIGINT exits 130 */
        return;
    }
    if (sig == SIGINT) {
        g_sigint = 1;
        return;
    }
    g_signal = sig;
    if (g_cancel) *g_cancel = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);      /* the reader of stdout went away: as SIGTERM, not a silent death */
}

/* --- the front end: replies to stdout, the rest to stderr --- */

typedef struct line_fe {
    chat *c;
    bool tty_out;               /* stdout is a terminal: neutralize control characters */
    bool show_stats;
    bool wrote;                 /* the reply printed something */
    bool history;               /* a loaded conversation is printed (the line-mode chat, not -p) */
    bool loaded;                /* ... and is yet to be read (restore) */
} line_fe;

/* Notices and errors may quote a transcript, a persona or a model file:
 * their control characters are shown, not sent to the terminal. */
static void put_safe(const char *prefix, const char *text)
{
    char *safe = tr_neutralize(text, strlen(text));
    fprintf(stderr, "%s%s\n", prefix, safe ? safe : "(out of memory)");
    free(safe);
}

static void fe_notice(void *u, const char *text)
{
    (void)u;
    put_safe("", text);
}

static void fe_error(void *u, const char *text)
{
    (void)u;
    put_safe("error: ", text);
}

static void fe_reply_begin(void *u)
{
    line_fe *f = u;
    f->wrote = false;
}

static int fe_reply_piece(void *u, const char *text, size_t n)
{
    line_fe *f = u;
    if (!n) return 0;
    if (f->tty_out) {
        /* Escape sequences from the model must not reach the terminal. */
        char *safe = tr_neutralize(text, n);
        if (safe) fputs(safe, stdout);
        free(safe);
    } else {
        fwrite(text, 1, n, stdout);
    }
    fflush(stdout);
    f->wrote = true;
    return 0;
}

static void fe_reply_end(void *u, const sess_stats *st)
{
    line_fe *f = u;
    if (!st) return;
    fputc('\n', stdout);
    fflush(stdout);
    if (st->end == SESS_END_CANCEL) fprintf(stderr, "[stopped]\n");
    else if (st->end == SESS_END_LIMIT) fprintf(stderr, "[reply cut at max_tokens = %d]\n", chat_max_tokens(f->c));
    else if (st->end == SESS_END_CONTEXT) fprintf(stderr, "[reply cut: the context is full]\n");
    if (f->show_stats)
        fprintf(stderr, "[prompt %d tokens, %.1f tok/s; reply %d tokens, %.1f tok/s]\n", st->prompt_tokens,
                st->prefill_tok_s, st->gen_tokens, st->decode_tok_s);
}

/* A loaded conversation (--load, /load): its messages on stderr, as the
 * chat showed them (the user's after the prompt's "> "), before the model
 * reads it. stdout keeps carrying only the replies made in this run. Its
 * notices are left out: they spoke of a context that is gone, and the load
 * gives its own. */
static void fe_reset(void *u)
{
    line_fe *f = u;
    if (!f->history) return;
    f->loaded = true;
    const tr_transcript *tr = chat_transcript(f->c);
    for (size_t i = 0; i < tr_len(tr); i++)
        if (tr_msg(tr, i)->role != TR_NOTICE) put_safe(tr_msg(tr, i)->role == TR_USER ? "> " : "", tr_msg(tr, i)->text);
}

/* Evaluates a loaded conversation now, before the next prompt: with a
 * counter on a terminal. SIGINT (the cancel flag) leaves the rest to the
 * next message's prefill; so does an error, after saying so. */
static void restore(line_fe *f)
{
    if (!f->loaded) return;     /* only after a reset: what a reply leaves goes with the next turn */
    f->loaded = false;
    chat *c = f->c;
    volatile sig_atomic_t *cancel = chat_cancel_flag(c);
    bool tty = isatty(STDERR_FILENO);
    chat_status st;
    chat_get_status(c, &st);
    int left = st.ctx_missing;
    g_busy = 1;
    while (left > 0 && !*cancel) {
        gc_err err = { 0 };
        if ((left = frontend_restore_step(c, &err)) < 0) {
            fprintf(stderr, "%serror: %s\n", tty ? "\r\033[K" : "", err.msg);
            break;
        }
        if (tty) fprintf(stderr, "\rrestoring the context %d/%d tokens", st.ctx_used - left, st.ctx_used);
    }
    if (tty && left >= 0) fputs("\r\033[K", stderr);
    g_busy = 0;
    g_sigint = 0;
    *cancel = 0;
}

/* While the kernels compile: on a terminal a line under the one that says
 * so names the step and counts the seconds, rewritten in place; at the
 * end, the time it took. */
static bool warm_tty;           /* set when the kernels compile, on a terminal */
static int warm_shown;          /* the last second shown */

static void warmup_begin(void *u, const char *device)
{
    (void)u;
    warm_tty = isatty(STDERR_FILENO);   /* the line is short: a wrapped one could not be rewritten */
    warm_shown = -1;
    fprintf(stderr, "gemma-chat: compiling the compute kernels for %s (first run of this version; up to a minute)\n",
            device);
}

static void warmup_tick(void *u, int step, int steps, double secs)
{
    (void)u;
    if (step >= steps) {
        if (warm_tty) fputs("\r\033[K", stderr);
        fprintf(stderr, "gemma-chat: compiled the compute kernels in %.0f s (cached for next time)\n", secs);
        return;
    }
    if (!warm_tty || (int)secs == warm_shown) return;
    warm_shown = (int)secs;
    fprintf(stderr, "\r\033[K  the %s kernels, %d s", step == 0 ? "prefill" : "decode", warm_shown);
}

/* The chat is open: signals may stop its replies from now on. */
static void opened(void *u, int rc)
{
    line_fe *f = u;
    (void)rc;
    if (!f->c) return;
    g_cancel = chat_cancel_flag(f->c);
    if (g_signal) *g_cancel = 1;
}

static int open_chat(line_fe *f, const cfg_config *cfg, const cli_opts *o)
{
    gc_err err = { 0 };
    install_signals();
    f->tty_out = isatty(STDOUT_FILENO);
    f->show_stats = cfg->show_stats;
    chat_fe fe = { .user = f, .notice = fe_notice, .error = fe_error, .reply_begin = fe_reply_begin,
                   .reply_piece = fe_reply_piece, .reply_end = fe_reply_end, .reset = fe_reset };
    /* The front end is set before --load: its notices (another model) go to it. */
    frontend_hooks h = { .user = f, .warn = cli_warn, .opened = opened, .compiling = warmup_begin,
                         .warm_tick = warmup_tick, .fe = &fe };
    int rc = frontend_open(&f->c, cfg, o->load, &h, &err);
    if (rc) {
        fprintf(stderr, "%sgemma-chat: %s\n", warm_tty ? "\r\033[K" : "", err.msg);
        return rc;
    }
    /* A loaded conversation, or a persona's example exchanges: read now (or
     * taken from a snapshot), so that the first reply waits only for its own
     * message. -p: its prefill does it (no history, no restore). */
    f->loaded = f->history;
    restore(f);
    return 0;
}

int line_oneshot(const cfg_config *cfg, const cli_opts *o, const char *text)
{
    line_fe f = { 0 };
    int rc = open_chat(&f, cfg, o);
    if (rc) goto done;
    gc_err err = { 0 };
    if (g_signal) { rc = 128 + g_signal; goto done; }
    g_busy = 1;
    if (chat_send(f.c, text, &err)) {
        fprintf(stderr, "gemma-chat: %s\n", err.msg);
        rc = 1;
    }
    if (g_signal) rc = 128 + g_signal;
    else if (g_sigint) rc = 128 + SIGINT;
done:
    g_cancel = NULL;
    chat_close(f.c);
    return rc;
}

/* --- line-mode chat --- */

static line_fe *g_fe;           /* for readline's callbacks, which take no context */
static bool g_eof;
static bool g_rl_installed;     /* the readline callback handler is installed */

/* Leaving: remove readline's handler at once, or it shows the prompt again. */
static void rl_stop(void)
{
    if (g_rl_installed) rl_callback_handler_remove();
    g_rl_installed = false;
}

static void handle_line(char *line)
{
    if (!line) {
        g_eof = true;
        rl_stop();
        return;
    }
    /* History is for the terminal's up arrow: lines from a pipe would only
     * pile up (a scripted session of any length grows without bound). */
    if (*line && g_rl_installed) add_history(line);
    /* SIGINT now stops the prefill or the reply, not the chat. */
    g_busy = 1;
    int quit = slash_input(g_fe->c, line);
    g_busy = 0;
    g_sigint = 0;
    if (!quit) restore(g_fe);     /* after /load */
    if (quit) {
        g_eof = true;
        rl_stop();
    }
    free(line);
}

/* Tab completion: slash commands first, then the argument of the command. */
static char **g_words;
static int g_n_words;

static void set_words(char **w, int n)
{
    chat_free_names(g_words, g_n_words);
    g_words = w;
    g_n_words = n;
}

static char *word_gen(const char *text, int state)
{
    static int i;
    if (!state) i = 0;
    size_t n = strlen(text);
    while (i < g_n_words) {
        const char *w = g_words[i++];
        if (!strncmp(w, text, n)) return strdup(w);
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1;   /* never file names */
    char **w = NULL;
    int n = 0;
    if (slash_completions(g_fe->c, rl_line_buffer, (size_t)start, &w, &n)) n = 0;
    set_words(w, n);
    return rl_completion_matches(text, word_gen);
}

/* Lines from a pipe or file: each line is one input. */
static void read_lines(char **buf, size_t *len, size_t *cap)
{
    if (gc_grow(buf, cap, *len + 4096, 1)) {
        g_eof = true;
        return;
    }
    ssize_t k = read(STDIN_FILENO, *buf + *len, *cap - *len - 1);
    if (k < 0 && errno == EINTR) return;
    if (k <= 0) {
        /* The last line may lack its newline. */
        if (*len) {
            (*buf)[*len] = 0;
            *len = 0;
            handle_line(strdup(*buf));
        }
        g_eof = true;
        return;
    }
    *len += (size_t)k;
    char *nl;
    while (!g_eof && !g_signal && (nl = memchr(*buf, '\n', *len))) {
        size_t ln = (size_t)(nl - *buf);
        char *line = strndup(*buf, ln && (*buf)[ln - 1] == '\r' ? ln - 1 : ln);
        memmove(*buf, nl + 1, *len - ln - 1);
        *len -= ln + 1;
        handle_line(line);
    }
}

int line_chat(const cfg_config *cfg, const cli_opts *o)
{
    line_fe f = { .history = true };
    /* A crash at the prompt must not leave readline's raw mode and bracketed
     * paste behind: render/tty.c restores the terminal on crash signals. Its
     * handlers for TERM/HUP/INT give way to ours (open_chat installs them). */
    bool tty = isatty(STDIN_FILENO);
    if (tty && !tty_begin(STDIN_FILENO)) tty_set_sequence("\033[?2004l", 8);
    int rc = open_chat(&f, cfg, o);
    if (rc) {
        g_cancel = NULL;
        chat_close(f.c);
        tty_end();
        return rc;
    }
    g_fe = &f;
    char banner[1024];
    frontend_banner(f.c, banner, sizeof banner);
    /* The model's name comes from the file: its escape sequences are shown, not obeyed. */
    char *safe = tr_neutralize(banner, strlen(banner));
    fprintf(stderr, "gemma-chat %s: %s\n", GC_VERSION, safe ? safe : "?");
    free(safe);
    if (tty) {
        fprintf(stderr, "Type a message and Enter; /help lists the commands; /quit or Ctrl-D leaves.\n");
        rl_instream = stdin;
        rl_outstream = stderr;      /* stdout carries replies only */
        rl_catch_signals = 0;
        rl_readline_name = "gemma-chat";
        rl_attempted_completion_function = complete;
        stifle_history(1000);
        rl_callback_handler_install("> ", handle_line);
        g_rl_installed = true;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    while (!g_eof && !g_signal) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(STDIN_FILENO, &rd);
        int r = select(STDIN_FILENO + 1, &rd, NULL, NULL, NULL);
        if (r < 0) {
            if (errno != EINTR) break;
            if (g_sigint) {
                g_sigint = 0;
                if (!tty) break;
                /* Ctrl-C at the prompt: drop the line, as a shell does. */
                rl_replace_line("", 0);
                fputs("^C\n", stderr);
                rl_on_new_line();
                rl_redisplay();
            }
            continue;
        }
        if (tty) rl_callback_read_char();
        else read_lines(&buf, &len, &cap);
    }
    rl_stop();
    free(buf);
    set_words(NULL, 0);

    gc_err err = { 0 };
    bool saved = false;
    rc = 0;
    int save_rc = chat_autosave(f.c, &saved, &err);
    if (chat_report_exit(f.c, save_rc, &err, saved, stderr)) rc = 1;
    if (g_signal) rc = 128 + g_signal;
    g_cancel = NULL;
    chat_close(f.c);
    g_fe = NULL;
    tty_end();
    return rc;
}
