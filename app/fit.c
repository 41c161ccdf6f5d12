/* fit.c: the fit check before loading (see fit.h). */
#include "app/fit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gemma.h"

typedef struct fit_sizes {
    uint64_t weights, kv, scratch, have;
    int n_ctx, n_ctx_train;
} fit_sizes;

static int sizes(backend *be, const gguf_file *g, int n_batch, int n_ctx, fit_sizes *f, gc_err *err)
{
    gemma_session_opts o = { .n_ctx = n_ctx, .n_batch = n_batch };
    gemma_mem m;
    if (gemma_mem_estimate(g, &o, &m, err)) return -1;
    f->weights = be->weight_bytes(be, g);
    f->kv = m.kv_slots * m.kv_values_per_slot * (uint64_t)be->kv_value_bytes(be, g);
    f->scratch = m.scratch_bytes;
    f->n_ctx = m.n_ctx;
    f->n_ctx_train = m.n_ctx_train;
    return 0;
}

static bool fits(const fit_sizes *f) { return f->weights + f->kv + f->scratch <= f->have; }

/* The largest context in 1..hi that fits, or 0. */
static int largest_fit(backend *be, const gguf_file *g, int n_batch, int hi, uint64_t have)
{
    int lo = 0;   /* fits (0: none known) */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        fit_sizes f = { .have = have };
        gc_err ignore;
        if (sizes(be, g, n_batch, mid, &f, &ignore) == 0 && fits(&f)) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static uint64_t mib(uint64_t b) { return (b + (1u << 20) - 1) >> 20; }

int fit_check(backend *be, const gguf_file *g, int n_batch, int *n_ctx, gc_err *err)
{
    uint64_t have = be->memory_budget(be);
    fit_sizes f = { .have = have };
    if (sizes(be, g, n_batch, 0, &f, err)) return gc_err_prefix(err, "%s", g->path);
    int train = f.n_ctx_train, want = *n_ctx > train ? train : *n_ctx;
    if (!have) {   /* the backend cannot tell: no check */
        *n_ctx = want ? want : train;
        return 0;
    }
    if (want == 0) {
        int best = largest_fit(be, g, n_batch, train, have);
        int floor = train < 4096 ? train : 4096;
        want = best > floor ? best : floor;
    }
    if (sizes(be, g, n_batch, want, &f, err)) return gc_err_prefix(err, "%s", g->path);
    if (fits(&f)) {
        *n_ctx = want;
        return 0;
    }
    gc_errf(err, "%s: model needs %llu MiB weights + %llu MiB KV (ctx %d) + %llu MiB scratch; the %s has %llu MiB",
            g->path, (unsigned long long)mib(f.weights), (unsigned long long)mib(f.kv), f.n_ctx,
            (unsigned long long)mib(f.scratch), strcmp(be->name, "vulkan") ? "host" : "device",
            (unsigned long long)(have >> 20));
    int best = f.weights + f.scratch < have ? largest_fit(be, g, n_batch, want, have) : 0;
    size_t k = strlen(err->msg);
    if (best > 0) snprintf(err->msg + k, sizeof err->msg - k, "; --ctx %d fits", best);
    return -1;
}
