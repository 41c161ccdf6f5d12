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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/quant.h"

struct be_tensor {
    be_tensor *next;       /* every tensor of the backend, for destroy */
    char name[96];
    bool is_weight;
    /* Weights of two or more dimensions stay in their stored type: */
    uint32_t type;         /* ggml type (GT_F32 for activations and 1-D weights) */
    uint64_t n_in;         /* ne0: values per row */
    uint64_t n_rows;       /* ne1 * ne2 * ne3 */
    uint64_t row_bytes;
    const uint8_t *data;   /* [n_rows][row_bytes], points into the model mapping */
    /* Activations and 1-D weights (converted to f32) own their floats: */
    float *f;              /* [n] */
    uint64_t n;
};

typedef struct cpu_backend {
    backend base;          /* first: a backend * is a cpu_backend * */
    be_tensor *tensors;
    uint64_t bytes;        /* host memory owned by tensors and the cache */

    /* KV cache: per layer [n_ctx][n_kv_head][head_dim], f32. */
    int n_layer, n_ctx, n_kv_head, head_dim;
    float *k_cache;        /* [n_layer][n_ctx][n_kv_head][head_dim] */
    float *v_cache;        /* same */

    /* Scratch reused across ops. */
    float *row_a, *row_b;  /* [scratch_n] dequantized weight rows */
    uint64_t scratch_n;
    double *scores;        /* [n_ctx] attention probabilities of one query head */

    /* read/argmax requests of the current step, served at end_step so the
     * CPU backend has exactly the Vulkan backend's semantics (a tensor
     * overwritten later in the step is read in its final state). */
    struct pending {
        const be_tensor *src;
        uint64_t offset, n;
        float *host;        /* read */
        int32_t *argmax;    /* argmax */
        float cap;          /* argmax: of cap * tanh(x / cap) when > 0 */
    } *pend;
    int n_pend, cap_pend;

    bool in_step;
    bool failed;           /* an op of this step failed; the rest are skipped */
    gc_err step_err;
} cpu_backend;

static cpu_backend *cb_of(backend *be) { return (cpu_backend *)be; }

/* Records the first failure of a step; end_step reports it. */
__attribute__((format(printf, 2, 3)))
static void fail(cpu_backend *cb, const char *fmt, ...)
{
    if (cb->failed) return;
    cb->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cb->step_err.msg, sizeof cb->step_err.msg, fmt, ap);
    va_end(ap);
}

/* Common entry check of every op: inside a step and nothing failed yet. */
static bool op_ok(cpu_backend *cb, const char *op)
{
    if (cb->failed) return false;
    if (!cb->in_step) { fail(cb, "ref backend: %s called outside begin_step/end_step", op); return false; }
    return true;
}

/* The f32 storage of an activation or 1-D weight holding at least `need`
 * floats, or NULL (and the step fails) naming the op and tensor. */
static float *f32_of(cpu_backend *cb, const be_tensor *t, uint64_t need, const char *op, const char *what)
{
    if (!t) { fail(cb, "ref backend: %s: %s is NULL", op, what); return NULL; }
    if (!t->f) {
        fail(cb, "ref backend: %s: %s '%s' is a %s weight matrix, not an f32 vector",
             op, what, t->name, quant_type_name(t->type));
        return NULL;
    }
    if (need > t->n) {
        fail(cb, "ref backend: %s: %s '%s' holds %llu floats, the op needs %llu",
             op, what, t->name, (unsigned long long)t->n, (unsigned long long)need);
        return NULL;
    }
    return t->f;
}

/* A weight matrix with rows of exactly n_in values and at least n_out rows. */
static bool matrix_ok(cpu_backend *cb, const be_tensor *w, uint64_t n_in, uint64_t n_out, const char *op)
{
    if (!w || !w->data) {
        fail(cb, "ref backend: %s: weight '%s' is not a matrix", op, w ? w->name : "(null)");
        return false;
    }
    if (w->n_in != n_in || w->n_rows < n_out) {
        fail(cb, "ref backend: %s: weight '%s' is [%llu][%llu], the op needs [%llu][%llu]",
             op, w->name, (unsigned long long)w->n_rows, (unsigned long long)w->n_in,
             (unsigned long long)n_out, (unsigned long long)n_in);
        return false;
    }
    return true;
}

static bool dims_ok(cpu_backend *cb, const char *op, long long a, long long b, long long c)
{
    if (a <= 0 || b <= 0 || c <= 0) {
        fail(cb, "ref backend: %s: bad sizes %lld, %lld, %lld", op, a, b, c);
        return false;
    }
    return true;
}

/* Grows the two weight-row buffers to n floats. */
static bool scratch(cpu_backend *cb, uint64_t n)
{
    if (n <= cb->scratch_n) return true;
    float *a = realloc(cb->row_a, n * sizeof *a);
    if (a) cb->row_a = a;
    float *b = realloc(cb->row_b, n * sizeof *b);
    if (b) cb->row_b = b;
    if (!a || !b) { fail(cb, "ref backend: out of memory for a row of %llu floats", (unsigned long long)n); return false; }
    cb->scratch_n = n;
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

static void link_tensor(cpu_backend *cb, be_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->next = cb->tensors;
    cb->tensors = t;
}

/* ---------------------------------------------------------------- memory */

static int cpu_weight(backend *be, const gguf_tensor *gt, be_tensor **out, gc_err *err)
{
    cpu_backend *cb = cb_of(be);
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)(gt->name.len < 90 ? gt->name.len : 90), gt->name.ptr);
    *out = NULL;
    const quant_info *qi = quant_type_info(gt->type);
    if (!qi || !qi->supported)
        return gc_errf(err, "tensor '%s': weight type %s is not supported (supported: %s)",
                       name, quant_type_name(gt->type), quant_supported_list());
    uint64_t row_bytes;
    if (quant_row_bytes(gt->type, gt->ne[0], &row_bytes, err)) return gc_err_prefix(err, "tensor '%s'", name);
    uint64_t n_rows = 1;
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++) {
        if (gt->ne[d] && n_rows > UINT64_MAX / gt->ne[d]) return gc_errf(err, "tensor '%s': size overflows", name);
        n_rows *= gt->ne[d] ? gt->ne[d] : 1;
    }
    if (n_rows && row_bytes > gt->n_bytes / n_rows)
        return gc_errf(err, "tensor '%s': %llu rows of %llu bytes exceed its %llu bytes of data", name,
                       (unsigned long long)n_rows, (unsigned long long)row_bytes, (unsigned long long)gt->n_bytes);

    be_tensor *t = calloc(1, sizeof *t);
    if (!t) return gc_errf(err, "tensor '%s': out of memory", name);
    t->is_weight = true;
    t->type = gt->type;
    t->n_in = gt->ne[0];
    t->n_rows = n_rows;
    t->row_bytes = row_bytes;
    if (gt->n_dims <= 1) {
        /* Norm weights: converted to f32 once, so ops read them directly. */
        t->n = gt->ne[0];
        t->f = malloc((t->n ? t->n : 1) * sizeof *t->f);
        if (!t->f) { free(t); return gc_errf(err, "tensor '%s': out of memory", name); }
        quant_dequant_row(gt->type, gt->data, t->f, t->n);
        t->type = GT_F32;
        cb->bytes += t->n * sizeof *t->f;
    } else {
        t->data = gt->data;
    }
    link_tensor(cb, t, name);
    *out = t;
    return 0;
}

static int cpu_activation(backend *be, uint64_t n, const char *name, be_tensor **out, gc_err *err)
{
    cpu_backend *cb = cb_of(be);
    *out = NULL;
    if (n == 0 || n > UINT64_MAX / sizeof(float) / 2)
        return gc_errf(err, "activation '%s': bad size %llu", name, (unsigned long long)n);
    be_tensor *t = calloc(1, sizeof *t);
    if (!t) return gc_errf(err, "activation '%s': out of memory", name);
    t->f = calloc(n, sizeof *t->f);
    if (!t->f) {
        free(t);
        return gc_errf(err, "activation '%s': out of memory for %llu floats", name, (unsigned long long)n);
    }
    t->type = GT_F32;
    t->n = n;
    cb->bytes += n * sizeof(float);
    link_tensor(cb, t, name);
    *out = t;
    return 0;
}

static void free_cache(cpu_backend *cb)
{
    free(cb->k_cache);
    free(cb->v_cache);
    free(cb->scores);
    cb->k_cache = cb->v_cache = NULL;
    cb->scores = NULL;
    cb->n_layer = cb->n_ctx = cb->n_kv_head = cb->head_dim = 0;
}

static int cpu_kv_cache(backend *be, int n_layer, int n_ctx, int n_kv_head, int head_dim, gc_err *err)
{
    cpu_backend *cb = cb_of(be);
    if (cb->k_cache) cb->bytes -= 2 * (uint64_t)cb->n_layer * cb->n_ctx * cb->n_kv_head * cb->head_dim * sizeof(float);
    free_cache(cb);
    if (n_layer <= 0 || n_ctx <= 0 || n_kv_head <= 0 || head_dim <= 0)
        return gc_errf(err, "kv cache: bad shape %d layers x %d positions x %d heads x %d", n_layer, n_ctx,
                       n_kv_head, head_dim);
    uint64_t n = (uint64_t)n_layer * (uint64_t)n_ctx * (uint64_t)n_kv_head * (uint64_t)head_dim;
    if (n > (UINT64_MAX / 4) / sizeof(float)) return gc_errf(err, "kv cache: size overflows");
    cb->k_cache = calloc(n, sizeof(float));
    cb->v_cache = calloc(n, sizeof(float));
    cb->scores = malloc((size_t)n_ctx * sizeof *cb->scores);
    if (!cb->k_cache || !cb->v_cache || !cb->scores) {
        free_cache(cb);
        return gc_errf(err, "kv cache: out of memory for 2 x %llu MiB (%d positions; a smaller context helps)",
                       (unsigned long long)(n * sizeof(float) >> 20), n_ctx);
    }
    cb->n_layer = n_layer;
    cb->n_ctx = n_ctx;
    cb->n_kv_head = n_kv_head;
    cb->head_dim = head_dim;
    cb->bytes += 2 * n * sizeof(float);
    return 0;
}

static void cpu_destroy(backend *be)
{
    if (!be) return;
    cpu_backend *cb = cb_of(be);
    for (be_tensor *t = cb->tensors, *next; t; t = next) {
        next = t->next;
        free(t->f);
        free(t);
    }
    free_cache(cb);
    free(cb->row_a);
    free(cb->row_b);
    free(cb->pend);
    free(cb);
}

static uint64_t cpu_memory_used(backend *be) { return cb_of(be)->bytes; }

/* ---------------------------------------------------------------- steps */

/* NaN never wins (a NaN logit must not become the chosen token silently: the
 * sampler and tests look at the values themselves). */
static float capped(float x, float cap) { return (float)(cap * tanh((double)x / cap)); }   /* as cpu_softcap */

/* cap > 0: the argmax of the soft-capped values (as softcap, then argmax). */
static int32_t argmax_of(const float *s, uint64_t n, float cap)
{
    uint64_t best = 0;
    float bv = cap > 0 ? capped(s[0], cap) : s[0];
    for (uint64_t i = 1; i < n; i++) {
        float v = cap > 0 ? capped(s[i], cap) : s[i];
        if (v > bv || (isnan(bv) && !isnan(v))) { best = i; bv = v; }
    }
    return (int32_t)best;
}

static void serve_pending(cpu_backend *cb)
{
    for (int i = 0; i < cb->n_pend; i++) {
        const struct pending *p = &cb->pend[i];
        if (p->host) memcpy(p->host, p->src->f + p->offset, p->n * sizeof(float));
        else *p->argmax = argmax_of(p->src->f + p->offset, p->n, p->cap);
    }
    cb->n_pend = 0;
}


static int cpu_begin_step(backend *be, gc_err *err)
{
    cpu_backend *cb = cb_of(be);
    if (cb->in_step) return gc_errf(err, "ref backend: begin_step inside a step");
    /* failed is not cleared here: an op issued outside a step fails the next one. */
    cb->in_step = true;
    return 0;
}

static int cpu_end_step(backend *be, gc_err *err)
{
    cpu_backend *cb = cb_of(be);
    if (!cb->in_step) return gc_errf(err, "ref backend: end_step without begin_step");
    cb->in_step = false;
    if (cb->failed) {
        if (err) *err = cb->step_err;
        cb->failed = false;
        cb->n_pend = 0;
        return -1;
    }
    serve_pending(cb);
    return 0;
}

/* ---------------------------------------------------------------- ops */

static void cpu_embed(backend *be, be_tensor *dst, const be_tensor *table, const int32_t *tokens,
                      int n, int n_embd, float scale)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "embed") || !dims_ok(cb, "embed", n, n_embd, 1)) return;
    float *d = f32_of(cb, dst, (uint64_t)n * n_embd, "embed", "dst"); // [n][n_embd]
    if (!d || !matrix_ok(cb, table, n_embd, 1, "embed") || !scratch(cb, n_embd)) return;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint64_t)tokens[i] >= table->n_rows) {
            fail(cb, "ref backend: embed: token id %d at %d is outside the vocabulary (%llu tokens)",
                 tokens[i], i, (unsigned long long)table->n_rows);
            return;
        }
        dequant_row(table, (uint64_t)tokens[i], cb->row_a);
        for (int j = 0; j < n_embd; j++) d[(size_t)i * n_embd + j] = cb->row_a[j] * scale;
    }
}

/* dst[r] = rmsnorm(src[r]) * w, or with add, dst[r] += that (the post-norm
 * residual). dst may be src. */
static void norm_rows(cpu_backend *cb, const char *op, be_tensor *dst, const be_tensor *src,
                      const be_tensor *w, int rows, int cols, float eps, bool add)
{
    if (!op_ok(cb, op) || !dims_ok(cb, op, rows, cols, 1)) return;
    uint64_t n = (uint64_t)rows * cols;
    float *d = f32_of(cb, dst, n, op, "dst");       // [rows][cols]
    const float *s = f32_of(cb, src, n, op, "src"); // [rows][cols]
    const float *wf = f32_of(cb, w, cols, op, "w"); // [cols]
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

static void cpu_rmsnorm(backend *be, be_tensor *dst, const be_tensor *src, const be_tensor *w,
                        int rows, int cols, float eps)
{
    norm_rows(cb_of(be), "rmsnorm", dst, src, w, rows, cols, eps, false);
}

static void cpu_add_rmsnorm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w,
                            int rows, int cols, float eps)
{
    norm_rows(cb_of(be), "add_rmsnorm", x, o, w, rows, cols, eps, true);
}

/* The reference for the fused op: the two ops it fuses, one after the other. */
static void cpu_add_rmsnorm_norm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w,
                                 be_tensor *h, const be_tensor *w2, int rows, int cols, float eps)
{
    cpu_add_rmsnorm(be, x, o, w, rows, cols, eps);
    if (h == x || h == o) { fail(cb_of(be), "ref backend: add_rmsnorm_norm: h is x or o"); return; }
    cpu_rmsnorm(be, h, x, w2, rows, cols, eps);
}

/* Each weight row is dequantized once and used for every batch row, so a
 * prefill of n tokens costs one pass over the weights, not n. */
static void cpu_matmul(backend *be, be_tensor *dst, const be_tensor *w, const be_tensor *src,
                       int rows, int n_in, int n_out)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "matmul") || !dims_ok(cb, "matmul", rows, n_in, n_out)) return;
    float *d = f32_of(cb, dst, (uint64_t)rows * n_out, "matmul", "dst");      // [rows][n_out]
    const float *s = f32_of(cb, src, (uint64_t)rows * n_in, "matmul", "src"); // [rows][n_in]
    if (!d || !s || !matrix_ok(cb, w, n_in, n_out, "matmul") || !scratch(cb, n_in)) return;
    if (dst == src) { fail(cb, "ref backend: matmul: dst and src are the same tensor '%s'", dst->name); return; }
    for (int o = 0; o < n_out; o++) {
        dequant_row(w, o, cb->row_a);
        for (int r = 0; r < rows; r++)
            d[(size_t)r * n_out + o] = (float)dot(cb->row_a, s + (size_t)r * n_in, n_in);
    }
}

static void cpu_matmul_geglu(backend *be, be_tensor *dst, const be_tensor *wgate, const be_tensor *wup,
                             const be_tensor *src, int rows, int n_in, int n_ff)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "matmul_geglu") || !dims_ok(cb, "matmul_geglu", rows, n_in, n_ff)) return;
    float *d = f32_of(cb, dst, (uint64_t)rows * n_ff, "matmul_geglu", "dst");      // [rows][n_ff]
    const float *s = f32_of(cb, src, (uint64_t)rows * n_in, "matmul_geglu", "src"); // [rows][n_in]
    if (!d || !s || !matrix_ok(cb, wgate, n_in, n_ff, "matmul_geglu") ||
        !matrix_ok(cb, wup, n_in, n_ff, "matmul_geglu") || !scratch(cb, n_in)) return;
    if (dst == src) { fail(cb, "ref backend: matmul_geglu: dst and src are the same tensor '%s'", dst->name); return; }
    for (int o = 0; o < n_ff; o++) {
        dequant_row(wgate, o, cb->row_a);
        dequant_row(wup, o, cb->row_b);
        for (int r = 0; r < rows; r++) {
            const float *x = s + (size_t)r * n_in;
            float g = (float)dot(cb->row_a, x, n_in);
            float u = (float)dot(cb->row_b, x, n_in);
            d[(size_t)r * n_ff + o] = (float)gelu_tanh(g) * u;
        }
    }
}

/* NEOX layout: dimension i pairs with i + head_dim/2 (not 2i with 2i+1). */
static void cpu_rope(backend *be, be_tensor *x, int rows, int n_heads, int head_dim, int pos0,
                     float freq_base, float pos_scale)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "rope") || !dims_ok(cb, "rope", rows, n_heads, head_dim)) return;
    if (head_dim % 2 || pos0 < 0 || !(freq_base > 0)) {
        fail(cb, "ref backend: rope: bad head_dim %d, pos0 %d or base %g", head_dim, pos0, freq_base);
        return;
    }
    float *xf = f32_of(cb, x, (uint64_t)rows * n_heads * head_dim, "rope", "x"); // [rows][n_heads][head_dim]
    if (!xf) return;
    int half = head_dim / 2;
    for (int r = 0; r < rows; r++) {
        double p = (double)(pos0 + r) * pos_scale;
        for (int i = 0; i < half; i++) {
            double theta = p * pow(freq_base, -2.0 * i / head_dim);
            double c = cos(theta), s = sin(theta);
            for (int h = 0; h < n_heads; h++) {
                float *v = xf + ((size_t)r * n_heads + h) * head_dim;
                double a = v[i], b = v[i + half];
                v[i] = (float)(a * c - b * s);
                v[i + half] = (float)(a * s + b * c);
            }
        }
    }
}

static bool cache_pos_ok(cpu_backend *cb, const char *op, int layer, int rows, int pos0)
{
    if (!cb->k_cache) { fail(cb, "ref backend: %s: no KV cache (kv_cache not called)", op); return false; }
    if (layer < 0 || layer >= cb->n_layer || rows < 0 || pos0 < 0 || pos0 + rows > cb->n_ctx) {
        fail(cb, "ref backend: %s: layer %d, positions %d..%d outside the cache (%d layers, %d positions)",
             op, layer, pos0, pos0 + rows - 1, cb->n_layer, cb->n_ctx);
        return false;
    }
    return true;
}

static size_t cache_index(const cpu_backend *cb, int layer, int pos)
{
    return (((size_t)layer * cb->n_ctx + pos) * cb->n_kv_head) * cb->head_dim;
}

static void cpu_kv_store(backend *be, int layer, const be_tensor *k, const be_tensor *v, int rows, int pos0)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "kv_store") || !dims_ok(cb, "kv_store", rows, 1, 1) ||
        !cache_pos_ok(cb, "kv_store", layer, rows, pos0)) return;
    uint64_t row = (uint64_t)cb->n_kv_head * cb->head_dim;
    const float *kf = f32_of(cb, k, rows * row, "kv_store", "k"); // [rows][n_kv_head][head_dim]
    const float *vf = f32_of(cb, v, rows * row, "kv_store", "v"); // [rows][n_kv_head][head_dim]
    if (!kf || !vf) return;
    memcpy(cb->k_cache + cache_index(cb, layer, pos0), kf, rows * row * sizeof(float));
    memcpy(cb->v_cache + cache_index(cb, layer, pos0), vf, rows * row * sizeof(float));
}

/* The reference for the fused op: per-head norms, rope, kv_store in sequence. */
static void cpu_qk_rope_store(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v,
                              const be_tensor *qn, const be_tensor *kn, int rows, int n_head, int pos0,
                              float freq_base, float pos_scale, float eps)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "qk_rope_store") || !dims_ok(cb, "qk_rope_store", rows, n_head, 1)) return;
    if (!cb->k_cache) { fail(cb, "ref backend: qk_rope_store: no KV cache (kv_cache not called)"); return; }
    if (!qn != !kn) { fail(cb, "ref backend: qk_rope_store: give both head norms or neither"); return; }
    int D = cb->head_dim, HKV = cb->n_kv_head;
    if (qn) {
        cpu_rmsnorm(be, q, q, qn, rows * n_head, D, eps);
        cpu_rmsnorm(be, k, k, kn, rows * HKV, D, eps);
    }
    cpu_rope(be, q, rows, n_head, D, pos0, freq_base, pos_scale);
    cpu_rope(be, k, rows, HKV, D, pos0, freq_base, pos_scale);
    cpu_kv_store(be, layer, k, v, rows, pos0);
}

/* Scores are scaled, soft-capped, then masked (causal, and the sliding window
 * where p->window > 0); softmax and the weighted sum of V run in double. */
static void cpu_attention(backend *be, be_tensor *out, const be_tensor *q, int layer, int rows, int pos0,
                          const be_attn_params *p)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "attention") || !dims_ok(cb, "attention", rows, 1, 1) ||
        !cache_pos_ok(cb, "attention", layer, rows, pos0)) return;
    if (p->n_head <= 0 || p->n_kv_head != cb->n_kv_head || p->head_dim != cb->head_dim ||
        p->n_head % p->n_kv_head || p->window < 0 || p->softcap < 0) {
        fail(cb, "ref backend: attention: %d heads, %d kv heads, head_dim %d, window %d, cap %g do not fit "
             "the cache (%d kv heads, head_dim %d)", p->n_head, p->n_kv_head, p->head_dim, p->window,
             p->softcap, cb->n_kv_head, cb->head_dim);
        return;
    }
    int hd = p->head_dim, group = p->n_head / p->n_kv_head;
    uint64_t n = (uint64_t)rows * p->n_head * hd;
    float *o = f32_of(cb, out, n, "attention", "out");       // [rows][n_head][head_dim]
    const float *qf = f32_of(cb, q, n, "attention", "q");    // [rows][n_head][head_dim]
    if (!o || !qf) return;
    if (out == q) { fail(cb, "ref backend: attention: out and q are the same tensor '%s'", out->name); return; }
    const float *K = cb->k_cache + cache_index(cb, layer, 0); // [n_ctx][n_kv_head][head_dim]
    const float *V = cb->v_cache + cache_index(cb, layer, 0);
    size_t kv_row = (size_t)p->n_kv_head * hd;
    double *sc = cb->scores;                                  // [n_ctx]
    for (int r = 0; r < rows; r++) {
        int qpos = pos0 + r;
        for (int h = 0; h < p->n_head; h++) {
            const float *qv = qf + ((size_t)r * p->n_head + h) * hd;
            int g = h / group;
            double mx = -INFINITY;
            for (int t = 0; t <= qpos; t++) {
                double s = p->scale * dot(qv, K + t * kv_row + (size_t)g * hd, hd);
                if (p->softcap > 0) s = p->softcap * tanh(s / p->softcap);
                if (p->window > 0 && qpos - t >= p->window) s = -INFINITY;
                sc[t] = s;
                if (s > mx) mx = s;
            }
            double sum = 0;
            for (int t = 0; t <= qpos; t++) {
                sc[t] = sc[t] == -INFINITY ? 0.0 : exp(sc[t] - mx);
                sum += sc[t];
            }
            float *ov = o + ((size_t)r * p->n_head + h) * hd;
            for (int j = 0; j < hd; j++) {
                double acc = 0;
                for (int t = 0; t <= qpos; t++) acc += sc[t] * V[t * kv_row + (size_t)g * hd + j];
                ov[j] = (float)(acc / sum);
            }
        }
    }
}

static void cpu_copy(backend *be, be_tensor *dst, uint64_t dst_off, const be_tensor *src,
                     uint64_t src_off, uint64_t n)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "copy")) return;
    if (dst_off > UINT64_MAX - n || src_off > UINT64_MAX - n) { fail(cb, "ref backend: copy: offsets overflow"); return; }
    float *d = f32_of(cb, dst, dst_off + n, "copy", "dst");
    const float *s = f32_of(cb, src, src_off + n, "copy", "src");
    if (!d || !s) return;
    if (dst == src && dst_off < src_off + n && src_off < dst_off + n) {
        fail(cb, "ref backend: copy: overlapping ranges in '%s'", dst->name);
        return;
    }
    memcpy(d + dst_off, s + src_off, n * sizeof(float));
}

static void cpu_softcap(backend *be, be_tensor *x, uint64_t n, float cap)
{
    cpu_backend *cb = cb_of(be);
    if (!op_ok(cb, "softcap")) return;
    if (!(cap > 0)) { fail(cb, "ref backend: softcap: cap %g is not positive", cap); return; }
    float *xf = f32_of(cb, x, n, "softcap", "x");
    if (!xf) return;
    for (uint64_t i = 0; i < n; i++) xf[i] = (float)(cap * tanh((double)xf[i] / cap));
}

static void push_pending(cpu_backend *cb, const char *op, const be_tensor *src, uint64_t offset, uint64_t n,
                         float *host, int32_t *argmax, float cap)
{
    if (!op_ok(cb, op)) return;
    if (n == 0 || n > INT32_MAX || offset > UINT64_MAX - n) { fail(cb, "ref backend: %s: bad range", op); return; }
    if (!f32_of(cb, src, offset + n, op, "src")) return;
    if (cb->n_pend == cb->cap_pend) {
        int cap = cb->cap_pend ? 2 * cb->cap_pend : 8;
        struct pending *p = realloc(cb->pend, cap * sizeof *p);
        if (!p) { fail(cb, "ref backend: %s: out of memory", op); return; }
        cb->pend = p;
        cb->cap_pend = cap;
    }
    cb->pend[cb->n_pend++] = (struct pending){ src, offset, n, host, argmax, cap };
}

static void cpu_read(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float *host)
{
    push_pending(cb_of(be), "read", src, offset, n, host, NULL, 0);
}

static void cpu_argmax(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, int32_t *host)
{
    push_pending(cb_of(be), "argmax", src, offset, n, NULL, host, 0);
}

static void cpu_argmax_softcap(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float cap,
                               int32_t *host)
{
    if (!(cap > 0)) { fail(cb_of(be), "ref backend: argmax_softcap: cap %g is not positive", cap); return; }
    push_pending(cb_of(be), "argmax_softcap", src, offset, n, NULL, host, cap);
}

int ref_backend_create(backend **out, gc_err *err)
{
    *out = NULL;
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return gc_errf(err, "ref backend: out of memory");
    backend *b = &cb->base;
    b->name = "ref";
    snprintf(b->device_name, sizeof b->device_name, "CPU (reference, scalar f32)");
    b->weight = cpu_weight;
    b->activation = cpu_activation;
    b->kv_cache = cpu_kv_cache;
    b->destroy = cpu_destroy;
    b->begin_step = cpu_begin_step;
    b->end_step = cpu_end_step;
    b->embed = cpu_embed;
    b->rmsnorm = cpu_rmsnorm;
    b->add_rmsnorm = cpu_add_rmsnorm;
    b->add_rmsnorm_norm = cpu_add_rmsnorm_norm;
    b->qk_rope_store = cpu_qk_rope_store;
    b->matmul = cpu_matmul;
    b->matmul_geglu = cpu_matmul_geglu;
    b->rope = cpu_rope;
    b->kv_store = cpu_kv_store;
    b->attention = cpu_attention;
    b->copy = cpu_copy;
    b->softcap = cpu_softcap;
    b->read = cpu_read;
    b->argmax = cpu_argmax;
    b->argmax_softcap = cpu_argmax_softcap;
    b->memory_used = cpu_memory_used;
    *out = b;
    return 0;
}
