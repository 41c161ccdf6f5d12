/* chat_tui.c: the chat wired to the ncurses screen (see chat_tui.h).
 *
 * The engine runs on the UI's thread: while a reply streams, the token
 * callback feeds the piece to the screen and polls the keyboard without
 * waiting (ui_poll with timeout 0), so Ctrl-C / Esc stop the reply between
 * two tokens and the screen keeps up (resizes, scrolling). Signals arrive
 * as UI_EV_SIGNAL events (render/tty.h records them); the loop then
 * autosaves and leaves. A SIGINT while a reply runs only stops the reply.
 */
#include "app/chat_tui.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/chat.h"
#include "app/frontend.h"
#include "app/line.h"
#include "app/paths.h"
#include "app/slash.h"
#include "base/clock.h"
#include "render/ui.h"

/* While the model loads, libraries may write to stderr (a Vulkan driver's
 * warning, a backend's notice), which would scribble over the screen: fd 2
 * goes to a temporary file meanwhile, and what was written is shown as
 * notices afterwards. Crash reports later on still reach the real stderr. */
typedef struct stderr_capture {
    FILE *tmp;
    int saved;                  /* the real stderr; -1 when not captured */
} stderr_capture;

typedef struct tui {
    ui *u;
    chat *c;                    /* set as soon as chat_open starts (its load progress asks it) */
    bool opened;
    int signo;                  /* a signal ended the session */
    bool quit;                  /* Ctrl-D / Ctrl-C twice during a reply */
    bool forced_quit;           /* asked to quit again after an autosave that failed: quit anyway */
    char persona[201];          /* what the status bar shows */
    double reply_t0;            /* when the reply began (live tok/s) */
    int reply_tokens;
    char **warnings;            /* collected before the screen could show them */
    int n_warnings;
    bool restore;               /* a conversation was put on the screen (load, persona): read it when idle */
    stderr_capture capture;     /* while the chat opens */
    const cli_opts *o;
} tui;

/* The status bar from the chat's status cs, with these tok/s figures. */
static void status_from(tui *t, const chat_status *cs, double pp, double tg)
{
    ui_status st = { .model = cs->model_name, .backend = cs->backend_name, .device = cs->device_name };
    if (cs->persona) {
        snprintf(t->persona, sizeof t->persona, "%s", cs->persona);
        st.persona = t->persona[0] ? t->persona : "no persona";
        st.ctx_used = cs->ctx_used;
        st.ctx_total = cs->ctx_total;
        st.ctx_window = cs->ctx_window;
    }
    st.prefill_tok_s = pp;
    st.decode_tok_s = tg;
    ui_set_status(t->u, &st);
}

static void status(tui *t, double pp, double tg)
{
    chat_status cs;
    chat_get_status(t->c, &cs);
    status_from(t, &cs, pp, tg);
}

static void status_last(tui *t)
{
    chat_status cs;
    chat_get_status(t->c, &cs);
    status_from(t, &cs, cs.last.prefill_tok_s, cs.last.decode_tok_s);
}

/* The completion lists of the commands' arguments (slash_arg_words), again
 * after each command: the personas and transcripts change as the user works. */
static void completions(tui *t)
{
    for (const slash_cmd *s = slash_cmds; s->name; s++) {
        char **w = NULL;
        int n = 0;
        if (s->arg != SLASH_ARG_NONE && s->arg != SLASH_ARG_OTHER && !slash_arg_words(t->c, s, &w, &n))
            ui_set_completions(t->u, s->name, (const char *const *)w, n);
        chat_free_names(w, n);
    }
}

/* --- the front end --- */

static void fe_notice(void *u, const char *text)
{
    tui *t = u;
    ui_add(t->u, UI_NOTICE, text);
}

static void fe_error(void *u, const char *text)
{
    tui *t = u;
    ui_add(t->u, UI_ERROR, text);
}

static void fe_reply_begin(void *u)
{
    tui *t = u;
    t->reply_t0 = gc_now_s();
    t->reply_tokens = 0;
    ui_set_busy(t->u, "generating");
    ui_stream_begin(t->u);
    ui_render(t->u);
}

/* Handles what the user did while a reply streams; nonzero stops it. */
static int poll_during_reply(tui *t)
{
    ui_event ev;
    int stop = 0;
    while (ui_poll(t->u, 0, &ev) != UI_EV_NONE) {
        switch (ev.type) {
        case UI_EV_CANCEL: stop = 1; break;
        case UI_EV_QUIT: t->quit = true; stop = 1; break;
        case UI_EV_SIGNAL:      /* SIGINT stops the reply, as Ctrl-C does; TERM/HUP end the chat */
            if (ev.signo != SIGINT) t->signo = ev.signo;
            stop = 1;
            break;
        case UI_EV_LINE:
            /* Typed ahead: give it back to the input line for later. */
            ui_set_input(t->u, ev.text);
            ui_set_notice(t->u, "A reply is streaming: Esc or Ctrl-C stops it", 3000);
            break;
        default: break;
        }
        if (stop) break;
    }
    return stop;
}

static int fe_reply_piece(void *u, const char *text, size_t n)
{
    tui *t = u;
    if (n) ui_stream_append(t->u, text, n);
    t->reply_tokens++;
    double el = gc_now_s() - t->reply_t0;
    chat_status cs;
    chat_get_status(t->c, &cs);
    status_from(t, &cs, cs.last.prefill_tok_s, el > 0 ? t->reply_tokens / el : 0);
    return poll_during_reply(t);
}

static void fe_reply_end(void *u, const sess_stats *st)
{
    tui *t = u;
    ui_stream_end(t->u, !st || st->end == SESS_END_CANCEL);
    ui_set_busy(t->u, NULL);
    if (st && st->end == SESS_END_LIMIT)
        ui_set_notice(t->u, "The reply reached max_tokens (/set max_tokens N changes it)", 5000);
    else if (st && st->end == SESS_END_CONTEXT)
        ui_set_notice(t->u, "The reply filled the context; the next message drops the oldest exchanges", 5000);
    if (st) status(t, st->prefill_tok_s, st->decode_tok_s);
    else status_last(t);
}

/* The conversation was replaced: show the transcript anew. */
static void fe_reset(void *u)
{
    tui *t = u;
    ui_clear(t->u);
    const tr_transcript *tr = chat_transcript(t->c);
    for (size_t i = 0; i < tr_len(tr); i++) {
        tr_role r = tr_msg(tr, i)->role;
        ui_add(t->u, r == TR_USER ? UI_USER : r == TR_MODEL ? UI_MODEL : UI_NOTICE, tr_msg(tr, i)->text);
        /* Where the conversation forks: which version this is. */
        size_t k = 0, n = tr_siblings(tr, i, &k);
        if (n > 1) {
            char label[64];
            snprintf(label, sizeof label, "branch %zu/%zu (Alt-Left / Alt-Right)", k, n);
            ui_label_last(t->u, label);
        }
    }
    t->restore = true;
    status_last(t);
}

/* A loaded conversation is on the screen before the model has read it: the
 * idle loop evaluates it a chunk at a time between keystrokes, under a bar.
 * A message sent meanwhile prefills the rest itself. (Only after a reset:
 * the few tokens a reply leaves unevaluated go with the next turn, whose
 * figures they belong to.) */
static bool restoring(tui *t)
{
    if (t->restore) {
        chat_status cs;
        chat_get_status(t->c, &cs);
        t->restore = t->opened && cs.ctx_missing > 0;
    }
    return t->restore;
}

static void restore_progress(tui *t, int left)
{
    chat_status cs;
    chat_get_status(t->c, &cs);
    int total = cs.ctx_used, done = total - left;
    char label[96];
    snprintf(label, sizeof label, "Restoring the context %d/%d tokens", done, total);
    ui_progress(t->u, label, total ? (double)done / total : 0);
}

static void restore_step(tui *t)
{
    gc_err err = { 0 };
    chat_status cs;
    chat_get_status(t->c, &cs);
    restore_progress(t, cs.ctx_missing);     /* the bar from the start, not after a first chunk */
    int left = frontend_restore_step(t->c, &err);
    if (left < 0) {
        t->restore = false;
        ui_progress(t->u, NULL, -1);
        ui_add(t->u, UI_ERROR, err.msg);
        return;
    }
    if (left) {
        restore_progress(t, left);
    } else {
        ui_progress(t->u, NULL, -1);
        status_last(t);
    }
}

/* /edit [N] alone: the message back in the input, as "/edit N TEXT", to edit and send. */
static void fe_edit(void *u, const char *line)
{
    tui *t = u;
    ui_set_input(t->u, line);
}

static void fe_help(void *u)
{
    tui *t = u;
    ui_show_help(t->u, 1);
}

/* Prefill progress: a bar for long prompts (a loaded conversation), and the
 * keyboard polled so that Esc / Ctrl-C stop a long prefill too. */
static int fe_progress(void *u, int done, int total)
{
    tui *t = u;
    if (total > 256) ui_progress(t->u, "Reading the prompt", (double)done / total);
    if (done >= total) ui_progress(t->u, NULL, -1);
    int stop = poll_during_reply(t);
    if (stop) ui_progress(t->u, NULL, -1);
    return stop;
}

/* --- setup --- */

static void load_progress(void *u, uint64_t done, uint64_t total)
{
    tui *t = u;
    char label[300];
    chat_status cs;
    chat_get_status(t->c, &cs);
    const char *f = strrchr(cs.model_path, '/');
    snprintf(label, sizeof label, "Loading %.200s", f ? f + 1 : cs.model_path);
    ui_progress(t->u, label, total ? (double)done / (double)total : 0);
}

/* While the kernels compile (chat_warmup's tick, on the UI thread): which
 * ones and for how long, with the spinner; keys still work (a line typed
 * meanwhile waits in the input, Ctrl-D and signals are kept for after). */
static void warmup_tick(void *u, int step, int steps, double secs)
{
    tui *t = u;
    if (step >= steps) {
        ui_set_busy(t->u, NULL);
        ui_set_notice(t->u, NULL, 0);
        return;
    }
    char msg[128];   /* short: the notice line is cut at the screen's width (the device is in the status bar) */
    snprintf(msg, sizeof msg, "Compiling the compute kernels (first run only): the %s kernels, %.0f s",
             step == 0 ? "prefill" : "decode", secs);
    ui_set_busy(t->u, "compiling");
    ui_set_notice(t->u, msg, 0);
    ui_event ev;
    while (ui_poll(t->u, 0, &ev) != UI_EV_NONE) {
        if (ev.type == UI_EV_QUIT) t->quit = true;
        else if (ev.type == UI_EV_SIGNAL) t->signo = ev.signo;
        else if (ev.type == UI_EV_LINE) ui_set_input(t->u, ev.text);
    }
}

static void collect_warning(void *u, const char *msg)
{
    tui *t = u;
    char **w = realloc(t->warnings, (size_t)(t->n_warnings + 1) * sizeof *w);
    if (!w) return;
    t->warnings = w;
    if ((w[t->n_warnings] = strdup(msg))) t->n_warnings++;
}

/* config.yaml colours as theme colours (the same 8 colours and attributes). */
static theme_color theme_of(cfg_color c)
{
    theme_color t = { .fg = c.fg, .bg = c.bg, .attrs = 0 };
    if (c.attr & CFG_ATTR_BOLD) t.attrs |= THEME_BOLD;
    if (c.attr & CFG_ATTR_DIM) t.attrs |= THEME_DIM;
    if (c.attr & CFG_ATTR_UNDERLINE) t.attrs |= THEME_UNDERLINE;
    if (c.attr & CFG_ATTR_REVERSE) t.attrs |= THEME_REVERSE;
    return t;
}

static void ui_cfg(const cfg_config *cfg, ui_config *uc)
{
    memset(uc, 0, sizeof *uc);
    /* The input history lives in the per-user state directory (app/paths.c). */
    static char hist[4096];
    gc_err e;
    hist[0] = 0;
    if (cfg->history != 0 && paths_user_dir(PATHS_STATE, hist, sizeof hist - 8, &e) == 0)
        strcat(hist, "/history");
    uc->history_path = hist;
    uc->history_max = cfg->history;
    uc->color_mode = cfg->colors == CFG_ON ? 1 : cfg->colors == CFG_OFF ? -1 : 0;
    uc->catch_signals = 1;
    uc->placeholder = "Type a message (Enter sends, Alt-Enter adds a line, /help lists commands)";
    /* Only colours the user chose replace the screen's own palette; the
     * shipped config.yaml merely documents the defaults. */
    static const struct { const char *key; int slot; size_t off; } map[] = {
        { "colors.user", THEME_USER, offsetof(cfg_config, color_user) },
        { "colors.model", THEME_MODEL, offsetof(cfg_config, color_model) },
        { "colors.notice", THEME_NOTICE, offsetof(cfg_config, color_notice) },
        { "colors.status", THEME_STATUS, offsetof(cfg_config, color_status) },
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (cfg_origin(cfg, map[i].key) < CFG_SRC_USER) continue;
        uc->colors[map[i].slot] = theme_of(*(const cfg_color *)((const char *)cfg + map[i].off));
        uc->colors_set |= 1u << map[i].slot;
    }
}

static void set_commands(tui *t)
{
    int n = slash_count();
    ui_command *cmds = calloc((size_t)n, sizeof *cmds);
    if (!cmds) return;
    for (int i = 0; i < n; i++)
        cmds[i] = (ui_command){ slash_cmds[i].name, slash_cmds[i].args, slash_cmds[i].help };
    ui_set_commands(t->u, cmds, n);
    free(cmds);
}

static void capture_begin(stderr_capture *cap)
{
    fflush(stderr);
    cap->saved = -1;
    cap->tmp = tmpfile();
    if (!cap->tmp) return;
    cap->saved = dup(STDERR_FILENO);
    if (cap->saved < 0 || dup2(fileno(cap->tmp), STDERR_FILENO) < 0) {
        if (cap->saved >= 0) close(cap->saved);
        cap->saved = -1;
    }
}

static void capture_end(tui *t, stderr_capture *cap)
{
    if (cap->saved >= 0) {
        fflush(stderr);
        dup2(cap->saved, STDERR_FILENO);
        close(cap->saved);
        rewind(cap->tmp);
        char line[1024];
        while (fgets(line, sizeof line, cap->tmp)) {
            line[strcspn(line, "\n")] = 0;
            if (line[0]) collect_warning(t, line);
        }
    }
    if (cap->tmp) fclose(cap->tmp);
}

/* chat_open is done: the screen is the screen again. */
static void opened(void *u, int rc)
{
    tui *t = u;
    (void)rc;
    capture_end(t, &t->capture);
    ui_progress(t->u, NULL, -1);
}

/* The front end is set, --load comes next: what opening had to say, and what runs the chat. */
static void ready(void *u, double warm_s)
{
    tui *t = u;
    t->opened = true;
    t->restore = true;      /* a loaded conversation or a persona's examples: read while idle */
    for (int i = 0; i < t->o->n_warnings; i++) ui_addf(t->u, UI_NOTICE, "warning: %s", t->o->warnings[i]);
    for (int i = 0; i < t->n_warnings; i++) ui_add(t->u, UI_NOTICE, t->warnings[i]);
    char banner[1024];
    frontend_banner(t->c, banner, sizeof banner);
    ui_addf(t->u, UI_NOTICE, "%s /help lists the commands.", banner);
    if (warm_s >= 0)
        ui_addf(t->u, UI_NOTICE, "Compiled the compute kernels in %.0f s (first run of this version on this device; "
                "cached for next time).", warm_s);
}

/* Opens the chat under the progress bar. Returns 0 or an exit code. */
static int open_chat(tui *t, const cfg_config *cfg, const cli_opts *o, gc_err *err)
{
    t->o = o;
    chat_fe fe = { .user = t, .notice = fe_notice, .error = fe_error, .reply_begin = fe_reply_begin,
                   .reply_piece = fe_reply_piece, .reply_end = fe_reply_end, .reset = fe_reset,
                   .help = fe_help, .edit = fe_edit, .progress = fe_progress };
    /* Kernels that compile now (frontend_open) say so in the notice line: warmup_tick. */
    frontend_hooks h = { .user = t, .load_progress = load_progress, .warn = collect_warning, .opened = opened,
                         .warm_tick = warmup_tick, .fe = &fe, .ready = ready };
    capture_begin(&t->capture);
    int rc = frontend_open(&t->c, cfg, o->load, &h, err);
    if (rc) return rc;
    status_last(t);
    completions(t);
    return 0;
}

static void handle_line(tui *t, const char *line)
{
    const char *text;
    slash_kind kind = slash_parse(line, &text);
    bool cmd = kind == SLASH_COMMAND;
    if (kind == SLASH_BLANK) return;
    ui_progress(t->u, NULL, -1);   /* a restore in progress: a message's prefill takes it over */
    if (!cmd) t->restore = false;
    if (!cmd) ui_add(t->u, UI_USER, text);
    ui_set_busy(t->u, cmd ? "working" : "prefill");
    ui_render(t->u);
    if (slash_input(t->c, line)) t->quit = true;
    ui_set_busy(t->u, NULL);
    if (cmd) completions(t);
    status_last(t);
}

int tui_main(const cfg_config *cfg, const cli_opts *o)
{
    tui *t = calloc(1, sizeof *t);
    if (!t) { fprintf(stderr, "gemma-chat: out of memory\n"); return 1; }
    ui_config uc;
    ui_cfg(cfg, &uc);
    gc_err err = { 0 };
    t->u = ui_create(&uc, &err);
    if (!t->u) {
        fprintf(stderr, "gemma-chat: cannot start the chat screen: %s; using line mode\n", err.msg);
        for (int i = 0; i < o->n_warnings; i++) fprintf(stderr, "gemma-chat: warning: %s\n", o->warnings[i]);
        free(t);
        return line_chat(cfg, o);
    }
    set_commands(t);
    status(t, 0, 0);
    int rc = open_chat(t, cfg, o, &err);
    bool saved = false;
    gc_err save_err = { 0 };
    int save_rc = 0;
    for (;;) {
        while (rc == 0 && !t->quit && !t->signo) {
            ui_event ev;
            bool busy = restoring(t);
            switch (ui_poll(t->u, busy ? 0 : -1, &ev)) {
            case UI_EV_NONE: if (busy) restore_step(t); break;
            case UI_EV_QUIT: t->quit = true; break;
            case UI_EV_SIGNAL: t->signo = ev.signo; break;
            case UI_EV_LINE: handle_line(t, ev.text); break;
            case UI_EV_BRANCH: slash_switch_sibling(t->c, ev.dir); status_last(t); break;
            default: break;
            }
        }
        bool now = false;
        save_rc = t->opened ? chat_autosave(t->c, &now, &save_err) : 0;
        saved |= now;
        /* Nowhere to save it: the conversation stays on the screen rather
         * than vanish (a signal still ends it; the transcript then goes to stderr). */
        if (!save_rc || t->signo || !t->quit) break;
        ui_addf(t->u, UI_ERROR, "autosave failed: %s. The conversation stays open: free some space and quit again "
                "(quitting twice leaves anyway, and prints the transcript when the screen closes).",
                save_err.msg);
        t->quit = false;
        if (t->forced_quit) break;
        t->forced_quit = true;
    }
    ui_destroy(t->u);
    /* The screen is gone: what is left to say goes to the shell. */
    for (int i = 0; rc && i < o->n_warnings; i++) fprintf(stderr, "gemma-chat: warning: %s\n", o->warnings[i]);
    for (int i = 0; rc && i < t->n_warnings; i++) fprintf(stderr, "gemma-chat: warning: %s\n", t->warnings[i]);
    if (rc) fprintf(stderr, "gemma-chat: %s\n", err.msg);
    if (chat_report_exit(t->c, save_rc, &save_err, saved, stderr) && !rc) rc = 1;
    if (t->signo) rc = 128 + t->signo;
    chat_close(t->c);
    for (int i = 0; i < t->n_warnings; i++) free(t->warnings[i]);
    free(t->warnings);
    free(t);
    return rc;
}
