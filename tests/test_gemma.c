/* test_gemma: the forward pass on the reference backend and on the native
 * CPU backend (at every instruction-set level this CPU has, with 1 to 4
 * threads, at most one per CPU) against golden logits (tests/data/engine, made by
 * tools/make_logit_goldens.sh), prefill versus one-token decode, chunked
 * prefill, rewind, warm-up, saving and restoring the KV state, and the
 * session's errors.
 *
 * Two goldens per model:
 *  - NAME.llama.golden: llama.cpp's logits with an f32 KV cache and no flash
 *    attention: its CPU backend for F32 models, its Vulkan backend (lavapipe)
 *    for quantized ones, because the CPU backend rounds activations to 8 bits
 *    before every quantized product (1e-2..4e-2 on its own). Measured llama.cpp
 *    vs the float64 reference: 3e-4..5e-4 on F32 models (its fp16 GELU table),
 *    6e-3..8e-3 on quantized ones. The bounds are the issue's: F32 <= 2e-3 and
 *    every top-1; quantized <= 2e-2 and top-1 at >= 99% of positions.
 *  - NAME.ref.golden: tools/ref_forward.py, the forward pass in float64 with
 *    weights dequantized by gguf-py. The engine must match it to 1e-4 and on
 *    every top-1: this is the check that resolves arithmetic mistakes. The
 *    native backend meets it on F32 models; on quantized ones its two-term
 *    8-bit activations (~16 bits, cpu/cpu_backend.c) measured 6e-5..1e-4,
 *    so there the bound is 5e-4 (one-term 8-bit activations: 2e-2..2.6e-2).
 * The reference runs every row through the same ops, so prefill, chunked
 * prefill and decode agree bit for bit; the native kernels block rows
 * differently for one row and for many, so there they agree to 1e-5.
 */
#include <stdlib.h>

#include "app/backends.h"
#include "model/gemma.h"
#include "model/gguf.h"
#include "model/quant.h"
#include "tests/test.h"

#include "tests/golden.h"
#include "tests/state_lib.h"
#include "cpu/isa.h"
#include "cpu/kernels.h"

/* The backend under test ("ref" or "cpu") and whether it must be bit-exact. */
static const char *be_name = "ref";
static bool be_exact = true;
static cpu_isa be_level;   /* the CPU backend's instruction-set level, when be_name is "cpu" */

/* Logits that must agree: bit for bit on the reference, to 1e-5 elsewhere. */
static bool same_logits(const float *a, const float *b, size_t n)
{
    if (be_exact) return memcmp(a, b, n * sizeof *a) == 0;
    double e = test_rel_l2(a, b, n);
    if (!(e <= 1e-5)) fprintf(stderr, "  (rel L2 %.3g)\n", e);
    return e <= 1e-5;
}

/* A loaded model with its backend and file, for one test. */
typedef struct rig {
    backends_model bm;
    gemma_model *m;
    gemma_session *s;
} rig;

static void model_path(char *buf, size_t len, const char *name)
{
    /* Quantized variants are committed; F32 models are generated into $MODELS. */
    const char *models = getenv("MODELS");
    if (strstr(name, "-Q")) snprintf(buf, len, "tests/models/%s.gguf", name);
    else snprintf(buf, len, "%s/%s.gguf", models ? models : "build/models", name);
}

static int rig_open_opts(rig *r, const char *name, const gemma_session_opts *o)
{
    memset(r, 0, sizeof *r);
    char path[512];
    model_path(path, sizeof path, name);
    gc_err err = {0};
    int rc = backends_load(&r->bm, path, be_name, NULL, NULL, NULL, &err) ||
             gemma_session_open(&r->s, r->m = r->bm.model, o, &err);
    CHECK(rc == 0, "%s: %s", name, err.msg);
    return rc ? -1 : 0;
}

static int rig_open(rig *r, const char *name, int n_ctx, int n_batch)
{
    gemma_session_opts o = { .n_ctx = n_ctx, .n_batch = n_batch };
    return rig_open_opts(r, name, &o);
}

static void rig_close(rig *r)
{
    gemma_session_free(r->s);
    backends_unload(&r->bm);
}

/* rel L2 over the golden's columns and top-1 agreement over the whole
 * vocabulary; min_top1 < 0: the caller checks the agreement (returned: the
 * positions that agree) over several models. */
static int compare(const char *what, const float *mine, const golden *g, double max_rel, double min_top1)
{
    double num = 0, den = 0;
    int agree = 0;
    bool finite = true;
    for (int i = 0; i < g->n; i++) {
        const float *row = mine + (size_t)i * g->n_vocab;
        int best = 0;
        for (int j = 0; j < g->n_vocab; j++) {
            finite &= isfinite(row[j]) != 0;
            if (row[j] > row[best]) best = j;
        }
        agree += best == g->top1[i];
        for (int j = 0; j < g->n_cols; j++) {
            double d = (double)row[j] - g->logits[(size_t)i * g->n_cols + j];
            num += d * d;
            den += (double)g->logits[(size_t)i * g->n_cols + j] * g->logits[(size_t)i * g->n_cols + j];
        }
    }
    double rel = finite ? sqrt(num / den) : INFINITY, top1 = (double)agree / g->n;
    fprintf(stderr, "%-32s rel_l2 %.3e (max %.0e)  top1 %.3f (min %.2f%s)\n", what, rel, max_rel, top1,
            fabs(min_top1), min_top1 < 0 ? " over the models" : "");
    CHECK(rel <= max_rel, "%s: rel L2 %.3e > %.1e", what, rel, max_rel);
    if (min_top1 >= 0) CHECK(top1 >= min_top1, "%s: top-1 agreement %.3f < %.2f", what, top1, min_top1);
    return agree;
}

/* Top-1 agreement counted over the quantized models together (the issue's
 * ">= 99%": a model's 40 positions alone cannot show a 1% slip): [0] against
 * llama.cpp, [1] against float64. */
static int pooled_agree[2], pooled_n[2];

/* Whether the backend under test prefills quantized models in bf16 (the CPU
 * backend's AMX level): its logits then stand as far from float64 as
 * llama.cpp's do (7e-3 on these models), not ~1e-4 as with its 8-bit pairs. */
static bool bf16_prefill(void)
{
    const cpu_matmul_kernel *pk =
        be_exact ? NULL : cpu_prefill_kernel_for(GT_Q8_0, cpu_layout_for(GT_Q8_0, be_level), be_level);
    return pk && pk->bf16_weights;
}

static void golden_model(const char *name, double llama_rel, double llama_top1)
{
    char path[512];
    golden gl, gr;
    snprintf(path, sizeof path, "tests/data/engine/%s.llama.golden", name);
    if (golden_read(&gl, path)) return;
    snprintf(path, sizeof path, "tests/data/engine/%s.ref.golden", name);
    if (golden_read(&gr, path)) { golden_free(&gl); return; }
    rig r;
    if (rig_open(&r, name, gl.n, 0) == 0) {
        CHECK(gemma_n_vocab(r.m) == gl.n_vocab, "%s: vocabulary %d, golden %d", name, gemma_n_vocab(r.m), gl.n_vocab);
        float *lg = malloc((size_t)gl.n * gl.n_vocab * sizeof *lg);
        gc_err err = {0};
        CHECK(gemma_eval_all(r.s, gl.tokens, gl.n, lg, &err) == 0, "%s: %s", name, err.msg);
        char what[96];
        bool quant = strstr(name, "-Q") != NULL;
        snprintf(what, sizeof what, "%s vs llama.cpp", name);
        int agree = compare(what, lg, &gl, llama_rel, quant ? -llama_top1 : llama_top1);
        snprintf(what, sizeof what, "%s vs float64", name);
        double f64_rel = !quant || be_exact ? 1e-4 : bf16_prefill() ? 1e-2 : 5e-4;
        bool pool64 = quant && bf16_prefill();
        int agree64 = compare(what, lg, &gr, f64_rel, pool64 ? -llama_top1 : 1.0);
        if (quant) {
            pooled_agree[0] += agree;
            pooled_agree[1] += agree64;
            pooled_n[0] += gl.n;
            pooled_n[1] += gr.n;
        }
        free(lg);
    }
    rig_close(&r);
    golden_free(&gl);
    golden_free(&gr);
}

static void test_goldens_f32(void)
{
    const char *names[] = { "g2-default", "g2-gqa4", "g2-hd", "g2-win8", "g2-cap", "g2-46l",
                            "g3-default", "g3-linear" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) golden_model(names[i], 2e-3, 1.0);
}

static void test_goldens_quant(void)
{
    const char *names[] = { "g2-quant-Q8_0", "g2-quant-Q4_0", "g2-quant-Q4_K_M", "g2-quant-Q5_K_M",
                            "g2-quant-Q6_K", "g3-quant-Q4_K_M", "g3-quant-Q5_K_M" };
    memset(pooled_agree, 0, sizeof pooled_agree);
    memset(pooled_n, 0, sizeof pooled_n);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) golden_model(names[i], 2e-2, 0.99);
    for (int k = 0; k < 2; k++) {
        double top1 = pooled_n[k] ? (double)pooled_agree[k] / pooled_n[k] : 0;
        fprintf(stderr, "quantized models vs %-12s top1 %.3f over %d positions (min 0.99)\n",
                k ? "float64" : "llama.cpp", top1, pooled_n[k]);
        CHECK(pooled_n[k] > 0 && top1 >= 0.99, "quantized models vs %s: top-1 agreement %.3f < 0.99",
              k ? "float64" : "llama.cpp", top1);
    }
}

/* The golden prompt's tokens, for the tests below. */
static int prompt_tokens(int32_t *out, int cap)
{
    golden g;
    if (golden_read(&g, "tests/data/engine/g2-win8.ref.golden")) return 0;
    int n = g.n < cap ? g.n : cap;
    memcpy(out, g.tokens, n * sizeof *out);
    golden_free(&g);
    return n;
}

/* Prefill of all tokens at once, in chunks of 7, and one token at a time
 * give bit-identical logits on the CPU backend (same ops per row). */
static void prefill_vs_decode(const char *name)
{
    int32_t toks[64];
    int n = prompt_tokens(toks, 64);
    CHECK(n >= 40, "prompt of %d tokens", n);
    if (n < 40) return;
    rig a, b, c;
    if (rig_open(&a, name, 64, 0) || rig_open(&b, name, 64, 1) || rig_open(&c, name, 64, 7)) {
        rig_close(&a);
        return;
    }
    int nv = gemma_n_vocab(a.m);
    float *all = malloc((size_t)n * nv * sizeof *all), *chunked = malloc((size_t)n * nv * sizeof *chunked);
    gc_err err = {0};
    CHECK(gemma_eval_all(a.s, toks, n, all, &err) == 0, "%s", err.msg);
    CHECK(gemma_eval_all(c.s, toks, n, chunked, &err) == 0, "%s", err.msg);
    CHECK(same_logits(all, chunked, (size_t)n * nv), "%s: chunked prefill differs", name);
    int same = 1;
    for (int i = 0; i < n; i++) {
        CHECK(gemma_eval(b.s, &toks[i], 1, GEMMA_WANT_LOGITS | GEMMA_WANT_ARGMAX, &err) == 0, "%s", err.msg);
        const float *lg = gemma_logits(b.s);
        same &= lg && same_logits(lg, all + (size_t)i * nv, nv);
        int best = 0;
        for (int j = 0; lg && j < nv; j++) if (lg[j] > lg[best]) best = j;
        same &= gemma_argmax(b.s) == best;
    }
    CHECK(same, "%s: one-token decode differs from prefill", name);
    CHECK(gemma_n_past(b.s) == n && gemma_n_past(a.s) == n, "n_past %d", gemma_n_past(b.s));
    free(all);
    free(chunked);
    rig_close(&a);
    rig_close(&b);
    rig_close(&c);
}

static void test_prefill_vs_decode(void)
{
    prefill_vs_decode("g2-win8");      /* sliding window of 8 over 40 positions */
    prefill_vs_decode("g3-default");   /* QK-norm, 5:1 pattern, two rope bases */
}

/* Rewinding and re-decoding reproduces the logits exactly, also after other
 * tokens were written over the forgotten positions. */
static void test_rewind(void)
{
    int32_t toks[64];
    int n = prompt_tokens(toks, 64);
    rig r;
    if (n < 40 || rig_open(&r, "g2-win8", 64, 16)) return;
    int nv = gemma_n_vocab(r.m);
    float *first = malloc(nv * sizeof *first), *again = malloc(nv * sizeof *again);
    gc_err err = {0};
    CHECK(gemma_eval(r.s, toks, n, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    memcpy(first, gemma_logits(r.s), nv * sizeof *first);

    CHECK(gemma_rewind(r.s, 20, &err) == 0, "%s", err.msg);
    CHECK(gemma_n_past(r.s) == 20 && gemma_logits(r.s) == NULL, "after rewind n_past %d", gemma_n_past(r.s));
    int32_t other[20];
    for (int i = 0; i < 20; i++) other[i] = (toks[i] * 7 + 3) % nv;
    CHECK(gemma_eval(r.s, other, 20, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    CHECK(memcmp(gemma_logits(r.s), first, nv * sizeof *first) != 0, "other tokens gave the same logits");

    CHECK(gemma_rewind(r.s, 20, &err) == 0, "%s", err.msg);
    for (int i = 20; i < n; i++) CHECK(gemma_eval(r.s, &toks[i], 1, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    memcpy(again, gemma_logits(r.s), nv * sizeof *again);
    CHECK(same_logits(first, again, nv), "rewind + re-decode differs");

    CHECK(gemma_rewind(r.s, 0, &err) == 0, "%s", err.msg);
    CHECK(gemma_eval(r.s, toks, n, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    CHECK(same_logits(first, gemma_logits(r.s), nv), "rewind to 0 + prefill differs");

    CHECK(gemma_rewind(r.s, n + 1, &err) != 0, "rewind forward accepted");
    CHECK_CONTAINS(err.msg, "rewind to 41");
    free(first);
    free(again);
    rig_close(&r);
}

/* The sliding layers' ring (window 8, batch 4, 2 slots kept for rewinds: 13
 * slots) gives the logits of the full cache: a prefill in batches, one-token
 * decode, a rewind the ring still covers, and one it does not (the session
 * goes back to 0, and the re-prefill gives the same logits again). */
static void test_ring(void)
{
    int32_t toks[64];
    int n = prompt_tokens(toks, 64);
    rig ring, full;
    gemma_session_opts o = { .n_ctx = 64, .n_batch = 4, .rewind_keep = 2 };
    if (n < 40 || rig_open_opts(&ring, "g2-win8", &o)) return;
    o.full_kv = true;
    if (rig_open_opts(&full, "g2-win8", &o)) { rig_close(&ring); return; }
    CHECK(gemma_ring_slots(ring.s) == 13 && gemma_ring_slots(full.s) == 64, "ring slots %d, full %d",
          gemma_ring_slots(ring.s), gemma_ring_slots(full.s));
    int nv = gemma_n_vocab(ring.m);
    float *a = malloc((size_t)n * nv * sizeof *a), *b = malloc((size_t)n * nv * sizeof *b);
    gc_err err = {0};
    CHECK(gemma_eval_all(ring.s, toks, n, a, &err) == 0, "%s", err.msg);
    CHECK(gemma_eval_all(full.s, toks, n, b, &err) == 0, "%s", err.msg);
    CHECK(same_logits(a, b, (size_t)n * nv), "ring prefill differs from the full cache");

    /* 6 back = R - window + 1: the ring still holds the window before it. */
    CHECK(gemma_rewind(ring.s, n - 6, &err) == 0 && gemma_n_past(ring.s) == n - 6, "rewind in the ring: n_past %d",
          gemma_n_past(ring.s));
    bool same = true;
    for (int i = n - 6; i < n; i++) {
        CHECK(gemma_eval(ring.s, &toks[i], 1, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
        same &= gemma_logits(ring.s) && same_logits(gemma_logits(ring.s), b + (size_t)i * nv, nv);
    }
    CHECK(same, "one-token decode after a rewind in the ring differs from the full cache");

    /* 7 back: the window before it is gone, so the session starts over. */
    CHECK(gemma_rewind(ring.s, n - 7, &err) == 0 && gemma_n_past(ring.s) == 0, "rewind past the ring: n_past %d",
          gemma_n_past(ring.s));
    CHECK(gemma_eval_all(ring.s, toks, n, a, &err) == 0, "%s", err.msg);
    CHECK(same_logits(a, b, (size_t)n * nv), "re-prefill after losing the ring differs from the full cache");
    CHECK(gemma_rewind(full.s, n - 7, &err) == 0 && gemma_n_past(full.s) == n - 7, "full cache rewinds exactly");
    free(a);
    free(b);
    rig_close(&ring);
    rig_close(&full);
}

/* Saving and restoring a session's KV state (tests/state_lib.h) on a ring
 * of 13 slots (window 8, batch 4, 2 kept) that a 30-token prompt wraps, on
 * Gemma 2 and Gemma 3 (QK-norm, 5:1 pattern). The restored session computes
 * the same rows the same way: the same bits. */
static void test_state(void)
{
    int32_t toks[64];
    int n = prompt_tokens(toks, 64);
    const char *names[] = { "g2-win8", "g3-default" };
    gemma_session_opts o = { .n_ctx = 64, .n_batch = 4, .rewind_keep = 2 };
    for (int i = 0; i < 2 && n >= 30 + STATE_NEXT; i++) {
        rig a, b;
        if (rig_open_opts(&a, names[i], &o)) continue;
        if (rig_open_opts(&b, names[i], &o) == 0) {
            char what[64];
            snprintf(what, sizeof what, "%s %s", be_name, names[i]);
            state_case(what, a.m, &a.s, b.s, &o, gemma_n_vocab(a.m), toks, 30, 0);
            rig_close(&b);
        }
        rig_close(&a);
    }
}

static void count_steps(void *u, uint64_t done, uint64_t total)
{
    int *calls = u;
    CHECK(total == 2 && done == (uint64_t)*calls, "warm-up progress %llu of %llu at call %d",
          (unsigned long long)done, (unsigned long long)total, *calls);
    (*calls)++;
}

/* The warm-up leaves no trace: in the middle of a conversation it keeps n_past
 * and the logits that follow are the same bits as without it; with too little
 * room left it does nothing. */
static void test_warmup(void)
{
    int32_t toks[64];
    int n = prompt_tokens(toks, 64);
    rig r;
    if (n < 40 || rig_open(&r, "g2-win8", 64, 16)) return;
    int nv = gemma_n_vocab(r.m);
    float *want = malloc(nv * sizeof *want);
    gc_err err = {0};
    CHECK(gemma_eval(r.s, toks, n, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    memcpy(want, gemma_logits(r.s), nv * sizeof *want);

    CHECK(gemma_rewind(r.s, 30, &err) == 0, "%s", err.msg);
    int calls = 0;
    CHECK(gemma_warmup(r.s, count_steps, &calls, &err) == 0, "%s", err.msg);
    CHECK(calls == 3, "warm-up progress calls %d", calls);
    CHECK(gemma_n_past(r.s) == 30 && gemma_logits(r.s) == NULL, "after warm-up n_past %d", gemma_n_past(r.s));
    CHECK(gemma_eval(r.s, toks + 30, n - 30, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    CHECK(same_logits(want, gemma_logits(r.s), nv), "logits after a warm-up differ");

    int past = gemma_n_past(r.s);   /* now: one free position of the 64 */
    if (past > 63) CHECK(gemma_rewind(r.s, 63, &err) == 0, "%s", err.msg);
    else if (past < 63) CHECK(gemma_eval(r.s, toks, 63 - past, 0, &err) == 0, "%s", err.msg);
    calls = 0;
    CHECK(gemma_warmup(r.s, count_steps, &calls, &err) == 0 && calls == 0 && gemma_n_past(r.s) == 63,
          "warm-up with one free position: %d calls, n_past %d", calls, gemma_n_past(r.s));
    free(want);
    rig_close(&r);
}

static void test_errors(void)
{
    rig r;
    if (rig_open(&r, "g2-default", 8, 0)) return;
    gc_err err = {0};
    int32_t toks[9] = { 2, 5, 6, 7, 8, 9, 10, 11, 12 };
    CHECK(gemma_eval(r.s, toks, 9, GEMMA_WANT_LOGITS, &err) != 0, "9 tokens in a context of 8 accepted");
    CHECK_CONTAINS(err.msg, "context full");
    CHECK(gemma_n_past(r.s) == 0, "failed eval moved n_past to %d", gemma_n_past(r.s));
    int32_t bad = gemma_n_vocab(r.m);
    CHECK(gemma_eval(r.s, &bad, 1, GEMMA_WANT_LOGITS, &err) != 0, "token id = n_vocab accepted");
    CHECK_CONTAINS(err.msg, "outside the vocabulary");
    CHECK(gemma_eval(r.s, toks, 8, GEMMA_WANT_LOGITS, &err) == 0, "%s", err.msg);
    CHECK(gemma_eval(r.s, toks, 1, GEMMA_WANT_LOGITS, &err) != 0, "eval past the context accepted");

    gemma_session *s2 = NULL;
    CHECK(gemma_session_create(&s2, r.m, 8, 0, &err) != 0, "second session on one backend accepted");
    gemma_session_free(r.s);
    r.s = NULL;
    CHECK(gemma_session_create(&s2, r.m, gemma_n_ctx_train(r.m) + 1, 0, &err) != 0, "context beyond the model's accepted");
    CHECK_CONTAINS(err.msg, "context size");
    CHECK(gemma_session_create(&r.s, r.m, 0, 0, &err) == 0, "%s", err.msg);
    CHECK(r.s && gemma_n_ctx(r.s) == (gemma_n_ctx_train(r.m) < 4096 ? gemma_n_ctx_train(r.m) : 4096), "default context");
    rig_close(&r);
}

static void run_all(void)
{
    TEST_RUN(test_goldens_f32);
    TEST_RUN(test_goldens_quant);
    TEST_RUN(test_prefill_vs_decode);
    TEST_RUN(test_rewind);
    TEST_RUN(test_ring);
    TEST_RUN(test_warmup);
    TEST_RUN(test_state);
    TEST_RUN(test_errors);
}

int main(void)
{
    fprintf(stderr, "== backend ref\n");
    run_all();
    /* The native backend at every level this CPU has; the levels it lacks
     * are skipped (cpu/isa.c's test hook lowers the level). */
    be_name = "cpu";
    be_exact = false;
    cpu_isa best = cpu_isa_detect();
    for (int l = CPU_ISA_COUNT - 1; l >= 0; l--) {
        if (l > (int)best) {
            printf("SKIP: cpu backend at %s (this CPU has no %s)\n", cpu_isa_name((cpu_isa)l), cpu_isa_name((cpu_isa)l));
            continue;
        }
        int threads = l + 1;   /* backends clamps it to the CPUs there are */
        setenv("GEMMA_CHAT_CPU_ISA", cpu_isa_name((cpu_isa)l), 1);
        be_level = (cpu_isa)l;
        backends_set_threads(threads);
        fprintf(stderr, "== backend cpu, %s, %d threads asked (one per CPU at most)\n", cpu_isa_name((cpu_isa)l), threads);
        run_all();
    }
    return test_summary();
}
