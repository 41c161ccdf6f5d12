/* test_vk_gemma: the whole forward pass (model/gemma.c) on the Vulkan backend
 * against the CPU backend, on every generated test model and the committed
 * quantized ones, over the golden prompt (tests/data/engine), with the
 * validation layer on.
 *
 *  - F32 models: relative L2 error of all logits <= 1e-2 and the same top-1 at
 *    every position. (Their KV cache is f32: vk_choose_kv_f16.)
 *  - quantized models (f16 KV cache): <= 2e-2 and the same top-1 at >= 99% of
 *    positions.
 *  Top-1 is over the whole vocabulary. A disagreement where the Vulkan logits
 *  hold the reference's pick within twice that row's largest logit difference
 *  (Vulkan vs reference) of their maximum is a near tie that the measured
 *  error explains (random test weights make a few); it counts as agreeing and
 *  is printed.
 *  - against the float64 reference of tools/ref_forward.py (its first 128
 *    logits and its top-1): the same bounds.
 *  - prefill then one-token decode on Vulkan matches the CPU logits of those
 *    positions (same bounds) and Vulkan's own all-at-once prefill (1/20 of the
 *    bound: the two use different matrix kernels, both accumulating in f32;
 *    measured up to 2e-5 for F32 and 7e-5 for quantized models).
 *  - the KV state saved and restored (test_state).
 */
#include <math.h>

#include "model/gemma.h"
#include "model/gguf.h"
#include "tests/vk_testlib.h"

#include "tests/golden.h"
#include "tests/state_lib.h"

typedef struct rig {
    gguf_file *g;
    backend *be;
    gemma_model *m;
    gemma_session *s;
} rig;

/* Kernel variants the Vulkan rig forces (vk_test_hooks): none, the
 * multi-subgroup matrix-vector reduction, the integer dot products. */
static enum { VARIANT_OWN, VARIANT_NO_SIZE_CONTROL, VARIANT_INT_DOT } variant;
static const char *const variant_names[] = { "", " (no subgroup size control)", " (integer dot)" };
static bool force_staging;  /* the Vulkan rig uploads through staging as a discrete GPU does */

static int rig_open_opts(rig *r, const char *path, bool vulkan, const gemma_session_opts *so)
{
    memset(r, 0, sizeof *r);
    gc_err err = {0};
    int rc = gguf_open(&r->g, path, &err);
    if (!rc) {
        if (vulkan) {
            vk_backend_opts o = vt_opts();
            o.model = r->g;
            o.hooks.no_size_control = variant == VARIANT_NO_SIZE_CONTROL;
            o.hooks.fast_int_dot = variant == VARIANT_INT_DOT;
            o.hooks.force_staging = force_staging;
            rc = vk_backend_create(&o, &r->be, &err);
        } else {
            rc = ref_backend_create(&r->be, &err);
        }
    }
    rc = rc || gemma_model_load(&r->m, r->g, r->be, NULL, NULL, &err) ||
         gemma_session_open(&r->s, r->m, so, &err);
    CHECK(rc == 0, "%s (%s): %s", path, vulkan ? "vulkan" : "cpu", err.msg);
    if (!rc && vulkan) {
        /* The uploaded weights' pages of the file map were given back (the
         * logits checked by every caller show nothing needed them again). */
        vk_backend_stats st;
        vk_backend_stats_get(r->be, &st);
        CHECK(st.host_bytes_released > r->g->size / 2, "%s: %llu of %llu file bytes released after upload", path,
              (unsigned long long)st.host_bytes_released, (unsigned long long)r->g->size);
    }
    return rc ? -1 : 0;
}

static int rig_open(rig *r, const char *path, bool vulkan, int n_ctx, int n_batch)
{
    gemma_session_opts so = { .n_ctx = n_ctx, .n_batch = n_batch };
    return rig_open_opts(r, path, vulkan, &so);
}

static void rig_close(rig *r)
{
    gemma_session_free(r->s);
    gemma_model_free(r->m);
    if (r->be) r->be->destroy(r->be);
    gguf_close(r->g);
}

/* Relative L2 over the first `cols` logits of rows [0, n) (rows n_vocab apart
 * in mine, want_stride in want) and the share of rows whose top-1 over the
 * whole vocabulary agrees with want_top1 (NULL: want's own maximum, then
 * want_stride must be n_vocab). A disagreement where mine has the wanted id
 * within twice the row's largest difference of its maximum is a near tie and
 * counts as agreeing. */
static void agree(const char *what, const float *mine, const float *want, const int32_t *want_top1, int n,
                  int n_vocab, int cols, int want_stride, double max_rel, double min_top1)
{
    double num = 0, den = 0;
    int ok = 0, ties = 0;
    for (int i = 0; i < n; i++) {
        const float *a = mine + (size_t)i * n_vocab, *b = want + (size_t)i * want_stride;
        double dmax = 0;
        for (int j = 0; j < cols; j++) {
            if (!isfinite(a[j])) num = INFINITY;
            double d = (double)a[j] - b[j];
            if (fabs(d) > dmax) dmax = fabs(d);
            num += d * d;
            den += (double)b[j] * b[j];
        }
        int ia = 0, ib = 0;
        for (int j = 0; j < n_vocab; j++) {
            if (a[j] > a[ia]) ia = j;
            if (!want_top1 && b[j] > b[ib]) ib = j;
        }
        if (want_top1) ib = want_top1[i];
        if (ia == ib) ok++;
        else if (a[ia] - a[ib] <= 2 * dmax) {
            ok++;
            ties++;
            fprintf(stderr, "%s: position %d: near tie (%d %.6f vs wanted %d %.6f; largest difference %.2g)\n",
                    what, i, ia, a[ia], ib, a[ib], dmax);
        } else {
            fprintf(stderr, "%s: position %d: top-1 %d (%.6f), wanted %d (%.6f)\n", what, i, ia, a[ia], ib, a[ib]);
        }
    }
    double rel = sqrt(num / den), top1 = (double)ok / n;
    fprintf(stderr, "%-44s rel_l2 %.3e (max %.0e)  top1 %.3f (min %.2f, %d near ties)\n", what, rel, max_rel, top1,
            min_top1, ties);
    CHECK(rel <= max_rel, "%s: rel L2 %.3e > %.1e", what, rel, max_rel);
    CHECK(top1 >= min_top1, "%s: top-1 agreement %.3f < %.2f", what, top1, min_top1);
}

static void model_case(const char *dir, const char *name, double max_rel, double min_top1)
{
    char path[512], gpath[512];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    snprintf(gpath, sizeof gpath, "tests/data/engine/%s.ref.golden", name);
    char label[96];   /* the model, and the kernel choice when it is not the device's own */
    snprintf(label, sizeof label, "%s%s", name, variant_names[variant]);
    golden g;
    if (golden_read(&g, gpath)) return;
    rig c, v;
    if (rig_open(&c, path, false, 64, 0) == 0 && rig_open(&v, path, true, 64, 0) == 0) {
        int nv = gemma_n_vocab(c.m), n = g.n;
        float *lc = malloc((size_t)n * nv * 4), *lv = malloc((size_t)n * nv * 4);
        gc_err err = {0};
        CHECK(gemma_eval_all(c.s, g.tokens, n, lc, &err) == 0, "%s cpu: %s", name, err.msg);
        CHECK(gemma_eval_all(v.s, g.tokens, n, lv, &err) == 0, "%s vulkan: %s", name, err.msg);
        char what[192];
        snprintf(what, sizeof what, "%s vulkan vs cpu", label);
        agree(what, lv, lc, NULL, n, nv, nv, nv, max_rel, min_top1);
        snprintf(what, sizeof what, "%s vulkan vs float64 (%d ids)", label, g.n_cols);
        agree(what, lv, g.logits, g.top1, n, nv, g.n_cols, g.n_cols, max_rel, min_top1);

        /* prefill 2/3 of the prompt on a fresh session, then decode the rest one by one */
        gemma_session_free(v.s);
        v.s = NULL;
        CHECK(gemma_session_create(&v.s, v.m, 64, 0, &err) == 0, "%s", err.msg);
        int np = n * 2 / 3;
        float *ld = malloc((size_t)n * nv * 4);
        CHECK(v.s && gemma_eval(v.s, g.tokens, np, GEMMA_WANT_LOGITS, &err) == 0, "%s prefill: %s", name, err.msg);
        if (v.s) memcpy(ld + (size_t)(np - 1) * nv, gemma_logits(v.s), (size_t)nv * 4);
        int argmax_ok = 1;
        for (int i = np; v.s && i < n; i++) {
            CHECK(gemma_eval(v.s, &g.tokens[i], 1, GEMMA_WANT_LOGITS | GEMMA_WANT_ARGMAX, &err) == 0, "%s: %s",
                  name, err.msg);
            const float *lg = gemma_logits(v.s);
            memcpy(ld + (size_t)i * nv, lg, (size_t)nv * 4);
            int best = 0;
            for (int j = 0; j < nv; j++) if (lg[j] > lg[best]) best = j;
            argmax_ok &= gemma_argmax(v.s) == best;
        }
        CHECK(argmax_ok, "%s: the device argmax differs from the logits' maximum", name);
        int nd = n - np + 1;
        snprintf(what, sizeof what, "%s vulkan prefill+decode vs cpu", label);
        agree(what, ld + (size_t)(np - 1) * nv, lc + (size_t)(np - 1) * nv, NULL, nd, nv, nv, nv, max_rel, min_top1);
        snprintf(what, sizeof what, "%s vulkan prefill+decode vs prefill", label);
        /* the same kernels' math both ways, except where decode rounds x to 8 bits */
        bool same = variant != VARIANT_INT_DOT;
        agree(what, ld + (size_t)(np - 1) * nv, lv + (size_t)(np - 1) * nv, NULL, nd, nv, nv, nv,
              same ? max_rel / 20 : max_rel, same ? 1.0 : min_top1);
        free(lc);
        free(lv);
        free(ld);
    }
    rig_close(&c);
    rig_close(&v);
    golden_free(&g);
    vt_no_validation_messages();
}

static void test_f32_models(void)
{
    const char *models = getenv("MODELS") ? getenv("MODELS") : "build/models";
    const char *names[] = { "g2-default", "g2-gqa4", "g2-hd", "g2-win8", "g2-cap", "g2-46l", "g3-default", "g3-linear" };
    for (int i = 0; i < 8; i++) model_case(models, names[i], 1e-2, 1.0);
}

static void test_quantized_models(void)
{
    const char *names[] = { "g2-quant-Q8_0", "g2-quant-Q4_0", "g2-quant-Q4_K_M", "g2-quant-Q5_K_M",
                            "g2-quant-Q6_K", "g3-quant-Q4_K_M", "g3-quant-Q5_K_M" };
    for (int i = 0; i < 7; i++) model_case("tests/models", names[i], 2e-2, 0.99);
}

/* The variants lavapipe does not pick itself: the multi-subgroup
 * matrix-vector reduction (devices without subgroup size control) on an F32
 * and a quantized model, the integer dot products (x rounded to 8 bits, as
 * llama.cpp does; the quantized models' bound) on two quantized models. */
static void test_forced_variants(void)
{
    const char *models = getenv("MODELS") ? getenv("MODELS") : "build/models";
    variant = VARIANT_NO_SIZE_CONTROL;
    model_case(models, "g3-default", 1e-2, 1.0);
    model_case("tests/models", "g2-quant-Q4_K_M", 2e-2, 0.99);
    variant = VARIANT_INT_DOT;
    model_case("tests/models", "g2-quant-Q4_K_M", 2e-2, 0.99);
    model_case("tests/models", "g3-quant-Q5_K_M", 2e-2, 0.99);
    variant = VARIANT_OWN;
}

/* The sliding layers' ring (g2-win8: window 8, batch 4, 2 slots kept for
 * rewinds: 13 slots) against the full cache on Vulkan, with the device's
 * kernels and a GPU's: a prefill in batches, one-token decode after a rewind
 * the ring covers, and a rewind it does not (back to 0, then the same logits).
 * Against the reference's full cache the F32 bound; against its own prefill,
 * where the same kernels read the same values, 1e-6 (measured: 0). */
static void ring_case(void)
{
    const char *models = getenv("MODELS") ? getenv("MODELS") : "build/models";
    char path[512];
    snprintf(path, sizeof path, "%s/g2-win8.gguf", models);
    golden g;
    if (golden_read(&g, "tests/data/engine/g2-win8.ref.golden")) return;
    rig ring, full;
    gemma_session_opts so = { .n_ctx = 64, .n_batch = 4, .rewind_keep = 2 };
    if (rig_open_opts(&ring, path, true, &so) == 0) {
        so.full_kv = true;
        if (rig_open_opts(&full, path, false, &so) == 0) {
            int nv = gemma_n_vocab(ring.m), n = g.n;
            float *a = malloc((size_t)n * nv * 4), *b = malloc((size_t)n * nv * 4), *d = malloc((size_t)nv * 6 * 4);
            gc_err err = {0};
            CHECK(gemma_ring_slots(ring.s) == 13, "ring slots %d", gemma_ring_slots(ring.s));
            CHECK(gemma_eval_all(ring.s, g.tokens, n, a, &err) == 0, "%s", err.msg);
            CHECK(gemma_eval_all(full.s, g.tokens, n, b, &err) == 0, "%s", err.msg);
            agree("g2-win8 vulkan ring vs cpu full cache", a, b, NULL, n, nv, nv, nv, 1e-2, 1.0);
            CHECK(gemma_rewind(ring.s, n - 6, &err) == 0 && gemma_n_past(ring.s) == n - 6, "rewind in the ring");
            for (int i = n - 6; i < n; i++) {
                CHECK(gemma_eval(ring.s, &g.tokens[i], 1, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
                memcpy(d + (size_t)(i - n + 6) * nv, gemma_logits(ring.s), (size_t)nv * 4);
            }
            agree("g2-win8 vulkan ring decode vs its prefill", d, a + (size_t)(n - 6) * nv, NULL, 6, nv, nv, nv,
                  1e-3, 1.0);
            CHECK(gemma_rewind(ring.s, n - 7, &err) == 0 && gemma_n_past(ring.s) == 0, "rewind past the ring: %d",
                  gemma_n_past(ring.s));
            float *again = malloc((size_t)n * nv * 4);
            CHECK(gemma_eval_all(ring.s, g.tokens, n, again, &err) == 0, "%s", err.msg);
            agree("g2-win8 vulkan ring re-prefill vs prefill", again, a, NULL, n, nv, nv, nv, 1e-6, 1.0);
            free(again);
            free(a);
            free(b);
            free(d);
            rig_close(&full);
        }
    }
    rig_close(&ring);
    golden_free(&g);
    vt_no_validation_messages();
}

static void test_ring(void)
{
    ring_case();
    variant = VARIANT_NO_SIZE_CONTROL;
    ring_case();
    variant = VARIANT_OWN;
}

/* Saving and restoring the KV state on Vulkan (tests/state_lib.h): a ring
 * of 13 slots that a 30-token prompt wraps, on g2-win8 (f32 cache) through
 * the mapping and through staging, and on a quantized Gemma 3 (f16 cache).
 * The restored session computes the same rows the same way: the same bits. */
static void state_model(const char *path)
{
    golden g;
    if (golden_read(&g, "tests/data/engine/g2-win8.ref.golden")) return;
    gemma_session_opts so = { .n_ctx = 64, .n_batch = 4, .rewind_keep = 2 };
    rig a, b;
    CHECK(g.n >= 30 + STATE_NEXT, "golden prompt of %d tokens", g.n);
    if (g.n >= 30 + STATE_NEXT && rig_open_opts(&a, path, true, &so) == 0) {
        if (rig_open_opts(&b, path, true, &so) == 0) {
            char what[64];
            snprintf(what, sizeof what, "vulkan %s%s", strrchr(path, '/') + 1, force_staging ? " (staging)" : "");
            state_case(what, a.m, &a.s, b.s, &so, gemma_n_vocab(a.m), g.tokens, 30, 0);
        }
        rig_close(&b);
    }
    rig_close(&a);
    golden_free(&g);
    vt_no_validation_messages();
}

static void test_state(void)
{
    const char *models = getenv("MODELS") ? getenv("MODELS") : "build/models";
    char path[512];
    snprintf(path, sizeof path, "%s/g2-win8.gguf", models);
    state_model(path);
    force_staging = true;
    state_model(path);
    force_staging = false;
    state_model("tests/models/g3-quant-Q4_K_M.gguf");
}

int main(void)
{
    VT_NEED_DEVICE();
    TEST_RUN(test_ring);
    TEST_RUN(test_state);
    TEST_RUN(test_f32_models);
    TEST_RUN(test_quantized_models);
    TEST_RUN(test_forced_variants);
    return test_summary();
}
