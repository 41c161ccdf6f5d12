/* chat.h: the chat application behind every front end (TUI, --no-tui line
 * mode, -p): the loaded model, the session, the persona, the current
 * conversation's file and autosave: what the slash commands (app/slash.h,
 * the layer above this one) and plain messages act on.
 *
 * A front end fills a chat_fe with what it shows and calls slash_input() with
 * each line the user typed. The current conversation has a file in the
 * transcripts directory (conv_path): a fresh default name for a new
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
#include "app/snapshot.h"
#include "model/backend.h"
#include "base/err.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

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

typedef struct chat {
    cfg_config cfg;
    char share_dir[PATHS_MAX];      /* "" when none was found */
    persona_dirs pdirs;
    char model_path[PATHS_MAX];
    char model_name[256];           /* general.name, else the file name */
    char backend_name[32];
    char device_name[256];
    gguf_file *g;
    tok_vocab *v;
    backend *be;
    gemma_model *m;
    sess *s;
    char conv_path[PATHS_MAX];      /* the current conversation's file; "" = a default name on first save */
    char auto_path[PATHS_MAX];      /* autosave's own file when conv_path is one the user named; "" = none yet */
    char saved_to[PATHS_MAX];       /* where the last autosave went (conv_path, auto_path or a fallback) */
    bool saved_fallback;            /* ... and it was a fallback place: the transcripts directory failed */
    char save_error[1200];          /* ... then why the transcripts directory failed */
    unsigned long long saved_gen;   /* the transcript's gen when last loaded or saved (nothing new since) */
    snap_cache snaps;               /* KV snapshots (app/resume.h), when snaps_on */
    bool snaps_on;
    unsigned long long snap_stored; /* hash of the token stream last stored or restored */
    chat_fe fe;
    volatile sig_atomic_t cancel;   /* stops a reply between tokens (SIGINT) */
    bool quit;                      /* /quit was given */
} chat;

/* Everything up to a ready session: resolves the model (config `model`, else
 * SHARE/CHAT_DEFAULT_MODEL), creates the backend (falling back to the CPU
 * when Vulkan was not asked for explicitly and cannot start), uploads the
 * weights (progress may be NULL), loads the persona and starts a session.
 * Returns 0, CHAT_EUSAGE (no model given, an unknown --persona) or
 * CHAT_ERUNTIME, with err set. Warnings (fallbacks) go to warn. */
int chat_open(chat *c, const cfg_config *cfg, be_progress_fn progress, void *pu, cfg_warn_fn warn, void *wu,
              gc_err *err);
void chat_close(chat *c);           /* accepts a zeroed or half-opened chat */

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
 * *saved (may be NULL) tells whether anything was written; c->saved_to says
 * where, c->saved_fallback whether that was a fallback (c->save_error: why).
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

/* A resolved seed: cfg's when >= 0, else a fresh one from the clock. */
long long chat_resolve_seed(long long seed);

#endif
