/* frontend.c: what both chat front ends do the same way (see frontend.h). */
#include "app/frontend.h"

#include <stdio.h>

#include "base/clock.h"

/* err's message as "BEFORE MESSAGE AFTER". */
static void reword(gc_err *err, const char *before, const char *after)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    gc_errf(err, "%s%s%s", before, msg, after);
}

int frontend_open(chat **out, const cfg_config *cfg, const char *load, const frontend_hooks *h, gc_err *err)
{
    int rc = chat_open(out, cfg, h->load_progress, h->user, h->warn, h->user, err);
    if (h->opened) h->opened(h->user, rc);
    if (rc) return rc;
    chat *c = *out;
    double warm_s = -1;
    if (chat_kernels_cold(c)) {
        chat_status st;
        chat_get_status(c, &st);
        if (h->compiling) h->compiling(h->user, st.device_name);
        double t0 = gc_now_s();
        if (chat_warmup(c, h->warm_tick, h->user, err)) return CHAT_ERUNTIME;
        warm_s = gc_now_s() - t0;
    }
    chat_set_fe(c, h->fe);
    if (h->ready) h->ready(h->user, warm_s);
    if (load && chat_load_file(c, load, err)) {
        reword(err, "--load ", "");
        return CHAT_ERUNTIME;
    }
    return 0;
}

/* Tokens a restore step reads: small enough that a key waits only a moment. */
#define RESTORE_CHUNK 64

int frontend_restore_step(chat *c, gc_err *err)
{
    int left = chat_catch_up(c, RESTORE_CHUNK, err);
    if (left < 0) reword(err, "restoring the context: ", " (the next message tries again)");
    return left;
}

void frontend_banner(const chat *c, char *buf, size_t n)
{
    chat_status st;
    chat_get_status(c, &st);
    char runs_on[400];
    chat_backend_line(c, runs_on, sizeof runs_on);
    snprintf(buf, n, "%s on %s, persona %s, context %d tokens.", st.model_name, runs_on, chat_persona_label(c),
             st.ctx_total);
}
