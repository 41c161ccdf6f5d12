/* vk_selfcheck.c: the per-device self-check (see vk_selfcheck.h).
 *
 * A case is a description (op, weight type, shape, bound) and one function
 * per op that builds its inputs from the case's seed, runs the op in a step
 * and reads the results back. The function runs twice, on the reference and
 * on the backend checked, with the same seed, so both see the same inputs;
 * then the results are compared.
 */
#include "vk/vk_selfcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/fault.h"
#include "model/quant.h"

/* ---- cases ---- */

typedef enum sc_op {
    SC_EMBED, SC_COPY, SC_SOFTCAP, SC_RMSNORM, SC_ADD_NORM, SC_ARGMAX, SC_MATMUL, SC_GEGLU, SC_QK_ROPE, SC_ATTN,
} sc_op;

/* The relative error bounds. The backends compute in f32 (backend.h) in
 * different orders, which moves a row by a few f32 roundings (GeGLU, whose
 * gelu cancels near zero, the most); an f16 KV cache rounds K and V to 2^-11,
 * which attention carries into its output, the more so behind a soft-cap.
 * Each bound leaves ten times what lavapipe gives or more, while one wrong
 * value in a row of n moves that row's error by about 1/sqrt(n), far above
 * it. The products' x comes already in 8-bit blocks (vk_xq_round), on which
 * the integer dot kernels are exact too. A kernel that rounds its inputs
 * further (f16 activations) needs its own bound here. */
#define SC_BOUND_EXACT 1e-5     /* embed, copy: products by one scale, moves */
#define SC_BOUND_F32 1e-4       /* norms, RoPE, soft-cap */
#define SC_BOUND_PRODUCT 1e-3   /* matmul, GeGLU: long f32 sums */
#define SC_BOUND_KV 2e-2        /* attention: the KV cache may be f16 */

typedef struct sc_case {
    char name[VK_SELFCHECK_NAME_MAX];
    sc_op op;
    uint32_t type;           /* weight type (embed, products) */
    int rows;                /* input rows, or query rows (attention, qk_rope) */
    int n_in, n_out;         /* products: W is [n_out][n_in]; norms: cols = n_in; argmax, copy: n = n_in */
    int offset;              /* argmax, copy: where in the tensor the values start */
    float cap;               /* soft-cap (softcap, argmax_softcap, attention); 0 = none */
    /* attention and qk_rope_store */
    int head_dim, n_head, n_kv_head;
    int window;              /* 0 = global */
    int slots;               /* the layer's cache slots (a ring when below SC_CTX) */
    int pos0;                /* positions 0..pos0-1 are filled first, in steps of at most SC_FILL rows */
    bool norms;              /* qk_rope_store's per-head norms */
    bool in_place;           /* rmsnorm: dst = src */
    double bound;            /* SC_BOUND_*; argmax: exact */
} sc_case;

#define SC_CTX 48            /* the KV cache's positions */
#define SC_FILL 10           /* rows per step while filling the cache before a measured step */
#define SC_MAX_CASES 160

typedef struct sc_list {
    sc_case c[SC_MAX_CASES];
    int n;
} sc_list;

/* Names hold no ',', so that base/fault.h's selfcheck:TEXT can name any. */
__attribute__((format(printf, 3, 4)))
static void add(sc_list *l, sc_case k, const char *fmt, ...)
{
    if (l->n == SC_MAX_CASES) return;   /* sized for make_cases' list: never */
    sc_case *c = &l->c[l->n++];
    *c = k;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->name, sizeof c->name, fmt, ap);
    va_end(ap);
}

/* Rows as models have them: a few blocks of the 32-value types (and of 32
 * floats), two superblocks of K-quants. (Rows that are no multiple of 32
 * take other paths on some devices; no Gemma has them, tests/test_vk_ops.c
 * checks them.) */
static int n_in_of(uint32_t type)
{
    return quant_type_info(type)->block_elems == QUANT_QK_K ? 2 * QUANT_QK_K : 10 * QUANT_QK;
}

/* The KV cache group: per Gemma head_dim (with grouped KV heads as the models
 * have them) the fused QK input with and without per-head norms, and
 * attention for a prefill and a decode step, global and with a soft-cap and
 * a window over a ring cache (the decode step's position has wrapped the
 * ring). `model` says which weights the backend holds so far: its KV cache
 * may differ (f32 for an all-F32 model: vk_backend.h). */
static void add_kv_cases(sc_list *l, const char *model)
{
    static const int heads[][3] = { { 64, 4, 2 }, { 128, 4, 2 }, { 256, 4, 1 } };   /* head_dim, heads, KV heads */
    for (int i = 0; i < 3; i++) {
        sc_case k = { .head_dim = heads[i][0], .n_head = heads[i][1], .n_kv_head = heads[i][2], .slots = SC_CTX };
        int hd = k.head_dim;
        sc_case q = k;
        q.op = SC_QK_ROPE, q.rows = 3, q.pos0 = 5, q.bound = SC_BOUND_F32, q.norms = true;
        add(l, q, "qk_rope_store head_dim %d per-head norms (%s)", hd, model);
        q.norms = false;
        add(l, q, "qk_rope_store head_dim %d (%s)", hd, model);
        sc_case a = k;
        a.op = SC_ATTN, a.bound = SC_BOUND_KV;
        for (int decode = 0; decode < 2; decode++) {
            a.rows = decode ? 1 : 12;
            a.pos0 = decode ? 30 : 0;
            a.window = 0, a.cap = 0, a.slots = SC_CTX;
            add(l, a, "attention head_dim %d GQA %d:%d %s (%s)", hd, a.n_head, a.n_kv_head,
                decode ? "decode" : "prefill", model);
            a.window = 8, a.cap = 20, a.slots = 24;
            add(l, a, "attention head_dim %d GQA %d:%d %s softcap window (%s)", hd, a.n_head, a.n_kv_head,
                decode ? "decode" : "prefill", model);
        }
    }
}

static void make_cases(sc_list *l)
{
    l->n = 0;
    /* Every case's inputs come in through embed of an F32 table: if that is
     * wrong, everything is, and this case names it first. */
    add(l, (sc_case){ .op = SC_EMBED, .type = GT_F32, .rows = 7, .n_in = n_in_of(GT_F32), .n_out = 23,
                      .bound = SC_BOUND_EXACT }, "embed F32 (every case's input upload)");
    add(l, (sc_case){ .op = SC_COPY, .n_in = 1000, .offset = 3, .bound = SC_BOUND_EXACT }, "copy n=1000");
    add(l, (sc_case){ .op = SC_SOFTCAP, .n_in = 1000, .cap = 30, .bound = SC_BOUND_F32 }, "softcap n=1000");
    add(l, (sc_case){ .op = SC_RMSNORM, .rows = 3, .n_in = 640, .bound = SC_BOUND_F32 }, "rmsnorm cols=640 rows=3");
    add(l, (sc_case){ .op = SC_RMSNORM, .rows = 2, .n_in = 42, .in_place = true, .bound = SC_BOUND_F32 },
        "rmsnorm cols=42 rows=2 in place");
    add(l, (sc_case){ .op = SC_ADD_NORM, .rows = 3, .n_in = 640, .bound = SC_BOUND_F32 },
        "add_rmsnorm_norm cols=640 rows=3");
    add(l, (sc_case){ .op = SC_ARGMAX, .n_in = 37 }, "argmax n=37");
    add(l, (sc_case){ .op = SC_ARGMAX, .n_in = 262147, .offset = 3 }, "argmax n=262147 offset 3 (two stages)");
    add(l, (sc_case){ .op = SC_ARGMAX, .n_in = 262144, .cap = 30 }, "argmax_softcap n=262144 (two stages)");
    /* Before any quantized weight: the KV cache an all-F32 model gets. */
    add_kv_cases(l, "F32 model");
    for (uint32_t t = 0; t < GT_COUNT; t++) {
        if (!quant_type_supported(t) || t == GT_F32) continue;
        add(l, (sc_case){ .op = SC_EMBED, .type = t, .rows = 7, .n_in = n_in_of(t), .n_out = 23,
                          .bound = SC_BOUND_EXACT }, "embed %s", quant_type_name(t));
    }
    for (uint32_t t = 0; t < GT_COUNT; t++) {
        if (!quant_type_supported(t)) continue;
        const char *tn = quant_type_name(t);
        sc_case k = { .op = SC_MATMUL, .type = t, .n_in = n_in_of(t), .n_out = 37, .bound = SC_BOUND_PRODUCT };
        k.rows = 1;
        add(l, k, "matmul %s rows=1 (matrix-vector)", tn);
        k.rows = 2;
        add(l, k, "matmul %s rows=2 (matrix-vector)", tn);
        k.rows = 40;
        add(l, k, "matmul %s rows=40 (matrix-matrix)", tn);
        k.op = SC_GEGLU, k.rows = 1;
        add(l, k, "matmul_geglu %s rows=1 (fused matrix-vector)", tn);
        k.rows = 40;
        add(l, k, "matmul_geglu %s rows=40 (matrix-matrix)", tn);
    }
    add_kv_cases(l, "quantized model");
}

/* ---- running a case on one backend ---- */

/* One case on one backend: its inputs, its results, the first failure. */
typedef struct sc_run {
    backend *be;
    uint64_t rng;            /* xorshift64: the case's inputs */
    void **host;             /* weights' and inputs' host data (a host backend reads weights in place;
                              * no tensor of a case is used after it) */
    size_t n_host, cap_host;
    struct sc_pending { be_tensor *dst, *table; uint64_t n; } *pending;   /* inputs to fill at the next step's start */
    size_t n_pending, cap_pending;
    float *out;              /* [n_out] the results */
    uint64_t n_out;
    int32_t idx;             /* argmax */
    bool failed;
    gc_err err;              /* the first failure */
} sc_run;

static uint64_t next_bits(void *u)
{
    sc_run *r = u;
    uint64_t x = r->rng;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return r->rng = x;
}

/* Uniform in [-amp, amp). */
static float rnd(sc_run *r, float amp)
{
    return amp * (float)((next_bits(r) >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

__attribute__((format(printf, 2, 3)))
static void run_fail(sc_run *r, const char *fmt, ...)
{
    if (r->failed) return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err.msg, sizeof r->err.msg, fmt, ap);
    va_end(ap);
}

static void *keep(sc_run *r, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p || GC_GROW(r->host, r->cap_host, r->n_host + 1)) {
        free(p);
        run_fail(r, "out of memory");
        return NULL;
    }
    return r->host[r->n_host++] = p;
}

/* A weight [n_out][n_in] (n_dims 1: a norm's n_in floats) of random data. */
static be_tensor *weight(sc_run *r, uint32_t type, int n_in, int n_out, int n_dims, const float *values)
{
    uint64_t rb;
    gc_err e;
    if (r->failed || quant_row_bytes(type, (uint64_t)n_in, &rb, &e)) return NULL;
    void *d = keep(r, rb * (uint64_t)n_out);
    if (!d) return NULL;
    if (values) memcpy(d, values, (size_t)n_in * n_out * sizeof(float));
    else quant_random_blocks(type, (uint64_t)n_in * n_out, next_bits, r, d);
    gguf_tensor g = { .name = { "selfcheck", 9 }, .n_dims = (uint32_t)n_dims, .ne = { (uint64_t)n_in, (uint64_t)n_out, 1, 1 },
                      .type = type, .n_bytes = rb * (uint64_t)n_out, .n_elems = (uint64_t)n_in * n_out, .data = d };
    be_tensor *t = NULL;
    if (r->be->weight(r->be, &g, &t, &r->err)) r->failed = true;
    return t;
}

static be_tensor *zeros(sc_run *r, uint64_t n)
{
    be_tensor *t = NULL;
    if (r->failed) return NULL;
    if (r->be->activation(r->be, n, "selfcheck", &t, &r->err)) r->failed = true;
    return t;
}

/* An activation holding v[0..n) (kept by the caller). backend.h has no
 * upload, so the values come in as a one-row F32 table, embedded at scale 1
 * (exact) at the start of the next step. */
static be_tensor *input_values(sc_run *r, uint64_t n, const float *v)
{
    be_tensor *t = zeros(r, n);
    be_tensor *w = t ? weight(r, GT_F32, (int)n, 1, 2, v) : NULL;
    if (!w) return NULL;
    if (GC_GROW(r->pending, r->cap_pending, r->n_pending + 1)) {
        run_fail(r, "out of memory");
        return NULL;
    }
    r->pending[r->n_pending++] = (struct sc_pending){ t, w, n };
    return t;
}

static float *random_values(sc_run *r, uint64_t n, float amp)
{
    float *v = r->failed ? NULL : keep(r, n * sizeof *v);
    for (uint64_t i = 0; v && i < n; i++) v[i] = rnd(r, amp);
    return v;
}

/* An activation of n random values in [-amp, amp). */
static be_tensor *input(sc_run *r, uint64_t n, float amp)
{
    float *v = random_values(r, n, amp);
    return v ? input_values(r, n, v) : NULL;
}

/* Room for n results (read() writes them at end_step). */
static float *results(sc_run *r, uint64_t n)
{
    if (r->failed) return NULL;
    free(r->out);
    r->out = calloc(n, sizeof *r->out);
    r->n_out = r->out ? n : 0;
    if (!r->out) run_fail(r, "out of memory");
    return r->out;
}

static bool begin(sc_run *r)
{
    if (r->failed) return false;
    if (r->be->begin_step(r->be, &r->err)) {
        r->failed = true;
        return false;
    }
    static const int32_t row0 = 0;
    for (size_t i = 0; i < r->n_pending; i++)
        r->be->embed(r->be, r->pending[i].dst, r->pending[i].table, &row0, 1, (int)r->pending[i].n, 1.0f);
    r->n_pending = 0;
    return true;
}

static void end(sc_run *r)
{
    if (!r->failed && r->be->end_step(r->be, &r->err)) r->failed = true;
}

static void kv_cache(sc_run *r, const sc_case *k)
{
    if (!r->failed && r->be->kv_cache(r->be, 1, SC_CTX, &k->slots, k->n_kv_head, k->head_dim, &r->err))
        r->failed = true;
}

/* ---- the ops ---- */

static void run_embed(sc_run *r, const sc_case *k)
{
    be_tensor *table = weight(r, k->type, k->n_in, k->n_out, 2, NULL);
    be_tensor *dst = zeros(r, (uint64_t)k->rows * k->n_in);
    int32_t tok[16];
    for (int i = 0; i < k->rows && i < 16; i++) tok[i] = (int32_t)(next_bits(r) % (uint64_t)k->n_out);
    float *o = results(r, (uint64_t)k->rows * k->n_in);
    if (!begin(r)) return;
    r->be->embed(r->be, dst, table, tok, k->rows, k->n_in, sqrtf((float)k->n_in));
    r->be->read(r->be, dst, 0, r->n_out, o);
    end(r);
}

/* Copy into the middle of random values (what is around must stay) and
 * soft-cap of values up to 3 caps. */
static void run_eltwise(sc_run *r, const sc_case *k)
{
    uint64_t n = (uint64_t)k->n_in, dn = n + 10;
    be_tensor *x = input(r, k->op == SC_COPY ? n + k->offset : n, k->op == SC_COPY ? 1 : 3 * k->cap);
    be_tensor *d = k->op == SC_COPY ? input(r, dn, 1) : x;
    float *o = results(r, k->op == SC_COPY ? dn : n);
    if (!begin(r)) return;
    if (k->op == SC_COPY) r->be->copy(r->be, d, 5, x, (uint64_t)k->offset, n);
    else r->be->softcap(r->be, x, n, k->cap);
    r->be->read(r->be, d, 0, r->n_out, o);
    end(r);
}

/* rmsnorm (into another tensor, or in place), or the fused
 * residual norm (x and h both read back). */
static void run_norm(sc_run *r, const sc_case *k)
{
    uint64_t n = (uint64_t)k->rows * k->n_in;
    const float eps = 1e-6f;
    be_tensor *x = input(r, n, 1), *o = k->op == SC_ADD_NORM ? input(r, n, 1) : NULL;
    be_tensor *w = weight(r, GT_F32, k->n_in, 1, 1, NULL), *w2 = weight(r, GT_F32, k->n_in, 1, 1, NULL);
    be_tensor *d = k->op == SC_ADD_NORM || !k->in_place ? zeros(r, n) : x;
    float *out = results(r, k->op == SC_ADD_NORM ? 2 * n : n);
    if (!begin(r)) return;
    if (k->op == SC_ADD_NORM) {
        r->be->add_rmsnorm_norm(r->be, x, o, w, d, w2, k->rows, k->n_in, eps);
        r->be->read(r->be, x, 0, n, out);
        r->be->read(r->be, d, 0, n, out + n);
    } else {
        r->be->rmsnorm(r->be, d, x, w, k->rows, k->n_in, eps);
        r->be->read(r->be, d, 0, n, out);
    }
    end(r);
}

/* One clear maximum among random values, and bigger values before the
 * offset (an argmax that starts too early picks those). */
static void run_argmax(sc_run *r, const sc_case *k)
{
    uint64_t n = (uint64_t)k->n_in, off = (uint64_t)k->offset;
    float *v = random_values(r, off + n, 1);
    if (!v) return;
    for (uint64_t i = 0; i < off; i++) v[i] = 2;
    v[off + next_bits(r) % n] = 1.5f;
    be_tensor *x = input_values(r, off + n, v);
    if (!begin(r)) return;
    if (k->cap > 0) r->be->argmax_softcap(r->be, x, off, n, k->cap, &r->idx);
    else r->be->argmax(r->be, x, off, n, &r->idx);
    end(r);
}

static void run_matmul(sc_run *r, const sc_case *k)
{
    bool geglu = k->op == SC_GEGLU;
    be_tensor *w = weight(r, k->type, k->n_in, k->n_out, 2, NULL);
    be_tensor *wu = geglu ? weight(r, k->type, k->n_in, k->n_out, 2, NULL) : NULL;
    /* x in 8-bit blocks: the integer dot kernels (matvec_dp) are exact on it, so
     * every product variant meets the f32 bound */
    uint64_t nx = (uint64_t)k->rows * k->n_in;
    float *xv = random_values(r, nx, 1);
    if (xv) vk_xq_round(xv, nx);
    be_tensor *x = xv ? input_values(r, nx, xv) : NULL, *d = zeros(r, (uint64_t)k->rows * k->n_out);
    float *o = results(r, (uint64_t)k->rows * k->n_out);
    if (!begin(r)) return;
    if (geglu) r->be->matmul_geglu(r->be, d, w, wu, x, k->rows, k->n_in, k->n_out);
    else r->be->matmul(r->be, d, w, x, k->rows, k->n_in, k->n_out);
    r->be->read(r->be, d, 0, r->n_out, o);
    end(r);
}

#define SC_FREQ_BASE 10000.0f
#define SC_EPS 1e-6f

/* q, k and v of `rows` rows at pos0 through qk_rope_store (q and k rotated
 * in place, k and v into the cache). The q and k amplitudes set the scores'
 * size: with a soft-cap, large enough for the cap to bend them. */
typedef struct sc_qkv { be_tensor *q, *k, *v, *qn, *kn; } sc_qkv;

static sc_qkv qkv(sc_run *r, const sc_case *k, int rows)
{
    uint64_t hd = (uint64_t)k->head_dim;
    float qa = k->cap > 0 ? 10 : 2, ka = k->cap > 0 ? 3 : 1;
    sc_qkv t = { input(r, rows * k->n_head * hd, qa), input(r, rows * k->n_kv_head * hd, ka),
                 input(r, rows * k->n_kv_head * hd, 1), NULL, NULL };
    if (k->norms) {
        t.qn = weight(r, GT_F32, k->head_dim, 1, 1, NULL);
        t.kn = weight(r, GT_F32, k->head_dim, 1, 1, NULL);
    }
    return t;
}

static void qk_store(sc_run *r, const sc_case *k, const sc_qkv *t, int rows, int pos0)
{
    r->be->qk_rope_store(r->be, 0, t->q, t->k, t->v, t->qn, t->kn, rows, k->n_head, pos0, SC_FREQ_BASE, 1.0f,
                         SC_EPS);
}

/* qk_rope_store's q and k (each head a row of the comparison). */
static void run_qk_rope(sc_run *r, const sc_case *k)
{
    kv_cache(r, k);
    sc_qkv t = qkv(r, k, k->rows);
    uint64_t nq = (uint64_t)k->rows * k->n_head * k->head_dim, nk = (uint64_t)k->rows * k->n_kv_head * k->head_dim;
    float *o = results(r, nq + nk);
    if (!begin(r)) return;
    qk_store(r, k, &t, k->rows, k->pos0);
    r->be->read(r->be, t.q, 0, nq, o);
    r->be->read(r->be, t.k, 0, nk, o + nq);
    end(r);
}

/* Positions 0..pos0-1 into the cache, then one step of k->rows query rows at
 * pos0: their keys stored, attention over the cache, the output read. */
static void run_attention(sc_run *r, const sc_case *k)
{
    kv_cache(r, k);
    for (int p = 0; p < k->pos0; p += SC_FILL) {
        int m = k->pos0 - p < SC_FILL ? k->pos0 - p : SC_FILL;
        sc_qkv f = qkv(r, k, m);
        if (!begin(r)) return;
        qk_store(r, k, &f, m, p);
        end(r);
    }
    sc_qkv t = qkv(r, k, k->rows);
    uint64_t n = (uint64_t)k->rows * k->n_head * k->head_dim;
    be_tensor *out = zeros(r, n);
    float *o = results(r, n);
    be_attn_params ap = { .n_head = k->n_head, .n_kv_head = k->n_kv_head, .head_dim = k->head_dim,
                          .scale = 1.0f / sqrtf((float)k->head_dim), .softcap = k->cap, .window = k->window };
    if (!begin(r)) return;
    qk_store(r, k, &t, k->rows, k->pos0);
    r->be->attention(r->be, out, t.q, 0, k->rows, k->pos0, &ap);
    r->be->read(r->be, out, 0, n, o);
    end(r);
}

static void run_case(sc_run *r, const sc_case *k)
{
    switch (k->op) {
    case SC_EMBED: run_embed(r, k); break;
    case SC_COPY: case SC_SOFTCAP: run_eltwise(r, k); break;
    case SC_RMSNORM: case SC_ADD_NORM: run_norm(r, k); break;
    case SC_ARGMAX: run_argmax(r, k); break;
    case SC_MATMUL: case SC_GEGLU: run_matmul(r, k); break;
    case SC_QK_ROPE: run_qk_rope(r, k); break;
    case SC_ATTN: run_attention(r, k); break;
    }
}

static void run_free(sc_run *r)
{
    for (size_t i = 0; i < r->n_host; i++) free(r->host[i]);
    free(r->host);
    free(r->pending);
    free(r->out);
}

/* ---- comparing ---- */

/* Values per compared row: a token's vector, a head's, a product's output
 * row; copy and soft-cap compare their whole output as one row. */
static uint64_t row_len(const sc_case *k, uint64_t n)
{
    switch (k->op) {
    case SC_EMBED: case SC_RMSNORM: case SC_ADD_NORM: return (uint64_t)k->n_in;
    case SC_MATMUL: case SC_GEGLU: return (uint64_t)k->n_out;
    case SC_QK_ROPE: case SC_ATTN: return (uint64_t)k->head_dim;
    default: return n;
    }
}

/* Whether got matches want within the case's bound; detail says how not. */
static bool compare(const sc_case *k, const sc_run *want, const sc_run *got, char *detail, size_t dn)
{
    if (k->op == SC_ARGMAX) {
        if (got->idx == want->idx) return true;
        snprintf(detail, dn, "index %d, the reference %d", (int)got->idx, (int)want->idx);
        return false;
    }
    if (got->n_out != want->n_out || !want->n_out) {
        snprintf(detail, dn, "%llu results, the reference %llu", (unsigned long long)got->n_out,
                 (unsigned long long)want->n_out);
        return false;
    }
    uint64_t len = row_len(k, want->n_out), rows = want->n_out / len, worst_row = 0;
    double worst = 0;
    for (uint64_t row = 0; row < rows; row++) {
        const float *g = got->out + row * len, *w = want->out + row * len;
        double num = 0, den = 0;
        for (uint64_t i = 0; i < len; i++) {
            if (!isfinite(g[i])) {
                snprintf(detail, dn, "row %llu of %llu: value %llu is %g", (unsigned long long)row,
                         (unsigned long long)rows, (unsigned long long)i, (double)g[i]);
                return false;
            }
            num += ((double)g[i] - w[i]) * ((double)g[i] - w[i]);
            den += (double)w[i] * w[i];
        }
        double e = sqrt(num) / (den > 0 ? sqrt(den) : 1);
        if (isnan(e)) e = INFINITY;   /* the reference's NaN: no verdict of "close" */
        if (e > worst) { worst = e; worst_row = row; }
    }
    if (worst <= k->bound) return true;
    snprintf(detail, dn, "row %llu of %llu: relative error %.3g over %.3g", (unsigned long long)worst_row,
             (unsigned long long)rows, worst, k->bound);
    return false;
}

/* The injected fault: the result a wrong kernel would give (the next index;
 * the first row negated and moved, a relative error of 2 or more). */
static void spoil(const sc_case *k, sc_run *got)
{
    if (k->op == SC_ARGMAX) {
        got->idx = (int32_t)((got->idx + 1) % k->n_in);
        return;
    }
    for (uint64_t i = 0; i < row_len(k, got->n_out) && i < got->n_out; i++) got->out[i] = -got->out[i] - 1;
}

int vk_selfcheck_run(backend *be, vk_selfcheck_case_fn on_case, void *user, vk_selfcheck_result *res, gc_err *err)
{
    memset(res, 0, sizeof *res);
    double t0 = gc_now_s();
    sc_list *l = malloc(sizeof *l);
    backend *ref = NULL;
    if (!l) return gc_errf(err, "self-check: out of memory");
    if (ref_backend_create(&ref, err)) {
        free(l);
        return gc_err_prefix(err, "self-check");
    }
    make_cases(l);
    const char *fault = gc_fault_text(GC_FAULT_SELFCHECK);
    int rc = 0;
    for (int i = 0; i < l->n && !rc; i++) {
        const sc_case *k = &l->c[i];
        /* The same seed on both: the same inputs. A case's tensors are not
         * used after it, so its host data goes with it. */
        uint64_t seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ 0xd1b54a32d192ed03ull;
        sc_run want = { .be = ref, .rng = seed }, got = { .be = be, .rng = seed };
        run_case(&want, k);
        run_case(&got, k);
        char detail[sizeof res->detail] = "";
        bool ok = false;
        if (want.failed) {
            gc_errf(err, "self-check case '%s': the reference backend: %s", k->name, want.err.msg);
            rc = -1;
        } else if (got.failed) {
            snprintf(detail, sizeof detail, "%.*s", (int)sizeof detail - 1, got.err.msg);
        } else {
            if (fault && strstr(k->name, fault)) spoil(k, &got);
            ok = compare(k, &want, &got, detail, sizeof detail);
        }
        run_free(&want);
        run_free(&got);
        if (rc) break;
        res->n_cases++;
        if (!ok && !res->n_failed++) {
            snprintf(res->failed, sizeof res->failed, "%s", k->name);
            snprintf(res->detail, sizeof res->detail, "%s", detail);
        }
        if (on_case) on_case(user, k->name, ok, detail);
        if (be->lost) break;   /* nothing more can run on it */
    }
    ref->destroy(ref);
    free(l);
    res->seconds = gc_now_s() - t0;
    return rc;
}

int vk_selfcheck_device(const vk_backend_opts *o, int index, vk_selfcheck_case_fn on_case, void *user,
                        vk_selfcheck_result *res, gc_err *err)
{
    vk_backend_opts co;
    if (o) co = *o;
    else vk_backend_opts_init(&co);
    co.device = index;
    co.gpu_only = false;
    co.model = NULL;
    co.progress = NULL;
    co.notice = NULL;
    co.cache_dir = co.cache_path = NULL;
    backend *be = NULL;
    if (vk_backend_create(&co, &be, err)) return -1;
    int rc = vk_selfcheck_run(be, on_case, user, res, err);
    be->destroy(be);
    return rc;
}

void vk_selfcheck_message(const vk_selfcheck_result *res, const char *device, char *out, size_t n)
{
    char more[48] = "";
    if (res->n_failed > 1) snprintf(more, sizeof more, "; %d more cases failed", res->n_failed - 1);
    snprintf(out, n, "the Vulkan self-check failed on '%s': %s (%s%s)", device, res->failed, res->detail, more);
}

/* ---- the stamp ---- */

void vk_selfcheck_stamp_path(const char *dir, const vk_caps *c, char *out, size_t n)
{
    if (snprintf(out, n, "%s/selfcheck-%04x-%04x.txt", dir, c->vendor_id, c->device_id) >= (int)n && n)
        out[0] = 0;   /* too long: no stamp rather than another file */
}

/* s with control characters (a stamp's separators among them) as spaces. */
static void clean_copy(char *out, size_t n, const char *s)
{
    snprintf(out, n, "%s", s);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
}

/* The stamp's first two lines; their length, or -1 when they do not fit. */
static int stamp_key(const vk_caps *c, uint64_t build, char *out, size_t n)
{
    char uuid[2 * VK_UUID_SIZE + 1], drv[sizeof c->driver];
    for (int i = 0; i < (int)VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", c->cache_uuid[i]);
    clean_copy(drv, sizeof drv, c->driver);
    int k = snprintf(out, n, "gemma-chat vulkan self-check 1\nkey %04x %04x %s %016llx %s\n", c->vendor_id,
                     c->device_id, uuid, (unsigned long long)build, drv);
    return k < 0 || (size_t)k >= n ? -1 : k;
}

void vk_selfcheck_stamp_format(const vk_caps *c, uint64_t build, const vk_selfcheck_result *res, char *out,
                               size_t n)
{
    int k = stamp_key(c, build, out, n);
    if (k < 0) {
        if (n) out[0] = 0;
        return;
    }
    char name[sizeof res->failed], detail[sizeof res->detail];
    clean_copy(name, sizeof name, res->failed);
    clean_copy(detail, sizeof detail, res->detail);
    int v = res->n_failed ? snprintf(out + k, n - (size_t)k, "failed %s\t%s\n", name, detail)
                          : snprintf(out + k, n - (size_t)k, "ok\n");
    if (v < 0 || (size_t)v >= n - (size_t)k) out[0] = 0;
}

bool vk_selfcheck_stamp_parse(const vk_caps *c, uint64_t build, const char *text, vk_selfcheck_result *res)
{
    char key[sizeof c->driver + 200];
    int k = stamp_key(c, build, key, sizeof key);
    if (k < 0 || strncmp(text, key, (size_t)k)) return false;
    const char *v = text + k;
    if (!strcmp(v, "ok\n")) {
        memset(res, 0, sizeof *res);
        return true;
    }
    if (strncmp(v, "failed ", 7)) return false;
    v += 7;
    const char *tab = strchr(v, '\t'), *nl = strchr(v, '\n');
    if (!tab || !nl || tab > nl || nl[1] || tab == v) return false;
    memset(res, 0, sizeof *res);
    res->n_failed = 1;
    snprintf(res->failed, sizeof res->failed, "%.*s", (int)(tab - v), v);
    snprintf(res->detail, sizeof res->detail, "%.*s", (int)(nl - tab - 1), tab + 1);
    return true;
}
