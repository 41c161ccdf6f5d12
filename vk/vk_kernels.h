/* vk_kernels.h: everything about the compute kernels that needs no GPU.
 *
 *  - the weight layout on the device ("repacked": quants in 16-byte units
 *    apart from the per-block scales, see vk_wlayout) and the host functions
 *    that repack GGUF rows into it;
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
    bool cpu;                  /* VK_PHYSICAL_DEVICE_TYPE_CPU (lavapipe, SwiftShader) */
    uint32_t subgroup_size;    /* 0 = unknown */
    bool subgroup_arith;       /* subgroupAdd/Max in compute shaders */
    uint32_t max_wg_invocations;
    uint32_t max_wg_size_x;
    uint32_t max_shared;       /* maxComputeSharedMemorySize, bytes */
    uint32_t max_texel;        /* maxTexelBufferElements (0 = no texel-buffer kernels) */
} vk_kcaps;

/* ---- weight layout ----
 * A weight matrix [n_out][n_in] of a given ggml type is stored as rows of
 * "superblocks" (32 values for F32/F16/BF16 and the 32-blocks, 256 for the
 * K-quants). Per superblock, `qs_u4` 16-byte units go to the quant buffer
 * (read as uvec4) and `aux_h` 16-bit halves to the aux buffer (read as uint):
 *
 *   F32    8 x uvec4 (32 floats)                  aux -
 *   F16    4 x uvec4 (32 halves)                  aux -
 *   BF16   4 x uvec4                              aux -
 *   Q8_0   2 x uvec4 (qs[32])                     aux d
 *   Q4_0   1 x uvec4 (qs[16])                     aux d
 *   Q4_1   1 x uvec4                              aux d, m
 *   Q5_0   1 x uvec4                              aux d, 0, qh(u32)   (2 bytes of padding)
 *   Q5_1   1 x uvec4                              aux d, m, qh(u32)
 *   Q4_K   9 x uvec4 (the 144-byte block as is)   aux -
 *   Q5_K  11 x uvec4 (the 176-byte block as is)   aux -
 *   Q6_K  13 x uvec4 (ql[128] qh[64] scales[16])  aux d
 *   VK_T_Q4K_UNIT, VK_T_Q6K_UNIT: see above (CPU devices)
 *
 * F32/F16/BF16 rows are zero-padded to a multiple of 32 values, so every
 * kernel walks rows in 32-value units. Splitting the scales off the quants is
 * what allows 16-byte loads on every block type (../shared/LAVAPIPE.md).
 */
/* Unit layouts that replace the K-quants' 256-value blocks on CPU devices
 * (vk_wlayout_for): every 32-value unit is self-contained, so a kernel reads 2
 * or 3 texels per unit instead of 3 (Q4_K) or 6 (Q6_K) and decodes no packed
 * 6-bit scales. Exact: the f32 scales are the products llama.cpp forms.
 *   VK_T_Q4K_UNIT  1 x uvec4: byte i = q[i] | q[i + 16] << 4 (as Q4_0)
 *                  aux: f32 d * sc, f32 dmin * m (value = scale * q - min)
 *   VK_T_Q6K_UNIT  2 x uvec4: int8 q - 32 (as Q8_0)
 *                  aux: f32 d * sc of values 0-15, of values 16-31
 * Costs 33% (Q4_K) / 52% (Q6_K) more memory: on CPU devices the kernels are
 * bound by texel fetches and bit decoding, not by bytes (../shared/LAVAPIPE.md). */
#define VK_T_Q4K_UNIT 64u
#define VK_T_Q6K_UNIT 65u
/* Q8_0 on CPU devices: quants as Q8_0 (in the tiled order where the device
 * tiles, VK_T_TILED), but the aux scales of every 8 rows side by side: half
 * ((row / 8) * nsb + b) * 8 + row % 8 is the scale of row `row`, block b (rows padded to a multiple of 8, with zero scales). The
 * matrix-vector kernel then fetches one 16-byte texel of scales per 8 rows
 * and block instead of one per row: a third of its texel fetches on Q8_0
 * (Gemma 3 270M's 262144-row head, matvec_bench: min -8%, median -15%). */
#define VK_T_Q8_0_R8 66u

/* Tiled layouts (CPU devices, vk_wlayout_tile): the quants of the 32-value
 * block types (Q8_0_R8, Q4_0, Q4_1, Q5_0, Q5_1 and the two unit layouts), and
 * the uint-pair scales of Q5_0/Q5_1/units, stored in the order the
 * matrix-vector kernel fetches them, so that its 8 lanes read 8 adjacent
 * texels and consecutive fetches read consecutive memory (a stream the CPU's
 * prefetchers follow; row-major rows were read at a stride of one row per
 * fetch). The kernel's shape fixes the order: lanes per row LPR, row groups
 * NG = 8 / LPR, NR rows per workgroup (vk_choose_matmul). Texel k of the
 * P per unit (P = qs_u4 for quants, 1 for scale pairs) of unit b of row r:
 *   tile = r / NR, rr = r % NR, i = b / LPR,
 *   tile * NR * U * P + ((i * (NR / NG) + rr / NG) * P + k) * 8 + (rr % NG) * LPR + b % LPR
 * with U = the row's units rounded up to a multiple of LPR; rows are padded
 * to whole tiles and padding is zero. Shaders: dq_tex_index in dequant.glsl.
 * Kernels learn it from their TYPE spec constant: type | VK_T_TILED
 * (vk_wlayout_ktype). */
#define VK_T_TILED 128u
#define VK_TILE_LANES 8u

typedef struct vk_wlayout {
    uint32_t type;        /* kernel type: ggml type, or VK_T_*_UNIT */
    uint32_t src_type;    /* ggml type of the file's rows */
    uint32_t sb_elems;    /* values per superblock: 32 or 256 */
    uint32_t qs_u4;       /* 16-byte units of quants per superblock */
    uint32_t aux_h;       /* 16-bit halves of scales per superblock (0 = none) */
    uint32_t tile_lpr;    /* tiled layouts: lanes per row (0 = row-major, not tiled) */
    uint32_t tile_ng;     /* tiled: row groups, VK_TILE_LANES / tile_lpr */
    uint32_t tile_nr;     /* tiled: rows per tile */
} vk_wlayout;

/* Layout of a supported weight type; returns -1 (err names the type) for
 * others. */
int vk_wlayout_of(uint32_t type, vk_wlayout *out, gc_err *err);
/* The layout a device uses: vk_wlayout_of's, except the unit layouts for
 * Q4_K and Q6_K where vk_unit_kquants(c). */
int vk_wlayout_for(const vk_kcaps *c, uint32_t type, vk_wlayout *out, gc_err *err);
bool vk_unit_kquants(const vk_kcaps *c);
/* Makes l tiled (see VK_T_TILED) for rows of n_in values where
 * vk_choose_matmul runs the matrix-vector kernel as one subgroup of
 * VK_TILE_LANES lanes with row groups (its shape is the tile's) and l's type
 * is a tiled one; otherwise leaves it row-major. */
void vk_wlayout_tile(const vk_kcaps *c, vk_wlayout *l, uint64_t n_in);
/* The TYPE spec constant of the kernels reading l: type | VK_T_TILED if tiled. */
uint32_t vk_wlayout_ktype(const vk_wlayout *l);
/* Rows a piece of the weight must hold a whole number of (except the last
 * piece): tile_nr for tiled layouts, 8 for VK_T_Q8_0_R8's scale tiles, else 1. */
uint32_t vk_wlayout_row_tile(const vk_wlayout *l);
/* Superblocks per row of n_in values (float rows rounded up to 32). */
uint64_t vk_wlayout_nsb(const vk_wlayout *l, uint64_t n_in);
/* Units stored per row: nsb, rounded up to a multiple of tile_lpr if tiled. */
uint64_t vk_wlayout_row_units(const vk_wlayout *l, uint64_t n_in);
/* Texel k (of `per`: qs_u4 for quants, 1 for scale pairs) of unit b of row
 * `row`, for rows of `units` stored units (vk_wlayout_row_units): row-major,
 * or in the tiled order. */
uint64_t vk_wlayout_texel(const vk_wlayout *l, uint64_t units, uint64_t row, uint64_t b, uint32_t k,
                          uint32_t per);
/* Bytes of quants / aux of `rows` rows (aux rounded up to 4 bytes; tiled
 * layouts: rows rounded up to whole tiles). */
uint64_t vk_wlayout_qs_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows);
uint64_t vk_wlayout_aux_bytes(const vk_wlayout *l, uint64_t n_in, uint64_t rows);

/* Repacks `rows` GGUF rows of n_in values (src: rows * row_bytes as in the
 * file, any alignment) into qs (vk_wlayout_qs_bytes) and aux
 * (vk_wlayout_aux_bytes, may be NULL when aux_h is 0). */
void vk_repack_rows(const vk_wlayout *l, const void *src, uint64_t n_in, uint64_t rows,
                    void *qs, void *aux);

/* ---- push constants (std430 scalars, mirrored in the shader named) ---- */

/* shaders/matvec.comp and shaders/matmat.comp:
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
_Static_assert(sizeof(vk_pc_matvec) == 32, "vk_pc_matvec mirrors matvec.comp / matmat.comp");

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

/* shaders/rmsnorm.comp: mode 0: dst = rmsnorm(src) * w; mode 1: dst += rmsnorm(src) * w;
 * mode 2: mode 1, then h = rmsnorm(dst) * w2 (bindings 3, 4). */
typedef struct vk_pc_rmsnorm {
    uint32_t cols;
    uint32_t rows;
    uint32_t src_off;
    uint32_t dst_off;
    float eps;
    uint32_t mode;
} vk_pc_rmsnorm;
_Static_assert(sizeof(vk_pc_rmsnorm) == 24, "vk_pc_rmsnorm mirrors rmsnorm.comp");

/* shaders/rope.comp: NEOX RoPE in place on x[rows][n_heads][head_dim]. */
typedef struct vk_pc_rope {
    uint32_t rows;
    uint32_t n_heads;
    uint32_t head_dim;
    uint32_t pos0;
    uint32_t x_off;
    float pos_scale;
    float log2_base;      /* log2(freq_base), computed in double on the host */
    uint32_t pad;
} vk_pc_rope;
_Static_assert(sizeof(vk_pc_rope) == 32, "vk_pc_rope mirrors rope.comp");

/* shaders/kv_store.comp: cache[((pos0 + r) % slots) * row_elems + j] = src[src_off + r*row_elems + j]. */
typedef struct vk_pc_kv_store {
    uint32_t rows;
    uint32_t row_elems;   /* n_kv_head * head_dim */
    uint32_t pos0;
    uint32_t k_off;
    uint32_t v_off;
    uint32_t slots;       /* the layer's cache slots: position p is in slot p % slots (backend.h) */
    uint32_t pad[2];
} vk_pc_kv_store;
_Static_assert(sizeof(vk_pc_kv_store) == 32, "vk_pc_kv_store mirrors kv_store.comp");

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
    uint32_t slots;       /* the layer's cache slots (vk_pc_kv_store) */
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
    uint32_t slots;       /* the layer's cache slots (vk_pc_kv_store) */
    uint32_t pad;
} vk_pc_attn;
_Static_assert(sizeof(vk_pc_attn) == 48, "vk_pc_attn mirrors attention.comp");

/* shaders/eltwise.comp: mode 0: a = cap*tanh(a/cap); 1: d = a; 2: d = gelu(a)*b. */
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
enum vk_kernel {
    VK_K_MATVEC,      /* spec: 0 wg, 1 type, 2 rows per wg, 3 subgroup (else matvec_shmem), 4 geglu */
    VK_K_MATMAT,      /* spec: 0 wg, 1 type, 2 tile rows BM, 3 tile cols BN, 4 shared, 5 TM */
    VK_K_EMBED,       /* spec: 0 wg, 1 type */
    VK_K_RMSNORM,     /* spec: 0 wg */
    VK_K_ROPE,        /* spec: 0 wg */
    VK_K_KV_STORE,    /* spec: 0 wg, 1 kv f16 */
    VK_K_ATTENTION,   /* spec: 0 wg, 1 kv f16, 2 max head_dim, 3 16-byte K/V loads (head_dim % 8 == 0) */
    VK_K_ELTWISE,     /* spec: 0 wg */
    VK_K_ARGMAX,      /* spec: 0 wg */
    VK_K_MATVEC_TEX,  /* VK_K_MATVEC with weights read through uniform texel buffers (same spec) */
    VK_K_MATMAT_TEX,  /* VK_K_MATMAT with weights and x read through uniform texel buffers (same spec) */
    VK_K_QK_ROPE,     /* spec: 0 wg, 1 kv f16, 2 per-head norms */
    VK_K_ATTENTION_TEX, /* VK_K_ATTENTION (spec 3 = 1) with q, K and V read through uniform texel buffers */
    VK_K_ARGMAX_TEX,  /* VK_K_ARGMAX reading src through an RGBA32F texel view (same spec) */
    VK_K_RMSNORM_TEX, /* VK_K_RMSNORM reading through RGBA32F texel views, one subgroup per row (same spec) */
    VK_K_QK_ROPE_TEX, /* VK_K_QK_ROPE reading through RGBA32F texel views, vec4 writes (same spec) */
    VK_K_COUNT
};
#define VK_MAX_SPEC 6

/* A concrete pipeline: kernel + specialization constant values (id i = spec[i]). */
typedef struct vk_variant {
    enum vk_kernel kernel;
    uint32_t spec[VK_MAX_SPEC];
    uint32_t wg;              /* = spec[0], workgroup size x */
    uint32_t rows_per_wg;     /* matvec: rows per workgroup; matmat: tile rows */
    uint32_t cols_per_wg;     /* matmat: tile columns */
} vk_variant;

/* Largest head_dim the attention kernel takes (shared-memory q and the per
 * invocation output slice are sized by it). */
#define VK_ATTN_MAX_HEAD_DIM 512

/* The product W @ x for `rows` input rows: matrix-vector kernel for a few
 * rows (weights streamed once per row), tiled matrix-matrix kernel beyond.
 * `geglu` asks for the fused gate/up variant (matvec only). */
uint32_t vk_matvec_lanes_per_row(uint32_t wg, uint32_t n_in);
vk_variant vk_choose_matmul(const vk_kcaps *c, uint32_t type, uint32_t rows, uint32_t n_in,
                            uint32_t n_out, bool geglu);
/* The other kernels: wg size and reduction style from caps. `type` is the
 * weight type for VK_K_EMBED, the head_dim for VK_K_ATTENTION (0 = any up
 * to VK_ATTN_MAX_HEAD_DIM) and 1 = per-head norms for VK_K_QK_ROPE; `kv_f16`
 * is used by the KV kernels. */
vk_variant vk_choose(const vk_kcaps *c, enum vk_kernel k, uint32_t type, bool kv_f16);
/* KV cache precision: f16 halves the cache and its traffic; models whose
 * weight matrices are all F32 (reference and test models) keep f32 so their
 * results stay as exact as the weights. `want`: 16 or 32 forces, 0 = auto. */
bool vk_choose_kv_f16(int want, bool all_f32_weights);
/* Whether a matrix-vector variant reads a weight piece of qs_u4 16-byte
 * quant units and aux_u32 scale words through texel buffers: on CPU devices
 * (lavapipe: texel fetches ~2x the throughput of storage-buffer loads,
 * ../shared/LAVAPIPE.md) with subgroup arithmetic, when both fit
 * maxTexelBufferElements. Returns v with kernel VK_K_MATVEC_TEX, else v. */
vk_variant vk_matvec_texel(const vk_kcaps *c, vk_variant v, uint64_t qs_u4, uint64_t aux_u32);
/* The same for the matrix product (VK_K_MATMAT_TEX): also needs x as RGBA32F
 * texels (x_vec4s of them, rows 16-byte aligned: x_stride % 4 == 0) and
 * n_in % 32 == 0 (no padded row tails). */
vk_variant vk_matmat_texel(const vk_kcaps *c, vk_variant v, uint64_t qs_u4, uint64_t aux_u32, uint64_t x_vec4s,
                           uint32_t n_in, uint32_t x_stride);
/* Whether attention runs as VK_K_ATTENTION_TEX (attention_tex.comp: lanes
 * split the head's dims, q and the K/V caches read through texel buffers): on
 * CPU devices with subgroup arithmetic and a one-subgroup workgroup, for
 * head_dim % 8 == 0 (spec 3), when one layer's cache (cache_bytes, a whole
 * number of 16-byte units) and q (q_vec4s) fit maxTexelBufferElements.
 * Returns v with that kernel, else v. */
vk_variant vk_attention_texel(const vk_kcaps *c, vk_variant v, uint64_t cache_bytes, uint64_t q_vec4s);
/* Whether an argmax variant reads its src as RGBA32F texels (VK_K_ARGMAX_TEX):
 * on CPU devices with texel buffers, for a 16-byte aligned start (off % 4 == 0).
 * Returns v with that kernel, else v. */
vk_variant vk_argmax_texel(const vk_kcaps *c, vk_variant v, uint64_t off);
/* Whether an RMSNorm variant reads through RGBA32F texel views
 * (VK_K_RMSNORM_TEX): on CPU devices with subgroup arithmetic and a
 * one-subgroup workgroup, for cols % 4 == 0. Returns v with that kernel, else v. */
vk_variant vk_rmsnorm_texel(const vk_kcaps *c, vk_variant v, uint32_t cols);
/* Whether qk_rope_store runs as VK_K_QK_ROPE_TEX (texel reads, vec4 writes):
 * on CPU devices with subgroup arithmetic and a one-subgroup workgroup, for
 * head_dim % 8 == 0. Returns v with that kernel, else v. */
vk_variant vk_qk_rope_texel(const vk_kcaps *c, vk_variant v, uint32_t head_dim);
/* Whether the aux (scales) texel view of a weight type holds uint pairs
 * (R32G32_UINT: Q5_0/Q5_1, whose 8 aux bytes per block then come in one
 * fetch) rather than single uints (R32_UINT). Shaders: DQ_AUX2 in dequant.glsl. */
bool vk_aux_texel_pairs(uint32_t type);
/* Uints per texel of the aux view: 4 for VK_T_Q8_0_R8 (RGBA32UI: 8 rows'
 * scales), 2 where vk_aux_texel_pairs, else 1. */
uint32_t vk_aux_texel_uints(uint32_t type);
/* Input rows up to which the matrix-vector kernel is used. */
uint32_t vk_matvec_max_rows(const vk_kcaps *c);

#endif
