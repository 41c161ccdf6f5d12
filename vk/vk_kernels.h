/* vk_kernels.h: everything about the compute kernels that needs no GPU.
 *
 *  - the weight layout on the device ("repacked": quants in 16-byte units
 *    apart from the per-block scales, stated in shaders/wlayout.h) and the
 *    host functions that repack GGUF rows into it;
 *  - the push-constant structs, mirrored field by field in the shaders (shaders/NAME.comp)
 *    (each struct names its shader; a _Static_assert pins its size);
 *  - the pure functions choosing a kernel variant from (device capabilities,
 *    weight type, shape). Tests call them with made-up capabilities.
 */
#ifndef GC_VK_KERNELS_H
#define GC_VK_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* What the kernel selection looks at: a subset of vk_caps (vk_device.h)
 * copied into a plain struct so tests can describe any device. */
typedef struct vk_kcaps {
    uint32_t subgroup_size;    /* 0 = unknown */
    bool subgroup_arith;       /* subgroupAdd/Max in compute shaders */
    /* Subgroup size control for compute (requiredSubgroupSize with full
     * subgroups): the sizes a pipeline may ask for; 0, 0 = no control. */
    uint32_t subgroup_min, subgroup_max;
    bool int_dot;              /* shaderIntegerDotProduct enabled (SPV_KHR_integer_dot_product) */
    bool int_dot_fast;         /* ... and 4x8-bit packed signed dot products accelerated */
    uint32_t max_wg_invocations;
    uint32_t max_wg_size_x;
} vk_kcaps;

/* ---- weight layout (stated in shaders/wlayout.h) ---- */
typedef struct vk_wlayout {
    uint32_t type;        /* ggml type of the file's rows */
    uint32_t sb_elems;    /* values per superblock: 32 or 256 (WL_SB_ELEMS) */
    uint32_t qs_u4;       /* 16-byte units of quants per superblock (WL_QS_U4) */
    uint32_t aux_h;       /* 16-bit halves of scales per superblock (WL_AUX_H; 0 = none) */
} vk_wlayout;

/* Layout of a supported weight type; returns -1 (err names the type) for
 * others. */
int vk_wlayout_of(uint32_t type, vk_wlayout *out, gc_err *err);
/* Superblocks per row of n_in values (float rows rounded up to 32). */
uint64_t vk_wlayout_nsb(const vk_wlayout *l, uint64_t n_in);
/* Bytes of quants / aux of `rows` rows (aux rounded up to 4 bytes). */
uint64_t vk_wlayout_qs_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows);
uint64_t vk_wlayout_aux_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows);

/* Repacks `rows` GGUF rows of n_in values (src: rows * row_bytes as in the
 * file, any alignment) into qs (vk_wlayout_qs_bytes) and aux
 * (vk_wlayout_aux_bytes, may be NULL when aux_h is 0). */
void vk_repack_rows(const vk_wlayout *l, const void *src, uint64_t n_in, uint64_t rows,
                    void *qs, void *aux);

/* ---- push constants (std430 scalars, mirrored in the shader named) ---- */

/* shaders/matvec.glsl (matvec, matvec_shmem, matvec_dp) and matmat.comp:
 * dst[d_off + c*d_stride + r] = W[r] . x[x_off + c*x_stride ..] for the
 * n_rows weight rows of one chunk and the n_cols input rows. */
typedef struct vk_pc_matvec {
    uint32_t n_in;        /* values per weight row */
    uint32_t n_rows;      /* weight rows in this chunk */
    uint32_t nsb;         /* superblocks per weight row */
    uint32_t x_off;       /* float index of input row 0 */
    uint32_t x_stride;    /* floats between input rows */
    uint32_t d_off;       /* float index of output (row 0, chunk row 0) */
    uint32_t d_stride;    /* floats between output rows */
    uint32_t n_cols;      /* input rows */
} vk_pc_matvec;
_Static_assert(sizeof(vk_pc_matvec) == 32, "vk_pc_matvec mirrors matvec.glsl / matmat.comp");

/* shaders/quant_x.comp: input rows x[x_off + c*x_stride ..] (n_cols rows of
 * n_in floats) as 8-bit blocks for matvec_dp: block u of row c is the
 * VK_XQ_BLOCK_BYTES at (c * units + u) * VK_XQ_BLOCK_BYTES of the output:
 * 32 int8 q (value i at byte i), then f32 d (value ~ d * q) and d * sum(q)
 * (zeros past n_in). */
typedef struct vk_pc_quant_x {
    uint32_t n_in;
    uint32_t n_cols;
    uint32_t x_off;
    uint32_t x_stride;
    uint32_t units;       /* 32-value blocks per row: ceil(n_in / 32) */
    uint32_t pad[3];
} vk_pc_quant_x;
_Static_assert(sizeof(vk_pc_quant_x) == 32, "vk_pc_quant_x mirrors quant_x.comp");
#define VK_XQ_BLOCK_BYTES 48u   /* uvec4 q0, q1; vec2 (d, sum); 8 bytes of std430 padding */
/* x[0..n) replaced by what quant_x.comp's blocks stand for: per 32 values,
 * d * round(x / d) with d = max |x| / 127. Rounding such values again gives
 * the same integers, so the integer dot kernels compute exactly on them:
 * the tests and the self-check feed products this x to check those kernels
 * against the reference at f32 bounds. */
void vk_xq_round(float *x, uint64_t n);

/* shaders/embed.comp: dst[d_off + i*n_embd + j] = table[tok[i]][j] * scale for the
 * tokens that fall in this chunk's rows [row0, row0 + rows). */
typedef struct vk_pc_embed {
    uint32_t n_embd;
    uint32_t nsb;
    uint32_t row0;
    uint32_t rows;
    uint32_t n_tok;
    uint32_t tok_off;     /* uint index of token 0 in the token buffer */
    uint32_t d_off;
    float scale;
} vk_pc_embed;
_Static_assert(sizeof(vk_pc_embed) == 32, "vk_pc_embed mirrors embed.comp");

/* shaders/rmsnorm.comp: mode 0: dst = rmsnorm(src) * w; mode 1: dst += rmsnorm(src) * w,
 * then h = rmsnorm(dst) * w2 (bindings 3, 4). */
typedef struct vk_pc_rmsnorm {
    uint32_t cols;
    uint32_t rows;
    uint32_t src_off;
    uint32_t dst_off;
    float eps;
    uint32_t mode;
} vk_pc_rmsnorm;
_Static_assert(sizeof(vk_pc_rmsnorm) == 24, "vk_pc_rmsnorm mirrors rmsnorm.comp");

/* shaders/qk_rope.comp: per-head norm + RoPE of q and k in place, k and v to the cache;
 * one workgroup per (head of q then k, row). */
typedef struct vk_pc_qk_rope {
    uint32_t rows;
    uint32_t n_head;
    uint32_t n_kv_head;
    uint32_t head_dim;
    uint32_t pos0;
    float pos_scale;
    float log2_base;      /* log2(freq_base), computed in double on the host */
    float eps;
    uint32_t slots;       /* the layer's cache slots: position p is in slot p % slots (backend.h) */
    uint32_t pad[3];
} vk_pc_qk_rope;
_Static_assert(sizeof(vk_pc_qk_rope) == 48, "vk_pc_qk_rope mirrors qk_rope.comp");

/* shaders/attention.comp: one workgroup per (query row, head). */
typedef struct vk_pc_attn {
    uint32_t n_head;
    uint32_t n_kv_head;
    uint32_t head_dim;
    uint32_t rows;
    uint32_t pos0;
    uint32_t window;      /* 0 = global */
    uint32_t q_off;
    uint32_t o_off;
    float scale;
    float softcap;        /* 0 = none */
    uint32_t slots;       /* the layer's cache slots (vk_pc_qk_rope) */
    uint32_t pad;
} vk_pc_attn;
_Static_assert(sizeof(vk_pc_attn) == 48, "vk_pc_attn mirrors attention.comp");

/* shaders/eltwise.comp: mode 0: d = cap*tanh(d/cap); 1: d = a; 2: d = gelu(a)*b. */
enum { VK_ELT_SOFTCAP = 0, VK_ELT_COPY = 1, VK_ELT_GEGLU = 2 };
typedef struct vk_pc_eltwise {
    uint32_t n;
    uint32_t a_off;
    uint32_t b_off;
    uint32_t d_off;
    float cap;
    uint32_t mode;
    uint32_t a_stride;    /* GEGLU over rows: a and b rows are a_stride apart, d rows n_cols */
    uint32_t n_cols;      /* GEGLU: values per row (n = rows * n_cols) */
} vk_pc_eltwise;
_Static_assert(sizeof(vk_pc_eltwise) == 32, "vk_pc_eltwise mirrors eltwise.comp");

/* shaders/argmax.comp: out[out_idx] = argmax of src[off .. off + n) (cap > 0: of
 * cap * tanh(src / cap)), in two stages: n_groups partial results (value bits,
 * index) at res[part ..], then their best (see the shader). */
typedef struct vk_pc_argmax {
    uint32_t n;
    uint32_t off;
    uint32_t out_idx;
    float cap;            /* 0 = none */
    uint32_t part;        /* uint index of the 2 * n_groups partials in the result buffer */
    uint32_t n_groups;    /* stage 0's workgroups (1: it writes the result itself) */
    uint32_t stage;       /* 0: scan src, 1: reduce the partials */
} vk_pc_argmax;
_Static_assert(sizeof(vk_pc_argmax) == 28, "vk_pc_argmax mirrors argmax.comp");

/* Stage 0's workgroups for an argmax of n values with workgroup size wg:
 * about 32 values per invocation, at most 256 groups (so stage 1 has at most
 * 256 pairs to reduce), at least 1. */
uint32_t vk_argmax_groups(uint64_t n, uint32_t wg);

/* ---- kernels and their variants ---- */
/* Bindings, push constants and names of each kernel: the kernel table in
 * vk_pipe.c. */
enum vk_kernel {
    VK_K_MATVEC,      /* spec: 0 wg, 1 type, 2 rows per wg, 3 subgroup (else matvec_shmem), 4 geglu,
                       * 5 lanes per row (0 = wg) */
    VK_K_MATVEC_DP,   /* VK_K_MATVEC over 8-bit x blocks (quant_x) with integer dot products; same spec */
    VK_K_QUANT_X,     /* spec: 0 wg */
    VK_K_MATMAT,      /* spec: 0 wg, 1 type, 2 tile rows BM, 3 tile cols BN, 4 TM */
    VK_K_EMBED,       /* spec: 0 wg, 1 type */
    VK_K_RMSNORM,     /* spec: 0 wg */
    VK_K_QK_ROPE,     /* spec: 0 wg, 1 kv f16, 2 per-head norms */
    VK_K_ATTENTION,   /* spec: 0 wg, 1 kv f16, 2 max head_dim, 3 16-byte K/V loads (head_dim % 8 == 0) */
    VK_K_ELTWISE,     /* spec: 0 wg */
    VK_K_ARGMAX,      /* spec: 0 wg */
    VK_K_COUNT
};
#define VK_MAX_SPEC 6

/* A concrete pipeline: kernel + specialization constant values (id i =
 * spec[i]) + the subgroup size it requires. */
typedef struct vk_variant {
    enum vk_kernel kernel;
    uint32_t spec[VK_MAX_SPEC];
    uint32_t subgroup;        /* required subgroup size, with full subgroups (subgroup size control);
                               * 0 = whatever the driver picks */
    uint32_t wg;              /* = spec[0], workgroup size x */
    uint32_t rows_per_wg;     /* matvec: rows per workgroup; matmat: tile rows */
    uint32_t cols_per_wg;     /* matmat: tile columns */
} vk_variant;

/* Largest head_dim the attention kernel takes (shared-memory q and the per
 * invocation output slice are sized by it). */
#define VK_ATTN_MAX_HEAD_DIM 512
/* Input rows up to which a product runs as the matrix-vector kernel (the
 * weights streamed once per input row); the tiled matrix product beyond. */
#define VK_MATVEC_MAX_ROWS 4u

/* Lanes that split one row's 32-value units in the matrix-vector kernel
 * (spec 5, see matvec.glsl): the largest of wg, wg/2, .. 1 that leaves the
 * fewest lanes idle in the last round over a row's units. */
uint32_t vk_matvec_lanes_per_row(uint32_t wg, uint32_t n_in);
/* The product W @ x for `rows` input rows of n_in values: the matrix-vector
 * kernel (integer dot products where the device has them fast, for
 * quantized weights) up to VK_MATVEC_MAX_ROWS rows and for `geglu` (the
 * fused gate/up variant), the tiled matrix product beyond. */
vk_variant vk_choose_matmul(const vk_kcaps *c, uint32_t type, uint32_t rows, uint32_t n_in, bool geglu);
/* The other kernels: workgroup size from caps. `type` is the weight type for
 * VK_K_EMBED, the head_dim for VK_K_ATTENTION (0 = any up to
 * VK_ATTN_MAX_HEAD_DIM) and 1 = per-head norms for VK_K_QK_ROPE; `kv_f16` is
 * used by the KV kernels. */
vk_variant vk_choose(const vk_kcaps *c, enum vk_kernel k, uint32_t type, bool kv_f16);
/* KV cache precision: f16 halves the cache and its traffic; models whose
 * weight matrices are all F32 (reference and test models) keep f32 so their
 * results stay as exact as the weights. `want`: 16 or 32 forces, 0 = auto. */
bool vk_choose_kv_f16(int want, bool all_f32_weights);
/* Stage 0's workgroups for an argmax of n values with workgroup size wg:
 * about 32 values per invocation, at most 256 groups (so stage 1 has at most
 * 256 pairs to reduce), at least 1. */
uint32_t vk_argmax_groups(uint64_t n, uint32_t wg);

#endif
