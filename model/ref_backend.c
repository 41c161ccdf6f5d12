/* ref_backend.c: the plain-C reference backend (model/backend.h).
 *
 * Plain scalar C, single-threaded, executing every op immediately. This is the
 * yardstick the Vulkan backend and the golden tests are measured against, so
 * it favours obvious correctness: dot products, norms and softmax sums are
 * accumulated in double, weights are dequantized one row at a time through the
 * reference dequantizers in model/quant.c, and every op checks its sizes
 * against the tensors it touches (a violation fails the step; see backend.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/host_backend.h"
#include "model/quant.h"

typedef struct ref_backend {
    host_backend hb;       /* first: a backend * is a ref_backend * */
    /* Scratch reused across ops. */
    float *row_a, *row_b;  /* [scratch_n] dequantized weight rows */
    uint64_t scratch_n;
    double *scores;        /* [n_ctx] attention probabilities of one query head */
} ref_backend;

static ref_backend *rb_of(backend *be) { return (ref_backend *)be; }

/* Grows the two weight-row buffers to n floats. */
static bool scratch(ref_backend *rb, uint64_t n)
{
    if (n <= rb->scratch_n) return true;
    float *a = realloc(rb->row_a, n * sizeof *a);
    if (a) rb->row_a = a;
    float *b = realloc(rb->row_b, n * sizeof *b);
    if (b) rb->row_b = b;
    if (!a || !b) { hb_fail(&rb->hb, "out of memory for a row of %llu floats", (unsigned long long)n); return false; }
    rb->scratch_n = n;
    return true;
}

static void dequant_row(const be_tensor *w, uint64_t row, float *dst)
{
    quant_dequant_row(w->type, w->data + row * w->row_bytes, dst, w->n_in);
}

/* Dot product in double. Four partial sums only break the dependency chain
 * (about 4x faster than one); the rounding stays far below f32 resolution. */
static double dot(const float *a, const float *b, uint64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)a[i] * b[i];
        s1 += (double)a[i + 1] * b[i + 1];
        s2 += (double)a[i + 2] * b[i + 2];
        s3 += (double)a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += (double)a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* 1 / sqrt(mean(x^2) + eps), the RMSNorm factor. */
static double rms_inv(const float *x, uint64_t n, float eps)
{
    return 1.0 / sqrt(dot(x, x, n) / (double)n + eps);
}

static double gelu_tanh(double x)
{
    const double c = 0.79788456080286535588; /* sqrt(2/pi) */
    return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)));
}

/* ---------------------------------------------------------------- memory */

static int ref_kv_cache(backend *be, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim,
                        gc_err *err)
{
    ref_backend *rb = rb_of(be);
    free(rb->scores);
    rb->scores = NULL;
    if (hb_kv_cache(be, n_layer, n_ctx, slots, n_kv_head, head_dim, err)) return -1;
    rb->scores = malloc((size_t)n_ctx * sizeof *rb->scores);
    if (!rb->scores) return gc_errf(err, "kv cache: out of memory for %d attention scores", n_ctx);
    return 0;
}

static void ref_destroy(backend *be)
{
    if (!be) return;
    ref_backend *rb = rb_of(be);
    hb_release(&rb->hb);
    free(rb->scores);
    free(rb->row_a);
    free(rb->row_b);
    free(rb);
}

/* The reference's argmax; capped: every value capped, then the first maximum
 * (NaN never wins: a NaN logit must not become the chosen token silently). */
static uint64_t argmax(host_backend *hb, const float *s, uint64_t n, float cap)
{
    (void)hb;
    if (!(cap > 0)) return hb_argmax_plain(s, n);
    uint64_t best = 0;
    float bv = hb_capped(s[0], cap);
    for (uint64_t i = 1; i < n; i++) {
        float v = hb_capped(s[i], cap);
        if (v > bv || (isnan(bv) && !isnan(v))) { best = i; bv = v; }
    }
    return best;
}

/* ---------------------------------------------------------------- ops */

/* dst[r] = rmsnorm(src[r]) * w, or with add, dst[r] += that (the post-norm
 * residual). dst may be src. */
static void norm_rows(host_backend *hb, const char *op, be_tensor *dst, const be_tensor *src,
                      const be_tensor *w, int rows, int cols, float eps, bool add)
{
    if (!hb_op_ok(hb, op) || !hb_dims_ok(hb, op, rows, cols, 1)) return;
    uint64_t n = (uint64_t)rows * cols;
    float *d = hb_f32_out(hb, dst, n, op, "dst");       // [rows][cols]
    const float *s = hb_f32_in(hb, src, n, op, "src"); // [rows][cols]
    const float *wf = hb_f32_in(hb, w, cols, op, "w"); // [cols]
    if (!d || !s || !wf) return;
    for (int r = 0; r < rows; r++) {
        const float *x = s + (size_t)r * cols;
        float *y = d + (size_t)r * cols;
        double k = rms_inv(x, cols, eps);
        for (int j = 0; j < cols; j++) {
            float v = (float)(x[j] * k) * wf[j];
            y[j] = add ? y[j] + v : v;
        }
    }
}

static void ref_rmsnorm(backend *be, be_tensor *dst, const be_tensor *src, const be_tensor *w,
                        int rows, int cols, float eps)
{
    norm_rows(hb_of(be), "rmsnorm", dst, src, w, rows, cols, eps, false);
}

/* The reference for the fused op: its two norms, one after the other. */
static void ref_add_rmsnorm_norm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w,
                                 be_tensor *h, const be_tensor *w2, int rows, int cols, float eps)
{
    norm_rows(hb_of(be), "add_rmsnorm_norm", x, o, w, rows, cols, eps, true);
    if (h == x || h == o) { hb_fail(hb_of(be), "add_rmsnorm_norm: h is x or o"); return; }
    ref_rmsnorm(be, h, x, w2, rows, cols, eps);
}

/* Each weight row is dequantized once and used for every batch row, so a
 * prefill of n tokens costs one pass over the weights, not n. */
static void ref_matmul(backend *be, be_tensor *dst, const be_tensor *w, const be_tensor *src,
                       int rows, int n_in, int n_out)
{
    ref_backend *rb = rb_of(be);
    host_backend *hb = &rb->hb;
    if (!hb_op_ok(hb, "matmul") || !hb_dims_ok(hb, "matmul", rows, n_in, n_out)) return;
    float *d = hb_f32_out(hb, dst, (uint64_t)rows * n_out, "matmul", "dst");      // [rows][n_out]
    const float *s = hb_f32_in(hb, src, (uint64_t)rows * n_in, "matmul", "src"); // [rows][n_in]
    if (!d || !s || !hb_matrix_ok(hb, w, n_in, n_out, "matmul") || !scratch(rb, n_in)) return;
    if (dst == src) { hb_fail(hb, "matmul: dst and src are the same tensor '%s'", dst->name); return; }
    for (int o = 0; o < n_out; o++) {
        dequant_row(w, o, rb->row_a);
        for (int r = 0; r < rows; r++)
            d[(size_t)r * n_out + o] = (float)dot(rb->row_a, s + (size_t)r * n_in, n_in);
    }
}

static void ref_matmul_geglu(backend *be, be_tensor *dst, const be_tensor *wgate, const be_tensor *wup,
                             const be_tensor *src, int rows, int n_in, int n_ff)
{
    ref_backend *rb = rb_of(be);
    host_backend *hb = &rb->hb;
    if (!hb_op_ok(hb, "matmul_geglu") || !hb_dims_ok(hb, "matmul_geglu", rows, n_in, n_ff)) return;
    float *d = hb_f32_out(hb, dst, (uint64_t)rows * n_ff, "matmul_geglu", "dst");      // [rows][n_ff]
    const float *s = hb_f32_in(hb, src, (uint64_t)rows * n_in, "matmul_geglu", "src"); // [rows][n_in]
    if (!d || !s || !hb_matrix_ok(hb, wgate, n_in, n_ff, "matmul_geglu") ||
        !hb_matrix_ok(hb, wup, n_in, n_ff, "matmul_geglu") || !scratch(rb, n_in)) return;
    if (dst == src) { hb_fail(hb, "matmul_geglu: dst and src are the same tensor '%s'", dst->name); return; }
    for (int o = 0; o < n_ff; o++) {
        dequant_row(wgate, o, rb->row_a);
        dequant_row(wup, o, rb->row_b);
        for (int r = 0; r < rows; r++) {
            const float *x = s + (size_t)r * n_in;
            float g = (float)dot(rb->row_a, x, n_in);
            float u = (float)dot(rb->row_b, x, n_in);
            d[(size_t)r * n_ff + o] = (float)gelu_tanh(g) * u;
        }
    }
}

/* Scores are scaled, soft-capped, then masked (causal, and the sliding window
 * where p->window > 0: those keys are not read, they would weigh exactly 0);
 * softmax and the weighted sum of V run in double. */
static void ref_attention(backend *be, be_tensor *out, const be_tensor *q, int layer, int rows, int pos0,
                          const be_attn_params *p)
{
    ref_backend *rb = rb_of(be);
    host_backend *hb = &rb->hb;
    if (!hb_op_ok(hb, "attention") || !hb_dims_ok(hb, "attention", rows, 1, 1) ||
        !hb_cache_pos_ok(hb, "attention", layer, rows, pos0)) return;
    if (!hb_attn_ok(hb, p, layer, rows)) return;
    int hd = p->head_dim, group = p->n_head / p->n_kv_head;
    uint64_t n = (uint64_t)rows * p->n_head * hd;
    float *o = hb_f32_out(hb, out, n, "attention", "out");       // [rows][n_head][head_dim]
    const float *qf = hb_f32_in(hb, q, n, "attention", "q");    // [rows][n_head][head_dim]
    if (!o || !qf) return;
    if (out == q) { hb_fail(hb, "attention: out and q are the same tensor '%s'", out->name); return; }
    double *sc = rb->scores;                                  // [n_ctx], by position
    for (int r = 0; r < rows; r++) {
        int qpos = pos0 + r;
        int t0 = p->window > 0 && qpos - p->window + 1 > 0 ? qpos - p->window + 1 : 0;
        for (int h = 0; h < p->n_head; h++) {
            const float *qv = qf + ((size_t)r * p->n_head + h) * hd;
            size_t g = (size_t)(h / group) * hd;
            double mx = -INFINITY;
            for (int t = t0; t <= qpos; t++) {
                double s = p->scale * dot(qv, hb->k_cache + hb_cache_index(hb, layer, t) + g, hd);
                if (p->softcap > 0) s = p->softcap * tanh(s / p->softcap);
                sc[t] = s;
                if (s > mx) mx = s;
            }
            double sum = 0;
            for (int t = t0; t <= qpos; t++) {
                sc[t] = exp(sc[t] - mx);
                sum += sc[t];
            }
            float *ov = o + ((size_t)r * p->n_head + h) * hd;
            for (int j = 0; j < hd; j++) {
                double acc = 0;
                for (int t = t0; t <= qpos; t++) acc += sc[t] * hb->v_cache[hb_cache_index(hb, layer, t) + g + j];
                ov[j] = (float)(acc / sum);
            }
        }
    }
}

static void ref_softcap(backend *be, be_tensor *x, uint64_t n, float cap)
{
    ref_backend *rb = rb_of(be);
    host_backend *hb = &rb->hb;
    if (!hb_op_ok(hb, "softcap")) return;
    if (!(cap > 0)) { hb_fail(hb, "softcap: cap %g is not positive", cap); return; }
    float *xf = hb_f32_out(hb, x, n, "softcap", "x");
    if (!xf) return;
    for (uint64_t i = 0; i < n; i++) xf[i] = (float)(cap * tanh((double)xf[i] / cap));
}

static const backend ref_ops = {
    .name = "ref",
    .weight = hb_weight,
    .activation = hb_activation,
    .kv_cache = ref_kv_cache,
    .destroy = ref_destroy,
    .begin_step = hb_begin_step,
    .end_step = hb_end_step,
    .embed = hb_embed,
    .rmsnorm = ref_rmsnorm,
    .add_rmsnorm_norm = ref_add_rmsnorm_norm,
    .matmul = ref_matmul,
    .matmul_geglu = ref_matmul_geglu,
    .qk_rope_store = hb_qk_rope_store,
    .attention = ref_attention,
    .copy = hb_copy,
    .softcap = ref_softcap,
    .read = hb_read,
    .argmax = hb_argmax,
    .argmax_softcap = hb_argmax_softcap,
    .memory_used = hb_memory_used,
    .weight_bytes = hb_weight_bytes,
    .kv_value_bytes = hb_kv_value_bytes,
    .kv_read = hb_kv_read,
    .kv_write = hb_kv_write,
    .memory_budget = hb_memory_budget,
};

int ref_backend_create(backend **out, gc_err *err)
{
    *out = NULL;
    ref_backend *rb = calloc(1, sizeof *rb);
    if (!rb) return gc_errf(err, "ref backend: out of memory");
    hb_init(&rb->hb, &ref_ops, "ref backend", argmax);
    snprintf(rb->hb.base.device_name, sizeof rb->hb.base.device_name, "CPU (reference, scalar f32)");
    *out = &rb->hb.base;
    return 0;
}
