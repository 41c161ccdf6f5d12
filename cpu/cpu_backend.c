/* cpu_backend.c: the native CPU backend (see cpu_backend.h, model/backend.h).
 *
 * Ops execute immediately, as the reference backend's do (model/ref_backend.c),
 * with the same argument checks and the same read/argmax timing (served at
 * end_step). What makes it fast:
 *  - matmul: the activation rows are converted once per product to the format
 *    the weight's kernel reads (8-bit blocks for quantized weights), then the
 *    weight rows are split into chunks that the pool's threads claim; each
 *    chunk streams its rows once for all activation rows (cpu/kernels.h).
 *    Products that read the same activations (Q, K and V) convert them once.
 *  - weights stay in the file mapping; the kernel reads them in place.
 *  - attention runs one (query row, head) pair per chunk.
 * Accumulation is f32 (norm sums in double, as cheap here as f32).
 */
#include "cpu/cpu_backend.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/isa.h"
#include "cpu/pool.h"
#include "model/quant.h"

struct be_tensor {
    be_tensor *next;           /* every tensor of the backend, for destroy */
    char name[96];
    /* Weight matrices (two or more dimensions) stay in their stored type: */
    uint32_t type;             /* ggml type; GT_F32 for activations and 1-D weights */
    uint64_t n_in;             /* values per row */
    uint64_t n_rows;
    uint64_t row_bytes;
    const uint8_t *data;       /* [n_rows][row_bytes] in the model mapping */
    const cpu_matmul_kernel *kern;
    cpu_quantize_fn quantize;  /* the activation converter kern reads */
    /* Activations and 1-D weights own their floats: */
    float *f;                  /* [n] */
    uint64_t n;
    uint64_t version;          /* bumped by every op that writes f (for the conversion cache) */
};

/* Activations converted for one product, kept while the source is unchanged.
 * With two terms, row r of the source becomes rows 2r (x in 8 bits) and
 * 2r + 1 (what the first misses, in 8 bits of its own): together ~16 bits. */
typedef struct conv_slot {
    const be_tensor *src;
    uint64_t version;
    int rows, n_in, terms;
    cpu_quantize_fn quantize;
    uint8_t *buf;              /* [rows * terms][row_bytes] */
    size_t cap, row_bytes;
} conv_slot;

typedef struct native {
    backend base;              /* first: a backend * is a native * */
    cpu_pool *pool;
    cpu_isa isa;
    be_tensor *tensors;
    uint64_t bytes;            /* host memory owned by tensors, cache and scratch */

    /* KV cache: per layer [n_ctx][n_kv_head][head_dim], f32. */
    int n_layer, n_ctx, n_kv_head, head_dim;
    float *k_cache, *v_cache;  /* [n_layer][n_ctx][n_kv_head][head_dim] */

    conv_slot conv[2];         /* the last two conversions (geglu's weights may differ in type) */
    int conv_next;
    float *resid;              /* [resid_cap] one row's residual for a two-term conversion */
    size_t resid_cap;
    float *partial;            /* [partial_cap] products per term (and GeGLU's up products) */
    size_t partial_cap;
    float *scores;             /* [threads][n_ctx] attention probabilities */

    struct pending {
        const be_tensor *src;
        uint64_t offset, n;
        float *host;           /* read */
        int32_t *argmax;       /* argmax */
        float cap;             /* argmax of cap * tanh(x / cap) when > 0 */
    } *pend;
    int n_pend, cap_pend;

    bool in_step;
    bool failed;
    gc_err step_err;
} native;

static native *nb_of(backend *be) { return (native *)be; }

__attribute__((format(printf, 2, 3)))
static void fail(native *nb, const char *fmt, ...)
{
    if (nb->failed) return;
    nb->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nb->step_err.msg, sizeof nb->step_err.msg, fmt, ap);
    va_end(ap);
}

static bool op_ok(native *nb, const char *op)
{
    if (nb->failed) return false;
    if (!nb->in_step) { fail(nb, "cpu backend: %s called outside begin_step/end_step", op); return false; }
    return true;
}

static float *f32_of(native *nb, const be_tensor *t, uint64_t need, const char *op, const char *what)
{
    if (!t) { fail(nb, "cpu backend: %s: %s is NULL", op, what); return NULL; }
    if (!t->f) {
        fail(nb, "cpu backend: %s: %s '%s' is a %s weight matrix, not an f32 vector", op, what, t->name,
             quant_type_name(t->type));
        return NULL;
    }
    if (need > t->n) {
        fail(nb, "cpu backend: %s: %s '%s' holds %llu floats, the op needs %llu", op, what, t->name,
             (unsigned long long)t->n, (unsigned long long)need);
        return NULL;
    }
    return t->f;
}

/* The f32 storage of a tensor the op writes: as f32_of, and marks it changed. */
static float *f32_out(native *nb, be_tensor *t, uint64_t need, const char *op, const char *what)
{
    float *f = f32_of(nb, t, need, op, what);
    if (f) t->version++;
    return f;
}

static bool matrix_ok(native *nb, const be_tensor *w, uint64_t n_in, uint64_t n_out, const char *op)
{
    if (!w || !w->data) {
        fail(nb, "cpu backend: %s: weight '%s' is not a matrix", op, w ? w->name : "(null)");
        return false;
    }
    if (w->n_in != n_in || w->n_rows < n_out) {
        fail(nb, "cpu backend: %s: weight '%s' is [%llu][%llu], the op needs [%llu][%llu]", op, w->name,
             (unsigned long long)w->n_rows, (unsigned long long)w->n_in, (unsigned long long)n_out,
             (unsigned long long)n_in);
        return false;
    }
    return true;
}

static bool dims_ok(native *nb, const char *op, long long a, long long b, long long c)
{
    if (a <= 0 || b <= 0 || c <= 0) { fail(nb, "cpu backend: %s: bad sizes %lld, %lld, %lld", op, a, b, c); return false; }
    return true;
}

/* Grows *buf to n elements of size sz (contents not kept). */
static bool grow(native *nb, void **buf, size_t *cap, size_t n, size_t sz, const char *what)
{
    if (n <= *cap) return true;   /* n >= 1 here: callers ask for a nonempty buffer */
    void *p = NULL;
    if (posix_memalign(&p, 64, n * sz)) {
        fail(nb, "cpu backend: out of memory for %s (%zu bytes)", what, n * sz);
        return false;
    }
    free(*buf);
    nb->bytes += (n - *cap) * sz;
    *buf = p;
    *cap = n;
    return true;
}

static void link_tensor(native *nb, be_tensor *t, const char *name)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->next = nb->tensors;
    nb->tensors = t;
}

/* ---------------------------------------------------------------- memory */

static int nb_weight(backend *be, const gguf_tensor *gt, be_tensor **out, gc_err *err)
{
    native *nb = nb_of(be);
    char name[96];
    snprintf(name, sizeof name, "%.*s", (int)(gt->name.len < 90 ? gt->name.len : 90), gt->name.ptr);
    *out = NULL;
    if (!quant_type_supported(gt->type))
        return gc_errf(err, "tensor '%s': weight type %s is not supported (supported: %s)", name,
                       quant_type_name(gt->type), quant_supported_list());
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
    if (gt->ne[0] > INT32_MAX || n_rows > INT32_MAX)
        return gc_errf(err, "tensor '%s': %llu x %llu is too large for the CPU kernels", name,
                       (unsigned long long)n_rows, (unsigned long long)gt->ne[0]);
    be_tensor *t = calloc(1, sizeof *t);
    if (!t) return gc_errf(err, "tensor '%s': out of memory", name);
    t->type = gt->type;
    t->n_in = gt->ne[0];
    t->n_rows = n_rows;
    t->row_bytes = row_bytes;
    if (gt->n_dims <= 1) {
        /* Norm weights: f32 once, so ops read them directly. */
        t->n = gt->ne[0];
        t->f = malloc((t->n ? t->n : 1) * sizeof *t->f);
        if (!t->f) { free(t); return gc_errf(err, "tensor '%s': out of memory", name); }
        quant_dequant_row(gt->type, gt->data, t->f, t->n);
        t->type = GT_F32;
        nb->bytes += t->n * sizeof *t->f;
    } else {
        t->data = gt->data;
        t->kern = cpu_kernel_for(gt->type, nb->isa, &t->quantize, NULL);
        if (!t->kern) {
            free(t);
            return gc_errf(err, "tensor '%s': the CPU backend has no %s kernel", name, quant_type_name(gt->type));
        }
    }
    link_tensor(nb, t, name);
    *out = t;
    return 0;
}

static int nb_activation(backend *be, uint64_t n, const char *name, be_tensor **out, gc_err *err)
{
    native *nb = nb_of(be);
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
    nb->bytes += n * sizeof(float);
    link_tensor(nb, t, name);
    *out = t;
    return 0;
}

static void free_cache(native *nb)
{
    if (nb->k_cache)
        nb->bytes -= 2 * (uint64_t)nb->n_layer * nb->n_ctx * nb->n_kv_head * nb->head_dim * sizeof(float) +
                     (uint64_t)cpu_pool_threads(nb->pool) * nb->n_ctx * sizeof(float);
    free(nb->k_cache);
    free(nb->v_cache);
    free(nb->scores);
    nb->k_cache = nb->v_cache = nb->scores = NULL;
    nb->n_layer = nb->n_ctx = nb->n_kv_head = nb->head_dim = 0;
}

static int nb_kv_cache(backend *be, int n_layer, int n_ctx, int n_kv_head, int head_dim, gc_err *err)
{
    native *nb = nb_of(be);
    free_cache(nb);
    if (n_layer <= 0 || n_ctx <= 0 || n_kv_head <= 0 || head_dim <= 0)
        return gc_errf(err, "kv cache: bad shape %d layers x %d positions x %d heads x %d", n_layer, n_ctx,
                       n_kv_head, head_dim);
    uint64_t n = (uint64_t)n_layer * (uint64_t)n_ctx * (uint64_t)n_kv_head * (uint64_t)head_dim;
    if (n > (UINT64_MAX / 4) / sizeof(float)) return gc_errf(err, "kv cache: size overflows");
    size_t n_scores = (size_t)cpu_pool_threads(nb->pool) * n_ctx;
    nb->k_cache = calloc(n, sizeof(float));
    nb->v_cache = calloc(n, sizeof(float));
    nb->scores = malloc(n_scores * sizeof *nb->scores);
    if (!nb->k_cache || !nb->v_cache || !nb->scores) {
        free(nb->k_cache);
        free(nb->v_cache);
        free(nb->scores);
        nb->k_cache = nb->v_cache = nb->scores = NULL;
        return gc_errf(err, "kv cache: out of memory for 2 x %llu MiB (%d positions; a smaller context helps)",
                       (unsigned long long)(n * sizeof(float) >> 20), n_ctx);
    }
    nb->n_layer = n_layer;
    nb->n_ctx = n_ctx;
    nb->n_kv_head = n_kv_head;
    nb->head_dim = head_dim;
    nb->bytes += 2 * n * sizeof(float) + n_scores * sizeof(float);
    return 0;
}

static void nb_destroy(backend *be)
{
    if (!be) return;
    native *nb = nb_of(be);
    for (be_tensor *t = nb->tensors, *next; t; t = next) {
        next = t->next;
        free(t->f);
        free(t);
    }
    free_cache(nb);
    for (int i = 0; i < 2; i++) free(nb->conv[i].buf);
    free(nb->resid);
    free(nb->partial);
    free(nb->pend);
    cpu_pool_destroy(nb->pool);
    free(nb);
}

static uint64_t nb_memory_used(backend *be) { return nb_of(be)->bytes; }

/* ---------------------------------------------------------------- steps */

/* As the reference computes the capped value (model/ref_backend.c). */
static float capped(float x, float cap) { return (float)(cap * tanh((double)x / cap)); }

/* Lowest index of the largest value; NaN never wins (all NaN: 0). */
static uint64_t argmax_plain(const float *s, uint64_t n)
{
    uint64_t best = 0;
    float bv = s[0];
    for (uint64_t i = 1; i < n; i++)
        if (s[i] > bv || (isnan(bv) && !isnan(s[i]))) { best = i; bv = s[i]; }
    return best;
}

/* Floats as unsigned keys in the order of their values (NaNs aside). */
static uint32_t fkey(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static float unkey(uint32_t k)
{
    uint32_t u = k & 0x80000000u ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The argmax of capped(s[i]) with the reference's rule (the first of equal
 * capped values), without capping every value: capped() is monotonic, so the
 * winner is the first value at or above the lowest x whose capped value
 * equals the maximum's; that x is found by bisection over the float order. */
static uint64_t argmax_capped(const float *s, uint64_t n, float cap)
{
    uint64_t m = argmax_plain(s, n);
    if (isnan(s[m])) return 0;
    float want = capped(s[m], cap);
    uint32_t lo = fkey(-INFINITY), hi = fkey(s[m]);   /* capped(unkey(hi)) == want */
    if (capped(unkey(lo), cap) == want) hi = lo;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (capped(unkey(mid), cap) == want) hi = mid; else lo = mid;
    }
    float x_lo = unkey(hi);
    for (uint64_t i = 0; i < n; i++)
        if (s[i] >= x_lo) return i;
    return m;
}

static void serve_pending(native *nb)
{
    for (int i = 0; i < nb->n_pend; i++) {
        const struct pending *p = &nb->pend[i];
        const float *src = p->src->f + p->offset;
        if (p->host) memcpy(p->host, src, p->n * sizeof(float));
        else *p->argmax = (int32_t)(p->cap > 0 ? argmax_capped(src, p->n, p->cap) : argmax_plain(src, p->n));
    }
    nb->n_pend = 0;
}

static int nb_begin_step(backend *be, gc_err *err)
{
    native *nb = nb_of(be);
    if (nb->in_step) return gc_errf(err, "cpu backend: begin_step inside a step");
    nb->in_step = true;
    return 0;
}

static int nb_end_step(backend *be, gc_err *err)
{
    native *nb = nb_of(be);
    if (!nb->in_step) return gc_errf(err, "cpu backend: end_step without begin_step");
    nb->in_step = false;
    if (nb->failed) {
        if (err) *err = nb->step_err;
        nb->failed = false;
        nb->n_pend = 0;
        return -1;
    }
    serve_pending(nb);
    return 0;
}

/* ---------------------------------------------------------------- ops */

static void nb_embed(backend *be, be_tensor *dst, const be_tensor *table, const int32_t *tokens, int n,
                     int n_embd, float scale)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "embed") || !dims_ok(nb, "embed", n, n_embd, 1)) return;
    float *d = f32_out(nb, dst, (uint64_t)n * n_embd, "embed", "dst"); // [n][n_embd]
    if (!d || !matrix_ok(nb, table, n_embd, 1, "embed")) return;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint64_t)tokens[i] >= table->n_rows) {
            fail(nb, "cpu backend: embed: token id %d at %d is outside the vocabulary (%llu tokens)", tokens[i], i,
                 (unsigned long long)table->n_rows);
            return;
        }
        float *row = d + (size_t)i * n_embd;
        quant_dequant_row(table->type, table->data + (uint64_t)tokens[i] * table->row_bytes, row, n_embd);
        for (int j = 0; j < n_embd; j++) row[j] *= scale;
    }
}

/* 1 / sqrt(mean(x^2) + eps), summed in double (as the reference). */
static double rms_inv(const float *x, int n, float eps)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    return 1.0 / sqrt(((s0 + s1) + (s2 + s3)) / n + eps);
}

/* y = rmsnorm(x) * w, or y += that with add. y may be x. */
static void norm_row(float *y, const float *x, const float *w, int n, float eps, bool add)
{
    float k = (float)rms_inv(x, n, eps);
    for (int j = 0; j < n; j++) {
        float v = x[j] * k * w[j];
        y[j] = add ? y[j] + v : v;
    }
}

static void norm_rows(native *nb, const char *op, be_tensor *dst, const be_tensor *src, const be_tensor *w,
                      int rows, int cols, float eps, bool add)
{
    if (!op_ok(nb, op) || !dims_ok(nb, op, rows, cols, 1)) return;
    uint64_t n = (uint64_t)rows * cols;
    const float *s = f32_of(nb, src, n, op, "src"); // [rows][cols]
    const float *wf = f32_of(nb, w, cols, op, "w"); // [cols]
    float *d = f32_out(nb, dst, n, op, "dst");      // [rows][cols]
    if (!d || !s || !wf) return;
    for (int r = 0; r < rows; r++) norm_row(d + (size_t)r * cols, s + (size_t)r * cols, wf, cols, eps, add);
}

static void nb_rmsnorm(backend *be, be_tensor *dst, const be_tensor *src, const be_tensor *w, int rows, int cols,
                       float eps)
{
    norm_rows(nb_of(be), "rmsnorm", dst, src, w, rows, cols, eps, false);
}

static void nb_add_rmsnorm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w, int rows, int cols,
                           float eps)
{
    norm_rows(nb_of(be), "add_rmsnorm", x, o, w, rows, cols, eps, true);
}

static void nb_add_rmsnorm_norm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w, be_tensor *h,
                                const be_tensor *w2, int rows, int cols, float eps)
{
    native *nb = nb_of(be);
    if (op_ok(nb, "add_rmsnorm_norm") && (h == x || h == o)) {
        fail(nb, "cpu backend: add_rmsnorm_norm: h is x or o");
        return;
    }
    norm_rows(nb, "add_rmsnorm_norm", x, o, w, rows, cols, eps, true);
    norm_rows(nb, "add_rmsnorm_norm", h, x, w2, rows, cols, eps, false);
}

/* src's rows converted by `quantize` in `terms` terms (see conv_slot), from
 * the cache when src is unchanged. */
static const uint8_t *converted(native *nb, const be_tensor *src, int rows, int n_in, int terms, cpu_act act,
                                cpu_quantize_fn quantize, size_t row_bytes)
{
    for (int i = 0; i < 2; i++) {
        conv_slot *c = &nb->conv[i];
        if (c->src == src && c->version == src->version && c->rows >= rows && c->n_in == n_in &&
            c->terms == terms && c->quantize == quantize)
            return c->buf;
    }
    conv_slot *c = &nb->conv[nb->conv_next];
    nb->conv_next ^= 1;
    c->src = NULL;
    if (!grow(nb, (void **)&c->buf, &c->cap, (size_t)rows * terms * row_bytes, 1, "converted activations") ||
        (terms > 1 && !grow(nb, (void **)&nb->resid, &nb->resid_cap, (size_t)n_in, sizeof(float), "residuals")))
        return NULL;
    for (int r = 0; r < rows; r++) {
        const float *x = src->f + (size_t)r * n_in;
        uint8_t *q = c->buf + (size_t)r * terms * row_bytes;
        quantize(x, q, n_in);
        if (terms > 1) {
            cpu_act_residual(act, x, q, nb->resid, n_in);
            quantize(nb->resid, q + row_bytes, n_in);
        }
    }
    *c = (conv_slot){ src, src->version, rows, n_in, terms, quantize, c->buf, c->cap, row_bytes };
    return c->buf;
}

static float gelu_tanh(float x)
{
    const float c = 0.79788456080286535588f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

/* One product over rows [chunk * chunk_rows, ...) of w (and w2 for GeGLU). */
typedef struct mm_job {
    const be_tensor *w, *w2;   /* w2: GeGLU's up weight, or NULL */
    const uint8_t *xa, *xa2;   /* converted activations for w and w2: [n_x * terms] rows each */
    size_t xa_stride, xa2_stride;
    int terms, terms2;         /* rows per activation row in xa, xa2 (1, or 2: two-term) */
    float *out;                /* [n_x][n_out] */
    float *part, *part2;       /* [n_x * terms][n_out]: per-term products (GeGLU: both weights'),
                                  or NULL: w's products go straight to out */
    int n_in, n_x, n_out, chunk_rows;
} mm_job;

/* The sum over the terms of activation row x's products at output rows r0.. */
static inline float term_sum(const float *part, int terms, int x, int n_out, int r)
{
    const float *p = part + (size_t)x * terms * n_out + r;
    return terms == 1 ? p[0] : p[0] + p[n_out];
}

static void mm_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const mm_job *j = ctx;
    int r0 = chunk * j->chunk_rows;
    int nr = j->n_out - r0 < j->chunk_rows ? j->n_out - r0 : j->chunk_rows;
    float *o = j->part ? j->part : j->out;
    j->w->kern->gemm(j->n_in, nr, j->n_x * j->terms, j->w->data + (size_t)r0 * j->w->row_bytes, j->w->row_bytes,
                     j->xa, j->xa_stride, o + r0, (size_t)j->n_out);
    if (j->w2)
        j->w2->kern->gemm(j->n_in, nr, j->n_x * j->terms2, j->w2->data + (size_t)r0 * j->w2->row_bytes,
                          j->w2->row_bytes, j->xa2, j->xa2_stride, j->part2 + r0, (size_t)j->n_out);
    if (!j->part) return;
    for (int x = 0; x < j->n_x; x++) {
        float *d = j->out + (size_t)x * j->n_out;
        for (int r = r0; r < r0 + nr; r++) {
            float g = term_sum(j->part, j->terms, x, j->n_out, r);
            d[r] = j->w2 ? gelu_tanh(g) * term_sum(j->part2, j->terms2, x, j->n_out, r) : g;
        }
    }
}

/* Terms of the activation conversion for weight w: two for 8-bit formats
 * (8-bit activations alone put 2-3e-2 of error on the logits of small
 * models: see docs/cpu.md), one for f32. */
static int terms_for(const be_tensor *w) { return w->kern->act == CPU_ACT_F32 ? 1 : 2; }

/* Rows per chunk: enough chunks for every thread to stay busy to the end
 * (about 8 per thread), in multiples of 16 rows (whole kernel tiles). */
static int chunk_rows_for(const native *nb, int n_out)
{
    int want = cpu_pool_threads(nb->pool) * 8;
    int rows = (n_out + want - 1) / want;
    rows = (rows + 15) / 16 * 16;
    return rows < 16 ? 16 : rows;
}

static void run_matmul(native *nb, const char *op, be_tensor *dst, const be_tensor *w, const be_tensor *w2,
                       const be_tensor *src, int rows, int n_in, int n_out)
{
    if (!op_ok(nb, op) || !dims_ok(nb, op, rows, n_in, n_out)) return;
    const float *s = f32_of(nb, src, (uint64_t)rows * n_in, op, "src"); // [rows][n_in]
    if (!s || !matrix_ok(nb, w, n_in, n_out, op) || (w2 && !matrix_ok(nb, w2, n_in, n_out, op))) return;
    if (dst == src) { fail(nb, "cpu backend: %s: dst and src are the same tensor '%s'", op, dst->name); return; }
    float *d = f32_out(nb, dst, (uint64_t)rows * n_out, op, "dst"); // [rows][n_out]
    if (!d) return;
    mm_job j = { .w = w, .w2 = w2, .out = d, .n_in = n_in, .n_x = rows, .n_out = n_out,
                 .chunk_rows = chunk_rows_for(nb, n_out), .terms = terms_for(w), .terms2 = w2 ? terms_for(w2) : 0 };
    j.xa_stride = cpu_act_row_bytes(w->kern->act, n_in);
    if (!(j.xa = converted(nb, src, rows, n_in, j.terms, w->kern->act, w->quantize, j.xa_stride))) return;
    if (w2) {
        j.xa2_stride = cpu_act_row_bytes(w2->kern->act, n_in);
        if (!(j.xa2 = converted(nb, src, rows, n_in, j.terms2, w2->kern->act, w2->quantize, j.xa2_stride))) return;
    }
    if (w2 || j.terms > 1) {
        size_t n1 = (size_t)rows * j.terms * n_out, n2 = (size_t)rows * j.terms2 * n_out;
        if (!grow(nb, (void **)&nb->partial, &nb->partial_cap, n1 + n2, sizeof(float), "partial products")) return;
        j.part = nb->partial;
        j.part2 = nb->partial + n1;
    }
    cpu_pool_run(nb->pool, (n_out + j.chunk_rows - 1) / j.chunk_rows, mm_chunk, &j);
}

static void nb_matmul(backend *be, be_tensor *dst, const be_tensor *w, const be_tensor *src, int rows, int n_in,
                      int n_out)
{
    run_matmul(nb_of(be), "matmul", dst, w, NULL, src, rows, n_in, n_out);
}

static void nb_matmul_geglu(backend *be, be_tensor *dst, const be_tensor *wgate, const be_tensor *wup,
                            const be_tensor *src, int rows, int n_in, int n_ff)
{
    native *nb = nb_of(be);
    if (op_ok(nb, "matmul_geglu") && !wup) { fail(nb, "cpu backend: matmul_geglu: no up weight"); return; }
    run_matmul(nb, "matmul_geglu", dst, wgate, wup, src, rows, n_in, n_ff);
}

/* NEOX RoPE of n_heads heads of one row at position p (dimension i pairs
 * with i + head_dim/2); angles in double, as the reference. */
static void rope_row(float *x, int n_heads, int head_dim, double p, float freq_base)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        double theta = p * pow(freq_base, -2.0 * i / head_dim);
        double c = cos(theta), s = sin(theta);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * head_dim;
            double a = v[i], b = v[i + half];
            v[i] = (float)(a * c - b * s);
            v[i + half] = (float)(a * s + b * c);
        }
    }
}

static void nb_rope(backend *be, be_tensor *x, int rows, int n_heads, int head_dim, int pos0, float freq_base,
                    float pos_scale)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "rope") || !dims_ok(nb, "rope", rows, n_heads, head_dim)) return;
    if (head_dim % 2 || pos0 < 0 || !(freq_base > 0)) {
        fail(nb, "cpu backend: rope: bad head_dim %d, pos0 %d or base %g", head_dim, pos0, freq_base);
        return;
    }
    float *xf = f32_out(nb, x, (uint64_t)rows * n_heads * head_dim, "rope", "x"); // [rows][n_heads][head_dim]
    if (!xf) return;
    for (int r = 0; r < rows; r++)
        rope_row(xf + (size_t)r * n_heads * head_dim, n_heads, head_dim, (double)(pos0 + r) * pos_scale, freq_base);
}

static bool cache_pos_ok(native *nb, const char *op, int layer, int rows, int pos0)
{
    if (!nb->k_cache) { fail(nb, "cpu backend: %s: no KV cache (kv_cache not called)", op); return false; }
    if (layer < 0 || layer >= nb->n_layer || rows < 0 || pos0 < 0 || pos0 + rows > nb->n_ctx) {
        fail(nb, "cpu backend: %s: layer %d, positions %d..%d outside the cache (%d layers, %d positions)", op,
             layer, pos0, pos0 + rows - 1, nb->n_layer, nb->n_ctx);
        return false;
    }
    return true;
}

static size_t cache_index(const native *nb, int layer, int pos)
{
    return (((size_t)layer * nb->n_ctx + pos) * nb->n_kv_head) * nb->head_dim;
}

static void nb_kv_store(backend *be, int layer, const be_tensor *k, const be_tensor *v, int rows, int pos0)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "kv_store") || !dims_ok(nb, "kv_store", rows, 1, 1) ||
        !cache_pos_ok(nb, "kv_store", layer, rows, pos0)) return;
    uint64_t row = (uint64_t)nb->n_kv_head * nb->head_dim;
    const float *kf = f32_of(nb, k, rows * row, "kv_store", "k"); // [rows][n_kv_head][head_dim]
    const float *vf = f32_of(nb, v, rows * row, "kv_store", "v"); // [rows][n_kv_head][head_dim]
    if (!kf || !vf) return;
    memcpy(nb->k_cache + cache_index(nb, layer, pos0), kf, rows * row * sizeof(float));
    memcpy(nb->v_cache + cache_index(nb, layer, pos0), vf, rows * row * sizeof(float));
}

static void nb_qk_rope_store(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v,
                             const be_tensor *qn, const be_tensor *kn, int rows, int n_head, int pos0,
                             float freq_base, float pos_scale, float eps)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "qk_rope_store") || !dims_ok(nb, "qk_rope_store", rows, n_head, 1)) return;
    if (!nb->k_cache) { fail(nb, "cpu backend: qk_rope_store: no KV cache (kv_cache not called)"); return; }
    if (!qn != !kn) { fail(nb, "cpu backend: qk_rope_store: give both head norms or neither"); return; }
    int D = nb->head_dim, HKV = nb->n_kv_head;
    if (qn) {
        nb_rmsnorm(be, q, q, qn, rows * n_head, D, eps);
        nb_rmsnorm(be, k, k, kn, rows * HKV, D, eps);
    }
    nb_rope(be, q, rows, n_head, D, pos0, freq_base, pos_scale);
    nb_rope(be, k, rows, HKV, D, pos0, freq_base, pos_scale);
    nb_kv_store(be, layer, k, v, rows, pos0);
}

static float dot_f32(const float *a, const float *b, int n)
{
    float s[8] = { 0 };
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += a[i + l] * b[i + l];
    for (; i < n; i++) s[0] += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

typedef struct attn_job {
    native *nb;
    float *out;                /* [rows][n_head][head_dim] */
    const float *q;            /* [rows][n_head][head_dim] */
    const float *K, *V;        /* the layer's cache: [n_ctx][n_kv_head][head_dim] */
    int pos0;
    be_attn_params p;
} attn_job;

/* One query row and head: scores scaled, capped, masked; softmax; @ V. */
static void attn_chunk(void *ctx, int chunk, int thread)
{
    const attn_job *j = ctx;
    const be_attn_params *p = &j->p;
    int hd = p->head_dim, r = chunk / p->n_head, h = chunk % p->n_head, g = h / (p->n_head / p->n_kv_head);
    int qpos = j->pos0 + r;
    int t0 = p->window > 0 && qpos - p->window + 1 > 0 ? qpos - p->window + 1 : 0; /* older keys are masked */
    size_t kv_row = (size_t)p->n_kv_head * hd;
    const float *qv = j->q + ((size_t)r * p->n_head + h) * hd;
    float *sc = j->nb->scores + (size_t)thread * j->nb->n_ctx; // [n_ctx]
    float mx = -INFINITY;
    for (int t = t0; t <= qpos; t++) {
        float s = p->scale * dot_f32(qv, j->K + t * kv_row + (size_t)g * hd, hd);
        if (p->softcap > 0) s = p->softcap * tanhf(s / p->softcap);
        sc[t] = s;
        if (s > mx) mx = s;
    }
    float sum = 0;
    for (int t = t0; t <= qpos; t++) {
        sc[t] = expf(sc[t] - mx);
        sum += sc[t];
    }
    float *ov = j->out + ((size_t)r * p->n_head + h) * hd;
    memset(ov, 0, (size_t)hd * sizeof *ov);
    for (int t = t0; t <= qpos; t++) {
        const float *vv = j->V + t * kv_row + (size_t)g * hd;
        float w = sc[t];
        for (int i = 0; i < hd; i++) ov[i] += w * vv[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < hd; i++) ov[i] *= inv;
}

static void nb_attention(backend *be, be_tensor *out, const be_tensor *q, int layer, int rows, int pos0,
                         const be_attn_params *p)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "attention") || !dims_ok(nb, "attention", rows, 1, 1) ||
        !cache_pos_ok(nb, "attention", layer, rows, pos0)) return;
    if (p->n_head <= 0 || p->n_kv_head != nb->n_kv_head || p->head_dim != nb->head_dim ||
        p->n_head % p->n_kv_head || p->window < 0 || p->softcap < 0) {
        fail(nb, "cpu backend: attention: %d heads, %d kv heads, head_dim %d, window %d, cap %g do not fit "
             "the cache (%d kv heads, head_dim %d)", p->n_head, p->n_kv_head, p->head_dim, p->window, p->softcap,
             nb->n_kv_head, nb->head_dim);
        return;
    }
    uint64_t n = (uint64_t)rows * p->n_head * p->head_dim;
    const float *qf = f32_of(nb, q, n, "attention", "q");
    if (!qf) return;
    if (out == q) { fail(nb, "cpu backend: attention: out and q are the same tensor '%s'", out->name); return; }
    float *o = f32_out(nb, out, n, "attention", "out");
    if (!o) return;
    attn_job j = { .nb = nb, .out = o, .q = qf, .K = nb->k_cache + cache_index(nb, layer, 0),
                   .V = nb->v_cache + cache_index(nb, layer, 0), .pos0 = pos0, .p = *p };
    cpu_pool_run(nb->pool, rows * p->n_head, attn_chunk, &j);
}

static void nb_copy(backend *be, be_tensor *dst, uint64_t dst_off, const be_tensor *src, uint64_t src_off,
                    uint64_t n)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "copy")) return;
    if (dst_off > UINT64_MAX - n || src_off > UINT64_MAX - n) { fail(nb, "cpu backend: copy: offsets overflow"); return; }
    const float *s = f32_of(nb, src, src_off + n, "copy", "src");
    float *d = f32_out(nb, dst, dst_off + n, "copy", "dst");
    if (!d || !s) return;
    if (dst == src && dst_off < src_off + n && src_off < dst_off + n) {
        fail(nb, "cpu backend: copy: overlapping ranges in '%s'", dst->name);
        return;
    }
    memcpy(d + dst_off, s + src_off, n * sizeof(float));
}

typedef struct cap_job { float *x; uint64_t n, per; float cap; } cap_job;

static void cap_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const cap_job *j = ctx;
    uint64_t a = (uint64_t)chunk * j->per, b = a + j->per < j->n ? a + j->per : j->n;
    for (uint64_t i = a; i < b; i++) j->x[i] = capped(j->x[i], j->cap);
}

static void nb_softcap(backend *be, be_tensor *x, uint64_t n, float cap)
{
    native *nb = nb_of(be);
    if (!op_ok(nb, "softcap")) return;
    if (!(cap > 0)) { fail(nb, "cpu backend: softcap: cap %g is not positive", cap); return; }
    float *xf = f32_out(nb, x, n, "softcap", "x");
    if (!xf || !n) return;
    cap_job j = { xf, n, 16384, cap };
    cpu_pool_run(nb->pool, (int)((n + j.per - 1) / j.per), cap_chunk, &j);
}

static void push_pending(native *nb, const char *op, const be_tensor *src, uint64_t offset, uint64_t n, float *host,
                         int32_t *argmax, float cap)
{
    if (!op_ok(nb, op)) return;
    if (n == 0 || n > INT32_MAX || offset > UINT64_MAX - n) { fail(nb, "cpu backend: %s: bad range", op); return; }
    if (!f32_of(nb, src, offset + n, op, "src")) return;
    if (nb->n_pend == nb->cap_pend) {
        int c = nb->cap_pend ? 2 * nb->cap_pend : 8;
        struct pending *p = realloc(nb->pend, c * sizeof *p);
        if (!p) { fail(nb, "cpu backend: %s: out of memory", op); return; }
        nb->pend = p;
        nb->cap_pend = c;
    }
    nb->pend[nb->n_pend++] = (struct pending){ src, offset, n, host, argmax, cap };
}

static void nb_read(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float *host)
{
    push_pending(nb_of(be), "read", src, offset, n, host, NULL, 0);
}

static void nb_argmax(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, int32_t *host)
{
    push_pending(nb_of(be), "argmax", src, offset, n, NULL, host, 0);
}

static void nb_argmax_softcap(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float cap,
                              int32_t *host)
{
    if (!(cap > 0)) { fail(nb_of(be), "cpu backend: argmax_softcap: cap %g is not positive", cap); return; }
    push_pending(nb_of(be), "argmax_softcap", src, offset, n, NULL, host, cap);
}

static const backend native_ops = {
    .name = "cpu",
    .weight = nb_weight,
    .activation = nb_activation,
    .kv_cache = nb_kv_cache,
    .destroy = nb_destroy,
    .begin_step = nb_begin_step,
    .end_step = nb_end_step,
    .embed = nb_embed,
    .rmsnorm = nb_rmsnorm,
    .add_rmsnorm = nb_add_rmsnorm,
    .add_rmsnorm_norm = nb_add_rmsnorm_norm,
    .matmul = nb_matmul,
    .matmul_geglu = nb_matmul_geglu,
    .rope = nb_rope,
    .kv_store = nb_kv_store,
    .qk_rope_store = nb_qk_rope_store,
    .attention = nb_attention,
    .copy = nb_copy,
    .softcap = nb_softcap,
    .read = nb_read,
    .argmax = nb_argmax,
    .argmax_softcap = nb_argmax_softcap,
    .memory_used = nb_memory_used,
};

void cpu_backend_opts_init(cpu_backend_opts *o)
{
    *o = (cpu_backend_opts){ .threads = 0, .isa = -1 };
}

int cpu_backend_create(const cpu_backend_opts *o, backend **out, gc_err *err)
{
    *out = NULL;
    cpu_backend_opts def;
    if (!o) { cpu_backend_opts_init(&def); o = &def; }
    cpu_isa isa;
    const char *why = NULL;
    if (o->isa < 0) {
        if (cpu_isa_choose(&isa, &why)) return gc_errf(err, "cpu backend: %s", why);
    } else {
        if (o->isa >= CPU_ISA_COUNT || o->isa > (int)cpu_isa_detect())
            return gc_errf(err, "cpu backend: instruction-set level %s is not available on this CPU (it has %s)",
                           cpu_isa_name((cpu_isa)o->isa), cpu_isa_name(cpu_isa_detect()));
        isa = (cpu_isa)o->isa;
    }
    int cpus = cpu_pool_cpus();
    int threads = o->threads ? o->threads : cpus;
    if (threads < 1 || threads > 256)
        return gc_errf(err, "cpu backend: threads %d: must be 1..256 (this machine has %d CPUs)", threads, cpus);
    native *nb = calloc(1, sizeof *nb);
    if (!nb) return gc_errf(err, "cpu backend: out of memory");
    nb->base = native_ops;
    nb->isa = isa;
    if (cpu_pool_create(&nb->pool, threads, err)) {
        free(nb);
        return gc_err_prefix(err, "cpu backend");
    }
    snprintf(nb->base.device_name, sizeof nb->base.device_name, "CPU (%s, %d thread%s)", cpu_isa_name(isa),
             threads, threads == 1 ? "" : "s");
    *out = &nb->base;
    return 0;
}

cpu_isa cpu_backend_isa(const backend *be) { return ((const native *)be)->isa; }
int cpu_backend_threads(const backend *be) { return cpu_pool_threads(((const native *)be)->pool); }
