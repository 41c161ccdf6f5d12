/* test_cpu_ops: every op of the CPU reference backend against the plain
 * formula written out here (../shared/GEMMA.md section 3), on random inputs. */
#include <stdlib.h>

#include "model/backend.h"
#include "model/quant.h"
#include "tests/test.h"

static backend *be;

static be_tensor *act(uint64_t n, const float *init)
{
    be_tensor *t = NULL;
    gc_err err = {0};
    CHECK(be->activation(be, n, "t", &t, &err) == 0, "%s", err.msg);
    if (t && init) {
        /* The interface has no host upload for activations: embed a
         * one-row F32 table holding the values (scale 1 is exact). */
        gguf_tensor g = { .name = { "init", 4 }, .n_dims = 2, .ne = { n, 1, 1, 1 }, .type = GT_F32,
                          .n_bytes = n * 4, .data = init };
        be_tensor *w = NULL;
        CHECK(be->weight(be, &g, &w, &err) == 0, "%s", err.msg);
        int32_t tok = 0;
        be->begin_step(be, &err);
        be->embed(be, t, w, &tok, 1, (int)n, 1.0f);
        CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    }
    return t;
}

static void rand_fill(float *x, size_t n, float amp)
{
    for (size_t i = 0; i < n; i++) x[i] = amp * test_rand_f();
}

static void readback(be_tensor *t, uint64_t n, float *host)
{
    gc_err err = {0};
    be->begin_step(be, &err);
    be->read(be, t, 0, n, host);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
}

static double max_rel(const float *a, const double *ref, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]) / (fabs(ref[i]) + 1e-2); /* floor: cancellation near 0 */
        if (isnan(a[i]) || d > m) m = isnan(a[i]) ? INFINITY : d;
    }
    return m;
}

static void test_embed(void)
{
    enum { V = 7, D = 12 };
    float table[V * D];
    rand_fill(table, V * D, 1);
    gguf_tensor g = { .name = { "tok", 3 }, .n_dims = 2, .ne = { D, V, 1, 1 }, .type = GT_F32,
                      .n_bytes = sizeof table, .data = table };
    be_tensor *w = NULL, *dst = act(3 * D, NULL);
    gc_err err = {0};
    CHECK(be->weight(be, &g, &w, &err) == 0, "%s", err.msg);
    int32_t toks[3] = { 6, 0, 3 };
    float scale = sqrtf(D), out[3 * D];
    be->begin_step(be, &err);
    be->embed(be, dst, w, toks, 3, D, scale);
    be->read(be, dst, 0, 3 * D, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < D; j++) CHECK(out[i * D + j] == table[toks[i] * D + j] * scale, "row %d col %d", i, j);

    /* A token outside the table fails the step and names the id. */
    int32_t bad = V;
    be->begin_step(be, &err);
    be->embed(be, dst, w, &bad, 1, D, 1.0f);
    CHECK(be->end_step(be, &err) != 0, "token %d accepted", bad);
    CHECK_CONTAINS(err.msg, "token id 7");
}

/* rmsnorm(x[r]) * w for each of rows rows, in double. */
static void rmsnorm_ref(double *out, const float *x, const float *w, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int j = 0; j < cols; j++) ss += (double)x[r * cols + j] * x[r * cols + j];
        for (int j = 0; j < cols; j++) out[r * cols + j] = x[r * cols + j] / sqrt(ss / cols + 1e-6) * w[j];
    }
}

static void test_rmsnorm(void)
{
    enum { R = 3, C = 40 };
    float x[R * C], o[R * C], w[C], out[R * C];
    rand_fill(x, R * C, 3);
    rand_fill(o, R * C, 2);
    rand_fill(w, C, 1.5f);
    be_tensor *tx = act(R * C, x), *to = act(R * C, o), *tw = act(C, w), *td = act(R * C, NULL);
    gc_err err = {0};
    be->begin_step(be, &err);
    be->rmsnorm(be, td, tx, tw, R, C, 1e-6f);
    be->read(be, td, 0, R * C, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    double ref[R * C];
    rmsnorm_ref(ref, x, w, R, C);
    CHECK(max_rel(out, ref, R * C) < 1e-6, "rmsnorm rel %g", max_rel(out, ref, R * C));

    /* In place (dst == src) gives the same result. */
    be->begin_step(be, &err);
    be->rmsnorm(be, tx, tx, tw, R, C, 1e-6f);
    be->read(be, tx, 0, R * C, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    CHECK(max_rel(out, ref, R * C) < 1e-6, "in-place rmsnorm rel %g", max_rel(out, ref, R * C));

    /* add_rmsnorm_norm: x += rmsnorm(o) * w (x now holds the normed values),
     * then h = rmsnorm(x) * w2. The sum can cancel to near zero, where an
     * error relative to the result means nothing: each float sum is only
     * exact to ~2^-24 of its operands, so x's error is measured against the
     * size of the two terms. */
    double worst = 0;
    double term[R * C], normed_o[R * C];
    rmsnorm_ref(normed_o, o, w, R, C);
    for (int i = 0; i < R * C; i++) {
        term[i] = fabs(ref[i]) + fabs(normed_o[i]);
        ref[i] += normed_o[i];
    }
    float w2[C], h[R * C];
    rand_fill(w2, C, 1.5f);
    be_tensor *tw2 = act(C, w2), *th = act(R * C, NULL);
    be->begin_step(be, &err);
    be->add_rmsnorm_norm(be, tx, to, tw, th, tw2, R, C, 1e-6f);
    be->read(be, tx, 0, R * C, out);
    be->read(be, th, 0, R * C, h);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    for (int i = 0; i < R * C; i++) {
        double d = fabs(out[i] - ref[i]) / (term[i] + 1e-2);
        if (isnan(out[i]) || d > worst) worst = isnan(out[i]) ? INFINITY : d;
    }
    CHECK(worst < 1e-6, "add_rmsnorm_norm x error %g of the summed terms", worst);
    rmsnorm_ref(ref, out, w2, R, C);   /* h: the norm of the x the backend holds now */
    CHECK(max_rel(h, ref, R * C) < 1e-6, "add_rmsnorm_norm h rel %g", max_rel(h, ref, R * C));

    /* h must be a third tensor. */
    be->begin_step(be, &err);
    be->add_rmsnorm_norm(be, tx, to, tw, tx, tw2, R, C, 1e-6f);
    CHECK(be->end_step(be, &err) != 0, "h == x accepted");
    CHECK_CONTAINS(err.msg, "h is x or o");

    /* A weight shorter than cols fails the step. */
    be->begin_step(be, &err);
    be->rmsnorm(be, td, tx, tw, 1, C + 1, 1e-6f);
    CHECK(be->end_step(be, &err) != 0, "short weight accepted");
}

/* Random bytes for n_rows rows of a weight type, with every fp16 scale field
 * set to a small finite value so dequantized rows hold no inf/NaN. */
static uint8_t *rand_weight(uint32_t type, uint64_t n_in, uint64_t n_rows, uint64_t *bytes)
{
    const quant_info *qi = quant_type_info(type);
    uint64_t rb = 0;
    gc_err err = {0};
    if (!qi || quant_row_bytes(type, n_in, &rb, &err)) return NULL;
    *bytes = rb * n_rows;
    uint8_t *p = malloc(*bytes);
    for (uint64_t i = 0; i < *bytes; i++) p[i] = (uint8_t)test_rand_u64();
    uint64_t n_blocks = *bytes / qi->block_bytes;
    for (uint64_t b = 0; b < n_blocks; b++) {
        uint8_t *blk = p + b * qi->block_bytes;
        int fields[2] = { -1, -1 };
        switch (type) {
        case GT_F16: fields[0] = 0; break;
        case GT_BF16: blk[1] = 0x3f; blk[0] &= 0x7f; break;  /* |x| in [0.5, 1) */
        case GT_Q4_0: case GT_Q5_0: case GT_Q8_0: fields[0] = 0; break;
        case GT_Q4_1: case GT_Q5_1: case GT_Q4_K: case GT_Q5_K: fields[0] = 0; fields[1] = 2; break;
        case GT_Q6_K: fields[0] = 208; break;
        default: break;
        }
        for (int f = 0; f < 2; f++) {
            if (fields[f] < 0) continue;
            uint16_t h = quant_f32_to_f16(0.01f + 0.02f * (float)(test_rand_u64() % 100) / 100);
            memcpy(blk + fields[f], &h, 2);
        }
    }
    if (type == GT_F32)
        for (uint64_t i = 0; i < n_in * n_rows; i++) ((float *)p)[i] = test_rand_f();
    return p;
}

static void test_matmul_type(uint32_t type)
{
    const quant_info *qi = quant_type_info(type);
    if (!qi || !qi->supported) return;
    enum { R = 3, NOUT = 5 };
    uint64_t n_in = qi->block_elems >= 256 ? 512 : 64, bytes = 0;
    uint8_t *wb = rand_weight(type, n_in, NOUT, &bytes);
    CHECK(wb != NULL, "no weight bytes for %s", qi->name);
    if (!wb) return;
    gguf_tensor g = { .name = { "w", 1 }, .n_dims = 2, .ne = { n_in, NOUT, 1, 1 }, .type = type,
                      .n_bytes = bytes, .data = wb };
    gc_err err = {0};
    be_tensor *w = NULL;
    CHECK(be->weight(be, &g, &w, &err) == 0, "%s: %s", qi->name, err.msg);
    float *x = malloc(R * n_in * sizeof *x), *wrow = malloc(n_in * sizeof *wrow), out[R * NOUT];
    rand_fill(x, R * n_in, 1);
    be_tensor *tx = act(R * n_in, x), *td = act(R * NOUT, NULL);
    be->begin_step(be, &err);
    be->matmul(be, td, w, tx, R, (int)n_in, NOUT);
    be->read(be, td, 0, R * NOUT, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    double ref[R * NOUT];
    uint64_t rb = bytes / NOUT;
    for (int o = 0; o < NOUT; o++) {
        quant_dequant_row(type, wb + o * rb, wrow, n_in);
        for (int r = 0; r < R; r++) {
            double s = 0;
            for (uint64_t j = 0; j < n_in; j++) s += (double)wrow[j] * x[r * n_in + j];
            ref[r * NOUT + o] = s;
        }
    }
    double e = max_rel(out, ref, R * NOUT);
    CHECK(e < 1e-5, "matmul %s rel %g", qi->name, e);
    free(x);
    free(wrow);
    free(wb);
}

static void test_matmul(void)
{
    static const uint32_t types[] = { GT_F32, GT_F16, GT_BF16, GT_Q4_0, GT_Q4_1, GT_Q5_0, GT_Q5_1,
                                      GT_Q8_0, GT_Q4_K, GT_Q5_K, GT_Q6_K };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) test_matmul_type(types[i]);

    /* Wrong n_in for the weight fails the step and names the tensor. */
    enum { N = 32 };
    float wf[N * 2] = { 0 }, x[N * 2];
    rand_fill(x, N * 2, 1);
    gguf_tensor g = { .name = { "blk.0.attn_q.weight", 19 }, .n_dims = 2, .ne = { N, 2, 1, 1 },
                      .type = GT_F32, .n_bytes = sizeof wf, .data = wf };
    gc_err err = {0};
    be_tensor *w = NULL, *tx = act(N * 2, x), *td = act(4, NULL);
    CHECK(be->weight(be, &g, &w, &err) == 0, "%s", err.msg);
    be->begin_step(be, &err);
    be->matmul(be, td, w, tx, 1, N * 2, 2);
    CHECK(be->end_step(be, &err) != 0, "wrong n_in accepted");
    CHECK_CONTAINS(err.msg, "blk.0.attn_q.weight");

    /* An unsupported or unknown type is refused at upload, naming the tensor. */
    g.type = 99;
    CHECK(be->weight(be, &g, &w, &err) != 0, "type 99 accepted");
    CHECK_CONTAINS(err.msg, "blk.0.attn_q.weight");
}

static double gelu_ref(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

static void test_geglu(void)
{
    enum { R = 2, NIN = 48, NFF = 7 };
    float wg[NFF * NIN], wu[NFF * NIN], x[R * NIN], out[R * NFF];
    rand_fill(wg, NFF * NIN, 0.5f);
    rand_fill(wu, NFF * NIN, 0.5f);
    rand_fill(x, R * NIN, 2);
    gguf_tensor gg = { .name = { "g", 1 }, .n_dims = 2, .ne = { NIN, NFF, 1, 1 }, .type = GT_F32,
                       .n_bytes = sizeof wg, .data = wg };
    gguf_tensor gu = gg;
    gu.data = wu;
    gc_err err = {0};
    be_tensor *tg = NULL, *tu = NULL, *tx = act(R * NIN, x), *td = act(R * NFF, NULL);
    CHECK(be->weight(be, &gg, &tg, &err) == 0 && be->weight(be, &gu, &tu, &err) == 0, "%s", err.msg);
    be->begin_step(be, &err);
    be->matmul_geglu(be, td, tg, tu, tx, R, NIN, NFF);
    be->read(be, td, 0, R * NFF, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    double ref[R * NFF];
    for (int r = 0; r < R; r++)
        for (int o = 0; o < NFF; o++) {
            double a = 0, b = 0;
            for (int j = 0; j < NIN; j++) {
                a += (double)wg[o * NIN + j] * x[r * NIN + j];
                b += (double)wu[o * NIN + j] * x[r * NIN + j];
            }
            ref[r * NFF + o] = gelu_ref(a) * b;
        }
    CHECK(max_rel(out, ref, R * NFF) < 1e-5, "geglu rel %g", max_rel(out, ref, R * NFF));
}

/* NEOX RoPE of x ([rows][heads][D]) at positions pos0.. * pscale, in double. */
static void rope_ref(double *out, const float *x, int rows, int heads, int D, int pos0, float base, float pscale)
{
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < D / 2; i++) {
                const float *v = x + (r * heads + h) * D;
                double th = (pos0 + r) * pscale * pow(base, -2.0 * i / D);
                out[(r * heads + h) * D + i] = v[i] * cos(th) - v[i + D / 2] * sin(th);
                out[(r * heads + h) * D + i + D / 2] = v[i] * sin(th) + v[i + D / 2] * cos(th);
            }
}

/* qk_rope_store without head norms: q (H heads) and k (KV heads) rotated in
 * place, then k and v in the cache at their positions. */
static void test_rope(void)
{
    enum { R = 3, H = 2, KV = 1, D = 8, NCTX = 16 };
    gc_err err = {0};
    CHECK(be->kv_cache(be, 1, NCTX, NULL, KV, D, &err) == 0, "%s", err.msg);
    float q[R * H * D], k[R * KV * D], v[R * KV * D], qo[R * H * D], ko[R * KV * D];
    rand_fill(q, R * H * D, 1);
    rand_fill(k, R * KV * D, 1);
    rand_fill(v, R * KV * D, 1);
    const int pos0 = 5;
    const float base = 10000.0f, pscale = 0.125f;
    be_tensor *tq = act(R * H * D, q), *tk = act(R * KV * D, k), *tv = act(R * KV * D, v);
    be->begin_step(be, &err);
    be->qk_rope_store(be, 0, tq, tk, tv, NULL, NULL, R, H, pos0, base, pscale, 1e-6f);
    be->read(be, tq, 0, R * H * D, qo);
    be->read(be, tk, 0, R * KV * D, ko);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    double ref[R * H * D];
    rope_ref(ref, q, R, H, D, pos0, base, pscale);
    CHECK(max_rel(qo, ref, R * H * D) < 1e-5, "rope q rel %g", max_rel(qo, ref, R * H * D));
    rope_ref(ref, k, R, KV, D, pos0, base, pscale);
    CHECK(max_rel(ko, ref, R * KV * D) < 1e-5, "rope k rel %g", max_rel(ko, ref, R * KV * D));
    float kc[R * KV * D], vc[R * KV * D];
    CHECK(be->kv_read(be, 0, pos0, R, kc, vc, &err) == 0, "%s", err.msg);
    CHECK(memcmp(kc, ko, sizeof kc) == 0, "cached k is not the rotated k");
    CHECK(memcmp(vc, v, sizeof vc) == 0, "cached v is not v");

    /* NEOX pairing: a unit vector in dimension 0 at position 1 (scale 1)
     * rotates into dimension D/2 by exactly 1 radian; nothing else moves. */
    float e[D] = { 1 }, o[D];
    be_tensor *te = act(D, e), *tz = act(D, NULL), *tz2 = act(D, NULL);
    be->begin_step(be, &err);
    be->qk_rope_store(be, 0, te, tz, tz2, NULL, NULL, 1, 1, 1, base, 1.0f, 1e-6f);
    be->read(be, te, 0, D, o);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    CHECK_NEAR(o[0], cos(1.0), 1e-6);
    CHECK_NEAR(o[D / 2], sin(1.0), 1e-6);
    CHECK(o[1] == 0 && o[D / 2 - 1] == 0 && o[D - 1] == 0, "rope leaked into other dims");

    /* The angles of a step are kept for the next calls (host_backend.h):
     * Gemma 3's layers alternate two bases at one position, then the position,
     * the scale, the row count or head_dim change; each call turns by its own. */
    struct { int pos0, rows, d; float base, scale; } calls[] = {
        { 9, 1, D, 10000.0f, 1.0f }, { 9, 1, D, 1e6f, 1.0f }, { 9, 1, D, 10000.0f, 1.0f }, { 9, 1, D, 1e6f, 1.0f },
        { 10, 1, D, 10000.0f, 1.0f }, { 10, 1, D, 10000.0f, 0.25f }, { 10, 3, D, 10000.0f, 0.25f },
        { 10, 3, 2 * D, 10000.0f, 0.25f }, { 9, 1, D, 10000.0f, 1.0f },
    };
    for (size_t c = 0; c < sizeof calls / sizeof *calls; c++) {
        int rows = calls[c].rows, d = calls[c].d;
        CHECK(be->kv_cache(be, 1, NCTX, NULL, 1, d, &err) == 0, "%s", err.msg);
        float x[3 * H * 2 * D], xo[3 * H * 2 * D], kz[3 * 2 * D] = { 0 };
        rand_fill(x, (size_t)rows * H * d, 1);
        be_tensor *tx = act((uint64_t)rows * H * d, x), *tk2 = act((uint64_t)rows * d, kz), *tv2 = act((uint64_t)rows * d, kz);
        be->begin_step(be, &err);
        be->qk_rope_store(be, 0, tx, tk2, tv2, NULL, NULL, rows, H, calls[c].pos0, calls[c].base, calls[c].scale, 1e-6f);
        be->read(be, tx, 0, (uint64_t)rows * H * d, xo);
        CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
        double want[3 * H * 2 * D];
        rope_ref(want, x, rows, H, d, calls[c].pos0, calls[c].base, calls[c].scale);
        CHECK(max_rel(xo, want, (size_t)rows * H * d) < 1e-5, "rope call %zu (pos %d, base %g): rel %g", c,
              calls[c].pos0, calls[c].base, max_rel(xo, want, (size_t)rows * H * d));
    }
}

/* Reference attention: the formula with an explicit key list, independent of
 * how the backend lays out its mask. */
static void attn_ref(double *out, const float *q, const float *K, const float *V, int rows, int pos0,
                     int n_head, int n_kv, int hd, float scale, float cap, int window)
{
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < n_head; h++) {
            int g = h / (n_head / n_kv), qp = pos0 + r;
            double s[64], mx = -1e300, sum = 0;
            int keep[64];
            for (int t = 0; t <= qp; t++) {
                double d = 0;
                for (int j = 0; j < hd; j++) d += (double)q[(r * n_head + h) * hd + j] * K[(t * n_kv + g) * hd + j];
                d *= scale;
                if (cap > 0) d = cap * tanh(d / cap);
                keep[t] = !(window > 0 && qp - t >= window);
                s[t] = d;
                if (keep[t] && d > mx) mx = d;
            }
            for (int t = 0; t <= qp; t++) { s[t] = keep[t] ? exp(s[t] - mx) : 0; sum += s[t]; }
            for (int j = 0; j < hd; j++) {
                double a = 0;
                for (int t = 0; t <= qp; t++) a += s[t] * V[(t * n_kv + g) * hd + j];
                out[(r * n_head + h) * hd + j] = a / sum;
            }
        }
}

static void test_attention(void)
{
    enum { NCTX = 24, NL = 2, H = 4, KV = 2, D = 8, N = 20 };
    gc_err err = {0};
    CHECK(be->kv_cache(be, NL, NCTX, NULL, KV, D, &err) == 0, "%s", err.msg);
    float K[N * KV * D], V[N * KV * D], q[N * H * D], out[N * H * D];
    rand_fill(K, N * KV * D, 2);
    rand_fill(V, N * KV * D, 1);
    rand_fill(q, N * H * D, 2);
    be_tensor *tq = act(N * H * D, q), *to = act(N * H * D, NULL);
    struct { float cap; int window; } cases[] = { { 0, 0 }, { 1.0f, 0 }, { 0, 3 }, { 2.0f, 5 }, { 50.0f, 1 } };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        be_attn_params p = { .n_head = H, .n_kv_head = KV, .head_dim = D, .scale = 1 / sqrtf(D),
                             .softcap = cases[c].cap, .window = cases[c].window };
        /* Fill layer 1's cache, then attend with all rows at once and in
         * two chunks (prefill continuing at pos0 = 12). */
        double ref[N * H * D];
        attn_ref(ref, q, K, V, N, 0, H, KV, D, p.scale, p.softcap, p.window);
        CHECK(be->kv_write(be, 1, 0, N, K, V, &err) == 0, "%s", err.msg);
        be->begin_step(be, &err);
        be->attention(be, to, tq, 1, N, 0, &p);
        be->read(be, to, 0, N * H * D, out);
        CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
        CHECK(max_rel(out, ref, N * H * D) < 1e-5, "case %zu: attention rel %g", c, max_rel(out, ref, N * H * D));

        /* Rows 12.. alone (q rows copied to the front) match the same rows of the batch. */
        be_tensor *tq2 = act(8 * H * D, q + 12 * H * D), *to2 = act(8 * H * D, NULL);
        float out2[8 * H * D];
        be->begin_step(be, &err);
        be->attention(be, to2, tq2, 1, 8, 12, &p);
        be->read(be, to2, 0, 8 * H * D, out2);
        CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
        CHECK(memcmp(out2, out + 12 * H * D, sizeof out2) == 0, "case %zu: chunked attention differs", c);
    }

    /* GQA mapping: V of kv head g is the constant g + 1, so query head h
     * must output h / (H / KV) + 1 in every dimension. */
    float vc[N * KV * D];
    for (int t = 0; t < N; t++)
        for (int g = 0; g < KV; g++)
            for (int j = 0; j < D; j++) vc[(t * KV + g) * D + j] = (float)(g + 1);
    be_attn_params p = { .n_head = H, .n_kv_head = KV, .head_dim = D, .scale = 0.3f };
    CHECK(be->kv_write(be, 0, 0, N, K, vc, &err) == 0, "%s", err.msg);
    be->begin_step(be, &err);
    be->attention(be, to, tq, 0, N, 0, &p);
    be->read(be, to, 0, N * H * D, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    for (int r = 0; r < N; r++)
        for (int h = 0; h < H; h++) CHECK_NEAR(out[(r * H + h) * D + 3], h / (H / KV) + 1, 1e-6);

    /* Sliding window 1 with a cap: each query sees only its own key, so the
     * output is exactly its V row (a capped-then-masked key must get weight 0). */
    p.softcap = 0.5f;
    p.window = 1;
    CHECK(be->kv_write(be, 0, 0, N, K, V, &err) == 0, "%s", err.msg);
    be->begin_step(be, &err);
    be->attention(be, to, tq, 0, N, 0, &p);
    be->read(be, to, 0, N * H * D, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    for (int r = 0; r < N; r++) CHECK_NEAR(out[(r * H + 3) * D + 5], V[(r * KV + 1) * D + 5], 1e-6);

    /* Positions past the cache fail the step. */
    be->begin_step(be, &err);
    be->attention(be, to, tq, 0, N, NCTX - N + 1, &p);
    CHECK(be->end_step(be, &err) != 0, "attention past the cache accepted");
    CHECK_CONTAINS(err.msg, "outside the cache");
}

static void test_softcap_copy_argmax(void)
{
    enum { N = 50 };
    float x[N], out[N];
    rand_fill(x, N, 20);
    x[7] = 1e4f;   /* saturates to the cap */
    be_tensor *t = act(N, x), *t2 = act(N, NULL);
    gc_err err = {0};
    int32_t am = -1, am2 = -1;
    be->begin_step(be, &err);
    be->softcap(be, t, N, 3.0f);
    be->argmax(be, t, 0, N, &am);
    be->copy(be, t2, 10, t, 0, 5);
    be->argmax(be, t2, 10, 5, &am2);
    be->read(be, t, 0, N, out);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    for (int i = 0; i < N; i++) CHECK_NEAR(out[i], 3.0 * tanh(x[i] / 3.0), 1e-6);
    CHECK(am == 7, "argmax %d", am);
    float c[N];
    readback(t2, N, c);
    CHECK(memcmp(c + 10, out, 5 * sizeof(float)) == 0 && c[9] == 0 && c[15] == 0, "copy");
    int best = 0;
    for (int i = 1; i < 5; i++) if (out[i] > out[best]) best = i;
    CHECK(am2 == best, "argmax with offset %d != %d", am2, best);

    /* Reads are served at end_step, as on Vulkan: a tensor changed after
     * the read request is seen in its final state. */
    float fin[N];
    be->begin_step(be, &err);
    be->read(be, t2, 0, N, fin);
    be->copy(be, t2, 0, t, 0, N);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    CHECK(memcmp(fin, out, sizeof fin) == 0, "read saw an intermediate state");

    /* Ties pick the lowest index; NaN never wins. */
    float tie[6] = { 1, 4, NAN, 4, 2, 4 };
    be_tensor *tt = act(6, tie);
    be->begin_step(be, &err);
    be->argmax(be, tt, 0, 6, &am);
    be->argmax(be, tt, 2, 4, &am2);
    CHECK(be->end_step(be, &err) == 0, "%s", err.msg);
    CHECK(am == 1, "tie argmax %d", am);
    CHECK(am2 == 1, "NaN-first argmax %d", am2);

    /* An op outside a step is reported by the next end_step, which then
     * leaves the backend usable again. */
    be->copy(be, t2, 0, t, 0, 1);
    be->begin_step(be, &err);
    CHECK(be->end_step(be, &err) != 0, "op outside a step not reported");
    CHECK_CONTAINS(err.msg, "outside begin_step");
    be->begin_step(be, &err);
    CHECK(be->end_step(be, &err) == 0, "error not cleared: %s", err.msg);
    be->begin_step(be, &err);
    be->copy(be, t2, 0, t, 0, N + 1);
    CHECK(be->end_step(be, &err) != 0, "copy past the end accepted");
}

int main(void)
{
    test_seed_from_env();
    gc_err err = {0};
    if (ref_backend_create(&be, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    TEST_RUN(test_embed);
    TEST_RUN(test_rmsnorm);
    TEST_RUN(test_matmul);
    TEST_RUN(test_geglu);
    TEST_RUN(test_rope);
    TEST_RUN(test_attention);
    TEST_RUN(test_softcap_copy_argmax);
    CHECK(be->memory_used(be) > 0, "memory_used");
    be->destroy(be);
    return test_summary();
}
