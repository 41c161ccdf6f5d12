/* ui.h: the chat screen (ncursesw + GNU readline). The app's only door into render/.
 *
 *   ┌ conversation pane ─ user / model / notice / error messages, scrollback
 *   │ notice line ─────── transient notices, completion candidates, progress bar
 *   │ status bar ──────── model · persona · backend/device · ctx · prefill/decode tok/s
 *   └ input area ──────── readline-edited, grows for multi-line messages
 *
 * render/ knows nothing about models: the app pushes what to show (messages,
 * streamed text, status fields) and pulls what the user did (ui_poll events).
 * The screen is drawn as one frame and written once (ncurses sends only what
 * changed), so nothing flickers.
 *
 * Driving it while a reply streams:
 *
 *     ui_set_busy(u, "generating");
 *     ui_stream_begin(u);
 *     while (next token) {
 *         ui_stream_append(u, piece, len);
 *         if (ui_poll(u, 0, &ev) == UI_EV_CANCEL) { stopped = 1; break; }
 *         ... (UI_EV_SIGNAL: save and leave; UI_EV_LINE: typed ahead, queue it)
 *     }
 *     ui_stream_end(u, stopped);
 *     ui_set_busy(u, NULL);
 *     ui_set_status(u, &st);           // tok/s of this reply
 *
 * and while idle: ui_poll(u, -1, &ev) blocks until the user does something.
 *
 * Keys: Enter sends; Alt-Enter (or a paste) inserts a newline; Emacs editing
 * keys, Up/Down history, Ctrl-R search, Tab completion (readline); PgUp/PgDn
 * and the mouse wheel scroll; Home/End jump to the top/bottom when the input
 * is empty (else move the cursor); Alt-Left / Alt-Right ask for the previous /
 * next branch of the conversation (UI_EV_BRANCH); F1 toggles help; Esc or Ctrl-C stop a
 * reply; Ctrl-C clears the input, and on an empty input twice quits, as does
 * Ctrl-D; Ctrl-L redraws; Ctrl-Z suspends.
 *
 * The terminal is restored by ui_destroy, at exit(), on SIGTERM/SIGHUP/SIGINT
 * and on crashes (see render/tty.h); apps with their own signal handlers call
 * ui_restore_terminal() from them.
 */
#ifndef GC_UI_H
#define GC_UI_H

#include <stddef.h>

#include "base/err.h"
#include "render/theme.h"

typedef struct ui ui;

typedef enum ui_role { UI_USER, UI_MODEL, UI_NOTICE, UI_ERROR } ui_role;

typedef struct ui_config {
    const char *history_path;       /* the input history file (app/ picks it); NULL or "": none */
    int history_max;                /* entries kept in the history file; <= 0: 1000 */
    int color_mode;                 /* 0 auto and 1 on: colours if the terminal has them; -1 off
                                       (the app turns NO_COLOR into -1 unless told otherwise).
                                       Off keeps bold, dim, reverse. */
    theme_color colors[THEME_SLOTS];/* per slot (theme.h; theme_parse reads "bold cyan" specs) */
    unsigned colors_set;            /* bit 1 << slot: colors[slot] replaces the built-in one */
    int no_mouse;                   /* 1: leave the mouse to the terminal (its text selection) */
    int catch_signals;              /* 1: SIGTERM/SIGHUP/SIGINT arrive as UI_EV_SIGNAL;
                                       0: they restore the terminal and end the process */
    const char *placeholder;        /* dim hint in the empty input; NULL: built-in */
} ui_config;

/* A slash command, for the help overlay and for completing the first word. */
typedef struct ui_command {
    const char *name;   /* "/set" */
    const char *args;   /* "KEY VALUE", or NULL */
    const char *help;   /* "change a sampling setting" */
} ui_command;

/* What the status bar shows; NULL / "" strings and values <= 0 are left out. */
typedef struct ui_status {
    const char *model;
    const char *persona;
    const char *backend;
    const char *device;
    long ctx_used, ctx_total;
    long ctx_window;            /* > 0: the sliding-window layers see only that many of ctx_used */
    double prefill_tok_s;   /* of the last reply */
    double decode_tok_s;
} ui_status;

typedef enum ui_event_type {
    UI_EV_NONE,     /* the timeout passed */
    UI_EV_LINE,     /* text: a submitted line, valid until the next ui_poll */
    UI_EV_CANCEL,   /* Esc or Ctrl-C while busy: stop the reply, keep the session */
    UI_EV_QUIT,     /* Ctrl-D on an empty input, or Ctrl-C twice on an empty input */
    UI_EV_RESIZE,   /* the terminal changed size (already re-laid out) */
    UI_EV_SIGNAL,   /* signo: SIGTERM, SIGHUP or SIGINT (with catch_signals) */
    UI_EV_BRANCH,   /* dir: Alt-Left (-1) or Alt-Right (+1) while idle: the previous / next branch */
} ui_event_type;

typedef struct ui_event {
    ui_event_type type;
    const char *text;
    int signo;
    int dir;
} ui_event;

/* Takes over the terminal (stdin/stdout must be one). cfg may be NULL.
 * Returns NULL and fills err when it cannot (not a terminal, unknown TERM);
 * the terminal is then untouched. */
ui *ui_create(const ui_config *cfg, gc_err *err);
/* Restores the terminal and frees everything; accepts NULL. */
void ui_destroy(ui *u);

/* Handles keys until an event or until timeout_ms passes (0: only what is
 * already typed; -1: no timeout), redrawing as needed. Returns ev->type. */
int ui_poll(ui *u, int timeout_ms, ui_event *ev);
/* Draws now if anything changed (ui_poll does this by itself). */
void ui_render(ui *u);

/* Conversation. Text may hold anything (it is sanitized for display). */
void ui_add(ui *u, ui_role role, const char *text);
void ui_addf(ui *u, ui_role role, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ui_clear(ui *u);
/* A note under the last message added (convo_set_label), e.g. "branch 2/3". */
void ui_label_last(ui *u, const char *label);
/* A model reply arriving piece by piece; pieces may split UTF-8 characters. */
void ui_stream_begin(ui *u);
void ui_stream_append(ui *u, const char *text, size_t n);
void ui_stream_end(ui *u, int stopped);

/* Busy with something (label shown with a spinner, e.g. "generating"):
 * Esc and Ctrl-C then mean "stop". NULL: idle. */
void ui_set_busy(ui *u, const char *label);
void ui_set_status(ui *u, const ui_status *st);
/* A transient line above the status bar; timeout_ms 0 keeps it until
 * replaced; NULL clears it. */
void ui_set_notice(ui *u, const char *text, int timeout_ms);
/* A progress bar (model loading); fraction in [0, 1], < 0 hides it. Draws
 * at once (at most ~30 times a second), so a loader that does not poll
 * still shows progress. */
void ui_progress(ui *u, const char *label, double fraction);

/* Slash commands for help and completion (copied). */
void ui_set_commands(ui *u, const ui_command *cmds, int n);
/* Completion candidates for the first argument of `command` (e.g.
 * "/persona" -> persona names, "/load" -> transcript names); copied,
 * replacing the previous list for that command. */
void ui_set_completions(ui *u, const char *command, const char *const *words, int n);
void ui_show_help(ui *u, int show);
/* Replaces the input line (e.g. to give back a line the app could not take). */
void ui_set_input(ui *u, const char *text);

/* Async-signal-safe terminal restoration for the app's own signal handlers. */
void ui_restore_terminal(void);

#endif
