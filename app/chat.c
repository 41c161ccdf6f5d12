/* chat.c: the chat application behind every front end (see chat.h). */
#include "app/chat.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/backends.h"
#include "app/resume.h"
#include "app/transcript.h"
#include "base/buf.h"
#include "base/clock.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

struct chat {
    cfg_config cfg;
    char share_dir[PATHS_MAX];      /* "" when none was found */
    persona_dirs pdirs;
    char model_path[PATHS_MAX];
    char model_name[256];           /* general.name, else the file name */
    char backend_name[32];
    char device_name[256];
    backends_model bm;              /* the file, the backend, the weights */
    tok_vocab *v;
    sess *s;
    char conv_path[PATHS_MAX];      /* the current conversation's file; "" = a default name on first save */
    char auto_path[PATHS_MAX];      /* autosave's own file when conv_path is one the user named; "" = none yet */
    char saved_to[PATHS_MAX];       /* where the last autosave went (conv_path, auto_path or a fallback) */
    bool saved_fallback;            /* ... and it was a fallback place: the transcripts directory failed */
    char save_error[1200];          /* ... then why the transcripts directory failed */
    unsigned long long saved_gen;   /* the transcript's gen when last loaded or saved (nothing new since) */
    resume resume;                  /* KV snapshots for instant resume (app/resume.h) */
    chat_fe fe;
    volatile sig_atomic_t cancel;   /* stops a reply between tokens (SIGINT) */
    bool quit;                      /* /quit was given, or the device was lost */
};

static void fe_notice(chat *c, const char *text)
{
    if (c->fe.notice) c->fe.notice(c->fe.user, text);
}

static void fe_error(chat *c, const char *text)
{
    if (c->fe.error) c->fe.error(c->fe.user, text);
}

/* --- session callbacks: the session talks to the front end through these --- */

static int on_token(void *u, const char *text, size_t n)
{
    chat *c = u;
    return c->fe.reply_piece ? c->fe.reply_piece(c->fe.user, text, n) : 0;
}

static void on_notice(void *u, const char *text)
{
    fe_notice(u, text);
}

static int on_progress(void *u, int done, int total)
{
    chat *c = u;
    return c->fe.progress ? c->fe.progress(c->fe.user, done, total) : 0;
}

void chat_set_fe(chat *c, const chat_fe *fe)
{
    if (fe) c->fe = *fe;
    else memset(&c->fe, 0, sizeof c->fe);
    sess_io io = { .on_token = on_token, .on_notice = on_notice, .on_progress = on_progress, .user = c,
                   .cancel = &c->cancel };
    if (c->s) sess_set_io(c->s, &io);
}

/* A resolved seed: seed when >= 0, else a fresh one from the clock. */
static long long resolve_seed(long long seed)
{
    if (seed >= 0) return seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long x = (unsigned long long)ts.tv_sec * 1000000007ull ^ (unsigned long long)ts.tv_nsec ^
                           ((unsigned long long)getpid() << 32);
    /* splitmix64 finalizer, so that runs a second apart get unrelated seeds */
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (long long)(x & 0x7fffffffffffffffull);
}

/* --- opening --- */

/* The conversation was replaced: the cache takes what a snapshot has of the
 * new stream, then the front end shows it. */
static void replaced(chat *c)
{
    resume_restore(&c->resume, c->s);
    if (c->fe.reset) c->fe.reset(c->fe.user);
}

/* The model to load: config `model`, else SHARE/CHAT_DEFAULT_MODEL. */
static int find_model(chat *c, gc_err *err)
{
    if (c->cfg.model[0]) return paths_join(c->model_path, sizeof c->model_path, err, "%s", c->cfg.model);
    if (c->share_dir[0]) {
        char p[PATHS_MAX];
        if (!paths_join(p, sizeof p, err, "%s/%s", c->share_dir, CHAT_DEFAULT_MODEL) && paths_is_file(p))
            return paths_join(c->model_path, sizeof c->model_path, err, "%s", p);
    }
    return gc_errf(err, "no model given: pass -m MODEL.gguf (or set `model:` in config.yaml, or "
                   "GEMMA_CHAT_MODEL); `make real-model` puts Gemma 3 270M at %s%s%s",
                   c->share_dir[0] ? c->share_dir : "", c->share_dir[0] ? "/" : "", CHAT_DEFAULT_MODEL);
}

/* Vulkan may fall back to the CPU backend (app/backends.h decides when)
 * where chosen by default ("auto") or by a config file, not where asked for
 * by name through a flag or the environment. */
static bool may_fall_back(const chat *c)
{
    return c->cfg.backend == CFG_BACKEND_AUTO ||
           (c->cfg.backend == CFG_BACKEND_VULKAN && cfg_origin(&c->cfg, "backend") < CFG_SRC_ENV);
}

/* NAME's persona; "none" (unless a file of that name exists) is no persona:
 * *out = NULL and success. */
static int load_persona(chat *c, const char *name, persona **out, gc_err *err)
{
    gc_err e2;
    if (!strcmp(name, CHAT_NO_PERSONA) && persona_load(&c->pdirs, name, out, NULL, NULL, &e2)) {
        *out = NULL;
        return 0;
    }
    return persona_load(&c->pdirs, name, out, NULL, NULL, err);
}

/* When the session kept fewer of p's example exchanges than p has (they did
 * not fit the context), a line saying so into msg; else msg[0] = 0. */
static void shots_dropped(chat *c, const persona *p, char *msg, size_t n)
{
    size_t kept = sess_n_persona_exchanges(c->s);
    msg[0] = 0;
    if (p && kept < p->n_exchanges)
        snprintf(msg, n, "persona %s: %s of its %zu example exchanges fit the context of %d tokens, so %s left out "
                 "(a larger --ctx keeps them)", p->name, kept ? "only some" : "none", p->n_exchanges,
                 sess_n_ctx(c->s), kept ? "the others are" : "they are");
}

/* p's instruction, example exchanges and stop strings (p NULL: none) into
 * the session: a new conversation. */
static int apply_persona(chat *c, const persona *p, gc_err *err)
{
    if (sess_set_stops(c->s, p ? p->stops : NULL, p ? p->n_stops : 0, err)) return -1;
    return sess_set_persona_ex(c->s, p ? p->name : "", p ? p->instruction : "", p ? p->exchanges : NULL,
                               p ? p->n_exchanges : 0, err);
}

/* Model facts for the transcript. */
static int describe_model(chat *c, gc_err *err)
{
    gguf_str s;
    const char *file = strrchr(c->model_path, '/');
    file = file ? file + 1 : c->model_path;
    gc_err ignore;
    if (!gguf_get_str(c->bm.file, "general.name", &s, &ignore) && s.len)
        snprintf(c->model_name, sizeof c->model_name, "%.*s", (int)(s.len < 255 ? s.len : 255), s.ptr);
    else
        snprintf(c->model_name, sizeof c->model_name, "%.255s", file);
    return tr_set_model(sess_transcript(c->s), c->model_name, gemma_arch(c->bm.model), file,
                        (long long)c->bm.file->size, err);
}

int chat_open(chat **out, const cfg_config *cfg, be_progress_fn progress, void *pu, cfg_warn_fn warn, void *wu,
              gc_err *err)
{
    chat *c = *out = calloc(1, sizeof *c);
    if (!c) {
        gc_errf(err, "out of memory");
        return CHAT_ERUNTIME;
    }
    c->cfg = *cfg;
    gc_err ignore;
    if (paths_share_dir(c->share_dir, sizeof c->share_dir, &ignore)) c->share_dir[0] = 0;
    if (persona_default_dirs(&c->pdirs, c->share_dir[0] ? c->share_dir : NULL, err)) return CHAT_ERUNTIME;

    /* The cheap checks first: a missing model or a typo in --persona should
     * not wait for the weights to load. */
    if (find_model(c, err)) return CHAT_EUSAGE;
    persona *p = NULL;
    int rc = CHAT_ERUNTIME;
    cfg_source ps = cfg_origin(&c->cfg, "persona");
    int prc = 0;
    if (c->cfg.persona[0] && (prc = load_persona(c, c->cfg.persona, &p, err))) {
        if (ps <= CFG_SRC_SHARE) {
            /* The built-in default: go on without a persona rather than fail. */
            if (warn) warn(wu, err->msg);
        } else {
            gc_err_prefix(err, "%s %s", ps == CFG_SRC_FLAG ? "--persona" : "persona", c->cfg.persona);
            /* An unknown name is a bad value; a persona file that fails to parse is not. */
            return ps == CFG_SRC_FLAG && prc == -2 ? CHAT_EUSAGE : CHAT_ERUNTIME;
        }
    }
    int fit_ctx = c->cfg.context;   /* 0: the largest that fits (app/fit.h) */
    backends_set_threads(c->cfg.threads);
    backends_req req = { .name = cfg_backend_name(c->cfg.backend),
                         .device = strcmp(c->cfg.device, "auto") ? c->cfg.device : NULL,
                         .cpu_fallback = may_fall_back(c), .n_ctx = &fit_ctx, .progress = progress,
                         .progress_user = pu, .warn = warn, .warn_user = wu };
    if (gguf_open(&c->bm.file, c->model_path, err) || tok_from_gguf(&c->v, c->bm.file, err) ||
        backends_start(&c->bm, &req, err))
        goto done;
    snprintf(c->backend_name, sizeof c->backend_name, "%s", c->bm.be->name);
    snprintf(c->device_name, sizeof c->device_name, "%s", c->bm.be->device_name);

    int n_ctx = c->cfg.context, train = gemma_n_ctx_train(c->bm.model);
    if (n_ctx == 0 || n_ctx > train) {
        if (n_ctx > train && warn) {
            char msg[256];
            snprintf(msg, sizeof msg, "context %d is more than the model's %d; using %d", n_ctx, train, train);
            warn(wu, msg);
        }
        n_ctx = fit_ctx;
    }
    sess_params sp = { .n_ctx = n_ctx, .max_tokens = persona_max_tokens(p, &c->cfg) };
    persona_sampling(p, &c->cfg, &sp.sampling);
    sp.sampling.seed = resolve_seed(sp.sampling.seed);
    if (sess_create(&c->s, c->bm.model, c->v, &sp, err)) goto done;
    if (apply_persona(c, p, err)) {
        /* The context is too small for the persona's instruction: a bad value. */
        rc = CHAT_EUSAGE;
        goto done;
    }
    char msg[600];
    shots_dropped(c, p, msg, sizeof msg);
    if (msg[0] && warn) warn(wu, msg);
    if (describe_model(c, err)) goto done;
    chat_set_fe(c, NULL);
    resume_open(&c->resume, c->s, c->model_path, c->bm.be, c->cfg.snapshots_mib);
    resume_restore(&c->resume, c->s);
    rc = 0;
done:
    persona_free(p);
    return rc;
}

bool chat_kernels_cold(const chat *c) { return c->bm.be && c->bm.be->kernels_cold; }

/* The warm-up runs on a thread of its own: a driver compiles inside one
 * call (lavapipe at the first dispatch, for tens of seconds) and reports
 * nothing meanwhile, so the caller's thread stays free to show the time
 * going by. The caller touches neither the session nor the backend until
 * the thread is joined. */
typedef struct warm_job {
    gemma_session *s;
    atomic_int step;            /* steps of gemma_warmup done */
    atomic_bool done;
    int rc;
    gc_err err;
} warm_job;

static void warm_progress(void *u, uint64_t done, uint64_t total)
{
    (void)total;
    atomic_store(&((warm_job *)u)->step, (int)done);
}

static void *warm_main(void *u)
{
    warm_job *j = u;
    j->rc = gemma_warmup(j->s, warm_progress, j, &j->err);
    atomic_store(&j->done, true);
    return NULL;
}

int chat_warmup(chat *c, chat_tick_fn tick, void *u, gc_err *err)
{
    warm_job j = { .s = sess_engine(c->s) };
    atomic_init(&j.step, 0);
    atomic_init(&j.done, false);
    double t0 = gc_now_s();
    pthread_t th;
    if (pthread_create(&th, NULL, warm_main, &j)) {
        if (tick) tick(u, 0, CHAT_WARMUP_STEPS, 0);
        warm_main(&j);          /* no thread: the same work, without the ticks */
    } else {
        while (!atomic_load(&j.done)) {
            if (tick) tick(u, atomic_load(&j.step), CHAT_WARMUP_STEPS, gc_now_s() - t0);
            nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
        pthread_join(th, NULL);
    }
    if (j.rc) {
        *err = j.err;
        return -1;
    }
    if (tick) tick(u, CHAT_WARMUP_STEPS, CHAT_WARMUP_STEPS, gc_now_s() - t0);
    c->bm.be->kernels_cold = false;
    return 0;
}

void chat_close(chat *c)
{
    if (!c) return;
    resume_close(&c->resume);
    sess_destroy(c->s);
    tok_destroy(c->v);
    backends_unload(&c->bm);
    free(c);
}

/* --- conversation --- */

/* After a failed step: a lost device can run nothing more, so the chat
 * ends (the front end autosaves, says so and exits 1). The unanswered message (text,
 * when the session has dropped it) stays in the transcript with a notice. */
static bool device_lost(chat *c, const char *text)
{
    if (!c->bm.be || !c->bm.be->lost) return false;
    gc_err ignore;
    tr_transcript *tr = sess_transcript(c->s);
    if (text) tr_add(tr, TR_USER, text, -1, -1, &ignore);
    tr_add(tr, TR_NOTICE, "The GPU device was lost: the reply to this message was cut.", -1, -1, &ignore);
    c->quit = true;
    return true;
}

static int reply(chat *c, sess_stats *st, gc_err *err);

int chat_send(chat *c, const char *text, gc_err *err)
{
    sess_stats st;
    c->cancel = 0;
    /* The replies from now on come from this model (a loaded transcript may
     * name another): the transcript says so. */
    gc_err ignore;
    describe_model(c, &ignore);
    if (sess_add_user(c->s, text, &st, err)) {
        device_lost(c, text);
        return -1;
    }
    return reply(c, &st, err);
}

int chat_edit(chat *c, size_t n, const char *text, gc_err *err)
{
    sess_stats st;
    c->cancel = 0;
    gc_err ignore;
    describe_model(c, &ignore);
    if (sess_edit(c->s, n, text, &st, err)) {
        device_lost(c, text);
        return -1;
    }
    /* The screen shows the new branch, up to the edited message. */
    if (c->fe.reset) c->fe.reset(c->fe.user);
    return reply(c, &st, err);
}

/* The reply to the pending user message, streamed to the front end; on a
 * failure the message goes (the device-lost notice stays). */
static int reply(chat *c, sess_stats *st, gc_err *err)
{
    if (c->fe.reply_begin) c->fe.reply_begin(c->fe.user);
    int rc = sess_generate(c->s, st, err);
    if (rc && !device_lost(c, NULL)) {
        gc_err ignore;
        sess_undo(c->s, &ignore);
    }
    if (c->fe.reply_end) c->fe.reply_end(c->fe.user, rc ? NULL : st);
    return rc;
}

int chat_regen(chat *c, gc_err *err)
{
    sess_stats st;
    c->cancel = 0;
    if (!sess_n_exchanges(c->s)) return gc_errf(err, "there is no reply to regenerate");
    gc_err ignore;
    describe_model(c, &ignore);
    if (c->fe.reply_begin) c->fe.reply_begin(c->fe.user);
    int rc = sess_regen(c->s, &st, err);
    if (rc) device_lost(c, NULL);
    if (c->fe.reply_end) c->fe.reply_end(c->fe.user, rc ? NULL : &st);
    /* The new reply replaces the old one (or, after a failure, the old one is
     * back): the screen shows the conversation as it now is, one reply. */
    if (c->fe.reset) c->fe.reset(c->fe.user);
    return rc;
}

int chat_catch_up(chat *c, int max, gc_err *err)
{
    int left = sess_catch_up(c->s, max, err);
    if (left == 0) resume_store(&c->resume, c->s);
    return left;
}

int chat_transcripts_dir(const chat *c, char *buf, size_t n, gc_err *err)
{
    return cfg_transcripts_dir(&c->cfg, buf, n, err);
}

int chat_save(chat *c, const char *name, char *path_out, size_t n, gc_err *err)
{
    char dir[PATHS_MAX], path[PATHS_MAX], def[256];
    if (name && tr_check_name(name, err)) return -1;
    if (!name && c->conv_path[0]) {
        snprintf(path, sizeof path, "%s", c->conv_path);
    } else {
        if (chat_transcripts_dir(c, dir, sizeof dir, err)) return -1;
        if (!name) {
            if (tr_default_name(dir, time(NULL), def, sizeof def, err)) return -1;
            name = def;
        }
        if (tr_path(dir, name, ".yaml", path, sizeof path, err)) return -1;
    }
    if (tr_save(sess_transcript(c->s), path, err)) return -1;
    snprintf(c->conv_path, sizeof c->conv_path, "%s", path);
    c->saved_gen = sess_transcript(c->s)->gen;
    resume_store(&c->resume, c->s);
    if (path_out) snprintf(path_out, n, "%s", path);
    return 0;
}

/* The file autosave writes: the conversation's own file when autosave may
 * write it, else a default-named file of its own in the transcripts
 * directory (kept in auto_path for the next autosave). */
static int autosave_target(chat *c, char *path, size_t n, gc_err *err)
{
    if (c->conv_path[0] && tr_is_default_name(c->conv_path)) return paths_join(path, n, err, "%s", c->conv_path);
    if (!c->auto_path[0]) {
        char dir[PATHS_MAX], def[256];
        if (chat_transcripts_dir(c, dir, sizeof dir, err) || tr_default_name(dir, time(NULL), def, sizeof def, err) ||
            tr_path(dir, def, ".yaml", c->auto_path, sizeof c->auto_path, err)) {
            c->auto_path[0] = 0;
            return -1;
        }
    }
    return paths_join(path, n, err, "%s", c->auto_path);
}

/* After the transcripts directory failed: the same file name (or a fresh
 * default one, never over an existing file) in the first fallback place that
 * takes it. */
static int save_fallback(chat *c, const char *primary, gc_err *err)
{
    const char *base = strrchr(primary, '/');
    base = base ? base + 1 : primary;
    for (int i = 0; i < 3; i++) {
        char dir[PATHS_MAX], path[PATHS_MAX];
        gc_err e;
        if (i < 2) {
            if (paths_ensure_user_dir(i == 0 ? PATHS_STATE : PATHS_CACHE, "transcripts", dir, sizeof dir, &e))
                continue;
        } else {
            const char *t = getenv("TMPDIR");
            if (paths_join(dir, sizeof dir, &e, "%s/gemma-chat-%ld", t && t[0] == '/' ? t : "/tmp", (long)getuid()) ||
                paths_mkdir_p(dir, 0700, &e))
                continue;
        }
        if (paths_join(path, sizeof path, &e, "%s/%s", dir, base)) continue;
        if (access(path, F_OK) == 0) {
            char def[256];
            if (tr_default_name(dir, time(NULL), def, sizeof def, &e) ||
                paths_join(path, sizeof path, &e, "%s/%s", dir, def))
                continue;
        }
        if (tr_save(sess_transcript(c->s), path, &e) >= 0) {
            snprintf(c->saved_to, sizeof c->saved_to, "%s", path);
            return 0;
        }
    }
    return gc_errf(err, "%s; no fallback place (the state and cache directories, $TMPDIR) took the conversation "
                   "either", c->save_error);
}

int chat_autosave(chat *c, bool *saved, gc_err *err)
{
    if (saved) *saved = false;
    c->saved_fallback = false;
    c->save_error[0] = 0;
    if (!c || !c->s || !c->cfg.autosave || sess_transcript(c->s)->n_msgs == 0) return 0;
    tr_transcript *tr = sess_transcript(c->s);
    if (tr->gen == c->saved_gen) return 0;     /* nothing new since it was loaded or saved */
    char path[PATHS_MAX];
    gc_err e;
    if (!autosave_target(c, path, sizeof path, &e) && tr_save(tr, path, &e) >= 0) {
        if (!c->conv_path[0]) snprintf(c->conv_path, sizeof c->conv_path, "%s", path);
        snprintf(c->saved_to, sizeof c->saved_to, "%s", path);
    } else {
        snprintf(c->save_error, sizeof c->save_error, "%s", e.msg);
        if (save_fallback(c, path, err)) return -1;
        c->saved_fallback = true;
    }
    c->saved_gen = tr->gen;
    if (saved) *saved = true;
    resume_store(&c->resume, c->s);
    return 0;
}

/* The last resort when autosave fails everywhere: the transcript, as YAML
 * after a line saying what it is, to f (stderr). */
static void print_transcript(chat *c, FILE *f)
{
    char *y = NULL;
    size_t yn = 0;
    gc_err ignore;
    if (!c->s || tr_to_yaml(sess_transcript(c->s), &y, &yn, &ignore)) return;
    fprintf(f, "gemma-chat: the conversation follows (a transcript: save it as NAME.yaml)\n");
    fwrite(y, 1, yn, f);
    free(y);
}

void chat_saved_message(const chat *c, char *buf, size_t n)
{
    if (c->saved_fallback)
        snprintf(buf, n, "Could not save the conversation in the transcripts directory (%s): saved it to %s instead",
                 c->save_error, c->saved_to);
    else
        snprintf(buf, n, "Saved the conversation to %s", c->saved_to);
}

int chat_report_exit(chat *c, int save_rc, const gc_err *save_err, bool saved, FILE *f)
{
    int bad = 0;
    if (save_rc) {
        /* Nowhere to write it, and no screen to keep it on: the last place
         * left is f, so that the conversation is not lost. */
        fprintf(f, "gemma-chat: autosave failed: %s\n", save_err->msg);
        print_transcript(c, f);
        bad = 1;
    } else if (saved) {
        char msg[PATHS_MAX * 2 + 1400];
        chat_saved_message(c, msg, sizeof msg);
        fprintf(f, "%s%s\n", c->saved_fallback ? "gemma-chat: " : "", msg);
        bad = c->saved_fallback;    /* safe now, but not where it belongs */
    }
    if (c && c->bm.be && c->bm.be->lost) {
        fprintf(f, "gemma-chat: the GPU device was lost; restart gemma-chat\n");
        bad = 1;
    }
    return bad;
}

int chat_load_file(chat *c, const char *path, gc_err *err)
{
    tr_transcript *tr = NULL;
    if (tr_load(path, &tr, err)) return -1;
    /* The transcript names its persona: its example exchanges and stop
     * strings come from the persona file (none when it is gone). */
    persona *p = NULL;
    gc_err pe;
    if (tr->persona_name[0] && load_persona(c, tr->persona_name, &p, &pe)) p = NULL;
    if (sess_load_ex(c->s, tr, p ? p->exchanges : NULL, p ? p->n_exchanges : 0, p ? p->stops : NULL,
                     p ? p->n_stops : 0, err)) {
        persona_free(p);
        tr_free(tr);
        return gc_err_prefix(err, "%s", path);
    }
    persona_free(p);
    /* The conversation goes on with its own sampling settings and seed,
     * except those given as flags or environment variables (as with a
     * persona's). The seed restarts the sampler. */
    tr = sess_transcript(c->s);
    if (tr->has_sampling) {
        cfg_sampling sp = tr->sampling;
        const cfg_sampling *now = sess_sampling(c->s);
        static const struct { const char *key; size_t off, size; } keys[] = {
            { "sampling.temperature", offsetof(cfg_sampling, temperature), sizeof(float) },
            { "sampling.top_k", offsetof(cfg_sampling, top_k), sizeof(int) },
            { "sampling.top_p", offsetof(cfg_sampling, top_p), sizeof(float) },
            { "sampling.min_p", offsetof(cfg_sampling, min_p), sizeof(float) },
            { "sampling.repeat_penalty", offsetof(cfg_sampling, repeat_penalty), sizeof(float) },
            { "sampling.repeat_last_n", offsetof(cfg_sampling, repeat_last_n), sizeof(int) },
            { "sampling.seed", offsetof(cfg_sampling, seed), sizeof(long long) },
        };
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (cfg_origin(&c->cfg, keys[i].key) >= CFG_SRC_ENV)
                memcpy((char *)&sp + keys[i].off, (const char *)now + keys[i].off, keys[i].size);
        gc_err e;
        if (sess_set_sampling(c->s, &sp, &e)) fe_error(c, e.msg);
    } else {
        tr_set_sampling(tr, sess_sampling(c->s));
    }
    /* Only viewing it changes nothing: the model fields are updated by the
     * next reply (chat_send), and a different model gets a notice now. */
    const char *file = strrchr(c->model_path, '/');
    file = file ? file + 1 : c->model_path;
    char msg[PATHS_MAX + 1200] = "";
    if ((tr->model_file[0] && strcmp(tr->model_file, file)) || (tr->model_name[0] && strcmp(tr->model_name, c->model_name)))
        snprintf(msg, sizeof msg, "This conversation was made with %s (%s); new replies come from %s (%s).",
                 tr->model_name[0] ? tr->model_name : "?", tr->model_file[0] ? tr->model_file : "?", c->model_name,
                 file);
    snprintf(c->conv_path, sizeof c->conv_path, "%s", path);
    c->auto_path[0] = 0;
    c->saved_gen = tr->gen;
    replaced(c);
    if (msg[0]) fe_notice(c, msg);
    return 0;
}

int chat_load_name(chat *c, const char *name, gc_err *err)
{
    char dir[PATHS_MAX], path[PATHS_MAX];
    if (tr_check_name(name, err) || chat_transcripts_dir(c, dir, sizeof dir, err) ||
        tr_path(dir, name, ".yaml", path, sizeof path, err))
        return -1;
    if (!paths_is_file(path)) return gc_errf(err, "no saved conversation '%s' (looked for %s)", name, path);
    return chat_load_file(c, path, err);
}

int chat_export(chat *c, const char *name, char *path_out, size_t n, gc_err *err)
{
    char dir[PATHS_MAX], path[PATHS_MAX];
    if (tr_check_name(name, err) || chat_transcripts_dir(c, dir, sizeof dir, err) ||
        tr_path(dir, name, ".md", path, sizeof path, err) ||
        tr_export_markdown(sess_transcript(c->s), path, err))
        return -1;
    if (path_out) snprintf(path_out, n, "%s", path);
    return 0;
}

/* Before a new conversation replaces the current one: autosave it, and
 * forget its file so the new one gets its own. Fails, and the current
 * conversation stays, when it could not be saved anywhere. Where it went is
 * put in msg (*is_error: a fallback place), for the caller to show once the
 * new conversation is on screen (a reset would wipe it). */
static int leave_conversation(chat *c, char *msg, size_t n, bool *is_error, gc_err *err)
{
    bool saved;
    msg[0] = 0;
    *is_error = false;
    if (chat_autosave(c, &saved, err))
        return gc_err_prefix(err, "autosave failed, so the conversation stays (free some space, then try again)");
    if (saved && c->saved_fallback) {
        chat_saved_message(c, msg, n);
        *is_error = true;
    } else if (saved) {
        snprintf(msg, n, "The previous conversation was saved to %s", c->saved_to);
    } else if (c->conv_path[0] && sess_transcript(c->s)->n_msgs) {
        /* Nothing new since it was saved or loaded: its file has it all. */
        snprintf(msg, n, "The previous conversation was saved to %s", c->conv_path);
    }
    c->conv_path[0] = 0;
    c->auto_path[0] = 0;
    return 0;
}

static void show_left(chat *c, const char *msg, bool is_error)
{
    if (!msg[0]) return;
    if (is_error) fe_error(c, msg);
    else fe_notice(c, msg);
}

/* What persona p changed in the settings the session had (old, old_max):
 * "" when nothing; else a line naming each value it set, new and old. */
static void persona_overrides(chat *c, const persona *p, const cfg_sampling *old, int old_max, char *msg, size_t n)
{
    msg[0] = 0;
    if (!p) return;
    const cfg_sampling *s = sess_sampling(c->s);
    char list[512] = "";
    size_t k = 0;
#define OVR(bit, name, fmt, field) \
    if ((p->sampling_set & (bit)) && s->field != old->field && k < sizeof list) \
        k += (size_t)snprintf(list + k, sizeof list - k, "%s" name " " fmt " (was " fmt ")", k ? ", " : "", \
                              s->field, old->field)
    if (p->has_max_tokens && sess_max_tokens(c->s) != old_max)
        k += (size_t)snprintf(list + k, sizeof list - k, "max_tokens %d (was %d)", sess_max_tokens(c->s), old_max);
    OVR(CFG_S_TEMPERATURE, "temperature", "%g", temperature);
    OVR(CFG_S_TOP_K, "top_k", "%d", top_k);
    OVR(CFG_S_TOP_P, "top_p", "%g", top_p);
    OVR(CFG_S_MIN_P, "min_p", "%g", min_p);
    OVR(CFG_S_REPEAT_PENALTY, "repeat_penalty", "%g", repeat_penalty);
    OVR(CFG_S_REPEAT_LAST_N, "repeat_last_n", "%d", repeat_last_n);
    OVR(CFG_S_SEED, "seed", "%lld", seed);
#undef OVR
    if (k) snprintf(msg, n, "persona %s sets %s (/set changes them)", p->name, list);
}

int chat_set_persona(chat *c, const char *name, gc_err *err)
{
    persona *p = NULL;
    if (load_persona(c, name, &p, err)) return -1;
    cfg_sampling sp;
    persona_sampling(p, &c->cfg, &sp);
    /* Keep the session's seed unless the persona sets one. */
    sp.seed = p && (p->sampling_set & CFG_S_SEED) ? resolve_seed(sp.seed) : sess_sampling(c->s)->seed;
    cfg_sampling old = *sess_sampling(c->s);
    /* The current conversation is saved as it is, before anything changes. */
    char left[PATHS_MAX * 2 + 1400];
    bool left_err;
    if (leave_conversation(c, left, sizeof left, &left_err, err) || sess_set_sampling(c->s, &sp, err)) {
        persona_free(p);
        return -1;
    }
    int old_max = sess_max_tokens(c->s);
    sess_set_max_tokens(c->s, persona_max_tokens(p, &c->cfg));
    int rc = apply_persona(c, p, err);
    if (rc) {
        gc_err ignore;
        sess_set_sampling(c->s, &old, &ignore);
        sess_set_max_tokens(c->s, old_max);
        show_left(c, left, left_err);
    } else {
        snprintf(c->cfg.persona, sizeof c->cfg.persona, "%s", p ? p->name : CHAT_NO_PERSONA);
        gc_err ignore;
        describe_model(c, &ignore);
        replaced(c);
        show_left(c, left, left_err);
        char msg[800];
        persona_overrides(c, p, &old, old_max, msg, sizeof msg);
        if (msg[0]) fe_notice(c, msg);
        shots_dropped(c, p, msg, sizeof msg);
        if (msg[0]) fe_notice(c, msg);
    }
    persona_free(p);
    return rc;
}

int chat_clear(chat *c, gc_err *err)
{
    char left[PATHS_MAX * 2 + 1400];
    bool left_err;
    if (leave_conversation(c, left, sizeof left, &left_err, err)) return -1;
    int rc = sess_clear(c->s, err);
    if (!rc) replaced(c);
    show_left(c, left, left_err);
    return rc;
}

/* --- names for completion --- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void chat_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int chat_personas(const chat *c, persona_entry **out, size_t *n, gc_err *err)
{
    if (persona_list(&c->pdirs, out, n, err)) return -1;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*out)[i].name, CHAT_NO_PERSONA)) return 0;
    /* No file of that name: "none" is no persona, listed in its place. */
    persona_entry *list = realloc(*out, (*n + 1) * sizeof *list);
    if (!list) {
        free(*out);
        *out = NULL;
        return gc_errf(err, "out of memory");
    }
    list[*n] = (persona_entry){ .name = CHAT_NO_PERSONA,
                                .description = "no persona: the model with no instruction" };
    *out = list;
    (*n)++;
    return 0;
}

int chat_persona_names(const chat *c, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    persona_entry *list = NULL;
    size_t k = 0;
    gc_err err;
    if (chat_personas(c, &list, &k, &err)) return -1;
    char **names = calloc(k + 1, sizeof *names);
    for (size_t i = 0; names && i < k; i++)
        if (!(names[i] = strdup(list[i].name))) {
            chat_free_names(names, (int)i);
            names = NULL;
        }
    free(list);
    if (!names) return -1;
    qsort(names, k, sizeof *names, cmp_str);
    *out = names;
    *n = (int)k;
    return 0;
}

int chat_transcript_names(const chat *c, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    char dir[PATHS_MAX];
    gc_err err;
    if (chat_transcripts_dir(c, dir, sizeof dir, &err)) return -1;
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int k = 0;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") || de->d_name[0] == '.') continue;
        if (GC_GROW(names, cap, (size_t)k + 1)) break;
        if (!(names[k] = strndup(de->d_name, len - 5))) break;
        k++;
    }
    closedir(d);
    if (k) qsort(names, k, sizeof *names, cmp_str);
    *out = names;
    *n = k;
    return 0;
}

/* --- what the slash commands and the front ends see and change --- */

void chat_get_status(const chat *c, chat_status *st)
{
    memset(st, 0, sizeof *st);
    st->model_name = c ? c->model_name : "";
    st->model_path = c ? c->model_path : "";
    st->backend_name = c ? c->backend_name : "";
    st->device_name = c ? c->device_name : "";
    if (!c || !c->s) return;
    st->persona = sess_persona_name(c->s);
    st->ctx_used = sess_n_used(c->s);
    st->ctx_total = sess_n_ctx(c->s);
    st->ctx_window = sess_window(c->s);
    st->ctx_missing = sess_n_missing(c->s);
    st->n_in_context = sess_n_in_context(c->s);
    st->n_exchanges = sess_n_exchanges(c->s);
    st->n_prefilled = sess_n_prefilled(c->s);
    st->last = *sess_last_stats(c->s);
}

void chat_backend_line(const chat *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s%s", c->backend_name, c->device_name[0] ? " (" : "", c->device_name,
             c->device_name[0] ? ")" : "");
}

const char *chat_persona_label(const chat *c)
{
    const char *pn = sess_persona_name(c->s);
    return pn[0] ? pn : CHAT_NO_PERSONA;
}

const tr_transcript *chat_transcript(const chat *c) { return sess_transcript(c->s); }
const char *chat_conversation_file(const chat *c) { return c->conv_path; }
const char *chat_saved_to(const chat *c) { return c->saved_to; }
const cfg_sampling *chat_sampling(const chat *c) { return sess_sampling(c->s); }
int chat_max_tokens(const chat *c) { return sess_max_tokens(c->s); }

int chat_set_setting(chat *c, const char *key, const char *value, const char *what, gc_err *err)
{
    char full[80];
    snprintf(full, sizeof full, "%s%s", strcmp(key, "max_tokens") ? "sampling." : "", key);
    /* Parse into a copy of the config: the same types and ranges as config.yaml. */
    cfg_config tmp = c->cfg;
    tmp.sampling = *sess_sampling(c->s);
    tmp.max_tokens = sess_max_tokens(c->s);
    if (cfg_set(&tmp, full, value, CFG_SRC_FLAG, what, err)) return -1;
    cfg_sampling s = tmp.sampling;
    s.seed = resolve_seed(s.seed);
    if (sess_set_sampling(c->s, &s, err)) return -1;
    sess_set_max_tokens(c->s, tmp.max_tokens);
    c->cfg.sampling = s;
    c->cfg.max_tokens = tmp.max_tokens;
    return 0;
}

const char *chat_instruction(const chat *c) { return sess_instruction(c->s); }

int chat_set_instruction(chat *c, const char *text, gc_err *err) { return sess_set_instruction(c->s, text, err); }

int chat_branches(chat *c, sess_branch **out, size_t *n, gc_err *err) { return sess_branches(c->s, out, n, err); }

/* After a change of branch or an undo: the screen shows the conversation as it now is. */
static int shown_anew(chat *c, int rc)
{
    if (!rc && c->fe.reset) c->fe.reset(c->fe.user);
    return rc;
}

int chat_undo(chat *c, gc_err *err) { return shown_anew(c, sess_undo(c->s, err)); }
int chat_set_branch(chat *c, size_t k, gc_err *err) { return shown_anew(c, sess_set_branch(c->s, k, err)); }
int chat_switch_sibling(chat *c, int d, gc_err *err) { return shown_anew(c, sess_switch_sibling(c->s, d, err)); }

void chat_notice(chat *c, const char *text) { fe_notice(c, text); }
void chat_error(chat *c, const char *text) { fe_error(c, text); }

void chat_show_help(chat *c, const char *text)
{
    if (c->fe.help) c->fe.help(c->fe.user);
    else if (text) fe_notice(c, text);
}

int chat_put_input(chat *c, const char *line)
{
    if (!c->fe.edit) return -1;
    c->fe.edit(c->fe.user, line);
    return 0;
}

void chat_quit(chat *c) { c->quit = true; }
bool chat_quitting(const chat *c) { return c->quit; }
volatile sig_atomic_t *chat_cancel_flag(chat *c) { return &c->cancel; }
