/* host_backend.h: what the two host-memory backends share: the plain-C
 * reference (model/ref_backend.c) and the native CPU backend (cpu/).
 *
 * Both execute each op at once on tensors in host memory, so they share the
 * tensor struct, the f32 KV cache, the argument checks (a bad argument fails
 * the step with a message naming the op and tensor: backend.h's rules), the
 * reads and argmaxes served at end_step, and the ops whose arithmetic has no
 * choices in it (embed, KV store, RoPE in double, copy, the fused QK input).
 * A backend embeds host_backend as its first member, fills the ops it
 * computes its own way, and takes the hb_* ops for the rest.
 */
#ifndef GC_HOST_BACKEND_H
#define GC_HOST_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "model/backend.h"

struct be_tensor {
    be_tensor *next;           /* every tensor of the backend, for destroy */
    char name[96];
    /* Weight matrices (two or more dimensions) stay in their stored type: */
    uint32_t type;             /* ggml type; GT_F32 for activations and 1-D weights */
    uint64_t n_in;             /* ne0: values per row */
    uint64_t n_rows;           /* ne1 * ne2 * ne3 */
    uint64_t row_bytes;
    const uint8_t *data;       /* [n_rows][row_bytes], points into the model mapping */
    const void *impl;          /* the backend's own per-weight data (the CPU backend's kernel) */
    /* Activations and 1-D weights (converted to f32) own their floats: */
    float *f;                  /* [n] */
    uint64_t n;
    uint64_t version;          /* bumped by every op that writes f (hb_f32_out) */
};

typedef struct host_backend {
    backend base;              /* first: a backend * is a host_backend * */
    const char *tag;           /* "ref backend", "cpu backend": starts every step error */
    be_tensor *tensors;
    uint64_t bytes;            /* host memory owned by tensors, cache and scratch */

    /* KV cache: per layer [slots[l]][n_kv_head][head_dim], f32, for positions
     * 0..n_ctx-1 (position p in slot p % slots[l]: backend.h). */
    int n_layer, n_ctx, n_kv_head, head_dim;
    int *slots;                /* [n_layer] */
    uint64_t *first_slot;      /* [n_layer]: where layer l starts, in slots */
    uint64_t n_slots;          /* all layers' slots together */
    float *k_cache;            /* [n_slots][n_kv_head][head_dim], layer after layer */
    float *v_cache;            /* same */

    /* RoPE's cos and sin for the positions of the last two (positions, base,
     * scale, head_dim) asked: every layer of a step, q and k, turns by the
     * same angles (Gemma 3's local and global layers by two sets). */
    struct hb_rope_angles {
        int pos0, rows, head_dim;
        float base, scale;
        double *cs;            /* [rows][head_dim]: head_dim / 2 cosines, then the sines */
        size_t cap;            /* doubles */
    } rope[2];
    int rope_next;             /* the entry the next new set replaces */
    /* Turns vectors by such angles (hb_rope_rotate's arithmetic; hb_init
     * sets hb_rope_rotate, a backend may bring a faster one). */
    void (*rope_rotate)(float *v, int n, int half, const double *c, const double *s);
    /* Row r of weight matrix t (n_in values) as floats, for embed: hb_init
     * sets hb_weight_row (the row as stored), a backend that repacks
     * weights brings its own. */
    void (*weight_row)(const be_tensor *t, uint64_t r, float *out);

    /* The argmax over s[0..n) of the values, or where cap > 0 of the capped
     * values cap * tanh(x / cap) (lowest index on ties, NaN never wins):
     * each backend brings its own. */
    uint64_t (*argmax)(struct host_backend *hb, const float *s, uint64_t n, float cap);

    /* read/argmax requests of the current step, served at end_step: exactly
     * the Vulkan backend's semantics (a tensor overwritten later in the step
     * is read in its final state). */
    struct hb_pending {
        const be_tensor *src;
        uint64_t offset, n;
        float *host;           /* read */
        int32_t *argmax;       /* argmax */
        float cap;             /* argmax of the capped values when > 0 */
    } *pend;
    int n_pend;
    size_t cap_pend;

    bool in_step;
    bool failed;               /* an op of this step failed; the rest are skipped */
    gc_err step_err;
} host_backend;

static inline host_backend *hb_of(backend *be) { return (host_backend *)be; }

/* Sets up a backend: its ops table (a static const table with designated
 * initializers naming its own ops and the hb_* ops below), the tag its step
 * errors start with and its argmax. */
void hb_init(host_backend *hb, const backend *ops, const char *tag,
             uint64_t (*argmax)(host_backend *, const float *, uint64_t, float));
/* The shared ops (backend.h states what each does). weight keeps matrices in
 * the mapping and converts 1-D weights to f32; qk_rope_store runs the
 * backend's own rmsnorm, then rotates in double, then writes the cache. A
 * backend may wrap weight and kv_cache to add its own data. */
int hb_weight(backend *be, const gguf_tensor *gt, be_tensor **out, gc_err *err);
void hb_weight_row(const be_tensor *t, uint64_t r, float *out);
int hb_activation(backend *be, uint64_t n, const char *name, be_tensor **out, gc_err *err);
int hb_kv_cache(backend *be, int n_layer, int n_ctx, const int *slots, int n_kv_head, int head_dim, gc_err *err);
int hb_kv_read(backend *be, int layer, int slot0, int n, void *k, void *v, gc_err *err);
int hb_kv_write(backend *be, int layer, int slot0, int n, const void *k, const void *v, gc_err *err);
uint64_t hb_memory_used(backend *be);
uint64_t hb_weight_bytes(backend *be, const gguf_file *model);
int hb_kv_value_bytes(backend *be, const gguf_file *model);
uint64_t hb_memory_budget(backend *be);
int hb_begin_step(backend *be, gc_err *err);
int hb_end_step(backend *be, gc_err *err);
void hb_embed(backend *be, be_tensor *dst, const be_tensor *table, const int32_t *tokens, int n, int n_embd,
              float scale);
void hb_qk_rope_store(backend *be, int layer, be_tensor *q, be_tensor *k, const be_tensor *v, const be_tensor *qn,
                      const be_tensor *kn, int rows, int n_head, int pos0, float freq_base, float pos_scale,
                      float eps);
void hb_copy(backend *be, be_tensor *dst, uint64_t dst_off, const be_tensor *src, uint64_t src_off, uint64_t n);
void hb_read(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float *host);
void hb_argmax(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, int32_t *host);
void hb_argmax_softcap(backend *be, const be_tensor *src, uint64_t offset, uint64_t n, float cap, int32_t *host);
/* Frees the tensors, the cache and the pending list (not hb itself). */
void hb_release(host_backend *hb);

/* Records the first failure of a step; end_step reports it. */
void hb_fail(host_backend *hb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Inside a step and nothing failed yet. */
bool hb_op_ok(host_backend *hb, const char *op);
/* The floats of an activation or 1-D weight holding at least need floats,
 * or NULL (the step fails, naming op and tensor). _out also marks t changed. */
const float *hb_f32_in(host_backend *hb, const be_tensor *t, uint64_t need, const char *op, const char *what);
float *hb_f32_out(host_backend *hb, be_tensor *t, uint64_t need, const char *op, const char *what);
/* A weight matrix with rows of exactly n_in values and at least n_out rows. */
bool hb_matrix_ok(host_backend *hb, const be_tensor *w, uint64_t n_in, uint64_t n_out, const char *op);
/* All three sizes positive. */
bool hb_dims_ok(host_backend *hb, const char *op, long long a, long long b, long long c);
/* The cache exists, positions pos0 .. pos0 + rows - 1 are inside n_ctx and the
 * rows fit the layer's slots. */
bool hb_cache_pos_ok(host_backend *hb, const char *op, int layer, int rows, int pos0);
/* The attention parameters fit the cache (a ring layer: window + rows - 1 <= its slots). */
bool hb_attn_ok(host_backend *hb, const be_attn_params *p, int layer, int rows);
/* Index of layer's position pos (head 0, element 0) in k_cache / v_cache: its slot. */
size_t hb_cache_index(const host_backend *hb, int layer, int pos);

/* NEOX RoPE of n vectors of 2 * half floats at v, one after another:
 * element i turns with element i + half by the angle of cos c[i] and sin
 * s[i], in double (a c - b s and a s + b c, each product rounded, then the
 * sum, then f32). */
void hb_rope_rotate(float *v, int n, int half, const double *c, const double *s);

/* The plain argmax: lowest index of the largest value, NaN never wins. */
uint64_t hb_argmax_plain(const float *s, uint64_t n);
/* cap * tanh(x / cap) in double, rounded to f32: the one definition of a capped value. */
float hb_capped(float x, float cap);

#endif
