/* test_cpu_backend: every op of the native CPU backend against the reference
 * backend, op by op, on fresh random inputs (TEST_SEED replays a run), at
 * every instruction-set level this CPU has and with 1 and 4 threads.
 *
 * Error bounds (relative L2 over the whole output, NaN fails):
 *   matmul on activations the 8-bit formats hold exactly           2e-5
 *       (every value d * q with a power-of-two d and a +-127 in every
 *       block: the conversion loses nothing, so only the f32 order of
 *       accumulation differs from the double reference)
 *   geglu on the same activations                                  5e-5
 *       (a product of two such matmuls, each within 2e-5, and the GELU:
 *       3.95e-5 was seen on one seed of 40)
 *   matmul / geglu of quantized weights on random activations      1e-2
 *       (8-bit activations, as llama.cpp's CPU backend)
 *   norms, qk_rope_store's q, attention, softcap                   2e-5
 *   embed, copy, qk_rope_store's cache write, kv_read / kv_write   exact
 *   argmax, argmax_softcap (ties included)                         exact index
 */
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/cpu_backend.h"
#include "cpu/isa.h"
#include "cpu/kernels.h"
#include "model/host_backend.h"
#include "tests/vk_testlib.h"

static backend *ref, *nat;
static const char *label = "";

typedef struct pair { be_tensor *r, *n; } pair;

static pair act2(uint64_t n, const float *init) { return (pair){ vt_act(ref, n, init), vt_act(nat, n, init) }; }

static pair weight2(const char *name, uint32_t type, uint64_t n_in, uint64_t n_out, int n_dims, const void *data)
{
    return (pair){ vt_weight(ref, name, type, n_in, n_out, n_dims, data),
                   vt_weight(nat, name, type, n_in, n_out, n_dims, data) };
}

static void begin2(void)
{
    gc_err e = {0};
    CHECK(ref->begin_step(ref, &e) == 0, "%s", e.msg);
    CHECK(nat->begin_step(nat, &e) == 0, "%s", e.msg);
}

static void end2(const char *what)
{
    gc_err e = {0};
    CHECK(ref->end_step(ref, &e) == 0, "%s %s: ref: %s", label, what, e.msg);
    CHECK(nat->end_step(nat, &e) == 0, "%s %s: cpu: %s", label, what, e.msg);
}

static double compare(pair t, uint64_t n)
{
    float *a = malloc(n * 4), *b = malloc(n * 4);
    vt_fetch(ref, t.r, n, a);
    vt_fetch(nat, t.n, n, b);
    double e = test_rel_l2(b, a, n);
    free(a);
    free(b);
    return e;
}

static const uint32_t all_types[] = { GT_F32, GT_F16, GT_BF16, GT_Q8_0, GT_Q4_0, GT_Q4_1, GT_Q5_0, GT_Q5_1,
                                      GT_Q4_K, GT_Q5_K, GT_Q6_K };
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* Activations the 8-bit formats hold exactly: d * q, d = 1/128, |q| <= 127,
 * with q = +-127 somewhere in every block of 32 (so every block's and every
 * 256-block's max|x| is 127 d). */
static void exact_fill(float *x, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        int q = (int)(test_rand_u64() % 255) - 127;
        if (i % 32 == 7) q = test_rand_u64() & 1 ? 127 : -127;
        x[i] = (float)q / 128.0f;
    }
}

static void check_matmul(uint32_t type, uint64_t n_in, uint64_t n_out, int rows, bool exact)
{
    void *wd = vt_rand_weight(type, n_in, n_out);
    pair w = weight2("w", type, n_in, n_out, 2, wd);
    float *x = malloc(rows * n_in * 4);
    if (exact || n_in % 32) exact_fill(x, rows * n_in);
    else vt_rand(x, rows * n_in, 1);
    pair src = act2(rows * n_in, x), dst = act2(rows * n_out, NULL);
    begin2();
    ref->matmul(ref, dst.r, w.r, src.r, rows, (int)n_in, (int)n_out);
    nat->matmul(nat, dst.n, w.n, src.n, rows, (int)n_in, (int)n_out);
    end2("matmul");
    double e = compare(dst, rows * n_out);
    bool fl = type == GT_F32 || type == GT_F16 || type == GT_BF16;
    /* A prefill kernel that rounds the weights to bf16 is exact for no x. */
    cpu_isa isa = cpu_backend_isa(nat);
    const cpu_matmul_kernel *pk = cpu_prefill_kernel_for(type, cpu_layout_for(type, isa), isa);
    bool rounds = pk && rows >= pk->min_x && pk->bf16_weights;
    double tol = (exact && !rounds) || fl ? 2e-5 : 1e-2;
    CHECK(e <= tol, "%s matmul %s n_in %llu n_out %llu rows %d%s: rel err %.3g", label, quant_type_name(type),
          (unsigned long long)n_in, (unsigned long long)n_out, rows, exact ? " (exact x)" : "", e);
    free(x);
    free(wd);
}

/* Every type; 1 row (decode), 3, 19 and 70 (prefill tiles, partial ones);
 * output rows not a multiple of a chunk; F32 rows of 40 values. Row counts
 * that are multiples of 16 (48, 4096) and others: Q8_0 matrices are
 * repacked (the R16 layout) at the levels that have its kernels, only
 * where their rows fill whole groups of 16. */
static void test_matmul(void)
{
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t t = all_types[ti];
        uint64_t blk = quant_type_info(t)->block_elems;
        uint64_t n_in = blk == 1 ? 40 : blk == 32 ? 160 : 512;
        const int rows[] = { 1, 3, 19, 70 };
        for (int ri = 0; ri < 4; ri++) {
            check_matmul(t, n_in, 37 + 16 * ri, rows[ri], true);
            check_matmul(t, n_in, 200, rows[ri], false);
            check_matmul(t, n_in, 48, rows[ri], true);
        }
    }
    /* a tall matrix: many chunks */
    check_matmul(GT_Q8_0, 64, 5000, 1, true);
    check_matmul(GT_Q8_0, 64, 4096, 2, true);
    check_matmul(GT_Q4_K, 256, 3000, 2, true);
}

static void test_geglu(void)
{
    const uint32_t types[][2] = { { GT_Q4_K, GT_Q4_K }, { GT_Q8_0, GT_Q4_K }, { GT_F32, GT_Q6_K }, { GT_Q5_0, GT_Q5_0 } };
    for (int ti = 0; ti < 4; ti++)
        for (int rows = 1; rows <= 9; rows += 8) {
            uint64_t n_in = 256, n_ff = rows == 1 ? 83 : 96;   /* 96: Q8_0 repacked (R16) */
            void *gd = vt_rand_weight(types[ti][0], n_in, n_ff), *ud = vt_rand_weight(types[ti][1], n_in, n_ff);
            pair g = weight2("gate", types[ti][0], n_in, n_ff, 2, gd), u = weight2("up", types[ti][1], n_in, n_ff, 2, ud);
            float *x = malloc(rows * n_in * 4);
            exact_fill(x, rows * n_in);
            pair src = act2(rows * n_in, x), dst = act2(rows * n_ff, NULL);
            begin2();
            ref->matmul_geglu(ref, dst.r, g.r, u.r, src.r, rows, (int)n_in, (int)n_ff);
            nat->matmul_geglu(nat, dst.n, g.n, u.n, src.n, rows, (int)n_in, (int)n_ff);
            end2("geglu");
            double e = compare(dst, rows * n_ff);
            CHECK(e <= 5e-5, "%s geglu %s/%s rows %d: rel err %.3g", label, quant_type_name(types[ti][0]),
                  quant_type_name(types[ti][1]), rows, e);
            free(x);
            free(gd);
            free(ud);
        }
}

static void test_embed_norms(void)
{
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        uint32_t t = all_types[ti];
        /* 9 rows, and 48: a Q8_0 table in the R16 layout */
        for (uint64_t D = quant_type_info(t)->block_elems == 256 ? 256 : 64, V = 9; V <= 48; V += 39) {
            void *td = vt_rand_weight(t, D, V);
            pair tab = weight2("tok", t, D, V, 2, td), dst = act2(3 * D, NULL);
            int32_t toks[3] = { (int32_t)V - 1, 0, 3 + (int32_t)V / 2 };
            begin2();
            ref->embed(ref, dst.r, tab.r, toks, 3, (int)D, 4.5f);
            nat->embed(nat, dst.n, tab.n, toks, 3, (int)D, 4.5f);
            end2("embed");
            CHECK(compare(dst, 3 * D) == 0, "%s embed %s of %llu rows differs", label, quant_type_name(t),
                  (unsigned long long)V);
            free(td);
        }
    }
    enum { R = 5, C = 96 };
    float x[R * C], o[R * C], w[C], w2[C];
    vt_rand(x, R * C, 3);
    vt_rand(o, R * C, 2);
    vt_rand(w, C, 1);
    vt_rand(w2, C, 1);
    pair px = act2(R * C, x), po = act2(R * C, o), ph = act2(R * C, NULL);
    pair pw = weight2("w", GT_F32, C, 1, 1, w), pw2 = weight2("w2", GT_F32, C, 1, 1, w2);
    begin2();
    ref->rmsnorm(ref, ph.r, px.r, pw.r, R, C, 1e-6f);
    nat->rmsnorm(nat, ph.n, px.n, pw.n, R, C, 1e-6f);
    end2("rmsnorm");
    CHECK(compare(ph, R * C) <= 2e-5, "%s rmsnorm", label);
    begin2();
    ref->add_rmsnorm_norm(ref, px.r, po.r, pw.r, ph.r, pw2.r, R, C, 1e-6f);
    nat->add_rmsnorm_norm(nat, px.n, po.n, pw.n, ph.n, pw2.n, R, C, 1e-6f);
    end2("add_rmsnorm_norm");
    CHECK(compare(px, R * C) <= 2e-5 && compare(ph, R * C) <= 2e-5, "%s add_rmsnorm_norm", label);
}

/* One step of both backends: rows of q, k and v (q and k of magnitude mag)
 * through qk_rope_store (head norms qn / kn, or none where NULL) at pos0,
 * then attention with p; q after rope and the outputs must agree. */
static void attn_case(int layer, int pos0, int rows, const be_attn_params *p, const pair *qn, const pair *kn,
                      float mag)
{
    int H = p->n_head, HKV = p->n_kv_head, D = p->head_dim;
    float *q = malloc(rows * H * D * 4), *k = malloc(rows * HKV * D * 4), *v = malloc(rows * HKV * D * 4);
    vt_rand(q, rows * H * D, mag);
    vt_rand(k, rows * HKV * D, mag);
    vt_rand(v, rows * HKV * D, 1);
    pair pq = act2(rows * H * D, q), pk = act2(rows * HKV * D, k), pv = act2(rows * HKV * D, v);
    pair out = act2(rows * H * D, NULL);
    begin2();
    ref->qk_rope_store(ref, layer, pq.r, pk.r, pv.r, qn ? qn->r : NULL, kn ? kn->r : NULL, rows, H, pos0, 10000.0f,
                       1.0f, 1e-6f);
    nat->qk_rope_store(nat, layer, pq.n, pk.n, pv.n, qn ? qn->n : NULL, kn ? kn->n : NULL, rows, H, pos0, 10000.0f,
                       1.0f, 1e-6f);
    ref->attention(ref, out.r, pq.r, layer, rows, pos0, p);
    nat->attention(nat, out.n, pq.n, layer, rows, pos0, p);
    end2("attention");
    CHECK(compare(pq, rows * H * D) <= 2e-5, "%s qk_rope_store q (layer %d pos %d)", label, layer, pos0);
    double e = compare(out, rows * H * D);
    CHECK(e <= 2e-5, "%s attention %d/%d heads, layer %d pos0 %d rows %d: rel err %.3g", label, H, HKV, layer, pos0,
          rows, e);
    free(q);
    free(k);
    free(v);
}

/* qk_rope_store (with and without head norms) fills both caches; attention
 * over them with GQA, soft-cap, a window the rows exceed, several rows. */
static void test_attention(void)
{
    enum { H = 4, HKV = 2, D = 32, CTX = 40 };
    gc_err err = {0};
    CHECK(ref->kv_cache(ref, 2, CTX, NULL, HKV, D, &err) == 0, "%s", err.msg);
    CHECK(nat->kv_cache(nat, 2, CTX, NULL, HKV, D, &err) == 0, "%s", err.msg);
    float qn[D], kn[D];
    vt_rand(qn, D, 1);
    vt_rand(kn, D, 1);
    pair pqn = weight2("qn", GT_F32, D, 1, 1, qn), pkn = weight2("kn", GT_F32, D, 1, 1, kn);
    const int chunks[][2] = { { 0, 13 }, { 13, 1 }, { 14, 20 }, { 34, 1 } };   /* pos0, rows */
    for (int layer = 0; layer < 2; layer++)
        for (int ci = 0; ci < 4; ci++) {
            be_attn_params p = { .n_head = H, .n_kv_head = HKV, .head_dim = D, .scale = 0.17f,
                                 .softcap = layer ? 0 : 5.0f, .window = layer ? 0 : 9 };
            attn_case(layer, chunks[ci][0], chunks[ci][1], &p, layer ? &pqn : NULL, layer ? &pkn : NULL, 1);
        }
}

/* Every chunk shape of the attention: query heads per KV head 1, 2 and 4
 * (decode splits a KV head's heads between threads), prefills longer than a
 * chunk of query rows, a head_dim no SIMD width divides, and a ring layer
 * (sliding window, soft-cap) whose keys wrap around its slots. */
static void test_attention_shapes(void)
{
    enum { H = 4, D = 40, CTX = 140, RING = 90, WINDOW = 16 };
    const int kv_heads[] = { 4, 2, 1 };
    const int slots[] = { CTX, RING };
    const int chunks[][2] = { { 0, 70 }, { 70, 1 }, { 71, 1 }, { 72, 40 }, { 112, 1 }, { 113, 1 } };   /* pos0, rows */
    for (int ki = 0; ki < 3; ki++) {
        gc_err err = {0};
        CHECK(ref->kv_cache(ref, 2, CTX, slots, kv_heads[ki], D, &err) == 0, "%s", err.msg);
        CHECK(nat->kv_cache(nat, 2, CTX, slots, kv_heads[ki], D, &err) == 0, "%s", err.msg);
        for (int ci = 0; ci < 6; ci++)
            for (int layer = 0; layer < 2; layer++) {
                be_attn_params p = { .n_head = H, .n_kv_head = kv_heads[ki], .head_dim = D, .scale = 0.16f,
                                     .softcap = layer ? 3.0f : 0, .window = layer ? WINDOW : 0 };
                attn_case(layer, chunks[ci][0], chunks[ci][1], &p, NULL, NULL, 3);
            }
    }
}

static void test_small_ops(void)
{
    enum { N = 3000 };
    float *x = malloc(N * 4);
    vt_rand(x, N, 40);
    x[2500] = x[1700] = 1000;   /* equal maxima: the lower index wins */
    x[100] = 400;               /* capped at 30 it equals the maxima in f32: it wins there */
    x[5] = NAN;
    pair px = act2(N, x), py = act2(N, NULL);
    int32_t am_r = -1, am_n = -2, cm_r = -1, cm_n = -2;
    begin2();
    ref->argmax(ref, px.r, 0, N, &am_r);
    nat->argmax(nat, px.n, 0, N, &am_n);
    ref->argmax_softcap(ref, px.r, 0, N, 30.0f, &cm_r);
    nat->argmax_softcap(nat, px.n, 0, N, 30.0f, &cm_n);
    end2("argmax");
    CHECK(am_r == am_n && am_n == 1700, "%s argmax: ref %d, cpu %d", label, am_r, am_n);
    CHECK(cm_r == cm_n, "%s argmax_softcap: ref %d, cpu %d", label, cm_r, cm_n);
    x[5] = 0;
    pair pz = act2(N, x);
    begin2();
    ref->copy(ref, py.r, 10, pz.r, 20, 2000);
    nat->copy(nat, py.n, 10, pz.n, 20, 2000);
    ref->softcap(ref, py.r, N, 30.0f);
    nat->softcap(nat, py.n, N, 30.0f);
    end2("copy + softcap");
    CHECK(compare(py, N) <= 1e-7, "%s copy + softcap", label);

    /* A bad argument fails the step with a message naming the op. */
    gc_err e = {0};
    nat->begin_step(nat, &e);
    nat->matmul(nat, py.n, px.n, pz.n, 1, 10, 10);
    CHECK(nat->end_step(nat, &e) != 0, "%s matmul with an activation as weight accepted", label);
    CHECK_CONTAINS(e.msg, "matmul");
    free(x);
}

/* kv_read / kv_write (both host backends share them): the raw slots of a
 * ring layer round-trip, qk_rope_store's position lands in its slot p % slots,
 * and a range outside the layer, a missing layer or a call inside a step
 * are refused naming the problem. */
static void test_kv_copy(void)
{
    enum { HKV = 2, D = 8, CTX = 20, RING = 7, ROW = HKV * D };
    backend *bes[2] = { ref, nat };
    for (int bi = 0; bi < 2; bi++) {
        backend *be = bes[bi];
        gc_err e = {0};
        int slots[2] = { CTX, RING };
        CHECK(be->kv_cache(be, 2, CTX, slots, HKV, D, &e) == 0, "%s", e.msg);
        float k[5 * ROW], v[5 * ROW], rk[RING * ROW], rv[RING * ROW];
        /* fixed values: the other tests' random inputs stay those of their seed */
        for (int i = 0; i < 5 * ROW; i++) { k[i] = 0.25f * (float)(i % 13) - 1; v[i] = 0.5f * (float)(i % 7) + 2; }
        CHECK(be->kv_write(be, 1, 2, 5, k, v, &e) == 0, "%s %s kv_write: %s", label, be->name, e.msg);
        CHECK(be->kv_read(be, 1, 0, RING, rk, rv, &e) == 0, "%s %s kv_read: %s", label, be->name, e.msg);
        bool zero = true;
        for (int i = 0; i < 2 * ROW; i++) zero &= rk[i] == 0 && rv[i] == 0;
        CHECK(zero && !memcmp(rk + 2 * ROW, k, sizeof k) && !memcmp(rv + 2 * ROW, v, sizeof v),
              "%s %s: slots 2..6 of the ring do not read back as written", label, be->name);

        /* position 9: slot 2; the cache holds k as rotated */
        be_tensor *tq = vt_act(be, ROW, v), *tk = vt_act(be, ROW, k + ROW), *tv = vt_act(be, ROW, v);
        float kr[ROW];
        CHECK(be->begin_step(be, &e) == 0, "%s", e.msg);
        be->qk_rope_store(be, 1, tq, tk, tv, NULL, NULL, 1, HKV, 9, 10000.0f, 1.0f, 1e-6f);
        be->read(be, tk, 0, ROW, kr);
        CHECK(be->kv_read(be, 1, 0, 1, rk, rv, &e) != 0, "%s %s: kv_read inside a step accepted", label, be->name);
        CHECK_CONTAINS(e.msg, "inside a step");
        CHECK(be->end_step(be, &e) == 0, "%s", e.msg);
        CHECK(be->kv_read(be, 1, 2, 1, rk, rv, &e) == 0 && !memcmp(rk, kr, ROW * 4) && !memcmp(rv, v, ROW * 4),
              "%s %s: qk_rope_store at position 9 is not in slot 2 of 7", label, be->name);

        CHECK(be->kv_read(be, 1, 5, 3, rk, rv, &e) != 0, "%s %s: slots 5..7 of 7 accepted", label, be->name);
        CHECK_CONTAINS(e.msg, "slots 5..7 outside its 7 slots");
        CHECK(be->kv_write(be, 2, 0, 1, k, v, &e) != 0, "%s %s: layer 2 of 2 accepted", label, be->name);
        CHECK_CONTAINS(e.msg, "layer 2 outside the cache");
    }
}

/* Pages of [p, p + n) not resident in memory, by mincore. */
static size_t pages_absent(const void *p, size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / pg * pg, e = (uintptr_t)p + n;
    size_t pages = (e - a + pg - 1) / pg, absent = 0;
    unsigned char *v = malloc(pages);
    if (!v || mincore((void *)a, e - a, v)) { free(v); return pages; }
    for (size_t i = 0; i < pages; i++) absent += !(v[i] & 1);
    free(v);
    return absent;
}

/* qk_rope_store makes a layer's KV pages resident CPU_KV_AHEAD positions
 * ahead of the ones it writes (no page fault in the next decode steps'
 * cache stores), without changing what the cache holds there (kv_write's
 * slots), and a ring layer's slots all at once when its positions pass them. */
static void test_kv_resident(void)
{
    enum { HKV = 2, D = 64, CTX = 4096, RING = 600, ROW = HKV * D };
    gc_err err = {0};
    const int slots[3] = { CTX, CTX, RING };
    CHECK(nat->kv_cache(nat, 3, CTX, slots, HKV, D, &err) == 0, "%s", err.msg);
    const host_backend *hb = (const host_backend *)nat;
    float kw[10 * ROW], vw[10 * ROW], kr[10 * ROW], vr[10 * ROW];
    for (int i = 0; i < 10 * ROW; i++) { kw[i] = (float)i; vw[i] = -(float)i; }
    CHECK(nat->kv_write(nat, 0, 100, 10, kw, vw, &err) == 0, "%s", err.msg);
    float *q = calloc(20 * ROW, sizeof *q);
    be_tensor *tq = vt_act(nat, 20 * ROW, q), *tk = vt_act(nat, 20 * ROW, q), *tv = vt_act(nat, 20 * ROW, q);
    const struct { int layer, pos0, rows, ready; } steps[] = {
        { 0, 0, 1, 1 + CPU_KV_AHEAD }, { 0, 5, 1, 1 + CPU_KV_AHEAD }, { 0, 300, 1, 301 + CPU_KV_AHEAD },
        { 1, 0, 20, 20 + CPU_KV_AHEAD }, { 2, 1000, 1, RING },
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        CHECK(nat->begin_step(nat, &err) == 0, "%s", err.msg);
        nat->qk_rope_store(nat, steps[i].layer, tq, tk, tv, NULL, NULL, steps[i].rows, HKV, steps[i].pos0, 10000.0f,
                           1.0f, 1e-6f);
        CHECK(nat->end_step(nat, &err) == 0, "%s", err.msg);
        size_t at = hb->first_slot[steps[i].layer] * ROW, bytes = (size_t)steps[i].ready * ROW * sizeof(float);
        size_t ka = pages_absent(hb->k_cache + at, bytes), va = pages_absent(hb->v_cache + at, bytes);
        CHECK(ka == 0 && va == 0, "%s: layer %d, positions %d..%d: %zu + %zu pages of its first %d slots not resident",
              label, steps[i].layer, steps[i].pos0, steps[i].pos0 + steps[i].rows - 1, ka, va, steps[i].ready);
    }
    CHECK(nat->kv_read(nat, 0, 100, 10, kr, vr, &err) == 0 && !memcmp(kr, kw, sizeof kr) && !memcmp(vr, vw, sizeof vr),
          "%s: making pages resident changed the cache", label);
    free(q);
}

/* opts.profile: decode steps and batches counted apart, their pool jobs and
 * times consistent (jobs inside steps, the waiting inside the jobs); a
 * backend without it counts nothing. */
static void test_profile(void)
{
    for (int on = 0; on < 2; on++) {
        cpu_backend_opts o;
        cpu_backend_opts_init(&o);
        o.threads = 2;
        o.profile = on;
        gc_err err = {0};
        backend *be = NULL;
        CHECK(cpu_backend_create(&o, &be, &err) == 0, "%s", err.msg);
        if (!be) return;
        enum { N_IN = 64, N_OUT = 512, ROWS = 3 };
        void *wd = vt_rand_weight(GT_Q8_0, N_IN, N_OUT);
        float x[ROWS * N_IN];
        vt_rand(x, ROWS * N_IN, 1);
        be_tensor *w = vt_weight(be, "w", GT_Q8_0, N_IN, N_OUT, 2, wd), *src = vt_act(be, ROWS * N_IN, x);
        be_tensor *dst = vt_act(be, ROWS * N_OUT, NULL);
        cpu_profile before = cpu_backend_profile(be);
        for (int step = 0; step < 4; step++) {
            int rows = step == 3 ? ROWS : 1;
            CHECK(be->begin_step(be, &err) == 0, "%s", err.msg);
            be->matmul(be, dst, w, src, rows, N_IN, N_OUT);   /* 512 rows: several chunks, one job */
            CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
        }
        cpu_profile p = cpu_backend_profile(be);
        const cpu_step_times *d = &p.decode, *b = &p.batch;
        if (!on) {
            CHECK(d->steps == 0 && b->steps == 0 && d->pool.jobs == 0 && d->step_s == 0, "profiled while off");
        } else {
            CHECK(d->steps - before.decode.steps == 3 && b->steps == 1, "steps: %llu decode (%llu before), %llu batch",
                  (unsigned long long)d->steps, (unsigned long long)before.decode.steps, (unsigned long long)b->steps);
            /* a decode product: the one-row conversion runs on the caller, the product is one job;
             * the batch converts its 3 rows in one chunk too */
            CHECK(d->pool.jobs - before.decode.pool.jobs == 3 && b->pool.jobs == 1, "jobs: %llu decode, %llu batch",
                  (unsigned long long)(d->pool.jobs - before.decode.pool.jobs), (unsigned long long)b->pool.jobs);
            for (int k = 0; k < 2; k++) {
                const cpu_step_times *t = k ? b : d;
                CHECK(t->step_s > 0 && t->pool.run_s > 0 && t->pool.run_s <= t->step_s && t->pool.wait_s >= 0 &&
                      t->pool.wait_s <= t->pool.run_s, "%s times: step %g, jobs %g, waiting %g", k ? "batch" : "decode",
                      t->step_s, t->pool.run_s, t->pool.wait_s);
            }
        }
        be->destroy(be);
        free(wd);
    }
}

int main(void)
{
    test_seed_from_env();
    cpu_isa best = cpu_isa_detect();
    for (int l = 0; l < CPU_ISA_COUNT; l++) {
        if (l > (int)best) {
            printf("SKIP: cpu backend ops at %s (this CPU has no %s)\n", cpu_isa_name((cpu_isa)l),
                   cpu_isa_name((cpu_isa)l));
            continue;
        }
        for (int threads = 1; threads <= 4; threads += 3) {
            char lb[64];
            snprintf(lb, sizeof lb, "[%s, %d thread%s]", cpu_isa_name((cpu_isa)l), threads, threads > 1 ? "s" : "");
            label = lb;
            cpu_backend_opts o;
            cpu_backend_opts_init(&o);
            o.isa = l;
            o.threads = threads;
            gc_err err = {0};
            ref = vt_cpu();
            CHECK(cpu_backend_create(&o, &nat, &err) == 0, "%s: %s", lb, err.msg);
            if (!ref || !nat) return test_summary();
            CHECK(cpu_backend_isa(nat) == (cpu_isa)l && cpu_backend_threads(nat) == threads, "%s: created as asked", lb);
            TEST_RUN(test_matmul);
            TEST_RUN(test_geglu);
            TEST_RUN(test_embed_norms);
            TEST_RUN(test_attention);
            TEST_RUN(test_attention_shapes);
            TEST_RUN(test_small_ops);
            TEST_RUN(test_kv_copy);
            TEST_RUN(test_kv_resident);
            ref->destroy(ref);
            nat->destroy(nat);
        }
    }
    TEST_RUN(test_profile);
    return test_summary();
}
