/* resume.c: instant resume (see resume.h). */
#include "app/resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/paths.h"
#include "base/hash.h"

/* Fewer tokens than this are not worth a file. */
#define RESUME_MIN_TOKENS 16
/* The stream may be ahead of the cache by this much for resume_store to
 * evaluate the difference first (a reply's closing tokens, a short tail). */
#define RESUME_CATCH_UP_MAX 64

static int identity(sess *s, const char *model_path, const backend *be, char *buf, size_t n, gc_err *err)
{
    char model[PATHS_MAX + 128], exe[PATHS_MAX + 128];
    if (snap_file_identity(model_path, model, sizeof model, err)) return -1;
    if (snap_file_identity("/proc/self/exe", exe, sizeof exe, err)) return -1;
    gemma_session *g = sess_engine(s);
    return paths_join(buf, n, err, "gemma-chat kv v1; model %s; backend %s, device %s; build %s; ctx %d, ring %d",
                      model, be->name, be->device_name, exe, gemma_n_ctx(g), gemma_ring_slots(g));
}

void resume_open(resume *r, sess *s, const char *model_path, const backend *be, int max_mib)
{
    r->on = false;
    if (max_mib <= 0 || !s) return;
    char dir[PATHS_MAX], id[3 * PATHS_MAX];
    gc_err e;
    if (paths_ensure_user_dir(PATHS_CACHE, "snapshots", dir, sizeof dir, &e) ||
        identity(s, model_path, be, id, sizeof id, &e) || snap_open(&r->snaps, dir, id, (uint64_t)max_mib << 20, &e))
        return;
    r->on = true;
}

void resume_close(resume *r)
{
    if (r->on) snap_close(&r->snaps);
    r->on = false;
}

static uint64_t tokens_hash(const int32_t *t, size_t n) { return gc_hash(t, n * sizeof *t); }

int resume_restore(resume *r, sess *s)
{
    if (!r->on) return 0;
    size_t n;
    const int32_t *toks = sess_tokens(s, &n);
    size_t have = (size_t)sess_n_cached(s), common = 0;
    const int32_t *cached = sess_cached_tokens(s, &have);
    while (common < n && common < have && cached[common] == toks[common]) common++;
    if (n < RESUME_MIN_TOKENS || common == n) return 0;
    snap_hit h;
    /* Only a snapshot that gives more than the cache already has. */
    if (snap_find(&r->snaps, toks, n, common + 1, &h) != 1) return 0;
    gc_err e;
    int got = 0;
    if (sess_restore_cache(s, h.toks, h.n_toks, h.state, h.state_len, &e) == 0) {
        got = (int)h.common;
        r->stored = tokens_hash(h.toks, h.n_toks);   /* it is in the cache already */
    }
    snap_hit_free(&h);
    return got;
}

void resume_store(resume *r, sess *s)
{
    if (!r->on || !s) return;
    int missing = sess_n_missing(s);
    gc_err e;
    if (missing > 0 && missing <= RESUME_CATCH_UP_MAX) sess_catch_up(s, 0, &e);
    size_t n;
    const int32_t *toks = sess_cached_tokens(s, &n);
    if (n < RESUME_MIN_TOKENS) return;
    uint64_t h = tokens_hash(toks, n);
    if (h == r->stored) return;
    void *state;
    size_t len;
    if (gemma_state_save(sess_engine(s), &state, &len, &e)) return;
    if (snap_store(&r->snaps, toks, n, state, len, &e) == 0) r->stored = h;
    free(state);
}
