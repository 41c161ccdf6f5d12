/* chat.h: the chat application behind every front end (TUI, --no-tui line
 * mode, -p): the loaded model, the session, the persona, the current
 * conversation's file and autosave: what the slash commands (app/slash.h,
 * the layer above this one) and plain messages act on.
 *
 * A front end fills a chat_fe with what it shows and calls slash_input() with
 * each line the user typed (app/frontend.h has what both front ends do the
 * same way). The chat struct is opaque: the slash commands and the front
 * ends act through the functions here, never on the session (app/session.h)
 * or the backend themselves. The current conversation has a file in the
 * transcripts directory (chat_conversation_file): a fresh default name for a new
 * conversation, the file it came from after /load or --load, or the name
 * given to /save. Autosave (config transcripts.autosave, see chat_autosave)
 * writes on exit, on SIGTERM/SIGHUP, and before /clear, /persona or /load
 * start another conversation, whenever it changed.
 */
#ifndef GC_CHAT_H
#define GC_CHAT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "app/config.h"
#include "app/paths.h"
#include "app/persona.h"
#include "app/session.h"
#include "app/transcript.h"
#include "base/err.h"
#include "model/backend.h"

/* Return values of chat_open besides 0: the exit codes main.c uses. */
enum { CHAT_ERUNTIME = 1, CHAT_EUSAGE = 2 };

/* The persona name that means none (unless a persona file has that name). */
#define CHAT_NO_PERSONA "none"

/* The file name the default model has under the share (or source) directory. */
#define CHAT_DEFAULT_MODEL "models/gemma-3-270m-q4_k_m.gguf"

/* What a front end shows. Every callback may be NULL. */
typedef struct chat_fe {
    void *user;
    void (*notice)(void *user, const char *text);         /* information (saved, dropped, ...) */
    void (*error)(void *user, const char *text);          /* a command or a reply failed */
    void (*reply_begin)(void *user);
    int (*reply_piece)(void *user, const char *text, size_t n);   /* nonzero: stop the reply */
    void (*reply_end)(void *user, const sess_stats *st);
    void (*reset)(void *user);                            /* the conversation was replaced: show it anew */
    void (*help)(void *user);                             /* /help; NULL: the list goes to notice */
    void (*edit)(void *user, const char *line);           /* /edit [N] alone: put line in the input to edit;
                                                           * NULL: /edit needs its text */
    int (*progress)(void *user, int done, int total);     /* prefill progress; nonzero stops it */
} chat_fe;

/* The chat: opaque; everything a front end or a slash command does goes
 * through the functions below. */
typedef struct chat chat;

/* Everything up to a ready session: resolves the model (config `model`, else
 * SHARE/CHAT_DEFAULT_MODEL), creates the backend (falling back to the CPU
 * when Vulkan was not asked for explicitly and cannot start or take the
 * weights: app/backends.h), uploads the weights (progress may be NULL),
 * loads the persona and starts a session. *out is set first, so that
 * progress may ask it for chat_get_status's model_path, and stays set on
 * failure: chat_close releases it either way (*out is NULL only when out of
 * memory). Returns 0, CHAT_EUSAGE (no model given, an unknown --persona) or
 * CHAT_ERUNTIME, with err set. Warnings (fallbacks) go to warn. */
int chat_open(chat **out, const cfg_config *cfg, be_progress_fn progress, void *pu, cfg_warn_fn warn, void *wu,
              gc_err *err);
void chat_close(chat *c);           /* accepts NULL and a half-opened chat */

/* Whether the backend's kernels are not compiled on this machine yet (its
 * first run on this device, or a new gemma-chat build): the first reply would
 * wait for the compiler (tens of seconds on a CPU device). A front end says
 * so and calls chat_warmup, which compiles them now: the prefill kernels
 * (step 0), then the decode ones (step 1). The work runs on a thread of its
 * own; meanwhile tick (may be NULL) is called on the caller's thread about
 * ten times a second with the step and the seconds so far, and once more
 * at the end (step == steps): a driver that compiles inside one call gives
 * no finer progress, so a front end shows the time going by. tick must not
 * touch the chat. */
enum { CHAT_WARMUP_STEPS = 2 };
typedef void (*chat_tick_fn)(void *user, int step, int steps, double secs);
bool chat_kernels_cold(const chat *c);
int chat_warmup(chat *c, chat_tick_fn tick, void *u, gc_err *err);

void chat_set_fe(chat *c, const chat_fe *fe);

/* Sends a message and streams the reply through the front end. */
int chat_send(chat *c, const char *text, gc_err *err);
int chat_regen(chat *c, gc_err *err);
/* /edit: forks at the user's nth message (0 = the last) with text in its
 * place (sess_edit), shows the new branch (fe.reset) and streams the reply. */
int chat_edit(chat *c, size_t n, const char *text, gc_err *err);

/* sess_catch_up, then, once the cache holds the whole stream, a snapshot of
 * it for instant resume (app/resume.h). Front ends call this while idle. */
int chat_catch_up(chat *c, int max, gc_err *err);

/* Saves the conversation: to NAME in the transcripts directory (NULL = the
 * current conversation's file), which becomes its file. path_out (may be
 * NULL) gets the path written. */
int chat_save(chat *c, const char *name, char *path_out, size_t n, gc_err *err);
/* Loads a transcript file (a path) or NAME from the transcripts directory
 * and shows it (fe.reset); the model has not read it yet: the front end
 * calls sess_catch_up while idle, or the next message's prefill does it. */
int chat_load_file(chat *c, const char *path, gc_err *err);
int chat_load_name(chat *c, const char *name, gc_err *err);
/* Writes the conversation as Markdown to NAME(.md) in the transcripts directory. */
int chat_export(chat *c, const char *name, char *path_out, size_t n, gc_err *err);
/* A new conversation with persona NAME (sampling per persona_sampling). */
int chat_set_persona(chat *c, const char *name, gc_err *err);
/* A new conversation with the same persona. */
int chat_clear(chat *c, gc_err *err);

/* Autosave: writes the conversation when autosave is on, it has messages
 * and something changed since it was loaded or saved. It never writes over
 * a file the user named (/save NAME, or a loaded file without a default
 * name): then it writes a file of its own, with a default name, beside it.
 * When the transcripts directory cannot take it (a full disk, an I/O
 * error), it writes to a fallback place instead: the state directory's
 * transcripts/, the cache directory's, then $TMPDIR/gemma-chat-UID (or /tmp's).
 * *saved (may be NULL) tells whether anything was written; chat_saved_to
 * where, chat_saved_message whether that was a fallback, and why.
 * Fails only when nothing could be written anywhere: the conversation then
 * exists only in memory, and the front end must not drop it silently. */
int chat_autosave(chat *c, bool *saved, gc_err *err);

/* A line telling where the last autosave went (for the front end). */
void chat_saved_message(const chat *c, char *buf, size_t n);

/* What a front end says on f as it ends, after its last chat_autosave
 * (save_rc, save_err, saved): where the conversation went (the transcript
 * itself when nowhere took it) and whether the device was lost. Returns 1
 * when that makes the exit status 1 (not saved where it belongs, device
 * lost), else 0. */
int chat_report_exit(chat *c, int save_rc, const gc_err *save_err, bool saved, FILE *f);

/* The transcripts directory (created). */
int chat_transcripts_dir(const chat *c, char *buf, size_t n, gc_err *err);

/* Names for completion: personas and saved transcripts (without .yaml),
 * sorted; *out is an array of n malloc'd strings (free with chat_free_names). */
int chat_persona_names(const chat *c, char ***out, int *n);
int chat_transcript_names(const chat *c, char ***out, int *n);
void chat_free_names(char **names, int n);

/* --- what the slash commands and the front ends see and change --- */

/* The chat as the status bar and /stats show it. c may be NULL (the strings
 * are then ""); with no session yet persona is NULL and the numbers are 0. */
typedef struct chat_status {
    const char *model_name;     /* general.name, else the file name */
    const char *model_path;
    const char *backend_name;
    const char *device_name;    /* "" when the backend names none */
    const char *persona;        /* the persona's name; "" = none */
    int ctx_used, ctx_total;    /* tokens of the stream, of the context */
    int ctx_window;             /* the sliding-window layers' window; 0 = none */
    int ctx_missing;            /* tokens of the stream the cache has not read yet */
    int n_in_context, n_exchanges;
    long long n_prefilled;      /* tokens prefilled this session */
    sess_stats last;            /* the last reply's figures */
} chat_status;
void chat_get_status(const chat *c, chat_status *st);

/* "BACKEND (DEVICE)" (or "BACKEND" when it names no device): where the
 * model runs, for the banner and /stats. */
void chat_backend_line(const chat *c, char *buf, size_t n);
/* The persona's name, CHAT_NO_PERSONA when there is none. */
const char *chat_persona_label(const chat *c);

/* The conversation on screen (the current branch): read only. */
const tr_transcript *chat_transcript(const chat *c);
/* The conversation's file ("" before its first save) and where the last
 * autosave went. */
const char *chat_conversation_file(const chat *c);
const char *chat_saved_to(const chat *c);

/* The sampling settings and the reply limit in use; chat_set_setting sets
 * one by its /set name (slash_set_keys: temperature, top_k, top_p, min_p,
 * repeat_penalty, seed, max_tokens) from text, with the types and ranges of
 * config.yaml; what names it in messages ("/set top_k"). A negative seed is
 * a fresh one. */
const cfg_sampling *chat_sampling(const chat *c);
int chat_max_tokens(const chat *c);
int chat_set_setting(chat *c, const char *key, const char *value, const char *what, gc_err *err);

/* The instruction in use ("" = none); chat_set_instruction replaces it for
 * this conversation only (its transcript keeps it; the persona file stays). */
const char *chat_instruction(const chat *c);
int chat_set_instruction(chat *c, const char *text, gc_err *err);

/* Every persona (as persona_list), then CHAT_NO_PERSONA unless a file has
 * that name; *out is malloc'd (free()). */
int chat_personas(const chat *c, persona_entry **out, size_t *n, gc_err *err);

/* Branches (sess_branches); chat_undo removes the last exchange,
 * chat_set_branch shows branch k (1-based, as listed) and
 * chat_switch_sibling the previous (d < 0) or next sibling at the last
 * fork: each shows the conversation anew (fe.reset). */
int chat_branches(chat *c, sess_branch **out, size_t *n, gc_err *err);
int chat_undo(chat *c, gc_err *err);
int chat_set_branch(chat *c, size_t k, gc_err *err);
int chat_switch_sibling(chat *c, int d, gc_err *err);

/* To the front end: a notice, an error; the help (fe.help, else text as a
 * notice); a line put in the input to edit (fe.edit; -1 when the front end
 * has no input line). */
void chat_notice(chat *c, const char *text);
void chat_error(chat *c, const char *text);
void chat_show_help(chat *c, const char *text);
int chat_put_input(chat *c, const char *line);

/* /quit asks the chat to end; chat_quitting: it was asked, or the device was
 * lost (the front end autosaves and leaves). */
void chat_quit(chat *c);
bool chat_quitting(const chat *c);

/* The flag that stops a reply between tokens: a signal handler sets it
 * (the front end clears it when it has dealt with the signal). */
volatile sig_atomic_t *chat_cancel_flag(chat *c);

#endif
