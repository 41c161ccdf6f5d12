/* cpu_backend.c: the native CPU backend (see cpu_backend.h, model/backend.h).
 *
 * Ops execute immediately, as the reference backend's do (model/ref_backend.c);
 * the two share tensors, argument checks, reads served at end_step and the
 * ops with nothing to speed up (model/host_backend.h). What makes it fast:
 *  - matmul: the activation rows are converted once per product to the format
 *    the weight's kernel reads (8-bit blocks for quantized weights), then the
 *    weight rows are split into chunks that the pool's threads claim; each
 *    chunk streams its rows once for all activation rows (cpu/kernels.h).
 *    Products that read the same activations (Q, K and V) convert them once.
 *  - weights stay in the file mapping; the kernel reads them in place.
 *  - attention: a chunk is a block of query rows of one head (prefill) or the
 *    query heads of one KV head (decode); its scores over the keys come from
 *    the F32 matrix kernel (K rows as weights, the queries as activations),
 *    then a SIMD softmax and a weighted sum of V rows that keeps all the
 *    chunk's outputs in registers. K and V rows of a window are read in runs
 *    of consecutive slots (a ring layer wraps once at most).
 * Accumulation is f32 (norm sums in double, as cheap here as f32).
 */
#include "cpu/cpu_backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/clock.h"
#include "cpu/isa.h"
#include "cpu/pool.h"
#include "cpu/repack.h"
#include "model/gguf.h"
#include "model/host_backend.h"
#include "model/quant.h"

/* Activations converted for one product, kept while the source is unchanged.
 * With two terms, row r of the source becomes rows 2r (x in 8 bits) and
 * 2r + 1 (what the first misses, in 8 bits of its own): together ~16 bits. */
typedef struct conv_slot {
    const be_tensor *src;
    uint64_t version;
    int rows, n_in, terms;
    cpu_act act;
    uint8_t *buf;              /* [rows * terms][row_bytes] */
    size_t cap, row_bytes;
} conv_slot;

/* The kernels of one weight type in one layout: `any` for every product,
 * `prefill` (or NULL) instead for products of at least its min_x activation
 * rows. */
typedef struct type_kernels {
    const cpu_matmul_kernel *any, *prefill;
    cpu_layout layout;
} type_kernels;

/* Memory for weights repacked at load: chunks of at least REPACK_CHUNK,
 * filled in order, in transparent huge pages where the kernel gives them
 * (decode streams every weight once a step; with each tensor in pages of its
 * own, the small ones in 4 KiB pages, it ran 5-6% slower, TLB misses most
 * likely). Pages never written are never
 * resident, so a chunk's unused end costs address space only. */
typedef struct repacked {
    struct repacked *next;
    uint8_t *p;
    size_t len, used;
} repacked;
enum { REPACK_CHUNK = 64 << 20 };

typedef struct native {
    host_backend hb;           /* first: a backend * is a native * */
    cpu_pool *pool;
    cpu_isa isa;
    type_kernels by_type[GT_COUNT][CPU_LAYOUT_COUNT];  /* a weight's be_tensor.impl points at its own */
    cpu_layout layout_of[GT_COUNT];  /* the layout each type's weights are repacked to where they can be */
    repacked *repacked;
    cpu_quantize_fn quantize[CPU_ACT_COUNT];  /* the best converter of each format at isa */
    cpu_quantize2_fn quantize2[CPU_ACT_COUNT]; /* the best two-term one (8-bit formats) */
    cpu_vec_ops vec;           /* the f32 vector helpers at isa (attention, GeGLU, norms, argmax) */
    cpu_gemm_fn gemm_f32;      /* the F32 matrix kernel at isa: attention's scores */

    conv_slot conv[2];         /* the last two conversions (geglu's weights may differ in type) */
    int conv_next;
    float *partial;            /* [partial_cap] products per term (and GeGLU's up products) */
    size_t partial_cap;
    float *scores;             /* [threads][scores_per_thread] attention probabilities */
    size_t scores_cap;
    int *kv_ready;             /* [n_layer]: the layer's KV slots populated so far (kv_ahead) */

    bool profile;              /* opts.profile: */
    cpu_profile prof;
    double step_t0;            /* this step's begin_step */
    cpu_pool_times step_pool0; /* the pool's times then */
    int step_rows;             /* the most rows of a product or attention in this step */
} native;

static native *nb_of(backend *be) { return (native *)be; }

/* The kernel for a product of weight matrix w (its type's, given at load in
 * be_tensor.impl) with `rows` activation rows: the one place that chooses
 * between decode and prefill kernels. */
static const cpu_matmul_kernel *kernel_for(const be_tensor *w, int rows)
{
    const type_kernels *tk = w->impl;
    return tk->prefill && rows >= tk->prefill->min_x ? tk->prefill : tk->any;
}

/* Grows *buf to n elements of size sz (contents not kept). */
static bool grow(native *nb, void **buf, size_t *cap, size_t n, size_t sz, const char *what)
{
    if (n <= *cap) return true;   /* n >= 1 here: callers ask for a nonempty buffer */
    void *p = NULL;
    if (posix_memalign(&p, 64, n * sz)) {
        hb_fail(&nb->hb, "out of memory for %s (%zu bytes)", what, n * sz);
        return false;
    }
    free(*buf);
    nb->hb.bytes += (n - *cap) * sz;
    *buf = p;
    *cap = n;
    return true;
}

/* ---------------------------------------------------------------- memory */

/* Rows repacked per slice, about 16 MiB: the source pages of each slice are
 * dropped before the next is read, so that loading never holds much more
 * than one copy of the weights. */
enum { REPACK_SLICE = 16 << 20 };

/* bytes (64-byte aligned) of repack memory, or NULL. */
static uint8_t *repack_alloc(native *nb, size_t bytes)
{
    repacked *c = nb->repacked;
    bytes = (bytes + 63) / 64 * 64;
    if (!c || c->len - c->used < bytes) {
        size_t huge = 2u << 20, len = bytes > REPACK_CHUNK ? (bytes + huge - 1) / huge * huge : REPACK_CHUNK;
        if (!(c = calloc(1, sizeof *c))) return NULL;
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) { free(c); return NULL; }
        madvise(p, len, MADV_HUGEPAGE);
        *c = (repacked){ nb->repacked, p, len, 0 };
        nb->repacked = c;
    }
    c->used += bytes;
    nb->hb.bytes += bytes;
    return c->p + c->used - bytes;
}

/* One slice of a repack, split between the pool's threads: most of its
 * time is the kernel clearing the new pages (and reading the file's), which
 * the threads then do side by side. */
typedef struct pack_job {
    const be_tensor *t;
    uint8_t *dst;
    size_t g0, groups, per;    /* the slice's groups; groups per chunk */
} pack_job;

static void pack_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const pack_job *j = ctx;
    size_t g = j->g0 + (size_t)chunk * j->per, n = j->g0 + j->groups - g < j->per ? j->g0 + j->groups - g : j->per;
    size_t group = CPU_R16_ROWS * j->t->row_bytes;
    cpu_r16_pack(j->t->data + g * group, j->t->row_bytes, j->dst + g * group, (int)j->t->n_in, (int)n);
}

/* t's rows (in the mapping, gt's data) repacked into the R16 layout in
 * repack memory, the mapping's pages released slice by slice. */
static int repack_r16(native *nb, be_tensor *t, const gguf_tensor *gt, gc_err *err)
{
    size_t bytes = (size_t)(t->n_rows * t->row_bytes);
    uint8_t *p = repack_alloc(nb, bytes);
    if (!p) return gc_errf(err, "tensor '%s': out of memory for its repacked rows (%zu bytes)", t->name, bytes);
    size_t group = CPU_R16_ROWS * t->row_bytes, per = REPACK_SLICE / group ? REPACK_SLICE / group : 1;
    size_t groups = t->n_rows / CPU_R16_ROWS, threads = (size_t)cpu_pool_threads(nb->pool);
    for (size_t g = 0; g < groups; g += per) {
        pack_job j = { t, p, g, groups - g < per ? groups - g : per, 0 };
        j.per = (j.groups + threads - 1) / threads;
        cpu_pool_run(nb->pool, (int)((j.groups + j.per - 1) / j.per), pack_chunk, &j);
        gguf_drop_pages(gt, g * group, j.groups * group);
    }
    t->data = p;
    return 0;
}

/* The shared weight, plus its kernels: a type without one is refused at
 * load. A matrix is repacked where its type's best kernels read another
 * layout and it holds whole groups of rows for it. */
static int nb_weight(backend *be, const gguf_tensor *gt, be_tensor **out, gc_err *err)
{
    native *nb = nb_of(be);
    if (hb_weight(be, gt, out, err)) return -1;
    be_tensor *t = *out;
    if (!t->data) return 0;
    if (t->type >= GT_COUNT || !nb->by_type[t->type][CPU_LAYOUT_FILE].any)
        return gc_errf(err, "tensor '%s': the CPU backend has no %s kernel", t->name, quant_type_name(t->type));
    cpu_layout l = nb->layout_of[t->type];
    if (l == CPU_LAYOUT_R16 && t->n_rows % CPU_R16_ROWS == 0 && t->n_in <= INT32_MAX) {
        if (repack_r16(nb, t, gt, err)) return -1;
    } else {
        l = CPU_LAYOUT_FILE;
    }
    t->impl = &nb->by_type[t->type][l];
    return 0;
}

/* Row r of weight t as floats (host_backend.weight_row: the embedding). */
static void nb_weight_row(const be_tensor *t, uint64_t r, float *out)
{
    const type_kernels *tk = t->impl;
    if (tk && tk->layout == CPU_LAYOUT_R16) cpu_r16_dequant_row(t->data, t->row_bytes, r, (int)t->n_in, out);
    else hb_weight_row(t, r, out);
}

static void print_times(const char *kind, const cpu_step_times *t)
{
    if (!t->steps) return;
    double serial = t->step_s - t->pool.run_s;
    fprintf(stderr, "cpu profile: %llu %s steps, %.3f ms each: %.1f pool jobs each, %.1f%% of the time in "
            "them (%.1f%% the caller waiting for workers), %.1f%% serial (%.1f us a step)\n",
            (unsigned long long)t->steps, kind, t->step_s / t->steps * 1e3, (double)t->pool.jobs / t->steps,
            100 * t->pool.run_s / t->step_s, 100 * t->pool.wait_s / t->step_s, 100 * serial / t->step_s,
            serial / t->steps * 1e6);
}

static void nb_destroy(backend *be)
{
    if (!be) return;
    native *nb = nb_of(be);
    if (nb->profile) {
        print_times("decode", &nb->prof.decode);
        print_times("batch", &nb->prof.batch);
    }
    hb_release(&nb->hb);
    for (repacked *r = nb->repacked, *next; r; r = next) {
        next = r->next;
        munmap(r->p, r->len);
        free(r);
    }
    free(nb->scores);
    free(nb->kv_ready);
    for (int i = 0; i < 2; i++) free(nb->conv[i].buf);
    free(nb->partial);
    cpu_pool_destroy(nb->pool);
    free(nb);
}

/* ---------------------------------------------------------------- KV cache */

/* The first write to a page costs a fault (~4 us inside a decode step on a
 * VM, ~1.3 us a page when many are taken in a row), and the cache store of a
 * decode step would take one per layer every other position, on the calling
 * thread with the workers idle. So a layer's pages are populated ahead of
 * use, CPU_KV_AHEAD positions at a time, by the pool's threads, before the
 * store that needs them: the cache stays resident only as far as it is used
 * (it is counted at its full size anyway: memory_used, the context fit). */
enum { POP_BYTES = 64 << 10 };
typedef struct pop_job { uint8_t *p[2]; size_t bytes; int per; } pop_job;

/* Faults in every page of [p, p + n) for writing without changing a byte:
 * each page's first byte of the range written back (the range is this
 * thread's alone). */
static void populate(uint8_t *p, size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    for (uintptr_t q = (uintptr_t)p / pg * pg; q < (uintptr_t)p + n; q += pg) {
        volatile uint8_t *b = (volatile uint8_t *)(q < (uintptr_t)p ? (uintptr_t)p : q);
        *b = *b;
    }
}

static void pop_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const pop_job *j = ctx;
    size_t at = (size_t)(chunk % j->per) * POP_BYTES, n = j->bytes - at < POP_BYTES ? j->bytes - at : POP_BYTES;
    populate(j->p[chunk / j->per] + at, n);
}

static int nb_kv_cache(backend *be, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim, gc_err *err)
{
    native *nb = nb_of(be);
    free(nb->kv_ready);
    nb->kv_ready = NULL;
    if (hb_kv_cache(be, n_layer, n_ctx, slots, n_kv_head, head_dim, err)) return -1;
    if (!(nb->kv_ready = calloc((size_t)n_layer, sizeof *nb->kv_ready))) return gc_errf(err, "kv cache: out of memory");
    return 0;
}

/* Populates layer's slots up to those of positions pos0 .. pos0 + rows - 1
 * and CPU_KV_AHEAD more (a ring's slots are used in order: position p is in
 * slot p % slots). Arguments out of range are left to qk_rope_store's checks. */
static void kv_ahead(native *nb, int layer, int rows, int pos0)
{
    const host_backend *hb = &nb->hb;
    if (!nb->kv_ready || layer < 0 || layer >= hb->n_layer || rows < 1 || pos0 < 0 || pos0 > hb->n_ctx - rows) return;
    int slots = hb->slots[layer], need = pos0 + rows < slots ? pos0 + rows : slots;
    if (need <= nb->kv_ready[layer]) return;
    int to = need + CPU_KV_AHEAD < slots ? need + CPU_KV_AHEAD : slots, from = nb->kv_ready[layer];
    size_t row = (size_t)hb->n_kv_head * hb->head_dim, at = (hb->first_slot[layer] + (size_t)from) * row;
    pop_job j = { { (uint8_t *)(hb->k_cache + at), (uint8_t *)(hb->v_cache + at) },
                  (size_t)(to - from) * row * sizeof(float), 0 };
    j.per = (int)((j.bytes + POP_BYTES - 1) / POP_BYTES);
    cpu_pool_run(nb->pool, 2 * j.per, pop_chunk, &j);
    nb->kv_ready[layer] = to;
}

static void nb_qk_rope_store(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v,
                             const be_tensor *qn, const be_tensor *kn, int rows, int n_head, int pos0,
                             float freq_base, float pos_scale, float eps)
{
    kv_ahead(nb_of(be), layer, rows, pos0);
    hb_qk_rope_store(be, layer, q, k, v, qn, kn, rows, n_head, pos0, freq_base, pos_scale, eps);
}

/* ---------------------------------------------------------------- steps */

static int nb_begin_step(backend *be, gc_err *err)
{
    native *nb = nb_of(be);
    if (hb_begin_step(be, err)) return -1;
    nb->step_rows = 0;
    if (nb->profile) {
        nb->step_pool0 = cpu_pool_times_of(nb->pool);
        nb->step_t0 = gc_now_s();
    }
    return 0;
}

static int nb_end_step(backend *be, gc_err *err)
{
    native *nb = nb_of(be);
    int rc = hb_end_step(be, err);
    if (nb->profile) {
        double t = gc_now_s();
        cpu_pool_times p = cpu_pool_times_of(nb->pool);
        cpu_step_times *s = nb->step_rows > 1 ? &nb->prof.batch : &nb->prof.decode;
        s->steps++;
        s->step_s += t - nb->step_t0;
        s->pool.jobs += p.jobs - nb->step_pool0.jobs;
        s->pool.run_s += p.run_s - nb->step_pool0.run_s;
        s->pool.wait_s += p.wait_s - nb->step_pool0.wait_s;
    }
    return rc;
}

static void note_rows(native *nb, int rows)
{
    if (rows > nb->step_rows) nb->step_rows = rows;
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

/* The argmax (host_backend.argmax) by the level's vector helpers. Capped,
 * with the reference's rule (the first of equal capped values) without
 * capping every value: capped() is monotonic, so the winner is the first
 * value at or above the lowest x whose capped value equals the maximum's;
 * that x is found by bisection over the float order. */
static uint64_t nb_argmax(host_backend *hb, const float *s, uint64_t n, float cap)
{
    const native *nb = (const native *)hb;
    uint64_t m = nb->vec.argmax(s, n);
    if (!(cap > 0) || isnan(s[m])) return m;
    float want = hb_capped(s[m], cap);
    uint32_t lo = fkey(-INFINITY), hi = fkey(s[m]);   /* capped(unkey(hi)) == want */
    if (hb_capped(unkey(lo), cap) == want) hi = lo;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (hb_capped(unkey(mid), cap) == want) hi = mid; else lo = mid;
    }
    return nb->vec.first_at_least(s, m + 1, unkey(hi));
}

/* ---------------------------------------------------------------- ops */

static void norm_rows(native *nb, const char *op, be_tensor *dst, const be_tensor *src, const be_tensor *w,
                      int rows, int cols, float eps, bool add)
{
    if (!hb_op_ok(&nb->hb, op) || !hb_dims_ok(&nb->hb, op, rows, cols, 1)) return;
    uint64_t n = (uint64_t)rows * cols;
    const float *s = hb_f32_in(&nb->hb, src, n, op, "src"); // [rows][cols]
    const float *wf = hb_f32_in(&nb->hb, w, cols, op, "w"); // [cols]
    float *d = hb_f32_out(&nb->hb, dst, n, op, "dst");      // [rows][cols]
    if (!d || !s || !wf) return;
    for (int r = 0; r < rows; r++) nb->vec.rmsnorm(d + (size_t)r * cols, s + (size_t)r * cols, wf, cols, eps, add);
}

static void nb_rmsnorm(backend *be, be_tensor *dst, const be_tensor *src, const be_tensor *w, int rows, int cols,
                       float eps)
{
    norm_rows(nb_of(be), "rmsnorm", dst, src, w, rows, cols, eps, false);
}

static void nb_add_rmsnorm_norm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w, be_tensor *h,
                                const be_tensor *w2, int rows, int cols, float eps)
{
    native *nb = nb_of(be);
    if (hb_op_ok(&nb->hb, "add_rmsnorm_norm") && (h == x || h == o)) {
        hb_fail(&nb->hb, "add_rmsnorm_norm: h is x or o");
        return;
    }
    norm_rows(nb, "add_rmsnorm_norm", x, o, w, rows, cols, eps, true);
    norm_rows(nb, "add_rmsnorm_norm", h, x, w2, rows, cols, eps, false);
}

/* One conversion, CONV_ROWS source rows per chunk: rows are independent and
 * cost as much as a small product's share of a step, so the pool's threads
 * split them. (The blocks of the one row of a decode step could be split
 * too: that measured no faster than the calling thread alone, docs/cpu.md.) */
enum { CONV_ROWS = 4 };
typedef struct conv_job {
    const float *src;          /* [rows][n_in] */
    uint8_t *dst;              /* [rows * terms][row_bytes] */
    cpu_quantize_fn quantize;  /* terms 1 */
    cpu_quantize2_fn quantize2;   /* terms 2 */
    int rows, n_in, terms;
    size_t row_bytes;
} conv_job;

static void conv_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const conv_job *j = ctx;
    int r1 = (chunk + 1) * CONV_ROWS < j->rows ? (chunk + 1) * CONV_ROWS : j->rows;
    for (int r = chunk * CONV_ROWS; r < r1; r++) {
        const float *x = j->src + (size_t)r * j->n_in;
        uint8_t *q = j->dst + (size_t)r * j->terms * j->row_bytes;
        if (j->terms > 1) j->quantize2(x, q, q + j->row_bytes, j->n_in);
        else j->quantize(x, q, j->n_in);
    }
}

/* src's rows converted to format act in `terms` terms (see conv_slot), from
 * the cache when src is unchanged. */
static const uint8_t *converted(native *nb, const be_tensor *src, int rows, int n_in, int terms, cpu_act act,
                                size_t row_bytes)
{
    for (int i = 0; i < 2; i++) {
        conv_slot *c = &nb->conv[i];
        if (c->src == src && c->version == src->version && c->rows >= rows && c->n_in == n_in &&
            c->terms == terms && c->act == act)
            return c->buf;
    }
    conv_slot *c = &nb->conv[nb->conv_next];
    nb->conv_next ^= 1;
    c->src = NULL;
    if (!grow(nb, (void **)&c->buf, &c->cap, (size_t)rows * terms * row_bytes, 1, "converted activations"))
        return NULL;
    conv_job j = { src->f, c->buf, nb->quantize[act], nb->quantize2[act], rows, n_in, terms, row_bytes };
    cpu_pool_run(nb->pool, (rows + CONV_ROWS - 1) / CONV_ROWS, conv_chunk, &j);
    *c = (conv_slot){ src, src->version, rows, n_in, terms, act, c->buf, c->cap, row_bytes };
    return c->buf;
}

/* One product over rows [chunk * chunk_rows, ...) of w (and w2 for GeGLU). */
typedef struct mm_job {
    const native *nb;
    const be_tensor *w, *w2;   /* w2: GeGLU's up weight, or NULL */
    const cpu_matmul_kernel *k, *k2;   /* their kernels for this product */
    const uint8_t *xa, *xa2;   /* converted activations for w and w2: [n_x * terms] rows each */
    size_t xa_stride, xa2_stride;
    int terms, terms2;         /* rows per activation row in xa, xa2 (1, or 2: two-term) */
    float *out;                /* [n_x][n_out] */
    float *part, *part2;       /* [n_x * terms][n_out]: per-term products (GeGLU: both weights'),
                                  or NULL: w's products go straight to out */
    int n_in, n_x, n_out, chunk_rows;
} mm_job;

/* d[r] = the sum over the terms of one activation row's products at output
 * row r, for r < nr: p holds the row's first term, the second n_out further
 * (n_out >= nr). d may be p itself (GeGLU's up products are summed in place):
 * each group of 8 is read whole before it is written, which also lets the
 * compiler turn the group into vector adds. */
static void term_sum(float *d, const float *p, int terms, size_t n_out, int nr)
{
    if (terms == 1) {
        if (d != p) memcpy(d, p, (size_t)nr * sizeof *d);
        return;
    }
    const float *p1 = p + n_out;
    int r = 0;
    for (; r + 8 <= nr; r += 8) {
        float t[8];
        for (int i = 0; i < 8; i++) t[i] = p[r + i] + p1[r + i];
        memcpy(d + r, t, sizeof t);
    }
    for (; r < nr; r++) d[r] = p[r] + p1[r];
}

static void mm_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const mm_job *j = ctx;
    int r0 = chunk * j->chunk_rows;
    int nr = j->n_out - r0 < j->chunk_rows ? j->n_out - r0 : j->chunk_rows;
    float *o = j->part ? j->part : j->out;
    j->k->gemm(j->n_in, nr, j->n_x * j->terms, j->w->data + (size_t)r0 * j->w->row_bytes, j->w->row_bytes,
               j->xa, j->xa_stride, o + r0, (size_t)j->n_out);
    if (j->w2)
        j->k2->gemm(j->n_in, nr, j->n_x * j->terms2, j->w2->data + (size_t)r0 * j->w2->row_bytes,
                    j->w2->row_bytes, j->xa2, j->xa2_stride, j->part2 + r0, (size_t)j->n_out);
    if (!j->part) return;
    for (int x = 0; x < j->n_x; x++) {
        float *d = j->out + (size_t)x * j->n_out + r0;
        float *u = j->w2 ? j->part2 + (size_t)x * j->terms2 * j->n_out + r0 : NULL;   /* this chunk's own */
        term_sum(d, j->part + (size_t)x * j->terms * j->n_out + r0, j->terms, (size_t)j->n_out, nr);
        if (!u) continue;
        term_sum(u, u, j->terms2, (size_t)j->n_out, nr);
        j->nb->vec.geglu(d, u, nr);
    }
}

/* Terms of the activation conversion for kernel k: two for 8-bit formats
 * (8-bit activations alone put 2-3e-2 of error on the logits of small
 * models: see docs/cpu.md), one for f32 and bf16. */
static int terms_for(const cpu_matmul_kernel *k)
{
    return k->act == CPU_ACT_Q8_32 || k->act == CPU_ACT_Q8_K ? 2 : 1;
}

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
    if (!hb_op_ok(&nb->hb, op) || !hb_dims_ok(&nb->hb, op, rows, n_in, n_out)) return;
    const float *s = hb_f32_in(&nb->hb, src, (uint64_t)rows * n_in, op, "src"); // [rows][n_in]
    if (!s || !hb_matrix_ok(&nb->hb, w, n_in, n_out, op) || (w2 && !hb_matrix_ok(&nb->hb, w2, n_in, n_out, op))) return;
    if (dst == src) { hb_fail(&nb->hb, "%s: dst and src are the same tensor '%s'", op, dst->name); return; }
    float *d = hb_f32_out(&nb->hb, dst, (uint64_t)rows * n_out, op, "dst"); // [rows][n_out]
    if (!d) return;
    note_rows(nb, rows);
    const cpu_matmul_kernel *k = kernel_for(w, rows), *k2 = w2 ? kernel_for(w2, rows) : NULL;
    mm_job j = { .nb = nb, .w = w, .w2 = w2, .k = k, .k2 = k2, .out = d, .n_in = n_in, .n_x = rows, .n_out = n_out,
                 .chunk_rows = chunk_rows_for(nb, n_out), .terms = terms_for(k), .terms2 = k2 ? terms_for(k2) : 0 };
    cpu_act act = k->act;
    j.xa_stride = cpu_act_row_bytes(act, n_in);
    if (!(j.xa = converted(nb, src, rows, n_in, j.terms, act, j.xa_stride))) return;
    if (w2) {
        cpu_act act2 = k2->act;
        j.xa2_stride = cpu_act_row_bytes(act2, n_in);
        if (!(j.xa2 = converted(nb, src, rows, n_in, j.terms2, act2, j.xa2_stride))) return;
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
    if (hb_op_ok(&nb->hb, "matmul_geglu") && !wup) { hb_fail(&nb->hb, "matmul_geglu: no up weight"); return; }
    run_matmul(nb, "matmul_geglu", dst, wgate, wup, src, rows, n_in, n_ff);
}

/* Query rows per prefill chunk: their scores and the K / V rows they share
 * stay in the core's cache while the chunk runs. */
enum { ATTN_ROWS = 16 };

typedef struct attn_job {
    native *nb;
    float *out;                /* [rows][n_head][head_dim] */
    const float *q;            /* [rows][n_head][head_dim] */
    int layer, rows, pos0;
    int heads_per_chunk;       /* decode: query heads of one KV head per chunk */
    size_t scores_per_thread;  /* floats of nb->scores each thread has */
    be_attn_params p;
} attn_job;

/* The oldest key position query position qpos sees (older ones are masked). */
static int first_key(const be_attn_params *p, int qpos)
{
    return p->window > 0 && qpos - p->window + 1 > 0 ? qpos - p->window + 1 : 0;
}

/* Positions t .. t + run - 1 (run <= n) lie in consecutive slots of layer. */
static int slot_run(const host_backend *hb, int layer, int t, int n)
{
    int left = hb->slots[layer] - t % hb->slots[layer];
    return left < n ? left : n;
}

/* Attention of n_x query vectors of KV head g: vector x at q + x * stride
 * (floats), at position qpos0 + x * qpos_step, its output at out + x * stride.
 * Scores fill the rectangle of keys first_key(first) .. last query position;
 * each row's softmax covers its own keys, the rest of the row is zero. */
static void attn_block(const attn_job *j, int thread, int g, const float *q, float *out, size_t stride, int n_x,
                       int qpos0, int qpos_step)
{
    const be_attn_params *p = &j->p;
    const host_backend *hb = &j->nb->hb;
    int hd = p->head_dim, lo = first_key(p, qpos0), hi = qpos0 + (n_x - 1) * qpos_step, span = hi - lo + 1;
    size_t kv_row = (size_t)hb->n_kv_head * hd;
    float *sc = j->nb->scores + (size_t)thread * j->scores_per_thread;   /* [n_x][span] */
    for (int t = lo, run; t <= hi; t += run) {
        run = slot_run(hb, j->layer, t, hi - t + 1);
        const float *k = hb->k_cache + hb_cache_index(hb, j->layer, t) + (size_t)g * hd;
        j->nb->gemm_f32(hd, run, n_x, (const uint8_t *)k, kv_row * sizeof(float), (const uint8_t *)q,
                        stride * sizeof(float), sc + (t - lo), (size_t)span);
    }
    for (int x = 0; x < n_x; x++) {
        int qpos = qpos0 + x * qpos_step, a = first_key(p, qpos) - lo, b = qpos - lo;
        float *row = sc + (size_t)x * span;
        memset(row, 0, (size_t)a * sizeof *row);
        memset(row + b + 1, 0, (size_t)(span - b - 1) * sizeof *row);
        j->nb->vec.softmax(row + a, b - a + 1, p->scale, p->softcap);
        memset(out + x * stride, 0, (size_t)hd * sizeof *out);
    }
    for (int t = lo, run; t <= hi; t += run) {
        run = slot_run(hb, j->layer, t, hi - t + 1);
        const float *v = hb->v_cache + hb_cache_index(hb, j->layer, t) + (size_t)g * hd;
        j->nb->vec.wsum(n_x, run, hd, sc + (t - lo), (size_t)span, v, kv_row, out, stride);
    }
}

static void attn_chunk(void *ctx, int chunk, int thread)
{
    const attn_job *j = ctx;
    const be_attn_params *p = &j->p;
    int hd = p->head_dim, per_kv = p->n_head / p->n_kv_head;
    if (j->rows == 1) {
        int h0 = chunk * j->heads_per_chunk;
        attn_block(j, thread, h0 / per_kv, j->q + (size_t)h0 * hd, j->out + (size_t)h0 * hd, (size_t)hd,
                   j->heads_per_chunk, j->pos0, 0);
        return;
    }
    int h = chunk % p->n_head, r0 = chunk / p->n_head * ATTN_ROWS;
    int n = j->rows - r0 < ATTN_ROWS ? j->rows - r0 : ATTN_ROWS;
    size_t at = ((size_t)r0 * p->n_head + h) * hd;
    attn_block(j, thread, h / per_kv, j->q + at, j->out + at, (size_t)p->n_head * hd, n, j->pos0 + r0, 1);
}

static void nb_attention(backend *be, be_tensor *out, const be_tensor *q, int layer, int rows, int pos0,
                         const be_attn_params *p)
{
    native *nb = nb_of(be);
    if (!hb_op_ok(&nb->hb, "attention") || !hb_dims_ok(&nb->hb, "attention", rows, 1, 1) ||
        !hb_cache_pos_ok(&nb->hb, "attention", layer, rows, pos0)) return;
    if (!hb_attn_ok(&nb->hb, p, layer, rows)) return;
    uint64_t n = (uint64_t)rows * p->n_head * p->head_dim;
    const float *qf = hb_f32_in(&nb->hb, q, n, "attention", "q");
    if (!qf) return;
    if (out == q) { hb_fail(&nb->hb, "attention: out and q are the same tensor '%s'", out->name); return; }
    float *o = hb_f32_out(&nb->hb, out, n, "attention", "out");
    if (!o) return;
    note_rows(nb, rows);
    int threads = cpu_pool_threads(nb->pool), per_kv = p->n_head / p->n_kv_head;
    attn_job j = { .nb = nb, .out = o, .q = qf, .layer = layer, .rows = rows, .pos0 = pos0, .p = *p,
                   .heads_per_chunk = per_kv };
    /* Decode: the query heads of a KV head share its K / V rows, split while
     * that leaves threads without a chunk. */
    while (rows == 1 && j.heads_per_chunk % 2 == 0 && p->n_kv_head * (per_kv / j.heads_per_chunk) < threads)
        j.heads_per_chunk /= 2;
    int n_x = rows == 1 ? j.heads_per_chunk : rows < ATTN_ROWS ? rows : ATTN_ROWS;
    int span = nb->hb.n_ctx;   /* a chunk's keys: its window and its rows past the first, or all */
    if (p->window > 0 && p->window + n_x - 1 < span) span = p->window + n_x - 1;
    j.scores_per_thread = (size_t)n_x * span;
    if (!grow(nb, (void **)&nb->scores, &nb->scores_cap, (size_t)threads * j.scores_per_thread, sizeof(float),
              "attention scores")) return;
    int chunks = rows == 1 ? p->n_head / j.heads_per_chunk : p->n_head * ((rows + ATTN_ROWS - 1) / ATTN_ROWS);
    cpu_pool_run(nb->pool, chunks, attn_chunk, &j);
}

typedef struct cap_job { float *x; uint64_t n, per; float cap; } cap_job;

static void cap_chunk(void *ctx, int chunk, int thread)
{
    (void)thread;
    const cap_job *j = ctx;
    uint64_t a = (uint64_t)chunk * j->per, b = a + j->per < j->n ? a + j->per : j->n;
    for (uint64_t i = a; i < b; i++) j->x[i] = hb_capped(j->x[i], j->cap);
}

static void nb_softcap(backend *be, be_tensor *x, uint64_t n, float cap)
{
    native *nb = nb_of(be);
    if (!hb_op_ok(&nb->hb, "softcap")) return;
    if (!(cap > 0)) { hb_fail(&nb->hb, "softcap: cap %g is not positive", cap); return; }
    float *xf = hb_f32_out(&nb->hb, x, n, "softcap", "x");
    if (!xf || !n) return;
    cap_job j = { xf, n, 16384, cap };
    cpu_pool_run(nb->pool, (int)((n + j.per - 1) / j.per), cap_chunk, &j);
}

static const backend native_ops = {
    .name = "cpu",
    .weight = nb_weight,
    .activation = hb_activation,
    .kv_cache = nb_kv_cache,
    .destroy = nb_destroy,
    .begin_step = nb_begin_step,
    .end_step = nb_end_step,
    .embed = hb_embed,
    .rmsnorm = nb_rmsnorm,
    .add_rmsnorm_norm = nb_add_rmsnorm_norm,
    .matmul = nb_matmul,
    .matmul_geglu = nb_matmul_geglu,
    .qk_rope_store = nb_qk_rope_store,
    .attention = nb_attention,
    .copy = hb_copy,
    .softcap = nb_softcap,
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

void cpu_backend_opts_init(cpu_backend_opts *o)
{
    const char *prof = getenv("GEMMA_CHAT_CPU_PROFILE");
    const char *repack = getenv("GEMMA_CHAT_CPU_REPACK");
    *o = (cpu_backend_opts){ .threads = 0, .isa = -1, .profile = prof && !strcmp(prof, "1"),
                             .repack = !repack || strcmp(repack, "0") };
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
    hb_init(&nb->hb, &native_ops, "cpu backend", nb_argmax);
    nb->isa = isa;
    nb->profile = o->profile;
    for (int a = 0; a < CPU_ACT_COUNT; a++) {
        nb->quantize[a] = cpu_quantizer_for((cpu_act)a, isa);
        nb->quantize2[a] = cpu_quantizer2_for((cpu_act)a, isa);
    }
    nb->vec = cpu_vec_for(isa);
    nb->hb.rope_rotate = nb->vec.rope;
    nb->hb.weight_row = nb_weight_row;
    nb->gemm_f32 = cpu_kernel_for(GT_F32, CPU_LAYOUT_FILE, isa, NULL, NULL)->gemm;
    for (uint32_t t = 0; t < GT_COUNT; t++) {
        for (int l = 0; l < CPU_LAYOUT_COUNT; l++)
            nb->by_type[t][l] = (type_kernels){ cpu_kernel_for(t, (cpu_layout)l, isa, NULL, NULL),
                                                cpu_prefill_kernel_for(t, (cpu_layout)l, isa), (cpu_layout)l };
        nb->layout_of[t] = o->repack ? cpu_layout_for(t, isa) : CPU_LAYOUT_FILE;
    }
    if (cpu_pool_create(&nb->pool, threads, err)) {
        free(nb);
        return gc_err_prefix(err, "cpu backend");
    }
    cpu_pool_profile(nb->pool, o->profile);
    snprintf(nb->hb.base.device_name, sizeof nb->hb.base.device_name, "CPU (%s, %d thread%s)", cpu_isa_name(isa),
             threads, threads == 1 ? "" : "s");
    *out = &nb->hb.base;
    return 0;
}

cpu_isa cpu_backend_isa(const backend *be) { return ((const native *)be)->isa; }
int cpu_backend_threads(const backend *be) { return cpu_pool_threads(((const native *)be)->pool); }
cpu_profile cpu_backend_profile(const backend *be) { return ((const native *)be)->prof; }
