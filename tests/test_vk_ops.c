/* test_vk_ops: every Vulkan kernel against the CPU reference backend, op by
 * op, on fresh random inputs (TEST_SEED replays a run), with the validation
 * layer on.
 *
 * Error bounds (relative L2 over the whole output, NaN fails):
 *   matmul / geglu, every weight type     2e-5  (dequantization is exact in
 *       f32; only the order of f32 accumulation differs from the double
 *       reference)
 *   matmul / geglu by integer dot         2e-5  (x given already rounded to
 *       (matvec_dp, quantized types)            8-bit blocks, which quant_x
 *       then reproduces exactly: the integer sums are exact)
 *   embed                                 1e-6  (exact products)
 *   rmsnorm, add_rmsnorm_norm, softcap    1e-5  (copy too)
 *   rope (qk_rope_store), pos < 1000      1e-5  (q, k and the K it caches)
 *   rope (qk_rope_store), pos ~ 10000     5e-5  (the angle is an f32 product
 *       pos * base^(-2i/d), as in llama.cpp; the reference uses double)
 *   attention, f32 KV cache               2e-5  (also over a cache qk_rope_store filled)
 *   attention, f16 KV cache               4e-3  (K and V rounded to f16:
 *       2^-11 relative per value)
 *   argmax                                exact index
 */
#include <math.h>

#include "tests/vk_testlib.h"

static backend *cpu, *vk;

/* Runs f on both backends' tensors and compares n outputs. */
static double compare(be_tensor *tc, be_tensor *tv, uint64_t n)
{
    float *a = malloc(n * 4), *b = malloc(n * 4);
    vt_fetch(cpu, tc, n, a);
    vt_fetch(vk, tv, n, b);
    double e = test_rel_l2(b, a, n);
    free(a);
    free(b);
    return e;
}

typedef struct pair { be_tensor *c, *v; } pair;

static pair act2(uint64_t n, const float *init)
{
    return (pair){ vt_act(cpu, n, init), vt_act(vk, n, init) };
}

static pair weight2(const char *name, uint32_t type, uint64_t n_in, uint64_t n_out, int n_dims, const void *data)
{
    return (pair){ vt_weight(cpu, name, type, n_in, n_out, n_dims, data),
                   vt_weight(vk, name, type, n_in, n_out, n_dims, data) };
}

static void begin2(void)
{
    gc_err e = {0};
    CHECK(cpu->begin_step(cpu, &e) == 0, "%s", e.msg);
    CHECK(vk->begin_step(vk, &e) == 0, "%s", e.msg);
}

static void end2(const char *what)
{
    gc_err e = {0};
    CHECK(cpu->end_step(cpu, &e) == 0, "%s: cpu: %s", what, e.msg);
    CHECK(vk->end_step(vk, &e) == 0, "%s: vulkan: %s", what, e.msg);
}

static const uint32_t all_types[] = { GT_F32, GT_F16, GT_BF16, GT_Q8_0, GT_Q4_0, GT_Q4_1, GT_Q5_0, GT_Q5_1,
                                      GT_Q4_K, GT_Q5_K, GT_Q6_K };
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static uint64_t n_in_for(uint32_t type, int variant)
{
    const quant_info *qi = quant_type_info(type);
    if (qi->block_elems == 1) return variant ? 40 : 72;      /* not multiples of 32: padded rows */
    if (qi->block_elems == 32) return variant ? 96 : 160;
    return variant ? 256 : 512;
}

/* While the integer dot kernels run (test_int_dot), products get an x
 * already in 8-bit blocks (vk_xq_round): their integer sums are then exact. */
static bool x_8bit;

static void round_x_8bit(float *x, uint64_t n)
{
    if (x_8bit) vk_xq_round(x, n);
}

/* W @ x on both backends for `rows` random input rows, compared. */
static void check_matmul(pair w, uint32_t type, uint64_t n_in, uint64_t n_out, int rows)
{
    float *x = malloc(rows * n_in * 4);
    vt_rand(x, rows * n_in, 1);
    round_x_8bit(x, rows * n_in);
    pair src = act2(rows * n_in, x), dst = act2(rows * n_out, NULL);
    begin2();
    cpu->matmul(cpu, dst.c, w.c, src.c, rows, (int)n_in, (int)n_out);
    vk->matmul(vk, dst.v, w.v, src.v, rows, (int)n_in, (int)n_out);
    end2("matmul");
    double e = compare(dst.c, dst.v, rows * n_out);
    CHECK(e <= 2e-5, "matmul %s n_in %llu n_out %llu rows %d: rel err %.3g", quant_type_name(type),
          (unsigned long long)n_in, (unsigned long long)n_out, rows, e);
    free(x);
}

/* W @ x for every type, for 1 and 3 input rows (matrix-vector kernel) and 19
 * (tiled kernel); 37 output rows is not a multiple of any workgroup tile. */
static void test_matmul_all_types(void)
{
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = all_types[ti];
        for (int var = 0; var < 2; var++) {
            uint64_t n_in = n_in_for(type, var), n_out = var ? 37 : 70;
            void *wd = vt_rand_weight(type, n_in, n_out);
            pair w = weight2("w", type, n_in, n_out, 2, wd);
            const int rows_list[] = { 1, 3, 19 };
            for (int ri = 0; ri < 3; ri++) check_matmul(w, type, n_in, n_out, rows_list[ri]);
            free(wd);
        }
    }
    vt_no_validation_messages();
}

/* A tall matrix (an output head: many pieces of 64-row workgroups), long
 * rows (many units per invocation) and row lengths that split a one-subgroup
 * workgroup into row groups (640: 4 lanes per row, 320: 2; both with a
 * partial last workgroup). F32 rows of 42 and 3 values: x rows that are not
 * 16-byte aligned. */
static void test_matmul_shapes(void)
{
    const uint64_t shapes[][3] = { { 64, 32768 + 37, GT_Q8_0 }, { 1152, 40, GT_Q8_0 }, { 640, 200, GT_Q8_0 },
                                   { 320, 77, GT_Q8_0 }, { 42, 19, GT_F32 }, { 3, 70, GT_F32 } };
    for (int si = 0; si < 6; si++) {
        uint64_t n_in = shapes[si][0], n_out = shapes[si][1];
        uint32_t type = (uint32_t)shapes[si][2];
        void *wd = vt_rand_weight(type, n_in, n_out);
        pair w = weight2("w", type, n_in, n_out, 2, wd);
        for (int rows = 1; rows <= 2; rows++) check_matmul(w, type, n_in, n_out, rows);
        free(wd);
    }
    vt_no_validation_messages();
}

static void test_embed_all_types(void)
{
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t type = all_types[ti];
        uint64_t n_in = n_in_for(type, 1), n_out = 23;
        void *wd = vt_rand_weight(type, n_in, n_out);
        pair w = weight2("table", type, n_in, n_out, 2, wd);
        int32_t toks[] = { 22, 0, 5, 5, 13 };
        pair dst = act2(5 * n_in, NULL);
        begin2();
        cpu->embed(cpu, dst.c, w.c, toks, 5, (int)n_in, 1.7f);
        vk->embed(vk, dst.v, w.v, toks, 5, (int)n_in, 1.7f);
        end2("embed");
        double e = compare(dst.c, dst.v, 5 * n_in);
        CHECK(e <= 1e-6, "embed %s: rel err %.3g", quant_type_name(type), e);
        free(wd);
    }
    vt_no_validation_messages();
}

/* Fused gate/up (few rows) and the two-product path (many rows). x has zero
 * mean over every 32 values: random K-quant weights carry large block
 * offsets (-dmin * m), which with raw random x push a row's gate products far
 * below zero together (seen: 44 of 45 gelu outputs exactly 0, the check then
 * resting on one value's rounding); the offsets are checked by
 * test_matmul_all_types. */
static void test_geglu(void)
{
    const uint32_t types[] = { GT_Q8_0, GT_F16, GT_Q4_K };
    for (int ti = 0; ti < 3; ti++) {
        uint64_t n_in = n_in_for(types[ti], 0), n_ff = 45;
        void *gd = vt_rand_weight(types[ti], n_in, n_ff), *ud = vt_rand_weight(types[ti], n_in, n_ff);
        pair g = weight2("gate", types[ti], n_in, n_ff, 2, gd), u = weight2("up", types[ti], n_in, n_ff, 2, ud);
        const int rows_list[] = { 1, 9 };
        for (int ri = 0; ri < 2; ri++) {
            int rows = rows_list[ri];
            float *x = malloc(rows * n_in * 4);
            vt_rand(x, rows * n_in, 1);
            for (int r = 0; r < rows; r++)
                for (uint64_t c0 = 0; c0 < n_in; c0 += 32) {   /* F16's 72: a last piece of 8 */
                    float *p = x + r * n_in + c0;
                    uint64_t m = n_in - c0 < 32 ? n_in - c0 : 32;
                    double mean = 0;
                    for (uint64_t i = 0; i < m; i++) mean += p[i] / (double)m;
                    for (uint64_t i = 0; i < m; i++) p[i] -= (float)mean;
                }
            round_x_8bit(x, rows * n_in);
            pair src = act2(rows * n_in, x), dst = act2(rows * n_ff, NULL);
            begin2();
            cpu->matmul_geglu(cpu, dst.c, g.c, u.c, src.c, rows, (int)n_in, (int)n_ff);
            vk->matmul_geglu(vk, dst.v, g.v, u.v, src.v, rows, (int)n_in, (int)n_ff);
            end2("geglu");
            double e = compare(dst.c, dst.v, rows * n_ff);
            CHECK(e <= 2e-5, "geglu %s rows %d: rel err %.3g", quant_type_name(types[ti]), rows, e);
            free(x);
        }
        free(gd);
        free(ud);
    }
    vt_no_validation_messages();
}

static void test_norms(void)
{
    const int shapes[][2] = { { 1, 640 }, { 3, 100 }, { 17, 33 } };
    for (int si = 0; si < 3; si++) {
        int rows = shapes[si][0], cols = shapes[si][1];
        uint64_t n = (uint64_t)rows * cols;
        float *x = malloc(n * 4), *o = malloc(n * 4), *w = malloc(cols * 4);
        vt_rand(x, n, 3);
        vt_rand(o, n, 50);
        vt_rand(w, cols, 2);
        pair wt = weight2("norm", GT_F32, cols, 1, 1, w);
        pair tx = act2(n, x), to = act2(n, o), td = act2(n, NULL);
        begin2();
        cpu->rmsnorm(cpu, td.c, tx.c, wt.c, rows, cols, 1e-6f);
        vk->rmsnorm(vk, td.v, tx.v, wt.v, rows, cols, 1e-6f);
        end2("rmsnorm");
        double e = compare(td.c, td.v, n);
        CHECK(e <= 1e-5, "rmsnorm %dx%d: rel err %.3g", rows, cols, e);
        begin2();   /* in place */
        cpu->rmsnorm(cpu, tx.c, tx.c, wt.c, rows, cols, 1e-6f);
        vk->rmsnorm(vk, tx.v, tx.v, wt.v, rows, cols, 1e-6f);
        end2("rmsnorm in place");
        e = compare(tx.c, tx.v, n);
        CHECK(e <= 1e-5, "rmsnorm in place %dx%d: rel err %.3g", rows, cols, e);
        float *w2 = malloc(cols * 4);   /* the fused residual + next norm */
        vt_rand(w2, cols, 2);
        pair wt2 = weight2("norm2", GT_F32, cols, 1, 1, w2), th = act2(n, NULL);
        begin2();
        cpu->add_rmsnorm_norm(cpu, tx.c, to.c, wt.c, th.c, wt2.c, rows, cols, 1e-6f);
        vk->add_rmsnorm_norm(vk, tx.v, to.v, wt.v, th.v, wt2.v, rows, cols, 1e-6f);
        end2("add_rmsnorm_norm");
        e = compare(tx.c, tx.v, n);
        CHECK(e <= 1e-5, "add_rmsnorm_norm %dx%d, x: rel err %.3g", rows, cols, e);
        e = compare(th.c, th.v, n);
        CHECK(e <= 1e-5, "add_rmsnorm_norm %dx%d, h: rel err %.3g", rows, cols, e);
        free(x); free(o); free(w); free(w2);
    }
    vt_no_validation_messages();
}

/* RoPE alone (qk_rope_store without head norms, k with as many heads as q)
 * at small and large positions: q and k after it, and the f32 cache's K and
 * V slots it wrote. */
static void test_rope(void)
{
    const struct { int rows, heads, hd, pos0; float base, scale; } cases[] = {
        { 1, 4, 256, 0, 10000.0f, 1.0f }, { 5, 3, 64, 7, 10000.0f, 1.0f },
        { 3, 2, 128, 9000, 1e6f, 0.125f }, { 2, 1, 16, 3, 10000.0f, 1.0f },
    };
    vk_backend_opts o = vt_opts();
    o.kv_bits = 32;
    backend *c = vt_cpu(), *v = vt_backend(&o);
    for (int ci = 0; c && v && ci < 4; ci++) {
        int rows = cases[ci].rows, heads = cases[ci].heads, hd = cases[ci].hd, pos0 = cases[ci].pos0;
        gc_err e = {0};
        CHECK(c->kv_cache(c, 1, pos0 + rows, NULL, heads, hd, &e) == 0, "%s", e.msg);
        CHECK(v->kv_cache(v, 1, pos0 + rows, NULL, heads, hd, &e) == 0, "%s", e.msg);
        uint64_t n = (uint64_t)rows * heads * hd;
        float *q = malloc(n * 4), *k = malloc(n * 4), *val = malloc(n * 4);
        vt_rand(q, n, 2);
        vt_rand(k, n, 2);
        vt_rand(val, n, 1);
        be_tensor *qc = vt_act(c, n, q), *kc = vt_act(c, n, k), *vc = vt_act(c, n, val);
        be_tensor *qv = vt_act(v, n, q), *kv = vt_act(v, n, k), *vv = vt_act(v, n, val);
        CHECK(c->begin_step(c, &e) == 0 && v->begin_step(v, &e) == 0, "%s", e.msg);
        c->qk_rope_store(c, 0, qc, kc, vc, NULL, NULL, rows, heads, pos0, cases[ci].base, cases[ci].scale, 1e-6f);
        v->qk_rope_store(v, 0, qv, kv, vv, NULL, NULL, rows, heads, pos0, cases[ci].base, cases[ci].scale, 1e-6f);
        CHECK(c->end_step(c, &e) == 0, "rope case %d: cpu: %s", ci, e.msg);
        CHECK(v->end_step(v, &e) == 0, "rope case %d: vulkan: %s", ci, e.msg);
        double bound = pos0 < 1000 ? 1e-5 : 5e-5;
        float *a = malloc(n * 4), *b = malloc(n * 4), *av = malloc(n * 4), *bv = malloc(n * 4);
        vt_fetch(c, qc, n, a);
        vt_fetch(v, qv, n, b);
        double err = test_rel_l2(b, a, n);
        CHECK(err <= bound, "rope case %d (pos0 %d): q rel err %.3g", ci, pos0, err);
        vt_fetch(c, kc, n, a);
        vt_fetch(v, kv, n, b);
        err = test_rel_l2(b, a, n);
        CHECK(err <= bound, "rope case %d (pos0 %d): k rel err %.3g", ci, pos0, err);
        CHECK(c->kv_read(c, 0, pos0, rows, a, av, &e) == 0, "%s", e.msg);
        CHECK(v->kv_read(v, 0, pos0, rows, b, bv, &e) == 0, "%s", e.msg);
        err = test_rel_l2(b, a, n);
        CHECK(err <= bound, "rope case %d (pos0 %d): cached k rel err %.3g", ci, pos0, err);
        CHECK(!memcmp(av, val, n * 4) && !memcmp(bv, val, n * 4), "rope case %d: cached v is not v", ci);
        free(q); free(k); free(val); free(a); free(b); free(av); free(bv);
    }
    if (v) v->destroy(v);
    if (c) c->destroy(c);
    vt_no_validation_messages();
}

/* The fused per-head norm + RoPE + KV store: q and k in place, and the cache
 * through an attention over it (the cache itself is not readable). */
static void qk_rope_case(backend *v, double bound, int n_head, int n_kv, int hd, bool norm, const char *what)
{
    gc_err e = {0};
    backend *c = vt_cpu();
    if (!c) return;
    const int n_ctx = 64, n_layer = 2, layer = 1;
    CHECK(c->kv_cache(c, n_layer, n_ctx, NULL, n_kv, hd, &e) == 0, "%s", e.msg);
    CHECK(v->kv_cache(v, n_layer, n_ctx, NULL, n_kv, hd, &e) == 0, "%s", e.msg);
    be_attn_params p = { .n_head = n_head, .n_kv_head = n_kv, .head_dim = hd, .scale = 1.0f / sqrtf((float)hd) };
    float *qn = malloc(hd * 4), *kn = malloc(hd * 4);
    vt_rand(qn, hd, 2);
    vt_rand(kn, hd, 2);
    be_tensor *qnc = vt_weight(c, "qn", GT_F32, hd, 1, 1, qn), *knc = vt_weight(c, "kn", GT_F32, hd, 1, 1, kn);
    be_tensor *qnv = vt_weight(v, "qn", GT_F32, hd, 1, 1, qn), *knv = vt_weight(v, "kn", GT_F32, hd, 1, 1, kn);
    const int starts[2] = { 0, 5 }, counts[2] = { 5, 1 };   /* a prefill, then one decode row */
    for (int s = 0; s < 2; s++) {
        int rows = counts[s];
        uint64_t nq = (uint64_t)rows * n_head * hd, nk = (uint64_t)rows * n_kv * hd;
        float *q = malloc(nq * 4), *k = malloc(nk * 4), *val = malloc(nk * 4);
        vt_rand(q, nq, 3);
        vt_rand(k, nk, 3);
        vt_rand(val, nk, 1);
        be_tensor *qc = vt_act(c, nq, q), *kc = vt_act(c, nk, k), *vc = vt_act(c, nk, val), *oc = vt_act(c, nq, NULL);
        be_tensor *qv = vt_act(v, nq, q), *kv = vt_act(v, nk, k), *vv = vt_act(v, nk, val), *ov = vt_act(v, nq, NULL);
        CHECK(c->begin_step(c, &e) == 0 && v->begin_step(v, &e) == 0, "%s", e.msg);
        c->qk_rope_store(c, layer, qc, kc, vc, norm ? qnc : NULL, norm ? knc : NULL, rows, n_head, starts[s],
                         10000.0f, 1.0f, 1e-6f);
        v->qk_rope_store(v, layer, qv, kv, vv, norm ? qnv : NULL, norm ? knv : NULL, rows, n_head, starts[s],
                         10000.0f, 1.0f, 1e-6f);
        c->attention(c, oc, qc, layer, rows, starts[s], &p);
        v->attention(v, ov, qv, layer, rows, starts[s], &p);
        CHECK(c->end_step(c, &e) == 0, "%s: cpu: %s", what, e.msg);
        CHECK(v->end_step(v, &e) == 0, "%s: vulkan: %s", what, e.msg);
        float *a = malloc(nq * 4), *b = malloc(nq * 4);
        vt_fetch(c, qc, nq, a);
        vt_fetch(v, qv, nq, b);
        double err = test_rel_l2(b, a, nq);
        CHECK(err <= 1e-5, "qk_rope_store %s step %d: q rel err %.3g", what, s, err);
        vt_fetch(c, kc, nk, a);
        vt_fetch(v, kv, nk, b);
        err = test_rel_l2(b, a, nk);
        CHECK(err <= 1e-5, "qk_rope_store %s step %d: k rel err %.3g", what, s, err);
        vt_fetch(c, oc, nq, a);
        vt_fetch(v, ov, nq, b);
        err = test_rel_l2(b, a, nq);
        CHECK(err <= bound, "qk_rope_store %s step %d: attention over the cache rel err %.3g (bound %.3g)", what, s,
              err, bound);
        free(q); free(k); free(val); free(a); free(b);
    }
    free(qn); free(kn);
    c->destroy(c);
}

static void test_qk_rope_store(void)
{
    vk_backend_opts o = vt_opts();
    o.kv_bits = 16;
    backend *v = vt_backend(&o);
    if (v) { qk_rope_case(v, 4e-3, 4, 1, 256, true, "f16 norm hd256"); v->destroy(v); }
    o.kv_bits = 32;
    v = vt_backend(&o);
    if (v) { qk_rope_case(v, 2e-5, 4, 2, 24, false, "f32 hd24"); v->destroy(v); }
    v = vt_backend(&o);
    if (v) { qk_rope_case(v, 2e-5, 3, 3, 10, true, "f32 norm hd10"); v->destroy(v); }
    vt_no_validation_messages();
}

/* Prefill a cache, then decode on top of it: GQA, soft-cap, sliding window. */
static void attention_case(backend *v, double bound, int n_head, int n_kv, int hd, int n_prefill, int window,
                           float cap, const char *what)
{
    gc_err e = {0};
    backend *c = vt_cpu();
    if (!c) return;
    const int n_ctx = 128, n_layer = 2, layer = 1;
    CHECK(c->kv_cache(c, n_layer, n_ctx, NULL, n_kv, hd, &e) == 0, "%s", e.msg);
    CHECK(v->kv_cache(v, n_layer, n_ctx, NULL, n_kv, hd, &e) == 0, "%s", e.msg);
    be_attn_params p = { .n_head = n_head, .n_kv_head = n_kv, .head_dim = hd, .scale = 1.0f / sqrtf((float)hd),
                         .softcap = cap, .window = window };
    int total = n_prefill + 2;
    uint64_t nq = (uint64_t)total * n_head * hd, nk = (uint64_t)total * n_kv * hd;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *val = malloc(nk * 4);
    vt_rand(q, nq, 3);
    vt_rand(k, nk, 3);
    vt_rand(val, nk, 1);
    be_tensor *qc = vt_act(c, nq, q), *kc = vt_act(c, nk, k), *vc = vt_act(c, nk, val), *oc = vt_act(c, nq, NULL);
    be_tensor *qv = vt_act(v, nq, q), *kv = vt_act(v, nk, k), *vv = vt_act(v, nk, val), *ov = vt_act(v, nq, NULL);
    /* prefill rows 0..n_prefill-1, then two decode steps reading their rows of q/k/v at an offset */
    int starts[3] = { 0, n_prefill, n_prefill + 1 }, counts[3] = { n_prefill, 1, 1 };
    float *a = malloc(nq * 4), *b = malloc(nq * 4);
    for (int s = 0; s < 3; s++) {
        uint64_t qo = (uint64_t)starts[s] * n_head * hd, ko = (uint64_t)starts[s] * n_kv * hd;
        uint64_t qn = (uint64_t)counts[s] * n_head * hd, kn = (uint64_t)counts[s] * n_kv * hd;
        backend *bes[2] = { c, v };
        be_tensor *ts[2][4] = { { qc, kc, vc, oc }, { qv, kv, vv, ov } };
        for (int i = 0; i < 2; i++) {
            backend *be = bes[i];
            /* rows of this step moved to the front (q/k/v at offset 0); pos_scale 0 makes
             * every RoPE angle 0, so k and v go to the cache as they are */
            be_tensor *q1 = vt_act(be, qn, q + qo), *k1 = vt_act(be, kn, k + ko), *v1 = vt_act(be, kn, val + ko);
            CHECK(be->begin_step(be, &e) == 0, "%s", e.msg);
            be->qk_rope_store(be, layer, q1, k1, v1, NULL, NULL, counts[s], n_head, starts[s], 10000.0f, 0.0f, 1e-6f);
            be->attention(be, ts[i][3], q1, layer, counts[s], starts[s], &p);
            be->read(be, ts[i][3], 0, qn, i ? b : a);
            CHECK(be->end_step(be, &e) == 0, "%s step %d: %s", what, s, e.msg);
        }
        double err = test_rel_l2(b, a, qn);
        CHECK(err <= bound, "attention %s step %d (rows %d at %d): rel err %.3g (bound %.3g)", what, s, counts[s],
              starts[s], err, bound);
    }
    (void)qv; (void)kv; (void)vv; (void)qc; (void)kc; (void)vc;
    free(q); free(k); free(val); free(a); free(b);
    c->destroy(c);
}

static void test_attention(void)
{
    vk_backend_opts o = vt_opts();
    o.kv_bits = 16;
    backend *v = vt_backend(&o);
    if (v) { attention_case(v, 4e-3, 4, 2, 64, 13, 0, 50.0f, "f16 gqa cap"); v->destroy(v); }
    v = vt_backend(&o);
    if (v) { attention_case(v, 4e-3, 4, 1, 256, 21, 5, 0.0f, "f16 window"); v->destroy(v); }
    v = vt_backend(&o);   /* head_dim % 8 != 0: the variant without 16-byte K/V loads */
    if (v) { attention_case(v, 4e-3, 4, 2, 10, 11, 0, 50.0f, "f16 hd10"); v->destroy(v); }
    o.kv_bits = 32;
    v = vt_backend(&o);
    if (v) { attention_case(v, 2e-5, 2, 1, 6, 12, 4, 0.0f, "f32 hd6 window"); v->destroy(v); }
    v = vt_backend(&o);
    if (v) { attention_case(v, 2e-5, 8, 4, 32, 40, 16, 30.0f, "f32 window cap"); v->destroy(v); }
    v = vt_backend(&o);
    if (v) { attention_case(v, 2e-5, 2, 2, 16, 9, 0, 0.0f, "f32 mha"); v->destroy(v); }
    vt_no_validation_messages();
}

/* A vocabulary-sized argmax runs in two stages (many workgroups, then one):
 * a tie between a lower index in a later workgroup and a higher index in an
 * earlier one, a maximum among NaNs, all NaNs, offset ranges and the
 * soft-capped variant, against the CPU backend and the known answers. Two
 * lengths: 262181 values have no RGBA32F view (storage-buffer kernel);
 * 262180 do, and on CPU devices stage 0 reads them 4 at a time (per = 4:
 * lane t of group g takes vec4s g * wg + t, ...), except at an unaligned
 * offset (1001). */
static void argmax_case(uint64_t n, uint64_t per)
{
    vk_backend_stats st;
    vk_backend_stats_get(vk, &st);
    uint32_t wg = vk_choose(&st.kcaps, VK_K_ARGMAX, 0, false).wg;
    CHECK(vk_argmax_groups(n, wg) > 16, "%u groups for %llu values: not a two-stage case", vk_argmax_groups(n, wg),
          (unsigned long long)n);
    float *x = malloc(n * 4), *nan = malloc(n * 4);
    vt_rand(x, n, 50);
    /* Stage 0 groups take strided elements (g * wg + t, then every groups * wg):
     * index lo is in a later group than hi. */
    uint64_t groups = vk_argmax_groups(n, wg), lo = per * wg * (groups - 2) + 3,
             hi = per * (wg * 5 + 1 + wg * groups * 3);
    x[lo] = 80.0f;
    x[hi] = 80.0f;
    for (uint64_t i = 0; i < n; i++) nan[i] = NAN;
    nan[123457] = -1e30f;
    pair t = act2(n, x), tn = act2(n, nan);
    /* A range ending inside a vec4 (1000 + 149999): the larger value just past
     * its end must not be seen. */
    for (uint64_t i = 0; i < n; i++) x[i] = -1.0f;
    x[1000 + 7] = 2.0f;
    x[1000 + 149999] = 9.0f;
    pair tt = act2(n, x);
    int32_t e_c = -1, e_v = -1;
    int32_t a_c = -1, a_v = -1, o_c = -1, o_v = -1, u_c = -1, u_v = -1, s_c = -1, s_v = -1, n_c = -1, n_v = -1,
            z_c = -1, z_v = -1;
    begin2();
    cpu->argmax(cpu, t.c, 0, n, &a_c);
    vk->argmax(vk, t.v, 0, n, &a_v);
    cpu->argmax(cpu, t.c, 1000, 150000, &o_c);
    vk->argmax(vk, t.v, 1000, 150000, &o_v);
    cpu->argmax(cpu, t.c, 1001, 149999, &u_c);
    vk->argmax(vk, t.v, 1001, 149999, &u_v);
    cpu->argmax_softcap(cpu, t.c, 0, n, 30.0f, &s_c);
    vk->argmax_softcap(vk, t.v, 0, n, 30.0f, &s_v);
    cpu->argmax(cpu, tn.c, 0, n, &n_c);
    vk->argmax(vk, tn.v, 0, n, &n_v);
    cpu->argmax(cpu, tn.c, 0, 100000, &z_c);   /* only NaNs */
    vk->argmax(vk, tn.v, 0, 100000, &z_v);
    cpu->argmax(cpu, tt.c, 1000, 149999, &e_c);
    vk->argmax(vk, tt.v, 1000, 149999, &e_v);
    end2("argmax large");
    CHECK(lo < hi && a_v == (int32_t)lo && a_c == (int32_t)lo, "n %llu: tie across groups: vulkan %d, cpu %d, want %llu",
          (unsigned long long)n, a_v, a_c, (unsigned long long)lo);
    CHECK(o_v == o_c && o_v >= 0 && o_v < 150000, "n %llu: offset range: vulkan %d, cpu %d", (unsigned long long)n,
          o_v, o_c);
    CHECK(u_v == u_c && u_v >= 0 && u_v < 149999, "n %llu: unaligned offset: vulkan %d, cpu %d", (unsigned long long)n,
          u_v, u_c);
    CHECK(s_v == s_c, "n %llu: soft-capped: vulkan %d, cpu %d", (unsigned long long)n, s_v, s_c);
    CHECK(n_v == 123457 && n_c == 123457, "n %llu: one number among NaNs: vulkan %d, cpu %d", (unsigned long long)n,
          n_v, n_c);
    CHECK(z_v == 0 && z_c == 0, "n %llu: only NaNs: vulkan %d, cpu %d, want 0", (unsigned long long)n, z_v, z_c);
    CHECK(e_v == 7 && e_c == 7, "n %llu: range end inside a vec4: vulkan %d, cpu %d, want 7", (unsigned long long)n,
          e_v, e_c);
    free(x);
    free(nan);
}

static void test_argmax_large(void)
{
    vk_backend_stats st;
    vk_backend_stats_get(vk, &st);
    uint32_t wg = vk_choose(&st.kcaps, VK_K_ARGMAX, 0, false).wg;
    CHECK(vk_argmax_groups(1, wg) == 1 && vk_argmax_groups(1ull << 40, wg) == 256, "group count bounds");
    argmax_case(262144 + 37, 1);
    argmax_case(262144 + 36, 4);
}

static void test_small_ops(void)
{
    uint64_t n = 1000;
    float *x = malloc(n * 4);
    vt_rand(x, n, 120);
    x[617] = 500.0f;   /* the maximum, then a tie at a higher index */
    x[901] = 500.0f;
    pair t = act2(n, x), d = act2(n, NULL);
    int32_t am_c = -1, am_v = -1, am2_c = -1, am2_v = -1, amc_c = -1, amc_v = -1, amr_c = -1, amr_v = -1;
    /* The soft-capped argmax: 500 and 600 both cap to 30 (a tie: the lower
     * index wins), unlike the raw argmax; on random values as the softcap op. */
    x[901] = 600.0f;
    pair tc = act2(n, x);
    x[901] = 500.0f;
    float *r = malloc(n * 4);
    vt_rand(r, n, 40);
    pair rr = act2(n, r);
    begin2();
    cpu->argmax_softcap(cpu, tc.c, 0, n, 30.0f, &amc_c);
    vk->argmax_softcap(vk, tc.v, 0, n, 30.0f, &amc_v);
    cpu->argmax_softcap(cpu, rr.c, 0, n, 30.0f, &amr_c);
    vk->argmax_softcap(vk, rr.v, 0, n, 30.0f, &amr_v);
    cpu->argmax(cpu, t.c, 0, n, &am_c);
    vk->argmax(vk, t.v, 0, n, &am_v);
    cpu->argmax(cpu, t.c, 700, 300, &am2_c);
    vk->argmax(vk, t.v, 700, 300, &am2_v);
    cpu->copy(cpu, d.c, 10, t.c, 500, 400);
    vk->copy(vk, d.v, 10, t.v, 500, 400);
    cpu->softcap(cpu, t.c, n, 30.0f);
    vk->softcap(vk, t.v, n, 30.0f);
    end2("small ops");
    CHECK(am_v == 617 && am_c == 617, "argmax: vulkan %d, cpu %d, want 617", am_v, am_c);
    CHECK(am2_v == 201 && am2_c == 201, "argmax at offset: vulkan %d, cpu %d, want 201", am2_v, am2_c);
    CHECK(amc_v == 617 && amc_c == 617, "argmax_softcap of a capped tie: vulkan %d, cpu %d, want 617", amc_v, amc_c);
    int32_t want_r = 0;
    for (uint64_t i = 1; i < n; i++)
        if (30.0 * tanh(r[i] / 30.0) > 30.0 * tanh(r[want_r] / 30.0)) want_r = (int32_t)i;
    CHECK(amr_v == want_r && amr_c == want_r, "argmax_softcap: vulkan %d, cpu %d, want %d", amr_v, amr_c, want_r);
    free(r);
    double e = compare(t.c, t.v, n);
    CHECK(e <= 1e-5, "softcap: rel err %.3g", e);
    e = compare(d.c, d.v, n);
    CHECK(e == 0, "copy: rel err %.3g", e);
    free(x);
    vt_no_validation_messages();
}

/* The shared-memory reduction variant (devices without subgroup arithmetic). */
static void test_no_subgroup(void)
{
    vk_backend_opts o = vt_opts();
    o.hooks.force_no_subgroup = true;
    backend *v = vt_backend(&o);
    if (!v) return;
    backend *saved = vk;
    vk = v;
    uint64_t n_in = 512, n_out = 29;
    void *wd = vt_rand_weight(GT_Q6_K, n_in, n_out), *ud = vt_rand_weight(GT_Q6_K, n_in, n_out);
    pair w = weight2("w", GT_Q6_K, n_in, n_out, 2, wd), u = weight2("u", GT_Q6_K, n_in, n_out, 2, ud);
    float x[512];
    vt_rand(x, n_in, 1);
    pair src = act2(n_in, x), dst = act2(n_out, NULL), dg = act2(n_out, NULL);
    begin2();
    cpu->matmul(cpu, dst.c, w.c, src.c, 1, (int)n_in, (int)n_out);
    vk->matmul(vk, dst.v, w.v, src.v, 1, (int)n_in, (int)n_out);
    cpu->matmul_geglu(cpu, dg.c, w.c, u.c, src.c, 1, (int)n_in, (int)n_out);
    vk->matmul_geglu(vk, dg.v, w.v, u.v, src.v, 1, (int)n_in, (int)n_out);
    end2("no-subgroup matmul");
    double e = compare(dst.c, dst.v, n_out);
    CHECK(e <= 2e-5, "matmul without subgroups: rel err %.3g", e);
    e = compare(dg.c, dg.v, n_out);
    CHECK(e <= 2e-5, "geglu without subgroups: rel err %.3g", e);
    vk = saved;
    v->destroy(v);
    free(wd);
    free(ud);
    vt_no_validation_messages();
}

/* Runs the product tests on a second backend made with opts o (a forced
 * variant), in place of the default one. */
static void on_backend(const vk_backend_opts *o, void (*tests)(void))
{
    backend *v = vt_backend(o);
    if (!v) return;
    backend *saved = vk;
    vk = v;
    tests();
    vk = saved;
    v->destroy(v);
}

static void product_tests(void)
{
    test_matmul_all_types();
    test_matmul_shapes();
    test_geglu();
}

/* Products of one x (q, k and v; gate and up) convert it to 8-bit blocks
 * once: two products of x then cost one quant_x and two matvec_dp
 * dispatches; after x is written again, the next product converts anew. */
static void shared_x_blocks(void)
{
    uint64_t n_in = 512, n_out = 40;
    void *ad = vt_rand_weight(GT_Q4_K, n_in, n_out), *bd = vt_rand_weight(GT_Q8_0, n_in, n_out);
    pair wa = weight2("a", GT_Q4_K, n_in, n_out, 2, ad), wb = weight2("b", GT_Q8_0, n_in, n_out, 2, bd);
    float x[512], y[512];
    vt_rand(x, n_in, 1);
    vt_rand(y, n_in, 1);
    round_x_8bit(x, n_in);
    round_x_8bit(y, n_in);
    pair src = act2(n_in, x), da = act2(n_out, NULL), db = act2(n_out, NULL), dc = act2(n_out, NULL);
    pair other = act2(n_in, y);
    begin2();
    cpu->matmul(cpu, da.c, wa.c, src.c, 1, (int)n_in, (int)n_out);
    vk->matmul(vk, da.v, wa.v, src.v, 1, (int)n_in, (int)n_out);
    cpu->matmul(cpu, db.c, wb.c, src.c, 1, (int)n_in, (int)n_out);
    vk->matmul(vk, db.v, wb.v, src.v, 1, (int)n_in, (int)n_out);
    end2("two products of one x");
    vk_backend_stats st;
    vk_backend_stats_get(vk, &st);
    CHECK(st.last_dispatches == 3, "two products of one x: %llu dispatches, want 3",
          (unsigned long long)st.last_dispatches);
    CHECK(compare(da.c, da.v, n_out) <= 2e-5 && compare(db.c, db.v, n_out) <= 2e-5, "both products right");
    /* x rewritten (a copy into it): its blocks are made again */
    begin2();
    cpu->copy(cpu, src.c, 0, other.c, 0, n_in);
    vk->copy(vk, src.v, 0, other.v, 0, n_in);
    cpu->matmul(cpu, dc.c, wb.c, src.c, 1, (int)n_in, (int)n_out);
    vk->matmul(vk, dc.v, wb.v, src.v, 1, (int)n_in, (int)n_out);
    end2("a product after x changed");
    vk_backend_stats_get(vk, &st);
    CHECK(st.last_dispatches == 3, "copy, quant_x, matvec_dp: %llu dispatches", (unsigned long long)st.last_dispatches);
    CHECK(compare(dc.c, dc.v, n_out) <= 2e-5, "the product of the new x: rel err %.3g", compare(dc.c, dc.v, n_out));
    free(ad);
    free(bd);
}

/* Without subgroup size control the matrix-vector kernel splits each row
 * over several subgroups and adds their sums in shared memory: forced on
 * lavapipe (8-lane subgroups, 32-lane workgroups). */
static void test_no_size_control(void)
{
    vk_backend_opts o = vt_opts();
    o.hooks.no_size_control = true;
    on_backend(&o, product_tests);
    vt_no_validation_messages();
}

/* The integer dot product kernels (matvec_dp, with quant_x) run where a
 * device says 8-bit dot products are fast; lavapipe has them, not fast:
 * forced. Float weights keep the float kernel. */
static void test_int_dot(void)
{
    vk_backend_opts o = vt_opts();
    o.hooks.fast_int_dot = true;
    backend *v = vt_backend(&o);
    if (!v) return;
    vk_backend_stats st;
    vk_backend_stats_get(v, &st);
    v->destroy(v);
    if (!st.kcaps.int_dot) {
        test_skip_ci("integer dot products", "the device has no shaderIntegerDotProduct");
        return;
    }
    CHECK(vk_choose_matmul(&st.kcaps, GT_Q4_K, 1, 512, false).kernel == VK_K_MATVEC_DP &&
          vk_choose_matmul(&st.kcaps, GT_F16, 1, 512, false).kernel == VK_K_MATVEC, "the hook picks matvec_dp");
    x_8bit = true;
    on_backend(&o, product_tests);
    on_backend(&o, shared_x_blocks);
    x_8bit = false;
    vt_no_validation_messages();
}

int main(void)
{
    VT_NEED_DEVICE();
    test_seed_from_env();
    vk_backend_opts o = vt_opts();
    cpu = vt_cpu();
    vk = vt_backend(&o);
    if (!cpu || !vk) return test_summary();
    TEST_RUN(test_matmul_all_types);
    TEST_RUN(test_matmul_shapes);
    TEST_RUN(test_embed_all_types);
    TEST_RUN(test_geglu);
    TEST_RUN(test_norms);
    TEST_RUN(test_rope);
    TEST_RUN(test_qk_rope_store);
    TEST_RUN(test_small_ops);
    TEST_RUN(test_argmax_large);
    TEST_RUN(test_attention);
    TEST_RUN(test_no_subgroup);
    TEST_RUN(test_no_size_control);
    TEST_RUN(test_int_dot);
    cpu->destroy(cpu);
    vk->destroy(vk);
    vt_no_validation_messages();
    return test_summary();
}
