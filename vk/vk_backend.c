/* vk_backend.c: model/backend.h on Vulkan (see vk_backend.h).
 *
 * Ops return nothing (backend.h): a bad argument or a failed allocation while
 * recording is remembered, the rest of the step is skipped and end_step
 * reports the first failure. Device loss is sticky: every later step fails.
 */
#include "vk/vk_backend.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/quant.h"
#include "vk/vk_device.h"
#include "base/buf.h"
#include "base/fault.h"
#include "vk/vk_kernels.h"
#include "vk/vk_mem.h"
#include "vk/vk_pipe.h"

#define STAGING_BYTES (64ull << 20)
#define ARENA_BYTES (4ull << 20)
#define PROF_MAX 8192
#define PROF_KEYS (VK_K_COUNT * 32 * 2 * 2)   /* kernel x weight type x GEGLU x (1 row | more) */

typedef struct wchunk {
    uint64_t row0, rows;
    vk_buf qs, aux;
} wchunk;

struct be_tensor {
    be_tensor *next;
    char name[80];
    bool is_matrix;          /* a repacked weight matrix; else an f32 buffer */
    uint64_t n;              /* f32 buffers: floats */
    vk_buf buf;              /* f32 buffers (activations, 1-D weights) */
    /* matrices [n_out][n_in] */
    vk_wlayout lay;
    uint64_t n_in, n_out, nsb;
    uint32_t n_chunks;
    wchunk *chunks;
};

/* Per-step host-visible space (token ids in, results out), reset each step. */
typedef struct arena {
    vk_buf *bufs;
    uint64_t *used;
    uint32_t n, cap;
    enum vk_mem_kind kind;
    const char *name;
} arena;

typedef struct host_copy { const void *src; void *dst; uint64_t bytes; } host_copy;

typedef struct vk_backend {
    backend base;            /* first: a backend * is a vk_backend * */
    vk_backend_opts opts;
    vk_instance *vi;
    vk_device *dev;
    int device_index;        /* in the instance's list (`gemma-chat devices`) */
    vk_mem *mem;
    vk_pipes *pipes;
    vk_upload *up;
    vk_kcaps kc;
    bool kv_f16;             /* decided by kv_cache() */
    bool all_f32;            /* every weight matrix so far is F32 */
    be_tensor *tensors;
    vk_buf dummy;            /* bound to bindings a variant does not use */

    /* KV cache: per layer [slots[l]][n_kv_head][head_dim], f16 pairs or f32, for
     * positions 0..n_ctx-1 (position p in slot p % slots[l]: backend.h) */
    int n_layer, n_ctx, n_kv_head, head_dim;
    int *slots;              /* [n_layer] */
    vk_buf *kcache, *vcache;

    /* prefill GeGLU scratch: [rows][n_ff] gate and up products */
    be_tensor *scratch_g, *scratch_u;
    /* matvec_dp's input: [rows][units] 8-bit x blocks (VK_XQ_BLOCK_BYTES each),
     * and what they hold: the rows of xq_src as its last write (w_gen, w_op)
     * left them, so that q, k and v (or gate and up) convert one x once */
    be_tensor *scratch_xq;
    const vk_buf *xq_src;
    uint32_t xq_wgen, xq_wop, xq_rows, xq_n_in;

    /* the step */
    VkCommandPool pool;
    VkCommandBuffer cb;
    VkFence fence;
    bool in_step, failed, lost;
    gc_err step_err;
    uint32_t gen;            /* barrier generation, see dispatch() */
    uint32_t op_seq;         /* op counter: the pieces of one op write disjoint ranges, no barrier between */
    VkPipeline bound;
    arena tok, rb;
    host_copy *copies;
    uint32_t n_copies;
    size_t cap_copies;

    uint64_t weight_total, weight_done, weight_bytes;
    vk_backend_stats st;
    bool trace;              /* GEMMA_CHAT_VK_TRACE=1: print each barrier and why */
    /* GEMMA_CHAT_VK_PROFILE=1: a timestamp after every dispatch; per-kernel
     * totals printed to stderr when the backend is destroyed. */
    VkQueryPool qpool;
    bool prof_batch;         /* this step embedded more than one token */
    uint32_t n_q;            /* timestamps written this step (slot 0: step start) */
    uint32_t *q_kind;        /* [PROF_MAX]: profile key of the dispatch ending at slot i */
    double prof_ns[PROF_KEYS];
    uint64_t prof_n[PROF_KEYS];
} vk_backend;

static vk_backend *vb_of(backend *be) { return (vk_backend *)be; }

/* Records the first failure of a step; end_step reports it. */
__attribute__((format(printf, 2, 3)))
static void fail(vk_backend *b, const char *fmt, ...)
{
    if (b->failed) return;
    b->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->step_err.msg, sizeof b->step_err.msg, fmt, ap);
    va_end(ap);
}

static void fail_err(vk_backend *b, const gc_err *e)
{
    fail(b, "%s", e->msg);
}

static bool op_ok(vk_backend *b, const char *op)
{
    if (b->failed) return false;
    if (!b->in_step) { fail(b, "vulkan backend: %s called outside begin_step/end_step", op); return false; }
    b->op_seq++;
    return true;
}

/* An f32 tensor holding at least `need` floats, else the step fails. */
static bool f32_ok(vk_backend *b, const be_tensor *t, uint64_t need, const char *op, const char *what)
{
    if (!t) { fail(b, "vulkan backend: %s: %s is NULL", op, what); return false; }
    if (t->is_matrix) { fail(b, "vulkan backend: %s: %s '%s' is a weight matrix, not f32 data", op, what, t->name); return false; }
    if (need > t->n) {
        fail(b, "vulkan backend: %s: %s '%s' holds %llu floats, the op needs %llu", op, what, t->name,
             (unsigned long long)t->n, (unsigned long long)need);
        return false;
    }
    return true;
}

/* ---- arenas ---- */

static int arena_alloc(vk_backend *b, arena *a, uint64_t bytes, vk_buf **buf, uint64_t *off)
{
    uint64_t cap = ARENA_BYTES < b->dev->caps.max_storage_range ? ARENA_BYTES : b->dev->caps.max_storage_range;
    if (bytes > cap) { fail(b, "vulkan backend: %s request of %llu bytes over %llu", a->name,
                            (unsigned long long)bytes, (unsigned long long)cap); return -1; }
    for (uint32_t i = 0; i < a->n; i++) {
        uint64_t o = (a->used[i] + 15) & ~15ull;
        if (o + bytes <= a->bufs[i].size) { a->used[i] = o + bytes; *buf = &a->bufs[i]; *off = o; return 0; }
    }
    if (a->n == a->cap) {
        uint32_t nc = a->cap ? 2 * a->cap : 4;
        vk_buf *nb = realloc(a->bufs, nc * sizeof *nb);
        if (nb) a->bufs = nb;
        uint64_t *nu = realloc(a->used, nc * sizeof *nu);
        if (nu) a->used = nu;
        if (!nb || !nu) { fail(b, "vulkan backend: out of memory"); return -1; }
        a->cap = nc;
    }
    gc_err e = {0};
    if (vk_buf_create(b->mem, a->kind, cap, a->name, &a->bufs[a->n], &e)) { fail_err(b, &e); return -1; }
    a->used[a->n] = bytes;
    *buf = &a->bufs[a->n++];
    *off = 0;
    return 0;
}

static void arena_reset(arena *a)
{
    for (uint32_t i = 0; i < a->n; i++) a->used[i] = 0;
}

static void add_host_copy(vk_backend *b, const void *src, void *dst, uint64_t bytes)
{
    if (GC_GROW(b->copies, b->cap_copies, b->n_copies + 1)) {
        fail(b, "vulkan backend: out of memory");
        return;
    }
    b->copies[b->n_copies++] = (host_copy){ src, dst, bytes };
}

/* ---- recording ---- */

/* One global memory barrier between compute/transfer work. `hazard` names
 * what it covers ("RAW" etc.) and `buf` the buffer that needed it; a trace
 * prints both. Everything recorded before it completes (and its writes are
 * visible) before anything after it starts. */
static void barrier(vk_backend *b, const char *hazard, const vk_buf *buf)
{
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                            VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT };
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(b->cb, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    if (b->trace) fprintf(stderr, "vk barrier: %s on %s\n", hazard, buf ? buf->name : "(step)");
    b->gen++;
    b->st.barriers++;
    b->st.last_barriers++;
}

/* Hazard check for one buffer the next command touches: read ('r'), written
 * ('w') or both ('b'). Generations: a buffer's w_gen/r_gen equal to b->gen
 * means it was written/read since the last barrier. */
static void track(vk_backend *b, vk_buf *buf, char access)
{
    bool rd = access == 'r' || access == 'b', wr = access == 'w' || access == 'b';
    if (rd && buf->w_gen == b->gen) barrier(b, "read-after-write", buf);
    else if (wr && buf->w_gen == b->gen && buf->w_op != b->op_seq) barrier(b, "write-after-write", buf);
    else if (wr && buf->r_gen == b->gen) barrier(b, "write-after-read", buf);
}

static void mark(vk_backend *b, vk_buf *buf, char access)
{
    if (access == 'r' || access == 'b') buf->r_gen = b->gen;
    if (access == 'w' || access == 'b') { buf->w_gen = b->gen; buf->w_op = b->op_seq; }
}

/* Records one dispatch of variant v over bufs (NULL = the dummy buffer, for
 * bindings the variant does not use). How each binding is accessed, for the
 * barriers, comes from the kernel table (vk_kernel_info). */
static void dispatch(vk_backend *b, const vk_variant *v, vk_buf **bufs, const void *push, uint32_t gx, uint32_t gy,
                     uint32_t gz)
{
    if (b->failed) return;
    if (!gx || !gy || !gz) return;
    const uint32_t *lim = b->dev->caps.max_wg_count;
    if (gx > lim[0] || gy > lim[1] || gz > lim[2]) {
        fail(b, "vulkan backend: dispatch of %ux%ux%u workgroups exceeds the device limit %ux%ux%u",
             gx, gy, gz, lim[0], lim[1], lim[2]);
        return;
    }
    const vk_pipeline *pl;
    gc_err e = {0};
    if (vk_pipes_get(b->pipes, v, &pl, &e)) { fail_err(b, &e); return; }
    const vk_kernel_desc *k = pl->desc;
    VkBuffer vb[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < k->n_bind; i++) {
        vb[i] = bufs[i] ? bufs[i]->buf : b->dummy.buf;
        if (bufs[i]) track(b, bufs[i], k->bind[i].access);
    }
    for (uint32_t i = 0; i < k->n_bind; i++)
        if (bufs[i]) mark(b, bufs[i], k->bind[i].access);
    if (b->trace) {
        fprintf(stderr, "vk dispatch %s %ux%ux%u:", k->name, gx, gy, gz);
        for (uint32_t i = 0; i < k->n_bind; i++)
            if (bufs[i]) fprintf(stderr, " %s=%s(%c)", k->bind[i].name, bufs[i]->name, k->bind[i].access);
        fprintf(stderr, "\n");
    }
    VkDescriptorSet set;
    if (vk_pipes_set(b->pipes, pl, vb, &set, &e)) { fail_err(b, &e); return; }
    if (b->bound != pl->pipe) {
        vkCmdBindPipeline(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pl->pipe);
        b->bound = pl->pipe;
    }
    vkCmdBindDescriptorSets(b->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pl->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(b->cb, pl->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, k->push_size, push);
    vkCmdDispatch(b->cb, gx, gy, gz);
    if (b->qpool && b->n_q < PROF_MAX) {
        bool mm = v->kernel == VK_K_MATVEC || v->kernel == VK_K_MATVEC_DP || v->kernel == VK_K_MATMAT;
        uint32_t ty = mm ? v->spec[1] % 32 : 0, geglu = mm && v->kernel != VK_K_MATMAT && v->spec[4];
        b->q_kind[b->n_q] = (((uint32_t)v->kernel * 32 + ty) * 2 + geglu) * 2 + b->prof_batch;
        vkCmdWriteTimestamp(b->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, b->qpool, b->n_q++);
    }
    b->st.dispatches++;
    b->st.last_dispatches++;
}

/* Workgroup grid for `groups` groups: x up to the device limit, rest in y
 * (shaders linearize x + y * num_x and skip the excess). */
static void grid_1d(const vk_backend *b, uint64_t groups, uint32_t *gx, uint32_t *gy)
{
    uint64_t lim = b->dev->caps.max_wg_count[0];
    if (lim > 65535) lim = 65535;
    if (groups <= lim) { *gx = (uint32_t)groups; *gy = 1; return; }
    *gx = (uint32_t)lim;
    *gy = (uint32_t)((groups + lim - 1) / lim);
}

static uint32_t u32(uint64_t v) { return (uint32_t)v; }

/* Offsets and sizes reach the shaders as 32-bit element indices. */
static bool fits_u32(vk_backend *b, uint64_t v, const char *op)
{
    if (v <= UINT32_MAX) return true;
    fail(b, "vulkan backend: %s: size %llu is beyond 32-bit indexing", op, (unsigned long long)v);
    return false;
}

/* ---- memory ops ---- */

static be_tensor *new_tensor(vk_backend *b, const char *name)
{
    be_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "tensor");
    t->next = b->tensors;
    b->tensors = t;
    return t;
}

static void progress(vk_backend *b, uint64_t bytes)
{
    b->weight_done += bytes;
    if (b->opts.progress) {
        uint64_t total = b->weight_total > b->weight_done ? b->weight_total : b->weight_done;
        b->opts.progress(b->opts.progress_user, b->weight_done, total);
    }
}

/* Largest rows per buffer for a matrix: each piece must be bindable whole
 * (maxStorageBufferRange) and allocatable (maxMemoryAllocationSize). */
static uint64_t rows_per_chunk(const vk_caps *c, uint64_t row_qs, uint64_t row_aux)
{
    uint64_t lim = c->max_storage_range < c->max_alloc ? c->max_storage_range : c->max_alloc;
    uint64_t r = lim / row_qs;
    if (row_aux) {
        uint64_t ra = (lim - 4) / row_aux;
        if (ra < r) r = ra;
    }
    return r;
}

static int upload_matrix(vk_backend *b, be_tensor *t, const gguf_tensor *g, gc_err *err)
{
    uint64_t n_rows = g->ne[1] * g->ne[2] * g->ne[3];
    if (vk_wlayout_of(g->type, &t->lay, err)) return gc_err_prefix(err, "tensor '%s'", t->name);
    uint64_t row_bytes;
    if (quant_row_bytes(g->type, g->ne[0], &row_bytes, err)) return gc_err_prefix(err, "tensor '%s'", t->name);
    t->n_in = g->ne[0];
    t->n_out = n_rows;
    t->nsb = vk_wlayout_nsb(&t->lay, t->n_in);
    uint64_t row_qs = t->nsb * t->lay.qs_u4 * 16, row_aux = t->nsb * t->lay.aux_h * 2;
    uint64_t per = rows_per_chunk(&b->dev->caps, row_qs, row_aux);
    if (per == 0)
        return gc_errf(err, "vulkan: tensor '%s': one row (%llu bytes) exceeds the device's buffer range (%llu)",
                       t->name, (unsigned long long)row_qs, (unsigned long long)b->dev->caps.max_storage_range);
    if (t->n_in > UINT32_MAX || n_rows > UINT32_MAX)
        return gc_errf(err, "vulkan: tensor '%s' is too large", t->name);
    t->n_chunks = (uint32_t)((n_rows + per - 1) / per);
    if (t->n_chunks > b->st.max_pieces) b->st.max_pieces = t->n_chunks;
    t->chunks = calloc(t->n_chunks, sizeof *t->chunks);
    if (!t->chunks) return gc_errf(err, "vulkan: out of memory");
    const uint8_t *src = g->data;
    for (uint32_t c = 0; c < t->n_chunks; c++) {
        wchunk *ch = &t->chunks[c];
        ch->row0 = c * per;
        ch->rows = n_rows - ch->row0 < per ? n_rows - ch->row0 : per;
        if (vk_buf_create(b->mem, VK_MEM_DEVICE, vk_wlayout_qs_bytes(&t->lay, t->n_in, ch->rows), t->name, &ch->qs,
                          err))
            return -1;
        if (row_aux && vk_buf_create(b->mem, VK_MEM_DEVICE, vk_wlayout_aux_bytes(&t->lay, t->n_in, ch->rows), t->name,
                                     &ch->aux, err))
            return -1;
        b->weight_bytes += ch->qs.size + ch->aux.size;
        /* Rows per upload piece: what the staging buffer holds (all on unified memory). */
        uint64_t umax = vk_upload_max(b->up);
        uint64_t group = umax == UINT64_MAX ? ch->rows : (umax - 64) / (row_qs + row_aux);
        if (group == 0) return gc_errf(err, "vulkan: tensor '%s': a row does not fit the staging buffer", t->name);
        for (uint64_t r = 0; r < ch->rows; r += group) {
            uint64_t n = ch->rows - r < group ? ch->rows - r : group;
            void *qs, *aux = NULL;
            uint64_t qs_n = vk_wlayout_qs_bytes(&t->lay, t->n_in, n), aux_n = n * row_aux;
            if (vk_upload_reserve(b->up, qs_n + aux_n + 32, err)) return -1;
            if (vk_upload_map(b->up, &ch->qs, r * row_qs, qs_n, &qs, err)) return -1;
            if (row_aux && vk_upload_map(b->up, &ch->aux, r * row_aux, aux_n, &aux, err)) return -1;
            vk_repack_rows(&t->lay, src + (ch->row0 + r) * row_bytes, t->n_in, n, qs, aux);
            progress(b, n * row_bytes);
        }
    }
    return 0;
}

/* After a weight is on the device, its pages of the file mapping are given
 * back (MADV_DONTNEED), so the process does not keep a second copy of the
 * weights resident. Safe because the mapping is a private, read-only file
 * map: a later read (nothing in gemma-chat does one) faults the bytes in from
 * the file again. Only for files gguf_open mapped itself; in-memory files
 * (tests, fuzzing) are left alone, since DONTNEED would zero their memory. */
static void release_host_copy(vk_backend *b, const gguf_tensor *g)
{
    const gguf_file *f = b->opts.model;
    if (!f || !f->owns_map || !g->data) return;
    uintptr_t lo = (uintptr_t)g->data, hi = lo + g->n_bytes, m0 = (uintptr_t)f->map;
    if (lo < m0 || hi > m0 + f->size) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    lo = (lo + page - 1) / page * page;   /* whole pages inside the tensor only */
    hi = hi / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    b->st.host_bytes_released += hi > lo ? hi - lo : 0;
}

static int vb_weight(backend *be, const gguf_tensor *g, be_tensor **out, gc_err *err)
{
    vk_backend *b = vb_of(be);
    *out = NULL;
    if (b->lost) return gc_errf(err, "vulkan: the device was lost earlier");
    char name[80];
    snprintf(name, sizeof name, "%.*s", (int)(g->name.len < 79 ? g->name.len : 79), g->name.ptr);
    be_tensor *t = new_tensor(b, name);
    if (!t) return gc_errf(err, "vulkan: out of memory");
    if (g->n_dims >= 2) {
        t->is_matrix = true;
        if (g->type != GT_F32) b->all_f32 = false;
        if (upload_matrix(b, t, g, err)) return -1;
        release_host_copy(b, g);
        *out = t;
        return 0;
    }
    /* 1-D weights (norms): f32 on the device. */
    uint64_t n = g->ne[0] * g->ne[1] * g->ne[2] * g->ne[3];
    const quant_info *qi = quant_type_info(g->type);
    if (!qi || !qi->supported || n % qi->block_elems)
        return gc_errf(err, "vulkan: tensor '%s': type %s is not supported for 1-D weights", name,
                       quant_type_name(g->type));
    if (n * 4 > b->dev->caps.max_storage_range)
        return gc_errf(err, "vulkan: tensor '%s' (%llu floats) exceeds the device's buffer range", name,
                       (unsigned long long)n);
    t->n = n;
    if (vk_buf_create(b->mem, VK_MEM_DEVICE, n * 4, t->name, &t->buf, err)) return -1;
    b->weight_bytes += t->buf.size;
    uint64_t umax = vk_upload_max(b->up);
    uint64_t piece = umax == UINT64_MAX ? n : (umax - 64) / 4 / qi->block_elems * qi->block_elems;
    for (uint64_t i = 0; i < n; i += piece) {
        uint64_t m = n - i < piece ? n - i : piece;
        void *dst;
        if (vk_upload_map(b->up, &t->buf, i * 4, m * 4, &dst, err)) return -1;
        quant_dequant_row(g->type, (const uint8_t *)g->data + i / qi->block_elems * qi->block_bytes, dst, m);
    }
    progress(b, g->n_bytes);
    release_host_copy(b, g);
    *out = t;
    return 0;
}

static int vb_activation(backend *be, uint64_t n, const char *name, be_tensor **out, gc_err *err)
{
    vk_backend *b = vb_of(be);
    *out = NULL;
    if (b->lost) return gc_errf(err, "vulkan: the device was lost earlier");
    if (n == 0 || n * 4 > b->dev->caps.max_storage_range)
        return gc_errf(err, "vulkan: activation '%s' of %llu floats: must be 1 .. %llu floats (the device's "
                       "maxStorageBufferRange); process fewer rows at once", name ? name : "?",
                       (unsigned long long)n, (unsigned long long)(b->dev->caps.max_storage_range / 4));
    be_tensor *t = new_tensor(b, name);
    if (!t) return gc_errf(err, "vulkan: out of memory");
    t->n = n;
    if (vk_buf_create(b->mem, VK_MEM_DEVICE, n * 4, t->name, &t->buf, err)) return -1;
    if (vk_upload_zero(b->up, &t->buf, err)) return -1;
    *out = t;
    return 0;
}

/* The same cache shape as now (a new session asking again). */
static bool same_cache(const vk_backend *b, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim,
                       bool f16)
{
    if (!b->kcache || b->n_layer != n_layer || b->n_ctx != n_ctx || b->n_kv_head != n_kv_head ||
        b->head_dim != head_dim || b->kv_f16 != f16)
        return false;
    for (int l = 0; l < n_layer; l++)
        if (b->slots[l] != (slots ? slots[l] : n_ctx)) return false;
    return true;
}

static uint64_t layer_cache_bytes(const vk_backend *b, int layer)
{
    return (uint64_t)b->slots[layer] * b->n_kv_head * b->head_dim * (b->kv_f16 ? 2 : 4);
}

static int vb_kv_cache(backend *be, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim,
                       gc_err *err)
{
    vk_backend *b = vb_of(be);
    if (n_layer <= 0 || n_ctx <= 0 || n_kv_head <= 0 || head_dim <= 0 || head_dim % 2)
        return gc_errf(err, "vulkan: kv_cache: bad shape %d layers x %d ctx x %d heads x %d dims",
                       n_layer, n_ctx, n_kv_head, head_dim);
    for (int l = 0; slots && l < n_layer; l++)
        if (slots[l] < 1 || slots[l] > n_ctx)
            return gc_errf(err, "vulkan: kv_cache: layer %d: %d slots, must be 1..%d", l, slots[l], n_ctx);
    bool f16 = vk_choose_kv_f16(b->opts.kv_bits, b->all_f32);
    /* A new session on the same model asks again: the same shape reuses the
     * cache (positions are overwritten before they are read); another shape
     * gets new buffers (the old ones stay allocated until destroy: buffers are
     * not freed one by one). */
    if (same_cache(b, n_layer, n_ctx, slots, n_kv_head, head_dim, f16)) return 0;
    free(b->kcache);
    free(b->vcache);
    free(b->slots);
    b->kcache = b->vcache = NULL;
    b->n_layer = 0;
    b->kv_f16 = f16;
    b->kcache = calloc((size_t)n_layer, sizeof *b->kcache);
    b->vcache = calloc((size_t)n_layer, sizeof *b->vcache);
    b->slots = calloc((size_t)n_layer, sizeof *b->slots);
    if (!b->kcache || !b->vcache || !b->slots) return gc_errf(err, "vulkan: out of memory");
    b->n_layer = n_layer;
    b->n_ctx = n_ctx;
    b->n_kv_head = n_kv_head;
    b->head_dim = head_dim;
    uint64_t all = 0;
    for (int l = 0; l < n_layer; l++) {
        b->slots[l] = slots ? slots[l] : n_ctx;
        uint64_t bytes = layer_cache_bytes(b, l);
        all += 2 * bytes;
        if (bytes > b->dev->caps.max_storage_range || bytes / (f16 ? 2 : 4) > UINT32_MAX)
            return gc_errf(err, "vulkan: kv_cache: one layer's cache (%llu bytes for %d positions) exceeds the "
                           "device's buffer range (%llu bytes); use a smaller --ctx", (unsigned long long)bytes,
                           b->slots[l], (unsigned long long)b->dev->caps.max_storage_range);
    }
    for (int l = 0; l < n_layer; l++) {
        uint64_t bytes = layer_cache_bytes(b, l);
        if (vk_buf_create(b->mem, VK_MEM_DEVICE, bytes, "k_cache", &b->kcache[l], err) ||
            vk_buf_create(b->mem, VK_MEM_DEVICE, bytes, "v_cache", &b->vcache[l], err))
            return gc_err_prefix(err, "kv cache (%d layers, %llu MiB)", n_layer, (unsigned long long)(all >> 20));
        if (vk_upload_zero(b->up, &b->kcache[l], err) || vk_upload_zero(b->up, &b->vcache[l], err)) return -1;
    }
    return 0;
}

/* ---- step ---- */

static int vb_begin_step(backend *be, gc_err *err)
{
    vk_backend *b = vb_of(be);
    if (b->lost) return gc_errf(err, "vulkan: the device was lost (VK_ERROR_DEVICE_LOST); restart gemma-chat");
    if (b->in_step) return gc_errf(err, "vulkan: begin_step inside a step");
    /* Weights and zero fills still in the staging queue go first. */
    if (vk_upload_flush(b->up, err)) return -1;
    VkResult r = vkResetCommandBuffer(b->cb, 0);
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    if (r == VK_SUCCESS) r = vkBeginCommandBuffer(b->cb, &bi);
    if (r != VK_SUCCESS) return gc_errf(err, "vulkan: begin_step: %s", vk_result_name(r));
    b->in_step = true;
    b->failed = false;
    b->step_err.msg[0] = 0;
    b->bound = VK_NULL_HANDLE;
    b->n_copies = 0;
    b->st.last_dispatches = b->st.last_barriers = 0;
    arena_reset(&b->tok);
    arena_reset(&b->rb);
    /* Hazard: the previous step's writes (KV cache, activations) against this
     * step's reads and writes; also starts a fresh barrier generation. */
    barrier(b, "previous step", NULL);
    if (b->qpool) {
        vkCmdResetQueryPool(b->cb, b->qpool, 0, PROF_MAX);
        vkCmdWriteTimestamp(b->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, b->qpool, 0);
        b->n_q = 1;
    }
    return 0;
}

/* Adds this step's dispatch times to the per-kernel totals. */
static void prof_collect(vk_backend *b)
{
    if (!b->qpool || b->n_q < 2) return;
    uint64_t *ts = malloc(b->n_q * sizeof *ts);
    if (!ts) return;
    if (vkGetQueryPoolResults(b->dev->dev, b->qpool, 0, b->n_q, b->n_q * sizeof *ts, ts, sizeof *ts,
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
        for (uint32_t i = 1; i < b->n_q; i++) {
            uint32_t k = b->q_kind[i] % PROF_KEYS;
            b->prof_ns[k] += (double)(ts[i] - ts[i - 1]) * b->dev->caps.timestamp_period;
            b->prof_n[k]++;
        }
    free(ts);
}

static void prof_print(vk_backend *b)
{
    double total = 0;
    for (uint32_t k = 0; k < PROF_KEYS; k++) total += b->prof_ns[k];
    fprintf(stderr, "vk profile: %.1f ms in dispatches\n", total / 1e6);
    for (uint32_t k = 0; k < PROF_KEYS; k++) {
        if (!b->prof_n[k]) continue;
        uint32_t kern = k / 128, ty = (k / 4) % 32;
        bool mm = kern == VK_K_MATVEC || kern == VK_K_MATVEC_DP || kern == VK_K_MATMAT;
        fprintf(stderr, "  %-11s %-5s%s %-5s %8llu calls %10.1f ms %5.1f%%  %8.1f us/call\n",
                vk_kernel_info((enum vk_kernel)kern)->name, mm ? quant_type_name(ty) : "", k / 2 % 2 ? "+geglu" : "      ",
                k % 2 ? "batch" : "1tok",
                (unsigned long long)b->prof_n[k], b->prof_ns[k] / 1e6, 100 * b->prof_ns[k] / total,
                b->prof_ns[k] / 1e3 / b->prof_n[k]);
    }
}

static int vb_end_step(backend *be, gc_err *err)
{
    vk_backend *b = vb_of(be);
    if (!b->in_step) return gc_errf(err, "vulkan: end_step without begin_step");
    b->in_step = false;
    /* Hazard: shader and copy writes into the readback buffers, read by the host. */
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_HOST_READ_BIT };
    vkCmdPipelineBarrier(b->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult r = vkEndCommandBuffer(b->cb);
    if (b->failed) { snprintf(err->msg, sizeof err->msg, "%s", b->step_err.msg); return -1; }
    if (r != VK_SUCCESS) return gc_errf(err, "vulkan: recording the step failed: %s", vk_result_name(r));
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &b->cb };
    r = vkQueueSubmit(b->dev->queue, 1, &si, b->fence);
    if (r == VK_SUCCESS) {
        /* Wait in slices so a lost device is reported, not waited on forever. */
        do r = vkWaitForFences(b->dev->dev, 1, &b->fence, VK_TRUE, 1000000000ull);
        while (r == VK_TIMEOUT);
        if (r == VK_SUCCESS) r = vkResetFences(b->dev->dev, 1, &b->fence);
    }
    b->st.steps++;
    if (r == VK_SUCCESS && gc_fault_hit(GC_FAULT_LOST)) r = VK_ERROR_DEVICE_LOST;
    if (r != VK_SUCCESS) {
        if (r == VK_ERROR_DEVICE_LOST) b->lost = b->base.lost = true;
        return gc_errf(err, "vulkan: running step %llu on %s failed: %s%s", (unsigned long long)b->st.steps,
                       b->dev->caps.name, vk_result_name(r),
                       r == VK_ERROR_DEVICE_LOST ? " (the GPU driver reset the device; restart gemma-chat)" : "");
    }
    for (uint32_t i = 0; i < b->n_copies; i++) memcpy(b->copies[i].dst, b->copies[i].src, b->copies[i].bytes);
    b->n_copies = 0;
    prof_collect(b);
    return 0;
}

/* ---- ops ---- */

static void vb_embed(backend *be, be_tensor *dst, const be_tensor *table, const int32_t *tokens, int n,
                     int n_embd, float scale)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "embed")) return;
    if (n <= 0 || n_embd <= 0 || !tokens) { fail(b, "vulkan backend: embed: bad n %d or n_embd %d", n, n_embd); return; }
    if (!table || !table->is_matrix || table->n_in != (uint64_t)n_embd) {
        fail(b, "vulkan backend: embed: table '%s' is not a [*][%d] weight matrix", table ? table->name : "NULL", n_embd);
        return;
    }
    if (!f32_ok(b, dst, (uint64_t)n * n_embd, "embed", "dst")) return;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint64_t)tokens[i] >= table->n_out) {
            fail(b, "vulkan backend: embed: token %d at %d is outside the table '%s' (%llu rows)", tokens[i], i,
                 table->name, (unsigned long long)table->n_out);
            return;
        }
    vk_buf *tb;
    uint64_t toff;
    if (arena_alloc(b, &b->tok, (uint64_t)n * 4, &tb, &toff)) return;
    memcpy((uint8_t *)tb->map + toff, tokens, (size_t)n * 4);
    vk_variant v = vk_choose(&b->kc, VK_K_EMBED, table->lay.type, b->kv_f16);
    b->prof_batch = n > 1;
    uint32_t units = (uint32_t)((n_embd + 31) / 32);
    for (uint32_t c = 0; c < table->n_chunks; c++) {
        const wchunk *ch = &table->chunks[c];
        bool any = false;
        for (int i = 0; i < n && !any; i++) any = (uint64_t)tokens[i] - ch->row0 < ch->rows;
        if (!any) continue;
        vk_pc_embed pc = { .n_embd = (uint32_t)n_embd, .nsb = u32(table->nsb), .row0 = u32(ch->row0),
                           .rows = u32(ch->rows), .n_tok = (uint32_t)n, .tok_off = u32(toff / 4), .d_off = 0,
                           .scale = scale };
        vk_buf *bufs[] = { (vk_buf *)&ch->qs, ch->aux.buf ? (vk_buf *)&ch->aux : NULL, tb, &dst->buf };
        dispatch(b, &v, bufs, &pc, (units + v.wg - 1) / v.wg, (uint32_t)n, 1);
    }
}

/* h == NULL: dst = rmsnorm(src) * w (rmsnorm.comp's mode 0); else
 * dst += rmsnorm(src) * w, then h = rmsnorm(dst) * w2 (mode 1). */
static void norm_op(vk_backend *b, be_tensor *dst, const be_tensor *src, const be_tensor *w, be_tensor *h,
                    const be_tensor *w2, int rows, int cols, float eps, const char *op)
{
    uint32_t mode = h != NULL;
    if (!op_ok(b, op)) return;
    if (rows <= 0 || cols <= 0) { fail(b, "vulkan backend: %s: bad rows %d / cols %d", op, rows, cols); return; }
    uint64_t need = (uint64_t)rows * cols;
    if (!f32_ok(b, src, need, op, "src") || !f32_ok(b, dst, need, op, "dst") || !f32_ok(b, w, (uint64_t)cols, op, "w"))
        return;
    if (mode && (!f32_ok(b, h, need, op, "h") || !f32_ok(b, w2, (uint64_t)cols, op, "w2"))) return;
    if (mode && (h == dst || h == src)) { fail(b, "vulkan backend: %s: h is x or o", op); return; }
    vk_variant v = vk_choose(&b->kc, VK_K_RMSNORM, 0, b->kv_f16);
    vk_pc_rmsnorm pc = { .cols = (uint32_t)cols, .rows = (uint32_t)rows, .eps = eps, .mode = mode };
    vk_buf *bufs[] = { (vk_buf *)&src->buf, (vk_buf *)&w->buf, &dst->buf, mode ? (vk_buf *)&w2->buf : NULL,
                       mode ? &h->buf : NULL };
    uint32_t gx, gy;
    grid_1d(b, (uint64_t)rows, &gx, &gy);
    dispatch(b, &v, bufs, &pc, gx, gy, 1);
}

static void vb_rmsnorm(backend *be, be_tensor *dst, const be_tensor *src, const be_tensor *w, int rows, int cols, float eps)
{
    norm_op(vb_of(be), dst, src, w, NULL, NULL, rows, cols, eps, "rmsnorm");
}

static void vb_add_rmsnorm_norm(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w, be_tensor *h,
                                const be_tensor *w2, int rows, int cols, float eps)
{
    vk_backend *b = vb_of(be);
    if (x == o) { fail(b, "vulkan backend: add_rmsnorm_norm: x and o are the same tensor"); return; }
    norm_op(b, x, o, w, h, w2, rows, cols, eps, "add_rmsnorm_norm");
}

/* An internal [n] scratch tensor, grown when a bigger one is needed (the old
 * one stays allocated until destroy: a step may still use it). */
static be_tensor *scratch(vk_backend *b, be_tensor **slot, uint64_t n, const char *name)
{
    if (*slot && (*slot)->n >= n) return *slot;
    gc_err e = {0};
    be_tensor *t;
    if (vb_activation(&b->base, n, name, &t, &e)) { fail_err(b, &e); return NULL; }
    *slot = t;
    return t;
}

/* 8-bit blocks of src's rows for matvec_dp (quant_x.comp), in the scratch
 * tensor; NULL (the step failed) on error. */
static be_tensor *quantize_x(vk_backend *b, const be_tensor *src, uint32_t rows, uint32_t n_in)
{
    uint32_t units = (n_in + 31) / 32;
    be_tensor *held = b->scratch_xq;
    be_tensor *xq = scratch(b, &b->scratch_xq, (uint64_t)rows * units * (VK_XQ_BLOCK_BYTES / 4), "x_blocks");
    if (!xq) return NULL;
    if (xq == held && b->xq_src == &src->buf && b->xq_wgen == src->buf.w_gen && b->xq_wop == src->buf.w_op &&
        b->xq_rows == rows && b->xq_n_in == n_in)
        return xq;   /* src unchanged since its blocks were made */
    vk_variant v = vk_choose(&b->kc, VK_K_QUANT_X, 0, b->kv_f16);
    vk_pc_quant_x pc = { .n_in = n_in, .n_cols = rows, .x_off = 0, .x_stride = n_in, .units = units };
    uint32_t gx, gy;
    grid_1d(b, ((uint64_t)rows * units + v.wg - 1) / v.wg, &gx, &gy);
    vk_buf *bufs[] = { (vk_buf *)&src->buf, &xq->buf };
    dispatch(b, &v, bufs, &pc, gx, gy, 1);
    if (b->failed) return xq;
    b->xq_src = &src->buf;
    b->xq_wgen = src->buf.w_gen;
    b->xq_wop = src->buf.w_op;
    b->xq_rows = rows;
    b->xq_n_in = n_in;
    return xq;
}

/* dst[r][:] = W @ src[r]: every chunk of W, with the kernel variant for
 * this shape. up != NULL: fused GeGLU with the matching rows of up. */
static void record_matmul(vk_backend *b, be_tensor *dst, const be_tensor *w, const be_tensor *up,
                          const be_tensor *src, uint32_t rows, uint32_t n_in, uint32_t n_out)
{
    vk_variant v = vk_choose_matmul(&b->kc, w->lay.type, rows, n_in, up != NULL);
    const be_tensor *x = src;
    if (v.kernel == VK_K_MATVEC_DP && !(x = quantize_x(b, src, rows, n_in))) return;
    for (uint32_t c = 0; c < w->n_chunks; c++) {
        const wchunk *ch = &w->chunks[c];
        const wchunk *cu = up ? &up->chunks[c] : NULL;
        vk_pc_matvec pc = { .n_in = n_in, .n_rows = u32(ch->rows), .nsb = u32(w->nsb), .x_off = 0, .x_stride = n_in,
                            .d_off = u32(ch->row0), .d_stride = n_out, .n_cols = rows };
        vk_buf *aux = ch->aux.buf ? (vk_buf *)&ch->aux : NULL;
        if (v.kernel == VK_K_MATMAT) {
            vk_buf *bufs[] = { (vk_buf *)&ch->qs, aux, (vk_buf *)&src->buf, &dst->buf };
            dispatch(b, &v, bufs, &pc, u32((ch->rows + v.rows_per_wg - 1) / v.rows_per_wg),
                     (rows + v.cols_per_wg - 1) / v.cols_per_wg, 1);
            continue;
        }
        vk_buf *uq = cu ? (vk_buf *)&cu->qs : NULL, *ua = cu && cu->aux.buf ? (vk_buf *)&cu->aux : NULL;
        vk_buf *bufs[] = { (vk_buf *)&ch->qs, aux, (vk_buf *)&x->buf, &dst->buf, uq, ua };
        uint32_t gx, gy;
        grid_1d(b, (ch->rows + v.rows_per_wg - 1) / v.rows_per_wg, &gx, &gy);
        dispatch(b, &v, bufs, &pc, gx, gy, rows);
    }
}

static bool matrix_ok(vk_backend *b, const be_tensor *w, int n_in, int n_out, const char *op, const char *what)
{
    if (!w || !w->is_matrix) { fail(b, "vulkan backend: %s: %s is not a weight matrix", op, what); return false; }
    if (w->n_in != (uint64_t)n_in || w->n_out != (uint64_t)n_out) {
        fail(b, "vulkan backend: %s: %s '%s' is [%llu][%llu], the op wants [%d][%d]", op, what, w->name,
             (unsigned long long)w->n_out, (unsigned long long)w->n_in, n_out, n_in);
        return false;
    }
    return true;
}

static void vb_matmul(backend *be, be_tensor *dst, const be_tensor *w, const be_tensor *src, int rows, int n_in, int n_out)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "matmul")) return;
    if (rows <= 0 || n_in <= 0 || n_out <= 0) { fail(b, "vulkan backend: matmul: bad sizes"); return; }
    if (!matrix_ok(b, w, n_in, n_out, "matmul", "w") ||
        !f32_ok(b, src, (uint64_t)rows * n_in, "matmul", "src") ||
        !f32_ok(b, dst, (uint64_t)rows * n_out, "matmul", "dst"))
        return;
    if (src == dst) { fail(b, "vulkan backend: matmul: dst and src are the same tensor"); return; }
    record_matmul(b, dst, w, NULL, src, (uint32_t)rows, (uint32_t)n_in, (uint32_t)n_out);
}

static void eltwise(vk_backend *b, const vk_pc_eltwise *pc, vk_buf *a, vk_buf *bb, vk_buf *d)
{
    vk_variant v = vk_choose(&b->kc, VK_K_ELTWISE, 0, b->kv_f16);
    uint32_t gx, gy;
    grid_1d(b, (pc->n + v.wg - 1) / v.wg, &gx, &gy);
    vk_buf *bufs[] = { a, bb, d };
    dispatch(b, &v, bufs, pc, gx, gy, 1);
}

static void vb_matmul_geglu(backend *be, be_tensor *dst, const be_tensor *wg, const be_tensor *wu,
                            const be_tensor *src, int rows, int n_in, int n_ff)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "matmul_geglu")) return;
    if (rows <= 0 || n_in <= 0 || n_ff <= 0) { fail(b, "vulkan backend: matmul_geglu: bad sizes"); return; }
    if (!matrix_ok(b, wg, n_in, n_ff, "matmul_geglu", "gate") || !matrix_ok(b, wu, n_in, n_ff, "matmul_geglu", "up") ||
        !f32_ok(b, src, (uint64_t)rows * n_in, "matmul_geglu", "src") ||
        !f32_ok(b, dst, (uint64_t)rows * n_ff, "matmul_geglu", "dst"))
        return;
    if (src == dst) { fail(b, "vulkan backend: matmul_geglu: dst and src are the same tensor"); return; }
    bool fused = (uint32_t)rows <= VK_MATVEC_MAX_ROWS && wg->lay.type == wu->lay.type && wg->n_chunks == wu->n_chunks;
    if (fused) {
        record_matmul(b, dst, wg, wu, src, (uint32_t)rows, (uint32_t)n_in, (uint32_t)n_ff);
        return;
    }
    uint64_t n = (uint64_t)rows * n_ff;
    be_tensor *g = scratch(b, &b->scratch_g, n, "ffn_gate_scratch");
    be_tensor *u = g ? scratch(b, &b->scratch_u, n, "ffn_up_scratch") : NULL;
    if (!u) return;
    record_matmul(b, g, wg, NULL, src, (uint32_t)rows, (uint32_t)n_in, (uint32_t)n_ff);
    record_matmul(b, u, wu, NULL, src, (uint32_t)rows, (uint32_t)n_in, (uint32_t)n_ff);
    vk_pc_eltwise pc = { .n = u32(n), .mode = VK_ELT_GEGLU, .a_stride = (uint32_t)n_ff, .n_cols = (uint32_t)n_ff };
    eltwise(b, &pc, &g->buf, &u->buf, &dst->buf);
}

static bool kv_ok(vk_backend *b, int layer, int rows, int pos0, const char *op)
{
    if (!b->kcache) { fail(b, "vulkan backend: %s: no KV cache (kv_cache was not called)", op); return false; }
    if (layer < 0 || layer >= b->n_layer || rows <= 0 || pos0 < 0 || (int64_t)pos0 + rows > b->n_ctx ||
        rows > b->slots[layer]) {
        fail(b, "vulkan backend: %s: layer %d, rows %d at position %d are outside the cache (%d layers, %d positions, "
             "%d slots)", op, layer, rows, pos0, b->n_layer, b->n_ctx,
             layer >= 0 && layer < b->n_layer ? b->slots[layer] : 0);
        return false;
    }
    return true;
}

static void vb_qk_rope_store(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v,
                             const be_tensor *qn, const be_tensor *kn, int rows, int n_head, int pos0,
                             float freq_base, float pos_scale, float eps)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "qk_rope_store") || !kv_ok(b, layer, rows, pos0, "qk_rope_store")) return;
    int D = b->head_dim, HKV = b->n_kv_head;
    if (n_head <= 0 || D > VK_ATTN_MAX_HEAD_DIM || !(freq_base > 0) || !qn != !kn) {
        fail(b, "vulkan backend: qk_rope_store: bad heads %d, head_dim %d (max %d), base %g or only one head norm",
             n_head, D, VK_ATTN_MAX_HEAD_DIM, freq_base);
        return;
    }
    if (!f32_ok(b, q, (uint64_t)rows * n_head * D, "qk_rope_store", "q") ||
        !f32_ok(b, k, (uint64_t)rows * HKV * D, "qk_rope_store", "k") ||
        !f32_ok(b, v, (uint64_t)rows * HKV * D, "qk_rope_store", "v") ||
        (qn && (!f32_ok(b, qn, (uint64_t)D, "qk_rope_store", "q norm") ||
                !f32_ok(b, kn, (uint64_t)D, "qk_rope_store", "k norm"))))
        return;
    if (q == k || q == v || k == v) { fail(b, "vulkan backend: qk_rope_store: q, k and v must differ"); return; }
    vk_variant var = vk_choose(&b->kc, VK_K_QK_ROPE, qn != NULL, b->kv_f16);
    vk_pc_qk_rope pc = { .rows = (uint32_t)rows, .n_head = (uint32_t)n_head, .n_kv_head = (uint32_t)HKV,
                         .head_dim = (uint32_t)D, .pos0 = (uint32_t)pos0, .slots = (uint32_t)b->slots[layer],
                         .pos_scale = pos_scale,
                         .log2_base = (float)log2((double)freq_base), .eps = eps };
    vk_buf *bufs[] = { &q->buf, &k->buf, (vk_buf *)&v->buf, qn ? (vk_buf *)&qn->buf : NULL,
                       kn ? (vk_buf *)&kn->buf : NULL, &b->kcache[layer], &b->vcache[layer] };
    dispatch(b, &var, bufs, &pc, (uint32_t)(n_head + HKV), (uint32_t)rows, 1);
}

static void vb_attention(backend *be, be_tensor *out, const be_tensor *q, int layer, int rows, int pos0,
                         const be_attn_params *p)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "attention") || !kv_ok(b, layer, rows, pos0, "attention")) return;
    if (!p || p->n_head <= 0 || p->n_kv_head != b->n_kv_head || p->head_dim != b->head_dim ||
        p->n_head % p->n_kv_head || p->head_dim > VK_ATTN_MAX_HEAD_DIM || p->window < 0 || p->softcap < 0) {
        fail(b, "vulkan backend: attention: bad parameters (heads %d, kv heads %d vs cache %d, head_dim %d vs cache %d, "
             "max %d)", p ? p->n_head : 0, p ? p->n_kv_head : 0, b->n_kv_head, p ? p->head_dim : 0, b->head_dim,
             VK_ATTN_MAX_HEAD_DIM);
        return;
    }
    int slots = b->slots[layer];
    if (slots < b->n_ctx && (p->window == 0 || (int64_t)p->window + rows - 1 > slots)) {
        fail(b, "vulkan backend: attention: layer %d is a ring of %d slots: window %d and %d rows do not fit it",
             layer, slots, p->window, rows);
        return;
    }
    uint64_t n = (uint64_t)rows * p->n_head * p->head_dim;
    if (!f32_ok(b, q, n, "attention", "q") || !f32_ok(b, out, n, "attention", "out")) return;
    if (q == out) { fail(b, "vulkan backend: attention: out and q are the same tensor"); return; }
    vk_variant v = vk_choose(&b->kc, VK_K_ATTENTION, (uint32_t)p->head_dim, b->kv_f16);
    vk_pc_attn pc = { .n_head = (uint32_t)p->n_head, .n_kv_head = (uint32_t)p->n_kv_head,
                      .head_dim = (uint32_t)p->head_dim, .rows = (uint32_t)rows, .pos0 = (uint32_t)pos0,
                      .window = (uint32_t)p->window, .scale = p->scale, .softcap = p->softcap,
                      .slots = (uint32_t)slots };
    vk_buf *bufs[] = { (vk_buf *)&q->buf, &b->kcache[layer], &b->vcache[layer], &out->buf };
    dispatch(b, &v, bufs, &pc, (uint32_t)p->n_head, (uint32_t)rows, 1);
}

static void vb_softcap(backend *be, be_tensor *x, uint64_t n, float cap)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "softcap") || !f32_ok(b, x, n, "softcap", "x") || !fits_u32(b, n, "softcap")) return;
    if (!(cap > 0)) { fail(b, "vulkan backend: softcap: cap %g must be > 0", cap); return; }
    vk_pc_eltwise pc = { .n = u32(n), .cap = cap, .mode = VK_ELT_SOFTCAP };
    eltwise(b, &pc, NULL, NULL, &x->buf);
}

static void vb_copy(backend *be, be_tensor *dst, uint64_t dst_off, const be_tensor *src, uint64_t src_off, uint64_t n)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "copy") || !f32_ok(b, src, src_off + n, "copy", "src") || !f32_ok(b, dst, dst_off + n, "copy", "dst"))
        return;
    if (dst == src && dst_off < src_off + n && src_off < dst_off + n) {
        fail(b, "vulkan backend: copy: overlapping ranges in '%s'", dst->name);
        return;
    }
    if (!n) return;
    vk_pc_eltwise pc = { .n = u32(n), .a_off = u32(src_off), .d_off = u32(dst_off), .mode = VK_ELT_COPY };
    eltwise(b, &pc, (vk_buf *)&src->buf, NULL, &dst->buf);
}

/* The most bytes one readback arena request may take. */
static uint64_t readback_piece(const vk_backend *b)
{
    return ARENA_BYTES < b->dev->caps.max_storage_range ? ARENA_BYTES : b->dev->caps.max_storage_range;
}

/* Records copying bytes [off, off + bytes) of src to host at end_step,
 * through the readback arena in pieces (of a multiple of 4 bytes). */
static void record_readback(vk_backend *b, vk_buf *src, uint64_t off, uint64_t bytes, void *host)
{
    track(b, src, 'r');
    mark(b, src, 'r');
    uint64_t piece = readback_piece(b) & ~3ull;
    for (uint64_t i = 0; i < bytes; i += piece) {
        uint64_t m = bytes - i < piece ? bytes - i : piece;
        vk_buf *rb;
        uint64_t at;
        if (arena_alloc(b, &b->rb, m, &rb, &at)) return;
        VkBufferCopy c = { .srcOffset = off + i, .dstOffset = at, .size = m };
        vkCmdCopyBuffer(b->cb, src->buf, rb->buf, 1, &c);
        add_host_copy(b, (uint8_t *)rb->map + at, (uint8_t *)host + i, m);
    }
}

static void vb_read(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float *host)
{
    vk_backend *b = vb_of(be);
    if (!op_ok(b, "read") || !f32_ok(b, src, offset + n, "read", "src")) return;
    if (!host) { fail(b, "vulkan backend: read: host pointer is NULL"); return; }
    record_readback(b, (vk_buf *)&src->buf, offset * 4, n * 4, host);
}

/* Bytes of one slot of a layer's K (or V) cache, and the checks kv_read and
 * kv_write share. */
static int kv_span(vk_backend *b, int layer, int slot0, int n, const char *op, uint64_t *slot_bytes, gc_err *err)
{
    char what[64];
    snprintf(what, sizeof what, "vulkan backend: %s", op);
    if (b->in_step) return gc_errf(err, "%s inside a step", what);
    if (b->lost) return gc_errf(err, "%s: the device was lost (VK_ERROR_DEVICE_LOST); restart gemma-chat", what);
    if (be_kv_slots_check(b->kcache ? b->slots : NULL, b->n_layer, layer, slot0, n, what, err)) return -1;
    *slot_bytes = (uint64_t)b->n_kv_head * b->head_dim * (b->kv_f16 ? 2 : 4);
    return 0;
}

/* One step per group of slots whose K and V fit the readback arena together,
 * so a long cache does not grow the arena. */
static int vb_kv_read(backend *be, int layer, int slot0, int n, void *k, void *v, gc_err *err)
{
    vk_backend *b = vb_of(be);
    uint64_t sb;
    if (kv_span(b, layer, slot0, n, "kv_read", &sb, err)) return -1;
    uint64_t group = readback_piece(b) / 2 / sb;
    if (group == 0) group = 1;
    for (uint64_t i = 0; i < (uint64_t)n; i += group) {
        uint64_t m = (uint64_t)n - i < group ? (uint64_t)n - i : group;
        uint64_t off = ((uint64_t)slot0 + i) * sb;
        if (vb_begin_step(be, err)) return -1;
        record_readback(b, &b->kcache[layer], off, m * sb, (uint8_t *)k + i * sb);
        record_readback(b, &b->vcache[layer], off, m * sb, (uint8_t *)v + i * sb);
        if (vb_end_step(be, err)) return gc_err_prefix(err, "kv_read");
    }
    return 0;
}

/* Through the upload path weights take (the mapping on unified memory, else
 * staging copies), flushed before it returns. */
static int vb_kv_write(backend *be, int layer, int slot0, int n, const void *k, const void *v, gc_err *err)
{
    vk_backend *b = vb_of(be);
    uint64_t sb;
    if (kv_span(b, layer, slot0, n, "kv_write", &sb, err)) return -1;
    uint64_t bytes = (uint64_t)n * sb, off = (uint64_t)slot0 * sb, piece = vk_upload_max(b->up);
    vk_buf *dst[2] = { &b->kcache[layer], &b->vcache[layer] };
    const uint8_t *src[2] = { k, v };
    for (int c = 0; c < 2; c++)
        for (uint64_t i = 0; i < bytes; i += piece) {
            uint64_t m = bytes - i < piece ? bytes - i : piece;
            void *p;
            if (vk_upload_map(b->up, dst[c], off + i, m, &p, err)) return -1;
            memcpy(p, src[c] + i, m);
        }
    return vk_upload_flush(b->up, err);
}

static void record_argmax(vk_backend *b, const be_tensor *src, uint64_t offset, uint64_t n, float cap,
                          int32_t *host, const char *op)
{
    if (!op_ok(b, op) || !f32_ok(b, src, offset + n, op, "src") || !fits_u32(b, offset + n, op))
        return;
    if (!host || !n) { fail(b, "vulkan backend: %s: empty range or NULL host pointer", op); return; }
    vk_variant v = vk_choose(&b->kc, VK_K_ARGMAX, 0, b->kv_f16);
    uint32_t groups = vk_argmax_groups(n, v.wg);
    vk_buf *rb;
    uint64_t off;   /* the result, then the partials of the groups (in the readback arena: a few KiB) */
    if (arena_alloc(b, &b->rb, 4 + (groups > 1 ? 8ull * groups : 0), &rb, &off)) return;
    vk_pc_argmax pc = { .n = u32(n), .off = u32(offset), .out_idx = u32(off / 4), .cap = cap,
                        .part = u32(off / 4 + 1), .n_groups = groups, .stage = 0 };
    vk_buf *bufs[] = { (vk_buf *)&src->buf, rb };
    dispatch(b, &v, bufs, &pc, groups, 1, 1);
    if (groups > 1) {   /* the best of the partials: reads what stage 0 wrote (a barrier) */
        pc.stage = 1;
        vk_buf *res[] = { NULL, rb };
        dispatch(b, &v, res, &pc, 1, 1, 1);
    }
    add_host_copy(b, (uint8_t *)rb->map + off, host, 4);
}

static void vb_argmax(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, int32_t *host)
{
    record_argmax(vb_of(be), src, offset, n, 0, host, "argmax");
}

static void vb_argmax_softcap(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float cap, int32_t *host)
{
    vk_backend *b = vb_of(be);
    if (!(cap > 0)) { fail(b, "vulkan backend: argmax_softcap: cap %g must be > 0", cap); return; }
    record_argmax(b, src, offset, n, cap, host, "argmax_softcap");
}

static uint64_t vb_weight_bytes(backend *be, const gguf_file *model)
{
    (void)be;
    uint64_t need = 0;
    gc_err ignore;
    if (vk_model_weight_bytes(model, &need, &ignore)) return 0;
    return need;
}

/* vb_weight clears all_f32 for any matrix that is not F32; kv_cache decides by it. */
static int vb_kv_value_bytes(backend *be, const gguf_file *model)
{
    bool all_f32 = true;
    for (uint64_t i = 0; i < model->n_tensors; i++)
        if (model->tensors[i].n_dims >= 2 && model->tensors[i].type != GT_F32) all_f32 = false;
    return vk_choose_kv_f16(vb_of(be)->opts.kv_bits, all_f32) ? 2 : 4;
}

/* The device's memory, or the fault hook's pretend size (MiB). */
static uint64_t device_budget(const vk_caps *c)
{
    return gc_fault_limit(GC_FAULT_MEM) ? gc_fault_limit(GC_FAULT_MEM) << 20 : vk_device_budget(c);
}

static uint64_t vb_memory_budget(backend *be)
{
    return device_budget(&vb_of(be)->dev->caps);
}

static uint64_t vb_memory_used(backend *be)
{
    return vk_mem_used(vb_of(be)->mem, VK_MEM_DEVICE);
}

static void vb_destroy(backend *be)
{
    vk_backend *b = vb_of(be);
    if (!b) return;
    if (b->dev && b->dev->dev) vkDeviceWaitIdle(b->dev->dev);
    if (b->qpool) { prof_print(b); vkDestroyQueryPool(b->dev->dev, b->qpool, NULL); }
    free(b->q_kind);
    for (be_tensor *t = b->tensors, *next; t; t = next) {
        next = t->next;
        free(t->chunks);
        free(t);
    }
    free(b->kcache);
    free(b->slots);
    free(b->vcache);
    free(b->tok.bufs); free(b->tok.used);
    free(b->rb.bufs); free(b->rb.used);
    free(b->copies);
    if (b->dev) {
        if (b->fence) vkDestroyFence(b->dev->dev, b->fence, NULL);
        if (b->pool) vkDestroyCommandPool(b->dev->dev, b->pool, NULL);
    }
    vk_upload_destroy(b->up);
    vk_pipes_destroy(b->pipes);
    vk_mem_destroy(b->mem);
    vk_device_destroy(b->dev);
    vk_instance_destroy(b->vi);
    free(b);
}

/* ---- create ---- */

void vk_backend_opts_init(vk_backend_opts *o)
{
    memset(o, 0, sizeof *o);
    o->device = -1;
}

int vk_model_weight_bytes(const gguf_file *g, uint64_t *bytes, gc_err *err)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (t->n_dims >= 2) {
            vk_wlayout l;
            if (vk_wlayout_of(t->type, &l, err))
                return gc_err_prefix(err, "tensor '%.*s'", (int)t->name.len, t->name.ptr);
            uint64_t rows = n / t->ne[0];
            sum += vk_wlayout_qs_bytes(&l, t->ne[0], rows) + vk_wlayout_aux_bytes(&l, t->ne[0], rows);
        } else {
            sum += n * 4;
        }
    }
    *bytes = sum;
    return 0;
}

static const backend vk_ops = {
    .name = "vulkan",
    .weight = vb_weight,
    .activation = vb_activation,
    .kv_cache = vb_kv_cache,
    .destroy = vb_destroy,
    .begin_step = vb_begin_step,
    .end_step = vb_end_step,
    .embed = vb_embed,
    .rmsnorm = vb_rmsnorm,
    .add_rmsnorm_norm = vb_add_rmsnorm_norm,
    .matmul = vb_matmul,
    .matmul_geglu = vb_matmul_geglu,
    .attention = vb_attention,
    .qk_rope_store = vb_qk_rope_store,
    .copy = vb_copy,
    .softcap = vb_softcap,
    .read = vb_read,
    .argmax = vb_argmax,
    .argmax_softcap = vb_argmax_softcap,
    .memory_used = vb_memory_used,
    .weight_bytes = vb_weight_bytes,
    .kv_value_bytes = vb_kv_value_bytes,
    .kv_read = vb_kv_read,
    .kv_write = vb_kv_write,
    .memory_budget = vb_memory_budget,
};

int vk_backend_create(const vk_backend_opts *o, backend **out, gc_err *err)
{
    *out = NULL;
    vk_backend *b = calloc(1, sizeof *b);
    if (!b) return gc_errf(err, "vulkan: out of memory");
    if (o) b->opts = *o;
    else vk_backend_opts_init(&b->opts);
    const char *tr = getenv("GEMMA_CHAT_VK_TRACE");
    b->trace = tr && !strcmp(tr, "1");
    backend *be = &b->base;
    *be = vk_ops;

    int index;
    int rc = -1;
    if (vk_instance_create(&b->vi, b->opts.validation, err)) {
        if (!b->opts.validation) rc = VK_BACKEND_NO_DEVICE;   /* no loader, or no driver */
        goto fail;
    }
    if (vk_device_pick(b->vi, b->opts.device, &index, err)) {
        if (b->opts.device < 0) rc = VK_BACKEND_NO_DEVICE;    /* none at all, or none with Vulkan 1.2 */
        goto fail;
    }
    b->device_index = index;
    const vk_caps *pc = &b->vi->caps[index];
    if (pc->type == VK_PHYSICAL_DEVICE_TYPE_CPU && b->opts.device < 0 && b->opts.gpu_only) {
        gc_errf(err, "no GPU found (only the CPU Vulkan device '%s')", pc->name);
        rc = VK_BACKEND_NO_DEVICE;
        goto fail;
    }
    if (pc->type == VK_PHYSICAL_DEVICE_TYPE_CPU && b->opts.device < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "gemma-chat: no GPU found; using the CPU Vulkan device '%s' (slow; "
                 "`--backend cpu` is the native CPU backend)", pc->name);
        if (b->opts.notice) b->opts.notice(b->opts.notice_user, msg);
        else fprintf(stderr, "%s\n", msg);
    }
    /* The whole model must fit before anything is uploaded. */
    uint64_t heap = device_budget(pc);
    if (b->opts.model) {
        uint64_t need;
        if (vk_model_weight_bytes(b->opts.model, &need, err)) goto fail;
        if (need > heap) {
            gc_errf(err, "vulkan: the model '%s' needs %llu MiB of device memory for its weights, but device "
                    "'%s' has %llu MiB; use a smaller quantization or --backend cpu", b->opts.model->path,
                    (unsigned long long)(need >> 20), pc->name, (unsigned long long)(heap >> 20));
            goto fail;
        }
        for (uint64_t i = 0; i < b->opts.model->n_tensors; i++) b->weight_total += b->opts.model->tensors[i].n_bytes;
    }
    if (vk_device_create(b->vi, index, &b->dev, err)) goto fail;
    if (b->opts.hooks.max_storage_range && b->opts.hooks.max_storage_range < b->dev->caps.max_storage_range)
        b->dev->caps.max_storage_range = b->opts.hooks.max_storage_range & ~15ull;
    if (b->opts.hooks.force_no_subgroup) b->dev->caps.subgroup_arith = false;
    snprintf(be->device_name, sizeof be->device_name, "%s", b->dev->caps.name);
    b->kc = vk_caps_kernel(&b->dev->caps);
    if (b->opts.hooks.no_size_control) b->kc.subgroup_min = b->kc.subgroup_max = 0;
    if (b->opts.hooks.fast_int_dot) b->kc.int_dot_fast = b->kc.int_dot;
    /* The KV cache type is chosen when the cache is made (after the weights).
     * f16 needs no 16-bit storage feature: the shaders pack halves into 32-bit
     * words (packHalf2x16), which every Vulkan device can do. */
    b->all_f32 = true;
    const char *kvb = getenv("GEMMA_CHAT_KV_BITS");
    if (b->opts.kv_bits == 0 && kvb) b->opts.kv_bits = atoi(kvb);
    if (b->opts.kv_bits != 0 && b->opts.kv_bits != 16 && b->opts.kv_bits != 32) {
        gc_errf(err, "vulkan: KV cache bits %d (GEMMA_CHAT_KV_BITS?): must be 16 or 32", b->opts.kv_bits);
        goto fail;
    }

    if (vk_mem_create(b->dev, &b->mem, err)) goto fail;
    char cache_file[1024] = "";
    if (b->opts.cache_path) snprintf(cache_file, sizeof cache_file, "%s", b->opts.cache_path);
    else if (b->opts.cache_dir) vk_pipe_cache_path(b->opts.cache_dir, &b->dev->caps, cache_file, sizeof cache_file);
    if (vk_pipes_create(b->dev, cache_file, &b->pipes, err)) goto fail;
    be->kernels_cold = !vk_pipes_cache_warm(b->pipes);
    uint64_t staging = STAGING_BYTES < b->dev->caps.max_storage_range ? STAGING_BYTES : b->dev->caps.max_storage_range;
    if (b->opts.hooks.force_staging && b->opts.hooks.max_storage_range) staging = 1 << 16;
    if (vk_upload_create(b->dev, b->mem, staging, b->opts.hooks.force_staging, &b->up, err)) goto fail;
    if (vk_buf_create(b->mem, VK_MEM_DEVICE, 16, "dummy", &b->dummy, err)) goto fail;
    b->tok = (arena){ .kind = VK_MEM_UPLOAD, .name = "token ids" };
    b->rb = (arena){ .kind = VK_MEM_READBACK, .name = "results" };

    VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = b->dev->queue_family };
    VkResult r = vkCreateCommandPool(b->dev->dev, &pci, NULL, &b->pool);
    VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                        .commandPool = b->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                        .commandBufferCount = 1 };
    if (r == VK_SUCCESS) r = vkAllocateCommandBuffers(b->dev->dev, &cai, &b->cb);
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    if (r == VK_SUCCESS) r = vkCreateFence(b->dev->dev, &fci, NULL, &b->fence);
    if (r != VK_SUCCESS) { gc_errf(err, "vulkan: command buffer setup: %s", vk_result_name(r)); goto fail; }
    const char *pf = getenv("GEMMA_CHAT_VK_PROFILE");
    if (pf && !strcmp(pf, "1") && b->dev->caps.timestamp_period > 0) {
        VkQueryPoolCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                      .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = PROF_MAX };
        b->q_kind = calloc(PROF_MAX, sizeof *b->q_kind);
        if (!b->q_kind || vkCreateQueryPool(b->dev->dev, &qci, NULL, &b->qpool) != VK_SUCCESS) {
            gc_errf(err, "vulkan: GEMMA_CHAT_VK_PROFILE: no timestamp query pool");
            goto fail;
        }
    }

    *out = be;
    return 0;
fail:
    vb_destroy(be);
    return rc;
}

const vk_caps *vk_backend_device(backend *be, int *index)
{
    *index = vb_of(be)->device_index;
    return &vb_of(be)->dev->caps;
}

void vk_backend_stats_get(backend *be, vk_backend_stats *out)
{
    vk_backend *b = vb_of(be);
    *out = b->st;
    out->pipelines = vk_pipes_built(b->pipes);
    out->kcaps = b->kc;
    out->kv_f16 = b->kv_f16;
    out->unified_memory = b->dev->caps.unified_memory && !b->opts.hooks.force_staging;
    out->weight_bytes = b->weight_bytes;
}
