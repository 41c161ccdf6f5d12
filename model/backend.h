/* backend.h: the small interface the Gemma forward pass (model/gemma.c) runs on.
 *
 * The forward pass is written once as a sequence of calls below, and the ops
 * are exactly the ones it calls: where it fuses steps into one op
 * (add_rmsnorm_norm, qk_rope_store), the parts are not ops of their own.
 * Three backends implement them: the plain-C reference (model/ref_backend.c,
 * scalar C, f32, executes each op immediately), the native CPU backend (cpu/,
 * SIMD kernels on a thread pool, also immediate) and Vulkan (vk/vk_backend.c,
 * records each op as a dispatch into one command buffer and submits once in
 * end_step).
 *
 * Rules every backend follows:
 *  - Ops are issued between begin_step() and end_step(). Results of an op are
 *    visible to later ops of the same step. Host-side results requested with
 *    read()/argmax() are valid only after end_step() returns 0.
 *  - Tensors are opaque handles owned by the backend. Activations are f32,
 *    row-major: a tensor of shape [rows][cols] has cols contiguous. Ops take
 *    explicit row/col counts and may address a prefix of a larger tensor.
 *  - Weights are [n_out][n_in] (GGUF {ne0 = n_in, ne1 = n_out}), any type listed
 *    in model/quant.h as supported; 1-D weights (norms) are f32 after upload
 *    (uploading converts F16/BF16 norms to f32).
 *  - The KV cache lives in the backend: per layer, [slots][n_kv_head][head_dim]
 *    for K and for V (f16 or f32 storage, the backend's choice; math in f32).
 *    Positions are absolute, 0..n_ctx-1; layer l has slots[l] <= n_ctx slots
 *    and position p lives in slot p % slots[l] (the one rule: a layer with
 *    n_ctx slots holds every position, a sliding-window layer with fewer is a
 *    ring that keeps the last slots[l] positions written). Rewinding is only
 *    bookkeeping in the caller (later steps overwrite positions >= the new
 *    length); the caller also keeps track of which positions a ring still
 *    holds. A step of `rows` rows on a ring layer needs its window before each
 *    row: window + rows - 1 <= slots[l] (checked by attention), and its keys
 *    pos0 - window + 1 .. pos0 - 1 still in the ring (the caller's part).
 *  - Every accumulator, norm, softmax and tanh is f32.
 *  - Ops return nothing: a bad argument (sizes beyond a tensor, a position
 *    beyond the KV cache, an op outside a step) is remembered and reported by
 *    end_step, which then fails; later ops of that step are skipped. The host
 *    backends (reference and CPU) check every bound, so tests of the forward
 *    pass catch misuse.
 */
#ifndef GC_BACKEND_H
#define GC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/gguf.h"

typedef struct be_tensor be_tensor;
typedef struct backend backend;

/* Parameters of one attention call (one layer). */
typedef struct be_attn_params {
    int n_head, n_kv_head, head_dim;
    float scale;        /* multiplies q.k before capping: 1/sqrt(head_dim), or the 27B rule */
    float softcap;      /* scores = cap * tanh(scores / cap) before the mask; 0 = none */
    int window;         /* sliding window: key k is masked when q_pos - k_pos >= window; 0 = global */
} be_attn_params;

/* Load progress: bytes uploaded so far of total. */
typedef void (*be_progress_fn)(void *user, uint64_t done, uint64_t total);

struct backend {
    const char *name;          /* "cpu", "vulkan" */
    char device_name[256];     /* shown in the status bar */
    bool lost;                 /* the device is gone (VK_ERROR_DEVICE_LOST): every later step fails */
    bool kernels_cold;         /* kernels not compiled on this machine yet (no pipeline cache of this
                                  device and build): the first steps compile them (gemma_warmup) */

    /* --- memory --- */
    /* Makes a weight usable by ops. The CPU backend may point into the mapping;
     * others copy it to device memory. */
    int (*weight)(backend *be, const gguf_tensor *t, be_tensor **out, gc_err *err);
    /* An f32 activation tensor of n floats, zero-initialized. */
    int (*activation)(backend *be, uint64_t n, const char *name, be_tensor **out, gc_err *err);
    /* KV cache for n_layer layers of [slots[l]][n_kv_head][head_dim] for positions
     * 0..n_ctx-1 (the rule above); slots NULL = n_ctx slots in every layer.
     * slots is read during the call only. */
    int (*kv_cache)(backend *be, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim,
                    gc_err *err);
    /* Copy layer's K and V cache slots slot0 .. slot0 + n - 1 to host memory k
     * and v ([n][n_kv_head][head_dim] each, in the cache's own storage:
     * kv_value_bytes bytes a value, f32 or IEEE f16), or write them from it.
     * Synchronous, outside a step (gemma_state_save / gemma_state_load); the
     * slots must lie inside the layer's (be_kv_slots_check). */
    int (*kv_read)(backend *be, int layer, int slot0, int n, void *k, void *v, gc_err *err);
    int (*kv_write)(backend *be, int layer, int slot0, int n, const void *k, const void *v, gc_err *err);
    /* Frees everything created through this backend, then the backend itself. */
    void (*destroy)(backend *be);

    /* --- a step --- */
    int (*begin_step)(backend *be, gc_err *err);
    int (*end_step)(backend *be, gc_err *err);     /* submits, waits, fills host results */

    /* --- ops (recorded or executed) --- */
    /* dst[i][:] = table row tokens[i] * scale, for i < n (tokens copied at call time). */
    void (*embed)(backend *be, be_tensor *dst, const be_tensor *table, const int32_t *tokens,
                  int n, int n_embd, float scale);
    /* dst[r][:] = src[r][:] / sqrt(mean(src[r]^2) + eps) * w[:], for r < rows. dst may be src. */
    void (*rmsnorm)(backend *be, be_tensor *dst, const be_tensor *src, const be_tensor *w,
                    int rows, int cols, float eps);
    /* Gemma's post-norm residual and the next norm in one pass: x[r][:] += rmsnorm(o[r][:]) * w[:],
     * then h[r][:] = rmsnorm(x[r][:]) * w2[:] (x, o and h three tensors). */
    void (*add_rmsnorm_norm)(backend *be, be_tensor *x, const be_tensor *o, const be_tensor *w,
                             be_tensor *h, const be_tensor *w2, int rows, int cols, float eps);
    /* dst[r][:] = W @ src[r][:] for r < rows; W is [n_out][n_in]. */
    void (*matmul)(backend *be, be_tensor *dst, const be_tensor *w, const be_tensor *src,
                   int rows, int n_in, int n_out);
    /* dst[r][:] = gelu_tanh(Wgate @ src[r]) * (Wup @ src[r]); both weights [n_ff][n_in]. */
    void (*matmul_geglu)(backend *be, be_tensor *dst, const be_tensor *wgate, const be_tensor *wup,
                         const be_tensor *src, int rows, int n_in, int n_ff);
    /* Attention input for rows at pos0..: each head of q ([rows][n_head][head_dim]) and
     * of k ([rows][n_kv_head][head_dim]) is RMS-normed by qn / kn (when not NULL, both or
     * neither), then NEOX-rotated (dimension i pairs with i + head_dim/2), both in place:
     * row r as if at position (pos0 + r) * pos_scale with base freq_base. Then k[r] and
     * v[r] are written to the layer's cache at position pos0 + r (its slot; rows <= the
     * layer's slots). */
    void (*qk_rope_store)(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v,
                          const be_tensor *qn, const be_tensor *kn, int rows, int n_head, int pos0,
                          float freq_base, float pos_scale, float eps);
    /* out[r][h][:] = softmax(mask(cap(scale * q[r][h] . K[0..pos0+r]))) @ V, reading the
     * layer's cache; query row r is at position pos0 + r (causal). Only the keys the
     * mask keeps are read (the window's, when p->window > 0); a ring layer needs a
     * window with window + rows - 1 <= its slots. */
    void (*attention)(backend *be, be_tensor *out, const be_tensor *q, int layer, int rows, int pos0,
                      const be_attn_params *p);
    /* dst[dst_off + i] = src[src_off + i] for i < n (activations; e.g. picks the
     * last row of a prefill for the output projection). dst and src may be the
     * same tensor only if the ranges do not overlap. */
    void (*copy)(backend *be, be_tensor *dst, uint64_t dst_off, const be_tensor *src,
                 uint64_t src_off, uint64_t n);
    /* x[i] = cap * tanh(x[i] / cap) for i < n. */
    void (*softcap)(backend *be, be_tensor *x, uint64_t n, float cap);
    /* Copies n floats from src[offset..] to host memory at end_step. */
    void (*read)(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float *host);
    /* Index of the largest of src[offset..offset+n) (lowest index on ties), to host at end_step. */
    void (*argmax)(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, int32_t *host);

    /* The argmax of cap * tanh(src[i] / cap) (cap > 0), as softcap then argmax would give,
     * without writing the capped values (greedy decoding after Gemma 2's final soft-cap). */
    void (*argmax_softcap)(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float cap,
                           int32_t *host);

    /* Optional: bytes of device memory in use (0 if not tracked). */
    uint64_t (*memory_used)(backend *be);

    /* --- sizes, for the fit check before loading (app/fit.h) --- */
    /* Bytes the weights of model take: their device copies, or the file mapping the host
     * backends read them from. */
    uint64_t (*weight_bytes)(backend *be, const gguf_file *model);
    /* Bytes per K or V value of the cache kv_cache will make after model's weights (4: f32, 2: f16). */
    int (*kv_value_bytes)(backend *be, const gguf_file *model);
    /* Bytes the backend can use in all: the device-local heap, or the host RAM available
     * (/proc/meminfo MemAvailable); base/fault.h's mem:N sets it for tests. */
    uint64_t (*memory_budget)(backend *be);
};

/* The checks kv_read and kv_write share: a cache of n_layer layers with
 * slots[l] slots exists, and layer's slots slot0 .. slot0 + n - 1 are in it.
 * what names the backend and the op in the message. */
static inline int be_kv_slots_check(const int *slots, int n_layer, int layer, int slot0, int n, const char *what,
                                    gc_err *err)
{
    if (!slots) return gc_errf(err, "%s: no KV cache (kv_cache not called)", what);
    if (layer < 0 || layer >= n_layer)
        return gc_errf(err, "%s: layer %d outside the cache (%d layers)", what, layer, n_layer);
    if (slot0 < 0 || n < 0 || n > slots[layer] - slot0)
        return gc_errf(err, "%s: layer %d, slots %d..%d outside its %d slots", what, layer, slot0, slot0 + n - 1,
                       slots[layer]);
    return 0;
}

/* The plain-C reference backend (model/ref_backend.c), `--backend ref`. */
int ref_backend_create(backend **out, gc_err *err);

#endif
