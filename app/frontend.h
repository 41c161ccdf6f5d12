/* frontend.h: what both chat front ends, the TUI (app/chat_tui.c) and line
 * mode (app/line.c), do the same way, stated once: opening the chat (the
 * model, the compute kernels' warm-up, --load), reading a loaded
 * conversation while idle, and the banner that says what runs it. The slash
 * commands' parsing (`/` and `//`) and completion are app/slash.h's; what
 * happens when Vulkan fails is app/backends.h's.
 */
#ifndef GC_FRONTEND_H
#define GC_FRONTEND_H

#include <stddef.h>

#include "app/chat.h"
#include "app/config.h"

/* What a front end shows while the chat opens. Every hook may be NULL; each
 * gets user. */
typedef struct frontend_hooks {
    void *user;
    be_progress_fn load_progress;               /* the weights' upload */
    cfg_warn_fn warn;                           /* warnings (a fallback, a persona's examples left out) */
    void (*opened)(void *user, int rc);         /* chat_open returned rc: the slow part is over */
    void (*compiling)(void *user, const char *device);  /* the kernels are cold: they compile now */
    chat_tick_fn warm_tick;                     /* while they compile (chat_warmup) */
    const chat_fe *fe;                          /* set before --load, whose notices it shows */
    void (*ready)(void *user, double warm_s);   /* fe is set; --load comes next. warm_s: seconds the
                                                 * kernels took to compile, < 0 when they were ready */
} frontend_hooks;

/* Opens the chat (chat_open, with *out set at once as chat_open says),
 * compiles the kernels when they are cold (before the first reply, whose
 * wait and tok/s they would spoil), sets the front end and loads load (a
 * transcript path; NULL: none). Returns 0, or the exit code with err set
 * (a failed --load says "--load ..."). chat_close(*out) in either case. */
int frontend_open(chat **out, const cfg_config *cfg, const char *load, const frontend_hooks *h, gc_err *err);

/* A conversation put on the screen (--load, /load, a persona's example
 * exchanges) is read by the model while the front end waits for input, a
 * chunk at a time (chat_catch_up), so that keys still work. Returns the
 * tokens left (0: all read), or -1 with err saying "restoring the context:
 * WHY (the next message tries again)". */
int frontend_restore_step(chat *c, gc_err *err);

/* "MODEL on BACKEND (DEVICE), persona P, context N tokens." */
void frontend_banner(const chat *c, char *buf, size_t n);

#endif
